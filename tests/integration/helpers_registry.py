"""Helpers shared by the test_registry_*.py integration tests (artifacts, models, versions).

Everything drives the mount with real tools (bash, coreutils, tar, Python's open/os) and
checks the database only through the independent sqlite3 command-line tool
(conftest.sqlite_rows). Self-contained: nothing here depends on helpers_tracking.
"""
import contextlib
import hashlib
import os
import re
import subprocess
import time

from conftest import Mount, db_rows_many, run, sqlite_rows
from helpers_tracking import refused, sh  # noqa: F401 (re-exported)

# Tables a registry or artifact operation may create, change or delete. `resource` is
# listed without its BLOB column so that snapshots stay small.
TABLES = {
    "project": "*",
    "experiment": "*",
    "iteration": "*",
    "parameter": "*",
    "metric": "*",
    "resource": "id, experiment_id, name, description, created_date, updated_date, backend, "
                "uri, size_bytes, content_hash, chunk_set",
    "model": "*",
    "model_version": "*",
    "model_alias": "*",
    "artifact_trash": "*",
    "artifact_upload": "*",
}

STAGES = ("NO_STAGE", "STAGING", "PRODUCTION", "ARCHIVED")
STAGE_ID = {name: i + 1 for i, name in enumerate(STAGES)}
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
MiB = 1024 * 1024


# ---------------------------------------------------------------- shell

def ok(mnt, script):
    """Run a bash script that must succeed (set -e); return its stdout."""
    r = sh(mnt, "set -e -o pipefail\n" + script)
    assert r.returncode == 0, "script failed (%d):\n%s\nstderr:\n%s" % (r.returncode, script,
                                                                         r.stderr)
    return r.stdout


def poll(fn, timeout, interval=0.02):
    """Call fn until it returns a truthy value or `timeout` seconds pass; return the last
    value."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


# ---------------------------------------------------------------- database

def counts(db):
    """Row count of every registry table, read with the sqlite3 CLI."""
    sql = " UNION ALL ".join("SELECT '%s', COUNT(*) FROM %s" % (t, t) for t in TABLES)
    return {name: int(n) for name, n in sqlite_rows(db, sql)}


def snapshot(db):
    """Every row of every registry table (ordered), as text: equal snapshots mean nothing
    changed."""
    return dict(zip(TABLES, db_rows_many(db, ["SELECT %s FROM %s ORDER BY 1, 2" % (cols, t)
                                              for t, cols in TABLES.items()])))


def one(db, sql):
    rows = sqlite_rows(db, sql)
    assert len(rows) == 1, (sql, rows)
    return rows[0] if len(rows[0]) > 1 else rows[0][0]


def q(s):
    """SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


def resource_row(db, name):
    """(id, backend, uri, size_bytes, content_hash) of the resource called name, or None."""
    rows = sqlite_rows(db, "SELECT id, backend, uri, size_bytes, content_hash FROM resource "
                           "WHERE name = %s" % q(name))
    assert len(rows) <= 1, rows
    return rows[0] if rows else None


def version_stages(db, model):
    """{version number: stage name} of a model, from the database."""
    rows = sqlite_rows(db, "SELECT v.version, v.stage_id FROM model_version v JOIN model m "
                           "ON m.id = v.model_id WHERE m.name = %s" % q(model))
    return {int(n): STAGES[int(s) - 1] for n, s in rows}


# ---------------------------------------------------------------- mounts

@contextlib.contextmanager
def environ(**values):
    """Set (value str) or unset (value None) environment variables for the block; the
    daemon started by conftest.Mount inherits the test process's environment."""
    saved = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def start_mount(root, backend="inline", fs_root=None, db=None):
    """conftest.Mount with the artifact backend chosen by environment variables. The
    filesystem root always lies inside the test's directory (the inline backend gets one
    too, so that no daemon ever creates ./deardiary_artifacts in the test's cwd)."""
    fs_root = fs_root or os.path.join(root, "artifacts")
    with environ(DEARDIARY_ARTIFACT_BACKEND=backend, DEARDIARY_ARTIFACT_FS_ROOT=fs_root,
                 DEARDIARY_CONFIG=None):
        m = Mount(root, db=db)
    m.backend, m.fs_root = backend, fs_root
    return m


def finish_mount(m):
    """Unmount cleanly (asserting a clean daemon exit) or, if the daemon died, detach and
    fail."""
    if m.proc.poll() is None and os.path.ismount(m.path):
        m.unmount()
    else:
        out = m.output()
        m.kill()
        raise AssertionError("daemon died during the test:\n" + out)


@contextlib.contextmanager
def managed(m):
    """A started mount for the block; unmounted afterwards (killed and detached on
    failure)."""
    try:
        yield m
    except BaseException:
        m.kill()
        raise
    try:
        finish_mount(m)
    except BaseException:
        m.kill()
        raise


def mounted(root, backend="inline", fs_root=None, db=None):
    """A mount for the block; unmounted afterwards (killed and detached on failure)."""
    return managed(start_mount(root, backend, fs_root, db))


# ---------------------------------------------------------------- registry building

def make_run(mnt, project="p", experiment="e"):
    """mkdir a project and an experiment (if missing) and clone one iteration. Returns
    (experiment path, iteration id), relative to the mount root."""
    exp = "projects/%s/experiments/%s" % (project, experiment)
    out = ok(mnt, '[ -d "projects/%s" ] || mkdir "projects/%s"\n'
                  '[ -d "%s" ] || mkdir "%s"\ncat "%s/iterations/new"'
             % (project, project, exp, exp, exp))
    iid = out.strip()
    assert iid.isdigit(), out
    return exp, iid


def put(mnt, rel, data):
    """Write bytes to a file in the mount with cp from a local temporary file."""
    src = os.path.join(mnt.root, ".put-%d" % os.getpid())
    with open(src, "wb") as f:
        f.write(data)
    try:
        ok(mnt, 'cp "%s" "%s"' % (src, rel))
    finally:
        os.unlink(src)


def register(mnt, model, iid, resource=None):
    """Register a version with the shell clone idiom; return its number (int)."""
    name = iid if resource is None else "%s:%s" % (iid, resource)
    out = ok(mnt, 'n=$(cat "models/%s/versions/new/%s")\necho "$n"' % (model, name))
    assert out.strip().isdigit(), out
    return int(out)


def read(mnt, rel):
    with open(mnt.p(rel), "rb") as f:
        return f.read()


def stage_files(mnt, model):
    """{version number: content of versions/<n>/stage}, read through the mount."""
    vdir = mnt.p("models", model, "versions")
    out = {}
    for n in os.listdir(vdir):
        with open(os.path.join(vdir, n, "stage")) as f:
            out[int(n)] = f.read().strip()
    return out


def pattern(seed, size):
    """Deterministic bytes distinct for each seed: a sha256 chain (fast enough for MiBs)."""
    out = bytearray()
    block = hashlib.sha256(b"deardiary-%d" % seed).digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block * 64
    return bytes(out[:size])


def random_file(tmp_path_factory, size):
    """A `size`-byte random file on local disk and its sha256 by sha256sum, for a
    module-scoped fixture to yield (and remove afterwards)."""
    d = tmp_path_factory.mktemp("bigsrc")
    path = str(d / "big.bin")
    r = subprocess.run("head -c %d /dev/urandom > '%s' && sha256sum '%s'" % (size, path, path),
                       shell=True, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert os.path.getsize(path) == size
    return path, r.stdout.split()[0]


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(4 * MiB)
            if not b:
                return h.hexdigest()
            h.update(b)


# ---------------------------------------------------------------- artifact stores

def files_under(root):
    """Every regular file below root (absolute paths), including hidden directories such
    as a staging area."""
    out = set()
    for d, _dirs, files in os.walk(root):
        for name in files:
            out.add(os.path.join(d, name))
    return out


def db_file_uris(db):
    """The absolute paths of every filesystem-backend resource in the database."""
    out = set()
    for (uri,) in sqlite_rows(db, "SELECT uri FROM resource WHERE backend = 'filesystem'"):
        assert uri.startswith("file:///"), uri
        out.add(uri[len("file://"):])
    return out


def inline_orphans(db):
    """Inline chunk sets no resource uses, uploads in progress, queued trash: all must be
    empty once gc has run with no upload in progress."""
    return {
        "chunk_sets": sqlite_rows(db, "SELECT DISTINCT set_id FROM artifact_chunk WHERE set_id "
                                      "NOT IN (SELECT chunk_set FROM resource WHERE chunk_set "
                                      "IS NOT NULL)"),
        "uploads": sqlite_rows(db, "SELECT id FROM artifact_upload"),
        "trash": sqlite_rows(db, "SELECT id FROM artifact_trash"),
    }


def proc_wchar(pid):
    """Bytes written so far by process pid (from /proc/<pid>/io), or -1 if it is gone."""
    try:
        with open("/proc/%d/io" % pid) as f:
            for line in f:
                if line.startswith("wchar:"):
                    return int(line.split()[1])
    except OSError:
        return -1
    return -1


def kill9(proc):
    """SIGKILL a Popen and reap it."""
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=30)


__all__ = ["subprocess"]
