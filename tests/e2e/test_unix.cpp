// Unix domain sockets end to end: tcp-connect to unix:/PATH, unix:@NAME
// (abstract) and -U PATH, against socat as the listener. Every wait is
// bounded; every process is a harness Process, reaped on every path.
#include <fstream>

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
