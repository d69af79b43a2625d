#include "digest_cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <tuple>
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
  DigestKey key;
  std::optional<nettool::Sha256> sha;  // made on the loop thread (the first one loads libcrypto)
  std::string value;  // result
  std::weak_ptr<Digester*> digester;
  std::function<void(const std::string&)> deliver;
};
}  // namespace

size_t DigestKeyHash::operator()(const DigestKey& key) const noexcept {
  size_t h = 0;
  auto mix = [&h](uint64_t v) { h ^= std::hash<uint64_t>{}(v) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2); };
  std::apply([&mix](auto... field) { (mix(static_cast<uint64_t>(field)), ...); }, key);
  return h;
}

bool DigestCache::find(const DigestKey& key, std::string& value) {
  std::lock_guard lock(mutex_);
  auto it = index_.find(key);
  if (it == index_.end()) return false;
  by_recency_.splice(by_recency_.begin(), by_recency_, it->second);
  value = it->second->second;
  return true;
}

void DigestCache::store(const DigestKey& key, const std::string& value) {
  std::lock_guard lock(mutex_);
  if (auto it = index_.find(key); it != index_.end()) {
    it->second->second = value;
    by_recency_.splice(by_recency_.begin(), by_recency_, it->second);
    return;
  }
  if (index_.size() >= capacity_) {
    index_.erase(by_recency_.back().first);
    by_recency_.pop_back();
  }
  by_recency_.emplace_front(key, value);
  index_.emplace(key, by_recency_.begin());
}

size_t DigestCache::size() const {
  std::lock_guard lock(mutex_);
  return index_.size();
}

bool Digester::known(const struct stat& st, std::string& value) {
  // Written out rather than hashed: an empty file must not be what loads libcrypto.
  if (st.st_size == 0) {
    value = "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:";
    return true;
  }
  return cache_.find(digest_key_of(st), value);
}

void Digester::get(int fd, const struct stat& st, std::weak_ptr<const void> requester, Done done) {
  if (std::string value; known(st, value)) {
    done(value);
    return;
  }
  DigestKey key = digest_key_of(st);
  auto& waiters = waiting_[key];
  waiters.push_back(Waiter{std::move(requester), std::move(done)});
  if (waiters.size() > 1) return;  // already hashing this file, or waiting to
  HashRequest request{key, UniqueFd(fcntl(fd, F_DUPFD_CLOEXEC, 0)), st.st_size};
  if (st.st_size <= kSmallFileBytes) {
    if (small_hashing_ < kSmallAtOnce) return start(std::move(request), Lane::Small);
    small_backlog_.push_back(std::move(request));
    return;
  }
  if (!hashing_) return start(std::move(request), Lane::Large);
  if (backlog_.size() >= kMaxBacklog) {
    // Those whose requesters left make room first; if none did, this one
    // is answered without a digest rather than queued without bound.
    std::erase_if(backlog_, [this](const HashRequest& queued) { return abandoned(queued.key); });
    if (backlog_.size() >= kMaxBacklog) {
      auto node = waiting_.extract(key);
      node.mapped().front().done("");
      return;
    }
  }
  backlog_.push_back(std::move(request));
}

// True (and the file forgotten) when every requester of a queued file has left.
bool Digester::abandoned(const DigestKey& key) {
  auto it = waiting_.find(key);
  if (it == waiting_.end()) return true;
  std::erase_if(it->second, [](const Waiter& w) { return w.requester.expired(); });
  if (!it->second.empty()) return false;
  waiting_.erase(it);
  return true;
}

void Digester::start(HashRequest request, Lane lane) {
  auto job = std::make_unique<HashJob>();
  // libnettool-digest missing or not of this build: answers go without
  // Repr-Digest, the log says why (once per worker), and it is not tried
  // again (a dlopen under the loader's lock per request).
  if (!cannot_hash_) {
    try {
      job->sha.emplace();
    } catch (const std::exception& e) {
      if (log_) log_->warn("no Repr-Digest: {}", e.what());
      cannot_hash_ = true;
    }
  }
  if (cannot_hash_) {
    if (lane == Lane::Large) hashing_ = true;
    else ++small_hashing_;
    return finished(request.key, "", lane);
  }
  job->fd = std::move(request.fd);
  job->size = request.size;
  job->key = request.key;
  job->digester = alive_;
  job->deliver = [this, key = request.key, lane](const std::string& value) { finished(key, value, lane); };
  job->req.data = job.get();
  if (lane == Lane::Large) hashing_ = true;
  else ++small_hashing_;
  int rc = uv_queue_work(
      loop_, &job->req,
      [](uv_work_t* w) {
        auto* j = static_cast<HashJob*>(w->data);
        if (!j->fd.valid()) return;
        nettool::Sha256& sha = *j->sha;
        // Sized to the file: a pool thread's freed 256 KiB would stay in its
        // malloc arena, resident, after hashing a 4 KiB file.
        std::vector<char> buf(static_cast<size_t>(std::min<off_t>(j->size, 256 * 1024)));
        off_t offset = 0;
        while (offset < j->size) {
          ssize_t n = pread(j->fd.get(), buf.data(), buf.size(), offset);
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) return;  // changed under us: no digest rather than a wrong one
          sha.update(buf.data(), static_cast<size_t>(n));
          offset += n;
        }
        // Written to while we read: the bytes hashed may be of neither version.
        struct stat after {};
        if (fstat(j->fd.get(), &after) != 0 || digest_key_of(after) != j->key) return;
        j->value = nettool::repr_digest_value(sha.finish());
      },
      [](uv_work_t* w, int) {
        std::unique_ptr<HashJob> j(static_cast<HashJob*>(w->data));
        auto digester = j->digester.lock();
        if (digester && *digester) j->deliver(j->value);
      });
  if (rc < 0) {
    finished(request.key, "", lane);
    return;
  }
  job.release();  // owned by the work request until its after-work callback
}

void Digester::finished(const DigestKey& key, const std::string& value, Lane lane) {
  if (lane == Lane::Large) hashing_ = false;
  else --small_hashing_;
  if (!value.empty()) cache_.store(key, value);
  auto node = waiting_.extract(key);
  if (!node.empty())
    for (auto& waiter : node.mapped())
      if (!waiter.requester.expired()) waiter.done(value);  // may ask for another digest
  start_next();
}

// The next files in each lane whose requesters are still there.
void Digester::start_next() {
  auto next_of = [this](std::deque<HashRequest>& queue) -> std::optional<HashRequest> {
    while (!queue.empty()) {
      HashRequest next = std::move(queue.front());
      queue.pop_front();
      if (!abandoned(next.key)) return next;
    }
    return std::nullopt;
  };
  while (small_hashing_ < kSmallAtOnce)
    if (auto next = next_of(small_backlog_)) start(std::move(*next), Lane::Small);
    else break;
  if (!hashing_)
    if (auto next = next_of(backlog_)) start(std::move(*next), Lane::Large);
}

}  // namespace file_serve
