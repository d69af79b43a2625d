// HTTP/1.1 message heads: field lines, requests (with Host), responses, and
// telling a request line from a bare file name (RFC 9112 §2–§5).
#include "http_internal.h"

#include <algorithm>
#include <charconv>
#include <type_traits>

namespace nettool::http {

using namespace detail;

namespace {

bool has_control_character(std::string_view value) {
  return std::any_of(value.begin(), value.end(), [](char c) { return has_class(c, kControl); });
}

enum class HeaderProblem { None, Malformed, TooMany };

// Parses "Name: value" lines from `block` (each ending in \r\n or \n) into
// `out`: views for a request (HeaderField), strings for a response (Header).
// They differ on obs-fold, a line starting with SP or HTAB (RFC 9112 §5.2):
// a server refuses it, since a proxy in front may read it differently; a
// client must accept it, and joins the lines with one space.
template <class Field>
HeaderProblem parse_header_lines(std::string_view block, std::vector<Field>& out, size_t max_headers,
                                 std::string_view& error) {
  constexpr bool kRequest = std::is_same_v<Field, HeaderField>;
  while (!block.empty()) {
    size_t nl = block.find('\n');
    std::string_view line = block.substr(0, nl);
    block.remove_prefix(nl == std::string_view::npos ? block.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    if (line.front() == ' ' || line.front() == '\t') {
      if (kRequest || out.empty()) {
        error = "obsolete header line folding";
        return HeaderProblem::Malformed;
      }
      std::string_view more = trim_ows(line);
      if (has_control_character(more)) {
        error = "control character in a header value";
        return HeaderProblem::Malformed;
      }
      if constexpr (!kRequest)
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
    if constexpr (kRequest)
      out.push_back({name, value});
    else
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
    } else if (!has_class(c, kHostChar)) {
      return false;
    }
  }
  return port.size() <= 5 && std::all_of(port.begin(), port.end(), is_digit);
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
         is_digit(version[5]) && version[6] == '.' &&
         is_digit(version[7]);
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

void parse_request(std::string_view buffer, RequestParse& parse, const RequestLimits& limits) {
  Request& request = parse.request;
  parse.status = ParseStatus::Incomplete;
  parse.error_status = 0;
  parse.error = {};
  request.method = request.target = {};
  request.version_minor = 1;
  request.headers.clear();  // keeps its capacity for the next request
  request.head_size = 0;
  auto fail = [&parse](int status, std::string_view why) {
    parse.status = ParseStatus::Error;
    parse.error_status = status;
    parse.error = why;
  };
  // The method and target are kept before anything is checked, so that the
  // log of a refused request still says what it asked for: the method once a
  // space ends it, the target once the line is whole and has its three words.
  size_t first_nl = buffer.find('\n');
  std::string_view line = buffer.substr(0, first_nl);
  size_t sp1 = line.find(' ');
  // A real method is a short word; 8 KiB of junk before a space (a 414) is not one to log.
  constexpr size_t kMaxLoggedMethod = 32;
  if (sp1 != std::string_view::npos && sp1 <= kMaxLoggedMethod) request.method = line.substr(0, sp1);
  // The limits apply while the line or the head is still arriving, too.
  if (line.size() > limits.max_request_line) return fail(414, "request line too long");
  if (first_nl == std::string_view::npos) return;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  bool three_words = sp2 != std::string_view::npos && line.find(' ', sp2 + 1) == std::string_view::npos;
  if (three_words) {
    request.method = line.substr(0, sp1);  // whatever its length: the checks below judge it
    request.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  }
  size_t end = find_head_end(buffer);
  size_t head_length = end == std::string_view::npos ? buffer.size() : end;
  if (head_length > limits.max_header_bytes) return fail(431, "request header too large");
  if (end == std::string_view::npos) return;
  if (!three_words) return fail(400, "malformed request line");
  std::string_view method = request.method;
  std::string_view target = request.target;
  std::string_view version = line.substr(sp2 + 1);
  if (method.empty() || !std::all_of(method.begin(), method.end(), is_tchar)) return fail(400, "malformed method");
  if (target.empty()) return fail(400, "empty request target");
  if (std::any_of(target.begin(), target.end(), [](char c) { return has_class(c, kNotInTarget); }))
    return fail(400, "control character in the request target");
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !is_digit(version[5]) || version[6] != '.' ||
      !is_digit(version[7]))
    return fail(400, "malformed HTTP version");
  if (version[5] != '1') return fail(505, "HTTP version not supported");
  request.version_minor = version[7] - '0';
  std::string_view error;
  HeaderProblem problem =
      parse_header_lines(buffer.substr(first_nl + 1, end - first_nl - 1), request.headers, limits.max_headers, error);
  if (problem != HeaderProblem::None) return fail(problem == HeaderProblem::TooMany ? 431 : 400, error);
  const std::string_view* host = nullptr;
  for (const auto& h : request.headers) {
    if (!iequals(h.name, "host")) continue;
    if (host) return fail(400, "more than one Host header");
    host = &h.value;
  }
  if (request.version_minor >= 1 && !host) return fail(400, "missing Host header");
  if (host && !valid_host_field(*host)) return fail(400, "invalid Host header");
  request.head_size = end;
  parse.status = ParseStatus::Complete;
}

RequestParse parse_request(std::string_view buffer, const RequestLimits& limits) {
  RequestParse parse;
  parse_request(buffer, parse, limits);
  return parse;
}

void repoint_request(Request& request, const char* from, const char* to) {
  auto moved = [from, to](std::string_view view) {
    return view.data() ? std::string_view(to + (view.data() - from), view.size()) : view;
  };
  request.method = moved(request.method);
  request.target = moved(request.target);
  for (auto& field : request.headers) {
    field.name = moved(field.name);
    field.value = moved(field.value);
  }
}

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
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || !is_digit(line[7]) ||
      line[8] != ' ')
    return fail("malformed status line");
  int status = 0;
  auto [p, ec] = std::from_chars(line.data() + 9, line.data() + 12, status);
  if (ec != std::errc() || p != line.data() + 12 || status < 100 || status > 999) return fail("malformed status code");
  if (line.size() > 12 && line[12] != ' ') return fail("malformed status line");
  result.response.version_minor = line[7] - '0';
  result.response.status = status;
  result.response.reason = line.size() > 13 ? std::string(line.substr(13)) : "";
  std::string_view error;
  if (parse_header_lines(buffer.substr(nl + 1, end - nl - 1), result.response.headers, 200, error) !=
      HeaderProblem::None)
    return fail(std::string(error));
  result.response.head_size = end;
  result.status = ParseStatus::Complete;
  return result;
}

}  // namespace nettool::http
