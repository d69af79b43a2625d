// ChunkBio: the BIO a TlsEndpoint's SSL reads cipher text from and writes
// records to, holding our Chunks themselves. OpenSSL's memory BIOs would copy
// every byte once more each way (a received chunk into the BIO, the records
// out of it into a new chunk); here a received chunk is queued as it is, and
// records are written straight into the chunk that goes to the socket.
#pragma once
#include <openssl/bio.h>

#include <vector>

#include "nettool/stream.h"

namespace nettool::tls {

// A FIFO of chunks that allocates nothing while empty: std::deque allocates
// a map and a 512-byte block up front, which 1,000 idle TLS connections
// paid for twice each.
class ChunkFifo {
 public:
  bool empty() const { return head_ == items_.size(); }
  size_t size() const { return items_.size() - head_; }
  ChunkPtr& front() { return items_[head_]; }
  ChunkPtr& operator[](size_t i) { return items_[head_ + i]; }
  void push_back(ChunkPtr chunk) { items_.push_back(std::move(chunk)); }
  void pop_front() {
    items_[head_++].reset();
    if (head_ == items_.size()) {
      items_.clear();
      head_ = 0;
    } else if (head_ >= 32 && head_ * 2 >= items_.size()) {  // never emptied: drop the spent front
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }

 private:
  std::vector<ChunkPtr> items_;
  size_t head_ = 0;
};

class ChunkBio {
 public:
  // `copy_small_records`: take_records() copies a few bytes out of a
  // record-sized buffer (for records that wait in a queue); a TlsSocket sends
  // them at once and need not.
  explicit ChunkBio(bool copy_small_records = true);
  ~ChunkBio();
  ChunkBio(const ChunkBio&) = delete;
  ChunkBio& operator=(const ChunkBio&) = delete;

  // The BIO to give SSL_set_bio (for both directions); it lives as long as
  // this object, which the SSL object must not outlive.
  BIO* bio() const { return bio_; }

  // Cipher text that arrived: SSL_read takes it from here.
  void receive(ChunkPtr chunk);
  size_t received_bytes() const { return in_bytes_; }

  // The plain text about to go through SSL_write, so the chunk its records
  // go into fits them: a small response gets a small buffer of its own, a
  // 64 KiB write a pooled record-sized one.
  void expect(size_t plain_bytes);
  // The records OpenSSL wrote since the last call, in order.
  std::vector<ChunkPtr> take_records();
  // Frees the record buffers no one holds any more (an idle connection).
  void release_idle_buffers() { out_pool_.trim(); }
  // Every byte OpenSSL has written so far: whether a call wrote anything.
  uint64_t written_bytes() const { return written_bytes_; }

 private:
  static int write_ex(BIO* b, const char* data, size_t len, size_t* written);
  static int read_ex(BIO* b, char* out, size_t len, size_t* read);
  static long ctrl(BIO* b, int cmd, long num, void* ptr);

  BIO* bio_ = nullptr;  // owned; SSL_set_bio takes a reference of its own
  bool copy_small_records_;
  ChunkFifo in_;
  size_t in_offset_ = 0;  // bytes of in_.front() already read
  size_t in_bytes_ = 0;
  ChunkPtr new_chunk(size_t len);

  ChunkPool out_pool_;
  size_t next_capacity_ = 0;  // from expect(), for the next chunk (0: no hint)
  ChunkPtr out_;  // being filled with records
  std::vector<ChunkPtr> ready_;
  uint64_t written_bytes_ = 0;
};

}  // namespace nettool::tls
