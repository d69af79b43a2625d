// Unix domain sockets as addresses: `unix:/path` (a socket file) and
// `unix:@name` (Linux's abstract namespace: no file, gone with its last
// descriptor). libuv 1.44 cannot name an abstract socket, so these are made
// with socket(2)/connect(2) and handed to libuv with uv_pipe_open.
#pragma once
#include <uv.h>

#include <sys/socket.h>
#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nettool/fd.h"
#include "nettool/uv.h"

namespace spdlog {
class logger;
}

namespace nettool {

struct UnixAddress {
  std::string path;  // the file's path, or the abstract name without its '@'
  bool abstract = false;
  std::string to_string() const;  // "unix:/path" or "unix:@name"
};

// "unix:/path" or "unix:@name" -> the address; any other text -> nullopt.
// Throws ConfigError for an empty path or one longer than sun_path holds.
std::optional<UnixAddress> parse_unix_address(std::string_view text);
// A bare path (nc -U PATH): "@name" is abstract, anything else a file.
UnixAddress unix_address_of_path(std::string_view path);

// Connects now (a Unix connect completes or fails at once). On failure the
// handle is uninitialised and `error` names the address and the reason
// ("unix:/run/x.sock: No such file or directory").
Handle<uv_pipe_t> connect_unix(uv_loop_t* loop, const UnixAddress& address, std::string& error);

// "pid 1234 uid 0 gid 0" of the process at the other end (SO_PEERCRED), or "".
std::string unix_peer_credentials(const uv_pipe_t* socket);

// The file of a listening socket we made: removed by remove() (and on
// destruction) only if it is still that file, since a new server may have
// replaced it meanwhile. Empty for an abstract socket.
class UnixSocketFile {
 public:
  UnixSocketFile() = default;
  explicit UnixSocketFile(std::string path);  // records the file now at `path`
  UnixSocketFile(UnixSocketFile&& o) noexcept;
  UnixSocketFile& operator=(UnixSocketFile&& o) noexcept;
  UnixSocketFile(const UnixSocketFile&) = delete;
  UnixSocketFile& operator=(const UnixSocketFile&) = delete;
  ~UnixSocketFile() { remove(); }
  void remove();

 private:
  std::string path_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

// A bound, listening, non-blocking Unix stream socket. A file already at the
// path is removed only when it is a socket nothing answers on (left by a
// server that died); any other file, or a socket with a live server, is an
// error. `mode` (e.g. 0660) is set on the socket file before listen(2), so no
// client can connect before it holds; `file` then owns the file. Throws
// RuntimeError naming the address and the reason.
UniqueFd listen_unix(const UnixAddress& address, std::optional<mode_t> mode, int backlog, spdlog::logger& log,
                     UnixSocketFile& file);

// ---- datagram sockets (udp-send, udp-listen over unix:)

// "unix:/path", "unix:@name" (abstract) or "unix:(unnamed)" for a sender
// that has no address: for display, the name's control characters escaped
// as escape_for_log() does.
std::string format_unix_address(const sockaddr* addr, socklen_t len);

// A Unix domain datagram socket on the loop. libuv's uv_udp_t has no AF_UNIX,
// so this is a descriptor watched with uv_poll. Callbacks may close() it, but
// must not destroy it.
class UnixDatagramSocket {
 public:
  // nread < 0: a receive error (a libuv status); else the datagram, cut to 64
  // KiB when `truncated`, from `from` (an unnamed sender: length 2).
  using ReceiveFn =
      std::function<void(ssize_t nread, std::string_view data, const sockaddr* from, socklen_t from_len, bool truncated)>;

  // Bound at `address`, as listen_unix binds (a stale socket file replaced,
  // never a live one or another file; `mode` before anyone can send); the
  // file is removed at close(). Throws RuntimeError.
  static std::unique_ptr<UnixDatagramSocket> bind(uv_loop_t* loop, const UnixAddress& address,
                                                  std::optional<mode_t> mode, spdlog::logger& log);
  // Connected to `address` and autobound to an abstract name of its own, so
  // replies can reach it. Throws RuntimeError ("unix:/x: Connection refused"
  // when nothing is bound there).
  static std::unique_ptr<UnixDatagramSocket> connect(uv_loop_t* loop, const UnixAddress& address);
  ~UnixDatagramSocket() { close(); }
  UnixDatagramSocket(const UnixDatagramSocket&) = delete;
  UnixDatagramSocket& operator=(const UnixDatagramSocket&) = delete;

  // Up to 32 datagrams per wake-up, then `on_batch_end`.
  void receive_start(ReceiveFn on_datagram, std::function<void()> on_batch_end);
  void receive_stop();
  // One datagram now (to the connected peer when `to` is null): 0, UV_EAGAIN
  // when the receiver's queue is full (wait with when_writable), or another
  // libuv status.
  int send(std::string_view data, const sockaddr* to = nullptr, socklen_t to_len = 0);
  void when_writable(std::function<void()> fn);  // once
  void close();
  bool is_open() const { return fd_.valid(); }
  const std::string& name() const { return name_; }

 private:
  UnixDatagramSocket(uv_loop_t* loop, UniqueFd fd, std::string name, UnixSocketFile file);
  void watch();
  void read_batch();

  UniqueFd fd_;
  std::string name_;
  UnixSocketFile file_;
  Handle<uv_poll_t> poll_;
  std::vector<char> buffer_;
  ReceiveFn on_datagram_;
  std::function<void()> on_batch_end_;
  std::function<void()> on_writable_;
  bool receiving_ = false;
};

// The listening side of a Unix domain stream socket (tcp-listen unix:/PATH).
class UnixListener {
 public:
  using AcceptFn = std::function<void(Handle<uv_pipe_t> client)>;

  // Binds and listens with listen_unix() (which says what happens to a file
  // in the way). Throws RuntimeError naming the address and the reason.
  UnixListener(uv_loop_t* loop, const UnixAddress& address, std::optional<mode_t> mode, int backlog,
               spdlog::logger& log, AcceptFn on_client);
  UnixListener(const UnixListener&) = delete;
  UnixListener& operator=(const UnixListener&) = delete;
  ~UnixListener() { close(); }

  const std::string& address() const { return address_; }
  bool is_open() const { return socket_.is_open(); }
  // Stops accepting and removes the socket file -- if it is still the one
  // this listener made. Clients already accepted are not affected.
  void close();

 private:
  static void on_connection(uv_stream_t* server, int status);

  spdlog::logger& log_;
  AcceptFn on_client_;
  Handle<uv_pipe_t> socket_;
  std::string address_;
  UnixSocketFile file_;  // removed at close
};

}  // namespace nettool
