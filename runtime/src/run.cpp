// Running one command: the loop, the signals, the grace period and the summary.
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <csignal>

#include "nettool/error.h"
#include "nettool/fd.h"
#include "nettool/host.h"

namespace nettool {

namespace {

// Long enough for what ends by itself at once (worker threads joining), too
// short for anyone to wait on.
constexpr Duration kCtrlCGrace{250};

// Whether we are the foreground job of our controlling terminal: a SIGINT
// then almost surely is Ctrl-C typed at it.
bool foreground_of_a_terminal() {
  UniqueFd tty(::open("/dev/tty", O_RDONLY | O_NOCTTY | O_CLOEXEC));
  return tty.get() >= 0 && tcgetpgrp(tty.get()) == getpgrp();
}

// 5s, 1.5s, 250ms: as --grace is written.
std::string duration_text(Duration d) {
  const auto ms = d.count();
  if (ms < 1000 || ms % 100 != 0) return std::to_string(ms) + "ms";
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + "s" : fmt::format("{:.1f}s", static_cast<double>(ms) / 1000);
}

// Owns what the runner adds to the loop. Signal and grace handles are unref'd:
// they never keep the loop alive on their own, so the loop ends when the
// command has nothing left to do.
class Runner {
 public:
  Runner(uv_loop_t* loop, Context& ctx, Command& command, Duration grace)
      : ctx_(ctx), command_(command), grace_(grace) {
    for (int signum : {SIGINT, SIGTERM}) {
      auto& h = signals_.emplace_back();
      if (uv_signal_init(loop, h.get()) < 0) throw RuntimeError("cannot watch signals");
      h.mark_initialized(this);
      uv_signal_start(h.get(), &Runner::on_signal, signum);
      uv_unref(h.as_handle());
    }
    grace_timer_ = make_timer(loop, this);
    uv_unref(grace_timer_.as_handle());
  }

 private:
  static void on_signal(uv_signal_t* h, int signum) {
    auto* self = static_cast<Runner*>(h->data);
    if (!self) return;
    if (!self->ctx_.shutting_down()) {
      // Ctrl-C at a terminal is someone asking to stop, as it stops nc, curl
      // and python's http.server: no real grace. An interactive session never
      // finishes on its own, so waiting for it only delays the prompt. What
      // shutdown() ends within a moment (a listener, idle clients, worker
      // threads joining) still exits 0; whatever it would have waited for is
      // cut (exit 1). SIGTERM, and a SIGINT sent to a job in the background
      // or without a terminal, keep the grace.
      self->at_terminal_ = signum == SIGINT && foreground_of_a_terminal();
      const Duration grace = self->at_terminal_ ? kCtrlCGrace : self->grace_;
      if (self->at_terminal_)
        self->ctx_.log().info("SIGINT received at the terminal: stopping now");
      else
        self->ctx_.log().info("{} received, finishing transfers in flight (up to {}; again to stop now)",
                              signum == SIGINT ? "SIGINT" : "SIGTERM", duration_text(grace));
      self->ctx_.mark_shutting_down();
      uv_timer_start(self->grace_timer_.get(), &Runner::on_grace_over, static_cast<uint64_t>(grace.count()), 0);
      self->command_.shutdown();
      return;
    }
    self->ctx_.log().warn("second signal: stopping now");
    self->ctx_.set_exit_code(kExitRuntime);
    self->command_.abort();
  }
  static void on_grace_over(uv_timer_t* t) {
    auto* self = static_cast<Runner*>(t->data);
    if (!self) return;
    if (!self->at_terminal_) self->ctx_.log().warn("grace period over: closing remaining connections");
    self->ctx_.set_exit_code(kExitRuntime);
    self->command_.abort();
  }

  Context& ctx_;
  Command& command_;
  Duration grace_;
  bool at_terminal_ = false;  // the first signal was Ctrl-C at a terminal
  std::vector<Handle<uv_signal_t>> signals_;
  Handle<uv_timer_t> grace_timer_;
};

std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? std::to_string(bytes) + " B" : fmt::format("{:.1f} {}", value, units[unit]);
}

// The handles still open once the command and the runner are gone, by type
// ("tcp timer"): each is one its owner forgot to close.
std::string open_handles(uv_loop_t* loop) {
  std::string names;
  uv_walk(
      loop,
      [](uv_handle_t* h, void* arg) {
        if (uv_is_closing(h)) return;
        auto* out = static_cast<std::string*>(arg);
        out->append(out->empty() ? "" : " ").append(uv_handle_type_name(uv_handle_get_type(h)));
      },
      &names);
  return names;
}

void close_everything(uv_loop_t* loop) {
  uv_walk(
      loop,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  uv_run(loop, UV_RUN_DEFAULT);
}

}  // namespace

int run_plugin(const PluginInfo& plugin, const OptionValues& values, const RunSettings& settings) {
  auto log = make_logger(plugin.name, settings.verbosity, settings.log_format);
  uv_loop_t loop;
  if (int rc = uv_loop_init(&loop); rc < 0) {
    log->error("cannot start the event loop: {}", uv_strerror(rc));
    return kExitRuntime;
  }
  Context ctx(&loop, log, values);
  int code = kExitOk;
  auto started = std::chrono::steady_clock::now();
  {
    std::unique_ptr<Command> command;
    std::unique_ptr<Runner> runner;
    try {
      command = plugin.create(ctx);
      runner = std::make_unique<Runner>(&loop, ctx, *command, settings.grace);
      command->start();
      uv_run(&loop, UV_RUN_DEFAULT);
      code = ctx.exit_code();
    } catch (const ConfigError& e) {
      log->error("{}", e.what());
      code = kExitUsage;
    } catch (const RuntimeError& e) {
      log->error("{}", e.what());
      code = kExitRuntime;
    } catch (const std::exception& e) {
      log->error("internal error: {}", e.what());
      code = kExitRuntime;
    }
    // The command and the runner close their handles as they go; the loop
    // then runs their close callbacks.
    runner.reset();
    command.reset();
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const Counters& c = ctx.counters();
  double rate = elapsed > 0 ? static_cast<double>(c.bytes_sent + c.bytes_received) / elapsed : 0;
  log->debug("sent {} ({} bytes), received {} ({} bytes), {} connection(s), {:.3f} s, {}/s", human_bytes(c.bytes_sent),
             c.bytes_sent, human_bytes(c.bytes_received), c.bytes_received, c.connections, elapsed,
             human_bytes(static_cast<uint64_t>(rate)));
  // Every handle has an owner that closes it (ARCHITECTURE.md, Invariants).
  // One left open is a bug: debug and asan builds fail the run, so the test
  // suite finds it; a release build closes it and says so at debug level.
  if (std::string left = open_handles(&loop); !left.empty()) {
#ifndef NDEBUG
    log->error("internal error: handles left open after the command ended: {}", left);
    if (code == kExitOk) code = kExitRuntime;
#else
    log->debug("handles left open after the command ended: {}", left);
#endif
  }
  close_everything(&loop);
  if (int rc = uv_loop_close(&loop); rc != 0) {
#ifndef NDEBUG
    log->error("internal error: the event loop did not close: {}", uv_strerror(rc));
    if (code == kExitOk) code = kExitRuntime;
#else
    log->debug("the event loop did not close: {}", uv_strerror(rc));
#endif
  }
  return code;
}

}  // namespace nettool
