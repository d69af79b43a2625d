#include "disk_writer.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <system_error>
#include <vector>

#include "nettool/digest.h"
#include "nettool/error.h"

namespace nettool::file_get {

namespace {

// strerror() is not guaranteed thread-safe; error_code::message() is.
std::string os_error(int err) { return std::error_code(err, std::generic_category()).message(); }

// One worker job writes at most this much, so the queue drains in steps and
// the socket can resume while the rest is still being written.
constexpr size_t kBatchBytes = 1024 * 1024;
constexpr size_t kBatchChunks = 64;  // well under IOV_MAX
constexpr size_t kHashBlock = 1024 * 1024;
// Emptied chunk lists kept for the next batches (each holds its capacity).
constexpr size_t kSpareBatches = 4;

// A file descriptor closed on scope exit (for the read-only one the prefix hash uses).
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

struct Job {
  enum Kind { Open, HashPrefix, Restart, Write, Finish, Abandon } kind = Write;
  // Inputs.
  std::vector<ChunkPtr> chunks;
  size_t bytes = 0;
  std::string path;  // Open: the file; Finish: the final name
  bool flag = false;  // Open: truncate; Abandon: remove
  uint64_t n = 0;     // HashPrefix: bytes to hash
  std::optional<uint64_t> expected_size;
  std::optional<Digest> expected_digest;
  // Outputs.
  std::string error;
  uint64_t size = 0;  // Open: size after opening; Abandon: bytes left behind
  DiskWriter::Outcome outcome;
  // Runs on the loop thread when the job is done.
  std::function<void(Job&)> done;
};

bool is_file_job(Job::Kind k) { return k == Job::Open || k == Job::HashPrefix || k == Job::Restart || k == Job::Write; }

// One job on its way through the thread pool.
struct WorkReq {
  uv_work_t req{};
  std::shared_ptr<DiskWriter::State> state;
  Job job;
};

}  // namespace

struct DiskWriter::State {
  uv_loop_t* loop = nullptr;

  // The file. Touched only by the one job in flight, or by the loop thread
  // while no job is (uv_queue_work orders the two).
  int fd = -1;
  bool owns_fd = false;
  bool to_stdout = false;
  bool closed = false;  // finished or abandoned
  std::string path;
  uint64_t offset = 0;
  Sha256 sha;

  // Loop thread only, except `failed`, which later jobs read: it is set
  // before they are queued.
  std::deque<Job> pending;
  size_t queued = 0;
  bool busy = false;
  bool failed = false;
  bool opened = false;
  bool detached = false;
  std::function<void(const std::string&)> on_error;
  std::function<void()> on_progress;

  // Recycled so that a steady download allocates nothing per chunk or per
  // batch: chunk lists (capacity kBatchChunks) for Write jobs, the request
  // of the last job, and the worker's iovec array (worker side, like fd).
  std::vector<std::vector<ChunkPtr>> spare_batches;
  std::unique_ptr<WorkReq> spare_req;
  std::vector<iovec> iov;

  ~State() {
    // Last resort, e.g. the owner went away with a job in flight; the normal
    // paths close in a worker (close may flush on network file systems).
    if (owns_fd && fd >= 0) ::close(fd);
  }
};

namespace {

using State = DiskWriter::State;

// ---- worker side: plain blocking system calls, never the loop ----

void close_file(State& st, Job& job) {
  if (st.owns_fd && st.fd >= 0) {
    if (::close(st.fd) != 0 && job.error.empty()) job.error = "closing " + st.path + ": " + os_error(errno);
  }
  st.fd = -1;
  st.owns_fd = false;
  st.closed = true;
}

void do_open(State& st, Job& job) {
  int flags = O_CREAT | O_WRONLY | O_CLOEXEC | (job.flag ? O_TRUNC : 0);
  int fd = ::open(job.path.c_str(), flags, 0644);
  if (fd < 0) {
    job.error = "cannot open " + job.path + ": " + os_error(errno);
    return;
  }
  struct stat sb {};
  if (::fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    job.error = job.path + " is not a regular file";
    ::close(fd);
    return;
  }
  st.fd = fd;
  st.owns_fd = true;
  st.path = job.path;
  st.offset = 0;
  st.sha = Sha256();
  job.size = static_cast<uint64_t>(sb.st_size);
}

void do_hash_prefix(State& st, Job& job) {
  Fd in(::open(st.path.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.fd < 0) {
    job.error = "cannot read " + st.path + " to resume it: " + os_error(errno);
    return;
  }
  std::vector<char> buffer(kHashBlock);
  uint64_t pos = 0;
  while (pos < job.n) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buffer.size(), job.n - pos));
    ssize_t got = ::pread(in.fd, buffer.data(), want, static_cast<off_t>(pos));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      job.error = "reading " + st.path + " to resume it: " + os_error(errno);
      return;
    }
    if (got == 0) {
      job.error = st.path + " shrank while resuming (" + std::to_string(pos) + " of " + std::to_string(job.n) + " bytes)";
      return;
    }
    st.sha.update(buffer.data(), static_cast<size_t>(got));
    pos += static_cast<uint64_t>(got);
  }
  // Anything beyond what we asked the server to continue from would end up
  // in the middle of the file.
  if (::ftruncate(st.fd, static_cast<off_t>(job.n)) != 0) {
    job.error = "truncating " + st.path + ": " + os_error(errno);
    return;
  }
  st.offset = job.n;
}

void do_restart(State& st, Job& job) {
  if (!st.to_stdout && ::ftruncate(st.fd, 0) != 0) {
    job.error = "truncating " + st.path + ": " + os_error(errno);
    return;
  }
  st.offset = 0;
  st.sha = Sha256();
}

// stdout may be a non-blocking pipe shared with our parent: wait for room
// (in the worker, so this never stalls the loop).
bool wait_writable(int fd) {
  pollfd p{fd, POLLOUT, 0};
  return ::poll(&p, 1, -1) >= 0 || errno == EINTR;
}

void do_write(State& st, Job& job) {
  std::vector<iovec>& iov = st.iov;  // reserved for kBatchChunks: no allocation here
  iov.clear();
  for (const auto& c : job.chunks) iov.push_back({c->data.get(), c->size});
  size_t first = 0;
  while (first < iov.size()) {
    int count = static_cast<int>(iov.size() - first);
    ssize_t w = st.to_stdout ? ::writev(st.fd, &iov[first], count)
                             : ::pwritev(st.fd, &iov[first], count, static_cast<off_t>(st.offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      if ((errno == EAGAIN || errno == EWOULDBLOCK) && wait_writable(st.fd)) continue;
      job.error = "writing " + (st.to_stdout ? std::string("to stdout") : st.path) + ": " + os_error(errno);
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
  for (const auto& c : job.chunks) st.sha.update(c->data.get(), c->size);
}

void do_finish(State& st, Job& job) {
  auto& out = job.outcome;
  if (st.failed) {
    out.error = "not saved: an earlier write to " + st.path + " failed";
    close_file(st, job);
    return;
  }
  if (!st.to_stdout && ::fsync(st.fd) != 0) {
    out.error = "fsync " + st.path + ": " + os_error(errno);
    close_file(st, job);
    return;
  }
  close_file(st, job);
  if (!job.error.empty()) {
    out.error = job.error;
    return;
  }
  Digest actual = st.sha.finish();
  out.actual_hex = to_hex(actual.data(), actual.size());
  out.size = st.offset;
  if (job.expected_size && *job.expected_size != st.offset) {
    out.error = "length mismatch: expected " + std::to_string(*job.expected_size) + " bytes, got " +
                std::to_string(st.offset);
    return;
  }
  if (job.expected_digest && *job.expected_digest != actual) {
    out.digest_mismatch = true;
    out.error = "sha-256 mismatch";
    // A file with the right length and the wrong content cannot be fixed by resuming.
    if (!st.to_stdout) ::unlink(st.path.c_str());
    return;
  }
  if (st.to_stdout) return;
  if (::rename(st.path.c_str(), job.path.c_str()) != 0) {
    out.error = "cannot rename " + st.path + " to " + job.path + ": " + os_error(errno);
    return;
  }
  // Make the rename itself durable; failing here loses nothing we can report.
  std::string dir = job.path.find('/') == std::string::npos ? "." : job.path.substr(0, job.path.rfind('/') + 1);
  Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.fd >= 0) ::fsync(d.fd);
}

void do_abandon(State& st, Job& job) {
  if (st.closed || st.to_stdout) {
    st.closed = true;
    return;
  }
  if (st.fd < 0) return;  // never opened
  struct stat sb {};
  uint64_t size = ::fstat(st.fd, &sb) == 0 ? static_cast<uint64_t>(sb.st_size) : 0;
  close_file(st, job);
  // An empty .part holds nothing worth resuming.
  if (job.flag || size == 0) {
    ::unlink(st.path.c_str());
    size = 0;
  }
  job.size = size;
}

void run_job(State& st, Job& job) noexcept {
  try {
    switch (job.kind) {
      case Job::Open: do_open(st, job); break;
      case Job::HashPrefix: do_hash_prefix(st, job); break;
      case Job::Restart: do_restart(st, job); break;
      case Job::Write: do_write(st, job); break;
      case Job::Finish: do_finish(st, job); break;
      case Job::Abandon: do_abandon(st, job); break;
    }
  } catch (const std::exception& e) {  // bad_alloc, OpenSSL init: never across the C boundary
    job.error = e.what();
    if (job.kind == Job::Finish) job.outcome.error = e.what();
  }
}

// ---- loop side ----

void pump(const std::shared_ptr<State>& st);

void drop_pending_writes(State& st) {
  std::deque<Job> keep;
  for (auto& job : st.pending) {
    if (job.kind == Job::Write) st.queued -= job.bytes;
    else keep.push_back(std::move(job));
  }
  st.pending = std::move(keep);
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
  // Dropping the chunks hands their buffers back to the reader's pool.
  chunks.clear();
  if (chunks.capacity() >= kBatchChunks && st.spare_batches.size() < kSpareBatches)
    st.spare_batches.push_back(std::move(chunks));
}

void complete(const std::shared_ptr<State>& st, Job& job) {
  if (job.kind == Job::Write) st->queued -= job.bytes;
  recycle_batch(*st, job.chunks);  // give the memory back before anything else runs
  bool new_failure = false;
  if (!job.error.empty() && is_file_job(job.kind)) {
    new_failure = !st->failed;
    st->failed = true;
    // Nothing queued after a failed step could land in the right place.
    std::deque<Job> keep;
    for (auto& j : st->pending) {
      if (j.kind == Job::Write) st->queued -= j.bytes;
      if (!is_file_job(j.kind)) keep.push_back(std::move(j));
    }
    st->pending = std::move(keep);
  }
  if (!st->detached && new_failure && st->on_error) {
    auto fn = st->on_error;  // a copy: the callback may replace or destroy ours
    fn(job.error);
  }
  if (!st->detached && job.done) job.done(job);
  pump(st);
  if (!st->detached && st->on_progress) {
    auto fn = st->on_progress;
    fn();
  }
}

// Keeps a finished request for the next job (the state reference dropped:
// the state owns the spare).
void recycle_req(std::unique_ptr<WorkReq> r) {
  std::shared_ptr<State> st = std::move(r->state);
  if (st->spare_req || st->detached) return;
  r->job = Job();
  r->req = uv_work_t{};
  st->spare_req = std::move(r);
}

void after_work(uv_work_t* req, int status) {
  std::unique_ptr<WorkReq> r(static_cast<WorkReq*>(req->data));
  auto st = r->state;
  st->busy = false;
  if (status < 0 && r->job.error.empty()) {
    r->job.error = uv_message("disk job", status);
    if (r->job.kind == Job::Finish) r->job.outcome.error = r->job.error;
  }
  complete(st, r->job);
  recycle_req(std::move(r));
}

void pump(const std::shared_ptr<State>& st) {
  if (st->busy || st->pending.empty()) return;
  std::unique_ptr<WorkReq> r = std::move(st->spare_req);
  if (!r) r = std::make_unique<WorkReq>();
  r->state = st;
  // Writes arrive already gathered into batches (DiskWriter::write).
  r->job = std::move(st->pending.front());
  st->pending.pop_front();
  r->req.data = r.get();
  int rc = uv_queue_work(
      st->loop, &r->req, [](uv_work_t* req) { run_job(*static_cast<WorkReq*>(req->data)->state, static_cast<WorkReq*>(req->data)->job); },
      &after_work);
  if (rc < 0) {
    // Only on invalid arguments; report it like a failed job.
    r->job.error = uv_message("queueing a disk job", rc);
    if (r->job.kind == Job::Finish) r->job.outcome.error = r->job.error;
    complete(st, r->job);
    recycle_req(std::move(r));
    return;
  }
  st->busy = true;
  r.release();  // owned by libuv until after_work
}

void push(const std::shared_ptr<State>& st, Job job) {
  st->pending.push_back(std::move(job));
  pump(st);
}

}  // namespace

DiskWriter::DiskWriter(uv_loop_t* loop) : state_(std::make_shared<State>()) {
  state_->loop = loop;
  state_->iov.reserve(kBatchChunks);
}

DiskWriter::~DiskWriter() {
  // Jobs in flight cannot be recalled; they finish without calling back, and
  // the state (with the fd) goes with the last of them.
  state_->detached = true;
  state_->on_error = nullptr;
  state_->on_progress = nullptr;
  drop_pending_writes(*state_);
  state_->pending.clear();
}

void DiskWriter::on_error(std::function<void(const std::string&)> fn) { state_->on_error = std::move(fn); }
void DiskWriter::on_progress(std::function<void()> fn) { state_->on_progress = std::move(fn); }

void DiskWriter::open(const std::string& path, bool truncate, std::function<void(uint64_t)> opened) {
  state_->opened = true;
  Job job;
  job.kind = Job::Open;
  job.path = path;
  job.flag = truncate;
  if (opened)
    job.done = [fn = std::move(opened)](Job& j) {
      if (j.error.empty()) fn(j.size);
    };
  push(state_, std::move(job));
}

void DiskWriter::use_stdout() {
  // Nothing is in flight yet: the loop thread may set the file side directly.
  state_->opened = true;
  state_->to_stdout = true;
  state_->fd = STDOUT_FILENO;
  state_->owns_fd = false;
  state_->path = "stdout";
}

void DiskWriter::hash_prefix(uint64_t n) {
  Job job;
  job.kind = Job::HashPrefix;
  job.n = n;
  push(state_, std::move(job));
}

void DiskWriter::restart() {
  Job job;
  job.kind = Job::Restart;
  push(state_, std::move(job));
}

void DiskWriter::write(const ChunkPtr& chunk) {
  State& st = *state_;
  if (st.failed || !chunk || chunk->size == 0) return;
  st.queued += chunk->size;
  // The chunk itself is queued, not a copy: its buffer goes back to the
  // reader's pool once written. Chunks waiting behind the job in flight are
  // gathered into one batch, written by one pwritev.
  if (!st.pending.empty()) {
    Job& last = st.pending.back();
    if (last.kind == Job::Write && last.chunks.size() < kBatchChunks && last.bytes < kBatchBytes) {
      last.chunks.push_back(chunk);
      last.bytes += chunk->size;
      return;
    }
  }
  Job job;
  job.kind = Job::Write;
  job.chunks = take_batch(st);
  job.chunks.push_back(chunk);
  job.bytes = chunk->size;
  push(state_, std::move(job));
}

size_t DiskWriter::queued() const { return state_->queued; }
bool DiskWriter::failed() const { return state_->failed; }
bool DiskWriter::is_open() const { return state_->opened; }

void DiskWriter::finish(std::optional<uint64_t> expected_size, std::optional<Digest> expected, std::string final_path,
                        std::function<void(const Outcome&)> done) {
  Job job;
  job.kind = Job::Finish;
  job.expected_size = expected_size;
  job.expected_digest = expected;
  job.path = std::move(final_path);
  job.done = [fn = std::move(done)](Job& j) {
    if (fn) fn(j.outcome);
  };
  push(state_, std::move(job));
}

void DiskWriter::abandon(bool remove, bool drop_pending, std::function<void(uint64_t)> done) {
  if (drop_pending) drop_pending_writes(*state_);
  Job job;
  job.kind = Job::Abandon;
  job.flag = remove;
  job.done = [fn = std::move(done)](Job& j) {
    if (fn) fn(j.size);
  };
  push(state_, std::move(job));
}

}  // namespace nettool::file_get
