// What a request gets (see connection.h): the notes' protocol's bare name,
// an HTTP GET or HEAD's target, the file or directory it names, opened
// (from the open-file cache or safely beneath the root), and the head of a
// file's answer (preconditions, range, digest). The transitions of the
// connection and the bytes on the wire are in connection.cpp.
#include <sys/stat.h>

#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "connection.h"
#include "head_text.h"
#include "nettool/log.h"
#include "preconditions.h"
#include "root.h"

namespace file_serve {

namespace http = nettool::http;

namespace {

// "/a/" and "/a/." name a directory: a regular file is not found there, as on a file system.
bool names_directory(std::string_view path) {
  return path.empty() || path == "." || path.back() == '/' ||
         (path.size() >= 2 && path.substr(path.size() - 2) == "/.");
}

// Whether any of the request's Connection lines holds `token`: header lines
// of one name are one list (RFC 9110 §5.3).
bool connection_has(const std::vector<http::HeaderField>& headers, std::string_view token) {
  for (const auto& h : headers)
    if (http::iequals(h.name, "connection") && http::has_token(h.value, token)) return true;
  return false;
}

// The request's only `name` line, or null when it has none or several: a
// Range or If-Range sent twice is ambiguous, so it is not acted on.
const std::string_view* single_header(const std::vector<http::HeaderField>& headers, std::string_view name) {
  const std::string_view* found = nullptr;
  for (const auto& h : headers) {
    if (!http::iequals(h.name, name)) continue;
    if (found) return nullptr;
    found = &h.value;
  }
  return found;
}

}  // namespace

// ---- the notes' protocol: a bare file name, the raw bytes, close ----

void Connection::handle_raw(const std::string& name) {
  keep_alive_ = false;
  begin_access_log("RAW", name);
  auto refuse = [this](int status) {
    log_status_ = status;
    log_access();
    abort();
  };
  if (name.empty() || name.front() == '/') return refuse(400);
  http::PathCheck check = http::check_path(name, shared_.settings.allow_hidden);
  if (!check.ok) return refuse(check.hidden ? 404 : 400);
  bool wants_directory = names_directory(name);
  state_ = State::Opening;
  auto answer = [this, refuse, wants_directory](OpenResult& r) {
    if (r.error) return refuse(r.status);
    if (r.is_directory && !r.served_index) return refuse(404);
    if (!r.is_directory && wants_directory) return refuse(404);
    log_status_ = 200;
    send_head_and_file("", opened_file(r), 0, static_cast<uint64_t>(r.st.st_size));
  };
  if (OpenResult hit; open_from_cache(check.segments, hit)) return answer(hit);
  open_path(std::move(check.segments), std::move(answer));
}

// ---- HTTP ----

void Connection::handle_http(const http::Request& request) {
  begin_access_log(request.method, request.target);
  // HTTP/1.1 persists unless told to close; HTTP/1.0 only when asked to
  // keep alive, and "close" wins over it (RFC 9112 §9.3).
  bool wants_close = connection_has(request.headers, "close") ||
                     (request.version_minor == 0 && !connection_has(request.headers, "keep-alive"));
  keep_alive_ = !wants_close && !body_unread_ && !shared_.draining;

  bool head = request.method == "HEAD";
  if (request.method != "GET" && !head) return respond_error(405, false, "Allow: GET, HEAD\r\n");

  std::string_view target = request.target;
  std::string from_absolute;  // an absolute-form target with a query and no path: "/?..."
  size_t scheme = http::iequals(target.substr(0, 7), "http://")    ? 7
                  : http::iequals(target.substr(0, 8), "https://") ? 8
                                                                   : 0;
  if (scheme > 0) {  // absolute-form, scheme in any case; the authority ends at '/' or '?'
    size_t end = target.find_first_of("/?", scheme);
    if (end == std::string_view::npos) {
      target = "/";
    } else if (target[end] == '?') {
      from_absolute = "/";
      from_absolute += target.substr(end);
      target = from_absolute;
    } else {
      target = target.substr(end);
    }
  }
  if (target.empty() || target.front() != '/') return respond_error(400, false);
  size_t query = target.find('?');
  // Into strings kept from one request to the next (no allocation); the log
  // shows the target as sent unless it decodes.
  if (!http::percent_decode_path(target.substr(0, query), decoded_path_)) return respond_error(400, false);
  log_path_.swap(decoded_path_);
  http::PathCheck& check = path_check_;
  http::check_path(log_path_, shared_.settings.allow_hidden, check);
  if (!check.ok) return respond_error(check.hidden ? 404 : 400, false);
  bool wants_directory = names_directory(log_path_);
  // The type of what is sent, if it is the file asked for (not a directory's index.html).
  // (Views on both sides: `"" : segments.back()` would be a std::string, a copy of the name.)
  std::string_view type =
      http::content_type_for(check.segments.empty() ? std::string_view() : std::string_view(check.segments.back()));
  std::string query_part(query == std::string_view::npos ? "" : target.substr(query));

  state_ = State::Opening;
  // `request` is parsed_'s, which stays as it is until the response is finished.
  auto answer = [this, &request, head, wants_directory, type, query_part = std::move(query_part)](OpenResult& r) {
    if (r.error) return respond_error(r.status, false);
    if (!r.is_directory && wants_directory) return respond_error(404, false);
    if (r.is_directory && (!wants_directory || !r.served_index)) return answer_directory(r, request, query_part, head);
    serve_file(opened_file(r), r.st, &request, r.served_index ? http::content_type_for("index.html") : type);
  };
  if (OpenResult hit; open_from_cache(check.segments, hit)) return answer(hit);
  open_path(std::move(check.segments), std::move(answer));
}

// A directory without its '/' (a redirect to the name with one), or one
// without an index.html (its listing, unless --no-listing).
void Connection::answer_directory(OpenResult& r, const http::Request& request, std::string_view query_part, bool head) {
  // Built from the checked segments, so "//host" comes out as "/host/": a
  // Location starting with "//" would send browsers to another host. They
  // are those of log_path_, the decoded path, which no other request
  // changes while this one is Opening (process_buffer waits for ReadingHead).
  std::string directory_path = "/";
  for (const auto& segment : http::check_path(log_path_, shared_.settings.allow_hidden).segments)
    (directory_path += segment) += '/';
  if (!names_directory(log_path_)) {
    std::string location = http::percent_encode_path(directory_path);
    location += query_part;
    return respond(301, "Location: " + location + "\r\n", short_body(301), head);
  }
  if (!shared_.settings.listing) return respond_error(403, false);
  // A listing exists but has no validators: "*" is all that can match
  // (If-None-Match: * is 304, If-Match: "x" is 412), and dates are ignored.
  switch (evaluate_preconditions(request.headers, true, Validators{"", 0, false})) {
    case Precondition::Failed: return respond_error(412, false);
    case Precondition::NotModified: return respond(304, "", "", true);
    case Precondition::Proceed: break;
  }
  std::string title = http::html_escape(directory_path);
  std::string body = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of " + title +
                     "</title></head>\n<body><h1>Index of " + title + "</h1>\n<ul>\n";
  if (directory_path != "/") body += "<li><a href=\"../\">../</a></li>\n";
  // "./" keeps a name like "javascript:x" relative. The href is HTML-escaped
  // too: percent_encode_path keeps '&', and "x&amp.txt" would otherwise be
  // read by browsers as the link "x&.txt".
  for (const auto& name : r.listing)
    body += "<li><a href=\"./" + http::html_escape(http::percent_encode_path(name)) + "\">" +
            http::html_escape(name) + "</a></li>\n";
  body += "</ul>\n</body></html>\n";
  respond(200, "Content-Type: text/html; charset=utf-8\r\n", std::move(body), head);
}

// The file an open gave: shared already when it came from (or went into)
// the open-file cache.
FileRef Connection::opened_file(OpenResult& r) {
  if (r.shared_fd) return std::move(r.shared_fd);
  if (!r.fd.valid()) return nullptr;
  return std::make_shared<const UniqueFd>(std::move(r.fd));
}

// A hit in the open-file cache is answered at once by the caller, without
// the callback open_path takes: that std::function allocated on every
// request of a small-file benchmark.
bool Connection::open_from_cache(const std::vector<std::string>& segments, OpenResult& hit) {
  file_body_.reset();
  if (!shared_.open_files) return false;
  cache_key_.clear();  // "/a/b" for the segments a and b
  for (const auto& segment : segments) (cache_key_ += '/') += segment;
  hit.shared_fd = shared_.open_files->find(cache_key_, hit.st, OpenFileCache::Clock::now(), &file_body_);
  return hit.shared_fd != nullptr;
}

// Opens what open_from_cache did not find (and left its key in
// cache_key_): on the loop when the dentry cache has it, else on the
// thread pool; `next` gets the result.
void Connection::open_path(std::vector<std::string> segments, std::function<void(OpenResult&)> next) {
  struct OpenJob {
    uv_work_t req{};
    int root_fd;
    std::vector<std::string> segments;
    bool listing, allow_hidden;
    OpenResult result;
    std::weak_ptr<Connection> conn;
    std::function<void(OpenResult&)> next;
  };
  file_body_.reset();
  if (shared_.open_files) {
    next = [this, key = cache_key_, next = std::move(next)](OpenResult& r) {
      if (!r.error && !r.is_directory && r.fd.valid()) {
        r.shared_fd = std::make_shared<const UniqueFd>(std::move(r.fd));
        shared_.open_files->store(key, r.shared_fd, r.st, OpenFileCache::Clock::now());
      }
      next(r);
    };
  }
  // Fast path: a regular file already in the dentry cache opens on the loop,
  // saving the thread-pool round trip that dominated small-file requests.
  if (OpenResult cached; open_cached_file(shared_.root_fd, segments, shared_.settings.allow_hidden, cached)) {
    next(cached);
    return;
  }
  auto job = std::make_unique<OpenJob>();
  job->root_fd = shared_.root_fd;
  job->segments = std::move(segments);
  job->listing = shared_.settings.listing;
  job->allow_hidden = shared_.settings.allow_hidden;
  job->conn = weak_from_this();
  job->next = std::move(next);
  job->req.data = job.get();
  int rc = uv_queue_work(
      shared_.loop, &job->req,
      [](uv_work_t* w) {
        auto* j = static_cast<OpenJob*>(w->data);
        j->result = open_beneath(j->root_fd, j->segments, j->listing, j->allow_hidden);
      },
      [](uv_work_t* w, int) {
        std::unique_ptr<OpenJob> j(static_cast<OpenJob*>(w->data));
        auto conn = j->conn.lock();
        if (!conn || conn->state_ != State::Opening) return;  // the client left meanwhile
        j->next(j->result);
      });
  if (rc < 0) {
    respond_error(503, true);
    return;
  }
  job.release();  // owned by the work request until the after-work callback
}

void Connection::serve_file(FileRef fd, const struct stat& st, const http::Request* request,
                            std::string_view content_type) {
  using namespace std::string_view_literals;
  const auto& headers = request->headers;
  bool head = request->method == "HEAD";
  const auto etag = etag_of(st);
  const std::time_t now = std::time(nullptr);
  // A file in its first second sends no Last-Modified (below), so no date
  // precondition may be judged against that date either.
  Validators current{etag.view(), st.st_mtim.tv_sec, st.st_mtim.tv_sec < now};
  // A date is a validator only once its second is over: a file written twice
  // within one second has one date for two versions, and a client holding
  // that date would get a 304 or a range of the other one (RFC 9110
  // §8.8.2.2). The ETag carries the nanoseconds meanwhile.
  auto append_validators = [&](auto& fields) {
    fields += "ETag: "sv;
    fields += etag.view();
    fields += "\r\n"sv;
    if (st.st_mtim.tv_sec < now) {
      fields += "Last-Modified: "sv;
      fields += shared_.last_modified.of(st.st_mtim.tv_sec);
      fields += "\r\n"sv;
    }
  };

  switch (evaluate_preconditions(headers, true, current)) {
    case Precondition::Failed: return respond_error(412, false);
    case Precondition::NotModified: {
      std::string validators;
      append_validators(validators);
      return respond(304, std::move(validators), "", true);
    }
    case Precondition::Proceed: break;
  }

  uint64_t size = static_cast<uint64_t>(st.st_size);
  http::ByteRange range;
  // Range is defined for GET only; on HEAD it is ignored (RFC 9110 §14.2).
  // A Range or If-Range sent twice is ignored (the whole file), as a
  // malformed Range is.
  if (const std::string_view* r = single_header(headers, "range"); r && !head) {
    bool two_if_ranges = !single_header(headers, "if-range") && http::find_header(headers, "if-range");
    const std::string_view* if_range = http::find_header(headers, "if-range");
    if (!two_if_ranges && (!if_range || if_range_matches(*if_range, current, now))) range = http::parse_range(*r, size);
  }
  if (range.kind == http::ByteRange::Unsatisfiable) {
    std::string fields = "Content-Range: bytes */" + std::to_string(size) + "\r\n";
    // A resumed download whose .part is already whole asks from the file's
    // end; the digest lets it check that .part before calling it complete.
    if (!shared_.settings.digest || size == 0 || range.first != size) return respond_error(416, false, fields);
    std::weak_ptr<Connection> weak = weak_from_this();
    int raw_fd = fd->get();
    await_digest(raw_fd, st, [weak, fd = std::move(fd), fields = std::move(fields)](const std::string& digest) {
      auto self = weak.lock();
      if (!self || self->state_ != State::Opening) return;
      self->respond_error(416, false, digest.empty() ? fields : fields + "Repr-Digest: " + digest + "\r\n");
    });
    return;
  }

  int status = range.kind == http::ByteRange::Satisfiable ? 206 : 200;
  uint64_t first = status == 206 ? range.first : 0;
  uint64_t length = status == 206 ? range.last - range.first + 1 : size;
  // The fields that describe the file. The status line, Server and Date go
  // in front when the head is sent: a head that waited for a hash gets the
  // Date of then.
  HeadText fields;
  fields += "Content-Type: "sv;
  fields += content_type;
  fields += "\r\n"sv;
  append_validators(fields);
  fields += "Accept-Ranges: bytes\r\nContent-Length: "sv;
  fields.append_number(length);
  fields += "\r\n"sv;
  if (status == 206) {
    fields += "Content-Range: bytes "sv;
    fields.append_number(range.first) += "-"sv;
    fields.append_number(range.last) += "/"sv;
    fields.append_number(size) += "\r\n"sv;
  }

  // Never met: every part of the head is short (HeadText).
  auto head_too_long = [this] {
    shared_.log->error("{}: {}: response head too long", peer_, nettool::escape_for_log(log_path_));
    respond_error(500, true);
  };
  auto send_it = [this, status, first, length, head, head_too_long](std::string_view fields, FileRef file,
                                                                    std::string_view digest) {
    log_status_ = status;
    HeadText text;
    start_head(text, shared_, status);
    text += fields;
    if (!digest.empty()) {
      text += "Repr-Digest: "sv;
      text += digest;
      text += "\r\n"sv;
    }
    text += connection_field();
    text += "\r\n"sv;
    if (text.overflowed()) return head_too_long();
    if (head) {
      send_head_and_file(text.view(), nullptr, 0, 0);
    } else {
      send_head_and_file(text.view(), std::move(file), first, length);
    }
  };
  if (fields.overflowed()) return head_too_long();
  if (!shared_.settings.digest) return send_it(fields.view(), std::move(fd), "");
  // The digest is worth a hash only where a client checks it: a whole body,
  // or a range that runs to the end (file-get --resume checks the whole file
  // against the digest of its 206). HEAD and other ranges carry it only when
  // it is already known, as is the usual whole body of a file served before.
  std::string& known = shared_.known_digest;
  bool is_known = shared_.digests->known(st, known);
  bool checks_digest = !head && (status == 200 || range.last + 1 == size);
  if (is_known || !checks_digest)
    return send_it(fields.view(), std::move(fd), is_known ? std::string_view(known) : std::string_view());
  // Hashing happens on the thread pool; the file and its fields wait in the callback.
  std::weak_ptr<Connection> weak = weak_from_this();
  int raw_fd = fd->get();
  await_digest(raw_fd, st,
               [weak, fd = std::move(fd), fields = std::string(fields.view()), send_it](const std::string& digest) mutable {
                 auto self = weak.lock();
                 if (!self || self->state_ != State::Opening) return;
                 send_it(fields, std::move(fd), digest);
               });
}

void Connection::await_digest(int fd, const struct stat& st, std::function<void(const std::string& digest)> resume) {
  // A client that is done sending (gone, or `nc -N`) starts no hash: it
  // gets what is already known.
  if (peer_done_) {
    std::string known;
    shared_.digests->known(st, known);
    return resume(known);
  }
  auto wait = std::make_shared<DigestWait>(DigestWait{std::move(resume)});
  digest_wait_ = wait;
  shared_.digests->get(fd, st, wait, [weak = std::weak_ptr<DigestWait>(wait)](const std::string& digest) {
    if (auto w = weak.lock()) w->finish(digest);
  });
}

}  // namespace file_serve
