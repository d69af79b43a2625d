#include "nettool/http.h"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace nettool::http {

namespace {

bool is_tchar(char c) {
  if (std::isalnum(static_cast<unsigned char>(c))) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != 0;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

char lower_char(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

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

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool has_control_character(std::string_view value) {
  for (char c : value)
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) return true;
  return false;
}

// How obs-fold (a header line starting with SP or HTAB, RFC 9112 §5.2) is
// taken: a server refuses it, since a proxy in front may read it differently;
// a client must accept it and join the lines with one space.
enum class Folding { Refuse, JoinWithSpace };

enum class HeaderProblem { None, Malformed, TooMany };

// Parses "Name: value" lines from `block` (each ending in \r\n or \n).
HeaderProblem parse_header_lines(std::string_view block, std::vector<Header>& out, size_t max_headers, Folding folding,
                                 std::string& error) {
  while (!block.empty()) {
    size_t nl = block.find('\n');
    std::string_view line = block.substr(0, nl);
    block.remove_prefix(nl == std::string_view::npos ? block.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    if (line.front() == ' ' || line.front() == '\t') {
      if (folding == Folding::Refuse || out.empty()) {
        error = "obsolete header line folding";
        return HeaderProblem::Malformed;
      }
      std::string_view more = trim_ows(line);
      if (has_control_character(more)) {
        error = "control character in a header value";
        return HeaderProblem::Malformed;
      }
      if (!more.empty()) out.back().value.append(out.back().value.empty() ? "" : " ").append(more);
      continue;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      error = "header line without a name";
      return HeaderProblem::Malformed;
    }
    std::string_view name = line.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), is_tchar)) {
      error = "invalid header name";
      return HeaderProblem::Malformed;
    }
    std::string_view value = trim_ows(line.substr(colon + 1));
    if (has_control_character(value)) {
      error = "control character in a header value";
      return HeaderProblem::Malformed;
    }
    if (out.size() >= max_headers) {
      error = "too many header fields";
      return HeaderProblem::TooMany;
    }
    out.push_back({std::string(name), std::string(value)});
  }
  return HeaderProblem::None;
}

// Host = uri-host [ ":" port ] (RFC 9112 §3.2, RFC 3986 §3.2.2): an IP
// literal in brackets, or a reg-name of unreserved characters, sub-delims and
// percent-escapes (which covers IPv4 addresses). Empty is valid: it is the
// Host of a target without an authority.
bool valid_host_field(std::string_view value) {
  std::string_view host = value, port;
  if (!value.empty() && value.front() == '[') {
    size_t close = value.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (char c : value.substr(1, close - 1))
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.' && c != 'v' && c != 'V') return false;
    std::string_view after = value.substr(close + 1);
    if (!after.empty() && after.front() != ':') return false;
    port = after.empty() ? after : after.substr(1);
    host = {};
  } else if (size_t colon = value.find(':'); colon != std::string_view::npos) {
    host = value.substr(0, colon);
    port = value.substr(colon + 1);
  }
  for (size_t i = 0; i < host.size(); ++i) {
    char c = host[i];
    if (c == '%') {
      if (i + 2 >= host.size() || hex_value(host[i + 1]) < 0 || hex_value(host[i + 2]) < 0) return false;
      i += 2;
    } else if (!std::isalnum(static_cast<unsigned char>(c)) && (c == 0 || !std::strchr("-._~!$&'()*+,;=", c))) {
      return false;
    }
  }
  return port.size() <= 5 && std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Finds the end of the head: the first empty line. Returns the offset just
// past it, or npos.
size_t find_head_end(std::string_view buffer) {
  size_t pos = 0;
  while (true) {
    size_t nl = buffer.find('\n', pos);
    if (nl == std::string_view::npos) return std::string_view::npos;
    // Line from pos to nl; empty if nl == pos or (nl == pos + 1 and buffer[pos] == '\r').
    if (nl == pos || (nl == pos + 1 && buffer[pos] == '\r')) return nl + 1;
    pos = nl + 1;
  }
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower_char(a[i]) != lower_char(b[i])) return false;
  return true;
}

const std::string* find_header(const std::vector<Header>& headers, std::string_view name) {
  for (const auto& h : headers)
    if (iequals(h.name, name)) return &h.value;
  return nullptr;
}

bool has_token(std::string_view field, std::string_view token) {
  bool found = false;
  for_each_list_member(field, [&](std::string_view item) { return !(found = iequals(item, token)); });
  return found;
}

namespace {

// "... HTTP/1.1" in any case, after whitespace: an HTTP request line, even if
// a malformed one.
bool ends_in_http_version(std::string_view line) {
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
  if (line.size() < 9) return false;
  std::string_view version = line.substr(line.size() - 8);
  return (line[line.size() - 9] == ' ' || line[line.size() - 9] == '\t') && iequals(version.substr(0, 5), "http/") &&
         std::isdigit(static_cast<unsigned char>(version[5])) && version[6] == '.' &&
         std::isdigit(static_cast<unsigned char>(version[7]));
}

// Whether `line` is or can still become METHOD SP TARGET SP HTTP/...; sets
// `seen_version` once "HTTP/" has arrived as the third word.
bool request_line_prefix(std::string_view line, bool& seen_version) {
  seen_version = false;
  size_t i = 0;
  while (i < line.size() && is_tchar(line[i])) ++i;
  if (i == line.size()) return i < 32;  // still reading the method
  if (i == 0 || line[i] != ' ') return false;
  size_t sp2 = line.find(' ', i + 1);
  if (sp2 == std::string_view::npos) return true;  // target still arriving
  std::string_view rest = line.substr(sp2 + 1);
  std::string_view proto = "HTTP/";
  size_t n = std::min(rest.size(), proto.size());
  if (rest.substr(0, n) != proto.substr(0, n)) return false;
  seen_version = rest.size() >= proto.size();
  return true;
}

}  // namespace

bool looks_like_http(std::string_view buffer, bool& decided) {
  size_t nl = buffer.find('\n');
  std::string_view line = buffer.substr(0, nl);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  bool seen_version = false;
  bool prefix = request_line_prefix(line, seen_version);
  if (nl == std::string_view::npos) {
    decided = prefix && seen_version;
    return prefix;
  }
  decided = true;
  return (prefix && seen_version) || ends_in_http_version(line);
}

RequestParse parse_request(std::string_view buffer, const RequestLimits& limits) {
  RequestParse result;
  size_t first_nl = buffer.find('\n');
  if (first_nl == std::string_view::npos) {
    if (buffer.size() > limits.max_request_line) {
      result.status = ParseStatus::Error;
      result.error_status = 414;
      result.error = "request line too long";
    }
    return result;
  }
  if (first_nl > limits.max_request_line) {
    result.status = ParseStatus::Error;
    result.error_status = 414;
    result.error = "request line too long";
    return result;
  }
  size_t end = find_head_end(buffer);
  if (end == std::string_view::npos) {
    if (buffer.size() > limits.max_header_bytes) {
      result.status = ParseStatus::Error;
      result.error_status = 431;
      result.error = "request header too large";
    }
    return result;
  }
  if (end > limits.max_header_bytes) {
    result.status = ParseStatus::Error;
    result.error_status = 431;
    result.error = "request header too large";
    return result;
  }
  auto fail = [&](int status, std::string why) {
    result.status = ParseStatus::Error;
    result.error_status = status;
    result.error = std::move(why);
    return result;
  };
  std::string_view line = buffer.substr(0, first_nl);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    return fail(400, "malformed request line");
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (method.empty() || !std::all_of(method.begin(), method.end(), is_tchar)) return fail(400, "malformed method");
  if (target.empty()) return fail(400, "empty request target");
  for (char c : target)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return fail(400, "control character in the request target");
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !std::isdigit(static_cast<unsigned char>(version[5])) ||
      version[6] != '.' || !std::isdigit(static_cast<unsigned char>(version[7])))
    return fail(400, "malformed HTTP version");
  if (version[5] != '1') return fail(505, "HTTP version not supported");
  result.request.method = std::string(method);
  result.request.target = std::string(target);
  result.request.version_minor = version[7] - '0';
  std::string error;
  HeaderProblem problem = parse_header_lines(buffer.substr(first_nl + 1, end - first_nl - 1), result.request.headers,
                                             limits.max_headers, Folding::Refuse, error);
  if (problem != HeaderProblem::None) return fail(problem == HeaderProblem::TooMany ? 431 : 400, error);
  const std::string* host = nullptr;
  for (const auto& h : result.request.headers) {
    if (!iequals(h.name, "host")) continue;
    if (host) return fail(400, "more than one Host header");
    host = &h.value;
  }
  if (result.request.version_minor >= 1 && !host) return fail(400, "missing Host header");
  if (host && !valid_host_field(*host)) return fail(400, "invalid Host header");
  result.request.head_size = end;
  result.status = ParseStatus::Complete;
  return result;
}

std::optional<std::string> percent_decode_path(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  for (size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '%') {
      if (i + 2 >= path.size()) return std::nullopt;  // truncated escape
      int hi = hex_value(path[i + 1]);
      int lo = hex_value(path[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      char decoded = static_cast<char>(hi * 16 + lo);
      if (decoded == '/' || decoded == '\0') return std::nullopt;  // %2f would hide a separator
      out += decoded;
      i += 2;
    } else {
      out += c;
    }
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
    else return std::nullopt;
    if (i + len > n) return std::nullopt;
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xc0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return std::nullopt;
    i += len;
  }
  return out;
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
  if (decoded.find('\0') != std::string_view::npos) {
    r.why = "NUL byte in path";
    return r;
  }
  if (decoded.find('\\') != std::string_view::npos) {
    r.why = "backslash in path";
    return r;
  }
  bool hidden = false;  // reported only if nothing else is wrong
  size_t pos = 0;
  while (pos <= decoded.size()) {
    size_t slash = decoded.find('/', pos);
    std::string_view seg = decoded.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos);
    if (seg == "..") {
      r.why = "'..' in path";
      return r;
    }
    for (char c : seg) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        r.why = "control character in path";
        return r;
      }
    }
    if (!seg.empty() && seg != ".") {
      if (seg.front() == '.' && !allow_hidden) hidden = true;
      if (seg.size() > 255) {
        r.why = "path segment too long";
        return r;
      }
      r.segments.emplace_back(seg);
    }
    if (slash == std::string_view::npos) break;
    pos = slash + 1;
  }
  if (hidden) {
    r.why = "hidden file";
    r.hidden = true;
    r.segments.clear();
    return r;
  }
  r.ok = true;
  return r;
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
  auto number = [](std::string_view s, uint64_t& v) {
    if (s.empty() || s.size() > 19) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc() && p == s.data() + s.size();
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
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

std::string_view content_type_for(std::string_view name) {
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {"html", "text/html; charset=utf-8"}, {"htm", "text/html; charset=utf-8"},
      {"txt", "text/plain; charset=utf-8"}, {"md", "text/markdown; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},   {"js", "text/javascript; charset=utf-8"},
      {"json", "application/json"},         {"xml", "application/xml"},
      {"yaml", "application/yaml"},         {"yml", "application/yaml"},
      {"csv", "text/csv; charset=utf-8"},   {"png", "image/png"},
      {"jpg", "image/jpeg"},                {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},                 {"svg", "image/svg+xml"},
      {"webp", "image/webp"},               {"ico", "image/vnd.microsoft.icon"},
      {"pdf", "application/pdf"},           {"zip", "application/zip"},
      {"gz", "application/gzip"},           {"tgz", "application/gzip"},
      {"tar", "application/x-tar"},         {"xz", "application/x-xz"},
      {"zst", "application/zstd"},          {"deb", "application/vnd.debian.binary-package"},
      {"rpm", "application/x-rpm"},         {"mp4", "video/mp4"},
      {"mp3", "audio/mpeg"},                {"wasm", "application/wasm"},
      {"iso", "application/x-iso9660-image"}};
  size_t dot = name.rfind('.');
  size_t slash = name.rfind('/');
  if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash)) return "application/octet-stream";
  std::string ext;
  for (char c : name.substr(dot + 1)) ext += lower_char(c);
  for (const auto& [e, type] : kTypes)
    if (e == ext) return type;
  return "application/octet-stream";
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

// ---- client side ----

ResponseParse parse_response(std::string_view buffer, size_t max_head) {
  ResponseParse result;
  size_t end = find_head_end(buffer);
  if (end == std::string_view::npos) {
    if (buffer.size() > max_head) {
      result.status = ParseStatus::Error;
      result.error = "response header larger than " + std::to_string(max_head) + " bytes";
    } else if (buffer.size() >= 5 && buffer.substr(0, 5) != "HTTP/") {
      result.status = ParseStatus::Error;
      result.not_http = true;
      result.error = "not an HTTP response";
    }
    return result;
  }
  auto fail = [&](std::string why) {
    result.status = ParseStatus::Error;
    result.error = std::move(why);
    return result;
  };
  if (end > max_head) return fail("response header larger than " + std::to_string(max_head) + " bytes");
  size_t nl = buffer.find('\n');
  std::string_view line = buffer.substr(0, nl);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.substr(0, 5) != "HTTP/") {
    result.not_http = true;
    return fail("not an HTTP response");
  }
  // HTTP/1.1 200 OK
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || !std::isdigit(static_cast<unsigned char>(line[7])) ||
      line[8] != ' ')
    return fail("malformed status line");
  int status = 0;
  auto [p, ec] = std::from_chars(line.data() + 9, line.data() + 12, status);
  if (ec != std::errc() || p != line.data() + 12 || status < 100 || status > 999) return fail("malformed status code");
  if (line.size() > 12 && line[12] != ' ') return fail("malformed status line");
  result.response.version_minor = line[7] - '0';
  result.response.status = status;
  result.response.reason = line.size() > 13 ? std::string(line.substr(13)) : "";
  std::string error;
  if (parse_header_lines(buffer.substr(nl + 1, end - nl - 1), result.response.headers, 200, Folding::JoinWithSpace,
                         error) != HeaderProblem::None)
    return fail(error);
  result.response.head_size = end;
  result.status = ParseStatus::Complete;
  return result;
}

namespace {

// Every Content-Length field line and list member must be the same decimal
// number (RFC 9110 §8.6); nullopt with an empty `error` means there is none.
std::optional<uint64_t> content_length(const std::vector<Header>& headers, std::string& error) {
  std::optional<uint64_t> length;
  for (const auto& h : headers) {
    if (!iequals(h.name, "content-length")) continue;
    for_each_list_member(h.value, [&](std::string_view item) {
      uint64_t n = 0;
      auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), n);
      if (item.empty() || ec != std::errc() || p != item.data() + item.size())
        error = "invalid Content-Length '" + h.value + "'";
      else if (length && *length != n)
        error = "conflicting Content-Length values";
      length = n;
      return error.empty();
    });
    if (!error.empty()) return std::nullopt;
  }
  return length;
}

// The transfer codings of every Transfer-Encoding line, in order, lower-cased;
// empty list members are skipped (RFC 9110 §5.6.1).
std::vector<std::string> transfer_codings(const std::vector<Header>& headers) {
  std::vector<std::string> codings;
  for (const auto& h : headers) {
    if (!iequals(h.name, "transfer-encoding")) continue;
    for_each_list_member(h.value, [&](std::string_view item) {
      if (item.empty()) return true;
      std::string coding;
      for (char c : item) coding += lower_char(c);
      codings.push_back(std::move(coding));
      return true;
    });
  }
  return codings;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out.append(out.empty() ? "" : ", ").append(item);
  return out;
}

}  // namespace

RequestFraming request_framing(const Request& request) {
  RequestFraming f;
  auto fail = [&f](int status, std::string why) {
    f.error_status = status;
    f.error = std::move(why);
    return f;
  };
  bool has_te = find_header(request.headers, "transfer-encoding") != nullptr;
  bool has_cl = find_header(request.headers, "content-length") != nullptr;
  if (has_te) {
    // Each of these is read differently by some proxy in front: a request
    // that may hide another is refused and the connection closed.
    if (request.version_minor == 0) return fail(400, "Transfer-Encoding in an HTTP/1.0 request");
    if (has_cl) return fail(400, "both Transfer-Encoding and Content-Length");
    std::vector<std::string> codings = transfer_codings(request.headers);
    if (codings.empty()) return fail(400, "empty Transfer-Encoding");
    for (size_t i = 0; i + 1 < codings.size(); ++i)
      if (codings[i] == "chunked") return fail(400, "chunked is not the final transfer coding");
    if (codings.size() > 1 || codings.back() != "chunked")
      return fail(501, "unsupported transfer coding '" + join(codings) + "'");
    f.kind = RequestFraming::Chunked;
    return f;
  }
  std::string error;
  std::optional<uint64_t> length = content_length(request.headers, error);
  if (!error.empty()) return fail(400, error);
  if (length && *length > 0) {
    f.kind = RequestFraming::Length;
    f.length = *length;
  }
  return f;
}

BodyFraming body_framing(const Response& response, bool request_was_head) {
  BodyFraming f;
  if (request_was_head || (response.status >= 100 && response.status < 200) || response.status == 204 ||
      response.status == 304) {
    f.kind = BodyFraming::NoBody;
    return f;
  }
  if (find_header(response.headers, "transfer-encoding")) {
    // Chunked is all we decode; saving a body still gzipped (or framed by a
    // coding we cannot see the end of) as if it were the file would be a lie.
    std::vector<std::string> codings = transfer_codings(response.headers);
    if (codings.size() != 1 || codings.front() != "chunked") {
      f.error = "unsupported Transfer-Encoding '" + join(codings) + "' (only chunked can be decoded)";
      return f;
    }
    f.kind = BodyFraming::Chunked;
    return f;
  }
  std::optional<uint64_t> length = content_length(response.headers, f.error);
  if (length) {
    f.kind = BodyFraming::Length;
    f.length = *length;
  }
  return f;
}

size_t ChunkedDecoder::feed(std::string_view input, std::string& out) {
  size_t i = 0;
  auto fail = [&](const char* why) {
    state_ = State::Error;
    error_ = why;
    return i;
  };
  while (i < input.size() && state_ != State::Done && state_ != State::Error) {
    char c = input[i];
    switch (state_) {
      case State::Size: {
        int h = hex_value(c);
        if (h >= 0) {
          if (++size_digits_ > 15) return fail("chunk size too large");
          remaining_ = remaining_ * 16 + static_cast<uint64_t>(h);
          ++i;
        } else if (size_digits_ == 0) {
          return fail("malformed chunk size");
        } else if (c == ';' || c == ' ' || c == '\t') {
          state_ = State::SizeExt;
          ++i;
        } else if (c == '\r') {
          state_ = State::SizeLf;
          ++i;
        } else if (c == '\n') {
          ++i;
          state_ = remaining_ == 0 ? State::Trailer : State::Data;
          line_bytes_ = 0;
          trailer_line_empty_ = true;
        } else {
          return fail("malformed chunk size");
        }
        break;
      }
      case State::SizeExt:
        if (++line_bytes_ > 4096) return fail("chunk extension too long");
        if (c == '\r') {
          state_ = State::SizeLf;
        } else if (c == '\n') {
          state_ = remaining_ == 0 ? State::Trailer : State::Data;
          line_bytes_ = 0;
          trailer_line_empty_ = true;
        }
        ++i;
        break;
      case State::SizeLf:
        if (c != '\n') return fail("malformed chunk size line");
        ++i;
        state_ = remaining_ == 0 ? State::Trailer : State::Data;
        line_bytes_ = 0;
        trailer_line_empty_ = true;
        break;
      case State::Data: {
        size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, input.size() - i));
        out.append(input.data() + i, take);
        i += take;
        remaining_ -= take;
        if (remaining_ == 0) state_ = State::DataCr;
        break;
      }
      case State::DataCr:
        if (c == '\r') {
          state_ = State::DataLf;
          ++i;
        } else if (c == '\n') {
          ++i;
          state_ = State::Size;
          size_digits_ = 0;
        } else {
          return fail("missing CRLF after chunk data");
        }
        break;
      case State::DataLf:
        if (c != '\n') return fail("missing CRLF after chunk data");
        ++i;
        state_ = State::Size;
        size_digits_ = 0;
        break;
      case State::Trailer:
        if (c == '\r') {
          state_ = State::TrailerLf;
        } else if (c == '\n') {
          if (trailer_line_empty_) state_ = State::Done;
          trailer_line_empty_ = true;
        } else {
          if (++line_bytes_ > 16384) return fail("trailer section too large");
          trailer_line_empty_ = false;
        }
        ++i;
        break;
      case State::TrailerLf:
        if (c != '\n') return fail("malformed trailer");
        ++i;
        if (trailer_line_empty_) state_ = State::Done;
        else state_ = State::Trailer;
        trailer_line_empty_ = true;
        break;
      default:
        break;
    }
  }
  return i;
}

namespace {

// RFC 3986 §5.2.4 on an absolute path ("/a/b/../c" is "/a/c"); the query, if
// any, is left alone.
std::string remove_dot_segments(std::string_view path_and_query) {
  size_t query = path_and_query.find('?');
  std::string_view path = path_and_query.substr(0, query);
  std::vector<std::string_view> kept;
  size_t pos = 1;  // past the leading '/'
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    bool last = slash == std::string_view::npos;
    std::string_view segment = path.substr(pos, last ? std::string_view::npos : slash - pos);
    if (segment == "..") {
      if (!kept.empty()) kept.pop_back();
    } else if (segment != ".") {
      kept.push_back(segment);
    }
    if ((segment == "." || segment == "..") && last) kept.emplace_back();  // "/a/.." is "/", a directory
    if (last) break;
    pos = slash + 1;
  }
  std::string out;
  for (std::string_view segment : kept) out.append("/").append(segment);
  if (out.empty()) out = "/";
  if (query != std::string_view::npos) out.append(path_and_query.substr(query));
  return out;
}

// The scheme of an absolute URI ("HTTP" in "HTTP://h/"), or empty for a
// relative reference (RFC 3986 §3.1, §4.2).
std::string_view uri_scheme(std::string_view reference) {
  size_t colon = reference.find(':');
  if (colon == std::string_view::npos || colon == 0 || !std::isalpha(static_cast<unsigned char>(reference[0])))
    return {};
  std::string_view scheme = reference.substr(0, colon);
  bool ok = std::all_of(scheme.begin(), scheme.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
  });
  return ok ? scheme : std::string_view{};
}

}  // namespace

std::optional<Url> parse_url(std::string_view text, std::string& error) {
  Url url;
  std::string_view rest;
  if (iequals(text.substr(0, 7), "http://")) {
    rest = text.substr(7);
  } else if (iequals(text.substr(0, 8), "https://")) {
    error = "https is not supported (plain http:// only)";
    return std::nullopt;
  } else {
    error = "expected a URL starting with http://";
    return std::nullopt;
  }
  size_t slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
  if (auto hash = path.find('#'); hash != std::string_view::npos) path = path.substr(0, hash);
  // (Built by append: GCC 12 warns falsely on `"/" + std::string(...)`, bug 105651.)
  if (path.empty() || path.front() != '/') url.path_and_query.assign("/").append(path);
  else url.path_and_query = std::string(path);
  url.path_and_query = remove_dot_segments(url.path_and_query);
  if (authority.find('@') != std::string_view::npos) {
    error = "user:password@ in URLs is not supported";
    return std::nullopt;
  }
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "unterminated [IPv6] address in URL";
      return std::nullopt;
    }
    url.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        error = "malformed URL authority";
        return std::nullopt;
      }
      port_text = after.substr(1);
    }
  } else {
    size_t colon = authority.rfind(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (url.host.empty()) {
    error = "URL has no host";
    return std::nullopt;
  }
  for (char c : url.host) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      error = "URL host contains spaces or control characters";
      return std::nullopt;
    }
  }
  if (!port_text.empty()) {
    unsigned port = 0;
    auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || p != port_text.data() + port_text.size() || port == 0 || port > 65535) {
      error = "invalid port in URL";
      return std::nullopt;
    }
    url.port = static_cast<uint16_t>(port);
  }
  for (char c : url.path_and_query) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      error = "URL contains spaces or control characters (percent-encode them)";
      return std::nullopt;
    }
  }
  return url;
}

std::optional<Url> resolve_location(const Url& base, std::string_view location, std::string& error) {
  location = location.substr(0, location.find('#'));  // fragments are never sent
  if (std::string_view scheme = uri_scheme(location); !scheme.empty()) {
    if (iequals(scheme, "http") || iequals(scheme, "https")) return parse_url(location, error);
    error = "redirect to a '" + std::string(scheme) + ":' URL (only http:// can be followed)";
    return std::nullopt;
  }
  if (location.substr(0, 2) == "//") return parse_url("http:" + std::string(location), error);
  // A relative reference, merged with the base (RFC 3986 §5.2.2, §5.2.3).
  Url url = base;
  std::string base_path = base.path_and_query.substr(0, base.path_and_query.find('?'));
  if (location.empty()) {
    // Same resource: keep the base path and query.
  } else if (location.front() == '?') {
    url.path_and_query = base_path.append(location);  // same path, new query
  } else if (location.front() == '/') {
    url.path_and_query = remove_dot_segments(location);
  } else {
    url.path_and_query = remove_dot_segments(base_path.substr(0, base_path.rfind('/') + 1).append(location));
  }
  for (char c : url.path_and_query) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      error = "redirect Location contains control characters";
      return std::nullopt;
    }
  }
  return url;
}

std::string host_header(const Url& url) {
  std::string host;
  if (url.host.find(':') != std::string::npos) host.append("[").append(url.host).append("]");
  else host = url.host;
  if (url.port != 80) host.append(":").append(std::to_string(url.port));
  return host;
}

}  // namespace nettool::http
