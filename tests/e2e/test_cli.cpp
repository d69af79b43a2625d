// The front end's own answers: usage and the list of commands.
#include <catch2/catch.hpp>

#include "harness.h"

using namespace e2e;

namespace {

// Every plugin module the build produced, by command name.
std::vector<std::string> built_commands() {
  const fs::path plugin_dir = nettool_path().parent_path() / ".." / "lib" / "nettool" / "plugins";
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(plugin_dir)) {
    std::string file = entry.path().filename().string();
    if (file.rfind("nettool-", 0) == 0 && entry.path().extension() == ".so")
      names.push_back(file.substr(8, file.size() - 8 - 3));
  }
  return names;
}

void check_lists_every_command(const std::string& text) {
  auto commands = built_commands();
  REQUIRE(commands.size() >= 7);
  CHECK_THAT(text, Catch::Contains("Usage: nettool"));
  CHECK_THAT(text, Catch::Contains("\nCommands:\n"));
  for (const auto& name : commands) {
    INFO("command " << name);
    CHECK_THAT(text, Catch::Contains("\n  " + name + " "));
  }
  // With its summary, as `nettool plugins` gives it.
  CHECK_THAT(text, Catch::Contains("download a file (HTTP or bare-name), verify it, save it atomically"));
  for (const char* builtin : {"help", "plugins", "completion"}) CHECK_THAT(text, Catch::Contains(std::string("\n  ") + builtin + " "));
}

}  // namespace

TEST_CASE("nettool --help and nettool help list every command with its summary on stdout, exit 0", "[cli]") {
  for (const char* arg : {"--help", "-h", "help"}) {
    INFO("nettool " << arg);
    auto r = run_nettool({arg});
    CHECK(r.exit_code == 0);
    check_lists_every_command(r.out);
  }
}

TEST_CASE("nettool with no command lists the commands on stderr and exits 2", "[cli]") {
  auto r = run_nettool({});
  CHECK(r.exit_code == 2);
  CHECK(r.out.empty());
  check_lists_every_command(r.err);
  CHECK_THAT(r.err, Catch::Contains("no command given"));
}

TEST_CASE("help --man promises comma-separated lists only for address lists", "[cli]") {
  auto send = run_nettool({"help", "--man", "udp-send"});
  REQUIRE(send.exit_code == 0);
  // -M "a,b" sends one datagram "a,b": the page must not say it splits.
  CHECK(send.out.find("each use one item") != std::string::npos);
  CHECK(send.out.find("comma-separated list works too") == std::string::npos);
  auto listen = run_nettool({"help", "--man", "tcp-listen"});
  REQUIRE(listen.exit_code == 0);
  CHECK(listen.out.find("comma-separated list works too") != std::string::npos);  // --allow, --deny
}
