// Between the runtime's Sha256 (digest.cpp) and libnettool-digest
// (sha256_openssl.cpp), the OpenSSL half that the runtime loads beside itself
// for the first hash, so that a process maps libcrypto only once it hashes.
#pragma once
#include <cstddef>
#include <cstdint>

namespace nettool {

// Room for OpenSSL's SHA256_CTX (112 bytes), checked where it is known.
inline constexpr size_t kSha256StateBytes = 128;

// What libnettool-digest exports (nettool_digest_provider()).
struct DigestProvider {
  int abi;  // NETTOOL_PLUGIN_ABI of the build
  void (*init)(void* state);
  void (*update)(void* state, const void* data, size_t size);
  void (*finish)(void* state, uint8_t* out32);
};

}  // namespace nettool
