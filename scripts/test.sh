#!/bin/sh
# The whole test suite, exactly as CI runs it (.ci/run calls this):
#   1. release build, unit + end-to-end tests (bench/setup.sh first: the
#      nginx differential test needs nginx; it skips without it, but fails when $CI is set);
#   2. the asan preset (AddressSanitizer + UBSan, leak detection on), same tests;
#   3. a bounded smoke run of every libFuzzer target (FUZZ_SECONDS each, default 5; longer runs: tests/fuzz/run.sh 600);
#   4. the packages: build .deb/.rpm, inspect them, run the unpacked binary,
#      build the SDK example against them (tests/packaging/check.sh);
#   5. the benchmark suite's quick mode against nc, ncat, socat, nginx, ...:
#      never judged on time, but it fails if any transfer's bytes are wrong,
#      so the zero-copy paths stay correct (bench/run-all.sh --quick).
# Any failure, sanitizer report or fuzzer crash fails the run.
set -eu
cd "$(dirname "$0")/.."

scripts/setup.sh release
bench/setup.sh
ctest --preset release -j2

scripts/setup.sh asan
ctest --preset asan -j2

tests/fuzz/run.sh "${FUZZ_SECONDS:-5}"

tests/packaging/check.sh

bench/run-all.sh --quick >/dev/null
echo "test.sh: all passed"
