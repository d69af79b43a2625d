// The OpenSSL-free half of TLS (nettool/tls.h): the option groups' readers,
// pins, the session summary, and the loader that maps libnettool-tls (the
// OpenSSL half, runtime/src/tls/) the first time a command asks for a context.
#include <algorithm>
#include <cctype>
#include <iterator>

#include "nettool/abi.h"
#include "nettool/error.h"
#include "nettool/tls.h"
#include "sibling_library.h"

namespace nettool {

// ---- pins: base64 by hand, so that reading the options needs no libcrypto

namespace {

constexpr std::string_view kBase64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kPinPrefix = "sha256//";

int base64_value(char c) {
  size_t at = kBase64.find(c);
  return at == std::string_view::npos ? -1 : static_cast<int>(at);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

}  // namespace

std::optional<std::array<uint8_t, 32>> parse_tls_pin(std::string_view text) {
  std::array<uint8_t, 32> pin{};
  if (text.size() == 64) {  // hex
    for (size_t i = 0; i < 32; ++i) {
      int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);
      if (hi < 0 || lo < 0) return std::nullopt;
      pin[i] = static_cast<uint8_t>(hi * 16 + lo);
    }
    return pin;
  }
  if (text.substr(0, kPinPrefix.size()) != kPinPrefix) return std::nullopt;
  std::string_view b64 = text.substr(kPinPrefix.size());
  // 32 bytes are 43 base64 digits and one '='; the last digit's low 2 bits are zero.
  if (b64.size() != 44 || b64[43] != '=') return std::nullopt;
  uint32_t acc = 0;
  int bits = 0;
  size_t out = 0;
  for (size_t i = 0; i < 43; ++i) {
    int v = base64_value(b64[i]);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (out < 32) pin[out++] = static_cast<uint8_t>((acc >> bits) & 0xff);
    }
  }
  if (out != 32 || (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return pin;
}

std::string format_tls_pin(const std::array<uint8_t, 32>& pin) {
  std::string out(kPinPrefix);
  uint32_t acc = 0;
  int bits = 0;
  for (uint8_t b : pin) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kBase64[(acc >> bits) & 0x3f];
    }
  }
  if (bits > 0) out += kBase64[(acc << (6 - bits)) & 0x3f];
  out += '=';
  return out;
}

// ---- the option groups' readers

namespace {

consteval std::string_view client_key(std::string_view n) { return checked_option<kTlsClientOptions>(n); }
consteval std::string_view server_key(std::string_view n) { return checked_option<kTlsServerOptions>(n); }

std::vector<std::string> split_alpn(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t comma = list.find(',', start);
    std::string one = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (one.empty() || one.size() > 255)
      throw ConfigError("--tls-alpn: '" + list + "' is not a comma-separated list of protocol names");
    out.push_back(one);
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

// --tls, or any other option of the group given: every one of them implies
// it. Read from the table, so an option added later cannot leave a run in
// the clear that asked for TLS (--tls-min-version once did).
template <size_t N>
bool implies_tls(const OptionValues& values, const OptionSpec (&group)[N]) {
  if (values.get_bool("tls")) return true;
  return std::any_of(std::begin(group), std::end(group),
                     [&](const OptionSpec& spec) { return spec.name != "tls" && values.given(spec.name); });
}

std::string path_of(const OptionValues& values, std::string_view name) {
  return values.has(name) ? values.get_string(name) : std::string();
}

}  // namespace

TlsClientOptions tls_client_options(const OptionValues& values) {
  TlsClientOptions o;
  o.enabled = implies_tls(values, kTlsClientOptions);
  o.ca = path_of(values, client_key("tls-ca"));
  if (values.has(client_key("tls-servername"))) o.servername = values.get_string(client_key("tls-servername"));
  if (values.has(client_key("tls-pin"))) {
    const std::string& text = values.get_string(client_key("tls-pin"));
    o.pin = parse_tls_pin(text);
    if (!o.pin)
      throw ConfigError("--tls-pin: '" + text +
                        "' is not a SHA-256 pin (sha256//BASE64 as curl writes it, or 64 hex digits)");
  }
  o.verify = !values.get_bool(client_key("tls-no-verify"));
  if (values.has(client_key("tls-alpn"))) o.alpn = split_alpn(values.get_string(client_key("tls-alpn")));
  o.cert = path_of(values, client_key("tls-cert"));
  o.key = path_of(values, client_key("tls-key"));
  if (!o.key.empty() && o.cert.empty()) throw ConfigError("--tls-key needs --tls-cert (the certificate it belongs to)");
  o.tls13_only = values.get_string(client_key("tls-min-version")) == "1.3";
  return o;
}

TlsServerOptions tls_server_options(const OptionValues& values) {
  TlsServerOptions o;
  o.enabled = implies_tls(values, kTlsServerOptions);
  o.cert = path_of(values, server_key("tls-cert"));
  o.key = path_of(values, server_key("tls-key"));
  if (!o.key.empty() && o.cert.empty()) throw ConfigError("--tls-key needs --tls-cert (the certificate it belongs to)");
  o.client_ca = path_of(values, server_key("tls-client-ca"));
  o.tls13_only = values.get_string(server_key("tls-min-version")) == "1.3";
  o.handshake_timeout = values.get_duration(server_key("tls-handshake-timeout"));
  return o;
}

std::string describe(const TlsSession& s) {
  std::string out = s.protocol + " " + s.cipher;
  if (!s.group.empty()) out += " " + s.group;
  if (!s.alpn.empty()) out += ", ALPN " + s.alpn;
  out += ", " + s.verification;
  if (!s.chain.empty()) out += ": " + s.chain.front().subject;
  if (!s.peer_pin.empty()) out += ", pin " + s.peer_pin;
  return out;
}

// ---- loading libnettool-tls

namespace {

const TlsProvider& tls_provider() { return sibling_provider<TlsProvider>("tls", "nettool_tls_provider", "tls"); }

}  // namespace

std::shared_ptr<TlsContext> make_tls_client_context(const TlsClientOptions& options, spdlog::logger& log) {
  return tls_provider().client(options, log);
}

std::shared_ptr<TlsContext> make_tls_server_context(const TlsServerOptions& options, spdlog::logger& log) {
  return tls_provider().server(options, log);
}

}  // namespace nettool
