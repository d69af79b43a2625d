// What file-get does with a response head: follow it elsewhere, start over,
// finish what the .part already holds, fail, or save its body, and then how
// the body is framed, where in the file it starts and what it must add up to.
// A pure function of the head and of what the request asked for, no I/O:
// unit-tested on its own (tests/unit/test_file_get.cpp). FileGet carries the
// plan out.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nettool/http.h"

namespace nettool::file_get {

using Digest = std::array<uint8_t, 32>;

// What the request that got this response asked for.
struct Attempt {
  uint64_t resume_from = 0;         // bytes the .part keeps: the Range started here (0: no Range)
  bool range_sent = false;
  bool retried_from_zero = false;   // a 416 already made us start over once
  bool part_has_data = false;       // the .part holds bytes of an earlier attempt
  std::string validator;            // sent as If-Range with the Range ("" for none)
  int64_t redirects = 0;            // followed so far
  int64_t max_redirects = 5;
};

struct ResponsePlan {
  enum class Action {
    Redirect,         // connect again for `next`
    AlreadyComplete,  // a 416 says the .part is the whole file: verify and rename it
    StartOver,        // a 416 we cannot continue from: ask again for the whole file
    Fail,             // `error` says why; the .part is kept
    Save,             // read the body into the file
  };
  Action action = Action::Fail;
  std::string error;  // Fail
  // Fail, for an error status whose body is a short plain text (file-serve's
  // 400 to plain HTTP on its HTTPS port says to use https://): read this many
  // bytes of the body and add them to `error` with error_with_body(). 0: none.
  size_t quote_body = 0;
  http::Url next;     // Redirect

  // Save (and AlreadyComplete, for expected_size and expected_digest).
  http::BodyFraming framing;
  uint64_t base = 0;                        // bytes in the file before this body (a 206 continues at resume_from)
  std::optional<uint64_t> expected_size;    // of the whole file, when known
  std::optional<uint64_t> body_limit;       // a 206: the length of its Content-Range; no more is written
  std::optional<Digest> expected_digest;    // Repr-Digest's sha-256
  bool restart_file = false;                // a 200 while the .part has data: truncate it first
  std::string validator;                    // a 200: keep for a later --resume's If-Range ("" for none)

  std::vector<std::string> warnings;  // for the user (log level warn)
  std::vector<std::string> notes;     // what was decided and why (log level info)
  std::vector<std::string> details;   // for -vv (log level debug)
};

// `url` is where the request went: a relative Location resolves against it.
ResponsePlan plan_response(const http::Response& response, const http::Url& url, const Attempt& attempt);

// Content-Range: bytes FIRST-LAST/TOTAL (TOTAL may be '*').
struct ContentRange {
  uint64_t first = 0, last = 0;
  std::optional<uint64_t> total;
};
std::optional<ContentRange> parse_content_range(std::string_view field);
// A 416's Content-Range: bytes */SIZE.
std::optional<uint64_t> parse_unsatisfied_range(std::string_view field);
// What a later --resume sends as If-Range: a strong entity tag, else the
// Last-Modified date (a weak tag cannot be used there, RFC 9110 §13.1.5); "" for none.
std::string validator_of(const http::Response& response);
// "404 Not Found", the reason escaped for a log line.
std::string status_text(const http::Response& response);
// The most bytes of an error response's body worth quoting in the message.
inline constexpr size_t kMaxQuotedBody = 200;
// `error` with the text of an error response's body added: "server answered
// 400 Bad Request: this port speaks HTTPS; use https://". The body goes on
// one line (each run of white space, line breaks too, one space), control
// characters escaped, without its own copy of the status line ("404 Not
// Found" adds nothing); `error` alone when nothing else is left.
std::string error_with_body(const std::string& error, const http::Response& response, std::string_view body);

}  // namespace nettool::file_get
