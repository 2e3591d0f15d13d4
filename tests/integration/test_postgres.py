"""A PostgreSQL registry through a real mount (issue 14): a throwaway PostgreSQL 15 server
(scripts/pgtest.sh, on a free port of 127.0.0.1), `deardiary init URI` into an existing
empty database, `deardiary mount URI`, a tracking and a registry walk with real shell
tools, `deardiary run` inside the mount, and `deardiary fsck URI`. What is stored is
checked with psql, an independent reader. The URI carries a password the trust-
authenticated server ignores: it must never show (xattr, config, messages, daemon log).
"""
import errno
import hashlib
import os
import subprocess
import time

import pytest

from conftest import BIN, Mount, PgServer, psql, run
from helpers_registry import make_run, ok, put, read, register, stage_files, start_mount

SECRET = "pg-s3cret-pw"


@pytest.fixture(scope="module")
def pg_server():
    """The session's server (conftest.PgServer), its port."""
    return PgServer.start()


@pytest.fixture
def registry(pg_server, request):
    """A new empty database; yields (port, database name, URI with a password)."""
    name = "it_" + request.node.name.lower().replace("[", "_").replace("]", "")[:40]
    psql(pg_server, "postgres", "DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
    psql(pg_server, "postgres",
         "CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'" % name)
    yield pg_server, name, "postgresql://dd:%s@127.0.0.1:%d/%s" % (SECRET, pg_server, name)


def test_init_creates_the_schema_and_never_shows_the_password(registry, tmp_path):
    port, name, uri = registry
    r = run('"%s" init "%s"' % (BIN, uri))
    assert r.returncode == 0, r.stderr
    schema_line, root_line = r.stdout.splitlines()
    assert schema_line == "postgresql://dd@127.0.0.1:%d/%s: schema version %s" % (
        port, name, psql(port, name, "SELECT max(version) FROM schema_migrations")[0][0])
    # and where large artifacts go: the root it recorded (test_pg_artifact_root.py)
    root = psql(port, name, "SELECT artifact_root FROM registry")[0][0]
    assert root_line.startswith("postgresql://dd@127.0.0.1:%d/%s: artifacts larger than"
                                " artifacts.inline_max go to %s;" % (port, name, root))
    assert SECRET not in r.stdout + r.stderr
    tables = {t for (t,) in psql(port, name, "SELECT tablename FROM pg_tables"
                                             " WHERE schemaname = 'public'")}
    assert {"project", "iteration", "metric_point", "model_version", "artifact_chunk",
            "dir_time", "schema_migrations", "user"} <= tables
    # the points' view with the old columns (schema 014), for reading with SQL
    assert psql(port, name, "SELECT viewname FROM pg_views WHERE schemaname = 'public'") == \
        [["metric"]]
    assert psql(port, name, 'SELECT username FROM "user"') == [["default"]]
    # again: nothing new
    r = run('"%s" init "%s"' % (BIN, uri))
    assert r.returncode == 0, r.stderr
    # a database holding someone else's tables is refused, and left as it was
    psql(port, "postgres", "DROP DATABASE IF EXISTS %s_other" % name)
    psql(port, "postgres", "CREATE DATABASE %s_other" % name)
    psql(port, name + "_other", "CREATE TABLE theirs (x int)")
    r = run('"%s" init "%s_other"' % (BIN, uri))
    assert r.returncode != 0
    assert "is not a DearDiary registry" in r.stderr
    assert SECRET not in r.stderr
    assert psql(port, name + "_other", "SELECT tablename FROM pg_tables"
                                       " WHERE schemaname = 'public'") == [["theirs"]]
    # `deardiary config` shows the configured URI without its password
    r = run('DEARDIARY_DB_FILE="%s" "%s" config' % (uri, BIN))
    assert r.returncode == 0, r.stderr
    assert 'database: "postgresql://dd@127.0.0.1:%d/%s"' % (port, name) in r.stdout
    assert SECRET not in r.stdout


def test_tracking_and_registry_walk_through_a_mount(registry, tmp_path):
    port, name, uri = registry
    assert run('"%s" init "%s"' % (BIN, uri)).returncode == 0
    m = start_mount(str(tmp_path), "inline", db=uri)   # the bytes in artifact_chunk
    try:
        # the registry's name, published for `deardiary run` and people: no password
        r = run('getfattr --only-values -n user.deardiary.database "%s"' % m.path)
        assert r.stdout == "postgresql://dd@127.0.0.1:%d/%s" % (port, name), r.stderr

        # tracking: parameters, metric appends, notes, an artifact, all with shell tools
        exp, iid = make_run(m, "fraud", "sweep")
        it = "%s/iterations/%s" % (exp, iid)
        ok(m, 'echo 0.01 > "%s/params/lr"\necho 8 > "%s/params/depth"\n'
              'for v in 0.5 0.61 0.72; do echo $v >> "%s/metrics/acc"; done\n'
              'echo "first try" > "%s/notes"' % (it, it, it, it))
        assert read(m, it + "/params/lr") == b"0.01\n"
        acc = read(m, it + "/metrics/acc").decode().splitlines()
        assert [line.split()[:2] for line in acc] == [["0", "0.5"], ["1", "0.61"], ["2", "0.72"]]
        data = os.urandom(3 * 1024 * 1024 + 17)   # four 1 MiB chunks, the last short
        put(m, exp + "/resources/model.bin", data)
        assert read(m, exp + "/resources/model.bin") == data
        assert ok(m, 'sha256sum < "%s/resources/model.bin"' % exp).split()[0] == \
            hashlib.sha256(data).hexdigest()
        listing = ok(m, 'ls "%s/params" "%s/metrics"' % (it, it))
        assert "lr" in listing and "depth" in listing and "acc" in listing

        # what PostgreSQL holds, read by psql
        assert psql(port, name, "SELECT key, value FROM parameter ORDER BY key") == \
            [["depth", "8"], ["lr", "0.01"]]
        assert psql(port, name, "SELECT COUNT(*), MAX(value) FROM metric WHERE key = 'acc'") \
            == [["3", "0.72"]]
        assert psql(port, name, "SELECT size_bytes, backend FROM resource") == \
            [[str(len(data)), "inline"]]
        assert psql(port, name, "SELECT COUNT(*), SUM(octet_length(data)) FROM artifact_chunk") \
            == [["4", str(len(data))]]

        # `deardiary run` inside the mount finds the PostgreSQL registry by the xattr
        # (the password comes from PGPASSWORD there, as for any libpq tool)
        r = run('cd "%s" && PGPASSWORD=x "%s" run sweep -- sh -c "echo 0.9 >> '
                '\\$DEARDIARY_ITERATION/metrics/auc"' % (m.p("projects", "fraud", "experiments"),
                                                         BIN))
        assert r.returncode == 0, r.stderr
        assert psql(port, name, "SELECT COUNT(*) FROM metric WHERE key = 'auc'") == [["1"]]

        # registry: a model, two versions, promotions (exactly one PRODUCTION)
        ok(m, "mkdir projects/fraud/models/clf")
        v1 = register(m, "clf", iid, "model.bin")
        _, iid2 = make_run(m, "fraud", "sweep")
        v2 = register(m, "clf", iid2)
        assert (v1, v2) == (1, 2)
        ok(m, "echo PRODUCTION > models/clf/versions/1/stage")
        assert read(m, "models/clf/production/artifact") == data
        ok(m, "echo PRODUCTION > models/clf/versions/2/stage")
        assert stage_files(m, "clf") == {1: "ARCHIVED", 2: "PRODUCTION"}
        assert psql(port, name, "SELECT version FROM model_version WHERE stage_id = 3") == [["2"]]
        ok(m, "ln -s ../versions/1 models/clf/aliases/champion")
        assert os.readlink(m.p("models", "clf", "aliases", "champion")) == "../versions/1"

        # deleting: an ended iteration's data goes with rm -r of its experiment
        ok(m, 'mkdir projects/fraud/experiments/scratch\n'
              'cat projects/fraud/experiments/scratch/iterations/new >/dev/null\n'
              'rm -r projects/fraud/experiments/scratch')
        assert psql(port, name, "SELECT COUNT(*) FROM experiment WHERE name = 'scratch'") == \
            [["0"]]
    except BaseException:
        m.kill()
        raise
    m.unmount()
    assert SECRET not in m.output()

    # fsck on the URI: clean, and the summary names the registry without its password
    r = run('"%s" fsck "%s"' % (BIN, uri))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("postgresql://dd@127.0.0.1:%d/%s: 1 resources checked" % (
        port, name)), r.stdout
    assert "clean" in r.stdout and SECRET not in r.stdout + r.stderr

    # fsck finds what a broken row says: a resource whose chunks are gone
    psql(port, name, "DELETE FROM artifact_chunk WHERE seq = 1")
    r = run('"%s" fsck "%s"' % (BIN, uri))
    assert r.returncode != 0
    assert "model.bin" in r.stdout + r.stderr


def test_a_uri_no_engine_takes_is_refused(tmp_path):
    r = run('"%s" init "mysql://u:p@h/db"' % BIN)
    assert r.returncode != 0
    assert "no store engine" in r.stderr
    assert not os.path.exists("mysql:")


def hold_metric_tables(port, name):
    """A psql session that holds the metric tables in EXCLUSIVE mode (reads pass, no batch
    can commit) until released; returns a release function."""
    env = dict(os.environ, PGAPPNAME="dd-holder")
    holder = subprocess.Popen(
        ["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(port), "-U", "dd", "-d", name, "-c",
         "BEGIN; LOCK TABLE metric, metric_latest IN EXCLUSIVE MODE; SELECT pg_sleep(600)"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while psql(port, name, "SELECT COUNT(*) FROM pg_locks l JOIN pg_stat_activity a"
                           " ON a.pid = l.pid WHERE a.application_name = 'dd-holder'"
                           " AND l.granted AND l.mode = 'ExclusiveLock'"
                           " AND l.relation = 'metric'::regclass") != [["1"]]:
        assert time.time() < deadline, "the holder never got its lock"
        time.sleep(0.05)

    def release():
        psql(port, name, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                         " WHERE application_name = 'dd-holder'")
        holder.wait(timeout=30)
    return release


def wait_for_points(port, name, n, bound=1.0):
    """Wait until PostgreSQL holds n metric points: what another node sees of points a
    PostgreSQL mount acknowledged into its journal (metrics.close_waits journal, the
    default there), committed by its log's thread within `bound` seconds (docs/ENGINES.md
    §4.4; a loaded machine gets a few times that)."""
    deadline = time.time() + 5 * bound
    while psql(port, name, "SELECT COUNT(*) FROM metric") != [[str(n)]]:
        assert time.time() < deadline, psql(port, name, "SELECT COUNT(*) FROM metric")
        time.sleep(0.02)


def test_open_append_close_is_acknowledged_at_the_journal_and_survives_a_kill(
        registry, tmp_path, monkeypatch):
    """metrics.close_waits (docs/ENGINES.md §4.4): on PostgreSQL (default `engine`:
    journal) `echo x >> metrics/loss` returns once the point is checked and in the node's
    journal: with the metric tables held by another session (no batch can commit) every
    open/append/close still succeeds at once; the daemon SIGKILLed then, the next mount
    replays them all, once each, in order. fsync waits for the commit in either mode
    (EAGAIN while the tables are held). With `commit` the same close waits for the
    commit (EAGAIN after the busy timeout while the tables are held)."""
    port, name, uri = registry
    jdir = str(tmp_path / "journals")
    monkeypatch.setenv("DEARDIARY_METRICS_JOURNAL_DIR", jdir)
    monkeypatch.setenv("DEARDIARY_BUSY_TIMEOUT_MS", "2000")
    assert run('"%s" init "%s"' % (BIN, uri)).returncode == 0
    m = Mount(str(tmp_path), db=uri)
    try:
        exp, iid = make_run(m, "fraud", "sweep")
        loss = m.p(exp, "iterations", iid, "metrics", "loss")
        with open(loss, "a") as f:
            f.write("0.5\n")
        wait_for_points(port, name, 1)
        release = hold_metric_tables(port, name)
        try:
            # A lookup of the name drains the log (this node reads its own writes), which
            # cannot finish while the tables are held: write within the kernel's entry
            # time (live_timeout, 0.5 s) of one lookup made with nothing pending.
            time.sleep(0.6)
            os.stat(loss)
            # the handle of the fsync check below, opened inside the same window (on a
            # loaded machine the loop may outlast it)
            held = os.open(loss, os.O_WRONLY | os.O_APPEND)
            start, n = time.time(), 0
            while time.time() - start < 0.25 or n < 3:
                fd = os.open(loss, os.O_WRONLY | os.O_APPEND)
                line = b"%d.5\n" % (n + 1)
                assert os.write(fd, line) == len(line)
                os.close(fd)                           # does not wait for the commit
                n += 1
            assert psql(port, name, "SELECT COUNT(*) FROM metric") == [["1"]]
            # fsync asks for durability, which only the commit gives: it waits, and
            # while the tables stay held it fails (EAGAIN) instead of claiming it
            fd = held
            try:
                assert os.write(fd, b"%d.5\n" % (n + 1)) == len(b"%d.5\n" % (n + 1))
                n += 1
                with pytest.raises(OSError) as e:
                    os.fsync(fd)
                assert e.value.errno == errno.EAGAIN
            finally:
                os.close(fd)
            assert psql(port, name, "SELECT COUNT(*) FROM metric") == [["1"]]
            m.proc.kill()                              # SIGKILL, nothing committed
            m.proc.wait(timeout=30)
        finally:
            release()
        subprocess.run(["fusermount3", "-u", "-z", m.path], capture_output=True)
    except BaseException:
        m.kill()
        raise
    assert psql(port, name, "SELECT COUNT(*) FROM metric") == [["1"]]

    monkeypatch.setenv("DEARDIARY_METRICS_CLOSE_WAITS", "commit")
    m = Mount(str(tmp_path), db=uri, log="daemon2.log")
    try:
        got = read(m, "%s/iterations/%s/metrics/loss" % (exp, iid)).decode().splitlines()
        assert [line.split()[:2] for line in got] == \
            [[str(i), "%d.5" % i] for i in range(n + 1)]
        # commit: the close (here the write: a handle's first batch) waits for the commit
        release = hold_metric_tables(port, name)
        try:
            fd = os.open(loss, os.O_WRONLY | os.O_APPEND)
            with pytest.raises(OSError) as e:
                os.write(fd, b"9.5\n")
                os.close(fd)
                fd = None
            assert e.value.errno == errno.EAGAIN
            if fd is not None:
                os.close(fd)
        finally:
            release()
    except BaseException:
        m.kill()
        raise
    m.unmount()
    assert psql(port, name, "SELECT COUNT(*), COUNT(DISTINCT value) FROM metric") == \
        [[str(n + 1), str(n + 1)]]


def test_a_killed_mount_replays_its_journal_at_the_next_mount(registry, tmp_path, monkeypatch):
    """metrics.journal_dir on a PostgreSQL registry (docs/ENGINES.md §4.3): a daemon
    SIGKILLed with acknowledged points only in its journal (the metric tables held by
    another session, so no batch could commit) leaves the journal, named by the registry's
    uuid, in the configured directory; fsck elsewhere (another journal directory) lists
    the dead node with its journal; the next mount with the directory replays it: every
    point once, none lost, none twice, and the dead node's row goes."""
    port, name, uri = registry
    jdir = str(tmp_path / "journals")
    monkeypatch.setenv("DEARDIARY_METRICS_JOURNAL_DIR", jdir)
    # a reader of the held file (the kernel's getattr before an O_APPEND write) waits for
    # the points to commit up to the busy timeout: short, so the test is too
    monkeypatch.setenv("DEARDIARY_BUSY_TIMEOUT_MS", "2000")
    assert run('"%s" init "%s"' % (BIN, uri)).returncode == 0
    uuid = psql(port, name, "SELECT uuid FROM registry")[0][0]
    m = Mount(str(tmp_path), db=uri)
    n = 200
    try:
        exp, iid = make_run(m, "fraud", "sweep")
        journals = [f for f in os.listdir(jdir) if f.startswith(uuid + ".")]
        assert len(journals) == 1 and journals[0].endswith(".mlog"), os.listdir(jdir)
        assert oct(os.stat(jdir).st_mode & 0o777) == "0o700"
        fd = os.open(m.p(exp, "iterations", iid, "metrics", "loss"),
                     os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        assert os.write(fd, b"0.25\n") == 5      # acknowledged: in the journal
        wait_for_points(port, name, 1)             # committed by the log's thread
        release = hold_metric_tables(port, name)
        try:
            for i in range(1, n):
                line = b"%d.25\n" % i
                assert os.write(fd, line) == len(line)    # acknowledged: in the journal
            assert psql(port, name, "SELECT COUNT(*) FROM metric") == [["1"]]
            assert os.path.getsize(os.path.join(jdir, journals[0])) > 0
            m.proc.kill()                                 # SIGKILL, nothing flushed
            m.proc.wait(timeout=30)
            try:
                os.close(fd)
            except OSError:
                pass                                      # the daemon is gone
        finally:
            release()
        subprocess.run(["fusermount3", "-u", "-z", m.path], capture_output=True)
    except BaseException:
        m.kill()
        raise
    assert psql(port, name, "SELECT COUNT(*) FROM metric") == [["1"]]
    assert os.listdir(jdir) == journals

    # fsck with another journal directory cannot replay it, and says whose it is
    other = str(tmp_path / "elsewhere")
    r = run('DEARDIARY_METRICS_JOURNAL_DIR="%s" "%s" fsck "%s"' % (other, BIN, uri))
    assert r.returncode != 0
    assert "died with a metric journal" in r.stdout and journals[0] in r.stdout, r.stdout
    assert psql(port, name, "SELECT COUNT(*) FROM metric") == [["1"]]

    m = Mount(str(tmp_path), db=uri, log="daemon2.log")
    try:
        got = read(m, "%s/iterations/%s/metrics/loss" % (exp, iid)).decode().splitlines()
        assert [line.split()[:2] for line in got] == \
            [[str(i), "%d.25" % i] for i in range(n)]
    except BaseException:
        m.kill()
        raise
    m.unmount()
    assert psql(port, name, "SELECT COUNT(*), COUNT(DISTINCT value) FROM metric") == \
        [[str(n), str(n)]]
    assert not [f for f in os.listdir(jdir) if f.startswith(uuid + ".")]
    assert psql(port, name, "SELECT COUNT(*) FROM node") == [["0"]]
    assert psql(port, name, "SELECT COUNT(*) FROM metric_log_state") == [["0"]]
    r = run('"%s" fsck "%s"' % (BIN, uri))
    assert r.returncode == 0, r.stdout + r.stderr


def test_journals_of_another_registry_in_the_directory_are_left_alone(registry, tmp_path,
                                                                      monkeypatch):
    """One journal directory, two registries: a mount replays only journals named by its
    own registry's uuid; a file of another registry stays, byte for byte."""
    port, name, uri = registry
    jdir = tmp_path / "journals"
    jdir.mkdir(mode=0o700)
    foreign = jdir / "0b6f1b52-1d1e-4c59-9d43-6b8b2a1f0c11.0123456789abcdef.mlog"
    foreign.write_bytes(b"GOLM" + os.urandom(60))
    monkeypatch.setenv("DEARDIARY_METRICS_JOURNAL_DIR", str(jdir))
    assert run('"%s" init "%s"' % (BIN, uri)).returncode == 0
    m = Mount(str(tmp_path), db=uri)
    try:
        ok(m, "ls projects")
        time.sleep(0.6)      # the committer looks for dead journals every 250 ms
        assert foreign.exists()
    except BaseException:
        m.kill()
        raise
    m.unmount()
    assert foreign.exists() and len(foreign.read_bytes()) == 64
