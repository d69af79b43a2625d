#!/usr/bin/env bash
# bench/udp.sh - UDP datagram rate and loss on 127.0.0.1: nettool udp-send ->
# udp-listen versus socat -u pairs and OpenBSD nc -u pairs.
#
# What it measures, for each tool and each record size (by default 1,000,000
# datagrams of 64 bytes and 100,000 of 1,400 bytes):
#   * a receiver on 127.0.0.1:PORT writes the payloads it gets to a file
#     (nettool udp-listen > FILE, socat -u UDP-RECV:... - > FILE,
#      nc -d -u -l ... > FILE), every one with a 4 MiB SO_RCVBUF (udp-listen's
#     own choice; socat rcvbuf=, nc -I);
#   * a sender reads a pre-generated file of fixed-size records:
#        nettool udp-send --chunk N 127.0.0.1 PORT < FILE    (one datagram per
#              record)
#        socat -u -b N OPEN:FILE UDP-SENDTO:127.0.0.1:PORT   (one datagram per
#              read(2) of at most N bytes, so one per record)
#        nc -u -q 0 127.0.0.1 PORT   OpenBSD nc sends the contents of its 16 KiB
#              stdin buffer as one datagram whenever the socket is writable,
#              and may read again before it writes, so it cannot be made to
#              send one record per datagram:
#              row "nc":      stdin is an AF_UNIX SOCK_SEQPACKET socket that a
#                             small python3 feeder fills one record per
#                             message (each read(2) returns one record); nc
#                             then sends 1-2 records per datagram (usually 2:
#                             it polls for POLLOUT only once it holds data, so
#                             it reads a second record before writing). The
#                             feeder's CPU is part of this row's cost.
#              row "nc-file": stdin is the file itself: 16 KiB datagrams
#                             (compare MiB/s, not datagrams/s).
#     The chunking check below shows what each sender really does.
#   * sent = datagrams the sender handed to the kernel (/proc/net/snmp Udp
#     OutDatagrams delta), recvd = datagrams the receiver read (InDatagrams
#     delta), drops = RcvbufErrors delta (on loopback that is where loss
#     happens: the receiving socket's buffer was full). As root the whole
#     script re-runs itself in a private network namespace (unshare --net,
#     lo up) so these counters see nothing but the benchmark; otherwise they
#     are host-wide (NETNS=0 forces that) and other UDP traffic adds noise.
#   * datagrams/s = sent / sender wall time (start -> exit);
#     MiB/s = payload bytes sent / sender wall time;
#     loss % = 1 - payload bytes in the receiver's file / bytes sent (the
#     same as by datagrams when they are all one size). The receiver is done
#     when it has everything, or its file stopped growing for QUIET seconds
#     after the sender ended.
#   * x nettool = tool datagrams/s / nettool datagrams/s (>1 = faster).
#   * send CPU s = user+sys CPU of the sender (GNU time, when installed; for
#     the "nc" row that includes the python3 feeder). Steadier than wall time
#     on a loaded machine. On loopback the kernel's delivery into the
#     receiving socket runs in the sender's context, so it is in its sys time.
# Before the timed runs, an untimed check sends 5 records (plus a short
# tail) with each sender to a python3 socket and prints the datagram sizes it
# got, so the chunking each tool does is shown, not assumed.
#
# Usage:
#   bench/udp.sh                        # defaults below
#   N_SMALL=200000 N_LARGE=50000 R=3 bench/udp.sh
# Environment:
#   NETTOOL   nettool binary                     [<repo>/build/release/bin/nettool]
#   N_SMALL   count of SMALL-byte datagrams      [1000000]
#   SMALL     small record size                  [64]
#   N_LARGE   count of LARGE-byte datagrams      [100000]
#   LARGE     large record size                  [1400]
#   TOOLS     subset of: nettool socat nc nc-file [all]
#   R         repetitions per (tool, size); the table shows the median run by
#             datagrams/s                        [1]
#   SEND_TIMEOUT  seconds a sender may take      [120]
#   QUIET     seconds without growth that end a receiver [1]
#   KEEP      1 = keep the scratch directory     [0]
#   NETNS     auto = private network namespace when root; 0 = never [auto]
# Needs: bash, coreutils (timeout, stat, head), python3, socat, nc (OpenBSD,
# Debian's netcat-openbsd: -q, -I), and a built nettool (scripts/setup.sh release).
# Every process is started by this script, bounded by timeout(1), and killed
# by PID and reaped on exit.

set -u
LC_ALL=C
export LC_ALL

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

NETTOOL=${NETTOOL:-$repo/build/release/bin/nettool}
N_SMALL=${N_SMALL:-1000000}
SMALL=${SMALL:-64}
N_LARGE=${N_LARGE:-100000}
LARGE=${LARGE:-1400}
TOOLS=${TOOLS:-"nettool socat nc nc-file"}
R=${R:-1}
SEND_TIMEOUT=${SEND_TIMEOUT:-120}
QUIET=${QUIET:-1}
KEEP=${KEEP:-0}
READY_TIMEOUT=10          # seconds for a receiver to bind
DRAIN_MAX=30              # seconds a receiver may take after its sender ended
RCVBUF=4194304            # every receiver's SO_RCVBUF (udp-listen asks for 4 MiB)
NC_BUF=16384              # OpenBSD nc's read buffer: its datagram size from a file

die() { echo "udp.sh: $*" >&2; exit 2; }

NETNS=${NETNS:-auto}
isolated=${UDP_BENCH_IN_NETNS:-0}
if [ "$NETNS" != 0 ] && [ "$isolated" = 0 ] && [ "$(id -u)" = 0 ] && command -v unshare >/dev/null &&
    command -v ip >/dev/null && unshare --net -- true 2>/dev/null; then
    # unshare execs (no fork): this PID becomes the benchmark in its own netns.
    export UDP_BENCH_IN_NETNS=1
    exec unshare --net -- bash -c 'ip link set lo up && exec bash "$0" "$@"' "$0" "$@"
fi

[ -x "$NETTOOL" ] || die "no nettool at $NETTOOL (scripts/setup.sh release, or set NETTOOL)"
command -v python3 >/dev/null || die "python3 is needed"
command -v timeout >/dev/null || die "coreutils timeout is needed"
for t in $TOOLS; do
    case $t in
        nettool) ;;
        socat) command -v socat >/dev/null || die "socat is not installed" ;;
        nc|nc-file) command -v nc >/dev/null || die "nc is not installed"
                    nc -h 2>&1 | grep -q -- '-q secs' || die "nc is not Debian's OpenBSD netcat (no -q)" ;;
        *) die "unknown tool '$t' (nettool socat nc nc-file)" ;;
    esac
done

scratch=$(mktemp -d "${TMPDIR:-/tmp}/nettool-udp-bench.XXXXXX") || die "mktemp failed"
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill -TERM "$p" 2>/dev/null
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null
    done
    if [ "$KEEP" = 1 ]; then echo "scratch kept: $scratch" >&2; else rm -rf "$scratch"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- helpers ----------------------------------------------------------------

free_port() {
    python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# True while a UDP socket is bound to 127.0.0.1:$1 (or 0.0.0.0:$1).
udp_bound() {
    local hex
    hex=$(printf '%04X' "$1")
    grep -qE "^ *[0-9]+: (0100007F|00000000):$hex " /proc/net/udp
}

# "OutDatagrams InDatagrams RcvbufErrors" from /proc/net/snmp.
udp_counters() {
    awk '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) col[$i] = i; h = 1 }
                   else { print $col["OutDatagrams"], $col["InDatagrams"], $col["RcvbufErrors"]; exit } }' /proc/net/snmp
}

size_of() { stat -c %s "$1" 2>/dev/null || echo 0; }

# Seconds between two $EPOCHREALTIME values.
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# python3 feeder: runs CMD... with stdin = one end of an AF_UNIX SOCK_SEQPACKET
# pair and writes FILE into the other end one SIZE-byte record per message, so
# each read(2) by CMD returns exactly one record.
feeder=$scratch/seqpacket_feed.py
cat >"$feeder" <<'PY'
import socket, subprocess, sys
path, size, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
p = subprocess.Popen(cmd, stdin=b)
b.close()
with open(path, "rb") as f:
    data = memoryview(f.read())
send = a.send
for i in range(0, len(data), size):
    send(data[i:i + size])
a.close()
sys.exit(p.wait())
PY

# python3 receiver for the chunking check: prints "COUNTxSIZE ..." of what
# arrives on 127.0.0.1:PORT until 1 s of quiet.
sizes_py=$scratch/sizes.py
cat >"$sizes_py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.settimeout(1.0)
sizes = []
try:
    while True:
        sizes.append(len(s.recv(65536)))
except socket.timeout:
    pass
runs = []
for n in sizes:
    if runs and runs[-1][1] == n:
        runs[-1][0] += 1
    else:
        runs.append([1, n])
print(" ".join(f"{c}x{n}" for c, n in runs) or "nothing")
PY

# GNU time for the sender's CPU, when it is there.
timer=()
if [ -x /usr/bin/time ] && /usr/bin/time -f %U -o /dev/null true 2>/dev/null; then
    timer=(/usr/bin/time -f "%U %S" -o "$scratch/cpu")
fi

# sender TOOL SIZE FILE PORT: runs one sender to completion (bounded).
sender() {
    local tool=$1 size=$2 file=$3 port=$4
    case $tool in
        nettool) "${timer[@]}" timeout "$SEND_TIMEOUT" "$NETTOOL" -q udp-send --chunk "$size" 127.0.0.1 "$port" <"$file" >/dev/null ;;
        socat) "${timer[@]}" timeout "$SEND_TIMEOUT" socat -u -b "$size" "OPEN:$file" "UDP-SENDTO:127.0.0.1:$port" ;;
        nc) "${timer[@]}" timeout "$SEND_TIMEOUT" python3 "$feeder" "$file" "$size" nc -u -q 0 127.0.0.1 "$port" >/dev/null ;;
        nc-file) "${timer[@]}" timeout "$SEND_TIMEOUT" nc -u -q 0 127.0.0.1 "$port" <"$file" >/dev/null ;;
    esac
}

# receiver TOOL PORT EXPECT OUT ERR: starts one receiver in the background; sets rpid.
receiver() {
    local tool=$1 port=$2 expect=$3 out=$4 err=$5
    local limit=$((SEND_TIMEOUT + DRAIN_MAX + READY_TIMEOUT))
    case $tool in
        nettool) timeout "$limit" "$NETTOOL" udp-listen --count "$expect" --idle-timeout "$((SEND_TIMEOUT + 5))s" \
                     127.0.0.1 "$port" >"$out" 2>"$err" </dev/null & ;;
        socat) timeout "$limit" socat -u -b 65536 "UDP-RECV:$port,bind=127.0.0.1,rcvbuf=$RCVBUF" - >"$out" 2>"$err" </dev/null & ;;
        nc|nc-file) timeout "$limit" nc -d -u -l -I "$RCVBUF" 127.0.0.1 "$port" >"$out" 2>"$err" </dev/null & ;;
    esac
    rpid=$!
    pids+=("$rpid")
}

forget() {  # a reaped PID may be reused: never signal it again
    local p keep=()
    for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    pids=("${keep[@]}")
}

stop() {  # kill and reap one background process by PID
    kill -TERM "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    forget "$1"
}

# ---- data -------------------------------------------------------------------

small_file=$scratch/records-$SMALL.bin
large_file=$scratch/records-$LARGE.bin
head -c $((N_SMALL * SMALL)) /dev/urandom >"$small_file" || die "cannot write $small_file"
head -c $((N_LARGE * LARGE)) /dev/urandom >"$large_file" || die "cannot write $large_file"

echo "nettool: $NETTOOL ($("$NETTOOL" --version 2>&1 | head -1))"
echo "socat:   $(socat -V 2>/dev/null | sed -n 's/^socat version \([^ ]*\).*/\1/p')   nc: $(dpkg-query -W -f '${Package} ${Version}' netcat-openbsd 2>/dev/null || echo '?')"
echo "host:    $(nproc) CPUs, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg), net.core.rmem_max=$(cat /proc/sys/net/core/rmem_max)"
if [ "$isolated" = 1 ]; then echo "netns:   private (unshare --net): the Udp counters count only this benchmark"
else echo "netns:   host's (not root, or NETNS=0): the Udp counters are host-wide"; fi
echo

# ---- chunking check (untimed) ------------------------------------------------

echo "Chunking check: datagram sizes a python3 socket receives when each sender reads"
echo "5 records of $LARGE bytes plus a 100-byte tail (COUNTxSIZE):"
head -c $((5 * LARGE + 100)) "$large_file" >"$scratch/check.bin"
for tool in $TOOLS; do
    port=$(free_port)
    python3 "$sizes_py" "$port" >"$scratch/check.out" 2>&1 &
    cpid=$!
    pids+=("$cpid")
    for _ in $(seq 100); do udp_bound "$port" && break; sleep 0.05; done
    sender "$tool" "$LARGE" "$scratch/check.bin" "$port" 2>/dev/null
    wait "$cpid" 2>/dev/null  # it ends by itself after 1 s of quiet
    forget "$cpid"
    printf '  %-8s %s\n' "$tool" "$(cat "$scratch/check.out")"
done
echo

# ---- timed runs ---------------------------------------------------------------

# One run: prints "tool size count sent_dgrams recvd_dgrams sent_bytes recvd_bytes seconds drops sender_rc cpu".
run_once() {
    local tool=$1 size=$2 count=$3 file=$4
    local port out err expect
    out=$scratch/recv.bin
    err=$scratch/recv.err
    expect=$count
    local ok=0
    for _ in 1 2 3; do  # the port can be taken between free_port and bind
        port=$(free_port)
        rm -f "$out"
        receiver "$tool" "$port" "$expect" "$out" "$err"
        for _ in $(seq $((READY_TIMEOUT * 20))); do
            if udp_bound "$port"; then ok=1; break; fi
            kill -0 "$rpid" 2>/dev/null || break
            sleep 0.05
        done
        [ $ok = 1 ] && break
        stop "$rpid"
    done
    [ $ok = 1 ] || { echo "udp.sh: $tool receiver did not bind: $(cat "$err")" >&2; return 1; }

    local c0 c1 t0 t1 rc
    rm -f "$scratch/cpu"
    c0=$(udp_counters)
    t0=$EPOCHREALTIME
    sender "$tool" "$size" "$file" "$port"
    rc=$?
    t1=$EPOCHREALTIME

    # Receiver: done when it has everything, exited, or QUIET s without growth.
    local want=$((count * size)) last=-1 same=0 waited=0 now
    while [ "$waited" -lt $((DRAIN_MAX * 10)) ]; do
        now=$(size_of "$out")
        [ "$now" -ge "$want" ] && break
        kill -0 "$rpid" 2>/dev/null || break
        if [ "$now" = "$last" ]; then
            same=$((same + 1))
            [ "$same" -ge $((QUIET * 10)) ] && break
        else
            same=0
            last=$now
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    stop "$rpid"
    c1=$(udp_counters)
    local got_bytes cpu=-
    got_bytes=$(size_of "$out")
    [ -s "$scratch/cpu" ] && cpu=$(awk 'END { printf "%.2f", $1 + $2 }' "$scratch/cpu")
    rm -f "$out"
    set -- $c0 $c1
    echo "$tool $size $count $(($4 - $1)) $(($5 - $2)) $want $got_bytes $(elapsed "$t0" "$t1") $(($6 - $3)) $rc $cpu"
}

results=$scratch/results
: >"$results"
for spec in "$SMALL $N_SMALL $small_file" "$LARGE $N_LARGE $large_file"; do
    set -- $spec
    for r in $(seq "$R"); do
        for tool in $TOOLS; do  # interleaved, so machine noise spreads over tools
            line=$(run_once "$tool" "$1" "$2" "$3") || continue
            echo "  run $r: $line" >&2
            echo "$line" >>"$results"
        done
    done
done
echo >&2

# ---- table -----------------------------------------------------------------------

# Median run (by datagrams/s) per (tool, size), then ratios to nettool.
awk -v tools="$TOOLS" -v R="$R" '
{
    tool = $1; size = $2; secs = $8
    key = tool SUBSEP size
    n[key]++
    rate[key, n[key]] = secs > 0 ? $4 / secs : 0
    line[key, n[key]] = $0
    if (!(size in seen)) { seen[size] = 1; sizes[++ns] = size }
}
function median(key,    i, j, k, tmp, idx, cnt) {
    cnt = n[key]
    for (i = 1; i <= cnt; i++) idx[i] = i
    for (i = 1; i <= cnt; i++) for (j = i + 1; j <= cnt; j++)
        if (rate[key, idx[j]] < rate[key, idx[i]]) { tmp = idx[i]; idx[i] = idx[j]; idx[j] = tmp }
    k = idx[int((cnt + 1) / 2)]
    return line[key, k]
}
END {
    nt = split(tools, T, " ")
    printf "%-8s %6s %6s %8s %8s %7s %7s %11s %9s %7s %7s %8s  %s\n", "tool", "record", "dgram", "sent", "recvd", "loss %", "send s", "datagrams/s", "x nettool", "MiB/s", "CPU s", "drops", "note"
    for (s = 1; s <= ns; s++) {
        size = sizes[s]
        base = 0
        if (n["nettool", size]) { split(median("nettool" SUBSEP size), b, " "); base = b[8] > 0 ? b[4] / b[8] : 0 }
        for (t = 1; t <= nt; t++) {
            tool = T[t]; key = tool SUBSEP size
            if (!n[key]) continue
            split(median(key), m, " ")
            count = m[3]; sent = m[4]; recvd = m[5]; sbytes = m[6]; rbytes = m[7]; secs = m[8]; drops = m[9]; rc = m[10]; cpu = m[11]
            r = secs > 0 ? sent / secs : 0
            loss = sbytes > 0 ? 100 * (sbytes - rbytes) / sbytes : 0
            if (loss < 0) loss = 0
            dgram = sent > 0 ? sbytes / sent : 0
            mib = secs > 0 ? sbytes / secs / 1048576 : 0
            note = ""
            if (sent != count && (tool == "nettool" || tool == "socat"))
                note = sprintf("kernel counted %d datagrams for %d records", sent, count)
            if (tool == "nc") note = sprintf("%.2f records per datagram (nc coalesces reads)", sent > 0 ? count / sent : 0)
            if (tool == "nc-file") note = "nc reads the file 16 KiB at a time"
            if (rc != 0) note = note (note ? "; " : "") "sender exit " rc
            ratio = base > 0 ? sprintf("%.2f", r / base) : "-"
            printf "%-8s %6d %6.0f %8d %8d %7.2f %7.3f %11.0f %9s %7.1f %7s %8d  %s\n", tool, size, dgram, sent, recvd, loss, secs, r, ratio, mib, cpu, drops, note
        }
    }
    if (R > 1) print "(each row: the median of " R " runs by datagrams/s)"
}' "$results"
