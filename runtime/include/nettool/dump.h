// Traffic dumps: --hex-dump FILE and --output FILE (kTapOptions in
// option_groups.h). A TrafficTap is shown every chunk a session sends and
// receives: it writes them as `hexdump -C` lines, each chunk under a header
// with its direction, time, connection and peer, and writes the received
// bytes themselves to the output file. A tap only watches; the bytes that
// move are the same (the relay copies instead of splicing while a tap is on,
// since a spliced byte never passes through nettool to be seen).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "nettool/fd.h"
#include "nettool/stream.h"

namespace nettool {

class Context;

// `hexdump -C` lines for `bytes`, the offset column counting from `offset`:
//   00000010  68 65 6c 6c 6f 0a                                 |hello.|
std::string hex_dump_lines(std::string_view bytes, uint64_t offset);

enum class TrafficDirection { Sent, Received };

class TrafficTap {
 public:
  // Either path may be empty (not wanted); a hex dump to "-" goes to stderr.
  // Throws RuntimeError naming the file when one cannot be created. A
  // symbolic link is not followed.
  TrafficTap(Context& ctx, const std::string& hex_dump_path, const std::string& output_path);

  // One chunk that moved. `conn` is a server's connection number (0 for a
  // client's one session); `peer` the other end, for the header. Offsets run
  // on per connection and direction.
  void record(TrafficDirection direction, uint64_t conn, std::string_view peer, std::string_view bytes);
  // A connection has ended: its offsets are not needed any more.
  void forget(uint64_t conn);
  // What -v says about it, e.g. "--hex-dump dump.txt".
  std::string describe() const;

 private:
  struct File {
    UniqueFd fd;  // not set for stderr
    int raw = -1;
    std::string path;
    bool failed = false;
  };
  void write_all(File& file, std::string_view bytes);

  Context& ctx_;
  File dump_;
  File output_;
  std::map<std::pair<uint64_t, TrafficDirection>, uint64_t> offsets_;
};

// `inner` with every chunk read from it or written to it shown to `tap` as
// connection `conn`; otherwise `inner` as it is.
std::unique_ptr<Endpoint> make_tap_endpoint(std::unique_ptr<Endpoint> inner, std::shared_ptr<TrafficTap> tap,
                                            uint64_t conn);

}  // namespace nettool
