// file-serve --workers N: several event loops on threads, each with its own
// SO_REUSEPORT listening socket on the same address.
//
// Which worker gets a connection is the kernel's choice (a hash of the
// 4-tuple), so the tests that check the spreading open many connections from
// different source ports: with 64 of them, the chance that one of two workers
// gets none is 2 * 2^-64. Every server listens on 127.0.0.1:0; every wait is
// bounded; every process is reaped by the harness.
#include <catch2/catch.hpp>

#include <signal.h>

#include <map>
#include <regex>

#include "file_test_util.h"
#include "harness.h"

using namespace e2e;
using namespace filetest;

namespace {

struct WorkerTotals {
  uint64_t connections = 0;
  uint64_t requests = 0;
};

// The "worker N: C connection(s), R request(s)" lines of -v, by worker.
std::map<int, WorkerTotals> worker_totals(const std::string& log) {
  static const std::regex line(R"(worker (\d+): (\d+) connection\(s\), (\d+) request\(s\))");
  std::map<int, WorkerTotals> out;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), line); it != std::sregex_iterator(); ++it)
    out[std::stoi((*it)[1])] = {std::stoull((*it)[2]), std::stoull((*it)[3])};
  return out;
}

// The connection count of the final -v summary ("..., N connection(s), ...").
std::optional<uint64_t> summary_connections(const std::string& log) {
  static const std::regex line(R"(received .*, (\d+) connection\(s\), )");
  std::smatch m;
  if (!std::regex_search(log, m, line)) return std::nullopt;
  return std::stoull(m[1]);
}

}  // namespace

TEST_CASE("file-serve: --workers 2 serves 64 concurrent keep-alive clients byte for byte on both workers",
          "[file][file-serve][workers]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  std::vector<std::string> contents;
  for (int i = 0; i < 4; ++i) {
    contents.push_back(random_bytes(4 * KiB + static_cast<size_t>(i) * 100 * KiB, 700 + static_cast<uint64_t>(i)));
    write_file(root / ("f" + std::to_string(i) + ".bin"), contents.back());
  }

  auto srv = start_serve(root, {"--workers", "2", "-v"});
  REQUIRE(srv.proc.wait_stderr_contains("with 2 workers"));
  // One "listening on" line, however many sockets.
  CHECK(count_occurrences(srv.proc.stderr_text(), "listening on") == 1);

  constexpr int kClients = 64;
  std::vector<Socket> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(connect_tcp(srv.port));
  // Two rounds: every client sends, then every answer is read, so all 64
  // requests are in the server at once.
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < kClients; ++i) {
      std::string req = "GET /f" + std::to_string((i + round) % 4) + ".bin HTTP/1.1\r\nHost: x\r\n\r\n";
      REQUIRE(clients[static_cast<size_t>(i)].send_all(req));
    }
    for (int i = 0; i < kClients; ++i) {
      auto r = read_response(clients[static_cast<size_t>(i)]);
      INFO("client " << i << " round " << round);
      REQUIRE(r.status == 200);
      REQUIRE(r.body == contents[static_cast<size_t>((i + round) % 4)]);
      CHECK(r.header("Repr-Digest").value_or("") == repr_digest_of(r.body));
    }
  }
  clients.clear();

  srv.proc.signal(SIGTERM);
  int code = srv.proc.wait(15s);
  const std::string log = srv.proc.stderr_text();
  INFO("server: " << log);
  CHECK(code == 0);
  auto totals = worker_totals(log);
  REQUIRE(totals.size() == 2);
  CHECK(totals[0].connections > 0);
  CHECK(totals[1].connections > 0);
  CHECK(totals[0].connections + totals[1].connections == kClients);
  CHECK(totals[0].requests + totals[1].requests == 2 * kClients);
  // The -v summary adds the workers up.
  CHECK(summary_connections(log) == std::optional<uint64_t>(kClients));
  CHECK(log_lines_with(log, " GET /f").size() == 2 * kClients);
}

TEST_CASE("file-serve: SIGTERM with --workers 2 finishes every download in flight and exits 0",
          "[file][file-serve][workers][shutdown]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  write_random_file(root / "big.bin", 4 * MiB, 71);
  write_file(root / "a.txt", "hello\n");
  const std::string expected = sha256_file(root / "big.bin");

  auto srv = start_serve(root, {"--workers", "2", "--grace", "20s", "-v"});
  constexpr int kClients = 24;  // both workers get some: all on one has a chance of 2^-23
  std::vector<Socket> clients;
  std::vector<std::string> got(kClients);
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(connect_tcp(srv.port));
    REQUIRE(clients.back().send_all("GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"));
  }
  // Every response has started (the head is here); then the signal.
  for (int i = 0; i < kClients; ++i) REQUIRE(clients[static_cast<size_t>(i)].recv_until(got[static_cast<size_t>(i)], "\r\n\r\n"));
  // An idle keep-alive client (accepted: it had an answer) is closed at once.
  Socket idle = connect_tcp(srv.port);
  REQUIRE(idle.send_all("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"));
  REQUIRE(read_response(idle).body == "hello\n");
  srv.proc.signal(SIGTERM);
  REQUIRE(srv.proc.wait_stderr_contains("SIGTERM"));
  ReadEnd idle_end = ReadEnd::Timeout;
  CHECK(idle.recv_all(10s, &idle_end).empty());
  CHECK(idle_end != ReadEnd::Timeout);
  // No worker accepts any more.
  CHECK(eventually([&] { return !try_connect_tcp(srv.port, "127.0.0.1", 1s).valid(); }, 10s));
  for (int i = 0; i < kClients; ++i) {
    INFO("client " << i);
    ReadEnd how = ReadEnd::Timeout;
    got[static_cast<size_t>(i)] += clients[static_cast<size_t>(i)].recv_all(30s, &how);
    auto resp = parse_response_text(got[static_cast<size_t>(i)], how);
    REQUIRE(resp.status == 200);
    CHECK(resp.header("Connection").value_or("") == "");  // the head went out before the signal
    REQUIRE(resp.body.size() == 4 * MiB);
    CHECK(sha256_hex(resp.body) == expected);
  }
  int code = srv.proc.wait(15s);
  const std::string log = srv.proc.stderr_text();
  INFO("server: " << log);
  CHECK(code == 0);
  auto totals = worker_totals(log);
  REQUIRE(totals.size() == 2);
  CHECK(totals[0].requests > 0);  // so both the main loop and a worker thread drained
  CHECK(totals[1].requests > 0);
  CHECK(totals[0].requests + totals[1].requests == kClients + 1);
}

TEST_CASE("file-serve: bad --workers values exit 2 with a message naming the option", "[file][file-serve][workers]") {
  TempDir dir;
  for (std::string bad : {"0", "65", "-1", "two", "2x", "1.5", ""}) {
    INFO("--workers '" << bad << "'");
    auto r = run_nettool({"file-serve", "--root", dir.path().string(), "--listen", "127.0.0.1:0", "--workers", bad}, {},
                         20s);
    INFO("stderr: " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--workers") != std::string::npos);
  }
}

TEST_CASE("file-serve: --workers auto and the profile key workers serve files", "[file][file-serve][workers][config]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  write_file(root / "a.txt", "hello\n");

  SECTION("--workers auto") {
    auto srv = start_serve(root, {"--workers", "auto"});
    auto r = http_get(srv.port, "/a.txt");
    INFO("server: " << srv.proc.stderr_text());
    CHECK(r.status == 200);
    CHECK(r.body == "hello\n");
  }
  SECTION("workers: 3 in a profile, with --max-connections counted over all workers") {
    const auto profile = dir / "serve.yaml";
    write_file(profile, "command: file-serve\nroot: root\nlisten: 127.0.0.1:0\nworkers: 3\nmax-connections: 4\n");
    auto srv = start_listener({"-c", profile.string()});
    CHECK(srv.proc.wait_stderr_contains("with 3 workers"));
    // Four keep-alive clients, wherever the kernel put them, use up the limit.
    std::vector<Socket> held;
    for (int i = 0; i < 4; ++i) {
      held.push_back(connect_tcp(srv.port));
      std::string pending;
      REQUIRE(held.back().send_all("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"));
      REQUIRE(read_response(held.back(), pending).body == "hello\n");
    }
    CHECK(http_get(srv.port, "/a.txt").status == 503);
    held.pop_back();
    CHECK(eventually([&] { return http_get(srv.port, "/a.txt").status == 200; }, 10s));
  }
}

// SO_REUSEPORT would let any socket of the same user join the group: a second
// server on the address must fail as it does with one worker, not share it.
TEST_CASE("file-serve: a second --workers 2 server on a taken address exits 1 instead of sharing the port",
          "[file][file-serve][workers]") {
  TempDir dir;
  auto first = start_listener({"file-serve", "--root", dir.path().string(), "--listen", "127.0.0.1:0", "--workers", "2"});
  for (std::string workers : {"2", "1"}) {
    INFO("second server with --workers " << workers);
    auto second = run_nettool({"file-serve", "--root", dir.path().string(), "--listen",
                               "127.0.0.1:" + std::to_string(first.port), "--workers", workers},
                              {}, 20s);
    INFO("stderr: " << second.err);
    CHECK(second.exit_code == 1);
    CHECK(second.err.find("in use") != std::string::npos);
  }
  first.proc.signal(SIGTERM);
  CHECK(first.proc.wait() == 0);
}
