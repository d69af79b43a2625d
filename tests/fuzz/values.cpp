// Duration, size, port, CIDR parsers: any text is a value or a ConfigError.
#include <netinet/in.h>

#include <cstdint>
#include <string>

#include "nettool/error.h"
#include "nettool/net.h"
#include "nettool/options.h"

template <class F>
void guarded(F f) {
  try {
    f();
  } catch (const nettool::ConfigError&) {
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  guarded([&] {
    auto d = nettool::parse_duration(text);
    if (d.count() < 0) __builtin_trap();
  });
  guarded([&] { (void)nettool::parse_size(text); });
  guarded([&] { (void)nettool::parse_port_list(text); });
  guarded([&] { (void)nettool::parse_bool(text); });
  guarded([&] {
    auto c = nettool::Cidr::parse(text);
    // Round trip: the printed form parses to the same network.
    if (!(nettool::Cidr::parse(c.to_string()) == c)) __builtin_trap();
  });
  return 0;
}
