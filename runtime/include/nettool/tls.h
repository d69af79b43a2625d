// TLS over any connected endpoint, through OpenSSL 3: the option groups a
// TCP plugin includes (client or server side), a context per side, and an
// Endpoint that encrypts another one. What is declared here is in the
// runtime, without OpenSSL; the first context made loads libnettool-tls (the
// OpenSSL part, beside libnettool-runtime) with dlopen, so a command run
// without --tls never maps libssl or libcrypto (start-up time).
//
// Verification is on by default: the system's trust store (or --tls-ca), and
// the host name (SNI and the certificate's names; an IP literal against its IP
// addresses). --tls-pin replaces the CA check with the peer key's SHA-256:
// a self-signed peer is then accepted and nothing else is. A server without a
// certificate makes a self-signed one at start and logs its pin, so two hosts
// can talk securely with no PKI at all.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nettool/options.h"
#include "nettool/stream.h"

namespace spdlog {
class logger;
}

namespace nettool {

// ---- the option groups

inline constexpr OptionSpec kTlsClientOptions[] = {
    {.name = "tls", .type = OptionType::Bool,
     .help = "speak TLS to the peer, verified against the system's trust store and the host name (any other --tls-* "
             "option implies it)"},
    {.name = "tls-ca", .type = OptionType::Path,
     .help = "trust these CA certificates (a PEM file, or an OpenSSL hashed directory) instead of the system's",
     .value_name = "FILE|DIR"},
    {.name = "tls-servername", .type = OptionType::String,
     .help = "the name sent in SNI and checked against the certificate (default: HOST)", .value_name = "NAME"},
    {.name = "tls-pin", .type = OptionType::String,
     .help = "accept only a peer whose public key has this SHA-256 (sha256//BASE64, as curl, or 64 hex digits); a "
             "self-signed peer is then accepted",
     .value_name = "PIN"},
    {.name = "tls-no-verify", .type = OptionType::Bool,
     .help = "do not verify the peer at all: INSECURE, warns on every run", .excludes = "tls-pin tls-ca"},
    {.name = "tls-alpn", .type = OptionType::String, .help = "offer these ALPN protocols, comma-separated (h2,http/1.1)",
     .value_name = "LIST"},
    {.name = "tls-cert", .type = OptionType::Path, .help = "client certificate (PEM, with its chain)",
     .value_name = "FILE"},
    {.name = "tls-key", .type = OptionType::Path, .help = "the client certificate's private key (PEM)",
     .value_name = "FILE"},
    {.name = "tls-min-version", .type = OptionType::String, .default_value = "1.2",
     .help = "lowest TLS version to accept", .choices = "1.2|1.3"},
};

inline constexpr OptionSpec kTlsServerOptions[] = {
    {.name = "tls", .type = OptionType::Bool,
     .help = "speak TLS to clients; without --tls-cert a self-signed certificate is made at start and its pin logged "
             "(any other --tls-* option implies it)"},
    {.name = "tls-cert", .type = OptionType::Path, .help = "server certificate (PEM, with its chain)",
     .value_name = "FILE"},
    {.name = "tls-key", .type = OptionType::Path,
     .help = "the certificate's private key (PEM; default: in the --tls-cert file)", .value_name = "FILE"},
    {.name = "tls-client-ca", .type = OptionType::Path,
     .help = "require a client certificate issued by these CAs (PEM file or hashed directory)",
     .value_name = "FILE|DIR"},
    {.name = "tls-min-version", .type = OptionType::String, .default_value = "1.2",
     .help = "lowest TLS version to accept", .choices = "1.2|1.3"},
};

struct TlsClientOptions {
  bool enabled = false;
  std::string ca;          // file or directory; empty: the system's store
  std::string servername;  // empty: the host connected to
  std::optional<std::array<uint8_t, 32>> pin;
  bool verify = true;
  std::vector<std::string> alpn;
  std::string cert, key;
  bool tls13_only = false;
  // Set by the plugin, not an option: finish the handshake whatever the
  // verification says, and report it in TlsSession (tcp-connect -z --tls).
  bool inspect = false;
};
// Throws ConfigError for a malformed pin, ALPN list or a key without a certificate.
TlsClientOptions tls_client_options(const OptionValues& values);

struct TlsServerOptions {
  bool enabled = false;
  std::string cert, key;  // empty cert: self-signed
  std::string client_ca;
  bool tls13_only = false;
  std::vector<std::string> alpn;  // protocols the server accepts (set by the plugin: http/1.1 for file-serve)
};
TlsServerOptions tls_server_options(const OptionValues& values);

// "sha256//BASE64" or 64 hex digits -> the 32 bytes; nullopt when malformed.
std::optional<std::array<uint8_t, 32>> parse_tls_pin(std::string_view text);
std::string format_tls_pin(const std::array<uint8_t, 32>& pin);  // "sha256//BASE64"

// ---- the session

// What a finished handshake agreed on, and who the peer is.
struct TlsSession {
  std::string protocol;  // "TLSv1.3"
  std::string cipher;
  std::string group;     // key exchange group, "X25519"
  std::string alpn;      // "" when none was agreed
  std::string peer_pin;  // "sha256//...", "" without a certificate
  std::string verification;  // "verified", "pinned", "NOT verified (--tls-no-verify)", "FAILED: reason" (inspect)...
  bool verified = false;     // the peer is who we asked for (CA chain and name, or the pin)
  struct Certificate {
    std::string subject, issuer, names, not_before, not_after, key;
    int64_t days_left = 0;
  };
  std::vector<Certificate> chain;  // the peer's, leaf first
};

// Called once: `error` empty when the handshake succeeded.
using TlsHandshakeFn = std::function<void(const std::string& error, const TlsSession& session)>;

// ---- contexts and endpoints

// One SSL_CTX and what goes with it (trust store, certificate, pin, key log
// file). Shared by every connection of a command; immutable once made.
class TlsContext {
 public:
  virtual ~TlsContext() = default;
  virtual bool is_server() const = 0;
  virtual std::string certificate_pin() const = 0;  // a server's own: "sha256//..."
  // See make_tls_endpoint().
  virtual std::unique_ptr<Endpoint> wrap(std::unique_ptr<Endpoint> inner, const std::string& peer_host,
                                         spdlog::logger* log, bool truncation_is_error,
                                         TlsHandshakeFn on_handshake) = 0;
};

// Load libnettool-tls if need be and make a context. Throw ConfigError for
// a file that cannot be read or does not match (named, with OpenSSL's
// reason), RuntimeError when libnettool-tls cannot be loaded. `log` gets the
// self-signed pin and the --tls-no-verify warning.
std::shared_ptr<TlsContext> make_tls_client_context(const TlsClientOptions& options, spdlog::logger& log);
std::shared_ptr<TlsContext> make_tls_server_context(const TlsServerOptions& options, spdlog::logger& log);

// Wraps `inner` (a connected TCP endpoint): what is written is encrypted into
// it, what it reads is decrypted. A client sends its hello at once and checks
// the peer as configured against `peer_host` (the name or address connected
// to; --tls-servername overrides it). Plain data written before the
// handshake ends waits for it. end() sends close_notify, then the TCP FIN;
// the peer's close_notify is the reading side's end of stream. A FIN without
// close_notify is a truncation: an error (-ECONNABORTED) when
// `truncation_is_error`, else a warning on `log` and a normal end.
// A failed handshake calls `on_handshake` with the reason, then ends the
// reading side with -ECONNABORTED.
inline std::unique_ptr<Endpoint> make_tls_endpoint(std::unique_ptr<Endpoint> inner, TlsContext& context,
                                                   const std::string& peer_host, spdlog::logger* log,
                                                   bool truncation_is_error, TlsHandshakeFn on_handshake) {
  return context.wrap(std::move(inner), peer_host, log, truncation_is_error, std::move(on_handshake));
}

// What libnettool-tls exports (nettool_tls_provider()), for the loader.
struct TlsProvider {
  int abi;  // NETTOOL_PLUGIN_ABI of the build
  std::shared_ptr<TlsContext> (*client)(const TlsClientOptions&, spdlog::logger&);
  std::shared_ptr<TlsContext> (*server)(const TlsServerOptions&, spdlog::logger&);
};

// One line for -v: "TLSv1.3 TLS_AES_256_GCM_SHA384 X25519, ALPN h2, verified: CN=..., pin sha256//..."
std::string describe(const TlsSession& session);

}  // namespace nettool
