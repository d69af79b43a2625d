// An ordered writer for one output file that never blocks the loop. Every
// file operation and all of the hashing run on libuv's thread pool
// (uv_queue_work) in two chains of jobs, each strictly one job after the
// other:
//   - the file chain: open, reserve the space, write (chunks, or straight
//     from a socket with splice), hash a resumed prefix, truncate, fsync +
//     rename, close. The file always holds a prefix of the download.
//   - the hash chain: the SHA-256 of the same bytes in the same order, from
//     the chunks' memory or, for spliced bytes, read back from the file.
// The two chains run in parallel, so the hash costs no extra time while it
// keeps up; the running hash job takes the chunks written meanwhile as they
// come, without a round trip through the loop per batch. A job that
// truncates, closes or finishes the file, or touches the digest from the
// file chain (a "barrier"), waits for every hash job queued before it, and no
// later hash job starts until it is done.
// The owner watches queued() to apply backpressure to the socket; memory is
// bounded by what it lets queue up.
#pragma once
#include <uv.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "nettool/stream.h"

namespace nettool::file_get {

using Digest = std::array<uint8_t, 32>;

class DiskWriter {
 public:
  // A job writes at most this much of the queued chunks, so the queue drains
  // in steps and the owner can read again while the rest is still being
  // written (see file_get.cpp's marks). A hash job starts with at most this
  // much, then takes chunks as they come and reports every 256 KiB hashed.
  static constexpr size_t kBatchBytes = 512 * 1024;

  struct Outcome {
    std::string error;       // empty: saved (and verified, if a digest was expected)
    bool digest_mismatch = false;
    std::string actual_hex;  // on a digest mismatch: the SHA-256 of what was written
    uint64_t size = 0;       // bytes in the file
  };
  // What one splice_from() moved.
  struct Spliced {
    uint64_t bytes = 0;    // now in the file
    bool eof = false;      // the peer closed the connection
    int socket_error = 0;  // reading the socket failed: a libuv error code (< 0)
  };

  // `durable`: write back during the transfer and fsync the file and its
  // directory before finish() reports success (--fsync, the default); without
  // it the kernel writes the pages back when it likes, as curl and wget leave them.
  DiskWriter(uv_loop_t* loop, bool durable);
  ~DiskWriter();  // forgets the callbacks; jobs in flight finish and the fd is closed
  DiskWriter(const DiskWriter&) = delete;
  DiskWriter& operator=(const DiskWriter&) = delete;

  // First failure of a background job (the message names the file and the OS
  // reason). Jobs queued behind it are dropped without calling back.
  void on_error(std::function<void(const std::string&)> fn);
  // After every completed job, and as the running hash job gets on:
  // queued() may have fallen (resume reading).
  void on_progress(std::function<void()> fn);

  // Opens (creates, mode 0644) `path`; truncates unless `truncate` is false.
  // Refuses a symlink (never followed), anything but a regular file, and a
  // file with other hard links. `opened` gets the file's size after opening
  // and, when not truncating, the validator save_validator() left beside it.
  void open(const std::string& path, bool truncate,
            std::function<void(uint64_t size, const std::string& validator)> opened = nullptr);
  // Writes to our stdout instead of a file (no fsync, no rename, no splice).
  void use_stdout();
  // Writes into the FIFO or character device `path` instead (as use_stdout):
  // what -o names when it is not a regular file. Never removed or renamed.
  void stream_into(const std::string& path);
  // Keeps the response's validator (a strong ETag, or Last-Modified) in
  // PATH.validator beside the file for a later --resume's If-Range; "" removes
  // one left by an earlier attempt. Finishing or removing the file removes it.
  void save_validator(const std::string& validator);
  // Reserves disk space for a file of `size` bytes (fallocate, the file's
  // size unchanged): a full disk fails here, at the start, and the blocks
  // come in one piece. A no-op where the file system cannot; whatever is
  // left unused is given back when the download fails.
  void reserve(uint64_t size);
  // Feeds the first `n` bytes already in the file into the digest and
  // positions writes after them (a resumed download). Fails if the file is shorter.
  void hash_prefix(uint64_t n);
  // Truncates the file to zero and resets the digest (the server ignored our Range).
  void restart();
  // No digest will be checked (the response offers none): from here on
  // nothing is hashed, so a download does not pay for a SHA-256 that nobody
  // reads (about half a CPU second per GiB). For good: finish() must then be
  // given no expected digest, and fails the download if it is.
  void skip_hashing();
  void write(const ChunkPtr& chunk);
  // True when splice_from() works: the output is a file, not stdout.
  bool can_splice() const;
  // Moves bytes from the socket `fd` into the file with splice(2) (socket ->
  // pipe -> file, no copy through our memory), at most `max`. The job returns
  // after a few MiB, at EOF, on an error, or after about 100 ms without data,
  // so the owner sees progress and can stop; `done` gets what it moved and is
  // not called when the writer fails or is abandoned first. `keep_alive`
  // keeps the socket open while the job uses it.
  void splice_from(int fd, std::shared_ptr<void> keep_alive, uint64_t max, std::function<void(const Spliced&)> done);
  size_t queued() const;  // bytes not yet both on disk and hashed (hashed: unless skip_hashing())
  bool failed() const;
  bool is_open() const;   // open() or use_stdout() was called

  // After every queued write: checks the size, fsyncs, closes, checks the
  // digest, then renames the file to `final_path` (for a file). On a digest
  // mismatch the file is removed (it is corrupt, resuming it cannot help).
  void finish(std::optional<uint64_t> expected_size, std::optional<Digest> expected, std::string final_path,
              std::function<void(const Outcome&)> done);
  // Gives up: closes the file after the queued writes (or at once with
  // `drop_pending`) and removes it when `remove` or when it is empty. `done`
  // gets the size of the file left behind (0 when none is left).
  void abandon(bool remove, bool drop_pending, std::function<void(uint64_t kept)> done = nullptr);

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace nettool::file_get
