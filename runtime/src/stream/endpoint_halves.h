// The pieces of runtime/src/stream/ that the endpoints share; private to the
// runtime (plugins see nettool/stream.h only). An endpoint is a reading half
// and a writing half: the readers and writers are the only code that touches
// uv streams and uv_fs for data. A new kind of endpoint (TLS, a Unix socket)
// is one more file here that puts a Reader and a Writer together.
#pragma once
#include <uv.h>

#include <functional>
#include <memory>
#include <string>

#include "nettool/stream.h"
#include "splice_pump.h"

namespace nettool {

struct Counters;

// A small read in a big pooled buffer would pin 64 KiB per queued chunk; this
// copies it out so queued bytes and memory stay in proportion.
ChunkPtr right_size(ChunkPtr chunk);

// ---- reading halves (readers.cpp)

class Reader {
 public:
  virtual ~Reader() = default;
  virtual void start(Endpoint::DataFn on_data, Endpoint::EndFn on_end) = 0;
  virtual void pause() = 0;
  virtual void resume() = 0;
};

// A uv stream (TCP, pipe, tty); the stream's data pointer is the reader.
std::unique_ptr<Reader> make_stream_reader(uv_stream_t* stream, Counters* counters);
// A regular file or character device, through uv_fs on the thread pool.
std::unique_ptr<Reader> make_file_reader(uv_loop_t* loop, uv_file fd);
// At EOF from the start (stdin closed or not wanted).
std::unique_ptr<Reader> make_empty_reader(uv_loop_t* loop);

// ---- writing halves (writers.cpp)

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

// A uv stream; with shutdown_on_end, end() half-closes it (uv_shutdown).
std::unique_ptr<Writer> make_stream_writer(uv_stream_t* stream, Counters* counters, bool shutdown_on_end);
// A regular file or a non-pollable device, through uv_fs, in order.
std::unique_ptr<Writer> make_file_writer(uv_loop_t* loop, uv_file fd);
// /dev/null: every write completes at once.
std::unique_ptr<Writer> make_null_writer();

// ---- an endpoint made of the two halves

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

}  // namespace nettool
