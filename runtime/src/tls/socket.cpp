// TlsSocket: an SSL object on the socket descriptor itself (OpenSSL's socket
// BIO), for file-serve, which watches its raw sockets with uv_poll and sends
// bodies with sendfile. Unlike the endpoint, OpenSSL reads the socket. With
// --tls-ktls it writes it too, so after the handshake it can hand the record
// layer to the kernel (SSL_OP_ENABLE_KTLS) and SSL_sendfile can send a file
// without copying it through user space. Otherwise the records go to a
// ChunkBio and we send them: a 64 KiB write is four records, and OpenSSL's
// socket BIO would make that four write(2)s and four TCP segments.
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "nettool/error.h"
#include "chunk_bio.h"
#include "tls_internal.h"

namespace nettool::tls {

namespace {

// Plain text per write(): four full records, sent in one write(2).
constexpr size_t kWriteBatch = 64 * 1024;

class OpenSslSocket final : public TlsSocket {
 public:
  OpenSslSocket(int fd, std::shared_ptr<OpenSslContext> context, bool kernel_tls)
      : context_(std::move(context)), fd_(fd) {
    ssl_.reset(SSL_new(context_->ctx.get()));
    if (!ssl_) throw RuntimeError("tls: " + openssl_errors());
    if (kernel_tls) {
      if (SSL_set_fd(ssl_.get(), fd) != 1) throw RuntimeError("tls: " + openssl_errors());  // BIO_NOCLOSE
    } else {
      BIO* socket_bio = BIO_new_socket(fd, BIO_NOCLOSE);
      if (!socket_bio) throw RuntimeError("tls: " + openssl_errors());
      records_ = std::make_unique<ChunkBio>(/*copy_small_records=*/false);
      BIO_up_ref(records_->bio());  // SSL_set_bio takes over one reference; records_ keeps its own
      SSL_set_bio(ssl_.get(), socket_bio, records_->bio());
    }
    // On the socket, partial writes: write() returns after each record, like
    // send(2). Into records_, which never blocks, the whole batch at once.
    // Moving buffer: a retried write may come from a buffer that was reallocated.
    SSL_set_mode(ssl_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (records_) SSL_clear_mode(ssl_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE);
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
    if (long sent = send_records(); sent != 1) return sent == -EAGAIN ? wait_for(SSL_ERROR_WANT_WRITE) : sent;
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl_.get());
    // A server's finished TLS 1.3 handshake has written only its session
    // tickets, which nobody waits for. When the client's request came with
    // its Finished (curl, wrk), they wait and go out with the response, in
    // its sendmsg, instead of in a segment (and a wake-up) of their own. A
    // client that has sent nothing more gets them now, so that an idle
    // connection keeps no buffer for them. A client's last flight is its
    // Finished, and a TLS 1.2 server's holds its Finished: the peer waits for those.
    bool hold = rc == 1 && records_ && SSL_is_server(ssl_.get()) == 1 &&
                SSL_version(ssl_.get()) == TLS1_3_VERSION && SSL_has_pending(ssl_.get()) == 1;
    // Our flight (or an alert) goes out now: the peer answers only once it has it.
    long sent = hold ? 1 : send_records();
    if (sent < 0 && sent != -EAGAIN) return sent;
    if (sent == -EAGAIN) return wait_for(SSL_ERROR_WANT_WRITE);
    if (rc == 1) {
      if (std::string refused = check_pin(ssl_.get(), *context_); !refused.empty()) {
        error_ = refused;
        return -EPROTO;
      }
      if (records_) records_->release_idle_buffers();  // a client may idle now
      return 1;
    }
    int err = SSL_get_error(ssl_.get(), rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return wait_for(err);
    error_ = handshake_error(ssl_.get(), *context_, err);
    return -EPROTO;
  }

  long read(char* buf, size_t size) override {
    // What reading makes OpenSSL answer on its own (a key update the client
    // asks for) waits in pending_ while the socket is full. A client that
    // keeps asking and never reads the answers would grow it without end:
    // past kMaxPendingBytes nothing more is read until the socket takes some.
    if (pending_bytes_ > kMaxPendingBytes) {
      if (long sent = send_records(); sent < 0 && sent != -EAGAIN) return sent;
      if (pending_bytes_ > kMaxPendingBytes) return wait_for(SSL_ERROR_WANT_WRITE);
    }
    size_t got = 0;
    ERR_clear_error();
    errno = 0;
    const uint64_t written = records_ ? records_->written_bytes() : 0;
    int rc = SSL_read_ex(ssl_.get(), buf, size, &got);
    // What this read made OpenSSL write (an alert, the refusal of a
    // renegotiation, a key update's answer) goes out now, best effort, and
    // tickets held from the handshake with it; those alone wait for the response.
    if (records_ && records_->written_bytes() != written) {
      int saved_errno = errno;
      (void)send_records();
      errno = saved_errno;
    }
    if (rc == 1) return static_cast<long>(got);
    return failure(0);
  }

  long write(const char* data, size_t size) override {
    size_t written = 0;
    if (!records_) {
      ERR_clear_error();
      errno = 0;
      if (SSL_write_ex(ssl_.get(), data, size, &written) == 1) return static_cast<long>(written);
      return failure(0);
    }
    // Records an earlier write could not send go first; while the socket
    // takes none of them, nothing more is encrypted (what is queued stays bounded).
    if (!pending_.empty()) {
      if (long sent = send_records(); sent != 1) return sent == -EAGAIN ? wait_for(SSL_ERROR_WANT_WRITE) : sent;
    }
    ERR_clear_error();
    errno = 0;
    // The ChunkBio never blocks: OpenSSL takes the whole batch.
    records_->expect(std::min(size, kWriteBatch));
    if (SSL_write_ex(ssl_.get(), data, std::min(size, kWriteBatch), &written) != 1) return failure(0);
    if (long sent = send_records(); sent < 0 && sent != -EAGAIN) return sent;
    return static_cast<long>(written);
  }

  long flush() override {
    long sent = send_records();
    if (sent == -EAGAIN) return wait_for(SSL_ERROR_WANT_WRITE);
    if (sent == 1 && records_) records_->release_idle_buffers();
    return sent;
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
  bool kernel_send() const override { return !records_ && BIO_get_ktls_send(SSL_get_wbio(ssl_.get())) > 0; }

  void close_notify() override {
    ERR_clear_error();
    SSL_shutdown(ssl_.get());  // one try: if the socket is full, the peer gets the FIN alone
    ERR_clear_error();
    (void)send_records();
  }

  std::string error() const override { return error_; }
  TlsSession session() const override { return session_of(ssl_.get(), *context_); }

 private:
  long wait_for(int err) {
    wants_ = err == SSL_ERROR_WANT_READ ? kWantRead : kWantWrite;
    return -EAGAIN;
  }

  // Sends the queued records, as many as the socket takes: 1 when none are
  // left, -EAGAIN when some are, or -errno (error() says why).
  long send_records() {
    if (!records_) return 1;
    for (ChunkPtr& c : records_->take_records()) {
      pending_bytes_ += c->size;
      pending_.push_back(std::move(c));
    }
    while (!pending_.empty()) {
      iovec iov[16];
      size_t n = 0;
      for (size_t i = 0; i < pending_.size() && n < std::size(iov); ++i, ++n) {
        size_t skip = i == 0 ? pending_offset_ : 0;
        iov[n] = {pending_[i]->data.get() + skip, pending_[i]->size - skip};
      }
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = n;
      ssize_t sent = sendmsg(fd_, &msg, MSG_NOSIGNAL);
      if (sent < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return -EAGAIN;
        error_ = std::strerror(errno);
        return -errno;
      }
      pending_bytes_ -= static_cast<size_t>(sent);
      for (auto left = static_cast<size_t>(sent); left > 0;) {
        size_t in_front = pending_.front()->size - pending_offset_;
        if (left < in_front) {
          pending_offset_ += left;
          break;
        }
        left -= in_front;
        pending_.pop_front();
        pending_offset_ = 0;
      }
    }
    return 1;
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
  int fd_;
  std::unique_ptr<ChunkBio> records_;  // the write BIO, without kernel TLS; before ssl_, which refers to it
  ChunkFifo pending_;                  // records the socket has not taken yet
  size_t pending_offset_ = 0;          // of pending_.front(), already sent
  size_t pending_bytes_ = 0;           // in pending_, less pending_offset_
  // A response's records queue here only until the socket takes the first
  // of them (write()); only what reads answer can pile up (read()).
  static constexpr size_t kMaxPendingBytes = 4 * 1024 * 1024;
  SslPtr ssl_;
  int wants_ = kWantRead;
  std::string error_;
};

}  // namespace

std::unique_ptr<TlsSocket> OpenSslContext::on_socket(int fd, bool kernel_tls) {
  return std::make_unique<OpenSslSocket>(fd, shared_from_this(), kernel_tls);
}

}  // namespace nettool::tls
