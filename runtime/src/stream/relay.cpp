// The Relay: bytes from one Endpoint to others with backpressure, or with
// splice(2) when one relay owns both ends (start_exclusive).
#include "endpoint_halves.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "nettool/error.h"

namespace nettool {

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

// The splice ends are private to the runtime's endpoints; any other
// Endpoint (a plugin's own, say) simply has none.
bool Relay::start_splice(uv_loop_t* loop, spdlog::logger* log) {
  const std::string route = "relay " + from_->describe() + " -> " + to_[0]->describe();
  auto say = [log, route](const std::string& how) {
    if (log) log->debug("{}: {}", route, how);
  };
  auto* source = dynamic_cast<HalvesEndpoint*>(from_);
  auto* sink = dynamic_cast<HalvesEndpoint*>(to_[0]);
  if (!source || !sink) {
    say("copying (an end whose bytes pass through nettool: TLS, or a --hex-dump/--output tap)");
    return false;
  }
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
  if (SplicePump::descriptors_scarce(in, out)) {
    say("copying (a quarter of the descriptors allowed, ulimit -n, are in use)");
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

}  // namespace nettool
