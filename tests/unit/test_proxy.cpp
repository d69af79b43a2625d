// --proxy without I/O: the URL forms, the bytes each protocol sends first,
// and what each proxy answer means.
#include <catch2/catch.hpp>

#include "nettool/error.h"
#include "nettool/proxy.h"

#include <map>
#include <string>

using namespace nettool;
using namespace nettool::proxy_protocol;
using namespace std::string_literals;

TEST_CASE("proxy URLs: schemes, default ports, user and password, IPv6, and what is refused", "[proxy]") {
  auto p = parse_proxy_url("socks5h://alice:s%40cret@proxy.example:9050");
  CHECK(p.kind == ProxySpec::Kind::Socks5h);
  CHECK(p.host == "proxy.example");
  CHECK(p.port == 9050);
  CHECK(p.user == "alice");
  CHECK(p.password == "s@cret");
  CHECK(p.describe() == "SOCKS5 proxy proxy.example:9050");  // never the password
  CHECK(parse_proxy_url("socks5://127.0.0.1").port == 1080);
  CHECK(parse_proxy_url("http://127.0.0.1").port == 8080);
  CHECK(parse_proxy_url("HTTP://[::1]:3128/").host == "::1");
  CHECK(parse_proxy_url("http://[::1]:3128").describe() == "HTTP proxy [::1]:3128");
  CHECK(parse_proxy_url("socks4a://bob@10.0.0.1:1080").user == "bob");
  for (const char* bad : {"127.0.0.1:1080", "ftp://h:1", "socks5://", "socks5://:1080", "http://h:0", "http://h:x",
                          "http://h:8080/path", "http://[::1"})
    CHECK_THROWS_AS(parse_proxy_url(bad), ConfigError);
}

TEST_CASE("proxy: the first bytes of SOCKS5, SOCKS4a and HTTP CONNECT", "[proxy]") {
  ProxySpec s5;
  s5.kind = ProxySpec::Kind::Socks5;
  CHECK(opening(s5, "h", 80) == "\x05\x01\x00"s);
  s5.user = "u";
  s5.password = "pw";
  CHECK(opening(s5, "h", 80) == "\x05\x02\x00\x02"s);
  CHECK(socks5_auth(s5) == "\x01\x01u\x02pw"s);
  // socks5: an address as it is, a name for the proxy to resolve; socks5h: always the name.
  CHECK(socks5_request(s5, "127.0.0.1", 443) == "\x05\x01\x00\x01\x7f\x00\x00\x01\x01\xbb"s);
  CHECK(socks5_request(s5, "example.org", 80) == "\x05\x01\x00\x03\x0b" "example.org\x00\x50"s);
  CHECK(socks5_request(s5, "[::1]", 80).substr(0, 4) == "\x05\x01\x00\x04"s);
  ProxySpec s5h = s5;
  s5h.kind = ProxySpec::Kind::Socks5h;
  CHECK(socks5_request(s5h, "127.0.0.1", 80) == "\x05\x01\x00\x03\x09" "127.0.0.1\x00\x50"s);

  ProxySpec s4;
  s4.kind = ProxySpec::Kind::Socks4a;
  CHECK(opening(s4, "10.1.2.3", 80) == "\x04\x01\x00\x50\x0a\x01\x02\x03\x00"s);
  CHECK(opening(s4, "example.org", 80) == "\x04\x01\x00\x50\x00\x00\x00\x01\x00" "example.org\x00"s);

  ProxySpec http;
  http.kind = ProxySpec::Kind::Http;
  CHECK(opening(http, "example.org", 443) == "CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n");
  http.user = "Aladdin";
  http.password = "open sesame";  // RFC 7617's example
  CHECK(opening(http, "::1", 22).find("CONNECT [::1]:22 HTTP/1.1\r\n") == 0);
  CHECK(opening(http, "h", 1).find("Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n") != std::string::npos);
}

TEST_CASE("proxy: a target host the proxy cannot carry is refused, never sent with a wrapped length", "[proxy]") {
  ProxySpec s5, s5h, s4, http;
  s5.kind = ProxySpec::Kind::Socks5;
  s5h.kind = ProxySpec::Kind::Socks5h;
  s4.kind = ProxySpec::Kind::Socks4a;
  http.kind = ProxySpec::Kind::Http;
  const std::string longest(255, 'a'), too_long(256, 'a');
  for (const ProxySpec& p : {s5, s5h, s4, http}) {
    INFO(p.describe());
    CHECK(proxy_target_error(p, "example.org").empty());
    CHECK(proxy_target_error(p, "[::1]").empty());
    CHECK(proxy_target_error(p, longest).empty());
    CHECK_FALSE(proxy_target_error(p, "").empty());
    CHECK(proxy_target_error(p, "evil\r\nX-Injected: 1").find("control character") != std::string::npos);
  }
  // SOCKS5 gives a name one length byte: 256 would go out as 0.
  CHECK(proxy_target_error(s5, too_long) == "the target host name is 256 bytes long; SOCKS5 carries 255 at most");
  CHECK_FALSE(proxy_target_error(s5h, too_long).empty());
  CHECK(proxy_target_error(s4, too_long).empty());  // NUL-terminated
  CHECK(proxy_target_error(http, too_long).empty());
}

TEST_CASE("proxy: each SOCKS5 answer leads to the next step, and a refusal says why", "[proxy]") {
  ProxySpec p;
  p.kind = ProxySpec::Kind::Socks5;
  auto s = socks5_step(p, kMethodReply, "\x05\x00"s, "h", 80);
  CHECK(s.error.empty());
  CHECK(s.need == 5);
  CHECK(s.next_stage == kRequestReply);
  CHECK(s.send == socks5_request(p, "h", 80));
  CHECK(socks5_step(p, kMethodReply, "\x05\xff"s, "h", 80).error.find("requires authentication") != std::string::npos);
  CHECK(socks5_step(p, kMethodReply, "\x04\x00"s, "h", 80).error.find("not a SOCKS5 proxy") != std::string::npos);
  s = socks5_step(p, kRequestReply, "\x05\x00\x00\x01\x7f"s, "h", 80);  // IPv4 bound address: 3 more + port
  CHECK(s.need == 5);
  CHECK(s.next_stage == kRequestReplyRest);
  CHECK(socks5_step(p, kRequestReply, "\x05\x00\x00\x03\x09"s, "h", 80).need == 11);  // a 9-byte name + port
  CHECK(socks5_step(p, kRequestReplyRest, "\x00\x00\x01\x00\x00"s, "h", 80).done);
  CHECK(socks5_step(p, kRequestReply, "\x05\x05\x00\x01\x00"s, "h", 80).error ==
        "connection refused by the target (reply 5)");

  p.user = "u";
  s = socks5_step(p, kMethodReply, "\x05\x02"s, "h", 80);
  CHECK(s.need == 2);
  CHECK(s.next_stage == kAuthReply);
  CHECK(s.send == socks5_auth(p));
  CHECK(socks5_step(p, kAuthReply, "\x01\x01"s, "h", 80).error.find("authentication failed") != std::string::npos);
  CHECK(socks5_step(p, kAuthReply, "\x05\x00"s, "h", 80).need == 5);  // the version some proxies send, as curl takes it
  s = socks5_step(p, kAuthReply, "\x01\x00"s, "h", 80);
  CHECK(s.need == 5);
  CHECK(s.next_stage == kRequestReply);
  CHECK(s.send == socks5_request(p, "h", 80));

  CHECK(socks4a_step("\x00\x5a\x00\x00\x00\x00\x00\x00"s).done);
  CHECK(socks4a_step("\x00\x5b\x00\x00\x00\x00\x00\x00"s).error.find("reply 91") != std::string::npos);
  CHECK(http_step("HTTP/1.1 200 Connection established\r\n\r\n").done);
  CHECK(http_step("HTTP/1.0 403 Forbidden\r\n\r\n").error == "CONNECT refused: 403 Forbidden");
  CHECK_FALSE(http_step("SSH-2.0-OpenSSH\r\n\r\n").error.empty());
}

TEST_CASE("proxy: the way through a proxy is bounded by -w, or by a minute without it", "[proxy]") {
  TcpConnector::Options options;
  CHECK(proxy_timeout(options) == std::chrono::milliseconds(60000));
  options.timeout = std::chrono::milliseconds(1500);
  CHECK(proxy_timeout(options) == std::chrono::milliseconds(1500));
}

TEST_CASE("proxy: a SOCKS5 proxy offered user/password may choose no authentication, and the request follows at once",
          "[proxy]") {
  // RFC 1928 §3: the proxy picks one of the methods offered (ssh -D picks 0x00).
  ProxySpec p;
  p.kind = ProxySpec::Kind::Socks5;
  p.user = "u";
  p.password = "p";
  auto s = socks5_step(p, kMethodReply, "\x05\x00"s, "h", 80);
  CHECK(s.error.empty());
  CHECK(s.next_stage == kRequestReply);  // not the authentication reply
  CHECK(s.send == socks5_request(p, "h", 80));
  s = socks5_step(p, s.next_stage, "\x05\x00\x00\x01\x7f"s, "h", 80);
  CHECK(s.error.empty());
  CHECK(s.send.empty());  // no second request
  CHECK(s.next_stage == kRequestReplyRest);
}

namespace {

// An environment made of `vars`, for choose_proxy.
EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

}  // namespace

TEST_CASE("choose_proxy: --proxy, then the scheme's variable, then all_proxy, as curl reads them", "[proxy]") {
  auto env = env_of({{"http_proxy", "proxy:3128"}, {"HTTPS_PROXY", "socks5h://s:1080"}, {"ALL_PROXY", "http://all:1"}});
  auto c = choose_proxy(std::nullopt, "http", "example.org", env);
  REQUIRE(c);
  CHECK(c->url == "http://proxy:3128");  // no scheme: http://
  CHECK(c->source == "http_proxy");
  c = choose_proxy(std::nullopt, "https", "example.org", env);
  REQUIRE(c);
  CHECK(c->url == "socks5h://s:1080");
  c = choose_proxy("socks5://explicit:1", "https", "example.org", env);
  REQUIRE(c);
  CHECK(c->source == "--proxy");
  // HTTP_PROXY in capitals is never read for http://: all_proxy is next.
  c = choose_proxy(std::nullopt, "http", "example.org", env_of({{"HTTP_PROXY", "evil:1"}, {"all_proxy", "ok:2"}}));
  REQUIRE(c);
  CHECK(c->url == "http://ok:2");
  CHECK_FALSE(choose_proxy(std::nullopt, "http", "example.org", env_of({{"HTTP_PROXY", "evil:1"}})));
  CHECK_FALSE(choose_proxy(std::nullopt, "http", "example.org", env_of({{"http_proxy", ""}})));
  // A scheme that is not a URL's (file-get --raw) takes --proxy only.
  CHECK_FALSE(choose_proxy(std::nullopt, "raw", "example.org", env));
  // no_proxy applies to --proxy too; the lowercase variable wins over NO_PROXY.
  CHECK_FALSE(choose_proxy("http://p:1", "http", "www.example.org", env_of({{"no_proxy", "example.org"}})));
  CHECK(choose_proxy("http://p:1", "http", "www.example.org",
                     env_of({{"no_proxy", "other.org"}, {"NO_PROXY", "example.org"}})));
}

TEST_CASE("no_proxy: names and their subdomains, a leading dot, *, addresses and networks", "[proxy]") {
  CHECK(no_proxy_matches("example.org", "example.org"));
  CHECK(no_proxy_matches("example.org", "WWW.Example.org"));
  CHECK(no_proxy_matches(".example.org", "www.example.org"));
  CHECK(no_proxy_matches(".example.org", "example.org."));
  CHECK_FALSE(no_proxy_matches("example.org", "badexample.org"));
  CHECK_FALSE(no_proxy_matches("www.example.org", "example.org"));
  CHECK(no_proxy_matches("a.com, b.com  c.com", "c.com"));
  CHECK(no_proxy_matches("*", "anything"));
  CHECK(no_proxy_matches("127.0.0.1", "127.0.0.1"));
  CHECK(no_proxy_matches("10.0.0.0/8", "10.1.2.3"));
  CHECK_FALSE(no_proxy_matches("10.0.0.0/8", "11.1.2.3"));
  CHECK(no_proxy_matches("::1", "[::1]"));
  CHECK(no_proxy_matches("fd00::/8", "fd12::5"));
  CHECK_FALSE(no_proxy_matches("10.0.0.0/8", "example.org"));
  CHECK_FALSE(no_proxy_matches("", "example.org"));
  CHECK_FALSE(no_proxy_matches(",,", "example.org"));
}
