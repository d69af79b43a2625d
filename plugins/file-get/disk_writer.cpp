// DiskWriter (see disk_writer.h): the two job chains and the worker side of
// every job. Past 500 lines because the chains' ordering rules (barriers,
// splice then hash, the hash feed that closes when either is queued) only
// read well next to the jobs they order: the job kinds come first, then what
// a worker does for each (one `run` per kind), then the loop side that
// queues, orders and completes them.
#include "disk_writer.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string_view>
#include <system_error>
#include <thread>
#include <type_traits>
#include <variant>
#include <vector>

#include "nettool/digest.h"
#include "nettool/error.h"
#include "nettool/fd.h"
#include "nettool/uv.h"

namespace nettool::file_get {

namespace {

// strerror() is not guaranteed thread-safe; error_code::message() is.
std::string os_error(int err) { return std::error_code(err, std::generic_category()).message(); }

constexpr size_t kMiB = 1024 * 1024;
constexpr size_t kBatchChunks = 64;  // well under IOV_MAX
// Emptied chunk lists kept for the next batches (each holds its capacity).
constexpr size_t kSpareBatches = 8;
// Reading the file back to hash it (a resumed prefix, spliced bytes), in
// blocks that stay in the CPU's cache between the copy and the hash (1 MiB
// blocks cost about 10% more CPU).
constexpr size_t kReadBackBlock = 128 * 1024;
// One splice job moves at most this much, and waits at most this long for
// data, so the loop sees progress, a stall or an interrupt in good time.
constexpr uint64_t kSpliceStep = 4 * kMiB;
constexpr auto kSpliceWait = std::chrono::milliseconds(100);
// The pipe between the socket and the file; more per splice call than the
// default 64 KiB. Within the unprivileged limit (/proc/sys/fs/pipe-max-size).
constexpr int kPipeSize = static_cast<int>(kMiB);
// How long a running hash job waits for the next chunk before it ends.
constexpr auto kHashFeedIdle = std::chrono::milliseconds(2);
// The hash job wakes the loop to let go of what it hashed every this much.
constexpr size_t kHashedWakeBytes = 256 * 1024;
// Write-behind step (see write_behind()).
constexpr uint64_t kWriteBehind = 8 * kMiB;

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

template <typename Kind>
Job job_of(Kind work, uint64_t seq = 0) {
  Job job;
  job.seq = seq;
  job.work = std::move(work);
  return job;
}

bool in_hash_chain(const Job& j) { return j.is<HashChunksJob>() || j.is<HashFileJob>(); }

// File jobs that truncate, close or finish the file, or touch the digest:
// they run only while no hash job does (see the header).
bool is_barrier(const Job& j) {
  return !in_hash_chain(j) && !j.is<WriteJob>() && !j.is<SpliceJob>() && !j.is<ReserveJob>();
}

// Jobs that build the file's content or its digest: a failure of one fails
// the writer, and after a failure the rest of them are dropped.
bool builds_file(const Job& j) { return !j.is<FinishJob>() && !j.is<AbandonJob>(); }

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

}  // namespace

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
  // waiting up to kHashFeedIdle for more, and counts them in `hashed`; the
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
  Chain file, hash;
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
  std::vector<std::unique_ptr<WorkReq>> spare_reqs;

  ~State() {
    // Last resort, e.g. the owner went away with a job in flight; the normal
    // paths close in a worker (close may flush on network file systems).
    if (owns_fd && fd >= 0) ::close(fd);
    if (pipe_r >= 0) ::close(pipe_r);
    if (pipe_w >= 0) ::close(pipe_w);
  }
};

namespace {

using State = DiskWriter::State;

// ---- worker side: plain blocking system calls, never the loop ----

// Gives back the blocks reserved past the end of what was written (a failed
// or interrupted download keeps its .part at its true size and no more).
void release_reservation(State& st) {
  if (!st.reserved || st.fd < 0) return;
  st.reserved = false;
  struct stat sb {};
  // Best effort: if it fails, the .part only keeps blocks it does not use.
  if (::fstat(st.fd, &sb) == 0 && ::ftruncate(st.fd, sb.st_size) != 0) return;
}

void close_file(State& st, std::string& error) {
  if (st.owns_fd && st.fd >= 0) {
    if (::close(st.fd) != 0 && error.empty()) error = "closing " + st.path + ": " + os_error(errno);
  }
  st.fd = -1;
  st.owns_fd = false;
  st.closed = true;
  for (int* p : {&st.pipe_r, &st.pipe_w}) {
    if (*p >= 0) ::close(*p);
    *p = -1;
  }
}

// Opens `path` for writing, refusing what is not a regular file of ours: a
// symlink is never followed (O_NOFOLLOW), and a FIFO, device, a file with
// other hard links or one another user owns is never written into or
// truncated, so a planted FILE.part cannot redirect the download onto another
// file, nor hand the verified file to whoever planted it. A .part we own
// keeps no more permission than a new one gets (0644 less the umask), so
// nobody else can change it between the digest check and the rename.
int open_own_file(const std::string& path, int access, std::string& error) {
  constexpr mode_t kNewFileMode = 0644;
  // A file we create now is ours whatever owner the file system shows
  // (sshfs, NFS root_squash, CIFS): only one that was there is checked.
  int fd = ::open(path.c_str(), access | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, kNewFileMode);
  if (fd >= 0) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
  }
  if (errno == EEXIST) fd = ::open(path.c_str(), access | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    error = errno == ELOOP ? path + " is a symbolic link; refusing to follow it (remove it, or choose another name)"
                           : "cannot open " + path + ": " + os_error(errno);
    return -1;
  }
  UniqueFd guard(fd);
  struct stat sb {};
  const char* refusal = nullptr;
  if (::fstat(fd, &sb) != 0) refusal = "cannot be examined";
  else if (!S_ISREG(sb.st_mode)) refusal = "is not a regular file";
  else if (sb.st_nlink > 1) refusal = "has other hard links";
  else if (sb.st_uid != ::geteuid()) refusal = "belongs to another user";
  if (refusal) {
    error = path + " " + refusal + "; refusing to write into it (remove it, or choose another name)";
    return -1;
  }
  if ((sb.st_mode & 07777 & ~kNewFileMode) != 0 && ::fchmod(fd, sb.st_mode & kNewFileMode) != 0) {
    error = "cannot restrict the permissions of " + path + ": " + os_error(errno);
    return -1;
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return guard.release();
}

std::string validator_path(const std::string& part) { return part + ".validator"; }

// The validator saved beside a .part by an earlier attempt: one line, an
// entity tag or an HTTP date. Anything else (too long, control characters:
// it goes into a request header) is ignored.
std::string read_validator(const std::string& part) {
  int fd = ::open(validator_path(part).c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return "";
  UniqueFd guard(fd);
  struct stat sb {};
  if (::fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > 512) return "";
  char buf[513];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n <= 0) return "";
  std::string text(buf, static_cast<size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  for (unsigned char c : text)
    if (c < 0x20 || c == 0x7f) return "";
  return text;
}

void run(State& st, OpenJob& job, std::string& error) {
  // Read and write: spliced bytes are read back to be hashed.
  int fd = open_own_file(job.path, O_RDWR, error);
  if (fd < 0) return;
  if (job.truncate && ::ftruncate(fd, 0) != 0) {
    error = "truncating " + job.path + ": " + os_error(errno);
    ::close(fd);
    return;
  }
  struct stat sb {};
  ::fstat(fd, &sb);
  st.fd = fd;
  st.owns_fd = true;
  st.path = job.path;
  st.offset = 0;
  st.flushed = 0;
  st.sha = Sha256();
  job.size = static_cast<uint64_t>(sb.st_size);
  if (!job.truncate) job.validator = read_validator(job.path);
}

// A FIFO or a character device named by -o: written into in order, as
// stdout is. A FIFO without a reader is retried until one comes (as a shell
// redirection waits), unless the download is abandoned meanwhile.
void run(State& st, OpenStreamJob& job, std::string& error) {
  for (;;) {
    int fd = ::open(job.path.c_str(), O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) {
      struct stat sb {};
      if (::fstat(fd, &sb) != 0 || !(S_ISFIFO(sb.st_mode) || S_ISCHR(sb.st_mode))) {
        error = job.path + " changed: no longer a FIFO or character device";
        ::close(fd);
        return;
      }
      st.fd = fd;
      st.owns_fd = true;
      st.path = job.path;
      st.offset = 0;
      st.sha = Sha256();
      return;
    }
    if (errno != ENXIO || st.cancelled.load()) {
      error = errno == ENXIO ? "no reader opened " + job.path : "cannot open " + job.path + ": " + os_error(errno);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void run(State& st, SaveValidatorJob& job, std::string&) {
  if (st.streaming || st.fd < 0) return;
  std::string path = validator_path(st.path);
  if (job.validator.empty()) {
    ::unlink(path.c_str());
    return;
  }
  // Best effort: without it a later --resume only loses the If-Range check.
  std::string ignored;
  int fd = open_own_file(path, O_WRONLY, ignored);
  if (fd < 0) return;
  UniqueFd guard(fd);
  std::string line = job.validator + "\n";
  if (::ftruncate(fd, 0) == 0) (void)!::write(fd, line.data(), line.size());
}

void run(State& st, ReserveJob& job, std::string& error) {
  if (st.streaming || job.size == 0) return;
  if (::fallocate(st.fd, FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(job.size)) == 0) {
    st.reserved = true;
    return;
  }
  // Not on this file system (or not for this size): the writes allocate as they go.
  if (errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL) return;
  error = "cannot reserve " + std::to_string(job.size) + " bytes for " + st.path + ": " + os_error(errno);
}

// Feeds the file's bytes [from, to) into the digest. Only the hash chain's
// job, or a barrier, may call this (they own the digest and read_back).
bool hash_file_range(State& st, uint64_t from, uint64_t to, std::string& error) {
  if (st.read_back.empty()) st.read_back.resize(kReadBackBlock);
  while (from < to) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(st.read_back.size(), to - from));
    ssize_t got = ::pread(st.fd, st.read_back.data(), want, static_cast<off_t>(from));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      error = "reading " + st.path + " back to hash it: " + os_error(errno);
      return false;
    }
    if (got == 0) {
      error = st.path + " shrank while being written (" + std::to_string(from) + " of " + std::to_string(to) +
                  " bytes there)";
      return false;
    }
    st.sha.update(st.read_back.data(), static_cast<size_t>(got));
    from += static_cast<uint64_t>(got);
  }
  return true;
}

void run(State& st, HashPrefixJob& job, std::string& error) {
  if (!hash_file_range(st, 0, job.n, error)) return;
  // Anything beyond what we asked the server to continue from would end up
  // in the middle of the file.
  if (::ftruncate(st.fd, static_cast<off_t>(job.n)) != 0) {
    error = "truncating " + st.path + ": " + os_error(errno);
    return;
  }
  st.offset = job.n;
  st.flushed = job.n;
}

void run(State& st, RestartJob&, std::string& error) {
  if (!st.streaming && ::ftruncate(st.fd, 0) != 0) {
    error = "truncating " + st.path + ": " + os_error(errno);
    return;
  }
  if (!st.streaming) ::unlink(validator_path(st.path).c_str());  // it described the old content
  st.offset = 0;
  st.flushed = 0;
  st.sha = Sha256();
}

// Hands each kWriteBehind of the file to the disk as soon as it is written,
// and waits for the one before it. Otherwise the kernel keeps the whole
// download dirty in memory (its limits are a fraction of RAM) until the final
// fsync, which then waits for the disk to write all of it; this way the disk
// writes while the network delivers, and the fsync finds little left to do.
// An error here is a write error: the kernel reports it once, so the final
// fsync would not see it again.
void write_behind(State& st, std::string& error) {
  if (st.streaming || !st.write_behind || !st.durable) return;
  while (st.offset >= st.flushed + kWriteBehind) {
    auto from = static_cast<off_t>(st.flushed);
    constexpr auto step = static_cast<off_t>(kWriteBehind);
    int rc = ::sync_file_range(st.fd, from, step, SYNC_FILE_RANGE_WRITE);
    if (rc == 0 && from >= step)
      rc = ::sync_file_range(st.fd, from - step, step,
                             SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
    if (rc != 0) {
      if (errno == EINVAL || errno == ENOSYS || errno == ESPIPE || errno == EOPNOTSUPP) {
        st.write_behind = false;  // not here: the final fsync writes everything
        return;
      }
      error = "writing " + st.path + ": " + os_error(errno);
      return;
    }
    st.flushed += kWriteBehind;
  }
}

// stdout may be a non-blocking pipe shared with our parent: wait for room
// (in the worker, so this never stalls the loop).
bool wait_writable(int fd) {
  pollfd p{fd, POLLOUT, 0};
  return ::poll(&p, 1, -1) >= 0 || errno == EINTR;
}

void run(State& st, WriteJob& job, std::string& error) {
  std::vector<iovec>& iov = st.iov;  // reserved for kBatchChunks: no allocation here
  iov.clear();
  for (const auto& c : job.chunks) iov.push_back({c->data.get(), c->size});
  size_t first = 0;
  while (first < iov.size()) {
    int count = static_cast<int>(iov.size() - first);
    ssize_t w = st.streaming ? ::writev(st.fd, &iov[first], count)
                             : ::pwritev(st.fd, &iov[first], count, static_cast<off_t>(st.offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      if ((errno == EAGAIN || errno == EWOULDBLOCK) && wait_writable(st.fd)) continue;
      error = "writing " + (st.path == "stdout" ? std::string("to stdout") : st.path) + ": " + os_error(errno);
      return;
    }
    st.offset += static_cast<uint64_t>(w);
    auto left = static_cast<size_t>(w);
    while (first < iov.size() && left >= iov[first].iov_len) left -= iov[first++].iov_len;
    if (first < iov.size()) {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  write_behind(st, error);
}

// Moves up to `n` bytes from the pipe into the file by reading and writing
// them, for a file system that cannot take a splice. Returns the bytes moved,
// or -1 with errno set.
ssize_t copy_from_pipe(State& st, size_t n) {
  if (st.copy_buffer.empty()) st.copy_buffer.resize(kReadBackBlock);
  ssize_t got = ::read(st.pipe_r, st.copy_buffer.data(), std::min(n, st.copy_buffer.size()));
  if (got <= 0) return got < 0 ? -1 : 0;
  for (ssize_t done = 0; done < got;) {
    ssize_t w = ::pwrite(st.fd, st.copy_buffer.data() + done, static_cast<size_t>(got - done),
                         static_cast<off_t>(st.offset) + done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;  // the pipe now holds less than it should: the writer fails
    done += w;
  }
  return got;
}

// Writes the `n` bytes just spliced into the pipe to the file.
bool drain_pipe(State& st, std::string& error, size_t n) {
  while (n > 0) {
    ssize_t w;
    if (st.splice_out) {
      auto at = static_cast<loff_t>(st.offset);
      w = ::splice(st.pipe_r, nullptr, st.fd, &at, n, SPLICE_F_MOVE);
      if (w < 0 && errno == EINVAL) {
        st.splice_out = false;  // not on this file system (nothing was moved)
        continue;
      }
    } else {
      w = copy_from_pipe(st, n);
    }
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      error = "writing " + st.path + ": " + os_error(w < 0 ? errno : EIO);
      return false;
    }
    st.offset += static_cast<uint64_t>(w);
    n -= static_cast<size_t>(w);
  }
  return true;
}

void run(State& st, SpliceJob& job, std::string& error) {
  if (st.pipe_r < 0) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
      error = "creating a pipe to write " + st.path + ": " + os_error(errno);
      return;
    }
    st.pipe_r = p[0];
    st.pipe_w = p[1];
    (void)::fcntl(st.pipe_w, F_SETPIPE_SZ, kPipeSize);  // the default size works too, in smaller steps
  }
  DiskWriter::Spliced& out = job.spliced;
  job.from = st.offset;
  const uint64_t want = std::min(job.max, kSpliceStep);
  const auto deadline = std::chrono::steady_clock::now() + kSpliceWait;
  // The pipe is empty between calls (every byte spliced in is spliced out
  // before the next read), so EAGAIN below always means "no data yet".
  while (out.bytes < want) {
    ssize_t in = ::splice(job.fd, nullptr, st.pipe_w, nullptr, static_cast<size_t>(want - out.bytes),
                          SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (in == 0) {
      out.eof = true;
      break;
    }
    if (in < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) {
        out.socket_error = uv_translate_sys_error(errno);
        break;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{job.fd, POLLIN, 0};
      (void)::poll(&p, 1, static_cast<int>(left.count()));
      continue;
    }
    if (!drain_pipe(st, error, static_cast<size_t>(in))) return;
    out.bytes += static_cast<uint64_t>(in);
  }
  job.to = st.offset;
  write_behind(st, error);
}

void run(State& st, HashChunksJob& job, std::string&) {
  for (const auto& c : job.chunks) st.sha.update(c->data.get(), c->size);
  // Then what the loop hands over, until the feed closes or stays empty.
  auto& feed = st.feed;
  std::unique_lock lock(feed.mu);
  for (;;) {
    if (feed.hashed == feed.chunks.size()) {
      if (feed.hashed_bytes > 0) uv_async_send(st.hashed_wake.get());
      feed.more.wait_for(lock, kHashFeedIdle, [&] { return feed.hashed < feed.chunks.size() || !feed.open; });
      if (feed.hashed == feed.chunks.size()) break;  // closed, or nothing came
    } else if (feed.hashed_bytes >= kHashedWakeBytes) {
      uv_async_send(st.hashed_wake.get());
    }
    // The next few chunks' bytes, hashed outside the lock: the loop only
    // appends (moving the pointers, not the chunks) and lets go of the
    // hashed prefix, after which these are the first ones.
    constexpr size_t kPerRound = 16;
    std::array<std::string_view, kPerRound> pieces;
    size_t n = std::min(kPerRound, feed.chunks.size() - feed.hashed), bytes = 0;
    for (size_t i = 0; i < n; ++i) {
      const Chunk& c = *feed.chunks[feed.hashed + i];
      pieces[i] = {c.data.get(), c.size};
      bytes += c.size;
    }
    lock.unlock();
    for (size_t i = 0; i < n; ++i) st.sha.update(pieces[i].data(), pieces[i].size());
    lock.lock();
    feed.hashed += n;
    feed.hashed_bytes += bytes;
  }
  feed.open = false;
}

void run(State& st, HashFileJob& job, std::string& error) { hash_file_range(st, job.from, job.to, error); }

void run(State& st, FinishJob& job, std::string& error) {
  auto& out = job.outcome;
  if (st.failed) {
    out.error = "not saved: an earlier write to " + st.path + " failed";
    release_reservation(st);
    close_file(st, error);
    return;
  }
  out.size = st.offset;
  if (job.expected_size && *job.expected_size != st.offset) {
    out.error = "length mismatch: expected " + std::to_string(*job.expected_size) + " bytes, got " +
                std::to_string(st.offset);
    release_reservation(st);
    close_file(st, error);
    return;
  }
  if (!st.streaming && st.durable && ::fsync(st.fd) != 0) {
    out.error = "fsync " + st.path + ": " + os_error(errno);
    close_file(st, error);
    return;
  }
  close_file(st, error);
  if (!error.empty()) {
    out.error = error;
    return;
  }
  if (job.expected_digest) {
    if (!job.hashed) {  // a caller's mistake; never pass an unchecked file as verified
      out.error = "cannot check the sha-256 of " + st.path + ": it was not hashed";
      return;
    }
    Digest actual = st.sha.finish();
    if (*job.expected_digest != actual) {
      out.digest_mismatch = true;
      out.actual_hex = to_hex(actual.data(), actual.size());
      out.error = "sha-256 mismatch";
      // A file with the right length and the wrong content cannot be fixed by resuming.
      if (!st.streaming) {
        ::unlink(st.path.c_str());
        ::unlink(validator_path(st.path).c_str());
      }
      return;
    }
  }
  if (st.streaming) return;
  // The output was checked when the download began; what appeared under its
  // name since (a symlink, a FIFO) is not ours to replace. The .part stays.
  if (struct stat sb {}; ::lstat(job.final_path.c_str(), &sb) == 0 && !S_ISREG(sb.st_mode)) {
    out.error = job.final_path + " is no longer a regular file; not replacing it (the download stays in " + st.path + ")";
    return;
  }
  if (::rename(st.path.c_str(), job.final_path.c_str()) != 0) {
    out.error = "cannot rename " + st.path + " to " + job.final_path + ": " + os_error(errno);
    return;
  }
  ::unlink(validator_path(st.path).c_str());
  if (!st.durable) return;
  // Make the rename itself durable; failing here loses nothing we can report.
  const std::string& to = job.final_path;
  std::string dir = to.find('/') == std::string::npos ? "." : to.substr(0, to.rfind('/') + 1);
  UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.valid()) ::fsync(d.get());
}

void run(State& st, AbandonJob& job, std::string& error) {
  if (st.closed || st.streaming) {
    if (!st.closed) close_file(st, error);  // a FIFO or device of the user's: closed, never removed
    return;
  }
  if (st.fd < 0) return;  // never opened
  release_reservation(st);
  struct stat sb {};
  uint64_t size = ::fstat(st.fd, &sb) == 0 ? static_cast<uint64_t>(sb.st_size) : 0;
  close_file(st, error);
  // An empty .part holds nothing worth resuming.
  if (job.remove || size == 0) {
    ::unlink(st.path.c_str());
    ::unlink(validator_path(st.path).c_str());
    size = 0;
  }
  job.kept = size;
}

void run_job(State& st, Job& job) noexcept {
  try {
    std::visit([&](auto& kind) { run(st, kind, job.error); }, job.work);
  } catch (const std::exception& e) {  // bad_alloc, OpenSSL init: never across the C boundary
    job.fail(e.what());
  }
}

// ---- loop side ----

void pump(const std::shared_ptr<State>& st);

Chain& chain_of(State& st, const Job& job) { return in_hash_chain(job) ? st.hash : st.file; }

// Forgets a queued job, and the bytes it counted.
void forget(State& st, const Job& job) {
  if (job.is<WriteJob>()) st.queued_write -= job.bytes;
  if (in_hash_chain(job)) st.queued_hash -= job.bytes;
}

// Drops the queued jobs (not those in flight) for which `drop` says so.
template <typename Pred>
void drop_pending(State& st, Pred drop) {
  for (Chain* chain : {&st.file, &st.hash}) {
    std::deque<Job> keep;
    for (auto& job : chain->pending) {
      if (drop(job)) forget(st, job);
      else keep.push_back(std::move(job));
    }
    chain->pending = std::move(keep);
  }
}

// An empty chunk list with room for a whole batch.
std::vector<ChunkPtr> take_batch(State& st) {
  if (st.spare_batches.empty()) {
    std::vector<ChunkPtr> v;
    v.reserve(kBatchChunks);
    return v;
  }
  std::vector<ChunkPtr> v = std::move(st.spare_batches.back());
  st.spare_batches.pop_back();
  return v;
}

void recycle_batch(State& st, std::vector<ChunkPtr>& chunks) {
  // Dropping the last reference hands a buffer back to the reader's pool
  // (each chunk sits in one Write and one HashChunks job).
  chunks.clear();
  if (chunks.capacity() >= kBatchChunks && st.spare_batches.size() < kSpareBatches)
    st.spare_batches.push_back(std::move(chunks));
}

// A splice has run: its HashFile job, queued behind it, now knows its range.
void arm_hash_of_splice(State& st, const SpliceJob& splice, bool failed) {
  auto it = std::find_if(st.hash.pending.begin(), st.hash.pending.end(),
                         [&](const Job& j) { return j.seq == splice.hash_seq; });
  if (it == st.hash.pending.end()) return;  // dropped (the writer failed or was abandoned)
  if (failed || splice.to <= splice.from) {
    st.hash.pending.erase(it);
    return;
  }
  auto* hash = it->as<HashFileJob>();
  hash->from = splice.from;
  hash->to = splice.to;
  hash->ready = true;
  it->bytes = static_cast<size_t>(splice.to - splice.from);
  st.queued_hash += it->bytes;
}

// The chunk list of a Write or HashChunks job, else null.
std::vector<ChunkPtr>* chunks_of(Job& job) {
  if (auto* w = job.as<WriteJob>()) return &w->chunks;
  if (auto* h = job.as<HashChunksJob>()) return &h->chunks;
  return nullptr;
}

// Hands a job's result to its owner on the loop thread.
void call_back(Job& job) {
  if (auto* j = job.as<OpenJob>(); j && j->done) j->done(j->size, j->validator);
  else if (auto* j = job.as<SpliceJob>(); j && j->done) j->done(j->spliced);
  else if (auto* j = job.as<FinishJob>(); j && j->done) j->done(j->outcome);
  else if (auto* j = job.as<AbandonJob>(); j && j->done) j->done(j->kept);
}

// Lets go of the chunks the running hash job has hashed, and counts them done.
void collect_hashed(State& st) {
  std::lock_guard lock(st.feed.mu);
  auto& chunks = st.feed.chunks;
  chunks.erase(chunks.begin(), chunks.begin() + static_cast<std::ptrdiff_t>(std::exchange(st.feed.hashed, 0)));
  st.queued_hash -= std::exchange(st.feed.hashed_bytes, 0);
}

// Hands `chunk` to the running HashChunks job, when it still takes more.
bool feed_running_hash(State& st, const ChunkPtr& chunk) {
  if (!st.hash.busy) return false;
  {
    std::lock_guard lock(st.feed.mu);
    if (!st.feed.open) return false;
    st.feed.chunks.push_back(chunk);
  }
  st.feed.more.notify_one();
  return true;
}

// Ends the running HashChunks job's feed: what is queued from now on must
// wait for the bytes it hashed.
void close_hash_feed(State& st) {
  {
    std::lock_guard lock(st.feed.mu);
    if (!st.feed.open) return;
    st.feed.open = false;
  }
  st.feed.more.notify_one();
}

void on_hashed_wake(uv_async_t* handle) {
  auto* st = static_cast<State*>(handle->data);
  if (!st) return;
  collect_hashed(*st);
  if (!st->detached && st->on_progress) {
    auto fn = st->on_progress;  // a copy: the callback may destroy the writer (and `st`)
    fn();
  }
}

void complete(const std::shared_ptr<State>& st, Job& job) {
  forget(*st, job);
  if (job.is<HashChunksJob>()) {
    collect_hashed(*st);
    if (!job.error.empty()) {  // it stopped short: what it did not hash never will be
      std::lock_guard lock(st->feed.mu);
      st->feed.open = false;
      for (const ChunkPtr& c : st->feed.chunks) st->queued_hash -= c->size;
      st->feed.chunks.clear();
    }
  }
  if (auto* splice = job.as<SpliceJob>()) arm_hash_of_splice(*st, *splice, !job.error.empty());
  if (auto* chunks = chunks_of(job)) recycle_batch(*st, *chunks);  // give the memory back before anything else runs
  bool new_failure = false;
  if (!job.error.empty() && builds_file(job)) {
    new_failure = !st->failed;
    st->failed = true;
    // Nothing queued after a failed step could land in the right place.
    drop_pending(*st, [](const Job& j) { return builds_file(j); });
  }
  if (!st->detached && new_failure && st->on_error) {
    auto fn = st->on_error;  // a copy: the callback may replace or destroy ours
    fn(job.error);
  }
  if (!st->detached && (job.error.empty() || !builds_file(job))) call_back(job);
  pump(st);
  if (!st->detached && st->on_progress) {
    auto fn = st->on_progress;
    fn();
  }
}

// Keeps a finished request for the next job (the state reference dropped:
// the state owns the spares).
void recycle_req(std::unique_ptr<WorkReq> r) {
  std::shared_ptr<State> st = std::move(r->state);
  if (st->spare_reqs.size() >= 2 || st->detached) return;
  r->job = Job();  // also lets go of a spliced socket
  r->req = uv_work_t{};
  st->spare_reqs.push_back(std::move(r));
}

void after_work(uv_work_t* req, int status) {
  std::unique_ptr<WorkReq> r(static_cast<WorkReq*>(req->data));
  auto st = r->state;
  chain_of(*st, r->job).busy = false;
  if (status < 0 && r->job.error.empty()) r->job.fail(uv_message("disk job", status));
  complete(st, r->job);
  recycle_req(std::move(r));
}

void work(uv_work_t* req) {
  auto* r = static_cast<WorkReq*>(req->data);
  run_job(*r->state, r->job);
}

// Starts the first job of `chain` on the thread pool.
void start(const std::shared_ptr<State>& st, Chain& chain) {
  std::unique_ptr<WorkReq> r;
  if (!st->spare_reqs.empty()) {
    r = std::move(st->spare_reqs.back());
    st->spare_reqs.pop_back();
  } else {
    r = std::make_unique<WorkReq>();
  }
  r->state = st;
  r->job = std::move(chain.pending.front());
  chain.pending.pop_front();
  r->req.data = r.get();
  chain.busy = true;
  chain.busy_seq = r->job.seq;
  chain.busy_barrier = is_barrier(r->job);
  // The feed takes chunks that come after this job's: only when no other
  // hash job or barrier was queued after it (queuing one closes the feed).
  if (r->job.is<HashChunksJob>() && st->hashing && chain.pending.empty() && st->last_barrier_seq < r->job.seq) {
    std::lock_guard lock(st->feed.mu);
    st->feed.open = true;
  }
  int rc = uv_queue_work(st->loop, &r->req, &work, &after_work);
  if (rc < 0) {
    // Only on invalid arguments; report it like a failed job.
    chain.busy = false;
    close_hash_feed(*st);
    r->job.fail(uv_message("queueing a disk job", rc));
    complete(st, r->job);
    recycle_req(std::move(r));
    return;
  }
  r.release();  // owned by libuv until after_work
}

// A hash job may start (a HashFile waits for its splice).
bool hash_ready(Job& job) {
  auto* file = job.as<HashFileJob>();
  return !file || file->ready;
}

// The oldest hash job, running or waiting; 0 when there is none.
uint64_t oldest_hash(const State& st) {
  if (st.hash.busy) return st.hash.busy_seq;
  return st.hash.pending.empty() ? 0 : st.hash.pending.front().seq;
}

// The oldest barrier of the file chain, running or waiting; 0 when there is none.
uint64_t oldest_barrier(const State& st) {
  if (st.file.busy && st.file.busy_barrier) return st.file.busy_seq;
  for (const Job& j : st.file.pending)
    if (is_barrier(j)) return j.seq;
  return 0;
}

void pump(const std::shared_ptr<State>& st) {
  if (!st->file.busy && !st->file.pending.empty()) {
    const Job& next = st->file.pending.front();
    uint64_t hash = oldest_hash(*st);
    if (!is_barrier(next) || hash == 0 || hash > next.seq) start(st, st->file);
  }
  if (!st->hash.busy && !st->hash.pending.empty() && hash_ready(st->hash.pending.front())) {
    uint64_t barrier = oldest_barrier(*st);
    if (barrier == 0 || barrier > st->hash.pending.front().seq) start(st, st->hash);
  }
}

// Queues `job` in its chain (numbered, unless it already is) without starting anything.
void enqueue(State& st, Job job) {
  if (job.seq == 0) job.seq = st.next_seq++;
  if (is_barrier(job) || in_hash_chain(job)) close_hash_feed(st);
  if (is_barrier(job)) st.last_barrier_seq = job.seq;
  chain_of(st, job).pending.push_back(std::move(job));
}

void push(const std::shared_ptr<State>& st, Job job) {
  enqueue(*st, std::move(job));
  pump(st);
}

// Adds `chunk` to the last queued job of kind `Batch` (WriteJob or
// HashChunksJob) when it has room and nothing that must come between them
// was queued since; else queues a new one.
template <typename Batch>
void add_chunk(const std::shared_ptr<State>& st, const ChunkPtr& chunk) {
  constexpr bool kWrite = std::is_same_v<Batch, WriteJob>;
  Chain& chain = kWrite ? st->file : st->hash;
  (kWrite ? st->queued_write : st->queued_hash) += chunk->size;
  if (!kWrite && feed_running_hash(*st, chunk)) return;
  if (!chain.pending.empty()) {
    Job& last = chain.pending.back();
    if (auto* batch = last.as<Batch>(); batch && last.seq > st->last_barrier_seq &&
                                        batch->chunks.size() < kBatchChunks && last.bytes + chunk->size <= DiskWriter::kBatchBytes) {
      batch->chunks.push_back(chunk);
      last.bytes += chunk->size;
      return;
    }
  }
  Batch batch;
  batch.chunks = take_batch(*st);
  batch.chunks.push_back(chunk);
  Job job = job_of(std::move(batch));
  job.bytes = chunk->size;
  push(st, std::move(job));
}

}  // namespace

DiskWriter::DiskWriter(uv_loop_t* loop, bool durable) : state_(std::make_shared<State>()) {
  state_->loop = loop;
  state_->durable = durable;
  state_->iov.reserve(kBatchChunks);
  if (int rc = uv_async_init(loop, state_->hashed_wake.get(), &on_hashed_wake); rc < 0)
    throw RuntimeError(uv_message("creating the hash thread's wake-up", rc));
  state_->hashed_wake.mark_initialized(state_.get());
  uv_unref(state_->hashed_wake.as_handle());
}

DiskWriter::~DiskWriter() {
  // Jobs in flight cannot be recalled; they finish without calling back, and
  // the state (with the fd) goes with the last of them.
  state_->detached = true;
  state_->cancelled = true;
  state_->on_error = nullptr;
  state_->on_progress = nullptr;
  close_hash_feed(*state_);
  drop_pending(*state_, [](const Job&) { return true; });
}

void DiskWriter::on_error(std::function<void(const std::string&)> fn) { state_->on_error = std::move(fn); }
void DiskWriter::on_progress(std::function<void()> fn) { state_->on_progress = std::move(fn); }

void DiskWriter::open(const std::string& path, bool truncate,
                      std::function<void(uint64_t size, const std::string& validator)> opened) {
  state_->opened = true;
  OpenJob job;
  job.path = path;
  job.truncate = truncate;
  job.done = std::move(opened);
  push(state_, job_of(std::move(job)));
}

void DiskWriter::stream_into(const std::string& path) {
  // Nothing is in flight yet: the loop thread may set the mode directly.
  state_->opened = true;
  state_->streaming = true;
  state_->path = path;
  push(state_, job_of(OpenStreamJob{path}));
}

void DiskWriter::save_validator(const std::string& validator) {
  if (state_->streaming || state_->failed) return;
  push(state_, job_of(SaveValidatorJob{validator}));
}

void DiskWriter::use_stdout() {
  // Nothing is in flight yet: the loop thread may set the file side directly.
  state_->opened = true;
  state_->streaming = true;
  state_->fd = STDOUT_FILENO;
  state_->owns_fd = false;
  state_->path = "stdout";
}

void DiskWriter::reserve(uint64_t size) {
  if (state_->streaming || state_->failed) return;
  push(state_, job_of(ReserveJob{size}));
}

void DiskWriter::hash_prefix(uint64_t n) {
  push(state_, job_of(HashPrefixJob{n}));
}

void DiskWriter::restart() {
  push(state_, job_of(RestartJob{}));
}

void DiskWriter::write(const ChunkPtr& chunk) {
  if (state_->failed || !chunk || chunk->size == 0) return;
  // The chunk itself is queued, not a copy, to be written and hashed in
  // parallel; its buffer goes back to the reader's pool once both are done.
  // Chunks waiting behind the job in flight are gathered into one batch,
  // written by one pwritev.
  add_chunk<WriteJob>(state_, chunk);
  if (state_->hashing) add_chunk<HashChunksJob>(state_, chunk);
}

void DiskWriter::skip_hashing() {
  state_->hashing = false;
  close_hash_feed(*state_);
}

bool DiskWriter::can_splice() const { return !state_->streaming; }

void DiskWriter::splice_from(int fd, std::shared_ptr<void> keep_alive, uint64_t max,
                             std::function<void(const Spliced&)> done) {
  if (state_->failed) return;
  // The hash of the spliced bytes is queued now, so it keeps its place in
  // the hash chain; it starts once the splice has run and says how much.
  uint64_t splice_seq = state_->next_seq++;
  uint64_t hash_seq = state_->hashing ? state_->next_seq++ : 0;
  SpliceJob splice;
  splice.fd = fd;
  splice.keep_alive = std::move(keep_alive);
  splice.max = max;
  splice.hash_seq = hash_seq;
  splice.done = std::move(done);
  enqueue(*state_, job_of(std::move(splice), splice_seq));
  if (hash_seq != 0) enqueue(*state_, job_of(HashFileJob{}, hash_seq));
  pump(state_);
}

size_t DiskWriter::queued() const { return std::max(state_->queued_write, state_->queued_hash); }
bool DiskWriter::failed() const { return state_->failed; }
bool DiskWriter::is_open() const { return state_->opened; }

void DiskWriter::finish(std::optional<uint64_t> expected_size, std::optional<Digest> expected, std::string final_path,
                        std::function<void(const Outcome&)> done) {
  FinishJob job;
  job.expected_size = expected_size;
  job.expected_digest = expected;
  job.hashed = state_->hashing;
  job.final_path = std::move(final_path);
  job.done = std::move(done);
  push(state_, job_of(std::move(job)));
}

void DiskWriter::abandon(bool remove, bool drop_pending_writes, std::function<void(uint64_t)> done) {
  // The digest of an abandoned file does not matter (a later --resume hashes
  // the .part again), and no more is read from the socket.
  state_->cancelled = true;
  drop_pending(*state_, [&](const Job& j) {
    return in_hash_chain(j) || j.is<SpliceJob>() || (drop_pending_writes && j.is<WriteJob>());
  });
  AbandonJob job;
  job.remove = remove;
  job.done = std::move(done);
  push(state_, job_of(std::move(job)));
}

}  // namespace nettool::file_get
