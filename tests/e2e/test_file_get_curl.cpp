// file-get takes what curl users type by habit: -f -S -L -O state what it
// does anyway, -s is --silent (errors still printed), and the source address
// keeps only its long name, --source. Against file-serve and a tiny python
// server that redirects, on 127.0.0.1.
#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

#include "file_test_util.h"
#include "harness.h"

using namespace e2e;
using namespace filetest;

namespace {

// /old answers 302 to /docs/a.txt, which is served with a Content-Length;
// anything else is 404. Binds 127.0.0.1:0 and prints its port.
constexpr const char* kRedirectServer = R"PY(
import sys, http.server
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def log_message(self, fmt, *args): pass
    def do_GET(self):
        self.close_connection = True
        body = b''
        if self.path == '/old':
            self.send_response(302)
            self.send_header('Location', '/docs/a.txt')
        elif self.path == '/docs/a.txt':
            self.send_response(200)
            body = b'redirected body\n'
        else:
            self.send_response(404)
        self.send_header('Content-Length', str(len(body)))
        self.send_header('Connection', 'close')
        self.end_headers()
        self.wfile.write(body)
srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
)PY";

PythonServer start_redirect_server() { return start_python_server(kRedirectServer); }

}  // namespace

TEST_CASE("file-get -fsSL downloads and prints nothing where a run without -s says something",
          "[file][file-get][curl]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root / "docs");
  write_random_file(root / "docs" / "a.bin", 300 * KiB + 3, 901);
  auto srv = start_serve(root);

  // The control: the same download without -s writes its summary line (so
  // an empty stderr below is -s's doing), and with --progress always a bar.
  const auto plain = dir / "plain.bin";
  auto loud = file_get({"--progress", "always", "-o", plain.string(), url(srv.port, "/docs/a.bin")});
  INFO("without -s: " << loud.err);
  REQUIRE(loud.code == 0);
  REQUIRE_FALSE(loud.err.empty());

  for (std::vector<std::string> flags :
       {std::vector<std::string>{"-fsSL"}, {"-sS"}, {"--silent"}, {"-fsSL", "--progress", "always"}}) {
    INFO("flags: " << flags[0] << (flags.size() > 1 ? " --progress always" : ""));
    const auto out = dir / "out.bin";
    fs::remove(out);
    std::vector<std::string> args = flags;
    args.insert(args.end(), {url(srv.port, "/docs/a.bin"), "-o", out.string()});
    auto r = file_get(args);
    INFO("stderr: " << r.err);
    CHECK(r.code == 0);
    CHECK(r.err.empty());
    CHECK(r.out.empty());
    CHECK(sha256_file(out) == sha256_file(root / "docs" / "a.bin"));
    CHECK_FALSE(file_exists(out.string() + ".part"));
  }

  // -v beside -s still shows -v's lines (curl -sv), and the global -q stays as it was.
  auto verbose = file_get({"-sv", "-o", (dir / "v.bin").string(), url(srv.port, "/docs/a.bin")});
  INFO("-sv: " << verbose.err);
  CHECK(verbose.code == 0);
  CHECK_FALSE(verbose.err.empty());
  auto quiet = file_get({"-q", "-o", (dir / "q.bin").string(), url(srv.port, "/docs/a.bin")});
  CHECK(quiet.code == 0);
  CHECK(quiet.err.empty());
}

TEST_CASE("file-get -fsSL follows a redirect silently", "[file][file-get][curl][python]") {
  TempDir dir;
  auto srv = start_redirect_server();
  const auto out = dir / "out.txt";
  auto r = file_get({"-fsSL", "http://127.0.0.1:" + std::to_string(srv.port) + "/old", "-o", out.string()});
  INFO("stderr: " << r.err);
  CHECK(r.code == 0);
  CHECK(r.err.empty());
  CHECK(read_file(out) == "redirected body\n");
}

TEST_CASE("file-get -LO and -O save under the remote name", "[file][file-get][curl]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root / "docs");
  write_file(root / "docs" / "report.txt", "the report\n");
  auto srv = start_serve(root);

  for (const char* flags : {"-LO", "-O", "--remote-name"}) {
    INFO(flags);
    const auto cwd = dir / (std::string("cwd") + flags);
    fs::create_directories(cwd);
    auto r = file_get_in(cwd, {flags, url(srv.port, "/docs/report.txt")});
    INFO("stderr: " << r.err);
    CHECK(r.code == 0);
    CHECK(dir_entries(cwd) == std::vector<std::string>{"report.txt"});
    CHECK(read_file(cwd / "report.txt") == "the report\n");
  }

  // wget's -O FILE: -O takes no value, so FILE is an argument; the error says what was meant.
  const auto cwd = dir / "wget";
  fs::create_directories(cwd);
  auto r = file_get_in(cwd, {"-O", "out.txt", url(srv.port, "/docs/report.txt")});
  INFO("stderr: " << r.err);
  CHECK(r.code == 2);
  CHECK(r.err.find("did you mean -o out.txt?") != std::string::npos);
  CHECK(r.err.find("curl's -O takes no value") != std::string::npos);
  CHECK(dir_entries(cwd).empty());
}

TEST_CASE("file-get -s still prints the error of a 404 and exits 1", "[file][file-get][curl]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  write_file(root / "a.txt", "a\n");
  auto srv = start_serve(root);

  for (const char* flags : {"-s", "-fsSL", "-q"}) {
    INFO(flags);
    const auto cwd = dir / (std::string("cwd") + flags);
    fs::create_directories(cwd);
    auto r = file_get_in(cwd, {flags, url(srv.port, "/missing.txt")});
    INFO("stderr: " << r.err);
    CHECK(r.code == 1);
    CHECK(r.err.find("404") != std::string::npos);
    CHECK(r.err.find("missing.txt") != std::string::npos);
    CHECK(dir_entries(cwd).empty());
  }
}

TEST_CASE("file-get: the source address is --source only and -s ADDR gets a hint (tcp-connect keeps -s)",
          "[file][file-get][curl]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  write_file(root / "a.txt", "a\n");
  auto srv = start_serve(root);

  const auto out = dir / "a.out";
  auto r = file_get({"--source", "127.0.0.1", "-o", out.string(), url(srv.port, "/a.txt")});
  INFO("--source 127.0.0.1: " << r.err);
  CHECK(r.code == 0);
  CHECK(read_file(out) == "a\n");
  // --source is really used: an IPv6 source for an IPv4 server cannot connect.
  auto wrong = file_get({"--source", "::1", "-o", (dir / "b.out").string(), url(srv.port, "/a.txt")});
  INFO("--source ::1: " << wrong.err);
  CHECK(wrong.code == 1);
  CHECK_FALSE(file_exists(dir / "b.out"));

  auto habit = file_get({"-s", "127.0.0.1", url(srv.port, "/a.txt")});
  INFO("-s 127.0.0.1: " << habit.err);
  CHECK(habit.code == 2);
  CHECK(habit.err.find("did you mean --source 127.0.0.1?") != std::string::npos);

  // The schema says the same: file-get's help has --source without a letter, tcp-connect's has -s.
  auto fg_help = run_nettool({"help", "file-get"});
  auto tc_help = run_nettool({"help", "tcp-connect"});
  INFO("file-get help: " << fg_help.out << fg_help.err);
  CHECK(fg_help.exit_code == 0);
  CHECK(fg_help.out.find("-s, --silent") != std::string::npos);
  CHECK(fg_help.out.find("-s, --source") == std::string::npos);
  CHECK(fg_help.out.find("--source") != std::string::npos);
  CHECK(tc_help.out.find("-s, --source") != std::string::npos);
}

TEST_CASE("file-get refuses the --no- forms of the curl letters it always obeys", "[file][file-get][curl]") {
  // Refused before connecting; were they not, the closed port would fail the run with exit 1.
  ClosedPort closed;
  REQUIRE(hold_closed_port(pick_free_port(), closed));
  for (auto [flag, says] : std::vector<std::pair<std::string, std::string>>{
           {"--no-fail", "always fails on an HTTP error"},
           {"--no-location", "--max-redirects 0"},
           {"--no-remote-name", "-o FILE"},
           {"--no-show-error", "always prints errors"}}) {
    INFO(flag);
    auto r = file_get({flag, "-o", "-", url(closed.port, "/a.txt")});
    INFO("stderr: " << r.err);
    CHECK(r.code == 2);
    CHECK(r.err.find(flag + ": ") != std::string::npos);
    CHECK(r.err.find(says) != std::string::npos);
  }
}
