// Counting an endpoint's bytes above its socket: for a TLS endpoint, so that
// -v and tcp-forward's per-connection line count the application's data,
// never the records on the wire.
#pragma once

#include <memory>

#include "nettool/stream.h"

namespace nettool {

struct Counters;

// `inner` with its bytes counted into `counters` (`inner` itself when null):
// received = what it delivers to its reader, sent = what is written to it.
// The socket under it is made without counters. Like the tap, it is no splice
// end: a relay through it copies (TLS never splices anyway).
std::unique_ptr<Endpoint> make_counting_endpoint(std::unique_ptr<Endpoint> inner, Counters* counters);

}  // namespace nettool
