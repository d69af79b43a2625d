// file-serve's pure pieces: the digest cache's eviction, the open-file
// cache's checks, the head made on the stack, the conditional request rules (RFC 9110 §13) and the
// hidden-file test on resolved paths.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <fstream>

#include <optional>
#include <string>
#include <vector>

#include "digest_cache.h"
#include "head_text.h"
#include "nettool/digest.h"
#include "connection.h"
#include "open_cache.h"
#include "preconditions.h"
#include "root.h"

using namespace file_serve;
using nettool::http::HeaderField;

namespace {

DigestKey key_for(int inode) { return DigestKey{1, static_cast<ino_t>(inode), 100, 0, 0, 0, 0}; }

// The value cached for `key`, or "<none>".
std::string found(DigestCache& cache, const DigestKey& key) {
  std::string value;
  return cache.find(key, value) ? value : "<none>";
}

}  // namespace

TEST_CASE("digest cache: full, it forgets the least recently used entry and keeps one in use", "[file-serve][digest]") {
  DigestCache cache(3);
  cache.store(key_for(1), "one");
  cache.store(key_for(2), "two");
  cache.store(key_for(3), "three");
  REQUIRE(cache.size() == 3);
  // Using 1 makes 2 the least recently used.
  CHECK(found(cache, key_for(1)) == "one");
  cache.store(key_for(4), "four");
  CHECK(cache.size() == 3);
  CHECK(found(cache, key_for(2)) == "<none>");
  CHECK(found(cache, key_for(1)) == "one");
  CHECK(found(cache, key_for(3)) == "three");
  CHECK(found(cache, key_for(4)) == "four");

  // A burst of new entries pushes out everything not used meanwhile, one at a time.
  for (int i = 10; i < 12; ++i) {
    cache.store(key_for(i), "burst");
    CHECK(found(cache, key_for(4)) == "four");  // in steady use
  }
  CHECK(cache.size() == 3);
  CHECK(found(cache, key_for(1)) == "<none>");
  CHECK(found(cache, key_for(3)) == "<none>");

  // Storing a key again replaces its value and counts as a use.
  cache.store(key_for(10), "again");
  CHECK(cache.size() == 3);
  CHECK(found(cache, key_for(10)) == "again");
}

TEST_CASE("digest cache: never empties all at once when it reaches its capacity", "[file-serve][digest]") {
  DigestCache cache;  // the default capacity
  const DigestKey big = key_for(0);
  cache.store(big, "big file");
  for (int i = 1; i < 3 * static_cast<int>(DigestCache::kDefaultCapacity); ++i) {
    cache.store(key_for(i), "small");
    if (i % 100 == 0) REQUIRE(found(cache, big) == "big file");  // the large file is requested now and then
  }
  CHECK(cache.size() == DigestCache::kDefaultCapacity);
  CHECK(found(cache, big) == "big file");
}

namespace {

// Files for the Digester tests in a directory of their own, removed at the end.
struct DigesterFiles {
  std::string dir;
  std::vector<std::string> paths;
  DigesterFiles() {
    char dir_template[] = "/tmp/nettool-digester-XXXXXX";
    REQUIRE(mkdtemp(dir_template) != nullptr);
    dir = dir_template;
  }
  ~DigesterFiles() {
    for (const auto& p : paths) unlink(p.c_str());
    rmdir(dir.c_str());
  }
  // "file N", then zeros up to `size` bytes (sparse: no disk used).
  nettool::UniqueFd add(off_t size, struct stat& st) {
    paths.push_back(dir + "/f" + std::to_string(paths.size()));
    nettool::UniqueFd fd(open(paths.back().c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    REQUIRE(fd.valid());
    std::string text = "file " + std::to_string(paths.size() - 1);
    REQUIRE(write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    REQUIRE(ftruncate(fd.get(), size) == 0);
    REQUIRE(fstat(fd.get(), &st) == 0);
    return fd;
  }
  std::string digest_of(size_t i) const {
    std::ifstream in(paths[i], std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    nettool::Sha256 sha;
    sha.update(bytes);
    return nettool::repr_digest_value(sha.finish());
  }
};

// Runs the loop until `done` holds, for a bounded number of turns.
template <class Pred>
void run_until(uv_loop_t& loop, Pred done) {
  for (int turns = 0; turns < 10000 && !done(); ++turns) uv_run(&loop, UV_RUN_ONCE);
}

constexpr off_t kLarge = Digester::kSmallFileBytes + 1;

}  // namespace

TEST_CASE("Digester: hashes one large file at a time, the others in turn, and gives every waiter its digest",
          "[file-serve][digest]") {
  DigesterFiles files;
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  DigestCache cache;
  std::vector<std::string> got(3);
  auto requester = std::make_shared<int>(0);
  {
    Digester digester(&loop, cache);
    for (int i = 0; i < 3; ++i) {
      struct stat st {};
      auto fd = files.add(kLarge, st);
      digester.get(fd.get(), st, requester, [&got, i](const std::string& value) { got[static_cast<size_t>(i)] = value; });
      if (i == 2) digester.get(fd.get(), st, requester, [&got](const std::string& value) { got.push_back(value); });  // a second waiter
    }
    // One hash on the thread pool; the other two wait, so opens and
    // listings keep the rest of the pool.
    CHECK(digester.hashing());
    CHECK(digester.waiting_to_hash() == 2);
    run_until(loop, [&] { return !digester.hashing() && digester.waiting_to_hash() == 0; });
    CHECK_FALSE(digester.hashing());
    CHECK(digester.waiting_to_hash() == 0);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
  REQUIRE(got.size() == 4);
  for (size_t i = 0; i < 3; ++i) CHECK(got[i] == files.digest_of(i));
  CHECK(got[3] == got[2]);
}

TEST_CASE("Digester: small files do not wait behind large ones, and two at a time fill no pool", "[file-serve][digest]") {
  DigesterFiles files;
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  DigestCache cache;
  std::optional<std::string> small;
  int large_done = 0;
  std::vector<std::string> more_done;
  auto requester = std::make_shared<int>(0);
  {
    Digester digester(&loop, cache);
    for (int i = 0; i < 3; ++i) {
      struct stat st {};
      auto fd = files.add(kLarge, st);
      digester.get(fd.get(), st, requester, [&large_done](const std::string&) { ++large_done; });
    }
    struct stat st {};
    auto fd = files.add(100, st);
    digester.get(fd.get(), st, requester, [&small](const std::string& value) { small = value; });
    CHECK(digester.waiting_to_hash() == 2);  // the small one is not among them
    CHECK(digester.small_waiting_to_hash() == 0);
    // A burst of small ones: two hash at a time, the rest wait in their own lane.
    for (int i = 0; i < 3; ++i) {
      auto more = files.add(200 + i, st);
      digester.get(more.get(), st, requester, [&more_done](const std::string& value) { more_done.push_back(value); });
    }
    CHECK(digester.small_waiting_to_hash() == 2);
    run_until(loop, [&] { return small.has_value(); });
    run_until(loop, [&] { return large_done == 3 && more_done.size() == 3; });
    CHECK(digester.small_waiting_to_hash() == 0);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
  REQUIRE(small);
  CHECK(*small == files.digest_of(3));
  CHECK(large_done == 3);
  REQUIRE(more_done.size() == 3);
  for (const auto& value : more_done) CHECK_FALSE(value.empty());
}

TEST_CASE("Digester: a file whose requesters left is not hashed, and the queue of large files is bounded",
          "[file-serve][digest]") {
  DigesterFiles files;
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  DigestCache cache;
  int called = 0;
  std::optional<std::string> past_cap;
  {
    Digester digester(&loop, cache);
    auto stays = std::make_shared<int>(0);
    std::vector<std::shared_ptr<int>> leave;
    struct stat st {};
    auto first = files.add(kLarge, st);
    digester.get(first.get(), st, stays, [&called](const std::string&) { ++called; });  // hashing now
    for (size_t i = 0; i < Digester::kMaxBacklog; ++i) {
      auto fd = files.add(kLarge, st);
      leave.push_back(std::make_shared<int>(0));
      digester.get(fd.get(), st, leave.back(), [&called](const std::string&) { ++called; });
    }
    CHECK(digester.waiting_to_hash() == Digester::kMaxBacklog);
    // Full, and every requester still there: no digest, at once.
    auto fd = files.add(kLarge, st);
    digester.get(fd.get(), st, stays, [&past_cap](const std::string& value) { past_cap = value; });
    REQUIRE(past_cap);
    CHECK(past_cap->empty());
    CHECK(digester.waiting_to_hash() == Digester::kMaxBacklog);
    // The clients hang up: their files make room, and are never hashed.
    leave.clear();
    std::optional<std::string> later;
    auto fd2 = files.add(kLarge, st);
    digester.get(fd2.get(), st, stays, [&later](const std::string& value) { later = value; });
    CHECK(digester.waiting_to_hash() == 1);
    run_until(loop, [&] { return later.has_value(); });
    REQUIRE(later);
    CHECK(*later == files.digest_of(files.paths.size() - 1));
    CHECK(called == 1);  // the first file's only
    CHECK(cache.size() == 2);  // the first file and the last: none of the abandoned ones
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("Digester: a file that changed since it was stat'ed gets no digest rather than a wrong one",
          "[file-serve][digest]") {
  char path_template[] = "/tmp/nettool-digester-changed-XXXXXX";
  int raw = mkstemp(path_template);
  REQUIRE(raw >= 0);
  nettool::UniqueFd fd(raw);
  REQUIRE(write(fd.get(), "version one", 11) == 11);
  struct stat before {};
  REQUIRE(fstat(fd.get(), &before) == 0);
  REQUIRE(pwrite(fd.get(), "version two, longer", 19, 0) == 19);  // after the stat the request was answered from
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  DigestCache cache;
  std::optional<std::string> got;
  {
    Digester digester(&loop, cache);
    auto requester = std::make_shared<int>(0);
    digester.get(fd.get(), before, requester, [&got](const std::string& value) { got = value; });
    for (int turns = 0; turns < 1000 && !got; ++turns) uv_run(&loop, UV_RUN_ONCE);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
  unlink(path_template);
  REQUIRE(got);
  CHECK(got->empty());
  CHECK(cache.size() == 0);
}

TEST_CASE("open-file cache: a hit is the same open file until it expires, is unlinked or is too big to keep",
          "[file-serve][open-cache]") {
  char dir_template[] = "/tmp/nettool-open-cache-XXXXXX";
  REQUIRE(mkdtemp(dir_template) != nullptr);
  const std::string dir = dir_template, small = dir + "/small", big = dir + "/big";
  std::ofstream(small) << "small";
  std::ofstream(big) << std::string(OpenFileCache::kMaxFileSize + 1, 'x');
  auto open_file = [](const std::string& path, struct stat& st) {
    auto fd = std::make_shared<const nettool::UniqueFd>(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fd->valid());
    REQUIRE(fstat(fd->get(), &st) == 0);
    return fd;
  };

  OpenFileCache cache(nullptr);
  const auto t0 = OpenFileCache::Clock::now();
  struct stat st {}, got {};
  FileRef fd = open_file(small, st);
  cache.store("/small", fd, st, t0);
  FileBody body;
  CHECK(cache.find("/small", got, t0 + std::chrono::milliseconds(500), &body) == fd);
  CHECK(got.st_size == 5);
  CHECK(body == nullptr);  // just written: its bytes are read per request until its ctime is a second old
  CHECK(cache.body_bytes() == 0);
  CHECK(cache.find("/other", got, t0) == nullptr);
  CHECK(cache.find("/small", got, t0 + OpenFileCache::kLifetime) == nullptr);  // expired, and forgotten
  CHECK(cache.size() == 0);

  // Renamed, moved away or chmod'ed: its ctime moves, and the path is opened again.
  cache.store("/small", fd, st, t0);
  REQUIRE(cache.find("/small", got, t0) == fd);
  for (int i = 0; i < 100; ++i) {  // the file system's clock may need a tick to move the ctime
    REQUIRE(chmod(small.c_str(), 0600) == 0);
    REQUIRE(fstat(fd->get(), &got) == 0);
    if (got.st_ctim.tv_sec != st.st_ctim.tv_sec || got.st_ctim.tv_nsec != st.st_ctim.tv_nsec) break;
    usleep(10000);
  }
  REQUIRE_FALSE((got.st_ctim.tv_sec == st.st_ctim.tv_sec && got.st_ctim.tv_nsec == st.st_ctim.tv_nsec));
  // No bytes kept (too new): the file is looked at by every request, even within one turn of the loop.
  CHECK(cache.find("/small", got, t0) == nullptr);
  CHECK(cache.size() == 0);

  REQUIRE(fstat(fd->get(), &st) == 0);
  cache.store("/small", fd, st, t0);
  REQUIRE(unlink(small.c_str()) == 0);  // deleted, or replaced by a rename: no link left
  CHECK(cache.find("/small", got, t0) == nullptr);

  FileRef big_fd = open_file(big, st);
  cache.store("/big", big_fd, st, t0);
  CHECK(cache.size() == 0);
  unlink(big.c_str());
  rmdir(dir.c_str());
}

TEST_CASE("open-file cache: a hit whose bytes are kept is looked at once per turn of the loop",
          "[file-serve][open-cache]") {
  char dir_template[] = "/tmp/nettool-open-cache-XXXXXX";
  REQUIRE(mkdtemp(dir_template) != nullptr);
  const std::string dir = dir_template, path = dir + "/settled";
  std::ofstream(path) << "settled";
  // Bytes are kept only for a file whose ctime is over a second old.
  struct stat st {};
  for (int i = 0; i < 60; ++i) {
    REQUIRE(stat(path.c_str(), &st) == 0);
    if (st.st_ctim.tv_sec < std::time(nullptr) - 1) break;
    usleep(100000);
  }
  REQUIRE(st.st_ctim.tv_sec < std::time(nullptr) - 1);
  auto fd = std::make_shared<const nettool::UniqueFd>(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(fd->valid());
  REQUIRE(fstat(fd->get(), &st) == 0);

  OpenFileCache cache(nullptr);
  const auto t0 = OpenFileCache::Clock::now();
  cache.store("/settled", fd, st, t0);
  struct stat got {};
  FileBody body;
  REQUIRE(cache.find("/settled", got, t0, &body) == fd);
  REQUIRE(body);
  CHECK(*body == "settled");

  REQUIRE(chmod(path.c_str(), 0600) == 0);  // moves the ctime (the clock may need a tick: wait for it)
  struct stat now {};
  for (int i = 0; i < 100; ++i) {
    REQUIRE(fstat(fd->get(), &now) == 0);
    if (now.st_ctim.tv_sec != st.st_ctim.tv_sec || now.st_ctim.tv_nsec != st.st_ctim.tv_nsec) break;
    usleep(10000);
    REQUIRE(chmod(path.c_str(), 0600) == 0);
  }
  REQUIRE_FALSE((now.st_ctim.tv_sec == st.st_ctim.tv_sec && now.st_ctim.tv_nsec == st.st_ctim.tv_nsec));
  // This turn's look stands: the kept bytes with the stat they were read with, one version.
  body.reset();
  CHECK(cache.find("/settled", got, t0, &body) == fd);
  CHECK((got.st_ctim.tv_sec == st.st_ctim.tv_sec && got.st_ctim.tv_nsec == st.st_ctim.tv_nsec));
  CHECK((body && *body == "settled"));
  // The next turn looks again and sees the change.
  cache.next_turn();
  CHECK(cache.find("/settled", got, t0, &body) == nullptr);
  CHECK(cache.size() == 0);
  unlink(path.c_str());
  rmdir(dir.c_str());
}

TEST_CASE("DateText: formats a second once and again when it changes, -1 included", "[file-serve]") {
  DateText date;
  CHECK(date.of(-1) == "Wed, 31 Dec 1969 23:59:59 GMT");  // not taken for "nothing formatted yet"
  CHECK(date.of(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
  CHECK(date.of(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
  CHECK(date.of(-1) == "Wed, 31 Dec 1969 23:59:59 GMT");
}

TEST_CASE("preconditions: entity-tag lists, strong and weak comparison", "[file-serve][conditional]") {
  const std::string etag = "\"abc\"";
  CHECK(etag_list_matches("\"abc\"", etag, true));
  CHECK(etag_list_matches("*", etag, true));
  CHECK(etag_list_matches(" * ", etag, false));
  CHECK(etag_list_matches("\"x\", \"abc\"", etag, true));
  CHECK(etag_list_matches("\"x\",,\t\"abc\" ,", etag, true));
  CHECK_FALSE(etag_list_matches("W/\"abc\"", etag, true));
  CHECK(etag_list_matches("W/\"abc\"", etag, false));
  CHECK_FALSE(etag_list_matches("\"abcd\"", etag, false));
  CHECK_FALSE(etag_list_matches("abc", etag, false));          // not quoted
  CHECK_FALSE(etag_list_matches("\"x\" \"abc\"", etag, false));  // no comma
  CHECK_FALSE(etag_list_matches("\"ab\"c\"", etag, false));
  CHECK_FALSE(etag_list_matches("", etag, false));
  CHECK_FALSE(etag_list_matches("*, \"abc\"", etag, false));  // "*" is only valid alone
}

TEST_CASE("preconditions: evaluated in the order of RFC 9110 section 13.2.2", "[file-serve][conditional]") {
  const Validators file{"\"abc\"", 1'000'000};
  const std::string at = "Mon, 12 Jan 1970 13:46:40 GMT";      // 1'000'000
  const std::string before = "Mon, 12 Jan 1970 13:46:39 GMT";  // one second earlier
  const std::string after = "Mon, 12 Jan 1970 13:46:41 GMT";
  struct Case {
    std::vector<HeaderField> headers;
    bool get_or_head;
    Precondition expected;
  };
  const std::vector<Case> cases{
      {{}, true, Precondition::Proceed},
      {{{"If-Match", "\"abc\""}}, true, Precondition::Proceed},
      {{{"If-Match", "\"nope\""}}, true, Precondition::Failed},
      {{{"If-Match", "W/\"abc\""}}, true, Precondition::Failed},
      {{{"If-Match", "*"}}, true, Precondition::Proceed},
      {{{"if-match", "\"nope\""}, {"IF-MATCH", "\"abc\""}}, true, Precondition::Proceed},  // one list over two lines
      {{{"If-Unmodified-Since", before}}, true, Precondition::Failed},
      {{{"If-Unmodified-Since", at}}, true, Precondition::Proceed},
      {{{"If-Unmodified-Since", "yesterday"}}, true, Precondition::Proceed},  // not a date: ignored
      {{{"If-Match", "\"abc\""}, {"If-Unmodified-Since", before}}, true, Precondition::Proceed},
      {{{"If-None-Match", "\"abc\""}}, true, Precondition::NotModified},
      {{{"If-None-Match", "W/\"abc\""}}, true, Precondition::NotModified},
      {{{"If-None-Match", "\"abc\""}}, false, Precondition::Failed},
      {{{"If-Match", "\"nope\""}, {"If-None-Match", "\"abc\""}}, true, Precondition::Failed},
      {{{"If-Unmodified-Since", before}, {"If-None-Match", "\"abc\""}}, true, Precondition::Failed},
      {{{"If-Modified-Since", at}}, true, Precondition::NotModified},
      {{{"If-Modified-Since", after}}, true, Precondition::NotModified},
      {{{"If-Modified-Since", before}}, true, Precondition::Proceed},
      {{{"If-Modified-Since", at}}, false, Precondition::Proceed},  // only for GET and HEAD
      {{{"If-None-Match", "\"nope\""}, {"If-Modified-Since", at}}, true, Precondition::Proceed},
      {{{"If-Modified-Since", at}, {"If-Modified-Since", at}}, true, Precondition::Proceed},  // two dates: ignored
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    INFO("case " << i);
    CHECK(evaluate_preconditions(cases[i].headers, cases[i].get_or_head, file) == cases[i].expected);
  }
}

TEST_CASE("preconditions: a resource without validators (a listing) matches only \"*\", and ignores dates",
          "[file-serve][conditional]") {
  const Validators listing{"", 0, false};
  const std::string date = "Mon, 12 Jan 1970 13:46:40 GMT";
  CHECK(evaluate_preconditions({{"If-None-Match", "*"}}, true, listing) == Precondition::NotModified);
  CHECK(evaluate_preconditions({{"If-Match", "\"nope\""}}, true, listing) == Precondition::Failed);
  CHECK(evaluate_preconditions({{"If-Match", "*"}}, true, listing) == Precondition::Proceed);
  CHECK(evaluate_preconditions({{"If-None-Match", "\"x\""}}, true, listing) == Precondition::Proceed);
  // No Last-Modified: both date fields are ignored (RFC 9110 §13.1.3, §13.1.4).
  CHECK(evaluate_preconditions({{"If-Modified-Since", date}}, true, listing) == Precondition::Proceed);
  CHECK(evaluate_preconditions({{"If-Unmodified-Since", date}}, true, listing) == Precondition::Proceed);
}

TEST_CASE("preconditions: If-Range matches a strong entity tag or the exact Last-Modified date", "[file-serve][conditional]") {
  const Validators file{"\"abc\"", 1'000'000};
  auto if_range_matches_now = [](std::string_view v, const Validators& f) { return if_range_matches(v, f, 2'000'000); };
  CHECK(if_range_matches_now("\"abc\"", file));
  CHECK(if_range_matches_now(" \"abc\" ", file));
  CHECK_FALSE(if_range_matches_now("W/\"abc\"", file));
  CHECK_FALSE(if_range_matches_now("\"abd\"", file));
  CHECK(if_range_matches_now("Mon, 12 Jan 1970 13:46:40 GMT", file));
  CHECK(if_range_matches_now("Monday, 12-Jan-70 13:46:40 GMT", file));
  CHECK(if_range_matches_now("Mon Jan 12 13:46:40 1970", file));
  CHECK_FALSE(if_range_matches_now("Mon, 12 Jan 1970 13:46:41 GMT", file));
  CHECK_FALSE(if_range_matches_now("Mon, 12 Jan 1970 13:46:39 GMT", file));
  CHECK_FALSE(if_range_matches_now("", file));
  CHECK_FALSE(if_range_matches_now("soon", file));
  // A Last-Modified in the current second is weak: the file may change again
  // within it, and the date would name two versions.
  CHECK_FALSE(if_range_matches("Mon, 12 Jan 1970 13:46:40 GMT", file, 1'000'000));
  CHECK(if_range_matches("Mon, 12 Jan 1970 13:46:40 GMT", file, 1'000'001));
  CHECK(if_range_matches("\"abc\"", file, 1'000'000));  // an entity tag is strong whenever
}

TEST_CASE("hidden rule: any component below the root that starts with a dot, or a path outside the root",
          "[file-serve][security]") {
  CHECK_FALSE(path_has_hidden_component("/srv/www", "/srv/www"));
  CHECK_FALSE(path_has_hidden_component("/srv/www", "/srv/www/a/b.txt"));
  CHECK_FALSE(path_has_hidden_component("/home/u/.local/www", "/home/u/.local/www/a.txt"));  // above the root: fine
  CHECK_FALSE(path_has_hidden_component("/srv/www", "/srv/www/a.b/c..d"));
  CHECK(path_has_hidden_component("/srv/www", "/srv/www/.git"));
  CHECK(path_has_hidden_component("/srv/www", "/srv/www/.git/config"));
  CHECK(path_has_hidden_component("/srv/www", "/srv/www/dir/.secret"));
  CHECK(path_has_hidden_component("/srv/www", "/srv/www2/a.txt"));  // a sibling, not below
  CHECK(path_has_hidden_component("/srv/www", "/srv/a.txt"));
  CHECK_FALSE(path_has_hidden_component("/", "/etc/passwd"));
  CHECK(path_has_hidden_component("/", "/home/u/.ssh/id_ed25519"));
}

TEST_CASE("head text: the ETag names inode size and mtime in hex and a head that does not fit is flagged",
          "[file-serve]") {
  struct stat st{};
  st.st_ino = 0x1234;
  st.st_size = 4096;
  st.st_mtim.tv_sec = 2;
  st.st_mtim.tv_nsec = 5;
  CHECK(etag_of(st).view() == "\"1234-1000-77359405\"");  // 2 s + 5 ns = 2000000005 = 0x77359405

  StackText<8> text;
  text += "12345";
  text.append_number(678);
  CHECK(text.view() == "12345678");
  CHECK_FALSE(text.overflowed());
  text += "9";  // one byte too many: dropped whole, and said
  CHECK(text.view() == "12345678");
  CHECK(text.overflowed());
}
