// Interoperability with the classic tools: OpenBSD nc, ncat and socat as
// peers of tcp-connect and tcp-listen, 1 MiB of random bytes compared byte
// for byte.
#include <catch2/catch.hpp>

#include <unistd.h>

#include "harness.h"

using namespace e2e;

namespace {

constexpr size_t kSize = 1024 * 1024;

bool have_tool(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    fs::path candidate = fs::path(dirs.substr(start, end - start)) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

// Starts a peer that cannot pick its own port (nc -l, ncat -l) on a port that
// was free a moment ago; if another process took it in between, the peer
// fails to bind and we try another port.
Process start_on_free_port(const std::function<std::vector<std::string>(uint16_t)>& argv, ProcessOptions options,
                           uint16_t& port) {
  std::string last_error;
  for (int attempt = 0; attempt < 10; ++attempt) {
    port = pick_free_port();
    Process p(argv(port), options);
    if (wait_port_listening(port) && p.running()) return p;
    last_error = p.describe() + ": " + p.stderr_text();
  }
  throw std::runtime_error("could not start a peer on a free port; last: " + last_error);
}

}  // namespace

TEST_CASE("interop: tcp-connect sends 1 MiB to nc -l and ncat -l", "[interop]") {
  TempDir dir;
  const auto in = dir / "in.bin";
  write_random_file(in, kSize, 21);
  struct Peer {
    const char* tool;
    std::vector<std::string> (*argv)(uint16_t);
  };
  const Peer peers[] = {
      {"nc", [](uint16_t p) { return std::vector<std::string>{"nc", "-l", "127.0.0.1", std::to_string(p)}; }},
      {"ncat", [](uint16_t p) { return std::vector<std::string>{"ncat", "-l", "127.0.0.1", std::to_string(p)}; }},
  };
  for (const Peer& peer : peers) {
    INFO(peer.tool);
    if (!have_tool(peer.tool)) {
      WARN("skipped: " << peer.tool << " is not installed");
      continue;
    }
    const auto received = dir / (std::string(peer.tool) + ".out");
    uint16_t port = 0;
    // The peer's stdin stays open, as at a terminal: ncat half-closes on stdin
    // EOF, and tcp-connect (like nc -l) treats the peer's EOF as the end.
    Process listener = start_on_free_port(peer.argv, ProcessOptions().stdin_pipe().stdout_to(received), port);
    auto r = run_nettool({"tcp-connect", "127.0.0.1", std::to_string(port)}, ProcessOptions().stdin_from(in));
    INFO("tcp-connect stderr: " << r.err);
    CHECK(r.exit_code == 0);
    int code = listener.wait();
    INFO(peer.tool << " stderr: " << listener.stderr_text());
    CHECK(code == 0);
    CHECK(fs::file_size(received) == kSize);
    CHECK(sha256_file(received) == sha256_file(in));
  }
}

TEST_CASE("interop: nc -N and socat send 1 MiB to tcp-listen -d", "[interop]") {
  TempDir dir;
  const auto in = dir / "in.bin";
  write_random_file(in, kSize, 22);
  struct Client {
    const char* tool;
    std::vector<std::string> (*argv)(uint16_t, const std::string&);
  };
  const Client clients[] = {
      // Debian's OpenBSD nc needs -N to shut down its sending side on stdin EOF.
      {"nc",
       [](uint16_t p, const std::string&) {
         return std::vector<std::string>{"nc", "-N", "127.0.0.1", std::to_string(p)};
       }},
      {"socat",
       [](uint16_t p, const std::string& file) {
         return std::vector<std::string>{"socat", "-u", "FILE:" + file, "TCP:127.0.0.1:" + std::to_string(p)};
       }},
  };
  for (const Client& client : clients) {
    INFO(client.tool);
    if (!have_tool(client.tool)) {
      WARN("skipped: " << client.tool << " is not installed");
      continue;
    }
    const auto received = dir / (std::string(client.tool) + ".out");
    auto l = start_listener({"tcp-listen", "-d", "127.0.0.1", "0"}, ProcessOptions().stdout_to(received));
    Process c(client.argv(l.port, in.string()), ProcessOptions().stdin_from(in));
    int client_code = c.wait();
    INFO(client.tool << " stderr: " << c.stderr_text());
    CHECK(client_code == 0);
    int code = l.proc.wait();
    INFO("tcp-listen stderr: " << l.proc.stderr_text());
    CHECK(code == 0);
    CHECK(fs::file_size(received) == kSize);
    CHECK(sha256_file(received) == sha256_file(in));
  }
}

TEST_CASE("interop: tcp-listen sends 1 MiB from stdin to nc -d and socat clients", "[interop]") {
  TempDir dir;
  const auto in = dir / "in.bin";
  write_random_file(in, kSize, 23);
  struct Client {
    const char* tool;
    std::vector<std::string> (*argv)(uint16_t, const std::string&);
  };
  const Client clients[] = {
      {"nc",
       [](uint16_t p, const std::string&) {
         return std::vector<std::string>{"nc", "-d", "127.0.0.1", std::to_string(p)};
       }},
      {"socat",
       [](uint16_t p, const std::string&) {
         return std::vector<std::string>{"socat", "-u", "TCP:127.0.0.1:" + std::to_string(p), "STDOUT"};
       }},
  };
  for (const Client& client : clients) {
    INFO(client.tool);
    if (!have_tool(client.tool)) {
      WARN("skipped: " << client.tool << " is not installed");
      continue;
    }
    const auto received = dir / (std::string(client.tool) + ".out");
    auto l = start_listener({"tcp-listen", "127.0.0.1", "0"}, ProcessOptions().stdin_from(in));
    Process c(client.argv(l.port, received.string()), ProcessOptions().stdout_to(received));
    int client_code = c.wait();
    INFO(client.tool << " stderr: " << c.stderr_text());
    CHECK(client_code == 0);
    int code = l.proc.wait();
    INFO("tcp-listen stderr: " << l.proc.stderr_text());
    CHECK(code == 0);
    CHECK(fs::file_size(received) == kSize);
    CHECK(sha256_file(received) == sha256_file(in));
  }
}
