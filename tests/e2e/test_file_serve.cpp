// file-serve with real clients: curl, wget, python's http.client, OpenBSD nc
// for the bare-name protocol, and plain sockets for what clients normalise
// away (traversal, malformed requests, slow or stalled peers).
//
// Every server listens on 127.0.0.1:0; every wait is bounded; every process
// is reaped by the harness.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "file_test_util.h"
#include "harness.h"

using namespace e2e;
using namespace filetest;

namespace {

using Clock = std::chrono::steady_clock;

// curl, bounded, silent but with errors on stderr.
CmdResult curl(std::vector<std::string> args, Ms timeout = kRunTimeout) {
  std::vector<std::string> argv{"curl", "-sS", "--max-time", "25"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_cmd(std::move(argv), timeout);
}

// What curl saved with -o (curl may not create the file for an empty body).
std::string saved(const fs::path& p) { return file_exists(p) ? read_file(p) : std::string(); }

// A keep-alive GET on an open connection.
HttpResponse keepalive_get(Socket& s, std::string_view path) {
  std::string req = "GET " + std::string(path) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  if (!s.send_all(req)) return {};
  return read_response(s);
}

// A normal GET that must work: the server is still healthy.
void require_healthy(uint16_t port, const std::string& path, const std::string& content) {
  auto r = http_get(port, path);
  INFO("GET " << path << " -> " << r.status_line);
  REQUIRE(r.status == 200);
  REQUIRE(r.body == content);
}

}  // namespace

// ---------------------------------------------------------------- curl: bodies

TEST_CASE("file-serve: curl GETs small, empty, 1-byte and 10 MiB files byte for byte", "[file][file-serve]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root / "sub");
  struct F {
    std::string name;
    size_t size;
  };
  const std::vector<F> files{{"small.bin", 1000}, {"empty.bin", 0}, {"one.bin", 1}, {"big.bin", 10 * MiB},
                             {"sub/nested.bin", 70000}};
  for (size_t i = 0; i < files.size(); ++i) write_random_file(root / files[i].name, files[i].size, 100 + i);

  auto srv = start_serve(root);
  for (const auto& f : files) {
    INFO(f.name);
    const auto out = dir / ("got-" + std::to_string(&f - files.data()));
    auto r = curl({"-o", out.string(), "-w", "%{http_code} %{size_download}", url(srv.port, "/" + f.name)});
    INFO("curl stderr: " << r.err << "\nserver: " << srv.proc.stderr_text());
    REQUIRE(r.code == 0);
    CHECK(r.out == "200 " + std::to_string(f.size));
    std::string got = saved(out);
    CHECK(got.size() == f.size);
    CHECK(sha256_hex(got) == sha256_file(root / f.name));
  }
}

TEST_CASE("file-serve: curl -r ranges give 206 with the right bytes and Content-Range, unsatisfiable ones 416",
          "[file][file-serve]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  const std::string content = random_bytes(1000, 7);
  write_file(root / "r.bin", content);
  auto srv = start_serve(root);

  struct Case {
    std::string range;
    int status;
    std::string content_range;
    std::string body;
  };
  const std::vector<Case> cases{
      {"0-99", 206, "bytes 0-99/1000", content.substr(0, 100)},
      {"100-", 206, "bytes 100-999/1000", content.substr(100)},
      {"-10", 206, "bytes 990-999/1000", content.substr(990)},
      {"999-999", 206, "bytes 999-999/1000", content.substr(999)},
      {"500-5000", 206, "bytes 500-999/1000", content.substr(500)},
      {"5000-", 416, "bytes */1000", ""},
      {"1000-1000", 416, "bytes */1000", ""},
  };
  int n = 0;
  for (const auto& c : cases) {
    INFO("Range: bytes=" << c.range);
    const auto out = dir / ("out" + std::to_string(n));
    const auto hdr = dir / ("hdr" + std::to_string(n++));
    auto r = curl({"-r", c.range, "-D", hdr.string(), "-o", out.string(), "-w", "%{http_code}", url(srv.port, "/r.bin")});
    REQUIRE(r.code == 0);
    CHECK(r.out == std::to_string(c.status));
    HttpResponse h;
    parse_head(read_file(hdr), h);
    CHECK(h.status == c.status);
    CHECK(h.header("Content-Range").value_or("(none)") == c.content_range);
    if (c.status == 206) {
      CHECK(h.header("Content-Length").value_or("") == std::to_string(c.body.size()));
      CHECK(saved(out) == c.body);
    }
  }

  // Several ranges: the whole file, 200. If-Range: the range only while the validator matches.
  auto whole = curl({"-r", "0-1,5-6", "-o", (dir / "multi").string(), "-w", "%{http_code}", url(srv.port, "/r.bin")});
  CHECK(whole.out == "200");
  CHECK(saved(dir / "multi") == content);
  auto head = http_get(srv.port, "/r.bin", "HEAD");
  const std::string etag = head.header("ETag").value_or("?");
  auto if_range_ok = http_get(srv.port, "/r.bin", "GET", "Range: bytes=10-19\r\nIf-Range: " + etag + "\r\n");
  CHECK(if_range_ok.status == 206);
  CHECK(if_range_ok.body == content.substr(10, 10));
  auto if_range_stale = http_get(srv.port, "/r.bin", "GET", "Range: bytes=10-19\r\nIf-Range: \"stale\"\r\n");
  CHECK(if_range_stale.status == 200);
  CHECK(if_range_stale.body == content);
}

TEST_CASE("file-serve: HEAD headers, Repr-Digest value, and 304 for If-None-Match / If-Modified-Since",
          "[file][file-serve]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  const std::string content = random_bytes(123457, 9);
  write_file(root / "f.bin", content);
  write_file(root / "empty.txt", "");
  // Written a minute ago: a file in its first second has no Last-Modified yet.
  fs::last_write_time(root / "f.bin", fs::file_time_type::clock::now() - std::chrono::minutes(1));
  auto srv = start_serve(root);

  // HEAD sends the digest once a GET has computed it (HEAD alone never starts a hash).
  REQUIRE(http_get(srv.port, "/f.bin").status == 200);
  auto r = curl({"-I", url(srv.port, "/f.bin")});
  REQUIRE(r.code == 0);
  HttpResponse h;
  parse_head(r.out, h);
  INFO("HEAD response:\n" << r.out);
  CHECK(h.status == 200);
  CHECK(h.header("Content-Length").value_or("") == std::to_string(content.size()));
  REQUIRE(h.has_header("Last-Modified"));
  CHECK(h.header("Last-Modified")->find("GMT") != std::string::npos);
  REQUIRE(h.has_header("ETag"));
  const std::string etag = *h.header("ETag");
  CHECK(etag.size() > 2);
  CHECK(etag.front() == '"');
  CHECK(etag.back() == '"');
  CHECK(lower(h.header("Accept-Ranges").value_or("")) == "bytes");
  CHECK(h.header("Repr-Digest").value_or("(none)") == repr_digest_of(content));

  // The GET carries the same validators and digest, and the body.
  auto g = http_get(srv.port, "/f.bin");
  CHECK(g.status == 200);
  CHECK(g.body == content);
  CHECK(g.header("ETag").value_or("") == etag);
  CHECK(g.header("Repr-Digest").value_or("(none)") == repr_digest_of(content));
  // A HEAD sent by hand gets no body at all (the connection closes right after the head).
  auto raw_head = http_get(srv.port, "/f.bin", "HEAD");
  CHECK(raw_head.status == 200);
  CHECK(raw_head.body.empty());

  // The digest of an empty file is the digest of nothing.
  auto e = curl({"-I", url(srv.port, "/empty.txt")});
  HttpResponse eh;
  parse_head(e.out, eh);
  CHECK(eh.header("Content-Length").value_or("") == "0");
  CHECK(eh.header("Repr-Digest").value_or("(none)") == repr_digest_of(""));
  CHECK(repr_digest_of("") == "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:");  // RFC 9530 sanity

  const std::string last_modified = *h.header("Last-Modified");
  auto code = [&](std::vector<std::string> extra) {
    std::vector<std::string> args{"-o", "/dev/null", "-w", "%{http_code}"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(url(srv.port, "/f.bin"));
    auto c = curl(args);
    return c.code == 0 ? c.out : "curl failed: " + c.err;
  };
  CHECK(code({"-H", "If-None-Match: " + etag}) == "304");
  CHECK(code({"-H", "If-None-Match: \"nope\", " + etag}) == "304");
  CHECK(code({"-H", "If-None-Match: \"nope\""}) == "200");
  CHECK(code({"-H", "If-Modified-Since: " + last_modified}) == "304");
  CHECK(code({"-H", "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT"}) == "200");
  // A 304 carries no body.
  auto nm = http_get(srv.port, "/f.bin", "GET", "If-None-Match: " + etag + "\r\n");
  CHECK(nm.status == 304);
  CHECK(nm.body.empty());
}

TEST_CASE("file-serve: Repr-Digest and ETag follow a file that is rewritten, even with its old mtime put back",
          "[file][file-serve]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  const auto file = root / "f.bin";
  const std::string v1 = random_bytes(200000, 11), v2 = random_bytes(200000, 12), v3 = random_bytes(200000, 13);
  write_file(file, v1);
  auto srv = start_serve(root);

  auto get = [&] { return http_get(srv.port, "/f.bin"); };
  auto r1 = get();
  REQUIRE(r1.body == v1);
  CHECK(r1.header("Repr-Digest").value_or("") == repr_digest_of(v1));

  // Rewritten in place, same size, a later mtime.
  write_file(file, v2);
  fs::last_write_time(file, fs::last_write_time(file) + std::chrono::seconds(5));
  auto r2 = get();
  REQUIRE(r2.body == v2);
  CHECK(r2.header("Repr-Digest").value_or("") == repr_digest_of(v2));
  CHECK(r2.header("ETag") != r1.header("ETag"));

  // Rewritten in place, same size, and the old mtime restored (cp -p, rsync -t,
  // touch -r do this). The body is v3, so the digest must be v3's: a stale one
  // makes every verifying client (file-get) reject a good download.
  const auto mtime = fs::last_write_time(file);
  write_file(file, v3);
  fs::last_write_time(file, mtime);
  auto r3 = get();
  REQUIRE(r3.body == v3);
  CHECK(r3.header("Repr-Digest").value_or("") == repr_digest_of(v3));
}

TEST_CASE("file-serve: a small file replaced by a rename, rewritten in place or deleted is seen at the next request",
          "[file][file-serve]") {
  // Small files stay open for a second between requests (the open-file
  // cache); each answer below comes well within that second.
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  const auto file = root / "f.txt";
  for (bool cache : {true, false}) {
    INFO((cache ? "with the open-file cache" : "--no-open-file-cache"));
    write_file(file, "one\n");
    auto srv = start_serve(root, cache ? std::vector<std::string>{} : std::vector<std::string>{"--no-open-file-cache"});
    auto get = [&] { return http_get(srv.port, "/f.txt"); };
    CHECK(get().body == "one\n");
    CHECK(get().body == "one\n");  // a hit, when cached
    write_file(root / "f.tmp", "two, longer\n");
    fs::rename(root / "f.tmp", file);  // the old inode has no link left
    auto r2 = get();
    CHECK(r2.body == "two, longer\n");
    CHECK(r2.header("Content-Length").value_or("") == "12");
    write_file(file, "three\n");  // same inode, truncated and rewritten
    auto r3 = get();
    CHECK(r3.body == "three\n");
    CHECK(r3.header("Repr-Digest").value_or("") == repr_digest_of("three\n"));
    fs::remove(file);
    CHECK(get().status == 404);
    write_file(file, "four\n");
    CHECK(get().body == "four\n");
  }
}

TEST_CASE("file-serve: the bytes kept for a settled small file give way at once to a same-size rewrite, "
          "even with its mtime set back",
          "[file][file-serve]") {
  // The open-file cache keeps the bytes of a small file whose ctime is over
  // a second old, and sends them without reading while its fstat (one per
  // turn of the loop) shows the same size, mtime and ctime.
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  const auto file = root / "f.txt";
  write_file(file, "alpha\n");
  const auto written = fs::last_write_time(file);
  std::this_thread::sleep_for(std::chrono::milliseconds(2200));  // settled: its ctime is over a second old
  auto srv = start_serve(root);
  auto get = [&] { return http_get(srv.port, "/f.txt"); };
  CHECK(get().body == "alpha\n");  // opened
  CHECK(get().body == "alpha\n");  // a hit: the bytes are kept
  CHECK(get().body == "alpha\n");  // sent from them
  auto range = http_get(srv.port, "/f.txt", "GET", "Range: bytes=1-3\r\n");
  CHECK(range.status == 206);
  CHECK(range.body == "lph");

  write_file(file, "delta\n");  // same inode, same size...
  fs::last_write_time(file, written);  // ...and the mtime set back, as cp -p or touch -r do: only the ctime moved
  auto r = get();
  CHECK(r.body == "delta\n");
  CHECK(r.header("Repr-Digest").value_or("") == repr_digest_of("delta\n"));
  write_file(file, "bravo\n");
  CHECK(get().body == "bravo\n");
  CHECK(get().body == "bravo\n");
}

TEST_CASE("file-serve: --digest off sends no Repr-Digest", "[file][file-serve]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  const std::string content = random_bytes(5000, 10);
  write_file(root / "f.bin", content);
  auto srv = start_serve(root, {"--digest", "off"});
  auto r = curl({"-I", url(srv.port, "/f.bin")});
  REQUIRE(r.code == 0);
  HttpResponse h;
  parse_head(r.out, h);
  CHECK(h.status == 200);
  CHECK_FALSE(h.has_header("Repr-Digest"));
  CHECK(h.has_header("ETag"));
  auto g = http_get(srv.port, "/f.bin");
  CHECK(g.body == content);
  CHECK_FALSE(g.has_header("Repr-Digest"));
}

TEST_CASE("file-serve: Content-Type follows the file extension", "[file][file-serve]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  const std::vector<std::pair<std::string, std::string>> cases{{"page.html", "text/html"},
                                                               {"notes.txt", "text/plain"},
                                                               {"img.png", "image/png"},
                                                               {"data.qqq", "application/octet-stream"},
                                                               {"noext", "application/octet-stream"}};
  for (const auto& [name, type] : cases) write_file(root / name, "x");
  auto srv = start_serve(root);
  for (const auto& [name, type] : cases) {
    INFO(name);
    auto r = curl({"-o", "/dev/null", "-w", "%{content_type}", url(srv.port, "/" + name)});
    REQUIRE(r.code == 0);
    CHECK(lower(r.out).rfind(type, 0) == 0);
  }
}

TEST_CASE("file-serve: keep-alive: curl reuses one connection for two URLs, pipelined requests are answered in order",
          "[file][file-serve]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  write_file(root / "one.txt", "first file\n");
  write_file(root / "two.txt", "second file, a bit longer\n");
  auto srv = start_serve(root);

  auto r = curl({"-o", "/dev/null", "-o", "/dev/null", "-w", "%{num_connects}\\n", url(srv.port, "/one.txt"),
                 url(srv.port, "/two.txt")});
  REQUIRE(r.code == 0);
  CHECK(r.out == "1\n0\n");  // the second transfer opened no connection
  REQUIRE(srv.proc.wait_stderr_contains("/two.txt"));
  auto one = log_lines_with(srv.proc.stderr_text(), " /one.txt ");
  auto two = log_lines_with(srv.proc.stderr_text(), " /two.txt ");
  REQUIRE(one.size() == 1);
  REQUIRE(two.size() == 1);
  // Same client address:port on both access-log lines.
  auto client_of = [](const std::string& line) {
    for (auto& w : words(line))
      if (w.rfind("127.0.0.1:", 0) == 0) return w;
    return std::string("?");
  };
  CHECK(client_of(one[0]) != "?");
  CHECK(client_of(one[0]) == client_of(two[0]));

  // Pipelining: three requests in one write, three responses in order.
  Socket s = connect_tcp(srv.port);
  std::string reqs = "GET /one.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /two.txt HTTP/1.1\r\nHost: x\r\n\r\n"
                     "GET /one.txt HTTP/1.1\r\nHost: x\r\n\r\n";
  REQUIRE(s.send_all(reqs));
  std::string pending;
  auto a = read_response(s, pending);
  auto b = read_response(s, pending);
  auto c = read_response(s, pending);
  CHECK(a.body == "first file\n");
  CHECK(b.body == "second file, a bit longer\n");
  CHECK(c.body == "first file\n");
}

// How many of the next `count` responses on `s` are, in order, 200s whose
// body is expected(i); says which one was not.
int answered_in_order(Socket& s, std::string& pending, int count, const std::function<std::string(int)>& expected) {
  for (int i = 0; i < count; ++i) {
    auto r = read_response(s, pending);
    if (r.status != 200 || r.body != expected(i)) {
      UNSCOPED_INFO("response " << i << ": status " << r.status << ", " << r.body.size() << " body bytes");
      return i;
    }
  }
  return count;
}

// Waits (at most 10 s) until the server stops answering a client that reads
// nothing: its access log (stderr, a line per finished response) has not
// grown for 100 ms. The server then holds a response its socket did not take.
void wait_until_server_blocks(const Listener& srv) {
  std::error_code ec;
  uintmax_t last = 0;
  for (int i = 0, steady = 0; i < 1000 && steady < 10; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    uintmax_t size = fs::file_size(srv.proc.stderr_path(), ec);
    steady = !ec && size == last ? steady + 1 : 0;
    last = size;
  }
}

TEST_CASE("file-serve: small bodies to a client that reads late arrive whole and in order when the socket fills up",
          "[file][file-serve]") {
  // Small bodies go out with their heads in one sendmsg; what the socket does
  // not take is kept and sent on writable. 800 pipelined responses (about
  // 7 MB) fill the server's socket buffer (4 MiB at most) and the client's
  // (which does not grow while nothing is read), so heads and bodies get cut anywhere.
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  auto pattern = [](size_t n, int seed) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 251 + seed) % 26);
    return s;
  };
  const std::string big = pattern(12000, 0), small = pattern(5001, 3);
  write_file(root / "big.bin", big);
  write_file(root / "small.bin", small);
  auto srv = start_serve(root);

  Socket s = connect_tcp(srv.port);
  constexpr int kRequests = 800;
  std::string reqs;
  for (int i = 0; i < kRequests; ++i)
    reqs += std::string("GET /") + (i % 2 ? "small.bin" : "big.bin") + " HTTP/1.1\r\nHost: x\r\n\r\n";
  REQUIRE(s.send_all(reqs));
  wait_until_server_blocks(srv);
  std::string pending;
  CHECK(answered_in_order(s, pending, kRequests, [&](int i) { return i % 2 ? small : big; }) == kRequests);
}

TEST_CASE("file-serve: heads without a body to a client that reads late arrive whole and in order when the socket fills up",
          "[file][file-serve]") {
  // A HEAD's answer is a head alone, sent as a small body's is (one
  // sendmsg), and the socket may refuse it. The kernel takes small writes
  // until the server's send buffer (up to 4 MiB, net.ipv4.tcp_wmem) and the
  // client's receive buffer are full: 40,000 pipelined HEADs (about 9 MB of
  // heads) fill them, and the server stops with a head it could not send.
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  write_file(root / "small.bin", std::string(5001, 'h'));
  write_file(root / "empty.bin", "");
  // Heads that stay the same while the test runs: a file modified in the
  // current second gets its Last-Modified only once that second is over (an
  // mtime an hour back has it from the start), and a Repr-Digest would
  // appear once computed.
  for (const char* name : {"small.bin", "empty.bin"})
    fs::last_write_time(root / name, fs::file_time_type::clock::now() - std::chrono::hours(1));
  auto srv = start_serve(root, {"--digest", "off"});

  Socket s = connect_tcp(srv.port);
  constexpr int kRequests = 40000;
  auto path = [](int i) { return i % 2 ? "/empty.bin" : "/small.bin"; };
  std::string reqs;
  for (int i = 0; i < kRequests; ++i) reqs += std::string("HEAD ") + path(i) + " HTTP/1.1\r\nHost: x\r\n\r\n";
  // The server reads no requests while its socket is full: they are sent
  // from another thread, which finishes once we read.
  std::atomic<bool> sent{false};
  std::thread writer([&] { sent = s.send_all(reqs, std::chrono::seconds(60)); });
  struct Join {
    std::thread& t;
    ~Join() {
      if (t.joinable()) t.join();
    }
  } join{writer};
  wait_until_server_blocks(srv);
  // Some requests were answered, not all: the server is waiting to write.
  const size_t answered = log_lines_with(srv.proc.stderr_text(), "HEAD").size();
  REQUIRE(answered > 0);
  REQUIRE(answered < static_cast<size_t>(kRequests));

  // Every head of a file is the first one's, byte for byte, but for its Date.
  auto without_date = [](std::string head) {
    auto at = head.find("\r\nDate: ");
    if (at != std::string::npos) head.erase(at, head.find("\r\n", at + 2) - at);
    return head;
  };
  std::string first[2];
  std::string pending;
  int whole = 0;
  auto next_is_whole = [&] {
    auto r = read_response(s, pending, /*head_request=*/true);
    std::string head = without_date(r.raw);
    if (whole < 2) first[whole] = head;
    if (r.status != 200 || r.header("Content-Length").value_or("") != (whole % 2 ? "0" : "5001") ||
        head != first[whole % 2]) {
      UNSCOPED_INFO("response " << whole << " (HEAD " << path(whole) << "): status " << r.status << ":\n" << r.raw
                                << "the first:\n" << first[whole % 2]);
      return false;
    }
    ++whole;
    return true;
  };
  while (whole < kRequests && next_is_whole()) {
  }
  writer.join();
  CHECK(sent);
  CHECK(whole == kRequests);
  // Nothing follows the last head: none was sent twice, or with a body.
  CHECK(pending.empty());
}

TEST_CASE("file-serve: 40 pipelined GETs behind a directory listing, then a half-close, are all answered",
          "[file][file-serve]") {
  // The listing is made on the thread pool, so the client's FIN is read
  // while it waits; the 40 small answers that follow go out at once, and
  // past 16 of them the rest waits for the next loop turn. That client has
  // finished sending but has not been answered in full: it must not be
  // closed as one with nothing left to answer.
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  write_file(root / "small.txt", "a small file\n");
  auto srv = start_serve(root);
  Socket s = connect_tcp(srv.port);
  constexpr int kSmall = 40;
  std::string reqs = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  for (int i = 0; i < kSmall; ++i) reqs += "GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n";
  REQUIRE(s.send_all(reqs));
  s.shutdown_write();
  std::string pending;
  auto listing = read_response(s, pending);
  CHECK(listing.status == 200);
  CHECK(answered_in_order(s, pending, kSmall, [](int) { return std::string("a small file\n"); }) == kSmall);
}

TEST_CASE("file-serve: pipelined range requests for an index.html opened on the thread pool each get their own range",
          "[file][file-serve]") {
  // A directory's index.html opens on the thread pool (the loop opens only
  // regular files the dentry cache has), so its Range and If-None-Match are
  // read after the request's head has left the read buffer and the requests
  // behind it were read in: each answer must come from its own request's
  // fields (the copy of the head they point into, Connection::head_).
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root / "d");
  const std::string content = "abcdefghijklmnopqrstuvwxyz";
  write_file(root / "d" / "index.html", content);
  auto srv = start_serve(root);
  Socket s = connect_tcp(srv.port);
  constexpr int kRequests = 60;
  auto first = [](int i) { return static_cast<size_t>(i % 20); };
  auto last = [](int i) { return static_cast<size_t>(i % 20 + 3 + i % 3); };
  std::string reqs;
  for (int i = 0; i < kRequests; ++i)
    reqs += "GET /d/ HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"not-its-tag\"\r\nRange: bytes=" + std::to_string(first(i)) +
            "-" + std::to_string(last(i)) + "\r\nX-Padding: " + std::string(static_cast<size_t>(i * 37 % 200), 'p') +
            "\r\n\r\n";
  REQUIRE(s.send_all(reqs));
  std::string pending;
  for (int i = 0; i < kRequests; ++i) {
    INFO("request " << i);
    auto r = read_response(s, pending);
    REQUIRE(r.status == 206);
    CHECK(r.body == content.substr(first(i), last(i) - first(i) + 1));
    CHECK(r.header("Content-Range").value_or("") ==
          "bytes " + std::to_string(first(i)) + "-" + std::to_string(last(i)) + "/26");
  }
}

// ---------------------------------------------------------------- directories

TEST_CASE("file-serve: directories: 301 to the slash, escaped listing whose links work, index.html, --no-listing 403",
          "[file][file-serve]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root / "dir" / "sub");
  fs::create_directories(root / "withindex");
  const std::map<std::string, std::string> files{
      {"a&b <c>.txt", "ampersand and angle brackets\n"},
      {"%41.txt", "percent four one\n"},
      {"x&amp.txt", "an entity-looking name\n"},
      {"q\"uote's.txt", "quotes\n"},
      {"plain.txt", "plain\n"},
  };
  for (const auto& [name, content] : files) write_file(root / "dir" / name, content);
  write_file(root / "dir" / "sub" / "deep.txt", "deep\n");
  write_file(root / "withindex" / "index.html", "<html>the index</html>\n");
  write_file(root / "withindex" / "other.txt", "other\n");

  auto srv = start_serve(root);

  auto redirect = http_get(srv.port, "/dir");
  CHECK(redirect.status == 301);
  CHECK(redirect.header("Location").value_or("") == "/dir/");
  auto sub_redirect = http_get(srv.port, "/dir/sub");
  CHECK(sub_redirect.status == 301);
  CHECK(sub_redirect.header("Location").value_or("") == "/dir/sub/");

  auto listing = http_get(srv.port, "/dir/");
  REQUIRE(listing.status == 200);
  INFO("listing:\n" << listing.body);
  CHECK(lower(listing.header("Content-Type").value_or("")).rfind("text/html", 0) == 0);
  CHECK(listing.body.find("a&amp;b &lt;c&gt;.txt") != std::string::npos);  // HTML-escaped text
  CHECK(listing.body.find("<c>") == std::string::npos);                     // never raw markup
  CHECK(listing.body.find("%2541.txt") != std::string::npos);               // URL-encoded link
  CHECK(listing.body.find("a&b <c>") == std::string::npos);
  CHECK(listing.body.find("sub/") != std::string::npos);

  // A browser's view: parse the HTML (entities decoded the HTML5 way), follow
  // every link relative to /dir/ and hash what comes back. Each file must be
  // reachable through its link, and each link text must be the file's name.
  const char* script = R"PY(
import sys, html.parser, urllib.request, urllib.parse, hashlib
base = 'http://127.0.0.1:%s/dir/' % sys.argv[1]
page = urllib.request.urlopen(base, timeout=10).read().decode('utf-8')
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links = []; self.texts = []; self.in_a = False
    def handle_starttag(self, tag, attrs):
        if tag == 'a':
            self.in_a = True; self.texts.append('')
            self.links += [v for k, v in attrs if k == 'href']
    def handle_endtag(self, tag):
        if tag == 'a': self.in_a = False
    def handle_data(self, data):
        if self.in_a: self.texts[-1] += data
p = P(); p.feed(page)
for h in p.links:
    u = urllib.parse.urljoin(base, h)
    try:
        body = urllib.request.urlopen(u, timeout=10).read()
        print('L', hashlib.sha256(body).hexdigest(), h.encode().hex())
    except Exception as e:
        print('E', h.encode().hex(), str(e).encode().hex())
for t in p.texts:
    print('T', t.encode().hex())
)PY";
  auto py = run_cmd({"python3", "-c", script, std::to_string(srv.port)});
  INFO("python stderr: " << py.err << "\npython stdout:\n" << py.out);
  REQUIRE(py.code == 0);
  std::set<std::string> fetched, texts;
  std::vector<std::string> errors;
  for (auto& line : split_lines(py.out)) {
    auto w = words(line);
    if (w.size() >= 3 && w[0] == "L") fetched.insert(w[1]);
    if (w.size() >= 2 && w[0] == "T") texts.insert(hex_to_bytes(w[1]));
    if (w.size() >= 2 && w[0] == "E") errors.push_back(hex_to_bytes(w[1]));
  }
  for (const auto& e : errors) CHECK(e == "(a link that fails)");
  for (const auto& [name, content] : files) {
    INFO("file " << name);
    CHECK(fetched.count(sha256_hex(content)) == 1);
    CHECK(texts.count(name) == 1);
  }
  CHECK(texts.count("sub/") == 1);

  // index.html instead of a listing.
  auto idx = http_get(srv.port, "/withindex/");
  CHECK(idx.status == 200);
  CHECK(idx.body == "<html>the index</html>\n");
  CHECK(idx.body.find("other.txt") == std::string::npos);

  // --no-listing: 403 for a directory without index.html; index.html still served.
  auto quiet = start_serve(root, {"--no-listing"});
  auto forbidden = http_get(quiet.port, "/dir/");
  CHECK(forbidden.status == 403);
  CHECK(forbidden.body.find("plain.txt") == std::string::npos);
  CHECK(http_get(quiet.port, "/withindex/").body == "<html>the index</html>\n");
  CHECK(http_get(quiet.port, "/dir/plain.txt").body == "plain\n");
}

// ---------------------------------------------------------------- errors

TEST_CASE("file-serve: 405 with Allow, 413, 414, 431, 400, 505 for bad requests, and the server stays healthy",
          "[file][file-serve]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  write_file(root / "a.txt", "hello\n");
  auto srv = start_serve(root);

  for (std::string method : {"POST", "PUT", "DELETE", "OPTIONS"}) {
    INFO(method);
    auto r = http_get(srv.port, "/a.txt", method);
    CHECK(r.status == 405);
    auto allow = r.header("Allow").value_or("");
    CHECK(allow.find("GET") != std::string::npos);
    CHECK(allow.find("HEAD") != std::string::npos);
  }
  // curl's own POST/PUT without a body, too.
  for (std::string method : {"POST", "PUT"}) {
    auto c = curl({"-X", method, "-o", "/dev/null", "-w", "%{http_code}", url(srv.port, "/a.txt")});
    CHECK(c.out == "405");
  }

  // A body is read and dropped up to a limit (test_file_serve_rules.cpp has the details); past it, 413.
  auto body = raw_exchange(srv.port, "GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nhello");
  CHECK(body.status == 413);
  CHECK(body.body.find("hello\n") == std::string::npos);

  auto long_path = http_get(srv.port, "/" + std::string(10 * 1024, 'a'));
  CHECK(long_path.status == 414);

  std::string big_headers = "GET /a.txt HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 20; ++i) big_headers += "X-Filler-" + std::to_string(i) + ": " + std::string(1000, 'f') + "\r\n";
  big_headers += "\r\n";
  auto headers = raw_exchange(srv.port, big_headers);
  CHECK(headers.status == 431);

  CHECK(raw_exchange(srv.port, "GET / HTTP/1.1\r\n\r\n").status == 400);  // no Host
  CHECK(raw_exchange(srv.port, "GET /a.txt HTTP/1.1 junk\r\nHost: x\r\n\r\n").status == 400);
  CHECK(raw_exchange(srv.port, "GET /a.txt HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n").status == 400);
  CHECK(raw_exchange(srv.port, "GET /a.txt HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n").status == 400);
  CHECK(raw_exchange(srv.port, "GET /a.txt HTTP/9.9\r\nHost: x\r\n\r\n").status == 505);
  // HTTP/1.0 needs no Host.
  auto old = raw_exchange(srv.port, "GET /a.txt HTTP/1.0\r\n\r\n");
  CHECK(old.status == 200);
  CHECK(old.body == "hello\n");

  require_healthy(srv.port, "/a.txt", "hello\n");
  CHECK(srv.proc.running());
}

TEST_CASE("file-serve: the access log names client, method, path, status and bytes, and escapes control characters",
          "[file][file-serve]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  write_file(root / "a.txt", "hello\n");
  auto srv = start_serve(root);

  auto line_for = [&](uint16_t client_port) -> std::string {
    std::string who = "127.0.0.1:" + std::to_string(client_port);
    std::string found;
    eventually([&] {
      for (auto& l : log_lines_with(srv.proc.stderr_text(), who))
        if (has_word(l, who)) found = l;
      return !found.empty();
    });
    return found;
  };

  {
    Socket s = connect_tcp(srv.port);
    uint16_t p = local_port(s);
    s.send_all("GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(parse_response_text(s.recv_all()).status == 200);
    std::string line = line_for(p);
    INFO("log line: " << line);
    CHECK(has_word(line, "GET"));
    CHECK(has_word(line, "/a.txt"));
    CHECK(has_word(line, "200"));
    CHECK(has_word(line, "6"));
  }
  {
    Socket s = connect_tcp(srv.port);
    uint16_t p = local_port(s);
    s.send_all("HEAD /missing.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(parse_response_text(s.recv_all()).status == 404);
    std::string line = line_for(p);
    INFO("log line: " << line);
    CHECK(has_word(line, "HEAD"));
    CHECK(has_word(line, "/missing.txt"));
    CHECK(has_word(line, "404"));
  }
  {
    Socket s = connect_tcp(srv.port);
    uint16_t p = local_port(s);
    s.send_all("a.txt\n");
    CHECK(s.recv_all() == "hello\n");
    std::string line = line_for(p);
    INFO("log line: " << line);
    CHECK(has_word(line, "RAW"));
    CHECK(has_word(line, "a.txt"));
    CHECK(has_word(line, "6"));
  }
  {
    // %01 decodes to a control character: refused, and logged escaped.
    Socket s = connect_tcp(srv.port);
    uint16_t p = local_port(s);
    s.send_all("GET /a%01b.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(parse_response_text(s.recv_all()).status == 400);
    std::string line = line_for(p);
    INFO("log line: " << line);
    CHECK(has_word(line, "400"));
    CHECK((line.find("\\x01") != std::string::npos || line.find("\\u0001") != std::string::npos ||
           line.find("%01") != std::string::npos));
  }
  {
    // The bare-name protocol with control characters (ESC, BEL, CR inside the name).
    Socket s = connect_tcp(srv.port);
    uint16_t p = local_port(s);
    s.send_all("evil\x1b[2J\x07\rname\n");
    CHECK(s.recv_all().empty());
    CHECK_FALSE(line_for(p).empty());
  }
  const std::string log = srv.proc.stderr_text();
  CHECK(log.find('\x01') == std::string::npos);
  CHECK(log.find('\x1b') == std::string::npos);
  CHECK(log.find('\x07') == std::string::npos);
  CHECK(log.find('\r') == std::string::npos);
}

// ---------------------------------------------------------------- other clients

TEST_CASE("file-serve: wget -O and python http.client (two requests on one connection) get the right bytes",
          "[file][file-serve]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root / "docs");
  write_random_file(root / "docs" / "big.bin", 3 * MiB + 17, 21);
  write_file(root / "docs" / "a.txt", "the notes\n");
  auto srv = start_serve(root);

  const auto out = dir / "wget.bin";
  auto w = run_cmd({"wget", "-q", "-T", "20", "-t", "1", "-O", out.string(), url(srv.port, "/docs/big.bin")});
  INFO("wget stderr: " << w.err);
  REQUIRE(w.code == 0);
  CHECK(sha256_file(out) == sha256_file(root / "docs" / "big.bin"));

  const char* script = R"PY(
import sys, http.client, hashlib
c = http.client.HTTPConnection('127.0.0.1', int(sys.argv[1]), timeout=20)
for path in sys.argv[2:]:
    c.request('GET', path)
    r = c.getresponse()
    body = r.read()
    print(r.status, len(body), hashlib.sha256(body).hexdigest(), r.getheader('Content-Length'))
c.close()
)PY";
  auto py = run_cmd({"python3", "-c", script, std::to_string(srv.port), "/docs/big.bin", "/docs/a.txt"});
  INFO("python stderr: " << py.err);
  REQUIRE(py.code == 0);
  auto lines = split_lines(py.out);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "200 " + std::to_string(3 * MiB + 17) + " " + sha256_file(root / "docs" / "big.bin") + " " +
                        std::to_string(3 * MiB + 17));
  CHECK(lines[1] == "200 10 " + sha256_hex("the notes\n") + " 10");
}

// ---------------------------------------------------------------- bare-name protocol

TEST_CASE("file-serve: bare-name protocol: echo name | nc -N gets the file, missing or escaping names get nothing",
          "[file][file-serve]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root / "docs");
  write_file(root / "docs" / "a.txt", "raw protocol file\n");
  write_random_file(root / "docs" / "big.bin", 5 * MiB, 31);
  write_file(dir / "secret.txt", "CANARY-bare-name-4f1e\n");
  auto srv = start_serve(root);

  auto nc_get = [&](const std::string& line, const fs::path& out) {
    const auto in = dir / "nc-in";
    write_file(in, line);
    return run_cmd({"nc", "-N", "127.0.0.1", std::to_string(srv.port)}, 20s,
                   ProcessOptions().stdin_from(in).stdout_to(out));
  };

  {
    const auto out = dir / "a.out";
    auto r = nc_get("docs/a.txt\n", out);
    INFO("nc stderr: " << r.err);
    CHECK(r.code == 0);
    CHECK(read_file(out) == "raw protocol file\n");
  }
  {
    const auto out = dir / "big.out";
    auto r = nc_get("docs/big.bin\r\n", out);  // CRLF works too
    CHECK(r.code != Process::kTimedOut);
    CHECK(sha256_file(out) == sha256_file(root / "docs" / "big.bin"));
  }
  {
    const auto out = dir / "missing.out";
    auto r = nc_get("docs/nope.txt\n", out);
    CHECK(r.code != Process::kTimedOut);
    CHECK(read_file(out).empty());
  }
  // Without half-closing: the server itself closes at once, with nothing sent.
  for (std::string name : std::vector<std::string>{"docs/nope.txt", "../secret.txt", "docs/../../secret.txt", "/etc/passwd", "..",
                           "docs/../docs/a.txt", ""}) {
    INFO("name '" << name << "'");
    Socket s = connect_tcp(srv.port);
    REQUIRE(s.send_all(name + "\n"));
    ReadEnd how = ReadEnd::Timeout;
    auto t0 = Clock::now();
    std::string got = s.recv_all(5s, &how);
    CHECK(got.empty());
    CHECK(how != ReadEnd::Timeout);
    CHECK(Clock::now() - t0 < 4s);
  }
  require_healthy(srv.port, "/docs/a.txt", "raw protocol file\n");
}

// ---------------------------------------------------------------- security corpus

namespace {

struct Root {
  TempDir dir;
  fs::path root;
  std::string canary;
};

// TEMP/secret.txt and TEMP/outside/ hold the canary; TEMP/root is served and
// holds every kind of trap.
void build_trap_root(Root& r) {
  r.root = r.dir / "root";
  r.canary = "CANARY-" + sha256_hex(random_bytes(16, static_cast<uint64_t>(::getpid()))).substr(0, 24);
  fs::create_directories(r.root / "dir");
  fs::create_directories(r.dir.path() / "outside");
  write_file(r.dir / "secret.txt", r.canary + " secret outside the root\n");
  write_file(r.dir.path() / "outside" / "secret2.txt", r.canary + " secret in a directory outside\n");
  write_file(r.dir.path() / "outside" / (r.canary + ".txt"), "its name is the canary\n");
  write_file(r.root / "a.txt", "inside a\n");
  write_file(r.root / "dir" / "b.txt", "inside b\n");
  write_file(r.root / ".secret", "hidden file\n");
  fs::create_directories(r.root / ".git");
  write_file(r.root / ".git" / "config", "[core]\n\thidden = yes\n");
  write_file(r.root / "dir" / ".hidden", "hidden in dir\n");
  fs::create_directory_symlink(r.dir.path() / "outside", r.root / "link_dir");
  fs::create_symlink("../secret.txt", r.root / "link_out");
  fs::create_symlink(r.dir / "secret.txt", r.root / "link_abs");
  fs::create_symlink("chain2", r.root / "chain1");
  fs::create_symlink("chain3", r.root / "chain2");
  fs::create_symlink("../secret.txt", r.root / "chain3");
  fs::create_symlink("../../secret.txt", r.root / "dir" / "up");
  fs::create_symlink("a.txt", r.root / "link_in");
  fs::create_symlink("dir/b.txt", r.root / "link_in_chain");
  fs::create_symlink("../link_in", r.root / "dir" / "link_back");
  fs::create_symlink("/dev/null", r.root / "devnull");
  fs::create_symlink("/dev/zero", r.root / "zero");
  fs::create_symlink("/etc/passwd", r.root / "passwd");
  fs::create_symlink("/", r.root / "slash");
  fs::create_directories(r.root / "idxdir");
  fs::create_symlink("../../secret.txt", r.root / "idxdir" / "index.html");
  REQUIRE(::mkfifo((r.root / "fifo").c_str(), 0644) == 0);
  // A unix socket file (the socket itself is closed again; the file stays).
  int u = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::string sock_path = (r.root / "sock").string();
  if (u >= 0 && sock_path.size() < sizeof sun.sun_path) {
    std::memcpy(sun.sun_path, sock_path.c_str(), sock_path.size() + 1);
    ::bind(u, reinterpret_cast<sockaddr*>(&sun), sizeof sun);
  }
  if (u >= 0) ::close(u);
}

}  // namespace

TEST_CASE("file-serve: traversal and malformed-path corpus never leaks anything outside the root", "[file][file-serve][security]") {
  Root r;
  build_trap_root(r);
  auto srv = start_serve(r.root);

  using S = std::vector<int>;
  const S k400{400}, k404{404}, k403{403}, kRefused{403, 404}, kBad{400, 404};
  struct Case {
    std::string target;  // request-target, sent verbatim
    S expected;
  };
  const std::vector<Case> corpus{
      // dot-dot, plain and encoded
      {"/../secret.txt", k400},
      {"/../../../../../../etc/passwd", k400},
      {"/%2e%2e/secret.txt", k400},
      {"/%2E%2E/secret.txt", k400},
      {"/.%2e/secret.txt", k400},
      {"/%2e./secret.txt", k400},
      {"/%2e%2e", k400},
      {"/..", k400},
      {"/dir/../../secret.txt", k400},
      {"/dir/%2e%2e/%2e%2e/secret.txt", k400},
      {"/a/./b/../../..", k400},
      {"/a.txt/..", k400},
      // encoded separators and backslashes
      {"/..%2fsecret.txt", k400},
      {"/%2f..", k400},
      {"/%2F..%2Fsecret.txt", k400},
      {"/%2e%2e%2fsecret.txt", k400},
      {"/dir%2fb.txt", k400},
      {"/..%5csecret.txt", k400},
      {"/..\\secret.txt", k400},
      {"/dir\\..\\..\\secret.txt", k400},
      {"/%5c..%5csecret.txt", k400},
      // overlong and invalid UTF-8
      {"/%c0%ae%c0%ae/secret.txt", k400},
      {"/%e0%80%ae%e0%80%ae/secret.txt", k400},
      {"/..%c0%afsecret.txt", k400},
      {"/%c0%af", k400},
      {"/%c1%9c", k400},
      {"/%f0%80%80%ae", k400},
      {"/%ed%a0%80", k400},  // a surrogate
      {"/%ff", k400},
      {"/%u002e%u002e/secret.txt", k400},
      // double encoding: decoded once, it is a literal name that does not exist
      {"/%252e%252e/secret.txt", k404},
      {"/%252e%252e%252fsecret.txt", k404},
      // NUL
      {"/a.txt%00.html", k400},
      {"/a.txt%00", k400},
      {"/%00", k400},
      // absolute paths stay inside the root
      {"//etc/passwd", k404},
      {"/etc/passwd", k404},
      {"///secret.txt", k404},
      {"/./secret.txt", k404},
      {"/secret.txt", k404},
      {"/proc/self/root/etc/passwd", k404},
      {"/%ef%bc%8f..%ef%bc%8fsecret.txt", k404},  // fullwidth solidus: just a name
      // symlinks
      {"/link_out", kRefused},
      {"/link_abs", kRefused},
      {"/link_dir/secret2.txt", kRefused},
      {"/link_dir/", kRefused},
      {"/link_dir", kRefused},
      {"/chain1", kRefused},
      {"/dir/up", kRefused},
      {"/devnull", kRefused},
      {"/zero", kRefused},
      {"/passwd", kRefused},
      {"/slash/etc/passwd", kRefused},
      {"/slash/", kRefused},
      {"/idxdir/index.html", kRefused},
      {"/idxdir/", {200, 403, 404}},  // a listing at most, never the index.html that points out
      // not regular files
      {"/fifo", k403},
      {"/sock", kRefused},
      // hidden
      {"/.git/config", k404},
      {"/.git/", k404},
      {"/.secret", k404},
      {"/dir/.hidden", k404},
      {"/%2esecret", k404},
      {"/..;/secret.txt", k404},
      {"/.../secret.txt", k404},
      // long names
      {"/" + std::string(300, 'a'), {400, 404, 414}},
      {"/" + [] {
         std::string s;
         while (s.size() < 5000) s += "abcdefghi/";
         return s;
       }(),
       {400, 404, 414}},
      // control characters and broken escapes
      {"/a%01b", k400},
      {"/a.txt%0d%0aX-Injected:%20yes", k400},
      {"/%7f", k400},
      {"/%1b[2J", k400},
      {"/%", k400},
      {"/%4", k400},
      {"/%zz", k400},
      {"/a%g1.txt", k400},
      // not origin-form
      {"../secret.txt", k400},
      {"secret.txt", k400},
      {"*", k400},
      {"http://x/../secret.txt", k400},
      {"http://x/%2e%2e/secret.txt", k400},
      {"http://x//etc/passwd", k404},
  };
  REQUIRE(corpus.size() >= 40);

  // A GET of any of these answers promptly; the FIFO must not hang anything.
  for (const auto& c : corpus) {
    INFO("target: " << c.target.substr(0, 120));
    auto t0 = Clock::now();
    auto resp = http_get(srv.port, c.target, "GET", "", 5s);
    INFO("status line: " << resp.status_line << " (ended by " << to_string(resp.end) << ")");
    CHECK(std::find(c.expected.begin(), c.expected.end(), resp.status) != c.expected.end());
    CHECK(resp.raw.find(r.canary) == std::string::npos);
    CHECK(resp.raw.find("root:x:0:0") == std::string::npos);
    CHECK(resp.raw.find("secret outside") == std::string::npos);
    CHECK(resp.end != ReadEnd::Timeout);
    CHECK(Clock::now() - t0 < 4s);
  }
  // The same corpus as HEAD gets the same statuses and no body.
  for (const auto& c : corpus) {
    INFO("HEAD target: " << c.target.substr(0, 120));
    auto resp = http_get(srv.port, c.target, "HEAD", "", 5s);
    CHECK(std::find(c.expected.begin(), c.expected.end(), resp.status) != c.expected.end());
    CHECK(resp.body.empty());
  }
  // Raw requests that are malformed around the target.
  for (std::string req : {std::string("GET /.. /secret.txt HTTP/1.1\r\nHost: x\r\n\r\n"),
                          std::string("GET /a\tb HTTP/1.1\r\nHost: x\r\n\r\n"),
                          std::string("GET /a.txt\x01 HTTP/1.1\r\nHost: x\r\n\r\n"),
                          std::string("GET\t/../secret.txt HTTP/1.1\r\nHost: x\r\n\r\n"),
                          std::string("GET /a.txt HTTP/1.1\r\nHost: x\r\nX: a") + '\0' + "b\r\n\r\n"}) {
    INFO("request: " << req.substr(0, 40));
    auto resp = raw_exchange(srv.port, req, 5s);
    CHECK(resp.raw.find(r.canary) == std::string::npos);
    CHECK(resp.status != 200);
    CHECK(resp.end != ReadEnd::Timeout);
  }

  // Inside the root, symlinks are fine.
  require_healthy(srv.port, "/link_in", "inside a\n");
  require_healthy(srv.port, "/link_in_chain", "inside b\n");
  require_healthy(srv.port, "/dir/link_back", "inside a\n");
  // A query string is not part of the path.
  require_healthy(srv.port, "/a.txt?v=1", "inside a\n");
  require_healthy(srv.port, "/a.txt?../../secret.txt", "inside a\n");
  // After a FIFO request the next one is answered at once.
  CHECK(http_get(srv.port, "/fifo", "GET", "", 5s).status == 403);
  auto t0 = Clock::now();
  require_healthy(srv.port, "/a.txt", "inside a\n");
  CHECK(Clock::now() - t0 < 4s);
  // The listing of the root never shows hidden files nor anything outside.
  auto listing = http_get(srv.port, "/");
  CHECK(listing.status == 200);
  CHECK(listing.body.find(".secret") == std::string::npos);
  CHECK(listing.body.find(".git") == std::string::npos);
  CHECK(listing.body.find(r.canary) == std::string::npos);

  // The same names over the bare-name protocol: nothing, and a prompt close.
  for (std::string name : std::vector<std::string>{"../secret.txt", "..\\secret.txt", "dir/../../secret.txt", "/etc/passwd", "//etc/passwd",
                           "%2e%2e/secret.txt", "link_out", "link_abs", "link_dir/secret2.txt", "chain1", "dir/up",
                           "devnull", "zero", "passwd", "slash/etc/passwd", "fifo", "sock", ".secret", ".git/config",
                           "dir", "dir/", std::string(300, 'a'), std::string("a.txt\0.html", 11)}) {
    INFO("bare name: " << name);
    Socket s = connect_tcp(srv.port);
    REQUIRE(s.send_all(name + "\n"));
    ReadEnd how = ReadEnd::Timeout;
    std::string got = s.recv_all(5s, &how);
    CHECK(got.empty());
    CHECK(how != ReadEnd::Timeout);
  }
  // ...while the bare-name protocol still works for a good name, through an inside link too.
  {
    Socket s = connect_tcp(srv.port);
    s.send_all("link_in\n");
    CHECK(s.recv_all(5s) == "inside a\n");
  }

  require_healthy(srv.port, "/a.txt", "inside a\n");
  require_healthy(srv.port, "/dir/b.txt", "inside b\n");
  CHECK(srv.proc.running());
}

TEST_CASE("file-serve: --allow-hidden serves dot files but still refuses traversal", "[file][file-serve][security]") {
  Root r;
  build_trap_root(r);
  auto srv = start_serve(r.root, {"--allow-hidden"});
  CHECK(http_get(srv.port, "/.secret").body == "hidden file\n");
  CHECK(http_get(srv.port, "/.git/config").status == 200);
  CHECK(http_get(srv.port, "/dir/.hidden").status == 200);
  auto listing = http_get(srv.port, "/");
  CHECK(listing.body.find(".secret") != std::string::npos);
  for (std::string target : {"/../secret.txt", "/%2e%2e/secret.txt", "/.%2e/secret.txt", "/link_out", "/chain1",
                             "/link_dir/secret2.txt"}) {
    INFO(target);
    auto resp = http_get(srv.port, target);
    CHECK(resp.status >= 400);
    CHECK(resp.raw.find(r.canary) == std::string::npos);
  }
  Socket s = connect_tcp(srv.port);
  s.send_all(".secret\n");
  CHECK(s.recv_all(5s) == "hidden file\n");
}

// ---------------------------------------------------------------- load

TEST_CASE("file-serve: 200 concurrent downloads of 1 B..4 MiB are intact despite a stalled reader and a quitter",
          "[file][file-serve][load]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  const std::vector<size_t> sizes{1, 100, 4096, 65537, 300 * KiB, 1 * MiB, 2 * MiB + 3, 3 * MiB, 4 * MiB};
  std::vector<std::string> sums;
  for (size_t i = 0; i < sizes.size(); ++i) {
    write_random_file(root / ("f" + std::to_string(i)), sizes[i], 500 + i);
    sums.push_back(sha256_file(root / ("f" + std::to_string(i))));
  }
  {
    // 64 MiB for the reader that stalls.
    std::ofstream(root / "huge.bin").close();
    fs::resize_file(root / "huge.bin", 64 * MiB);
  }
  write_file(root / "a.txt", "still here\n");
  auto srv = start_serve(root);

  // A client that asks for 64 MiB and never reads.
  Socket stalled = connect_tcp(srv.port);
  REQUIRE(stalled.send_all("GET /huge.bin HTTP/1.1\r\nHost: x\r\n\r\n"));
  // Wait until the server is actually sending to it.
  std::string first;
  REQUIRE(stalled.recv_until(first, "\r\n\r\n"));

  constexpr int kClients = 200;
  struct Result {
    int status = 0;
    bool intact = false;
    std::string error;
  };
  std::vector<Result> results(kClients);
  {
    std::vector<std::jthread> threads;
    for (int i = 0; i < kClients; ++i) {
      threads.emplace_back([&, i] {
        size_t f = static_cast<size_t>(i) % sizes.size();
        Socket s = try_connect_tcp(srv.port, "127.0.0.1", 20s);
        if (!s.valid()) {
          results[i].error = "connect failed";
          return;
        }
        if (!s.send_all("GET /f" + std::to_string(f) + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 20s)) {
          results[i].error = "send failed";
          return;
        }
        ReadEnd how = ReadEnd::Timeout;
        auto resp = parse_response_text(s.recv_all(60s, &how), how);
        results[i].status = resp.status;
        results[i].intact = resp.body.size() == sizes[f] && sha256_hex(resp.body) == sums[f];
        if (!results[i].intact) results[i].error = "ended by " + std::string(to_string(how)) + " after " +
                                                   std::to_string(resp.body.size()) + " body bytes";
      });
    }
  }
  int ok = 0;
  for (int i = 0; i < kClients; ++i) {
    INFO("client " << i << ": " << results[i].error);
    CHECK(results[i].status == 200);
    CHECK(results[i].intact);
    ok += results[i].intact;
  }
  CHECK(ok == kClients);

  // The stalled client is still connected, and it can still read its file whole.
  {
    std::string rest = first.substr(first.find("\r\n\r\n") + 4);
    ReadEnd how = ReadEnd::Timeout;
    std::string more = stalled.recv_exact(64 * MiB - rest.size(), 30s, &how);
    CHECK(rest.size() + more.size() == 64 * MiB);
    CHECK(more.find_first_not_of('\0') == std::string::npos);
  }

  // Clients that vanish in the middle of a body leave the server healthy.
  for (int i = 0; i < 5; ++i) {
    Socket quitter = connect_tcp(srv.port);
    REQUIRE(quitter.send_all("GET /huge.bin HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::string got = quitter.recv_exact(1 * MiB + static_cast<size_t>(i) * 12345);
    CHECK(got.size() == 1 * MiB + static_cast<size_t>(i) * 12345);
    quitter.close();  // unread data: the kernel sends a reset
    require_healthy(srv.port, "/a.txt", "still here\n");
  }
  require_healthy(srv.port, "/f3", read_file(root / "f3"));
  CHECK(srv.proc.running());
}

// ---------------------------------------------------------------- limits

TEST_CASE("file-serve: --max-connections 2 answers a third connection with 503", "[file][file-serve][limits]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  write_file(root / "a.txt", "hello\n");
  auto srv = start_serve(root, {"--max-connections", "2"});

  Socket c1 = connect_tcp(srv.port);
  Socket c2 = connect_tcp(srv.port);
  REQUIRE(keepalive_get(c1, "/a.txt").status == 200);
  REQUIRE(keepalive_get(c2, "/a.txt").status == 200);

  Socket c3 = connect_tcp(srv.port);
  ReadEnd how = ReadEnd::Timeout;
  auto third = parse_response_text(c3.recv_all(5s, &how), how);
  CHECK(third.status == 503);
  CHECK(how != ReadEnd::Timeout);

  // Real clients, which send their request at once, see the 503 too.
  for (int i = 0; i < 3; ++i) {
    auto c = curl({"-o", "/dev/null", "-w", "%{http_code}", url(srv.port, "/a.txt")});
    CHECK(c.out == "503");
  }

  // The first two still work.
  CHECK(keepalive_get(c1, "/a.txt").body == "hello\n");
  CHECK(keepalive_get(c2, "/a.txt").body == "hello\n");

  // Once one leaves, a new client gets in.
  c1.close();
  bool served = eventually(
      [&] {
        auto r = http_get(srv.port, "/a.txt", "GET", "", 5s);
        if (r.status == 200) return true;
        std::this_thread::sleep_for(50ms);
        return false;
      },
      10s);
  CHECK(served);
}

TEST_CASE("file-serve: --allow 10.0.0.0/8 refuses 127.0.0.1, and so does --deny 127.0.0.0/8", "[file][file-serve][limits]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  write_file(root / "a.txt", "hello\n");
  for (std::vector<std::string> rule : {std::vector<std::string>{"--allow", "10.0.0.0/8"},
                                        std::vector<std::string>{"--deny", "127.0.0.0/8"}}) {
    INFO(rule[0] << " " << rule[1]);
    auto srv = start_serve(root, rule);
    Socket s = try_connect_tcp(srv.port);
    if (s.valid()) {
      s.send_all("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
      ReadEnd how = ReadEnd::Timeout;
      std::string got = s.recv_all(5s, &how);
      CHECK(got.empty());
      CHECK(how != ReadEnd::Timeout);
    }
    CHECK(srv.proc.wait_stderr_contains("refused"));
    CHECK(log_lines_with(srv.proc.stderr_text(), " GET /a.txt ").empty());
  }
  // The positive case, so the refusal above is the rule's doing.
  auto open = start_serve(root, {"--allow", "127.0.0.0/8"});
  require_healthy(open.port, "/a.txt", "hello\n");
}

TEST_CASE("file-serve: --idle-timeout 500ms closes idle keep-alive connections and drops a slowloris",
          "[file][file-serve][limits]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  write_file(root / "a.txt", "hello\n");
  write_random_file(root / "b.bin", 64 * KiB, 41);
  std::ofstream(root / "huge.bin").close();
  fs::resize_file(root / "huge.bin", 64 * MiB);
  auto srv = start_serve(root, {"--idle-timeout", "500ms"});

  // Idle keep-alive connection: open right after a response, closed soon after.
  {
    Socket k = connect_tcp(srv.port);
    REQUIRE(keepalive_get(k, "/a.txt").body == "hello\n");
    auto answered = Clock::now();
    ReadEnd how = ReadEnd::Timeout;
    CHECK(k.recv_some(100ms, &how).empty());
    // Still open right after the response (keep-alive), unless this thread was
    // held up long enough for the idle timeout to pass legitimately.
    if (Clock::now() - answered < 400ms) CHECK(how == ReadEnd::Timeout);
    std::string rest = k.recv_all(10s, &how);
    CHECK(rest.empty());
    CHECK(how != ReadEnd::Timeout);  // EOF (or reset) from the server
  }
  // Each request moves the deadline: a client asking every 250 ms keeps its
  // connection well past the first 500 ms (the timer, armed once, finds the
  // deadline moved and waits out the rest).
  {
    Socket k = connect_tcp(srv.port);
    auto last = Clock::now();
    bool prompt = true;  // this thread was never held up near the timeout itself
    for (int i = 0; i < 6; ++i) {
      if (i > 0) std::this_thread::sleep_for(250ms);
      prompt = prompt && Clock::now() - last < 400ms;
      auto r = keepalive_get(k, "/a.txt");
      if (!prompt) break;
      INFO("request " << i);
      REQUIRE(r.body == "hello\n");
      last = Clock::now();
    }
  }
  // A connection that never sends anything is closed too.
  {
    Socket silent = connect_tcp(srv.port);
    ReadEnd how = ReadEnd::Timeout;
    CHECK(silent.recv_all(10s, &how).empty());
    CHECK(how != ReadEnd::Timeout);
  }

  // A client that asks for a big file and stops reading is dropped as well.
  {
    Socket stalled = connect_tcp(srv.port);
    REQUIRE(stalled.send_all("GET /huge.bin HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::string head;
    REQUIRE(stalled.recv_until(head, "\r\n\r\n"));
    std::this_thread::sleep_for(2s);  // never reading meanwhile
    ReadEnd how = ReadEnd::Timeout;
    std::string rest = stalled.recv_all(20s, &how);
    INFO("stalled client got " << head.size() + rest.size() << " bytes, ended by " << to_string(how));
    CHECK(how != ReadEnd::Timeout);
    CHECK(head.size() + rest.size() < 64 * MiB);
    CHECK(srv.proc.wait_stderr_contains("stopped reading"));
  }

  // Slowloris: one byte every 200 ms of a request head that never ends.
  std::atomic<bool> dropped{false};
  std::atomic<size_t> sent_bytes{0};
  std::string slow_request = "GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(200, 's');
  std::jthread slowloris([&] {
    Socket s = try_connect_tcp(srv.port);
    if (!s.valid()) return;
    auto deadline = Clock::now() + 15s;
    for (char c : slow_request) {
      if (Clock::now() > deadline) return;
      if (!s.send_all(std::string_view(&c, 1), 1s)) {
        dropped = true;
        return;
      }
      ++sent_bytes;
      ReadEnd how = ReadEnd::Timeout;
      std::string got = s.recv_some(200ms, &how);
      if (!got.empty() || how != ReadEnd::Timeout) {
        dropped = got.find("200 OK") == std::string::npos;
        return;
      }
    }
  });
  // Meanwhile, ordinary clients are served.
  for (int i = 0; i < 10; ++i) {
    auto r = http_get(srv.port, "/b.bin");
    INFO("ordinary client " << i << ": " << r.status_line << ", " << r.body.size() << " bytes, ended by "
                            << to_string(r.end));
    CHECK(r.status == 200);
    CHECK(r.body.size() == 64 * KiB);
    std::this_thread::sleep_for(100ms);
  }
  slowloris.join();
  INFO("slowloris sent " << sent_bytes << " bytes; server: " << srv.proc.stderr_text());
  CHECK(dropped);
  CHECK(sent_bytes < slow_request.size());
  require_healthy(srv.port, "/a.txt", "hello\n");
}

TEST_CASE("file-serve: a first request is answered even when hashing the file takes longer than --idle-timeout",
          "[file][file-serve][limits]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  // 512 MiB of zeros, sparse: no disk space, but hashing it for Repr-Digest
  // takes far longer than 100 ms. The client is waiting for us, not idle.
  std::ofstream(root / "big.img").close();
  fs::resize_file(root / "big.img", 512 * MiB);
  write_file(root / "a.txt", "hello\n");
  auto srv = start_serve(root, {"--idle-timeout", "100ms"});

  Socket s = connect_tcp(srv.port);
  // The last byte: a range that runs to the end, so it carries the digest of the whole file.
  REQUIRE(s.send_all("GET /big.img HTTP/1.1\r\nHost: x\r\nRange: bytes=-1\r\n\r\n"));
  auto r = read_response(s, false, 60s);
  INFO("server: " << srv.proc.stderr_text());
  CHECK(r.status == 206);
  CHECK(r.header("Content-Range").value_or("") == "bytes " + std::to_string(512 * MiB - 1) + "-" +
                                                      std::to_string(512 * MiB - 1) + "/" + std::to_string(512 * MiB));
  CHECK(r.header("Repr-Digest").value_or("").rfind("sha-256=:", 0) == 0);
  // Idle afterwards, the connection is closed as usual.
  ReadEnd how = ReadEnd::Timeout;
  CHECK(s.recv_all(10s, &how).empty());
  CHECK(how != ReadEnd::Timeout);
  // Other requests meanwhile and afterwards are fine.
  Socket raw = connect_tcp(srv.port);
  REQUIRE(raw.send_all("a.txt\n"));
  CHECK(raw.recv_all(10s) == "hello\n");
}

// ---------------------------------------------------------------- profile and shutdown

TEST_CASE("file-serve: configs/serve.yaml serves the checkout (with --listen overriding)", "[file][file-serve][config]") {
  auto srv = start_listener({"-c", (configs_dir() / "serve.yaml").string(), "--listen", "127.0.0.1:0"});
  const fs::path readme = configs_dir().parent_path() / "README.md";
  auto r = http_get(srv.port, "/README.md");
  INFO("server: " << srv.proc.stderr_text());
  CHECK(r.status == 200);
  CHECK(r.body == read_file(readme));
  CHECK(r.header("Repr-Digest").value_or("") == repr_digest_of(read_file(readme)));
  auto listing = http_get(srv.port, "/configs/");
  CHECK(listing.status == 200);
  CHECK(listing.body.find("serve.yaml") != std::string::npos);
}

// The command line beats the profile, a port included. The profile's port is
// held busy here, so a server that still took it (the old bug) cannot start.
TEST_CASE("file-serve: PORT or --port on the command line overrides the port of the profile's listen",
          "[file][file-serve][config]") {
  TempDir dir;
  fs::create_directories(dir / "root");
  write_file(dir / "root" / "a.txt", "hello\n");
  TcpServer busy;
  const auto profile = dir / "serve.yaml";
  write_file(profile, "command: file-serve\nroot: root\nlisten: 127.0.0.1:" + std::to_string(busy.port()) + "\n");
  for (const std::vector<std::string>& port_args : {std::vector<std::string>{"0"}, std::vector<std::string>{"--port", "0"}}) {
    INFO("command line: -c serve.yaml " << port_args.back());
    std::vector<std::string> args{"-c", profile.string()};
    args.insert(args.end(), port_args.begin(), port_args.end());
    auto srv = start_listener(args);
    INFO("server: " << srv.proc.stderr_text());
    CHECK(srv.address == "127.0.0.1");  // the profile's address is kept
    CHECK(srv.port != busy.port());
    CHECK(http_get(srv.port, "/a.txt").body == "hello\n");
    CHECK(srv.proc.stderr_text().find("overrides the profile's listen: 127.0.0.1:") != std::string::npos);
  }
  SECTION("a profile's Unix socket is not turned into a TCP port: usage error") {
    const auto socket_path = dir / "files.sock";
    write_file(profile, "command: file-serve\nroot: root\nlisten: unix:" + socket_path.string() + "\n");
    auto r = run_nettool({"-c", profile.string(), "--port", "0"}, {}, kUsageTimeout);
    INFO("stderr: " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("has no port: a PORT cannot change it") != std::string::npos);
    CHECK_FALSE(fs::exists(fs::symlink_status(socket_path)));
  }
  SECTION("--listen on the command line beats the profile's port") {
    write_file(profile, "command: file-serve\nroot: root\nport: " + std::to_string(busy.port()) + "\n");
    auto srv = start_listener({"-c", profile.string(), "--listen", "127.0.0.1:0"});
    INFO("server: " << srv.proc.stderr_text());
    CHECK(srv.port != busy.port());
    CHECK(http_get(srv.port, "/a.txt").body == "hello\n");
  }
}

TEST_CASE("file-serve: a profile read from a pipe takes its relative paths from the current directory",
          "[file][file-serve][config]") {
  // `-c <(envsubst < tpl.yaml)`: the profile's name is /dev/fd/N, which is no
  // folder to read `root: www` from (it once looked for /dev/fd/www).
  TempDir dir;
  fs::create_directories(dir / "www");
  write_file(dir / "www" / "a.txt", "from the pipe's profile\n");
  auto srv = start_listener_argv(
      {"bash", "-c", "cd \"$1\" && exec \"$2\" -c <(printf 'command: file-serve\\nroot: www\\nlisten: 127.0.0.1:0\\n')",
       "bash", dir.path().string(), nettool_path().string()});
  INFO("server: " << srv.proc.stderr_text());
  CHECK(http_get(srv.port, "/a.txt").body == "from the pipe's profile\n");
}

TEST_CASE("file-serve: --listen and PORT from the same place are a usage error (exit 2) naming both",
          "[file][file-serve][config]") {
  TempDir dir;
  for (const std::vector<std::string>& port_args : {std::vector<std::string>{"45000"}, std::vector<std::string>{"--port", "45000"}}) {
    INFO("--listen 127.0.0.1:0 " << port_args.front());
    std::vector<std::string> args{"file-serve", "--root", dir.path().string(), "--listen", "127.0.0.1:0"};
    args.insert(args.end(), port_args.begin(), port_args.end());
    auto r = run_nettool(args, {}, kUsageTimeout);
    INFO("stderr: " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--listen and PORT (--port) exclude each other") != std::string::npos);
  }
  const auto profile = dir / "serve.yaml";
  write_file(profile, "command: file-serve\nroot: .\nlisten: 127.0.0.1:0\nport: 45000\n");
  auto r = run_nettool({"-c", profile.string()}, {}, kUsageTimeout);
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("listen: and port: exclude each other") != std::string::npos);
}

// python3 -m http.server -b ADDR -d DIR PORT, typed to file-serve.
TEST_CASE("file-serve: python3 -m http.server's -b ADDR and -d DIR work as typed", "[file][file-serve][config]") {
  TempDir dir;
  fs::create_directories(dir / "www");
  fs::create_directories(dir / "other");
  write_file(dir / "www" / "a.txt", "from www\n");
  write_file(dir / "other" / "a.txt", "from other\n");
  SECTION("-b 127.0.0.1 -d DIR PORT") {
    auto srv = start_listener({"file-serve", "-b", "127.0.0.1", "-d", (dir / "www").string(), "0"});
    INFO("server: " << srv.proc.stderr_text());
    CHECK(srv.address == "127.0.0.1");
    CHECK(http_get(srv.port, "/a.txt").body == "from www\n");
  }
  SECTION("--bind ::1 --directory DIR --port 0") {
    if (!ipv6_loopback_available()) {
      WARN("no IPv6 loopback here: --bind ::1 not tried");
      return;
    }
    auto srv = start_listener({"file-serve", "--bind", "::1", "--directory", (dir / "www").string(), "--port", "0"});
    INFO("server: " << srv.proc.stderr_text());
    CHECK(srv.address == "[::1]");
  }
  SECTION("on the command line they beat the profile's listen: and root:") {
    TcpServer busy;  // the profile's port: a server that still took it could not start
    const auto profile = dir / "serve.yaml";
    write_file(profile, "command: file-serve\nroot: other\nlisten: 127.0.0.1:" + std::to_string(busy.port()) + "\n");
    auto srv = start_listener({"-c", profile.string(), "-b", "127.0.0.1", "-d", (dir / "www").string(), "0"});
    INFO("server: " << srv.proc.stderr_text());
    CHECK(srv.port != busy.port());
    CHECK(http_get(srv.port, "/a.txt").body == "from www\n");
  }
  SECTION("-b alone replaces the address of the profile's listen: and keeps its port") {
    const uint16_t port = pick_free_port();
    const auto profile = dir / "serve.yaml";
    write_file(profile, "command: file-serve\nroot: www\nlisten: 0.0.0.0:" + std::to_string(port) + "\n");
    auto srv = start_listener({"-c", profile.string(), "-b", "127.0.0.1"});
    INFO("server: " << srv.proc.stderr_text());
    CHECK(srv.address == "127.0.0.1");
    CHECK(srv.port == port);
    CHECK(http_get(srv.port, "/a.txt").body == "from www\n");
  }
  SECTION("with their long spellings from the same place, or a Unix socket, they are a usage error") {
    const std::string root = (dir / "www").string();
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"file-serve", "-d", root, "-r", root, "0"},
          std::vector<std::string>{"file-serve", "-b", "127.0.0.1", "--listen", "127.0.0.1:0"},
          std::vector<std::string>{"file-serve", "-b", "unix:" + (dir / "s.sock").string(), "0"}}) {
      auto r = run_nettool(args, {}, kUsageTimeout);
      INFO("nettool " << args[1] << " " << args[2] << ": " << r.err);
      CHECK(r.exit_code == 2);
      CHECK((r.err.find("exclude each other") != std::string::npos ||
             r.err.find("for a Unix socket: --listen unix:/PATH") != std::string::npos));
    }
  }
}

TEST_CASE("file-serve: SIGTERM with --grace 2s stops accepting, finishes the transfer in flight, then exits",
          "[file][file-serve][shutdown]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  write_random_file(root / "big.bin", 32 * MiB, 51);
  write_file(root / "a.txt", "hello\n");
  const std::string expected = sha256_file(root / "big.bin");

  SECTION("the transfer completes within the grace period: exit 0, all bytes delivered") {
    auto srv = start_serve(root, {"--grace", "2s"});
    Socket s = connect_tcp(srv.port);
    REQUIRE(s.send_all("GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::string got;
    REQUIRE(s.recv_until(got, "\r\n\r\n"));
    got += s.recv_exact(64 * KiB);  // the body is flowing; now we pause
    srv.proc.signal(SIGTERM);
    REQUIRE(srv.proc.wait_stderr_contains("SIGTERM"));
    // No new connections.
    CHECK(eventually([&] { return !try_connect_tcp(srv.port, "127.0.0.1", 1s).valid(); }, 5s));
    ReadEnd how = ReadEnd::Timeout;
    got += s.recv_all(20s, &how);
    s.close();
    auto resp = parse_response_text(got, how);
    CHECK(resp.status == 200);
    CHECK(resp.body.size() == 32 * MiB);
    CHECK(sha256_hex(resp.body) == expected);
    int code = srv.proc.wait(10s);
    INFO("server: " << srv.proc.stderr_text());
    CHECK(code == 0);
  }

  SECTION("the client stalls: the server exits when the grace period ends") {
    auto srv = start_serve(root, {"--grace", "2s"});
    Socket s = connect_tcp(srv.port);
    REQUIRE(s.send_all("GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::string got;
    REQUIRE(s.recv_until(got, "\r\n\r\n"));
    // An idle keep-alive client is closed at once on SIGTERM.
    Socket idle = connect_tcp(srv.port);
    REQUIRE(keepalive_get(idle, "/a.txt").status == 200);
    auto t0 = Clock::now();
    srv.proc.signal(SIGTERM);
    CHECK(eventually([&] { return !try_connect_tcp(srv.port, "127.0.0.1", 1s).valid(); }, 5s));
    ReadEnd idle_end = ReadEnd::Timeout;
    CHECK(idle.recv_all(5s, &idle_end).empty());
    CHECK(idle_end != ReadEnd::Timeout);
    int code = srv.proc.wait(15s);
    auto waited = Clock::now() - t0;
    INFO("server: " << srv.proc.stderr_text());
    CHECK(code != Process::kTimedOut);
    CHECK(code == 1);             // the grace period ran out with a transfer unfinished
    CHECK(waited >= 1500ms);      // it did wait for the transfer in flight
    CHECK(srv.proc.stderr_text().find("grace") != std::string::npos);
  }

  SECTION("a second signal stops at once, whatever the grace period") {
    auto srv = start_serve(root, {"--grace", "60s"});
    Socket s = connect_tcp(srv.port);
    REQUIRE(s.send_all("GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::string got;
    REQUIRE(s.recv_until(got, "\r\n\r\n"));
    srv.proc.signal(SIGTERM);
    REQUIRE(srv.proc.wait_stderr_contains("SIGTERM"));
    CHECK(srv.proc.running());  // waiting for the stalled transfer
    srv.proc.signal(SIGTERM);
    int code = srv.proc.wait(10s);
    INFO("server: " << srv.proc.stderr_text());
    CHECK(code == 1);
    ReadEnd how = ReadEnd::Timeout;
    std::string rest = s.recv_all(10s, &how);
    CHECK(how != ReadEnd::Timeout);
    CHECK(got.size() + rest.size() < 32 * MiB);
  }
}

// ---------------------------------------------------------------- IPv6 and descriptors

TEST_CASE("file-serve: on [::1] for curl, and the access log shows the IPv6 client", "[file][file-serve]") {
  if (!ipv6_loopback_available()) {
    WARN("no IPv6 loopback here; skipped");
    return;
  }
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  write_random_file(root / "f.bin", 100000, 61);
  auto srv = start_listener({"file-serve", "--root", root.string(), "--listen", "[::1]:0"});
  const auto out = dir / "out";
  auto r = curl({"-g", "-o", out.string(), "-w", "%{http_code}", "http://[::1]:" + std::to_string(srv.port) + "/f.bin"});
  INFO("curl: " << r.err);
  CHECK(r.out == "200");
  CHECK(sha256_file(out) == sha256_file(root / "f.bin"));
  REQUIRE(srv.proc.wait_stderr_contains(" /f.bin "));
  auto lines = log_lines_with(srv.proc.stderr_text(), " /f.bin ");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find("[::1]:") != std::string::npos);
  // Bound to ::1 only: nothing on 127.0.0.1 at that port.
  CHECK_FALSE(try_connect_tcp(srv.port, "127.0.0.1", 2s).valid());
}

TEST_CASE("file-serve: out of file descriptors it pauses accepting, then serves the clients that waited",
          "[file][file-serve][limits]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  write_file(root / "a.txt", "hello\n");
  // A small descriptor limit, set in a shell that then becomes nettool.
  Process p({"sh", "-c", "ulimit -n 40 && exec \"$@\"", "sh", nettool_path().string(), "file-serve", "--root",
             root.string(), "--listen", "127.0.0.1:0"});
  REQUIRE(p.wait_stderr_contains("listening on 127.0.0.1:"));
  std::string err = p.stderr_text();
  auto at = err.find("listening on 127.0.0.1:") + std::string("listening on 127.0.0.1:").size();
  const uint16_t port = static_cast<uint16_t>(std::stoul(err.substr(at)));

  // More idle connections than descriptors.
  std::vector<Socket> hogs;
  for (int i = 0; i < 60; ++i) {
    Socket s = try_connect_tcp(port, "127.0.0.1", 2s);
    if (s.valid()) hogs.push_back(std::move(s));
  }
  REQUIRE(p.wait_stderr_contains("pausing new connections"));

  // It does not spin meanwhile: little CPU time over 1.5 s.
  auto cpu_ticks = [&]() -> long {
    std::string stat = read_file("/proc/" + std::to_string(p.pid()) + "/stat");
    auto close_paren = stat.rfind(')');
    auto w = words(stat.substr(close_paren + 2));
    return w.size() > 12 ? std::stol(w[11]) + std::stol(w[12]) : 0;  // utime + stime
  };
  long before = cpu_ticks();
  std::this_thread::sleep_for(1500ms);
  long used = cpu_ticks() - before;
  long hz = sysconf(_SC_CLK_TCK);
  CHECK(used < hz * 3 / 4);  // a busy loop would burn ~1.5 s of CPU here

  // A client that waits in the backlog is served once descriptors free up.
  Socket waiting = connect_tcp(port);
  REQUIRE(waiting.send_all("GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  hogs.clear();
  ReadEnd how = ReadEnd::Timeout;
  auto resp = parse_response_text(waiting.recv_all(15s, &how), how);
  CHECK(resp.status == 200);
  CHECK(resp.body == "hello\n");
  CHECK(p.running());
  auto again = http_get(port, "/a.txt");
  CHECK(again.body == "hello\n");
}
