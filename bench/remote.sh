#!/usr/bin/env bash
# bench/remote.sh - every benchmark figure of issue 16 (remote mounts) in one run, each next
# to its baseline measured in the same run, as a ratio, PASS/MISS against the issue's target
# (docs/REMOTE.md §12, R8). It calls the step scripts, in this order:
#   bench/remote_append.sh    one line per write() on a held metric file, remote vs local
#                             mount (>= 0.8x); open/append/close one line (>= 0.3x)
#   bench/remote_fanin.sh     16 remote mounts, one writer each, 1000 lines per write(), into
#                             one server: points/s delivered (>= 200k/s), vs the same
#                             writers into one local mount
#   bench/remote_ls.sh        `ls -l` of 10k iterations through a remote mount (< 1 s), vs
#                             the local mount and the one request (curl)
#   bench/remote_artifact.sh  1 GiB artifact through the remote mount vs curl (>= 0.7x);
#                             second read from the node cache vs a page-cache read (>= 0.5x)
# and, for each, the peak memory (VmHWM) of the server and of the mount daemons, sampled
# from /proc every 0.2 s by this script (every process of `deardiary` whose command line
# names this run's temporary directory, counted in the section it was first seen in; the
# last 0.2 s of a process can be missed).
# Knobs (defaults = the issue's sizes): DD_BIN, BENCH_TMPDIR (/var/tmp), REMOTE_REPEAT
# (runs per figure, 3), REMOTE_SECS (seconds per append run, 5), REMOTE_MOUNTS (16),
# REMOTE_REPS (write()s of 1000 lines per fan-in writer, 100), REMOTE_LS_N (10000
# iterations), REMOTE_BIG_MB (1024). A short run: REMOTE_REPEAT=1 REMOTE_SECS=1
# REMOTE_REPS=10 REMOTE_LS_N=1000 REMOTE_BIG_MB=64 bench/remote.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export DD_BIN=${DD_BIN:-$root/build/deardiary}
rep=${REMOTE_REPEAT:-3}
tmp=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/ddremote.XXXXXX")
sampler=
cleanup() {
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
# the step scripts make their directories under ours, so the sampler knows their processes
export BENCH_TMPDIR=$tmp
python3 - "$tmp" > "$tmp/hwm" <<'PY' & sampler=$!
import os, signal, sys, time
prefix = sys.argv[1] + "/"
peak = {}  # pid -> [section it was first seen in, role, VmHWM kB]
def stop(*_):
    for pid, (section, role, kb) in sorted(peak.items()):
        print(section, role, pid, kb)
    sys.stdout.flush()
    os._exit(0)
signal.signal(signal.SIGTERM, stop)
while True:
    try:
        with open(prefix + "section") as f:
            section = f.read().strip()
    except OSError:
        section = "-"
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
            if len(argv) < 3 or not argv[0].endswith(b"deardiary") or prefix.encode() not in b" ".join(argv):
                continue
            role = {b"serve": "server"}.get(argv[1], None)
            if argv[1] == b"mount":
                role = "remote-daemon" if argv[2].startswith(b"http") else "local-daemon"
            if role is None:
                continue
            with open("/proc/%s/status" % pid) as f:
                kb = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
            seen = peak.setdefault(int(pid), [section, role, 0])
            seen[2] = max(seen[2], kb)
        except (OSError, StopIteration, ValueError):
            pass
    time.sleep(0.2)
PY
section() { echo "$1" > "$tmp/section"; }
echo "== bench/remote.sh ($(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $rep runs per figure; machine shared with other engineers)"
section append
REPEAT=$rep SECS=${REMOTE_SECS:-5} bash "$root/bench/remote_append.sh" | tee "$tmp/append.out"
section fanin
REPEAT=$rep MOUNTS=${REMOTE_MOUNTS:-16} REPS=${REMOTE_REPS:-100} \
  bash "$root/bench/remote_fanin.sh" | tee "$tmp/fanin.out"
section ls
REPEAT=$rep N=${REMOTE_LS_N:-10000} P=100 K=10 bash "$root/bench/remote_ls.sh" | tee "$tmp/ls.out"
section artifact
REPEAT=$rep SIZE_MB=${REMOTE_BIG_MB:-1024} bash "$root/bench/remote_artifact.sh" | tee "$tmp/artifact.out"
section -
sleep 0.5
kill "$sampler"; wait "$sampler" || true; sampler=
echo "== summary (load now $(cut -d' ' -f1-3 /proc/loadavg))"
python3 - "$tmp" <<'PY'
import re, sys
d = sys.argv[1]
def text(name):
    with open("%s/%s.out" % (d, name)) as f:
        return f.read()
def num(pattern, s):
    m = re.search(pattern, s)
    if not m:
        sys.exit("bench/remote.sh: no match for %r in a step's output" % pattern)
    return float(m.group(1))
rows = []
def row(figure, value, base, ratio, target, ok):
    rows.append((figure, value, base, ratio, target, "PASS" if ok else "MISS"))
a = text("append")
lw, rw = num(r"write1 local .*median=([0-9.]+)", a), num(r"write1 remote .*median=([0-9.]+)", a)
la, ra = num(r"append local .*median=([0-9.]+)", a), num(r"append remote .*median=([0-9.]+)", a)
row("one line per write(), held file", "%.0f/s" % rw, "local mount %.0f/s" % lw, rw / lw, ">= 0.8x", rw / lw >= 0.8)
row("open/append/close one line", "%.0f/s" % ra, "local mount %.0f/s" % la, ra / la, ">= 0.3x", ra / la >= 0.3)
f = text("fanin")
m = re.search(r"fan-in: (\d+) remote mounts delivered (\d+) points/s vs \d+ writers into one local mount (\d+) points/s", f)
n, fr, fl = int(m.group(1)), float(m.group(2)), float(m.group(3))
row("%d remote mounts, points/s delivered" % n, "%.0f/s" % fr, "one local mount %.0f/s" % fl, fr / fl, ">= 200k/s", fr >= 200000)
s = text("ls")
rl, ll = num(r"remote mount ls -l: ([0-9.]+) s", s), num(r"local mount ls -l: ([0-9.]+) s", s)
v1 = num(r"v1 one request: ([0-9.]+) s", s)
row("ls -l of %d iterations, remote" % int(num(r"\(.*cores, (\d+) iterations", s)), "%.3f s" % rl,
    "local mount %.3f s; request %.3f s" % (ll, v1), rl / ll, "< 1 s", rl < 1)
t = text("artifact")
cu, rg = num(r"vs curl ([0-9.]+) s", t), num(r"through the remote mount: ([0-9.]+) s", t)
ca, lo = num(r"node cache: ([0-9.]+) s", t), num(r"local file ([0-9.]+) s", t)
row("artifact read, remote mount", "%.3f s" % rg, "curl %.3f s" % cu, cu / rg, ">= 0.7x", cu / rg >= 0.7)
row("second read, node cache", "%.3f s" % ca, "page-cache read %.3f s" % lo, lo / ca, ">= 0.5x", lo / ca >= 0.5)
print("| figure | remote | baseline, same run | ratio | target | result |")
print("|---|---|---|---|---|---|")
for r in rows:
    print("| %s | %s | %s | %.2f | %s | %s |" % r)
hwm = {}
with open(d + "/hwm") as fh:
    for line in fh:
        section, role, pid, kb = line.split()
        hwm.setdefault((section, role), []).append(int(kb))
print("\nmemory, peak VmHWM per process (MiB; max over the processes of that kind, their count, sum):")
for (section, role), kbs in sorted(hwm.items()):
    print("  %-9s %-14s max %6.1f MiB  (%d processes seen, sum %.1f MiB)"
          % (section, role, max(kbs) / 1024, len(kbs), sum(kbs) / 1024))
PY
