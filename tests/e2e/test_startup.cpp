// Start-up: which shared objects each kind of command line makes the dynamic
// loader map, read from the loader itself (LD_DEBUG=files). Start-up time is
// mostly that mapping and relocating, so these keep what makes it short —
// `nettool --version` maps libc only, a command loads its own plugin and no
// other, only the commands that hash load libcrypto — without timing anything
// (bench/ measures).
#include <catch2/catch.hpp>

#include <csignal>
#include <set>
#include <sstream>

#include "file_test_util.h"
#include "harness.h"

using namespace e2e;

namespace {

// The file names (no directory) of the objects the loader mapped, from its
// "file=NAME [0];  needed by ..." and "... dynamically loaded by ..." lines.
std::set<std::string> loaded_objects(const std::string& ld_debug) {
  std::set<std::string> names;
  std::istringstream lines(ld_debug);
  for (std::string line; std::getline(lines, line);) {
    auto at = line.find("file=");
    if (at == std::string::npos) continue;
    auto end = line.find(" [", at);
    if (end == std::string::npos) continue;
    names.insert(fs::path(line.substr(at + 5, end - at - 5)).filename().string());
  }
  return names;
}

bool has_prefix(const std::set<std::string>& names, std::string_view prefix) {
  for (const auto& n : names)
    if (n.rfind(prefix, 0) == 0) return true;
  return false;
}

// The plugins a run loaded (nettool-<command>.so).
std::set<std::string> plugins_in(const std::set<std::string>& names) {
  std::set<std::string> out;
  for (const auto& n : names)
    if (n.rfind("nettool-", 0) == 0 && n.size() > 3 && n.compare(n.size() - 3, 3, ".so") == 0) out.insert(n);
  return out;
}

ProcessOptions with_ld_debug() { return ProcessOptions().setenv("LD_DEBUG", "files"); }

std::string describe(const std::set<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += n + " ";
  return s;
}

}  // namespace

TEST_CASE("nettool --version maps libc only and prints what the front end prints", "[startup]") {
  for (std::string flag : {"--version", "-V"}) {
    INFO(flag);
    auto fast = run_nettool({flag}, with_ld_debug());
    auto names = loaded_objects(fast.err);
    INFO("loaded: " << describe(names));
    CHECK(fast.exit_code == 0);
    CHECK(fast.out.rfind("nettool ", 0) == 0);
    CHECK(names.count("libc.so.6") == 1);  // the parse works
    CHECK_FALSE(has_prefix(names, "libnettool-"));
    CHECK(plugins_in(names).empty());
    for (const char* lib : {"libcrypto", "libuv", "libspdlog", "libfmt", "libyaml-cpp"}) CHECK_FALSE(has_prefix(names, lib));
#ifndef NETTOOL_E2E_SANITIZED  // libubsan brings libstdc++ along
    CHECK_FALSE(has_prefix(names, "libstdc++"));
#endif

    // Anything more on the line goes to the front end, which answers the same.
    auto full = run_nettool({"-q", flag}, with_ld_debug());
    auto full_names = loaded_objects(full.err);
    INFO("loaded with -q: " << describe(full_names));
    CHECK(full.exit_code == 0);
    CHECK(full_names.count("libnettool-cli.so") == 1);
    CHECK(full.out == fast.out);
  }
}

TEST_CASE("tcp-connect -z to an address is answered by the launcher, which maps libc only", "[startup]") {
  TcpServer server;  // the kernel completes the handshake from the backlog
  auto r = run_nettool({"tcp-connect", "-zv", "127.0.0.1", std::to_string(server.port())}, with_ld_debug());
  auto names = loaded_objects(r.err);
  INFO("loaded: " << describe(names));
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("port " + std::to_string(server.port()) + " open") != std::string::npos);
  CHECK(names.count("libc.so.6") == 1);  // the parse works
  CHECK_FALSE(has_prefix(names, "libnettool-"));
  CHECK(plugins_in(names).empty());
  for (const char* lib : {"libcrypto", "libuv", "libspdlog", "libfmt", "libyaml-cpp"}) CHECK_FALSE(has_prefix(names, lib));
#ifndef NETTOOL_E2E_SANITIZED  // libubsan brings libstdc++ along
  CHECK(names == std::set<std::string>{"libc.so.6"});
#endif
}

TEST_CASE("tcp-connect loads its own plugin and the runtime, and neither another plugin nor libcrypto", "[startup]") {
  TcpServer server;  // the kernel completes the handshake from the backlog
  // The front end's way (the launcher would answer this line itself).
  auto r = run_nettool({"tcp-connect", "--zero", "127.0.0.1", std::to_string(server.port())},
                       with_ld_debug().setenv("NETTOOL_NO_QUICK_CHECK", "1"));
  auto names = loaded_objects(r.err);
  INFO("loaded: " << describe(names) << "\nstderr tail: " << r.err.substr(r.err.size() > 2000 ? r.err.size() - 2000 : 0));
  CHECK(r.exit_code == 0);
  CHECK(names.count("libnettool-cli.so") == 1);
  CHECK(names.count("libnettool-runtime.so." + std::to_string(NETTOOL_E2E_ABI)) == 1);
  CHECK(plugins_in(names) == std::set<std::string>{"nettool-tcp-connect.so"});
  CHECK_FALSE(has_prefix(names, "libnettool-digest"));
  CHECK_FALSE(has_prefix(names, "libcrypto"));
  CHECK_FALSE(has_prefix(names, "libnettool-profile"));
  CHECK_FALSE(has_prefix(names, "libyaml-cpp"));
}

TEST_CASE("only a run given a profile maps libnettool-profile and yaml-cpp", "[startup]") {
  TcpServer server;
  TempDir dir;
  write_file(dir / "check.yaml", "command: tcp-connect\nzero: true\nhost: 127.0.0.1\nport: " +
                                    std::to_string(server.port()) + "\n");
  auto r = run_nettool({"-c", (dir / "check.yaml").string()}, with_ld_debug());
  auto names = loaded_objects(r.err);
  INFO("loaded: " << describe(names));
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("port " + std::to_string(server.port()) + " open") != std::string::npos);
  CHECK(names.count("libnettool-profile.so." + std::to_string(NETTOOL_E2E_ABI)) == 1);
  CHECK(has_prefix(names, "libyaml-cpp"));
}

TEST_CASE("tcp-connect maps libnettool-tls, libssl and libcrypto only when asked for TLS", "[startup][tls]") {
  auto srv = start_listener({"tcp-listen", "--tls", "-k", "127.0.0.1", "0"});
  auto r = run_nettool({"tcp-connect", "-z", "--tls-no-verify", "127.0.0.1", std::to_string(srv.port)}, with_ld_debug());
  auto names = loaded_objects(r.err);
  INFO("loaded: " << describe(names));
  CHECK(r.exit_code == 1);  // -z --tls exits 0 only for a verified peer
  CHECK(names.count("libnettool-tls.so." + std::to_string(NETTOOL_E2E_ABI)) == 1);
  CHECK(has_prefix(names, "libssl"));
  CHECK(has_prefix(names, "libcrypto"));
  CHECK(r.out.find("verification: NOT verified (--tls-no-verify)") != std::string::npos);
}

TEST_CASE("file-serve maps libcrypto at its first hash and never with --digest off", "[startup]") {
  TempDir root;
  write_file(root / "a.txt", "hello\n");
  const std::string digest_lib = "libnettool-digest.so." + std::to_string(NETTOOL_E2E_ABI);
  for (bool digest : {true, false}) {
    INFO("--digest " << (digest ? "sha-256" : "off"));
    auto srv = start_listener({"file-serve", "--root", root.path().string(), "--listen", "127.0.0.1:0", "--digest",
                               digest ? "sha-256" : "off"},
                              with_ld_debug());
    auto before = loaded_objects(srv.proc.stderr_text());
    INFO("loaded before a request: " << describe(before));
    CHECK(plugins_in(before) == std::set<std::string>{"nettool-file-serve.so"});
    CHECK(before.count(digest_lib) == 0);
    CHECK_FALSE(has_prefix(before, "libcrypto"));

    auto r = filetest::http_get(srv.port, "/a.txt");
    CHECK(r.status == 200);
    CHECK(r.body == "hello\n");
    CHECK(r.header("Repr-Digest") == (digest ? std::optional(filetest::repr_digest_of("hello\n")) : std::nullopt));
    auto after = loaded_objects(srv.proc.stderr_text());
    INFO("loaded after it: " << describe(after));
    CHECK(after.count(digest_lib) == (digest ? 1 : 0));
    CHECK(has_prefix(after, "libcrypto") == digest);
  }
}

TEST_CASE("file-serve without libnettool-digest answers without Repr-Digest and says why once", "[startup]") {
  // A copy of the build's bin/ and lib/ without libnettool-digest: the runtime
  // looks for it beside itself, and this runtime is the copy's.
  TempDir tree;
  const fs::path build = nettool_path().parent_path().parent_path();
  fs::copy(build / "bin", tree / "bin", fs::copy_options::recursive);
  fs::copy(build / "lib", tree / "lib", fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  for (const auto& entry : fs::directory_iterator(tree / "lib"))
    if (entry.path().filename().string().rfind("libnettool-digest", 0) == 0) fs::remove(entry.path());
  TempDir root;
  write_file(root / "a.txt", "hello\n");
  write_file(root / "b.txt", "world\n");
  auto srv = start_listener_argv({(tree / "bin" / "nettool").string(), "file-serve", "--root", root.path().string(),
                                  "--listen", "127.0.0.1:0"});
  for (const char* name : {"/a.txt", "/b.txt"}) {
    auto r = filetest::http_get(srv.port, name);
    CHECK(r.status == 200);
    CHECK_FALSE(r.has_header("Repr-Digest"));
  }
  auto err = srv.proc.stderr_text();
  INFO(err);
  // The path is the runtime's own, as the loader resolved it: only its file name is compared.
  const std::string why = "no Repr-Digest: SHA-256: cannot load ";
  auto first = err.find(why);
  REQUIRE(first != std::string::npos);
  CHECK(err.substr(first, err.find('\n', first) - first).find("/libnettool-digest.so." + std::to_string(NETTOOL_E2E_ABI)) !=
        std::string::npos);
  CHECK(err.find(why, first + 1) == std::string::npos);
  srv.proc.signal(SIGTERM);
  CHECK(srv.proc.wait() == 0);
}

TEST_CASE("nettool plugins loads and lists every plugin of the build", "[startup]") {
  const fs::path plugin_dir = nettool_path().parent_path() / ".." / "lib" / "nettool" / "plugins";
  std::set<std::string> built;
  for (const auto& entry : fs::directory_iterator(plugin_dir)) {
    std::string name = entry.path().filename().string();
    if (name.rfind("nettool-", 0) == 0 && entry.path().extension() == ".so") built.insert(name);
  }
  REQUIRE(built.size() >= 7);  // tcp-connect, tcp-listen, file-serve, file-get, udp-*

  auto r = run_nettool({"plugins"}, with_ld_debug());
  auto names = loaded_objects(r.err);
  INFO("loaded: " << describe(names) << "\nstdout: " << r.out);
  CHECK(r.exit_code == 0);
  CHECK(plugins_in(names) == built);
  for (const auto& file : built) {
    std::string command = file.substr(8, file.size() - 8 - 3);  // nettool-<command>.so
    CHECK(r.out.find("\n" + command + " ") != std::string::npos);
  }
  CHECK(r.out.find("BROKEN") == std::string::npos);
  // One directory: named once at the end, not on every line.
  CHECK(r.out.find("\n(all in ") != std::string::npos);
  CHECK(r.out.find("nettool-tcp-connect.so") == std::string::npos);
}

TEST_CASE("nettool plugins names each file when the plugins come from several directories", "[startup][plugins]") {
  TempDir dir;
  write_file(dir / "nettool-empty.so", "");  // not a shared object: listed as BROKEN, with the reason
  auto r = run_nettool({"--plugin-dir", dir.path().string(), "plugins"});
  INFO("stdout: " << r.out);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("\n(all in ") == std::string::npos);
  std::string broken, tcp_connect;
  for (const auto& line : split_lines(r.out)) {
    if (line.rfind("empty ", 0) == 0) broken = line;
    if (line.rfind("tcp-connect ", 0) == 0) tcp_connect = line;
  }
  CHECK_THAT(broken, Catch::Contains("BROKEN") && Catch::EndsWith((dir / "nettool-empty.so").string()));
  CHECK_THAT(tcp_connect, Catch::EndsWith("nettool-tcp-connect.so"));
}

TEST_CASE("nettool without its front end still prints its version, and says what is missing otherwise", "[startup]") {
  TempDir dir;
  fs::create_directories(dir / "bin");
  fs::copy_file(nettool_path(), dir / "bin" / "nettool");
  const std::string lonely = (dir / "bin" / "nettool").string();

  Process version({lonely, "--version"}, ProcessOptions());
  CHECK(version.wait() == 0);
  CHECK(version.stdout_text().rfind("nettool ", 0) == 0);

  Process plugins({lonely, "plugins"}, ProcessOptions());
  CHECK(plugins.wait() == 1);
  CHECK_THAT(plugins.stderr_text(), Catch::Contains("cannot find the front end") &&
                                        Catch::Contains("/lib/nettool/libnettool-cli.so"));
}
