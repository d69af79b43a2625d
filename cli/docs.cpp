// Man pages (roff, man macros) and bash/zsh completions from the option
// schemas: the same tables that drive parsing, profiles and --help, so the
// documentation cannot drift from what the parser accepts.
#include "docs.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <sstream>

#include "nettool/options.h"

namespace nettool::docs {

namespace {

constexpr std::array kGlobalFlags{
    GlobalFlag{"config", 'c', "FILE", "load options from a YAML profile (its command: key may name the command)",
               GlobalFlag::Values::File, ""},
    GlobalFlag{"verbose", 'v', "", "more logging (-vv for trace); with -v a summary of bytes, duration and rate at exit",
               GlobalFlag::Values::None, ""},
    GlobalFlag{"quiet", 'q', "", "only errors on stderr", GlobalFlag::Values::None, ""},
    GlobalFlag{"log-format", 0, "FORMAT", "log line format on stderr: text (default) or json", GlobalFlag::Values::Choice,
               "text json"},
    GlobalFlag{"plugin-dir", 0, "DIR", "look for plugins in DIR first", GlobalFlag::Values::Dir, ""},
    GlobalFlag{"help", 'h', "", "help for nettool or for the command", GlobalFlag::Values::None, ""},
    GlobalFlag{"version", 'V', "", "print the version and the plugin ABI version", GlobalFlag::Values::None, ""},
};

constexpr std::array kBuiltins{
    Builtin{"help", "[--man [--output-dir DIR]] [COMMAND]",
            "help for nettool or a command; with --man, its manual page (roff) on stdout, or with --output-dir "
            "nettool.1 and nettool-COMMAND.1 for every plugin found, written into DIR"},
    Builtin{"plugins", "", "list the plugins found along the search path, with version, summary and file; broken "
                           "modules with the reason"},
    Builtin{"completion", "bash|zsh", "print a completion script for bash or zsh, generated from the plugin schemas"},
};

// ---------------------------------------------------------------- schema facts

std::string_view value_name(const OptionSpec& spec) { return display_value_name(spec); }

std::vector<std::string> choice_words(const OptionSpec& spec) {
  std::vector<std::string> out;
  for (std::string_view word : nettool::choices_of(spec)) out.emplace_back(word);
  return out;
}

bool is_host(const OptionSpec& spec) {
  return spec.positional >= 0 && (spec.name == "host" || spec.value_name.find("HOST") != std::string_view::npos);
}
bool wants_dir(const OptionSpec& spec) { return spec.type == OptionType::Path && spec.value_name == "DIR"; }
// Path options, and strings that name a file (file-get -o FILE).
bool wants_file(const OptionSpec& spec) {
  return (spec.type == OptionType::Path && !wants_dir(spec)) ||
         (spec.type == OptionType::String && spec.value_name == "FILE");
}
bool is_interface(const OptionSpec& spec) { return spec.name == "interface"; }
bool default_on(const OptionSpec& spec) {
  return spec.type == OptionType::Bool && !spec.default_value.empty() && parse_bool(spec.default_value);
}

// An option's short letters, its alias after its own flag ("wW" for udp-send's
// --wait); empty when it has none.
std::string short_letters(char short_flag, char short_alias = 0) {
  std::string letters;
  if (short_flag) letters += short_flag;
  if (short_alias) letters += short_alias;
  return letters;
}
std::string short_letters(const OptionSpec& spec) { return short_letters(spec.short_flag, spec.short_alias); }

// The same as command-line words: {"-w", "-W"}.
std::vector<std::string> short_words(std::string_view letters) {
  std::vector<std::string> words;
  for (char c : letters) words.push_back(std::string("-") + c);
  return words;
}

std::vector<const OptionSpec*> positionals_of(Schema schema) {
  std::vector<const OptionSpec*> out;
  for (const auto& spec : schema)
    if (spec.positional >= 0) out.push_back(&spec);
  std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->positional < b->positional; });
  return out;
}

std::string usage_of(const PluginInfo& info) {
  if (info.usage && *info.usage) return info.usage;
  std::string usage;
  for (auto* p : positionals_of(info.schema())) {
    std::string name(p->value_name.empty() ? p->name : p->value_name);
    if (!usage.empty()) usage += ' ';
    usage += p->required ? name : "[" + name + "]";
  }
  return usage;
}

std::string ordinal(int n) {
  static constexpr std::array<const char*, 5> kWords{"first", "second", "third", "fourth", "fifth"};
  if (n >= 0 && n < static_cast<int>(kWords.size())) return kWords[n];
  return std::to_string(n + 1) + "th";
}

// ----------------------------------------------------------------------- roff

// Every '-' escaped: option and command names, literal text.
std::string lit(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') out += "\\e";
    else if (c == '-') out += "\\-";
    else out += c;
  }
  return out;
}

// Running text: hyphens inside words stay hyphens, those that start a word
// (-v, --no-listing) are minus signs, as in a command line.
std::string text(std::string_view in) {
  std::string out;
  bool in_flag = false;
  char prev = ' ';
  for (char c : in) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == '(' || c == '\'' || c == '"' || c == '/' || c == ',')
      in_flag = false;
    if (c == '-' && (in_flag || !std::isalnum(static_cast<unsigned char>(prev)))) in_flag = true;
    if (c == '\\') out += "\\e";
    else if (c == '-' && in_flag) out += "\\-";
    else out += c;
    prev = c;
  }
  return out;
}

// A line of running text must not start with a control character.
std::string line(std::string_view roff) {
  std::string out(roff);
  if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out.insert(0, "\\&");
  return out + "\n";
}

std::string bold(std::string_view s) { return "\\fB" + lit(s) + "\\fR"; }
std::string ital(std::string_view s) { return "\\fI" + lit(s) + "\\fR"; }

// "[PORT]", "URL | HOST PORT NAME": metavariables in italics.
std::string usage_roff(std::string_view usage) {
  std::string out;
  std::string word;
  auto flush = [&] {
    if (word.empty()) return;
    bool meta = std::any_of(word.begin(), word.end(), [](char c) { return std::isupper(static_cast<unsigned char>(c)); });
    out += meta ? ital(word) : lit(word);
    word.clear();
  };
  for (char c : usage) {
    if (c == '[' || c == ']' || c == '|' || c == ' ' || c == '.') {
      flush();
      out += c;
    } else {
      word += c;
    }
  }
  flush();
  return out;
}

std::string flag_roff(std::string_view name, std::string_view letters, std::string_view value) {
  std::string h;
  for (char c : letters) h += "\\fB\\-" + std::string(1, c) + "\\fR, ";
  h += "\\fB\\-\\-" + lit(name) + "\\fR";
  if (!value.empty()) h += " " + ital(value);
  return h;
}

void header(std::ostringstream& out, std::string_view title, const ManContext& ctx) {
  out << ".\\\" Generated by nettool " << ctx.version
      << " (nettool help --man) from the plugin option schemas; do not edit.\n";
  std::string upper;
  for (char c : title) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  out << ".TH " << lit(upper) << " 1 \"" << ctx.date << "\" \"nettool " << ctx.version << "\" \"User Commands\"\n";
  out << ".nh\n.ad l\n";  // no hyphenation of option names, ragged right
}

void global_options_section(std::ostringstream& out) {
  out << ".SH \"GLOBAL OPTIONS\"\n"
      << line("These are accepted anywhere on the command line, before or after the command.");
  for (const auto& g : kGlobalFlags) {
    out << ".TP\n" << line(flag_roff(g.name, short_letters(g.short_flag), g.value_name)) << line(text(g.help));
  }
}

void values_paragraph(std::ostringstream& out) {
  out << line("Values: durations like " + bold("250ms") + ", " + bold("30s") + ", " + bold("5m") + ", " + bold("1h") +
              " (a bare number is seconds); sizes like " + bold("512") + ", " + bold("64KiB") + ", " + bold("1MiB") +
              ", " + bold("10kB") + "; booleans " + bold("true") + " or " + bold("false") + " (" +
              bold("--no-") + ital("NAME") + " on the command line); address lists as YAML lists or comma-separated "
              "CIDRs (" + bold("10.0.0.0/8,::1") + "); ports as numbers or, where the option says so, service names "
              "from /etc/services (" + bold("http") + "); port lists, where taken, as ranges and comma-separated "
              "ports (" + bold("20-22,80") + ").");
}

void exit_status_section(std::ostringstream& out) {
  out << ".SH \"EXIT STATUS\"\n"
      << ".TP\n.B 0\n" << line("Success.")
      << ".TP\n.B 1\n" << line("A network or I/O failure at run time (refused, unreachable, timed out, disk full...).")
      << ".TP\n.B 2\n"
      << line("Bad usage or a bad profile: unknown option or key, wrong type, missing argument or file. The "
              "message names the file, line and column of a YAML error and suggests the closest valid name.");
}

void environment_section(std::ostringstream& out, const Paths& paths) {
  out << ".SH ENVIRONMENT\n.TP\n.B NETTOOL_PLUGIN_PATH\n"
      << line("Colon-separated list of directories searched for plugins (" + ital("nettool-COMMAND.so") +
              ") after " + bold("--plugin-dir") + " and before the installed plugin directory.")
      << ".PP\n"
      << line("The complete search order: " + bold("--plugin-dir") + ", " + bold("$NETTOOL_PLUGIN_PATH") + ", " +
              ital("EXEDIR") + lit("/" + paths.plugin_reldir) + ", " + ital("EXEDIR") +
              lit("/../lib/nettool/plugins") + " (and, in a development build, the build tree), where " + ital("EXEDIR") +
              " is the directory holding the nettool executable. So an installed or unpacked package finds its "
              "plugins wherever it lies, without environment variables.");
}

void files_section(std::ostringstream& out, const Paths& paths, std::string_view command) {
  out << ".SH FILES\n.TP\n"
      << line(ital(paths.plugin_dir + "/nettool-" + (command.empty() ? std::string("*") : std::string(command)) +
                   ".so"))
      << line(command.empty() ? std::string("The plugins, one per command.") : "The plugin module of this command.")
      << ".TP\n"
      << line(ital(paths.config_dir + "/") + ital("NAME") + ital(".yaml"))
      << line("Profiles for services: the systemd unit " + bold("nettool-file-serve@") + ital("NAME") +
              bold(".service") + " runs " + bold("nettool file-serve -c " + paths.config_dir + "/") + ital("NAME") +
              bold(".yaml") + "; " + ital(paths.config_dir + "/serve.yaml") +
              " is the default one. A changed profile takes effect on restart (there is no reload).")
      << ".TP\n"
      << line(ital(paths.examples_dir + "/"))
      << line("Example profiles, one per command.");
}

void see_also(std::ostringstream& out, const std::vector<std::string>& pages) {
  out << ".SH \"SEE ALSO\"\n";
  for (size_t i = 0; i < pages.size(); ++i) {
    out << ".BR " << lit(pages[i]) << " (1)" << (i + 1 < pages.size() ? "," : "") << "\n";
  }
}

// ---------------------------------------------------------------- completions

// 'text' for a shell single-quoted string.
std::string sq(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

// Inside a _arguments description [...] or message :...: field.
std::string zsh_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '[' || c == ']' || c == ':' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// The message of an _arguments value (":MESSAGE:ACTION"): only ':' is special.
std::string zsh_message(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == ':' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += sep;
    out += items[i];
  }
  return out;
}

}  // namespace

std::span<const GlobalFlag> global_flags() { return kGlobalFlags; }

std::string global_options_help() {
  std::string out = "Global options (anywhere on the line):\n";
  for (const auto& g : kGlobalFlags) {
    std::string left = "  ";
    left += g.short_flag ? std::string("-") + g.short_flag + ", " : "    ";
    left += "--" + std::string(g.name);
    if (!g.value_name.empty()) left += " " + std::string(g.value_name);
    out += left;
    out += left.size() < 32 ? std::string(32 - left.size(), ' ') : "\n" + std::string(32, ' ');
    out += std::string(g.help) + "\n";
  }
  return out;
}
std::span<const Builtin> builtins() { return kBuiltins; }

// ------------------------------------------------------------------ man pages

std::string main_man_page(const std::vector<const PluginInfo*>& plugins, const ManContext& ctx) {
  std::ostringstream out;
  header(out, "nettool", ctx);
  out << ".SH NAME\n" << "nettool \\- netcat\\-style network toolkit with one plugin per job\n";
  out << ".SH SYNOPSIS\n"
      << ".B nettool\n" << line("[" + ital("global options") + "] " + ital("command") + " [" + ital("options") + "] [" +
                                ital("arguments") + "]")
      << ".br\n.B nettool\n" << line("[" + ital("global options") + "] " + bold("-c") + " " + ital("PROFILE.yaml") +
                                     " [" + ital("options") + "]")
      << ".br\n.B nettool help\n" << line("[" + bold("--man") + "] [" + ital("command") + "]")
      << ".br\n.B nettool plugins\n"
      << ".br\n.B nettool completion\n" << line(bold("bash") + "|" + bold("zsh"))
      << ".br\n.B nettool \\-\\-version\n";
  out << ".SH DESCRIPTION\n"
      << line(bold("nettool") + " is a netcat-style network toolkit: one small front end, a libuv event loop, and "
              "one plugin per job. Each command is a shared module loaded at run time; the front end parses the "
              "global options, picks the plugin, and hands it the loop and its typed options.")
      << ".PP\n"
      << line("Every option of every command can come from the command line or from a YAML profile (" + bold("-c") +
              " " + ital("FILE") + ") whose keys are the long option names. Precedence: built-in default < profile < "
              "command line (a list given on the command line replaces the profile's). A profile may name its " +
              bold("command:") + ", so " + bold("nettool -c serve.yaml") +
              " needs nothing else. Relative path options in a profile are relative to the profile's folder.")
      << ".PP\n";
  values_paragraph(out);
  out << ".PP\n"
      << line("Standard output carries data only; every log line, progress bar and summary goes to standard error.");
  out << ".PP\n"
      << line("An nc command line given to nettool itself (" + bold("nettool -zv 127.0.0.1 80") + ", " +
              bold("nettool 127.0.0.1 80") + ") is a usage error whose message names the command to type instead (" +
              bold("nettool tcp-connect -zv 127.0.0.1 80") + "); nothing is run.");
  out << ".SH COMMANDS\n";
  std::vector<std::string> pages;
  for (const PluginInfo* info : plugins) {
    std::string usage = usage_of(*info);
    out << ".TP\n" << line(bold(info->name) + (usage.empty() ? "" : " " + usage_roff(usage)))
        << line(text(info->summary ? info->summary : "") + ". See " + bold(std::string("nettool-") + info->name) +
                "(1).");
    pages.push_back(std::string("nettool-") + info->name);
  }
  if (plugins.empty()) out << line("No plugins were found when this page was generated.");
  for (const auto& b : kBuiltins) {
    out << ".TP\n" << line(bold(b.name) + (b.usage.empty() ? "" : " " + text(b.usage))) << line(text(b.summary) + ".");
  }
  global_options_section(out);
  exit_status_section(out);
  environment_section(out, ctx.paths);
  files_section(out, ctx.paths, "");
  for (const char* other : {"nc", "ncat", "socat", "curl"}) pages.push_back(other);
  see_also(out, pages);
  return out.str();
}

std::string command_man_page(const PluginInfo& info, const ManContext& ctx) {
  std::ostringstream out;
  const std::string name = info.name;
  const std::string summary = info.summary ? info.summary : "";
  const Schema schema = info.schema();
  header(out, "nettool-" + name, ctx);
  out << ".SH NAME\n" << lit("nettool-" + name) << " \\- " << text(summary) << "\n";

  std::string usage = usage_of(info);
  out << ".SH SYNOPSIS\n"
      << ".B nettool " << lit(name) << "\n"
      << line("[" + ital("options") + "]" + (usage.empty() ? "" : " " + usage_roff(usage)))
      << ".br\n.B nettool\n"
      << line(bold("-c") + " " + ital("PROFILE.yaml") + " [" + ital("options") + "]" +
              (usage.empty() ? "" : " " + usage_roff(usage)));

  out << ".SH DESCRIPTION\n"
      << line(bold("nettool " + name) + ": " + text(summary) + ".")
      << ".PP\n"
      << line("Every option below can also be set in a YAML profile given with " + bold("-c") + " " + ital("FILE") +
              ", under its long name (the key " + bold("command: " + name) +
              " lets the profile name this command). Precedence: built-in default < profile < command line.")
      << ".PP\n";
  values_paragraph(out);
  out << ".PP\n" << line("This page describes plugin version " + lit(info.version ? info.version : "?") + ".");

  auto positionals = positionals_of(schema);
  if (!positionals.empty()) {
    out << ".SH ARGUMENTS\n";
    for (auto* p : positionals) {
      out << ".TP\n" << line(ital(value_name(*p)))
          << line(text(p->help) + ". The " + ordinal(p->positional) + " positional argument" +
                  (p->required ? "; required" : "; optional") + "; the same as " + bold("--" + std::string(p->name)) +
                  ".");
    }
  }

  out << ".SH OPTIONS\n";
  for (const auto& spec : schema) {
    std::string head = flag_roff(spec.name, short_letters(spec), spec.type == OptionType::Bool ? "" : value_name(spec));
    if (spec.type == OptionType::Bool) head += ", \\fB\\-\\-no\\-" + lit(spec.name) + "\\fR";
    out << ".TP\n" << line(head) << line(text(spec.help) + ".");
    std::string facts = "Type: " + std::string(type_name(spec.type));
    if (!spec.service_protocol.empty())
      facts += " (a number, or a " + std::string(spec.service_protocol) + " service name from /etc/services)";
    if (spec.type == OptionType::Bool) {
      facts += "; default: " + std::string(default_on(spec) ? "on" : "off");
    } else if (!spec.default_value.empty()) {
      facts += "; default: " + bold(spec.default_value);
    }
    if (auto choices = choice_words(spec); !choices.empty()) {
      std::vector<std::string> b;
      for (auto& c : choices) b.push_back(bold(c));
      facts += "; one of " + join(b, ", ");
    }
    // Only address lists split at commas: a message or a header may hold one.
    if (spec.type == OptionType::AddressList)
      facts += "; repeatable, and a comma-separated list works too (a YAML list in a profile)";
    else if (is_list(spec.type))
      facts += "; repeatable, each use one item (a YAML list in a profile)";
    if (spec.positional >= 0) facts += "; also the " + ordinal(spec.positional) + " positional argument";
    if (spec.type == OptionType::Path) facts += "; in a profile, relative to the profile's folder";
    facts += "; profile key: " + bold(spec.name) + ".";
    out << ".br\n" << line(facts);
  }
  global_options_section(out);

  // A profile with every default: a starting point that is valid as it stands.
  out << ".SH PROFILE\n"
      << line("A profile for this command with every built-in default spelled out:") << ".PP\n.RS\n.nf\n"
      << line(lit("command: " + name));
  for (const auto& spec : schema) {
    if (spec.default_value.empty()) continue;
    out << line(lit(std::string(spec.name) + ": " + std::string(spec.default_value)));
  }
  out << ".fi\n.RE\n";

  exit_status_section(out);
  environment_section(out, ctx.paths);
  files_section(out, ctx.paths, name);
  see_also(out, {"nettool"});
  return out.str();
}

// ---------------------------------------------------------------------- bash

std::string bash_completion(const std::vector<const PluginInfo*>& plugins) {
  std::vector<std::string> global_words, global_values;
  for (const auto& g : kGlobalFlags) {
    if (g.short_flag) global_words.push_back(std::string("-") + g.short_flag);
    global_words.push_back("--" + std::string(g.name));
    if (!g.value_name.empty()) {
      if (g.short_flag) global_values.push_back(std::string("-") + g.short_flag);
      global_values.push_back("--" + std::string(g.name));
    }
  }
  std::vector<std::string> commands;
  for (const PluginInfo* p : plugins) commands.push_back(p->name);
  for (const auto& b : kBuiltins) commands.emplace_back(b.name);

  std::ostringstream out;
  out << "# bash completion for nettool                               -*- shell-script -*-\n"
         "# Generated by `nettool completion bash` from the plugin option schemas;\n"
         "# regenerate it rather than editing it.\n\n"
         "_nettool_hosts() {\n"
         "  if declare -F _known_hosts_real >/dev/null; then _known_hosts_real -- \"$cur\"\n"
         "  else COMPREPLY=($(compgen -A hostname -- \"$cur\")); fi\n"
         "}\n"
         "# $1: -d for directories, or an extglob of extensions; none for any file\n"
         "_nettool_files() {\n"
         "  if declare -F _filedir >/dev/null; then _filedir \"$@\"\n"
         "  elif [[ ${1-} == -d ]]; then COMPREPLY=($(compgen -d -- \"$cur\"))\n"
         "  else COMPREPLY=($(compgen -f -- \"$cur\")); fi\n"
         "}\n"
         "_nettool_words() { COMPREPLY=($(compgen -W \"$1\" -- \"$cur\")); }\n\n"
         "_nettool() {\n"
         "  local cur prev words cword split=false\n"
         "  if declare -F _init_completion >/dev/null; then\n"
         "    _init_completion -s || return\n"
         "  else\n"
         "    cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
         "    words=(\"${COMP_WORDS[@]}\") cword=$COMP_CWORD\n"
         "  fi\n\n"
      << "  local global_flags=" << sq(join(global_words, " ")) << "\n"
      << "  local global_values=" << sq(" " + join(global_values, " ") + " ") << "\n"
      << "  local commands=" << sq(join(commands, " ")) << "\n\n"
      << "  case $prev in\n";
  for (const auto& g : kGlobalFlags) {
    if (g.value_name.empty()) continue;
    std::string pattern = (g.short_flag ? std::string("-") + g.short_flag + "|" : "") + "--" + std::string(g.name);
    out << "    " << pattern << ") ";
    switch (g.values) {
      case GlobalFlag::Values::File: out << "_nettool_files '@(yaml|yml)'"; break;
      case GlobalFlag::Values::Dir: out << "_nettool_files -d"; break;
      case GlobalFlag::Values::Choice: out << "_nettool_words " << sq(g.choices); break;
      case GlobalFlag::Values::None: break;
    }
    out << "; return ;;\n";
  }
  out << "  esac\n\n"
         "  # The command: the first word that is neither a flag nor a global flag's value.\n"
         "  local i w cmd='' cmd_at=0\n"
         "  for ((i = 1; i < cword; i++)); do\n"
         "    w=${words[i]}\n"
         "    if [[ $global_values == *\" $w \"* ]]; then ((i++)); continue; fi\n"
         "    [[ $w == -* ]] && continue\n"
         "    cmd=$w cmd_at=$i\n"
         "    break\n"
         "  done\n"
         "  if [[ -z $cmd ]]; then\n"
         "    if [[ $cur == -* ]]; then _nettool_words \"$global_flags\"; else _nettool_words \"$commands\"; fi\n"
         "    return\n"
         "  fi\n\n"
         "  # Per command: its flags, those that take a value, the index of a HOST positional.\n"
         "  local flags='' values=' ' host_at=-1\n"
         "  case $cmd in\n"
         "    help)\n"
         "      [[ $prev == --output-dir ]] && { _nettool_files -d; return; }\n"
         "      if [[ $cur == -* ]]; then _nettool_words \"--man --output-dir $global_flags\"\n"
         "      else _nettool_words \"$commands\"; fi\n"
         "      return ;;\n"
         "    plugins)\n"
         "      [[ $cur == -* ]] && _nettool_words \"$global_flags\"\n"
         "      return ;;\n"
         "    completion)\n"
         "      _nettool_words 'bash zsh'\n"
         "      return ;;\n";
  for (const PluginInfo* info : plugins) {
    std::vector<std::string> flags, values;
    std::ostringstream value_cases;
    std::vector<std::string> free_text;
    int host_at = -1;
    for (const auto& spec : info->schema()) {
      std::string lng = "--" + std::string(spec.name);
      std::vector<std::string> shorts = short_words(short_letters(spec));
      flags.push_back(lng);
      flags.insert(flags.end(), shorts.begin(), shorts.end());
      if (default_on(spec)) flags.push_back("--no-" + std::string(spec.name));
      if (is_host(spec) && host_at < 0) host_at = spec.positional;
      if (spec.type == OptionType::Bool) continue;
      values.push_back(lng);
      values.insert(values.end(), shorts.begin(), shorts.end());
      std::string pattern = shorts.empty() ? lng : join(shorts, "|") + "|" + lng;
      std::string action;
      if (wants_dir(spec)) action = "_nettool_files -d";
      else if (wants_file(spec)) action = "_nettool_files";
      else if (is_host(spec)) action = "_nettool_hosts";
      else if (auto choices = choice_words(spec); !choices.empty()) action = "_nettool_words " + sq(join(choices, " "));
      else if (spec.name == "exec") action = "COMPREPLY=($(compgen -c -- \"$cur\"))";
      else if (is_interface(spec))
        action = "_nettool_words \"$(ls /sys/class/net 2>/dev/null)\"";
      if (action.empty()) {
        free_text.push_back(pattern);
      } else {
        value_cases << "        " << pattern << ") " << action << "; return ;;\n";
      }
    }
    if (!free_text.empty()) value_cases << "        " << join(free_text, "|") << ") return ;;\n";
    out << "    " << info->name << ")\n"
        << "      case $prev in\n" << value_cases.str() << "      esac\n"
        << "      flags=" << sq(join(flags, " ")) << "\n"
        << "      values=" << sq(" " + join(values, " ") + " ") << "\n"
        << "      host_at=" << host_at << " ;;\n";
  }
  out << "    *)\n"
         "      _nettool_files\n"
         "      return ;;\n"
         "  esac\n\n"
         "  if [[ $cur == -* ]]; then\n"
         "    _nettool_words \"$flags $global_flags\"\n"
         "    return\n"
         "  fi\n"
         "  # Which positional argument is being typed?\n"
         "  local n=0\n"
         "  for ((i = cmd_at + 1; i < cword; i++)); do\n"
         "    w=${words[i]}\n"
         "    if [[ $values == *\" $w \"* || $global_values == *\" $w \"* ]]; then ((i++)); continue; fi\n"
         "    [[ $w == -* ]] && continue\n"
         "    ((n++))\n"
         "  done\n"
         "  ((n == host_at)) && _nettool_hosts\n"
         "  return 0\n"
         "}\n"
         "complete -F _nettool nettool\n";
  return out.str();
}

// ----------------------------------------------------------------------- zsh

namespace {
std::string zsh_spec(std::string_view name, std::string_view letters, bool takes_value, bool repeatable,
                     std::string_view help, std::string_view message, std::string_view action,
                     std::string_view also_excludes = {}) {
  std::string lng = "--" + std::string(name);
  std::vector<std::string> shorts = short_words(letters);
  std::string exclusion;
  if (!repeatable) {
    exclusion = "(";
    for (const auto& s : shorts) exclusion += s + " ";
    exclusion += lng + (also_excludes.empty() ? "" : " ") + std::string(also_excludes) + ")";
  } else {
    exclusion = "*";
  }
  std::string desc = "[" + zsh_escape(help) + "]";
  std::string arg = takes_value ? ":" + zsh_message(message) + ":" + (action.empty() ? " " : std::string(action)) : "";
  if (shorts.empty()) return sq(exclusion + lng + (takes_value ? "=" : "") + desc + arg);
  std::string names;  // {-w+,-W+,--wait=}: every spelling, the same description
  for (const auto& s : shorts) names += s + (takes_value ? "+" : "") + ",";
  return sq(exclusion) + "{" + names + lng + (takes_value ? "=" : "") + "}" + sq(desc + arg);
}
}  // namespace

std::string zsh_completion(const std::vector<const PluginInfo*>& plugins) {
  std::ostringstream out;
  out << "#compdef nettool\n"
         "# zsh completion for nettool, generated by `nettool completion zsh` from the\n"
         "# plugin option schemas; regenerate it rather than editing it.\n\n"
         "_nettool() {\n"
         "  local curcontext=$curcontext state state_descr line ret=1\n"
         "  typeset -A opt_args\n"
         "  local -a global_opts\n"
         "  global_opts=(\n";
  for (const auto& g : kGlobalFlags) {
    std::string action;
    switch (g.values) {
      case GlobalFlag::Values::File: action = "_files -g '*.(yaml|yml)'"; break;
      case GlobalFlag::Values::Dir: action = "_files -/"; break;
      case GlobalFlag::Values::Choice: action = "(" + std::string(g.choices) + ")"; break;
      case GlobalFlag::Values::None: break;
    }
    bool repeatable = g.name == "verbose";
    out << "    "
        << zsh_spec(g.name, short_letters(g.short_flag), !g.value_name.empty(), repeatable, g.help, g.value_name,
                    action)
        << "\n";
  }
  out << "  )\n\n"
         "  _arguments -C -s -S $global_opts '1: :->command' '*:: :->args' && ret=0\n"
         "  case $state in\n"
         "    command)\n"
         "      local -a commands\n"
         "      commands=(\n";
  for (const PluginInfo* info : plugins) {
    out << "        " << sq(std::string(info->name) + ":" + (info->summary ? info->summary : "")) << "\n";
  }
  for (const auto& b : kBuiltins) {
    std::string summary(b.summary);
    if (auto semi = summary.find(';'); semi != std::string::npos) summary.resize(semi);
    out << "        " << sq(std::string(b.name) + ":" + summary) << "\n";
  }
  out << "      )\n"
         "      _describe -t commands 'nettool command' commands && ret=0\n"
         "      ;;\n"
         "    args)\n"
         "      curcontext=${curcontext%:*:*}:nettool-$words[1]:\n"
         "      case $words[1] in\n"
         "        help)\n"
         "          _arguments -s -S $global_opts '--man[write manual pages (roff)]' \\\n"
         "            '--output-dir=[write nettool.1 and every nettool-COMMAND.1 into DIR]:directory:_files -/' \\\n"
         "            '1:command:(";
  {
    std::vector<std::string> names;
    for (const PluginInfo* p : plugins) names.push_back(p->name);
    for (const auto& b : kBuiltins) names.emplace_back(b.name);
    out << join(names, " ");
  }
  out << ")' && ret=0 ;;\n"
         "        plugins) _arguments -s -S $global_opts && ret=0 ;;\n"
         "        completion) _arguments -s -S $global_opts '1:shell:(bash zsh)' && ret=0 ;;\n";
  for (const PluginInfo* info : plugins) {
    out << "        " << info->name << ")\n"
        << "          _arguments -s -S $global_opts \\\n";
    for (const auto& spec : info->schema()) {
      bool takes_value = spec.type != OptionType::Bool;
      std::string action;
      if (wants_dir(spec)) action = "_files -/";
      else if (wants_file(spec)) action = "_files";
      else if (auto choices = choice_words(spec); !choices.empty()) action = "(" + join(choices, " ") + ")";
      else if (spec.name == "exec") action = "_command_names -e";
      else if (spec.name == "sh-exec") action = "_cmdstring";
      else if (is_interface(spec)) action = "_net_interfaces";
      else if (is_host(spec)) action = "_hosts";
      std::string help(spec.help);
      if (!spec.default_value.empty() && takes_value) help += " (default: " + std::string(spec.default_value) + ")";
      std::string no = default_on(spec) ? "--no-" + std::string(spec.name) : "";
      std::vector<std::string> shorts = short_words(short_letters(spec));
      out << "            "
          << zsh_spec(spec.name, short_letters(spec), takes_value, is_list(spec.type), help, value_name(spec), action,
                      no)
          << " \\\n";
      if (!no.empty()) {
        out << "            "
            << sq("(" + no + " --" + std::string(spec.name) + (shorts.empty() ? "" : " " + join(shorts, " ")) + ")" +
                  no + "[" + zsh_escape("turn off: " + std::string(spec.help)) + "]")
            << " \\\n";
      }
    }
    for (auto* p : positionals_of(info->schema())) {
      std::string action = is_host(*p) ? "_hosts" : " ";
      out << "            "
          << sq(std::to_string(p->positional + 1) + (p->required ? ":" : "::") + zsh_message(value_name(*p)) + ":" +
                action)
          << " \\\n";
    }
    out << "            && ret=0 ;;\n";
  }
  out << "        *) _files && ret=0 ;;\n"
         "      esac\n"
         "      ;;\n"
         "  esac\n"
         "  return ret\n"
         "}\n\n"
         "_nettool \"$@\"\n";
  return out.str();
}

}  // namespace nettool::docs
