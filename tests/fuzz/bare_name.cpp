// The first-line classifier and the bare-name path check of file-serve:
// a name that passes check_path never has a ".." segment, a NUL, a backslash
// or a leading '/' in its segments.
#include <cstdint>
#include <string>
#include <string_view>

#include "nettool/http.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  bool decided = false;
  (void)nettool::http::looks_like_http(input, decided);
  std::string_view line = input.substr(0, input.find('\n'));
  for (bool hidden : {false, true}) {
    auto check = nettool::http::check_path(line, hidden);
    if (!check.ok) continue;
    for (const auto& seg : check.segments) {
      if (seg.empty() || seg == "." || seg == ".." || seg.find('/') != std::string::npos ||
          seg.find('\0') != std::string::npos || seg.find('\\') != std::string::npos)
        __builtin_trap();
      if (!hidden && seg.front() == '.') __builtin_trap();
    }
  }
  return 0;
}
