// A connected stream socket as an Endpoint (and a splice end): TCP, or a Unix
// domain socket (uv_pipe_t over an AF_UNIX descriptor).
#include "endpoint_halves.h"

#include "nettool/net.h"
#include "nettool/plugin.h"

namespace nettool {

namespace {

template <class Socket>
class SocketEndpoint final : public HalvesEndpoint {
 public:
  SocketEndpoint(Handle<Socket> socket, Counters* counters, std::string name, bool tcp)
      : socket_(std::move(socket)), counters_(counters), tcp_(tcp) {
    name_ = std::move(name);
    reader_ = make_stream_reader(socket_.as_stream(), counters);
    set_writer(make_stream_writer(socket_.as_stream(), counters, true));
  }
  ~SocketEndpoint() override {
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
    return {SpliceEnd::Kind::Socket, fd, counter, tcp_};
  }

  Handle<Socket> socket_;
  Counters* counters_;
  bool tcp_;
};

}  // namespace

std::unique_ptr<Endpoint> make_tcp_endpoint(Handle<uv_tcp_t> socket, Counters* counters) {
  sockaddr_storage peer{};
  int len = sizeof peer;
  std::string name = uv_tcp_getpeername(socket.get(), reinterpret_cast<sockaddr*>(&peer), &len) == 0
                         ? format_address(reinterpret_cast<sockaddr*>(&peer))
                         : "tcp";
  return std::make_unique<SocketEndpoint<uv_tcp_t>>(std::move(socket), counters, std::move(name), true);
}

std::unique_ptr<Endpoint> make_unix_endpoint(Handle<uv_pipe_t> socket, Counters* counters, std::string name) {
  return std::make_unique<SocketEndpoint<uv_pipe_t>>(std::move(socket), counters, std::move(name), false);
}

}  // namespace nettool
