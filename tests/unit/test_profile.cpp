// YAML profiles: values, the command: key and every kind of error, with
// FILE:LINE:COL pointing at the offending text.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "nettool/error.h"
#include "nettool/host.h"
#include "test_schema.h"

using namespace nettool;
using namespace std::chrono_literals;
using nettool_test::schema;
using Catch::Contains;
using Catch::StartsWith;

namespace {

OptionValues apply_profile(const std::string& text) {
  OptionValues values;
  apply_defaults(schema(), values);
  Profile::parse(text, "test.yaml").apply(schema(), values);
  return values;
}

// The ConfigError message that applying `text` produces ("" when none).
std::string profile_error(const std::string& text) {
  try {
    apply_profile(text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

std::vector<std::string> cidr_strings(const std::vector<Cidr>& list) {
  std::vector<std::string> out;
  for (const auto& c : list) out.push_back(c.to_string());
  return out;
}

using Strings = std::vector<std::string>;

}  // namespace

TEST_CASE("A profile sets values of every type", "[profile]") {
  auto values = apply_profile(
      "host: 10\n"           // a number is fine for a string option
      "port: 9000\n"
      "keep-open: yes\n"
      "half-close: false\n"
      "timeout: 1.5s\n"
      "idle-timeout: 5m\n"
      "max-clients: -1\n"
      "chunk: 1MiB\n"
      "ports: 20-30\n"
      "root: /srv/files\n"
      "allow: [10.0.0.0/8, \"::1\"]\n"
      "deny: 10.0.0.66, 10.0.0.67\n"
      "header:\n"
      "  - 'X-A: 1'\n"
      "  - 'X-B: 2'\n");
  CHECK(values.get_string("host") == "10");
  CHECK(values.get_port("port") == 9000);
  CHECK(values.get_bool("keep-open"));
  CHECK_FALSE(values.get_bool("half-close"));
  CHECK(values.get_duration("timeout") == 1500ms);
  CHECK(values.get_duration("idle-timeout") == 5min);
  CHECK(values.get_int("max-clients") == -1);
  CHECK(values.get_size("chunk") == 1024u * 1024);
  CHECK(values.get_port_list("ports") == PortList{{20, 30}});
  CHECK(values.get_string("root") == "/srv/files");
  CHECK(cidr_strings(values.get_cidrs("allow")) == Strings{"10.0.0.0/8", "::1/128"});
  CHECK(cidr_strings(values.get_cidrs("deny")) == Strings{"10.0.0.66/32", "10.0.0.67/32"});
  CHECK(values.get_list("header") == Strings{"X-A: 1", "X-B: 2"});
  CHECK(values.source("port") == ValueSource::Profile);
  CHECK(values.source("deny") == ValueSource::Profile);
}

TEST_CASE("An empty profile or an empty list", "[profile]") {
  auto empty = apply_profile("");
  CHECK(empty.get_duration("idle-timeout") == 30s);
  CHECK(empty.source("idle-timeout") == ValueSource::Default);
  CHECK_FALSE(Profile::parse("# only a comment\n", "test.yaml").command().has_value());

  // An empty list in the profile clears a list's default.
  auto cleared = apply_profile("deny: []\n");
  CHECK(cleared.get_cidrs("deny").empty());
  CHECK(cleared.source("deny") == ValueSource::Profile);
}

TEST_CASE("Profile command: is read by command()", "[profile]") {
  auto profile = Profile::parse("command: tcp-listen\nport: 9000\n", "test.yaml");
  REQUIRE(profile.command().has_value());
  CHECK(*profile.command() == "tcp-listen");
  // command: is not an option of the schema, and apply() must not trip over it.
  OptionValues values;
  apply_defaults(schema(), values);
  CHECK_NOTHROW(profile.apply(schema(), values));
  CHECK(values.get_port("port") == 9000);

  CHECK_FALSE(Profile::parse("port: 9000\n", "test.yaml").command().has_value());
  CHECK_THROWS_WITH(Profile::parse("port: 1\ncommand: [a, b]\n", "test.yaml"),
                    StartsWith("test.yaml:2:") && Contains("'command' must name a command"));
  CHECK_THROWS_WITH(Profile::parse("command:\n", "test.yaml"), Contains("'command' must name a command"));
}

TEST_CASE("Profile: malformed YAML names the file, line and column", "[profile][errors]") {
  CHECK_THROWS_AS(Profile::parse("port: [1, 2\n", "test.yaml"), ConfigError);
  CHECK_THROWS_WITH(Profile::parse("port: 9000\nhost: a: b\n", "test.yaml"),
                    StartsWith("test.yaml:2:") && Contains("malformed YAML"));
  CHECK_THROWS_WITH(Profile::parse("port: 9000\n  host: x\n bad\n", "test.yaml"),
                    StartsWith("test.yaml:") && Contains("malformed YAML"));
  CHECK_THROWS_WITH(Profile::parse("port: 'x' y\n", "test.yaml"),
                    StartsWith("test.yaml:1:11: ") && Contains("malformed YAML"));
  CHECK_THROWS_WITH(Profile::parse("port: 1\n\thost: x\n", "test.yaml"),
                    StartsWith("test.yaml:2:1: ") && Contains("malformed YAML") && Contains("tab"));
  CHECK_THROWS_WITH(Profile::parse("port: *nowhere\n", "test.yaml"),
                    StartsWith("test.yaml:1:7: ") && Contains("malformed YAML"));
}

TEST_CASE("Profile: the top level must be a mapping", "[profile][errors]") {
  CHECK_THROWS_AS(Profile::parse("- port\n- 9000\n", "test.yaml"), ConfigError);
  CHECK_THROWS_WITH(Profile::parse("- port\n- 9000\n", "test.yaml"),
                    StartsWith("test.yaml:1:1: ") && Contains("must be a mapping"));
  CHECK_THROWS_WITH(Profile::parse("just some text\n", "test.yaml"), Contains("must be a mapping"));
  CHECK_THROWS_WITH(Profile::parse("? [a, b]\n: c\n", "test.yaml"), Contains("keys must be plain names"));
}

TEST_CASE("Profile: an unknown key names its line and suggests the closest", "[profile][errors]") {
  std::string msg = profile_error(
      "port: 9000\n"
      "keep-open: true\n"
      "idle-timout: 5s\n");
  CHECK_THAT(msg, StartsWith("test.yaml:3:1: "));
  CHECK_THAT(msg, Contains("unknown key 'idle-timout'"));
  CHECK_THAT(msg, Contains("did you mean 'idle-timeout'"));

  // Indented (flow or block) keys report their own column.
  CHECK_THAT(profile_error("{port: 1, kep-open: true}\n"),
             StartsWith("test.yaml:1:11: ") && Contains("did you mean 'keep-open'"));
  CHECK_THAT(profile_error("\n\n# comment\nzzzzzzzzzzzz: 1\n"),
             StartsWith("test.yaml:4:1: ") && Contains("unknown key 'zzzzzzzzzzzz'") && !Contains("did you mean"));
}

TEST_CASE("Profile: a value of the wrong type names the line of the value", "[profile][errors]") {
  SECTION("text that is not a port") {
    CHECK_THAT(profile_error("host: x\nport: abc\n"),
               StartsWith("test.yaml:2:7: ") && Contains("'port'") && Contains("invalid port 'abc'"));
  }
  SECTION("a mapping for a scalar option") {
    CHECK_THAT(profile_error("port: 1\nidle-timeout:\n  seconds: 5\n"),
               StartsWith("test.yaml:3:") && Contains("'idle-timeout'") && Contains("not a mapping"));
  }
  SECTION("a list for a scalar option") {
    CHECK_THAT(profile_error("port: [80, 81]\n"),
               StartsWith("test.yaml:1:7: ") && Contains("'port'") && Contains("not a list"));
    CHECK_THAT(profile_error("keep-open: true\nhost:\n  - a\n  - b\n"),
               StartsWith("test.yaml:3:") && Contains("'host'") && Contains("not a list"));
  }
  SECTION("a bad list item names its own line") {
    CHECK_THAT(profile_error("allow:\n  - 10.0.0.0/8\n  - bogus\n"),
               StartsWith("test.yaml:3:5: ") && Contains("'allow'") && Contains("'bogus'"));
    CHECK_THAT(profile_error("allow:\n  - 10.0.0.0/8\n  - {a: 1}\n"),
               StartsWith("test.yaml:3:") && Contains("list items must be plain values"));
  }
  SECTION("other types") {
    CHECK_THAT(profile_error("keep-open: maybe\n"), StartsWith("test.yaml:1:12: ") && Contains("'maybe'"));
    CHECK_THAT(profile_error("\ntimeout: 5x\n"), StartsWith("test.yaml:2:10: ") && Contains("'5x'"));
    CHECK_THAT(profile_error("chunk: 10q\n"), StartsWith("test.yaml:1:8: ") && Contains("'10q'"));
    CHECK_THAT(profile_error("max-clients: many\n"), StartsWith("test.yaml:1:14: ") && Contains("'many'"));
    CHECK_THAT(profile_error("ports: 30-20\n"), StartsWith("test.yaml:1:8: ") && Contains("reversed"));
  }
  CHECK_THROWS_AS(apply_profile("port: abc\n"), ConfigError);
}

TEST_CASE("Profile: a null value is refused", "[profile][errors]") {
  CHECK_THROWS_AS(apply_profile("port:\n"), ConfigError);
  // An empty value is reported at its key, not at whatever token follows it.
  CHECK_THAT(profile_error("host: x\nport:\n"),
             StartsWith("test.yaml:2:1: ") && Contains("'port'") && Contains("needs a value (port)"));
  CHECK_THAT(profile_error("port:\nhost: x\n"), StartsWith("test.yaml:1:1: ") && Contains("'port'"));
  CHECK_THAT(profile_error("port: 1\ntimeout:\n\n\n# trailing comment\n"),
             StartsWith("test.yaml:2:1: ") && Contains("'timeout'") && Contains("needs a value (duration)"));
  CHECK_THAT(profile_error("host: x\nport: ~\n"), StartsWith("test.yaml:2:") && Contains("needs a value"));
  CHECK_THAT(profile_error("allow: null\n"), StartsWith("test.yaml:1:") && Contains("needs a value"));
}

TEST_CASE("Profile: a duplicate key is refused at its second place", "[profile][errors]") {
  CHECK_THROWS_AS(apply_profile("port: 1\nport: 2\n"), ConfigError);
  CHECK_THAT(profile_error("port: 1\nhost: x\nport: 2\n"),
             StartsWith("test.yaml:3:1: ") && Contains("duplicate key 'port'"));
}

TEST_CASE("Profile: a second document or a second command: is refused, not ignored", "[profile][errors]") {
  CHECK_THAT(profile_error("port: 1\n---\nidle-timout: 1s\n"), StartsWith("test.yaml:") && Contains("one YAML document"));
  CHECK_THAT(profile_error("command: tcp-listen\nport: 1\ncommand: udp-send\n"),
             StartsWith("test.yaml:3:1: ") && Contains("duplicate key 'command'"));
}

TEST_CASE("Profile: text on which yaml-cpp finds documents forever is an error, not a hang", "[profile][errors]") {
  // Found by tests/fuzz/profile.cpp: YAML::LoadAll never returned on it.
  CHECK_THAT(profile_error("!,ech\x91\xfc"), StartsWith("test.yaml:") && Contains("must be a mapping"));
  CHECK_THAT(profile_error("port: 1\n!,ech\x91\xfc"), StartsWith("test.yaml:"));
}

TEST_CASE("Profile: aliases that repeat a large value past 16 MiB are refused", "[profile][errors]") {
  std::string text = "header:\n  - &big " + std::string(1024 * 1024, 'x') + "\n";
  for (int i = 0; i < 20; ++i) text += "  - *big\n";  // 21 MiB of values from 1 MiB of text
  CHECK_THAT(profile_error(text), Contains("more than 16 MiB"));
  std::string fine = "header:\n  - &v a-header-value\n";
  for (int i = 0; i < 1000; ++i) fine += "  - *v\n";
  CHECK(apply_profile(fine).get_list("header").size() == 1001);
}

TEST_CASE("Profile::load refuses a directory and anything over 1 MiB, and reads a pipe", "[profile][errors]") {
  auto dir = std::filesystem::temp_directory_path() / ("nettool-unit-profile-kinds-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  CHECK_THROWS_WITH(Profile::load(dir.string()), Contains("is a directory"));
  CHECK_THROWS_WITH(Profile::load("/dev/zero"), StartsWith("/dev/zero: ") && Contains("larger than 1 MiB"));
  auto big = (dir / "big.yaml").string();
  {
    std::ofstream out(big);
    out << "# " << std::string(1024 * 1024, 'x') << "\nport: 1\n";
  }
  CHECK_THROWS_WITH(Profile::load(big), Contains("larger than 1 MiB"));
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  REQUIRE(::write(fds[1], "command: tcp-listen\n", 20) == 20);
  ::close(fds[1]);
  auto piped = Profile::load("/dev/fd/" + std::to_string(fds[0]));
  ::close(fds[0]);
  CHECK(piped.command() == std::optional<std::string>("tcp-listen"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("Profile::load reads a file and names it in errors", "[profile][errors]") {
  auto dir = std::filesystem::temp_directory_path() / ("nettool-unit-profile-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto file = (dir / "serve.yaml").string();
  {
    std::ofstream out(file);
    out << "command: tcp-listen\nport: 7000\nidle-timout: 1s\n";
  }
  auto profile = Profile::load(file);
  CHECK(profile.command() == std::optional<std::string>("tcp-listen"));
  OptionValues values;
  CHECK_THROWS_WITH(profile.apply(schema(), values), StartsWith(file + ":3:1: ") && Contains("idle-timeout"));

  auto missing = (dir / "missing.yaml").string();
  CHECK_THROWS_AS(Profile::load(missing), ConfigError);
  CHECK_THROWS_WITH(Profile::load(missing), StartsWith(missing + ": ") && Contains("cannot read profile"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("Profile: a value out of its range or choices names the line of the value", "[profile][errors]") {
  static constexpr OptionSpec kBounded[] = {
      {.name = "count", .type = OptionType::Int, .help = "how many", .min = 1},
      {.name = "format", .type = OptionType::String, .help = "how", .choices = "text|json"},
  };
  auto error_of = [](const std::string& text) -> std::string {
    OptionValues values;
    apply_defaults(Schema(kBounded), values);
    try {
      Profile::parse(text, "test.yaml").apply(Schema(kBounded), values);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  };
  CHECK(error_of("format: json\ncount: 0\n") == "test.yaml:2:8: 'count': must be at least 1");
  CHECK(error_of("format: xml\n") == "test.yaml:1:9: 'format': expected text or json, got 'xml'");
  CHECK(error_of("count: 3\nformat: text\n").empty());
}

TEST_CASE("Profile: an option on the command line replaces the profile's option that excludes it", "[profile]") {
  static constexpr OptionSpec kEither[] = {
      {.name = "ca", .type = OptionType::String, .help = "trust these", .excludes = "pin"},
      {.name = "pin", .type = OptionType::String, .help = "or this key"},
      {.name = "mode", .type = OptionType::String, .default_value = "auto", .help = "how", .excludes = "raw"},
      {.name = "raw", .type = OptionType::Bool, .help = "no mode"},
  };
  const Schema schema(kEither);
  auto resolve = [&](const std::string& profile, std::vector<std::string> args) {
    OptionValues values;
    apply_defaults(schema, values);
    Profile::parse(profile, "test.yaml").apply(schema, values);
    apply_command_line(schema, args, values);
    give_way_to_command_line(schema, values);
    check_constraints(schema, values);
    return values;
  };
  auto v = resolve("ca: /etc/ca.pem\n", {"--pin", "sha256//x"});
  CHECK_FALSE(v.has("ca"));
  CHECK(v.get_string("pin") == "sha256//x");
  v = resolve("pin: sha256//x\n", {"--ca", "ca.pem"});
  CHECK_FALSE(v.has("pin"));
  CHECK(v.get_string("ca") == "ca.pem");
  v = resolve("mode: fast\n", {"--raw"});
  CHECK(v.get_string("mode") == "auto");  // back to its default, which is not "given"
  CHECK(v.get_bool("raw"));
  // From one place they still exclude each other.
  CHECK_THROWS_WITH(resolve("ca: a\npin: b\n", {}), "--ca and --pin exclude each other");
  CHECK_THROWS_WITH(resolve("", {"--ca", "a", "--pin", "b"}), "--ca and --pin exclude each other");
}
