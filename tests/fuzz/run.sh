#!/bin/sh
# Runs every libFuzzer target for a bounded time and fails on any crash, leak
# or timeout. CI uses a short smoke run; run it longer by hand:
#   tests/fuzz/run.sh 600          # ten minutes per target
#   TARGETS="http_request path" tests/fuzz/run.sh 60
# It builds the `fuzz` preset (-O1, everything instrumented for coverage).
# FUZZ_PRESET=asan (what CI's scripts/test.sh uses for its 5-second run) takes
# the targets the asan preset built with the rest: a smoke run, since only the
# targets themselves are coverage-instrumented there.
# New inputs go to a scratch directory; the checked-in seed corpora
# (tests/fuzz/corpus/<target>) are only read. Crash inputs are kept in
# build/<preset>/artifacts/.
set -eu
seconds="${1:-30}"
cd "$(dirname "$0")/../.."
preset="${FUZZ_PRESET:-fuzz}"
targets="${TARGETS:-http_request bare_name path profile values http_response conditional tls_server}"

if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz: clang++ is missing (scripts/setup.sh installs it)" >&2
  exit 1
fi
cmake --preset "$preset" >/dev/null
# Only what the targets need (the runtime, the plugins fuzz-profile loads),
# not the front end or the generated man pages.
# shellcheck disable=SC2046
cmake --build --preset "$preset" -j "$(nproc)" $(for t in $targets; do printf -- '--target fuzz-%s ' "$t"; done) >/dev/null

mkdir -p build/"$preset"/artifacts
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT INT TERM
status=0
for t in $targets; do
  mkdir -p "$scratch/$t"
  log="$scratch/$t.log"
  if ASAN_OPTIONS=detect_leaks=1 timeout $((seconds + 60)) build/"$preset"/fuzz/fuzz-"$t" \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix=build/"$preset"/artifacts/"$t"- "$scratch/$t" tests/fuzz/corpus/"$t" >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
    echo "fuzz $t: ok, $runs runs in ${seconds}s, $cov"
  else
    echo "fuzz $t: FAILED (see below)"
    tail -40 "$log"
    status=1
  fi
done
exit $status
