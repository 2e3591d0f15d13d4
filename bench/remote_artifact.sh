#!/usr/bin/env bash
# bench/remote_artifact.sh - artifact bytes through a remote mount (docs/REMOTE.md §8, issue
# 16: "a 1 GiB artifact read through the remote mount >= 0.7x of curl downloading it from
# the same server; a second read from the node cache >= 0.5x of a page-cache read of a
# local file"), each figure against its baseline measured in the same run:
#   curl     GET /resource/1/data of the 1 GiB artifact, to /dev/null (one request)
#   ranged   cat of resources/big.bin through a remote mount (`deardiary mount URL`):
#            one streamed GET "Range: bytes=0-" per run, 8 MiB read ahead, replies
#            written from that window (direct_io: every run goes to the server)
#   cached   cat of models/m/versions/1/artifact through the remote mount, after a first
#            read fetched it into the node cache (remote.cache_dir): the daemon's pread of
#            its cache file (keep_cache: the kernel may keep the pages too)
#   local    cat of a local copy of the same bytes in the page cache (read once first)
#   lmount   cat of resources/big.bin through a local mount of the server's database
#            (direct_io as on the remote mount: what FUSE itself costs)
#   ranged1m dd bs=1M of resources/big.bin through the remote mount (1 MiB FUSE reads)
# and, once, the first read of the version's artifact (its reads follow the fetch into
# the cache) against one curl download. Each command REPEAT times (default 5), interleaved (bench/timecmd.py);
# medians reported, the daemon's VmRSS sampled during the ranged reads.
# Knobs: DD_BIN (default build/deardiary), BENCH_TMPDIR (/var/tmp), REPEAT, SIZE_MB (1024).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${DD_BIN:-$root/build/deardiary}
repeat=${REPEAT:-5}
size_mb=${SIZE_MB:-1024}
tmp=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/ddrart.XXXXXX")
spid=
cleanup() {
  [ -n "$spid" ] && kill "$spid" 2>/dev/null || true
  mountpoint -q "$tmp/mnt" && fusermount3 -u "$tmp/mnt" || true
  mountpoint -q "$tmp/rmnt" && fusermount3 -u "$tmp/rmnt" || true
  rm -rf "$tmp"
}
trap cleanup EXIT
. "$root/bench/remote_lib.sh"
start_server
curl -sf -XPOST "$url/iteration/experiment/1" >/dev/null
head -c "${size_mb}M" /dev/urandom > "$tmp/big.bin"
curl -sf -XPOST "$url/resource/experiment/1" -F name=big.bin -F "data=@$tmp/big.bin" >/dev/null
mkdir "$tmp/mnt" "$tmp/rmnt"
DEARDIARY_ARTIFACT_FS_ROOT="$tmp/art" "$bin" mount "$tmp/r.db" "$tmp/mnt"
mkdir "$tmp/mnt/projects/bench/models/m"
cat "$tmp/mnt/models/m/versions/new/1:big.bin" >/dev/null
# the 1 GiB of the server's registry, read from the local mount too (a reference)
XDG_CACHE_HOME="$tmp/cache" DEARDIARY_TOKEN=bench "$bin" mount "$url" "$tmp/rmnt"
dpid=$(pgrep -n -f "deardiary mount $url $tmp/rmnt")
res="$tmp/rmnt/projects/bench/experiments/e/resources/big.bin"
art="$tmp/rmnt/models/m/versions/1/artifact"
cat "$tmp/big.bin" >/dev/null
echo "== remote artifact benchmark ($(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg), ${size_mb} MiB, $repeat runs each, interleaved)"
python3 "$root/bench/timecmd.py" 1 curl -sf -o /dev/null "$url/resource/1/data" --- \
  cat "$art" > "$tmp/first"
sed -n 1p "$tmp/first" | sed 's/^/curl-once   /'
sed -n 2p "$tmp/first" | sed 's/^/first-fetch /'
cmp "$tmp/big.bin" "$art"
cmp "$tmp/big.bin" "$res"
python3 "$root/bench/timecmd.py" "$repeat" \
  curl -sf -o /dev/null "$url/resource/1/data" --- \
  --rss "$dpid" cat "$res" --- \
  cat "$art" --- \
  cat "$tmp/big.bin" --- \
  cat "$tmp/mnt/projects/bench/experiments/e/resources/big.bin" --- \
  dd if="$res" bs=1M status=none > "$tmp/times"
med() { sed -n "$1p" "$tmp/times" | sed 's/.*median=\([0-9.]*\).*/\1/'; }
sed -n 1p "$tmp/times" | sed 's/^/curl    /'
sed -n 2p "$tmp/times" | sed 's/^/ranged  /'
sed -n 3p "$tmp/times" | sed 's/^/cached  /'
sed -n 4p "$tmp/times" | sed 's/^/local   /'
sed -n 5p "$tmp/times" | sed 's/^/lmount  /'
sed -n 6p "$tmp/times" | sed 's/^/ranged1m /'
fetches=$(grep -c "GET /resource/1/data 200" "$tmp/serve.log" || true)
python3 - "$(med 1)" "$(med 2)" "$(med 3)" "$(med 4)" "$size_mb" "$fetches" "$repeat" "$(med 5)" "$(med 6)" <<'PY'
import sys
curl, ranged, cached, local = map(float, sys.argv[1:5])
mb, fetches, repeat = float(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
lmount, ranged1m = float(sys.argv[8]), float(sys.argv[9])
def rate(s):
    return "%.0f MB/s" % (mb * 1.048576 / s)
print("ranged read through the remote mount: %.3f s (%s) vs curl %.3f s (%s): %.2fx"
      " (target >= 0.7x) %s" % (ranged, rate(ranged), curl, rate(curl), curl / ranged,
                                "PASS" if curl / ranged >= 0.7 else "MISS"))
print("second read from the node cache: %.3f s (%s) vs page-cache read of a local file"
      " %.3f s (%s): %.2fx (target >= 0.5x) %s" % (cached, rate(cached), local, rate(local),
                                                  local / cached,
                                                  "PASS" if local / cached >= 0.5 else "MISS"))
# the whole-body GETs: curl's (1 + repeat) and the cache's one fetch
print("whole-artifact GETs in the server log: %d (curl %d + node cache fetch 1)"
      % (fetches, 1 + repeat))
PY
