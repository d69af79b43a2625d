// Conditional requests (RFC 9110 §13) for a static GET/HEAD server: which of
// If-Match, If-Unmodified-Since, If-None-Match and If-Modified-Since decide
// the answer, in the order of §13.2.2, and whether If-Range lets a Range
// request through. Pure functions over the request's header fields, so they
// are unit tested directly.
#pragma once
#include <ctime>
#include <string_view>
#include <vector>

#include "nettool/http.h"

namespace file_serve {

// What the server knows about the file it would send.
struct Validators {
  std::string_view etag;  // a strong entity tag, quotes included: "\"abc\""; empty: none
  std::time_t last_modified = 0;  // whole seconds, as sent in Last-Modified
  bool has_date = true;  // false: no Last-Modified (a directory listing): the date fields are ignored (§13.1.3, §13.1.4)
};

enum class Precondition {
  Proceed,  // answer as if there were no preconditions (Range and If-Range come next)
  NotModified,  // 304
  Failed,  // 412
};

// RFC 9110 §13.2.2 steps 1 to 4, for an existing file:
//   1. If-Match (strong comparison; "*" matches) fails -> 412;
//   2. else, without If-Match, If-Unmodified-Since older than the file -> 412;
//   3. If-None-Match (weak comparison; "*" matches) matches -> 304 for GET and HEAD;
//   4. else, without If-None-Match, If-Modified-Since not older than the file -> 304 (GET and HEAD only).
// A field that appears on several lines is one list. Dates that do not parse
// are ignored, as §13.1.3 and §13.1.4 require; a malformed If-Match matches nothing.
Precondition evaluate_preconditions(const std::vector<nettool::http::HeaderField>& headers, bool get_or_head,
                                    const Validators& file);

// RFC 9110 §13.1.5: true when the If-Range value still names this file, so
// the Range may be honoured; an entity tag is compared strongly (a weak one
// never matches), a date must equal Last-Modified exactly, and only counts
// when Last-Modified is a strong validator: at least a second before `now`
// (§8.8.2.2), since a file changed twice within its second has one date for
// two versions.
bool if_range_matches(std::string_view if_range, const Validators& file, std::time_t now);

// Whether the entity-tag list `field` (a field value of If-Match or
// If-None-Match) contains `etag`; "*" matches any. Strong comparison requires
// both tags to be strong; weak comparison ignores the W/ prefix.
bool etag_list_matches(std::string_view field, std::string_view etag, bool strong);

}  // namespace file_serve
