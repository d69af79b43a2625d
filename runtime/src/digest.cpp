#include "nettool/digest.h"

#include <cstring>

#include "digest_provider.h"
#include "sibling_library.h"

namespace nettool {

namespace {

// Loaded once, by the first hash of the process (from any thread: a static's
// initialisation is thread-safe, and one that throws is tried again next time).
const DigestProvider& digest_provider() {
  static const DigestProvider& provider =
      sibling_provider<DigestProvider>("digest", "nettool_digest_provider", "SHA-256");
  return provider;
}

}  // namespace

struct Sha256::Ctx {
  const DigestProvider& sha;
  alignas(16) unsigned char state[kSha256StateBytes];
};

Sha256::Sha256() : ctx_(std::make_unique<Ctx>(Ctx{digest_provider(), {}})) { ctx_->sha.init(ctx_->state); }
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(const void* data, size_t size) {
  if (size) ctx_->sha.update(ctx_->state, data, size);
}

std::array<uint8_t, 32> Sha256::finish() {
  std::array<uint8_t, 32> out{};
  ctx_->sha.finish(ctx_->state, out.data());
  ctx_->sha.init(ctx_->state);
  return out;
}

std::string to_hex(const uint8_t* data, size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    out += kHex[data[i] >> 4];
    out += kHex[data[i] & 15];
  }
  return out;
}

std::string base64_encode(const uint8_t* data, size_t size) {
  static constexpr char kTable[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  for (size_t i = 0; i < size; i += 3) {
    uint32_t v = static_cast<uint32_t>(data[i]) << 16;
    if (i + 1 < size) v |= static_cast<uint32_t>(data[i + 1]) << 8;
    if (i + 2 < size) v |= data[i + 2];
    out += kTable[(v >> 18) & 63];
    out += kTable[(v >> 12) & 63];
    out += i + 1 < size ? kTable[(v >> 6) & 63] : '=';
    out += i + 2 < size ? kTable[v & 63] : '=';
  }
  return out;
}

bool base64_decode(std::string_view text, std::string& out) {
  out.clear();
  uint32_t acc = 0;
  int bits = 0;
  size_t pad = 0;
  size_t chars = 0;  // alphabet characters, padding excluded
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+') v = 62;
    else if (c == '/') v = 63;
    else if (c == '=') {
      ++pad;
      continue;
    } else return false;
    if (pad) return false;  // data after padding
    ++chars;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  // A lone character in the last quantum holds no whole byte; padding, when
  // present, must complete the quantum (unpadded input is accepted).
  if (chars % 4 == 1) return false;
  return pad == 0 || (pad <= 2 && (chars + pad) % 4 == 0);
}

std::string repr_digest_value(const std::array<uint8_t, 32>& sha256) {
  return "sha-256=:" + base64_encode(sha256.data(), sha256.size()) + ":";
}

namespace {

// Splits an RFC 8941 dictionary into its members at the commas that are not
// inside a quoted string (another algorithm's value may hold one), trimmed.
template <typename Fn>
void for_each_dictionary_member(std::string_view field, Fn fn) {
  size_t start = 0;
  bool quoted = false;
  for (size_t i = 0; i <= field.size(); ++i) {
    if (i < field.size()) {
      char c = field[i];
      if (quoted && c == '\\') {
        ++i;  // an escaped character, even a quote
        continue;
      }
      if (c == '"') quoted = !quoted;
      if (quoted || c != ',') continue;
    }
    std::string_view member = field.substr(start, i - start);
    while (!member.empty() && (member.front() == ' ' || member.front() == '\t')) member.remove_prefix(1);
    while (!member.empty() && (member.back() == ' ' || member.back() == '\t')) member.remove_suffix(1);
    fn(member);
    start = i + 1;
  }
}

}  // namespace

DigestField parse_repr_digest_sha256(std::string_view field, std::array<uint8_t, 32>& out) {
  // A dictionary: "sha-256=:...:, sha-512=:...:". Keys are lowercase (RFC
  // 8941), a member's parameters (";...") say nothing about its value, and
  // when a key comes twice the last one counts.
  DigestField found = DigestField::Absent;
  for_each_dictionary_member(field, [&](std::string_view member) {
    size_t key_end = member.find_first_of("=;");
    if (member.substr(0, key_end) != "sha-256") return;
    // "sha-256" alone (the boolean true) or with parameters only: no bytes.
    std::string_view value = key_end != std::string_view::npos && member[key_end] == '=' ? member.substr(key_end + 1) : "";
    if (size_t params = value.find(';'); params != std::string_view::npos) value = value.substr(0, params);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    std::string raw;
    if (value.size() < 2 || value.front() != ':' || value.back() != ':' ||
        !base64_decode(value.substr(1, value.size() - 2), raw) || raw.size() != 32) {
      found = DigestField::Malformed;
      return;
    }
    std::memcpy(out.data(), raw.data(), 32);
    found = DigestField::Found;
  });
  return found;
}

}  // namespace nettool
