// udp-forward end to end: clients on loopback, the forwarder, and a real
// target -- nettool udp-listen --echo, a python DNS stub queried with dig, or
// a port with nothing on it. Every wait is bounded; every process is a
// harness Process, reaped on every path.
#include <csignal>
#include <cstdlib>
#include <regex>
#include <set>

#include "harness.h"
#include "udp_test_util.h"

using namespace e2e;

namespace {

// An echo target: udp-listen --echo -S prints "ADDR:PORT payload" per datagram,
// so a test can see which source each session used.
Listener start_echo_target() { return start_listener({"udp-listen", "--echo", "-S", "127.0.0.1", "0"}); }

Listener start_forwarder(uint16_t target_port, std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"udp-forward", "-v"};
  args.insert(args.end(), extra.begin(), extra.end());
  for (const char* a : {"127.0.0.1", "0", "127.0.0.1"}) args.emplace_back(a);
  args.push_back(std::to_string(target_port));
  return start_listener(args);
}

// Sends `text` from `client` to the forwarder and returns the reply, if any came in `timeout`.
std::optional<std::string> ask(UdpSocket& client, uint16_t forwarder, const std::string& text, Ms timeout = kIoTimeout) {
  if (!client.send_to("127.0.0.1", forwarder, text)) return std::nullopt;
  auto reply = client.recv(timeout);
  if (!reply) return std::nullopt;
  if (reply->from_port != forwarder) return "(reply from the wrong port " + std::to_string(reply->from_port) + ")";
  return reply->payload;
}

}  // namespace

TEST_CASE("udp-forward: each client has its own session and gets only its own replies", "[udp-forward]") {
  auto target = start_echo_target();
  auto fwd = start_forwarder(target.port);
  UdpSocket a, b;
  CHECK(ask(a, fwd.port, "from a 1") == "from a 1");
  CHECK(ask(b, fwd.port, "from b 1") == "from b 1");
  CHECK(ask(a, fwd.port, "from a 2") == "from a 2");
  CHECK_FALSE(b.recv(Ms(200)));  // nothing of a's reached b
  INFO("forwarder stderr: " << fwd.proc.stderr_text());
  CHECK(count_occurrences(fwd.proc.stderr_text(), "new session") == 2);
  // The target saw two sources: one socket per client, reused for a's second datagram.
  REQUIRE(target.proc.wait_stdout_contains("from a 2"));
  std::regex line(R"(127\.0\.0\.1:(\d+) from ([ab]) \d)");
  std::map<std::string, std::set<std::string>> ports;
  for (const auto& l : split_lines(target.proc.stdout_text())) {
    std::smatch m;
    if (std::regex_search(l, m, line)) ports[m[2].str()].insert(m[1].str());
  }
  REQUIRE(ports["a"].size() == 1);
  REQUIRE(ports["b"].size() == 1);
  CHECK(*ports["a"].begin() != *ports["b"].begin());
}

TEST_CASE("udp-forward: a session ends after --idle-timeout with a log line, and the client can start another", "[udp-forward]") {
  auto target = start_echo_target();
  auto fwd = start_forwarder(target.port, {"-i", "300ms"});
  UdpSocket a;
  REQUIRE(ask(a, fwd.port, "hello") == "hello");
  INFO("forwarder stderr: " << fwd.proc.stderr_text());
  REQUIRE(fwd.proc.wait_stderr_contains("1 datagram (5 B) up, 1 (5 B) down", Ms(5000)));
  CHECK(fwd.proc.stderr_text().find(", idle") != std::string::npos);
  CHECK(ask(a, fwd.port, "again") == "again");
  CHECK(count_occurrences(fwd.proc.stderr_text(), "new session") == 2);
}

TEST_CASE("udp-forward: clients beyond --max-sessions are dropped and the log says so", "[udp-forward]") {
  auto target = start_echo_target();
  auto fwd = start_forwarder(target.port, {"--max-sessions", "1"});
  UdpSocket a, b;
  REQUIRE(ask(a, fwd.port, "first") == "first");
  CHECK_FALSE(ask(b, fwd.port, "second", Ms(300)));
  INFO("forwarder stderr: " << fwd.proc.stderr_text());
  CHECK(fwd.proc.wait_stderr_contains("--max-sessions"));
  CHECK(ask(a, fwd.port, "still") == "still");  // the session in place is unaffected
}

TEST_CASE("udp-forward: --deny drops a client's datagrams without opening a session", "[udp-forward]") {
  auto target = start_echo_target();
  auto fwd = start_forwarder(target.port, {"--deny", "127.0.0.0/8"});
  UdpSocket a;
  CHECK_FALSE(ask(a, fwd.port, "let me in", Ms(300)));
  INFO("forwarder stderr: " << fwd.proc.stderr_text());
  CHECK(fwd.proc.wait_stderr_contains("refused (--allow/--deny)"));
  CHECK(fwd.proc.stderr_text().find("new session") == std::string::npos);
}

TEST_CASE("udp-forward: a target with nothing listening is logged, and the forwarder keeps running", "[udp-forward]") {
  uint16_t closed = 0;
  {
    UdpSocket probe;  // a port that was free a moment ago
    closed = probe.port();
  }
  auto fwd = start_forwarder(closed);
  UdpSocket a;
  // The ICMP port unreachable comes back on the session's socket; the client gets nothing.
  CHECK_FALSE(ask(a, fwd.port, "anyone?", Ms(300)));
  a.send_to("127.0.0.1", fwd.port, "anyone at all?");
  INFO("forwarder stderr: " << fwd.proc.stderr_text());
  CHECK(fwd.proc.wait_stderr_contains("connection refused"));
  CHECK(fwd.proc.running());
}

TEST_CASE("udp-forward: SIGTERM ends every session with its log line and exits 0", "[udp-forward]") {
  auto target = start_echo_target();
  auto fwd = start_forwarder(target.port);
  UdpSocket a;
  REQUIRE(ask(a, fwd.port, "x") == "x");
  fwd.proc.signal(SIGTERM);
  CHECK(fwd.proc.wait() == 0);
  INFO("forwarder stderr: " << fwd.proc.stderr_text());
  CHECK(fwd.proc.stderr_text().find("1 datagram (1 B) up, 1 (1 B) down") != std::string::npos);
  CHECK(fwd.proc.stderr_text().find(", stopped") != std::string::npos);
}

TEST_CASE("udp-forward: mistakes in the target are errors that say what is wrong", "[udp-forward]") {
  auto r = run_nettool({"udp-forward", "127.0.0.1", "0", "127.0.0.1", "0"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("TARGET_PORT") != std::string::npos);
  r = run_nettool({"udp-forward", "-n", "127.0.0.1", "0", "no-such-host.invalid", "53"});
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("no-such-host.invalid") != std::string::npos);
  r = run_nettool({"udp-forward", "127.0.0.1", "0"});
  CHECK(r.exit_code == 2);
}

TEST_CASE("udp-forward: a --source this host cannot send from is an error at start, exit 1", "[udp-forward]") {
  // 192.0.2.1 (TEST-NET-1) is on no interface here; nothing is ever sent to or from it.
  auto r = run_nettool({"udp-forward", "-s", "192.0.2.1", "127.0.0.1", "0", "127.0.0.1", "9"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("--source: binding to 192.0.2.1:0: address not available") != std::string::npos);
  CHECK(r.err.find("listening on") == std::string::npos);
}

TEST_CASE("udp-forward: out of descriptors, a session that cannot open is said once, not per datagram", "[udp-forward]") {
  auto target = start_echo_target();
  // A small descriptor limit, set in a shell that then becomes nettool.
  auto fwd = start_listener_argv({"sh", "-c", "ulimit -n 24 && exec \"$@\"", "sh", nettool_path().string(),
                                  "udp-forward", "-v", "127.0.0.1", "0", "127.0.0.1", std::to_string(target.port)});
  UdpSocket first;
  REQUIRE(ask(first, fwd.port, "first") == "first");
  std::vector<UdpSocket> others(40);  // more clients than descriptors, each sending three datagrams
  for (int round = 0; round < 3; ++round)
    for (auto& c : others) c.send_to("127.0.0.1", fwd.port, "x");
  // The forwarder goes on forwarding for the sessions it has.
  CHECK(ask(first, fwd.port, "still here") == "still here");
  fwd.proc.signal(SIGTERM);
  fwd.proc.wait();
  const std::string err = fwd.proc.stderr_text();
  INFO("forwarder stderr: " << err);
  CHECK(count_occurrences(err, "new session") >= 1);
  CHECK(count_occurrences(err, "too many open files") == 2);  // the first failure, and the count at the end (one cause)
  CHECK(err.find("datagram(s) dropped: no session could be opened for them (last: ") != std::string::npos);
}

TEST_CASE("udp-forward: DNS through the forwarder (dig against a python stub server)", "[udp-forward]") {
  if (std::system("command -v dig >/dev/null 2>&1") != 0) {
    if (std::getenv("CI")) FAIL("dig is missing (scripts/setup.sh installs bind9-dnsutils), and CI is set: not skipping");
    WARN("dig is missing: skipped");
    return;
  }
  // Answers every query with one A record, 192.0.2.1 (TEST-NET-1: data only,
  // nothing is sent there), and says which port it listens on.
  const char* stub = R"PY(
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print("listening on 127.0.0.1:%d" % s.getsockname()[1], file=sys.stderr, flush=True)
s.settimeout(30)
for _ in range(20):
    try:
        q, peer = s.recvfrom(4096)
    except socket.timeout:
        break
    end = q.index(b"\0", 12) + 5          # the question: name, type, class
    head = q[:2] + b"\x81\x80" + struct.pack(">HHHH", 1, 1, 0, 0)
    answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 1])
    s.sendto(head + q[12:end] + answer, peer)
)PY";
  Process dns({"python3", "-c", stub});
  REQUIRE(dns.wait_stderr_contains("listening on 127.0.0.1:"));
  std::smatch m;
  std::string err = dns.stderr_text();
  REQUIRE(std::regex_search(err, m, std::regex(R"(127\.0\.0\.1:(\d+))")));
  auto fwd = start_forwarder(static_cast<uint16_t>(std::stoul(m[1].str())));
  Process dig({"dig", "@127.0.0.1", "-p", std::to_string(fwd.port), "host.example.test", "A", "+short", "+tries=2",
               "+time=3"});
  REQUIRE(dig.wait() == 0);
  INFO("forwarder stderr: " << fwd.proc.stderr_text());
  CHECK(dig.stdout_text() == "192.0.2.1\n");
}

TEST_CASE("udp-forward profile configs/udp-forward.yaml forwards (addresses overridden)", "[udp-forward][profile]") {
  auto target = start_echo_target();
  auto fwd = start_listener({"-c", (configs_dir() / "udp-forward.yaml").string(), "--port", "0", "--target-host",
                             "127.0.0.1", "--target-port", std::to_string(target.port)});
  UdpSocket a;
  CHECK(ask(a, fwd.port, "via the profile") == "via the profile");
}

TEST_CASE("udp-forward: an empty TARGET_HOST is a usage error, not the loopback address", "[udp-forward][options]") {
  auto r = run_nettool({"udp-forward", "127.0.0.1", "0", "", "53"}, {}, kUsageTimeout);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("TARGET_HOST is empty") != std::string::npos);
}

TEST_CASE("udp-forward: an empty --allow or --deny is a usage error, never allow-all", "[udp-forward][options]") {
  for (std::string flag : {"--allow", "--deny"})
    for (const char* empty : {"", ",", " "}) {
      INFO(flag << " '" << empty << "'");
      // A few seconds at most: a forwarder that started (the bug) would never exit by itself.
      auto r = run_nettool({"udp-forward", flag, empty, "127.0.0.1", "0", "127.0.0.1", "53"}, {}, kUsageTimeout);
      CHECK(r.exit_code == 2);
      CHECK(r.err.find(flag + ": needs at least one address or network") != std::string::npos);
    }
}

TEST_CASE("udp-forward warns when it listens beyond loopback with no --allow or --deny (an open reflector)",
          "[udp-forward][safety]") {
  // Only binds: nothing is sent to the wildcard address.
  struct Case {
    std::vector<std::string> args;  // before PORT TARGET_HOST TARGET_PORT
    bool warns;
  };
  for (const Case& c : {Case{{}, true}, Case{{"-4", "0.0.0.0"}, true}, Case{{"127.0.0.1"}, false},
                        Case{{"::1"}, false}, Case{{"--allow", "127.0.0.0/8"}, false},
                        Case{{"--deny", "192.0.2.0/24"}, false}}) {
    std::vector<std::string> args{"udp-forward"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    args.insert(args.end(), {"0", "127.0.0.1", "53"});
    auto l = start_listener(args);
    l.proc.signal(SIGTERM);
    CHECK(l.proc.wait(kIoTimeout) == 0);
    std::string err = l.proc.stderr_text();
    INFO("udp-forward " << (c.args.empty() ? "(all addresses)" : c.args[0] + " " + c.args[1 % c.args.size()])
                        << " stderr: " << err);
    CHECK((err.find("with no --allow/--deny: anyone who reaches it can send to 127.0.0.1:53") != std::string::npos) ==
          c.warns);
  }
}
