"""Concurrent promotions: 8 processes promote 8 different versions of one model to
PRODUCTION at the same instant, 50 rounds. After every round exactly one version is in
PRODUCTION (stage files, the production symlink and the database agree), and readers that
loop over models/<m>/production/artifact the whole time only ever see one complete
artifact: never a mix, never an error, never a missing `production`."""
import hashlib
import multiprocessing as mp
import os
import subprocess
import time

from conftest import sqlite_rows
from helpers_registry import (MiB, STAGE_ID, make_run, ok, pattern, put, register,
                              stage_files, version_stages)

WORKERS = 8
ROUNDS = 50
BLOB = MiB


def promoter(path, barrier, errors):
    """Each round: wait for everyone, write PRODUCTION into one version's stage file,
    wait for everyone again."""
    for rnd in range(ROUNDS):
        try:
            barrier.wait(timeout=120)
        except Exception:
            return
        try:
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
            try:
                os.write(fd, b"PRODUCTION\n")
            finally:
                os.close(fd)
        except OSError as e:
            errors.put("round %d %s: %r" % (rnd, path, e))
        try:
            barrier.wait(timeout=120)
        except Exception:
            return


def cat_reader(mnt_path, digests, stop, count, failures):
    """`cat models/m/production/artifact` in a loop; every output must be one whole blob."""
    while not stop.is_set():
        r = subprocess.run(["cat", "models/m/production/artifact"], cwd=mnt_path,
                           capture_output=True)
        if r.returncode != 0:
            failures.put("cat exit %d: %r" % (r.returncode, r.stderr[-300:]))
        else:
            h = hashlib.sha256(r.stdout).hexdigest()
            if h not in digests:
                failures.put("cat read %d bytes matching no artifact" % len(r.stdout))
        with count.get_lock():
            count.value += 1


def open_reader(mnt_path, digests, stop, count, failures):
    """The same with Python's open() (no process start between reads: tighter loop)."""
    path = os.path.join(mnt_path, "models", "m", "production", "artifact")
    while not stop.is_set():
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            failures.put("open/read: %r" % e)
        else:
            if hashlib.sha256(data).hexdigest() not in digests:
                failures.put("open read %d bytes matching no artifact" % len(data))
        with count.get_lock():
            count.value += 1


def drain(q):
    out = []
    while True:
        try:
            out.append(q.get(timeout=0.2))
        except Exception:
            return out


def test_concurrent_promotions(mnt):
    exp, iid = make_run(mnt)
    ok(mnt, "mkdir projects/p/models/m")
    blobs = {}
    for k in range(1, WORKERS + 1):
        blobs[k] = pattern(100 + k, BLOB)
        put(mnt, "%s/resources/blob%d" % (exp, k), blobs[k])
        assert register(mnt, "m", iid, "blob%d" % k) == k
    digests = {hashlib.sha256(b).hexdigest() for b in blobs.values()}
    assert len(digests) == WORKERS
    model_id = sqlite_rows(mnt.db, "SELECT id FROM model WHERE name = 'm'")[0][0]

    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(WORKERS + 1)
    errors, failures = ctx.Queue(), ctx.Queue()
    stop = ctx.Event()
    counts = [ctx.Value("l", 0), ctx.Value("l", 0)]
    workers = [ctx.Process(target=promoter, args=(
        mnt.p("models", "m", "versions", str(k), "stage"), barrier, errors))
        for k in range(1, WORKERS + 1)]
    readers = [ctx.Process(target=fn, args=(mnt.path, digests, stop, c, failures))
               for fn, c in ((cat_reader, counts[0]), (open_reader, counts[1]))]
    winners = []
    try:
        for w in workers:
            w.start()
        for rnd in range(ROUNDS):
            barrier.wait(timeout=120)           # go
            barrier.wait(timeout=120)           # everyone wrote
            # exactly one PRODUCTION: stage files, symlink, database
            stages = stage_files(mnt, "m")
            prod = [n for n, s in stages.items() if s == "PRODUCTION"]
            assert len(prod) == 1, "round %d: %s" % (rnd, stages)
            assert sorted(s for n, s in stages.items() if n != prod[0]) == \
                ["ARCHIVED"] * (WORKERS - 1), "round %d: %s" % (rnd, stages)
            assert os.readlink(mnt.p("models", "m", "production")) == "versions/%d" % prod[0]
            rows = sqlite_rows(mnt.db, "SELECT version FROM model_version WHERE model_id = %s "
                                       "AND stage_id = %d" % (model_id, STAGE_ID["PRODUCTION"]))
            assert rows == [[str(prod[0])]], "round %d: %s" % (rnd, rows)
            assert version_stages(mnt.db, "m") == stages
            assert not os.path.lexists(mnt.p("models", "m", "staging"))
            winners.append(prod[0])
            if rnd == 0:
                for r in readers:
                    r.start()
            # let the readers make progress between rounds too, so reads overlap the
            # whole run (each reader at least one more read per round)
            marks = [c.value for c in counts]
            deadline = time.monotonic() + 30
            while any(c.value <= m for c, m in zip(counts, marks)):
                assert time.monotonic() < deadline, "a reader is stuck"
                assert all(r.is_alive() for r in readers), "a reader died"
                time.sleep(0.001)
        stop.set()
        for p in workers + readers:
            p.join(timeout=60)
            assert p.exitcode == 0, "process exit %s" % p.exitcode
    finally:
        stop.set()
        barrier.abort()
        for p in workers + readers:
            if p.is_alive():
                p.kill()
            p.join(timeout=10)
    errs = drain(errors)
    assert errs == [], errs[:10]
    fails = drain(failures)
    assert fails == [], "%d bad reads, first: %s" % (len(fails), fails[:10])
    assert all(c.value >= ROUNDS for c in counts), [c.value for c in counts]
    # every promotion was a real, committed change: the final production version serves
    # its own blob
    final = winners[-1]
    with open(mnt.p("models", "m", "production", "artifact"), "rb") as f:
        assert f.read() == blobs[final]
    assert sqlite_rows(mnt.db, "SELECT last_version FROM model WHERE id = %s" % model_id) == \
        [[str(WORKERS)]]
