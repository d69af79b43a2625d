// The listening side of a TCP server plugin (tcp-listen, tcp-forward):
// bind [HOST] PORT, accept, and say what went wrong without spinning.
#pragma once
#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "nettool/connect.h"
#include "nettool/uv.h"

namespace spdlog {
class logger;
}

namespace nettool {

class TcpListener {
 public:
  // Gets each accepted client, connected; the listener keeps no reference.
  using AcceptFn = std::function<void(Handle<uv_tcp_t> client)>;

  // Binds and listens on HOST (resolved now), or with an empty HOST on one
  // dual-stack IPv6 socket (which takes IPv4 too), falling back to IPv4 on a
  // host without IPv6; `family` (-4/-6) narrows either. libuv sets
  // SO_REUSEADDR, so a restarted server gets its port back at once. Throws
  // RuntimeError "cannot listen: ADDR: reason; ..." naming every address tried.
  TcpListener(uv_loop_t* loop, const std::string& host, uint16_t port, const ResolveOptions& family, int backlog,
              spdlog::logger& log, AcceptFn on_client);
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;

  // "ADDR:PORT" as bound (port 0 resolved to the one the kernel picked).
  const std::string& address() const { return address_; }
  // The same as a socket address (getsockname).
  sockaddr_storage bound() const;
  bool is_open() const { return socket_.is_open(); }
  // Stops accepting; clients already accepted are not affected.
  void close() { socket_.close(); }

 private:
  static void on_connection(uv_stream_t* server, int status);
  void accept_one();
  void warn_if_out_of_descriptors();
  void warn_rate_limited(const std::string& message);

  spdlog::logger& log_;
  AcceptFn on_client_;
  Handle<uv_tcp_t> socket_;
  std::string address_;
  std::chrono::steady_clock::time_point last_warning_{};
};

}  // namespace nettool
