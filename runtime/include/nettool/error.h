// Errors that carry their exit code: ConfigError -> 2 (bad usage or profile),
// RuntimeError -> 1 (network or I/O failure). Messages say what failed, on
// which address or file, and the OS reason.
#pragma once
#include <stdexcept>
#include <string>

namespace nettool {

enum ExitCode : int { kExitOk = 0, kExitRuntime = 1, kExitUsage = 2 };

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class RuntimeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "what: libuv's text for status" — for messages built from a libuv status code.
std::string uv_message(const std::string& what, int status);

}  // namespace nettool
