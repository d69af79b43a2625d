// A small option table shaped like tcp-listen's, shared by the command-line,
// profile and precedence tests.
#pragma once
#include "nettool/options.h"

namespace nettool_test {

using nettool::OptionSpec;
using nettool::OptionType;

inline constexpr OptionSpec kSchema[] = {
    {"host", 0, OptionType::String, "", "address to listen on", "HOST", 0, false},
    {"port", 0, OptionType::Port, "", "port to listen on", "PORT", 1, true},
    {"keep-open", 'k', OptionType::Bool, "", "serve many clients"},
    {"numeric", 'n', OptionType::Bool, "", "no DNS"},
    {"half-close", 'N', OptionType::Bool, "true", "shut down the sending side on EOF"},
    {"timeout", 'w', OptionType::Duration, "", "connect timeout"},
    {"idle-timeout", 'i', OptionType::Duration, "30s", "close idle connections"},
    {"max-clients", 'm', OptionType::Int, "10", "at most this many clients"},
    {"chunk", 0, OptionType::Size, "64KiB", "read size"},
    {"ports", 0, OptionType::PortList, "", "port list"},
    {"root", 'r', OptionType::Path, "", "directory", "DIR"},
    {"allow", 0, OptionType::AddressList, "", "allowed peers"},
    {"deny", 0, OptionType::AddressList, "192.0.2.0/24", "denied peers"},
    {"header", 'H', OptionType::StringList, "", "extra header"},
};

inline constexpr nettool::Schema schema() { return nettool::Schema(kSchema); }

}  // namespace nettool_test
