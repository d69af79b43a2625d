// The plugin contract. A plugin is a shared module nettool-<name>.so that
// exports one C function, nettool_plugin_entry(), returning a descriptor. The
// front end reads abi_version first (a plain integer at a fixed place) and
// refuses the module if it differs from NETTOOL_PLUGIN_ABI (abi.h); only then does it
// touch the C++ parts, which is why everything after it may change with the ABI.
#pragma once
#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>

#include "nettool/abi.h"
#include "nettool/options.h"
#include "nettool/stream.h"

namespace spdlog {
class logger;
}

#define NETTOOL_PLUGIN_ENTRY "nettool_plugin_entry"

namespace nettool {

// Totals the front end prints with -v at exit.
struct Counters {
  uint64_t bytes_sent = 0;      // to the network
  uint64_t bytes_received = 0;  // from the network
  uint64_t connections = 0;
};

class Context {
 public:
  Context(uv_loop_t* loop, std::shared_ptr<spdlog::logger> log, const OptionValues& options)
      : loop_(loop), log_(std::move(log)), options_(options) {}

  uv_loop_t* loop() const { return loop_; }
  spdlog::logger& log() const { return *log_; }
  const OptionValues& options() const { return options_; }
  Counters& counters() { return counters_; }

  // stdin/stdout as one endpoint (see make_stdio_endpoint).
  std::unique_ptr<Endpoint> open_stdio(bool read_stdin = true, bool write_stdout = true) const {
    return make_stdio_endpoint(loop_, read_stdin, write_stdout);
  }

  // Records the process exit code; the first failure wins over later ones.
  void set_exit_code(int code) {
    if (exit_code_ == 0) exit_code_ = code;
  }
  int exit_code() const { return exit_code_; }

  // True after SIGINT/SIGTERM asked for a graceful stop.
  bool shutting_down() const { return shutting_down_; }
  void mark_shutting_down() { shutting_down_ = true; }

 private:
  uv_loop_t* loop_;
  std::shared_ptr<spdlog::logger> log_;
  const OptionValues& options_;
  Counters counters_;
  int exit_code_ = 0;
  bool shutting_down_ = false;
};

// What a plugin runs. The loop ends when the command has no open handles left;
// the command's destructor must close every handle it still has.
// Callbacks from libuv must not throw: report failures with
// ctx.log().error(...) and ctx.set_exit_code(kExitRuntime), then close handles.
class Command {
 public:
  virtual ~Command() = default;
  // Called once before the loop runs. May throw ConfigError (exit 2) or
  // RuntimeError (exit 1).
  virtual void start() = 0;
  // First SIGINT/SIGTERM: stop accepting new work, let transfers in flight finish.
  virtual void shutdown() = 0;
  // The grace period ran out, or a second signal: close everything now.
  virtual void abort() = 0;
};

struct PluginInfo {
  uint32_t abi_version;  // must stay the first member
  const char* name;
  const char* version;
  const char* summary;
  const char* usage;  // positional part of the usage line, e.g. "HOST PORT"
  const OptionSpec* options;
  size_t option_count;
  std::unique_ptr<Command> (*create)(Context& ctx);

  Schema schema() const { return Schema(options, option_count); }
};

}  // namespace nettool

extern "C" {
using nettool_plugin_entry_fn = const nettool::PluginInfo* (*)();
}

// Use once in a plugin: NETTOOL_DEFINE_PLUGIN(info) where info is a PluginInfo.
#define NETTOOL_DEFINE_PLUGIN(info) \
  extern "C" __attribute__((visibility("default"))) const nettool::PluginInfo* nettool_plugin_entry() { return &(info); }
