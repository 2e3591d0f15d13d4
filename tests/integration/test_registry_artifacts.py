"""Artifact bytes through the mount, for each artifact backend (inline, filesystem): a big
file (1 GiB by default; DD_TEST_BIG_BYTES overrides) copied in and out with cp and cat,
odd-offset reads, extended attributes, interrupted copies, garbage collection at the next
mount, atomic overwrites, rm/mv of resources, and tar of a model directory."""
import hashlib
import os
import random
import subprocess
import sys

import pytest

from conftest import sqlite_rows
from helpers_registry import (MiB, counts, db_file_uris, files_under, inline_orphans, kill9,
                              make_run, mounted, ok, pattern, poll, proc_wchar, put, random_file, read,
                              refused, register, resource_row, sh, sha256_file, snapshot,
                              start_mount)

BIG = int(os.environ.get("DD_TEST_BIG_BYTES", str(1 << 30)))
BACKENDS = ["inline", "filesystem"]
XATTRS = ("user.deardiary.sha256", "user.deardiary.size", "user.deardiary.backend",
          "user.deardiary.uri")


@pytest.fixture(scope="module")
def big_src(tmp_path_factory):
    """A BIG-byte random file on local disk, and its sha256 (by sha256sum)."""
    path, digest = random_file(tmp_path_factory, BIG)
    yield path, digest
    os.unlink(path)


@pytest.fixture(scope="module", params=BACKENDS)
def big(request, big_src, tmp_path_factory):
    """A mount (one per backend) holding the big file as resources/big, copied in with
    cp, and registered as version 1 of model m."""
    src, digest = big_src
    root = str(tmp_path_factory.mktemp("big-" + request.param))
    with mounted(root, request.param) as m:
        exp, iid = make_run(m)
        m.exp = exp
        # cp in; half-way through, the resource is visible to nobody
        cp = subprocess.Popen(["cp", src, m.p(exp, "resources", "big")],
                              stderr=subprocess.PIPE, text=True)
        try:
            assert poll(lambda: proc_wchar(cp.pid) >= BIG // 2 or cp.poll() is not None, 600)
            if cp.poll() is None:
                assert_not_visible(m, "big")
                m.checked_mid_copy = True
            assert cp.wait(timeout=600) == 0, cp.stderr.read()
        finally:
            kill9(cp)
        ok(m, "mkdir projects/p/models/m")
        assert register(m, "m", iid, "big") == 1
        m.src, m.digest = src, digest
        yield m


@pytest.fixture(params=BACKENDS)
def amnt(request, tmp_path):
    """A fresh mount with the given artifact backend, a project p, experiment e, one
    iteration (amnt.iid) and an empty model m."""
    with mounted(str(tmp_path), request.param) as m:
        m.exp, m.iid = make_run(m)
        ok(m, "mkdir projects/p/models/m")
        yield m


def expected_uri_ok(m, uri):
    if m.backend == "inline":
        return uri == ""
    return uri.startswith("file://" + m.fs_root + "/") and os.path.isfile(uri[7:])


def check_no_orphans(m):
    """After a mount start (gc ran) with no upload in progress: the backend holds exactly
    the bytes the database refers to."""
    if m.backend == "filesystem":
        assert files_under(m.fs_root) == db_file_uris(m.db)
    orphans = inline_orphans(m.db)
    assert orphans == {"chunk_sets": [], "uploads": [], "trash": []}, orphans


# ---------------------------------------------------------------- the big file

def test_big_copy_in_and_out(big, tmp_path):
    m, exp = big, big.exp
    res = m.p(exp, "resources", "big")
    assert os.stat(res).st_size == BIG
    assert "big" in os.listdir(m.p(exp, "resources"))
    # the fixture saw the copy half-way (a 1 GiB cp is not instant) and it was invisible
    if BIG >= 256 * MiB:
        assert getattr(m, "checked_mid_copy", False)
    # cp out: sha256sum and cmp equal
    out = str(tmp_path / "out.bin")
    r = ok(m, 'cp %s/resources/big "%s"\nsha256sum "%s"\ncmp "%s" "%s" && echo SAME'
           % (exp, out, out, m.src, out))
    assert r.split()[0] == m.digest
    assert r.strip().endswith("SAME")
    os.unlink(out)
    # cat out, in one pass: sha256sum of the stream and cmp against the source
    r = ok(m, '{ cat %s/resources/big | tee /dev/fd/3 | sha256sum > "%s/cat.sha"; } 3>&1 | '
              'cmp - "%s" && echo SAME\ncat "%s/cat.sha"' % (exp, tmp_path, m.src, tmp_path))
    assert r.splitlines()[0] == "SAME"
    assert r.splitlines()[1].split()[0] == m.digest


def test_big_xattrs_and_row(big):
    m, exp = big, big.exp
    r = ok(m, "getfattr --only-values -n user.deardiary.sha256 %s/resources/big" % exp)
    assert r == m.digest
    res = m.p(exp, "resources", "big")
    assert os.getxattr(res, "user.deardiary.sha256").decode() == m.digest
    assert os.getxattr(res, "user.deardiary.size").decode() == str(BIG)
    assert os.getxattr(res, "user.deardiary.backend").decode() == m.backend
    uri = os.getxattr(res, "user.deardiary.uri").decode()
    assert expected_uri_ok(m, uri), uri
    assert set(XATTRS) <= set(os.listxattr(res))
    # getfattr -d lists all four
    r = ok(m, "getfattr -d -m user %s/resources/big" % exp)
    for name in XATTRS:
        assert name + "=" in r
    # the version's artifact carries the same attributes
    art = m.p("models", "m", "versions", "1", "artifact")
    for name in XATTRS:
        assert os.getxattr(art, name) == os.getxattr(res, name)
    assert os.stat(art).st_size == BIG
    # independent checks: the row, and the bytes where the row says they are
    rid, backend, row_uri, size, h = resource_row(m.db, "big")
    assert (backend, row_uri, size, h) == (m.backend, uri, str(BIG), m.digest)
    if m.backend == "filesystem":
        assert sha256_file(uri[len("file://"):]) == m.digest
    else:
        assert sqlite_rows(m.db, "SELECT COUNT(*), SUM(length(data)) FROM artifact_chunk "
                                 "WHERE set_id = (SELECT chunk_set FROM resource WHERE id = %s)"
                           % rid) == [[str((BIG + MiB - 1) // MiB), str(BIG)]]


def odd_reads(size):
    """(offset, length) pairs around chunk and page boundaries, the end, and beyond it."""
    points = [(0, 1), (1, 1), (1, 4096), (4095, 2), (4097, 4097), (MiB - 1, 2), (MiB - 3, MiB + 7),
              (MiB + 1, 65537), (3 * MiB + 12345, 131073), (size - 1, 1), (size - 5, 100),
              (size - MiB - 3, MiB + 3), (size, 10), (size + 100, 10), (size // 2 + 1, 999_999)]
    rnd = random.Random(20261123)
    for _ in range(40):
        points.append((rnd.randrange(0, size), rnd.choice([1, 7, 511, 4095, 65535, 262147,
                                                           1048577, 2 * MiB + 1])))
    return [(max(0, min(o, size + 100)), n) for o, n in points]


def read_exact(f, n):
    """Read n bytes or up to EOF from a raw file (looping over short reads)."""
    out = b""
    while len(out) < n:
        b = f.read(n - len(out))
        if not b:
            break
        out += b
    return out


@pytest.mark.parametrize("where", ["resource", "artifact"])
def test_big_odd_offset_reads(big, where):
    m = big
    path = (m.p(m.exp, "resources", "big") if where == "resource"
            else m.p("models", "m", "versions", "1", "artifact"))
    with open(m.src, "rb", buffering=0) as s, open(path, "rb", buffering=0) as f:
        fd = f.fileno()
        for off, n in odd_reads(BIG):
            s.seek(off)
            want = read_exact(s, n)
            f.seek(off)
            got = read_exact(f, n)
            assert got == want, "seek+read at %d, %d bytes" % (off, n)
            got = b""
            while len(got) < n:                 # pread, finishing any short read
                more = os.pread(fd, n - len(got), off + len(got))
                if not more:
                    break
                got += more
            assert got == want, "pread at %d, %d bytes" % (off, n)
        # backwards and interleaved: the last bytes, then the first
        f.seek(BIG - 3)
        s.seek(BIG - 3)
        assert f.read(10) == s.read(10)
        f.seek(0)
        s.seek(0)
        assert f.read(12345) == s.read(12345)


# ---------------------------------------------------------------- interrupted copies

def writer_script(path, ready, nbytes):
    """A Python writer that writes nbytes to path, announces it, and waits to be killed."""
    return ("import os, time\n"
            "fd = os.open(%r, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)\n"
            "chunk = bytes(range(256)) * 4096\n"
            "left = %d\n"
            "while left:\n"
            "    left -= os.write(fd, chunk[:min(left, len(chunk))])\n"
            "open(%r, 'w').close()\n"
            "time.sleep(600)\n" % (path, nbytes, ready))


def assert_not_visible(m, name):
    d = m.p(m.exp, "resources")
    assert name not in os.listdir(d), "%s is listed" % name
    assert resource_row(m.db, name) is None, "%s has a row" % name
    with pytest.raises(FileNotFoundError):
        os.stat(os.path.join(d, name))


@pytest.mark.parametrize("writer", ["python", "dd"])
def test_interrupted_copy_leaves_nothing(amnt, writer, tmp_path):
    m = amnt
    before = counts(m.db)
    path = m.p(m.exp, "resources", "partial")
    nbytes = 8 * MiB + 123
    if writer == "python":
        ready = str(tmp_path / "ready")
        proc = subprocess.Popen([sys.executable, "-c", writer_script(path, ready, nbytes)])
        try:
            assert poll(lambda: os.path.exists(ready) or proc.poll() is not None, 30)
            assert proc.poll() is None, "writer failed"
            # mid-copy: not visible to anyone else
            assert_not_visible(m, "partial")
        finally:
            kill9(proc)
    else:
        proc = subprocess.Popen(["dd", "of=" + path, "bs=64K"], stdin=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        try:
            proc.stdin.write(pattern(1, nbytes))
            proc.stdin.flush()
            assert poll(lambda: proc_wchar(proc.pid) >= nbytes - 64 * 1024 or
                        proc.poll() is not None, 30)
            assert proc.poll() is None, "dd exited early"
            assert_not_visible(m, "partial")
        finally:
            kill9(proc)
            proc.stdin.close()
    # the writer is gone (its close has been answered): still nothing visible
    assert_not_visible(m, "partial")
    assert {k: v for k, v in counts(m.db).items() if k not in ("artifact_upload",
                                                             "artifact_trash")} == \
        {k: v for k, v in before.items() if k not in ("artifact_upload", "artifact_trash")}


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_orphans_after_next_mount(backend, tmp_path):
    """Interrupted uploads, overwrites, deletes and refused replacements leave bytes
    behind at most until the next mount start, whose gc removes every byte no row uses
    and keeps every byte a row uses."""
    root = str(tmp_path)
    with mounted(root, backend) as m:
        exp, iid = make_run(m)
        m.exp = exp
        put(m, exp + "/resources/keep", pattern(2, 3 * MiB + 1))
        put(m, exp + "/resources/replaced", pattern(3, 2 * MiB))
        put(m, exp + "/resources/replaced", pattern(4, 2 * MiB + 5))    # old bytes orphaned
        put(m, exp + "/resources/deleted", pattern(5, MiB + 7))
        ok(m, "rm %s/resources/deleted" % exp)
        ok(m, "mkdir projects/p/models/m")
        register(m, "m", iid, "keep")
        src = os.path.join(root, "other.bin")
        with open(src, "wb") as f:
            f.write(pattern(6, MiB + 3))
        refused(m, 'cp "%s" %s/resources/keep' % (src, exp), "Device or resource busy")
        ready = str(tmp_path / "ready")
        proc = subprocess.Popen([sys.executable, "-c", writer_script(
            m.p(exp, "resources", "killed"), ready, 5 * MiB + 3)])
        try:
            assert poll(lambda: os.path.exists(ready) or proc.poll() is not None, 30)
            assert proc.poll() is None
        finally:
            kill9(proc)
        live = {n: read(m, exp + "/resources/" + n) for n in ("keep", "replaced")}
    with mounted(root, backend) as m:
        check_no_orphans(m)
        names = set(r[0] for r in sqlite_rows(m.db, "SELECT name FROM resource"))
        assert {"keep", "replaced"} <= names and "deleted" not in names
        for n, data in live.items():
            assert read(m, exp + "/resources/" + n) == data
    # gc kept what is still in use: the bytes remain readable after a third start
    with mounted(root, backend) as m:
        for n, data in live.items():
            assert read(m, exp + "/resources/" + n) == data
        assert read(m, "models/m/versions/1/artifact") == live["keep"]
        check_no_orphans(m)


@pytest.mark.parametrize("backend", BACKENDS)
def test_daemon_killed_mid_upload(backend, tmp_path):
    """SIGKILL of the daemon while a copy is in progress: at the next mount the copy is
    not visible and its bytes are gone; everything committed before is intact."""
    root = str(tmp_path)
    m = start_mount(root, backend)
    try:
        exp, iid = make_run(m)
        m.exp = exp
        keep = pattern(7, 2 * MiB + 1)
        put(m, exp + "/resources/keep", keep)
        ready = str(tmp_path / "ready")
        proc = subprocess.Popen([sys.executable, "-c", writer_script(
            m.p(exp, "resources", "partial"), ready, 6 * MiB + 1)])
        try:
            assert poll(lambda: os.path.exists(ready) or proc.poll() is not None, 30)
            assert proc.poll() is None
            m.proc.kill()                       # the daemon dies mid-upload
            m.proc.wait(timeout=30)
        finally:
            kill9(proc)
    finally:
        m.kill()                                # detach the dead mount
    assert not os.path.ismount(m.path)
    with mounted(root, backend) as m:
        m.exp = exp
        check_no_orphans(m)
        assert_not_visible(m, "partial")
        assert read(m, exp + "/resources/keep") == keep


# ---------------------------------------------------------------- refusals of writes

def test_write_before_the_end_is_invalid(amnt):
    m = amnt
    path = m.p(m.exp, "resources", "sparse")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        assert os.write(fd, b"a" * 100) == 100
        assert os.pwrite(fd, b"b" * 10, 1000) == 10     # a gap becomes zeros
        with pytest.raises(OSError) as e:
            os.pwrite(fd, b"b" * 10, 50)                # going back is refused
        assert e.value.errno == 22
    finally:
        os.close(fd)
    assert "sparse" not in os.listdir(m.p(m.exp, "resources"))   # and nothing is stored


def test_open_existing_for_writing_without_trunc_is_refused(amnt):
    m = amnt
    put(m, m.exp + "/resources/r", b"hello\n")
    for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_APPEND):
        with pytest.raises(PermissionError) as e:
            os.open(m.p(m.exp, "resources", "r"), flags)
        assert e.value.errno == 1
    assert read(m, m.exp + "/resources/r") == b"hello\n"


# ---------------------------------------------------------------- overwrite atomicity

READER = r"""
import hashlib, os, sys
path, stop, allowed = sys.argv[1], sys.argv[2], set(sys.argv[3].split(","))
reads = bad = errors = 0
while not os.path.exists(stop) or reads < 3:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        errors += 1
        print("error", e, flush=True)
        continue
    reads += 1
    h = hashlib.sha256(data).hexdigest()
    if h not in allowed:
        bad += 1
        print("bad", len(data), h, flush=True)
print("reads", reads, "bad", bad, "errors", errors, flush=True)
"""

CAT_READER = r"""
reads=0; bad=0
while [ ! -e "$STOP" ] || [ $reads -lt 3 ]; do
    h=$(cat "$FILE" | sha256sum | cut -d' ' -f1) || { echo "error"; bad=$((bad+1)); }
    case ",$ALLOWED," in *",$h,"*) ;; *) echo "bad $h"; bad=$((bad+1));; esac
    reads=$((reads+1))
done
echo "reads $reads bad $bad errors 0"
"""


@pytest.mark.parametrize("sizes", [(6 * MiB + 5, 3 * MiB + 77), (4 * MiB, 4 * MiB)],
                         ids=["different-sizes", "same-size"])
def test_overwrite_is_atomic_for_readers(amnt, tmp_path, sizes):
    m = amnt
    old, new = pattern(10, sizes[0]), pattern(11, sizes[1])
    srcs = []
    for i, data in enumerate((old, new)):
        p = str(tmp_path / ("v%d" % i))
        with open(p, "wb") as f:
            f.write(data)
        srcs.append(p)
    rel = m.exp + "/resources/model.bin"
    ok(m, 'cp "%s" %s' % (srcs[0], rel))
    allowed = ",".join(hashlib.sha256(d).hexdigest() for d in (old, new))
    stop = str(tmp_path / "stop")
    env = {**os.environ, "STOP": stop, "FILE": m.p(rel), "ALLOWED": allowed}
    readers = [subprocess.Popen([sys.executable, "-c", READER, m.p(rel), stop, allowed],
                                stdout=subprocess.PIPE, text=True),
               subprocess.Popen(["bash", "-c", CAT_READER], env=env, stdout=subprocess.PIPE,
                                text=True)]
    try:
        for i in range(12):
            ok(m, 'cp "%s" %s' % (srcs[(i + 1) % 2], rel))
        open(stop, "w").close()
        outs = [r.communicate(timeout=120)[0] for r in readers]
    finally:
        for r in readers:
            kill9(r)
    for out in outs:
        last = out.strip().splitlines()[-1].split()
        assert last[0] == "reads" and int(last[1]) >= 3, out
        assert last[3] == "0" and last[5] == "0", out[-2000:]
    # 12 replacements: the final bytes are `old` again, in the mount and the row
    assert read(m, rel) == old
    assert os.stat(m.p(rel)).st_size == len(old)
    assert resource_row(m.db, "model.bin")[3:] == [str(len(old)),
                                                   hashlib.sha256(old).hexdigest()]
    assert sqlite_rows(m.db, "SELECT COUNT(*) FROM resource WHERE name = 'model.bin'") == [["1"]]


def test_registered_resource_is_immutable(amnt):
    """Replacing the bytes of a resource a version uses is refused (EBUSY, as rm is): the
    version's artifact, the xattrs and the row stay as they were."""
    m = amnt
    rel = m.exp + "/resources/w"
    data = pattern(20, MiB + 1)
    put(m, rel, data)
    n = register(m, "m", m.iid, "w")
    row = resource_row(m.db, "w")
    xa = {k: os.getxattr(m.p(rel), k) for k in XATTRS}
    src = os.path.join(m.root, "new.bin")
    with open(src, "wb") as f:
        f.write(pattern(21, 2 * MiB + 3))
    refused(m, 'cp "%s" %s' % (src, rel), "Device or resource busy")
    assert read(m, "models/m/versions/%d/artifact" % n) == data
    assert read(m, rel) == data
    assert resource_row(m.db, "w") == row
    assert {k: os.getxattr(m.p(rel), k) for k in XATTRS} == xa


# ---------------------------------------------------------------- rm and mv

def test_rm_resource_used_by_a_version_is_busy(amnt):
    m = amnt
    data = pattern(30, 2 * MiB + 9)
    put(m, m.exp + "/resources/used", data)
    put(m, m.exp + "/resources/unused", b"x" * 10)
    n = register(m, "m", m.iid, "used")
    files = files_under(m.fs_root) if m.backend == "filesystem" else None
    before = snapshot(m.db)
    refused(m, "rm %s/resources/used" % m.exp, "Device or resource busy")
    refused(m, "rm -f %s/resources/used" % m.exp, "Device or resource busy")
    assert snapshot(m.db) == before
    assert read(m, m.exp + "/resources/used") == data
    assert read(m, "models/m/versions/%d/artifact" % n) == data
    if files is not None:
        assert files_under(m.fs_root) == files
    # an unused one goes
    ok(m, "rm %s/resources/unused" % m.exp)
    assert sorted(os.listdir(m.p(m.exp, "resources"))) == ["used"]
    assert resource_row(m.db, "unused") is None
    # once the version is deleted, the resource can go
    ok(m, "rm -r projects/p/models/m/versions/%d" % n)
    ok(m, "rm %s/resources/used" % m.exp)
    assert os.listdir(m.p(m.exp, "resources")) == []


def test_mv_renames_a_resource(amnt):
    m = amnt
    data = pattern(40, 3 * MiB + 11)
    put(m, m.exp + "/resources/a", data)
    n = register(m, "m", m.iid, "a")
    before = resource_row(m.db, "a")
    xa = {k: os.getxattr(m.p(m.exp, "resources", "a"), k) for k in XATTRS}
    ok(m, "mv {e}/resources/a {e}/resources/b".format(e=m.exp))
    assert sorted(os.listdir(m.p(m.exp, "resources"))) == ["b"]
    assert not os.path.exists(m.p(m.exp, "resources", "a"))
    assert read(m, m.exp + "/resources/b") == data
    assert resource_row(m.db, "a") is None
    assert resource_row(m.db, "b") == before                  # same id, bytes, uri
    assert {k: os.getxattr(m.p(m.exp, "resources", "b"), k) for k in XATTRS} == xa
    # the version follows the rename
    assert os.readlink(m.p("models/m/versions/%d/resource" % n)) == \
        "../../../../experiments/e/resources/b"
    assert read(m, "models/m/versions/%d/resource" % n) == data
    assert read(m, "models/m/versions/%d/artifact" % n) == data
    # and the new name registers
    assert register(m, "m", m.iid, "b") == n + 1
    if m.backend == "filesystem":
        assert files_under(m.fs_root) == db_file_uris(m.db)


# ---------------------------------------------------------------- tar

def test_tar_of_a_model_directory(amnt, tmp_path):
    m = amnt
    blobs = {"r1": pattern(50, 2 * MiB + 3), "r2": pattern(51, 5 * MiB - 1), "empty": b""}
    for name, data in blobs.items():
        put(m, m.exp + "/resources/" + name, data)
    v1 = register(m, "m", m.iid, "r1")
    v2 = register(m, "m", m.iid, "r2")
    v3 = register(m, "m", m.iid, "empty")
    ok(m, "echo PRODUCTION > models/m/versions/%d/stage\n"
          "ln -sfn ../versions/%d models/m/aliases/champion" % (v2, v1))
    before = counts(m.db)
    out = str(tmp_path / "x")
    os.mkdir(out)
    r = sh(m, "tar -C projects/p/models -cf '%s/m.tar' m && tar -C '%s' -xf '%s/m.tar'"
           % (tmp_path, out, tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""                         # no "file changed as we read it"
    x = os.path.join(out, "m")
    for v, name in ((v1, "r1"), (v2, "r2"), (v3, "empty")):
        with open(os.path.join(x, "versions", str(v), "artifact"), "rb") as f:
            assert f.read() == blobs[name], "version %d" % v
        assert os.readlink(os.path.join(x, "versions", str(v), "resource")) == \
            "../../../../experiments/e/resources/" + name
        with open(os.path.join(x, "versions", str(v), "stage")) as f:
            assert f.read() == ("PRODUCTION\n" if v == v2 else "NO_STAGE\n")
    assert os.readlink(os.path.join(x, "production")) == "versions/%d" % v2
    assert os.readlink(os.path.join(x, "aliases", "champion")) == "../versions/%d" % v1
    assert sorted(os.listdir(os.path.join(x, "versions"))) == sorted(str(v) for v in
                                                                    (v1, v2, v3))
    # tar created nothing (versions/new is not listed), changed nothing
    assert counts(m.db) == before
    r = sh(m, "diff -r --no-dereference projects/p/models/m '%s'" % x)
    assert r.returncode == 0, r.stdout + r.stderr
