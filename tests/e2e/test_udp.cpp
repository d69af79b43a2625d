// The UDP family end to end: udp-send, udp-listen and udp-broadcast on
// loopback (127.0.0.1, ::1), real broadcast and multicast between two network
// namespaces joined by a veth pair (root only; skipped with a warning
// otherwise), interop with socat and OpenBSD nc, and the example profiles.
//
// Every test name contains "udp" so `ctest -R udp` selects them all.
// Waits are bounded (the harness's timeouts or explicit ones here); every
// child is a harness Process, killed and reaped on every path; network
// namespaces are deleted by an RAII guard, also when a REQUIRE fails.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <thread>

#include "harness.h"
#include "udp_test_util.h"

using namespace e2e;

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t KiB = 1024;
constexpr size_t MiB = 1024 * KiB;

// ---------------------------------------------------------------- a UDP peer

// A UDP port on 127.0.0.1 that was free a moment ago (bound, read, closed).
uint16_t free_udp_port() {
  UdpSocket probe;
  return probe.port();
}

// True while some UDP socket is bound to local `port` (from /proc/net/udp*).
bool udp_port_bound(uint16_t port) {
  for (const char* table : {"/proc/net/udp", "/proc/net/udp6"}) {
    std::ifstream f(table);
    std::string line;
    std::getline(f, line);  // header
    while (std::getline(f, line)) {
      std::istringstream ls(line);
      std::string sl, local;
      ls >> sl >> local;
      auto colon = local.rfind(':');
      if (colon != std::string::npos && std::stoul(local.substr(colon + 1), nullptr, 16) == port) return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------- helpers

// An executable on $PATH, or in the sbin directories a non-login PATH may lack.
std::string find_program(const std::string& name) {
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  path += ":/usr/sbin:/sbin:/usr/bin:/bin";
  std::istringstream dirs(path);
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) continue;
    fs::path p = fs::path(dir) / name;
    if (::access(p.c_str(), X_OK) == 0) return p.string();
  }
  return {};
}

struct CmdResult {
  int exit_code = Process::kTimedOut;
  std::string err;
  std::string out;
};

// Any program to completion (bounded), stdout and stderr captured.
CmdResult run_cmd(std::vector<std::string> argv, ProcessOptions options = {}, Ms timeout = kRunTimeout) {
  Process p(std::move(argv), std::move(options));
  CmdResult r;
  r.exit_code = p.wait(timeout);
  r.err = p.stderr_text();
  r.out = p.stdout_text();
  return r;
}

std::string port_str(uint16_t port) { return std::to_string(port); }

bool have(const std::string& program) { return !find_program(program).empty(); }

long rmem_max() {
  std::ifstream f("/proc/sys/net/core/rmem_max");
  long v = 0;
  f >> v;
  return v;
}

// ---------------------------------------------------------------- namespaces

// Two network namespaces A and B joined by a veth pair, 10.213.0.1/24 in A and
// 10.213.0.2/24 in B, lo and the veths up, a multicast route 224.0.0.0/4 on
// each veth. Names carry the PID and a counter, so parallel runs never clash.
// The destructor deletes both namespaces (which destroys the veth pair), on
// every path. `ok()` is false (with `why()`) when they could not be made:
// not root, no `ip`, or the kernel refused.
class NetnsPair {
 public:
  NetnsPair() {
    static std::atomic<int> counter{0};
    std::string tag = std::to_string(::getpid()) + "x" + std::to_string(counter++);
    a_ = "nt-udp-" + tag + "-a";
    b_ = "nt-udp-" + tag + "-b";
    va_ = "nu" + tag + "a";  // at most 15 characters: "nu" + 7-digit PID + "x" + counter + "a"
    vb_ = "nu" + tag + "b";
    if (::geteuid() != 0) {
      why_ = "not running as root (network namespaces need CAP_SYS_ADMIN)";
      return;
    }
    ip_ = find_program("ip");
    if (ip_.empty()) {
      why_ = "no `ip` program (iproute2) found";
      return;
    }
    if (!step({"netns", "add", a_})) return;
    made_a_ = true;
    if (!step({"netns", "add", b_})) return;
    made_b_ = true;
    if (!step({"link", "add", va_, "netns", a_, "type", "veth", "peer", "name", vb_, "netns", b_})) return;
    for (auto [ns, dev, addr] : {std::tuple{a_, va_, "10.213.0.1/24"}, std::tuple{b_, vb_, "10.213.0.2/24"}}) {
      if (!step({"-n", ns, "addr", "add", addr, "brd", "+", "dev", dev}) || !step({"-n", ns, "link", "set", "lo", "up"}) ||
          !step({"-n", ns, "link", "set", dev, "up"}) || !step({"-n", ns, "route", "add", "224.0.0.0/4", "dev", dev}))
        return;
    }
    ok_ = true;
  }
  ~NetnsPair() {
    // Deleting a namespace destroys its end of the veth pair, and with it the pair.
    if (made_b_) run_cmd({ip_, "netns", "del", b_}, {}, Ms(10'000));
    if (made_a_) run_cmd({ip_, "netns", "del", a_}, {}, Ms(10'000));
  }
  NetnsPair(const NetnsPair&) = delete;
  NetnsPair& operator=(const NetnsPair&) = delete;

  bool ok() const { return ok_; }
  const std::string& why() const { return why_; }
  const std::string& a() const { return a_; }
  const std::string& b() const { return b_; }
  const std::string& veth_a() const { return va_; }
  const std::string& veth_b() const { return vb_; }

  // {ip, netns, exec, NS, nettool, args...}
  std::vector<std::string> nettool_in(const std::string& ns, std::vector<std::string> args) const {
    std::vector<std::string> argv{ip_, "netns", "exec", ns, nettool_path().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
  CmdResult run_in(const std::string& ns, std::vector<std::string> args) const {
    return run_cmd(nettool_in(ns, std::move(args)));
  }
  // In `ns`, a second link (a veth pair of its own, going nowhere) that IPv6
  // multicast prefers to the veth when no interface is named: a datagram
  // that ignored --interface would leave there and be lost.
  bool add_ipv6_multicast_decoy(const std::string& ns) {
    return step({"-n", ns, "link", "add", "decoy0", "type", "veth", "peer", "name", "decoy1"}) &&
           step({"-n", ns, "link", "set", "decoy0", "up"}) && step({"-n", ns, "link", "set", "decoy1", "up"}) &&
           step({"-n", ns, "-6", "route", "add", "multicast", "ff00::/8", "dev", "decoy0", "table", "local", "metric", "1"});
  }
  // Whether `dev` in `ns` has its IPv6 link-local address, done with
  // duplicate address detection (until then it cannot send from it).
  bool ipv6_link_local_ready(const std::string& ns, const std::string& dev) const {
    auto r = run_cmd({ip_, "-n", ns, "-6", "addr", "show", "dev", dev}, {}, Ms(10'000));
    return r.exit_code == 0 && r.out.find("inet6 fe80:") != std::string::npos &&
           r.out.find("tentative") == std::string::npos;
  }

 private:
  bool step(std::vector<std::string> args) {
    args.insert(args.begin(), ip_);
    auto r = run_cmd(args, {}, Ms(10'000));
    if (r.exit_code == 0) return true;
    std::string cmd;
    for (const auto& a : args) cmd += (cmd.empty() ? "" : " ") + a;
    why_ = "`" + cmd + "` failed (exit " + std::to_string(r.exit_code) + "): " + r.err;
    return false;
  }

  std::string ip_, a_, b_, va_, vb_, why_;
  bool made_a_ = false, made_b_ = false, ok_ = false;
};

// A udp-listen inside a namespace; waits for its "listening on" line.
Process start_listener_in(const NetnsPair& ns, const std::string& name, std::vector<std::string> args) {
  Process p(ns.nettool_in(name, std::move(args)));
  if (!p.wait_stderr_contains("listening on"))
    throw std::runtime_error(p.describe() + ": no 'listening on' line; stderr:\n" + p.stderr_text());
  return p;
}

constexpr uint16_t kNsPort = 7777;  // a fixed port is fine inside private namespaces

}  // namespace

// ======================================================================= loopback

TEST_CASE("udp-send lines to udp-listen -S: one datagram per line, printed as 'ADDR:PORT payload'", "[udp]") {
  auto l = start_listener({"udp-listen", "-S", "--count", "3", "127.0.0.1", "0"});
  TempDir dir;
  write_file(dir / "in.txt", "one\ntwo words\nthree\n");
  auto r = run_nettool({"udp-send", "127.0.0.1", port_str(l.port)}, ProcessOptions().stdin_from(dir / "in.txt"));
  INFO("udp-send stderr: " << r.err);
  INFO("udp-listen stderr: " << l.proc.stderr_text());
  REQUIRE(r.exit_code == 0);
  REQUIRE(l.proc.wait(kIoTimeout) == 0);  // --count 3: exits after three datagrams
  std::string out = l.proc.stdout_text();
  INFO("udp-listen stdout: " << out);
  // Each payload keeps its newline (udp-send's default), and -S adds none
  // after it: "ADDR:PORT one\n", no blank line.
  std::regex record_re(R"(127\.0\.0\.1:(\d+) ([^\n]*\n))");
  std::vector<std::string> payloads;
  std::string sender_port;
  size_t matched = 0;
  for (std::sregex_iterator it(out.begin(), out.end(), record_re), end; it != end; ++it) {
    const std::smatch& m = *it;
    CHECK(m.position(0) == static_cast<std::ptrdiff_t>(matched));  // nothing between records
    matched += static_cast<size_t>(m.length(0));
    if (sender_port.empty()) sender_port = m[1];
    CHECK(m[1] == sender_port);  // all from udp-send's one socket
    CHECK(m[1] != "0");
    payloads.push_back(m[2]);
  }
  CHECK(matched == out.size());
  CHECK(payloads == std::vector<std::string>{"one\n", "two words\n", "three\n"});
}

TEST_CASE("udp-listen -S names the exact sender address and port of each datagram", "[udp]") {
  auto l = start_listener({"udp-listen", "-S", "--count", "2", "127.0.0.1", "0"});
  UdpSocket a, b;
  REQUIRE(a.send_to("127.0.0.1", l.port, "from a"));
  REQUIRE(l.proc.wait_stdout_contains("from a\n"));
  REQUIRE(b.send_to("127.0.0.1", l.port, "from b"));
  REQUIRE(l.proc.wait(kIoTimeout) == 0);
  CHECK(l.proc.stdout_text() == "127.0.0.1:" + port_str(a.port()) + " from a\n" +  //
                                    "127.0.0.1:" + port_str(b.port()) + " from b\n");
}

// What nc -u does, and what a user piping lines from one nettool into another
// expects: the lines come out of udp-listen as they went into udp-send.
TEST_CASE("udp-send into udp-listen: nettool to nettool the lines arrive with their newlines", "[udp]") {
  TempDir dir;
  auto l = start_listener({"udp-listen", "--count", "2", "127.0.0.1", "0"}, ProcessOptions().stdout_to(dir / "f"));
  write_file(dir / "in.txt", "line1\nline2\n");
  auto r = run_nettool({"udp-send", "127.0.0.1", port_str(l.port)}, ProcessOptions().stdin_from(dir / "in.txt"));
  INFO("udp-send stderr: " << r.err);
  INFO("udp-listen stderr: " << l.proc.stderr_text());
  REQUIRE(r.exit_code == 0);
  REQUIRE(l.proc.wait(kIoTimeout) == 0);  // --count 2: one datagram per line
  CHECK(read_file(dir / "f") == "line1\nline2\n");
}

// One datagram per line, each the line's bytes as read: LF and CRLF input
// alike, and a last line without a terminator as it is. --no-keep-newline
// strips the terminator whole (the LF and a CR before it), not just the LF.
TEST_CASE("udp-send sends each line byte for byte with its terminator and --no-keep-newline strips LF and CRLF",
          "[udp]") {
  TempDir dir;
  write_file(dir / "in.txt", "w1\r\nw2\nw3\r\n\r\nlast\r");
  auto received = [&](std::vector<std::string> flags) {
    UdpSocket peer;
    std::vector<std::string> argv{"udp-send"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.insert(argv.end(), {"127.0.0.1", port_str(peer.port())});
    auto r = run_nettool(argv, ProcessOptions().stdin_from(dir / "in.txt"));
    INFO("udp-send stderr: " << r.err);
    CHECK(r.exit_code == 0);
    std::vector<std::string> payloads;
    for (int i = 0; i < 5; ++i) {
      auto d = peer.recv(kIoTimeout);
      if (!d) break;
      payloads.push_back(d->payload);
    }
    CHECK_FALSE(peer.recv(Ms(200)));
    return payloads;
  };
  CHECK(received({}) == std::vector<std::string>{"w1\r\n", "w2\n", "w3\r\n", "\r\n", "last\r"});
  CHECK(received({"--keep-newline"}) == std::vector<std::string>{"w1\r\n", "w2\n", "w3\r\n", "\r\n", "last\r"});
  CHECK(received({"--no-keep-newline"}) == std::vector<std::string>{"w1", "w2", "w3", "", "last\r"});
}

TEST_CASE("udp-broadcast keeps each line's newline by default and --no-keep-newline strips it", "[udp]") {
  TempDir dir;
  write_file(dir / "in.txt", "b1\nb2\r\n");
  for (bool keep : {true, false}) {
    UdpSocket peer;
    // A unicast --address (with a warning) keeps the test's traffic on 127.0.0.1.
    std::vector<std::string> argv{"udp-broadcast", "--address", "127.0.0.1", port_str(peer.port())};
    if (!keep) argv.insert(argv.begin() + 1, "--no-keep-newline");
    auto r = run_nettool(argv, ProcessOptions().stdin_from(dir / "in.txt"));
    INFO("udp-broadcast stderr: " << r.err);
    CHECK(r.exit_code == 0);
    auto d1 = peer.recv(kIoTimeout);
    auto d2 = peer.recv(kIoTimeout);
    REQUIRE(d1);
    REQUIRE(d2);
    CHECK(d1->payload == (keep ? "b1\n" : "b1"));
    CHECK(d2->payload == (keep ? "b2\r\n" : "b2"));
  }
}

TEST_CASE("udp-send --chunk 1400: 1 MiB of random bytes arrive intact in udp-listen's output file", "[udp]") {
  constexpr size_t kTotal = 1 * MiB;
  constexpr size_t kChunk = 1400;
  constexpr size_t kDatagrams = (kTotal + kChunk - 1) / kChunk;  // 749, the last one 1376 bytes
  TempDir dir;
  write_random_file(dir / "in.bin", kTotal, 42);
  auto l = start_listener({"udp-listen", "--count", std::to_string(kDatagrams), "127.0.0.1", "0"},
                          ProcessOptions().stdout_to(dir / "out.bin"));
  std::vector<std::string> send{"udp-send", "--chunk", std::to_string(kChunk), "127.0.0.1", port_str(l.port)};
  // udp-listen asks for a 4 MiB receive buffer; the kernel caps it at
  // net.core.rmem_max. Below that a 1 MiB burst can overflow it, so pace.
  if (rmem_max() < static_cast<long>(4 * MiB)) {
    WARN("net.core.rmem_max is " << rmem_max() << " (< 4 MiB): pacing with --interval 1ms");
    send.insert(send.begin() + 1, {"--interval", "1ms"});
  }
  auto r = run_nettool(send, ProcessOptions().stdin_from(dir / "in.bin"));
  INFO("udp-send stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  INFO("udp-listen stderr: " << l.proc.stderr_text());
  // --count 749 only ends when every chunk (each one datagram) has arrived.
  REQUIRE(l.proc.wait(kIoTimeout) == 0);
  CHECK(fs::file_size(dir / "out.bin") == kTotal);
  CHECK(sha256_file(dir / "out.bin") == sha256_file(dir / "in.bin"));
}

// Every datagram of a bounded burst arrives, exactly once and in order (on
// loopback one socket pair keeps the order): udp-listen --count N ends only
// when the N-th has come, and its output is compared whole.
TEST_CASE("udp-send --count bursts: udp-listen receives every datagram exactly once, in order", "[udp]") {
  TempDir dir;
  auto paced = [](std::vector<std::string> args) {
    // udp-listen asks for a 4 MiB receive buffer; the kernel caps it at
    // net.core.rmem_max. Below that a burst can overflow it, so pace.
    if (rmem_max() < static_cast<long>(4 * MiB)) {
      WARN("net.core.rmem_max is " << rmem_max() << " (< 4 MiB): pacing with --interval 1ms");
      args.insert(args.begin() + 1, {"--interval", "1ms"});
    }
    return args;
  };

  SECTION("1,000 numbered lines, --count 3: 3,000 datagrams") {
    std::string lines;
    for (int i = 0; i < 1000; ++i) lines += "datagram " + std::to_string(i) + "\n";
    write_file(dir / "in.txt", lines);
    auto l = start_listener({"udp-listen", "--count", "3000", "--idle-timeout", "10s", "127.0.0.1", "0"},
                            ProcessOptions().stdout_to(dir / "out.txt"));
    auto r = run_nettool(paced({"udp-send", "--count", "3", "127.0.0.1", port_str(l.port)}),
                         ProcessOptions().stdin_from(dir / "in.txt"));
    INFO("udp-send stderr: " << r.err);
    REQUIRE(r.exit_code == 0);
    INFO("udp-listen stderr: " << l.proc.stderr_text());
    REQUIRE(l.proc.wait(kRunTimeout) == 0);
    std::string out = read_file(dir / "out.txt");
    CHECK(split_lines(out).size() == 3000);
    CHECK(out == lines + lines + lines);
  }

  SECTION("--chunk 64 of 128 KiB (several reads of stdin), --count 2: 4,096 datagrams") {
    constexpr size_t kTotal = 128 * KiB;
    write_random_file(dir / "in.bin", kTotal, 99);
    auto l = start_listener({"udp-listen", "-S", "--count", "4096", "--idle-timeout", "10s", "127.0.0.1", "0"},
                            ProcessOptions().stdout_to(dir / "out.txt"));
    auto r = run_nettool(paced({"udp-send", "--chunk", "64", "--count", "2", "127.0.0.1", port_str(l.port)}),
                         ProcessOptions().stdin_from(dir / "in.bin"));
    INFO("udp-send stderr: " << r.err);
    REQUIRE(r.exit_code == 0);
    INFO("udp-listen stderr: " << l.proc.stderr_text());
    REQUIRE(l.proc.wait(kRunTimeout) == 0);
    // -S: "ADDR:PORT " before each datagram and a newline after it unless it
    // ends with one, so each datagram (binary, 64 bytes) is found in turn.
    const std::string in = read_file(dir / "in.bin");
    const std::string out = read_file(dir / "out.txt");
    const std::string prefix = out.substr(0, out.find(' ') + 1);
    REQUIRE(prefix.rfind("127.0.0.1:", 0) == 0);
    size_t at = 0;
    for (size_t i = 0; i < 4096; ++i) {
      INFO("datagram " << i);
      const std::string_view sent = std::string_view(in).substr((i % 2048) * 64, 64);
      REQUIRE(out.compare(at, prefix.size(), prefix) == 0);
      REQUIRE(out.compare(at + prefix.size(), 64, sent) == 0);
      at += prefix.size() + 64;
      if (sent.back() != '\n') REQUIRE(out[at++] == '\n');
    }
    CHECK(at == out.size());
  }
}

TEST_CASE("udp-send --chunk cuts datagrams of exactly that size", "[udp]") {
  UdpSocket peer;
  TempDir dir;
  write_file(dir / "in.bin", random_bytes(2500, 7));
  auto r = run_nettool({"udp-send", "--chunk", "1000", "127.0.0.1", port_str(peer.port())},
                       ProcessOptions().stdin_from(dir / "in.bin"));
  REQUIRE(r.exit_code == 0);
  std::vector<size_t> sizes;
  std::string all;
  while (auto d = peer.recv(Ms(1000))) {
    sizes.push_back(d->payload.size());
    all += d->payload;
  }
  CHECK(sizes == std::vector<size_t>{1000, 1000, 500});
  CHECK(all == random_bytes(2500, 7));
}

TEST_CASE("udp over IPv6: udp-send to udp-listen on ::1", "[udp][ipv6]") {
  if (!ipv6_loopback_available()) {
    WARN("skipped: IPv6 loopback (::1) is not available here");
    return;
  }
  auto l = start_listener({"udp-listen", "-S", "--count", "2", "::1", "0"});
  CHECK(l.address == "[::1]");
  auto r = run_nettool({"udp-send", "-M", "six", "-M", "over ipv6", "::1", port_str(l.port)});
  INFO("udp-send stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE(l.proc.wait(kIoTimeout) == 0);
  auto lines = split_lines(l.proc.stdout_text());
  INFO("udp-listen stdout: " << l.proc.stdout_text());
  REQUIRE(lines.size() == 2);
  std::regex v6(R"(^\[::1\]:\d+ (.*)$)");
  std::smatch m;
  REQUIRE(std::regex_match(lines[0], m, v6));
  CHECK(m[1] == "six");
  REQUIRE(std::regex_match(lines[1], m, v6));
  CHECK(m[1] == "over ipv6");
}

TEST_CASE("udp-listen --echo round trip: udp-send --wait prints every echoed datagram", "[udp]") {
  // --count 3: the listener ends right after the third datagram; its echo
  // must still go out (a send queued behind the previous one is not dropped).
  auto l = start_listener({"udp-listen", "--echo", "--count", "3", "127.0.0.1", "0"});
  TempDir dir;
  write_file(dir / "in.txt", "ping-1\nping-2\nping-3\n");
  auto r = run_nettool({"udp-send", "--wait", "500ms", "127.0.0.1", port_str(l.port)},
                       ProcessOptions().stdin_from(dir / "in.txt"));
  INFO("udp-send stderr: " << r.err);
  INFO("udp-listen stderr: " << l.proc.stderr_text());
  CHECK(r.exit_code == 0);
  CHECK(r.out == "ping-1\nping-2\nping-3\n");
  CHECK(l.proc.wait(kIoTimeout) == 0);
  CHECK(l.proc.stdout_text() == "ping-1\nping-2\nping-3\n");
}

TEST_CASE("udp-send --wait prints replies from a peer until the quiet period passes, restarting it on each reply", "[udp]") {
  UdpSocket peer;
  std::string asked;
  // Replies at ~0, ~300 and ~600 ms: the third comes after the first 500 ms
  // --wait would have ended, so it is printed only if each reply restarts it.
  std::thread responder([&] {
    auto q = peer.recv(kIoTimeout);
    if (!q) return;
    asked = q->payload;
    peer.reply(*q, "reply-1;");
    std::this_thread::sleep_for(Ms(300));
    peer.reply(*q, "reply-2;");
    std::this_thread::sleep_for(Ms(300));
    peer.reply(*q, "reply-3;");
  });
  auto started = Clock::now();
  auto r = run_nettool({"udp-send", "-M", "question", "--wait", "500ms", "127.0.0.1", port_str(peer.port())});
  auto took = std::chrono::duration_cast<Ms>(Clock::now() - started);
  responder.join();
  INFO("udp-send stderr: " << r.err);
  CHECK(asked == "question");
  CHECK(r.exit_code == 0);
  CHECK(r.out == "reply-1;reply-2;reply-3;");
  CHECK(took >= Ms(1000));  // 600 ms of replies, then 500 ms of quiet
}

// nc -u users type -w for "wait for replies"; -W, documented first, still works.
TEST_CASE("udp-send -w (nc's spelling of --wait) and -W print the reply of a loopback echo peer", "[udp][cli]") {
  const std::vector<std::vector<std::string>> spellings{{"-w", "1s"}, {"-w1s"}, {"-W", "1s"}, {"-vW1s"}, {"-vw", "1s"}};
  auto l = start_listener({"udp-listen", "--echo", "--count", std::to_string(spellings.size()), "127.0.0.1", "0"});
  for (const auto& wait : spellings) {
    INFO("udp-send " << wait[0]);
    std::vector<std::string> argv{"udp-send", "-M", "ping " + wait[0]};
    argv.insert(argv.end(), wait.begin(), wait.end());
    argv.insert(argv.end(), {"127.0.0.1", port_str(l.port)});
    auto r = run_nettool(argv);
    INFO("udp-send stderr: " << r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out == "ping " + wait[0]);  // the echo, printed because udp-send waited for it
  }
  INFO("udp-listen stderr: " << l.proc.stderr_text());
  CHECK(l.proc.wait(kIoTimeout) == 0);
}

TEST_CASE("udp-send counts each reply once: libuv's 'nothing more to read' is no empty datagram", "[udp]") {
  auto l = start_listener({"udp-listen", "--echo", "--count", "2", "127.0.0.1", "0"});
  TempDir dir;
  auto r = run_nettool({"udp-send", "-v", "-M", "hello", "-M", "two", "--hex-dump", (dir / "dump.txt").string(), "-w",
                        "1s", "127.0.0.1", port_str(l.port)});
  INFO("udp-send stderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "hellotwo");
  CHECK(r.err.find("2 datagram(s) sent to 127.0.0.1:" + port_str(l.port) + ", 2 repl(ies)") != std::string::npos);
  const std::string dump = read_file(dir / "dump.txt");
  INFO("dump: " << dump);
  CHECK(count_occurrences(dump, "received") == 2);
  CHECK(dump.find("received 0 bytes") == std::string::npos);
}

TEST_CASE("udp-send: a reply that cannot be written to stdout is an error, exit 1", "[udp]") {
  auto l = start_listener({"udp-listen", "--echo", "127.0.0.1", "0"});
  // stdout is /dev/full, set by a shell that then becomes nettool (the
  // harness reads a stdout file back, and /dev/full reads without end).
  Process p({"sh", "-c", "exec \"$@\" > /dev/full", "sh", nettool_path().string(), "udp-send", "-M", "hello", "-w", "1s",
             "127.0.0.1", port_str(l.port)},
            ProcessOptions().stdout_null());
  const int code = p.wait(kIoTimeout);
  INFO("udp-send stderr: " << p.stderr_text());
  CHECK(code == 1);
  CHECK(p.stderr_text().find("writing stdout: no space left on device") != std::string::npos);
}

TEST_CASE("udp-send --wait to a closed port reports 'connection refused' and exits 1", "[udp]") {
  uint16_t port = free_udp_port();  // bound a moment ago, now nobody's: ICMP port unreachable
  auto r = run_nettool({"udp-send", "-M", "anyone?", "--wait", "300ms", "127.0.0.1", port_str(port)});
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("refused") != std::string::npos);
  CHECK(r.out.empty());
}

TEST_CASE("udp-send exits 1 when a datagram is refused even though earlier ones were answered", "[udp]") {
  // A failed datagram is a failed run, as in the README: a script must not
  // take "some got through" for "all got through".
  std::optional<UdpSocket> peer(std::in_place);
  const uint16_t port = peer->port();
  Process p(nettool_argv({"udp-send", "--wait", "1s", "127.0.0.1", port_str(port)}), ProcessOptions().stdin_pipe());
  REQUIRE(p.write_stdin("one\n"));
  auto got = peer->recv(kIoTimeout);
  REQUIRE(got);
  CHECK(got->payload == "one\n");
  REQUIRE(peer->reply(*got, "pong"));
  REQUIRE(p.wait_stdout_contains("pong", kIoTimeout));
  peer.reset();  // nothing listens there now: the next datagram draws an ICMP port unreachable
  REQUIRE(p.write_stdin("two\n"));
  p.close_stdin();
  int rc = p.wait(kRunTimeout);
  INFO("stderr: " << p.stderr_text());
  // (Only if another test took the freed port in between would it not be refused.)
  REQUIRE(p.stderr_text().find("connection refused") != std::string::npos);
  CHECK(rc == 1);
  CHECK(p.stdout_text() == "pong");
}

TEST_CASE("udp-send refuses a 70000-byte datagram, naming its size, and sends nothing of it", "[udp]") {
  auto l = start_listener({"udp-listen", "--count", "1", "127.0.0.1", "0"});
  TempDir dir;
  write_file(dir / "big.txt", std::string(70000, 'x') + "\n");
  auto r = run_nettool({"udp-send", "127.0.0.1", port_str(l.port)}, ProcessOptions().stdin_from(dir / "big.txt"));
  INFO("udp-send stderr: " << r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("70001") != std::string::npos);  // the line and its newline, which the datagram would carry
  CHECK(r.err.find("65507") != std::string::npos);  // the limit it exceeds
  auto stripped = run_nettool({"udp-send", "--no-keep-newline", "127.0.0.1", port_str(l.port)},
                              ProcessOptions().stdin_from(dir / "big.txt"));
  INFO("udp-send --no-keep-newline stderr: " << stripped.err);
  CHECK(stripped.exit_code == 1);
  CHECK(stripped.err.find("a datagram of 70000 bytes") != std::string::npos);
  // Same for -M.
  // A --message is an option, so one too large for the family is a usage error.
  auto m = run_nettool({"udp-send", "-M", std::string(65508, 'y'), "127.0.0.1", port_str(l.port)});
  INFO("udp-send -M stderr: " << m.err);
  CHECK(m.exit_code == 2);
  CHECK(m.err.find("65508") != std::string::npos);

  // The listener got nothing: the first datagram it sees is the largest one
  // that is allowed (65,507 bytes: a line of 65,506 and its newline), sent
  // afterwards, intact.
  std::string largest = random_bytes(65506, 3);
  for (char& c : largest) c = c == '\n' ? 'n' : c;  // one line
  largest += '\n';
  write_file(dir / "largest.txt", largest);
  auto ok = run_nettool({"udp-send", "127.0.0.1", port_str(l.port)}, ProcessOptions().stdin_from(dir / "largest.txt"));
  INFO("udp-send (65507 bytes) stderr: " << ok.err);
  CHECK(ok.exit_code == 0);
  REQUIRE(l.proc.wait(kIoTimeout) == 0);
  std::string got = l.proc.stdout_text();
  CHECK(got.size() == 65507);
  CHECK(got == largest);
}

TEST_CASE("udp-send and udp-broadcast refuse a --chunk the destination cannot carry, before sending anything", "[udp]") {
  UdpSocket peer;
  TempDir dir;
  write_file(dir / "in.bin", random_bytes(200 * KiB, 5));
  const auto stdin_file = ProcessOptions().stdin_from(dir / "in.bin");

  // 65,520 bytes fit an IPv6 datagram but not an IPv4 one: only the resolved
  // address tells, and it is checked before the first datagram.
  auto v4 = run_nettool({"udp-send", "--chunk", "65520", "127.0.0.1", port_str(peer.port())}, stdin_file);
  INFO("udp-send --chunk 65520 stderr: " << v4.err);
  CHECK(v4.exit_code == 2);
  CHECK_THAT(v4.err, Catch::Contains("--chunk 65520") && Catch::Contains("65507") && Catch::Contains("IPv4"));
  CHECK_FALSE(peer.recv(Ms(300)).has_value());

  auto zero = run_nettool({"udp-send", "--chunk", "0", "127.0.0.1", port_str(peer.port())}, stdin_file);
  INFO("udp-send --chunk 0 stderr: " << zero.err);
  CHECK(zero.exit_code == 2);
  CHECK_THAT(zero.err, Catch::Contains("--chunk must be at least 1 byte"));

  // udp-broadcast follows the same rule (it used to take --chunk 0 as "lines").
  auto b0 = run_nettool({"udp-broadcast", "--address", "127.255.255.255", "--chunk", "0", port_str(peer.port())},
                        stdin_file);
  INFO("udp-broadcast --chunk 0 stderr: " << b0.err);
  CHECK(b0.exit_code == 2);
  CHECK_THAT(b0.err, Catch::Contains("--chunk must be at least 1 byte"));
  auto big = run_nettool({"udp-broadcast", "--address", "127.255.255.255", "--chunk", "65520", port_str(peer.port())},
                         stdin_file);
  INFO("udp-broadcast --chunk 65520 stderr: " << big.err);
  CHECK(big.exit_code == 2);
  CHECK_THAT(big.err, Catch::Contains("65507"));
  CHECK_FALSE(peer.recv(Ms(300)).has_value());

  if (!ipv6_loopback_available()) {
    WARN("IPv6 half skipped: IPv6 loopback (::1) is not available here");
    return;
  }
  UdpSocket peer6("::1");
  auto v6 = run_nettool({"udp-send", "--chunk", "65520", "::1", port_str(peer6.port())},
                        ProcessOptions().stdin_from(dir / "in.bin"));
  INFO("udp-send --chunk 65520 to ::1 stderr: " << v6.err);
  CHECK(v6.exit_code == 0);
  auto first = peer6.recv(Ms(2000));
  REQUIRE(first.has_value());
  CHECK(first->payload.size() == 65520);
}

TEST_CASE("udp-listen --hex prints a hex dump per datagram (with -S, a source line first)", "[udp]") {
  auto l = start_listener({"udp-listen", "--hex", "--count", "2", "127.0.0.1", "0"});
  UdpSocket s;
  REQUIRE(s.send_to("127.0.0.1", l.port, std::string("Hello, hex world!!\x01\xff", 20)));
  REQUIRE(l.proc.wait_stdout_contains("|"));
  REQUIRE(s.send_to("127.0.0.1", l.port, ""));
  REQUIRE(l.proc.wait(kIoTimeout) == 0);
  CHECK(l.proc.stdout_text() ==
        "00000000  48 65 6c 6c 6f 2c 20 68  65 78 20 77 6f 72 6c 64  |Hello, hex world|\n"
        "00000010  21 21 01 ff                                       |!!..|\n"
        "(empty datagram)\n");

  auto l2 = start_listener({"udp-listen", "-x", "-S", "--count", "1", "127.0.0.1", "0"});
  REQUIRE(s.send_to("127.0.0.1", l2.port, "ab"));
  REQUIRE(l2.proc.wait(kIoTimeout) == 0);
  auto lines = split_lines(l2.proc.stdout_text());
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].rfind("127.0.0.1:" + port_str(s.port()), 0) == 0);
  CHECK(lines[1] == "00000000  61 62                                             |ab|");
}

TEST_CASE("udp-listen --reply-to-last sends what is written to its stdin to the last sender", "[udp]") {
  auto l = start_listener({"udp-listen", "--reply-to-last", "--count", "3", "127.0.0.1", "0"},
                          ProcessOptions().stdin_pipe());
  UdpSocket a, b;
  REQUIRE(a.send_to("127.0.0.1", l.port, "hello from a;"));
  REQUIRE(l.proc.wait_stdout_contains("hello from a;"));
  REQUIRE(l.proc.write_stdin("answer for a\n"));
  auto got = a.recv(kIoTimeout);
  REQUIRE(got);
  CHECK(got->payload == "answer for a\n");
  CHECK(got->from_port == l.port);

  // Now b spoke last: stdin goes to b, and a gets nothing more.
  REQUIRE(b.send_to("127.0.0.1", l.port, "hello from b;"));
  REQUIRE(l.proc.wait_stdout_contains("hello from b;"));
  REQUIRE(l.proc.write_stdin("answer for b\n"));
  auto got_b = b.recv(kIoTimeout);
  REQUIRE(got_b);
  CHECK(got_b->payload == "answer for b\n");
  CHECK_FALSE(a.recv(Ms(200)));

  REQUIRE(a.send_to("127.0.0.1", l.port, "bye;"));  // the third: --count ends it
  CHECK(l.proc.wait(kIoTimeout) == 0);
  CHECK(l.proc.stdout_text() == "hello from a;hello from b;bye;");
}

TEST_CASE("udp-listen --idle-timeout exits 0 after a quiet period that each datagram restarts", "[udp]") {
  auto l = start_listener({"udp-listen", "--idle-timeout", "700ms", "127.0.0.1", "0"});
  UdpSocket s;
  auto first = Clock::now();
  auto last = first;
  // A datagram every 150 ms for 600 ms keeps it alive past its 700 ms timeout.
  for (int i = 0; i < 5; ++i) {
    if (i > 0) std::this_thread::sleep_for(Ms(150));
    REQUIRE(l.proc.running());
    last = Clock::now();
    REQUIRE(s.send_to("127.0.0.1", l.port, "tick;"));
  }
  int rc = l.proc.wait(kIoTimeout);
  auto ended = Clock::now();
  INFO("udp-listen stderr: " << l.proc.stderr_text());
  CHECK(rc == 0);
  CHECK(ended - first >= Ms(600 + 700 - 50));  // alive well past one timeout from the start
  CHECK(ended - last >= Ms(700 - 50));         // and quiet for the timeout after the last tick
  CHECK(l.proc.stdout_text() == "tick;tick;tick;tick;tick;");
}

TEST_CASE("udp-listen on port 0 logs 'listening on ADDR:PORT' with the port it really got", "[udp]") {
  auto l = start_listener({"udp-listen", "--count", "1", "127.0.0.1", "0"});
  CHECK(l.address == "127.0.0.1");
  REQUIRE(l.port != 0);
  UdpSocket s;
  REQUIRE(s.send_to("127.0.0.1", l.port, "found you"));
  REQUIRE(l.proc.wait(kIoTimeout) == 0);
  CHECK(l.proc.stdout_text() == "found you");

  // Without HOST: all addresses; 127.0.0.1 reaches it too.
  auto any = start_listener({"udp-listen", "--count", "1", "0"});
  REQUIRE(any.port != 0);
  CHECK((any.address == "[::]" || any.address == "0.0.0.0"));
  REQUIRE(s.send_to("127.0.0.1", any.port, "any address"));
  REQUIRE(any.proc.wait(kIoTimeout) == 0);
  CHECK(any.proc.stdout_text() == "any address");
}

// ======================================================================= broadcast / multicast

TEST_CASE("udp-broadcast between two network namespaces: subnet address, 255.255.255.255 via --interface, --interface alone",
          "[udp][broadcast][netns]") {
  NetnsPair ns;
  if (!ns.ok()) {
    WARN("skipped: cannot create network namespaces: " << ns.why());
    return;
  }
  const std::regex from_a(R"(^10\.213\.0\.1:\d+ (.*)\n$)");
  auto expect_broadcast = [&](std::vector<std::string> sender_args, const std::string& payload) {
    auto l = start_listener_in(ns, ns.b(), {"udp-listen", "-4", "-S", "--count", "1", "0.0.0.0", port_str(kNsPort)});
    sender_args.insert(sender_args.begin(), "udp-broadcast");
    sender_args.insert(sender_args.end(), {"-M", payload, port_str(kNsPort)});
    auto r = ns.run_in(ns.a(), sender_args);
    INFO("udp-broadcast " << payload << " stderr: " << r.err);
    INFO("udp-listen stderr: " << l.stderr_text());
    CHECK(r.exit_code == 0);
    CHECK(l.wait(Ms(5000)) == 0);
    std::string out = l.stdout_text();
    std::smatch m;
    CHECK(std::regex_match(out, m, from_a));
    CHECK(m.size() == 2);
    if (m.size() == 2) CHECK(m[1] == payload);
  };
  SECTION("--address 10.213.0.255") { expect_broadcast({"--address", "10.213.0.255"}, "subnet broadcast"); }
  SECTION("--interface VETH --address 255.255.255.255 (no route: only SO_BINDTODEVICE gets it out)") {
    expect_broadcast({"--interface", ns.veth_a(), "--address", "255.255.255.255"}, "limited broadcast");
  }
  SECTION("--interface VETH alone: the interface's subnet broadcast") {
    expect_broadcast({"--interface", ns.veth_a()}, "interface broadcast");
  }
  SECTION("255.255.255.255 without --interface has no route there: exit 1 with a hint") {
    auto r = ns.run_in(ns.a(), {"udp-broadcast", "-M", "nowhere", port_str(kNsPort)});
    INFO("stderr: " << r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("--interface") != std::string::npos);
  }
}

TEST_CASE("udp multicast in network namespaces: --join receives --multicast (--loop on the same host, over the veth)",
          "[udp][multicast][netns]") {
  NetnsPair ns;
  if (!ns.ok()) {
    WARN("skipped: cannot create network namespaces: " << ns.why());
    return;
  }
  SECTION("same namespace with --loop") {
    auto l = start_listener_in(ns, ns.a(), {"udp-listen", "--join", "239.213.0.1", "--count", "1", port_str(kNsPort)});
    auto r = ns.run_in(ns.a(), {"udp-broadcast", "--multicast", "239.213.0.1", "--loop", "-M", "looped", port_str(kNsPort)});
    INFO("udp-broadcast stderr: " << r.err);
    INFO("udp-listen stderr: " << l.stderr_text());
    CHECK(r.exit_code == 0);
    CHECK(l.wait(Ms(5000)) == 0);
    CHECK(l.stdout_text() == "looped");
  }
  SECTION("same namespace without --loop: nothing comes back") {
    auto l = start_listener_in(ns, ns.a(),
                               {"udp-listen", "--join", "239.213.0.3", "--idle-timeout", "700ms", port_str(kNsPort)});
    auto r = ns.run_in(ns.a(), {"udp-broadcast", "--multicast", "239.213.0.3", "-M", "not looped", port_str(kNsPort)});
    INFO("udp-broadcast stderr: " << r.err);
    CHECK(r.exit_code == 0);
    CHECK(l.wait(Ms(5000)) == 0);  // by --idle-timeout
    CHECK(l.stdout_text().empty());
  }
  SECTION("across the veth, --interface on both sides") {
    auto l = start_listener_in(ns, ns.b(),
                               {"udp-listen", "-S", "--join", "239.213.0.2", "--interface", ns.veth_b(), "--count", "1",
                                port_str(kNsPort)});
    auto r = ns.run_in(ns.a(), {"udp-broadcast", "--multicast", "239.213.0.2", "--interface", ns.veth_a(), "-M",
                                "over the wire", port_str(kNsPort)});
    INFO("udp-broadcast stderr: " << r.err);
    INFO("udp-listen stderr: " << l.stderr_text());
    CHECK(r.exit_code == 0);
    CHECK(l.wait(Ms(5000)) == 0);
    std::string out = l.stdout_text();
    CHECK(std::regex_match(out, std::regex(R"(^10\.213\.0\.1:\d+ over the wire\n$)")));
  }
}

TEST_CASE("udp-listen: --join and --interface mistakes are usage errors that say what is wrong", "[udp][multicast][options]") {
  // Each once started and never received a datagram, or failed with only
  // "invalid argument".
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
      {{"--join", "239.1.1.1", "127.0.0.1", "0"}, "HOST 127.0.0.1 with --join: a socket bound to a unicast address"},
      {{"-I", "lo", "127.0.0.1", "0"}, "--interface is for --join"},
      {{"--join", "127.0.0.1", "0"}, "--join 127.0.0.1: not a multicast group"},
      {{"--join", "notanaddr", "0"}, "--join notanaddr: not an IP address"},
      {{"--join", "239.1.1.1", "-I", "nosuchif", "0"}, "--interface nosuchif: no such interface"},
      {{"-4", "--join", "ff02::1", "0"}, "--join ff02::1: an IPv6 group with -4"},
      {{"--join", "ff02::1", "-I", "127.0.0.1", "0"}, "--interface 127.0.0.1 is an IPv4 address, and group ff02::1 is IPv6"},
  };
  for (const auto& [args, message] : cases) {
    std::vector<std::string> argv{"udp-listen"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_nettool(argv, {}, kUsageTimeout);
    INFO(message << "\nstderr: " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(message) != std::string::npos);
  }
}

TEST_CASE("udp-broadcast: --loop without --multicast is a usage error, not silently ignored", "[udp][broadcast][options]") {
  auto r = run_nettool({"udp-broadcast", "--loop", "-a", "127.255.255.255", "-M", "x", "9"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--loop is for --multicast") != std::string::npos);
  // An interface that does not exist is named the same way for both families.
  for (const char* group : {"239.1.1.1", "ff02::1"}) {
    r = run_nettool({"udp-broadcast", "-g", group, "-I", "nosuchif", "-M", "x", "9"});
    INFO(group << ": " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--interface nosuchif: no such interface on this host") != std::string::npos);
  }
}

TEST_CASE("udp multicast over IPv6 in network namespaces: --interface picks the link on both sides",
          "[udp][multicast][netns]") {
  // udp-broadcast once set the interface's IPv4 address on its IPv6 socket
  // (which no IPv6 datagram heeds), and udp-listen --join ff02::... -I NAME
  // failed with "invalid argument".
  NetnsPair ns;
  if (!ns.ok()) {
    WARN("skipped: cannot create network namespaces: " << ns.why());
    return;
  }
  REQUIRE(ns.add_ipv6_multicast_decoy(ns.a()));
  REQUIRE(eventually([&] { return ns.ipv6_link_local_ready(ns.a(), ns.veth_a()) &&
                                  ns.ipv6_link_local_ready(ns.b(), ns.veth_b()); },
                     Ms(10'000)));
  auto l = start_listener_in(ns, ns.b(),
                             {"udp-listen", "-6", "-S", "--join", "ff02::213", "--interface", ns.veth_b(), "--count", "1",
                              port_str(kNsPort)});
  auto r = ns.run_in(ns.a(), {"udp-broadcast", "--multicast", "ff02::213", "--interface", ns.veth_a(), "-M",
                              "v6 over the wire", port_str(kNsPort)});
  INFO("udp-broadcast stderr: " << r.err);
  INFO("udp-listen stderr: " << l.stderr_text());
  CHECK(r.exit_code == 0);
  CHECK(l.wait(Ms(5000)) == 0);
  CHECK(std::regex_match(l.stdout_text(), std::regex(R"(^\[fe80::[0-9a-f:]+\]:\d+ v6 over the wire\n$)")));
}

TEST_CASE("udp multicast on loopback: udp-listen --join -I lo receives udp-broadcast --multicast -I lo --loop",
          "[udp][multicast]") {
  // A group per process, so parallel runs never see each other's datagrams.
  std::string group = "239.214." + std::to_string((::getpid() >> 8) & 0xff) + "." + std::to_string(::getpid() & 0xff);
  auto l = start_listener({"udp-listen", "-4", "--join", group, "-I", "lo", "--count", "1", "0.0.0.0", "0"});
  auto r = run_nettool({"udp-broadcast", "--multicast", group, "-I", "lo", "--loop", "-M", "multicast on lo",
                        port_str(l.port)});
  INFO("udp-broadcast stderr: " << r.err);
  INFO("udp-listen stderr: " << l.proc.stderr_text());
  CHECK(r.exit_code == 0);
  REQUIRE(l.proc.wait(Ms(5000)) == 0);
  CHECK(l.proc.stdout_text() == "multicast on lo");
}

// ======================================================================= interop

TEST_CASE("udp interop: udp-send --chunk into socat UDP-RECV, data intact", "[udp][interop]") {
  if (!have("socat")) {
    WARN("skipped: socat is not installed");
    return;
  }
  constexpr size_t kTotal = 100 * KiB;
  TempDir dir;
  write_random_file(dir / "in.bin", kTotal, 11);
  std::optional<Process> socat;
  uint16_t port = 0;
  for (int attempt = 0; attempt < 5 && !socat; ++attempt) {  // the port may be taken meanwhile
    port = free_udp_port();
    Process p({"socat", "-u", "UDP-RECV:" + port_str(port) + ",bind=127.0.0.1", "-"},
              ProcessOptions().stdout_to(dir / "out.bin"));
    if (eventually([&] { return udp_port_bound(port) || !p.running(); }, kStartTimeout) && p.running())
      socat.emplace(std::move(p));
  }
  REQUIRE(socat);
  auto r = run_nettool({"udp-send", "--chunk", "1400", "127.0.0.1", port_str(port)},
                       ProcessOptions().stdin_from(dir / "in.bin"));
  INFO("udp-send stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(eventually([&] { return fs::file_size(dir / "out.bin") >= kTotal; }, kIoTimeout));
  CHECK(sha256_file(dir / "out.bin") == sha256_file(dir / "in.bin"));
}

TEST_CASE("udp interop: udp-send lines into nc -u -l", "[udp][interop]") {
  if (!have("nc")) {
    WARN("skipped: nc is not installed");
    return;
  }
  TempDir dir;
  std::optional<Process> nc;
  uint16_t port = 0;
  for (int attempt = 0; attempt < 5 && !nc; ++attempt) {
    port = free_udp_port();
    Process p({"nc", "-d", "-u", "-l", "127.0.0.1", port_str(port)}, ProcessOptions().stdout_to(dir / "out.txt"));
    if (eventually([&] { return udp_port_bound(port) || !p.running(); }, kStartTimeout) && p.running())
      nc.emplace(std::move(p));
  }
  REQUIRE(nc);
  write_file(dir / "in.txt", "alpha\nbeta\ngamma\n");
  auto r = run_nettool({"udp-send", "127.0.0.1", port_str(port)}, ProcessOptions().stdin_from(dir / "in.txt"));
  INFO("udp-send stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  // The lines as they were: each datagram carries its newline, as nc -u's own do.
  CHECK(eventually([&] { return read_file(dir / "out.txt") == "alpha\nbeta\ngamma\n"; }, kIoTimeout));
  CHECK(read_file(dir / "out.txt") == "alpha\nbeta\ngamma\n");
}

TEST_CASE("udp interop: socat -b 1400 UDP-SENDTO into udp-listen, data intact", "[udp][interop]") {
  if (!have("socat")) {
    WARN("skipped: socat is not installed");
    return;
  }
  constexpr size_t kTotal = 100 * KiB;
  constexpr size_t kDatagrams = (kTotal + 1399) / 1400;  // socat sends one datagram per 1400-byte read
  TempDir dir;
  write_random_file(dir / "in.bin", kTotal, 12);
  auto l = start_listener({"udp-listen", "--count", std::to_string(kDatagrams), "127.0.0.1", "0"},
                          ProcessOptions().stdout_to(dir / "out.bin"));
  auto r = run_cmd({"socat", "-u", "-b", "1400", "OPEN:" + (dir / "in.bin").string(),
                    "UDP-SENDTO:127.0.0.1:" + port_str(l.port)});
  INFO("socat stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  INFO("udp-listen stderr: " << l.proc.stderr_text());
  REQUIRE(l.proc.wait(kIoTimeout) == 0);
  CHECK(sha256_file(dir / "out.bin") == sha256_file(dir / "in.bin"));
}

TEST_CASE("udp interop: nc -u into udp-listen -S", "[udp][interop]") {
  if (!have("nc")) {
    WARN("skipped: nc is not installed");
    return;
  }
  auto l = start_listener({"udp-listen", "-S", "--count", "1", "127.0.0.1", "0"});
  TempDir dir;
  write_file(dir / "in.txt", "hello from nc\n");
  // nc sends what each read of stdin returns as one datagram; -w1 ends it after EOF.
  auto r = run_cmd({"nc", "-u", "-w", "1", "127.0.0.1", port_str(l.port)}, ProcessOptions().stdin_from(dir / "in.txt"));
  INFO("nc stderr: " << r.err);
  INFO("udp-listen stderr: " << l.proc.stderr_text());
  REQUIRE(l.proc.wait(kIoTimeout) == 0);
  std::string out = l.proc.stdout_text();
  CHECK(std::regex_match(out, std::regex(R"(^127\.0\.0\.1:\d+ hello from nc\n$)")));
}

// ======================================================================= profiles

TEST_CASE("udp profile configs/udp-listen.yaml: shows the source and echoes (port overridden)", "[udp][profile]") {
  auto l = start_listener({"-c", (configs_dir() / "udp-listen.yaml").string(), "--port", "0", "--count", "1"});
  CHECK(l.address == "127.0.0.1");  // host from the profile
  UdpSocket s;
  REQUIRE(s.send_to("127.0.0.1", l.port, "marco"));
  auto echo = s.recv(kIoTimeout);
  REQUIRE(echo);
  CHECK(echo->payload == "marco");
  REQUIRE(l.proc.wait(kIoTimeout) == 0);
  CHECK(l.proc.stdout_text() == "127.0.0.1:" + port_str(s.port()) + " marco\n");
}

TEST_CASE("udp profile configs/udp-send.yaml: sends 'ping' and prints the reply (port overridden)", "[udp][profile]") {
  UdpSocket peer;
  std::string asked;
  std::thread responder([&] {
    if (auto q = peer.recv(kIoTimeout)) {
      asked = q->payload;
      peer.reply(*q, "pong");
    }
  });
  auto r = run_nettool({"-c", (configs_dir() / "udp-send.yaml").string(), "--port", port_str(peer.port())});
  responder.join();
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK(asked == "ping");
  CHECK(r.out == "pong");
}

TEST_CASE("udp profile configs/beacon.yaml: beacons to 127.255.255.255 reach a 0.0.0.0 listener", "[udp][profile]") {
  auto l = start_listener({"udp-listen", "-4", "-S", "--count", "2", "0.0.0.0", "0"});
  auto r = run_nettool({"-c", (configs_dir() / "beacon.yaml").string(), "--port", port_str(l.port), "--count", "2",
                        "--interval", "50ms"});
  INFO("udp-broadcast stderr: " << r.err);
  INFO("udp-listen stderr: " << l.proc.stderr_text());
  CHECK(r.exit_code == 0);
  REQUIRE(l.proc.wait(kIoTimeout) == 0);
  auto lines = split_lines(l.proc.stdout_text());
  REQUIRE(lines.size() == 2);
  for (const auto& line : lines) CHECK(std::regex_match(line, std::regex(R"(^127\.0\.0\.1:\d+ nettool beacon$)")));
}
