// Unix domain stream sockets as addresses: `unix:/path` (a socket file) and
// `unix:@name` (Linux's abstract namespace: no file, gone with its last
// descriptor). libuv 1.44 cannot name an abstract socket, so these are made
// with socket(2)/connect(2) and handed to libuv with uv_pipe_open.
#pragma once
#include <uv.h>

#include <optional>
#include <string>
#include <string_view>

#include "nettool/uv.h"

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

}  // namespace nettool
