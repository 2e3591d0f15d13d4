"""Crash suite: the daemon is killed with SIGKILL in the middle of a big copy, of metric
appends from 4 processes, of a promotion storm and of an `rm -r` of a large project. After
a restart on the same database (the mount command recovers the dead mountpoint): the
engine's own checks pass (SQLite's integrity_check, PostgreSQL's amcheck), every metric point whose write() returned is there, no partial
artifact is visible, the registry invariants hold, and `deardiary fsck` is clean.

The durability contract under test is the daemon's, not the machine's: SQLite in WAL mode
with synchronous=NORMAL keeps every committed transaction when the process dies, and so
does a PostgreSQL server whose client dies (DD_TEST_ENGINE=postgres: the same tests, the
metric journal then lives in the session server's XDG_STATE_HOME and is replayed by the
next mount).
"""
import contextlib
import os
import random
import subprocess
import sys
import time

import pytest

from conftest import sqlite_rows
from helpers_registry import (files_under, kill9, make_run, ok, poll, proc_wchar, register,
                              start_mount, finish_mount)
from helpers_reliability import (assert_fsck_clean, fsck, integrity_ok, invariant_violations,
                                 kill_daemon)

BIG = int(os.environ.get("DD_TEST_BIG_BYTES", str(1 << 30)))
MiB = 1 << 20


@contextlib.contextmanager
def crashable(root, backend="inline"):
    """A mount that the test may SIGKILL and restart: yields a one-element list holding
    the current Mount; the last one is unmounted cleanly at the end (and any dead one
    detached on failure)."""
    box = [start_mount(root, backend)]
    try:
        yield box
    except BaseException:
        box[0].kill()
        raise
    finish_mount(box[0])


def restart(box, backend="inline"):
    """Kill the current daemon with SIGKILL and mount the same database again."""
    old = box[0]
    kill_daemon(old)
    box[0] = start_mount(old.root, backend, fs_root=old.fs_root, db=old.db)


def restart_under(box, procs, ready, pause=0.0):
    """Once `ready()` holds (and `pause` s more), kill the daemon under the running client
    processes and remount; then wait for the clients (their writes to the dead mount
    fail), killing any that hang."""
    try:
        assert poll(ready, 60)
        time.sleep(pause)
        restart(box)
        for p in procs:
            p.wait(timeout=60)
    finally:
        for p in procs:
            kill9(p)


def after_restart_checks(m):
    integrity_ok(m.db)
    assert invariant_violations(m.db) == {}
    r = assert_fsck_clean(m.db, fs_root=m.fs_root)
    return r


# ---------------------------------------------------------------- (a) big copy

@pytest.fixture(scope="module")
def big_src(tmp_path_factory):
    """BIG bytes on local disk: 1 MiB of random bytes, each MiB stamped with its index so
    that a misplaced chunk cannot go unnoticed."""
    path = str(tmp_path_factory.mktemp("crashsrc") / "big.bin")
    block = bytearray(os.urandom(MiB))
    with open(path, "wb") as f:
        for i in range(0, BIG, MiB):
            block[:8] = i.to_bytes(8, "little")
            f.write(block[:min(MiB, BIG - i)])
    yield path
    os.unlink(path)


@pytest.mark.parametrize("backend", ["inline", "filesystem"])
def test_kill_mid_big_copy(backend, big_src, tmp_path):
    with crashable(str(tmp_path), backend) as box:
        m = box[0]
        exp, iid = make_run(m)
        cp = subprocess.Popen(["cp", big_src, m.p(exp, "resources", "big")],
                              stderr=subprocess.PIPE, text=True)
        try:
            # a third of the way through the copy (or its end, on a very fast machine)
            assert poll(lambda: proc_wchar(cp.pid) >= BIG // 3 or cp.poll() is not None, 600)
            finished = cp.poll() == 0
            kill_daemon(m)
            cp.wait(timeout=60)
        finally:
            kill9(cp)
        # before any restart, fsck finds the dead copy's staged bytes as orphans (and
        # nothing else), and --repair removes them
        r = fsck(m.db, fs_root=m.fs_root)
        problems = [line for line in r.stdout.splitlines() if line.startswith("PROBLEM")]
        assert r.returncode == (1 if problems else 0), r.stdout + r.stderr
        assert all(line.startswith("PROBLEM: orphan: ") for line in problems), r.stdout
        assert finished or problems, r.stdout
        if problems:
            r = fsck(m.db, "--repair", fs_root=m.fs_root)
            assert "problems, all repaired" in r.stdout, r.stdout
        box[0] = start_mount(m.root, backend, fs_root=m.fs_root, db=m.db)
        m = box[0]
        names = os.listdir(m.p(exp, "resources"))
        if names:
            # the commit happened before the kill: then the bytes are all there
            assert names == ["big"] and finished
            assert subprocess.run(["cmp", big_src, m.p(exp, "resources", "big")]).returncode == 0
        # no staged bytes survive the restart's clean-up
        assert sqlite_rows(m.db, "SELECT COUNT(*) FROM artifact_upload") == [["0"]]
        n_chunks = int(sqlite_rows(m.db, "SELECT COUNT(*) FROM artifact_chunk")[0][0])
        assert n_chunks == (-(-BIG // MiB) if names and backend == "inline" else 0)
        if backend == "filesystem":
            assert len(files_under(m.fs_root)) == (1 if names else 0)
        after_restart_checks(m)


# ---------------------------------------------------------------- (b) metric appends

APPENDER = r"""
import os, sys
path, log, worker = sys.argv[1], sys.argv[2], int(sys.argv[3])
fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
with open(log, "w", buffering=1) as out:
    for i in range(10**9):
        step = worker * 10**8 + i
        line = "%d %d.%d\n" % (step, worker, i)
        try:
            n = os.write(fd, line.encode())      # one write() per point
        except OSError:
            break                                # the daemon is gone
        assert n == len(line)
        out.write(line)                          # recorded only after write() returned
"""


def test_kill_mid_metric_appends(tmp_path):
    with crashable(str(tmp_path)) as box:
        m = box[0]
        exp, iid = make_run(m)
        metric = m.p(exp, "iterations", iid, "metrics", "loss")
        logs = [str(tmp_path / ("w%d.log" % w)) for w in range(4)]
        procs = [subprocess.Popen([sys.executable, "-c", APPENDER, metric, logs[w], str(w)])
                 for w in range(4)]
        restart_under(box, procs, lambda: all(os.path.exists(p) and os.path.getsize(p) > 2000
                                              for p in logs))
        m = box[0]
        logged = set()
        for p in logs:
            with open(p) as f:
                logged |= {(int(line.split()[0]), float(line.split()[1]))
                           for line in f if line.endswith("\n")}
        assert len(logged) > 4 * 100
        with open(metric) as f:
            in_file = {(int(line.split()[0]), float(line.split()[1])) for line in f}
        missing = logged - in_file
        assert not missing, "%d acknowledged points lost, e.g. %s" % (len(missing),
                                                                     sorted(missing)[:5])
        rows = sqlite_rows(m.db, "SELECT step, value FROM metric WHERE iteration_id = %s"
                                 " AND key = 'loss'" % iid)
        in_db = {(int(s), float(v)) for s, v in rows}
        assert logged <= in_db
        # at most the one point in flight at the kill went unacknowledged
        assert len(rows) - len(logged) <= 4
        after_restart_checks(m)


# ---------------------------------------------------------------- (c) promotion storm

PROMOTER = r"""
set -u
n=0
while :; do
    for v in $VERSIONS; do
        m=$(( (RANDOM % 2) + 1 ))
        echo PRODUCTION > "models/m$m/versions/$v/stage" 2>/dev/null || exit 0
        n=$((n+1)); [ $n -eq 20 ] && : > "$READY"
    done
done
"""


def test_kill_mid_promotion_storm(tmp_path):
    with crashable(str(tmp_path)) as box:
        m = box[0]
        exp, iid = make_run(m)
        for model in ("m1", "m2"):
            ok(m, "mkdir projects/p/models/%s" % model)
            for _ in range(6):
                register(m, model, iid)
        procs, readies = [], []
        for w in range(4):
            ready = str(tmp_path / ("ready%d" % w))
            readies.append(ready)
            versions = " ".join(str(v) for v in random.Random(w).sample(range(1, 7), 6))
            env = {**os.environ, "VERSIONS": versions, "READY": ready}
            procs.append(subprocess.Popen(["bash", "-c", PROMOTER], cwd=m.path, env=env))
        restart_under(box, procs, lambda: all(os.path.exists(r) for r in readies), pause=0.2)
        m = box[0]
        prod = sqlite_rows(m.db, "SELECT m.name, COUNT(*) FROM model_version v JOIN model m"
                                 " ON m.id = v.model_id WHERE v.stage_id = 3 GROUP BY m.name")
        assert all(n == "1" for _, n in prod), prod
        # the storm did promote: each model ends with exactly one PRODUCTION version
        assert sorted(name for name, _ in prod) == ["m1", "m2"]
        for model in ("m1", "m2"):
            target = os.readlink(m.p("models", model, "production"))
            v = target.rsplit("/", 1)[1]
            with open(m.p("models", model, "versions", v, "stage")) as f:
                assert f.read() == "PRODUCTION\n"
        after_restart_checks(m)


# ---------------------------------------------------------------- (d) rm -r

def project_counts(db, project):
    sql = ("SELECT (SELECT COUNT(*) FROM experiment e JOIN project p ON p.id = e.project_id"
           " WHERE p.name = '{p}'),"
           " (SELECT COUNT(*) FROM iteration i JOIN experiment e ON e.id = i.experiment_id"
           "  JOIN project p ON p.id = e.project_id WHERE p.name = '{p}'),"
           " (SELECT COUNT(*) FROM metric x JOIN iteration i ON i.id = x.iteration_id"
           "  JOIN experiment e ON e.id = i.experiment_id JOIN project p"
           "  ON p.id = e.project_id WHERE p.name = '{p}'),"
           " (SELECT COUNT(*) FROM parameter x JOIN iteration i ON i.id = x.iteration_id"
           "  JOIN experiment e ON e.id = i.experiment_id JOIN project p"
           "  ON p.id = e.project_id WHERE p.name = '{p}'),"
           " (SELECT COUNT(*) FROM project WHERE name = '{p}')").format(p=project)
    return tuple(int(x) for x in sqlite_rows(db, sql)[0])


BUILD_BIG_PROJECT = r"""
set -e
mkdir projects/big
for e in 1 2 3 4 5 6; do
    mkdir projects/big/experiments/e$e
    for i in $(seq 12); do
        id=$(cat projects/big/experiments/e$e/iterations/new)
        d=projects/big/experiments/e$e/iterations/$id
        echo $i > $d/params/lr
        echo $e > $d/params/depth
        printf '1 0.5\n2 0.25\n3 0.125\n4 0.0625\n' >> $d/metrics/loss
        printf '0.9\n' >> $d/metrics/acc
        touch $d/tags/gold
    done
done
"""


@pytest.mark.parametrize("delay", [0.05, 0.15, 0.3])
def test_kill_mid_rm_r(delay, tmp_path):
    with crashable(str(tmp_path)) as box:
        m = box[0]
        ok(m, BUILD_BIG_PROJECT)
        make_run(m, "other", "keep")
        before = project_counts(m.db, "big")
        other = project_counts(m.db, "other")
        assert before == (6, 72, 72 * 5, 72 * 2, 1)
        rm = subprocess.Popen(["rm", "-r", m.p("projects", "big")],
                              stderr=subprocess.DEVNULL)
        try:
            time.sleep(delay)
            restart(box)
            rm.wait(timeout=60)
        finally:
            kill9(rm)
        m = box[0]
        after = project_counts(m.db, "big")
        assert after in (before, (0, 0, 0, 0, 0)), "partial delete: %s -> %s" % (before, after)
        assert project_counts(m.db, "other") == other
        assert os.path.isdir(m.p("projects", "big")) == (after == before)
        after_restart_checks(m)
        # nothing left half-marked: the delete can be done (again) now, at once
        if after == before:
            ok(m, "rm -r projects/big")
        assert project_counts(m.db, "big") == (0, 0, 0, 0, 0)
        assert not os.path.exists(m.p("projects", "big"))
        after_restart_checks(m)
