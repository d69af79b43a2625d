// Plugin loader: good, wrong-ABI, symbol-less and garbage modules.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "nettool/error.h"
#include "nettool/host.h"
#include "temp_dir.h"

using namespace nettool;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {

const fs::path kFixtures = NETTOOL_TEST_FIXTURE_DIR;

fs::path write_garbage(const fs::path& dir) {
  fs::path file = dir / "nettool-garbage.so";
  std::ofstream out(file, std::ios::binary);
  out << "\x7f" "ELF but not really, just some bytes that no dynamic loader accepts\n";
  for (int i = 0; i < 256; ++i) out.put(static_cast<char>(i));
  return file;
}

std::string load_error(const fs::path& file) {
  try {
    PluginModule::load(file);
  } catch (const RuntimeError& e) {
    return e.what();
  }
  FAIL("loading " << file << " did not throw RuntimeError");
  return "";
}

const PluginListing* find_listing(const std::vector<PluginListing>& list, const fs::path& file) {
  for (const auto& item : list)
    if (item.file == file) return &item;
  return nullptr;
}

}  // namespace

TEST_CASE("The fixture modules were built", "[loader]") {
  for (const char* name : {"nettool-good.so", "nettool-badabi.so", "nettool-noentry.so", "nettool-dupletter.so"}) {
    INFO(name);
    CHECK(fs::is_regular_file(kFixtures / name));
  }
}

TEST_CASE("PluginModule::load loads a good plugin and exposes its descriptor", "[loader]") {
  auto module = PluginModule::load(kFixtures / "nettool-good.so");
  REQUIRE(module);
  const PluginInfo& info = module->info();
  CHECK(info.abi_version == NETTOOL_PLUGIN_ABI);
  CHECK(std::string(info.name) == "good");
  CHECK(std::string(info.version) == "1.2.3");
  CHECK(std::string(info.summary) == "a fixture that does nothing");
  CHECK(module->file() == kFixtures / "nettool-good.so");
  auto schema = info.schema();
  REQUIRE(schema.size() == 1);
  CHECK(schema[0].name == "port");
  CHECK(schema[0].short_flag == 'p');
  CHECK(info.create != nullptr);

  // Its schema works with the shared option code.
  OptionValues values;
  apply_defaults(schema, values);
  CHECK(values.get_port("port") == 7);
}

TEST_CASE("PluginModule::load refuses a module with another ABI version", "[loader]") {
  const fs::path file = kFixtures / "nettool-badabi.so";
  CHECK_THROWS_AS(PluginModule::load(file), RuntimeError);
  std::string msg = load_error(file);
  CHECK_THAT(msg, Contains(file.string()));
  CHECK_THAT(msg, Contains("ABI version 999"));
  CHECK_THAT(msg, Contains("needs " + std::to_string(NETTOOL_PLUGIN_ABI)));
}

TEST_CASE("PluginModule::load refuses a module that gives one short letter to two options", "[loader]") {
  const fs::path file = kFixtures / "nettool-dupletter.so";
  CHECK_THROWS_AS(PluginModule::load(file), RuntimeError);
  std::string msg = load_error(file);
  CHECK_THAT(msg, Contains("option --again uses -a, which --alpha has"));
}

TEST_CASE("PluginModule::load refuses a module without the entry symbol", "[loader]") {
  const fs::path file = kFixtures / "nettool-noentry.so";
  CHECK_THROWS_AS(PluginModule::load(file), RuntimeError);
  std::string msg = load_error(file);
  CHECK_THAT(msg, Contains(file.string()));
  CHECK_THAT(msg, Contains("not a nettool plugin") && Contains(NETTOOL_PLUGIN_ENTRY));
}

TEST_CASE("PluginModule::load refuses a garbage file and a missing file without crashing", "[loader]") {
  TempDir dir;
  const fs::path garbage = write_garbage(dir.path());
  CHECK_THROWS_AS(PluginModule::load(garbage), RuntimeError);
  std::string msg = load_error(garbage);
  CHECK_THAT(msg, Contains(garbage.string()) && Contains("cannot load"));
  // The reason from the dynamic loader follows "cannot load: ".
  auto reason = msg.substr(msg.find("cannot load: ") + std::string("cannot load: ").size());
  CHECK_FALSE(reason.empty());

  // Loading it again (the failed handle was released properly) gives the same answer.
  CHECK(load_error(garbage) == msg);

  const fs::path missing = dir.path() / "nettool-missing.so";
  std::string missing_msg = load_error(missing);
  CHECK_THAT(missing_msg, Contains(missing.string()) && Contains("cannot load"));
}

TEST_CASE("list_plugins lists good modules plainly and broken ones with the reason", "[loader]") {
  TempDir dir;
  const fs::path garbage = write_garbage(dir.path());
  {
    std::ofstream(dir.path() / "not-a-plugin.so") << "ignored: wrong prefix";
    std::ofstream(dir.path() / "nettool-readme.txt") << "ignored: wrong extension";
  }
  auto list = list_plugins({dir.path(), kFixtures, dir.path() / "does-not-exist"});
  REQUIRE(list.size() == 5);  // garbage + the four fixtures

  const auto* good = find_listing(list, kFixtures / "nettool-good.so");
  REQUIRE(good);
  CHECK(good->name == "good");
  CHECK(good->version == "1.2.3");
  CHECK(good->summary == "a fixture that does nothing");
  CHECK(good->problem.empty());

  const auto* badabi = find_listing(list, kFixtures / "nettool-badabi.so");
  REQUIRE(badabi);
  CHECK(badabi->name == "badabi");
  CHECK_THAT(badabi->problem, Contains("ABI version 999"));

  const auto* noentry = find_listing(list, kFixtures / "nettool-noentry.so");
  REQUIRE(noentry);
  CHECK(noentry->name == "noentry");
  CHECK_THAT(noentry->problem, Contains("not a nettool plugin"));

  const auto* junk = find_listing(list, garbage);
  REQUIRE(junk);
  CHECK(junk->name == "garbage");
  CHECK_THAT(junk->problem, Contains("cannot load"));
  // The listing shows the file separately; the problem does not repeat it as a prefix.
  CHECK_THAT(junk->problem, !Catch::StartsWith("plugin "));

  // Earlier directories come first.
  CHECK(list.front().file == garbage);
}

TEST_CASE("list_plugins marks a later module of the same name as shadowed", "[loader]") {
  TempDir dir;
  fs::copy_file(kFixtures / "nettool-good.so", dir.path() / "nettool-good.so");
  auto list = list_plugins({dir.path(), kFixtures});
  const auto* first = find_listing(list, dir.path() / "nettool-good.so");
  const auto* second = find_listing(list, kFixtures / "nettool-good.so");
  REQUIRE(first);
  REQUIRE(second);
  CHECK(first->problem.empty());
  CHECK_THAT(second->problem, Contains("shadowed"));
}

TEST_CASE("list_plugins reports a module whose declared name differs from its file name", "[loader]") {
  TempDir dir;
  fs::copy_file(kFixtures / "nettool-good.so", dir.path() / "nettool-other.so");
  auto list = list_plugins({dir.path()});
  REQUIRE(list.size() == 1);
  CHECK_THAT(list[0].problem, Contains("does not match") && Contains("'good'"));
}

TEST_CASE("find_plugin finds a module by command name, first along the path", "[loader]") {
  TempDir empty;
  auto module = find_plugin({empty.path(), kFixtures}, "good");
  REQUIRE(module);
  CHECK(std::string(module->info().name) == "good");
  CHECK(module->file() == kFixtures / "nettool-good.so");

  TempDir earlier;
  fs::copy_file(kFixtures / "nettool-good.so", earlier.path() / "nettool-good.so");
  auto first = find_plugin({earlier.path(), kFixtures}, "good");
  CHECK(first->file() == earlier.path() / "nettool-good.so");
}

TEST_CASE("find_plugin: an unknown command is a ConfigError with a suggestion", "[loader]") {
  CHECK_THROWS_AS(find_plugin({kFixtures}, "goood"), ConfigError);
  CHECK_THROWS_WITH(find_plugin({kFixtures}, "goood"),
                    Contains("unknown command 'goood'") && Contains("did you mean 'good'"));
  CHECK_THROWS_WITH(find_plugin({kFixtures}, "completely-unrelated"),
                    Contains("unknown command 'completely-unrelated'") && !Contains("did you mean"));
  // Names that could walk out of the plugin directory are never looked up as files.
  CHECK_THROWS_AS(find_plugin({kFixtures / "sub"}, "../good"), ConfigError);
  CHECK_THROWS_AS(find_plugin({kFixtures}, ""), ConfigError);
}

TEST_CASE("find_plugin: a broken module is a RuntimeError naming the file", "[loader]") {
  CHECK_THROWS_AS(find_plugin({kFixtures}, "badabi"), RuntimeError);
  CHECK_THROWS_WITH(find_plugin({kFixtures}, "noentry"),
                    Contains((kFixtures / "nettool-noentry.so").string()) && Contains("not a nettool plugin"));
  TempDir dir;
  write_garbage(dir.path());
  CHECK_THROWS_AS(find_plugin({dir.path()}, "garbage"), RuntimeError);

  // A module declaring another name than its file is refused too.
  fs::copy_file(kFixtures / "nettool-good.so", dir.path() / "nettool-other.so");
  CHECK_THROWS_WITH(find_plugin({dir.path()}, "other"), Contains("declares name 'good'"));
}

TEST_CASE("plugin_search_path: --plugin-dir, then $NETTOOL_PLUGIN_PATH, then the defaults", "[loader]") {
  TempDir a, b, c;
  const char* old = std::getenv("NETTOOL_PLUGIN_PATH");
  std::string saved = old ? old : "";
  ::setenv("NETTOOL_PLUGIN_PATH", (b.path().string() + "::" + c.path().string()).c_str(), 1);
  auto path = plugin_search_path(a.path().string());
  if (old) ::setenv("NETTOOL_PLUGIN_PATH", saved.c_str(), 1);
  else ::unsetenv("NETTOOL_PLUGIN_PATH");

  REQUIRE(path.size() >= 3);
  CHECK(path[0] == fs::canonical(a.path()));
  CHECK(path[1] == fs::canonical(b.path()));
  CHECK(path[2] == fs::canonical(c.path()));
  // The same directory given twice is searched once.
  ::setenv("NETTOOL_PLUGIN_PATH", a.path().c_str(), 1);
  auto dedup = plugin_search_path(a.path().string());
  if (old) ::setenv("NETTOOL_PLUGIN_PATH", saved.c_str(), 1);
  else ::unsetenv("NETTOOL_PLUGIN_PATH");
  CHECK(std::count(dedup.begin(), dedup.end(), fs::canonical(a.path())) == 1);
}
