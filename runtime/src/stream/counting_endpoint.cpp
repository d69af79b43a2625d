// An endpoint whose bytes are counted as they pass through it: received =
// what it delivers to the reader, sent = what is written to it. A TLS
// endpoint is wrapped in one so that -v counts the application's bytes, not
// the records on the wire (its socket is then made without counters). Like the
// tap, it is no HalvesEndpoint: a relay through it copies.
#include <memory>

#include "nettool/plugin.h"
#include "nettool/counting.h"

namespace nettool {

namespace {

class CountingEndpoint final : public Endpoint {
 public:
  CountingEndpoint(std::unique_ptr<Endpoint> inner, Counters* counters)
      : inner_(std::move(inner)), counters_(counters) {
    inner_->on_write_error([this](int status) { notify_write_error(status); });
  }

  std::string describe() const override { return inner_->describe(); }

  bool readable() const override { return inner_->readable(); }
  void read_start(DataFn on_data, EndFn on_end) override {
    inner_->read_start(
        [this, on_data = std::move(on_data)](const ChunkPtr& chunk) {
          counters_->bytes_received += chunk->size;
          // What was queued during the handshake (file-get's request) has
          // gone out by now, and nothing else would count it on a connection
          // that is never ended from our side.
          count_sent();
          on_data(chunk);
        },
        std::move(on_end));
  }
  void read_pause() override { inner_->read_pause(); }
  void read_resume() override { inner_->read_resume(); }

  bool writable() const override { return inner_->writable(); }
  void write(const ChunkPtr& chunk) override {
    accepted_ += chunk->size;
    inner_->write(chunk);
    count_sent();
    // Our drain waiters hear of the inner queue's draining (one wait at a time).
    if (!waiting_for_drain_ && inner_->queued_bytes() >= kLowWatermark) {
      waiting_for_drain_ = true;
      inner_->when_drained(alive_, [this] {
        waiting_for_drain_ = false;
        count_sent();
        notify_drained_if_low();
      });
    }
  }
  size_t queued_bytes() const override { return inner_->queued_bytes(); }
  void end(DoneFn done) override {
    std::weak_ptr<bool> alive = alive_;
    inner_->end([this, alive, done = std::move(done)](int status) {
      if (alive.lock()) count_sent();
      if (done) done(status);
    });
  }

 private:
  // Sent = written to us and no longer queued below: data held back by a
  // handshake that then failed, or still queued when a session dies, never
  // went out and is not counted. (The queue below holds records, a little
  // larger than the data, so the count may lag until it drains.)
  void count_sent() {
    const uint64_t queued = inner_->queued_bytes();
    const uint64_t gone = accepted_ > queued ? accepted_ - queued : 0;
    if (gone <= counted_) return;
    counters_->bytes_sent += gone - counted_;
    counted_ = gone;
  }

  uint64_t accepted_ = 0;  // written to us
  uint64_t counted_ = 0;   // of which added to counters_
  std::unique_ptr<Endpoint> inner_;
  Counters* counters_;
  bool waiting_for_drain_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // guards the drain wait
};

}  // namespace

std::unique_ptr<Endpoint> make_counting_endpoint(std::unique_ptr<Endpoint> inner, Counters* counters) {
  if (!counters) return inner;
  return std::make_unique<CountingEndpoint>(std::move(inner), counters);
}

}  // namespace nettool
