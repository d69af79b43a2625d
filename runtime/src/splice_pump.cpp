// See splice_pump.h for when this applies and why.
#include "splice_pump.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "nettool/error.h"

namespace nettool {

namespace {

constexpr unsigned kSpliceFlags = SPLICE_F_NONBLOCK | SPLICE_F_MOVE;

// libuv's statuses on Linux are negated errno values.
int uv_status(int err) { return -err; }

// The kernel cannot splice this pair: nothing moved, the copying path can take over.
bool refused(int err) { return err == EINVAL || err == ENOSYS || err == EOPNOTSUPP; }

UniqueFd duplicate(int fd, const char* what) {
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) throw RuntimeError(uv_message(std::string("splice: cannot duplicate ") + what, uv_status(errno)));
  return UniqueFd(copy);
}

}  // namespace

// A pipe holds 64 KiB by default, so the process on its other end and we
// would take turns every 64 KiB; at 1 MiB (the default pipe-max-size) both
// sides are woken 16 times less often. Only ever grown; failing (a user over
// the pipe-user-pages limits) is harmless. The pipe is not ours (its pages
// count against its creator's pipe-user-pages quota, and it keeps the size
// after we exit), so only a transfer that has proved long gets it.
namespace {
constexpr int kPipeSize = 1024 * 1024;
}  // namespace

void grow_pipe(int fd) {
  int size = fcntl(fd, F_GETPIPE_SZ);
  if (size >= 0 && size < kPipeSize) (void)fcntl(fd, F_SETPIPE_SZ, kPipeSize);
}

std::string SplicePump::unsuitable(const SpliceEnd& from, const SpliceEnd& to) {
  using Kind = SpliceEnd::Kind;
  if (from.kind == Kind::None) return "the source is not a pipe or a TCP socket";
  if (to.kind == Kind::None) return "the destination is not a pipe, a TCP socket or /dev/null";
  if (to.kind == Kind::DevNull)
    return from.kind == Kind::Socket && from.discards_with_trunc ? "" : "only a TCP socket is drained into /dev/null";
  bool pipe_and_socket = (from.kind == Kind::Pipe && to.kind == Kind::Socket) ||
                         (from.kind == Kind::Socket && to.kind == Kind::Pipe);
  bool two_sockets = from.kind == Kind::Socket && to.kind == Kind::Socket;  // through a pipe of our own
  return pipe_and_socket || two_sockets ? "" : "splice needs a pipe or a socket on each side, not two pipes";
}

// A pump costs descriptors of its own: a dup() of each end (libuv watches a
// descriptor once), and socket to socket a pipe (two more), made later, when
// bytes arrive. A spliced tcp-forward client costs ten descriptors where a
// copied one costs two, and a server would run out of them for new clients
// long before it ran out of anything else. So once an eighth of the limit is
// in use, new relays copy, leaving the rest for connections. The kernel
// hands out the lowest free number, so an end's number says about how many
// are open. An eighth, not a quarter: the pipes of the relays already
// spliced come later and are not counted yet, and with a quarter 1,000
// clients forwarded at once under a limit of 4,096 once ran out (CI, asan).
bool SplicePump::descriptors_scarce(const SpliceEnd& from, const SpliceEnd& to) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return false;
  return static_cast<rlim_t>(std::max(from.fd, to.fd)) + 8 > limit.rlim_cur / 8;
}

SplicePump::SplicePump(uv_loop_t* loop, const SpliceEnd& from, const SpliceEnd& to, Callbacks callbacks)
    : from_(from), to_(to), callbacks_(std::move(callbacks)) {
  in_ = duplicate(from.fd, "the source");
  if (uv_poll_init(loop, in_poll_.get(), in_.get()) < 0) throw RuntimeError("splice: cannot watch the source");
  in_poll_.mark_initialized(this);
  if (to.kind == SpliceEnd::Kind::DevNull) return;  // never waits for the destination
  out_ = duplicate(to.fd, "the destination");
  if (uv_poll_init(loop, out_poll_.get(), out_.get()) < 0) throw RuntimeError("splice: cannot watch the destination");
  out_poll_.mark_initialized(this);
  through_pipe_ = from.kind == SpliceEnd::Kind::Socket && to.kind == SpliceEnd::Kind::Socket;
}

SplicePump::~SplicePump() { stop(); }

void SplicePump::start() { watch(in_poll_, UV_READABLE); }

void SplicePump::stop() {
  stopped_ = true;
  // uv_close takes the descriptor out of epoll at once, so closing it next is safe.
  in_poll_.close();
  out_poll_.close();
  in_.reset();
  out_.reset();
  pipe_read_.reset();
  pipe_write_.reset();
}

// Watches one side and not the other: only the side we are waiting for.
// (uv_poll_start and uv_poll_stop each cost an epoll_ctl, so a watch that is
// already on is left alone; libuv turns one off itself after a POLLERR.)
void SplicePump::watch(Handle<uv_poll_t>& handle, int events) {
  if (stopped_ || uv_is_active(handle.as_handle())) return;
  Handle<uv_poll_t>& other = &handle == &in_poll_ ? out_poll_ : in_poll_;
  if (other.is_open() && uv_is_active(other.as_handle())) uv_poll_stop(other.get());
  if (int rc = uv_poll_start(handle.get(), events, &SplicePump::on_ready); rc < 0) fail(-rc);
}

void SplicePump::on_ready(uv_poll_t* handle, int, int) {
  // A status < 0 (libuv turns POLLERR into UV_EBADF) is not trusted as is:
  // the next transfer reports the real error (EPIPE, ECONNRESET...).
  if (auto* self = static_cast<SplicePump*>(handle->data)) self->pump();
}

// The one system call per step: socket -> /dev/null drops the bytes in the
// kernel (tcp(7): MSG_TRUNC discards instead of copying); the rest splice.
ssize_t SplicePump::transfer(size_t max) {
  if (to_.kind == SpliceEnd::Kind::DevNull) return ::recv(in_.get(), nullptr, max, MSG_TRUNC | MSG_DONTWAIT);
  return ::splice(in_.get(), nullptr, out_.get(), nullptr, max, kSpliceFlags);
}

void SplicePump::pump() {
  if (through_pipe_) return pump_through_pipe();
  size_t budget = kBudgetPerEvent;
  while (budget > 0 && !stopped_) {
    ssize_t n = transfer(budget);
    if (n > 0) {
      size_t moved = static_cast<size_t>(n);
      moved_any_ = true;
      moved_total_ += moved;
      if (!pipes_grown_ && moved_total_ >= kGrowPipesAfter) {
        pipes_grown_ = true;
        if (from_.kind == SpliceEnd::Kind::Pipe) grow_pipe(in_.get());
        if (to_.kind == SpliceEnd::Kind::Pipe) grow_pipe(out_.get());
      }
      if (from_.counter) *from_.counter += moved;
      if (to_.counter) *to_.counter += moved;
      budget -= std::min(budget, moved);
      if (callbacks_.moved) callbacks_.moved(moved);  // may stop us
      continue;
    }
    int err = n < 0 ? errno : 0;
    if ((n == 0 || err == EAGAIN) && stuck_at_urgent_data()) {
      hand_over_at_urgent_data();
      return;
    }
    if (n == 0) {  // end of the source; everything it gave is in the destination
      auto done = std::move(callbacks_.source_end);
      stop();
      if (done) done(0);
      return;
    }
    if (err == EINTR) continue;
    if (err == EAGAIN) {
      wait_for_the_side_not_ready();
      return;
    }
    fail(err);
    return;
  }
  // Budget spent: come back on the next loop iteration (the watcher is
  // level-triggered and the source most likely still readable).
  watch(in_poll_, UV_READABLE);
}

// Socket to socket: the source into our pipe, the pipe into the
// destination. What the pipe holds goes out before anything else happens:
// before the next read, the source's end, or the hand-over at urgent data.
void SplicePump::pump_through_pipe() {
  // Made when the first bytes are there, so an idle connection holds none.
  if (!pipe_write_.valid()) {
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {  // out of descriptors, say
      int err = errno;
      Callbacks callbacks = std::move(callbacks_);
      stop();
      if (callbacks.unsupported) callbacks.unsupported(uv_status(err));  // nothing moved: copying takes over
      return;
    }
    pipe_read_ = UniqueFd(fds[0]);
    pipe_write_ = UniqueFd(fds[1]);
  }
  size_t budget = kBudgetPerEvent;
  while (budget > 0 && !stopped_) {
    if (in_pipe_ > 0) {
      ssize_t n = ::splice(pipe_read_.get(), nullptr, out_.get(), nullptr, in_pipe_, kSpliceFlags);
      if (n > 0) {
        size_t moved = static_cast<size_t>(n);
        in_pipe_ -= moved;
        moved_any_ = true;
        moved_total_ += moved;
        if (!pipes_grown_ && moved_total_ >= kGrowPipesAfter) {
          pipes_grown_ = true;
          grow_pipe(pipe_write_.get());
        }
        if (from_.counter) *from_.counter += moved;
        if (to_.counter) *to_.counter += moved;
        budget -= std::min(budget, moved);
        if (callbacks_.moved) callbacks_.moved(moved);  // may stop us
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        watch(out_poll_, UV_WRITABLE);
        return;
      }
      fail(n < 0 ? errno : EPIPE);
      return;
    }
    if (source_ended_) {  // and everything it gave is in the destination
      auto done = std::move(callbacks_.source_end);
      stop();
      if (done) done(0);
      return;
    }
    ssize_t n = ::splice(in_.get(), nullptr, pipe_write_.get(), nullptr, kPipeSize, kSpliceFlags);
    if (n > 0) {
      in_pipe_ = static_cast<size_t>(n);
      continue;
    }
    int err = n < 0 ? errno : 0;
    if ((n == 0 || err == EAGAIN) && stuck_at_urgent_data()) {
      hand_over_at_urgent_data();  // the pipe is empty: nothing is left behind
      return;
    }
    if (n == 0) {
      source_ended_ = true;
      continue;
    }
    if (err == EINTR) continue;
    if (err == EAGAIN) {
      watch(in_poll_, UV_READABLE);
      return;
    }
    // A reset of the source is the source's end (with its error), never the destination's.
    Callbacks callbacks = std::move(callbacks_);
    bool nothing_moved = !moved_any_;
    stop();
    if (nothing_moved && refused(err)) {
      if (callbacks.unsupported) callbacks.unsupported(uv_status(err));
    } else if (callbacks.source_end) {
      callbacks.source_end(uv_status(err));
    }
    return;
  }
  // Budget spent: come back on the next loop iteration.
  watch(in_pipe_ > 0 ? out_poll_ : in_poll_, in_pipe_ > 0 ? UV_WRITABLE : UV_READABLE);
}

// splice(2) from a TCP socket stops in front of urgent (MSG_OOB) data
// (tcp_read_sock) and, from there on, returns EAGAIN — or 0 once the peer has
// closed — for good, while poll(2) keeps saying "readable": left alone, the
// pump would spin, then take the rest of the stream for an EOF.
// recv(MSG_TRUNC) into /dev/null steps over the byte like read(2) does.
bool SplicePump::stuck_at_urgent_data() const {
  if (from_.kind != SpliceEnd::Kind::Socket || to_.kind == SpliceEnd::Kind::DevNull) return false;
  int at_mark = 0;
  return ::ioctl(in_.get(), SIOCATMARK, &at_mark) == 0 && at_mark == 1;
}

void SplicePump::hand_over_at_urgent_data() {
  auto hand_over = std::move(callbacks_.urgent_data);
  callbacks_ = {};
  stop();
  if (hand_over) hand_over();
}

void SplicePump::wait_for_the_side_not_ready() {
  if (to_.kind == SpliceEnd::Kind::DevNull) {
    watch(in_poll_, UV_READABLE);
    return;
  }
  pollfd sides[2] = {{in_.get(), POLLIN, 0}, {out_.get(), POLLOUT, 0}};
  if (::poll(sides, 2, 0) < 0) sides[0].revents = sides[1].revents = 0;
  // An error or hang-up counts as ready: the next splice reports it.
  bool in_ready = sides[0].revents != 0;
  bool out_ready = sides[1].revents != 0;
  if (in_ready && !out_ready) watch(out_poll_, UV_WRITABLE);
  else watch(in_poll_, UV_READABLE);  // not readable, or both look ready (a race: try again soon)
}

// Reports a failed transfer to the side it belongs to. EPIPE is always the
// destination's (nobody reads it any more); other errors come from the socket
// end (ECONNRESET, ETIMEDOUT...), whichever side that is.
void SplicePump::fail(int err) {
  Callbacks callbacks = std::move(callbacks_);
  bool nothing_moved = !moved_any_;
  stop();
  if (nothing_moved && refused(err)) {
    if (callbacks.unsupported) callbacks.unsupported(uv_status(err));
    return;
  }
  bool sink_side = err == EPIPE || to_.kind == SpliceEnd::Kind::Socket;
  if (sink_side) {
    if (callbacks.sink_error) callbacks.sink_error(uv_status(err));
  } else if (callbacks.source_end) {
    callbacks.source_end(uv_status(err));
  }
}

}  // namespace nettool
