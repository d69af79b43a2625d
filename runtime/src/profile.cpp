// Profile (nettool/host.h): reading the file here; parsing and applying it in
// libnettool-profile (profile_yaml.cpp), loaded the first time a run has one.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "nettool/error.h"
#include "nettool/fd.h"
#include "nettool/host.h"
#include "profile_document.h"
#include "sibling_library.h"

namespace nettool {

Profile::Profile(std::unique_ptr<ProfileDocument> document) : document_(std::move(document)) {}
Profile::~Profile() = default;
Profile::Profile(Profile&&) noexcept = default;
Profile& Profile::operator=(Profile&&) noexcept = default;

Profile Profile::load(const std::string& file) {
  // A pipe is fine (`-c <(envsubst < tpl.yaml)`); a directory is not, and
  // nothing is read past the limit (`-c /dev/zero` would never end).
  constexpr size_t kMaxProfileBytes = 1024 * 1024;
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) throw ConfigError(file + ": cannot read profile: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) == 0 && S_ISDIR(st.st_mode)) throw ConfigError(file + ": is a directory, not a profile");
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw ConfigError(file + ": cannot read profile: " + std::strerror(errno));
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxProfileBytes) throw ConfigError(file + ": larger than 1 MiB; not a profile");
  }
  return parse(text, file);
}

Profile Profile::parse(const std::string& text, const std::string& file_name) {
  return Profile(
      sibling_provider<ProfileProvider>("profile", "nettool_profile_provider", "profiles").parse(text, file_name));
}

const std::optional<std::string>& Profile::command() const { return document_->command(); }

void Profile::apply(Schema schema, OptionValues& values) const { document_->apply(schema, values); }

}  // namespace nettool
