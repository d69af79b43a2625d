// The path resolver. Properties: whatever the request path, either it is
// refused, or the file opened is one of the files under the fuzz root (never
// /etc/passwd through a symlink, "..", or an encoding trick) and not a dot
// file, not even through a symlink without a dot; and a listing names only
// entries that pass the request path checks themselves.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "nettool/http.h"
#include "root.h"

namespace fs = std::filesystem;

namespace {
struct Root {
  int fd = -1;
  std::set<std::pair<dev_t, ino_t>> inside, hidden;
  Root() {
    fs::path dir = fs::temp_directory_path() / ("nettool-fuzz-root-" + std::to_string(getpid()));
    fs::create_directories(dir / "sub" / "deeper");
    fs::create_directories(dir / ".git");
    std::ofstream(dir / "a.txt") << "a";
    std::ofstream(dir / "sub" / "b.txt") << "b";
    std::ofstream(dir / ".hidden") << "h";
    std::ofstream(dir / ".git" / "config") << "c";
    std::error_code ec;
    fs::create_symlink("/etc/passwd", dir / "out", ec);
    fs::create_symlink("../..", dir / "sub" / "up", ec);
    fs::create_symlink("b.txt", dir / "sub" / "in", ec);
    fs::create_symlink(".git", dir / "gitlink", ec);
    fs::create_symlink("../.hidden", dir / "sub" / "peek", ec);
    for (auto& e : fs::recursive_directory_iterator(dir)) {
      struct stat st {};
      if (lstat(e.path().c_str(), &st) != 0 || S_ISLNK(st.st_mode)) continue;
      inside.insert({st.st_dev, st.st_ino});
      std::string relative = fs::relative(e.path(), dir).string();
      if (relative.front() == '.') hidden.insert({st.st_dev, st.st_ino});
    }
    struct stat st {};
    stat(dir.c_str(), &st);
    inside.insert({st.st_dev, st.st_ino});
    fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Root root;  // fuzzer-process fixture, built once
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto decoded = nettool::http::percent_decode_path(input);
  if (!decoded) return 0;
  auto check = nettool::http::check_path(*decoded, false);
  if (!check.ok) return 0;
  auto result = file_serve::open_beneath(root.fd, check.segments, true, false);
  if (result.error) return 0;
  if (!root.inside.count({result.st.st_dev, result.st.st_ino})) __builtin_trap();  // escaped the root
  if (root.hidden.count({result.st.st_dev, result.st.st_ino})) __builtin_trap();  // a dot file
  for (std::string name : result.listing) {
    if (name.back() == '/') name.pop_back();
    auto listed = nettool::http::percent_decode_path(nettool::http::percent_encode_path(name));
    if (!listed || !nettool::http::check_path(*listed, false).ok) __builtin_trap();  // a link the server refuses
  }
  return 0;
}
