#include "digest_cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <vector>

#include "nettool/fd.h"
#include "nettool/digest.h"

namespace file_serve {

using nettool::UniqueFd;

namespace {
struct HashJob {
  uv_work_t req{};
  UniqueFd fd;
  off_t size = 0;
  std::string value;  // result
  std::weak_ptr<Digester*> digester;
  std::function<void(const std::string&)> deliver;
};
constexpr size_t kMaxCached = 4096;
}  // namespace

std::optional<std::string> DigestCache::find(const DigestKey& key) const {
  std::lock_guard lock(mutex_);
  auto it = values_.find(key);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

void DigestCache::store(const DigestKey& key, const std::string& value) {
  std::lock_guard lock(mutex_);
  if (values_.size() >= kMaxCached) values_.clear();
  values_[key] = value;
}

void Digester::get(int fd, const struct stat& st, Done done) {
  DigestKey key = digest_key_of(st);
  if (auto value = cache_.find(key)) {
    done(*value);
    return;
  }
  auto& waiters = waiting_[key];
  waiters.push_back(std::move(done));
  if (waiters.size() > 1) return;  // already hashing this file

  auto job = std::make_unique<HashJob>();
  job->fd.reset(fcntl(fd, F_DUPFD_CLOEXEC, 0));
  job->size = st.st_size;
  job->digester = alive_;
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
        auto digester = j->digester.lock();
        if (digester && *digester) j->deliver(j->value);
      });
  if (rc < 0) {
    finished(key, "");
    return;
  }
  job.release();  // owned by the work request until its after-work callback
}

void Digester::finished(const DigestKey& key, const std::string& value) {
  if (!value.empty()) cache_.store(key, value);
  auto node = waiting_.extract(key);
  if (node.empty()) return;
  for (auto& fn : node.mapped()) fn(value);
}

}  // namespace file_serve
