// Profile (nettool/host.h): reading the file here; parsing and applying it in
// libnettool-profile (profile_yaml.cpp), loaded the first time a run has one.
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "nettool/error.h"
#include "nettool/host.h"
#include "profile_document.h"
#include "sibling_library.h"

namespace nettool {

Profile::Profile(std::unique_ptr<ProfileDocument> document) : document_(std::move(document)) {}
Profile::~Profile() = default;
Profile::Profile(Profile&&) noexcept = default;
Profile& Profile::operator=(Profile&&) noexcept = default;

Profile Profile::load(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError(file + ": cannot read profile: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str(), file);
}

Profile Profile::parse(const std::string& text, const std::string& file_name) {
  return Profile(
      sibling_provider<ProfileProvider>("profile", "nettool_profile_provider", "profiles").parse(text, file_name));
}

const std::optional<std::string>& Profile::command() const { return document_->command(); }

void Profile::apply(Schema schema, OptionValues& values) const { document_->apply(schema, values); }

}  // namespace nettool
