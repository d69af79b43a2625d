// SHA-256 of served files, computed on the thread pool and remembered per
// (device, inode, size, mtime, ctime) so a file is hashed once until it
// changes. ctime too because mtime can be set back (cp -p, rsync -t, touch -r)
// after an in-place rewrite; ctime cannot, and any write moves it.
#pragma once
#include <sys/stat.h>
#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

namespace file_serve {

class DigestCache {
 public:
  // value: the Repr-Digest field value, or empty when hashing failed.
  using Done = std::function<void(const std::string& value)>;
  explicit DigestCache(uv_loop_t* loop) : loop_(loop), alive_(std::make_shared<DigestCache*>(this)) {}
  ~DigestCache() { *alive_ = nullptr; }

  // Calls `done` at once when cached, else after hashing `fd` (which is
  // duplicated: the caller may close its copy meanwhile).
  void get(int fd, const struct stat& st, Done done);

 private:
  using Key = std::tuple<dev_t, ino_t, off_t, int64_t, int64_t, int64_t, int64_t>;
  static Key key_of(const struct stat& st) {
    return {st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec, st.st_ctim.tv_sec, st.st_ctim.tv_nsec};
  }
  void finished(const Key& key, const std::string& value);

  uv_loop_t* loop_;
  std::map<Key, std::string> cache_;
  std::map<Key, std::vector<Done>> waiting_;
  std::shared_ptr<DigestCache*> alive_;  // lets a finishing job see the cache is gone
};

}  // namespace file_serve
