// file-get's pure pieces: what to fetch (resolve_target) and the default output name.
#include <catch2/catch.hpp>

#include "nettool/error.h"
#include "target.h"

using nettool::file_get::safe_file_name;
using namespace std::string_literals;

TEST_CASE("safe_file_name writes control characters as %XX and keeps everything else", "[file-get]") {
  CHECK(safe_file_name("report.txt") == "report.txt");
  CHECK(safe_file_name("a\nb") == "a%0Ab");
  CHECK(safe_file_name("\x1b[31mred\x07") == "%1B[31mred%07");
  CHECK(safe_file_name("del\x7f") == "del%7F");
  CHECK(safe_file_name("tab\there") == "tab%09here");
  CHECK(safe_file_name("nul\0x"s) == "nul%00x");
  // Spaces, quotes, UTF-8 and a literal percent sign are ordinary bytes of a name.
  CHECK(safe_file_name("a b 'c' \xc3\xa9 100%") == "a b 'c' \xc3\xa9 100%");
}

// ---- resolve_target

namespace {

using nettool::file_get::describe;
using nettool::file_get::resolve_target;
using nettool::file_get::Target;
using nettool::file_get::TargetOptions;

TargetOptions::Value cli(std::string text) { return {std::move(text), true}; }
TargetOptions::Value profile(std::string text) { return {std::move(text), false}; }

std::string refusal(const TargetOptions& o) {
  try {
    resolve_target(o);
  } catch (const nettool::ConfigError& e) {
    return e.what();
  }
  return "(accepted)";
}

}  // namespace

TEST_CASE("resolve_target: a lone URL, --url, or a url in the profile", "[file-get][target]") {
  TargetOptions lone;
  lone.name = cli("HTTP://example.org:8080/dir/a%20b.txt?x=1");  // a lone positional fills the last slot
  Target t = resolve_target(lone);
  CHECK_FALSE(t.raw);
  CHECK(t.url.host == "example.org");
  CHECK(t.url.port == 8080);
  CHECK(t.url.path_and_query == "/dir/a%20b.txt?x=1");
  CHECK(t.default_name == "a b.txt");
  CHECK(describe(t) == "http://example.org:8080/dir/a%20b.txt?x=1");

  TargetOptions flag;
  flag.url = cli("http://[::1]/x/");
  t = resolve_target(flag);
  CHECK(t.url.host == "::1");
  CHECK(t.default_name.empty());  // nothing after the last slash: -o is needed

  TargetOptions from_profile;
  from_profile.url = profile("http://h/f.bin");
  CHECK(resolve_target(from_profile).default_name == "f.bin");
  // A URL on the command line wins over the profile's host/port/name.
  from_profile.host = profile("other");
  CHECK(refusal(from_profile) == "the profile gives both 'url' and host/port/name; keep one of them");
  from_profile.name = cli("http://h/g.bin");
  from_profile.host.reset();
  CHECK(resolve_target(from_profile).default_name == "g.bin");
}

TEST_CASE("resolve_target: HOST PORT NAME takes NAME literally and encodes it", "[file-get][target]") {
  TargetOptions o;
  o.host = cli("[::1]");
  o.port = cli("8000");
  o.name = cli("//docs/a b%.txt");
  Target t = resolve_target(o);
  CHECK(t.url.host == "::1");
  CHECK(t.url.port == 8000);
  CHECK(t.url.path_and_query == "/docs/a%20b%25.txt");
  CHECK(t.default_name == "a b%.txt");

  o.raw = true;
  o.host = cli("::1");
  t = resolve_target(o);
  CHECK(t.raw);
  CHECK(t.raw_name == "//docs/a b%.txt");
  CHECK(describe(t) == "[::1]:8000 '//docs/a b%.txt' (raw)");
  o.name = cli("a\nb");
  CHECK(refusal(o) == "NAME must not contain line breaks or NUL bytes");
}

TEST_CASE("resolve_target: every mix-up gets a message saying what to type", "[file-get][target]") {
  auto with = [](std::optional<TargetOptions::Value> host, std::optional<TargetOptions::Value> port,
                 std::optional<TargetOptions::Value> name, std::optional<TargetOptions::Value> url = std::nullopt) {
    TargetOptions o;
    o.host = std::move(host);
    o.port = std::move(port);
    o.name = std::move(name);
    o.url = std::move(url);
    return refusal(o);
  };
  CHECK(with(std::nullopt, std::nullopt, cli("http://h/a"), cli("http://h/b")) ==
        "give the URL once: as an argument or with --url");
  CHECK(with(cli("h"), cli("80"), cli("a"), cli("http://h/b")) == "give either --url or HOST PORT NAME, not both");
  CHECK(with(std::nullopt, cli("h"), cli("80")) == "two arguments given: use file-get URL or file-get HOST PORT NAME");
  CHECK(with(std::nullopt, std::nullopt, cli("a.txt")) == "missing HOST, PORT: use file-get URL or file-get HOST PORT NAME");
  CHECK(with(cli("http://h/"), cli("80"), cli("a")) == "a URL comes alone: file-get URL (no PORT or NAME after it)");
  CHECK(with(cli("h"), cli("0"), cli("a")) == "cannot connect to port 0");
  CHECK(with(cli("h"), cli("80"), cli("")) == "empty NAME");
  CHECK(with(cli(""), cli("80"), cli("a")) == "empty HOST");
  CHECK(with(cli("h"), cli("http"), cli("a")).rfind("PORT: ", 0) == 0);
  CHECK(with(std::nullopt, std::nullopt, cli("ftp://h/a")) == "missing HOST, PORT: use file-get URL or file-get HOST PORT NAME");
  TargetOptions raw_url;
  raw_url.raw = true;
  raw_url.name = cli("http://h/a");
  CHECK(refusal(raw_url) == "--raw speaks the bare-name protocol: give HOST PORT NAME, not a URL");
  TargetOptions https;
  https.name = cli("https://h/a");
  CHECK(refusal(https).find("https is not supported") != std::string::npos);
}
