// Helpers shared by test_file_serve.cpp and test_file_get.cpp: a file-serve
// instance, HTTP over plain sockets, external clients (curl, wget, python)
// run to completion with a bound, base64 for Repr-Digest. Header-only (every
// function inline) so the e2e CMakeLists, which globs test_*.cpp, needs no
// change.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "harness.h"

namespace filetest {

using namespace e2e;

inline constexpr size_t KiB = 1024;
inline constexpr size_t MiB = 1024 * KiB;

// ---------------------------------------------------------------- data

inline std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) | uint8_t(in[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

inline std::string hex_to_bytes(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  return out;
}

// The Repr-Digest value file-serve must send for `content` (RFC 9530).
inline std::string repr_digest_of(std::string_view content) {
  return "sha-256=:" + base64(hex_to_bytes(sha256_hex(content))) + ":";
}

inline std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

inline std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == '\n' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  size_t b = 0;
  while (b < s.size() && (s[b] == ' ' || s[b] == '\t')) ++b;
  return s.substr(b);
}

inline bool file_exists(const fs::path& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

// ---------------------------------------------------------------- HTTP

struct HttpResponse {
  int status = 0;  // 0: no parsable status line
  std::string status_line;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string raw;  // everything received
  ReadEnd end = ReadEnd::Timeout;

  std::optional<std::string> header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (lower(k) == lower(std::string(name))) return v;
    return std::nullopt;
  }
  bool has_header(std::string_view name) const { return header(name).has_value(); }
};

// Parses a status line and headers from `head` (which ends with the blank line).
inline void parse_head(std::string_view head, HttpResponse& r) {
  auto lines = split_lines(head);
  if (lines.empty()) return;
  r.status_line = trim(lines[0]);
  if (r.status_line.rfind("HTTP/1.", 0) == 0 && r.status_line.size() >= 12) {
    try {
      r.status = std::stoi(r.status_line.substr(9, 3));
    } catch (...) {
      r.status = 0;
    }
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    std::string line = trim(lines[i]);
    if (line.empty()) break;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    r.headers.emplace_back(line.substr(0, colon), trim(line.substr(colon + 1)));
  }
}

// Parses a whole response that ended with the connection (Connection: close).
inline HttpResponse parse_response_text(std::string raw, ReadEnd end = ReadEnd::Eof) {
  HttpResponse r;
  r.raw = std::move(raw);
  r.end = end;
  auto at = r.raw.find("\r\n\r\n");
  if (at == std::string::npos) return r;
  parse_head(std::string_view(r.raw).substr(0, at + 4), r);
  r.body = r.raw.substr(at + 4);
  return r;
}

// Reads one response from a connection that stays open (keep-alive): the
// head, then Content-Length bytes (none for HEAD, 304 or a missing length).
// `pending` carries bytes read past the end of this response (the start of
// the next one, when requests are pipelined) from one call to the next.
inline HttpResponse read_response(Socket& s, std::string& pending, bool head_request = false, Ms timeout = kIoTimeout) {
  HttpResponse r;
  if (!s.recv_until(pending, "\r\n\r\n", timeout)) {
    r.raw = std::exchange(pending, {});
    return r;
  }
  auto at = pending.find("\r\n\r\n");
  parse_head(std::string_view(pending).substr(0, at + 4), r);
  size_t length = 0;
  if (auto cl = r.header("Content-Length"); cl && !head_request && r.status != 304) length = std::stoull(*cl);
  size_t have = pending.size() - (at + 4);
  if (have < length) {
    pending += s.recv_exact(length - have, timeout, &r.end);
    have = pending.size() - (at + 4);
  }
  size_t take = std::min(have, length);
  r.body = pending.substr(at + 4, take);
  r.raw = pending.substr(0, at + 4 + take);
  pending.erase(0, at + 4 + take);
  return r;
}

// The same for a single exchange: whatever follows the response is dropped.
inline HttpResponse read_response(Socket& s, bool head_request = false, Ms timeout = kIoTimeout) {
  std::string pending;
  return read_response(s, pending, head_request, timeout);
}

// "GET PATH HTTP/1.1" with Host (and Connection: close unless `close` is false).
inline std::string get_request(const std::string& path, bool close = true) {
  return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + (close ? "Connection: close\r\n" : "") + "\r\n";
}

// Sends `request` as is on a new connection and reads until the server closes.
inline HttpResponse raw_exchange(uint16_t port, std::string_view request, Ms timeout = kIoTimeout) {
  Socket s = connect_tcp(port);
  s.send_all(request, timeout);
  ReadEnd end = ReadEnd::Timeout;
  std::string raw = s.recv_all(timeout, &end);
  return parse_response_text(std::move(raw), end);
}

// GET (or another method) of `target`, sent verbatim, with Connection: close.
inline HttpResponse http_get(uint16_t port, std::string_view target, std::string_view method = "GET",
                             std::string_view extra_headers = "", Ms timeout = kIoTimeout) {
  std::string req = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                    std::string(extra_headers) + "Connection: close\r\n\r\n";
  return raw_exchange(port, req, timeout);
}

// ---------------------------------------------------------------- processes

struct CmdResult {
  int code = Process::kTimedOut;
  std::string out, err;
};

// Runs any program to completion (killed and reaped on timeout).
inline CmdResult run_cmd(std::vector<std::string> argv, Ms timeout = kRunTimeout, ProcessOptions options = {}) {
  Process p(std::move(argv), std::move(options));
  CmdResult r;
  r.code = p.wait(timeout);
  r.out = p.stdout_text();
  r.err = p.stderr_text();
  return r;
}

inline std::string url(uint16_t port, std::string_view path) {
  return "http://127.0.0.1:" + std::to_string(port) + std::string(path);
}

// `file-serve --root ROOT --listen 127.0.0.1:0 EXTRA...`, up and listening.
inline Listener start_serve(const fs::path& root, std::vector<std::string> extra = {}, ProcessOptions options = {}) {
  std::vector<std::string> args{"file-serve", "--root", root.string(), "--listen", "127.0.0.1:0"};
  args.insert(args.end(), extra.begin(), extra.end());
  return start_listener(std::move(args), std::move(options));
}

// Lines of a server's stderr that mention `needle`.
inline std::vector<std::string> log_lines_with(const std::string& log, std::string_view needle) {
  std::vector<std::string> out;
  for (auto& line : split_lines(log))
    if (line.find(needle) != std::string::npos) out.push_back(line);
  return out;
}

inline std::vector<std::string> words(std::string_view line) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : line) {
    if (c == ' ') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

inline bool has_word(std::string_view line, std::string_view word) {
  auto w = words(line);
  return std::find(w.begin(), w.end(), std::string(word)) != w.end();
}

// The local port of a connected socket (the client part of the access log).
inline uint16_t local_port(const Socket& s) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(s.fd(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

// A test server in Python (`python3 -c SCRIPT ARGS...`) that prints its port
// on the first line of stdout, up and listening.
struct PythonServer {
  std::optional<Process> proc;
  uint16_t port = 0;
};
inline PythonServer start_python_server(const char* script, std::vector<std::string> args = {}) {
  args.insert(args.begin(), {"python3", "-c", script});
  Process p(std::move(args));
  bool up = p.wait_stdout([](const std::string& s) { return s.find('\n') != std::string::npos; }, kStartTimeout);
  if (!up) throw std::runtime_error("python test server did not start: " + p.stderr_text());
  PythonServer out;
  out.port = static_cast<uint16_t>(std::stoul(p.stdout_text()));
  out.proc.emplace(std::move(p));
  return out;
}

// nettool file-get ARGS..., run to completion.
inline CmdResult file_get(std::vector<std::string> args, Ms timeout = kRunTimeout, ProcessOptions options = {}) {
  args.insert(args.begin(), "file-get");
  return run_cmd(nettool_argv(std::move(args)), timeout, std::move(options));
}

// nettool file-get ARGS... with DIR as the current directory.
inline CmdResult file_get_in(const fs::path& cwd, std::vector<std::string> args, Ms timeout = kRunTimeout) {
  std::vector<std::string> argv{"sh", "-c", "cd \"$1\" && shift && exec \"$@\"", "sh", cwd.string(),
                                nettool_path().string(), "file-get"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_cmd(std::move(argv), timeout);
}

// The names in `dir`, sorted.
inline std::vector<std::string> dir_entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

inline uint64_t file_size_or_zero(const fs::path& p) {
  std::error_code ec;
  auto n = fs::file_size(p, ec);
  return ec ? 0 : n;
}

}  // namespace filetest
