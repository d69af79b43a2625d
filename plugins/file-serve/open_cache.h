// OpenFileCache: the small regular files a worker opened in the last second,
// by request path, so a file asked for again is served without the openat2,
// fstat and close of each request (lighttpd's stat cache does the same; the
// open was a third of a 4 KiB GET's system calls). A hit is checked with one
// fstat of the cached descriptor per turn of the event loop: a file changed
// in place has a new size and mtime (the fresh stat is what is served), one
// deleted or replaced by a rename has no link left and is opened anew.
// Within its second a hit can miss a chmod, or a directory above it renamed.
// A one-second timer closes what has expired, so an idle server holds no
// deleted file open.
//
// Once per turn: the requests a turn answers arrived by the time it looked
// at the file, or while it was answering them, so a change that was complete
// before a request was sent is seen by it (the exception: a request read in
// the same turn as the change, a few microseconds' window, which is what
// "at the same time" means). Each fstat was 0.5 µs of a 9 µs GET here, and
// a busy server answers tens of requests for a hot file in a turn.
//
// A hit on a file of at most kMaxBodySize also keeps the file's bytes, so
// the next hits send them without a pread. They are kept only for a file
// whose ctime is over a second old when read: any later write moves the
// ctime (which, unlike mtime, cannot be set back), so the fstat of every
// hit tells whether the bytes are still the file's; a file being written
// now is read each time, as before. The exception is a write through a
// shared mmap to a page already dirty, which moves no time stamp: it can go
// unseen until the entry's second is up.
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
  // still linked; `st` gets its stat as of this turn. With `body`, also the file's
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
    uint64_t checked = 0;
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
