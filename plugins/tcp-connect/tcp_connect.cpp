// tcp-connect HOST PORT: nc HOST PORT. Resolve, try each address, then bridge
// stdin/stdout (or a child process with --exec) to the connection, in TLS
// with --tls. PORT is a number or a service name (nc HOST http). -z only
// tests whether the port accepts, or each of several (20-30, 22,80,443) in
// the order given; -z --tls completes a handshake and prints what it found
// (inspect()). HOST may instead be a Unix domain socket, unix:/PATH or
// unix:@NAME (or a bare path with -U, nc -U).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "nettool/bridge.h"
#include "nettool/connect.h"
#include "nettool/counting.h"
#include "nettool/error.h"
#include "nettool/net.h"
#include "nettool/option_groups.h"
#include "nettool/plugin.h"
#include "nettool/tls.h"
#include "nettool/unix.h"

namespace {

using namespace nettool;

constexpr OptionSpec kOwnOptions[] = {
    {"host", 0, OptionType::String, "",
     "host name or address to connect to, or a Unix socket: unix:/PATH, unix:@NAME (abstract)", "HOST", 0, true},
    {.name = "port",
     .type = OptionType::PortList,
     .help = "port number or service name (http); several with --zero: 20-30, 22,80,443; none for a Unix socket",
     .value_name = "PORT",
     .positional = 1,
     .service_protocol = "tcp"},
    {.name = "unix", .short_flag = 'U', .type = OptionType::Bool,
     .help = "HOST is the path of a Unix domain socket (nc -U; @NAME is abstract)"},
    {"zero", 'z', OptionType::Bool, "", "only test whether the port(s) accept connections; report the open ones"},
    {"nodelay", 0, OptionType::Bool, "", "disable Nagle's algorithm (TCP_NODELAY)"},
    {"keepalive", 0, OptionType::Duration, "", "enable TCP keepalive probes after this idle time"},
};
constexpr auto kOptions =
    join_options(kOwnOptions, kConnectOptions, kProxyOptions, kBridgeOptions, kTlsClientOptions, kTapOptions);
// Every option read below goes through opt(): a name not in kOptions does not compile.
consteval std::string_view opt(std::string_view name) { return checked_option<kOptions>(name); }

class TcpConnect final : public Command {
 public:
  explicit TcpConnect(Context& ctx) : ctx_(ctx), opts_(ctx.options()) {}
  ~TcpConnect() override { abort(); }

  void start() override {
    host_ = opts_.get_string(opt("host"));
    unix_ = opts_.get_bool(opt("unix")) ? unix_address_of_path(host_) : parse_unix_address(host_);
    if (unix_) {
      check_unix_options();
      where_ = unix_->to_string();
    } else {
      if (!opts_.has(opt("port")))
        throw ConfigError(missing_port_message("PORT", host_, "HOST PORT, or unix:/PATH for a Unix socket"));
      const PortList& list = opts_.get_port_list(opt("port"));
      ports_text_ = format_ports(list);
      if (port_count(list) > 1 && !opts_.get_bool(opt("zero")))
        throw ConfigError("several ports (" + ports_text_ + ") need --zero");
      // The parser keeps each port once, so this is at most 65536 ports.
      for (const PortRange& r : list)
        for (uint32_t p = r.first; p <= r.last; ++p) ports_.push_back(static_cast<uint16_t>(p));
      if (std::find(ports_.begin(), ports_.end(), 0) != ports_.end()) throw ConfigError("cannot connect to port 0");
      if (strip_brackets(host_).empty()) throw ConfigError("HOST is empty (a host name or an address)");
      where_ = host_ + " port " + std::to_string(ports_.front());
    }
    zero_ = opts_.get_bool(opt("zero"));
    nodelay_ = opts_.get_bool(opt("nodelay"));
    if (opts_.has(opt("keepalive"))) keepalive_ = opts_.get_duration(opt("keepalive"));
    connect_ = connect_options(opts_);
    proxy_ = proxy_options(opts_);
    if (proxy_)
      if (std::string why = proxy_target_error(*proxy_, host_); !why.empty()) throw ConfigError("HOST: " + why);
    if (connect_.timeout.count() == 0 && zero_) connect_.timeout = Duration(5000);  // a filtered port must not stall a scan
    bridge_options_ = bridge_options(opts_);
    TlsClientOptions tls = tls_client_options(opts_);
    if (tls.enabled) {
      if (zero_ && ports_.size() > 1)
        throw ConfigError("-z --tls inspects one port's TLS service; give one port, not " + ports_text_);
      tls.inspect = zero_;
      tls_ = make_tls_client_context(tls, ctx_.log());
    }
    if (!zero_) tap_ = traffic_tap(ctx_, opts_);
    connect_next();
  }

  void shutdown() override {
    if (bridge_) return bridge_->shutdown();
    // A signal before the peer answered: the connection was never made, or
    // the port check never finished, so the run did not do what it was asked
    // (a script's `tcp-connect -z` must not read an interrupted check as open).
    if (!answered_) {
      const std::string peer = unix_ ? where_ : host_ + " port " + std::to_string(ports_[next_]);
      if (inspected_) ctx_.log().error("interrupted during the TLS handshake with {}", peer);  // -z --tls
      else ctx_.log().error("interrupted before {} answered", peer);
      ctx_.set_exit_code(kExitRuntime);
    }
    abort();
  }

  void abort() override {
    if (connector_) connector_->abort();
    connector_.reset();
    if (proxy_connector_) proxy_connector_->abort();
    proxy_connector_.reset();
    inspected_.reset();
    handshake_timer_.close();
    if (bridge_) bridge_->abort(1, "");
    bridge_.reset();
  }

 private:
  // What a Unix socket has no use for is a mistake, not something to ignore.
  void check_unix_options() {
    if (opts_.has(opt("port")))
      throw ConfigError(unix_->to_string() + ": a Unix socket has no PORT (give unix:/PATH alone)");
    for (std::string_view name : {opt("source"), opt("source-port"), opt("nodelay"), opt("keepalive"), opt("proxy")})
      if (opts_.given(name)) throw ConfigError("--" + std::string(name) + " is for TCP, not " + unix_->to_string());
  }

  void connect_next() {
    if (ctx_.shutting_down()) return;  // a -z scan's next port, posted before the signal came
    if (unix_) {
      post(ctx_.loop(), [this] { connect_unix_now(); });  // from the loop, as a TCP connection's result comes
      return;
    }
    const uint16_t port = ports_[next_];
    auto done = [this, port](Handle<uv_tcp_t> socket, const std::string& error) {
      tcp_connected(port, std::move(socket), error);
    };
    if (proxy_) proxy_connector_ = ProxyConnector::start(ctx_.loop(), *proxy_, host_, port, connect_, done);
    else connector_ = TcpConnector::start(ctx_.loop(), host_, port, connect_, done);
  }

  // Straight to the target or through --proxy: the socket reaches the target either way.
  void tcp_connected(uint16_t port, Handle<uv_tcp_t> socket, const std::string& error) {
    if (zero_ && !tls_) return scanned(port, error);
    if (failed_to_connect(error)) return;
    if (proxy_) ctx_.log().debug("{} port {}: tunnel open through {}", host_, port, proxy_->describe());
    if (nodelay_) uv_tcp_nodelay(socket.get(), 1);
    if (keepalive_)
      uv_tcp_keepalive(socket.get(), 1, static_cast<unsigned>(std::max<int64_t>(1, keepalive_->count() / 1000)));
    auto network = make_tcp_endpoint(std::move(socket), socket_counters());
    if (zero_) inspect(std::move(network));
    else connected(std::move(network));
  }

  void connect_unix_now() {
    if (ctx_.shutting_down()) return;  // posted before the signal came
    std::string error;
    Handle<uv_pipe_t> socket = connect_unix(ctx_.loop(), *unix_, error);
    if (zero_ && !tls_) return scanned(0, error);
    if (failed_to_connect(error)) return;
    ctx_.log().debug("{}: the listener is {}", where_, unix_peer_credentials(socket.get()));
    auto network = make_unix_endpoint(std::move(socket), socket_counters(), where_);
    if (zero_) inspect(std::move(network));
    else connected(std::move(network));
  }

  void scanned(uint16_t port, const std::string& error) {
    if (error.empty()) {
      ++open_ports_;
      ctx_.counters().connections++;  // the -v summary counts the open ports
      if (unix_) ctx_.log().info("{} open", where_);
      else ctx_.log().info("{} port {} open", host_, port);
    } else {
      ctx_.log().debug("{}", error);
    }
    // In the order given, one at a time (a Unix socket is one "port").
    if (!unix_ && next_ + 1 < ports_.size() && !ctx_.shutting_down()) {
      ++next_;
      post(ctx_.loop(), [this] { connect_next(); });
      return;
    }
    connector_.reset();
    answered_ = true;
    if (open_ports_ == 0) {
      if (unix_ || ports_.size() == 1) ctx_.log().error("{}", error);
      else ctx_.log().error("no open port in {} on {}", ports_text_, host_);
      ctx_.set_exit_code(kExitRuntime);
    }
  }

  // Reports a failed connection attempt (exit 1); otherwise counts the connection.
  bool failed_to_connect(const std::string& error) {
    if (error.empty()) {
      ctx_.counters().connections++;
      return false;
    }
    answered_ = true;
    ctx_.log().error("{}", error);
    ctx_.set_exit_code(kExitRuntime);
    post(ctx_.loop(), [this] {
      connector_.reset();
      proxy_connector_.reset();
    });
    return true;
  }

  // With --tls the TLS endpoint's bytes are counted (the data), not the socket's (its records).
  Counters* socket_counters() { return tls_ ? nullptr : &ctx_.counters(); }

  // The name the certificate must carry: "[::1]" is the address ::1 (and
  // an address is never sent as SNI).
  std::string tls_peer_host() const { return strip_brackets(host_); }

  void connected(std::unique_ptr<Endpoint> network) {
    answered_ = true;  // from here the session (or its TLS handshake, under -w) decides the exit code
    ctx_.log().debug("connected to {}", network->describe());
    if (tls_) {
      network = make_tls_endpoint(ctx_.loop(), std::move(network), *tls_, tls_peer_host(), &ctx_.log(), false,
                                  [this](const std::string& error, const TlsSession& session) {
                                    handshake_timer_.close();
                                    if (!error.empty()) {
                                      tls_failed_ = true;
                                      ctx_.log().error("tls: {}: {}", where_, error);
                                      ctx_.set_exit_code(kExitRuntime);
                                    } else {
                                      ctx_.log().debug("tls: {}", describe(session));
                                    }
                                  });
      start_handshake_timer([this] {
        if (bridge_) bridge_->abort(kExitRuntime, "");
      });
      network = make_counting_endpoint(std::move(network), &ctx_.counters());
    }

    network = make_tap_endpoint(std::move(network), tap_, 0);  // the decrypted bytes, with --tls
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
                              // A failed handshake has said why already.
                              if (code != 0 && !reason.empty() && !tls_failed_) ctx_.log().error("{}", reason);
                              ctx_.set_exit_code(tls_failed_ ? kExitRuntime : code);
                              bridge_.reset();
                              connector_.reset();
                              proxy_connector_.reset();
                            });
  }

  // -z --tls: one handshake, then what s_client users dig for, on stdout.
  // Exit 0 only when the peer is verified (or matches --tls-pin), so a cron
  // job can watch a certificate's expiry.
  void inspect(std::unique_ptr<Endpoint> network) {
    inspected_ = make_tls_endpoint(ctx_.loop(), std::move(network), *tls_, tls_peer_host(), &ctx_.log(), false,
                                   [this](const std::string& failure, const TlsSession& session) {
                                     handshake_timer_.close();
                                     report(failure, session);
                                     // Say goodbye properly (close_notify, FIN), then let go.
                                     inspected_->end([this](int) { post(ctx_.loop(), [this] { inspected_.reset(); }); });
                                   });
    start_handshake_timer([this] { post(ctx_.loop(), [this] { inspected_.reset(); }); });
    post(ctx_.loop(), [this] {
      connector_.reset();
      proxy_connector_.reset();
    });
  }

  // -w covers the TLS handshake too: a peer that accepts the connection and
  // then says nothing (or too little) is given up on, with nothing of stdin
  // sent, and `give_up` stops the session.
  void start_handshake_timer(std::function<void()> give_up) {
    if (connect_.timeout.count() <= 0) return;
    give_up_ = std::move(give_up);
    handshake_timer_ = make_timer(ctx_.loop(), this);
    uv_timer_start(
        handshake_timer_.get(),
        [](uv_timer_t* t) {
          auto* self = static_cast<TcpConnect*>(t->data);
          if (!self) return;
          self->tls_failed_ = true;
          self->ctx_.log().error("tls: {}: no TLS handshake within {} ms (-w)", self->where_,
                                 self->connect_.timeout.count());
          self->ctx_.set_exit_code(kExitRuntime);
          self->handshake_timer_.close();
          if (self->give_up_) self->give_up_();
        },
        static_cast<uint64_t>(connect_.timeout.count()), 0);
  }

  static std::string days_left_text(int64_t days) {
    return days < 0 ? "expired " + std::to_string(-days) + " days ago" : std::to_string(days) + " days left";
  }

  void report(const std::string& failure, const TlsSession& s) {
    answered_ = true;
    if (!failure.empty()) {
      ctx_.log().error("tls: {}: {}", where_, failure);
      ctx_.set_exit_code(kExitRuntime);
      return;
    }
    std::string out;
    auto line = [&out](const std::string& key, const std::string& value) { out += key + ": " + value + "\n"; };
    line("host", where_);
    line("protocol", s.protocol);
    line("cipher", s.cipher);
    line("group", s.group.empty() ? "-" : s.group);
    line("alpn", s.alpn.empty() ? "-" : s.alpn);
    line("verification", s.verification);
    line("pin", s.peer_pin.empty() ? "-" : s.peer_pin);
    for (size_t i = 0; i < s.chain.size(); ++i) {
      const auto& c = s.chain[i];
      std::string n = "certificate " + std::to_string(i);
      line(n + " subject", c.subject);
      line(n + " issuer", c.issuer);
      line(n + " names", c.names.empty() ? "-" : c.names);
      line(n + " not before", c.not_before);
      line(n + " not after", c.not_after + " (" + days_left_text(c.days_left) + ")");
      line(n + " key", c.key);
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
    if (!s.verified) {
      ctx_.log().error("tls: {}: {}", where_, s.verification);
      ctx_.set_exit_code(kExitRuntime);
    }
  }

  Context& ctx_;
  const OptionValues& opts_;
  std::string host_;
  std::optional<UnixAddress> unix_;  // unix:/PATH, unix:@NAME or -U
  std::string where_;                // "HOST port N" or "unix:/PATH", for messages
  bool zero_ = false;
  bool nodelay_ = false;
  std::optional<Duration> keepalive_;
  TcpConnector::Options connect_;
  BridgeOptions bridge_options_;
  std::vector<uint16_t> ports_;  // in the order given; one unless -z
  std::string ports_text_;       // the list written back, "20-22,80", for messages
  size_t next_ = 0;              // index in ports_ of the port being tried
  int open_ports_ = 0;
  std::shared_ptr<TcpConnector> connector_;
  std::optional<ProxySpec> proxy_;                  // --proxy
  std::shared_ptr<ProxyConnector> proxy_connector_;
  std::shared_ptr<Bridge> bridge_;
  std::shared_ptr<TlsContext> tls_;      // --tls
  std::shared_ptr<TrafficTap> tap_;      // --hex-dump, --output
  bool tls_failed_ = false;
  Handle<uv_timer_t> handshake_timer_;  // -w for the handshake
  std::function<void()> give_up_;       // what the timer does when it fires
  std::unique_ptr<Endpoint> inspected_;  // -z --tls
  bool answered_ = false;                 // the peer's answer is in: the check is done or the session began
};

std::unique_ptr<Command> create(Context& ctx) { return std::make_unique<TcpConnect>(ctx); }

const PluginInfo kInfo{NETTOOL_PLUGIN_ABI,
                       "tcp-connect",
                       "1.0",
                       "connect to HOST PORT and relay stdin/stdout (nc HOST PORT)",
                       "HOST PORT | unix:/PATH",
                       kOptions.data(),
                       kOptions.size(),
                       &create};

}  // namespace

NETTOOL_DEFINE_PLUGIN(kInfo)
