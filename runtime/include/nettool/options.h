// The option schema: one table per plugin describes every option once. From it
// come the CLI flags, the YAML profile keys, the help text and the validation.
#pragma once
#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "nettool/net.h"

namespace nettool {

enum class OptionType {
  String,
  Int,
  Port,        // 0..65535, or a service name when the spec says of which protocol
  PortList,    // "80", "20-30", "22,80,443", "20-22,80": ports in the order given, each once
  Bool,
  Duration,    // "250ms", "30s", "5m", "1h"; a bare number is seconds (nc -w 5)
  Size,        // "64KiB", "1MiB", "10k"; a bare number is bytes
  AddressList, // CIDR list: "10.0.0.0/8,::1"; repeatable
  Path,
  StringList,  // repeatable string
};

// One option. The checks below (choices, excludes, min/max) are enforced by
// the runtime before the plugin starts, so a plugin's start() only checks
// what depends on several values at once.
struct OptionSpec {
  std::string_view name;           // --name and the YAML key
  char short_flag = 0;             // -x, or 0 for none
  OptionType type = OptionType::String;
  std::string_view default_value = {};  // parsed like user input; empty = unset
  std::string_view help = {};
  std::string_view value_name = {};  // shown in help: HOST, PORT, DURATION...; choices when empty
  int positional = -1;             // index among positional arguments, -1 = flag only
  bool required = false;           // positional that must be given
  std::string_view choices = {};   // String: the only words accepted, "auto|always|never"
  std::string_view excludes = {};  // names of options that cannot be given with this one, "sh-exec broker"
  int64_t min = std::numeric_limits<int64_t>::min();  // Int, Size (bytes), Duration (ms): the accepted range
  int64_t max = std::numeric_limits<int64_t>::max();
  // A second letter for the same option, so that another tool's spelling
  // works too without breaking the documented one (udp-send's -w, nc's, with
  // its -W). Parsed, listed in help, man pages and completions like
  // short_flag; 0 for none. Last, so existing positional tables stay valid.
  char short_alias = 0;
  // Port, PortList: the protocol ("tcp", "udp", as getservbyname(3) takes
  // it) whose service names from /etc/services are accepted besides numbers,
  // as nc accepts `nc HOST http`; empty: numbers only. A name is looked up
  // only when the word begins with a letter, so numbers never touch NSS.
  std::string_view service_protocol = {};
};

// Whether `letter` is one of spec's short flags (short_flag or short_alias).
constexpr bool has_short_flag(const OptionSpec& spec, char letter) {
  return letter != 0 && (spec.short_flag == letter || spec.short_alias == letter);
}

using Schema = std::span<const OptionSpec>;

// A name checked against a schema at compile time:
//   consteval std::string_view opt(std::string_view n) { return checked_option<kOptions>(n); }
//   ... opts.get_bool(opt("keep-open")) ...
// A name the table lacks (a typo, an option since renamed) does not build
// ("not a constant expression" at the call), in every build. OptionValues
// still refuses undeclared names at run time, for names made at run time.
template <const auto& Options>
consteval std::string_view checked_option(std::string_view name) {
  for (const OptionSpec& o : Options)
    if (o.name == name) return o.name;
  throw "option name not declared in the schema";  // reached: a compile error
}

struct PortRange {
  uint16_t first = 0;
  uint16_t last = 0;
  bool operator==(const PortRange&) const = default;
};

// A PortList option's value: its ranges in the order given (a lone port is a
// range of one). No port is in two of them, so a list names at most 65536 ports.
using PortList = std::vector<PortRange>;

using Duration = std::chrono::milliseconds;

using OptionValue = std::variant<std::monostate, bool, int64_t, uint16_t, PortList, Duration,
                                 uint64_t, std::string, std::vector<Cidr>, std::vector<std::string>>;

enum class ValueSource { Default, Profile, CommandLine };

// Typed values of one plugin's options after defaults, profile and command
// line. Only declared names can be read: reading a name the schema does not
// have (a typo) throws std::logic_error instead of quietly answering "unset".
class OptionValues {
 public:
  void declare(Schema schema);  // apply_defaults does this
  void set(std::string_view name, OptionValue value, ValueSource source);
  bool has(std::string_view name) const;  // set by anything, including a default
  ValueSource source(std::string_view name) const;
  // Given by the user (profile or command line); for a bool, also true.
  bool given(std::string_view name) const;

  const std::string& get_string(std::string_view name) const;
  int64_t get_int(std::string_view name) const;
  uint16_t get_port(std::string_view name) const;
  const PortList& get_port_list(std::string_view name) const;
  bool get_bool(std::string_view name) const;
  Duration get_duration(std::string_view name) const;
  uint64_t get_size(std::string_view name) const;
  const std::vector<Cidr>& get_cidrs(std::string_view name) const;
  const std::vector<std::string>& get_list(std::string_view name) const;

 struct Entry {
    OptionValue value;
    ValueSource source;
  };

 private:
  const Entry* find(std::string_view name) const;
  std::map<std::string, Entry, std::less<>> values_;
  std::vector<std::string> declared_;  // empty: not declared (unit tests that set values by hand)
};

// Value parsers, each throwing ConfigError with a message naming the bad text.
Duration parse_duration(std::string_view text);
uint64_t parse_size(std::string_view text);
int64_t parse_int(std::string_view text);
// A number 0-65535, or with `service_protocol` ("tcp", "udp") also a service
// name of that protocol from /etc/services ("http").
uint16_t parse_port(std::string_view text, std::string_view service_protocol = {});
// parse_port for a port a plugin reads as text itself (a PORT that may also
// be unix:/PATH): its error begins with `name` ("PORT: unknown service 'x'"),
// as the schema's own errors name their option.
uint16_t parse_named_port(std::string_view name, std::string_view text, std::string_view service_protocol);
// PORT, PORT-PORT, or a comma-separated list of them; a range takes numbers only.
PortList parse_port_list(std::string_view text, std::string_view service_protocol = {});
// How many ports a list names, and the list written back: "20-22,80".
size_t port_count(const PortList& list);
std::string format_ports(const PortList& list);
bool parse_bool(std::string_view text);
std::string_view type_name(OptionType type);
std::string_view default_value_name(OptionType type);
// What help shows for the value: value_name, else the choices, else default_value_name(type).
std::string_view display_value_name(const OptionSpec& spec);
bool is_list(OptionType type);

// Parses one textual value for `spec` (for list types: one element or a
// comma-separated list) and merges it into `current` when the type is a list.
OptionValue parse_value(const OptionSpec& spec, std::string_view text, const OptionValue* current);
// A list option's next use: `text`'s items appended to `list` in place (an
// empty value starts it).
void append_to_list(const OptionSpec& spec, std::string_view text, OptionValue& list);

const OptionSpec* find_option(Schema schema, std::string_view name);
// The option whose short flag or alias is `letter`, or null.
const OptionSpec* find_short_option(Schema schema, char letter);
// The valid name closest to `name`, if any is close enough to be a likely typo.
std::optional<std::string> closest_name(std::string_view name, const std::vector<std::string>& candidates);
// What a user of another tool means by `word`, an option as that tool spells
// it (curl's --cacert or -k, ncat's --ssl, s_client's -CAfile, socat's -T):
// "curl's --cacert is --tls-ca here". Only equivalents `schema` has are
// named; nullopt when the word is no spelling we know or the command lacks
// its equivalent. apply_command_line adds it to its unknown-option message;
// ask only about a word that has failed, since a word the command takes
// means what the command says.
std::optional<std::string> foreign_option_hint(Schema schema, std::string_view word);

// Fills `values` with every default of `schema`.
void apply_defaults(Schema schema, OptionValues& values);

// Parses plugin arguments (everything after the command name that is not a
// global flag). Flags: --name VALUE, --name=VALUE, -x VALUE, -xVALUE, grouped
// bool shorts (-kn), --no-name for bools, "--" ends flags. Throws ConfigError.
void apply_command_line(Schema schema, const std::vector<std::string>& args, OptionValues& values);

// Whether apply_command_line takes the word after `arg` as arg's value: a
// --name or -x of an option that is not a bool, without an attached value,
// alone or at the end of a group of bool shorts (-kM). The front end asks
// this before it reads a word as a global flag: the message of `-M -v` is
// "-v", not verbose logging.
bool value_is_next_word(Schema schema, std::string_view arg);

// Checks that required positionals are present.
void check_required(Schema schema, const OptionValues& values);

// Checks every value against its spec's choices and min/max, and that no two
// options that exclude each other are given. Throws ConfigError naming the flags.
void check_constraints(Schema schema, const OptionValues& values);
// What is wrong with one option's value against its choices and min/max,
// worded to follow the option's name ("must be at least 1", "expected text or
// json, got 'xml'"); empty when nothing is. The profile reader asks it for
// each value, so its message can point at the value's line.
std::string constraint_problem(const OptionSpec& spec, const OptionValues& values);

// The command line beats the profile for options that exclude each other
// too: where one is given in the profile and the other on the command line,
// the profile's is dropped (back to its default), so `-c prof.yaml --tls-pin
// PIN` works with a profile that sets tls-ca. Both from one place stay an
// error (check_constraints).
void give_way_to_command_line(Schema schema, OptionValues& values);

// The words of spec.choices ("auto|always|never"), empty when there are none.
std::vector<std::string_view> choices_of(const OptionSpec& spec);

// Help text for one command generated from its schema (the front end adds the global options).
std::string format_help(std::string_view command, std::string_view summary, Schema schema);

}  // namespace nettool
