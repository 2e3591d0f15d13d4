"""The README's "Bad input" table, the rows no other test file covers: renames across
kinds, a damaged database file, a bad config file, a missing, non-directory, busy or
non-empty mountpoint. Each test asserts the exact message (or errno text) and that
nothing changed: the database's rows (sqlite3 CLI), or its bytes when the file itself is
the bad input. The other rows point to tests in test_tracking_refusals.py,
test_registry_refusals.py and test_tracking_lifecycle.py."""
import hashlib
import os
import shutil
import subprocess

import pytest

from conftest import BIN, Mount

SCHEMA_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "schema", "sqlite")
from helpers_tracking import make_run, ok, refused, snapshot

# ---------------------------------------------------------------- renames across kinds


@pytest.fixture
def world(mnt):
    """p/e with one running iteration R holding a param, a metric and a tag; a resource;
    a model m."""
    exp, r, _ = make_run(mnt, "p", "e")
    ok(mnt, """
    echo 7 > {r}/params/lr
    echo 0.5 >> {r}/metrics/acc
    touch {r}/tags/gold
    echo bytes > {exp}/resources/f.bin
    mkdir projects/p/models/m
    """.format(r=r, exp=exp))
    return mnt, exp, r


@pytest.mark.parametrize("src,dst", [
    ("{r}/params/lr", "{r}/metrics/lr"),            # parameter -> metric
    ("{r}/metrics/acc", "{r}/params/acc"),          # metric -> parameter
    ("{r}/tags/gold", "{r}/params/gold"),           # tag -> parameter
    ("{r}/params/lr", "{r}/tags/lr"),               # parameter -> tag
    ("{r}/notes", "{r}/params/notes"),              # value file -> parameter
    ("{exp}/resources/f.bin", "{r}/params/f"),      # resource -> parameter
    ("{r}/params/lr", "{exp}/resources/lr"),        # parameter -> resource
    ("{exp}", "projects/p/models/e"),               # experiment -> model
    ("projects/p/models/m", "projects/p/experiments/m"),   # model -> experiment
    ("{r}", "{exp}/iterations/99"),                 # iteration ids are not names
])
def test_rename_across_kinds(world, src, dst):
    mnt, exp, r = world
    src, dst = src.format(r=r, exp=exp), dst.format(r=r, exp=exp)
    before = snapshot(mnt.db)
    # EPERM, not EXDEV: mv would fall back to copy + delete on EXDEV
    refused(mnt, "mv %s %s" % (src, dst), "Operation not permitted")
    assert snapshot(mnt.db) == before
    assert os.path.lexists(mnt.p(src)) and not os.path.lexists(mnt.p(dst))


# ---------------------------------------------------------------- the database file


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def dd(*args, timeout=30):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def good_db(tmp_path_factory):
    """A real registry.db: a mount filled with projects, runs, metrics, a resource and a
    registered version, unmounted, vacuumed (no free pages: any page overwritten is in
    use) and checkpointed into one file."""
    root = str(tmp_path_factory.mktemp("gooddb"))
    m = Mount(root)
    try:
        for i in range(6):
            exp, r, iid = make_run(m, "p%d" % (i % 2), "e%d" % i)
            ok(m, """
            for k in $(seq 1 20); do echo $k > {r}/params/param_$k; done
            seq 1 200 | sed 's/$/ 0.5/' >> {r}/metrics/loss
            echo "notes of run {i}" > {r}/notes
            """.format(r=r, i=i))
        ok(m, "echo model-bytes > projects/p0/experiments/e0/resources/m.bin\n"
              "mkdir projects/p0/models/clf\n"
              "cat models/clf/versions/new/1:m.bin")
    except BaseException:
        m.kill()
        raise
    m.unmount()
    subprocess.run(["sqlite3", m.db, "VACUUM; PRAGMA wal_checkpoint(TRUNCATE);"],
                   check=True, capture_output=True)
    assert os.path.getsize(m.db) > 64 * 1024
    return m.db


def damage(path, how):
    size = os.path.getsize(path)
    if how == "truncated to half":
        os.truncate(path, size // 2 // 4096 * 4096 + 1000)
    elif how == "truncated to 100 bytes":
        os.truncate(path, 100)
    elif how == "header overwritten":
        with open(path, "r+b") as f:
            f.write(b"this is not SQLite" * 4)
    elif how == "middle page overwritten":
        with open(path, "r+b") as f:
            f.seek(size // 2 // 4096 * 4096)       # a whole page in the middle
            f.write(b"\xde\xad\xbe\xef" * 1024)
    elif how == "random bytes":
        with open(path, "wb") as f:
            f.write(os.urandom(8192))


REASON = {
    "truncated to half": "database disk image is malformed",
    "truncated to 100 bytes": "database disk image is malformed",
    "header overwritten": "file is not a database",
    "middle page overwritten": "database disk image is malformed",
    "random bytes": "file is not a database",
}


@pytest.mark.parametrize("how", list(REASON))
@pytest.mark.parametrize("command", ["init", "mount", "register"])
def test_damaged_database(good_db, tmp_path, how, command):
    db = str(tmp_path / "registry.db")
    shutil.copy(good_db, db)
    damage(db, how)
    before = sha256(db)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if command == "init":
        r = dd("init", db)
    elif command == "mount":
        r = dd("mount", db, str(mnt), "-f")
    else:
        r = dd("register", "--db", db, "clf", "1")
    assert r.returncode == 1, (r.stdout, r.stderr)
    want = "deardiary: %s: not a valid DearDiary database: %s" % (db, REASON[how])
    assert want in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1, r.stderr          # one line, no usage text
    assert sha256(db) == before
    assert sorted(os.listdir(tmp_path)) == ["mnt", "registry.db"]   # no -wal, -shm
    assert not os.path.ismount(str(mnt))


def test_damaged_database_sound_copy_still_works(good_db, tmp_path):
    """The undamaged file passes the same check (the refusals above are not blanket)."""
    db = str(tmp_path / "registry.db")
    shutil.copy(good_db, db)
    r = dd("init", db)
    newest = max(int(f[:3]) for f in os.listdir(SCHEMA_DIR) if f.endswith(".sql"))
    assert r.returncode == 0 and r.stdout == "%s: schema version %d\n" % (db, newest), r.stderr


# ---------------------------------------------------------------- the config file

CONFIGS = [
    ("database: x.db\nartifacts:\n  s3:\n    buckett: b\n",
     'cfg.yaml:4: unknown key "artifacts.s3.buckett"'),
    ("mount:\n  threads: ten\n",
     'cfg.yaml:2: mount.threads: expected a decimal integer, got "ten"'),
    ("mount:\n  threads: 0\n", "cfg.yaml:2: mount.threads: must be between 1 and 1024, got 0"),
    ("log_level: [debug]\n", "cfg.yaml:1: log_level: expected a single value, got a list"),
    ("artifacts:\n  backend: gcs\n",
     'cfg.yaml:2: artifacts.backend: expected one of auto, inline, filesystem, s3; got "gcs"'),
    ("mount:\n  foreground: maybe\n",
     'cfg.yaml:2: mount.foreground: expected true/false, yes/no, on/off or 1/0, got "maybe"'),
    ("database: a.db\ndatabase: b.db\n", 'cfg.yaml:2: duplicate key "database" (first on line 1)'),
    ('log_level: "a\\nb"\n', 'cfg.yaml:1: log_level: expected one of error, warn, info, '
                             'debug; got "a?b"'),
]


@pytest.mark.parametrize("text,message", CONFIGS)
@pytest.mark.parametrize("command", ["init", "mount", "register", "config"])
def test_bad_config_file(good_db, tmp_path, text, message, command):
    db = str(tmp_path / "registry.db")
    shutil.copy(good_db, db)
    before = sha256(db)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(text)
    (tmp_path / "mnt").mkdir()
    args = {"init": ["init", db], "mount": ["mount", db, str(tmp_path / "mnt"), "-f"],
            "register": ["register", "--db", db, "clf", "1"], "config": ["config"]}[command]
    r = subprocess.run([BIN, "--config", "cfg.yaml", *args], capture_output=True, text=True,
                       timeout=30, cwd=str(tmp_path))
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert message in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1, r.stderr
    assert r.stdout == ""
    assert sha256(db) == before
    assert sorted(os.listdir(tmp_path)) == ["cfg.yaml", "mnt", "registry.db"]


# ---------------------------------------------------------------- the mountpoint


def test_missing_mountpoint(tmp_path):
    db = str(tmp_path / "registry.db")
    r = dd("mount", db, str(tmp_path / "nowhere"), "-f")
    assert r.returncode == 1
    assert r.stderr == ("deardiary mount: %s: No such file or directory (the mountpoint must "
                        "be an existing directory)\n" % (tmp_path / "nowhere"))
    assert not os.path.exists(db)          # a refused mount creates no database


def test_mountpoint_is_a_file(tmp_path):
    db = str(tmp_path / "registry.db")
    (tmp_path / "afile").write_text("x")
    r = dd("mount", db, str(tmp_path / "afile"), "-f")
    assert r.returncode == 1
    assert r.stderr == "deardiary mount: %s is not a directory\n" % (tmp_path / "afile")
    assert not os.path.exists(db)


def test_busy_mountpoint_is_refused_not_recovered(mnt):
    """A second mount on a live one is refused; the live daemon keeps serving."""
    exp, r, _ = make_run(mnt, "p", "e")
    ok(mnt, "echo 7 > %s/params/lr" % r)
    before = snapshot(mnt.db)
    for db in (mnt.db, os.path.join(mnt.root, "other.db")):
        res = dd("mount", db, mnt.path, "-f")
        assert res.returncode == 1
        assert res.stderr == ("deardiary mount: %s is busy: already mounted (fuse.deardiary); "
                              "unmount it first: fusermount3 -u %s\n" % (mnt.path, mnt.path))
    assert not os.path.exists(os.path.join(mnt.root, "other.db"))
    assert snapshot(mnt.db) == before
    with open(mnt.p(r, "params", "lr")) as f:      # the first mount still answers
        assert f.read() == "7\n"
    with open("/proc/self/mountinfo") as f:
        assert sum(line.split()[4] == mnt.path for line in f) == 1   # nothing stacked


def test_non_empty_mountpoint_is_mounted_over(tmp_path):
    """As fuse3 and sshfs do (no -o nonempty needed): the directory's own files are
    hidden while mounted and untouched after."""
    mp = tmp_path / "mnt"
    mp.mkdir()
    (mp / "mine.txt").write_text("keep me")
    m = Mount(str(tmp_path))
    try:
        assert sorted(os.listdir(m.path)) == ["models", "projects"]
    except BaseException:
        m.kill()
        raise
    m.unmount()
    assert os.listdir(str(mp)) == ["mine.txt"]
    assert (mp / "mine.txt").read_text() == "keep me"
