// tcp-listen's many-client modes (-k, --echo, --broker), its limits
// (--max-clients, --allow/--deny, --idle-timeout), IPv6, and signals.
#include <catch2/catch.hpp>

#include <atomic>
#include <csignal>
#include <set>
#include <thread>

#include "harness.h"

using namespace e2e;

namespace {

constexpr size_t KiB = 1024;

// One request/response through an echo server on an open connection.
bool echo_round_trip(Socket& s, const std::string& message) {
  if (!s.send_all(message)) return false;
  return s.recv_exact(message.size()) == message;
}

// The client saw the connection closed (EOF or reset) without any data.
void check_closed_without_data(Socket& s) {
  ReadEnd how;
  std::string got = s.recv_all(kIoTimeout, &how);
  INFO("read ended with " << to_string(how));
  CHECK(how != ReadEnd::Timeout);
  CHECK(got.empty());
}

}  // namespace

TEST_CASE("tcp-listen -k --echo serves 50 concurrent clients, each gets exactly its own bytes back",
          "[tcp-listen][keep-open][echo]") {
  constexpr int kClients = 50;
  auto l = start_listener({"tcp-listen", "-k", "--echo", "127.0.0.1", "0"});

  // All connected before anyone sends, so they are served at the same time.
  std::vector<Socket> sockets;
  std::vector<std::string> payloads;
  for (int i = 0; i < kClients; ++i) {
    sockets.push_back(connect_tcp(l.port));
    payloads.push_back("<client " + std::to_string(i) + ">" + random_bytes(64 * KiB, 100 + i) + "</client>");
  }
  std::vector<std::string> received(kClients);
  std::vector<ReadEnd> ends(kClients, ReadEnd::Timeout);
  {
    std::vector<std::jthread> threads;
    for (int i = 0; i < kClients; ++i)
      threads.emplace_back([&, i] { received[i] = sockets[i].exchange(payloads[i], kRunTimeout, &ends[i]); });
  }
  INFO("tcp-listen stderr: " << l.proc.stderr_text());
  int intact = 0;
  for (int i = 0; i < kClients; ++i) {
    INFO("client " << i << " read ended with " << to_string(ends[i]) << " after " << received[i].size() << " bytes");
    CHECK(ends[i] == ReadEnd::Eof);
    CHECK(received[i] == payloads[i]);
    intact += received[i] == payloads[i];
  }
  CHECK(intact == kClients);
  CHECK(l.proc.running());  // -k keeps listening after clients leave
  l.proc.signal(SIGTERM);
  CHECK(l.proc.wait() == 0);
}

TEST_CASE("tcp-listen -k writes every client's data to stdout and sends stdin to all clients",
          "[tcp-listen][keep-open]") {
  constexpr int kClients = 50;
  auto l = start_listener({"tcp-listen", "-k", "127.0.0.1", "0"}, ProcessOptions().stdin_pipe());

  std::vector<Socket> sockets;
  std::set<std::string> expected;
  for (int i = 0; i < kClients; ++i) sockets.push_back(connect_tcp(l.port));
  {
    std::vector<std::jthread> threads;
    for (int i = 0; i < kClients; ++i) {
      std::string line = "client " + std::to_string(i) + " says " + sha256_hex(std::to_string(i)) + "\n";
      expected.insert(line.substr(0, line.size() - 1));
      threads.emplace_back([&sockets, i, line] { sockets[i].send_all(line); });
    }
  }
  // Every line, intact and exactly once, in whatever order they came.
  auto all_lines_there = [&](const std::string& out) { return split_lines(out).size() >= kClients; };
  CHECK(l.proc.wait_stdout(all_lines_there, kIoTimeout));
  std::string out = l.proc.stdout_text();
  INFO("stdout: " << out << "\nstderr: " << l.proc.stderr_text());
  CHECK(out.size() > 0);
  CHECK(out.back() == '\n');
  auto lines = split_lines(out);
  std::multiset<std::string> got(lines.begin(), lines.end());
  CHECK(got.size() == expected.size());
  CHECK(std::set<std::string>(got.begin(), got.end()) == expected);

  // All 50 are connected (their lines arrived), so a line on stdin reaches each.
  REQUIRE(l.proc.write_stdin("to everyone\n"));
  int reached = 0;
  const auto deadline = std::chrono::steady_clock::now() + kIoTimeout;  // for all of them together
  for (int i = 0; i < kClients; ++i) {
    std::string buf;
    auto left = std::chrono::duration_cast<Ms>(deadline - std::chrono::steady_clock::now());
    bool ok = sockets[i].recv_until(buf, "to everyone\n", std::max(left, Ms(1)));
    INFO("client " << i << " got '" << buf << "'");
    CHECK(ok);
    CHECK(buf == "to everyone\n");
    reached += ok;
  }
  CHECK(reached == kClients);
  sockets.clear();
  l.proc.signal(SIGTERM);
  CHECK(l.proc.wait() == 0);
}

TEST_CASE("tcp-listen --broker relays each client's data to the other clients, not back to the sender",
          "[tcp-listen][broker]") {
  auto l = start_listener({"tcp-listen", "--broker", "127.0.0.1", "0"});
  Socket a = connect_tcp(l.port), b = connect_tcp(l.port), c = connect_tcp(l.port);
  std::string at_a, at_b, at_c;
  // C speaks first: A and B hearing it shows that all three were accepted.
  REQUIRE(c.send_all("C-ready\n"));
  REQUIRE(a.recv_until(at_a, "C-ready\n"));
  REQUIRE(b.recv_until(at_b, "C-ready\n"));
  REQUIRE(a.send_all("from-A\n"));
  REQUIRE(b.recv_until(at_b, "from-A\n"));
  REQUIRE(c.recv_until(at_c, "from-A\n"));
  REQUIRE(b.send_all("from-B\n"));
  REQUIRE(a.recv_until(at_a, "from-B\n"));
  REQUIRE(c.recv_until(at_c, "from-B\n"));
  // A graceful stop closes every client; what each received in total is then
  // exact. A sender's own message would have reached it before the next one
  // (the relay writes a chunk to all its destinations at once), so it would
  // show up here.
  l.proc.signal(SIGTERM);
  ReadEnd ea, eb, ec;
  at_a += a.recv_all(kIoTimeout, &ea);
  at_b += b.recv_all(kIoTimeout, &eb);
  at_c += c.recv_all(kIoTimeout, &ec);
  INFO("stderr: " << l.proc.stderr_text());
  CHECK(at_a == "C-ready\nfrom-B\n");
  CHECK(at_b == "C-ready\nfrom-A\n");
  CHECK(at_c == "from-A\nfrom-B\n");
  CHECK(ea == ReadEnd::Eof);
  CHECK(eb == ReadEnd::Eof);
  CHECK(ec == ReadEnd::Eof);
  CHECK(l.proc.wait() == 0);
}

TEST_CASE("tcp-listen -k -i drops an idle client (it sees EOF) and keeps serving others", "[tcp-listen][timeout]") {
  auto l = start_listener({"tcp-listen", "-k", "-i", "300ms", "127.0.0.1", "0"}, ProcessOptions().stdin_pipe());
  Socket idle = connect_tcp(l.port);
  REQUIRE(idle.send_all("hello, then silence\n"));
  REQUIRE(l.proc.wait_stdout_contains("hello, then silence\n"));
  check_closed_without_data(idle);
  CHECK(l.proc.wait_stderr_contains("idle"));
  // Still listening and serving.
  Socket next = connect_tcp(l.port);
  REQUIRE(next.send_all("still served\n"));
  CHECK(l.proc.wait_stdout_contains("still served\n"));
  INFO("stderr: " << l.proc.stderr_text());
  CHECK(l.proc.running());
  l.proc.signal(SIGTERM);
  CHECK(l.proc.wait() == 0);
}

TEST_CASE("tcp-listen --max-clients 2: a third client is closed at once, the first two are undisturbed",
          "[tcp-listen][limits]") {
  auto l = start_listener({"tcp-listen", "-k", "--echo", "--max-clients", "2", "127.0.0.1", "0"});
  Socket a = connect_tcp(l.port), b = connect_tcp(l.port);
  REQUIRE(echo_round_trip(a, "a1"));  // both accepted before the third arrives
  REQUIRE(echo_round_trip(b, "b1"));

  Socket c = connect_tcp(l.port);  // the kernel accepts; tcp-listen closes it
  check_closed_without_data(c);
  CHECK(l.proc.wait_stderr_contains("max-clients"));
  CHECK(echo_round_trip(a, "a2"));
  CHECK(echo_round_trip(b, "b2"));

  // A leaves: B is not disturbed, and its slot becomes free again.
  a.shutdown_write();
  ReadEnd how;
  CHECK(a.recv_all(kIoTimeout, &how).empty());
  CHECK(how == ReadEnd::Eof);
  a.close();
  CHECK(echo_round_trip(b, "b3"));
  // The slot is freed asynchronously; a client that came too early is closed.
  bool d_served = eventually(
      [&] {
        Socket d = try_connect_tcp(l.port);
        return d.valid() && echo_round_trip(d, "d1");
      },
      kIoTimeout);
  CHECK(d_served);
  CHECK(echo_round_trip(b, "b4"));
  INFO("stderr: " << l.proc.stderr_text());
  l.proc.signal(SIGTERM);
  CHECK(l.proc.wait() == 0);
}

TEST_CASE("tcp-listen --allow/--deny: refused clients are closed without data, allowed ones served",
          "[tcp-listen][limits]") {
  SECTION("--deny 127.0.0.1") {
    auto l = start_listener({"tcp-listen", "-k", "--echo", "--deny", "127.0.0.1", "127.0.0.1", "0"});
    Socket s = connect_tcp(l.port);
    check_closed_without_data(s);
    CHECK(l.proc.wait_stderr_contains("refused"));
    CHECK(l.proc.running());
  }
  SECTION("--allow 10.0.0.0/8") {
    auto l = start_listener({"tcp-listen", "-k", "--echo", "--allow", "10.0.0.0/8", "127.0.0.1", "0"});
    Socket s = connect_tcp(l.port);
    check_closed_without_data(s);
    CHECK(l.proc.wait_stderr_contains("refused"));
    CHECK(l.proc.running());
  }
  SECTION("--allow 127.0.0.0/8") {
    auto l = start_listener({"tcp-listen", "-k", "--echo", "--allow", "127.0.0.0/8", "127.0.0.1", "0"});
    Socket s = connect_tcp(l.port);
    CHECK(echo_round_trip(s, "allowed"));
    CHECK(l.proc.stderr_text().find("refused") == std::string::npos);
  }
  SECTION("--deny wins over --allow") {
    auto l = start_listener(
        {"tcp-listen", "-k", "--echo", "--allow", "127.0.0.0/8", "--deny", "127.0.0.0/8", "127.0.0.1", "0"});
    Socket s = connect_tcp(l.port);
    check_closed_without_data(s);
  }
}

TEST_CASE("tcp-listen and tcp-forward: an empty --allow or --deny is a usage error, never allow-all",
          "[tcp-listen][tcp-forward][limits]") {
  for (std::string flag : {"--allow", "--deny"})
    for (const char* empty : {"", ",", " "}) {
      INFO(flag << " '" << empty << "'");
      // A few seconds at most: a listener that started (the bug) would never exit by itself.
      auto r = run_nettool({"tcp-listen", "-k", "--echo", flag, empty, "127.0.0.1", "0"}, {}, kUsageTimeout);
      CHECK(r.exit_code == 2);
      CHECK(r.err.find(flag + ": needs at least one address or network") != std::string::npos);
      r = run_nettool({"tcp-forward", flag, empty, "127.0.0.1", "0", "127.0.0.1", "80"}, {}, kUsageTimeout);
      CHECK(r.exit_code == 2);
      CHECK(r.err.find(flag + ": needs at least one address or network") != std::string::npos);
    }
}

TEST_CASE("IPv6: tcp-listen on ::1 and tcp-connect -6 ::1", "[tcp-listen][ipv6]") {
  if (!ipv6_loopback_available()) {
    WARN("skipped: ::1 is not available on this host");
    return;
  }
  TempDir dir;
  const auto in = dir / "in.bin";
  const auto back = dir / "back.bin";
  write_random_file(in, 1024 * KiB, 7);
  auto l = start_listener({"tcp-listen", "--echo", "::1", "0"});
  CHECK(l.address == "[::1]");
  auto r = run_nettool({"tcp-connect", "-6", "::1", std::to_string(l.port)},
                       ProcessOptions().stdin_from(in).stdout_to(back));
  INFO("tcp-connect stderr: " << r.err << "\ntcp-listen stderr: " << l.proc.stderr_text());
  CHECK(r.exit_code == 0);
  CHECK(sha256_file(back) == sha256_file(in));
  CHECK(l.proc.wait() == 0);

  // --allow/--deny match IPv6 peers too.
  auto allowed = start_listener({"tcp-listen", "-k", "--echo", "--allow", "::1", "::1", "0"});
  Socket s = connect_tcp(allowed.port, "::1");
  CHECK(echo_round_trip(s, "v6"));
  auto denied = start_listener({"tcp-listen", "-k", "--echo", "--deny", "::1/128", "::1", "0"});
  Socket t = connect_tcp(denied.port, "::1");
  check_closed_without_data(t);
}

// Exit codes after SIGINT/SIGTERM: 0 when everything in flight finished within
// the grace period (--grace), 1 when the grace period ran out or a second
// signal cut connections short.
TEST_CASE("SIGTERM: tcp-listen -k closes its idle clients and exits 0 within the grace period", "[signals]") {
  auto l = start_listener({"tcp-listen", "-k", "--grace", "1s", "127.0.0.1", "0"}, ProcessOptions().stdin_pipe());
  Socket s = connect_tcp(l.port);
  REQUIRE(s.send_all("connected\n"));
  REQUIRE(l.proc.wait_stdout_contains("connected\n"));
  l.proc.signal(SIGTERM);
  ReadEnd how;
  CHECK(s.recv_all(kIoTimeout, &how).empty());
  CHECK(how == ReadEnd::Eof);
  INFO("stderr: " << l.proc.stderr_text());
  CHECK(l.proc.wait() == 0);
  CHECK(l.proc.stderr_text().find("SIGTERM") != std::string::npos);
  CHECK_FALSE(try_connect_tcp(l.port).valid());  // no longer listening
}

TEST_CASE("SIGTERM: one-client tcp-listen exits 0 if the client finishes within the grace, 1 if not", "[signals]") {
  SECTION("the client closes after our EOF: 0") {
    auto l = start_listener({"tcp-listen", "--grace", "1s", "127.0.0.1", "0"}, ProcessOptions().stdin_pipe());
    Socket s = connect_tcp(l.port);
    REQUIRE(s.send_all("connected\n"));
    REQUIRE(l.proc.wait_stdout_contains("connected\n"));
    l.proc.signal(SIGTERM);
    ReadEnd how;
    CHECK(s.recv_all(kIoTimeout, &how).empty());  // tcp-listen half-closes
    CHECK(how == ReadEnd::Eof);
    REQUIRE(s.send_all("last words\n"));  // still delivered during the grace period
    s.close();
    INFO("stderr: " << l.proc.stderr_text());
    CHECK(l.proc.wait() == 0);
    CHECK(l.proc.stdout_text() == "connected\nlast words\n");
  }
  SECTION("the client stays: the grace runs out, 1") {
    auto l = start_listener({"tcp-listen", "--grace", "1s", "127.0.0.1", "0"}, ProcessOptions().stdin_pipe());
    Socket s = connect_tcp(l.port);
    REQUIRE(s.send_all("connected\n"));
    REQUIRE(l.proc.wait_stdout_contains("connected\n"));
    l.proc.signal(SIGTERM);
    INFO("stderr: " << l.proc.stderr_text());
    CHECK(l.proc.wait() == 1);
    CHECK(l.proc.stderr_text().find("grace") != std::string::npos);
    ReadEnd how;
    s.recv_all(kIoTimeout, &how);
    CHECK(how != ReadEnd::Timeout);  // and the connection is closed
  }
}

// Runs nettool (argv[2:], an absolute path) on a pseudo-terminal that is its
// controlling terminal, in the foreground, as someone at a shell does, and
// copies what the terminal shows to stdout; once it has shown argv[1], sends
// SIGINT (what Ctrl-C sends) and prints "\nready\nexit CODE\n", or "still
// running" if nettool has not exited 20 s later (the tests give it a 60 s
// grace), then what the terminal showed after the signal.
constexpr const char* kCtrlC = R"PY(
import os, pty, select, signal, sys, time
pid, master = pty.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
def read_some(timeout):
    if not select.select([master], [], [], timeout)[0]:
        return b""
    try:
        return os.read(master, 4096)
    except OSError:
        return b""
want, seen, deadline = sys.argv[1].encode(), b"", time.time() + 20
while want not in seen and time.time() < deadline:
    chunk = read_some(0.5)
    seen += chunk
    sys.stdout.write(chunk.decode(errors="replace"))
    sys.stdout.flush()
print("\nready" if want in seen else "\nnever saw it", flush=True)
os.kill(pid, signal.SIGINT)
after, status, deadline = b"", None, time.time() + 20
while status is None and time.time() < deadline:
    done, st = os.waitpid(pid, os.WNOHANG)
    if done:
        status = st
    else:
        after += read_some(0.1)  # keeps the terminal drained
if status is None:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    print("still running", flush=True)
else:
    print("exit", os.waitstatus_to_exitcode(status), flush=True)
after += read_some(0.2)
sys.stdout.write(after.decode(errors="replace"))
)PY";

TEST_CASE("Ctrl-C at a terminal stops at once: a session open to a peer is cut (1) and an idle -k listener exits 0",
          "[signals]") {
  TempDir dir;
  write_file(dir / "ctrl_c.py", kCtrlC);
  SECTION("tcp-connect with a peer that stays") {
    TcpServer peer;
    Process py({"python3", (dir / "ctrl_c.py").string(), "hello", nettool_path().string(), "tcp-connect", "127.0.0.1",
                std::to_string(peer.port())});
    Socket s = peer.accept();
    REQUIRE(s.valid());
    REQUIRE(s.send_all("hello\n"));
    ReadEnd how;
    s.recv_all(kIoTimeout, &how);  // our end closes: EOF or reset, not a timeout
    CHECK(how != ReadEnd::Timeout);
    CHECK(py.wait() == 0);
    const std::string out = py.stdout_text();
    INFO("driver: " << out << py.stderr_text());
    CHECK(out.find("\nready\nexit 1\n") != std::string::npos);
    CHECK(out.find("stopping now") != std::string::npos);
    CHECK(out.find("grace") == std::string::npos);  // never waited for one
  }
  SECTION("one-client tcp-listen with a client that stays") {
    Process py({"python3", (dir / "ctrl_c.py").string(), "hello", nettool_path().string(), "tcp-listen", "--grace",
                "60s", "127.0.0.1", "0"});
    const std::string marker = "listening on 127.0.0.1:";
    REQUIRE(py.wait_stdout([&](const std::string& shown) {
      const auto at = shown.find(marker);
      return at != std::string::npos && shown.find('\n', at) != std::string::npos;  // the whole port
    }));
    const std::string shown = py.stdout_text();
    Socket s = connect_tcp(static_cast<uint16_t>(std::stoul(shown.substr(shown.find(marker) + marker.size()))));
    REQUIRE(s.send_all("hello\n"));
    ReadEnd how;
    s.recv_all(kIoTimeout, &how);
    CHECK(how != ReadEnd::Timeout);
    CHECK(py.wait() == 0);
    INFO("driver: " << py.stdout_text() << py.stderr_text());
    CHECK(py.stdout_text().find("\nready\nexit 1\n") != std::string::npos);
  }
  SECTION("file-serve with two idle workers") {
    TempDir root;
    Process py({"python3", (dir / "ctrl_c.py").string(), "serving", nettool_path().string(), "file-serve", "--workers",
                "2", "--grace", "60s", "-r", root.path().string(), "-l", "127.0.0.1:0"});
    CHECK(py.wait() == 0);
    INFO("driver: " << py.stdout_text() << py.stderr_text());
    CHECK(py.stdout_text().find("\nready\nexit 0\n") != std::string::npos);
  }
  SECTION("a SIGINT without a terminal keeps the grace") {
    auto l = start_listener({"tcp-listen", "--grace", "1s", "127.0.0.1", "0"}, ProcessOptions().stdin_pipe());
    Socket s = connect_tcp(l.port);
    REQUIRE(s.send_all("connected\n"));
    REQUIRE(l.proc.wait_stdout_contains("connected\n"));
    l.proc.signal(SIGINT);
    CHECK(l.proc.wait() == 1);
    INFO("stderr: " << l.proc.stderr_text());
    CHECK(l.proc.stderr_text().find("SIGINT received, finishing transfers in flight (up to 1s;") != std::string::npos);
    CHECK(l.proc.stderr_text().find("grace period over") != std::string::npos);
  }
  SECTION("tcp-listen -k with no client") {
    Process py({"python3", (dir / "ctrl_c.py").string(), "listening on", nettool_path().string(), "tcp-listen", "-k",
                "--grace", "60s", "127.0.0.1", "0"});
    CHECK(py.wait() == 0);
    INFO("driver: " << py.stdout_text() << py.stderr_text());
    CHECK(py.stdout_text().find("\nready\nexit 0\n") != std::string::npos);
  }
}

TEST_CASE("SIGTERM: a one-client tcp-listen lets an upload in flight finish within the grace period", "[signals]") {
  const std::string data = random_bytes(4 * 1024 * KiB, 41);
  const size_t first = 1024 * KiB;
  auto l = start_listener({"tcp-listen", "--grace", "20s", "127.0.0.1", "0"}, ProcessOptions().stdin_pipe());
  std::atomic<bool> signalled{false};
  bool sent = false;
  ReadEnd how = ReadEnd::Timeout;
  std::jthread client([&] {
    Socket s = try_connect_tcp(l.port);
    if (!s.valid() || !s.send_all(std::string_view(data).substr(0, first))) return;
    eventually([&] { return signalled.load(); });
    // After the signal: tcp-listen half-closed (we see EOF) but still reads.
    s.recv_all(kIoTimeout, &how);
    sent = s.send_all(std::string_view(data).substr(first));
  });
  REQUIRE(l.proc.wait_stdout([&](const std::string& out) { return out.size() >= first; }, kIoTimeout));
  l.proc.signal(SIGTERM);
  REQUIRE(l.proc.wait_stderr_contains("SIGTERM received"));
  signalled = true;
  client.join();
  int code = l.proc.wait();
  INFO("stderr: " << l.proc.stderr_text());
  CHECK(how == ReadEnd::Eof);
  CHECK(sent);
  CHECK(code == 0);
  std::string out = l.proc.stdout_text();
  CHECK(out.size() == data.size());
  CHECK(sha256_hex(out) == sha256_hex(data));
}

// KNOWN GAP (tagged !mayfail, so it reports without failing the suite):
// DESIGN.md says SIGTERM lets transfers in flight finish within --grace. The
// one-client mode does (test above), but in -k/--echo/--broker mode
// TcpListen::shutdown() calls leave(client, flush=true) for every client: it
// flushes what is queued *to* the client and closes at once, so an upload the
// client is still sending is cut off (the client gets EPIPE/ECONNRESET) and
// nettool still exits 0. Making -k wait for clients to finish would also make
// an idle -k client hold the process until the grace runs out (exit 1); that
// trade-off is a design decision, so it is left open here.
TEST_CASE("SIGTERM: tcp-listen -k lets an upload in flight finish within the grace period", "[signals][!mayfail]") {
  const std::string data = random_bytes(4 * 1024 * KiB, 42);
  const size_t first = 1024 * KiB;
  auto l = start_listener({"tcp-listen", "-k", "--grace", "20s", "127.0.0.1", "0"}, ProcessOptions().stdin_pipe());
  std::atomic<bool> signalled{false};
  bool sent = false;
  std::jthread client([&] {
    Socket s = try_connect_tcp(l.port);
    if (!s.valid() || !s.send_all(std::string_view(data).substr(0, first))) return;
    eventually([&] { return signalled.load(); });
    sent = s.send_all(std::string_view(data).substr(first));
  });
  REQUIRE(l.proc.wait_stdout([&](const std::string& out) { return out.size() >= first; }, kIoTimeout));
  l.proc.signal(SIGTERM);
  REQUIRE(l.proc.wait_stderr_contains("SIGTERM received"));
  signalled = true;
  client.join();
  int code = l.proc.wait();
  INFO("stderr: " << l.proc.stderr_text());
  CHECK(sent);
  std::string out = l.proc.stdout_text();
  CHECK(out.size() == data.size());
  // If it is cut short, it must at least not claim success.
  CHECK((out == data ? code == 0 : code == 1));
}

TEST_CASE("SIGINT twice stops tcp-listen at once, without waiting for the grace period", "[signals]") {
  auto l = start_listener({"tcp-listen", "--grace", "60s", "127.0.0.1", "0"}, ProcessOptions().stdin_pipe());
  Socket s = connect_tcp(l.port);
  REQUIRE(s.send_all("connected\n"));
  REQUIRE(l.proc.wait_stdout_contains("connected\n"));
  l.proc.signal(SIGINT);
  REQUIRE(l.proc.wait_stderr_contains("SIGINT received"));
  CHECK(l.proc.running());  // the client is still connected: waiting for it
  l.proc.signal(SIGINT);
  // Far below the 60 s grace period: the second signal is obeyed at once.
  int code = l.proc.wait(kIoTimeout);
  INFO("stderr: " << l.proc.stderr_text());
  CHECK(code == 1);
  ReadEnd how;
  s.recv_all(kIoTimeout, &how);
  CHECK(how != ReadEnd::Timeout);
}

// A listener started from a script often has stdin </dev/null: it half-closes
// at once. The sender must still deliver its whole stdin (nc, ncat and socat
// do); it used to stop after the first read and exit 0.
TEST_CASE("tcp-listen with stdin /dev/null receives a whole upload from tcp-connect", "[tcp-listen][half-close]") {
  TempDir dir;
  const auto in = dir / "in.bin";
  write_random_file(in, 4 * 1024 * KiB, 43);
  auto l = start_listener({"tcp-listen", "127.0.0.1", "0"}, ProcessOptions().stdin_null());
  auto sender = run_nettool({"tcp-connect", "127.0.0.1", std::to_string(l.port)}, ProcessOptions().stdin_from(in));
  int code = l.proc.wait();
  INFO("listener: " << l.proc.stderr_text() << " sender: " << sender.err);
  CHECK(sender.exit_code == 0);
  CHECK(code == 0);
  std::string out = l.proc.stdout_text();
  CHECK(out.size() == fs::file_size(in));
  CHECK(sha256_hex(out) == sha256_file(in));
}
