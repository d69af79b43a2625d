#include "nettool/listener.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "nettool/error.h"
#include "nettool/net.h"

namespace nettool {

TcpListener::TcpListener(uv_loop_t* loop, const std::string& host, uint16_t port, const ResolveOptions& family,
                         int backlog, spdlog::logger& log, AcceptFn on_client)
    : log_(log), on_client_(std::move(on_client)) {
  std::vector<sockaddr_storage> addrs;
  ResolveOptions ro = family;
  ro.passive = true;
  if (!host.empty()) {
    addrs = resolve_now(host, port, ro);
  } else {
    sockaddr_storage v6{}, v4{};
    uv_ip6_addr("::", port, reinterpret_cast<sockaddr_in6*>(&v6));
    uv_ip4_addr("0.0.0.0", port, reinterpret_cast<sockaddr_in*>(&v4));
    if (ro.family != AF_INET) addrs.push_back(v6);
    if (ro.family != AF_INET6) addrs.push_back(v4);  // alone with -4, else the fallback without IPv6
  }
  std::string errors;
  for (const auto& ss : addrs) {
    const sockaddr* addr = reinterpret_cast<const sockaddr*>(&ss);
    auto tcp = make_tcp(loop, this, addr->sa_family);
    int rc = uv_tcp_bind(tcp.get(), addr, ro.family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
    if (rc == 0) rc = uv_listen(tcp.as_stream(), backlog, &TcpListener::on_connection);
    if (rc < 0) {
      if (!errors.empty()) errors += "; ";
      errors += uv_message(format_address(addr), rc);
      continue;
    }
    socket_ = std::move(tcp);
    sockaddr_storage bound{};
    int len = sizeof bound;
    uv_tcp_getsockname(socket_.get(), reinterpret_cast<sockaddr*>(&bound), &len);
    address_ = format_address(reinterpret_cast<sockaddr*>(&bound));
    return;
  }
  throw RuntimeError("cannot listen: " + errors);
}

sockaddr_storage TcpListener::bound() const {
  sockaddr_storage bound{};
  int len = sizeof bound;
  if (socket_.is_open()) uv_tcp_getsockname(socket_.get(), reinterpret_cast<sockaddr*>(&bound), &len);
  return bound;
}

void TcpListener::on_connection(uv_stream_t* server, int status) {
  auto* self = static_cast<TcpListener*>(server->data);
  if (!self) return;
  if (status < 0) {
    // EMFILE and friends: libuv has already dropped the pending connection, so this does not spin.
    self->warn_rate_limited(std::string("accept failed: ") + uv_strerror(status) + " (client dropped; still listening)");
    return;
  }
  self->accept_one();
  if (self->is_open()) self->warn_if_out_of_descriptors();
}

void TcpListener::accept_one() {
  Handle<uv_tcp_t> client;
  try {
    client = make_tcp(socket_.get()->loop, nullptr);
  } catch (const RuntimeError& e) {
    log_.warn("{}", e.what());
    return;
  }
  if (int rc = uv_accept(socket_.as_stream(), client.as_stream()); rc < 0) {
    log_.warn("accept failed: {}", uv_strerror(rc));
    return;
  }
  on_client_(std::move(client));  // may close the listener (tcp-listen's one client)
}

// When accept(2) fails for want of a descriptor, libuv accepts and closes
// the waiting clients itself (its EMFILE trick) and never calls
// on_connection with the error. So look ahead instead: if the client just
// accepted took the last descriptor, the next ones will be dropped; say so.
void TcpListener::warn_if_out_of_descriptors() {
  uv_os_fd_t fd = -1;
  if (uv_fileno(socket_.as_handle(), &fd) != 0) return;
  int probe = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (probe >= 0) {
    ::close(probe);
    return;
  }
  if (errno != EMFILE && errno != ENFILE) return;
  warn_rate_limited(std::string("accept: no file descriptor left (") + std::strerror(errno) +
                    "); new clients are dropped until some leave");
}

void TcpListener::warn_rate_limited(const std::string& message) {
  auto now = std::chrono::steady_clock::now();
  if (now - last_warning_ < std::chrono::seconds(1)) return;
  last_warning_ = now;
  log_.warn("{}", message);
}

}  // namespace nettool
