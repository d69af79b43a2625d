// The conditional-request rules (RFC 9110 §13). Input: the values of
// If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since and
// If-Range, separated by newlines. Properties: no crash; a strong match
// implies a weak one; a malformed If-Match never lets the request through
// unless it is "*" or holds the current tag.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "preconditions.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  static const char* const kNames[] = {"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since",
                                       "If-Range"};
  std::vector<nettool::http::HeaderField> headers;
  std::string_view if_range;
  for (const char* name : kNames) {
    size_t nl = input.find('\n');
    std::string_view value = input.substr(0, nl);
    if (!value.empty()) headers.push_back({name, value});
    if (std::string_view(name) == "If-Range") if_range = value;
    if (nl == std::string_view::npos) break;
    input.remove_prefix(nl + 1);
  }
  const file_serve::Validators file{"\"5-a-1\"", 1700000000};
  for (const auto& h : headers) {
    bool strong = file_serve::etag_list_matches(h.value, file.etag, true);
    bool weak = file_serve::etag_list_matches(h.value, file.etag, false);
    if (strong && !weak) __builtin_trap();
    if (strong && h.value.find(file.etag) == std::string::npos && h.value.find('*') == std::string::npos)
      __builtin_trap();
  }
  (void)file_serve::evaluate_preconditions(headers, true, file);
  (void)file_serve::evaluate_preconditions(headers, false, file);
  bool settled = file_serve::if_range_matches(if_range, file, file.last_modified + 1);
  bool same_second = file_serve::if_range_matches(if_range, file, file.last_modified);
  if (same_second && !settled) __builtin_trap();  // a date that is too fresh only takes matches away
  return 0;
}
