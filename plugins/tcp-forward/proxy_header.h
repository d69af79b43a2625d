// HAProxy's PROXY protocol header (v1 text, v2 binary), which tcp-forward
// sends to the target first so that the backend sees the real client's
// address: https://www.haproxy.org/download/2.8/doc/proxy-protocol.txt
// Pure: addresses in, bytes out.
#pragma once
#include <sys/socket.h>

#include <string>

namespace tcp_forward {

enum class ProxyVersion { None, V1, V2 };

// The header for a TCP connection from `client` to `local` (the address the
// client connected to). IPv4-mapped IPv6 addresses (a dual-stack listener's
// IPv4 clients) are written as IPv4. Families other than IPv4 and IPv6 give
// "PROXY UNKNOWN" (v1) or the LOCAL command (v2).
std::string proxy_header(ProxyVersion version, const sockaddr* client, const sockaddr* local);

}  // namespace tcp_forward
