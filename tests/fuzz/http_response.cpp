// file-get's side: the response parser, body framing and the chunked decoder.
// Feeding the chunked decoder in two pieces gives the same result as at once.
#include <cstdint>
#include <string>
#include <string_view>

#include "nettool/http.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace http = nettool::http;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto r = http::parse_response(input);
  if (r.status == http::ParseStatus::Complete) (void)http::body_framing(r.response, false);

  http::ChunkedDecoder whole, split;
  std::string out_whole, out_split;
  size_t used = whole.feed(input, out_whole);
  size_t half = size / 2;
  size_t used_split = split.feed(input.substr(0, half), out_split);
  if (used_split == half && split.error().empty() && !split.done()) used_split += split.feed(input.substr(half), out_split);
  if (whole.error().empty() != split.error().empty()) __builtin_trap();
  if (whole.error().empty() && (out_whole != out_split || whole.done() != split.done() || used != used_split))
    __builtin_trap();
  std::string error;
  (void)http::parse_url(input, error);
  return 0;
}
