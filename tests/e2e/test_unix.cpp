// Unix domain sockets end to end: tcp-connect to unix:/PATH, unix:@NAME
// (abstract) and -U PATH, against socat as the listener. Every wait is
// bounded; every process is a harness Process, reaped on every path.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <regex>

#include "harness.h"

using namespace e2e;

namespace {

// True once /proc/net/unix lists `name` (a path, or "@name" for an abstract socket).
bool unix_socket_listed(const std::string& name) {
  std::ifstream table("/proc/net/unix");
  std::string line;
  while (std::getline(table, line))
    if (line.size() >= name.size() && line.compare(line.size() - name.size(), name.size(), name) == 0) return true;
  return false;
}

// socat listening on `address` (socat's syntax), running `exec` for each client.
Process start_socat_listener(const std::string& address, const std::string& listed_as, const std::string& exec) {
  Process p({"socat", address, exec});
  if (!eventually([&] { return unix_socket_listed(listed_as); }, kStartTimeout))
    throw std::runtime_error("socat did not listen on " + listed_as + ": " + p.stderr_text());
  return p;
}

std::string unique_abstract_name() { return "nettool-e2e-" + std::to_string(::getpid()) + "-" + std::to_string(rand()); }

}  // namespace

TEST_CASE("unix: tcp-connect unix:/PATH carries 1 MiB both ways and half-closes (socat EXEC:cat)", "[unix]") {
  TempDir dir;
  std::string path = (dir / "echo.sock").string();
  auto server = start_socat_listener("UNIX-LISTEN:" + path, path, "EXEC:cat");
  write_random_file(dir / "in.bin", 1 << 20, 7);
  // cat sees our EOF only if stdin's end is passed on as a half-close, and
  // only then sends the last bytes and closes, which ends the session.
  auto r = run_nettool({"tcp-connect", "unix:" + path},
                       ProcessOptions().stdin_from(dir / "in.bin").stdout_to(dir / "out.bin"));
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK(sha256_file(dir / "out.bin") == sha256_file(dir / "in.bin"));
}

TEST_CASE("unix: tcp-connect unix:@NAME reaches an abstract socket, and -U PATH a socket file", "[unix]") {
  std::string name = unique_abstract_name();
  auto abstract = start_socat_listener("ABSTRACT-LISTEN:" + name, "@" + name, "EXEC:cat");
  TempDir dir;
  write_file(dir / "in.txt", "through the abstract namespace\n");
  auto r = run_nettool({"tcp-connect", "unix:@" + name}, ProcessOptions().stdin_from(dir / "in.txt"));
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "through the abstract namespace\n");

  std::string path = (dir / "u.sock").string();
  auto file = start_socat_listener("UNIX-LISTEN:" + path, path, "EXEC:cat");
  r = run_nettool({"tcp-connect", "-U", path}, ProcessOptions().stdin_from(dir / "in.txt"));
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "through the abstract namespace\n");
}

TEST_CASE("unix: tcp-connect -z says whether a Unix socket accepts, naming the path and the reason", "[unix]") {
  TempDir dir;
  std::string path = (dir / "z.sock").string();
  auto server = start_socat_listener("UNIX-LISTEN:" + path + ",fork", path, "EXEC:cat");
  auto r = run_nettool({"tcp-connect", "-z", "unix:" + path});
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("unix:" + path + " open") != std::string::npos);

  r = run_nettool({"tcp-connect", "-z", "unix:" + (dir / "missing.sock").string()});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("missing.sock: No such file or directory") != std::string::npos);

  write_file(dir / "plain.txt", "not a socket");
  r = run_nettool({"tcp-connect", "-z", "unix:" + (dir / "plain.txt").string()});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("plain.txt: Connection refused") != std::string::npos);
}

TEST_CASE("unix: tcp-connect refuses what a Unix socket has no use for, with exit 2", "[unix]") {
  auto r = run_nettool({"tcp-connect", "unix:/tmp/x.sock", "80"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("has no PORT") != std::string::npos);
  r = run_nettool({"tcp-connect", "--nodelay", "unix:/tmp/x.sock"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--nodelay is for TCP") != std::string::npos);
  r = run_nettool({"tcp-connect", "-s", "127.0.0.1", "unix:/tmp/x.sock"});
  CHECK(r.exit_code == 2);
  r = run_nettool({"tcp-connect", "unix:"});
  CHECK(r.exit_code == 2);
  r = run_nettool({"tcp-connect", "unix:/" + std::string(200, 'a')});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("longer than a Unix socket address can be") != std::string::npos);
  r = run_nettool({"tcp-connect", "127.0.0.1"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("PORT is missing") != std::string::npos);
}

// ---------------------------------------------------------------- tcp-listen

namespace {

Process start_unix_listener(std::vector<std::string> args, ProcessOptions options = {}) {
  Process p(nettool_argv(std::move(args)), std::move(options));
  if (!p.wait_stderr_contains("listening on unix:"))
    throw std::runtime_error(p.describe() + ": no 'listening on unix:' line; stderr:\n" + p.stderr_text());
  return p;
}

}  // namespace

TEST_CASE("unix: tcp-listen unix:/PATH takes one client's 1 MiB intact and removes its socket file at exit", "[unix]") {
  TempDir dir;
  std::string path = (dir / "in.sock").string();
  auto server = start_unix_listener({"tcp-listen", "unix:" + path}, ProcessOptions().stdout_to(dir / "got.bin"));
  CHECK(fs::is_socket(path));
  write_random_file(dir / "send.bin", 1 << 20, 11);
  auto client = run_nettool({"tcp-connect", "unix:" + path}, ProcessOptions().stdin_from(dir / "send.bin"));
  INFO("client stderr: " << client.err);
  CHECK(client.exit_code == 0);
  CHECK(server.wait() == 0);
  INFO("server stderr: " << server.stderr_text());
  CHECK(sha256_file(dir / "got.bin") == sha256_file(dir / "send.bin"));
  CHECK_FALSE(fs::exists(fs::symlink_status(path)));
}

TEST_CASE("unix: tcp-listen -k --echo --mode 600 serves several clients on a socket only its owner may use", "[unix]") {
  TempDir dir;
  std::string path = (dir / "echo.sock").string();
  auto server = start_unix_listener({"tcp-listen", "-k", "--echo", "--mode", "600", "-v", "unix:" + path});
  CHECK((fs::status(path).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
  write_file(dir / "a.txt", "first client\n");
  write_file(dir / "b.txt", "second client\n");
  auto a = run_nettool({"tcp-connect", "unix:" + path}, ProcessOptions().stdin_from(dir / "a.txt"));
  auto b = run_nettool({"tcp-connect", "-U", path}, ProcessOptions().stdin_from(dir / "b.txt"));
  CHECK(a.out == "first client\n");
  CHECK(b.out == "second client\n");
  INFO("server stderr: " << server.stderr_text());
  // -v names each client by its process (SO_PEERCRED).
  CHECK(count_occurrences(server.stderr_text(), "client (pid ") >= 2);
}

TEST_CASE("unix: tcp-listen replaces a stale socket file, never a live one or a file that is not a socket", "[unix]") {
  TempDir dir;
  std::string path = (dir / "s.sock").string();
  {
    // A socket file nobody listens on: what a server that died leaves behind.
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path.c_str());
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) == 0);
    ::close(fd);
  }
  REQUIRE(fs::is_socket(path));
  auto live = start_unix_listener({"tcp-listen", "-k", "--echo", "unix:" + path});
  CHECK(live.stderr_text().find("removed a stale socket file") != std::string::npos);

  auto second = run_nettool({"tcp-listen", "unix:" + path});
  CHECK(second.exit_code == 1);
  CHECK(second.err.find("a server is already listening on it") != std::string::npos);
  write_file(dir / "b.txt", "still served\n");
  auto r = run_nettool({"tcp-connect", "unix:" + path}, ProcessOptions().stdin_from(dir / "b.txt"));
  CHECK(r.out == "still served\n");

  write_file(dir / "data.txt", "precious");
  auto refused = run_nettool({"tcp-listen", "unix:" + (dir / "data.txt").string()});
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find("not a socket is in the way") != std::string::npos);
  CHECK(read_file(dir / "data.txt") == "precious");
}

TEST_CASE("unix: tcp-listen -U @NAME listens on an abstract socket that socat reaches", "[unix]") {
  std::string name = unique_abstract_name();
  auto server = start_unix_listener({"tcp-listen", "-k", "--echo", "-U", "@" + name});
  TempDir dir;
  write_file(dir / "in.txt", "abstract echo\n");
  Process socat({"socat", "-t", "2", "-", "ABSTRACT-CONNECT:" + name}, ProcessOptions().stdin_from(dir / "in.txt"));
  CHECK(socat.wait() == 0);
  CHECK(socat.stdout_text() == "abstract echo\n");
}

TEST_CASE("unix: tcp-listen option mistakes with a Unix socket are usage errors", "[unix]") {
  auto r = run_nettool({"tcp-listen", "--mode", "600", "0"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--mode is for a Unix socket") != std::string::npos);
  r = run_nettool({"tcp-listen", "--mode", "9x", "unix:/tmp/nettool-never.sock"});
  CHECK(r.exit_code == 2);
  r = run_nettool({"tcp-listen", "--mode", "600", "unix:@nettool-never"});
  CHECK(r.exit_code == 2);
  r = run_nettool({"tcp-listen", "127.0.0.1", "unix:/tmp/nettool-never.sock"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("has no HOST") != std::string::npos);
  r = run_nettool({"tcp-listen", "--allow", "10.0.0.0/8", "unix:/tmp/nettool-never.sock"});
  CHECK(r.exit_code == 2);
  r = run_nettool({"tcp-listen", "not-a-port"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("PORT: unknown service 'not-a-port'") != std::string::npos);
}

// ---------------------------------------------------------------- tcp-forward

TEST_CASE("unix: tcp-forward HOST PORT unix:/PATH forwards TCP clients to a Unix socket, both ways with half-close",
          "[unix][tcp-forward]") {
  TempDir dir;
  std::string path = (dir / "target.sock").string();
  auto target = start_socat_listener("UNIX-LISTEN:" + path + ",fork", path, "EXEC:cat");
  auto fwd = start_listener({"tcp-forward", "127.0.0.1", "0", "unix:" + path});
  const std::string data = random_bytes(300000, 81);
  for (int i = 0; i < 2; ++i) {
    Socket client = connect_tcp(fwd.port);
    ReadEnd how{};
    CHECK(client.exchange(data, kIoTimeout, &how) == data);  // cat answers our EOF with its own
    CHECK(how == ReadEnd::Eof);
  }
  fwd.proc.signal(SIGTERM);
  CHECK(fwd.proc.wait(kIoTimeout) == 0);
  CHECK(fwd.proc.stderr_text().find("-> unix:" + path + ": 300000 B up, 300000 B down") != std::string::npos);
}

TEST_CASE("unix: tcp-forward unix:/PATH to TCP and unix:@NAME to unix:/PATH, and --mode on its socket file",
          "[unix][tcp-forward]") {
  TempDir dir;
  auto echo = start_listener({"tcp-listen", "-k", "--echo", "127.0.0.1", "0"});
  std::string front = (dir / "front.sock").string();
  auto fwd = start_unix_listener(
      {"tcp-forward", "--mode", "600", "unix:" + front, "127.0.0.1", std::to_string(echo.port)});
  CHECK((fs::status(front).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
  write_file(dir / "in.txt", "through a Unix socket to TCP\n");
  auto r = run_nettool({"tcp-connect", "unix:" + front}, ProcessOptions().stdin_from(dir / "in.txt"));
  INFO("client: " << r.err << "\nforwarder: " << fwd.stderr_text());
  CHECK(r.exit_code == 0);
  CHECK(r.out == "through a Unix socket to TCP\n");

  std::string back = (dir / "back.sock").string();
  auto target = start_socat_listener("UNIX-LISTEN:" + back + ",fork", back, "EXEC:cat");
  std::string name = unique_abstract_name();
  auto relay = start_unix_listener({"tcp-forward", "unix:@" + name, "unix:" + back});
  r = run_nettool({"tcp-connect", "unix:@" + name}, ProcessOptions().stdin_from(dir / "in.txt"));
  INFO("client: " << r.err << "\nrelay: " << relay.stderr_text());
  CHECK(r.exit_code == 0);
  CHECK(r.out == "through a Unix socket to TCP\n");

  fwd.signal(SIGTERM);
  CHECK(fwd.wait(kIoTimeout) == 0);
  CHECK_FALSE(fs::exists(front));  // its own socket file goes with it
}

TEST_CASE("unix: tcp-forward with a Unix socket refuses what it has no use for, with exit 2", "[unix][tcp-forward]") {
  for (std::vector<std::string> args : {
           std::vector<std::string>{"tcp-forward", "8080", "unix:/tmp/x.sock", "80"},
           {"tcp-forward", "--proxy", "socks5://127.0.0.1:1080", "8080", "unix:/tmp/x.sock"},
           {"tcp-forward", "-s", "127.0.0.1", "8080", "unix:/tmp/x.sock"},
           {"tcp-forward", "--allow", "127.0.0.1", "unix:/tmp/l.sock", "127.0.0.1", "80"},
           {"tcp-forward", "--mode", "600", "8080", "127.0.0.1", "80"},
           {"tcp-forward", "8080", "127.0.0.1"},
       }) {
    auto r = run_nettool(args);
    INFO(r.err);
    CHECK(r.exit_code == 2);
  }
  auto r = run_nettool({"tcp-forward", "8080", "127.0.0.1"});
  CHECK(r.err.find("TARGET_PORT is missing") != std::string::npos);
}

// ---------------------------------------------------------------- file-serve, file-get

TEST_CASE("unix: file-serve --listen unix:/PATH serves curl --unix-socket and file-get --unix-socket, byte for byte",
          "[unix][file-serve][file-get]") {
  TempDir dir;
  fs::create_directory(dir / "root");
  const std::string body = random_bytes(3 * 1024 * 1024 + 1, 82);
  write_file(dir / "root" / "f.bin", body);
  std::string path = (dir / "http.sock").string();
  auto server = start_unix_listener({"file-serve", "--listen", "unix:" + path, "--workers", "2", "--mode", "600",
                                     "--root", (dir / "root").string()});
  CHECK((fs::status(path).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
  for (int i = 0; i < 2; ++i) {
    auto out = dir / ("curl" + std::to_string(i) + ".bin");
    Process curl({"curl", "-sS", "--max-time", "20", "--unix-socket", path, "-o", out.string(),
                  "http://localhost/f.bin"});
    CHECK(curl.wait(kRunTimeout) == 0);
    CHECK(read_file(out) == body);
  }
  auto r = run_nettool({"file-get", "--no-fsync", "--unix-socket", path, "http://localhost/f.bin", "-o",
                        (dir / "got.bin").string()});
  INFO("file-get: " << r.err << "\nserver: " << server.stderr_text());
  CHECK(r.exit_code == 0);
  CHECK(read_file(dir / "got.bin") == body);
  CHECK(server.stderr_text().find("unix:" + path + " client") != std::string::npos);  // the access log's client

  r = run_nettool({"file-get", "--unix-socket", (dir / "none.sock").string(), "http://localhost/f.bin", "-o",
                   (dir / "none.bin").string()});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("none.sock: No such file or directory") != std::string::npos);
  server.signal(SIGTERM);
  CHECK(server.wait(kIoTimeout) == 0);
  CHECK_FALSE(fs::exists(path));
}

// ---------------------------------------------------------------- udp-send, udp-listen

TEST_CASE("unix: udp-send to udp-listen unix:/PATH, echoed back, each sender named by its autobound address",
          "[unix][udp]") {
  TempDir dir;
  std::string path = (dir / "dgram.sock").string();
  auto server = start_unix_listener({"udp-listen", "--echo", "-S", "--count", "2", "unix:" + path},
                                    ProcessOptions().stdout_to(dir / "got.txt"));
  CHECK(fs::is_socket(path));
  auto r = run_nettool({"udp-send", "-M", "one", "-M", "two", "-W", "1s", "unix:" + path});
  INFO("client: " << r.err << "\nserver: " << server.stderr_text());
  CHECK(r.exit_code == 0);
  CHECK(r.out == "onetwo");  // the echoes, as replies
  REQUIRE(server.wait(kIoTimeout) == 0);
  auto lines = split_lines(read_file(dir / "got.txt"));
  REQUIRE(lines.size() == 2);
  CHECK(std::regex_match(lines[0], std::regex("unix:@[0-9a-f]{5} one")));
  CHECK(std::regex_match(lines[1], std::regex("unix:@[0-9a-f]{5} two")));
  CHECK_FALSE(fs::exists(fs::symlink_status(path)));  // its own file goes with it
}

TEST_CASE("unix: udp-listen -S names a Unix sender without an address unix:(unnamed)", "[unix][udp]") {
  // It was "?:0", an empty address read as UDP's.
  TempDir dir;
  const auto sock = dir / "in.sock";
  auto l = start_unix_listener({"udp-listen", "-S", "--count", "1", "unix:" + sock.string()},
                               ProcessOptions().stdout_to(dir / "got.txt"));
  Process py({"python3", "-c",
              "import socket, sys\n"
              "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"  // never bound: no address
              "s.sendto(b'hello\\n', sys.argv[1])\n",
              sock.string()});
  CHECK(py.wait(kIoTimeout) == 0);
  CHECK(l.wait(kIoTimeout) == 0);
  INFO("udp-listen stderr: " << l.stderr_text());
  CHECK(read_file(dir / "got.txt") == "unix:(unnamed) hello\n");
}

TEST_CASE("unix: udp-send waits while a Unix datagram reader's queue is full instead of losing datagrams",
          "[unix][udp]") {
  TempDir dir;
  std::string name = unique_abstract_name();
  const size_t chunk = 1000, count = 3000;  // far more than a Unix datagram queue holds (max_dgram_qlen)
  write_random_file(dir / "in.bin", chunk * count, 83);
  // A reader that binds, then reads nothing until told to: the queue fills for sure.
  const char* reader = R"PY(
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + sys.argv[1]); s.settimeout(30)
print("bound", file=sys.stderr, flush=True)
sys.stdin.readline()
with open(sys.argv[2], "wb") as out:
    for _ in range(int(sys.argv[3])): out.write(s.recv(65536))
)PY";
  Process receiver({"python3", "-c", reader, name, (dir / "out.bin").string(), std::to_string(count)},
                   ProcessOptions().stdin_pipe());
  REQUIRE(receiver.wait_stderr_contains("bound"));
  Process sender(nettool_argv({"-v", "udp-send", "--chunk", std::to_string(chunk), "unix:@" + name}),
                 ProcessOptions().stdin_from(dir / "in.bin"));
  REQUIRE(sender.wait_stderr_contains("the receiver's queue is full: waiting for room"));
  CHECK(sender.running());  // waiting, not failing or dropping
  REQUIRE(receiver.write_stdin("go\n"));
  CHECK(sender.wait(kRunTimeout) == 0);
  CHECK(receiver.wait(kRunTimeout) == 0);
  INFO("sender: " << sender.stderr_text() << "\nreader: " << receiver.stderr_text());
  CHECK(sha256_file(dir / "out.bin") == sha256_file(dir / "in.bin"));
}

TEST_CASE("unix: udp-send and udp-listen over a Unix socket refuse what it has no use for", "[unix][udp]") {
  for (std::vector<std::string> args : {std::vector<std::string>{"udp-send", "-M", "x", "unix:/tmp/x.sock", "9"},
                                        {"udp-send", "-M", "x", "-s", "127.0.0.1", "unix:/tmp/x.sock"},
                                        {"udp-send", "-M", "x", "127.0.0.1"},
                                        {"udp-listen", "--join", "239.1.2.3", "unix:/tmp/x.sock"},
                                        {"udp-listen", "127.0.0.1", "unix:/tmp/x.sock"}}) {
    auto r = run_nettool(args);
    INFO(r.err);
    CHECK(r.exit_code == 2);
  }
  TempDir dir;
  auto r = run_nettool({"udp-send", "-M", "x", "unix:" + (dir / "none.sock").string()});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("none.sock: No such file or directory") != std::string::npos);
}
