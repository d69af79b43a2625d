// libnettool-digest: SHA-256 from libcrypto, for the runtime's Sha256
// (digest.cpp), which loads this library the first time it hashes.
//
// SHA256_Init and friends, deprecated in OpenSSL 3 in favour of EVP, run the
// same assembly (SHA-NI, AVX2) at the same speed, but EVP's first digest
// loads the default provider: 2.2 MiB more resident per process (libcrypto
// pages it touches) and thread state for every pool thread that hashes, for
// nothing a SHA-256 of our own bytes needs (bench/PROFILES.md, table 4).
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include "digest_provider.h"
#include "nettool/abi.h"

namespace {

static_assert(sizeof(SHA256_CTX) <= nettool::kSha256StateBytes && alignof(SHA256_CTX) <= 16);

void init(void* state) { SHA256_Init(static_cast<SHA256_CTX*>(state)); }
void update(void* state, const void* data, size_t size) { SHA256_Update(static_cast<SHA256_CTX*>(state), data, size); }
void finish(void* state, uint8_t* out32) { SHA256_Final(out32, static_cast<SHA256_CTX*>(state)); }

}  // namespace

extern "C" __attribute__((visibility("default"))) const nettool::DigestProvider* nettool_digest_provider() {
  static constexpr nettool::DigestProvider kProvider{NETTOOL_PLUGIN_ABI, &init, &update, &finish};
  return &kProvider;
}
