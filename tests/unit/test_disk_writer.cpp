// file-get's DiskWriter on a real loop and thread pool, against a temporary
// directory: what lands in the file, what the digest covers, and what is
// left behind when a download fails. Its two chains of jobs and the hash
// feed run for real here, so every test checks the bytes and the digest
// the writer reports against ones computed apart.
#include <catch2/catch.hpp>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "disk_writer.h"
#include "nettool/digest.h"
#include "nettool/fd.h"
#include "nettool/uv.h"
#include "temp_dir.h"

namespace fs = std::filesystem;
using nettool::file_get::Digest;
using nettool::file_get::DiskWriter;

namespace {

// A loop whose run_until() stops when `done` is true, or after 8 s.
class Loop {
 public:
  Loop() { REQUIRE(uv_loop_init(&loop_) == 0); }
  ~Loop() {
    uv_run(&loop_, UV_RUN_DEFAULT);  // the jobs and close callbacks of a writer destroyed first
    CHECK(uv_loop_close(&loop_) == 0);
  }
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;
  uv_loop_t* get() { return &loop_; }
  // Runs the loop between writes, so that hash jobs finish and new ones
  // start while chunks keep coming (the feed's case), as a download does.
  void turn() { uv_run(&loop_, UV_RUN_NOWAIT); }
  void run_until(const bool& done) {
    auto guard = nettool::make_timer(&loop_, nullptr);
    uv_timer_start(guard.get(), [](uv_timer_t*) {}, 8000, 0);
    while (!done && uv_is_active(guard.as_handle())) uv_run(&loop_, UV_RUN_ONCE);
  }

 private:
  uv_loop_t loop_;
};

// Bytes that differ from chunk to chunk and within one, so a chunk written
// twice, dropped or out of order changes the file and the digest.
std::string pattern(size_t size, int seed) {
  std::string s(size, '\0');
  for (size_t i = 0; i < size; ++i) s[i] = static_cast<char>((i * 131 + i / 4093 + static_cast<size_t>(seed) * 7) % 251);
  return s;
}

Digest sha256_of(const std::string& bytes) {
  nettool::Sha256 sha;
  sha.update(bytes);
  return sha.finish();
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Compared here rather than by CHECK(a == b), which would print megabytes of both.
bool holds(const fs::path& path, const std::string& expected) {
  std::string got = read_file(path);
  UNSCOPED_INFO(path << ": " << got.size() << " bytes, " << expected.size() << " expected");
  return got == expected;
}

struct Finished {
  bool done = false;
  DiskWriter::Outcome outcome;
  std::string error;  // from on_error
};

// Writes `pieces` one chunk each, turning the loop every `turn_every` chunks.
void write_all(Loop& loop, DiskWriter& writer, const std::vector<std::string>& pieces, int turn_every) {
  int n = 0;
  for (const auto& piece : pieces) {
    writer.write(nettool::make_chunk(piece));
    if (turn_every > 0 && ++n % turn_every == 0) loop.turn();
  }
}

void finish(Loop& loop, DiskWriter& writer, std::optional<uint64_t> size, std::optional<Digest> digest,
            const fs::path& final_path, Finished& f) {
  writer.on_error([&f](const std::string& e) {
    f.error = e;
    f.done = true;
  });
  writer.finish(size, digest, final_path.string(), [&f](const DiskWriter::Outcome& o) {
    f.outcome = o;
    f.done = true;
  });
  loop.run_until(f.done);
  REQUIRE(f.done);
}

std::vector<std::string> pieces(int count, size_t size, int seed) {
  std::vector<std::string> out;
  for (int i = 0; i < count; ++i) out.push_back(pattern(size + static_cast<size_t>(i % 7) * 1000, seed + i));
  return out;
}

std::string joined(const std::vector<std::string>& parts) {
  std::string all;
  for (const auto& p : parts) all += p;
  return all;
}

}  // namespace

TEST_CASE("DiskWriter: chunks land in order, the digest is checked, and the file is renamed into place",
          "[file-get][disk-writer]") {
  TempDir dir;
  // Written all at once, and with the loop turning as they come: in the
  // last two, the running hash job takes most chunks from its feed.
  for (int turn_every : {0, 1, 5}) {
    INFO("loop turned every " << turn_every << " chunks");
    Loop loop;
    DiskWriter writer(loop.get(), true);
    const auto part = dir / ("out.part" + std::to_string(turn_every));
    const auto final_path = dir / ("out" + std::to_string(turn_every));
    writer.open(part.string(), true);
    const auto data = pieces(300, 40000, turn_every);  // about 12 MiB in chunks of 40-46 KB
    const std::string all = joined(data);
    write_all(loop, writer, data, turn_every);
    Finished f;
    finish(loop, writer, all.size(), sha256_of(all), final_path, f);
    CHECK(f.error.empty());
    CHECK(f.outcome.error.empty());
    CHECK_FALSE(f.outcome.digest_mismatch);
    CHECK(f.outcome.size == all.size());
    CHECK(holds(final_path, all));
    CHECK_FALSE(fs::exists(part));
  }
}

TEST_CASE("DiskWriter: a digest that does not match fails the download, says what was written, and removes the file",
          "[file-get][disk-writer]") {
  TempDir dir;
  Loop loop;
  DiskWriter writer(loop.get(), false);
  const auto part = dir / "bad.part";
  writer.open(part.string(), true);
  const auto data = pieces(40, 30000, 3);
  const std::string all = joined(data);
  write_all(loop, writer, data, 2);
  Digest wrong = sha256_of(all);
  wrong[0] ^= 1;
  Finished f;
  finish(loop, writer, all.size(), wrong, dir / "bad", f);
  CHECK(f.outcome.digest_mismatch);
  CHECK_FALSE(f.outcome.error.empty());
  const Digest right = sha256_of(all);
  CHECK(f.outcome.actual_hex == nettool::to_hex(right.data(), right.size()));
  CHECK_FALSE(fs::exists(part));
  CHECK_FALSE(fs::exists(dir / "bad"));
}

TEST_CASE("DiskWriter: after restart() the file and the digest hold only what came after it", "[file-get][disk-writer]") {
  // restart() is a barrier: the hash job running before it must not take
  // chunks written after it from its feed, or they would be hashed into the
  // digest that restart() then resets, and missing from the new one.
  TempDir dir;
  for (int turn_every : {0, 1, 3}) {
    INFO("loop turned every " << turn_every << " chunks");
    Loop loop;
    DiskWriter writer(loop.get(), false);
    const auto part = dir / ("r.part" + std::to_string(turn_every));
    writer.open(part.string(), true);
    // Made first: the running hash job stops after 2 ms without chunks.
    const auto before = pieces(60, 20000, 10), after = pieces(80, 25000, 20);
    write_all(loop, writer, before, turn_every);  // the response the server then disowned
    writer.restart();
    write_all(loop, writer, after, turn_every);
    const std::string all = joined(after);
    Finished f;
    finish(loop, writer, all.size(), sha256_of(all), dir / ("r" + std::to_string(turn_every)), f);
    CHECK(f.outcome.error.empty());
    CHECK_FALSE(f.outcome.digest_mismatch);
    CHECK(holds(dir / ("r" + std::to_string(turn_every)), all));
  }
}

TEST_CASE("DiskWriter: a resumed file's prefix is hashed from the disk, and the rest is written after it",
          "[file-get][disk-writer]") {
  TempDir dir;
  Loop loop;
  const auto part = dir / "resume.part";
  const std::string prefix = pattern(300000, 5);
  {
    std::ofstream out(part, std::ios::binary);
    out << prefix;
  }
  DiskWriter writer(loop.get(), true);
  bool opened = false;
  uint64_t size_at_open = 0;
  writer.open(part.string(), false, [&](uint64_t size, const std::string&) {
    opened = true;
    size_at_open = size;
  });
  loop.run_until(opened);
  REQUIRE(opened);
  CHECK(size_at_open == prefix.size());
  const auto rest = pieces(50, 30000, 30);
  writer.hash_prefix(prefix.size());
  write_all(loop, writer, rest, 1);
  const std::string all = prefix + joined(rest);
  Finished f;
  finish(loop, writer, all.size(), sha256_of(all), dir / "resume", f);
  CHECK(f.outcome.error.empty());
  CHECK_FALSE(f.outcome.digest_mismatch);
  CHECK(holds(dir / "resume", all));
}

TEST_CASE("DiskWriter: skip_hashing() saves the file without a digest, and refuses to finish with one",
          "[file-get][disk-writer]") {
  TempDir dir;
  {
    Loop loop;
    DiskWriter writer(loop.get(), false);
    writer.open((dir / "a.part").string(), true);
    writer.skip_hashing();
    const auto data = pieces(30, 20000, 40);
    write_all(loop, writer, data, 1);
    Finished f;
    finish(loop, writer, joined(data).size(), std::nullopt, dir / "a", f);
    CHECK(f.outcome.error.empty());
    CHECK(holds(dir / "a", joined(data)));
  }
  {
    Loop loop;
    DiskWriter writer(loop.get(), false);
    writer.open((dir / "b.part").string(), true);
    writer.skip_hashing();
    const auto data = pieces(5, 20000, 50);
    write_all(loop, writer, data, 1);
    Finished f;
    finish(loop, writer, joined(data).size(), sha256_of(joined(data)), dir / "b", f);
    CHECK_THAT(f.outcome.error, Catch::Contains("not hashed"));  // a digest nobody computed is no check
    CHECK_FALSE(fs::exists(dir / "b"));
  }
}

TEST_CASE("DiskWriter: a size that does not match fails the download", "[file-get][disk-writer]") {
  TempDir dir;
  Loop loop;
  DiskWriter writer(loop.get(), false);
  writer.open((dir / "s.part").string(), true);
  const auto data = pieces(10, 10000, 60);
  write_all(loop, writer, data, 0);
  const std::string all = joined(data);
  Finished f;
  finish(loop, writer, all.size() + 1, sha256_of(all), dir / "s", f);
  CHECK_THAT(f.outcome.error, Catch::Contains("length mismatch"));
  CHECK_FALSE(fs::exists(dir / "s"));
}

TEST_CASE("DiskWriter: bytes spliced from a socket between chunks keep their place in the file and the digest",
          "[file-get][disk-writer]") {
  // The hash of spliced bytes is read back from the file by a job of its
  // own; chunks written after the splice must wait for it, not go into the
  // running hash job's feed ahead of those bytes.
  TempDir dir;
  Loop loop;
  int pair[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) == 0);
  nettool::UniqueFd ours(pair[0]), theirs(pair[1]);
  // In the socket before the splice starts (64 KB fit its buffer), and then
  // its end: the splice job moves all of it, whatever the machine's load.
  const std::string spliced = pattern(64000, 70);
  REQUIRE(::write(theirs.get(), spliced.data(), spliced.size()) == static_cast<ssize_t>(spliced.size()));
  theirs.reset();

  DiskWriter writer(loop.get(), false);
  writer.open((dir / "sp.part").string(), true);
  REQUIRE(writer.can_splice());
  const auto before = pieces(40, 20000, 80), after = pieces(40, 20000, 90);
  write_all(loop, writer, before, 1);
  bool spliced_done = false;
  DiskWriter::Spliced result;
  writer.splice_from(ours.get(), nullptr, spliced.size(), [&](const DiskWriter::Spliced& r) {
    result = r;
    spliced_done = true;
  });
  write_all(loop, writer, after, 1);
  loop.run_until(spliced_done);
  REQUIRE(spliced_done);
  REQUIRE(result.bytes == spliced.size());
  const std::string all = joined(before) + spliced + joined(after);
  Finished f;
  finish(loop, writer, all.size(), sha256_of(all), dir / "sp", f);
  CHECK(f.outcome.error.empty());
  CHECK_FALSE(f.outcome.digest_mismatch);
  CHECK(holds(dir / "sp", all));
}
