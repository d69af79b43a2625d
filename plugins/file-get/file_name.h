// The default output name, made safe to print and to type: what the URL's
// last segment decodes to may hold a newline, ESC or BEL, which would break
// a terminal or a script that lists the directory.
#pragma once
#include <string>
#include <string_view>

namespace nettool::file_get {

// Control characters (below 0x20, and DEL) become "%XX", as wget writes them
// (--restrict-file-names=unix); every other byte is kept.
std::string safe_file_name(std::string_view decoded);

}  // namespace nettool::file_get
