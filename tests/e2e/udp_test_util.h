// A bound UDP socket for tests that need their own peer or client: send to
// an address, receive with a bounded wait, reply to a sender.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "harness.h"

namespace e2e {

// A bound UDP socket for tests that need a custom peer (close-on-exec).
class UdpSocket {
 public:
  struct Datagram {
    std::string payload;
    sockaddr_storage from{};
    socklen_t from_len = 0;
    uint16_t from_port = 0;
  };

  // `share_port`: SO_REUSEADDR, to bind a port a multicast group listener
  // (which shares it too) already holds, as another program of the host may.
  explicit UdpSocket(const std::string& host = "127.0.0.1", uint16_t port = 0, bool share_port = false) {
    socklen_t len = 0;
    sockaddr_storage ss = address(host, port, len);
    fd_ = ::socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    int on = 1;
    if (share_port && ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) {
      std::string why = std::string("SO_REUSEADDR: ") + std::strerror(errno);
      ::close(fd_);
      throw std::runtime_error(why);
    }
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      std::string why = std::string("bind UDP ") + host + ": " + std::strerror(errno);
      ::close(fd_);
      throw std::runtime_error(why);
    }
    sockaddr_storage bound{};
    socklen_t blen = sizeof bound;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&bound), &blen);
    port_ = port_of(bound);
  }
  ~UdpSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;

  uint16_t port() const { return port_; }

  // A receive buffer of `bytes` (SO_RCVBUFFORCE when allowed, else up to
  // rmem_max), so a burst sent before the test reads it is not dropped.
  void set_receive_buffer(int bytes) {
    if (::setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) != 0)
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
  }

  bool send_to(const std::string& host, uint16_t port, std::string_view data) {
    socklen_t len = 0;
    sockaddr_storage ss = address(host, port, len);
    return send_to(ss, len, data);
  }
  bool send_to(const sockaddr_storage& to, socklen_t len, std::string_view data) {
    ssize_t n = ::sendto(fd_, data.data(), data.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&to), len);
    return n == static_cast<ssize_t>(data.size());
  }
  bool reply(const Datagram& to, std::string_view data) { return send_to(to.from, to.from_len, data); }

  // One datagram, or nullopt when none came within `timeout`.
  std::optional<Datagram> recv(Ms timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<Ms>(deadline - std::chrono::steady_clock::now()).count();
      pollfd p{fd_, POLLIN, 0};
      int rc = ::poll(&p, 1, static_cast<int>(std::max<long long>(left, 0)));
      if (rc < 0 && errno == EINTR) continue;
      if (rc <= 0) return std::nullopt;
      Datagram d;
      d.payload.resize(65536);
      d.from_len = sizeof d.from;
      ssize_t n = ::recvfrom(fd_, d.payload.data(), d.payload.size(), MSG_DONTWAIT,
                             reinterpret_cast<sockaddr*>(&d.from), &d.from_len);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR || errno == ECONNREFUSED) continue;
        return std::nullopt;
      }
      d.payload.resize(static_cast<size_t>(n));
      d.from_port = port_of(d.from);
      return d;
    }
  }

 private:
  static sockaddr_storage address(const std::string& host, uint16_t port, socklen_t& len) {
    std::string h = host;
    if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    sockaddr_storage ss{};
    auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      v4->sin_port = htons(port);
      len = sizeof *v4;
    } else if (inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) == 1) {
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(port);
      len = sizeof *v6;
    } else {
      throw std::runtime_error("not a numeric address: " + host);
    }
    return ss;
  }
  static uint16_t port_of(const sockaddr_storage& ss) {
    if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
  }

  int fd_ = -1;
  uint16_t port_ = 0;
};

}  // namespace e2e
