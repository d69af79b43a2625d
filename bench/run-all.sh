#!/bin/sh
# bench/run-all.sh - nettool against nc, ncat, socat, nginx, lighttpd, python's
# http.server, iperf3 and `head | cat`, every workload in one interleaved run;
# writes bench/RESULTS.md. See bench/suite.py for what is measured and how.
#
#   bench/run-all.sh                  # the full suite (about 15 minutes)
#   bench/run-all.sh --quick          # every path once, small sizes, < 2 minutes:
#                                     # exits 1 if any transfer's bytes are wrong
#   bench/run-all.sh --only relay,udp --runs 5
#   bench/run-all.sh --help
#
# Installs the peers from Debian packages if missing (bench/setup.sh) and builds
# nettool's release preset if there is no build yet. Debian 12, as root or with sudo.
set -eu
cd "$(dirname "$0")/.."
bench/setup.sh
if [ -z "${NETTOOL:-}" ] && [ ! -x build/release/bin/nettool ]; then
  scripts/setup.sh release
fi
exec python3 bench/suite.py "$@"
