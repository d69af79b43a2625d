// The pieces of a response head that every file GET makes, on the stack:
// per-request heap allocations and std::string appends were a good part of
// a small-file GET's instructions in profiles (bench/PROFILES.md).
#pragma once
#include <sys/stat.h>

#include <charconv>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <string_view>

#include "connection.h"
#include "nettool/http.h"

namespace file_serve {

// Text of at most N bytes. What does not fit is dropped and overflowed()
// says so: the parts of a file's head are short and bounded, so a caller
// refuses the response rather than send a head cut short.
template <size_t N>
class StackText {
 public:
  StackText& operator+=(std::string_view text) {
    if (text.size() > N - size_) {
      overflowed_ = true;
      return *this;
    }
    std::memcpy(buf_ + size_, text.data(), text.size());
    size_ += text.size();
    return *this;
  }
  template <int Base = 10>
  StackText& append_number(uint64_t n) {
    static_assert(Base == 10 || Base == 16, "digits[] holds a 64-bit number in base 10 or 16");
    char digits[20];
    return *this += std::string_view(digits, static_cast<size_t>(std::to_chars(digits, digits + sizeof digits, n, Base).ptr - digits));
  }
  std::string_view view() const { return {buf_, size_}; }
  bool overflowed() const { return overflowed_; }

 private:
  char buf_[N];
  size_t size_ = 0;
  bool overflowed_ = false;
};

// The strong ETag of a file's version: "INODE-SIZE-MTIME_NS" in hex.
inline StackText<64> etag_of(const struct stat& st) {
  StackText<64> etag;
  etag += "\"";
  etag.append_number<16>(static_cast<uint64_t>(st.st_ino));
  etag += "-";
  etag.append_number<16>(static_cast<uint64_t>(st.st_size));
  etag += "-";
  etag.append_number<16>(static_cast<uint64_t>(st.st_mtim.tv_sec) * 1000000000ull + static_cast<uint64_t>(st.st_mtim.tv_nsec));
  etag += "\"";
  return etag;
}

// A file's head, up to the end of its fields: type, validators, lengths and
// a Repr-Digest are far shorter than this.
using HeadText = StackText<1024>;

// "HTTP/1.1 <status> <reason>", Server and Date: how every head starts.
inline void start_head(HeadText& head, ServerShared& shared, int status) {
  head += "HTTP/1.1 ";
  head.append_number(static_cast<uint64_t>(status));
  head += " ";
  head += nettool::http::reason_phrase(status);
  head += "\r\nServer: nettool\r\nDate: ";
  head += shared.date.of(std::time(nullptr));
  head += "\r\n";
}

}  // namespace file_serve
