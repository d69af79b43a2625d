// The option schema at work: value parsers, the command line, the schema's
// own checks and --help. Longer than 500 lines because these are one
// pipeline (text -> typed value -> checked set) that reads best in order.
#include "nettool/options.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <charconv>
#include <sstream>

#include "nettool/error.h"

namespace nettool {

namespace {

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// "<digits>[.<digits>]" before a unit, kept as decimal digits: a double
// would turn 9007199254740993 into ...992 and 1.001kB into a fraction of a byte.
struct DecimalNumber {
  std::string_view whole;     // digits before the point (may be empty: ".5")
  std::string_view fraction;  // digits after it
};

// Splits "<number><unit>"; false when there is no number, or a malformed one.
bool split_number(std::string_view text, DecimalNumber& number, std::string_view& unit) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  number.whole = text.substr(0, i);
  number.fraction = {};
  if (i < text.size() && text[i] == '.') {
    size_t start = ++i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    number.fraction = text.substr(start, i - start);
  }
  if (number.whole.empty() && number.fraction.empty()) return false;
  unit = trim(text.substr(i));
  return true;
}

// `number` times `factor`, exactly, as a whole number: nullopt when it is not
// one (what is left is `*remainder`, in parts of 10^fraction digits), or when
// it is larger than `limit` (`*too_large` set).
std::optional<uint64_t> scale(const DecimalNumber& number, uint64_t factor, uint64_t limit, bool* too_large) {
  using Wide = unsigned __int128;
  *too_large = false;
  Wide whole = 0;
  for (char c : number.whole) {
    whole = whole * 10 + static_cast<unsigned>(c - '0');
    if (whole > limit) {
      *too_large = true;
      return std::nullopt;
    }
  }
  Wide value = whole * factor;
  // Trailing zeros of the fraction say nothing ("1.50s").
  std::string_view fraction = number.fraction;
  while (!fraction.empty() && fraction.back() == '0') fraction.remove_suffix(1);
  if (fraction.size() > 18) return std::nullopt;  // finer than any unit here divides into
  Wide digits = 0, denominator = 1;
  for (char c : fraction) {
    digits = digits * 10 + static_cast<unsigned>(c - '0');
    denominator *= 10;
  }
  Wide scaled = digits * factor;
  if (scaled % denominator != 0) return std::nullopt;
  value += scaled / denominator;
  if (value > limit) {
    *too_large = true;
    return std::nullopt;
  }
  return static_cast<uint64_t>(value);
}

}  // namespace

std::string_view type_name(OptionType type) {
  switch (type) {
    case OptionType::String: return "string";
    case OptionType::Int: return "integer";
    case OptionType::Port: return "port";
    case OptionType::PortList: return "port, port range or list of them";
    case OptionType::Bool: return "boolean";
    case OptionType::Duration: return "duration";
    case OptionType::Size: return "size";
    case OptionType::AddressList: return "address list";
    case OptionType::Path: return "path";
    case OptionType::StringList: return "string list";
  }
  return "value";
}

std::string_view default_value_name(OptionType type) {
  switch (type) {
    case OptionType::String: return "TEXT";
    case OptionType::Int: return "N";
    case OptionType::Port: return "PORT";
    case OptionType::PortList: return "PORT[-PORT][,...]";
    case OptionType::Bool: return "";
    case OptionType::Duration: return "DURATION";
    case OptionType::Size: return "SIZE";
    case OptionType::AddressList: return "CIDR[,CIDR...]";
    case OptionType::Path: return "PATH";
    case OptionType::StringList: return "TEXT";
  }
  return "VALUE";
}

std::string_view display_value_name(const OptionSpec& spec) {
  if (!spec.value_name.empty()) return spec.value_name;
  if (!spec.choices.empty()) return spec.choices;
  return default_value_name(spec.type);
}

bool is_list(OptionType type) { return type == OptionType::AddressList || type == OptionType::StringList; }

Duration parse_duration(std::string_view text) {
  text = trim(text);
  DecimalNumber number;
  std::string_view unit;
  if (!split_number(text, number, unit))
    throw ConfigError("invalid duration " + quoted(text) + " (expected e.g. 250ms, 30s, 5m, 1h)");
  uint64_t factor = 0;
  std::string u = lower(unit);
  if (u.empty() || u == "s" || u == "sec") factor = 1000;
  else if (u == "ms") factor = 1;
  else if (u == "m" || u == "min") factor = 60'000;
  else if (u == "h") factor = 3'600'000;
  else throw ConfigError("invalid duration " + quoted(text) + ": unknown unit " + quoted(unit) + " (use ms, s, m or h)");
  bool too_large = false;
  std::optional<uint64_t> ms = scale(number, factor, 1'000'000'000'000, &too_large);
  if (too_large) throw ConfigError("duration " + quoted(text) + " is too long");
  // Timers count whole milliseconds: 0.4ms would be 0, no wait at all.
  if (!ms) throw ConfigError("duration " + quoted(text) + " is not a whole number of milliseconds");
  return Duration(static_cast<int64_t>(*ms));
}

uint64_t parse_size(std::string_view text) {
  text = trim(text);
  DecimalNumber number;
  std::string_view unit;
  if (!split_number(text, number, unit))
    throw ConfigError("invalid size " + quoted(text) + " (expected e.g. 512, 64KiB, 1MiB, 2GB)");
  std::string u = lower(unit);
  uint64_t factor = 0;
  if (u.empty() || u == "b") factor = 1;
  else if (u == "k" || u == "kb") factor = 1'000;
  else if (u == "kib") factor = uint64_t{1} << 10;
  else if (u == "m" || u == "mb") factor = 1'000'000;
  else if (u == "mib") factor = uint64_t{1} << 20;
  else if (u == "g" || u == "gb") factor = 1'000'000'000;
  else if (u == "gib") factor = uint64_t{1} << 30;
  else if (u == "t" || u == "tb") factor = 1'000'000'000'000;
  else if (u == "tib") factor = uint64_t{1} << 40;
  else throw ConfigError("invalid size " + quoted(text) + ": unknown unit " + quoted(unit) + " (use B, KiB, MiB, GiB, kB, MB, GB)");
  bool too_large = false;
  std::optional<uint64_t> bytes = scale(number, factor, UINT64_MAX, &too_large);
  if (too_large) throw ConfigError("size " + quoted(text) + " is too large");
  if (!bytes) throw ConfigError("size " + quoted(text) + " is not a whole number of bytes");
  return *bytes;
}

int64_t parse_int(std::string_view text) {
  text = trim(text);
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size())
    throw ConfigError("invalid integer " + quoted(text));
  return value;
}

namespace {

// `name`'s port in /etc/services (through NSS, as nc's getservbyname), for
// `protocol`. getservbyname_r: the reentrant one, no static buffer shared.
uint16_t service_port(std::string_view name, std::string_view protocol) {
  const std::string word(name), proto(protocol);
  servent entry{};
  servent* found = nullptr;
  char buffer[1024];
  if (word.find('\0') == std::string::npos &&
      getservbyname_r(word.c_str(), proto.c_str(), &entry, buffer, sizeof buffer, &found) == 0 && found)
    return ntohs(static_cast<uint16_t>(found->s_port));
  throw ConfigError("unknown service " + quoted(name) + " (expected a port number 0-65535 or a " + proto +
                    " service name from /etc/services)");
}

}  // namespace

uint16_t parse_port(std::string_view text, std::string_view service_protocol) {
  text = trim(text);
  // Service names begin with a letter (RFC 6335 5.1), so numbers never wait
  // on NSS, and "-1" or "8O" stay invalid ports.
  if (!service_protocol.empty() && !text.empty() && std::isalpha(static_cast<unsigned char>(text.front())))
    return service_port(text, service_protocol);
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size())
    throw ConfigError("invalid port " + quoted(text) + " (expected a number 0-65535)");
  if (value > 65535) throw ConfigError("port " + quoted(text) + " is out of range (0-65535)");
  return static_cast<uint16_t>(value);
}

uint16_t parse_named_port(std::string_view name, std::string_view text, std::string_view service_protocol) {
  try {
    return parse_port(text, service_protocol);
  } catch (const ConfigError& e) {
    throw ConfigError(std::string(name) + ": " + e.what());
  }
}

PortList parse_port_list(std::string_view text, std::string_view service_protocol) {
  text = trim(text);
  PortList list;
  std::vector<bool> seen(65536);  // a port named twice is a mistake, and this bounds the list at 65536 ports
  std::string_view rest = text;
  while (true) {
    const size_t comma = rest.find(',');
    const std::string_view item = trim(rest.substr(0, comma));
    if (item.empty())
      throw ConfigError("empty port in " + quoted(text) + " (expected PORT, PORT-PORT or a comma-separated list of them)");
    // "20-30" is a range, of numbers only; "http-alt" (a word with a dash) is a name.
    const size_t dash = item.find('-');
    PortRange range;
    if (dash != std::string_view::npos && std::isdigit(static_cast<unsigned char>(item.front()))) {
      range = {parse_port(item.substr(0, dash)), parse_port(item.substr(dash + 1))};
      if (range.first > range.last) throw ConfigError("port range " + quoted(item) + " is reversed");
    } else {
      const uint16_t port = parse_port(item, service_protocol);
      range = {port, port};
    }
    for (uint32_t p = range.first; p <= range.last; ++p) {
      if (seen[p]) throw ConfigError("port " + std::to_string(p) + " is given twice in " + quoted(text));
      seen[p] = true;
    }
    list.push_back(range);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return list;
}

size_t port_count(const PortList& list) {
  size_t n = 0;
  for (const PortRange& r : list) n += size_t{r.last} - r.first + 1;
  return n;
}

std::string format_ports(const PortList& list) {
  std::string out;
  for (const PortRange& r : list) {
    if (!out.empty()) out += ',';
    out += std::to_string(r.first);
    if (r.last != r.first) {
      out += '-';
      out += std::to_string(r.last);
    }
  }
  return out;
}

bool parse_bool(std::string_view text) {
  std::string t = lower(trim(text));
  if (t == "true" || t == "yes" || t == "on" || t == "1") return true;
  if (t == "false" || t == "no" || t == "off" || t == "0") return false;
  throw ConfigError("invalid boolean " + quoted(text) + " (expected true or false)");
}

void append_to_list(const OptionSpec& spec, std::string_view text, OptionValue& list) {
  OptionValue more = parse_value(spec, text, nullptr);
  if (std::holds_alternative<std::monostate>(list)) {
    list = std::move(more);
    return;
  }
  std::visit(
      [&](auto& into) {
        using T = std::decay_t<decltype(into)>;
        if constexpr (std::is_same_v<T, std::vector<std::string>> || std::is_same_v<T, std::vector<Cidr>>) {
          auto& items = std::get<T>(more);
          into.insert(into.end(), std::make_move_iterator(items.begin()), std::make_move_iterator(items.end()));
        }
      },
      list);
}

OptionValue parse_value(const OptionSpec& spec, std::string_view text, const OptionValue* current) {
  switch (spec.type) {
    case OptionType::String: return std::string(text);
    case OptionType::Path:
      if (text.empty()) throw ConfigError("empty path");
      if (text.find('\0') != std::string_view::npos) throw ConfigError("path contains a NUL byte");
      return std::string(text);
    case OptionType::Int: return parse_int(text);
    case OptionType::Port: return parse_port(text, spec.service_protocol);
    case OptionType::PortList: return parse_port_list(text, spec.service_protocol);
    case OptionType::Bool: return parse_bool(text);
    case OptionType::Duration: return parse_duration(text);
    case OptionType::Size: return parse_size(text);
    case OptionType::AddressList: {
      std::vector<Cidr> list;
      if (current && std::holds_alternative<std::vector<Cidr>>(*current)) list = std::get<std::vector<Cidr>>(*current);
      std::string_view rest = text;
      bool any = false;
      while (true) {
        auto comma = rest.find(',');
        std::string_view item = trim(rest.substr(0, comma));
        if (!item.empty()) {
          list.push_back(Cidr::parse(item));
          any = true;
        }
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
      // "", "," or " " (an unset variable, say) must not read as "no rule":
      // for --allow that would admit everyone.
      if (!any) throw ConfigError("needs at least one address or network");
      return list;
    }
    case OptionType::StringList: {
      std::vector<std::string> list;
      if (current && std::holds_alternative<std::vector<std::string>>(*current))
        list = std::get<std::vector<std::string>>(*current);
      list.emplace_back(text);
      return list;
    }
  }
  throw ConfigError("unsupported option type");
}

// ---- OptionValues ----

void OptionValues::declare(Schema schema) {
  for (const auto& spec : schema) declared_.emplace_back(spec.name);
}

void OptionValues::set(std::string_view name, OptionValue value, ValueSource source) {
  values_.insert_or_assign(std::string(name), Entry{std::move(value), source});
}

const OptionValues::Entry* OptionValues::find(std::string_view name) const {
  if (!declared_.empty() && std::find(declared_.begin(), declared_.end(), name) == declared_.end())
    throw std::logic_error("option '" + std::string(name) + "' is read but not declared in the schema");
  auto it = values_.find(name);
  if (it == values_.end() || std::holds_alternative<std::monostate>(it->second.value)) return nullptr;
  return &it->second;
}

bool OptionValues::has(std::string_view name) const { return find(name) != nullptr; }

ValueSource OptionValues::source(std::string_view name) const {
  const Entry* e = find(name);
  return e ? e->source : ValueSource::Default;
}

bool OptionValues::given(std::string_view name) const {
  const Entry* e = find(name);
  if (!e || e->source == ValueSource::Default) return false;
  const bool* flag = std::get_if<bool>(&e->value);
  return !flag || *flag;
}

namespace {
template <class T>
const T& get_as(const OptionValues::Entry* e, std::string_view name) {
  if (!e) throw std::logic_error("option '" + std::string(name) + "' has no value");
  if (const T* v = std::get_if<T>(&e->value)) return *v;
  throw std::logic_error("option '" + std::string(name) + "' read with the wrong type");
}
}  // namespace

// Entry is private; get_as reaches it through these thin accessors.
const std::string& OptionValues::get_string(std::string_view n) const { return get_as<std::string>(find(n), n); }
int64_t OptionValues::get_int(std::string_view n) const { return get_as<int64_t>(find(n), n); }
uint16_t OptionValues::get_port(std::string_view n) const { return get_as<uint16_t>(find(n), n); }
const PortList& OptionValues::get_port_list(std::string_view n) const { return get_as<PortList>(find(n), n); }
bool OptionValues::get_bool(std::string_view n) const {
  const Entry* e = find(n);
  return e ? get_as<bool>(e, n) : false;
}
Duration OptionValues::get_duration(std::string_view n) const { return get_as<Duration>(find(n), n); }
uint64_t OptionValues::get_size(std::string_view n) const { return get_as<uint64_t>(find(n), n); }
const std::vector<Cidr>& OptionValues::get_cidrs(std::string_view n) const {
  static const std::vector<Cidr> empty;
  const Entry* e = find(n);
  return e ? get_as<std::vector<Cidr>>(e, n) : empty;
}
const std::vector<std::string>& OptionValues::get_list(std::string_view n) const {
  static const std::vector<std::string> empty;
  const Entry* e = find(n);
  return e ? get_as<std::vector<std::string>>(e, n) : empty;
}

// ---- schema helpers ----

const OptionSpec* find_option(Schema schema, std::string_view name) {
  for (const auto& spec : schema)
    if (spec.name == name) return &spec;
  return nullptr;
}

const OptionSpec* find_short_option(Schema schema, char letter) {
  for (const auto& spec : schema)
    if (has_short_flag(spec, letter)) return &spec;
  return nullptr;
}

namespace {
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}
}  // namespace

std::optional<std::string> closest_name(std::string_view name, const std::vector<std::string>& candidates) {
  std::optional<std::string> best;
  size_t best_distance = std::max<size_t>(2, name.size() / 3) + 1;
  for (const auto& c : candidates) {
    size_t d = edit_distance(lower(name), lower(c));
    // "timeout" for "idle-timeout": a candidate that contains the name is close too.
    if (d >= best_distance && c.find(name) != std::string::npos && name.size() >= 4) d = best_distance - 1;
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best;
}

namespace {

// ---- other tools' spellings: what a curl, wget, ncat, openssl s_client or socat
// user types by habit, and our equivalent, for the unknown-option message.
// One table for every command (socat's xio option tables are the model): a
// row speaks only for a command whose schema has `ours`, so a hint never
// names an option the command lacks (tcp-listen has no --tls-ca: there
// --cacert stays a plain unknown option), and the first such row wins (ncat's
// -x is a hex dump, curl's a proxy: tcp-connect gets ncat's, file-get, which
// has no --hex-dump, curl's).
struct ForeignSpelling {
  std::string_view spellings;   // "-k/--insecure": each one matches; all are shown
  std::string_view habit;       // whose: curl, ncat, s_client, socat
  std::string_view ours;        // our option's name, shown with its letter where the command has one
  std::string_view value = {};  // the value `ours` takes for this spelling (--tlsv1.3: 1.3)
  std::string_view note = {};   // added after "; "
  // Instead of "--OURS VALUE here", when the equivalent is no one option.
  // It may name only options that every command with `ours` has too.
  std::string_view says = {};
};

// ncat's --ssl-verify and s_client's -verify_return_error ask for what our
// TLS clients do anyway.
constexpr std::string_view kVerifiedByDefault =
    "the default here: TLS peers are verified unless --tls-no-verify is given";

constexpr ForeignSpelling kForeignSpellings[] = {
    // curl
    {"--cacert", "curl", "tls-ca"},
    {"--capath", "curl", "tls-ca"},
    {"-k/--insecure", "curl", "tls-no-verify", {}, "it warns on every run"},
    {"-E/--cert", "curl", "tls-cert"},
    {"--key", "curl", "tls-key"},
    {"--pinnedpubkey", "curl", "tls-pin", {}, "the same sha256//BASE64 form"},
    {"--tlsv1.2", "curl", "tls-min-version", "1.2", "that is the default"},
    {"--tlsv1.3", "curl", "tls-min-version", "1.3"},
    {"--connect-timeout", "curl", "timeout", {}, "it applies per address tried"},
    {"-C/--continue-at", "curl", "resume", {}, "it continues FILE.part"},
    {"--abstract-unix-socket", "curl", "unix-socket", {}, {}, "--unix-socket @NAME here"},
    // wget
    {"--no-check-certificate", "wget", "tls-no-verify", {}, "it warns on every run"},
    {"--ca-certificate", "wget", "tls-ca"},
    {"--ca-directory", "wget", "tls-ca"},
    {"--certificate", "wget", "tls-cert"},
    {"--private-key", "wget", "tls-key"},
    {"--continue", "wget", "resume", {}, "it continues FILE.part"},
    // ncat
    {"--ssl", "ncat", "tls"},
    {"--ssl-cert", "ncat", "tls-cert"},
    {"--ssl-key", "ncat", "tls-key"},
    {"--ssl-trustfile", "ncat", "tls-ca"},
    {"--ssl-verify", "ncat", "tls-no-verify", {}, {}, kVerifiedByDefault},
    {"--ssl-alpn", "ncat", "tls-alpn"},
    {"--ssl-servername", "ncat", "tls-servername"},
    {"--wait", "ncat", "timeout"},
    {"--nodns", "ncat", "numeric"},
    {"--unixsock", "ncat", "unix"},
    {"--max-conns", "ncat", "max-clients"},
    {"--proxy-type", "ncat", "proxy", {}, {}, "the scheme of the --proxy URL here: socks5://, socks4a:// or http://"},
    {"--proxy-auth", "ncat", "proxy", {}, {}, "USER:PASS@ in an http:// --proxy URL here"},
    {"-x", "ncat", "hex-dump"},
    {"-x", "curl", "proxy"},
    // openssl s_client. -connect and -cert begin with the global -c: the front
    // end reads them as a profile's name, and asks here once that has failed.
    // -connect belongs to a TLS client, so it speaks where --tls-servername is.
    {"-connect", "s_client", "tls-servername", {}, {}, "the command's own words here: HOST PORT (two words), or the URL"},
    {"-servername", "s_client", "tls-servername"},
    {"-CAfile", "s_client", "tls-ca"},
    {"-CApath", "s_client", "tls-ca"},
    {"-cert", "s_client", "tls-cert"},
    {"-key", "s_client", "tls-key"},
    {"-alpn", "s_client", "tls-alpn"},
    {"-tls1_3", "s_client", "tls-min-version", "1.3"},
    {"-verify_return_error", "s_client", "tls-no-verify", {}, {}, kVerifiedByDefault},
    // socat
    {"-T", "socat", "idle-timeout"},
};

// The front end's letters (-c -v -q -h -V), taken out of a cluster before
// the command's parser sees it.
constexpr std::string_view kGlobalLetters = "cvqhV";

// Calls fn(spelling) for each of a row's spellings ("-k", "--insecure");
// stops early and returns true when fn does.
template <typename Fn>
constexpr bool any_spelling(const ForeignSpelling& row, Fn fn) {
  std::string_view rest = row.spellings;
  while (!rest.empty()) {
    const size_t slash = rest.find('/');
    if (fn(rest.substr(0, slash))) return true;
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return false;
}

bool is_foreign_letter(char c) {
  return std::any_of(std::begin(kForeignSpellings), std::end(kForeignSpellings), [c](const ForeignSpelling& row) {
    return any_spelling(row, [c](std::string_view one) { return one.size() == 2 && one[0] == '-' && one[1] == c; });
  });
}

// A one-letter spelling is looked up by its letter inside a cluster (-kv),
// so it must not be a global letter: those never reach the command's parser
// (the loader keeps plugins off them for the same reason).
consteval bool no_global_letters() {
  for (const ForeignSpelling& row : kForeignSpellings)
    if (any_spelling(row, [](std::string_view one) {
          return one.size() == 2 && one[0] == '-' && kGlobalLetters.find(one[1]) != std::string_view::npos;
        }))
      return false;
  return true;
}
static_assert(no_global_letters(), "a foreign one-letter spelling is one of the global letters");

// Whether a single-dash word reads as a cluster of letters (-kL, -fsSLk,
// -T5) rather than one long word of another tool's (s_client's
// -keylogfile): each character a letter someone here knows, or a digit. Only
// then is one of its letters worth a hint: "-k" of -keylogfile is not curl's.
bool reads_as_letters(Schema schema, std::string_view word) {
  for (char c : word.substr(1)) {
    const bool known = std::isdigit(static_cast<unsigned char>(c)) || find_short_option(schema, c) ||
                       kGlobalLetters.find(c) != std::string_view::npos || is_foreign_letter(c);
    if (!known) return false;
  }
  return true;
}

}  // namespace

std::optional<std::string> foreign_option_hint(Schema schema, std::string_view word) {
  for (const ForeignSpelling& row : kForeignSpellings) {
    if (!any_spelling(row, [word](std::string_view one) { return one == word; })) continue;
    const OptionSpec* ours = find_option(schema, row.ours);
    if (!ours || ours->positional >= 0) continue;
    if (!row.value.empty() && !ours->choices.empty()) {
      const auto choices = choices_of(*ours);
      if (std::find(choices.begin(), choices.end(), row.value) == choices.end()) continue;
    }
    std::string hint = std::string(row.habit) + "'s " + std::string(row.spellings) + " is ";
    if (!row.says.empty()) {
      hint += row.says;
    } else {
      if (ours->short_flag) hint += std::string("-") + ours->short_flag + "/";
      hint += "--" + std::string(ours->name);
      if (!row.value.empty()) hint += " " + std::string(row.value);
      hint += " here";
    }
    if (!row.note.empty()) hint += "; " + std::string(row.note);
    return hint;
  }
  return std::nullopt;
}

void apply_defaults(Schema schema, OptionValues& values) {
  values.declare(schema);
  for (const auto& spec : schema) {
    if (spec.default_value.empty()) {
      if (spec.type == OptionType::Bool) values.set(spec.name, false, ValueSource::Default);
      continue;
    }
    values.set(spec.name, parse_value(spec, spec.default_value, nullptr), ValueSource::Default);
  }
}

void apply_command_line(Schema schema, const std::vector<std::string>& args, OptionValues& values) {
  std::vector<std::string> names;
  for (const auto& spec : schema) names.emplace_back(spec.name);
  // A list option's command-line uses, gathered in place (a long list stays
  // linear) and set once at the end: they replace the profile's list.
  std::map<std::string_view, OptionValue> cli_lists;

  auto assign = [&](const OptionSpec& spec, std::string_view text, std::string_view flag) {
    try {
      if (is_list(spec.type)) append_to_list(spec, text, cli_lists[spec.name]);
      else values.set(spec.name, parse_value(spec, text, nullptr), ValueSource::CommandLine);
    } catch (const ConfigError& e) {
      throw ConfigError(std::string(flag) + ": " + e.what());
    }
  };

  std::vector<const OptionSpec*> positionals;
  for (const auto& spec : schema)
    if (spec.positional >= 0) positionals.push_back(&spec);
  std::sort(positionals.begin(), positionals.end(),
            [](const OptionSpec* a, const OptionSpec* b) { return a->positional < b->positional; });
  std::vector<std::string> positional_args;

  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (flags_done || arg == "-" || arg.size() < 2 || arg[0] != '-') {
      positional_args.push_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    if (arg.rfind("--", 0) == 0) {
      std::string body = arg.substr(2);
      std::optional<std::string> inline_value;
      if (auto eq = body.find('='); eq != std::string::npos) {
        inline_value = body.substr(eq + 1);
        body = body.substr(0, eq);
      }
      const OptionSpec* spec = find_option(schema, body);
      bool negated = false;
      if (!spec && body.rfind("no-", 0) == 0) {
        spec = find_option(schema, body.substr(3));
        if (spec && spec->type != OptionType::Bool) spec = nullptr;
        negated = spec != nullptr;
      }
      if (!spec) {
        // Another tool's spelling says more than the nearest name (curl's
        // --cert is not a typo of --tls-cert).
        std::string msg = "unknown option --" + body;
        if (auto habit = foreign_option_hint(schema, "--" + body)) msg += " (" + *habit + ")";
        else if (auto near = closest_name(body, names)) msg += " (did you mean --" + *near + "?)";
        throw ConfigError(msg);
      }
      std::string flag = "--" + std::string(spec->name);
      if (spec->type == OptionType::Bool) {
        if (negated && inline_value) throw ConfigError("--no-" + std::string(spec->name) + " takes no value");
        assign(*spec, negated ? "false" : inline_value.value_or("true"), flag);
        continue;
      }
      if (!inline_value) {
        if (i + 1 >= args.size()) throw ConfigError(flag + " needs a value (" + std::string(type_name(spec->type)) + ")");
        inline_value = args[++i];
      }
      assign(*spec, *inline_value, flag);
      continue;
    }
    // Another tool's whole word is refused whole, before its letters could
    // mean something of ours: s_client's -servername is not -s ervername, and
    // -verify_return_error not -v -e rify_return_error (a program to run).
    if (arg.size() > 2)
      if (auto habit = foreign_option_hint(schema, arg)) throw ConfigError("unknown option " + arg + " (" + *habit + ")");
    // Short flags, possibly grouped: -kn, -w5, -w 5
    for (size_t j = 1; j < arg.size(); ++j) {
      char c = arg[j];
      const OptionSpec* spec = find_short_option(schema, c);
      if (!spec) {
        // The letter may be curl's or ncat's (-k of -kL); another tool's
        // whole word was refused above. A letter the command has never gets
        // here, so it is never hinted.
        std::string msg = std::string("unknown option -") + c;
        if (reads_as_letters(schema, arg))
          if (auto habit = foreign_option_hint(schema, std::string("-") + c)) msg += " (" + *habit + ")";
        throw ConfigError(msg);
      }
      std::string flag = std::string("-") + c;
      if (spec->type == OptionType::Bool) {
        assign(*spec, "true", flag);
        continue;
      }
      std::string value;
      if (j + 1 < arg.size()) {
        value = arg.substr(j + 1);
      } else {
        if (i + 1 >= args.size()) throw ConfigError(flag + " needs a value (" + std::string(type_name(spec->type)) + ")");
        value = args[++i];
      }
      assign(*spec, value, flag);
      break;
    }
  }

  // Positionals: when fewer are given than declared, the leading optional ones
  // are skipped (tcp-listen [HOST] PORT).
  if (positional_args.size() > positionals.size()) {
    throw ConfigError("unexpected argument '" + positional_args[positionals.size()] + "'");
  }
  size_t optional_count = 0;
  for (auto* p : positionals)
    if (!p->required) ++optional_count;
  size_t skip = positionals.size() - positional_args.size();
  size_t arg_index = 0;
  for (auto* p : positionals) {
    if (skip > 0 && !p->required) {
      --skip;
      continue;
    }
    if (arg_index >= positional_args.size()) break;
    assign(*p, positional_args[arg_index++], std::string(p->value_name.empty() ? p->name : p->value_name));
  }
  (void)optional_count;
  for (auto& [name, list] : cli_lists) values.set(name, std::move(list), ValueSource::CommandLine);
}

bool value_is_next_word(Schema schema, std::string_view arg) {
  // The same reading of a word as apply_command_line's, without its errors:
  // a word it would refuse takes no value here, and the refusal comes from it.
  if (arg.size() < 2 || arg[0] != '-' || arg == "--") return false;
  if (arg.rfind("--", 0) == 0) {
    std::string_view body = arg.substr(2);
    if (body.find('=') != std::string_view::npos) return false;
    const OptionSpec* spec = find_option(schema, body);
    return spec && spec->type != OptionType::Bool;  // --no-NAME is a bool's
  }
  for (size_t j = 1; j < arg.size(); ++j) {
    const OptionSpec* spec = find_short_option(schema, arg[j]);
    if (!spec) return false;
    if (spec->type != OptionType::Bool) return j + 1 == arg.size();
  }
  return false;
}

void check_required(Schema schema, const OptionValues& values) {
  for (const auto& spec : schema) {
    if (spec.required && !values.has(spec.name)) {
      std::string what = spec.value_name.empty() ? std::string(spec.name) : std::string(spec.value_name);
      throw ConfigError("missing " + what + " (give it on the command line or as '" + std::string(spec.name) +
                        ":' in the profile)");
    }
  }
}

namespace {

// Calls fn(spec, other) for every pair in which `spec` excludes `other`
// (spec.excludes names them, space-separated).
template <typename Fn>
void for_each_exclusion(Schema schema, Fn fn) {
  for (const auto& spec : schema) {
    std::string_view rest = spec.excludes;
    while (!rest.empty()) {
      const size_t space = rest.find(' ');
      const std::string_view name = rest.substr(0, space);
      const OptionSpec* other = find_option(schema, name);
      if (!other)
        throw std::logic_error("option '" + std::string(spec.name) + "' excludes an undeclared '" + std::string(name) + "'");
      fn(spec, *other);
      if (space == std::string_view::npos) break;
      rest.remove_prefix(space + 1);
    }
  }
}

}  // namespace

void give_way_to_command_line(Schema schema, OptionValues& values) {
  for_each_exclusion(schema, [&](const OptionSpec& spec, const OptionSpec& other) {
    if (!values.given(spec.name) || !values.given(other.name) || values.source(spec.name) == values.source(other.name))
      return;
    const OptionSpec& dropped = values.source(spec.name) == ValueSource::Profile ? spec : other;
    values.set(dropped.name,
               dropped.default_value.empty() ? OptionValue{} : parse_value(dropped, dropped.default_value, nullptr),
               ValueSource::Default);
  });
}

std::vector<std::string_view> choices_of(const OptionSpec& spec) {
  std::vector<std::string_view> out;
  std::string_view rest = spec.choices;
  while (!rest.empty()) {
    size_t bar = rest.find('|');
    out.push_back(rest.substr(0, bar));
    if (bar == std::string_view::npos) break;
    rest.remove_prefix(bar + 1);
  }
  return out;
}

namespace {

std::string flag_of(const OptionSpec& spec) {
  if (spec.positional >= 0) return spec.value_name.empty() ? std::string(spec.name) : std::string(spec.value_name);
  return "--" + std::string(spec.name);
}

// The value as a number for min/max: Int as is, Size in bytes, Duration in ms.
std::optional<int64_t> number_of(const OptionSpec& spec, const OptionValues& values) {
  switch (spec.type) {
    case OptionType::Int: return values.get_int(spec.name);
    case OptionType::Duration: return values.get_duration(spec.name).count();
    case OptionType::Size: {
      uint64_t size = values.get_size(spec.name);
      return size > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max()
                                                                                : static_cast<int64_t>(size);
    }
    default: return std::nullopt;
  }
}

std::string limit_text(const OptionSpec& spec, int64_t n) {
  if (spec.type == OptionType::Duration) return std::to_string(n) + "ms";
  if (spec.type == OptionType::Size) return std::to_string(n) + (n == 1 ? " byte" : " bytes");
  return std::to_string(n);
}

}  // namespace

std::string constraint_problem(const OptionSpec& spec, const OptionValues& values) {
  constexpr int64_t kLowest = std::numeric_limits<int64_t>::min(), kHighest = std::numeric_limits<int64_t>::max();
  if (!values.has(spec.name)) return "";
  if (!spec.choices.empty() && spec.type == OptionType::String) {
    auto words = choices_of(spec);
    const std::string& value = values.get_string(spec.name);
    if (std::find(words.begin(), words.end(), value) == words.end()) {
      std::string list;
      for (size_t i = 0; i < words.size(); ++i)
        list += (i == 0 ? "" : i + 1 == words.size() ? " or " : ", ") + std::string(words[i]);
      return "expected " + list + ", got " + quoted(value);
    }
  }
  if (auto n = number_of(spec, values)) {
    if (*n < spec.min && spec.max == kHighest) return "must be at least " + limit_text(spec, spec.min);
    if (*n > spec.max && spec.min == kLowest) return "must be at most " + limit_text(spec, spec.max);
    if (*n < spec.min || *n > spec.max) return "must be " + limit_text(spec, spec.min) + " to " + limit_text(spec, spec.max);
  }
  return "";
}

void check_constraints(Schema schema, const OptionValues& values) {
  for (const auto& spec : schema) {
    std::string problem = constraint_problem(spec, values);
    // "--digest: expected ...", "--count must be at least 1"
    if (!problem.empty()) throw ConfigError(flag_of(spec) + (problem.starts_with("must") ? " " : ": ") + problem);
  }
  for_each_exclusion(schema, [&](const OptionSpec& spec, const OptionSpec& other) {
    if (values.given(spec.name) && values.given(other.name))
      throw ConfigError(flag_of(spec) + " and " + flag_of(other) + " exclude each other");
  });
}

std::string format_help(std::string_view command, std::string_view summary, Schema schema) {
  std::ostringstream out;
  out << "Usage: nettool " << command << " [options]";
  std::vector<const OptionSpec*> positionals;
  for (const auto& spec : schema)
    if (spec.positional >= 0) positionals.push_back(&spec);
  std::sort(positionals.begin(), positionals.end(),
            [](const OptionSpec* a, const OptionSpec* b) { return a->positional < b->positional; });
  for (auto* p : positionals) {
    std::string name = p->value_name.empty() ? std::string(p->name) : std::string(p->value_name);
    out << ' ' << (p->required ? name : "[" + name + "]");
  }
  out << "\n\n" << summary << "\n\nOptions (YAML profile keys have the same names):\n";
  for (const auto& spec : schema) {
    std::string left = "  ";
    left += spec.short_flag ? std::string("-") + spec.short_flag + ", " : "    ";
    if (spec.short_alias) left += std::string("-") + spec.short_alias + ", ";
    left += "--" + std::string(spec.name);
    std::string_view vn = display_value_name(spec);
    if (spec.type != OptionType::Bool) left += " " + std::string(vn);
    out << left;
    if (left.size() < 32) out << std::string(32 - left.size(), ' ');
    else out << "\n" << std::string(32, ' ');
    out << spec.help;
    if (!spec.default_value.empty()) out << " (default: " << spec.default_value << ")";
    if (is_list(spec.type)) out << " [repeatable]";
    out << "\n";
  }
  return out.str();
}

}  // namespace nettool
