// What libnettool-profile (YAML profiles, through yaml-cpp) gives the runtime's
// Profile. Apart so that only runs given a profile (-c) map yaml-cpp.
#pragma once
#include <memory>
#include <optional>
#include <string>

#include "nettool/options.h"

namespace nettool {

// A parsed profile.
class ProfileDocument {
 public:
  virtual ~ProfileDocument() = default;
  virtual const std::optional<std::string>& command() const = 0;
  // As Profile::apply.
  virtual void apply(Schema schema, OptionValues& values) const = 0;
};

struct ProfileProvider {
  int abi;  // NETTOOL_PLUGIN_ABI of the build
  // As Profile::parse.
  std::unique_ptr<ProfileDocument> (*parse)(const std::string& text, const std::string& file_name);
};

}  // namespace nettool

// libnettool-profile's one export.
extern "C" const nettool::ProfileProvider* nettool_profile_provider();
