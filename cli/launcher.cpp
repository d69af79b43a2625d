// The nettool executable. It links nothing but libc so that `nettool --version`
// costs what `nc -h` does (about 0.6 ms): mapping the front end's libraries
// (libstdc++, libuv, spdlog, fmt, libnettool-runtime) and binding their
// symbols takes several ms more, nearly all of it in the dynamic loader. For
// the same reason `tcp-connect -z ADDRESS PORT` is answered here, by
// quick_port_check.cpp, when every word of the line is one it knows. Every
// other command line goes to the front end, libnettool-cli.so, loaded here.
//
// The library is found relative to this executable, as the plugins are
// (runtime/src/loader.cpp): first in the installed layout (the configured path
// from bindir to <libdir>/nettool, e.g. ../lib/x86_64-linux-gnu/nettool), then
// in the build tree's (../lib/nettool), so an unpacked package works wherever
// it lies. Not through a RUNPATH: dlopen() searches its caller's, and under
// AddressSanitizer the caller is libasan's interceptor, not this file.
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "front_end.h"
#include "quick_port_check.h"

namespace {

constexpr int kExitRuntime = 1;  // nettool::kExitRuntime: a broken installation

// Loads the front end from the first of its two places that has it; says why
// not on stderr and returns null otherwise.
void* load_front_end() {
  char exe_dir[4096];
  ssize_t n = readlink("/proc/self/exe", exe_dir, sizeof exe_dir);
  if (n <= 0 || n == static_cast<ssize_t>(sizeof exe_dir)) {
    std::fprintf(stderr, "nettool: cannot read /proc/self/exe: %s\n", n < 0 ? std::strerror(errno) : "path too long");
    return nullptr;
  }
  exe_dir[n] = '\0';
  *std::strrchr(exe_dir, '/') = '\0';  // the kernel's path is absolute: there is a '/'

  char places[2][sizeof exe_dir + 256];
  std::snprintf(places[0], sizeof places[0], "%s/%s/%s", exe_dir, NETTOOL_CLI_INSTALL_RELDIR, NETTOOL_CLI_LIBRARY);
  std::snprintf(places[1], sizeof places[1], "%s/../lib/nettool/%s", exe_dir, NETTOOL_CLI_LIBRARY);
  for (const char* path : places) {
    if (access(path, F_OK) != 0) continue;
    // Lazy binding, as for a library linked the usual way (RTLD_NOW would bind
    // every function of libstdc++ and the rest up front: a third more start-up
    // work). Never closed: it runs until the process ends, and its static
    // destructors run at exit like those of any linked library.
    void* front_end = dlopen(path, RTLD_LAZY | RTLD_LOCAL);
    if (front_end == nullptr) std::fprintf(stderr, "nettool: cannot load the front end: %s\n", dlerror());
    return front_end;
  }
  bool same = std::strcmp(places[0], places[1]) == 0;  // a prefix whose libdir is plain lib/
  std::fprintf(stderr, "nettool: cannot find the front end: no %s%s%s\n", places[0], same ? "" : " nor ",
               same ? "" : places[1]);
  return nullptr;
}

// A descriptor 0-2 that the caller closed (`nettool ... <&-`) is opened on
// /dev/null. Otherwise the first socket would take its number: output meant
// for stderr would go to the peer, and libuv, which never closes 0-2, aborts.
void open_missing_stdio() {
  for (int fd = 0; fd <= 2; ++fd)
    if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);  // the lowest free: fd
}

}  // namespace

int main(int argc, char** argv) {
  open_missing_stdio();
  // Only the exact line `nettool --version`: in any longer one a flag before
  // it may be invalid or take it as its value, which is the front end's call.
  if (argc == 2 && (std::strcmp(argv[1], "--version") == 0 || std::strcmp(argv[1], "-V") == 0)) {
    std::fputs(NETTOOL_VERSION_LINE, stdout);
    return 0;
  }
  if (int code = nettool::launcher::quick_port_check(argc, argv); code != nettool::launcher::kNotQuick) return code;
  void* front_end = load_front_end();
  if (front_end == nullptr) return kExitRuntime;
  auto entry = reinterpret_cast<decltype(&nettool_cli_main)>(dlsym(front_end, NETTOOL_CLI_ENTRY));
  if (entry == nullptr) {
    std::fprintf(stderr, "nettool: the front end has no %s: %s\n", NETTOOL_CLI_ENTRY, dlerror());
    return kExitRuntime;
  }
  return entry(argc, argv);
}
