#!/usr/bin/env bash
# bench/remote_append.sh - metric appends through a remote mount's node journal (docs/
# REMOTE.md §4, issue 16: "one line per write() on a held metric file through a remote
# mount >= 0.8x the same through a local mount"; "open/append/close one line >= 0.3x"),
# against a local mount of the server's own database measured in the same run:
#   write1  one open, write("0.5\n") per call (bench/loops.c write1), N calls or SECS
#   append  open(O_APPEND), write one line, close (bench/loops.c append), N or SECS
# local and remote alternate, REPEAT times each (default 3); medians and their ratio.
# Then how long the server takes to hold every point the remote writes acknowledged
# (delivery, counted in its database). Knobs: DD_BIN (build/deardiary), BENCH_TMPDIR
# (/var/tmp), REPEAT, N (200000), SECS (5).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${DD_BIN:-$root/build/deardiary}
repeat=${REPEAT:-3}
n=${N:-200000}
secs=${SECS:-5}
tmp=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/ddrap.XXXXXX")
spid=
cleanup() {
  mountpoint -q "$tmp/mnt" && fusermount3 -u "$tmp/mnt" || true
  mountpoint -q "$tmp/rmnt" && fusermount3 -u "$tmp/rmnt" || true
  [ -n "$spid" ] && kill "$spid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
gcc -O2 -Wall -Wextra -o "$tmp/loops" "$root/bench/loops.c" -lsqlite3
. "$root/bench/remote_lib.sh"
start_server
curl -sf -XPOST "$url/iteration/experiment/1" >/dev/null
curl -sf -XPOST "$url/iteration/experiment/1" >/dev/null
curl -sf -XPOST "$url/metric/iteration/1" -d '{"key":"loss","value":0}' >/dev/null
curl -sf -XPOST "$url/metric/iteration/2" -d '{"key":"loss","value":0}' >/dev/null
mkdir "$tmp/mnt" "$tmp/rmnt"
"$bin" mount "$tmp/r.db" "$tmp/mnt"
# auth is off: any token is the default admin's
DEARDIARY_TOKEN=bench XDG_STATE_HOME="$tmp/state" "$bin" mount "$url" "$tmp/rmnt"
lfile="$tmp/mnt/projects/bench/experiments/e/iterations/1/metrics/loss"
rfile="$tmp/rmnt/projects/bench/experiments/e/iterations/2/metrics/loss"
for _ in $(seq 100); do [ -e "$rfile" ] && break; sleep 0.1; done
rate() { sed 's/.*rate=\([0-9.]*\).*/\1/'; }
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
echo "== remote metric appends ($(date -u +%FT%TZ), $(nproc) cores, $repeat runs each, alternating local/remote, ${secs} s or $n calls a run; machine shared with other engineers)"
declare -a lw rw la ra
acked=0
for i in $(seq "$repeat"); do
  lw+=("$("$tmp/loops" write1 "$lfile" "$n" "$secs" | rate)")
  out=$("$tmp/loops" write1 "$rfile" "$n" "$secs"); rw+=("$(echo "$out" | rate)")
  acked=$((acked + $(echo "$out" | sed 's/.*count=\([0-9]*\).*/\1/')))
  la+=("$("$tmp/loops" append "$lfile" 20000 "$secs" | rate)")
  out=$("$tmp/loops" append "$rfile" 20000 "$secs"); ra+=("$(echo "$out" | rate)")
  acked=$((acked + $(echo "$out" | sed 's/.*count=\([0-9]*\).*/\1/')))
done
echo "write1 local  runs=${lw[*]} median=$(med "${lw[@]}") /s"
echo "write1 remote runs=${rw[*]} median=$(med "${rw[@]}") /s"
echo "append local  runs=${la[*]} median=$(med "${la[@]}") /s"
echo "append remote runs=${ra[*]} median=$(med "${ra[@]}") /s"
python3 -c "import sys; lw, rw, la, ra = map(float, sys.argv[1:]); print('write1 remote/local %.2f (target >= 0.8); append remote/local %.2f (target >= 0.3)' % (rw / lw, ra / la))" \
  "$(med "${lw[@]}")" "$(med "${rw[@]}")" "$(med "${la[@]}")" "$(med "${ra[@]}")"
# delivery: every acknowledged remote point (+1: the series' first) on the server
want=$((acked + 1))
t0=$(date +%s.%N)
for _ in $(seq 600); do
  got=$(sqlite3 "$tmp/r.db" "SELECT COUNT(*) FROM metric WHERE iteration_id = 2")
  [ "$got" -ge "$want" ] && break
  sleep 0.1
done
t1=$(date +%s.%N)
echo "delivery: $got of $want points on the server, $(python3 -c "print('%.1f' % ($t1 - $t0))") s after the last write"
[ "$got" -eq "$want" ] || { echo "delivered $got points, expected exactly $want" >&2; exit 1; }
