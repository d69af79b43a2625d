// LoopLog: a loop thread's lines reach stderr once per loop iteration, in
// order, warnings at once.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

#include "nettool/log.h"
#include "nettool/loop_log.h"

namespace {

// Sends this process's stderr to a temporary file for the test's lifetime.
class CapturedStderr {
 public:
  CapturedStderr() : file_(std::tmpfile()), saved_(::dup(STDERR_FILENO)) {
    REQUIRE(file_ != nullptr);
    REQUIRE(saved_ >= 0);
    REQUIRE(::dup2(::fileno(file_), STDERR_FILENO) == STDERR_FILENO);
  }
  ~CapturedStderr() {
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    std::fclose(file_);
  }
  std::string text() const {
    std::string out;
    char buf[4096];
    for (off_t at = 0;;) {
      ssize_t n = ::pread(::fileno(file_), buf, sizeof buf, at);
      if (n <= 0) return out;
      out.append(buf, static_cast<size_t>(n));
      at += n;
    }
  }

 private:
  FILE* file_;
  int saved_;
};

struct Loop {
  uv_loop_t loop{};
  Loop() { REQUIRE(uv_loop_init(&loop) == 0); }
  ~Loop() {
    uv_run(&loop, UV_RUN_DEFAULT);  // close callbacks
    uv_loop_close(&loop);
  }
};

}  // namespace

TEST_CASE("LoopLog writes a loop iteration's lines together, before the loop waits") {
  Loop l;
  CapturedStderr err;
  auto like = nettool::make_logger("t", 0, nettool::LogFormat::Text);
  nettool::LoopLog log(&l.loop, *like);
  log.logger().info("one");
  log.logger().info("two");
  CHECK(err.text().empty());
  // Something for the loop to do (its prepare handle is unref'd: lines never
  // keep a loop alive); the handle runs before the loop polls.
  uv_timer_t timer;
  uv_timer_init(&l.loop, &timer);
  uv_timer_start(&timer, [](uv_timer_t*) {}, 0, 0);
  uv_run(&l.loop, UV_RUN_NOWAIT);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
  uv_run(&l.loop, UV_RUN_NOWAIT);  // the close, while `timer` is still in scope
  CHECK(err.text() == "nettool t: info: one\nnettool t: info: two\n");
  log.logger().info("three");
  log.close();  // writes what is left
  CHECK(err.text() == "nettool t: info: one\nnettool t: info: two\nnettool t: info: three\n");
  log.logger().info("four");  // after close(): at once
  CHECK(err.text().ends_with("three\nnettool t: info: four\n"));
}

TEST_CASE("LoopLog writes a warning at once, after the lines before it") {
  Loop l;
  CapturedStderr err;
  auto like = nettool::make_logger("t", 0, nettool::LogFormat::Text);
  nettool::LoopLog log(&l.loop, *like);
  log.logger().info("first");
  log.logger().warn("second");
  CHECK(err.text() == "nettool t: info: first\nnettool t: warning: second\n");
}

TEST_CASE("LoopLog keeps the level and the format of the logger it copies") {
  Loop l;
  CapturedStderr err;
  SECTION("-q: info is dropped") {
    auto like = nettool::make_logger("t", -1, nettool::LogFormat::Text);
    nettool::LoopLog log(&l.loop, *like);
    log.logger().info("hidden");
    log.logger().error("shown");
    log.close();
    CHECK(err.text() == "nettool t: error: shown\n");
  }
  SECTION("JSON, with the message escaped") {
    auto like = nettool::make_logger("t", 0, nettool::LogFormat::Json);
    nettool::LoopLog log(&l.loop, *like);
    log.logger().info("a \"quoted\" name");
    log.close();
    CHECK(err.text().find(R"("logger":"t","msg":"a \"quoted\" name"})") != std::string::npos);
  }
}

TEST_CASE("LoopLog writes 64 KiB of lines without waiting for the loop") {
  Loop l;
  CapturedStderr err;
  auto like = nettool::make_logger("t", 0, nettool::LogFormat::Text);
  nettool::LoopLog log(&l.loop, *like);
  std::string line(1000, 'x');
  for (int i = 0; i < 70; ++i) log.logger().info("{}", line);
  CHECK(err.text().size() >= 64 * 1024);
  log.close();
}

TEST_CASE("LoopLog writes lines of any length whole and in order") {
  Loop l;
  CapturedStderr err;
  auto like = nettool::make_logger("t", 0, nettool::LogFormat::Text);
  nettool::LoopLog log(&l.loop, *like);
  // Short lines around one longer than a pipe keeps in one write (PIPE_BUF).
  std::string expected;
  for (int i = 0; i < 100; ++i) {
    std::string text = i == 50 ? std::string(10000, 'y') : "line " + std::to_string(i);
    log.logger().info("{}", text);
    expected += "nettool t: info: " + text + "\n";
  }
  log.close();
  CHECK(err.text() == expected);
}
