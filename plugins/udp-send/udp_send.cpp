// udp-send HOST PORT: nc -u HOST PORT (or a Unix datagram socket, unix:/PATH,
// as nc -uU). Datagrams from stdin lines, --chunk
// sized pieces, or --message texts; replies go to stdout. The socket is
// connected, so the kernel reports ICMP port-unreachable as ECONNREFUSED.
#include <spdlog/spdlog.h>

#include <array>

#include "nettool/connect.h"
#include "nettool/datagram.h"
#include "nettool/error.h"
#include "nettool/option_groups.h"
#include "nettool/net.h"
#include "nettool/plugin.h"
#include "nettool/unix.h"
#include "nettool/uv.h"

namespace {

using namespace nettool;

constexpr OptionSpec kOwnOptions[] = {
    {"host", 0, OptionType::String, "",
     "host name or address to send to, or a Unix datagram socket: unix:/PATH, unix:@NAME", "HOST", 0, true},
    {.name = "port",
     .type = OptionType::Port,
     .help = "destination port number or UDP service name (domain); none for a Unix socket",
     .value_name = "PORT",
     .positional = 1,
     .service_protocol = "udp"},
    {"message", 'M', OptionType::StringList, "", "send TEXT as one datagram instead of reading stdin", "TEXT"},
    {"chunk", 0, OptionType::Size, "", "cut stdin into datagrams of this size (binary-safe) instead of lines"},
    {.name = "keep-newline", .type = OptionType::Bool, .default_value = "true",
     .help = "end each line's datagram with its line break as read (\\n or \\r\\n), as nc -u does; "
             "--no-keep-newline strips it"},
    {.name = "count", .type = OptionType::Int, .default_value = "1", .help = "send the datagram(s) this many times",
     .min = 1},
    {"interval", 0, OptionType::Duration, "", "pause between datagrams"},
    // -w is nc's spelling; -W, the one documented first, keeps working.
    {.name = "wait", .short_flag = 'w', .type = OptionType::Duration,
     .help = "after sending, print replies until this long passes with nothing new", .short_alias = 'W'},
    {.name = "ttl", .type = OptionType::Int, .help = "IP time to live (hop limit) of the datagrams", .min = 1, .max = 255},
};
constexpr auto kOptions = join_options(kOwnOptions, kAddressFamilyOptions, kSourceOptions, kTapOptions, kNcUdpLetter);
// Every option read below goes through opt(): a name not in kOptions does not compile.
consteval std::string_view opt(std::string_view name) { return checked_option<kOptions>(name); }

class UdpSend final : public Command {
 public:
  explicit UdpSend(Context& ctx) : ctx_(ctx), opts_(ctx.options()) {}
  ~UdpSend() override { abort(); }

  void start() override {
    ResolveOptions ro = address_family_options(opts_);
    ro.socktype = SOCK_DGRAM;
    local_ = source_options(opts_);
    tap_ = traffic_tap(ctx_, opts_);
    if (auto unix = parse_unix_address(opts_.get_string(opt("host")))) return start_unix(*unix);
    if (!opts_.has(opt("port")))
      throw ConfigError(missing_port_message("PORT", opts_.get_string(opt("host")), "HOST PORT, or unix:/PATH for a Unix socket"));
    // As the other UDP senders: nothing can be sent to port 0.
    if (opts_.get_port(opt("port")) == 0) throw ConfigError("PORT: 0 is not a port to send to");
    // The resolver would take "" for the loopback address.
    if (strip_brackets(opts_.get_string(opt("host"))).empty())
      throw ConfigError("HOST is empty (a host name or an address)");
    if (std::string why = limits_error(ro.family, ""); !why.empty()) throw ConfigError(why);
    resolving_ = resolve_async(ctx_.loop(), opts_.get_string(opt("host")), opts_.get_port(opt("port")), ro,
                               [this](std::vector<sockaddr_storage> addrs, const std::string& error) {
                                 resolving_.reset();
                                 if (!error.empty()) return fail(error);
                                 // Only now is the family known: a --chunk that fits IPv6
                                 // but not IPv4 is refused here, before anything is sent.
                                 const auto* dest = reinterpret_cast<const sockaddr*>(&addrs.front());
                                 if (std::string why = limits_error(dest->sa_family, format_address(dest)); !why.empty())
                                   return fail(why, kExitUsage);
                                 open_socket(addrs.front());
                               });
  }

  void shutdown() override { finish(); }
  void abort() override {
    if (unix_) unix_->close();
    resolving_.reset();
    source_.reset();
    wait_timer_.close();
    socket_.close();
    stdout_.reset();
  }

 private:
  // Tears down from a fresh loop iteration: fail() may be called from inside
  // the datagram source or a libuv callback of what it closes.
  void fail(const std::string& message, ExitCode code = kExitRuntime) {
    ctx_.log().error("{}", message);
    ctx_.set_exit_code(code);
    std::weak_ptr<bool> alive = alive_;
    post(ctx_.loop(), [this, alive] {
      if (alive.lock()) abort();
    });
  }

  // Replies go to stdout; one that cannot be written (a full disk, a closed
  // pipe) fails the run, as in udp-listen: a script must not take lost
  // replies for none.
  void open_stdout() {
    stdout_ = ctx_.open_stdio(false, true);
    stdout_->on_write_error([this](int status) {
      if (said_stdout_error_) return;
      said_stdout_error_ = true;
      fail("writing stdout: " + std::string(uv_strerror(status)));
    });
  }

  std::string limits_error(int family, const std::string& destination) const {
    std::optional<uint64_t> chunk;
    if (opts_.has(opt("chunk"))) chunk = opts_.get_size(opt("chunk"));
    return datagram_limits_error(chunk, opts_.get_list(opt("message")), family, destination);
  }

  // HOST is a Unix datagram socket (nc -uU): the same datagrams, sent on a
  // socket connected to it, and replies read from it as over UDP.
  void start_unix(const UnixAddress& address) {
    if (opts_.has(opt("port"))) throw ConfigError(address.to_string() + ": a Unix socket has no PORT");
    for (std::string_view name : {opt("source"), opt("source-port"), opt("ttl")})
      if (opts_.given(name)) throw ConfigError("--" + std::string(name) + " is for UDP, not " + address.to_string());
    if (std::string why = limits_error(AF_INET, ""); !why.empty()) throw ConfigError(why);
    unix_ = UnixDatagramSocket::connect(ctx_.loop(), address);  // RuntimeError: nothing bound there
    dest_ = address.to_string();
    ctx_.counters().connections++;
    open_stdout();
    unix_->receive_start(
        [this](ssize_t nread, std::string_view data, const sockaddr*, socklen_t, bool truncated) {
          // A Unix datagram may be larger than the 64 KiB we read: say so, as udp-listen does.
          if (truncated) ctx_.log().warn("reply from {} truncated to {} bytes", dest_, data.size());
          uv_buf_t buf = uv_buf_init(const_cast<char*>(data.data()), static_cast<unsigned>(data.size()));
          on_reply(nread, &buf);
        },
        nullptr);
    start_source(AF_INET);
  }

  // Sends now. A receiver whose queue is full makes us wait for room with
  // the source paused: a Unix datagram is never lost on the way, so none is
  // dropped here either.
  bool send_unix(std::string payload) {
    if (tap_) tap_->record(TrafficDirection::Sent, 0, dest_, payload);
    waiting_ = std::move(payload);
    return send_waiting();
  }

  bool send_waiting() {
    int rc = unix_->send(waiting_);
    if (rc == UV_EAGAIN) {
      if (!said_full_) ctx_.log().debug("{}: the receiver's queue is full: waiting for room", dest_);
      said_full_ = true;
      ++in_flight_;  // so that finishing waits for it
      unix_->when_writable([this] {
        --in_flight_;
        send_waiting();  // sent() resumes the source once it has gone
      });
      return false;
    }
    size_t size = waiting_.size();
    waiting_.clear();
    sent(rc, rc < 0 ? 0 : size);
    return true;
  }

  void open_socket(const sockaddr_storage& ss) {
    const sockaddr* dest = reinterpret_cast<const sockaddr*>(&ss);
    dest_ = format_address(dest);
    family_ = dest->sa_family;
    if (uv_udp_init_ex(ctx_.loop(), socket_.get(), dest->sa_family) < 0) return fail("cannot create a UDP socket");
    socket_.mark_initialized(this);
    if (local_.host || local_.port) {
      ResolveOptions ro;
      ro.socktype = SOCK_DGRAM;
      ro.passive = true;
      ro.family = dest->sa_family;
      try {
        auto src = resolve_now(local_.host.value_or(""), local_.port.value_or(0), ro);
        // Not shared (no SO_REUSEADDR): a source port another socket holds is
        // an error, and nobody else can bind ours and take its replies.
        if (int rc = uv_udp_bind(socket_.get(), reinterpret_cast<const sockaddr*>(&src[0]), 0); rc < 0)
          return fail(uv_message("binding source " + format_address(reinterpret_cast<const sockaddr*>(&src[0])), rc));
      } catch (const RuntimeError& e) {
        return fail(std::string("source address: ") + e.what());
      }
    }
    if (int rc = uv_udp_connect(socket_.get(), dest); rc < 0) return fail(uv_message("udp " + dest_, rc));
    if (opts_.has(opt("ttl"))) uv_udp_set_ttl(socket_.get(), static_cast<int>(opts_.get_int(opt("ttl"))));
    ctx_.counters().connections++;

    open_stdout();
    uv_udp_recv_start(
        socket_.get(),
        [](uv_handle_t* h, size_t, uv_buf_t* buf) {
          // One datagram at a time, copied out before the next read.
          auto* self = static_cast<UdpSend*>(h->data);
          *buf = self ? uv_buf_init(self->recv_buffer_.data(), static_cast<unsigned>(self->recv_buffer_.size()))
                      : uv_buf_init(nullptr, 0);
        },
        [](uv_udp_t* h, ssize_t nread, const uv_buf_t* buf, const sockaddr* from, unsigned) {
          auto* self = static_cast<UdpSend*>(h->data);
          // libuv says "nothing more to read now" with nread 0 and no sender;
          // an empty datagram has a sender, and is a reply like any other.
          if (self && !(nread == 0 && from == nullptr)) self->on_reply(nread, buf);
        });

    start_source(dest->sa_family);
  }

  // Datagrams from stdin or --message, each sized within `family`'s limit.
  void start_source(int family) {
    DatagramSource::Options so;
    for (const auto& m : opts_.get_list(opt("message"))) so.messages.push_back(m);
    if (opts_.has(opt("chunk"))) so.chunk = opts_.get_size(opt("chunk"));
    so.keep_newline = opts_.get_bool(opt("keep-newline"));
    so.max_size = max_udp_payload(family);
    so.count = static_cast<uint64_t>(opts_.get_int(opt("count")));
    if (opts_.has(opt("interval"))) so.interval = opts_.get_duration(opt("interval"));
    source_ = std::make_unique<DatagramSource>(ctx_.loop(), so);
    source_->start([this](std::string payload) { return unix_ ? send_unix(std::move(payload)) : send(std::move(payload)); },
                   [this](int status, size_t oversize) { on_source_end(status, oversize); });
  }

  bool send(std::string payload) {
    if (tap_) tap_->record(TrafficDirection::Sent, 0, dest_, payload);
    int rc = send_datagram(socket_.get(), std::move(payload), nullptr,
                           [this](int status, size_t bytes) { sent(status, bytes); });
    if (rc < 0) {
      sent(rc, 0);
      return false;
    }
    ++in_flight_;
    return in_flight_ < 256;  // pause the source while the kernel catches up; libuv batches with sendmmsg
  }

  // Any datagram that could not be sent makes the run a failure (exit 1),
  // whatever else got through: a script must not take a partial send for a
  // complete one. The rest are still tried, as nc does.
  void sent(int status, size_t bytes) {
    if (in_flight_ > 0) --in_flight_;
    if (status < 0) ++failed_;
    if (status == UV_ECONNREFUSED) {
      report_refused();
    } else if (status < 0) {
      // One line for the first, the count at the end: a dead route must not
      // print one error per datagram.
      if (!said_send_error_) ctx_.log().error("sending to {}: {}", dest_, uv_strerror(status));
      else ctx_.log().debug("sending to {}: {}", dest_, uv_strerror(status));
      said_send_error_ = true;
      ctx_.set_exit_code(kExitRuntime);
    } else {
      ctx_.counters().bytes_sent += bytes;
      ++datagrams_sent_;
    }
    if (source_ && in_flight_ < 64) source_->resume();
    maybe_done();
  }

  void on_reply(ssize_t nread, const uv_buf_t* buf) {
    if (nread == UV_ECONNREFUSED) return report_refused();
    if (nread < 0) {
      ctx_.log().warn("receiving from {}: {}", dest_, uv_strerror(static_cast<int>(nread)));
      return;
    }
    ++replies_;
    ctx_.counters().bytes_received += static_cast<uint64_t>(nread);
    if (tap_) tap_->record(TrafficDirection::Received, 0, dest_, {buf->base, static_cast<size_t>(nread)});
    if (stdout_) stdout_->write(make_chunk(std::string_view(buf->base, static_cast<size_t>(nread))));
    if (source_done_ && wait_timer_.is_open()) arm_wait();  // quiet period restarts
  }

  // A refusal means a datagram we sent reached no one (ICMP port unreachable
  // for our connected socket), even when earlier ones were answered.
  void report_refused() {
    ctx_.set_exit_code(kExitRuntime);
    if (!refused_)
      ctx_.log().error("{}: connection refused ({})", dest_,
                       unix_ ? "nothing is bound to it any more" : "ICMP port unreachable: nothing listens there");
    refused_ = true;
  }

  void on_source_end(int status, size_t oversize) {
    if (oversize) {
      return fail("a datagram of " + std::to_string(oversize) + " bytes is larger than the UDP limit of " +
                  std::to_string(max_udp_payload(family_)) +
                  " bytes; nothing of it was sent (use --chunk SIZE to split the input)");
    }
    if (status < 0) return fail(datagram_source_error(status));
    source_done_ = true;
    // Not from inside the source's own callback: finishing destroys it.
    std::weak_ptr<bool> alive = alive_;
    post(ctx_.loop(), [this, alive] {
      if (alive.lock()) maybe_done();
    });
  }

  void maybe_done() {
    if (!source_done_ || in_flight_ > 0 || finishing_) return;
    if (opts_.has(opt("wait")) && opts_.get_duration(opt("wait")).count() > 0) {
      if (!wait_timer_.initialized()) {
        wait_timer_ = make_timer(ctx_.loop(), this);
        arm_wait();
      }
      return;
    }
    finish();
  }

  void arm_wait() {
    uv_timer_start(
        wait_timer_.get(),
        [](uv_timer_t* t) {
          if (auto* self = static_cast<UdpSend*>(t->data)) self->finish();
        },
        static_cast<uint64_t>(opts_.get_duration(opt("wait")).count()), 0);
  }

  // Flushes replies to stdout, then closes everything.
  void finish() {
    if (finishing_) return;
    finishing_ = true;
    ctx_.log().debug("{} datagram(s) sent to {}, {} repl(ies)", datagrams_sent_, dest_, replies_);
    if (failed_ > 1)
      ctx_.log().error("{} of {} datagram(s) to {} could not be sent", failed_, failed_ + datagrams_sent_, dest_);
    if (socket_.is_open()) uv_udp_recv_stop(socket_.get());
    if (unix_) unix_->receive_stop();
    source_.reset();
    wait_timer_.close();
    if (stdout_) {
      stdout_->end([this](int) {
        socket_.close();
        if (unix_) unix_->close();
        stdout_.reset();
      });
    } else {
      socket_.close();
      if (unix_) unix_->close();
    }
  }

  Context& ctx_;
  const OptionValues& opts_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::shared_ptr<void> resolving_;
  Handle<uv_udp_t> socket_;
  Handle<uv_timer_t> wait_timer_;
  std::unique_ptr<DatagramSource> source_;
  SourceAddress local_;  // -s/-p
  std::unique_ptr<Endpoint> stdout_;
  std::string dest_;
  int family_ = AF_INET;
  std::array<char, 65536> recv_buffer_{};
  std::shared_ptr<TrafficTap> tap_;  // --hex-dump, --output
  std::unique_ptr<UnixDatagramSocket> unix_;  // HOST was unix:/PATH or unix:@NAME
  std::string waiting_;                      // its datagram waiting for room at the receiver
  bool said_full_ = false;                   // -v has been told that it waits
  size_t in_flight_ = 0;
  uint64_t datagrams_sent_ = 0, replies_ = 0;
  uint64_t failed_ = 0;  // sends that returned an error (a refusal on send included)
  bool said_send_error_ = false;  // the first error other than a refusal has been logged
  bool said_stdout_error_ = false;  // a reply could not be written to stdout
  bool source_done_ = false, refused_ = false, finishing_ = false;
};

std::unique_ptr<Command> create(Context& ctx) { return std::make_unique<UdpSend>(ctx); }

const PluginInfo kInfo{NETTOOL_PLUGIN_ABI,
                       "udp-send",
                       "1.0",
                       "send datagrams from stdin or --message to HOST PORT (nc -u)",
                       "HOST PORT | unix:/PATH",
                       kOptions.data(),
                       kOptions.size(),
                       &create};

}  // namespace

NETTOOL_DEFINE_PLUGIN(kInfo)
