// Byte transforms a Relay applies on the way (--crlf).
#include "endpoint_halves.h"

#include <string>

namespace nettool {

Relay::Transform make_crlf_transform() {
  return [prev_cr = false](const ChunkPtr& chunk) mutable -> ChunkPtr {
    const char* data = chunk->data.get();
    const char carried = prev_cr ? '\r' : '\0';  // the last byte of the previous chunk, as far as it matters
    if (chunk->size) prev_cr = data[chunk->size - 1] == '\r';
    size_t bare = 0;  // LFs that need a CR
    char prev = carried;
    for (size_t i = 0; i < chunk->size; ++i) {
      if (data[i] == '\n' && prev != '\r') ++bare;
      prev = data[i];
    }
    if (bare == 0) return chunk;
    std::string out;
    out.reserve(chunk->size + bare);
    prev = carried;
    for (size_t i = 0; i < chunk->size; ++i) {
      char c = data[i];
      if (c == '\n' && prev != '\r') out += '\r';
      out += c;
      prev = c;
    }
    return make_chunk(out);
  };
}

}  // namespace nettool
