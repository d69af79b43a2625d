#include "nettool/datagram.h"

#include "nettool/error.h"
#include "nettool/net.h"
#include "nettool/uv.h"

namespace nettool {

Handle<uv_udp_t> bind_udp_server(uv_loop_t* loop, void* owner, const std::string& host, uint16_t port,
                                 const ResolveOptions& resolve, bool ipv4_any_first) {
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
    unsigned flags = UV_UDP_REUSEADDR | (resolve.family == AF_INET6 ? UV_UDP_IPV6ONLY : 0);
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
  if (oversize_ > 0) {
    // Measuring a line too long to send, without keeping it, to name its size.
    std::string_view data(chunk->data.get(), chunk->size);
    size_t nl = data.find('\n');
    oversize_ += nl == std::string_view::npos ? data.size() : nl;
    if (nl != std::string_view::npos) end_oversize();
    return;
  }
  pending_.append(chunk->data.get(), chunk->size);
  if (options_.chunk > 0) {
    // One erase per read, not per datagram: erasing each chunk from the front
    // moved the rest of a 64 KiB read a thousand times (a tenth of udp-send's
    // CPU with 64-byte chunks).
    size_t start = 0;
    while (pending_.size() - start >= options_.chunk) {
      ready_.push_back(pending_.substr(start, options_.chunk));
      start += options_.chunk;
    }
    pending_.erase(0, start);
  } else {
    size_t start = 0;
    while (true) {
      size_t nl = pending_.find('\n', start);
      if (nl == std::string::npos) break;
      ready_.push_back(pending_.substr(start, nl - start + (options_.keep_newline ? 1 : 0)));
      start = nl + 1;
    }
    pending_.erase(0, start);
    if (pending_.size() > options_.max_size) {  // a line already too long for one datagram
      oversize_ = pending_.size();
      pending_.clear();
      deliver();  // what came before it still goes out
      return;
    }
  }
  if (options_.count > 1) {
    size_t total = 0;
    for (size_t i = next_ready_; i < ready_.size(); ++i) total += ready_[i].size();
    if (total > (64u << 20)) {  // resending needs it all in memory: bound it
      on_eof(UV_ENOBUFS);
      return;
    }
    return;  // deliver at EOF
  }
  if (ready_.size() - next_ready_ > 64) stdin_->read_pause();  // the sender is behind
  deliver();
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
  if (!pending_.empty()) ready_.push_back(std::move(pending_));  // a last line without newline
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
