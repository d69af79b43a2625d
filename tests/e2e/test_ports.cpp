// PORT as nc users type it: for tcp-connect -z, a comma-separated list of
// ports and ranges checked in the order given.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "harness.h"

using namespace e2e;

namespace {

// A port nothing listens on, held (bound, not listening) for the test's lifetime.
void hold_some_closed_port(ClosedPort& out) {
  for (int i = 0; i < 100; ++i)
    if (hold_closed_port(pick_free_port(), out)) return;
  throw std::runtime_error("could not reserve a closed port");
}

}  // namespace

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
