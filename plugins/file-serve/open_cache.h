// OpenFileCache: the small regular files a worker opened in the last second,
// by request path, so a file asked for again is served without the openat2,
// fstat and close of each request (lighttpd's stat cache does the same; the
// open was a third of a 4 KiB GET's system calls). A hit is checked with an
// fstat of the cached descriptor: a file changed in place has a new size and
// mtime (the fresh stat is what is served), one deleted or replaced by a
// rename has no link left and is opened anew. A chmod, rename or move of the
// file itself moves its ctime and is seen too; within its second a hit can
// miss only a directory above it renamed or chmod'ed. A one-second timer
// closes what has expired, so an idle server holds no deleted file open.
//
// A hit on a file of at most kMaxBodySize also keeps the file's bytes, so
// the next hits send them without a pread. They are kept only for a file
// whose ctime is over a second old when read: any later write moves the
// ctime (which, unlike mtime, cannot be set back), so the fstat tells
// whether the bytes are still the file's; a file being written now is read
// each time, as before. The exception is a write through a shared mmap to a
// page already dirty, which moves no time stamp: it can go unseen until the
// entry's second is up.
//
// A hit whose bytes are kept is looked at once per turn of the event loop,
// not once per request: each fstat was 0.5 µs of a 9 µs GET here, and a busy
// server answers tens of requests for a hot file in one turn. The kept bytes
// and the stat they were read with are one version of the file, so such a
// hit is always a whole, consistent answer; a request answered in the same
// turn as a change (a turn lasts microseconds, a few milliseconds at most)
// may get the version before it. Any other hit reads the file itself, so it
// is looked at for every request: a stale stat would send new bytes under
// an old head.
#pragma once
#include <sys/stat.h>
#include <uv.h>

#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>

#include "nettool/fd.h"
#include "nettool/uv.h"

namespace file_serve {

using FileRef = std::shared_ptr<const nettool::UniqueFd>;
using FileBody = std::shared_ptr<const std::string>;  // a whole file's bytes

class OpenFileCache {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr Clock::duration kLifetime = std::chrono::seconds(1);
  static constexpr size_t kMaxEntries = 256;
  static constexpr off_t kMaxFileSize = 64 * 1024;  // where the open is a good part of the request
  static constexpr off_t kMaxBodySize = 16 * 1024;  // bytes kept: bodies sent with their head
  static constexpr size_t kMaxBodyBytes = 1 << 20;  // all bodies kept, per worker

  // With a loop, turns are counted by a prepare handle on it; without one
  // (a unit test) only next_turn() moves them.
  explicit OpenFileCache(uv_loop_t* loop);

  // The file `path` named, if it was opened less than kLifetime ago and is
  // still linked; `st` gets its stat (as of this turn when its bytes are kept). With `body`, also the file's
  // bytes when it is small and settled (see above), else null.
  FileRef find(const std::string& path, struct stat& st, Clock::time_point now, FileBody* body = nullptr);
  // Remembers `file` (a regular file of at most kMaxFileSize, else ignored).
  void store(const std::string& path, const FileRef& file, const struct stat& st, Clock::time_point now);
  size_t size() const { return entries_.size(); }
  size_t body_bytes() const { return body_bytes_; }
  // A new turn of the event loop: the next hit of each file looks at it again.
  void next_turn() { ++turn_; }
  // Forgets every file and closes the handles (the worker is closing its loop).
  void close() {
    clear();
    sweeper_.close();
    turns_.close();
  }

 private:
  struct Entry {
    FileRef file;
    Clock::time_point opened;
    timespec ctime{};  // when opened: a rename, move, chmod or write since moves it
    struct stat st{};  // the file's, as of turn `checked`
    uint64_t checked = 0;  // 0: never looked at by find()
    FileBody body;  // the bytes, as they were at body_size, body_mtime and body_ctime
    off_t body_size = 0;
    timespec body_mtime{}, body_ctime{};
  };
  using Entries = std::unordered_map<std::string, Entry>;
  FileBody body_of(Entry& entry, const struct stat& st);
  void forget_body(Entry& entry);
  Entries::iterator erase(Entries::iterator it);
  void clear();
  void sweep(Clock::time_point now);

  Entries entries_;
  size_t body_bytes_ = 0;
  uint64_t turn_ = 1;
  nettool::Handle<uv_timer_t> sweeper_;
  nettool::Handle<uv_prepare_t> turns_;  // runs before each poll for I/O: a new turn
};

}  // namespace file_serve
