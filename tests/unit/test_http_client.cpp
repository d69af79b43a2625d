// http.h, the client side: response heads, body framing, chunked decoding,
// URLs, redirects, Host headers.
#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

#include "nettool/http.h"

using namespace nettool::http;
using namespace std::string_literals;
using namespace std::string_view_literals;

namespace {

Response response_with(int status, std::vector<Header> headers) {
  Response r;
  r.status = status;
  r.headers = std::move(headers);
  return r;
}

struct Decoded {
  std::string body;
  size_t consumed = 0;
  bool done = false;
  std::string error;
};

// Feeds `input` to a fresh decoder in pieces of `step` bytes (0: all at once),
// stopping at the first piece the decoder does not consume entirely.
Decoded decode(std::string_view input, size_t step = 0) {
  ChunkedDecoder d;
  Decoded out;
  if (step == 0) step = input.size() ? input.size() : 1;
  for (size_t pos = 0; pos < input.size(); pos += step) {
    std::string_view piece = input.substr(pos, step);
    size_t used = d.feed(piece, out.body);
    out.consumed += used;
    if (used != piece.size()) break;
  }
  out.done = d.done();
  out.error = d.error();
  return out;
}

std::optional<Url> url(std::string_view text) {
  std::string error;
  auto u = parse_url(text, error);
  if (u) CHECK(error.empty());
  else CHECK_FALSE(error.empty());
  return u;
}

std::string url_error(std::string_view text) {
  std::string error;
  CHECK_FALSE(parse_url(text, error));
  return error;
}

Url base_url() {
  Url b;
  b.host = "example";
  b.port = 8080;
  b.path_and_query = "/a/b/file.txt?x=1";
  return b;
}

std::optional<Url> resolve(std::string_view location) {
  std::string error;
  return resolve_location(base_url(), location, error);
}

}  // namespace

// ---- parse_response ----

TEST_CASE("parse_response: status line variants", "[http][response]") {
  std::string text = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  b \r\n\r\nhello";
  ResponseParse r = parse_response(text);
  REQUIRE(r.status == ParseStatus::Complete);
  CHECK(r.response.version_minor == 1);
  CHECK(r.response.status == 200);
  CHECK(r.response.reason == "OK");
  CHECK(r.response.head_size == text.size() - 5);
  REQUIRE(r.response.headers.size() == 2);
  CHECK(r.response.headers[1].value == "b");

  r = parse_response("HTTP/1.0 404 Not Found\r\n\r\n");
  REQUIRE(r.status == ParseStatus::Complete);
  CHECK(r.response.version_minor == 0);
  CHECK(r.response.status == 404);
  CHECK(r.response.reason == "Not Found");

  // The reason phrase is optional, with or without the space before it.
  r = parse_response("HTTP/1.1 204\r\n\r\n");
  REQUIRE(r.status == ParseStatus::Complete);
  CHECK(r.response.status == 204);
  CHECK(r.response.reason == "");
  r = parse_response("HTTP/1.1 304 \r\n\r\n");
  REQUIRE(r.status == ParseStatus::Complete);
  CHECK(r.response.status == 304);
  CHECK(r.response.reason == "");

  std::string bare_lf = "HTTP/1.1 599 Whatever You Like\n\n";
  r = parse_response(bare_lf + "body");
  REQUIRE(r.status == ParseStatus::Complete);
  CHECK(r.response.status == 599);
  CHECK(r.response.reason == "Whatever You Like");
  CHECK(r.response.head_size == bare_lf.size());
}

TEST_CASE("parse_response: malformed status lines", "[http][response]") {
  for (std::string_view bad : {"HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.1 abc OK\r\n\r\n",
                               "HTTP/1.1 099 Low\r\n\r\n", "HTTP/1.1 -12 Neg\r\n\r\n", "HTTP/2 200 OK\r\n\r\n",
                               "HTTP/1.x 200 OK\r\n\r\n", "HTTP/1.1  200 OK\r\n\r\n", "HTTP/1.1\r\n\r\n",
                               "ICY 200 OK\r\n\r\n", "\r\n\r\n"}) {
    INFO("response: " << bad);
    ResponseParse r = parse_response(bad);
    CHECK(r.status == ParseStatus::Error);
    CHECK_FALSE(r.error.empty());
  }
  // Bad header lines are errors too.
  CHECK(parse_response("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n").status == ParseStatus::Error);
  CHECK(parse_response("HTTP/1.1 200 OK\r\n folded\r\n\r\n").status == ParseStatus::Error);
  CHECK(parse_response("HTTP/1.1 200 OK\r\nX: a\x01\r\n\r\n").status == ParseStatus::Error);
}

TEST_CASE("parse_response: obs-fold lines are joined to the field with one space", "[http][response]") {
  // RFC 9112 section 5.2: a user agent must accept obs-fold and replace it with SP.
  ResponseParse r = parse_response("HTTP/1.1 200 OK\r\nX-Long: one\r\n  two \r\n\tthree\r\nContent-Length: 0\r\n\r\n");
  REQUIRE(r.status == ParseStatus::Complete);
  REQUIRE(r.response.headers.size() == 2);
  CHECK(r.response.headers[0].value == "one two three");
  CHECK(r.response.headers[1].value == "0");
  r = parse_response("HTTP/1.1 200 OK\r\nX-Empty:\r\n later\r\n\r\n");
  REQUIRE(r.status == ParseStatus::Complete);
  CHECK(r.response.headers[0].value == "later");
  // A fold still cannot carry control characters, nor start the header section.
  CHECK(parse_response("HTTP/1.1 200 OK\r\nX: a\r\n b\x01\r\n\r\n").status == ParseStatus::Error);
  CHECK(parse_response("HTTP/1.1 200 OK\r\n folded\r\n\r\n").status == ParseStatus::Error);
}

TEST_CASE("parse_response: incomplete heads wait, other protocols fail early", "[http][response]") {
  std::string full = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  for (size_t n = 0; n < full.size(); ++n) {
    INFO("first " << n << " bytes");
    CHECK(parse_response(std::string_view(full).substr(0, n)).status == ParseStatus::Incomplete);
  }
  // Five bytes are enough to see that this is not HTTP.
  CHECK(parse_response("SSH-2").status == ParseStatus::Error);
  CHECK(parse_response("SSH-2").not_http);
  CHECK(parse_response("SSH-2.0-OpenSSH_9.6\r\n").status == ParseStatus::Error);
  CHECK(parse_response("SSH-").status == ParseStatus::Incomplete);
  // A whole head that is not HTTP says so too; a malformed HTTP one does not.
  CHECK(parse_response("file\n\n").not_http);
  CHECK_FALSE(parse_response("HTTP/1.1 20 OK\r\n\r\n").not_http);
  CHECK_FALSE(parse_response("HTTP/1.1 200 OK\r\n").not_http);
}

TEST_CASE("parse_response: a head larger than the limit is an error", "[http][response]") {
  std::string head = "HTTP/1.1 200 OK\r\n";
  // Few fields (well under the 200-field limit), each long.
  while (head.size() < 70000) head += "X-Filler: " + std::string(7000, 'x') + "\r\n";
  // Still arriving...
  ResponseParse r = parse_response(head);
  CHECK(r.status == ParseStatus::Error);
  CHECK_FALSE(r.error.empty());
  // ...or complete in one buffer: the limit is the same.
  r = parse_response(head + "\r\n");
  CHECK(r.status == ParseStatus::Error);
  CHECK_FALSE(r.error.empty());
  // A caller-given limit.
  std::string small = "HTTP/1.1 200 OK\r\nX: " + std::string(100, 'y') + "\r\n\r\n";
  CHECK(parse_response(small, 64).status == ParseStatus::Error);
  CHECK(parse_response(small, small.size()).status == ParseStatus::Complete);
  CHECK(parse_response(small.substr(0, 60), 64).status == ParseStatus::Incomplete);
}

// ---- body_framing ----

TEST_CASE("body_framing: responses without a body", "[http][framing]") {
  auto cl = std::vector<Header>{{"Content-Length", "10"}};
  CHECK(body_framing(response_with(200, cl), true).kind == BodyFraming::NoBody);  // HEAD
  CHECK(body_framing(response_with(204, cl), false).kind == BodyFraming::NoBody);
  CHECK(body_framing(response_with(304, cl), false).kind == BodyFraming::NoBody);
  CHECK(body_framing(response_with(100, {}), false).kind == BodyFraming::NoBody);
  CHECK(body_framing(response_with(199, {}), false).kind == BodyFraming::NoBody);
  CHECK(body_framing(response_with(200, {{"Transfer-Encoding", "chunked"}}), true).kind == BodyFraming::NoBody);
}

TEST_CASE("body_framing: Transfer-Encoding", "[http][framing]") {
  auto kind = [](std::string_view te) {
    return body_framing(response_with(200, {{"Transfer-Encoding", std::string(te)}}), false).kind;
  };
  CHECK(kind("chunked") == BodyFraming::Chunked);
  CHECK(kind("Chunked") == BodyFraming::Chunked);
  CHECK(kind(" chunked\t") == BodyFraming::Chunked);
  CHECK(body_framing(response_with(200, {{"transfer-encoding", "chunked"}}), false).error.empty());
}

TEST_CASE("body_framing: framing a sender must not produce is refused (RFC 9112 6.1, 6.3)", "[http][framing]") {
  // Either way a proxy on the path may have read the body's end differently.
  BodyFraming both = body_framing(response_with(200, {{"Transfer-Encoding", "chunked"}, {"Content-Length", "3"}}), false);
  CHECK(both.error.find("both Transfer-Encoding and Content-Length") != std::string::npos);
  Response old = response_with(200, {{"Transfer-Encoding", "chunked"}});
  old.version_minor = 0;
  CHECK(body_framing(old, false).error.find("HTTP/1.0") != std::string::npos);
  // A value shown in the message has its control characters escaped.
  BodyFraming c1 = body_framing(response_with(200, {{"Content-Length", "5\xc2\x9b" "2J"}}), false);
  CHECK(c1.error.find("\\xc2\\x9b2J") != std::string::npos);
  CHECK(c1.error.find("\xc2\x9b") == std::string::npos);
}

TEST_CASE("body_framing: a transfer coding other than chunked cannot be saved as the file", "[http][framing]") {
  // Saving a body that is still gzipped as if it were the file would be a lie.
  for (std::string_view te : {"gzip, chunked", "gzip ,\tchunked ", "chunked, gzip", "gzip", "identity", "chunked, chunked",
                              "x-custom"}) {
    INFO("Transfer-Encoding: " << te);
    BodyFraming f = body_framing(response_with(200, {{"Transfer-Encoding", std::string(te)}}), false);
    CHECK_FALSE(f.error.empty());
    CHECK(f.error.find("Transfer-Encoding") != std::string::npos);
  }
  // Two field lines make one list.
  BodyFraming two = body_framing(response_with(200, {{"Transfer-Encoding", "gzip"}, {"Transfer-Encoding", "chunked"}}), false);
  CHECK(two.error.find("gzip, chunked") != std::string::npos);
}

TEST_CASE("body_framing: Content-Length", "[http][framing]") {
  auto framing = [](std::vector<Header> headers) { return body_framing(response_with(200, std::move(headers)), false); };
  BodyFraming f = framing({{"Content-Length", "5"}});
  CHECK(f.kind == BodyFraming::Length);
  CHECK(f.length == 5);
  CHECK(f.error.empty());
  f = framing({{"content-length", "0"}});
  CHECK(f.kind == BodyFraming::Length);
  CHECK(f.length == 0);
  f = framing({{"Content-Length", "18446744073709551615"}});
  CHECK(f.kind == BodyFraming::Length);
  CHECK(f.length == 18446744073709551615ull);
  // Repeated equal values, in one field or in several, are one length.
  f = framing({{"Content-Length", "5, 5"}});
  CHECK(f.kind == BodyFraming::Length);
  CHECK(f.length == 5);
  CHECK(f.error.empty());
  f = framing({{"Content-Length", "5"}, {"Content-Length", "5"}});
  CHECK(f.kind == BodyFraming::Length);
  CHECK(f.error.empty());
  // Different values are an error.
  CHECK_FALSE(framing({{"Content-Length", "5, 6"}}).error.empty());
  CHECK_FALSE(framing({{"Content-Length", "5"}, {"Content-Length", "6"}}).error.empty());
  // Invalid values.
  for (std::string_view bad : {"", "abc", "-1", "+5", "5x", "0x10", "5,", ",5", "5 5", "18446744073709551616", "1.5"}) {
    INFO("Content-Length: " << bad);
    CHECK_FALSE(framing({{"Content-Length", std::string(bad)}}).error.empty());
  }
  // Neither header: until close.
  f = framing({{"Content-Type", "text/plain"}});
  CHECK(f.kind == BodyFraming::UntilClose);
  CHECK(f.error.empty());
}

// ---- ChunkedDecoder ----

TEST_CASE("ChunkedDecoder: a simple body in one feed", "[http][chunked]") {
  std::string input = "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n";
  Decoded d = decode(input);
  CHECK(d.error.empty());
  CHECK(d.done);
  CHECK(d.body == "hello, world");
  CHECK(d.consumed == input.size());

  d = decode("A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n");  // hex in either case
  CHECK(d.done);
  CHECK(d.body == "0123456789abcdefghij");

  d = decode("0\r\n\r\n");  // empty body
  CHECK(d.done);
  CHECK(d.body.empty());

  d = decode("0000000000000000005\r\nhello\r\n00\r\n\r\n");  // leading zeros
  CHECK(d.error.empty());
  CHECK(d.done);
  CHECK(d.body == "hello");
}

TEST_CASE("ChunkedDecoder: byte-by-byte feeding gives the same result", "[http][chunked]") {
  std::string body;
  std::string input;
  for (int i = 1; i <= 40; ++i) {
    std::string piece(static_cast<size_t>(i * 7), static_cast<char>('a' + i % 26));
    piece += "\r\n\0\xff"s;  // chunk data may hold anything, CRLF included
    body += piece;
    char size[16];
    std::snprintf(size, sizeof size, i % 2 ? "%zx" : "%zX", piece.size());
    input += size;
    input += i % 3 ? "\r\n" : ";ext=\"v\"\r\n";
    input += piece + "\r\n";
  }
  input += "0;last\r\nX-Trailer: yes\r\nX-Other: 1\r\n\r\n";

  Decoded whole = decode(input);
  REQUIRE(whole.error.empty());
  CHECK(whole.done);
  CHECK(whole.body == body);
  CHECK(whole.consumed == input.size());
  for (size_t step : {1, 2, 3, 5, 64}) {
    INFO("step " << step);
    Decoded pieces = decode(input, step);
    CHECK(pieces.error.empty());
    CHECK(pieces.done);
    CHECK(pieces.body == body);
    CHECK(pieces.consumed == input.size());
  }
}

TEST_CASE("ChunkedDecoder: extensions and trailers are skipped", "[http][chunked]") {
  Decoded d = decode("5;name=value\r\nhello\r\n5 ; a=b;c\r\nworld\r\n0;end=1\r\n\r\n");
  CHECK(d.error.empty());
  CHECK(d.done);
  CHECK(d.body == "helloworld");

  d = decode("3\r\nabc\r\n0\r\nExpires: never\r\nX-Digest: sha-256=:x:\r\n\r\n");
  CHECK(d.error.empty());
  CHECK(d.done);
  CHECK(d.body == "abc");

  // Extensions on many chunks; a trailer with an empty value.
  std::string many;
  for (int i = 0; i < 3000; ++i) many += "1 \t;some-extension=\"v a l\"\r\nx\r\n";
  many += "0;e\r\nT:\r\n\r\n";
  d = decode(many);
  CHECK(d.error.empty());
  CHECK(d.done);
  CHECK(d.body == std::string(3000, 'x'));
}

TEST_CASE("ChunkedDecoder: stops at the end of the body", "[http][chunked]") {
  ChunkedDecoder d;
  std::string out;
  std::string input = "2\r\nok\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n";
  size_t used = d.feed(input, out);
  CHECK(used == 12);
  CHECK(d.done());
  CHECK(out == "ok");
  CHECK(d.feed("more", out) == 0);
  CHECK(out == "ok");
}

TEST_CASE("ChunkedDecoder: an unfinished body is neither done nor an error", "[http][chunked]") {
  std::string input = "5\r\nhello\r\n0\r\nTrailer: x\r\n\r\n";
  for (size_t n = 0; n < input.size(); ++n) {
    INFO("first " << n << " bytes");
    Decoded d = decode(input.substr(0, n));
    CHECK_FALSE(d.done);
    CHECK(d.error.empty());
    CHECK(d.consumed == n);
  }
}

TEST_CASE("ChunkedDecoder: malformed input", "[http][chunked]") {
  for (std::string_view bad : std::initializer_list<std::string_view>{
           "g\r\n",                          // not hex
           "\r\n",                           // no size
           ";ext\r\n",                       // extension without a size
           "-5\r\n",                         // sign
           "0x5\r\n",                        // prefix
           "5\rX",                           // CR without LF after the size
           "5\r\nhelloX",                    // no CRLF after the data
           "5\r\nhello\rX",                  // CR without LF after the data
           "5\r\nhello world\r\n",           // longer than announced
           "0\r\nX: y\rZ",                   // CR without LF in the trailer
           "0\r\n\rX",                       // CR without LF at the end
           // A bare LF is no line end: a proxy that reads it as part of an
           // extension or a trailer sees other requests in the same bytes.
           "3\nabc\r\n0\r\n\r\n",            // after the size
           "2;\nxx\r\n0\r\n\r\n",             // after an extension
           "3\r\nabc\n0\r\n\r\n",            // after the data
           "0\r\nT: v\n\r\n",                // after a trailer
           "0\r\n\n",                         // as the last line
           "2 zz\r\nab\r\n0\r\n\r\n",         // an extension without ';'
           "2;a\x00" "b\r\nab\r\n0\r\n\r\n"sv,  // a control character in an extension
           "0\r\n\x00garbage\r\n\r\n"sv,     // a trailer that is no field line
           "0\r\nno colon\r\n\r\n",          //
           "0\r\n folded: x\r\n\r\n",        // obs-fold
           "0\r\nX: a\x01" "b\r\n\r\n",       // a control character in a trailer
       }) {
    INFO("input: " << bad);
    for (size_t step : {0, 1}) {
      Decoded d = decode(bad, step);
      CHECK_FALSE(d.error.empty());
      CHECK_FALSE(d.done);
      CHECK(d.consumed < bad.size());
    }
  }
}

TEST_CASE("ChunkedDecoder: huge sizes and long lines are refused", "[http][chunked]") {
  // 15 hex digits still fit comfortably in 64 bits...
  ChunkedDecoder ok;
  std::string out;
  ok.feed("fffffffffffffff\r\nabc", out);
  CHECK(ok.error().empty());
  CHECK(out == "abc");
  // ...16 or more significant ones are refused before they can overflow.
  Decoded d = decode("ffffffffffffffff\r\n");
  CHECK_FALSE(d.error.empty());
  d = decode("10000000000000000000000000000001\r\nx");
  CHECK_FALSE(d.error.empty());
  // An endless extension or trailer section is cut off.
  d = decode("1;" + std::string(5000, 'e') + "\r\nx\r\n0\r\n\r\n");
  CHECK_FALSE(d.error.empty());
  d = decode("0\r\nX: " + std::string(20000, 't') + "\r\n\r\n");
  CHECK_FALSE(d.error.empty());
}

// ---- URLs ----

TEST_CASE("parse_url: host, port and path", "[http][url]") {
  auto u = url("http://h/p");
  REQUIRE(u);
  CHECK(u->host == "h");
  CHECK(u->port == 80);
  CHECK(u->path_and_query == "/p");

  u = url("http://h:8080");
  REQUIRE(u);
  CHECK(u->host == "h");
  CHECK(u->port == 8080);
  CHECK(u->path_and_query == "/");

  u = url("http://[::1]:9000/x");
  REQUIRE(u);
  CHECK(u->host == "::1");
  CHECK(u->port == 9000);
  CHECK(u->path_and_query == "/x");

  u = url("http://[fe80::1%25eth0]/");
  REQUIRE(u);
  CHECK(u->host == "fe80::1%25eth0");
  CHECK(u->port == 80);

  u = url("http://example.com");
  REQUIRE(u);
  CHECK(u->path_and_query == "/");

  u = url("http://127.0.0.1:65535/a/b.txt?x=1&y=%20");
  REQUIRE(u);
  CHECK(u->host == "127.0.0.1");
  CHECK(u->port == 65535);
  CHECK(u->path_and_query == "/a/b.txt?x=1&y=%20");

  u = url("http://h?q=1");  // query without a path
  REQUIRE(u);
  CHECK(u->path_and_query == "/?q=1");

  u = url("http://h/p#frag");  // fragments are not sent
  REQUIRE(u);
  CHECK(u->path_and_query == "/p");
  u = url("http://h#frag");
  REQUIRE(u);
  CHECK(u->path_and_query == "/");

  u = url("http://h:/p");  // empty port: the default
  REQUIRE(u);
  CHECK(u->port == 80);
}

TEST_CASE("parse_url: https:// is TLS, port 443 by default, and Host names a port only when it is not that", "[http][url]") {
  auto u = url("HTTPS://h/p");
  REQUIRE(u);
  CHECK(u->tls);
  CHECK(u->port == 443);
  CHECK(host_header(*u) == "h");
  u = url("https://h:8443/p");
  REQUIRE(u);
  CHECK(host_header(*u) == "h:8443");
  u = url("https://h:80/p");
  REQUIRE(u);
  CHECK(host_header(*u) == "h:80");
  CHECK_FALSE(url("http://h/")->tls);
  // A network-path reference keeps the scheme it came from; an absolute one changes it.
  std::string error;
  auto https_base = url("https://h/a/b");
  REQUIRE(https_base);
  auto next = resolve_location(*https_base, "//other/x", error);
  REQUIRE(next);
  CHECK(next->tls);
  CHECK(next->host == "other");
  next = resolve_location(*https_base, "http://plain/x", error);
  REQUIRE(next);
  CHECK_FALSE(next->tls);
  next = resolve_location(base_url(), "HTTPS://secure/", error);
  REQUIRE(next);
  CHECK(next->tls);
  CHECK(next->port == 443);
}

TEST_CASE("parse_url: refused URLs", "[http][url]") {
  CHECK(url_error("http://user@h/").find("@") != std::string::npos);
  url_error("http://user:pw@h:80/");
  url_error("ftp://h/");
  url_error("h/p");
  url_error("");
  url_error("http:/h/p");
  // Ports.
  for (std::string_view bad : {"http://h:0/", "http://h:65536/", "http://h:99999999999/", "http://h:abc/", "http://h:8o/",
                               "http://h:-1/", "http://h:+80/", "http://[::1]:x/", "http://[::1]x/"}) {
    INFO("url: " << bad);
    url_error(bad);
  }
  // No host.
  for (std::string_view bad : {"http://", "http:///p", "http://:80/", "http://[]/", "http://?q"}) {
    INFO("url: " << bad);
    url_error(bad);
  }
  url_error("http://[::1/");  // unterminated bracket
  // Spaces and control characters, in the path or anywhere else.
  for (std::string_view bad : {"http://h/a b", "http://h/a\tb", "http://h/a\r\nX: y", "http://h/?q=a b", "http://h/\x7f",
                               "http://a b/", "http://h\r\nX-Injected: 1/", "http://h\x01:80/", "http://[::1\n]/"}) {
    INFO("url: " << bad);
    url_error(bad);
  }
}

TEST_CASE("resolve_location: absolute, network-path, absolute-path and relative", "[http][url]") {
  auto u = resolve("http://other:81/new?y=2");
  REQUIRE(u);
  CHECK(u->host == "other");
  CHECK(u->port == 81);
  CHECK(u->path_and_query == "/new?y=2");

  u = resolve("http://other");
  REQUIRE(u);
  CHECK(u->port == 80);  // the base's port does not carry over
  CHECK(u->path_and_query == "/");

  u = resolve("//cdn.example/f.bin");
  REQUIRE(u);
  CHECK(u->host == "cdn.example");
  CHECK(u->port == 80);
  CHECK(u->path_and_query == "/f.bin");

  u = resolve("/abs/path?z=3");
  REQUIRE(u);
  CHECK(u->host == "example");
  CHECK(u->port == 8080);
  CHECK(u->path_and_query == "/abs/path?z=3");

  u = resolve("other.txt");
  REQUIRE(u);
  CHECK(u->host == "example");
  CHECK(u->port == 8080);
  CHECK(u->path_and_query == "/a/b/other.txt");

  u = resolve("sub/other.txt?q");
  REQUIRE(u);
  CHECK(u->path_and_query == "/a/b/sub/other.txt?q");

  u = resolve("../up.txt");
  REQUIRE(u);
  CHECK(u->path_and_query == "/a/up.txt");

  u = resolve("?x=2");  // same path, new query (RFC 3986 section 5.2.2)
  REQUIRE(u);
  CHECK(u->path_and_query == "/a/b/file.txt?x=2");

  u = resolve("/p#frag");  // fragments are never sent
  REQUIRE(u);
  CHECK(u->path_and_query == "/p");
  u = resolve("rel#frag");
  REQUIRE(u);
  CHECK(u->path_and_query == "/a/b/rel");
  for (std::string_view same : {"", "#frag"}) {  // the base itself
    INFO("Location: '" << same << "'");
    u = resolve(same);
    REQUIRE(u);
    CHECK(u->host == "example");
    CHECK(u->path_and_query == "/a/b/file.txt?x=1");
  }

  // A base whose query holds a slash.
  Url base;
  base.host = "h";
  base.path_and_query = "/dir/page?next=/x/y";
  std::string error;
  u = resolve_location(base, "file", error);
  REQUIRE(u);
  CHECK(u->path_and_query == "/dir/file");
}

TEST_CASE("resolve_location: dot segments are removed as RFC 3986 section 5.2.4 says", "[http][url]") {
  // The examples of RFC 3986 section 5.4.1 whose base path matches ours (/a/b/file.txt).
  std::pair<std::string_view, std::string_view> cases[] = {
      {"g", "/a/b/g"},        {"./g", "/a/b/g"},     {"g/", "/a/b/g/"},      {".", "/a/b/"},
      {"./", "/a/b/"},        {"..", "/a/"},          {"../", "/a/"},          {"../g", "/a/g"},
      {"../..", "/"},         {"../../", "/"},        {"../../g", "/g"},       {"../../../g", "/g"},
      {"../../../../g", "/g"}, {"/./g", "/g"},        {"/../g", "/g"},         {"g.", "/a/b/g."},
      {".g", "/a/b/.g"},      {"g..", "/a/b/g.."},    {"..g", "/a/b/..g"},     {"./../g", "/a/g"},
      {"./g/.", "/a/b/g/"},   {"g/./h", "/a/b/g/h"},  {"g/../h", "/a/b/h"},    {"g;x=1/./y", "/a/b/g;x=1/y"},
      {"g;x=1/../y", "/a/b/y"}, {"g?y/./x", "/a/b/g?y/./x"}, {"/a/./b/../c?q=../", "/a/c?q=../"}};
  for (auto [location, expected] : cases) {
    INFO("Location: " << location);
    auto u = resolve(location);
    REQUIRE(u);
    CHECK(u->path_and_query == expected);
    CHECK(u->host == "example");
  }
  auto u = resolve("http://other/x/../y/./z");
  REQUIRE(u);
  CHECK(u->path_and_query == "/y/z");
}

TEST_CASE("resolve_location: the scheme is case-insensitive, and only http is followed", "[http][url]") {
  for (std::string_view location : {"HTTP://other/new", "Http://other/new", "hTtP://other/new"}) {
    INFO("Location: " << location);
    auto u = resolve(location);
    REQUIRE(u);
    CHECK(u->host == "other");
    CHECK(u->port == 80);
    CHECK(u->path_and_query == "/new");
  }
  for (std::string_view location : {"ftp://other/file", "FILE:///etc/passwd", "file:/etc/passwd", "gopher://h/",
                                    "javascript:alert(1)", "mailto:root@example", "data:text/plain,x"}) {
    INFO("Location: " << location);
    std::string error;
    CHECK_FALSE(resolve_location(base_url(), location, error));
    std::string scheme(location.substr(0, location.find(':')));
    CHECK(error.find("'" + scheme + ":'") != std::string::npos);
  }
  std::string error;
  // A colon after the first slash is part of a relative path, not a scheme.
  auto u = resolve("dir/a:b");
  REQUIRE(u);
  CHECK(u->path_and_query == "/a/b/dir/a:b");
}

TEST_CASE("parse_url: any case of http://, dot segments removed", "[http][url]") {
  auto u = url("HTTP://Example:8080/a/../b/./c");
  REQUIRE(u);
  CHECK(u->host == "Example");
  CHECK(u->port == 8080);
  CHECK(u->path_and_query == "/b/c");
}

TEST_CASE("resolve_location: refused locations", "[http][url]") {
  std::string error;
  CHECK_FALSE(resolve_location(base_url(), "/a b", error));
  CHECK_FALSE(error.empty());
  error.clear();
  CHECK_FALSE(resolve_location(base_url(), "x\x01y", error));
  CHECK_FALSE(error.empty());
  error.clear();
  CHECK_FALSE(resolve_location(base_url(), "//user@evil/", error));
  CHECK_FALSE(error.empty());
}

TEST_CASE("host_header brackets IPv6 and omits port 80", "[http][url]") {
  Url u;
  u.host = "example";
  CHECK(host_header(u) == "example");
  u.port = 8080;
  CHECK(host_header(u) == "example:8080");
  u.host = "::1";
  CHECK(host_header(u) == "[::1]:8080");
  u.port = 80;
  CHECK(host_header(u) == "[::1]");
  u.host = "127.0.0.1";
  u.port = 443;
  CHECK(host_header(u) == "127.0.0.1:443");
  // From parse_url to Host header.
  std::string error;
  auto parsed = parse_url("http://[2001:db8::1]:9000/x", error);
  REQUIRE(parsed);
  CHECK(host_header(*parsed) == "[2001:db8::1]:9000");
}
