#include "nettool/unix.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <utility>

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

// Is a server answering on the socket file at `address`? (ECONNREFUSED: no,
// the file is stale.) Throws for anything that is neither yes nor no.
bool someone_listens(const UnixAddress& address) {
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (probe.get() < 0) throw RuntimeError(address.to_string() + ": socket: " + std::strerror(errno));
  sockaddr_un sun{};
  socklen_t len = fill_sockaddr(address, sun);
  if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&sun), len) == 0 || errno == EAGAIN) return true;
  if (errno == ECONNREFUSED) return false;
  throw RuntimeError(address.to_string() + ": checking the socket file in the way: " + std::strerror(errno));
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

UnixSocketFile::UnixSocketFile(std::string path) : path_(std::move(path)) {
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0) {
    dev_ = st.st_dev;
    ino_ = st.st_ino;
  }
}

UnixSocketFile::UnixSocketFile(UnixSocketFile&& o) noexcept
    : path_(std::exchange(o.path_, std::string())), dev_(o.dev_), ino_(o.ino_) {}

UnixSocketFile& UnixSocketFile::operator=(UnixSocketFile&& o) noexcept {
  if (this != &o) {
    remove();
    path_ = std::exchange(o.path_, std::string());
    dev_ = o.dev_;
    ino_ = o.ino_;
  }
  return *this;
}

void UnixSocketFile::remove() {
  if (path_.empty()) return;
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == dev_ && st.st_ino == ino_)
    ::unlink(path_.c_str());
  path_.clear();
}

UniqueFd listen_unix(const UnixAddress& address, std::optional<mode_t> mode, int backlog, spdlog::logger& log,
                     UnixSocketFile& file) {
  const std::string name = address.to_string();
  auto fail = [&](const std::string& why) { throw RuntimeError("cannot listen: " + name + ": " + why); };
  if (!address.abstract) {
    struct stat st {};
    if (::lstat(address.path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) fail("a file that is not a socket is in the way (not replacing it)");
      if (someone_listens(address)) fail("a server is already listening on it");
      if (::unlink(address.path.c_str()) != 0) fail(std::string("removing the stale socket file: ") + std::strerror(errno));
      log.info("{}: removed a stale socket file (nothing was listening on it)", name);
    }
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) fail(std::string("socket: ") + std::strerror(errno));
  sockaddr_un sun{};
  socklen_t len = fill_sockaddr(address, sun);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sun), len) != 0) fail(std::strerror(errno));
  UnixSocketFile made = address.abstract ? UnixSocketFile() : UnixSocketFile(address.path);  // removed if we fail
  if (mode && !address.abstract && ::chmod(address.path.c_str(), *mode) != 0)
    fail(std::string("setting its mode: ") + std::strerror(errno));
  if (::listen(fd.get(), backlog) != 0) fail(std::string("listen: ") + std::strerror(errno));
  file = std::move(made);
  return fd;
}

UnixListener::UnixListener(uv_loop_t* loop, const UnixAddress& address, std::optional<mode_t> mode, int backlog,
                           spdlog::logger& log, AcceptFn on_client)
    : log_(log), on_client_(std::move(on_client)), address_(address.to_string()) {
  UniqueFd fd = listen_unix(address, mode, backlog, log, file_);
  // A constructor that throws gets no destructor: undo what was done here.
  auto fail = [&](const std::string& why) {
    close();
    throw RuntimeError("cannot listen: " + address_ + ": " + why);
  };
  if (int rc = uv_pipe_init(loop, socket_.get(), 0); rc < 0) fail(uv_message("uv_pipe_init", rc));
  socket_.mark_initialized(this);
  if (int rc = uv_pipe_open(socket_.get(), fd.get()); rc < 0) fail(uv_message("uv_pipe_open", rc));
  (void)fd.release();  // libuv closes it with the handle now
  if (int rc = uv_listen(socket_.as_stream(), backlog, &UnixListener::on_connection); rc < 0)
    fail(uv_message("uv_listen", rc));
}

void UnixListener::close() {
  socket_.close();
  file_.remove();
}

void UnixListener::on_connection(uv_stream_t* server, int status) {
  auto* self = static_cast<UnixListener*>(server->data);
  if (!self) return;
  if (status < 0) {
    self->log_.warn("{}: accept failed: {}", self->address_, uv_strerror(status));
    return;
  }
  Handle<uv_pipe_t> client;
  if (int rc = uv_pipe_init(server->loop, client.get(), 0); rc < 0) {
    self->log_.warn("{}: accept: {}", self->address_, uv_strerror(rc));
    return;
  }
  client.mark_initialized(nullptr);
  if (int rc = uv_accept(server, client.as_stream()); rc < 0) {
    self->log_.warn("{}: accept failed: {}", self->address_, uv_strerror(rc));
    return;
  }
  self->on_client_(std::move(client));  // may close the listener (tcp-listen's one client)
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
