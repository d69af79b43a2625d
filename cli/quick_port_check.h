// The launcher's own answer to `nettool tcp-connect -z ADDRESS PORT[,...]`
// (see quick_port_check.cpp). libc only, as the launcher.
#pragma once

namespace nettool::launcher {

// quick_port_check's answer for a line it leaves to the front end.
constexpr int kNotQuick = -1;

// Tests the ports and returns the exit code when the line is one it takes
// whole; kNotQuick (having done nothing) otherwise.
int quick_port_check(int argc, char** argv);

}  // namespace nettool::launcher
