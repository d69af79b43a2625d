// Where udp-send and udp-broadcast get their datagrams: --message texts, or
// stdin cut into one datagram per line or into fixed-size chunks
// (binary-safe), repeated `count` times with `interval` between datagrams.
// A line's datagram is its bytes as read, terminator included, as nc -u sends
// them (so a receiver that prints payloads raw gets the lines back); without
// keep_newline the '\n' and a '\r' before it are stripped, so LF and CRLF
// input send the same. With count > 1, stdin is read whole first (up to
// 64 MiB) so it can be sent again.
#pragma once
#include <uv.h>

#include <array>
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

// Largest datagram to send to `to`: its family's UDP limit (an IPv4-mapped
// IPv6 address is IPv4), or for a Unix socket 64 KiB, what udp-listen and
// udp-send read whole.
size_t max_datagram_to(const sockaddr* to);

// Who a UDP server must never answer: a datagram "from" its own address (one
// spoofed packet would make it answer itself, or another of our sockets,
// forever) or from an address that is never a real sender (unspecified,
// multicast: a reply to 0.0.0.0 or to a group we joined comes back to us).
// Built from the socket's bound address; for a wildcard bind (0.0.0.0, ::)
// every local address counts: all of 127.0.0.0/8, ::1 and the interfaces'
// addresses at start (uv_interface_addresses). tcp-forward uses it too, with
// its listening socket's address, to refuse a target that is itself.
class SelfAddresses {
 public:
  SelfAddresses() = default;
  explicit SelfAddresses(const uv_udp_t* socket);
  explicit SelfAddresses(const sockaddr* bound);  // a socket's bound address (getsockname)
  // True when a datagram from `from` must not be answered (udp-listen still
  // prints it; udp-forward opens no session for it).
  bool is_self_or_bogus(const sockaddr* from) const;
  // True when `addr` (ADDR:PORT) is where this socket receives (the same port
  // and a local address of its bind): sending there reaches the socket itself.
  bool is_self(const sockaddr* addr) const;

 private:
  using Ip = std::array<unsigned char, 16>;  // IPv4 as ::ffff:a.b.c.d
  uint16_t port_ = 0;                        // host order; 0 until built
  bool wildcard_ = false;
  bool ipv4_only_ = false;  // bound to an IPv4 address: IPv6 destinations never reach it
  std::vector<Ip> addresses_;
};

// Two IP socket addresses are the same ADDR:PORT (an IPv4 address equals its
// IPv4-mapped IPv6 form; the IPv6 scope and flow label are ignored).
bool same_ip_endpoint(const sockaddr* a, const sockaddr* b);

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
// Only with `share_port` (multicast group listeners, which several programs
// on one host may be) is the port shared (SO_REUSEADDR); otherwise a port
// another socket holds fails with EADDRINUSE, so that nobody else -- another
// user's process included -- can bind it too and take our unicast datagrams.
Handle<uv_udp_t> bind_udp_server(uv_loop_t* loop, void* owner, const std::string& host, uint16_t port,
                                 const ResolveOptions& resolve, bool ipv4_any_first = false, bool share_port = false);
// "ADDR:PORT" the socket is bound to (for the "listening on" line).
std::string udp_bound_address(const uv_udp_t* socket);

// What on_end's status < 0 means, for the error line: a read error on stdin,
// or too much stdin kept for --count.
std::string datagram_source_error(int status);

class DatagramSource {
 public:
  struct Options {
    std::vector<std::string> messages;  // when non-empty, stdin is not read
    uint64_t chunk = 0;                 // >0: fixed-size chunks instead of lines
    bool keep_newline = true;           // a line's datagram ends with its \n (or \r\n) as read
    size_t max_size = 65507;            // a larger datagram is an error, never truncated
    uint64_t count = 1;                 // rounds over all the datagrams
    Duration interval{0};               // pause between datagrams
  };
  // on_datagram gets each payload; return false to pause (then call resume()).
  // on_end(0) after the last one; on_end(<0) on a read error; an oversize
  // datagram ends it with `oversize` set to its size.
  using DatagramFn = std::function<bool(std::string payload)>;
  using EndFn = std::function<void(int status, size_t oversize)>;

  // on_end's status when stdin held more than kMaxQueuedBytes for --count
  // (datagram_source_error words it).
  static constexpr int kTooMuchQueued = UV_ENOBUFS;
  static constexpr size_t kMaxQueuedBytes = size_t{64} << 20;
  // What a queued datagram costs besides its payload: its std::string and the
  // allocator's header. An empty line is not free.
  static constexpr size_t kDatagramOverhead = sizeof(std::string) + 16;

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
  void queue(std::string payload);

  uv_loop_t* loop_;
  Options options_;
  std::unique_ptr<Endpoint> stdin_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::string pending_;  // bytes read but not yet cut into a datagram
  std::vector<std::string> ready_;
  size_t queued_bytes_ = 0;  // ready_'s payloads + kDatagramOverhead each, before their first send
  size_t next_ready_ = 0;
  std::vector<std::string> replay_;  // every datagram, when count > 1
  uint64_t round_ = 1;
  bool emitted_any_ = false;
  Handle<uv_timer_t> pace_;
  DatagramFn on_datagram_;
  EndFn on_end_;
  size_t oversize_ = 0;  // >0 while measuring an over-long line
  bool oversize_ends_in_cr_ = false;  // its last byte so far is '\r' (stripped before a '\n')
  bool eof_ = false;
  bool paused_ = false;
  bool delivering_ = false;
  bool resumed_while_delivering_ = false;
  bool ended_ = false;
};

}  // namespace nettool
