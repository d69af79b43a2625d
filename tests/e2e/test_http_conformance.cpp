// HTTP/1.1 conformance of file-serve, written down as data.
//
// tests/e2e/data/http_conformance.yaml is the table: a fixture tree and rows,
// each a raw request, the RFC section it comes from, and the outcome the RFC
// requires (statuses, headers, body, whether the connection closes). The
// first test walks it against file-serve, one DYNAMIC_SECTION per row.
//
// The second test sends the same requests, and the HTTP inputs of the fuzz
// corpus, to file-serve and to nginx (Debian's nginx-light, started here on
// a generated config) and compares what can be compared between two servers:
// status codes, framing (Content-Length and its value for 2xx, chunked, or
// neither) and whether the connection stayed open. Every difference must be
// listed in tests/e2e/data/nginx_differences.yaml with its reason (and in the
// README's table), or the test fails.
//
// How an exchange works: the row's bytes go out in one write, followed by one
// more request for /probe.txt, then a half-close. Both servers answer what
// they can and close, so everything is read up to EOF without waiting on a
// timer; a connection that stayed open is one that answered the probe.
#include <catch2/catch.hpp>
#include <yaml-cpp/yaml.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>

#include "file_test_util.h"
#include "harness.h"

using namespace e2e;
using namespace filetest;

namespace {

const fs::path kDataDir = NETTOOL_E2E_DATA;
const fs::path kFuzzCorpus = NETTOOL_E2E_FUZZ_CORPUS;
const fs::path kReadme = NETTOOL_E2E_README;

// Added to every fixture and requested after each row's bytes.
constexpr std::string_view kProbePath = "probe.txt";
constexpr std::string_view kProbeBody = "nettool-conformance-probe\n";
constexpr std::string_view kProbeRequest = "GET /probe.txt HTTP/1.1\r\nHost: probe\r\n\r\n";

// Both servers close right after the client's half-close; this bound only
// matters when one hangs.
constexpr Ms kExchangeTimeout = 5s;

// ---------------------------------------------------------------- printing

// Bytes as a C-like string literal body: \r \n \t \0 \" \\ and \xHH for the
// rest of the non-printable bytes, cut after `max` input bytes.
std::string printable(std::string_view bytes, size_t max = 400) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes.size() && i < max; ++i) {
    unsigned char c = static_cast<unsigned char>(bytes[i]);
    switch (c) {
      case '\r': out += "\\r"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\0': out += "\\0"; break;
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          out += "\\x";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  if (bytes.size() > max) out += "... (" + std::to_string(bytes.size()) + " bytes)";
  return out;
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += sep;
    out += item;
  }
  return out;
}

// ---------------------------------------------------------------- the table

using Pairs = std::vector<std::pair<std::string, std::string>>;

struct ResponseRule {
  std::vector<int> statuses;
  Pairs headers, prefix, suffix, not_prefix;
  std::vector<std::string> present, absent;
  std::vector<std::pair<std::string, std::vector<std::string>>> tokens;
  std::optional<std::string> body, body_contains, body_excludes;
};

struct Row {
  std::string id, rfc, what, note;
  std::string request;  // placeholders not yet expanded
  std::vector<ResponseRule> responses;
  std::optional<bool> close;
};

struct Fixture {
  std::time_t mtime = 0;
  Pairs files, symlinks, outside;  // path (relative) → content / link target
};

struct Table {
  Fixture fixture;
  std::vector<Row> rows;
};

// A misspelt key would otherwise silently make a row check nothing.
void require_known_keys(const YAML::Node& node, const std::set<std::string>& known, const std::string& where) {
  for (const auto& kv : node) {
    auto key = kv.first.as<std::string>();
    if (!known.count(key)) throw std::runtime_error(where + ": unknown key '" + key + "'");
  }
}

Pairs string_map(const YAML::Node& node) {
  Pairs out;
  if (!node) return out;
  for (const auto& kv : node) out.emplace_back(kv.first.as<std::string>(), kv.second.as<std::string>());
  return out;
}

std::vector<std::string> string_list(const YAML::Node& node) {
  std::vector<std::string> out;
  if (!node) return out;
  if (node.IsSequence()) {
    for (const auto& item : node) out.push_back(item.as<std::string>());
  } else {
    out.push_back(node.as<std::string>());
  }
  return out;
}

ResponseRule load_rule(const YAML::Node& node, const std::string& where) {
  require_known_keys(node,
                     {"status", "headers", "present", "absent", "tokens", "prefix", "suffix", "not_prefix", "body",
                      "body_contains", "body_excludes"},
                     where);
  ResponseRule rule;
  if (!node["status"]) throw std::runtime_error(where + ": no status");
  if (node["status"].IsSequence()) {
    for (const auto& s : node["status"]) rule.statuses.push_back(s.as<int>());
  } else {
    rule.statuses.push_back(node["status"].as<int>());
  }
  rule.headers = string_map(node["headers"]);
  rule.prefix = string_map(node["prefix"]);
  rule.suffix = string_map(node["suffix"]);
  rule.not_prefix = string_map(node["not_prefix"]);
  rule.present = string_list(node["present"]);
  rule.absent = string_list(node["absent"]);
  if (node["tokens"])
    for (const auto& kv : node["tokens"]) rule.tokens.emplace_back(kv.first.as<std::string>(), string_list(kv.second));
  if (node["body"]) rule.body = node["body"].as<std::string>();
  if (node["body_contains"]) rule.body_contains = node["body_contains"].as<std::string>();
  if (node["body_excludes"]) rule.body_excludes = node["body_excludes"].as<std::string>();
  return rule;
}

Table load_table(const fs::path& file) {
  YAML::Node doc = YAML::LoadFile(file.string());
  Table table;
  const YAML::Node fixture = doc["fixture"];
  if (!fixture) throw std::runtime_error(file.string() + ": no fixture");
  table.fixture.mtime = fixture["mtime"].as<std::time_t>();
  table.fixture.files = string_map(fixture["files"]);
  table.fixture.symlinks = string_map(fixture["symlinks"]);
  table.fixture.outside = string_map(fixture["outside"]);
  std::set<std::string> ids;
  for (const auto& node : doc["rows"]) {
    Row row;
    row.id = node["id"].as<std::string>("");
    const std::string where = file.filename().string() + ", row " + (row.id.empty() ? "?" : row.id);
    require_known_keys(node, {"id", "rfc", "what", "note", "request", "responses", "close"}, where);
    if (row.id.empty() || !ids.insert(row.id).second) throw std::runtime_error(where + ": missing or repeated id");
    row.rfc = node["rfc"].as<std::string>("");
    row.what = node["what"].as<std::string>("");
    row.note = node["note"].as<std::string>("");
    if (row.rfc.empty() || row.what.empty()) throw std::runtime_error(where + ": rfc and what are required");
    for (const auto& part : string_list(node["request"])) row.request += part;
    if (row.request.empty()) throw std::runtime_error(where + ": no request");
    if (!node["responses"] || !node["responses"].IsSequence()) throw std::runtime_error(where + ": no responses list");
    int n = 0;
    for (const auto& r : node["responses"]) row.responses.push_back(load_rule(r, where + ", response " + std::to_string(++n)));
    if (node["close"]) row.close = node["close"].as<bool>();
    table.rows.push_back(std::move(row));
  }
  if (table.rows.empty()) throw std::runtime_error(file.string() + ": no rows");
  return table;
}

// ---------------------------------------------------------------- the fixture tree

// Writes the fixture under `dir` and returns the root to serve (dir/root).
fs::path build_fixture(const Fixture& fixture, const fs::path& dir) {
  const fs::path root = fs::absolute(dir / "root");
  fs::create_directories(root);
  for (const auto& [name, content] : fixture.files) {
    fs::create_directories((root / name).parent_path());
    write_file(root / name, content);
  }
  write_file(root / kProbePath, kProbeBody);
  for (const auto& [name, target] : fixture.symlinks) fs::create_symlink(target, root / name);
  for (const auto& [name, content] : fixture.outside) write_file(dir / name, content);

  // One fixed time on everything, so the dates in the rows mean the same
  // thing on every run. Directories last, as creating entries touched them.
  const timespec times[2] = {{fixture.mtime, 0}, {fixture.mtime, 0}};
  std::vector<fs::path> dirs{root};
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_symlink()) continue;
    if (entry.is_directory()) {
      dirs.push_back(entry.path());
    } else if (::utimensat(AT_FDCWD, entry.path().c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
      throw std::runtime_error("utimensat " + entry.path().string() + ": " + std::strerror(errno));
    }
  }
  for (const auto& d : dirs)
    if (::utimensat(AT_FDCWD, d.c_str(), times, 0) != 0)
      throw std::runtime_error("utimensat " + d.string() + ": " + std::strerror(errno));
  return root;
}

// ---------------------------------------------------------------- placeholders

// {etag:/path} and {last_modified:/path} become the validators `port` sends
// for that path (asked once with HEAD); {repeat:N:TEXT} becomes TEXT N times.
class Placeholders {
 public:
  explicit Placeholders(uint16_t port) : port_(port) {}

  std::string expand(std::string text) {
    static const std::regex repeat(R"(\{repeat:(\d+):([^{}]*)\})");
    static const std::regex validator(R"(\{(etag|last_modified):([^{}]*)\})");
    std::smatch m;
    while (std::regex_search(text, m, repeat)) {
      std::string expanded;
      for (int i = 0, n = std::stoi(m[1].str()); i < n; ++i) expanded += m[2].str();
      text.replace(static_cast<size_t>(m.position(0)), static_cast<size_t>(m.length(0)), expanded);
    }
    while (std::regex_search(text, m, validator)) {
      const HttpResponse& head = head_of(m[2].str());
      const char* name = m[1].str() == "etag" ? "ETag" : "Last-Modified";
      auto value = head.header(name);
      if (!value) throw std::runtime_error("HEAD " + m[2].str() + " gave no " + name + ": " + head.status_line);
      text.replace(static_cast<size_t>(m.position(0)), static_cast<size_t>(m.length(0)), *value);
    }
    return text;
  }

 private:
  const HttpResponse& head_of(const std::string& path) {
    auto it = heads_.find(path);
    if (it == heads_.end()) it = heads_.emplace(path, http_get(port_, path, "HEAD")).first;
    return it->second;
  }

  uint16_t port_;
  std::map<std::string, HttpResponse> heads_;
};

// ---------------------------------------------------------------- the exchange

// Bytes consumed by a chunked body at the start of `data` (the body itself
// appended to `body`), or nullopt when it is malformed or cut short.
std::optional<size_t> chunked_body(std::string_view data, std::string& body) {
  size_t pos = 0;
  for (;;) {
    size_t eol = data.find("\r\n", pos);
    if (eol == std::string_view::npos) return std::nullopt;
    std::string_view size_text = data.substr(pos, eol - pos);
    size_text = size_text.substr(0, size_text.find(';'));
    size_t size = 0;
    auto [end, ec] = std::from_chars(size_text.data(), size_text.data() + size_text.size(), size, 16);
    if (ec != std::errc() || end != size_text.data() + size_text.size() || size_text.empty()) return std::nullopt;
    pos = eol + 2;
    if (size == 0) break;
    if (data.size() < pos + size + 2 || data.substr(pos + size, 2) != "\r\n") return std::nullopt;
    body.append(data.substr(pos, size));
    pos += size + 2;
  }
  for (;;) {  // trailer fields up to the empty line
    size_t eol = data.find("\r\n", pos);
    if (eol == std::string_view::npos) return std::nullopt;
    bool empty = eol == pos;
    pos = eol + 2;
    if (empty) return pos;
  }
}

bool has_chunked(const HttpResponse& r) {
  auto te = r.header("Transfer-Encoding");
  return te && lower(*te).find("chunked") != std::string::npos;
}

// Everything one connection received, cut into responses.
struct Exchange {
  std::vector<HttpResponse> responses;  // the probe's answer included, if it came
  bool probe_answered = false;
  std::string rest;  // bytes after the last response that are not one
  ReadEnd end = ReadEnd::Timeout;
  std::string raw;
};

// Splits a received byte stream into responses. The stream is complete (read
// to EOF), which settles the one thing a reader cannot know from the headers
// alone: whether a response with a Content-Length answered HEAD. It did when
// the next bytes are the next status line, or there are none.
void split_responses(Exchange& ex) {
  std::string_view data = ex.raw;
  size_t pos = 0;
  while (pos < data.size()) {
    if (data.substr(pos, 7) != "HTTP/1.") break;
    size_t head_end = data.find("\r\n\r\n", pos);
    if (head_end == std::string_view::npos) break;
    HttpResponse r;
    parse_head(data.substr(pos, head_end + 4 - pos), r);
    if (r.status == 0) break;
    const size_t body_at = head_end + 4;
    std::string_view after = data.substr(body_at);
    bool no_body = (r.status >= 100 && r.status < 200) || r.status == 204 || r.status == 304 || after.empty() ||
                   after.substr(0, 7) == "HTTP/1.";
    size_t body_len = 0;  // bytes of the stream the body takes
    if (no_body) {
      body_len = 0;
    } else if (has_chunked(r)) {
      auto used = chunked_body(after, r.body);
      if (!used) break;  // left in `rest`
      body_len = *used;
    } else if (auto cl = r.header("Content-Length")) {
      uint64_t n = 0;
      auto [end, ec] = std::from_chars(cl->data(), cl->data() + cl->size(), n);
      if (ec != std::errc() || end != cl->data() + cl->size()) break;
      body_len = static_cast<size_t>(std::min<uint64_t>(n, after.size()));
      r.body = std::string(after.substr(0, body_len));
    } else {
      body_len = after.size();  // delimited by the close
      r.body = std::string(after);
    }
    r.raw = std::string(data.substr(pos, body_at + body_len - pos));
    r.end = ex.end;
    ex.responses.push_back(std::move(r));
    pos = body_at + body_len;
  }
  ex.rest = std::string(data.substr(pos));
}

// Sends `bytes` (then the probe request, when `probe`) on a new connection,
// half-closes, and reads everything until the server closes.
Exchange exchange(uint16_t port, std::string_view bytes, bool probe) {
  Exchange ex;
  Socket s = connect_tcp(port);
  std::string out(bytes);
  if (probe) out += kProbeRequest;
  ex.raw = s.exchange(out, kExchangeTimeout, &ex.end);
  split_responses(ex);
  if (probe && !ex.responses.empty() && ex.responses.back().status == 200 &&
      ex.responses.back().body == kProbeBody) {
    ex.probe_answered = true;
  }
  return ex;
}

// The responses to the row's own requests: the probe's answer left out.
std::vector<HttpResponse> row_responses(const Exchange& ex) {
  std::vector<HttpResponse> out = ex.responses;
  if (ex.probe_answered) out.pop_back();
  return out;
}

// ---------------------------------------------------------------- checks

bool has_token_ci(std::string_view value, std::string_view token) {
  size_t pos = 0;
  while (pos <= value.size()) {
    size_t comma = value.find(',', pos);
    std::string item = trim(std::string(value.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos)));
    if (lower(item) == lower(std::string(token))) return true;
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return false;
}

std::string statuses_text(const std::vector<int>& statuses) {
  std::vector<std::string> parts;
  for (int s : statuses) parts.push_back(std::to_string(s));
  return parts.size() == 1 ? parts[0] : "one of " + join(parts, ", ");
}

// Rules that hold for every response of a GET/HEAD origin server.
void check_invariants(const HttpResponse& r, const std::string& where, std::vector<std::string>& problems) {
  auto problem = [&](const std::string& text) { problems.push_back(where + text); };
  if (r.status_line.rfind("HTTP/1.1 ", 0) != 0)
    problem("status line \"" + printable(r.status_line) + "\" is not HTTP/1.1 (RFC 9110 §2.5)");
  if (r.status >= 200 && r.status < 500 && !r.has_header("Date"))
    problem("no Date (RFC 9110 §6.6.1: an origin server with a clock MUST send it)");
  if (r.status == 405 && !r.has_header("Allow")) problem("405 without Allow (RFC 9110 §15.5.6)");
  bool multipart = lower(r.header("Content-Type").value_or("")).rfind("multipart/byteranges", 0) == 0;
  if (r.status == 206 && !multipart && !r.has_header("Content-Range"))
    problem("206 without Content-Range (RFC 9110 §15.3.7)");
  if (r.status == 301 && !r.has_header("Location")) problem("301 without Location (RFC 9110 §15.4.2)");
  if (((r.status >= 100 && r.status < 200) || r.status == 204) && r.has_header("Content-Length"))
    problem(std::to_string(r.status) + " with Content-Length (RFC 9110 §8.6)");
  if (r.has_header("Content-Length") && r.has_header("Transfer-Encoding"))
    problem("both Content-Length and Transfer-Encoding (RFC 9112 §6.1)");
}

void check_response(const ResponseRule& rule, const HttpResponse& r, const std::string& where,
                    std::vector<std::string>& problems) {
  auto problem = [&](const std::string& text) { problems.push_back(where + text); };
  if (std::find(rule.statuses.begin(), rule.statuses.end(), r.status) == rule.statuses.end())
    problem("status " + std::to_string(r.status) + ", expected " + statuses_text(rule.statuses));
  for (const auto& [name, want] : rule.headers) {
    auto got = r.header(name);
    if (!got) problem("no " + name + ", expected \"" + printable(want) + "\"");
    else if (*got != want) problem(name + ": \"" + printable(*got) + "\", expected \"" + printable(want) + "\"");
  }
  for (const auto& name : rule.present)
    if (!r.has_header(name)) problem("no " + name);
  for (const auto& name : rule.absent)
    if (auto got = r.header(name)) problem("unexpected " + name + ": \"" + printable(*got) + "\"");
  for (const auto& [name, tokens] : rule.tokens) {
    auto got = r.header(name);
    for (const auto& token : tokens)
      if (!got || !has_token_ci(*got, token))
        problem(name + " " + (got ? "\"" + printable(*got) + "\"" : std::string("missing")) + " lacks the token \"" +
                token + "\"");
  }
  for (const auto& [name, text] : rule.prefix) {
    auto got = r.header(name);
    if (!got || got->rfind(text, 0) != 0)
      problem(name + " " + (got ? "\"" + printable(*got) + "\"" : std::string("missing")) + ", expected it to start with \"" +
              printable(text) + "\"");
  }
  for (const auto& [name, text] : rule.suffix) {
    auto got = r.header(name);
    if (!got || got->size() < text.size() || got->compare(got->size() - text.size(), text.size(), text) != 0)
      problem(name + " " + (got ? "\"" + printable(*got) + "\"" : std::string("missing")) + ", expected it to end with \"" +
              printable(text) + "\"");
  }
  for (const auto& [name, text] : rule.not_prefix) {
    auto got = r.header(name);
    if (got && got->rfind(text, 0) == 0)
      problem(name + " \"" + printable(*got) + "\" starts with \"" + printable(text) + "\"");
  }
  if (rule.body && r.body != *rule.body)
    problem("body \"" + printable(r.body, 120) + "\", expected \"" + printable(*rule.body, 120) + "\"");
  if (rule.body_contains && r.body.find(*rule.body_contains) == std::string::npos)
    problem("body \"" + printable(r.body, 120) + "\" lacks \"" + printable(*rule.body_contains) + "\"");
  if (rule.body_excludes && r.body.find(*rule.body_excludes) != std::string::npos)
    problem("body contains \"" + printable(*rule.body_excludes) + "\"");
}

const char* end_text(ReadEnd end) {
  switch (end) {
    case ReadEnd::Eof: return "EOF";
    case ReadEnd::Reset: return "a reset";
    case ReadEnd::Timeout: return "no end within the timeout";
  }
  return "?";
}

std::vector<std::string> check_row(const Row& row, const Exchange& ex) {
  std::vector<std::string> problems;
  const auto got = row_responses(ex);
  for (size_t i = 0; i < ex.responses.size(); ++i)
    check_invariants(ex.responses[i], "response " + std::to_string(i + 1) + ": ", problems);
  if (got.size() != row.responses.size()) {
    std::vector<std::string> statuses;
    for (const auto& r : got) statuses.push_back(std::to_string(r.status));
    problems.push_back("expected " + std::to_string(row.responses.size()) + " response(s), got " +
                       std::to_string(got.size()) + (statuses.empty() ? "" : " (" + join(statuses, ", ") + ")"));
  }
  for (size_t i = 0; i < got.size() && i < row.responses.size(); ++i)
    check_response(row.responses[i], got[i], "response " + std::to_string(i + 1) + ": ", problems);
  if (!ex.rest.empty()) problems.push_back("bytes that are not a response: \"" + printable(ex.rest, 200) + "\"");
  if (row.close && *row.close && ex.probe_answered)
    problems.push_back("the connection stayed open (it answered a further request), expected the server to close it");
  if (row.close && !*row.close && !ex.probe_answered)
    problems.push_back(std::string("the server closed the connection (a further request got no answer; the stream ended with ") +
                       end_text(ex.end) + "), expected it to stay open");
  if (ex.end == ReadEnd::Timeout)
    problems.push_back("the server did not close the connection after the client's half-close");
  return problems;
}

// ---------------------------------------------------------------- nginx

std::optional<fs::path> nginx_binary() {
  if (::access("/usr/sbin/nginx", X_OK) == 0) return fs::path("/usr/sbin/nginx");
  if (const char* path = std::getenv("PATH")) {
    std::stringstream dirs(path);
    for (std::string d; std::getline(dirs, d, ':');)
      if (!d.empty() && ::access((fs::path(d) / "nginx").c_str(), X_OK) == 0) return fs::path(d) / "nginx";
  }
  return std::nullopt;
}

// One nginx process (master_process off: no workers to chase) serving `root`
// on 127.0.0.1 with a config of its own in `dir`: nothing of the system's
// configuration, no daemon, logs and pid under `dir`.
class Nginx {
 public:
  Nginx(const fs::path& binary, const fs::path& root, const fs::path& dir) {
    const fs::path conf = dir / "nginx.conf";
    const fs::path error_log = dir / "error.log";
    std::string last_error;
    for (int attempt = 0; attempt < 5; ++attempt) {
      // nginx cannot listen on port 0 and report it: pick a port that was
      // free a moment ago, and pick again if someone took it meanwhile.
      port_ = pick_free_port();
      write_file(conf, config(root, dir, port_));
      std::error_code ec;
      fs::remove(error_log, ec);
      proc_.emplace(std::vector<std::string>{binary.string(), "-p", dir.string() + "/", "-e", error_log.string(), "-c",
                                             conf.string()},
                    ProcessOptions().stdout_null());
      bool up = eventually([&] { return !proc_->running() || wait_port_listening(port_, Ms(0)); }, kStartTimeout);
      std::string log = file_exists(error_log) ? read_file(error_log) : "";
      const bool running = proc_->running();
      if (up && running && serves_probe()) return;
      last_error = "nginx on port " + std::to_string(port_) + ": " +
                   (!up ? "not listening" : running ? "something else answers there" : "exited") + "; error log: " + log;
      proc_.reset();
      const bool port_taken = log.find("Address already in use") != std::string::npos || (up && running);
      if (!port_taken) break;
    }
    throw std::runtime_error(last_error);
  }

  uint16_t port() const { return port_; }

 private:
  static std::string config(const fs::path& root, const fs::path& dir, uint16_t port) {
    const std::string d = dir.string();
    return "daemon off;\n"
           "master_process off;\n"
           "worker_processes 1;\n"
           "pid " + d + "/nginx.pid;\n"
           "error_log " + d + "/error.log info;\n"
           "events { worker_connections 64; }\n"
           "http {\n"
           "  access_log off;\n"
           "  types { text/html html; text/plain txt; }\n"
           "  default_type application/octet-stream;\n"
           "  client_body_temp_path " + d + "/body;\n"
           "  proxy_temp_path " + d + "/proxy;\n"
           "  fastcgi_temp_path " + d + "/fastcgi;\n"
           "  uwsgi_temp_path " + d + "/uwsgi;\n"
           "  scgi_temp_path " + d + "/scgi;\n"
           // RFC 9110 §13.1.3's rule; nginx's default (exact) answers 304 only for the exact date.
           "  if_modified_since before;\n"
           "  server {\n"
           "    listen 127.0.0.1:" + std::to_string(port) + ";\n"
           "    server_name localhost;\n"
           "    root " + root.string() + ";\n"
           "    autoindex on;\n"
           "  }\n"
           "}\n";
  }

  // The port may have been taken by someone else before nginx bound it.
  bool serves_probe() const {
    auto r = http_get(port_, "/" + std::string(kProbePath));
    return r.status == 200 && r.body == kProbeBody && lower(r.header("Server").value_or("")).rfind("nginx", 0) == 0;
  }

  uint16_t port_ = 0;
  std::optional<Process> proc_;
};

// ---------------------------------------------------------------- the differential

// What two servers can be compared on: per response its status and framing
// (Content-Length, with the value for 2xx where the body is the file; chunked;
// or neither), then whether the connection stayed open (when probed).
std::string outcome(const Exchange& ex, bool probed) {
  std::vector<std::string> parts;
  for (const auto& r : row_responses(ex)) {
    std::string framing;
    if (has_chunked(r)) framing = "chunked";
    else if (auto cl = r.header("Content-Length")) framing = r.status < 300 ? "length " + *cl : "length";
    else framing = "no length";
    parts.push_back(std::to_string(r.status) + " " + framing);
  }
  std::string text = parts.empty() ? "no response" : join(parts, ", ");
  if (!ex.rest.empty()) text += ", unparsable bytes";
  if (probed) text += ex.probe_answered ? "; open" : "; closed";
  if (ex.end == ReadEnd::Timeout) text += "; no close";
  return text;
}

struct AcceptedDifference {
  std::vector<std::string> ids;  // the inputs it applies to
  std::string nettool, nginx;    // outcome patterns: '*' matches any text
  std::string reason;
};

std::vector<AcceptedDifference> load_differences(const fs::path& file) {
  std::vector<AcceptedDifference> out;
  std::set<std::string> ids;
  for (const auto& node : YAML::LoadFile(file.string())) {
    AcceptedDifference d;
    d.ids = string_list(node["id"]);
    const std::string where = file.filename().string() + ", " + (d.ids.empty() ? "?" : d.ids[0]);
    require_known_keys(node, {"id", "nettool", "nginx", "reason"}, where);
    d.nettool = node["nettool"].as<std::string>("");
    d.nginx = node["nginx"].as<std::string>("");
    d.reason = node["reason"].as<std::string>("");
    if (d.ids.empty() || d.nettool.empty() || d.nginx.empty() || d.reason.empty())
      throw std::runtime_error(where + ": an entry needs id, nettool, nginx and reason");
    for (const auto& id : d.ids)
      if (!ids.insert(id).second) throw std::runtime_error(where + ": " + id + " is listed twice");
    out.push_back(std::move(d));
  }
  return out;
}

// `pattern` with '*' standing for any run of characters.
bool glob_match(std::string_view pattern, std::string_view text) {
  size_t p = 0, t = 0, star = std::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// One input of the differential corpus.
struct Input {
  std::string id;
  std::string bytes;  // placeholders not yet expanded (table rows only)
  bool probe = true;  // fuzz inputs may end mid-request: the probe would change them
};

std::vector<Input> differential_corpus(const Table& table) {
  std::vector<Input> inputs;
  for (const auto& row : table.rows) inputs.push_back({row.id, row.request, true});
  std::vector<fs::path> files;
  for (const auto& dir : fs::directory_iterator(kFuzzCorpus))
    if (dir.is_directory() && dir.path().filename().string().rfind("http_request", 0) == 0)
      for (const auto& f : fs::directory_iterator(dir.path()))
        if (f.is_regular_file()) files.push_back(f.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files)
    inputs.push_back({"fuzz:" + f.parent_path().filename().string() + "/" + f.filename().string(), read_file(f), false});
  return inputs;
}

// The README's "HTTP conformance" section, up to the next "## " heading.
std::string readme_conformance_section() {
  const std::string readme = read_file(kReadme);
  size_t at = readme.find("\n## HTTP conformance");
  if (at == std::string::npos) return "";
  size_t next = readme.find("\n## ", at + 1);
  return readme.substr(at, next == std::string::npos ? std::string::npos : next - at);
}

}  // namespace

// ---------------------------------------------------------------- tests

TEST_CASE("file-serve conformance table: each row of http_conformance.yaml gets the outcome RFC 9110 and 9112 require",
          "[file][file-serve][conformance]") {
  // One server answers every row, each on a connection of its own (a server
  // per row costs a process start each, which a sanitized build cannot afford).
  // NETTOOL_CONFORMANCE_ROW=id[,id...] runs only those rows.
  const Table table = load_table(kDataDir / "http_conformance.yaml");
  std::string only = std::getenv("NETTOOL_CONFORMANCE_ROW") ? std::getenv("NETTOOL_CONFORMANCE_ROW") : "";
  auto wanted = [&only](const std::string& id) {
    return only.empty() || ("," + only + ",").find("," + id + ",") != std::string::npos;
  };
  TempDir dir;
  const fs::path root = build_fixture(table.fixture, dir.path());
  auto srv = start_serve(root);
  Placeholders placeholders(srv.port);

  size_t ran = 0;
  for (const Row& row : table.rows) {
    if (!wanted(row.id)) continue;
    ++ran;
    const std::string request = placeholders.expand(row.request);
    const Exchange ex = exchange(srv.port, request, true);
    const auto problems = check_row(row, ex);
    if (problems.empty()) {
      SUCCEED(row.id);
      continue;
    }
    std::string report = "row " + row.id + " (" + row.rfc + "): " + row.what + "\n";
    if (!row.note.empty()) report += "  note: " + row.note + "\n";
    report += "  request: \"" + printable(request) + "\"\n";
    for (const auto& p : problems) report += "  - " + p + "\n";
    report += "  received: \"" + printable(ex.raw, 800) + "\"";
    FAIL_CHECK(report);
  }
  CHECK(ran > 0);  // a misspelt NETTOOL_CONFORMANCE_ROW runs nothing: say so
  CHECK(srv.proc.running());
}

TEST_CASE("file-serve against nginx: the same requests get the same status codes and framing, or a listed difference",
          "[file][file-serve][conformance][nginx]") {
  auto binary = nginx_binary();
  if (!binary) {
    if (std::getenv("CI")) FAIL("nginx is not installed (bench/setup.sh installs nginx-light), and CI is set: not skipping");
    WARN("skipped: nginx is not installed (bench/setup.sh installs nginx-light)");
    return;
  }
  const Table table = load_table(kDataDir / "http_conformance.yaml");
  const auto accepted = load_differences(kDataDir / "nginx_differences.yaml");
  TempDir dir;
  const fs::path root = build_fixture(table.fixture, dir.path());
  fs::create_directories(dir / "nginx");
  auto nettool = start_serve(root);
  Nginx nginx(*binary, root, dir / "nginx");
  Placeholders nettool_values(nettool.port), nginx_values(nginx.port());

  struct Difference {
    std::string id, nettool, nginx;
  };
  std::vector<Difference> differences;
  const auto corpus = differential_corpus(table);
  std::set<std::string> ids;
  for (const auto& input : corpus) {
    ids.insert(input.id);
    // Each server gets its own validators in the placeholders.
    auto ours = exchange(nettool.port, input.probe ? nettool_values.expand(input.bytes) : input.bytes, input.probe);
    auto theirs = exchange(nginx.port(), input.probe ? nginx_values.expand(input.bytes) : input.bytes, input.probe);
    std::string a = outcome(ours, input.probe), b = outcome(theirs, input.probe);
    if (a != b) differences.push_back({input.id, a, b});
  }

  std::vector<std::string> problems;
  std::set<std::string> seen;
  for (const auto& d : differences) {
    seen.insert(d.id);
    auto it = std::find_if(accepted.begin(), accepted.end(), [&](const AcceptedDifference& a) {
      return std::find(a.ids.begin(), a.ids.end(), d.id) != a.ids.end();
    });
    if (it == accepted.end()) {
      problems.push_back("unlisted difference (fix it, or add it to nginx_differences.yaml and the README):\n"
                         "    - id: " + d.id + "\n      nettool: " + d.nettool + "\n      nginx: " + d.nginx +
                         "\n      reason: ...");
    } else if (!glob_match(it->nettool, d.nettool) || !glob_match(it->nginx, d.nginx)) {
      problems.push_back("listed difference changed: " + d.id + "\n      listed:   nettool: " + it->nettool +
                         " | nginx: " + it->nginx + "\n      observed: nettool: " + d.nettool + " | nginx: " + d.nginx);
    }
  }
  const std::string readme = readme_conformance_section();
  for (const auto& a : accepted) {
    for (const auto& id : a.ids) {
      if (!ids.count(id)) problems.push_back("listed difference for an unknown input: " + id);
      else if (!seen.count(id)) problems.push_back("listed difference no longer occurs (remove it here and in the README): " + id);
      if (readme.find("`" + id + "`") == std::string::npos)
        problems.push_back("listed difference missing from the README's HTTP conformance table: " + id);
    }
  }
  INFO(corpus.size() << " inputs, " << differences.size() << " difference(s), " << accepted.size() << " listed");
  if (problems.empty()) {
    SUCCEED();
  } else {
    FAIL_CHECK(join(problems, "\n"));
  }
  CHECK(nettool.proc.running());
}
