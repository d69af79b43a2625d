// The writing halves: a uv stream, a file through uv_fs, or /dev/null.
#include "endpoint_halves.h"

#include <algorithm>
#include <deque>
#include <vector>

#include "nettool/plugin.h"

namespace nettool {

namespace {

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

}  // namespace

std::unique_ptr<Writer> make_stream_writer(uv_stream_t* stream, Counters* counters, bool shutdown_on_end) {
  return std::make_unique<StreamWriter>(stream, counters, shutdown_on_end);
}

std::unique_ptr<Writer> make_file_writer(uv_loop_t* loop, uv_file fd) { return std::make_unique<FileWriter>(loop, fd); }

std::unique_ptr<Writer> make_null_writer() { return std::make_unique<NullWriter>(); }

}  // namespace nettool
