// digest.h: SHA-256, hex, base64 and the RFC 9530 Repr-Digest field.
#include <catch2/catch.hpp>
#include <cstring>
#include <string>

#include "nettool/digest.h"

using namespace nettool;
using namespace std::string_literals;

namespace {

std::string hex(const std::array<uint8_t, 32>& d) { return to_hex(d.data(), d.size()); }

std::string b64(std::string_view bytes) {
  return base64_encode(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

std::array<uint8_t, 32> sha256_of(std::string_view bytes) {
  Sha256 h;
  h.update(bytes);
  return h.finish();
}

constexpr const char* kEmptyHex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr const char* kAbcHex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr const char* kEmptyB64 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
constexpr const char* kAbcB64 = "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=";

}  // namespace

TEST_CASE("Sha256: known vectors", "[digest]") {
  CHECK(hex(sha256_of("")) == kEmptyHex);
  CHECK(hex(sha256_of("abc")) == kAbcHex);
  CHECK(hex(sha256_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // One million 'a' (FIPS 180-2), fed in uneven pieces.
  Sha256 h;
  std::string block(997, 'a');
  size_t left = 1000000;
  while (left) {
    size_t n = std::min(left, block.size());
    h.update(block.data(), n);
    left -= n;
  }
  CHECK(hex(h.finish()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("Sha256: pieces, empty updates and reuse after finish", "[digest]") {
  Sha256 h;
  h.update("a");
  h.update(nullptr, 0);
  h.update("");
  h.update("bc");
  CHECK(hex(h.finish()) == kAbcHex);
  // finish() starts over: the next digest does not include "abc".
  CHECK(hex(h.finish()) == kEmptyHex);
  h.update("abc");
  CHECK(hex(h.finish()) == kAbcHex);
  // Moved-to objects carry the state along.
  h.update("ab");
  Sha256 moved = std::move(h);
  moved.update("c");
  CHECK(hex(moved.finish()) == kAbcHex);
  Sha256 other;
  other.update("junk");
  other = std::move(moved);
  other.update("abc");
  CHECK(hex(other.finish()) == kAbcHex);
}

TEST_CASE("to_hex", "[digest]") {
  const uint8_t bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
  CHECK(to_hex(bytes, sizeof bytes) == "00017f80abff");
  CHECK(to_hex(bytes, 0) == "");
}

TEST_CASE("base64: RFC 4648 test vectors", "[digest][base64]") {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},          {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
  };
  for (auto [plain, encoded] : vectors) {
    INFO("'" << plain << "' <-> '" << encoded << "'");
    CHECK(b64(plain) == encoded);
    std::string decoded = "stale";
    CHECK(base64_decode(encoded, decoded));
    CHECK(decoded == plain);
  }
}

TEST_CASE("base64: every byte value and both alphabet ends round trip", "[digest][base64]") {
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  for (size_t len : {size_t{1}, size_t{2}, size_t{3}, size_t{31}, size_t{32}, size_t{33}, size_t{256}}) {
    std::string in = all.substr(256 - len);
    std::string out;
    INFO("length " << len);
    REQUIRE(base64_decode(b64(in), out));
    CHECK(out == in);
  }
  CHECK(b64("\xfb\xff\xbf") == "+/+/");
  std::string out;
  CHECK(base64_decode("+/+/", out));
  CHECK(out == "\xfb\xff\xbf");
}

TEST_CASE("base64: invalid input is refused", "[digest][base64]") {
  for (std::string_view bad : {
           "Zm9v!",     // not in the alphabet
           "Zm 9v",     // whitespace
           "Zm9v\n",    //
           "Zm-_",      // base64url alphabet
           "Zg=a",      // data after padding
           "Zg==Zg==",  // padding in the middle
           "Zg===",     // too much padding
           "Z===",      //
           "====",      //
           "Z",         // a lone character holds fewer than 8 bits
           "Zm9vY",     //
           "Z=",        //
           "Zg=",       // one '=' where two are needed
           "Zm9v=",     // padding after a full quantum
           "Zm8==",     // two '=' where one is needed
       }) {
    INFO("input: '" << bad << "'");
    std::string out;
    CHECK_FALSE(base64_decode(bad, out));
  }
  // Unpadded input with whole bytes is accepted.
  std::string out;
  CHECK(base64_decode("Zg", out));
  CHECK(out == "f");
  CHECK(base64_decode("Zm8", out));
  CHECK(out == "fo");
}

TEST_CASE("Repr-Digest: value format and round trip", "[digest][repr-digest]") {
  auto abc = sha256_of("abc");
  CHECK(repr_digest_value(abc) == "sha-256=:"s + kAbcB64 + ":");
  CHECK(repr_digest_value(sha256_of("")) == "sha-256=:"s + kEmptyB64 + ":");
  for (std::string_view data : {"", "abc", "hello world\n"}) {
    auto d = sha256_of(data);
    std::array<uint8_t, 32> parsed{};
    REQUIRE(parse_repr_digest_sha256(repr_digest_value(d), parsed) == DigestField::Found);
    CHECK(parsed == d);
  }
}

TEST_CASE("Repr-Digest: sha-256 among several members", "[digest][repr-digest]") {
  const std::string sha256 = "sha-256=:"s + kAbcB64 + ":";
  const std::string sha512 =
      "sha-512=:3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw==:";
  for (std::string field : {sha512 + ", " + sha256, sha256 + ", " + sha512, "unixsum=30637," + sha256,
                            sha512 + ",\t" + sha256 + " ,  md5=:AAAA:", "  " + sha256 + "  "}) {
    INFO("field: " << field);
    std::array<uint8_t, 32> out{};
    REQUIRE(parse_repr_digest_sha256(field, out) == DigestField::Found);
    CHECK(hex(out) == kAbcHex);
  }
}

TEST_CASE("Repr-Digest: absent or malformed sha-256 members", "[digest][repr-digest]") {
  const std::string abc = "sha-256=:"s + kAbcB64 + ":";
  // No sha-256 member: the download is not verified (a warning), not refused.
  for (std::string field : {
           ""s,
           "sha-512=:3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw==:"s,
           "SHA-256=:"s + kAbcB64 + ":",                 // keys are lowercase: another key
           "xsha-256=:"s + kAbcB64 + ":",                // another key
           "sha-2567=:"s + kAbcB64 + ":",                //
           "x=\"a, "s + abc + "\"",                      // inside another member's string
       }) {
    INFO("field: " << field);
    std::array<uint8_t, 32> out{};
    CHECK(parse_repr_digest_sha256(field, out) == DigestField::Absent);
  }
  // A sha-256 member that holds no 32-byte digest: the download fails.
  for (std::string field : {
           "sha-256"s,                                   // no value (the boolean true)
           "sha-256;x=1"s,                               // parameters, no value
           "sha-256="s,                                  // empty value
           "sha-256=:"s,                                 // a lone colon
           "sha-256=::"s,                                // empty byte sequence
           "sha-256="s + kAbcB64,                        // not a byte sequence
           "sha-256=:"s + kAbcB64,                       // unterminated
           "sha-256="s + kAbcB64 + ":",                  //
           "sha-256=:Zm9vYmFy:"s,                        // six bytes, not 32
           "sha-256=:"s + kAbcB64 + "AAAA:",             // data after the padding
           "sha-256=:"s + std::string(kAbcB64).substr(0, 40) + ":",  // truncated
           "sha-256=:!"s + std::string(kAbcB64).substr(1) + ":",     // bad alphabet
           abc + ", sha-256=:@@@:",                      // the last one counts
       }) {
    INFO("field: " << field);
    std::array<uint8_t, 32> out{};
    CHECK(parse_repr_digest_sha256(field, out) == DigestField::Malformed);
  }
}

TEST_CASE("Repr-Digest: parameters are ignored and the last sha-256 member counts", "[digest][repr-digest]") {
  const std::string abc = "sha-256=:"s + kAbcB64 + ":";
  const std::string empty = "sha-256=:"s + kEmptyB64 + ":";
  for (auto [field, want] : std::vector<std::pair<std::string, std::string>>{
           {abc + ";x=1", kAbcHex},
           {abc + " ;a;b=\"c,d\"", kAbcHex},
           {empty + ", " + abc, kAbcHex},
           {abc + ", " + empty, hex(sha256_of(""))},
           {"sha-256=:@@@:, " + abc, kAbcHex},
       }) {
    INFO("field: " << field);
    std::array<uint8_t, 32> out{};
    REQUIRE(parse_repr_digest_sha256(field, out) == DigestField::Found);
    CHECK(hex(out) == want);
  }
}
