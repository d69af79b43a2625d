// The UDP servers against datagrams meant to hurt them, and their limits:
// a datagram spoofed to come from the server's own address (or the
// forwarder's target) must not start a loop; a unicast port is never shared;
// --reply-to-last cuts stdin into datagrams that fit; --count's buffering is
// bounded by a running total that counts empty lines too.
//
// Spoofing needs a raw socket: those tests run in a network namespace of
// their own (root and `ip` needed; skipped with a warning otherwise), where
// the raw socket is made by a thread that joins the namespace with setns(2).
// Every test name contains "udp"; every wait is bounded; every child is a
// harness Process, reaped on every path; the namespace is deleted by an RAII
// guard, also when a REQUIRE fails.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <chrono>
#include <cstring>
#include <sstream>
#include <thread>

#include "harness.h"
#include "udp_test_util.h"

using namespace e2e;

namespace {

std::string find_ip() {
  for (const char* p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"})
    if (::access(p, X_OK) == 0) return p;
  return {};
}

// One network namespace with only `lo` up. The destructor deletes it.
class Netns {
 public:
  Netns() {
    static std::atomic<int> counter{0};
    name_ = "nt-udps-" + std::to_string(::getpid()) + "x" + std::to_string(counter++);
    if (::geteuid() != 0) {
      why_ = "not running as root (network namespaces and raw sockets need it)";
      return;
    }
    ip_ = find_ip();
    if (ip_.empty()) {
      why_ = "no `ip` program (iproute2) found";
      return;
    }
    if (!step({ip_, "netns", "add", name_})) return;
    made_ = true;
    if (!step({ip_, "-n", name_, "link", "set", "lo", "up"})) return;
    ok_ = true;
  }
  ~Netns() {
    if (made_) {
      Process p({ip_, "netns", "del", name_});
      p.wait(Ms(10'000));
    }
  }
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;

  bool ok() const { return ok_; }
  const std::string& why() const { return why_; }

  std::vector<std::string> nettool_in(std::vector<std::string> args) const {
    std::vector<std::string> argv{ip_, "netns", "exec", name_, nettool_path().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  // Sends one IPv4 UDP datagram with any source, from inside the namespace
  // (a raw socket belongs to the namespace it was made in; setns changes only
  // the calling thread's). Returns an empty string or why it failed.
  std::string spoof(const std::string& src, uint16_t sport, const std::string& dst, uint16_t dport,
                    std::string_view payload) const {
    std::string error;
    std::thread t([&] {
      int ns = ::open(("/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
      if (ns < 0 || ::setns(ns, CLONE_NEWNET) != 0) {
        error = std::string("joining the namespace: ") + std::strerror(errno);
        if (ns >= 0) ::close(ns);
        return;
      }
      ::close(ns);
      int fd = ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);  // IP_HDRINCL implied
      if (fd < 0) {
        error = std::string("raw socket: ") + std::strerror(errno);
        return;
      }
      std::string packet(sizeof(iphdr) + sizeof(udphdr) + payload.size(), '\0');
      auto* ip = reinterpret_cast<iphdr*>(packet.data());
      auto* udp = reinterpret_cast<udphdr*>(packet.data() + sizeof(iphdr));
      ip->version = 4;
      ip->ihl = 5;
      ip->tot_len = htons(static_cast<uint16_t>(packet.size()));
      ip->ttl = 64;
      ip->protocol = IPPROTO_UDP;
      inet_pton(AF_INET, src.c_str(), &ip->saddr);
      inet_pton(AF_INET, dst.c_str(), &ip->daddr);
      udp->source = htons(sport);
      udp->dest = htons(dport);
      udp->len = htons(static_cast<uint16_t>(sizeof(udphdr) + payload.size()));
      udp->check = 0;  // none: allowed over IPv4
      std::memcpy(packet.data() + sizeof(iphdr) + sizeof(udphdr), payload.data(), payload.size());
      sockaddr_in to{};
      to.sin_family = AF_INET;
      to.sin_addr.s_addr = ip->daddr;
      if (::sendto(fd, packet.data(), packet.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0)
        error = std::string("sendto: ") + std::strerror(errno);
      ::close(fd);
    });
    t.join();
    return error;
  }

 private:
  bool step(std::vector<std::string> argv) {
    Process p(argv);
    int rc = p.wait(Ms(10'000));
    if (rc == 0) return true;
    why_ = "`" + argv[1] + " " + argv[2] + " ...` failed (exit " + std::to_string(rc) + "): " + p.stderr_text();
    return false;
  }

  std::string ip_, name_, why_;
  bool made_ = false, ok_ = false;
};

// A nettool server inside the namespace; waits for its "listening on" line.
Process start_in(const Netns& ns, std::vector<std::string> args, ProcessOptions options = {}) {
  Process p(ns.nettool_in(std::move(args)), std::move(options));
  if (!p.wait_stderr_contains("listening on"))
    throw std::runtime_error(p.describe() + ": no 'listening on' line; stderr:\n" + p.stderr_text());
  return p;
}

constexpr uint16_t kPort = 7777;  // fixed ports are fine inside a private namespace
constexpr uint16_t kTargetPort = 7778;
constexpr uint16_t kClientPort = 5555;  // nothing listens there: a real client that never reads

// A UDP port on 127.0.0.1 that was free a moment ago.
uint16_t free_udp_port() {
  UdpSocket probe;
  return probe.port();
}

}  // namespace

// ======================================================================= spoofed own address

TEST_CASE("udp-listen --echo prints a datagram spoofed from its own address but never echoes it to itself",
          "[udp][safety][netns]") {
  Netns ns;
  if (!ns.ok()) {
    WARN("skipped: " << ns.why());
    return;
  }
  // Bound to the address, and to the wildcard (where the datagram arrives as
  // ::ffff:127.0.0.1 on a dual-stack socket, and any local address is ours).
  for (std::vector<std::string> where : {std::vector<std::string>{"127.0.0.1"}, std::vector<std::string>{}}) {
    std::vector<std::string> args{"udp-listen", "--echo", "-S", "--count", "2"};
    args.insert(args.end(), where.begin(), where.end());
    args.push_back(std::to_string(kPort));
    Process l = start_in(ns, args);
    INFO("bound to " << (where.empty() ? "(all)" : where[0]) << "; stderr: " << l.stderr_text());
    REQUIRE(ns.spoof("127.0.0.1", kPort, "127.0.0.1", kPort, "spoofed;") == "");
    // A real datagram after it: once it is printed, the spoofed one has been
    // handled (one socket, in order), and its echo, if any, would be in too.
    REQUIRE(ns.spoof("127.0.0.1", kClientPort, "127.0.0.1", kPort, "real;") == "");
    CHECK(l.wait(kIoTimeout) == 0);  // --count 2: both count, an echo of ours would have been one of them
    // (On the dual-stack socket the sender shows as [::ffff:127.0.0.1].)
    std::string out = l.stdout_text();
    std::string host = where.empty() ? "[::ffff:127.0.0.1]" : "127.0.0.1";
    CHECK(count_occurrences(out, "spoofed;") == 1);
    CHECK(count_occurrences(out, host + ":" + std::to_string(kPort) + " spoofed;\n") == 1);
    CHECK(count_occurrences(out, host + ":" + std::to_string(kClientPort) + " real;\n") == 1);
    CHECK(l.stderr_text().find("1 datagram(s) from our own address printed but not answered") != std::string::npos);
  }
}

TEST_CASE("udp-listen --join prints what a neighbour sends from the shared group port but never answers it",
          "[udp][safety][multicast]") {
  // As an mDNS responder beside us: another socket on the group port (it
  // shares it, SO_REUSEADDR, as group listeners do) sends from
  // 127.0.0.2:PORT, which for udp-listen's wildcard bind is its own address.
  // That datagram is real and must be printed; answering it is what is unsafe.
  std::string group = "239.215." + std::to_string((::getpid() >> 8) & 0xff) + "." + std::to_string(::getpid() & 0xff);
  auto start = [&](std::vector<std::string> extra, ProcessOptions options = {}) {
    std::vector<std::string> args{"udp-listen", "-4", "-S", "--join", group, "-I", "lo"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.insert(args.end(), {"0.0.0.0", "0"});
    return start_listener(args, std::move(options));
  };
  const std::string from_neighbour = "from the neighbour;";

  SECTION("without --echo: printed") {
    auto l = start({"--count", "1"});
    UdpSocket neighbour("127.0.0.2", l.port, true);
    REQUIRE(neighbour.send_to("127.0.0.1", l.port, from_neighbour));
    INFO("stderr: " << l.proc.stderr_text());
    REQUIRE(l.proc.wait(kIoTimeout) == 0);
    CHECK(l.proc.stdout_text() == "127.0.0.2:" + std::to_string(l.port) + " " + from_neighbour + "\n");
  }
  SECTION("--echo: printed, not echoed, while a client's datagram after it is echoed") {
    auto l = start({"--echo", "--count", "2"});
    UdpSocket neighbour("127.0.0.2", l.port, true);
    UdpSocket client;
    REQUIRE(neighbour.send_to("127.0.0.1", l.port, from_neighbour));
    REQUIRE(client.send_to("127.0.0.1", l.port, "from a client;"));
    auto echo = client.recv(kIoTimeout);
    REQUIRE(echo);
    CHECK(echo->payload == "from a client;");
    // The client's echo left after the neighbour's datagram was handled (one
    // socket, in order): an echo to the neighbour would be in by now.
    CHECK_FALSE(neighbour.recv(Ms(200)));
    INFO("stderr: " << l.proc.stderr_text());
    REQUIRE(l.proc.wait(kIoTimeout) == 0);
    CHECK(l.proc.stdout_text() == "127.0.0.2:" + std::to_string(l.port) + " " + from_neighbour + "\n127.0.0.1:" +
                                      std::to_string(client.port()) + " from a client;\n");
    CHECK(l.proc.stderr_text().find("1 datagram(s) from our own address printed but not answered") != std::string::npos);
  }
  SECTION("--reply-to-last: the neighbour is never the last sender, stdin goes to the client before it") {
    auto l = start({"--reply-to-last", "--count", "3"}, ProcessOptions().stdin_pipe());
    UdpSocket neighbour("127.0.0.2", l.port, true);
    UdpSocket client;
    REQUIRE(client.send_to("127.0.0.1", l.port, "hello;"));
    REQUIRE(l.proc.wait_stdout_contains("hello;", kIoTimeout));
    REQUIRE(neighbour.send_to("127.0.0.1", l.port, from_neighbour));
    REQUIRE(l.proc.wait_stdout_contains(from_neighbour, kIoTimeout));
    REQUIRE(l.proc.write_stdin("answer\n"));
    auto got = client.recv(kIoTimeout);
    REQUIRE(got);
    CHECK(got->payload == "answer\n");
    CHECK_FALSE(neighbour.recv(Ms(200)));
    REQUIRE(client.send_to("127.0.0.1", l.port, "bye;"));  // the third: --count ends it
    INFO("stderr: " << l.proc.stderr_text());
    CHECK(l.proc.wait(kIoTimeout) == 0);
  }
}

TEST_CASE("udp-forward opens no session for a client spoofed as its own address or as the target's",
          "[udp-forward][udp][safety][netns]") {
  Netns ns;
  if (!ns.ok()) {
    WARN("skipped: " << ns.why());
    return;
  }
  // The target echoes and prints who sent what, so a loop shows as repeats.
  Process target = start_in(ns, {"udp-listen", "--echo", "-S", "127.0.0.1", std::to_string(kTargetPort)});
  Process fwd = start_in(ns, {"udp-forward", "-v", "127.0.0.1", std::to_string(kPort), "127.0.0.1",
                              std::to_string(kTargetPort)});
  INFO("udp-forward stderr: " << fwd.stderr_text() << "\ntarget stderr: " << target.stderr_text());
  REQUIRE(ns.spoof("127.0.0.1", kPort, "127.0.0.1", kPort, "as-forwarder;") == "");
  REQUIRE(ns.spoof("127.0.0.1", kTargetPort, "127.0.0.1", kPort, "as-target;") == "");
  REQUIRE(ns.spoof("127.0.0.1", kClientPort, "127.0.0.1", kPort, "real;") == "");
  // The real one went through after the spoofed ones; give a loop, if one
  // had started, a moment to show.
  REQUIRE(target.wait_stdout_contains("real;", kIoTimeout));
  std::this_thread::sleep_for(Ms(300));
  std::string seen = target.stdout_text();
  INFO("target saw:\n" << seen);
  CHECK(count_occurrences(seen, "as-forwarder;") == 0);
  CHECK(count_occurrences(seen, "as-target;") == 0);
  CHECK(count_occurrences(seen, "real;") == 1);
  CHECK(fwd.stderr_text().find("127.0.0.1:" + std::to_string(kPort) + " -> ") == std::string::npos);
  CHECK(fwd.stderr_text().find("127.0.0.1:" + std::to_string(kTargetPort) + " -> ") == std::string::npos);
  fwd.signal(SIGTERM);
  CHECK(fwd.wait(kIoTimeout) == 0);
  CHECK(fwd.stderr_text().find("2 datagram(s) from our own or the target's address dropped") != std::string::npos);
}

TEST_CASE("udp-forward refuses a target that is its own listening address (exit 2)", "[udp-forward][udp][safety]") {
  std::string port = std::to_string(free_udp_port());
  auto r = run_nettool({"udp-forward", "127.0.0.1", port, "127.0.0.1", port});
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("own listening address") != std::string::npos);
}

// ======================================================================= unshared ports

// Binds a UDP socket with SO_REUSEADDR, as another user's process would
// try; returns the errno (0: it worked, the port was shared).
int bind_reuseaddr(const std::string& host, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, host.c_str(), &a.sin_addr);
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 ? 0 : errno;
  ::close(fd);
  return rc;
}

TEST_CASE("udp-listen and udp-forward keep a unicast port to themselves: a second bind with SO_REUSEADDR fails",
          "[udp][udp-forward][safety]") {
  auto l = start_listener({"udp-listen", "127.0.0.1", "0"});
  CHECK(bind_reuseaddr("127.0.0.1", l.port) == EADDRINUSE);
  auto any = start_listener({"udp-listen", "-4", "0"});  // 0.0.0.0
  CHECK(bind_reuseaddr("127.0.0.1", any.port) == EADDRINUSE);
  CHECK(bind_reuseaddr("0.0.0.0", any.port) == EADDRINUSE);
  auto f = start_listener({"udp-forward", "127.0.0.1", "0", "127.0.0.1", "9"});
  CHECK(bind_reuseaddr("127.0.0.1", f.port) == EADDRINUSE);

  // A second nettool on a taken port: a clear error, exit 1.
  auto r = run_nettool({"udp-listen", "127.0.0.1", std::to_string(l.port)});
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("address already in use") != std::string::npos);
  l.proc.signal(SIGTERM);
  any.proc.signal(SIGTERM);
  f.proc.signal(SIGTERM);
  CHECK(l.proc.wait(kIoTimeout) == 0);
  CHECK(any.proc.wait(kIoTimeout) == 0);
  CHECK(f.proc.wait(kIoTimeout) == 0);
}

TEST_CASE("udp-send -p refuses a source port another socket holds instead of sharing it", "[udp][safety]") {
  // The holder allows sharing (SO_REUSEADDR), as another user's process
  // hoping for our replies would: only udp-send's refusal keeps them apart.
  int holder = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(holder >= 0);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{holder};
  int one = 1;
  ::setsockopt(holder, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  REQUIRE(::bind(holder, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  ::getsockname(holder, reinterpret_cast<sockaddr*>(&a), &len);
  UdpSocket sink;
  auto r = run_nettool({"udp-send", "-M", "x", "-p", std::to_string(ntohs(a.sin_port)), "127.0.0.1",
                        std::to_string(sink.port())});
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("address already in use") != std::string::npos);
  CHECK_FALSE(sink.recv(Ms(100)));
}

// ======================================================================= --reply-to-last sizes

TEST_CASE("udp-listen --reply-to-last cuts stdin into datagrams that fit: 300,000 bytes arrive complete", "[udp][safety]") {
  auto l = start_listener({"udp-listen", "--reply-to-last", "127.0.0.1", "0"}, ProcessOptions().stdin_pipe());
  UdpSocket client;
  client.set_receive_buffer(4 << 20);
  REQUIRE(client.send_to("127.0.0.1", l.port, "hi"));
  REQUIRE(l.proc.wait_stdout_contains("hi"));
  const std::string data = random_bytes(300'000, 7);
  REQUIRE(l.proc.write_stdin(data));
  std::string got;
  size_t datagrams = 0;
  while (got.size() < data.size()) {
    auto d = client.recv(kIoTimeout);
    if (!d) break;
    CHECK(d->payload.size() <= 65507);
    got += d->payload;
    ++datagrams;
  }
  INFO("udp-listen stderr: " << l.proc.stderr_text());
  CHECK(got.size() == data.size());
  CHECK(got == data);
  l.proc.close_stdin();
  l.proc.signal(SIGTERM);
  CHECK(l.proc.wait(kIoTimeout) == 0);
}

TEST_CASE("udp-listen --reply-to-last: a send that fails is an error and exit 1", "[udp][safety]") {
  // A sender on a network this namespace has no route to (only lo is up):
  // the reply fails with "network is unreachable", every time.
  Netns ns;
  if (!ns.ok()) {
    WARN("skipped: " << ns.why());
    return;
  }
  Process l = start_in(ns, {"udp-listen", "--reply-to-last", "-4", std::to_string(kPort)},
                       ProcessOptions().stdin_pipe());
  REQUIRE(ns.spoof("10.9.9.9", kClientPort, "127.0.0.1", kPort, "hi") == "");
  REQUIRE(l.wait_stdout_contains("hi", kIoTimeout));
  REQUIRE(l.write_stdin("answer\n"));
  CHECK(l.wait_stderr_contains("--reply-to-last: sending 7 B to 10.9.9.9", kIoTimeout));
  l.close_stdin();
  l.signal(SIGTERM);
  CHECK(l.wait(kIoTimeout) == 1);
}

// ======================================================================= --count buffering

TEST_CASE("udp-send --count: stdin that would cost more than 64 MiB to keep (even empty lines) is a clear error",
          "[udp][safety]") {
  UdpSocket sink;
  TempDir dir;
  // 3 Mi empty lines: no payload at all, but 3 Mi datagrams to keep for the
  // second round, each costing its bookkeeping.
  fs::path input = dir.path() / "newlines";
  write_file(input, std::string(3u << 20, '\n'));
  auto r = run_nettool({"udp-send", "--count", "2", "127.0.0.1", std::to_string(sink.port())},
                       ProcessOptions().stdin_from(input));
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("more than 64 MiB of datagrams") != std::string::npos);
  CHECK_FALSE(sink.recv(Ms(100)));  // nothing was sent: --count reads everything first
}

// ======================================================================= small refusals

TEST_CASE("udp-send refuses port 0 as the other UDP senders do (exit 2)", "[udp][safety][options]") {
  auto r = run_nettool({"udp-send", "-M", "x", "127.0.0.1", "0"});
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("0 is not a port to send to") != std::string::npos);
}

TEST_CASE("udp-broadcast --ttl 0 without --multicast is a usage error instead of being ignored", "[udp][safety][options]") {
  auto r = run_nettool({"udp-broadcast", "--address", "127.255.255.255", "--ttl", "0", "-M", "x", "9"});
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--ttl 0") != std::string::npos);
}

TEST_CASE("udp-broadcast refuses a --multicast that is no group and an --address that is one (exit 2, nothing sent)",
          "[udp][safety][options]") {
  UdpSocket peer;  // where a unicast "group" would have gone
  std::string port = std::to_string(peer.port());
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  for (const Case& c : {Case{{"--multicast", "127.0.0.1"}, "--multicast 127.0.0.1: not a multicast group"},
                        Case{{"--multicast", "::1"}, "--multicast ::1: not a multicast group"},
                        Case{{"--address", "239.1.2.3"}, "--address 239.1.2.3 is a multicast group: use --multicast"},
                        Case{{"--address", "0.0.0.0"}, "--address 0.0.0.0 is not a broadcast address"}}) {
    std::vector<std::string> args{"udp-broadcast"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    args.insert(args.end(), {"-M", "not for a unicast peer", port});
    auto r = run_nettool(args, {}, kUsageTimeout);
    INFO(c.args[0] << " " << c.args[1] << " stderr: " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(c.says) != std::string::npos);
  }
  CHECK_FALSE(peer.recv(Ms(200)));
}

TEST_CASE("udp-broadcast warns when --address is no local interface's broadcast address, and sends it anyway",
          "[udp][safety][options]") {
  // A remote subnet's directed broadcast looks like this too, so it is not
  // refused; 127.0.0.1 is plainly a host, and the warning must say so.
  UdpSocket peer;
  auto r = run_nettool({"udp-broadcast", "--address", "127.0.0.1", "-M", "to one host", std::to_string(peer.port())});
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("--address 127.0.0.1 is not the broadcast address of any local interface (") != std::string::npos);
  CHECK(r.err.find("lo 127.255.255.255") != std::string::npos);  // what the interfaces' are
  auto got = peer.recv(kIoTimeout);
  REQUIRE(got);
  CHECK(got->payload == "to one host");

  // lo's own broadcast address (127.0.0.1/8) is one: no warning.
  auto ok = run_nettool({"udp-broadcast", "--address", "127.255.255.255", "-M", "subnet", std::to_string(peer.port())});
  INFO("127.255.255.255 stderr: " << ok.err);
  CHECK(ok.exit_code == 0);
  CHECK(ok.err.find("not the broadcast address") == std::string::npos);
}

TEST_CASE("udp-send over a Unix socket warns when a reply is larger than the 64 KiB it reads", "[udp][safety][unix]") {
  // A Unix datagram server of our own at an abstract name, answering 100,000 bytes.
  int server = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(server >= 0);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{server};
  std::string name = "nettool-udps-" + std::to_string(::getpid());
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path + 1, name.data(), name.size());
  auto alen = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  REQUIRE(::bind(server, reinterpret_cast<sockaddr*>(&a), alen) == 0);
  int sndbuf = 1 << 20;
  ::setsockopt(server, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf);

  Process send(nettool_argv({"udp-send", "-M", "ping", "-W", "500ms", "unix:@" + name}));
  pollfd p{server, POLLIN, 0};
  REQUIRE(::poll(&p, 1, static_cast<int>(kIoTimeout.count())) == 1);
  char ping[16];
  sockaddr_un from{};
  socklen_t flen = sizeof from;
  REQUIRE(::recvfrom(server, ping, sizeof ping, 0, reinterpret_cast<sockaddr*>(&from), &flen) == 4);
  std::string reply(100'000, 'r');
  REQUIRE(::sendto(server, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), flen) ==
          static_cast<ssize_t>(reply.size()));
  CHECK(send.wait(kIoTimeout) == 0);
  INFO("stderr: " << send.stderr_text());
  CHECK(send.stdout_text().size() == 64 * 1024);
  CHECK(send.stderr_text().find("truncated to 65536 bytes") != std::string::npos);
}
