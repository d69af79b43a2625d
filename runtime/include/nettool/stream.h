// Byte streams and the relay between them. An Endpoint is anything bytes come
// out of and/or go into: a TCP connection, our stdin/stdout (tty, pipe, regular
// file or /dev/null alike), a child process's pipes. A Relay moves bytes from
// one Endpoint into one or more others with backpressure: it stops reading when
// a destination has more than kHighWatermark bytes queued and resumes when the
// queue falls under kLowWatermark, so memory stays bounded whatever the speeds.
#pragma once
#include <uv.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nettool/uv.h"

namespace spdlog {
class logger;
}

namespace nettool {

inline constexpr size_t kReadChunkSize = 64 * 1024;
inline constexpr size_t kHighWatermark = 1024 * 1024;
inline constexpr size_t kLowWatermark = 256 * 1024;

// One buffer of bytes read from somewhere; shared by every write of it.
struct Chunk {
  std::unique_ptr<char[]> data;
  size_t capacity = 0;
  size_t size = 0;
  // Not zero-filled: only [0, size) is ever read, and clearing every
  // buffer cost as much as copying into it.
  explicit Chunk(size_t cap) : data(std::make_unique_for_overwrite<char[]>(cap)), capacity(cap) {}
};
using ChunkPtr = std::shared_ptr<Chunk>;
ChunkPtr make_chunk(std::string_view bytes);

// Reuses chunks that no pending write holds any more, so a long transfer
// allocates a handful of buffers instead of one per read.
class ChunkPool {
 public:
  explicit ChunkPool(size_t chunk_size = kReadChunkSize) : chunk_size_(chunk_size) {}
  ChunkPtr acquire();
  // Frees the buffers no write holds. Called when traffic is light, so an idle
  // connection does not keep 64 KiB buffers for nothing.
  void trim();

 private:
  size_t chunk_size_;
  std::vector<ChunkPtr> chunks_;
};

struct Counters;
class SplicePump;

class Endpoint {
 public:
  // status 0 means end of stream; a negative libuv status means an error.
  using DataFn = std::function<void(const ChunkPtr&)>;
  using EndFn = std::function<void(int status)>;
  using DoneFn = std::function<void(int status)>;

  virtual ~Endpoint() = default;
  virtual std::string describe() const = 0;  // "127.0.0.1:9000", "stdin/stdout", "child 1234"

  // Reading side. on_end fires once: 0 at EOF, <0 on error.
  virtual bool readable() const = 0;
  virtual void read_start(DataFn on_data, EndFn on_end) = 0;
  virtual void read_pause() = 0;
  virtual void read_resume() = 0;

  // Writing side. Writes are queued in order; errors go to the write error handler.
  virtual bool writable() const = 0;
  virtual void write(const ChunkPtr& chunk) = 0;
  virtual size_t queued_bytes() const = 0;
  // After all queued bytes are written: half-close (TCP shutdown, pipe close).
  virtual void end(DoneFn done = nullptr) = 0;
  // Called with a negative status if a write fails (peer reset, EPIPE...).
  void on_write_error(EndFn fn) { write_error_ = std::move(fn); }
  // Calls `fn` once the queue has fallen below kLowWatermark (now if it already has).
  // `guard` expiring cancels the wait.
  void when_drained(std::weak_ptr<void> guard, std::function<void()> fn);

 protected:
  void notify_drained_if_low();
  void notify_write_error(int status);

 private:
  struct Waiter {
    std::weak_ptr<void> guard;
    std::function<void()> fn;
  };
  std::vector<Waiter> drain_waiters_;
  EndFn write_error_;
};

// A connected TCP socket. Counts bytes into `counters` when given (sent =
// written to the socket, received = read from it).
std::unique_ptr<Endpoint> make_tcp_endpoint(Handle<uv_tcp_t> socket, Counters* counters);
// A connected Unix domain stream socket (nettool/unix.h), called `name`
// ("unix:/run/app.sock") in messages. It splices like a TCP socket, except
// into /dev/null (AF_UNIX has no recv(MSG_TRUNC) discard): that copies.
std::unique_ptr<Endpoint> make_unix_endpoint(Handle<uv_pipe_t> socket, Counters* counters, std::string name);

// A child process started with uv_spawn whose stdin/stdout are pipes to us
// (stderr is inherited). `on_exit` gets the exit status (or 128+signal); it
// may destroy the endpoint.
// `command` runs through /bin/sh -c when `through_shell`, else is split on blanks.
std::unique_ptr<Endpoint> spawn_child_endpoint(uv_loop_t* loop, const std::string& command, bool through_shell,
                                               std::function<void(int64_t exit_status)> on_exit);

// Our stdin (reading side) and stdout (writing side) as one endpoint. Either
// may be disabled. Works for tty, pipe, socket, regular file and /dev/null.
std::unique_ptr<Endpoint> make_stdio_endpoint(uv_loop_t* loop, bool read_stdin, bool write_stdout);

// Moves bytes from `from` into `to` (one or more destinations) with
// backpressure. Calls on_end(status) when `from` ends (0) or fails (<0);
// with end_destinations, each destination is half-closed after its queue drains.
class Relay : public std::enable_shared_from_this<Relay> {
 public:
  using Transform = std::function<ChunkPtr(const ChunkPtr&)>;
  static std::shared_ptr<Relay> start(Endpoint& from, std::vector<Endpoint*> to, bool end_destinations,
                                      std::function<void(int status)> on_end, Transform transform = nullptr);
  // One source, one destination, no transform, and this relay the only one
  // reading `from` and writing `to` (a Bridge direction): then the bytes may
  // move with splice(2) and never pass through our buffers (see
  // runtime/src/splice_pump.h; NETTOOL_NO_SPLICE=1 turns it off). Otherwise,
  // or if the kernel refuses, it is start(from, {&to}, false, on_end).
  // `log`, if given, gets a debug line saying which path was taken.
  static std::shared_ptr<Relay> start_exclusive(uv_loop_t* loop, Endpoint& from, Endpoint& to,
                                                std::function<void(int status)> on_end, spdlog::logger* log);
  // Not for a start_exclusive relay: its destination is fixed.
  void add_destination(Endpoint& to);
  void remove_destination(Endpoint& to);
  // Called with each chunk's size as it passes (idle timers, progress).
  void on_chunk(std::function<void(size_t)> fn) { on_chunk_ = std::move(fn); }
  void stop();  // stop reading and forget the callbacks; the endpoints are untouched
  bool ended() const { return ended_; }

  // Use start(): a Relay must be owned by a shared_ptr before it reads.
  Relay(Endpoint& from, std::vector<Endpoint*> to, bool end_destinations, std::function<void(int)> on_end,
        Transform transform);
  ~Relay();

 private:
  void read_source();
  bool start_splice(uv_loop_t* loop, spdlog::logger* log);
  void on_data(const ChunkPtr& chunk);
  void on_end(int status);
  void maybe_resume();

  Endpoint* from_;
  std::vector<Endpoint*> to_;
  bool end_destinations_;
  std::function<void(int)> on_end_;
  Transform transform_;
  std::function<void(size_t)> on_chunk_;
  bool paused_ = false;
  bool ended_ = false;
  bool stopped_ = false;
  std::unique_ptr<SplicePump> pump_;  // the splice(2) path (stopped if the kernel refused it)
};

// "\n" -> "\r\n" for --crlf; a "\n" already preceded by "\r" is left alone.
// The transform remembers whether the previous chunk ended in "\r", so a CRLF
// split across two reads is not doubled. Use one per byte stream.
Relay::Transform make_crlf_transform();

}  // namespace nettool
