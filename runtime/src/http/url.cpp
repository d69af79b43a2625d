// http:// URLs and redirect targets (RFC 3986 §5.2), and the Host header.
#include "http_internal.h"

#include <algorithm>
#include <charconv>

namespace nettool::http {

using namespace detail;

namespace {

// RFC 3986 §5.2.4 on an absolute path ("/a/b/../c" is "/a/c"); the query, if
// any, is left alone.
std::string remove_dot_segments(std::string_view path_and_query) {
  size_t query = path_and_query.find('?');
  std::string_view path = path_and_query.substr(0, query);
  std::vector<std::string_view> kept;
  size_t pos = 1;  // past the leading '/'
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    bool last = slash == std::string_view::npos;
    std::string_view segment = path.substr(pos, last ? std::string_view::npos : slash - pos);
    if (segment == "..") {
      if (!kept.empty()) kept.pop_back();
    } else if (segment != ".") {
      kept.push_back(segment);
    }
    if ((segment == "." || segment == "..") && last) kept.emplace_back();  // "/a/.." is "/", a directory
    if (last) break;
    pos = slash + 1;
  }
  std::string out;
  for (std::string_view segment : kept) out.append("/").append(segment);
  if (out.empty()) out.push_back('/');  // (not `= "/"`: GCC 12 warns falsely, bug 105651)
  if (query != std::string_view::npos) out.append(path_and_query.substr(query));
  return out;
}

// The scheme of an absolute URI ("HTTP" in "HTTP://h/"), or empty for a
// relative reference (RFC 3986 §3.1, §4.2).
std::string_view uri_scheme(std::string_view reference) {
  size_t colon = reference.find(':');
  if (colon == std::string_view::npos || colon == 0 || !std::isalpha(static_cast<unsigned char>(reference[0])))
    return {};
  std::string_view scheme = reference.substr(0, colon);
  bool ok = std::all_of(scheme.begin(), scheme.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
  });
  return ok ? scheme : std::string_view{};
}

}  // namespace

std::optional<Url> parse_url(std::string_view text, std::string& error) {
  Url url;
  std::string_view rest;
  if (iequals(text.substr(0, 7), "http://")) {
    rest = text.substr(7);
  } else if (iequals(text.substr(0, 8), "https://")) {
    rest = text.substr(8);
    url.tls = true;
    url.port = 443;
  } else {
    error = "expected a URL starting with http:// or https://";
    return std::nullopt;
  }
  size_t slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
  if (auto hash = path.find('#'); hash != std::string_view::npos) path = path.substr(0, hash);
  // (Built by push_back: GCC 12 warns falsely on `"/" + std::string(...)` and on
  // assigning "/", bug 105651.)
  if (path.empty() || path.front() != '/') url.path_and_query.assign(1, '/').append(path);
  else url.path_and_query = std::string(path);
  url.path_and_query = remove_dot_segments(url.path_and_query);
  if (authority.find('@') != std::string_view::npos) {
    error = "user:password@ in URLs is not supported";
    return std::nullopt;
  }
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "unterminated [IPv6] address in URL";
      return std::nullopt;
    }
    url.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        error = "malformed URL authority";
        return std::nullopt;
      }
      port_text = after.substr(1);
    }
  } else {
    size_t colon = authority.rfind(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (url.host.empty()) {
    error = "URL has no host";
    return std::nullopt;
  }
  for (char c : url.host) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      error = "URL host contains spaces or control characters";
      return std::nullopt;
    }
  }
  if (!port_text.empty()) {
    unsigned port = 0;
    auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || p != port_text.data() + port_text.size() || port == 0 || port > 65535) {
      error = "invalid port in URL";
      return std::nullopt;
    }
    url.port = static_cast<uint16_t>(port);
  }
  for (char c : url.path_and_query) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      error = "URL contains spaces or control characters (percent-encode them)";
      return std::nullopt;
    }
  }
  return url;
}

std::optional<Url> resolve_location(const Url& base, std::string_view location, std::string& error) {
  location = location.substr(0, location.find('#'));  // fragments are never sent
  if (std::string_view scheme = uri_scheme(location); !scheme.empty()) {
    if (iequals(scheme, "http") || iequals(scheme, "https")) return parse_url(location, error);
    error = "redirect to a '" + std::string(scheme) + ":' URL (only http:// and https:// can be followed)";
    return std::nullopt;
  }
  // A network-path reference keeps the base's scheme.
  if (location.substr(0, 2) == "//") return parse_url((base.tls ? "https:" : "http:") + std::string(location), error);
  // A relative reference, merged with the base (RFC 3986 §5.2.2, §5.2.3).
  Url url = base;
  std::string base_path = base.path_and_query.substr(0, base.path_and_query.find('?'));
  if (location.empty()) {
    // Same resource: keep the base path and query.
  } else if (location.front() == '?') {
    url.path_and_query = base_path.append(location);  // same path, new query
  } else if (location.front() == '/') {
    url.path_and_query = remove_dot_segments(location);
  } else {
    url.path_and_query = remove_dot_segments(base_path.substr(0, base_path.rfind('/') + 1).append(location));
  }
  for (char c : url.path_and_query) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      error = "redirect Location contains control characters";
      return std::nullopt;
    }
  }
  return url;
}

std::string host_header(const Url& url) {
  std::string host;
  if (url.host.find(':') != std::string::npos) host.append("[").append(url.host).append("]");
  else host = url.host;
  if (url.port != (url.tls ? 443 : 80)) host.append(":").append(std::to_string(url.port));
  return host;
}

}  // namespace nettool::http
