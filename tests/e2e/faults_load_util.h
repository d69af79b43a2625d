// Helpers for test_faults.cpp and test_load.cpp only: nettool under a
// descriptor limit, CPU time and descriptors of a live process, sockets with
// odd options (small receive buffer, reset on close), many connections driven
// by one thread with poll(). HTTP parsing comes from file_test_util.h.
// Header-only, so the e2e CMakeLists (which globs test_*.cpp) needs no change.
#pragma once
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "file_test_util.h"
#include "harness.h"

namespace faultload {

using namespace e2e;
using Clock = std::chrono::steady_clock;

inline constexpr size_t KiB = 1024;
inline constexpr size_t MiB = 1024 * KiB;

// ---------------------------------------------------------------- processes

// argv for `sh -c 'ulimit -n LIMIT && exec nettool ARGS...'`: the shell becomes
// nettool, so the Process's pid is nettool's.
inline std::vector<std::string> under_fd_limit(int limit, const std::vector<std::string>& nettool_args) {
  std::vector<std::string> argv{"/bin/sh", "-c", "ulimit -n " + std::to_string(limit) + " && exec \"$@\"", "sh",
                                nettool_path().string()};
  argv.insert(argv.end(), nettool_args.begin(), nettool_args.end());
  return argv;
}

// utime + stime of a live process (all its threads) in seconds; -1 when gone.
inline double cpu_seconds(pid_t pid) {
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  auto close_paren = stat.rfind(')');
  if (close_paren == std::string::npos) return -1;
  std::vector<std::string> fields;
  std::string cur;
  for (char c : stat.substr(close_paren + 1)) {
    if (c == ' ') {
      if (!cur.empty()) fields.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) fields.push_back(cur);
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  if (fields.size() < 13) return -1;
  return static_cast<double>(std::stoll(fields[11]) + std::stoll(fields[12])) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Open descriptors of a live process (entries of /proc/PID/fd); 0 when gone.
inline size_t open_fds(pid_t pid) {
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return 0;
  size_t n = 0;
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n;
}

// Raises this process's RLIMIT_NOFILE soft limit to at least `want` (up to
// the hard limit); returns the soft limit now in force.
inline rlim_t raise_fd_limit(rlim_t want) {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < want) {
    rl.rlim_cur = std::min(want, rl.rlim_max);
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur;
}

// The last `lines` lines of a process's stderr, for failure messages (INFO
// evaluates its message at once, so call this right before the checks).
inline std::string log_tail(const Process& p, size_t lines = 40) {
  auto all = split_lines(p.stderr_text());
  std::string out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) out += all[i] + "\n";
  return out;
}

// ---------------------------------------------------------------- sockets

// The most a TCP send buffer may grow to here (tcp_wmem's third field; the
// kernel default is 4 MiB): what a server may have handed to the kernel, and
// so no longer controls, beyond what its client has read.
inline size_t tcp_wmem_max() {
  std::string text = read_file("/proc/sys/net/ipv4/tcp_wmem");
  size_t a = 0, b = 0, c = 0;
  if (std::sscanf(text.c_str(), "%zu %zu %zu", &a, &b, &c) == 3 && c > 0) return c;
  return 4 * MiB;
}

// Closes with SO_LINGER 0: the peer gets a reset, not a FIN.
inline void reset_close(Socket& s) {
  if (!s.valid()) return;
  linger l{1, 0};
  setsockopt(s.fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
  s.close();
}

// A non-blocking connect to 127.0.0.1:port already in progress (or done);
// -1 when the socket cannot even be created. `rcvbuf` > 0 sets SO_RCVBUF
// first (before the handshake, so the window stays small).
inline int start_connect(uint16_t port, int rcvbuf = 0) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Waits for the connects in `fds` to finish; returns how many succeeded (the
// failed ones are closed and set to -1).
inline size_t finish_connects(std::vector<int>& fds, Ms timeout) {
  auto deadline = Clock::now() + timeout;
  std::vector<bool> done(fds.size(), false);
  size_t ok = 0, pending = 0;
  for (size_t i = 0; i < fds.size(); ++i) {
    if (fds[i] < 0) done[i] = true;
    else ++pending;
  }
  while (pending > 0 && Clock::now() < deadline) {
    std::vector<pollfd> pfds;
    std::vector<size_t> index;
    for (size_t i = 0; i < fds.size(); ++i)
      if (!done[i]) {
        pfds.push_back({fds[i], POLLOUT, 0});
        index.push_back(i);
      }
    int left = static_cast<int>(std::chrono::duration_cast<Ms>(deadline - Clock::now()).count());
    int rc = ::poll(pfds.data(), pfds.size(), std::max(left, 0));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) break;
    for (size_t k = 0; k < pfds.size(); ++k) {
      if (!pfds[k].revents) continue;
      size_t i = index[k];
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(fds[i], SOL_SOCKET, SO_ERROR, &err, &len);
      done[i] = true;
      --pending;
      if (err == 0) {
        ++ok;
      } else {
        ::close(fds[i]);
        fds[i] = -1;
      }
    }
  }
  for (size_t i = 0; i < fds.size(); ++i)
    if (!done[i] && fds[i] >= 0) {
      ::close(fds[i]);
      fds[i] = -1;
    }
  return ok;
}

// A blocking-style connect (as connect_tcp) with a small receive buffer.
inline Socket connect_small_rcvbuf(uint16_t port, int rcvbuf) {
  std::vector<int> fds{start_connect(port, rcvbuf)};
  if (finish_connects(fds, kIoTimeout) != 1) throw std::runtime_error("connect to port " + std::to_string(port));
  return Socket(fds[0]);
}

// One connection driven by drive(): send `out`, read until `want` bytes
// arrived (SIZE_MAX: until EOF), or until the stream ends.
struct Flow {
  Socket sock;
  std::string out;
  size_t out_pos = 0;
  std::string in;
  size_t want = std::numeric_limits<size_t>::max();
  bool eof = false;
  bool error = false;   // reset, or a failed send
  int error_errno = 0;
  bool done() const { return eof || error || in.size() >= want; }
};

// Drives every flow at once from this thread with poll(). True when all are
// done (by `want`, EOF or error) before the timeout.
inline bool drive(std::vector<Flow>& flows, Ms timeout) {
  auto deadline = Clock::now() + timeout;
  std::vector<pollfd> pfds;
  std::vector<size_t> index;
  std::vector<char> buf(65536);
  for (;;) {
    pfds.clear();
    index.clear();
    for (size_t i = 0; i < flows.size(); ++i) {
      Flow& f = flows[i];
      if (f.done()) continue;
      short ev = POLLIN;
      if (f.out_pos < f.out.size()) ev |= POLLOUT;
      pfds.push_back({f.sock.fd(), ev, 0});
      index.push_back(i);
    }
    if (pfds.empty()) return true;
    int left = static_cast<int>(std::chrono::duration_cast<Ms>(deadline - Clock::now()).count());
    if (left <= 0) return false;
    int rc = ::poll(pfds.data(), pfds.size(), std::min(left, 200));
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return false;
    for (size_t k = 0; k < pfds.size(); ++k) {
      short re = pfds[k].revents;
      if (!re) continue;
      Flow& f = flows[index[k]];
      if ((re & (POLLOUT | POLLERR | POLLHUP)) && f.out_pos < f.out.size()) {
        ssize_t n = ::send(f.sock.fd(), f.out.data() + f.out_pos, f.out.size() - f.out_pos, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) f.out_pos += static_cast<size_t>(n);
        else if (n < 0 && errno != EAGAIN && errno != EINTR) {
          f.error = true;
          f.error_errno = errno;
          continue;
        }
      }
      if (re & (POLLIN | POLLERR | POLLHUP)) {
        for (;;) {
          ssize_t n = ::recv(f.sock.fd(), buf.data(), buf.size(), MSG_DONTWAIT);
          if (n > 0) {
            f.in.append(buf.data(), static_cast<size_t>(n));
            if (f.in.size() >= f.want) break;
            continue;
          }
          if (n == 0) f.eof = true;
          else if (errno != EAGAIN && errno != EINTR) {
            f.error = true;
            f.error_errno = errno;
          }
          break;
        }
      }
    }
  }
}

// Opens `n` connections to 127.0.0.1:port, `batch` at a time; after each
// batch `settle(connected_so_far)` may wait for the server to accept them
// (so the listen backlog never overflows). Returns the connected sockets.
template <typename Settle>
std::vector<Socket> open_many(uint16_t port, size_t n, size_t batch, Settle settle) {
  std::vector<Socket> out;
  out.reserve(n);
  while (out.size() < n) {
    std::vector<int> fds;
    for (size_t i = 0; i < batch && out.size() + fds.size() < n; ++i) fds.push_back(start_connect(port));
    finish_connects(fds, kIoTimeout);
    size_t before = out.size();
    for (int fd : fds)
      if (fd >= 0) out.emplace_back(fd);
    if (out.size() == before) break;  // nothing connects any more: the caller sees the shortfall
    settle(out.size());
  }
  return out;
}

// HTTP: file_test_util.h's parser and request text, for one harness.
using filetest::get_request;
using filetest::HttpResponse;
using filetest::lower;
using filetest::parse_response_text;
using filetest::url;

}  // namespace faultload
