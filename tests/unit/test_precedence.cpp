// Precedence: built-in default < YAML profile < command line.
#include <catch2/catch.hpp>

#include "nettool/host.h"
#include "test_schema.h"

using namespace nettool;
using namespace std::chrono_literals;
using nettool_test::schema;

namespace {

OptionValues layered(const std::string& profile_text, const std::vector<std::string>& args) {
  OptionValues values;
  apply_defaults(schema(), values);
  Profile::parse(profile_text, "test.yaml").apply(schema(), values);
  apply_command_line(schema(), args, values);
  return values;
}

std::vector<std::string> cidr_strings(const std::vector<Cidr>& list) {
  std::vector<std::string> out;
  for (const auto& c : list) out.push_back(c.to_string());
  return out;
}

using Strings = std::vector<std::string>;

const std::string kProfile =
    "command: tcp-listen\n"
    "port: 9000\n"
    "keep-open: true\n"
    "half-close: false\n"
    "idle-timeout: 10s\n"
    "max-clients: 5\n"
    "allow: [10.0.0.0/8, 192.168.0.0/16]\n"
    "header: ['X-Profile: 1']\n";

}  // namespace

TEST_CASE("Precedence: the profile overrides defaults, the command line overrides both", "[precedence]") {
  auto values = layered(kProfile, {"--idle-timeout", "2s", "-m", "50", "8000"});
  // Command line wins.
  CHECK(values.get_duration("idle-timeout") == 2s);
  CHECK(values.source("idle-timeout") == ValueSource::CommandLine);
  CHECK(values.get_int("max-clients") == 50);
  CHECK(values.get_port("port") == 8000);
  CHECK(values.source("port") == ValueSource::CommandLine);
  // Profile wins over defaults where the command line is silent.
  CHECK(values.get_bool("keep-open"));
  CHECK(values.source("keep-open") == ValueSource::Profile);
  CHECK_FALSE(values.get_bool("half-close"));
  CHECK(values.source("half-close") == ValueSource::Profile);
  // Defaults remain where neither says anything.
  CHECK(values.get_size("chunk") == 64u * 1024);
  CHECK(values.source("chunk") == ValueSource::Default);
  CHECK(cidr_strings(values.get_cidrs("deny")) == Strings{"192.0.2.0/24"});
  CHECK_FALSE(values.has("timeout"));
}

TEST_CASE("Precedence: the command line can switch a profile's bool back", "[precedence]") {
  auto values = layered(kProfile, {"--no-keep-open", "--half-close"});
  CHECK_FALSE(values.get_bool("keep-open"));
  CHECK(values.get_bool("half-close"));
  CHECK(values.source("keep-open") == ValueSource::CommandLine);
  CHECK(values.get_port("port") == 9000);  // still from the profile
}

TEST_CASE("Precedence: a command-line list replaces the profile's list", "[precedence]") {
  SECTION("one value") {
    auto values = layered(kProfile, {"--allow", "::1"});
    CHECK(cidr_strings(values.get_cidrs("allow")) == Strings{"::1/128"});
    CHECK(values.source("allow") == ValueSource::CommandLine);
  }
  SECTION("repeated and comma-separated values accumulate among themselves") {
    auto values = layered(kProfile, {"--allow", "::1", "--allow=127.0.0.1,172.16.0.0/12"});
    CHECK(cidr_strings(values.get_cidrs("allow")) == Strings{"::1/128", "127.0.0.1/32", "172.16.0.0/12"});
  }
  SECTION("string lists too") {
    auto values = layered(kProfile, {"-H", "X-Cli: 1", "-H", "X-Cli: 2"});
    CHECK(values.get_list("header") == Strings{"X-Cli: 1", "X-Cli: 2"});
  }
  SECTION("without a command-line value the profile's list stays") {
    auto values = layered(kProfile, {});
    CHECK(cidr_strings(values.get_cidrs("allow")) == Strings{"10.0.0.0/8", "192.168.0.0/16"});
    CHECK(values.get_list("header") == Strings{"X-Profile: 1"});
    CHECK(values.source("allow") == ValueSource::Profile);
  }
}
