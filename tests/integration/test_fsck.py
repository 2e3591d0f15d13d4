"""`deardiary fsck`: a registry built through a real mount is clean; damage made behind the
daemon's back (with the sqlite3 CLI and plain file tools) is found, reported and, with
--repair, repaired; the exit status says which (0 clean, 1 problems, 2 usage or I/O).
"""
import errno
import os
import subprocess

import pytest

from conftest import BIN, db_exec, is_uri, sqlite_rows
from helpers_registry import files_under, make_run, mounted, ok, put, register
from helpers_reliability import assert_fsck_clean, fsck

MiB = 1 << 20


def build(root, backend):
    """A small registry: two resources (one registered as version 1 of model m, in
    PRODUCTION, alias champion), metrics and params. Unmounted when this returns."""
    with mounted(root, backend) as m:
        exp, iid = make_run(m)
        put(m, exp + "/resources/a.bin", os.urandom(3 * MiB + 17))
        put(m, exp + "/resources/b.bin", os.urandom(1000))
        ok(m, "mkdir projects/p/models/m")
        register(m, "m", iid, "a.bin")
        run = "%s/iterations/%s" % (exp, iid)
        ok(m, "echo PRODUCTION > models/m/versions/1/stage\n"
              "ln -sfn ../versions/1 models/m/aliases/champion\n"
              "printf '0.5\\n0.25\\n7 0.125\\n' >> %s/metrics/loss\n"
              "echo 3 > %s/params/depth" % (run, run))
        # a sound resource has no "broken" attribute
        res = m.p(exp, "resources", "a.bin")
        assert "user.deardiary.broken" not in os.listxattr(res)
        with pytest.raises(OSError) as e:
            os.getxattr(res, "user.deardiary.broken")
        assert e.value.errno == errno.ENODATA
        return m, exp


@pytest.mark.parametrize("backend", ["inline", "filesystem"])
def test_clean_registry_is_clean(backend, tmp_path):
    m, _ = build(str(tmp_path), backend)
    r = assert_fsck_clean(m.db, fs_root=m.fs_root)
    assert "2 resources checked" in r.stdout
    # hashing reads every byte
    assert "(3.0 MiB hashed)" in r.stdout
    # --repair of a clean registry changes nothing and says clean
    before = sqlite_rows(m.db, "SELECT * FROM model_version")
    r = fsck(m.db, "--repair", fs_root=m.fs_root)
    assert r.returncode == 0 and "; clean" in r.stdout, r.stdout
    assert sqlite_rows(m.db, "SELECT * FROM model_version") == before


def test_usage_and_missing_database(tmp_path):
    r = subprocess.run([BIN, "fsck", "--bogus"], capture_output=True, text=True)
    assert r.returncode == 2 and "usage: deardiary fsck" in r.stderr
    missing = str(tmp_path / "nope.db")
    r = fsck(missing)
    assert r.returncode == 2 and "No such file or directory" in r.stderr
    assert not os.path.exists(missing)          # a checker creates nothing
    r = subprocess.run([BIN, "fsck", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--repair" in r.stdout


def test_inline_damage_found_and_repaired(tmp_path):
    m, exp = build(str(tmp_path), "inline")
    a_set = sqlite_rows(m.db, "SELECT chunk_set FROM resource WHERE name = 'a.bin'")[0][0]
    b_set = sqlite_rows(m.db, "SELECT chunk_set FROM resource WHERE name = 'b.bin'")[0][0]
    subprocess.run(["sqlite3", m.db,
                    # a.bin: one chunk rewritten at the same size: only the sha256 can tell
                    "UPDATE artifact_chunk SET data = randomblob(length(data))"
                    " WHERE set_id = %s AND seq = 1;"
                    # b.bin: its only chunk lost
                    "DELETE FROM artifact_chunk WHERE set_id = %s;"
                    # an orphan chunk set nothing refers to
                    "INSERT INTO artifact_chunk(set_id, seq, data) VALUES (9999, 0, x'00');"
                    # a wrong metric summary, a model counter below its versions,
                    # a dangling alias
                    "UPDATE metric_latest SET point_count = 99, max_step = 1;"
                    "UPDATE model SET last_version = 0;"
                    "PRAGMA foreign_keys = OFF;"
                    "INSERT INTO model_alias(model_id, alias, version_id) VALUES (1, 'ghost', 77);"
                    % (a_set, b_set)], check=True)
    r = fsck(m.db)
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout
    assert "PROBLEM: resource 1 (p/e/a.bin): the bytes hash to" in out
    assert "PROBLEM: resource 2 (p/e/b.bin): no bytes stored" in out or \
        "PROBLEM: resource 2 (p/e/b.bin): chunk set" in out, out
    assert "PROBLEM: orphan: inline chunk set 9999" in out
    assert "metric loss of iteration 1: summary says 99 points, there are 3" in out
    assert "model m: version 1 is above the counter (0)" in out
    assert "alias ghost points at version row 77, which does not exist" in out
    assert "6 problems (run with --repair" in out, out
    # nothing was changed by the check
    assert sqlite_rows(m.db, "SELECT COUNT(*) FROM artifact_chunk WHERE set_id = 9999") == [["1"]]

    r = fsck(m.db, "--repair")
    assert r.returncode == 1 and "6 problems, all repaired" in r.stdout, r.stdout
    assert "REPAIRED: resource 1 (p/e/a.bin)" in r.stdout
    assert sqlite_rows(m.db, "SELECT name, broken FROM resource ORDER BY id") == [
        ["a.bin", "1"], ["b.bin", "1"]]
    assert sqlite_rows(m.db, "SELECT COUNT(*) FROM artifact_chunk WHERE set_id = 9999") == [["0"]]
    assert sqlite_rows(m.db, "SELECT point_count, max_step FROM metric_latest") == [["3", "7"]]
    assert sqlite_rows(m.db, "SELECT last_version FROM model") == [["1"]]
    assert sqlite_rows(m.db, "SELECT alias FROM model_alias") == [["champion"]]

    # broken resources stay listed (the record of what was lost), reported as notes
    r = fsck(m.db)
    assert r.returncode == 0 and "; clean" in r.stdout, r.stdout
    assert "note: resource 1 (p/e/a.bin): marked broken" in r.stdout

    # through the mount: listed, but every read of a broken resource is EIO
    with mounted(str(tmp_path), "inline") as m2:
        assert sorted(os.listdir(m2.p(exp, "resources"))) == ["a.bin", "b.bin"]
        for name in ("a.bin", "b.bin"):
            with pytest.raises(OSError) as e:
                with open(m2.p(exp, "resources", name), "rb") as f:
                    f.read()
            assert e.value.errno == 5
        with pytest.raises(OSError) as e:
            with open(m2.p("models", "m", "versions", "1", "artifact"), "rb") as f:
                f.read()
        assert e.value.errno == 5
        r = subprocess.run(["cat", m2.p(exp, "resources", "a.bin")], capture_output=True,
                           text=True)
        assert "Input/output error" in r.stderr
        # the mark shows as an extended attribute, on the resource and the version's artifact
        for rel in (exp + "/resources/a.bin", "models/m/versions/1/artifact"):
            assert "user.deardiary.broken" in os.listxattr(m2.p(rel))
            assert os.getxattr(m2.p(rel), "user.deardiary.broken").decode().startswith(
                "bytes missing or damaged")
        r = subprocess.run(["getfattr", "-d", "-m", "user", m2.p(exp, "resources", "b.bin")],
                           capture_output=True, text=True)
        assert 'user.deardiary.broken="bytes missing or damaged' in r.stdout, r.stdout


def test_filesystem_damage_and_orphans(tmp_path):
    m, exp = build(str(tmp_path), "filesystem")
    uri_a, uri_b = [u for (u,) in sqlite_rows(
        m.db, "SELECT uri FROM resource ORDER BY id")]
    # a.bin truncated, b.bin missing; an orphan file the backend could have made; a
    # stale staged file; and a file of the user's own that fsck must never touch
    os.truncate(uri_a[7:], 10)
    os.unlink(uri_b[7:])
    orphan = os.path.join(m.fs_root, "ab", "ab0c7a5e-1f2b-4c3d-8e4f-5a6b7c8d9e0f")
    os.makedirs(os.path.dirname(orphan), exist_ok=True)
    with open(orphan, "wb") as f:
        f.write(b"lost")
    staged = os.path.join(m.fs_root, ".staging", "cd0c7a5e-1f2b-4c3d-8e4f-5a6b7c8d9e0f")
    with open(staged, "wb") as f:
        f.write(b"half")
    mine = os.path.join(m.fs_root, "ab", "notes.txt")
    with open(mine, "w") as f:
        f.write("mine")
    r = fsck(m.db, fs_root=m.fs_root)
    assert r.returncode == 1
    assert "PROBLEM: resource 1 (p/e/a.bin): %s holds 10 bytes" % uri_a[7:] in r.stdout
    assert "PROBLEM: resource 2 (p/e/b.bin): %s: No such file" % uri_b[7:] in r.stdout
    assert "PROBLEM: orphan: %s: no resource or trash row names this file" % orphan in r.stdout
    assert "PROBLEM: orphan: %s: staged file of an upload that is gone" % staged in r.stdout
    assert "4 problems" in r.stdout, r.stdout
    # the orphan is found even without the root configured: rows name their root
    r = fsck(m.db)
    assert "orphan: %s" % orphan in r.stdout
    r = fsck(m.db, "--repair", fs_root=m.fs_root)
    assert r.returncode == 1 and "4 problems, all repaired" in r.stdout, r.stdout
    assert not os.path.exists(orphan) and not os.path.exists(staged)
    assert os.path.exists(mine)
    assert files_under(m.fs_root) == {uri_a[7:], mine}
    assert_fsck_clean(m.db, fs_root=m.fs_root)
    # bytes put back: --repair clears the mark
    os.unlink(uri_a[7:])
    subprocess.run(["sqlite3", m.db, "UPDATE resource SET content_hash ="
                    " '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',"
                    " size_bytes = 4 WHERE id = 1"], check=True)
    with open(uri_a[7:], "wb") as f:
        f.write(b"test")
    r = fsck(m.db, "--repair", fs_root=m.fs_root)
    assert "REPAIRED: resource 1 (p/e/a.bin): marked broken, but its bytes verify: mark" \
           " cleared" in r.stdout, r.stdout
    assert sqlite_rows(m.db, "SELECT broken FROM resource WHERE id = 1") == [["0"]]


def test_s3_rows_without_a_service_are_not_checked(tmp_path):
    """With no s3 service configured an s3 row is noted, not judged (with one, fsck reads
    it back: test_s3_migrate.py::test_fsck_reads_s3_rows_back)."""
    m, exp = build(str(tmp_path), "inline")
    subprocess.run(["sqlite3", m.db, "INSERT INTO resource(experiment_id, name, created_date,"
                    " backend, uri, size_bytes, content_hash) VALUES (1, 'remote.bin',"
                    " '2026-11-23T00:00:00.000Z', 's3', 's3://bucket/key', 5, 'ab')"],
                   check=True)
    r = fsck(m.db)
    assert r.returncode == 0, r.stdout
    assert "not checked (no s3 service configured (artifacts.s3.*))" in r.stdout
    assert "1 not checked" in r.stdout


def test_sqlite_damage_is_reported_not_guessed(tmp_path):
    m, _ = build(str(tmp_path), "inline")
    subprocess.run(["sqlite3", m.db, "PRAGMA foreign_keys = OFF;"
                    " INSERT INTO parameter(iteration_id, key, value) VALUES (4242, 'k', 'v');"],
                   check=True)
    r = fsck(m.db, "--repair")
    assert r.returncode == 1
    assert "NOT REPAIRED: database: foreign key: parameter row" in r.stdout, r.stdout
    assert "1 NOT repaired" in r.stdout


def test_stage_history_that_disagrees_is_reported(tmp_path):
    """The store writes a stage change with every stage it sets (registration, the mount's
    `stage` file): a clean registry's history ends in each version's stage. A stage set
    behind the store's back, a history removed, a change of a version that is gone, are
    reported and never guessed at (what happened in between cannot be known)."""
    m, _ = build(str(tmp_path), "inline")
    assert sqlite_rows(m.db, "SELECT from_stage_id, to_stage_id FROM stage_change"
                             " ORDER BY id") == [["", "1"], ["1", "3"]]
    subprocess.run(["sqlite3", m.db, "UPDATE model_version SET stage_id = 2"], check=True)
    r = fsck(m.db, "--repair")
    assert r.returncode == 1, r.stdout
    assert ("NOT REPAIRED: registry: model m: version 1 is STAGING but its stage history"
            " ends in PRODUCTION") in r.stdout, r.stdout
    subprocess.run(["sqlite3", m.db, "DELETE FROM stage_change"], check=True)
    r = fsck(m.db)
    assert r.returncode == 1
    assert "registry: model m: version 1 is STAGING but its stage history is empty" in r.stdout
    subprocess.run(["sqlite3", m.db, "PRAGMA foreign_keys = OFF; INSERT INTO stage_change"
                    "(model_id, model_version_id, to_stage_id, changed_at)"
                    " VALUES (1, 4242, 2, '2026-01-01T00:00:00.000Z');"
                    " INSERT INTO stage_change(model_id, model_version_id, from_stage_id,"
                    " to_stage_id, changed_at) SELECT model_id, id, NULL, stage_id,"
                    " '2026-01-01T00:00:00.000Z' FROM model_version"], check=True)
    r = fsck(m.db)
    assert r.returncode == 1
    assert "database: foreign key: stage_change row" in r.stdout, r.stdout
    assert "version 1 is" not in r.stdout   # its history ends in its stage again


def test_points_of_a_missing_series_are_reported(tmp_path):
    """No foreign key ties points to their series (schema 014: a point names its series by
    id; the store deletes both in one transaction), nor, on PostgreSQL, block summaries to
    their iteration (schema/postgres/013): points left by raw SQL under a series that does
    not exist, and blocks under an iteration that does not exist, are reported, never
    guessed at, and left as they are."""
    m, _ = build(str(tmp_path), "inline")
    row = ("INSERT INTO metric_point(series_id, step, id, value, recorded_at)"
           " VALUES (4242, 0, 0, 1.0, '2026-01-01T00:00:00.000Z');"
           " INSERT INTO metric_point(series_id, step, id, value, recorded_at)"
           " VALUES (4242, 1, 1, 2.0, '2026-01-01T00:00:00.000Z');"
           " INSERT INTO metric_block(iteration_id, key, block, n, ordered, first_step,"
           " first_value, last_step, last_value, lo_id, lo_step, lo_value, hi_id, hi_step,"
           " hi_value) VALUES (4343, 'ghost', 0, 1, 1, 0, 1.0, 0, 1.0, 0, 0, 1.0, 0, 0, 1.0);")
    db_exec(m.db, row if is_uri(m.db) else "PRAGMA foreign_keys = OFF; " + row)
    r = fsck(m.db, "--repair", fs_root=m.fs_root)
    assert r.returncode == 1, r.stdout
    assert ("NOT REPAIRED: registry: metric series 4242: points of a series that does not"
            " exist (2 points)") in r.stdout, r.stdout
    assert ("NOT REPAIRED: registry: metric ghost of iteration 4343: block summaries of an"
            " iteration that does not exist") in r.stdout, r.stdout
    assert sqlite_rows(m.db, "SELECT COUNT(*) FROM metric_point WHERE series_id = 4242") == \
        [["2"]]
    assert sqlite_rows(m.db, "SELECT COUNT(*) FROM metric_block WHERE iteration_id = 4343") == \
        [["1"]]
