// file-serve [--root DIR] [--listen ADDR:PORT | PORT]: a small, safe file
// server for HTTP clients (curl, wget, browsers, file-get) and for the notes'
// bare-name protocol (`echo name | nc host port > name`).
//
// This file: options, the listening socket, accepting (limits, allow/deny,
// EMFILE), and shutdown. connection.cpp: one client. root.cpp: opening paths
// under the root. digest_cache.cpp: SHA-256 for Repr-Digest.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <chrono>
#include <map>

#include "connection.h"
#include "nettool/connect.h"
#include "nettool/error.h"
#include "nettool/net.h"
#include "nettool/plugin.h"

namespace {

using namespace nettool;
using file_serve::Connection;
using file_serve::UniqueFd;

constexpr OptionSpec kOptions[] = {
    {"port", 0, OptionType::Port, "8000", "port to listen on (0 picks a free one, logged)", "PORT", 0, false},
    {"listen", 'l', OptionType::String, "", "address and port to listen on: ADDR:PORT, [V6]:PORT or :PORT", "ADDR:PORT"},
    {"root", 'r', OptionType::Path, ".", "directory to serve (from a profile: relative to the profile's folder)", "DIR"},
    {"max-connections", 'm', OptionType::Int, "1024", "answer 503 beyond this many open connections"},
    {"idle-timeout", 'i', OptionType::Duration, "30s",
     "close a connection idle (or sending an incomplete request, or not reading) this long"},
    {"allow", 0, OptionType::AddressList, "", "only accept clients from these networks"},
    {"deny", 0, OptionType::AddressList, "", "refuse clients from these networks"},
    {"grace", 0, OptionType::Duration, "5s", "on SIGINT/SIGTERM, time for responses in flight to finish"},
    {"digest", 0, OptionType::String, "sha-256", "Repr-Digest header: sha-256 or off", "sha-256|off"},
    {"listing", 0, OptionType::Bool, "true", "HTML listing of directories without index.html (--no-listing: 403)"},
    {"allow-hidden", 0, OptionType::Bool, "", "serve dot files and dot directories"},
    {"ipv4", '4', OptionType::Bool, "", "listen on IPv4 only (default: IPv6 and IPv4)"},
    {"backlog", 0, OptionType::Int, "511", "listen(2) backlog"},
};

class FileServe final : public Command {
 public:
  explicit FileServe(Context& ctx) : ctx_(ctx), opts_(ctx.options()), digests_(ctx.loop()) {}
  ~FileServe() override {
    *alive_ = false;
    abort();
  }

  void start() override {
    std::string digest = opts_.get_string("digest");
    if (digest != "sha-256" && digest != "off") throw ConfigError("--digest: expected 'sha-256' or 'off', got '" + digest + "'");
    if (opts_.get_int("max-connections") < 1) throw ConfigError("--max-connections must be at least 1");
    if (opts_.get_duration("idle-timeout").count() <= 0) throw ConfigError("--idle-timeout must be positive");

    const std::string& root = opts_.get_string("root");
    root_.reset(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!root_.valid()) throw RuntimeError("--root " + root + ": " + std::strerror(errno));

    shared_.loop = ctx_.loop();
    shared_.log = &ctx_.log();
    shared_.counters = &ctx_.counters();
    shared_.root_fd = root_.get();
    shared_.digests = &digests_;
    shared_.settings.listing = opts_.get_bool("listing");
    shared_.settings.allow_hidden = opts_.get_bool("allow-hidden");
    shared_.settings.digest = digest != "off";
    shared_.settings.idle_timeout = opts_.get_duration("idle-timeout");
    std::weak_ptr<bool> alive = alive_;
    shared_.on_closed = [this, alive](uint64_t id) {
      if (auto a = alive.lock(); a && *a) connections_.erase(id);
    };

    listen();
    accept_pause_ = make_timer(ctx_.loop(), this);
    ctx_.log().info("serving {} on {}", root, bound_);
  }

  void shutdown() override {
    shared_.draining = true;
    stop_listening();
    // Copy: drain() may close (and later erase) connections.
    std::vector<std::shared_ptr<Connection>> all;
    for (auto& [id, c] : connections_) all.push_back(c);
    for (auto& c : all) c->drain();
  }

  void abort() override {
    stop_listening();
    accept_pause_.close();
    std::vector<std::shared_ptr<Connection>> all;
    for (auto& [id, c] : connections_) all.push_back(c);
    for (auto& c : all) c->close_now();
    connections_.clear();
  }

 private:
  void listen() {
    std::string spec = opts_.has("listen") ? opts_.get_string("listen") : "";
    std::string host;
    uint16_t port = opts_.get_port("port");
    if (!spec.empty()) {
      size_t colon = spec.rfind(':');
      if (colon == std::string::npos) {
        port = parse_port(spec);
      } else {
        host = spec.substr(0, colon);
        port = parse_port(spec.substr(colon + 1));
        if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
      }
    }
    std::vector<sockaddr_storage> addrs;
    if (!host.empty()) {
      ResolveOptions ro;
      ro.passive = true;
      ro.family = opts_.get_bool("ipv4") ? AF_INET : AF_UNSPEC;
      addrs = resolve_now(host, port, ro);
    } else {
      sockaddr_storage v6{}, v4{};
      uv_ip6_addr("::", port, reinterpret_cast<sockaddr_in6*>(&v6));
      uv_ip4_addr("0.0.0.0", port, reinterpret_cast<sockaddr_in*>(&v4));
      if (!opts_.get_bool("ipv4")) addrs.push_back(v6);
      addrs.push_back(v4);  // alone with -4, else the fallback for hosts without IPv6
    }
    std::string errors;
    for (const auto& ss : addrs) {
      const sockaddr* addr = reinterpret_cast<const sockaddr*>(&ss);
      UniqueFd fd(::socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      int one = 1, zero = 0;
      auto fail = [&](const char* what) {
        if (!errors.empty()) errors += "; ";
        errors += format_address(addr) + ": " + what + ": " + std::strerror(errno);
      };
      if (!fd.valid()) {
        fail("socket");
        continue;
      }
      setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (addr->sa_family == AF_INET6) setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
      socklen_t len = addr->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
      if (::bind(fd.get(), addr, len) != 0) {
        fail("bind");
        continue;
      }
      if (::listen(fd.get(), static_cast<int>(opts_.get_int("backlog"))) != 0) {
        fail("listen");
        continue;
      }
      sockaddr_storage bound{};
      socklen_t blen = sizeof bound;
      getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &blen);
      bound_ = format_address(reinterpret_cast<sockaddr*>(&bound));
      listen_fd_ = std::move(fd);
      if (int rc = uv_poll_init_socket(ctx_.loop(), listener_.get(), listen_fd_.get()); rc < 0)
        throw RuntimeError(uv_message("watching the listening socket", rc));
      listener_.mark_initialized(this);
      uv_poll_start(listener_.get(), UV_READABLE, &FileServe::on_listener);
      ctx_.log().info("listening on {}", bound_);
      return;
    }
    throw RuntimeError("cannot listen: " + errors);
  }

  void stop_listening() {
    listener_.close();
    listen_fd_.reset();
  }

  static void on_listener(uv_poll_t* handle, int status, int) {
    auto* self = static_cast<FileServe*>(handle->data);
    if (self && status >= 0) self->accept_ready();
  }

  void accept_ready() {
    for (int i = 0; i < 128; ++i) {  // bounded, so a connection flood cannot monopolise the loop
      sockaddr_storage peer{};
      socklen_t len = sizeof peer;
      int fd = ::accept4(listen_fd_.get(), reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          // Out of descriptors: the client waits in the backlog. Stop watching
          // the listener for a moment instead of spinning on it.
          warn_rate_limited(std::string("accept: ") + std::strerror(errno) + "; pausing new connections for 250 ms");
          uv_poll_stop(listener_.get());
          uv_timer_start(
              accept_pause_.get(),
              [](uv_timer_t* t) {
                auto* s = static_cast<FileServe*>(t->data);
                if (s && s->listener_.is_open()) uv_poll_start(s->listener_.get(), UV_READABLE, &FileServe::on_listener);
              },
              250, 0);
          return;
        }
        warn_rate_limited(std::string("accept: ") + std::strerror(errno));
        return;
      }
      UniqueFd client(fd);
      const sockaddr* addr = reinterpret_cast<const sockaddr*>(&peer);
      std::string who = format_address(addr);
      if (!address_allowed(addr, opts_.get_cidrs("allow"), opts_.get_cidrs("deny"))) {
        ctx_.log().info("{} refused by --allow/--deny", who);
        continue;
      }
      if (connections_.size() >= static_cast<size_t>(opts_.get_int("max-connections"))) {
        static constexpr char kBusy[] =
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 24\r\n"
            "Connection: close\r\nRetry-After: 1\r\n\r\n503 Service Unavailable\n";
        ssize_t ignored = ::send(client.get(), kBusy, sizeof kBusy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)ignored;
        warn_rate_limited(who + ": 503, --max-connections " + std::to_string(opts_.get_int("max-connections")) +
                          " reached");
        continue;
      }
      ctx_.counters().connections++;
      uint64_t id = next_id_++;
      auto conn = std::make_shared<Connection>(shared_, id, std::move(client), who);
      connections_.emplace(id, conn);
      conn->start();
    }
  }

  void warn_rate_limited(const std::string& message) {
    auto now = std::chrono::steady_clock::now();
    if (now - last_warning_ < std::chrono::seconds(1)) return;
    last_warning_ = now;
    ctx_.log().warn("{}", message);
  }

  Context& ctx_;
  const OptionValues& opts_;
  file_serve::DigestCache digests_;
  file_serve::ServerShared shared_;
  UniqueFd root_;
  UniqueFd listen_fd_;
  Handle<uv_poll_t> listener_;  // declared after listen_fd_: closed before the fd is
  Handle<uv_timer_t> accept_pause_;
  std::string bound_;
  std::map<uint64_t, std::shared_ptr<Connection>> connections_;
  uint64_t next_id_ = 1;
  std::chrono::steady_clock::time_point last_warning_{};
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

std::unique_ptr<Command> create(Context& ctx) { return std::make_unique<FileServe>(ctx); }

const PluginInfo kInfo{NETTOOL_PLUGIN_ABI,
                       "file-serve",
                       "1.0",
                       "serve a directory over HTTP/1.1 and the bare-name protocol",
                       "[PORT]",
                       kOptions,
                       std::size(kOptions),
                       &create};

}  // namespace

NETTOOL_DEFINE_PLUGIN(kInfo)
