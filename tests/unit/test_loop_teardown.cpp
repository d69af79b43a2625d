// The event-loop classes one at a time (Relay, Bridge, TcpConnector, TCP and
// child endpoints), each in its own libuv loop inside this process. Besides
// what each one does, every test checks the ownership rule of ARCHITECTURE.md:
// once the owners are gone and their close callbacks have run, no handle is
// left and the loop closes.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "nettool/bridge.h"
#include "nettool/connect.h"
#include "nettool/plugin.h"
#include "nettool/stream.h"
#include "nettool/uv.h"

using namespace nettool;
using namespace std::chrono_literals;

namespace {

// A loop for one test. finish() runs the close callbacks of everything the
// test destroyed and checks that nothing is left open.
class TestLoop {
 public:
  TestLoop() { REQUIRE(uv_loop_init(&loop_) == 0); }
  ~TestLoop() {
    if (!finished_) finish();
  }
  uv_loop_t* get() { return &loop_; }

  // Runs until `done()` or 10 s, whichever comes first.
  void run_until(const std::function<bool()>& done) {
    auto guard = make_timer(&loop_, nullptr);
    uv_timer_start(guard.get(), [](uv_timer_t*) {}, 10000, 0);
    while (!done() && uv_is_active(guard.as_handle())) uv_run(&loop_, UV_RUN_ONCE);
  }

  // Runs for `time` (a callback that must not come has had its chance).
  void run_for(std::chrono::milliseconds time) {
    auto timer = make_timer(&loop_, nullptr);
    uv_timer_start(timer.get(), [](uv_timer_t*) {}, static_cast<uint64_t>(time.count()), 0);
    while (uv_is_active(timer.as_handle())) uv_run(&loop_, UV_RUN_ONCE);
  }

  void finish() {
    finished_ = true;
    uv_run(&loop_, UV_RUN_DEFAULT);
    std::string left;
    uv_walk(
        &loop_,
        [](uv_handle_t* h, void* arg) {
          static_cast<std::string*>(arg)->append(uv_handle_type_name(uv_handle_get_type(h))).append(" ");
        },
        &left);
    CHECK(left.empty());
    CHECK(uv_loop_close(&loop_) == 0);
  }

 private:
  uv_loop_t loop_;
  bool finished_ = false;
};

// A listening loopback socket (blocking, for the test's side).
struct Listener {
  int fd = -1;
  uint16_t port = 0;
  Listener() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd, 4) == 0);
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port = ntohs(addr.sin_port);
  }
  ~Listener() { ::close(fd); }
};

// A TCP endpoint on `loop` connected to a plain socket the test holds.
struct TcpEndpointPair {
  std::unique_ptr<Endpoint> endpoint;
  int peer = -1;
  TcpEndpointPair(uv_loop_t* loop, Counters* counters) {
    Listener l;
    int ours = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(l.port);
    REQUIRE(::connect(ours, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    peer = ::accept4(l.fd, nullptr, nullptr, SOCK_CLOEXEC);
    REQUIRE(peer >= 0);
    auto tcp = make_tcp(loop, nullptr);  // no socket of its own: it adopts ours
    REQUIRE(uv_tcp_open(tcp.get(), ours) == 0);
    endpoint = make_tcp_endpoint(std::move(tcp), counters);
  }
  ~TcpEndpointPair() {
    if (peer >= 0) ::close(peer);
  }
};

// Collects what arrives on the test's side of a connection without blocking,
// so the loop can keep running between calls.
struct PeerReader {
  int fd;
  std::string data;
  bool eof = false;
  explicit PeerReader(int f) : fd(f) { ::fcntl(fd, F_SETFL, O_NONBLOCK); }
  bool poll() {
    char buf[16384];
    for (int reads = 0; reads < 1000 && !eof; ++reads) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0) data.append(buf, static_cast<size_t>(n));
      else if (n == 0) eof = true;
      else break;
    }
    return eof;
  }
};

}  // namespace

TEST_CASE("Relay: every byte reaches each destination, which is half-closed after it, and no handle is left",
          "[loop][relay]") {
  TestLoop loop;
  Counters counters;
  {
    TcpEndpointPair from(loop.get(), &counters), to_a(loop.get(), nullptr), to_b(loop.get(), nullptr);
    const std::string data(64 * 1024, 'r');
    REQUIRE(::send(from.peer, data.data(), data.size(), 0) == static_cast<ssize_t>(data.size()));
    ::shutdown(from.peer, SHUT_WR);
    int end_status = 1;
    auto relay = Relay::start(*from.endpoint, {to_a.endpoint.get(), to_b.endpoint.get()}, true,
                              [&](int status) { end_status = status; });
    PeerReader a(to_a.peer), b(to_b.peer);
    loop.run_until([&] {
      // Both read every round (no short-circuit): neither peer may stall.
      bool a_done = a.poll();
      bool b_done = b.poll();
      return a_done && b_done;
    });
    CHECK(end_status == 0);
    CHECK(a.data == data);
    CHECK(b.data == data);
    CHECK(counters.bytes_received == data.size());
  }
  loop.finish();
}

TEST_CASE("Relay: stopped halfway and destroyed with its endpoints, it leaves no handle", "[loop][relay]") {
  TestLoop loop;
  {
    TcpEndpointPair from(loop.get(), nullptr), to(loop.get(), nullptr);
    REQUIRE(::send(from.peer, "partial", 7, 0) == 7);
    bool ended = false;
    auto relay = Relay::start(*from.endpoint, {to.endpoint.get()}, false, [&](int) { ended = true; });
    PeerReader got(to.peer);
    loop.run_until([&] {
      got.poll();
      return got.data.size() == 7;
    });
    CHECK(got.data == "partial");
    relay->stop();
    CHECK_FALSE(ended);  // the source never ended; stop() forgets the callback
  }
  loop.finish();
}

TEST_CASE("Bridge: a child process answers the network, both sides end, and no handle is left", "[loop][bridge]") {
  TestLoop loop;
  {
    TcpEndpointPair net(loop.get(), nullptr);
    int64_t child_status = -1;
    auto child = spawn_child_endpoint(loop.get(), "tr a-z A-Z", true, [&](int64_t status) { child_status = status; });
    Bridge::Policy policy;
    policy.wait_for_both = true;
    int code = -1;
    auto bridge = Bridge::start(loop.get(), std::move(net.endpoint), std::move(child), policy,
                                [&](int exit_code, const std::string&) { code = exit_code; });
    REQUIRE(::send(net.peer, "hello bridge\n", 13, 0) == 13);
    ::shutdown(net.peer, SHUT_WR);
    PeerReader got(net.peer);
    loop.run_until([&] { return got.poll() && code != -1 && child_status != -1; });
    CHECK(got.data == "HELLO BRIDGE\n");
    CHECK(code == 0);
    CHECK(child_status == 0);
  }
  loop.finish();
}

TEST_CASE("Bridge: abort() ends it at once with the given code, and no handle is left", "[loop][bridge]") {
  TestLoop loop;
  {
    TcpEndpointPair net(loop.get(), nullptr);
    auto child = spawn_child_endpoint(loop.get(), "cat", false, [](int64_t) {});
    int code = -1;
    std::string reason;
    auto bridge = Bridge::start(loop.get(), std::move(net.endpoint), std::move(child), Bridge::Policy{},
                                [&](int exit_code, const std::string& why) {
                                  code = exit_code;
                                  reason = why;
                                });
    bridge->abort(1, "stopped by the test");
    loop.run_until([&] { return code != -1; });
    CHECK(code == 1);
    CHECK(reason == "stopped by the test");
  }
  loop.finish();
}

// spawn_child_endpoint's callback may drop the endpoint, its last owner
// while the session runs. The ChildProcess that calls it, and so the
// callback itself, must outlive the call: the callback's own capture shows it
// (a canary only the callback holds). Under ASan the old use after free shows too.
TEST_CASE("ChildProcess: the exit callback may destroy its own --exec endpoint and no handle is left", "[loop][exec]") {
  TestLoop loop;
  {
    struct State {
      std::unique_ptr<Endpoint> child;
      std::weak_ptr<int> canary;
      int64_t status = -1;
      bool callback_alive_after_drop = false;
    } state;
    auto canary = std::make_shared<int>(0);
    state.canary = canary;
    state.child = spawn_child_endpoint(loop.get(), "exit 3", true, [at = &state, canary = std::move(canary)](int64_t status) {
      State* s = at;  // on the stack: nothing of the closure is read after the drop
      s->status = status;
      s->child.reset();
      s->callback_alive_after_drop = !s->canary.expired();
    });
    loop.run_until([&] { return state.status != -1; });
    CHECK(state.status == 3);
    CHECK_FALSE(state.child);
    CHECK(state.callback_alive_after_drop);
  }
  loop.finish();
}

TEST_CASE("TcpConnector: connects, or names the address it could not reach, and leaves no handle", "[loop][connect]") {
  TestLoop loop;
  {
    Listener open;
    bool done = false;
    std::string error = "(none)";
    Handle<uv_tcp_t> connected;
    auto connector = TcpConnector::start(loop.get(), "127.0.0.1", open.port, TcpConnector::Options{},
                                         [&](Handle<uv_tcp_t> socket, const std::string& why) {
                                           connected = std::move(socket);
                                           error = why;
                                           done = true;
                                         });
    loop.run_until([&] { return done; });
    CHECK(error.empty());
    CHECK(connected.is_open());
  }
  {
    uint16_t closed_port = 0;
    {
      Listener gone;  // bound, then closed: nothing listens there now
      closed_port = gone.port;
    }
    bool done = false;
    std::string error;
    auto connector = TcpConnector::start(loop.get(), "127.0.0.1", closed_port, TcpConnector::Options{},
                                         [&](Handle<uv_tcp_t>, const std::string& why) {
                                           error = why;
                                           done = true;
                                         });
    loop.run_until([&] { return done; });
    CHECK(error.find("127.0.0.1") != std::string::npos);
    CHECK(error.find(std::to_string(closed_port)) != std::string::npos);
  }
  {
    Listener open;
    bool called = false;
    auto connector = TcpConnector::start(loop.get(), "127.0.0.1", open.port, TcpConnector::Options{},
                                         [&](Handle<uv_tcp_t>, const std::string&) { called = true; });
    connector->abort();  // before the connect completes: no callback, and nothing left behind
    loop.run_for(200ms);
    CHECK_FALSE(called);
  }
  loop.finish();
}
