// udp-listen [HOST] PORT: nc -u -l (PORT may be a Unix datagram socket,
// unix:/PATH, as nc -lUu). Prints each datagram exactly as received
// (or with its source, or as hex), optionally echoes it back, joins multicast
// groups, and with --reply-to-last sends stdin to whoever spoke last.
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <vector>

#include "nettool/connect.h"
#include "nettool/datagram.h"
#include "nettool/error.h"
#include "nettool/option_groups.h"
#include "nettool/net.h"
#include "nettool/plugin.h"
#include "nettool/unix.h"

namespace {

using namespace nettool;

constexpr OptionSpec kOwnOptions[] = {
    {"host", 's', OptionType::String, "", "address to listen on (default: all, IPv6 and IPv4; -s as in nc -l -s)",
     "HOST", 0, false},
    {"port", 'p', OptionType::String, "",
     "port to listen on (0 picks a free one, logged), or a Unix datagram socket: unix:/PATH, unix:@NAME", "PORT", 1,
     true},
    {"show-source", 'S', OptionType::Bool, "", "prefix each datagram with 'ADDR:PORT ' and end it with a newline (unless it ends with one)"},
    {"hex", 'x', OptionType::Bool, "", "print each datagram as a hex dump"},
    {"echo", 0, OptionType::Bool, "", "send each datagram back to its sender"},
    {"join", 'j', OptionType::StringList, "", "join this multicast group (repeatable)", "GROUP"},
    {"interface", 'I', OptionType::String, "", "interface (name or local address) for --join", "IFACE"},
    {.name = "count", .type = OptionType::Int, .help = "exit after this many datagrams", .min = 1},
    {.name = "idle-timeout", .short_flag = 'i', .type = OptionType::Duration,
     .help = "exit after this long without a datagram", .min = 1},
    {"reply-to-last", 0, OptionType::Bool, "",
     "send stdin to the last sender (each read as one datagram, cut to the largest one the address family carries)"},
};
constexpr auto kOptions =
    join_options(kOwnOptions, kUnixModeOptions, kAddressFamilyOptions, kTapOptions, kNcListenLetter, kNcUdpLetter);
// Every option read below goes through opt(): a name not in kOptions does not compile.
consteval std::string_view opt(std::string_view name) { return checked_option<kOptions>(name); }

// recvmmsg reads up to this many datagrams per system call.
constexpr size_t kBatch = 32;
constexpr size_t kSlot = 64 * 1024;


// Interface name -> one of its addresses of `family`, via uv_interface_addresses.
std::optional<sockaddr_storage> interface_address(const std::string& name, int family) {
  uv_interface_address_t* list = nullptr;
  int count = 0;
  if (uv_interface_addresses(&list, &count) != 0) return std::nullopt;
  std::optional<sockaddr_storage> found;
  for (int i = 0; i < count && !found; ++i) {
    if (name == list[i].name && list[i].address.address4.sin_family == family) {
      sockaddr_storage ss{};
      std::memcpy(&ss, &list[i].address, family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6));
      found = ss;
    }
  }
  uv_free_interface_addresses(list, count);
  return found;
}

// Who sent a datagram: an IP address and port, or a Unix socket's address.
struct Sender {
  sockaddr_storage address{};
  socklen_t length = 0;
};

class UdpListen final : public Command {
 public:
  explicit UdpListen(Context& ctx) : ctx_(ctx), opts_(ctx.options()), buffer_(kBatch * kSlot) {}
  ~UdpListen() override { abort(); }

  void start() override {
    resolve_ = address_family_options(opts_);
    // Read once: the per-datagram path should not look options up by name.
    show_source_ = opts_.get_bool(opt("show-source"));
    hex_ = opts_.get_bool(opt("hex"));  // with show_source_, the source is the dump's header line
    echo_ = opts_.get_bool(opt("echo"));
    answers_ = echo_ || opts_.get_bool(opt("reply-to-last"));
    tap_ = traffic_tap(ctx_, opts_);
    if (opts_.has(opt("count"))) count_limit_ = static_cast<uint64_t>(opts_.get_int(opt("count")));
    bind();
    stdio_ = ctx_.open_stdio(opts_.get_bool(opt("reply-to-last")), true);
    stdio_->on_write_error([this](int status) {
      ctx_.log().error("writing stdout: {}", uv_strerror(status));
      ctx_.set_exit_code(kExitRuntime);
      abort();
    });
    if (opts_.has(opt("idle-timeout"))) {
      idle_ = make_timer(ctx_.loop(), this);
      touch();
    }
    start_receiving();
    if (opts_.get_bool(opt("reply-to-last"))) {
      stdio_->read_start([this](const ChunkPtr& chunk) { reply_to_last(chunk); },
                         [this](int status) {
                           if (status < 0) ctx_.log().warn("reading stdin: {}", uv_strerror(status));
                         });
    }
  }

  void shutdown() override { finish(); }
  void abort() override {
    socket_.close();
    if (unix_) unix_->close();
    idle_.close();
    stdio_.reset();
  }

 private:
  void bind() {
    std::string host = opts_.has(opt("host")) ? opts_.get_string(opt("host")) : "";
    std::string port = opts_.get_string(opt("port"));
    std::optional<UnixAddress> unix_address = parse_unix_address(port);
    std::optional<mode_t> mode = unix_mode_option(opts_, unix_address);
    if (unix_address) {
      if (!host.empty()) throw ConfigError(unix_address->to_string() + ": a Unix socket has no HOST");
      for (std::string_view name : {opt("join"), opt("interface")})
        if (opts_.given(name)) throw ConfigError("--" + std::string(name) + " is for UDP, not " + unix_address->to_string());
      unix_ = UnixDatagramSocket::bind(ctx_.loop(), *unix_address, mode, ctx_.log());
      ctx_.log().info("listening on {}", unix_->name());
      return;
    }
    check_multicast_options(host);
    bool v4_groups = false;
    for (const auto& g : opts_.get_list(opt("join"))) v4_groups |= g.find(':') == std::string::npos;
    // Only a group listener shares its port: other receivers of the same group
    // on this host may bind it too. A unicast port stays ours alone.
    bool share = !opts_.get_list(opt("join")).empty();
    socket_ = bind_udp_server(ctx_.loop(), this, host, parse_named_port("PORT", port, "udp"), resolve_, v4_groups, share);
    self_ = SelfAddresses(socket_.get());
    for (const auto& group : opts_.get_list(opt("join"))) join(group);
    ctx_.log().info("listening on {}", udp_bound_address(socket_.get()));
  }

  // --join and --interface mistakes that the kernel would only answer with
  // "invalid argument", or not at all (a socket bound to a unicast HOST
  // never receives a group's datagrams): usage errors that say which.
  void check_multicast_options(const std::string& host_option) {
    const auto& groups = opts_.get_list(opt("join"));
    if (groups.empty()) {
      if (opts_.given(opt("interface"))) throw ConfigError("--interface is for --join (the interface a group is joined on)");
      return;
    }
    for (const auto& group : groups) {
      in_addr v4{};
      in6_addr v6{};
      bool is_v4 = ::inet_pton(AF_INET, group.c_str(), &v4) == 1;
      if (!is_v4 && ::inet_pton(AF_INET6, group.c_str(), &v6) != 1)
        throw ConfigError("--join " + group + ": not an IP address (a multicast group: 224.0.0.0/4 or ff00::/8)");
      if (is_v4 ? !IN_MULTICAST(ntohl(v4.s_addr)) : !IN6_IS_ADDR_MULTICAST(&v6))
        throw ConfigError("--join " + group + ": not a multicast group (224.0.0.0/4 or ff00::/8)");
      if ((is_v4 && resolve_.family == AF_INET6) || (!is_v4 && resolve_.family == AF_INET))
        throw ConfigError("--join " + group + ": an IPv" + (is_v4 ? "4" : "6") + " group with " +
                          (is_v4 ? "-6" : "-4"));
    }
    std::string host = strip_brackets(host_option);
    in_addr h4{};
    in6_addr h6{};
    bool unicast_host = (::inet_pton(AF_INET, host.c_str(), &h4) == 1 && h4.s_addr != INADDR_ANY &&
                         !IN_MULTICAST(ntohl(h4.s_addr))) ||
                        (::inet_pton(AF_INET6, host.c_str(), &h6) == 1 && !IN6_IS_ADDR_UNSPECIFIED(&h6) &&
                         !IN6_IS_ADDR_MULTICAST(&h6));
    if (unicast_host)
      throw ConfigError("HOST " + host_option + " with --join: a socket bound to a unicast address never receives "
                        "a group's datagrams; leave HOST out, or give the group itself");
    if (opts_.given(opt("interface"))) {
      const std::string& iface = opts_.get_string(opt("interface"));
      in_addr a4{};
      in6_addr a6{};
      bool is_address = ::inet_pton(AF_INET, iface.c_str(), &a4) == 1 || ::inet_pton(AF_INET6, iface.c_str(), &a6) == 1;
      if (!is_address && ::if_nametoindex(iface.c_str()) == 0)
        throw ConfigError("--interface " + iface + ": no such interface on this host");
      for (const auto& group : groups) {
        bool v6_group = group.find(':') != std::string::npos;
        if (is_address && v6_group != (iface.find(':') != std::string::npos))
          throw ConfigError("--interface " + iface + " is an IPv" + (v6_group ? "4" : "6") + " address, and group " +
                            group + " is IPv" + (v6_group ? "6" : "4") + ": name the interface (-I eth0)");
      }
    }
  }

  void join(const std::string& group) {
    std::string iface;
    if (opts_.has(opt("interface"))) {
      iface = opts_.get_string(opt("interface"));
      int fam = group.find(':') != std::string::npos ? AF_INET6 : AF_INET;
      if (auto addr = interface_address(iface, fam)) {
        // uv wants the interface's address for IPv4, and for IPv6 an address
        // whose scope names it ("::%NAME": libuv takes the index from there).
        if (fam == AF_INET) iface = format_host(reinterpret_cast<sockaddr*>(&*addr));
      }
      in6_addr literal{};
      if (fam == AF_INET6 && ::inet_pton(AF_INET6, iface.c_str(), &literal) != 1 && iface.find('%') == std::string::npos)
        iface = "::%" + iface;
    }
    int rc = uv_udp_set_membership(socket_.get(), group.c_str(), iface.empty() ? nullptr : iface.c_str(), UV_JOIN_GROUP);
    if (rc < 0) throw RuntimeError(uv_message("joining multicast group " + group + (iface.empty() ? "" : " on " + iface), rc));
    ctx_.log().debug("joined {}", group);
  }

  void start_receiving() {
    if (receiving_ || finishing_) return;
    if (unix_) {
      if (!unix_->is_open()) return;
      receiving_ = true;
      unix_->receive_start(
          [this](ssize_t nread, std::string_view data, const sockaddr* from, socklen_t from_len, bool truncated) {
            if (nread < 0) return ctx_.log().warn("receive: {}", uv_strerror(static_cast<int>(nread)));
            if (finishing_) return;
            Sender sender;
            std::memcpy(&sender.address, from, std::min<size_t>(from_len, sizeof sender.address));
            sender.length = from_len;
            if (truncated) ctx_.log().warn("datagram from {} truncated", describe(sender));
            deliver(data, sender, true);
          },
          [this] { end_of_batch(); });
      return;
    }
    if (!socket_.is_open()) return;
    receiving_ = true;
    uv_udp_recv_start(
        socket_.get(),
        [](uv_handle_t* h, size_t, uv_buf_t* buf) {
          auto* self = static_cast<UdpListen*>(h->data);
          *buf = self ? uv_buf_init(self->buffer_.data(), static_cast<unsigned>(self->buffer_.size()))
                      : uv_buf_init(nullptr, 0);
        },
        [](uv_udp_t* h, ssize_t nread, const uv_buf_t* buf, const sockaddr* from, unsigned flags) {
          auto* self = static_cast<UdpListen*>(h->data);
          if (self) self->on_datagram(nread, buf, from, flags);
        });
  }

  void on_datagram(ssize_t nread, const uv_buf_t* buf, const sockaddr* from, unsigned flags) {
    if (flags & UV_UDP_MMSG_FREE) return end_of_batch();  // the batch buffer is ours again (it is a member)
    if (finishing_) return;                                 // the rest of a batch after --count
    if (nread < 0) {
      ctx_.log().warn("receive: {}", uv_strerror(static_cast<int>(nread)));
      return;
    }
    if (from == nullptr) return end_of_batch();  // nothing more to read now
    Sender sender;
    sender.length = from->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    std::memcpy(&sender.address, from, sender.length);
    if (flags & UV_UDP_PARTIAL) ctx_.log().warn("datagram from {} truncated", describe(sender));
    // Printed whatever its source: on a shared group port (--join) another
    // program of this host, an mDNS responder say, really does send from our
    // address. Only answering it is unsafe (see deliver()).
    deliver(std::string_view(buf->base, static_cast<size_t>(nread)), sender, !self_.is_self_or_bogus(from));
    // A single read, not one of a recvmmsg batch: nothing else is coming now.
    if (!finishing_ && !(flags & UV_UDP_MMSG_CHUNK)) end_of_batch();
  }

  // One datagram, from a UDP or a Unix datagram socket. `answerable` is
  // false for a sender at our own address (or one that is never real:
  // 0.0.0.0, a multicast address): an echo or a reply there would reach
  // ourselves, and a spoofed datagram would then echo itself forever. Such a
  // datagram is still printed, but never echoed nor taken as --reply-to-last's
  // last sender (the previous one stays).
  void deliver(std::string_view data, const Sender& from, bool answerable) {
    ++received_;
    ctx_.counters().bytes_received += data.size();
    if (answerable) {
      last_sender_ = from;
      have_last_sender_ = true;
    } else if (answers_) {
      ++unanswered_self_;
      ctx_.log().debug("datagram from {}: not answered, our own address (or never a real sender)", describe(from));
    }
    touch();
    // Named only when something shows the name: this is the per-datagram path.
    if (tap_) tap_->record(TrafficDirection::Received, 0, describe(from), data);

    if (show_source_) output_ += describe(from) + " ";
    if (hex_) {
      if (show_source_) output_ += '\n';
      output_ += data.empty() ? "(empty datagram)\n" : hex_dump_lines(data, 0);
    } else {
      output_.append(data);
    }
    // One line per datagram: a line's datagram (nc -u, udp-send) already ends
    // with its newline, and another would print a blank line after each.
    if (show_source_ && !hex_ && (data.empty() || data.back() != '\n')) output_ += "\n";
    if (echo_ && answerable) send_to(from, data, false);
    if (count_limit_ > 0 && received_ >= count_limit_) finish();
  }

  std::string describe(const Sender& s) const {
    const auto* addr = reinterpret_cast<const sockaddr*>(&s.address);
    // A Unix sender that never bound an address comes with none at all.
    if (unix_) return s.length > sizeof(sa_family_t) ? format_unix_address(addr, s.length) : "unix:(unnamed)";
    return format_address(addr);
  }

  // The output of a whole recvmmsg batch goes to stdout as one chunk: one
  // allocation and one queue entry per batch instead of per datagram kept
  // udp-listen ahead of a fast sender (its socket buffer overflowed less).
  void flush_output() {
    if (output_.empty() || !stdio_) return;
    stdio_->write(make_chunk(output_));
    output_.clear();  // keeps its capacity for the next batch
  }

  void end_of_batch() {
    flush_output();
    if (finishing_ || !stdio_ || !receiving_) return;
    if (stdio_->queued_bytes() >= kHighWatermark) {
      // stdout is slow: let the kernel's buffer hold the rest for now.
      stop_receiving();
      std::weak_ptr<bool> alive = alive_;
      stdio_->when_drained(alive, [this] { start_receiving(); });
    }
  }

  void stop_receiving() {
    if (!receiving_) return;
    receiving_ = false;
    if (unix_) unix_->receive_stop();
    else if (socket_.is_open()) uv_udp_recv_stop(socket_.get());
  }

  // One datagram to `sender`. An echo that fails is dropped, as UDP would
  // (debug); a --reply-to-last that fails is stdin lost: an error, exit 1.
  // The dump records a datagram once it has been sent, not before.
  void send_to(const Sender& sender, std::string_view data, bool reply) {
    const auto* to = reinterpret_cast<const sockaddr*>(&sender.address);
    if (unix_) {
      // A sender without an address (it never bound one) cannot be answered;
      // a full queue at the other end drops the datagram, as UDP would.
      int rc = sender.length > sizeof(sa_family_t) ? unix_->send(data, to, sender.length) : UV_EDESTADDRREQ;
      if (rc < 0) return send_failed(sender, data.size(), rc, reply);
      ctx_.counters().bytes_sent += data.size();
      if (tap_) tap_->record(TrafficDirection::Sent, 0, describe(sender), data);
      return;
    }
    // The dump needs the bytes in the callback; copied only when dumping.
    std::string dumped = tap_ ? std::string(data) : std::string();
    int rc = send_datagram(socket_.get(), std::string(data), to,
                           [this, sender, reply, dumped = std::move(dumped)](int status, size_t bytes) {
                             if (sending_ > 0) --sending_;
                             if (status < 0) {
                               send_failed(sender, bytes, status, reply);
                             } else {
                               ctx_.counters().bytes_sent += bytes;
                               if (tap_) tap_->record(TrafficDirection::Sent, 0, describe(sender), dumped);
                             }
                             if (finishing_ && sending_ == 0) close_socket_soon();
                           });
    if (rc < 0) return send_failed(sender, data.size(), rc, reply);
    ++sending_;
  }

  void send_failed(const Sender& sender, size_t size, int status, bool reply) {
    if (!reply) {
      ctx_.log().debug("echo of {} B to {}: {} (dropped)", size, describe(sender), uv_strerror(status));
      return;
    }
    ctx_.log().error("--reply-to-last: sending {} B to {}: {}", size, describe(sender), uv_strerror(status));
    ctx_.set_exit_code(kExitRuntime);
  }

  // Not from inside the socket's own send callback.
  void close_socket_soon() {
    std::weak_ptr<bool> alive = alive_;
    post(ctx_.loop(), [this, alive] {
      if (alive.lock()) socket_.close();
    });
  }

  void reply_to_last(const ChunkPtr& chunk) {
    if (!have_last_sender_) {
      ctx_.log().warn("stdin: no sender yet to reply to; {} bytes dropped", chunk->size);
      return;
    }
    // A read may be larger than one datagram can carry (a 64 KiB read to an
    // IPv4 sender): cut it, every byte still goes out and in order.
    std::string_view data(chunk->data.get(), chunk->size);
    size_t limit = max_datagram_to(reinterpret_cast<const sockaddr*>(&last_sender_.address));
    for (size_t at = 0; at < data.size(); at += limit) send_to(last_sender_, data.substr(at, limit), true);
  }

  void touch() {
    if (!idle_.is_open()) return;
    uv_timer_start(
        idle_.get(),
        [](uv_timer_t* t) {
          auto* self = static_cast<UdpListen*>(t->data);
          if (!self) return;
          self->ctx_.log().debug("no datagram for {} ms: done", self->opts_.get_duration(opt("idle-timeout")).count());
          self->finish();
        },
        static_cast<uint64_t>(opts_.get_duration(opt("idle-timeout")).count()), 0);
  }

  // Stops receiving, lets queued echoes/replies go out, flushes stdout, then
  // closes. (libuv queues a send made while an earlier one has not completed;
  // closing the socket at once would cancel it, e.g. the echo of the datagram
  // that reached --count.)
  void finish() {
    if (finishing_) return;
    finishing_ = true;
    if (unanswered_self_ > 0)
      ctx_.log().info("{} datagram(s) from our own address printed but not answered", unanswered_self_);
    flush_output();
    stop_receiving();
    if (sending_ == 0) socket_.close();
    if (unix_) unix_->close();  // its sends are done: they are synchronous
    idle_.close();
    if (stdio_) {
      stdio_->read_pause();
      stdio_->end([this](int) { stdio_.reset(); });
    }
  }

  Context& ctx_;
  const OptionValues& opts_;
  ResolveOptions resolve_;  // -4 -6 -n
  std::vector<char> buffer_;  // kBatch slots for recvmmsg
  std::string output_;        // what the current batch prints, not yet written
  Handle<uv_udp_t> socket_;
  Handle<uv_timer_t> idle_;
  std::unique_ptr<Endpoint> stdio_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::unique_ptr<UnixDatagramSocket> unix_;  // PORT was unix:/PATH or unix:@NAME
  Sender last_sender_;
  bool have_last_sender_ = false;
  std::shared_ptr<TrafficTap> tap_;  // --hex-dump, --output
  bool show_source_ = false, hex_ = false, echo_ = false;
  bool answers_ = false;  // --echo or --reply-to-last: something may be sent back
  uint64_t count_limit_ = 0;  // 0: no --count
  uint64_t received_ = 0;
  SelfAddresses self_;             // who is never answered (our own address)
  uint64_t unanswered_self_ = 0;   // datagrams from there, when answering was on
  size_t sending_ = 0;  // echo/reply sends not completed yet
  bool receiving_ = false;
  bool finishing_ = false;
};

std::unique_ptr<Command> create(Context& ctx) { return std::make_unique<UdpListen>(ctx); }

const PluginInfo kInfo{NETTOOL_PLUGIN_ABI,
                       "udp-listen",
                       "1.0",
                       "print datagrams received on [HOST] PORT (nc -u -l)",
                       "[HOST] PORT",
                       kOptions.data(),
                       kOptions.size(),
                       &create};

}  // namespace

NETTOOL_DEFINE_PLUGIN(kInfo)
