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
#include "nettool/log.h"

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
// Whether a socket of `type` answers at `address`: a stream socket listens,
// a datagram socket is bound (connect(2) to a file without one is refused).
bool someone_listens(const UnixAddress& address, int type) {
  UniqueFd probe(::socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
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

namespace {

// A new socket of `type` bound at `address`. A file already at the path is
// removed only when it is a socket nothing answers on (left by a server that
// died); any other file, or a live socket, is an error. `mode` is set before
// anyone can connect; `made` then owns the file.
UniqueFd bind_unix(const UnixAddress& address, int type, std::optional<mode_t> mode, spdlog::logger& log,
                   UnixSocketFile& made) {
  const std::string name = address.to_string();
  auto fail = [&](const std::string& why) { throw RuntimeError("cannot listen: " + name + ": " + why); };
  if (!address.abstract) {
    struct stat st {};
    if (::lstat(address.path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) fail("a file that is not a socket is in the way (not replacing it)");
      if (someone_listens(address, type)) fail("a server is already listening on it");
      if (::unlink(address.path.c_str()) != 0) fail(std::string("removing the stale socket file: ") + std::strerror(errno));
      log.info("{}: removed a stale socket file (nothing was listening on it)", name);
    }
  }
  UniqueFd fd(::socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) fail(std::string("socket: ") + std::strerror(errno));
  sockaddr_un sun{};
  socklen_t len = fill_sockaddr(address, sun);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sun), len) != 0) fail(std::strerror(errno));
  made = address.abstract ? UnixSocketFile() : UnixSocketFile(address.path);  // removed if we fail from here
  if (mode && !address.abstract && ::chmod(address.path.c_str(), *mode) != 0)
    fail(std::string("setting its mode: ") + std::strerror(errno));
  return fd;
}

}  // namespace

UniqueFd listen_unix(const UnixAddress& address, std::optional<mode_t> mode, int backlog, spdlog::logger& log,
                     UnixSocketFile& file) {
  UnixSocketFile made;
  UniqueFd fd = bind_unix(address, SOCK_STREAM, mode, log, made);
  if (::listen(fd.get(), backlog) != 0)
    throw RuntimeError("cannot listen: " + address.to_string() + ": listen: " + std::strerror(errno));
  file = std::move(made);
  return fd;
}

// ---- datagrams

std::string format_unix_address(const sockaddr* addr, socklen_t len) {
  const auto* sun = reinterpret_cast<const sockaddr_un*>(addr);
  size_t path_len = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
  if (path_len == 0) return "unix:(unnamed)";
  // The peer chose the name: its control characters must not reach a
  // terminal or forge a log line.
  if (sun->sun_path[0] == '\0') return "unix:@" + escape_for_log(std::string_view(sun->sun_path + 1, path_len - 1));
  return "unix:" + escape_for_log(std::string_view(sun->sun_path, strnlen(sun->sun_path, path_len)));
}

UnixDatagramSocket::UnixDatagramSocket(uv_loop_t* loop, UniqueFd fd, std::string name, UnixSocketFile file)
    : fd_(std::move(fd)), name_(std::move(name)), file_(std::move(file)), buffer_(64 * 1024) {
  if (int rc = uv_poll_init(loop, poll_.get(), fd_.get()); rc < 0)
    throw RuntimeError(uv_message(name_ + ": watching the socket", rc));
  poll_.mark_initialized(this);
}

std::unique_ptr<UnixDatagramSocket> UnixDatagramSocket::bind(uv_loop_t* loop, const UnixAddress& address,
                                                             std::optional<mode_t> mode, spdlog::logger& log) {
  UnixSocketFile file;
  UniqueFd fd = bind_unix(address, SOCK_DGRAM, mode, log, file);
  return std::unique_ptr<UnixDatagramSocket>(
      new UnixDatagramSocket(loop, std::move(fd), address.to_string(), std::move(file)));
}

std::unique_ptr<UnixDatagramSocket> UnixDatagramSocket::connect(uv_loop_t* loop, const UnixAddress& address) {
  const std::string name = address.to_string();
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) throw RuntimeError(name + ": socket: " + std::strerror(errno));
  // Autobind (an address of just the family): the kernel gives us an abstract
  // name of our own, so the server has somewhere to send replies.
  sockaddr_un own{};
  own.sun_family = AF_UNIX;
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&own), sizeof(sa_family_t)) != 0)
    throw RuntimeError(name + ": binding a reply address: " + std::strerror(errno));
  sockaddr_un sun{};
  socklen_t len = fill_sockaddr(address, sun);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sun), len) != 0)
    throw RuntimeError(name + ": " + std::strerror(errno));
  return std::unique_ptr<UnixDatagramSocket>(new UnixDatagramSocket(loop, std::move(fd), name, UnixSocketFile()));
}

void UnixDatagramSocket::receive_start(ReceiveFn on_datagram, std::function<void()> on_batch_end) {
  on_datagram_ = std::move(on_datagram);
  on_batch_end_ = std::move(on_batch_end);
  receiving_ = true;
  watch();
}

void UnixDatagramSocket::receive_stop() {
  receiving_ = false;
  watch();
}

int UnixDatagramSocket::send(std::string_view data, const sockaddr* to, socklen_t to_len) {
  ssize_t n = ::sendto(fd_.get(), data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL, to, to ? to_len : 0);
  return n < 0 ? uv_translate_sys_error(errno) : 0;
}

void UnixDatagramSocket::when_writable(std::function<void()> fn) {
  on_writable_ = std::move(fn);
  watch();
}

void UnixDatagramSocket::close() {
  poll_.close();
  fd_.reset();
  file_.remove();
}

void UnixDatagramSocket::watch() {
  if (!poll_.is_open()) return;
  int events = (receiving_ ? UV_READABLE : 0) | (on_writable_ ? UV_WRITABLE : 0);
  if (events == 0) {
    uv_poll_stop(poll_.get());
    return;
  }
  uv_poll_start(poll_.get(), events, [](uv_poll_t* handle, int status, int ready) {
    auto* self = static_cast<UnixDatagramSocket*>(handle->data);
    if (!self) return;
    if (status < 0) ready = UV_READABLE | UV_WRITABLE;  // let the calls below see the error
    if ((ready & UV_WRITABLE) && self->on_writable_) {
      auto fn = std::move(self->on_writable_);
      self->on_writable_ = nullptr;
      self->watch();
      fn();  // may close us
      if (!handle->data) return;
    }
    if ((ready & UV_READABLE) && self->receiving_) self->read_batch();
  });
}

// Up to 32 datagrams per wake-up, as udp-listen's recvmmsg batches: the loop
// stays fair to other handles under a flood.
void UnixDatagramSocket::read_batch() {
  for (int i = 0; i < 32 && receiving_ && fd_.valid(); ++i) {
    sockaddr_storage from{};
    socklen_t from_len = sizeof from;
    ssize_t n = ::recvfrom(fd_.get(), buffer_.data(), buffer_.size(), MSG_DONTWAIT | MSG_TRUNC,
                           reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) on_datagram_(-errno, {}, nullptr, 0, false);
      break;
    }
    bool truncated = static_cast<size_t>(n) > buffer_.size();
    size_t size = truncated ? buffer_.size() : static_cast<size_t>(n);
    on_datagram_(static_cast<ssize_t>(size), {buffer_.data(), size}, reinterpret_cast<const sockaddr*>(&from), from_len,
                 truncated);
    if (!poll_.is_open()) return;  // the callback closed us
  }
  if (on_batch_end_) on_batch_end_();
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
