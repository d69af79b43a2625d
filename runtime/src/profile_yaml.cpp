// libnettool-profile: YAML profiles through yaml-cpp, loaded by the runtime's
// Profile (profile.cpp) only for a run given one.
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <map>
#include <sstream>

#include "nettool/abi.h"
#include "nettool/error.h"
#include "profile_document.h"

namespace nettool {

namespace {

std::string where(const std::string& file, const YAML::Mark& mark) {
  if (mark.is_null()) return file + ": ";
  return file + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1) + ": ";
}

std::string scalar_text(const YAML::Node& node) { return node.Scalar(); }

// Only notes where each document starts: enough to tell one from several.
class DocumentStarts final : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> marks;
  void OnDocumentStart(const YAML::Mark& mark) override { marks.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// Where a second document starts, if there is one. Asks the parser for two
// documents and no more: yaml-cpp 0.7 can hand out empty documents forever
// on some malformed text (a fuzzer found "!,ech\x91\xfc"), so YAML::LoadAll
// never returns there.
std::optional<YAML::Mark> second_document(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentStarts starts;
  for (int i = 0; i < 2 && parser.HandleNextDocument(starts); ++i) {
  }
  if (starts.marks.size() < 2) return std::nullopt;
  return starts.marks[1];
}

class YamlProfile final : public ProfileDocument {
 public:
  static std::unique_ptr<ProfileDocument> parse(const std::string& text, const std::string& file_name);
  const std::optional<std::string>& command() const override { return command_; }
  void apply(Schema schema, OptionValues& values) const override;

 private:
  std::string file_;
  // The folder relative paths are read from: the profile's own, or none for
  // a profile read from a pipe (`-c <(envsubst < tpl.yaml)`), whose name is
  // /dev/fd/N: its paths are the current directory's, as on the command line.
  std::filesystem::path folder_;
  std::optional<std::string> command_;
  YAML::Node root_;
};

std::unique_ptr<ProfileDocument> YamlProfile::parse(const std::string& text, const std::string& file_name) {
  auto profile = std::make_unique<YamlProfile>();
  profile->file_ = file_name;
  std::error_code ec;
  if (std::filesystem::is_regular_file(file_name, ec)) profile->folder_ = std::filesystem::path(file_name).parent_path();
  YAML::Node root;
  std::optional<YAML::Mark> second;
  try {
    root = YAML::Load(text);  // the first document only
    second = second_document(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(where(file_name, e.mark) + "malformed YAML: " + e.msg);
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);  // an empty profile is fine
  if (!root.IsMap())
    throw ConfigError(where(file_name, root.Mark()) + "a profile must be a mapping of option names to values");
  // One document: what a second one (after "---") holds would otherwise be
  // ignored without a word, its mistakes included.
  if (second) throw ConfigError(where(file_name, *second) + "a profile is one YAML document, not several");
  for (const auto& item : root) {
    if (!item.first.IsScalar()) throw ConfigError(where(file_name, item.first.Mark()) + "keys must be plain names");
    if (item.first.Scalar() == "command") {
      if (profile->command_) throw ConfigError(where(file_name, item.first.Mark()) + "duplicate key 'command'");
      if (!item.second.IsScalar() || item.second.Scalar().empty())
        throw ConfigError(where(file_name, item.second.Mark()) + "'command' must name a command, e.g. tcp-listen");
      profile->command_ = item.second.Scalar();
    }
  }
  profile->root_ = root;
  return profile;
}

void YamlProfile::apply(Schema schema, OptionValues& values) const {
  // The file is at most 1 MiB (Profile::load), but aliases repeat what they
  // name: 200 "*big" of a 1 MiB scalar would be 200 MiB of values.
  constexpr size_t kMaxValueBytes = 16 * 1024 * 1024;
  size_t value_bytes = 0;
  auto text_of = [&](const YAML::Node& node) {
    value_bytes += node.Scalar().size();
    if (value_bytes > kMaxValueBytes)
      throw ConfigError(where(file_, node.Mark()) + "the values add up to more than 16 MiB (aliases repeating a large one?)");
    return scalar_text(node);
  };
  std::vector<std::string> names{"command"};
  for (const auto& spec : schema) names.emplace_back(spec.name);
  std::map<std::string, YAML::Mark> seen;
  for (const auto& item : root_) {
    const std::string key = item.first.Scalar();
    const YAML::Mark key_mark = item.first.Mark();
    if (key == "command") continue;
    if (seen.count(key)) throw ConfigError(where(file_, key_mark) + "duplicate key '" + key + "'");
    seen.emplace(key, key_mark);
    const OptionSpec* spec = find_option(schema, key);
    if (!spec) {
      std::string msg = where(file_, key_mark) + "unknown key '" + key + "'";
      if (auto near = closest_name(key, names)) msg += " (did you mean '" + *near + "'?)";
      throw ConfigError(msg);
    }
    const YAML::Node& value = item.second;
    auto fail = [&](const YAML::Mark& mark, const std::string& why) {
      throw ConfigError(where(file_, mark) + "'" + key + "': " + why);
    };
    // Point at the key: for an empty value ("port:") yaml-cpp marks the null
    // node at the next token, which may be lines further down.
    if (value.IsNull()) fail(key_mark, "needs a value (" + std::string(type_name(spec->type)) + ")");
    try {
      if (value.IsSequence()) {
        if (!is_list(spec->type)) fail(value.Mark(), "expected a " + std::string(type_name(spec->type)) + ", not a list");
        OptionValue accumulated;
        for (const auto& element : value) {
          if (!element.IsScalar()) fail(element.Mark(), "list items must be plain values");
          try {
            append_to_list(*spec, text_of(element), accumulated);
          } catch (const ConfigError& e) {
            fail(element.Mark(), e.what());
          }
        }
        if (std::holds_alternative<std::monostate>(accumulated)) {
          // An empty list clears the default.
          if (spec->type == OptionType::AddressList) accumulated = std::vector<Cidr>{};
          else accumulated = std::vector<std::string>{};
        }
        values.set(spec->name, std::move(accumulated), ValueSource::Profile);
      } else if (value.IsScalar()) {
        std::string text = text_of(value);
        // A relative path in a profile means relative to the profile's folder,
        // so `nettool -c /etc/nettool/serve.yaml` works from any directory.
        if (spec->type == OptionType::Path && !text.empty() && text.front() != '/' && !folder_.empty())
          text = (folder_ / text).lexically_normal().string();
        values.set(spec->name, parse_value(*spec, text, nullptr), ValueSource::Profile);
        if (std::string problem = constraint_problem(*spec, values); !problem.empty()) fail(value.Mark(), problem);
      } else {
        fail(value.Mark(), "expected a " + std::string(type_name(spec->type)) + ", not a mapping");
      }
    } catch (const ConfigError& e) {
      std::string msg = e.what();
      if (msg.rfind(file_ + ":", 0) == 0) throw;
      fail(value.Mark(), msg);
    }
  }
}

}  // namespace

}  // namespace nettool

extern "C" __attribute__((visibility("default"))) const nettool::ProfileProvider* nettool_profile_provider() {
  static const nettool::ProfileProvider provider{NETTOOL_PLUGIN_ABI, &nettool::YamlProfile::parse};
  return &provider;
}
