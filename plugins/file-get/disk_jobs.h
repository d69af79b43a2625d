// What DiskWriter's two sides share: the job kinds, one struct per kind,
// and the writer's State. The worker side (disk_jobs.cpp) runs a job on a
// thread-pool thread with plain blocking system calls; the loop side
// (disk_writer.cpp) queues the jobs in their two chains, orders them and
// completes them on the loop thread. Private to file-get.
#pragma once

#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "disk_writer.h"
#include "nettool/digest.h"
#include "nettool/fd.h"
#include "nettool/uv.h"

namespace nettool::file_get {

namespace disk {

// A write or hash job takes at most this many chunks (a write: one pwritev).
inline constexpr size_t kBatchChunks = 64;  // well under IOV_MAX

// The jobs, one struct per kind: its inputs, what it gives back, and the
// callback that gets it on the loop thread.

// The file chain.
struct OpenJob {
  std::string path;
  bool truncate = true;
  uint64_t size = 0;      // after opening
  std::string validator;  // the one saved beside the file (when not truncating)
  std::function<void(uint64_t size, const std::string& validator)> done;
};
struct OpenStreamJob {
  std::string path;
};
struct SaveValidatorJob {
  std::string validator;
};
struct ReserveJob {
  uint64_t size = 0;
};
struct HashPrefixJob {
  uint64_t n = 0;
};
struct RestartJob {};
struct WriteJob {
  std::vector<ChunkPtr> chunks;
};
struct SpliceJob {
  int fd = -1;                       // the socket
  std::shared_ptr<void> keep_alive;  // keeps it open
  uint64_t max = 0;                  // most bytes to move
  uint64_t hash_seq = 0;             // its HashFileJob (0: none, after skip_hashing())
  uint64_t from = 0, to = 0;         // where the bytes went in the file
  DiskWriter::Spliced spliced;
  std::function<void(const DiskWriter::Spliced&)> done;
};
struct FinishJob {
  std::optional<uint64_t> expected_size;
  std::optional<Digest> expected_digest;
  bool hashed = true;  // false: skip_hashing() was called, there is no digest to check
  std::string final_path;
  DiskWriter::Outcome outcome;
  std::function<void(const DiskWriter::Outcome&)> done;
};
struct AbandonJob {
  bool remove = false;
  uint64_t kept = 0;  // bytes left behind
  std::function<void(uint64_t kept)> done;
};
// The hash chain: the bytes of the chunks, or the file's bytes [from, to).
struct HashChunksJob {
  std::vector<ChunkPtr> chunks;
};
struct HashFileJob {
  uint64_t from = 0, to = 0;
  bool ready = false;  // its splice has run and set the range
};

struct Job {
  uint64_t seq = 0;   // the order of the jobs across both chains
  size_t bytes = 0;   // what the job counts in queued()
  std::string error;  // set by the worker: the job failed
  std::variant<WriteJob, HashChunksJob, OpenJob, OpenStreamJob, SaveValidatorJob, ReserveJob, HashPrefixJob,
               RestartJob, SpliceJob, HashFileJob, FinishJob, AbandonJob>
      work;

  template <typename Kind>
  bool is() const {
    return std::holds_alternative<Kind>(work);
  }
  template <typename Kind>
  Kind* as() {
    return std::get_if<Kind>(&work);
  }
  // A failure of a Finish is also its outcome.
  void fail(std::string why) {
    error = std::move(why);
    if (auto* f = as<FinishJob>()) f->outcome.error = error;
  }
};

// One job on its way through the thread pool.
struct WorkReq {
  uv_work_t req{};
  std::shared_ptr<DiskWriter::State> state;
  Job job;
};

// One chain of jobs, run strictly one after the other.
struct Chain {
  std::deque<Job> pending;
  bool busy = false;
  uint64_t busy_seq = 0;  // the job in flight
  bool busy_barrier = false;
};

}  // namespace disk

struct DiskWriter::State {
  uv_loop_t* loop = nullptr;

  // The file. Changed only by the file chain's job in flight, or by the loop
  // thread while no job is (uv_queue_work orders the two). A hash job reads
  // fd and path, which only barriers change.
  int fd = -1;
  bool owns_fd = false;
  bool streaming = false;  // stdout, a FIFO or a device: written in order, never renamed, fsynced or removed
  std::atomic<bool> cancelled{false};  // abandoned or destroyed: a worker waiting for a FIFO's reader gives up
  bool closed = false;  // finished or abandoned
  std::string path;
  uint64_t offset = 0;
  uint64_t flushed = 0;        // write-behind: bytes before this are on their way to the disk
  bool durable = true;         // fsync before the rename (and write behind); set before any job
  bool write_behind = true;    // false where sync_file_range cannot be used
  bool reserved = false;       // blocks were reserved past the end: give back what a failure leaves unused
  int pipe_r = -1, pipe_w = -1;  // splice's pipe, made on first use
  // The .part's flock(2), on a descriptor of its own so that it outlasts
  // the close before the rename: one download per .part (run(OpenJob)).
  UniqueFd part_lock;
  bool splice_out = true;      // false where the file system cannot take a splice from the pipe
  std::vector<char> copy_buffer;  // ... and the pipe is read into this instead
  std::vector<iovec> iov;      // the file chain's, reserved for kBatchChunks

  // The digest: touched by the hash chain's job in flight, or by a barrier
  // (while no hash job runs). Made with the State, on the loop thread, so the
  // first Sha256 of the process (which loads libnettool-digest, and may
  // throw) is never one that a pool thread makes.
  Sha256 sha;
  std::vector<char> read_back;

  // Chunks handed to the HashChunks job while it runs, so the hash (the
  // slowest stage of a verified download) goes on as chunks arrive instead
  // of waiting for a round trip through the loop per batch, which took
  // longer than hashing it (bench/PROFILES.md, table 8, eighteenth session).
  // The loop thread appends to `chunks`; the job hashes them in order,
  // waiting up to kHashFeedIdle (disk_jobs.cpp) for more, and counts them in `hashed`; the
  // loop lets go of that prefix (a chunk returns to the reader's pool, which
  // is the loop's), woken through `hashed_wake`. The job only reads the
  // chunks: it never holds, allocates or drops one. Queuing anything that
  // must come after the hashed bytes (a barrier, another hash job) closes
  // the feed, and the job ends once it has hashed what it was given.
  struct HashFeed {
    std::mutex mu;
    std::condition_variable more;  // `chunks` grew, or the feed closed
    bool open = false;             // the running HashChunks job takes more
    std::vector<ChunkPtr> chunks;  // handed over, in order
    size_t hashed = 0;             // how many of `chunks`, from the front, are hashed
    size_t hashed_bytes = 0;       // their bytes
  } feed;
  Handle<uv_async_t> hashed_wake;  // unref'd: it never keeps the loop alive

  // Loop thread only, except `failed`, which later jobs read: it is set
  // before they are queued.
  disk::Chain file, hash;
  uint64_t next_seq = 1;
  uint64_t last_barrier_seq = 0;
  size_t queued_write = 0;  // chunk bytes not yet written
  size_t queued_hash = 0;   // bytes not yet hashed
  bool hashing = true;      // false after skip_hashing(): no hash jobs are queued
  bool failed = false;
  bool opened = false;
  bool detached = false;
  std::function<void(const std::string&)> on_error;
  std::function<void()> on_progress;

  // Recycled so that a steady download allocates nothing per chunk or per
  // batch: chunk lists (capacity kBatchChunks) and the requests of finished jobs.
  std::vector<std::vector<ChunkPtr>> spare_batches;
  std::vector<std::unique_ptr<disk::WorkReq>> spare_reqs;

  ~State() {
    // Last resort, e.g. the owner went away with a job in flight; the normal
    // paths close in a worker (close may flush on network file systems).
    if (owns_fd && fd >= 0) ::close(fd);
    if (pipe_r >= 0) ::close(pipe_r);
    if (pipe_w >= 0) ::close(pipe_w);
  }
};

namespace disk {

using State = DiskWriter::State;

// The uv_work_cb of every job (its request is a WorkReq): runs the job on
// a pool thread. A failure is recorded in the job (its error, or its
// outcome for a Finish), never thrown.
void run_work(uv_work_t* req) noexcept;

}  // namespace disk

}  // namespace nettool::file_get
