// Where udp-send and udp-broadcast get their datagrams: --message texts, or
// stdin cut into one datagram per line (newline stripped unless keep_newline)
// or into fixed-size chunks (binary-safe), repeated `count` times with
// `interval` between datagrams. With count > 1, stdin is read whole first
// (up to 64 MiB) so it can be sent again.
#pragma once
#include <uv.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nettool/connect.h"
#include "nettool/options.h"
#include "nettool/stream.h"
#include "nettool/uv.h"

namespace nettool {

// Largest UDP payload: 65,507 bytes over IPv4, 65,527 over IPv6.
size_t max_udp_payload(int family);

// The one rule for what udp-send and udp-broadcast may be asked to send:
// --chunk (when given) from 1 byte to the largest payload, and no --message
// larger than that. With AF_UNSPEC only what holds for both families is
// checked (so start() can refuse at once); checked again with the
// destination's family before the first datagram. Returns why the options
// cannot work, or an empty string.
std::string datagram_limits_error(std::optional<uint64_t> chunk, const std::vector<std::string>& messages,
                                  int family, const std::string& destination = "");

// A UDP server's socket (udp-listen, udp-forward): bound to HOST (its first
// address that binds) or, without one, to :: (dual-stack) then 0.0.0.0 --
// IPv4 first when `ipv4_any_first` (an IPv4 multicast group is received
// most reliably on an IPv4 socket). libuv reads it with recvmmsg
// (UV_UDP_RECVMMSG), and it gets a 4 MiB receive buffer for bursts. Throws
// RuntimeError naming every address that failed and why.
Handle<uv_udp_t> bind_udp_server(uv_loop_t* loop, void* owner, const std::string& host, uint16_t port,
                                 const ResolveOptions& resolve, bool ipv4_any_first = false);
// "ADDR:PORT" the socket is bound to (for the "listening on" line).
std::string udp_bound_address(const uv_udp_t* socket);

class DatagramSource {
 public:
  struct Options {
    std::vector<std::string> messages;  // when non-empty, stdin is not read
    uint64_t chunk = 0;                 // >0: fixed-size chunks instead of lines
    bool keep_newline = false;
    size_t max_size = 65507;            // a larger datagram is an error, never truncated
    uint64_t count = 1;                 // rounds over all the datagrams
    Duration interval{0};               // pause between datagrams
  };
  // on_datagram gets each payload; return false to pause (then call resume()).
  // on_end(0) after the last one; on_end(<0) on a read error; an oversize
  // datagram ends it with `oversize` set to its size.
  using DatagramFn = std::function<bool(std::string payload)>;
  using EndFn = std::function<void(int status, size_t oversize)>;

  DatagramSource(uv_loop_t* loop, Options options);
  ~DatagramSource();
  void start(DatagramFn on_datagram, EndFn on_end);
  void resume();

 private:
  void on_data(const ChunkPtr& chunk);
  void on_eof(int status);
  void deliver();
  void schedule();
  void end_oversize();

  uv_loop_t* loop_;
  Options options_;
  std::unique_ptr<Endpoint> stdin_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::string pending_;  // bytes read but not yet cut into a datagram
  std::vector<std::string> ready_;
  size_t next_ready_ = 0;
  std::vector<std::string> replay_;  // every datagram, when count > 1
  uint64_t round_ = 1;
  bool emitted_any_ = false;
  Handle<uv_timer_t> pace_;
  DatagramFn on_datagram_;
  EndFn on_end_;
  size_t oversize_ = 0;  // >0 while measuring an over-long line
  bool eof_ = false;
  bool paused_ = false;
  bool delivering_ = false;
  bool resumed_while_delivering_ = false;
  bool ended_ = false;
};

}  // namespace nettool
