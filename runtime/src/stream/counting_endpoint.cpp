// An endpoint whose bytes are counted as they pass through it: received =
// what it delivers to the reader, sent = what is written to it. A TLS
// endpoint is wrapped in one so that -v counts the application's bytes, not
// the records on the wire (its socket is then made without counters).
#include <memory>

#include "nettool/plugin.h"
#include "nettool/counting.h"
#include "pass_through_endpoint.h"

namespace nettool {

namespace {

class CountingEndpoint final : public PassThroughEndpoint {
 public:
  CountingEndpoint(std::unique_ptr<Endpoint> wrapped, Counters* counters)
      : PassThroughEndpoint(std::move(wrapped)), counters_(counters) {}

 private:
  void received(const Chunk& chunk) override {
    counters_->bytes_received += chunk.size;
    // What was queued during the handshake (file-get's request) has gone out
    // by now, and nothing else would count it on a connection that is never
    // ended from our side.
    moved_on();
  }
  void sending(const Chunk& chunk) override { accepted_ += chunk.size; }

  // Sent = written to us and no longer queued below: data held back by a
  // handshake that then failed, or still queued when a session dies, never
  // went out and is not counted. (The queue below holds records, a little
  // larger than the data, so the count may lag until it drains.)
  void moved_on() override {
    const uint64_t queued = inner().queued_bytes();
    const uint64_t gone = accepted_ > queued ? accepted_ - queued : 0;
    if (gone <= counted_) return;
    counters_->bytes_sent += gone - counted_;
    counted_ = gone;
  }

  Counters* counters_;
  uint64_t accepted_ = 0;  // written to us
  uint64_t counted_ = 0;   // of which added to counters_
};

}  // namespace

std::unique_ptr<Endpoint> make_counting_endpoint(std::unique_ptr<Endpoint> inner, Counters* counters) {
  if (!counters) return inner;
  return std::make_unique<CountingEndpoint>(std::move(inner), counters);
}

}  // namespace nettool
