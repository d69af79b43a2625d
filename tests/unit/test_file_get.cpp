// file-get's pure pieces: the default output name.
#include <catch2/catch.hpp>

#include "file_name.h"

using nettool::file_get::safe_file_name;
using namespace std::string_literals;

TEST_CASE("safe_file_name writes control characters as %XX and keeps everything else", "[file-get]") {
  CHECK(safe_file_name("report.txt") == "report.txt");
  CHECK(safe_file_name("a\nb") == "a%0Ab");
  CHECK(safe_file_name("\x1b[31mred\x07") == "%1B[31mred%07");
  CHECK(safe_file_name("del\x7f") == "del%7F");
  CHECK(safe_file_name("tab\there") == "tab%09here");
  CHECK(safe_file_name("nul\0x"s) == "nul%00x");
  // Spaces, quotes, UTF-8 and a literal percent sign are ordinary bytes of a name.
  CHECK(safe_file_name("a b 'c' \xc3\xa9 100%") == "a b 'c' \xc3\xa9 100%");
}
