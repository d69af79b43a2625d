#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <map>
#include <set>
#include <string_view>
#include <utility>

#include "nettool/error.h"
#include "nettool/host.h"

namespace fs = std::filesystem;

namespace nettool {

std::unique_ptr<PluginModule> PluginModule::load(const fs::path& file) {
  auto module = std::make_unique<PluginModule>(Key{});
  module->file_ = file;
  if (uv_dlopen(file.c_str(), &module->lib_) != 0) {
    std::string why = uv_dlerror(&module->lib_);
    uv_dlclose(&module->lib_);  // frees the error message
    throw RuntimeError("plugin " + file.string() + ": cannot load: " + why);
  }
  module->open_ = true;
  void* symbol = nullptr;
  if (uv_dlsym(&module->lib_, NETTOOL_PLUGIN_ENTRY, &symbol) != 0 || symbol == nullptr)
    throw RuntimeError("plugin " + file.string() + ": not a nettool plugin (no " NETTOOL_PLUGIN_ENTRY " symbol)");
  auto entry = reinterpret_cast<nettool_plugin_entry_fn>(symbol);
  const PluginInfo* info = entry();
  if (info == nullptr) throw RuntimeError("plugin " + file.string() + ": entry returned no descriptor");
  if (info->abi_version != NETTOOL_PLUGIN_ABI)
    throw RuntimeError("plugin " + file.string() + ": ABI version " + std::to_string(info->abi_version) +
                       ", this nettool needs " + std::to_string(NETTOOL_PLUGIN_ABI) + " (rebuild the plugin)");
  if (!info->name || !info->create || (info->option_count && !info->options))
    throw RuntimeError("plugin " + file.string() + ": incomplete descriptor");
  // Global flags belong to the front end; a plugin must not take their
  // letters, nor give one letter to two options (the parser would take the
  // first, silently).
  static constexpr std::string_view kReservedShort = "cvqhV";
  std::array<std::string_view, 256> owner{};
  for (const auto& spec : info->schema()) {
    for (char letter : {spec.short_flag, spec.short_alias}) {
      if (!letter) continue;
      const std::string flag = "plugin " + file.string() + ": option --" + std::string(spec.name) + " uses -" + letter;
      if (kReservedShort.find(letter) != std::string_view::npos) throw RuntimeError(flag + ", which is a global flag");
      std::string_view& taken = owner[static_cast<unsigned char>(letter)];
      if (!taken.empty() && taken != spec.name) throw RuntimeError(flag + ", which --" + std::string(taken) + " has");
      taken = spec.name;
    }
  }
  module->info_ = info;
  return module;
}

PluginModule::~PluginModule() {
  if (open_) uv_dlclose(&lib_);
}

std::vector<fs::path> plugin_search_path(const std::optional<std::string>& plugin_dir) {
  std::vector<fs::path> path;
  if (plugin_dir) path.emplace_back(*plugin_dir);
  if (const char* env = std::getenv("NETTOOL_PLUGIN_PATH")) {
    std::string list = env;
    size_t start = 0;
    while (start <= list.size()) {
      size_t colon = list.find(':', start);
      std::string item = list.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
      if (!item.empty()) path.emplace_back(item);
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
  }
  // Relative to the executable, so an installed or unpacked package works
  // wherever it lies: first the installed layout (the path from the configured
  // bindir to the plugin dir, e.g. ../lib/x86_64-linux-gnu/nettool/plugins),
  // then ../lib/nettool/plugins, which the build tree mirrors.
  char exe[4096];
  size_t size = sizeof exe;
  if (uv_exepath(exe, &size) == 0) {
    // The kernel's path of the executable has no symbolic links, so ".." can
    // be taken away lexically.
    fs::path exe_dir = fs::path(std::string(exe, size)).parent_path();
#ifdef NETTOOL_INSTALL_PLUGIN_RELDIR
    path.push_back((exe_dir / NETTOOL_INSTALL_PLUGIN_RELDIR).lexically_normal());
#endif
    path.push_back((exe_dir / ".." / "lib" / "nettool" / "plugins").lexically_normal());
  }
#ifdef NETTOOL_BUILD_PLUGIN_DIR
  path.emplace_back(NETTOOL_BUILD_PLUGIN_DIR);
#endif
  // The same directory reached twice (build tree == exe dir) is searched once.
  // Told apart by device and inode: one stat(2) each, where canonicalising
  // took a readlink(2) per path component at every start.
  std::vector<fs::path> unique;
  std::set<std::pair<dev_t, ino_t>> seen_dirs;
  std::set<fs::path> seen_names;  // for those that cannot be stat'ed
  for (auto& p : path) {
    struct stat st{};
    bool is_new = ::stat(p.c_str(), &st) == 0 ? seen_dirs.emplace(st.st_dev, st.st_ino).second
                                               : seen_names.insert(p).second;
    if (is_new) unique.push_back(p);
  }
  return unique;
}

namespace {
std::vector<fs::path> modules_in(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind("nettool-", 0) == 0 && entry.path().extension() == ".so") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}
std::string command_of(const fs::path& file) {
  std::string stem = file.stem().string();
  return stem.substr(std::string("nettool-").size());
}
}  // namespace

std::vector<PluginListing> list_plugins(const std::vector<fs::path>& path) {
  std::vector<PluginListing> out;
  std::set<std::string> seen;
  for (const auto& dir : path) {
    for (const auto& file : modules_in(dir)) {
      PluginListing item;
      item.name = command_of(file);
      item.file = file;
      try {
        auto module = PluginModule::load(file);
        item.name = module->info().name;
        item.version = module->info().version ? module->info().version : "";
        item.summary = module->info().summary ? module->info().summary : "";
        if (item.name != command_of(file)) item.problem = "file name does not match plugin name '" + item.name + "'";
      } catch (const std::exception& e) {
        item.problem = e.what();
        std::string prefix = "plugin " + file.string() + ": ";
        if (item.problem.rfind(prefix, 0) == 0) item.problem = item.problem.substr(prefix.size());
      }
      if (item.problem.empty() && !seen.insert(item.name).second) item.problem = "shadowed by an earlier one";
      out.push_back(std::move(item));
    }
  }
  return out;
}

std::unique_ptr<PluginModule> find_plugin(const std::vector<fs::path>& path, const std::string& command) {
  bool valid_name = !command.empty() && std::all_of(command.begin(), command.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
  if (valid_name) {
    for (const auto& dir : path) {
      fs::path file = dir / ("nettool-" + command + ".so");
      std::error_code ec;
      if (fs::exists(file, ec)) {
        auto module = PluginModule::load(file);
        if (module->info().name != command)
          throw RuntimeError("plugin " + file.string() + ": declares name '" + module->info().name + "'");
        return module;
      }
    }
  }
  std::vector<std::string> known;
  for (const auto& dir : path)
    for (const auto& file : modules_in(dir)) known.push_back(command_of(file));
  std::string msg = "unknown command '" + command + "'";
  if (auto near = closest_name(command, known)) msg += " (did you mean '" + *near + "'?)";
  msg += "; 'nettool plugins' lists the installed ones";
  throw ConfigError(msg);
}

}  // namespace nettool
