// apply_command_line and check_required against a small static schema.
#include <catch2/catch.hpp>

#include "nettool/error.h"
#include "nettool/option_groups.h"
#include "nettool/options.h"
#include "nettool/tls.h"
#include "test_schema.h"

using namespace nettool;
using namespace std::chrono_literals;
using nettool_test::schema;

namespace {

OptionValues parse(const std::vector<std::string>& args) {
  OptionValues values;
  apply_defaults(schema(), values);
  apply_command_line(schema(), args, values);
  return values;
}

std::vector<std::string> cidr_strings(const std::vector<Cidr>& list) {
  std::vector<std::string> out;
  for (const auto& c : list) out.push_back(c.to_string());
  return out;
}

using Strings = std::vector<std::string>;

}  // namespace

TEST_CASE("apply_defaults sets every default and nothing else", "[cli]") {
  OptionValues values;
  apply_defaults(schema(), values);
  CHECK(values.get_duration("idle-timeout") == 30s);
  CHECK(values.get_int("max-clients") == 10);
  CHECK(values.get_size("chunk") == 64u * 1024);
  CHECK(values.get_bool("half-close") == true);
  CHECK(values.get_bool("keep-open") == false);
  CHECK(cidr_strings(values.get_cidrs("deny")) == Strings{"192.0.2.0/24"});
  CHECK(values.get_cidrs("allow").empty());
  CHECK(values.get_list("header").empty());
  CHECK_FALSE(values.has("host"));
  CHECK_FALSE(values.has("port"));
  CHECK_FALSE(values.has("timeout"));
  CHECK(values.source("idle-timeout") == ValueSource::Default);
}

TEST_CASE("Long flags take a separate or an attached value", "[cli]") {
  auto values = parse({"--timeout", "5s", "--max-clients=20", "--root", "/srv/files", "--chunk=1MiB", "--ports",
                       "20-30", "--port=9000"});
  CHECK(values.get_duration("timeout") == 5s);
  CHECK(values.get_int("max-clients") == 20);
  CHECK(values.get_string("root") == "/srv/files");
  CHECK(values.get_size("chunk") == 1024u * 1024);
  CHECK(values.get_port_list("ports") == PortList{{20, 30}});
  CHECK(values.get_port("port") == 9000);
  CHECK(values.source("timeout") == ValueSource::CommandLine);
  CHECK(values.source("max-clients") == ValueSource::CommandLine);
  CHECK(values.source("idle-timeout") == ValueSource::Default);

  // An attached value may contain '=' and may be empty for a string.
  auto v2 = parse({"--host=a=b", "1"});
  CHECK(v2.get_string("host") == "a=b");
  // The value after a flag is taken verbatim even when it starts with '-'.
  auto v3 = parse({"--max-clients", "-3", "1"});
  CHECK(v3.get_int("max-clients") == -3);
}

TEST_CASE("Short flags take a separate or an attached value", "[cli]") {
  CHECK(parse({"-w", "5"}).get_duration("timeout") == 5s);
  CHECK(parse({"-w5"}).get_duration("timeout") == 5s);
  CHECK(parse({"-w250ms"}).get_duration("timeout") == 250ms);
  CHECK(parse({"-m", "3"}).get_int("max-clients") == 3);
  CHECK(parse({"-m7"}).get_int("max-clients") == 7);
  CHECK(parse({"-r/tmp"}).get_string("root") == "/tmp");
  CHECK(parse({"-w5"}).source("timeout") == ValueSource::CommandLine);
}

TEST_CASE("Bool short flags group, and a value flag may end the group", "[cli]") {
  auto values = parse({"-kn"});
  CHECK(values.get_bool("keep-open"));
  CHECK(values.get_bool("numeric"));
  CHECK(values.source("keep-open") == ValueSource::CommandLine);

  auto with_value = parse({"-knw5"});
  CHECK(with_value.get_bool("keep-open"));
  CHECK(with_value.get_bool("numeric"));
  CHECK(with_value.get_duration("timeout") == 5s);

  auto separate = parse({"-kw", "2s", "9000"});
  CHECK(separate.get_bool("keep-open"));
  CHECK_FALSE(separate.get_bool("numeric"));
  CHECK(separate.get_duration("timeout") == 2s);
  CHECK(separate.get_port("port") == 9000);

  // Short flags are case-sensitive: -N is half-close, -n numeric.
  auto upper = parse({"-N"});
  CHECK(upper.get_bool("half-close"));
  CHECK_FALSE(upper.get_bool("numeric"));
}

TEST_CASE("Bool long flags: --name, --name=VALUE and --no-name", "[cli]") {
  CHECK(parse({"--keep-open"}).get_bool("keep-open"));
  CHECK_FALSE(parse({"--keep-open=false"}).get_bool("keep-open"));
  CHECK(parse({"--keep-open=yes"}).get_bool("keep-open"));

  auto negated = parse({"--no-half-close"});
  CHECK_FALSE(negated.get_bool("half-close"));
  CHECK(negated.source("half-close") == ValueSource::CommandLine);
  // The last one wins.
  CHECK(parse({"--no-keep-open", "--keep-open"}).get_bool("keep-open"));
  CHECK_FALSE(parse({"--keep-open", "--no-keep-open"}).get_bool("keep-open"));

  CHECK_THROWS_WITH(parse({"--no-keep-open=true"}), Catch::Contains("--no-keep-open takes no value"));
  CHECK_THROWS_WITH(parse({"--keep-open=maybe"}), Catch::Contains("--keep-open") && Catch::Contains("'maybe'"));
  // --no- only exists for booleans.
  CHECK_THROWS_WITH(parse({"--no-timeout"}), Catch::Contains("unknown option --no-timeout"));
  // A bool long flag does not swallow the next argument as its value.
  auto next = parse({"--keep-open", "9000"});
  CHECK(next.get_bool("keep-open"));
  CHECK(next.get_port("port") == 9000);
}

TEST_CASE("List options are repeatable and take comma-separated lists", "[cli]") {
  auto repeated = parse({"--allow", "10.0.0.0/8", "--allow", "::1"});
  CHECK(cidr_strings(repeated.get_cidrs("allow")) == Strings{"10.0.0.0/8", "::1/128"});

  auto commas = parse({"--allow=10.0.0.0/8,192.168.0.0/16", "--allow", "127.0.0.1"});
  CHECK(cidr_strings(commas.get_cidrs("allow")) == Strings{"10.0.0.0/8", "192.168.0.0/16", "127.0.0.1/32"});

  // The first --deny replaces the default list instead of adding to it.
  auto deny = parse({"--deny", "10.0.0.66", "--deny", "10.0.0.67"});
  CHECK(cidr_strings(deny.get_cidrs("deny")) == Strings{"10.0.0.66/32", "10.0.0.67/32"});

  auto headers = parse({"-H", "X-A: 1", "--header", "X-B: 2", "-HX-C: 3"});
  CHECK(headers.get_list("header") == Strings{"X-A: 1", "X-B: 2", "X-C: 3"});

  CHECK_THROWS_WITH(parse({"--allow", "10.0.0.0/8,bogus"}), Catch::Contains("--allow") && Catch::Contains("bogus"));
}

TEST_CASE("A list option given 100,000 times keeps every item in order", "[cli]") {
  // Each use appends in place: copying the list per use made 40,000 -M take 9 s.
  std::vector<std::string> args;
  for (int i = 0; i < 100000; ++i) {
    args.push_back("-H");
    args.push_back("X-" + std::to_string(i) + ": v");
  }
  auto values = parse(args);
  const auto& list = values.get_list("header");
  REQUIRE(list.size() == 100000);
  CHECK(list.front() == "X-0: v");
  CHECK(list[54321] == "X-54321: v");
  CHECK(list.back() == "X-99999: v");
}

TEST_CASE("Positionals fill in order, skipping a leading optional one", "[cli]") {
  SECTION("[HOST] PORT with only the port") {
    auto values = parse({"9000"});
    CHECK(values.get_port("port") == 9000);
    CHECK_FALSE(values.has("host"));
    CHECK(values.source("port") == ValueSource::CommandLine);
  }
  SECTION("[HOST] PORT with both") {
    auto values = parse({"127.0.0.1", "9000"});
    CHECK(values.get_string("host") == "127.0.0.1");
    CHECK(values.get_port("port") == 9000);
  }
  SECTION("positionals mixed with flags") {
    auto values = parse({"-k", "::1", "--timeout", "1s", "9000", "-n"});
    CHECK(values.get_string("host") == "::1");
    CHECK(values.get_port("port") == 9000);
    CHECK(values.get_bool("keep-open"));
    CHECK(values.get_bool("numeric"));
    CHECK(values.get_duration("timeout") == 1s);
  }
  SECTION("a lone '-' is a positional") {
    auto values = parse({"-", "9000"});
    CHECK(values.get_string("host") == "-");
  }
  SECTION("a bad positional names its value name") {
    CHECK_THROWS_WITH(parse({"localhost", "http"}), Catch::Contains("PORT") && Catch::Contains("'http'"));
    // With one argument it is the port, not the host.
    CHECK_THROWS_WITH(parse({"localhost"}), Catch::Contains("PORT") && Catch::Contains("'localhost'"));
  }
}

TEST_CASE("'--' ends the flags", "[cli]") {
  auto values = parse({"-k", "--", "--weird-host", "9000"});
  CHECK(values.get_bool("keep-open"));
  CHECK(values.get_string("host") == "--weird-host");
  CHECK(values.get_port("port") == 9000);

  auto flag_like = parse({"--", "-n", "1"});
  CHECK(flag_like.get_string("host") == "-n");
  CHECK_FALSE(flag_like.get_bool("numeric"));
}

// The front end asks value_is_next_word before it reads a word as a global
// flag (-v, -q, -c), so its answer must be the parser's own.
TEST_CASE("value_is_next_word says which flags take the next word as their value", "[cli]") {
  for (const char* word : {"--timeout", "-w", "-kw", "-knw", "--header", "-H", "-kH", "--root", "--max-clients"}) {
    INFO(word);
    CHECK(value_is_next_word(schema(), word));
  }
  for (const char* word : {"--timeout=5", "-w5", "-kw5", "-k", "-kn", "--keep-open", "--no-keep-open",
                           "--keep-open=true", "-", "--", "", "9000", "--frobnicate", "-x", "-xw", "-v", "-q"}) {
    INFO(word);
    CHECK_FALSE(value_is_next_word(schema(), word));
  }
  // What the parser does with the same words: "-n" after a value flag is its value.
  for (const char* word : {"-H", "--header", "-kH"}) {
    INFO(word);
    auto values = parse({word, "-n", "9000"});
    CHECK(values.get_list("header") == Strings{"-n"});
    CHECK_FALSE(values.get_bool("numeric"));
  }
  CHECK(parse({"-k", "-n", "9000"}).get_bool("numeric"));
  CHECK(parse({"-H-x", "-n", "9000"}).get_bool("numeric"));
}

namespace {

// An option with a second short letter, as udp-send's --wait has (-w, nc's
// spelling, and -W): each letter alone, with its value attached or in the
// next word, and in a cluster after bool letters, one of them an alias too.
constexpr OptionSpec kAliasSchema[] = {
    {.name = "keep-open", .short_flag = 'k', .type = OptionType::Bool},
    {.name = "numeric", .short_flag = 'n', .type = OptionType::Bool, .short_alias = 'N'},
    {.name = "wait", .short_flag = 'w', .type = OptionType::Duration, .help = "print replies", .short_alias = 'W'},
    {.name = "host", .type = OptionType::String, .value_name = "HOST", .positional = 0},
};

OptionValues parse_aliased(const std::vector<std::string>& args) {
  OptionValues values;
  apply_defaults(kAliasSchema, values);
  apply_command_line(kAliasSchema, args, values);
  return values;
}

}  // namespace

TEST_CASE("options: a short alias works as its short flag does: alone or attached or separate or in a cluster",
          "[cli][options]") {
  for (const Strings& args : {Strings{"-w1"}, Strings{"-w", "1"}, Strings{"-W1"}, Strings{"-W", "1"},
                              Strings{"--wait", "1"}}) {
    INFO(args[0]);
    auto values = parse_aliased(args);
    CHECK(values.get_duration("wait") == 1s);
    CHECK(values.source("wait") == ValueSource::CommandLine);
  }
  auto cluster = parse_aliased({"-kNw1", "h"});
  CHECK(cluster.get_bool("keep-open"));
  CHECK(cluster.get_bool("numeric"));  // -N, numeric's alias
  CHECK(cluster.get_duration("wait") == 1s);
  CHECK(cluster.get_string("host") == "h");
  auto separate = parse_aliased({"-kW", "250ms", "h"});
  CHECK(separate.get_duration("wait") == 250ms);
  CHECK(separate.get_string("host") == "h");

  // The front end's question gets the parser's answer for the alias too.
  for (const char* word : {"-w", "-W", "-kW", "-NW"}) {
    INFO(word);
    CHECK(value_is_next_word(kAliasSchema, word));
  }
  for (const char* word : {"-W1", "-kW1", "-N", "-kN"}) {
    INFO(word);
    CHECK_FALSE(value_is_next_word(kAliasSchema, word));
  }
  CHECK(find_short_option(kAliasSchema, 'W') == &kAliasSchema[2]);
  CHECK(find_short_option(kAliasSchema, 'x') == nullptr);
  CHECK(find_short_option(kAliasSchema, 0) == nullptr);  // "no letter" is nobody's letter

  // Errors name the letter as typed; help lists both letters.
  CHECK_THROWS_WITH(parse_aliased({"-W"}), Catch::Contains("-W needs a value"));
  CHECK_THROWS_WITH(parse_aliased({"-W", "soon"}), Catch::StartsWith("-W: ") && Catch::Contains("'soon'"));
  std::string help = format_help("test", "a test", kAliasSchema);
  CHECK_THAT(help, Catch::Contains("  -w, -W, --wait DURATION") && Catch::Contains("  -n, -N, --numeric"));
  CHECK_THAT(help, Catch::Contains("  -k, --keep-open"));
}

TEST_CASE("Unknown options are refused with a suggestion", "[cli]") {
  CHECK_THROWS_AS(parse({"--idle-timout", "5s"}), ConfigError);
  CHECK_THROWS_WITH(parse({"--idle-timout", "5s"}), Catch::Contains("unknown option --idle-timout") &&
                                                         Catch::Contains("did you mean --idle-timeout?"));
  CHECK_THROWS_WITH(parse({"--keep-opne"}), Catch::Contains("did you mean --keep-open?"));
  CHECK_THROWS_WITH(parse({"--alow=10.0.0.0/8"}), Catch::Contains("unknown option --alow") &&
                                                      Catch::Contains("did you mean --allow?"));
  CHECK_THROWS_WITH(parse({"--frobnicate-everything"}), Catch::Contains("unknown option --frobnicate-everything") &&
                                                            !Catch::Contains("did you mean"));
  CHECK_THROWS_WITH(parse({"-x"}), Catch::Contains("unknown option -x"));
  CHECK_THROWS_WITH(parse({"-kx"}), Catch::Contains("unknown option -x"));
}

namespace {

// A TLS client shaped like tcp-connect's options and a server like
// tcp-listen's (-k is its own letter there; it has no --tls-ca).
constexpr OptionSpec kKeepOpen[] = {{.name = "keep-open", .short_flag = 'k', .type = OptionType::Bool}};
constexpr auto kTlsClient = join_options(kConnectOptions, kProxyOptions, kTlsClientOptions, kTapOptions);
constexpr auto kTlsServer = join_options(kKeepOpen, kTlsServerOptions);

// The message apply_command_line refuses `args` with.
std::string refusal(Schema schema, const std::vector<std::string>& args) {
  OptionValues values;
  apply_defaults(schema, values);
  try {
    apply_command_line(schema, args, values);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(accepted)";
}

}  // namespace

TEST_CASE("another tool's spelling of an option names ours instead of a near name", "[cli]") {
  CHECK(refusal(kTlsClient, {"--cacert", "ca.pem"}) == "unknown option --cacert (curl's --cacert is --tls-ca here)");
  for (const char* insecure : {"-k", "--insecure", "-4k", "-k4"}) {
    INFO(insecure);
    CHECK_THAT(refusal(kTlsClient, {insecure}),
               Catch::Contains("unknown option -") &&
                   Catch::Contains("(curl's -k/--insecure is --tls-no-verify here; it warns on every run)"));
  }
  CHECK(refusal(kTlsClient, {"--ssl"}) == "unknown option --ssl (ncat's --ssl is --tls here)");
  CHECK(refusal(kTlsClient, {"--ssl-trustfile=ca.pem"}) ==
        "unknown option --ssl-trustfile (ncat's --ssl-trustfile is --tls-ca here)");
  CHECK(refusal(kTlsClient, {"--tlsv1.3"}) == "unknown option --tlsv1.3 (curl's --tlsv1.3 is --tls-min-version 1.3 here)");
  CHECK(refusal(kTlsClient, {"--connect-timeout", "5"}) ==
        "unknown option --connect-timeout (curl's --connect-timeout is -w/--timeout here; it applies per address tried)");
  // --cert is close to --tls-cert, but curl's meaning says more.
  CHECK(refusal(kTlsClient, {"--cert", "c.pem"}) == "unknown option --cert (curl's -E/--cert is --tls-cert here)");
  // s_client's words are named whole, even when a letter of theirs is ours (-C).
  CHECK(refusal(kTlsClient, {"-CAfile", "ca.pem"}) == "unknown option -CAfile (s_client's -CAfile is --tls-ca here)");
  CHECK(refusal(kTlsClient, {"-key", "k.pem"}) == "unknown option -key (s_client's -key is --tls-key here)");
  // A long word of another tool's is not a cluster with curl's -k in it.
  CHECK(refusal(kTlsClient, {"-keylogfile", "keys"}) == "unknown option -k");
  // ncat's -x is a hex dump, curl's a proxy: the first the command has.
  CHECK(foreign_option_hint(kTlsClient, "-x") == "ncat's -x is --hex-dump here");
  CHECK(foreign_option_hint(join_options(kProxyOptions, kTlsClientOptions), "-x") == "curl's -x is --proxy here");

  // The server has no --tls-ca and no --tls-no-verify: no hint, nor a guess.
  CHECK(refusal(kTlsServer, {"--cacert", "ca.pem"}) == "unknown option --cacert");
  CHECK(refusal(kTlsServer, {"--ssl-trustfile", "ca.pem"}) == "unknown option --ssl-trustfile");
  CHECK(refusal(kTlsServer, {"--ssl-verify"}) == "unknown option --ssl-verify");
  CHECK(refusal(kTlsServer, {"--ssl-cert", "c.pem"}) == "unknown option --ssl-cert (ncat's --ssl-cert is --tls-cert here)");
  // -k is its own; --insecure has no equivalent here.
  CHECK(refusal(kTlsServer, {"-k"}) == "(accepted)");
  CHECK(refusal(kTlsServer, {"--insecure"}) == "unknown option --insecure");
  // Without a foreign spelling, the near name is still suggested.
  CHECK(refusal(kTlsServer, {"--tls-cer", "c.pem"}) == "unknown option --tls-cer (did you mean --tls-cert?)");
  CHECK_FALSE(foreign_option_hint(kTlsClient, "--frobnicate").has_value());
}

TEST_CASE("A flag without its value is refused", "[cli]") {
  CHECK_THROWS_AS(parse({"--timeout"}), ConfigError);
  CHECK_THROWS_WITH(parse({"--timeout"}), Catch::Contains("--timeout needs a value") && Catch::Contains("duration"));
  CHECK_THROWS_WITH(parse({"9000", "-w"}), Catch::Contains("-w needs a value"));
  CHECK_THROWS_WITH(parse({"-kw"}), Catch::Contains("-w needs a value"));
  CHECK_THROWS_WITH(parse({"--allow"}), Catch::Contains("--allow needs a value"));
}

TEST_CASE("Bad values name the flag and the text", "[cli]") {
  CHECK_THROWS_WITH(parse({"--max-clients", "ten"}), Catch::StartsWith("--max-clients: ") && Catch::Contains("'ten'"));
  CHECK_THROWS_WITH(parse({"-w", "5x"}), Catch::StartsWith("-w: ") && Catch::Contains("'5x'"));
  CHECK_THROWS_WITH(parse({"--port=65536"}), Catch::StartsWith("--port: ") && Catch::Contains("out of range"));
  CHECK_THROWS_WITH(parse({"--ports", "30-20"}), Catch::Contains("reversed"));
  CHECK_THROWS_WITH(parse({"--root="}), Catch::Contains("empty path"));
}

TEST_CASE("An extra positional argument is refused", "[cli]") {
  CHECK_THROWS_AS(parse({"host", "1", "extra"}), ConfigError);
  CHECK_THROWS_WITH(parse({"host", "1", "extra", "more"}), Catch::Contains("unexpected argument 'extra'"));
}

TEST_CASE("check_required reports a missing required positional", "[cli]") {
  SECTION("nothing given") {
    auto values = parse({});
    CHECK_THROWS_AS(check_required(schema(), values), ConfigError);
    CHECK_THROWS_WITH(check_required(schema(), values), Catch::Contains("missing PORT"));
  }
  SECTION("only flags given") {
    auto values = parse({"-k"});
    CHECK_THROWS_WITH(check_required(schema(), values), Catch::Contains("missing PORT") && Catch::Contains("'port:'"));
  }
  SECTION("given as a positional") { CHECK_NOTHROW(check_required(schema(), parse({"9000"}))); }
  SECTION("given as a flag") { CHECK_NOTHROW(check_required(schema(), parse({"--port", "0"}))); }
  SECTION("optional positionals are not required") {
    auto values = parse({"1"});
    CHECK_FALSE(values.has("host"));
    CHECK_NOTHROW(check_required(schema(), values));
  }
}
