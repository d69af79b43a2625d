#include "root.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace file_serve {

namespace {

constexpr int kOpenFlags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;

int openat2_beneath(int dirfd, const std::string& path) {
  open_how how{};
  how.flags = kOpenFlags;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how));
}

// Without openat2: one component at a time, refusing every symlink.
int open_walk(int root_fd, const std::vector<std::string>& segments) {
  if (segments.empty()) return ::openat(root_fd, ".", kOpenFlags | O_DIRECTORY);
  UniqueFd dir(::openat(root_fd, ".", kOpenFlags | O_DIRECTORY));
  if (!dir.valid()) return -1;
  for (size_t i = 0; i < segments.size(); ++i) {
    bool last = i + 1 == segments.size();
    int fd = ::openat(dir.get(), segments[i].c_str(), kOpenFlags | O_NOFOLLOW | (last ? 0 : O_DIRECTORY));
    if (fd < 0) return -1;
    if (last) return fd;
    dir.reset(fd);
  }
  return -1;
}

int open_path(int root_fd, const std::vector<std::string>& segments) {
  std::string path;
  for (const auto& s : segments) path += (path.empty() ? "" : "/") + s;
  if (path.empty()) path = ".";
  int fd = openat2_beneath(root_fd, path);
  if (fd >= 0 || (errno != ENOSYS && errno != EPERM)) return fd;  // EPERM: seccomp filters
  return open_walk(root_fd, segments);
}

void refuse(OpenResult& r, int err, int status, std::string why) {
  r.error = err;
  r.status = status;
  r.why = std::move(why);
  r.fd.reset();
}

}  // namespace

bool open_cached_file(int root_fd, const std::vector<std::string>& segments, OpenResult& out) {
  if (segments.empty()) return false;
  std::string path;
  for (const auto& seg : segments) path += (path.empty() ? "" : "/") + seg;
  open_how how{};
  how.flags = kOpenFlags;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_CACHED;
  int fd = static_cast<int>(syscall(SYS_openat2, root_fd, path.c_str(), &how, sizeof how));
  if (fd < 0) return false;  // EAGAIN (not cached), ENOSYS, EINVAL (old kernel), or an error the pool reports
  UniqueFd file(fd);
  struct stat st {};
  if (fstat(file.get(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  out.fd = std::move(file);
  out.st = st;
  return true;
}

OpenResult open_beneath(int root_fd, const std::vector<std::string>& segments, bool want_listing, bool allow_hidden) {
  OpenResult r;
  r.fd.reset(open_path(root_fd, segments));
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
      case ENXIO: refuse(r, err, 403, "not a regular file"); break;  // socket or FIFO without writer
      default: refuse(r, err, 500, std::strerror(err));
    }
    return r;
  }
  if (fstat(r.fd.get(), &r.st) != 0) {
    refuse(r, errno, 500, std::strerror(errno));
    return r;
  }
  if (S_ISREG(r.st.st_mode)) return r;
  if (!S_ISDIR(r.st.st_mode)) {
    refuse(r, EPERM, 403, "not a regular file or directory");
    return r;
  }
  r.is_directory = true;
  // index.html, if it is a regular file in this directory (not a symlink out).
  int index = openat2_beneath(r.fd.get(), "index.html");
  if (index < 0 && (errno == ENOSYS || errno == EPERM)) index = ::openat(r.fd.get(), "index.html", kOpenFlags | O_NOFOLLOW);
  if (index >= 0) {
    UniqueFd index_fd(index);
    struct stat st {};
    if (fstat(index_fd.get(), &st) == 0 && S_ISREG(st.st_mode)) {
      r.fd = std::move(index_fd);
      r.st = st;
      r.served_index = true;
      return r;
    }
  }
  if (!want_listing) return r;
  int dup_fd = ::openat(r.fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dup_fd < 0) return r;
  DIR* dir = fdopendir(dup_fd);
  if (!dir) {
    ::close(dup_fd);
    return r;
  }
  constexpr size_t kMaxEntries = 100000;  // a listing is memory; bound it
  while (dirent* e = readdir(dir)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (name.front() == '.' && !allow_hidden) continue;
    // Only what could be served: files, directories and links to them.
    if (e->d_type != DT_REG && e->d_type != DT_DIR && e->d_type != DT_LNK && e->d_type != DT_UNKNOWN) continue;
    bool is_dir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN) {
      struct stat st {};
      is_dir = fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    }
    r.listing.push_back(is_dir ? name + "/" : name);
    if (r.listing.size() >= kMaxEntries) break;
  }
  closedir(dir);
  std::sort(r.listing.begin(), r.listing.end());
  return r;
}

}  // namespace file_serve
