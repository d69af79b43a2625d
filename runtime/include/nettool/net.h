// Addresses: CIDR lists for --allow/--deny and printable socket addresses.
#pragma once
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nettool {

// An IPv4 or IPv6 network. IPv4 is stored as an IPv4-mapped IPv6 prefix so
// that a dual-stack listener's ::ffff:10.0.0.1 matches 10.0.0.0/8.
class Cidr {
 public:
  static Cidr parse(std::string_view text);  // "10.0.0.0/8", "::1", "192.168.1.7"
  bool contains(const sockaddr* addr) const;
  std::string to_string() const;
  bool operator==(const Cidr&) const = default;

 private:
  std::array<uint8_t, 16> bytes_{};
  unsigned prefix_ = 0;  // over the 128-bit mapped form
  bool v4_ = false;
};

// True when --allow/--deny let `peer` in: not matched by deny, and matched by
// allow when allow is non-empty.
bool address_allowed(const sockaddr* peer, const std::vector<Cidr>& allow, const std::vector<Cidr>& deny);

// "127.0.0.1:9000" or "[::1]:9000".
std::string format_address(const sockaddr* addr);
std::string format_host(const sockaddr* addr);  // without the port
uint16_t address_port(const sockaddr* addr);

// "PORT is missing (USAGE)"; or, when `host` is HOST:PORT in one word (as
// s_client, socat and many URLs write it), what to type instead:
// "PORT is missing: the host and the port are two words: 127.0.0.1 443".
std::string missing_port_message(std::string_view port_name, std::string_view host, std::string_view usage);

}  // namespace nettool
