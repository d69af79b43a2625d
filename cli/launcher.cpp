// The nettool executable. It links nothing but libc so that `nettool --version`
// costs what `nc -h` does (about 0.6 ms): mapping the front end's libraries
// (libstdc++, libuv, spdlog, fmt, yaml-cpp, libnettool-runtime) and binding
// their symbols takes about 1.5 ms more, nearly all of it in the dynamic
// loader. Every other command line goes to the front end, libnettool-cli.so,
// loaded here.
//
// The library is looked up along this executable's RUNPATH, which is relative
// to the executable ($ORIGIN/../lib/<multiarch>/nettool once installed,
// $ORIGIN/../lib/nettool in the build tree), so an unpacked package works
// wherever it lies — the same way libnettool-runtime is found.
#include <dlfcn.h>

#include <cstdio>
#include <cstring>

#include "front_end.h"

int main(int argc, char** argv) {
  // Only the exact line `nettool --version`: in any longer one a flag before
  // it may be invalid or take it as its value, which is the front end's call.
  if (argc == 2 && (std::strcmp(argv[1], "--version") == 0 || std::strcmp(argv[1], "-V") == 0)) {
    std::fputs(NETTOOL_VERSION_LINE, stdout);
    return 0;
  }
  // Lazy binding, as for a library linked the usual way (RTLD_NOW would bind
  // every function of libstdc++ and the rest up front: a third more start-up
  // work). Never closed: it runs until the process ends, and its static
  // destructors run at exit like those of any linked library.
  void* front_end = dlopen(NETTOOL_CLI_LIBRARY, RTLD_LAZY | RTLD_LOCAL);
  if (front_end == nullptr) {
    std::fprintf(stderr, "nettool: cannot load the front end: %s\n", dlerror());
    return 1;  // nettool::kExitRuntime: a broken installation
  }
  auto entry = reinterpret_cast<decltype(&nettool_cli_main)>(dlsym(front_end, NETTOOL_CLI_ENTRY));
  if (entry == nullptr) {
    std::fprintf(stderr, "nettool: %s has no %s: %s\n", NETTOOL_CLI_LIBRARY, NETTOOL_CLI_ENTRY, dlerror());
    return 1;
  }
  return entry(argc, argv);
}
