// tcp-connect HOST PORT: nc HOST PORT. Resolve, try each address, then bridge
// stdin/stdout (or a child process with --exec) to the connection.
#include <spdlog/spdlog.h>

#include "nettool/bridge.h"
#include "nettool/connect.h"
#include "nettool/error.h"
#include "nettool/plugin.h"

namespace {

using namespace nettool;

constexpr OptionSpec kOptions[] = {
    {"host", 0, OptionType::String, "", "host name or address to connect to", "HOST", 0, true},
    {"port", 0, OptionType::PortRange, "", "port (a range like 20-30 with --zero)", "PORT", 1, true},
    {"ipv4", '4', OptionType::Bool, "", "use IPv4 addresses only"},
    {"ipv6", '6', OptionType::Bool, "", "use IPv6 addresses only"},
    {"numeric", 'n', OptionType::Bool, "", "do not resolve names (HOST must be an address)"},
    {"timeout", 'w', OptionType::Duration, "", "give up a connection attempt after this long (per address)"},
    {"idle-timeout", 'i', OptionType::Duration, "", "close after this long with no data either way"},
    {"source", 's', OptionType::String, "", "local address to connect from", "ADDR"},
    {"source-port", 'p', OptionType::Port, "", "local port to connect from"},
    {"half-close", 'N', OptionType::Bool, "true",
     "on stdin EOF shut down the sending side and keep reading (--no-half-close keeps it open)"},
    {"wait-stdin", 0, OptionType::Bool, "",
     "when the peer closes first, keep sending stdin until its EOF (default: yes unless stdin is a terminal; "
     "--no-wait-stdin ends the session with the peer)"},
    {"send-only", 0, OptionType::Bool, "", "only send stdin; discard what arrives; exit after stdin EOF"},
    {"recv-only", 'd', OptionType::Bool, "", "do not read stdin; print what arrives until the peer closes"},
    {"zero", 'z', OptionType::Bool, "", "only test whether the port(s) accept connections; report the open ones"},
    {"nodelay", 0, OptionType::Bool, "", "disable Nagle's algorithm (TCP_NODELAY)"},
    {"keepalive", 0, OptionType::Duration, "", "enable TCP keepalive probes after this idle time"},
    {"crlf", 'C', OptionType::Bool, "", "send line endings as CRLF"},
    {"exec", 'e', OptionType::String, "", "run CMD with its stdin/stdout connected to the socket", "CMD"},
    {"sh-exec", 0, OptionType::String, "", "like --exec, but run CMD through /bin/sh -c", "CMD"},
};

class TcpConnect final : public Command {
 public:
  explicit TcpConnect(Context& ctx) : ctx_(ctx), opts_(ctx.options()) {}
  ~TcpConnect() override { abort(); }

  void start() override {
    if (opts_.get_bool("ipv4") && opts_.get_bool("ipv6")) throw ConfigError("-4 and -6 exclude each other");
    if (opts_.get_bool("send-only") && opts_.get_bool("recv-only"))
      throw ConfigError("--send-only and --recv-only exclude each other");
    if (opts_.has("exec") && opts_.has("sh-exec")) throw ConfigError("--exec and --sh-exec exclude each other");
    range_ = opts_.get_port_range("port");
    if (range_.first != range_.last && !opts_.get_bool("zero"))
      throw ConfigError("a port range (" + std::to_string(range_.first) + "-" + std::to_string(range_.last) +
                        ") needs --zero");
    if (range_.first == 0) throw ConfigError("cannot connect to port 0");
    next_port_ = range_.first;
    connect_next();
  }

  void shutdown() override {
    if (bridge_) bridge_->finish_sending();
    else abort();
  }

  void abort() override {
    if (connector_) connector_->cancel();
    connector_.reset();
    if (bridge_) bridge_->close(1, "");
    bridge_.reset();
  }

 private:
  TcpConnector::Options connector_options() const {
    TcpConnector::Options o;
    o.resolve.family = opts_.get_bool("ipv4") ? AF_INET : opts_.get_bool("ipv6") ? AF_INET6 : AF_UNSPEC;
    o.resolve.numeric_only = opts_.get_bool("numeric");
    if (opts_.has("timeout")) o.timeout = opts_.get_duration("timeout");
    else if (opts_.get_bool("zero")) o.timeout = Duration(5000);  // a filtered port must not stall a scan
    if (opts_.has("source") && !opts_.get_string("source").empty()) o.source_host = opts_.get_string("source");
    if (opts_.has("source-port")) o.source_port = opts_.get_port("source-port");
    return o;
  }

  void connect_next() {
    uint16_t port = next_port_;
    connector_ = TcpConnector::start(ctx_.loop(), opts_.get_string("host"), port, connector_options(),
                                     [this, port](Handle<uv_tcp_t> socket, const std::string& error) {
                                       if (opts_.get_bool("zero")) scanned(port, error);
                                       else connected(std::move(socket), error);
                                     });
  }

  void scanned(uint16_t port, const std::string& error) {
    if (error.empty()) {
      ++open_ports_;
      ctx_.log().info("{} port {} open", opts_.get_string("host"), port);
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
      else ctx_.log().error("no open port in {}-{} on {}", range_.first, range_.last, opts_.get_string("host"));
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
    if (opts_.get_bool("nodelay")) uv_tcp_nodelay(socket.get(), 1);
    if (opts_.has("keepalive"))
      uv_tcp_keepalive(socket.get(), 1, static_cast<unsigned>(std::max<int64_t>(1, opts_.get_duration("keepalive").count() / 1000)));
    auto network = make_tcp_endpoint(std::move(socket), &ctx_.counters());
    ctx_.log().debug("connected to {}", network->describe());

    Bridge::Policy policy;
    policy.half_close = opts_.get_bool("half-close");
    policy.send_only = opts_.get_bool("send-only");
    policy.recv_only = opts_.get_bool("recv-only");
    policy.wait_for_both = wait_for_stdin(opts_);
    if (opts_.has("idle-timeout")) policy.idle_timeout = opts_.get_duration("idle-timeout");
    if (opts_.get_bool("crlf")) policy.to_network = make_crlf_transform();
    policy.log = &ctx_.log();

    std::unique_ptr<Endpoint> local;
    try {
      if (opts_.has("exec") || opts_.has("sh-exec")) {
        bool shell = opts_.has("sh-exec");
        local = spawn_child_endpoint(ctx_.loop(), opts_.get_string(shell ? "sh-exec" : "exec"), shell,
                                     [this](int64_t status) { ctx_.log().debug("child exited with status {}", status); });
        policy.wait_for_both = true;
        policy.half_close = true;
      } else {
        local = ctx_.open_stdio(!policy.recv_only, !policy.send_only);
      }
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
                       kOptions,
                       std::size(kOptions),
                       &create};

}  // namespace

NETTOOL_DEFINE_PLUGIN(kInfo)
