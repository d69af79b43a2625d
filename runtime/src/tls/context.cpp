// libnettool-tls: the client and server contexts (trust store, certificates,
// a self-signed certificate when none is given, ALPN, the key log file), and
// the entry point the runtime's loader looks up (nettool_tls_provider); and
// what the endpoint and the socket both do with an SSL (name checks, the pin,
// the session summary).
#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <string_view>
#include <vector>

#include "nettool/abi.h"
#include "nettool/error.h"
#include "nettool/log.h"
#include "tls_internal.h"

namespace nettool {

namespace tls {

std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    // "error:0A000086:SSL routines::certificate verify failed": the reason is after the last ':'.
    std::string text = buf;
    auto colon = text.rfind(':');
    if (colon != std::string::npos) text = text.substr(colon + 1);
    // A failed fopen() queues "No such file or directory" and then a
    // "system lib" from each layer above it: the first says it all.
    if (text == "system lib" || (!out.empty() && ("; " + out + "; ").find("; " + text + "; ") != std::string::npos))
      continue;
    if (!out.empty()) out += "; ";
    out += text;
  }
  return out;
}

std::array<uint8_t, 32> key_pin(X509* certificate) {
  std::array<uint8_t, 32> pin{};
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(X509_get0_pubkey(certificate), &der);
  if (len > 0) {
    unsigned int out = 0;
    EVP_Digest(der, static_cast<size_t>(len), pin.data(), &out, EVP_sha256(), nullptr);
  }
  OPENSSL_free(der);
  return pin;
}

namespace {

std::string name_text(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string time_text(const ASN1_TIME* t) {
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return "?";
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string san_text(X509* certificate) {
  std::string out;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    std::string one;
    if (n->type == GEN_DNS) {
      one = "DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.dNSName)),
                                 static_cast<size_t>(ASN1_STRING_length(n->d.dNSName)));
    } else if (n->type == GEN_IPADD) {
      // As addresses are written (::1), not OpenSSL's 0:0:0:0:0:0:0:1.
      const unsigned char* bytes = ASN1_STRING_get0_data(n->d.iPAddress);
      int len = ASN1_STRING_length(n->d.iPAddress);
      char text[INET6_ADDRSTRLEN] = "";
      if ((len == 4 && inet_ntop(AF_INET, bytes, text, sizeof text)) ||
          (len == 16 && inet_ntop(AF_INET6, bytes, text, sizeof text)))
        one = std::string("IP:") + text;
      else
        one = "IP:?";
    }
    if (one.empty()) continue;
    if (!out.empty()) out += ", ";
    out += one;
  }
  GENERAL_NAMES_free(names);
  return out;
}

std::string key_text(X509* certificate) {
  EVP_PKEY* key = X509_get0_pubkey(certificate);
  if (!key) return "?";
  std::string type = EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key) : "?";
  return type + " " + std::to_string(EVP_PKEY_get_bits(key)) + " bits";
}

// A few of the names a certificate carries, for a hint: its SANs without
// "DNS:" and "IP:", else its CN.
std::string names_for_hint(X509* certificate) {
  constexpr size_t kShown = 4;
  std::vector<std::string> names;
  const std::string all = san_text(certificate);  // "DNS:localhost, IP:::1"
  for (size_t pos = 0; pos < all.size();) {
    size_t end = all.find(", ", pos);
    std::string one = all.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    names.push_back(one.substr(one.find(':') + 1));
    pos = end == std::string::npos ? all.size() : end + 2;
  }
  if (names.empty()) {
    char cn[256];
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(certificate), NID_commonName, cn, sizeof cn) > 0)
      names.emplace_back(cn);
  }
  if (names.empty()) return "no name at all";
  std::string out;
  for (size_t i = 0; i < names.size() && i < kShown; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > kShown) out += " and " + std::to_string(names.size() - kShown) + " more";
  return out;
}

std::string days_text(int days) { return std::to_string(days) + (days == 1 ? " day" : " days"); }  // refusals

}  // namespace

namespace {
ClientNotes* notes_of(SSL* ssl) { return ssl ? static_cast<ClientNotes*>(SSL_get_app_data(ssl)) : nullptr; }

// The client's verify callback (with what it returns): notes the leaf and
// the certificate that failed, which OpenSSL forgets when it refuses the peer.
int note_verification(int ok, X509_STORE_CTX* store) {
  auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  ClientNotes* notes = notes_of(ssl);
  if (!notes) return ok;
  if (X509* leaf = X509_STORE_CTX_get0_cert(store); leaf && !notes->leaf && X509_up_ref(leaf) == 1)
    notes->leaf.reset(leaf);
  if (X509* current = X509_STORE_CTX_get_current_cert(store); !ok && current && X509_up_ref(current) == 1) {
    notes->failed.reset(current);
    notes->failed_depth = X509_STORE_CTX_get_error_depth(store);
  }
  return ok;
}
}  // namespace

std::string verify_failure(SSL* ssl, const OpenSslContext& impl, long result) {
  std::string reason = X509_verify_cert_error_string(result);
  ClientNotes* notes = notes_of(ssl);
  X509* peer = SSL_get0_peer_certificate(ssl);
  if (!peer && notes) peer = notes->leaf.get();
  if (impl.server || !peer) return reason;
  const std::string& flag = impl.flag_prefix;
  switch (result) {
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH: {
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
      std::string asked;
      if (const char* host = X509_VERIFY_PARAM_get0_host(param, 0)) {
        asked = host;
      } else if (char* ip = X509_VERIFY_PARAM_get1_ip_asc(param)) {
        asked = ip;
        OPENSSL_free(ip);
      }
      return reason + ": the certificate is for " + names_for_hint(peer) + (asked.empty() ? "" : ", not " + asked) +
             " (connect by one of those names, or " + flag + "-servername NAME)";
    }
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID: {
      // The leaf, unless verification failed further up the chain.
      X509* c = notes && notes->failed ? notes->failed.get() : peer;
      int depth = notes && notes->failed ? notes->failed_depth : 0;
      std::string who = depth == 0 ? "the certificate"
                                   : "certificate " + std::to_string(depth) + " of the chain (" +
                                         name_text(X509_get_subject_name(c)) + ")";
      if (result == X509_V_ERR_CERT_HAS_EXPIRED && X509_cmp_current_time(X509_get0_notAfter(c)) < 0) {
        int days = 0, seconds = 0;
        ASN1_TIME_diff(&days, &seconds, X509_get0_notAfter(c), nullptr);
        return who + " expired " + (days > 0 ? days_text(days) + " ago" : "less than a day ago") + " (notAfter " +
               time_text(X509_get0_notAfter(c)) + ")";
      }
      if (result == X509_V_ERR_CERT_NOT_YET_VALID && X509_cmp_current_time(X509_get0_notBefore(c)) > 0)
        return who + " is not valid until " + time_text(X509_get0_notBefore(c));
      return reason;
    }
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      return reason + " (" + flag + "-ca FILE to trust another CA, or " + flag + "-pin " +
             format_tls_pin(key_pin(peer)) + " to pin this key)";
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_UNTRUSTED:
      return reason + " (" + flag + "-ca FILE to trust another CA, or " + flag + "-pin to pin the key)";
    default:
      return reason;
  }
}

bool asked_for_missing_certificate(SSL* ssl) {
  const ClientNotes* notes = notes_of(ssl);
  return notes && notes->asked_for_missing_certificate;
}

std::string missing_certificate_refusal(const OpenSslContext& impl) {
  return "the server requires a client certificate: give " + impl.flag_prefix + "-cert FILE " + impl.flag_prefix +
         "-key FILE";
}

std::string not_tls_refusal(std::string_view first_bytes) {
  if (first_bytes.empty()) return "";
  // A record starts with its content type (20 to 24) and the major version 3.
  auto type = static_cast<unsigned char>(first_bytes[0]);
  if (type >= 20 && type <= 24 && (first_bytes.size() < 2 || first_bytes[1] == 3)) return "";
  std::string line;
  for (char c : first_bytes) {
    if (c == '\r' || c == '\n') break;
    if (c < 0x20 || c > 0x7e) return "the peer does not speak TLS (its answer is not a TLS record)";
    if (line.size() == 40) {
      line += "...";
      break;
    }
    line += c;
  }
  if (line.empty()) return "the peer does not speak TLS (its answer is not a TLS record)";
  return "the peer does not speak TLS (it answered in plain text: \"" + line + "\")";
}

TlsSession::Certificate describe_certificate(X509* certificate) {
  TlsSession::Certificate c;
  c.subject = name_text(X509_get_subject_name(certificate));
  c.issuer = name_text(X509_get_issuer_name(certificate));
  c.names = san_text(certificate);
  c.not_before = time_text(X509_get0_notBefore(certificate));
  c.not_after = time_text(X509_get0_notAfter(certificate));
  int days = 0, seconds = 0;
  if (ASN1_TIME_diff(&days, &seconds, nullptr, X509_get0_notAfter(certificate)) == 1) c.days_left = days;
  c.key = key_text(certificate);
  return c;
}

// ---- contexts

namespace {

// SSLKEYLOGFILE: one line per secret, as NSS writes them, for Wireshark.
// The secrets decrypt the session, so a file we create is its owner's alone
// (0600, whatever the umask), and a symlink planted at the path is not
// followed (nothing is appended to the file it points to).
int open_key_log(const std::string& path) {
  return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
}

void write_key_log(const SSL* ssl, const char* line) {
  auto* impl = static_cast<OpenSslContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (!impl || impl->keylog_path.empty()) return;
  int fd = open_key_log(impl->keylog_path);
  if (fd < 0) return;  // said once at start (common_setup); a symlink planted since is still refused
  const std::string text = std::string(line) + "\n";
  (void)!::write(fd, text.data(), text.size());
  ::close(fd);
}

void common_setup(OpenSslContext& impl, bool tls13_only, spdlog::logger& log) {
  SSL_CTX_set_min_proto_version(impl.ctx.get(), tls13_only ? TLS1_3_VERSION : TLS1_2_VERSION);
  // TLS 1.2 renegotiation: never needed here, and a known source of trouble.
  SSL_CTX_set_options(impl.ctx.get(), SSL_OP_NO_RENEGOTIATION);
  // Our memory BIOs take every write whole; a chunk is never split.
  SSL_CTX_set_mode(impl.ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_app_data(impl.ctx.get(), &impl);
  if (const char* path = std::getenv("SSLKEYLOGFILE"); path && *path) {
    int fd = open_key_log(path);
    if (fd < 0) {
      const int err = errno;  // before anything else can change it
      log.warn("tls: SSLKEYLOGFILE={}: not writing the session secrets there: {}", escape_for_log(path),
               err == ELOOP ? "it is a symbolic link" : std::strerror(err));
      return;
    }
    ::close(fd);
    // Said at every start: a variable left set in a shell's profile would
    // otherwise hand every session's keys to that file without a word.
    log.info("tls: SSLKEYLOGFILE: writing the session secrets to {}", escape_for_log(path));
    impl.keylog_path = path;
    SSL_CTX_set_keylog_callback(impl.ctx.get(), &write_key_log);
  }
}

void load_trust(SSL_CTX* ctx, const std::string& where, const char* option) {
  std::error_code ec;
  bool dir = std::filesystem::is_directory(where, ec);
  int ok = dir ? SSL_CTX_load_verify_dir(ctx, where.c_str()) : SSL_CTX_load_verify_file(ctx, where.c_str());
  if (ok != 1) throw ConfigError(std::string(option) + " " + where + ": cannot load CA certificates: " + openssl_errors());
}

// The subjects of the CAs in `where` (a file, or a directory of them) as
// the names a server's certificate request lists: without them a client
// holding several certificates (curl, openssl s_client) cannot tell which
// one we accept, and may send none.
void send_client_ca_names(SSL_CTX* ctx, const std::string& where) {
  std::error_code ec;
  X509NameStackPtr names;
  if (std::filesystem::is_directory(where, ec)) {
    names.reset(sk_X509_NAME_new_null());
    if (names && SSL_add_dir_cert_subjects_to_stack(names.get(), where.c_str()) != 1) names.reset();
  } else {
    names.reset(SSL_load_client_CA_file(where.c_str()));  // null also when the file holds no certificate
  }
  if (!names)
    throw ConfigError("--tls-client-ca " + where + ": cannot read the CA names to send to clients: " + openssl_errors());
  SSL_CTX_set_client_CA_list(ctx, names.release());  // the context owns them from here
}

void load_certificate(SSL_CTX* ctx, const std::string& cert, const std::string& key) {
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1)
    throw ConfigError("--tls-cert " + cert + ": cannot load the certificate: " + openssl_errors());
  const std::string& key_file = key.empty() ? cert : key;
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1)
    throw ConfigError((key.empty() ? "--tls-cert " : "--tls-key ") + key_file + ": cannot load the private key: " +
                      openssl_errors());
  if (SSL_CTX_check_private_key(ctx) != 1)
    throw ConfigError("--tls-key " + key_file + " does not belong to the certificate in " + cert);
}

// ALPN's wire form: each name prefixed with its length.
std::string alpn_wire(const std::vector<std::string>& names) {
  std::string wire;
  for (const auto& n : names) {
    wire += static_cast<char>(n.size());
    wire += n;
  }
  return wire;
}

// An EC P-256 key and a certificate for it, valid from an hour ago for 30
// days, for localhost and the loopback addresses; nobody's CA signed it, so
// clients pin it.
void use_self_signed(SSL_CTX* ctx) {
  PkeyPtr key(EVP_EC_gen("P-256"));
  X509Ptr cert(X509_new());
  if (!key || !cert) throw RuntimeError("tls: cannot make a self-signed certificate: " + openssl_errors());
  X509_set_version(cert.get(), X509_VERSION_3);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 30L * 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("nettool self-signed"),
                             -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, cert.get(), cert.get(), nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, "DNS:localhost, IP:127.0.0.1, IP:::1"},
                            {NID_basic_constraints, "critical, CA:FALSE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
    if (ext) {
      X509_add_ext(cert.get(), ext, -1);
      X509_EXTENSION_free(ext);
    }
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0 || SSL_CTX_use_certificate(ctx, cert.get()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx, key.get()) != 1)
    throw RuntimeError("tls: cannot make a self-signed certificate: " + openssl_errors());
}

int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                void* arg) {
  const auto* wire = static_cast<const std::string*>(arg);
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, reinterpret_cast<const unsigned char*>(wire->data()),
                            static_cast<unsigned>(wire->size()), in, inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

// ---- what endpoint.cpp and socket.cpp share

namespace {
bool is_ip_literal(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// "[::1]", as HOST is written next to a port or in a URL, is the address ::1.
std::string without_brackets(const std::string& host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') return host.substr(1, host.size() - 2);
  return host;
}
}  // namespace

void prepare_session(SSL* ssl, const OpenSslContext& impl, const std::string& peer_host) {
  if (impl.server) {
    SSL_set_accept_state(ssl);
    return;
  }
  SSL_set_connect_state(ssl);
  std::string name = without_brackets(impl.servername.empty() ? peer_host : impl.servername);
  bool ip = is_ip_literal(name);
  if (!ip && !name.empty()) SSL_set_tlsext_host_name(ssl, name.c_str());  // no SNI for an address (RFC 6066)
  if (impl.verify) {
    // OpenSSL checks no name at all for an empty one: any certificate a
    // trusted CA signed for anyone would pass.
    if (name.empty())
      throw RuntimeError("tls: no host name to check the certificate against (" + impl.flag_prefix +
                         "-servername NAME, or " + impl.flag_prefix + "-pin)");
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) != 1 : SSL_set1_host(ssl, name.c_str()) != 1)
      throw RuntimeError("tls: cannot check the certificate against '" + name + "'");
  }
}

std::string handshake_error(SSL* ssl, const OpenSslContext& impl, int err, std::string_view first_bytes) {
  long verify = SSL_get_verify_result(ssl);
  std::string why = openssl_errors();
  if (verify != X509_V_OK && impl.verify) return "certificate verification failed: " + verify_failure(ssl, impl, verify);
  if (!impl.server) {
    if (std::string plain = not_tls_refusal(first_bytes); !plain.empty()) return plain;
    if (asked_for_missing_certificate(ssl)) return missing_certificate_refusal(impl);
  }
  if (err == SSL_ERROR_SYSCALL && why.empty()) return "the connection closed during the handshake";
  return "handshake failed: " + (why.empty() ? "error " + std::to_string(err) : why);
}

std::string check_pin(SSL* ssl, const OpenSslContext& impl) {
  if (impl.server || !impl.pin) return "";
  X509* peer = SSL_get0_peer_certificate(ssl);
  if (peer && key_pin(peer) == *impl.pin) return "";
  return "the peer's key does not match " + impl.flag_prefix + "-pin " + format_tls_pin(*impl.pin) +
         (peer ? " (it is " + format_tls_pin(key_pin(peer)) + ")" : " (no certificate)");
}

TlsSession session_of(SSL* ssl, const OpenSslContext& impl) {
  TlsSession s;
  s.protocol = SSL_get_version(ssl);
  if (const SSL_CIPHER* c = SSL_get_current_cipher(ssl)) s.cipher = SSL_CIPHER_get_name(c);
  if (const char* g = SSL_group_to_name(ssl, SSL_get_negotiated_group(ssl))) s.group = g;
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
  if (alpn) s.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
  if (X509* peer = SSL_get0_peer_certificate(ssl)) s.peer_pin = format_tls_pin(key_pin(peer));
  if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl)) {
    for (int i = 0; i < sk_X509_num(chain); ++i) s.chain.push_back(describe_certificate(sk_X509_value(chain, i)));
  }
  long result = SSL_get_verify_result(ssl);
  if (impl.server) {
    s.verified = impl.client_certificates;
    s.verification = impl.client_certificates ? "client certificate verified" : "no client certificate asked for";
  } else if (impl.pin) {
    // Outside -z, handshake_done() has refused a peer that does not match.
    s.verified = !s.peer_pin.empty() && s.peer_pin == format_tls_pin(*impl.pin);
    s.verification = s.verified ? "pinned"
                                : "FAILED: pin mismatch (expected " + format_tls_pin(*impl.pin) + ", the peer's is " +
                                      (s.peer_pin.empty() ? "none: no certificate" : s.peer_pin) + ")";
  } else if (!impl.verify) {
    s.verification = "NOT verified (" + impl.flag_prefix + "-no-verify)";
  } else if (result == X509_V_OK) {
    s.verified = true;
    s.verification = "verified";
  } else {
    s.verification = "FAILED: " + verify_failure(ssl, impl, result);
  }
  return s;
}

std::shared_ptr<TlsContext> make_client(const TlsClientOptions& options, spdlog::logger& log) {
  auto impl = std::make_shared<OpenSslContext>();
  impl->ctx.reset(SSL_CTX_new(TLS_client_method()));
  if (!impl->ctx) throw RuntimeError("tls: " + openssl_errors());
  common_setup(*impl, options.tls13_only, log);
  SSL_CTX* ctx = impl->ctx.get();
  impl->verify = options.verify && !options.pin;
  impl->pin = options.pin;
  impl->servername = options.servername;
  impl->inspect = options.inspect;
  impl->flag_prefix = options.flag_prefix;
  const std::string& flag = options.flag_prefix;
  // The pin replaces the CA check: a CA given with it would be ignored in silence.
  if (options.pin && !options.ca.empty())
    throw ConfigError(flag + "-pin and " + flag + "-ca exclude each other (the pin replaces the CA check)");
  if (!options.verify) {
    // Loud by design (README, TLS): -q does not hide it.
    warn_even_if_quiet(log, "tls: " + flag +
                                "-no-verify: the peer is NOT verified; anyone in the path can read and change this "
                                "connection");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  } else if (options.pin) {
    // The pin decides, after the handshake (endpoint.cpp): a chain no CA signed is fine.
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
  } else {
    // Inspecting, a failed check is reported after the handshake (endpoint.cpp), not fatal in it.
    if (options.inspect)
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, [](int ok, X509_STORE_CTX* store) {
        note_verification(ok, store);
        return 1;
      });
    else
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, [](int ok, X509_STORE_CTX* store) { return note_verification(ok, store); });
    if (!options.ca.empty()) load_trust(ctx, options.ca, (flag + "-ca").c_str());
    else if (SSL_CTX_set_default_verify_paths(ctx) != 1)
      throw RuntimeError("tls: cannot load the system's trust store: " + openssl_errors());
  }
  if (!options.cert.empty()) {
    load_certificate(ctx, options.cert, options.key);
  } else {
    // Asked for a certificate with none to give: noted (ClientNotes), so
    // that the refusal can say what to give.
    SSL_CTX_set_client_cert_cb(ctx, [](SSL* ssl, X509**, EVP_PKEY**) {
      if (ClientNotes* notes = notes_of(ssl)) notes->asked_for_missing_certificate = true;
      return 0;  // send none
    });
  }
  if (!options.alpn.empty()) {
    std::string wire = alpn_wire(options.alpn);
    SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire.data()), static_cast<unsigned>(wire.size()));
  }
  return impl;
}

std::shared_ptr<TlsContext> make_server(const TlsServerOptions& options, spdlog::logger& log) {
  auto impl = std::make_shared<OpenSslContext>();
  impl->server = true;
  impl->handshake_timeout = options.handshake_timeout;
  impl->ctx.reset(SSL_CTX_new(TLS_server_method()));
  if (!impl->ctx) throw RuntimeError("tls: " + openssl_errors());
  common_setup(*impl, options.tls13_only, log);
  SSL_CTX* ctx = impl->ctx.get();
  if (options.cert.empty()) use_self_signed(ctx);
  else load_certificate(ctx, options.cert, options.key);
  impl->own_pin = format_tls_pin(key_pin(SSL_CTX_get0_certificate(ctx)));
  if (options.cert.empty())
    log.info("tls: self-signed certificate, pin {}; connect with --tls-pin {}", impl->own_pin, impl->own_pin);
  else
    log.debug("tls: certificate {}, pin {}", options.cert, impl->own_pin);
  // Resumption works through TLS 1.3 tickets, which carry the session
  // themselves: the server-side cache would only cost a locked insert per
  // handshake and a sweep every 255 (both showed in the handshake profile).
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  // One ticket for a client that comes back (OpenSSL sends two), or none:
  // see TlsServerOptions::session_tickets.
  SSL_CTX_set_num_tickets(ctx, options.session_tickets ? 1 : 0);
  // An idle connection keeps no read or write buffer (about 34 KiB each).
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (!options.client_ca.empty()) {
    load_trust(ctx, options.client_ca, "--tls-client-ca");
    send_client_ca_names(ctx, options.client_ca);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    impl->client_certificates = true;
  }
  if (!options.alpn.empty()) {
    impl->alpn_wire = alpn_wire(options.alpn);  // the callback's argument: lives as long as the context
    SSL_CTX_set_alpn_select_cb(ctx, &select_alpn, &impl->alpn_wire);
  }
  return impl;
}

}  // namespace tls
}  // namespace nettool

extern "C" __attribute__((visibility("default"))) const nettool::TlsProvider* nettool_tls_provider() {
  static constexpr nettool::TlsProvider kProvider{NETTOOL_PLUGIN_ABI, &nettool::tls::make_client,
                                                  &nettool::tls::make_server};
  return &kProvider;
}
