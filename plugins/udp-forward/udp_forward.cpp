// udp-forward [HOST] PORT TARGET_HOST TARGET_PORT: socat's
// `UDP-LISTEN:PORT,fork UDP:TARGET:PORT` in one process and one event loop.
//
// UDP has no connections, so a "session" is a client address: the first
// datagram from a new ADDR:PORT opens a socket of its own toward the target
// (connected, so the kernel drops anything the target did not send), and
// what the target answers on it goes back to that client from the listening
// port. A session ends after --idle-timeout without a datagram either way;
// one log line then says how much went each way. Datagrams are read in
// recvmmsg batches and sent with a direct sendmsg (uv_udp_try_send), queued
// by libuv only when a socket buffer is full.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <unordered_map>

#include "nettool/connect.h"
#include "nettool/datagram.h"
#include "nettool/error.h"
#include "nettool/fd.h"
#include "nettool/log.h"
#include "nettool/net.h"
#include "nettool/option_groups.h"
#include "nettool/plugin.h"

namespace {

using namespace nettool;

constexpr OptionSpec kOwnOptions[] = {
    {"host", 0, OptionType::String, "",
     "address to listen on (default: all, IPv6 and IPv4; beyond loopback with no --allow/--deny, a warning: an open "
     "forwarder)",
     "HOST", 0, false},
    {.name = "port", .type = OptionType::Port, .help = "port to listen on, or a UDP service name; 0 picks a free one (logged)",
     .value_name = "PORT", .positional = 1, .required = true, .service_protocol = "udp"},
    {"target-host", 0, OptionType::String, "", "host every client's datagrams are forwarded to", "TARGET_HOST", 2,
     true},
    {.name = "target-port", .type = OptionType::Port, .help = "port every client's datagrams are forwarded to, or a UDP service name",
     .value_name = "TARGET_PORT", .positional = 3, .required = true, .service_protocol = "udp"},
    {.name = "idle-timeout", .short_flag = 'i', .type = OptionType::Duration, .default_value = "60s",
     .help = "end a client's session after this long without a datagram either way", .min = 1},
    {.name = "max-sessions", .short_flag = 'm', .type = OptionType::Int, .default_value = "1000",
     .help = "clients with a session at once; datagrams from further clients are dropped (logged)", .min = 1},
    {.name = "source", .short_flag = 's', .type = OptionType::String,
     .help = "local address the target is sent from (each session gets its own port)", .value_name = "ADDR"},
};
// -4 -6 -n apply to TARGET_HOST (and HOST); --allow/--deny to the clients.
constexpr auto kOptions = join_options(kOwnOptions, kAddressFamilyOptions, kAccessOptions);
// Every option read below goes through opt(): a name not in kOptions does not compile.
consteval std::string_view opt(std::string_view name) { return checked_option<kOptions>(name); }

// recvmmsg reads up to this many datagrams per system call on the listening socket.
constexpr size_t kBatch = 32;
constexpr size_t kSlot = 64 * 1024;
// What a socket may hold queued beyond its kernel buffer (send_now).
constexpr size_t kMaxQueuedBytes = 1024 * 1024;

// A client's identity as map key: family, port and address bytes (not the
// whole sockaddr, whose padding and IPv6 flow label say nothing about who it is).
std::string client_key(const sockaddr* addr) {
  std::string key(1, static_cast<char>(addr->sa_family));
  if (addr->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    key.append(reinterpret_cast<const char*>(&in6->sin6_port), sizeof in6->sin6_port);
    key.append(reinterpret_cast<const char*>(&in6->sin6_addr), sizeof in6->sin6_addr);
    key.append(reinterpret_cast<const char*>(&in6->sin6_scope_id), sizeof in6->sin6_scope_id);
  } else {
    const auto* in4 = reinterpret_cast<const sockaddr_in*>(addr);
    key.append(reinterpret_cast<const char*>(&in4->sin_port), sizeof in4->sin_port);
    key.append(reinterpret_cast<const char*>(&in4->sin_addr), sizeof in4->sin_addr);
  }
  return key;
}

// Whether `addr` reaches only this host: 127.0.0.0/8, ::1, or 127.x as an
// IPv4-mapped IPv6 address. A wildcard address is not: it is every interface.
bool is_loopback(const sockaddr* addr) {
  if (addr->sa_family == AF_INET)
    return (ntohl(reinterpret_cast<const sockaddr_in*>(addr)->sin_addr.s_addr) >> 24) == 127;
  if (addr->sa_family != AF_INET6) return false;
  const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr;
  return IN6_IS_ADDR_LOOPBACK(&a) || (IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127);
}

class UdpForward;

// One client address and its own socket toward the target.
struct Session {
  UdpForward* forward = nullptr;
  std::string key;
  std::string client;  // "ADDR:PORT", for the log
  sockaddr_storage client_addr{};
  Handle<uv_udp_t> upstream;  // connected to the target; data points at this Session
  uint64_t up_datagrams = 0, up_bytes = 0, down_datagrams = 0, down_bytes = 0;
  uint64_t last_active_ms = 0;  // uv_now() of the last datagram either way
  bool target_refused = false;  // an ICMP port unreachable came back (logged once)
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

class UdpForward final : public Command {
 public:
  explicit UdpForward(Context& ctx) : ctx_(ctx), opts_(ctx.options()), batch_(kBatch * kSlot), reply_(kSlot) {}
  ~UdpForward() override { abort(); }

  void start() override {
    resolve_ = address_family_options(opts_);
    access_ = access_options(opts_);
    idle_ms_ = static_cast<uint64_t>(opts_.get_duration(opt("idle-timeout")).count());
    max_sessions_ = static_cast<size_t>(opts_.get_int(opt("max-sessions")));
    resolve_target();
    if (opts_.has(opt("source")) && !opts_.get_string(opt("source")).empty()) resolve_source();
    std::string host = opts_.has(opt("host")) ? opts_.get_string(opt("host")) : "";
    listener_ = bind_udp_server(ctx_.loop(), this, host, opts_.get_port(opt("port")), resolve_);
    self_ = SelfAddresses(listener_.get());
    // Forwarding to ourselves would make every datagram a new session that
    // forwards to ourselves again.
    if (self_.is_self(reinterpret_cast<const sockaddr*>(&target_)))
      throw ConfigError("TARGET " + target_text_ + " is this forwarder's own listening address");
    ctx_.log().info("forwarding to {}", target_text_);
    warn_if_open();
    ctx_.log().info("listening on {}", udp_bound_address(listener_.get()));
    sweeper_ = make_timer(ctx_.loop(), this);
    // Sessions end within a quarter of --idle-timeout after their last datagram.
    uint64_t period = std::clamp<uint64_t>(idle_ms_ / 4, 10, 1000);
    uv_timer_start(
        sweeper_.get(), [](uv_timer_t* t) { static_cast<UdpForward*>(t->data)->sweep(); }, period, period);
    uv_unref(sweeper_.as_handle());  // the listening socket keeps the loop alive, not the sweep
    receive_from_clients();
  }

  // Nothing is in flight in UDP: stopping is ending every session now.
  void shutdown() override { abort(); }

  void abort() override {
    if (dropped_self_ > 0 && listener_.is_open())
      ctx_.log().info("{} datagram(s) from our own or the target's address dropped", dropped_self_);
    if (open_failures_ > 0 && listener_.is_open())
      ctx_.log().error("{} datagram(s) dropped: no session could be opened for them (last: {})", open_failures_,
                       last_open_error_);
    if (queue_drops_ > 0 && listener_.is_open())
      ctx_.log().warn("{} datagram(s) dropped: more than {} KiB waited behind a full socket buffer", queue_drops_,
                      kMaxQueuedBytes / 1024);
    listener_.close();
    sweeper_.close();
    std::vector<std::string> keys;
    for (auto& [key, s] : sessions_) keys.push_back(key);
    for (const auto& key : keys) end_session(key, "stopped");
  }

  // Called from a Session's upstream socket callbacks.
  void on_target_datagram(Session& s, ssize_t nread, const uv_buf_t* buf, const sockaddr* from);

 private:
  void resolve_target() {
    std::string host = opts_.get_string(opt("target-host"));
    uint16_t port = opts_.get_port(opt("target-port"));
    if (port == 0) throw ConfigError("TARGET_PORT: 0 is not a port to send to");
    // The resolver would take "" for the loopback address.
    if (strip_brackets(host).empty()) throw ConfigError("TARGET_HOST is empty (a host name or an address)");
    ResolveOptions ro = resolve_;
    ro.socktype = SOCK_DGRAM;
    auto addrs = resolve_now(host, port, ro);  // throws "cannot resolve HOST: ..."
    target_ = addrs.front();
    target_text_ = format_address(reinterpret_cast<const sockaddr*>(&target_));
  }

  // Reachable from other hosts and taking anyone: with a forged source
  // address a small query makes the target's (larger) answer land on a
  // victim, an amplifying reflector -- the classic open DNS forwarder. Still
  // allowed (a lab, a firewall in front), but never silently.
  void warn_if_open() {
    if (!access_.allow.empty() || !access_.deny.empty()) return;
    sockaddr_storage bound{};
    int len = sizeof bound;
    if (uv_udp_getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&bound), &len) != 0) return;
    if (is_loopback(reinterpret_cast<const sockaddr*>(&bound))) return;
    ctx_.log().warn("listening on {} with no --allow/--deny: anyone who reaches it can send to {} through it, and "
                    "with a forged source address reflect its answers at someone else; listen on 127.0.0.1 or name "
                    "the clients with --allow",
                    udp_bound_address(listener_.get()), target_text_);
  }

  void resolve_source() {
    ResolveOptions ro;
    ro.socktype = SOCK_DGRAM;
    ro.family = target_.ss_family;
    ro.numeric_only = resolve_.numeric_only;
    auto addrs = resolve_now(opts_.get_string(opt("source")), 0, ro);
    source_ = addrs.front();
    // Every session binds its own socket to it; an address this host cannot
    // send from is said once, now, rather than once per client later.
    const auto* source = reinterpret_cast<const sockaddr*>(&source_);
    UniqueFd probe(::socket(source->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!probe.valid()) throw RuntimeError(uv_message("--source: creating a UDP socket", uv_translate_sys_error(errno)));
    if (::bind(probe.get(), source, source->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in)) != 0)
      throw RuntimeError(uv_message("--source: binding to " + format_address(source), uv_translate_sys_error(errno)));
  }

  void receive_from_clients() {
    uv_udp_recv_start(
        listener_.get(),
        [](uv_handle_t* h, size_t, uv_buf_t* buf) {
          auto* self = static_cast<UdpForward*>(h->data);
          *buf = self ? uv_buf_init(self->batch_.data(), static_cast<unsigned>(self->batch_.size()))
                      : uv_buf_init(nullptr, 0);
        },
        [](uv_udp_t* h, ssize_t nread, const uv_buf_t* buf, const sockaddr* from, unsigned flags) {
          auto* self = static_cast<UdpForward*>(h->data);
          if (!self || (flags & UV_UDP_MMSG_FREE)) return;  // the batch buffer is a member
          if (nread < 0) {
            self->ctx_.log().warn("receiving on the listening socket: {}", uv_strerror(static_cast<int>(nread)));
            return;
          }
          if (from == nullptr) return;  // nothing more to read now
          if (flags & UV_UDP_PARTIAL) {
            self->ctx_.log().warn("datagram from {} truncated: dropped", format_address(from));
            return;
          }
          self->on_client_datagram(std::string_view(buf->base, static_cast<size_t>(nread)), from);
        });
  }

  void on_client_datagram(std::string_view data, const sockaddr* from) {
    ctx_.counters().bytes_received += data.size();
    Session* s = find_or_open_session(from);
    if (!s) return;
    s->up_datagrams++;
    s->up_bytes += data.size();
    s->last_active_ms = uv_now(ctx_.loop());
    if (int rc = send_now(s->upstream.get(), data, nullptr); rc < 0)
      ctx_.log().debug("{} -> {}: datagram of {} B not sent: {}", s->client, target_text_, data.size(),
                       uv_strerror(rc));
  }

  Session* find_or_open_session(const sockaddr* from) {
    std::string key = client_key(from);
    if (auto it = sessions_.find(key); it != sessions_.end()) return it->second.get();
    // A (spoofed) client address that is our own listening address or the
    // target's: its replies would come back to us or the target would answer
    // them, and each answer would be forwarded again, forever.
    if (self_.is_self_or_bogus(from) || same_ip_endpoint(from, reinterpret_cast<const sockaddr*>(&target_))) {
      ++dropped_self_;  // counted in the log line at the end
      ctx_.log().debug("datagram from {} dropped: our own or the target's address", format_address(from));
      return nullptr;
    }
    if (!access_.admits(from)) {
      ctx_.log().debug("datagram from {} refused (--allow/--deny)", format_address(from));
      return nullptr;
    }
    if (sessions_.size() >= max_sessions_) {
      if (!warned_full_)
        ctx_.log().warn("{} sessions (--max-sessions): dropping datagrams from new clients such as {}",
                        sessions_.size(), format_address(from));
      warned_full_ = true;
      return nullptr;
    }
    auto s = std::make_unique<Session>();
    s->forward = this;
    s->key = key;
    s->client = format_address(from);
    std::memcpy(&s->client_addr, from, from->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
    if (std::string error = open_upstream(*s); !error.empty()) {
      // Said once per cause (running out of descriptors, say), not once per
      // datagram: the client's next datagram tries again, and fails the same way.
      ++open_failures_;
      if (error != last_open_error_) ctx_.log().error("{} -> {}: {}", s->client, target_text_, error);
      last_open_error_ = std::move(error);
      ctx_.set_exit_code(kExitRuntime);
      return nullptr;
    }
    last_open_error_.clear();  // a cause that comes back later is said again
    ctx_.counters().connections++;
    ctx_.log().debug("{} -> {}: new session", s->client, target_text_);
    Session* raw = s.get();
    sessions_.emplace(key, std::move(s));
    return raw;
  }

  // The session's socket: bound to --source (any port), connected to the
  // target, read into the one reply buffer all sessions share (each datagram
  // is sent on before the next is read, so one is enough at any time).
  std::string open_upstream(Session& s) {
    const auto* target = reinterpret_cast<const sockaddr*>(&target_);
    if (int rc = uv_udp_init(ctx_.loop(), s.upstream.get()); rc < 0) return uv_message("creating a UDP socket", rc);
    s.upstream.mark_initialized(&s);
    if (source_.ss_family != AF_UNSPEC) {
      if (int rc = uv_udp_bind(s.upstream.get(), reinterpret_cast<const sockaddr*>(&source_), 0); rc < 0)
        return uv_message("binding to source " + format_address(reinterpret_cast<const sockaddr*>(&source_)), rc);
    }
    if (int rc = uv_udp_connect(s.upstream.get(), target); rc < 0) return uv_message("connecting the UDP socket", rc);
    uv_udp_recv_start(
        s.upstream.get(),
        [](uv_handle_t* h, size_t, uv_buf_t* buf) {
          auto* session = static_cast<Session*>(h->data);
          *buf = session ? uv_buf_init(session->forward->reply_.data(), static_cast<unsigned>(kSlot))
                         : uv_buf_init(nullptr, 0);
        },
        [](uv_udp_t* h, ssize_t nread, const uv_buf_t* buf, const sockaddr* from, unsigned) {
          auto* session = static_cast<Session*>(h->data);
          if (session) session->forward->on_target_datagram(*session, nread, buf, from);
        });
    return "";
  }

  // One sendmsg now; when the socket buffer is full, libuv queues a copy,
  // up to kMaxQueuedBytes per socket. Past that the datagram is dropped, as
  // the network drops what a slower link cannot take: while anything is
  // queued, every later datagram queues behind it (libuv keeps the order),
  // so without a bound a fast sender could grow the queue without end.
  int send_now(uv_udp_t* socket, std::string_view data, const sockaddr* to) {
    uv_buf_t buf = uv_buf_init(const_cast<char*>(data.data()), static_cast<unsigned>(data.size()));
    int rc = uv_udp_try_send(socket, &buf, 1, to);
    if (rc >= 0) return 0;
    if (rc != UV_EAGAIN) return rc;
    if (uv_udp_get_send_queue_size(socket) + data.size() > kMaxQueuedBytes) {
      ++queue_drops_;  // counted in the log line at the end
      return UV_ENOBUFS;
    }
    return send_datagram(socket, std::string(data), to, [](int, size_t) {});
  }

  void sweep() {
    uint64_t now = uv_now(ctx_.loop());
    std::vector<std::string> idle;
    for (auto& [key, s] : sessions_)
      if (now - s->last_active_ms >= idle_ms_) idle.push_back(key);
    for (const auto& key : idle) end_session(key, "idle");
  }

  void end_session(const std::string& key, const char* how) {
    auto it = sessions_.find(key);
    if (it == sessions_.end()) return;
    std::unique_ptr<Session> s = std::move(it->second);
    sessions_.erase(it);
    s->upstream.close();
    ctx_.log().info("{} -> {}: {} datagram{} ({} B) up, {} ({} B) down, {}, {}", s->client, target_text_,
                    s->up_datagrams, s->up_datagrams == 1 ? "" : "s", s->up_bytes, s->down_datagrams, s->down_bytes,
                    log_duration(std::chrono::steady_clock::now() - s->started), how);
    warned_full_ = false;
  }

  Context& ctx_;
  const OptionValues& opts_;
  ResolveOptions resolve_;  // -4 -6 -n
  AccessOptions access_;    // --allow --deny
  uint64_t idle_ms_ = 60000;
  size_t max_sessions_ = 1000;
  sockaddr_storage target_{};
  sockaddr_storage source_{};  // ss_family AF_UNSPEC: no --source
  std::string target_text_;
  std::vector<char> batch_;  // kBatch slots for the listening socket's recvmmsg
  std::vector<char> reply_;  // one slot, shared by every session's socket
  Handle<uv_udp_t> listener_;
  Handle<uv_timer_t> sweeper_;
  std::unordered_map<std::string, std::unique_ptr<Session>> sessions_;
  bool warned_full_ = false;  // logged once until a session ends
  SelfAddresses self_;         // the listening socket's own addresses: never a client
  uint64_t dropped_self_ = 0;  // datagrams from those, or from the target, dropped
  uint64_t open_failures_ = 0;   // datagrams dropped because their session's socket could not be opened
  std::string last_open_error_;  // why, the last time (logged when it changes; cleared by a session that opens)
  uint64_t queue_drops_ = 0;     // datagrams dropped behind a full socket buffer (send_now)
};

void UdpForward::on_target_datagram(Session& s, ssize_t nread, const uv_buf_t* buf, const sockaddr* from) {
  if (nread < 0) {
    // An ICMP port unreachable on the connected socket: the target is not
    // listening (yet). The session stays: the client may send again.
    if (!s.target_refused)
      ctx_.log().warn("{} -> {}: {}", s.client, target_text_, uv_strerror(static_cast<int>(nread)));
    s.target_refused = true;
    return;
  }
  if (from == nullptr) return;  // nothing more to read now
  std::string_view data(buf->base, static_cast<size_t>(nread));
  s.down_datagrams++;
  s.down_bytes += data.size();
  s.last_active_ms = uv_now(ctx_.loop());
  if (!listener_.is_open()) return;
  if (int rc = send_now(listener_.get(), data, reinterpret_cast<const sockaddr*>(&s.client_addr)); rc < 0)
    ctx_.log().debug("{} <- {}: datagram of {} B not sent: {}", s.client, target_text_, data.size(), uv_strerror(rc));
  else
    ctx_.counters().bytes_sent += data.size();
}

std::unique_ptr<Command> create(Context& ctx) { return std::make_unique<UdpForward>(ctx); }

const PluginInfo kInfo{NETTOOL_PLUGIN_ABI,
                       "udp-forward",
                       "1.0",
                       "forward UDP datagrams from [HOST] PORT to TARGET_HOST TARGET_PORT, replies back (socat UDP-LISTEN,fork)",
                       "[HOST] PORT TARGET_HOST TARGET_PORT",
                       kOptions.data(),
                       kOptions.size(),
                       &create};

}  // namespace

NETTOOL_DEFINE_PLUGIN(kInfo)
