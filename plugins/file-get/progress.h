// The progress line on stderr: percentage, bytes, rate and ETA (or just
// bytes and rate when the length is unknown). It is redrawn from a timer, at
// most ten times a second, not from the data path: a fast download must not
// spend its time writing to the terminal.
#pragma once
#include <uv.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <utility>

#include "nettool/uv.h"

namespace nettool::file_get {

class ProgressBar {
 public:
  // `enabled` false makes every call a no-op. `tty`: stderr is a terminal, so
  // the line can be erased in place; otherwise (--progress=always into a
  // file) each redraw starts with \r and the last line is ended with \n.
  ProgressBar(uv_loop_t* loop, bool enabled, bool tty);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void start();
  void set_total(std::optional<uint64_t> total) { total_ = total; }
  void update(uint64_t done) { done_ = done; }
  // Erases the line so a log message can be printed; the next tick redraws it.
  void clear();
  // Erases the line and stops for good.
  void stop();

 private:
  static void on_tick(uv_timer_t* timer);
  void draw();
  double rate() const;

  uv_loop_t* loop_;
  bool enabled_;
  bool tty_;
  bool running_ = false;
  bool drawn_ = false;
  size_t last_width_ = 0;
  std::optional<uint64_t> total_;
  uint64_t done_ = 0;
  // (milliseconds, bytes) samples of the last few seconds: the rate follows
  // the recent speed instead of the average since the start.
  std::deque<std::pair<uint64_t, uint64_t>> samples_;
  Handle<uv_timer_t> timer_;
};

}  // namespace nettool::file_get
