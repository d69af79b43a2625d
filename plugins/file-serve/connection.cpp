// One client of file-serve, as one state machine (reading a head, opening,
// sending, lingering), followed top to bottom here: past 500 lines so that
// every way out of Sending (keep-alive, the next pipelined request, close,
// lingering) reads in one place. What a request gets is in answer.cpp: the
// file it names, opened (the step into Opening, and back out through
// respond or send_head_and_file), and the head of its answer. The pure
// rules both apply live beside them (root.cpp, preconditions.cpp) and in
// runtime/src/http/.
#include "connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "nettool/log.h"
#include "nettool/plugin.h"
#include "head_text.h"

namespace file_serve {

namespace http = nettool::http;

namespace {
constexpr size_t kMaxHeadBytes = 16384;       // 431 beyond
constexpr size_t kKeptHeadRoom = 4096;        // most heads fit, a browser's with a few cookies (finish_response)
constexpr size_t kKeptFieldRoom = 32;         // and their fields
constexpr size_t kMaxRequestLine = 8192;      // 414 beyond
constexpr size_t kMaxDroppedBody = 16384;     // 413 beyond: a GET or HEAD body we read and drop
constexpr uint64_t kSendBudget = 16u << 20;   // per writable event, so one fast client cannot starve others
constexpr size_t kLingerLimit = 64 * 1024;    // bytes we read and drop after our last response
constexpr std::chrono::milliseconds kLingerTime{2000};
constexpr size_t kTlsRecord = 16384;          // the most plain text one TLS record holds
constexpr size_t kTlsBodyPiece = 64 * 1024;   // read from the file at a time when OpenSSL encrypts
// A body this small goes out with its head in one sendmsg(2), instead of a
// corked send and a sendfile (lighttpd does the same with writev).
constexpr uint64_t kInlineBody = 16384;

// Appends one field of an access-log line to `line`: never empty ("-"),
// never containing a space, quote or anything escape_for_log escapes, so
// every line splits on spaces into the same fields whatever a client sent.
// A path that is just "-" is escaped so it is not read as "no path".
void append_log_field(std::string& line, std::string_view text) {
  if (text.empty()) {
    line += '-';
    return;
  }
  if (text == "-") {
    line += "\\x2d";
    return;
  }
  // The usual path: printable ASCII that no escaping below changes.
  if (std::all_of(text.begin(), text.end(), [](char c) { return c > ' ' && c < 0x7f && c != '\\' && c != '"'; })) {
    line += text;
    return;
  }
  for (char c : nettool::escape_for_log(text)) {
    if (c == ' ') line += "\\x20";
    else if (c == '"') line += "\\x22";
    else line += c;
  }
}

}  // namespace

Connection::Connection(ServerShared& shared, uint64_t id, UniqueFd socket, std::string peer,
                       std::unique_ptr<nettool::TlsSocket> tls)
    : shared_(shared), id_(id), socket_(std::move(socket)), tls_(std::move(tls)), peer_(std::move(peer)) {}

Connection::~Connection() {
  // poll_ is closed before socket_ is: the handle must stop watching the fd first.
  poll_.close();
  timer_.close();
}

void Connection::start() {
  int one = 1;
  setsockopt(socket_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (uv_poll_init_socket(shared_.loop, poll_.get(), socket_.get()) < 0) {
    abort();
    return;
  }
  poll_.mark_initialized(this);
  timer_ = nettool::make_timer(shared_.loop, this);
  watch(UV_READABLE);
  if (tls_) {
    state_ = State::Handshaking;
    restart_timer(shared_.settings.tls_handshake_timeout);
    return;
  }
  restart_timer(shared_.settings.idle_timeout);
}

void Connection::watch(int events) {
  if (!poll_.is_open() || events == watched_events_) return;
  watched_events_ = events;
  uv_poll_start(poll_.get(), events, &Connection::on_poll);
}

// Sets the deadline `ms` from now. Only a sooner deadline re-arms the
// timer: re-arming it for every response (a heap removal and insertion in
// libuv) showed in small-file profiles; a later one is found when the timer
// fires, which then waits out the rest.
void Connection::restart_timer(std::chrono::milliseconds ms) {
  if (!timer_.is_open()) return;
  uint64_t wait = static_cast<uint64_t>(ms.count());
  deadline_ = uv_now(shared_.loop) + wait;
  if (uv_is_active(timer_.as_handle()) && uv_timer_get_due_in(timer_.get()) <= wait) return;
  uv_timer_start(
      timer_.get(),
      [](uv_timer_t* t) {
        auto* self = static_cast<Connection*>(t->data);
        if (!self) return;
        if (uint64_t now = uv_now(t->loop); now < self->deadline_) {
          uv_timer_start(t, t->timer_cb, self->deadline_ - now, 0);  // pushed back since armed
          return;
        }
        if (self->state_ == State::Opening) {
          // The server is the one busy (opening, or hashing a big file for
          // Repr-Digest on the thread pool), not the client: keep waiting.
          // Closing here dropped every first request for a file whose hash
          // takes longer than --idle-timeout, with no answer at all.
          self->restart_timer(self->shared_.settings.idle_timeout);
          return;
        }
        if (self->state_ == State::Handshaking) {
          // A slowloris handshake must not hold a connection slot for long.
          self->shared_.log->debug("{}: tls: handshake not finished within --tls-handshake-timeout; dropped",
                                   self->peer_);
        } else if (self->state_ == State::ReadingHead && !self->in_.empty()) {
          self->shared_.log->debug("{}: request head not complete within the idle timeout", self->peer_);
        } else if (self->state_ == State::Sending) {
          self->shared_.log->info("{}: client stopped reading; dropped", self->peer_);
          self->log_access();
        }
        self->abort();
      },
      wait, 0);
}

void Connection::on_poll(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<Connection*>(handle->data);
  if (!self) return;
  auto keep = self->shared_from_this();  // callbacks below may close the connection
  if (status < 0) {
    self->abort();
    return;
  }
  if (self->state_ == State::Handshaking) return self->continue_handshake();
  // A TLS call may wait for the other direction than its own (a record to
  // send before reading, one to read before writing): with TLS, any event
  // lets the current state try again.
  bool either = self->tls_ != nullptr;
  if ((either || (events & UV_WRITABLE)) && self->state_ == State::Sending) self->on_writable();
  if ((either || (events & UV_READABLE)) && (self->state_ == State::ReadingHead || self->state_ == State::Opening ||
                                             self->state_ == State::Lingering))
    self->on_readable();
}

// ---- TLS: the handshake, and the socket's bytes in the clear or through TLS ----

void Connection::continue_handshake() {
  if (answer_plain_http()) return;
  long rc = tls_->handshake();
  if (rc == -EAGAIN) return watch_as_tls_wants();
  if (rc < 0) {
    shared_.log->info("{}: tls: {}", peer_, tls_->error());
    abort();
    return;
  }
  bool kernel = tls_->kernel_send();
  if (shared_.log->should_log(spdlog::level::debug))
    shared_.log->debug("{}: tls: {}; bodies sent through {}", peer_, nettool::describe(tls_->session()),
                       kernel ? "kernel TLS (sendfile)" : "OpenSSL (copied)");
  if (shared_.kernel_tls_asked && !kernel && !shared_.kernel_tls_noted) {
    shared_.kernel_tls_noted = true;
    shared_.log->info("tls: --tls-ktls: the kernel did not take the session (no `tls` module?); bodies are "
                      "encrypted by OpenSSL instead");
  }
  state_ = State::ReadingHead;
  watch(UV_READABLE);
  restart_timer(shared_.settings.idle_timeout);
  on_readable();  // the request may have come with the handshake's last flight
}

// A plain HTTP request on the HTTPS port gets a plain 400 saying so, as
// nginx answers, rather than a TLS alert that curl shows as gibberish. Only
// before the first TLS byte: a ClientHello starts with 0x16, a request
// line with a capital letter.
bool Connection::answer_plain_http() {
  if (tls_peeked_) return false;
  char first = 0;
  ssize_t n = recv(socket_.get(), &first, 1, MSG_PEEK);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;  // nothing yet: look next time
  tls_peeked_ = true;
  if (n != 1 || first < 'A' || first > 'Z') return false;
  tls_.reset();
  keep_alive_ = false;
  state_ = State::ReadingHead;
  request_started_ = std::chrono::steady_clock::now();
  // Answered before any of it is read: no method or path to log.
  begin_access_log("PLAIN", "");
  shared_.log->debug("{}: refused: an HTTP request on the HTTPS port", peer_);
  respond(400, "", "400 Bad Request: this port speaks HTTPS; use https://\n", false);
  return true;
}

long Connection::receive(char* buf, size_t size) {
  if (tls_) return tls_->read(buf, size);
  ssize_t n = recv(socket_.get(), buf, size, 0);
  return n >= 0 ? n : -errno;
}

long Connection::transmit(const char* data, size_t size, bool more) {
  if (tls_) return tls_->write(data, size);
  ssize_t n = send(socket_.get(), data, size, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
  return n >= 0 ? n : -errno;
}

// The next piece of the file body with sendfile: in the clear, or through
// kernel TLS. Returns the bytes sent, 0 when the file ended early, or -errno.
long Connection::send_body(uint64_t budget) {
  size_t want = static_cast<size_t>(std::min<uint64_t>({file_remaining_, budget, 1u << 20}));
  if (tls_) {
    long n = tls_->send_file(file_->get(), file_offset_, want);
    if (n > 0) file_offset_ += n;
    return n;
  }
  ssize_t n = sendfile(socket_.get(), file_->get(), &file_offset_, want);
  return n >= 0 ? n : -errno;
}

// TLS without the kernel's help, or a small body: the next piece of the
// body is read in behind what out_ still holds, so a small response (head
// and body) goes out in one write (and with TLS, as one record). Returns the bytes read, 0 when the
// file ended early, or -errno.
long Connection::read_body_into_out() {
  if (out_pos_ > 0) {  // drop what was sent; what is left (a retried write) stays first
    out_.erase(0, out_pos_);
    head_bytes_ -= std::min<uint64_t>(head_bytes_, out_pos_);
    out_pos_ = 0;
  }
  size_t room = kTlsBodyPiece - std::min(out_.size(), kTlsBodyPiece);
  size_t want = static_cast<size_t>(std::min<uint64_t>(file_remaining_, room));
  if (want == 0) return 1;  // full already (not reached: called with less than a record left)
  if (const char* kept = kept_body(want)) {
    out_.append(kept, want);
    file_offset_ += static_cast<off_t>(want);
    file_remaining_ -= want;
    return static_cast<long>(want);
  }
  size_t had = out_.size();
  out_.resize(had + want);
  ssize_t n = pread(file_->get(), out_.data() + had, want, file_offset_);
  out_.resize(had + static_cast<size_t>(std::max<ssize_t>(n, 0)));
  if (n <= 0) return n == 0 ? 0 : -errno;
  file_offset_ += n;
  file_remaining_ -= static_cast<uint64_t>(n);
  return n;
}

// The next `length` bytes of the body from what the open-file cache keeps
// (no pread), or null when it keeps none.
const char* Connection::kept_body(uint64_t length) const {
  if (!file_body_ || static_cast<uint64_t>(file_offset_) + length > file_body_->size()) return nullptr;
  return file_body_->data() + file_offset_;
}

void Connection::watch_as_tls_wants() {
  watch(tls_->wants() == nettool::TlsSocket::kWantWrite ? UV_WRITABLE : UV_READABLE);
}

void Connection::on_readable() {
  char buf[16384];
  // While Opening, a pipelining client's next request is read ahead (the
  // socket stays watched for reading, saving an epoll_ctl per request); past
  // the head limit we stop watching until the response is done.
  while (state_ == State::ReadingHead || state_ == State::Opening || state_ == State::Lingering) {
    long n = receive(buf, sizeof buf);
    if (n == -EINTR) continue;
    if (n == -EAGAIN || n == -EWOULDBLOCK) {
      if (tls_) watch_as_tls_wants();
      break;
    }
    if (n < 0 || (n == 0 && state_ == State::Lingering)) {
      abort();  // reset, or the end of lingering
      return;
    }
    if (n == 0) {
      // The client finished sending (e.g. `nc -N`); it may still read our answer.
      peer_done_ = true;
      watch(0);
      break;
    }
    if (shared_.counters) shared_.counters->bytes_received += static_cast<uint64_t>(n);
    if (state_ == State::Lingering) {
      lingered_ += static_cast<size_t>(n);
      if (lingered_ > kLingerLimit) {
        abort();
        return;
      }
      continue;
    }
    in_.append(buf, static_cast<size_t>(n));
    if (in_.size() > kMaxHeadBytes + sizeof buf) {
      if (state_ == State::Opening) watch(0);  // finish_response() watches again
      break;  // enough to decide; process_buffer refuses it
    }
    // Drained: skip the recv that would say EAGAIN. TLS returns one record
    // at a time; what is left on the socket wakes the poll again.
    if (static_cast<size_t>(n) < sizeof buf && !(tls_ && tls_->buffered())) break;
  }
  if (peer_done_ && state_ == State::Opening && digest_wait_) {
    // Gone, or at least done asking, while its file waits to be hashed: it
    // must not keep a large hash in the queue (a client can ask and hang up
    // again and again). A half-closed client (`nc -N`) still gets its
    // answer, without Repr-Digest.
    auto wait = std::move(digest_wait_);
    wait->finish("");
  }
  if (state_ == State::ReadingHead) process_buffer();
  // Nothing (complete) to answer, unless the rest waits for the next loop turn (finish_response).
  if (peer_done_ && state_ == State::ReadingHead && !answer_posted_) abort();
}

void Connection::process_buffer() {
  if (state_ != State::ReadingHead) return;
  // Empty lines before a request are skipped (RFC 9112 §2.2): some clients
  // end a body with an extra CRLF. Before the first request they are skipped
  // only when a request follows, since alone they are an empty bare name.
  size_t blank = 0;
  while (true) {
    if (in_.compare(blank, 2, "\r\n") == 0) blank += 2;
    else if (blank < in_.size() && in_[blank] == '\n') blank += 1;
    else break;
  }
  if (protocol_known_ ? is_http_ : blank < in_.size()) in_.erase(0, blank);
  if (in_.empty()) return;
  if (!protocol_known_) {
    bool decided = false;
    is_http_ = http::looks_like_http(in_, decided);
    if (!decided && in_.size() <= shared_.settings.raw_name_limit) return;
    // Longer than any bare name may be: a request line whose long target is
    // still arriving is HTTP (its own limit, 414, applies); anything else is
    // neither.
    if (!decided && !is_http_) {
      shared_.log->info("{} refused: no request line or name in the first {} bytes", peer_,
                        shared_.settings.raw_name_limit);
      abort();
      return;
    }
    protocol_known_ = true;
  }
  request_started_ = std::chrono::steady_clock::now();
  if (!is_http_) {
    size_t nl = in_.find('\n');
    if (nl == std::string::npos) {
      if (in_.size() > shared_.settings.raw_name_limit) {
        shared_.log->info("{} RAW (name longer than {} bytes) refused", peer_, shared_.settings.raw_name_limit);
        abort();
      }
      return;
    }
    if (nl > shared_.settings.raw_name_limit) {
      abort();
      return;
    }
    std::string name = in_.substr(0, nl);
    if (!name.empty() && name.back() == '\r') name.pop_back();
    in_.clear();
    handle_raw(name);
    return;
  }
  http::RequestLimits limits;
  limits.max_header_bytes = kMaxHeadBytes;
  limits.max_request_line = kMaxRequestLine;
  http::parse_request(in_, parsed_, limits);
  http::Request& request = parsed_.request;
  if (parsed_.status == http::ParseStatus::Incomplete) return;
  if (parsed_.status == http::ParseStatus::Error) return refuse_request(request, parsed_.error_status, parsed_.error);
  http1_0_ = request.version_minor == 0;
  body_unread_ = false;
  std::optional<size_t> body = request_body_size(request);
  if (!body) return;  // refused, or still arriving
  // The head moves out of in_, which reads ahead while the file opens.
  head_.assign(in_, 0, request.head_size);
  http::repoint_request(request, in_.data(), head_.data());
  in_.erase(0, request.head_size + *body);
  handle_http(request);
}

// A request that cannot be answered: the access log shows as much of it as
// was read (the method and target as sent), -v says why, and the connection
// closes after the error response.
void Connection::refuse_request(const http::Request& request, int status, std::string_view why) {
  begin_access_log(request.method, request.target);
  shared_.log->debug("{}: refused ({}): {}", peer_, status, nettool::escape_for_log(why));
  respond_error(status, true);
}

// We serve GET and HEAD only, so a request body is read and dropped; its
// framing still decides where the next request starts. Framing a proxy could
// read another way is refused and the connection closed (RFC 9112 §6.3).
// Returns the body's size in in_ (after the head), or nullopt when the body
// is still arriving or the request has been refused.
std::optional<size_t> Connection::request_body_size(const http::Request& request) {
  auto refuse = [this, &request](int status, std::string_view why) -> std::optional<size_t> {
    refuse_request(request, status, why);
    return std::nullopt;
  };
  http::RequestFraming framing = http::request_framing(request);
  if (framing.error_status) return refuse(framing.error_status, framing.error);
  // RFC 9110 §10.1.1: 100-continue is the only expectation there is.
  const std::string_view* expect =
      request.version_minor == 0 ? nullptr : http::find_header(request.headers, "expect");
  if (expect && !http::iequals(*expect, "100-continue")) return refuse(417, "unknown expectation");
  size_t arrived = in_.size() - request.head_size;
  // A body still to come. A client that asked for 100 Continue waits for it
  // before sending (curl: a second); we only drop bodies, so it is answered
  // at once and the connection closes after, as RFC 9110 §10.1.1 allows: the
  // body's end is never needed to find the next request.
  auto body_to_come = [&]() -> std::optional<size_t> {
    if (!expect) return std::nullopt;
    body_unread_ = true;
    return arrived;
  };
  switch (framing.kind) {
    case http::RequestFraming::NoBody:
      return 0;
    case http::RequestFraming::Length:
      if (framing.length > kMaxDroppedBody) return refuse(413, "request body too large");
      if (arrived < framing.length) return body_to_come();
      return static_cast<size_t>(framing.length);
    case http::RequestFraming::Chunked: {
      http::ChunkedDecoder decoder;
      std::string discarded;
      size_t used = decoder.feed(std::string_view(in_).substr(request.head_size), discarded);
      if (!decoder.error().empty()) return refuse(400, decoder.error());
      if (decoder.done()) return used;
      if (arrived > kMaxDroppedBody) return refuse(413, "request body too large");
      return body_to_come();
    }
  }
  return std::nullopt;
}

// The body of an error or a redirect: its status line, for a human.
std::string Connection::short_body(int status) {
  return std::to_string(status) + " " + http::reason_phrase(status) + "\n";
}

// HTTP/1.1 persists unless told otherwise; an HTTP/1.0 client asked for
// keep-alive and is told it got it (RFC 9112 Appendix C.2.2).
const char* Connection::connection_field() const {
  if (!keep_alive_) return "Connection: close\r\n";
  return http1_0_ ? "Connection: keep-alive\r\n" : "";
}

void Connection::respond(int status, std::string extra_headers, std::string body, bool head_only) {
  log_status_ = status;
  HeadText start;
  start_head(start, shared_, status);
  std::string head(start.view());
  head += extra_headers;
  if (status != 304) {
    if (extra_headers.find("Content-Type:") == std::string::npos) head += "Content-Type: text/plain; charset=utf-8\r\n";
    head += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  head += connection_field();
  head += "\r\n";
  head_bytes_ = head.size();
  out_ = std::move(head);
  if (!head_only) out_ += body;
  out_pos_ = 0;
  file_.reset();
  file_remaining_ = 0;
  inline_body_ = false;
  body_bytes_sent_ = 0;
  state_ = State::Sending;
  send_now();
}

void Connection::respond_error(int status, bool close_after, const std::string& extra_headers) {
  if (close_after) keep_alive_ = false;
  respond(status, extra_headers, short_body(status), log_method_ == "HEAD");
}

void Connection::send_head_and_file(std::string_view head, FileRef fd, uint64_t offset, uint64_t length) {
  out_pos_ = 0;
  file_ = std::move(fd);
  file_offset_ = static_cast<off_t>(offset);
  file_remaining_ = file_ && file_->valid() ? length : 0;
  body_bytes_sent_ = 0;
  state_ = State::Sending;
  const bool at_once = !tls_ && file_remaining_ <= kInlineBody;
  inline_body_ = at_once && file_remaining_ > 0;
  if (at_once) {
    if (!send_head_with_body(head)) return;
  } else {
    head_bytes_ = head.size();
    out_.assign(head);
  }
  send_now();
}

// A head, and a small body if there is one, in the clear go out in one
// sendmsg, straight from where they were made: the head from the stack,
// the body from the open-file cache or read into the worker's buffer
// (growing out_ for every response, and zero-filling it, showed in
// small-file profiles). Only what the socket does not take is copied into
// out_, for on_writable. Returns false when the connection has been closed.
bool Connection::send_head_with_body(std::string_view head) {
  ssize_t n = static_cast<ssize_t>(file_remaining_);
  const char* body = n > 0 ? kept_body(file_remaining_) : "";  // "": a head alone
  if (!body) {  // not kept: read it
    std::vector<char>& buffer = shared_.inline_body_buffer;
    if (buffer.size() < kInlineBody) buffer.resize(kInlineBody);
    n = pread(file_->get(), buffer.data(), static_cast<size_t>(file_remaining_), file_offset_);
    if (n <= 0) {
      body_failed(n == 0 ? 0 : -errno);
      return false;
    }
    body = buffer.data();
  }
  file_offset_ += n;
  file_remaining_ -= static_cast<uint64_t>(n);
  if (head.empty() && n == 0) return true;  // a bare-name request for an empty file: nothing to send
  iovec parts[2] = {{const_cast<char*>(head.data()), head.size()}, {const_cast<char*>(body), static_cast<size_t>(n)}};
  msghdr message{};
  message.msg_iov = parts;
  message.msg_iovlen = n > 0 ? 2 : 1;
  ssize_t sent = sendmsg(socket_.get(), &message, MSG_NOSIGNAL | (file_remaining_ > 0 ? MSG_MORE : 0));
  if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    log_access();
    abort();
    return false;
  }
  size_t taken = static_cast<size_t>(std::max<ssize_t>(sent, 0));
  if (shared_.counters) shared_.counters->bytes_sent += taken;
  if (taken < head.size()) {  // part of the head: the rest of it, then the body
    out_.assign(head.substr(taken));
    out_.append(body, static_cast<size_t>(n));
    head_bytes_ = head.size() - taken;
    return true;
  }
  size_t body_taken = taken - head.size();
  body_bytes_sent_ += body_taken;
  out_.assign(body + body_taken, static_cast<size_t>(n) - body_taken);
  head_bytes_ = 0;
  return true;
}

// Sends at once; only a socket that is full gets watched for writability, so
// a response that fits the socket buffer costs no epoll_ctl. The idle timer is
// re-armed once per response (here when the socket filled up, else by
// finish_response): re-arming it per step showed in small-file profiles.
void Connection::send_now() {
  auto keep = shared_from_this();  // on_writable may close the connection
  on_writable();
  if (state_ == State::Sending) {
    if (!tls_) watch(UV_WRITABLE);  // with TLS, on_writable watched what the session waits for
    restart_timer(shared_.settings.idle_timeout);
  }
}

void Connection::on_writable() {
  uint64_t budget = kSendBudget;
  bool progressed = false;
  const bool copy_body = inline_body_ || (tls_ && !tls_->kernel_send());
  while (budget > 0) {
    if (copy_body && file_remaining_ > 0 && out_.size() - out_pos_ < kTlsRecord) {
      if (long n = read_body_into_out(); n <= 0) return body_failed(n);
    }
    if (out_pos_ < out_.size()) {  // the head, a generated body, or (TLS) a piece of the file
      long n = transmit(out_.data() + out_pos_, out_.size() - out_pos_, file_remaining_ > 0);
      if (n == -EINTR) continue;
      if (n == -EAGAIN || n == -EWOULDBLOCK) break;
      if (n <= 0) {
        if (tls_) shared_.log->debug("{}: tls: {}", peer_, tls_->error());
        log_access();
        abort();
        return;
      }
      size_t before = out_pos_;
      out_pos_ += static_cast<size_t>(n);
      if (out_pos_ > head_bytes_) body_bytes_sent_ += out_pos_ - std::max<uint64_t>(before, head_bytes_);
      if (shared_.counters) shared_.counters->bytes_sent += static_cast<uint64_t>(n);
      budget -= std::min<uint64_t>(budget, static_cast<uint64_t>(n));
      progressed = true;
      continue;
    }
    if (file_remaining_ == 0) break;
    long n = send_body(budget);
    if (n == -EINTR) continue;
    if (n == -EAGAIN || n == -EWOULDBLOCK) break;
    if (n <= 0) return body_failed(n);
    file_remaining_ -= static_cast<uint64_t>(n);
    body_bytes_sent_ += static_cast<uint64_t>(n);
    budget -= std::min<uint64_t>(budget, static_cast<uint64_t>(n));
    if (shared_.counters) shared_.counters->bytes_sent += static_cast<uint64_t>(n);
    progressed = true;
  }
  if (out_pos_ >= out_.size() && file_remaining_ == 0) {
    // With TLS, the last records may still wait for room in the socket.
    long sent = tls_ ? tls_->flush() : 1;
    if (sent == 1) return finish_response();  // re-arms the timer itself
    if (sent != -EAGAIN) {
      shared_.log->debug("{}: tls: {}", peer_, tls_->error());
      log_access();
      abort();
      return;
    }
  }
  // Stopped by -EAGAIN, TLS may be waiting to read; stopped by the budget, writable still.
  if (tls_) budget > 0 ? watch_as_tls_wants() : watch(UV_WRITABLE);
  if (progressed) restart_timer(shared_.settings.idle_timeout);
}

// 0: the file shrank while we served it. The client gets a short body,
// which Content-Length lets it detect; never pad or pretend.
void Connection::body_failed(long n) {
  shared_.log->warn("{}: {} {}: {}", peer_, log_method_, nettool::escape_for_log(log_path_),
                    n == 0 ? "file shrank while being sent; connection closed"
                           : tls_ && n == -EPROTO ? tls_->error() : std::strerror(static_cast<int>(-n)));
  log_access();
  abort();
}

void Connection::finish_response() {
  log_access();
  out_.clear();
  out_.shrink_to_fit();  // idle keep-alive connections should cost little memory
  // The request's head and fields keep their room for the next request, up
  // to what a usual one needs: a 16 KiB head once does not stay with an idle connection.
  if (head_.capacity() > kKeptHeadRoom) std::string().swap(head_);
  if (parsed_.request.headers.capacity() > kKeptFieldRoom) std::vector<http::HeaderField>().swap(parsed_.request.headers);
  out_pos_ = 0;
  file_.reset();
  file_body_.reset();
  if (!keep_alive_ || shared_.draining) {
    linger();
    return;
  }
  state_ = State::ReadingHead;
  watch(peer_done_ ? 0 : UV_READABLE);
  restart_timer(shared_.settings.idle_timeout);
  // A response that goes out at once ends here, inside the call that
  // answered its request, so answering the next pipelined one from here
  // nests a few frames per request: 800 pipelined GETs overflowed the stack
  // under ASan. Past kMaxNesting the rest waits for the next loop turn.
  // Until then, a client that has finished sending is not taken for one
  // with nothing left to answer.
  if (nesting_ >= kMaxNesting) {
    if (answer_posted_) return;
    answer_posted_ = true;
    nettool::post(shared_.loop, [weak = weak_from_this()] {
      auto self = weak.lock();
      if (!self) return;
      self->answer_posted_ = false;
      if (self->state_ == State::ReadingHead) self->answer_what_arrived();
    });
    return;
  }
  ++nesting_;
  answer_what_arrived();
  --nesting_;
}

void Connection::answer_what_arrived() {
  process_buffer();  // a pipelined request may already be here
  // ...or decrypted and waiting in OpenSSL, where the poll cannot see it.
  if (tls_ && tls_->buffered() && state_ == State::ReadingHead) on_readable();
  if (peer_done_ && state_ == State::ReadingHead && !answer_posted_) abort();
}

// After the last response: half-close and read what the client still sends
// until it closes, so the kernel does not answer it with a reset that could
// destroy our response before the client read it.
void Connection::linger() {
  if (peer_done_) {
    abort();
    return;
  }
  state_ = State::Lingering;
  in_.clear();
  if (tls_) tls_->close_notify();
  ::shutdown(socket_.get(), SHUT_WR);
  watch(UV_READABLE);
  restart_timer(kLingerTime);
}

// METHOD and PATH of the access-log line log_access() writes for the
// request now being answered; either may be empty, which is written "-".
void Connection::begin_access_log(std::string_view method, std::string_view path) {
  log_method_.assign(method);  // assign: the strings keep their capacity from one request to the next
  log_path_.assign(path);
  log_pending_ = true;
}

void Connection::log_access() {
  if (!log_pending_) return;
  log_pending_ = false;
  ++shared_.requests;
  // Asked first: the fields are escaped before spdlog looks at the level, and
  // under -q that was a tenth of a small GET's instructions for no line.
  if (shared_.log->should_log(spdlog::level::info)) {
    // CLIENT METHOD PATH STATUS BYTES DURATION, each field free of spaces
    // (append_log_field). Put together here and handed to spdlog as is:
    // fmt's formatting (of a double, above all) was most of the line's cost.
    auto tenths_of_ms = (std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                               request_started_).count() + 50) / 100;
    std::string& line = shared_.access_line;
    line.clear();
    auto number = [&line](uint64_t value) {
      char digits[24];
      // (pointer, length): append(first, last) goes through replace(), four times the instructions
      line.append(digits, static_cast<size_t>(std::to_chars(digits, digits + sizeof digits, value).ptr - digits));
    };
    line += peer_;
    line += ' ';
    append_log_field(line, log_method_);
    line += ' ';
    append_log_field(line, log_path_);
    line += ' ';
    number(static_cast<uint64_t>(log_status_));
    line += ' ';
    number(body_bytes_sent_);
    line += ' ';
    number(static_cast<uint64_t>(tenths_of_ms / 10));
    line += '.';
    number(static_cast<uint64_t>(tenths_of_ms % 10));
    line += "ms";
    shared_.log->info(std::string_view(line));
  }
}

void Connection::shutdown() {
  keep_alive_ = false;
  // No request in flight: a client still in its handshake has asked for nothing yet.
  if ((state_ == State::ReadingHead && in_.empty()) || state_ == State::Handshaking) abort();
}

void Connection::abort() {
  if (state_ == State::Closed) return;
  state_ = State::Closed;
  poll_.close();
  timer_.close();
  file_.reset();
  uint64_t id = id_;
  auto notify = shared_.on_closed;
  nettool::post(shared_.loop, [notify, id] {
    if (notify) notify(id);
  });
}

}  // namespace file_serve
