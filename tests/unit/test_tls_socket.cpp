// TlsSocket (libnettool-tls) on a socketpair: a write whose records the
// socket cannot take yet is consumed all the same, and flush() sends the rest
// in order once the peer reads; a write meanwhile waits (-EAGAIN, wants a
// writable socket); a TLS 1.3 server's session tickets wait for the first response
// only when the request is already there. Both ends are TlsSockets, driven by
// hand in bounded loops.
#include <catch2/catch.hpp>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <functional>
#include <memory>
#include <string>

#include "nettool/error.h"
#include "nettool/fd.h"
#include "nettool/tls.h"

extern "C" const nettool::TlsProvider* nettool_tls_provider();

using namespace nettool;

namespace {

spdlog::logger& quiet_log() {
  static auto log = std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
  return *log;
}

struct Pair {
  UniqueFd server_fd, client_fd;
  std::shared_ptr<TlsContext> server_context, client_context;
  std::unique_ptr<TlsSocket> server, client;
};

// A finished handshake between a self-signed server and a client pinning it.
// `client_done` runs once the client has finished (its Finished sent), before
// the server reads that Finished.
// `session_tickets` as file-serve asks for them.
Pair connected_pair(const std::function<void(Pair&)>& client_done = nullptr, bool session_tickets = false) {
  Pair p;
  int fds[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
  p.server_fd = UniqueFd(fds[0]);
  p.client_fd = UniqueFd(fds[1]);
  TlsServerOptions server_options;
  server_options.enabled = true;
  server_options.session_tickets = session_tickets;
  p.server_context = nettool_tls_provider()->server(server_options, quiet_log());
  TlsClientOptions client_options;
  client_options.enabled = true;
  client_options.pin = parse_tls_pin(p.server_context->certificate_pin());
  p.client_context = nettool_tls_provider()->client(client_options, quiet_log());
  p.server = p.server_context->on_socket(p.server_fd.get(), false);
  p.client = p.client_context->on_socket(p.client_fd.get(), false);
  long s = 0, c = 0;
  for (int i = 0; i < 100 && (s != 1 || c != 1); ++i) {
    if (c != 1 && (c = p.client->handshake()) == 1 && client_done) client_done(p);
    if (s != 1) s = p.server->handshake();
    REQUIRE((c == 1 || c == -EAGAIN));
    REQUIRE((s == 1 || s == -EAGAIN));
  }
  REQUIRE(s == 1);
  REQUIRE(c == 1);
  return p;
}

// Bytes waiting to be read on `fd`.
int unread(int fd) {
  int n = -1;
  REQUIRE(ioctl(fd, FIONREAD, &n) == 0);
  return n;
}

}  // namespace

// A TLS 1.3 server's session tickets, written as its handshake completes,
// wait for the first response when the request came with the client's
// Finished (one sendmsg for both), and go at once when it did not (an idle
// client then costs no buffer); nothing a read makes OpenSSL write waits.
TEST_CASE("tls socket: the session tickets go with the first response when the request is already here", "[tls]") {
  const std::string request = "GET / HTTP/1.1\r\n\r\n";
  Pair p = connected_pair([&](Pair& pair) { REQUIRE(pair.client->write(request.data(), request.size()) > 0); },
                          /*session_tickets=*/true);
  CHECK(unread(p.client_fd.get()) == 0);  // the tickets are held
  char buf[256];
  long n = p.server->read(buf, sizeof buf);
  REQUIRE(n == static_cast<long>(request.size()));
  CHECK(std::string(buf, static_cast<size_t>(n)) == request);
  CHECK(unread(p.client_fd.get()) == 0);  // reading the request sent nothing
  const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  REQUIRE(p.server->write(response.data(), response.size()) == static_cast<long>(response.size()));
  // The response's record is some 60 bytes, a ticket's some 250: both came.
  CHECK(unread(p.client_fd.get()) > static_cast<int>(response.size()) + 150);
  std::string got;
  for (int i = 0; i < 100 && got.size() < response.size(); ++i) {
    long r = p.client->read(buf, sizeof buf);
    if (r > 0) got.append(buf, static_cast<size_t>(r));
  }
  CHECK(got == response);
}

TEST_CASE("tls socket: a client that has sent nothing after its handshake gets the session tickets at once", "[tls]") {
  Pair p = connected_pair(nullptr, /*session_tickets=*/true);
  CHECK(unread(p.client_fd.get()) > 0);
}

TEST_CASE("tls socket: a write the socket cannot take yet is kept, and flush() sends it in order", "[tls]") {
  Pair p = connected_pair();
  int small = 4096;
  REQUIRE(setsockopt(p.server_fd.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0);
  std::string body(256 * 1024, '\0');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 7 + i / 251);

  // The first write is taken whole: its records wait in the session.
  long n = p.server->write(body.data(), body.size());
  REQUIRE(n == 64 * 1024);
  size_t written = static_cast<size_t>(n);
  CHECK(p.server->flush() == -EAGAIN);
  CHECK(p.server->wants() == TlsSocket::kWantWrite);
  // Another write cannot overtake them.
  CHECK(p.server->write(body.data() + written, body.size() - written) == -EAGAIN);

  std::string got;
  char buf[16384];
  for (int round = 0; round < 10000 && got.size() < body.size(); ++round) {
    for (long r; (r = p.client->read(buf, sizeof buf)) > 0;) got.append(buf, static_cast<size_t>(r));
    long f = p.server->flush();
    REQUIRE((f == 1 || f == -EAGAIN));
    if (f == 1 && written < body.size()) {
      long w = p.server->write(body.data() + written, body.size() - written);
      REQUIRE((w > 0 || w == -EAGAIN));
      if (w > 0) written += static_cast<size_t>(w);
    }
  }
  CHECK(written == body.size());
  CHECK(p.server->flush() == 1);
  REQUIRE(got.size() == body.size());
  CHECK(got == body);
}

TEST_CASE("tls client: an empty name to check is refused, never read as 'any name'", "[tls]") {
  int fds[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
  UniqueFd a(fds[0]), b(fds[1]);
  TlsClientOptions verifying;
  verifying.enabled = true;
  auto context = nettool_tls_provider()->client(verifying, quiet_log());
  // A socket session has no host of its own: without --tls-servername there is nothing to check.
  CHECK_THROWS_WITH(context->on_socket(a.get(), false), Catch::Contains("no host name to check the certificate against"));
  verifying.servername = "[::1]";  // an address, brackets and all
  CHECK_NOTHROW(nettool_tls_provider()->client(verifying, quiet_log())->on_socket(a.get(), false));
  verifying.servername = "";
  verifying.flag_prefix = "--target-tls";
  CHECK_THROWS_WITH(nettool_tls_provider()->client(verifying, quiet_log())->on_socket(a.get(), false),
                    Catch::Contains("--target-tls-servername"));
  // Nothing to check, nothing refused: a pin, or no verification at all.
  TlsClientOptions pinned;
  pinned.enabled = true;
  pinned.pin = std::array<uint8_t, 32>{};
  CHECK_NOTHROW(nettool_tls_provider()->client(pinned, quiet_log())->on_socket(a.get(), false));
}

TEST_CASE("tls client: a CA with a pin is refused, and messages name the plugin's own options", "[tls]") {
  TlsClientOptions both;
  both.enabled = true;
  both.pin = std::array<uint8_t, 32>{};
  both.ca = "/nonexistent/ca.pem";
  CHECK_THROWS_AS(nettool_tls_provider()->client(both, quiet_log()), ConfigError);
  CHECK_THROWS_WITH(nettool_tls_provider()->client(both, quiet_log()),
                    Catch::Contains("--tls-pin and --tls-ca exclude each other"));
  TlsClientOptions missing;
  missing.enabled = true;
  missing.ca = "/nonexistent/ca.pem";
  missing.flag_prefix = "--target-tls";
  CHECK_THROWS_WITH(nettool_tls_provider()->client(missing, quiet_log()),
                    Catch::StartsWith("--target-tls-ca /nonexistent/ca.pem: cannot load CA certificates"));
}

TEST_CASE("tls socket: the alert a bad record makes the server write goes out before the read fails", "[tls]") {
  Pair p = connected_pair(nullptr, /*session_tickets=*/true);
  char buf[4096];
  for (long r; (r = p.client->read(buf, sizeof buf)) > 0;) {
  }  // the tickets
  REQUIRE(unread(p.client_fd.get()) == 0);
  // An application data record whose tag cannot be right.
  std::string forged = "\x17\x03\x03";
  forged += std::string("\x00\x20", 2);
  forged += std::string(32, '\x5a');
  REQUIRE(::write(p.client_fd.get(), forged.data(), forged.size()) == static_cast<ssize_t>(forged.size()));
  CHECK(p.server->read(buf, sizeof buf) == -EPROTO);
  CHECK(unread(p.client_fd.get()) > 0);  // bad_record_mac, not a bare close
}
