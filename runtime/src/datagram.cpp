#include "nettool/datagram.h"

#include <algorithm>
#include <cstring>

#include "nettool/error.h"
#include "nettool/net.h"
#include "nettool/uv.h"

namespace nettool {

Handle<uv_udp_t> bind_udp_server(uv_loop_t* loop, void* owner, const std::string& host, uint16_t port,
                                 const ResolveOptions& resolve, bool ipv4_any_first, bool share_port) {
  std::vector<sockaddr_storage> addrs;
  if (!host.empty()) {
    ResolveOptions ro = resolve;
    ro.socktype = SOCK_DGRAM;
    ro.passive = true;
    addrs = resolve_now(host, port, ro);
  } else {
    sockaddr_storage v6{}, v4{};
    uv_ip6_addr("::", port, reinterpret_cast<sockaddr_in6*>(&v6));
    uv_ip4_addr("0.0.0.0", port, reinterpret_cast<sockaddr_in*>(&v4));
    if (resolve.family != AF_INET && !ipv4_any_first) addrs.push_back(v6);
    if (resolve.family != AF_INET6) addrs.push_back(v4);
  }
  std::string errors;
  for (const auto& ss : addrs) {
    const sockaddr* addr = reinterpret_cast<const sockaddr*>(&ss);
    Handle<uv_udp_t> udp;
    if (int rc = uv_udp_init_ex(loop, udp.get(), addr->sa_family | UV_UDP_RECVMMSG); rc < 0)
      throw RuntimeError(uv_message("creating a UDP socket", rc));
    udp.mark_initialized(owner);
    unsigned flags = (share_port ? UV_UDP_REUSEADDR : 0) | (resolve.family == AF_INET6 ? UV_UDP_IPV6ONLY : 0);
    if (int rc = uv_udp_bind(udp.get(), addr, flags); rc < 0) {
      if (!errors.empty()) errors += "; ";
      errors += uv_message(format_address(addr), rc);
      continue;
    }
    int rcvbuf = 4 << 20;
    uv_recv_buffer_size(udp.as_handle(), &rcvbuf);
    return udp;
  }
  throw RuntimeError("cannot listen: " + errors);
}

namespace {

// An IP socket address's address as 16 bytes (IPv4 mapped into IPv6) and its
// port; false for anything else (a Unix address).
bool ip_of(const sockaddr* addr, std::array<unsigned char, 16>& ip, uint16_t& port) {
  if (addr->sa_family == AF_INET) {
    const auto* in4 = reinterpret_cast<const sockaddr_in*>(addr);
    ip.fill(0);
    ip[10] = ip[11] = 0xff;
    std::memcpy(ip.data() + 12, &in4->sin_addr, 4);
    port = ntohs(in4->sin_port);
    return true;
  }
  if (addr->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    std::memcpy(ip.data(), &in6->sin6_addr, 16);
    port = ntohs(in6->sin6_port);
    return true;
  }
  return false;
}

bool is_v4(const std::array<unsigned char, 16>& ip) {
  static constexpr unsigned char kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(ip.data(), kPrefix, 12) == 0;
}

bool is_unspecified(const std::array<unsigned char, 16>& ip) {
  if (is_v4(ip)) return ip[12] == 0 && ip[13] == 0 && ip[14] == 0 && ip[15] == 0;
  return std::all_of(ip.begin(), ip.end(), [](unsigned char b) { return b == 0; });
}

bool is_loopback(const std::array<unsigned char, 16>& ip) {
  if (is_v4(ip)) return ip[12] == 127;
  static constexpr std::array<unsigned char, 16> kLoopback6 = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return ip == kLoopback6;
}

bool is_multicast(const std::array<unsigned char, 16>& ip) {
  return is_v4(ip) ? (ip[12] & 0xf0) == 0xe0 : ip[0] == 0xff;
}

}  // namespace

size_t max_datagram_to(const sockaddr* to) {
  if (to->sa_family == AF_UNIX) return 64 * 1024;
  std::array<unsigned char, 16> ip{};
  uint16_t port = 0;
  if (ip_of(to, ip, port) && is_v4(ip)) return max_udp_payload(AF_INET);
  return max_udp_payload(to->sa_family);
}

bool same_ip_endpoint(const sockaddr* a, const sockaddr* b) {
  std::array<unsigned char, 16> ia{}, ib{};
  uint16_t pa = 0, pb = 0;
  return ip_of(a, ia, pa) && ip_of(b, ib, pb) && pa == pb && ia == ib;
}

SelfAddresses::SelfAddresses(const uv_udp_t* socket) {
  sockaddr_storage bound{};
  int len = sizeof bound;
  if (uv_udp_getsockname(socket, reinterpret_cast<sockaddr*>(&bound), &len) != 0) return;
  *this = SelfAddresses(reinterpret_cast<const sockaddr*>(&bound));
}

SelfAddresses::SelfAddresses(const sockaddr* bound) {
  Ip ip{};
  if (!ip_of(bound, ip, port_)) return;
  ipv4_only_ = bound->sa_family == AF_INET;
  wildcard_ = is_unspecified(ip);
  if (!wildcard_) {
    addresses_.push_back(ip);
    return;
  }
  uv_interface_address_t* list = nullptr;
  int count = 0;
  if (uv_interface_addresses(&list, &count) != 0) return;  // loopback and the unspecified address still count
  for (int i = 0; i < count; ++i) {
    uint16_t ignored = 0;
    if (ip_of(reinterpret_cast<const sockaddr*>(&list[i].address), ip, ignored)) addresses_.push_back(ip);
  }
  uv_free_interface_addresses(list, count);
}

bool SelfAddresses::is_self(const sockaddr* addr) const {
  Ip ip{};
  uint16_t port = 0;
  if (port_ == 0 || !ip_of(addr, ip, port) || port != port_) return false;
  // 0.0.0.0 takes no IPv6 (::1 is another service); :: takes both (dual stack).
  if (ipv4_only_ && !is_v4(ip)) return false;
  // Sending to 0.0.0.0 or :: reaches this host (Linux routes it to loopback).
  if (is_unspecified(ip)) return true;
  if (wildcard_ && is_loopback(ip)) return true;
  return std::find(addresses_.begin(), addresses_.end(), ip) != addresses_.end();
}

bool SelfAddresses::is_self_or_bogus(const sockaddr* from) const {
  Ip ip{};
  uint16_t port = 0;
  if (!ip_of(from, ip, port)) return false;
  // Never the source of a real datagram, and a reply there would come back
  // to us (multicast loops back by default) whatever the port.
  if (is_unspecified(ip) || is_multicast(ip)) return true;
  return is_self(from);
}

std::string udp_bound_address(const uv_udp_t* socket) {
  sockaddr_storage bound{};
  int len = sizeof bound;
  uv_udp_getsockname(socket, reinterpret_cast<sockaddr*>(&bound), &len);
  return format_address(reinterpret_cast<sockaddr*>(&bound));
}

size_t max_udp_payload(int family) { return family == AF_INET6 ? 65527 : 65507; }

std::string datagram_limits_error(std::optional<uint64_t> chunk, const std::vector<std::string>& messages, int family,
                                  const std::string& destination) {
  size_t limit = max_udp_payload(family == AF_UNSPEC ? AF_INET6 : family);  // IPv6's is the larger
  std::string to = destination.empty() ? "" : " to " + destination;
  std::string over = family == AF_INET ? " over IPv4" : family == AF_INET6 ? " over IPv6" : "";
  if (chunk && *chunk == 0) return "--chunk must be at least 1 byte";
  if (chunk && *chunk > limit)
    return "--chunk " + std::to_string(*chunk) + " is larger than a UDP datagram" + to + " can carry (" +
           std::to_string(limit) + " bytes" + over + ")";
  for (const auto& m : messages)
    if (m.size() > limit)
      return "a --message of " + std::to_string(m.size()) + " bytes is larger than a UDP datagram" + to +
             " can carry (" + std::to_string(limit) + " bytes" + over + ")";
  return "";
}

namespace {

// Where the datagram of the line whose '\n' is at `nl` ends: after the
// newline when it is kept (the bytes as read, as nc sends them), else before
// it and before a '\r' ahead of it, so that CRLF input does not leave a
// stray '\r' at the end of each datagram.
size_t line_payload_end(std::string_view text, size_t start, size_t nl, bool keep_newline) {
  if (keep_newline) return nl + 1;
  return nl > start && text[nl - 1] == '\r' ? nl - 1 : nl;
}

}  // namespace

DatagramSource::DatagramSource(uv_loop_t* loop, Options options) : loop_(loop), options_(std::move(options)) {
  if (options_.count == 0) options_.count = 1;
  if (options_.interval.count() > 0) pace_ = make_timer(loop_, this);
}

DatagramSource::~DatagramSource() { *alive_ = false; }

void DatagramSource::start(DatagramFn on_datagram, EndFn on_end) {
  on_datagram_ = std::move(on_datagram);
  on_end_ = std::move(on_end);
  if (!options_.messages.empty()) {
    for (const auto& m : options_.messages) {
      if (m.size() > options_.max_size) {
        ended_ = true;
        auto size = m.size();
        std::weak_ptr<bool> alive = alive_;
        post(loop_, [this, alive, size] {
          if (auto a = alive.lock(); a && *a) on_end_(0, size);
        });
        return;
      }
    }
    ready_ = options_.messages;
    eof_ = true;
    std::weak_ptr<bool> alive = alive_;
    post(loop_, [this, alive] {
      if (auto a = alive.lock(); a && *a) deliver();
    });
    return;
  }
  stdin_ = make_stdio_endpoint(loop_, true, false);
  std::weak_ptr<bool> alive = alive_;
  stdin_->read_start(
      [this, alive](const ChunkPtr& chunk) {
        if (auto a = alive.lock(); a && *a) on_data(chunk);
      },
      [this, alive](int status) {
        if (auto a = alive.lock(); a && *a) on_eof(status);
      });
}

void DatagramSource::on_data(const ChunkPtr& chunk) {
  if (ended_) return;  // a read that was already under way
  if (oversize_ > 0) {
    // Measuring a line too long to send, without keeping it, to name the
    // size its datagram would have had.
    std::string_view data(chunk->data.get(), chunk->size);
    size_t nl = data.find('\n');
    if (nl == std::string_view::npos) {
      oversize_ += data.size();
      if (!data.empty()) oversize_ends_in_cr_ = data.back() == '\r';
      return;
    }
    bool cr_before_nl = nl > 0 ? data[nl - 1] == '\r' : oversize_ends_in_cr_;
    oversize_ += nl;
    if (options_.keep_newline) oversize_ += 1;
    else if (cr_before_nl) oversize_ -= 1;
    end_oversize();
    return;
  }
  pending_.append(chunk->data.get(), chunk->size);
  if (options_.chunk > 0) {
    // One erase per read, not per datagram: erasing each chunk from the front
    // moved the rest of a 64 KiB read a thousand times (a tenth of udp-send's
    // CPU with 64-byte chunks).
    size_t start = 0;
    while (pending_.size() - start >= options_.chunk) {
      queue(pending_.substr(start, options_.chunk));
      start += options_.chunk;
    }
    pending_.erase(0, start);
  } else {
    size_t start = 0;
    while (true) {
      size_t nl = pending_.find('\n', start);
      if (nl == std::string::npos) break;
      queue(pending_.substr(start, line_payload_end(pending_, start, nl, options_.keep_newline) - start));
      start = nl + 1;
    }
    pending_.erase(0, start);
    // A line already too long for one datagram, whatever follows (stripping
    // may still take a '\r' at its end off).
    if (pending_.size() > options_.max_size + (options_.keep_newline ? 0 : 1)) {
      oversize_ = pending_.size();
      oversize_ends_in_cr_ = pending_.back() == '\r';
      pending_.clear();
      deliver();  // what came before it still goes out
      return;
    }
  }
  if (options_.count > 1) {
    // Resending needs it all in memory: bound it. The running total counts
    // what each datagram costs besides its bytes, so empty lines count too.
    if (queued_bytes_ > kMaxQueuedBytes) {
      if (stdin_) stdin_->read_pause();
      on_eof(kTooMuchQueued);
    }
    return;  // deliver at EOF
  }
  if (ready_.size() - next_ready_ > 64) stdin_->read_pause();  // the sender is behind
  deliver();
}

void DatagramSource::queue(std::string payload) {
  queued_bytes_ += payload.size() + kDatagramOverhead;
  ready_.push_back(std::move(payload));
}

std::string datagram_source_error(int status) {
  if (status == DatagramSource::kTooMuchQueued)
    return "more than 64 MiB of datagrams (counting " + std::to_string(DatagramSource::kDatagramOverhead) +
           " bytes of bookkeeping each) waiting to be sent: --count keeps all of stdin in memory to send it again";
  return std::string("reading stdin: ") + uv_strerror(status);
}

void DatagramSource::end_oversize() {
  if (ended_) return;
  ended_ = true;
  if (stdin_) stdin_->read_pause();
  on_end_(0, oversize_);
}

void DatagramSource::on_eof(int status) {
  if (oversize_ > 0) return end_oversize();
  if (eof_) return;
  eof_ = true;
  if (status < 0) {
    ended_ = true;
    on_end_(status, 0);
    return;
  }
  if (!pending_.empty()) queue(std::move(pending_));  // a last line without newline
  pending_.clear();
  deliver();
}

void DatagramSource::resume() {
  paused_ = false;
  if (delivering_) {
    resumed_while_delivering_ = true;  // the running deliver() loop goes on
    return;
  }
  deliver();
}

void DatagramSource::deliver() {
  if (ended_) return;
  if (options_.count > 1 && !eof_) return;  // resending needs everything first
  if (pace_.initialized() && uv_is_active(pace_.as_handle())) return;  // waiting out --interval
  while (!paused_ && next_ready_ < ready_.size()) {
    if (pace_.initialized() && emitted_any_) {
      schedule();
      return;
    }
    std::string payload = std::move(ready_[next_ready_++]);
    if (round_ == 1) queued_bytes_ -= std::min(queued_bytes_, payload.size() + kDatagramOverhead);
    if (payload.size() > options_.max_size) {
      ended_ = true;
      on_end_(0, payload.size());
      return;
    }
    if (options_.count > 1 && round_ == 1) replay_.push_back(payload);
    emitted_any_ = true;
    resumed_while_delivering_ = false;
    delivering_ = true;
    bool more = on_datagram_(std::move(payload));
    delivering_ = false;
    if (!more && !resumed_while_delivering_) paused_ = true;
    if (ended_) return;
    if (pace_.initialized() && next_ready_ < ready_.size()) {
      schedule();
      return;
    }
  }
  if (next_ready_ == ready_.size()) {
    ready_.clear();
    next_ready_ = 0;
    if (eof_ && round_ < options_.count && !replay_.empty()) {
      ++round_;
      ready_ = replay_;
      if (pace_.initialized()) schedule();
      else deliver();
      return;
    }
    if (stdin_ && !eof_) stdin_->read_resume();
  }
  if (eof_ && ready_.empty() && !ended_) {
    ended_ = true;
    on_end_(0, 0);
  }
}

// Waits out --interval, then continues. The pause is bounded by the option.
void DatagramSource::schedule() {
  if (uv_is_active(pace_.as_handle())) return;
  uv_timer_start(
      pace_.get(),
      [](uv_timer_t* t) {
        auto* self = static_cast<DatagramSource*>(t->data);
        if (!self) return;
        self->emitted_any_ = false;  // the interval has passed: one may go now
        self->deliver();
      },
      static_cast<uint64_t>(options_.interval.count()), 0);
}

}  // namespace nettool
