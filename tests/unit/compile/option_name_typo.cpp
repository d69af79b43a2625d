// Compiled by two ctest tests (tests/unit/CMakeLists.txt), never linked: with
// NETTOOL_TYPO a misspelt option name must stop the build; without it, the
// same file with the right name must compile (so the failure is the typo's).
#include "nettool/option_groups.h"

namespace {
consteval std::string_view opt(std::string_view name) {
  return nettool::checked_option<nettool::kBridgeOptions>(name);
}
}  // namespace

bool read_half_close(const nettool::OptionValues& values) {
#ifdef NETTOOL_TYPO
  return values.get_bool(opt("half-clsoe"));
#else
  return values.get_bool(opt("half-close"));
#endif
}
