// The reading halves: a uv stream, a file through uv_fs, or nothing at all.
#include "endpoint_halves.h"

#include "nettool/plugin.h"

namespace nettool {

namespace {

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

}  // namespace

std::unique_ptr<Reader> make_stream_reader(uv_stream_t* stream, Counters* counters) {
  return std::make_unique<StreamReader>(stream, counters);
}

std::unique_ptr<Reader> make_file_reader(uv_loop_t* loop, uv_file fd) { return std::make_unique<FileReader>(loop, fd); }

std::unique_ptr<Reader> make_empty_reader(uv_loop_t* loop) { return std::make_unique<EmptyReader>(loop); }

}  // namespace nettool
