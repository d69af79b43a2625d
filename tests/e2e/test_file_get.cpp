// file-get against file-serve, against python's http.server, and against tiny
// python servers that misbehave on purpose (wrong Repr-Digest, short body,
// chunked encoding). The rule checked everywhere: exit 0 and a verified file
// under the final name, or exit 1 and nothing under the final name.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <thread>

#include "file_test_util.h"
#include "harness.h"

using namespace e2e;
using namespace filetest;

namespace {

using Clock = std::chrono::steady_clock;

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s.empty() ? "(nothing)" : s;
}

// `python3 -m http.server --bind 127.0.0.1 PORT` serving `dir`, on a port we
// picked (bind 0, close, hand it over); another attempt when it was taken.
struct PythonHttp {
  std::optional<Process> proc;
  uint16_t port = 0;
};

PythonHttp start_python_http(const fs::path& dir) {
  std::string last_error;
  for (int attempt = 0; attempt < 8; ++attempt) {
    uint16_t port = pick_free_port();
    Process p({"python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory", dir.string(), std::to_string(port)});
    bool listening = eventually([&] { return !p.running() || wait_port_listening(port, Ms(0)); }, kStartTimeout);
    if (listening && p.running()) {
      // Make sure the listener is this python (not someone who took the port).
      auto probe = http_get(port, "/", "GET", "", 5s);
      if (probe.header("Server").value_or("").find("SimpleHTTP") != std::string::npos) {
        PythonHttp out;
        out.proc.emplace(std::move(p));
        out.port = port;
        return out;
      }
    }
    last_error = p.stderr_text();
  }
  throw std::runtime_error("python3 -m http.server did not start: " + last_error);
}

// A tiny HTTP/1.1 server that misbehaves on purpose, serving the bytes of
// argv[1] under several paths:
//   /wrong-digest.bin   correct body, Repr-Digest of something else
//   /short.bin          Content-Length of the whole, half the body, close
//   /chunked.bin        Transfer-Encoding: chunked, odd chunk sizes, no digest
//   /chunked-digest.bin the same with the right Repr-Digest
//   /chunked-wrong.bin  the same with a wrong Repr-Digest
//   /chunked-cut.bin    chunked, the connection closes before the last chunk
//   /good.bin           Content-Length and the right Repr-Digest
//   /stall.bin          Content-Length and digest of the whole, half the body,
//                       then nothing for a minute (the connection stays open)
// It binds 127.0.0.1:0 itself and prints the port on stdout.
constexpr const char* kOddServer = R"PY(
import sys, hashlib, base64, http.server, time
data = open(sys.argv[1], 'rb').read()
def digest(b): return 'sha-256=:' + base64.b64encode(hashlib.sha256(b).digest()).decode() + ':'
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def log_message(self, fmt, *args): sys.stderr.write((fmt % args) + '\n')
    def head(self, status, fields):
        self.send_response(status)
        for k, v in fields: self.send_header(k, v)
        self.send_header('Connection', 'close')
        self.end_headers()
    def chunked(self, body, cut=False):
        sizes = [1, 7, 4096, 65536, 100000, 3]
        pos, i = 0, 0
        while pos < len(body):
            n = min(sizes[i % len(sizes)], len(body) - pos); i += 1
            self.wfile.write(b'%x;ext=1\r\n' % n + body[pos:pos + n] + b'\r\n')
            pos += n
            if cut and pos > len(body) // 2: return
        self.wfile.write(b'0\r\nX-Trailer: yes\r\n\r\n')
    def do_GET(self):
        self.close_connection = True
        p = self.path.split('?')[0]
        if p == '/wrong-digest.bin':
            self.head(200, [('Content-Length', str(len(data))), ('Repr-Digest', digest(data + b'!'))])
            self.wfile.write(data)
        elif p == '/good.bin':
            self.head(200, [('Content-Length', str(len(data))), ('Repr-Digest', digest(data))])
            self.wfile.write(data)
        elif p == '/stall.bin':
            self.head(200, [('Content-Length', str(len(data))), ('Repr-Digest', digest(data))])
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            time.sleep(60)
        elif p == '/short.bin':
            self.head(200, [('Content-Length', str(len(data))), ('Repr-Digest', digest(data))])
            self.wfile.write(data[:len(data) // 2])
        elif p == '/chunked.bin':
            self.head(200, [('Transfer-Encoding', 'chunked')])
            self.chunked(data)
        elif p == '/chunked-digest.bin':
            self.head(200, [('Transfer-Encoding', 'chunked'), ('Repr-Digest', digest(data))])
            self.chunked(data)
        elif p == '/chunked-wrong.bin':
            self.head(200, [('Transfer-Encoding', 'chunked'), ('Repr-Digest', digest(b'other'))])
            self.chunked(data)
        elif p == '/chunked-cut.bin':
            self.head(200, [('Transfer-Encoding', 'chunked')])
            self.chunked(data, cut=True)
        else:
            self.head(404, [('Content-Length', '0')])
        self.wfile.flush()
srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
)PY";

PythonServer start_odd_server(const fs::path& data_file) { return start_python_server(kOddServer, {data_file.string()}); }

}  // namespace

// ---------------------------------------------------------------- against file-serve

TEST_CASE("file-get: small, empty and 1-byte files from file-serve, HOST PORT NAME and URL forms", "[file][file-get]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root / "docs");
  const std::vector<std::pair<std::string, size_t>> files{
      {"docs/small.bin", 4321}, {"docs/empty.bin", 0}, {"docs/one.bin", 1}, {"docs/mid.bin", 3 * MiB + 1}};
  for (size_t i = 0; i < files.size(); ++i) write_random_file(root / files[i].first, files[i].second, 700 + i);
  auto srv = start_serve(root);
  const auto out_dir = dir / "out";
  fs::create_directories(out_dir);

  int n = 0;
  for (const auto& [name, size] : files) {
    for (bool url_form : {false, true}) {
      INFO(name << (url_form ? " (URL form)" : " (HOST PORT NAME form)"));
      const auto out = out_dir / ("f" + std::to_string(n++));
      auto r = url_form ? file_get({"-o", out.string(), url(srv.port, "/" + name)})
                        : file_get({"-o", out.string(), "127.0.0.1", std::to_string(srv.port), name});
      INFO("file-get stderr: " << r.err);
      REQUIRE(r.code == 0);
      REQUIRE(file_exists(out));
      CHECK(fs::file_size(out) == size);
      CHECK(sha256_file(out) == sha256_file(root / name));
      CHECK_FALSE(file_exists(out.string() + ".part"));
      CHECK(r.out.empty());  // data never goes to stdout with -o FILE
    }
  }
  // As curl and wget do, a URL without its scheme is http://.
  const auto bare = out_dir / "bare";
  auto r = file_get({"-o", bare.string(), "127.0.0.1:" + std::to_string(srv.port) + "/docs/small.bin"});
  INFO("file-get stderr: " << r.err);
  CHECK(r.code == 0);
  CHECK(sha256_file(bare) == sha256_file(root / "docs/small.bin"));
}

TEST_CASE("file-get: 200 MiB from file-serve arrive intact", "[file][file-get][big]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  write_random_file(root / "big.bin", 200 * MiB, 801);
  const std::string expected = sha256_file(root / "big.bin");
  auto srv = start_serve(root);
  const auto out = dir / "big.out";
  auto r = file_get({"-o", out.string(), url(srv.port, "/big.bin")}, 80s);
  INFO("file-get stderr: " << r.err);
  REQUIRE(r.code == 0);
  CHECK(fs::file_size(out) == 200 * MiB);
  CHECK(sha256_file(out) == expected);
  CHECK_FALSE(file_exists(out.string() + ".part"));
}

TEST_CASE("file-get --no-fsync saves the same verified file and renames it into place",
          "[file][file-get]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  write_random_file(root / "f.bin", 24 * MiB + 7, 811);
  const std::string expected = sha256_file(root / "f.bin");
  auto srv = start_serve(root);
  const auto out = dir / "f.out";
  auto r = file_get({"--no-fsync", "-o", out.string(), url(srv.port, "/f.bin")}, 60s);
  INFO("file-get stderr: " << r.err);
  REQUIRE(r.code == 0);
  CHECK(fs::file_size(out) == 24 * MiB + 7);
  CHECK(sha256_file(out) == expected);
  CHECK_FALSE(file_exists(out.string() + ".part"));
}

TEST_CASE("file-get: -o - writes exactly the file to stdout (also with --progress always)", "[file][file-get]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  write_random_file(root / "f.bin", 2 * MiB + 5, 811);
  write_file(root / "empty.txt", "");
  auto srv = start_serve(root);

  for (std::vector<std::string> extra : {std::vector<std::string>{}, std::vector<std::string>{"--progress", "always"},
                                         std::vector<std::string>{"--progress", "never"}}) {
    INFO("extra options: " << joined(extra));
    const auto out = dir / "stdout.bin";
    std::vector<std::string> args{"-o", "-"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(url(srv.port, "/f.bin"));
    auto r = file_get(args, kRunTimeout, ProcessOptions().stdout_to(out));
    INFO("file-get stderr: " << r.err.substr(0, 2000));
    CHECK(r.code == 0);
    CHECK(file_size_or_zero(out) == 2 * MiB + 5);
    CHECK(sha256_file(out) == sha256_file(root / "f.bin"));
  }
  // HOST PORT NAME form and an empty file.
  auto r = file_get({"-o", "-", "127.0.0.1", std::to_string(srv.port), "empty.txt"});
  CHECK(r.code == 0);
  CHECK(r.out.empty());
  // No stray files in the current directory.
  const auto cwd = dir / "cwd";
  fs::create_directories(cwd);
  auto in_cwd = file_get_in(cwd, {"-o", "-", url(srv.port, "/f.bin")});
  CHECK(in_cwd.code == 0);
  CHECK(in_cwd.out.size() == 2 * MiB + 5);
  CHECK(dir_entries(cwd).empty());
}

TEST_CASE("file-get: the default output name is the last segment, in the current directory", "[file][file-get]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root / "docs" / "deep");
  write_file(root / "docs" / "report.txt", "the report\n");
  write_file(root / "docs" / "deep" / "data.bin", random_bytes(10000, 821));
  write_file(root / "docs" / "a b&c.txt", "spaces and ampersand\n");
  auto srv = start_serve(root);

  {
    const auto cwd = dir / "cwd1";
    fs::create_directories(cwd);
    auto r = file_get_in(cwd, {url(srv.port, "/docs/report.txt")});
    INFO("stderr: " << r.err);
    CHECK(r.code == 0);
    CHECK(dir_entries(cwd) == std::vector<std::string>{"report.txt"});
    CHECK(read_file(cwd / "report.txt") == "the report\n");
  }
  {
    const auto cwd = dir / "cwd2";
    fs::create_directories(cwd);
    auto r = file_get_in(cwd, {"127.0.0.1", std::to_string(srv.port), "docs/deep/data.bin"});
    INFO("stderr: " << r.err);
    CHECK(r.code == 0);
    CHECK(dir_entries(cwd) == std::vector<std::string>{"data.bin"});
    CHECK(read_file(cwd / "data.bin") == read_file(root / "docs" / "deep" / "data.bin"));
  }
  {
    // A percent-encoded URL path gives the decoded name; HOST PORT NAME takes the name literally.
    const auto cwd = dir / "cwd3";
    fs::create_directories(cwd);
    auto r = file_get_in(cwd, {url(srv.port, "/docs/a%20b%26c.txt")});
    INFO("stderr: " << r.err);
    CHECK(r.code == 0);
    CHECK(dir_entries(cwd) == std::vector<std::string>{"a b&c.txt"});
    const auto cwd4 = dir / "cwd4";
    fs::create_directories(cwd4);
    auto r2 = file_get_in(cwd4, {"127.0.0.1", std::to_string(srv.port), "docs/a b&c.txt"});
    INFO("stderr: " << r2.err);
    CHECK(r2.code == 0);
    CHECK(dir_entries(cwd4) == std::vector<std::string>{"a b&c.txt"});
    CHECK(read_file(cwd4 / "a b&c.txt") == "spaces and ampersand\n");
  }
}

TEST_CASE("file-get: 404 exits 1 and leaves no file", "[file][file-get]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  write_file(root / "a.txt", "a\n");
  auto srv = start_serve(root);
  auto py = start_python_http(root);

  for (uint16_t port : {srv.port, py.port}) {
    INFO("server port " << port << (port == py.port ? " (python)" : " (file-serve)"));
    const auto cwd = dir / ("cwd" + std::to_string(port));
    fs::create_directories(cwd);
    auto r1 = file_get_in(cwd, {url(port, "/missing.txt")});
    CHECK(r1.code == 1);
    auto r2 = file_get_in(cwd, {"127.0.0.1", std::to_string(port), "missing2.txt"});
    CHECK(r2.code == 1);
    auto r3 = file_get_in(cwd, {"-o", "named.out", url(port, "/missing.txt")});
    CHECK(r3.code == 1);
    INFO("stderr: " << r1.err << r2.err << r3.err);
    CHECK(r1.err.find("404") != std::string::npos);
    CHECK(dir_entries(cwd).empty());
  }
  // A refused connection: exit 1, no file either.
  const auto cwd = dir / "refused";
  fs::create_directories(cwd);
  ClosedPort closed;
  REQUIRE(hold_closed_port(pick_free_port(), closed));
  auto r = file_get_in(cwd, {"--timeout", "5s", url(closed.port, "/a.txt")});
  CHECK(r.code == 1);
  CHECK(dir_entries(cwd).empty());
}

TEST_CASE("file-get --raw speaks the bare-name protocol to file-serve", "[file][file-get]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root / "docs");
  write_file(root / "docs" / "a.txt", "raw bytes\n");
  write_random_file(root / "docs" / "big.bin", 5 * MiB + 3, 831);
  auto srv = start_serve(root);

  const auto out = dir / "a.out";
  auto r = file_get({"--raw", "-o", out.string(), "127.0.0.1", std::to_string(srv.port), "docs/a.txt"});
  INFO("stderr: " << r.err);
  CHECK(r.code == 0);
  CHECK(read_file(out) == "raw bytes\n");
  CHECK_FALSE(file_exists(out.string() + ".part"));
  // The server saw the bare-name protocol, not HTTP.
  CHECK(srv.proc.wait_stderr_contains("RAW docs/a.txt"));

  const auto big = dir / "big.out";
  auto rb = file_get({"--raw", "-o", big.string(), "127.0.0.1", std::to_string(srv.port), "docs/big.bin"});
  CHECK(rb.code == 0);
  CHECK(sha256_file(big) == sha256_file(root / "docs" / "big.bin"));

  auto to_stdout = file_get({"--raw", "-o", "-", "127.0.0.1", std::to_string(srv.port), "docs/a.txt"});
  CHECK(to_stdout.code == 0);
  CHECK(to_stdout.out == "raw bytes\n");

  // Missing and refused names: the server closes with nothing; exit 1, no file.
  const auto cwd = dir / "cwd";
  fs::create_directories(cwd);
  for (std::string name : {"docs/missing.txt", "../root/docs/a.txt"}) {
    INFO("name " << name);
    auto m = file_get_in(cwd, {"--raw", "-o", "got", "127.0.0.1", std::to_string(srv.port), name});
    CHECK(m.code == 1);
    CHECK(dir_entries(cwd).empty());
  }
}

// ---------------------------------------------------------------- against python -m http.server

TEST_CASE("file-get: small, empty and 1-byte files from python -m http.server", "[file][file-get][python]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root / "sub");
  const std::vector<std::pair<std::string, size_t>> files{
      {"small.bin", 999}, {"empty.bin", 0}, {"one.bin", 1}, {"sub/mid.bin", 2 * MiB + 7}};
  for (size_t i = 0; i < files.size(); ++i) write_random_file(root / files[i].first, files[i].second, 900 + i);
  auto py = start_python_http(root);

  int n = 0;
  for (const auto& [name, size] : files) {
    for (bool url_form : {false, true}) {
      INFO(name << (url_form ? " (URL form)" : " (HOST PORT NAME form)"));
      const auto out = dir / ("py" + std::to_string(n++));
      auto r = url_form ? file_get({"-o", out.string(), url(py.port, "/" + name)})
                        : file_get({"-o", out.string(), "127.0.0.1", std::to_string(py.port), name});
      INFO("file-get stderr: " << r.err);
      REQUIRE(r.code == 0);
      CHECK(file_size_or_zero(out) == size);
      CHECK(sha256_file(out) == sha256_file(root / name));
      CHECK_FALSE(file_exists(out.string() + ".part"));
    }
  }
  auto s = file_get({"-o", "-", url(py.port, "/small.bin")});
  CHECK(s.code == 0);
  CHECK(s.out == read_file(root / "small.bin"));
}

TEST_CASE("file-get: 200 MiB from python -m http.server arrive intact", "[file][file-get][python][big]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  write_random_file(root / "big.bin", 200 * MiB, 901);
  const std::string expected = sha256_file(root / "big.bin");
  auto py = start_python_http(root);
  const auto out = dir / "big.out";
  auto r = file_get({"-o", out.string(), "127.0.0.1", std::to_string(py.port), "big.bin"}, 80s);
  INFO("file-get stderr: " << r.err);
  REQUIRE(r.code == 0);
  CHECK(fs::file_size(out) == 200 * MiB);
  CHECK(sha256_file(out) == expected);
  CHECK_FALSE(file_exists(out.string() + ".part"));
}

// ---------------------------------------------------------------- resume

TEST_CASE("file-get --resume continues a .part left by a server killed mid-transfer", "[file][file-get][resume]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  constexpr uint64_t kSize = 200 * MiB;
  write_random_file(root / "big.bin", kSize, 951);
  const std::string expected = sha256_file(root / "big.bin");
  const auto out = dir / "big.bin";
  const fs::path part = out.string() + ".part";

  {
    auto srv = start_serve(root);
    // Warm the server's digest cache so the body starts flowing at once (a range to the end hashes).
    REQUIRE(http_get(srv.port, "/big.bin", "GET", "Range: bytes=-1\r\n", 30s).status == 206);
    Process fg(nettool_argv({"file-get", "--idle-timeout", "3s", "-o", out.string(), url(srv.port, "/big.bin")}));
    // As soon as the .part has bytes: freeze file-get (so the rest cannot
    // arrive), kill the server, and let file-get see the connection end.
    eventually([&] { return !fg.running() || file_size_or_zero(part) > 0; }, 30s);
    bool started = file_size_or_zero(part) > 0;
    fg.signal(SIGSTOP);
    srv.proc.signal(SIGKILL);
    srv.proc.wait(10s);
    fg.signal(SIGCONT);
    INFO("file-get stderr: " << fg.stderr_text());
    REQUIRE(started);
    int code = fg.wait(30s);
    INFO("file-get stderr: " << fg.stderr_text());
    REQUIRE(code == 1);
    CHECK_FALSE(file_exists(out));
    REQUIRE(file_exists(part));
    CHECK(fs::file_size(part) > 0);
    CHECK(fs::file_size(part) < kSize);
  }
  const uint64_t kept = fs::file_size(part);

  // A new server on a new port; --resume asks for the rest with a Range.
  auto srv2 = start_serve(root);
  auto r = file_get({"--resume", "-o", out.string(), url(srv2.port, "/big.bin")}, 80s);
  INFO("file-get --resume stderr: " << r.err << "\nserver: " << srv2.proc.stderr_text());
  REQUIRE(r.code == 0);
  CHECK(fs::file_size(out) == kSize);
  CHECK(sha256_file(out) == expected);
  CHECK_FALSE(file_exists(part));
  // It really continued: the server answered 206 and sent only the rest.
  auto lines = log_lines_with(srv2.proc.stderr_text(), " /big.bin ");
  REQUIRE(lines.size() == 1);
  CHECK(has_word(lines[0], "206"));
  CHECK(has_word(lines[0], std::to_string(kSize - kept)));
}

TEST_CASE("file-get: SIGINT mid-download keeps a .part that is a prefix of the file, no space reserved past it, and --resume completes it",
          "[file][file-get][resume]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  constexpr uint64_t kSize = 200 * MiB;
  constexpr uint64_t kSeed = 953;
  write_random_file(root / "big.bin", kSize, kSeed);
  const auto out = dir / "big.bin";
  const fs::path part = out.string() + ".part";
  auto srv = start_serve(root);
  // A range to the end hashes the file: its digest is cached and the body flows at once.
  REQUIRE(http_get(srv.port, "/big.bin", "GET", "Range: bytes=-1\r\n", 30s).status == 206);

  Process fg(nettool_argv({"file-get", "-o", out.string(), url(srv.port, "/big.bin")}));
  // As soon as the body is arriving (spliced into the .part): freeze
  // file-get, queue a SIGINT, and let it go on.
  eventually([&] { return !fg.running() || file_size_or_zero(part) > 0; }, 30s);
  bool started = file_size_or_zero(part) > 0;
  fg.signal(SIGSTOP);
  fg.signal(SIGINT);
  fg.signal(SIGCONT);
  REQUIRE(started);
  int code = fg.wait(30s);
  INFO("file-get stderr: " << fg.stderr_text());
  REQUIRE(code == 1);
  CHECK(fg.stderr_text().find("interrupted") != std::string::npos);
  CHECK_FALSE(file_exists(out));
  REQUIRE(file_exists(part));
  const uint64_t kept = fs::file_size(part);
  CHECK(kept > 0);
  CHECK(kept < kSize);
  // What is there is exactly the start of the file.
  CHECK(read_file(part) == random_bytes(kept, kSeed));
  // The space reserved for the whole file was given back.
  struct stat sb {};
  REQUIRE(::stat(part.c_str(), &sb) == 0);
  CHECK(static_cast<uint64_t>(sb.st_blocks) * 512 <= kept + MiB);

  auto r = file_get({"--resume", "-o", out.string(), url(srv.port, "/big.bin")}, 80s);
  INFO("file-get --resume stderr: " << r.err);
  REQUIRE(r.code == 0);
  CHECK(fs::file_size(out) == kSize);
  CHECK(sha256_file(out) == sha256_file(root / "big.bin"));
  CHECK_FALSE(file_exists(part));
}

TEST_CASE("file-get --resume: no .part, a complete or oversized .part, a server without ranges, a corrupt .part",
          "[file][file-get][resume]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  const std::string content = random_bytes(3 * MiB + 333, 981);
  write_file(root / "f.bin", content);
  auto srv = start_serve(root);
  auto py = start_python_http(root);  // answers a Range request with the whole file (200)

  struct Case {
    std::string what;
    std::optional<std::string> part;  // the .part before the run (nullopt: none)
    uint16_t port;
    int code;
    std::string range_status;  // the status file-serve logs for the first request ("" = not checked)
  };
  const std::vector<Case> cases{
      {"no .part: a plain download", std::nullopt, srv.port, 0, "200"},
      {"an empty .part", std::string(), srv.port, 0, "200"},
      {"a correct prefix", content.substr(0, 1 * MiB + 1), srv.port, 0, "206"},
      {"a complete .part", content, srv.port, 0, "416"},
      // file-serve's 416 carries the Repr-Digest: a whole-length .part with
      // the wrong bytes (a crash before write-back, say) is not saved.
      {"a .part of the right length with the wrong bytes", std::string(content.size(), '\0'), srv.port, 1, "416"},
      {"a .part longer than the file", content + "garbage", srv.port, 0, "416"},
      {"a correct prefix, server without ranges", content.substr(0, 100000), py.port, 0, ""},
      {"a corrupt prefix", random_bytes(1 * MiB, 982), srv.port, 1, "206"},
  };
  int n = 0;
  for (const auto& c : cases) {
    INFO(c.what);
    const auto out = dir / ("out" + std::to_string(n++) + ".bin");
    const fs::path part = out.string() + ".part";
    if (c.part) write_file(part, *c.part);
    size_t log_before = split_lines(srv.proc.stderr_text()).size();
    auto r = file_get({"--resume", "-o", out.string(), url(c.port, "/f.bin")});
    INFO("file-get stderr: " << r.err);
    CHECK(r.code == c.code);
    // Asked to resume and there is nothing to resume from: said, not silent.
    CHECK((r.err.find("is empty or new: downloading from the start") != std::string::npos) == (!c.part || c.part->empty()));
    if (c.code == 0) {
      CHECK(file_exists(out));
      CHECK(read_file(out) == content);
      CHECK_FALSE(file_exists(part));
    } else {
      CHECK_FALSE(file_exists(out));
    }
    if (!c.range_status.empty()) {
      auto lines = split_lines(srv.proc.stderr_text());
      std::vector<std::string> fresh(lines.begin() + static_cast<long>(std::min(log_before, lines.size())), lines.end());
      bool seen = false;
      for (auto& l : fresh)
        if (l.find(" /f.bin ") != std::string::npos && has_word(l, c.range_status)) seen = true;
      CHECK(seen);
    }
  }
}

TEST_CASE("file-get: without a Repr-Digest (file-serve --digest off) the length is still checked, and nothing is hashed", "[file][file-get]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  write_random_file(root / "f.bin", 1 * MiB + 1, 991);
  auto srv = start_serve(root, {"--digest", "off"});
  const auto out = dir / "f.out";
  auto r = file_get({"-v", "-o", out.string(), url(srv.port, "/f.bin")});
  INFO("stderr: " << r.err);
  CHECK(r.code == 0);
  CHECK(sha256_file(out) == sha256_file(root / "f.bin"));
  // Nothing to check it against, so it is not hashed (half a CPU second per GiB).
  CHECK(r.err.find("no digest offered") != std::string::npos);
  CHECK(r.err.find("the body is not hashed") != std::string::npos);
}

TEST_CASE("file-get: IPv6 literal URLs and HOST forms against file-serve on [::1]", "[file][file-get]") {
  if (!ipv6_loopback_available()) {
    WARN("no IPv6 loopback here; skipped");
    return;
  }
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  write_random_file(root / "f.bin", 77777, 995);
  auto srv = start_listener({"file-serve", "--root", root.string(), "--listen", "[::1]:0"});
  const auto out1 = dir / "o1";
  auto r1 = file_get({"-o", out1.string(), "http://[::1]:" + std::to_string(srv.port) + "/f.bin"});
  INFO("stderr: " << r1.err);
  CHECK(r1.code == 0);
  CHECK(sha256_file(out1) == sha256_file(root / "f.bin"));
  const auto out2 = dir / "o2";
  auto r2 = file_get({"-o", out2.string(), "::1", std::to_string(srv.port), "f.bin"});
  INFO("stderr: " << r2.err);
  CHECK(r2.code == 0);
  CHECK(file_exists(out2));
  if (file_exists(out2)) CHECK(sha256_file(out2) == sha256_file(root / "f.bin"));
}

// ---------------------------------------------------------------- misbehaving servers

TEST_CASE("file-get: a wrong Repr-Digest or a short body exits 1 without a final file", "[file][file-get]") {
  TempDir dir;
  const auto data_file = dir / "data.bin";
  write_random_file(data_file, 3 * MiB + 11, 961);
  auto srv = start_odd_server(data_file);

  // The control: the same server with the right digest works.
  {
    const auto out = dir / "good.bin";
    auto r = file_get({"-o", out.string(), url(srv.port, "/good.bin")});
    INFO("stderr: " << r.err);
    REQUIRE(r.code == 0);
    CHECK(sha256_file(out) == sha256_file(data_file));
  }
  for (std::string path : {"/wrong-digest.bin", "/chunked-wrong.bin", "/short.bin", "/chunked-cut.bin"}) {
    INFO("GET " << path);
    const auto cwd = dir / ("cwd" + path.substr(1, path.size() - 5));
    fs::create_directories(cwd);
    auto r = file_get_in(cwd, {"-o", "out.bin", url(srv.port, path)});
    INFO("stderr: " << r.err << "\nentries: " << joined(dir_entries(cwd)));
    CHECK(r.code == 1);
    CHECK_FALSE(file_exists(cwd / "out.bin"));
    if (path.find("wrong") != std::string::npos) {
      // Corrupt data is not kept for a later --resume either.
      CHECK_FALSE(file_exists(cwd / "out.bin.part"));
    }
  }
  // Through stdout the bytes are already out, but the exit code still says so.
  auto r = file_get({"-o", "-", url(srv.port, "/wrong-digest.bin")});
  CHECK(r.code == 1);
}

TEST_CASE("file-get: 40 MiB spliced (Content-Length) or copied (chunked, stdout) are the file byte for byte, a wrong digest is caught either way",
          "[file][file-get][python][big]") {
  TempDir dir;
  const auto data_file = dir / "data.bin";
  // Several splice steps and write-behind steps, and an odd size.
  write_random_file(data_file, 40 * MiB + 7, 991);
  const std::string data = read_file(data_file);
  auto srv = start_odd_server(data_file);

  // A Content-Length body into a file is spliced; a chunked one is decoded
  // and copied; both are hashed beside the writes.
  for (std::string path : {"/good.bin", "/chunked-digest.bin"}) {
    INFO("GET " << path);
    const auto out = dir / ("out" + path.substr(1));
    auto r = file_get({"-o", out.string(), url(srv.port, path)}, 60s);
    INFO("stderr: " << r.err);
    CHECK(r.code == 0);
    CHECK(r.err.find("sha-256 verified") != std::string::npos);
    CHECK(read_file(out) == data);
    CHECK_FALSE(file_exists(out.string() + ".part"));
  }
  auto s = file_get({"-o", "-", url(srv.port, "/good.bin")}, 60s);
  CHECK(s.code == 0);
  CHECK(s.out == data);

  for (std::string path : {"/wrong-digest.bin", "/chunked-wrong.bin"}) {
    INFO("GET " << path);
    const auto out = dir / ("out" + path.substr(1));
    auto r = file_get({"-o", out.string(), url(srv.port, path)}, 60s);
    INFO("stderr: " << r.err);
    CHECK(r.code == 1);
    CHECK(r.err.find("sha-256 mismatch") != std::string::npos);
    CHECK_FALSE(file_exists(out));
    CHECK_FALSE(file_exists(out.string() + ".part"));
  }
}

TEST_CASE("file-get: a server that stops sending mid-body fails after --idle-timeout and keeps the .part",
          "[file][file-get][python]") {
  TempDir dir;
  const auto data_file = dir / "data.bin";
  write_random_file(data_file, 3 * MiB + 5, 981);
  auto srv = start_odd_server(data_file);
  const auto out = dir / "out.bin";
  auto r = file_get({"-i", "1s", "-o", out.string(), url(srv.port, "/stall.bin")}, 20s);
  INFO("stderr: " << r.err);
  CHECK(r.code == 1);
  CHECK(r.err.find("stalled") != std::string::npos);
  CHECK_FALSE(file_exists(out));
  // Everything that arrived is kept, for --resume.
  const fs::path part = out.string() + ".part";
  REQUIRE(file_exists(part));
  CHECK(read_file(part) == read_file(data_file).substr(0, (3 * MiB + 5) / 2));
}

TEST_CASE("file-get: a second download to the same output is refused while the first writes its .part",
          "[file][file-get][python][safety]") {
  // It used to truncate and write into the first one's .part: the first,
  // still writing through its descriptor, then wrote into the file the
  // second had saved (exit 0) under the final name.
  TempDir dir;
  const auto data_file = dir / "data.bin";
  write_random_file(data_file, 3 * MiB + 5, 983);
  auto srv = start_odd_server(data_file);
  const auto out = dir / "out.bin";
  const fs::path part = out.string() + ".part";
  Process first(nettool_argv({"file-get", "-o", out.string(), url(srv.port, "/stall.bin")}));
  REQUIRE(eventually([&] { return file_exists(part) && fs::file_size(part) == (3 * MiB + 5) / 2; }));
  auto second = file_get({"-o", out.string(), url(srv.port, "/good.bin")});
  INFO("second stderr: " << second.err);
  CHECK(second.code == 1);
  CHECK(second.err.find(part.string() + " is being written by another download") != std::string::npos);
  CHECK_FALSE(file_exists(out));
  first.signal(SIGTERM);
  CHECK(first.wait() == 1);
  // The first one's bytes are intact in its .part, for --resume.
  CHECK(read_file(part) == read_file(data_file).substr(0, (3 * MiB + 5) / 2));
  // Once it is gone, the output is free again.
  auto third = file_get({"-o", out.string(), url(srv.port, "/good.bin")});
  INFO("third stderr: " << third.err);
  CHECK(third.code == 0);
  CHECK(read_file(out) == read_file(data_file));
}

TEST_CASE("file-get: a chunked response from a python server gives the right file", "[file][file-get][python]") {
  TempDir dir;
  const auto data_file = dir / "data.bin";
  write_random_file(data_file, 1 * MiB + 12345, 971);
  auto srv = start_odd_server(data_file);
  for (std::string path : {"/chunked.bin", "/chunked-digest.bin"}) {
    INFO("GET " << path);
    const auto out = dir / ("out" + path.substr(1));
    auto r = file_get({"-o", out.string(), url(srv.port, path)});
    INFO("stderr: " << r.err);
    CHECK(r.code == 0);
    CHECK(file_size_or_zero(out) == 1 * MiB + 12345);
    CHECK(sha256_file(out) == sha256_file(data_file));
    CHECK_FALSE(file_exists(out.string() + ".part"));
  }
  auto s = file_get({"-o", "-", url(srv.port, "/chunked.bin")});
  CHECK(s.code == 0);
  CHECK(sha256_hex(s.out) == sha256_file(data_file));
}
