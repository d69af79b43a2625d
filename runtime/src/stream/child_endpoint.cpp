// A child process (--exec, --sh-exec) as an Endpoint: its stdin and stdout
// are pipes to us, its stderr is ours.
#include "endpoint_halves.h"

#include <unistd.h>

#include <csignal>
#include <vector>

#include "nettool/error.h"

namespace nettool {

namespace {

// After the session, how long a child has to exit by itself (its stdin has
// just been closed: `cat` or a shell is already on its way out), and then to
// act on SIGTERM before SIGKILL.
constexpr uint64_t kExitGraceMs = 1000;
constexpr uint64_t kTermGraceMs = 1000;

// The child process itself, apart from its pipes. libuv collects a child's
// exit status only through the exit callback of an open uv_process_t: a
// handle closed before the child exited leaves a zombie for as long as we
// run (one per client of tcp-listen -k --exec). So the handle stays open
// until that callback has run. The endpoint owns this while the session
// runs; if the session ends first, release() hands the ownership to the
// object itself (keep_alive_) until the child has been reaped, with a grace
// period, then SIGTERM, then SIGKILL, so the wait is bounded. Its open
// handles keep the loop, and so the command, running until then.
class ChildProcess : public std::enable_shared_from_this<ChildProcess> {
 public:
  ChildProcess(uv_loop_t* loop, std::function<void(int64_t)> on_exit) : loop_(loop), on_exit_(std::move(on_exit)) {}

  // uv_spawn's status. On failure the handle is still closed (uv_spawn
  // initializes it either way).
  int spawn(uv_process_options_t options) {
    options.exit_cb = &ChildProcess::exited;
    int rc = uv_spawn(loop_, process_.get(), &options);
    process_.mark_initialized(rc < 0 ? nullptr : this);
    return rc;
  }
  int pid() const { return process_->pid; }

  // The endpoint is gone and the child's pipes are closed.
  void release() {
    if (exited_ || !process_.is_open()) return;
    keep_alive_ = shared_from_this();
    try {
      grace_ = make_timer(loop_, this);
    } catch (const RuntimeError&) {
      // No timer: no grace either. The exit callback still reaps the child.
      uv_process_kill(process_.get(), SIGKILL);
      return;
    }
    uv_timer_start(grace_.get(), &ChildProcess::grace_over, kExitGraceMs, 0);
  }

 private:
  static void exited(uv_process_t* p, int64_t status, int signal) {
    auto* raw = static_cast<ChildProcess*>(p->data);
    if (!raw) return;
    // on_exit_ may drop the endpoint, the owner while the session runs (the
    // spawn_child_endpoint contract allows it): without this reference we,
    // and on_exit_ itself while it still runs, would be freed under our feet.
    std::shared_ptr<ChildProcess> self = raw->shared_from_this();
    self->exited_ = true;
    if (self->on_exit_) self->on_exit_(signal ? 128 + signal : status);
    self->grace_.close();
    self->process_.close();  // reaped: closing it now leaves nothing behind
    self->keep_alive_.reset();
    // Let go of ourselves from the next loop turn, not inside our own callback.
    uv_loop_t* loop = self->loop_;
    post(loop, [keep = std::move(self)] {});
  }

  static void grace_over(uv_timer_t* t) {
    auto* self = static_cast<ChildProcess*>(t->data);
    if (!self || self->exited_) return;
    if (!self->terminated_) {
      self->terminated_ = true;
      uv_process_kill(self->process_.get(), SIGTERM);
      uv_timer_start(t, &ChildProcess::grace_over, kTermGraceMs, 0);
      return;
    }
    uv_process_kill(self->process_.get(), SIGKILL);  // cannot be ignored: the exit callback follows
  }

  uv_loop_t* loop_;
  Handle<uv_process_t> process_;
  Handle<uv_timer_t> grace_;
  std::function<void(int64_t)> on_exit_;
  std::shared_ptr<ChildProcess> keep_alive_;  // from release() until the exit callback
  bool exited_ = false;
  bool terminated_ = false;  // SIGTERM sent
};

class ChildEndpoint final : public HalvesEndpoint {
 public:
  ChildEndpoint(uv_loop_t* loop, const std::string& command, bool through_shell,
                std::function<void(int64_t)> on_exit)
      : child_(std::make_shared<ChildProcess>(loop, std::move(on_exit))) {
    std::vector<std::string> argv;
    if (through_shell) {
      argv = {"/bin/sh", "-c", command};
    } else {
      size_t i = 0;
      while (i < command.size()) {
        while (i < command.size() && (command[i] == ' ' || command[i] == '\t')) ++i;
        size_t j = i;
        while (j < command.size() && command[j] != ' ' && command[j] != '\t') ++j;
        if (j > i) argv.push_back(command.substr(i, j - i));
        i = j;
      }
    }
    if (argv.empty()) throw RuntimeError("--exec: empty command");
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);

    if (uv_pipe_init(loop, to_child_.get(), 0) < 0 || uv_pipe_init(loop, from_child_.get(), 0) < 0)
      throw RuntimeError("cannot create pipes for '" + command + "'");
    to_child_.mark_initialized(nullptr);
    from_child_.mark_initialized(nullptr);

    uv_stdio_container_t stdio[3];
    stdio[0].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_READABLE_PIPE);
    stdio[0].data.stream = to_child_.as_stream();
    stdio[1].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
    stdio[1].data.stream = from_child_.as_stream();
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = STDERR_FILENO;

    uv_process_options_t options{};
    options.file = args[0];
    options.args = args.data();
    options.stdio = stdio;
    options.stdio_count = 3;
    if (int rc = child_->spawn(options); rc < 0) throw RuntimeError(uv_message("cannot run '" + command + "'", rc));
    name_ = "child " + std::to_string(child_->pid()) + " (" + command + ")";
    reader_ = make_stream_reader(from_child_.as_stream(), nullptr);
    set_writer(make_stream_writer(to_child_.as_stream(), nullptr, true));
  }
  ~ChildEndpoint() override {
    reader_.reset();
    writer_.reset();
    // Its stdin's EOF (and EPIPE on its stdout) first: most children exit on that.
    to_child_.close();
    from_child_.close();
    child_->release();
  }

 private:
  Handle<uv_pipe_t> to_child_;
  Handle<uv_pipe_t> from_child_;
  std::shared_ptr<ChildProcess> child_;
};

}  // namespace

std::unique_ptr<Endpoint> spawn_child_endpoint(uv_loop_t* loop, const std::string& command, bool through_shell,
                                               std::function<void(int64_t exit_status)> on_exit) {
  return std::make_unique<ChildEndpoint>(loop, command, through_shell, std::move(on_exit));
}

}  // namespace nettool
