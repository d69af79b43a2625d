// End-to-end test harness: start the real nettool binary (or a peer such as
// nc, ncat, socat) as a child process on loopback, feed it, capture what it
// prints, and talk to it over plain sockets.
//
// Rules the harness keeps so tests can run in parallel (ctest -j) and never
// hang or leak:
//  - every wait has a timeout;
//  - a Process is killed (SIGKILL, its whole process group, so --exec
//    children too) and reaped in its destructor, so a failing REQUIRE never
//    leaves a child or a zombie behind; and it dies with the test runner
//    (PR_SET_PDEATHSIG) if the runner itself is killed;
//  - listeners use port 0 on 127.0.0.1 / ::1 and report the port they got;
//  - files live in a per-test TempDir that is removed at the end;
//  - every descriptor the harness opens is close-on-exec, so one child never
//    inherits another's pipes or our sockets.
#pragma once
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace e2e {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Ms = std::chrono::milliseconds;

// Generous upper bounds. They only decide how long a broken build takes to
// fail; no test asserts that anything is fast.
inline constexpr Ms kStartTimeout = 10s;  // a listener printing its port
inline constexpr Ms kRunTimeout = 30s;    // one nettool run to completion
inline constexpr Ms kIoTimeout = 10s;     // one socket exchange
// A run expected to stop at once with a usage error: a server that started
// instead (the bug) is given up on this soon, not after kRunTimeout.
inline constexpr Ms kUsageTimeout = 5s;

// ---------------------------------------------------------------- paths

const fs::path& nettool_path();   // the nettool binary under test ($<TARGET_FILE:nettool>)
const fs::path& configs_dir();    // the example profiles (${CMAKE_SOURCE_DIR}/configs)
// {nettool, args...}
std::vector<std::string> nettool_argv(std::vector<std::string> args);

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  fs::path operator/(std::string_view name) const { return path_ / name; }

 private:
  fs::path path_;
};

// A tmpfs of `size` bytes (mount's "size=" syntax: "1m") mounted on `dir`,
// which is created: a disk that fills up. Needs root; when it cannot be
// mounted, mounted() is false and why() says why (the test then skips).
// Unmounted (lazily, whatever is still open in it) on scope exit.
class TmpfsMount {
 public:
  TmpfsMount(fs::path dir, const std::string& size);
  ~TmpfsMount();
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;
  bool mounted() const { return mounted_; }
  const std::string& why() const { return why_; }
  const fs::path& path() const { return dir_; }
  fs::path operator/(std::string_view name) const { return dir_ / name; }

 private:
  fs::path dir_;
  bool mounted_ = false;
  std::string why_;
};

// ---------------------------------------------------------------- processes

enum class Input { Null, File, Pipe };   // /dev/null, a file, a pipe we write to
enum class Output { File, Null, Pipe };  // a file, /dev/null, a pipe we read from

// How a Process is wired. Build it fluently:
//   ProcessOptions().stdin_from(file).stdout_to(other_file)
//   ProcessOptions().stdin_pipe().stdout_null()
struct ProcessOptions {
  Input in = Input::Null;
  fs::path in_file;    // with Input::File
  Output out = Output::File;
  fs::path out_file;   // with Output::File; empty = a file in the process's own temp dir
  fs::path err_file;   // stderr always goes to a file; empty = the process's own temp dir
  std::vector<std::pair<std::string, std::string>> env;  // set (or override) in the child

  ProcessOptions& stdin_null() { in = Input::Null; return *this; }
  ProcessOptions& stdin_from(fs::path file) { in = Input::File; in_file = std::move(file); return *this; }
  ProcessOptions& stdin_pipe() { in = Input::Pipe; return *this; }
  ProcessOptions& stdin_kind(Input kind, fs::path file = {}) { in = kind; in_file = std::move(file); return *this; }
  ProcessOptions& stdout_to(fs::path file) { out = Output::File; out_file = std::move(file); return *this; }
  ProcessOptions& stdout_null() { out = Output::Null; return *this; }
  ProcessOptions& stdout_pipe() { out = Output::Pipe; return *this; }
  ProcessOptions& stdout_kind(Output kind, fs::path file = {}) { out = kind; out_file = std::move(file); return *this; }
  ProcessOptions& stderr_to(fs::path file) { err_file = std::move(file); return *this; }
  ProcessOptions& setenv(std::string key, std::string value) {
    env.emplace_back(std::move(key), std::move(value));
    return *this;
  }
};

// One child process: fork/exec in its own process group, with default signal
// dispositions and an empty signal mask (the test runner ignores SIGPIPE;
// children must not inherit that), and PR_SET_PDEATHSIG so it dies with the
// thread that started it. Start processes from the test's main thread (or a
// thread that outlives them). argv[0] without a slash is looked up in PATH.
class Process {
 public:
  static constexpr int kTimedOut = -1;

  Process(std::vector<std::string> argv, ProcessOptions options = {});
  ~Process();  // SIGKILL to the process group if still running, then reap
  Process(Process&& other) noexcept;
  Process& operator=(Process&&) = delete;
  Process(const Process&) = delete;

  pid_t pid() const { return pid_; }
  const std::vector<std::string>& argv() const { return argv_; }
  std::string describe() const;  // the command line, for messages

  // Exit code (128+N when killed by signal N), or kTimedOut. Repeatable.
  int wait(Ms timeout = kRunTimeout);
  bool running();  // not exited yet (reaps it if it has)
  std::optional<int> exit_code() const { return exit_code_; }
  void signal(int signum);

  // stdin as a pipe (Input::Pipe). write_stdin returns false when the child
  // closed its end or the timeout passed before everything was written; then
  // `written` (if given) says how much did go, so a retry sends only the rest.
  int stdin_fd() const { return stdin_fd_; }
  bool write_stdin(std::string_view data, Ms timeout = kIoTimeout, size_t* written = nullptr);
  void close_stdin();

  // stdout as a pipe (Output::Pipe): everything until EOF, or what arrived
  // before the timeout. `complete` says whether EOF was reached.
  int stdout_fd() const { return stdout_fd_; }
  std::string read_stdout(Ms timeout = kRunTimeout, bool* complete = nullptr);
  // Input::Pipe and Output::Pipe together: writes `input` (then closes stdin)
  // while reading stdout, like Python's communicate(), so neither side blocks.
  std::string communicate(std::string_view input, Ms timeout = kRunTimeout);

  // Captured output (Output::File for stdout).
  const fs::path& stdout_path() const { return out_path_; }
  const fs::path& stderr_path() const { return err_path_; }
  std::string stdout_text() const;
  std::string stderr_text() const;

  // Polls stderr (or stdout) until `needle` appears; false on timeout.
  bool wait_stderr_contains(std::string_view needle, Ms timeout = kStartTimeout);
  bool wait_stdout_contains(std::string_view needle, Ms timeout = kStartTimeout);
  // Polls until `pred(stdout text)` holds.
  bool wait_stdout(const std::function<bool(const std::string&)>& pred, Ms timeout = kIoTimeout);

 private:
  bool reap(bool block);

  std::vector<std::string> argv_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  fs::path own_dir_;  // private capture dir, removed in the destructor
  fs::path out_path_;
  fs::path err_path_;
};

// A nettool run to completion.
struct RunResult {
  int exit_code = Process::kTimedOut;
  std::string out;  // stdout (Output::File only)
  std::string err;
};
RunResult run_nettool(std::vector<std::string> args, ProcessOptions options = {}, Ms timeout = kRunTimeout);

// A nettool listener that has printed "listening on ADDR:PORT".
struct Listener {
  Process proc;
  std::string address;  // as printed, e.g. "127.0.0.1" or "[::1]"
  uint16_t port = 0;
};
// Starts `nettool ARGS...` (which should listen on port 0) and waits for the
// "listening on ADDR:PORT" line on stderr. Throws std::runtime_error with the
// stderr text if it does not come, or the process exits first.
Listener start_listener(std::vector<std::string> args, ProcessOptions options = {}, Ms timeout = kStartTimeout);
// The same with the whole command line: another copy of nettool, or
// nettool under a shell (faults_load_util.h: under_fd_limit).
Listener start_listener_argv(std::vector<std::string> argv, ProcessOptions options = {}, Ms timeout = kStartTimeout);

// ---------------------------------------------------------------- data

std::string sha256_hex(std::string_view data);
std::string sha256_file(const fs::path& file);
// Deterministic pseudo-random bytes (splitmix64); the same seed gives the same bytes.
std::string random_bytes(size_t size, uint64_t seed);
void write_random_file(const fs::path& file, size_t size, uint64_t seed);
void write_file(const fs::path& file, std::string_view data);
std::string read_file(const fs::path& file);
// Bytes [offset, offset+size) of an endless pseudo-random stream (no short
// period, so lost, repeated or reordered blocks show), for data that is
// generated and checked on the fly instead of stored.
void fill_pattern(char* out, size_t size, uint64_t offset);
// True when `data` equals the pattern at `offset`.
bool matches_pattern(std::string_view data, uint64_t offset);

// ---------------------------------------------------------------- sockets

enum class ReadEnd { Eof, Reset, Timeout };
const char* to_string(ReadEnd end);

// A connected TCP socket (close-on-exec, SIGPIPE-free sends).
class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() { close(); }
  Socket(Socket&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Socket& operator=(Socket&& o) noexcept;
  Socket(const Socket&) = delete;
  int fd() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void close();

  // False when the peer went away or the timeout passed first.
  bool send_all(std::string_view data, Ms timeout = kIoTimeout);
  void shutdown_write();
  // Everything until EOF / reset / timeout.
  std::string recv_all(Ms timeout = kIoTimeout, ReadEnd* how = nullptr);
  // Exactly `n` bytes unless the stream ends or the timeout passes first.
  std::string recv_exact(size_t n, Ms timeout = kIoTimeout, ReadEnd* how = nullptr);
  // Reads until `buffer` contains `needle`; returns whether it does.
  bool recv_until(std::string& buffer, std::string_view needle, Ms timeout = kIoTimeout);
  // What is there now, waiting up to `timeout` for the first byte; "" on EOF/timeout.
  std::string recv_some(Ms timeout, ReadEnd* how = nullptr);
  // Sends `data` while reading (so a peer that answers as it reads cannot
  // deadlock us), half-closes after the last byte, and returns everything
  // received until EOF / reset / timeout.
  std::string exchange(std::string_view data, Ms timeout = kIoTimeout, ReadEnd* how = nullptr);

 private:
  int fd_ = -1;
};

// Blocking connect to HOST:PORT (numeric). Throws std::runtime_error.
Socket connect_tcp(uint16_t port, const std::string& host = "127.0.0.1", Ms timeout = kIoTimeout);
// As connect_tcp, but an invalid Socket instead of an exception.
Socket try_connect_tcp(uint16_t port, const std::string& host = "127.0.0.1", Ms timeout = kIoTimeout);

// A listening socket on HOST:0 for tests that need a custom peer.
class TcpServer {
 public:
  explicit TcpServer(const std::string& host = "127.0.0.1", int backlog = 64);
  ~TcpServer();
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;
  uint16_t port() const { return port_; }
  int fd() const { return fd_; }
  // An invalid Socket on timeout.
  Socket accept(Ms timeout = kIoTimeout);

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// A port that was free a moment ago (bind 127.0.0.1:0, read, close). For peers
// such as `nc -l` that cannot pick their own; callers retry when it was taken.
uint16_t pick_free_port();
// A port that refuses connections and that nobody else can listen on while
// the returned descriptor is open: bound, never listening.
struct ClosedPort {
  int fd = -1;
  uint16_t port = 0;
  ClosedPort() = default;
  ClosedPort(const ClosedPort&) = delete;
  ClosedPort& operator=(const ClosedPort&) = delete;
  ~ClosedPort();
};
// Binds 127.0.0.1:`port` (0: any) without listening; false if it is in use.
bool hold_closed_port(uint16_t port, ClosedPort& out);
// A port that never answers a connection attempt, as a filtered one: a
// listener with a backlog of 0 whose accept queue is already full, so the
// kernel drops every further SYN (loopback only).
class StalledPort {
 public:
  StalledPort();
  uint16_t port() const { return server_.port(); }
  // Lets the client that waits through (the queue emptied, the fillers
  // closed: its next SYN is answered) and returns its connection, accepted.
  Socket let_next_through(Ms timeout = kIoTimeout);

 private:
  TcpServer server_{"127.0.0.1", 0};
  std::vector<Socket> queued_;  // the connections that fill the queue, never accepted
};
// Whether process `pid` has a socket sending a SYN to 127.0.0.1:`port`
// (SYN_SENT in /proc/net/tcp, matched by inode): it is past start-up and
// connecting, e.g. to a StalledPort.
bool is_connecting(pid_t pid, uint16_t port);
// True once something is LISTENing on 127.0.0.1/0.0.0.0/::1/:: `port`
// (from /proc/net/tcp*, so it does not consume a connection).
bool wait_port_listening(uint16_t port, Ms timeout = kStartTimeout);
bool ipv6_loopback_available();

// A custom peer: a TcpServer on HOST:0 and a thread that accepts
// `connections` clients one after the other and runs `handler` on each.
// Everything the handler does must be bounded in time (Socket calls are);
// the accept waits at most `accept_timeout`. Call join() once the clients are
// done (e.g. the nettool process that connects has exited): it serves a client
// already waiting in the backlog, but waits for no further one, then waits for
// the handler. The destructor joins.
class PeerThread {
 public:
  using Handler = std::function<void(Socket&)>;
  explicit PeerThread(Handler handler, int connections = 1, const std::string& host = "127.0.0.1",
                      Ms accept_timeout = kRunTimeout);
  ~PeerThread();
  PeerThread(const PeerThread&) = delete;
  PeerThread& operator=(const PeerThread&) = delete;
  uint16_t port() const { return server_.port(); }
  void join();
  // After join(): how many clients were served, and what went wrong, if anything
  // ("" when nothing did; an exception from the handler lands here).
  int served() const { return served_; }
  const std::string& error() const { return error_; }

 private:
  TcpServer server_;
  std::atomic<bool> stop_{false};
  int served_ = 0;
  std::string error_;
  std::thread thread_;
};

// ---------------------------------------------------------------- /proc

// VmHWM (peak resident set) of a live process in KiB; nullopt when gone.
std::optional<long> vm_hwm_kib(pid_t pid);

// ---------------------------------------------------------------- misc

// Polls `pred` every few ms until it holds or the timeout passes.
bool eventually(const std::function<bool()>& pred, Ms timeout = kIoTimeout);
size_t count_occurrences(std::string_view haystack, std::string_view needle);
std::vector<std::string> split_lines(std::string_view text);

}  // namespace e2e
