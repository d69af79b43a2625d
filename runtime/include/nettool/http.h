// HTTP/1.1 message parsing shared by file-serve (requests) and file-get
// (responses). Pure functions over byte buffers: no sockets, so they are unit
// tested and fuzzed directly. Limits are enforced here, not by callers.
#pragma once
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nettool::http {

// A field line of a response, owned: file-get keeps them after the head's
// bytes are gone, and a folded value is joined into a new string.
struct Header {
  std::string name;  // as received
  std::string value;  // leading/trailing whitespace removed
};

// A field line of a request, as views into the head it was parsed from.
struct HeaderField {
  std::string_view name;  // as received
  std::string_view value;  // leading/trailing whitespace removed
};

// ASCII only, as HTTP's case-insensitive tokens are; std::tolower is a
// locale-dependent libc call, and it showed in small-file profiles.
inline char lower_char(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
// Inline: header names are compared many times per request, mostly names of another length.
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower_char(a[i]) != lower_char(b[i])) return false;
  return true;
}
// Case-insensitive lookup in a request's (HeaderField) or a response's
// (Header) fields; returns the first match's value.
template <class Field>
const decltype(Field::value)* find_header(const std::vector<Field>& headers, std::string_view name) {
  for (const auto& h : headers)
    if (iequals(h.name, name)) return &h.value;
  return nullptr;
}
// True when the comma-separated field contains `token` (case-insensitive), e.g. Connection: keep-alive, close.
bool has_token(std::string_view field, std::string_view token);

enum class ParseStatus { Incomplete, Complete, Error };

struct RequestLimits {
  size_t max_request_line = 8192;  // 414 beyond
  size_t max_header_bytes = 16384;  // 431 beyond (request line included)
  size_t max_headers = 100;  // 431 beyond
};

// A request head parsed in place: the method, the target and the fields are
// views into the buffer it was parsed from, valid while those bytes are. A
// server answers a request from a copy of its head (repoint_request) while it
// reads ahead into its buffer; nothing is copied or allocated per field.
struct Request {
  std::string_view method;
  std::string_view target;  // as sent, e.g. "/docs/a%20b.txt?x=1"
  int version_minor = 1;  // HTTP/1.x
  std::vector<HeaderField> headers;
  size_t head_size = 0;  // bytes consumed, including the blank line
};

struct RequestParse {
  ParseStatus status = ParseStatus::Incomplete;
  int error_status = 0;  // 400, 414, 431, 505 when status == Error
  std::string_view error;  // human-readable reason, a constant
  // Complete: the request. Error: what its line gave before the error, for
  // the log: the method once a space ended it, the target once the whole
  // line split into three words (the header list may hold the fields
  // before a bad one; nothing else is set).
  Request request;
};

// Parses a request head from the start of `buffer` into `parse`, reusing the
// capacity of its header list: a server parses every request of a
// connection into one RequestParse, and so allocates nothing per request.
void parse_request(std::string_view buffer, RequestParse& parse, const RequestLimits& limits = {});
// The same into a new RequestParse (tests, fuzzing): its views still point into `buffer`.
RequestParse parse_request(std::string_view buffer, const RequestLimits& limits = {});

// Points the views of `request`, parsed from the buffer at `from`, at the
// same bytes in a copy of that buffer at `to` (its first head_size bytes
// at least).
void repoint_request(Request& request, const char* from, const char* to);

// True when the first line of `buffer` (up to the first \n, or all of it if
// there is none yet) can still be or already is an HTTP request line: METHOD
// SP TARGET SP HTTP/, or a malformed one that still ends in an HTTP version
// (" GET / HTTP/1.1", "GET\t/ HTTP/1.1", "GET / http/1.1"), which then gets a
// 400 rather than being taken for a file name. False means the client speaks
// the bare-name protocol. `decided` is false while there are not enough bytes
// to tell: until the line ends, unless "HTTP/" already came as the third word.
bool looks_like_http(std::string_view buffer, bool& decided);

// How the body of a request is delimited (RFC 9112 §6.1, §6.3). A request
// whose framing a proxy in front could read differently (Transfer-Encoding
// with Content-Length, differing or invalid Content-Length, Transfer-Encoding
// in HTTP/1.0, chunked not last) gets error_status 400; a transfer coding
// other than chunked gets 501. Either way the connection must be closed.
struct RequestFraming {
  enum Kind { NoBody, Length, Chunked } kind = NoBody;
  uint64_t length = 0;
  int error_status = 0;
  std::string error;
};
RequestFraming request_framing(const Request& request);

// Percent-decodes a URL path exactly once. Fails (nullopt) on malformed
// escapes, encoded '/' or NUL, and invalid or overlong UTF-8 in the result.
std::optional<std::string> percent_decode_path(std::string_view path);
// The same into `out`, whose capacity a server reuses from one request to the next; false where the above is nullopt.
bool percent_decode_path(std::string_view path, std::string& out);
std::string percent_encode_path(std::string_view path);  // keeps '/', unreserved and sub-delims

// Splits a decoded path into segments and refuses anything that could leave
// the root: "..", backslashes, NUL, control characters, segments over 255
// bytes, and (unless allow_hidden) segments starting with '.'. Empty segments
// (so a leading '/') and "." are dropped.
struct PathCheck {
  bool ok = false;
  std::string why;  // reason when !ok
  bool hidden = false;  // refused only because of a dot-file segment
  std::vector<std::string> segments;  // empty when !ok
};
PathCheck check_path(std::string_view decoded, bool allow_hidden);
void check_path(std::string_view decoded, bool allow_hidden, PathCheck& out);  // reusing out's capacity

// Single byte range against a representation of `size` bytes.
struct ByteRange {
  enum Kind { None, Satisfiable, Unsatisfiable, Ignored } kind = None;  // Ignored: multi-range or malformed
  uint64_t first = 0, last = 0;  // inclusive; Unsatisfiable: `first` as asked (0 for a suffix range)
};
ByteRange parse_range(std::string_view header, uint64_t size);

std::string format_date(std::time_t t);  // IMF-fixdate
std::optional<std::time_t> parse_date(std::string_view text);  // IMF-fixdate, RFC 850, asctime

const char* reason_phrase(int status);
std::string_view content_type_for(std::string_view file_name);
std::string html_escape(std::string_view text);

// ---- client side ----

struct Response {
  int version_minor = 1;
  int status = 0;
  std::string reason;
  std::vector<Header> headers;
  size_t head_size = 0;
};
struct ResponseParse {
  ParseStatus status = ParseStatus::Incomplete;
  bool not_http = false;  // the peer does not speak HTTP at all (a bare-name server?)
  std::string error;
  Response response;
};
ResponseParse parse_response(std::string_view buffer, size_t max_head = 65536);

// How the body of a response is delimited (RFC 9112 section 6.3).
struct BodyFraming {
  enum Kind { NoBody, Length, Chunked, UntilClose } kind = UntilClose;
  uint64_t length = 0;
  std::string error;  // non-empty: invalid (two different Content-Length) or undecodable (TE other than chunked)
};
BodyFraming body_framing(const Response& response, bool request_was_head);

// Incremental chunked-transfer decoder, strict (RFC 9112 §7.1: CRLF line
// ends only, ';' before an extension, "name: value" trailers). feed() appends
// decoded body bytes to `out` and returns how many input bytes it consumed;
// check error() and done().
class ChunkedDecoder {
 public:
  size_t feed(std::string_view input, std::string& out);
  bool done() const { return state_ == State::Done; }
  const std::string& error() const { return error_; }

 private:
  enum class State {
    Size, SizeBws, SizeExt, SizeLf, Data, DataCr, DataLf,
    Trailer, TrailerName, TrailerValue, TrailerLf, EndLf, Done, Error
  };
  State state_ = State::Size;
  uint64_t remaining_ = 0;
  size_t size_digits_ = 0;
  size_t line_bytes_ = 0;  // of the extensions, then of the whole trailer section
  std::string error_;
};

// http://host[:port]/path or https://... — also [v6]:port; the scheme in any
// case, dot segments removed (RFC 3986 §5.2.4).
struct Url {
  std::string host;  // without brackets
  uint16_t port = 80;  // 443 for https
  std::string path_and_query = "/";
  bool tls = false;  // https
};
std::optional<Url> parse_url(std::string_view text, std::string& error);
// Resolves a Location header against the URL it came from (RFC 3986 §5.2);
// a scheme other than http(s) is refused with a clear error; "//host/..."
// keeps the base's scheme.
std::optional<Url> resolve_location(const Url& base, std::string_view location, std::string& error);
std::string host_header(const Url& url);

}  // namespace nettool::http
