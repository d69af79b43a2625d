// The version of the plugin contract (plugin.h). A header of its own so that
// nettool's launcher (cli/launcher.cpp), which links nothing of the runtime,
// can print it for --version.
#pragma once

// 4: TlsClientOptions gained flag_prefix (how messages name its options).
// 5: OptionSpec gained short_alias (a second short letter): a module built
//    against ABI 4 has a shorter OptionSpec, so its option table would be misread.
// 6: OptionSpec gained service_protocol (service names as ports), and
//    OptionType::PortRange became PortList, whose value is a list of ranges.
// 7: http::Request holds views into its head (HeaderField), parsed in place
//    into a RequestParse the caller keeps.
#define NETTOOL_PLUGIN_ABI 7
