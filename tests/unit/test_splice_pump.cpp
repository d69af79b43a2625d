// SplicePump (runtime/src/splice_pump.h) on its own: a pipe and a loopback
// TCP connection inside this process, one libuv loop. The e2e tests cover it
// through nettool; these cover what they cannot reach: the fallback when the
// kernel refuses the pair, and which side an error is reported to.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <memory>
#include <string>

#include "splice_pump.h"

using nettool::SplicePump;
using nettool::SpliceEnd;

namespace {

struct Fd {
  int fd = -1;
  explicit Fd(int f = -1) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { close(); }
  void close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

// A connected loopback TCP pair; both ends non-blocking.
struct TcpPair {
  Fd a, b;
  TcpPair() {
    Fd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    REQUIRE(::bind(listener.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener.fd, 1) == 0);
    REQUIRE(::getsockname(listener.fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    a.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(::connect(a.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    b.fd = ::accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC);
    REQUIRE(b.fd >= 0);
    ::fcntl(a.fd, F_SETFL, O_NONBLOCK);
    ::fcntl(b.fd, F_SETFL, O_NONBLOCK);
  }
};

struct Pipe {
  Fd read_end, write_end;
  Pipe() {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0);
    read_end.fd = fds[0];
    write_end.fd = fds[1];
  }
};

// What a pump reported.
struct Outcome {
  bool ended = false;
  int end_status = 1;
  bool sink_failed = false;
  int sink_status = 0;
  bool refused = false;
  int refused_status = 0;
  size_t moved = 0;
  bool done() const { return ended || sink_failed || refused; }
};

// A loop that runs until the pump reports, bounded by a 10 s timer.
class Loop {
 public:
  Loop() { REQUIRE(uv_loop_init(&loop_) == 0); }
  ~Loop() {
    uv_run(&loop_, UV_RUN_DEFAULT);  // close callbacks of what the test destroyed
    uv_loop_close(&loop_);
  }
  uv_loop_t* get() { return &loop_; }
  void run_until(const Outcome& outcome) {
    auto guard = nettool::make_timer(&loop_, nullptr);
    uv_timer_start(guard.get(), [](uv_timer_t*) {}, 10000, 0);
    while (!outcome.done() && uv_is_active(guard.as_handle())) uv_run(&loop_, UV_RUN_ONCE);
  }

 private:
  uv_loop_t loop_;
};

std::unique_ptr<SplicePump> make_pump(Loop& loop, const SpliceEnd& from, const SpliceEnd& to, Outcome& out) {
  SplicePump::Callbacks cb;
  cb.moved = [&out](size_t n) { out.moved += n; };
  cb.source_end = [&out](int status) {
    out.ended = true;
    out.end_status = status;
  };
  cb.sink_error = [&out](int status) {
    out.sink_failed = true;
    out.sink_status = status;
  };
  cb.unsupported = [&out](int status) {
    out.refused = true;
    out.refused_status = status;
  };
  auto pump = std::make_unique<SplicePump>(loop.get(), from, to, std::move(cb));
  pump->start();
  return pump;
}

std::string read_some(int fd, size_t max) {
  std::string out(max, '\0');
  ssize_t n = ::read(fd, out.data(), max);
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

}  // namespace

TEST_CASE("splice pump: a pipe with a socket, two sockets, or a TCP socket into /dev/null qualify", "[splice]") {
  using Kind = SpliceEnd::Kind;
  auto end = [](Kind k) { return SpliceEnd{k, 0, nullptr, /*discards_with_trunc=*/true}; };
  CHECK(SplicePump::unsuitable(end(Kind::Pipe), end(Kind::Socket)).empty());
  CHECK(SplicePump::unsuitable(end(Kind::Socket), end(Kind::Pipe)).empty());
  CHECK(SplicePump::unsuitable(end(Kind::Socket), end(Kind::DevNull)).empty());
  // A Unix socket splices, but recv(MSG_TRUNC) on it is EFAULT: into /dev/null it copies.
  CHECK_FALSE(SplicePump::unsuitable(SpliceEnd{Kind::Socket, 0, nullptr, false}, end(Kind::DevNull)).empty());
  CHECK_FALSE(SplicePump::unsuitable(end(Kind::Pipe), end(Kind::Pipe)).empty());
  CHECK(SplicePump::unsuitable(end(Kind::Socket), end(Kind::Socket)).empty());  // through the pump's own pipe
  CHECK_FALSE(SplicePump::unsuitable(end(Kind::Pipe), end(Kind::DevNull)).empty());
  CHECK_FALSE(SplicePump::unsuitable(end(Kind::None), end(Kind::Socket)).empty());
  CHECK_FALSE(SplicePump::unsuitable(end(Kind::Socket), end(Kind::None)).empty());
}

TEST_CASE("splice pump: pipe -> socket moves every byte, counts them and reports the pipe's EOF", "[splice]") {
  Loop loop;
  Pipe pipe;
  TcpPair tcp;
  const std::string data(40000, 'x');
  REQUIRE(::write(pipe.write_end.fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  pipe.write_end.close();
  uint64_t sent = 0;
  Outcome out;
  auto pump = make_pump(loop, {SpliceEnd::Kind::Pipe, pipe.read_end.fd, nullptr},
                        {SpliceEnd::Kind::Socket, tcp.a.fd, &sent}, out);
  loop.run_until(out);
  CHECK(out.ended);
  CHECK(out.end_status == 0);
  CHECK(out.moved == data.size());
  CHECK(sent == data.size());
  std::string got;
  for (int i = 0; i < 100 && got.size() < data.size(); ++i) got += read_some(tcp.b.fd, 65536);
  CHECK((got == data));  // parenthesised: a failure must not print megabytes
}

TEST_CASE("splice pump: socket -> socket moves every byte through its own pipe, then reports the EOF", "[splice]") {
  Loop loop;
  TcpPair from, to;
  // More than a pipe and the socket buffers hold, so the pump has to wait
  // for the destination while the pipe is full.
  const std::string data(3 * 1024 * 1024 + 17, 'z');
  uint64_t in = 0, out_count = 0;
  Outcome out;
  auto pump = make_pump(loop, {SpliceEnd::Kind::Socket, from.a.fd, &in}, {SpliceEnd::Kind::Socket, to.a.fd, &out_count},
                        out);
  size_t written = 0;
  std::string got;
  // Bounded by time, not only by turns: on a busy machine a fixed number of
  // turns can pass before the kernel has moved the bytes. Each turn waits
  // up to 1 ms for our ends, so it does not spin.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (int round = 0; round < 1000000 && !out.done() && std::chrono::steady_clock::now() < deadline; ++round) {
    if (written < data.size()) {
      ssize_t n = ::write(from.b.fd, data.data() + written, data.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      if (written == data.size()) ::shutdown(from.b.fd, SHUT_WR);
    }
    got += read_some(to.b.fd, 1 << 20);
    uv_run(loop.get(), UV_RUN_NOWAIT);
    pollfd ends[2] = {{from.b.fd, static_cast<short>(written < data.size() ? POLLOUT : 0), 0}, {to.b.fd, POLLIN, 0}};
    ::poll(ends, 2, 1);
  }
  // What the pump moved may still be on its way through loopback.
  for (int i = 0; i < 1000 && got.size() < data.size() && std::chrono::steady_clock::now() < deadline; ++i) {
    pollfd end{to.b.fd, POLLIN, 0};
    ::poll(&end, 1, 10);
    got += read_some(to.b.fd, 1 << 20);
  }
  CHECK(out.ended);
  CHECK(out.end_status == 0);
  CHECK(out.moved == data.size());
  CHECK(out_count == data.size());
  CHECK(got.size() == data.size());
  CHECK((got == data));  // parenthesised: a failure must not print megabytes
}

TEST_CASE("splice pump: a refused pair falls back before a single byte moved", "[splice]") {
  Loop loop;
  Pipe pipe;
  TcpPair tcp;
  // splice(2) refuses a destination opened for appending (EINVAL), as it
  // would a kind of descriptor it does not support.
  ::fcntl(tcp.a.fd, F_SETFL, O_NONBLOCK | O_APPEND);
  REQUIRE(::write(pipe.write_end.fd, "hello", 5) == 5);
  uint64_t sent = 0;
  Outcome out;
  auto pump = make_pump(loop, {SpliceEnd::Kind::Pipe, pipe.read_end.fd, nullptr},
                        {SpliceEnd::Kind::Socket, tcp.a.fd, &sent}, out);
  loop.run_until(out);
  CHECK(out.refused);
  CHECK(out.refused_status == UV_EINVAL);
  CHECK_FALSE(out.ended);
  CHECK(out.moved == 0);
  CHECK(sent == 0);
  CHECK(read_some(pipe.read_end.fd, 100) == "hello");  // still there for the copying path
}

TEST_CASE("splice pump: socket -> pipe whose reader is gone is the destination's error, not the source's", "[splice]") {
  std::signal(SIGPIPE, SIG_IGN);  // as nettool's main() does: EPIPE, not death
  Loop loop;
  Pipe pipe;
  TcpPair tcp;
  pipe.read_end.close();
  REQUIRE(::write(tcp.b.fd, "data", 4) == 4);
  Outcome out;
  auto pump = make_pump(loop, {SpliceEnd::Kind::Socket, tcp.a.fd, nullptr},
                        {SpliceEnd::Kind::Pipe, pipe.write_end.fd, nullptr}, out);
  loop.run_until(out);
  CHECK(out.sink_failed);
  CHECK(out.sink_status == UV_EPIPE);
  CHECK_FALSE(out.ended);
}

TEST_CASE("splice pump: socket -> /dev/null drops what arrives, counts it, and reports the peer's EOF", "[splice]") {
  Loop loop;
  TcpPair tcp;
  const std::string data(100000, 'y');
  size_t written = 0;
  while (written < data.size()) {
    ssize_t n = ::write(tcp.b.fd, data.data() + written, data.size() - written);
    REQUIRE(n > 0);  // 100 KB fits in a loopback socket's buffers
    written += static_cast<size_t>(n);
  }
  ::shutdown(tcp.b.fd, SHUT_WR);
  uint64_t received = 0;
  Outcome out;
  auto pump = make_pump(loop, {SpliceEnd::Kind::Socket, tcp.a.fd, &received},
                        {SpliceEnd::Kind::DevNull, -1, nullptr}, out);
  loop.run_until(out);
  CHECK(out.ended);
  CHECK(out.end_status == 0);
  CHECK(received == data.size());
}
