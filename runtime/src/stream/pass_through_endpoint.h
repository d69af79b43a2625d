// An endpoint that hands everything to the endpoint it wraps and lets a
// subclass see each chunk on its way: the skeleton shared by the tap
// (--hex-dump, --output) and the counter (-v above TLS). It is no
// HalvesEndpoint, so a relay through it copies rather than splices.
#pragma once
#include <memory>
#include <string>

#include "nettool/stream.h"

namespace nettool {

class PassThroughEndpoint : public Endpoint {
 public:
  explicit PassThroughEndpoint(std::unique_ptr<Endpoint> inner) : inner_(std::move(inner)) {
    inner_->on_write_error([this](int status) { notify_write_error(status); });
  }

  std::string describe() const override { return inner_->describe(); }

  bool readable() const override { return inner_->readable(); }
  void read_start(DataFn on_data, EndFn on_end) override {
    inner_->read_start(
        [this, on_data = std::move(on_data)](const ChunkPtr& chunk) {
          received(*chunk);
          on_data(chunk);
        },
        std::move(on_end));
  }
  void read_pause() override { inner_->read_pause(); }
  void read_resume() override { inner_->read_resume(); }

  bool writable() const override { return inner_->writable(); }
  void write(const ChunkPtr& chunk) override {
    sending(*chunk);
    inner_->write(chunk);
    moved_on();
    // Our drain waiters hear of the inner queue's draining (one wait at a time).
    if (!waiting_for_drain_ && inner_->queued_bytes() >= kLowWatermark) {
      waiting_for_drain_ = true;
      inner_->when_drained(alive_, [this] {
        waiting_for_drain_ = false;
        moved_on();
        notify_drained_if_low();
      });
    }
  }
  size_t queued_bytes() const override { return inner_->queued_bytes(); }
  void end(DoneFn done) override {
    std::weak_ptr<bool> alive = alive_;
    inner_->end([this, alive, done = std::move(done)](int status) {
      if (alive.lock()) moved_on();
      if (done) done(status);
    });
  }

 protected:
  // A chunk read from the inner endpoint, before the reader gets it.
  virtual void received(const Chunk&) {}
  // A chunk written to us, before the inner endpoint gets it.
  virtual void sending(const Chunk&) {}
  // The inner queue may have shrunk: after a write, a drain, the end.
  virtual void moved_on() {}

  const Endpoint& inner() const { return *inner_; }

 private:
  std::unique_ptr<Endpoint> inner_;
  bool waiting_for_drain_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // guards the drain wait and the end
};

}  // namespace nettool
