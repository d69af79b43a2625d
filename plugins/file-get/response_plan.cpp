// plan_response() (see response_plan.h): the rules for a response head, in
// the order they apply: redirects, a 416 to a resumed request, errors, the
// framing, and then a 206 (continue the .part) or a 200 (the whole file).
#include "response_plan.h"

#include <charconv>

#include "nettool/digest.h"
#include "nettool/log.h"

namespace nettool::file_get {

namespace {

bool is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

bool parse_number(std::string_view text, uint64_t& out) {
  if (text.empty()) return false;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && p == text.data() + text.size();
}

std::string_view trim_front(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  return v;
}

ResponsePlan failure(std::string why) {
  ResponsePlan plan;
  plan.action = ResponsePlan::Action::Fail;
  plan.error = std::move(why);
  return plan;
}

// Reads the response's Repr-Digest into plan.expected_digest. Field lines
// are one list (RFC 9110 §5.3), so a sha-256 member on a later line counts
// over an earlier one. False: a sha-256 member that is not a digest, which
// fails the download rather than leaving it unverified.
bool read_repr_digest(const http::Response& response, ResponsePlan& plan) {
  std::string field;
  for (const auto& h : response.headers)
    if (http::iequals(h.name, "repr-digest")) field.append(field.empty() ? "" : ", ").append(h.value);
  if (field.empty()) return true;
  Digest d{};
  switch (parse_repr_digest_sha256(field, d)) {
    case DigestField::Found: plan.expected_digest = d; return true;
    case DigestField::Absent:
      plan.warnings.push_back("Repr-Digest offers no sha-256 ('" + escape_for_log(field) +
                              "'): the file is not verified");
      return true;
    case DigestField::Malformed: break;
  }
  plan.error = "invalid response: malformed sha-256 in Repr-Digest '" + escape_for_log(field) + "'";
  return false;
}

// An error response's body is quoted when a person wrote it to be read as
// it is: short plain text. Only with a Content-Length, so that the wait for
// it has a known end.
size_t quotable_body_length(const http::Response& response) {
  const std::string* type = http::find_header(response.headers, "content-type");
  if (!type) return 0;
  std::string_view media = trim_front(std::string_view(*type).substr(0, type->find(';')));
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  if (!http::iequals(media, "text/plain")) return 0;
  http::BodyFraming framing = http::body_framing(response, false);
  if (!framing.error.empty() || framing.kind != http::BodyFraming::Length || framing.length > kMaxQuotedBody) return 0;
  return static_cast<size_t>(framing.length);
}

ResponsePlan plan_redirect(const http::Response& response, const http::Url& url, const Attempt& attempt) {
  const std::string* location = http::find_header(response.headers, "location");
  if (!location || location->empty())
    return failure("server answered " + status_text(response) + " without a Location");
  if (attempt.redirects >= attempt.max_redirects)
    return failure("too many redirects (more than " + std::to_string(attempt.max_redirects) + ")");
  std::string error;
  auto next = http::resolve_location(url, *location, error);
  if (!next)
    return failure("bad redirect to '" + escape_for_log(*location) + "': " + error);
  ResponsePlan plan;
  plan.action = ResponsePlan::Action::Redirect;
  plan.next = *next;
  return plan;
}

// Two validators of the same kind: two entity tags, or two dates.
bool same_kind(std::string_view a, std::string_view b) { return (a.front() == '"') == (b.front() == '"'); }

// A 206 continues the .part at resume_from, for exactly the range it names:
// `plan` completed, or a failure.
ResponsePlan plan_partial(const http::Response& response, const Attempt& attempt, ResponsePlan plan) {
  if (!attempt.range_sent)
    return failure("invalid response: 206 Partial Content to a request without Range");
  const std::string* field = http::find_header(response.headers, "content-range");
  auto range = field ? parse_content_range(*field) : std::nullopt;
  if (!range)
    return failure("invalid response: 206 without a valid Content-Range" +
                   (field ? " ('" + escape_for_log(*field) + "')" : std::string()));
  if (range->first != attempt.resume_from)
    return failure("server resumed at byte " + std::to_string(range->first) + ", not at " +
                   std::to_string(attempt.resume_from) + " as asked");
  // A server that ignores If-Range may send a range of another version of
  // the file; its own validator says so, and the two versions must never be
  // joined (RFC 9110 §13.1.5, §15.3.7.3). Fetched again whole, once.
  if (std::string now = validator_of(response); !attempt.validator.empty() && !now.empty() &&
                                                 now != attempt.validator && same_kind(now, attempt.validator)) {
    if (attempt.retried_from_zero)
      return failure("server sent a range of another version of the file (" + escape_for_log(now) + ", not " +
                     escape_for_log(attempt.validator) + ")");
    ResponsePlan again;
    again.action = ResponsePlan::Action::StartOver;
    again.notes.push_back("server sent a range of another version of the file (" + escape_for_log(now) + ", not " +
                          escape_for_log(attempt.validator) + " as the .part's); downloading from the start");
    return again;
  }
  uint64_t length = range->last - range->first + 1;
  if (plan.framing.kind == http::BodyFraming::Length && plan.framing.length != length)
    return failure("invalid response: Content-Length does not match Content-Range");
  if (plan.framing.kind == http::BodyFraming::UntilClose) {
    // No Content-Length: the range's own length ends the body, and anything
    // the server sends past it is never written.
    plan.framing.kind = http::BodyFraming::Length;
    plan.framing.length = length;
  }
  if (!range->total)
    return failure("server did not say how long the file is (Content-Range '" + escape_for_log(*field) +
                   "'): cannot tell whether it is complete");
  if (range->last + 1 != *range->total)
    return failure("server sent only bytes " + std::to_string(range->first) + "-" + std::to_string(range->last) +
                   " of " + std::to_string(*range->total));
  plan.body_limit = length;
  plan.base = attempt.resume_from;
  plan.expected_size = range->total;
  return plan;
}

}  // namespace

std::string status_text(const http::Response& response) {
  std::string s = std::to_string(response.status);
  if (!response.reason.empty()) s.append(" ").append(escape_for_log(response.reason));
  return s;
}

std::string error_with_body(const std::string& error, const http::Response& response, std::string_view body) {
  std::string text;
  for (char c : body) {
    bool space = c == ' ' || c == '\t' || c == '\r' || c == '\n';
    if (!space) text += c;
    else if (!text.empty() && text.back() != ' ') text += ' ';
  }
  if (!text.empty() && text.back() == ' ') text.pop_back();
  std::string_view rest = text;
  const std::string status_line = std::to_string(response.status) + " " + response.reason;
  if (rest.size() >= status_line.size() && http::iequals(rest.substr(0, status_line.size()), status_line)) {
    rest.remove_prefix(status_line.size());
    while (!rest.empty() && (rest.front() == ':' || rest.front() == ' ')) rest.remove_prefix(1);
  }
  if (rest.empty() || http::iequals(rest, response.reason)) return error;
  return error + ": " + escape_for_log(rest);
}

ResponsePlan plan_response(const http::Response& response, const http::Url& url, const Attempt& attempt) {
  int status = response.status;
  if (is_redirect(status)) return plan_redirect(response, url, attempt);

  if (status == 416 && attempt.range_sent) {
    const std::string* field = http::find_header(response.headers, "content-range");
    if (std::optional<uint64_t> size = field ? parse_unsatisfied_range(*field) : std::nullopt;
        size && *size == attempt.resume_from) {
      // The .part (hashed since it was opened) is checked against the 416's
      // own Repr-Digest, when it has one.
      ResponsePlan plan;
      plan.action = ResponsePlan::Action::AlreadyComplete;
      plan.base = attempt.resume_from;
      plan.expected_size = size;
      if (!read_repr_digest(response, plan)) return failure(plan.error);
      return plan;
    }
    if (!attempt.retried_from_zero) {
      // The .part is longer than the file, or the file changed: fetch it
      // whole, once. The .part is truncated only when the new body begins,
      // so a failure before that keeps it.
      ResponsePlan plan;
      plan.action = ResponsePlan::Action::StartOver;
      plan.notes.push_back("server cannot continue from byte " + std::to_string(attempt.resume_from) +
                           " (416); downloading from the start");
      return plan;
    }
  }
  if (status >= 400) {
    ResponsePlan plan = failure("server answered " + status_text(response));
    plan.quote_body = quotable_body_length(response);
    return plan;
  }
  if (status != 200 && status != 203 && status != 206)
    return failure("unexpected response " + status_text(response));

  ResponsePlan plan;
  plan.action = ResponsePlan::Action::Save;
  plan.framing = http::body_framing(response, false);
  if (!plan.framing.error.empty())
    return failure("invalid response: " + plan.framing.error);

  if (!read_repr_digest(response, plan)) return failure(plan.error);
  if (const std::string* ce = http::find_header(response.headers, "content-encoding");
      ce && !http::iequals(*ce, "identity"))
    plan.warnings.push_back("server sent Content-Encoding: " + escape_for_log(*ce) +
                            " although we asked for identity; saving the bytes as sent");

  if (status == 206) return plan_partial(response, attempt, std::move(plan));
  // The whole file.
  if (attempt.part_has_data) {
    plan.restart_file = true;
    if (attempt.range_sent)
      plan.notes.push_back(!attempt.validator.empty() ? "the file changed on the server (If-Range); downloading it again"
                                                 : "server ignored the Range request; downloading from the start");
  }
  plan.validator = validator_of(response);
  if (plan.framing.kind == http::BodyFraming::Length) plan.expected_size = plan.framing.length;
  return plan;
}

std::optional<ContentRange> parse_content_range(std::string_view v) {
  v = trim_front(v);
  if (v.size() < 6 || !http::iequals(v.substr(0, 6), "bytes ")) return std::nullopt;
  v.remove_prefix(6);
  size_t dash = v.find('-');
  size_t slash = v.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) return std::nullopt;
  ContentRange r;
  if (!parse_number(v.substr(0, dash), r.first) || !parse_number(v.substr(dash + 1, slash - dash - 1), r.last) ||
      r.last < r.first)
    return std::nullopt;
  std::string_view total = v.substr(slash + 1);
  if (total != "*") {
    uint64_t t = 0;
    if (!parse_number(total, t) || t <= r.last) return std::nullopt;
    r.total = t;
  }
  return r;
}

std::optional<uint64_t> parse_unsatisfied_range(std::string_view v) {
  v = trim_front(v);
  if (v.size() < 8 || !http::iequals(v.substr(0, 8), "bytes */")) return std::nullopt;
  uint64_t size = 0;
  if (!parse_number(v.substr(8), size)) return std::nullopt;
  return size;
}

std::string validator_of(const http::Response& response) {
  if (const std::string* etag = http::find_header(response.headers, "etag");
      etag && etag->size() >= 2 && etag->front() == '"' && etag->back() == '"')
    return *etag;
  if (const std::string* date = http::find_header(response.headers, "last-modified"); date && http::parse_date(*date))
    return *date;
  return "";
}

}  // namespace nettool::file_get
