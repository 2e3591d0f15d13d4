"""The s3 artifact backend through the mount, against a real S3-compatible server (s3rver,
started by the tests) checked with an independent client (boto3): a big artifact (200 MB;
DD_TEST_BIG_BYTES overrides) copied in with cp and read back with cat and at odd offsets,
a small one (one PUT), the server stopped in the middle of an upload (nothing visible, a
retry after restart works), and a missing bucket, wrong credentials and an unreachable
endpoint (EIO to the caller, the S3 error in the daemon's log, nothing stored)."""
import os
import random

import pytest

from conftest import sqlite_rows
from helpers_registry import (MiB, make_run, ok, pattern, poll, random_file, register,
                              resource_row, sh)
from s3_server import KEY_RE, bucket, free_port, s3_mounted, s3srv  # noqa: F401 (fixtures)

BIG = int(os.environ.get("DD_TEST_BIG_BYTES", str(200 * 1000 * 1000)))
XATTR = "user.deardiary."


def xattr(path, name):
    return os.getxattr(path, XATTR + name).decode()


def check_object(srv, bucket, row, size, digest):
    """The row names one object of the bucket, key <aa>/<uuid>, with these bytes."""
    rid, backend, uri, rsize, rhash = row
    assert backend == "s3"
    prefix = "s3://%s/" % bucket
    assert uri.startswith(prefix), uri
    key = uri[len(prefix):]
    assert KEY_RE.match(key), key
    assert int(rsize) == size and rhash == digest
    assert srv.objects(bucket)[key] == size
    assert srv.sha256(bucket, key) == digest
    return key


@pytest.fixture(scope="module")
def big_src(tmp_path_factory):
    path, digest = random_file(tmp_path_factory, BIG)
    yield path, digest
    os.unlink(path)


def test_big_artifact_through_the_mount(tmp_path, s3srv, bucket, big_src):
    src, digest = big_src
    with s3_mounted(str(tmp_path), s3srv, bucket) as m:
        exp, iid = make_run(m)
        res = m.p(exp, "resources", "big")
        ok(m, 'cp "%s" "%s/resources/big"' % (src, exp))
        # the object: one key <aa>/<uuid>, the size and the bytes (the default threshold,
        # 2 GiB: one PUT streamed from the spool file)
        key = check_object(s3srv, bucket, resource_row(m.db, "big"), BIG, digest)
        assert list(s3srv.objects(bucket)) == [key]
        assert xattr(res, "backend") == "s3"
        assert xattr(res, "uri") == "s3://%s/%s" % (bucket, key)
        assert xattr(res, "sha256") == digest
        # read back whole with cat, and at odd offsets (ranged GETs, read-ahead windows)
        out = ok(m, 'cat "%s/resources/big" | sha256sum' % exp)
        assert out.split()[0] == digest
        rnd = random.Random(7)
        with open(src, "rb") as want, open(res, "rb") as got:
            for _ in range(40):
                off = rnd.randrange(0, BIG)
                n = rnd.choice([1, 4095, 131072, 3 * MiB + 17])
                want.seek(off)
                got.seek(off)
                assert got.read(n) == want.read(n), (off, n)
            got.seek(BIG - 10)
            assert len(got.read(100)) == 10
        # registered: the version's artifact reads the same object
        ok(m, "mkdir projects/p/models/m")
        n = register(m, "m", iid, "big")
        out = ok(m, 'sha256sum < "models/m/versions/%d/artifact"' % n)
        assert out.split()[0] == digest
        # a small one goes in one PUT; an empty one is an empty object
        ok(m, 'echo hello > "%s/resources/small" && : > "%s/resources/empty"' % (exp, exp))
        assert ok(m, 'cat "%s/resources/small"' % exp) == "hello\n"
        # an empty copy commits at release, which the kernel sends after close returned
        assert poll(lambda: resource_row(m.db, "empty") is not None, 30)
        assert ok(m, 'cat "%s/resources/empty"' % exp) == ""
        check_object(s3srv, bucket, resource_row(m.db, "small"), 6,
                     "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03")
        check_object(s3srv, bucket, resource_row(m.db, "empty"), 0,
                     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        # rm: the row goes at once, the object at the next clean-up (the next mount)
        ok(m, 'rm "%s/resources/small"' % exp)
        assert resource_row(m.db, "small") is None
    with s3_mounted(str(tmp_path), s3srv, bucket):
        assert len(s3srv.objects(bucket)) == 2
        assert sqlite_rows(m.db, "SELECT COUNT(*) FROM artifact_trash") == [["0"]]


def test_server_stopped_mid_upload(tmp_path, s3srv, bucket):
    """The server goes away after the multipart upload started: the copy fails with EIO,
    nothing becomes visible (no row, no object); after a restart the same copy works."""
    size = 24 * MiB
    data = pattern(1, size)
    src = str(tmp_path / "src.bin")
    with open(src, "wb") as f:
        f.write(data)
    small = {"DEARDIARY_ARTIFACT_S3_MULTIPART_THRESHOLD": str(5 * MiB),
             "DEARDIARY_ARTIFACT_S3_PART_SIZE": str(5 * MiB)}
    with s3_mounted(str(tmp_path), s3srv, bucket, **small) as m:
        exp, _ = make_run(m)
        dst = m.p(exp, "resources", "model.bin")
        failed = None
        try:
            try:
                with open(dst, "wb") as f:
                    f.write(data[:12 * MiB])     # two parts sent, the upload is under way
                    f.flush()
                    s3srv.stop()
                    f.write(data[12 * MiB:])
            except OSError as e:
                failed = e
        finally:
            if s3srv.proc is None:
                s3srv.start()
        log = m.output()
        assert failed is not None and failed.errno == 5, (failed, log)      # EIO
        assert resource_row(m.db, "model.bin") is None, log
        assert not os.path.exists(dst)
        assert s3srv.objects(bucket) == {}, log
        assert "s3 " in log                 # the reason is in the daemon's log
        # the retry after the restart goes through
        ok(m, 'cp "%s" "%s/resources/model.bin"' % (src, exp))
        key = check_object(s3srv, bucket, resource_row(m.db, "model.bin"), size,
                           __import__("hashlib").sha256(data).hexdigest())
        assert list(s3srv.objects(bucket)) == [key]


def failing_mount_case(tmp_path, s3srv, good_bucket, log_words, **env):
    """A mount whose s3 settings are wrong: cp of a small and of a multipart-size file
    fails with EIO, the daemon logs the reason, and nothing is stored anywhere."""
    buckets_before = s3srv.buckets()
    src = str(tmp_path / "src.bin")
    with open(src, "wb") as f:
        f.write(pattern(2, 6 * MiB))
    bad_bucket = env.pop("bucket", good_bucket)
    small = {"DEARDIARY_ARTIFACT_S3_MULTIPART_THRESHOLD": str(5 * MiB),
             "DEARDIARY_ARTIFACT_S3_PART_SIZE": str(5 * MiB)}
    small.update(env)
    with s3_mounted(str(tmp_path), s3srv, bad_bucket, **small) as m:
        exp, _ = make_run(m)
        for name, cmd in (("small", 'echo hi > "%s/resources/small"' % exp),
                          ("big", 'cp "%s" "%s/resources/big"' % (src, exp))):
            r = sh(m, cmd)
            assert r.returncode != 0, cmd
            assert "Input/output error" in r.stderr, r.stderr
            assert resource_row(m.db, name) is None
            assert not os.path.exists(m.p(exp, "resources", name))
        log = m.output()
        for w in log_words:
            assert w in log, (w, log)
        assert sqlite_rows(m.db, "SELECT COUNT(*) FROM resource") == [["0"]]
    assert s3srv.buckets() == buckets_before
    assert s3srv.objects(good_bucket) == {}


def test_missing_bucket(tmp_path, s3srv, bucket):
    failing_mount_case(tmp_path, s3srv, bucket,
                       ["NoSuchBucket", "The specified bucket does not exist"],
                       bucket="no-such-bucket")


def test_wrong_credentials(tmp_path, s3srv, bucket):
    failing_mount_case(tmp_path, s3srv, bucket, ["HTTP 403 InvalidAccessKeyId"],
                       DEARDIARY_ARTIFACT_S3_ACCESS_KEY="NOT-A-KEY")


def test_unreachable_endpoint(tmp_path, s3srv, bucket):
    port = free_port()          # nothing listens there
    failing_mount_case(tmp_path, s3srv, bucket, ["127.0.0.1:%d" % port, "attempt 5"],
                       DEARDIARY_ARTIFACT_S3_ENDPOINT="http://127.0.0.1:%d" % port)
