// `nettool tcp-connect -z ADDRESS PORT[,...]` answered by the launcher itself,
// so that a port check costs what `nc -z` does: the front end would map
// libstdc++, libuv, spdlog and the runtime first, about 7 ms of the dynamic
// loader's work on our 2-core VM, against under 1 ms for the check itself.
//
// Honest by construction: this file takes a line only when it understands
// every word of it, and then does exactly what the front end and the
// tcp-connect plugin do (same checks, same lines on stderr, same exit codes;
// tests/e2e/test_quick_port_check.cpp runs each line both ways and compares).
// Any other line, including every line the front end would refuse, goes to
// the front end untouched, so no usage error is ever made or missed here.
// What it takes: the global -v/-q, -z -n -4 -6 -w (seconds or ms), an IPv4 or
// IPv6 address (not a name: resolving is the runtime's), and ports as numbers,
// ranges and lists. NETTOOL_PLUGIN_PATH (another tcp-connect may come first)
// or NETTOOL_NO_QUICK_CHECK sends every line to the front end.
//
// libc only, like launcher.cpp: no std::string, no exceptions, no libuv
// (uv.h is read for its table of error messages, which the front end prints).
#include "quick_port_check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace nettool::launcher {

namespace {

constexpr int kExitRuntime = 1;
constexpr int64_t kZeroDefaultTimeoutMs = 5000;  // tcp-connect: `-z` without -w must not stall on a filtered port
constexpr size_t kMaxPortItems = 64;          // a longer list is the front end's to read

struct PortRange {
  unsigned first, last;
};

// The line, once understood.
struct Check {
  int verbosity = 0;  // as the front end counts it: each v adds one, q sets -1
  bool zero = false, numeric = false, ipv4 = false, ipv6 = false, timeout_given = false;
  int64_t timeout_ms = 0;
  const char* host = nullptr;  // as typed: the messages show it so
  const char* ports = nullptr;
  PortRange ranges[kMaxPortItems];
  size_t range_count = 0;
  sockaddr_storage address{};
  socklen_t address_size = 0;
};

bool all_digits(const char* s, size_t n) {
  if (n == 0) return false;
  for (size_t i = 0; i < n; ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

// Digits only, at most 65535 (leading zeros allowed, as the option parser's from_chars reads them).
bool parse_port_number(const char* s, size_t n, unsigned& out) {
  if (!all_digits(s, n)) return false;
  unsigned long value = 0;
  for (size_t i = 0; i < n; ++i) {
    value = value * 10 + static_cast<unsigned>(s[i] - '0');
    if (value > 65535) return false;
  }
  out = static_cast<unsigned>(value);
  return true;
}

// "22", "20-30", "22,80,443-445": numbers only, none zero, none twice, no
// range reversed; anything else (a name, a space, an error) is not ours.
bool parse_ports(const char* text, Check& c) {
  static_assert(sizeof(unsigned long long) * 8 == 64);
  unsigned long long seen[65536 / 64] = {};
  const char* item = text;
  while (true) {
    const char* comma = std::strchr(item, ',');
    const size_t n = comma ? static_cast<size_t>(comma - item) : std::strlen(item);
    const char* dash = static_cast<const char*>(std::memchr(item, '-', n));
    PortRange r{};
    if (dash) {
      if (!parse_port_number(item, static_cast<size_t>(dash - item), r.first) ||
          !parse_port_number(dash + 1, n - static_cast<size_t>(dash - item) - 1, r.last) || r.first > r.last)
        return false;
    } else {
      if (!parse_port_number(item, n, r.first)) return false;
      r.last = r.first;
    }
    if (r.first == 0 || c.range_count == kMaxPortItems) return false;
    for (unsigned p = r.first; p <= r.last; ++p) {
      unsigned long long bit = 1ULL << (p % 64);
      if (seen[p / 64] & bit) return false;
      seen[p / 64] |= bit;
    }
    c.ranges[c.range_count++] = r;
    if (!comma) return true;
    item = comma + 1;
  }
}

// "5", "5s", "500ms": whole numbers in the units the option parser reads the same way.
bool parse_timeout(const char* text, int64_t& ms) {
  size_t digits = std::strspn(text, "0123456789");
  if (digits == 0 || digits > 9) return false;
  int64_t value = std::strtoll(text, nullptr, 10);
  const char* unit = text + digits;
  if (*unit == '\0' || std::strcmp(unit, "s") == 0) ms = value * 1000;
  else if (std::strcmp(unit, "ms") == 0) ms = value;
  else return false;
  return true;
}

// An address as the connector takes one without the resolver: IPv4 dotted
// quad, or IPv6 bare or in brackets, within -4/-6; no scope (%eth0).
bool parse_host(const char* host, Check& c) {
  char inner[INET6_ADDRSTRLEN + 2];
  size_t n = std::strlen(host);
  if (n == 0 || n >= sizeof inner) return false;
  if (host[0] == '[' && n > 2 && host[n - 1] == ']') {
    std::memcpy(inner, host + 1, n - 2);
    inner[n - 2] = '\0';
  } else {
    std::memcpy(inner, host, n + 1);
  }
  auto* v4 = reinterpret_cast<sockaddr_in*>(&c.address);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&c.address);
  if (!c.ipv6 && inet_pton(AF_INET, inner, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    c.address_size = sizeof *v4;
    return true;
  }
  if (!c.ipv4 && inet_pton(AF_INET6, inner, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    c.address_size = sizeof *v6;
    return true;
  }
  return false;
}

// One word after the command that starts with '-'. `next` is the following
// word (or null); `used_next` says it was taken as the value.
bool take_option(const char* word, const char* next, bool& used_next, Check& c) {
  auto once = [](bool& flag) {
    if (flag) return false;  // given twice: the front end's call
    flag = true;
    return true;
  };
  auto timeout = [&c](const char* value) {
    if (c.timeout_given || value == nullptr) return false;
    c.timeout_given = true;
    return parse_timeout(value, c.timeout_ms);
  };
  if (std::strcmp(word, "--zero") == 0) return once(c.zero);
  if (std::strcmp(word, "--numeric") == 0) return once(c.numeric);
  if (std::strcmp(word, "--ipv4") == 0) return once(c.ipv4);
  if (std::strcmp(word, "--ipv6") == 0) return once(c.ipv6);
  if (std::strcmp(word, "--verbose") == 0) {
    ++c.verbosity;
    return true;
  }
  if (std::strcmp(word, "--quiet") == 0) {
    c.verbosity = -1;
    return true;
  }
  if (std::strncmp(word, "--timeout=", 10) == 0) return timeout(word + 10);
  if (std::strcmp(word, "--timeout") == 0) {
    used_next = true;
    return timeout(next);
  }
  if (word[1] == '-' || word[1] == '\0') return false;
  // A cluster, read as the front end splits it: v and q are global, the rest
  // tcp-connect's; w takes the rest of the word, or the next word.
  for (const char* p = word + 1; *p; ++p) {
    switch (*p) {
      case 'v': ++c.verbosity; break;
      case 'q': c.verbosity = -1; break;
      case 'z': if (!once(c.zero)) return false; break;
      case 'n': if (!once(c.numeric)) return false; break;
      case '4': if (!once(c.ipv4)) return false; break;
      case '6': if (!once(c.ipv6)) return false; break;
      case 'w':
        if (p[1] != '\0') return timeout(p + 1);
        used_next = true;
        return timeout(next);
      default: return false;
    }
  }
  return true;
}

bool read_line(int argc, char** argv, Check& c) {
  int i = 1;
  // Global flags before the command: only those that change the verbosity.
  for (; i < argc && argv[i][0] == '-'; ++i) {
    const char* a = argv[i];
    if (std::strcmp(a, "--verbose") == 0) ++c.verbosity;
    else if (std::strcmp(a, "-q") == 0 || std::strcmp(a, "--quiet") == 0) c.verbosity = -1;
    else if (a[1] != '\0' && std::strspn(a + 1, "v") == std::strlen(a + 1)) c.verbosity += static_cast<int>(std::strlen(a + 1));
    else return false;
  }
  if (i >= argc || std::strcmp(argv[i], "tcp-connect") != 0) return false;
  for (++i; i < argc; ++i) {
    const char* a = argv[i];
    if (a[0] == '-' && a[1] != '\0') {
      bool used_next = false;
      if (!take_option(a, i + 1 < argc ? argv[i + 1] : nullptr, used_next, c)) return false;
      if (used_next) ++i;
    } else if (a[0] == '\0' || a[0] == '-') {
      return false;  // "" or "-"
    } else if (!c.host) {
      c.host = a;
    } else if (!c.ports) {
      c.ports = a;
    } else {
      return false;
    }
  }
  // -4 with -6, -vv (trace) and a missing word are the front end's.
  return c.zero && c.host && c.ports && !(c.ipv4 && c.ipv6) && c.verbosity < 2 && parse_host(c.host, c) &&
         parse_ports(c.ports, c);
}

// ---- output: the front end's log lines ("nettool tcp-connect: LEVEL: text")

enum Level { kDebug, kInfo, kError };

void log_line(const Check& c, Level level, const char* format, ...) {
  const int threshold = c.verbosity < 0 ? kError : c.verbosity == 0 ? kInfo : kDebug;
  if (level < threshold) return;
  static const char* const kNames[] = {"debug", "info", "error"};
  char line[1024];  // the longest: "no open port in" 64 ranges (768 characters)
  int n = std::snprintf(line, sizeof line, "nettool tcp-connect: %s: ", kNames[level]);
  va_list args;
  va_start(args, format);
  n += std::vsnprintf(line + n, sizeof line - static_cast<size_t>(n) - 1, format, args);
  va_end(args);
  if (n > static_cast<int>(sizeof line) - 2) n = sizeof line - 2;
  line[n++] = '\n';
  for (ssize_t off = 0; off < n;) {  // one write(2) per line, as the front end's logger does
    ssize_t w = ::write(STDERR_FILENO, line + off, static_cast<size_t>(n - off));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    off += w;
  }
}

// libuv's message for an errno value, which is what the front end prints.
const char* uv_error_text(int err) {
  switch (-err) {
#define NETTOOL_UV_MESSAGE(name, message) \
  case UV_##name:                         \
    return message;
    UV_ERRNO_MAP(NETTOOL_UV_MESSAGE)
#undef NETTOOL_UV_MESSAGE
    default: return nullptr;
  }
}

void describe_error(int err, char* out, size_t size) {
  if (const char* text = uv_error_text(err)) std::snprintf(out, size, "%s", text);
  else std::snprintf(out, size, "Unknown system error %d", -err);  // libuv's words for the rest
}

// ---- signals: as the front end's runner, a first SIGINT/SIGTERM ends the check (exit 1)

volatile sig_atomic_t g_signal = 0;  // set by the handler, read once the wait returns

void on_signal(int signum) { g_signal = signum; }

// SIGINT and SIGTERM stay blocked except inside a probe's wait, so one that
// comes while a port answers at once stays pending and is taken before the
// next attempt (pending()). One the parent had blocked stays blocked, as the
// front end (libuv) leaves it.
class StopSignals {
 public:
  StopSignals() {
    sigprocmask(SIG_SETMASK, nullptr, &wait_mask_);  // the mask we came with, restored inside waits
    sigemptyset(&watched_);
    const int stop_signals[] = {SIGINT, SIGTERM};
    for (int signum : stop_signals) {
      if (sigismember(&wait_mask_, signum)) continue;
      sigaddset(&watched_, signum);
      struct sigaction action {};
      action.sa_handler = on_signal;
      sigaction(signum, &action, nullptr);
    }
    sigprocmask(SIG_BLOCK, &watched_, nullptr);
  }
  const sigset_t& wait_mask() const { return wait_mask_; }
  // A signal that came since the last look, taken (0: none).
  int pending() const {
    const timespec now{0, 0};
    int signum = sigtimedwait(&watched_, nullptr, &now);
    return signum > 0 ? signum : 0;
  }

 private:
  sigset_t watched_{}, wait_mask_{};
};

bool foreground_of_a_terminal() {
  int tty = ::open("/dev/tty", O_RDONLY | O_NOCTTY | O_CLOEXEC);
  if (tty < 0) return false;
  bool foreground = tcgetpgrp(tty) == getpgrp();
  ::close(tty);
  return foreground;
}

double seconds_since(const timespec& start) {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<double>(now.tv_sec - start.tv_sec) + static_cast<double>(now.tv_nsec - start.tv_nsec) / 1e9;
}

enum class Probe { kOpen, kClosed, kInterrupted };

// One connection attempt, as TcpConnector makes it: non-blocking connect,
// then wait at most `timeout_ms` (signals unblocked only inside the wait).
Probe probe(const Check& c, unsigned port, int64_t timeout_ms, const sigset_t& wait_mask, char* why, size_t why_size) {
  sockaddr_storage to = c.address;
  if (to.ss_family == AF_INET) reinterpret_cast<sockaddr_in*>(&to)->sin_port = htons(static_cast<uint16_t>(port));
  else reinterpret_cast<sockaddr_in6*>(&to)->sin6_port = htons(static_cast<uint16_t>(port));
  int fd = ::socket(to.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    char text[128];
    describe_error(errno, text, sizeof text);
    std::snprintf(why, why_size, "creating a TCP socket: %s", text);
    return Probe::kClosed;
  }
  int err = ::connect(fd, reinterpret_cast<const sockaddr*>(&to), c.address_size) == 0 ? 0 : errno;
  if (err == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    timespec deadline{};
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += static_cast<time_t>(timeout_ms / 1000);
    deadline.tv_nsec += static_cast<long>(timeout_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) ++deadline.tv_sec, deadline.tv_nsec -= 1000000000;
    int rc;
    do {
      timespec now{};
      clock_gettime(CLOCK_MONOTONIC, &now);
      int64_t left_ns = int64_t{deadline.tv_sec - now.tv_sec} * 1000000000 + (deadline.tv_nsec - now.tv_nsec);
      if (left_ns < 0) left_ns = 0;
      timespec left{static_cast<time_t>(left_ns / 1000000000), static_cast<long>(left_ns % 1000000000)};
      rc = ppoll(&p, 1, &left, &wait_mask);
    } while (rc < 0 && errno == EINTR && !g_signal);  // another signal's wake-up: wait out the rest
    if (rc < 0 && errno == EINTR) {
      ::close(fd);
      return Probe::kInterrupted;
    }
    if (rc == 0) {
      ::close(fd);
      std::snprintf(why, why_size, "timed out after %lld ms", static_cast<long long>(timeout_ms));
      return Probe::kClosed;
    }
    socklen_t len = sizeof err;
    if (rc < 0) err = errno;
    else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  }
  ::close(fd);
  if (err == 0) return Probe::kOpen;
  describe_error(err, why, why_size);
  return Probe::kClosed;
}

// The list as the option parser writes it back (format_ports): "80" for
// "080" or "80-80".
struct PortsText {
  char text[kMaxPortItems * 12];
};
PortsText ports_text(const Check& c) {
  PortsText out{};
  size_t n = 0;
  for (size_t r = 0; r < c.range_count; ++r) {
    const PortRange& range = c.ranges[r];
    const char* comma = r == 0 ? "" : ",";
    n += static_cast<size_t>(range.first == range.last
                                 ? std::snprintf(out.text + n, sizeof out.text - n, "%s%u", comma, range.first)
                                 : std::snprintf(out.text + n, sizeof out.text - n, "%s%u-%u", comma, range.first,
                                                 range.last));
  }
  return out;
}

// The -v summary line of the front end's runner: a port check sends and receives nothing.
void summary(const Check& c, unsigned open_ports, const timespec& started) {
  log_line(c, kDebug, "sent 0 B (0 bytes), received 0 B (0 bytes), %u connection(s), %.3f s, 0 B/s", open_ports,
           seconds_since(started));
}

int run(const Check& c) {
  timespec started{};
  clock_gettime(CLOCK_MONOTONIC, &started);
  const StopSignals signals;
  // A reader of stderr that has gone (`2>&1 | grep -q open`) is no reason to
  // die: the front end ignores SIGPIPE too, and the exit code still tells.
  signal(SIGPIPE, SIG_IGN);

  const int64_t timeout_ms = c.timeout_ms > 0 ? c.timeout_ms : kZeroDefaultTimeoutMs;
  unsigned open_ports = 0, count = 0;
  char why[256] = "";
  for (size_t r = 0; r < c.range_count; ++r) {
    for (unsigned port = c.ranges[r].first; port <= c.ranges[r].last; ++port, ++count) {
      if (int signum = signals.pending()) g_signal = signum;
      Probe result = g_signal ? Probe::kInterrupted : probe(c, port, timeout_ms, signals.wait_mask(), why, sizeof why);
      if (result == Probe::kInterrupted) {
        const char* name = g_signal == SIGINT ? "SIGINT" : "SIGTERM";
        if (g_signal == SIGINT && foreground_of_a_terminal())
          log_line(c, kInfo, "SIGINT received at the terminal: stopping now");
        else
          log_line(c, kInfo, "%s received, finishing transfers in flight (up to 5s; again to stop now)", name);
        log_line(c, kError, "interrupted before %s port %u answered", c.host, port);
        summary(c, open_ports, started);
        return kExitRuntime;
      }
      if (result == Probe::kOpen) {
        ++open_ports;
        log_line(c, kInfo, "%s port %u open", c.host, port);
      } else {
        log_line(c, kDebug, "cannot connect to %s port %u: %s", c.host, port, why);
      }
    }
  }
  if (open_ports == 0) {
    if (count == 1) log_line(c, kError, "cannot connect to %s port %u: %s", c.host, c.ranges[0].first, why);
    else log_line(c, kError, "no open port in %s on %s", ports_text(c).text, c.host);
  }
  summary(c, open_ports, started);
  return open_ports > 0 ? 0 : kExitRuntime;
}

}  // namespace

int quick_port_check(int argc, char** argv) {
  // As NETTOOL_NO_SPLICE: any value but empty or 0 counts.
  const char* off = std::getenv("NETTOOL_NO_QUICK_CHECK");
  if (std::getenv("NETTOOL_PLUGIN_PATH") || (off && *off && std::strcmp(off, "0") != 0)) return kNotQuick;
  Check c;
  if (!read_line(argc, argv, c)) return kNotQuick;
  return run(c);
}

}  // namespace nettool::launcher
