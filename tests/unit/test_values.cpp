// Value parsers of the option schema: every type, good and bad input.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netdb.h>

#include <optional>

#include "nettool/error.h"
#include "nettool/options.h"

using namespace nettool;
using namespace std::chrono_literals;

TEST_CASE("parse_duration accepts ms, s, m, h, fractions and bare seconds", "[values][duration]") {
  CHECK(parse_duration("250ms") == 250ms);
  CHECK(parse_duration("30s") == 30s);
  CHECK(parse_duration("5m") == 5min);
  CHECK(parse_duration("1h") == 1h);
  CHECK(parse_duration("1.5s") == 1500ms);
  CHECK(parse_duration("0.25m") == 15s);
  CHECK(parse_duration("5") == 5s);  // nc -w 5
  CHECK(parse_duration("0") == 0ms);
  CHECK(parse_duration(" 2s ") == 2s);
  CHECK(parse_duration("3SEC") == 3s);
  CHECK(parse_duration("2min") == 2min);
}

TEST_CASE("parse_duration rejects malformed text with a message naming it", "[values][duration]") {
  for (const char* bad : {"", "abc", "5x", "-1s", "1..2s", "s", ".", "1s2", "1e3s"}) {
    INFO("input: '" << bad << "'");
    CHECK_THROWS_AS(parse_duration(bad), ConfigError);
  }
  CHECK_THROWS_WITH(parse_duration("5x"), Catch::Contains("'5x'") && Catch::Contains("unknown unit 'x'"));
  CHECK_THROWS_WITH(parse_duration("abc"), Catch::Contains("invalid duration 'abc'"));
  CHECK_THROWS_WITH(parse_duration("99999999999999h"), Catch::Contains("too long"));
}

TEST_CASE("parse_duration is exact: whole milliseconds, or a clear refusal", "[values][duration]") {
  // A double once made 0.4ms into 0 (no wait at all) and rounded the rest.
  CHECK(parse_duration("1.50s") == 1500ms);
  CHECK(parse_duration(".5s") == 500ms);
  CHECK(parse_duration("0.001s") == 1ms);
  CHECK(parse_duration("1000000000000ms") == Duration(1'000'000'000'000));
  CHECK_THROWS_WITH(parse_duration("0.4ms"), Catch::Contains("'0.4ms' is not a whole number of milliseconds"));
  CHECK_THROWS_WITH(parse_duration("1.0005s"), Catch::Contains("not a whole number of milliseconds"));
  CHECK_THROWS_WITH(parse_duration("1000000000001ms"), Catch::Contains("too long"));
}

TEST_CASE("parse_size accepts binary and decimal units and bare bytes", "[values][size]") {
  CHECK(parse_size("512") == 512u);
  CHECK(parse_size("64KiB") == 64u * 1024);
  CHECK(parse_size("1MiB") == 1024u * 1024);
  CHECK(parse_size("10k") == 10'000u);
  CHECK(parse_size("10kB") == 10'000u);
  CHECK(parse_size("2GB") == 2'000'000'000u);
  CHECK(parse_size("1GiB") == 1024ull * 1024 * 1024);
  CHECK(parse_size("1.5KiB") == 1536u);
  CHECK(parse_size("7B") == 7u);
  CHECK(parse_size("0") == 0u);
}

TEST_CASE("parse_size rejects bad numbers, units and fractional bytes", "[values][size]") {
  for (const char* bad : {"", "KiB", "10q", "10 KB/s", "-5", "1..2k", "1.5", "0.1k5"}) {
    INFO("input: '" << bad << "'");
    CHECK_THROWS_AS(parse_size(bad), ConfigError);
  }
  CHECK_THROWS_WITH(parse_size("10q"), Catch::Contains("'10q'") && Catch::Contains("unknown unit 'q'"));
  CHECK_THROWS_WITH(parse_size("1.5"), Catch::Contains("whole number of bytes"));
  CHECK_THROWS_WITH(parse_size("100000000TiB"), Catch::Contains("too large"));
}

TEST_CASE("parse_size is exact to the byte, up to the largest 64-bit size", "[values][size]") {
  // Through a double, 1.001kB was "not a whole number of bytes" and
  // 9007199254740993 became ...992.
  CHECK(parse_size("1.001kB") == 1001u);
  CHECK(parse_size("9007199254740993") == 9007199254740993ull);
  CHECK(parse_size("18446744073709551615") == UINT64_MAX);
  CHECK(parse_size("0.5KiB") == 512u);
  CHECK(parse_size("1.0000B") == 1u);
  CHECK_THROWS_WITH(parse_size("18446744073709551616"), Catch::Contains("too large"));
  CHECK_THROWS_WITH(parse_size("0.0001kB"), Catch::Contains("not a whole number of bytes"));
}

TEST_CASE("parse_port accepts 0..65535 and nothing else", "[values][port]") {
  CHECK(parse_port("0") == 0);
  CHECK(parse_port("80") == 80);
  CHECK(parse_port("65535") == 65535);
  CHECK(parse_port(" 443 ") == 443);
  CHECK_THROWS_AS(parse_port("65536"), ConfigError);
  CHECK_THROWS_WITH(parse_port("65536"), Catch::Contains("'65536'") && Catch::Contains("out of range"));
  CHECK_THROWS_WITH(parse_port("x"), Catch::Contains("invalid port 'x'"));
  for (const char* bad : {"", "-1", "80x", "8 0", "99999999999", "0x50"}) {
    INFO("input: '" << bad << "'");
    CHECK_THROWS_AS(parse_port(bad), ConfigError);
  }
}

TEST_CASE("parse_port_list accepts a port or an ordered range", "[values][port]") {
  CHECK(parse_port_list("20-30") == PortList{{20, 30}});
  CHECK(parse_port_list("80") == PortList{{80, 80}});
  CHECK(parse_port_list("5-5") == PortList{{5, 5}});
  CHECK(parse_port_list("0-65535") == PortList{{0, 65535}});
  CHECK_THROWS_WITH(parse_port_list("30-20"), Catch::Contains("'30-20'") && Catch::Contains("reversed"));
  for (const char* bad : {"", "-", "20-", "-30", "20-30-40", "a-b", "1-65536"}) {
    INFO("input: '" << bad << "'");
    CHECK_THROWS_AS(parse_port_list(bad), ConfigError);
  }
}

TEST_CASE("parse_port_list takes comma-separated ports and ranges in the order given, each port once",
          "[values][port]") {
  CHECK(parse_port_list("22,80,443") == PortList{{22, 22}, {80, 80}, {443, 443}});
  CHECK(parse_port_list("20-22,80") == PortList{{20, 22}, {80, 80}});
  CHECK(parse_port_list("443,22, 80-81 ") == PortList{{443, 443}, {22, 22}, {80, 81}});  // not sorted
  CHECK(port_count(parse_port_list("20-22,80")) == 4);
  CHECK(port_count(parse_port_list("0-65535")) == 65536);
  CHECK(format_ports(parse_port_list("443, 20-22,80")) == "443,20-22,80");
  // A port named twice is refused, which also keeps a list at 65536 ports at most.
  CHECK_THROWS_WITH(parse_port_list("22,80,22"), Catch::Contains("port 22 is given twice") && Catch::Contains("'22,80,22'"));
  CHECK_THROWS_WITH(parse_port_list("20-25,22"), Catch::Contains("port 22 is given twice"));
  CHECK_THROWS_WITH(parse_port_list("0-65535,1"), Catch::Contains("port 1 is given twice"));
  for (const char* bad : {"22,", ",22", "22,,80", ",", " , "}) {
    INFO("input: '" << bad << "'");
    CHECK_THROWS_WITH(parse_port_list(bad), Catch::Contains("empty port"));
  }
  CHECK_THROWS_WITH(parse_port_list("22,x"), Catch::Contains("invalid port 'x'"));
  CHECK_THROWS_WITH(parse_port_list("22,30-20"), Catch::Contains("'30-20'") && Catch::Contains("reversed"));
}

namespace {
// The port /etc/services (NSS) gives `name` for `protocol`, if it knows it.
std::optional<uint16_t> known_service(const char* name, const char* protocol) {
  const servent* s = getservbyname(name, protocol);
  if (!s) return std::nullopt;
  return ntohs(static_cast<uint16_t>(s->s_port));
}
}  // namespace

TEST_CASE("a port may be a service name of the protocol asked for, numbers stay numbers", "[values][port]") {
  // Without a protocol, a name is not a port.
  CHECK_THROWS_WITH(parse_port("http"), Catch::Contains("invalid port 'http'"));
  CHECK_THROWS_WITH(parse_port_list("http"), Catch::Contains("invalid port 'http'"));
  // Numbers are read as before, never looked up.
  CHECK(parse_port("80", "tcp") == 80);
  CHECK_THROWS_WITH(parse_port("65536", "tcp"), Catch::Contains("out of range"));
  // An unknown name: a usage error naming the word and the protocol.
  CHECK_THROWS_WITH(parse_port("no-such-service-here", "tcp"),
                    Catch::Contains("unknown service 'no-such-service-here'") && Catch::Contains("tcp service"));
  CHECK_THROWS_WITH(parse_port_list("22,no-such-service-here", "udp"),
                    Catch::Contains("unknown service 'no-such-service-here'") && Catch::Contains("udp service"));
  // A range takes numbers only; a name with a dash is still a name.
  CHECK_THROWS_WITH(parse_port_list("80-http", "tcp"), Catch::Contains("invalid port 'http'"));
  CHECK_THROWS_WITH(parse_port_list("http-no-such", "tcp"), Catch::Contains("unknown service 'http-no-such'"));
  // A name begins with a letter: anything else is a bad number, as without a protocol.
  CHECK_THROWS_WITH(parse_port("-1", "tcp"), Catch::Contains("invalid port '-1'"));
  CHECK_THROWS_WITH(parse_port("8O", "tcp"), Catch::Contains("invalid port '8O'"));

  // What the machine's services database says (a minimal system may have none).
  const auto http = known_service("http", "tcp");
  const auto ssh = known_service("ssh", "tcp");
  if (!http || !ssh) {
    WARN("no http/ssh in the services database; name lookups not checked");
    return;
  }
  CHECK(parse_port("http", "tcp") == *http);
  CHECK(parse_port(" http ", "tcp") == *http);
  CHECK(parse_port_list("ssh,http", "tcp") == PortList{{*ssh, *ssh}, {*http, *http}});
  CHECK_THROWS_WITH(parse_port_list("http,80", "tcp"), Catch::Contains("given twice"));
  // A name of another protocol only: smtp is TCP's (where the database agrees).
  if (known_service("smtp", "tcp") && !known_service("smtp", "udp"))
    CHECK_THROWS_WITH(parse_port("smtp", "udp"), Catch::Contains("unknown service 'smtp'") && Catch::Contains("udp"));
}

TEST_CASE("parse_bool accepts the usual spellings", "[values][bool]") {
  for (const char* yes : {"true", "TRUE", "yes", "on", "1", " True "}) {
    INFO("input: '" << yes << "'");
    CHECK(parse_bool(yes) == true);
  }
  for (const char* no : {"false", "False", "no", "off", "0"}) {
    INFO("input: '" << no << "'");
    CHECK(parse_bool(no) == false);
  }
  for (const char* bad : {"", "2", "yep", "truee", "t"}) {
    INFO("input: '" << bad << "'");
    CHECK_THROWS_AS(parse_bool(bad), ConfigError);
  }
  CHECK_THROWS_WITH(parse_bool("yep"), Catch::Contains("invalid boolean 'yep'"));
}

TEST_CASE("parse_int accepts signed 64-bit integers only", "[values][int]") {
  CHECK(parse_int("0") == 0);
  CHECK(parse_int("42") == 42);
  CHECK(parse_int("-7") == -7);
  CHECK(parse_int("9223372036854775807") == INT64_MAX);
  CHECK_THROWS_WITH(parse_int("12a"), Catch::Contains("invalid integer '12a'"));
  for (const char* bad : {"", "abc", "1.5", "9223372036854775808", "+", "--1"}) {
    INFO("input: '" << bad << "'");
    CHECK_THROWS_AS(parse_int(bad), ConfigError);
  }
}

TEST_CASE("parse_value dispatches on the option type", "[values]") {
  const OptionSpec str{"name", 0, OptionType::String, "", ""};
  const OptionSpec path{"root", 0, OptionType::Path, "", ""};
  const OptionSpec dur{"timeout", 'w', OptionType::Duration, "", ""};
  const OptionSpec list{"header", 0, OptionType::StringList, "", ""};
  const OptionSpec cidrs{"allow", 0, OptionType::AddressList, "", ""};

  CHECK(std::get<std::string>(parse_value(str, "", nullptr)).empty());
  CHECK(std::get<Duration>(parse_value(dur, "2s", nullptr)) == 2s);
  CHECK_THROWS_WITH(parse_value(path, "", nullptr), Catch::Contains("empty path"));
  CHECK_THROWS_AS(parse_value(path, std::string_view("a\0b", 3), nullptr), ConfigError);

  // A string list appends one element per value (commas are kept).
  OptionValue strings = parse_value(list, "a,b", nullptr);
  strings = parse_value(list, "c", &strings);
  CHECK(std::get<std::vector<std::string>>(strings) == std::vector<std::string>{"a,b", "c"});

  // An address list splits on commas and appends to the current list.
  OptionValue nets = parse_value(cidrs, "10.0.0.0/8, ::1", nullptr);
  nets = parse_value(cidrs, "192.168.0.0/16", &nets);
  const auto& got = std::get<std::vector<Cidr>>(nets);
  REQUIRE(got.size() == 3);
  CHECK(got[0].to_string() == "10.0.0.0/8");
  CHECK(got[1].to_string() == "::1/128");
  CHECK(got[2].to_string() == "192.168.0.0/16");
  CHECK_THROWS_AS(parse_value(cidrs, "10.0.0.0/8,nonsense", nullptr), ConfigError);
  // A value with no address at all (an unset variable) is a mistake, not
  // "no rule": an empty --allow would admit everyone.
  for (const char* empty : {"", ",", " ", " , "}) {
    INFO("'" << empty << "'");
    CHECK_THROWS_WITH(parse_value(cidrs, empty, nullptr), Catch::Contains("needs at least one address or network"));
    CHECK_THROWS_AS(parse_value(cidrs, empty, &nets), ConfigError);
  }
}

TEST_CASE("closest_name suggests likely typos only", "[values]") {
  const std::vector<std::string> names{"idle-timeout", "timeout", "keep-open", "allow", "deny"};
  CHECK(closest_name("idle-timout", names) == "idle-timeout");
  CHECK(closest_name("keep-opne", names) == "keep-open");
  CHECK(closest_name("alow", names) == "allow");
  CHECK_FALSE(closest_name("completely-different", names).has_value());
}
