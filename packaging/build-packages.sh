#!/bin/sh
# Builds the distribution packages from a clean, separate build tree:
#
#   packaging/build-packages.sh [BUILD_DIR]       (default: build/packages)
#
# -> BUILD_DIR/nettool_<version>_<arch>.deb, nettool-dev_<version>_<arch>.deb,
#    BUILD_DIR/nettool-<version>.<arch>.rpm, nettool-devel-<version>.<arch>.rpm
#
# It configures with CMAKE_INSTALL_PREFIX=/usr (so GNUInstallDirs gives
# /usr/bin, /usr/lib/<multiarch>, /etc), Release, no tests, no build-tree
# plugin path (Debian's hardening flags come from CMakeLists.txt, as in every
# optimised build: with ccache installed, the release tree's objects are
# reused, not compiled again); builds
# (which also generates the man pages and completions); and runs
# cpack -G "DEB;RPM". The .rpm needs rpmbuild (apt-get install rpm); without
# it only the .deb files are made, with a warning.
# Environment: JOBS (parallel build jobs, default: nproc), SOURCE_DATE_EPOCH
# (default: the last commit's date, for reproducible man page dates).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build/packages}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git -C "$here" log -1 --format=%ct 2>/dev/null || date +%s)
  export SOURCE_DATE_EPOCH
fi

generators="DEB;RPM"
if ! command -v rpmbuild >/dev/null 2>&1; then
  echo "build-packages: rpmbuild not found (apt-get install rpm): building the .deb only" >&2
  generators="DEB"
fi

cmake -S "$here" -B "$build" \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX=/usr \
  -DNETTOOL_BUILD_TESTS=OFF \
  -DNETTOOL_SEARCH_BUILD_TREE=OFF \
  -DNETTOOL_DOCS=ON
cmake --build "$build" -j "$jobs"
(cd "$build" && cpack -G "$generators")

echo "build-packages: done:"
for f in "$build"/*.deb "$build"/*.rpm; do
  [ -e "$f" ] && echo "  $f"
done
