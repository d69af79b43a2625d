#include "root.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <optional>

#include "nettool/http.h"

namespace file_serve {

namespace {

// Paths are opened with O_PATH: opening a FIFO for reading would release a
// writer blocked in its open() and then break its pipe, and opening a device
// can have effects of its own. Only a regular file is then reopened for
// reading (reopen_for_reading), through its descriptor, not its path again.
constexpr int kOpenFlags = O_PATH | O_CLOEXEC;
constexpr uint64_t kResolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;

int openat2_beneath(int dirfd, const std::string& path, uint64_t extra_resolve = 0, int flags = kOpenFlags) {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags);
  how.resolve = kResolve | extra_resolve;
  return static_cast<int>(syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how));
}

// The path the kernel resolved for `fd`, from /proc/self/fd (no disk I/O).
std::optional<std::string> resolved_path(int fd) {
  char link[32];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  char buf[PATH_MAX];
  ssize_t n = ::readlink(link, buf, sizeof buf);
  if (n < 0 || static_cast<size_t>(n) >= sizeof buf) return std::nullopt;
  return std::string(buf, static_cast<size_t>(n));
}

// openat2 beneath `dirfd` (a directory under the root): symlinks are followed
// as long as they stay beneath it, but unless `allow_hidden`, a path that
// resolved to a dot file or through a dot directory below the root fails
// with ENOENT, as the same path spelt out would. The path is first tried
// without following any symlink: then it is exactly the request's checked
// segments, and the common case costs no readlink. The check looks at what
// the descriptor really is, so swapping a link afterwards cannot get around
// it.
int open_visible(int root_fd, int dirfd, const std::string& path, bool allow_hidden, uint64_t extra_resolve = 0,
                 int flags = kOpenFlags) {
  if (allow_hidden) return openat2_beneath(dirfd, path, extra_resolve, flags);
  int fd = openat2_beneath(dirfd, path, extra_resolve | RESOLVE_NO_SYMLINKS, flags);
  if (fd >= 0 || errno != ELOOP) return fd;
  fd = openat2_beneath(dirfd, path, extra_resolve, flags);
  if (fd < 0) return fd;
  auto root = resolved_path(root_fd);
  auto file = resolved_path(fd);
  if (!root || !file || path_has_hidden_component(*root, *file)) {
    ::close(fd);
    errno = ENOENT;
    return -1;
  }
  return fd;
}

std::string join(const std::vector<std::string>& segments) {
  std::string path;
  for (const auto& s : segments) {
    if (!path.empty()) path += '/';
    path += s;
  }
  return path;
}

// Without openat2: one component at a time, refusing every symlink
// (O_PATH | O_NOFOLLOW opens the link itself, which is then refused as
// openat2 would: ELOOP).
int open_walk(int root_fd, const std::vector<std::string>& segments) {
  if (segments.empty()) return ::openat(root_fd, ".", kOpenFlags | O_DIRECTORY);
  UniqueFd dir(::openat(root_fd, ".", kOpenFlags | O_DIRECTORY));
  if (!dir.valid()) return -1;
  for (size_t i = 0; i < segments.size(); ++i) {
    bool last = i + 1 == segments.size();
    UniqueFd fd(::openat(dir.get(), segments[i].c_str(), kOpenFlags | O_NOFOLLOW | (last ? 0 : O_DIRECTORY)));
    if (!fd.valid()) return -1;
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return -1;
    if (S_ISLNK(st.st_mode)) {
      errno = ELOOP;
      return -1;
    }
    if (last) return fd.release();
    dir = std::move(fd);
  }
  return -1;
}

int open_path(int root_fd, const std::vector<std::string>& segments, bool allow_hidden) {
  std::string path = segments.empty() ? std::string(".") : join(segments);
  int fd = open_visible(root_fd, root_fd, path, allow_hidden);
  if (fd >= 0 || (errno != ENOSYS && errno != EPERM)) return fd;  // EPERM: seccomp filters
  return open_walk(root_fd, segments);
}

// The regular file behind an O_PATH descriptor, opened for reading: the same
// inode, whatever its path has become since.
int reopen_for_reading(int path_fd) {
  char link[32];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", path_fd);
  return ::open(link, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);  // a leased file: EWOULDBLOCK, never a wait
}

// Whether a request for this directory entry's name would pass the checks
// every request path passes (http::percent_decode_path, http::check_path):
// names that are not UTF-8, or hold a backslash or control characters, are
// refused there, so a listing does not offer them.
bool fetchable_name(const std::string& name, bool allow_hidden) {
  auto decoded = nettool::http::percent_decode_path(nettool::http::percent_encode_path(name));
  if (!decoded) return false;
  auto check = nettool::http::check_path(*decoded, allow_hidden);
  return check.ok && check.segments.size() == 1 && check.segments.front() == name;
}

void refuse(OpenResult& r, int err, int status, std::string why) {
  r.error = err;
  r.status = status;
  r.why = std::move(why);
  r.fd.reset();
}

}  // namespace

std::string proc_self_fd_problem(int dir_fd) {
  char link[32];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", dir_fd);
  UniqueFd reopened(::open(link, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (reopened.valid()) return "";
  return std::string(link) + ": " + std::strerror(errno);
}

bool path_has_hidden_component(std::string_view root, std::string_view path) {
  if (root == "/") root = "";
  if (path.substr(0, root.size()) != root || (path.size() > root.size() && path[root.size()] != '/')) return true;
  std::string_view rest = path.substr(root.size());
  size_t pos = 0;
  while (pos < rest.size()) {
    size_t slash = rest.find('/', pos);
    if (slash == std::string_view::npos) slash = rest.size();
    if (slash > pos && rest[pos] == '.') return true;
    pos = slash + 1;
  }
  return false;
}

bool open_cached_file(int root_fd, const std::vector<std::string>& segments, bool allow_hidden, OpenResult& out) {
  if (segments.empty()) return false;
  // RESOLVE_CACHED: EAGAIN when not cached; ENOSYS or EINVAL on old kernels; errors the pool reports.
  int fd = open_visible(root_fd, root_fd, join(segments), allow_hidden, RESOLVE_CACHED);
  if (fd < 0) return false;
  UniqueFd file(fd);
  struct stat st {};
  if (fstat(file.get(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  out.fd.reset(reopen_for_reading(file.get()));
  out.st = st;
  return out.fd.valid();
}

OpenResult open_beneath(int root_fd, const std::vector<std::string>& segments, bool want_listing, bool allow_hidden) {
  OpenResult r;
  r.fd.reset(open_path(root_fd, segments, allow_hidden));
  if (!r.fd.valid()) {
    int err = errno;
    switch (err) {
      case ENOENT:
      case ENOTDIR: refuse(r, err, 404, "not found"); break;
      case EXDEV:
      case ELOOP: refuse(r, err, 404, "symlink leaves the root"); break;
      case EACCES:
      case EPERM: refuse(r, err, 403, "permission denied"); break;
      case ENAMETOOLONG: refuse(r, err, 414, "name too long"); break;
      default: refuse(r, err, 500, std::strerror(err));
    }
    return r;
  }
  if (fstat(r.fd.get(), &r.st) != 0) {
    refuse(r, errno, 500, std::strerror(errno));
    return r;
  }
  if (S_ISREG(r.st.st_mode)) {
    r.fd.reset(reopen_for_reading(r.fd.get()));
    if (!r.fd.valid()) refuse(r, errno, errno == EACCES ? 403 : 500, std::strerror(errno));
    return r;
  }
  if (!S_ISDIR(r.st.st_mode)) {
    refuse(r, EPERM, 403, "not a regular file or directory");
    return r;
  }
  r.is_directory = true;
  // index.html, if it is a regular file, resolved as the request for
  // DIR/index.html would be: beneath the root, so a symlink to another
  // directory's index.html serves it, as asking for it by name does.
  std::vector<std::string> index_path = segments;
  index_path.push_back("index.html");
  if (UniqueFd index_fd(open_path(root_fd, index_path, allow_hidden)); index_fd.valid()) {
    struct stat st {};
    if (fstat(index_fd.get(), &st) == 0 && S_ISREG(st.st_mode)) {
      if (UniqueFd readable(reopen_for_reading(index_fd.get())); readable.valid()) {
        r.fd = std::move(readable);
        r.st = st;
        r.served_index = true;
        return r;
      }
    }
  }
  if (!want_listing) return r;
  int dup_fd = ::openat(r.fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dup_fd < 0) {
    int err = errno;
    refuse(r, err, err == EACCES ? 403 : 500, err == EACCES ? "permission denied" : std::strerror(err));
    return r;
  }
  DIR* dir = fdopendir(dup_fd);
  if (!dir) {
    ::close(dup_fd);
    return r;
  }
  constexpr size_t kMaxEntries = 100000;  // a listing is memory; bound it
  const std::string dir_path = join(segments);
  while (dirent* e = readdir(dir)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (!fetchable_name(name, allow_hidden)) continue;
    unsigned char type = e->d_type;
    if (type == DT_UNKNOWN) {
      struct stat st {};
      if (fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      type = S_ISREG(st.st_mode) ? DT_REG : S_ISDIR(st.st_mode) ? DT_DIR : S_ISLNK(st.st_mode) ? DT_LNK : DT_UNKNOWN;
    }
    if (type == DT_LNK) {
      // Listed as what a request for it would get: nothing when the link
      // leaves the root, dangles or leads to a dot file; "name/" when it
      // leads to a directory. O_PATH: looking must not open a device.
      UniqueFd target(open_visible(root_fd, root_fd, dir_path.empty() ? name : dir_path + "/" + name, allow_hidden, 0,
                                   O_PATH | O_CLOEXEC));
      struct stat st {};
      if (!target.valid() || fstat(target.get(), &st) != 0) continue;
      type = S_ISREG(st.st_mode) ? DT_REG : S_ISDIR(st.st_mode) ? DT_DIR : DT_UNKNOWN;
    }
    // Only what could be served: regular files and directories.
    if (type != DT_REG && type != DT_DIR) continue;
    r.listing.push_back(type == DT_DIR ? name + "/" : name);
    if (r.listing.size() >= kMaxEntries) break;
  }
  closedir(dir);
  std::sort(r.listing.begin(), r.listing.end());
  return r;
}

}  // namespace file_serve
