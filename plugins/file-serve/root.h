// Opening a request path under the served root, and nothing outside it.
// Runs on the thread pool (it does blocking metadata I/O).
#pragma once
#include <sys/stat.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "nettool/fd.h"

namespace file_serve {

using nettool::UniqueFd;

struct OpenResult {
  int error = 0;  // errno-style; 0 on success
  int status = 200;  // HTTP status to answer when error != 0 (403, 404, 414...)
  std::string why;  // for the log
  UniqueFd fd;
  // Instead of fd: the same file, shared with file-serve's open-file cache.
  std::shared_ptr<const UniqueFd> shared_fd;
  struct stat st {};
  bool is_directory = false;
  // For a directory: the index.html inside it, if any (fd/st then describe it).
  bool served_index = false;
  // For a directory without index.html: its entries ("name" or "name/"), sorted.
  std::vector<std::string> listing;
};

// `segments` come from http::check_path (no "..", no empty, no NUL).
// Uses openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) where the kernel has
// it; elsewhere walks the path one component at a time with O_NOFOLLOW, so no
// symlink is followed at all. Only regular files and directories are served;
// paths are opened O_PATH and only a regular file is then opened for reading,
// so a FIFO or device is never opened (neither hanging the worker nor
// releasing and then breaking a writer waiting on the FIFO). A directory's
// index.html is resolved beneath the root like any request path.
// Unless allow_hidden, the hidden rule holds for the path as resolved: a
// symlink without a dot in its name that leads to a dot file, or through a
// dot directory, is not found (nor is an index.html that is such a link).
// A listing names only entries a request could fetch: names that pass the
// request path checks, and symlinks that lead to a file or directory that
// may be served (a link to a directory is listed with its trailing slash).
OpenResult open_beneath(int root_fd, const std::vector<std::string>& segments, bool want_listing, bool allow_hidden);

// The same for the common case, without leaving the event loop: succeeds only
// when the path is a regular file whose every component is already in the
// kernel's lookup cache (openat2 RESOLVE_CACHED), so it never waits for a
// disk. Returns false when the thread pool must do it (cold cache, a
// directory, a kernel without RESOLVE_CACHED, a refusal); `out` is then untouched.
bool open_cached_file(int root_fd, const std::vector<std::string>& segments, bool allow_hidden, OpenResult& out);

// Whether a descriptor can be reopened through /proc/self/fd, as every file
// served is (and a symlink's target is checked against the hidden rule
// there). An empty string when it can, else what failed, for an error at
// start rather than a 404 for every request (a chroot without /proc).
std::string proc_self_fd_problem(int dir_fd);

// True when `path` (a resolved absolute path) is not below `root` (also
// resolved), or has a component below it that starts with '.'.
bool path_has_hidden_component(std::string_view root, std::string_view path);

}  // namespace file_serve
