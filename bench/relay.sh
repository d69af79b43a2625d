#!/usr/bin/env bash
# bench/relay.sh - one-way TCP relay benchmark: nettool vs OpenBSD nc, ncat, socat.
#
# What it measures: for each tool, a listener (output -> /dev/null) and a
# connector (input <- `head -c BYTES /dev/zero`, the same pipe for every tool)
# on 127.0.0.1 move BYTES bytes over one loopback TCP connection:
#   * throughput  MiB/s = BYTES / wall time (connector start -> both exited,
#                 so process start-up and teardown are included)
#   * CPU s       user+sys of listener + connector (not of `head`)
#   * peak RSS    max resident set (KiB) of listener and of connector
# Each tool runs R times (runs are interleaved round-robin across tools to
# spread out machine noise); the table shows the MEDIAN of each metric over
# the R runs (plus the min-max range of the throughput).  Ratios are relative
# to nettool (throughput: tool/nettool, >1 = faster than nettool; CPU:
# tool/nettool, >1 = more CPU than nettool).
#
# Byte-count checks: nettool's listener runs with -v and every timed run checks
# the "received ... (N bytes)" summary it prints at exit.  With VERIFY=1 (the
# default) one extra, untimed run per tool pipes the listener's output through
# `wc -c` and checks the count, for all tools.  SINK=wc times every run with
# that pipe instead of /dev/null (and checks every run's count).
# Caveat: nettool recognises a /dev/null stdout and skips the write(2) calls
# altogether; nc/ncat/socat do write to /dev/null (cheap, but one syscall per
# block).  SINK=wc compares all four on an identical, real write path.
#
# Usage:
#   bench/relay.sh [BYTES] [R]             e.g. bench/relay.sh 1G 5
#   BYTES=1G R=3 bench/relay.sh
# Environment:
#   BYTES    amount to send; plain bytes or with K/M/G/T suffix (binary) [4G]
#   R        repetitions per tool                                        [3]
#   TOOLS    space-separated subset of: nettool nc ncat socat  [all four]
#   NETTOOL  nettool binary        [<repo>/build/release/bin/nettool]
#   TIMEOUT  per-process time limit in seconds [max(60, BYTES / 20 MiB/s)]
#   VERIFY   1 = extra `wc -c` verification run per tool, 0 = skip       [1]
#   SINK     null = timed listeners write to /dev/null; wc = to `| wc -c`
#            (a real pipe write path, byte count checked on every run)   [null]
#   KEEP     1 = keep the scratch directory with per-run logs            [0]
#   NO_GNU_TIME 1 = use the python3 fallback meter even if GNU time exists
# Needs: bash, python3 (free-port lookup; also the fallback meter), coreutils
# `timeout`, and the tools under test.  CPU/RSS come from GNU time
# (/usr/bin/time); if it is missing, a small python3 wrapper measures CPU via
# wait4() and peak RSS by sampling VmHWM every 10 ms - `apt-get install -y time`
# gives better figures (exact peak RSS, no sampling loop competing for CPU).
# Build nettool first: scripts/setup.sh release
# Noise: wall time (MiB/s) suffers most from other load on the machine (the
# load average is printed before and after); CPU s is the steadier figure.

set -u
LC_ALL=C
export LC_ALL

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

BYTES=${1:-${BYTES:-4G}}
R=${2:-${R:-3}}
TOOLS=${TOOLS:-"nettool nc ncat socat"}
NETTOOL=${NETTOOL:-$repo/build/release/bin/nettool}
VERIFY=${VERIFY:-1}
KEEP=${KEEP:-0}
SINK=${SINK:-null}
READY_TIMEOUT=${READY_TIMEOUT:-10}   # seconds to wait for a listener to listen

die() { echo "relay.sh: $*" >&2; exit 2; }

# ---- parse BYTES ------------------------------------------------------------
to_bytes() {
    local v=${1%[bB]} m=1
    v=${v%i}
    case $v in
        *[kK]) m=1024;          v=${v%?} ;;
        *[mM]) m=1048576;       v=${v%?} ;;
        *[gG]) m=1073741824;    v=${v%?} ;;
        *[tT]) m=1099511627776; v=${v%?} ;;
    esac
    case $v in ''|*[!0-9]*) return 1 ;; esac
    echo $((v * m))
}
N=$(to_bytes "$BYTES") || die "bad BYTES '$BYTES' (e.g. 4G, 512M, 1000000)"
[ "$N" -gt 0 ] || die "BYTES must be > 0"
case $SINK in null|wc) ;; *) die "bad SINK '$SINK' (null or wc)" ;; esac
case $R in ''|*[!0-9]*|0) die "bad R '$R'" ;; esac
TIMEOUT=${TIMEOUT:-$(( N / (20 * 1048576) > 60 ? N / (20 * 1048576) : 60 ))}

# ---- prerequisites ----------------------------------------------------------
command -v timeout >/dev/null || die "coreutils 'timeout' not found"
command -v python3 >/dev/null || die "python3 not found (used to pick free ports)"
for t in $TOOLS; do
    case $t in
        nettool) [ -x "$NETTOOL" ] || die "nettool binary not found at $NETTOOL (run scripts/setup.sh release)" ;;
        nc)      command -v nc    >/dev/null || die "nc not found" ;;
        ncat)    command -v ncat  >/dev/null || die "ncat not found" ;;
        socat)   command -v socat >/dev/null || die "socat not found" ;;
        *)       die "unknown tool '$t' (known: nettool nc ncat socat)" ;;
    esac
done
[ -n "${EPOCHREALTIME:-}" ] || die "bash >= 5 needed (EPOCHREALTIME)"

work=$(mktemp -d "${TMPDIR:-/tmp}/relay-bench.XXXXXX") || die "mktemp failed"

# METER OUTFILE CMD...: runs CMD, writes "wall user sys maxrss_kib" as the last line of
# the file given with -o.  GNU time if present, else a python3 wait4() wrapper.
if [ "${NO_GNU_TIME:-0}" != 1 ] && [ -x /usr/bin/time ] && /usr/bin/time -f '%e' -o /dev/null true 2>/dev/null; then
    METER_NAME="GNU time"
    METER=(/usr/bin/time -f '%e %U %S %M' -o)      # followed by OUTFILE CMD...
else
    METER_NAME="python3 wait4 (install GNU time: apt-get install -y time)"
    echo "relay.sh: note: /usr/bin/time not found; using a python3 wait4() wrapper." >&2
    echo "relay.sh: note: 'apt-get install -y time' gives lighter-weight figures." >&2
    # CPU comes from wait4(); the RSS does not: ru_maxrss would include the
    # forked python's own RSS (it survives exec), so VmHWM of the exec'ed
    # tool is sampled from /proc every 10 ms instead (a close lower bound).
    cat > "$work/meter.py" <<'EOF'
import os, sys, time
out = sys.argv[1]; argv = sys.argv[2:]
t0 = time.monotonic()
r, w = os.pipe()                 # close-on-exec: EOF on r once exec is done
pid = os.fork()
if pid == 0:
    try:
        os.close(r)
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
os.close(w)
os.read(r, 1)                    # do not sample the pre-exec python child
os.close(r)
hwm = 0
while True:
    p, st, ru = os.wait4(pid, os.WNOHANG)
    if p == pid:
        break
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    hwm = max(hwm, int(line.split()[1]))
    except OSError:
        pass
    time.sleep(0.01)
with open(out, "w") as f:
    f.write("%.2f %.2f %.2f %d\n" % (time.monotonic() - t0, ru.ru_utime, ru.ru_stime, hwm))
sys.exit(os.waitstatus_to_exitcode(st) if hasattr(os, "waitstatus_to_exitcode") else (st >> 8))
EOF
    METER=(python3 "$work/meter.py")                # followed by OUTFILE CMD...
fi

# ---- cleanup: reap anything we started ---------------------------------------
live_pids=""
cleanup() {
    local p
    for p in $live_pids; do
        kill "$p" 2>/dev/null     # `timeout` forwards TERM to its process group
    done
    for p in $live_pids; do
        wait "$p" 2>/dev/null
    done
    if [ "$KEEP" = 1 ]; then echo "relay.sh: logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# is something LISTENing on 127.0.0.1:$1 (or a wildcard)?  Reads /proc, so it
# does not connect (a probe connection would be the one client nc/socat serve).
is_listening() {
    local hex
    hex=$(printf '%04X' "$1")
    awk -v p=":$hex" 'FNR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { f = 1 }
                      END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# listener_cmd TOOL PORT -> sets array LCMD; connector_cmd TOOL PORT -> CCMD
listener_cmd() {
    case $1 in
        nettool) LCMD=("$NETTOOL" -v tcp-listen -d 127.0.0.1 "$2") ;;
        nc)      LCMD=(nc -l 127.0.0.1 "$2") ;;
        ncat)    LCMD=(ncat -l --recv-only 127.0.0.1 "$2") ;;
        socat)   LCMD=(socat -u "TCP-LISTEN:$2,reuseaddr,bind=127.0.0.1" -) ;;
    esac
}
connector_cmd() {
    case $1 in
        nettool) CCMD=("$NETTOOL" tcp-connect 127.0.0.1 "$2") ;;
        nc)      CCMD=(nc -N 127.0.0.1 "$2") ;;
        ncat)    CCMD=(ncat --send-only 127.0.0.1 "$2") ;;
        socat)   CCMD=(socat -u - "TCP:127.0.0.1:$2") ;;
    esac
}

# wait (bounded) until the listener of TOOL on PORT is ready; $3 = its pid,
# $4 = its stderr file.  nettool: "listening on" in its log; others: /proc.
wait_ready() {
    local tool=$1 port=$2 pid=$3 err=$4 i=0 max=$((READY_TIMEOUT * 100))
    while [ $i -lt $max ]; do
        kill -0 "$pid" 2>/dev/null || return 1
        if [ "$tool" = nettool ]; then
            grep -q "listening on" "$err" 2>/dev/null && return 0
        else
            is_listening "$port" && return 0
        fi
        sleep 0.01
        i=$((i + 1))
    done
    return 1
}

# run_one TOOL TAG MODE  (MODE: timed | verify)
# timed:  metered; appends "tool wall lu ls lrss cu cs crss" to $work/results;
#         listener output -> /dev/null (SINK=null) or | wc -c (SINK=wc)
# verify: unmetered, listener output | wc -c; only the byte count matters
run_one() {
    local tool=$1 tag=$2 mode=$3 port d lpid cst lst t0 t1 got attempt
    local -a lmeter=() cmeter=()
    d=$work/$tool.$tag
    mkdir -p "$d"
    if [ "$mode" = timed ]; then
        lmeter=("${METER[@]}" "$d/l.time"); cmeter=("${METER[@]}" "$d/c.time")
    fi
    for attempt in 1 2 3; do
        port=$(free_port) || { echo "  $tool $tag: no free port" >&2; return 1; }
        listener_cmd "$tool" "$port"; connector_cmd "$tool" "$port"
        : > "$d/l.err"; : > "$d/c.err"; rm -f "$d/l.time" "$d/c.time" "$d/count"
        if [ "$mode" = verify ] || [ "$SINK" = wc ]; then
            # the pipe lives inside `timeout` so that killing $lpid reaps both
            timeout -k 5 "$TIMEOUT" bash -c '"$@" < /dev/null | wc -c > "$0"' \
                "$d/count" "${lmeter[@]}" "${LCMD[@]}" > /dev/null 2> "$d/l.err" &
        else
            timeout -k 5 "$TIMEOUT" "${lmeter[@]}" "${LCMD[@]}" \
                < /dev/null > /dev/null 2> "$d/l.err" &
        fi
        lpid=$!
        live_pids="$live_pids $lpid"
        if wait_ready "$tool" "$port" "$lpid" "$d/l.err"; then break; fi
        kill "$lpid" 2>/dev/null; wait "$lpid" 2>/dev/null
        live_pids=${live_pids% $lpid}
        echo "  $tool $tag: listener on port $port not ready (attempt $attempt): $(tail -n 2 "$d/l.err" | tr '\n' ' ')" >&2
        [ $attempt = 3 ] && return 1
    done

    t0=$EPOCHREALTIME
    head -c "$N" /dev/zero | timeout -k 5 "$TIMEOUT" "${cmeter[@]}" "${CCMD[@]}" > /dev/null 2> "$d/c.err"
    cst=${PIPESTATUS[1]}
    if [ "$cst" != 0 ]; then
        kill "$lpid" 2>/dev/null    # don't sit out the listener's whole timeout
    fi
    wait "$lpid"; lst=$?             # bounded: the listener runs under `timeout`
    t1=$EPOCHREALTIME
    live_pids=${live_pids% $lpid}

    if [ "$cst" != 0 ] || [ "$lst" != 0 ]; then
        echo "  $tool $tag: FAILED (connector exit $cst, listener exit $lst; 124 = timeout)" >&2
        sed 's/^/    listener: /' "$d/l.err" | tail -n 3 >&2
        sed 's/^/    connector: /' "$d/c.err" | tail -n 3 >&2
        return 1
    fi

    if [ -f "$d/count" ]; then
        got=$(tr -d ' ' < "$d/count")
        if [ "$got" != "$N" ]; then
            echo "  $tool $tag: BYTE COUNT MISMATCH: $got bytes arrived (wc -c), expected $N" >&2
            return 1
        fi
        [ "$mode" = verify ] && echo "  verify $tool: $got bytes arrived - OK"
    fi
    [ "$mode" = verify ] && return 0

    if [ "$tool" = nettool ]; then
        got=$(sed -n 's/.*received .*(\([0-9]*\) bytes).*/\1/p' "$d/l.err" | tail -n 1)
        if [ "$got" != "$N" ]; then
            echo "  $tool $tag: BYTE COUNT MISMATCH: listener reports '${got:-nothing}', expected $N" >&2
            return 1
        fi
    fi

    local lt ct
    lt=$(tail -n 1 "$d/l.time"); ct=$(tail -n 1 "$d/c.time")
    awk -v tool="$tool" -v t0="$t0" -v t1="$t1" -v l="$lt" -v c="$ct" -v n="$N" 'BEGIN {
        split(l, L, " "); split(c, C, " ")
        wall = t1 - t0
        printf "%s %.4f %s %s %s %s %s %s\n", tool, wall, L[2], L[3], L[4], C[2], C[3], C[4]
        printf "  %-8s %8.1f MiB/s  wall %6.3f s  CPU %5.2f s (L %.2f+%.2f, C %.2f+%.2f)  RSS L %s / C %s KiB\n",
               tool, n / 1048576 / wall, wall, L[2] + L[3] + C[2] + C[3], L[2], L[3], C[2], C[3], L[4], C[4] > "/dev/stderr"
    }' >> "$work/results"
}

# ---- main --------------------------------------------------------------------
echo "relay benchmark: $N bytes ($(awk -v n="$N" 'BEGIN{printf "%.2f", n/1073741824}') GiB) per run, R=$R, tools: $TOOLS"
echo "host: $(uname -sr), $(nproc) CPU(s); meter: $METER_NAME; per-process timeout ${TIMEOUT}s"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
[ -f "$NETTOOL" ] && echo "nettool: $NETTOOL"
: > "$work/results"
fails=0
for r in $(seq 1 "$R"); do
    echo "round $r/$R"
    for t in $TOOLS; do
        run_one "$t" "run$r" timed 2>&1 || fails=$((fails + 1))
    done
done
if [ "$VERIFY" = 1 ] && [ "$SINK" != wc ]; then
    echo "verification (untimed, listener output | wc -c)"
    for t in $TOOLS; do
        run_one "$t" verify verify 2>&1 || fails=$((fails + 1))
    done
fi

echo
echo "Median of $R run(s) each, $N bytes over 127.0.0.1, sink: $([ "$SINK" = wc ] && echo '| wc -c' || echo /dev/null) (CPU = user+sys of listener + connector)"
awk -v n="$N" -v tools="$TOOLS" -v runs="$R" '
function median(s,   a, k, i, j, t) {
    k = split(s, a, " ")
    for (i = 2; i <= k; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
{
    t = $1; cnt[t]++
    mib = n / 1048576 / $2
    tp[t] = tp[t] " " mib
    cpu[t] = cpu[t] " " ($3 + $4 + $6 + $7)
    lr[t] = lr[t] " " $5; cr[t] = cr[t] " " $8
    if (!(t in mn) || mib < mn[t]) mn[t] = mib
    if (!(t in mx) || mib > mx[t]) mx[t] = mib
}
END {
    nt = split(tools, T, " ")
    for (i = 1; i <= nt; i++) if (cnt[T[i]]) { mt[T[i]] = median(tp[T[i]]); mc[T[i]] = median(cpu[T[i]]) }
    printf "%-8s | %9s | %17s | %6s | %-23s | %8s | %8s\n", "tool", "MiB/s", "MiB/s min-max", "CPU s", "peak RSS KiB (L / C)", "tput/nt", "CPU/nt"
    printf "%s\n", "---------+-----------+-------------------+--------+-------------------------+----------+---------"
    for (i = 1; i <= nt; i++) {
        t = T[i]
        if (!cnt[t]) { printf "%-8s | %9s | (no successful runs)\n", t, "-"; continue }
        rss = sprintf("%d / %d", median(lr[t]), median(cr[t]))
        if (("nettool" in mt) && mt["nettool"] > 0 && mc["nettool"] > 0) {
            rt = sprintf("%.2f", mt[t] / mt["nettool"]); rc = sprintf("%.2f", mc[t] / mc["nettool"])
        } else { rt = "n/a"; rc = "n/a" }
        printf "%-8s | %9.1f | %7.1f - %7.1f | %6.2f | %-23s | %8s | %8s\n",
               t, mt[t], mn[t], mx[t], mc[t], rss, rt, rc
        if (cnt[t] != runs) printf "         (only %d of %d runs succeeded)\n", cnt[t], runs
    }
}' "$work/results"

echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
if [ "$fails" -gt 0 ]; then
    echo
    echo "relay.sh: $fails run(s) failed (see messages above)" >&2
    exit 1
fi
exit 0
