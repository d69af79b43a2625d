#include "nettool/option_groups.h"

#include <unistd.h>

#include <sys/socket.h>

#include "nettool/stream.h"

namespace nettool {

ResolveOptions address_family_options(const OptionValues& values) {
  ResolveOptions o;
  o.family = values.get_bool("ipv4") ? AF_INET : values.get_bool("ipv6") ? AF_INET6 : AF_UNSPEC;
  o.numeric_only = values.get_bool("numeric");
  return o;
}

SourceAddress source_options(const OptionValues& values) {
  SourceAddress s;
  if (values.has("source") && !values.get_string("source").empty()) s.host = values.get_string("source");
  if (values.has("source-port")) s.port = values.get_port("source-port");
  return s;
}

TcpConnector::Options connect_options(const OptionValues& values) {
  TcpConnector::Options o;
  o.resolve = address_family_options(values);
  if (values.has("timeout")) o.timeout = values.get_duration("timeout");
  SourceAddress source = source_options(values);
  o.source_host = source.host;
  o.source_port = source.port;
  return o;
}

BridgeOptions bridge_options(const OptionValues& values) {
  BridgeOptions b;
  b.half_close = values.get_bool("half-close");
  b.send_only = values.get_bool("send-only");
  b.recv_only = values.get_bool("recv-only");
  b.wait_stdin = wait_for_stdin(values);
  b.crlf = values.get_bool("crlf");
  if (values.has("idle-timeout")) b.idle_timeout = values.get_duration("idle-timeout");
  if (values.has("exec")) {
    b.exec = values.get_string("exec");
  } else if (values.has("sh-exec")) {
    b.exec = values.get_string("sh-exec");
    b.exec_through_shell = true;
  }
  return b;
}

Bridge::Policy BridgeOptions::policy(spdlog::logger* log) const {
  Bridge::Policy p;
  p.half_close = half_close || exec.has_value();
  p.send_only = send_only;
  p.recv_only = recv_only;
  p.wait_for_both = wait_stdin || exec.has_value();
  p.idle_timeout = idle_timeout;
  if (crlf) p.to_network = make_crlf_transform();
  p.log = log;
  return p;
}

ListenOptions listen_options(const OptionValues& values) {
  ListenOptions l;
  l.allow = values.get_cidrs("allow");
  l.deny = values.get_cidrs("deny");
  l.backlog = static_cast<int>(values.get_int("backlog"));
  return l;
}

}  // namespace nettool
