// The front end's own answers: usage and the list of commands, and where
// the global flags end and a command's options begin.
#include <catch2/catch.hpp>

#include <regex>
#include <sstream>

#include "harness.h"
#include "udp_test_util.h"

using namespace e2e;

namespace {

// Every plugin module the build produced, by command name.
std::vector<std::string> built_commands() {
  const fs::path plugin_dir = nettool_path().parent_path() / ".." / "lib" / "nettool" / "plugins";
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(plugin_dir)) {
    std::string file = entry.path().filename().string();
    if (file.rfind("nettool-", 0) == 0 && entry.path().extension() == ".so")
      names.push_back(file.substr(8, file.size() - 8 - 3));
  }
  return names;
}

void check_lists_every_command(const std::string& text) {
  auto commands = built_commands();
  REQUIRE(commands.size() >= 7);
  CHECK_THAT(text, Catch::Contains("Usage: nettool"));
  CHECK_THAT(text, Catch::Contains("\nCommands:\n"));
  for (const auto& name : commands) {
    INFO("command " << name);
    CHECK_THAT(text, Catch::Contains("\n  " + name + " "));
  }
  // With its summary, as `nettool plugins` gives it.
  CHECK_THAT(text, Catch::Contains("download a file (HTTP or bare-name), verify it, save it atomically"));
  for (const char* builtin : {"help", "plugins", "completion"}) CHECK_THAT(text, Catch::Contains(std::string("\n  ") + builtin + " "));
}

}  // namespace

TEST_CASE("nettool --help and nettool help list every command with its summary on stdout, exit 0", "[cli]") {
  for (const char* arg : {"--help", "-h", "help"}) {
    INFO("nettool " << arg);
    auto r = run_nettool({arg});
    CHECK(r.exit_code == 0);
    check_lists_every_command(r.out);
  }
}

TEST_CASE("nettool with no command lists the commands on stderr and exits 2", "[cli]") {
  auto r = run_nettool({});
  CHECK(r.exit_code == 2);
  CHECK(r.out.empty());
  check_lists_every_command(r.err);
  CHECK_THAT(r.err, Catch::Contains("no command given"));
}

TEST_CASE("a profile's mistakes name the profile in one line: a command: that is no command or none and a value out of range at its line",
          "[cli][profiles]") {
  TempDir dir;
  const auto typo = dir / "typo.yaml";
  write_file(typo, "command: tcp-foward\nport: 0\n");
  auto r = run_nettool({"-c", typo.string()}, {}, kUsageTimeout);
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains(typo.string() + ": command: unknown command 'tcp-foward' (did you mean 'tcp-forward'?)"));
  const auto range = dir / "range.yaml";
  write_file(range, "command: tcp-forward\nport: 0\ntarget-host: 127.0.0.1\ntarget-port: 9\nmax-clients: 0\n");
  r = run_nettool({"-c", range.string()}, {}, kUsageTimeout);
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains(range.string() + ":5:14: 'max-clients': must be at least 1"));
  const auto bare = dir / "bare.yaml";
  write_file(bare, "port: 0\n");
  r = run_nettool({"-c", bare.string()}, {}, kUsageTimeout);
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "nettool: " + bare.string() + ": no command given and the profile has no 'command:' key (add one, e.g. "
                 "'command: tcp-listen', or name it: nettool COMMAND -c " + bare.string() + ")\n");  // one line, no usage
}

TEST_CASE("an nc command line typed to nettool itself says in one line what to type instead with exit 2 and runs nothing",
          "[cli][nc]") {
  // An open port: had anything connected, its backlog would hold the connection.
  TcpServer server;
  const std::string port = std::to_string(server.port());
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"-zv", "127.0.0.1", port}, "-z is an option of tcp-connect: nettool tcp-connect -zv 127.0.0.1 " + port},
      {{"-v", "-n", "127.0.0.1", port}, "-n is an option of tcp-connect: nettool tcp-connect -v -n 127.0.0.1 " + port},
      {{"--zero", "127.0.0.1", port}, "--zero is an option of tcp-connect: nettool tcp-connect --zero 127.0.0.1 " + port},
      {{"127.0.0.1", port},
       "'127.0.0.1' is not a command; to connect as nc does: nettool tcp-connect 127.0.0.1 " + port},
      {{"-v", "localhost", port, "-z"},
       "'localhost' is not a command; to connect as nc does: nettool tcp-connect -v localhost " + port + " -z"},
      {{"::1", port}, "'::1' is not a command; to connect as nc does: nettool tcp-connect ::1 " + port},
      {{"-z", "[::1]", port}, "nettool tcp-connect -z '[::1]' " + port},  // quoted for the shell
      {{"-l", port}, "-l is an option of tcp-listen: nettool tcp-listen -l " + port},
      {{"-u", "127.0.0.1", port}, "-u is an option of udp-send: nettool udp-send -u 127.0.0.1 " + port},
      {{"-lu", port}, "-l is an option of udp-listen: nettool udp-listen -lu " + port},
      {{"127.0.0.1", port, "-u"}, "to send as nc -u does: nettool udp-send 127.0.0.1 " + port + " -u"},
  };
  for (const Case& c : cases) {
    auto r = run_nettool(c.args, {}, kUsageTimeout);
    INFO("args: " << c.args[0] << " ... stderr: " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK(split_lines(r.err).size() == 1);  // no usage text
    CHECK_THAT(r.err, Catch::StartsWith("nettool: ") && Catch::Contains(c.says));
  }
  CHECK_FALSE(server.accept(200ms).valid());
}

TEST_CASE("what is not an nc line keeps its message: a mistyped command an unknown letter a bare nettool", "[cli][nc]") {
  // A typo of a command is answered with the command it is close to.
  auto typo = run_nettool({"tcp-conect", "127.0.0.1", "80"}, {}, kUsageTimeout);
  CHECK(typo.exit_code == 2);
  CHECK_THAT(typo.err, Catch::Contains("unknown command 'tcp-conect' (did you mean 'tcp-connect'?)"));
  auto lisen = run_nettool({"tcp-lisen", "9000"}, {}, kUsageTimeout);
  CHECK(lisen.exit_code == 2);
  CHECK_THAT(lisen.err, Catch::Contains("did you mean 'tcp-listen'") && !Catch::Contains("is not a command"));
  // A letter tcp-connect does not have: no guess, the usage as before.
  auto letter = run_nettool({"-Y", "127.0.0.1", "80"}, {}, kUsageTimeout);
  CHECK(letter.exit_code == 2);
  CHECK_THAT(letter.err, Catch::Contains("Usage: nettool") && Catch::Contains("no command given"));
  // A host without a port is not read as one.
  auto alone = run_nettool({"example.org"}, {}, kUsageTimeout);
  CHECK(alone.exit_code == 2);
  CHECK_THAT(alone.err, Catch::Contains("unknown command 'example.org'"));
  // --version is still answered.
  auto version = run_nettool({"127.0.0.1", "80", "--version"}, {}, kUsageTimeout);
  CHECK(version.exit_code == 0);
  CHECK_THAT(version.out, Catch::StartsWith("nettool "));
}

TEST_CASE("help --man promises comma-separated lists only for address lists", "[cli]") {
  auto send = run_nettool({"help", "--man", "udp-send"});
  REQUIRE(send.exit_code == 0);
  // -M "a,b" sends one datagram "a,b": the page must not say it splits.
  CHECK(send.out.find("each use one item") != std::string::npos);
  CHECK(send.out.find("comma-separated list works too") == std::string::npos);
  auto listen = run_nettool({"help", "--man", "tcp-listen"});
  REQUIRE(listen.exit_code == 0);
  CHECK(listen.out.find("comma-separated list works too") != std::string::npos);  // --allow, --deny
}

// ---- global flags and the command's options

TEST_CASE("a value-taking option's argument is never read as a global flag: udp-send -M -v sends '-v'", "[cli]") {
  TempDir dir;
  UdpSocket peer;
  const std::string port = std::to_string(peer.port());
  write_file(dir / "udp-send.yaml", "command: udp-send\n");
  const std::vector<std::string> words{"-v",           "-vv",      "--verbose",    "-q",  "--quiet", "-h",
                                       "--help",       "-V",       "--version",    "-c",  "-cat",    "--config=x",
                                       "--plugin-dir", "--log-format", "--log-format=xml", "--",           "-vq"};
  for (const auto& word : words) {
    for (const std::vector<std::string>& line :
         {std::vector<std::string>{"udp-send", "-M", word, "127.0.0.1", port},
          std::vector<std::string>{"udp-send", "--message", word, "127.0.0.1", port},
          // No command word: the profile names it.
          std::vector<std::string>{"-c", (dir / "udp-send.yaml").string(), "-M", word, "127.0.0.1", port}}) {
      std::string shown;
      for (const auto& w : line) shown += w + " ";
      INFO("nettool " << shown);
      auto r = run_nettool(line);
      INFO("stderr: " << r.err);
      CHECK(r.exit_code == 0);
      CHECK(r.out.empty());
      CHECK(r.err.empty());  // neither -v's debug lines nor a usage error
      auto got = peer.recv(kIoTimeout);
      REQUIRE(got);
      CHECK(got->payload == word);
    }
  }
}

TEST_CASE("an option value that looks like --plugin-dir never loads a module from that directory", "[cli][security]") {
  // A script sending an untrusted message (udp-send -M "$msg") must not be
  // made to load code: a module that is not a shared object shows whether
  // the directory was tried (the load fails and says so).
  TempDir dir;
  write_file(dir / "nettool-udp-send.so", "not a shared object\n");
  UdpSocket peer;
  const std::string port = std::to_string(peer.port());
  const std::string word = "--plugin-dir=" + dir.path().string();
  auto r = run_nettool({"udp-send", "-M", word, "127.0.0.1", port});
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find(dir.path().string()) == std::string::npos);
  auto got = peer.recv(kIoTimeout);
  REQUIRE(got);
  CHECK(got->payload == word);
  // The same flag given as a flag, after the arguments, is used.
  auto real = run_nettool({"udp-send", "-M", "x", "127.0.0.1", port, "--plugin-dir", dir.path().string()});
  CHECK(real.exit_code != 0);
  CHECK(real.err.find("nettool-udp-send.so") != std::string::npos);
}

// The front end takes -c -v -q -h -V wherever they stand, and a cluster's
// letter that is also a command's would be read two ways. The loader refuses
// such a module; this reads what every built command's help lists, aliases
// included, so a plugin that took one would fail here, loud, instead of at a
// user's.
TEST_CASE("no command's short flag or short alias is a global letter or another option's", "[cli][options]") {
  const std::string global_letters = "cvqhV";
  const std::regex short_flags_re(R"(^  ((?:-[^-], )+)--([a-z0-9-]+))");
  for (const auto& command : built_commands()) {
    INFO("command " << command);
    auto r = run_nettool({"help", command});
    INFO("stderr: " << r.err);
    REQUIRE(r.exit_code == 0);
    // Only the command's own options: the global ones are listed after them.
    auto own = r.out.substr(0, r.out.find("Global options"));
    std::string seen;
    std::istringstream lines(own);
    for (std::string text; std::getline(lines, text);) {
      std::smatch m;
      if (!std::regex_search(text, m, short_flags_re)) continue;
      const std::string flags = m[1];
      for (size_t i = 1; i < flags.size(); i += 4) {  // "-x, -y, ": a letter every 4 characters
        const char letter = flags[i];
        INFO("--" << m[2] << " -" << letter);
        CHECK(global_letters.find(letter) == std::string::npos);
        CHECK(seen.find(letter) == std::string::npos);
        seen += letter;
      }
    }
  }
  // The one alias there is shows up, so the reading above sees aliases at all.
  auto send = run_nettool({"help", "udp-send"});
  CHECK_THAT(send.out, Catch::Contains("  -w, -W, --wait DURATION"));
}

TEST_CASE("global letters mix with a command's short flags in one cluster as nc users type them: -zv -nzv -vM",
          "[cli]") {
  TcpServer open;
  const std::string port = std::to_string(open.port());
  for (const char* cluster : {"-zv", "-vz", "-nzv"}) {
    INFO("cluster " << cluster);
    auto r = run_nettool({"tcp-connect", cluster, "127.0.0.1", port});
    INFO("stderr: " << r.err);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.err, Catch::Contains("port " + port + " open"));
    CHECK_THAT(r.err, Catch::Contains("debug: "));  // -v took effect
    CHECK_THAT(r.err, Catch::Contains(" 1 connection(s)"));  // the summary counts the open port
  }
  auto quiet = run_nettool({"tcp-connect", "-zq", "127.0.0.1", port});
  CHECK(quiet.exit_code == 0);
  CHECK(quiet.err.empty());
  // A value-taking flag after a global letter still takes the next word
  // (-vw 2), or the rest of the word (-vw2).
  for (std::vector<std::string> line : {std::vector<std::string>{"tcp-connect", "-zvw", "2", "127.0.0.1", port},
                                        std::vector<std::string>{"tcp-connect", "-zvw2", "127.0.0.1", port}}) {
    auto r = run_nettool(line);
    INFO("stderr: " << r.err);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.err, Catch::Contains("debug: "));
  }
  UdpSocket peer;
  auto r = run_nettool({"udp-send", "-vM", "-q", "127.0.0.1", std::to_string(peer.port())});
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.err, Catch::Contains("debug: 1 datagram(s) sent"));
  auto got = peer.recv(kIoTimeout);
  REQUIRE(got);
  CHECK(got->payload == "-q");  // the option's value, not the global -q
  // A letter neither the command nor the front end knows is still refused.
  auto bad = run_nettool({"tcp-connect", "-zvx", "127.0.0.1", port}, {}, kUsageTimeout);
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.err, Catch::Contains("unknown option -x"));
}

TEST_CASE("nc's mode letters work as typed: tcp-listen -lvnp PORT and -l -s HOST -p PORT and udp-listen -lu and udp-send -u",
          "[cli]") {
  {
    auto l = start_listener({"tcp-listen", "-lvnp", "0"}, ProcessOptions().stdin_pipe());
    Socket s = connect_tcp(l.port);
    REQUIRE(s.send_all("over tcp\n"));
    CHECK(l.proc.wait_stdout_contains("over tcp\n"));
  }
  {
    auto l = start_listener({"tcp-listen", "-l", "-s", "127.0.0.1", "-p", "0"}, ProcessOptions().stdin_pipe());
    CHECK(l.address == "127.0.0.1");  // -s is the address to listen on, as in nc -l -s
  }
  {
    auto l = start_listener({"udp-listen", "-lu", "-s", "127.0.0.1", "0"});
    CHECK(l.address == "127.0.0.1");
    UdpSocket sender;
    REQUIRE(sender.send_to("127.0.0.1", l.port, "over udp\n"));
    CHECK(l.proc.wait_stdout_contains("over udp\n"));
  }
  UdpSocket peer;
  auto r = run_nettool({"udp-send", "-u", "-M", "hi", "127.0.0.1", std::to_string(peer.port())});
  CHECK(r.exit_code == 0);
  auto got = peer.recv(kIoTimeout);
  REQUIRE(got);
  CHECK(got->payload == "hi");
}

TEST_CASE("global flags still work before the command and after its arguments while '--' still ends the flags",
          "[cli]") {
  UdpSocket peer;
  const std::string port = std::to_string(peer.port());
  for (const std::vector<std::string>& line : {std::vector<std::string>{"-v", "udp-send", "-M", "a", "127.0.0.1", port},
                                               std::vector<std::string>{"udp-send", "-M", "a", "127.0.0.1", port, "-v"},
                                               std::vector<std::string>{"udp-send", "-v", "-M", "a", "127.0.0.1", port}}) {
    auto r = run_nettool(line);
    INFO("stderr: " << r.err);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.err, Catch::Contains("debug: 1 datagram(s) sent"));
    auto got = peer.recv(kIoTimeout);
    REQUIRE(got);
    CHECK(got->payload == "a");
  }
  // After "--" a word is an argument, even one that looks like a global flag.
  auto r = run_nettool({"udp-send", "-M", "b", "--", "127.0.0.1", port});
  CHECK(r.exit_code == 0);
  auto got = peer.recv(kIoTimeout);
  REQUIRE(got);
  CHECK(got->payload == "b");
  r = run_nettool({"udp-send", "-M", "b", "--", "127.0.0.1", port, "-v"}, {}, kUsageTimeout);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("unexpected argument '-v'"));

  // Bad flags are usage errors that name the flag, and nothing is sent.
  r = run_nettool({"udp-send", "-M", "c", "127.0.0.1", port, "--log-format", "xml"}, {}, kUsageTimeout);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("--log-format: expected 'text' or 'json', got 'xml'"));
  r = run_nettool({"udp-send", "127.0.0.1", port, "--log-format"}, {}, kUsageTimeout);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("--log-format needs a value"));
  r = run_nettool({"udp-send", "127.0.0.1", port, "-M"}, {}, kUsageTimeout);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("-M needs a value"));
  CHECK_FALSE(peer.recv(200ms));
}

// What curl, ncat and openssl s_client users type by habit is refused as
// before (exit 2, nothing run), but the message names our equivalent, and
// only one the command has.
namespace {

struct HabitCase {
  std::vector<std::string> args;
  std::string says;  // the first line after "nettool: "
};

void check_refusals(const std::vector<HabitCase>& cases) {
  TcpServer server;  // had anything connected, its backlog would hold the connection
  const std::string port = std::to_string(server.port());
  for (const HabitCase& c : cases) {
    std::vector<std::string> args = c.args;
    for (std::string& a : args)
      if (size_t at = a.find("PORT"); at != std::string::npos) a.replace(at, 4, port);
    std::string line;
    for (const std::string& a : args) line += " " + a;
    auto r = run_nettool(args, {}, kUsageTimeout);
    INFO("nettool" << line << "\nstderr: " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK(r.err == "nettool: " + c.says + "\n(see 'nettool help " + args[0] + "')\n");
  }
  CHECK_FALSE(server.accept(200ms).valid());
}

}  // namespace

TEST_CASE("curl's ncat's and s_client's spellings of our TLS options are refused with ours named: file-get tcp-connect",
          "[cli][habits]") {
  const std::string url = "https://127.0.0.1:PORT/a.txt";
  const std::string insecure = "(curl's -k/--insecure is --tls-no-verify here; it warns on every run)";
  check_refusals({
      {{"file-get", "--cacert", "ca.pem", url}, "unknown option --cacert (curl's --cacert is --tls-ca here)"},
      {{"file-get", "-k", url}, "unknown option -k " + insecure},
      {{"file-get", "--insecure", url}, "unknown option --insecure " + insecure},
      // In a cluster with the global -v and with curl's letters file-get takes.
      {{"file-get", "-kv", url}, "unknown option -k " + insecure},
      {{"file-get", "-fsSLk", url}, "unknown option -k " + insecure},
      {{"file-get", "--cert", "c.pem", url}, "unknown option --cert (curl's -E/--cert is --tls-cert here)"},
      {{"file-get", "--no-check-certificate", url},
       "unknown option --no-check-certificate (wget's --no-check-certificate is --tls-no-verify here; it warns on "
       "every run)"},
      {{"file-get", "--continue", url}, "unknown option --continue (wget's --continue is --resume here; it continues "
                                        "FILE.part)"},
      {{"file-get", "--tlsv1.3", url}, "unknown option --tlsv1.3 (curl's --tlsv1.3 is --tls-min-version 1.3 here)"},
      {{"file-get", "--pinnedpubkey", "sha256//AAAA", url},
       "unknown option --pinnedpubkey (curl's --pinnedpubkey is --tls-pin here; the same sha256//BASE64 form)"},
      // The whole word, though the front end would take its -v for itself.
      {{"file-get", "-servername", "localhost", url},
       "unknown option -servername (s_client's -servername is --tls-servername here)"},
      {{"tcp-connect", "--ssl", "127.0.0.1", "PORT"}, "unknown option --ssl (ncat's --ssl is --tls here)"},
      {{"tcp-connect", "--ssl-trustfile", "ca.pem", "127.0.0.1", "PORT"},
       "unknown option --ssl-trustfile (ncat's --ssl-trustfile is --tls-ca here)"},
      {{"tcp-connect", "--ssl-alpn", "h2", "127.0.0.1", "PORT"},
       "unknown option --ssl-alpn (ncat's --ssl-alpn is --tls-alpn here)"},
      {{"tcp-connect", "--connect-timeout", "5", "127.0.0.1", "PORT"},
       "unknown option --connect-timeout (curl's --connect-timeout is -w/--timeout here; it applies per address tried)"},
      // -C is tcp-connect's --crlf; the word is s_client's.
      {{"tcp-connect", "-CAfile", "ca.pem", "127.0.0.1", "PORT"},
       "unknown option -CAfile (s_client's -CAfile is --tls-ca here)"},
      // Read as the global -c with the profile "onnect", which is not there.
      {{"tcp-connect", "-connect", "127.0.0.1:PORT"},
       "onnect: cannot read profile: No such file or directory; -connect was read as -c onnect "
       "(s_client's -connect is the command's own words here: HOST PORT (two words), or the URL)"},
      // Whole words whose first letters tcp-connect has: never -s ervername, nor
      // -v -e rify_return_error, which ran a program named rify_return_error.
      {{"tcp-connect", "-servername", "localhost", "127.0.0.1", "PORT"},
       "unknown option -servername (s_client's -servername is --tls-servername here)"},
      {{"tcp-connect", "-verify_return_error", "127.0.0.1", "PORT"},
       "unknown option -verify_return_error (s_client's -verify_return_error is the default here: TLS peers are "
       "verified unless --tls-no-verify is given)"},
  });
}

TEST_CASE("a foreign spelling names only an equivalent the command has: tcp-listen has --tls-cert but no --tls-ca",
          "[cli][habits]") {
  check_refusals({
      {{"tcp-listen", "--ssl", "127.0.0.1", "0"}, "unknown option --ssl (ncat's --ssl is --tls here)"},
      {{"tcp-listen", "-k", "--ssl-cert", "c.pem", "127.0.0.1", "0"},
       "unknown option --ssl-cert (ncat's --ssl-cert is --tls-cert here)"},
      {{"tcp-listen", "--key", "k.pem", "127.0.0.1", "0"}, "unknown option --key (curl's --key is --tls-key here)"},
      // A server verifies no peer and trusts no CA list of this kind: today's message.
      {{"tcp-listen", "--cacert", "ca.pem", "127.0.0.1", "0"}, "unknown option --cacert"},
      {{"tcp-listen", "--ssl-trustfile", "ca.pem", "127.0.0.1", "0"}, "unknown option --ssl-trustfile"},
      {{"tcp-listen", "--ssl-verify", "127.0.0.1", "0"}, "unknown option --ssl-verify"},
      {{"tcp-listen", "--insecure", "127.0.0.1", "0"}, "unknown option --insecure"},
      // Without a foreign spelling the near name is still the guess.
      {{"tcp-listen", "--tls-cer", "c.pem", "127.0.0.1", "0"}, "unknown option --tls-cer (did you mean --tls-cert?)"},
  });
  // -connect is a client's: here it stays a profile that cannot be read.
  auto r = run_nettool({"tcp-listen", "-connect", "127.0.0.1:443"}, {}, kUsageTimeout);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "nettool: onnect: cannot read profile: No such file or directory\n");
}
