#include "nettool/bridge.h"

#include <spdlog/logger.h>
#include <unistd.h>

#include "nettool/option_groups.h"
#include "nettool/uv.h"

namespace nettool {

namespace {
// How long a session whose local side stopped taking data keeps reading the
// peer after its own side is done (see check_both_done()), in ms.
constexpr uint64_t kLinger = 1000;
}  // namespace

std::shared_ptr<Bridge> Bridge::start(uv_loop_t* loop, std::unique_ptr<Endpoint> network,
                                      std::unique_ptr<Endpoint> local, Policy policy, Done done) {
  auto bridge = std::make_shared<Bridge>(loop, std::move(network), std::move(local), std::move(policy), std::move(done));
  bridge->begin();
  return bridge;
}

Bridge::Bridge(uv_loop_t* loop, std::unique_ptr<Endpoint> network, std::unique_ptr<Endpoint> local, Policy policy,
               Done done)
    : loop_(loop), network_(std::move(network)), local_(std::move(local)), policy_(std::move(policy)),
      done_(std::move(done)) {}

Bridge::~Bridge() {
  if (up_) up_->stop();
  if (down_) down_->stop();
}

void Bridge::begin() {
  std::weak_ptr<Bridge> weak = shared_from_this();
  network_->on_write_error([weak](int status) {
    if (auto b = weak.lock()) b->abort(1, "sending to " + b->network_->describe() + ": " + uv_strerror(status));
  });
  local_->on_write_error([weak](int status) {
    auto b = weak.lock();
    if (!b) return;
    std::string reason = "writing to " + b->local_->describe() + ": " + uv_strerror(status);
    // Our stdout's reader left (`nettool ... | head`): nothing to report, as
    // nc dies of the SIGPIPE without a word. Still exit 1: the data did not
    // all go out. A child or a forwarding target that goes away is an error.
    if (status == UV_EPIPE && b->policy_.local_is_stdio) {
      if (b->policy_.log) b->policy_.log->debug("{}", reason);
      reason.clear();
    } else if (status == UV_EPIPE) {
      b->local_stopped_taking(std::move(reason));
      return;
    }
    b->abort(1, reason);
  });
  if (policy_.idle_timeout.count() > 0) {
    idle_timer_ = make_timer(loop_, this);
    touch();
  }
  // Each direction has one source and one destination that nothing else
  // uses, so unless a transform sits in between it may splice (Relay::start_exclusive).
  auto on_network_end = [weak](int status) {
    if (auto b = weak.lock()) b->on_network_end(status);
  };
  if (!policy_.send_only && local_->writable())
    down_ = Relay::start_exclusive(loop_, *network_, *local_, on_network_end, policy_.log);
  else
    down_ = Relay::start(*network_, {}, false, on_network_end);  // read and drop, to see the peer's EOF
  down_->on_chunk([this](size_t) { touch(); });
  if (policy_.recv_only || !local_->readable()) {
    nothing_goes_up_ = true;  // the write side stays open like nc -d, until the peer's end
    return;
  }
  auto on_local_end = [weak](int status) {
    if (auto b = weak.lock()) b->on_local_end(status);
  };
  if (policy_.to_network)
    up_ = Relay::start(*local_, {network_.get()}, false, on_local_end, policy_.to_network);
  else
    up_ = Relay::start_exclusive(loop_, *local_, *network_, on_local_end, policy_.log);
  up_->on_chunk([this](size_t) { touch(); });
}

void Bridge::touch() {
  if (!idle_timer_.is_open()) return;
  uv_timer_start(
      idle_timer_.get(),
      [](uv_timer_t* t) {
        auto* self = static_cast<Bridge*>(t->data);
        if (self)
          self->abort(1, "idle for " + std::to_string(self->policy_.idle_timeout.count()) + " ms (--idle-timeout)");
      },
      static_cast<uint64_t>(policy_.idle_timeout.count()), 0);
}

void Bridge::on_local_end(int status) {
  if (finished_) return;
  if (status < 0) {
    abort(1, "reading from " + local_->describe() + ": " + uv_strerror(status));
    return;
  }
  if (!policy_.half_close && !policy_.send_only) return;  // keep the write side open; wait for the peer
  end_network();
}

// Half-closes the network side once everything queued for it is sent.
void Bridge::end_network() {
  if (network_end_requested_) return;
  network_end_requested_ = true;
  std::weak_ptr<Bridge> weak = shared_from_this();
  network_->end([weak](int st) {
    auto b = weak.lock();
    if (!b || b->finished_) return;
    // With nothing sent, a peer that has already gone cannot have missed
    // anything of ours: only a failure to end what we did send is an error.
    if (st < 0 && !b->nothing_goes_up_) {
      b->abort(1, "closing the write side to " + b->network_->describe() + ": " + uv_strerror(st));
      return;
    }
    b->up_flushed_ = true;
    if (b->policy_.send_only) b->abort(0, "");
    else b->check_both_done();
  });
}

void Bridge::on_network_end(int status) {
  if (finished_) return;
  if (status < 0) {
    abort(1, "connection to " + network_->describe() + ": " + uv_strerror(status));
    return;
  }
  if (policy_.send_only) {
    down_flushed_ = true;
    if (up_flushed_) report(0, "");
    return;
  }
  if (!policy_.wait_for_both || nothing_goes_up_) {
    // The peer is done: stop reading stdin, send what is already queued, then
    // finish. Ending our side even when nothing went up is what gives a TLS
    // peer our close_notify (TCP alone would have its FIN from the close).
    if (up_) up_->stop();
    if (!up_flushed_) end_network();
  }
  std::weak_ptr<Bridge> weak = shared_from_this();
  local_->end([weak](int st) {
    auto b = weak.lock();
    if (!b || b->finished_) return;
    // A child that already exited cannot take its EOF; that is not a failure.
    if (st < 0 && !b->policy_.wait_for_both) {
      b->abort(1, "writing to " + b->local_->describe() + ": " + uv_strerror(st));
      return;
    }
    b->down_flushed_ = true;
    b->check_both_done();
  });
}

void Bridge::check_both_done() {
  if (!up_flushed_) return;
  if (down_flushed_) {
    report(failed_after_.empty() ? 0 : 1, failed_after_);
    return;
  }
  if (failed_after_.empty() || linger_timer_.is_open()) return;
  // Our side is done, the peer may still be sending what nobody will read:
  // read it a moment longer (a lingering close, as web servers do), so that
  // closing with it unread does not reset the connection under the bytes the
  // peer has yet to read.
  linger_timer_ = make_timer(loop_, this);
  uv_timer_start(
      linger_timer_.get(),
      [](uv_timer_t* t) {
        if (auto* self = static_cast<Bridge*>(t->data)) self->report(1, self->failed_after_);
      },
      kLinger, 0);
}

// The local side (a child that exited or closed its stdin, a forwarding
// target that closed) takes no more of the peer's data. What it already
// said still goes to the peer, as `sh -c 'printf RESPONSE'` behind
// tcp-listen -k --sh-exec expects whether or not the request came first;
// the peer's data is read and dropped until its end, and the session then
// fails with `reason`: what the peer sent was not all taken.
void Bridge::local_stopped_taking(std::string reason) {
  if (finished_ || !failed_after_.empty()) return;
  failed_after_ = std::move(reason);
  if (down_) down_->stop();
  std::weak_ptr<Bridge> weak = shared_from_this();
  down_ = Relay::start(*network_, {}, false, [weak](int) {
    auto b = weak.lock();
    if (!b || b->finished_) return;
    b->down_flushed_ = true;  // the peer's end, or an error: the session fails either way
    b->check_both_done();
  });
  down_->on_chunk([this](size_t) { touch(); });
  // With nothing going up (-d), nothing else would end our side: end it now,
  // and the linger bounds the rest.
  if (nothing_goes_up_) end_network();
  check_both_done();
}

void Bridge::shutdown() {
  if (finished_) return;
  if (up_ && !up_->ended()) up_->stop();
  if (!up_flushed_) end_network();
}

void Bridge::abort(int exit_code, const std::string& reason) { report(exit_code, reason); }

// The one way a session ends, cleanly or not: stop both relays and tell the owner.
void Bridge::report(int exit_code, const std::string& reason) {
  if (finished_) return;
  finished_ = true;
  if (up_) up_->stop();
  if (down_) down_->stop();
  idle_timer_.close();
  linger_timer_.close();
  // Report from a fresh loop iteration, so the owner may destroy us in `done`.
  std::weak_ptr<Bridge> weak = shared_from_this();
  post(loop_, [weak, exit_code, reason] {
    auto b = weak.lock();
    if (!b) return;
    auto fn = std::move(b->done_);
    if (fn) fn(exit_code, reason);
  });
}

bool wait_for_stdin(const OptionValues& opts) {
  constexpr std::string_view kWaitStdin = checked_option<kBridgeOptions>("wait-stdin");
  if (opts.source(kWaitStdin) != ValueSource::Default) return opts.get_bool(kWaitStdin);
  return isatty(STDIN_FILENO) != 1;
}

}  // namespace nettool
