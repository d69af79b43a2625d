// A logger for the thread of one loop whose lines reach stderr in one write(2)
// per loop iteration instead of one each: a busy server's per-request lines
// (file-serve's access log) cost a system call per request otherwise, and
// with several worker threads each call also takes the console's lock.
#pragma once
#include <memory>

#include "nettool/uv.h"

namespace spdlog {
class logger;
}

namespace nettool {

class LoopLog {
 public:
  // A logger with the name, level and format of `like` (a make_logger one;
  // for any other `like` logs simply go to `like`). Lines collect until the
  // loop is about to wait for I/O (a prepare handle), or until 64 KiB; a
  // warning or an error, and everything collected before it, is written at
  // once, so nothing important waits and the order of lines is kept.
  LoopLog(uv_loop_t* loop, spdlog::logger& like);  // `like` outlives it
  ~LoopLog();  // writes what is left
  LoopLog(const LoopLog&) = delete;
  LoopLog& operator=(const LoopLog&) = delete;

  spdlog::logger& logger() const { return *logger_; }
  // Writes what is left and closes the handle; later lines are written at once.
  void close();

 private:
  class Sink;
  static void on_prepare(uv_prepare_t* handle);

  spdlog::logger* logger_;  // batched_, or the `like` it could not copy
  std::shared_ptr<Sink> sink_;
  std::shared_ptr<spdlog::logger> batched_;
  Handle<uv_prepare_t> prepare_;
};

}  // namespace nettool
