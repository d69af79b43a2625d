// --exec / --sh-exec on both ends: the child's stdin/stdout are the socket,
// and what the child writes after its stdin ended still reaches the peer.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <sstream>
#include <thread>

#include "harness.h"

using namespace e2e;

namespace {

constexpr size_t KiB = 1024;

// The state letter ('S', 'Z', ...) of every process whose parent is `parent`,
// from /proc/PID/stat ("PID (COMM) STATE PPID ..."; COMM may hold anything,
// so the fields are read after its last ')'). A process may vanish while we
// look: a read that fails skips it.
std::vector<char> children_states(pid_t parent) {
  std::vector<char> states;
  std::error_code ec;
  for (fs::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    int fd = ::open((it->path() / "stat").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    char buf[1024];
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) continue;
    std::string stat(buf, static_cast<size_t>(n));
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 1));
    char state = 0;
    pid_t ppid = 0;
    if (fields >> state >> ppid && ppid == parent) states.push_back(state);
  }
  return states;
}

std::string describe_states(const std::vector<char>& states) { return std::string(states.begin(), states.end()); }

// Closes with a RST instead of a FIN, as a client that crashed or gave up.
void reset(Socket& s) {
  linger hard{1, 0};
  setsockopt(s.fd(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
  s.close();
}

struct Case {
  std::vector<std::string> flags;  // --exec CMD or --sh-exec CMD
  std::string send;
  std::string expect;
};

std::vector<Case> cases() {
  const std::string blob = random_bytes(1024 * KiB, 11);
  return {
      {{"--exec", "/bin/cat"}, blob, blob},
      {{"--sh-exec", "tr a-z A-Z"}, "hello, exec world\n", "HELLO, EXEC WORLD\n"},
      // Output after stdin EOF: right away, and after a pause.
      {{"--sh-exec", "cat; echo done"}, "abc\n", "abc\ndone\n"},
      {{"--sh-exec", "cat >/dev/null; sleep 0.3; echo late"}, "ignored\n", "late\n"},
  };
}

}  // namespace

TEST_CASE("tcp-listen --exec/--sh-exec connect the client to a child, including output after stdin EOF",
          "[exec][tcp-listen]") {
  for (const Case& c : cases()) {
    INFO("tcp-listen " << c.flags[0] << " '" << c.flags[1] << "'");
    std::vector<std::string> args = {"tcp-listen"};
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    args.insert(args.end(), {"127.0.0.1", "0"});
    auto l = start_listener(args);
    Socket s = connect_tcp(l.port);
    ReadEnd how;
    std::string got = s.exchange(c.send, kRunTimeout, &how);
    INFO("stderr: " << l.proc.stderr_text());
    CHECK(how == ReadEnd::Eof);
    CHECK(got.size() == c.expect.size());
    CHECK(got == c.expect);
    CHECK(l.proc.wait() == 0);
    CHECK(l.proc.stdout_text().empty());  // the data went to the child, not to our stdout
  }
}

TEST_CASE("tcp-listen -k --sh-exec runs one child per concurrent client", "[exec][tcp-listen][keep-open]") {
  auto l = start_listener({"tcp-listen", "-k", "--sh-exec", "tr a-z A-Z", "127.0.0.1", "0"});
  Socket a = connect_tcp(l.port), b = connect_tcp(l.port);
  std::string got_a, got_b;
  {
    std::jthread ta([&] { got_a = a.exchange("first client\n"); });
    std::jthread tb([&] { got_b = b.exchange("second client\n"); });
  }
  INFO("stderr: " << l.proc.stderr_text());
  CHECK(got_a == "FIRST CLIENT\n");
  CHECK(got_b == "SECOND CLIENT\n");
  CHECK(l.proc.running());
  l.proc.signal(SIGTERM);
  CHECK(l.proc.wait() == 0);
}

TEST_CASE("tcp-connect --exec/--sh-exec connect the peer to a child, including output after stdin EOF",
          "[exec][tcp-connect]") {
  for (const Case& c : cases()) {
    INFO("tcp-connect " << c.flags[0] << " '" << c.flags[1] << "'");
    std::string got;
    ReadEnd how = ReadEnd::Timeout;
    PeerThread peer([&](Socket& s) { got = s.exchange(c.send, kRunTimeout, &how); });
    std::vector<std::string> args = {"tcp-connect"};
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    args.insert(args.end(), {"127.0.0.1", std::to_string(peer.port())});
    // stdin is a pipe we keep open: with --exec, our own stdin plays no part.
    Process nt(nettool_argv(args), ProcessOptions().stdin_pipe());
    int code = nt.wait();
    peer.join();
    INFO("stderr: " << nt.stderr_text() << " peer: " << peer.error());
    CHECK(code == 0);
    CHECK(how == ReadEnd::Eof);
    CHECK(got.size() == c.expect.size());
    CHECK(got == c.expect);
    CHECK(nt.stdout_text().empty());
  }
}

TEST_CASE("tcp-listen -k --exec reaps every child: no zombie after 20 clients, 5 of them reset", "[exec][tcp-listen]") {
  auto l = start_listener({"tcp-listen", "-k", "--exec", "cat", "127.0.0.1", "0"});
  for (int i = 0; i < 20; ++i) {
    Socket s = connect_tcp(l.port);
    ReadEnd how;
    std::string message = "client " + std::to_string(i) + "\n";
    if (i % 4 == 3) {
      // Reset while its child is still running: the child gets its stdin's
      // EOF, exits, and must be reaped all the same.
      REQUIRE(s.send_all(message));
      std::string got;
      REQUIRE(s.recv_until(got, message));
      reset(s);
      continue;
    }
    CHECK(s.exchange(message, kIoTimeout, &how) == message);
    CHECK(how == ReadEnd::Eof);
  }
  std::vector<char> states;
  bool all_reaped = eventually([&] {
    states = children_states(l.proc.pid());
    return states.empty();
  });
  INFO("children left (state letters): " << describe_states(states) << "\nstderr: " << l.proc.stderr_text());
  CHECK(all_reaped);
  CHECK(l.proc.running());
  l.proc.signal(SIGTERM);
  CHECK(l.proc.wait() == 0);
}

TEST_CASE("tcp-listen -k --sh-exec: a child still finishing after its client reset is not killed at once",
          "[exec][tcp-listen]") {
  TempDir dir;
  const fs::path done = dir / "done";
  // The child outlives its client by a moment, then leaves a trace.
  auto l = start_listener({"tcp-listen", "-k", "--sh-exec", "cat >/dev/null; sleep 0.2; echo finished > '" +
                                                              done.string() + "'",
                           "127.0.0.1", "0"});
  {
    Socket s = connect_tcp(l.port);
    REQUIRE(s.send_all("bye\n"));
    REQUIRE(eventually([&] { return children_states(l.proc.pid()).size() == 1; }));
    reset(s);
  }
  INFO("stderr: " << l.proc.stderr_text());
  CHECK(eventually([&] { return fs::exists(done) && read_file(done) == "finished\n"; }));
  CHECK(eventually([&] { return children_states(l.proc.pid()).empty(); }));
  l.proc.signal(SIGTERM);
  CHECK(l.proc.wait() == 0);
}

TEST_CASE("tcp-listen -k --sh-exec: a child that ignores its stdin's end and SIGTERM is killed and reaped",
          "[exec][tcp-listen]") {
  // exec: the shell becomes sleep, which keeps the ignored SIGTERM.
  auto l = start_listener({"tcp-listen", "-k", "--sh-exec", "trap '' TERM; exec sleep 60", "127.0.0.1", "0"});
  {
    Socket s = connect_tcp(l.port);
    REQUIRE(eventually([&] { return children_states(l.proc.pid()).size() == 1; }));
    reset(s);
  }
  std::vector<char> states;
  // The grace, SIGTERM (ignored), another grace, SIGKILL: a few seconds.
  bool reaped = eventually(
      [&] {
        states = children_states(l.proc.pid());
        return states.empty();
      },
      kIoTimeout);
  INFO("children left (state letters): " << describe_states(states) << "\nstderr: " << l.proc.stderr_text());
  CHECK(reaped);
  CHECK(l.proc.running());
  l.proc.signal(SIGTERM);
  CHECK(l.proc.wait() == 0);
}

TEST_CASE("exec: --exec or --sh-exec without a command is a usage error", "[exec][options]") {
  for (std::vector<std::string> flags : {std::vector<std::string>{"--exec", ""}, {"--exec", "  "}, {"--sh-exec", ""}}) {
    INFO(flags[0] << " '" << flags[1] << "'");
    auto r = run_nettool({"tcp-listen", "-k", flags[0], flags[1], "127.0.0.1", "0"}, {}, kUsageTimeout);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(flags[0] + ": no command given") != std::string::npos);
    r = run_nettool({"tcp-connect", flags[0], flags[1], "127.0.0.1", "9"});
    CHECK(r.exit_code == 2);
  }
}

// `tcp-listen -k --sh-exec "printf 'HTTP/1.1 200 OK...'"`, the quick fake
// server: the child answers without reading the request. Here it closes its
// stdin and says so ("ready") before the request is sent, and answers after,
// so the request meets a closed pipe first every time; the answer must
// still reach the client.
TEST_CASE("exec: a child that stops reading still gets its answer to the client and the session then fails with "
          "the reason",
          "[exec]") {
  auto l = start_listener(
      {"tcp-listen", "--sh-exec", "exec 0<&-; printf 'ready '; sleep 0.3; printf answer", "127.0.0.1", "0"});
  Socket s = connect_tcp(l.port);
  REQUIRE(s.recv_exact(6, 5s) == "ready ");
  REQUIRE(s.send_all("request\n"));
  CHECK(s.recv_all(5s) == "answer");
  s.close();
  CHECK(l.proc.wait() == 1);  // the request was never read
  CHECK_THAT(l.proc.stderr_text(), Catch::Contains("broken pipe"));
}

// With -d nothing goes to the client, so nothing but the broken pipe can end
// the session: it must end (the client sees our EOF), and fail.
TEST_CASE("exec: with -d a child that stops reading ends the session with the reason", "[exec]") {
  auto l = start_listener({"tcp-listen", "-d", "--sh-exec", "exec 0<&-; sleep 3", "127.0.0.1", "0"});
  Socket s = connect_tcp(l.port);
  // More than any pipe holds: some of it meets the closed pipe.
  const std::string block(64 * 1024, 'x');
  for (int i = 0; i < 64 && s.send_all(block, 2s); ++i) {
  }
  s.shutdown_write();
  ReadEnd end = ReadEnd::Timeout;
  CHECK(s.recv_all(5s, &end).empty());
  CHECK(end != ReadEnd::Timeout);  // the session ended: our FIN (or a reset), not the wait's limit
  CHECK(l.proc.wait() == 1);
  CHECK_THAT(l.proc.stderr_text(), Catch::Contains("broken pipe"));
}

TEST_CASE("exec: a child that stops reading its stdin is an error (exit 1 with the reason) unlike a stdout reader",
          "[exec]") {
  // Only our own stdout's reader may leave quietly (| head); a child that
  // exits while the peer still sends has lost data, and says so.
  PeerThread peer([](Socket& s) {
    const std::string block(64 * 1024, 'x');
    for (int i = 0; i < 256 && s.send_all(block, 2s); ++i) {
    }
  });
  auto r = run_nettool({"tcp-connect", "--sh-exec", "exit 0", "127.0.0.1", std::to_string(peer.port())});
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("error: writing to"));
  CHECK_THAT(r.err, Catch::Contains("broken pipe"));
}
