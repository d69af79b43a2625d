// The version of the plugin contract (plugin.h). A header of its own so that
// nettool's launcher (cli/launcher.cpp), which links nothing of the runtime,
// can print it for --version.
#pragma once

// 4: TlsClientOptions gained flag_prefix (how messages name its options).
#define NETTOOL_PLUGIN_ABI 4
