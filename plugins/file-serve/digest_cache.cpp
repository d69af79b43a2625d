#include "digest_cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <vector>

#include "fd.h"
#include "nettool/digest.h"

namespace file_serve {

namespace {
struct HashJob {
  uv_work_t req{};
  UniqueFd fd;
  off_t size = 0;
  std::string value;  // result
  std::weak_ptr<DigestCache*> cache;
  std::function<void(const std::string&)> deliver;
};
constexpr size_t kMaxCached = 4096;
}  // namespace

void DigestCache::get(int fd, const struct stat& st, Done done) {
  Key key = key_of(st);
  if (auto it = cache_.find(key); it != cache_.end()) {
    done(it->second);
    return;
  }
  auto& waiters = waiting_[key];
  waiters.push_back(std::move(done));
  if (waiters.size() > 1) return;  // already hashing this file

  auto job = std::make_unique<HashJob>();
  job->fd.reset(fcntl(fd, F_DUPFD_CLOEXEC, 0));
  job->size = st.st_size;
  job->cache = alive_;
  job->deliver = [this, key](const std::string& value) { finished(key, value); };
  job->req.data = job.get();
  int rc = uv_queue_work(
      loop_, &job->req,
      [](uv_work_t* w) {
        auto* j = static_cast<HashJob*>(w->data);
        if (!j->fd.valid()) return;
        nettool::Sha256 sha;
        std::vector<char> buf(256 * 1024);
        off_t offset = 0;
        while (offset < j->size) {
          ssize_t n = pread(j->fd.get(), buf.data(), buf.size(), offset);
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) return;  // changed under us: no digest rather than a wrong one
          sha.update(buf.data(), static_cast<size_t>(n));
          offset += n;
        }
        j->value = nettool::repr_digest_value(sha.finish());
      },
      [](uv_work_t* w, int) {
        std::unique_ptr<HashJob> j(static_cast<HashJob*>(w->data));
        auto cache = j->cache.lock();
        if (cache && *cache) j->deliver(j->value);
      });
  if (rc < 0) {
    finished(key, "");
    return;
  }
  job.release();  // owned by the work request until its after-work callback
}

void DigestCache::finished(const Key& key, const std::string& value) {
  if (!value.empty()) {
    if (cache_.size() >= kMaxCached) cache_.clear();
    cache_[key] = value;
  }
  auto node = waiting_.extract(key);
  if (node.empty()) return;
  for (auto& fn : node.mapped()) fn(value);
}

}  // namespace file_serve
