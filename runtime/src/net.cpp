#include "nettool/net.h"

#include <arpa/inet.h>

#include <cstring>

#include "nettool/error.h"
#include "nettool/options.h"

namespace nettool {

Cidr Cidr::parse(std::string_view text) {
  std::string s(text);
  std::string host = s;
  int prefix = -1;
  if (auto slash = s.find('/'); slash != std::string::npos) {
    host = s.substr(0, slash);
    std::string bits = s.substr(slash + 1);
    try {
      int64_t v = parse_int(bits);
      if (v < 0 || v > 128) throw ConfigError("");
      prefix = static_cast<int>(v);
    } catch (const ConfigError&) {
      throw ConfigError("invalid CIDR '" + s + "': bad prefix length '" + bits + "'");
    }
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  Cidr c;
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    if (prefix > 32) throw ConfigError("invalid CIDR '" + s + "': IPv4 prefix longer than 32");
    c.v4_ = true;
    c.bytes_[10] = c.bytes_[11] = 0xff;
    std::memcpy(&c.bytes_[12], &v4, 4);
    c.prefix_ = 96 + static_cast<unsigned>(prefix < 0 ? 32 : prefix);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    std::memcpy(c.bytes_.data(), &v6, 16);
    c.prefix_ = static_cast<unsigned>(prefix < 0 ? 128 : prefix);
  } else {
    throw ConfigError("invalid address '" + s + "' (expected an IPv4/IPv6 address or CIDR like 10.0.0.0/8)");
  }
  // Clear host bits so 10.1.2.3/8 means 10.0.0.0/8.
  for (unsigned bit = c.prefix_; bit < 128; ++bit) c.bytes_[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  return c;
}

namespace {
std::array<uint8_t, 16> mapped_bytes(const sockaddr* addr) {
  std::array<uint8_t, 16> out{};
  if (addr->sa_family == AF_INET) {
    out[10] = out[11] = 0xff;
    std::memcpy(&out[12], &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr, 4);
  } else if (addr->sa_family == AF_INET6) {
    std::memcpy(out.data(), &reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr, 16);
  }
  return out;
}
}  // namespace

bool Cidr::contains(const sockaddr* addr) const {
  if (addr->sa_family != AF_INET && addr->sa_family != AF_INET6) return false;
  auto bytes = mapped_bytes(addr);
  for (unsigned bit = 0; bit < prefix_; ++bit) {
    uint8_t mask = static_cast<uint8_t>(0x80u >> (bit % 8));
    if ((bytes[bit / 8] & mask) != (bytes_[bit / 8] & mask)) return false;
  }
  return true;
}

std::string Cidr::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (v4_) {
    inet_ntop(AF_INET, &bytes_[12], buf, sizeof buf);
    return std::string(buf) + "/" + std::to_string(prefix_ - 96);
  }
  inet_ntop(AF_INET6, bytes_.data(), buf, sizeof buf);
  return std::string(buf) + "/" + std::to_string(prefix_);
}

bool address_allowed(const sockaddr* peer, const std::vector<Cidr>& allow, const std::vector<Cidr>& deny) {
  for (const auto& c : deny)
    if (c.contains(peer)) return false;
  if (allow.empty()) return true;
  for (const auto& c : allow)
    if (c.contains(peer)) return true;
  return false;
}

std::string format_host(const sockaddr* addr) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (addr->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr, buf, sizeof buf);
  } else if (addr->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr, buf, sizeof buf);
  } else {
    return "?";
  }
  return buf;
}

uint16_t address_port(const sockaddr* addr) {
  if (addr->sa_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(addr)->sin_port);
  if (addr->sa_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(addr)->sin6_port);
  return 0;
}

std::string format_address(const sockaddr* addr) {
  std::string host = format_host(addr);
  if (addr->sa_family == AF_INET6) host = "[" + host + "]";
  return host + ":" + std::to_string(address_port(addr));
}

std::string missing_port_message(std::string_view port_name, std::string_view host, std::string_view usage) {
  const std::string plain = std::string(port_name) + " is missing (" + std::string(usage) + ")";
  const size_t colon = host.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == host.size() || colon + 6 < host.size()) return plain;
  const std::string_view name = host.substr(0, colon), port = host.substr(colon + 1);
  if (port.find_first_not_of("0123456789") != std::string_view::npos) return plain;
  // "::1" is an address, not "::" and port 1: a bare IPv6 address has colons
  // before its last one; "[::1]:443" has its address in brackets.
  const bool bracketed = name.size() > 2 && name.front() == '[' && name.back() == ']';
  if (!bracketed && name.find(':') != std::string_view::npos) return plain;
  return std::string(port_name) + " is missing: the host and the port are two words here: " + std::string(name) + " " +
         std::string(port) + " (not " + std::string(host) + ")";
}

}  // namespace nettool
