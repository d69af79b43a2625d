#include "sibling_library.h"

#include <dlfcn.h>

#include <filesystem>

#include "nettool/abi.h"
#include "nettool/error.h"

namespace nettool {

void* sibling_library_entry(const std::string& name, const char* entry) {
  Dl_info self{};
  if (dladdr(reinterpret_cast<void*>(&sibling_library_entry), &self) == 0 || !self.dli_fname)
    throw RuntimeError("cannot tell where libnettool-runtime was loaded from, to load libnettool-" + name);
  auto path = (std::filesystem::path(self.dli_fname).parent_path() /
               ("libnettool-" + name + ".so." + std::to_string(NETTOOL_PLUGIN_ABI)))
                  .lexically_normal();
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* why = dlerror();  // names the file
    throw RuntimeError("cannot load " + (why ? std::string(why) : path.string() + ": unknown error"));
  }
  void* address = dlsym(lib, entry);
  if (!address) throw RuntimeError(path.string() + " has no " + entry + ": not libnettool-" + name + " of this build");
  return address;
}

}  // namespace nettool
