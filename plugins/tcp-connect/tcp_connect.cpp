// tcp-connect HOST PORT: nc HOST PORT. Resolve, try each address, then bridge
// stdin/stdout (or a child process with --exec) to the connection.
#include <spdlog/spdlog.h>

#include "nettool/bridge.h"
#include "nettool/connect.h"
#include "nettool/error.h"
#include "nettool/option_groups.h"
#include "nettool/plugin.h"

namespace {

using namespace nettool;

constexpr OptionSpec kOwnOptions[] = {
    {"host", 0, OptionType::String, "", "host name or address to connect to", "HOST", 0, true},
    {"port", 0, OptionType::PortRange, "", "port (a range like 20-30 with --zero)", "PORT", 1, true},
    {"zero", 'z', OptionType::Bool, "", "only test whether the port(s) accept connections; report the open ones"},
    {"nodelay", 0, OptionType::Bool, "", "disable Nagle's algorithm (TCP_NODELAY)"},
    {"keepalive", 0, OptionType::Duration, "", "enable TCP keepalive probes after this idle time"},
};
constexpr auto kOptions = join_options(kOwnOptions, kConnectOptions, kBridgeOptions);
// Every option read below goes through opt(): a name not in kOptions does not compile.
consteval std::string_view opt(std::string_view name) { return checked_option<kOptions>(name); }

class TcpConnect final : public Command {
 public:
  explicit TcpConnect(Context& ctx) : ctx_(ctx), opts_(ctx.options()) {}
  ~TcpConnect() override { abort(); }

  void start() override {
    range_ = opts_.get_port_range(opt("port"));
    if (range_.first != range_.last && !opts_.get_bool(opt("zero")))
      throw ConfigError("a port range (" + std::to_string(range_.first) + "-" + std::to_string(range_.last) +
                        ") needs --zero");
    if (range_.first == 0) throw ConfigError("cannot connect to port 0");
    host_ = opts_.get_string(opt("host"));
    zero_ = opts_.get_bool(opt("zero"));
    nodelay_ = opts_.get_bool(opt("nodelay"));
    if (opts_.has(opt("keepalive"))) keepalive_ = opts_.get_duration(opt("keepalive"));
    connect_ = connect_options(opts_);
    if (connect_.timeout.count() == 0 && zero_) connect_.timeout = Duration(5000);  // a filtered port must not stall a scan
    bridge_options_ = bridge_options(opts_);
    next_port_ = range_.first;
    connect_next();
  }

  void shutdown() override {
    if (bridge_) bridge_->shutdown();
    else abort();
  }

  void abort() override {
    if (connector_) connector_->abort();
    connector_.reset();
    if (bridge_) bridge_->abort(1, "");
    bridge_.reset();
  }

 private:
  void connect_next() {
    uint16_t port = next_port_;
    connector_ = TcpConnector::start(ctx_.loop(), host_, port, connect_,
                                     [this, port](Handle<uv_tcp_t> socket, const std::string& error) {
                                       if (zero_) scanned(port, error);
                                       else connected(std::move(socket), error);
                                     });
  }

  void scanned(uint16_t port, const std::string& error) {
    if (error.empty()) {
      ++open_ports_;
      ctx_.log().info("{} port {} open", host_, port);
    } else {
      ctx_.log().debug("{}", error);
    }
    if (port < range_.last && !ctx_.shutting_down()) {
      next_port_ = static_cast<uint16_t>(port + 1);
      post(ctx_.loop(), [this] { connect_next(); });
      return;
    }
    connector_.reset();
    if (open_ports_ == 0) {
      if (range_.first == range_.last) ctx_.log().error("{}", error);
      else ctx_.log().error("no open port in {}-{} on {}", range_.first, range_.last, host_);
      ctx_.set_exit_code(kExitRuntime);
    }
  }

  void connected(Handle<uv_tcp_t> socket, const std::string& error) {
    if (!error.empty()) {
      ctx_.log().error("{}", error);
      ctx_.set_exit_code(kExitRuntime);
      post(ctx_.loop(), [this] { connector_.reset(); });
      return;
    }
    ctx_.counters().connections++;
    if (nodelay_) uv_tcp_nodelay(socket.get(), 1);
    if (keepalive_)
      uv_tcp_keepalive(socket.get(), 1, static_cast<unsigned>(std::max<int64_t>(1, keepalive_->count() / 1000)));
    auto network = make_tcp_endpoint(std::move(socket), &ctx_.counters());
    ctx_.log().debug("connected to {}", network->describe());

    Bridge::Policy policy = bridge_options_.policy(&ctx_.log());
    std::unique_ptr<Endpoint> local;
    try {
      local = bridge_options_.open_local(ctx_, policy);
    } catch (const RuntimeError& e) {
      ctx_.log().error("{}", e.what());
      ctx_.set_exit_code(kExitRuntime);
      return;
    }
    bridge_ = Bridge::start(ctx_.loop(), std::move(network), std::move(local), policy,
                            [this](int code, const std::string& reason) {
                              if (code != 0 && !reason.empty()) ctx_.log().error("{}", reason);
                              ctx_.set_exit_code(code);
                              bridge_.reset();
                              connector_.reset();
                            });
  }

  Context& ctx_;
  const OptionValues& opts_;
  std::string host_;
  bool zero_ = false;
  bool nodelay_ = false;
  std::optional<Duration> keepalive_;
  TcpConnector::Options connect_;
  BridgeOptions bridge_options_;
  PortRange range_;
  uint16_t next_port_ = 0;
  int open_ports_ = 0;
  std::shared_ptr<TcpConnector> connector_;
  std::shared_ptr<Bridge> bridge_;
};

std::unique_ptr<Command> create(Context& ctx) { return std::make_unique<TcpConnect>(ctx); }

const PluginInfo kInfo{NETTOOL_PLUGIN_ABI,
                       "tcp-connect",
                       "1.0",
                       "connect to HOST PORT and relay stdin/stdout (nc HOST PORT)",
                       "HOST PORT",
                       kOptions.data(),
                       kOptions.size(),
                       &create};

}  // namespace

NETTOOL_DEFINE_PLUGIN(kInfo)
