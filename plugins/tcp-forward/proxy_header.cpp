#include "proxy_header.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace tcp_forward {

namespace {

// One side of the connection, IPv4-mapped addresses unmapped.
struct Side {
  int family = AF_UNSPEC;
  unsigned char addr[16] = {};
  uint16_t port = 0;  // host order
};

Side side_of(const sockaddr* sa) {
  Side s;
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    s.family = AF_INET;
    std::memcpy(s.addr, &in->sin_addr, 4);
    s.port = ntohs(in->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    s.port = ntohs(in6->sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      s.family = AF_INET;
      std::memcpy(s.addr, in6->sin6_addr.s6_addr + 12, 4);
    } else {
      s.family = AF_INET6;
      std::memcpy(s.addr, &in6->sin6_addr, 16);
    }
  }
  return s;
}

std::string text_of(const Side& s) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(s.family, s.addr, buf, sizeof buf);
  return buf;
}

void put16(std::string& out, uint16_t v) {
  out += static_cast<char>(v >> 8);
  out += static_cast<char>(v & 0xff);
}

}  // namespace

std::string proxy_header(ProxyVersion version, const sockaddr* client, const sockaddr* local) {
  Side src = side_of(client), dst = side_of(local);
  // Both sides must be of one family; a mix (never from one socket) is unknown.
  bool known = src.family != AF_UNSPEC && src.family == dst.family;
  if (version == ProxyVersion::V1) {
    if (!known) return "PROXY UNKNOWN\r\n";
    return std::string("PROXY ") + (src.family == AF_INET ? "TCP4 " : "TCP6 ") + text_of(src) + " " + text_of(dst) +
           " " + std::to_string(src.port) + " " + std::to_string(dst.port) + "\r\n";
  }
  if (version != ProxyVersion::V2) return "";
  static constexpr char kSignature[] = "\r\n\r\n\0\r\nQUIT\n";
  std::string out(kSignature, 12);
  if (!known) {
    out += '\x20';  // version 2, LOCAL: the receiver uses the connection's own addresses
    out += '\x00';  // AF_UNSPEC
    put16(out, 0);
    return out;
  }
  out += '\x21';                                   // version 2, PROXY
  out += src.family == AF_INET ? '\x11' : '\x21';  // TCP over IPv4 / IPv6
  size_t n = src.family == AF_INET ? 4 : 16;
  put16(out, static_cast<uint16_t>(2 * n + 4));
  out.append(reinterpret_cast<const char*>(src.addr), n);
  out.append(reinterpret_cast<const char*>(dst.addr), n);
  put16(out, src.port);
  put16(out, dst.port);
  return out;
}

}  // namespace tcp_forward
