// Where a message body ends (RFC 9112 §6, §7): Content-Length,
// Transfer-Encoding, and the chunked decoder.
#include "http_internal.h"

#include <charconv>
#include <optional>
#include <string>
#include <vector>

namespace nettool::http {

using namespace detail;

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

}  // namespace nettool::http
