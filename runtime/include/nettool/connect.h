// Name resolution and outgoing TCP connections, shared by every client plugin.
#pragma once
#include <uv.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nettool/options.h"
#include "nettool/uv.h"

namespace nettool {

struct ResolveOptions {
  int family = AF_UNSPEC;  // -4 / -6
  bool numeric_only = false;  // -n: no DNS
  int socktype = SOCK_STREAM;
  bool passive = false;  // for binding: empty host means "any"
};

// "[::1]" -> "::1": a host as written in a URL or HOST:PORT, for the resolver.
std::string strip_brackets(const std::string& host);

// Resolves synchronously; for start-up, before the loop runs (listen addresses).
// Throws RuntimeError "cannot resolve HOST: reason".
std::vector<sockaddr_storage> resolve_now(const std::string& host, uint16_t port, const ResolveOptions& options);

// Resolves on libuv's thread pool. The callback gets the addresses (in the
// resolver's order) or an error "cannot resolve 'HOST': reason". Dropping the
// returned token cancels the callback.
using ResolveDone = std::function<void(std::vector<sockaddr_storage> addresses, const std::string& error)>;
std::shared_ptr<void> resolve_async(uv_loop_t* loop, const std::string& host, uint16_t port,
                                    const ResolveOptions& options, ResolveDone done);

// Connects to each resolved address in order until one answers; each attempt
// gets `timeout` (0 = the OS default). Binds `source` first when given.
class TcpConnector : public std::enable_shared_from_this<TcpConnector> {
 public:
  struct Options {
    ResolveOptions resolve;
    Duration timeout{0};
    std::optional<std::string> source_host;
    std::optional<uint16_t> source_port;
  };
  // On success `error` is empty and `socket` is connected; on failure `error`
  // names the host, port and each address's reason.
  using Done = std::function<void(Handle<uv_tcp_t> socket, const std::string& error)>;

  static std::shared_ptr<TcpConnector> start(uv_loop_t* loop, std::string host, uint16_t port, Options options, Done done);
  TcpConnector(uv_loop_t* loop, std::string host, uint16_t port, Options options, Done done);
  ~TcpConnector();
  void abort();  // no callback after this

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nettool
