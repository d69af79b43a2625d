// Endpoints and the Relay. Each endpoint is a reading half and a writing half;
// the halves below are the only code that touches uv streams and uv_fs for data.
#include "nettool/stream.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <deque>

#include "nettool/error.h"
#include "nettool/plugin.h"
#include "splice_pump.h"

namespace nettool {

ChunkPtr make_chunk(std::string_view bytes) {
  auto chunk = std::make_shared<Chunk>(std::max<size_t>(bytes.size(), 1));
  std::memcpy(chunk->data.get(), bytes.data(), bytes.size());
  chunk->size = bytes.size();
  return chunk;
}

ChunkPtr ChunkPool::acquire() {
  for (auto& c : chunks_) {
    if (c.use_count() == 1) {
      c->size = 0;
      return c;
    }
  }
  auto chunk = std::make_shared<Chunk>(kReadChunkSize);
  if (chunks_.size() < 32) chunks_.push_back(chunk);
  return chunk;
}

void ChunkPool::trim() {
  chunks_.erase(std::remove_if(chunks_.begin(), chunks_.end(), [](const ChunkPtr& c) { return c.use_count() == 1; }),
                chunks_.end());
}

// A small read in a big pooled buffer would pin 64 KiB per queued chunk; copy
// it out so queued bytes and memory stay in proportion.
static ChunkPtr right_size(ChunkPtr chunk) {
  if (chunk->size >= chunk->capacity / 4) return chunk;
  return make_chunk(std::string_view(chunk->data.get(), chunk->size));
}

void Endpoint::when_drained(std::weak_ptr<void> guard, std::function<void()> fn) {
  if (queued_bytes() < kLowWatermark) {
    fn();
    return;
  }
  drain_waiters_.push_back({std::move(guard), std::move(fn)});
}

void Endpoint::notify_drained_if_low() {
  if (drain_waiters_.empty() || queued_bytes() >= kLowWatermark) return;
  auto waiters = std::move(drain_waiters_);
  drain_waiters_.clear();
  for (auto& w : waiters)
    if (!w.guard.expired()) w.fn();
}

void Endpoint::notify_write_error(int status) {
  if (write_error_) {
    auto fn = write_error_;
    fn(status);
  }
}

namespace {

// ---------------------------------------------------------------- readers

class Reader {
 public:
  virtual ~Reader() = default;
  virtual void start(Endpoint::DataFn on_data, Endpoint::EndFn on_end) = 0;
  virtual void pause() = 0;
  virtual void resume() = 0;
};

// Reads a uv stream (TCP, pipe, tty). The stream's data pointer is this reader.
class StreamReader final : public Reader {
 public:
  StreamReader(uv_stream_t* stream, Counters* counters) : stream_(stream), counters_(counters) {
    stream_->data = this;
  }
  ~StreamReader() override {
    if (stream_->data == this) stream_->data = nullptr;
  }
  void start(Endpoint::DataFn on_data, Endpoint::EndFn on_end) override {
    on_data_ = std::move(on_data);
    on_end_ = std::move(on_end);
    resume();
  }
  void pause() override {
    if (reading_) uv_read_stop(stream_);
    reading_ = false;
  }
  void resume() override {
    if (reading_ || ended_ || !on_data_) return;
    int rc = uv_read_start(stream_, &StreamReader::alloc_cb, &StreamReader::read_cb);
    if (rc < 0) {
      finish(rc);
      return;
    }
    reading_ = true;
  }

 private:
  static void alloc_cb(uv_handle_t* h, size_t, uv_buf_t* buf) {
    auto* self = static_cast<StreamReader*>(h->data);
    if (!self) {
      *buf = uv_buf_init(nullptr, 0);
      return;
    }
    self->current_ = self->pool_.acquire();
    *buf = uv_buf_init(self->current_->data.get(), static_cast<unsigned>(self->current_->capacity));
  }
  static void read_cb(uv_stream_t* s, ssize_t nread, const uv_buf_t*) {
    auto* self = static_cast<StreamReader*>(s->data);
    if (!self) return;
    ChunkPtr chunk = std::move(self->current_);
    if (nread > 0) {
      chunk->size = static_cast<size_t>(nread);
      if (self->counters_) self->counters_->bytes_received += chunk->size;
      const Chunk* pooled = chunk.get();
      ChunkPtr out = right_size(std::move(chunk));
      // A small read was copied out: traffic is light, so free the idle pooled
      // buffers (an idle connection would otherwise keep 64 KiB each).
      if (out.get() != pooled) self->pool_.trim();
      self->on_data_(out);
    } else if (nread < 0) {
      self->finish(nread == UV_EOF ? 0 : static_cast<int>(nread));
    }
  }
  void finish(int status) {
    if (ended_) return;
    ended_ = true;
    if (reading_) uv_read_stop(stream_);
    reading_ = false;
    auto fn = std::move(on_end_);
    on_data_ = nullptr;
    if (fn) fn(status);  // may destroy this reader: nothing after
  }

  uv_stream_t* stream_;
  Counters* counters_;
  ChunkPool pool_;
  ChunkPtr current_;
  Endpoint::DataFn on_data_;
  Endpoint::EndFn on_end_;
  bool reading_ = false;
  bool ended_ = false;
};

// Reads a regular file or character device through uv_fs (libuv's pipes and
// ttys cannot poll them). One read in flight at a time, on the thread pool.
class FileReader final : public Reader {
 public:
  FileReader(uv_loop_t* loop, uv_file fd) : state_(std::make_shared<State>()) {
    state_->loop = loop;
    state_->fd = fd;
  }
  ~FileReader() override { state_->alive = false; }
  void start(Endpoint::DataFn on_data, Endpoint::EndFn on_end) override {
    state_->on_data = std::move(on_data);
    state_->on_end = std::move(on_end);
    resume();
  }
  void pause() override { state_->paused = true; }
  void resume() override {
    state_->paused = false;
    issue(state_);
  }

 private:
  struct State {
    uv_loop_t* loop = nullptr;
    uv_file fd = -1;
    Endpoint::DataFn on_data;
    Endpoint::EndFn on_end;
    bool paused = false;
    bool in_flight = false;
    bool ended = false;
    bool alive = true;
    ChunkPool pool;
  };
  struct ReadReq {
    uv_fs_t req{};
    std::shared_ptr<State> state;
    ChunkPtr chunk;
  };
  static void issue(const std::shared_ptr<State>& st) {
    if (st->paused || st->in_flight || st->ended || !st->alive || !st->on_data) return;
    auto r = std::make_unique<ReadReq>();
    r->state = st;
    r->chunk = st->pool.acquire();
    r->req.data = r.get();
    uv_buf_t buf = uv_buf_init(r->chunk->data.get(), static_cast<unsigned>(r->chunk->capacity));
    int rc = uv_fs_read(st->loop, &r->req, st->fd, &buf, 1, -1, &FileReader::read_cb);
    if (rc < 0) {
      st->ended = true;
      if (auto fn = std::move(st->on_end)) fn(rc);
      return;
    }
    st->in_flight = true;
    r.release();  // owned by the request until read_cb
  }
  static void read_cb(uv_fs_t* req) {
    std::unique_ptr<ReadReq> r(static_cast<ReadReq*>(req->data));
    ssize_t result = req->result;
    uv_fs_req_cleanup(req);
    auto st = r->state;
    st->in_flight = false;
    if (!st->alive || st->ended) return;
    if (result > 0) {
      r->chunk->size = static_cast<size_t>(result);
      auto chunk = right_size(std::move(r->chunk));
      r.reset();
      st->on_data(chunk);
      issue(st);
    } else {
      st->ended = true;
      auto fn = std::move(st->on_end);
      st->on_data = nullptr;
      if (fn) fn(result == 0 ? 0 : static_cast<int>(result));
    }
  }
  std::shared_ptr<State> state_;
};

// A reader that is at EOF from the start (stdin closed or not wanted).
class EmptyReader final : public Reader {
 public:
  explicit EmptyReader(uv_loop_t* loop) : loop_(loop) {}
  ~EmptyReader() override { *alive_ = false; }
  void start(Endpoint::DataFn, Endpoint::EndFn on_end) override {
    std::weak_ptr<bool> alive = alive_;
    post(loop_, [alive, on_end = std::move(on_end)] {
      if (auto a = alive.lock(); a && *a) on_end(0);
    });
  }
  void pause() override {}
  void resume() override {}

 private:
  uv_loop_t* loop_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// ---------------------------------------------------------------- writers

class Writer {
 public:
  virtual ~Writer() = default;
  virtual void write(const ChunkPtr& chunk) = 0;
  virtual size_t queued() const = 0;
  virtual void end(Endpoint::DoneFn done) = 0;
  // Set by the owning endpoint: after a write completes / fails.
  std::function<void()> on_progress;
  std::function<void(int)> on_error;
};

// Shared between a writer and its in-flight requests, so a request that
// completes after the writer is gone (cancelled by the close) sees that.
struct WriterState {
  size_t queued = 0;
  bool alive = true;
  bool failed = false;
  std::function<void()>* on_progress = nullptr;
  std::function<void(int)>* on_error = nullptr;
  Endpoint::DoneFn end_done;
  bool end_requested = false;
};

class StreamWriter final : public Writer {
 public:
  StreamWriter(uv_stream_t* stream, Counters* counters, bool shutdown_on_end)
      : stream_(stream), counters_(counters), shutdown_on_end_(shutdown_on_end), state_(std::make_shared<WriterState>()) {
    state_->on_progress = &on_progress;
    state_->on_error = &on_error;
  }
  ~StreamWriter() override { state_->alive = false; }

  void write(const ChunkPtr& chunk) override {
    if (state_->failed || state_->end_requested || chunk->size == 0) return;
    auto r = std::make_unique<WriteReq>();
    r->chunk = chunk;
    r->state = state_;
    r->counters = counters_;
    r->req.data = r.get();
    uv_buf_t buf = uv_buf_init(chunk->data.get(), static_cast<unsigned>(chunk->size));
    int rc = uv_write(&r->req, stream_, &buf, 1, &StreamWriter::write_cb);
    if (rc < 0) {
      fail(state_, rc);
      return;
    }
    state_->queued += chunk->size;
    r.release();  // owned by the request until write_cb
  }
  size_t queued() const override { return state_->queued; }
  void end(Endpoint::DoneFn done) override {
    if (state_->end_requested) return;
    state_->end_requested = true;
    if (!shutdown_on_end_) {
      state_->end_done = std::move(done);
      maybe_finish_end(state_);
      return;
    }
    // uv_shutdown waits for queued writes itself.
    auto r = std::make_unique<ShutdownReq>();
    r->state = state_;
    r->done = std::move(done);
    r->req.data = r.get();
    int rc = uv_shutdown(&r->req, stream_, [](uv_shutdown_t* req, int status) {
      std::unique_ptr<ShutdownReq> owned(static_cast<ShutdownReq*>(req->data));
      if (owned->state->alive && owned->done) owned->done(status == UV_ENOTCONN ? 0 : status);
    });
    if (rc < 0) {
      if (r->done) r->done(rc == UV_ENOTCONN ? 0 : rc);
      return;
    }
    r.release();
  }

 private:
  struct WriteReq {
    uv_write_t req{};
    ChunkPtr chunk;
    std::shared_ptr<WriterState> state;
    Counters* counters = nullptr;
  };
  struct ShutdownReq {
    uv_shutdown_t req{};
    std::shared_ptr<WriterState> state;
    Endpoint::DoneFn done;
  };
  static void fail(const std::shared_ptr<WriterState>& st, int status) {
    if (st->failed) return;
    st->failed = true;
    if (st->alive && st->on_error && *st->on_error) (*st->on_error)(status);
  }
  static void maybe_finish_end(const std::shared_ptr<WriterState>& st) {
    if (st->end_requested && st->queued == 0 && st->end_done) {
      auto done = std::move(st->end_done);
      st->end_done = nullptr;
      done(st->failed ? UV_EPIPE : 0);
    }
  }
  static void write_cb(uv_write_t* req, int status) {
    std::unique_ptr<WriteReq> r(static_cast<WriteReq*>(req->data));
    auto st = r->state;
    st->queued -= r->chunk->size;
    if (!st->alive) return;
    if (status < 0) {
      fail(st, status);
      return;
    }
    if (r->counters) r->counters->bytes_sent += r->chunk->size;
    r.reset();
    if (st->on_progress && *st->on_progress) (*st->on_progress)();
    if (st->alive) maybe_finish_end(st);
  }

  uv_stream_t* stream_;
  Counters* counters_;
  bool shutdown_on_end_;
  std::shared_ptr<WriterState> state_;
};

// Writes a regular file (or a non-pollable device) through uv_fs, in order,
// one request at a time, resuming after short writes.
class FileWriter final : public Writer {
 public:
  FileWriter(uv_loop_t* loop, uv_file fd) : state_(std::make_shared<State>()) {
    state_->loop = loop;
    state_->fd = fd;
    state_->ws.on_progress = &on_progress;
    state_->ws.on_error = &on_error;
  }
  ~FileWriter() override { state_->ws.alive = false; }
  void write(const ChunkPtr& chunk) override {
    if (state_->ws.failed || state_->ws.end_requested || chunk->size == 0) return;
    state_->pending.push_back(chunk);
    state_->ws.queued += chunk->size;
    issue(state_);
  }
  size_t queued() const override { return state_->ws.queued; }
  void end(Endpoint::DoneFn done) override {
    state_->ws.end_requested = true;
    state_->ws.end_done = std::move(done);
    finish_if_done(state_);
  }

 private:
  struct State {
    uv_loop_t* loop = nullptr;
    uv_file fd = -1;
    std::deque<ChunkPtr> pending;
    size_t offset_in_front = 0;
    bool in_flight = false;
    WriterState ws;
  };
  struct WriteReq {
    uv_fs_t req{};
    std::shared_ptr<State> state;
    std::vector<uv_buf_t> bufs;
  };
  static void finish_if_done(const std::shared_ptr<State>& st) {
    if (st->ws.end_requested && st->pending.empty() && !st->in_flight && st->ws.end_done) {
      auto done = std::move(st->ws.end_done);
      st->ws.end_done = nullptr;
      done(st->ws.failed ? UV_EIO : 0);
    }
  }
  // One gathered write of everything queued (up to kMaxIov chunks): many
  // small chunks — datagrams, say — cost one thread-pool round trip, not one each.
  static constexpr size_t kMaxIov = 256;
  static void issue(const std::shared_ptr<State>& st) {
    if (st->in_flight || st->pending.empty() || st->ws.failed) return;
    auto r = std::make_unique<WriteReq>();
    r->state = st;
    r->req.data = r.get();
    size_t n = std::min(st->pending.size(), kMaxIov);
    r->bufs.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      const ChunkPtr& c = st->pending[i];
      size_t skip = i == 0 ? st->offset_in_front : 0;
      r->bufs.push_back(uv_buf_init(c->data.get() + skip, static_cast<unsigned>(c->size - skip)));
    }
    int rc = uv_fs_write(st->loop, &r->req, st->fd, r->bufs.data(), static_cast<unsigned>(r->bufs.size()), -1,
                         &FileWriter::write_cb);
    if (rc < 0) {
      fail(st, rc);
      return;
    }
    st->in_flight = true;
    r.release();
  }
  static void fail(const std::shared_ptr<State>& st, int status) {
    if (st->ws.failed) return;
    st->ws.failed = true;
    st->ws.queued = 0;
    st->pending.clear();
    if (st->ws.alive && *st->ws.on_error) (*st->ws.on_error)(status);
  }
  static void write_cb(uv_fs_t* req) {
    std::unique_ptr<WriteReq> r(static_cast<WriteReq*>(req->data));
    ssize_t result = req->result;
    uv_fs_req_cleanup(req);
    auto st = r->state;
    st->in_flight = false;
    if (result < 0) {
      fail(st, static_cast<int>(result));
      if (st->ws.alive) finish_if_done(st);
      return;
    }
    if (st->pending.empty()) return;
    // Retire what was written; a short write leaves the rest queued in order.
    size_t written = static_cast<size_t>(result);
    st->ws.queued -= std::min(written, st->ws.queued);
    while (written > 0 && !st->pending.empty()) {
      size_t left = st->pending.front()->size - st->offset_in_front;
      if (written < left) {
        st->offset_in_front += written;
        break;
      }
      written -= left;
      st->pending.pop_front();
      st->offset_in_front = 0;
    }
    issue(st);
    if (!st->ws.alive) return;
    if (*st->ws.on_progress) (*st->ws.on_progress)();
    if (st->ws.alive) finish_if_done(st);
  }
  std::shared_ptr<State> state_;
};

// /dev/null: every write completes at once. Writing there through the thread
// pool would cost a thread hop per chunk for nothing.
class NullWriter final : public Writer {
 public:
  void write(const ChunkPtr&) override {}
  size_t queued() const override { return 0; }
  void end(Endpoint::DoneFn done) override {
    if (done) done(0);
  }
};

// ---------------------------------------------------------------- endpoints

class HalvesEndpoint : public Endpoint {
 public:
  std::string describe() const override { return name_; }
  bool readable() const override { return reader_ != nullptr; }
  void read_start(DataFn on_data, EndFn on_end) override {
    if (reader_) reader_->start(std::move(on_data), std::move(on_end));
  }
  void read_pause() override {
    if (reader_) reader_->pause();
  }
  void read_resume() override {
    if (reader_) reader_->resume();
  }
  bool writable() const override { return writer_ != nullptr; }
  void write(const ChunkPtr& chunk) override {
    if (writer_) writer_->write(chunk);
  }
  size_t queued_bytes() const override { return writer_ ? writer_->queued() : 0; }
  void end(DoneFn done) override {
    if (writer_) writer_->end(std::move(done));
    else if (done) done(0);
  }

  // The descriptors a SplicePump may use instead of the reader and the writer
  // (a Relay started with start_exclusive); Kind::None when there is none.
  virtual SpliceEnd splice_source() const { return {}; }
  virtual SpliceEnd splice_sink() const { return {}; }
  // A SplicePump's write failure, reported like one of the writer's.
  void report_write_error(int status) { notify_write_error(status); }

 protected:
  void set_writer(std::unique_ptr<Writer> w) {
    writer_ = std::move(w);
    writer_->on_progress = [this] { notify_drained_if_low(); };
    writer_->on_error = [this](int status) { notify_write_error(status); };
  }
  std::string name_;
  std::unique_ptr<Reader> reader_;
  std::unique_ptr<Writer> writer_;
};

class TcpEndpoint final : public HalvesEndpoint {
 public:
  TcpEndpoint(Handle<uv_tcp_t> socket, Counters* counters) : socket_(std::move(socket)), counters_(counters) {
    sockaddr_storage peer{};
    int len = sizeof peer;
    if (uv_tcp_getpeername(socket_.get(), reinterpret_cast<sockaddr*>(&peer), &len) == 0)
      name_ = format_address(reinterpret_cast<sockaddr*>(&peer));
    else
      name_ = "tcp";
    reader_ = std::make_unique<StreamReader>(socket_.as_stream(), counters);
    set_writer(std::make_unique<StreamWriter>(socket_.as_stream(), counters, true));
  }
  ~TcpEndpoint() override {
    reader_.reset();
    writer_.reset();
    socket_.close();
  }
  SpliceEnd splice_source() const override {
    return socket_end(counters_ ? &counters_->bytes_received : nullptr);
  }
  SpliceEnd splice_sink() const override { return socket_end(counters_ ? &counters_->bytes_sent : nullptr); }

 private:
  SpliceEnd socket_end(uint64_t* counter) const {
    uv_os_fd_t fd = -1;
    if (uv_fileno(socket_.as_handle(), &fd) != 0) return {};
    return {SpliceEnd::Kind::Socket, fd, counter};
  }

  Handle<uv_tcp_t> socket_;
  Counters* counters_;
};

// One of our standard streams as a libuv handle, or null when it needs uv_fs.
struct StdStream {
  Handle<uv_tty_t> tty;
  Handle<uv_pipe_t> pipe;
  Handle<uv_tcp_t> tcp;
  uv_stream_t* stream = nullptr;
};

bool is_dev_null(int fd) {
  struct stat st {}, null_st{};
  if (fstat(fd, &st) != 0 || !S_ISCHR(st.st_mode)) return false;
  return stat("/dev/null", &null_st) == 0 && S_ISCHR(null_st.st_mode) && st.st_rdev == null_st.st_rdev;
}

// A pipe or FIFO (uv_guess_handle says UV_NAMED_PIPE for Unix sockets too).
bool is_fifo(int fd) {
  struct stat st {};
  return fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

// Opens fd as a pollable uv stream when it is one; returns false for files.
bool open_std_stream(uv_loop_t* loop, int fd, bool readable, StdStream& out) {
  switch (uv_guess_handle(fd)) {
    case UV_TTY:
      if (uv_tty_init(loop, out.tty.get(), fd, readable ? 1 : 0) < 0) return false;
      out.tty.mark_initialized(nullptr);
      out.stream = out.tty.as_stream();
      return true;
    case UV_NAMED_PIPE:
      if (uv_pipe_init(loop, out.pipe.get(), 0) < 0) return false;
      out.pipe.mark_initialized(nullptr);
      if (uv_pipe_open(out.pipe.get(), fd) < 0) return false;
      out.stream = out.pipe.as_stream();
      return true;
    case UV_TCP:
      if (uv_tcp_init(loop, out.tcp.get()) < 0) return false;
      out.tcp.mark_initialized(nullptr);
      if (uv_tcp_open(out.tcp.get(), fd) < 0) return false;
      out.stream = out.tcp.as_stream();
      return true;
    default:
      return false;
  }
}

class StdioEndpoint final : public HalvesEndpoint {
 public:
  StdioEndpoint(uv_loop_t* loop, bool read_stdin, bool write_stdout) {
    name_ = "stdin/stdout";
    if (read_stdin) {
      if (fcntl(STDIN_FILENO, F_GETFD) < 0) {
        reader_ = std::make_unique<EmptyReader>(loop);
      } else if (open_std_stream(loop, STDIN_FILENO, true, in_)) {
        reader_ = std::make_unique<StreamReader>(in_.stream, nullptr);
        if (is_fifo(STDIN_FILENO)) source_ = {SpliceEnd::Kind::Pipe, STDIN_FILENO, nullptr};
      } else {
        reader_ = std::make_unique<FileReader>(loop, STDIN_FILENO);
      }
    }
    if (write_stdout) {
      if (fcntl(STDOUT_FILENO, F_GETFD) < 0) {
        set_writer(std::make_unique<NullWriter>());
      } else if (is_dev_null(STDOUT_FILENO)) {
        set_writer(std::make_unique<NullWriter>());
        sink_ = {SpliceEnd::Kind::DevNull, STDOUT_FILENO, nullptr};
      } else if (open_std_stream(loop, STDOUT_FILENO, false, out_)) {
        set_writer(std::make_unique<StreamWriter>(out_.stream, nullptr, false));
        if (is_fifo(STDOUT_FILENO)) sink_ = {SpliceEnd::Kind::Pipe, STDOUT_FILENO, nullptr};
      } else {
        set_writer(std::make_unique<FileWriter>(loop, STDOUT_FILENO));
      }
    }
  }
  ~StdioEndpoint() override {
    reader_.reset();
    writer_.reset();
  }
  SpliceEnd splice_source() const override { return source_; }
  SpliceEnd splice_sink() const override { return sink_; }

 private:
  StdStream in_;
  StdStream out_;
  SpliceEnd source_;  // stdin when it is a pipe
  SpliceEnd sink_;    // stdout when it is a pipe or /dev/null
};

class ChildEndpoint final : public HalvesEndpoint {
 public:
  ChildEndpoint(uv_loop_t* loop, const std::string& command, bool through_shell,
                std::function<void(int64_t)> on_exit)
      : on_exit_(std::move(on_exit)) {
    std::vector<std::string> argv;
    if (through_shell) {
      argv = {"/bin/sh", "-c", command};
    } else {
      size_t i = 0;
      while (i < command.size()) {
        while (i < command.size() && (command[i] == ' ' || command[i] == '\t')) ++i;
        size_t j = i;
        while (j < command.size() && command[j] != ' ' && command[j] != '\t') ++j;
        if (j > i) argv.push_back(command.substr(i, j - i));
        i = j;
      }
    }
    if (argv.empty()) throw RuntimeError("--exec: empty command");
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);

    if (uv_pipe_init(loop, to_child_.get(), 0) < 0 || uv_pipe_init(loop, from_child_.get(), 0) < 0)
      throw RuntimeError("cannot create pipes for '" + command + "'");
    to_child_.mark_initialized(nullptr);
    from_child_.mark_initialized(nullptr);

    uv_stdio_container_t stdio[3];
    stdio[0].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_READABLE_PIPE);
    stdio[0].data.stream = to_child_.as_stream();
    stdio[1].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
    stdio[1].data.stream = from_child_.as_stream();
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = STDERR_FILENO;

    uv_process_options_t options{};
    options.file = args[0];
    options.args = args.data();
    options.stdio = stdio;
    options.stdio_count = 3;
    options.exit_cb = [](uv_process_t* p, int64_t status, int signal) {
      auto* self = static_cast<ChildEndpoint*>(p->data);
      if (!self) return;
      self->exited_ = true;
      if (self->on_exit_) self->on_exit_(signal ? 128 + signal : status);
    };
    int rc = uv_spawn(loop, process_.get(), &options);
    if (rc < 0) {
      // uv_spawn initializes the handle even on failure; it must still be closed.
      process_.mark_initialized(nullptr);
      throw RuntimeError(uv_message("cannot run '" + command + "'", rc));
    }
    process_.mark_initialized(this);
    name_ = "child " + std::to_string(process_->pid) + " (" + command + ")";
    reader_ = std::make_unique<StreamReader>(from_child_.as_stream(), nullptr);
    set_writer(std::make_unique<StreamWriter>(to_child_.as_stream(), nullptr, true));
  }
  ~ChildEndpoint() override {
    reader_.reset();
    writer_.reset();
    if (!exited_ && process_.is_open()) uv_process_kill(process_.get(), SIGTERM);
  }

 private:
  Handle<uv_pipe_t> to_child_;
  Handle<uv_pipe_t> from_child_;
  Handle<uv_process_t> process_;
  std::function<void(int64_t)> on_exit_;
  bool exited_ = false;
};

}  // namespace

std::unique_ptr<Endpoint> make_tcp_endpoint(Handle<uv_tcp_t> socket, Counters* counters) {
  return std::make_unique<TcpEndpoint>(std::move(socket), counters);
}

std::unique_ptr<Endpoint> make_stdio_endpoint(uv_loop_t* loop, bool read_stdin, bool write_stdout) {
  return std::make_unique<StdioEndpoint>(loop, read_stdin, write_stdout);
}

std::unique_ptr<Endpoint> spawn_child_endpoint(uv_loop_t* loop, const std::string& command, bool through_shell,
                                               std::function<void(int64_t exit_status)> on_exit) {
  return std::make_unique<ChildEndpoint>(loop, command, through_shell, std::move(on_exit));
}

// ---------------------------------------------------------------- relay

Relay::Relay(Endpoint& from, std::vector<Endpoint*> to, bool end_destinations, std::function<void(int)> on_end,
             Transform transform)
    : from_(&from), to_(std::move(to)), end_destinations_(end_destinations), on_end_(std::move(on_end)),
      transform_(std::move(transform)) {}

Relay::~Relay() = default;

std::shared_ptr<Relay> Relay::start(Endpoint& from, std::vector<Endpoint*> to, bool end_destinations,
                                    std::function<void(int status)> on_end, Transform transform) {
  auto relay = std::make_shared<Relay>(from, std::move(to), end_destinations, std::move(on_end), std::move(transform));
  relay->read_source();
  return relay;
}

void Relay::read_source() {
  std::weak_ptr<Relay> weak = shared_from_this();
  from_->read_start(
      [weak](const ChunkPtr& chunk) {
        if (auto r = weak.lock()) r->on_data(chunk);
      },
      [weak](int status) {
        if (auto r = weak.lock()) r->on_end(status);
      });
}

std::shared_ptr<Relay> Relay::start_exclusive(uv_loop_t* loop, Endpoint& from, Endpoint& to,
                                              std::function<void(int status)> on_end, spdlog::logger* log) {
  auto relay = std::make_shared<Relay>(from, std::vector<Endpoint*>{&to}, false, std::move(on_end), nullptr);
  if (!relay->start_splice(loop, log)) relay->read_source();
  return relay;
}

namespace {

bool splice_disabled_by_environment() {
  const char* value = std::getenv("NETTOOL_NO_SPLICE");
  return value && *value && std::strcmp(value, "0") != 0;
}

}  // namespace

// The splice ends are private to the endpoints of this file; any other
// Endpoint (a plugin's own, say) simply has none.
bool Relay::start_splice(uv_loop_t* loop, spdlog::logger* log) {
  const std::string route = "relay " + from_->describe() + " -> " + to_[0]->describe();
  auto say = [log, route](const std::string& how) {
    if (log) log->debug("{}: {}", route, how);
  };
  auto* source = dynamic_cast<HalvesEndpoint*>(from_);
  auto* sink = dynamic_cast<HalvesEndpoint*>(to_[0]);
  if (!source || !sink) return false;
  if (splice_disabled_by_environment()) {
    say("copying (NETTOOL_NO_SPLICE is set)");
    return false;
  }
  SpliceEnd in = source->splice_source();
  SpliceEnd out = sink->splice_sink();
  if (std::string why = SplicePump::unsuitable(in, out); !why.empty()) {
    say("copying (" + why + ")");
    return false;
  }
  std::weak_ptr<Relay> weak = shared_from_this();
  SplicePump::Callbacks callbacks;
  callbacks.moved = [weak](size_t bytes) {
    if (auto r = weak.lock(); r && r->on_chunk_) r->on_chunk_(bytes);
  };
  callbacks.source_end = [weak](int status) {
    if (auto r = weak.lock()) r->on_end(status);
  };
  callbacks.sink_error = [weak, sink](int status) {
    if (auto r = weak.lock(); r && !r->stopped_) sink->report_write_error(status);
  };
  // Nothing has moved: the copying path starts from the very first byte.
  callbacks.unsupported = [weak, say](int status) {
    auto r = weak.lock();
    if (!r || r->stopped_) return;
    say(std::string("splice(2) refused (") + uv_strerror(status) + "); copying");
    r->read_source();
  };
  // The pump holds no bytes: copying resumes exactly where splicing stopped.
  callbacks.urgent_data = [weak, say] {
    auto r = weak.lock();
    if (!r || r->stopped_) return;
    say("urgent (out-of-band) data, which splice(2) cannot pass; copying from here on");
    r->read_source();
  };
  try {
    pump_ = std::make_unique<SplicePump>(loop, in, out, std::move(callbacks));
  } catch (const RuntimeError& e) {
    say(std::string("copying (") + e.what() + ")");
    return false;
  }
  say(out.kind == SpliceEnd::Kind::DevNull ? "zero-copy (recv(MSG_TRUNC) drops the bytes in the kernel)"
                                            : "zero-copy (splice(2))");
  pump_->start();
  return true;
}

void Relay::add_destination(Endpoint& to) {
  if (std::find(to_.begin(), to_.end(), &to) == to_.end()) to_.push_back(&to);
}

void Relay::remove_destination(Endpoint& to) {
  to_.erase(std::remove(to_.begin(), to_.end(), &to), to_.end());
  if (paused_) maybe_resume();
}

void Relay::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (pump_) pump_->stop();
  if (!ended_) from_->read_pause();
  on_end_ = nullptr;
}

void Relay::on_data(const ChunkPtr& chunk) {
  if (stopped_) return;
  ChunkPtr out = transform_ ? transform_(chunk) : chunk;
  auto self = shared_from_this();  // a write error handler may drop the owner's reference
  if (on_chunk_) on_chunk_(chunk->size);
  for (size_t i = 0; i < to_.size() && !stopped_; ++i) to_[i]->write(out);
  if (stopped_) return;
  for (Endpoint* to : to_) {
    if (to->queued_bytes() >= kHighWatermark) {
      paused_ = true;
      from_->read_pause();
      std::weak_ptr<Relay> weak = self;
      to->when_drained(weak, [weak] {
        if (auto r = weak.lock()) r->maybe_resume();
      });
      return;
    }
  }
}

void Relay::maybe_resume() {
  if (!paused_ || stopped_ || ended_) return;
  for (Endpoint* to : to_) {
    if (to->queued_bytes() >= kLowWatermark) {
      std::weak_ptr<Relay> weak = shared_from_this();
      to->when_drained(weak, [weak] {
        if (auto r = weak.lock()) r->maybe_resume();
      });
      return;
    }
  }
  paused_ = false;
  from_->read_resume();
}

void Relay::on_end(int status) {
  if (ended_ || stopped_) return;
  ended_ = true;
  auto self = shared_from_this();
  if (status == 0 && end_destinations_) {
    for (Endpoint* to : to_) to->end();
  }
  if (auto fn = std::move(on_end_)) fn(status);
}

Relay::Transform make_crlf_transform() {
  return [prev_cr = false](const ChunkPtr& chunk) mutable -> ChunkPtr {
    const char* data = chunk->data.get();
    const char carried = prev_cr ? '\r' : '\0';  // the last byte of the previous chunk, as far as it matters
    if (chunk->size) prev_cr = data[chunk->size - 1] == '\r';
    size_t bare = 0;  // LFs that need a CR
    char prev = carried;
    for (size_t i = 0; i < chunk->size; ++i) {
      if (data[i] == '\n' && prev != '\r') ++bare;
      prev = data[i];
    }
    if (bare == 0) return chunk;
    std::string out;
    out.reserve(chunk->size + bare);
    prev = carried;
    for (size_t i = 0; i < chunk->size; ++i) {
      char c = data[i];
      if (c == '\n' && prev != '\r') out += '\r';
      out += c;
      prev = c;
    }
    return make_chunk(out);
  };
}

}  // namespace nettool
