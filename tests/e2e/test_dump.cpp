// --hex-dump and --output end to end: every dump is parsed back into bytes
// and compared byte for byte with what really went over the connection, each
// direction and connection on its own, offsets included. Every wait is
// bounded; every process is a harness Process, reaped on every path.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <csignal>

#include <map>
#include <regex>

#include "harness.h"
#include "udp_test_util.h"

using namespace e2e;

namespace {

// One chunk of a dump: its header and the bytes its hex lines hold.
struct DumpRecord {
  char direction = 0;  // '>' sent, '<' received
  uint64_t conn = 0;   // 0: no "conn N" (a client's one session)
  std::string peer;
  size_t size = 0;
  uint64_t offset = 0;  // the first hex line's offset
  std::string bytes;
};

// Parses a dump and checks its form as it goes: a header line, then hexdump
// -C lines whose offsets count on from the last record of the same
// connection and direction, whose text column matches the bytes, and which
// hold exactly the header's size. Any deviation fails the test.
std::vector<DumpRecord> parse_dump(const std::string& text) {
  static const std::regex header(
      R"(^([<>]) \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}(?: conn (\d+))? (\S+) (sent|received) (\d+) bytes?$)");
  static const std::regex hex_line(R"(^([0-9a-f]{8})  ((?:[0-9a-f]{2} |   ){8}) ((?:[0-9a-f]{2} |   ){8}) \|(.*)\|$)");
  std::vector<DumpRecord> records;
  std::map<std::pair<uint64_t, char>, uint64_t> next_offset;
  for (const std::string& line : split_lines(text)) {
    std::smatch m;
    if (std::regex_match(line, m, header)) {
      DumpRecord r;
      r.direction = m[1].str()[0];
      r.conn = m[2].matched ? std::stoull(m[2].str()) : 0;
      r.peer = m[3].str();
      CHECK(m[4].str() == (r.direction == '>' ? "sent" : "received"));
      r.size = std::stoull(m[5].str());
      r.offset = next_offset[{r.conn, r.direction}];
      next_offset[{r.conn, r.direction}] += r.size;
      records.push_back(r);
      continue;
    }
    INFO("dump line: " << line);
    REQUIRE(std::regex_match(line, m, hex_line));
    REQUIRE(!records.empty());
    DumpRecord& r = records.back();
    CHECK(std::stoull(m[1].str(), nullptr, 16) == r.offset + r.bytes.size());
    std::string hex = m[2].str() + m[3].str();
    std::string chunk;
    for (size_t i = 0; i + 2 <= hex.size(); i += 3)
      if (hex[i] != ' ') chunk += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    std::string shown;
    for (char c : chunk) shown += (c >= 0x20 && c < 0x7f) ? c : '.';
    CHECK(m[4].str() == shown);
    r.bytes += chunk;
  }
  for (const auto& r : records) CHECK(r.bytes.size() == r.size);
  return records;
}

// Everything one connection sent ('>') or received ('<'), in order.
std::string stream_of(const std::vector<DumpRecord>& records, char direction, uint64_t conn = 0) {
  std::string all;
  for (const auto& r : records)
    if (r.direction == direction && r.conn == conn) all += r.bytes;
  return all;
}

// A server's dump, once it has been stopped (SIGTERM, exit 0) and so has written all of it.
std::vector<DumpRecord> dump_of_stopped(Listener& server, const fs::path& dump) {
  server.proc.signal(SIGTERM);
  REQUIRE(server.proc.wait(kIoTimeout) == 0);
  return parse_dump(read_file(dump));
}

// Connection `conn` received `data` and sent the same back (an echo).
void check_echoed(const std::vector<DumpRecord>& records, uint64_t conn, const std::string& data) {
  CHECK(stream_of(records, '<', conn) == data);
  CHECK(stream_of(records, '>', conn) == data);
}

uint16_t local_port(const Socket& s) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ::getsockname(s.fd(), reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

}  // namespace

TEST_CASE("hex-dump: tcp-connect dumps every byte both ways with running offsets, and --output keeps what arrived",
          "[dump]") {
  TempDir dir;
  auto echo = start_listener({"tcp-listen", "--echo", "-k", "127.0.0.1", "0"});
  const std::string data = random_bytes(300 * 1024 + 7, 61);
  write_file(dir / "in.bin", data);
  auto r = run_nettool({"-v", "tcp-connect", "--hex-dump", (dir / "dump.txt").string(), "-o",
                        (dir / "received.bin").string(), "127.0.0.1", std::to_string(echo.port)},
                       ProcessOptions().stdin_from(dir / "in.bin").stdout_to(dir / "out.bin"));
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(dir / "out.bin") == data);        // the data path is unchanged
  CHECK(read_file(dir / "received.bin") == data);   // --output: what arrived
  CHECK(r.err.find("every byte is copied through nettool, none spliced") != std::string::npos);

  auto records = parse_dump(read_file(dir / "dump.txt"));
  REQUIRE(!records.empty());
  CHECK(stream_of(records, '>') == data);
  CHECK(stream_of(records, '<') == data);
  for (const auto& rec : records) CHECK(rec.peer == "127.0.0.1:" + std::to_string(echo.port));
}

TEST_CASE("hex-dump: tcp-listen -k numbers its connections, each with its own peer and offsets", "[dump]") {
  TempDir dir;
  auto server = start_listener({"tcp-listen", "--echo", "-k", "--hex-dump", (dir / "dump.txt").string(), "127.0.0.1", "0"});
  Socket first = connect_tcp(server.port);
  Socket second = connect_tcp(server.port);
  const std::string a = random_bytes(70000, 62), b = "second client\n";
  CHECK(second.exchange(b) == b);
  CHECK(first.exchange(a) == a);
  uint16_t first_port = local_port(first), second_port = local_port(second);
  first.close();
  second.close();
  auto records = dump_of_stopped(server, dir / "dump.txt");
  check_echoed(records, 1, a);
  check_echoed(records, 2, b);
  for (const auto& rec : records)
    CHECK(rec.peer == "127.0.0.1:" + std::to_string(rec.conn == 1 ? first_port : second_port));
}

TEST_CASE("hex-dump: tcp-forward dumps the client side of each forwarded connection", "[dump][tcp-forward]") {
  TempDir dir;
  auto echo = start_listener({"tcp-listen", "--echo", "-k", "127.0.0.1", "0"});
  auto fwd = start_listener({"tcp-forward", "--hex-dump", (dir / "dump.txt").string(), "127.0.0.1", "0", "127.0.0.1",
                             std::to_string(echo.port)});
  const std::string data = random_bytes(200000, 63);
  Socket client = connect_tcp(fwd.port);
  CHECK(client.exchange(data) == data);
  client.close();
  check_echoed(dump_of_stopped(fwd, dir / "dump.txt"), 1, data);
}

TEST_CASE("hex-dump: over TLS the dump holds the decrypted bytes", "[dump][tls]") {
  TempDir dir;
  auto server = start_listener({"tcp-listen", "--tls", "--hex-dump", (dir / "dump.txt").string(), "127.0.0.1", "0"},
                               ProcessOptions().stdout_to(dir / "server-out.txt"));
  write_file(dir / "secret.txt", "a secret only TLS carries\n");
  auto r = run_nettool({"tcp-connect", "--tls", "--tls-no-verify", "127.0.0.1", std::to_string(server.port)},
                       ProcessOptions().stdin_from(dir / "secret.txt"));
  INFO("client: " << r.err);
  CHECK(r.exit_code == 0);
  REQUIRE(server.proc.wait(kIoTimeout) == 0);
  auto records = parse_dump(read_file(dir / "dump.txt"));
  CHECK(stream_of(records, '<', 1) == "a secret only TLS carries\n");
  CHECK(read_file(dir / "server-out.txt") == "a secret only TLS carries\n");
}

TEST_CASE("hex-dump: udp-send and udp-listen dump each datagram and its echo", "[dump][udp]") {
  TempDir dir;
  auto server = start_listener({"udp-listen", "--echo", "--count", "2", "--hex-dump", (dir / "server.txt").string(),
                                "127.0.0.1", "0"});
  auto r = run_nettool({"udp-send", "-M", "first datagram", "-M", std::string("\x01\x02\xfe", 3), "-W", "1s",
                        "--hex-dump", (dir / "client.txt").string(), "-o", (dir / "replies.bin").string(), "127.0.0.1",
                        std::to_string(server.port)});
  INFO("client: " << r.err);
  CHECK(r.exit_code == 0);
  REQUIRE(server.proc.wait(kIoTimeout) == 0);
  const std::string both = "first datagram" + std::string("\x01\x02\xfe", 3);

  auto client = parse_dump(read_file(dir / "client.txt"));
  CHECK(stream_of(client, '>') == both);
  CHECK(stream_of(client, '<') == both);
  CHECK(read_file(dir / "replies.bin") == both);
  auto served = parse_dump(read_file(dir / "server.txt"));
  CHECK(stream_of(served, '<') == both);
  CHECK(stream_of(served, '>') == both);
  REQUIRE(served.size() == 4);
  CHECK(served[0].size == 14);
  CHECK(served[0].peer.rfind("127.0.0.1:", 0) == 0);
}

TEST_CASE("hex-dump: a file that cannot be made is exit 1 naming it, a symbolic link is not followed", "[dump]") {
  TempDir dir;
  write_file(dir / "precious.txt", "keep me\n");
  std::filesystem::create_symlink(dir / "precious.txt", dir / "link.txt");
  auto r = run_nettool({"tcp-connect", "--hex-dump", (dir / "link.txt").string(), "127.0.0.1", "9"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("link.txt: is a symbolic link, which is not followed") != std::string::npos);
  CHECK(read_file(dir / "precious.txt") == "keep me\n");

  r = run_nettool({"udp-listen", "-o", dir.path().string(), "127.0.0.1", "0"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("--output " + dir.path().string() + ": Is a directory") != std::string::npos);

  r = run_nettool({"tcp-listen", "--hex-dump", "", "127.0.0.1", "0"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--hex-dump: no FILE") != std::string::npos);
}

TEST_CASE("hex-dump: a FIFO without a reader is refused at once, not waited on where no signal can end the wait",
          "[dump]") {
  TempDir dir;
  const auto fifo = dir / "dump.fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  for (std::vector<std::string> args : {std::vector<std::string>{"udp-listen", "--hex-dump", fifo.string(), "127.0.0.1", "0"},
                                        std::vector<std::string>{"udp-send", "-o", fifo.string(), "-M", "x", "127.0.0.1", "9"}}) {
    INFO(args[0]);
    auto r = run_nettool(args, {}, Ms(20000));
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("is a FIFO without a reader") != std::string::npos);
  }
}
