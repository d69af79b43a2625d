// SHA-256 of served files for Repr-Digest, computed on the thread pool and
// remembered per (device, inode, size, mtime, ctime) so a file is hashed once
// until it changes. ctime too because mtime can be set back (cp -p, rsync -t,
// touch -r) after an in-place rewrite; ctime cannot, and any write moves it.
//
// Two halves, because of --workers: DigestCache holds the values and is the
// one thing the worker threads share (a mutex guards it); each worker's loop
// has its own Digester, which hashes on the thread pool and calls back on
// that loop. Two workers asked for the same new file at the same moment may
// both hash it once; the second result simply replaces the first.
#pragma once
#include <sys/stat.h>
#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "nettool/fd.h"

namespace spdlog {
class logger;
}

namespace file_serve {

using DigestKey = std::tuple<dev_t, ino_t, off_t, int64_t, int64_t, int64_t, int64_t>;

inline DigestKey digest_key_of(const struct stat& st) {
  return {st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec, st.st_ctim.tv_sec, st.st_ctim.tv_nsec};
}

struct DigestKeyHash {
  size_t operator()(const DigestKey& key) const noexcept;
};

// The digests known so far, at most `capacity` of them: storing one more
// forgets the least recently used (found or stored), so a burst of requests
// for many small files cannot push out the digest of a large file in steady
// use. Safe to use from any thread.
class DigestCache {
 public:
  static constexpr size_t kDefaultCapacity = 4096;
  explicit DigestCache(size_t capacity = kDefaultCapacity) : capacity_(capacity == 0 ? 1 : capacity) {}
  // Copies the value into `value` (into its capacity: a caller on a hot
  // path keeps one string for it) and marks the entry as the most recently
  // used; false when there is none.
  bool find(const DigestKey& key, std::string& value);
  void store(const DigestKey& key, const std::string& value);
  size_t size() const;

 private:
  using Entry = std::pair<DigestKey, std::string>;
  mutable std::mutex mutex_;
  size_t capacity_;
  std::list<Entry> by_recency_;  // most recently used first
  std::unordered_map<DigestKey, std::list<Entry>::iterator, DigestKeyHash> index_;
};

// One per event loop; use it only on that loop's thread. It hashes one
// large file at a time; others wait their turn. libuv's thread pool (4
// threads unless UV_THREADPOOL_SIZE says otherwise) also opens files and
// reads directories, and a few large hashes must not leave every request
// waiting behind them. Small files have their own lane beside it, two at a
// time: each takes a moment and must not wait seconds behind a queue of
// large ones, and a burst of them must not fill the pool either.
// The queue is bounded, and a turn whose requesters all left is skipped, so
// clients that ask for many large files and hang up cannot make the worker
// hash them all.
class Digester {
 public:
  // Files up to this size take the small lane.
  static constexpr off_t kSmallFileBytes = 1024 * 1024;
  static constexpr int kSmallAtOnce = 2;
  // Large files waiting their turn, at most; past that a request gets no digest.
  static constexpr size_t kMaxBacklog = 64;

  // value: the Repr-Digest field value, or empty when there is none (hashing
  // failed, or too many files wait to be hashed).
  using Done = std::function<void(const std::string& value)>;
  // `log`, when given, hears once that hashing is impossible (libnettool-digest
  // cannot be loaded); from then on this Digester answers every file without one.
  Digester(uv_loop_t* loop, DigestCache& cache, spdlog::logger* log = nullptr)
      : loop_(loop), cache_(cache), log_(log), alive_(std::make_shared<Digester*>(this)) {}
  ~Digester() { *alive_ = nullptr; }
  Digester(const Digester&) = delete;
  Digester& operator=(const Digester&) = delete;

  // Calls `done` at once when cached, else after hashing `fd` (which is
  // duplicated: the caller may close its copy meanwhile). `requester` is
  // whoever waits (a connection): once it is gone, its `done` is not called
  // and the file is not hashed for it.
  void get(int fd, const struct stat& st, std::weak_ptr<const void> requester, Done done);
  // The value, into `value`, when it is known without hashing (cached, or
  // an empty file); never starts a hash.
  bool known(const struct stat& st, std::string& value);

  bool hashing() const { return hashing_; }  // a large file
  size_t waiting_to_hash() const { return backlog_.size(); }  // large files
  size_t small_waiting_to_hash() const { return small_backlog_.size(); }

 private:
  struct HashRequest {
    DigestKey key;
    nettool::UniqueFd fd;  // a duplicate of the caller's
    off_t size = 0;
  };
  struct Waiter {
    std::weak_ptr<const void> requester;
    Done done;
  };
  enum class Lane { Small, Large };
  void start(HashRequest request, Lane lane);
  void finished(const DigestKey& key, const std::string& value, Lane lane);
  bool abandoned(const DigestKey& key);
  void start_next();

  uv_loop_t* loop_;
  DigestCache& cache_;
  spdlog::logger* log_;
  bool cannot_hash_ = false;  // the first Sha256 failed to load its library
  std::map<DigestKey, std::vector<Waiter>> waiting_;  // files being hashed, or waiting to be, for this loop
  bool hashing_ = false;  // a large file
  std::deque<HashRequest> backlog_;  // large files whose turn has not come
  int small_hashing_ = 0;
  std::deque<HashRequest> small_backlog_;  // at most one per connection: no bound of its own
  std::shared_ptr<Digester*> alive_;  // lets a finishing job see the digester is gone
};

}  // namespace file_serve
