// TlsSocket (libnettool-tls) on a socketpair: a write whose records the
// socket cannot take yet is consumed all the same, and flush() sends the rest
// in order once the peer reads; a write meanwhile waits (-EAGAIN, wants a
// writable socket). Both ends are TlsSockets, driven by hand in bounded loops.
#include <catch2/catch.hpp>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
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
Pair connected_pair() {
  Pair p;
  int fds[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
  p.server_fd = UniqueFd(fds[0]);
  p.client_fd = UniqueFd(fds[1]);
  TlsServerOptions server_options;
  server_options.enabled = true;
  p.server_context = nettool_tls_provider()->server(server_options, quiet_log());
  TlsClientOptions client_options;
  client_options.enabled = true;
  client_options.pin = parse_tls_pin(p.server_context->certificate_pin());
  p.client_context = nettool_tls_provider()->client(client_options, quiet_log());
  p.server = p.server_context->on_socket(p.server_fd.get(), false);
  p.client = p.client_context->on_socket(p.client_fd.get(), false);
  long s = 0, c = 0;
  for (int i = 0; i < 100 && (s != 1 || c != 1); ++i) {
    if (c != 1) c = p.client->handshake();
    if (s != 1) s = p.server->handshake();
    REQUIRE((c == 1 || c == -EAGAIN));
    REQUIRE((s == 1 || s == -EAGAIN));
  }
  REQUIRE(s == 1);
  REQUIRE(c == 1);
  return p;
}

}  // namespace

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
