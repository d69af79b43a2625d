// An endpoint seen through a TrafficTap (--hex-dump, --output): every chunk
// read from it or written to it is shown to the tap, then passed on as it is.
// It is no HalvesEndpoint, so a relay through it copies rather than splices.
#include <memory>

#include "nettool/dump.h"

namespace nettool {

namespace {

class TapEndpoint final : public Endpoint {
 public:
  TapEndpoint(std::unique_ptr<Endpoint> inner, std::shared_ptr<TrafficTap> tap, uint64_t conn)
      : inner_(std::move(inner)), tap_(std::move(tap)), conn_(conn), peer_(inner_->describe()) {
    inner_->on_write_error([this](int status) { notify_write_error(status); });
  }
  ~TapEndpoint() override { tap_->forget(conn_); }

  std::string describe() const override { return inner_->describe(); }

  bool readable() const override { return inner_->readable(); }
  void read_start(DataFn on_data, EndFn on_end) override {
    inner_->read_start(
        [this, on_data = std::move(on_data)](const ChunkPtr& chunk) {
          tap_->record(TrafficDirection::Received, conn_, peer_, {chunk->data.get(), chunk->size});
          on_data(chunk);
        },
        std::move(on_end));
  }
  void read_pause() override { inner_->read_pause(); }
  void read_resume() override { inner_->read_resume(); }

  bool writable() const override { return inner_->writable(); }
  void write(const ChunkPtr& chunk) override {
    tap_->record(TrafficDirection::Sent, conn_, peer_, {chunk->data.get(), chunk->size});
    inner_->write(chunk);
    // Our drain waiters hear of the inner queue's draining (one wait at a time).
    if (!waiting_for_drain_ && inner_->queued_bytes() >= kLowWatermark) {
      waiting_for_drain_ = true;
      inner_->when_drained(alive_, [this] {
        waiting_for_drain_ = false;
        notify_drained_if_low();
      });
    }
  }
  size_t queued_bytes() const override { return inner_->queued_bytes(); }
  void end(DoneFn done) override { inner_->end(std::move(done)); }

 private:
  std::unique_ptr<Endpoint> inner_;
  std::shared_ptr<TrafficTap> tap_;
  uint64_t conn_;
  std::string peer_;
  bool waiting_for_drain_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // guards the drain wait
};

}  // namespace

std::unique_ptr<Endpoint> make_tap_endpoint(std::unique_ptr<Endpoint> inner, std::shared_ptr<TrafficTap> tap,
                                            uint64_t conn) {
  if (!tap) return inner;
  return std::make_unique<TapEndpoint>(std::move(inner), std::move(tap), conn);
}

}  // namespace nettool
