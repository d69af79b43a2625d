#include "nettool/option_groups.h"

#include <unistd.h>

#include <cstdlib>

#include <sys/socket.h>

#include <spdlog/spdlog.h>

#include "nettool/error.h"
#include "nettool/stream.h"

namespace nettool {

namespace {
// Each reader names only its own group's options, checked at compile time (options.h).
consteval std::string_view family_key(std::string_view n) { return checked_option<kAddressFamilyOptions>(n); }
consteval std::string_view source_key(std::string_view n) { return checked_option<kSourceOptions>(n); }
consteval std::string_view connect_key(std::string_view n) { return checked_option<kConnectOptions>(n); }
consteval std::string_view bridge_key(std::string_view n) { return checked_option<kBridgeOptions>(n); }
consteval std::string_view proxy_key(std::string_view n) { return checked_option<kProxyOptions>(n); }
consteval std::string_view access_key(std::string_view n) { return checked_option<kAccessOptions>(n); }
consteval std::string_view tap_key(std::string_view n) { return checked_option<kTapOptions>(n); }
consteval std::string_view unix_mode_key(std::string_view n) { return checked_option<kUnixModeOptions>(n); }
consteval std::string_view listen_key(std::string_view n) { return checked_option<kListenOptions>(n); }
}  // namespace

ResolveOptions address_family_options(const OptionValues& values) {
  ResolveOptions o;
  o.family = values.get_bool(family_key("ipv4"))   ? AF_INET
             : values.get_bool(family_key("ipv6")) ? AF_INET6
                                                   : AF_UNSPEC;
  o.numeric_only = values.get_bool(family_key("numeric"));
  return o;
}

SourceAddress source_options(const OptionValues& values) {
  SourceAddress s;
  if (values.has(source_key("source")) && !values.get_string(source_key("source")).empty())
    s.host = values.get_string(source_key("source"));
  if (values.has(source_key("source-port"))) s.port = values.get_port(source_key("source-port"));
  return s;
}

TcpConnector::Options connect_options(const OptionValues& values) {
  TcpConnector::Options o;
  o.resolve = address_family_options(values);
  if (values.has(connect_key("timeout"))) o.timeout = values.get_duration(connect_key("timeout"));
  SourceAddress source = source_options(values);
  o.source_host = source.host;
  o.source_port = source.port;
  return o;
}

BridgeOptions bridge_options(const OptionValues& values) {
  BridgeOptions b;
  b.half_close = values.get_bool(bridge_key("half-close"));
  b.send_only = values.get_bool(bridge_key("send-only"));
  b.recv_only = values.get_bool(bridge_key("recv-only"));
  b.wait_stdin = wait_for_stdin(values);
  b.crlf = values.get_bool(bridge_key("crlf"));
  if (values.has(bridge_key("idle-timeout")))
    b.idle_timeout = values.get_duration(bridge_key("idle-timeout"));
  if (values.has(bridge_key("exec"))) {
    b.exec = values.get_string(bridge_key("exec"));
  } else if (values.has(bridge_key("sh-exec"))) {
    b.exec = values.get_string(bridge_key("sh-exec"));
    b.exec_through_shell = true;
  }
  // Found out at start, not as each client fails to get its child.
  if (b.exec && b.exec->find_first_not_of(" \t") == std::string::npos)
    throw ConfigError(std::string(b.exec_through_shell ? "--sh-exec" : "--exec") + ": no command given");
  return b;
}

Bridge::Policy BridgeOptions::policy(spdlog::logger* log) const {
  Bridge::Policy p;
  p.half_close = half_close || exec.has_value();
  p.send_only = send_only;
  p.recv_only = recv_only;
  p.wait_for_both = wait_stdin || exec.has_value();
  p.local_is_stdio = !exec.has_value();  // see open_local
  p.idle_timeout = idle_timeout;
  if (crlf) p.to_network = make_crlf_transform();
  p.log = log;
  return p;
}

std::unique_ptr<Endpoint> BridgeOptions::open_local(Context& ctx, const Bridge::Policy& policy) const {
  if (!exec) return ctx.open_stdio(!policy.recv_only, !policy.send_only);
  spdlog::logger* log = &ctx.log();
  return spawn_child_endpoint(ctx.loop(), *exec, exec_through_shell,
                              [log](int64_t status) { log->debug("child exited with status {}", status); });
}

std::optional<ProxySpec> proxy_options(const OptionValues& values) {
  if (!values.has(proxy_key("proxy"))) return std::nullopt;
  return parse_proxy_url(values.get_string(proxy_key("proxy")));
}

AccessOptions access_options(const OptionValues& values) {
  AccessOptions a;
  a.allow = values.get_cidrs(access_key("allow"));
  a.deny = values.get_cidrs(access_key("deny"));
  // An empty --allow list admits everyone (address_allowed), the opposite
  // of what it says; an empty --deny is a mistake too (a variable left empty).
  for (auto [name, list] : {std::pair{access_key("allow"), &a.allow}, {access_key("deny"), &a.deny}})
    if (values.given(name) && list->empty())
      throw ConfigError("--" + std::string(name) + " needs at least one address or network");
  return a;
}

std::shared_ptr<TrafficTap> traffic_tap(Context& ctx, const OptionValues& values) {
  std::string dump = values.has(tap_key("hex-dump")) ? values.get_string(tap_key("hex-dump")) : "";
  std::string output = values.has(tap_key("output")) ? values.get_string(tap_key("output")) : "";
  for (std::string_view name : {tap_key("hex-dump"), tap_key("output")})
    if (values.has(name) && values.get_string(name).empty()) throw ConfigError("--" + std::string(name) + ": no FILE");
  if (dump.empty() && output.empty()) return nullptr;
  auto tap = std::make_shared<TrafficTap>(ctx, dump, output);
  ctx.log().debug("{}: every byte is copied through nettool, none spliced", tap->describe());
  return tap;
}

std::optional<mode_t> unix_mode_option(const OptionValues& values, const std::optional<UnixAddress>& listening) {
  if (!values.has(unix_mode_key("mode"))) return std::nullopt;
  if (!listening) throw ConfigError("--mode is for a Unix socket (unix:/PATH)");
  if (listening->abstract) throw ConfigError("--mode: an abstract socket (unix:@NAME) has no file to set it on");
  const std::string text = values.get_string(unix_mode_key("mode"));
  char* end = nullptr;
  unsigned long mode = std::strtoul(text.c_str(), &end, 8);
  if (text.empty() || *end != '\0' || mode > 07777) throw ConfigError("--mode: expected octal permissions like 660");
  return static_cast<mode_t>(mode);
}

ListenOptions listen_options(const OptionValues& values) {
  ListenOptions l;
  static_cast<AccessOptions&>(l) = access_options(values);
  l.backlog = static_cast<int>(values.get_int(listen_key("backlog")));
  return l;
}

}  // namespace nettool
