// The launcher's own `tcp-connect -z` (cli/quick_port_check.cpp) against the
// front end: every line runs both ways (NETTOOL_NO_QUICK_CHECK=1 sends it to
// the front end) and must give the same exit code, stdout and stderr, the
// -v summary's seconds aside. The dynamic loader's list of mapped objects
// (LD_DEBUG=files) says which way a line went, so a line meant for the quick
// path is known to have taken it, and every other line to have reached the
// front end, whose checks it needs.
#include <catch2/catch.hpp>

#include <signal.h>

#include <fstream>
#include <optional>
#include <regex>

#include "harness.h"

using namespace e2e;

namespace {

std::string shown(const std::vector<std::string>& line) {
  std::string out;
  for (const auto& w : line) out += w + " ";
  return out;
}

// stderr without what the clock decides: the -v summary's "0.001 s," and
// a JSON line's "time".
std::string without_seconds(const std::string& err) {
  static const std::regex seconds(R"(\d+\.\d{3} s,)"), time(R"("time":"[^"]*")");
  return std::regex_replace(std::regex_replace(err, seconds, "T s,"), time, R"("time":"T")");
}

bool front_end_ran(const std::vector<std::string>& line) {
  auto r = run_nettool(line, ProcessOptions().setenv("LD_DEBUG", "files"));
  return r.err.find("libnettool-cli.so") != std::string::npos;
}

// Runs `line` through the launcher and through the front end; the two must agree.
void check_same_both_ways(const std::vector<std::string>& line) {
  auto quick = run_nettool(line);
  auto full = run_nettool(line, ProcessOptions().setenv("NETTOOL_NO_QUICK_CHECK", "1"));
  INFO("line: " << shown(line) << "\nquick stderr:\n" << quick.err << "front end stderr:\n" << full.err);
  CHECK(quick.exit_code == full.exit_code);
  CHECK(quick.out == full.out);
  CHECK(without_seconds(quick.err) == without_seconds(full.err));
}

std::vector<std::string> words(std::initializer_list<std::string> list) { return list; }

}  // namespace

TEST_CASE("the launcher's tcp-connect -z answers each line as the front end does, without loading it", "[quick-check]") {
  TcpServer open_server;
  ClosedPort closed, closed2;
  for (int i = 0; i < 100 && closed.fd < 0; ++i) hold_closed_port(pick_free_port(), closed);
  for (int i = 0; i < 100 && closed2.fd < 0; ++i) hold_closed_port(pick_free_port(), closed2);
  REQUIRE(closed2.fd >= 0);
  StalledPort stalled;
  const std::string open = std::to_string(open_server.port()), shut = std::to_string(closed.port),
                    shut2 = std::to_string(closed2.port), silent = std::to_string(stalled.port());

  std::vector<std::vector<std::string>> lines = {
      words({"tcp-connect", "-z", "127.0.0.1", open}),
      words({"tcp-connect", "-zv", "127.0.0.1", open}),
      words({"tcp-connect", "-z", "-n", "-4", "127.0.0.1", open}),
      words({"tcp-connect", "127.0.0.1", open, "--zero"}),           // options after the words
      words({"-v", "tcp-connect", "-nz", "127.0.0.1", "0" + open}),  // a global flag first; a leading zero
      words({"tcp-connect", "-z", "127.0.0.1", shut}),               // refused
      words({"-q", "tcp-connect", "-z", "127.0.0.1", shut}),
      words({"tcp-connect", "-zv", "127.0.0.1", shut + "," + open}),
      words({"--verbose", "tcp-connect", "-z", "127.0.0.1", open + "," + shut}),
      words({"tcp-connect", "-z", "127.0.0.1", shut + "-" + shut}),  // a range of one: "no open port in P"
      words({"tcp-connect", "-zv", "127.0.0.1", shut + "," + shut2 + "-" + shut2}),
      words({"tcp-connect", "-zvw", "200ms", "127.0.0.1", silent}),  // never answers: -w
      words({"tcp-connect", "-z", "--timeout=200ms", "127.0.0.1", silent + "," + open}),
      words({"tcp-connect", "-z", "-w", "0", "127.0.0.1", open}),
  };
  std::optional<TcpServer> open6;
  if (ipv6_loopback_available()) {
    open6.emplace("::1");
    const std::string port6 = std::to_string(open6->port());
    lines.push_back(words({"tcp-connect", "-z", "::1", port6}));
    lines.push_back(words({"tcp-connect", "-zv6", "[::1]", port6}));
  }
  for (const auto& line : lines) {
    check_same_both_ways(line);
    INFO("line: " << shown(line));
    CHECK_FALSE(front_end_ran(line));
  }
}

TEST_CASE("a line the launcher's -z does not understand whole goes to the front end and its checks", "[quick-check]") {
  TcpServer open_server;
  ClosedPort closed;
  for (int i = 0; i < 100 && closed.fd < 0; ++i) hold_closed_port(pick_free_port(), closed);
  REQUIRE(closed.fd >= 0);
  const std::string open = std::to_string(open_server.port());
  for (const auto& line : {
           words({"tcp-connect", "-z", "localhost", open}),         // a name: the resolver's
           words({"tcp-connect", "-z", "127.0.0.1", "http"}),       // a service name
           words({"tcp-connect", "-z", "127.1", open}),             // not dotted-quad
           words({"tcp-connect", "-z", "--nodelay", "127.0.0.1", open}),
           words({"tcp-connect", "-zvv", "127.0.0.1", open}),
           words({"tcp-connect", "-z", "-4", "::1", open}),          // exit 1 from the front end
           words({"tcp-connect", "-z", "-4", "-6", "127.0.0.1", open}),
           words({"tcp-connect", "-z", "-z", "127.0.0.1", open}),
           words({"tcp-connect", "-z", "127.0.0.1", open + "," + open}),  // usage errors, exit 2
           words({"tcp-connect", "-z", "127.0.0.1", "0"}),
           words({"tcp-connect", "-z", "127.0.0.1", "70000"}),
           words({"tcp-connect", "-z", "-w", "banana", "127.0.0.1", open}),
           words({"tcp-connect", "-z", "-w", "1.5s", "127.0.0.1", open}),
           words({"tcp-connect", "-z", "127.0.0.1"}),
           words({"tcp-connect", "-z", "127.0.0.1", open, "extra"}),
           words({"tcp-connect", "127.0.0.1", std::to_string(closed.port)}),  // no -z
           words({"--log-format", "json", "tcp-connect", "-z", "127.0.0.1", open}),
           words({"tcp-connect", "-z", "127.0.0.1", open, "--", "x"}),
       }) {
    check_same_both_ways(line);
    INFO("line: " << shown(line));
    CHECK(front_end_ran(line));
  }
  SECTION("NETTOOL_PLUGIN_PATH may name another tcp-connect: the front end decides") {
    auto r = run_nettool({"tcp-connect", "-z", "127.0.0.1", open},
                         ProcessOptions().setenv("NETTOOL_PLUGIN_PATH", "/nonexistent").setenv("LD_DEBUG", "files"));
    CHECK(r.err.find("libnettool-cli.so") != std::string::npos);
    CHECK(r.exit_code == 0);
  }
}

TEST_CASE("a signal during the launcher's -z ends it as the front end's run does: exit 1, the same lines",
          "[quick-check][signals]") {
  StalledPort stalled;
  const std::vector<std::string> line = {"-v", "tcp-connect", "-z", "127.0.0.1", std::to_string(stalled.port())};
  std::string errs[2];
  int codes[2] = {0, 0};
  for (int way = 0; way < 2; ++way) {
    ProcessOptions options;
    if (way == 1) options.setenv("NETTOOL_NO_QUICK_CHECK", "1");
    Process nt(nettool_argv(line), options);
    REQUIRE(eventually([&] { return is_connecting(nt.pid(), stalled.port()); }));
    nt.signal(SIGTERM);
    codes[way] = nt.wait();
    errs[way] = without_seconds(nt.stderr_text());
  }
  INFO("quick stderr:\n" << errs[0] << "front end stderr:\n" << errs[1]);
  CHECK(codes[0] == 1);
  CHECK(codes[1] == 1);
  CHECK(errs[0] == errs[1]);
  CHECK(errs[0].find("interrupted before 127.0.0.1 port " + std::to_string(stalled.port()) + " answered") !=
        std::string::npos);
}

TEST_CASE("a signal during a -z scan of ports that refuse at once ends it too, either way, with one error line",
          "[quick-check][signals]") {
  // Refused connections never wait, so the signal can only be taken between
  // two attempts: the launcher once kept scanning to the end and exited 0,
  // and the front end tried one more port and printed a second error line.
  // Ports below 20000: no test binds there (they use the kernel's ephemeral
  // range, checked to start above), and a probe of anything else on loopback
  // is a connect and a close.
  int first_ephemeral = 0;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> first_ephemeral;
  if (first_ephemeral <= 20000) {
    WARN("the kernel's ephemeral ports start at " << first_ephemeral << ": a scan of 1-20000 could reach other tests");
    return;
  }
  const std::vector<std::string> line = {"-v", "tcp-connect", "-z", "127.0.0.1", "1-20000"};
  static const std::regex port_number(R"(port \d+ answered)");
  std::string errs[2];
  for (int way = 0; way < 2; ++way) {
    ProcessOptions options;
    if (way == 1) options.setenv("NETTOOL_NO_QUICK_CHECK", "1");
    Process nt(nettool_argv(line), options);
    REQUIRE(nt.wait_stderr_contains("cannot connect to 127.0.0.1 port 1:"));
    if (nt.stderr_text().find("port 20000") != std::string::npos) {
      WARN("the scan was over before the signal could come; nothing to check");
      return;
    }
    nt.signal(SIGTERM);
    int code = nt.wait();
    std::string err = nt.stderr_text();
    INFO((way == 0 ? "quick" : "front end") << " stderr tail: " << err.substr(err.size() > 1500 ? err.size() - 1500 : 0));
    CHECK(code == 1);
    CHECK(err.find("interrupted before 127.0.0.1 port ") != std::string::npos);
    CHECK(count_occurrences(err, ": error: ") == 1);
    const size_t from = err.find(" received, ");  // the lines before it are the ports tried so far
    errs[way] = std::regex_replace(from == std::string::npos ? err : err.substr(from), port_number, "port N answered");
  }
  CHECK(without_seconds(errs[0]) == without_seconds(errs[1]));
}

TEST_CASE("a closed stdin, stdout or stderr is /dev/null to nettool, not a crash", "[quick-check][stdio]") {
  // Before: the first socket took descriptor 0 (or 1, 2), and libuv, which
  // never closes those, aborted the front end (exit 134).
  TcpServer open_server;
  const std::string port = std::to_string(open_server.port());
  for (std::string redirect : {"<&-", ">&-", "2>&-"}) {
    for (bool quick : {true, false}) {
      ProcessOptions options;
      if (!quick) options.setenv("NETTOOL_NO_QUICK_CHECK", "1");
      std::vector<std::string> argv = {"/bin/sh", "-c", "exec \"$0\" \"$@\" " + redirect, nettool_path().string(),
                                       "tcp-connect", "-z", "127.0.0.1", port};
      Process nt(argv, options);
      int code = nt.wait();
      INFO(redirect << (quick ? " quick" : " front end") << " stderr: " << nt.stderr_text());
      CHECK(code == 0);
    }
  }
}
