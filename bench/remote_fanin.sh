#!/usr/bin/env bash
# bench/remote_fanin.sh - many remote mounts on one machine into one server (docs/REMOTE.md
# §4.3, issue 16: "16 remote mounts on one machine, one writer each writing 1000 lines per
# write(), into one server: aggregate >= 200k points/s delivered (on the server, not just
# journaled)"), against a baseline measured in the same run:
#   remote  M remote mounts of one `deardiary serve` (SQLite), each with its own node
#           journal (XDG_STATE_HOME), one writer per mount (bench/loops.c writebatch: one
#           open, REPS write()s of LINES lines, close) on its own iteration's metric file
#   local   the same M writers into ONE local mount of the server's database, on M other
#           iterations: one process with one ingest group commit, as the server is, so the
#           ratio is what the node journal + HTTP delivery cost; M local mounts of one
#           database would instead measure SQLite's cross-process write lock, which no
#           remote setup has
# Both clocks start when the writers start and stop when the database holds every point
# the writers were acknowledged for (polled every POLL s from the series' point counts in
# metric_latest, then checked with COUNT(*) of the points): delivered points/s.
# Also printed: when the last writer returned (acknowledged points/s), and the CPU time the
# server and the mount daemon(s) used over the run (/proc/PID/stat), to see where time goes. Local and remote
# alternate, REPEAT times each (default 1).
# Knobs: DD_BIN (build/deardiary), BENCH_TMPDIR (/var/tmp), REPEAT (1), MOUNTS (16),
# LINES (1000), REPS (100: 100k points per writer), POLL (0.1).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${DD_BIN:-$root/build/deardiary}
repeat=${REPEAT:-1}
m=${MOUNTS:-16}
lines=${LINES:-1000}
reps=${REPS:-100}
poll=${POLL:-0.1}
tmp=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/ddrfan.XXXXXX")
spid=
cleanup() {
  for d in "$tmp"/mnt "$tmp"/r*; do
    if mountpoint -q "$d"; then fusermount3 -u "$d" || true; fi
  done
  [ -n "$spid" ] && kill "$spid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
gcc -O2 -Wall -Wextra -o "$tmp/loops" "$root/bench/loops.c" -lsqlite3
. "$root/bench/remote_lib.sh"
start_server
# iterations 1..m: the local mount's writers; m+1..2m: the remote mounts' (one each)
for i in $(seq $((2 * m))); do
  curl -sf -XPOST "$url/iteration/experiment/1" >/dev/null
  curl -sf -XPOST "$url/metric/iteration/$i" -d '{"key":"loss","value":0}' >/dev/null
done
mkdir "$tmp/mnt"
"$bin" mount "$tmp/r.db" "$tmp/mnt"
for k in $(seq "$m"); do
  mkdir "$tmp/r$k"
  # auth is off: any token is the default admin's; a journal directory per mount
  DEARDIARY_TOKEN=bench XDG_STATE_HOME="$tmp/state$k" "$bin" mount "$url" "$tmp/r$k"
done
it() { echo "projects/bench/experiments/e/iterations/$1/metrics/loss"; }
for k in $(seq "$m"); do
  f="$tmp/r$k/$(it $((m + k)))"
  for _ in $(seq 100); do [ -e "$f" ] && break; sleep 0.1; done
done
dpids=$(pgrep -f "deardiary mount $url $tmp/r[0-9]" | tr '\n' ' ')
lpid=$(pgrep -f "deardiary mount $tmp/r.db $tmp/mnt")
cpu() {  # CPU seconds (user + system) of the processes $@ so far
  for p in "$@"; do cut -d' ' -f14,15 "/proc/$p/stat"; done |
    awk -v hz="$(getconf CLK_TCK)" '{s += $1 + $2} END {printf "%.2f", s / hz}'
}
count() {  # points on the server's database of iterations $1..$2
  sqlite3 "$tmp/r.db" "SELECT COUNT(*) FROM metric WHERE iteration_id BETWEEN $1 AND $2"
}
# The poll: the series' point counts (16 rows of metric_latest, written in the points'
# transaction), as the COUNT above takes 0.1-0.3 s of CPU at 1.6M+ points and, polled
# every 0.1 s, took a core from the server; COUNT then checks the poll, untimed.
points() {
  sqlite3 "$tmp/r.db" "SELECT COALESCE(SUM(point_count), 0) FROM metric_latest WHERE iteration_id BETWEEN $1 AND $2"
}
# one run: $1 = local|remote; prints "acked_s delivered_s points"
run() {
  local kind=$1 lo hi before k pids=() t0 t1 t2 got want
  if [ "$kind" = local ]; then lo=1; hi=$m; else lo=$((m + 1)); hi=$((2 * m)); fi
  before=$(count "$lo" "$hi")
  want=$((before + m * lines * reps))
  local pwant=$(( $(points "$lo" "$hi") + m * lines * reps ))
  local c0s c0d=0 c1s c1d
  c0s=$(cpu "$spid")
  if [ "$kind" = local ]; then c0d=$(cpu "$lpid"); else c0d=$(cpu $dpids); fi
  t0=$(date +%s.%N)
  for k in $(seq "$m"); do
    if [ "$kind" = local ]; then f="$tmp/mnt/$(it "$k")"; else f="$tmp/r$k/$(it $((m + k)))"; fi
    "$tmp/loops" writebatch "$f" "$lines" "$reps" > "$tmp/w$k.out" & pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  t1=$(date +%s.%N)
  for _ in $(seq 20000); do
    [ "$(points "$lo" "$hi")" -ge "$pwant" ] && break
    sleep "$poll"
  done
  t2=$(date +%s.%N)
  c1s=$(cpu "$spid")
  if [ "$kind" = local ]; then c1d=$(cpu "$lpid"); else c1d=$(cpu $dpids); fi
  echo "$kind $t0 $t2 $c0s $c1s $c0d $c1d" | awk '{printf "%s: CPU over the %.2f s: server %.2f s, mount daemon(s) %.2f s\n", $1, $3 - $2, $5 - $4, $7 - $6}' > "$tmp/cpu"
  got=$(count "$lo" "$hi")
  [ "$got" -eq "$want" ] || { echo "$kind: $got points on the server, expected exactly $want" >&2; exit 1; }
  echo "$t0 $t1 $t2" | awk -v n=$((m * lines * reps)) '{printf "%.3f %.3f %d\n", $2 - $1, $3 - $1, n}'
}
echo "== remote fan-in ($(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg), $m mounts x 1 writer x $reps write()s of $lines lines, $repeat runs each, alternating local/remote; machine shared with other engineers)"
declare -a ld rd
for i in $(seq "$repeat"); do
  read -r la ldv n < <(run local)
  echo "local  run $i: $n points, acknowledged in $la s, on the database after $ldv s: $(awk -v n="$n" -v s="$ldv" 'BEGIN{printf "%.0f", n/s}') points/s"
  cat "$tmp/cpu"
  ld+=("$(awk -v n="$n" -v s="$ldv" 'BEGIN{print n/s}')")
  read -r ra rdv n < <(run remote)
  echo "remote run $i: $n points, acknowledged in $ra s, on the server after $rdv s: $(awk -v n="$n" -v s="$rdv" 'BEGIN{printf "%.0f", n/s}') points/s"
  cat "$tmp/cpu"
  rd+=("$(awk -v n="$n" -v s="$rdv" 'BEGIN{print n/s}')")
done
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
python3 - "$(med "${rd[@]}")" "$(med "${ld[@]}")" "$m" <<'PY'
import sys
r, l, m = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
print("fan-in: %s remote mounts delivered %.0f points/s vs %s writers into one local mount"
      " %.0f points/s: %.2fx; target >= 200000 points/s delivered: %s"
      % (m, r, m, l, r / l, "PASS" if r >= 200000 else "MISS"))
PY
