#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <cstdio>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace e2e {

namespace {

using Clock = std::chrono::steady_clock;

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

// Milliseconds left until `deadline`, for poll(); never negative.
int ms_left(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(std::min<long long>(left, 1'000'000));
}

fs::path make_temp_dir(const char* prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string templ = std::string(base && *base ? base : "/tmp") + "/" + prefix + "XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) throw std::runtime_error(errno_text("mkdtemp " + templ));
  return fs::path(buf.data());
}

// PATH lookup for names without a slash, done before fork.
std::string find_executable(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::string dirs = path && *path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return name;  // execve fails with ENOENT, reported as "cannot start"
}

void set_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

int open_cloexec(const fs::path& p, int flags, mode_t mode = 0644) {
  int fd = ::open(p.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) throw std::runtime_error(errno_text("open " + p.string()));
  return fd;
}

// Waits for `events` on fd; returns revents, 0 on timeout.
short poll_one(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, ms_left(deadline));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return 0;
    return p.revents;
  }
}

sockaddr_storage numeric_address(const std::string& host, uint16_t port, socklen_t& len) {
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  std::string h = host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (int rc = getaddrinfo(h.c_str(), service.c_str(), &hints, &res); rc != 0)
    throw std::runtime_error("bad address " + host + ": " + gai_strerror(rc));
  sockaddr_storage ss{};
  std::memcpy(&ss, res->ai_addr, res->ai_addrlen);
  len = res->ai_addrlen;
  freeaddrinfo(res);
  return ss;
}

uint16_t bound_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

}  // namespace

// ---------------------------------------------------------------- paths

const fs::path& nettool_path() {
  static const fs::path p = NETTOOL_E2E_BINARY;
  return p;
}

const fs::path& configs_dir() {
  static const fs::path p = NETTOOL_E2E_CONFIGS;
  return p;
}

std::vector<std::string> nettool_argv(std::vector<std::string> args) {
  args.insert(args.begin(), nettool_path().string());
  return args;
}

TempDir::TempDir() : path_(make_temp_dir("nettool-e2e-")) {}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

TmpfsMount::TmpfsMount(fs::path dir, const std::string& size) : dir_(std::move(dir)) {
  if (::geteuid() != 0) {
    why_ = "mounting a tmpfs needs root (running as uid " + std::to_string(::geteuid()) + ")";
    return;
  }
  fs::create_directories(dir_);
  std::string options = "size=" + size;
  if (::mount("tmpfs", dir_.c_str(), "tmpfs", 0, options.c_str()) != 0) {
    why_ = std::string("cannot mount a tmpfs here: ") + std::strerror(errno);
    return;
  }
  mounted_ = true;
}

TmpfsMount::~TmpfsMount() {
  if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
}

// ---------------------------------------------------------------- processes

Process::Process(std::vector<std::string> argv, ProcessOptions o) : argv_(std::move(argv)) {
  if (argv_.empty()) throw std::invalid_argument("Process: empty argv");
  if ((o.out == Output::File && o.out_file.empty()) || o.err_file.empty()) own_dir_ = make_temp_dir("nettool-e2e-proc-");
  out_path_ = o.out == Output::File ? (o.out_file.empty() ? own_dir_ / "stdout" : o.out_file) : fs::path();
  err_path_ = o.err_file.empty() ? own_dir_ / "stderr" : o.err_file;

  // Child ends; all close-on-exec here, dup2 onto 0/1/2 in the child clears that.
  std::vector<int> child_fds;
  auto cleanup = [&] {
    for (int fd : child_fds) ::close(fd);
    child_fds.clear();
  };
  int in_fd = -1, out_fd = -1, err_fd = -1;
  try {
    switch (o.in) {
      case Input::Null: in_fd = open_cloexec("/dev/null", O_RDONLY); break;
      case Input::File: in_fd = open_cloexec(o.in_file, O_RDONLY); break;
      case Input::Pipe: {
        int p[2];
        if (pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error(errno_text("pipe2"));
        in_fd = p[0];
        stdin_fd_ = p[1];
        set_nonblocking(stdin_fd_);
        break;
      }
    }
    child_fds.push_back(in_fd);
    switch (o.out) {
      case Output::File: out_fd = open_cloexec(out_path_, O_WRONLY | O_CREAT | O_TRUNC); break;
      case Output::Null: out_fd = open_cloexec("/dev/null", O_WRONLY); break;
      case Output::Pipe: {
        int p[2];
        if (pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error(errno_text("pipe2"));
        stdout_fd_ = p[0];
        out_fd = p[1];
        set_nonblocking(stdout_fd_);
        break;
      }
    }
    child_fds.push_back(out_fd);
    err_fd = open_cloexec(err_path_, O_WRONLY | O_CREAT | O_TRUNC);
    child_fds.push_back(err_fd);
  } catch (...) {
    cleanup();
    if (stdin_fd_ >= 0) ::close(stdin_fd_);
    if (stdout_fd_ >= 0) ::close(stdout_fd_);
    std::error_code ec;
    if (!own_dir_.empty()) fs::remove_all(own_dir_, ec);
    throw;
  }

  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string_view kv(*e);
    std::string_view key = kv.substr(0, kv.find('='));
    if (key == "NETTOOL_PLUGIN_PATH") continue;  // the build tree's plugins, nothing else
    bool overridden = false;
    for (auto& [k, v] : o.env) overridden = overridden || k == key;
    if (!overridden) env.emplace_back(kv);
  }
  for (auto& [k, v] : o.env) env.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<char*> args;
  for (auto& a : argv_) args.push_back(a.data());
  args.push_back(nullptr);

  std::string file = find_executable(argv_[0]);

  // fork/exec rather than posix_spawn for PR_SET_PDEATHSIG: if the test
  // runner dies (killed by hand, crash), its children die with it instead of
  // lingering. Between fork and exec only async-signal-safe calls.
  int status_pipe[2];  // exec failure: the child writes errno; success: EOF
  if (pipe2(status_pipe, O_CLOEXEC) != 0) {
    cleanup();
    throw std::runtime_error(errno_text("pipe2"));
  }
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ == 0) {
    ::setpgid(0, 0);  // own group: the destructor kills its children too
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the runner died before prctl
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);  // the runner ignores SIGPIPE
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (::dup2(in_fd, STDIN_FILENO) < 0 || ::dup2(out_fd, STDOUT_FILENO) < 0 || ::dup2(err_fd, STDERR_FILENO) < 0) {
      int e = errno;
      (void)!::write(status_pipe[1], &e, sizeof e);
      ::_exit(127);
    }
    ::execve(file.c_str(), args.data(), envp.data());
    int e = errno;
    (void)!::write(status_pipe[1], &e, sizeof e);
    ::_exit(127);
  }
  int rc = pid_ < 0 ? errno : 0;
  ::close(status_pipe[1]);
  cleanup();
  if (pid_ > 0) {
    int child_errno = 0;
    ssize_t n;
    do n = ::read(status_pipe[0], &child_errno, sizeof child_errno);
    while (n < 0 && errno == EINTR);
    if (n == sizeof child_errno) {
      rc = child_errno;
      int st;
      ::waitpid(pid_, &st, 0);  // it has _exit()ed or is about to
    }
  }
  ::close(status_pipe[0]);
  if (rc != 0) {
    pid_ = -1;
    if (stdin_fd_ >= 0) ::close(stdin_fd_);
    if (stdout_fd_ >= 0) ::close(stdout_fd_);
    std::error_code ec;
    if (!own_dir_.empty()) fs::remove_all(own_dir_, ec);
    throw std::runtime_error("cannot start " + argv_[0] + ": " + std::strerror(rc));
  }
}

Process::Process(Process&& o) noexcept
    : argv_(std::move(o.argv_)), pid_(std::exchange(o.pid_, -1)), exit_code_(o.exit_code_),
      stdin_fd_(std::exchange(o.stdin_fd_, -1)), stdout_fd_(std::exchange(o.stdout_fd_, -1)),
      own_dir_(std::exchange(o.own_dir_, {})), out_path_(o.out_path_), err_path_(o.err_path_) {}

Process::~Process() {
  if (pid_ > 0 && !exit_code_) {
    // Still ours (not reaped), so the group id cannot have been reused.
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    reap(true);
  }
  close_stdin();
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
  std::error_code ec;
  if (!own_dir_.empty()) fs::remove_all(own_dir_, ec);
}

std::string Process::describe() const {
  std::string s;
  for (const auto& a : argv_) {
    if (!s.empty()) s += ' ';
    s += a.find(' ') == std::string::npos ? a : "'" + a + "'";
  }
  return s;
}

bool Process::reap(bool block) {
  if (exit_code_) return true;
  if (pid_ <= 0) return false;
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
    if (r < 0 && errno == EINTR) continue;
    if (r == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 255;
      return true;
    }
    if (r < 0) {  // ECHILD: someone else reaped it; nothing more to learn
      exit_code_ = 255;
      return true;
    }
    return false;
  }
}

int Process::wait(Ms timeout) {
  auto deadline = Clock::now() + timeout;
  auto nap = Ms(1);
  while (!reap(false)) {
    if (Clock::now() >= deadline) return kTimedOut;
    std::this_thread::sleep_for(nap);
    nap = std::min(nap * 2, Ms(20));
  }
  return *exit_code_;
}

bool Process::running() { return !reap(false); }

void Process::signal(int signum) {
  if (pid_ > 0 && !exit_code_) ::kill(pid_, signum);
}

bool Process::write_stdin(std::string_view data, Ms timeout, size_t* written) {
  if (written) *written = 0;
  if (stdin_fd_ < 0) return false;
  auto deadline = Clock::now() + timeout;
  while (!data.empty()) {
    ssize_t n = ::write(stdin_fd_, data.data(), std::min<size_t>(data.size(), 1 << 20));
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      if (written) *written += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) return false;  // EPIPE: the child closed stdin
    short ev = poll_one(stdin_fd_, POLLOUT, deadline);
    if (ev == 0) return false;
  }
  return true;
}

void Process::close_stdin() {
  if (stdin_fd_ >= 0) ::close(stdin_fd_);
  stdin_fd_ = -1;
}

std::string Process::read_stdout(Ms timeout, bool* complete) {
  if (complete) *complete = false;
  std::string out;
  if (stdout_fd_ < 0) return out;
  auto deadline = Clock::now() + timeout;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(stdout_fd_, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) {
      if (complete) *complete = true;
      return out;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return out;
    if (poll_one(stdout_fd_, POLLIN, deadline) == 0) return out;
  }
}

std::string Process::communicate(std::string_view input, Ms timeout) {
  std::string out;
  auto deadline = Clock::now() + timeout;
  char buf[65536];
  bool out_open = stdout_fd_ >= 0;
  if (input.empty()) close_stdin();
  while (out_open || stdin_fd_ >= 0) {
    pollfd fds[2];
    nfds_t n = 0;
    if (stdin_fd_ >= 0) fds[n++] = {stdin_fd_, POLLOUT, 0};
    if (out_open) fds[n++] = {stdout_fd_, POLLIN, 0};
    int rc = ::poll(fds, n, ms_left(deadline));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) break;  // timeout
    for (nfds_t i = 0; i < n; ++i) {
      if (!fds[i].revents) continue;
      if (fds[i].fd == stdin_fd_) {
        ssize_t w = ::write(stdin_fd_, input.data(), std::min<size_t>(input.size(), 1 << 20));
        if (w > 0) input.remove_prefix(static_cast<size_t>(w));
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || input.empty()) close_stdin();
      } else {
        ssize_t r = ::read(stdout_fd_, buf, sizeof buf);
        if (r > 0) out.append(buf, static_cast<size_t>(r));
        else if (r == 0 || (errno != EAGAIN && errno != EINTR)) out_open = false;
      }
    }
  }
  close_stdin();
  return out;
}

std::string Process::stdout_text() const { return out_path_.empty() ? std::string() : read_file(out_path_); }
std::string Process::stderr_text() const { return read_file(err_path_); }

bool Process::wait_stderr_contains(std::string_view needle, Ms timeout) {
  return eventually([&] { return stderr_text().find(needle) != std::string::npos; }, timeout);
}

bool Process::wait_stdout_contains(std::string_view needle, Ms timeout) {
  return wait_stdout([&](const std::string& s) { return s.find(needle) != std::string::npos; }, timeout);
}

bool Process::wait_stdout(const std::function<bool(const std::string&)>& pred, Ms timeout) {
  return eventually([&] { return pred(stdout_text()); }, timeout);
}

RunResult run_nettool(std::vector<std::string> args, ProcessOptions options, Ms timeout) {
  Process p(nettool_argv(std::move(args)), std::move(options));
  RunResult r;
  r.exit_code = p.wait(timeout);
  r.out = p.stdout_text();
  r.err = p.stderr_text();
  return r;
}

Listener start_listener(std::vector<std::string> args, ProcessOptions options, Ms timeout) {
  return start_listener_argv(nettool_argv(std::move(args)), std::move(options), timeout);
}

Listener start_listener_argv(std::vector<std::string> argv, ProcessOptions options, Ms timeout) {
  Process p(std::move(argv), std::move(options));
  auto deadline = Clock::now() + timeout;
  const std::string marker = "listening on ";
  for (;;) {
    bool exited = !p.running();
    std::string err = p.stderr_text();
    if (auto at = err.find(marker); at != std::string::npos) {
      auto eol = err.find('\n', at);
      if (eol != std::string::npos) {
        std::string where = err.substr(at + marker.size(), eol - at - marker.size());
        where = where.substr(0, where.find_first_of(", "));  // "ADDR:PORT, forwarding to unix:/x"
        auto colon = where.rfind(':');
        if (colon != std::string::npos) {
          Listener l{std::move(p), where.substr(0, colon), 0};
          l.port = static_cast<uint16_t>(std::stoul(where.substr(colon + 1)));
          return l;
        }
      }
    }
    if (exited)
      throw std::runtime_error(p.describe() + " exited with " + std::to_string(*p.exit_code()) +
                               " before listening; stderr:\n" + err);
    if (Clock::now() >= deadline)
      throw std::runtime_error(p.describe() + ": no 'listening on' line within " + std::to_string(timeout.count()) +
                               " ms; stderr:\n" + err);
    std::this_thread::sleep_for(Ms(5));
  }
}

// ---------------------------------------------------------------- data

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx.get(), data.data(), data.size());
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

std::string sha256_file(const fs::path& file) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  int fd = open_cloexec(file, O_RDONLY);
  std::vector<char> buf(1 << 20);
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(n));
  }
  ::close(fd);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

namespace {
void fill_random(char* out, size_t size, uint64_t& state) {
  size_t i = 0;
  while (i < size) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    size_t n = std::min<size_t>(8, size - i);
    std::memcpy(out + i, &z, n);
    i += n;
  }
}
}  // namespace

std::string random_bytes(size_t size, uint64_t seed) {
  std::string out(size, '\0');
  fill_random(out.data(), size, seed);
  return out;
}

void write_random_file(const fs::path& file, size_t size, uint64_t seed) {
  std::ofstream f(file, std::ios::binary | std::ios::trunc);
  std::vector<char> buf(1 << 20);
  for (size_t done = 0; done < size;) {
    size_t n = std::min(buf.size(), size - done);
    fill_random(buf.data(), n, seed);
    f.write(buf.data(), static_cast<std::streamsize>(n));
    done += n;
  }
  if (!f) throw std::runtime_error("cannot write " + file.string());
}

void write_file(const fs::path& file, std::string_view data) {
  std::ofstream f(file, std::ios::binary | std::ios::trunc);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!f) throw std::runtime_error("cannot write " + file.string());
}

std::string read_file(const fs::path& file) {
  std::ifstream f(file, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

namespace {
uint64_t pattern_word(uint64_t index) {
  uint64_t z = index * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
}  // namespace

void fill_pattern(char* out, size_t size, uint64_t offset) {
  size_t i = 0;
  while (i < size) {
    uint64_t pos = offset + i;
    uint64_t word = pattern_word(pos / 8);
    size_t skip = pos % 8;
    size_t n = std::min<size_t>(8 - skip, size - i);
    std::memcpy(out + i, reinterpret_cast<const char*>(&word) + skip, n);
    i += n;
  }
}

bool matches_pattern(std::string_view data, uint64_t offset) {
  std::vector<char> expected(std::min<size_t>(data.size(), 1 << 20));
  for (size_t done = 0; done < data.size();) {
    size_t n = std::min(expected.size(), data.size() - done);
    fill_pattern(expected.data(), n, offset + done);
    if (std::memcmp(expected.data(), data.data() + done, n) != 0) return false;
    done += n;
  }
  return true;
}

// ---------------------------------------------------------------- sockets

const char* to_string(ReadEnd end) {
  switch (end) {
    case ReadEnd::Eof: return "EOF";
    case ReadEnd::Reset: return "reset";
    case ReadEnd::Timeout: return "timeout";
  }
  return "?";
}

Socket& Socket::operator=(Socket&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

void Socket::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool Socket::send_all(std::string_view data, Ms timeout) {
  auto deadline = Clock::now() + timeout;
  while (!data.empty()) {
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) return false;
    if (poll_one(fd_, POLLOUT, deadline) == 0) return false;
  }
  return true;
}

void Socket::shutdown_write() { ::shutdown(fd_, SHUT_WR); }

namespace {
// One read: >0 bytes appended, or sets `how` and returns false at the end.
// Returns true with nothing appended when it would block.
bool read_once(int fd, std::string& out, ReadEnd& how) {
  char buf[65536];
  ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  if (n > 0) {
    out.append(buf, static_cast<size_t>(n));
    return true;
  }
  if (n == 0) {
    how = ReadEnd::Eof;
    return false;
  }
  if (errno == EAGAIN || errno == EINTR) return true;
  how = ReadEnd::Reset;
  return false;
}
}  // namespace

std::string Socket::recv_all(Ms timeout, ReadEnd* how) {
  auto deadline = Clock::now() + timeout;
  std::string out;
  ReadEnd end = ReadEnd::Timeout;
  for (;;) {
    size_t before = out.size();
    if (!read_once(fd_, out, end)) break;
    if (out.size() == before && poll_one(fd_, POLLIN, deadline) == 0) {
      end = ReadEnd::Timeout;
      break;
    }
  }
  if (how) *how = end;
  return out;
}

std::string Socket::recv_exact(size_t n, Ms timeout, ReadEnd* how) {
  auto deadline = Clock::now() + timeout;
  std::string out;
  ReadEnd end = ReadEnd::Timeout;
  while (out.size() < n) {
    size_t before = out.size();
    char buf[65536];
    ssize_t r = ::recv(fd_, buf, std::min(sizeof buf, n - out.size()), MSG_DONTWAIT);
    if (r > 0) {
      out.append(buf, static_cast<size_t>(r));
      continue;
    }
    if (r == 0) {
      end = ReadEnd::Eof;
      break;
    }
    if (errno != EAGAIN && errno != EINTR) {
      end = ReadEnd::Reset;
      break;
    }
    if (out.size() == before && poll_one(fd_, POLLIN, deadline) == 0) break;
  }
  if (how) *how = end;
  return out;
}

bool Socket::recv_until(std::string& buffer, std::string_view needle, Ms timeout) {
  auto deadline = Clock::now() + timeout;
  ReadEnd end;
  while (buffer.find(needle) == std::string::npos) {
    size_t before = buffer.size();
    if (!read_once(fd_, buffer, end)) return buffer.find(needle) != std::string::npos;
    if (buffer.size() == before && poll_one(fd_, POLLIN, deadline) == 0) return false;
  }
  return true;
}

std::string Socket::recv_some(Ms timeout, ReadEnd* how) {
  auto deadline = Clock::now() + timeout;
  std::string out;
  ReadEnd end = ReadEnd::Timeout;
  if (how) *how = end;
  for (;;) {
    if (!read_once(fd_, out, end)) {
      if (how) *how = end;
      return out;
    }
    if (!out.empty()) return out;
    if (poll_one(fd_, POLLIN, deadline) == 0) return out;
  }
}

std::string Socket::exchange(std::string_view data, Ms timeout, ReadEnd* how) {
  auto deadline = Clock::now() + timeout;
  std::string out;
  ReadEnd end = ReadEnd::Timeout;
  bool writing = true;
  if (data.empty()) {
    shutdown_write();
    writing = false;
  }
  for (;;) {
    pollfd p{fd_, static_cast<short>(POLLIN | (writing ? POLLOUT : 0)), 0};
    int rc = ::poll(&p, 1, ms_left(deadline));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) break;  // timeout
    if (writing && (p.revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) data.remove_prefix(static_cast<size_t>(n));
      if ((n < 0 && errno != EAGAIN && errno != EINTR) || data.empty()) {
        if (data.empty()) shutdown_write();
        writing = false;
      }
    }
    if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
      if (!read_once(fd_, out, end)) break;
    }
  }
  if (how) *how = end;
  return out;
}

Socket try_connect_tcp(uint16_t port, const std::string& host, Ms timeout) {
  socklen_t len = 0;
  sockaddr_storage ss = numeric_address(host, port, len);
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Socket();
  Socket s(fd);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) return s;
  if (errno != EINPROGRESS) return Socket();
  if (poll_one(fd, POLLOUT, Clock::now() + timeout) == 0) return Socket();
  int err = 0;
  socklen_t elen = sizeof err;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
  if (err != 0) {
    errno = err;
    return Socket();
  }
  return s;
}

Socket connect_tcp(uint16_t port, const std::string& host, Ms timeout) {
  Socket s = try_connect_tcp(port, host, timeout);
  if (!s.valid()) throw std::runtime_error(errno_text("connect to " + host + " port " + std::to_string(port)));
  return s;
}

TcpServer::TcpServer(const std::string& host, int backlog) {
  socklen_t len = 0;
  sockaddr_storage ss = numeric_address(host, 0, len);
  fd_ = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0) throw std::runtime_error(errno_text("socket"));
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd_, backlog) != 0) {
    std::string why = errno_text("listen on " + host);
    ::close(fd_);
    throw std::runtime_error(why);
  }
  port_ = bound_port(fd_);
}

TcpServer::~TcpServer() {
  if (fd_ >= 0) ::close(fd_);
}

Socket TcpServer::accept(Ms timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) return Socket(fd);
    if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) return Socket();
    if (poll_one(fd_, POLLIN, deadline) == 0) return Socket();
  }
}

uint16_t pick_free_port() {
  TcpServer probe("127.0.0.1", 1);
  return probe.port();
}

ClosedPort::~ClosedPort() {
  if (fd >= 0) ::close(fd);
}

bool hold_closed_port(uint16_t port, ClosedPort& out) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) {
    ::close(fd);
    return false;
  }
  if (out.fd >= 0) ::close(out.fd);
  out.fd = fd;
  out.port = bound_port(fd);
  return true;
}

StalledPort::StalledPort() {
  // Linux queues backlog + 1 connections; a few more make sure it is full.
  for (int i = 0; i < 4; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    queued_.emplace_back(fd);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port());
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin);  // EINPROGRESS, or queued at once
  }
}

bool is_connecting(pid_t pid, uint16_t port) {
  std::set<std::string> inodes;
  std::error_code ec;
  for (const auto& fd : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    std::string target = fs::read_symlink(fd.path(), ec).string();
    if (target.rfind("socket:[", 0) == 0) inodes.insert(target.substr(8, target.size() - 9));
  }
  std::ifstream table("/proc/net/tcp");
  std::string line;
  std::getline(table, line);  // header
  char wanted[16];
  std::snprintf(wanted, sizeof wanted, "0100007F:%04X", port);
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
    fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
    if (remote == wanted && state == "02" && inodes.count(inode)) return true;
  }
  return false;
}

Socket StalledPort::let_next_through(Ms timeout) {
  std::set<uint16_t> fillers;
  for (const Socket& s : queued_) fillers.insert(bound_port(s.fd()));
  queued_.clear();
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    Socket s = server_.accept(std::chrono::duration_cast<Ms>(deadline - Clock::now()));
    if (!s.valid()) break;
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    if (getpeername(s.fd(), reinterpret_cast<sockaddr*>(&peer), &len) == 0 &&
        !fillers.count(ntohs(reinterpret_cast<sockaddr_in*>(&peer)->sin_port)))
      return s;
  }
  return Socket();
}

namespace {
bool port_in_listen_table(const char* table, uint16_t port) {
  std::ifstream f(table);
  std::string line;
  std::getline(f, line);  // header
  while (std::getline(f, line)) {
    std::istringstream ls(line);
    std::string sl, local, remote, state;
    ls >> sl >> local >> remote >> state;
    auto colon = local.rfind(':');
    if (colon == std::string::npos || state != "0A") continue;  // 0A = LISTEN
    if (std::stoul(local.substr(colon + 1), nullptr, 16) == port) return true;
  }
  return false;
}
}  // namespace

bool wait_port_listening(uint16_t port, Ms timeout) {
  return eventually(
      [&] { return port_in_listen_table("/proc/net/tcp", port) || port_in_listen_table("/proc/net/tcp6", port); },
      timeout);
}

bool ipv6_loopback_available() {
  int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_addr = in6addr_loopback;
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&sin6), sizeof sin6) == 0;
  ::close(fd);
  return ok;
}

PeerThread::PeerThread(Handler handler, int connections, const std::string& host, Ms accept_timeout)
    : server_(host) {
  thread_ = std::thread([this, handler = std::move(handler), connections, accept_timeout] {
    try {
      for (int i = 0; i < connections; ++i) {
        Socket s;
        auto deadline = Clock::now() + accept_timeout;
        while (!s.valid() && !stop_ && Clock::now() < deadline) s = server_.accept(Ms(50));
        // Stopped: the clients are done, but one that connected and left may
        // still wait in the backlog; serve what is already there.
        if (!s.valid() && stop_) s = server_.accept(Ms(0));
        if (!s.valid() && stop_) return;
        if (!s.valid()) {
          error_ = "no client connected within " + std::to_string(accept_timeout.count()) + " ms";
          return;
        }
        ++served_;
        handler(s);
      }
    } catch (const std::exception& e) {
      error_ = std::string("peer handler failed: ") + e.what();
    } catch (...) {
      error_ = "peer handler failed";
    }
  });
}

PeerThread::~PeerThread() { join(); }

void PeerThread::join() {
  stop_ = true;  // no more clients are coming; do not wait for them
  if (thread_.joinable()) thread_.join();
}

// ---------------------------------------------------------------- /proc

std::optional<long> vm_hwm_kib(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return std::nullopt;  // gone, or a zombie (no memory any more)
}

// ---------------------------------------------------------------- misc

bool eventually(const std::function<bool()>& pred, Ms timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(Ms(5));
  }
}

size_t count_occurrences(std::string_view haystack, std::string_view needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string_view::npos; at = haystack.find(needle, at + needle.size()))
    ++n;
  return n;
}

std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> lines;
  while (!text.empty()) {
    auto eol = text.find('\n');
    lines.emplace_back(text.substr(0, eol));
    if (eol == std::string_view::npos) break;
    text.remove_prefix(eol + 1);
  }
  return lines;
}

}  // namespace e2e
