#!/usr/bin/env bash
# bench/serve.sh - `deardiary serve` against baselines measured in the same run (issue 15):
#   health   GET /health req/s vs bench/noop_mhd.c (libmicrohttpd, same pool)  target >= 0.7x
#   batch    POST /metric/iteration/1/batch, 100 metrics, 20 keep-alive clients  >= 100k metrics/s
#   single   POST /metric/iteration/1, one metric, 20 clients, p99 latency      >= 10k req/s
#   download 1 GiB GET /resource/1/data with curl vs nginx serving the file      >= 0.7x
#   upload   1 GiB multipart POST with curl vs dd (conv=fsync) to the same disk  >= 0.5x
#   memory   the server's peak RSS (VmHWM) over everything, 1000 idle connections included  < 64 MB
# Load from wrk (Debian) on 127.0.0.1 only; bounded durations.
# Knobs: DD_BIN (default build/deardiary), BENCH_TMPDIR (/var/tmp), SECS (10),
#        BENCH_ARTIFACT_BYTES (1073741824), DD_BASE_BIN (another deardiary, e.g. the
#        previous revision: batch and single are then also measured against it, in turn
#        with this one, on a database of its own, and printed as ratios).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${DD_BIN:-$root/build/deardiary}
secs=${SECS:-10}
bytes=${BENCH_ARTIFACT_BYTES:-1073741824}
tmp=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/ddserve.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
for t in wrk curl nginx; do command -v $t >/dev/null || { echo "bench/serve.sh: needs $t" >&2; exit 1; }; done
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }
rps() { awk '/Requests\/sec/ {print $2}'; }
done_n() { awk '/requests in/ {print $1}'; }   # responses wrk got (all 2xx, or NON-2XX is said)
ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print('%.2f' % (a/b))" "$1" "$2"; }

cc -O2 -o "$tmp/noop_mhd" "$root/bench/noop_mhd.c" $(pkg-config --cflags --libs libmicrohttpd) -lpthread
np=$(free_port); "$tmp/noop_mhd" "$np" & pids+=($!)
sp=$(free_port)
DEARDIARY_ARTIFACT_BACKEND=filesystem DEARDIARY_ARTIFACT_FS_ROOT="$tmp/art" \
  "$bin" serve --db "$tmp/r.db" --port "$sp" 2>"$tmp/serve.log" & spid=$!; pids+=($spid)
wait_up "http://127.0.0.1:$np/health"; wait_up "http://127.0.0.1:$sp/health"
url="http://127.0.0.1:$sp"
echo "== deardiary serve benchmarks ($(date -u +%FT%TZ), $(nproc) cores, ${secs}s per wrk run, request log at info to a file)"

# health
a=$(wrk -t2 -c20 -d"${secs}s" "$url/health" | rps)
b=$(wrk -t2 -c20 -d"${secs}s" "http://127.0.0.1:$np/health" | rps)
echo "health: serve $a req/s, noop libmicrohttpd $b req/s, ratio $(ratio "$a" "$b") (target 0.7)"

# seed: project 1, experiment 1, iteration 1
seed() {
  curl -sf -XPOST "$1/project/" -d '{"name":"bench"}' >/dev/null
  curl -sf -XPOST "$1/experiment/project/1" -d '{"status_id":1,"name":"e"}' >/dev/null
  curl -sf -XPOST "$1/iteration/experiment/1" >/dev/null
}
seed "$url"
base_url=
if [ -n "${DD_BASE_BIN:-}" ]; then
  bp=$(free_port)
  DEARDIARY_ARTIFACT_BACKEND=filesystem DEARDIARY_ARTIFACT_FS_ROOT="$tmp/art-base" \
    "$DD_BASE_BIN" serve --db "$tmp/base.db" --port "$bp" 2>"$tmp/base.log" & pids+=($!)
  base_url="http://127.0.0.1:$bp"
  wait_up "$base_url/health"; seed "$base_url"
fi

python3 - "$tmp" <<'PY'
import json, sys
t = sys.argv[1]
body = json.dumps({"metrics": [{"key": "m%d" % i, "value": i * 0.5} for i in range(100)]})
open(t + "/batch.lua", "w").write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = %s\n' % json.dumps(body))
open(t + "/single.lua", "w").write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = %s\n' % json.dumps(json.dumps({"key": "loss", "value": 0.25})))
PY
out=$(wrk -t2 -c20 -d"${secs}s" -s "$tmp/batch.lua" "$url/metric/iteration/1/batch")
r=$(echo "$out" | rps)
acked=$(( $(echo "$out" | done_n) * 100 ))
non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
echo "batch: $r req/s = $(python3 -c "print(int(float('$r')*100))") metrics/s from 20 clients (target 100000)${non2xx:+, NON-2XX: $non2xx}"
if [ -n "$base_url" ]; then
  b=$(wrk -t2 -c20 -d"${secs}s" -s "$tmp/batch.lua" "$base_url/metric/iteration/1/batch" | rps)
  echo "batch, base binary: $b req/s = $(python3 -c "print(int(float('$b')*100))") metrics/s, ratio $(ratio "$r" "$b")"
fi
out=$(wrk -t2 -c20 -d"${secs}s" --latency -s "$tmp/single.lua" "$url/metric/iteration/1")
r=$(echo "$out" | rps)
acked=$((acked + $(echo "$out" | done_n)))
p99=$(echo "$out" | awk '$1=="99%" {print $2}')
p50=$(echo "$out" | awk '$1=="50%" {print $2}')
echo "single: $r req/s from 20 clients, p50 $p50, p99 $p99 (target 10000 req/s)"
if [ -n "$base_url" ]; then
  out=$(wrk -t2 -c20 -d"${secs}s" --latency -s "$tmp/single.lua" "$base_url/metric/iteration/1")
  b=$(echo "$out" | rps)
  echo "single, base binary: $b req/s, p99 $(echo "$out" | awk '$1=="99%" {print $2}'), ratio $(ratio "$r" "$b")"
fi
points=$(curl -sf "$url/metric/iteration/1?limit=0" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
# Every acknowledged point is stored; beyond them, at most the requests in flight when wrk
# stopped (20 batches and 20 single points, committed but not counted by wrk).
inflight=$((20 * 100 + 20))
if [ -z "$non2xx" ] && [ "$points" -ge "$acked" ] && [ "$points" -le $((acked + inflight)) ]; then
  echo "  (points stored: $points; acknowledged $acked: every one committed)"
else
  echo "  POINT COUNT MISMATCH: stored $points, acknowledged $acked (+ at most $inflight in flight)${non2xx:+, NON-2XX: $non2xx}"
fi

# 1 GiB: upload vs dd, download vs nginx
head -c "$bytes" /dev/urandom > "$tmp/big"
sync
t0=$(date +%s.%N); dd if="$tmp/big" of="$tmp/art-dd" bs=1M conv=fsync status=none; t1=$(date +%s.%N)
dd_s=$(python3 -c "print($t1-$t0)")
t0=$(date +%s.%N)
code=$(curl -s -o "$tmp/up.json" -w '%{http_code}' -F name=big -F "data=@$tmp/big" "$url/resource/experiment/1")
t1=$(date +%s.%N)
up_s=$(python3 -c "print($t1-$t0)")
[ "$code" = 201 ] || { echo "upload failed: $code $(cat "$tmp/up.json")" >&2; exit 1; }
mb=$((bytes / 1048576))
echo "upload: ${mb} MiB in ${up_s}s vs dd ${dd_s}s, ratio $(ratio "$dd_s" "$up_s") (target 0.5)"
ngp=$(free_port)
cat > "$tmp/nginx.conf" <<NG
user root; daemon off; worker_processes 1; pid $tmp/nginx.pid; error_log $tmp/nginx.err;
events { worker_connections 64; }
http { access_log off; sendfile on; server { listen 127.0.0.1:$ngp; root $tmp; } }
NG
nginx -c "$tmp/nginx.conf" -p "$tmp" & pids+=($!)
wait_up "http://127.0.0.1:$ngp/big"   # the temp dir is 0700: nginx workers run as root
dl() { local t0 t1; t0=$(date +%s.%N); curl -sf -o /dev/null "$1"; t1=$(date +%s.%N); python3 -c "print($t1-$t0)"; }
dl "$url/resource/1/data" >/dev/null; dl "http://127.0.0.1:$ngp/big" >/dev/null   # warm both
s1=$(dl "$url/resource/1/data"); s2=$(dl "http://127.0.0.1:$ngp/big")
echo "download: ${mb} MiB in ${s1}s vs nginx ${s2}s, ratio $(ratio "$s2" "$s1") (target 0.7)"

# 1000 idle connections, then the peak RSS over the whole run
python3 - "$sp" "$spid" <<'PY'
import socket, sys, time
port, pid = int(sys.argv[1]), sys.argv[2]
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(1000)]
time.sleep(1)
rss = [l for l in open("/proc/%s/status" % pid) if l.startswith("VmRSS")][0].split()[1]
print("memory: %d MiB RSS with 1000 idle connections" % (int(rss) // 1024))
for s in socks:
    s.close()
PY
hwm=$(awk '/VmHWM/ {print $2}' /proc/$spid/status)
echo "memory: peak RSS over the run $((hwm / 1024)) MiB (target < 64)"
