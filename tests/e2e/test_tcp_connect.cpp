// tcp-connect against custom peers: half-close, the peer closing first, idle
// timeout, --zero scans, and how failures are reported (exit codes, messages).
#include <catch2/catch.hpp>

#include <netdb.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <memory>

#include "harness.h"

using namespace e2e;

namespace {

std::string reversed(std::string s) {
  std::reverse(s.begin(), s.end());
  return s;
}

// A port nothing listens on, held (bound, not listening) for the test's lifetime.
void hold_some_closed_port(ClosedPort& out) {
  for (int i = 0; i < 100; ++i)
    if (hold_closed_port(pick_free_port(), out)) return;
  throw std::runtime_error("could not reserve a closed port");
}

}  // namespace

TEST_CASE("tcp-connect half-closes on stdin EOF so the peer can answer, --no-half-close keeps the write side open",
          "[tcp-connect][half-close]") {
  TempDir dir;
  const std::string request = "a request the peer answers only after its end\n";
  const auto req = dir / "request.txt";
  write_file(req, request);

  // The peer reads until EOF (waiting up to `patience`), then answers with the
  // request reversed, or NO-EOF if the end never came; then it closes.
  auto reverse_peer = [](Ms patience, bool& saw_eof, std::string& got) {
    return [patience, &saw_eof, &got](Socket& s) {
      ReadEnd how;
      got = s.recv_all(patience, &how);
      saw_eof = how == ReadEnd::Eof;
      s.send_all(saw_eof ? reversed(got) : "NO-EOF\n");
    };
  };

  {
    INFO("default (--half-close)");
    bool saw_eof = false;
    std::string got;
    PeerThread peer(reverse_peer(kIoTimeout, saw_eof, got));
    auto r = run_nettool({"tcp-connect", "127.0.0.1", std::to_string(peer.port())}, ProcessOptions().stdin_from(req));
    peer.join();
    INFO("stderr: " << r.err << " peer: " << peer.error());
    CHECK(r.exit_code == 0);
    CHECK(saw_eof);
    CHECK(got == request);
    CHECK(r.out == reversed(request));
  }
  {
    INFO("--no-half-close");
    bool saw_eof = true;
    std::string got;
    // The peer gives up waiting for an EOF after 1.5 s, says so and closes;
    // tcp-connect then ends because the peer closed.
    PeerThread peer(reverse_peer(1500ms, saw_eof, got));
    auto r = run_nettool({"tcp-connect", "--no-half-close", "127.0.0.1", std::to_string(peer.port())},
                         ProcessOptions().stdin_from(req));
    peer.join();
    INFO("stderr: " << r.err << " peer: " << peer.error());
    CHECK_FALSE(saw_eof);
    CHECK(got == request);
    CHECK(r.out == "NO-EOF\n");
    CHECK(r.exit_code == 0);
  }
}

TEST_CASE("tcp-connect --no-wait-stdin prints what the peer sent and exits 0 when the peer closes while stdin is open",
          "[tcp-connect]") {
  std::string got;
  PeerThread peer([&](Socket& s) {
    s.recv_until(got, "ping\n");
    s.send_all("pong from the peer\n");
    // returning closes the connection
  });
  Process nt(nettool_argv({"tcp-connect", "--no-wait-stdin", "127.0.0.1", std::to_string(peer.port())}),
             ProcessOptions().stdin_pipe());
  REQUIRE(nt.write_stdin("ping\n"));
  // stdin stays open (we hold the pipe) for the whole test.
  int code = nt.wait();
  peer.join();
  INFO("stderr: " << nt.stderr_text() << " peer: " << peer.error());
  CHECK(code == 0);
  CHECK(got == "ping\n");
  CHECK(nt.stdout_text() == "pong from the peer\n");
}

TEST_CASE("tcp-connect -i gives up on a silent peer with exit 1 and closes the connection", "[tcp-connect][timeout]") {
  ReadEnd peer_saw = ReadEnd::Timeout;
  std::string got;
  PeerThread peer([&](Socket& s) { got = s.recv_all(kRunTimeout, &peer_saw); });  // silent; waits for the close
  Process nt(nettool_argv({"tcp-connect", "-i", "300ms", "127.0.0.1", std::to_string(peer.port())}),
             ProcessOptions().stdin_pipe());  // stdin open and quiet: nothing moves either way
  int code = nt.wait();
  peer.join();
  std::string err = nt.stderr_text();
  INFO("stderr: " << err << " peer: " << peer.error());
  CHECK(code == 1);
  CHECK(err.find("idle") != std::string::npos);
  CHECK(peer_saw != ReadEnd::Timeout);  // the connection was closed by tcp-connect
  CHECK(got.empty());
}

TEST_CASE("tcp-connect reports failures with one clear line and exit codes 1 (runtime) and 2 (usage)",
          "[tcp-connect][errors]") {
  SECTION("connection refused: exit 1, one line naming the port") {
    ClosedPort closed;
    hold_some_closed_port(closed);
    auto r = run_nettool({"tcp-connect", "-n", "127.0.0.1", std::to_string(closed.port)});
    INFO("stderr: " << r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.out.empty());
    auto lines = split_lines(r.err);
    CHECK(lines.size() == 1);
    CHECK(r.err.find("refused") != std::string::npos);
    CHECK(r.err.find(std::to_string(closed.port)) != std::string::npos);
  }
  SECTION("-n with a name that is not an address: exit 1, names it") {
    auto r = run_nettool({"tcp-connect", "-n", "no-such-host.invalid", "80"});
    INFO("stderr: " << r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("no-such-host.invalid") != std::string::npos);
  }
  SECTION("unknown flag: exit 2, names it") {
    auto r = run_nettool({"tcp-connect", "--no-such-flag", "127.0.0.1", "80"});
    INFO("stderr: " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--no-such-flag") != std::string::npos);
  }
  SECTION("an empty HOST: exit 2, says so") {
    for (std::string command : {"tcp-connect", "udp-send"}) {
      auto r = run_nettool({command, "", "80"});
      INFO(command << " stderr: " << r.err);
      CHECK(r.exit_code == 2);
      CHECK(r.err.find("HOST is empty") != std::string::npos);
    }
  }
  SECTION("missing port: exit 2") {
    auto r = run_nettool({"tcp-connect", "127.0.0.1"});
    INFO("stderr: " << r.err);
    CHECK(r.exit_code == 2);
  }
  SECTION("bad duration: exit 2, names the value") {
    auto r = run_nettool({"tcp-connect", "-i", "banana", "127.0.0.1", "80"});
    INFO("stderr: " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("banana") != std::string::npos);
  }
  SECTION("a profile with a typo in a key at line 3: exit 2, FILE:3: and the suggestion") {
    TempDir dir;
    const auto profile = dir / "typo.yaml";
    write_file(profile, "command: tcp-connect\nhost: 127.0.0.1\ntimout: 5s\nport: 9\n");
    auto r = run_nettool({"-c", profile.string()});
    INFO("stderr: " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(profile.string() + ":3:") != std::string::npos);
    CHECK(r.err.find("timeout") != std::string::npos);  // did you mean
  }
}

TEST_CASE("tcp-connect --zero reports the open port of a range and exits 0, exits 1 when all are closed",
          "[tcp-connect][zero]") {
  // An open port P (a plain listening socket) next to a closed one (bound, not
  // listening, so no parallel test can take it while we scan).
  std::unique_ptr<TcpServer> open;
  ClosedPort closed;
  for (int i = 0; i < 100 && closed.fd < 0; ++i) {
    open = std::make_unique<TcpServer>();
    if (hold_closed_port(static_cast<uint16_t>(open->port() + 1), closed)) break;
  }
  REQUIRE(closed.fd >= 0);
  const uint16_t p = open->port();
  const std::string range = std::to_string(p) + "-" + std::to_string(p + 1);

  auto r = run_nettool({"tcp-connect", "-z", "-n", "127.0.0.1", range});
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.empty());
  CHECK(r.err.find("port " + std::to_string(p) + " open") != std::string::npos);
  CHECK(r.err.find("port " + std::to_string(p + 1) + " open") == std::string::npos);

  // Two adjacent closed ports, both held.
  ClosedPort a, b;
  for (int i = 0; i < 100 && b.fd < 0; ++i) {
    hold_some_closed_port(a);
    hold_closed_port(static_cast<uint16_t>(a.port + 1), b);
  }
  REQUIRE(b.fd >= 0);
  auto r2 = run_nettool({"tcp-connect", "-z", "-n", "127.0.0.1", std::to_string(a.port) + "-" + std::to_string(b.port)});
  INFO("stderr: " << r2.err);
  CHECK(r2.exit_code == 1);
  CHECK(r2.out.empty());
  CHECK(r2.err.find("port " + std::to_string(a.port) + " open") == std::string::npos);
  CHECK(r2.err.find("port " + std::to_string(b.port) + " open") == std::string::npos);
  CHECK(r2.err.find("no open port") != std::string::npos);
}

TEST_CASE("tcp-connect -w gives up on a port that never answers: exit 1 and how long it waited", "[tcp-connect][timeout]") {
  StalledPort stalled;
  const std::string port = std::to_string(stalled.port());
  for (std::vector<std::string> line : {std::vector<std::string>{"tcp-connect", "-z", "-w", "300ms", "127.0.0.1", port},
                                        std::vector<std::string>{"tcp-connect", "-w", "300ms", "127.0.0.1", port}}) {
    auto r = run_nettool(line, ProcessOptions().stdin_pipe());
    INFO(line[1] << " stderr: " << r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("cannot connect to 127.0.0.1 port " + port + ": timed out after 300 ms") != std::string::npos);
  }
}

TEST_CASE("tcp-connect interrupted before the peer answers exits 1 and says so, -z included", "[tcp-connect][signals]") {
  // Before: a SIGTERM during the connection attempt exited 0, so a script's
  // `until nettool tcp-connect -z ...` read an interrupted check as an open port.
  StalledPort stalled;
  const std::string port = std::to_string(stalled.port());
  for (std::vector<std::string> line : {std::vector<std::string>{"tcp-connect", "-z", "127.0.0.1", port},
                                        std::vector<std::string>{"tcp-connect", "-z", "127.0.0.1", "1," + port},
                                        std::vector<std::string>{"tcp-connect", "127.0.0.1", port}}) {
    Process nt(nettool_argv(line), ProcessOptions().stdin_pipe());
    REQUIRE(eventually([&] { return is_connecting(nt.pid(), stalled.port()); }));  // connecting, past start-up
    nt.signal(SIGTERM);
    int code = nt.wait();
    std::string err = nt.stderr_text();
    INFO(line[1] << " " << line[line.size() - 1] << " stderr: " << err);
    CHECK(code == 1);
    CHECK(err.find("interrupted before 127.0.0.1 port " + port + " answered") != std::string::npos);
  }
}

TEST_CASE("tcp-connect keeps sending stdin that is not a terminal after the peer half-closed first, as nc does",
          "[tcp-connect][half-close]") {
  // The default for a pipe or file stdin, and what --wait-stdin asks for anywhere.
  const std::string flag = GENERATE(std::string(""), std::string("--wait-stdin"));
  TempDir dir;
  const auto in = dir / "in.bin";
  write_random_file(in, 1024 * 1024, 31);
  std::string got;
  ReadEnd how = ReadEnd::Timeout;
  // Like `ncat -l < /dev/null`: the peer says its piece and half-closes at once.
  PeerThread peer([&](Socket& s) {
    s.send_all("early word\n");
    s.shutdown_write();
    got = s.recv_all(kIoTimeout, &how);
  });
  std::vector<std::string> args = {"tcp-connect", "127.0.0.1", std::to_string(peer.port())};
  if (!flag.empty()) args.insert(args.begin() + 1, flag);
  auto r = run_nettool(args, ProcessOptions().stdin_from(in));
  peer.join();
  INFO("stderr: " << r.err << " peer: " << peer.error());
  CHECK(r.exit_code == 0);
  CHECK(r.out == "early word\n");
  CHECK(how == ReadEnd::Eof);
  CHECK(got.size() == fs::file_size(in));
  CHECK(sha256_hex(got) == sha256_file(in));
}

TEST_CASE("tcp-connect --send-only exits after sending stdin without waiting for the peer", "[tcp-connect]") {
  TempDir dir;
  write_file(dir / "in.txt", "only this goes out\n");
  std::string got;
  ReadEnd how = ReadEnd::Timeout;
  std::atomic<bool> done{false};
  PeerThread peer([&](Socket& s) {
    s.send_all("ignored by --send-only\n");
    got = s.recv_all(kIoTimeout, &how);
    eventually([&] { return done.load(); });  // keep the connection open until tcp-connect is gone
  });
  auto r = run_nettool({"tcp-connect", "--send-only", "127.0.0.1", std::to_string(peer.port())},
                       ProcessOptions().stdin_from(dir / "in.txt"));
  done = true;
  peer.join();
  INFO("stderr: " << r.err << " peer: " << peer.error());
  CHECK(r.exit_code == 0);
  CHECK(r.out.empty());
  CHECK(got == "only this goes out\n");
  CHECK(how == ReadEnd::Eof);
}

TEST_CASE("tcp-connect -d prints what arrives and never sends its stdin", "[tcp-connect]") {
  std::string got;
  ReadEnd how = ReadEnd::Timeout;
  PeerThread peer([&](Socket& s) {
    s.send_all("for you\n");
    s.shutdown_write();
    got = s.recv_all(kIoTimeout, &how);
  });
  Process nt(nettool_argv({"tcp-connect", "-d", "127.0.0.1", std::to_string(peer.port())}),
             ProcessOptions().stdin_pipe());
  REQUIRE(nt.write_stdin("must not be sent\n"));  // waiting in the pipe from the start; the pipe stays open
  int code = nt.wait();
  peer.join();
  INFO("stderr: " << nt.stderr_text() << " peer: " << peer.error());
  CHECK(code == 0);
  CHECK(nt.stdout_text() == "for you\n");
  CHECK(got.empty());
  CHECK(how == ReadEnd::Eof);
}

TEST_CASE("tcp-connect --crlf sends line endings as CRLF", "[tcp-connect]") {
  TempDir dir;
  write_file(dir / "in.txt", "GET / HTTP/1.0\nHost: x\n\n");
  std::string got;
  PeerThread peer([&](Socket& s) { got = s.recv_all(); });
  auto r = run_nettool({"tcp-connect", "-C", "127.0.0.1", std::to_string(peer.port())},
                       ProcessOptions().stdin_from(dir / "in.txt"));
  peer.join();
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK(got == "GET / HTTP/1.0\r\nHost: x\r\n\r\n");
}

TEST_CASE("tcp-connect resolves localhost and reaches the listener on whichever of its addresses has one", "[tcp-connect][ipv6]") {
  // Whichever of ::1 and 127.0.0.1 comes first, the one with the listener wins.
  // Only the families localhost really resolves to here (often just 127.0.0.1).
  std::vector<std::string> hosts;
  for (auto [family, host] : {std::pair{AF_INET, "127.0.0.1"}, std::pair{AF_INET6, "::1"}}) {
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo("localhost", nullptr, &hints, &res) == 0) {
      freeaddrinfo(res);
      if (family == AF_INET || ipv6_loopback_available()) hosts.push_back(host);
    }
  }
  REQUIRE_FALSE(hosts.empty());
  for (const auto& host : hosts) {
    INFO("listener on " << host);
    std::string got;
    PeerThread peer([&](Socket& s) { got = s.recv_all(); }, 1, host);
    TempDir dir;
    write_file(dir / "in.txt", "via localhost\n");
    auto r = run_nettool({"tcp-connect", "localhost", std::to_string(peer.port())},
                         ProcessOptions().stdin_from(dir / "in.txt"));
    peer.join();
    INFO("stderr: " << r.err << " peer: " << peer.error());
    CHECK(r.exit_code == 0);
    CHECK(got == "via localhost\n");
  }
}

TEST_CASE("tcp-connect takes an address as it is, within -4/-6, and leaves other forms to the resolver", "[tcp-connect][ipv6]") {
  TcpServer v4("127.0.0.1");  // the kernel completes the handshakes from the backlog
  const std::string port = std::to_string(v4.port());
  auto zero = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"tcp-connect", "-z"});
    args.push_back(port);
    return run_nettool(args);
  };

  auto plain = zero({"127.0.0.1"});
  INFO("127.0.0.1: " << plain.err);
  CHECK(plain.exit_code == 0);
  auto short_form = zero({"127.1"});  // inet_aton's form: getaddrinfo's business
  INFO("127.1: " << short_form.err);
  CHECK(short_form.exit_code == 0);
  // An address of the other family is refused as before, by the resolver.
  auto v6_only = zero({"-6", "127.0.0.1"});
  CHECK(v6_only.exit_code == 1);
  CHECK_THAT(v6_only.err, Catch::Contains("cannot resolve '127.0.0.1'"));
  auto v4_only = zero({"-4", "::1"});
  CHECK(v4_only.exit_code == 1);
  CHECK_THAT(v4_only.err, Catch::Contains("cannot resolve '::1'"));

  if (ipv6_loopback_available()) {
    TcpServer v6("::1");
    for (std::string host : {"::1", "[::1]"}) {
      auto r = run_nettool({"tcp-connect", "-z", host, std::to_string(v6.port())});
      INFO(host << ": " << r.err);
      CHECK(r.exit_code == 0);
    }
  }
}

TEST_CASE("tcp-connect into a reader that leaves early (| head) stops without an error line and exits 1 as nc does",
          "[tcp-connect]") {
  TcpServer srv;
  std::jthread feeder([&] {
    Socket s = srv.accept();
    if (!s.valid()) return;
    const std::string block(64 * 1024, 'x');
    for (int i = 0; i < 1024 && s.send_all(block); ++i) {  // up to 64 MiB, until tcp-connect is gone
    }
  });
  Process sh({"sh", "-c", "{ \"$0\" tcp-connect 127.0.0.1 \"$1\" </dev/null; echo \"status $?\" >&2; } | head -c 5",
              nettool_path().string(), std::to_string(srv.port())});
  CHECK(sh.wait() == 0);
  CHECK(sh.stdout_text() == "xxxxx");
  CHECK(sh.stderr_text() == "status 1\n");  // no "broken pipe" error line
}
