#include "nettool/unix.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "nettool/error.h"
#include "nettool/fd.h"

namespace nettool {

namespace {

// The sockaddr_un for `address` and its length (an abstract name is not
// NUL-terminated: its length is part of the name).
socklen_t fill_sockaddr(const UnixAddress& address, sockaddr_un& out) {
  out = {};
  out.sun_family = AF_UNIX;
  if (address.abstract) {
    std::memcpy(out.sun_path + 1, address.path.data(), address.path.size());
    return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + address.path.size());
  }
  std::memcpy(out.sun_path, address.path.data(), address.path.size());
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.path.size() + 1);
}

}  // namespace

std::string UnixAddress::to_string() const { return std::string("unix:") + (abstract ? "@" : "") + path; }

UnixAddress unix_address_of_path(std::string_view path) {
  UnixAddress a;
  a.abstract = path.starts_with('@');
  a.path = std::string(a.abstract ? path.substr(1) : path);
  if (a.path.empty()) throw ConfigError("unix: address without a path (unix:/PATH or unix:@NAME)");
  // sun_path holds 108 bytes: a path and its NUL, or a NUL and an abstract name.
  if (a.path.size() > sizeof(sockaddr_un::sun_path) - 1)
    throw ConfigError(a.to_string() + ": longer than a Unix socket address can be (" +
                      std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes)");
  if (a.path.find('\0') != std::string::npos) throw ConfigError("unix: a path cannot contain a NUL byte");
  return a;
}

std::optional<UnixAddress> parse_unix_address(std::string_view text) {
  if (!text.starts_with("unix:")) return std::nullopt;
  return unix_address_of_path(text.substr(5));
}

Handle<uv_pipe_t> connect_unix(uv_loop_t* loop, const UnixAddress& address, std::string& error) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) {
    error = address.to_string() + ": socket: " + std::strerror(errno);
    return {};
  }
  sockaddr_un sun{};
  socklen_t len = fill_sockaddr(address, sun);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sun), len) != 0) {
    // Non-blocking AF_UNIX connects never wait: EAGAIN means a full backlog.
    error = address.to_string() + ": " +
            (errno == EAGAIN ? std::string("the listener's backlog is full") : std::strerror(errno));
    return {};
  }
  Handle<uv_pipe_t> pipe;
  if (int rc = uv_pipe_init(loop, pipe.get(), 0); rc < 0) {
    error = uv_message(address.to_string() + ": uv_pipe_init", rc);
    return {};
  }
  pipe.mark_initialized(nullptr);
  if (int rc = uv_pipe_open(pipe.get(), fd.get()); rc < 0) {
    error = uv_message(address.to_string() + ": uv_pipe_open", rc);
    return {};
  }
  (void)fd.release();  // libuv closes it with the handle now
  return pipe;
}

std::string unix_peer_credentials(const uv_pipe_t* socket) {
  uv_os_fd_t fd = -1;
  if (uv_fileno(reinterpret_cast<const uv_handle_t*>(socket), &fd) != 0) return "";
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return "";
  return "pid " + std::to_string(cred.pid) + " uid " + std::to_string(cred.uid) + " gid " + std::to_string(cred.gid);
}

}  // namespace nettool
