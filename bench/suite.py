#!/usr/bin/env python3
"""nettool's benchmark suite: every workload of issue 7 in one run.

Run it through bench/run-all.sh (which installs the peers and builds nettool).
For each workload, nettool and its peers run interleaved (A B C A B C ...)
after one untimed warm-up run each; a table row is the median of the timed
runs. Every transfer's bytes are checked (count or SHA-256); a wrong byte in
any run makes the suite exit 1, whatever the timings. Results go to
bench/RESULTS.md (or --out), one table per workload.

Measurement:
  * wall time with time.perf_counter() around the client side;
  * CPU s = user+sys of every process of the transfer: processes we start and
    reap get it from wait4(2); long-running servers from the growth of
    utime+stime in /proc/PID/stat (their whole process tree) over the run;
  * peak RSS = ru_maxrss from wait4(2), or VmHWM from /proc for servers.

Network: only 127.0.0.1. Every process is started here, bounded by a
deadline, killed and reaped by PID (also on Ctrl-C or an exception).
"""

import argparse
import atexit
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import signal
import ssl
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")
GNU_TIME = "/usr/bin/time"
MiB = 1 << 20
GiB = 1 << 30


class SuiteError(Exception):
    """A workload could not run at all (a server did not start...)."""


# ---------------------------------------------------------------- processes


class Proc:
    """One child process with a deadline. It is killed when the deadline
    passes, and reaped by PID exactly once: wait() gives its exit code.

    With measure=True it runs under GNU time, which reports the command's own
    user+sys CPU and peak RSS (wait4's ru_maxrss of a child forked from this
    big Python process would be Python's size: exec keeps the high-water mark).
    Each Proc is a process group of its own, so a kill reaches the command
    under `time` too. Every live Proc is killed when the suite exits."""

    live = set()

    def __init__(self, argv, timeout, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL, env=None, measure=False):
        self.argv = [str(a) for a in argv]
        self.cpu = None
        self.maxrss_kib = None
        self._meter = None
        argv = self.argv
        if measure:
            fd, self._meter = tempfile.mkstemp(prefix="nettool-bench-time.")
            os.close(fd)
            argv = [GNU_TIME, "-q", "-f", "%U %S %M", "-o", self._meter] + argv
        self.popen = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr, env=env,
                                      start_new_session=True)
        self.pid = self.popen.pid
        self.code = None
        self.timed_out = False
        self._lock = threading.Lock()
        self._reaped = False
        Proc.live.add(self)
        self._timer = threading.Timer(timeout, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self):
        self.timed_out = True
        self.kill()

    def kill(self, sig=signal.SIGKILL):
        # The lock and the WNOWAIT wait in wait() make sure we never signal a
        # PID after it was reaped (and possibly reused).
        with self._lock:
            if not self._reaped:
                try:
                    os.killpg(self.pid, sig)
                except ProcessLookupError:
                    pass

    def running(self):
        """Not exited yet (checked without reaping it)."""
        if self.code is not None:
            return False
        return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None

    def wait(self):
        if self.code is not None:
            return self.code
        os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)  # a zombie: still ours
        with self._lock:
            self._reaped = True
            _, status, rusage = os.wait4(self.pid, 0)
        self._timer.cancel()
        self.code = os.waitstatus_to_exitcode(status)
        self.popen.returncode = self.code  # so Popen never waits for it again
        Proc.live.discard(self)
        if self._meter:
            try:
                u, s_, m = Path(self._meter).read_text().split()[-3:]
                self.cpu, self.maxrss_kib = float(u) + float(s_), int(m)
            except (OSError, ValueError):
                pass
            os.unlink(self._meter)
        else:
            self.cpu = rusage.ru_utime + rusage.ru_stime
        return self.code

    def stop(self, sig=signal.SIGTERM, grace=5.0):
        """Ask it to end (sig), then kill it after `grace` seconds. Under
        GNU time only the command gets `sig`, so time still reports it."""
        if self._meter:
            with self._lock:
                for child in proc_tree(self.pid)[1:2] if not self._reaped else []:
                    try:
                        os.kill(child, sig)
                    except ProcessLookupError:
                        pass
        else:
            self.kill(sig)
        t = threading.Timer(grace, self.kill)
        t.daemon = True
        t.start()
        self.wait()
        t.cancel()
        return self.code


def kill_all():
    for p in list(Proc.live):
        p.kill()
        try:
            p.wait()
        except ChildProcessError:
            pass


atexit.register(kill_all)


def set_affinity(pids, cpus):
    """Every thread of `pids` onto `cpus` (threads made later inherit it)."""
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                os.sched_setaffinity(int(tid), cpus)
            except OSError:
                pass  # a thread that just exited


def proc_tree(pid):
    """pid and all its descendants (via /proc/PID/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def cpu_seconds(pids):
    """utime+stime (seconds) of these processes, their threads included."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total / TICK


def proc_kib(pid, name, key):
    """A "Key: N kB" field of /proc/PID/<name> (status, smaps_rollup), 0 if gone."""
    try:
        with open(f"/proc/{pid}/{name}") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def status_kib(pid, key):
    return proc_kib(pid, "status", key)


def rollup_kib(pid, key):
    """Pss, Rss... summed over every mapping (smaps_rollup)."""
    return proc_kib(pid, "smaps_rollup", key)


def accepted_connections(pids, port):
    """How many established TCP connections to local `port` the processes `pids` hold
    (accepted ones; those still in the listen queue are not in any process).
    Counting a server's fds instead is racy: a freshly forked nginx worker closes
    inherited fds while the clients connect."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] == "01":
                        inodes.add(cols[9])
        except OSError:
            pass
    held = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    held.add(link)
        except OSError:
            pass
    return len(held)


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    """Is something in LISTEN state on this TCP port (without connecting)?"""
    want = f":{port:04X} "
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                for line in f:
                    cols = line.split()
                    if len(cols) > 3 and (cols[1] + " ").endswith(want) and cols[3] == "0A":
                        return True
        except OSError:
            pass
    return False


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.01)
    raise SuiteError(f"timed out after {timeout} s waiting for {what}")


def wait_log_port(path, proc, timeout=10):
    """The port nettool logs as 'listening on 127.0.0.1:PORT'."""
    pattern = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = pattern.search(Path(path).read_text(errors="replace"))
        if m:
            return int(m.group(1))
        if not proc.running():
            break
        time.sleep(0.01)
    raise SuiteError(f"{' '.join(proc.argv)} did not report its port: {Path(path).read_text()[-500:]}")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * MiB):
            h.update(chunk)
    return h.hexdigest()


# The bytes every relay sends: zeros in 64 KiB writes. `head -c` (8 KiB
# writes) was the bottleneck itself, at about half of what the relays can
# move: every tool's figure was capped by it, and so was the pipe limit.
ZERO_SOURCE = "`dd if=/dev/zero bs=64K`"


def zero_source(n, limit):
    return Proc(["dd", "if=/dev/zero", "bs=64K", f"count={n}", "iflag=count_bytes", "status=none"], limit,
                stdout=subprocess.PIPE)


def have(cmd):
    return shutil.which(cmd) is not None


# ---------------------------------------------------------------- results


class Sample:
    """One timed run of one tool: `value` is what the table ranks (MiB/s,
    requests/s...), `ok` whether its bytes were right."""

    def __init__(self, value, cpu=None, rss_kib=None, ok=True, check="", note="", extra=None):
        self.value, self.cpu, self.rss_kib = value, cpu, rss_kib
        self.ok, self.check, self.note = ok, check, note
        self.extra = extra or {}


class Table:
    def __init__(self, title, unit, what, higher_is_better=True, ours="nettool", also_vs=(), references=()):
        self.title, self.unit, self.what = title, unit, what
        self.higher_is_better = higher_is_better
        self.also_vs = also_vs  # peers an issue target names, shown besides the best peer
        self.ours = ours  # rows starting with this are nettool's own; the rest are peers
        self.references = references  # rows that are a limit to compare with, not a peer (iperf3)
        self.rows = {}  # tool -> [Sample]
        self.notes = []

    def add(self, tool, sample):
        self.rows.setdefault(tool, []).append(sample)

    def median(self, tool, attr="value"):
        vals = [getattr(s, attr) for s in self.rows.get(tool, []) if getattr(s, attr) is not None]
        return statistics.median(vals) if vals else None

    def failures(self):
        return [(t, s) for t, ss in self.rows.items() for s in ss if not s.ok]

    def ratio(self):
        """nettool's best row / the best peer row (by median value)."""
        ours = {t: self.median(t) for t in self.rows if t.startswith(self.ours) and t not in self.references}
        peers = {t: self.median(t) for t in self.rows if not t.startswith("nettool") and t not in self.references}
        ours = {t: v for t, v in ours.items() if v}
        peers = {t: v for t, v in peers.items() if v}
        if not ours or not peers:
            return None
        pick = max if self.higher_is_better else min
        best_ours = pick(ours.items(), key=lambda kv: kv[1])
        best_peer = pick(peers.items(), key=lambda kv: kv[1])
        return best_ours, best_peer, best_ours[1] / best_peer[1]

    def versus(self, peer):
        """nettool's best row / this peer's row, oriented so > 1 favours nettool."""
        r = self.ratio()
        v = self.median(peer)
        if not r or not v:
            return None
        x = r[0][1] / v
        return x if self.higher_is_better else 1 / x

    def markdown(self):
        lines = [f"### {self.title}", "", self.what, ""]
        extra_keys = []
        for ss in self.rows.values():
            for s in ss:
                for k in s.extra:
                    if k not in extra_keys:
                        extra_keys.append(k)
        head = ["tool", self.unit, "range", "CPU s", "peak RSS MiB"] + extra_keys + ["runs", "bytes", "× best peer"]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        r = self.ratio()
        best_peer = r[1][1] if r else None
        for tool, ss in self.rows.items():
            v = self.median(tool)
            vals = [s.value for s in ss if s.value is not None]
            rng = f"{fmt(min(vals))}–{fmt(max(vals))}" if len(vals) > 1 else ""
            cpu = self.median(tool, "cpu")
            rss = self.median(tool, "rss_kib")
            ex = []
            for k in extra_keys:
                xs = [s.extra[k] for s in ss if k in s.extra and s.extra[k] is not None]
                ex.append(fmt(statistics.median(xs)) if xs and all(isinstance(x, (int, float)) for x in xs)
                          else (str(xs[-1]) if xs else ""))
            bad = sum(1 for s in ss if not s.ok)
            checks = sorted({s.check for s in ss if s.check})
            bytes_col = ("**WRONG in %d**" % bad) if bad else ("ok: " + ", ".join(checks) if checks else "ok")
            rel = ""
            if best_peer and v and tool not in self.references:
                rel = f"{v / best_peer:.2f}" if self.higher_is_better else f"{best_peer / v:.2f}"
            name = f"**{tool}**" if tool.startswith("nettool") else tool
            notes = sorted({s.note for s in ss if s.note})
            if notes:
                name += " (" + "; ".join(notes) + ")"
            lines.append("| " + " | ".join([name, fmt(v), rng, fmt(cpu, 2), fmt(rss / 1024 if rss else None, 1)]
                                           + ex + [str(len(ss)), bytes_col, rel]) + " |")
        if r:
            (ot, ov), (pt, pv), x = r
            better = "higher" if self.higher_is_better else "lower"
            lines += ["", f"nettool / best peer: **{x if self.higher_is_better else 1 / x:.2f}×** "
                          f"({ot} {fmt(ov)} vs {pt} {fmt(pv)} {self.unit}; {better} is better)"]
        lines += [""] + [f"- {n}" for n in self.notes] + [""]
        return "\n".join(lines)


def fmt(v, digits=None):
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    if digits is not None:
        return f"{v:.{digits}f}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def interleaved(tools, runs, warmup, run_once, table):
    """A B C, B C A, ... so slow drifts of the machine spread over every tool."""
    for tool in tools if warmup else []:
        s = run_once(tool)
        if not s.ok:  # a warm-up transfer is checked too
            table.add(tool, s)
    for r in range(runs):
        k = r % len(tools)
        for tool in tools[k:] + tools[:k]:
            s = run_once(tool)
            log(f"  {table.title.split(':')[0]} {tool}: {fmt(s.value)} {table.unit}"
                f"{'' if s.ok else '  BYTES WRONG: ' + s.note}")
            table.add(tool, s)


# ---------------------------------------------------------------- the suite


class Suite:
    def __init__(self, args):
        self.a = args
        self.nt = str(args.nettool)
        self.scratch = Path(args.scratch)
        self.tables = []
        self.limits = {}
        self.skipped = []

    # --- helpers
    def path(self, name):
        return self.scratch / name

    def errfile(self, name):
        return open(self.path(f"{name}.err"), "w")

    # ------------------------------------------------------------ physical limits
    def physical_limits(self):
        n = self.a.relay_bytes
        t0 = time.perf_counter()
        head = zero_source(n, 120)
        cat = Proc(["cat"], 120, stdin=head.popen.stdout)
        head.popen.stdout.close()
        head.wait(), cat.wait()
        secs = time.perf_counter() - t0
        self.limits["pipe"] = n / MiB / secs
        log(f"limit: dd | cat {self.limits['pipe']:.0f} MiB/s")
        if have("iperf3"):
            port = free_port()
            srv = Proc(["iperf3", "-s", "-1", "-B", "127.0.0.1", "-p", port], 60, stdout=subprocess.DEVNULL)
            try:
                wait_until(lambda: listening(port), 10, "iperf3 -s")
                out = self.path("iperf3.json")
                with open(out, "w") as f:
                    cli = Proc(["iperf3", "-c", "127.0.0.1", "-p", port, "-t", self.a.iperf_seconds, "-J"], 60,
                               stdout=f)
                    cli.wait()
                bps = json.loads(out.read_text())["end"]["sum_received"]["bits_per_second"]
                self.limits["iperf3"] = bps / 8 / MiB
                log(f"limit: iperf3 {self.limits['iperf3']:.0f} MiB/s")
            except (SuiteError, KeyError, ValueError) as e:
                log(f"iperf3 failed: {e}")
            finally:
                srv.stop()

    # ------------------------------------------------------------ 1. TCP relay
    def relay_commands(self, tool, port):
        if tool == "nettool":
            # -d (--recv-only), as nc -l reads no stdin here: with its default
            # half-close, a listener whose stdin is /dev/null would send FIN at once.
            return ([self.nt, "-v", "tcp-listen", "-d", "--host", "127.0.0.1", "-p", port],
                    [self.nt, "tcp-connect", "127.0.0.1", port])
        if tool == "nettool (copying)":
            return self.relay_commands("nettool", port)
        if tool == "nc":
            return (["nc", "-l", "127.0.0.1", port], ["nc", "-N", "127.0.0.1", port])
        if tool == "ncat":
            return (["ncat", "-l", "--recv-only", "127.0.0.1", port],
                    ["ncat", "--send-only", "127.0.0.1", port])
        if tool == "socat":
            return (["socat", "-u", f"TCP-LISTEN:{port},reuseaddr,bind=127.0.0.1", "STDOUT"],
                    ["socat", "-u", "STDIN", f"TCP:127.0.0.1:{port}"])
        # TLS: the same certificate for every server; nettool verifies it
        # (--tls-ca), ncat and socat are told not to (their defaults differ).
        cert, key = self.tls_files() if "tls" in tool or "ssl" in tool or "OPENSSL" in tool else (None, None)
        if tool == "nettool --tls":
            return ([self.nt, "-v", "tcp-listen", "-d", "--tls-cert", cert, "--tls-key", key, "--host", "127.0.0.1",
                     "-p", port],
                    [self.nt, "tcp-connect", "--tls-ca", cert, "127.0.0.1", port])
        if tool == "ncat --ssl":
            return (["ncat", "-l", "--ssl", "--ssl-cert", cert, "--ssl-key", key, "--recv-only", "127.0.0.1", port],
                    ["ncat", "--ssl", "--send-only", "127.0.0.1", port])
        if tool == "socat OPENSSL":
            return (["socat", "-u", f"OPENSSL-LISTEN:{port},reuseaddr,bind=127.0.0.1,cert={cert},key={key},verify=0",
                     "STDOUT"],
                    ["socat", "-u", "STDIN", f"OPENSSL:127.0.0.1:{port},verify=0"])
        raise ValueError(tool)

    def tls_files(self):
        """A self-signed EC certificate for 127.0.0.1, made once per run."""
        cert, key = self.path("tls-cert.pem"), self.path("tls-key.pem")
        if not cert.exists():
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                            "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                            "-addext", "subjectAltName=IP:127.0.0.1"],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return str(cert), str(key)

    def relay_once(self, tool, sink):
        if tool == IPERF3:
            return self.iperf3_once()
        n = self.a.relay_bytes
        port = free_port()
        lcmd, ccmd = self.relay_commands(tool, port)
        env = dict(os.environ, NETTOOL_NO_SPLICE="1") if "copying" in tool else None
        lerr = self.path("relay-listener.err")
        limit = max(60, n / (50 * MiB))
        with open(lerr, "w") as ef:
            if sink == "null":
                listener = Proc(lcmd, limit, stdout=subprocess.DEVNULL, stderr=ef, env=env, measure=True)
                counter = None
            else:
                listener = Proc(lcmd, limit, stdout=subprocess.PIPE, stderr=ef, env=env, measure=True)
                counter = Proc(["dd", "of=/dev/null", "bs=1M"], limit, stdin=listener.popen.stdout,
                               stderr=subprocess.PIPE)
                listener.popen.stdout.close()
        try:
            wait_until(lambda: listening(port), 10, f"{tool} listener on {port}")
        except SuiteError:
            listener.stop()
            raise
        t0 = time.perf_counter()
        head = zero_source(n, limit)
        conn = Proc(ccmd, limit, stdin=head.popen.stdout, env=env, measure=True)
        head.popen.stdout.close()
        conn.wait(), listener.wait()
        secs = time.perf_counter() - t0
        head.wait()
        ok, checks, note = True, "", ""
        if counter:
            dd_err = counter.popen.stderr.read().decode(errors="replace")
            counter.wait()
            m = re.search(r"^(\d+) bytes", dd_err, re.M)
            got = int(m.group(1)) if m else -1
            ok, checks = got == n, "counted"
            if not ok:
                note = f"{got} bytes arrived, {n} sent"
        text = lerr.read_text(errors="replace")
        if tool.startswith("nettool") and "tls" not in tool:  # with TLS its count includes the records' overhead
            m = re.search(r"received [^(]*\((\d+) bytes\)", text)
            got = int(m.group(1)) if m else -1
            ok = ok and got == n
            checks = checks or "own count"
            if got != n:
                note = f"listener says {got} bytes, {n} sent"
        elif not counter:
            checks = "exit codes"
        for p in (head, conn, listener):
            if p.code != 0 or p.timed_out:
                # ncat --ssl sometimes exits 1 after every byte has arrived (the peer's bare FIN
                # reads as "unexpected eof"); dd's count is what says the bytes are right.
                ok = False
                note = (note + "; " if note else "") + \
                    f"{p.argv[0]} exited {p.code}{' (timed out)' if p.timed_out else ''}"
        return Sample(n / MiB / secs, cpu=conn.cpu + listener.cpu,
                      rss_kib=max(conn.maxrss_kib, listener.maxrss_kib), ok=ok, check=checks, note=note)

    def iperf3_once(self):
        """One iperf3 stream of the relay's size over loopback, memory to
        memory: the limit the relay is held against, measured in the same
        interleaved rounds as the relays so the machine's drift hits both."""
        n = self.a.relay_bytes
        port = free_port()
        limit = max(60, n / (50 * MiB))
        srv = Proc(["iperf3", "-s", "-1", "-B", "127.0.0.1", "-p", port], limit, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, measure=True)
        try:
            wait_until(lambda: listening(port), 10, "iperf3 -s")
            out = self.path("iperf3.json")
            with open(out, "w") as f:
                cli = Proc(["iperf3", "-c", "127.0.0.1", "-p", port, "-n", n, "-J"], limit, stdout=f, measure=True)
                cli.wait()
            srv.wait()
            end = json.loads(out.read_text())["end"]
            got = end["sum_sent"]["bytes"]  # the receiver's sum leaves out its last partial interval
            rate = end["sum_received"]["bits_per_second"] / 8 / MiB
        except (SuiteError, KeyError, ValueError) as e:
            srv.stop()
            return Sample(None, ok=False, note=f"iperf3 failed: {e}")
        ok = got >= n and cli.code == 0
        return Sample(rate, cpu=cli.cpu + srv.cpu, rss_kib=max(cli.maxrss_kib, srv.maxrss_kib), ok=ok,
                      check="its own count", note="" if ok else f"{got} bytes sent of {n}")

    def relay(self):
        tools = ["nettool", "nettool (copying)", "nc", "ncat", "socat"]
        size = self.a.relay_bytes
        for sink, desc in (("null", "to /dev/null"), ("pipe", "to a pipe (`| dd of=/dev/null bs=1M`)")):
            # iperf3 runs in the same rounds (to /dev/null only: it has no pipe).
            references = (IPERF3,) if sink == "null" and have("iperf3") else ()
            t = Table(f"1. TCP relay {desc}", "MiB/s",
                      f"{ZERO_SOURCE} ({human(size)}) | connector → loopback TCP → listener {desc}. "
                      "Wall time from the connector's start to the exit of both; CPU = connector + listener; "
                      "peak RSS = the larger of the two.", references=references)
            interleaved(tools + list(references), self.a.runs, self.a.warmup,
                        lambda tool: self.relay_once(tool, sink), t)
            if sink == "null":
                t.notes.append("nettool skips write(2) to a /dev/null stdout; nc, ncat and socat write to it.")
            t.notes.append("`nettool (copying)` is nettool with `NETTOOL_NO_SPLICE=1`: the read/write path "
                           "used where splice(2) cannot be (a tty, a file, --crlf...).")
            best = max(t.median(x) or 0 for x in t.rows if x.startswith("nettool"))
            if t.median(IPERF3):
                t.notes.append(f"{IPERF3} is the limit, not a peer: one stream of the same {human(size)}, memory "
                               f"to memory, in the same rounds. nettool at **{best / t.median(IPERF3):.0%}** of it "
                               "(medians).")
            for k, v in self.limits.items():
                t.notes.append(f"nettool at {best / v:.0%} of the {limit_name(k)} ({v:,.0f} MiB/s, measured once "
                               "before the workloads)")
            self.tables.append(t)

    def tls_relay(self):
        tools = ["nettool --tls", "ncat --ssl", "socat OPENSSL"]
        size = self.a.relay_bytes
        t = Table("7. TLS relay to a pipe (`| dd of=/dev/null bs=1M`)", "MiB/s",
                  f"{ZERO_SOURCE} ({human(size)}) | connector → loopback TLS → listener → `dd`, which counts "
                  "the bytes. Wall time from the connector's start to the exit of both; CPU = connector + listener; "
                  "peak RSS = the larger of the two.")
        interleaved(tools, self.a.runs, self.a.warmup, lambda tool: self.relay_once(tool, "pipe"), t)
        t.notes.append("Each side negotiates its OpenSSL default (TLS 1.3, TLS_AES_256_GCM_SHA384 here); nettool "
                       "verifies the certificate (--tls-ca), ncat and socat are run without verification.")
        t.notes.append("Target (issue 13): >= 1.5x the best of ncat --ssl and socat OPENSSL, at most their CPU.")
        t.notes.append("ncat 7.93 --ssl --send-only now and then loses the last few hundred KiB: its listener then "
                       "reports an SSL_read error and exits 1, and `dd` counts fewer bytes (marked WRONG; in 1 to 2 "
                       "runs in 3 here). Such a peer row is reported, not counted as a suite failure.")
        self.tables.append(t)

    # ------------------------------------------------------------ HTTP servers
    def www(self):
        d = self.path("www")
        if getattr(self, "_www", None):
            return d
        d.mkdir(exist_ok=True)
        big = d / "big.bin"
        n = self.a.file_bytes
        if not big.exists() or big.stat().st_size != n:
            with open(big, "wb") as f:
                left = n
                while left:
                    k = min(left, 4 * MiB)
                    f.write(os.urandom(k))
                    left -= k
        (d / "small.bin").write_bytes(os.urandom(4096))
        self.big_sha = sha256_file(big)  # also warms the page cache
        self.small = (d / "small.bin").read_bytes()
        self._www = True
        return d

    def start_server(self, kind, workers=1, tls=False):
        """Starts one HTTP server on 127.0.0.1 (HTTPS with `tls`, on the
        tls_files() certificate); returns (Proc, port)."""
        www = self.www()
        name = kind.replace(" ", "-") + ("-tls" if tls else "")
        err = self.errfile(f"server-{name}")
        cert, key = self.tls_files() if tls else (None, None)
        if kind.startswith("nettool"):
            # -q (no access log) also hides the 'listening on' line: pick the port here.
            # "nettool (access log)" keeps the default log, written to its stderr file.
            port = free_port()
            quiet = ["-q"] if "access log" not in kind else []
            argv = [self.nt, *quiet, "file-serve", "--root", www, "--listen", f"127.0.0.1:{port}"]
            if "no digest" in kind:  # offers no Repr-Digest, so file-get has nothing to verify
                argv += ["--digest", "off"]
            if workers > 1:
                argv += ["--workers", workers]
            if tls:
                argv += ["--tls-cert", cert, "--tls-key", key]
            p = Proc(argv, 3600, stderr=err)
        elif kind.startswith("nginx"):
            port = free_port()
            d = self.path(f"nginx-{workers}{'-tls' if tls else ''}")
            # Debian 12's nginx 1.22 leaves TLS 1.3 out of its default ssl_protocols: name it, so both
            # servers do the same handshake.
            listen = (f"127.0.0.1:{port} ssl; ssl_certificate {cert}; ssl_certificate_key {key}; "
                      "ssl_protocols TLSv1.2 TLSv1.3") if tls \
                else f"127.0.0.1:{port}"
            (d / "tmp").mkdir(parents=True, exist_ok=True)
            conf = d / "nginx.conf"
            conf.write_text(f"""worker_processes {workers};
pid {d}/nginx.pid;
error_log {d}/error.log warn;
worker_rlimit_nofile 8192;
events {{ worker_connections 4096; }}
http {{
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    server {{ listen {listen}; root {www}; }}
}}
""")
            p = Proc([shutil.which("nginx") or "/usr/sbin/nginx", "-p", f"{d}/", "-e", f"{d}/error.log", "-c",
                      conf, "-g", "daemon off;"], 3600, stderr=err)
        elif kind == "lighttpd":
            port = free_port()
            conf = self.path("lighttpd.conf")
            conf.write_text(f"""server.document-root = "{www}"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{self.path('lighttpd.error.log')}"
server.max-fds = 8192
server.max-connections = 4096
server.network-backend = "sendfile"
mimetype.assign = ( "" => "application/octet-stream" )
""")
            p = Proc([shutil.which("lighttpd") or "/usr/sbin/lighttpd", "-D", "-f", conf], 3600, stderr=err)
        elif kind == "python":
            port = free_port()
            p = Proc([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", www, port],
                     3600, stderr=err)
        else:
            raise ValueError(kind)
        try:
            wait_until(lambda: listening(port), 10, f"{kind} on port {port}")
        except SuiteError:
            p.stop()
            raise SuiteError(f"{kind} did not start: {self.path(f'server-{name}.err').read_text()[-400:]}")
        if kind.startswith("nginx"):  # wait for its workers too
            wait_until(lambda: len(proc_tree(p.pid)) > workers, 10, "nginx workers")
        return p, port

    def servers(self, kinds, tls=False):
        out = {}
        for k in kinds:
            try:
                out[k] = self.start_server(k, tls=tls)
            except SuiteError as e:
                log(f"skipping {k}: {e}")
                self.skipped.append(f"{k}: {e}")
        return out

    def stop_servers(self, servers):
        for p, _ in servers.values():
            p.stop()

    # ------------------------------------------------------------ 2. one big file
    def file_once(self, tool, servers, tls=False):
        out = self.path("download.out")
        for leftover in (out, Path(str(out) + ".part")):
            leftover.unlink(missing_ok=True)
        # Whatever an earlier download left for the kernel to write back is
        # written now, not during this one's timing.
        os.sync()
        n = self.a.file_bytes
        limit = max(60, n / (20 * MiB))
        server_pids, cpu0 = [], 0
        err = self.errfile("client")
        if tool == "nc":
            port = free_port()
            with open(self.path("www/big.bin"), "rb") as src:
                srv = Proc(["nc", "-N", "-l", "127.0.0.1", port], limit, stdin=src, measure=True)
            wait_until(lambda: listening(port), 10, "nc -l")
            t0 = time.perf_counter()
            with open(out, "wb") as f:
                cli = Proc(["nc", "-d", "127.0.0.1", port], limit, stdout=f, stderr=err, measure=True)
                cli.wait()
            secs = time.perf_counter() - t0
            srv.wait()
            cpu = cli.cpu + srv.cpu
            rss = max(cli.maxrss_kib, srv.maxrss_kib)
            codes = [cli.code, srv.code]
        else:
            server, client = tool.split(" + ")
            p, port = servers[server]
            url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/big.bin"
            ca = ["--tls-ca", self.tls_files()[0]] if tls else []
            if client == "file-get":
                argv = [self.nt, "-q", "file-get", *ca, url, "-o", out]
            elif client.startswith("file-get "):
                argv = [self.nt, "-q", "file-get", *ca, *client.split()[1:], url, "-o", out]
            else:
                argv = ["curl", "-sS", *(["--cacert", self.tls_files()[0]] if tls else []), "-o", out, url]
            server_pids = proc_tree(p.pid)
            cpu0 = cpu_seconds(server_pids)
            t0 = time.perf_counter()
            cli = Proc(argv, limit, stderr=err, measure=True)
            cli.wait()
            secs = time.perf_counter() - t0
            cpu = cli.cpu + cpu_seconds(server_pids) - cpu0
            rss = cli.maxrss_kib
            codes = [cli.code]
        ok = all(c == 0 for c in codes) and out.exists() and sha256_file(out) == self.big_sha
        note = "" if ok else f"exit {codes}, {out.stat().st_size if out.exists() else 'no'} bytes / sha mismatch"
        out.unlink(missing_ok=True)
        return Sample(n / MiB / secs, cpu=cpu, rss_kib=rss, ok=ok, check="sha256", note=note)

    def file(self):
        self.www()
        servers = self.servers(["nettool", "nginx", "lighttpd", "python"])
        tools = []
        if "nettool" in servers:
            tools += ["nettool + file-get"]
            if self.file_get_has("--no-fsync"):
                tools += ["nettool + file-get --no-fsync"]
            tools += ["nettool + curl"]
        tools += [f"{s} + curl" for s in ("nginx", "lighttpd", "python") if s in servers]
        tools += ["nc"]
        t = Table(f"2. One {human(self.a.file_bytes)} file to disk", "MiB/s",
                  f"A warm {human(self.a.file_bytes)} file of random bytes served on 127.0.0.1 and written to "
                  f"a file on {fs_of(self.scratch)} (`{self.scratch}`). Wall time of the client; CPU = client "
                  "+ the server's growth in CPU time; peak RSS = the client's. Every download's SHA-256 is checked.",
                  ours="nettool + file-get", also_vs=("nc",))
        try:
            interleaved(tools, self.a.runs, self.a.warmup, lambda tool: self.file_once(tool, servers), t)
        finally:
            self.stop_servers(servers)
        t.notes.append("file-get verifies the server's Repr-Digest (SHA-256), writes FILE.part and renames it "
                       "when complete; curl and nc just write.")
        if any("--no-fsync" in x for x in t.rows):
            t.notes.append("file-get fsyncs the file before the rename by default; `--no-fsync` skips that, "
                           "as curl and nc always do.")
        t.notes.append("`nettool + curl` isolates the server: file-serve with the same client as the other servers.")
        self.tables.append(t)

    def file_get_has(self, flag):
        r = subprocess.run([self.nt, "file-get", "--help"], capture_output=True, text=True, timeout=10)
        return flag in r.stdout

    # ------------------------------------------------------------ 3. small files
    def wrk_once(self, tool, servers, tls=False, close=False):
        """wrk against one server: keep-alive, or (`close`) a new connection
        (and with `tls` a full handshake) per request."""
        p, port = servers[tool]
        pids = proc_tree(p.pid)
        # One worker against one wrk thread: the server on the first CPU and
        # wrk on the second, for every server alike. Left to the scheduler,
        # the two sometimes shared a core, and one tool's three runs spread
        # by up to 25% (bench/PROFILES.md, table 3, seventeenth session).
        all_cpus = os.sched_getaffinity(0)
        pin = self.a.wrk_threads == 1 and len(all_cpus) >= 2
        first, second = sorted(all_cpus)[:2] if pin else (None, None)
        if pin:
            set_affinity(pids, {first})
        cpu0 = cpu_seconds(pids)
        out = self.path("wrk.out")
        try:
            with open(out, "w") as f:
                w = Proc([*(["taskset", "-c", str(second)] if pin else []),
                          "wrk", f"-t{self.a.wrk_threads}", "-c100", f"-d{self.a.wrk_seconds}s",
                          *(["-H", "Connection: close"] if close else []),
                          f"{'https' if tls else 'http'}://127.0.0.1:{port}/small.bin"], self.a.wrk_seconds + 60,
                         stdout=f, stderr=subprocess.STDOUT)
                w.wait()
        finally:
            if pin:
                set_affinity(proc_tree(p.pid), all_cpus)
        cpu = cpu_seconds(pids) - cpu0
        text = out.read_text()
        m = re.search(r"Requests/sec:\s+([\d.]+)", text)
        rate = float(m.group(1)) if m else 0.0
        m = re.search(r"(\d+) requests in", text)
        total = int(m.group(1)) if m else 0
        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
        errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
        nerr = sum(int(x) for x in errs.groups()) if errs else 0
        # wrk does not look at bodies: fetch the file once on a fresh connection.
        if tls:
            r = subprocess.run(["curl", "-sS", "--cacert", self.tls_files()[0],
                                f"https://127.0.0.1:{port}/small.bin"], capture_output=True, timeout=30)
            body_ok = r.stdout == self.small
        else:
            # ncat --sh-exec never passes nginx's close on: the read ends at the timeout.
            body_ok = http_get(port, "/small.bin", timeout=2) == self.small
        ok = w.code == 0 and body_ok and not bad and rate > 0
        if tool.startswith("nettool") and nerr:
            ok = False  # our own server must not drop connections
        note = ""
        if bad:
            note = f"{bad.group(1)} non-2xx"
        elif not body_ok:
            note = "body differs"
        elif nerr:
            note = f"{nerr} socket errors"
        rss = max(status_kib(x, "VmHWM") for x in pids) if pids else None
        return Sample(rate, cpu=cpu, rss_kib=rss, ok=ok, check="body of a GET", note=note,
                      extra={"server µs CPU/req": cpu / total * 1e6 if total else None})

    def small_files(self):
        kinds = ["nettool", "nettool (access log)", "nginx", "lighttpd", "python"]
        servers = self.servers(kinds)
        t = Table("3. Small files: 4 KiB GETs", "requests/s",
                  f"`wrk -t{self.a.wrk_threads} -c100 -d{self.a.wrk_seconds}s` GETs of one 4 KiB file. "
                  "Servers: one worker (thread/process), access log off, sendfile on; the server pinned to "
                  "the first CPU and wrk to the second. CPU = the server's "
                  "(wrk's own CPU is not counted); peak RSS = the server's VmHWM so far.", also_vs=("nginx",))
        try:
            interleaved([k for k in kinds if k in servers], self.a.runs, self.a.warmup,
                        lambda tool: self.wrk_once(tool, servers), t)
        finally:
            self.stop_servers(servers)
        t.notes.append("file-serve runs with -q (no access log), as the other servers run with theirs off; "
                       "`nettool (access log)` is its default, a line per request written to a file.")
        t.notes.append("python is `python3 -m http.server` (a thread per connection).")
        self.tables.append(t)
        if self.file_serve_has("--workers") and os.cpu_count() > 1:
            self.scaling()

    def file_serve_has(self, flag):
        r = subprocess.run([self.nt, "file-serve", "--help"], capture_output=True, text=True, timeout=10)
        return flag in r.stdout

    def scaling(self):
        n = os.cpu_count()
        servers = {}
        for kind in ("nettool", "nginx"):
            try:
                servers[f"{kind} ×{n}"] = self.start_server(kind, workers=n)
            except SuiteError as e:
                self.skipped.append(f"{kind} with {n} workers: {e}")
        t = Table(f"3b. Small files with {n} workers", "requests/s",
                  f"As 3, with `file-serve --workers {n}` (SO_REUSEPORT, a loop per thread) against nginx "
                  f"with `worker_processes {n}`; wrk with {n} threads. On a machine with {n} cores wrk competes "
                  "with the server for them.")
        saved = self.a.wrk_threads
        self.a.wrk_threads = n
        try:
            interleaved(list(servers), self.a.runs, self.a.warmup, lambda tool: self.wrk_once(tool, servers), t)
        finally:
            self.a.wrk_threads = saved
            self.stop_servers(servers)
        self.tables.append(t)

    # ------------------------------------------------------------ 4. idle scale
    def idle_once(self, tool, tls=False):
        n = self.a.idle_conns
        out = self.path("idle.out")
        err = self.errfile(f"idle-{tool}")
        if tool == "nettool tcp-listen -k":
            port = free_port()
            with open(out, "wb") as f:
                p = Proc([self.nt, "-q", "tcp-listen", "-k", "--max-clients", n + 10, "--host", "127.0.0.1",
                          "-p", port], 120, stdout=f, stderr=err)
            wait_until(lambda: listening(port), 10, "tcp-listen")
        else:
            p, port = self.start_server(tool.split()[0], tls=tls)
        pids = proc_tree(p.pid)
        conns = []
        ctx = ssl.create_default_context(cafile=self.tls_files()[0]) if tls else None
        try:
            for _ in range(n):
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                if ctx:
                    s = ctx.wrap_socket(s, server_hostname="127.0.0.1")  # the handshake, here
                conns.append(s)
            wait_until(lambda: accepted_connections(proc_tree(p.pid), port) >= n, 20,
                       f"{tool} to accept {n} connections")
            time.sleep(0.5)
            cpu0 = cpu_seconds(pids)
            time.sleep(self.a.idle_seconds)
            idle_cpu = cpu_seconds(pids) - cpu0
            rss = sum(status_kib(x, "VmRSS") for x in pids[-1:])  # the worker (nginx) or the process
            # Then every connection does some work, and it must all arrive.
            ok, note = True, ""
            if tool == "nettool tcp-listen -k":
                for i, s in enumerate(conns):
                    s.sendall(b"line %d\n" % i)
                for s in conns:
                    s.close()
                conns = []
                try:
                    wait_until(lambda: out.stat().st_size >= sum(len(b"line %d\n" % i) for i in range(n)), 20,
                               "every line")
                except SuiteError:
                    pass
                lines = out.read_bytes().splitlines()
                ok = sorted(lines) == sorted(b"line %d" % i for i in range(n))
                check = f"{n} lines"
                if not ok:
                    note = f"{len(lines)} of {n} lines arrived"
            else:
                req = b"GET /small.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                good = 0
                for s in conns:
                    s.sendall(req)
                for s in conns:
                    if read_response(s).endswith(self.small):
                        good += 1
                ok = good == n
                check = f"{n} GETs"
                if not ok:
                    note = f"{good} of {n} GETs right"
            hwm = sum(status_kib(x, "VmHWM") for x in pids[-1:])
        finally:
            for s in conns:
                s.close()
            p.stop()
        return Sample(rss / 1024, cpu=idle_cpu, rss_kib=hwm, ok=ok, check=check, note=note)

    def idle(self):
        self.www()
        tools = ["nettool tcp-listen -k", "nettool file-serve", "nginx"]
        t = Table(f"4. {self.a.idle_conns:,} idle connections", "server RSS MiB",
                  f"{self.a.idle_conns:,} connections opened and left idle for {self.a.idle_seconds} s. Value = "
                  "the server's VmRSS while they are idle (nginx: its worker); CPU = the server's over the idle "
                  "period; peak RSS = VmHWM after every connection then sent a line (tcp-listen) or a GET "
                  "(file-serve, nginx) — all of which are checked.", higher_is_better=False)
        interleaved(tools, self.a.runs, False, self.idle_once, t)
        t.notes.append("Target: server RSS < 16 MiB with 1,000 idle connections.")
        self.tables.append(t)

    # ------------------------------------------------------------ 8-11. HTTPS
    def https(self):
        """file-serve --tls-cert against nginx `listen ... ssl`, one worker
        each, on the same EC P-256 certificate."""
        self.www()
        cert = self.tls_files()[0]
        servers = self.servers(["nettool", "nettool (no digest)", "nginx"], tls=True)
        try:
            tools = []
            if "nettool" in servers:
                tools += ["nettool + file-get", "nettool + file-get --no-fsync", "nettool + curl"]
            if "nettool (no digest)" in servers:
                tools += [NO_DIGEST_DOWNLOAD]
            if "nginx" in servers:
                tools += ["nginx + curl"]
            t = Table(f"8. HTTPS: one {human(self.a.file_bytes)} file to disk", "MiB/s",
                      f"As 2, over TLS (file-get --tls-ca / curl --cacert on the server's certificate).",
                      ours="nettool + file-get", also_vs=("nginx + curl",))
            interleaved(tools, self.a.runs, self.a.warmup, lambda tool: self.file_once(tool, servers, tls=True), t)
            t.notes.append("Target (issue 13): file-serve + file-get >= 1.0x nginx + curl.")
            like, peer = t.median(NO_DIGEST_DOWNLOAD), t.median("nginx + curl")
            if like and peer:
                t.notes.append(f"file-get verifies file-serve's Repr-Digest (SHA-256); curl verifies nothing. "
                               f"Like for like, `{NO_DIGEST_DOWNLOAD}` (file-serve --digest off: nothing to "
                               f"verify, so nothing is hashed) is **{like / peer:.2f}×** nginx + curl.")
            t.notes.append("file-serve encrypts through OpenSSL, reading the file 64 KiB at a time; this kernel "
                           "has no `tls` module, so --tls-ktls (kernel TLS + sendfile) is not measured.")
            self.tables.append(t)
            kinds = [k for k in ("nettool", "nginx") if k in servers]
            for number, close, what in (("9.", False, "keep-alive"),
                                        ("10", True, "a new connection (full handshake) per request")):
                header = ' -H "Connection: close"' if close else ""
                t = Table(f"{number} HTTPS 4 KiB GETs, {what}", "requests/s",
                          f"`wrk -t{self.a.wrk_threads} -c100 -d{self.a.wrk_seconds}s{header}` over TLS 1.3, one "
                          "worker each, access log off; the server pinned to the first CPU and wrk to the "
                          "second. CPU = the server's.", also_vs=("nginx",))
                interleaved(kinds, self.a.runs, self.a.warmup,
                            lambda tool: self.wrk_once(tool, servers, tls=True, close=close), t)
                t.notes.append("Target (issue 13): >= 0.9x nginx.")
                self.tables.append(t)
        finally:
            self.stop_servers(servers)
        t = Table(f"11. {self.a.idle_conns:,} idle TLS connections", "server RSS MiB",
                  f"As 4, with every connection's TLS handshake done (python's ssl, verifying {Path(cert).name}) "
                  "before it idles; then each sends a GET, all checked.", higher_is_better=False)
        interleaved(["nettool file-serve", "nginx"], self.a.runs, False,
                    lambda tool: self.idle_once(tool, tls=True), t)
        self.tables.append(t)

    # ------------------------------------------------------------ 12-13. forwarding
    def forwarder(self, tool, port, target_port):
        """Starts a forwarder from 127.0.0.1:port to target_port; returns its Proc."""
        err = self.errfile(f"forward-{tool.split()[0]}")
        if tool == "nettool tcp-forward":
            argv = [self.nt, "-q", "tcp-forward", "127.0.0.1", port, "127.0.0.1", target_port]
        elif tool == "socat fork":
            argv = ["socat", f"TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr", f"TCP:127.0.0.1:{target_port}"]
        elif tool == "ncat --sh-exec":
            argv = ["ncat", "-l", "-k", "--max-conns", "1000", "127.0.0.1", port, "--sh-exec",
                    f"ncat 127.0.0.1 {target_port}"]
        else:
            raise ValueError(tool)
        p = Proc(argv, 3600, stderr=err)
        wait_until(lambda: listening(port), 10, f"{tool} on {port}")
        return p

    def forward_once(self, tool):
        """The same fast ends for every forwarder, so that the forwarder is
        what differs: tcp-connect splices stdin into the socket, and the
        target drops what arrives in the kernel and counts it (-v)."""
        n = self.a.relay_bytes
        limit = max(60, n / (50 * MiB))
        target_port, port = free_port(), free_port()
        terr = self.path("forward-target.err")
        with open(terr, "w") as ef:
            target = Proc([self.nt, "-v", "tcp-listen", "-d", "--host", "127.0.0.1", "-p", target_port], limit,
                          stdout=subprocess.DEVNULL, stderr=ef)
        wait_until(lambda: listening(target_port), 10, "tcp-listen target")
        fwd = self.forwarder(tool, port, target_port)
        try:
            pids = proc_tree(fwd.pid)
            cpu0 = cpu_seconds(pids)
            t0 = time.perf_counter()
            head = zero_source(n, limit)
            sender = Proc([self.nt, "tcp-connect", "127.0.0.1", port], limit, stdin=head.popen.stdout)
            head.popen.stdout.close()
            sender.wait(), target.wait()
            secs = time.perf_counter() - t0
            cpu = cpu_seconds(proc_tree(fwd.pid)) - cpu0
            head.wait()
        finally:
            fwd.stop()
        m = re.search(r"received [^(]*\((\d+) bytes\)", terr.read_text(errors="replace"))
        got = int(m.group(1)) if m else -1
        ok = got == n and sender.code == 0 and target.code == 0
        return Sample(n / MiB / secs, cpu=cpu, ok=ok, check="target's count",
                      note="" if ok else f"{got} bytes sent of {n}")

    def forward_wrk_once(self, tool, nginx_port, close):
        port = free_port()
        fwd = self.forwarder(tool, port, nginx_port)
        try:
            pids = proc_tree(fwd.pid)
            cpu0 = cpu_seconds(pids)
            out = self.path("wrk-forward.out")
            with open(out, "w") as f:
                w = Proc(["wrk", f"-t{self.a.wrk_threads}", f"-c{self.a.forward_wrk_conns}", f"-d{self.a.wrk_seconds}s",
                          *(["-H", "Connection: close"] if close else []),
                          f"http://127.0.0.1:{port}/small.bin"], self.a.wrk_seconds + 60, stdout=f,
                         stderr=subprocess.STDOUT)
                w.wait()
            cpu = cpu_seconds(proc_tree(fwd.pid)) - cpu0
            # ncat --sh-exec never passes nginx's close on: the read ends at the timeout.
            body_ok = http_get(port, "/small.bin", timeout=2) == self.small
        finally:
            fwd.stop(grace=1.0)  # measured already: waiting out its graceful stop measures nothing
        text = out.read_text()
        m = re.search(r"Requests/sec:\s+([\d.]+)", text)
        rate = float(m.group(1)) if m else 0.0
        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
        ok = w.code == 0 and body_ok and not bad and rate > 0
        return Sample(rate, cpu=cpu, ok=ok, check="body of a GET", note="" if ok else "wrong or failed responses")

    def forward_idle_once(self, tool):
        """n connections through the forwarder to tcp-listen -k, left idle: the
        forwarder's memory, all its processes together; then each carries a
        line, and every line must reach the target."""
        n = self.a.forward_idle_conns
        target_port, port = free_port(), free_port()
        out = self.path("forward-idle.out")
        with open(out, "wb") as f:
            target = Proc([self.nt, "-q", "tcp-listen", "-k", "--max-clients", n + 10, "--host", "127.0.0.1",
                           "-p", target_port], 300, stdout=f, stderr=self.errfile("forward-idle-target"))
        wait_until(lambda: listening(target_port), 10, "tcp-listen target")
        fwd = self.forwarder(tool, port, target_port)
        conns, lines, pids, pss, rss = [], [], [], 0, 0
        try:
            for _ in range(n):
                conns.append(socket.create_connection(("127.0.0.1", port), timeout=10))
            wait_until(lambda: accepted_connections(proc_tree(target.pid), target_port) >= n, 60,
                       f"{n} connections through {tool}")
            time.sleep(0.5)
            pids = proc_tree(fwd.pid)
            pss = sum(rollup_kib(x, "Pss") for x in pids)
            rss = sum(status_kib(x, "VmRSS") for x in pids)
            for i, s in enumerate(conns):
                s.sendall(b"line %d\n" % i)
            for s in conns:
                s.close()
            conns = []
            expected = sorted(b"line %d" % i for i in range(n))
            try:
                wait_until(lambda: out.stat().st_size >= sum(len(x) + 1 for x in expected), 30, "every line")
            except SuiteError:
                pass
            lines = sorted(out.read_bytes().splitlines())
        finally:
            for s in conns:
                s.close()
            # Measured already: the forwarders hold their connections up to a
            # grace period on SIGTERM, and waiting it out measures nothing.
            fwd.stop(grace=1.0)
            target.stop(grace=1.0)
        ok = lines == expected
        return Sample(pss / 1024, ok=ok, check=f"{n} lines", note="" if ok else f"{len(lines)} of {n} lines arrived",
                      extra={"RSS sum MiB": round(rss / 1024, 1), "processes": len(pids)})

    def forward(self):
        self.www()
        tools = ["nettool tcp-forward", "socat fork", "ncat --sh-exec"]
        t = Table(f"12. TCP forwarding, {human(self.a.relay_bytes)}", "MiB/s",
                  f"{ZERO_SOURCE} ({human(self.a.relay_bytes)}) | `nettool tcp-connect` → forwarder → "
                  "`nettool tcp-listen -d > /dev/null`, which counts the bytes: the same ends (both zero-copy) "
                  "for every forwarder. Wall time from the sender's start to the target's exit; CPU = the "
                  "forwarder's (with every process it forked).")
        interleaved(tools, self.a.runs, self.a.warmup, self.forward_once, t)
        t.notes.append("Target (issue 14): >= 2x the best of socat TCP-LISTEN,fork and ncat --sh-exec.")
        self.tables.append(t)
        n = self.a.forward_idle_conns
        t = Table(f"15. {n:,} idle forwarded connections", "forwarder PSS MiB",
                  f"{n:,} connections through the forwarder to `nettool tcp-listen -k`, left idle. Value = the "
                  "proportional set size (PSS: shared pages divided among the processes that share them) of "
                  "the forwarder and every process it forked, summed; RSS sum counts shared pages in each. "
                  "Then every connection sends a line, and all must reach the target.", higher_is_better=False)
        # Once: memory barely moves between runs, and ncat --sh-exec forks
        # 3,000 processes per run (a third of the full suite's time at 3 runs).
        interleaved(tools, 1, False, self.forward_idle_once, t)
        t.notes.append("Measured once (the other tables: the median of --runs): PSS barely moves between runs.")
        self.tables.append(t)
        servers = self.servers(["nginx"])
        if "nginx" not in servers:
            return
        try:
            nginx_port = servers["nginx"][1]
            for number, close, what in (("13", True, "a new connection per request"), ("14", False, "keep-alive")):
                header = ' -H "Connection: close"' if close else ""
                t = Table(f"{number} 4 KiB GETs through a forwarder to nginx, {what}", "requests/s",
                          f"`wrk -t{self.a.wrk_threads} -c{self.a.forward_wrk_conns} -d{self.a.wrk_seconds}s{header}` → forwarder → "
                          "nginx (one worker). CPU = the forwarder's.", also_vs=("socat fork",))
                interleaved(tools, self.a.runs, self.a.warmup,
                            lambda tool: self.forward_wrk_once(tool, nginx_port, close), t)
                t.notes.append("Target (issue 14): >= 1.5x socat.")
                self.tables.append(t)
        finally:
            self.stop_servers(servers)

    # ------------------------------------------------------------ 5. UDP
    @staticmethod
    def records(size, count):
        """count records of `size` bytes: a sequence number, then bytes that
        depend on it, so a reader can tell a damaged or foreign datagram."""
        filler = b"\x5a" * (size - 16)
        return b"".join(i.to_bytes(8, "big") + (i * 0x9E3779B97F4A7C15 % (1 << 64)).to_bytes(8, "big") + filler
                        for i in range(count))

    def udp_once(self, tool, size, count, data_path, expect):
        port = free_port(socket.SOCK_DGRAM)
        out = self.path("udp.out")
        limit = 120
        rcvbuf = 4 * MiB
        with open(out, "wb") as f:
            if tool == "nettool":
                rcv = Proc([self.nt, "-q", "udp-listen", "--count", count, "-i", "3s", "--host", "127.0.0.1",
                            "-p", port], limit, stdout=f, measure=True)
            elif tool == "socat":
                rcv = Proc(["socat", "-u", "-b", "65536", f"UDP-RECV:{port},bind=127.0.0.1,rcvbuf={rcvbuf}", "-"],
                           limit, stdout=f, measure=True)
            else:
                rcv = Proc(["nc", "-d", "-u", "-l", "-I", rcvbuf, "127.0.0.1", port], limit, stdout=f,
                           measure=True)
        wait_until(lambda: udp_bound(port), 10, f"{tool} receiver on UDP {port}")
        t0 = time.perf_counter()
        if tool == "nettool":
            with open(data_path, "rb") as src:
                snd = Proc([self.nt, "-q", "udp-send", "--chunk", size, "127.0.0.1", port], limit, stdin=src,
                           measure=True)
                snd.wait()
        elif tool == "socat":
            snd = Proc(["socat", "-u", "-b", size, f"OPEN:{data_path}", f"UDP-SENDTO:127.0.0.1:{port}"], limit,
                       measure=True)
            snd.wait()
        else:  # nc sends one datagram per read(2): feed it one record per read through a SEQPACKET socket
            a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * MiB)
            snd = Proc(["nc", "-u", "-q", "0", "127.0.0.1", port], limit, stdin=b, measure=True)
            b.close()
            view = memoryview(Path(data_path).read_bytes())
            try:
                for i in range(0, len(view), size):
                    a.send(view[i:i + size])
            except OSError:
                pass
            a.close()
            snd.wait()
        secs = time.perf_counter() - t0
        # The receiver is done when it has everything or after a second without growth.
        last, still, deadline = -1, 0, time.monotonic() + 30
        while time.monotonic() < deadline and rcv.running():
            now = out.stat().st_size
            if now >= count * size:
                break
            still = still + 1 if now == last else 0
            last = now
            if still >= 20:
                break
            time.sleep(0.05)
        rcv.stop()
        got = out.read_bytes()
        ok, note = check_records(got, size, count, expect)
        received = len(got) // size
        loss = 100.0 * (count - received) / count
        cpu = snd.cpu + rcv.cpu
        return Sample(received / secs, cpu=cpu, rss_kib=max(snd.maxrss_kib, rcv.maxrss_kib), ok=ok,
                      check="sequence + content", note=note,
                      extra={"sent/s": count / secs, "loss %": loss})

    def udp(self):
        for size, count in ((64, self.a.udp_small), (1400, self.a.udp_large)):
            data = self.path(f"udp-{size}.bin")
            recs = self.records(size, count)
            data.write_bytes(recs)
            t = Table(f"5. UDP: {count:,} datagrams of {size} bytes", "delivered/s",
                      f"udp-send → udp-listen, socat → socat, nc → nc on 127.0.0.1 (receive buffers 4 MiB "
                      f"asked; net.core.rmem_max = {read_int('/proc/sys/net/core/rmem_max')}). delivered/s = "
                      "datagrams received / sender's wall time; every received datagram is checked (sequence "
                      "number increasing, content intact).")
            interleaved(["nettool", "socat", "nc"], self.a.runs, self.a.warmup,
                        lambda tool: self.udp_once(tool, size, count, data, recs), t)
            t.notes.append("nc sends one datagram per read(2), so it is fed one record per read through a "
                           "SOCK_SEQPACKET socket by this script (whose own CPU is not counted).")
            self.tables.append(t)

    # ------------------------------------------------------------ 6. start-up
    def startup(self):
        if not have("hyperfine"):
            self.skipped.append("start-up: hyperfine is not installed")
            return
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(512)
        port = srv.getsockname()[1]
        stop = threading.Event()

        def accept_and_close():
            srv.settimeout(0.2)
            while not stop.is_set():
                try:
                    c, _ = srv.accept()
                    c.close()
                except OSError:
                    pass

        th = threading.Thread(target=accept_and_close, daemon=True)
        th.start()
        try:
            cmds = {
                "nettool --version": f"{self.nt} --version",
                "nc -h": "nc -h",
                "socat -V": "socat -V",
                "ncat --version": "ncat --version",
                "nettool tcp-connect --zero": f"{self.nt} tcp-connect --zero 127.0.0.1 {port}",
                # The same line through the front end and the plugin (a reference row, not compared):
                # `env` is one more exec(2), about 0.5 ms of the figure.
                FRONT_END_ZERO: f"env NETTOOL_NO_QUICK_CHECK=1 {self.nt} tcp-connect --zero 127.0.0.1 {port}",
                "nc -z": f"nc -z 127.0.0.1 {port}",
                "ncat -z": f"ncat -z 127.0.0.1 {port}",
            }
            cmds = {k: v for k, v in cmds.items() if have(v.split()[0])}
            js = self.path("hyperfine.json")
            args = ["hyperfine", "-N", "-i", "-w", "10", "-r", self.a.startup_runs, "--export-json", js, "--style",
                    "none"]
            for name, cmd in cmds.items():
                args += ["-n", name, cmd]
            h = Proc(args, 300, stdout=subprocess.DEVNULL, stderr=self.errfile("hyperfine"))
            h.wait()
            results = json.loads(js.read_text())["results"]
        finally:
            stop.set()
            th.join(2)
            srv.close()
        for title, names in (("6a. Start-up: print the version", ["nettool --version", "nc -h", "socat -V",
                                                                    "ncat --version"]),
                             ("6b. Start-up: test one open port", ["nettool tcp-connect --zero", FRONT_END_ZERO,
                                                                   "nc -z", "ncat -z"])):
            t = Table(title, "ms", "`hyperfine -N` (no shell), mean of the runs; CPU ms = user+sys per run; "
                      "value in milliseconds, lower is better. The port belongs to a listener in this script.",
                      higher_is_better=False, references=(FRONT_END_ZERO,))
            for r in results:
                if r["command"] in names:
                    ok = r["command"].endswith("-h") or all(c == 0 for c in r.get("exit_codes", [0]))
                    t.add(r["command"], Sample(r["mean"] * 1000, ok=ok, check="exit codes",
                                               extra={"σ ms": r["stddev"] * 1000,
                                                      "CPU ms": (r["user"] + r["system"]) * 1000}))
            t.notes.append(f"{self.a.startup_runs} runs each after 10 warm-up runs. `nc -h` exits 1 and ncat -z "
                           "may too on old versions; their exit codes are not held against them.")
            if title.startswith("6b"):
                t.notes.append("The `nettool` executable answers `tcp-connect -z ADDRESS PORT` itself, mapping libc "
                               "only (cli/quick_port_check.cpp); the reference row is the same line through the front "
                               "end, its libraries and the plugin (`NETTOOL_NO_QUICK_CHECK=1`, started through `env`).")
            self.tables.append(t)

    # ------------------------------------------------------------ report
    def report(self, started, load0):
        a = self.a
        lines = ["# nettool benchmark results", "",
                 f"Produced by `{a.command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))} "
                 f"in {time.time() - started:.0f} s.", "",
                 f"- nettool: `{run_text([self.nt, '--version'])}`, commit {git_head()}",
                 f"- machine: {os.cpu_count()} CPUs ({cpu_model()}), {mem_total()}, Linux {platform.release()}",
                 f"- load average before: {load0}, after: {loadavg()}",
                 f"- peers: {peer_versions()}",
                 f"- runs: {a.runs} timed per tool (median shown, range = min–max)"
                 f"{', after one warm-up run each' if a.warmup else ''}; tools interleaved",
                 ""]
        if self.limits:
            lines += ["## Physical limits on this run", ""]
            for k, v in self.limits.items():
                lines.append(f"- {limit_name(k)}: {v:,.0f} MiB/s")
            lines.append("")
        lines += ["## Summary", "", "| workload | nettool / best peer | target |", "|---|---|---|"]
        for t in self.tables:
            r = t.ratio()
            if r:
                (ot, ov), (pt, pv), x = r
                x = x if t.higher_is_better else 1 / x
                more = "".join(f"; {t.versus(p):.2f}× {p}" for p in t.also_vs if t.versus(p))
                lines.append(f"| {t.title} | **{x:.2f}×** ({ot} vs {pt}{more}) | "
                             f"{TARGETS.get(t.title[:2].strip(), '')} |")
        lines += ["", "(×: nettool's figure over the best peer's; above 1 is better for nettool, "
                  "whether the figure is a rate or a time.)", "", "## Workloads", ""]
        lines += [t.markdown() for t in self.tables]
        if self.skipped:
            lines += ["## Skipped", ""] + [f"- {s}" for s in self.skipped] + [""]
        # What the profiles showed is written by hand, once, and carried into
        # every report, so a new run does not lose it.
        profiles = REPO / "bench/PROFILES.md"
        if profiles.exists():
            lines += [profiles.read_text()]
        return "\n".join(lines)


TARGETS = {
    "1.": "≥ 1.0× the fastest of nc/ncat/socat, no more CPU",
    "2.": "≥ 0.9× nc, ahead of every HTTP server",
    "3.": "≥ 1.0× lighttpd and ≥ 1.2× nginx (1 worker; issue 15)",
    "3b": "scales with the cores",
    "4.": "< 16 MiB",
    "5.": "≥ socat, no more loss",
    "6a": "within 1 ms of `nc -h`",
    "6b": "≤ 1.0× nc's time (issue 15)",
    "7.": "≥ 1.5× ncat --ssl / socat OPENSSL, no more CPU",
    "8.": "≥ 1.0× nginx + curl",
    "9.": "≥ 0.9× nginx",
    "10": "≥ 0.9× nginx",
    "11": "",
    "12": "≥ 2× socat fork / ncat --sh-exec",
    "13": "≥ 1.5× socat",
    "14": "≥ 1.5× socat",
}


def check_records(got, size, count, expect):
    if len(got) % size:
        return False, f"{len(got)} bytes is not a whole number of {size}-byte datagrams"
    last = -1
    for off in range(0, len(got), size):
        rec = got[off:off + size]
        i = int.from_bytes(rec[:8], "big")
        if i >= count or i <= last or rec != expect[i * size:(i + 1) * size]:
            return False, f"datagram {off // size} is damaged, duplicated or out of order"
        last = i
    return True, ""


def udp_bound(port):
    want = f":{port:04X} "
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table) as f:
                if any((line.split()[1] + " ").endswith(want) for line in list(f)[1:]):
                    return True
        except OSError:
            pass
    return False


def read_response(s, limit=1 << 20, timeout=10):
    s.settimeout(timeout)
    data = b""
    try:
        while len(data) < limit:
            b = s.recv(65536)
            if not b:
                break
            data += b
    except OSError:
        pass
    return data


def http_get(port, path, timeout=10):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = read_response(s, timeout=timeout)
    head, _, body = data.partition(b"\r\n\r\n")
    return body if head.startswith(b"HTTP/1.") and b" 200 " in head.split(b"\r\n")[0] else None


def human(n):
    for unit, k in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if n >= k and n % k == 0:
            return f"{n // k} {unit}"
    return f"{n} B"


def parse_size(text):
    m = re.fullmatch(r"(\d+)([KMGT]?)", text.strip().upper())
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text}")
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30, "T": 40}[m.group(2)]


IPERF3 = "iperf3 (loopback limit)"
# Table 8's like-for-like row: a download that verifies nothing, as curl's.
NO_DIGEST_DOWNLOAD = "nettool (no digest) + file-get --no-fsync"
FRONT_END_ZERO = "nettool tcp-connect --zero, front end (reference)"


def limit_name(k):
    return {"pipe": "pipe limit (`dd if=/dev/zero bs=64K | cat >/dev/null`)",
            "iperf3": "loopback TCP limit (iperf3, one stream)"}[k]


def fs_of(path):
    r = subprocess.run(["df", "-T", str(path)], capture_output=True, text=True)
    try:
        return r.stdout.splitlines()[1].split()[1]
    except IndexError:
        return "?"


def read_int(path):
    try:
        return int(Path(path).read_text())
    except (OSError, ValueError):
        return "?"


def run_text(argv):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (r.stdout or r.stderr).splitlines()[0].strip()
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def git_head():
    return run_text(["git", "-C", str(REPO), "describe", "--always", "--dirty"])


def cpu_model():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "?"


def mem_total():
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            return f"{int(line.split()[1]) / (1 << 20):.0f} GiB RAM"
    return "?"


def loadavg():
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def peer_versions():
    out = []
    for pkg in ("netcat-openbsd", "ncat", "socat", "nginx-light", "lighttpd", "curl", "wrk", "iperf3",
                "hyperfine"):
        r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True, text=True)
        if r.returncode == 0 and r.stdout:
            out.append(f"{pkg} {r.stdout}")
    return ", ".join(out) + f", python {platform.python_version()}"


WORKLOADS = ["relay", "file", "small", "idle", "udp", "startup", "tls", "https", "forward"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="small sizes, one run per tool, no warm-up: checks every fast path's bytes in "
                         "under 2 minutes (the timings are not meaningful)")
    ap.add_argument("--only", default=",".join(WORKLOADS), help=f"comma-separated subset of {WORKLOADS}")
    ap.add_argument("--runs", type=int, help="timed runs per tool (default 3; --quick: 1)")
    ap.add_argument("--out", help="Markdown report (default bench/RESULTS.md; --quick: the scratch directory)")
    ap.add_argument("--nettool", default=os.environ.get("NETTOOL", REPO / "build/release/bin/nettool"))
    ap.add_argument("--scratch", default=REPO / "build/bench", help="work directory, on the disk to test")
    ap.add_argument("--relay-bytes", type=parse_size)
    ap.add_argument("--file-bytes", type=parse_size)
    a = ap.parse_args()
    quick = a.quick
    a.runs = a.runs or (1 if quick else 3)
    a.warmup = not quick
    a.relay_bytes = a.relay_bytes or (256 * MiB if quick else 4 * GiB)
    a.file_bytes = a.file_bytes or (128 * MiB if quick else 1 * GiB)
    a.wrk_seconds = 1 if quick else 10
    a.wrk_threads = 1
    a.idle_conns = 1000
    a.idle_seconds = 1 if quick else 3
    a.forward_idle_conns = 20 if quick else 1000  # socat and ncat fork processes for each
    a.forward_wrk_conns = 10 if quick else 100  # the same: ncat --sh-exec forks two per connection
    a.udp_small = 20_000 if quick else 1_000_000
    a.udp_large = 5_000 if quick else 100_000
    a.startup_runs = 30 if quick else 300
    a.iperf_seconds = 1 if quick else 5
    a.command = "bench/run-all.sh" + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else "")
    only = [w.strip() for w in a.only.split(",") if w.strip()]
    for w in only:
        if w not in WORKLOADS:
            ap.error(f"unknown workload '{w}' (choose from {', '.join(WORKLOADS)})")
    if not os.access(a.nettool, os.X_OK):
        ap.error(f"no nettool at {a.nettool} (scripts/setup.sh release, or --nettool)")
    Path(a.scratch).mkdir(parents=True, exist_ok=True)
    if a.out is None:
        a.out = Path(a.scratch) / "RESULTS-quick.md" if quick else REPO / "bench/RESULTS.md"
    # 1,000 connections from here and in the servers.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, 8192), hard), hard))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    suite = Suite(a)
    started, load0 = time.time(), loadavg()
    log(f"nettool benchmark suite ({'quick' if quick else 'full'}): {', '.join(only)}; report: {a.out}")
    if "relay" in only:
        suite.physical_limits()
    steps = {"relay": suite.relay, "file": suite.file, "small": suite.small_files, "idle": suite.idle,
             "udp": suite.udp, "startup": suite.startup, "tls": suite.tls_relay,
             "https": suite.https, "forward": suite.forward}
    errors = []
    for w in only:
        log(f"workload: {w}")
        try:
            steps[w]()
        except SuiteError as e:
            errors.append(f"{w}: {e}")
            log(f"workload {w} failed: {e}")
    report = suite.report(started, load0)
    if errors:
        report += "\n## Errors\n\n" + "\n".join(f"- {e}" for e in errors) + "\n"
    Path(a.out).write_text(report)
    print(report)
    wrong = [(t.title, tool, s.note) for t in suite.tables for tool, s in t.failures()]
    for title, tool, note in wrong:
        log(f"WRONG BYTES: {title}: {tool}: {note}")
    # A peer that loses bytes (ncat --ssl does, now and then) is a finding for
    # the report, marked WRONG in its table; only nettool's own bytes fail the run.
    wrong = [w for w in wrong if w[1].startswith("nettool")]
    if wrong or errors:
        log(f"FAILED: {len(wrong)} transfer(s) with wrong bytes, {len(errors)} workload error(s)")
        return 1
    log(f"all of nettool's transfers verified; report in {a.out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        kill_all()
