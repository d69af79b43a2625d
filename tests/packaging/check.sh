#!/bin/bash
# Builds the .deb and .rpm packages (packaging/build-packages.sh) and checks
# them the way a user and a distribution would:
#
#   tests/packaging/check.sh [BUILD_DIR]          (default: build/packages)
#
#  1. metadata and file lists (dpkg-deb -I/-c, rpm -qip/-qlp), conffile and
#     %config(noreplace), dependencies;
#  2. the .deb unpacked into a temporary root (dpkg-deb -x): the relocated
#     binary (a launcher needing libc only) finds its front end
#     libnettool-cli.so, libnettool-runtime (RUNPATH) and its plugins without
#     any environment variable; a file-serve/file-get round trip on 127.0.0.1
#     (curl when the file-get plugin is not there), also with the packaged
#     default profile /etc/nettool/serve.yaml;
#  3. tests/sdk built out of tree against the unpacked nettool-dev, loaded
#     with --plugin-dir and run; a program linking nettool::digest;
#  4. every option of every plugin is in its man page and in the bash (and
#     zsh) completion; the pages render without groff warnings; bash
#     completion answers;
#  5. systemd-analyze verify and security of the unit (when systemd-analyze
#     exists);
#  6. lintian on the .deb files: no errors (warnings are listed).
#
# Installs rpm (rpmbuild) and lintian with apt-get when they are missing. Ends
# with "N passed, N failed"; exits 1 when anything failed. Registered as the
# ctest test packaging:check when configured with -DNETTOOL_PACKAGE_TESTS=ON.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$here/build/packages}
# The shared libraries' SONAME version is the plugin ABI version.
abi=$(sed -n 's/^#define NETTOOL_PLUGIN_ABI \([0-9][0-9]*\)$/\1/p' "$here/runtime/include/nettool/abi.h")
tmp=$(mktemp -d /tmp/nettool-pkgcheck.XXXXXX)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok    $*"; }
bad() { failed=$((failed + 1)); echo "FAIL  $*"; }
# check DESCRIPTION COMMAND...: runs it, output shown only on failure.
check() {
  local what=$1
  shift
  if "$@" >"$tmp/last.log" 2>&1; then ok "$what"; else bad "$what"; sed 's/^/      /' "$tmp/last.log" | tail -20; fi
}
# has FILE PATTERN: grep -q with a readable failure.
has() { grep -q -e "$2" "$1" || { echo "'$2' not in $1:"; head -50 "$1"; return 1; }; }

# ------------------------------------------------------------------ tools
missing=""
command -v rpmbuild >/dev/null 2>&1 || missing="$missing rpm"
command -v lintian >/dev/null 2>&1 || missing="$missing lintian"
command -v rpmlint >/dev/null 2>&1 || missing="$missing rpmlint"
if [ -n "$missing" ]; then
  echo "check: installing$missing"
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q --no-install-recommends $missing >/dev/null ||
    echo "check: could not install$missing"
fi

# ------------------------------------------------------------ 0. the build
echo "== building the packages in $build"
if ! "$here/packaging/build-packages.sh" "$build" >"$tmp/build.log" 2>&1; then
  tail -40 "$tmp/build.log"
  bad "packaging/build-packages.sh"
  echo "0 passed, 1 failed"
  exit 1
fi
ok "packaging/build-packages.sh"

version=$(sed -n 's/^project(nettool VERSION \([0-9.]*\).*/\1/p' "$here/CMakeLists.txt")
deb_arch=$(dpkg --print-architecture)
rpm_arch=$(uname -m)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
libdir=usr/lib/$multiarch
deb=$build/nettool_${version}_${deb_arch}.deb
devdeb=$build/nettool-dev_${version}_${deb_arch}.deb
rpm=$build/nettool-${version}.${rpm_arch}.rpm
devrpm=$build/nettool-devel-${version}.noarch.rpm
plugins=$(cd "$here/plugins" && for d in */; do [ -f "$d/CMakeLists.txt" ] && echo "${d%/}"; done)

echo "== package files"
for f in "$deb" "$devdeb" "$rpm" "$devrpm"; do
  check "exists: $(basename "$f") ($(stat -c %s "$f" 2>/dev/null || echo 0) bytes)" test -s "$f"
done

# ------------------------------------------------------------ 1. metadata
echo "== .deb metadata and contents"
dpkg-deb -I "$deb" >"$tmp/deb.info" 2>&1
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$tmp/deb.files"
dpkg-deb -I "$devdeb" >"$tmp/devdeb.info" 2>&1
dpkg-deb -c "$devdeb" | awk '{print $6}' | sed 's|^\./|/|' >"$tmp/devdeb.files"
check "deb: Package nettool, Version $version" has "$tmp/deb.info" "Version: $version"
check "deb: Architecture $deb_arch" has "$tmp/deb.info" "Architecture: $deb_arch"
check "deb: Maintainer" has "$tmp/deb.info" "Maintainer: nettool developers <nettool@example.invalid>"
check "deb: Homepage" has "$tmp/deb.info" "Homepage: https://"
check "deb: Section net" has "$tmp/deb.info" "Section: net"
for dep in libuv1 libyaml-cpp libspdlog libfmt libssl libstdc++6 libc6; do
  check "deb: Depends on $dep (dpkg-shlibdeps)" has "$tmp/deb.info" "Depends:.*$dep"
done
check "deb: no dependency on the private runtime lib" bash -c "! grep -q 'Depends:.*nettool-runtime' '$tmp/deb.info'"
dpkg-deb --ctrl-tarfile "$deb" | tar -x -C "$tmp" --one-top-level=debctrl 2>/dev/null ||
  { mkdir -p "$tmp/debctrl" && dpkg-deb -e "$deb" "$tmp/debctrl"; }
[ -f "$tmp/debctrl/conffiles" ] || dpkg-deb -e "$deb" "$tmp/debctrl"
check "deb: /etc/nettool/serve.yaml is a conffile" has "$tmp/debctrl/conffiles" "^/etc/nettool/serve.yaml$"
check "deb: ldconfig trigger" has "$tmp/debctrl/triggers" "activate-noawait ldconfig"
check "deb: shlibs for libnettool-runtime" has "$tmp/debctrl/shlibs" "libnettool-runtime $abi nettool"
check "deb: shlibs for libnettool-digest" has "$tmp/debctrl/shlibs" "libnettool-digest $abi nettool"
expected_files="/usr/bin/nettool
/$libdir/libnettool-runtime.so.$abi
/$libdir/libnettool-digest.so.$abi
/$libdir/libnettool-tls.so.$abi
/$libdir/libnettool-profile.so.$abi
/$libdir/nettool/libnettool-cli.so
/etc/nettool/serve.yaml
/usr/lib/systemd/system/nettool-file-serve@.service
/usr/share/man/man1/nettool.1.gz
/usr/share/bash-completion/completions/nettool
/usr/share/zsh/vendor-completions/_nettool
/usr/share/doc/nettool/copyright
/usr/share/doc/nettool/changelog.gz
/usr/share/doc/nettool/examples/serve.yaml"
for p in $plugins; do
  expected_files="$expected_files
/$libdir/nettool/plugins/nettool-$p.so
/usr/share/man/man1/nettool-$p.1.gz"
done
for f in $expected_files; do check "deb contains $f" grep -qx -- "$f" "$tmp/deb.files"; done
check "deb: no headers, no .so link, no build-tree paths" \
  bash -c "! grep -E '^/usr/include|libnettool-(runtime|digest)\.so$|/work/|/build/' '$tmp/deb.files'"

check "dev deb: Package nettool-dev, depends on nettool (= $version)" has "$tmp/devdeb.info" "Depends: nettool (= $version)"
for f in /usr/include/nettool/plugin.h /usr/include/nettool/options.h "/$libdir/libnettool-runtime.so" \
  /usr/include/nettool/digest.h "/$libdir/libnettool-digest.so" \
  "/$libdir/cmake/nettool/nettoolConfig.cmake" "/$libdir/cmake/nettool/nettoolConfigVersion.cmake" \
  "/$libdir/cmake/nettool/nettoolTargets.cmake" /usr/share/doc/nettool-dev/copyright; do
  check "dev deb contains $f" grep -qx -- "$f" "$tmp/devdeb.files"
done

echo "== .rpm metadata and contents"
rpm -qip "$rpm" >"$tmp/rpm.info" 2>&1
rpm -qlp "$rpm" >"$tmp/rpm.files" 2>&1
rpm -qp --requires "$rpm" >"$tmp/rpm.requires" 2>&1
rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$rpm" >"$tmp/rpm.flags" 2>&1
check "rpm: Name nettool, Version $version" bash -c "grep -q '^Name *: nettool$' '$tmp/rpm.info' && grep -q '^Version *: $version$' '$tmp/rpm.info'"
check "rpm: License MIT" has "$tmp/rpm.info" "^License *: MIT"
check "rpm: URL" has "$tmp/rpm.info" "^URL *: https://"
check "rpm: Summary" has "$tmp/rpm.info" "^Summary *: netcat-style"
for dep in "libuv >= 1.44" yaml-cpp spdlog fmt; do
  check "rpm: Requires $dep" grep -qx -- "$dep" "$tmp/rpm.requires"
done
check "rpm: Requires libcrypto (automatic soname dependency)" grep -q '^libcrypto.so' "$tmp/rpm.requires"
check "rpm: /etc/nettool/serve.yaml is %config(noreplace)" grep -qx "cn /etc/nettool/serve.yaml" "$tmp/rpm.flags"
# The same files as the .deb (rpm adds /usr/lib/.build-id links, lists directories).
grep -v '/$' "$tmp/deb.files" | sort >"$tmp/deb.regular"
grep -v '^/usr/lib/.build-id' "$tmp/rpm.files" | sort >"$tmp/rpm.sorted"
check "rpm: every file of the .deb" bash -c "comm -23 '$tmp/deb.regular' '$tmp/rpm.sorted' | tee /dev/stderr | (! grep -q .)"
rpm -qlp "$devrpm" >"$tmp/devrpm.files" 2>&1
rpm -qp --requires "$devrpm" >"$tmp/devrpm.requires" 2>&1
check "devel rpm: headers and CMake package" bash -c "grep -qx /usr/include/nettool/plugin.h '$tmp/devrpm.files' && grep -qx '/$libdir/cmake/nettool/nettoolConfig.cmake' '$tmp/devrpm.files'"
check "devel rpm: Requires nettool = $version" grep -qx "nettool = $version" "$tmp/devrpm.requires"

# ------------------------------------------- 2. relocated smoke test (.deb)
echo "== unpacked into a temporary root"
root=$tmp/root
mkdir -p "$root"
dpkg-deb -x "$deb" "$root"
dpkg-deb -x "$devdeb" "$root"
nettool=$root/usr/bin/nettool
# No NETTOOL_PLUGIN_PATH, no LD_LIBRARY_PATH: only what the package carries.
clean() { env -i "PATH=/usr/bin:/bin" "HOME=$tmp" "LANG=C.UTF-8" "$@"; }
version_ok() { clean "$nettool" --version | grep -q "^nettool $version "; }
check "relocated: nettool --version" version_ok
# The executable is a launcher that needs libc only (fast --version); it loads
# the front end, libnettool-cli.so, which links libnettool-runtime.
needs_libc_only() { readelf -d "$nettool" | tee /dev/stderr | grep NEEDED | grep -v '\[libc\.so\.6\]' | (! grep -q .); }
check "relocated: nettool needs libc only" needs_libc_only
cli_ok() {
  clean env LD_DEBUG=libs "$nettool" plugins 2>&1 >/dev/null | tee /dev/stderr |
    grep -q "calling init: $root/usr/bin/../lib/$multiarch/nettool/libnettool-cli.so$"
}
check "relocated: the front end from the unpacked tree" cli_ok
runtime_ok() {
  clean ldd "$root/$libdir/nettool/libnettool-cli.so" | tee /dev/stderr |
    grep -q "libnettool-runtime.so.$abi => $root/$libdir/nettool/../libnettool-runtime.so.$abi"
}
check "relocated: libnettool-runtime from the unpacked tree (RUNPATH)" runtime_ok
clean "$nettool" plugins >"$tmp/plugins.txt" 2>&1
# One directory: named once at the end; each plugin on a line with its version (not BROKEN).
check "relocated: plugins found in $root/$libdir/nettool/plugins" \
  grep -qxF "(all in $root/$libdir/nettool/plugins)" "$tmp/plugins.txt"
for p in $plugins; do
  check "relocated: plugin $p listed with its version" grep -qE "^$p +[0-9][^ ]* " "$tmp/plugins.txt"
done
check "relocated: no broken plugin" bash -c "! grep -q BROKEN '$tmp/plugins.txt'"

# Round trip: file-serve from the package, file-get (or curl) from the package.
srv=$tmp/srv
mkdir -p "$srv/docs"
head -c 3000000 /dev/urandom >"$srv/big.bin"
echo "hello from the package" >"$srv/docs/a.txt"
# start_server LOG ARGS...: runs the packaged file-serve, sets $server_pid and $port.
start_server() {
  local log=$1
  shift
  # env execs nettool, so $! is the server itself (a function would add a subshell).
  env -i "PATH=/usr/bin:/bin" "HOME=$tmp" "LANG=C.UTF-8" "$nettool" "$@" 2>"$log" &
  server_pid=$!
  port=""
  for _ in $(seq 1 100); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$log" | head -1)
    [ -n "$port" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$log"
  return 1
}
# stop_server LOG: SIGTERM, then the exit status (0 after a graceful stop).
stop_server() {
  kill -TERM "$server_pid" 2>/dev/null
  wait "$server_pid"
  local rc=$?
  server_pid=""
  [ "$rc" -eq 0 ] || { echo "exit status $rc"; tail -5 "$1"; }
  return $rc
}
sum() { sha256sum "$1" | cut -d' ' -f1; }
if start_server "$tmp/serve.log" file-serve --root "$srv" --listen 127.0.0.1:0; then
  ok "relocated: file-serve listening on 127.0.0.1:$port"
  if grep -q "^file-get " "$tmp/plugins.txt"; then
    getter="file-get"
    (cd "$tmp" && clean "$nettool" -q file-get -o got-http.bin "http://127.0.0.1:$port/big.bin") >"$tmp/get.log" 2>&1
    check "relocated: file-get over HTTP, 3 MB, same SHA-256" test "$(sum "$srv/big.bin")" = "$(sum "$tmp/got-http.bin" 2>/dev/null)"
    (cd "$tmp" && clean "$nettool" -q file-get --raw -o got-raw.txt 127.0.0.1 "$port" docs/a.txt) >>"$tmp/get.log" 2>&1
    check "relocated: file-get --raw (bare-name protocol)" cmp "$srv/docs/a.txt" "$tmp/got-raw.txt"
  else
    getter="curl (no file-get plugin in the package)"
    curl -sf -o "$tmp/got-http.bin" "http://127.0.0.1:$port/big.bin" >"$tmp/get.log" 2>&1
    check "relocated: curl GET, 3 MB, same SHA-256" test "$(sum "$srv/big.bin")" = "$(sum "$tmp/got-http.bin" 2>/dev/null)"
  fi
  check "relocated: file-serve logged the requests" grep -q "big.bin" "$tmp/serve.log"
  check "relocated: file-serve exits 0 on SIGTERM" stop_server "$tmp/serve.log"
else
  bad "relocated: file-serve did not start"
  getter="none"
fi
# The packaged default profile is valid (root and listen overridden on the command line).
if start_server "$tmp/profile.log" -c "$root/etc/nettool/serve.yaml" --root "$srv" --listen 127.0.0.1:0; then
  ok "default profile /etc/nettool/serve.yaml loads and serves"
  check "default profile: GET /docs/a.txt" bash -c "curl -sf 'http://127.0.0.1:$port/docs/a.txt' | grep -q 'hello from the package'"
  stop_server "$tmp/profile.log" >/dev/null 2>&1
else
  bad "default profile /etc/nettool/serve.yaml"
fi

# ---------------------------------------------------------------- 3. SDK
echo "== SDK: tests/sdk against the unpacked nettool-dev"
sdk=$tmp/sdk-build
check "sdk: cmake configure (find_package(nettool) from $root/usr)" \
  cmake -S "$here/tests/sdk" -B "$sdk" -DCMAKE_PREFIX_PATH="$root/usr" -DCMAKE_BUILD_TYPE=Release
check "sdk: build nettool-hello.so" cmake --build "$sdk"
check "sdk: it uses the unpacked headers" grep -rq "$root/usr/include" "$sdk/CMakeFiles/plugin-hello.dir/flags.make"
check "sdk: nettool --plugin-dir lists hello" \
  bash -c "'$nettool' --plugin-dir '$sdk' plugins | grep -q '^hello .*nettool-hello.so'"
check "sdk: nettool hello --name packaging" \
  bash -c "test \"\$('$nettool' --plugin-dir '$sdk' hello --name packaging)\" = 'hello, packaging'"
check "sdk: help hello shows its option" bash -c "'$nettool' --plugin-dir '$sdk' help hello | grep -q -- '-n, --name NAME'"
check "sdk: a typo exits 2" bash -c "'$nettool' --plugin-dir '$sdk' hello --nam x 2>/dev/null; test \$? -eq 2"
# SHA-256 from nettool::runtime alone (the runtime loads libnettool-digest
# beside itself for the first hash), and through nettool::digest, which
# plugins that hash used to link and which must still work.
for target in runtime digest; do
  mkdir -p "$tmp/sdk-sha-$target"
  cat >"$tmp/sdk-sha-$target/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.22)
project(sha CXX)
set(CMAKE_CXX_STANDARD 20)
find_package(nettool 0.1 REQUIRED)
add_executable(sha sha.cpp)
target_link_libraries(sha PRIVATE nettool::$target)
EOF
  cat >"$tmp/sdk-sha-$target/sha.cpp" <<'EOF'
#include <nettool/digest.h>
#include <cstdio>
int main() {
  nettool::Sha256 sha;
  sha.update("abc");
  auto sum = sha.finish();
  std::puts(nettool::to_hex(sum.data(), sum.size()).c_str());
}
EOF
  check "sdk: nettool::$target links and hashes" bash -c "cmake -S '$tmp/sdk-sha-$target' -B '$tmp/sdk-sha-$target/build' -DCMAKE_PREFIX_PATH='$root/usr' >/dev/null &&
    cmake --build '$tmp/sdk-sha-$target/build' >/dev/null &&
    test \"\$('$tmp/sdk-sha-$target/build/sha')\" = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
done

# --------------------------------------------- 4. man pages, completions
echo "== man pages and completions"
man1=$root/usr/share/man/man1
bash_comp=$root/usr/share/bash-completion/completions/nettool
zsh_comp=$root/usr/share/zsh/vendor-completions/_nettool
options_total=0
for p in $plugins; do
  page=$man1/nettool-$p.1.gz
  # The option names, from the schema as `help` prints it.
  "$nettool" help "$p" | sed -n '/^Options/,/^Global options/p' | grep -oE '^ +(-[a-zA-Z0-9], )?--[a-z0-9][a-z0-9-]*' |
    grep -oE -- '--[a-z0-9-]+' >"$tmp/opts-$p"
  n=$(wc -l <"$tmp/opts-$p")
  options_total=$((options_total + n))
  zcat "$page" >"$tmp/page-$p" 2>/dev/null
  missing_man="" missing_bash="" missing_zsh=""
  while read -r opt; do
    roff=${opt//-/\\-}
    grep -qF -- "\\fB$roff\\fR" "$tmp/page-$p" || missing_man="$missing_man $opt"
    grep -q -- "$opt" "$bash_comp" || missing_bash="$missing_bash $opt"
    grep -q -- "$opt" "$zsh_comp" || missing_zsh="$missing_zsh $opt"
  done <"$tmp/opts-$p"
  check "man nettool-$p: all $n options" test -z "$missing_man"
  [ -n "$missing_man" ] && echo "      missing:$missing_man"
  check "bash completion $p: all $n options" test -z "$missing_bash"
  [ -n "$missing_bash" ] && echo "      missing:$missing_bash"
  check "zsh completion $p: all $n options" test -z "$missing_zsh"
  [ -n "$missing_zsh" ] && echo "      missing:$missing_zsh"
  check "man nettool-$p: sections" bash -c "for s in NAME SYNOPSIS DESCRIPTION OPTIONS 'GLOBAL OPTIONS' 'EXIT STATUS' ENVIRONMENT FILES; do grep -q \"^.SH \\\"*\$s\" '$tmp/page-$p' || { echo \"no \$s\"; exit 1; }; done"
  check "man nettool-$p: renders without groff warnings" \
    bash -c "out=\$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 '$page' 2>&1 >/dev/null); test -z \"\$out\" || { echo \"\$out\"; exit 1; }"
  lists() { zcat "$man1/nettool.1.gz" | grep -qF -- "\\fB${1//-/\\-}\\fR"; }
  check "nettool.1 lists $p (COMMANDS, SEE ALSO)" lists "nettool-$p"
done
echo "      ($options_total options in $(echo "$plugins" | wc -w) plugins)"
check "man nettool.1: renders, has the plugin path" \
  bash -c "LC_ALL=C.UTF-8 MANWIDTH=80 man -l '$man1/nettool.1.gz' 2>&1 | grep -q '/$libdir/nettool/plugins'"

# bash: source the completion (with bash-completion when installed, and without) and ask it.
cat >"$tmp/complete.bash" <<'EOF'
file=$1; shift
if [ -z "${NO_BASH_COMPLETION:-}" ] && [ -f /usr/share/bash-completion/bash_completion ]; then
  . /usr/share/bash-completion/bash_completion
fi
. "$file"
COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
_nettool nettool "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
EOF
complete_words() { (cd "$srv" && bash "$tmp/complete.bash" "$bash_comp" "$@"); }
for mode in "" 1; do
  label=$([ -n "$mode" ] && echo "without bash-completion" || echo "with bash-completion")
  [ -z "$mode" ] && [ ! -f /usr/share/bash-completion/bash_completion ] && continue
  export NO_BASH_COMPLETION=$mode
  check "bash ($label): commands" bash -c "out=\$(cd '$srv' && bash '$tmp/complete.bash' '$bash_comp' nettool ''); for p in $(echo $plugins) help plugins completion; do grep -qx \"\$p\" <<<\"\$out\" || exit 1; done"
  check "bash ($label): file-serve --ro -> --root" bash -c "test \"\$(cd '$srv' && bash '$tmp/complete.bash' '$bash_comp' nettool file-serve --ro)\" = --root"
  check "bash ($label): --root completes directories" bash -c "test \"\$(cd '$srv' && bash '$tmp/complete.bash' '$bash_comp' nettool file-serve --root do)\" = docs"
  check "bash ($label): -c completes files" bash -c "cd '$srv' && cp '$root/etc/nettool/serve.yaml' p.yaml && bash '$tmp/complete.bash' '$bash_comp' nettool -c p. | grep -qx p.yaml; rc=\$?; rm -f p.yaml; exit \$rc"
  check "bash ($label): --digest choices" bash -c "test \"\$(cd '$srv' && bash '$tmp/complete.bash' '$bash_comp' nettool file-serve --digest '' | sort | tr '\n' ' ')\" = 'off sha-256 '"
  check "bash ($label): tcp-connect HOST completes hosts" bash -c "cd '$srv' && bash '$tmp/complete.bash' '$bash_comp' nettool tcp-connect localh | grep -qx localhost"
  check "bash ($label): short flags" bash -c "cd '$srv' && bash '$tmp/complete.bash' '$bash_comp' nettool tcp-listen - | grep -qx -- -k"
  unset NO_BASH_COMPLETION
done
if command -v zsh >/dev/null 2>&1; then
  check "zsh: _nettool parses (zsh -n)" zsh -n "$zsh_comp"
else
  echo "skip  zsh not installed: only the option names were checked in _nettool"
fi

# ---------------------------------------------------------------- 5. systemd
echo "== systemd unit"
unit=$root/usr/lib/systemd/system/nettool-file-serve@.service
check "unit: ExecStart runs file-serve -c /etc/nettool/%i.yaml" has "$unit" "^ExecStart=/usr/bin/nettool file-serve -c /etc/nettool/%i.yaml$"
for key in DynamicUser=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes NoNewPrivileges=yes \
  "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" "CapabilityBoundingSet=$" SystemCallFilter=@system-service \
  "ReadOnlyPaths=-/srv/nettool"; do
  check "unit: $key" grep -q "^$key" "$unit"
done
if command -v systemd-analyze >/dev/null 2>&1; then
  # verify checks that ExecStart exists: point it at the unpacked binary.
  mkdir -p "$tmp/units"
  sed "s|^ExecStart=/usr/bin/nettool|ExecStart=$nettool|" "$unit" >"$tmp/units/nettool-file-serve@serve.service"
  check "systemd-analyze verify" systemd-analyze verify --man=no "$tmp/units/nettool-file-serve@serve.service"
  exposure=$(systemd-analyze security --offline=true "$tmp/units/nettool-file-serve@serve.service" 2>/dev/null |
    sed -n 's/.*Overall exposure level for [^:]*: *//p')
  echo "      systemd-analyze security: exposure ${exposure:-?}"
else
  echo "skip  systemd-analyze not installed"
fi

# ---------------------------------------------------------------- 6. lintian
echo "== lintian"
if command -v lintian >/dev/null 2>&1; then
  lintian -I --pedantic "$deb" "$devdeb" >"$tmp/lintian.raw" 2>&1
  lintian_rc=$?
  grep -v "running with root privileges" "$tmp/lintian.raw" >"$tmp/lintian.txt"
  # 0: clean, 1: tags at the fail-on level (errors); anything else: lintian itself failed.
  check "lintian ran (exit status $lintian_rc)" test "$lintian_rc" -le 1
  errors=$(grep -c '^E:' "$tmp/lintian.txt")
  warnings=$(grep -c '^W:' "$tmp/lintian.txt")
  check "lintian: no errors ($errors errors, $warnings warnings)" test "$errors" -eq 0
  grep -E '^[EW]:' "$tmp/lintian.txt" | sed 's/^/      /'
  others=$(grep -cE '^[IPX]:' "$tmp/lintian.txt")
  echo "      + $others info/pedantic/experimental tags:"
  grep -E '^[IPX]:' "$tmp/lintian.txt" | sed 's/ \[.*//' | sort | uniq -c | sed 's/^/      /'
else
  bad "lintian not available"
fi

# ---------------------------------------------------------------- 7. rpmlint
echo "== rpmlint"
if command -v rpmlint >/dev/null 2>&1; then
  timeout 300 rpmlint "$rpm" "$devrpm" >"$tmp/rpmlint.txt" 2>&1
  # Local builds are unsigned; every other error counts.
  errors=$(grep ': E: ' "$tmp/rpmlint.txt" | grep -vc ': E: no-signature')
  warnings=$(grep -c ': W: ' "$tmp/rpmlint.txt")
  check "rpmlint: no errors besides no-signature ($errors errors, $warnings warnings)" test "$errors" -eq 0
  grep -E ': [EW]: ' "$tmp/rpmlint.txt" | sort | uniq -c | sed 's/^/      /'
else
  echo "      rpmlint not installable here: skipped"
fi

echo
echo "packages: $(basename "$deb") $(stat -c %s "$deb") B, $(basename "$devdeb") $(stat -c %s "$devdeb") B," \
  "$(basename "$rpm") $(stat -c %s "$rpm") B, $(basename "$devrpm") $(stat -c %s "$devrpm") B; round trip with $getter"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
