#!/usr/bin/env bash
# bench/run.sh - DearDiary FS benchmarks. Not tests: each figure is printed next to a
# baseline measured in the same run, as a ratio, with the issue's target.
#
#   bench/run.sh [BENCH...]      BENCH: append write ls cat chart artifacts artsizes s3
#                                pgwrite pgnodes pgls pgcp (default: all); "pg" = the four pg*
#   bench/run.sh --list | -h
#
# Baselines (DESIGN.md §6): libfuse's passthrough_ll, compiled here from
# /usr/share/doc/libfuse3-dev/examples/passthrough_ll.c into build/bench/bin (never
# committed) and mounted over a temporary directory on local disk; a plain SQLite insert
# loop (bench/loops.c: WAL, synchronous=NORMAL, the store's metric table); the same
# operation on the local disk; for held-open writes also bench/noop_ll.c, a FUSE server
# that accepts writes and does nothing (the most one round trip per write allows here).
# "artifacts" runs once per artifact backend (a daemon each).
# The pg* groups (issue 14) start their own throwaway PostgreSQL 15 (scripts/pgtest.sh, in
# the temp dir's pg/, fsync ON: durable commits, as a real registry has) and measure a
# PostgreSQL-backed mount against the SQLite-backed mount (pgwrite, pgls, pgcp) or against
# passthrough_ll (pgnodes, pgcp), figure and baseline interleaved run by run:
#   pgwrite  open/append/close of one line; one line per write() held open; 10k lines per
#            write(): PG mount vs SQLite mount; each daemon's VmHWM
#   pgnodes  PG_NODES daemons (mountpoints, journal dirs) on one PG registry, one
#            open/append/close writer each, all at once, against PG_NODES passthrough_ll
#            mounts doing the same side by side; aggregate ops/s; each daemon's VmHWM
#   pgls     ls, ls -l of an iterations/ of LS_ITERS iterations (PG seeded with one
#            INSERT ... SELECT generate_series), next to the SQLite mount and local disk
#   pgcp     a BENCH_ARTIFACT_BYTES cp into resources/: passthrough_ll, the SQLite mount's
#            default, the PG mount's default (every artifact inline: no shared root is
#            configured) and the PG mount with artifacts.filesystem.root set (the cluster
#            set-up, docs/CONFIGURATION.md); daemon VmRSS sampled during each cp
#
# Knobs (environment):
#   DD_BIN=PATH           use this deardiary binary instead of building build/bench/dd
#   BENCH_REV=REV         build a git revision (git archive REV, into build/bench/src)
#                         instead of the working tree, e.g. when the tree is mid-edit
#   BENCH_TMPDIR=DIR      where temporary databases, mounts and files go (default /var/tmp;
#                         must be local disk, not tmpfs)
#   BENCH_REPEAT=3        runs per figure; the median is reported
#   APPEND_N=20000 APPEND_SECS=20            bench "append" (whichever ends first)
#   WRITE1_N=200000 WRITE1_SECS=10           bench "write": one point per write()
#   BATCH_LINES=10000 BATCH_REPS=100         bench "write": lines per write(), writes
#   LS_ITERS=100000 LS_HEAVY_ITERS=1000 LS_HEAVY_POINTS=1000   bench "ls"
#   LS_PARAMS=10000       bench "ls": parameters of the iteration whose params/ is listed
#   CAT_POINTS=1000000 CAT_MEM_CATS=10       bench "cat" (memory: after 1 and after 10 cats)
#   CHART_POINTS=1000000                     bench "chart": cat of metrics/loss.svg of a
#                                            series this long, next to cat of metrics/loss
#   BENCH_ARTIFACT_BYTES=1073741824          bench "artifacts": size of the file (made once
#                                            from /dev/urandom in the temp dir)
#   BENCH_ARTIFACT_BACKENDS="default inline filesystem"   bench "artifacts": configurations,
#                         in order: "default" sets nothing (artifacts.backend auto: the
#                         1 GiB file moves to <db>.artifacts), the others set the backend
#                         (cold reads drop the page cache: `echo 3 > /proc/sys/vm/drop_caches`,
#                         so "artifacts" needs root)
#   ARTSIZES="65536 262144 1048576 4194304 16777216" ARTSIZES_N=30   bench "artsizes": cp of
#                         ARTSIZES_N files of each size into resources/, inline backend
#                         against filesystem backend (what artifacts.inline_max is chosen by)
#   BENCH_S3_BYTES=1073741824                bench "s3": size of the file (made once)
#   BENCH_S3_THRESHOLDS="default 67108864"  bench "s3": artifacts.s3.multipart_threshold
#                         of each daemon, in order ("default": the setting left unset, 2 GiB,
#                         so the 1 GiB file is spooled and goes in one PUT, judged against
#                         the target; a number: that threshold, reported as information;
#                         67108864 makes the file a multipart upload of 16 MiB parts)
#   PG_SECS=5 PG_N=200000                    pg*: each timed loop runs PG_N ops or PG_SECS
#   PG_NODES=4                               pgnodes: nodes (and passthrough_ll mounts)
#   PG_FSYNC=on           pg*: off starts the server with fsync off (what a commit costs
#                         without its flush; information only, the targets are judged on)
#   BENCH_PERF=1          also `perf record -g` the deardiary daemon during each of its
#                         measurements (build/bench/perf-<figure>.data)
#
# Everything it mounts is unmounted, and every temporary file removed, on every exit path.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
OUT=$ROOT/build/bench
PY=/usr/bin/python3
PT_SRC=/usr/share/doc/libfuse3-dev/examples/passthrough_ll.c
ALL=(append write ls cat chart artifacts artsizes s3 pgwrite pgnodes pgls pgcp)
PG_GROUPS=(pgwrite pgnodes pgls pgcp)

REPEAT=${BENCH_REPEAT:-3}
APPEND_N=${APPEND_N:-20000}
APPEND_SECS=${APPEND_SECS:-20}
WRITE1_N=${WRITE1_N:-200000}
WRITE1_SECS=${WRITE1_SECS:-10}
BATCH_LINES=${BATCH_LINES:-10000}
BATCH_REPS=${BATCH_REPS:-100}
LS_ITERS=${LS_ITERS:-100000}
LS_HEAVY_ITERS=${LS_HEAVY_ITERS:-1000}
LS_HEAVY_POINTS=${LS_HEAVY_POINTS:-1000}
LS_PARAMS=${LS_PARAMS:-10000}
CAT_POINTS=${CAT_POINTS:-1000000}
CAT_MEM_CATS=${CAT_MEM_CATS:-10}
CHART_POINTS=${CHART_POINTS:-1000000}
ART_BYTES=${BENCH_ARTIFACT_BYTES:-1073741824}
ART_BACKENDS=${BENCH_ARTIFACT_BACKENDS:-default inline filesystem}
BENCH_PERF=${BENCH_PERF:-0}
S3_BYTES=${BENCH_S3_BYTES:-1073741824}
ARTSIZES=${ARTSIZES:-65536 262144 1048576 4194304 16777216}
ARTSIZES_N=${ARTSIZES_N:-30}
S3_THRESHOLDS=${BENCH_S3_THRESHOLDS:-default 67108864}
PG_SECS=${PG_SECS:-5}
PG_N=${PG_N:-200000}
PG_NODES=${PG_NODES:-4}
PG_FSYNC=${PG_FSYNC:-on}

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

selected=()
for a in "$@"; do
    case $a in
    -h|--help) usage; exit 0 ;;
    --list) printf '%s\n' "${ALL[@]}"; exit 0 ;;
    append|write|ls|cat|chart|artifacts|artsizes|s3|pgwrite|pgnodes|pgls|pgcp) selected+=("$a") ;;
    pg) selected+=("${PG_GROUPS[@]}") ;;
    *) echo "bench/run.sh: unknown benchmark '$a' (one of: ${ALL[*]})" >&2; exit 2 ;;
    esac
done
[[ ${#selected[@]} -gt 0 ]] || selected=("${ALL[@]}")

# The daemon reads DEARDIARY_* and $DEARDIARY_CONFIG: measure the defaults.
for v in $(compgen -e | grep '^DEARDIARY_' || true); do unset "$v"; done
export LC_ALL=C

log() { printf '%s\n' "$*" >&2; }
die() { log "bench/run.sh: $*"; exit 1; }

# ------------------------------------------------------------------ cleanup

WORK=""
MOUNTS=()      # mountpoints we mounted, index-aligned with PIDS
PIDS=()
PERF_PID=""
S3_PID=""      # the s3rver of bench "s3"
PGDIR=""       # the throwaway PostgreSQL of the pg* benches (scripts/pgtest.sh)

is_mounted() {   # MOUNTPOINT: in the mount table, alive or dead ("Transport endpoint ...")
    awk -v m="$1" '$2 == m {found = 1} END {exit !found}' /proc/self/mounts
}

stop_daemon() {   # MOUNTPOINT PID: unmount, wait for the daemon; force both if needed
    local mnt=$1 pid=$2 i
    if is_mounted "$mnt"; then
        fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt" 2>/dev/null || true
    fi
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        sleep 0.5
        kill -9 "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    if is_mounted "$mnt"; then fusermount3 -u -z "$mnt" 2>/dev/null || true; fi
    for ((i = 0; i < ${#MOUNTS[@]}; i++)); do
        [[ ${MOUNTS[i]} == "$mnt" ]] && MOUNTS[i]="" && PIDS[i]=""
    done
    return 0
}

cleanup() {
    local rc=$? i
    set +e
    if [[ -n $PERF_PID ]]; then kill -INT "$PERF_PID" 2>/dev/null; wait "$PERF_PID" 2>/dev/null; fi
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
        [[ -n ${MOUNTS[i]} ]] && stop_daemon "${MOUNTS[i]}" "${PIDS[i]}"
    done
    if [[ -n $S3_PID ]]; then kill "$S3_PID" 2>/dev/null; wait "$S3_PID" 2>/dev/null; fi
    [[ -n $PGDIR ]] && bash "$ROOT/scripts/pgtest.sh" stop "$PGDIR" --remove
    [[ -n $WORK && -d $WORK ]] && rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ build

build() {
    mkdir -p "$OUT/bin"
    if [[ -n ${DD_BIN:-} ]]; then
        DD=$DD_BIN
    else
        local src=$ROOT bdir=$OUT/dd
        if [[ -n ${BENCH_REV:-} ]]; then
            src=$OUT/src
            bdir=$OUT/dd-rev
            rm -rf "$src" "$bdir"
            mkdir -p "$src"
            git -C "$ROOT" archive "$BENCH_REV" | tar -x -C "$src" || die "git archive $BENCH_REV failed"
        fi
        log "building deardiary (RelWithDebInfo) from $src in $bdir ..."
        if ! { cmake -S "$src" -B "$bdir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$OUT/build.log" 2>&1 &&
               cmake --build "$bdir" --target deardiary -j"$(nproc)" >>"$OUT/build.log" 2>&1; }; then
            tail -30 "$OUT/build.log" >&2
            die "building deardiary failed (see $OUT/build.log; DD_BIN or BENCH_REV=HEAD avoid it)"
        fi
        DD=$bdir/deardiary
    fi
    [[ -x $DD ]] || die "no deardiary binary at $DD"
    [[ -f $PT_SRC ]] || die "$PT_SRC is missing (apt-get install libfuse3-dev)"
    PT=$OUT/bin/passthrough_ll
    # shellcheck disable=SC2046
    gcc -O2 -Wall -I"$(dirname "$PT_SRC")" -o "$PT" "$PT_SRC" $(pkg-config fuse3 --cflags --libs) ||
        die "building passthrough_ll failed"
    NOOP=$OUT/bin/noop_ll
    # shellcheck disable=SC2046
    gcc -O2 -Wall -Wextra -o "$NOOP" "$BENCH/noop_ll.c" $(pkg-config fuse3 --cflags --libs) ||
        die "building noop_ll failed"
    LOOPS=$OUT/bin/loops
    gcc -O2 -Wall -Wextra -o "$LOOPS" "$BENCH/loops.c" -lsqlite3 || die "building loops failed"
}

# ------------------------------------------------------------------ mounts

DAEMON_PID=""
start_daemon() {   # MOUNTPOINT CMD...: run CMD (a foreground FUSE daemon), wait for the mount
    local mnt=$1 i
    shift
    mkdir -p "$mnt"
    "$@" >"$mnt.log" 2>&1 &
    DAEMON_PID=$!
    MOUNTS+=("$mnt")
    PIDS+=("$DAEMON_PID")
    for ((i = 0; i < 300; i++)); do
        is_mounted "$mnt" && return 0
        kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$mnt.log" >&2; die "$1 exited before mounting $mnt"; }
        sleep 0.1
    done
    die "$mnt not mounted after 30 s"
}

mount_dd() {   # DB MOUNTPOINT [VAR=VALUE...]: init and the daemon with these in their environment
    env "${@:3}" "$DD" init "$1" >/dev/null || die "deardiary init $1 failed"
    start_daemon "$2" env "${@:3}" "$DD" mount "$1" "$2" -f    # env execs: same pid
}

mount_pt() {   # SOURCE MOUNTPOINT
    mkdir -p "$1"
    # passthrough_ll holds an O_PATH descriptor per inode the kernel knows: give it all we may
    # shellcheck disable=SC2016
    start_daemon "$2" bash -c 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"' \
        passthrough_ll "$PT" -o source="$1" "$2" -f
}

# ------------------------------------------------------------------ measuring

RESULTS=""
record() {   # BENCH FIGURE UNIT hi|lo OURS BASELINE_NAME BASELINE TARGET
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"
}

field() {   # KEY LINE: the value of KEY=... in a "k=v k=v" line
    local kv
    for kv in $2; do [[ ${kv%%=*} == "$1" ]] && { printf '%s\n' "${kv#*=}"; return 0; }; done
    die "no $1 in: $2"
}

points_check() {   # FILE [COUNTS]: the metric holds 1 + every unit counted since the last check
    local want got counts=${2:-$WORK/counts}
    want=$(awk '{s += $1} END {print 1 + s}' "$counts")
    : >"$counts"
    got=$(wc -l <"$1")
    [[ $got == "$want" ]] || die "$1 holds $got points, expected $want"
    log "  (${1##*/iterations/} holds $got points, as written)"
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

perf_start() {   # NAME PID
    [[ $BENCH_PERF == 1 ]] || return 0
    perf record -g -o "$OUT/perf-$1.data" -p "$2" >/dev/null 2>&1 &
    PERF_PID=$!
    sleep 0.5
}
perf_stop() {
    [[ -n $PERF_PID ]] || return 0
    kill -INT "$PERF_PID" 2>/dev/null || true
    wait "$PERF_PID" 2>/dev/null || true
    PERF_PID=""
S3_PID=""      # the s3rver of bench "s3"
}

rate_of() {   # LABEL LOOPS-ARGS...: median rate over REPEAT runs of bench/loops.c
    local label=$1 i line rates=()
    shift
    for ((i = 0; i < REPEAT; i++)); do
        # LOOPS_PIN: an optional command prefix, e.g. "taskset -c 1" (split on purpose)
        # shellcheck disable=SC2086
        line=$(${LOOPS_PIN:-} "$LOOPS" "$@") || die "$label: loops $* failed"
        rates+=("$(field rate "$line")")
        field count "$line" >>"$WORK/counts"    # units done, for points_check
    done
    log "  $(printf '%-44s' "$label") median $(median "${rates[@]}")/s  runs: ${rates[*]}"
    median "${rates[@]}"
}

time_of() {   # LABEL TIMECMD-ARGS...: median wall time over REPEAT runs
    local label=$1 line
    shift
    line=$("$PY" "$BENCH/timecmd.py" "$REPEAT" "$@") || die "$label: $* failed"
    log "  $(printf '%-44s' "$label") $line"
    field median "$line"
}

time_or_skip() {   # like time_of, but a failure prints why and yields "" (a baseline we lack)
    local label=$1 line
    shift
    if line=$("$PY" "$BENCH/timecmd.py" "$REPEAT" "$@" 2>&1); then
        log "  $(printf '%-44s' "$label") $line"
        field median "$line"
    else
        log "  $(printf '%-44s' "$label") FAILED, no baseline: $(tail -1 <<<"$line")"
    fi
}

mem_kb() {   # PID FIELD (VmRSS, VmHWM: kB; Threads)
    awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"
}
mbs() { awk -v b="$1" -v t="$2" 'BEGIN{print b/1e6/t}'; }       # BYTES SECONDS: MB/s
mb() { awk -v a="$1" -v b="$2" 'BEGIN{print (a-b)/1024}'; }      # KB_AFTER KB_BEFORE: MB

new_iteration() {   # MOUNTPOINT EXPERIMENT: a RUNNING iteration's directory
    local exp=$1/projects/bench/experiments/$2
    mkdir -p "$exp"
    echo "$exp/iterations/$(cat "$exp/iterations/new")"
}

# ------------------------------------------------------------------ benchmarks

bench_append() {
    log "[append] open(O_WRONLY|O_APPEND) + write(\"0.5\\n\") + close, N=$APPEND_N or ${APPEND_SECS}s"
    local mnt=$WORK/append.mnt src=$WORK/append.src pmnt=$WORK/append.pt
    mount_dd "$WORK/append.db" "$mnt"
    local dd_pid=$DAEMON_PID it f
    it=$(new_iteration "$mnt" append)
    f=$it/metrics/loss
    echo 0.5 >>"$f"
    mount_pt "$src" "$pmnt"
    : >"$pmnt/loss"
    : >"$WORK/append.local"

    local local_rate pt_rate ours
    local_rate=$(rate_of "local disk file" append "$WORK/append.local" "$APPEND_N" "$APPEND_SECS")
    pt_rate=$(rate_of "passthrough_ll file" append "$pmnt/loss" "$APPEND_N" "$APPEND_SECS")
    : >"$WORK/counts"
    perf_start append "$dd_pid"
    ours=$(rate_of "deardiary metrics/loss" append "$f" "$APPEND_N" "$APPEND_SECS")
    perf_stop
    points_check "$f"
    record append "open/append/close of 1 point" "ops/s" hi "$ours" "passthrough_ll" "$pt_rate" "ratio>=0.7"
    record append "open/append/close of 1 point" "ops/s" hi "$ours" "local disk" "$local_rate" ""
    stop_daemon "$pmnt" "$(pid_of "$pmnt")"
    stop_daemon "$mnt" "$dd_pid"
}

pid_of() {   # MOUNTPOINT: the daemon we started for it
    local i
    for ((i = 0; i < ${#MOUNTS[@]}; i++)); do
        [[ ${MOUNTS[i]} == "$1" ]] && { echo "${PIDS[i]}"; return 0; }
    done
    die "no daemon for $1"
}

bench_write() {
    log "[write] held-open metric file: 1 point per write() (N=$WRITE1_N or ${WRITE1_SECS}s);" \
        "$BATCH_LINES lines per write() x $BATCH_REPS"
    local mnt=$WORK/write.mnt src=$WORK/write.src pmnt=$WORK/write.pt
    mount_dd "$WORK/write.db" "$mnt"
    local dd_pid=$DAEMON_PID it
    it=$(new_iteration "$mnt" write)
    echo 0.5 >>"$it/metrics/one"
    echo 0.5 >>"$it/metrics/batch"
    echo 0.5 >>"$it/metrics/pinned"
    mount_pt "$src" "$pmnt"
    : >"$pmnt/points"
    : >"$WORK/write.local"
    local nmnt=$WORK/write.noop
    start_daemon "$nmnt" "$NOOP" "$nmnt" -f

    local l1 p1 n1 s1 o1 lb pb sb ob i
    l1=$(rate_of "local disk: 1 line/write" write1 "$WORK/write.local" "$WRITE1_N" "$WRITE1_SECS")
    p1=$(rate_of "passthrough_ll: 1 line/write" write1 "$pmnt/points" "$WRITE1_N" "$WRITE1_SECS")
    n1=$(rate_of "no-op FUSE server: 1 line/write" write1 "$nmnt/points" "$WRITE1_N" "$WRITE1_SECS")
    s1=$(rate_of "SQLite: 1 insert/transaction" sqlite1 "$WORK/plain1.db" "$WRITE1_N" "$WRITE1_SECS")
    : >"$WORK/counts"
    perf_start write1 "$dd_pid"
    o1=$(rate_of "deardiary: 1 point/write" write1 "$it/metrics/one" "$WRITE1_N" "$WRITE1_SECS")
    perf_stop
    points_check "$it/metrics/one"
    # the same with the writer pinned to one CPU, as training jobs often are: the
    # daemon's workers then follow it there (fs/placement.h)
    local cpu p1p o1p n1p
    cpu=$("$PY" -c 'import os; print(max(os.sched_getaffinity(0)))')
    p1p=$(LOOPS_PIN="taskset -c $cpu" rate_of "passthrough_ll: 1 line/write, pinned" \
        write1 "$pmnt/points" "$WRITE1_N" "$WRITE1_SECS")
    n1p=$(LOOPS_PIN="taskset -c $cpu" rate_of "no-op FUSE server: 1 line/write, pinned" \
        write1 "$nmnt/points" "$WRITE1_N" "$WRITE1_SECS")
    : >"$WORK/counts"
    o1p=$(LOOPS_PIN="taskset -c $cpu" rate_of "deardiary: 1 point/write, pinned" \
        write1 "$it/metrics/pinned" "$WRITE1_N" "$WRITE1_SECS")
    points_check "$it/metrics/pinned"
    lb=$(rate_of "local disk: $BATCH_LINES lines/write" writebatch "$WORK/write.local" "$BATCH_LINES" "$BATCH_REPS")
    pb=$(rate_of "passthrough_ll: $BATCH_LINES lines/write" writebatch "$pmnt/points" "$BATCH_LINES" "$BATCH_REPS")
    sb=$(rate_of "SQLite: $BATCH_LINES inserts/transaction" sqlitebatch "$WORK/plainb.db" "$BATCH_LINES" "$BATCH_REPS")
    : >"$WORK/counts"
    perf_start writebatch "$dd_pid"
    ob=$(rate_of "deardiary: $BATCH_LINES points/write" writebatch "$it/metrics/batch" "$BATCH_LINES" "$BATCH_REPS")
    perf_stop
    points_check "$it/metrics/batch"
    record write "1 point per write(), held open" "points/s" hi "$o1" "local disk" "$l1" "ours>=50000"
    record write "1 point per write(), held open" "points/s" hi "$o1" "SQLite 1 insert/txn" "$s1" "ours>=50000"
    record write "1 point per write(), held open" "points/s" hi "$o1" "passthrough_ll" "$p1" ""
    record write "1 point per write(), held open" "points/s" hi "$o1" "no-op FUSE server (noop_ll.c)" "$n1" ""
    record write "1 point per write(), held open, writer pinned (taskset -c $cpu)" "points/s" hi \
        "$o1p" "passthrough_ll, writer pinned" "$p1p" "ours>=50000"
    record write "1 point per write(), held open, writer pinned (taskset -c $cpu)" "points/s" hi \
        "$o1p" "no-op FUSE server, writer pinned" "$n1p" ""
    record write "$BATCH_LINES points in one write()" "points/s" hi "$ob" "local disk" "$lb" "ours>=300000"
    record write "$BATCH_LINES points in one write()" "points/s" hi "$ob" "SQLite $BATCH_LINES inserts/txn" "$sb" "ours>=300000"
    record write "$BATCH_LINES points in one write()" "points/s" hi "$ob" "passthrough_ll" "$pb" ""
    stop_daemon "$nmnt" "$(pid_of "$nmnt")"
    stop_daemon "$pmnt" "$(pid_of "$pmnt")"
    stop_daemon "$mnt" "$dd_pid"
}

bench_ls() {
    log "[ls] iterations/ with $LS_ITERS iterations; 'heavy': $LS_HEAVY_ITERS of them hold $LS_HEAVY_POINTS points each"
    local db=$WORK/ls.db mnt=$WORK/ls.mnt local=$WORK/ls.local pmnt=$WORK/ls.pt t0
    local plocal=$WORK/ls.params wide
    "$DD" init "$db" >/dev/null || die "deardiary init failed"
    t0=$(date +%s.%N)
    "$PY" "$BENCH/seed.py" ls "$db" "$LS_ITERS" "$LS_HEAVY_ITERS" "$LS_HEAVY_POINTS" || die "seeding failed"
    wide=$("$PY" "$BENCH/seed.py" params "$db" "$LS_PARAMS") || die "seeding parameters failed"
    "$PY" "$BENCH/seed.py" localdirs "$local" "$LS_ITERS" || die "creating $local failed"
    "$PY" "$BENCH/seed.py" localfiles "$plocal" "$LS_PARAMS" || die "creating $plocal failed"
    log "  seeded in $(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s"
    mount_dd "$db" "$mnt"
    local dd_pid=$DAEMON_PID
    local flat=$mnt/projects/bench/experiments/flat/iterations
    local heavy=$mnt/projects/bench/experiments/heavy/iterations
    local n
    for d in "$flat" "$heavy" "$local"; do   # the seeding is what the mount shows
        n=$("$PY" -c 'import os, sys; print(len(os.listdir(sys.argv[1])))' "$d")
        [[ $n == "$LS_ITERS" ]] || die "$d lists $n entries, expected $LS_ITERS"
    done
    mount_pt "$local" "$pmnt"
    local pt_pid=$DAEMON_PID
    local kind cmd label base pt ours_f ours_h target
    for kind in ls ls-f ls-l; do
        case $kind in
        ls) cmd=(ls); label="ls"; target="ours<1" ;;
        ls-f) cmd=(ls -f); label="ls -f"; target="ours<1" ;;
        ls-l) cmd=(ls -l); label="ls -l"; target="ours<3" ;;
        esac
        base=$(time_of "local disk: $label" "${cmd[@]}" "$local")
        # passthrough_ll needs a descriptor per entry `ls -l` stats: over RLIMIT_NOFILE it fails
        pt=$(time_or_skip "passthrough_ll: $label" "${cmd[@]}" "$pmnt")
        perf_start "$kind-flat" "$dd_pid"
        ours_f=$(time_of "deardiary flat: $label" "${cmd[@]}" "$flat")
        perf_stop
        perf_start "$kind-heavy" "$dd_pid"
        ours_h=$(time_of "deardiary heavy: $label" "${cmd[@]}" "$heavy")
        perf_stop
        record ls "$label iterations/ ($LS_ITERS iterations, no metrics)" s lo "$ours_f" "local disk" "$base" "$target"
        record ls "$label iterations/ ($LS_ITERS iterations, no metrics)" s lo "$ours_f" "passthrough_ll" "$pt" "$target"
        record ls "$label iterations/ ($LS_ITERS iterations; $LS_HEAVY_ITERS of them x $LS_HEAVY_POINTS points)" s lo "$ours_h" "same, no metrics" "$ours_f" "$target"
    done
    # params/: files whose attributes come from rows of their own (issue 14: a listing
    # used to ask the store again for each entry)
    local params=$mnt/projects/bench/experiments/wide/iterations/$wide/params
    n=$("$PY" -c 'import os, sys; print(len(os.listdir(sys.argv[1])))' "$params")
    [[ $n == "$LS_PARAMS" ]] || die "$params lists $n entries, expected $LS_PARAMS"
    base=$(time_of "local disk: ls -l params" ls -l "$plocal")
    ours_f=$(time_of "deardiary: ls -l params" ls -l "$params")
    record ls "ls -l params/ ($LS_PARAMS parameters)" s lo "$ours_f" "local disk" "$base" ""
    stop_daemon "$pmnt" "$pt_pid"
    stop_daemon "$mnt" "$dd_pid"
}

bench_cat() {
    log "[cat] a metric of $CAT_POINTS points"
    local db=$WORK/cat.db mnt=$WORK/cat.mnt src=$WORK/cat.src pmnt=$WORK/cat.pt
    "$DD" init "$db" >/dev/null || die "deardiary init failed"
    local seeded id bytes
    seeded=$("$PY" "$BENCH/seed.py" cat "$db" "$CAT_POINTS") || die "seeding failed"
    read -r id bytes <<<"$seeded"
    mount_dd "$db" "$mnt"
    local dd_pid=$DAEMON_PID f
    f=$mnt/projects/bench/experiments/cat/iterations/$id/metrics/loss
    local size
    size=$(stat -c %s "$f")
    [[ $size == "$bytes" ]] || die "metrics/loss has st_size $size, expected $bytes"

    # memory: VmRSS before the first cat, VmHWM after it, and after CAT_MEM_CATS cats in all
    # (each FUSE worker thread that serves a read keeps its own SQLite connection)
    local rss0 hwm1 t hwmn rssn i
    rss0=$(mem_kb "$dd_pid" VmRSS)
    cat "$f" >/dev/null
    hwm1=$(mem_kb "$dd_pid" VmHWM)
    perf_start cat "$dd_pid"
    t=$(time_of "deardiary: cat metrics/loss" cat "$f")
    perf_stop
    for ((i = 1 + REPEAT; i < CAT_MEM_CATS; i++)); do cat "$f" >/dev/null; done
    hwmn=$(mem_kb "$dd_pid" VmHWM)
    rssn=$(mem_kb "$dd_pid" VmRSS)
    log "  deardiary daemon: VmRSS ${rss0} kB before; VmHWM ${hwm1} kB after 1 cat;" \
        "VmHWM ${hwmn} kB, VmRSS ${rssn} kB after $CAT_MEM_CATS cats;" \
        "$(($(mem_kb "$dd_pid" Threads) - 1)) worker threads"
    # the same bytes on local disk (and the check that a cat returns exactly st_size bytes)
    mkdir -p "$src"
    cat "$f" >"$src/loss"
    local got
    got=$(stat -c %s "$src/loss")
    [[ $got == "$bytes" ]] || die "cat returned $got bytes, expected $bytes"
    cat "$src/loss" >/dev/null   # page cache
    local tl tp prss0 phwm pid
    tl=$(time_of "local disk (page cache): cat" cat "$src/loss")
    mount_pt "$src" "$pmnt"
    pid=$DAEMON_PID
    prss0=$(mem_kb "$pid" VmRSS)
    tp=$(time_of "passthrough_ll: cat" cat "$pmnt/loss")
    for ((i = REPEAT; i < CAT_MEM_CATS; i++)); do cat "$pmnt/loss" >/dev/null; done
    phwm=$(mem_kb "$pid" VmHWM)
    log "  passthrough_ll daemon: VmRSS ${prss0} kB before; VmHWM ${phwm} kB after $CAT_MEM_CATS cats"
    record cat "cat of $CAT_POINTS points ($(awk -v b="$bytes" 'BEGIN{printf "%.1f", b/1e6}') MB)" \
        "MB/s" hi "$(mbs "$bytes" "$t")" "local disk, page cache" "$(mbs "$bytes" "$tl")" "ours>=100"
    record cat "cat of $CAT_POINTS points" "MB/s" hi "$(mbs "$bytes" "$t")" "passthrough_ll" "$(mbs "$bytes" "$tp")" "ours>=100"
    record cat "daemon memory growth, 1 cat (VmHWM after - VmRSS before)" "MB" lo \
        "$(mb "$hwm1" "$rss0")" "passthrough_ll, $CAT_MEM_CATS cats" "$(mb "$phwm" "$prss0")" "ours<20"
    record cat "daemon memory growth, $CAT_MEM_CATS cats (VmHWM after - VmRSS before)" "MB" lo \
        "$(mb "$hwmn" "$rss0")" "passthrough_ll, $CAT_MEM_CATS cats" "$(mb "$phwm" "$prss0")" "ours<20"
    stop_daemon "$pmnt" "$pid"
    stop_daemon "$mnt" "$dd_pid"
}

# The chart of a long series (issue 17): `cat metrics/loss.svg` reads the series through
# the downsampler (by its block summaries, schema 009: whole blocks where a pixel column
# holds them, points elsewhere) and draws the SVG; its baseline is `cat metrics/loss`, the same points as
# text, in the same daemon, timed interleaved with it.
bench_chart() {
    log "[chart] cat of metrics/loss.svg of $CHART_POINTS points, next to cat of metrics/loss"
    local db=$WORK/chart.db mnt=$WORK/chart.mnt
    "$DD" init "$db" >/dev/null || die "deardiary init failed"
    local seeded id bytes
    seeded=$("$PY" "$BENCH/seed.py" cat "$db" "$CHART_POINTS") || die "seeding failed"
    read -r id bytes <<<"$seeded"
    mount_dd "$db" "$mnt"
    local dd_pid=$DAEMON_PID dir
    dir=$mnt/projects/bench/experiments/cat/iterations/$id/metrics
    local svg_size got
    svg_size=$(stat -c %s "$dir/loss.svg")
    got=$(cat "$dir/loss.svg" | wc -c)
    [[ $got == "$svg_size" ]] || die "cat of loss.svg gave $got bytes, st_size says $svg_size"
    "$PY" -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' "$dir/loss.svg" ||
        die "loss.svg is not well-formed XML"
    cat "$dir/loss" "$dir/loss.svg" >/dev/null    # the database's pages in the page cache
    # drawn: one point appended before each cat (a running iteration's chart between two
    # looks), so the daemon draws it again from the store; kept: the same chart unchanged, as
    # the daemon keeps it (fs/charts.c); baseline: cat of the series' text, interleaved
    local lines td tk tm
    # shellcheck disable=SC2016
    mapfile -t lines < <(time_alt 3 "deardiary: echo >> loss; cat loss.svg (drawn)" \
        "deardiary: cat loss.svg (kept, unchanged)" "deardiary: cat metrics/loss" \
        bash -c 'echo 0.5 >> "$1/loss" && cat "$1/loss.svg"' _ "$dir" --- \
        cat "$dir/loss.svg" --- cat "$dir/loss")
    td=$(field median "${lines[0]}")
    tk=$(field median "${lines[1]}")
    tm=$(field median "${lines[2]}")
    log "  loss.svg: $svg_size bytes; metrics/loss: $bytes bytes"
    local ms='BEGIN{print t*1000}'
    record chart "cat of metrics/loss.svg, $CHART_POINTS points, drawn (a point appended first)" \
        "ms" lo "$(awk -v t="$td" "$ms")" "cat of metrics/loss (the same points as text)" \
        "$(awk -v t="$tm" "$ms")" "ours<200"
    record chart "cat of metrics/loss.svg, $CHART_POINTS points, unchanged (kept drawing)" \
        "ms" lo "$(awk -v t="$tk" "$ms")" "cat of metrics/loss (the same points as text)" \
        "$(awk -v t="$tm" "$ms")" "ours<200"
    record chart "size of metrics/loss.svg, $CHART_POINTS points" "KB" lo \
        "$(awk -v b="$svg_size" 'BEGIN{print b/1024}')" "metrics/loss" \
        "$(awk -v b="$bytes" 'BEGIN{print b/1024}')" "ours<200"
    stop_daemon "$mnt" "$dd_pid"
    rm -f "$db" "$db-wal" "$db-shm"
}

# Commands timed interleaved (timecmd.py CMD --- CMD ...: run 1 of each, then run 2 of
# each, ...), so drift of the machine's speed during the group weighs on each alike.
time_alt() {   # N LABEL1..LABELN TIMECMD-ARGS...: logs each command's line, prints the lines
    local n=$1 k out
    shift
    local labels=("${@:1:n}")
    shift "$n"
    out=$("$PY" "$BENCH/timecmd.py" "$REPEAT" "$@") || die "${labels[*]}: timecmd $* failed"
    local lines=()
    mapfile -t lines <<<"$out"
    [[ ${#lines[@]} == "$n" ]] || die "timecmd printed ${#lines[@]} lines, expected $n"
    for ((k = 0; k < n; k++)); do log "  $(printf '%-44s' "${labels[k]}") ${lines[k]}"; done
    printf '%s\n' "${lines[@]}"
}

rss_growth() {   # TIMECMD-LINE: peak VmRSS over all runs minus VmRSS before the first, kB
    echo $(($(field rss_peak_kb "$1") - $(field rss_before_kb "$1")))
}

bench_artifacts() {
    local mib
    mib=$(awk -v b="$ART_BYTES" 'BEGIN{printf "%g", b/1048576}')
    log "[artifacts] a $mib MiB file from /dev/urandom: cp in, cat out, registry artifact read" \
        "twice; backends: $ART_BACKENDS; ours and its baselines interleaved run by run"
    [[ -w /proc/sys/vm/drop_caches ]] || die "artifacts: cold reads need root (/proc/sys/vm/drop_caches)"
    local srcf=$WORK/art.bin
    if [[ ! -f $srcf ]]; then
        head -c "$ART_BYTES" /dev/urandom >"$srcf" || die "cannot write $srcf"
    fi
    [[ $(stat -c %s "$srcf") == "$ART_BYTES" ]] || die "$srcf is not $ART_BYTES bytes"
    local be
    for be in $ART_BACKENDS; do
        bench_artifacts_one "$be" "$srcf"
    done
}

bench_artifacts_one() {   # BACKEND SOURCE_FILE
    local be=$1 srcf=$2 mib
    mib=$(awk -v b="$ART_BYTES" 'BEGIN{printf "%g", b/1048576}')
    local db=$WORK/art-$be.db mnt=$WORK/art-$be.mnt psrc=$WORK/art-$be.src pmnt=$WORK/art-$be.pt
    local env=()
    case $be in
    default) ;;
    inline) env=(DEARDIARY_ARTIFACT_BACKEND=inline) ;;
    filesystem) env=(DEARDIARY_ARTIFACT_BACKEND=filesystem DEARDIARY_ARTIFACT_FS_ROOT="$WORK/art-$be.root") ;;
    *) die "artifacts: unknown configuration '$be' (default, inline, filesystem)" ;;
    esac
    log " backend $be"
    mount_dd "$db" "$mnt" "${env[@]}"
    local dd_pid=$DAEMON_PID it id res
    it=$(new_iteration "$mnt" "art")
    id=${it##*/}
    res=$mnt/projects/bench/experiments/art/resources
    mount_pt "$psrc" "$pmnt"
    local pt_pid=$DAEMON_PID out lines=() i

    # 1. cp into a new name per run (art1, art2, ...). Each run starts with no dirty pages
    #    (--sync): the page cache takes passthrough_ll's 1 GiB whole, ours syncs. The daemons'
    #    VmRSS is sampled every 50 ms during their cp.
    cat "$srcf" >/dev/null
    perf_start "artifacts-$be-cp" "$dd_pid"
    out=$(time_alt 3 "passthrough_ll: cp" "passthrough_ll: cp, then sync FILE" \
        "deardiary ($be): cp into resources/" \
        --sync --rss "$pt_pid" cp "$srcf" "$pmnt/art{i}" --- \
        --sync sh -c 'cp "$1" "$2" && sync "$2"' sh "$srcf" "$pmnt/sync{i}" --- \
        --sync --rss "$dd_pid" cp "$srcf" "$res/art{i}")
    perf_stop
    mapfile -t lines <<<"$out"
    local pt_cp pt_cps ours_cp pt_mem ours_mem
    pt_cp=$(field median "${lines[0]}")
    pt_cps=$(field median "${lines[1]}")
    ours_cp=$(field median "${lines[2]}")
    pt_mem=$(rss_growth "${lines[0]}")
    ours_mem=$(rss_growth "${lines[2]}")
    for ((i = 1; i <= REPEAT; i++)); do   # complete, and what was copied
        [[ $(stat -c %s "$res/art$i") == "$ART_BYTES" ]] || die "resources/art$i is not $ART_BYTES bytes"
        [[ $(stat -c %s "$pmnt/art$i") == "$ART_BYTES" ]] || die "passthrough_ll art$i is not $ART_BYTES bytes"
    done
    cmp "$srcf" "$res/art1" || die "resources/art1 differs from $srcf"
    local stored want=$be   # where the bytes went: the default moves a 1 GiB file to a file
    [[ $be == default ]] && want=filesystem
    stored=$("$PY" -c 'import os, sys; print(os.getxattr(sys.argv[1], "user.deardiary.backend").decode())' \
        "$res/art1") || die "no backend xattr on resources/art1"
    [[ $stored == "$want" ]] || die "resources/art1 is stored in $stored, expected $want"
    log "  resources/art1 is stored in: $stored"
    for ((i = 2; i <= REPEAT; i++)); do rm -f "$res/art$i" "$psrc/art$i"; done   # disk space
    rm -f "$psrc"/sync*

    # 2. cat of the resource (direct I/O) and of the same bytes through passthrough_ll and
    #    on local disk, each run cold (--drop-caches: sync, echo 3 > drop_caches)
    perf_start "artifacts-$be-cat" "$dd_pid"
    out=$(time_alt 3 "local disk: cat, cold" "passthrough_ll: cat, cold" \
        "deardiary ($be): cat resources/art1, cold" \
        --drop-caches cat "$srcf" --- --drop-caches cat "$pmnt/art1" --- \
        --drop-caches cat "$res/art1")
    perf_stop
    mapfile -t lines <<<"$out"
    local local_cold pt_cold ours_cold
    local_cold=$(field median "${lines[0]}")
    pt_cold=$(field median "${lines[1]}")
    ours_cold=$(field median "${lines[2]}")

    # 3. a registered version's artifact: the first read (a cmp, which checks the bytes)
    #    fills the page cache, the timed ones read it again; baseline: the local file, twice
    local n art
    mkdir "$mnt/projects/bench/models/m"
    n=$(cat "$mnt/models/m/versions/new/$id:art1") || die "registering art1 failed"
    art=$mnt/models/m/versions/$n/artifact
    [[ $(stat -c %s "$art") == "$ART_BYTES" ]] || die "$art is not $ART_BYTES bytes"
    cmp "$srcf" "$art" || die "$art differs from $srcf"
    cat "$srcf" >/dev/null
    perf_start "artifacts-$be-artifact" "$dd_pid"
    out=$(time_alt 2 "local disk: cat, page cache" "deardiary ($be): cat versions/$n/artifact, 2nd+" \
        cat "$srcf" --- cat "$art")
    perf_stop
    mapfile -t lines <<<"$out"
    local local_warm ours_warm
    local_warm=$(field median "${lines[0]}")
    ours_warm=$(field median "${lines[1]}")

    local fig="$mib MiB, $be backend"
    [[ $be == default ]] && fig="$mib MiB, default configuration"
    record artifacts "cp into resources/ ($fig)" "MB/s" hi "$(mbs "$ART_BYTES" "$ours_cp")" \
        "passthrough_ll cp" "$(mbs "$ART_BYTES" "$pt_cp")" "ratio>=0.8"
    record artifacts "cp into resources/ ($fig)" "MB/s" hi "$(mbs "$ART_BYTES" "$ours_cp")" \
        "passthrough_ll cp + sync FILE" "$(mbs "$ART_BYTES" "$pt_cps")" ""
    record artifacts "cat resources/<name>, cold ($fig)" "MB/s" hi "$(mbs "$ART_BYTES" "$ours_cold")" \
        "passthrough_ll cat, cold" "$(mbs "$ART_BYTES" "$pt_cold")" "ratio>=0.8"
    record artifacts "cat resources/<name>, cold ($fig)" "MB/s" hi "$(mbs "$ART_BYTES" "$ours_cold")" \
        "local disk cat, cold" "$(mbs "$ART_BYTES" "$local_cold")" ""
    record artifacts "cat versions/$n/artifact, 2nd read ($fig)" "MB/s" hi "$(mbs "$ART_BYTES" "$ours_warm")" \
        "local disk, page cache" "$(mbs "$ART_BYTES" "$local_warm")" "ratio>=0.5"
    record artifacts "daemon VmRSS growth during cp (peak - before; $fig)" "MB" lo "$(mb "$ours_mem" 0)" \
        "passthrough_ll during cp" "$(mb "$pt_mem" 0)" "ours<64"
    stop_daemon "$pmnt" "$pt_pid"
    stop_daemon "$mnt" "$dd_pid"
    rm -rf "$db" "$db-wal" "$db-shm" "$db.artifacts" "$psrc" "$WORK/art-$be.root"
}

# bench "artsizes": per artifact size, the time of one `cp` into resources/ with the inline
# backend against the filesystem backend, each daemon on its own database, interleaved run
# by run (ARTSIZES_N files per run, new names each run, a `sync` before each run). Where
# the ratio crosses 1 is where a file starts to pay: artifacts.inline_max.
bench_artsizes() {
    log "[artsizes] cp of $ARTSIZES_N files per size into resources/: inline vs filesystem backend"
    local mi=$WORK/sz-inline.mnt mf=$WORK/sz-fs.mnt
    mount_dd "$WORK/sz-inline.db" "$mi" DEARDIARY_ARTIFACT_BACKEND=inline
    local pid_i=$DAEMON_PID
    mount_dd "$WORK/sz-fs.db" "$mf" DEARDIARY_ARTIFACT_BACKEND=filesystem \
        DEARDIARY_ARTIFACT_FS_ROOT="$WORK/sz-fs.root"
    local pid_f=$DAEMON_PID ri rf size out lines=() ms_i ms_f label
    ri=$(new_iteration "$mi" sizes)
    rf=$(new_iteration "$mf" sizes)
    ri=${ri%/iterations/*}/resources
    rf=${rf%/iterations/*}/resources
    # shellcheck disable=SC2016
    local loop='for k in $(seq "$3"); do cp "$1" "$2-$k" || exit 1; done'
    for size in $ARTSIZES; do
        head -c "$size" /dev/urandom >"$WORK/sz.src"
        label=$(awk -v b="$size" 'BEGIN{ if (b >= 1048576) printf "%g MiB", b/1048576;
                                         else printf "%g KiB", b/1024 }')
        out=$(time_alt 2 "inline: $ARTSIZES_N x cp $label" "filesystem: $ARTSIZES_N x cp $label" \
            --sync sh -c "$loop" sh "$WORK/sz.src" "$ri/s$size-{i}" "$ARTSIZES_N" --- \
            --sync sh -c "$loop" sh "$WORK/sz.src" "$rf/s$size-{i}" "$ARTSIZES_N")
        mapfile -t lines <<<"$out"
        ms_i=$(awk -v t="$(field median "${lines[0]}")" -v n="$ARTSIZES_N" 'BEGIN{print t*1000/n}')
        ms_f=$(awk -v t="$(field median "${lines[1]}")" -v n="$ARTSIZES_N" 'BEGIN{print t*1000/n}')
        cmp "$WORK/sz.src" "$ri/s$size-1-1" || die "inline s$size-1-1 differs"
        cmp "$WORK/sz.src" "$rf/s$size-1-1" || die "filesystem s$size-1-1 differs"
        record artsizes "cp of one $label artifact, inline backend" "ms" lo "$ms_i" \
            "filesystem backend" "$ms_f" ""
        rm -f "$ri"/s"$size"-* "$rf"/s"$size"-*
    done
    stop_daemon "$mi" "$pid_i"
    stop_daemon "$mf" "$pid_f"
    rm -rf "$WORK"/sz-*
}

# bench "s3": the s3 backend against s3rver (tests/s3, on 127.0.0.1), baselines curl in
# the same run: `curl --aws-sigv4 -T FILE` (one signed PUT of the same file to the same
# server) for cp into the mount, and a plain `curl -o /dev/null` GET of that object for cat
# out of it. One daemon per multipart threshold (BENCH_S3_THRESHOLDS).
bench_s3() {
    local s3js=$ROOT/tests/s3/node_modules/s3rver/bin/s3rver.js
    [[ -f $s3js ]] || die "s3: s3rver is not installed (scripts/setup.sh runs npm ci in tests/s3)"
    local mib srcf=$WORK/s3src.bin port data=$WORK/s3data
    mib=$(awk -v b="$S3_BYTES" 'BEGIN{printf "%g", b/1048576}')
    log "[s3] a $mib MiB file: cp into the s3 backend vs curl --aws-sigv4 -T, cat vs curl GET;" \
        "s3rver $(node -p "require('$ROOT/tests/s3/node_modules/s3rver/package.json').version")," \
        "node $(node --version), thresholds: $S3_THRESHOLDS"
    [[ -f $srcf ]] || head -c "$S3_BYTES" /dev/urandom >"$srcf" || die "cannot write $srcf"
    port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    mkdir -p "$data"
    node "$s3js" -d "$data" -a 127.0.0.1 -p "$port" --silent --configure-bucket bench \
        >"$WORK/s3rver.log" 2>&1 &
    S3_PID=$!
    local i
    for ((i = 0; i < 100; i++)); do
        curl -s -o /dev/null "http://127.0.0.1:$port/" && break
        sleep 0.1
    done
    local ep=http://127.0.0.1:$port th
    for th in $S3_THRESHOLDS; do
        bench_s3_one "$ep" "$srcf" "$th"
    done
    kill "$S3_PID" 2>/dev/null
    wait "$S3_PID" 2>/dev/null || true
    S3_PID=""
}

bench_s3_one() {   # ENDPOINT SOURCE_FILE THRESHOLD
    local ep=$1 srcf=$2 th=$3 mib out lines=()
    mib=$(awk -v b="$S3_BYTES" 'BEGIN{printf "%g", b/1048576}')
    local db=$WORK/s3-$th.db mnt=$WORK/s3-$th.mnt
    local how="multipart, 16 MiB parts" bytes=$th target="" thenv=()
    # the default configuration is the one judged; other thresholds are information
    [[ $th == default ]] && { bytes=2147483648 target="ratio>=0.7"; }
    [[ $th != default ]] && thenv=(DEARDIARY_ARTIFACT_S3_MULTIPART_THRESHOLD="$th")
    (( S3_BYTES < bytes )) && how="one PUT from the spool"
    log " multipart_threshold $th: the file goes in $how"
    mount_dd "$db" "$mnt" DEARDIARY_ARTIFACT_BACKEND=s3 DEARDIARY_ARTIFACT_S3_ENDPOINT="$ep" \
        DEARDIARY_ARTIFACT_S3_BUCKET=bench DEARDIARY_ARTIFACT_S3_ACCESS_KEY=S3RVER \
        DEARDIARY_ARTIFACT_S3_SECRET_KEY=S3RVER "${thenv[@]}" \
        DEARDIARY_ARTIFACT_FS_ROOT="$WORK/s3-$th.root"
    local dd_pid=$DAEMON_PID res
    new_iteration "$mnt" "s3" >/dev/null
    res=$mnt/projects/bench/experiments/s3/resources
    cat "$srcf" >/dev/null
    perf_start "s3-$th-cp" "$dd_pid"
    out=$(time_alt 2 "curl --aws-sigv4 -T (one PUT)" "deardiary (s3): cp into resources/" \
        curl -sS -f -o /dev/null --aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER \
            -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -T "$srcf" "$ep/bench/base-$th-{i}" --- \
        --rss "$dd_pid" cp "$srcf" "$res/f{i}")
    perf_stop
    mapfile -t lines <<<"$out"
    local curl_put ours_cp ours_mem
    curl_put=$(field median "${lines[0]}")
    ours_cp=$(field median "${lines[1]}")
    ours_mem=$(rss_growth "${lines[1]}")
    cmp "$srcf" "$res/f1" || die "resources/f1 differs from $srcf"
    local key
    key=$(getfattr --absolute-names --only-values -n user.deardiary.uri "$res/f1") || die "no uri for f1"
    key=${key#s3://bench/}
    perf_start "s3-$th-cat" "$dd_pid"
    out=$(time_alt 2 "curl GET -o /dev/null" "deardiary (s3): cat resources/f1" \
        curl -sS -f -o /dev/null "$ep/bench/$key" --- cat "$res/f1")
    perf_stop
    mapfile -t lines <<<"$out"
    local curl_get ours_cat
    curl_get=$(field median "${lines[0]}")
    ours_cat=$(field median "${lines[1]}")
    local fig="$mib MiB, threshold $th: $how"
    record s3 "cp into resources/ ($fig)" "MB/s" hi "$(mbs "$S3_BYTES" "$ours_cp")" \
        "curl --aws-sigv4 -T" "$(mbs "$S3_BYTES" "$curl_put")" "$target"
    record s3 "cat resources/<name> ($fig)" "MB/s" hi "$(mbs "$S3_BYTES" "$ours_cat")" \
        "curl GET" "$(mbs "$S3_BYTES" "$curl_get")" "$target"
    record s3 "daemon VmRSS growth during cp (peak - before; $fig)" "MB" lo "$(mb "$ours_mem" 0)" \
        "" "" ""
    stop_daemon "$mnt" "$dd_pid"
    # the bucket's objects (ours and curl's) go with the data directory; free the disk now
    for ((i = 1; i <= REPEAT; i++)); do
        curl -s -o /dev/null -X DELETE --aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER \
            -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
            "$ep/bench/base-$th-$i" || true
    done
    rm -rf "$db" "$db-wal" "$db-shm" "$WORK/s3-$th.root"
}

# ------------------------------------------------------------------ PostgreSQL (issue 14)

PGPORT=""
pg_start() {   # the throwaway server of the pg* benches, once per run; fsync on
    [[ -n $PGDIR ]] && return 0
    PGDIR=$WORK/pg
    local sync=(--fsync)
    [[ $PG_FSYNC == off ]] && sync=()
    bash "$ROOT/scripts/pgtest.sh" start "$PGDIR" "${sync[@]}" >&2 || die "scripts/pgtest.sh start failed"
    PGPORT=$(cat "$PGDIR/port")
    # `deardiary init` of a PG registry records its artifact root, by default under
    # XDG_DATA_HOME: the bench's own directory (local disk, as ~/.local/share would be)
    export XDG_DATA_HOME=$WORK/xdg
    log "  PostgreSQL $(psql -X -A -t -h 127.0.0.1 -p "$PGPORT" -U dd -d postgres -c 'SHOW server_version') on" \
        "127.0.0.1:$PGPORT, fsync $(psql -X -A -t -h 127.0.0.1 -p "$PGPORT" -U dd -d postgres -c 'SHOW fsync')," \
        "synchronous_commit $(psql -X -A -t -h 127.0.0.1 -p "$PGPORT" -U dd -d postgres -c 'SHOW synchronous_commit')"
}

pg_sql() {   # DB SQL: run SQL in database DB of the bench server, quietly
    psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U dd -d "$1" -c "$2" >/dev/null ||
        die "psql $1: $2 failed"
}

pg_db() {   # NAME: a new empty database; prints its URI
    pg_sql postgres "CREATE DATABASE $1"
    echo "postgresql://dd@127.0.0.1:$PGPORT/$1"
}

rate_once() {   # LABEL COUNTS LOOPS-ARGS...: one run of bench/loops.c; prints its rate
    local label=$1 counts=$2 line
    shift 2
    line=$("$LOOPS" "$@") || die "$label: loops $* failed"
    field count "$line" >>"$counts"
    log "  $(printf '%-44s' "$label") $(field rate "$line")/s"
    field rate "$line"
}

hwm_mb() { awk -v k="$(mem_kb "$1" VmHWM)" 'BEGIN{print k/1024}'; }   # PID: peak RSS, MB

# bench "pgwrite": the metric write paths of bench "append" and "write" on a PostgreSQL
# mount, each run next to the same run on a SQLite mount (interleaved run by run).
bench_pgwrite() {
    pg_start
    log "[pgwrite] PG mount vs SQLite mount: open/append/close, 1 line/write held open," \
        "$BATCH_LINES lines/write; PG_N=$PG_N or ${PG_SECS}s per loop"
    local ms=$WORK/pgw-sqlite.mnt mp=$WORK/pgw-pg.mnt uri
    uri=$(pg_db pgwrite)
    mount_dd "$WORK/pgw.db" "$ms"
    local spid=$DAEMON_PID
    mount_dd "$uri" "$mp" DEARDIARY_METRICS_JOURNAL_DIR="$WORK/pgw.journal"
    local ppid=$DAEMON_PID is ip k
    is=$(new_iteration "$ms" w)
    ip=$(new_iteration "$mp" w)
    for k in append one batch; do echo 0.5 >>"$is/metrics/$k"; echo 0.5 >>"$ip/metrics/$k"; done
    local cs=$WORK/counts.s cp=$WORK/counts.p i
    : >"$cs"
    : >"$cp"
    local sa=() pa=() s1=() p1=() sb=() pb=()
    for ((i = 1; i <= REPEAT; i++)); do
        sa+=("$(rate_once "SQLite mount: open/append/close" "$cs" append "$is/metrics/append" "$PG_N" "$PG_SECS")")
        pa+=("$(rate_once "PG mount: open/append/close" "$cp" append "$ip/metrics/append" "$PG_N" "$PG_SECS")")
    done
    points_check "$is/metrics/append" "$cs"
    points_check "$ip/metrics/append" "$cp"
    for ((i = 1; i <= REPEAT; i++)); do
        s1+=("$(rate_once "SQLite mount: 1 line/write, held" "$cs" write1 "$is/metrics/one" "$PG_N" "$PG_SECS")")
        p1+=("$(rate_once "PG mount: 1 line/write, held" "$cp" write1 "$ip/metrics/one" "$PG_N" "$PG_SECS")")
    done
    points_check "$is/metrics/one" "$cs"
    points_check "$ip/metrics/one" "$cp"
    for ((i = 1; i <= REPEAT; i++)); do
        sb+=("$(rate_once "SQLite mount: $BATCH_LINES lines/write" "$cs" writebatch "$is/metrics/batch" "$BATCH_LINES" "$BATCH_REPS")")
        pb+=("$(rate_once "PG mount: $BATCH_LINES lines/write" "$cp" writebatch "$ip/metrics/batch" "$BATCH_LINES" "$BATCH_REPS")")
    done
    points_check "$is/metrics/batch" "$cs"
    points_check "$ip/metrics/batch" "$cp"
    log "  runs (SQLite | PG): append ${sa[*]} | ${pa[*]}; 1/write ${s1[*]} | ${p1[*]};" \
        "batch ${sb[*]} | ${pb[*]}"
    record pgwrite "open/append/close of 1 point, PG mount" "ops/s" hi "$(median "${pa[@]}")" \
        "SQLite mount" "$(median "${sa[@]}")" "ratio>=0.5"
    record pgwrite "1 point per write(), held open, PG mount" "points/s" hi "$(median "${p1[@]}")" \
        "SQLite mount" "$(median "${s1[@]}")" "ratio>=0.8"
    record pgwrite "$BATCH_LINES points in one write(), PG mount" "points/s" hi "$(median "${pb[@]}")" \
        "SQLite mount" "$(median "${sb[@]}")" "ours>=300000"
    record pgwrite "daemon VmHWM (peak RSS), PG mount" "MB" lo "$(hwm_mb "$ppid")" \
        "SQLite mount" "$(hwm_mb "$spid")" "ours<64"
    stop_daemon "$mp" "$ppid"
    stop_daemon "$ms" "$spid"
}

# Runs PG_NODES `loops append` at once, FILE_1 .. FILE_n one each; prints the aggregate
# rate (all units / the longest run's seconds) and adds "FILE count" lines to COUNTS.
concurrent_appends() {   # LABEL COUNTS FILE...
    local label=$1 counts=$2 f k=0 pids=() outs=()
    shift 2
    for f in "$@"; do
        k=$((k + 1))
        "$LOOPS" append "$f" "$PG_N" "$PG_SECS" >"$WORK/conc.$k" &
        pids+=($!)
        outs+=("$WORK/conc.$k")
    done
    for ((k = 0; k < ${#pids[@]}; k++)); do wait "${pids[k]}" || die "$label: writer $((k + 1)) failed"; done
    local total=0 secs=0 line c s rates=()
    for ((k = 0; k < ${#outs[@]}; k++)); do
        line=$(cat "${outs[k]}")
        c=$(field count "$line")
        s=$(field seconds "$line")
        rates+=("$(field rate "$line")")
        echo "${*:k+1:1} $c" >>"$counts"
        total=$((total + c))
        secs=$(awk -v a="$secs" -v b="$s" 'BEGIN{print (b > a) ? b : a}')
    done
    local agg
    agg=$(awk -v t="$total" -v s="$secs" 'BEGIN{printf "%.1f", t/s}')
    log "  $(printf '%-44s' "$label") $agg/s aggregate; writers: ${rates[*]}"
    echo "$agg"
}

# bench "pgnodes": PG_NODES daemons on one PostgreSQL registry (a node each: its own
# mountpoint and journal directory), one open/append/close writer per node on its own
# iteration, all at once; against PG_NODES passthrough_ll mounts, one writer each.
bench_pgnodes() {
    pg_start
    log "[pgnodes] $PG_NODES nodes on one PG registry, one open/append/close writer each, at once," \
        "vs $PG_NODES passthrough_ll mounts; PG_N=$PG_N or ${PG_SECS}s"
    local uri k mnt ddpids=() files=() pfiles=()
    uri=$(pg_db pgnodes)
    for ((k = 1; k <= PG_NODES; k++)); do
        mnt=$WORK/node$k.mnt
        mount_dd "$uri" "$mnt" DEARDIARY_METRICS_JOURNAL_DIR="$WORK/node$k.journal"
        ddpids+=("$DAEMON_PID")
        files+=("$(new_iteration "$mnt" nodes)/metrics/loss")
        echo 0.5 >>"${files[k - 1]}"
        mount_pt "$WORK/node$k.src" "$WORK/node$k.pt"
        : >"$WORK/node$k.pt/loss"
        pfiles+=("$WORK/node$k.pt/loss")
    done
    local cp=$WORK/counts.nodes cpt=$WORK/counts.pt i pr=() dr=()
    : >"$cp"
    : >"$cpt"
    for ((i = 1; i <= REPEAT; i++)); do
        pr+=("$(concurrent_appends "$PG_NODES x passthrough_ll" "$cpt" "${pfiles[@]}")")
        dr+=("$(concurrent_appends "$PG_NODES PG nodes" "$cp" "${files[@]}")")
    done
    local f want got
    for f in "${files[@]}"; do   # every acknowledged point is there, through another node
        want=$(awk -v f="$f" '$1 == f {s += $2} END {print 1 + s}' "$cp")
        got=$(wc -l <"${WORK}/node1.mnt/${f#"$WORK"/node*.mnt/}")
        [[ $got == "$want" ]] || die "$f holds $got points through node 1, expected $want"
    done
    log "  (each node's series holds every point written, read through node 1)"
    record pgnodes "$PG_NODES nodes, open/append/close at once, aggregate" "ops/s" hi \
        "$(median "${dr[@]}")" "$PG_NODES passthrough_ll mounts" "$(median "${pr[@]}")" "ratio>=0.5"
    local hw=() maxhw=0
    for ((k = 0; k < PG_NODES; k++)); do
        hw+=("$(hwm_mb "${ddpids[k]}")")
        maxhw=$(awk -v a="$maxhw" -v b="${hw[k]}" 'BEGIN{print (b > a) ? b : a}')
    done
    log "  daemons' VmHWM (MB): ${hw[*]}"
    record pgnodes "daemon VmHWM (peak RSS), largest of the $PG_NODES nodes" "MB" lo "$maxhw" "" "" "ours<64"
    for ((k = PG_NODES; k >= 1; k--)); do
        stop_daemon "$WORK/node$k.pt" "$(pid_of "$WORK/node$k.pt")"
        stop_daemon "$WORK/node$k.mnt" "${ddpids[k - 1]}"
    done
}

# bench "pgls": iterations/ of LS_ITERS iterations on PG (seeded by one INSERT ... SELECT
# generate_series), on SQLite (bench/seed.py) and on local disk, interleaved run by run.
bench_pgls() {
    pg_start
    log "[pgls] ls and ls -l of iterations/ with $LS_ITERS iterations: PG mount, SQLite mount, local disk"
    local uri db=$WORK/pgls.db local=$WORK/pgls.local t0
    uri=$(pg_db pgls)
    "$DD" init "$uri" >/dev/null || die "deardiary init $uri failed"
    "$DD" init "$db" >/dev/null || die "deardiary init $db failed"
    t0=$(date +%s.%N)
    pg_sql pgls "BEGIN;
        INSERT INTO project(name, created_date) VALUES ('bench', '2026-11-23T12:00:00.000Z');
        INSERT INTO experiment(project_id, name, created_date)
            SELECT id, 'flat', '2026-11-23T12:00:00.000Z' FROM project WHERE name = 'bench';
        INSERT INTO iteration(experiment_id, created_date, status_id)
            SELECT e.id, '2026-11-23T12:00:00.000Z', 1
            FROM experiment e, generate_series(1, $LS_ITERS) WHERE e.name = 'flat';
        COMMIT; ANALYZE"
    log "  PG seeded in $(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s"
    "$PY" "$BENCH/seed.py" ls "$db" "$LS_ITERS" 0 0 || die "seeding $db failed"
    "$PY" "$BENCH/seed.py" localdirs "$local" "$LS_ITERS" || die "creating $local failed"
    mount_dd "$db" "$WORK/pgls-sqlite.mnt"
    local spid=$DAEMON_PID
    mount_dd "$uri" "$WORK/pgls-pg.mnt" DEARDIARY_METRICS_JOURNAL_DIR="$WORK/pgls.journal"
    local ppid=$DAEMON_PID
    local sd=$WORK/pgls-sqlite.mnt/projects/bench/experiments/flat/iterations
    local pd=$WORK/pgls-pg.mnt/projects/bench/experiments/flat/iterations d n
    for d in "$sd" "$pd" "$local"; do
        n=$("$PY" -c 'import os, sys; print(len(os.listdir(sys.argv[1])))' "$d")
        [[ $n == "$LS_ITERS" ]] || die "$d lists $n entries, expected $LS_ITERS"
    done
    local kind cmd label target out lines=()
    for kind in ls ls-l; do
        case $kind in
        ls) cmd=(ls); label="ls"; target="ours<1" ;;
        ls-l) cmd=(ls -l); label="ls -l"; target="ours<3" ;;
        esac
        out=$(time_alt 3 "local disk: $label" "SQLite mount: $label" "PG mount: $label" \
            "${cmd[@]}" "$local" --- "${cmd[@]}" "$sd" --- "${cmd[@]}" "$pd")
        mapfile -t lines <<<"$out"
        record pgls "$label iterations/ ($LS_ITERS iterations), PG mount" s lo \
            "$(field median "${lines[2]}")" "SQLite mount" "$(field median "${lines[1]}")" "$target"
        record pgls "$label iterations/ ($LS_ITERS iterations), PG mount" s lo \
            "$(field median "${lines[2]}")" "local disk" "$(field median "${lines[0]}")" "$target"
    done
    record pgls "daemon VmHWM (peak RSS), PG mount" "MB" lo "$(hwm_mb "$ppid")" \
        "SQLite mount" "$(hwm_mb "$spid")" "ours<64"
    stop_daemon "$WORK/pgls-pg.mnt" "$ppid"
    stop_daemon "$WORK/pgls-sqlite.mnt" "$spid"
    rm -rf "$local" "$db" "$db-wal" "$db-shm"
}

# bench "pgcp": one BENCH_ARTIFACT_BYTES file copied into resources/ of: passthrough_ll
# (the baseline), the SQLite mount's default configuration, the PG mount's default
# configuration (large artifacts go to the root `deardiary init` recorded, by default
# $XDG_DATA_HOME/deardiary/artifacts/<uuid>), and the PG mount with
# artifacts.filesystem.root set (what a cluster configures: a shared root), interleaved
# run by run, each run after a sync. Where each copy went (its backend xattr) is logged
# and the PG default's is part of its figure's name.
bench_pgcp() {
    pg_start
    local mib srcf=$WORK/art.bin
    mib=$(awk -v b="$ART_BYTES" 'BEGIN{printf "%g", b/1048576}')
    log "[pgcp] a $mib MiB file: cp into resources/, passthrough_ll / SQLite default / PG default /" \
        "PG with artifacts.filesystem.root"
    [[ -f $srcf ]] || head -c "$ART_BYTES" /dev/urandom >"$srcf" || die "cannot write $srcf"
    local uri ms=$WORK/pgcp-sqlite.mnt mp=$WORK/pgcp-pg.mnt mr=$WORK/pgcp-pgroot.mnt pmnt=$WORK/pgcp.pt
    uri=$(pg_db pgcp)
    mount_dd "$WORK/pgcp.db" "$ms"
    local spid=$DAEMON_PID
    mount_dd "$uri" "$mp" DEARDIARY_METRICS_JOURNAL_DIR="$WORK/pgcp.journal"
    local ppid=$DAEMON_PID
    mount_dd "$uri" "$mr" DEARDIARY_METRICS_JOURNAL_DIR="$WORK/pgcp-root.journal" \
        DEARDIARY_ARTIFACT_FS_ROOT="$WORK/pgcp.root"
    local rpid=$DAEMON_PID
    mount_pt "$WORK/pgcp.src" "$pmnt"
    local ptpid=$DAEMON_PID rs rp rr
    rs=$(new_iteration "$ms" art)
    rs=${rs%/iterations/*}/resources
    rp=$(new_iteration "$mp" art)
    rp=${rp%/iterations/*}/resources
    rr=$(new_iteration "$mr" art2)
    rr=${rr%/iterations/*}/resources
    cat "$srcf" >/dev/null
    local out lines=()
    out=$(time_alt 4 "passthrough_ll: cp" "SQLite mount, default: cp" "PG mount, default: cp" \
        "PG mount, filesystem.root set: cp" \
        --sync --rss "$ptpid" cp "$srcf" "$pmnt/art{i}" --- \
        --sync --rss "$spid" cp "$srcf" "$rs/art{i}" --- \
        --sync --rss "$ppid" cp "$srcf" "$rp/art{i}" --- \
        --sync --rss "$rpid" cp "$srcf" "$rr/art{i}")
    mapfile -t lines <<<"$out"
    local d where pgwhere=""
    for d in "$rs" "$rp" "$rr"; do
        cmp "$srcf" "$d/art1" || die "$d/art1 differs from $srcf"
        where=$("$PY" -c 'import os, sys; print(os.getxattr(sys.argv[1], "user.deardiary.backend").decode())' \
            "$d/art1") || die "no backend xattr on $d/art1"
        log "  ${d#"$WORK"/}/art1 is stored in: $where"
        [[ $d == "$rp" ]] && pgwhere=$where
    done
    local pt
    pt=$(field median "${lines[0]}")
    record pgcp "cp into resources/ ($mib MiB), SQLite mount, default configuration" "MB/s" hi \
        "$(mbs "$ART_BYTES" "$(field median "${lines[1]}")")" "passthrough_ll cp" "$(mbs "$ART_BYTES" "$pt")" "ratio>=0.8"
    record pgcp "cp into resources/ ($mib MiB), PG mount, default configuration ($pgwhere)" "MB/s" hi \
        "$(mbs "$ART_BYTES" "$(field median "${lines[2]}")")" "passthrough_ll cp" "$(mbs "$ART_BYTES" "$pt")" "ratio>=0.8"
    record pgcp "cp into resources/ ($mib MiB), PG mount, artifacts.filesystem.root set" "MB/s" hi \
        "$(mbs "$ART_BYTES" "$(field median "${lines[3]}")")" "passthrough_ll cp" "$(mbs "$ART_BYTES" "$pt")" "ratio>=0.8"
    record pgcp "daemon VmRSS peak during cp, PG mount, default" "MB" lo \
        "$(mb "$(field rss_peak_kb "${lines[2]}")" 0)" "SQLite mount" "$(mb "$(field rss_peak_kb "${lines[1]}")" 0)" "ours<64"
    record pgcp "daemon VmRSS peak during cp, PG mount, filesystem.root set" "MB" lo \
        "$(mb "$(field rss_peak_kb "${lines[3]}")" 0)" "SQLite mount" "$(mb "$(field rss_peak_kb "${lines[1]}")" 0)" "ours<64"
    stop_daemon "$pmnt" "$ptpid"
    stop_daemon "$mr" "$rpid"
    stop_daemon "$mp" "$ppid"
    stop_daemon "$ms" "$spid"
    local recorded
    recorded=$(psql -X -A -t -h 127.0.0.1 -p "$PGPORT" -U dd -d pgcp \
        -c 'SELECT artifact_root FROM registry') || die "cannot read pgcp's artifact root"
    [[ $recorded == "$XDG_DATA_HOME"/deardiary/artifacts/* ]] && rm -rf "$recorded"
    rm -rf "$WORK"/pgcp.* "$srcf"
}

# ------------------------------------------------------------------ main

build
mkdir -p "${BENCH_TMPDIR:-/var/tmp}"
WORK=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/ddbench.XXXXXX")
fstype=$(stat -f -c %T "$WORK")
[[ $fstype != tmpfs ]] || log "warning: $WORK is on tmpfs, not local disk"
RESULTS=$WORK/results.tsv
: >"$RESULTS"
if [[ -n ${DD_BIN:-} ]]; then
    source_of="prebuilt"
elif [[ -n ${BENCH_REV:-} ]]; then
    source_of="git revision $BENCH_REV"
else
    source_of="working tree of $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')"
fi
log "deardiary: $DD ($source_of)"
log "machine: $(nproc) CPUs, $(uname -sr), $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo);" \
    "temp dir $WORK ($fstype); SQLite $(sqlite3 --version 2>/dev/null | cut -d' ' -f1); libfuse $(pkg-config fuse3 --modversion)"
for b in "${selected[@]}"; do
    log "($(cut -d' ' -f1-3 /proc/loadavg): load average before '$b')"
    "bench_$b"
done
log "($(cut -d' ' -f1-3 /proc/loadavg): load average at the end)"
echo
"$PY" "$BENCH/report.py" "$RESULTS" | tee "$OUT/results.md"
