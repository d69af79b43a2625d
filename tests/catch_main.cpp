// Catch2 runner shared by the unit and end-to-end test executables.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <csignal>

int main(int argc, char** argv) {
  // Writing to a child's stdin pipe or a socket whose peer is gone must give
  // EPIPE, not kill the test runner. Children get default dispositions back
  // (see Process).
  std::signal(SIGPIPE, SIG_IGN);
  return Catch::Session().run(argc, argv);
}
