#include "nettool/log.h"

#include <spdlog/details/null_mutex.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "nettool/loop_log.h"

namespace nettool {

namespace {

// Length of the well-formed UTF-8 sequence at the start of `s` (Unicode
// table 3-7: no overlong forms, no surrogates, nothing above U+10FFFF), or 0.
size_t utf8_sequence(std::string_view s, char32_t& code_point) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  unsigned char lead = byte(0);
  size_t length = 0;
  unsigned char low = 0x80, high = 0xbf;  // allowed range of the second byte
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead == 0xe0) low = 0xa0;
    if (lead == 0xed) high = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead == 0xf0) low = 0x90;
    if (lead == 0xf4) high = 0x8f;
  } else {
    return 0;
  }
  if (s.size() < length || byte(1) < low || byte(1) > high) return 0;
  code_point = lead & (0xff >> (length + 1));
  for (size_t i = 1; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xbf) return 0;
    code_point = (code_point << 6) | (byte(i) & 0x3f);
  }
  return length;
}

// Characters a terminal does not show but that change how it shows the text
// around them (Trojan Source, CVE-2021-42574): U+061C the Arabic letter mark,
// U+200B-U+200F zero-width spaces, joiners and direction marks, U+2028-U+202E
// line and paragraph separators, embeddings and overrides (U+202E RLO),
// U+2060-U+2069 the word joiner, invisible operators and the isolates,
// U+FEFF the zero-width no-break space (BOM).
bool is_invisible_format(char32_t code_point) {
  return code_point == 0x061c || (code_point >= 0x200b && code_point <= 0x200f) ||
         (code_point >= 0x2028 && code_point <= 0x202e) || (code_point >= 0x2060 && code_point <= 0x2069) ||
         code_point == 0xfeff;
}

}  // namespace

std::string escape_for_log(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  auto escape = [&](unsigned char c) {
    out += "\\x";
    out += kHex[c >> 4];
    out += kHex[c & 15];
  };
  for (size_t i = 0; i < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if (c == '\\') out += "\\\\";
      else if (c < 0x20 || c == 0x7f) escape(c);
      else out += static_cast<char>(c);
      ++i;
      continue;
    }
    char32_t code_point = 0;
    size_t length = utf8_sequence(text.substr(i), code_point);
    if (length == 0) {
      escape(c);  // not UTF-8: escape this byte, resynchronise on the next
      ++i;
    } else if (code_point <= 0x9f || is_invisible_format(code_point)) {
      // A C1 control or an invisible format character: its UTF-8 bytes, each
      // \xHH, as every other escape (readers of the access log parse only that).
      for (size_t j = 0; j < length; ++j) escape(static_cast<unsigned char>(text[i + j]));
      i += length;
    } else {
      out.append(text.substr(i, length));
      i += length;
    }
  }
  return out;
}

namespace {

std::string json_escape(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

// %j in a pattern: the message, escaped for a JSON string.
class JsonMessageFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    std::string escaped = json_escape(std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessageFlag>(); }
};

// The text format, "nettool NAME: LEVEL: message": what the pattern
// "nettool %n: %l: %v" makes, copied into the buffer in one piece instead of
// one virtual call per piece of the pattern, which were a third of the cost
// of file-serve's access-log line (bench/PROFILES.md).
class TextFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string_view parts[] = {"nettool ",
                                      {msg.logger_name.data(), msg.logger_name.size()},
                                      ": ",
                                      {spdlog::level::to_string_view(msg.level).data(),
                                       spdlog::level::to_string_view(msg.level).size()},
                                      ": ",
                                      {msg.payload.data(), msg.payload.size()},
                                      spdlog::details::os::default_eol};
    size_t at = dest.size(), total = 0;
    for (std::string_view part : parts) total += part.size();
    dest.resize(at + total);
    for (std::string_view part : parts) {
      if (part.empty()) continue;
      std::memcpy(dest.data() + at, part.data(), part.size());
      at += part.size();
    }
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<TextFormatter>(); }
};

// spdlog's stderr sink, which also lends its format to a LoopLog.
class StderrSink final : public spdlog::sinks::stderr_sink_mt {
 public:
  std::unique_ptr<spdlog::formatter> clone_formatter() {
    std::lock_guard lock(mutex_);
    return formatter_->clone();
  }
};

}  // namespace

std::shared_ptr<spdlog::logger> make_logger(std::string_view name, int verbosity, LogFormat format) {
  auto sink = std::make_shared<StderrSink>();
  auto logger = std::make_shared<spdlog::logger>(std::string(name), sink);
  if (format == LogFormat::Json) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<JsonMessageFlag>('j').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","logger":"%n","msg":"%j"})");
    logger->set_formatter(std::move(formatter));
  } else {
    logger->set_formatter(std::make_unique<TextFormatter>());
  }
  spdlog::level::level_enum level = spdlog::level::info;
  if (verbosity < 0) level = spdlog::level::err;
  if (verbosity == 1) level = spdlog::level::debug;
  if (verbosity >= 2) level = spdlog::level::trace;
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);
  return logger;
}

void warn_even_if_quiet(spdlog::logger& log, std::string_view text) {
  if (log.should_log(spdlog::level::warn)) {
    log.warn("{}", text);
    return;
  }
  // Past the logger's level check, which -q set to errors, but through its
  // sinks and their formatters, so the line looks like any other warning.
  spdlog::details::log_msg msg(log.name(), spdlog::level::warn, spdlog::string_view_t(text.data(), text.size()));
  for (const auto& sink : log.sinks()) {
    if (!sink->should_log(msg.level)) continue;
    sink->log(msg);
    sink->flush();
  }
}

std::string log_duration(std::chrono::steady_clock::duration d) {
  double s = std::chrono::duration<double>(d).count();
  return s < 10 ? fmt::format("{:.3f} s", s) : fmt::format("{:.1f} s", s);
}

// ---- LoopLog

// Formatted lines wait in `pending_` for the loop's prepare handle. Only the
// loop's thread uses it (null_mutex).
class LoopLog::Sink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 public:
  static constexpr size_t kWriteAt = 64 * 1024;

  explicit Sink(uv_prepare_t* prepare) : prepare_(prepare) {}
  // From then on every line is written at once.
  void detach() {
    write_pending();
    prepare_ = nullptr;
  }
  // In writes of whole lines, at most PIPE_BUF bytes each where lines allow:
  // a pipe (a service's stderr) keeps a write that small in one piece, so
  // the lines of other workers and threads never land inside one of ours.
  void write_pending() {
    const char* data = pending_.data();
    size_t size = pending_.size(), done = 0;
    while (done < size) {
      size_t end = std::min(size, done + PIPE_BUF);
      if (end < size) {
        std::string_view window(data + done, end - done);
        size_t last_newline = window.rfind('\n');
        if (last_newline != std::string_view::npos) {
          end = done + last_newline + 1;
        } else {  // one line longer than PIPE_BUF: it goes out whole
          const void* newline = std::memchr(data + end, '\n', size - end);
          end = newline ? static_cast<size_t>(static_cast<const char*>(newline) - data) + 1 : size;
        }
      }
      while (done < end) {
        ssize_t n = ::write(STDERR_FILENO, data + done, end - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {  // as spdlog's own sink: a log that cannot be written is dropped
          pending_.clear();
          return;
        }
        done += static_cast<size_t>(n);
      }
    }
    pending_.clear();
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    bool was_empty = pending_.size() == 0;
    formatter_->format(msg, pending_);
    if (!prepare_ || pending_.size() >= kWriteAt) write_pending();
    else if (was_empty) uv_prepare_start(prepare_, &LoopLog::on_prepare);
  }
  void flush_() override { write_pending(); }

 private:
  uv_prepare_t* prepare_;
  spdlog::memory_buf_t pending_;
};

LoopLog::LoopLog(uv_loop_t* loop, spdlog::logger& like) : logger_(&like) {
  auto* stderr_sink = like.sinks().size() == 1 ? dynamic_cast<StderrSink*>(like.sinks().front().get()) : nullptr;
  if (!stderr_sink || uv_prepare_init(loop, prepare_.get()) < 0) return;  // then lines go to `like`
  prepare_.mark_initialized(this);
  uv_unref(prepare_.as_handle());  // lines waiting never keep a loop running; close() writes them
  sink_ = std::make_shared<Sink>(prepare_.get());
  batched_ = std::make_shared<spdlog::logger>(like.name(), sink_);
  batched_->set_formatter(stderr_sink->clone_formatter());
  batched_->set_level(like.level());
  batched_->flush_on(spdlog::level::warn);
  logger_ = batched_.get();
}

LoopLog::~LoopLog() { close(); }

void LoopLog::close() {
  if (sink_) sink_->detach();
  prepare_.close();
}

void LoopLog::on_prepare(uv_prepare_t* handle) {
  auto* self = static_cast<LoopLog*>(handle->data);
  uv_prepare_stop(handle);
  if (self) self->sink_->write_pending();
}

}  // namespace nettool
