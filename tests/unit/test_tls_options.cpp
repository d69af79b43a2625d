// TLS without OpenSSL (nettool/tls.h, runtime/src/tls_options.cpp): pins in
// both spellings, and what the option group's readers make of a command line.
#include <catch2/catch.hpp>

#include "nettool/error.h"
#include "nettool/tls.h"

using namespace nettool;

namespace {

template <typename Schema>
OptionValues parse(const Schema& schema, const std::vector<std::string>& args) {
  OptionValues values;
  apply_defaults(schema, values);
  apply_command_line(schema, args, values);
  check_constraints(schema, values);
  return values;
}

std::array<uint8_t, 32> counting_bytes() {
  std::array<uint8_t, 32> pin{};
  for (size_t i = 0; i < pin.size(); ++i) pin[i] = static_cast<uint8_t>(i * 7 + 1);
  return pin;
}

}  // namespace

TEST_CASE("tls pins: sha256//BASE64 and hex read the same 32 bytes, and formatting gives curl's form back", "[tls]") {
  // The SHA-256 of the empty string, as `openssl dgst -binary | base64` and as hex.
  auto b64 = parse_tls_pin("sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
  auto hex = parse_tls_pin("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  REQUIRE(b64);
  REQUIRE(hex);
  CHECK(*b64 == *hex);
  CHECK(format_tls_pin(*b64) == "sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
  CHECK(parse_tls_pin(format_tls_pin(counting_bytes())) == counting_bytes());
  CHECK(parse_tls_pin("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855") == hex);
}

TEST_CASE("tls pins: anything else is refused", "[tls]") {
  for (const char* bad : {"", "sha256//", "sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU",  // no '='
                          "sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=",                   // low bits set
                          "sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSu!U=", "sha1//abc",
                          "md5//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
                          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g",
                          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8"}) {
    INFO(bad);
    CHECK_FALSE(parse_tls_pin(bad));
  }
}

TEST_CASE("tls client options: off by default, any --tls-* option turns TLS on, verification stays on", "[tls]") {
  CHECK_FALSE(tls_client_options(parse(kTlsClientOptions, {})).enabled);
  auto o = tls_client_options(parse(kTlsClientOptions, {"--tls-ca", "/etc/ca.pem"}));
  CHECK(o.enabled);
  CHECK(o.verify);
  CHECK(o.ca == "/etc/ca.pem");
  CHECK_FALSE(o.tls13_only);
  o = tls_client_options(parse(kTlsClientOptions, {"--tls-pin", "sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
                                                   "--tls-alpn", "h2,http/1.1", "--tls-min-version", "1.3"}));
  CHECK(o.enabled);
  CHECK(o.pin);
  CHECK(o.alpn == std::vector<std::string>{"h2", "http/1.1"});
  CHECK(o.tls13_only);
  o = tls_client_options(parse(kTlsClientOptions, {"--tls-no-verify"}));
  CHECK(o.enabled);
  CHECK_FALSE(o.verify);
}

TEST_CASE("tls client options: a bad pin, an empty ALPN name, a key alone, no-verify with a pin are refused", "[tls]") {
  CHECK_THROWS_WITH(tls_client_options(parse(kTlsClientOptions, {"--tls-pin", "sha256//x"})),
                    Catch::Contains("is not a SHA-256 pin"));
  CHECK_THROWS_WITH(tls_client_options(parse(kTlsClientOptions, {"--tls-alpn", "h2,,http/1.1"})),
                    Catch::Contains("--tls-alpn"));
  CHECK_THROWS_WITH(tls_client_options(parse(kTlsClientOptions, {"--tls-key", "k.pem"})),
                    Catch::Contains("--tls-key needs --tls-cert"));
  CHECK_THROWS_AS(parse(kTlsClientOptions, {"--tls-no-verify", "--tls-ca", "ca.pem"}), ConfigError);
  CHECK_THROWS_AS(parse(kTlsClientOptions, {"--tls-min-version", "1.1"}), ConfigError);
}

TEST_CASE("tls server options: a certificate turns TLS on, and without one the server makes its own", "[tls]") {
  CHECK_FALSE(tls_server_options(parse(kTlsServerOptions, {})).enabled);
  auto o = tls_server_options(parse(kTlsServerOptions, {"--tls"}));
  CHECK(o.enabled);
  CHECK(o.cert.empty());
  o = tls_server_options(parse(kTlsServerOptions, {"--tls-cert", "c.pem", "--tls-client-ca", "ca.pem"}));
  CHECK(o.enabled);
  CHECK(o.cert == "c.pem");
  CHECK(o.client_ca == "ca.pem");
}

TEST_CASE("tls session summary: one line with what was agreed and who the peer is", "[tls]") {
  TlsSession s;
  s.protocol = "TLSv1.3";
  s.cipher = "TLS_AES_256_GCM_SHA384";
  s.group = "X25519";
  s.alpn = "h2";
  s.verification = "verified";
  s.peer_pin = "sha256//x";
  TlsSession::Certificate leaf;
  leaf.subject = "CN = example.org";
  s.chain.push_back(leaf);
  CHECK(describe(s) == "TLSv1.3 TLS_AES_256_GCM_SHA384 X25519, ALPN h2, verified: CN = example.org, pin sha256//x");
}
