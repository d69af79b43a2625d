#!/usr/bin/env bash
# bench/files.sh - file-serving benchmark: nettool file-serve (+ file-get)
# against OpenBSD nc, python3 -m http.server, nginx and lighttpd.
#
# What it measures, all on 127.0.0.1 with ephemeral ports, in one run:
#   (a) Download throughput: one SIZE file (default 1 GiB, random bytes)
#       fetched to disk (a temp dir on a real disk, not tmpfs; the copy is
#       deleted after every run).  Pairs:
#         nc     nc -N -l 127.0.0.1 P < file   +  nc -d 127.0.0.1 P > out   (raw pipe)
#         nettool  nettool file-serve          +  nettool file-get URL -o out
#         python   python3 -m http.server      +  curl -o out
#         nginx    nginx (1 worker, sendfile)  +  curl -o out
#         lighttpd lighttpd -D                 +  curl -o out
#       and, with REFS=1 (default), reference rows that split nettool's time:
#         file-serve + curl, file-serve + file-get -o - > out (no fsync),
#         nginx + curl + fsync of the output (file-get always fsyncs).
#       MiB/s = SIZE / wall time of the client alone (the server is already
#       up and has answered one HEAD; nc's listener is started untimed before
#       each run); best (and median) of R runs, runs interleaved round-robin
#       across tools.  The SHA-256 of the first run's output of every tool is
#       checked against the source (outside the timed part).
#   (b) Requests per second for a 4 KiB file: wrk -t2 -c100 -dDURATION
#       against file-serve, nginx (worker_processes 1), lighttpd and python's
#       server (PY_DURATION, it is slow).  Also: non-2xx/3xx responses,
#       socket errors, p99 latency, and the server's CPU time per request
#       (utime+stime of the server processes from /proc, over the run).
#       With REFS=1 also file-serve -q and nginx with access_log off, so the
#       cost of the per-request access-log line shows.
#   (c) Memory with CONNS (1000) idle connections: a python client opens
#       them all, holds them HOLD s sending nothing, then sends one
#       keep-alive GET of the 4 KiB file on each, reads the answers and holds
#       them idle HOLD s more.  VmRSS/VmHWM of a fresh file-serve process
#       (and of nginx's worker, and lighttpd) from /proc/PID/status after
#       each phase, plus the number of sockets the server holds open.
# At the end one table shows the numbers next to the targets:
#   (a) nettool within 10% of nc's raw pipe speed and ahead of every HTTP peer
#   (b) nettool at least 0.8x nginx (one worker)
#   (c) file-serve peak RSS (VmHWM) under 16 MiB with 1,000 idle connections
# Benchmarks are never pass/fail: the exit code is 0 whenever the run
# itself worked (1 when a tool failed to run or a download was corrupt).
#
# How to run (from the checkout, after scripts/setup.sh release):
#   bench/setup.sh && bench/files.sh
#   SIZE=256M R=5 DURATION=5s bench/files.sh
# Environment:
#   SIZE         file size for (a), bytes or K/M/G suffix (binary)   [1G]
#   R            runs per tool in (a), the best is reported            [3]
#   DURATION     wrk duration for (b) (seconds, "10" or "10s")        [10s]
#   PY_DURATION  wrk duration for python's server in (b)               [5s]
#   B_RUNS       wrk runs per server in (b), interleaved; the best is shown [1]
#   CONNS        idle connections in (c)                             [1000]
#   HOLD         seconds each phase of (c) holds its connections        [2]
#   PARTS        which parts to run: any of a b c                   [a b c]
#   REFS         1 = also the reference rows (see above), 0 = skip      [1]
#   NETTOOL      nettool binary               [<repo>/build/release/bin/nettool]
#   SERVE_ARGS   extra file-serve options for (a)-(c), e.g. "-q"         []
#   SNAPSHOT     1 = copy nettool's bin/ and lib/ into the temp dir first,
#                so a rebuild during the run cannot change what is measured [1]
#   WORKDIR_BASE where the temp dir goes (must not be tmpfs)       [/var/tmp]
#   PYTHON       python interpreter for http.server and helpers     [python3]
#   KEEP         1 = keep the temp dir (configs, logs) at the end       [0]
# Every process runs under coreutils `timeout`, is stopped by its PID and
# reaped; the temp dir is removed on exit (also on Ctrl-C).
# Noise: the machine has 2 cores and the client competes with the server;
# the load average is printed before and after - rerun when it is high.

set -u
LC_ALL=C
export LC_ALL

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

SIZE=${SIZE:-1G}
R=${R:-3}
DURATION=${DURATION:-10s}
PY_DURATION=${PY_DURATION:-5s}
B_RUNS=${B_RUNS:-1}
CONNS=${CONNS:-1000}
HOLD=${HOLD:-2}
PARTS=${PARTS:-"a b c"}
REFS=${REFS:-1}
NETTOOL=${NETTOOL:-$repo/build/release/bin/nettool}
SERVE_ARGS=${SERVE_ARGS:-}
SNAPSHOT=${SNAPSHOT:-1}
WORKDIR_BASE=${WORKDIR_BASE:-/var/tmp}
PYTHON=${PYTHON:-python3}
KEEP=${KEEP:-0}
SERVER_TIMEOUT=${SERVER_TIMEOUT:-1800}   # hard cap on any server's lifetime (s)
READY_TIMEOUT=${READY_TIMEOUT:-10}       # seconds for a server to start listening

die() { echo "files.sh: $*" >&2; exit 2; }
note() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---- arguments ----------------------------------------------------------------
to_bytes() {
  local v=${1%[bB]} m=1
  v=${v%i}
  case $v in
    *[kK]) m=1024; v=${v%?} ;;
    *[mM]) m=1048576; v=${v%?} ;;
    *[gG]) m=1073741824; v=${v%?} ;;
  esac
  case $v in '' | *[!0-9]*) return 1 ;; esac
  echo $((v * m))
}
to_seconds() {
  local v=${1%s}
  case $v in '' | *[!0-9]*) return 1 ;; esac
  echo "$v"
}
N=$(to_bytes "$SIZE") || die "bad SIZE '$SIZE' (e.g. 1G, 256M)"
DUR=$(to_seconds "$DURATION") || die "bad DURATION '$DURATION' (whole seconds, e.g. 10s)"
PY_DUR=$(to_seconds "$PY_DURATION") || die "bad PY_DURATION '$PY_DURATION'"
case $R in '' | *[!0-9]* | 0) die "bad R '$R'" ;; esac
case $B_RUNS in '' | *[!0-9]* | 0) die "bad B_RUNS '$B_RUNS'" ;; esac
case $CONNS in '' | *[!0-9]* | 0) die "bad CONNS '$CONNS'" ;; esac
case $HOLD in '' | *[!0-9]* | 0) die "bad HOLD '$HOLD'" ;; esac
DL_TIMEOUT=$((N / (20 * 1048576)))       # a download slower than 20 MiB/s is given up
[ "$DL_TIMEOUT" -lt 60 ] && DL_TIMEOUT=60
want() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }

for t in timeout curl nc ss sha256sum "$PYTHON"; do
  command -v "$t" >/dev/null 2>&1 || die "$t not found (run bench/setup.sh)"
done
want b && { command -v wrk >/dev/null 2>&1 || die "wrk not found (run bench/setup.sh)"; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
LIGHTTPD=$(command -v lighttpd || echo /usr/sbin/lighttpd)
[ -x "$NGINX" ] || die "nginx not found (run bench/setup.sh)"
[ -x "$LIGHTTPD" ] || die "lighttpd not found (run bench/setup.sh)"
[ -x "$NETTOOL" ] || die "$NETTOOL not found (build it: scripts/setup.sh release)"
GNU_TIME=""
[ -x /usr/bin/time ] && GNU_TIME=/usr/bin/time
CLK_TCK=$(getconf CLK_TCK)

# ---- scratch directory, processes, cleanup ---------------------------------------
mkdir -p "$WORKDIR_BASE" || die "cannot create $WORKDIR_BASE"
W=$(mktemp -d "$WORKDIR_BASE/nettool-files.XXXXXX") || die "mktemp failed"
chmod 755 "$W"   # nginx's worker runs as nobody when started as root
if [ "$(stat -f -c %T "$W")" = tmpfs ]; then
  rm -rf "$W"
  die "$WORKDIR_BASE is tmpfs; set WORKDIR_BASE to a directory on a disk"
fi
mkdir -p "$W/www" "$W/out" "$W/logs"
chmod 755 "$W/www"
declare -a PIDS=()

# start_bg NAME CMD...: runs CMD in the background under `timeout` with a raised
# descriptor limit; stdout/stderr to $W/logs/NAME.{out,err}. Sets BG_PID (the
# `timeout` process; the server is its child).
start_bg() {
  local name=$1
  shift
  (
    ulimit -n 8192 2>/dev/null || ulimit -n 4096 2>/dev/null
    exec timeout -k 5 "$SERVER_TIMEOUT" "$@"
  ) >"$W/logs/$name.out" 2>"$W/logs/$name.err" </dev/null &
  BG_PID=$!
  PIDS+=("$BG_PID")
}

# stop_bg PID: TERM (timeout forwards it to the server), then KILL after 10 s; reaps.
stop_bg() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    pkill -KILL -P "$pid" 2>/dev/null
    kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" != "$pid" ] && keep+=("$p"); done
  PIDS=("${keep[@]}")
  return 0
}

cleanup() {
  local p
  for p in "${PIDS[@]}"; do stop_bg "$p"; done
  if [ "$KEEP" = 1 ]; then
    rm -f "$W/www/big.bin" "$W"/out/*
    echo "files.sh: kept $W" >&2
  else
    rm -rf "$W"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

free_port() {
  "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_listen PORT PID: until something listens on 127.0.0.1:PORT (checked with
# ss, so nc's one-shot listener is not consumed), bounded by READY_TIMEOUT.
wait_listen() {
  local port=$1 pid=$2 i
  for ((i = 0; i < READY_TIMEOUT * 20; i++)); do
    kill -0 "$pid" 2>/dev/null || return 1
    [ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ] && return 0
    sleep 0.05
  done
  return 1
}

child_of() { pgrep -P "$1" | head -n1; }

# cpu_ticks PID...: utime+stime (all threads) of the given processes, in ticks.
cpu_ticks() {
  local sum=0 p f
  for p in "$@"; do
    # fields 14 and 15; counted after "(comm) " so a comm with spaces is harmless
    f=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}')
    [ -n "$f" ] && sum=$((sum + f))
  done
  echo "$sum"
}

status_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null; }

mib() { awk -v k="$1" 'BEGIN { if (k !~ /^[0-9]+$/) print "-"; else printf "%.1f", k / 1024 }'; }

# ---- nettool (snapshot), files ---------------------------------------------------
NT_DIR=$(cd "$(dirname "$NETTOOL")/.." && pwd)
if [ "$SNAPSHOT" = 1 ] && [ -d "$NT_DIR/lib" ]; then
  mkdir -p "$W/nettool"
  cp -a "$NT_DIR/bin" "$NT_DIR/lib" "$W/nettool/" || die "cannot copy $NT_DIR"
  NT=("$W/nettool/bin/$(basename "$NETTOOL")" --plugin-dir "$W/nettool/lib/nettool/plugins")
else
  NT=("$NETTOOL")
fi
"${NT[@]}" help file-serve >/dev/null 2>&1 || die "nettool has no file-serve plugin"
HAVE_GET=0
"${NT[@]}" help file-get >/dev/null 2>&1 && HAVE_GET=1
read -r -a SERVE_EXTRA <<<"$SERVE_ARGS"

note "temp dir $W ($(stat -f -c %T "$W"), $(df -h --output=avail "$W" | tail -n1 | tr -d ' ') free)"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
note "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); load average before: $LOAD_BEFORE"
note "nettool: $("${NT[@]}" --version 2>&1 | head -n1); file-get: $([ $HAVE_GET = 1 ] && echo yes || echo 'NOT BUILT (curl used instead)')"

head -c 4096 /dev/urandom >"$W/www/4k.bin"
if want a; then
  note "(a) writing a $SIZE file of random bytes"
  timeout 600 head -c "$N" /dev/urandom >"$W/www/big.bin" || die "cannot write $W/www/big.bin"
  REF_SHA=$(sha256sum "$W/www/big.bin" | cut -c1-64)   # also leaves it in the page cache
fi
chmod 644 "$W/www"/*

# ---- servers -----------------------------------------------------------------
# Each start_* sets <NAME>_PORT, <NAME>_BG (timeout's PID) and <NAME>_PIDS
# (the server processes whose CPU and memory are read).
start_fileserve() {  # start_fileserve VAR-PREFIX LOGNAME [extra options]
  local var=$1 name=$2
  shift 2
  local port
  port=$(free_port)
  start_bg "$name" "${NT[@]}" file-serve "${SERVE_EXTRA[@]}" "$@" --root "$W/www" --listen "127.0.0.1:$port"
  wait_listen "$port" "$BG_PID" || { cat "$W/logs/$name.err" >&2; die "file-serve did not start"; }
  printf -v "${var}_PORT" %s "$port"
  printf -v "${var}_BG" %s "$BG_PID"
  printf -v "${var}_PIDS" %s "$(child_of "$BG_PID")"
}

start_nginx() {  # start_nginx VAR-PREFIX NAME [ACCESS_LOG_VALUE]
  local var=$1 name=$2 port conf dir
  local access=${3:-}
  port=$(free_port)
  dir="$W/$name"
  mkdir -p "$dir/tmp"
  conf="$dir/nginx.conf"
  cat >"$conf" <<EOF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
worker_rlimit_nofile 8192;
events { worker_connections 4096; }
http {
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    default_type application/octet-stream;
    access_log ${access:-$dir/access.log};
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    server {
        listen 127.0.0.1:$port;
        root $W/www;
    }
}
EOF
  start_bg "$name" "$NGINX" -p "$dir/" -e "$dir/error.log" -c "$conf" -g 'daemon off;'
  wait_listen "$port" "$BG_PID" || { cat "$W/logs/$name.err" "$dir/error.log" >&2; die "nginx did not start"; }
  local master worker i
  master=$(child_of "$BG_PID")
  for ((i = 0; i < 100; i++)); do
    worker=$(pgrep -P "$master" | head -n1)
    [ -n "$worker" ] && break
    sleep 0.05
  done
  printf -v "${var}_PORT" %s "$port"
  printf -v "${var}_BG" %s "$BG_PID"
  printf -v "${var}_PIDS" %s "$master $worker"
  printf -v "${var}_WORKER" %s "$worker"
}

start_lighttpd() {
  local var=$1 name=$2 port conf
  port=$(free_port)
  conf="$W/$name.conf"
  cat >"$conf" <<EOF
server.document-root = "$W/www"
server.bind = "127.0.0.1"
server.port = $port
server.errorlog = "$W/logs/$name.error.log"
server.max-fds = 8192
server.max-connections = 4096
mimetype.assign = ( "" => "application/octet-stream" )
EOF
  start_bg "$name" "$LIGHTTPD" -D -f "$conf"
  wait_listen "$port" "$BG_PID" || { cat "$W/logs/$name.err" >&2; die "lighttpd did not start"; }
  printf -v "${var}_PORT" %s "$port"
  printf -v "${var}_BG" %s "$BG_PID"
  printf -v "${var}_PIDS" %s "$(child_of "$BG_PID")"
}

start_python() {
  local var=$1 name=$2 port
  port=$(free_port)
  start_bg "$name" "$PYTHON" -m http.server --bind 127.0.0.1 --directory "$W/www" "$port"
  wait_listen "$port" "$BG_PID" || { cat "$W/logs/$name.err" >&2; die "python http.server did not start"; }
  printf -v "${var}_PORT" %s "$port"
  printf -v "${var}_BG" %s "$BG_PID"
  printf -v "${var}_PIDS" %s "$(child_of "$BG_PID")"
}

FAILED=0
declare -A RES=()   # results for the final table

# ---- (a) one big download -------------------------------------------------------
# dl_run TOOL OUT: one timed download; sets DL_SECS (wall) and DL_CPU (client
# user+sys); returns the client's exit status.
dl_run() {
  local tool=$1 out=$2 t0 t1 rc tf="$W/logs/time.txt" port bg
  local -a cmd
  local redirect=1 fsync=0
  case $tool in
    nc)
      port=$(free_port)
      (exec timeout -k 5 "$DL_TIMEOUT" nc -N -l 127.0.0.1 "$port" <"$W/www/big.bin" >/dev/null 2>"$W/logs/nc-listen.err") &
      bg=$!
      PIDS+=("$bg")
      wait_listen "$port" "$bg" || { stop_bg "$bg"; return 1; }
      cmd=(nc -d 127.0.0.1 "$port") ;;
    nettool)
      if [ "$HAVE_GET" = 1 ]; then
        cmd=("${NT[@]}" file-get -q --progress never "http://127.0.0.1:$FS_PORT/big.bin" -o "$out")
        redirect=0
      else
        cmd=(curl -sS --fail -o "$out" "http://127.0.0.1:$FS_PORT/big.bin")
        redirect=0
      fi ;;
    fs-curl) cmd=(curl -sS --fail -o "$out" "http://127.0.0.1:$FS_PORT/big.bin"); redirect=0 ;;
    fs-stdout) cmd=("${NT[@]}" file-get -q --progress never "http://127.0.0.1:$FS_PORT/big.bin" -o -) ;;
    python) cmd=(curl -sS --fail -o "$out" "http://127.0.0.1:$PY_PORT/big.bin"); redirect=0 ;;
    nginx) cmd=(curl -sS --fail -o "$out" "http://127.0.0.1:$NG_PORT/big.bin"); redirect=0 ;;
    nginx-fsync) cmd=(curl -sS --fail -o "$out" "http://127.0.0.1:$NG_PORT/big.bin"); redirect=0; fsync=1 ;;
    lighttpd) cmd=(curl -sS --fail -o "$out" "http://127.0.0.1:$LT_PORT/big.bin"); redirect=0 ;;
    *) return 1 ;;
  esac
  local -a meter=()
  [ -n "$GNU_TIME" ] && meter=("$GNU_TIME" -f '%U %S' -o "$tf")
  rm -f "$tf"
  t0=$(date +%s%N)
  if [ "$redirect" = 1 ]; then
    "${meter[@]}" timeout -k 5 "$DL_TIMEOUT" "${cmd[@]}" >"$out" 2>"$W/logs/client.err"
  else
    "${meter[@]}" timeout -k 5 "$DL_TIMEOUT" "${cmd[@]}" >/dev/null 2>"$W/logs/client.err"
  fi
  rc=$?
  [ "$rc" = 0 ] && [ "$fsync" = 1 ] && { timeout 120 sync "$out" || rc=$?; }
  t1=$(date +%s%N)
  [ -n "${bg:-}" ] && stop_bg "$bg"
  DL_CPU=-
  [ -s "$tf" ] && DL_CPU=$(awk 'NR == 1 {printf "%.2f", $1 + $2}' "$tf")
  DL_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')
  return "$rc"
}

if want a; then
  start_fileserve FS fs-a
  start_nginx NG nginx-a
  start_lighttpd LT lighttpd-a
  start_python PY python-a
  # Warm-up: one HEAD each. file-serve hashes the file (Repr-Digest) on its
  # first request; that one-off is timed here and not in the downloads.
  for s in FS NG LT PY; do
    p=${s}_PORT
    t0=$(date +%s%N)
    timeout 120 curl -sS -o /dev/null -I "http://127.0.0.1:${!p}/big.bin" || note "warm-up HEAD to $s failed"
    t1=$(date +%s%N)
    [ $s = FS ] && FIRST_HEAD=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
  done
  note "(a) file-serve's first HEAD (SHA-256 of the file, then cached): ${FIRST_HEAD} s"
  A_TOOLS="nc nettool python nginx lighttpd"
  [ "$REFS" = 1 ] && A_TOOLS="$A_TOOLS fs-curl nginx-fsync"
  [ "$REFS" = 1 ] && [ "$HAVE_GET" = 1 ] && A_TOOLS="$A_TOOLS fs-stdout"
  declare -A A_TIMES=() A_CPU=() A_SHA=()
  for ((r = 1; r <= R; r++)); do
    for tool in $A_TOOLS; do
      out="$W/out/$tool.bin"
      rm -f "$out" "$out.part"
      if dl_run "$tool" "$out"; then
        secs=$DL_SECS cpu=$DL_CPU
        A_TIMES[$tool]="${A_TIMES[$tool]:-} $secs"
        A_CPU[$tool]="${A_CPU[$tool]:-} $cpu"
        if [ "$r" = 1 ]; then
          if [ "$(sha256sum "$out" | cut -c1-64)" = "$REF_SHA" ]; then A_SHA[$tool]=ok; else
            A_SHA[$tool]=BAD
            FAILED=1
          fi
        fi
        note "(a) run $r $tool: $secs s, client CPU $cpu s"
      else
        note "(a) run $r $tool FAILED: $(tail -n2 "$W/logs/client.err" 2>/dev/null | tr '\n' ' ')"
        A_SHA[$tool]=FAIL
        FAILED=1
      fi
      rm -f "$out" "$out.part"
    done
  done
  for tool in $A_TOOLS; do
    [ -n "${A_TIMES[$tool]:-}" ] || { RES[a_$tool]="FAILED"; continue; }
    RES[a_$tool]=$(echo "${A_TIMES[$tool]}" | tr ' ' '\n' | grep . | sort -g |
      awk -v n="$N" '{t[NR] = $1} END { best = t[1]; med = t[int((NR + 1) / 2)];
        printf "%.0f %.0f %.2f", n / 1048576 / best, n / 1048576 / med, best }')
    RES[a_cpu_$tool]=$(echo "${A_CPU[$tool]}" | tr ' ' '\n' | grep . | sort -g | awk '{t[NR] = $1} END { print t[int((NR + 1) / 2)] }')
  done
  if ! want b; then  # (b) uses the same servers
    stop_bg "$FS_BG"; stop_bg "$NG_BG"; stop_bg "$LT_BG"; stop_bg "$PY_BG"
  fi
  rm -f "$W/www/big.bin"
fi

# ---- (b) requests per second, 4 KiB ----------------------------------------------
# wrk_run NAME PORT DURATION PIDS...: sets RES[b_NAME]="REQS NON2XX SOCKERR P99 CPU_US_PER_REQ"
wrk_run() {
  local name=$1 port=$2 dur=$3
  shift 3
  local out="$W/logs/wrk-$name.$ROUND.txt"
  if [ "$(timeout 10 curl -sS -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$port/4k.bin")" != "200 4096" ]; then
    note "(b) $name does not serve 4k.bin"
    [ -n "${RES[b_$name]:-}" ] || RES[b_$name]="FAILED"
    FAILED=1
    return
  fi
  local c0 c1 line
  c0=$(cpu_ticks "$@")
  timeout -k 5 $((dur + 30)) wrk -t2 -c100 -d"${dur}s" --latency "http://127.0.0.1:$port/4k.bin" >"$out" 2>&1
  c1=$(cpu_ticks "$@")
  line=$(awk -v cpu=$((c1 - c0)) -v hz="$CLK_TCK" '
    /^Requests\/sec:/ { rps = $2 }
    /requests in/ { n = $1 }
    /Non-2xx or 3xx responses:/ { bad = $NF }
    /Socket errors:/ { gsub(",", ""); err = $4 + $6 + $8 + $10 }
    $1 == "99%" { p99 = $2 }
    END { printf "%.0f %d %d %s %.1f", rps, bad, err, (p99 == "" ? "-" : p99), (n > 0 ? cpu / hz * 1e6 / n : 0) }' "$out")
  note "(b) round $ROUND $name: $(grep -E 'Requests/sec|Non-2xx|Socket errors' "$out" | tr -s ' ' | tr '\n' ';') server CPU $(((c1 - c0) * 1000 / CLK_TCK)) ms"
  # keep the round with the most requests per second
  case ${RES[b_$name]:-} in
    '' | FAILED) RES[b_$name]=$line ;;
    *) [ "${line%% *}" -gt "${RES[b_$name]%% *}" ] && RES[b_$name]=$line ;;
  esac
}

if want b; then
  if ! want a; then
    start_fileserve FS fs-b
    start_nginx NG nginx-b
    start_lighttpd LT lighttpd-b
    start_python PY python-b
  fi
  if [ "$REFS" = 1 ]; then  # the same without the per-request access log line
    start_fileserve FQ fs-b-quiet -q
    start_nginx NQ nginx-b-nolog off
  fi
  for ((ROUND = 1; ROUND <= B_RUNS; ROUND++)); do
    wrk_run nettool "$FS_PORT" "$DUR" $FS_PIDS
    wrk_run nginx "$NG_PORT" "$DUR" $NG_PIDS
    wrk_run lighttpd "$LT_PORT" "$DUR" $LT_PIDS
    wrk_run python "$PY_PORT" "$PY_DUR" $PY_PIDS
    if [ "$REFS" = 1 ]; then
      wrk_run nettool-q "$FQ_PORT" "$DUR" $FQ_PIDS
      wrk_run nginx-nolog "$NQ_PORT" "$DUR" $NQ_PIDS
    fi
  done
  stop_bg "$FS_BG"; stop_bg "$NG_BG"; stop_bg "$LT_BG"; stop_bg "$PY_BG"
  [ "$REFS" = 1 ] && { stop_bg "$FQ_BG"; stop_bg "$NQ_BG"; }
fi

# ---- (c) memory with idle connections ------------------------------------------
cat >"$W/idle.py" <<'EOF'
# idle.py PORT CONNS HOLD PID...: opens CONNS connections to 127.0.0.1:PORT,
# holds them HOLD s silent, then one keep-alive GET /4k.bin on each, reads
# the answers, holds HOLD s again. After each phase prints, for every PID,
# VmRSS/VmHWM (KiB) and its open socket count.
import os, resource, selectors, socket, sys, time
port, conns, hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
pids = [int(p) for p in sys.argv[4:]]
need = conns + 64
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft < need:
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(need, soft), max(need, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))

def status(pid):
    vals = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                vals[k] = int(v.split()[0])
    socks = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                socks += 1
        except OSError:
            pass
    return vals.get("VmRSS", 0), vals.get("VmHWM", 0), socks

def report(phase, ok):
    for pid in pids:
        rss, hwm, socks = status(pid)
        print(f"{phase} pid={pid} ok={ok} rss={rss} hwm={hwm} sockets={socks}", flush=True)

def alive(socks):
    n = 0
    for s in socks:
        try:
            s.setblocking(False)
            if s.recv(1, socket.MSG_PEEK) == b"":
                continue  # closed by the server
        except BlockingIOError:
            pass
        except OSError:
            continue
        n += 1
    return n

deadline = time.monotonic() + 60
socks = []
for _ in range(conns):
    s = socket.socket()
    s.settimeout(max(0.1, deadline - time.monotonic()))
    s.connect(("127.0.0.1", port))
    socks.append(s)
time.sleep(hold)
report("idle", alive(socks))

req = b"GET /4k.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
sel = selectors.DefaultSelector()
bufs = {}
for s in socks:
    s.setblocking(True)
    s.settimeout(10)
    s.sendall(req)
    s.setblocking(False)
    bufs[s] = b""
    sel.register(s, selectors.EVENT_READ)
done = 0
deadline = time.monotonic() + 60
while bufs and time.monotonic() < deadline:
    for key, _ in sel.select(timeout=1):
        s = key.fileobj
        try:
            data = s.recv(65536)
        except BlockingIOError:
            continue
        except OSError:
            data = b""
        if not data:
            sel.unregister(s); del bufs[s]; continue
        b = bufs[s] + data
        head, sep, body = b.partition(b"\r\n\r\n")
        if sep:
            length = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v)
            if len(body) >= length:
                if head.startswith(b"HTTP/1.1 200"):
                    done += 1
                sel.unregister(s); del bufs[s]; continue
        bufs[s] = b
time.sleep(hold)
report("keepalive", f"{done}/{alive(socks)}")
for s in socks:
    s.close()
EOF

# mem_run NAME PORT PIDS...: RES[c_NAME_PID_PHASE]="RSS HWM SOCKETS OK"
mem_run() {
  local name=$1 port=$2
  shift 2
  local out="$W/logs/idle-$name.txt" p
  sleep 0.3
  for p in "$@"; do RES[c_${name}_${p}_start]="$(status_kib "$p" VmRSS) $(status_kib "$p" VmHWM)"; done
  if ! timeout -k 5 $((2 * HOLD + 150)) "$PYTHON" "$W/idle.py" "$port" "$CONNS" "$HOLD" "$@" >"$out" 2>&1; then
    note "(c) $name: client failed: $(tail -n3 "$out" | tr '\n' ' ')"
    FAILED=1
  fi
  while read -r phase pidf okf rssf hwmf sockf; do
    RES[c_${name}_${pidf#pid=}_${phase}]="${rssf#rss=} ${hwmf#hwm=} ${sockf#sockets=} ${okf#ok=}"
  done < <(grep -E '^(idle|keepalive) ' "$out")
  note "(c) $name: $(tr '\n' ';' <"$out")"
}

if want c; then
  start_fileserve FC fs-c
  mem_run nettool "$FC_PORT" $FC_PIDS
  C_NT_PID=$FC_PIDS
  stop_bg "$FC_BG"
  start_nginx NC nginx-c
  mem_run nginx "$NC_PORT" $NC_WORKER
  C_NG_PID=$NC_WORKER
  stop_bg "$NC_BG"
  start_lighttpd LC lighttpd-c
  mem_run lighttpd "$LC_PORT" $LC_PIDS
  C_LT_PID=$LC_PIDS
  stop_bg "$LC_BG"
fi

# ---- the table --------------------------------------------------------------------
note "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "nettool file benchmark - SIZE=$SIZE R=$R DURATION=${DUR}s CONNS=$CONNS, $(nproc) cores, loopback;" \
  "load average before $LOAD_BEFORE, after $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%s\n' "-------------------------------------------------------------------------------------------------------------"
fmt='%-4s %-42s %-30s %-24s %s\n'
printf "$fmt" part "server + client" result target status
printf '%s\n' "-------------------------------------------------------------------------------------------------------------"
if want a; then
  nc_best=$(echo "${RES[a_nc]:-}" | awk '{print $1}')
  peers_best=0
  for t in python nginx lighttpd; do
    v=$(echo "${RES[a_$t]:-}" | awk '$1 ~ /^[0-9]/ {print $1}')
    [ -n "$v" ] && [ "$v" -gt "$peers_best" ] && peers_best=$v
  done
  label_nt="nettool file-serve + file-get"
  [ "$HAVE_GET" = 1 ] || label_nt="nettool file-serve + curl (file-get NOT built)"
  for t in $A_TOOLS; do
    case $t in
      nc) label="nc -N -l < file + nc -d > out (raw)" ;;
      nettool) label=$label_nt ;;
      python) label="python3 -m http.server + curl" ;;
      nginx) label="nginx (1 worker, sendfile) + curl" ;;
      lighttpd) label="lighttpd + curl" ;;
      fs-curl) label="[ref] file-serve + curl" ;;
      fs-stdout) label="[ref] file-serve + file-get -o - >out" ;;
      nginx-fsync) label="[ref] nginx + curl + fsync(out)" ;;
    esac
    v=${RES[a_$t]:-FAILED}
    if [ "$v" = FAILED ]; then res=FAILED; else
      read -r best med _ <<<"$v"
      res="$best MiB/s (median $med) cpu ${RES[a_cpu_$t]:-}s sha:${A_SHA[$t]:-?}"
    fi
    target="" status=""
    if [ "$t" = nettool ] && [ "$v" != FAILED ] && [ -n "$nc_best" ]; then
      target=">= 0.9 x nc = $(awk -v n="$nc_best" 'BEGIN{printf "%.0f", 0.9 * n}') MiB/s"
      status=$(awk -v a="$best" -v n="$nc_best" 'BEGIN { r = a / n; printf "%s (%.2f x nc)", (r >= 0.9 ? "MET" : "MISSED"), r }')
      printf "$fmt" "(a)" "$label" "$res" "$target" "$status"
      target="> best HTTP peer = $peers_best"
      status=$(awk -v a="$best" -v p="$peers_best" 'BEGIN { printf "%s (%.2f x)", (a > p ? "MET" : "MISSED"), (p > 0 ? a / p : 0) }')
      printf "$fmt" "" "" "" "$target" "$status"
      continue
    fi
    printf "$fmt" "(a)" "$label" "$res" "$target" "$status"
  done
  [ -n "${FIRST_HEAD:-}" ] && printf "$fmt" "(a)" "[note] file-serve first HEAD (hashing)" "${FIRST_HEAD} s (not timed above)" "" ""
fi
if want b; then
  ng=$(echo "${RES[b_nginx]:-}" | awk '$1 ~ /^[0-9]/ {print $1}')
  for t in nettool nginx lighttpd python nettool-q nginx-nolog; do
    [ -n "${RES[b_$t]:-}" ] || continue
    case $t in
      nettool) label="nettool file-serve (access log on)" ;;
      nginx) label="nginx (worker_processes 1, access log on)" ;;
      lighttpd) label="lighttpd (no access log)" ;;
      python) label="python3 -m http.server (${PY_DUR}s)" ;;
      nettool-q) label="[ref] nettool file-serve -q (no log)" ;;
      nginx-nolog) label="[ref] nginx, access_log off" ;;
    esac
    v=${RES[b_$t]}
    if [ "$v" = FAILED ]; then res=FAILED; else
      read -r rps bad err p99 us <<<"$v"
      res="$rps req/s non2xx=$bad err=$err p99=$p99 cpu=${us}us/req"
    fi
    target="" status=""
    if { [ "$t" = nettool ] || [ "$t" = nettool-q ]; } && [ "$v" != FAILED ] && [ -n "$ng" ]; then
      target=">= 0.8 x nginx = $(awk -v n="$ng" 'BEGIN{printf "%.0f", 0.8 * n}')"
      status=$(awk -v a="$rps" -v n="$ng" -v e=$((bad + err)) 'BEGIN { r = a / n; printf "%s (%.2f x nginx)", (r >= 0.8 && e == 0 ? "MET" : "MISSED"), r }')
    fi
    printf "$fmt" "(b)" "$label" "$res" "$target" "$status"
  done
fi
if want c; then
  for t in nettool nginx lighttpd; do
    case $t in
      nettool) pid=${C_NT_PID:-}; label="nettool file-serve" ;;
      nginx) pid=${C_NG_PID:-}; label="nginx worker" ;;
      lighttpd) pid=${C_LT_PID:-}; label="lighttpd" ;;
    esac
    [ -n "$pid" ] || continue
    read -r s_rss _ <<<"${RES[c_${t}_${pid}_start]:-}"
    read -r i_rss i_hwm i_socks i_ok <<<"${RES[c_${t}_${pid}_idle]:-- - - -}"
    read -r k_rss k_hwm k_socks k_ok <<<"${RES[c_${t}_${pid}_keepalive]:-- - - -}"
    res="idle: RSS $(mib "$i_rss") HWM $(mib "$i_hwm") MiB"
    target="" status=""
    if [ "$t" = nettool ]; then
      target="HWM < 16 MiB"
      status=$(awk -v a="$i_hwm" -v b="$k_hwm" 'BEGIN { m = (a > b ? a : b); if (m == "" || m == "-") print "?"; else printf "%s (peak %.1f MiB)", (m < 16384 ? "MET" : "MISSED"), m / 1024 }')
    fi
    printf "$fmt" "(c)" "$label, $CONNS idle conns" "$res" "$target" "$status"
    printf "$fmt" "" "  (at start: RSS $(mib "$s_rss") MiB)" "sockets held $i_socks, alive $i_ok" "" ""
    printf "$fmt" "(c)" "$label, after 1 GET each" "keep-alive: RSS $(mib "$k_rss") HWM $(mib "$k_hwm") MiB" "" ""
    printf "$fmt" "" "" "sockets $k_socks, 200s/alive $k_ok" "" ""
  done
fi
printf '%s\n' "-------------------------------------------------------------------------------------------------------------"
if want a; then
  echo "(a) MiB/s = SIZE / client wall time, best of $R (median in brackets), cpu = client user+sys (median);"
  echo "    file-get writes to FILE.part, fsyncs and renames; curl and nc do not fsync (see the [ref] rows)."
fi
want b && echo "(b) wrk -t2 -c100 (client and server share the $(nproc) cores), best of $B_RUNS; cpu = server user+sys"
want b && echo "    per request (all threads), the steadier figure when the machine is busy."
want c && echo "(c) VmRSS/VmHWM from /proc/PID/status of a freshly started server; sockets = its open socket fds."
exit "$FAILED"
