// escape_for_log (log.h) and make_crlf_transform (stream.h).
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "nettool/log.h"
#include "nettool/stream.h"

using namespace nettool;
using namespace std::string_literals;

namespace {

std::string text_of(const ChunkPtr& chunk) {
  REQUIRE(chunk);
  return std::string(chunk->data.get(), chunk->size);
}

// One chunk through a fresh transform.
std::string crlf(const std::string& in) { return text_of(make_crlf_transform()(make_chunk(in))); }

// `in` cut into the given pieces, all through one transform.
std::string crlf_pieces(const std::vector<std::string>& pieces) {
  auto transform = make_crlf_transform();
  std::string out;
  for (const auto& piece : pieces) out += text_of(transform(make_chunk(piece)));
  return out;
}

}  // namespace

TEST_CASE("escape_for_log leaves printable text alone", "[text][log]") {
  CHECK(escape_for_log("") == "");
  CHECK(escape_for_log("hello, world: /srv/a b.txt ~!@#$%^&*()") == "hello, world: /srv/a b.txt ~!@#$%^&*()");
  // Valid UTF-8 is printable text too.
  CHECK(escape_for_log("gr\xc3\xbc\xc3\x9f dich \xe2\x82\xac \xf0\x9f\x98\x80") ==
        "gr\xc3\xbc\xc3\x9f dich \xe2\x82\xac \xf0\x9f\x98\x80");
}

TEST_CASE("escape_for_log escapes control characters", "[text][log]") {
  CHECK(escape_for_log("a\nb") == "a\\x0ab");
  CHECK(escape_for_log("line\r\nforged: ok") == "line\\x0d\\x0aforged: ok");
  CHECK(escape_for_log("\x1b[31mred\x1b[0m") == "\\x1b[31mred\\x1b[0m");
  CHECK(escape_for_log("tab\there") == "tab\\x09here");
  CHECK(escape_for_log("nul\0byte"s) == "nul\\x00byte");
  CHECK(escape_for_log("del\x7f") == "del\\x7f");
  CHECK(escape_for_log("\x01\x1f") == "\\x01\\x1f");
  // The backslash itself is escaped, so an escaped text cannot be mistaken for another.
  CHECK(escape_for_log("\\x0a") == "\\\\x0a");
  for (int c = 0; c < 0x20; ++c) {
    std::string out = escape_for_log(std::string(1, static_cast<char>(c)));
    INFO("byte " << c);
    CHECK(out.size() == 4);
    CHECK(out.find_first_of("\r\n\x1b") == std::string::npos);
  }
}

TEST_CASE("escape_for_log escapes bytes that are not UTF-8 and C1 controls", "[text][log]") {
  CHECK(escape_for_log("\xff") == "\\xff");
  CHECK(escape_for_log("a\x80z") == "a\\x80z");          // lone continuation byte
  CHECK(escape_for_log("a\xc3") == "a\\xc3");            // truncated sequence at the end
  CHECK(escape_for_log("\xc3(") == "\\xc3(");            // lead byte without continuation
  CHECK(escape_for_log("\xc0\xaf") == "\\xc0\\xaf");     // overlong '/'
  CHECK(escape_for_log("\xed\xa0\x80") == "\\xed\\xa0\\x80");  // UTF-16 surrogate
  CHECK(escape_for_log("\xf4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
  // A raw 8-bit CSI and its UTF-8 encoding (U+009B) both start terminal escapes.
  CHECK(escape_for_log("\x9b" "31m") == "\\x9b31m");
  CHECK(escape_for_log("\xc2\x9b" "31m") == "\\xc2\\x9b31m");
  CHECK(escape_for_log("\xe2\x82") == "\\xe2\\x82");      // truncated 3-byte sequence
  CHECK(escape_for_log("\xc2\xa0") == "\xc2\xa0");          // U+00A0 is the first non-control
  // A valid character right after an invalid byte survives.
  CHECK(escape_for_log("\xff\xc3\xa9") == "\\xff\xc3\xa9");
}

namespace {

// The UTF-8 encoding of a code point from U+0080 to U+FFFF (two or three bytes).
std::string utf8(char32_t code_point) {
  if (code_point < 0x800)
    return {static_cast<char>(0xc0 | (code_point >> 6)), static_cast<char>(0x80 | (code_point & 0x3f))};
  return {static_cast<char>(0xe0 | (code_point >> 12)), static_cast<char>(0x80 | ((code_point >> 6) & 0x3f)),
          static_cast<char>(0x80 | (code_point & 0x3f))};
}

// What escape_for_log makes of each byte of `bytes`: \xHH.
std::string hex_escaped(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) out += std::string("\\x") + kHex[c >> 4] + kHex[c & 15];
  return out;
}

}  // namespace

TEST_CASE("escape_for_log escapes bidi and zero-width characters and keeps their neighbours", "[text][log]") {
  // Trojan Source: U+202E (right-to-left override) makes a terminal show "txt.exe" as "exe.txt".
  CHECK(escape_for_log("a\xe2\x80\xaetxt.exe") == "a\\xe2\\x80\\xaetxt.exe");
  // Each range's first and last code point is escaped, the code points just outside are not.
  const std::vector<std::pair<char32_t, char32_t>> ranges{
      {0x061c, 0x061c}, {0x200b, 0x200f}, {0x2028, 0x202e}, {0x2060, 0x2069}, {0xfeff, 0xfeff}};
  for (auto [first, last] : ranges) {
    for (char32_t inside : {first, last}) {
      INFO("U+" << std::hex << static_cast<uint32_t>(inside));
      CHECK(escape_for_log("<" + utf8(inside) + ">") == "<" + hex_escaped(utf8(inside)) + ">");
    }
    for (char32_t outside : {first - 1, last + 1}) {
      INFO("U+" << std::hex << static_cast<uint32_t>(outside));
      CHECK(escape_for_log("<" + utf8(outside) + ">") == "<" + utf8(outside) + ">");
    }
  }
  // Ordinary UTF-8 passes through: é, 日本, NBSP, the euro sign.
  CHECK(escape_for_log("caf\xc3\xa9") == "caf\xc3\xa9");
  CHECK(escape_for_log("\xe6\x97\xa5\xe6\x9c\xac") == "\xe6\x97\xa5\xe6\x9c\xac");
  CHECK(escape_for_log("\xc2\xa0\xe2\x82\xac") == "\xc2\xa0\xe2\x82\xac");
}

TEST_CASE("crlf transform turns bare LF into CRLF and leaves CRLF alone", "[text][stream]") {
  CHECK(crlf("a\nb\r\n") == "a\r\nb\r\n");
  CHECK(crlf("") == "");
  CHECK(crlf("no newline") == "no newline");
  CHECK(crlf("\n") == "\r\n");
  CHECK(crlf("\n\n") == "\r\n\r\n");
  CHECK(crlf("\r\n\r\n") == "\r\n\r\n");
  CHECK(crlf("a\r\rb\n") == "a\r\rb\r\n");
  CHECK(crlf("lone\rcr") == "lone\rcr");
  CHECK(crlf("bin\0\n\xff\n"s) == "bin\0\r\n\xff\r\n"s);

  // Long input (bigger than any initial reservation) converts every line.
  std::string in, expected;
  for (int i = 0; i < 10000; ++i) {
    in += "line " + std::to_string(i) + "\n";
    expected += "line " + std::to_string(i) + "\r\n";
  }
  CHECK(crlf(in) == expected);
}

TEST_CASE("crlf transform: a CRLF split across chunks is not doubled", "[text][stream]") {
  CHECK(crlf_pieces({"line\r", "\nnext\n"}) == "line\r\nnext\r\n");
  CHECK(crlf_pieces({"\r", "\n"}) == "\r\n");
  CHECK(crlf_pieces({"a\r", "", "\n"}) == "a\r\n");  // an empty chunk keeps the state
  CHECK(crlf_pieces({"a\r", "b", "\n"}) == "a\rb\r\n");  // the CR was not right before the LF
  CHECK(crlf_pieces({"a\n", "\n"}) == "a\r\n\r\n");
  CHECK(crlf_pieces({"a", "\n"}) == "a\r\n");
  CHECK(crlf_pieces({"a\r\r", "\n\n"}) == "a\r\r\n\r\n");

  // Any split of a text gives the same output as the whole text in one chunk.
  const std::string text = "one\r\ntwo\nthree\r\r\n\n\rfour\r\n";
  const std::string expected = crlf(text);
  CHECK(expected == "one\r\ntwo\r\nthree\r\r\n\r\n\rfour\r\n");
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    INFO("cut at " << cut);
    CHECK(crlf_pieces({text.substr(0, cut), text.substr(cut)}) == expected);
  }
  std::vector<std::string> bytes;
  for (char c : text) bytes.emplace_back(1, c);
  CHECK(crlf_pieces(bytes) == expected);
}

TEST_CASE("crlf transform: each transform has its own state", "[text][stream]") {
  auto first = make_crlf_transform();
  auto second = make_crlf_transform();
  CHECK(text_of(first(make_chunk("a\r"))) == "a\r");
  // `second` never saw the CR, so its LF is bare.
  CHECK(text_of(second(make_chunk("\n"))) == "\r\n");
  CHECK(text_of(first(make_chunk("\n"))) == "\n");
}

TEST_CASE("crlf transform passes chunks without a bare LF through untouched", "[text][stream]") {
  auto transform = make_crlf_transform();
  auto chunk = make_chunk("no newline\r\n here");
  CHECK(transform(chunk) == chunk);  // no copy
  auto with_lf = make_chunk("x\n");
  auto out = transform(with_lf);
  CHECK(out != with_lf);
  CHECK(text_of(out) == "x\r\n");
  CHECK(text_of(with_lf) == "x\n");  // the source chunk is not modified
}
