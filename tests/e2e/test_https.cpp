// file-serve over HTTPS: curl, wget and file-get download from it (bytes
// compared), a plain HTTP request on its port, a stalled handshake, SIGHUP
// reloading the certificate, --tls-ktls on whichever path the kernel allows,
// 1,000 TLS clients at once; and file-get from nginx's HTTPS. Certificates
// come from the test's own CA (tls_test_util.h); traffic stays on 127.0.0.1.
#include <catch2/catch.hpp>
#include <signal.h>

#include <regex>

#include "faults_load_util.h"
#include "file_test_util.h"
#include "harness.h"
#include "tls_test_util.h"

using namespace e2e;
using namespace filetest;
using namespace faultload;

namespace {

std::string https_url(uint16_t port, std::string_view path) {
  return "https://127.0.0.1:" + std::to_string(port) + std::string(path);
}

// `file-serve --tls-cert CERT --tls-key KEY` on ROOT, up and listening.
Listener start_https(const fs::path& root, const fs::path& cert, const fs::path& key,
                     std::vector<std::string> extra = {}) {
  extra.insert(extra.begin(), {"--tls-cert", cert.string(), "--tls-key", key.string()});
  return start_serve(root, std::move(extra));
}

// The first "sha256//..." pin in `text`.
std::string first_pin(const std::string& text) {
  std::smatch m;
  static const std::regex kPin("sha256//[A-Za-z0-9+/=]+");
  return std::regex_search(text, m, kPin) ? m[0].str() : "";
}

// The server's pin as `tcp-connect -z --tls` reports it ("" when not verified).
std::string served_pin(const TestPki& pki, uint16_t port) {
  auto r = run_nettool({"tcp-connect", "-z", "--tls-ca", pki.ca.string(), "127.0.0.1", std::to_string(port)});
  INFO("tcp-connect -z --tls: " << r.out << r.err);
  if (r.exit_code != 0) return "";
  auto at = r.out.find("pin: ");
  return at == std::string::npos ? "" : first_pin(r.out.substr(at));
}

}  // namespace

TEST_CASE("https: curl and wget download from file-serve --tls-cert, verified, over http/1.1, with ranges and "
          "keep-alive",
          "[https][file-serve][interop]") {
  TempDir dir;
  TestPki pki(dir.path());
  fs::create_directory(dir / "root");
  const std::string big = random_bytes(3 * 1024 * 1024 + 123, 41);  // many TLS records, and pieces of the copy path
  write_file(dir / "root" / "big.bin", big);
  write_file(dir / "root" / "small.txt", "small\n");
  auto srv = start_https(dir / "root", pki.server_cert, pki.server_key);

  auto curl = run_cmd({"curl", "-sS", "--cacert", pki.ca.string(), "-o", (dir / "curl.bin").string(), "-w",
                       "%{http_version} %{http_code}", https_url(srv.port, "/big.bin")});
  INFO("curl: " << curl.out << curl.err << "\nserver: " << srv.proc.stderr_text());
  CHECK(curl.code == 0);
  CHECK(curl.out == "1.1 200");  // ALPN agreed on http/1.1 (curl offers h2 first)
  CHECK(read_file(dir / "curl.bin") == big);

  auto range = run_cmd({"curl", "-sS", "--cacert", pki.ca.string(), "-r", "1000000-1999999", "-o",
                        (dir / "range.bin").string(), "-w", "%{http_code}", https_url(srv.port, "/big.bin")});
  CHECK(range.out == "206");
  CHECK(read_file(dir / "range.bin") == big.substr(1000000, 1000000));

  // Two URLs on one curl: the second request reuses the TLS connection.
  auto both = run_cmd({"curl", "-sS", "--cacert", pki.ca.string(), "-o", (dir / "one.txt").string(), "-o",
                       (dir / "two.txt").string(), https_url(srv.port, "/small.txt"),
                       https_url(srv.port, "/small.txt")});
  CHECK(both.code == 0);
  CHECK(read_file(dir / "two.txt") == "small\n");
  REQUIRE(srv.proc.wait_stderr_contains("GET /small.txt 200"));
  CHECK(eventually([&] { return log_lines_with(srv.proc.stderr_text(), "GET /small.txt 200").size() == 2; }));
  auto lines = log_lines_with(srv.proc.stderr_text(), "GET /small.txt 200");
  REQUIRE(lines.size() == 2);
  CHECK(words(lines[0]).at(0) == words(lines[1]).at(0));  // the same client address and port

  auto wget = run_cmd({"wget", "-q", "--ca-certificate=" + pki.ca.string(), "-O", (dir / "wget.bin").string(),
                       https_url(srv.port, "/big.bin")});
  INFO("wget: " << wget.err);
  CHECK(wget.code == 0);
  CHECK(read_file(dir / "wget.bin") == big);

  // The certificate is checked: without the CA, curl refuses.
  auto untrusted = run_cmd({"curl", "-sS", "-o", "/dev/null", https_url(srv.port, "/small.txt")});
  CHECK(untrusted.code != 0);
}

// file-serve holds its TLS 1.3 session tickets back for the first response
// when the request came with the client's Finished, else sends them at once;
// either way a client that asked for one answer leaves with a ticket it can
// resume with (tests/unit/test_tls_socket.cpp checks when they go).
TEST_CASE("https: a client resumes its TLS 1.3 session with the ticket that came with its first answer",
          "[https][file-serve][interop]") {
  TempDir dir;
  TestPki pki(dir.path());
  fs::create_directory(dir / "root");
  write_file(dir / "root" / "small.txt", "small\n");
  write_file(dir / "request", "GET /small.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  auto srv = start_https(dir / "root", pki.server_cert, pki.server_key);
  const std::string session = (dir / "session.pem").string();
  auto s_client = [&](const std::string& session_flag) {
    return run_cmd({"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(srv.port), "-tls1_3", "-CAfile",
                    pki.ca.string(), "-verify_return_error", "-ign_eof", session_flag, session},
                   kRunTimeout, ProcessOptions().stdin_from(dir / "request"));
  };
  auto first = s_client("-sess_out");
  INFO("first: " << first.out << first.err << "\nserver: " << srv.proc.stderr_text());
  REQUIRE(first.code == 0);
  CHECK(first.out.find("\r\n\r\nsmall\n") != std::string::npos);
  CHECK(first.out.find("New, TLSv1.3") != std::string::npos);
  REQUIRE(file_exists(session));
  auto second = s_client("-sess_in");
  INFO("second: " << second.out << second.err);
  CHECK(second.code == 0);
  CHECK(second.out.find("Reused, TLSv1.3") != std::string::npos);
  CHECK(second.out.find("\r\n\r\nsmall\n") != std::string::npos);
}

TEST_CASE("https: file-get --tls-pin downloads from a self-signed file-serve --tls, digest checked",
          "[https][file-serve][file-get]") {
  TempDir dir;
  fs::create_directory(dir / "root");
  const std::string body = random_bytes(2 * 1024 * 1024 + 7, 42);
  write_file(dir / "root" / "data.bin", body);
  auto srv = start_serve(dir / "root", {"--tls", "--workers", "2"});
  REQUIRE(srv.proc.wait_stderr_contains("pin sha256//"));
  const std::string pin = logged_pin(srv.proc.stderr_text());
  REQUIRE(!pin.empty());
  for (int i = 0; i < 4; ++i) {  // spread over both workers, most likely
    const auto out = dir / ("data" + std::to_string(i) + ".bin");
    auto r = file_get({"--tls-pin", pin, https_url(srv.port, "/data.bin"), "-o", out.string()});
    INFO("file-get: " << r.err << "\nserver: " << srv.proc.stderr_text());
    REQUIRE(r.code == 0);
    CHECK(read_file(out) == body);
  }
  // Without the pin the self-signed server is refused, and nothing is saved.
  auto refused = file_get({https_url(srv.port, "/data.bin"), "-o", (dir / "refused.bin").string()});
  CHECK(refused.code == 1);
  CHECK(refused.err.find("certificate verification failed") != std::string::npos);
  CHECK_FALSE(file_exists(dir / "refused.bin"));
}

TEST_CASE("https: file-get -v counts the same bytes as over plain HTTP: the requests and responses, not the records",
          "[https][file-get][verbose]") {
  // Before: the TLS records and the handshake were counted (525 bytes sent
  // for a 130-byte request).
  TempDir dir;
  fs::create_directory(dir / "root");
  write_file(dir / "root" / "data.bin", random_bytes(300 * 1000 + 3, 77));
  // An hour old: a file changed within the last second gets no Last-Modified
  // (its second is not over), and the two downloads may straddle that second.
  fs::last_write_time(dir / "root" / "data.bin", fs::file_time_type::clock::now() - std::chrono::hours(1));
  auto plain = start_serve(dir / "root");
  auto tls = start_serve(dir / "root", {"--tls"});
  REQUIRE(tls.proc.wait_stderr_contains("pin sha256//"));
  const std::string pin = logged_pin(tls.proc.stderr_text());
  // "sent 130 B (130 bytes), received ... (300336 bytes)": the two exact
  // counts, the request's without its Host port (the two servers' ports may
  // differ in length).
  auto counts = [](const std::string& err, uint16_t port) {
    static const std::regex kCounts(R"(sent .* \((\d+) bytes\), received .* \((\d+) bytes\))");
    std::smatch m;
    if (!std::regex_search(err, m, kCounts)) return std::string("none");
    return std::to_string(std::stoul(m[1].str()) - std::to_string(port).size()) + "/" + m[2].str();
  };
  auto over_http = run_nettool({"-v", "file-get", "http://127.0.0.1:" + std::to_string(plain.port) + "/data.bin", "-o",
                                (dir / "a.bin").string()});
  auto over_https = run_nettool({"-v", "file-get", "--tls-pin", pin, https_url(tls.port, "/data.bin"), "-o",
                                 (dir / "b.bin").string()});
  INFO("http: " << over_http.err << "\nhttps: " << over_https.err);
  REQUIRE(over_http.exit_code == 0);
  REQUIRE(over_https.exit_code == 0);
  CHECK(counts(over_http.err, plain.port) != "none");
  CHECK(counts(over_https.err, tls.port) == counts(over_http.err, plain.port));
}

TEST_CASE("https: a plain HTTP request on the HTTPS port gets a plain 400 that says so, and TLS still works",
          "[https][file-serve]") {
  TempDir dir;
  TestPki pki(dir.path());
  fs::create_directory(dir / "root");
  write_file(dir / "root" / "f.txt", "over tls\n");
  auto srv = start_https(dir / "root", pki.server_cert, pki.server_key);
  auto plain = http_get(srv.port, "/f.txt");
  CHECK(plain.status == 400);
  CHECK(plain.body.find("this port speaks HTTPS") != std::string::npos);
  CHECK(plain.body.find("over tls") == std::string::npos);
  // Answered before a byte of it is read: nothing for METHOD's PLAIN to add to.
  CHECK(srv.proc.wait_stderr_contains(" PLAIN - 400 "));
  auto r = run_cmd({"curl", "-sS", "--cacert", pki.ca.string(), https_url(srv.port, "/f.txt")});
  CHECK(r.out == "over tls\n");
}

TEST_CASE("https: file-get with http:// to the HTTPS port fails quoting the server's reason", "[https][file-serve][file-get]") {
  TempDir dir;
  fs::create_directory(dir / "root");
  write_file(dir / "root" / "f.txt", "over tls\n");
  auto srv = start_serve(dir / "root", {"--tls"});
  auto r = file_get({url(srv.port, "/f.txt"), "-o", (dir / "f.txt").string()});
  INFO("file-get: " << r.err << "\nserver: " << srv.proc.stderr_text());
  CHECK(r.code == 1);
  CHECK(r.err.find("server answered 400 Bad Request: this port speaks HTTPS; use https://\n") != std::string::npos);
  CHECK_FALSE(file_exists(dir / "f.txt"));
}

TEST_CASE("https: garbage instead of a ClientHello, and a handshake that stalls, are dropped and the server goes on",
          "[https][file-serve]") {
  TempDir dir;
  TestPki pki(dir.path());
  fs::create_directory(dir / "root");
  write_file(dir / "root" / "f.txt", "still here\n");
  auto srv = start_https(dir / "root", pki.server_cert, pki.server_key, {"--tls-handshake-timeout", "500ms", "-v"});

  Socket garbage = connect_tcp(srv.port);
  ReadEnd how{};
  garbage.exchange(std::string("\x16\x03\x01\x00\x05garbage and more garbage", 30), 10s, &how);
  CHECK(how != ReadEnd::Timeout);

  Socket slowloris = connect_tcp(srv.port);
  REQUIRE(slowloris.send_all(std::string("\x16\x03\x01", 3)));
  slowloris.recv_all(10s, &how);
  CHECK(how != ReadEnd::Timeout);  // dropped after --tls-handshake-timeout, well before the 30 s idle timeout
  CHECK(srv.proc.wait_stderr_contains("handshake not finished within --tls-handshake-timeout"));

  auto r = run_cmd({"curl", "-sS", "--cacert", pki.ca.string(), https_url(srv.port, "/f.txt")});
  INFO("server: " << srv.proc.stderr_text());
  CHECK(r.out == "still here\n");
}

TEST_CASE("https: SIGHUP loads the certificate again, and a broken one is refused while the old one stays",
          "[https][file-serve]") {
  TempDir dir;
  TestPki pki(dir.path());
  fs::create_directory(dir / "root");
  write_file(dir / "root" / "f.txt", "renewed\n");
  const fs::path live_cert = dir / "live.pem", live_key = dir / "live.key";
  fs::copy_file(pki.server_cert, live_cert);
  fs::copy_file(pki.server_key, live_key);
  auto srv = start_https(dir / "root", live_cert, live_key);
  const std::string first = served_pin(pki, srv.port);
  REQUIRE(!first.empty());

  auto [renewed_cert, renewed_key] = pki.issue("renewed");
  fs::copy_file(renewed_cert, live_cert, fs::copy_options::overwrite_existing);
  fs::copy_file(renewed_key, live_key, fs::copy_options::overwrite_existing);
  srv.proc.signal(SIGHUP);
  REQUIRE(srv.proc.wait_stderr_contains("certificate reloaded"));
  const std::string second = served_pin(pki, srv.port);
  INFO("server: " << srv.proc.stderr_text());
  CHECK(!second.empty());
  CHECK(second != first);
  CHECK(srv.proc.stderr_text().find("certificate reloaded from " + live_cert.string() + ", pin " + second) !=
        std::string::npos);

  write_file(live_cert, "-----BEGIN CERTIFICATE-----\nnot one\n-----END CERTIFICATE-----\n");
  srv.proc.signal(SIGHUP);
  REQUIRE(srv.proc.wait_stderr_contains("keeping the certificate in use"));
  CHECK(served_pin(pki, srv.port) == second);
  auto r = run_cmd({"curl", "-sS", "--cacert", pki.ca.string(), https_url(srv.port, "/f.txt")});
  CHECK(r.out == "renewed\n");
  CHECK(srv.proc.running());
}

TEST_CASE("https: --tls-ktls sends the same bytes through kernel TLS or, without the kernel's tls module, OpenSSL, "
          "and -v says which",
          "[https][file-serve]") {
  TempDir dir;
  TestPki pki(dir.path());
  fs::create_directory(dir / "root");
  const std::string big = random_bytes(5 * 1024 * 1024 + 11, 43);
  write_file(dir / "root" / "big.bin", big);
  auto srv = start_https(dir / "root", pki.server_cert, pki.server_key, {"--tls-ktls", "-v"});
  auto r = run_cmd({"curl", "-sS", "--cacert", pki.ca.string(), "-o", (dir / "got.bin").string(),
                    https_url(srv.port, "/big.bin")});
  REQUIRE(srv.proc.wait_stderr_contains("bodies sent through"));
  const std::string log = srv.proc.stderr_text();
  INFO("server: " << log);
  CHECK(r.code == 0);
  CHECK(read_file(dir / "got.bin") == big);
  const bool kernel = log.find("bodies sent through kernel TLS (sendfile)") != std::string::npos;
  const bool copied = log.find("bodies sent through OpenSSL (copied)") != std::string::npos;
  CHECK(kernel != copied);
  if (copied) CHECK(log.find("--tls-ktls: the kernel did not take the session") != std::string::npos);
}

// A client with a small receive buffer that stops reading after the first
// 64 KiB, so the server's socket fills and its last records wait in the
// session; then it reads two bodies on one connection. Prints "sha256 N X"
// for each body.
constexpr const char* kSlowReader = R"PY(
import hashlib, socket, ssl, sys, time
port, cafile = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=cafile)
raw = socket.socket()
raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
raw.settimeout(30)
raw.connect(("127.0.0.1", port))
s = ctx.wrap_socket(raw, server_hostname="localhost")
s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
data = bytearray()  # appending to bytes copies it all each time: 16 MiB in 4 KiB pieces took a minute
while len(data) < 65536:
    data += s.recv(65536)
time.sleep(1)  # the server fills the socket and must wait for room
deadline = time.time() + 60
while time.time() < deadline:
    chunk = s.recv(1 << 20)
    if not chunk:
        break
    data += chunk
for i in range(2):
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0])
    print("sha256", i, hashlib.sha256(rest[:length]).hexdigest(), flush=True)
    data = rest[length:]
print("left", len(data))
)PY";

TEST_CASE("https: a client that reads slowly gets every byte of two bodies on one connection", "[https][file-serve]") {
  TempDir dir;
  TestPki pki(dir.path());
  fs::create_directory(dir / "root");
  const std::string big = random_bytes(8 * 1024 * 1024 + 5, 47);
  write_file(dir / "root" / "big.bin", big);
  write_file(dir / "slow.py", kSlowReader);
  auto srv = start_https(dir / "root", pki.server_cert, pki.server_key);
  auto r = run_cmd({"python3", (dir / "slow.py").string(), std::to_string(srv.port), pki.ca.string()}, Ms(90000));
  INFO("client: " << r.out << r.err << "\nserver: " << srv.proc.stderr_text());
  CHECK(r.code == 0);
  CHECK(r.out.find("sha256 0 " + sha256_hex(big)) != std::string::npos);
  CHECK(r.out.find("sha256 1 " + sha256_hex(big)) != std::string::npos);
  CHECK(r.out.find("left 0") != std::string::npos);
  CHECK(srv.proc.running());
}

// 1,000 TLS clients that all start their handshakes together; only when every
// one is done does each send its request: a GET ("get") or a line to echo
// ("echo"). Prints "handshakes N" and "ok N".
constexpr const char* kThousandClients = R"PY(
import asyncio, resource, ssl, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
port, cafile, n, mode = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
ctx = ssl.create_default_context(cafile=cafile)
async def get(reader):
    data = await reader.read()
    return data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"\r\n\r\none of a thousand\n")
async def echo(reader, i):
    return await reader.readline() == b"client %d\n" % i
async def main():
    conns = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost")
                                   for _ in range(n)))
    print("handshakes", len(conns), flush=True)
    for i, (_, writer) in enumerate(conns):
        writer.write(b"GET /f.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" if mode == "get"
                     else b"client %d\n" % i)
    results = await asyncio.gather(*(get(reader) if mode == "get" else echo(reader, i)
                                     for i, (reader, _) in enumerate(conns)))
    print("ok", sum(results), flush=True)
    for _, writer in conns:
        writer.close()
asyncio.run(asyncio.wait_for(main(), 100))
)PY";

TEST_CASE("https: 1,000 TLS clients at once each finish their handshake and get their answer", "[https][load]") {
  REQUIRE(raise_fd_limit(4096) >= 2100);
  TempDir dir;
  TestPki pki(dir.path());
  fs::create_directory(dir / "root");
  write_file(dir / "root" / "f.txt", "one of a thousand\n");
  write_file(dir / "clients.py", kThousandClients);
  // A thousand handshakes at once take seconds of CPU under the sanitizers on
  // a busy 2-core machine: the default 10 s --tls-handshake-timeout would cut
  // the last ones off (CI saw resets), and that limit is not what this tests.
  const std::vector<std::string> tls = {"--tls-cert", pki.server_cert.string(), "--tls-key",
                                        pki.server_key.string(), "--tls-handshake-timeout", "100s"};
  for (std::string mode : {"get", "echo"}) {
    INFO((mode == "get" ? "file-serve" : "tcp-listen -k --echo"));
    std::vector<std::string> args = mode == "get"
                                        ? std::vector<std::string>{"file-serve", "--root", (dir / "root").string(),
                                                                   "--listen", "127.0.0.1:0", "--backlog", "1024"}
                                        : std::vector<std::string>{"tcp-listen", "-k", "--echo", "--max-clients",
                                                                   "2000", "--backlog", "1024", "127.0.0.1", "0"};
    args.insert(args.begin() + 1, tls.begin(), tls.end());
    auto srv = start_listener_argv(under_fd_limit(4096, args));
    auto r = run_cmd({"python3", (dir / "clients.py").string(), std::to_string(srv.port), pki.ca.string(), "1000",
                      mode},
                     Ms(120000));
    const std::string log = srv.proc.stderr_text();
    INFO("clients: " << r.out << r.err << "\nserver (tail): " << log.substr(log.size() > 2000 ? log.size() - 2000 : 0));
    CHECK(r.code == 0);
    CHECK(r.out.find("handshakes 1000\n") != std::string::npos);
    CHECK(r.out.find("ok 1000\n") != std::string::npos);
    CHECK(srv.proc.running());
  }
}

// ---- file-get against nginx's HTTPS

TEST_CASE("https: file-get downloads from nginx over HTTPS, verified against the test CA", "[https][file-get][interop]") {
  if (::access("/usr/sbin/nginx", X_OK) != 0) {
    WARN("no /usr/sbin/nginx (scripts/setup.sh installs nginx-light): skipped");
    return;
  }
  TempDir dir;
  TestPki pki(dir.path());
  fs::create_directory(dir / "root");
  const std::string body = random_bytes(3 * 1024 * 1024, 44);
  write_file(dir / "root" / "n.bin", body);
  // nginx cannot listen on port 0: a port free a moment ago, again if it was taken.
  std::optional<Process> nginx;
  uint16_t port = 0;
  for (int attempt = 0; attempt < 5 && !nginx; ++attempt) {
    port = pick_free_port();
    const std::string d = dir.path().string();
    write_file(dir / "nginx.conf",
               "daemon off;\nmaster_process off;\nworker_processes 1;\npid " + d + "/nginx.pid;\nerror_log " + d +
                   "/error.log info;\nevents { worker_connections 64; }\nhttp {\n  access_log off;\n"
                   "  client_body_temp_path " + d + "/body;\n  proxy_temp_path " + d + "/proxy;\n"
                   "  fastcgi_temp_path " + d + "/fastcgi;\n  uwsgi_temp_path " + d + "/uwsgi;\n"
                   "  scgi_temp_path " + d + "/scgi;\n  server {\n    listen 127.0.0.1:" + std::to_string(port) +
                   " ssl;\n    ssl_certificate " + pki.server_cert.string() + ";\n    ssl_certificate_key " +
                   pki.server_key.string() + ";\n    root " + d + "/root;\n  }\n}\n");
    nginx.emplace(std::vector<std::string>{"/usr/sbin/nginx", "-p", d + "/", "-e", d + "/error.log", "-c",
                                           d + "/nginx.conf"},
                  ProcessOptions().stdout_null());
    if (!eventually([&] { return !nginx->running() || wait_port_listening(port, Ms(0)); }, kStartTimeout) ||
        !nginx->running())
      nginx.reset();
  }
  REQUIRE(nginx);
  auto r = file_get({"--tls-ca", pki.ca.string(), https_url(port, "/n.bin"), "-o", (dir / "got.bin").string()});
  INFO("file-get: " << r.err);
  CHECK(r.code == 0);
  CHECK(read_file(dir / "got.bin") == body);
}
