"""`deardiary migrate-artifacts` on a live (mounted) database: inline -> s3 -> filesystem
-> inline with every artifact's bytes unchanged (checked through the mount, in the
database with sqlite3 and in the bucket with boto3), old bytes removed after each switch,
idempotent re-runs, and a failing target that leaves every row where it was."""
import hashlib
import os
import subprocess

from conftest import BIN, sqlite_rows
from helpers_registry import (MiB, environ, files_under, make_run, ok, pattern, poll, put,
                              register)
from s3_server import KEY_RE, bucket, s3_env, s3_mounted, s3srv  # noqa: F401 (fixtures)

SMALL_PARTS = {"DEARDIARY_ARTIFACT_S3_MULTIPART_THRESHOLD": str(5 * MiB),
               "DEARDIARY_ARTIFACT_S3_PART_SIZE": str(5 * MiB)}


def migrate(m, to, *extra, env=None):
    e = dict(m.env)
    e.update(env or {})
    with environ(**e):
        return subprocess.run([BIN, "migrate-artifacts", "--db", m.db, "--to", to, *extra],
                              capture_output=True, text=True, timeout=600)


def rows(db):
    return {name: (backend, uri, int(size), h) for name, backend, uri, size, h in
            sqlite_rows(db, "SELECT name, backend, uri, size_bytes, content_hash FROM resource")}


def check_all(m, srv, want, backend):
    """Every artifact reads back its bytes through the mount and sits in `backend`."""
    got = rows(m.db)
    assert set(got) == set(want)
    for name, data in want.items():
        b, uri, size, h = got[name]
        assert b == backend, (name, got[name])
        assert size == len(data) and h == hashlib.sha256(data).hexdigest()
        with open(m.p(m.exp, "resources", name), "rb") as f:
            assert f.read() == data, name
        if backend == "s3":
            prefix = "s3://%s/" % m.bucket
            assert uri.startswith(prefix) and KEY_RE.match(uri[len(prefix):]), uri
            assert srv.sha256(m.bucket, uri[len(prefix):]) == h
        elif backend == "filesystem":
            assert uri.startswith("file://" + m.fs_root + "/") and os.path.isfile(uri[7:])
        else:
            assert uri == ""
    # old bytes are gone: only the current backend holds anything
    s3_keys = set(srv.objects(m.bucket))
    fs_files = {p for p in files_under(m.fs_root) if "/.staging/" not in p}
    assert s3_keys == ({u[len("s3://%s/" % m.bucket):] for b, u, _, _ in got.values()}
                       if backend == "s3" else set())
    assert fs_files == ({u[7:] for b, u, _, _ in got.values()}
                        if backend == "filesystem" else set())
    chunks = sqlite_rows(m.db, "SELECT COUNT(*) FROM artifact_chunk")[0][0]
    assert (chunks != "0") == (backend == "inline"), chunks
    assert sqlite_rows(m.db, "SELECT COUNT(*) FROM artifact_trash") == [["0"]]


def test_migrate_round_trip_on_a_live_mount(tmp_path, s3srv, bucket):
    want = {"empty": b"", "tiny": b"hello\n", "odd": pattern(3, MiB + 12345),
            "multi": pattern(4, 12 * MiB + 7), "registered": pattern(5, 2 * MiB)}
    with s3_mounted(str(tmp_path), s3srv, bucket, backend="inline", **SMALL_PARTS) as m:
        m.exp, iid = make_run(m)
        for name, data in want.items():
            put(m, "%s/resources/%s" % (m.exp, name), data)
        # an empty copy commits at release, which the kernel sends after close returned
        assert poll(lambda: len(rows(m.db)) == len(want), 30)
        ok(m, "mkdir projects/p/models/m")
        n = register(m, "m", iid, "registered")
        check_all(m, s3srv, want, "inline")
        ids = {r[0]: r[1] for r in sqlite_rows(m.db, "SELECT name, id FROM resource")}

        for to in ("s3", "filesystem", "inline"):
            held = None
            if to == "inline":      # a file open on the old (filesystem) bytes
                held = open(m.p(m.exp, "resources", "multi"), "rb")
                first = held.read(1)
            r = migrate(m, to)
            if held:                # reads on: the old file went, its descriptor did not
                assert first + held.read() == want["multi"]
                held.close()
            assert r.returncode == 0, r.stderr
            assert r.stdout == "moved 5, skipped 0, failed 0\n", r.stdout
            assert "\r" not in r.stderr          # no progress bar when stderr is no terminal
            check_all(m, s3srv, want, to)
            # same rows (ids), the registered version still reads its bytes
            assert {r[0]: r[1] for r in sqlite_rows(m.db, "SELECT name, id FROM resource")} == ids
            with open(m.p("models", "m", "versions", str(n), "artifact"), "rb") as f:
                assert f.read() == want["registered"]
            # idempotent: nothing left to move
            r = migrate(m, to)
            assert r.returncode == 0 and r.stdout == "moved 0, skipped 5, failed 0\n", r

        # --keep-old leaves the old bytes queued for the next mount's clean-up
        r = migrate(m, "s3", "--keep-old")
        assert r.returncode == 0 and r.stdout.startswith("moved 5,"), r
        assert sqlite_rows(m.db, "SELECT backend, COUNT(*) FROM artifact_trash"
                                 " GROUP BY backend") == [["inline", "4"]]
    with s3_mounted(str(tmp_path), s3srv, bucket, backend="inline", **SMALL_PARTS) as m2:
        m2.exp = m.exp
        check_all(m2, s3srv, want, "s3")


def test_migrate_failure_keeps_rows(tmp_path, s3srv, bucket):
    """A target that refuses every copy: every row keeps its backend and bytes, the run
    says why and exits 1; nothing is stored in the target."""
    want = {"a": b"alpha\n", "b": pattern(6, 3 * MiB)}
    with s3_mounted(str(tmp_path), s3srv, bucket, backend="inline") as m:
        m.exp, _ = make_run(m)
        for name, data in want.items():
            put(m, "%s/resources/%s" % (m.exp, name), data)
        before = rows(m.db)
        r = migrate(m, "s3", env={"DEARDIARY_ARTIFACT_S3_BUCKET": "missing-bucket"})
        assert r.returncode == 1
        assert r.stdout == "moved 0, skipped 0, failed 2\n", r.stdout
        assert r.stderr.count("stays where it is") == 2 and "NoSuchBucket" in r.stderr, r.stderr
        assert rows(m.db) == before
        check_all(m, s3srv, want, "inline")
        # unknown or unconfigured targets are refused before anything happens
        r = migrate(m, "gcs")
        assert r.returncode == 2 and "unknown backend" in r.stderr
        r = migrate(m, "s3", env={"DEARDIARY_ARTIFACT_S3_ENDPOINT": ""})
        assert r.returncode == 1 and "endpoint" in r.stderr, r.stderr
        assert rows(m.db) == before
    assert "missing-bucket" not in s3srv.buckets()


def test_migrate_with_progress_on_a_terminal(tmp_path, s3srv, bucket):
    """On a terminal (script(1) gives the command one), a progress bar is drawn."""
    with s3_mounted(str(tmp_path), s3srv, bucket, backend="inline") as m:
        m.exp, _ = make_run(m)
        put(m, "%s/resources/x" % m.exp, pattern(7, 2 * MiB))
        with environ(**m.env):
            r = subprocess.run(["script", "-qec", "%s migrate-artifacts --db %s --to s3"
                                % (BIN, m.db), "/dev/null"],
                               capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "[" + "#" * 30 + "] 100%" in r.stdout, r.stdout
        assert "moved 1, skipped 0, failed 0" in r.stdout
        assert rows(m.db)["x"][0] == "s3"


def fsck(m, *extra, env=None):
    e = dict(m.env)
    e.update(env or {})
    with environ(**e):
        return subprocess.run([BIN, "fsck", *extra, m.db], capture_output=True, text=True,
                              timeout=600)


def test_fsck_reads_s3_rows_back(tmp_path, s3srv, bucket):
    """fsck checks an s3 row by reading its object back: clean while the bytes are there,
    a problem once the object is gone (found with boto3), marked broken by --repair (reads
    then fail with EIO), and only noted as not checked when no s3 service is configured."""
    data = pattern(7, 3 * MiB + 5)
    with s3_mounted(str(tmp_path), s3srv, bucket, backend="s3") as m:
        m.exp, _ = make_run(m)
        put(m, "%s/resources/model.bin" % m.exp, data)
        assert poll(lambda: len(rows(m.db)) == 1, 30)
    _, uri, _, _ = rows(m.db)["model.bin"]
    key = uri[len("s3://%s/" % bucket):]

    r = fsck(m)
    assert r.returncode == 0, r.stdout + r.stderr
    no_s3 = {k: None for k in m.env if k.startswith("DEARDIARY_ARTIFACT_S3_")}
    r = fsck(m, env=dict(no_s3, DEARDIARY_ARTIFACT_BACKEND="inline"))
    assert r.returncode == 0 and "not checked (no s3 service configured" in r.stdout, r

    s3srv.client.delete_object(Bucket=bucket, Key=key)
    r = fsck(m)
    assert r.returncode == 1 and "model.bin" in r.stdout, r.stdout + r.stderr
    assert sqlite_rows(m.db, "SELECT broken FROM resource") == [["0"]]   # no --repair
    r = fsck(m, "--repair")
    assert r.returncode == 1 and "repaired" in r.stdout, r.stdout + r.stderr
    assert sqlite_rows(m.db, "SELECT broken FROM resource") == [["1"]]
    with s3_mounted(str(tmp_path), s3srv, bucket, backend="s3") as m2:
        try:
            with open(m2.p(m.exp, "resources", "model.bin"), "rb") as f:   # EIO at open
                f.read()
            raise AssertionError("a broken resource read without error")
        except OSError as e:
            assert e.errno == 5, e
