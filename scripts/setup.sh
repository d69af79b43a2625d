#!/bin/sh
# Installs what is missing on Debian 12 and builds one CMake preset.
#   scripts/setup.sh [release|debug|asan]     (default: release)
# Works as root with no prompt; uses sudo only when not root.
set -eu
preset="${1:-release}"
cd "$(dirname "$0")/.."

# Build dependencies (ccache: the packages' build reuses the release
# objects); the real peers the tests talk to; clang and its
# runtime for the libFuzzer targets.
packages="build-essential ccache cmake pkg-config libuv1-dev libyaml-cpp-dev libspdlog-dev catch2 libssl-dev
          netcat-openbsd ncat socat curl wget python3 iproute2 procps openssl bind9-dnsutils microsocks
          clang libclang-rt-14-dev"

missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup: installing$missing" >&2
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  # shellcheck disable=SC2086
  $sudo apt-get install -y -q --no-install-recommends $missing
fi

cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)"
