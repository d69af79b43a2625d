// A connected TCP socket as an Endpoint (and a splice end).
#include "endpoint_halves.h"

#include "nettool/net.h"
#include "nettool/plugin.h"

namespace nettool {

namespace {

class TcpEndpoint final : public HalvesEndpoint {
 public:
  TcpEndpoint(Handle<uv_tcp_t> socket, Counters* counters) : socket_(std::move(socket)), counters_(counters) {
    sockaddr_storage peer{};
    int len = sizeof peer;
    if (uv_tcp_getpeername(socket_.get(), reinterpret_cast<sockaddr*>(&peer), &len) == 0)
      name_ = format_address(reinterpret_cast<sockaddr*>(&peer));
    else
      name_ = "tcp";
    reader_ = make_stream_reader(socket_.as_stream(), counters);
    set_writer(make_stream_writer(socket_.as_stream(), counters, true));
  }
  ~TcpEndpoint() override {
    reader_.reset();
    writer_.reset();
    socket_.close();
  }
  SpliceEnd splice_source() const override {
    return socket_end(counters_ ? &counters_->bytes_received : nullptr);
  }
  SpliceEnd splice_sink() const override { return socket_end(counters_ ? &counters_->bytes_sent : nullptr); }

 private:
  SpliceEnd socket_end(uint64_t* counter) const {
    uv_os_fd_t fd = -1;
    if (uv_fileno(socket_.as_handle(), &fd) != 0) return {};
    return {SpliceEnd::Kind::Socket, fd, counter};
  }

  Handle<uv_tcp_t> socket_;
  Counters* counters_;
};

}  // namespace

std::unique_ptr<Endpoint> make_tcp_endpoint(Handle<uv_tcp_t> socket, Counters* counters) {
  return std::make_unique<TcpEndpoint>(std::move(socket), counters);
}

}  // namespace nettool
