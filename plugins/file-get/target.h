// What file-get fetches and where it saves it by default, worked out from the
// command line and the profile (URL | HOST PORT NAME, --url, --raw). Pure
// functions, no I/O: unit-tested on their own (tests/unit/test_file_get.cpp).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "nettool/http.h"

namespace nettool::file_get {

// The values of the host, port, name and url options, each with where it came from.
struct TargetOptions {
  struct Value {
    std::string text;
    bool from_command_line = false;
  };
  std::optional<Value> host, port, name, url;
  bool raw = false;  // --raw: the bare-name protocol
  // -O or -s given on the command line. Both are curl's and take no value,
  // so a word typed after one as its value by another habit (wget's -O FILE,
  // nc's -s ADDR) is read as an argument; the usage message then says so.
  bool remote_name_letter = false;
  bool silent_letter = false;
};

struct Target {
  bool raw = false;
  http::Url url;             // HTTP: what to GET
  std::string raw_host;      // --raw: HOST PORT NAME as given
  uint16_t raw_port = 0;
  std::string raw_name;
  std::string default_name;  // the last segment, made safe (may be empty, ".", ".."): -o's default
};

// Positionals fill the *last* slots when fewer are given (the runtime's rule
// for leading optional ones), so a lone URL arrives in `name` and HOST PORT
// NAME fill all three. Throws ConfigError with what to type instead.
Target resolve_target(const TargetOptions& options);

// What messages name: the URL, or [host]:port 'name' (raw); escaped for a log line.
std::string describe(const Target& target);

// Control characters (below 0x20, and DEL) become "%XX", as wget writes them
// (--restrict-file-names=unix); every other byte is kept. For the default
// output name: a URL's last segment may decode to a newline, ESC or BEL,
// which would break a terminal or a script that lists the directory.
std::string safe_file_name(std::string_view decoded);

}  // namespace nettool::file_get
