// TlsEndpoint: an SSL object on a ChunkBio, on top of another endpoint.
// Cipher text read from the inner endpoint is queued in the BIO; SSL_read
// gives the plain text to our reader. Plain text written to us goes through
// SSL_write; the records that makes are written to the inner endpoint.
// Every call into OpenSSL is followed by flush(), so no record waits in the
// BIO between loop turns, and preceded by ERR_clear_error(), so
// SSL_get_error() never sees an error left by another connection.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>

#include "nettool/error.h"
#include "nettool/uv.h"
#include "stream/endpoint_halves.h"
#include "chunk_bio.h"
#include "tls_internal.h"

namespace nettool::tls {

namespace {


class TlsEndpoint final : public Endpoint {
 public:
  TlsEndpoint(uv_loop_t* loop, std::unique_ptr<Endpoint> inner, std::shared_ptr<OpenSslContext> context,
              const std::string& peer_host, spdlog::logger* log, bool truncation_is_error,
              TlsHandshakeFn on_handshake)
      : inner_(std::move(inner)),
        context_(std::move(context)),
        log_(log),
        truncation_is_error_(truncation_is_error),
        on_handshake_(std::move(on_handshake)) {
    OpenSslContext& impl = *context_;
    ssl_.reset(SSL_new(impl.ctx.get()));
    if (!ssl_) throw RuntimeError("tls: " + openssl_errors());
    BIO_up_ref(bio_.bio());  // SSL_set_bio takes over one reference; bio_ keeps its own
    SSL_set_bio(ssl_.get(), bio_.bio(), bio_.bio());
    prepare_session(ssl_.get(), impl, peer_host);
    if (!impl.server) SSL_set_app_data(ssl_.get(), &notes_);
    inner_->on_write_error([this](int status) {
      if (!refused_late()) return;
      notify_write_error(status);
    });
    inner_->read_start([this](const ChunkPtr& chunk) { on_cipher(chunk); }, [this](int status) { on_inner_end(status); });
    if (!impl.server) advance();  // the ClientHello
    if (impl.server && loop && impl.handshake_timeout.count() > 0) {
      // A client that connects and never finishes its hello (slowloris)
      // must not hold a -k slot for ever.
      handshake_timer_ = make_timer(loop, this);
      uv_timer_start(
          handshake_timer_.get(),
          [](uv_timer_t* t) {
            auto* self = static_cast<TlsEndpoint*>(t->data);
            if (!self || self->established_ || self->failed_) return;
            self->handshake_failed("no finished handshake within --tls-handshake-timeout " +
                                   std::to_string(self->context_->handshake_timeout.count()) + " ms");
          },
          static_cast<uint64_t>(impl.handshake_timeout.count()), 0);
    }
  }

  ~TlsEndpoint() override {
    *alive_ = false;
    handshake_timer_.close();
  }

  std::string describe() const override { return inner_->describe(); }

  bool readable() const override { return inner_->readable(); }
  void read_start(DataFn on_data, EndFn on_end) override {
    on_data_ = std::move(on_data);
    on_end_ = std::move(on_end);
    reading_ = true;
    // A new reader reads, whatever the last one paused, as a uv stream's
    // read_start does (a bridge drains the peer with a reader of its own
    // once the local side stops taking its bytes).
    paused_ = false;
    if (early_end_) {
      int status = *early_end_;
      early_end_.reset();
      auto fn = on_end_;
      fn(status);
      return;
    }
    auto alive = alive_;
    deliver();
    if (!*alive) return;
    held_unread_ = false;
    if (!paused_ && !ended_ && !held_for_answers_) inner_->read_resume();
  }
  void read_pause() override {
    paused_ = true;
    inner_->read_pause();
  }
  void read_resume() override {
    paused_ = false;
    deliver();
    if (!paused_ && !ended_ && !held_unread_ && !held_for_answers_) inner_->read_resume();  // held: until read_start()
  }

  bool writable() const override { return inner_->writable(); }
  void write(const ChunkPtr& chunk) override {
    if (!chunk || chunk->size == 0) return;
    if (!established_ || !pending_plain_.empty()) {
      pending_plain_bytes_ += chunk->size;
      pending_plain_.push_back(chunk);
      return;
    }
    encrypt(chunk);
  }
  size_t queued_bytes() const override { return inner_->queued_bytes() + pending_plain_bytes_; }
  void end(DoneFn done) override {
    end_requested_ = true;
    end_done_ = std::move(done);
    if (established_) send_close_notify();
    else if (failed_) inner_->end(std::move(end_done_));  // no session to close: just the FIN
  }

 private:
  // ---- the handshake and reading

  void on_cipher(const ChunkPtr& chunk) {
    // The start of the peer's answer, to tell a peer that does not speak TLS.
    if (!established_ && first_bytes_.size() < kFirstBytes)
      first_bytes_.append(chunk->data.get(), std::min(chunk->size, kFirstBytes - first_bytes_.size()));
    bio_.receive(chunk);
    auto alive = alive_;
    advance();
    if (!*alive) return;
    // Established, and nobody takes the plain text yet (tcp-forward's target
    // still connecting, -z's report): past a bound the cipher text waits in
    // the kernel, and TCP's window holds the peer, instead of our memory.
    if (established_ && !reading_ && !held_unread_ && bio_.received_bytes() >= kUnreadLimit) {
      held_unread_ = true;
      inner_->read_pause();
    }
  }

  // Moves the handshake on, or decrypts what has arrived.
  void advance() {
    auto alive = alive_;
    if (!established_ && !failed_) {
      ERR_clear_error();
      int rc = SSL_do_handshake(ssl_.get());
      flush();
      if (!*alive) return;
      if (rc != 1) {
        int err = SSL_get_error(ssl_.get(), rc);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
        handshake_failed(handshake_error(ssl_.get(), *context_, err, first_bytes_));
        return;
      }
      if (!handshake_done() || !*alive) return;
    }
    deliver();
  }

  // After a successful handshake: the pin, the session summary, then the
  // data written meanwhile. False when the peer is refused.
  bool handshake_done() {
    TlsSession s = session_of(ssl_.get(), *context_);
    // -z reports a wrong pin with the rest (session_of), not instead of it.
    if (std::string refused = check_pin(ssl_.get(), *context_); !refused.empty() && !context_->inspect) {
      handshake_failed(refused);
      return false;
    }
    established_ = true;
    handshake_timer_.close();
    // TLS 1.3: the server checks our (missing) certificate after our
    // Finished, so its refusal can only come now: kept for refused_late().
    if (notes_.asked_for_missing_certificate && !context_->inspect && SSL_version(ssl_.get()) == TLS1_3_VERSION)
      late_refusal_ = on_handshake_;
    if (on_handshake_) {
      auto fn = std::move(on_handshake_);
      auto alive = alive_;
      fn("", s);
      if (!*alive) return false;
    }
    while (!pending_plain_.empty() && !failed_) {
      ChunkPtr c = std::move(pending_plain_.front());
      pending_plain_.pop_front();
      pending_plain_bytes_ -= c->size;
      encrypt(c);
    }
    if (end_requested_ && !close_sent_) send_close_notify();
    return true;
  }

  void handshake_failed(const std::string& why) {
    failed_ = true;
    handshake_timer_.close();
    auto alive = alive_;
    if (on_handshake_) {
      auto fn = std::move(on_handshake_);
      fn(why, TlsSession{});
      if (!*alive) return;
    }
    inner_->read_pause();
    if (end_requested_) inner_->end(std::move(end_done_));  // asked for before the handshake failed
    finish_reading(UV_ECONNABORTED);
  }

  // Decrypts what the read BIO holds and hands it on, unless paused.
  void deliver() {
    if (!established_ || !reading_ || ended_) return;
    auto alive = alive_;
    while (!paused_ && !ended_) {
      // One record is at most 16 KiB of plain text: a chunk is filled with
      // as many as have arrived, so a download queues full 64 KiB buffers
      // (four times fewer, and few enough to stay in the pool: a buffer per
      // record outgrew it and cost a page fault per 4 KiB received).
      ChunkPtr chunk = read_pool_.acquire();
      const uint64_t written_before = bio_.written_bytes();
      int rc = 1;
      while (chunk->size < chunk->capacity) {
        size_t got = 0;
        ERR_clear_error();
        rc = SSL_read_ex(ssl_.get(), chunk->data.get() + chunk->size, chunk->capacity - chunk->size, &got);
        if (rc != 1) break;
        chunk->size += got;
      }
      int err = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_.get(), rc);
      const bool answered = bio_.written_bytes() != written_before;
      flush();  // a TLS 1.3 key update or session ticket may have answers to send
      if (!*alive) return;
      if (answered && inner_->queued_bytes() >= kMaxQueuedWithAnswers) hold_for_answers();
      if (chunk->size > 0) {
        late_refusal_ = nullptr;  // the server talks to us: it did not refuse
        on_data_(right_size(std::move(chunk)));
        if (!*alive) return;
      }
      if (err == SSL_ERROR_NONE) continue;
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) break;
      // Paused by the data just handed on: the end (or error) waits for
      // read_resume(), where SSL_read reports it again.
      if (ended_ || paused_) return;
      if (err == SSL_ERROR_ZERO_RETURN) {  // the peer's close_notify: its end of stream
        late_refusal_ = nullptr;             // a clean close is no refusal
        finish_reading(0);
        return;
      }
      // Another alert than the missing certificate's is not that refusal
      // (a server that only asked for a certificate, as nginx's optional).
      if (late_refusal_ && ERR_GET_REASON(ERR_peek_error()) != SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED &&
          ERR_GET_REASON(ERR_peek_error()) != SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE && ERR_peek_error() != 0)
        late_refusal_ = nullptr;
      std::string why = openssl_errors();
      if (late_refusal_) {
        if (!refused_late()) return;
      } else if (log_) {
        log_->error("tls: reading from {}: {}", inner_->describe(), why.empty() ? "protocol error" : why);
      }
      finish_reading(UV_EPROTO);
      return;
    }
    if (inner_eof_ && !ended_ && !paused_ && bio_.received_bytes() == 0 && SSL_pending(ssl_.get()) == 0) truncated();
  }

  void on_inner_end(int status) {
    if (!established_) {
      // A reset is a failed handshake like any other: one reason, reported
      // through on_handshake (a TLS 1.0-only OpenSSL server resets).
      if (failed_) return;
      if (std::string plain = context_->server ? "" : not_tls_refusal(first_bytes_); !plain.empty())
        handshake_failed(plain);
      else if (notes_.asked_for_missing_certificate)
        handshake_failed(missing_certificate_refusal(*context_));
      else
        handshake_failed(status < 0 ? std::string("the connection failed during the handshake: ") + uv_strerror(status)
                                    : "the peer closed the connection during the handshake");
      return;
    }
    if (status < 0) {
      if (!refused_late()) return;
      finish_reading(status);
      return;
    }
    inner_eof_ = true;
    deliver();
  }

  // A TCP FIN with no close_notify before it: whoever sent it may have been
  // cut off (or an attacker closed the connection).
  void truncated() {
    if (truncation_is_error_) {
      if (log_) log_->error("tls: {} closed the connection without close_notify: the data may be truncated", describe());
      finish_reading(UV_ECONNABORTED);
      return;
    }
    if (log_) log_->warn("tls: {} closed the connection without close_notify: the data may be truncated", describe());
    finish_reading(0);
  }

  // After a TLS 1.3 handshake in which the server asked for a certificate
  // we had none to give, a connection that fails before the server has sent
  // anything was refused for want of one: on_handshake hears that (once
  // more) before the failure goes on. False when that destroyed us.
  bool refused_late() {
    if (!late_refusal_) return true;
    auto fn = std::move(late_refusal_);
    late_refusal_ = nullptr;
    auto alive = alive_;
    fn(missing_certificate_refusal(*context_), TlsSession{});
    return *alive;
  }

  void finish_reading(int status) {
    if (ended_) return;
    ended_ = true;
    if (!on_end_) {
      early_end_ = status;
      return;
    }
    auto fn = on_end_;
    fn(status);
  }

  // ---- writing

  void encrypt(const ChunkPtr& chunk) {
    if (failed_ || close_sent_) return;
    bio_.expect(chunk->size);
    for (size_t done = 0; done < chunk->size;) {
      size_t written = 0;
      ERR_clear_error();
      if (SSL_write_ex(ssl_.get(), chunk->data.get() + done, chunk->size - done, &written) != 1) {
        std::string why = openssl_errors();
        if (log_) log_->debug("tls: write failed: {}", why);
        notify_write_error(UV_EPROTO);
        return;
      }
      done += written;
    }
    flush();
  }

  void send_close_notify() {
    if (close_sent_) return;
    close_sent_ = true;
    ERR_clear_error();
    SSL_shutdown(ssl_.get());  // sends close_notify; the peer's comes as our end of stream
    flush();
    inner_->end([this, alive = alive_, done = std::move(end_done_)](int status) {
      if (status < 0 && *alive && !refused_late()) return;
      if (done) done(status);
    });
  }

  // OpenSSL answers some records on its own while reading (a key update
  // that asks for one back). A peer that keeps asking and never reads the
  // answers would grow our queue without end, so once that queue is past
  // kMaxQueuedWithAnswers, reading waits for it to drain, and the peer waits
  // in TCP. The bound is above what a relay's own writes ever queue (it
  // stops at kHighWatermark), so a rare key update during a busy transfer
  // never holds reading.
  void hold_for_answers() {
    if (held_for_answers_) return;
    held_for_answers_ = true;
    inner_->read_pause();
    std::weak_ptr<bool> guard = alive_;
    inner_->when_drained(guard, [this] {
      held_for_answers_ = false;
      if (paused_ || ended_ || held_unread_ || !reading_) return;
      inner_->read_resume();
      deliver();
    });
  }

  // Writes whatever OpenSSL produced to the inner endpoint.
  void flush() {
    for (const ChunkPtr& records : bio_.take_records()) inner_->write(records);
    if (inner_->queued_bytes() >= kLowWatermark) {
      std::weak_ptr<bool> guard = alive_;
      inner_->when_drained(guard, [this] { notify_drained_if_low(); });
    }
  }


  std::unique_ptr<Endpoint> inner_;
  std::shared_ptr<OpenSslContext> context_;
  spdlog::logger* log_;
  bool truncation_is_error_;
  TlsHandshakeFn on_handshake_;
  ChunkBio bio_;  // before ssl_, which holds a reference to its BIO
  SslPtr ssl_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // a callback may destroy us
  Handle<uv_timer_t> handshake_timer_;  // a server's --tls-handshake-timeout

  DataFn on_data_;
  EndFn on_end_;
  bool reading_ = false;
  bool paused_ = false;
  bool established_ = false;
  bool failed_ = false;
  bool inner_eof_ = false;
  bool ended_ = false;  // the reading side has ended (on_end called or pending)
  bool held_unread_ = false;  // inner reads paused until read_start(): kUnreadLimit waits unread
  bool held_for_answers_ = false;  // inner reads paused until what we queued drains (hold_for_answers)
  static constexpr size_t kMaxQueuedWithAnswers = 4 * kHighWatermark;
  static constexpr size_t kUnreadLimit = 256 * 1024;
  std::optional<int> early_end_;  // the end, when it came before read_start()
  static constexpr size_t kFirstBytes = 64;
  std::string first_bytes_;  // the start of what the peer sent, while in the handshake
  ClientNotes notes_;  // a client's SSL app data
  TlsHandshakeFn late_refusal_;  // see refused_late()
  ChunkPool read_pool_;
  std::deque<ChunkPtr> pending_plain_;  // written before the handshake ended
  size_t pending_plain_bytes_ = 0;
  bool end_requested_ = false;
  bool close_sent_ = false;
  DoneFn end_done_;
};

}  // namespace

std::unique_ptr<Endpoint> OpenSslContext::wrap(uv_loop_t* loop, std::unique_ptr<Endpoint> inner,
                                               const std::string& peer_host, spdlog::logger* log,
                                               bool truncation_is_error, TlsHandshakeFn on_handshake) {
  return std::make_unique<TlsEndpoint>(loop, std::move(inner), shared_from_this(), peer_host, log,
                                       truncation_is_error, std::move(on_handshake));
}

}  // namespace nettool::tls
