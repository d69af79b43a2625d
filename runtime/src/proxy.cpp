// --proxy (nettool/proxy.h), in three parts that read in order: the URL and
// the SOCKS5 / SOCKS4a / HTTP CONNECT bytes and answers (pure, unit-tested),
// choosing a proxy from the environment (*_proxy, no_proxy), and
// ProxyConnector, the handshake on the proxy's socket. Just past 500 lines;
// the parts share the ProxySpec and Step types, so they stay in one file.
#include "nettool/proxy.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fcntl.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "nettool/error.h"
#include "nettool/fd.h"
#include "nettool/net.h"

namespace nettool {

namespace {

constexpr size_t kMaxHttpHead = 16 * 1024;

std::string percent_decode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      unsigned value = 0;
      if (std::sscanf(std::string(text.substr(i + 1, 2)).c_str(), "%2x", &value) == 1) {
        out += static_cast<char>(value);
        i += 2;
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < in.size(); i += 3) {
    uint32_t n = static_cast<uint8_t>(in[i]) << 16;
    if (i + 1 < in.size()) n |= static_cast<uint8_t>(in[i + 1]) << 8;
    if (i + 2 < in.size()) n |= static_cast<uint8_t>(in[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < in.size() ? kAlphabet[n & 63] : '=';
  }
  return out;
}

std::string port_bytes(uint16_t port) {
  return std::string{static_cast<char>(port >> 8), static_cast<char>(port & 0xff)};
}

const char* socks5_reply_text(unsigned code) {
  switch (code) {
    case 1: return "general failure";
    case 2: return "connection not allowed by its rules";
    case 3: return "network unreachable";
    case 4: return "host unreachable";
    case 5: return "connection refused by the target";
    case 6: return "TTL expired";
    case 7: return "command not supported";
    case 8: return "address type not supported";
    default: return "unknown error";
  }
}

}  // namespace

std::string ProxySpec::describe() const {
  const char* name = kind == Kind::Http ? "HTTP" : kind == Kind::Socks4a ? "SOCKS4a" : "SOCKS5";
  bool v6 = host.find(':') != std::string::npos;
  return std::string(name) + " proxy " + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string proxy_target_error(const ProxySpec& proxy, const std::string& host_in) {
  std::string host = strip_brackets(host_in);
  if (host.empty()) return "no target host to ask " + proxy.describe() + " for";
  for (unsigned char c : host)
    if (c < 0x20 || c == 0x7f) return "the target host contains a control character";
  constexpr size_t kSocks5MaxName = 255;  // RFC 1928: one length byte
  bool socks5 = proxy.kind == ProxySpec::Kind::Socks5 || proxy.kind == ProxySpec::Kind::Socks5h;
  if (socks5 && host.size() > kSocks5MaxName)
    return "the target host name is " + std::to_string(host.size()) + " bytes long; SOCKS5 carries " +
           std::to_string(kSocks5MaxName) + " at most";
  return "";
}

ProxySpec parse_proxy_url(std::string_view url) {
  ProxySpec p;
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos)
    throw ConfigError("--proxy " + std::string(url) + ": expected socks5://, socks5h://, socks4a:// or http://HOST:PORT");
  std::string scheme(url.substr(0, scheme_end));
  for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme == "socks5") p.kind = ProxySpec::Kind::Socks5;
  else if (scheme == "socks5h") p.kind = ProxySpec::Kind::Socks5h;
  else if (scheme == "socks4a") p.kind = ProxySpec::Kind::Socks4a;
  else if (scheme == "http") p.kind = ProxySpec::Kind::Http;
  else throw ConfigError("--proxy: unknown scheme '" + scheme + "' (socks5, socks5h, socks4a or http)");
  std::string_view rest = url.substr(scheme_end + 3);
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find('/') != std::string_view::npos) throw ConfigError("--proxy " + std::string(url) + ": a proxy URL has no path");
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    auto colon = userinfo.find(':');
    p.user = percent_decode(userinfo.substr(0, colon));
    if (colon != std::string_view::npos) p.password = percent_decode(userinfo.substr(colon + 1));
    rest = rest.substr(at + 1);
  }
  std::string_view host = rest, port;
  if (rest.starts_with('[')) {
    auto close = rest.find(']');
    if (close == std::string_view::npos) throw ConfigError("--proxy: unclosed [ in " + std::string(url));
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') throw ConfigError("--proxy: expected :PORT after ] in " + std::string(url));
      port = rest.substr(close + 2);
    }
  } else if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.empty()) throw ConfigError("--proxy " + std::string(url) + ": no proxy host");
  p.host = std::string(host);
  try {
    p.port = port.empty() ? (p.kind == ProxySpec::Kind::Http ? 8080 : 1080) : parse_port(port);
  } catch (const ConfigError& e) {
    throw ConfigError("--proxy " + std::string(url) + ": " + e.what());
  }
  if (p.port == 0) throw ConfigError("--proxy " + std::string(url) + ": port 0");
  if (p.user.size() > 255 || p.password.size() > 255) throw ConfigError("--proxy: user and password are 255 bytes at most");
  return p;
}

namespace proxy_protocol {

std::string opening(const ProxySpec& proxy, const std::string& host_in, uint16_t port) {
  std::string host = strip_brackets(host_in);
  switch (proxy.kind) {
    case ProxySpec::Kind::Socks5:
    case ProxySpec::Kind::Socks5h:
      // Version 5; offer "no authentication", and user/password when we have one.
      return proxy.user.empty() ? std::string("\x05\x01\x00", 3) : std::string("\x05\x02\x00\x02", 4);
    case ProxySpec::Kind::Socks4a: {
      in_addr v4{};
      std::string out{"\x04\x01", 2};
      out += port_bytes(port);
      bool literal = inet_pton(AF_INET, host.c_str(), &v4) == 1;
      // 0.0.0.1: "the name follows" (SOCKS4a).
      out += literal ? std::string(reinterpret_cast<const char*>(&v4), 4) : std::string("\0\0\0\x01", 4);
      out += proxy.user;
      out += '\0';
      if (!literal) out += host + '\0';
      return out;
    }
    case ProxySpec::Kind::Http: {
      std::string authority = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
      std::string out = "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n";
      out += http_authorization(proxy);
      return out + "\r\n";
    }
  }
  return "";
}

std::string socks5_auth(const ProxySpec& proxy) {
  std::string out{"\x01", 1};
  out += static_cast<char>(proxy.user.size());
  out += proxy.user;
  out += static_cast<char>(proxy.password.size());
  out += proxy.password;
  return out;
}

std::string socks5_request(const ProxySpec& proxy, const std::string& host_in, uint16_t port) {
  std::string host = strip_brackets(host_in);
  std::string out{"\x05\x01\x00", 3};
  in_addr v4{};
  in6_addr v6{};
  if (proxy.kind == ProxySpec::Kind::Socks5 && inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    out += '\x01';
    out.append(reinterpret_cast<const char*>(&v4), 4);
  } else if (proxy.kind == ProxySpec::Kind::Socks5 && inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    out += '\x04';
    out.append(reinterpret_cast<const char*>(&v6), 16);
  } else {
    out += '\x03';  // a name, resolved by the proxy
    out += static_cast<char>(host.size());
    out += host;
  }
  return out + port_bytes(port);
}

namespace {
Step failed(std::string why) {
  Step s;
  s.error = std::move(why);
  return s;
}
Step read_more(int stage, size_t need, std::string send = {}) {
  Step s;
  s.need = need;
  s.send = std::move(send);
  s.next_stage = stage;
  return s;
}
Step tunnel_open() {
  Step s;
  s.done = true;
  return s;
}
}  // namespace

// The method reply (2 bytes), the authentication reply (2 bytes, only when
// the proxy chose user/password), the request reply's first 5 bytes, its rest.
Step socks5_step(const ProxySpec& proxy, int stage, std::string_view b, const std::string& host, uint16_t port) {
  bool auth = !proxy.user.empty();
  auto byte = [&](size_t i) { return static_cast<unsigned char>(b[i]); };
  switch (stage) {
    case kMethodReply:
      if (byte(0) != 5) return failed("not a SOCKS5 proxy (its reply starts with " + std::to_string(byte(0)) + ")");
      if (byte(1) == 0xff)
        return failed(auth ? "refused both no authentication and user/password"
                           : "requires authentication (give user:password@ in --proxy)");
      if (byte(1) == 2 && auth) return read_more(kAuthReply, 2, socks5_auth(proxy));
      if (byte(1) != 0)
        return failed("chose an authentication method we did not offer (" + std::to_string(byte(1)) + ")");
      return read_more(kRequestReply, 5, socks5_request(proxy, host, port));  // no authentication, even with a user
    case kAuthReply:
      // RFC 1929's version byte is 1, but some proxies send SOCKS's 5 there;
      // like curl, only the status is read.
      if (byte(1) != 0) return failed("user/password authentication failed (status " + std::to_string(byte(1)) + ")");
      return read_more(kRequestReply, 5, socks5_request(proxy, host, port));
    case kRequestReply:
      if (byte(0) != 5) return failed("garbled reply to the connect request");
      if (byte(1) != 0)
        return failed(std::string(socks5_reply_text(byte(1))) + " (reply " + std::to_string(byte(1)) + ")");
      // The bound address: IPv4 (4), a name (length byte, already read), IPv6 (16); then the port.
      switch (byte(3)) {
        case 1: return read_more(kRequestReplyRest, 4 - 1 + 2);
        case 3: return read_more(kRequestReplyRest, static_cast<size_t>(byte(4)) + 2);
        case 4: return read_more(kRequestReplyRest, 16 - 1 + 2);
        default: return failed("unknown address type " + std::to_string(byte(3)) + " in its reply");
      }
    default:
      return tunnel_open();  // the rest of the reply, read and dropped
  }
}

Step socks4a_step(std::string_view b) {
  auto code = static_cast<unsigned char>(b[1]);
  if (b[0] != 0) return failed("not a SOCKS4 proxy");
  if (code == 0x5a) return tunnel_open();
  const char* why = code == 0x5b   ? "request rejected or failed"
                    : code == 0x5c ? "rejected: it cannot reach our identd"
                    : code == 0x5d ? "rejected: identd reports a different user"
                                   : "unknown reply";
  return failed(std::string(why) + " (reply " + std::to_string(code) + ")");
}

Step http_step(std::string_view head) {
  auto eol = head.find("\r\n");
  std::string_view status_line = head.substr(0, eol);
  if (!status_line.starts_with("HTTP/1.") || status_line.size() < 12) return failed("not an HTTP proxy's answer");
  std::string_view code = status_line.substr(9, 3);
  if (code[0] == '2') return tunnel_open();
  return failed("CONNECT refused: " + std::string(status_line.substr(9)));
}

std::string http_authorization(const ProxySpec& proxy) {
  if (proxy.user.empty()) return "";
  return "Proxy-Authorization: Basic " + base64(proxy.user + ":" + proxy.password) + "\r\n";
}

}  // namespace proxy_protocol

// ---- choosing a proxy from the environment

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// One no_proxy entry against a host (both lowercase, without brackets).
bool no_proxy_entry_matches(std::string_view entry, std::string_view host) {
  if (entry == "*") return true;
  if (entry.find('/') != std::string_view::npos || host.find(':') != std::string_view::npos ||
      (!host.empty() && std::isdigit(static_cast<unsigned char>(host.back())))) {
    // An address: compare as networks (an entry that is no address matches no address).
    sockaddr_storage ss{};
    auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
    std::string h(host);
    if (::inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) ss.ss_family = AF_INET;
    else if (::inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) == 1) ss.ss_family = AF_INET6;
    if (ss.ss_family != 0) {
      try {
        return Cidr::parse(entry).contains(reinterpret_cast<const sockaddr*>(&ss));
      } catch (const ConfigError&) {
        return false;
      }
    }
  }
  if (entry.starts_with('.')) entry.remove_prefix(1);
  if (entry.empty()) return false;
  if (host == entry) return true;
  return host.size() > entry.size() && host.ends_with(entry) && host[host.size() - entry.size() - 1] == '.';
}

}  // namespace

bool no_proxy_matches(std::string_view list, std::string_view host) {
  std::string h = lower(host);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  while (!h.empty() && h.back() == '.') h.pop_back();  // "example.org." is example.org
  size_t i = 0;
  while (i < list.size()) {
    size_t end = list.find_first_of(", \t", i);
    if (end == std::string_view::npos) end = list.size();
    std::string entry = lower(list.substr(i, end - i));
    if (!entry.empty() && no_proxy_entry_matches(entry, h)) return true;
    i = end + 1;
  }
  return false;
}

std::optional<ChosenProxy> choose_proxy(const std::optional<std::string>& explicit_url, std::string_view scheme,
                                        std::string_view host, const EnvLookup& env) {
  auto variable = [&env](const char* name) -> std::optional<std::string> {
    const char* value = env(name);
    if (!value || !*value) return std::nullopt;
    return std::string(value);
  };
  for (const char* name : {"no_proxy", "NO_PROXY"}) {
    if (auto list = variable(name)) {
      if (no_proxy_matches(*list, host)) return std::nullopt;
      break;  // the lowercase one wins when both are set, as in curl
    }
  }
  ChosenProxy chosen;
  if (explicit_url) {
    chosen = {*explicit_url, "--proxy"};
  } else {
    // The variables name URL schemes: anything else (file-get --raw) takes --proxy only.
    std::vector<const char*> names;
    if (scheme == "https") names = {"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};
    else if (scheme == "http") names = {"http_proxy", "all_proxy", "ALL_PROXY"};
    for (const char* name : names) {
      if (auto url = variable(name)) {
        chosen = {*url, name};
        break;
      }
    }
    if (chosen.url.empty()) return std::nullopt;
  }
  if (chosen.url.find("://") == std::string::npos) chosen.url = "http://" + chosen.url;
  return chosen;
}

// ---- I/O: the handshake on the proxy's socket, read exactly as far as the
// proxy's answers go, so the tunnel's first bytes stay in the kernel for the
// caller's endpoint.

struct ProxyConnector::Impl {
  uv_loop_t* loop;
  ProxySpec proxy;
  std::string host;
  uint16_t port;
  TcpConnector::Options options;
  Done done;
  std::shared_ptr<TcpConnector> connector;
  UniqueFd fd;  // the proxy's socket during the handshake
  Handle<uv_poll_t> poll;
  Handle<uv_timer_t> timer;
  std::string to_send;
  std::string buffer;
  size_t need = 0;
  int stage = proxy_protocol::kMethodReply;  // SOCKS5: the reply being read
  bool finished = false;

  void fail(const std::string& why) {
    if (finished) return;
    finished = true;
    poll.close();
    timer.close();
    fd.reset();
    auto fn = std::move(done);
    if (fn) fn(Handle<uv_tcp_t>(), proxy.describe() + ": " + why);
  }

  void succeed() {
    finished = true;
    poll.close();
    timer.close();
    Handle<uv_tcp_t> socket;
    if (int rc = uv_tcp_init(loop, socket.get()); rc < 0) return fail_after_finish(uv_message("uv_tcp_init", rc));
    socket.mark_initialized(nullptr);
    if (int rc = uv_tcp_open(socket.get(), fd.get()); rc < 0) return fail_after_finish(uv_message("uv_tcp_open", rc));
    (void)fd.release();
    auto fn = std::move(done);
    if (fn) fn(std::move(socket), "");
  }
  void fail_after_finish(const std::string& why) {
    finished = false;
    fail(why);
  }

  void connected(Handle<uv_tcp_t> socket, const std::string& error) {
    if (!error.empty()) return fail(error);
    // Our own descriptor for the handshake (the libuv handle goes; the socket stays).
    uv_os_fd_t raw = -1;
    uv_fileno(socket.as_handle(), &raw);
    fd = UniqueFd(::fcntl(raw, F_DUPFD_CLOEXEC, 0));
    socket.close();
    if (fd.get() < 0) return fail(std::string("dup: ") + std::strerror(errno));
    if (int rc = uv_poll_init_socket(loop, poll.get(), fd.get()); rc < 0) return fail(uv_message("uv_poll_init", rc));
    poll.mark_initialized(this);
    to_send = proxy_protocol::opening(proxy, host, port);
    need = proxy.kind == ProxySpec::Kind::Http ? 0 : proxy.kind == ProxySpec::Kind::Socks4a ? 8 : 2;
    watch();
  }

  void watch() {
    int events = to_send.empty() ? UV_READABLE : UV_WRITABLE;
    uv_poll_start(poll.get(), events, [](uv_poll_t* p, int status, int ev) {
      auto* self = static_cast<Impl*>(p->data);
      if (!self) return;
      if (status < 0) return self->on_poll_error(status);
      if (ev & UV_WRITABLE) self->on_writable();
      else if (ev & UV_READABLE) self->on_readable();
    });
  }

  // What a failed socket call or the socket's pending error means, in words
  // that say what the proxy did.
  void fail_with(int err, const char* doing) {
    if (err == ECONNRESET) return fail("connection reset by peer during the handshake");
    // EPIPE: it closed, then our bytes met its closed socket (the reset after a FIN).
    if (err == EPIPE) return fail(closed_message());
    return fail(std::string(doing) + ": " + uv_strerror(uv_translate_sys_error(err)));
  }
  std::string closed_message() const {
    return proxy.kind == ProxySpec::Kind::Http ? "closed the connection before answering CONNECT"
                                               : "closed the connection during the handshake";
  }

  // libuv reports a POLLERR (a reset, say) as UV_EBADF, though the descriptor
  // is fine: the socket's pending error is what happened.
  void on_poll_error(int status) {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err != 0) return fail_with(err, to_send.empty() ? "reading its answer" : "sending to it");
    fail(uv_strerror(status));
  }

  void on_writable() {
    ssize_t n = ::send(fd.get(), to_send.data(), to_send.size(), MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n < 0) return fail_with(errno, "sending to it");
    to_send.erase(0, static_cast<size_t>(n));
    if (to_send.empty()) watch();
  }

  void on_readable() {
    if (proxy.kind == ProxySpec::Kind::Http) return read_http_head();
    char chunk[512];
    size_t want = std::min(need - buffer.size(), sizeof chunk);
    ssize_t n = ::recv(fd.get(), chunk, want, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n < 0) return fail_with(errno, "reading its answer");
    if (n == 0) return fail(closed_message());
    buffer.append(chunk, static_cast<size_t>(n));
    if (buffer.size() < need) return;
    proxy_protocol::Step step = proxy.kind == ProxySpec::Kind::Socks4a
                                    ? proxy_protocol::socks4a_step(buffer)
                                    : proxy_protocol::socks5_step(proxy, stage, buffer, host, port);
    buffer.clear();
    if (!step.error.empty()) return fail(step.error);
    if (step.done) return succeed();
    stage = step.next_stage;
    need = step.need;
    to_send = std::move(step.send);
    watch();
  }

  // Peek, then take what is head: all of it while its blank line has not
  // come (a byte left in the socket would keep poll saying "readable", and
  // the loop would spin), and exactly up to that line once it has; what
  // follows is the tunnel's. `buffer` holds the head taken so far.
  void read_http_head() {
    char peek[kMaxHttpHead];
    size_t room = kMaxHttpHead - buffer.size();
    ssize_t n = ::recv(fd.get(), peek, room, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n < 0) return fail_with(errno, "reading its answer");
    if (n == 0) return fail(closed_message());
    // The blank line may straddle what was taken and what is new.
    size_t from = buffer.size() >= 3 ? buffer.size() - 3 : 0;
    std::string seen = buffer.substr(from);
    seen.append(peek, static_cast<size_t>(n));
    auto end = seen.find("\r\n\r\n");
    size_t take = end == std::string::npos ? static_cast<size_t>(n) : from + end + 4 - buffer.size();
    size_t had = buffer.size();
    buffer.resize(had + take);
    if (::recv(fd.get(), buffer.data() + had, take, 0) != static_cast<ssize_t>(take))
      return fail("reading its answer: short read");
    if (end == std::string::npos) {
      if (buffer.size() >= kMaxHttpHead) return fail("answer head larger than 16 KiB");
      return;  // the rest of the head is still coming
    }
    proxy_protocol::Step step = proxy_protocol::http_step(buffer);
    if (!step.error.empty()) return fail(step.error);
    succeed();
  }
};

ProxyConnector::ProxyConnector(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ProxyConnector::~ProxyConnector() { abort(); }

void ProxyConnector::abort() {
  if (!impl_) return;
  impl_->finished = true;
  impl_->done = nullptr;
  if (impl_->connector) impl_->connector->abort();
  impl_->poll.close();
  impl_->timer.close();
}

std::shared_ptr<ProxyConnector> ProxyConnector::start(uv_loop_t* loop, ProxySpec proxy, std::string host,
                                                      uint16_t port, TcpConnector::Options options, Done done) {
  auto impl = std::make_unique<Impl>();
  Impl* raw = impl.get();
  raw->loop = loop;
  raw->proxy = std::move(proxy);
  raw->host = std::move(host);
  raw->port = port;
  raw->options = options;
  raw->done = std::move(done);
  auto self = std::make_shared<ProxyConnector>(std::move(impl));
  std::weak_ptr<ProxyConnector> weak = self;
  if (std::string why = proxy_target_error(raw->proxy, raw->host); !why.empty()) {
    // Never a request the proxy would misread; reported from the loop, as every result is.
    post(loop, [weak, why] {
      if (auto me = weak.lock()) me->impl_->fail(why);
    });
    return self;
  }
  // The whole way to the target, the proxy's connect and its handshake, is bounded.
  raw->timer = make_timer(loop, raw);
  uv_timer_start(
      raw->timer.get(),
      [](uv_timer_t* t) {
        auto* impl = static_cast<Impl*>(t->data);
        if (!impl) return;
        auto limit = std::to_string(proxy_timeout(impl->options).count());
        impl->fail(impl->options.timeout.count() > 0 ? "no tunnel within " + limit + " ms (-w)"
                                                     : "no tunnel within " + limit + " ms (-w sets another limit)");
      },
      static_cast<uint64_t>(proxy_timeout(options).count()), 0);
  raw->connector = TcpConnector::start(loop, raw->proxy.host, raw->proxy.port, options,
                                       [weak](Handle<uv_tcp_t> socket, const std::string& error) {
                                         auto me = weak.lock();
                                         if (!me || me->impl_->finished) return;
                                         me->impl_->connected(std::move(socket), error);
                                       });
  return self;
}

}  // namespace nettool
