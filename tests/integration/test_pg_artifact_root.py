"""The artifact root a PostgreSQL registry records (schema 015, docs/CONFIGURATION.md
"Where artifacts go"): `deardiary init URI` records the configured
artifacts.filesystem.root, else $XDG_DATA_HOME/deardiary/artifacts/<uuid> (made 0700,
with a `.deardiary-registry` marker holding the registry's uuid); a mount with the
default configuration then puts large artifacts there, but only where it sees that
marker: a node that does not (the shared root not mounted there) keeps every artifact
inline, reads of files under the root fail naming it, and fsck (--repair too) checks
and repairs nothing under it. An explicit root or backend still wins. Real PostgreSQL
(scripts/pgtest.sh), real mounts, psql as the independent reader.
"""
import errno
import hashlib
import os
import shutil
import stat
import subprocess

import pytest

from conftest import BIN, Mount, PgServer, psql
from helpers_registry import environ, managed

SECRET = "pg-s3cret-pw"
MiB = 1 << 20

# the defaults are under test: no DEARDIARY_* variable reaches init, mounts or fsck
CLEAN = {k: None for k in os.environ if k.startswith("DEARDIARY_")}


@pytest.fixture
def registry(request, tmp_path):
    """A new empty database and a data home of the test's own; yields (port, name, URI
    with a password)."""
    port = PgServer.start()
    name = "ar_" + request.node.name.lower()[:40]
    psql(port, "postgres", "DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
    psql(port, "postgres",
         "CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'" % name)
    with environ(XDG_DATA_HOME=str(tmp_path / "data"), **CLEAN):
        yield port, name, "postgresql://dd:%s@127.0.0.1:%d/%s" % (SECRET, port, name)


def dd(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([BIN, *args], capture_output=True, text=True, env=e, timeout=120)


def one(port, name, sql):
    rows = psql(port, name, sql)
    assert len(rows) == 1 and len(rows[0]) == 1, rows
    return rows[0][0]


def mount(root, uri, **env):
    """A mount of uri with the default configuration (no root configured by the harness)
    plus env."""
    os.makedirs(root, exist_ok=True)
    with environ(**env):
        return Mount(root, db=uri, configure_root=False)


def xattr(path, name):
    return os.getxattr(path, "user.deardiary." + name).decode()


def experiment(m):
    os.makedirs(m.p("projects", "p", "experiments", "e"))
    return m.p("projects", "p", "experiments", "e", "resources")


def random_file(tmp_path, name, size=MiB):
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return str(path)


def cp(src, dst):
    r = subprocess.run(["cp", src, dst], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def same(a, b):
    return subprocess.run(["cmp", a, b]).returncode == 0


def init_default(tmp_path, registry):
    """`deardiary init` with the default configuration: the recorded root (checked against
    the row, the uuid and the marker) and init's stdout."""
    port, name, uri = registry
    r = dd("init", uri)
    assert r.returncode == 0, r.stderr
    uuid = one(port, name, "SELECT uuid FROM registry")
    root = one(port, name, "SELECT artifact_root FROM registry")
    assert root == os.path.realpath(str(tmp_path / "data" / "deardiary" / "artifacts" / uuid))
    return root, r.stdout


def test_init_records_the_default_root_and_a_cp_lands_in_a_file_there(tmp_path, registry):
    port, name, uri = registry
    root, out = init_default(tmp_path, registry)
    assert SECRET not in out
    assert "go to %s" % root in out and "every node of a cluster" in out, out
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700
    uuid = one(port, name, "SELECT uuid FROM registry")
    with open(os.path.join(root, ".deardiary-registry")) as f:
        assert f.read() == uuid + "\n"
    # init again: the root stays, said again; `config` shows it, reachable here
    r = dd("init", uri)
    assert r.returncode == 0 and "go to %s" % root in r.stdout, r.stdout + r.stderr
    r = dd("config", env={"DEARDIARY_DB_FILE": uri})
    assert r.returncode == 0, r.stderr
    assert "recorded artifact root" in r.stdout and "%s (reachable here)" % root in r.stdout
    assert SECRET not in r.stdout

    src = random_file(tmp_path, "model.bin")
    with managed(mount(str(tmp_path / "a"), uri)) as m1:
        dst = os.path.join(experiment(m1), "model.bin")
        cp(src, dst)
        assert xattr(dst, "backend") == "filesystem"
        uri_x = xattr(dst, "uri")
        assert uri_x.startswith("file://" + root + "/"), uri_x
        assert os.path.getsize(uri_x[len("file://"):]) == MiB
        assert same(src, dst)
        # a second daemon of the same registry on this machine reads it back
        with managed(mount(str(tmp_path / "b"), uri)) as m2:
            other = m2.p("projects", "p", "experiments", "e", "resources", "model.bin")
            assert same(src, other)
            with open(src, "rb") as f:
                assert xattr(other, "sha256") == hashlib.sha256(f.read()).hexdigest()
    assert one(port, name, "SELECT backend FROM resource") == "filesystem"
    r = dd("fsck", uri)
    assert r.returncode == 0 and "; clean" in r.stdout, r.stdout + r.stderr


def test_a_root_without_its_marker_is_left_alone(tmp_path, registry):
    """The recorded root as a node that does not mount the shared directory sees it: an
    empty directory at that path (a mountpoint), then one whose marker names another
    registry. Large artifacts stay inline there; a file under the root reads as EIO naming
    the root; rm queues its file; fsck and fsck --repair check, mark and remove nothing
    under it. Back on a node that sees it, all is there and the queued file goes."""
    port, name, uri = registry
    root, _ = init_default(tmp_path, registry)
    first = random_file(tmp_path, "first.bin")
    with managed(mount(str(tmp_path / "a"), uri)) as m:
        cp(first, os.path.join(experiment(m), "first.bin"))
    stored = one(port, name, "SELECT uri FROM resource")[len("file://"):]
    assert stored.startswith(root + "/")
    away = root + ".away"
    os.rename(root, away)
    os.mkdir(root, 0o700)                      # the shared directory not mounted here

    second = random_file(tmp_path, "second.bin")
    with managed(mount(str(tmp_path / "b"), uri)) as m:
        res = m.p("projects", "p", "experiments", "e", "resources")
        cp(second, os.path.join(res, "second.bin"))
        assert xattr(os.path.join(res, "second.bin"), "backend") == "inline"
        assert same(second, os.path.join(res, "second.bin"))
        with pytest.raises(OSError) as e:
            with open(os.path.join(res, "first.bin"), "rb") as f:
                f.read()
        assert e.value.errno == errno.EIO
        os.unlink(os.path.join(res, "first.bin"))
        log = m.output()
    assert "artifact root %s is not used on this node" % root in log, log
    assert "under the artifact root %s, which this node does not reach" % root in log, log
    assert os.listdir(root) == []                  # nothing written at the unmounted path
    assert one(port, name, "SELECT COUNT(*) FROM artifact_trash") == "1"
    assert os.path.exists(os.path.join(away, os.path.relpath(stored, root)))

    for marker in (None, "ffffffff-0000-4000-8000-000000000000\n"):
        if marker:      # the real root back, but its marker names another registry
            os.rmdir(root)
            os.rename(away, root)
            with open(os.path.join(root, ".deardiary-registry"), "w") as f:
                f.write(marker)
        for args in ((), ("--repair",)):
            r = dd("fsck", *args, uri)
            assert r.returncode == 0, r.stdout + r.stderr
            assert "artifact root %s: not reachable from this node" % root in r.stdout
            assert ("names registry ffffffff" in r.stdout) == bool(marker), r.stdout
            assert "orphan" not in r.stdout and "marked broken" not in r.stdout, r.stdout
            assert one(port, name, "SELECT COUNT(*) FROM resource WHERE broken <> 0") == "0"
            assert one(port, name, "SELECT COUNT(*) FROM artifact_trash") == "1"
    assert os.path.exists(stored)

    # the marker right again (a node that mounts the root): the queued file goes
    with open(os.path.join(root, ".deardiary-registry"), "w") as f:
        f.write(one(port, name, "SELECT uuid FROM registry") + "\n")
    r = dd("fsck", "--repair", uri)
    assert r.returncode == 0 and "not reachable" not in r.stdout, r.stdout + r.stderr
    assert one(port, name, "SELECT COUNT(*) FROM artifact_trash") == "0"
    assert not os.path.exists(stored)
    r = dd("fsck", uri)
    assert r.returncode == 0 and "; clean" in r.stdout, r.stdout + r.stderr


def test_a_configured_root_and_an_explicit_backend_still_win(tmp_path, registry):
    port, name, uri = registry
    recorded, _ = init_default(tmp_path, registry)
    src = random_file(tmp_path, "x.bin")
    configured = str(tmp_path / "configured")
    with managed(mount(str(tmp_path / "a"), uri, DEARDIARY_ARTIFACT_FS_ROOT=configured)) as m:
        dst = os.path.join(experiment(m), "x.bin")
        cp(src, dst)
        assert xattr(dst, "uri").startswith("file://" + os.path.realpath(configured) + "/")
    with managed(mount(str(tmp_path / "b"), uri, DEARDIARY_ARTIFACT_BACKEND="inline")) as m:
        dst = m.p("projects", "p", "experiments", "e", "resources", "y.bin")
        cp(src, dst)
        assert xattr(dst, "backend") == "inline" and same(src, dst)
    assert sorted(os.listdir(recorded)) == [".deardiary-registry"]
    # a configured root that is absent here is not reachable either: before, fsck --repair
    # marked every artifact under it broken
    os.rename(configured, configured + ".away")
    r = dd("fsck", "--repair", uri, env={"DEARDIARY_ARTIFACT_FS_ROOT": configured})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "artifact root %s: not reachable from this node (No such file or directory)" % (
        os.path.realpath(configured + ".away")[:-len(".away")]) in r.stdout, r.stdout
    assert one(port, name, "SELECT COUNT(*) FROM resource WHERE broken <> 0") == "0"


def test_init_artifact_root_records_it_once(tmp_path, registry):
    port, name, uri = registry
    shared = tmp_path / "shared"
    r = dd("init", "--artifact-root", str(shared), uri)
    assert r.returncode == 0, r.stderr
    assert one(port, name, "SELECT artifact_root FROM registry") == str(shared)
    assert os.path.isfile(shared / ".deardiary-registry")
    assert not os.path.exists(tmp_path / "data")        # no default root made
    # another root later is refused, saying what to do; the row stays
    r = dd("init", "--artifact-root", str(tmp_path / "other"), uri)
    assert r.returncode == 1 and "records its artifact root %s already" % shared in r.stderr
    assert "artifacts.filesystem.root on every node" in r.stderr and SECRET not in r.stderr
    assert one(port, name, "SELECT artifact_root FROM registry") == str(shared)
    # the same root again is fine
    assert dd("init", "--artifact-root", str(shared), uri).returncode == 0
    # a directory holding another registry's artifacts is refused for a new registry
    psql(port, "postgres", "DROP DATABASE IF EXISTS %s_2 WITH (FORCE)" % name)
    psql(port, "postgres", "CREATE DATABASE %s_2 TEMPLATE template0" % name)
    r = dd("init", "--artifact-root", str(shared), uri + "_2")
    assert r.returncode == 1 and "another registry" in r.stderr, r.stderr
    assert one(port, name + "_2", "SELECT COUNT(*) FROM registry"
                                  " WHERE artifact_root IS NULL") == "1"
    psql(port, "postgres", "DROP DATABASE %s_2 WITH (FORCE)" % name)
    # a SQLite registry records nothing: the option is refused there
    r = dd("init", "--artifact-root", str(shared), str(tmp_path / "x.db"))
    assert r.returncode == 2 and "PostgreSQL" in r.stderr
    assert not os.path.exists(tmp_path / "x.db")
    shutil.rmtree(shared)


def test_migrate_db_into_a_registry_made_by_init_keeps_its_root(tmp_path, registry):
    """migrate-db gives DST the uuid of SRC: the marker of the root DST's init recorded
    follows it, so a mount of DST still puts large artifacts there."""
    port, name, uri = registry
    root, _ = init_default(tmp_path, registry)
    src_db = str(tmp_path / "src.db")
    assert dd("init", src_db).returncode == 0
    r = dd("migrate-db", src_db, uri)
    assert r.returncode == 0, r.stdout + r.stderr
    uuid = one(port, name, "SELECT uuid FROM registry")
    assert uuid == subprocess.run(["sqlite3", src_db, "SELECT uuid FROM registry"],
                                  capture_output=True, text=True).stdout.strip()
    with open(os.path.join(root, ".deardiary-registry")) as f:
        assert f.read() == uuid + "\n"
    assert one(port, name, "SELECT artifact_root FROM registry") == root
    src = random_file(tmp_path, "m.bin")
    with managed(mount(str(tmp_path / "a"), uri)) as m:
        dst = os.path.join(experiment(m), "m.bin")
        cp(src, dst)
        assert xattr(dst, "uri").startswith("file://" + root + "/") and same(src, dst)
