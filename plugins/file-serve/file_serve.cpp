// file-serve [--root DIR] [--listen ADDR:PORT | PORT]: a small, safe file
// server for HTTP clients (curl, wget, browsers, file-get) and for the notes'
// bare-name protocol (`echo name | nc host port > name`).
//
// This file (past 500 lines, as the workers and their shared limits read
// best together): options, the listening sockets, the workers (an accept loop with
// limits, allow/deny and EMFILE handling, on one event loop each), and
// shutdown. connection.cpp: one client (answer.cpp: what its request gets). root.cpp: opening paths under the
// root. digest_cache.cpp: SHA-256 for Repr-Digest. preconditions.cpp: the
// conditional request rules.
//
// With --workers N the server runs N workers: worker 0 on the runtime's loop,
// the others each on a thread with a loop of its own. Each has its own
// listening socket, all bound to the same address with SO_REUSEPORT, so the
// kernel spreads new connections over them. Workers share nothing but the
// digest cache (a mutex), the count of open connections (an atomic), the
// TLS context (a mutex: SIGHUP replaces it) and the settings they only read. The main thread reaches another worker only
// through that worker's uv_async_t.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "connection.h"
#include "nettool/connect.h"
#include "nettool/error.h"
#include "nettool/loop_log.h"
#include "nettool/net.h"
#include "nettool/option_groups.h"
#include "nettool/plugin.h"
#include "nettool/tls.h"
#include "nettool/unix.h"
#include "root.h"

namespace {

using namespace nettool;
using file_serve::Connection;
using nettool::UniqueFd;

constexpr int kMaxWorkers = 64;

constexpr OptionSpec kOwnOptions[] = {
    {"port", 0, OptionType::Port, "8000", "port to listen on (0 picks a free one, logged)", "PORT", 0, false},
    {"listen", 'l', OptionType::String, "",
     "address and port to listen on: ADDR:PORT, [V6]:PORT or :PORT; or a Unix socket: unix:/PATH, unix:@NAME",
     "ADDR:PORT"},
    {"root", 'r', OptionType::Path, ".", "directory to serve (from a profile: relative to the profile's folder)", "DIR"},
    // python3 -m http.server's spellings, so its users' lines work as typed.
    {.name = "directory", .short_flag = 'd', .type = OptionType::Path,
     .help = "the same as --root (python3 -m http.server's -d)", .value_name = "DIR"},
    {.name = "bind", .short_flag = 'b', .type = OptionType::String,
     .help = "address to listen on, with the port from PORT (python3 -m http.server's -b): 127.0.0.1, ::1 or a name",
     .value_name = "ADDR"},
    {"workers", 0, OptionType::String, "1",
     "threads serving connections, each with its own listening socket (SO_REUSEPORT) and event loop: 1 to 64, or "
     "auto (one per CPU this process may run on)",
     "N|auto"},
    {.name = "max-connections", .short_flag = 'm', .type = OptionType::Int, .default_value = "1024",
     .help = "answer 503 beyond this many open connections (all workers together)", .min = 1},
    {.name = "idle-timeout", .short_flag = 'i', .type = OptionType::Duration, .default_value = "30s",
     .help = "close a connection idle (or sending an incomplete request, or not reading) this long", .min = 1},
    {.name = "digest", .type = OptionType::String, .default_value = "sha-256", .help = "Repr-Digest header: sha-256 or off",
     .choices = "sha-256|off"},
    {"listing", 0, OptionType::Bool, "true", "HTML listing of directories without index.html (--no-listing: 403)"},
    {"allow-hidden", 0, OptionType::Bool, "", "serve dot files and dot directories"},
    {"open-file-cache", 0, OptionType::Bool, "true",
     "keep files of up to 64 KiB open for a second between requests (and the bytes of those up to 16 KiB), as "
     "lighttpd does: a file changed, deleted or replaced is seen at once, a chmod within the second "
     "(--no-open-file-cache: open and read the file for every request)"},
    {"ipv4", '4', OptionType::Bool, "", "listen on IPv4 only (default: IPv6 and IPv4)"},
    {.name = "tls-ktls", .type = OptionType::Bool,
     .help = "with --tls: let the kernel encrypt (kTLS) so file bodies go out with sendfile, uncopied; needs the "
             "kernel's `tls` module, else OpenSSL encrypts as without it"},
};
constexpr auto kOptions = join_options(kOwnOptions, kUnixModeOptions, kListenOptions, kTlsServerOptions);
// Every option read below goes through opt(): a name not in kOptions does not compile.
consteval std::string_view opt(std::string_view name) { return checked_option<kOptions>(name); }

// --workers: "auto" or a number from 1 to kMaxWorkers.
int parse_workers(const std::string& text) {
  if (text == "auto") {
    cpu_set_t cpus;
    int n = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus)
                                                          : static_cast<int>(std::thread::hardware_concurrency());
    return std::clamp(n, 1, kMaxWorkers);
  }
  int n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || n < 1 || n > kMaxWorkers)
    throw ConfigError("--workers: expected a number from 1 to " + std::to_string(kMaxWorkers) + " or 'auto', got '" +
                      text + "'");
  return n;
}

// Which of two options that name the same thing applies: `alias`
// (python3 -m http.server's spelling) when given, unless `option` comes from
// a later place (the command line beats the profile). Both from one place
// contradict each other.
bool alias_applies(const OptionValues& opts, std::string_view alias, std::string_view option) {
  if (!opts.given(alias)) return false;
  if (!opts.given(option)) return true;
  if (opts.source(alias) == opts.source(option))
    throw ConfigError("--" + std::string(alias) + " and --" + std::string(option) + " exclude each other");
  return opts.source(alias) == ValueSource::CommandLine;
}

// The directory to serve: --root, or -d/--directory.
std::string root_to_serve(const OptionValues& opts) {
  return opts.get_string(alias_applies(opts, opt("directory"), opt("root")) ? opt("directory") : opt("root"));
}

// -b ADDR as a --listen ADDR:PORT with the port from PORT (or --port, or
// 8000), when it applies (see alias_applies).
std::optional<std::string> bind_to_apply(const OptionValues& opts) {
  if (!alias_applies(opts, opt("bind"), opt("listen"))) return std::nullopt;
  std::string host = opts.get_string(opt("bind"));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty() || host.starts_with("unix:") || host.find_first_of("[]/") != std::string::npos)
    throw ConfigError("--bind: expected an address or host name, got '" + host +
                      "' (for a Unix socket: --listen unix:/PATH)");
  uint16_t number = opts.get_port(opt("port"));
  // -b replaces an address: a profile's listen: ADDR:PORT keeps its port
  // unless PORT comes from the command line too.
  if (opts.source(opt("port")) != ValueSource::CommandLine && opts.source(opt("listen")) == ValueSource::Profile) {
    const std::string& listen = opts.get_string(opt("listen"));
    if (size_t colon = listen.rfind(':'); !listen.starts_with("unix:") && colon != std::string::npos)
      number = parse_port(listen.substr(colon + 1));
  }
  const std::string port = std::to_string(number);
  return host.find(':') == std::string::npos ? host + ":" + port : "[" + host + "]:" + port;
}

// The --listen that applies, "" for PORT on every address. The command line
// beats the profile, so a PORT typed there replaces the port of the
// profile's listen: and keeps its address; a profile's Unix socket has no
// port to replace, and gives way to PORT on every address, as `file-serve
// PORT` alone listens. --listen and PORT from the same place contradict
// each other (which port was meant?), so neither is guessed at.
std::string listen_to_apply(const OptionValues& opts, spdlog::logger& log) {
  if (std::optional<std::string> bind = bind_to_apply(opts)) return *bind;
  if (!opts.has(opt("listen"))) return "";
  const std::string& listen = opts.get_string(opt("listen"));
  const ValueSource listen_from = opts.source(opt("listen")), port_from = opts.source(opt("port"));
  if (listen_from == port_from) {
    if (listen_from == ValueSource::CommandLine)
      throw ConfigError("--listen and PORT (--port) exclude each other: give the port in --listen ADDR:PORT");
    throw ConfigError("the profile's listen: and port: exclude each other: give the port in listen: ADDR:PORT");
  }
  if (port_from != ValueSource::CommandLine) return listen;  // no PORT, or the profile's, which --listen beats
  // listen: from the profile, PORT from the command line.
  const uint16_t port = opts.get_port(opt("port"));
  // A profile that serves on a Unix socket (behind a proxy, say) must not be
  // turned into a server on every network address by a PORT.
  if (listen.starts_with("unix:"))
    throw ConfigError("the profile listens on " + listen +
                      ", which has no port: a PORT cannot change it (give --listen ADDR:PORT to serve on TCP)");
  const size_t colon = listen.rfind(':');
  std::string applied = colon == std::string::npos ? listen : listen.substr(0, colon + 1) + std::to_string(port);
  log.info("PORT {} from the command line overrides the profile's listen: {}; its address is kept", port, listen);
  return applied;
}

// The TLS context new connections start with. SIGHUP replaces it (a renewed
// certificate); connections already open keep the one they started with.
// Read by every worker at each accept, hence the mutex.
class TlsContextSlot {
 public:
  std::shared_ptr<TlsContext> get() const {
    std::lock_guard lock(mutex_);
    return context_;
  }
  void set(std::shared_ptr<TlsContext> context) {
    std::lock_guard lock(mutex_);
    context_ = std::move(context);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<TlsContext> context_;
};

// What every worker reads, and nobody writes once the workers run (the TLS
// slot guards its own changes).
struct Config {
  int root_fd = -1;
  file_serve::ServerSettings settings;
  std::vector<Cidr> allow, deny;
  size_t max_connections = 1024;
  TlsContextSlot* tls = nullptr;  // null without --tls
  bool kernel_tls = false;        // --tls-ktls
  bool open_file_cache = true;    // --open-file-cache
  std::string unix_client;        // how logs name a client of --listen unix:/PATH
};

// One accept loop and the connections it accepted, on one event loop. Used
// only on that loop's thread; its counters are read by others only after the
// thread ended.
class Worker {
 public:
  Worker(int index, uv_loop_t* loop, spdlog::logger& log, Counters& counters, const Config& config,
         file_serve::DigestCache& digests, std::atomic<size_t>& open_connections)
      : index_(index),
        loop_log_(loop, log),
        log_(loop_log_.logger()),
        config_(config),
        open_connections_(open_connections),
        digester_(loop, digests, &log_),
        open_files_(loop) {
    shared_.loop = loop;
    shared_.log = &log_;
    shared_.counters = &counters;
    shared_.root_fd = config.root_fd;
    shared_.digests = &digester_;
    if (config.open_file_cache) shared_.open_files = &open_files_;
    shared_.settings = config.settings;
    shared_.kernel_tls_asked = config.kernel_tls;
    std::weak_ptr<bool> alive = alive_;
    shared_.on_closed = [this, alive](uint64_t id) {
      if (auto a = alive.lock(); a && *a) forget(id);
    };
    accept_pause_ = make_timer(loop, this);
  }
  ~Worker() {
    *alive_ = false;
    abort();
  }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Starts accepting on `fd`, a listening socket.
  void listen(UniqueFd fd) {
    listen_fd_ = std::move(fd);
    if (int rc = uv_poll_init_socket(shared_.loop, listener_.get(), listen_fd_.get()); rc < 0)
      throw RuntimeError(uv_message("watching the listening socket", rc));
    listener_.mark_initialized(this);
    uv_poll_start(listener_.get(), UV_READABLE, &Worker::on_listener);
  }

  // Stop accepting; finish the responses in flight, close idle connections.
  void shutdown() {
    shared_.draining = true;
    stop_listening();
    accept_pause_.close();
    // Copy: shutdown() may close (and later erase) connections.
    std::vector<std::shared_ptr<Connection>> all;
    for (auto& [id, c] : connections_) all.push_back(c);
    for (auto& c : all) c->shutdown();
  }

  // Close everything now.
  void abort() {
    stop_listening();
    accept_pause_.close();
    open_files_.close();
    loop_log_.close();
    std::vector<std::shared_ptr<Connection>> all;
    for (auto& [id, c] : connections_) all.push_back(c);
    for (auto& c : all) c->abort();
    open_connections_ -= connections_.size();
    connections_.clear();
  }

  int index() const { return index_; }
  uint64_t connections_accepted() const { return accepted_; }
  uint64_t requests() const { return shared_.requests; }

 private:
  void stop_listening() {
    listener_.close();
    listen_fd_.reset();
  }

  void forget(uint64_t id) {
    if (connections_.erase(id) > 0) --open_connections_;
  }

  static void on_listener(uv_poll_t* handle, int status, int) {
    auto* self = static_cast<Worker*>(handle->data);
    if (self && status >= 0) self->accept_ready();
  }

  void accept_ready() {
    for (int i = 0; i < 128; ++i) {  // bounded, so a connection flood cannot monopolise the loop
      sockaddr_storage peer{};
      socklen_t len = sizeof peer;
      int fd = ::accept4(listen_fd_.get(), reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          // Out of descriptors: the client waits in the backlog. Stop watching
          // the listener for a moment instead of spinning on it.
          warn_rate_limited(std::string("accept: ") + std::strerror(errno) + "; pausing new connections for 250 ms");
          uv_poll_stop(listener_.get());
          uv_timer_start(
              accept_pause_.get(),
              [](uv_timer_t* t) {
                auto* s = static_cast<Worker*>(t->data);
                if (s && s->listener_.is_open()) uv_poll_start(s->listener_.get(), UV_READABLE, &Worker::on_listener);
              },
              250, 0);
          return;
        }
        warn_rate_limited(std::string("accept: ") + std::strerror(errno));
        return;
      }
      UniqueFd client(fd);
      const sockaddr* addr = reinterpret_cast<const sockaddr*>(&peer);
      std::string who = addr->sa_family == AF_UNIX ? config_.unix_client : format_address(addr);
      if (!address_allowed(addr, config_.allow, config_.deny)) {
        log_.info("{} refused by --allow/--deny", who);
        continue;
      }
      // Counted before the check, so workers accepting at the same moment
      // cannot together go past the limit.
      if (open_connections_.fetch_add(1) >= config_.max_connections) {
        --open_connections_;
        static constexpr char kBusy[] =
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 24\r\n"
            "Connection: close\r\nRetry-After: 1\r\n\r\n503 Service Unavailable\n";
        if (!config_.tls) {  // a TLS client would read clear text as a broken record: it just gets the close
          ssize_t ignored = ::send(client.get(), kBusy, sizeof kBusy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
          (void)ignored;
        }
        warn_rate_limited(who + ": 503, --max-connections " + std::to_string(config_.max_connections) + " reached");
        continue;
      }
      shared_.counters->connections++;
      ++accepted_;
      std::unique_ptr<TlsSocket> tls;
      if (config_.tls) {
        try {
          tls = config_.tls->get()->on_socket(client.get(), config_.kernel_tls);
        } catch (const std::exception& e) {
          --open_connections_;
          warn_rate_limited(who + ": " + e.what());
          continue;
        }
      }
      uint64_t id = next_id_++;
      auto conn = std::make_shared<Connection>(shared_, id, std::move(client), who, std::move(tls));
      connections_.emplace(id, conn);
      conn->start();
    }
  }

  void warn_rate_limited(const std::string& message) {
    auto now = std::chrono::steady_clock::now();
    if (now - last_warning_ < std::chrono::seconds(1)) return;
    last_warning_ = now;
    log_.warn("{}", message);
  }

  int index_;
  // The worker's lines (an access-log line per request) go out once per loop
  // iteration, not with a write(2) each under the console's lock.
  LoopLog loop_log_;
  spdlog::logger& log_;
  const Config& config_;
  std::atomic<size_t>& open_connections_;  // all workers together, for --max-connections
  file_serve::Digester digester_;
  file_serve::OpenFileCache open_files_;
  file_serve::ServerShared shared_;
  UniqueFd listen_fd_;
  Handle<uv_poll_t> listener_;  // declared after listen_fd_: closed before the fd is
  Handle<uv_timer_t> accept_pause_;
  std::map<uint64_t, std::shared_ptr<Connection>> connections_;
  uint64_t next_id_ = 1;
  uint64_t accepted_ = 0;
  std::chrono::steady_clock::time_point last_warning_{};
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// A Worker on a thread of its own, with a loop of its own. The main thread
// tells it to drain or abort through `wake_` (uv_async_send is the one libuv
// call that is safe from another thread) and learns that it ended through
// the main loop's async handle given to start().
class WorkerThread {
 public:
  enum Request { kNone = 0, kDrain = 1, kAbort = 2 };

  explicit WorkerThread(spdlog::logger& log) : log_(log) {}

  // Separate from the constructor so that the destructor cleans up after a
  // failure half-way.
  void init(int index, const Config& config, file_serve::DigestCache& digests, std::atomic<size_t>& open_connections) {
    if (int rc = uv_loop_init(&loop_); rc < 0) throw RuntimeError(uv_message("worker event loop", rc));
    loop_open_ = true;
    if (int rc = uv_async_init(&loop_, wake_.get(), &WorkerThread::on_wake); rc < 0)
      throw RuntimeError(uv_message("worker wake-up handle", rc));
    wake_.mark_initialized(this);
    wake_open_ = true;
    uv_unref(wake_.as_handle());  // the loop ends when the worker has nothing left, async or not
    worker_ = std::make_unique<Worker>(index, &loop_, log_, counters_, config, digests, open_connections);
  }

  ~WorkerThread() {
    if (thread_.joinable()) {
      request(kAbort);
      thread_.join();
    }
    close_loop();  // when the thread never ran; else a no-op
  }
  WorkerThread(const WorkerThread&) = delete;
  WorkerThread& operator=(const WorkerThread&) = delete;

  // Accepts on `fd` on a new thread; `exited` is signalled when it ends.
  void start(UniqueFd fd, uv_async_t* exited) {
    worker_->listen(std::move(fd));
    exited_ = exited;
    try {
      thread_ = std::thread([this] { run(); });
    } catch (const std::system_error& e) {
      throw RuntimeError(std::string("starting worker thread: ") + e.what());
    }
  }

  // From the main thread. A worker that already ended ignores it.
  void request(Request r) {
    std::lock_guard lock(wake_mutex_);
    if (!wake_open_) return;
    int current = pending_.load();
    while (current < r && !pending_.compare_exchange_weak(current, r)) {
    }
    uv_async_send(wake_.get());
  }

  bool finished() const { return finished_.load(); }
  // After finished() (or to wait for it): joins the thread.
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  // Only after join().
  const Counters& counters() const { return counters_; }
  const Worker& worker() const { return *worker_; }

 private:
  void run() {
    // SIGINT/SIGTERM (and SIGHUP, the certificate reload) are the main loop's:
    // let the kernel deliver them there.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);  // until the listener and every connection are closed
    close_loop();
    finished_ = true;
    uv_async_send(exited_);
  }

  static void on_wake(uv_async_t* handle) {
    auto* self = static_cast<WorkerThread*>(handle->data);
    if (!self) return;
    int r = self->pending_.exchange(kNone);
    if (r >= kDrain) self->worker_->shutdown();
    if (r >= kAbort) self->worker_->abort();
  }

  // Closes every handle of the loop and the loop itself, on the thread that
  // runs it (or on the main thread when no thread was started).
  void close_loop() {
    if (!loop_open_) return;
    if (worker_) worker_->abort();
    {
      std::lock_guard lock(wake_mutex_);
      wake_open_ = false;
      wake_.close();  // a no-op when it was never initialised
    }
    uv_run(&loop_, UV_RUN_DEFAULT);  // close callbacks, posted connection clean-ups
    if (uv_loop_close(&loop_) != 0) log_.debug("worker event loop closed with handles still open");
    loop_open_ = false;
  }

  spdlog::logger& log_;
  uv_loop_t loop_{};
  bool loop_open_ = false;
  Counters counters_;
  Handle<uv_async_t> wake_;
  std::mutex wake_mutex_;  // wake_ is closed under it, so request() never sends to a closed handle
  bool wake_open_ = false;
  std::atomic<int> pending_{kNone};
  std::unique_ptr<Worker> worker_;  // after loop_ and wake_: destroyed before them
  uv_async_t* exited_ = nullptr;
  std::atomic<bool> finished_{false};
  std::thread thread_;
};

enum class PortUse { Exclusive, FirstOfGroup, JoinGroup };

// A bound, listening, non-blocking TCP socket. With several workers every
// socket has SO_REUSEPORT; the first is bound only after an exclusive probe
// (no SO_REUSEPORT) got the port, because SO_REUSEPORT lets any socket of the
// same user join a group: a second file-serve on the address must fail with
// EADDRINUSE, as it does with one worker, not quietly take half the requests.
// Invalid, with `errors` extended, on failure.
UniqueFd open_listener(const sockaddr* addr, int backlog, PortUse use, std::string& errors) {
  auto fail = [&](const char* what) {
    if (!errors.empty()) errors += "; ";
    errors += format_address(addr) + ": " + what + ": " + std::strerror(errno);
    return UniqueFd();
  };
  socklen_t len = addr->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  auto make = [&](bool reuse_port) {
    UniqueFd fd(::socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return fd;
    int one = 1, zero = 0;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuse_port && setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) return UniqueFd();
    if (addr->sa_family == AF_INET6) setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    return fd;
  };
  sockaddr_storage where{};
  std::memcpy(&where, addr, len);
  if (use == PortUse::FirstOfGroup) {
    UniqueFd probe = make(false);
    if (!probe.valid()) return fail("socket");
    if (::bind(probe.get(), addr, len) != 0) return fail("bind");
    socklen_t wlen = sizeof where;
    getsockname(probe.get(), reinterpret_cast<sockaddr*>(&where), &wlen);  // port 0: the one it got
  }  // the probe closes here, and the group takes the port at once
  UniqueFd fd = make(use != PortUse::Exclusive);
  if (!fd.valid()) return fail(use == PortUse::Exclusive ? "socket" : "socket with SO_REUSEPORT");
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&where), len) != 0) return fail("bind");
  if (::listen(fd.get(), backlog) != 0) return fail("listen");
  return fd;
}

class FileServe final : public Command {
 public:
  explicit FileServe(Context& ctx) : ctx_(ctx), opts_(ctx.options()) {}
  ~FileServe() override {
    abort();
    for (auto& t : threads_) collect(*t);
    exited_.close();
    if (threads_.empty()) return;
    auto line = [&](const Worker& w) {
      ctx_.log().debug("worker {}: {} connection(s), {} request(s)", w.index(), w.connections_accepted(), w.requests());
    };
    if (main_) line(*main_);
    for (auto& t : threads_) line(t->worker());
  }

  void start() override {
    int workers = parse_workers(opts_.get_string(opt("workers")));
    std::string digest = opts_.get_string(opt("digest"));
    listen_ = listen_options(opts_);

    const std::string root = root_to_serve(opts_);
    root_.reset(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!root_.valid()) throw RuntimeError("--root " + root + ": " + std::strerror(errno));
    if (std::string problem = file_serve::proc_self_fd_problem(root_.get()); !problem.empty())
      throw RuntimeError("file-serve reopens each file it serves through /proc/self/fd (so the file checked is the file sent), "
                         "and cannot here (is /proc mounted?): " + problem);

    config_.root_fd = root_.get();
    config_.settings.listing = opts_.get_bool(opt("listing"));
    config_.settings.allow_hidden = opts_.get_bool(opt("allow-hidden"));
    config_.settings.digest = digest != "off";
    config_.settings.idle_timeout = opts_.get_duration(opt("idle-timeout"));
    config_.allow = listen_.allow;
    config_.deny = listen_.deny;
    config_.max_connections = static_cast<size_t>(opts_.get_int(opt("max-connections")));
    start_tls();

    std::vector<UniqueFd> sockets = open_listeners(workers);
    main_ = std::make_unique<Worker>(0, ctx_.loop(), ctx_.log(), ctx_.counters(), config_, digests_, open_connections_);
    main_->listen(std::move(sockets[0]));
    if (workers > 1) {
      if (int rc = uv_async_init(ctx_.loop(), exited_.get(), &FileServe::on_worker_exited); rc < 0)
        throw RuntimeError(uv_message("worker exit handle", rc));
      exited_.mark_initialized(this);
      for (int i = 1; i < workers; ++i) {
        threads_.push_back(std::make_unique<WorkerThread>(ctx_.log()));
        threads_.back()->init(i, config_, digests_, open_connections_);
        threads_.back()->start(std::move(sockets[static_cast<size_t>(i)]), exited_.get());
      }
    }
    ctx_.log().info("listening on {}", bound_);
    if (workers > 1) {
      ctx_.log().info("serving {} on {} with {} workers", root, bound_, workers);
    } else {
      ctx_.log().info("serving {} on {}", root, bound_);
    }
  }

  void shutdown() override {
    reload_.close();
    unix_file_.remove();  // nothing new can connect through it
    if (main_) main_->shutdown();
    for (auto& t : threads_) t->request(WorkerThread::kDrain);
  }

  void abort() override {
    reload_.close();
    unix_file_.remove();
    if (main_) main_->abort();
    for (auto& t : threads_) t->request(WorkerThread::kAbort);
  }

 private:
  // --tls: the context, and SIGHUP to load the certificate again.
  void start_tls() {
    tls_options_ = tls_server_options(opts_);
    config_.kernel_tls = opts_.get_bool(opt("tls-ktls"));
    config_.open_file_cache = opts_.get_bool(opt("open-file-cache"));
    if (config_.kernel_tls) tls_options_.enabled = true;
    if (!tls_options_.enabled) return;
    tls_options_.alpn = {"http/1.1"};
    tls_options_.session_tickets = true;  // browsers and curl resume
    tls_slot_.set(make_tls_server_context(tls_options_, ctx_.log()));
    config_.tls = &tls_slot_;
    config_.settings.tls_handshake_timeout = tls_options_.handshake_timeout;
    if (int rc = uv_signal_init(ctx_.loop(), reload_.get()); rc < 0)
      throw RuntimeError(uv_message("SIGHUP handler", rc));
    reload_.mark_initialized(this);
    uv_signal_start(reload_.get(), &FileServe::on_reload, SIGHUP);
    uv_unref(reload_.as_handle());  // not a reason to keep running
  }

  static void on_reload(uv_signal_t* handle, int) {
    auto* self = static_cast<FileServe*>(handle->data);
    if (self) self->reload_certificate();
  }

  // A failed reload keeps the certificate in use: a renewal gone wrong must
  // not take the server down.
  void reload_certificate() {
    if (tls_options_.cert.empty()) {
      ctx_.log().info("tls: SIGHUP: no --tls-cert to reload; the self-signed certificate stays");
      return;
    }
    try {
      auto context = make_tls_server_context(tls_options_, ctx_.log());
      std::string pin = context->certificate_pin();
      tls_slot_.set(std::move(context));
      ctx_.log().info("tls: SIGHUP: certificate reloaded from {}, pin {}; new connections use it",
                      tls_options_.cert, pin);
    } catch (const std::exception& e) {
      ctx_.log().error("tls: SIGHUP: keeping the certificate in use: {}", e.what());
    }
  }

  // `count` listening sockets on the one address: the first that works of
  // the candidates, the others on the address (and port) it got.
  std::vector<UniqueFd> open_listeners(int count) {
    std::string spec = listen_to_apply(opts_, ctx_.log());
    std::optional<UnixAddress> unix = parse_unix_address(spec);
    std::optional<mode_t> mode = unix_mode_option(opts_, unix);
    if (unix) {
      // One socket: Unix sockets have no SO_REUSEPORT, so the workers all
      // watch it, and whichever accepts first serves the client.
      if (!listen_.allow.empty() || !listen_.deny.empty())
        throw ConfigError("--allow/--deny are for TCP, not " + unix->to_string());
      std::vector<UniqueFd> sockets;
      sockets.push_back(listen_unix(*unix, mode, listen_.backlog, ctx_.log(), unix_file_));
      for (int i = 1; i < count; ++i) {
        sockets.emplace_back(::fcntl(sockets[0].get(), F_DUPFD_CLOEXEC, 0));
        if (!sockets.back().valid()) throw RuntimeError(std::string("cannot listen for a worker: ") + std::strerror(errno));
      }
      bound_ = unix->to_string();
      config_.unix_client = bound_ + " client";
      return sockets;
    }
    std::string host;
    uint16_t port = opts_.get_port(opt("port"));
    if (!spec.empty()) {
      size_t colon = spec.rfind(':');
      if (colon == std::string::npos) {
        port = parse_port(spec);
      } else {
        host = spec.substr(0, colon);
        port = parse_port(spec.substr(colon + 1));
        if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
      }
    }
    std::vector<sockaddr_storage> addrs;
    if (!host.empty()) {
      ResolveOptions ro;
      ro.passive = true;
      ro.family = opts_.get_bool(opt("ipv4")) ? AF_INET : AF_UNSPEC;
      addrs = resolve_now(host, port, ro);
    } else {
      sockaddr_storage v6{}, v4{};
      uv_ip6_addr("::", port, reinterpret_cast<sockaddr_in6*>(&v6));
      uv_ip4_addr("0.0.0.0", port, reinterpret_cast<sockaddr_in*>(&v4));
      if (!opts_.get_bool(opt("ipv4"))) addrs.push_back(v6);
      addrs.push_back(v4);  // alone with -4, else the fallback for hosts without IPv6
    }
    int backlog = listen_.backlog;
    bool reuse_port = count > 1;
    std::string errors;
    for (const auto& ss : addrs) {
      std::vector<UniqueFd> sockets;
      sockets.push_back(open_listener(reinterpret_cast<const sockaddr*>(&ss), backlog,
                                      reuse_port ? PortUse::FirstOfGroup : PortUse::Exclusive, errors));
      if (!sockets[0].valid()) continue;
      // Port 0 picked a port: the other workers' sockets take the same one.
      sockaddr_storage bound{};
      socklen_t blen = sizeof bound;
      getsockname(sockets[0].get(), reinterpret_cast<sockaddr*>(&bound), &blen);
      bound_ = format_address(reinterpret_cast<sockaddr*>(&bound));
      for (int i = 1; i < count; ++i) {
        std::string error;
        sockets.push_back(open_listener(reinterpret_cast<const sockaddr*>(&bound), backlog, PortUse::JoinGroup, error));
        if (!sockets.back().valid()) throw RuntimeError("cannot listen for worker " + std::to_string(i) + ": " + error);
      }
      return sockets;
    }
    throw RuntimeError("cannot listen: " + errors);
  }

  static void on_worker_exited(uv_async_t* handle) {
    auto* self = static_cast<FileServe*>(handle->data);
    if (!self) return;
    bool all = true;
    for (auto& t : self->threads_) {
      if (t->finished()) {
        self->collect(*t);
      } else {
        all = false;
      }
    }
    if (all) self->exited_.close();  // nothing left to keep the main loop waiting for
  }

  // Joins an ended worker thread and adds its totals to the -v summary.
  void collect(WorkerThread& t) {
    if (collected_.count(&t)) return;
    t.join();
    collected_.insert(&t);
    const Counters& c = t.counters();
    ctx_.counters().bytes_sent += c.bytes_sent;
    ctx_.counters().bytes_received += c.bytes_received;
    ctx_.counters().connections += c.connections;
  }

  Context& ctx_;
  const OptionValues& opts_;
  ListenOptions listen_;  // --allow --deny --backlog
  Config config_;
  file_serve::DigestCache digests_;
  std::atomic<size_t> open_connections_{0};
  UniqueFd root_;
  std::string bound_;
  UnixSocketFile unix_file_;  // --listen unix:/PATH: removed at the end
  TlsServerOptions tls_options_;
  TlsContextSlot tls_slot_;  // before the workers, which read it
  Handle<uv_signal_t> reload_;  // SIGHUP, with --tls
  Handle<uv_async_t> exited_;  // on the main loop; keeps it running while worker threads do
  std::unique_ptr<Worker> main_;
  std::vector<std::unique_ptr<WorkerThread>> threads_;  // destroyed (joined) before what they read
  std::set<const WorkerThread*> collected_;
};

std::unique_ptr<Command> create(Context& ctx) { return std::make_unique<FileServe>(ctx); }

const PluginInfo kInfo{NETTOOL_PLUGIN_ABI,
                       "file-serve",
                       "1.0",
                       "serve a directory over HTTP/1.1 and the bare-name protocol",
                       "[PORT]",
                       kOptions.data(),
                       kOptions.size(),
                       &create};

}  // namespace

NETTOOL_DEFINE_PLUGIN(kInfo)
