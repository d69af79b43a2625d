// --exec / --sh-exec on both ends: the child's stdin/stdout are the socket,
// and what the child writes after its stdin ended still reaches the peer.
#include <catch2/catch.hpp>

#include <csignal>
#include <thread>

#include "harness.h"

using namespace e2e;

namespace {

constexpr size_t KiB = 1024;

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
