// nettool-hello.so: the smallest useful plugin. `nettool hello --name you`
// writes "hello, you" to stdout through the runtime's stdio endpoint, so a
// pipe, a file or a tty all work, then ends.
#include <nettool/error.h>
#include <nettool/plugin.h>
#include <nettool/uv.h>
#include <spdlog/spdlog.h>

#include <iterator>
#include <memory>
#include <string>

namespace {

using namespace nettool;

constexpr OptionSpec kOptions[] = {
    {"name", 'n', OptionType::String, "world", "who to greet", "NAME"},
};
// Names are read through opt(): a name kOptions lacks does not compile.
consteval std::string_view opt(std::string_view name) { return checked_option<kOptions>(name); }

class Hello : public Command {
 public:
  explicit Hello(Context& ctx) : ctx_(ctx) {}

  void start() override {
    out_ = ctx_.open_stdio(/*read_stdin=*/false, /*write_stdout=*/true);
    out_->on_write_error([this](int status) {
      ctx_.log().error("cannot write to stdout: {}", uv_strerror(status));
      ctx_.set_exit_code(kExitRuntime);
    });
    out_->write(make_chunk("hello, " + ctx_.options().get_string(opt("name")) + "\n"));
    // Once written, close stdout; the loop ends when no handle is left.
    // (Never destroy an endpoint inside its own callback: post() runs later.)
    out_->end([this](int) { post(ctx_.loop(), [this] { out_.reset(); }); });
  }
  void shutdown() override {}
  void abort() override { out_.reset(); }

 private:
  Context& ctx_;
  std::unique_ptr<Endpoint> out_;
};

std::unique_ptr<Command> create(Context& ctx) { return std::make_unique<Hello>(ctx); }

const PluginInfo kInfo{NETTOOL_PLUGIN_ABI, "hello", "1.0", "print a greeting (an example plugin built with the SDK)",
                       "", kOptions, std::size(kOptions), &create};

}  // namespace

NETTOOL_DEFINE_PLUGIN(kInfo)
