// Faults nettool must survive: peers that reset, half-close, never read or
// trickle; running out of descriptors; a full disk; a file shrinking while it
// is served; SIGPIPE; SIGTERM with downloads in flight.
//
// Loopback only, ephemeral ports, every wait bounded, every process reaped by
// the harness. The few timing assertions are bounds around a configured
// timeout (1 s idle timeout, 10 s grace) or a bound on a busy loop, never a
// performance measurement.
#include <catch2/catch.hpp>
#include <sys/ioctl.h>
#include <openssl/evp.h>
#include <signal.h>

#include <atomic>
#include <memory>
#include <thread>

#include "faults_load_util.h"
#include "harness.h"

using namespace e2e;
using namespace faultload;

namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

bool path_exists(const fs::path& p) {
  std::error_code ec;
  return fs::exists(fs::symlink_status(p, ec));
}

// A client that trickles one byte every 300 ms on its own thread for at most
// `limit`, and records when (and how) the server cut it off.
struct Trickler {
  double cut_after = -1;        // seconds from the first byte to EOF/reset; -1: never cut
  std::string how;              // "EOF", "reset", "send failed"
  std::string received;         // anything the server sent meanwhile
  int bytes_sent = 0;
};

void trickle_on(Socket& s, const std::string& preamble, Ms limit, Trickler& t);

// Runs on its own thread: never throws (a failed connect is recorded).
void trickle(uint16_t port, const std::string& preamble, Ms limit, Trickler& t) {
  try {
    Socket s = connect_tcp(port);
    trickle_on(s, preamble, limit, t);
  } catch (const std::exception& e) {
    t.how = std::string("failed: ") + e.what();
    t.cut_after = 0;
  }
}

void trickle_on(Socket& s, const std::string& preamble, Ms limit, Trickler& t) {
  if (!preamble.empty() && !s.send_all(preamble)) {
    t.how = "send failed";
    t.cut_after = 0;
    return;
  }
  auto start = Clock::now();
  while (Clock::now() - start < limit) {
    if (::send(s.fd(), "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1) {
      t.how = "send failed";
      t.cut_after = seconds_since(start);
      return;
    }
    ++t.bytes_sent;
    // Wait 300 ms, reading whatever comes (an echo) and noticing EOF/reset.
    auto until = Clock::now() + Ms(300);
    while (Clock::now() < until) {
      ReadEnd end = ReadEnd::Timeout;
      auto left = std::chrono::duration_cast<Ms>(until - Clock::now());
      std::string got = s.recv_some(std::max(left, Ms(1)), &end);
      t.received += got;
      if (got.empty() && end != ReadEnd::Timeout) {
        t.how = to_string(end);
        t.cut_after = seconds_since(start);
        return;
      }
    }
  }
}

// Reads what a stalled client has buffered, until EOF or reset (bounded).
ReadEnd drain(Socket& s, size_t& total, Ms timeout = 15s) {
  ReadEnd end = ReadEnd::Timeout;
  total += s.recv_all(timeout, &end).size();
  return end;
}

// GET over a plain socket, Connection: close, read to EOF.
HttpResponse plain_get(uint16_t port, const std::string& path, Ms timeout = kIoTimeout) {
  Socket s = connect_tcp(port);
  if (!s.send_all(get_request(path), timeout)) return {};
  return parse_response_text(s.recv_all(timeout));
}

}  // namespace

// ---------------------------------------------------------------- hostile peers

TEST_CASE("faults: file-serve survives a resetting, a half-closing, a non-reading and a slowloris client while serving another",
          "[faults][file-serve]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  const std::string medium = random_bytes(4 * MiB, 11);
  write_file(root / "medium.bin", medium);
  write_random_file(root / "big.bin", 16 * MiB, 12);
  write_file(root / "small.txt", "small and fine\n");

  auto srv = start_listener({"file-serve", "--root", root.string(), "--listen", "127.0.0.1:0", "--idle-timeout", "1s"});
  const uint16_t port = srv.port;

  // Slowloris: an incomplete request head, one more byte every 300 ms. The
  // idle timeout is also the deadline for the whole head, so it goes at ~1 s
  // although it never stops sending.
  Trickler loris;
  std::thread loris_thread(
      [&] { trickle(port, "GET /small.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", 8s, loris); });
  struct Join {
    std::thread& t;
    ~Join() {
      if (t.joinable()) t.join();
    }
  } join_loris{loris_thread};

  // Resets in the middle of a body.
  {
    Socket s = connect_tcp(port);
    REQUIRE(s.send_all(get_request("/big.bin", false)));
    std::string head;
    REQUIRE(s.recv_until(head, "\r\n\r\n"));
    CHECK(s.recv_exact(256 * KiB).size() == 256 * KiB);
    reset_close(s);
  }

  // Never reads after the head.
  Socket stalled = connect_tcp(port);
  REQUIRE(stalled.send_all(get_request("/big.bin", false)));
  std::string stalled_head;
  REQUIRE(stalled.recv_until(stalled_head, "\r\n\r\n"));
  const size_t stalled_length = std::stoull(parse_response_text(stalled_head).header("Content-Length").value_or(""));
  REQUIRE(stalled_length == 16 * MiB);
  size_t stalled_received = stalled_head.size() - (stalled_head.find("\r\n\r\n") + 4);

  // Half-closes right after a keep-alive request: still gets the whole answer, then EOF.
  {
    Socket s = connect_tcp(port);
    REQUIRE(s.send_all(get_request("/medium.bin", false)));
    s.shutdown_write();
    ReadEnd end = ReadEnd::Timeout;
    HttpResponse r = parse_response_text(s.recv_all(kIoTimeout, &end));
    CHECK(end == ReadEnd::Eof);
    CHECK(r.status == 200);
    CHECK(r.body.size() == medium.size());
    CHECK(sha256_hex(r.body) == sha256_hex(medium));
  }

  // Meanwhile a normal client is served correctly, twice.
  for (int i = 0; i < 2; ++i) {
    HttpResponse r = plain_get(port, "/medium.bin");
    CHECK(r.status == 200);
    CHECK(sha256_hex(r.body) == sha256_hex(medium));
    CHECK(plain_get(port, "/small.txt").body == "small and fine\n");
  }

  loris_thread.join();
  INFO("server log (tail):\n" << log_tail(srv.proc));
  INFO("slowloris: cut after " << loris.cut_after << " s (" << loris.how << "), " << loris.bytes_sent << " bytes sent");
  CHECK(loris.received.empty());   // never answered: the head was never complete
  CHECK(loris.cut_after >= 0.5);   // not before the idle timeout...
  CHECK(loris.cut_after <= 5.0);   // ...but at it, though it kept sending (it would go on for 8 s)

  // The reader that stalled is dropped at the idle timeout: draining its
  // socket ends in EOF/reset, well short of the 16 MiB promised.
  CHECK(srv.proc.wait_stderr_contains("client stopped reading; dropped", 10s));
  ReadEnd stalled_end = drain(stalled, stalled_received);
  INFO("stalled reader got " << stalled_received << " of " << stalled_length << " bytes, then " << to_string(stalled_end));
  CHECK(stalled_end != ReadEnd::Timeout);
  CHECK(stalled_received < stalled_length);

  // Still healthy afterwards.
  CHECK(srv.proc.running());
  HttpResponse after = plain_get(port, "/medium.bin");
  CHECK(after.status == 200);
  CHECK(sha256_hex(after.body) == sha256_hex(medium));
}

TEST_CASE("faults: tcp-listen -k --echo survives a resetting, a half-closing, a non-reading and a trickling client while serving another",
          "[faults][tcp-listen]") {
  auto srv = start_listener({"tcp-listen", "-k", "--echo", "-i", "1s", "127.0.0.1", "0"});
  const uint16_t port = srv.port;

  // Trickles a byte every 300 ms for 2.4 s: for an echo service each byte is
  // traffic, so it is served (every byte comes back) for longer than the 1 s
  // idle timeout. (That it is dropped once silent is the next test.)
  Trickler trickler;
  std::thread trickle_thread([&] { trickle(port, "", 2400ms, trickler); });
  struct Join {
    std::thread& t;
    ~Join() {
      if (t.joinable()) t.join();
    }
  } join_trickler{trickle_thread};

  // Resets while its echo is coming back.
  {
    Socket s = connect_tcp(port);
    REQUIRE(s.send_all(random_bytes(512 * KiB, 21)));
    CHECK(s.recv_exact(64 * KiB).size() == 64 * KiB);
    reset_close(s);
  }

  // Never reads: sends until the server stops taking its bytes (backpressure),
  // then goes silent and must be dropped at the idle timeout.
  Socket stalled = connect_tcp(port);
  const uint16_t stalled_port = [&] {
    sockaddr_in sin{};
    socklen_t len = sizeof sin;
    getsockname(stalled.fd(), reinterpret_cast<sockaddr*>(&sin), &len);
    return ntohs(sin.sin_port);
  }();
  size_t stalled_sent = 0;
  {
    const std::string chunk = random_bytes(64 * KiB, 22);
    while (stalled_sent < 256 * MiB && stalled.send_all(chunk, 500ms)) stalled_sent += chunk.size();
  }
  INFO("the stalled client could send " << stalled_sent << " bytes");
  CHECK(stalled_sent < 256 * MiB);  // the server stopped reading it: bounded buffering

  // Half-closes after its data: gets all of it back, then EOF.
  {
    Socket s = connect_tcp(port);
    const std::string data = random_bytes(256 * KiB, 23);
    ReadEnd end = ReadEnd::Timeout;
    std::string back = s.exchange(data, kIoTimeout, &end);
    CHECK(end == ReadEnd::Eof);
    CHECK(back.size() == data.size());
    CHECK(back == data);
  }

  // Meanwhile a normal client gets its 1 MiB back.
  {
    Socket s = connect_tcp(port);
    const std::string data = random_bytes(MiB, 24);
    ReadEnd end = ReadEnd::Timeout;
    std::string back = s.exchange(data, kIoTimeout, &end);
    CHECK(end == ReadEnd::Eof);
    CHECK(back == data);
  }

  trickle_thread.join();
  INFO("server log (tail):\n" << log_tail(srv.proc));
  INFO("trickler: " << trickler.how << ", " << trickler.bytes_sent << " bytes sent, " << trickler.received.size() << " echoed, cut after "
                    << trickler.cut_after << " s");
  CHECK(trickler.cut_after < 0);  // not dropped while it was sending
  CHECK(trickler.bytes_sent >= 6);  // ~8 over 2.4 s: served for more than twice the idle timeout
  CHECK(trickler.received == std::string(static_cast<size_t>(trickler.bytes_sent), 'a'));

  // The stalled client is dropped for idleness; its socket then ends.
  const std::string stalled_name = "127.0.0.1:" + std::to_string(stalled_port) + ": idle for";
  CHECK(srv.proc.wait_stderr_contains(stalled_name, 10s));
  size_t stalled_got = 0;
  ReadEnd stalled_end = drain(stalled, stalled_got);
  INFO("stalled reader got " << stalled_got << " bytes back, then " << to_string(stalled_end));
  CHECK(stalled_end != ReadEnd::Timeout);
  CHECK(stalled_got < stalled_sent);

  CHECK(srv.proc.running());
  Socket s = connect_tcp(port);
  CHECK(s.exchange("still echoing\n") == "still echoing\n");
}

TEST_CASE("faults: tcp-listen -k --echo -i 1s drops a trickling client about 1 s after its last byte", "[faults][tcp-listen]") {
  auto srv = start_listener({"tcp-listen", "-k", "--echo", "-i", "1s", "127.0.0.1", "0"});
  Socket s = connect_tcp(srv.port);
  // Active for 1.5 s (one byte per 300 ms, each echoed)...
  auto quiet = Clock::now();
  for (int i = 0; i < 6; ++i) {
    if (i > 0) std::this_thread::sleep_for(300ms);
    REQUIRE(s.send_all("x"));
    REQUIRE(s.recv_exact(1, 5s) == "x");
    quiet = Clock::now();
  }
  // ...then silent: cut at the idle timeout, counted from the last byte.
  ReadEnd end = ReadEnd::Timeout;
  std::string rest = s.recv_all(10s, &end);
  double after = seconds_since(quiet);
  INFO("server log (tail):\n" << log_tail(srv.proc));
  INFO("cut " << after << " s after the last byte (" << to_string(end) << ")");
  CHECK(rest.empty());
  CHECK(end != ReadEnd::Timeout);
  CHECK(after >= 0.5);
  CHECK(after <= 5.0);
  CHECK(srv.proc.running());
}

// ---------------------------------------------------------------- descriptors

namespace {

// Holds ~80 connections to a server limited to 64 descriptors, checks the
// warning and the CPU time over 2 s, closes them, then runs `healthy`.
void exhaust_descriptors(Listener& srv, const std::function<void()>& healthy) {
  // Served normally first. That also runs every code path once while
  // descriptors are free, which sanitized builds need: UBSan's vptr check
  // opens a pipe to probe memory on a type-cache miss, so a first-time check
  // at EMFILE reports a false "invalid vptr" and stops the process.
  healthy();

  std::vector<Socket> held;
  for (int i = 0; i < 80; ++i) {
    Socket s = try_connect_tcp(srv.port, "127.0.0.1", 2s);
    if (s.valid()) held.push_back(std::move(s));
  }
  INFO(held.size() << " of 80 connections established; server has " << open_fds(srv.proc.pid()) << " descriptors open");
  CHECK(held.size() >= 70);

  // It says why it cannot take them.
  bool warned = eventually(
      [&] {
        std::string err = lower(srv.proc.stderr_text());
        return err.find("accept") != std::string::npos &&
               (err.find("too many open files") != std::string::npos || err.find("descriptor") != std::string::npos);
      },
      10s);
  CHECK(warned);

  INFO("server log (tail):\n" << log_tail(srv.proc));
  // It does not spin while the connections are held: a busy loop would burn
  // ~2 s of CPU in this 2 s window.
  double before = cpu_seconds(srv.proc.pid());
  std::this_thread::sleep_for(2s);
  double used = cpu_seconds(srv.proc.pid()) - before;
  WARN("CPU time over the 2 s window with " << held.size() << " connections held: " << used << " s");
  CHECK(before >= 0);
  CHECK(used < 1.0);
  CHECK(srv.proc.running());

  // Recovers once they are gone.
  held.clear();
  healthy();
  CHECK(srv.proc.running());
}

}  // namespace

TEST_CASE("faults: file-serve under ulimit -n 64 with 80 connections warns, does not spin, and recovers",
          "[faults][file-serve][fd]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  const std::string content = random_bytes(100 * KiB, 31);
  write_file(root / "a.bin", content);
  auto srv = start_listener_argv(
      under_fd_limit(64, {"file-serve", "--root", root.string(), "--listen", "127.0.0.1:0"}));
  exhaust_descriptors(srv, [&] {
    HttpResponse r = plain_get(srv.port, "/a.bin", 15s);
    CHECK(r.status == 200);
    CHECK(r.body == content);
  });
}

TEST_CASE("faults: tcp-listen -k --echo under ulimit -n 64 with 80 connections warns, does not spin, and recovers",
          "[faults][tcp-listen][fd]") {
  auto srv = start_listener_argv(under_fd_limit(64, {"tcp-listen", "-k", "--echo", "127.0.0.1", "0"}));
  exhaust_descriptors(srv, [&] {
    const std::string data = random_bytes(64 * KiB, 32);
    // The server may still be closing the old connections: retry briefly.
    bool ok = eventually(
        [&] {
          Socket s = try_connect_tcp(srv.port, "127.0.0.1", 2s);
          return s.valid() && s.exchange(data, 5s) == data;
        },
        15s);
    CHECK(ok);
  });
}

// ---------------------------------------------------------------- disk full

TEST_CASE("faults: file-get into a full disk exits 1 saying 'No space' and leaves no file under the final name",
          "[faults][file-get]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  write_random_file(root / "big.bin", 4 * MiB, 41);
  TmpfsMount full(dir / "full", "1m");
  if (!full.mounted()) {
    WARN("skipped: " << full.why());
    return;
  }

  auto srv = start_listener({"file-serve", "--root", root.string(), "--listen", "127.0.0.1:0"});
  // With a Content-Length the space is reserved up front and that fails; a
  // --raw download has no length, so the write itself (a splice from the
  // socket) runs out of room. Neither leaves anything behind.
  for (bool raw : {false, true}) {
    INFO((raw ? "--raw" : "HTTP"));
    const auto target = full / "big.bin";
    auto r = raw ? run_nettool({"file-get", "--raw", "127.0.0.1", std::to_string(srv.port), "big.bin", "-o",
                                target.string()})
                 : run_nettool({"file-get", url(srv.port, "/big.bin"), "-o", target.string()});
    INFO("file-get stderr:\n" << r.err);
    INFO("server log (tail):\n" << log_tail(srv.proc));
    CHECK(r.exit_code == 1);
    CHECK((r.err.find("No space") != std::string::npos || r.err.find("ENOSPC") != std::string::npos));
    CHECK_FALSE(path_exists(target));
    if (raw) CHECK_FALSE(path_exists(target.string() + ".part"));  // a raw .part cannot be resumed
    // Nothing left holding the space either.
    CHECK(fs::space(full.path()).available > 512 * 1024);
  }
  // -o - into a file on the full disk: the copying path's writes fail.
  {
    const auto target = full / "stdout.bin";
    auto r = run_nettool({"file-get", url(srv.port, "/big.bin"), "-o", "-"}, ProcessOptions().stdout_to(target));
    INFO("file-get -o - stderr:\n" << r.err);
    CHECK(r.exit_code == 1);
    CHECK((r.err.find("No space") != std::string::npos || r.err.find("ENOSPC") != std::string::npos));
  }
  CHECK(srv.proc.running());
}

// ---------------------------------------------------------------- file shrinks while served

namespace {
// A served directory with one 64 MiB file, and file-serve on it.
struct ShrinkSetup {
  static constexpr size_t kBig = 64 * MiB;
  size_t cut = MiB;
  TempDir dir;
  fs::path root = dir / "root";
  fs::path file = root / "big.bin";
  std::string prefix;  // the first `cut` bytes of big.bin (the same generator and seed)
  Listener srv;

  ShrinkSetup(uint64_t seed, size_t cut_at) : cut(cut_at), srv(prepare(seed)) {}
  Listener prepare(uint64_t seed) {
    fs::create_directories(root);
    write_random_file(file, kBig, seed);
    prefix = random_bytes(cut, seed);
    return start_listener({"file-serve", "--root", root.string(), "--listen", "127.0.0.1:0"});
  }
};
}  // namespace

TEST_CASE("faults: a file truncated while file-serve sends it gives a short body, never padding, and the server goes on",
          "[faults][file-serve]") {
  // The client reads the head, pauses, the file is cut, the client reads to
  // the end. While it pauses, the server hands the kernel what fits in the
  // client's small window and its own send buffer (up to tcp_wmem's maximum,
  // 4 MiB by default): those bytes are gone whatever happens to the file. So
  // the cut is beyond them, and the body must then end exactly at the cut.
  const size_t cut = (tcp_wmem_max() + 4 * MiB + MiB - 1) / MiB * MiB;
  REQUIRE(cut < ShrinkSetup::kBig / 2);
  ShrinkSetup t(51, cut);
  const uint16_t port = t.srv.port;

  Socket s = connect_small_rcvbuf(port, 64 * KiB);
  REQUIRE(s.send_all(get_request("/big.bin")));
  std::string raw;
  REQUIRE(s.recv_until(raw, "\r\n\r\n", 20s));  // the digest of 64 MiB is computed first
  HttpResponse head = parse_response_text(raw);
  REQUIRE(head.status == 200);
  REQUIRE(head.header("Content-Length").value_or("") == std::to_string(t.kBig));
  std::this_thread::sleep_for(300ms);  // the server fills the window and waits
  fs::resize_file(t.file, t.cut);
  ReadEnd end = ReadEnd::Timeout;
  raw += s.recv_all(15s, &end);
  HttpResponse r = parse_response_text(raw);
  INFO("cut at " << t.cut << " bytes; received " << r.body.size() << " body bytes, then " << to_string(end));
  INFO("server log (tail):\n" << log_tail(t.srv.proc));
  CHECK(end != ReadEnd::Timeout);
  CHECK(r.body.size() < t.kBig);   // fewer than Content-Length: the client can tell
  CHECK(r.body.size() == t.cut);   // exactly what the file still has: no padding, nothing stale
  CHECK(r.body == t.prefix.substr(0, std::min(t.cut, r.body.size())));
  CHECK(t.srv.proc.wait_stderr_contains("file shrank", 5s));

  // Not crashed; the next request gets the new length, with a fresh digest.
  CHECK(t.srv.proc.running());
  const auto out = t.dir / "copy.bin";
  auto again = run_nettool({"file-get", url(port, "/big.bin"), "-o", out.string()});
  INFO("file-get stderr:\n" << again.err);
  CHECK(again.exit_code == 0);
  CHECK(read_file(out) == t.prefix);
}

TEST_CASE("faults: file-get of a file truncated mid-download exits 1 without a final file, and the server serves the next one",
          "[faults][file-serve][file-get]") {
  ShrinkSetup t(52, MiB);
  const uint16_t port = t.srv.port;

  // file-get reads too fast to catch mid-transfer, so it goes through this
  // proxy: after 2 MiB from the server it stops reading until the test has
  // truncated the file, then forwards the rest and the server's end.
  std::atomic<bool> paused{false}, truncated{false};
  PeerThread proxy(
      [&](Socket& client) {
        Socket up = connect_small_rcvbuf(port, 64 * KiB);
        size_t from_server = 0;
        bool client_open = true;
        auto deadline = Clock::now() + 40s;
        std::vector<char> buf(65536);
        while (Clock::now() < deadline) {
          bool hold = from_server >= 2 * MiB && !truncated;
          if (hold) paused = true;
          pollfd p[2] = {{client.fd(), static_cast<short>(client_open ? POLLIN : 0), 0},
                         {up.fd(), static_cast<short>(hold ? 0 : POLLIN), 0}};
          if (::poll(p, 2, 20) < 0 && errno != EINTR) return;
          if (p[0].revents) {
            ssize_t n = ::recv(client.fd(), buf.data(), buf.size(), MSG_DONTWAIT);
            if (n > 0) up.send_all(std::string_view(buf.data(), static_cast<size_t>(n)));
            else if (n == 0 || (errno != EAGAIN && errno != EINTR)) client_open = false;
          }
          if (p[1].revents && !hold) {
            ssize_t n = ::recv(up.fd(), buf.data(), buf.size(), MSG_DONTWAIT);
            if (n > 0) {
              from_server += static_cast<size_t>(n);
              if (!client.send_all(std::string_view(buf.data(), static_cast<size_t>(n)))) return;
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
              client.shutdown_write();  // the server ended its response: so does the proxy
              client.recv_all(10s);     // until file-get closes
              return;
            }
          }
        }
      },
      1, "127.0.0.1", 30s);

  const auto out = t.dir / "copy.bin";
  Process get(nettool_argv({"file-get", url(proxy.port(), "/big.bin"), "-o", out.string()}));
  REQUIRE(eventually([&] { return paused.load(); }, 20s));
  fs::resize_file(t.file, t.cut);
  truncated = true;
  int code = get.wait();
  INFO("server log (tail):\n" << log_tail(t.srv.proc));
  INFO("file-get stderr:\n" << get.stderr_text());
  CHECK(code == 1);
  CHECK_FALSE(path_exists(out));
  CHECK(get.stderr_text().find("short read") != std::string::npos);
  proxy.join();
  CHECK(proxy.error().empty());
  CHECK(t.srv.proc.wait_stderr_contains("file shrank", 5s));

  // The server goes on: the next download is complete and verified.
  CHECK(t.srv.proc.running());
  auto again = run_nettool({"file-get", url(port, "/big.bin"), "-o", out.string()});
  INFO("second file-get stderr:\n" << again.err);
  CHECK(again.exit_code == 0);
  CHECK(read_file(out) == t.prefix);
}

// ---------------------------------------------------------------- SIGPIPE

TEST_CASE("faults: SIGPIPE never kills tcp-connect whose stdout reader went away", "[faults][sigpipe][tcp-connect]") {
  std::atomic<bool> stop{false};
  PeerThread peer([&](Socket& s) {
    const std::string chunk = random_bytes(64 * KiB, 61);
    auto end = Clock::now() + 15s;
    while (!stop && Clock::now() < end && s.send_all(chunk, 2s)) {
    }
  });
  Process p(nettool_argv({"-v", "tcp-connect", "127.0.0.1", std::to_string(peer.port())}), ProcessOptions().stdout_pipe());
  // `| head -c 10`: read 10 bytes, then close the read end.
  std::string got;
  auto deadline = Clock::now() + 10s;
  while (got.size() < 10 && Clock::now() < deadline) {
    pollfd pfd{p.stdout_fd(), POLLIN, 0};
    ::poll(&pfd, 1, 100);
    char buf[10];
    ssize_t n = ::read(p.stdout_fd(), buf, 10 - got.size());
    if (n > 0) got.append(buf, static_cast<size_t>(n));
    else if (n == 0) break;
  }
  REQUIRE(got.size() == 10);
  // Replace our read end by /dev/null: the pipe has no reader any more (the
  // Process still owns and later closes the descriptor number).
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  REQUIRE(devnull >= 0);
  REQUIRE(::dup3(devnull, p.stdout_fd(), O_CLOEXEC) == p.stdout_fd());
  ::close(devnull);

  int code = p.wait(15s);
  stop = true;
  INFO("tcp-connect exit code " << code << "; stderr:\n" << p.stderr_text());
  CHECK(code != 128 + SIGPIPE);
  CHECK(code == 1);
  CHECK(p.stderr_text().find("debug: writing to stdin/stdout: broken pipe") != std::string::npos);  // the EPIPE path
  CHECK(p.stderr_text().find("error") == std::string::npos);  // and, as for nc, no error line
}

// A write to a socket gives EPIPE (and, unless ignored, SIGPIPE) when the
// peer's reset arrives after its FIN: the socket is in CLOSE_WAIT. So these
// clients have a small window (the server's data backs up in its queue),
// half-close, then close with unread data, which resets.
TEST_CASE("faults: SIGPIPE never kills tcp-listen writing to a client that closed", "[faults][sigpipe][tcp-listen]") {
  SECTION("one-client mode, stdin streaming to the client") {
    // The copying path: after the client's EOF, what nettool still has queued
    // for it is written into a reset connection. (Splicing queues nothing of
    // its own, so it has nothing left to write there; see the next section.)
    auto srv = start_listener({"tcp-listen", "127.0.0.1", "0"},
                              ProcessOptions().stdin_pipe().stdout_null().setenv("NETTOOL_NO_SPLICE", "1"));
    std::atomic<bool> stop{false};
    std::thread feeder([&] {
      const std::string chunk = random_bytes(64 * KiB, 71);
      while (!stop && srv.proc.write_stdin(chunk, 200ms)) {
      }
    });
    struct Stop {
      std::atomic<bool>& stop;
      std::thread& t;
      ~Stop() {
        stop = true;
        if (t.joinable()) t.join();
      }
    } stopper{stop, feeder};
    {
      Socket s = connect_small_rcvbuf(srv.port, 16 * KiB);
      CHECK(s.recv_exact(10).size() == 10);
      std::this_thread::sleep_for(500ms);  // nettool's queue to us fills up
      s.shutdown_write();                  // it now flushes that queue, then exits...
      std::this_thread::sleep_for(300ms);
      s.close();                           // ...but we are gone: reset, EPIPE
    }
    int code = srv.proc.wait(15s);
    std::string err = srv.proc.stderr_text();
    INFO("tcp-listen exit code " << code << "; stderr:\n" << err);
    CHECK(code != 128 + SIGPIPE);
    CHECK((code == 0 || code == 1));
    CHECK(err.find("broken pipe") != std::string::npos);  // the EPIPE path was taken
  }

  SECTION("one-client mode, stdin spliced to a client that resets the connection") {
    auto srv = start_listener({"-v", "tcp-listen", "127.0.0.1", "0"}, ProcessOptions().stdin_pipe().stdout_null());
    std::atomic<bool> stop{false};
    std::thread feeder([&] {
      const std::string chunk = random_bytes(64 * KiB, 73);
      while (!stop && srv.proc.write_stdin(chunk, 200ms)) {
      }
    });
    struct Stop {
      std::atomic<bool>& stop;
      std::thread& t;
      ~Stop() {
        stop = true;
        if (t.joinable()) t.join();
      }
    } stopper{stop, feeder};
    {
      Socket s = connect_small_rcvbuf(srv.port, 16 * KiB);
      CHECK(s.recv_exact(10).size() == 10);
      // Bytes are waiting unread in our socket, so the close is a reset.
      REQUIRE(eventually([&] {
        int unread = 0;
        return ::ioctl(s.fd(), FIONREAD, &unread) == 0 && unread > 0;
      }));
      s.close();
    }
    int code = srv.proc.wait(15s);
    std::string err = srv.proc.stderr_text();
    INFO("tcp-listen exit code " << code << "; stderr:\n" << err);
    CHECK(code == 1);  // a failed session, not SIGPIPE (141)
    CHECK(err.find("zero-copy (splice(2))") != std::string::npos);
    CHECK((err.find("reset by peer") != std::string::npos || err.find("broken pipe") != std::string::npos));
  }

  SECTION("-k --echo, clients that send, half-close and vanish without reading their echo") {
    auto srv = start_listener({"tcp-listen", "-v", "-k", "--echo", "127.0.0.1", "0"});
    const std::string data = random_bytes(4 * MiB, 72);
    for (int i = 0; i < 3; ++i) {
      Socket s = connect_small_rcvbuf(srv.port, 16 * KiB);
      s.send_all(data, 300ms);  // stops when the echo backs up
      s.shutdown_write();
      std::this_thread::sleep_for(300ms);
      s.close();
    }
    CHECK(srv.proc.wait_stderr_contains("broken pipe", 5s));  // the EPIPE path was taken
    INFO("server log (tail):\n" << log_tail(srv.proc));
    CHECK(srv.proc.running());
    Socket s = connect_tcp(srv.port);
    CHECK(s.exchange("alive\n") == "alive\n");
  }
}

// ---------------------------------------------------------------- SIGTERM

namespace {
// One download read at a bounded pace, hashed as it arrives.
struct Download {
  Socket sock;
  std::string head;
  bool have_head = false;
  int status = 0;
  size_t length = 0, received = 0;
  bool eof = false, reset = false;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> sha{EVP_MD_CTX_new(), &EVP_MD_CTX_free};
  bool done() const { return eof || reset; }

  void feed(const char* data, size_t n) {
    if (!have_head) {
      head.append(data, n);
      auto at = head.find("\r\n\r\n");
      if (at == std::string::npos) return;
      have_head = true;
      HttpResponse r = parse_response_text(head);
      status = r.status;
      length = std::stoull("0" + r.header("Content-Length").value_or(""));
      EVP_DigestUpdate(sha.get(), r.body.data(), r.body.size());
      received = r.body.size();
      return;
    }
    EVP_DigestUpdate(sha.get(), data, n);
    received += n;
  }
  // Reads at most `budget` bytes now.
  void read_some(size_t budget) {
    char buf[16384];
    while (budget > 0 && !done()) {
      ssize_t n = ::recv(sock.fd(), buf, std::min(sizeof buf, budget), MSG_DONTWAIT);
      if (n > 0) {
        feed(buf, static_cast<size_t>(n));
        budget -= static_cast<size_t>(n);
      } else if (n == 0) {
        eof = true;
        sock.close();  // so the server's lingering close ends at once
      } else if (errno == EAGAIN || errno == EINTR) {
        return;
      } else {
        reset = true;
      }
    }
  }
  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(sha.get(), md, &len);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < len; ++i) {
      out += kHex[md[i] >> 4];
      out += kHex[md[i] & 15];
    }
    return out;
  }
};
}  // namespace

TEST_CASE("faults: SIGTERM during 50 downloads: file-serve stops accepting, finishes all 50 intact, exits 0 within the grace",
          "[faults][file-serve][signals]") {
  TempDir dir;
  const auto root = dir / "root";
  fs::create_directories(root);
  // Bigger than what the server can hand to the kernel ahead of a client
  // (its send buffer, up to tcp_wmem's maximum), so every response is still
  // the server's business when the signal comes.
  const size_t kSize = tcp_wmem_max() + 2 * MiB;
  const std::string content = random_bytes(kSize, 81);
  write_file(root / "big.bin", content);
  const std::string expected = sha256_hex(content);

  auto srv = start_listener({"file-serve", "--root", root.string(), "--listen", "127.0.0.1:0", "--grace", "10s"});
  const uint16_t port = srv.port;

  constexpr int kClients = 50;
  std::vector<Download> downloads(kClients);
  for (auto& d : downloads) {
    EVP_DigestInit_ex(d.sha.get(), EVP_sha256(), nullptr);
    // Small windows: the server cannot push the whole file into buffers, so
    // every response really is in flight when the signal comes.
    d.sock = connect_small_rcvbuf(port, 32 * KiB);
    REQUIRE(d.sock.send_all(get_request("/big.bin")));
  }
  // Each reads at most 48 KiB per 20 ms tick (~2.4 MB/s): ~2.5 s per download.
  auto tick = [&] {
    auto next = Clock::now() + 20ms;
    for (auto& d : downloads) d.read_some(48 * KiB);
    std::this_thread::sleep_until(next);
  };

  auto started = [&] {
    for (auto& d : downloads)
      if (!d.have_head || d.received < 256 * KiB) return false;
    return true;
  };
  auto limit = Clock::now() + 20s;
  while (!started() && Clock::now() < limit) tick();
  REQUIRE(started());
  for (auto& d : downloads) REQUIRE_FALSE(d.done());
  // Not one response finished yet (file-serve logs a request when it ends).
  CHECK(srv.proc.stderr_text().find("GET /big.bin 200") == std::string::npos);

  srv.proc.signal(SIGTERM);
  const auto signalled = Clock::now();

  // New connections are refused from now on, while the 50 go on.
  bool refused = false;
  int accepted_meanwhile = 0;
  auto all_done = [&] {
    for (auto& d : downloads)
      if (!d.done()) return false;
    return true;
  };
  while (!all_done() && Clock::now() < signalled + 15s) {
    if (!refused) {
      Socket probe = try_connect_tcp(port, "127.0.0.1", 200ms);
      if (!probe.valid()) refused = true;  // loopback: a closed port refuses at once
      else ++accepted_meanwhile;
    }
    tick();
  }
  double finished_after = seconds_since(signalled);
  INFO("server log (tail):\n" << log_tail(srv.proc));
  INFO("downloads finished " << finished_after << " s after SIGTERM; connects accepted before the refusal: "
                             << accepted_meanwhile);
  CHECK(refused);

  int intact = 0;
  for (int i = 0; i < kClients; ++i) {
    auto& d = downloads[static_cast<size_t>(i)];
    INFO("download " << i << ": status " << d.status << ", " << d.received << " of " << d.length << " bytes, "
                     << (d.eof ? "EOF" : d.reset ? "reset" : "unfinished"));
    CHECK(d.status == 200);
    CHECK(d.eof);
    CHECK(d.received == kSize);
    if (d.hex() == expected && d.received == kSize) ++intact;
  }
  CHECK(intact == kClients);

  // Exits 0 once they are done, within the 10 s grace.
  auto grace_left = std::chrono::duration_cast<Ms>(signalled + 10s - Clock::now());
  int code = srv.proc.wait(std::max(grace_left, Ms(1)));
  INFO("server exited " << seconds_since(signalled) << " s after SIGTERM with " << code);
  CHECK(code == 0);
  CHECK(srv.proc.stderr_text().find("grace period over") == std::string::npos);
}
