#include "progress.h"

#include <spdlog/fmt/fmt.h>

#include <cstdio>
#include <string>

namespace nettool::file_get {

namespace {

constexpr uint64_t kTickMs = 100;       // at most ~10 redraws a second
constexpr uint64_t kRateWindowMs = 3000;  // the rate is measured over this much recent time

std::string human(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.1f} {}", bytes, units[unit]);
}

std::string clock_text(uint64_t seconds) {
  if (seconds >= 3600) return fmt::format("{}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60);
  return fmt::format("{}:{:02}", seconds / 60, seconds % 60);
}

}  // namespace

ProgressBar::ProgressBar(uv_loop_t* loop, bool enabled, bool tty) : loop_(loop), enabled_(enabled), tty_(tty) {
  if (!enabled_) return;
  timer_ = make_timer(loop, this);
  // The bar alone must never keep the loop alive.
  uv_unref(timer_.as_handle());
}

ProgressBar::~ProgressBar() {
  if (enabled_) stop();
}

void ProgressBar::start() {
  if (!enabled_ || running_) return;
  running_ = true;
  samples_.clear();
  uv_timer_start(timer_.get(), &ProgressBar::on_tick, kTickMs, kTickMs);
}

void ProgressBar::clear() {
  if (!enabled_ || !drawn_) return;
  // On a terminal the line is erased; elsewhere it is ended so the next
  // message starts on a line of its own.
  std::fputs(tty_ ? "\r\033[K" : "\n", stderr);
  std::fflush(stderr);
  drawn_ = false;
  last_width_ = 0;
}

void ProgressBar::stop() {
  if (!enabled_) return;
  if (running_) uv_timer_stop(timer_.get());
  running_ = false;
  clear();
}

void ProgressBar::on_tick(uv_timer_t* timer) {
  auto* self = static_cast<ProgressBar*>(timer->data);
  if (self) self->draw();
}

double ProgressBar::rate() const {
  if (samples_.size() < 2) return 0;
  const auto& [t0, b0] = samples_.front();
  const auto& [t1, b1] = samples_.back();
  if (t1 <= t0 || b1 < b0) return 0;
  return static_cast<double>(b1 - b0) * 1000.0 / static_cast<double>(t1 - t0);
}

void ProgressBar::draw() {
  uint64_t now = uv_now(loop_);
  samples_.emplace_back(now, done_);
  while (samples_.size() > 2 && now - samples_.front().first > kRateWindowMs) samples_.pop_front();
  double r = rate();

  std::string line;
  if (total_ && *total_ > 0) {
    uint64_t shown = std::min(done_, *total_);
    unsigned percent = static_cast<unsigned>(static_cast<double>(shown) * 100.0 / static_cast<double>(*total_));
    // A server may promise any length: an ETA past a year is no ETA (and a
    // double past 2^64 would not convert).
    double seconds = r > 0 ? static_cast<double>(*total_ - shown) / r : -1;
    std::string eta = seconds >= 0 && seconds < 366.0 * 86400 ? clock_text(static_cast<uint64_t>(seconds)) : "--:--";
    line = fmt::format("{:3}% {} / {}  {}/s  ETA {}", percent, human(static_cast<double>(shown)),
                       human(static_cast<double>(*total_)), human(r), eta);
  } else {
    line = fmt::format("{}  {}/s", human(static_cast<double>(done_)), human(r));
  }
  std::string out = "\r" + line;
  if (tty_) {
    out += "\033[K";
  } else if (line.size() < last_width_) {
    out.append(last_width_ - line.size(), ' ');  // no escape codes into a file: overwrite with blanks
  }
  last_width_ = line.size();
  std::fputs(out.c_str(), stderr);
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace nettool::file_get
