// Option groups: the options several plugins share, declared once here (as
// socat's option groups are). A plugin's schema is its own options followed by
// the groups it includes,
//
//   constexpr auto kOptions = join_options(kOwnOptions, kConnectOptions, kBridgeOptions);
//
// and it reads a group through the group's typed reader below, never by name,
// so every plugin gets the same flags, help, checks and meaning. TLS will be
// one more group.
#pragma once
#include <algorithm>
#include <array>
#include <cstddef>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "nettool/bridge.h"
#include "nettool/connect.h"
#include "nettool/dump.h"
#include "nettool/options.h"
#include "nettool/plugin.h"
#include "nettool/proxy.h"
#include "nettool/unix.h"

namespace nettool {

// ---- joining tables at compile time

template <class T>
inline constexpr size_t option_count = std::extent_v<T>;
template <size_t N>
inline constexpr size_t option_count<std::array<OptionSpec, N>> = N;

template <class... Parts>
constexpr auto join_options(const Parts&... parts) {
  std::array<OptionSpec, (option_count<Parts> + ...)> out{};
  size_t at = 0;
  ((std::copy(std::begin(parts), std::end(parts), out.begin() + at), at += option_count<Parts>), ...);
  return out;
}

// A group with one option's letters (short_flag and short_alias) taken away,
// for a plugin where that letter means something else: file-get's -s is
// curl's --silent, so it includes
//
//   without_letters(kConnectOptions, "source")   // --source ADDR, no -s
//
// The option keeps its name, so the group's reader reads it as before. A
// name the group lacks does not compile.
template <class Group>
consteval auto without_letters(const Group& group, std::string_view name) {
  std::array<OptionSpec, option_count<Group>> out{};
  std::copy(std::begin(group), std::end(group), out.begin());
  bool found = false;
  for (OptionSpec& spec : out)
    if (spec.name == name) {
      spec.short_flag = 0;
      spec.short_alias = 0;
      found = true;
    }
  if (!found) throw "option name not declared in the group";  // reached: a compile error
  return out;
}

// ---- -l, -u: nc's mode letters, where the command already is that mode
// So that nc habits work as typed (`tcp-listen -lvnp 9000`, `udp-listen -lu
// 9000`); they change nothing. Read by no one.

inline constexpr OptionSpec kNcListenLetter[] = {
    {.name = "listen", .short_flag = 'l', .type = OptionType::Bool,
     .help = "accepted for nc's -l; this command always listens"},
};
inline constexpr OptionSpec kNcUdpLetter[] = {
    {.name = "udp", .short_flag = 'u', .type = OptionType::Bool,
     .help = "accepted for nc's -u; this command always speaks UDP"},
};

// ---- -4 -6 -n: which addresses a name may resolve to

inline constexpr OptionSpec kAddressFamilyOptions[] = {
    {.name = "ipv4", .short_flag = '4', .type = OptionType::Bool, .help = "use IPv4 addresses only", .excludes = "ipv6"},
    {.name = "ipv6", .short_flag = '6', .type = OptionType::Bool, .help = "use IPv6 addresses only"},
    {.name = "numeric", .short_flag = 'n', .type = OptionType::Bool, .help = "do not resolve names (HOST must be an address)"},
};
ResolveOptions address_family_options(const OptionValues& values);

// ---- -s -p: the local end of an outgoing socket

inline constexpr OptionSpec kSourceOptions[] = {
    {.name = "source", .short_flag = 's', .type = OptionType::String, .help = "local address to send or connect from",
     .value_name = "ADDR"},
    {.name = "source-port", .short_flag = 'p', .type = OptionType::Port, .help = "local port to send or connect from"},
};
struct SourceAddress {
  std::optional<std::string> host;  // unset, or a non-empty address
  std::optional<uint16_t> port;
};
SourceAddress source_options(const OptionValues& values);

// ---- the TCP client: -4 -6 -n, -w, -s -p

inline constexpr OptionSpec kConnectTimeoutOptions[] = {
    {.name = "timeout", .short_flag = 'w', .type = OptionType::Duration,
     .help = "give up a connection attempt after this long (per address; 0 = no limit)", .min = 0},
};
inline constexpr auto kConnectOptions = join_options(kAddressFamilyOptions, kConnectTimeoutOptions, kSourceOptions);
// Everything TcpConnector needs; timeout 0 when -w was not given.
TcpConnector::Options connect_options(const OptionValues& values);

// ---- --proxy: reaching the target through a SOCKS or HTTP proxy (tcp-connect, tcp-forward)

inline constexpr OptionSpec kProxyOptions[] = {
    {.name = "proxy", .type = OptionType::String,
     .help = "connect through this proxy: socks5://, socks5h://, socks4a:// or http://[USER:PASS@]HOST:PORT",
     .value_name = "URL"},
};
// The proxy, checked (ConfigError), or nullopt without --proxy.
std::optional<ProxySpec> proxy_options(const OptionValues& values);

// ---- a session between the network and stdio or a child (tcp-connect, tcp-listen)

inline constexpr OptionSpec kBridgeOptions[] = {
    {.name = "idle-timeout", .short_flag = 'i', .type = OptionType::Duration,
     .help = "close after this long with no data either way (0 = never)", .min = 0},
    {.name = "half-close", .short_flag = 'N', .type = OptionType::Bool, .default_value = "true",
     .help = "on stdin EOF shut down the sending side and keep reading (--no-half-close keeps it open)"},
    {.name = "wait-stdin", .type = OptionType::Bool,
     .help = "when the peer closes first, keep sending stdin until its EOF (default: yes unless stdin is a terminal; "
             "--no-wait-stdin ends the session with the peer)"},
    {.name = "send-only", .type = OptionType::Bool, .help = "only send stdin; discard what arrives; exit after stdin EOF",
     .excludes = "recv-only"},
    {.name = "recv-only", .short_flag = 'd', .type = OptionType::Bool,
     .help = "do not read stdin; print what arrives until the peer closes"},
    {.name = "crlf", .short_flag = 'C', .type = OptionType::Bool, .help = "send line endings as CRLF"},
    {.name = "exec", .short_flag = 'e', .type = OptionType::String,
     .help = "run CMD with its stdin/stdout connected to the socket", .value_name = "CMD", .excludes = "sh-exec"},
    {.name = "sh-exec", .type = OptionType::String, .help = "like --exec, but run CMD through /bin/sh -c",
     .value_name = "CMD"},
};
struct BridgeOptions {
  bool half_close = true;
  bool send_only = false;
  bool recv_only = false;
  bool wait_stdin = false;  // --wait-stdin, or its default for this stdin (wait_for_stdin)
  bool crlf = false;
  Duration idle_timeout{0};  // 0: none
  std::optional<std::string> exec;  // --exec or --sh-exec
  bool exec_through_shell = false;  // --sh-exec

  // A fresh policy (with its own CRLF transform) for one Bridge. With a
  // child, both directions must end and stdin EOF always half-closes.
  Bridge::Policy policy(spdlog::logger* log) const;
  // The local side of one session: the child (--exec/--sh-exec), else our
  // stdin/stdout in the directions `policy` uses. Throws RuntimeError.
  std::unique_ptr<Endpoint> open_local(Context& ctx, const Bridge::Policy& policy) const;
};
BridgeOptions bridge_options(const OptionValues& values);

// ---- who may talk to a server: --allow --deny (TCP servers and udp-forward)

inline constexpr OptionSpec kAccessOptions[] = {
    {.name = "allow", .type = OptionType::AddressList, .help = "accept only clients in these networks"},
    {.name = "deny", .type = OptionType::AddressList, .help = "refuse clients in these networks (checked after --allow)"},
};
struct AccessOptions {
  std::vector<Cidr> allow, deny;
  bool admits(const sockaddr* peer) const { return address_allowed(peer, allow, deny); }
};
AccessOptions access_options(const OptionValues& values);

// ---- seeing the traffic: --hex-dump, --output (tcp-connect, tcp-listen, tcp-forward, udp-send, udp-listen)

inline constexpr OptionSpec kTapOptions[] = {
    {.name = "hex-dump", .type = OptionType::String,
     .help = "write every chunk sent (>) and received (<) to FILE as hexdump -C lines under a line with the time, "
             "connection, peer and size; - is stderr (bytes are copied, not spliced, while dumping)",
     .value_name = "FILE"},
    {.name = "output", .short_flag = 'o', .type = OptionType::String,
     .help = "also write the bytes received to FILE", .value_name = "FILE"},
};
// The tap both options feed (RuntimeError if a file cannot be created), or
// nullptr when neither is given.
std::shared_ptr<TrafficTap> traffic_tap(Context& ctx, const OptionValues& values);

// ---- a listening Unix socket: its file's permissions (tcp-listen, tcp-forward)

inline constexpr OptionSpec kUnixModeOptions[] = {
    {.name = "mode", .type = OptionType::String,
     .help = "permissions of the Unix socket file, in octal (e.g. 660; default: from the umask)", .value_name = "MODE"},
};
// --mode for the socket `listening` names (ConfigError: not octal, or no
// socket file to set it on: a TCP port or an abstract name); none if not given.
std::optional<mode_t> unix_mode_option(const OptionValues& values, const std::optional<UnixAddress>& listening);

// ---- a listening TCP server: who may connect, the backlog, the grace period

inline constexpr OptionSpec kBacklogGraceOptions[] = {
    {.name = "backlog", .type = OptionType::Int, .default_value = "511", .help = "listen(2) backlog", .min = 1,
     .max = 65535},
    {.name = "grace", .type = OptionType::Duration, .default_value = "5s",
     .help = "on SIGINT/SIGTERM, let connections in flight finish for this long"},
};
inline constexpr auto kListenOptions = join_options(kAccessOptions, kBacklogGraceOptions);
struct ListenOptions : AccessOptions {
  int backlog = 511;
};
ListenOptions listen_options(const OptionValues& values);

}  // namespace nettool
