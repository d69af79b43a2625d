#!/bin/sh
# The whole test suite, exactly as CI runs it (.ci/run calls this):
#   1. release build, unit + end-to-end tests (bench/setup.sh first: the
#      nginx differential test needs nginx; it skips without it, but fails when $CI is set);
#   2. the asan preset (AddressSanitizer + UBSan, leak detection on), same tests;
#   3. a bounded smoke run of every libFuzzer target (FUZZ_SECONDS each, default 5),
#      built by the asan preset (clang) with the rest; longer runs: tests/fuzz/run.sh 600;
#   4. the packages: build .deb/.rpm, inspect them, run the unpacked binary,
#      build the SDK example against them (tests/packaging/check.sh);
#   5. the benchmark suite's quick mode against nc, ncat, socat, nginx, ...:
#      never judged on time, but it fails if any transfer's bytes are wrong,
#      so the zero-copy paths stay correct (bench/run-all.sh --quick).
# Any failure, sanitizer report or fuzzer crash fails the run.
set -eu
cd "$(dirname "$0")/.."

# Each phase says how long it took: the whole run must stay under 20 minutes
# on a fresh 2-core machine.
started=$(date +%s)
phase() {
  now=$(date +%s)
  echo "test.sh: $1 done after $((now - started)) s"
}

scripts/setup.sh release
bench/setup.sh
phase "release build"
ctest --preset release -j2
phase "release tests"

scripts/setup.sh asan
phase "asan build"
ctest --preset asan -j2
phase "asan tests"

FUZZ_PRESET=asan tests/fuzz/run.sh "${FUZZ_SECONDS:-5}"
phase "fuzz smoke run"

tests/packaging/check.sh
phase "packages"

bench/run-all.sh --quick >/dev/null
phase "quick bench"
echo "test.sh: all passed"
