// The runtime's optional halves (libnettool-tls: OpenSSL; libnettool-profile:
// yaml-cpp) are loaded only by the runs that use them: mapping and relocating
// a library costs every process that links it start-up time.
#pragma once
#include <string>

#include "nettool/abi.h"
#include "nettool/error.h"

namespace nettool {

// The address of `entry` in libnettool-<name>.so.ABI, loaded from the
// directory this runtime was loaded from (the build tree's lib/ or the
// system's libdir), never from a search path. Throws RuntimeError naming the
// file and the reason. The library stays loaded until exit (its code runs
// until then, and loading it again only counts a reference, so nothing is cached).
void* sibling_library_entry(const std::string& name, const char* entry);

// What such a library exports: `entry` is a function returning a Provider
// (a table of functions whose first member, `abi`, is the library's
// NETTOOL_PLUGIN_ABI). Errors say "<what>: ..." (e.g. "tls: cannot load ...").
template <class Provider>
const Provider& sibling_provider(const std::string& name, const char* entry, const std::string& what) {
  const Provider* provider;
  try {
    provider = reinterpret_cast<const Provider* (*)()>(sibling_library_entry(name, entry))();
  } catch (const RuntimeError& e) {
    throw RuntimeError(what + ": " + e.what());
  }
  if (!provider || provider->abi != NETTOOL_PLUGIN_ABI)
    throw RuntimeError(what + ": libnettool-" + name + " is not of this build (ABI " +
                       std::to_string(NETTOOL_PLUGIN_ABI) + ")");
  return *provider;
}

}  // namespace nettool
