// The runtime's optional halves (libnettool-tls: OpenSSL; libnettool-profile:
// yaml-cpp) are loaded only by the runs that use them: mapping and relocating
// a library costs every process that links it start-up time.
#pragma once
#include <string>

namespace nettool {

// The address of `entry` in libnettool-<name>.so.ABI, loaded from the
// directory this runtime was loaded from (the build tree's lib/ or the
// system's libdir), never from a search path. Throws RuntimeError naming the
// file and the reason. The library stays loaded until exit (its code runs
// until then, and loading it again only counts a reference, so nothing is cached).
void* sibling_library_entry(const std::string& name, const char* entry);

}  // namespace nettool
