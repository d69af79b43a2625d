// tcp-forward: curl through it to file-serve, half-close carried both ways,
// a target that is down, a client that resets mid-transfer, 1,000 forwarded
// connections at once, TLS terminated and originated, the PROXY header, and
// the log line each connection leaves. Everything on 127.0.0.1.
#include <catch2/catch.hpp>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <fstream>
#include <thread>

#include "faults_load_util.h"
#include "file_test_util.h"
#include "harness.h"
#include "tls_test_util.h"

using namespace e2e;
using namespace filetest;
using namespace faultload;

namespace {

// `tcp-forward 127.0.0.1 0 127.0.0.1 TARGET_PORT EXTRA...`, up and listening.
Listener start_forward(uint16_t target_port, std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"tcp-forward", "127.0.0.1", "0", "127.0.0.1", std::to_string(target_port)};
  args.insert(args.end(), extra.begin(), extra.end());
  return start_listener(std::move(args));
}

}  // namespace

TEST_CASE("tcp-forward: curl downloads from file-serve through it, byte for byte, and each connection is logged",
          "[tcp-forward][interop]") {
  TempDir dir;
  fs::create_directory(dir / "root");
  const std::string big = random_bytes(8 * 1024 * 1024 + 5, 51);
  write_file(dir / "root" / "big.bin", big);
  auto server = start_serve(dir / "root");
  auto fwd = start_forward(server.port);
  auto r = run_cmd({"curl", "-sS", "-o", (dir / "got.bin").string(), url(fwd.port, "/big.bin")});
  INFO("curl: " << r.err << "\nforwarder: " << fwd.proc.stderr_text());
  CHECK(r.code == 0);
  CHECK(read_file(dir / "got.bin") == big);
  // CLIENT -> TARGET port N: U B up, D B down, T s, closed
  REQUIRE(fwd.proc.wait_stderr_contains(" B down"));
  auto lines = log_lines_with(fwd.proc.stderr_text(), " B down");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find("-> 127.0.0.1 port " + std::to_string(server.port) + ":") != std::string::npos);
  CHECK(lines[0].find(", closed") != std::string::npos);
  auto w = words(lines[0]);
  auto down = std::find(w.begin(), w.end(), "down,");
  REQUIRE(down != w.end());
  CHECK(std::stoull(*(down - 2)) > big.size());  // the body and the response head
}

TEST_CASE("tcp-forward: a client's half-close reaches the target, whose answer comes back before the close",
          "[tcp-forward][half-close]") {
  // The target answers only once it has read to EOF (as `nc -N` expects).
  PeerThread target([](Socket& s) {
    std::string request = s.recv_all(5000ms);
    s.send_all("reply to " + request);
  });
  auto fwd = start_forward(target.port());
  Socket client = connect_tcp(fwd.port);
  ReadEnd how{};
  std::string answer = client.exchange("question", 10s, &how);
  target.join();
  INFO("forwarder: " << fwd.proc.stderr_text() << "\ntarget: " << target.error());
  CHECK(answer == "reply to question");
  CHECK(how == ReadEnd::Eof);
}

TEST_CASE("tcp-forward: a client whose target is down is closed, the log says why, and the forwarder goes on",
          "[tcp-forward]") {
  ClosedPort closed;
  for (int i = 0; i < 20 && !hold_closed_port(pick_free_port(), closed); ++i) {
  }
  REQUIRE(closed.port != 0);
  auto fwd = start_forward(closed.port, {"-w", "5s"});
  Socket client = connect_tcp(fwd.port);
  ReadEnd how{};
  client.recv_all(10s, &how);
  CHECK(how != ReadEnd::Timeout);
  CHECK(fwd.proc.wait_stderr_contains("target unreachable"));
  CHECK(fwd.proc.stderr_text().find("connection refused") != std::string::npos);
  CHECK(fwd.proc.running());
}

TEST_CASE("tcp-forward: a client that resets mid-transfer ends the target's side too", "[tcp-forward]") {
  std::atomic<bool> target_saw_the_end{false};
  PeerThread target([&](Socket& s) {
    // Sends until the forwarder closes this side: bounded by count and time.
    const std::string block(64 * 1024, 'x');
    for (int i = 0; i < 4096; ++i) {
      if (!s.send_all(block, 2000ms)) {
        target_saw_the_end = true;
        return;
      }
    }
  });
  auto fwd = start_forward(target.port());
  {
    Socket client = connect_tcp(fwd.port);
    REQUIRE(client.recv_exact(256 * 1024, 10s).size() == 256 * 1024);
    linger reset{1, 0};
    setsockopt(client.fd(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  }  // closed with a RST
  target.join();
  INFO("forwarder: " << fwd.proc.stderr_text() << "\ntarget: " << target.error());
  CHECK(target_saw_the_end);
  CHECK(fwd.proc.wait_stderr_contains(" B down"));
  CHECK(fwd.proc.running());
}

TEST_CASE("tcp-forward: 1,000 connections forwarded at once each get their own bytes back", "[tcp-forward][load]") {
  REQUIRE(raise_fd_limit(4096) >= 3100);
  auto echo = start_listener_argv(
      under_fd_limit(4096, {"tcp-listen", "-k", "--echo", "--max-clients", "2000", "127.0.0.1", "0"}));
  auto fwd = start_listener_argv(under_fd_limit(
      4096, {"tcp-forward", "--backlog", "1024", "127.0.0.1", "0", "127.0.0.1", std::to_string(echo.port)}));
  TempDir dir;
  write_file(dir / "clients.py", R"PY(
import asyncio, resource, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
port, n = int(sys.argv[1]), int(sys.argv[2])
async def main():
    conns = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port) for _ in range(n)))
    print("open", len(conns), flush=True)
    for i, (_, w) in enumerate(conns):
        w.write(b"client %d " % i + b"x" * 4000 + b"\n")
    async def check(i, r):
        return await r.readline() == b"client %d " % i + b"x" * 4000 + b"\n"
    ok = await asyncio.gather(*(check(i, r) for i, (r, _) in enumerate(conns)))
    print("ok", sum(ok), flush=True)
    for _, w in conns:
        w.close()
asyncio.run(asyncio.wait_for(main(), 100))
)PY");
  auto r = run_cmd({"python3", (dir / "clients.py").string(), std::to_string(fwd.port), "1000"}, Ms(120000));
  const std::string log = fwd.proc.stderr_text();
  INFO("clients: " << r.out << r.err << "\nforwarder (tail): " << log.substr(log.size() > 2000 ? log.size() - 2000 : 0));
  CHECK(r.code == 0);
  CHECK(r.out.find("open 1000\n") != std::string::npos);
  CHECK(r.out.find("ok 1000\n") != std::string::npos);
  CHECK(fwd.proc.running());
}

TEST_CASE("tcp-forward: --tls terminates TLS from clients, --target-tls originates it to openssl s_server",
          "[tcp-forward][tls]") {
  TempDir dir;
  TestPki pki(dir.path());
  {
    // A TLS client, through the forwarder, to a plain echo server.
    auto echo = start_listener({"tcp-listen", "-k", "--echo", "127.0.0.1", "0"});
    auto fwd = start_forward(echo.port, {"--tls-cert", pki.server_cert.string(), "--tls-key", pki.server_key.string()});
    write_file(dir / "in.txt", "through tls\n");
    auto r = run_nettool({"tcp-connect", "--tls-ca", pki.ca.string(), "-i", "2s", "127.0.0.1",
                          std::to_string(fwd.port)},
                         ProcessOptions().stdin_from(dir / "in.txt"));
    INFO("tcp-connect: " << r.err << "\nforwarder: " << fwd.proc.stderr_text());
    CHECK(r.out == "through tls\n");
  }
  {
    // A plain client, through the forwarder, to a TLS server that answers each line reversed.
    Process server({"openssl", "s_server", "-naccept", "1", "-rev", "-cert", pki.server_cert.string(), "-key",
                    pki.server_key.string(), "-accept", "127.0.0.1:0"});
    std::string port = s_server_port(server);
    REQUIRE(!port.empty());
    auto fwd = start_forward(static_cast<uint16_t>(std::stoi(port)), {"--target-tls-ca", pki.ca.string()});
    Socket client = connect_tcp(fwd.port);
    REQUIRE(client.send_all("hello s_server\n"));
    std::string got;
    CHECK(client.recv_until(got, "revres_s olleh", 10s));
  }
  {
    // An unverified target is refused: the client is closed and the log says why.
    Process server({"openssl", "s_server", "-naccept", "1", "-cert", pki.server_cert.string(), "-key",
                    pki.server_key.string(), "-accept", "127.0.0.1:0"},
                   ProcessOptions().stdin_pipe());  // s_server quits at stdin EOF
    std::string port = s_server_port(server);
    REQUIRE(!port.empty());
    auto fwd = start_forward(static_cast<uint16_t>(std::stoi(port)), {"--target-tls"});
    Socket client = connect_tcp(fwd.port);
    client.send_all("secret\n");
    ReadEnd how{};
    client.recv_all(10s, &how);
    CHECK(how != ReadEnd::Timeout);
    CHECK(fwd.proc.wait_stderr_contains("target tls: certificate verification failed"));
  }
}

TEST_CASE("tcp-forward: the per-connection line counts the data whichever side speaks TLS", "[tcp-forward][tls]") {
  TempDir dir;
  TestPki pki(dir.path());
  write_file(dir / "in.txt", "abc");
  {
    // A TLS client, through the forwarder, to a plain echo server: 3 bytes each way, not the records.
    auto echo = start_listener({"tcp-listen", "-k", "--echo", "127.0.0.1", "0"});
    auto fwd = start_forward(echo.port, {"--tls-cert", pki.server_cert.string(), "--tls-key", pki.server_key.string()});
    auto r = run_nettool({"tcp-connect", "--tls-ca", pki.ca.string(), "-i", "2s", "127.0.0.1",
                          std::to_string(fwd.port)},
                         ProcessOptions().stdin_from(dir / "in.txt"));
    CHECK(r.out == "abc");
    REQUIRE(fwd.proc.wait_stderr_contains(" B down"));
    INFO("tcp-connect: " << r.err << "\nforwarder: " << fwd.proc.stderr_text());
    CHECK(fwd.proc.stderr_text().find(": 3 B up, 3 B down,") != std::string::npos);
  }
  {
    // A plain client to a TLS echo server: the same count.
    auto echo = start_listener({"tcp-listen", "-k", "--echo", "--tls-cert", pki.server_cert.string(), "--tls-key",
                                pki.server_key.string(), "127.0.0.1", "0"});
    auto fwd = start_forward(echo.port, {"--target-tls-ca", pki.ca.string()});
    auto r = run_nettool({"tcp-connect", "-i", "2s", "127.0.0.1", std::to_string(fwd.port)},
                         ProcessOptions().stdin_from(dir / "in.txt"));
    CHECK(r.out == "abc");
    REQUIRE(fwd.proc.wait_stderr_contains(" B down"));
    INFO("tcp-connect: " << r.err << "\nforwarder: " << fwd.proc.stderr_text());
    CHECK(fwd.proc.stderr_text().find(": 3 B up, 3 B down,") != std::string::npos);
  }
}

TEST_CASE("tcp-forward: --proxy-protocol v1 and v2 tell the target who the client is", "[tcp-forward]") {
  for (std::string version : {"v1", "v2"}) {
    INFO(version);
    std::string header;
    PeerThread target([&](Socket& s) {
      std::string got;
      s.recv_until(got, "hello", 5000ms);
      header = got;
      s.send_all("ok");
    });
    auto fwd = start_forward(target.port(), {"--proxy-protocol", version});
    Socket client = connect_tcp(fwd.port);
    const uint16_t client_port = local_port(client);
    client.send_all("hello");
    std::string answer;
    client.recv_until(answer, "ok", 5000ms);
    target.join();
    if (version == "v1") {
      CHECK(header == "PROXY TCP4 127.0.0.1 127.0.0.1 " + std::to_string(client_port) + " " +
                          std::to_string(fwd.port) + "\r\nhello");  // the client's bytes right after it
    } else {
      REQUIRE(header.size() >= 28);
      CHECK(header.substr(0, 12) == std::string("\r\n\r\n\0\r\nQUIT\n", 12));
      CHECK(header.substr(16, 4) == std::string("\x7f\x00\x00\x01", 4));
      CHECK(static_cast<uint8_t>(header[24]) * 256 + static_cast<uint8_t>(header[25]) == client_port);
      CHECK(header.substr(28) == "hello");  // the client's bytes right after the header
    }
  }
}

TEST_CASE("tcp-forward: usage mistakes exit 2 and say what is wrong", "[tcp-forward][options]") {
  auto r = run_nettool({"tcp-forward", "8080"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("TARGET") != std::string::npos);
  r = run_nettool({"tcp-forward", "127.0.0.1", "0", "127.0.0.1", "80", "--proxy-protocol", "v3"});
  CHECK(r.exit_code == 2);
  r = run_nettool({"tcp-forward", "127.0.0.1", "0", "127.0.0.1", "80", "--target-tls-pin", "nonsense"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--target-tls-pin") != std::string::npos);
}

TEST_CASE("tcp-forward: SIGTERM stops accepting, and a connection in flight still gets its late reply before the exit",
          "[tcp-forward][signals]") {
  std::atomic<bool> accepted{false};
  // The target answers only after the client's EOF, which comes after the SIGTERM.
  PeerThread target([&accepted](Socket& s) {
    accepted = true;
    std::string request = s.recv_all(10000ms);
    s.send_all("late reply to " + request);
  });
  auto fwd = start_forward(target.port(), {"--grace", "20s"});
  Socket client = connect_tcp(fwd.port);
  REQUIRE(client.send_all("question"));
  REQUIRE(eventually([&] { return accepted.load(); }));
  fwd.proc.signal(SIGTERM);
  REQUIRE(fwd.proc.wait_stderr_contains("SIGTERM received"));
  CHECK_FALSE(try_connect_tcp(fwd.port, "127.0.0.1", 2000ms).valid());  // no longer accepting
  client.shutdown_write();
  ReadEnd how{};
  std::string answer = client.recv_all(10s, &how);
  target.join();
  INFO("forwarder: " << fwd.proc.stderr_text() << "\ntarget: " << target.error());
  CHECK(answer == "late reply to question");
  CHECK(how == ReadEnd::Eof);
  CHECK(fwd.proc.wait(Ms(10000)) == 0);
  CHECK(fwd.proc.stderr_text().find("8 B up, 22 B down") != std::string::npos);
}

TEST_CASE("tcp-forward: --target-tls to a Unix socket needs a name to check, and checks it", "[tcp-forward][tls][unix]") {
  TempDir dir;
  TestPki pki(dir.path());  // the server's certificate is for localhost
  const fs::path socket = dir / "tls.sock";
  const std::string target = "unix:" + socket.string();
  // A Unix socket has no host name: without one to check, any certificate
  // the CA signed would do. That is a usage error.
  auto r = run_nettool({"tcp-forward", "127.0.0.1", "0", target, "--target-tls-ca", pki.ca.string()}, {}, kUsageTimeout);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--target-tls-servername") != std::string::npos);

  // The target: a TLS echo server on the socket, with the localhost certificate.
  Process server(nettool_argv({"tcp-listen", "-k", "--echo", "--tls-cert", pki.server_cert.string(), "--tls-key",
                               pki.server_key.string(), target}));
  bool listening = server.wait_stderr_contains("listening on");
  INFO("target: " << server.stderr_text());
  REQUIRE(listening);
  {
    auto fwd = start_listener({"tcp-forward", "127.0.0.1", "0", target, "--target-tls-ca", pki.ca.string(),
                               "--target-tls-servername", "other.example"});
    Socket client = connect_tcp(fwd.port);
    client.send_all("secret\n");
    ReadEnd how{};
    CHECK(client.recv_all(10s, &how).empty());
    CHECK(how != ReadEnd::Timeout);
    INFO("forwarder: " << fwd.proc.stderr_text());
    CHECK(fwd.proc.wait_stderr_contains("target tls: certificate verification failed"));
  }
  {
    auto fwd = start_listener({"tcp-forward", "127.0.0.1", "0", target, "--target-tls-ca", pki.ca.string(),
                               "--target-tls-servername", "localhost"});
    Socket client = connect_tcp(fwd.port);
    ReadEnd how{};
    std::string got = client.exchange("hello unix\n", 10s, &how);
    INFO("forwarder: " << fwd.proc.stderr_text());
    CHECK(got == "hello unix\n");
    CHECK(how == ReadEnd::Eof);
  }
}

TEST_CASE("tcp-forward: --proxy-protocol with --target-tls sends the header in the clear, before the TLS hello",
          "[tcp-forward][tls]") {
  TempDir dir;
  TestPki pki(dir.path());
  // nginx's `listen ... ssl proxy_protocol` in miniature: the header off the
  // socket first, then the TLS handshake, then the client's bytes.
  write_file(dir / "server.py", R"(import socket, ssl, sys
cert, key, version = sys.argv[1:4]
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(1)
ls.settimeout(10)
print("port", ls.getsockname()[1], flush=True)
c, _ = ls.accept()
c.settimeout(10)
def exactly(n):
    b = b""
    while len(b) < n:
        d = c.recv(n - len(b))
        if not d:
            break
        b += d
    return b
if version == "v1":
    header = b""
    while not header.endswith(b"\r\n") and len(header) < 108:
        d = c.recv(1)
        if not d:
            break
        header += d
    ok = header.startswith(b"PROXY TCP4 127.0.0.1 127.0.0.1 ")
else:
    header = exactly(16)
    ok = header.startswith(b"\r\n\r\n\x00\r\nQUIT\n") and int.from_bytes(header[14:16], "big") == 12
    if ok:
        header += exactly(12)
print("header", "ok" if ok else "bad %r" % header[:24], flush=True)
if not ok:
    sys.exit(1)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
s = ctx.wrap_socket(c, server_side=True)
print("data", s.recv(4096), flush=True)
s.sendall(b"ok")
s.close()
)");
  for (std::string version : {"v1", "v2"}) {
    INFO(version);
    Process server({"python3", (dir / "server.py").string(), pki.server_cert.string(), pki.server_key.string(), version});
    REQUIRE(server.wait_stdout_contains("\n"));
    const uint16_t port = static_cast<uint16_t>(std::stoi(split_lines(server.stdout_text())[0].substr(5)));
    auto fwd = start_forward(port, {"--proxy-protocol", version, "--target-tls-ca", pki.ca.string()});
    Socket client = connect_tcp(fwd.port);
    REQUIRE(client.send_all("hello"));
    std::string answer;
    CHECK(client.recv_until(answer, "ok", 10s));
    server.wait(kIoTimeout);
    INFO("target: " << server.stdout_text() << server.stderr_text() << "\nforwarder: " << fwd.proc.stderr_text());
    CHECK(server.stdout_text().find("header ok\n") != std::string::npos);
    CHECK(server.stdout_text().find("data b'hello'") != std::string::npos);
  }
}

TEST_CASE("tcp-forward: an empty TARGET_HOST is a usage error", "[tcp-forward][options]") {
  auto r = run_nettool({"tcp-forward", "127.0.0.1", "0", "", "80"}, {}, kUsageTimeout);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("TARGET_HOST is empty") != std::string::npos);
}

TEST_CASE("tcp-forward: a target name the resolver refuses at once closes that client, and the forwarder goes on",
          "[tcp-forward]") {
  // Not UTF-8: libuv refuses it before any lookup, inside the accept callback.
  auto fwd = start_listener({"tcp-forward", "127.0.0.1", "0", "\xff\xfe", "80"});
  for (int i = 0; i < 2; ++i) {
    Socket client = connect_tcp(fwd.port);
    client.send_all("x");
    ReadEnd how{};
    CHECK(client.recv_all(kIoTimeout, &how).empty());
    CHECK(how != ReadEnd::Timeout);
  }
  INFO("forwarder: " << fwd.proc.stderr_text());
  CHECK(fwd.proc.wait_stderr_contains("target unreachable: cannot resolve"));
  CHECK(fwd.proc.running());
  fwd.proc.signal(SIGTERM);
  CHECK(fwd.proc.wait() == 0);
}

TEST_CASE("tcp-forward: --target-tls-* mistakes are named as such", "[tcp-forward][tls][options]") {
  TempDir dir;
  auto r = run_nettool({"tcp-forward", "127.0.0.1", "0", "127.0.0.1", "443", "--target-tls-ca",
                        (dir / "missing.pem").string()});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--target-tls-ca " + (dir / "missing.pem").string() + ": cannot load CA certificates") !=
        std::string::npos);
  // The pin replaces the CA check: the two together are refused, not the CA ignored.
  r = run_nettool({"tcp-forward", "127.0.0.1", "0", "127.0.0.1", "443", "--target-tls-ca",
                   (dir / "missing.pem").string(), "--target-tls-pin", "sha256//" + std::string(43, 'A') + "="},
                  {}, kUsageTimeout);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--target-tls-pin and --target-tls-ca exclude each other") != std::string::npos);
  // The warning names the option that was given.
  auto fwd = start_forward(9, {"--target-tls-no-verify"});
  CHECK(fwd.proc.wait_stderr_contains("tls: --target-tls-no-verify: the peer is NOT verified"));
}

namespace {

// Every connection waiting at `target` (each given `wait` to arrive), with
// what it sent before closing.
std::vector<std::string> connections_at(TcpServer& target, Ms wait) {
  std::vector<std::string> got;
  for (Socket s = target.accept(wait); s.valid(); s = target.accept(wait)) got.push_back(s.recv_all(2s));
  return got;
}

// True once the forwarder has logged `n` finished connections.
bool sessions_logged(Process& fwd, size_t n) {
  return eventually([&] { return log_lines_with(fwd.stderr_text(), " B down").size() >= n; });
}

}  // namespace

TEST_CASE("tcp-forward: with --tls-client-ca the target sees only clients whose handshake succeeded",
          "[tcp-forward][tls]") {
  TempDir dir;
  TestPki pki(dir.path());
  auto [client_cert, client_key] = pki.issue("client");
  TcpServer target;  // records every connection the forwarder makes
  auto fwd = start_forward(target.port(), {"--proxy-protocol", "v1", "--tls-cert", pki.server_cert.string(),
                                           "--tls-key", pki.server_key.string(), "--tls-client-ca", pki.ca.string()});
  const std::string port = std::to_string(fwd.port);
  write_file(dir / "in.txt", "hello\n");

  // A port probe: connect, close.
  { Socket probe = connect_tcp(fwd.port); }
  REQUIRE(sessions_logged(fwd.proc, 1));
  // A plain-text client.
  {
    Socket plain = connect_tcp(fwd.port);
    plain.send_all("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    ReadEnd how{};
    plain.recv_all(10s, &how);
    CHECK(how != ReadEnd::Timeout);
  }
  REQUIRE(sessions_logged(fwd.proc, 2));
  // A TLS client without a certificate.
  auto r = run_nettool({"tcp-connect", "--tls-ca", pki.ca.string(), "-i", "2s", "127.0.0.1", port},
                       ProcessOptions().stdin_from(dir / "in.txt"));
  CHECK(r.exit_code != 0);
  REQUIRE(sessions_logged(fwd.proc, 3));
  {
    auto seen = connections_at(target, 300ms);
    std::string what;
    for (const auto& bytes : seen) what += "[" + bytes + "] ";
    INFO("forwarder: " << fwd.proc.stderr_text() << "\nthe target got: " << what);
    CHECK(seen.empty());
    CHECK(log_lines_with(fwd.proc.stderr_text(), ", tls: ").size() == 3);
  }

  // A client with the certificate: one connection, the PROXY header, its bytes.
  Process good(nettool_argv({"tcp-connect", "--tls-ca", pki.ca.string(), "--tls-cert", client_cert.string(),
                             "--tls-key", client_key.string(), "-i", "5s", "127.0.0.1", port}),
               ProcessOptions().stdin_from(dir / "in.txt"));
  Socket s = target.accept(10s);
  REQUIRE(s.valid());
  std::string header;
  CHECK(s.recv_until(header, "hello\n", 10s));
  s.send_all("ok\n");
  s.close();
  good.wait(10s);
  INFO("forwarder: " << fwd.proc.stderr_text() << "\nclient: " << good.stderr_text());
  CHECK(good.stdout_text() == "ok\n");
  CHECK(header.starts_with("PROXY TCP4 127.0.0.1 127.0.0.1 "));
  CHECK(header.ends_with(" " + port + "\r\nhello\n"));
  CHECK(connections_at(target, 300ms).empty());
  CHECK(sessions_logged(fwd.proc, 4));
}

namespace {
// What process `pid` has read so far through read(2) and the like (rchar).
uint64_t bytes_read_by(pid_t pid) {
  std::ifstream io("/proc/" + std::to_string(pid) + "/io");
  std::string key;
  uint64_t value = 0;
  while (io >> key >> value)
    if (key == "rchar:") return value;
  return 0;
}
}  // namespace

TEST_CASE("tcp-forward --tls holds a client's bytes in the kernel, not in memory, while the target connects",
          "[tcp-forward][tls][memory]") {
  // Before: after the client's handshake the TLS endpoint read on without a
  // bound until the target answered, so a client could fill the forwarder's
  // memory with as much as it liked while a slow target connected.
  TempDir dir;
  TestPki pki(dir.path());
  StalledPort target;  // the connection to it never completes
  auto fwd = start_forward(target.port(), {"--tls-cert", pki.server_cert.string(), "--tls-key",
                                           pki.server_key.string()});
  const long rss_before = vm_hwm_kib(fwd.proc.pid()).value_or(0);
  write_file(dir / "big.bin", std::string(64 * 1024 * 1024, 'x'));
  Process client(nettool_argv({"tcp-connect", "--tls-ca", pki.ca.string(), "127.0.0.1", std::to_string(fwd.port)}),
                 ProcessOptions().stdin_from(dir / "big.bin"));
  // Wait until the client can push no more (its reads of the file stop), at most 10 s.
  uint64_t last = 0;
  int still = 0;
  for (int i = 0; i < 100 && still < 5; ++i) {
    std::this_thread::sleep_for(100ms);
    uint64_t now = bytes_read_by(client.pid());
    still = now == last && now > 0 ? still + 1 : 0;
    last = now;
  }
  const long rss_after = vm_hwm_kib(fwd.proc.pid()).value_or(0);
  INFO("the client read " << last << " bytes; the forwarder's peak RSS went from " << rss_before << " to " << rss_after
                          << " KiB\n" << fwd.proc.stderr_text());
  CHECK(last < 32u * 1024 * 1024);              // held back by TCP, not taken in
  CHECK(rss_after - rss_before < 16 * 1024);  // KiB

  // The target answers at last (the forwarder's next SYN): every byte held
  // back arrives, then the client's end.
  Socket s = target.let_next_through(15s);
  REQUIRE(s.valid());
  ReadEnd how{};
  std::string got = s.recv_all(30s, &how);
  CHECK(how == ReadEnd::Eof);
  CHECK(got.size() == 64u * 1024 * 1024);
  s.close();
  CHECK(client.wait(15s) == 0);
}

TEST_CASE("tcp-forward: a target that is its own listening address is refused at start with exit 2",
          "[tcp-forward][options]") {
  const std::string own = "is this forwarder's own listening address";
  // PORT must be free for the bind to reach the check: retried when another test took it meanwhile.
  auto refused = [&](const std::function<std::vector<std::string>(const std::string&)>& args_for) {
    RunResult r;
    for (int attempt = 0; attempt < 5; ++attempt) {
      r = run_nettool(args_for(std::to_string(pick_free_port())), {}, 5s);
      if (r.err.find("cannot listen") == std::string::npos) break;
    }
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(own) != std::string::npos);
  };
  SECTION("the same address and port") {
    refused([](const std::string& p) {
      return std::vector<std::string>{"tcp-forward", "-m", "50", "127.0.0.1", p, "127.0.0.1", p};
    });
  }
  SECTION("a listener on all addresses and a loopback target") {
    refused([](const std::string& p) { return std::vector<std::string>{"tcp-forward", "-m", "50", p, "127.0.0.1", p}; });
    refused([](const std::string& p) { return std::vector<std::string>{"tcp-forward", "-m", "50", p, "127.0.0.2", p}; });
    if (ipv6_loopback_available())
      refused([](const std::string& p) { return std::vector<std::string>{"tcp-forward", "-m", "50", p, "::1", p}; });
  }
  SECTION("a target name that resolves to it") {
    refused([](const std::string& p) {
      return std::vector<std::string>{"tcp-forward", "-m", "50", "127.0.0.1", p, "localhost", p};
    });
  }
  SECTION("the same Unix socket however it is spelt and the same abstract name") {
    TempDir dir;
    const std::string file = (dir / "fwd.sock").string();
    auto r = run_nettool({"tcp-forward", "unix:" + file, "unix:" + (dir / "." / "fwd.sock").string()}, {}, 5s);
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(own) != std::string::npos);
    CHECK(!fs::exists(file));  // and its socket file is gone
    const std::string name = "unix:@nettool-fwd-self-" + std::to_string(getpid());
    r = run_nettool({"tcp-forward", name, name}, {}, 5s);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(own) != std::string::npos);
  }
  SECTION("another address with the same port and PORT 0 start as usual") {
    uint16_t p = pick_free_port();
    auto fwd = start_listener({"tcp-forward", "127.0.0.1", std::to_string(p), "127.0.0.2", std::to_string(p)});
    CHECK(fwd.proc.running());
    auto any = start_listener({"tcp-forward", "127.0.0.1", "0", "127.0.0.1", std::to_string(p)});
    CHECK(any.proc.running());
  }
  SECTION("an IPv4 listener on all addresses with the IPv6 loopback as target starts: ::1 is another service") {
    if (!ipv6_loopback_available()) {
      WARN("no IPv6 loopback here: not tried");
      return;
    }
    uint16_t p = pick_free_port();
    auto fwd = start_listener({"tcp-forward", "0.0.0.0", std::to_string(p), "::1", std::to_string(p)});
    CHECK(fwd.proc.running());
  }
}
