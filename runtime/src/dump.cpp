// --hex-dump and --output: see nettool/dump.h.
#include "nettool/dump.h"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "nettool/error.h"
#include "nettool/plugin.h"

namespace nettool {

std::string hex_dump_lines(std::string_view bytes, uint64_t offset) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve((bytes.size() / 16 + 1) * 79);
  for (size_t line = 0; line < bytes.size(); line += 16) {
    char head[24];
    int n = std::snprintf(head, sizeof head, "%08llx  ", static_cast<unsigned long long>(offset + line));
    out.append(head, static_cast<size_t>(n));
    for (size_t i = 0; i < 16; ++i) {
      if (line + i < bytes.size()) {
        auto c = static_cast<unsigned char>(bytes[line + i]);
        out += kDigits[c >> 4];
        out += kDigits[c & 0xf];
        out += ' ';
      } else {
        out += "   ";
      }
      if (i == 7) out += ' ';  // hexdump -C's gap between the two halves
    }
    out += " |";
    for (size_t i = 0; i < 16 && line + i < bytes.size(); ++i) {
      auto c = static_cast<unsigned char>(bytes[line + i]);
      out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '.';
    }
    out += "|\n";
  }
  return out;
}

namespace {

// Created or truncated like a shell's `>`, but never through a symbolic link.
// A FIFO must already have its reader: waiting for one in open(2), before
// the loop runs, would not even let SIGINT end the wait.
UniqueFd create_file(const std::string& path, const char* option) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0644));
  if (!fd.valid()) {
    int err = errno;
    throw RuntimeError(std::string(option) + " " + path + ": " +
                       (err == ELOOP   ? "is a symbolic link, which is not followed"
                        : err == ENXIO ? "is a FIFO without a reader (start the reader first)"
                                       : std::strerror(err)));
  }
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
  return fd;
}

// "2026-12-05 22:10:01.123456", local time, as socat -v writes it.
std::string now_text() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  std::tm tm{};
  ::localtime_r(&ts.tv_sec, &tm);
  char text[40];
  size_t n = std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &tm);
  std::snprintf(text + n, sizeof text - n, ".%06ld", ts.tv_nsec / 1000);
  return text;
}

}  // namespace

TrafficTap::TrafficTap(Context& ctx, const std::string& hex_dump_path, const std::string& output_path) : ctx_(ctx) {
  if (hex_dump_path == "-") {
    dump_.raw = STDERR_FILENO;
    dump_.path = "stderr";
  } else if (!hex_dump_path.empty()) {
    dump_.fd = create_file(hex_dump_path, "--hex-dump");
    dump_.raw = dump_.fd.get();
    dump_.path = hex_dump_path;
  }
  if (!output_path.empty()) {
    output_.fd = create_file(output_path, "--output");
    output_.raw = output_.fd.get();
    output_.path = output_path;
  }
}

std::string TrafficTap::describe() const {
  std::string what;
  if (dump_.raw >= 0) what = "--hex-dump " + dump_.path;
  if (output_.raw >= 0) what += (what.empty() ? "" : ", ") + std::string("--output ") + output_.path;
  return what;
}

void TrafficTap::record(TrafficDirection direction, uint64_t conn, std::string_view peer, std::string_view bytes) {
  bool received = direction == TrafficDirection::Received;
  if (received && output_.raw >= 0) write_all(output_, bytes);
  if (dump_.raw < 0) return;
  uint64_t& offset = offsets_[{conn, direction}];
  std::string text = received ? "< " : "> ";
  text += now_text();
  if (conn != 0) text += " conn " + std::to_string(conn);
  text += ' ';
  text.append(peer);
  text += received ? " received " : " sent ";
  text += std::to_string(bytes.size()) + (bytes.size() == 1 ? " byte\n" : " bytes\n");
  text += hex_dump_lines(bytes, offset);
  offset += bytes.size();
  write_all(dump_, text);
}

void TrafficTap::forget(uint64_t conn) {
  offsets_.erase({conn, TrafficDirection::Sent});
  offsets_.erase({conn, TrafficDirection::Received});
}

// A blocking write, as socat's -v is: the dump is a debugging aid and a file
// or a terminal keeps up. A failure is reported once, makes the exit code 1
// (the dump is incomplete), and stops that file; the traffic goes on.
void TrafficTap::write_all(File& file, std::string_view bytes) {
  if (file.failed) return;
  while (!bytes.empty()) {
    ssize_t n = ::write(file.raw, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      // stderr can share a terminal's or pipe's file description with a
      // stdin/stdout that libuv made non-blocking: wait as a blocking write would.
      pollfd ready{file.raw, POLLOUT, 0};
      ::poll(&ready, 1, -1);
      continue;
    }
    if (n <= 0) {
      file.failed = true;
      ctx_.log().error("{}: write: {}; it is incomplete from here on", file.path,
                       n < 0 ? std::strerror(errno) : "nothing written");
      ctx_.set_exit_code(kExitRuntime);
      return;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace nettool
