// The worker side of DiskWriter (see disk_jobs.h): what a thread-pool
// thread does for each job kind, one `run` per kind, with plain blocking
// system calls. Nothing here touches the loop but the hash feed's
// uv_async_send, which libuv allows from any thread. Past 500 lines by a
// little: twelve short `run`s and the file helpers they share (the safe
// open, write-behind, reading back to hash) read best in one place.
#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <exception>
#include <string_view>
#include <system_error>
#include <thread>

#include "disk_jobs.h"
#include "nettool/fd.h"

namespace nettool::file_get::disk {

namespace {

// strerror() is not guaranteed thread-safe; error_code::message() is.
std::string os_error(int err) { return std::error_code(err, std::generic_category()).message(); }

constexpr size_t kMiB = 1024 * 1024;
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

// Opens the .part and locks it. Two file-gets writing one output would
// write into one .part, and the one renamed first would find the other's
// bytes in its saved file: the second is refused, and the lock is kept until
// the rename (or the end). The lock is taken on what was opened, which the
// other download may have renamed to its final name and let go of since:
// then the name is opened again (a new .part). Where the file system has no
// flock (ENOLCK), it goes without. -1 with `error` set on failure.
int open_locked_part(State& st, const std::string& path, std::string& error) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    int fd = open_own_file(path, O_RDWR, error);  // read too: spliced bytes are read back to be hashed
    if (fd < 0) return -1;
    UniqueFd guard(fd);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
      error = path + " is being written by another download (another file-get of the same output?)";
      return -1;
    }
    struct stat opened {}, named {};
    if (::fstat(fd, &opened) == 0 && ::lstat(path.c_str(), &named) == 0 && opened.st_dev == named.st_dev &&
        opened.st_ino == named.st_ino) {
      st.part_lock = UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
      return guard.release();
    }
  }
  error = path + " keeps changing under us (another download of the same output?)";
  return -1;
}

void run(State& st, OpenJob& job, std::string& error) {
  int fd = open_locked_part(st, job.path, error);
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
// Waits until the stream takes more, in steps, so that an abandoned
// download (SIGTERM, a failure elsewhere) is not held for ever by a reader
// that stopped reading. False with errno set when it cannot go on.
bool wait_writable(const State& st) {
  while (!st.cancelled.load()) {
    pollfd p{st.fd, POLLOUT, 0};
    int n = ::poll(&p, 1, 100);
    if (n > 0) return true;  // room, or an error the next write reports
    if (n < 0 && errno != EINTR) return false;
  }
  errno = ECANCELED;
  return false;
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
      if ((errno == EAGAIN || errno == EWOULDBLOCK) && wait_writable(st)) continue;
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

// Lets go of the .part's lock when the job that holds the last say over the
// file (Finish, Abandon) returns, however it returns.
struct PartLockRelease {
  State& st;
  ~PartLockRelease() { st.part_lock.reset(); }
};

void run(State& st, FinishJob& job, std::string& error) {
  PartLockRelease release{st};
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
  PartLockRelease release{st};
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

}  // namespace

void run_work(uv_work_t* req) noexcept {
  auto* r = static_cast<WorkReq*>(req->data);
  State& st = *r->state;
  Job& job = r->job;
  try {
    std::visit([&](auto& kind) { run(st, kind, job.error); }, job.work);
  } catch (const std::exception& e) {  // bad_alloc, OpenSSL init: never across the C boundary
    job.fail(e.what());
  }
}

}  // namespace nettool::file_get::disk
