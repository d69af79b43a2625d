// nettool's front end: global flags, choosing the plugin, help and errors.
// Everything else happens in the runtime and the plugin.
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "nettool/error.h"
#include "nettool/host.h"

namespace {

using nettool::ConfigError;

constexpr const char* kUsage =
    "Usage: nettool [global options] <command> [options] [args]\n"
    "       nettool -c PROFILE.yaml            (the profile names its command)\n"
    "       nettool help <command> | nettool plugins | nettool --version\n"
    "\n"
    "Global options (anywhere on the line):\n"
    "  -c, --config FILE         load options from a YAML profile\n"
    "  -v, --verbose             more logging (-vv for trace); with -v a summary at exit\n"
    "  -q, --quiet               only errors on stderr\n"
    "      --log-format FORMAT   text (default) or json\n"
    "      --plugin-dir DIR      look for plugins in DIR first\n"
    "  -h, --help                help for nettool or for the command\n";

struct GlobalOptions {
  std::optional<std::string> config;
  std::optional<std::string> plugin_dir;
  int verbosity = 0;
  nettool::LogFormat log_format = nettool::LogFormat::Text;
  bool help = false;
  bool version = false;
  std::optional<std::string> command;
  std::vector<std::string> plugin_args;  // everything else, for the plugin's schema
};

// Pulls the global flags out of the whole command line; the first word that is
// not a flag is the command, the rest belongs to the plugin.
GlobalOptions parse_global(int argc, char** argv) {
  GlobalOptions g;
  std::vector<std::string> args(argv + 1, argv + argc);
  bool after_dashdash = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value_of = [&](const std::string& flag) -> std::string {
      if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) return a.substr(eq + 1);
      if (a.size() > 2 && a[0] == '-' && a[1] != '-') return a.substr(2);  // -cFILE
      if (i + 1 >= args.size()) throw ConfigError(flag + " needs a value");
      return args[++i];
    };
    if (after_dashdash) {
      g.plugin_args.push_back(a);
      continue;
    }
    if (a == "--") {
      after_dashdash = true;
      g.plugin_args.push_back(a);
    } else if (a == "-c" || a == "--config" || a.rfind("--config=", 0) == 0 ||
               (a.size() > 2 && a[0] == '-' && a[1] == 'c')) {
      g.config = value_of("--config");
    } else if (a == "--plugin-dir" || a.rfind("--plugin-dir=", 0) == 0) {
      g.plugin_dir = value_of("--plugin-dir");
    } else if (a == "--log-format" || a.rfind("--log-format=", 0) == 0) {
      std::string f = value_of("--log-format");
      if (f == "json") g.log_format = nettool::LogFormat::Json;
      else if (f == "text") g.log_format = nettool::LogFormat::Text;
      else throw ConfigError("--log-format: expected 'text' or 'json', got '" + f + "'");
    } else if (a == "--verbose") {
      ++g.verbosity;
    } else if (a == "--quiet" || a == "-q") {
      g.verbosity = -1;
    } else if (a.size() >= 2 && a[0] == '-' && a.find_first_not_of('v', 1) == std::string::npos) {
      g.verbosity += static_cast<int>(a.size() - 1);  // -v, -vv, -vvv
    } else if (a == "-h" || a == "--help") {
      g.help = true;
    } else if (a == "--version" || a == "-V") {
      g.version = true;
    } else if (!g.command && g.plugin_args.empty() && (a.empty() || a[0] != '-')) {
      // The command comes before its options; after an option (e.g.
      // `nettool -c p.yaml --listen 1.2.3.4:80`) a bare word is that option's value.
      g.command = a;
    } else {
      g.plugin_args.push_back(a);
    }
  }
  return g;
}

int list_plugins(const GlobalOptions& g) {
  auto path = nettool::plugin_search_path(g.plugin_dir);
  auto found = nettool::list_plugins(path);
  int broken = 0;
  for (const auto& p : found) {
    if (p.problem.empty()) {
      std::printf("%-14s %-8s %-52s %s\n", p.name.c_str(), p.version.c_str(), p.summary.c_str(), p.file.c_str());
    } else {
      ++broken;
      std::printf("%-14s %-8s %-52s %s\n", p.name.c_str(), "BROKEN", p.problem.c_str(), p.file.c_str());
    }
  }
  if (found.empty()) {
    std::fprintf(stderr, "nettool: no plugins found; searched:\n");
    for (const auto& dir : path) std::fprintf(stderr, "  %s\n", dir.c_str());
    return nettool::kExitRuntime;
  }
  (void)broken;
  return nettool::kExitOk;
}

int run(int argc, char** argv) {
  GlobalOptions g = parse_global(argc, argv);
  if (g.version) {
    std::printf("nettool %s (plugin ABI %d)\n", NETTOOL_VERSION, NETTOOL_PLUGIN_ABI);
    return 0;
  }
  if (g.command == "plugins") return list_plugins(g);
  if (g.command == "help") {
    if (g.plugin_args.empty()) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    g.command = g.plugin_args.front();
    g.plugin_args.erase(g.plugin_args.begin());
    g.help = true;
  }

  std::optional<nettool::Profile> profile;
  if (g.config) profile = nettool::Profile::load(*g.config);
  if (!g.command && profile && profile->command()) g.command = profile->command();
  if (!g.command) {
    if (g.help) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    std::fputs(kUsage, stderr);
    throw ConfigError(g.config ? *g.config + ": no command given and the profile has no 'command:' key"
                               : "no command given");
  }
  if (profile && profile->command() && *profile->command() != *g.command)
    throw ConfigError(*g.config + ": profile is for '" + *profile->command() + "', not '" + *g.command + "'");

  auto module = nettool::find_plugin(nettool::plugin_search_path(g.plugin_dir), *g.command);
  const nettool::PluginInfo& info = module->info();
  if (g.help) {
    std::fputs(nettool::format_help(info.name, info.summary, info.schema()).c_str(), stdout);
    return 0;
  }

  nettool::OptionValues values;
  nettool::apply_defaults(info.schema(), values);
  if (profile) profile->apply(info.schema(), values);
  try {
    nettool::apply_command_line(info.schema(), g.plugin_args, values);
    nettool::check_required(info.schema(), values);
  } catch (const ConfigError& e) {
    throw ConfigError(std::string(e.what()) + "\n(see 'nettool help " + info.name + "')");
  }

  nettool::RunSettings settings;
  settings.verbosity = g.verbosity;
  settings.log_format = g.log_format;
  if (nettool::find_option(info.schema(), "grace")) settings.grace = values.get_duration("grace");
  return nettool::run_plugin(info, values, settings);
}

}  // namespace

int main(int argc, char** argv) {
  // A peer that goes away must show up as EPIPE on the write, not kill us.
  std::signal(SIGPIPE, SIG_IGN);
  try {
    return run(argc, argv);
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "nettool: %s\n", e.what());
    return nettool::kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nettool: %s\n", e.what());
    return nettool::kExitRuntime;
  }
}
