// Small pieces every part of runtime/src/http/ uses; private to the runtime.
// The parts: message.cpp (request and response heads, bare-name detection),
// framing.cpp (Content-Length, Transfer-Encoding, chunked), resource.cpp
// (paths, ranges, dates, types) and url.cpp (URLs and redirects); the API is
// nettool/http.h.
#pragma once
#include <array>
#include <cctype>
#include <cstring>
#include <string_view>

#include "nettool/http.h"

namespace nettool::http::detail {

// ASCII letters and digits, whatever the locale (std::isalnum is a libc call per character).
constexpr bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

// What a byte may be in the parts of a request head, one table lookup per
// byte: the request parser looks at every byte of a head, and a libc call
// or a strchr per byte was a good part of a small GET's instructions.
enum CharClass : unsigned char {
  kTchar = 1,        // token (method, field name): RFC 9110 §5.6.2
  kControl = 2,      // forbidden in a field value or a path: CTLs but HTAB, and DEL
  kHostChar = 4,     // a reg-name's unreserved and sub-delims (RFC 3986 §3.2.2); '%' apart
  kNotInTarget = 8,  // whitespace and control characters: never in a request target
};
inline constexpr auto kCharClasses = [] {
  std::array<unsigned char, 256> classes{};
  auto mark = [&classes](std::string_view chars, CharClass c) {
    for (char ch : chars) classes[static_cast<unsigned char>(ch)] |= c;
  };
  for (int c = 0; c < 256; ++c) {
    if (is_alnum(static_cast<char>(c))) classes[c] |= kTchar | kHostChar;
    if ((c < 0x20 && c != '\t') || c == 0x7f) classes[c] |= kControl;
    if (c <= 0x20 || c == 0x7f) classes[c] |= kNotInTarget;
  }
  mark("!#$%&'*+-.^_`|~", kTchar);
  mark("-._~!$&'()*+,;=", kHostChar);
  return classes;
}();
constexpr bool has_class(char c, CharClass k) { return kCharClasses[static_cast<unsigned char>(c)] & k; }

constexpr bool is_tchar(char c) { return has_class(c, kTchar); }
constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }

inline std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}


// Calls `each(item)` for every member of a comma-separated field value
// (RFC 9110 §5.6.1), whitespace trimmed, empty members included; stops early
// when `each` returns false.
template <class Each>
void for_each_list_member(std::string_view field, Each each) {
  size_t pos = 0;
  while (pos <= field.size()) {
    size_t comma = field.find(',', pos);
    if (!each(trim_ows(field.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos))))
      return;
    if (comma == std::string_view::npos) return;
    pos = comma + 1;
  }
}

inline int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace nettool::http::detail
