#!/bin/sh
# bench/setup.sh - installs what the benchmarks in bench/ need beyond the
# build itself (scripts/setup.sh installs the compiler, libuv, nc, curl, ...).
#
#   bench/setup.sh                 # then: bench/run-all.sh (which runs this itself)
#   PROFILING=1 bench/setup.sh     # also strace and perf, for investigating
#
# Debian 12. Works as root without a prompt; uses sudo only when not root.
# Installs only what is missing (nothing at all when everything is there),
# with --no-install-recommends, and never leaves a system service running:
# while apt-get runs, /usr/sbin/policy-rc.d answers 101 ("action forbidden"),
# so the postinst scripts of nginx and lighttpd do not start daemons on port
# 80. A policy-rc.d that already existed (as in Docker images) is left as it
# is. The benchmarks start their own servers with temporary configs.
set -eu

packages="nginx-light lighttpd wrk curl python3 netcat-openbsd ncat socat iperf3 hyperfine time procps coreutils"
if [ "${PROFILING:-0}" = 1 ]; then
  packages="$packages strace linux-perf"
fi

missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# nginx-light is one flavour; any installed nginx binary will do.
case " $missing " in
  *" nginx-light "*)
    if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
      missing=$(echo "$missing" | sed 's/ nginx-light//')
    fi ;;
esac

if [ -z "$missing" ]; then
  echo "bench/setup: everything is installed" >&2
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

policy=/usr/sbin/policy-rc.d
own_policy=0
cleanup() {
  if [ "$own_policy" = 1 ]; then $sudo rm -f "$policy"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# written by bench/setup.sh while apt-get runs; removed after\nexit 101\n' |
    $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
  own_policy=1
fi

echo "bench/setup: installing$missing" >&2
$sudo apt-get update -q
# shellcheck disable=SC2086
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing

# Belt and braces: if a daemon got started anyway (no policy-rc.d honoured,
# systemd), stop it; the benchmarks never use the system instances.
for svc in nginx lighttpd; do
  if [ -x "/etc/init.d/$svc" ] && [ -f "/run/$svc.pid" ]; then
    $sudo service "$svc" stop >/dev/null 2>&1 || true
  fi
done
echo "bench/setup: done" >&2
