"""The s3 backend's upload spool (artifacts.s3.spool_dir), through the mount against
s3rver, checked with boto3: uploads below the multipart threshold live in an unnamed file
in the spool directory while they are written (the daemon's open files say so; the
directory stays empty), and at most one idle spool file stays open after uploads end,
failed ones included; sizes around the threshold go in one PUT or in parts with the right
bytes; a spool_dir that is missing or not a directory fails the write with EIO, a full
one (a small tmpfs) with ENOSPC, the reason in the log, and nothing stored."""
import hashlib
import os
import subprocess

import pytest

from helpers_registry import MiB, make_run, pattern, resource_row, sh
from s3_server import bucket, s3_mounted, s3srv  # noqa: F401 (fixtures)
from test_s3_artifacts import check_object, failing_mount_case


def spool_fds(m, spool):
    """The daemon's open files in `spool` (unnamed: "<spool>/#<inode> (deleted)")."""
    d = "/proc/%d/fd" % m.proc.pid
    out = []
    for fd in os.listdir(d):
        try:
            target = os.readlink(os.path.join(d, fd))
        except OSError:
            continue
        if target.startswith(spool + "/"):
            out.append(target)
    return out


def test_spool_lives_in_spool_dir_and_goes(tmp_path, s3srv, bucket):
    spool = str(tmp_path / "spool")
    os.mkdir(spool)
    data = [pattern(i, 3 * MiB + i) for i in (1, 2)]
    with s3_mounted(str(tmp_path), s3srv, bucket,
                    DEARDIARY_ARTIFACT_S3_SPOOL_DIR=spool) as m:
        exp, _ = make_run(m)
        # two uploads at once: two spool files, unnamed, while the bytes come in
        f1 = open(m.p(exp, "resources", "a"), "wb")
        f2 = open(m.p(exp, "resources", "b"), "wb")
        f1.write(data[0])
        f2.write(data[1])
        f1.flush()
        f2.flush()
        held = spool_fds(m, spool)
        assert len(held) == 2 and all(t.endswith("(deleted)") for t in held), held
        assert os.listdir(spool) == []
        f1.close()
        f2.close()
        for name, d in zip("ab", data):
            check_object(s3srv, bucket, resource_row(m.db, name), len(d),
                         hashlib.sha256(d).hexdigest())
        # one idle file is kept for the next upload, the other went
        assert len(spool_fds(m, spool)) <= 1
        # an upload that fails at close (the server is gone): EIO, nothing stored, and
        # still no more than one spool file open
        dst = m.p(exp, "resources", "c")
        failed = None
        try:
            try:
                with open(dst, "wb") as f:
                    f.write(data[0])
                    f.flush()
                    s3srv.stop()
            except OSError as e:
                failed = e
        finally:
            if s3srv.proc is None:
                s3srv.start()
        assert failed is not None and failed.errno == 5, (failed, m.output())
        assert resource_row(m.db, "c") is None
        assert len(s3srv.objects(bucket)) == 2
        assert len(spool_fds(m, spool)) <= 1
        assert os.listdir(spool) == []
    assert os.listdir(spool) == []


def test_sizes_around_the_threshold(tmp_path, s3srv, bucket):
    """One byte below the threshold: one PUT; at it and past it: the spooled bytes become
    the first parts of a multipart upload. Every object byte-equal, sha256 matching."""
    th = 5 * MiB
    sizes = [th - 1, th, 2 * th + 3 * MiB + 7]
    with s3_mounted(str(tmp_path), s3srv, bucket,
                    DEARDIARY_ARTIFACT_S3_MULTIPART_THRESHOLD=str(th),
                    DEARDIARY_ARTIFACT_S3_PART_SIZE=str(th)) as m:
        exp, _ = make_run(m)
        for i, n in enumerate(sizes):
            d = pattern(10 + i, n)
            with open(m.p(exp, "resources", "s%d" % i), "wb") as f:
                for off in range(0, n, 1000000):       # writes not aligned to parts
                    f.write(d[off:off + 1000000])
            digest = hashlib.sha256(d).hexdigest()
            check_object(s3srv, bucket, resource_row(m.db, "s%d" % i), n, digest)
            assert os.getxattr(m.p(exp, "resources", "s%d" % i),
                               "user.deardiary.sha256").decode() == digest


def test_spool_dir_missing(tmp_path, s3srv, bucket):
    missing = str(tmp_path / "no-such-dir")
    failing_mount_case(tmp_path, s3srv, bucket,
                       ["spool file in " + missing, "No such file or directory"],
                       DEARDIARY_ARTIFACT_S3_SPOOL_DIR=missing)
    assert not os.path.exists(missing)


def test_spool_dir_not_a_directory(tmp_path, s3srv, bucket):
    notdir = str(tmp_path / "a-file")
    with open(notdir, "w") as f:
        f.write("x")
    failing_mount_case(tmp_path, s3srv, bucket,
                       ["spool file in " + notdir, "Not a directory"],
                       DEARDIARY_ARTIFACT_S3_SPOOL_DIR=notdir)
    with open(notdir) as f:
        assert f.read() == "x"


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_spool_dir_full(tmp_path, s3srv, bucket):
    """A spool directory without room (a 4 MiB tmpfs): the copy of 8 MiB fails with ENOSPC
    ("No space left on device" from cp, and in the log), nothing is stored, the space comes back, and a
    copy that fits goes through."""
    spool = str(tmp_path / "tiny")
    os.mkdir(spool)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", spool], check=True)
    try:
        src = str(tmp_path / "src.bin")
        with open(src, "wb") as f:
            f.write(pattern(3, 8 * MiB))
        small = pattern(4, 1 * MiB)
        with s3_mounted(str(tmp_path), s3srv, bucket,
                        DEARDIARY_ARTIFACT_S3_SPOOL_DIR=spool) as m:
            exp, _ = make_run(m)
            r = sh(m, 'cp "%s" "%s/resources/big"' % (src, exp))
            assert r.returncode != 0 and "No space left on device" in r.stderr, r.stderr
            assert resource_row(m.db, "big") is None
            assert "No space left on device" in m.output()
            assert s3srv.objects(bucket) == {}
            st = os.statvfs(spool)
            assert st.f_bfree == st.f_blocks            # the failed spool's space is back
            with open(m.p(exp, "resources", "small"), "wb") as f:
                f.write(small)
            check_object(s3srv, bucket, resource_row(m.db, "small"), len(small),
                         hashlib.sha256(small).hexdigest())
            with open(m.p(exp, "resources", "small"), "rb") as f:
                assert f.read() == small
    finally:
        subprocess.run(["umount", spool], check=True)
