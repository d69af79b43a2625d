// tcp-listen [HOST] PORT: nc -l and ncat's listen modes.
//   default       one client, bridged to stdin/stdout like tcp-connect, then exit
//   -k            clients concurrently: their input to stdout, stdin to all of them
//   --echo        each client gets its own bytes back
//   --broker      each client's bytes go to every other client (chat)
//   --exec CMD    each client talks to its own child process
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>

#include "nettool/bridge.h"
#include "nettool/connect.h"
#include "nettool/counting.h"
#include "nettool/error.h"
#include "nettool/listener.h"
#include "nettool/net.h"
#include "nettool/option_groups.h"
#include "nettool/plugin.h"
#include "nettool/tls.h"
#include "nettool/unix.h"

namespace {

using namespace nettool;

constexpr OptionSpec kOwnOptions[] = {
    {"host", 's', OptionType::String, "", "address to listen on (default: all, IPv6 and IPv4; -s as in nc -l -s)",
     "HOST", 0, false},
    {"port", 'p', OptionType::String, "",
     "port to listen on (0 picks a free one, logged), or a Unix socket: unix:/PATH, unix:@NAME (abstract)", "PORT", 1,
     true},
    {.name = "unix", .short_flag = 'U', .type = OptionType::Bool,
     .help = "PORT is the path of a Unix domain socket (nc -lU; @NAME is abstract)"},
    {.name = "keep-open", .short_flag = 'k', .type = OptionType::Bool,
     .help = "serve clients concurrently; keep listening after they leave"},
    {.name = "broker", .short_flag = 'b', .type = OptionType::Bool,
     .help = "relay each client's data to all other clients (implies -k)", .excludes = "echo exec sh-exec"},
    {.name = "echo", .type = OptionType::Bool, .help = "send each client its own data back", .excludes = "exec sh-exec"},
    {.name = "max-clients", .short_flag = 'm', .type = OptionType::Int, .default_value = "100",
     .help = "refuse clients beyond this many at once", .min = 1},
    {"nodelay", 0, OptionType::Bool, "", "disable Nagle's algorithm (TCP_NODELAY)"},
};
// The bridge group serves the one-client and --exec modes; in -k mode
// --idle-timeout, --recv-only and --crlf apply too.
constexpr auto kOptions =
    join_options(kOwnOptions, kUnixModeOptions, kAddressFamilyOptions, kListenOptions, kBridgeOptions,
                 kTlsServerOptions, kTapOptions, kNcListenLetter);
// Every option read below goes through opt(): a name not in kOptions does not compile.
consteval std::string_view opt(std::string_view name) { return checked_option<kOptions>(name); }

class TcpListen;

// One client in the -k, --echo and --broker modes.
struct Client {
  TcpListen* owner = nullptr;
  uint64_t id = 0;
  std::unique_ptr<Endpoint> net;
  std::shared_ptr<Relay> relay;  // client -> stdout / itself / the others
  Handle<uv_timer_t> idle;
  bool leaving = false;
};

class TcpListen final : public Command {
 public:
  explicit TcpListen(Context& ctx) : ctx_(ctx), opts_(ctx.options()) {}
  ~TcpListen() override { abort(); }

  void start() override {
    if (opts_.has(opt("host"))) host_ = opts_.get_string(opt("host"));
    std::string port = opts_.get_string(opt("port"));
    unix_ = opts_.get_bool(opt("unix")) ? unix_address_of_path(port) : parse_unix_address(port);
    if (unix_) check_unix_options();
    else port_ = parse_named_port("PORT", port, "tcp");  // a service name too, as tcp-connect takes
    mode_ = unix_mode_option(opts_, unix_);
    echo_ = opts_.get_bool(opt("echo"));
    broker_ = opts_.get_bool(opt("broker"));
    keep_open_ = opts_.get_bool(opt("keep-open")) || broker_;
    max_clients_ = static_cast<size_t>(opts_.get_int(opt("max-clients")));
    nodelay_ = opts_.get_bool(opt("nodelay"));
    family_ = address_family_options(opts_);
    listen_ = listen_options(opts_);
    bridge_options_ = bridge_options(opts_);
    if (TlsServerOptions tls = tls_server_options(opts_); tls.enabled) tls_ = make_tls_server_context(tls, ctx_.log());
    tap_ = traffic_tap(ctx_, opts_);
    listen();
    if (keep_open_ && !broker_ && !echo_ && !bridge_options_.exec) start_shared_stdio();
  }

  void shutdown() override {
    stop_listening();
    if (stdin_relay_) stdin_relay_->stop();
    handshaking_.clear();  // no session yet: nothing in flight to finish
    if (bridge_) bridge_->shutdown();
    for (auto& [bid, b] : bridges_) b->shutdown();
    // -k, --echo, --broker: what is queued for each client is sent, then the
    // client is closed. (Single-client and --exec modes let the peer finish.)
    for (auto& [id, c] : clients_) leave(*c, /*flush=*/true);
  }

  void abort() override {
    stop_listening();
    if (stdin_relay_) stdin_relay_->stop();
    stdin_relay_.reset();
    for (auto& [id, c] : clients_)
      if (c->relay) c->relay->stop();
    clients_.clear();
    handshaking_.clear();
    bridges_.clear();
    bridge_.reset();
    stdio_.reset();
  }

 private:
  // ---- listening ----

  // What a Unix socket has no use for is a mistake, not something to ignore.
  void check_unix_options() {
    if (!host_.empty()) throw ConfigError(unix_->to_string() + ": a Unix socket has no HOST");
    for (std::string_view name : {opt("nodelay"), opt("allow"), opt("deny")})
      if (opts_.given(name)) throw ConfigError("--" + std::string(name) + " is for TCP, not " + unix_->to_string());
  }

  void listen() {
    if (unix_) {
      unix_listener_ = std::make_unique<UnixListener>(
          ctx_.loop(), *unix_, mode_, listen_.backlog, ctx_.log(),
          [this](Handle<uv_pipe_t> client) { accepted_unix(std::move(client)); });
      ctx_.log().info("listening on {}", unix_listener_->address());
      return;
    }
    listener_ = std::make_unique<TcpListener>(ctx_.loop(), host_, port_, family_, listen_.backlog, ctx_.log(),
                                              [this](Handle<uv_tcp_t> client) { accepted(std::move(client)); });
    ctx_.log().info("listening on {}", listener_->address());
  }

  void stop_listening() {
    if (listener_) listener_->close();
    if (unix_listener_) unix_listener_->close();  // and removes its socket file
  }

  void accepted_unix(Handle<uv_pipe_t> socket) {
    std::string who = unix_->to_string() + " client";
    if (std::string creds = unix_peer_credentials(socket.get()); !creds.empty()) who += " (" + creds + ")";
    admit(make_unix_endpoint(std::move(socket), tls_ ? nullptr : &ctx_.counters(), who), who);
  }

  void accepted(Handle<uv_tcp_t> socket) {
    sockaddr_storage peer{};
    int len = sizeof peer;
    uv_tcp_getpeername(socket.get(), reinterpret_cast<sockaddr*>(&peer), &len);
    const sockaddr* peer_addr = reinterpret_cast<const sockaddr*>(&peer);
    std::string who = format_address(peer_addr);
    if (!listen_.admits(peer_addr)) {
      ctx_.log().info("refused {}: not allowed by --allow/--deny", who);
      return;  // the socket closes as `socket` goes out of scope
    }
    if (nodelay_) uv_tcp_nodelay(socket.get(), 1);
    // With --tls the decrypted bytes are counted (in admit), not the records.
    admit(make_tcp_endpoint(std::move(socket), tls_ ? nullptr : &ctx_.counters()), who);
  }

  // Every mode from here on works on an Endpoint, whatever the socket is.
  void admit(std::unique_ptr<Endpoint> net, const std::string& who) {
    size_t active = clients_.size() + bridges_.size() + handshaking_.size() + (bridge_ ? 1 : 0);
    if (active >= max_clients_) {
      ctx_.log().warn("refused {}: --max-clients {} reached", who, max_clients_);
      return;
    }
    ctx_.counters().connections++;
    ctx_.log().debug("connection from {}", who);
    // One client over TLS: the client is the first to complete the handshake
    // (and pass --tls-client-ca), not the first to connect, or a port probe
    // or a client without the right certificate would end the server.
    const bool await_handshake = tls_ && !keep_open_;
    const uint64_t id = next_id_++;
    if (tls_) {
      // Every mode works on the decrypted stream; a client that fails the
      // handshake ends like one that hung up, with the reason logged.
      net = make_tls_endpoint(ctx_.loop(), std::move(net), *tls_, "", &ctx_.log(), false,
                              [this, who, id, await_handshake](const std::string& error, const TlsSession& session) {
                                if (!error.empty()) ctx_.log().warn("{}: tls: {}", who, error);
                                else ctx_.log().debug("{}: tls: {}", who, describe(session));
                                // Not from inside the endpoint's own callback: it may be destroyed.
                                if (await_handshake)
                                  post(ctx_.loop(), [this, id, ok = error.empty()] { handshake_done(id, ok); });
                              });
      net = make_counting_endpoint(std::move(net), &ctx_.counters());
    }
    net = make_tap_endpoint(std::move(net), tap_, ctx_.counters().connections);  // decrypted, with --tls

    if (await_handshake) {
      handshaking_.emplace(id, std::move(net));  // still listening
    } else if (!keep_open_) {
      stop_listening();  // one client, like nc -l
      start_single(std::move(net));
    } else if (bridge_options_.exec) {
      start_exec_client(std::move(net));
    } else {
      start_client(std::move(net));
    }
  }

  // One client over TLS: the first handshake to succeed gets the session;
  // the listener closes then, and the other clients still in their handshake
  // are closed. A failed handshake has been logged; the server goes on.
  void handshake_done(uint64_t id, bool ok) {
    auto it = handshaking_.find(id);
    if (it == handshaking_.end()) return;
    std::unique_ptr<Endpoint> net = std::move(it->second);
    handshaking_.erase(it);
    if (!ok || bridge_ || ctx_.shutting_down()) return;  // `net` closes here
    stop_listening();
    for (auto& [other, endpoint] : handshaking_)
      ctx_.log().info("closing {}: another client completed the TLS handshake first", endpoint->describe());
    handshaking_.clear();
    start_single(std::move(net));
  }

  // ---- one client, or -k --exec: a Bridge per client ----

  void start_single(std::unique_ptr<Endpoint> net) {
    if (echo_) {
      start_client(std::move(net));
      return;
    }
    Bridge::Policy policy = bridge_options_.policy(&ctx_.log());
    std::unique_ptr<Endpoint> local;
    try {
      local = bridge_options_.open_local(ctx_, policy);
    } catch (const RuntimeError& e) {
      ctx_.log().error("{}", e.what());
      ctx_.set_exit_code(kExitRuntime);
      return;
    }
    bridge_ = Bridge::start(ctx_.loop(), std::move(net), std::move(local), policy,
                            [this](int code, const std::string& reason) {
                              if (code != 0 && !reason.empty()) ctx_.log().error("{}", reason);
                              ctx_.set_exit_code(code);
                              bridge_.reset();
                            });
  }

  void start_exec_client(std::unique_ptr<Endpoint> net) {
    std::string who = net->describe();
    Bridge::Policy policy = bridge_options_.policy(&ctx_.log());
    std::unique_ptr<Endpoint> child;
    try {
      child = bridge_options_.open_local(ctx_, policy);  // --exec is set: the child
    } catch (const RuntimeError& e) {
      ctx_.log().error("{}: {}", who, e.what());
      return;
    }
    uint64_t id = next_id_++;
    bridges_[id] = Bridge::start(ctx_.loop(), std::move(net), std::move(child), policy,
                                 [this, id, who](int code, const std::string& reason) {
                                   if (code != 0 && !reason.empty()) ctx_.log().warn("{}: {}", who, reason);
                                   ctx_.log().debug("{} left", who);
                                   bridges_.erase(id);
                                 });
  }

  // ---- -k with stdio, --echo, --broker: Clients ----

  void start_shared_stdio() {
    stdio_ = ctx_.open_stdio(!bridge_options_.recv_only, true);
    stdio_->on_write_error([this](int status) {
      ctx_.log().error("writing to stdout: {}", uv_strerror(status));
      ctx_.set_exit_code(kExitRuntime);
      abort();
    });
    if (!stdio_->readable()) return;
    stdin_relay_ = Relay::start(
        *stdio_, {}, false,
        [this](int status) {
          if (status < 0) ctx_.log().warn("reading stdin: {}", uv_strerror(status));
          // stdin is done; clients keep talking to us (see README, -k).
        },
        bridge_options_.crlf ? make_crlf_transform() : nullptr);
  }

  void start_client(std::unique_ptr<Endpoint> net) {
    auto client = std::make_unique<Client>();
    client->owner = this;
    client->id = next_id_++;
    client->net = std::move(net);
    Client& c = *client;
    uint64_t id = c.id;
    c.net->on_write_error([this, id](int status) {
      if (auto it = clients_.find(id); it != clients_.end()) {
        ctx_.log().debug("{}: {}", it->second->net->describe(), uv_strerror(status));
        leave(*it->second, false);
      }
    });
    std::vector<Endpoint*> to;
    if (echo_) {
      to.push_back(c.net.get());
    } else if (broker_) {
      for (auto& [oid, other] : clients_) {
        if (other->leaving) continue;
        to.push_back(other->net.get());
        if (other->relay) other->relay->add_destination(*c.net);
      }
    } else if (stdio_ && stdio_->writable()) {
      to.push_back(stdio_.get());
    }
    if (stdin_relay_) stdin_relay_->add_destination(*c.net);
    c.relay = Relay::start(*c.net, to, false, [this, id](int status) {
      auto it = clients_.find(id);
      if (it == clients_.end()) return;
      if (status < 0) ctx_.log().debug("{}: {}", it->second->net->describe(), uv_strerror(status));
      leave(*it->second, status == 0);
    });
    if (bridge_options_.idle_timeout.count() > 0) {
      c.idle = make_timer(ctx_.loop(), &c);
      c.relay->on_chunk([this, id](size_t) { touch(id); });
      touch(id);
    }
    clients_.emplace(id, std::move(client));
  }

  void touch(uint64_t id) {
    auto it = clients_.find(id);
    if (it == clients_.end() || !it->second->idle.is_open()) return;
    uv_timer_start(
        it->second->idle.get(),
        [](uv_timer_t* t) {
          auto* c = static_cast<Client*>(t->data);
          if (c) c->owner->on_idle(*c);
        },
        static_cast<uint64_t>(bridge_options_.idle_timeout.count()), 0);
  }

  void on_idle(Client& c) {
    ctx_.log().info("{}: idle for {} ms, closing", c.net->describe(), bridge_options_.idle_timeout.count());
    leave(c, false);
  }

  // Takes the client out of every relay; with `flush`, finishes sending what
  // is queued for it (and half-closes) before closing.
  void leave(Client& c, bool flush) {
    if (c.leaving && flush) return;
    c.leaving = true;
    if (c.relay) c.relay->stop();
    c.idle.close();
    if (stdin_relay_) stdin_relay_->remove_destination(*c.net);
    for (auto& [oid, other] : clients_)
      if (other->relay && other.get() != &c) other->relay->remove_destination(*c.net);
    uint64_t id = c.id;
    auto erase_later = [this, id] {
      post(ctx_.loop(), [this, id] {
        if (auto it = clients_.find(id); it != clients_.end()) {
          ctx_.log().debug("{} left", it->second->net->describe());
          clients_.erase(it);
        }
      });
    };
    if (flush) c.net->end([erase_later](int) { erase_later(); });
    else erase_later();
  }

  Context& ctx_;
  const OptionValues& opts_;
  uint16_t port_ = 0;
  std::string host_;
  bool keep_open_ = false;
  bool echo_ = false;
  bool broker_ = false;
  bool nodelay_ = false;
  size_t max_clients_ = 0;
  ResolveOptions family_;
  ListenOptions listen_;
  BridgeOptions bridge_options_;
  std::shared_ptr<TlsContext> tls_;  // --tls: every client speaks TLS
  std::shared_ptr<TrafficTap> tap_;  // --hex-dump, --output
  std::unique_ptr<TcpListener> listener_;
  std::optional<UnixAddress> unix_;  // unix:/PATH, unix:@NAME or -U: no TCP listener
  std::optional<mode_t> mode_;       // --mode
  std::unique_ptr<UnixListener> unix_listener_;
  std::shared_ptr<Bridge> bridge_;                     // one-client mode
  std::map<uint64_t, std::unique_ptr<Endpoint>> handshaking_;  // one-client mode with --tls, until one succeeds
  std::map<uint64_t, std::shared_ptr<Bridge>> bridges_;  // -k --exec
  std::unique_ptr<Endpoint> stdio_;                    // -k: shared stdin/stdout
  std::shared_ptr<Relay> stdin_relay_;                 // stdin -> every client
  std::map<uint64_t, std::unique_ptr<Client>> clients_;
  uint64_t next_id_ = 1;
};

std::unique_ptr<Command> create(Context& ctx) { return std::make_unique<TcpListen>(ctx); }

const PluginInfo kInfo{NETTOOL_PLUGIN_ABI,
                       "tcp-listen",
                       "1.0",
                       "listen on [HOST] PORT: one client, or many with -k/--broker/--echo",
                       "[HOST] PORT | unix:/PATH",
                       kOptions.data(),
                       kOptions.size(),
                       &create};

}  // namespace

NETTOOL_DEFINE_PLUGIN(kInfo)
