"""A PostgreSQL registry through a real mount (issue 14): a throwaway PostgreSQL 15 server
(scripts/pgtest.sh, on a free port of 127.0.0.1), `deardiary init URI` into an existing
empty database, `deardiary mount URI`, a tracking and a registry walk with real shell
tools, `deardiary run` inside the mount, and `deardiary fsck URI`. What is stored is
checked with psql, an independent reader. The URI carries a password the trust-
authenticated server ignores: it must never show (xattr, config, messages, daemon log).
"""
import hashlib
import os

import pytest

from conftest import BIN, PgServer, psql, run
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
    assert r.stdout == "postgresql://dd@127.0.0.1:%d/%s: schema version %s\n" % (
        port, name, psql(port, name, "SELECT max(version) FROM schema_migrations")[0][0])
    assert SECRET not in r.stdout + r.stderr
    tables = {t for (t,) in psql(port, name, "SELECT tablename FROM pg_tables"
                                             " WHERE schemaname = 'public'")}
    assert {"project", "iteration", "metric", "model_version", "artifact_chunk",
            "dir_time", "schema_migrations", "user"} <= tables
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
