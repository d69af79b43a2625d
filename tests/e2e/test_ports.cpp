// PORT as nc users type it: a service name from /etc/services (tcp-connect's
// for TCP, udp-send's for UDP) and, for tcp-connect -z, a comma-separated list
// of ports and ranges checked in the order given.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <cctype>
#include <csignal>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness.h"
#include "udp_test_util.h"

using namespace e2e;

namespace {

struct Service {
  std::string name;
  uint16_t port = 0;
};

// The services of `protocol` in the services database on ports of 1024 or
// more, which a test can bind without privileges; empty when there is no
// database (a minimal system), and then the tests that need one say so.
// Only names that getservbyname gives back the same port for.
std::vector<Service> unprivileged_services(const char* protocol) {
  std::vector<Service> out;
  setservent(0);
  while (const servent* s = getservent()) {
    const uint16_t port = ntohs(static_cast<uint16_t>(s->s_port));
    if (std::string(s->s_proto) == protocol && port >= 1024 && std::isalpha(static_cast<unsigned char>(s->s_name[0])))
      out.push_back({s->s_name, port});
  }
  endservent();
  std::erase_if(out, [protocol](const Service& s) {
    const servent* again = getservbyname(s.name.c_str(), protocol);
    return !again || ntohs(static_cast<uint16_t>(again->s_port)) != s.port;
  });
  return out;
}

// A port nothing listens on, held (bound, not listening) for the test's lifetime.
void hold_some_closed_port(ClosedPort& out) {
  for (int i = 0; i < 100; ++i)
    if (hold_closed_port(pick_free_port(), out)) return;
  throw std::runtime_error("could not reserve a closed port");
}

}  // namespace

// ---- service names

TEST_CASE("tcp-connect takes a TCP service name for PORT as nc does and checks that service's port",
          "[tcp-connect][ports]") {
  // Listen on the port of a named service ourselves (one of 1024 or more:
  // no privileges needed; the first such port that is free).
  ClosedPort held;
  std::optional<Service> service;
  for (const Service& s : unprivileged_services("tcp"))
    if (hold_closed_port(s.port, held)) {
      service = s;
      break;
    }
  if (!service) {
    WARN("no free TCP service port of 1024 or more in the services database; not checked");
    return;
  }
  REQUIRE(::listen(held.fd, 8) == 0);
  const std::string port = std::to_string(service->port);
  INFO("service " << service->name << " = port " << port);

  auto r = run_nettool({"tcp-connect", "-z", "-n", "127.0.0.1", service->name});
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.err, Catch::Contains("127.0.0.1 port " + port + " open"));

  // Names and numbers mix in a -z list.
  ClosedPort closed;
  hold_some_closed_port(closed);
  auto list = run_nettool({"tcp-connect", "-z", "-n", "127.0.0.1", std::to_string(closed.port) + "," + service->name});
  INFO("stderr: " << list.err);
  CHECK(list.exit_code == 0);
  CHECK_THAT(list.err, Catch::Contains("port " + port + " open"));
  CHECK_THAT(list.err, !Catch::Contains("port " + std::to_string(closed.port) + " open"));
}

TEST_CASE("an unknown service name for PORT is a usage error naming the word and the protocol", "[tcp-connect][ports]") {
  auto r = run_nettool({"tcp-connect", "127.0.0.1", "no-such-service-nettool"}, {}, kUsageTimeout);
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 2);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Catch::Contains("PORT: unknown service 'no-such-service-nettool'") &&
                        Catch::Contains("tcp service name from /etc/services"));

  auto udp = run_nettool({"udp-send", "-M", "x", "127.0.0.1", "no-such-service-nettool"}, {}, kUsageTimeout);
  INFO("stderr: " << udp.err);
  CHECK(udp.exit_code == 2);
  CHECK_THAT(udp.err, Catch::Contains("unknown service 'no-such-service-nettool'") && Catch::Contains("udp service"));

  // A name that is TCP's only (where the database says so) is not a UDP port.
  if (getservbyname("smtp", "tcp") && !getservbyname("smtp", "udp")) {
    auto smtp = run_nettool({"udp-send", "-M", "x", "127.0.0.1", "smtp"}, {}, kUsageTimeout);
    INFO("stderr: " << smtp.err);
    CHECK(smtp.exit_code == 2);
    CHECK_THAT(smtp.err, Catch::Contains("unknown service 'smtp'") && Catch::Contains("udp service"));
  }
}

TEST_CASE("tcp-forward takes a TCP service name for TARGET_PORT, and a bad one is named as TARGET_PORT",
          "[tcp-forward][ports]") {
  if (getservbyname("http", "tcp")) {
    auto fwd = start_listener({"tcp-forward", "127.0.0.1", "0", "127.0.0.1", "http"});
    CHECK_THAT(fwd.proc.stderr_text(), Catch::Contains("127.0.0.1 port 80"));
  }
  auto r = run_nettool({"tcp-forward", "127.0.0.1", "0", "127.0.0.1", "eighty"}, {}, kUsageTimeout);
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("TARGET_PORT: unknown service 'eighty'"));
  // The same from a profile, where the key is all the user has to go by.
  TempDir dir;
  write_file(dir / "fwd.yaml", "command: tcp-forward\nport: 0\ntarget-host: 127.0.0.1\ntarget-port: eighty\n");
  auto p = run_nettool({"-c", (dir / "fwd.yaml").string()}, {}, kUsageTimeout);
  INFO("profile stderr: " << p.err);
  CHECK(p.exit_code == 2);
  CHECK_THAT(p.err, Catch::Contains("TARGET_PORT: unknown service 'eighty'"));
  auto bad = run_nettool({"tcp-forward", "127.0.0.1", "99999", "127.0.0.1", "80"}, {}, kUsageTimeout);
  INFO("stderr: " << bad.err);
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.err, Catch::Contains("PORT: port '99999' is out of range"));
}

TEST_CASE("udp-send takes a UDP service name for PORT as nc -u does", "[udp][ports]") {
  std::unique_ptr<UdpSocket> peer;
  std::optional<Service> service;
  for (const Service& s : unprivileged_services("udp")) {
    try {
      peer = std::make_unique<UdpSocket>("127.0.0.1", s.port);
    } catch (const std::runtime_error&) {
      continue;  // in use
    }
    service = s;
    break;
  }
  if (!service) {
    WARN("no free UDP service port of 1024 or more in the services database; not checked");
    return;
  }
  INFO("service " << service->name << " = port " << service->port);
  auto r = run_nettool({"udp-send", "-M", "hello by name", "127.0.0.1", service->name});
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 0);
  auto got = peer->recv(kIoTimeout);
  REQUIRE(got);
  CHECK(got->payload == "hello by name");
}

TEST_CASE("tcp-listen and udp-listen take a service name for PORT, as the senders do", "[tcp-listen][udp][ports]") {
  // They read PORT as text (it may be unix:/PATH) and took numbers only.
  for (const char* protocol : {"tcp", "udp"}) {
    INFO(protocol);
    bool checked = false;
    for (const Service& s : unprivileged_services(protocol)) {
      const std::string command = std::string(protocol) == "tcp" ? "tcp-listen" : "udp-listen";
      auto l = Process(nettool_argv({command, "127.0.0.1", s.name}));
      if (!l.wait_stderr_contains("listening on", Ms(3000))) {
        const int code = l.wait(Ms(3000));
        INFO("service " << s.name << "; stderr: " << l.stderr_text());
        REQUIRE(code == 1);  // its port is in use here: try the next; a usage error is the bug
        continue;
      }
      INFO("service " << s.name << " = port " << s.port << "; stderr: " << l.stderr_text());
      CHECK(l.stderr_text().find("listening on 127.0.0.1:" + std::to_string(s.port)) != std::string::npos);
      l.signal(SIGTERM);
      l.wait();
      checked = true;
      break;
    }
    if (!checked) WARN("no free " << protocol << " service port of 1024 or more here; not checked");
  }
}

TEST_CASE("udp-broadcast and udp-forward take UDP service names for their ports", "[udp][ports]") {
  // 'domain' is port 53 in every services database; nothing is listening
  // for these datagrams, and none leaves loopback.
  auto b = run_nettool({"udp-broadcast", "-a", "127.255.255.255", "-M", "x", "domain"});
  INFO("udp-broadcast stderr: " << b.err);
  CHECK(b.exit_code == 0);
  auto f = start_listener({"udp-forward", "127.0.0.1", "0", "127.0.0.1", "domain"});
  INFO("udp-forward stderr: " << f.proc.stderr_text());
  CHECK(f.proc.stderr_text().find("forwarding to 127.0.0.1:53") != std::string::npos);
  f.proc.signal(SIGTERM);
  f.proc.wait();
  auto bad = run_nettool({"udp-forward", "127.0.0.1", "0", "127.0.0.1", "no-such-service"}, {}, kUsageTimeout);
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("unknown service 'no-such-service'") != std::string::npos);
}

// ---- port lists with -z

TEST_CASE("tcp-connect -z checks a list of ports and ranges in the order given and exits 0 if any is open",
          "[tcp-connect][zero][ports]") {
  // P open with P+1 closed (the range), Q open, C closed: "Q,C,P-(P+1)",
  // written with the larger open port first so that a sorted scan would
  // report them the other way round.
  std::unique_ptr<TcpServer> p_server;
  ClosedPort p_next;
  for (int i = 0; i < 100 && p_next.fd < 0; ++i) {
    p_server = std::make_unique<TcpServer>();
    hold_closed_port(static_cast<uint16_t>(p_server->port() + 1), p_next);
  }
  REQUIRE(p_next.fd >= 0);
  TcpServer q_server;
  ClosedPort c;
  hold_some_closed_port(c);
  const uint16_t p = p_server->port(), q = q_server.port();
  const std::string range = std::to_string(p) + "-" + std::to_string(p + 1);
  const std::string list = q > p ? std::to_string(q) + "," + std::to_string(c.port) + "," + range
                                 : range + "," + std::to_string(c.port) + "," + std::to_string(q);
  const uint16_t first = q > p ? q : p, last = q > p ? p : q;
  INFO("list " << list);

  auto r = run_nettool({"tcp-connect", "-z", "-n", "127.0.0.1", list});
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.empty());
  const size_t first_at = r.err.find("port " + std::to_string(first) + " open");
  const size_t last_at = r.err.find("port " + std::to_string(last) + " open");
  REQUIRE(first_at != std::string::npos);
  REQUIRE(last_at != std::string::npos);
  CHECK(first_at < last_at);
  CHECK_THAT(r.err, !Catch::Contains("port " + std::to_string(c.port) + " open"));
  CHECK_THAT(r.err, !Catch::Contains("port " + std::to_string(p + 1) + " open"));

  // Every port closed: exit 1, the list named as given.
  ClosedPort a, b;
  hold_some_closed_port(a);
  hold_some_closed_port(b);
  const std::string closed = std::to_string(a.port) + "," + std::to_string(b.port);
  auto none = run_nettool({"tcp-connect", "-z", "-n", "127.0.0.1", closed});
  INFO("stderr: " << none.err);
  CHECK(none.exit_code == 1);
  CHECK_THAT(none.err, Catch::Contains("no open port in " + closed + " on 127.0.0.1"));
}

TEST_CASE("a port list that cannot be meant is a usage error: without -z a repeated port an empty item",
          "[tcp-connect][zero][ports]") {
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"tcp-connect", "127.0.0.1", "22,80"}, "several ports (22,80) need --zero"},
      {{"tcp-connect", "127.0.0.1", "20-22,80"}, "several ports (20-22,80) need --zero"},
      {{"tcp-connect", "-z", "127.0.0.1", "20-25,22"}, "port 22 is given twice in '20-25,22'"},
      {{"tcp-connect", "-z", "127.0.0.1", "22,,80"}, "empty port in '22,,80'"},
      {{"tcp-connect", "-z", "127.0.0.1", "22,0"}, "cannot connect to port 0"},
      {{"tcp-connect", "-z", "--tls", "127.0.0.1", "443,8443"}, "give one port, not 443,8443"},
  };
  for (const Case& c : cases) {
    auto r = run_nettool(c.args, {}, kUsageTimeout);
    INFO("args: " << c.args.back() << " stderr: " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Catch::Contains(c.says));
  }
}

TEST_CASE("HOST:PORT in one word gets a usage error saying to give them as two words", "[ports][cli]") {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"tcp-connect", "127.0.0.1:9"}, std::vector<std::string>{"udp-send", "127.0.0.1:9"},
        std::vector<std::string>{"tcp-forward", "0", "127.0.0.1:9"}}) {
    auto r = run_nettool(args, {}, kUsageTimeout);
    INFO(args[0] << ": " << r.err);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("the host and the port are two words here: 127.0.0.1 9 (not 127.0.0.1:9)"));
  }
}
