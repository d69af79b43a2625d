// BodyReader (see body_reader.h): one short path per framing.
#include "body_reader.h"

#include <algorithm>
#include <cstring>

namespace nettool::file_get {

BodyReader::BodyReader(http::BodyFraming framing, std::optional<uint64_t> limit)
    : framing_(std::move(framing)), limit_(limit) {}

BodyReader::Fed BodyReader::feed(std::string_view data, const ChunkPtr* whole, const EmitFn& emit) {
  Fed fed;
  auto hand_on = [&](const ChunkPtr& chunk) {
    bytes_ += chunk->size;
    emit(chunk);
  };
  switch (framing_.kind) {
    case http::BodyFraming::UntilClose:
      if (!data.empty()) hand_on(whole ? *whole : make_chunk(data));
      return fed;
    case http::BodyFraming::Length: {
      uint64_t left = framing_.length - bytes_;
      size_t take = static_cast<size_t>(std::min<uint64_t>(left, data.size()));
      if (take > 0) hand_on(whole && take == data.size() ? *whole : make_chunk(data.substr(0, take)));
      fed.done = bytes_ == framing_.length;
      if (fed.done) fed.ignored = data.size() - take;
      return fed;
    }
    case http::BodyFraming::Chunked: {
      decoded_.clear();
      chunked_.feed(data, decoded_);
      if (!chunked_.error().empty()) {
        fed.error = "invalid chunked encoding: " + chunked_.error();
        return fed;
      }
      if (limit_ && bytes_ + decoded_.size() > *limit_) {
        size_t fits = static_cast<size_t>(*limit_ - bytes_);
        if (fits > 0) hand_on(copy_to_chunk(std::string_view(decoded_).substr(0, fits)));
        fed.error = "invalid response: more body than the " + std::to_string(*limit_) + " bytes of its Content-Range";
        return fed;
      }
      if (!decoded_.empty()) hand_on(copy_to_chunk(decoded_));
      fed.done = chunked_.done();
      return fed;
    }
    case http::BodyFraming::NoBody:
      // Only 1xx/204/304 have none, and those are never saved.
      fed.done = true;
      return fed;
  }
  return fed;
}

bool BodyReader::verbatim() const {
  return framing_.kind == http::BodyFraming::Length || framing_.kind == http::BodyFraming::UntilClose;
}

uint64_t BodyReader::remaining() const {
  return framing_.kind == http::BodyFraming::Length ? framing_.length - bytes_ : UINT64_MAX;
}

bool BodyReader::spliced(uint64_t n) {
  bytes_ += n;
  return framing_.kind == http::BodyFraming::Length && bytes_ == framing_.length;
}

std::string BodyReader::at_close(const std::string& received) const {
  switch (framing_.kind) {
    case http::BodyFraming::Length: return "short read: connection closed after " + received;
    case http::BodyFraming::Chunked:
      return "connection closed before the last chunk (after " + std::to_string(bytes_) + " bytes)";
    default: return "";
  }
}

// Decoded (chunked) body bytes go into a buffer from our own pool, given
// back once the disk writer has written it, instead of a new allocation per
// read. Small pieces get a buffer of their own size, so the memory held by
// the write queue stays in proportion to the bytes it counts (as the runtime
// does for its reads).
ChunkPtr BodyReader::copy_to_chunk(std::string_view bytes) {
  if (bytes.size() > kReadChunkSize || bytes.size() < kReadChunkSize / 4) return make_chunk(bytes);
  ChunkPtr chunk = pool_.acquire();
  std::memcpy(chunk->data.get(), bytes.data(), bytes.size());
  chunk->size = bytes.size();
  return chunk;
}

}  // namespace nettool::file_get
