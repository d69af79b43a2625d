// The HTTP request parser and request framing: any bytes; never crashes, a
// Complete parse is self-consistent, a reused RequestParse is as good as a
// fresh one, and framing is either a body kind or a 400/501 refusal.
#include <cstdint>
#include <string>
#include <string_view>

#include "nettool/http.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto r = nettool::http::parse_request(input);
  // A RequestParse reused from the last input (as a server reuses one per
  // connection) comes out as a fresh one does.
  static nettool::http::RequestParse reused;
  nettool::http::parse_request(input, reused);
  if (reused.status != r.status || reused.error_status != r.error_status || reused.error != r.error ||
      reused.request.method != r.request.method || reused.request.target != r.request.target ||
      reused.request.version_minor != r.request.version_minor || reused.request.head_size != r.request.head_size ||
      reused.request.headers.size() != r.request.headers.size())
    __builtin_trap();
  for (size_t i = 0; i < r.request.headers.size(); ++i)
    if (reused.request.headers[i].name != r.request.headers[i].name ||
        reused.request.headers[i].value != r.request.headers[i].value)
      __builtin_trap();
  if (r.status == nettool::http::ParseStatus::Complete) {
    if (r.request.head_size == 0 || r.request.head_size > input.size()) __builtin_trap();
    if (r.request.method.empty() || r.request.target.empty()) __builtin_trap();
    // Every view lies in the head, so a copy of the head can take them all
    // (repoint_request), and then they read the same.
    std::string_view head = input.substr(0, r.request.head_size);
    auto in_head = [head](std::string_view v) {
      if (!v.data()) return v.empty();
      return v.data() >= head.data() && v.data() + v.size() <= head.data() + head.size();
    };
    if (!in_head(r.request.method) || !in_head(r.request.target)) __builtin_trap();
    for (const auto& h : r.request.headers)
      if (!in_head(h.name) || !in_head(h.value)) __builtin_trap();
    std::string copy(head);
    nettool::http::Request moved = r.request;
    nettool::http::repoint_request(moved, input.data(), copy.data());
    if (moved.method != r.request.method || moved.target != r.request.target ||
        moved.method.data() != copy.data() + (r.request.method.data() - input.data()))
      __builtin_trap();
    auto in_copy = [&copy](std::string_view v) {
      if (!v.data()) return v.empty();
      return v.data() >= copy.data() && v.data() + v.size() <= copy.data() + copy.size();
    };
    for (size_t i = 0; i < moved.headers.size(); ++i)
      if (moved.headers[i].name != r.request.headers[i].name || moved.headers[i].value != r.request.headers[i].value ||
          !in_copy(moved.headers[i].name) || !in_copy(moved.headers[i].value))
        __builtin_trap();
    // Parsing the same head again (the rest being a pipelined request) is stable.
    auto again = nettool::http::parse_request(input.substr(0, r.request.head_size));
    if (again.status != nettool::http::ParseStatus::Complete) __builtin_trap();
    auto framing = nettool::http::request_framing(r.request);
    if (framing.error_status != 0 && framing.error_status != 400 && framing.error_status != 501) __builtin_trap();
    if ((framing.error_status != 0) == framing.error.empty()) __builtin_trap();
    if (framing.kind == nettool::http::RequestFraming::Length && framing.length == 0) __builtin_trap();
  }
  if (r.status == nettool::http::ParseStatus::Error &&
      r.error_status != 400 && r.error_status != 414 && r.error_status != 431 && r.error_status != 505)
    __builtin_trap();
  return 0;
}
