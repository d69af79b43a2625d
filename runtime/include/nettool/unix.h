// Unix domain stream sockets as addresses: `unix:/path` (a socket file) and
// `unix:@name` (Linux's abstract namespace: no file, gone with its last
// descriptor). libuv 1.44 cannot name an abstract socket, so these are made
// with socket(2)/connect(2) and handed to libuv with uv_pipe_open.
#pragma once
#include <uv.h>

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>

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
