// What a file server does with a target: percent-decoding, the path rules,
// byte ranges, HTTP dates, status reasons, content types, HTML escaping.
#include "http_internal.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <ctime>

namespace nettool::http {

using namespace detail;

std::optional<std::string> percent_decode_path(std::string_view path) {
  std::string out;
  if (!percent_decode_path(path, out)) return std::nullopt;
  return out;
}

bool percent_decode_path(std::string_view path, std::string& out) {
  out.clear();
  out.reserve(path.size());
  // What lies between escapes is copied a run at a time.
  for (size_t i = 0; i < path.size();) {
    size_t escape = path.find('%', i);
    out.append(path.substr(i, escape == std::string_view::npos ? std::string_view::npos : escape - i));
    if (escape == std::string_view::npos) break;
    if (escape + 2 >= path.size()) return false;  // truncated escape
    int hi = hex_value(path[escape + 1]);
    int lo = hex_value(path[escape + 2]);
    if (hi < 0 || lo < 0) return false;
    char decoded = static_cast<char>(hi * 16 + lo);
    if (decoded == '/' || decoded == '\0') return false;  // %2f would hide a separator
    out += decoded;
    i = escape + 3;
  }
  // Strict UTF-8: rejects overlong forms (%c0%ae for '.'), surrogates and > U+10FFFF.
  const auto* s = reinterpret_cast<const unsigned char*>(out.data());
  size_t n = out.size();
  for (size_t i = 0; i < n;) {
    unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) len = 4, cp = c & 0x07;
    else return false;
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += len;
  }
  return true;
}

std::string percent_encode_path(std::string_view path) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : path) {
    if (std::isalnum(c) || std::strchr("-._~/!$&'()*+,;=:@", c)) {
      if (c == 0) {
        out += "%00";
        continue;
      }
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

PathCheck check_path(std::string_view decoded, bool allow_hidden) {
  PathCheck r;
  check_path(decoded, allow_hidden, r);
  return r;
}

void check_path(std::string_view decoded, bool allow_hidden, PathCheck& r) {
  r.ok = false;
  r.why.clear();
  r.hidden = false;
  // The strings of the last path are assigned over, not made anew: a
  // server checks every request's path into one PathCheck.
  size_t count = 0;
  auto add = [&r, &count](std::string_view segment) {
    if (count < r.segments.size()) r.segments[count].assign(segment);
    else r.segments.emplace_back(segment);
    ++count;
  };
  auto refuse = [&r](const char* why) {
    r.why = why;
    r.segments.clear();  // no partial path to act on
  };
  if (decoded.find('\0') != std::string_view::npos) return refuse("NUL byte in path");
  if (decoded.find('\\') != std::string_view::npos) return refuse("backslash in path");
  bool hidden = false;  // reported only if nothing else is wrong
  size_t pos = 0;
  while (pos <= decoded.size()) {
    size_t slash = decoded.find('/', pos);
    std::string_view seg = decoded.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos);
    if (seg == "..") return refuse("'..' in path");
    for (char c : seg) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return refuse("control character in path");
    }
    if (!seg.empty() && seg != ".") {
      if (seg.front() == '.' && !allow_hidden) hidden = true;
      if (seg.size() > 255) return refuse("path segment too long");
      add(seg);
    }
    if (slash == std::string_view::npos) break;
    pos = slash + 1;
  }
  if (hidden) {
    r.hidden = true;
    return refuse("hidden file");
  }
  r.segments.resize(count);
  r.ok = true;
}

ByteRange parse_range(std::string_view header, uint64_t size) {
  ByteRange r;
  header = trim_ows(header);
  if (header.substr(0, 6) != "bytes=") {
    r.kind = ByteRange::Ignored;
    return r;
  }
  std::string_view spec = trim_ows(header.substr(6));
  if (spec.find(',') != std::string_view::npos) {
    r.kind = ByteRange::Ignored;  // multiple ranges: answer with the whole file
    return r;
  }
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos) {
    r.kind = ByteRange::Ignored;
    return r;
  }
  // Digits only; a number past 2^64 - 1 is taken as that (RFC 9110 §14.1.1
  // lets positions be any length): far past any file's end either way.
  auto number = [](std::string_view s, uint64_t& v) {
    if (s.empty() || s.find_first_not_of("0123456789") != std::string_view::npos) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc::result_out_of_range) v = UINT64_MAX;
    return true;
  };
  std::string_view a = trim_ows(spec.substr(0, dash)), b = trim_ows(spec.substr(dash + 1));
  uint64_t first = 0, last = 0;
  if (a.empty()) {  // suffix: last N bytes
    if (!number(b, last)) {
      r.kind = ByteRange::Ignored;
      return r;
    }
    if (last == 0 || size == 0) {
      r.kind = ByteRange::Unsatisfiable;
      return r;
    }
    r.kind = ByteRange::Satisfiable;
    r.first = last >= size ? 0 : size - last;
    r.last = size - 1;
    return r;
  }
  if (!number(a, first) || (!b.empty() && !number(b, last)) || (!b.empty() && last < first)) {
    r.kind = ByteRange::Ignored;
    return r;
  }
  if (first >= size) {
    r.kind = ByteRange::Unsatisfiable;
    r.first = first;  // == size: a resumed download that is already whole
    return r;
  }
  r.kind = ByteRange::Satisfiable;
  r.first = first;
  r.last = b.empty() || last >= size ? size - 1 : last;
  return r;
}

// Plain arithmetic rather than gmtime_r + strftime: file-serve writes two
// dates per response, and those calls (locale, the tz lock) were a visible
// share of a small-file request. The calendar conversion is Howard Hinnant's
// civil_from_days; any time_t works, including negative ones.
std::string format_date(std::time_t t) {
  static constexpr char kDays[7][4] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};  // day 0 was a Thursday
  static constexpr char kMonths[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  int64_t secs = static_cast<int64_t>(t);
  int64_t days = secs / 86400 - (secs % 86400 < 0 ? 1 : 0);  // floor division
  int64_t of_day = secs - days * 86400;
  int64_t z = days + 719468;  // days since 0000-03-01
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t day = doy - (153 * mp + 2) / 5 + 1;
  int64_t month = mp < 10 ? mp + 3 : mp - 9;
  int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  int64_t weekday = ((days % 7) + 7) % 7;

  char buf[64];
  char* p = buf;
  auto put = [&p](const char* text, size_t n) {
    std::memcpy(p, text, n);
    p += n;
  };
  auto two = [&p](int64_t v) {
    *p++ = static_cast<char>('0' + v / 10);
    *p++ = static_cast<char>('0' + v % 10);
  };
  put(kDays[weekday], 3);
  put(", ", 2);
  two(day);
  *p++ = ' ';
  put(kMonths[month - 1], 3);
  *p++ = ' ';
  if (year >= 0 && year <= 9999) {
    two(year / 100);
    two(year % 100);
  } else {
    p = std::to_chars(p, p + 21, year).ptr;  // an int64_t has at most 20 characters
  }
  *p++ = ' ';
  two(of_day / 3600);
  *p++ = ':';
  two(of_day / 60 % 60);
  *p++ = ':';
  two(of_day % 60);
  put(" GMT", 4);
  return std::string(buf, p);
}

std::optional<std::time_t> parse_date(std::string_view text) {
  std::string s(trim_ows(text));
  std::tm tm{};
  for (const char* fmt : {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"}) {
    tm = std::tm{};
    const char* end = strptime(s.c_str(), fmt, &tm);
    if (end && *end == '\0') return timegm(&tm);
  }
  return std::nullopt;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 412: return "Precondition Failed";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

namespace {
// An extension of at most four characters as one number, its first
// character in the high byte: numbers order as the (zero-padded) names do.
constexpr uint32_t packed_extension(std::string_view ext) {
  uint32_t key = 0;
  for (size_t i = 0; i < 4; ++i) key = key << 8 | (i < ext.size() ? static_cast<unsigned char>(ext[i]) : 0u);
  return key;
}
}  // namespace

std::string_view content_type_for(std::string_view name) {
  // Sorted by extension (checked below). The lookup is a binary search over
  // the extensions packed into numbers: comparing strings here was about
  // 400 instructions of each small-file GET.
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {"css", "text/css; charset=utf-8"},
      {"csv", "text/csv; charset=utf-8"},
      {"deb", "application/vnd.debian.binary-package"},
      {"gif", "image/gif"},
      {"gz", "application/gzip"},
      {"htm", "text/html; charset=utf-8"},
      {"html", "text/html; charset=utf-8"},
      {"ico", "image/vnd.microsoft.icon"},
      {"iso", "application/x-iso9660-image"},
      {"jpeg", "image/jpeg"},
      {"jpg", "image/jpeg"},
      {"js", "text/javascript; charset=utf-8"},
      {"json", "application/json"},
      {"md", "text/markdown; charset=utf-8"},
      {"mp3", "audio/mpeg"},
      {"mp4", "video/mp4"},
      {"pdf", "application/pdf"},
      {"png", "image/png"},
      {"rpm", "application/x-rpm"},
      {"svg", "image/svg+xml"},
      {"tar", "application/x-tar"},
      {"tgz", "application/gzip"},
      {"txt", "text/plain; charset=utf-8"},
      {"wasm", "application/wasm"},
      {"webp", "image/webp"},
      {"xml", "application/xml"},
      {"xz", "application/x-xz"},
      {"yaml", "application/yaml"},
      {"yml", "application/yaml"},
      {"zip", "application/zip"},
      {"zst", "application/zstd"}};
  constexpr size_t kLongest = 4;
  static_assert(std::ranges::all_of(kTypes, [](const auto& t) { return t.first.size() <= kLongest; }));
  static constexpr auto kKeys = [] {
    std::array<uint32_t, std::size(kTypes)> keys{};
    for (size_t i = 0; i < keys.size(); ++i) keys[i] = packed_extension(kTypes[i].first);
    return keys;
  }();
  static_assert(std::ranges::is_sorted(kKeys) && std::ranges::adjacent_find(kKeys) == kKeys.end());
  constexpr std::string_view kDefault = "application/octet-stream";
  size_t dot = name.rfind('.');
  if (dot == std::string_view::npos) return kDefault;
  std::string_view ext = name.substr(dot + 1);
  // A NUL would pack as the padding does ("gz\0" as "gz").
  if (ext.empty() || ext.size() > kLongest || ext.find_first_of(std::string_view("/\0", 2)) != std::string_view::npos)
    return kDefault;
  char lower[kLongest];
  for (size_t i = 0; i < ext.size(); ++i) lower[i] = lower_char(ext[i]);
  const uint32_t key = packed_extension({lower, ext.size()});
  auto it = std::ranges::lower_bound(kKeys, key);
  return it != kKeys.end() && *it == key ? kTypes[it - kKeys.begin()].second : kDefault;
}

std::string html_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace nettool::http
