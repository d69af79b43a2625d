// file-get's side: the response parser (obs-fold joined), body framing, the
// chunked decoder, URLs and redirects. Feeding the chunked decoder in two
// pieces gives the same result as at once; a resolved redirect is a URL with
// an absolute path free of dot segments and control characters.
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
  if (r.status == http::ParseStatus::Complete)
    for (const auto& h : r.response.headers)
      for (char c : h.value)
        if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) __builtin_trap();
  std::string error;
  (void)http::parse_url(input, error);
  http::Url base;
  base.host = "h";
  base.path_and_query = "/a/b/c?q";
  error.clear();
  if (auto next = http::resolve_location(base, input, error)) {
    const std::string& p = next->path_and_query;
    std::string_view path = std::string_view(p).substr(0, p.find('?'));
    if (path.empty() || path.front() != '/') __builtin_trap();
    if (path.find("/../") != std::string_view::npos || path.find("/./") != std::string_view::npos) __builtin_trap();
    for (char c : p)
      if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) __builtin_trap();
  } else if (error.empty()) {
    __builtin_trap();
  }
  return 0;
}
