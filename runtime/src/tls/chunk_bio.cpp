#include "chunk_bio.h"

#include <algorithm>
#include <cstring>

#include "nettool/error.h"
#include "stream/endpoint_halves.h"
#include "tls_internal.h"

namespace nettool::tls {

namespace {

// Room for the four full records a 64 KiB write makes (16 KiB of plain text
// plus at most 256 bytes each), so one SSL_write goes out in one write(2).
constexpr size_t kRecordChunkSize = 4 * (16 * 1024 + 256);
// The most a record adds to its plain text (header, tag, padding), rounded up.
constexpr size_t kRecordOverhead = 256;
// Without a hint (handshake messages, alerts): a buffer of at least this much.
constexpr size_t kSmallChunk = 4096;

// The method table is immutable once made, like OpenSSL's own static ones, so
// it is made once and never freed.
const BIO_METHOD* chunk_method(int (*write_ex)(BIO*, const char*, size_t, size_t*),
                               int (*read_ex)(BIO*, char*, size_t, size_t*), long (*ctrl)(BIO*, int, long, void*)) {
  static BIO_METHOD* method = [&] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "nettool chunks");
    if (m) {
      BIO_meth_set_write_ex(m, write_ex);
      BIO_meth_set_read_ex(m, read_ex);
      BIO_meth_set_ctrl(m, ctrl);
    }
    return m;
  }();
  return method;
}

}  // namespace

ChunkBio::ChunkBio(bool copy_small_records) : copy_small_records_(copy_small_records), out_pool_(kRecordChunkSize) {
  const BIO_METHOD* method = chunk_method(&ChunkBio::write_ex, &ChunkBio::read_ex, &ChunkBio::ctrl);
  bio_ = method ? BIO_new(method) : nullptr;
  if (!bio_) throw RuntimeError("tls: cannot make a BIO: " + openssl_errors());
  BIO_set_data(bio_, this);
  BIO_set_init(bio_, 1);
}

ChunkBio::~ChunkBio() {
  BIO_set_data(bio_, nullptr);
  BIO_free(bio_);
}

void ChunkBio::receive(ChunkPtr chunk) {
  if (!chunk || chunk->size == 0) return;
  in_bytes_ += chunk->size;
  in_.push_back(std::move(chunk));
}

void ChunkBio::expect(size_t plain_bytes) {
  next_capacity_ = plain_bytes + (plain_bytes / (16 * 1024) + 1) * kRecordOverhead;
}

ChunkPtr ChunkBio::new_chunk(size_t len) {
  size_t want = std::exchange(next_capacity_, 0);
  if (want >= kRecordChunkSize / 2) return out_pool_.acquire();
  return std::make_shared<Chunk>(std::max({want, len, kSmallChunk}));
}

std::vector<ChunkPtr> ChunkBio::take_records() {
  if (out_ && out_->size > 0 && !copy_small_records_) {
    ready_.push_back(std::move(out_));
  } else if (out_ && out_->size > 0) {
    // A handshake message or a short write: copied out, so an idle
    // connection does not keep a record-sized buffer for a few bytes.
    const Chunk* pooled = out_.get();
    ChunkPtr chunk = right_size(std::move(out_));
    if (chunk.get() != pooled) out_pool_.trim();
    ready_.push_back(std::move(chunk));
  }
  out_.reset();
  next_capacity_ = 0;  // a hint is for one batch
  return std::exchange(ready_, {});
}

int ChunkBio::write_ex(BIO* b, const char* data, size_t len, size_t* written) {
  auto* self = static_cast<ChunkBio*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  if (!self) return 0;
  for (size_t done = 0; done < len;) {
    if (!self->out_ || self->out_->size == self->out_->capacity) {
      if (self->out_) self->ready_.push_back(std::move(self->out_));
      self->out_ = self->new_chunk(len - done);
    }
    Chunk& c = *self->out_;
    size_t n = std::min(len - done, c.capacity - c.size);
    std::memcpy(c.data.get() + c.size, data + done, n);
    c.size += n;
    done += n;
  }
  *written = len;
  self->written_bytes_ += len;
  return 1;
}

int ChunkBio::read_ex(BIO* b, char* out, size_t len, size_t* read) {
  auto* self = static_cast<ChunkBio*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  *read = 0;
  if (!self) return 0;
  while (*read < len && !self->in_.empty()) {
    const Chunk& c = *self->in_.front();
    size_t n = std::min(len - *read, c.size - self->in_offset_);
    std::memcpy(out + *read, c.data.get() + self->in_offset_, n);
    *read += n;
    self->in_offset_ += n;
    self->in_bytes_ -= n;
    if (self->in_offset_ == c.size) {
      self->in_.pop_front();
      self->in_offset_ = 0;
    }
  }
  if (*read > 0) return 1;
  BIO_set_retry_read(b);  // nothing yet: the next chunk from the socket will bring more
  return 0;
}

long ChunkBio::ctrl(BIO* b, int cmd, long, void*) {
  auto* self = static_cast<ChunkBio*>(BIO_get_data(b));
  if (!self) return 0;
  switch (cmd) {
    case BIO_CTRL_PENDING:
      return static_cast<long>(self->in_bytes_);
    case BIO_CTRL_WPENDING:
    {
      size_t n = self->out_ ? self->out_->size : 0;
      for (const ChunkPtr& c : self->ready_) n += c->size;
      return static_cast<long>(n);
    }
    case BIO_CTRL_FLUSH:
      return 1;
    default:
      return 0;
  }
}

}  // namespace nettool::tls
