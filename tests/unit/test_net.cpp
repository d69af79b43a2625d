// CIDR parsing and matching, --allow/--deny, printable addresses.
#include <arpa/inet.h>

#include <catch2/catch.hpp>
#include <cstring>

#include "nettool/error.h"
#include "nettool/net.h"

using namespace nettool;

namespace {

sockaddr_in v4(const char* host, uint16_t port = 0) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  REQUIRE(inet_pton(AF_INET, host, &sa.sin_addr) == 1);
  return sa;
}

sockaddr_in6 v6(const char* host, uint16_t port = 0) {
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  sa.sin6_port = htons(port);
  REQUIRE(inet_pton(AF_INET6, host, &sa.sin6_addr) == 1);
  return sa;
}

template <class T>
const sockaddr* sa(const T& addr) {
  return reinterpret_cast<const sockaddr*>(&addr);
}

}  // namespace

TEST_CASE("Cidr::parse reads IPv4 networks and single addresses", "[net][cidr]") {
  CHECK(Cidr::parse("10.0.0.0/8").to_string() == "10.0.0.0/8");
  CHECK(Cidr::parse("192.168.1.7").to_string() == "192.168.1.7/32");
  CHECK(Cidr::parse("0.0.0.0/0").to_string() == "0.0.0.0/0");

  auto net = Cidr::parse("10.0.0.0/8");
  CHECK(net.contains(sa(v4("10.0.0.1"))));
  CHECK(net.contains(sa(v4("10.255.255.255"))));
  CHECK_FALSE(net.contains(sa(v4("11.0.0.1"))));
  CHECK_FALSE(net.contains(sa(v4("9.255.255.255"))));

  auto odd = Cidr::parse("172.16.0.0/12");
  CHECK(odd.contains(sa(v4("172.31.255.1"))));
  CHECK_FALSE(odd.contains(sa(v4("172.32.0.1"))));

  auto host = Cidr::parse("192.168.1.7");
  CHECK(host.contains(sa(v4("192.168.1.7"))));
  CHECK_FALSE(host.contains(sa(v4("192.168.1.8"))));

  CHECK(Cidr::parse("0.0.0.0/0").contains(sa(v4("203.0.113.9"))));
  CHECK_FALSE(Cidr::parse("0.0.0.0/0").contains(sa(v6("2001:db8::1"))));
}

TEST_CASE("Cidr::parse reads IPv6 networks, bracketed addresses and single addresses", "[net][cidr]") {
  CHECK(Cidr::parse("::1").to_string() == "::1/128");
  CHECK(Cidr::parse("[::1]").to_string() == "::1/128");
  CHECK(Cidr::parse("2001:db8::/32").to_string() == "2001:db8::/32");

  auto loop = Cidr::parse("::1");
  CHECK(loop.contains(sa(v6("::1"))));
  CHECK_FALSE(loop.contains(sa(v6("::2"))));
  CHECK_FALSE(loop.contains(sa(v4("127.0.0.1"))));

  auto doc = Cidr::parse("2001:db8::/32");
  CHECK(doc.contains(sa(v6("2001:db8:ffff::1"))));
  CHECK_FALSE(doc.contains(sa(v6("2001:db9::1"))));
}

TEST_CASE("An IPv4 CIDR matches the IPv4-mapped IPv6 form of its addresses", "[net][cidr]") {
  // What a dual-stack listener sees for an IPv4 client.
  auto net = Cidr::parse("10.0.0.0/8");
  CHECK(net.contains(sa(v6("::ffff:10.0.0.1"))));
  CHECK(net.contains(sa(v6("::ffff:10.200.3.4", 9000))));
  CHECK_FALSE(net.contains(sa(v6("::ffff:11.0.0.1"))));
  // ...but not an unrelated IPv6 address whose last 32 bits happen to match.
  CHECK_FALSE(net.contains(sa(v6("2001:db8::a00:1"))));
  CHECK_FALSE(net.contains(sa(v6("::a00:1"))));

  auto host = Cidr::parse("127.0.0.1");
  CHECK(host.contains(sa(v6("::ffff:127.0.0.1"))));
}

TEST_CASE("Cidr::parse clears host bits", "[net][cidr]") {
  CHECK(Cidr::parse("10.1.2.3/8").to_string() == "10.0.0.0/8");
  CHECK(Cidr::parse("10.1.2.3/8") == Cidr::parse("10.0.0.0/8"));
  CHECK(Cidr::parse("192.168.1.255/23").to_string() == "192.168.0.0/23");
  CHECK(Cidr::parse("2001:db8:1:2::5/48").to_string() == "2001:db8:1::/48");
  CHECK(Cidr::parse("10.1.2.3/8").contains(sa(v4("10.9.9.9"))));
}

TEST_CASE("Cidr::parse rejects bad prefixes and addresses", "[net][cidr]") {
  for (const char* bad : {"10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/", "10.0.0.0/abc", "::1/129", "10.0.0.0/8/8",
                          "", "/8", "10.0.0", "10.0.0.256", "example.org", "::g", "10.0.0.0 /8"}) {
    INFO("input: '" << bad << "'");
    CHECK_THROWS_AS(Cidr::parse(bad), ConfigError);
  }
  CHECK_THROWS_WITH(Cidr::parse("10.0.0.0/33"), Catch::Contains("'10.0.0.0/33'") && Catch::Contains("32"));
  CHECK_THROWS_WITH(Cidr::parse("10.0.0.0/x"), Catch::Contains("bad prefix length 'x'"));
  CHECK_THROWS_WITH(Cidr::parse("nope"), Catch::Contains("invalid address 'nope'"));
}

TEST_CASE("address_allowed applies deny before allow", "[net][cidr]") {
  const std::vector<Cidr> none;
  const std::vector<Cidr> allow{Cidr::parse("10.0.0.0/8"), Cidr::parse("::1")};
  const std::vector<Cidr> deny{Cidr::parse("10.0.0.66")};

  auto inside = v4("10.1.1.1");
  auto denied = v4("10.0.0.66");
  auto outside = v4("192.0.2.1");

  // No lists: everyone is in.
  CHECK(address_allowed(sa(outside), none, none));
  // Allow only.
  CHECK(address_allowed(sa(inside), allow, none));
  CHECK(address_allowed(sa(v6("::1")), allow, none));
  CHECK(address_allowed(sa(v6("::ffff:10.9.9.9")), allow, none));
  CHECK_FALSE(address_allowed(sa(outside), allow, none));
  CHECK_FALSE(address_allowed(sa(v6("::2")), allow, none));
  // Deny only.
  CHECK_FALSE(address_allowed(sa(denied), none, deny));
  CHECK_FALSE(address_allowed(sa(v6("::ffff:10.0.0.66")), none, deny));
  CHECK(address_allowed(sa(outside), none, deny));
  // Both: deny wins inside an allowed network.
  CHECK_FALSE(address_allowed(sa(denied), allow, deny));
  CHECK(address_allowed(sa(inside), allow, deny));
  CHECK_FALSE(address_allowed(sa(outside), allow, deny));
}

TEST_CASE("format_address prints IPv4 and bracketed IPv6 with the port", "[net]") {
  CHECK(format_address(sa(v4("127.0.0.1", 9000))) == "127.0.0.1:9000");
  CHECK(format_address(sa(v4("0.0.0.0", 0))) == "0.0.0.0:0");
  CHECK(format_address(sa(v6("::1", 9000))) == "[::1]:9000");
  CHECK(format_address(sa(v6("2001:db8::1", 65535))) == "[2001:db8::1]:65535");
  CHECK(format_address(sa(v6("::ffff:10.0.0.1", 80))) == "[::ffff:10.0.0.1]:80");
  CHECK(format_host(sa(v6("::1", 9000))) == "::1");
  CHECK(format_host(sa(v4("192.0.2.3", 1))) == "192.0.2.3");
  CHECK(address_port(sa(v6("::1", 443))) == 443);
  CHECK(address_port(sa(v4("192.0.2.3", 8080))) == 8080);
}

TEST_CASE("A missing port says how to type HOST:PORT as two words, and only for what is HOST:PORT", "[net]") {
  const std::string usage = "HOST PORT";
  CHECK(missing_port_message("PORT", "127.0.0.1:443", usage) ==
        "PORT is missing: the host and the port are two words here: 127.0.0.1 443 (not 127.0.0.1:443)");
  CHECK(missing_port_message("TARGET_PORT", "[::1]:80", usage) ==
        "TARGET_PORT is missing: the host and the port are two words here: [::1] 80 (not [::1]:80)");
  CHECK(missing_port_message("PORT", "example.org:8443", usage).find("example.org 8443") != std::string::npos);
  // An IPv6 address, a name alone, a port that is not a number or is too long: the plain message.
  for (const char* host : {"::1", "fe80::1", "localhost", "host:http", "host:", ":80", "host:1234567"})
    CHECK(missing_port_message("PORT", host, usage) == "PORT is missing (HOST PORT)");
}
