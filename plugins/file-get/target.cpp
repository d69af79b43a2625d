#include "target.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <vector>

#include "nettool/error.h"
#include "nettool/log.h"
#include "nettool/options.h"

namespace nettool::file_get {

namespace {

bool looks_like_url(std::string_view text) {
  return http::iequals(text.substr(0, 7), "http://") || http::iequals(text.substr(0, 8), "https://");
}

// One label of a host name: letters, digits and '-', not at either end.
bool is_label(std::string_view s) {
  if (s.empty() || s.front() == '-' || s.back() == '-') return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; });
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool all_letters(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return std::isalpha(static_cast<unsigned char>(c)); });
}

std::vector<std::string_view> split_dots(std::string_view s) {
  std::vector<std::string_view> parts;
  for (size_t dot; (dot = s.find('.')) != std::string_view::npos; s.remove_prefix(dot + 1)) parts.push_back(s.substr(0, dot));
  parts.push_back(s);
  return parts;
}

// `127.0.0.1:8000/a.txt`, `files.example.org/a.txt`: a URL without its
// scheme, which curl and wget take as http://. curl takes anything there, but
// a relative path (`./a.txt`, `.cache/a.txt`, `build.d/out.bin`) would then go
// to DNS as a host name; so the part before the first '/' must be clearly a
// host, or it is a path and gets the usage message:
//   - an IPv4 literal (`10.0.0.2`) or an IPv6 one in brackets (`[::1]`),
//   - `localhost`,
//   - any host name followed by `:PORT` (`fileserver:8000`, `example.org:80`),
//   - a host name of three labels or more whose last one is letters only
//     (`www.example.org`, `files.lan.example`): one dot is as common in
//     directory names (`build.d`, `src.old`) as in host names, two are not.
// A host name's labels are letters, digits and '-', not at either end, so
// `.`, `..` and `.cache` never qualify.
bool looks_like_url_without_scheme(std::string_view text) {
  if (text.find("://") != std::string_view::npos) return false;
  const size_t slash = text.find('/');
  if (slash == 0 || slash == std::string_view::npos) return false;
  std::string_view host = text.substr(0, slash);

  // The port, after the last ':' (after the ']' of an IPv6 literal).
  std::optional<std::string_view> port;
  const size_t bracket = host.front() == '[' ? host.find(']') : std::string_view::npos;
  const size_t colon = host.find(':', bracket == std::string_view::npos ? 0 : bracket);
  if (host.front() == '[' && bracket == std::string_view::npos) return false;
  if (colon != std::string_view::npos) {
    port = host.substr(colon + 1);
    host = host.substr(0, colon);
    if (!all_digits(*port) || port->size() > 5) return false;
  }
  if (host.empty()) return false;  // ":8000/a.txt"

  if (host.front() == '[') {
    std::string_view inside = host.substr(1, host.size() - 2);
    return host.back() == ']' && inside.find(':') != std::string_view::npos &&
           std::all_of(inside.begin(), inside.end(),
                       [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.'; });
  }
  const std::vector<std::string_view> labels = split_dots(host);
  if (!std::all_of(labels.begin(), labels.end(), is_label)) return false;
  const bool ipv4 = labels.size() == 4 && std::all_of(labels.begin(), labels.end(), [](std::string_view l) {
                      return all_digits(l) && l.size() <= 3 && std::stoi(std::string(l)) <= 255;
                    });
  if (ipv4 || http::iequals(host, "localhost") || port) return true;
  return labels.size() >= 3 && all_letters(labels.back());
}

// 10.0.0.2, ::1, [::1]: what -s ADDR would have meant as nc's source address.
bool is_address_literal(std::string_view text) {
  if (text.size() > 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  std::string s(text);
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

// The last segment of an HTTP path, percent-decoded ("" when it cannot be).
std::string last_segment_of(const http::Url& url) {
  std::string path = url.path_and_query.substr(0, url.path_and_query.find('?'));
  auto decoded = http::percent_decode_path(path.substr(path.rfind('/') + 1));
  return decoded ? *decoded : std::string();
}

}  // namespace

Target resolve_target(const TargetOptions& o) {
  auto from_cli = [](const std::optional<TargetOptions::Value>& v) { return v && v->from_command_line; };
  auto from_profile = [](const std::optional<TargetOptions::Value>& v) { return v && !v->from_command_line; };
  int cli_positionals = from_cli(o.host) + from_cli(o.port) + from_cli(o.name);
  Target t;
  t.raw = o.raw;

  std::optional<std::string> url_text;
  if (cli_positionals == 1 && from_cli(o.name) && looks_like_url(o.name->text)) {
    url_text = o.name->text;
    if (from_cli(o.url)) throw ConfigError("give the URL once: as an argument or with --url");
  } else if (cli_positionals == 1 && from_cli(o.name) && !o.raw && looks_like_url_without_scheme(o.name->text)) {
    url_text = "http://" + o.name->text;
    if (from_cli(o.url)) throw ConfigError("give the URL once: as an argument or with --url");
  } else if (from_cli(o.url)) {
    if (cli_positionals > 0) throw ConfigError("give either --url or HOST PORT NAME, not both");
    url_text = o.url->text;
  } else if (cli_positionals == 0 && from_profile(o.url)) {
    if (from_profile(o.host) || from_profile(o.port) || from_profile(o.name))
      throw ConfigError("the profile gives both 'url' and host/port/name; keep one of them");
    url_text = o.url->text;
  }

  if (url_text) {
    if (o.raw) throw ConfigError("--raw speaks the bare-name protocol: give HOST PORT NAME, not a URL");
    std::string error;
    auto url = http::parse_url(*url_text, error);
    if (!url) throw ConfigError("URL '" + escape_for_log(*url_text) + "': " + error);
    t.url = *url;
    t.default_name = safe_file_name(last_segment_of(t.url));
    return t;
  }

  // HOST PORT NAME, any of them possibly from the profile.
  if (cli_positionals == 2 && !from_profile(o.host)) {
    // Two arguments fill PORT and NAME. One a URL and the other not: maybe a
    // value meant for -O or -s.
    auto is_url = [&](const std::string& s) { return looks_like_url(s) || looks_like_url_without_scheme(s); };
    if (is_url(o.port->text) != is_url(o.name->text)) {
      const std::string& word = is_url(o.port->text) ? o.name->text : o.port->text;
      if (o.silent_letter && is_address_literal(word))
        throw ConfigError("two arguments given: did you mean --source " + escape_for_log(word) +
                          "? (-s is --silent in file-get, as in curl)");
      if (o.remote_name_letter)
        throw ConfigError("two arguments given: did you mean -o " + escape_for_log(word) +
                          "? (curl's -O takes no value: it saves under the remote name, which file-get does anyway)");
    }
    throw ConfigError("two arguments given: use file-get URL or file-get HOST PORT NAME");
  }
  if (!o.host || !o.port || !o.name) {
    std::string missing;
    for (auto [given, label] : {std::pair{o.host.has_value(), "HOST"}, {o.port.has_value(), "PORT"}, {o.name.has_value(), "NAME"}})
      if (!given) missing += (missing.empty() ? "" : ", ") + std::string(label);
    throw ConfigError("missing " + missing + ": use file-get URL or file-get HOST PORT NAME");
  }
  const std::string& host = o.host->text;
  if (looks_like_url(host)) throw ConfigError("a URL comes alone: file-get URL (no PORT or NAME after it)");
  if (host.empty()) throw ConfigError("empty HOST");
  uint16_t port = 0;
  try {
    port = parse_port(o.port->text);
  } catch (const ConfigError& e) {
    throw ConfigError(std::string("PORT: ") + e.what() + " (use file-get URL or file-get HOST PORT NAME)");
  }
  if (port == 0) throw ConfigError("cannot connect to port 0");
  const std::string& name = o.name->text;
  if (name.empty()) throw ConfigError("empty NAME");

  // NAME is a plain file name, not URL text: taken literally here and encoded on the wire.
  t.default_name = safe_file_name(name.substr(name.rfind('/') + 1));
  if (o.raw) {
    if (name.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
      throw ConfigError("NAME must not contain line breaks or NUL bytes");
    t.raw_host = host;
    t.raw_port = port;
    t.raw_name = name;
    return t;
  }
  t.url.host = host.size() > 2 && host.front() == '[' && host.back() == ']' ? host.substr(1, host.size() - 2) : host;
  t.url.port = port;
  size_t skip = name.find_first_not_of('/');
  t.url.path_and_query = "/";
  t.url.path_and_query.append(http::percent_encode_path(skip == std::string::npos ? "" : name.substr(skip)));
  return t;
}

std::string describe(const Target& t) {
  if (t.raw) {
    const std::string& host = t.raw_host;
    std::string h = host.find(':') != std::string::npos && host.front() != '[' ? "[" + host + "]" : host;
    return escape_for_log(h + ":" + std::to_string(t.raw_port) + " '" + t.raw_name + "' (raw)");
  }
  return escape_for_log((t.url.tls ? "https://" : "http://") + http::host_header(t.url) + t.url.path_and_query);
}

std::string safe_file_name(std::string_view decoded) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(decoded.size());
  auto escape = [&](unsigned char c) {
    out += '%';
    out += kHex[c >> 4];
    out += kHex[c & 15];
  };
  for (size_t i = 0; i < decoded.size(); ++i) {
    auto c = static_cast<unsigned char>(decoded[i]);
    auto next = i + 1 < decoded.size() ? static_cast<unsigned char>(decoded[i + 1]) : 0;
    if (c < 0x20 || c == 0x7f) {
      escape(c);
    } else if (c == 0xc2 && next >= 0x80 && next <= 0x9f) {  // U+0080..U+009F: C1 controls (CSI, OSC...)
      escape(c);
      escape(next);
      ++i;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

}  // namespace nettool::file_get
