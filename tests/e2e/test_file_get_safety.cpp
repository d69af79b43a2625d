// file-get against hostile servers and hostile files: a scripted server in
// this process answers each connection with a canned response (a table of
// lying, odd or legacy responses), and the output is a FIFO, a device, a
// symlink or a planted .part. The rule checked everywhere: exit 0 and exactly
// the right bytes under the final name, or exit 1 and nothing under it — and
// nothing outside the file file-get owns is ever followed, replaced or lost.
//
// The scripted server listens on 127.0.0.1:0, waits at most kIoTimeout for
// each connection, and its thread is joined before the test ends.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>

#include "file_test_util.h"
#include "harness.h"

using namespace e2e;
using namespace filetest;

namespace {

// What the scripted server does with a connection once its response is sent.
enum class Then {
  Close,  // FIN
  Reset,  // RST (SO_LINGER 0)
  Hold,   // keep it open, sending nothing, until the client closes (at most 20 s)
};

// Answers connection N with responses[N] (raw bytes, then `then`) and keeps
// each request head. A connection beyond the script is closed unanswered, and
// so is one whose response is "".
class ScriptedHttp {
 public:
  explicit ScriptedHttp(std::vector<std::string> responses, Then then = Then::Close)
      : responses_(std::move(responses)), then_(then) {
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedHttp() {
    stop_ = true;
    thread_.join();
  }
  ScriptedHttp(const ScriptedHttp&) = delete;
  ScriptedHttp& operator=(const ScriptedHttp&) = delete;

  uint16_t port() const { return server_.port(); }
  std::string url(std::string_view path) const { return filetest::url(port(), path); }
  // The request heads received so far.
  std::vector<std::string> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  void serve() {
    for (size_t n = 0; n <= responses_.size() && !stop_; ++n) {
      Socket s;
      for (int waits = 0; waits < 100 && !stop_ && !s.valid(); ++waits) s = server_.accept(Ms(100));
      if (!s.valid()) return;
      std::string head;
      s.recv_until(head, "\r\n\r\n", kIoTimeout);
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(head);
      }
      if (n < responses_.size()) s.send_all(with_port(responses_[n]), kIoTimeout);
      if (then_ == Then::Reset) {
        linger hard{1, 0};
        ::setsockopt(s.fd(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
      } else if (then_ == Then::Hold) {
        // In short slices, so that the destructor's stop_ ends the wait.
        ReadEnd end = ReadEnd::Timeout;
        for (int slices = 0; slices < 200 && !stop_ && end == ReadEnd::Timeout; ++slices) s.recv_some(Ms(100), &end);
      }
    }
  }

  // "{port}" in a response stands for this server's port (a redirect to itself).
  std::string with_port(std::string text) const {
    for (size_t at; (at = text.find("{port}")) != std::string::npos;) text.replace(at, 6, std::to_string(port()));
    return text;
  }

  TcpServer server_;
  std::vector<std::string> responses_;
  Then then_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<std::string> requests_;
};

// Reads a FIFO in the background (opened at once, non-blocking, so the test
// never hangs waiting for a writer) until its writer closes, or 10 s.
class FifoReader {
 public:
  explicit FifoReader(const fs::path& path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    REQUIRE(fd_ >= 0);
    thread_ = std::thread([this] { read_all(); });
  }
  ~FifoReader() {
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  std::string data() {
    if (thread_.joinable()) thread_.join();
    return data_;
  }

 private:
  void read_all() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    bool had_writer = false;
    char buf[65536];
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      ::poll(&p, 1, 50);
      ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n > 0) {
        data_.append(buf, static_cast<size_t>(n));
        had_writer = true;
      } else if (n == 0 && had_writer) {
        return;  // the writer closed
      }
    }
  }
  int fd_ = -1;
  std::thread thread_;
  std::string data_;
};

std::string response_200(std::string_view body, std::string_view extra_headers = "") {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + std::string(extra_headers) +
         "Connection: close\r\n\r\n" + std::string(body);
}


}  // namespace

// ---------------------------------------------------------------- what -o names

TEST_CASE("file-get -o onto a FIFO writes into it and never replaces it", "[file][file-get][security]") {
  TempDir dir;
  const std::string body = random_bytes(300 * 1024, 51);
  ScriptedHttp server({response_200(body)});
  const auto fifo = dir / "pipe";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  FifoReader reader(fifo);
  auto r = file_get({"-o", fifo.string(), server.url("/f.bin")});
  INFO("stderr: " << r.err);
  CHECK(r.code == 0);
  CHECK(reader.data() == body);
  struct stat sb {};
  REQUIRE(::lstat(fifo.c_str(), &sb) == 0);
  CHECK(S_ISFIFO(sb.st_mode));
  CHECK(dir_entries(dir.path()) == std::vector<std::string>{"pipe"});
  // --resume has nothing to continue in a FIFO.
  auto resume = file_get({"--resume", "-o", fifo.string(), server.url("/f.bin")});
  CHECK(resume.code == 2);
}

TEST_CASE("file-get -o onto a FIFO, or -o - into a pipe, whose reader stopped reading still ends at SIGTERM",
          "[file][file-get][signals]") {
  // The writing thread used to wait for the reader without end: neither the
  // grace period nor a second signal could end the run.
  TempDir dir;
  const std::string body = random_bytes(4 * 1024 * 1024, 53);  // far more than a pipe holds
  const auto fifo = dir / "pipe";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // A reader that opens the FIFO and never reads: this test, without reading.
  for (bool through_stdout : {false, true}) {
    INFO((through_stdout ? "-o - > FIFO" : "-o FIFO"));
    ScriptedHttp server({response_200(body)});
    struct Reader {
      int fd;
      ~Reader() { if (fd >= 0) ::close(fd); }
    } reader{::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC)};
    REQUIRE(reader.fd >= 0);
    std::vector<std::string> argv =
        through_stdout ? std::vector<std::string>{"sh", "-c", "exec \"$@\" > \"$0\"", fifo.string(),
                                                  nettool_path().string(), "file-get", "-o", "-", server.url("/f.bin")}
                       : nettool_argv({"file-get", "-o", fifo.string(), server.url("/f.bin")});
    Process p(argv, ProcessOptions().stdout_null());
    // It has filled the pipe and waits: the pipe holds data nobody read.
    REQUIRE(eventually([&] {
      int queued = 0;
      return ::ioctl(reader.fd, FIONREAD, &queued) == 0 && queued >= 32 * 1024;
    }));
    p.signal(SIGTERM);
    const int code = p.wait(Ms(8000));  // the 5 s grace at most
    INFO("stderr: " << p.stderr_text());
    CHECK(code == 1);
  }
}

TEST_CASE("file-get -o onto a character device writes into it and leaves the node in place",
          "[file][file-get][security]") {
  TempDir dir;
  const auto node = dir / "null";
  if (::geteuid() != 0 || ::mknod(node.c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) {
    WARN("cannot create a device node here (needs root and CAP_MKNOD); /dev/null itself is used instead");
  }
  const fs::path target = fs::exists(node) ? node : fs::path("/dev/null");
  ScriptedHttp server({response_200("device bytes\n")});
  auto r = file_get({"-o", target.string(), server.url("/d.txt")});
  INFO("stderr: " << r.err);
  CHECK(r.code == 0);
  struct stat sb {};
  REQUIRE(::lstat(target.c_str(), &sb) == 0);
  CHECK(S_ISCHR(sb.st_mode));
  CHECK_FALSE(fs::exists(target.string() + ".part"));
}

TEST_CASE("file-get -o onto a symlink is refused: neither followed nor replaced", "[file][file-get][security]") {
  TempDir dir;
  write_file(dir / "victim", "precious\n");
  fs::create_symlink(dir / "victim", dir / "link");
  ScriptedHttp server({response_200("attacker\n")});
  auto r = file_get({"-o", (dir / "link").string(), server.url("/x")});
  INFO("stderr: " << r.err);
  CHECK(r.code == 1);
  CHECK(r.err.find("symbolic link") != std::string::npos);
  CHECK(fs::is_symlink(dir / "link"));
  CHECK(read_file(dir / "victim") == "precious\n");
}

TEST_CASE("file-get never follows a planted FILE.part symlink, nor writes into a .part with other hard links",
          "[file][file-get][security]") {
  TempDir dir;
  write_file(dir / "victim", "precious\n");
  fs::create_symlink(dir / "victim", dir / "out.part");
  {
    ScriptedHttp server({response_200("attacker\n"), response_200("attacker\n")});
    for (std::vector<std::string> extra : {std::vector<std::string>{}, std::vector<std::string>{"--resume"}}) {
      std::vector<std::string> args{"-o", (dir / "out").string(), server.url("/x")};
      args.insert(args.begin(), extra.begin(), extra.end());
      auto r = file_get(args);
      INFO("stderr: " << r.err);
      CHECK(r.code == 1);
      CHECK(r.err.find("symbolic link") != std::string::npos);
      CHECK(read_file(dir / "victim") == "precious\n");
      CHECK_FALSE(fs::exists(fs::symlink_status(dir / "out")));
    }
  }
  fs::remove(dir / "out.part");
  fs::create_hard_link(dir / "victim", dir / "out.part");
  ScriptedHttp server({response_200("attacker\n")});
  auto r = file_get({"-o", (dir / "out").string(), server.url("/x")});
  INFO("stderr: " << r.err);
  CHECK(r.code == 1);
  CHECK(read_file(dir / "victim") == "precious\n");
  CHECK_FALSE(fs::exists(dir / "out"));
}

TEST_CASE("file-get never writes into a .part another user owns (the verified file would be theirs)",
          "[file][file-get][security]") {
  if (::geteuid() != 0) {
    WARN("skipped: making a file another user owns needs root");
    return;
  }
  TempDir dir;
  write_file(dir / "out.part", "planted");
  REQUIRE(::chown((dir / "out.part").c_str(), 65534, 65534) == 0);
  for (bool resume : {false, true}) {
    INFO("resume " << resume);
    ScriptedHttp server({response_200("hello", "Repr-Digest: " + repr_digest_of("hello") + "\r\n")});
    std::vector<std::string> args{"-o", (dir / "out").string(), server.url("/x")};
    if (resume) args.insert(args.begin(), "--resume");
    auto r = file_get(args);
    INFO("stderr: " << r.err);
    CHECK(r.code == 1);
    CHECK(r.err.find("belongs to another user") != std::string::npos);
    CHECK(read_file(dir / "out.part") == "planted");
    CHECK_FALSE(fs::exists(dir / "out"));
  }
}

TEST_CASE("file-get: a .part of ours that others may write is narrowed to what a new one gets before it is used",
          "[file][file-get][security]") {
  TempDir dir;
  const auto out = dir / "out";
  write_file(dir / "out.part", "01234");
  REQUIRE(::chmod((dir / "out.part").c_str(), 0666) == 0);
  ScriptedHttp server({"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 5-9/10\r\nContent-Length: 5\r\n\r\n56789"});
  auto r = file_get({"--resume", "-o", out.string(), server.url("/x")});
  INFO("stderr: " << r.err);
  CHECK(r.code == 0);
  CHECK(read_file(out) == "0123456789");
  struct stat sb {};
  REQUIRE(::stat(out.c_str(), &sb) == 0);
  CHECK((sb.st_mode & 0777) == 0644);
}

TEST_CASE("file-get: a digest mismatch removes the .part and the validator saved beside it",
          "[file][file-get][security]") {
  TempDir dir;
  ScriptedHttp server({response_200("hello", "ETag: \"e1\"\r\nRepr-Digest: " + repr_digest_of("other") + "\r\n")});
  auto r = file_get({"-o", (dir / "out").string(), server.url("/x")});
  INFO("stderr: " << r.err);
  CHECK(r.code == 1);
  CHECK(dir_entries(dir.path()).empty());
}

TEST_CASE("file-get does not replace what appeared under the output name during the download",
          "[file][file-get][security]") {
  TempDir dir;
  const auto out = dir / "out";
  const std::string body(256 * 1024, 'x');
  TcpServer server;
  // Sends half the body, plants a FIFO where the file is to go, then the rest.
  std::thread peer([&] {
    Socket s = server.accept();
    if (!s.valid()) return;
    std::string head;
    s.recv_until(head, "\r\n\r\n", kIoTimeout);
    s.send_all("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
                   body.substr(0, body.size() / 2),
               kIoTimeout);
    ::mkfifo(out.c_str(), 0600);
    s.send_all(body.substr(body.size() / 2), kIoTimeout);
  });
  auto r = file_get({"-o", out.string(), url(server.port(), "/x")});
  peer.join();
  INFO("stderr: " << r.err);
  CHECK(r.code == 1);
  CHECK(r.err.find("no longer a regular file") != std::string::npos);
  struct stat sb {};
  REQUIRE(::lstat(out.c_str(), &sb) == 0);
  CHECK(S_ISFIFO(sb.st_mode));
  CHECK(read_file(dir / "out.part") == body);  // kept for --resume
}

TEST_CASE("file-get: control characters in the default output name are written %XX, as wget does",
          "[file][file-get][security]") {
  TempDir dir;
  ScriptedHttp server({response_200("named\n")});
  auto r = file_get_in(dir.path(), {server.url("/dir/a%0Ab%1B%07c%7F.txt")});
  INFO("stderr: " << r.err);
  CHECK(r.code == 0);
  CHECK(dir_entries(dir.path()) == std::vector<std::string>{"a%0Ab%1B%07c%7F.txt"});
  CHECK(read_file(dir / "a%0Ab%1B%07c%7F.txt") == "named\n");
}

// ---------------------------------------------------------------- --resume

TEST_CASE("file-get --resume sends If-Range with the saved ETag, and a changed file is fetched whole",
          "[file][file-get][resume]") {
  TempDir dir;
  const auto out = dir / "f.txt";
  // First attempt: the server promises 10 bytes and closes after 4.
  {
    ScriptedHttp server({"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nETag: \"v1\"\r\n\r\nOLD-"});
    auto r = file_get({"-o", out.string(), server.url("/f.txt")});
    CHECK(r.code == 1);
    CHECK(read_file(dir / "f.txt.part") == "OLD-");
    CHECK(read_file(dir / "f.txt.part.validator") == "\"v1\"\n");
  }
  // Second attempt: the file changed, so the server answers the If-Range with all of the new one.
  ScriptedHttp server({response_200("NEWCONTENT", "ETag: \"v2\"\r\n")});
  auto r = file_get({"--resume", "-o", out.string(), server.url("/f.txt")});
  INFO("stderr: " << r.err);
  CHECK(r.code == 0);
  CHECK(read_file(out) == "NEWCONTENT");
  auto requests = server.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].find("Range: bytes=4-\r\n") != std::string::npos);
  CHECK(requests[0].find("If-Range: \"v1\"\r\n") != std::string::npos);
  CHECK(dir_entries(dir.path()) == std::vector<std::string>{"f.txt"});
}

TEST_CASE("file-get --resume: a 206 of another version (a server ignoring If-Range) is not joined to the .part",
          "[file][file-get][resume]") {
  TempDir dir;
  const auto out = dir / "f.txt";
  {
    ScriptedHttp server({"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nETag: \"v1\"\r\n\r\nOLD-"});
    auto r = file_get({"-o", out.string(), server.url("/f.txt")});
    REQUIRE(r.code == 1);
    REQUIRE(read_file(dir / "f.txt.part") == "OLD-");
  }
  // The file changed to v2; the server sends the asked range of v2 anyway,
  // then, asked again without a Range, all of it.
  ScriptedHttp server({"HTTP/1.1 206 Partial Content\r\nETag: \"v2\"\r\nContent-Range: bytes 4-9/10\r\n"
                       "Content-Length: 6\r\n\r\nNTENT!",
                       response_200("NEWCONTENT", "ETag: \"v2\"\r\n")});
  auto r = file_get({"--resume", "-o", out.string(), server.url("/f.txt")});
  INFO("stderr: " << r.err);
  CHECK(r.code == 0);
  CHECK(read_file(out) == "NEWCONTENT");  // never "OLD-NTENT!"
  CHECK(r.err.find("another version of the file") != std::string::npos);
  auto requests = server.requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].find("If-Range: \"v1\"\r\n") != std::string::npos);
  CHECK(requests[1].find("Range:") == std::string::npos);
}

TEST_CASE("file-get --resume: If-Range falls back to Last-Modified, and against file-serve continues the same file",
          "[file][file-get][resume]") {
  TempDir dir;
  const auto out = dir / "g.txt";
  {
    ScriptedHttp server({"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nETag: W/\"weak\"\r\n"
                         "Last-Modified: Fri, 01 Jan 2021 00:00:00 GMT\r\n\r\nabc"});
    CHECK(file_get({"-o", out.string(), server.url("/g.txt")}).code == 1);
  }
  ScriptedHttp server({"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 3-5/6\r\nContent-Length: 3\r\n\r\ndef"});
  auto r = file_get({"--resume", "-o", out.string(), server.url("/g.txt")});
  INFO("stderr: " << r.err);
  CHECK(r.code == 0);
  CHECK(read_file(out) == "abcdef");
  REQUIRE(server.requests().size() == 1);
  CHECK(server.requests()[0].find("If-Range: Fri, 01 Jan 2021 00:00:00 GMT\r\n") != std::string::npos);

  // file-serve honours If-Range with its strong ETag: a file changed since is sent whole.
  const auto root = dir / "root";
  fs::create_directories(root);
  write_file(root / "h.txt", "version one, long enough\n");
  auto srv = start_serve(root);
  const auto out2 = dir / "h.txt";
  auto first = file_get({"-o", out2.string(), url(srv.port, "/h.txt")});
  REQUIRE(first.code == 0);
  std::string validator = read_file(out2);  // the whole file; keep its start as a .part
  write_file(dir / "h.txt.part", validator.substr(0, 8));
  auto etag = http_get(srv.port, "/h.txt", "HEAD").header("ETag").value_or("");
  write_file(dir / "h.txt.part.validator", etag + "\n");
  fs::remove(out2);
  write_file(root / "h.txt", "VERSION TWO, CHANGED!!!!!\n");  // same length, new content
  auto again = file_get({"--resume", "-o", out2.string(), url(srv.port, "/h.txt")});
  INFO("stderr: " << again.err);
  CHECK(again.code == 0);
  CHECK(read_file(out2) == "VERSION TWO, CHANGED!!!!!\n");
}

TEST_CASE("file-get --resume: a 416 for a .part that is already complete saves it, and a failed restart keeps the .part",
          "[file][file-get][resume]") {
  TempDir dir;
  const auto out = dir / "c.txt";
  write_file(dir / "c.txt.part", "0123456789");
  {
    ScriptedHttp server({"HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */10\r\nContent-Length: 0\r\n\r\n"});
    auto r = file_get({"--resume", "-o", out.string(), server.url("/c.txt")});
    INFO("stderr: " << r.err);
    CHECK(r.code == 0);
    CHECK(read_file(out) == "0123456789");
    CHECK(dir_entries(dir.path()) == std::vector<std::string>{"c.txt"});
  }
  // A 416 with a Repr-Digest: the complete .part is checked against it, and
  // a .part of the right length with the wrong bytes is not saved.
  for (bool right : {true, false}) {
    INFO("digest " << (right ? "right" : "wrong"));
    TempDir d;
    write_file(d / "e.txt.part", "0123456789");
    ScriptedHttp server({"HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */10\r\nRepr-Digest: " +
                         repr_digest_of(right ? "0123456789" : "9876543210") + "\r\nContent-Length: 0\r\n\r\n"});
    auto r = file_get({"--resume", "-o", (d / "e.txt").string(), server.url("/e.txt")});
    INFO("stderr: " << r.err);
    CHECK(r.code == (right ? 0 : 1));
    CHECK(r.err.find(right ? "sha-256 verified" : "sha-256 mismatch") != std::string::npos);
    CHECK(dir_entries(d.path()) == (right ? std::vector<std::string>{"e.txt"} : std::vector<std::string>{}));
  }
  // A .part longer than the file: start over, but a failure before the new
  // body begins must not cost the bytes already there.
  write_file(dir / "d.txt.part", "xxxxxxxxxxxx");
  ScriptedHttp server({"HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */10\r\nContent-Length: 0\r\n\r\n",
                       "" /* then: closed without an answer */});
  auto r = file_get({"--resume", "-o", (dir / "d.txt").string(), server.url("/d.txt")});
  INFO("stderr: " << r.err);
  CHECK(r.code == 1);
  CHECK(read_file(dir / "d.txt.part") == "xxxxxxxxxxxx");
  CHECK_FALSE(fs::exists(dir / "d.txt"));
}

TEST_CASE("file-get --resume: a 200 that ends before its body begins keeps the .part and the validator that describes it",
          "[file][file-get][resume]") {
  TempDir dir;
  const auto out = dir / "f.txt";
  write_file(dir / "f.txt.part", "old bytes");
  write_file(dir / "f.txt.part.validator", "\"old\"\n");
  {
    // The file changed (a 200 to the If-Range), and the connection drops at once.
    ScriptedHttp server({"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nETag: \"new\"\r\n\r\n"});
    auto r = file_get({"--resume", "-o", out.string(), server.url("/f.txt")});
    INFO("stderr: " << r.err);
    CHECK(r.code == 1);
    CHECK(read_file(dir / "f.txt.part") == "old bytes");
    CHECK(read_file(dir / "f.txt.part.validator") == "\"old\"\n");
    CHECK_FALSE(fs::exists(out));
  }
  // Once the new body has begun, the .part is the new file's, and so is the validator.
  ScriptedHttp server({"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nETag: \"new\"\r\n\r\nnew"});
  auto r = file_get({"--resume", "-o", out.string(), server.url("/f.txt")});
  INFO("stderr: " << r.err);
  CHECK(r.code == 1);
  CHECK(read_file(dir / "f.txt.part") == "new");
  CHECK(read_file(dir / "f.txt.part.validator") == "\"new\"\n");
}

// ---------------------------------------------------------------- hostile responses, as a table

TEST_CASE("file-get against hostile or unusual responses: the exit code and the file are exactly right",
          "[file][file-get][security]") {
  struct Row {
    std::string what;
    std::string part;                   // a .part present before (with --resume when not empty)
    std::vector<std::string> responses;  // one per connection
    int exit_code;
    std::optional<std::string> saved;   // the final file's content; nullopt: no final file
    std::optional<std::string> part_after = std::nullopt;  // the .part afterwards, when it matters
    std::string request_has = "";       // in the last request
    std::string error_has = "";
  };
  const std::vector<Row> rows{
      {"206 without Content-Length that runs past its Content-Range", "01234",
       {"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 5-9/10\r\n\r\n56789EXTRA-BYTES"}, 0, "0123456789"},
      {"206 with Content-Length, more bytes after the body", "01234",
       {"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 5-9/10\r\nContent-Length: 5\r\n\r\n56789EXTRA"}, 0,
       "0123456789"},
      {"206 chunked, longer than its Content-Range", "01234",
       {"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 5-9/10\r\nTransfer-Encoding: chunked\r\n\r\n"
        "a\r\n56789EXTRA\r\n0\r\n\r\n"},
       1, std::nullopt, "0123456789", "", "Content-Range"},
      {"Content-Length promises more than arrives", "", {"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"}, 1,
       std::nullopt, "short"},
      {"an obsolete folded header line is joined, not refused", "",
       {"HTTP/1.1 200 OK\r\nX-Note: first\r\n  second\r\nContent-Length: 5\r\n\r\nhello"}, 0, "hello"},
      {"Transfer-Encoding gzip, chunked cannot be decoded: refused, not saved still encoded", "",
       {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\n\x1f\x8b\x08\x00\x00\r\n0\r\n\r\n"}, 1,
       std::nullopt, std::nullopt, "", "Transfer-Encoding"},
      {"a redirect with an upper-case scheme is an absolute URL", "",
       {"HTTP/1.1 302 Found\r\nLocation: HTTP://127.0.0.1:{port}/new/b.txt\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
       0, "ok", std::nullopt, "GET /new/b.txt HTTP/1.1"},
      {"a relative redirect with ../ is resolved as RFC 3986 says", "",
       {"HTTP/1.1 301 Moved\r\nLocation: ../c/./d.txt?q=1\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
       0, "ok", std::nullopt, "GET /a/c/d.txt?q=1 HTTP/1.1"},
      {"a redirect to ftp: is refused by name", "",
       {"HTTP/1.1 302 Found\r\nLocation: ftp://127.0.0.1/secret\r\nContent-Length: 0\r\n\r\n"}, 1, std::nullopt,
       std::nullopt, "", "'ftp:'"},
      {"a redirect to file: is refused by name", "",
       {"HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\nContent-Length: 0\r\n\r\n"}, 1, std::nullopt,
       std::nullopt, "", "'file:'"},
      {"206 to a request without Range", "",
       {"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-1/2\r\nContent-Length: 2\r\n\r\nhi"}, 1,
       std::nullopt},
      {"206 whose Content-Range does not say the file's length is not taken as the whole file", "0123",
       {"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 4-9/*\r\nContent-Length: 6\r\n\r\n456789"}, 1,
       std::nullopt, "0123", "", "how long the file is"},
      {"a Repr-Digest whose sha-256 is no digest fails the download", "",
       {response_200("hello", "Repr-Digest: sha-256=:@@@notbase64:\r\n")}, 1, std::nullopt, std::nullopt, "",
       "malformed sha-256"},
      {"a Repr-Digest member with parameters is still verified", "",
       {response_200("hello", "Repr-Digest: " + repr_digest_of("hello") + ";x=1\r\n")}, 0, "hello",
       std::nullopt, "", "sha-256 verified"},
      {"a later Repr-Digest line counts over an earlier one", "",
       {response_200("hello", "Repr-Digest: " + repr_digest_of("hello") + "\r\nRepr-Digest: " +
                                  repr_digest_of("other") + "\r\n")},
       1, std::nullopt, std::nullopt, "", "sha-256 mismatch"},
      {"a chunk size with leading zeros", "",
       {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0000000000000000005\r\nhello\r\n0\r\n\r\n"}, 0,
       "hello"},
      {"a chunk line ended by a bare LF is refused", "",
       {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"}, 1, std::nullopt,
       std::nullopt, "", "chunk"},
      {"Transfer-Encoding in an HTTP/1.0 response is refused", "",
       {"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"}, 1, std::nullopt,
       std::nullopt, "", "HTTP/1.0"},
      {"Transfer-Encoding with Content-Length is refused", "",
       {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
       1, std::nullopt, std::nullopt, "", "both Transfer-Encoding and Content-Length"},
      {"control characters of a header value are escaped in the message", "",
       {"HTTP/1.1 200 OK\r\nContent-Length: 5\xc2\x9b" "2J\r\n\r\nhello"}, 1, std::nullopt, std::nullopt, "",
       "5\\xc2\\x9b2J"},
  };
  for (const auto& row : rows) {
    INFO("row: " << row.what);
    TempDir dir;
    const auto out = dir / "out.txt";
    auto scripted = std::make_unique<ScriptedHttp>(row.responses);
    if (!row.part.empty()) write_file(dir / "out.txt.part", row.part);
    std::vector<std::string> args{"-o", out.string(), scripted->url("/a/b/file.txt")};
    if (!row.part.empty()) args.insert(args.begin(), "--resume");
    auto r = file_get(args);
    INFO("stderr: " << r.err);
    CHECK(r.code == row.exit_code);
    if (row.saved) CHECK(read_file(out) == *row.saved);
    else CHECK_FALSE(fs::exists(out));
    if (row.part_after) CHECK(read_file(dir / "out.txt.part") == *row.part_after);
    if (!row.request_has.empty()) {
      auto requests = scripted->requests();
      REQUIRE_FALSE(requests.empty());
      CHECK(requests.back().find(row.request_has) != std::string::npos);
    }
    if (!row.error_has.empty()) CHECK(r.err.find(row.error_has) != std::string::npos);
  }
}

// ---------------------------------------------------------------- an error status's text

namespace {

// A 403 whose text/plain body promises 100 bytes and sends 9 of them.
const std::string kForbiddenCutShort =
    "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nforbidden";
// Bounds the runs below: the status has decided the failure, so file-get has
// no reason to wait for the default -i (30 s), let alone for ever with -i 0.
constexpr Ms kDecidedFailure = 10s;

}  // namespace

TEST_CASE("file-get: an error status whose text stalls fails with the status alone and does not wait for -i",
          "[file][file-get][security]") {
  for (std::string idle : {"30s", "0"}) {
    INFO("-i " << idle);
    TempDir dir;
    ScriptedHttp server({kForbiddenCutShort}, Then::Hold);
    auto r = file_get({"-i", idle, "-o", (dir / "out.txt").string(), server.url("/a.txt")}, kDecidedFailure);
    INFO("stderr: " << r.err);
    CHECK(r.code == 1);
    CHECK(r.err.find("/a.txt: server answered 403 Forbidden\n") != std::string::npos);
    CHECK_FALSE(fs::exists(dir / "out.txt"));
  }
}

TEST_CASE("file-get: an error status whose text is cut short by EOF or a reset fails with the status alone",
          "[file][file-get][security]") {
  for (Then then : {Then::Close, Then::Reset}) {
    INFO((then == Then::Close ? "EOF" : "reset"));
    TempDir dir;
    ScriptedHttp server({kForbiddenCutShort}, then);
    auto r = file_get({"-o", (dir / "out.txt").string(), server.url("/a.txt")}, kDecidedFailure);
    INFO("stderr: " << r.err);
    CHECK(r.code == 1);
    CHECK(r.err.find("/a.txt: server answered 403 Forbidden\n") != std::string::npos);
    CHECK(r.err.find("connection failed") == std::string::npos);
    CHECK_FALSE(fs::exists(dir / "out.txt"));
  }
}

TEST_CASE("file-get: an error status's whole short text is quoted at once without waiting for the close",
          "[file][file-get]") {
  TempDir dir;
  const std::string text = "forbidden: ask the admin\r\n";
  ScriptedHttp server({"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: " +
                       std::to_string(text.size()) + "\r\n\r\n" + text},
                      Then::Hold);
  auto r = file_get({"-i", "0", "-o", (dir / "out.txt").string(), server.url("/a.txt")}, kDecidedFailure);
  INFO("stderr: " << r.err);
  CHECK(r.code == 1);
  CHECK(r.err.find("/a.txt: server answered 403 Forbidden: forbidden: ask the admin\n") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "out.txt"));
}
