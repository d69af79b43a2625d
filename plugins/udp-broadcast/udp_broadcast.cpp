// udp-broadcast PORT: a broadcast (or multicast) beacon. Same message sources
// as udp-send; sends once by default, or every --interval for --count rounds.
#include <arpa/inet.h>
#include <net/if.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cstring>
#include <utility>
#include <vector>

#include "nettool/datagram.h"
#include "nettool/error.h"
#include "nettool/net.h"
#include "nettool/plugin.h"
#include "nettool/uv.h"

namespace {

using namespace nettool;

constexpr OptionSpec kOptions[] = {
    {.name = "port", .type = OptionType::Port, .help = "destination port, or a UDP service name", .value_name = "PORT",
     .positional = 0, .required = true, .service_protocol = "udp"},
    {"address", 'a', OptionType::String, "",
     "IPv4 broadcast address, e.g. a subnet's 192.168.1.255 (default 255.255.255.255); one that is no local "
     "interface's broadcast address is sent anyway (a remote subnet's) with a warning",
     "ADDR"},
    {"interface", 'I', OptionType::String, "", "send out of this interface: its subnet's broadcast address unless "
     "--address is given (255.255.255.255 then leaves through this interface)", "NAME"},
    {.name = "multicast", .short_flag = 'g', .type = OptionType::String,
     .help = "send to this multicast group (224.0.0.0/4, ff00::/8) instead of broadcasting", .value_name = "GROUP",
     .excludes = "address"},
    {.name = "ttl", .type = OptionType::Int, .help = "time to live / hop limit (multicast default 1)", .min = 0,
     .max = 255},
    {"loop", 0, OptionType::Bool, "", "multicast: also deliver to listeners on this host"},
    {"message", 'M', OptionType::StringList, "", "send TEXT as one datagram instead of reading stdin", "TEXT"},
    {"chunk", 0, OptionType::Size, "", "cut stdin into datagrams of this size instead of lines"},
    {.name = "keep-newline", .type = OptionType::Bool, .default_value = "true",
     .help = "end each line's datagram with its line break as read (\\n or \\r\\n), as nc -u does; "
             "--no-keep-newline strips it"},
    {.name = "count", .type = OptionType::Int, .default_value = "1", .help = "rounds to send (a beacon: with --interval)",
     .min = 1},
    {"interval", 0, OptionType::Duration, "", "pause between datagrams"},
    {"source-port", 'p', OptionType::Port, "", "local port to send from"},
};
// Every option read below goes through opt(): a name not in kOptions does not compile.
consteval std::string_view opt(std::string_view name) { return checked_option<kOptions>(name); }

struct InterfaceInfo {
  sockaddr_in address{};
  sockaddr_in broadcast{};
};

// The IPv4 address of interface `name` and its subnet's broadcast address.
std::optional<InterfaceInfo> ipv4_interface(const std::string& name, std::string& known) {
  uv_interface_address_t* list = nullptr;
  int count = 0;
  if (uv_interface_addresses(&list, &count) != 0) return std::nullopt;
  std::optional<InterfaceInfo> found;
  for (int i = 0; i < count; ++i) {
    if (list[i].address.address4.sin_family != AF_INET) continue;
    if (known.find(std::string(list[i].name) + " ") == std::string::npos) known += std::string(list[i].name) + " ";
    if (found || name != list[i].name) continue;
    InterfaceInfo info;
    info.address = list[i].address.address4;
    info.broadcast = list[i].address.address4;
    info.broadcast.sin_addr.s_addr = list[i].address.address4.sin_addr.s_addr | ~list[i].netmask.netmask4.sin_addr.s_addr;
    found = info;
  }
  uv_free_interface_addresses(list, count);
  return found;
}

// Every local IPv4 interface's subnet broadcast address, "NAME ADDR" each
// (for the warning), leaving out /31 and /32 networks, which have none: their
// "broadcast" would be a unicast address. Only `only` when it is not empty.
std::vector<std::pair<std::string, in_addr>> local_broadcasts(const std::string& only) {
  std::vector<std::pair<std::string, in_addr>> found;
  uv_interface_address_t* list = nullptr;
  int count = 0;
  if (uv_interface_addresses(&list, &count) != 0) return found;
  for (int i = 0; i < count; ++i) {
    if (list[i].address.address4.sin_family != AF_INET || (!only.empty() && only != list[i].name)) continue;
    uint32_t mask = ntohl(list[i].netmask.netmask4.sin_addr.s_addr);
    if (~mask <= 1) continue;
    in_addr b{list[i].address.address4.sin_addr.s_addr | ~list[i].netmask.netmask4.sin_addr.s_addr};
    found.emplace_back(list[i].name, b);
  }
  uv_free_interface_addresses(list, count);
  return found;
}

bool is_multicast(const sockaddr* a) {
  if (a->sa_family == AF_INET) return IN_MULTICAST(ntohl(reinterpret_cast<const sockaddr_in*>(a)->sin_addr.s_addr));
  return a->sa_family == AF_INET6 && IN6_IS_ADDR_MULTICAST(&reinterpret_cast<const sockaddr_in6*>(a)->sin6_addr);
}

class UdpBroadcast final : public Command {
 public:
  explicit UdpBroadcast(Context& ctx) : ctx_(ctx), opts_(ctx.options()) {}
  ~UdpBroadcast() override { abort(); }

  void start() override {
    uint16_t port = opts_.get_port(opt("port"));
    if (port == 0) throw ConfigError("cannot send to port 0");
    bool multicast = opts_.has(opt("multicast"));
    if (!multicast && opts_.given(opt("loop")))
      throw ConfigError("--loop is for --multicast: a broadcast reaches this host's listeners anyway");
    std::string target = multicast ? opts_.get_string(opt("multicast"))
                                   : opts_.has(opt("address")) ? opts_.get_string(opt("address")) : "255.255.255.255";
    std::optional<InterfaceInfo> iface;
    // An IPv6 group leaves through an interface named by its index (the
    // IPv4 route needs the interface's IPv4 address, below).
    const bool v6_group = multicast && target.find(':') != std::string::npos;
    if (opts_.has(opt("interface")) && ::if_nametoindex(opts_.get_string(opt("interface")).c_str()) == 0)
      throw ConfigError("--interface " + opts_.get_string(opt("interface")) + ": no such interface on this host");
    if (opts_.has(opt("interface")) && !v6_group) {
      std::string known;
      iface = ipv4_interface(opts_.get_string(opt("interface")), known);
      if (!iface)
        throw RuntimeError("interface '" + opts_.get_string(opt("interface")) + "' has no IPv4 address (interfaces: " + known + ")");
      if (!multicast && !opts_.has(opt("address"))) {
        char buf[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &iface->broadcast.sin_addr, buf, sizeof buf);
        target = buf;
      }
    }
    sockaddr_storage dest{};
    if (uv_ip4_addr(target.c_str(), port, reinterpret_cast<sockaddr_in*>(&dest)) != 0) {
      if (uv_ip6_addr(target.c_str(), port, reinterpret_cast<sockaddr_in6*>(&dest)) != 0 || !multicast)
        throw ConfigError("'" + target + "' is not an IPv4 broadcast or multicast address");
    }
    dest_ = dest;
    const sockaddr* d = reinterpret_cast<const sockaddr*>(&dest_);
    if (multicast && !is_multicast(d))
      throw ConfigError("--multicast " + target +
                        ": not a multicast group (IPv4 224.0.0.0 to 239.255.255.255, IPv6 ff00::/8); "
                        "a broadcast address goes in --address");
    if (!multicast) check_broadcast_address(target, reinterpret_cast<const sockaddr_in*>(d)->sin_addr);
    std::optional<uint64_t> chunk;
    if (opts_.has(opt("chunk"))) chunk = opts_.get_size(opt("chunk"));
    if (std::string why = datagram_limits_error(chunk, opts_.get_list(opt("message")), d->sa_family, format_address(d));
        !why.empty())
      throw ConfigError(why);
    if (int rc = uv_udp_init_ex(ctx_.loop(), socket_.get(), d->sa_family); rc < 0)
      throw RuntimeError(uv_message("creating a UDP socket", rc));
    socket_.mark_initialized(this);

    // Bind first (source port, and the interface's address so replies and
    // routing use it), then the socket options that need a bound socket.
    sockaddr_storage local{};
    if (d->sa_family == AF_INET) {
      sockaddr_in* l = reinterpret_cast<sockaddr_in*>(&local);
      l->sin_family = AF_INET;
      l->sin_port = htons(opts_.has(opt("source-port")) ? opts_.get_port(opt("source-port")) : 0);
      // Limited broadcast must not be bound to a unicast address, or Linux
      // routes it by that address's route instead of the device.
      if (iface && multicast) l->sin_addr = iface->address.sin_addr;
    } else {
      uv_ip6_addr("::", opts_.has(opt("source-port")) ? opts_.get_port(opt("source-port")) : 0, reinterpret_cast<sockaddr_in6*>(&local));
    }
    // A multicast sender may share a --source-port with group listeners on
    // this host (udp-listen --join shares it too); a broadcast one does not,
    // so a taken port is an error and nobody else can bind ours.
    if (int rc = uv_udp_bind(socket_.get(), reinterpret_cast<sockaddr*>(&local), multicast ? UV_UDP_REUSEADDR : 0); rc < 0)
      throw RuntimeError(uv_message("binding " + format_address(reinterpret_cast<sockaddr*>(&local)), rc));
    if (iface && !multicast) {
      // 255.255.255.255 leaves through the named interface only when bound to it.
      uv_os_fd_t fd;
      uv_fileno(socket_.as_handle(), &fd);
      const std::string& name = opts_.get_string(opt("interface"));
      if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name.c_str(), static_cast<socklen_t>(name.size())) != 0)
        ctx_.log().warn("cannot bind to device {}: {} (needs CAP_NET_RAW); the routing table decides", name,
                        std::strerror(errno));
    }
    if (multicast) {
      uv_udp_set_multicast_ttl(socket_.get(), opts_.has(opt("ttl")) ? static_cast<int>(opts_.get_int(opt("ttl"))) : 1);
      uv_udp_set_multicast_loop(socket_.get(), opts_.get_bool(opt("loop")) ? 1 : 0);
      if (v6_group && opts_.has(opt("interface"))) {
        // libuv reads the interface's index from the scope of "::%NAME".
        std::string scoped = "::%" + opts_.get_string(opt("interface"));
        if (int rc = uv_udp_set_multicast_interface(socket_.get(), scoped.c_str()); rc < 0)
          throw RuntimeError(uv_message("multicast interface " + opts_.get_string(opt("interface")), rc));
      } else if (iface) {
        char buf[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &iface->address.sin_addr, buf, sizeof buf);
        if (int rc = uv_udp_set_multicast_interface(socket_.get(), buf); rc < 0)
          throw RuntimeError(uv_message("multicast interface " + std::string(buf), rc));
      }
    } else {
      if (int rc = uv_udp_set_broadcast(socket_.get(), 1); rc < 0) throw RuntimeError(uv_message("SO_BROADCAST", rc));
      // A unicast/broadcast TTL is 1-255 (0 is multicast's "this host only");
      // libuv refuses 0, which used to be ignored without a word.
      if (opts_.has(opt("ttl"))) {
        int64_t ttl = opts_.get_int(opt("ttl"));
        if (ttl < 1 || ttl > 255) throw ConfigError("--ttl " + std::to_string(ttl) + ": a broadcast TTL is 1 to 255 (0 is for --multicast)");
        if (int rc = uv_udp_set_ttl(socket_.get(), static_cast<int>(ttl)); rc < 0)
          throw RuntimeError(uv_message("setting --ttl " + std::to_string(ttl), rc));
      }
    }
    ctx_.log().debug("sending to {}", format_address(d));

    DatagramSource::Options so;
    for (const auto& m : opts_.get_list(opt("message"))) so.messages.push_back(m);
    if (opts_.has(opt("chunk"))) so.chunk = opts_.get_size(opt("chunk"));
    so.keep_newline = opts_.get_bool(opt("keep-newline"));
    so.max_size = max_udp_payload(d->sa_family);
    so.count = static_cast<uint64_t>(opts_.get_int(opt("count")));
    if (opts_.has(opt("interval"))) so.interval = opts_.get_duration(opt("interval"));
    source_ = std::make_unique<DatagramSource>(ctx_.loop(), so);
    source_->start([this](std::string payload) { return send(std::move(payload)); },
                   [this](int status, size_t oversize) {
                     if (oversize)
                       return fail("a datagram of " + std::to_string(oversize) + " bytes is larger than the UDP limit of " +
                                   std::to_string(max_udp_payload(reinterpret_cast<sockaddr*>(&dest_)->sa_family)) +
                                   " bytes; nothing of it was sent");
                     if (status < 0) return fail(datagram_source_error(status));
                     source_done_ = true;
                     maybe_done();
                   });
  }

  void shutdown() override { abort(); }
  void abort() override {
    source_.reset();
    socket_.close();
  }

 private:
  // A group or 0.0.0.0 is a mistake whatever the network: exit 2. Any other
  // address may be a directed broadcast to a subnet this host is not on
  // (routers may forward those), and only the interfaces' netmasks tell it
  // from a unicast address, so one that matches no local broadcast address
  // is sent as asked, with a warning that it may reach a single host.
  void check_broadcast_address(const std::string& text, in_addr address) {
    uint32_t host = ntohl(address.s_addr);
    if (IN_MULTICAST(host)) throw ConfigError("--address " + text + " is a multicast group: use --multicast " + text);
    if (host == INADDR_ANY) throw ConfigError("--address 0.0.0.0 is not a broadcast address (this host only)");
    if (host == INADDR_BROADCAST) return;
    std::string iface = opts_.has(opt("interface")) ? opts_.get_string(opt("interface")) : "";
    std::string known;
    for (const auto& [name, broadcast] : local_broadcasts(iface)) {
      if (broadcast.s_addr == address.s_addr) return;
      char buf[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &broadcast, buf, sizeof buf);
      known += (known.empty() ? "" : ", ") + (iface.empty() ? name + " " : "") + buf;
    }
    ctx_.log().warn("--address {} is not the broadcast address of {} ({}): sent anyway, but unless it is a remote "
                    "subnet's broadcast it reaches one host, not a subnet",
                    text, iface.empty() ? "any local interface" : iface, known.empty() ? "none found" : known);
  }

  // Tears down from a fresh loop iteration: fail() may be called from inside
  // the datagram source or a libuv callback of what it closes.
  void fail(const std::string& message) {
    ctx_.log().error("{}", message);
    ctx_.set_exit_code(kExitRuntime);
    std::weak_ptr<bool> alive = alive_;
    post(ctx_.loop(), [this, alive] {
      if (alive.lock()) abort();
    });
  }

  bool send(std::string payload) {
    int rc = send_datagram(socket_.get(), std::move(payload), reinterpret_cast<const sockaddr*>(&dest_),
                           [this](int status, size_t bytes) { sent(status, bytes); });
    if (rc < 0) {
      sent(rc, 0);
      return false;
    }
    ++in_flight_;
    return in_flight_ < 256;  // libuv batches queued sends with sendmmsg
  }

  void sent(int status, size_t bytes) {
    if (in_flight_ > 0) --in_flight_;
    if (status < 0) {
      std::string hint;
      if (status == UV_EACCES) hint = " (broadcast refused: is SO_BROADCAST allowed, or a firewall in the way?)";
      if (status == UV_ENETUNREACH || status == UV_EHOSTUNREACH)
        hint = " (no route for it: name an interface with --interface, or a subnet broadcast with --address)";
      if (status == UV_EADDRNOTAVAIL) hint = " (the interface has no usable address)";
      return fail("sending to " + format_address(reinterpret_cast<sockaddr*>(&dest_)) + ": " + uv_strerror(status) + hint);
    }
    ctx_.counters().bytes_sent += bytes;
    if (source_ && in_flight_ < 64) source_->resume();
    maybe_done();
  }

  void maybe_done() {
    if (!source_done_ || in_flight_ > 0) return;
    std::weak_ptr<bool> alive = alive_;
    post(ctx_.loop(), [this, alive] {
      if (alive.lock()) abort();
    });
  }

  Context& ctx_;
  const OptionValues& opts_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  Handle<uv_udp_t> socket_;
  std::unique_ptr<DatagramSource> source_;
  sockaddr_storage dest_{};
  size_t in_flight_ = 0;
  bool source_done_ = false;
};

std::unique_ptr<Command> create(Context& ctx) { return std::make_unique<UdpBroadcast>(ctx); }

const PluginInfo kInfo{NETTOOL_PLUGIN_ABI,
                       "udp-broadcast",
                       "1.0",
                       "broadcast (or multicast) datagrams to PORT, once or as a beacon",
                       "PORT",
                       kOptions,
                       std::size(kOptions),
                       &create};

}  // namespace

NETTOOL_DEFINE_PLUGIN(kInfo)
