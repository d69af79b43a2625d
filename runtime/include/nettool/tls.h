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

#include <sys/types.h>

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
     .help = "accept only a peer whose public key has this SHA-256 (sha256//BASE64, as curl, or 64 hex digits) instead "
             "of checking its CA and name; a self-signed peer is then accepted",
     .value_name = "PIN", .excludes = "tls-ca"},
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
    {.name = "tls-handshake-timeout", .type = OptionType::Duration, .default_value = "10s",
     .help = "drop a client that has not finished the TLS handshake this long after connecting", .min = 1},
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
  // How messages name these options: "--tls" (--tls-ca, --tls-pin, ...), or
  // tcp-forward's "--target-tls".
  std::string flag_prefix = "--tls";
};
// Throws ConfigError for a malformed pin, ALPN list or a key without a certificate.
TlsClientOptions tls_client_options(const OptionValues& values);

struct TlsServerOptions {
  bool enabled = false;
  std::string cert, key;  // empty cert: self-signed
  std::string client_ca;
  bool tls13_only = false;
  std::vector<std::string> alpn;  // protocols the server accepts (set by the plugin: http/1.1 for file-serve)
  Duration handshake_timeout{10000};
  // Set by the plugin: TLS 1.3 session tickets, for clients that come back
  // (file-serve). Off, a client that closes without reading cannot have an
  // unread ticket turn its close into a reset that drops what it sent last.
  bool session_tickets = false;
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

// Called once: `error` empty when the handshake succeeded. One exception: a
// TLS 1.3 client the server asked for a certificate it had none to give
// learns the server's verdict only after its handshake is done; when the
// connection then fails before the server has sent anything, this is called
// once more, with that refusal, before the failure reaches reader or writer.
// (-z, `inspect`, is never called twice.)
using TlsHandshakeFn = std::function<void(const std::string& error, const TlsSession& session)>;

// ---- a TLS session on a socket the caller watches

// TLS straight on a connected non-blocking socket, for a server that drives
// its own socket (file-serve: sendfile, uv_poll). OpenSSL reads the
// descriptor itself. With kernel TLS asked for, it writes it too, which is
// what lets the kernel take over: then send_file() goes from the page cache
// to the socket without a copy. Without, the records of a write are sent
// together (four 16 KiB records in one write(2), not one each).
// Every call returns the bytes moved (> 0), 0 at the peer's end (close_notify,
// or a FIN: a server reading requests treats both alike), or a negative errno:
// -EAGAIN when the socket must first be readable or writable (wants() says
// which), -EPROTO for a TLS failure (error() says why), another for the OS's.
class TlsSocket {
 public:
  static constexpr int kWantRead = 1;
  static constexpr int kWantWrite = 2;

  virtual ~TlsSocket() = default;
  // One step of the handshake: 1 when it is done.
  virtual long handshake() = 0;
  virtual long read(char* buf, size_t size) = 0;
  // Encrypts up to 64 KiB and sends the records in one write; what the
  // socket did not take stays queued, goes out before anything else, and
  // flush() sends it.
  virtual long write(const char* data, size_t size) = 0;
  // Sends what write(), a handshake step or a read left queued: 1 when
  // nothing is left, -EAGAIN (wants() is kWantWrite) or -errno.
  virtual long flush() = 0;
  // Straight from a file through kernel TLS (SSL_sendfile); -EOPNOTSUPP
  // unless kernel_send().
  virtual long send_file(int fd, off_t offset, size_t size) = 0;
  virtual int wants() const = 0;          // what the last -EAGAIN waits for
  virtual bool buffered() const = 0;      // plain text already read off the socket, not yet returned
  virtual bool kernel_send() const = 0;   // kernel TLS encrypts what we send
  virtual void close_notify() = 0;        // best effort, never waits
  virtual std::string error() const = 0;  // why the last call failed
  virtual TlsSession session() const = 0;
};

// ---- contexts and endpoints

// One SSL_CTX and what goes with it (trust store, certificate, pin, key log
// file). Shared by every connection of a command; immutable once made.
class TlsContext {
 public:
  virtual ~TlsContext() = default;
  virtual bool is_server() const = 0;
  virtual std::string certificate_pin() const = 0;  // a server's own: "sha256//..."
  // See make_tls_endpoint().
  virtual std::unique_ptr<Endpoint> wrap(uv_loop_t* loop, std::unique_ptr<Endpoint> inner, const std::string& peer_host,
                                         spdlog::logger* log, bool truncation_is_error,
                                         TlsHandshakeFn on_handshake) = 0;
  // A TLS session on `fd`, which stays the caller's. `kernel_tls`: ask
  // OpenSSL to hand the record layer to the kernel after the handshake
  // (needs the `tls` module; without it the session stays in user space).
  virtual std::unique_ptr<TlsSocket> on_socket(int fd, bool kernel_tls) = 0;
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
// to, brackets around an IPv6 address allowed; --tls-servername overrides it).
// A client that is to check a name and has none (an empty `peer_host` and no
// --tls-servername) throws RuntimeError: an empty name never means any name.
// Plain data written before the handshake ends waits for it. end() sends close_notify, then the TCP FIN;
// the peer's close_notify is the reading side's end of stream. A FIN without
// close_notify is a truncation: an error (-ECONNABORTED) when
// `truncation_is_error`, else a warning on `log` and a normal end.
// A failed handshake calls `on_handshake` with the reason, then ends the
// reading side with -ECONNABORTED. A server's handshake that has not finished
// within --tls-handshake-timeout fails that way too (timed on `loop`; a null
// loop, in the fuzz target, waits for ever).
inline std::unique_ptr<Endpoint> make_tls_endpoint(uv_loop_t* loop, std::unique_ptr<Endpoint> inner,
                                                   TlsContext& context, const std::string& peer_host,
                                                   spdlog::logger* log, bool truncation_is_error,
                                                   TlsHandshakeFn on_handshake) {
  return context.wrap(loop, std::move(inner), peer_host, log, truncation_is_error, std::move(on_handshake));
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
