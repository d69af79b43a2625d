// The schema's own checks (choices, ranges, exclusions), strict option names,
// and the option groups every plugin shares (option_groups.h).
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <sys/socket.h>

#include "nettool/error.h"
#include "nettool/option_groups.h"

using namespace nettool;
using namespace std::chrono_literals;

namespace {

constexpr OptionSpec kOwn[] = {
    {"host", 0, OptionType::String, "", "host", "HOST", 0, true},
    {.name = "mode", .type = OptionType::String, .default_value = "auto", .help = "mode", .choices = "auto|always|never"},
    {.name = "count", .type = OptionType::Int, .default_value = "1", .help = "count", .min = 1},
    {.name = "ttl", .type = OptionType::Int, .help = "ttl", .min = 1, .max = 255},
    {.name = "chunk", .type = OptionType::Size, .help = "chunk", .max = 1024},
    {.name = "wait", .type = OptionType::Duration, .help = "wait", .min = 1},
    {.name = "echo", .type = OptionType::Bool, .help = "echo", .excludes = "exec sh-exec"},
};
constexpr auto kSchema = join_options(kOwn, kConnectOptions, kBridgeOptions);

OptionValues parse(const std::vector<std::string>& args) {
  OptionValues values;
  apply_defaults(kSchema, values);
  apply_command_line(kSchema, args, values);
  check_constraints(kSchema, values);
  return values;
}

std::string refusal(const std::vector<std::string>& args) {
  try {
    parse(args);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(accepted)";
}

}  // namespace

TEST_CASE("join_options puts the tables one after the other", "[options][groups]") {
  static_assert(kSchema.size() == std::size(kOwn) + kConnectOptions.size() + std::size(kBridgeOptions));
  CHECK(kSchema[0].name == "host");
  CHECK(kSchema[std::size(kOwn)].name == "ipv4");
  CHECK(kSchema.back().name == "sh-exec");
  // Names and short flags stay unique across the groups.
  for (size_t i = 0; i < kSchema.size(); ++i)
    for (size_t j = i + 1; j < kSchema.size(); ++j) {
      INFO(kSchema[i].name << " / " << kSchema[j].name);
      CHECK(kSchema[i].name != kSchema[j].name);
      if (kSchema[i].short_flag) CHECK(kSchema[i].short_flag != kSchema[j].short_flag);
    }
}

TEST_CASE("reading an option the schema does not declare is a programming error, not 'unset'", "[options]") {
  OptionValues values = parse({"h"});
  CHECK_THROWS_AS(values.get_bool("echoo"), std::logic_error);
  CHECK_THROWS_AS(values.has("tiemout"), std::logic_error);
  CHECK_THROWS_AS(values.get_string("hots"), std::logic_error);
  CHECK_NOTHROW(values.get_bool("echo"));
}

TEST_CASE("check_constraints: choices, ranges and exclusions from the schema", "[options]") {
  CHECK(refusal({"h", "--mode", "sometimes"}) == "--mode: expected auto, always or never, got 'sometimes'");
  CHECK(refusal({"h", "--count", "0"}) == "--count must be at least 1");
  CHECK(refusal({"h", "--ttl", "256"}) == "--ttl must be 1 to 255");
  CHECK(refusal({"h", "--chunk", "2KiB"}) == "--chunk must be at most 1024 bytes");
  CHECK(refusal({"h", "--wait", "0"}) == "--wait must be at least 1ms");
  CHECK(refusal({"h", "-w", "0"}) == "(accepted)");  // 0: no limit, as before the groups
  CHECK(refusal({"h", "-4", "-6"}) == "--ipv4 and --ipv6 exclude each other");
  CHECK(refusal({"h", "--send-only", "-d"}) == "--send-only and --recv-only exclude each other");
  CHECK(refusal({"h", "-e", "cat", "--sh-exec", "cat"}) == "--exec and --sh-exec exclude each other");
  CHECK(refusal({"h", "--echo", "--sh-exec", "cat"}) == "--echo and --sh-exec exclude each other");
  // A bool set to false is not "given": --no-ipv4 -6 is fine.
  CHECK(refusal({"h", "--no-ipv4", "-6"}) == "(accepted)");
  CHECK(refusal({"h", "--mode", "never", "--ttl", "255", "--count", "3"}) == "(accepted)");
}

TEST_CASE("check_constraints refuses a schema whose excludes names an undeclared option", "[options]") {
  constexpr OptionSpec kBroken[] = {{.name = "a", .type = OptionType::Bool, .help = "a", .excludes = "b"}};
  OptionValues values;
  apply_defaults(kBroken, values);
  CHECK_THROWS_AS(check_constraints(kBroken, values), std::logic_error);
}

TEST_CASE("the connect group reads -4 -6 -n -w -s -p into TcpConnector options", "[options][groups]") {
  TcpConnector::Options none = connect_options(parse({"h"}));
  CHECK(none.resolve.family == AF_UNSPEC);
  CHECK_FALSE(none.resolve.numeric_only);
  CHECK(none.timeout == 0ms);
  CHECK_FALSE(none.source_host);
  CHECK_FALSE(none.source_port);
  TcpConnector::Options all = connect_options(parse({"h", "-6n", "-w", "2.5s", "-s", "::1", "-p", "4000"}));
  CHECK(all.resolve.family == AF_INET6);
  CHECK(all.resolve.numeric_only);
  CHECK(all.timeout == 2500ms);
  CHECK(all.source_host == "::1");
  CHECK(all.source_port == 4000);
  CHECK(address_family_options(parse({"h", "-4"})).family == AF_INET);
  CHECK_FALSE(source_options(parse({"h", "-s", ""})).host);  // an empty source is no source
}

TEST_CASE("without_letters: a group minus one option's letter, still read by the group's reader",
          "[options][groups]") {
  // file-get's -s is curl's --silent: it takes the connect group without -s.
  static constexpr OptionSpec kSilent[] = {{.name = "silent", .short_flag = 's', .type = OptionType::Bool, .help = "s"}};
  static constexpr auto kNoS = join_options(kSilent, without_letters(kConnectOptions, "source"));
  static_assert(kNoS.size() == 1 + kConnectOptions.size());
  CHECK(find_short_option(kNoS, 's')->name == "silent");
  CHECK(find_short_option(kNoS, 'p')->name == "source-port");  // the group's other letters stay
  CHECK(find_short_option(kNoS, 'w')->name == "timeout");
  // The original group is untouched.
  CHECK(find_short_option(kConnectOptions, 's')->name == "source");

  OptionValues values;
  apply_defaults(kNoS, values);
  apply_command_line(kNoS, {"--source", "::1", "-sp", "4000"}, values);
  TcpConnector::Options o = connect_options(values);
  CHECK(o.source_host == "::1");
  CHECK(o.source_port == 4000);
  CHECK(values.get_bool("silent"));
}

TEST_CASE("the bridge group: policy per option, and a child always waits for both sides", "[options][groups]") {
  BridgeOptions plain = bridge_options(parse({"h", "--no-half-close", "--no-wait-stdin", "-d", "-i", "3s"}));
  Bridge::Policy p = plain.policy(nullptr);
  CHECK_FALSE(p.half_close);
  CHECK(p.recv_only);
  CHECK_FALSE(p.send_only);
  CHECK_FALSE(p.wait_for_both);
  CHECK(p.idle_timeout == 3s);
  CHECK_FALSE(p.to_network);
  CHECK_FALSE(plain.exec);

  BridgeOptions child = bridge_options(parse({"h", "--sh-exec", "cat | wc", "--no-half-close", "--no-wait-stdin", "-C"}));
  REQUIRE(child.exec);
  CHECK(*child.exec == "cat | wc");
  CHECK(child.exec_through_shell);
  Bridge::Policy c = child.policy(nullptr);
  CHECK(c.half_close);
  CHECK(c.wait_for_both);
  CHECK(c.to_network);  // --crlf: a transform of its own per policy
  BridgeOptions direct = bridge_options(parse({"h", "-e", "/bin/cat"}));
  CHECK(direct.exec == "/bin/cat");
  CHECK_FALSE(direct.exec_through_shell);
  // No command is a usage error at start, not a failure per client.
  CHECK_THROWS_WITH(bridge_options(parse({"h", "--exec", ""})), Catch::Contains("--exec: no command given"));
  CHECK_THROWS_WITH(bridge_options(parse({"h", "--exec", " \t "})), Catch::Contains("--exec: no command given"));
  CHECK_THROWS_WITH(bridge_options(parse({"h", "--sh-exec", ""})), Catch::Contains("--sh-exec: no command given"));
}

TEST_CASE("the listen group reads --allow, --deny and --backlog, and admits by them", "[options][groups]") {
  constexpr auto kListen = join_options(kListenOptions);
  OptionValues values;
  apply_defaults(kListen, values);
  apply_command_line(kListen, {"--allow", "127.0.0.0/8", "--deny", "127.0.0.2", "--backlog", "16"}, values);
  check_constraints(kListen, values);
  ListenOptions l = listen_options(values);
  CHECK(l.backlog == 16);
  sockaddr_in one{}, two{}, other{};
  for (auto [addr, text] : {std::pair{&one, "127.0.0.1"}, {&two, "127.0.0.2"}, {&other, "10.0.0.1"}}) {
    addr->sin_family = AF_INET;
    inet_pton(AF_INET, text, &addr->sin_addr);
  }
  CHECK(l.admits(reinterpret_cast<sockaddr*>(&one)));
  CHECK_FALSE(l.admits(reinterpret_cast<sockaddr*>(&two)));
  CHECK_FALSE(l.admits(reinterpret_cast<sockaddr*>(&other)));
  OptionValues bad;
  apply_defaults(kListen, bad);
  apply_command_line(kListen, {"--backlog", "0"}, bad);
  CHECK_THROWS_AS(check_constraints(kListen, bad), ConfigError);
}

TEST_CASE("an empty --allow or --deny list is refused, never read as allow-all", "[options][groups]") {
  constexpr auto kListen = join_options(kListenOptions);
  for (std::string name : {"allow", "deny"}) {
    INFO(name);
    for (const char* empty : {"", ",", " "}) {
      OptionValues values;
      apply_defaults(kListen, values);
      CHECK_THROWS_WITH(apply_command_line(kListen, {"--" + name, empty}, values),
                        Catch::Contains("--" + name) && Catch::Contains("needs at least one address or network"));
    }
    // A profile's empty list ("allow: []") reaches the reader: refused there.
    OptionValues values;
    apply_defaults(kListen, values);
    values.set(name, std::vector<Cidr>{}, ValueSource::Profile);
    CHECK_THROWS_WITH(listen_options(values), "--" + name + " needs at least one address or network");
  }
  OptionValues none;
  apply_defaults(kListen, none);
  CHECK(listen_options(none).allow.empty());  // not given: no rule
}
