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
  // C1 controls (U+009B is CSI, U+009D OSC: a terminal acts on them) as their UTF-8 bytes.
  CHECK(safe_file_name("x\xc2\x9b" "2Jy\xc2\x9d") == "x%C2%9B2Jy%C2%9D");
  CHECK(safe_file_name("\xc2\xa0\xe2\x82\xac") == "\xc2\xa0\xe2\x82\xac");  // NBSP and the euro sign stay
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

TEST_CASE("resolve_target: a lone URL without a scheme is http:// as curl and wget take it", "[file-get][target]") {
  // Clearly a host: an IP literal, localhost, anything with :PORT, a name of three labels or more.
  for (const char* text : {"127.0.0.1:8000/dir/a.txt", "10.0.0.2/dir/a.txt", "[::1]:8000/dir/a.txt",
                           "[fe80::1]/dir/a.txt", "localhost:8000/dir/a.txt", "LOCALHOST/dir/a.txt",
                           "fileserver:8000/dir/a.txt", "example.org:80/dir/a.txt", "build.d:8000/dir/a.txt",
                           "www.example.org/dir/a.txt", "files.my-lan.example/dir/a.txt"}) {
    INFO(text);
    TargetOptions o;
    o.name = cli(text);
    Target t = resolve_target(o);
    CHECK_FALSE(t.url.tls);
    CHECK(t.url.path_and_query == "/dir/a.txt");
    CHECK(t.default_name == "a.txt");
    CHECK(describe(t).rfind("http://", 0) == 0);
  }
  // A name, a relative path, an absolute path, another scheme: still the usage message. A
  // directory name with dots is a path too, never a host name sent to DNS: one dot without a
  // port (build.d, example.org), labels that are empty or end in '-', a numeric last label.
  for (const char* text : {"a.txt", "dir/a.txt", "/srv/a.txt", "ftp://h/a", "my host.org/a", "./a.txt", "../a",
                           "../dir/a.txt", ".cache/a.txt", "build.d/out.bin", "example.org/dir/a.txt",
                           "v1.2.3/a.txt", "1.2.3/a.txt", "a..b.org/a", "-x.example.org/a", "x-.example.org/a",
                           "www.example.org./a", "host:/a", "host:http/a", ":8000/a", "[::1/a", "[zz]/a",
                           "a:b/c"}) {
    INFO(text);
    TargetOptions o;
    o.name = cli(text);
    CHECK(refusal(o) == "missing HOST, PORT: use file-get URL or file-get HOST PORT NAME");
  }
  TargetOptions raw;  // the bare-name protocol has no URLs at all
  raw.raw = true;
  raw.name = cli("127.0.0.1:8000/a.txt");
  CHECK(refusal(raw) == "missing HOST, PORT: use file-get URL or file-get HOST PORT NAME");
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
  Target t = resolve_target(https);
  CHECK(t.url.tls);
  CHECK(t.url.port == 443);
  CHECK(describe(t) == "https://h/a");
}

TEST_CASE("resolve_target: a value typed after curl's -O or -s gets a hint", "[file-get][target]") {
  // `file-get -O out.txt URL` (wget's -O FILE) and `file-get -s ADDR URL`
  // (nc's -s): the letter takes no value, so two arguments arrive.
  auto two = [](std::string first, std::string second, bool remote_name, bool silent) {
    TargetOptions o;
    o.port = cli(std::move(first));
    o.name = cli(std::move(second));
    o.remote_name_letter = remote_name;
    o.silent_letter = silent;
    return refusal(o);
  };
  const std::string o_hint =
      "two arguments given: did you mean -o out.txt? (curl's -O takes no value: it saves under the remote name, "
      "which file-get does anyway)";
  CHECK(two("out.txt", "http://h/a.txt", true, false) == o_hint);
  CHECK(two("http://h/a.txt", "out.txt", true, false) == o_hint);
  CHECK(two("out.txt", "h:80/a.txt", true, false) == o_hint);  // a URL without its scheme
  CHECK(two("10.0.0.2", "http://h/a", false, true) ==
        "two arguments given: did you mean --source 10.0.0.2? (-s is --silent in file-get, as in curl)");
  CHECK(two("[::1]", "http://h/a", true, true) ==
        "two arguments given: did you mean --source [::1]? (-s is --silent in file-get, as in curl)");
  // -s before a word that is no address: the -O hint if -O was given, else the plain message.
  CHECK(two("out.txt", "http://h/a.txt", true, true) == o_hint);
  const std::string plain = "two arguments given: use file-get URL or file-get HOST PORT NAME";
  CHECK(two("out.txt", "http://h/a.txt", false, true) == plain);
  CHECK(two("out.txt", "http://h/a.txt", false, false) == plain);
  // Two URLs or none: no guess.
  CHECK(two("http://h/b", "http://h/a", true, true) == plain);
  CHECK(two("h", "80", true, true) == plain);
}

// ---- plan_response: what a response head means

#include "body_reader.h"
#include "nettool/http.h"
#include "response_plan.h"

namespace {

using nettool::file_get::Attempt;
using nettool::file_get::BodyReader;
using nettool::file_get::plan_response;
using nettool::file_get::ResponsePlan;
using Action = ResponsePlan::Action;
namespace http = nettool::http;

http::Response head(const std::string& text) {
  auto parsed = http::parse_response(text + "\r\n");
  REQUIRE(parsed.status == http::ParseStatus::Complete);
  return parsed.response;
}

http::Url here() {
  std::string error;
  auto url = http::parse_url("http://127.0.0.1:8080/dir/file.bin", error);
  REQUIRE(url);
  return *url;
}

Attempt resumed_from(uint64_t n) {
  Attempt a;
  a.resume_from = n;
  a.range_sent = true;
  a.part_has_data = true;
  return a;
}

}  // namespace

TEST_CASE("plan_response: a 200 saves the whole file, sized by Content-Length, with its validator", "[file-get]") {
  auto plan = plan_response(head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: \"v1\"\r\n"), here(), {});
  REQUIRE(plan.action == Action::Save);
  CHECK(plan.framing.kind == http::BodyFraming::Length);
  CHECK(plan.expected_size == 5u);
  CHECK(plan.base == 0);
  CHECK_FALSE(plan.body_limit);
  CHECK_FALSE(plan.restart_file);
  CHECK(plan.validator == "\"v1\"");
  // A weak tag cannot be an If-Range; a Last-Modified date can.
  plan = plan_response(head("HTTP/1.1 200 OK\r\nETag: W/\"v1\"\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n"),
                       here(), {});
  CHECK(plan.validator == "Sun, 06 Nov 1994 08:49:37 GMT");
  CHECK_FALSE(plan.expected_size);  // until close
}

TEST_CASE("plan_response: a 200 to a resumed request starts the .part over, and says why", "[file-get]") {
  Attempt a = resumed_from(100);
  auto plan = plan_response(head("HTTP/1.1 200 OK\r\nContent-Length: 300\r\n"), here(), a);
  REQUIRE(plan.action == Action::Save);
  CHECK(plan.restart_file);
  CHECK(plan.base == 0);
  REQUIRE(plan.notes.size() == 1);
  CHECK(plan.notes[0] == "server ignored the Range request; downloading from the start");
  a.validator = "\"v1\"";
  plan = plan_response(head("HTTP/1.1 200 OK\r\nContent-Length: 300\r\n"), here(), a);
  CHECK(plan.notes.at(0) == "the file changed on the server (If-Range); downloading it again");
}

TEST_CASE("plan_response: a 206 continues at the byte asked for, limited to its Content-Range", "[file-get]") {
  auto plan = plan_response(head("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 100-299/300\r\n"), here(),
                            resumed_from(100));
  REQUIRE(plan.action == Action::Save);
  CHECK(plan.base == 100);
  CHECK(plan.expected_size == 300u);
  CHECK(plan.body_limit == 200u);
  // Without a Content-Length the range's length ends the body.
  CHECK(plan.framing.kind == http::BodyFraming::Length);
  CHECK(plan.framing.length == 200);
  CHECK_FALSE(plan.restart_file);
}

TEST_CASE("plan_response: a 206 of another version than the If-Range's starts over, never joins the two",
          "[file-get]") {
  // A server that ignores If-Range answers with a range of its new file:
  // its own validator shows it is not the .part's version.
  Attempt a = resumed_from(10);
  a.validator = "\"A\"";
  auto plan = plan_response(
      head("HTTP/1.1 206 Partial Content\r\nETag: \"B\"\r\nContent-Range: bytes 10-19/20\r\n"), here(), a);
  REQUIRE(plan.action == Action::StartOver);
  REQUIRE(plan.notes.size() == 1);
  CHECK(plan.notes[0] ==
        "server sent a range of another version of the file (\"B\", not \"A\" as the .part's); downloading from the start");
  a.retried_from_zero = true;  // never twice
  plan = plan_response(head("HTTP/1.1 206 Partial Content\r\nETag: \"B\"\r\nContent-Range: bytes 10-19/20\r\n"),
                       here(), a);
  CHECK(plan.action == Action::Fail);

  // The same version, or a 206 that names none, continues the .part.
  a.retried_from_zero = false;
  plan = plan_response(head("HTTP/1.1 206 Partial Content\r\nETag: \"A\"\r\nContent-Range: bytes 10-19/20\r\n"),
                       here(), a);
  CHECK(plan.action == Action::Save);
  plan = plan_response(head("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 10-19/20\r\n"), here(), a);
  CHECK(plan.action == Action::Save);
  // A date is compared with a date, not with a tag.
  plan = plan_response(head("HTTP/1.1 206 Partial Content\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                            "Content-Range: bytes 10-19/20\r\n"),
                       here(), a);
  CHECK(plan.action == Action::Save);
  a.validator = "Sun, 06 Nov 1994 08:49:37 GMT";
  plan = plan_response(head("HTTP/1.1 206 Partial Content\r\nLast-Modified: Mon, 07 Nov 1994 08:49:37 GMT\r\n"
                            "Content-Range: bytes 10-19/20\r\n"),
                       here(), a);
  CHECK(plan.action == Action::StartOver);
}

TEST_CASE("plan_response: a 206 that does not fit the request is refused", "[file-get]") {
  auto refused = [](const std::string& text, const Attempt& a) {
    auto plan = plan_response(head(text), here(), a);
    CHECK(plan.action == Action::Fail);
    return plan.error;
  };
  CHECK(refused("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/10\r\n", {}) ==
        "invalid response: 206 Partial Content to a request without Range");
  CHECK(refused("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 50-299/300\r\n", resumed_from(100)) ==
        "server resumed at byte 50, not at 100 as asked");
  CHECK(refused("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 100-199/300\r\n", resumed_from(100)) ==
        "server sent only bytes 100-199 of 300");
  CHECK(refused("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 100-299/300\r\nContent-Length: 7\r\n",
                resumed_from(100)) == "invalid response: Content-Length does not match Content-Range");
  CHECK(refused("HTTP/1.1 206 Partial Content\r\nContent-Range: items 1-2/3\r\n", resumed_from(100)) ==
        "invalid response: 206 without a valid Content-Range ('items 1-2/3')");
  // Without the file's length, the range's end may not be the file's end.
  CHECK(refused("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 100-109/*\r\n", resumed_from(100)) ==
        "server did not say how long the file is (Content-Range 'bytes 100-109/*'): cannot tell whether it is "
        "complete");
}

TEST_CASE("plan_response: a 416 finishes a complete .part, or starts over once", "[file-get]") {
  auto plan = plan_response(head("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */100\r\n"), here(),
                            resumed_from(100));
  CHECK(plan.action == Action::AlreadyComplete);
  CHECK(plan.expected_size == 100u);
  CHECK(plan.base == 100);
  CHECK_FALSE(plan.expected_digest);  // complete by its length, as curl and wget take it
  // The 416's own Repr-Digest is the .part's check.
  plan = plan_response(head("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */100\r\n"
                            "Repr-Digest: sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:\r\n"),
                       here(), resumed_from(100));
  CHECK(plan.action == Action::AlreadyComplete);
  REQUIRE(plan.expected_digest);
  CHECK((*plan.expected_digest)[0] == 0xe3);
  plan = plan_response(head("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */100\r\n"
                            "Repr-Digest: sha-256=:AAAA:\r\n"),
                       here(), resumed_from(100));
  CHECK(plan.action == Action::Fail);
  // The .part is longer than the file (or the file changed).
  Attempt a = resumed_from(500);
  plan = plan_response(head("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */100\r\n"), here(), a);
  CHECK(plan.action == Action::StartOver);
  a.retried_from_zero = true;
  plan = plan_response(head("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */100\r\n"), here(), a);
  CHECK(plan.action == Action::Fail);
  CHECK(plan.error == "server answered 416 Range Not Satisfiable");
}

TEST_CASE("plan_response: redirects resolve against the URL asked for, up to the limit", "[file-get]") {
  auto plan = plan_response(head("HTTP/1.1 302 Found\r\nLocation: ../other/x.bin\r\n"), here(), {});
  REQUIRE(plan.action == Action::Redirect);
  CHECK(plan.next.host == "127.0.0.1");
  CHECK(plan.next.port == 8080);
  CHECK(plan.next.path_and_query == "/other/x.bin");
  Attempt a;
  a.redirects = 5;
  plan = plan_response(head("HTTP/1.1 302 Found\r\nLocation: /x\r\n"), here(), a);
  CHECK(plan.error == "too many redirects (more than 5)");
  plan = plan_response(head("HTTP/1.1 301 Moved Permanently\r\n"), here(), {});
  CHECK(plan.error == "server answered 301 Moved Permanently without a Location");
  plan = plan_response(head("HTTP/1.1 307 Temporary Redirect\r\nLocation: ftp://127.0.0.1/x\r\n"), here(), {});
  CHECK(plan.action == Action::Fail);
  CHECK(plan.error.rfind("bad redirect to 'ftp://127.0.0.1/x': ", 0) == 0);
}

TEST_CASE("plan_response: errors, odd statuses and undecodable framing fail with the status", "[file-get]") {
  CHECK(plan_response(head("HTTP/1.1 404 Not Found\r\n"), here(), {}).error == "server answered 404 Not Found");
  CHECK(plan_response(head("HTTP/1.1 204 No Content\r\n"), here(), {}).error == "unexpected response 204 No Content");
  auto plan = plan_response(head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n"), here(), {});
  CHECK(plan.action == Action::Fail);
  CHECK(plan.error.rfind("invalid response: ", 0) == 0);
}

TEST_CASE("plan_response: an error's short plain-text body is read for the message and quoted on one line",
          "[file-get]") {
  using nettool::file_get::error_with_body;
  // file-serve's answer to plain HTTP on its HTTPS port.
  const std::string tls_port = "this port speaks HTTPS; use https://";
  auto bad = head("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 55\r\n");
  auto plan = plan_response(bad, here(), {});
  CHECK(plan.action == Action::Fail);
  CHECK(plan.quote_body == 55);
  CHECK(error_with_body(plan.error, bad, "400 Bad Request: " + tls_port + "\n") ==
        "server answered 400 Bad Request: " + tls_port);
  // A body that only repeats the status adds nothing (file-serve's other errors).
  auto missing = head("HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n");
  CHECK(error_with_body("server answered 404 Not Found", missing, "404 Not Found\n") == "server answered 404 Not Found");
  CHECK(error_with_body("server answered 404 Not Found", missing, "Not Found") == "server answered 404 Not Found");
  CHECK(error_with_body("server answered 404 Not Found", missing, " \r\n") == "server answered 404 Not Found");
  // Line breaks become spaces; control characters cannot reach the terminal.
  CHECK(error_with_body("e", missing, "no such\r\nfile\n\n") == "e: no such file");
  CHECK(error_with_body("e", missing, "bad\x1b[31m\x07") == "e: bad\\x1b[31m\\x07");
  CHECK(error_with_body("e", missing, "nul\0x"s) == "e: nul\\x00x");
  // Only short plain text with a Content-Length is waited for.
  CHECK(plan_response(head("HTTP/1.1 404 Not Found\r\nContent-Type: TEXT/PLAIN\r\nContent-Length: 200\r\n"), here(), {})
            .quote_body == 200);
  CHECK(plan_response(head("HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 201\r\n"), here(), {})
            .quote_body == 0);
  CHECK(plan_response(head("HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 20\r\n"), here(), {})
            .quote_body == 0);
  CHECK(plan_response(head("HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"),
                      here(), {})
            .quote_body == 0);
  CHECK(plan_response(head("HTTP/1.1 404 Not Found\r\nContent-Length: 20\r\n"), here(), {}).quote_body == 0);
  CHECK(plan_response(head("HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n"), here(), {})
            .quote_body == 0);
}

TEST_CASE("plan_response: a Repr-Digest is expected, a Content-Encoding is warned about", "[file-get]") {
  // sha-256 of the empty string.
  auto plan = plan_response(
      head("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nRepr-Digest: sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:\r\n"
           "Content-Encoding: gzip\r\n"),
      here(), {});
  REQUIRE(plan.expected_digest);
  CHECK((*plan.expected_digest)[0] == 0xe3);
  REQUIRE(plan.warnings.size() == 1);
  CHECK(plan.warnings[0].find("Content-Encoding: gzip") != std::string::npos);
  // Another algorithm only: saved unverified, and the user is told.
  plan = plan_response(head("HTTP/1.1 200 OK\r\nRepr-Digest: md5=:AAAA:\r\n"), here(), {});
  CHECK(plan.action == Action::Save);
  CHECK_FALSE(plan.expected_digest);
  REQUIRE(plan.warnings.size() == 1);
  CHECK(plan.warnings[0].find("not verified") != std::string::npos);
  // A sha-256 member that is no digest: never saved as if nothing was promised.
  plan = plan_response(head("HTTP/1.1 200 OK\r\nRepr-Digest: sha-256=:AAAA:\r\n"), here(), {});
  CHECK(plan.action == Action::Fail);
  CHECK(plan.error.find("malformed sha-256") != std::string::npos);
  // Field lines are one list: the later sha-256 member counts.
  plan = plan_response(head("HTTP/1.1 200 OK\r\nRepr-Digest: sha-256=:AAAA:\r\n"
                            "Repr-Digest: sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:\r\n"),
                       here(), {});
  REQUIRE(plan.expected_digest);
  CHECK((*plan.expected_digest)[0] == 0xe3);
}

// ---- BodyReader: the bytes to write

namespace {

struct Collected {
  std::string bytes;
  BodyReader::EmitFn fn() {
    return [this](const nettool::ChunkPtr& c) { bytes.append(c->data.get(), c->size); };
  }
};

http::BodyFraming length(uint64_t n) {
  http::BodyFraming f;
  f.kind = http::BodyFraming::Length;
  f.length = n;
  return f;
}

}  // namespace

TEST_CASE("BodyReader: a Content-Length body ends at its length and ignores what follows", "[file-get]") {
  BodyReader body(length(8));
  Collected out;
  auto fed = body.feed("abcde", nullptr, out.fn());
  CHECK_FALSE(fed.done);
  CHECK(body.remaining() == 3);
  fed = body.feed("fghEXTRA", nullptr, out.fn());
  CHECK(fed.done);
  CHECK(fed.ignored == 5);
  CHECK(out.bytes == "abcdefgh");
  CHECK(body.bytes() == 8);
  CHECK(body.at_close("8 bytes").empty() == false);  // closing early would have been a short read
}

TEST_CASE("BodyReader: a short Content-Length body is a short read at close, and until-close is complete", "[file-get]") {
  BodyReader body(length(10));
  Collected out;
  body.feed("abc", nullptr, out.fn());
  CHECK(body.at_close("3 of 10 bytes") == "short read: connection closed after 3 of 10 bytes");
  BodyReader until_close;
  CHECK(until_close.verbatim());
  until_close.feed("anything", nullptr, out.fn());
  CHECK(until_close.at_close("x").empty());
  CHECK(until_close.remaining() == UINT64_MAX);
}

TEST_CASE("BodyReader: spliced bytes count, and complete a Content-Length body", "[file-get]") {
  BodyReader body(length(100));
  Collected out;
  body.feed("0123456789", nullptr, out.fn());
  CHECK_FALSE(body.spliced(50));
  CHECK(body.remaining() == 40);
  CHECK(body.spliced(40));
  CHECK(body.bytes() == 100);
}

TEST_CASE("BodyReader: a chunked body is decoded, and a broken one fails after the good bytes", "[file-get]") {
  http::BodyFraming chunked;
  chunked.kind = http::BodyFraming::Chunked;
  BodyReader body(chunked);
  CHECK_FALSE(body.verbatim());
  Collected out;
  auto fed = body.feed("5\r\nhello\r\n", nullptr, out.fn());
  CHECK_FALSE(fed.done);
  CHECK(body.at_close("5 bytes") == "connection closed before the last chunk (after 5 bytes)");
  fed = body.feed("6\r\n world\r\n0\r\n\r\n", nullptr, out.fn());
  CHECK(fed.done);
  CHECK(out.bytes == "hello world");

  BodyReader broken(chunked);
  Collected got;
  fed = broken.feed("3\r\nabc\r\n", nullptr, got.fn());
  CHECK(fed.error.empty());
  fed = broken.feed("zz\r\n", nullptr, got.fn());
  CHECK(got.bytes == "abc");
  CHECK(fed.error.rfind("invalid chunked encoding: ", 0) == 0);
}

TEST_CASE("BodyReader: a chunked 206 writes no more than its Content-Range", "[file-get]") {
  http::BodyFraming chunked;
  chunked.kind = http::BodyFraming::Chunked;
  BodyReader body(chunked, 4);
  Collected out;
  auto fed = body.feed("6\r\nabcdef\r\n0\r\n\r\n", nullptr, out.fn());
  CHECK(out.bytes == "abcd");
  CHECK(fed.error == "invalid response: more body than the 4 bytes of its Content-Range");
}
