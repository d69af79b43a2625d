// Owning pointers for OpenSSL objects: each type freed by its own function,
// never by hand.
#pragma once
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

namespace nettool::tls {

template <auto Free>
struct Freer {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};

using SslCtxPtr = std::unique_ptr<SSL_CTX, Freer<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, Freer<SSL_free>>;
using X509Ptr = std::unique_ptr<X509, Freer<X509_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Freer<EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, Freer<BIO_free_all>>;
using X509NamePtr = std::unique_ptr<X509_NAME, Freer<X509_NAME_free>>;

// A stack of names owns them: each is freed with it.
inline void free_x509_name_stack(STACK_OF(X509_NAME) * names) { sk_X509_NAME_pop_free(names, X509_NAME_free); }
using X509NameStackPtr = std::unique_ptr<STACK_OF(X509_NAME), Freer<free_x509_name_stack>>;

// OpenSSL's queued errors as one line ("" when none), emptying the queue.
std::string openssl_errors();

}  // namespace nettool::tls
