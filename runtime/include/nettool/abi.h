// The version of the plugin contract (plugin.h). A header of its own so that
// nettool's launcher (cli/launcher.cpp), which links nothing of the runtime,
// can print it for --version.
#pragma once

#define NETTOOL_PLUGIN_ABI 3
