// nettool's front end: global flags, choosing the plugin, help and errors.
// Everything else happens in the runtime and the plugin. Built as
// libnettool-cli.so, which the nettool executable (launcher.cpp) loads and runs.
#include <spdlog/spdlog.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "docs.h"
#include "front_end.h"
#include "nettool/error.h"
#include "nettool/host.h"

namespace {

using nettool::ConfigError;

constexpr const char* kUsage =
    "Usage: nettool [global options] <command> [options] [args]\n"
    "       nettool -c PROFILE.yaml            (the profile names its command)\n"
    "       nettool help <command> | nettool plugins | nettool --version\n"
    "       nettool help --man [<command>] [--output-dir DIR]   (manual pages, roff)\n"
    "       nettool completion bash|zsh        (shell completion script)\n"
    "\n";

// The usage text followed by the commands, as git and kubectl print them: a
// user who types `nettool` alone learns what it can do without `plugins`.
// Broken or shadowed modules are left to `nettool plugins`, which explains them.
std::string usage_with_commands(const std::optional<std::string>& plugin_dir) {
  struct Row {
    std::string name, summary;
  };
  std::vector<Row> commands;
  for (const auto& p : nettool::list_plugins(nettool::plugin_search_path(plugin_dir)))
    if (p.problem.empty()) commands.push_back({p.name, p.summary});
  std::sort(commands.begin(), commands.end(), [](const Row& a, const Row& b) { return a.name < b.name; });
  std::vector<Row> builtin;
  for (const auto& b : nettool::docs::builtins()) builtin.push_back({std::string(b.name), std::string(b.summary)});

  size_t width = 0;
  for (const auto* rows : {&commands, &builtin})
    for (const auto& r : *rows) width = std::max(width, r.name.size());
  auto table = [width](const std::vector<Row>& rows) {
    std::string out;
    for (const auto& r : rows) {
      std::string summary = r.summary;
      // The built-ins' summaries are written for the man page; one line here.
      if (size_t semicolon = summary.find(';'); semicolon != std::string::npos) summary.resize(semicolon);
      out += "  " + r.name + std::string(width - r.name.size() + 2, ' ') + summary + "\n";
    }
    return out;
  };
  std::string text = kUsage + nettool::docs::global_options_help();
  text += "\nCommands:\n";
  text += commands.empty() ? "  (no plugins found; 'nettool plugins' shows where it looked)\n" : table(commands);
  text += "\nBuilt-in commands:\n" + table(builtin);
  text += "\nRun 'nettool help <command>' for a command's options and arguments.\n";
  return text;
}

struct GlobalOptions {
  std::optional<std::string> config;
  // -c as typed when its value was attached (`-cFILE`), else empty: the
  // word may be s_client's -connect or -cert, said once the profile fails.
  std::string config_word;
  std::optional<std::string> plugin_dir;
  int verbosity = 0;
  nettool::LogFormat log_format = nettool::LogFormat::Text;
  bool help = false;
  bool version = false;
  std::optional<std::string> command;
  std::vector<std::string> plugin_args;  // everything else, for the plugin's schema
  // The first bad global flag ("--log-format: expected ..."), thrown only by
  // the reading that is final: in a first reading it may be a plugin
  // option's value that merely looks like a global flag.
  std::optional<std::string> problem;
  size_t first_plugin_word = 0;  // index in the line of plugin_args' first word (the line's size: none)
};

// A cluster of short flags that mixes the plugin's with global ones, as nc
// users type them (`tcp-connect -zv`, `tcp-listen -kv`): the global letters
// are applied to `g` and the rest is returned for the plugin (empty when
// nothing is left). The two sets never share a letter (the loader refuses a
// plugin that uses one of `cvqhV`). A plugin letter that takes a value takes
// the rest of the word too (`-vw5`), as getopt reads it; a letter neither
// knows stays, for the plugin to refuse. Another tool's whole word
// (s_client's -verify_return_error) stays whole, global letters and all, for
// the plugin to refuse naming our equivalent: never -v, then -e running a
// program. Called for words of 3 characters or more.
std::string take_global_letters(const nettool::Schema& schema, const std::string& cluster, GlobalOptions& g) {
  if (nettool::foreign_option_hint(schema, cluster)) return cluster;
  std::string rest = "-";
  for (size_t j = 1; j < cluster.size(); ++j) {
    const char c = cluster[j];
    if (const nettool::OptionSpec* spec = nettool::find_short_option(schema, c)) {
      if (spec->type != nettool::OptionType::Bool) return rest + cluster.substr(j);
      rest += c;
    } else if (c == 'v') {
      ++g.verbosity;
    } else if (c == 'q') {
      g.verbosity = -1;
    } else if (c == 'h') {
      g.help = true;
    } else if (c == 'V') {
      g.version = true;
    } else {
      rest += c;
    }
  }
  return rest == "-" ? std::string() : rest;
}

// Pulls the global flags out of the whole command line; the first word that is
// not a flag is the command, the rest belongs to the plugin. `schema` is the
// command's options, once the command is known: a word one of them takes as
// its value is the plugin's, whatever it looks like (`udp-send -M -v` sends
// "-v"). Without it, the reading is a first guess, good for choosing the
// plugin, which run() makes again with the plugin's schema.
GlobalOptions parse_global(const std::vector<std::string>& args, const nettool::Schema* schema) {
  GlobalOptions g;
  auto fail = [&g](std::string message) {
    if (!g.problem) g.problem = std::move(message);
  };
  bool after_dashdash = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value_of = [&](const std::string& flag) -> std::optional<std::string> {
      if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) return a.substr(eq + 1);
      if (a.size() > 2 && a[0] == '-' && a[1] != '-') return a.substr(2);  // -cFILE
      if (i + 1 >= args.size()) {
        fail(flag + " needs a value");
        return std::nullopt;
      }
      return args[++i];
    };
    if (g.plugin_args.empty()) g.first_plugin_word = i;
    if (after_dashdash) {
      g.plugin_args.push_back(a);
      continue;
    }
    if (a == "--") {
      after_dashdash = true;
      g.plugin_args.push_back(a);
    } else if (a == "-c" || a == "--config" || a.rfind("--config=", 0) == 0 ||
               (a.size() > 2 && a[0] == '-' && a[1] == 'c')) {
      if (auto v = value_of("--config")) {
        g.config = *v;
        g.config_word = a.size() > 2 && a[1] == 'c' ? a : std::string();
      }
    } else if (a == "--plugin-dir" || a.rfind("--plugin-dir=", 0) == 0) {
      if (auto v = value_of("--plugin-dir")) g.plugin_dir = *v;
    } else if (a == "--log-format" || a.rfind("--log-format=", 0) == 0) {
      std::optional<std::string> f = value_of("--log-format");
      if (f == "json") g.log_format = nettool::LogFormat::Json;
      else if (f == "text") g.log_format = nettool::LogFormat::Text;
      else if (f) fail("--log-format: expected 'text' or 'json', got '" + *f + "'");
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
      std::string word = a;
      if (schema && word.size() > 2 && word[0] == '-' && word[1] != '-') {
        word = take_global_letters(*schema, word, g);
        if (word.empty()) continue;
      }
      g.plugin_args.push_back(word);
      if (schema && i + 1 < args.size() && nettool::value_is_next_word(*schema, word)) g.plugin_args.push_back(args[++i]);
    }
  }
  if (g.plugin_args.empty()) g.first_plugin_word = args.size();
  return g;
}

// Whether a module for `command` is on the search path (without loading it).
bool is_installed_command(const GlobalOptions& g, const std::string& command) {
  for (const auto& dir : nettool::plugin_search_path(g.plugin_dir)) {
    std::error_code ec;
    if (std::filesystem::exists(dir / ("nettool-" + command + ".so"), ec)) return true;
  }
  return false;
}

// ---- nc's habits at the top level: `nettool -zv HOST PORT`, `nettool HOST PORT`

// The command an nc line means, from nc's -l and -u among the line's short
// clusters: -l tcp-listen, -u udp-send, both udp-listen, else tcp-connect;
// with what the hint says it does and the protocol of its port names.
struct NcCommand {
  const char* name;
  const char* as_nc;  // "to connect as nc does"
  const char* protocol;
};

NcCommand nc_command_of(const std::vector<std::string>& args) {
  bool listen = false, udp = false;
  for (const std::string& a : args) {
    if (a == "--") break;
    if (a.size() < 2 || a[0] != '-' || a[1] == '-') continue;
    listen = listen || a.find('l') != std::string::npos;
    udp = udp || a.find('u') != std::string::npos;
  }
  if (listen && udp) return {"udp-listen", "to listen as nc -lu does", "udp"};
  if (listen) return {"tcp-listen", "to listen as nc -l does", "tcp"};
  if (udp) return {"udp-send", "to send as nc -u does", "udp"};
  return {"tcp-connect", "to connect as nc does", "tcp"};
}

// The line as a shell would read it back: words with anything but the safe
// characters in single quotes.
std::string shell_words(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& w : words) {
    if (!out.empty()) out += ' ';
    bool safe = !w.empty() && std::all_of(w.begin(), w.end(), [](unsigned char c) {
      return std::isalnum(c) || std::string_view("_@%+=:,./-").find(static_cast<char>(c)) != std::string_view::npos;
    });
    if (safe) {
      out += w;
      continue;
    }
    out += '\'';
    for (char c : w) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

// The commands the search path has (module file names), for telling a
// mistyped command from a host name.
std::vector<std::string> installed_commands(const GlobalOptions& g) {
  std::vector<std::string> names;
  for (const auto& b : nettool::docs::builtins()) names.emplace_back(b.name);
  for (const auto& dir : nettool::plugin_search_path(g.plugin_dir)) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      const std::string file = entry.path().filename().string();
      if (file.rfind("nettool-", 0) == 0 && file.size() > 11 && file.ends_with(".so"))
        names.push_back(file.substr(8, file.size() - 11));
    }
  }
  return names;
}

bool is_address_literal(std::string word) {
  if (word.size() > 2 && word.front() == '[' && word.back() == ']') word = word.substr(1, word.size() - 2);
  unsigned char buffer[sizeof(in6_addr)];
  return inet_pton(AF_INET, word.c_str(), buffer) == 1 || inet_pton(AF_INET6, word.c_str(), buffer) == 1;
}

// `word`, which names no command, is the HOST of `nettool HOST PORT`: a Unix
// socket, or an address or host name followed by a PORT. A bare name close
// to a command's (`tcp-conect 80`) is a typo, left to the loader's
// "did you mean".
bool is_nc_target(const GlobalOptions& g, const std::string& word, const NcCommand& nc) {
  if (word.rfind("unix:", 0) == 0) return true;
  auto port = std::find_if(g.plugin_args.begin(), g.plugin_args.end(),
                           [](const std::string& a) { return a.empty() || a[0] != '-'; });
  if (port == g.plugin_args.end()) return false;
  try {
    (void)nettool::parse_port_list(*port, nc.protocol);
  } catch (const ConfigError&) {
    return false;
  }
  if (is_address_literal(word) || word.find('.') != std::string::npos || word == "localhost") return true;
  return !nettool::closest_name(word, installed_commands(g));
}

// The option of `schema` the line's first word is (`-z` of `-zv`, `--zero`),
// or "" when the word is not wholly its options and the global letters.
std::string option_named_by(const nettool::Schema& schema, const std::string& word) {
  if (word.rfind("--", 0) == 0) {
    std::string name = word.substr(2, word.find('=') - 2);
    if (name.rfind("no-", 0) == 0 && !nettool::find_option(schema, name)) name = name.substr(3);
    return nettool::find_option(schema, name) ? "--" + name : "";
  }
  std::string named;
  for (size_t j = 1; j < word.size(); ++j) {
    const char c = word[j];
    if (std::string_view("vqhV").find(c) != std::string_view::npos) continue;
    const nettool::OptionSpec* spec = nettool::find_short_option(schema, c);
    if (!spec) return "";
    if (named.empty()) named = std::string("-") + c;
    if (spec->type != nettool::OptionType::Bool) break;  // the rest of the word is its value
  }
  return named;
}

// What to type instead of an nc command line given to nettool itself, or
// nullopt when the line does not look like one. Only a suggestion: nothing
// is run on the user's behalf. Asked only once the line has failed (no
// command, or one that is not installed), so a good line pays nothing.
std::optional<std::string> nc_habit_hint(const std::vector<std::string>& args, const GlobalOptions& g) {
  const NcCommand nc = nc_command_of(args);
  if (!is_installed_command(g, nc.name)) return std::nullopt;
  const std::string instead = std::string("nettool ") + nc.name + " " + shell_words(args);
  if (g.command) {  // `nettool 127.0.0.1 80`
    if (is_installed_command(g, *g.command) || !is_nc_target(g, *g.command, nc)) return std::nullopt;
    return "'" + *g.command + "' is not a command; " + nc.as_nc + ": " + instead;
  }
  // `nettool -zv 127.0.0.1 80`: the line starts with the command's options.
  if (g.plugin_args.empty() || g.plugin_args.front().size() < 2 || g.plugin_args.front()[0] != '-' ||
      g.plugin_args.front() == "--")
    return std::nullopt;
  std::unique_ptr<nettool::PluginModule> module;
  try {
    module = nettool::find_plugin(nettool::plugin_search_path(g.plugin_dir), nc.name);
  } catch (const std::exception&) {
    return std::nullopt;  // a broken module: the usual message says more
  }
  const std::string option = option_named_by(module->info().schema(), g.plugin_args.front());
  if (option.empty()) return std::nullopt;
  return option + " is an option of " + nc.name + ": " + instead;
}

// A profile read once, by file name.
struct LoadedProfile {
  std::string file;
  nettool::Profile profile;
};

const nettool::Profile& profile_of(const std::string& file, std::optional<LoadedProfile>& cache) {
  if (!cache || cache->file != file) cache.emplace(LoadedProfile{file, nettool::Profile::load(file)});
  return cache->profile;
}

// The plugin a reading of the line runs: the command word when it names an
// installed command (the profile is not read: in a first reading `-c` may be
// a misread option value), else the profile's `command:`, else the word, for
// find_plugin to refuse. nullopt when there is neither.
std::optional<std::string> plugin_to_load(const GlobalOptions& g, std::optional<LoadedProfile>& profile) {
  if (g.command && is_installed_command(g, *g.command)) return g.command;
  if (g.config)
    if (const auto& named = profile_of(*g.config, profile).command()) return named;
  return g.command;
}

// One line per module: name, version (or BROKEN), summary (or the problem)
// in columns as wide as their longest entry; then the directory they were
// found in. Only when they come from several (--plugin-dir,
// $NETTOOL_PLUGIN_PATH) does each line end with its file instead: a column
// of the same long path would push the lines past any terminal's width.
int list_plugins(const GlobalOptions& g) {
  auto path = nettool::plugin_search_path(g.plugin_dir);
  auto found = nettool::list_plugins(path);
  if (found.empty()) {
    std::fprintf(stderr, "nettool: no plugins found; searched:\n");
    for (const auto& dir : path) std::fprintf(stderr, "  %s\n", dir.c_str());
    return nettool::kExitRuntime;
  }
  int name_w = 4, version_w = 7, text_w = 7;
  for (const auto& p : found) {
    name_w = std::max(name_w, static_cast<int>(p.name.size()));
    version_w = std::max(version_w, static_cast<int>(p.problem.empty() ? p.version.size() : 6));
    text_w = std::max(text_w, static_cast<int>((p.problem.empty() ? p.summary : p.problem).size()));
  }
  const std::filesystem::path dir = std::filesystem::path(found.front().file).parent_path();
  const bool one_dir = std::all_of(found.begin(), found.end(),
                                   [&dir](const auto& p) { return std::filesystem::path(p.file).parent_path() == dir; });
  auto row = [&](const std::string& name, const std::string& version, const std::string& text, const std::string& file) {
    std::string line = name + std::string(static_cast<size_t>(name_w) - name.size() + 2, ' ') + version;
    line += std::string(static_cast<size_t>(version_w) - version.size() + 2, ' ') + text;
    if (!one_dir) line += std::string(static_cast<size_t>(text_w) - text.size() + 2, ' ') + file;
    std::printf("%s\n", line.c_str());
  };
  row("NAME", "VERSION", "SUMMARY", "FILE");
  for (const auto& p : found) {
    bool ok = p.problem.empty();
    row(p.name, ok ? p.version : "BROKEN", ok ? p.summary : p.problem, p.file);
  }
  if (one_dir) std::printf("\n(all in %s)\n", dir.c_str());
  return nettool::kExitOk;
}

// Every good plugin along the search path (the first of each name), sorted by
// name, kept loaded while the documentation is generated from its schema.
struct LoadedPlugins {
  std::vector<std::unique_ptr<nettool::PluginModule>> modules;
  std::vector<const nettool::PluginInfo*> infos;
};

LoadedPlugins load_all_plugins(const GlobalOptions& g) {
  LoadedPlugins out;
  for (const auto& item : nettool::list_plugins(nettool::plugin_search_path(g.plugin_dir))) {
    if (!item.problem.empty()) {
      if (item.problem != "shadowed by an earlier one")
        std::fprintf(stderr, "nettool: skipping %s: %s\n", item.file.c_str(), item.problem.c_str());
      continue;
    }
    bool builtin = std::any_of(nettool::docs::builtins().begin(), nettool::docs::builtins().end(),
                               [&](const auto& b) { return b.name == item.name; });
    if (builtin) {
      std::fprintf(stderr, "nettool: skipping %s: '%s' is a built-in command\n", item.file.c_str(), item.name.c_str());
      continue;
    }
    out.modules.push_back(nettool::PluginModule::load(item.file));
    out.infos.push_back(&out.modules.back()->info());
  }
  std::sort(out.infos.begin(), out.infos.end(),
            [](const nettool::PluginInfo* a, const nettool::PluginInfo* b) { return std::string_view(a->name) < b->name; });
  return out;
}

nettool::docs::ManContext man_context() {
  nettool::docs::ManContext ctx;
  ctx.version = NETTOOL_VERSION;
  // SOURCE_DATE_EPOCH keeps package builds reproducible.
  std::time_t when = std::time(nullptr);
  if (const char* epoch = std::getenv("SOURCE_DATE_EPOCH")) when = static_cast<std::time_t>(std::strtoll(epoch, nullptr, 10));
  std::tm tm{};
  gmtime_r(&when, &tm);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d", &tm);
  ctx.date = date;
  ctx.paths = {NETTOOL_DOC_PLUGIN_DIR, NETTOOL_DOC_PLUGIN_RELDIR, NETTOOL_DOC_CONFIG_DIR, NETTOOL_DOC_EXAMPLES_DIR};
  return ctx;
}

// nettool help --man [COMMAND] [--output-dir DIR]: without --output-dir one
// page on stdout (nettool.1, or the command's); with it, nettool.1 and the page
// of every plugin found (or only COMMAND's) written into DIR, one path per line on stdout.
int man_pages(const GlobalOptions& g) {
  std::optional<std::string> command, output_dir;
  const auto& args = g.plugin_args;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--man") continue;
    if (a == "--output-dir") {
      if (i + 1 >= args.size()) throw ConfigError("--output-dir needs a value");
      output_dir = args[++i];
    } else if (a.rfind("--output-dir=", 0) == 0) {
      output_dir = a.substr(std::string("--output-dir=").size());
    } else if (!a.empty() && a[0] == '-') {
      throw ConfigError("help --man: unknown option " + a + " (expected --output-dir DIR)");
    } else if (!command) {
      command = a;
    } else {
      throw ConfigError("help --man: unexpected argument '" + a + "'");
    }
  }
  const auto ctx = man_context();
  std::vector<std::pair<std::string, std::string>> pages;  // file name, content
  std::optional<LoadedPlugins> all;
  std::unique_ptr<nettool::PluginModule> one;
  if (command) {
    one = nettool::find_plugin(nettool::plugin_search_path(g.plugin_dir), *command);
    pages.emplace_back("nettool-" + *command + ".1", nettool::docs::command_man_page(one->info(), ctx));
  } else {
    all = load_all_plugins(g);
    pages.emplace_back("nettool.1", nettool::docs::main_man_page(all->infos, ctx));
    if (output_dir)
      for (const auto* info : all->infos)
        pages.emplace_back(std::string("nettool-") + info->name + ".1", nettool::docs::command_man_page(*info, ctx));
  }
  if (!output_dir) {
    std::fputs(pages.front().second.c_str(), stdout);
    return nettool::kExitOk;
  }
  std::error_code ec;
  std::filesystem::create_directories(*output_dir, ec);
  if (ec) throw nettool::RuntimeError("cannot create " + *output_dir + ": " + ec.message());
  for (const auto& [name, content] : pages) {
    std::filesystem::path file = std::filesystem::path(*output_dir) / name;
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << content;
    out.close();
    if (!out) throw nettool::RuntimeError("cannot write " + file.string());
    std::printf("%s\n", file.c_str());
  }
  return nettool::kExitOk;
}

// nettool completion bash|zsh
int completion(const GlobalOptions& g) {
  if (g.plugin_args.size() != 1 || (g.plugin_args[0] != "bash" && g.plugin_args[0] != "zsh"))
    throw ConfigError("usage: nettool completion bash|zsh");
  LoadedPlugins all = load_all_plugins(g);
  std::string script = g.plugin_args[0] == "bash" ? nettool::docs::bash_completion(all.infos)
                                                  : nettool::docs::zsh_completion(all.infos);
  std::fputs(script.c_str(), stdout);
  return nettool::kExitOk;
}

// The global flags as the plugin's schema reads the line (see parse_global),
// and the plugin, loaded. The first reading chooses the plugin without its
// schema; the line is read again with it, and once more should a word read
// differently change the choice (a plugin option's value that looked like
// --plugin-dir or -c). The built-ins have no schema: their first reading stands.
GlobalOptions read_command_line(const std::vector<std::string>& args, std::unique_ptr<nettool::PluginModule>& module,
                                std::optional<LoadedProfile>& profile) {
  GlobalOptions g = parse_global(args, nullptr);
  if (g.command == "plugins" || g.command == "completion" || g.command == "help") return g;
  // Before the first word of the plugin's nothing can be an option's value:
  // the -c and --plugin-dir given there choose the plugin, not what a later
  // word that may be a value (`-M --plugin-dir=/tmp/x`, `-c p.yaml -M -c`)
  // seems to say: a module is loaded (its constructors run) only from a
  // directory the line really names. The later ones count once the plugin's
  // schema confirms them, or when nothing else finds a plugin at all
  // (`nettool HOST PORT -c p.yaml`).
  const GlobalOptions guess = g;
  const GlobalOptions leading = parse_global({args.begin(), args.begin() + static_cast<ptrdiff_t>(g.first_plugin_word)}, nullptr);
  g.config = leading.config;
  g.plugin_dir = leading.plugin_dir;
  std::optional<std::string> loaded_from;  // the plugin dir `module` was found with
  // The plugin this reading runs, loaded into `module`; nullopt when none is named.
  auto load = [&](const GlobalOptions& reading) -> std::optional<std::string> {
    std::optional<std::string> name = plugin_to_load(reading, profile);
    if (name && (!module || module->info().name != *name || loaded_from != reading.plugin_dir)) {
      try {
        module = nettool::find_plugin(nettool::plugin_search_path(reading.plugin_dir), *name);
      } catch (const ConfigError& e) {
        // `nettool 127.0.0.1 80`: nc's line, not an unknown command (the
        // word itself failed, not a profile's command:).
        if (name == reading.command)
          if (std::optional<std::string> hint = nc_habit_hint(args, reading)) throw ConfigError(*hint);
        // A profile's command: that names no command: say which file.
        if (name != reading.command && reading.config) throw ConfigError(*reading.config + ": command: " + e.what());
        throw;
      }
      loaded_from = reading.plugin_dir;
    }
    return name;
  };
  try {
    for (int reading = 1;; ++reading) {
      std::optional<std::string> name;
      try {
        name = load(g);
      } catch (const std::exception&) {
        if (reading != 1 || (guess.config == g.config && guess.plugin_dir == g.plugin_dir)) throw;
        g = guess;
        name = load(g);
      }
      if (!name) return g;
      const nettool::Schema schema = module->info().schema();
      GlobalOptions again = parse_global(args, &schema);
      bool settled = again.command == g.command && again.config == g.config && again.plugin_dir == g.plugin_dir;
      g = std::move(again);
      if (settled) return g;
      if (reading == 3)
        throw ConfigError("cannot tell the global options from the options of '" + *name +
                          "'; give the global ones before the command");
    }
  } catch (const std::exception&) {
    // `nettool no-such-command --version` is still answered.
    if (!g.version) throw;
    module.reset();
    return g;
  }
}

int run(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  std::unique_ptr<nettool::PluginModule> module;
  std::optional<LoadedProfile> loaded_profile;
  GlobalOptions g = read_command_line(args, module, loaded_profile);
  if (g.problem) throw ConfigError(*g.problem);
  if (g.version) {
    std::fputs(NETTOOL_VERSION_LINE, stdout);
    return 0;
  }
  if (g.command == "plugins") return list_plugins(g);
  if (g.command == "completion") return completion(g);
  if (g.command == "help" &&
      std::any_of(g.plugin_args.begin(), g.plugin_args.end(), [](const std::string& a) { return a == "--man"; }))
    return man_pages(g);
  if (g.command == "help") {
    if (g.plugin_args.empty()) {
      std::fputs(usage_with_commands(g.plugin_dir).c_str(), stdout);
      return 0;
    }
    g.command = g.plugin_args.front();
    g.plugin_args.erase(g.plugin_args.begin());
    g.help = true;
  }

  const nettool::Profile* profile = nullptr;
  if (g.config) {
    try {
      profile = &profile_of(*g.config, loaded_profile);
    } catch (const ConfigError& e) {
      // `tcp-connect -connect HOST:443`: s_client's -connect, read as `-c onnect`.
      if (module && module->info().name == g.command && !g.config_word.empty())
        if (auto habit = nettool::foreign_option_hint(module->info().schema(), g.config_word))
          throw ConfigError(std::string(e.what()) + "; " + g.config_word + " was read as -c " + *g.config + " (" +
                            *habit + ")\n(see 'nettool help " + *g.command + "')");
      throw;
    }
  }
  if (!g.command && profile && profile->command()) g.command = profile->command();
  if (!g.command) {
    if (g.help) {
      std::fputs(usage_with_commands(g.plugin_dir).c_str(), stdout);
      return 0;
    }
    // `nettool -zv 127.0.0.1 80`: one line saying where -z belongs beats the usage.
    if (!g.config)
      if (std::optional<std::string> hint = nc_habit_hint(args, g)) throw ConfigError(*hint);
    // A profile without command: needs one line, not the whole usage.
    if (!g.config) std::fputs(usage_with_commands(g.plugin_dir).c_str(), stderr);
    throw ConfigError(g.config ? *g.config + ": no command given and the profile has no 'command:' key (add one, e.g. "
                                             "'command: tcp-listen', or name it: nettool COMMAND -c " + *g.config + ")"
                               : "no command given");
  }
  if (profile && profile->command() && *profile->command() != *g.command) {
    // `nettool -c connect.yaml 127.0.0.1 9000`: the first word is a positional
    // argument unless it names an installed command.
    if (is_installed_command(g, *g.command))
      throw ConfigError(*g.config + ": profile is for '" + *profile->command() + "', not '" + *g.command + "'");
    g.plugin_args.insert(g.plugin_args.begin(), *g.command);
    g.command = profile->command();
  }

  if (!module || module->info().name != *g.command)
    module = nettool::find_plugin(nettool::plugin_search_path(g.plugin_dir), *g.command);
  const nettool::PluginInfo& info = module->info();
  if (g.help) {
    std::string help = nettool::format_help(info.name, info.summary, info.schema());
    help += "\n" + nettool::docs::global_options_help();
    std::fputs(help.c_str(), stdout);
    return 0;
  }

  nettool::OptionValues values;
  nettool::apply_defaults(info.schema(), values);
  if (profile) profile->apply(info.schema(), values);
  try {
    nettool::apply_command_line(info.schema(), g.plugin_args, values);
    nettool::give_way_to_command_line(info.schema(), values);
    nettool::check_required(info.schema(), values);
    nettool::check_constraints(info.schema(), values);
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

int nettool_cli_main(int argc, char** argv) {
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
