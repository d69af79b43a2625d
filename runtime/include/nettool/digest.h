// SHA-256 and the RFC 9530 header form, in libnettool-runtime. The hashing
// itself is libcrypto's, in libnettool-digest, which the runtime loads beside
// itself the first time a Sha256 is made (it throws nettool::RuntimeError when
// that library cannot be loaded): a process maps libcrypto only once it hashes.
// nettool::digest in the SDK is kept for plugins that link it; it brings
// nettool::runtime.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace nettool {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  void update(const void* data, size_t size);
  void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }
  std::array<uint8_t, 32> finish();  // the object can be reused after this

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

std::string to_hex(const uint8_t* data, size_t size);
std::string base64_encode(const uint8_t* data, size_t size);
// Empty optional-like result: returns false on invalid input.
bool base64_decode(std::string_view text, std::string& out);

// "sha-256=:BASE64:" (RFC 9530 Repr-Digest value for one algorithm).
std::string repr_digest_value(const std::array<uint8_t, 32>& sha256);
// The sha-256 member of a Repr-Digest field value (the last one, when it
// comes twice; its parameters ignored): Found (in `out`), Absent (no such
// member: another algorithm only, or none), or Malformed (a sha-256 member
// that is not a 32-byte byte sequence).
enum class DigestField { Absent, Found, Malformed };
DigestField parse_repr_digest_sha256(std::string_view field, std::array<uint8_t, 32>& out);

}  // namespace nettool
