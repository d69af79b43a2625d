// OpenFileCache: the small regular files a worker opened in the last second,
// by request path, so a file asked for again is served without the openat2,
// fstat and close of each request (lighttpd's stat cache does the same; the
// open was a third of a 4 KiB GET's system calls). A hit is checked with one
// fstat of the cached descriptor: a file changed in place has a new size and
// mtime (the fresh stat is what is served), one deleted or replaced by a
// rename has no link left and is opened anew. Within its second a hit can
// miss a chmod, or a directory above it renamed. A one-second timer closes
// what has expired, so an idle server holds no deleted file open.
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

class OpenFileCache {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr Clock::duration kLifetime = std::chrono::seconds(1);
  static constexpr size_t kMaxEntries = 256;
  static constexpr off_t kMaxFileSize = 64 * 1024;  // where the open is a good part of the request

  explicit OpenFileCache(uv_loop_t* loop);

  // The file `path` named, if it was opened less than kLifetime ago and is
  // still linked; `st` gets its current stat.
  FileRef find(const std::string& path, struct stat& st, Clock::time_point now);
  // Remembers `file` (a regular file of at most kMaxFileSize, else ignored).
  void store(const std::string& path, const FileRef& file, const struct stat& st, Clock::time_point now);
  size_t size() const { return entries_.size(); }
  // Forgets every file and closes the timer (the worker is closing its loop).
  void close() {
    entries_.clear();
    sweeper_.close();
  }

 private:
  struct Entry {
    FileRef file;
    Clock::time_point opened;
  };
  void sweep(Clock::time_point now);

  std::unordered_map<std::string, Entry> entries_;
  nettool::Handle<uv_timer_t> sweeper_;
};

}  // namespace file_serve
