// A child process (--exec, --sh-exec) as an Endpoint: its stdin and stdout
// are pipes to us, its stderr is ours.
#include "endpoint_halves.h"

#include <unistd.h>

#include <csignal>
#include <vector>

#include "nettool/error.h"

namespace nettool {

namespace {

class ChildEndpoint final : public HalvesEndpoint {
 public:
  ChildEndpoint(uv_loop_t* loop, const std::string& command, bool through_shell,
                std::function<void(int64_t)> on_exit)
      : on_exit_(std::move(on_exit)) {
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
    options.exit_cb = [](uv_process_t* p, int64_t status, int signal) {
      auto* self = static_cast<ChildEndpoint*>(p->data);
      if (!self) return;
      self->exited_ = true;
      if (self->on_exit_) self->on_exit_(signal ? 128 + signal : status);
    };
    int rc = uv_spawn(loop, process_.get(), &options);
    if (rc < 0) {
      // uv_spawn initializes the handle even on failure; it must still be closed.
      process_.mark_initialized(nullptr);
      throw RuntimeError(uv_message("cannot run '" + command + "'", rc));
    }
    process_.mark_initialized(this);
    name_ = "child " + std::to_string(process_->pid) + " (" + command + ")";
    reader_ = make_stream_reader(from_child_.as_stream(), nullptr);
    set_writer(make_stream_writer(to_child_.as_stream(), nullptr, true));
  }
  ~ChildEndpoint() override {
    reader_.reset();
    writer_.reset();
    if (!exited_ && process_.is_open()) uv_process_kill(process_.get(), SIGTERM);
  }

 private:
  Handle<uv_pipe_t> to_child_;
  Handle<uv_pipe_t> from_child_;
  Handle<uv_process_t> process_;
  std::function<void(int64_t)> on_exit_;
  bool exited_ = false;
};

}  // namespace

std::unique_ptr<Endpoint> spawn_child_endpoint(uv_loop_t* loop, const std::string& command, bool through_shell,
                                               std::function<void(int64_t exit_status)> on_exit) {
  return std::make_unique<ChildEndpoint>(loop, command, through_shell, std::move(on_exit));
}

}  // namespace nettool
