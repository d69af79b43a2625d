// Connecting through a proxy (nc -x, curl -x): SOCKS5 (RFC 1928, with
// RFC 1929 user/password), SOCKS4a, or an HTTP proxy's CONNECT (RFC 9110
// §9.3.6). The proxy is reached with TcpConnector; the handshake runs on the
// socket before anything else is sent, and the caller gets the socket as if
// it were connected straight to the target.
#pragma once
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "nettool/connect.h"
#include "nettool/uv.h"

namespace nettool {

struct ProxySpec {
  enum class Kind { Socks5, Socks5h, Socks4a, Http };
  Kind kind = Kind::Socks5h;
  std::string host;
  uint16_t port = 0;
  std::string user, password;  // empty user: no authentication
  // "SOCKS5 proxy 127.0.0.1:1080" -- how messages name it (never the password).
  std::string describe() const;
};

// socks5://[USER:PASS@]HOST:PORT (the proxy resolves names, we send address
// literals as they are), socks5h:// (the proxy resolves everything),
// socks4a://[USER@]HOST:PORT, http://[USER:PASS@]HOST:PORT (CONNECT). The
// port defaults to 1080 for SOCKS and 8080 for HTTP; user and password may be
// %-encoded. Throws ConfigError saying what is wrong.
ProxySpec parse_proxy_url(std::string_view url);

// Why `proxy` cannot carry a request for `host` ("" when it can): an empty
// host, a control character (it would end the CONNECT line or the SOCKS4a
// name early), or a name SOCKS5 cannot hold (its length is one byte: 255 at
// most). The plugins check TARGET_HOST at start (exit 2); ProxyConnector
// checks whatever it is given and fails the connection with this reason.
std::string proxy_target_error(const ProxySpec& proxy, const std::string& host);

// ---- the protocol, without I/O (unit-tested)

namespace proxy_protocol {

// What to send first: the SOCKS5 greeting, a SOCKS4a request, or the CONNECT head.
std::string opening(const ProxySpec& proxy, const std::string& host, uint16_t port);
// The SOCKS5 request to send once the method (and authentication) are settled.
std::string socks5_request(const ProxySpec& proxy, const std::string& host, uint16_t port);
std::string socks5_auth(const ProxySpec& proxy);

// One step of reading the proxy's answers. Reply::need > 0: read exactly
// that many more bytes (SOCKS replies have known lengths, so no byte of the
// tunnel is ever read here); Reply::error: the proxy refused, with why.
struct Step {
  size_t need = 0;          // bytes the next reply step needs in `buffer`
  std::string send;         // bytes to send next (SOCKS5 authentication, request)
  std::string error;        // non-empty: failed
  bool done = false;        // the tunnel is open
  int next_stage = 0;       // SOCKS5: the stage of the reply asked for (Socks5Stage)
};
// The SOCKS5 replies, in order. Which come depends on the proxy: it may
// choose "no authentication" even when we offer user/password too (RFC 1928
// §3), and then no authentication reply comes.
enum Socks5Stage : int { kMethodReply = 0, kAuthReply = 1, kRequestReply = 2, kRequestReplyRest = 3 };
// SOCKS5: `stage` is the reply in `buffer` (the last Step's next_stage; the
// first is kMethodReply); `buffer` holds exactly the bytes asked for. HTTP:
// `buffer` is the head up to and including its blank line.
Step socks5_step(const ProxySpec& proxy, int stage, std::string_view buffer, const std::string& host, uint16_t port);
Step socks4a_step(std::string_view buffer);
Step http_step(std::string_view head);

// "Proxy-Authorization: Basic ...\r\n" when the proxy has a user, else "".
std::string http_authorization(const ProxySpec& proxy);

}  // namespace proxy_protocol

// ---- which proxy a URL goes through, as curl and wget choose (file-get)

using EnvLookup = std::function<const char*(const char*)>;
struct ChosenProxy {
  std::string url;     // as parse_proxy_url takes it
  std::string source;  // "--proxy", "http_proxy", ...: for messages
};
// `explicit_url` (--proxy) if given; else http_proxy for http (lowercase only,
// as curl: a CGI program gets HTTP_PROXY from a request's "Proxy:" header),
// https_proxy or HTTPS_PROXY for https, then all_proxy or ALL_PROXY (for any
// other scheme, only `explicit_url`). None when
// `host` matches no_proxy or NO_PROXY (no_proxy_matches). A URL without a
// scheme is http://, as curl and wget read these variables. An empty
// variable is unset.
std::optional<ChosenProxy> choose_proxy(const std::optional<std::string>& explicit_url, std::string_view scheme,
                                        std::string_view host, const EnvLookup& env);
// no_proxy: entries separated by commas or blanks. "*" matches every host; a
// name matches itself and its subdomains (a leading dot is ignored, case is
// not significant); an address matches itself, ADDR/BITS a network.
bool no_proxy_matches(std::string_view list, std::string_view host);

// The limit on the way through a proxy (its connect and its answers) when
// -w gives none. Without one, a proxy that accepts and then says nothing
// would hold the connection, and a forwarder's --max-clients slot, for
// ever: a client that leaves meanwhile cannot be told from one that has
// half-closed and waits for its answer. nginx's proxy_connect_timeout has
// the same default.
inline constexpr Duration kDefaultProxyTimeout{60000};
// The limit a ProxyConnector applies: -w's, else kDefaultProxyTimeout.
inline Duration proxy_timeout(const TcpConnector::Options& options) {
  return options.timeout.count() > 0 ? options.timeout : kDefaultProxyTimeout;
}

// Connects to the proxy (with `options`: -w covers the handshake too, -s/-p
// the local end), then asks it for HOST PORT, all within proxy_timeout().
// `done` gets the socket, or an error naming the proxy and its answer
// ("SOCKS5 proxy 127.0.0.1:1080: connection refused by the target (reply 5)").
class ProxyConnector : public std::enable_shared_from_this<ProxyConnector> {
 public:
  using Done = TcpConnector::Done;
  static std::shared_ptr<ProxyConnector> start(uv_loop_t* loop, ProxySpec proxy, std::string host, uint16_t port,
                                               TcpConnector::Options options, Done done);
  ~ProxyConnector();
  void abort();  // no callback after this

  struct Impl;
  explicit ProxyConnector(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace nettool
