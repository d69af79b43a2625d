// The example profiles in configs/: every one of them must load and validate
// against its plugin's schema, and the tcp-* ones are run for real (with the
// address overridden on the command line, which also checks that the command
// line wins over the profile).
#include <catch2/catch.hpp>
#include <yaml-cpp/yaml.h>

#include <csignal>
#include <thread>

#include "harness.h"

using namespace e2e;

namespace {

struct ExampleProfile {
  fs::path file;
  YAML::Node yaml;
  std::string command;
  bool flag(const char* key) const { return yaml[key] && yaml[key].as<std::string>() == "true"; }
};

std::vector<ExampleProfile> example_profiles() {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(configs_dir()))
    if (entry.path().extension() == ".yaml" || entry.path().extension() == ".yml") files.push_back(entry.path());
  std::sort(files.begin(), files.end());  // (not the profiles: assigning a YAML::Node rewrites what it refers to)
  std::vector<ExampleProfile> out;
  for (const auto& file : files) {
    ExampleProfile p{file, YAML::LoadFile(file.string()), ""};
    if (p.yaml["command"]) p.command = p.yaml["command"].as<std::string>();
    out.push_back(p);
  }
  return out;
}

std::vector<ExampleProfile> profiles_for(const std::string& command) {
  std::vector<ExampleProfile> out;
  for (auto& p : example_profiles())
    if (p.command == command) out.push_back(p);
  return out;
}

}  // namespace

TEST_CASE("every example profile in configs/ names its command, loads and validates", "[profiles]") {
  auto profiles = example_profiles();
  REQUIRE(profiles.size() >= 3);
  for (const auto& p : profiles) {
    INFO(p.file.string());
    CHECK_FALSE(p.command.empty());
    // The profile is applied (every key checked against the plugin's schema)
    // before the command line; an unknown flag then stops the run before
    // anything starts. A bad profile would fail first, naming its file.
    auto r = run_nettool({"-c", p.file.string(), "--e2e-no-such-option"});
    INFO("stderr: " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--e2e-no-such-option") != std::string::npos);
    CHECK(r.err.find(p.file.string()) == std::string::npos);
  }
}

TEST_CASE("every tcp-listen profile in configs/ runs and serves clients in its mode", "[profiles]") {
  auto profiles = profiles_for("tcp-listen");
  REQUIRE_FALSE(profiles.empty());
  for (const auto& p : profiles) {
    INFO(p.file.string());
    // Loopback and an ephemeral port whatever the profile says.
    auto l = start_listener({"-c", p.file.string(), "--host", "127.0.0.1", "--port", "0"},
                            ProcessOptions().stdin_pipe());
    INFO("stderr: " << l.proc.stderr_text());
    if (p.yaml["port"]) CHECK(l.port != p.yaml["port"].as<int>());
    Socket a = connect_tcp(l.port), b = connect_tcp(l.port);
    if (p.flag("echo")) {
      std::string got_a, got_b;
      {
        std::jthread ta([&] { got_a = a.exchange("echo A\n"); });
        std::jthread tb([&] { got_b = b.exchange("echo B\n"); });
      }
      CHECK(got_a == "echo A\n");
      CHECK(got_b == "echo B\n");
      if (p.flag("keep-open")) CHECK(l.proc.running());  // still there after both left
    } else if (p.flag("broker")) {
      std::string at_a, at_b;
      REQUIRE(b.send_all("B-ready\n"));
      REQUIRE(a.recv_until(at_a, "B-ready\n"));
      REQUIRE(a.send_all("from-A\n"));
      REQUIRE(b.recv_until(at_b, "from-A\n"));
      l.proc.signal(SIGTERM);  // closes both; then their totals are exact
      at_a += a.recv_all();
      at_b += b.recv_all();
      CHECK(at_a == "B-ready\n");
      CHECK(at_b == "from-A\n");
    } else {
      // Plain listener (-k or not): the client's data reaches stdout.
      REQUIRE(a.send_all("to stdout\n"));
      CHECK(l.proc.wait_stdout_contains("to stdout\n"));
      a.close();
      b.close();
    }
    if (!p.flag("broker")) l.proc.signal(SIGTERM);
    int code = l.proc.wait();
    CHECK((code == 0 || code == 1));  // 1 only if a client was cut off at the end of the grace period
  }
}

TEST_CASE("every tcp-connect profile in configs/ runs against a test listener", "[profiles]") {
  auto profiles = profiles_for("tcp-connect");
  REQUIRE_FALSE(profiles.empty());
  for (const auto& p : profiles) {
    INFO(p.file.string());
    std::string got;
    PeerThread peer([&](Socket& s) {
      got = s.recv_all();
      s.send_all("answer to " + got);
    });
    TempDir dir;
    write_file(dir / "in.txt", "question\n");
    // --host and --port on the command line replace the profile's. (Positional
    // HOST PORT would be taken for a command name: the first bare word is the
    // command, even with a profile that names one.)
    auto r = run_nettool({"-c", p.file.string(), "--host", "127.0.0.1", "--port", std::to_string(peer.port())},
                         ProcessOptions().stdin_from(dir / "in.txt"));
    peer.join();
    INFO("stderr: " << r.err << " peer: " << peer.error());
    CHECK(r.exit_code == 0);
    CHECK(got == "question\n");
    CHECK(r.out == "answer to question\n");
  }
}
