// file-serve's HTTP rules one by one, over plain sockets: message framing
// and Host (RFC 9112 §3.2, §6), conditional requests (RFC 9110 §13), redirects that cannot leave the host, the
// Content-Type of index pages, the hidden-file rule through symlinks, which
// names a listing shows, the access-log format, and when Repr-Digest is
// computed.
//
// Every server listens on 127.0.0.1:0; every wait is bounded; every process
// is reaped by the harness.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <map>
#include <set>
#include <thread>

#include "file_test_util.h"
#include "harness.h"

using namespace e2e;
using namespace filetest;

namespace {

// The status of a GET (or HEAD) with the given extra header lines.
int status_of(uint16_t port, std::string_view target, std::string_view extra, std::string_view method = "GET") {
  return http_get(port, target, method, extra).status;
}

// The hrefs of a listing page, with the HTML escapes the server uses undone.
std::vector<std::string> listing_links(const std::string& page) {
  std::vector<std::string> links;
  size_t pos = 0;
  while ((pos = page.find("href=\"", pos)) != std::string::npos) {
    pos += 6;
    size_t end = page.find('"', pos);
    if (end == std::string::npos) break;
    std::string href = page.substr(pos, end - pos);
    std::string plain;
    for (size_t i = 0; i < href.size();) {
      bool replaced = false;
      for (auto [entity, ch] : {std::pair{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&#39;", '\''}}) {
        std::string_view e(entity);
        if (href.compare(i, e.size(), e) == 0) {
          plain += ch;
          i += e.size();
          replaced = true;
          break;
        }
      }
      if (!replaced) plain += href[i++];
    }
    links.push_back(plain);
    pos = end;
  }
  return links;
}

// The access-log lines (on the server's stderr) of the client at local port `client_port`.
std::vector<std::string> access_lines(Process& server, uint16_t client_port) {
  const std::string who = "127.0.0.1:" + std::to_string(client_port);
  std::vector<std::string> found;
  eventually([&] {
    found.clear();
    for (auto& line : log_lines_with(server.stderr_text(), who))
      if (has_word(line, who)) found.push_back(line);
    return !found.empty();
  });
  return found;
}

// Sends `request` on a connection of its own and reads the answer to its
// end; the access-log lines of that connection.
std::vector<std::string> access_lines_for(Process& server, uint16_t port, const std::string& request) {
  Socket s = connect_tcp(port);
  uint16_t client = local_port(s);
  if (!s.send_all(request)) return {};
  s.recv_all();
  return access_lines(server, client);
}

}  // namespace

// ---------------------------------------------------------------- framing, Host, connections

TEST_CASE("file-serve: request framing a proxy could read another way is refused and the connection closed",
          "[file][file-serve][security]") {
  // Behind a proxy that takes the other reading, each of these hides a second
  // request in the first one's body (request smuggling, RFC 9112 section 6.3).
  TempDir dir;
  write_file(dir / "a.txt", "a\n");
  write_file(dir / "smuggled.txt", "smuggled\n");
  auto srv = start_serve(dir.path());
  const std::string next = "GET /smuggled.txt HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string chunked = "Transfer-Encoding: chunked\r\n";
  struct Case {
    std::string fields;
    int status;
    std::string body = "0\r\n\r\n";
  };
  const std::vector<Case> cases{
      {"Content-Length: 0\r\nContent-Length: 5\r\n", 400},
      {"Content-Length: 5\r\nContent-Length: 0\r\n", 400},
      {"Content-Length: 0, 5\r\n", 400},
      {"Content-Length: abc\r\n", 400},
      {"Content-Length: -1\r\n", 400},
      {"Content-Length: 99999999999999999999999\r\n", 400},
      {"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", 400},
      {"Content-Length: 0\r\nTransfer-Encoding: chunked\r\n", 400},
      {"Transfer-Encoding: chunked, gzip\r\n", 400},
      {"Transfer-Encoding: gzip\r\n", 501},
      {"Transfer-Encoding: gzip, chunked\r\n", 501},
      // A chunked body is read strictly: each of these once ended where a
      // proxy reading only CRLF line ends sees the body go on.
      {chunked, 400, "2;\nxx\r\n0\r\n\r\n"},  // a bare LF ends the extension
      {chunked, 400, "2\nxx\r\n0\r\n\r\n"},   // ... the size line
      {chunked, 400, "2\r\nxx\n0\r\n\r\n"},   // ... the data
      {chunked, 400, "2 zz\r\nxx\r\n0\r\n\r\n"},  // an extension without ';'
      {chunked, 400, "0\r\n\x01garbage\r\n\r\n"},  // a trailer that is no field line
      {chunked, 400, "0\r\nT: v\n\r\n"},        // a trailer ended by a bare LF
  };
  for (const auto& c : cases) {
    INFO("fields: " << c.fields << "body: " << c.body);
    auto r = raw_exchange(srv.port, "GET /a.txt HTTP/1.1\r\nHost: x\r\n" + c.fields + "\r\n" + c.body + next);
    CHECK(r.status == c.status);
    CHECK(r.end == ReadEnd::Eof);  // closed by the server, not by our timeout
    CHECK(count_occurrences(r.raw, "HTTP/1.1 ") == 1);
    CHECK(r.raw.find("smuggled\n") == std::string::npos);
  }
  // Transfer-Encoding in HTTP/1.0 is faulty framing too, even with keep-alive.
  auto r = raw_exchange(srv.port, "GET /a.txt HTTP/1.0\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n0\r\n\r\n" + next);
  CHECK(r.status == 400);
  CHECK(count_occurrences(r.raw, "HTTP/1.1 ") == 1);
}

TEST_CASE("file-serve: a body on GET or HEAD is read and dropped, and the next request is answered",
          "[file][file-serve]") {
  TempDir dir;
  write_file(dir / "a.txt", "a\n");
  write_file(dir / "b.txt", "b\n");
  auto srv = start_serve(dir.path());
  const std::string second = "GET /b.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  for (std::string first : {"GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
                            "GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello",
                            "GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                            "GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n2;ext=1\r\nhe\r\n0\r\nTrailer: t\r\n\r\n"}) {
    INFO("first: " << first);
    Socket s = connect_tcp(srv.port);
    // In pieces, so the body arrives after the head was already parsed.
    size_t split = first.size() - 3;
    REQUIRE(s.send_all(first.substr(0, split)));
    std::string pending;
    REQUIRE(s.send_all(first.substr(split) + second));
    auto a = read_response(s, pending);
    CHECK(a.status == 200);
    CHECK(a.body == "a\n");
    auto b = read_response(s, pending);
    CHECK(b.status == 200);
    CHECK(b.body == "b\n");
  }
  // A body larger than the server reads and drops is 413, and the connection ends.
  auto big = raw_exchange(srv.port, "GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + second);
  CHECK(big.status == 413);
  CHECK(count_occurrences(big.raw, "HTTP/1.1 ") == 1);
  // A broken chunked body is 400.
  auto broken = raw_exchange(srv.port, "GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" + second);
  CHECK(broken.status == 400);
  CHECK(count_occurrences(broken.raw, "HTTP/1.1 ") == 1);
}

TEST_CASE("file-serve: two Host lines or an invalid Host value are 400", "[file][file-serve]") {
  TempDir dir;
  write_file(dir / "a.txt", "a\n");
  auto srv = start_serve(dir.path());
  for (std::string host_lines : {"Host: a\r\nHost: b\r\n", "Host: a\r\nHost: a\r\n", "Host: a b\r\n",
                                 "Host: a/b\r\n", "Host: user@a\r\n", "Host: [::1\r\n", "Host: a:8o\r\n"}) {
    INFO(host_lines);
    auto r = raw_exchange(srv.port, "GET /a.txt HTTP/1.1\r\n" + host_lines + "Connection: close\r\n\r\n");
    CHECK(r.status == 400);
    CHECK(r.body.find("a\n") == std::string::npos);
  }
  for (std::string host : {"127.0.0.1:8080", "[::1]:80", "example.com", ""}) {
    INFO("Host: " << host);
    CHECK(raw_exchange(srv.port, "GET /a.txt HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n").status == 200);
  }
}

TEST_CASE("file-serve: empty lines before a request are skipped, and an HTTP/1.0 keep-alive is confirmed",
          "[file][file-serve]") {
  TempDir dir;
  write_file(dir / "a.txt", "a\n");
  auto srv = start_serve(dir.path());
  // RFC 9112 section 2.2: at least one empty line before the request line is ignored.
  auto r = raw_exchange(srv.port, "\r\n\nGET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(r.status == 200);
  CHECK(r.body == "a\n");
  {
    Socket s = connect_tcp(srv.port);
    std::string pending;
    REQUIRE(s.send_all("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"));
    CHECK(read_response(s, pending).status == 200);
    CHECK(read_response(s, pending).status == 200);
  }
  // HTTP/1.0 keeps the connection only when asked, and says so (RFC 9112 Appendix C.2.2).
  Socket s = connect_tcp(srv.port);
  std::string pending;
  REQUIRE(s.send_all("GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  auto first = read_response(s, pending);
  CHECK(first.status == 200);
  CHECK(lower(first.header("Connection").value_or("")) == "keep-alive");
  REQUIRE(s.send_all("HEAD /missing HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  auto second = read_response(s, pending, true);
  CHECK(second.status == 404);
  CHECK(lower(second.header("Connection").value_or("")) == "keep-alive");
  REQUIRE(s.send_all("GET /a.txt HTTP/1.0\r\n\r\n"));
  auto last = read_response(s, pending);
  CHECK(last.status == 200);
  CHECK(lower(last.header("Connection").value_or("")) == "close");
  CHECK(s.recv_all().empty());  // and it is closed
}

// ---------------------------------------------------------------- preconditions

TEST_CASE("file-serve: If-Match and If-Unmodified-Since answer 412 when they fail, evaluated in RFC 9110 order",
          "[file][file-serve][conditional]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  const std::string content = "0123456789abcdefghij\n";
  write_file(root / "f.txt", content);
  // Written a minute ago: a file in its first second has no Last-Modified yet.
  fs::last_write_time(root / "f.txt", fs::file_time_type::clock::now() - std::chrono::minutes(1));
  auto srv = start_serve(root);

  auto plain = http_get(srv.port, "/f.txt");
  REQUIRE(plain.status == 200);
  const std::string etag = plain.header("ETag").value_or("?");
  const std::string last_modified = plain.header("Last-Modified").value_or("?");
  REQUIRE(etag.front() == '"');
  const std::string epoch = "Thu, 01 Jan 1970 00:00:00 GMT";
  const std::string future = "Fri, 01 Jan 2100 00:00:00 GMT";

  // If-Match: strong comparison; "*" matches any current representation.
  CHECK(status_of(srv.port, "/f.txt", "If-Match: " + etag + "\r\n") == 200);
  CHECK(status_of(srv.port, "/f.txt", "If-Match: \"other\", " + etag + "\r\n") == 200);
  CHECK(status_of(srv.port, "/f.txt", "If-Match: *\r\n") == 200);
  CHECK(status_of(srv.port, "/f.txt", "If-Match: \"other\"\r\n") == 412);
  CHECK(status_of(srv.port, "/f.txt", "If-Match: W/" + etag + "\r\n") == 412);
  CHECK(status_of(srv.port, "/f.txt", "If-Match: \"other\"\r\n", "HEAD") == 412);
  // Two If-Match lines are one list.
  CHECK(status_of(srv.port, "/f.txt", "If-Match: \"other\"\r\nIf-Match: " + etag + "\r\n") == 200);

  // A stale If-Match on a Range request: 412, never 206.
  auto stale_range = http_get(srv.port, "/f.txt", "GET", "If-Match: \"stale\"\r\nRange: bytes=0-3\r\n");
  CHECK(stale_range.status == 412);
  CHECK(stale_range.body.find("0123") == std::string::npos);
  CHECK(status_of(srv.port, "/f.txt", "If-Match: " + etag + "\r\nRange: bytes=0-3\r\n") == 206);

  // If-Unmodified-Since: 412 when the file is newer; ignored when invalid or when If-Match is there.
  CHECK(status_of(srv.port, "/f.txt", "If-Unmodified-Since: " + epoch + "\r\n") == 412);
  CHECK(status_of(srv.port, "/f.txt", "If-Unmodified-Since: " + last_modified + "\r\n") == 200);
  CHECK(status_of(srv.port, "/f.txt", "If-Unmodified-Since: " + future + "\r\n") == 200);
  CHECK(status_of(srv.port, "/f.txt", "If-Unmodified-Since: not a date\r\n") == 200);
  CHECK(status_of(srv.port, "/f.txt", "If-Match: " + etag + "\r\nIf-Unmodified-Since: " + epoch + "\r\n") == 200);
  CHECK(status_of(srv.port, "/f.txt", "If-Unmodified-Since: " + epoch + "\r\nRange: bytes=0-3\r\n") == 412);

  // If-Match comes before If-None-Match; If-None-Match (weak comparison) before If-Modified-Since.
  CHECK(status_of(srv.port, "/f.txt", "If-Match: \"other\"\r\nIf-None-Match: " + etag + "\r\n") == 412);
  CHECK(status_of(srv.port, "/f.txt", "If-Match: " + etag + "\r\nIf-None-Match: " + etag + "\r\n") == 304);
  CHECK(status_of(srv.port, "/f.txt", "If-None-Match: W/" + etag + "\r\n") == 304);
  CHECK(status_of(srv.port, "/f.txt", "If-None-Match: *\r\n") == 304);
  CHECK(status_of(srv.port, "/f.txt", "If-None-Match: \"other\"\r\nIf-Modified-Since: " + last_modified + "\r\n") == 200);
  CHECK(status_of(srv.port, "/f.txt", "If-None-Match: " + etag + "\r\nIf-Modified-Since: " + epoch + "\r\n") == 304);
  CHECK(status_of(srv.port, "/f.txt", "If-Unmodified-Since: " + epoch + "\r\nIf-None-Match: " + etag + "\r\n") == 412);

  // 304: validators, no body; 412: no body beyond its one line, and never the file.
  auto not_modified = http_get(srv.port, "/f.txt", "GET", "If-None-Match: " + etag + "\r\n");
  CHECK(not_modified.status == 304);
  CHECK(not_modified.header("ETag").value_or("") == etag);
  CHECK(not_modified.header("Last-Modified").value_or("") == last_modified);
  CHECK(not_modified.body.empty());
  auto failed = http_get(srv.port, "/f.txt", "GET", "If-Match: \"other\"\r\n");
  CHECK(failed.status == 412);
  CHECK(failed.body.find(content) == std::string::npos);
  CHECK(failed.header("Content-Length").value_or("") == std::to_string(failed.body.size()));
}

TEST_CASE("file-serve: Last-Modified is sent only once its second is over", "[file][file-serve][conditional]") {
  // Two writes within one second share a date: a client that got it during
  // that second could later get a 304 or a range of the other version.
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  write_file(root / "new.txt", "new\n");
  // Any instant of the current second would do; one an hour ahead cannot
  // become the past while the test runs.
  fs::last_write_time(root / "new.txt", fs::file_time_type::clock::now() + std::chrono::hours(1));
  write_file(root / "old.txt", "old\n");
  fs::last_write_time(root / "old.txt", fs::file_time_type::clock::now() - std::chrono::minutes(1));
  auto srv = start_serve(root);

  auto fresh = http_get(srv.port, "/new.txt");
  REQUIRE(fresh.status == 200);
  CHECK_FALSE(fresh.has_header("Last-Modified"));
  CHECK(fresh.has_header("ETag"));
  // Nor is a date precondition judged against the date it does not send.
  auto dated = http_get(srv.port, "/new.txt", "GET", "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n");
  CHECK(dated.status == 200);
  auto settled = http_get(srv.port, "/old.txt");
  REQUIRE(settled.status == 200);
  CHECK(settled.has_header("Last-Modified"));
  // A 304 carries the same validators as the 200 would.
  auto not_modified = http_get(srv.port, "/new.txt", "GET", "If-None-Match: " + fresh.header("ETag").value_or("?") + "\r\n");
  CHECK(not_modified.status == 304);
  CHECK_FALSE(not_modified.has_header("Last-Modified"));
}

TEST_CASE("file-serve: a directory listing answers If-None-Match: * with 304 and a failed If-Match with 412",
          "[file][file-serve][conditional]") {
  // RFC 9110 §13.1.1, §13.1.2: the listing exists, so "*" matches it and no
  // entity tag does; it has no Last-Modified, so dates are ignored.
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root / "sub");
  write_file(root / "sub" / "a.txt", "a\n");
  auto srv = start_serve(root);
  CHECK(http_get(srv.port, "/sub/").status == 200);
  CHECK(http_get(srv.port, "/sub/", "GET", "If-None-Match: *\r\n").status == 304);
  CHECK(http_get(srv.port, "/sub/", "GET", "If-Match: \"nope\"\r\n").status == 412);
  CHECK(http_get(srv.port, "/sub/", "GET", "If-Match: *\r\n").status == 200);
  CHECK(http_get(srv.port, "/sub/", "GET", "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n").status == 200);
  // The redirect to the name with its '/' comes first, whatever the preconditions.
  CHECK(http_get(srv.port, "/sub", "GET", "If-None-Match: *\r\n").status == 301);
}

TEST_CASE("file-serve: If-Range compares entity tags strongly and dates exactly", "[file][file-serve][conditional]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  const std::string content = random_bytes(1000, 31);
  write_file(root / "r.bin", content);
  // An mtime well in the past, so Last-Modified is a strong validator.
  fs::last_write_time(root / "r.bin", fs::file_time_type::clock::now() - std::chrono::hours(48));
  auto srv = start_serve(root);

  auto plain = http_get(srv.port, "/r.bin");
  REQUIRE(plain.status == 200);
  const std::string etag = plain.header("ETag").value_or("?");
  const std::string last_modified = plain.header("Last-Modified").value_or("?");

  auto with_if_range = [&](const std::string& validator) {
    return http_get(srv.port, "/r.bin", "GET", "Range: bytes=10-19\r\nIf-Range: " + validator + "\r\n");
  };
  auto same = with_if_range(etag);
  CHECK(same.status == 206);
  CHECK(same.body == content.substr(10, 10));
  auto weak = with_if_range("W/" + etag);  // a weak tag never matches
  CHECK(weak.status == 200);
  CHECK(weak.body == content);
  CHECK(with_if_range("\"other\"").status == 200);
  CHECK(with_if_range(last_modified).status == 206);
  // The same date in asctime form is the same date ("Sun, 06 Nov 1994 08:49:37 GMT" -> "Sun Nov  6 08:49:37 1994").
  auto imf = words(last_modified);
  REQUIRE(imf.size() == 6);
  std::string day = imf[1];
  if (day.front() == '0') day.front() = ' ';  // asctime pads the day with a space
  std::string asctime = imf[0].substr(0, 3) + " " + imf[2] + " " + day + " " + imf[4] + " " + imf[3];
  CHECK(with_if_range(asctime).status == 206);
  CHECK(with_if_range("Thu, 01 Jan 1970 00:00:00 GMT").status == 200);  // an earlier date is not a match
  CHECK(with_if_range("Fri, 01 Jan 2100 00:00:00 GMT").status == 200);  // nor is a later one
  CHECK(with_if_range("garbage").status == 200);
}

// ---------------------------------------------------------------- redirects

TEST_CASE("file-serve: a directory redirect never points at another host (//evil.com)", "[file][file-serve][security]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root / "evil.com" / "x");
  write_file(root / "evil.com" / "x" / "f.txt", "f\n");
  auto srv = start_serve(root);

  struct Case {
    std::string target;
    std::string location;
  };
  const std::vector<Case> redirects{
      {"//evil.com", "/evil.com/"},
      {"///evil.com", "/evil.com/"},
      {"/.//evil.com", "/evil.com/"},
      {"//evil.com//x", "/evil.com/x/"},
      {"//evil.com?q=1", "/evil.com/?q=1"},
      {"http://127.0.0.1//evil.com", "/evil.com/"},  // absolute-form
      {"/evil.com", "/evil.com/"},
  };
  for (const auto& c : redirects) {
    INFO("target " << c.target);
    auto r = http_get(srv.port, c.target);
    CHECK(r.status == 301);
    CHECK(r.header("Location").value_or("(none)") == c.location);
  }
  // Encoded slashes and backslashes are refused before anything is opened.
  for (std::string target : {"/%2F%2Fevil.com", "/%2f/evil.com", "/\\evil.com", "/%5Cevil.com", "/%5C%5Cevil.com"}) {
    INFO("target " << target);
    auto r = http_get(srv.port, target);
    CHECK(r.status == 400);
    CHECK_FALSE(r.has_header("Location"));
  }
}

// ---------------------------------------------------------------- index, files as directories

TEST_CASE("file-serve: index.html served for a directory is text/html", "[file][file-serve]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root / "site");
  write_file(root / "site" / "index.html", "<p>hello</p>\n");
  auto srv = start_serve(root);
  for (std::string target : {"/site/", "/site/index.html", "/site/."}) {
    INFO(target);
    auto r = http_get(srv.port, target);
    CHECK(r.status == 200);
    CHECK(r.body == "<p>hello</p>\n");
    CHECK(r.header("Content-Type").value_or("") == "text/html; charset=utf-8");
  }
}

TEST_CASE("file-serve: a regular file is not served at name/ or name/.", "[file][file-serve]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root / "d");
  write_file(root / "a.txt", "a\n");
  write_file(root / "d" / "b.txt", "b\n");
  auto srv = start_serve(root);
  CHECK(http_get(srv.port, "/a.txt").status == 200);
  for (std::string target : {"/a.txt/", "/a.txt/.", "/a.txt/./", "/d/b.txt/", "/d/b.txt/.", "/a.txt//"}) {
    INFO(target);
    auto r = http_get(srv.port, target);
    CHECK(r.status == 404);
    CHECK(r.body.find("a\n") == std::string::npos);
  }
  // A directory named with a trailing "/." is the directory.
  CHECK(http_get(srv.port, "/d/.").status == 200);
  // The bare-name protocol follows the same rule.
  Socket s = connect_tcp(srv.port);
  REQUIRE(s.send_all("a.txt/\n"));
  CHECK(s.recv_all().empty());
}

// ---------------------------------------------------------------- hidden files through symlinks

TEST_CASE("file-serve: dot files stay hidden behind symlinks whose own names have no dot",
          "[file][file-serve][security]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root / ".git");
  fs::create_directories(root / "dir");
  fs::create_directories(root / "site");
  write_file(root / ".git" / "config", "[core] secret-config\n");
  write_file(root / "dir" / ".secret", "secret-token\n");
  write_file(root / "dir" / "plain.txt", "plain\n");
  write_file(root / "site" / ".page.html", "secret-page\n");
  fs::create_directory_symlink(".git", root / "gitlink");
  fs::create_symlink("dir/.secret", root / "link");
  fs::create_symlink("dir/plain.txt", root / "fine");
  fs::create_symlink(".page.html", root / "site" / "index.html");
  const std::vector<std::string> secrets{"secret-config", "secret-token", "secret-page"};

  auto srv = start_serve(root);
  for (std::string target : {"/gitlink/config", "/gitlink/", "/gitlink", "/link", "/site/index.html"}) {
    INFO(target);
    auto r = http_get(srv.port, target);
    CHECK(r.status == 404);
    for (const auto& s : secrets) CHECK(r.raw.find(s) == std::string::npos);
  }
  // The directory whose index.html is such a link gets its listing instead, without the link.
  auto site = http_get(srv.port, "/site/");
  for (const auto& s : secrets) CHECK(site.raw.find(s) == std::string::npos);
  CHECK(site.body.find("index.html") == std::string::npos);
  // Ordinary symlinks still work, first request (cold) and second (cached).
  CHECK(http_get(srv.port, "/fine").body == "plain\n");
  CHECK(http_get(srv.port, "/fine").body == "plain\n");
  // Twice: the second time the path is in the kernel's lookup cache (the loop's fast path).
  CHECK(http_get(srv.port, "/link").status == 404);
  for (std::string name : {"gitlink/config", "link"}) {
    INFO("bare name " << name);
    Socket s = connect_tcp(srv.port);
    REQUIRE(s.send_all(name + "\n"));
    CHECK(s.recv_all().empty());
  }
  // The root listing does not offer them.
  auto listing = http_get(srv.port, "/");
  CHECK(listing.body.find("gitlink") == std::string::npos);
  CHECK(listing.body.find("\"./link\"") == std::string::npos);
  CHECK(listing.body.find("fine") != std::string::npos);

  // --allow-hidden serves them.
  auto open = start_serve(root, {"--allow-hidden"});
  CHECK(http_get(open.port, "/gitlink/config").body == "[core] secret-config\n");
  CHECK(http_get(open.port, "/link").body == "secret-token\n");
  CHECK(http_get(open.port, "/site/").body == "secret-page\n");
}

// ---------------------------------------------------------------- listing

TEST_CASE("file-serve: a listing links only names the server will serve, and every link works",
          "[file][file-serve]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root / "d" / "sub");
  fs::create_directories(dir / "outside");
  const std::map<std::string, std::string> servable{
      {"ok.txt", "ok\n"}, {"sp ace.txt", "space\n"}, {"caf\xc3\xa9.txt", "utf-8\n"}, {"a&b'c.txt", "amp\n"}};
  const std::vector<std::string> unservable{"latin1-caf\xe9.txt", "back\\slash.txt", "ctl\x01.txt", "tab\tname.txt",
                                            "new\nline.txt", "del\x7f.txt"};
  for (const auto& [name, content] : servable) write_file(root / "d" / name, content);
  for (const auto& name : unservable) write_file(root / "d" / name, "unservable\n");
  fs::create_directory_symlink("sub", root / "d" / "dirlink");
  fs::create_symlink(dir / "outside", root / "d" / "escapes");
  fs::create_symlink("missing", root / "d" / "dangling");
  auto srv = start_serve(root);

  auto page = http_get(srv.port, "/d/");
  REQUIRE(page.status == 200);
  INFO("listing:\n" << page.body);
  std::set<std::string> links;
  for (const auto& href : listing_links(page.body)) {
    links.insert(href);
    if (href == "../") continue;
    REQUIRE(href.rfind("./", 0) == 0);
    INFO("link " << href);
    auto r = http_get(srv.port, "/d/" + href.substr(2));
    CHECK(r.status == 200);
  }
  CHECK(links.size() == 1 + servable.size() + 2);  // ../, the servable files, sub/ and dirlink/
  CHECK(links.count("./sub/") == 1);
  CHECK(links.count("./dirlink/") == 1);  // a link to a directory is listed as one
  for (const auto& name : unservable) CHECK(page.body.find(name.substr(0, 4)) == std::string::npos);
  CHECK(page.body.find("escapes") == std::string::npos);
  CHECK(page.body.find("dangling") == std::string::npos);
}

// ---------------------------------------------------------------- access log

TEST_CASE("file-serve: every access-log line has the same fields, whatever the request path or name holds",
          "[file][file-serve]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  write_file(root / "a b.txt", "spaced\n");
  write_file(root / "q\"uote.txt", "quoted\n");
  write_file(root / "a.txt", "hello\n");
  auto srv = start_serve(root);

  // A well-formed line: "nettool file-serve: info: CLIENT METHOD PATH STATUS BYTES DURATION".
  constexpr size_t kFields = 9;
  struct Case {
    std::string request;
    bool http;
    std::string logged_path;  // the path field as it must appear
  };
  const std::vector<Case> cases{
      {"GET /a%20b.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", true, "/a\\x20b.txt"},
      {"GET /q%22uote.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", true, "/q\\x22uote.txt"},
      {"GET /a%20200%2099%201.0ms HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", true, "/a\\x20200\\x2099\\x201.0ms"},
      {"GET /x%0D%0A127.0.0.1:1%20GET%20/forged%20200 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", true,
       "/x\\x0d\\x0a127.0.0.1:1\\x20GET\\x20/forged\\x20200"},
      {"GET /back%5Cslash HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", true, "/back\\\\slash"},
      {"a b.txt\n", false, "a\\x20b.txt"},
      {"a.txt 200 6 0.1ms\n", false, "a.txt\\x20200\\x206\\x200.1ms"},
      {"x\rGET /forged 200\r\n", false, "x\\x0dGET\\x20/forged\\x20200"},
      {"-\n", false, "\\x2d"},
  };
  for (const auto& c : cases) {
    INFO("request " << c.request);
    auto lines = access_lines_for(srv.proc, srv.port, c.request);
    REQUIRE(lines.size() == 1);
    INFO("log line: " << lines[0]);
    auto fields = words(lines[0]);
    CHECK(fields.size() == kFields);
    if (fields.size() == kFields) CHECK(fields[5] == c.logged_path);
    CHECK(lines[0].find("/forged 200") == std::string::npos);
  }
  // An empty bare name is a field too.
  auto lines = access_lines_for(srv.proc, srv.port, "\n");
  REQUIRE(lines.size() == 1);
  CHECK(words(lines[0]).size() == kFields);
}

TEST_CASE("file-serve: a refused request is logged with the method and target it sent and - for what it did not say",
          "[file][file-serve]") {
  TempDir dir;
  write_file(dir / "a.txt", "hello\n");
  auto srv = start_serve(dir.path());
  constexpr size_t kFields = 9;
  struct Case {
    std::string request;
    std::string method, path, status;  // the fields as they must appear
  };
  const std::vector<Case> cases{
      {"GET /a.txt HTTP/1.1\r\n\r\n", "GET", "/a.txt", "400"},  // no Host
      {"GET /a%20b.txt HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", "GET", "/a%20b.txt", "400"},
      {"GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "GET", "/a.txt", "400"},
      {"GET /a.txt HTTP/1.1\r\nHost: x\r\nExpect: bogus\r\n\r\n", "GET", "/a.txt", "417"},
      {"HEAD /a.txt HTTP/2.0\r\nHost: x\r\n\r\n", "HEAD", "/a.txt", "505"},
      {"GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(17000, 'a') + "\r\n\r\n", "GET", "/a.txt", "431"},
      {"GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n", "GET", "-", "414"},
      {"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", "GET", "-", "400"},  // which word is the target?
      {" GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", "-", "-", "400"},
      {"G\x01T /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", "G\\x01T", "/a.txt", "400"},
      {"- /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "\\x2d", "/a.txt", "405"},  // a method sent as "-" is not absent
  };
  for (const auto& c : cases) {
    INFO("request " << c.request.substr(0, 60));
    auto lines = access_lines_for(srv.proc, srv.port, c.request);
    REQUIRE(lines.size() == 1);
    INFO("log line: " << lines[0]);
    auto fields = words(lines[0]);
    REQUIRE(fields.size() == kFields);
    CHECK(fields[4] == c.method);
    CHECK(fields[5] == c.path);
    CHECK(fields[6] == c.status);
  }
}

// ---------------------------------------------------------------- Repr-Digest

TEST_CASE("file-serve: a client done sending starts no hash, and one that hangs up leaves the hash queue",
          "[file][file-serve][digest]") {
  // Otherwise a client could ask for large files and hang up, again and
  // again, and the worker would hash them all for nobody.
  TempDir dir;
  for (const char* name : {"a.bin", "b.bin"}) {
    write_file(dir / name, "");
    fs::resize_file(dir / name, std::uintmax_t(1) << 30);  // 1 GiB, sparse: a hash that takes a while
  }
  auto srv = start_serve(dir.path());
  auto last_bytes = [](const std::string& path) {  // a range to the end: worth a digest
    return "GET " + path + " HTTP/1.1\r\nHost: x\r\nRange: bytes=-10\r\nConnection: close\r\n\r\n";
  };
  // A keeps the worker hashing a.bin; B's b.bin waits its turn, then B hangs up its sending side.
  Socket a = connect_tcp(srv.port);
  REQUIRE(a.send_all(last_bytes("/a.bin")));
  Socket b = connect_tcp(srv.port);
  REQUIRE(b.send_all(last_bytes("/b.bin")));
  std::this_thread::sleep_for(Ms(200));  // so the request is read before the end of it (not asserted on)
  b.shutdown_write();
  ReadEnd end = ReadEnd::Timeout;
  auto rb = parse_response_text(b.recv_all(kIoTimeout, &end), end);
  CHECK(rb.status == 206);
  CHECK_FALSE(rb.has_header("Repr-Digest"));  // answered without waiting for a hash
  auto ra = parse_response_text(a.recv_all(kIoTimeout, &end), end);
  CHECK(ra.status == 206);
  CHECK(ra.has_header("Repr-Digest"));
  // b.bin was never hashed: a HEAD, which only shows a known digest, has none.
  CHECK_FALSE(http_get(srv.port, "/b.bin", "HEAD").has_header("Repr-Digest"));
  // Half-closed from the start (`nc -N`): the answer, without a new hash.
  Socket c = connect_tcp(srv.port);
  REQUIRE(c.send_all(last_bytes("/b.bin")));
  c.shutdown_write();
  auto rc = parse_response_text(c.recv_all(kIoTimeout, &end), end);
  CHECK(rc.status == 206);
  CHECK(rc.body.size() == 10);
  CHECK_FALSE(rc.has_header("Repr-Digest"));
  CHECK_FALSE(http_get(srv.port, "/b.bin", "HEAD").has_header("Repr-Digest"));
}

TEST_CASE("file-serve: HEAD and short ranges send Repr-Digest only when already known, GET and ranges to the end hash",
          "[file][file-serve][digest]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  const std::string content = random_bytes(300 * KiB, 77);
  write_file(root / "f.bin", content);
  write_file(root / "g.bin", content + "g");
  auto srv = start_serve(root);
  const std::string digest = repr_digest_of(content);

  auto head = http_get(srv.port, "/f.bin", "HEAD");
  CHECK(head.status == 200);
  CHECK_FALSE(head.has_header("Repr-Digest"));
  auto first_byte = http_get(srv.port, "/f.bin", "GET", "Range: bytes=0-0\r\n");
  CHECK(first_byte.status == 206);
  CHECK(first_byte.body == content.substr(0, 1));
  CHECK_FALSE(first_byte.has_header("Repr-Digest"));

  // A full GET hashes; afterwards HEAD and short ranges carry the known digest.
  auto get = http_get(srv.port, "/f.bin");
  CHECK(get.body == content);
  CHECK(get.header("Repr-Digest").value_or("(none)") == digest);
  CHECK(http_get(srv.port, "/f.bin", "HEAD").header("Repr-Digest").value_or("(none)") == digest);
  CHECK(http_get(srv.port, "/f.bin", "GET", "Range: bytes=0-0\r\n").header("Repr-Digest").value_or("(none)") == digest);

  // A range that runs to the end (what file-get --resume sends) hashes too.
  auto tail = http_get(srv.port, "/g.bin", "GET", "Range: bytes=1000-\r\n");
  CHECK(tail.status == 206);
  CHECK(tail.header("Repr-Digest").value_or("(none)") == repr_digest_of(content + "g"));
  // Validation failures carry none.
  auto nm = http_get(srv.port, "/g.bin", "GET", "If-None-Match: " + tail.header("ETag").value_or("?") + "\r\n");
  CHECK(nm.status == 304);
  CHECK_FALSE(nm.has_header("Repr-Digest"));
}

TEST_CASE("file-serve: a directory's index.html that links to another index.html inside the root is served, not the listing",
          "[file][file-serve]") {
  TempDir dir;
  fs::create_directories(dir / "sub");
  fs::create_directories(dir / "sub2");
  write_file(dir / "sub" / "index.html", "the index\n");
  write_file(dir / "sub2" / "private-notes.txt", "not to be listed\n");
  fs::create_symlink("../sub/index.html", dir / "sub2" / "index.html");
  auto srv = start_serve(dir.path());
  auto r = http_get(srv.port, "/sub2/");
  CHECK(r.status == 200);
  CHECK(r.body == "the index\n");
  CHECK(r.body.find("private-notes") == std::string::npos);
}

TEST_CASE("file-serve never opens a FIFO: a writer waiting for a reader is neither released nor broken",
          "[file][file-serve][security]") {
  TempDir dir;
  REQUIRE(::mkfifo((dir / "pipe").c_str(), 0644) == 0);
  auto srv = start_serve(dir.path());
  // The shell's open(2) of the FIFO for writing blocks until a reader opens it.
  Process writer({"sh", "-c", "printf 'line\\n' > \"$0\"; echo released", (dir / "pipe").string()},
                 ProcessOptions().stdout_pipe());
  const fs::path wchan = "/proc/" + std::to_string(writer.pid()) + "/wchan";
  REQUIRE(eventually([&] { return read_file(wchan) == "wait_for_partner"; }, Ms(5000)));  // blocked in open
  for (int i = 0; i < 2; ++i) {  // the second request may come from the open-file cache's path
    auto r = http_get(srv.port, "/pipe");
    CHECK(r.status == 403);
  }
  CHECK_FALSE(eventually([&] { return !writer.running(); }, Ms(300)));
}

TEST_CASE("file-serve without /proc/self/fd says so at start and exits 1 instead of failing every request",
          "[file][file-serve]") {
  if (::geteuid() != 0 || ::access("/usr/bin/unshare", X_OK) != 0) {
    WARN("skipped: hiding /proc/self/fd in a mount namespace needs root and unshare(1)");
    return;
  }
  TempDir dir;
  write_file(dir / "a.txt", "a\n");
  // A private mount namespace where the shell's /proc/PID/fd, which is
  // /proc/self/fd once it execs nettool, is an empty tmpfs. (Without /proc
  // at all the launcher already stops: it finds its libraries through
  // /proc/self/exe.)
  Process p({"unshare", "--mount", "--propagation", "private", "sh", "-c",
             "mount -t tmpfs no-fds /proc/$$/fd && exec \"$0\" file-serve --root \"$1\" --port 0",
             nettool_path().string(), dir.path().string()});
  CHECK(p.wait(Ms(10000)) == 1);
  CHECK_THAT(p.stderr_text(), Catch::Contains("/proc/self/fd") && Catch::Contains("is /proc mounted?"));
}

TEST_CASE("file-serve: Connection: close on any Connection line, or beside keep-alive in HTTP/1.0, closes",
          "[file][file-serve]") {
  TempDir dir;
  write_file(dir / "a.txt", "a\n");
  auto srv = start_serve(dir.path());
  for (std::string request : {"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
                              "GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close\r\n\r\n",
                              "GET /a.txt HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
                              "GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n"}) {
    INFO(request);
    auto r = raw_exchange(srv.port, request);
    CHECK(r.status == 200);
    CHECK(r.body == "a\n");
    CHECK(r.header("Connection") != std::optional<std::string>("keep-alive"));
    CHECK(r.end == ReadEnd::Eof);  // closed by the server, not left to the client's timeout
  }
}

TEST_CASE("file-serve: Expect: 100-continue is answered at once without waiting for the body, another expectation is 417",
          "[file][file-serve]") {
  TempDir dir;
  write_file(dir / "a.txt", "a\n");
  auto srv = start_serve(dir.path());
  for (std::string framing : {"Content-Length: 5\r\n", "Transfer-Encoding: chunked\r\n"}) {
    INFO(framing);
    // The head alone: a client that expects 100 Continue sends nothing more yet.
    auto r = raw_exchange(srv.port, "GET /a.txt HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n" + framing + "\r\n");
    CHECK(r.status == 200);
    CHECK(r.body == "a\n");
    CHECK(r.header("Connection") == std::optional<std::string>("close"));
    CHECK(r.end == ReadEnd::Eof);
  }
  // With the body already there, it is dropped as usual and the connection goes on.
  Socket s = connect_tcp(srv.port);
  REQUIRE(s.send_all("GET /a.txt HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello" +
                     get_request("/a.txt")));
  std::string pending;
  CHECK(read_response(s, pending).status == 200);
  CHECK(read_response(s, pending).body == "a\n");
  auto other = raw_exchange(srv.port, "GET /a.txt HTTP/1.1\r\nHost: x\r\nExpect: x-magic\r\n\r\n");
  CHECK(other.status == 417);
}

TEST_CASE("file-serve: in an absolute-form target the path ends at '?', and a Range sent twice is ignored",
          "[file][file-serve]") {
  TempDir dir;
  write_file(dir / "a.txt", "a\n");
  write_file(dir / "ten.txt", "0123456789");
  auto srv = start_serve(dir.path());
  auto root = raw_exchange(srv.port, "GET http://x?a=/a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(root.status == 200);
  CHECK(root.body != "a\n");
  CHECK(root.body.find("ten.txt") != std::string::npos);  // the listing of /
  auto moved = raw_exchange(srv.port, "GET http://x?/a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(moved.body != "a\n");
  auto twice = http_get(srv.port, "/ten.txt", "GET", "Range: bytes=0-1\r\nRange: bytes=2-3\r\n");
  CHECK(twice.status == 200);
  CHECK(twice.body == "0123456789");
  auto if_twice =
      http_get(srv.port, "/ten.txt", "GET", "Range: bytes=0-1\r\nIf-Range: \"a\"\r\nIf-Range: \"b\"\r\n");
  CHECK(if_twice.status == 200);
  CHECK(if_twice.body == "0123456789");
}

TEST_CASE("file-serve: a first request whose long target arrives in pieces is answered (200, or 414 past the limit)",
          "[file][file-serve]") {
  TempDir dir;
  write_file(dir / "a.txt", "a\n");
  auto srv = start_serve(dir.path());
  // Past the 4 KiB a bare name may take, before " HTTP/1.1" has arrived:
  // the server cannot tell the protocols apart by the version yet.
  for (auto [query, status] : std::vector<std::pair<size_t, int>>{{6000, 200}, {9000, 414}}) {
    INFO("query of " << query << " bytes");
    const std::string request = "GET /a.txt?" + std::string(query, 'q') + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    Socket s = connect_tcp(srv.port);
    REQUIRE(s.send_all(request.substr(0, 5000)));
    std::this_thread::sleep_for(Ms(50));  // lets the server read the first piece alone
    s.send_all(request.substr(5000));
    ReadEnd end = ReadEnd::Timeout;
    auto r = parse_response_text(s.recv_all(kIoTimeout, &end), end);
    CHECK(r.status == status);
    if (status == 200) CHECK(r.body == "a\n");
  }
}
