// Logging setup shared by the front end and plugins: spdlog, stderr only.
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace spdlog {
class logger;
}

namespace nettool {

enum class LogFormat { Text, Json };

// verbosity: -1 for -q, 0 default, 1 for -v, 2 for -vv.
std::shared_ptr<spdlog::logger> make_logger(std::string_view name, int verbosity, LogFormat format);
// A warning -q does not hide (-q keeps errors only): for what must be said on
// every run, such as --tls-no-verify's. Written as a warning, in the
// logger's format, to its sinks.
void warn_even_if_quiet(spdlog::logger& log, std::string_view text);
// Escapes control characters (C0, DEL, C1), invisible format characters that
// reorder or hide text (bidi overrides and isolates, zero-width characters,
// U+2028/U+2029, BOM) and non-UTF-8 bytes, each byte as \xHH, so untrusted
// text (paths, names from the network) cannot forge log lines, send terminal
// escapes or change what a terminal shows around it.
std::string escape_for_log(std::string_view text);
// A duration as log lines write it: "1.234 s" under ten seconds, "12.3 s" above.
std::string log_duration(std::chrono::steady_clock::duration d);

}  // namespace nettool
