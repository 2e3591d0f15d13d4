"""The default artifact configuration (`artifacts.backend: auto`) through a real mount:
artifacts up to `artifacts.inline_max` (256 KiB) stay in the database, larger ones move
during the copy to files in `<db>.artifacts/` (created 0700), the row saying where. Both
read back byte for byte with the right sha256 xattr, fsck is clean, `rm` frees the file,
a replace crosses the threshold both ways, a daemon killed mid-copy leaves nothing after
fsck --repair and the next mount's gc, and an explicit `artifacts.backend: inline` (or a
configured `artifacts.filesystem.root`) is respected.
"""
import contextlib
import hashlib
import os
import stat
import subprocess

from conftest import BIN, Mount, sqlite_rows
from helpers_registry import environ, files_under, kill9, make_run, managed, poll, proc_wchar
from helpers_reliability import assert_fsck_clean, fsck, integrity_ok, kill_daemon

KiB, MiB = 1 << 10, 1 << 20
LIMIT = 256 * KiB       # the documented default of artifacts.inline_max

# every DEARDIARY_* variable the daemon could inherit, unset: the defaults are under test
CLEAN = {k: None for k in os.environ if k.startswith("DEARDIARY_")}
CLEAN.update(DEARDIARY_CONFIG=None, DEARDIARY_ARTIFACT_BACKEND=None,
             DEARDIARY_ARTIFACT_FS_ROOT=None, DEARDIARY_ARTIFACT_INLINE_MAX=None)


def start(root, config=None, **env):
    """A mount with the default configuration, or with a config file holding `config`."""
    values = dict(CLEAN)
    if config is not None:
        path = os.path.join(root, "cfg.yaml")
        with open(path, "w") as f:
            f.write(config)
        values["DEARDIARY_CONFIG"] = path
    values.update(env)
    with environ(**values):
        return Mount(root)


@contextlib.contextmanager
def default_mount(root, config=None, **env):
    with managed(start(root, config, **env)) as m:
        yield m


def beside(m):
    return os.path.realpath(m.db) + ".artifacts"


def write_file(root, name, size):
    path = os.path.join(root, name)
    with open(path, "wb") as f:
        f.write(os.urandom(size))
    with open(path, "rb") as f:
        return path, hashlib.sha256(f.read()).hexdigest()


def cp(m, src, rel):
    r = subprocess.run(["cp", src, m.p(rel)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def same(a, b):
    return subprocess.run(["cmp", a, b]).returncode == 0


def xattr(path, name):
    return os.getxattr(path, "user.deardiary." + name).decode()


def moved_files(m):
    """Files in <db>.artifacts that are artifacts (not staged)."""
    return {p for p in files_under(beside(m)) if "/.staging/" not in p}


def fsck_default(db, *args):
    """fsck with the default configuration too (no root given)."""
    with environ(**CLEAN):
        return fsck(db, *args)


def test_small_inline_large_in_a_file_beside_the_database(tmp_path):
    root = str(tmp_path)
    files = {name: write_file(root, name + ".src", size) for name, size in
             [("small", 100 * KiB), ("limit", LIMIT), ("over", LIMIT + 1), ("big", 3 * MiB + 5)]}
    with default_mount(root) as m:
        exp, _ = make_run(m)
        for name, (src, _) in files.items():
            cp(m, src, "%s/resources/%s" % (exp, name))
        for name, (src, digest) in files.items():
            res = m.p(exp, "resources", name)
            assert same(src, res), name
            assert xattr(res, "sha256") == digest
            assert xattr(res, "size") == str(os.path.getsize(src))
        res = lambda n: m.p(exp, "resources", n)
        assert xattr(res("small"), "backend") == "inline"
        assert xattr(res("limit"), "backend") == "inline"      # the limit itself stays
        for name in ("over", "big"):
            assert xattr(res(name), "backend") == "filesystem"
            assert xattr(res(name), "uri").startswith("file://" + beside(m) + "/")
        assert stat.S_IMODE(os.stat(beside(m)).st_mode) == 0o700
        assert len(moved_files(m)) == 2
        # the rows say where, as for an explicit filesystem backend
        rows = sqlite_rows(m.db, "SELECT name, backend FROM resource ORDER BY name")
        assert rows == [["big", "filesystem"], ["limit", "inline"], ["over", "filesystem"],
                        ["small", "inline"]]
        # the inline start of the moved copies is gone: chunks only for the inline ones
        assert sqlite_rows(m.db, "SELECT COUNT(*) FROM artifact_chunk") == [["2"]]
        assert sqlite_rows(m.db, "SELECT COUNT(*) FROM artifact_trash") == [["0"]]
        db = m.db
    r = assert_fsck_clean(db)
    assert "4 resources checked" in r.stdout
    with default_mount(root) as m:
        big_file = xattr(m.p(exp, "resources", "big"), "uri")[len("file://"):]
        assert os.path.exists(big_file)
        os.unlink(m.p(exp, "resources", "big"))
        assert not os.path.exists(big_file)             # freed at the delete's commit
        assert len(moved_files(m)) == 1
        os.unlink(m.p(exp, "resources", "small"))
        assert sqlite_rows(m.db, "SELECT COUNT(*) FROM artifact_chunk") == [["1"]]
    r = assert_fsck_clean(db)
    assert "2 resources checked" in r.stdout


def test_replace_across_the_threshold_both_ways(tmp_path):
    root = str(tmp_path)
    small, _ = write_file(root, "small.src", 10 * KiB)
    big, big_sha = write_file(root, "big.src", 2 * MiB + 1)
    with default_mount(root) as m:
        exp, _ = make_run(m)
        rel = exp + "/resources/model.bin"
        cp(m, small, rel)
        assert xattr(m.p(rel), "backend") == "inline"
        cp(m, big, rel)                                 # inline -> file
        assert xattr(m.p(rel), "backend") == "filesystem"
        assert xattr(m.p(rel), "sha256") == big_sha
        assert same(big, m.p(rel))
        assert sqlite_rows(m.db, "SELECT COUNT(*) FROM artifact_chunk") == [["0"]]
        path = xattr(m.p(rel), "uri")[len("file://"):]
        cp(m, small, rel)                               # file -> inline
        assert xattr(m.p(rel), "backend") == "inline"
        assert same(small, m.p(rel))
        assert not os.path.exists(path) and moved_files(m) == set()
        cp(m, big, rel)                                 # and once more into a file
        assert same(big, m.p(rel))
        assert len(moved_files(m)) == 1
        assert sqlite_rows(m.db, "SELECT COUNT(*) FROM resource") == [["1"]]
        db = m.db
    assert_fsck_clean(db)


def kill_mid_copy(root, size):
    """A default mount whose daemon is SIGKILLed a third of the way through a `cp` of
    `size` bytes into resources/big; returns (the dead Mount, experiment, whether the cp
    finished first, the staged files left beside the database)."""
    src = os.path.join(root, "big.src")
    subprocess.run("head -c %d /dev/urandom > '%s'" % (size, src), shell=True, check=True)
    m = start(root)
    try:
        exp, _ = make_run(m)
        proc = subprocess.Popen(["cp", src, m.p(exp, "resources", "big")],
                                stderr=subprocess.PIPE)
        try:
            assert poll(lambda: proc_wchar(proc.pid) >= size // 3 or proc.poll() is not None,
                        600)
            finished = proc.poll() == 0
            kill_daemon(m)
            proc.wait(timeout=60)
        finally:
            kill9(proc)
    except BaseException:
        m.kill()
        raise
    staged = [p for p in files_under(beside(m)) if "/.staging/" in p]
    assert finished or len(staged) == 1, (finished, staged)
    return m, exp, finished, staged


def test_daemon_killed_mid_copy_leaves_no_orphan(tmp_path):
    root = str(tmp_path)
    m, exp, finished, staged = kill_mid_copy(root, 512 * MiB)
    # fsck (default configuration) finds the dead copy's staged file, and nothing else
    r = fsck_default(m.db)
    problems = [line for line in r.stdout.splitlines() if line.startswith("PROBLEM")]
    assert all(line.startswith("PROBLEM: orphan: ") for line in problems), r.stdout
    assert bool(problems) == bool(staged), r.stdout
    if problems:
        assert beside(m) + "/.staging/" in r.stdout
        r = fsck_default(m.db, "--repair")
        assert "problems, all repaired" in r.stdout, r.stdout
    assert [p for p in files_under(beside(m)) if "/.staging/" in p] == []
    with managed(start(root)) as m2:                    # recovers the dead mountpoint
        names = os.listdir(m2.p(exp, "resources"))
        assert names == (["big"] if finished else [])
        assert len(moved_files(m2)) == len(names)
        assert sqlite_rows(m2.db, "SELECT COUNT(*) FROM artifact_upload") == [["0"]]
        assert sqlite_rows(m2.db, "SELECT COUNT(*) FROM artifact_chunk") == [["0"]]
    integrity_ok(m.db)
    assert_fsck_clean(m.db)


def test_staged_file_of_a_killed_copy_is_removed_by_the_next_mount(tmp_path):
    """The same crash, repaired by the next mount's gc alone (no fsck --repair)."""
    root = str(tmp_path)
    m, exp, _, _ = kill_mid_copy(root, 256 * MiB)
    with managed(start(root)) as m2:
        assert [p for p in files_under(beside(m2)) if "/.staging/" in p] == []
        assert len(moved_files(m2)) == len(os.listdir(m2.p(exp, "resources")))
    assert_fsck_clean(m.db)


def test_explicit_inline_keeps_everything_inline(tmp_path):
    root = str(tmp_path)
    big, digest = write_file(root, "big.src", 3 * MiB)
    with default_mount(root, "artifacts:\n  backend: inline\n") as m:
        exp, _ = make_run(m)
        cp(m, big, exp + "/resources/big")
        res = m.p(exp, "resources", "big")
        assert xattr(res, "backend") == "inline"
        assert xattr(res, "sha256") == digest
        assert same(big, res)
        assert sqlite_rows(m.db, "SELECT COUNT(*) FROM artifact_chunk") == [["3"]]
        assert not os.path.exists(beside(m))
        db = m.db
    assert_fsck_clean(db)


def test_configured_root_and_threshold_take_the_moves(tmp_path):
    """With artifacts.filesystem.root set (and no backend), large artifacts go there;
    artifacts.inline_max moves the threshold."""
    root = str(tmp_path)
    art_root = os.path.join(root, "shared-artifacts")
    mid, _ = write_file(root, "mid.src", 600 * KiB)
    config = "artifacts:\n  inline_max: 1048576\n  filesystem:\n    root: %s\n" % art_root
    with default_mount(root, config) as m:
        exp, _ = make_run(m)
        cp(m, mid, exp + "/resources/mid")
        assert xattr(m.p(exp, "resources", "mid"), "backend") == "inline"
    with default_mount(root, "artifacts:\n  filesystem:\n    root: %s\n" % art_root) as m:
        cp(m, mid, exp + "/resources/mid2")
        res = m.p(exp, "resources", "mid2")
        assert xattr(res, "backend") == "filesystem"
        assert xattr(res, "uri").startswith("file://" + os.path.realpath(art_root) + "/")
        assert same(mid, res)
        assert not os.path.exists(beside(m))
        db = m.db
    assert_fsck_clean(db, fs_root=art_root)


def test_config_prints_the_default(tmp_path):
    with environ(**CLEAN):
        r = subprocess.run([BIN, "config"], capture_output=True, text=True, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "artifacts:\n  backend: auto\n  inline_max: 262144\n" in r.stdout, r.stdout


def test_unusable_directory_fails_the_large_copy_and_stores_nothing(tmp_path):
    """<db>.artifacts taken by a plain file: the mount still works and small artifacts
    stay inline; a large copy fails with EIO and leaves no resource, chunk or upload."""
    root = str(tmp_path)
    small, _ = write_file(root, "small.src", 1000)
    big, _ = write_file(root, "big.src", MiB)
    blocker = os.path.join(root, "registry.db.artifacts")
    with open(blocker, "w") as f:
        f.write("not a directory\n")
    with default_mount(root) as m:
        exp, _ = make_run(m)
        cp(m, small, exp + "/resources/small")
        assert xattr(m.p(exp, "resources", "small"), "backend") == "inline"
        r = subprocess.run(["cp", big, m.p(exp, "resources", "big")], capture_output=True,
                           text=True)
        assert r.returncode != 0 and "Input/output error" in r.stderr, r.stderr
        assert os.listdir(m.p(exp, "resources")) == ["small"]
        assert sqlite_rows(m.db, "SELECT name FROM resource") == [["small"]]
        assert sqlite_rows(m.db, "SELECT COUNT(*) FROM artifact_upload") == [["0"]]
        assert sqlite_rows(m.db, "SELECT COUNT(*) FROM artifact_chunk") == [["1"]]
        with open(blocker) as f:
            assert f.read() == "not a directory\n"
