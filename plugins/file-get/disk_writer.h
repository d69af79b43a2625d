// An ordered writer for one output file that never blocks the loop. Every
// file operation (open, hash the prefix of a resumed file, truncate, write,
// fsync + rename, close) is a job run on libuv's thread pool with
// uv_queue_work, strictly one after the other, so the file always holds a
// prefix of the download and the SHA-256 is updated in the worker, right
// where the bytes are written. The owner watches queued() to apply
// backpressure to the socket; memory is bounded by what it lets queue up.
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
  struct Outcome {
    std::string error;       // empty: saved (and verified, if a digest was expected)
    bool digest_mismatch = false;
    std::string actual_hex;  // SHA-256 of what was written
    uint64_t size = 0;       // bytes in the file
  };

  explicit DiskWriter(uv_loop_t* loop);
  ~DiskWriter();  // forgets the callbacks; jobs in flight finish and the fd is closed
  DiskWriter(const DiskWriter&) = delete;
  DiskWriter& operator=(const DiskWriter&) = delete;

  // First failure of a background job (the message names the file and the OS reason).
  void on_error(std::function<void(const std::string&)> fn);
  // After every completed job: queued() may have fallen (resume reading).
  void on_progress(std::function<void()> fn);

  // Opens (creates, mode 0644) `path`; truncates unless `truncate` is false.
  // `opened` gets the file's size after opening.
  void open(const std::string& path, bool truncate, std::function<void(uint64_t size)> opened = nullptr);
  // Writes to our stdout instead of a file (no fsync, no rename).
  void use_stdout();
  // Feeds the first `n` bytes already in the file into the digest and
  // positions writes after them (a resumed download). Fails if the file is shorter.
  void hash_prefix(uint64_t n);
  // Truncates the file to zero and resets the digest (the server ignored our Range).
  void restart();
  void write(const ChunkPtr& chunk);
  size_t queued() const;  // bytes of write() not yet on disk
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
