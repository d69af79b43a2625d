// The YAML profile loader against every plugin's real schema: any text gives
// either values or a ConfigError naming the file, never a crash.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <algorithm>
#include <vector>

#include "nettool/error.h"
#include "nettool/host.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::vector<std::unique_ptr<nettool::PluginModule>> plugins = [] {
    std::vector<std::unique_ptr<nettool::PluginModule>> out;
    std::string_view names = NETTOOL_FUZZ_PLUGINS;  // "tcp-connect,tcp-listen,...": every plugin built
    while (!names.empty()) {
      std::string_view name = names.substr(0, names.find(','));
      out.push_back(nettool::PluginModule::load(std::string(NETTOOL_PLUGIN_DIR) + "/nettool-" + std::string(name) + ".so"));
      names.remove_prefix(std::min(names.size(), name.size() + 1));
    }
    return out;
  }();
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    auto profile = nettool::Profile::parse(text, "fuzz.yaml");
    for (auto& p : plugins) {
      nettool::OptionValues values;
      nettool::apply_defaults(p->info().schema(), values);
      try {
        profile.apply(p->info().schema(), values);
      } catch (const nettool::ConfigError& e) {
        if (std::string(e.what()).rfind("fuzz.yaml:", 0) != 0) __builtin_trap();
      }
    }
  } catch (const nettool::ConfigError& e) {
    if (std::string(e.what()).rfind("fuzz.yaml:", 0) != 0) __builtin_trap();
  }
  return 0;
}
