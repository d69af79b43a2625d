// http.h, the server side: request heads, bare-name detection, paths, ranges,
// dates, content types, escaping.
#include <catch2/catch.hpp>

#include <ctime>
#include <string>

#include "nettool/http.h"

using namespace nettool::http;
using namespace std::string_literals;

namespace {

RequestParse parse(std::string_view text, const RequestLimits& limits = {}) { return parse_request(text, limits); }

// Expects an error with the given status.
void check_error(std::string_view text, int status, const RequestLimits& limits = {}) {
  RequestParse r = parse(text, limits);
  INFO("request: " << std::string(text).substr(0, 200));
  CHECK(r.status == ParseStatus::Error);
  CHECK(r.error_status == status);
  CHECK_FALSE(r.error.empty());
}

struct Looks {
  bool http;
  bool decided;
};
Looks looks(std::string_view buffer) {
  bool decided = true;
  bool http = looks_like_http(buffer, decided);
  return {http, decided};
}

}  // namespace

// ---- parse_request ----

TEST_CASE("parse_request: a complete request head", "[http][request]") {
  std::string text = "GET /docs/a%20b.txt?x=1 HTTP/1.1\r\nHost: example\r\nRange:  bytes=0-1 \t\r\nX-Empty:\r\n\r\n";
  RequestParse r = parse(text);
  REQUIRE(r.status == ParseStatus::Complete);
  CHECK(r.error_status == 0);
  CHECK(r.request.method == "GET");
  CHECK(r.request.target == "/docs/a%20b.txt?x=1");
  CHECK(r.request.version_minor == 1);
  CHECK(r.request.head_size == text.size());
  REQUIRE(r.request.headers.size() == 3);
  CHECK(r.request.headers[0].name == "Host");
  CHECK(r.request.headers[0].value == "example");
  CHECK(r.request.headers[1].value == "bytes=0-1");  // surrounding whitespace removed
  CHECK(r.request.headers[2].value == "");
  REQUIRE(find_header(r.request.headers, "HOST"));
  CHECK(*find_header(r.request.headers, "range") == "bytes=0-1");
  CHECK(find_header(r.request.headers, "Accept") == nullptr);
}

TEST_CASE("parse_request: bare LF line endings are accepted", "[http][request]") {
  RequestParse r = parse("HEAD / HTTP/1.1\nHost: h\n\n");
  REQUIRE(r.status == ParseStatus::Complete);
  CHECK(r.request.method == "HEAD");
  CHECK(r.request.head_size == 25);
}

TEST_CASE("parse_request: an unfinished head is Incomplete", "[http][request]") {
  std::string full = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
  for (size_t n = 0; n < full.size(); ++n) {
    INFO("first " << n << " bytes");
    RequestParse r = parse(std::string_view(full).substr(0, n));
    CHECK(r.status == ParseStatus::Incomplete);
    CHECK(r.error_status == 0);
  }
  CHECK(parse(full).status == ParseStatus::Complete);
}

TEST_CASE("parse_request: head_size stops at the blank line, pipelined bytes stay", "[http][request]") {
  std::string first = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
  std::string second = "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
  std::string buffer = first + second + "GET /c HT";
  RequestParse r = parse(buffer);
  REQUIRE(r.status == ParseStatus::Complete);
  CHECK(r.request.target == "/a");
  CHECK(r.request.head_size == first.size());
  REQUIRE(r.request.headers.size() == 1);  // nothing from the next request leaks in

  std::string_view rest = std::string_view(buffer).substr(r.request.head_size);
  RequestParse r2 = parse(rest);
  REQUIRE(r2.status == ParseStatus::Complete);
  CHECK(r2.request.target == "/b");
  CHECK(r2.request.head_size == second.size());
  CHECK(parse(rest.substr(r2.request.head_size)).status == ParseStatus::Incomplete);

  // A body after the head is not part of it either.
  std::string with_body = "POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
  RequestParse r3 = parse(with_body);
  REQUIRE(r3.status == ParseStatus::Complete);
  CHECK(r3.request.head_size == with_body.size() - 5);
}

TEST_CASE("parse_request: one RequestParse reused for the next request keeps nothing of the last", "[http][request]") {
  RequestParse p;
  parse_request("GET /a HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1\r\nX: 1\r\n\r\n", p);
  REQUIRE(p.status == ParseStatus::Complete);
  REQUIRE(p.request.headers.size() == 3);

  parse_request("HEAD /b HTTP/1.0\r\n\r\n", p);
  REQUIRE(p.status == ParseStatus::Complete);
  CHECK(p.request.method == "HEAD");
  CHECK(p.request.target == "/b");
  CHECK(p.request.version_minor == 0);
  CHECK(p.request.headers.empty());

  parse_request("GET /c HTTP/1.1\r\n\r\n", p);  // no Host
  CHECK(p.status == ParseStatus::Error);
  CHECK(p.error_status == 400);
  CHECK(p.request.head_size == 0);

  parse_request("GET /d HTTP/1.1\r\nHost: h\r\n", p);  // still arriving: the last error is gone
  CHECK(p.status == ParseStatus::Incomplete);
  CHECK(p.error_status == 0);
  CHECK(p.error.empty());
  CHECK(p.request.target == "/d");
  CHECK(p.request.version_minor == 1);
}

TEST_CASE("repoint_request: the views follow the head into its copy", "[http][request]") {
  std::string buffer = "GET /a%20b?q HTTP/1.1\r\nHost: example\r\nIf-None-Match: \"x\"\r\nX-Empty:\r\n\r\nGET /next";
  RequestParse p;
  parse_request(buffer, p);
  REQUIRE(p.status == ParseStatus::Complete);
  std::string copy = buffer.substr(0, p.request.head_size);
  repoint_request(p.request, buffer.data(), copy.data());
  buffer.assign(buffer.size(), '#');  // what a server's read-ahead would do to the original
  CHECK(p.request.method == "GET");
  CHECK(p.request.target == "/a%20b?q");
  REQUIRE(p.request.headers.size() == 3);
  CHECK(p.request.headers[0].name == "Host");
  CHECK(p.request.headers[0].value == "example");
  CHECK(p.request.headers[1].name == "If-None-Match");
  CHECK(p.request.headers[1].value == "\"x\"");
  CHECK(p.request.headers[2].name == "X-Empty");
  CHECK(p.request.headers[2].value.empty());
  CHECK(p.request.target.data() == copy.data() + 4);
}

TEST_CASE("parse_request: HTTP/1.1 needs Host, HTTP/1.0 does not", "[http][request]") {
  check_error("GET / HTTP/1.1\r\n\r\n", 400);
  check_error("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400);
  RequestParse r = parse("GET / HTTP/1.0\r\n\r\n");
  REQUIRE(r.status == ParseStatus::Complete);
  CHECK(r.request.version_minor == 0);
  CHECK(r.request.headers.empty());
  // Host matches case-insensitively.
  CHECK(parse("GET / HTTP/1.1\r\nhOsT: h\r\n\r\n").status == ParseStatus::Complete);
}

TEST_CASE("parse_request: more than one Host, or an invalid Host value, is 400", "[http][request]") {
  // RFC 9112 section 3.2.
  check_error("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
  check_error("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400);
  check_error("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400);
  for (std::string_view bad : {"a b", "a/b", "a?b", "a#b", "user@host", "[::1", "[]", "[::1]x", "[::g]", "h:80a",
                               "h:123456", "h:80:80", "a%4", "a%zz", "\"quoted\"", "a\tb"}) {
    INFO("Host: " << bad);
    check_error("GET / HTTP/1.1\r\nHost: " + std::string(bad) + "\r\n\r\n", 400);
  }
  for (std::string_view good : {"", "example", "example.com:8080", "127.0.0.1", "127.0.0.1:80", "[::1]", "[::1]:8080",
                                "xn--bcher-kva.example", "a%41b", "h:", "sub_delims!$&'()*+,;=~"}) {
    INFO("Host: " << good);
    CHECK(parse("GET / HTTP/1.1\r\nHost: " + std::string(good) + "\r\n\r\n").status == ParseStatus::Complete);
  }
}

TEST_CASE("parse_request: malformed request lines are 400", "[http][request]") {
  check_error("GET\r\n\r\n", 400);                               // no target, no version
  check_error("GET /\r\n\r\n", 400);                             // HTTP/0.9 style
  check_error("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400);        // empty target
  check_error("GET / HTTP/1.1 extra\r\nHost: h\r\n\r\n", 400);   // three spaces
  check_error(" GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400);        // empty method
  check_error("G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400);         // method not a token
  check_error("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400);        // trailing space
  check_error("GET / HTTPS/1.1\r\nHost: h\r\n\r\n", 400);
  check_error("GET / HTTP/1\r\nHost: h\r\n\r\n", 400);
  check_error("GET / HTTP/1.x\r\nHost: h\r\n\r\n", 400);
  check_error("GET / HTTP/11.1\r\nHost: h\r\n\r\n", 400);
  check_error("GET / http/1.1\r\nHost: h\r\n\r\n", 400);
  check_error("\r\n\r\n", 400);
}

TEST_CASE("parse_request: control characters in the target are 400", "[http][request]") {
  check_error("GET /a\x01z HTTP/1.1\r\nHost: h\r\n\r\n", 400);
  check_error("GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", 400);
  check_error("GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n", 400);
  check_error("GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n"s, 400);
  check_error("GET /a\rb HTTP/1.1\r\nHost: h\r\n\r\n", 400);
  // Bytes above 0x7f are not control characters (the path decoder judges them).
  CHECK(parse("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n").status == ParseStatus::Complete);
}

TEST_CASE("parse_request: unsupported versions are 505", "[http][request]") {
  check_error("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505);
  check_error("GET / HTTP/0.9\r\n\r\n", 505);
  check_error("GET / HTTP/3.0\r\nHost: h\r\n\r\n", 505);
}

TEST_CASE("parse_request: an overlong request line is 414", "[http][request]") {
  RequestLimits limits;
  limits.max_request_line = 64;
  std::string long_target = "/" + std::string(100, 'a');
  // Whole line present...
  check_error("GET " + long_target + " HTTP/1.1\r\nHost: h\r\n\r\n", 414, limits);
  // ...and still arriving: no need to wait for the end of the line.
  check_error("GET " + long_target, 414, limits);
  // Under the limit is fine.
  CHECK(parse("GET /" + std::string(40, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n", limits).status == ParseStatus::Complete);
  // Default limit: 8 KiB.
  check_error("GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n", 414);
}

TEST_CASE("parse_request: too large or too many header fields are 431", "[http][request]") {
  RequestLimits limits;
  limits.max_header_bytes = 256;
  std::string big = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(300, 'x') + "\r\n";
  check_error(big, 431, limits);             // still arriving
  check_error(big + "\r\n", 431, limits);    // complete
  CHECK(parse("GET / HTTP/1.1\r\nHost: h\r\nX-Small: " + std::string(100, 'x') + "\r\n\r\n", limits).status ==
        ParseStatus::Complete);

  RequestLimits few;
  few.max_headers = 3;
  std::string three = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n";
  CHECK(parse(three + "\r\n", few).status == ParseStatus::Complete);
  check_error(three + "C: 3\r\n\r\n", 431, few);

  // Defaults: 100 fields, 16 KiB.
  std::string many = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < 100; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  check_error(many + "\r\n", 431);
  check_error("GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(17000, 'x') + "\r\n\r\n", 431);
}

TEST_CASE("parse_request: a refused request keeps the method and target its line gave, for the log", "[http][request]") {
  auto words = [](const std::string& text) {
    RequestParse p = parse(text);
    CHECK(p.status == ParseStatus::Error);
    return std::string(p.request.method) + "|" + std::string(p.request.target);
  };
  CHECK(words("GET /a.txt HTTP/1.1\r\n\r\n") == "GET|/a.txt");  // no Host
  CHECK(words("HEAD /a HTTP/2.0\r\nHost: h\r\n\r\n") == "HEAD|/a");
  CHECK(words("G(T /a HTTP/1.1\r\nHost: h\r\n\r\n") == "G(T|/a");  // as sent, for the log to escape
  CHECK(words("GET /a HTTP/1.1\r\nHost: h\r\nX: " + std::string(17000, 'x') + "\r\n\r\n") == "GET|/a");
  // A line that is not three words, or not whole, has no target to tell.
  CHECK(words("GET /a b HTTP/1.1\r\nHost: h\r\n\r\n") == "GET|");
  CHECK(words(" GET /a HTTP/1.1\r\nHost: h\r\n\r\n") == "|");
  CHECK(words("GET /" + std::string(9000, 'a')) == "GET|");
  // A 414 whose first word is thousands of bytes logs no method: it is junk, not one.
  CHECK(words(std::string(9000, 'a') + " /b HTTP/1.1") == "|");
}

TEST_CASE("parse_request: obsolete line folding is refused", "[http][request]") {
  check_error("GET / HTTP/1.1\r\nHost: h\r\nX-Long: a\r\n  continued\r\n\r\n", 400);
  check_error("GET / HTTP/1.1\r\nHost: h\r\nX-Long: a\r\n\tcontinued\r\n\r\n", 400);
  // Whitespace before the first header line is folding too (request smuggling vector).
  check_error("GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400);
}

TEST_CASE("parse_request: bad header names and values are 400", "[http][request]") {
  check_error("GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n", 400);
  check_error("GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400);  // space before the colon
  check_error("GET / HTTP/1.1\r\nHost: h\r\n: empty name\r\n\r\n", 400);
  check_error("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400);
  check_error("GET / HTTP/1.1\r\nHost: h\r\nX(y): 1\r\n\r\n", 400);
  check_error("GET / HTTP/1.1\r\nHost: h\r\nX\xc3\xa9: 1\r\n\r\n", 400);
  check_error("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01z\r\n\r\n", 400);
  check_error("GET / HTTP/1.1\r\nHost: h\r\nX: a\rz\r\n\r\n", 400);
  check_error("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n", 400);
  check_error("GET / HTTP/1.1\r\nHost: h\r\nX: a\0z\r\n\r\n"s, 400);
  // Tabs and obs-text in values, and every tchar in names, are fine.
  RequestParse r = parse("GET / HTTP/1.1\r\nHost: h\r\nX-!#$%&'*+-.^_`|~09az: a\tb \xc3\xa9\r\n\r\n");
  REQUIRE(r.status == ParseStatus::Complete);
  CHECK(r.request.headers[1].value == "a\tb \xc3\xa9");
}

// ---- request_framing ----

namespace {
RequestFraming framing(std::string_view head) {
  RequestParse r = parse(head);
  REQUIRE(r.status == ParseStatus::Complete);
  return request_framing(r.request);
}
void check_framing_error(std::string_view head, int status) {
  INFO("request: " << head);
  RequestFraming f = framing(head);
  CHECK(f.error_status == status);
  CHECK_FALSE(f.error.empty());
}
}  // namespace

TEST_CASE("request_framing: no body, Content-Length and chunked", "[http][request][framing]") {
  RequestFraming f = framing("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  CHECK(f.kind == RequestFraming::NoBody);
  CHECK(f.error_status == 0);
  CHECK(framing("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n").kind == RequestFraming::NoBody);
  f = framing("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n");
  CHECK(f.kind == RequestFraming::Length);
  CHECK(f.length == 5);
  // Repeats of one value are one value (RFC 9110 section 8.6).
  f = framing("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\nContent-Length: 7, 7\r\n\r\n");
  CHECK(f.kind == RequestFraming::Length);
  CHECK(f.length == 7);
  CHECK(f.error_status == 0);
  for (std::string_view te : {"chunked", "Chunked", " chunked ", "chunked,", ", chunked"}) {
    INFO("Transfer-Encoding: " << te);
    f = framing("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: " + std::string(te) + "\r\n\r\n");
    CHECK(f.kind == RequestFraming::Chunked);
    CHECK(f.error_status == 0);
  }
}

TEST_CASE("request_framing: framing a proxy could read differently is 400", "[http][request][framing]") {
  // RFC 9112 section 6.3: each of these can smuggle a second request past a proxy.
  check_framing_error("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n", 400);
  check_framing_error("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0, 5\r\n\r\n", 400);
  for (std::string_view cl : {"abc", "-1", "+5", "5a", "0x10", "", " , ", "1 2", "99999999999999999999999"}) {
    INFO("Content-Length: " << cl);
    check_framing_error("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: " + std::string(cl) + "\r\n\r\n", 400);
  }
  check_framing_error("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400);
  check_framing_error("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
  check_framing_error("GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
  check_framing_error("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400);
  check_framing_error("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400);
  check_framing_error("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
  check_framing_error("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ,\r\n\r\n", 400);
}

TEST_CASE("request_framing: a transfer coding other than chunked is 501", "[http][request][framing]") {
  check_framing_error("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501);
  check_framing_error("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501);
  check_framing_error("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n", 501);
}

TEST_CASE("has_token and iequals", "[http]") {
  CHECK(has_token("keep-alive, close", "close"));
  CHECK(has_token("Keep-Alive ,\tCLOSE ", "close"));
  CHECK(has_token("close", "Close"));
  CHECK_FALSE(has_token("closed", "close"));
  CHECK_FALSE(has_token("", "close"));
  CHECK_FALSE(has_token("keep-alive", "close"));
  CHECK(iequals("Content-Length", "content-LENGTH"));
  CHECK_FALSE(iequals("Content-Length", "Content-Lengt"));
}

// ---- looks_like_http ----

TEST_CASE("looks_like_http: request lines are HTTP once decided", "[http][bare-name]") {
  auto l = looks("GET / HTTP/1.1\r\n");
  CHECK(l.http);
  CHECK(l.decided);
  l = looks("HEAD /x HTTP/1.0\n");
  CHECK(l.http);
  CHECK(l.decided);
  // "HTTP/" is enough to decide before the line ends.
  l = looks("GET /a HTTP/");
  CHECK(l.http);
  CHECK(l.decided);
}

TEST_CASE("looks_like_http: undecided while a request line may still be arriving", "[http][bare-name]") {
  for (std::string_view prefix : {"", "G", "GE", "GET", "GET ", "GET /docs", "GET /docs ", "GET /docs H", "GET /docs HTTP"}) {
    INFO("buffer: '" << prefix << "'");
    auto l = looks(prefix);
    CHECK(l.http);
    CHECK_FALSE(l.decided);
  }
}

TEST_CASE("looks_like_http: bare names and HTTP/0.9 are not HTTP", "[http][bare-name]") {
  for (std::string_view line : {"docs/a.txt\n", "GET /x\n", "GET /x\r\n", "hello world\n", "hello\n", "\n",
                                "GET / FTP/1.0\r\n", "a b c\n"}) {
    INFO("buffer: '" << line << "'");
    auto l = looks(line);
    CHECK_FALSE(l.http);
    CHECK(l.decided);
  }
  // Without a newline nothing is decided against HTTP yet: the end of the
  // line may still show an HTTP version.
  for (std::string_view partial : {"docs/a.txt", "/etc/passwd", "GET /x FOO", "GET /x http/", " GET", "GET\t/x"}) {
    INFO("buffer: '" << partial << "'");
    CHECK_FALSE(looks(partial).decided);
  }
}

TEST_CASE("looks_like_http: a malformed request line ending in an HTTP version is HTTP (and gets a 400)",
          "[http][bare-name]") {
  for (std::string_view line : {"GET  /a.txt HTTP/1.1\r\n", "GET\t/a.txt HTTP/1.1\r\n", " GET /a.txt HTTP/1.1\r\n",
                                "GET /a.txt http/1.1\r\n", "GET /a.txt HTTP/1.1 \r\n", "get /a.txt Http/1.0\n"}) {
    INFO("buffer: '" << line << "'");
    auto l = looks(line);
    CHECK(l.http);
    CHECK(l.decided);
    std::string request = std::string(line) + "Host: x\r\n\r\n";
    RequestParse r = parse(request);
    CHECK(r.status == ParseStatus::Error);
    CHECK(r.error_status == 400);
  }
  // A name merely containing "http/" is still a name.
  for (std::string_view line : {"docs/http/1.1\n", "http/1.1\n", "a http/1.x\n"}) {
    INFO("buffer: '" << line << "'");
    auto l = looks(line);
    CHECK_FALSE(l.http);
    CHECK(l.decided);
  }
}

// ---- percent_decode_path / percent_encode_path ----

TEST_CASE("percent_decode_path decodes once", "[http][path]") {
  CHECK(percent_decode_path("/a%20b") == "/a b");
  CHECK(percent_decode_path("/plain") == "/plain");
  CHECK(percent_decode_path("") == "");
  CHECK(percent_decode_path("%41%62") == "Ab");
  CHECK(percent_decode_path("%7e%7E") == "~~");
  CHECK(percent_decode_path("/100%25") == "/100%");
  CHECK(percent_decode_path("%2525") == "%25");  // exactly once
  CHECK(percent_decode_path("/caf%c3%a9") == "/caf\xc3\xa9");
  CHECK(percent_decode_path("/caf\xc3\xa9") == "/caf\xc3\xa9");
  CHECK(percent_decode_path("%e2%82%ac%f0%9f%98%80") == "\xe2\x82\xac\xf0\x9f\x98\x80");
}

TEST_CASE("percent_decode_path: %2e%2e decodes, and check_path refuses it", "[http][path]") {
  auto d = percent_decode_path("/%2e%2e/%2E%2E/etc/passwd");
  REQUIRE(d);
  CHECK(*d == "/../../etc/passwd");
  PathCheck c = check_path(*d, true);
  CHECK_FALSE(c.ok);
  CHECK_FALSE(c.hidden);
}

TEST_CASE("percent_decode_path refuses encoded separators, NUL and bad escapes", "[http][path]") {
  for (std::string_view bad : {"/a%2fb", "/a%2Fb", "%2f", "/a%00b", "%00", "/a%2", "%2", "%", "/a%", "%zz", "%g0",
                               "%0g", "/x%-1"}) {
    INFO("path: " << bad);
    CHECK_FALSE(percent_decode_path(bad));
  }
}

TEST_CASE("percent_decode_path refuses invalid and overlong UTF-8", "[http][path]") {
  for (std::string_view bad : {
           "%c0%ae",            // overlong '.'
           "%c0%af",            // overlong '/'
           "%c1%bf",            // overlong 2-byte
           "%e0%80%ae",         // overlong 3-byte '.'
           "%f0%80%80%ae",      // overlong 4-byte '.'
           "%ed%a0%80",         // UTF-16 surrogate D800
           "%ed%bf%bf",         // surrogate DFFF
           "%f4%90%80%80",      // above U+10FFFF
           "%f5%80%80%80",      // invalid lead byte
           "%ff",               // never valid
           "%80",               // lone continuation
           "%c3",               // truncated
           "%c3%28",            // lead without continuation
           "%e2%82",            // truncated 3-byte
           "/caf\xc3",          // raw bytes are checked too
       }) {
    INFO("path: " << bad);
    CHECK_FALSE(percent_decode_path(bad));
  }
  // The edges that are valid.
  CHECK(percent_decode_path("%c2%80") == "\xc2\x80");
  CHECK(percent_decode_path("%e0%a0%80") == "\xe0\xa0\x80");
  CHECK(percent_decode_path("%ed%9f%bf") == "\xed\x9f\xbf");
  CHECK(percent_decode_path("%ee%80%80") == "\xee\x80\x80");
  CHECK(percent_decode_path("%f0%90%80%80") == "\xf0\x90\x80\x80");
  CHECK(percent_decode_path("%f4%8f%bf%bf") == "\xf4\x8f\xbf\xbf");
}

TEST_CASE("percent_encode_path keeps separators and unreserved characters", "[http][path]") {
  CHECK(percent_encode_path("/docs/a b.txt") == "/docs/a%20b.txt");
  CHECK(percent_encode_path("/a-b_c.d~e") == "/a-b_c.d~e");
  CHECK(percent_encode_path("!$&'()*+,;=:@") == "!$&'()*+,;=:@");
  CHECK(percent_encode_path("100%") == "100%25");
  CHECK(percent_encode_path("q?x#y") == "q%3Fx%23y");
  CHECK(percent_encode_path("caf\xc3\xa9") == "caf%C3%A9");
  CHECK(percent_encode_path("a\0b"s) == "a%00b");
  CHECK(percent_encode_path("\"<>\\^`{|}") == "%22%3C%3E%5C%5E%60%7B%7C%7D");
  CHECK(percent_encode_path("\x01\x7f") == "%01%7F");
}

TEST_CASE("percent_encode_path and percent_decode_path round trip", "[http][path]") {
  for (std::string_view path : {"/docs/a b.txt", "/100% sure?", "/caf\xc3\xa9/\xe2\x82\xac #1", "/a+b=c&d", "",
                                "/\xf0\x9f\x98\x80", "/tab\there", "/%2f literally"}) {
    INFO("path: " << path);
    std::string encoded = percent_encode_path(path);
    CHECK(encoded.find_first_of(" #?\t") == std::string::npos);
    CHECK(percent_decode_path(encoded) == std::string(path));
  }
}

// ---- check_path ----

TEST_CASE("check_path splits into segments, dropping empty and '.'", "[http][path]") {
  PathCheck c = check_path("/docs//a/./b.txt/", false);
  REQUIRE(c.ok);
  CHECK(c.why.empty());
  CHECK(c.segments == std::vector<std::string>{"docs", "a", "b.txt"});
  c = check_path("", false);
  CHECK(c.ok);
  CHECK(c.segments.empty());
  c = check_path("/", false);
  CHECK(c.ok);
  CHECK(c.segments.empty());
  c = check_path("./.", false);
  CHECK(c.ok);
  CHECK(c.segments.empty());
  c = check_path("a b/caf\xc3\xa9", false);
  CHECK(c.ok);
  CHECK(c.segments == std::vector<std::string>{"a b", "caf\xc3\xa9"});
  c = check_path("a..b/..c", true);  // '..' inside a name is just a name
  CHECK(c.ok);
  CHECK(c.segments == std::vector<std::string>{"a..b", "..c"});
}

TEST_CASE("check_path refuses '..', backslash, NUL and control characters", "[http][path]") {
  for (std::string_view bad : {"..", "/..", "../x", "/a/../b", "a/..", "a/b/../../..", "/a\\b", "\\", "..\\x",
                               "a\x01z", "a/\x1f", "a\nb", "a\rb", "a\tb", "a\x7f"}) {
    INFO("path: " << bad);
    for (bool allow_hidden : {false, true}) {
      PathCheck c = check_path(bad, allow_hidden);
      CHECK_FALSE(c.ok);
      CHECK_FALSE(c.hidden);
      CHECK_FALSE(c.why.empty());
    }
  }
  PathCheck c = check_path("a\0b"s, true);
  CHECK_FALSE(c.ok);
  CHECK_FALSE(c.hidden);
}

TEST_CASE("check_path: hidden segments depend on allow_hidden", "[http][path]") {
  for (std::string_view hidden : {".git", "/.git/config", "docs/.env", "a/.../b", ".x/"}) {
    INFO("path: " << hidden);
    PathCheck refused = check_path(hidden, false);
    CHECK_FALSE(refused.ok);
    CHECK(refused.hidden);
    PathCheck allowed = check_path(hidden, true);
    CHECK(allowed.ok);
    CHECK_FALSE(allowed.hidden);
  }
  CHECK(check_path("/.git/config", true).segments == std::vector<std::string>{".git", "config"});
  // `hidden` means refused only because of a dot-file: anything else wrong wins.
  for (std::string worse : {".git/../x"s, ".git/a\x01"s, ".git\\x"s, "a/.b/c/.."s, "." + std::string(300, 'x')}) {
    INFO("path: " << worse);
    PathCheck c = check_path(worse, false);
    CHECK_FALSE(c.ok);
    CHECK_FALSE(c.hidden);
    CHECK(c.why != "hidden file");
  }
  PathCheck c = check_path("a/.b/c", false);
  CHECK_FALSE(c.ok);
  CHECK(c.hidden);
  CHECK(c.why == "hidden file");
}

TEST_CASE("percent_decode_path and check_path into reused results keep nothing of the last path", "[http][path]") {
  std::string decoded = "left over from a longer path before";
  REQUIRE(percent_decode_path("/a%20b", decoded));
  CHECK(decoded == "/a b");
  CHECK_FALSE(percent_decode_path("/x%2fy", decoded));

  PathCheck check;
  check_path("/docs/.git/config", false, check);
  CHECK_FALSE(check.ok);
  CHECK(check.hidden);
  check_path("/one/two", false, check);
  CHECK(check.ok);
  CHECK_FALSE(check.hidden);
  CHECK(check.why.empty());
  CHECK(check.segments == std::vector<std::string>{"one", "two"});
  check_path("/a/../b", false, check);
  CHECK_FALSE(check.ok);
  CHECK(check.segments.empty());
  check_path("/c", false, check);
  CHECK(check.ok);
  CHECK(check.segments == std::vector<std::string>{"c"});
  check_path("/a/b/c", false, check);
  check_path("/x", false, check);  // after a longer path that was not refused
  CHECK(check.ok);
  CHECK(check.segments == std::vector<std::string>{"x"});
}

TEST_CASE("check_path: segments longer than 255 bytes are refused", "[http][path]") {
  CHECK(check_path("/d/" + std::string(255, 'a'), false).ok);
  PathCheck c = check_path("/d/" + std::string(256, 'a') + "/x", false);
  CHECK_FALSE(c.ok);
  CHECK_FALSE(c.hidden);
  // The whole path may be long as long as each segment is short.
  std::string deep;
  for (int i = 0; i < 40; ++i) deep += "/" + std::string(200, 'b');
  c = check_path(deep, false);
  CHECK(c.ok);
  CHECK(c.segments.size() == 40);
}

// ---- parse_range ----

namespace {
void check_range(std::string_view header, uint64_t size, ByteRange::Kind kind, uint64_t first = 0, uint64_t last = 0) {
  INFO("Range: " << header << " against " << size << " bytes");
  ByteRange r = parse_range(header, size);
  CHECK(r.kind == kind);
  if (kind == ByteRange::Satisfiable) {
    CHECK(r.first == first);
    CHECK(r.last == last);
  }
}
}  // namespace

TEST_CASE("parse_range: satisfiable single ranges", "[http][range]") {
  check_range("bytes=0-0", 10, ByteRange::Satisfiable, 0, 0);
  check_range("bytes=0-9", 10, ByteRange::Satisfiable, 0, 9);
  check_range("bytes=2-4", 10, ByteRange::Satisfiable, 2, 4);
  check_range("bytes=5-", 10, ByteRange::Satisfiable, 5, 9);
  check_range("bytes=9-", 10, ByteRange::Satisfiable, 9, 9);
  check_range("bytes=-3", 10, ByteRange::Satisfiable, 7, 9);
  check_range("bytes=-10", 10, ByteRange::Satisfiable, 0, 9);
  check_range("bytes=-100", 10, ByteRange::Satisfiable, 0, 9);  // suffix longer than the file
  check_range("bytes=5-100", 10, ByteRange::Satisfiable, 5, 9);  // last clamped
  check_range("bytes=0-18446744073709551", 10, ByteRange::Satisfiable, 0, 9);
  check_range(" bytes=1-2 ", 10, ByteRange::Satisfiable, 1, 2);
  check_range("bytes=0-", 1, ByteRange::Satisfiable, 0, 0);
  check_range("bytes=4000000000-", 5000000000ull, ByteRange::Satisfiable, 4000000000ull, 4999999999ull);
}

TEST_CASE("parse_range: unsatisfiable ranges", "[http][range]") {
  check_range("bytes=-0", 10, ByteRange::Unsatisfiable);
  check_range("bytes=10-", 10, ByteRange::Unsatisfiable);
  check_range("bytes=10-20", 10, ByteRange::Unsatisfiable);
  check_range("bytes=11-11", 10, ByteRange::Unsatisfiable);
  // Nothing is satisfiable against an empty representation.
  check_range("bytes=0-", 0, ByteRange::Unsatisfiable);
  check_range("bytes=0-0", 0, ByteRange::Unsatisfiable);
  check_range("bytes=-5", 0, ByteRange::Unsatisfiable);
  check_range("bytes=-0", 0, ByteRange::Unsatisfiable);
  // Positions of any length (RFC 9110 §14.1.1): past 2^64 - 1 is past the end.
  check_range("bytes=123456789012345678901-", 10, ByteRange::Unsatisfiable);
  check_range("bytes=18446744073709551616-", 10, ByteRange::Unsatisfiable);
  // The first position asked for is kept: from exactly the end is a resumed
  // download that is already whole (file-serve sends the digest with its 416).
  CHECK(parse_range("bytes=10-", 10).first == 10);
  CHECK(parse_range("bytes=11-", 10).first == 11);
}

TEST_CASE("parse_range: a last position past 2^64 - 1 still ends at the file's end", "[http][range]") {
  check_range("bytes=0-99999999999999999999999", 10, ByteRange::Satisfiable, 0, 9);
  check_range("bytes=-99999999999999999999999", 10, ByteRange::Satisfiable, 0, 9);
}

TEST_CASE("parse_range: multiple ranges and malformed headers are ignored", "[http][range]") {
  for (std::string_view header : {"bytes=0-0,5-6", "bytes=0-1, 3-4", "bytes=-1,-2", "bytes=0-0,", "items=0-1", "bytes 0-1",
                                  "bytes=", "bytes=-", "bytes=5", "bytes=a-b", "bytes=1-a", "bytes=--3", "bytes=5-3",
                                  "bytes=+1-2", "bytes=-+3", "bytes=0x1-2", "bytes=1-2-3",
                                  "", "bytes=0-1 garbage"}) {
    for (uint64_t size : {uint64_t{0}, uint64_t{10}}) {
      INFO("Range: " << header << " against " << size << " bytes");
      CHECK(parse_range(header, size).kind == ByteRange::Ignored);
    }
  }
}

// ---- dates ----

TEST_CASE("format_date writes IMF-fixdate", "[http][date]") {
  CHECK(format_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT");  // RFC 9110's example
  CHECK(format_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
  CHECK(format_date(951782400) == "Tue, 29 Feb 2000 00:00:00 GMT");
}

TEST_CASE("format_date agrees with gmtime_r and strftime", "[http][date]") {
  auto reference = [](std::time_t t) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return std::string(buf);
  };
  // Every day boundary and leap rule from 1900 to 2100, plus odd seconds.
  for (std::time_t t = -2208988800; t < 4102444800; t += 86400 * 7 + 3599) {
    INFO("time " << t);
    REQUIRE(format_date(t) == reference(t));
  }
  for (std::time_t t : {std::time_t{-1}, std::time_t{-86400}, std::time_t{86399}, std::time_t{253402300799}}) {
    INFO("time " << t);
    CHECK(format_date(t) == reference(t));
  }
}

TEST_CASE("parse_date reads the three HTTP date formats", "[http][date]") {
  CHECK(parse_date("Sun, 06 Nov 1994 08:49:37 GMT") == std::time_t{784111777});   // IMF-fixdate
  CHECK(parse_date("Sunday, 06-Nov-94 08:49:37 GMT") == std::time_t{784111777});  // RFC 850
  CHECK(parse_date("Sun Nov  6 08:49:37 1994") == std::time_t{784111777});        // asctime
  CHECK(parse_date("  Sun, 06 Nov 1994 08:49:37 GMT ") == std::time_t{784111777});
  for (std::string_view bad : {"", "yesterday", "Sun, 06 Nov 1994", "Sun, 06 Nov 1994 08:49:37 GMT junk",
                               "Sun, 32 Nov 1994 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT", "1994-11-06T08:49:37Z"}) {
    INFO("date: " << bad);
    CHECK_FALSE(parse_date(bad));
  }
}

TEST_CASE("format_date and parse_date round trip", "[http][date]") {
  for (std::time_t t : {std::time_t{0}, std::time_t{784111777}, std::time_t{951825600}, std::time_t{1700000000},
                        std::time_t{2147483647}, std::time_t{4102444799}}) {
    INFO("time " << t);
    CHECK(parse_date(format_date(t)) == t);
  }
}

// ---- content types, escaping, reasons ----

TEST_CASE("content_type_for picks by extension, case-insensitively", "[http]") {
  CHECK(content_type_for("index.html") == "text/html; charset=utf-8");
  CHECK(content_type_for("INDEX.HTM") == "text/html; charset=utf-8");
  CHECK(content_type_for("notes.txt") == "text/plain; charset=utf-8");
  CHECK(content_type_for("a.json") == "application/json");
  CHECK(content_type_for("photo.JPeG") == "image/jpeg");
  CHECK(content_type_for("archive.tar.gz") == "application/gzip");
  CHECK(content_type_for("dir/app.wasm") == "application/wasm");
  CHECK(content_type_for("README") == "application/octet-stream");
  CHECK(content_type_for("file.unknownext") == "application/octet-stream");
  CHECK(content_type_for("trailing.") == "application/octet-stream");
  CHECK(content_type_for("a.d/file") == "application/octet-stream");  // dot in a directory name
  CHECK(content_type_for("") == "application/octet-stream");
  CHECK(content_type_for(".html") == "text/html; charset=utf-8");
  // Extensions are looked up packed into a number: neither a prefix of a
  // known one, nor a NUL where the packing pads, may match it.
  CHECK(content_type_for("a.g") == "application/octet-stream");
  CHECK(content_type_for("a.htmlx") == "application/octet-stream");
  CHECK(content_type_for(std::string_view("a.gz\0", 5)) == "application/octet-stream");
  CHECK(content_type_for("a.css") == "text/css; charset=utf-8");  // the table's first entry
  CHECK(content_type_for("a.zst") == "application/zstd");         // and its last
  CHECK(content_type_for("a.CSS") == "text/css; charset=utf-8");
}

TEST_CASE("html_escape escapes the five HTML specials", "[http]") {
  CHECK(html_escape("") == "");
  CHECK(html_escape("plain text") == "plain text");
  CHECK(html_escape("<a href=\"x\">'&'</a>") == "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  CHECK(html_escape("&amp;") == "&amp;amp;");
  CHECK(html_escape("caf\xc3\xa9") == "caf\xc3\xa9");
}

TEST_CASE("reason_phrase knows the statuses we send", "[http]") {
  CHECK(std::string(reason_phrase(200)) == "OK");
  CHECK(std::string(reason_phrase(206)) == "Partial Content");
  CHECK(std::string(reason_phrase(404)) == "Not Found");
  CHECK(std::string(reason_phrase(416)) == "Range Not Satisfiable");
  CHECK(std::string(reason_phrase(431)) == "Request Header Fields Too Large");
  CHECK(std::string(reason_phrase(505)) == "HTTP Version Not Supported");
  for (int status : {200, 206, 301, 302, 304, 400, 403, 404, 405, 408, 413, 414, 416, 431, 500, 501, 503, 505}) {
    INFO("status " << status);
    CHECK(std::string(reason_phrase(status)) != "Unknown");
  }
  CHECK(std::string(reason_phrase(299)) == "Unknown");
}
