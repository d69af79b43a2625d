// One client of file-serve, on a raw non-blocking socket watched by a
// uv_poll_t. Raw sockets rather than uv_tcp_t because bodies go out with
// sendfile(2) straight from the page cache when the socket is writable, which
// libuv's stream API cannot do (uv_fs_sendfile would tie up a pool thread per
// slow client).
//
//   [Handshaking, with --tls] -->
//   ReadingHead --request--> Opening --(thread pool: open, stat)--> [Hashing] --> Sending
//        ^                                                                           |
//        +-------------------------- keep-alive ------------------------------------+
//   Sending --no keep-alive--> Lingering (read and discard until EOF, bounded) --> closed
//
// With --tls the same machine runs over a TlsSocket (OpenSSL on the socket
// descriptor): receive() and transmit() go through it, and a body is either
// sent by SSL_sendfile when the kernel does the encryption (kTLS) or read
// into out_ and written through OpenSSL in pieces.
#pragma once
#include <sys/stat.h>
#include <uv.h>

#include <chrono>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "digest_cache.h"
#include "open_cache.h"
#include "nettool/fd.h"
#include "nettool/http.h"
#include "nettool/options.h"
#include "nettool/tls.h"
#include "nettool/uv.h"

namespace spdlog {
class logger;
}
namespace nettool {
struct Counters;
}

namespace file_serve {

using nettool::UniqueFd;

struct ServerSettings {
  bool listing = true;
  bool allow_hidden = false;
  bool digest = true;
  nettool::Duration idle_timeout{30000};
  size_t raw_name_limit = 4096;
  nettool::Duration tls_handshake_timeout{10000};
};

// An HTTP date formatted again only when its second changes: formatting
// one per request showed in small-file profiles.
class DateText {
 public:
  const std::string& of(std::time_t t) {
    if (text_.empty() || t != second_) {
      second_ = t;
      text_ = nettool::http::format_date(t);
    }
    return text_;
  }

 private:
  std::time_t second_ = 0;
  std::string text_;  // empty until the first call (any second, even -1, is a valid time)
};

// What the connections of one worker share; owned by that worker and used
// only on its loop's thread (see Worker in file_serve.cpp).
struct ServerShared {
  uv_loop_t* loop = nullptr;
  spdlog::logger* log = nullptr;  // thread-safe (an _mt sink)
  nettool::Counters* counters = nullptr;  // this worker's own
  uint64_t requests = 0;  // answered (or failed) requests, for the -v summary
  int root_fd = -1;
  Digester* digests = nullptr;
  OpenFileCache* open_files = nullptr;  // null: every request opens its file
  ServerSettings settings;
  bool draining = false;
  std::vector<char> inline_body_buffer;  // a small body on its way out with its head (send_head_with_body)
  std::string known_digest;  // a digest copied out of the cache for the head being made (its capacity is kept)
  std::string access_line;  // the access-log line being made (the same)
  DateText date;           // of every head
  DateText last_modified;  // of the file served last
  bool kernel_tls_asked = false;   // --tls-ktls
  bool kernel_tls_noted = false;   // told once that the kernel did not take a session
  std::function<void(uint64_t id)> on_closed;  // the owner drops the connection (called from a posted task)
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // `tls`: the session on `socket` with --tls, else null.
  Connection(ServerShared& shared, uint64_t id, UniqueFd socket, std::string peer,
             std::unique_ptr<nettool::TlsSocket> tls);
  ~Connection();
  void start();
  // Graceful stop: close now when idle, else after the response in flight.
  void shutdown();
  // Close the socket now, whatever is in flight.
  void abort();

 private:
  enum class State { Handshaking, ReadingHead, Opening, Sending, Lingering, Closed };
  struct Reply;  // a response being prepared

  static void on_poll(uv_poll_t* handle, int status, int events);
  void continue_handshake();
  bool answer_plain_http();
  void on_readable();
  void on_writable();
  long receive(char* buf, size_t size);
  long transmit(const char* data, size_t size, bool more);
  long send_body(uint64_t budget);
  long read_body_into_out();
  const char* kept_body(uint64_t length) const;
  void body_failed(long n);
  void watch_as_tls_wants();
  void send_now();
  void watch(int events);
  void restart_timer(std::chrono::milliseconds ms);

  void process_buffer();
  void handle_raw(const std::string& name);
  void handle_http(const nettool::http::Request& request);
  void answer_directory(struct OpenResult& r, const nettool::http::Request& request, std::string_view query_part,
                        bool head);
  bool open_from_cache(const std::vector<std::string>& segments, struct OpenResult& hit);
  void open_path(std::vector<std::string> segments, std::function<void(struct OpenResult&)> next);
  static FileRef opened_file(struct OpenResult& r);
  void serve_file(FileRef fd, const struct stat& st, const nettool::http::Request* request,
                  std::string_view content_type);
  void send_head_and_file(std::string_view head, FileRef fd, uint64_t offset, uint64_t length);
  bool send_head_with_body(std::string_view head);
  void respond(int status, std::string extra_headers, std::string body, bool head_only);
  void respond_error(int status, bool close_after, const std::string& extra_headers = "");
  static std::string short_body(int status);
  std::optional<size_t> request_body_size(const nettool::http::Request& request);
  void refuse_request(const nettool::http::Request& request, int status, std::string_view why);
  const char* connection_field() const;
  void finish_response();
  void answer_what_arrived();
  void linger();
  void begin_access_log(std::string_view method, std::string_view path);
  void log_access();

  ServerShared& shared_;
  uint64_t id_;
  UniqueFd socket_;
  std::unique_ptr<nettool::TlsSocket> tls_;  // after socket_: freed before the descriptor closes
  nettool::Handle<uv_poll_t> poll_;
  nettool::Handle<uv_timer_t> timer_;
  uint64_t deadline_ = 0;  // loop time (ms) when timer_ acts; it may be armed sooner (restart_timer)
  std::string peer_;
  State state_ = State::ReadingHead;
  int watched_events_ = 0;
  bool protocol_known_ = false;
  bool is_http_ = true;
  bool keep_alive_ = true;
  bool http1_0_ = false;  // the request being answered is HTTP/1.0
  bool body_unread_ = false;  // answered before its body came (Expect: 100-continue): close after
  bool peer_done_ = false;  // the client shut down its sending side
  // The answer waiting for its Repr-Digest, while one is hashed. It is the
  // Digester's "requester": dropping it (the client hung up) takes the file
  // out of the hash queue, and the answer goes without the digest.
  struct DigestWait {
    std::function<void(const std::string& digest)> resume;
    void finish(const std::string& digest) {
      auto fn = std::move(resume);
      resume = nullptr;
      if (fn) fn(digest);
    }
  };
  std::shared_ptr<DigestWait> digest_wait_;
  void await_digest(int fd, const struct stat& st, std::function<void(const std::string& digest)> resume);
  bool tls_peeked_ = false;  // looked at the first byte for a plain HTTP request
  static constexpr int kMaxNesting = 16;  // responses ended inside one another (finish_response)
  int nesting_ = 0;
  bool answer_posted_ = false;  // the requests still in in_ are answered on the next loop turn
  std::string in_;  // bytes received and not yet consumed
  // The request being answered: its head, copied out of in_, and the parse
  // whose views point into it. Both are left as they are until its response
  // is finished; code after a send must not read them, since a response
  // finished at once may already have parsed the next pipelined request.
  // Reused from one request to the next, so they allocate nothing.
  std::string head_;
  nettool::http::RequestParse parsed_;
  std::string decoded_path_;  // scratch for handle_http, whose capacity is kept
  nettool::http::PathCheck path_check_;  // the same
  std::string cache_key_;  // the same, for open_from_cache
  size_t lingered_ = 0;

  // The response in flight.
  std::string out_;
  size_t out_pos_ = 0;
  FileRef file_;  // shared with the open-file cache
  FileBody file_body_;  // the file's bytes, when the open-file cache keeps them (no pread)
  off_t file_offset_ = 0;
  uint64_t file_remaining_ = 0;
  bool inline_body_ = false;  // at most kInlineBody, in the clear: sent with the head (send_head_with_body)
  uint64_t body_bytes_sent_ = 0;
  uint64_t head_bytes_ = 0;

  // For the access log.
  bool log_pending_ = false;  // a request is being answered: log_access() has a line to write
  std::string log_method_, log_path_;
  int log_status_ = 0;
  std::chrono::steady_clock::time_point request_started_;
};

}  // namespace file_serve
