// The zero-copy relay (runtime/src/splice_pump.h): when stdin/stdout are pipes
// (or stdout is /dev/null) the bytes move with splice(2) / recv(MSG_TRUNC)
// instead of through nettool's buffers. Every test runs both paths — the
// spliced one and the copying one forced with NETTOOL_NO_SPLICE=1 — and
// checks the bytes (pseudo-random, compared whole), the session-end rules,
// the -v byte counts, and the debug line that says which path was taken.
#include <catch2/catch.hpp>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <regex>
#include <thread>

#include "harness.h"

using namespace e2e;

namespace {

constexpr size_t KiB = 1024;
constexpr size_t MiB = 1024 * KiB;

constexpr const char* kSpliced = "zero-copy (splice(2))";
constexpr const char* kDropped = "zero-copy (recv(MSG_TRUNC)";
constexpr const char* kForcedCopy = "copying (NETTOOL_NO_SPLICE is set)";

struct Path {
  const char* name;
  bool splice;
};
constexpr Path kPaths[] = {{"splice", true}, {"NETTOOL_NO_SPLICE=1", false}};

ProcessOptions with_path(ProcessOptions options, const Path& path) {
  if (!path.splice) options.setenv("NETTOOL_NO_SPLICE", "1");
  return options;
}

// The -v summary: "sent 24.0 MiB (25165824 bytes), received 0 B (0 bytes), ...".
struct Summary {
  bool found = false;
  uint64_t sent = 0;
  uint64_t received = 0;
};
Summary summary(const std::string& err) {
  static const std::regex re(R"(sent [^(]*\((\d+) bytes\), received [^(]*\((\d+) bytes\))");
  std::smatch m;
  Summary s;
  if (!std::regex_search(err, m, re)) return s;
  s.found = true;
  s.sent = std::stoull(m[1]);
  s.received = std::stoull(m[2]);
  return s;
}

// Reads `fd` (non-blocking, ours) until EOF or `timeout`, publishing how much
// has arrived so far in `progress` for the test's main thread to wait on.
std::string read_until_eof(int fd, std::atomic<size_t>& progress, Ms timeout) {
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      progress = out.size();
      continue;
    }
    if (n == 0) return out;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return out;
    auto left = std::chrono::duration_cast<Ms>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return out;
    pollfd p{fd, POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 200)));
  }
}

}  // namespace

TEST_CASE("splice: 24 MiB from tcp-connect and 16 MiB back from tcp-listen over stdin/stdout pipes arrive intact",
          "[splice][transfer]") {
  const std::string up = random_bytes(24 * MiB, 701);    // tcp-connect's stdin -> tcp-listen's stdout
  const std::string down = random_bytes(16 * MiB, 702);  // tcp-listen's stdin -> tcp-connect's stdout
  for (const Path& path : kPaths) {
    INFO("path: " << path.name);
    auto pipes = with_path(ProcessOptions().stdin_pipe().stdout_pipe(), path);
    auto l = start_listener({"-v", "tcp-listen", "127.0.0.1", "0"}, pipes);
    // --no-wait-stdin: the session ends when tcp-listen closes, with tcp-connect's stdin still open.
    Process c(nettool_argv({"-v", "tcp-connect", "--no-wait-stdin", "127.0.0.1", std::to_string(l.port)}), pipes);

    std::atomic<size_t> at_listener_bytes{0}, at_connector_bytes{0};
    std::string at_listener, at_connector;
    bool up_written = false;
    {
      std::jthread listener_out([&] { at_listener = read_until_eof(l.proc.stdout_fd(), at_listener_bytes, kRunTimeout); });
      std::jthread connector_out(
          [&] { at_connector = read_until_eof(c.stdout_fd(), at_connector_bytes, kRunTimeout); });
      // tcp-connect's stdin stays open: the session must end from the other side.
      up_written = c.write_stdin(up, kRunTimeout);
      // All of it across before tcp-listen answers: its EOF ends the session,
      // and tcp-connect then stops reading stdin (--no-wait-stdin).
      CHECK(eventually([&] { return at_listener_bytes >= up.size(); }, kRunTimeout));
      CHECK(l.proc.write_stdin(down, kRunTimeout));
      l.proc.close_stdin();  // tcp-listen half-closes after the last byte...
      CHECK(c.wait() == 0);  // ...tcp-connect prints it all, sees EOF and finishes
      CHECK(l.proc.wait() == 0);
    }
    c.close_stdin();
    const std::string c_err = c.stderr_text(), l_err = l.proc.stderr_text();
    INFO("tcp-connect stderr:\n" << c_err << "tcp-listen stderr:\n" << l_err);
    CHECK(up_written);
    CHECK(at_listener.size() == up.size());
    CHECK(at_listener == up);
    CHECK(at_connector.size() == down.size());
    CHECK(at_connector == down);

    Summary cs = summary(c_err), ls = summary(l_err);
    CHECK(cs.found);
    CHECK(cs.sent == up.size());
    CHECK(cs.received == down.size());
    CHECK(ls.found);
    CHECK(ls.sent == down.size());
    CHECK(ls.received == up.size());

    // Both directions of both processes took the path asked for.
    CHECK(count_occurrences(c_err, path.splice ? kSpliced : kForcedCopy) == 2);
    CHECK(count_occurrences(l_err, path.splice ? kSpliced : kForcedCopy) == 2);
    if (!path.splice) CHECK(count_occurrences(c_err + l_err, "zero-copy") == 0);
  }
}

TEST_CASE("splice: tcp-connect half-closes once its piped stdin ends, and the reply reaches its piped stdout",
          "[splice][half-close]") {
  const std::string input = random_bytes(12 * MiB, 711);
  const std::string tail = random_bytes(8 * MiB, 712);
  for (const Path& path : kPaths) {
    INFO("path: " << path.name);
    // The peer answers only after EOF: it proves the half-close, and the
    // answer proves tcp-connect kept reading after it.
    std::string got;
    ReadEnd got_end = ReadEnd::Timeout;
    bool replied = false;
    PeerThread peer([&](Socket& s) {
      got = s.recv_all(kRunTimeout, &got_end);
      replied = s.send_all(sha256_hex(got) + "\n" + tail, kRunTimeout);
    });
    Process c(nettool_argv({"-v", "tcp-connect", "127.0.0.1", std::to_string(peer.port())}),
              with_path(ProcessOptions().stdin_pipe().stdout_pipe(), path));
    std::string printed = c.communicate(input);
    int code = c.wait();
    peer.join();
    const std::string err = c.stderr_text();
    INFO("tcp-connect stderr:\n" << err << "peer: " << peer.error());
    CHECK(code == 0);
    CHECK(peer.error().empty());
    CHECK(got_end == ReadEnd::Eof);
    CHECK(got.size() == input.size());
    CHECK(got == input);
    CHECK(replied);
    const std::string reply = sha256_hex(input) + "\n" + tail;
    CHECK(printed.size() == reply.size());
    CHECK(printed == reply);
    Summary s = summary(err);
    CHECK(s.found);
    CHECK(s.sent == input.size());
    CHECK(s.received == reply.size());
    CHECK(count_occurrences(err, path.splice ? kSpliced : kForcedCopy) == 2);
  }
}

TEST_CASE("splice: tcp-listen half-closes once its piped stdin ends, and the client's reply reaches its piped stdout",
          "[splice][half-close]") {
  const std::string input = random_bytes(12 * MiB, 721);
  const std::string tail = random_bytes(8 * MiB, 722);
  for (const Path& path : kPaths) {
    INFO("path: " << path.name);
    auto l = start_listener({"-v", "tcp-listen", "127.0.0.1", "0"},
                            with_path(ProcessOptions().stdin_pipe().stdout_pipe(), path));
    std::string got;
    ReadEnd got_end = ReadEnd::Timeout;
    bool replied = false;
    std::string printed;
    {
      std::jthread client([&] {
        Socket s = try_connect_tcp(l.port);
        if (!s.valid()) return;
        got = s.recv_all(kRunTimeout, &got_end);  // to tcp-listen's EOF
        replied = s.send_all(sha256_hex(got) + "\n" + tail, kRunTimeout);
        s.shutdown_write();
        s.recv_all(kIoTimeout);  // until tcp-listen closes
      });
      printed = l.proc.communicate(input);
    }
    int code = l.proc.wait();
    const std::string err = l.proc.stderr_text();
    INFO("tcp-listen stderr:\n" << err);
    CHECK(code == 0);
    CHECK(got_end == ReadEnd::Eof);
    CHECK(got.size() == input.size());
    CHECK(got == input);
    CHECK(replied);
    const std::string reply = sha256_hex(input) + "\n" + tail;
    CHECK(printed.size() == reply.size());
    CHECK(printed == reply);
    Summary s = summary(err);
    CHECK(s.found);
    CHECK(s.sent == input.size());
    CHECK(s.received == reply.size());
    CHECK(count_occurrences(err, path.splice ? kSpliced : kForcedCopy) == 2);
  }
}

TEST_CASE("splice: tcp-listen -d to /dev/null counts every byte it drops", "[splice][stdio]") {
  const std::string input = random_bytes(32 * MiB, 731);
  for (const Path& path : kPaths) {
    INFO("path: " << path.name);
    auto l = start_listener({"-v", "tcp-listen", "-d", "127.0.0.1", "0"},
                            with_path(ProcessOptions().stdout_null(), path));
    Process c(nettool_argv({"-v", "tcp-connect", "127.0.0.1", std::to_string(l.port)}),
              with_path(ProcessOptions().stdin_pipe().stdout_null(), path));
    CHECK(c.write_stdin(input, kRunTimeout));
    c.close_stdin();
    CHECK(c.wait() == 0);
    CHECK(l.proc.wait() == 0);
    const std::string c_err = c.stderr_text(), l_err = l.proc.stderr_text();
    INFO("tcp-connect stderr:\n" << c_err << "tcp-listen stderr:\n" << l_err);
    Summary cs = summary(c_err), ls = summary(l_err);
    CHECK(cs.found);
    CHECK(cs.sent == input.size());
    CHECK(ls.found);
    CHECK(ls.received == input.size());
    // tcp-listen -d relays one way; tcp-connect's stdout is /dev/null too.
    CHECK(count_occurrences(l_err, path.splice ? kDropped : kForcedCopy) == 1);
    if (path.splice) {
      CHECK(count_occurrences(c_err, kSpliced) == 1);
      CHECK(count_occurrences(c_err, kDropped) == 1);
    } else {
      CHECK(count_occurrences(c_err, kForcedCopy) == 2);
    }
  }
}

TEST_CASE("splice: tcp-connect -i still gives up on a silent peer when stdin and stdout are pipes",
          "[splice][timeout]") {
  for (const Path& path : kPaths) {
    INFO("path: " << path.name);
    ReadEnd peer_saw = ReadEnd::Timeout;
    PeerThread peer([&](Socket& s) { s.recv_all(kRunTimeout, &peer_saw); });
    Process c(nettool_argv({"-v", "tcp-connect", "-i", "300ms", "127.0.0.1", std::to_string(peer.port())}),
              with_path(ProcessOptions().stdin_pipe().stdout_pipe(), path));
    int code = c.wait();
    peer.join();
    const std::string err = c.stderr_text();
    INFO("stderr:\n" << err);
    CHECK(code == 1);
    CHECK(err.find("idle") != std::string::npos);
    CHECK(peer_saw != ReadEnd::Timeout);
    CHECK(count_occurrences(err, path.splice ? kSpliced : kForcedCopy) == 2);
  }
}

// splice(2) stops for good in front of TCP urgent data; nettool must hand the
// rest of the stream to the copying path, which skips the urgent byte as
// read(2) always has — not spin, and not take the stop for an EOF.
TEST_CASE("splice: urgent (MSG_OOB) data from the peer neither stalls nor ends the stream", "[splice]") {
  for (const Path& path : kPaths) {
    INFO("path: " << path.name);
    PeerThread peer([](Socket& s) {
      s.send_all("hello ");
      if (::send(s.fd(), "!", 1, MSG_OOB) != 1) throw std::runtime_error("send(MSG_OOB) failed");
      s.send_all("world\n");
    });
    Process c(nettool_argv({"-v", "tcp-connect", "127.0.0.1", std::to_string(peer.port())}),
              with_path(ProcessOptions().stdout_pipe(), path));
    std::atomic<size_t> progress{0};
    std::string got = read_until_eof(c.stdout_fd(), progress, kRunTimeout);
    int code = c.wait();
    peer.join();
    const std::string err = c.stderr_text();
    INFO("stderr:\n" << err << "peer: " << peer.error());
    CHECK(code == 0);
    CHECK(got == "hello world\n");
    if (path.splice) CHECK(err.find("urgent (out-of-band) data") != std::string::npos);
  }
}
