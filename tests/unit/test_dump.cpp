// hex_dump_lines (nettool/dump.h): the lines --hex-dump and udp-listen --hex
// write are hexdump -C's, with the offset column counting from where a chunk
// begins in its stream. The expected lines are hexdump -C's own output.
#include <catch2/catch.hpp>
#include <string>

#include "nettool/dump.h"

using namespace nettool;
using namespace std::string_literals;

TEST_CASE("hex_dump_lines: sixteen bytes are one line, split in two halves, as hexdump -C prints them", "[dump]") {
  CHECK(hex_dump_lines("0123456789abcdef", 0) ==
        "00000000  30 31 32 33 34 35 36 37  38 39 61 62 63 64 65 66  |0123456789abcdef|\n");
}

TEST_CASE("hex_dump_lines: a short last line is padded and shows unprintable bytes as dots", "[dump]") {
  CHECK(hex_dump_lines("\x00\x7f\x80 ~"s, 0) ==
        "00000000  00 7f 80 20 7e                                    |... ~|\n");
  CHECK(hex_dump_lines("0123456789abcdefXY", 0) ==
        "00000000  30 31 32 33 34 35 36 37  38 39 61 62 63 64 65 66  |0123456789abcdef|\n"
        "00000010  58 59                                             |XY|\n");
}

TEST_CASE("hex_dump_lines: the offset column starts where the chunk starts in its stream", "[dump]") {
  CHECK(hex_dump_lines("ab", 0x1234567890ull) == "1234567890  61 62                                             |ab|\n");
  CHECK(hex_dump_lines("", 5).empty());
}
