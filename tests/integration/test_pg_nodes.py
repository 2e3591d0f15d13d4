"""Several nodes on one PostgreSQL registry (issue 14, multi-node): two daemons (two
mounts in two directories, as two machines would have, sharing one filesystem artifact
root), a `deardiary serve` beside a mount, and the server restarted under a writing mount.
Everything is driven with real writes through the mounts and real HTTP; what PostgreSQL
holds is read with psql (conftest.db_rows). These run whatever DD_TEST_ENGINE says: the
registry is always a PostgreSQL database on the session's server (conftest.PgServer), or,
for the restart, on a private server with fsync on.
"""
import contextlib
import errno
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from conftest import BIN, PGTEST, Mount, PgServer, db_rows, psql
from helpers_registry import environ, finish_mount, make_run, ok, poll, read, register, stage_files
from helpers_serve import Server

ROUNDS = 15
# The freshness every node promises (README, "A registry on PostgreSQL"), asserted per
# sample; twice that under the sanitizers (`make test` sets DD_TEST_QUICK for its ASan
# pass), which make a loaded machine's daemons slow, not different.
FRESH = 1.0 * (2 if os.environ.get("DD_TEST_QUICK") else 1)


def db_name(request):
    return "n_" + request.node.name.lower().replace("[", "_").replace("]", "")[:40]


def start_node(root, uri, shared):
    """One node: a daemon mounting uri at root/mnt, its artifacts in the shared root."""
    with environ(DEARDIARY_ARTIFACT_FS_ROOT=shared, DEARDIARY_CONFIG=None):
        return Mount(root, db=uri)


@contextlib.contextmanager
def nodes(request, tmp_path, names):
    """One mount per name (node directories tmp_path/<name>) of one new PostgreSQL
    registry with one shared artifact root; yields (list of Mounts, uri, shared root). A
    test may replace a list entry (a restarted node): the list's mounts are unmounted at
    the end, and every one is detached on failure."""
    uri = PgServer.new_database(db_name(request))
    shared = str(tmp_path / "shared-artifacts")
    mounts = []
    try:
        for node in names:
            os.mkdir(str(tmp_path / node))
            mounts.append(start_node(str(tmp_path / node), uri, shared))
        yield mounts, uri, shared
    except BaseException:
        for m in mounts:
            m.kill()
        raise
    failed = []
    for m in mounts:   # every node is unmounted or detached, whatever the others do
        try:
            finish_mount(m)
        except BaseException as e:
            m.kill()
            failed.append(e)
    if failed:
        raise failed[0]


@pytest.fixture
def two_nodes(request, tmp_path):
    """Two mounts (nodes a and b) of one new PostgreSQL registry with one shared artifact
    root; yields (a, b, uri)."""
    with nodes(request, tmp_path, ("a", "b")) as (mounts, uri, _):
        yield mounts[0], mounts[1], uri


@pytest.fixture
def three_nodes(request, tmp_path):
    """Three mounts (nodes a, b, c) of one new PostgreSQL registry with one shared
    artifact root; yields (list of the three Mounts, uri, shared root)."""
    with nodes(request, tmp_path, ("a", "b", "c")) as got:
        yield got


def write_file(path, data, mode="w"):
    """open/write/close; returns None on success or the errno of the first failure."""
    try:
        with open(path, mode) as f:
            f.write(data)
        return None
    except OSError as e:
        return e.errno


def test_concurrent_promotions_from_two_nodes_leave_exactly_one_production(two_nodes):
    a, b, uri = two_nodes
    _, i1 = make_run(a, "p", "e")
    _, i2 = make_run(a, "p", "e")
    ok(a, "mkdir projects/p/models/clf")
    assert (register(a, "clf", i1), register(a, "clf", i2)) == (1, 2)
    assert poll(lambda: os.path.isdir(b.p("models", "clf", "versions", "2")), FRESH)
    for rnd in range(ROUNDS):
        # both nodes write PRODUCTION at once, each to another version; the order of the
        # two alternates so that either node may win
        go = threading.Barrier(2)
        errs = {}

        def promote(m, v):
            go.wait()
            errs[v] = write_file(m.p("models", "clf", "versions", str(v), "stage"),
                                 "PRODUCTION\n")
        pairs = [(a, 1), (b, 2)] if rnd % 2 == 0 else [(a, 2), (b, 1)]
        threads = [threading.Thread(target=promote, args=p) for p in pairs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errs == {1: None, 2: None}, (rnd, errs)
        prod = db_rows(uri, "SELECT v.version FROM model_version v JOIN model m ON"
                            " m.id = v.model_id WHERE m.name = 'clf' AND v.stage_id = 3")
        assert len(prod) == 1, (rnd, prod)
        other = 3 - int(prod[0][0])
        assert db_rows(uri, "SELECT stage_id FROM model_version WHERE version = %d" % other) \
            == [["4"]], rnd    # the loser of the race was archived by the winner
        want = {int(prod[0][0]): "PRODUCTION", other: "ARCHIVED"}
        # both nodes show the outcome within the cache time
        assert poll(lambda: stage_files(a, "clf") == want and stage_files(b, "clf") == want,
                    FRESH), (rnd, want, stage_files(a, "clf"), stage_files(b, "clf"))
        assert read(a, "models/clf/production/stage") == b"PRODUCTION\n"


def seen_within(fn, timeout):
    """Seconds until fn() is true (polled every 5 ms), or None after timeout."""
    t0 = time.monotonic()
    while True:
        if fn():
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            return None
        time.sleep(0.005)


def test_writes_on_one_node_are_seen_on_the_other_within_a_second(two_nodes):
    """A metric point appended, a parameter written and a directory made through node a
    are seen through node b within FRESH. The measured bound is printed (pytest -s) and
    recorded in docs/ENGINES.md."""
    a, b, uri = two_nodes
    exp, iid = make_run(a, "p", "e")
    it = "%s/iterations/%s" % (exp, iid)
    assert poll(lambda: os.path.isdir(b.p(it)), FRESH)
    lags = {"metric": [], "param": [], "mkdir": []}
    for i in range(20):
        assert write_file(a.p(it, "metrics", "acc"), "%d %d.25\n" % (i, i), "a") is None
        # metrics.close_waits journal (the PostgreSQL default, docs/ENGINES.md §4.4): the
        # close returns before the commit, so b may not have the file yet: not seen yet
        lags["metric"].append(seen_within(
            lambda: os.path.exists(b.p(it, "metrics", "acc")) and
            [str(i), "%d.25" % i] in [line.split()[:2] for line in
                                      read(b, it + "/metrics/acc").decode().splitlines()],
            2 * FRESH))
        assert write_file(a.p(it, "params", "lr"), "%d\n" % i) is None
        lags["param"].append(seen_within(      # content, and size as stat gives it
            lambda: read(b, it + "/params/lr") == b"%d\n" % i and
            os.stat(b.p(it, "params", "lr")).st_size == len(b"%d\n" % i), 2 * FRESH))
        os.mkdir(a.p("projects", "p", "experiments", "x%d" % i))
        lags["mkdir"].append(seen_within(
            lambda: os.path.isdir(b.p("projects", "p", "experiments", "x%d" % i)), 2 * FRESH))
    print("\ncross-node freshness (s, 20 samples each): " + ", ".join(
        "%s max %s" % (k, max((x for x in v if x is not None), default=None))
        for k, v in lags.items()))
    for kind, v in lags.items():
        assert None not in v, (kind, v)
        assert max(v) < FRESH, (kind, ["%d: %.3f" % (i, x) for i, x in enumerate(v)])
    # the points a appended are all in PostgreSQL, in order, exactly once
    assert db_rows(uri, "SELECT step, value FROM metric WHERE key = 'acc' ORDER BY id") == \
        [[str(i), "%d.25" % i] for i in range(20)]


def test_rest_writes_through_serve_are_seen_in_a_mount_within_a_second(request, tmp_path):
    """`deardiary serve` and a mount on one PostgreSQL registry: a REST parameter and
    metric show in the mount within FRESH, a mount write in REST at once."""
    uri = PgServer.new_database(db_name(request))
    with environ(DEARDIARY_ARTIFACT_FS_ROOT=str(tmp_path / "artifacts"), DEARDIARY_CONFIG=None):
        m = Mount(str(tmp_path), db=uri)
    s = None
    try:
        s = Server(str(tmp_path), db=uri)
        exp, iid = make_run(m, "p", "e")
        it = "%s/iterations/%s" % (exp, iid)
        iid = int(iid)
        lags = []
        for i in range(10):
            r = s.post("/parameter/iteration/%d" % iid, json={"key": "k%d" % i, "value": str(i)})
            assert r.status_code == 201, r.text
            lags.append(seen_within(lambda: os.path.exists(m.p(it, "params", "k%d" % i)) and
                                    read(m, it + "/params/k%d" % i) == b"%d\n" % i, 2 * FRESH))
            r = s.post("/metric/iteration/%d" % iid, json={"key": "loss", "value": i})
            assert r.status_code == 201, r.text
            lags.append(seen_within(lambda: len(read(m, it + "/metrics/loss").splitlines())
                                    == i + 1, 2 * FRESH))
        print("\nserve -> mount freshness (s, 20 samples): max %s" % max(
            (x for x in lags if x is not None), default=None))
        assert None not in lags and max(lags) < FRESH, lags
        ok(m, "echo 0.5 > %s/params/fromfs" % it)
        got = s.get("/parameter/iteration/%d?limit=200" % iid).json()["data"]
        assert {"key": "fromfs", "value": "0.5"} in [{"key": p["key"], "value": p["value"]}
                                                     for p in got], got
        s.stop()
        s = None
    except BaseException:
        if s:
            s.kill()
        m.kill()
        raise
    m.unmount()


@pytest.fixture
def private_pg():
    """A server of the test's own (fsync on: an outage must not lose what it committed),
    which the test stops and starts; yields its directory."""
    d = tempfile.mkdtemp(prefix="dd-pgrs-")
    r = subprocess.run([PGTEST, "start", d, "--fsync"], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail("pgtest.sh start: " + r.stderr)
    yield d
    subprocess.run([PGTEST, "stop", d, "--remove"], capture_output=True)
    shutil.rmtree(d, ignore_errors=True)


BUSY_MS = 2000
OUTAGE = 5.0    # longer than BUSY_MS: some writes must give up


def test_server_restarted_under_a_writing_mount(private_pg, tmp_path):
    """PostgreSQL stopped (as by a crash) and started again under a mount that writes a
    parameter and appends a metric point in a loop: a write during the outage succeeds late
    or fails with EAGAIN after busy_timeout_ms (never another errno); every write that
    succeeded is in PostgreSQL afterwards; after the restart the same mount works again."""
    with open(os.path.join(private_pg, "port")) as f:
        port = int(f.read())
    psql(port, "postgres", "CREATE DATABASE reg TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'")
    uri = "postgresql://dd@127.0.0.1:%d/reg" % port
    assert subprocess.run([BIN, "init", uri], capture_output=True).returncode == 0
    with environ(DEARDIARY_ARTIFACT_FS_ROOT=str(tmp_path / "artifacts"), DEARDIARY_CONFIG=None,
                 DEARDIARY_BUSY_TIMEOUT_MS=str(BUSY_MS)):
        m = Mount(str(tmp_path), db=uri)
    try:
        exp, iid = make_run(m, "p", "e")
        it = m.p(exp, "iterations", iid)
        acked_params, acked_points, failures = {}, [], []
        stop = threading.Event()

        def writer():
            i = 0
            while not stop.is_set():
                t0 = time.monotonic()
                e = write_file(os.path.join(it, "params", "p%d" % (i % 50)), "%d\n" % i)
                if e is None:
                    acked_params["p%d" % (i % 50)] = i
                else:
                    failures.append(("param", i, e, time.monotonic() - t0))
                e = write_file(os.path.join(it, "metrics", "acc"), "%d %d\n" % (i, i), "a")
                if e is None:
                    acked_points.append(i)
                else:
                    failures.append(("metric", i, e, time.monotonic() - t0))
                i += 1
        held_acked, held_failed = [], []

        def held_writer():
            # one line per write() on a file held open: the journal takes them
            with open(os.path.join(it, "metrics", "held"), "a", buffering=1) as f:
                i = 0
                while not stop.is_set():
                    try:
                        f.write("%d %d\n" % (i, i))
                        held_acked.append(i)
                    except OSError as e:
                        held_failed.append((i, e.errno))
                    i += 1
                    time.sleep(0.01)
        t = threading.Thread(target=writer)
        t.start()
        th = threading.Thread(target=held_writer)
        th.start()
        time.sleep(1.0)
        before, held_before = len(acked_points), len(held_acked)
        subprocess.run([PGTEST, "down", private_pg], check=True)
        time.sleep(OUTAGE)
        during, held_during = len(acked_points) - before, len(held_acked) - held_before
        subprocess.run([PGTEST, "up", private_pg], check=True)
        # after the restart the same mount works again, without remounting
        n = len(acked_points)
        assert poll(lambda: len(acked_points) > n + 5, 3 * BUSY_MS / 1000.0), failures[-5:]
        stop.set()
        t.join()
        th.join()
        print("\noutage of %.1f s: %d open/append/close and %d held-file points acknowledged"
              " during it, failures: %s" % (OUTAGE, during, held_during, sorted(
                  {(k, errno.errorcode[e]) for k, _, e, _ in failures})))
        assert before > 0
        # during the outage: EAGAIN only, each after at least the bounded wait
        assert m.proc.poll() is None, "the daemon died:\n" + m.output()[-3000:]
        assert {e for _, _, e, _ in failures} <= {errno.EAGAIN}, (failures,
                                                                 m.output()[-3000:])
        assert all(took >= 0.9 * BUSY_MS / 1000.0 for _, _, _, took in failures), failures
        # a held metric file's write() never failed: its lines went to the journal
        assert held_failed == [] and held_during > 0, (held_failed, held_during)
        # the last writes succeeded: the mount is usable again
        assert ok(m, "cat %s/params/p0" % os.path.join(exp, "iterations", iid))
        ok(m, "echo after > %s/notes" % os.path.join(exp, "iterations", iid))
        # nothing acknowledged is lost: every acknowledged parameter holds its last value,
        # every acknowledged point is stored exactly once (the journal's points arrive
        # when the server is back: wait for the committer)
        failed_points = {i for k, i, _, _ in failures if k == "metric"}

        def stored():
            return [int(x) for (x,) in db_rows(uri, "SELECT step FROM metric WHERE key = 'acc'")]
        assert poll(lambda: set(acked_points) <= set(stored()), 10), (
            len(acked_points), len(stored()))
        got = stored()
        assert len(got) == len(set(got)), "a point stored twice"
        assert set(got) <= set(acked_points) | failed_points
        assert poll(lambda: db_rows(uri, "SELECT COUNT(*), COUNT(DISTINCT step) FROM metric"
                                         " WHERE key = 'held'") ==
                    [[str(len(held_acked))] * 2], 10), (len(held_acked), db_rows(
            uri, "SELECT COUNT(*), COUNT(DISTINCT step), min(step), max(step) FROM metric"
                 " WHERE key = 'held'"), m.output()[-3000:])
        rows = dict(db_rows(uri, "SELECT key, value FROM parameter"))
        for k, v in acked_params.items():
            # the last acknowledged value, or that of a later write that failed (EAGAIN
            # says nothing about whether it happened)
            later = {i for kind, i, _, _ in failures if kind == "param" and i > v
                     and "p%d" % (i % 50) == k}
            assert int(rows[k]) == v or int(rows[k]) in later, (k, v, rows[k])
    except BaseException:
        stop_writer = locals().get("stop")
        if stop_writer:
            stop_writer.set()
        m.kill()
        raise
    m.unmount()


# ---------------------------------------------------------------- three nodes

def test_writes_through_one_of_three_nodes_are_seen_by_the_others_within_a_second(
        three_nodes):
    """Each node in turn writes (a metric point, a parameter, a directory); the other two
    see it within FRESH."""
    mounts, uri, _ = three_nodes
    exp, iid = make_run(mounts[0], "p", "e")
    it = "%s/iterations/%s" % (exp, iid)
    assert poll(lambda: all(os.path.isdir(m.p(it)) for m in mounts), FRESH)
    lags = {"metric": [], "param": [], "mkdir": []}
    for i in range(12):
        w = mounts[i % 3]
        others = [m for m in mounts if m is not w]
        assert write_file(w.p(it, "metrics", "acc"), "%d %d.5\n" % (i, i), "a") is None
        for m in others:   # not there yet (close_waits journal): not seen yet
            lags["metric"].append(seen_within(
                lambda: os.path.exists(m.p(it, "metrics", "acc")) and
                [str(i), "%d.5" % i] in [line.split()[:2] for line in
                                         read(m, it + "/metrics/acc").decode()
                                         .splitlines()], 2 * FRESH))
        assert write_file(w.p(it, "params", "lr"), "%d\n" % i) is None
        for m in others:
            lags["param"].append(seen_within(
                lambda: read(m, it + "/params/lr") == b"%d\n" % i and
                os.stat(m.p(it, "params", "lr")).st_size == len(b"%d\n" % i), 2 * FRESH))
        os.mkdir(w.p("projects", "p", "experiments", "x%d" % i))
        for m in others:
            lags["mkdir"].append(seen_within(
                lambda: os.path.isdir(m.p("projects", "p", "experiments", "x%d" % i)),
                2 * FRESH))
    print("\nthree-node freshness (s, 24 samples each): " + ", ".join(
        "%s max %s" % (k, max((x for x in v if x is not None), default=None))
        for k, v in lags.items()))
    for kind, v in lags.items():
        assert None not in v, (kind, v)
        assert max(v) < FRESH, (kind, v)
    assert db_rows(uri, "SELECT step, value FROM metric WHERE key = 'acc' ORDER BY step") == \
        [[str(i), "%d.5" % i] for i in range(12)]


# A writer process: appends to two metric files of one iteration until its deadline,
# alternating a point with an explicit step (its own range: no two writers share a step)
# and a value-only point (the store gives it the series' next step). "held" keeps both
# files open (one write() per point: the node's journal takes them); "oac" opens, appends
# and closes for every point. Each point is logged only after its write() returned; the
# first error ends the writer and is logged as "E <errno>".
APPENDER = r"""
import os, sys, time
explicit, auto, log, w, mode, deadline = sys.argv[1:7]
w, deadline = int(w), float(deadline)
held = {}
def put(path, line):
    if mode == "held":
        if path not in held:
            held[path] = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        fd = held[path]
    else:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        assert os.write(fd, line.encode()) == len(line)
    finally:
        if mode != "held":
            os.close(fd)
with open(log, "w", buffering=1) as out:
    i = 0
    while time.time() < deadline:
        try:
            put(explicit, "%d %d\n" % (w * 10**7 + i, i))
            out.write("x %d %d\n" % (w * 10**7 + i, i))
            put(auto, "%d\n" % (w * 10**6 + i))
            out.write("a %d\n" % (w * 10**6 + i))
        except OSError as e:
            out.write("E %d\n" % e.errno)
            break
        i += 1
    for fd in held.values():
        try:
            os.close(fd)    # a held file's last lines are committed by now: no error
        except OSError as e:
            out.write("C %d\n" % e.errno)
"""


@contextlib.contextmanager
def appenders(mounts, it, tmp_path, per_node, seconds):
    """start_appenders for the block; any writer still running at its end is killed."""
    procs = start_appenders(mounts, it, tmp_path, per_node, seconds)
    try:
        yield procs
    finally:
        for p, _, _ in procs:
            if p.poll() is None:
                p.kill()
            p.wait()


def start_appenders(mounts, it, tmp_path, per_node, seconds, tag=""):
    """per_node appender processes on each mount (half held, half open/append/close),
    writing until now + seconds; returns [(Popen, log path, node index)]."""
    deadline = time.time() + seconds
    procs = []
    for n, m in enumerate(mounts):
        for k in range(per_node):
            w = n * per_node + k
            log = str(tmp_path / ("%sw%d.log" % (tag, w)))
            args = [m.p(it, "metrics", "x"), m.p(it, "metrics", "auto"), log, str(w),
                    "held" if k % 2 == 0 else "oac", repr(deadline)]
            procs.append((subprocess.Popen([sys.executable, "-c", APPENDER, *args]), log, n))
    return procs


def acknowledged(log):
    """(explicit {(step, value)}, auto [values] in order, errors) from a writer's log."""
    xs, auto, errs = set(), [], []
    with open(log) as f:
        for line in f:
            if not line.endswith("\n"):
                continue
            parts = line.split()
            if parts[0] == "x":
                xs.add((int(parts[1]), float(parts[2])))
            elif parts[0] == "a":
                auto.append(float(parts[1]))
            else:
                errs.append(int(parts[1]))
    return xs, auto, errs


def test_twelve_writers_on_three_nodes_lose_nothing(three_nodes, tmp_path):
    """3 nodes x 4 writer processes append to the same two series of one iteration: every
    acknowledged point is stored exactly once, every default step is given once (the
    series' steps are 0..N-1) and in each writer's order."""
    mounts, uri, _ = three_nodes
    exp, iid = make_run(mounts[0], "p", "e")
    it = "%s/iterations/%s" % (exp, iid)
    assert poll(lambda: all(os.path.isdir(m.p(it)) for m in mounts), FRESH)
    with appenders(mounts, it, tmp_path, 4, 4.0) as procs:
        for p, _, _ in procs:
            assert p.wait(timeout=120) == 0
    xs, autos = set(), {}
    for _, log, _ in procs:
        x, a, errs = acknowledged(log)
        assert errs == [], (log, errs)
        assert x and a, log
        xs |= x
        autos[log] = a
    n_auto = sum(len(a) for a in autos.values())

    def stored():
        return db_rows(uri, "SELECT COUNT(*) FROM metric WHERE key = 'auto'") == \
            [[str(n_auto)]] and db_rows(uri, "SELECT COUNT(*) FROM metric WHERE key = 'x'") \
            == [[str(len(xs))]]
    assert poll(stored, 10), (n_auto, len(xs), db_rows(
        uri, "SELECT key, COUNT(*) FROM metric GROUP BY key"))
    print("\n12 writers on 3 nodes: %d explicit and %d default-step points" % (len(xs),
                                                                             n_auto))
    rows = db_rows(uri, "SELECT step, value FROM metric WHERE key = 'x'")
    assert len(rows) == len(xs) and {(int(s), float(v)) for s, v in rows} == xs
    rows = db_rows(uri, "SELECT step, value FROM metric WHERE key = 'auto' ORDER BY step")
    steps = [int(s) for s, _ in rows]
    assert steps == list(range(n_auto)), "default steps not given once each"
    step_of = {float(v): int(s) for s, v in rows}
    assert len(step_of) == n_auto and set(step_of) == {v for a in autos.values() for v in a}
    for log, a in autos.items():   # a writer's points keep its order
        mine = [step_of[v] for v in a]
        assert mine == sorted(mine), log
    # every node shows the whole series
    for m in mounts:
        assert len(read(m, it + "/metrics/auto").splitlines()) == n_auto


def test_promotion_storm_across_three_nodes_leaves_exactly_one_production(three_nodes):
    """Two threads per node write PRODUCTION to random versions of one model at once, 12
    rounds: every write succeeds, and after each round exactly one version is PRODUCTION,
    the same on every node."""
    mounts, uri, _ = three_nodes
    a = mounts[0]
    iids = [make_run(a, "p", "e")[1] for _ in range(3)]
    ok(a, "mkdir projects/p/models/clf")
    assert [register(a, "clf", i) for i in iids] == [1, 2, 3]
    assert poll(lambda: all(os.path.isdir(m.p("models", "clf", "versions", "3"))
                            for m in mounts), FRESH)
    rnd = random.Random(14)
    for r in range(12):
        go = threading.Barrier(6)
        errs = []
        picks = [(mounts[k // 2], rnd.randint(1, 3)) for k in range(6)]

        def promote(m, v):
            go.wait()
            e = write_file(m.p("models", "clf", "versions", str(v), "stage"), "PRODUCTION\n")
            if e is not None:
                errs.append((v, errno.errorcode[e]))
        threads = [threading.Thread(target=promote, args=p) for p in picks]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errs == [], (r, errs)
        prod = db_rows(uri, "SELECT v.version FROM model_version v JOIN model m ON"
                            " m.id = v.model_id WHERE m.name = 'clf' AND v.stage_id = 3")
        assert len(prod) == 1 and int(prod[0][0]) in {v for _, v in picks}, (r, prod, picks)
        want = stage_files(a, "clf")
        assert list(want.values()).count("PRODUCTION") == 1, want
        assert poll(lambda: all(stage_files(m, "clf") == want for m in mounts), FRESH), \
            (r, want, [stage_files(m, "clf") for m in mounts])
        for m in mounts:
            assert read(m, "models/clf/production/stage") == b"PRODUCTION\n"


def experiment_rows(uri, exp_name):
    """(experiments, iteration ids, (iteration, parameter) pairs, metric point count) of
    experiment exp_name of project p, read with psql."""
    where = ("i.experiment_id IN (SELECT e.id FROM experiment e JOIN project p ON"
             " p.id = e.project_id WHERE p.name = 'p' AND e.name = '%s')" % exp_name)
    n_exp = int(db_rows(uri, "SELECT COUNT(*) FROM experiment e JOIN project p ON"
                             " p.id = e.project_id WHERE p.name = 'p' AND e.name = '%s'"
                        % exp_name)[0][0])
    its = {r[0] for r in db_rows(uri, "SELECT i.id FROM iteration i WHERE " + where)}
    params = {tuple(r) for r in db_rows(uri, "SELECT x.iteration_id, x.key FROM parameter x"
                                             " JOIN iteration i ON i.id = x.iteration_id"
                                             " WHERE " + where)}
    points = int(db_rows(uri, "SELECT COUNT(*) FROM metric x JOIN iteration i ON"
                              " i.id = x.iteration_id WHERE " + where)[0][0])
    return n_exp, its, params, points


@pytest.mark.parametrize("delay", [0.1, 0.4])
def test_rm_r_on_one_node_while_another_writes_into_it_is_all_or_nothing(three_nodes,
                                                                         delay):
    """Node a runs `rm -r` of an experiment while node b writes into it (parameters,
    points, new iterations): afterwards the experiment is either gone with everything in
    it (on every node) or, the rm refused, all there, with every row it had before."""
    mounts, uri, _ = three_nodes
    a, b, c = mounts
    ok(a, "mkdir -p projects/p/experiments\nmkdir projects/p/experiments/e\n"
          "for i in $(seq 8); do id=$(cat projects/p/experiments/e/iterations/new)\n"
          " d=projects/p/experiments/e/iterations/$id; echo $i > $d/params/lr\n"
          " echo $i > $d/params/depth; printf '1 0.5\\n2 0.25\\n' >> $d/metrics/loss; done")
    make_run(a, "p", "other")
    exp = "projects/p/experiments/e"
    before = experiment_rows(uri, "e")
    other_before = experiment_rows(uri, "other")
    assert before[0] == 1 and len(before[1]) == 8 and len(before[2]) == 16
    assert poll(lambda: len(os.listdir(b.p(exp, "iterations"))) >= 8, FRESH)
    target = sorted(os.listdir(b.p(exp, "iterations")))[0]
    stop = threading.Event()
    done = []

    def writer():
        i = 0
        while not stop.is_set():
            for what, fn in (("param", lambda: write_file(
                    b.p(exp, "iterations", target, "params", "k%d" % (i % 5)), "%d\n" % i)),
                             ("point", lambda: write_file(
                    b.p(exp, "iterations", target, "metrics", "loss"), "%d 1.5\n" % (10 + i),
                    "a"))):
                done.append((what, fn()))
            try:
                with open(b.p(exp, "iterations", "new")) as f:
                    f.read()
                done.append(("iteration", None))
            except OSError as e:
                done.append(("iteration", e.errno))
            i += 1
    t = threading.Thread(target=writer)
    t.start()
    try:
        time.sleep(delay)
        rm = subprocess.run(["rm", "-r", a.p(exp)], capture_output=True, text=True,
                            timeout=120)
        time.sleep(0.3)
    finally:
        stop.set()
        t.join()
    after = experiment_rows(uri, "e")
    wrote = [e for _, e in done if e is None]
    print("\nrm -r: exit %d; writes on the other node: %d ok, errors %s" % (
        rm.returncode, len(wrote), sorted({errno.errorcode.get(e, e) for _, e in done if e})))
    assert wrote, "the other node wrote nothing during the test"
    if after[0] == 0:   # all gone: nothing of it left, on any node
        assert rm.returncode == 0, rm.stderr
        assert after == (0, set(), set(), 0), after
        assert poll(lambda: not any(os.path.exists(m.p(exp)) for m in mounts), FRESH)
    else:               # refused: all there
        assert rm.returncode != 0, "rm -r succeeded but the experiment is still there"
        assert before[1] <= after[1] and before[2] <= after[2] and after[3] >= before[3], \
            (before, after)
        assert all(os.path.isdir(m.p(exp)) for m in mounts)
    # only the writes into the deleted experiment failed, each with a documented errno
    assert {e for _, e in done if e} <= {errno.ENOENT, errno.EROFS, errno.EINVAL}, done
    assert experiment_rows(uri, "other") == other_before


def test_sigkill_of_one_node_mid_append_loses_none_of_its_acknowledged_points(
        three_nodes, tmp_path):
    """Four writers on each of three nodes append; node c's daemon is killed with SIGKILL
    in the middle and mounted again: every point any writer saw acknowledged is stored,
    exactly once, including those node c had only in its journal."""
    mounts, uri, shared = three_nodes
    exp, iid = make_run(mounts[0], "p", "e")
    it = "%s/iterations/%s" % (exp, iid)
    assert poll(lambda: all(os.path.isdir(m.p(it)) for m in mounts), FRESH)
    c = mounts[2]
    with appenders(mounts, it, tmp_path, 4, 12.0) as procs:
        logs_c = [log for _, log, n in procs if n == 2]

        def lines(path):
            with open(path) as f:
                return f.read().count("\n")
        # every writer of c has had a point acknowledged (open/append/close ones are slow
        # beside the held files' flood: each waits for its node's journal to drain)
        assert poll(lambda: all(os.path.exists(p) and lines(p) >= 2 for p in logs_c), 10)
        c.proc.kill()
        c.proc.wait(timeout=30)
        for p, _, _ in procs:
            assert p.wait(timeout=120) == 0
    mounts[2] = start_node(c.root, uri, shared)   # the same node directory, a new daemon
    xs, n_auto, in_flight = set(), 0, 0
    autos = set()
    for _, log, n in procs:
        x, a, errs = acknowledged(log)
        if n == 2:
            assert errs and set(errs) <= {errno.ENOTCONN, errno.ECONNABORTED}, (log, errs)
            in_flight += 1   # the one point whose write() the kill interrupted
        else:
            assert errs == [], (log, errs)
        xs |= x
        autos |= set(a)
        n_auto += len(a)

    def have():
        x = {(int(s), float(v)) for s, v in db_rows(uri, "SELECT step, value FROM metric"
                                                          " WHERE key = 'x'")}
        a = {float(v) for (v,) in db_rows(uri, "SELECT value FROM metric WHERE key = 'auto'")}
        return xs <= x and autos <= a
    assert poll(have, 15), "acknowledged points missing after the restart"
    # each point once (a replayed journal must not store a batch again)
    for key, unique in (("x", "step"), ("auto", "value")):
        assert db_rows(uri, "SELECT COUNT(*) - COUNT(DISTINCT %s) FROM metric"
                            " WHERE key = '%s'" % (unique, key)) == [["0"]], key
    n_x = int(db_rows(uri, "SELECT COUNT(*) FROM metric WHERE key = 'x'")[0][0])
    n_a = int(db_rows(uri, "SELECT COUNT(*) FROM metric WHERE key = 'auto'")[0][0])
    assert len(xs) <= n_x <= len(xs) + in_flight and n_auto <= n_a <= n_auto + in_flight
    assert db_rows(uri, "SELECT COUNT(*) - COUNT(DISTINCT step) FROM metric"
                        " WHERE key = 'auto'") == [["0"]]
    # the restarted node works
    assert write_file(mounts[2].p(it, "metrics", "x"), "1 1\n", "a") is None
