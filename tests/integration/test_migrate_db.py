"""`deardiary migrate-db SRC DST` (issue 14): a whole registry copied between engines, on a
real SQLite file and a real PostgreSQL 15 (conftest.PgServer, its own server, whatever
DD_TEST_ENGINE says). The registry holds every kind of entity, made through a mount, the
user command and (for the tables a mount fills only in passing: uploads, journals' state,
trash, nodes) a foreign writer. Equality is judged by an engine-neutral dump read with
independent readers (Python's sqlite3, psql), table by table, every row, canonically.
"""
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import time

import pytest

from conftest import BIN, PgServer, psql, run
from helpers_tty import run_on_tty
from helpers_registry import make_run, ok, put, read, register, start_mount, finish_mount

NOT_COPIED = {"schema_migrations", "sqlite_sequence"}   # the schema's own bookkeeping


# ---------------------------------------------------------------- the engine-neutral dump

def pg_port_db(uri):
    rest = uri.split("@", 1)[1]
    hostport, name = rest.split("/", 1)
    return int(hostport.split(":")[1]), name.split("?")[0]


def sqlite_tables(path):
    with sqlite3.connect(path) as c:
        return sorted(t for (t,) in c.execute("SELECT name FROM sqlite_master"
                                              " WHERE type = 'table'") if t not in NOT_COPIED)


def pg_tables(uri):
    port, name = pg_port_db(uri)
    return sorted(t for (t,) in psql(port, name, "SELECT tablename FROM pg_tables"
                                                 " WHERE schemaname = 'public'")
                  if t not in NOT_COPIED)


# A registry's artifact root is where `init` put it on its machine: migrate-db keeps DST's
# own (docs/ENGINES.md §4.5), so it is no part of what must come out identical.
NOT_COMPARED = {("registry", "artifact_root")}


def canon(v):
    """One value, the same text whichever engine held it."""
    if v is None:
        return "NULL"
    if isinstance(v, bytes):
        return "x'" + v.hex() + "'"
    if isinstance(v, float):
        return "f" + repr(v)
    if isinstance(v, int):
        return "i%d" % v
    return json.dumps(v, ensure_ascii=False)


def dump_sqlite(path):
    out = []
    with sqlite3.connect(path) as c:
        for t in sqlite_tables(path):
            cols = sorted(r[1] for r in c.execute('PRAGMA table_info("%s")' % t)
                          if (t, r[1]) not in NOT_COMPARED)
            rows = c.execute('SELECT %s FROM "%s"' % (", ".join('"%s"' % x for x in cols), t))
            lines = sorted(" | ".join(canon(v) for v in row) for row in rows)
            out.append("## %s (%s)\n%s" % (t, ", ".join(cols), "\n".join(lines)))
    return "\n".join(out) + "\n"


def pg_value(v, typ):
    if v is None:
        return None
    if typ == "bytea":
        return bytes.fromhex(v[2:])
    if typ == "double precision":
        return float(v)
    if typ in ("bigint", "integer"):
        return int(v)
    return v


def dump_pg(uri):
    port, name = pg_port_db(uri)
    out = []
    for t in pg_tables(uri):
        cols = psql(port, name, "SELECT column_name, data_type FROM information_schema.columns"
                                " WHERE table_schema = 'public' AND table_name = '%s'"
                                " ORDER BY column_name" % t)
        cols = [c for c in cols if (t, c[0]) not in NOT_COMPARED]
        names = [c for c, _ in cols]
        # one JSON array per row: text with tabs or newlines stays one line; floats as text
        # (PostgreSQL's shortest exact form), bytea as \x hex
        exprs = ", ".join("CASE WHEN \"%s\" IS NULL THEN NULL ELSE \"%s\"::text END" % (c, c)
                          for c in names)
        rows = psql(port, name, 'SELECT json_build_array(%s)::text FROM "%s"' % (exprs, t))
        lines = sorted(" | ".join(canon(pg_value(v, typ)) for v, (_, typ)
                                  in zip(json.loads(r[0]), cols)) for r in rows)
        out.append("## %s (%s)\n%s" % (t, ", ".join(names), "\n".join(lines)))
    return "\n".join(out) + "\n"


def dump(db):
    return dump_pg(db) if db.startswith("postgresql://") else dump_sqlite(db)


def migrate(src, dst, **kw):
    return subprocess.run([BIN, "migrate-db", src, dst], capture_output=True, text=True, **kw)


# ---------------------------------------------------------------- a registry of everything

def sq(path, sql):
    with sqlite3.connect(path) as c:
        c.executescript(sql)


def build_registry(root):
    """A SQLite registry with a row in every table; returns (path, facts)."""
    db = os.path.join(root, "src.db")
    assert run('"%s" init "%s"' % (BIN, db)).returncode == 0
    big = os.urandom(2 * 1024 * 1024 + 12345)          # three inline chunks
    m = start_mount(root, "inline", db=db)
    try:
        exp, iid = make_run(m, "fraud", "sweep")
        it = "%s/iterations/%s" % (exp, iid)
        ok(m, 'echo 0.01 > "%s/params/lr"\necho "deep net" > "%s/params/arch"\n'
              'seq 1 3000 | sed "s/$/.25/" >> "%s/metrics/loss"\n'
              'echo "notes with a\ttab" > "%s/notes"\n'
              'touch "%s/tags/gold" projects/fraud/tags/team "%s/tags/gold"'
           % (it, it, it, it, it, exp))
        put(m, exp + "/resources/model.bin", big)
        ok(m, "mkdir projects/fraud/models/clf")
        v1 = register(m, "clf", iid, "model.bin")
        _, iid2 = make_run(m, "fraud", "sweep")
        ok(m, 'echo 7 > "%s/iterations/%s/params/depth"' % (exp, iid2))
        v2 = register(m, "clf", iid2)
        ok(m, "echo STAGING > models/clf/versions/%d/stage\n"
              "echo PRODUCTION > models/clf/versions/%d/stage\n"
              "echo PRODUCTION > models/clf/versions/%d/stage\n"
              "ln -s ../versions/%d models/clf/aliases/champion" % (v1, v1, v2, v1))
        # a child iteration, and a project made and removed (the id counter passes it)
        ok(m, "mkdir projects/gone && rmdir projects/gone")
    except BaseException:
        m.kill()
        raise
    finish_mount(m)
    small = os.urandom(70000)
    m = start_mount(root, "filesystem", db=db)        # a filesystem artifact
    try:
        put(m, "projects/fraud/experiments/sweep/resources/table.csv", small)
    except BaseException:
        m.kill()
        raise
    finish_mount(m)
    r = subprocess.run([BIN, "user", "--db", db, "add", "alice", "--password-stdin"],
                       input="pw-alice\n", capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = run('"%s" user --db "%s" grant alice fraud --read --update' % (BIN, db))
    assert r.returncode == 0, r.stderr
    # tables a mount fills only in passing, by a foreign writer: odd values on purpose
    sq(db, """
        INSERT INTO node(machine_id, boot_id, pidns, pid, start_ticks, hostname, journal_dir,
                         started_at, lease_until_ms)
        VALUES ('m1', 'b1', 4026531836, 4242, 99, 'host-ü', '/var/j', '2026-01-01T00:00:00.000Z', 1);
        INSERT INTO artifact_upload(owner_pid, owner_start, owner_token, started_at, node_id)
        VALUES (4242, 99, -7, '2026-01-01T00:00:00.000Z', (SELECT max(id) FROM node));
        INSERT INTO metric_log_state(name, seq, node_id)
        VALUES ('journal-a', 12, (SELECT max(id) FROM node)), ('journal-b', 0, NULL);
        INSERT INTO artifact_trash(backend, uri, queued_at, chunk_set)
        VALUES ('filesystem', '/nowhere/x', '2026-01-01T00:00:00.000Z', NULL);
        INSERT INTO remote_delivery(node_id, seq, committed_at)
        VALUES ('0123456789abcdef0123456789abcdef', 9223372036854775807,
                '2026-01-01T00:00:00.000Z'),
               ('fedcba9876543210fedcba9876543210', 1, '2026-01-01T00:00:00.001Z');
        INSERT INTO iteration_file(iteration_id, name, content)
        VALUES ((SELECT min(id) FROM iteration), 'Project.toml', X'00ff0a6e616d65');
        INSERT INTO metric_latest(iteration_id, key, value, step, recorded_at, max_step,
                                  point_count, text_bytes)
        VALUES ((SELECT min(id) FROM iteration), 'odd', 0.1, 4, '2026-01-01T00:00:00.002Z',
                4, 3, 0);
        INSERT INTO metric_point(series_id, step, id, value, recorded_at)
        VALUES ((SELECT max(id) FROM metric_latest), -5, 0, 1e-300, '2026-01-01T00:00:00.000Z'),
               ((SELECT max(id) FROM metric_latest), 3, 1, -2.5e300, '2026-01-01T00:00:00.001Z'),
               ((SELECT max(id) FROM metric_latest), 4, 2, 0.1, '2026-01-01T00:00:00.002Z');
        UPDATE iteration SET parent_iteration_id = (SELECT min(id) FROM iteration)
        WHERE id = (SELECT max(id) FROM iteration);
    """)
    return db, {"big": big, "small": small, "exp": "projects/fraud/experiments/sweep"}


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("src"))
    db, facts = build_registry(root)
    facts["root"] = root
    return db, facts


def pg_new(name):
    return PgServer.new_database(name)


def sqlite_seq(path):
    with sqlite3.connect(path) as c:
        return dict(c.execute("SELECT name, seq FROM sqlite_sequence"))


def max_ids(db):
    """The highest id of every table that has an id column, read on either engine."""
    out = {}
    for t in (sqlite_tables(db) if not db.startswith("postgresql") else pg_tables(db)):
        if t in ("metric_point", "metric_block", "dir_time", "metric_log_state", "registry",
                 "remote_delivery"):
            continue
        if db.startswith("postgresql"):
            port, name = pg_port_db(db)
            out[t] = int(psql(port, name, 'SELECT coalesce(max(id), 0) FROM "%s"' % t)[0][0])
        else:
            with sqlite3.connect(db) as c:
                out[t] = c.execute('SELECT coalesce(max(id), 0) FROM "%s"' % t).fetchone()[0]
    return out


# ---------------------------------------------------------------- tests

def test_every_table_of_the_schema_is_copied(registry):
    """The list migrate-db copies is every table of both schemas (a table added to the
    schema and not to migrate_db.c fails here), and the test registry has rows in each, so
    the dump comparisons below cover every table."""
    db, _ = registry
    r = run('"%s" migrate-db --tables' % BIN)
    assert r.returncode == 0, r.stderr
    listed = r.stdout.split()
    assert sorted(listed) == sqlite_tables(db)
    assert sorted(listed) == pg_tables(pg_new("mdb_tables"))
    assert listed[0] == "registry" and listed[-1] == "dir_time"
    with sqlite3.connect(db) as c:
        empty = [t for t in listed if c.execute('SELECT COUNT(*) FROM "%s"' % t).fetchone()[0] == 0]
    assert empty == []


def test_round_trip_sqlite_postgres_sqlite_is_identical(registry, tmp_path):
    db, facts = registry
    src_dump = dump(db)
    src_seq = sqlite_seq(db)
    pg = pg_new("mdb_round")
    r = migrate(db, pg)
    assert r.returncode == 0, r.stderr
    assert "row counts match" in r.stdout and "2 artifacts verified" in r.stdout, r.stdout
    assert r.stderr == ""                                    # no terminal: no bar
    assert dump(pg) == src_dump
    back = str(tmp_path / "back.db")
    assert run('"%s" init "%s"' % (BIN, back)).returncode == 0
    r = migrate(pg, back)
    assert r.returncode == 0, r.stderr
    assert dump(back) == src_dump                            # byte for byte
    assert sqlite_seq(back) == src_seq                       # counters, a deleted id included
    assert dump(db) == src_dump                              # SRC untouched

    # artifacts through a mount of each copy: inline chunks and the filesystem file
    for target in (pg, back):
        m = start_mount(str(tmp_path / ("m_" + hashlib.md5(target.encode()).hexdigest()[:6])),
                        "inline", fs_root=os.path.join(facts["root"], "artifacts"), db=target)
        try:
            assert read(m, facts["exp"] + "/resources/model.bin") == facts["big"]
            assert read(m, facts["exp"] + "/resources/table.csv") == facts["small"]
            assert read(m, "models/clf/versions/1/artifact") == facts["big"]
            assert read(m, "models/clf/versions/2/stage").strip() == b"PRODUCTION"
            # ids after the migration: never one SRC used (the removed project's included)
            ok(m, "mkdir projects/newer && mkdir projects/newer/experiments/e2 && "
                  "cat projects/newer/experiments/e2/iterations/new")
        except BaseException:
            m.kill()
            raise
        finish_mount(m)
    for target in (pg, back):
        if target.startswith("postgresql"):
            port, name = pg_port_db(target)
            pid = int(psql(port, name, "SELECT id FROM project WHERE name = 'newer'")[0][0])
            eid = int(psql(port, name, "SELECT id FROM experiment WHERE name = 'e2'")[0][0])
            iid = int(psql(port, name, "SELECT max(id) FROM iteration")[0][0])
        else:
            with sqlite3.connect(target) as c:
                pid = c.execute("SELECT id FROM project WHERE name = 'newer'").fetchone()[0]
                eid = c.execute("SELECT id FROM experiment WHERE name = 'e2'").fetchone()[0]
                iid = c.execute("SELECT max(id) FROM iteration").fetchone()[0]
        assert pid == src_seq["project"] + 1, target   # above the removed project's id
        assert eid > src_seq["experiment"] and iid > src_seq["iteration"]


def test_rerun_on_a_finished_copy_changes_nothing(registry, tmp_path):
    """The first run on a terminal (a progress bar on it), a second one after it."""
    db, _ = registry
    dst = str(tmp_path / "dst.db")
    assert run('"%s" init "%s"' % (BIN, dst)).returncode == 0
    code, shown, _ = run_on_tty([os.path.abspath(BIN), "migrate-db", db, dst], [])
    assert code == 0, shown
    assert b"\rcopying [##############################] 100% " in shown, shown
    assert b"row counts match, 2 artifacts verified" in shown
    before = dump(dst)
    r = migrate(db, dst)
    assert r.returncode == 0, r.stderr
    assert "resumed" in r.stdout
    assert dump(dst) == before == dump(db)


def test_bad_input_changes_nothing(registry, tmp_path):
    db, _ = registry
    src_dump = dump(db)
    # the same registry, under two spellings
    r = migrate(db, os.path.join(os.path.dirname(db), ".", os.path.basename(db)))
    assert r.returncode == 1 and "same registry" in r.stderr
    # DST holding another registry's data
    other = str(tmp_path / "other.db")
    assert run('"%s" init "%s"' % (BIN, other)).returncode == 0
    m = start_mount(str(tmp_path / "o"), "inline", db=other)
    try:
        ok(m, "mkdir projects/theirs")
    except BaseException:
        m.kill()
        raise
    finish_mount(m)
    other_dump = dump(other)
    r = migrate(db, other)
    assert r.returncode == 1
    assert "DST is not empty (table project has rows)" in r.stderr
    assert dump(other) == other_dump
    # a PostgreSQL DST with data
    pg = pg_new("mdb_busy")
    port, name = pg_port_db(pg)
    psql(port, name, "INSERT INTO tag(value) VALUES ('x')")
    pg_before = dump(pg)
    r = migrate(db, pg)
    assert r.returncode == 1 and "table tag has rows" in r.stderr
    assert dump(pg) == pg_before
    # schema versions that differ: SRC one behind (its last migration unrecorded)
    old = str(tmp_path / "old.db")
    assert run('"%s" init "%s"' % (BIN, old)).returncode == 0
    sq(old, "DELETE FROM schema_migrations WHERE version = (SELECT max(version)"
            " FROM schema_migrations)")
    fresh = str(tmp_path / "fresh.db")
    assert run('"%s" init "%s"' % (BIN, fresh)).returncode == 0
    fresh_dump = dump(fresh)
    r = migrate(old, fresh)
    assert r.returncode == 1 and "migrate SRC first" in r.stderr, r.stderr
    assert dump(fresh) == fresh_dump
    # an unreachable server, a DST that does not exist
    r = migrate(db, "postgresql://dd@127.0.0.1:1/nowhere?connect_timeout=2")
    assert r.returncode == 1 and r.stderr.startswith("deardiary migrate-db: ")
    missing = str(tmp_path / "missing.db")
    r = migrate(db, missing)
    assert r.returncode == 1 and "deardiary init" in r.stderr
    assert not os.path.exists(missing)
    # usage
    assert migrate(db, "").returncode == 1
    assert run('"%s" migrate-db "%s"' % (BIN, db)).returncode == 2
    assert dump(db) == src_dump


def big_registry(root, points):
    """A registry with a series of `points` metric points (written by a foreign writer,
    in one statement: a mount would take minutes) and an inline artifact."""
    db, facts = build_registry(root)
    sq(db, """
        INSERT INTO metric_latest(iteration_id, key, value, step, recorded_at, max_step,
                                  point_count, text_bytes)
        VALUES ((SELECT min(id) FROM iteration), 'big', %d * 0.5, %d,
                '2026-01-01T00:00:00.000Z', %d, %d, 0);
        WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
        INSERT INTO metric_point(series_id, step, id, value, recorded_at)
        SELECT (SELECT max(id) FROM metric_latest), i, i, i * 0.5,
               '2026-01-01T00:00:00.000Z' FROM n;
    """ % (points - 1, points - 1, points - 1, points, points - 1))
    return db, facts


def test_a_killed_copy_resumes_to_an_identical_registry(tmp_path):
    """SIGKILL while the metric table is being copied into PostgreSQL, then the same
    command again: it resumes (not from scratch) and the result is identical; then the
    same back into SQLite, killed in the chunks."""
    db, _ = big_registry(str(tmp_path), 150000)
    src_dump = dump(db)
    pg = pg_new("mdb_killed")
    port, name = pg_port_db(pg)
    p = subprocess.Popen([BIN, "migrate-db", db, pg], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while int(psql(port, name, "SELECT COUNT(*) FROM metric_point")[0][0]) < 20000:
        assert p.poll() is None, "finished before the kill: %s" % p.communicate()[1]
        assert time.time() < deadline
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    copied = int(psql(port, name, "SELECT COUNT(*) FROM metric_point")[0][0])
    assert 0 < copied < 150000 + 3003
    r = migrate(db, pg)
    assert r.returncode == 0, r.stderr
    assert "resumed" in r.stdout
    assert dump(pg) == src_dump

    back = str(tmp_path / "back.db")
    assert run('"%s" init "%s"' % (BIN, back)).returncode == 0
    p = subprocess.Popen([BIN, "migrate-db", pg, back], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while True:
        assert p.poll() is None, "finished before the kill: %s" % p.communicate()[1]
        assert time.time() < deadline
        try:
            with sqlite3.connect(back, timeout=0.2) as c:
                if c.execute("SELECT COUNT(*) FROM metric_point").fetchone()[0] > 10000:
                    break
        except sqlite3.OperationalError:
            pass
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    r = migrate(pg, back)
    assert r.returncode == 0, r.stderr
    assert dump(back) == src_dump


def test_a_difference_is_reported(tmp_path):
    """The checks at the end can fail: a row gone from SRC since the copy (the rerun finds
    DST with one more), and an artifact whose bytes differ from its recorded sha256."""
    db, facts = build_registry(str(tmp_path))
    dst = str(tmp_path / "dst.db")
    assert run('"%s" init "%s"' % (BIN, dst)).returncode == 0
    assert migrate(db, dst).returncode == 0
    sq(db, "DELETE FROM iteration_tag")
    r = migrate(db, dst)
    assert r.returncode == 1
    assert "table iteration_tag: SRC has 0 rows, DST 1 (did SRC change" in r.stderr, r.stderr
    sq(dst, "DELETE FROM iteration_tag")
    assert migrate(db, dst).returncode == 0
    # the filesystem artifact's file (shared by both: DST's row points to it) damaged
    with sqlite3.connect(dst) as c:
        uri = c.execute("SELECT uri FROM resource WHERE backend = 'filesystem'").fetchone()[0]
    path = uri[len("file://"):] if uri.startswith("file://") else uri
    if not os.path.isabs(path):
        path = os.path.join(facts["root"], "artifacts", path)
    with open(path, "r+b") as f:
        f.write(b"\0damaged")
    r = migrate(db, dst)
    assert r.returncode == 1
    assert "resource" in r.stderr and "(table.csv): sha256" in r.stderr, r.stderr
