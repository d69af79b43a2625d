#include "preconditions.h"

#include <algorithm>
#include <optional>
#include <string>

namespace file_serve {

namespace http = nettool::http;

namespace {

bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// All lines of a field, joined as one comma-separated list (RFC 9110 §5.3).
// A date field sent twice then fails to parse, and is ignored as §13.1.3 asks.
std::optional<std::string> combined_field(const std::vector<http::HeaderField>& headers, std::string_view name) {
  std::optional<std::string> value;
  for (const auto& h : headers) {
    if (!http::iequals(h.name, name)) continue;
    if (value) *value += ", ";
    else value.emplace();
    *value += h.value;
  }
  return value;
}

// etagc = %x21 / %x23-7E / obs-text
bool is_etagc(unsigned char c) { return c == 0x21 || (c >= 0x23 && c != 0x7f); }

}  // namespace

bool etag_list_matches(std::string_view field, std::string_view etag, bool strong) {
  field = trim(field);
  if (field == "*") return true;
  bool ours_weak = etag.substr(0, 2) == "W/";
  std::string_view ours = ours_weak ? etag.substr(2) : etag;
  size_t pos = 0;
  while (pos < field.size()) {
    // #entity-tag: elements separated by commas and optional whitespace; empty elements are allowed.
    while (pos < field.size() && (is_ows(field[pos]) || field[pos] == ',')) ++pos;
    if (pos == field.size()) break;
    bool weak = field.compare(pos, 2, "W/") == 0;
    if (weak) pos += 2;
    if (pos >= field.size() || field[pos] != '"') return false;  // malformed: matches nothing
    size_t end = pos + 1;
    while (end < field.size() && is_etagc(static_cast<unsigned char>(field[end]))) ++end;
    if (end >= field.size() || field[end] != '"') return false;
    std::string_view opaque = field.substr(pos, end - pos + 1);
    if (opaque == ours && !(strong && (weak || ours_weak))) return true;
    pos = end + 1;
    while (pos < field.size() && is_ows(field[pos])) ++pos;
    if (pos < field.size() && field[pos] != ',') return false;
  }
  return false;
}

Precondition evaluate_preconditions(const std::vector<http::HeaderField>& headers, bool get_or_head, const Validators& file) {
  // Most requests carry no precondition: one look at each name (all four start "If-") spares four searches.
  auto conditional = [](const http::HeaderField& h) { return h.name.size() > 3 && http::iequals(h.name.substr(0, 3), "if-"); };
  if (std::none_of(headers.begin(), headers.end(), conditional)) return Precondition::Proceed;
  if (auto if_match = combined_field(headers, "if-match")) {
    if (!etag_list_matches(*if_match, file.etag, true)) return Precondition::Failed;
  } else if (auto since = combined_field(headers, "if-unmodified-since")) {
    auto date = http::parse_date(*since);
    if (date && file.has_date && file.last_modified > *date) return Precondition::Failed;
  }
  if (auto if_none_match = combined_field(headers, "if-none-match")) {
    // For other methods this would be 412; this server has no others.
    if (etag_list_matches(*if_none_match, file.etag, false))
      return get_or_head ? Precondition::NotModified : Precondition::Failed;
  } else if (auto since = combined_field(headers, "if-modified-since"); since && get_or_head) {
    auto date = http::parse_date(*since);
    if (date && file.has_date && file.last_modified <= *date) return Precondition::NotModified;
  }
  return Precondition::Proceed;
}

bool if_range_matches(std::string_view if_range, const Validators& file, std::time_t now) {
  if_range = trim(if_range);
  // §13.1.5: an entity tag starts with DQUOTE (or W/ for a weak one, which never matches).
  if (if_range.substr(0, 1) == "\"" || if_range.substr(0, 2) == "W/") return if_range == file.etag;
  auto date = http::parse_date(if_range);
  return date && *date == file.last_modified && file.last_modified < now;
}

}  // namespace file_serve
