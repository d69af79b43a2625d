// What context.cpp and endpoint.cpp of libnettool-tls share: the context
// and the certificate helpers.
#pragma once
#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "nettool/tls.h"
#include "openssl_ptr.h"

namespace nettool::tls {

// A TlsContext with OpenSSL inside. Set up by make_client()/make_server()
// (context.cpp), read-only afterwards.
class OpenSslContext final : public TlsContext, public std::enable_shared_from_this<OpenSslContext> {
 public:
  bool is_server() const override { return server; }
  std::string certificate_pin() const override { return own_pin; }
  std::unique_ptr<Endpoint> wrap(uv_loop_t* loop, std::unique_ptr<Endpoint> inner, const std::string& peer_host,
                                 spdlog::logger* log,
                                 bool truncation_is_error, TlsHandshakeFn on_handshake) override;  // endpoint.cpp
  std::unique_ptr<TlsSocket> on_socket(int fd, bool kernel_tls) override;                        // socket.cpp

  SslCtxPtr ctx;
  bool server = false;
  // Client side.
  bool verify = true;                          // CA chain and host name
  std::optional<std::array<uint8_t, 32>> pin;  // instead of the CA chain
  std::string servername;                      // overrides the host connected to
  bool inspect = false;                        // finish the handshake whatever the verification says
  std::string flag_prefix = "--tls";           // how messages name the options: --tls-ca, --target-tls-ca
  // Server side.
  std::string own_pin;               // of our certificate
  bool client_certificates = false;  // --tls-client-ca
  Duration handshake_timeout{0};     // --tls-handshake-timeout
  std::string alpn_wire;             // the protocols we accept, for the select callback
  // SSLKEYLOGFILE, appended to (as curl and browsers do), when set.
  std::string keylog_path;
};

std::shared_ptr<TlsContext> make_client(const TlsClientOptions& options, spdlog::logger& log);
std::shared_ptr<TlsContext> make_server(const TlsServerOptions& options, spdlog::logger& log);

// SHA-256 of the certificate's DER SubjectPublicKeyInfo (what curl pins).
std::array<uint8_t, 32> key_pin(X509* certificate);
// One certificate for TlsSession::chain.
TlsSession::Certificate describe_certificate(X509* certificate);

// What the TLS endpoint and the TLS socket share (context.cpp):
// Accept or connect state; for a client, SNI and the name the certificate
// must carry (--tls-servername, else `peer_host`; "[::1]" is the address
// ::1, and an address is never sent as SNI). Throws RuntimeError, also when a
// name is to be checked and there is none.
void prepare_session(SSL* ssl, const OpenSslContext& context, const std::string& peer_host);
// Why a handshake failed, from SSL_get_error's `err`, the verification
// result and OpenSSL's error queue (which it empties); for a client, also
// from `first_bytes`, the start of what the peer sent (not TLS at all?), and
// whether the server asked for a certificate it did not get.
std::string handshake_error(SSL* ssl, const OpenSslContext& context, int err, std::string_view first_bytes = {});
// A failed verification `result` (X509_V_ERR_*) in one line, with what to do
// about it: the names a certificate is for, when it expired, the pin of a
// self-signed peer.
std::string verify_failure(SSL* ssl, const OpenSslContext& context, long result);
// A client's SSL app data (its endpoint owns it): what the handshake's
// callbacks noticed, for the refusal's words.
struct ClientNotes {
  bool asked_for_missing_certificate = false;  // the server asked for a certificate and we had none
  // OpenSSL keeps no certificate of a peer it refused: the leaf as
  // verification saw it, and the certificate it last failed on, at that depth.
  X509Ptr leaf, failed;
  int failed_depth = 0;
};
bool asked_for_missing_certificate(SSL* ssl);
std::string missing_certificate_refusal(const OpenSslContext& context);
// "" when `first_bytes` may be TLS, else the refusal of a peer that is not.
std::string not_tls_refusal(std::string_view first_bytes);
// After a handshake: "" when --tls-pin is unset or matches, else the refusal.
std::string check_pin(SSL* ssl, const OpenSslContext& context);
// What the handshake agreed on, and how the peer was checked.
TlsSession session_of(SSL* ssl, const OpenSslContext& context);

}  // namespace nettool::tls
