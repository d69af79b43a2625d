// A Bridge joins a network endpoint and a local one (our stdio, or a child
// process) in both directions, with netcat's rules for how it ends:
//  - local EOF (stdin closed): half-close the network side (shutdown write)
//    and keep reading, unless half_close is off;
//  - network EOF: flush what we received to the local side and end it; with
//    wait_for_both (exec, and --wait-stdin, the default for a stdin that is not
//    a terminal: see wait_for_stdin()) keep sending the local side's data and
//    finish when it has ended too, as nc does; without, send what is already
//    queued for the network and finish even if stdin is still open;
//  - an error either way, or the idle timeout: finish with exit code 1.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "nettool/options.h"
#include "nettool/stream.h"

namespace nettool {

class Bridge : public std::enable_shared_from_this<Bridge> {
 public:
  struct Policy {
    bool half_close = true;      // shutdown(SHUT_WR) on local EOF
    bool send_only = false;      // finish once local EOF has been sent; ignore what arrives
    bool recv_only = false;      // never read the local side
    bool wait_for_both = false;  // exec, --wait-stdin: finish only when both directions ended
    bool local_is_stdio = false; // our stdout's reader leaving (EPIPE) ends the session without an error line
    Duration idle_timeout{0};    // 0 = none
    Relay::Transform to_network; // e.g. --crlf
    spdlog::logger* log = nullptr; // debug lines: which path (splice or copying) each direction takes
  };
  // exit_code 0 on a clean end; otherwise `reason` says what failed.
  using Done = std::function<void(int exit_code, const std::string& reason)>;

  static std::shared_ptr<Bridge> start(uv_loop_t* loop, std::unique_ptr<Endpoint> network,
                                       std::unique_ptr<Endpoint> local, Policy policy, Done done);
  Bridge(uv_loop_t* loop, std::unique_ptr<Endpoint> network, std::unique_ptr<Endpoint> local, Policy policy, Done done);
  ~Bridge();

  // Graceful stop: stop reading the local side, half-close, and let what is in
  // flight drain; `done` follows when the peer closes.
  void shutdown();
  // Stop now; `done` is called with `exit_code`.
  void abort(int exit_code, const std::string& reason);
  const Endpoint& network() const { return *network_; }

 private:
  void begin();
  void on_local_end(int status);
  void on_network_end(int status);
  void end_network();
  void check_both_done();
  void local_stopped_taking(std::string reason);
  void report(int exit_code, const std::string& reason);
  void touch();

  uv_loop_t* loop_;
  std::unique_ptr<Endpoint> network_;
  std::unique_ptr<Endpoint> local_;
  Policy policy_;
  Done done_;
  std::shared_ptr<Relay> up_;    // local -> network
  std::shared_ptr<Relay> down_;  // network -> local
  Handle<uv_timer_t> idle_timer_;
  Handle<uv_timer_t> linger_timer_;  // see local_stopped_taking()
  std::string failed_after_;         // the session fails with this once it has ended (local_stopped_taking)
  bool network_end_requested_ = false;
  bool nothing_goes_up_ = false;  // recv_only, or no local input at all
  bool up_flushed_ = false;
  bool down_flushed_ = false;
  bool finished_ = false;
};

// The default of the `wait-stdin` option (tcp-connect, tcp-listen) unless the
// user set it: a peer's FIN means it is done sending, not that it stopped
// reading, so stdin that is data (a pipe, a file) is sent to its end, as nc,
// ncat and socat do; only an interactive terminal ends when the peer closes.
bool wait_for_stdin(const OptionValues& opts);

}  // namespace nettool
