// Chunks, their pool, and what every Endpoint does with its write queue.
#include "endpoint_halves.h"

#include <algorithm>
#include <cstring>

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
  auto chunk = std::make_shared<Chunk>(chunk_size_);
  if (chunks_.size() < 32) chunks_.push_back(chunk);
  return chunk;
}

void ChunkPool::trim() {
  chunks_.erase(std::remove_if(chunks_.begin(), chunks_.end(), [](const ChunkPtr& c) { return c.use_count() == 1; }),
                chunks_.end());
}

// A small read in a big pooled buffer would pin 64 KiB per queued chunk; copy
// it out so queued bytes and memory stay in proportion.
ChunkPtr right_size(ChunkPtr chunk) {
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

}  // namespace nettool
