#include "nettool/connect.h"

#include <netdb.h>

#include <cstring>
#include <optional>

#include "nettool/error.h"
#include "nettool/net.h"

namespace nettool {

namespace {

addrinfo make_hints(const ResolveOptions& options) {
  addrinfo hints{};
  hints.ai_family = options.family;
  hints.ai_socktype = options.socktype;
  hints.ai_flags = (options.numeric_only ? AI_NUMERICHOST : 0) | (options.passive ? AI_PASSIVE : 0);
  return hints;
}

std::vector<sockaddr_storage> collect(const addrinfo* list) {
  std::vector<sockaddr_storage> out;
  for (const addrinfo* ai = list; ai; ai = ai->ai_next) {
    sockaddr_storage ss{};
    std::memcpy(&ss, ai->ai_addr, std::min<size_t>(ai->ai_addrlen, sizeof ss));
    bool dup = false;
    for (auto& o : out) dup = dup || std::memcmp(&o, &ss, sizeof ss) == 0;
    if (!dup) out.push_back(ss);
  }
  return out;
}

// HOST as an IPv4 or IPv6 address of an allowed family, or nullopt when it is
// the resolver's business: a name, an empty host, a scoped IPv6 address, or an
// unusual IPv4 form such as 127.1 (getaddrinfo takes those, with its errors).
std::optional<sockaddr_storage> address_literal(const std::string& host, uint16_t port, int family) {
  if (host.empty() || host.find('%') != std::string::npos) return std::nullopt;
  sockaddr_storage ss{};
  if (family != AF_INET6 && uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&ss)) == 0) return ss;
  if (family != AF_INET && uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&ss)) == 0) return ss;
  return std::nullopt;
}

}  // namespace

std::string strip_brackets(const std::string& host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') return host.substr(1, host.size() - 2);
  return host;
}

std::vector<sockaddr_storage> resolve_now(const std::string& host_in, uint16_t port, const ResolveOptions& options) {
  std::string host = strip_brackets(host_in);
  addrinfo hints = make_hints(options);
  addrinfo* result = nullptr;
  std::string service = std::to_string(port);
  int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &result);
  if (rc != 0) throw RuntimeError("cannot resolve '" + host + "': " + gai_strerror(rc));
  auto out = collect(result);
  freeaddrinfo(result);
  if (out.empty()) throw RuntimeError("cannot resolve '" + host + "': no addresses");
  return out;
}

std::shared_ptr<void> resolve_async(uv_loop_t* loop, const std::string& host_in, uint16_t port,
                                    const ResolveOptions& options, ResolveDone done) {
  struct Req {
    uv_getaddrinfo_t req{};
    std::weak_ptr<ResolveDone> callback;
    std::string host;
  };
  auto token = std::make_shared<ResolveDone>(std::move(done));
  if (auto literal = address_literal(strip_brackets(host_in), port, options.family)) {
    // No resolver, no thread pool (see TcpConnector::start).
    post(loop, [weak = std::weak_ptr<ResolveDone>(token), address = *literal] {
      if (auto cb = weak.lock()) (*cb)({address}, "");
    });
    return token;
  }
  auto req = std::make_unique<Req>();
  req->callback = token;
  req->host = strip_brackets(host_in);
  req->req.data = req.get();
  addrinfo hints = make_hints(options);
  std::string service = std::to_string(port);
  int rc = uv_getaddrinfo(
      loop, &req->req,
      [](uv_getaddrinfo_t* r, int status, addrinfo* res) {
        std::unique_ptr<Req> owned(static_cast<Req*>(r->data));
        std::vector<sockaddr_storage> addrs;
        if (status == 0) addrs = collect(res);
        uv_freeaddrinfo(res);
        auto cb = owned->callback.lock();
        if (!cb) return;
        if (status < 0) (*cb)({}, "cannot resolve '" + owned->host + "': " + uv_strerror(status));
        else if (addrs.empty()) (*cb)({}, "cannot resolve '" + owned->host + "': no addresses");
        else (*cb)(std::move(addrs), "");
      },
      req->host.empty() ? nullptr : req->host.c_str(), service.c_str(), &hints);
  if (rc < 0) {
    // Reported like a failed lookup, from the loop, never thrown into a callback.
    post(loop, [weak = std::weak_ptr<ResolveDone>(token), why = uv_message("cannot resolve '" + req->host + "'", rc)] {
      if (auto cb = weak.lock()) (*cb)({}, why);
    });
    return token;
  }
  req.release();  // owned by libuv until the callback
  return token;
}

struct TcpConnector::Impl {
  uv_loop_t* loop;
  std::string host;
  uint16_t port;
  Options options;
  Done done;
  std::vector<sockaddr_storage> addresses;
  size_t next = 0;
  std::string errors;
  Handle<uv_tcp_t> socket;
  Handle<uv_timer_t> timer;
  bool timed_out = false;
  bool cancelled = false;
  std::weak_ptr<TcpConnector> self;

  struct ResolveReq {
    uv_getaddrinfo_t req{};
    std::weak_ptr<TcpConnector> owner;
  };
  struct ConnectReq {
    uv_connect_t req{};
    std::weak_ptr<TcpConnector> owner;
    size_t attempt = 0;
  };

  void fail_all(const std::string& why) {
    if (cancelled) return;
    cancelled = true;
    auto fn = std::move(done);
    if (fn) fn(Handle<uv_tcp_t>(), why);
  }

  void try_next() {
    if (cancelled) return;
    if (next >= addresses.size()) {
      fail_all("cannot connect to " + host + " port " + std::to_string(port) + ": " + errors);
      return;
    }
    const sockaddr* addr = reinterpret_cast<const sockaddr*>(&addresses[next]);
    size_t attempt = next++;
    auto note = [&](const std::string& why) {
      if (!errors.empty()) errors += "; ";
      errors += (addresses.size() > 1 ? format_address(addr) + ": " : "") + why;
    };
    try {
      socket = make_tcp(loop, nullptr, addr->sa_family);
    } catch (const RuntimeError& e) {
      note(e.what());
      try_next();
      return;
    }
    if (options.source_host || options.source_port) {
      ResolveOptions ro = options.resolve;
      ro.family = addr->sa_family;
      ro.passive = true;
      try {
        auto src = resolve_now(options.source_host.value_or(""), options.source_port.value_or(0), ro);
        if (int rc = uv_tcp_bind(socket.get(), reinterpret_cast<const sockaddr*>(&src[0]), 0); rc < 0) {
          note(uv_message("binding source " + format_address(reinterpret_cast<const sockaddr*>(&src[0])), rc));
          socket.close();
          try_next();
          return;
        }
      } catch (const RuntimeError& e) {
        note(std::string("source address: ") + e.what());
        socket.close();
        try_next();
        return;
      }
    }
    auto req = std::make_unique<ConnectReq>();
    req->owner = self;
    req->attempt = attempt;
    req->req.data = req.get();
    int rc = uv_tcp_connect(&req->req, socket.get(), addr, [](uv_connect_t* r, int status) {
      std::unique_ptr<ConnectReq> owned(static_cast<ConnectReq*>(r->data));
      auto owner = owned->owner.lock();
      if (!owner) return;
      owner->impl_->on_connect(owned->attempt, status);
    });
    if (rc < 0) {
      note(uv_strerror(rc));
      socket.close();
      try_next();
      return;
    }
    req.release();  // owned by libuv until the connect callback
    timed_out = false;
    if (options.timeout.count() > 0) {
      uv_timer_start(
          timer.get(),
          [](uv_timer_t* t) {
            auto* impl = static_cast<Impl*>(t->data);
            if (!impl) return;
            impl->timed_out = true;
            impl->socket.close();  // the connect callback follows with UV_ECANCELED
          },
          static_cast<uint64_t>(options.timeout.count()), 0);
    }
  }

  void on_connect(size_t attempt, int status) {
    if (cancelled || attempt + 1 != next) return;
    uv_timer_stop(timer.get());
    if (status == 0) {
      cancelled = true;
      auto fn = std::move(done);
      if (fn) fn(std::move(socket), "");
      return;
    }
    const sockaddr* addr = reinterpret_cast<const sockaddr*>(&addresses[attempt]);
    if (!errors.empty()) errors += "; ";
    std::string why = timed_out ? "timed out after " + std::to_string(options.timeout.count()) + " ms" : uv_strerror(status);
    errors += (addresses.size() > 1 ? format_address(addr) + ": " : "") + why;
    socket.close();
    try_next();
  }
};

std::shared_ptr<TcpConnector> TcpConnector::start(uv_loop_t* loop, std::string host, uint16_t port, Options options,
                                                  Done done) {
  auto c = std::make_shared<TcpConnector>(loop, std::move(host), port, std::move(options), std::move(done));
  c->impl_->self = c;
  std::string h = strip_brackets(c->impl_->host);
  if (auto literal = address_literal(h, port, c->impl_->options.resolve.family)) {
    // An address needs no resolver: this spares a short run (tcp-connect -z
    // 127.0.0.1 PORT) a round trip through libuv's thread pool, and starting
    // its threads. Posted, so that `done` never runs inside start().
    c->impl_->addresses.push_back(*literal);
    post(loop, [weak = std::weak_ptr<TcpConnector>(c)] {
      if (auto owner = weak.lock()) owner->impl_->try_next();
    });
    return c;
  }
  auto req = std::make_unique<Impl::ResolveReq>();
  req->owner = c;
  req->req.data = req.get();
  addrinfo hints = make_hints(c->impl_->options.resolve);
  std::string service = std::to_string(port);
  int rc = uv_getaddrinfo(
      loop, &req->req,
      [](uv_getaddrinfo_t* r, int status, addrinfo* res) {
        std::unique_ptr<Impl::ResolveReq> owned(static_cast<Impl::ResolveReq*>(r->data));
        auto owner = owned->owner.lock();
        if (!owner || owner->impl_->cancelled) {
          uv_freeaddrinfo(res);
          return;
        }
        Impl& impl = *owner->impl_;
        if (status < 0) {
          uv_freeaddrinfo(res);
          impl.fail_all("cannot resolve '" + strip_brackets(impl.host) + "': " + uv_strerror(status));
          return;
        }
        impl.addresses = collect(res);
        uv_freeaddrinfo(res);
        impl.try_next();
      },
      h.c_str(), service.c_str(), &hints);
  if (rc < 0) {
    // A failure like any other, from the loop: start() runs inside callbacks
    // (tcp-forward's accept), where an exception would end the whole process.
    post(loop, [weak = std::weak_ptr<TcpConnector>(c), why = uv_message("cannot resolve '" + h + "'", rc)] {
      if (auto owner = weak.lock()) owner->impl_->fail_all(why);
    });
    return c;
  }
  req.release();  // owned by libuv until the callback
  return c;
}

TcpConnector::TcpConnector(uv_loop_t* loop, std::string host, uint16_t port, Options options, Done done)
    : impl_(std::make_unique<Impl>()) {
  impl_->loop = loop;
  impl_->host = std::move(host);
  impl_->port = port;
  impl_->options = std::move(options);
  impl_->done = std::move(done);
  impl_->timer = make_timer(loop, impl_.get());
}

TcpConnector::~TcpConnector() = default;

void TcpConnector::abort() {
  impl_->cancelled = true;
  impl_->done = nullptr;
  impl_->socket.close();
  impl_->timer.close();
}

}  // namespace nettool
