#!/bin/sh
# The whole test suite, exactly as CI runs it (.ci/run calls this):
#   1. release build, unit + end-to-end tests;
#   2. the asan preset (AddressSanitizer + UBSan, leak detection on), same tests;
#   3. a bounded smoke run of every libFuzzer target (FUZZ_SECONDS each, default 15);
#   4. the packages: build .deb/.rpm, inspect them, run the unpacked binary,
#      build the SDK example against them (tests/packaging/check.sh).
# Any failure, sanitizer report or fuzzer crash fails the run.
set -eu
cd "$(dirname "$0")/.."

scripts/setup.sh release
ctest --preset release -j2

scripts/setup.sh asan
ctest --preset asan -j2

tests/fuzz/run.sh "${FUZZ_SECONDS:-15}"

tests/packaging/check.sh
echo "test.sh: all passed"
