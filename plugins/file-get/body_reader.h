// The body of one response as it arrives: hands on the bytes to write, as
// they came (a Content-Length or until-close body, --raw) or decoded
// (chunked), never more than the framing (and a 206's range) allows, and
// says when the body is complete or broken. Counts the bytes that go around
// it too (spliced straight from the socket into the file). No I/O: the
// caller writes what it is handed. Unit-tested in tests/unit/test_file_get.cpp.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "nettool/http.h"
#include "nettool/stream.h"

namespace nettool::file_get {

class BodyReader {
 public:
  using EmitFn = std::function<void(const ChunkPtr&)>;

  // `limit`: write at most this many bytes (a 206's Content-Range length);
  // more is an error. --raw reads with the default framing (until close).
  explicit BodyReader(http::BodyFraming framing = {}, std::optional<uint64_t> limit = std::nullopt);

  struct Fed {
    bool done = false;  // the body is complete: stop reading
    std::string error;  // the body is broken (what was fine before it has been emitted)
    size_t ignored = 0;  // bytes after a complete Content-Length body, not written
  };
  // Takes `data`, the next bytes read; calls `emit` with what to write.
  // `whole`, when given, is the chunk `data` is all of: passed on as it is
  // when nothing is cut off or decoded, saving a copy.
  Fed feed(std::string_view data, const ChunkPtr* whole, const EmitFn& emit);

  // True when the body's bytes are the socket's bytes, so they may skip
  // feed() and be spliced: a Content-Length or until-close body.
  bool verbatim() const;
  // Most bytes still to come for a verbatim body (UINT64_MAX: until close).
  uint64_t remaining() const;
  // `n` bytes went straight to the file; true when that completes the body.
  bool spliced(uint64_t n);

  // The peer closed the connection: "" when that ends the body, else why
  // the body is incomplete (a short read, a missing last chunk).
  std::string at_close(const std::string& received) const;

  uint64_t bytes() const { return bytes_; }  // body bytes handed on (or spliced) so far
  http::BodyFraming::Kind kind() const { return framing_.kind; }

 private:
  ChunkPtr copy_to_chunk(std::string_view bytes);

  http::BodyFraming framing_;
  std::optional<uint64_t> limit_;
  uint64_t bytes_ = 0;
  http::ChunkedDecoder chunked_;
  std::string decoded_;  // reused: cleared, never shrunk
  ChunkPool pool_;       // buffers for decoded_'s bytes
};

}  // namespace nettool::file_get
