#!/usr/bin/env bash
# bench/remote_ls.sh - the one-request listing remote mounts use (docs/REMOTE.md §2.2,
# issue 16: "`ls -l` of an experiment with 10k iterations through a remote mount < 1 s"),
# against baselines measured in the same run on the same database:
#   v1      GET /v1/ls/experiment/1/iterations: 10 000 iterations, one request (curl)
#   paged   the original's GET /iteration/experiment/1?limit=200&offset=..., the 50 pages
#           a client of the original needs, one curl (one keep-alive connection)
#   local   `ls -l` of the same iterations/ directory through a local mount
#   remote  `ls -l` of it through a remote mount of the server (`deardiary mount URL`,
#           step R4; auth is off, so any token is the default admin's)
# Then one iteration's directory with P parameters and K metric series (R2's
# /v1/ls/iteration/{id}): one request, against the original's routes a client needs for
# the same names and values (parameter pages of 200, the metric page) and `ls -l` of
# params/ and metrics/ through the local mount.
#   base    (with DD_BASE_BIN) `ls -l` of it through a remote mount made by that other
#           deardiary (another revision's client against the same server)
# Each command REPEAT times (default 7), interleaved (bench/timecmd.py); medians reported.
# Knobs: DD_BIN (default build/deardiary), DD_BASE_BIN, BENCH_TMPDIR (/var/tmp), REPEAT,
# N (10000), P (1000), K (100).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${DD_BIN:-$root/build/deardiary}
repeat=${REPEAT:-7}
n=${N:-10000}
np=${P:-1000}
nk=${K:-100}
tmp=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/ddrls.XXXXXX")
spid=
cleanup() {
  [ -n "$spid" ] && kill "$spid" 2>/dev/null || true
  mountpoint -q "$tmp/mnt" && fusermount3 -u "$tmp/mnt" || true
  mountpoint -q "$tmp/rmnt" && fusermount3 -u "$tmp/rmnt" || true
  mountpoint -q "$tmp/bmnt" && fusermount3 -u "$tmp/bmnt" || true
  rm -rf "$tmp"
}
trap cleanup EXIT
. "$root/bench/remote_lib.sh"
start_server
python3 - "$url" "$n" <<'PY'
import sys, requests
from concurrent.futures import ThreadPoolExecutor
url, n = sys.argv[1], int(sys.argv[2])
def some(k):
    with requests.Session() as s:
        for _ in range(k):
            assert s.post(url + "/iteration/experiment/1", timeout=30).status_code == 201
with ThreadPoolExecutor(8) as p:
    list(p.map(some, [n // 8 + (i < n % 8) for i in range(8)]))
PY
got=$(curl -sf "$url/v1/ls/experiment/1/iterations?limit=10000" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["entries"]))')
[ "$got" = "$n" ] || [ "$n" -gt 10000 ] || { echo "listing has $got entries, expected $n" >&2; exit 1; }
pages=()
for ((off = 0; off < n; off += 200)); do
  pages+=(-o /dev/null "$url/iteration/experiment/1?limit=200&offset=$off")
done
mkdir "$tmp/mnt"
"$bin" mount "$tmp/r.db" "$tmp/mnt"
dir="$tmp/mnt/projects/bench/experiments/e/iterations"
mkdir "$tmp/rmnt"
DEARDIARY_TOKEN=bench "$bin" mount "$url" "$tmp/rmnt"
rdir="$tmp/rmnt/projects/bench/experiments/e/iterations"
base=()
if [ -n "${DD_BASE_BIN:-}" ]; then
  mkdir "$tmp/bmnt"
  DEARDIARY_TOKEN=bench "$DD_BASE_BIN" mount "$url" "$tmp/bmnt"
  base=(--- ls -l "$tmp/bmnt/projects/bench/experiments/e/iterations")
fi
echo "== remote listing benchmark ($(date -u +%FT%TZ), $(nproc) cores, $n iterations, $repeat runs each, interleaved)"
python3 "$root/bench/timecmd.py" "$repeat" \
  curl -sf -o /dev/null "$url/v1/ls/experiment/1/iterations" --- \
  curl -sf "${pages[@]}" --- \
  ls -l "$dir" --- \
  ls -l "$rdir" "${base[@]}" > "$tmp/times"
med() { sed -n "$1p" "$tmp/times" | sed 's/.*median=\([0-9.]*\).*/\1/'; }
v1=$(med 1); paged=$(med 2); local_ls=$(med 3); remote_ls=$(med 4)
sed -n 1p "$tmp/times" | sed 's/^/v1     /'
sed -n 2p "$tmp/times" | sed 's/^/paged  /'
sed -n 3p "$tmp/times" | sed 's/^/local  /'
sed -n 4p "$tmp/times" | sed 's/^/remote /'
if [ -n "${DD_BASE_BIN:-}" ]; then
  sed -n 5p "$tmp/times" | sed 's/^/base   /'
  python3 -c 'import sys; print("remote / base remote: %.2f" % (float(sys.argv[1]) / float(sys.argv[2])))' \
    "$remote_ls" "$(med 5)"
fi
python3 - "$v1" "$paged" "$local_ls" "$(( ${#pages[@]} / 3 ))" "$remote_ls" <<'PY'
import sys
v1, paged, local = map(float, sys.argv[1:4])
remote = float(sys.argv[5])
print("v1 one request: %.3f s; the original's %s pages: %.3f s (paged/v1 %.2f); "
      "local mount ls -l: %.3f s (v1/local %.2f); remote mount ls -l: %.3f s "
      "(remote/local %.2f, remote/v1 %.2f; target < 1 s)"
      % (v1, sys.argv[4], paged, paged / v1, local, v1 / local, remote, remote / local,
         remote / v1))
PY
# ---- one iteration's directory
iid=$(curl -sf -XPOST "$url/iteration/experiment/1" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["iteration_id"])')
python3 - "$url" "$iid" "$np" "$nk" <<'PY'
import sys, requests
url, iid, np, nk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
with requests.Session() as s:
    for i in range(np):
        r = s.post("%s/parameter/iteration/%d" % (url, iid),
                   json={"key": "p%05d" % i, "value": str(i / 7)}, timeout=30)
        assert r.status_code == 201, r.text
    r = s.post("%s/metric/iteration/%d/batch" % (url, iid), timeout=30,
               json={"step": 1, "metrics": [{"key": "m%03d" % k, "value": k} for k in range(nk)]})
    assert r.status_code == 201, r.text
PY
got=$(curl -sf "$url/v1/ls/iteration/$iid" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["entries"]))')
[ "$got" = "$((np + nk))" ] || { echo "iteration listing has $got entries, expected $((np + nk))" >&2; exit 1; }
ipages=()
for ((off = 0; off < np; off += 200)); do
  ipages+=(-o /dev/null "$url/parameter/iteration/$iid?limit=200&offset=$off")
done
ipages+=(-o /dev/null "$url/metric/iteration/$iid?limit=200")
idir="$dir/$iid"
echo "== iteration directory ($np params, $nk metric series, $repeat runs each, interleaved)"
python3 "$root/bench/timecmd.py" "$repeat" \
  curl -sf -o /dev/null "$url/v1/ls/iteration/$iid" --- \
  curl -sf "${ipages[@]}" --- \
  ls -l "$idir/params" "$idir/metrics" > "$tmp/itimes"
iv1=$(sed -n 1p "$tmp/itimes" | sed 's/.*median=\([0-9.]*\).*/\1/')
iorig=$(sed -n 2p "$tmp/itimes" | sed 's/.*median=\([0-9.]*\).*/\1/')
ilocal=$(sed -n 3p "$tmp/itimes" | sed 's/.*median=\([0-9.]*\).*/\1/')
sed -n 1p "$tmp/itimes" | sed 's/^/v1    /'
sed -n 2p "$tmp/itimes" | sed 's/^/orig  /'
sed -n 3p "$tmp/itimes" | sed 's/^/local /'
python3 - "$iv1" "$iorig" "$ilocal" "$(( ${#ipages[@]} / 3 ))" <<'PY'
import sys
v1, orig, local = map(float, sys.argv[1:4])
print("v1 one request: %.3f s; the original's %s requests: %.3f s (orig/v1 %.2f); "
      "local mount ls -l params metrics: %.3f s (v1/local %.2f)"
      % (v1, sys.argv[4], orig, orig / v1, local, v1 / local))
PY
