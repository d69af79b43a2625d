// The zero-copy fast path of a Relay (private to the runtime).
//
// When it applies: a Bridge direction that is a plain byte copy — one source,
// one destination, no transform (no --crlf), nobody else reading the source
// or writing the destination — between a pipe and a TCP socket:
//   head -c 4G /dev/zero | nettool tcp-connect ...      pipe   -> socket
//   nettool tcp-listen ... | cat                         socket -> pipe
// and a socket whose bytes go to /dev/null (tcp-listen -d ... > /dev/null),
// and socket -> socket (tcp-forward) through a pipe of the pump's own, since
// splice(2) needs a pipe on one side.
// Everything else (ttys, regular files — a splice to or from one could block
// the loop on the disk —, exec children, whose pipes are socketpairs, -k
// fan-out) keeps the copying Relay, and so does NETTOOL_NO_SPLICE=1.
//
// Why: the copying relay's profile is almost all kernel — copying pipe pages
// into our buffer and our buffer into socket buffers, then the same on the
// receiving side. splice(2) hands the pipe's pages to the socket (and the
// socket's to a pipe) inside the kernel, so the bytes never pass through us;
// for /dev/null, recv(MSG_TRUNC) drops them in the kernel without a copy (tcp(7)).
//
// How: readiness-driven from the loop with uv_poll_t on dup()s of the
// descriptors (libuv allows one watcher per descriptor, and the endpoint keeps
// its own uv handle for the other direction and for uv_shutdown). Splices are
// non-blocking and at most kBudgetPerEvent bytes are moved per loop event, so
// one fast connection cannot starve the others. A splice that fails with
// EAGAIN does not say which side was not ready, so a zero-timeout poll(2)
// asks, and only that side is watched: the watchers are level-triggered, and
// watching a side that is ready would spin.
//
// There is no buffer in between: a byte is either still in the source or
// already in the destination, so stopping at any moment loses nothing and
// the fallback can take over cleanly. (Socket to socket, the pump's pipe is
// the buffer: it is emptied into the destination before the pump reads the
// source again, before it reports the source's end, and before it hands
// over at urgent data; only stopping from outside, or a failed destination,
// drops what it holds.) If the kernel refuses the pair (EINVAL,
// ENOSYS, EOPNOTSUPP) before any byte moved, `unsupported` fires and the Relay
// reads with the copying path instead.
#pragma once
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "nettool/fd.h"
#include "nettool/uv.h"

namespace nettool {

// One end of a would-be splice, as an endpoint describes its reading or
// writing side.
// A pipe holds 64 KiB by default; a transfer that has moved this much
// through one of ours grows it (grow_pipe) so both ends wake less often.
inline constexpr uint64_t kGrowPipesAfter = 4 * 1024 * 1024;
void grow_pipe(int fd);

struct SpliceEnd {
  enum class Kind { None, Pipe, Socket, DevNull };
  Kind kind = Kind::None;  // None: this side cannot take part
  int fd = -1;
  uint64_t* counter = nullptr;  // bytes moved through this end, for the -v summary (may be null)
  // A TCP socket: recv(MSG_TRUNC) with no buffer discards its bytes (tcp(7)).
  // A Unix stream socket splices too, but answers that with EFAULT.
  bool discards_with_trunc = false;
};

class SplicePump {
 public:
  // Bytes moved per loop event at most, so other connections get their turn.
  static constexpr size_t kBudgetPerEvent = 1024 * 1024;

  struct Callbacks {
    std::function<void(size_t bytes)> moved;  // after each transfer (idle timer, progress)
    std::function<void(int status)> source_end;  // 0 at EOF, <0 (a libuv status) on a read error
    std::function<void(int status)> sink_error;  // <0: the destination failed (EPIPE, ECONNRESET...)
    std::function<void(int status)> unsupported;  // the kernel refused before any byte moved
    // The source socket is at TCP urgent data, which splice(2) never steps
    // over: the copying path takes over from the next byte (nothing is lost,
    // the pump holds none) and, like it always has, read(2) skips the byte.
    std::function<void()> urgent_data;
  };

  // Why `from` -> `to` cannot be pumped, or "" when it can.
  static std::string unsuitable(const SpliceEnd& from, const SpliceEnd& to);
  // True when a quarter of the descriptors allowed are in use: a pump's own
  // (up to four) are better left for new connections; copy instead.
  static bool descriptors_scarce(const SpliceEnd& from, const SpliceEnd& to);

  // Requires unsuitable(from, to) to be "". Throws RuntimeError when the
  // descriptors cannot be duplicated or watched (the caller then copies).
  SplicePump(uv_loop_t* loop, const SpliceEnd& from, const SpliceEnd& to, Callbacks callbacks);
  ~SplicePump();
  SplicePump(const SplicePump&) = delete;
  SplicePump& operator=(const SplicePump&) = delete;

  // Starts waiting for the source. Nothing moves before the loop runs.
  void start();
  // Stops for good: no more transfers, no more callbacks. What is still in the
  // source stays there.
  void stop();

 private:
  static void on_ready(uv_poll_t* handle, int status, int events);
  void pump();
  void pump_through_pipe();
  ssize_t transfer(size_t max);
  void wait_for_the_side_not_ready();
  bool stuck_at_urgent_data() const;
  void hand_over_at_urgent_data();
  void watch(Handle<uv_poll_t>& handle, int events);
  void fail(int err);

  SpliceEnd from_;
  SpliceEnd to_;
  Callbacks callbacks_;
  UniqueFd in_;
  UniqueFd out_;  // not used for DevNull: the bytes are dropped as they are read
  Handle<uv_poll_t> in_poll_;
  Handle<uv_poll_t> out_poll_;
  // Socket to socket: the pump's own pipe (made on the first bytes), and how
  // many bytes it holds.
  bool through_pipe_ = false;
  UniqueFd pipe_read_;
  UniqueFd pipe_write_;
  size_t in_pipe_ = 0;
  bool source_ended_ = false;
  bool moved_any_ = false;
  uint64_t moved_total_ = 0;
  bool pipes_grown_ = false;
  bool stopped_ = false;
};

}  // namespace nettool
