// What the launcher (launcher.cpp, the nettool executable) and the front end
// (main.cpp and docs.cpp, built as libnettool-cli.so) agree on.
#pragma once

#include "nettool/abi.h"

#define NETTOOL_STRINGIFY_(x) #x
#define NETTOOL_STRINGIFY(x) NETTOOL_STRINGIFY_(x)

// What `nettool --version` prints; NETTOOL_VERSION comes from cli/CMakeLists.txt.
#define NETTOOL_VERSION_LINE "nettool " NETTOOL_VERSION " (plugin ABI " NETTOOL_STRINGIFY(NETTOOL_PLUGIN_ABI) ")\n"

// The front end's file name and its entry point: main() for every command line
// the launcher does not answer itself. The launcher looks for it in
// <exe dir>/NETTOOL_CLI_INSTALL_RELDIR (from cli/CMakeLists.txt), then in
// <exe dir>/../lib/nettool (the build tree).
#define NETTOOL_CLI_LIBRARY "libnettool-cli.so"
#define NETTOOL_CLI_ENTRY "nettool_cli_main"
extern "C" __attribute__((visibility("default"))) int nettool_cli_main(int argc, char** argv);
