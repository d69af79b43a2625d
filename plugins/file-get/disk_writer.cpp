// DiskWriter (see disk_writer.h), its loop side: the two job chains, the
// ordering rules between them (barriers, splice then hash, the hash feed
// that closes when either is queued), and the completion of each job on the
// loop thread. The job kinds and what a worker does for each are in
// disk_jobs.h and disk_jobs.cpp.
#include "disk_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <mutex>
#include <type_traits>
#include <utility>
#include <vector>

#include "disk_jobs.h"
#include "nettool/error.h"
#include "nettool/uv.h"

namespace nettool::file_get {

using namespace disk;  // the job kinds and the State both sides share

namespace {

// Emptied chunk lists kept for the next batches (each holds its capacity).
constexpr size_t kSpareBatches = 8;

template <typename Kind>
Job job_of(Kind work, uint64_t seq = 0) {
  Job job;
  job.seq = seq;
  job.work = std::move(work);
  return job;
}

bool in_hash_chain(const Job& j) { return j.is<HashChunksJob>() || j.is<HashFileJob>(); }

// File jobs that truncate, close or finish the file, or touch the digest:
// they run only while no hash job does (see disk_writer.h).
bool is_barrier(const Job& j) {
  return !in_hash_chain(j) && !j.is<WriteJob>() && !j.is<SpliceJob>() && !j.is<ReserveJob>();
}

// Jobs that build the file's content or its digest: a failure of one fails
// the writer, and after a failure the rest of them are dropped.
bool builds_file(const Job& j) { return !j.is<FinishJob>() && !j.is<AbandonJob>(); }

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
  int rc = uv_queue_work(st->loop, &r->req, &run_work, &after_work);
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
  // A pipe is written through a non-blocking descriptor of our own (a new
  // open of it: the flag stays ours, not the shell's), so that a reader that
  // stops reading cannot hold a writing thread, and with it the run, past a
  // signal (wait_writable). Anything else keeps stdout as it is: a file
  // keeps its offset and O_APPEND.
  struct stat sb {};
  if (::fstat(STDOUT_FILENO, &sb) == 0 && S_ISFIFO(sb.st_mode)) {
    int fd = ::open("/proc/self/fd/1", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) {
      state_->fd = fd;
      state_->owns_fd = true;
    }
  }
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
