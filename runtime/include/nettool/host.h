// The front end's side of the runtime: finding and loading plugin modules,
// reading YAML profiles, and running one command on the loop. Plugins do not
// use this header.
#pragma once
#include <uv.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nettool/log.h"
#include "nettool/options.h"
#include "nettool/plugin.h"

namespace nettool {

class ProfileDocument;  // libnettool-profile's, which parses the YAML

// One loaded module. Keeps the shared object mapped for as long as it lives,
// so it must outlive every object the plugin created.
class PluginModule {
 public:
  // Throws RuntimeError naming the file and the reason when the file is not a
  // loadable module, lacks the entry symbol, or has another ABI version.
  static std::unique_ptr<PluginModule> load(const std::filesystem::path& file);
  ~PluginModule();
  PluginModule(const PluginModule&) = delete;
  PluginModule& operator=(const PluginModule&) = delete;

  const PluginInfo& info() const { return *info_; }
  const std::filesystem::path& file() const { return file_; }

 private:
  struct Key {
    explicit Key() = default;
  };

 public:
  explicit PluginModule(Key) {}  // only load() can make the Key

 private:
  uv_lib_t lib_{};
  bool open_ = false;
  const PluginInfo* info_ = nullptr;
  std::filesystem::path file_;
};

// Where modules are looked for, in order: --plugin-dir, $NETTOOL_PLUGIN_PATH,
// <exe dir>/<installed plugin dir relative to the installed bindir> (e.g.
// ../lib/x86_64-linux-gnu/nettool/plugins), <exe dir>/../lib/nettool/plugins,
// the build tree. A directory reached twice is listed once.
std::vector<std::filesystem::path> plugin_search_path(const std::optional<std::string>& plugin_dir);

struct PluginListing {
  std::string name;
  std::filesystem::path file;
  std::string version, summary;
  std::string problem;  // empty when the module is good
};
// Every nettool-*.so along the path; a name found twice is listed as shadowed.
std::vector<PluginListing> list_plugins(const std::vector<std::filesystem::path>& path);

// The first module for `command` along the path. Throws ConfigError when no
// module has that name (listing the known ones), RuntimeError when it is broken.
std::unique_ptr<PluginModule> find_plugin(const std::vector<std::filesystem::path>& path, const std::string& command);

// A parsed YAML profile: its `command:` and the node holding the options.
class Profile {
 public:
  // Throws ConfigError "FILE:LINE:COL: message" for unreadable or malformed
  // YAML. The first profile loads libnettool-profile (yaml-cpp): RuntimeError
  // when it cannot.
  static Profile load(const std::string& file);
  static Profile parse(const std::string& text, const std::string& file_name);
  const std::optional<std::string>& command() const;
  // Validates every key against `schema` and writes the values. Throws
  // ConfigError "FILE:LINE:COL: message", suggesting the closest key for a typo.
  void apply(Schema schema, OptionValues& values) const;
  ~Profile();
  Profile(Profile&&) noexcept;
  Profile& operator=(Profile&&) noexcept;

 private:
  explicit Profile(std::unique_ptr<ProfileDocument> document);
  std::unique_ptr<ProfileDocument> document_;
};

struct RunSettings {
  int verbosity = 0;
  LogFormat log_format = LogFormat::Text;
  Duration grace{5000};  // from the plugin's --grace when it has one
};

// Runs the command on a fresh loop until it has nothing left to do. Handles
// SIGINT/SIGTERM (graceful, then immediate) and prints the -v summary.
// Returns the exit code.
int run_plugin(const PluginInfo& plugin, const OptionValues& values, const RunSettings& settings);

}  // namespace nettool
