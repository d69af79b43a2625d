// Where a message body ends (RFC 9112 §6, §7): Content-Length,
// Transfer-Encoding, and the chunked decoder.
#include "http_internal.h"

#include <charconv>
#include <optional>
#include <string>
#include <vector>

#include "nettool/log.h"

namespace nettool::http {

using namespace detail;

namespace {

// Every Content-Length field line and list member must be the same decimal
// number (RFC 9110 §8.6); nullopt with an empty `error` means there is none.
// Fields: a request's HeaderField or a response's Header.
template <class Fields>
std::optional<uint64_t> content_length(const Fields& headers, std::string& error) {
  std::optional<uint64_t> length;
  for (const auto& h : headers) {
    if (!iequals(h.name, "content-length")) continue;
    for_each_list_member(h.value, [&](std::string_view item) {
      uint64_t n = 0;
      auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), n);
      if (item.empty() || ec != std::errc() || p != item.data() + item.size())
        error = "invalid Content-Length '" + escape_for_log(h.value) + "'";
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
template <class Fields>
std::vector<std::string> transfer_codings(const Fields& headers) {
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

// For an error message: the codings as sent, control characters escaped.
std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out.append(out.empty() ? "" : ", ").append(item);
  return escape_for_log(out);
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
    // RFC 9112 §6.1 and §6.3: framing a sender must not produce, which a
    // proxy on the way may have read the other way; refused, as requests are.
    if (response.version_minor == 0) {
      f.error = "Transfer-Encoding in an HTTP/1.0 response";
      return f;
    }
    if (find_header(response.headers, "content-length")) {
      f.error = "both Transfer-Encoding and Content-Length";
      return f;
    }
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

// Strict RFC 9112 §7.1: every line ends in CRLF, an extension starts with
// ';' (after optional whitespace) and holds no control character, a trailer
// line is "name: value". A bare LF or a stray byte is an error, never a line
// end: a proxy in front that reads such a line differently would see other
// requests in the same bytes (request smuggling).
namespace {
// Visible characters, space, tab and obs-text: what an extension or a
// trailer value may hold (RFC 9110 §5.5).
bool is_field_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7f);
}
}  // namespace

size_t ChunkedDecoder::feed(std::string_view input, std::string& out) {
  size_t i = 0;
  auto fail = [&](const char* why) {
    state_ = State::Error;
    error_ = why;
    return i;
  };
  auto after_size_line = [&] {
    state_ = remaining_ == 0 ? State::Trailer : State::Data;
    line_bytes_ = 0;
  };
  while (i < input.size() && state_ != State::Done && state_ != State::Error) {
    char c = input[i];
    switch (state_) {
      case State::Size: {
        int h = hex_value(c);
        if (h >= 0) {
          // Leading zeros are allowed (a line of them is still bounded);
          // 15 significant hex digits keep the size below 2^60.
          if (++size_digits_ > 64) return fail("chunk size line too long");
          if (remaining_ >= (uint64_t{1} << 56)) return fail("chunk size too large");
          remaining_ = remaining_ * 16 + static_cast<uint64_t>(h);
        } else if (size_digits_ == 0) {
          return fail("malformed chunk size");
        } else if (c == ' ' || c == '\t') {
          state_ = State::SizeBws;
        } else if (c == ';') {
          state_ = State::SizeExt;
        } else if (c == '\r') {
          state_ = State::SizeLf;
        } else {
          return fail("malformed chunk size");
        }
        ++i;
        break;
      }
      case State::SizeBws:  // whitespace after the size: an extension must follow
        if (c == ';') state_ = State::SizeExt;
        else if (c != ' ' && c != '\t') return fail("malformed chunk extension");
        ++i;
        break;
      case State::SizeExt:
        if (++line_bytes_ > 4096) return fail("chunk extension too long");
        if (c == '\r') state_ = State::SizeLf;
        else if (!is_field_char(c)) return fail("malformed chunk extension");
        ++i;
        break;
      case State::SizeLf:
        if (c != '\n') return fail("malformed chunk size line");
        ++i;
        after_size_line();
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
        if (c != '\r') return fail("missing CRLF after chunk data");
        state_ = State::DataLf;
        ++i;
        break;
      case State::DataLf:
        if (c != '\n') return fail("missing CRLF after chunk data");
        ++i;
        state_ = State::Size;
        size_digits_ = 0;
        break;
      case State::Trailer:  // the start of a trailer line, or of the final CRLF
        if (c == '\r') state_ = State::EndLf;
        else if (is_tchar(c)) state_ = State::TrailerName;
        else return fail("malformed trailer");
        ++i;
        break;
      case State::TrailerName:
      case State::TrailerValue:
        if (++line_bytes_ > 16384) return fail("trailer section too large");
        if (state_ == State::TrailerName && c == ':') state_ = State::TrailerValue;
        else if (state_ == State::TrailerValue && c == '\r') state_ = State::TrailerLf;
        else if (state_ == State::TrailerName ? !is_tchar(c) : !is_field_char(c)) return fail("malformed trailer");
        ++i;
        break;
      case State::TrailerLf:
        if (c != '\n') return fail("malformed trailer");
        state_ = State::Trailer;
        ++i;
        break;
      case State::EndLf:
        if (c != '\n') return fail("malformed trailer");
        state_ = State::Done;
        ++i;
        break;
      default:
        break;
    }
  }
  return i;
}

}  // namespace nettool::http
