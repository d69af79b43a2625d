// Man pages and shell completions, generated from the same option schemas that
// drive parsing and `--help` (nettool help --man, nettool completion bash|zsh).
#pragma once
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nettool/plugin.h"

namespace nettool::docs {

// A front-end flag: the same for every command, parsed by cli/main.cpp.
struct GlobalFlag {
  std::string_view name;
  char short_flag;
  std::string_view value_name;  // empty: takes no value
  std::string_view help;
  enum class Values { None, File, Dir, Choice } values;
  std::string_view choices;  // space-separated, for Values::Choice
};
std::span<const GlobalFlag> global_flags();
// "Global options:" and one line per global flag, for the usage text and every command's --help.
std::string global_options_help();

// The front end's own commands, which no plugin may shadow.
struct Builtin {
  std::string_view name;
  std::string_view usage;
  std::string_view summary;
};
std::span<const Builtin> builtins();

// Installed locations, for FILES and ENVIRONMENT.
struct Paths {
  std::string plugin_dir;     // e.g. /usr/lib/x86_64-linux-gnu/nettool/plugins
  std::string plugin_reldir;  // the same relative to the directory of the executable
  std::string config_dir;     // /etc/nettool
  std::string examples_dir;   // /usr/share/doc/nettool/examples
};

struct ManContext {
  std::string version;
  std::string date;  // YYYY-MM-DD
  Paths paths;
};

// nettool.1: every command found, the global options, profiles, exit status.
std::string main_man_page(const std::vector<const PluginInfo*>& plugins, const ManContext& ctx);
// nettool-<command>.1: every option of the schema with its type and default.
std::string command_man_page(const PluginInfo& plugin, const ManContext& ctx);

std::string bash_completion(const std::vector<const PluginInfo*>& plugins);
std::string zsh_completion(const std::vector<const PluginInfo*>& plugins);

}  // namespace nettool::docs
