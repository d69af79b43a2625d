// tcp-forward [HOST] PORT TARGET_HOST TARGET_PORT: socat's
// `TCP-LISTEN:PORT,fork,reuseaddr TCP:TARGET:PORT`, in one process and one
// event loop. Each accepted client gets its own connection to the target, and
// a Bridge carries the bytes both ways with netcat's half-close rules: the
// client's FIN becomes the target's and the other way round, so a
// request/response protocol works as through socat. The session ends when
// both directions have, on an error either way, or after --idle-timeout.
//
// Either side may speak TLS: --tls (and the other --tls-* server options)
// terminates it from the clients (the target is connected to only after a
// client's handshake has succeeded), --target-tls originates it to the
// target, verified as tcp-connect --tls does. --proxy-protocol sends HAProxy's header
// first, so the target sees the real client. One log line per connection says
// how it went.
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <map>

#include "nettool/bridge.h"
#include "nettool/connect.h"
#include "nettool/counting.h"
#include "nettool/datagram.h"
#include "nettool/error.h"
#include "nettool/listener.h"
#include "nettool/log.h"
#include "nettool/net.h"
#include "nettool/option_groups.h"
#include "nettool/plugin.h"
#include "nettool/tls.h"
#include "nettool/unix.h"
#include "proxy_header.h"

namespace {

using namespace nettool;
using tcp_forward::ProxyVersion;

constexpr OptionSpec kOwnOptions[] = {
    {"host", 0, OptionType::String, "", "address to listen on (default: all, IPv6 and IPv4)", "HOST", 0, false},
    {"port", 0, OptionType::String, "",
     "port to listen on (0 picks a free one, logged), or a Unix socket: unix:/PATH, unix:@NAME (abstract)", "PORT", 1,
     true},
    {"target-host", 0, OptionType::String, "",
     "host every client is forwarded to, or a Unix socket: unix:/PATH, unix:@NAME (then no TARGET_PORT)",
     "TARGET_HOST", 2, true},
    {"target-port", 0, OptionType::String, "", "port every client is forwarded to", "TARGET_PORT", 3, false},
    {.name = "max-clients", .short_flag = 'm', .type = OptionType::Int, .default_value = "1000",
     .help = "refuse clients beyond this many at once", .min = 1},
    {.name = "idle-timeout", .short_flag = 'i', .type = OptionType::Duration,
     .help = "close a forwarded connection when no byte has moved either way for this long", .min = 1},
    {.name = "proxy-protocol", .type = OptionType::String,
     .help = "send HAProxy's PROXY header (v1 text, v2 binary) to the target first, so it sees the real client",
     .value_name = "v1|v2", .choices = "v1|v2"},
    {.name = "target-tls", .type = OptionType::Bool,
     .help = "speak TLS to the target, verified against the system's trust store and TARGET_HOST (any other "
             "--target-tls-* option implies it)"},
    {.name = "target-tls-ca", .type = OptionType::Path,
     .help = "trust these CA certificates for the target (PEM file or hashed directory)", .value_name = "FILE|DIR"},
    {.name = "target-tls-servername", .type = OptionType::String,
     .help = "the name sent in SNI and checked against the target's certificate (default: TARGET_HOST)",
     .value_name = "NAME"},
    {.name = "target-tls-pin", .type = OptionType::String,
     .help = "accept only a target whose public key has this SHA-256 (sha256//BASE64 or hex) instead of checking its "
             "CA and name",
     .value_name = "PIN", .excludes = "target-tls-ca"},
    {.name = "target-tls-no-verify", .type = OptionType::Bool,
     .help = "do not verify the target at all: INSECURE, warns at start", .excludes = "target-tls-pin target-tls-ca"},
};
// kConnectOptions (-4 -6 -n -w -s -p) are the target side's; the listening
// side's address is HOST.
constexpr auto kOptions =
    join_options(kOwnOptions, kUnixModeOptions, kConnectOptions, kProxyOptions, kListenOptions, kTlsServerOptions,
                 kTapOptions);
// Every option read below goes through opt(): a name not in kOptions does not compile.
consteval std::string_view opt(std::string_view name) { return checked_option<kOptions>(name); }

// --target-tls*: tcp-connect's client options under names of their own (the
// plain --tls-* names are the listening side's).
TlsClientOptions target_tls_options(const OptionValues& values) {
  TlsClientOptions o;
  o.enabled = values.get_bool(opt("target-tls"));
  for (std::string_view name : {opt("target-tls-ca"), opt("target-tls-servername"), opt("target-tls-pin"),
                                opt("target-tls-no-verify")})
    if (values.given(name)) o.enabled = true;
  if (values.has(opt("target-tls-ca"))) o.ca = values.get_string(opt("target-tls-ca"));
  if (values.has(opt("target-tls-servername"))) o.servername = values.get_string(opt("target-tls-servername"));
  if (values.has(opt("target-tls-pin"))) {
    o.pin = parse_tls_pin(values.get_string(opt("target-tls-pin")));
    if (!o.pin) throw ConfigError("--target-tls-pin: expected sha256//BASE64 or 64 hex digits");
  }
  o.verify = !values.get_bool(opt("target-tls-no-verify"));
  o.flag_prefix = "--target-tls";
  return o;
}

class TcpForward;

// One client and its connection to the target.
struct Forwarded {
  uint64_t id = 0;
  std::string client;              // "ADDR:PORT"
  sockaddr_storage client_addr{};  // for --proxy-protocol
  sockaddr_storage local_addr{};
  // Before the endpoints that count into them, so that they are destroyed after them.
  Counters client_bytes;  // received = from the client ("up"), sent = to it ("down")
  Counters target_bytes;
  std::unique_ptr<Endpoint> client_end;  // until the target answers; then the Bridge's
  std::shared_ptr<TcpConnector> connector;
  std::shared_ptr<ProxyConnector> proxy_connector;  // --proxy instead
  std::shared_ptr<Bridge> bridge;
  std::string tls_failure;  // why the target's TLS handshake failed, for the log line
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

class TcpForward final : public Command {
 public:
  explicit TcpForward(Context& ctx) : ctx_(ctx), opts_(ctx.options()) {}
  ~TcpForward() override { abort(); }

  void start() override {
    read_addresses();
    max_clients_ = static_cast<size_t>(opts_.get_int(opt("max-clients")));
    if (opts_.has(opt("idle-timeout"))) idle_timeout_ = opts_.get_duration(opt("idle-timeout"));
    if (opts_.has(opt("proxy-protocol")))
      proxy_ = opts_.get_string(opt("proxy-protocol")) == "v1" ? ProxyVersion::V1 : ProxyVersion::V2;
    connect_ = connect_options(opts_);
    target_proxy_ = proxy_options(opts_);
    if (target_proxy_)
      if (std::string why = proxy_target_error(*target_proxy_, target_host_); !why.empty())
        throw ConfigError("TARGET_HOST: " + why);
    listen_ = listen_options(opts_);
    mode_ = unix_mode_option(opts_, listen_unix_);
    raise_descriptor_limit();
    tap_ = traffic_tap(ctx_, opts_);  // the client side: > to the client, < from it
    if (TlsServerOptions tls = tls_server_options(opts_); tls.enabled)
      server_tls_ = make_tls_server_context(tls, ctx_.log());
    if (TlsClientOptions tls = target_tls_options(opts_); tls.enabled) {
      // A Unix socket has no host name: the certificate's name would go unchecked.
      if (target_unix_ && tls.verify && !tls.pin && tls.servername.empty())
        throw ConfigError("--target-tls to " + target_unix_->to_string() +
                          ": no host name to check the certificate against; give --target-tls-servername NAME "
                          "(the name it must carry) or --target-tls-pin");
      target_tls_ = make_tls_client_context(tls, ctx_.log());
    }
    listen();
  }

  // [HOST] PORT TARGET_HOST TARGET_PORT, where PORT may be a Unix socket, and
  // TARGET_HOST TARGET_PORT may be one Unix socket instead. Three words are
  // PORT TARGET_HOST TARGET_PORT unless the last is a Unix socket: then they
  // are HOST PORT unix:TARGET (the schema's positional rule fills PORT
  // TARGET_HOST TARGET_PORT, so they are moved along here).
  // The positional words are strings here (each may be a Unix socket), so
  // the port is read now; the error names which word it was, for a profile
  // (target-port: eighty) as for the command line.

  void read_addresses() {
    std::string port = opts_.get_string(opt("port"));
    std::string target = opts_.get_string(opt("target-host"));
    std::optional<std::string> target_port;
    if (opts_.has(opt("target-port"))) target_port = opts_.get_string(opt("target-port"));
    if (opts_.has(opt("host"))) host_ = opts_.get_string(opt("host"));
    if (target_port && parse_unix_address(*target_port)) {
      if (opts_.has(opt("host")))
        throw ConfigError("unexpected argument '" + *target_port + "' (a Unix socket target takes no TARGET_PORT)");
      host_ = std::exchange(port, std::exchange(target, *std::exchange(target_port, std::nullopt)));
    }
    listen_unix_ = parse_unix_address(port);
    if (listen_unix_) {
      if (!host_.empty()) throw ConfigError(listen_unix_->to_string() + ": a Unix socket has no HOST");
      for (std::string_view name : {opt("allow"), opt("deny")})
        if (opts_.given(name)) throw ConfigError("--" + std::string(name) + " is for TCP, not " + listen_unix_->to_string());
    } else {
      port_ = parse_named_port("PORT", port, "tcp");
    }
    target_unix_ = parse_unix_address(target);
    if (target_unix_) {
      if (target_port) throw ConfigError(target_unix_->to_string() + ": a Unix socket has no TARGET_PORT");
      for (std::string_view name : {opt("source"), opt("source-port"), opt("proxy")})
        if (opts_.given(name))
          throw ConfigError("--" + std::string(name) + " is for a TCP target, not " + target_unix_->to_string());
      target_name_ = target_unix_->to_string();
      return;
    }
    if (!target_port)
      throw ConfigError(missing_port_message("TARGET_PORT", target, "TARGET_HOST TARGET_PORT, or unix:/PATH"));
    if (strip_brackets(target).empty()) throw ConfigError("TARGET_HOST is empty (a host name or an address)");
    target_host_ = target;
    target_port_ = parse_named_port("TARGET_PORT", *target_port, "tcp");  // socat's TCP:HOST:http, nc HOST http
    if (target_port_ == 0) throw ConfigError("TARGET_PORT: 0 is not a port to connect to");
    target_name_ = target_host_ + " port " + std::to_string(target_port_);
  }

  // Stop accepting; the connections in flight go on untouched until they
  // end by themselves (the runtime's --grace timer then calls abort()), as
  // nginx's and HAProxy's soft stop do: half-closing them here would cut off
  // a reply the target has not sent yet.
  void shutdown() override { stop_listening(); }

  void abort() override {
    stop_listening();
    auto all = std::move(sessions_);
    sessions_.clear();
    for (auto& [id, f] : all) {
      if (f->connector) f->connector->abort();
      if (f->proxy_connector) f->proxy_connector->abort();
      if (f->bridge) f->bridge->abort(kExitRuntime, "");
    }
  }

 private:
  // Two descriptors per client at the least: the soft limit (often 1024) is
  // raised to the hard one, as nginx's worker_rlimit_nofile or Go's runtime do.
  void raise_descriptor_limit() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
    rlim_t was = limit.rlim_cur;
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) == 0)
      ctx_.log().debug("descriptors: limit raised from {} to {}", was, limit.rlim_cur);
  }

  // ---- accepting

  void listen() {
    if (listen_unix_) {
      unix_listener_ = std::make_unique<UnixListener>(
          ctx_.loop(), *listen_unix_, mode_, listen_.backlog, ctx_.log(),
          [this](Handle<uv_pipe_t> client) { accepted_unix(std::move(client)); });
      refuse_own_address();
      ctx_.log().info("listening on {}, forwarding to {}", unix_listener_->address(), target_name_);
      return;
    }
    listener_ = std::make_unique<TcpListener>(ctx_.loop(), host_, port_, connect_.resolve, listen_.backlog, ctx_.log(),
                                              [this](Handle<uv_tcp_t> client) { accepted(std::move(client)); });
    refuse_own_address();
    ctx_.log().info("listening on {}, forwarding to {}", listener_->address(), target_name_);
  }

  // A target that is our own listening socket would have each client's
  // connection accepted as a new client, forwarded to us again, and so on
  // up to --max-clients (udp-forward refuses the same). Checked after the
  // bind: PORT 0 is known only then, and a listener on all addresses (no
  // HOST) is reached through any local one (127.0.0.0/8, ::1, the
  // interfaces'). A target name is resolved now for this only, unless -n;
  // if that fails, the clients' own connections will say so. Through
  // --proxy the proxy connects, wherever it is: not checked.
  void refuse_own_address() {
    const std::string refused = "TARGET " + target_name_ + " is this forwarder's own listening address";
    if (listen_unix_ || target_unix_) {
      if (!listen_unix_ || !target_unix_ || listen_unix_->abstract != target_unix_->abstract) return;
      if (listen_unix_->abstract) {
        if (listen_unix_->path == target_unix_->path) throw ConfigError(refused);
        return;
      }
      // The same file, however the two paths are spelt.
      struct stat ours {}, theirs {};
      if (::stat(listen_unix_->path.c_str(), &ours) == 0 && ::stat(target_unix_->path.c_str(), &theirs) == 0 &&
          ours.st_dev == theirs.st_dev && ours.st_ino == theirs.st_ino)
        throw ConfigError(refused);
      return;
    }
    if (target_proxy_) return;
    sockaddr_storage bound = listener_->bound();
    SelfAddresses self(reinterpret_cast<const sockaddr*>(&bound));
    std::vector<sockaddr_storage> addresses(1);
    const std::string host = strip_brackets(target_host_);
    const int family = connect_.resolve.family;
    auto* v4 = reinterpret_cast<sockaddr_in*>(addresses.data());
    auto* v6 = reinterpret_cast<sockaddr_in6*>(addresses.data());
    // An address literal (the usual case) needs no resolver.
    if ((family == AF_INET6 || uv_ip4_addr(host.c_str(), target_port_, v4) != 0) &&
        (family == AF_INET || uv_ip6_addr(host.c_str(), target_port_, v6) != 0)) {
      try {
        addresses = resolve_now(host, target_port_, connect_.resolve);
      } catch (const RuntimeError&) {
        return;
      }
    }
    for (const sockaddr_storage& a : addresses)
      if (self.is_self(reinterpret_cast<const sockaddr*>(&a))) throw ConfigError(refused);
  }

  void stop_listening() {
    if (listener_) listener_->close();
    if (unix_listener_) unix_listener_->close();  // and removes its socket file
  }

  void accepted(Handle<uv_tcp_t> socket) {
    auto f = std::make_shared<Forwarded>();
    int len = sizeof f->client_addr;
    uv_tcp_getpeername(socket.get(), reinterpret_cast<sockaddr*>(&f->client_addr), &len);
    len = sizeof f->local_addr;
    uv_tcp_getsockname(socket.get(), reinterpret_cast<sockaddr*>(&f->local_addr), &len);
    const sockaddr* peer = reinterpret_cast<const sockaddr*>(&f->client_addr);
    f->client = format_address(peer);
    if (!listen_.admits(peer)) {
      ctx_.log().info("refused {}: not allowed by --allow/--deny", f->client);
      return;
    }
    uv_tcp_nodelay(socket.get(), 1);  // pass small writes on at once, as they came
    admit(std::move(f), [&](Counters* counters) { return make_tcp_endpoint(std::move(socket), counters); });
  }

  // A Unix socket's client has no address: the PROXY header says UNKNOWN (v1)
  // or LOCAL (v2), and the log names the socket and the client's credentials.
  void accepted_unix(Handle<uv_pipe_t> socket) {
    auto f = std::make_shared<Forwarded>();
    f->client = listen_unix_->to_string() + " client";
    if (std::string creds = unix_peer_credentials(socket.get()); !creds.empty()) f->client += " (" + creds + ")";
    std::string name = f->client;
    admit(std::move(f),
          [&](Counters* counters) { return make_unix_endpoint(std::move(socket), counters, std::move(name)); });
  }

  // Every client from here on, whatever socket it came in on.
  void admit(std::shared_ptr<Forwarded> f, const std::function<std::unique_ptr<Endpoint>(Counters*)>& endpoint_of) {
    if (sessions_.size() >= max_clients_) {
      ctx_.log().warn("refused {}: --max-clients {} reached", f->client, max_clients_);
      return;
    }
    ctx_.counters().connections++;
    f->id = next_id_++;
    // With TLS on the client's side, its decrypted bytes are counted, not the records.
    f->client_end = endpoint_of(server_tls_ ? nullptr : &f->client_bytes);
    if (server_tls_) {
      // The target is connected to only once the client's handshake has
      // succeeded (with --tls-client-ca: its certificate too), as stunnel
      // does: a port scan, a plain-text client, a client without the
      // certificate or a failed handshake never reaches the target, nor
      // makes it read a PROXY header.
      uint64_t id = f->id;
      f->client_end = make_tls_endpoint(ctx_.loop(), std::move(f->client_end), *server_tls_, "", &ctx_.log(), false,
                                        [this, id](const std::string& error, const TlsSession& session) {
                                          auto it = sessions_.find(id);
                                          if (it == sessions_.end()) return;
                                          if (!error.empty()) return finish(*it->second, "tls: " + error);
                                          ctx_.log().debug("{}: tls: {}", it->second->client, describe(session));
                                          connect_target(it->second);
                                        });
      f->client_end = make_counting_endpoint(std::move(f->client_end), &f->client_bytes);
    }
    f->client_end = make_tap_endpoint(std::move(f->client_end), tap_, f->id);
    sessions_[f->id] = f;
    // In the clear, at once: nothing to wait for.
    if (!server_tls_) connect_target(f);
  }

  // Starts this client's connection to the target; target_connected() goes on.
  void connect_target(const std::shared_ptr<Forwarded>& f) {
    // The client's bytes wait until the target answers: in the kernel, or
    // with --tls up to 256 KiB in the TLS endpoint, which then stops reading.
    std::weak_ptr<Forwarded> weak = f;
    if (target_unix_) {
      // connect(2) on a Unix socket answers at once; the result is taken
      // from the loop, as a TCP connection's is.
      post(ctx_.loop(), [this, weak] {
        auto f = weak.lock();
        if (!f) return;
        std::string error;
        Handle<uv_pipe_t> socket = connect_unix(ctx_.loop(), *target_unix_, error);
        if (!error.empty()) return target_connected(*f, nullptr, error);
        target_connected(*f, make_unix_endpoint(std::move(socket), &f->target_bytes, target_name_), "");
      });
      return;
    }
    auto done = [this, weak](Handle<uv_tcp_t> target, const std::string& error) {
      auto f = weak.lock();
      if (!f) return;
      // Not from inside their own callback.
      post(ctx_.loop(), [connector = std::move(f->connector), proxy_connector = std::move(f->proxy_connector)] {});
      if (!error.empty()) return target_connected(*f, nullptr, error);
      uv_tcp_nodelay(target.get(), 1);
      target_connected(*f, make_tcp_endpoint(std::move(target), &f->target_bytes), "");
    };
    if (target_proxy_)
      f->proxy_connector =
          ProxyConnector::start(ctx_.loop(), *target_proxy_, target_host_, target_port_, connect_, done);
    else f->connector = TcpConnector::start(ctx_.loop(), target_host_, target_port_, connect_, done);
  }

  // ---- one forwarded connection

  void target_connected(Forwarded& f, std::unique_ptr<Endpoint> target, const std::string& error) {
    if (!error.empty()) {
      finish(f, "target unreachable: " + error);
      return;
    }
    // The PROXY header goes in the clear, before any TLS record: nginx
    // (`proxy_protocol ssl`) and HAProxy read it off the socket first.
    if (proxy_ != ProxyVersion::None)
      target->write(make_chunk(tcp_forward::proxy_header(proxy_, reinterpret_cast<const sockaddr*>(&f.client_addr),
                                                         reinterpret_cast<const sockaddr*>(&f.local_addr))));
    if (target_tls_) {
      uint64_t id = f.id;
      try {
        target = make_tls_endpoint(ctx_.loop(), std::move(target), *target_tls_, strip_brackets(target_host_),
                                   &ctx_.log(), false, [this, id](const std::string& error, const TlsSession& session) {
                                     auto it = sessions_.find(id);
                                     if (it == sessions_.end()) return;
                                     if (!error.empty()) it->second->tls_failure = "target tls: " + error;
                                     else ctx_.log().debug("{}: target tls: {}", it->second->client, describe(session));
                                   });
      } catch (const RuntimeError& e) {
        // Only this client's session fails; the forwarder goes on.
        finish(f, std::string("target ") + e.what());
        return;
      }
    }
    Bridge::Policy policy;
    policy.half_close = true;     // a client's FIN is passed on to the target, and back
    policy.wait_for_both = true;  // and the session lasts until both directions have ended
    policy.idle_timeout = idle_timeout_;
    policy.log = &ctx_.log();
    uint64_t id = f.id;
    f.bridge = Bridge::start(ctx_.loop(), std::move(f.client_end), std::move(target), policy,
                             [this, id](int code, const std::string& reason) {
                               auto it = sessions_.find(id);
                               if (it == sessions_.end()) return;
                               Forwarded& s = *it->second;
                               finish(s, !s.tls_failure.empty() ? s.tls_failure : code == 0 ? "" : reason);
                             });
  }

  // The session's one log line, then it is forgotten (after the callbacks
  // that led here have returned).
  void finish(Forwarded& f, const std::string& how) {
    uint64_t up = f.client_bytes.bytes_received, down = f.client_bytes.bytes_sent;
    ctx_.counters().bytes_received += up;
    ctx_.counters().bytes_sent += down;
    std::string line = fmt::format("{} -> {}: {} B up, {} B down, {}", f.client, target_name_, up, down,
                                   log_duration(std::chrono::steady_clock::now() - f.started));
    if (how.empty()) ctx_.log().info("{}, closed", line);
    else ctx_.log().warn("{}, {}", line, how);
    uint64_t id = f.id;
    post(ctx_.loop(), [this, id] { sessions_.erase(id); });
  }

  Context& ctx_;
  const OptionValues& opts_;
  std::string host_;
  uint16_t port_ = 0;
  std::optional<UnixAddress> listen_unix_;  // PORT was unix:/PATH or unix:@NAME
  std::optional<mode_t> mode_;               // --mode for its file
  std::string target_host_;
  uint16_t target_port_ = 0;
  std::optional<UnixAddress> target_unix_;  // the target is a Unix socket
  std::string target_name_;                 // "HOST port N" or "unix:/PATH", for the log
  size_t max_clients_ = 1000;
  Duration idle_timeout_{0};
  ProxyVersion proxy_ = ProxyVersion::None;
  TcpConnector::Options connect_;
  std::optional<ProxySpec> target_proxy_;  // --proxy: the target is reached through it
  ListenOptions listen_;
  std::shared_ptr<TlsContext> server_tls_;  // --tls: clients speak TLS to us
  std::shared_ptr<TlsContext> target_tls_;  // --target-tls: we speak TLS to the target
  std::shared_ptr<TrafficTap> tap_;         // --hex-dump, --output: the client side's bytes
  std::unique_ptr<TcpListener> listener_;
  std::unique_ptr<UnixListener> unix_listener_;
  std::map<uint64_t, std::shared_ptr<Forwarded>> sessions_;
  uint64_t next_id_ = 1;
};

std::unique_ptr<Command> create(Context& ctx) { return std::make_unique<TcpForward>(ctx); }

const PluginInfo kInfo{NETTOOL_PLUGIN_ABI,
                       "tcp-forward",
                       "1.0",
                       "forward every client of [HOST] PORT to TARGET_HOST TARGET_PORT (socat TCP-LISTEN,fork TCP:)",
                       "[HOST] PORT TARGET_HOST TARGET_PORT (PORT, TARGET_HOST TARGET_PORT: or unix:/PATH)",
                       kOptions.data(),
                       kOptions.size(),
                       &create};

}  // namespace

NETTOOL_DEFINE_PLUGIN(kInfo)
