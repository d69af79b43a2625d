// tcp-forward's PROXY protocol header (proxy_header.cpp), byte for byte
// against the examples of HAProxy's proxy-protocol.txt.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <catch2/catch.hpp>
#include <string>

#include "proxy_header.h"

using tcp_forward::proxy_header;
using tcp_forward::ProxyVersion;

namespace {

sockaddr_storage v4(const char* addr, uint16_t port) {
  sockaddr_storage ss{};
  auto* in = reinterpret_cast<sockaddr_in*>(&ss);
  in->sin_family = AF_INET;
  in->sin_port = htons(port);
  inet_pton(AF_INET, addr, &in->sin_addr);
  return ss;
}

sockaddr_storage v6(const char* addr, uint16_t port) {
  sockaddr_storage ss{};
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port);
  inet_pton(AF_INET6, addr, &in6->sin6_addr);
  return ss;
}

const sockaddr* sa(const sockaddr_storage& ss) { return reinterpret_cast<const sockaddr*>(&ss); }

const std::string kV2Signature("\r\n\r\n\0\r\nQUIT\n", 12);

}  // namespace

TEST_CASE("proxy header v1: TCP4 and TCP6 lines as the specification writes them", "[tcp-forward]") {
  auto client = v4("192.168.0.1", 56324), local = v4("192.168.0.11", 443);
  CHECK(proxy_header(ProxyVersion::V1, sa(client), sa(local)) == "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
  auto c6 = v6("2001:db8::1", 4000), l6 = v6("2001:db8::2", 8080);
  CHECK(proxy_header(ProxyVersion::V1, sa(c6), sa(l6)) == "PROXY TCP6 2001:db8::1 2001:db8::2 4000 8080\r\n");
}

TEST_CASE("proxy header: a dual-stack listener's IPv4 client is written as IPv4", "[tcp-forward]") {
  auto client = v6("::ffff:10.0.0.7", 5000), local = v6("::ffff:10.0.0.1", 80);
  CHECK(proxy_header(ProxyVersion::V1, sa(client), sa(local)) == "PROXY TCP4 10.0.0.7 10.0.0.1 5000 80\r\n");
  std::string v2 = proxy_header(ProxyVersion::V2, sa(client), sa(local));
  REQUIRE(v2.size() == 16 + 12);
  CHECK(v2[13] == '\x11');  // TCP over IPv4
}

TEST_CASE("proxy header v2: signature, command, family, length and addresses in network order", "[tcp-forward]") {
  auto client = v4("127.0.0.1", 0x1234), local = v4("127.0.0.2", 0x0050);
  std::string h = proxy_header(ProxyVersion::V2, sa(client), sa(local));
  REQUIRE(h.size() == 28);
  CHECK(h.substr(0, 12) == kV2Signature);
  CHECK(h[12] == '\x21');  // version 2, PROXY
  CHECK(h[13] == '\x11');
  CHECK(h.substr(14, 2) == std::string("\x00\x0c", 2));  // 12 bytes of addresses follow
  CHECK(h.substr(16, 4) == std::string("\x7f\x00\x00\x01", 4));
  CHECK(h.substr(20, 4) == std::string("\x7f\x00\x00\x02", 4));
  CHECK(h.substr(24, 2) == std::string("\x12\x34", 2));
  CHECK(h.substr(26, 2) == std::string("\x00\x50", 2));

  auto c6 = v6("::1", 1), l6 = v6("::1", 2);
  std::string h6 = proxy_header(ProxyVersion::V2, sa(c6), sa(l6));
  REQUIRE(h6.size() == 16 + 36);
  CHECK(h6[13] == '\x21');  // TCP over IPv6
  CHECK(h6.substr(14, 2) == std::string("\x00\x24", 2));
}

TEST_CASE("proxy header: mixed or unknown families say UNKNOWN (v1) or LOCAL (v2)", "[tcp-forward]") {
  auto client = v4("127.0.0.1", 1), local = v6("::1", 2);
  CHECK(proxy_header(ProxyVersion::V1, sa(client), sa(local)) == "PROXY UNKNOWN\r\n");
  std::string h = proxy_header(ProxyVersion::V2, sa(client), sa(local));
  CHECK(h == kV2Signature + std::string("\x20\x00\x00\x00", 4));
}
