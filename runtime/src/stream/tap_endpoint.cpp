// An endpoint seen through a TrafficTap (--hex-dump, --output): every chunk
// read from it or written to it is shown to the tap, then passed on as it is.
#include <memory>

#include "nettool/dump.h"
#include "pass_through_endpoint.h"

namespace nettool {

namespace {

class TapEndpoint final : public PassThroughEndpoint {
 public:
  TapEndpoint(std::unique_ptr<Endpoint> wrapped, std::shared_ptr<TrafficTap> tap, uint64_t conn)
      : PassThroughEndpoint(std::move(wrapped)), tap_(std::move(tap)), conn_(conn), peer_(inner().describe()) {}
  ~TapEndpoint() override { tap_->forget(conn_); }

 private:
  void received(const Chunk& chunk) override {
    tap_->record(TrafficDirection::Received, conn_, peer_, {chunk.data.get(), chunk.size});
  }
  void sending(const Chunk& chunk) override {
    tap_->record(TrafficDirection::Sent, conn_, peer_, {chunk.data.get(), chunk.size});
  }

  std::shared_ptr<TrafficTap> tap_;
  uint64_t conn_;
  std::string peer_;
};

}  // namespace

std::unique_ptr<Endpoint> make_tap_endpoint(std::unique_ptr<Endpoint> inner, std::shared_ptr<TrafficTap> tap,
                                            uint64_t conn) {
  if (!tap) return inner;
  return std::make_unique<TapEndpoint>(std::move(inner), std::move(tap), conn);
}

}  // namespace nettool
