// TlsSocket: an SSL object on the socket descriptor itself (OpenSSL's socket
// BIO), for file-serve, which watches its raw sockets with uv_poll and sends
// bodies with sendfile. Unlike the endpoint (memory BIOs), OpenSSL does the
// reads and writes, so after the handshake it can hand the record layer to
// the kernel (SSL_OP_ENABLE_KTLS) and SSL_sendfile can send a file without
// copying it through user space.
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <cstring>

#include "nettool/error.h"
#include "tls_internal.h"

namespace nettool::tls {

namespace {

class OpenSslSocket final : public TlsSocket {
 public:
  OpenSslSocket(int fd, std::shared_ptr<OpenSslContext> context, bool kernel_tls) : context_(std::move(context)) {
    ssl_.reset(SSL_new(context_->ctx.get()));
    if (!ssl_ || SSL_set_fd(ssl_.get(), fd) != 1) throw RuntimeError("tls: " + openssl_errors());  // BIO_NOCLOSE
    // Partial writes: write() returns after each record, like send(2). Moving
    // buffer: a retried write may come from a buffer that was reallocated.
    SSL_set_mode(ssl_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    // A client that sends its request and closes without close_notify is
    // common (and harmless: a request head says where it ends); read it as EOF.
    SSL_set_options(ssl_.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (kernel_tls) SSL_set_options(ssl_.get(), SSL_OP_ENABLE_KTLS);
    // Read what the socket has in one read(2), not a record header and then
    // its body in two.
    SSL_set_read_ahead(ssl_.get(), 1);
    prepare_session(ssl_.get(), *context_, "");
  }

  long handshake() override {
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl_.get());
    if (rc == 1) {
      if (std::string refused = check_pin(ssl_.get(), *context_); !refused.empty()) {
        error_ = refused;
        return -EPROTO;
      }
      return 1;
    }
    int err = SSL_get_error(ssl_.get(), rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return wait_for(err);
    error_ = handshake_error(ssl_.get(), *context_, err);
    return -EPROTO;
  }

  long read(char* buf, size_t size) override {
    size_t got = 0;
    ERR_clear_error();
    errno = 0;
    if (SSL_read_ex(ssl_.get(), buf, size, &got) == 1) return static_cast<long>(got);
    return failure(0);
  }

  long write(const char* data, size_t size) override {
    size_t written = 0;
    ERR_clear_error();
    errno = 0;
    if (SSL_write_ex(ssl_.get(), data, size, &written) == 1) return static_cast<long>(written);
    return failure(0);
  }

  long send_file(int fd, off_t offset, size_t size) override {
    if (!kernel_send()) return -EOPNOTSUPP;
    ERR_clear_error();
    errno = 0;
    ossl_ssize_t n = SSL_sendfile(ssl_.get(), fd, offset, size, 0);
    if (n > 0) return static_cast<long>(n);
    return failure(static_cast<int>(n));
  }

  int wants() const override { return wants_; }
  bool buffered() const override { return SSL_has_pending(ssl_.get()) == 1; }  // read ahead counts too
  bool kernel_send() const override { return BIO_get_ktls_send(SSL_get_wbio(ssl_.get())) > 0; }

  void close_notify() override {
    ERR_clear_error();
    SSL_shutdown(ssl_.get());  // one try: if the socket is full, the peer gets the FIN alone
    ERR_clear_error();
  }

  std::string error() const override { return error_; }
  TlsSession session() const override { return session_of(ssl_.get(), *context_); }

 private:
  long wait_for(int err) {
    wants_ = err == SSL_ERROR_WANT_READ ? kWantRead : kWantWrite;
    return -EAGAIN;
  }

  // After a read, write or sendfile returned `rc` (<= 0).
  long failure(int rc) {
    int saved_errno = errno;
    int err = SSL_get_error(ssl_.get(), rc <= 0 ? rc : 0);
    switch (err) {
      case SSL_ERROR_WANT_READ:
      case SSL_ERROR_WANT_WRITE:
        return wait_for(err);
      case SSL_ERROR_ZERO_RETURN:  // close_notify, or a FIN (SSL_OP_IGNORE_UNEXPECTED_EOF)
        return 0;
      case SSL_ERROR_SYSCALL:
        if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK) return wait_for(SSL_ERROR_WANT_WRITE);
        error_ = saved_errno ? std::strerror(saved_errno) : "the connection closed";
        ERR_clear_error();
        return saved_errno ? -saved_errno : -ECONNRESET;
      default:
        error_ = openssl_errors();
        if (error_.empty()) error_ = "protocol error";
        return -EPROTO;
    }
  }

  std::shared_ptr<OpenSslContext> context_;  // before ssl_: the SSL_CTX outlives the SSL
  SslPtr ssl_;
  int wants_ = kWantRead;
  std::string error_;
};

}  // namespace

std::unique_ptr<TlsSocket> OpenSslContext::on_socket(int fd, bool kernel_tls) {
  return std::make_unique<OpenSslSocket>(fd, shared_from_this(), kernel_tls);
}

}  // namespace nettool::tls
