"""Integration-test harness: a real `deardiary mount` of a real SQLite file, or of a real
PostgreSQL database when DD_TEST_ENGINE=postgres.

Modelled on libfuse's and sshfs's pytest helpers: start the daemon in the foreground,
wait until the mountpoint is mounted (failing fast if the daemon died), hand the test the
mountpoint, then `fusermount3 -u` and require a clean exit. On any failure the mount is
detached lazily and the daemon killed, so no test leaves a dead mount behind. The
daemon's stderr is checked for sanitizer reports and crashes.

Engines (docs/ENGINES.md §7): with DD_TEST_ENGINE=postgres one throwaway
PostgreSQL server serves the whole session (scripts/pgtest.sh, started at the first need,
stopped and removed at the end) and every test directory that a Mount or a Server is given
without an explicit database gets its own fresh database (CREATE DATABASE, `deardiary init
URI`), just as it would get its own registry.db on SQLite. `default_db(root)` names it;
`db_rows`/`db_exec` read and write it with the engine's own command-line tool (sqlite3 or
psql), independent of the product.
"""
import atexit
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

BIN = os.environ.get("DEARDIARY_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "deardiary")
BAD_OUTPUT = re.compile(r"(AddressSanitizer|UndefinedBehaviorSanitizer|runtime error|"
                        r"Segmentation fault|Aborted|==\d+==ERROR)")
ENGINE = os.environ.get("DD_TEST_ENGINE", "sqlite")
assert ENGINE in ("sqlite", "postgres"), "DD_TEST_ENGINE is sqlite or postgres, not " + ENGINE
PGTEST = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "pgtest.sh")
PG_PASSWORD = "pg-s3cret-pw"   # in every test URI; the trust-authenticated server ignores it


def is_uri(db):
    return db.startswith(("postgresql://", "postgres://"))


class PgServer:
    """The session's PostgreSQL server: started at the first need, stopped (and its files
    removed) at interpreter exit. Its directory is directly under /tmp: as root the server
    runs as nobody, who cannot enter pytest's private temporary directories. The daemons'
    metric journals of a server registry go to its state/ (XDG_STATE_HOME), and the artifact
    roots `deardiary init` records by default to its data/ (XDG_DATA_HOME), not to ~."""
    dir = None
    port = None
    template = None
    dbs = {}

    @classmethod
    def sweep_orphans(cls):
        """Stop the servers of earlier sessions that were killed (SIGKILL, a timeout), so
        their atexit never ran: each directory names its session's pid in `owner`; one
        whose owner is gone is stopped and removed. A live session's server is left be."""
        tmp = tempfile.gettempdir()
        for name in os.listdir(tmp):
            d = os.path.join(tmp, name)
            if not name.startswith("dd-pgit-") or not os.path.isdir(d):
                continue
            try:
                with open(os.path.join(d, "owner")) as f:
                    owner = int(f.read())
            except (OSError, ValueError):
                continue                  # not ours to judge (being created, or older)
            if pid_alive(owner):
                continue
            subprocess.run([PGTEST, "stop", d, "--remove"], capture_output=True)
            shutil.rmtree(d, ignore_errors=True)

    @classmethod
    def start(cls, fsync=False):
        if cls.port is None:
            cls.sweep_orphans()
            cls.dir = tempfile.mkdtemp(prefix="dd-pgit-")
            with open(os.path.join(cls.dir, "owner"), "w") as f:
                f.write(str(os.getpid()))
            r = subprocess.run([PGTEST, "start", cls.dir] + (["--fsync"] if fsync else []),
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError("pgtest.sh start: " + r.stderr)
            with open(os.path.join(cls.dir, "port")) as f:
                cls.port = int(f.read())
            os.environ["XDG_STATE_HOME"] = os.path.join(cls.dir, "state")
            # `deardiary init` records a server registry's default artifact root there
            os.environ["XDG_DATA_HOME"] = os.path.join(cls.dir, "data")
            atexit.register(cls.stop)
        return cls.port

    @classmethod
    def stop(cls):
        if cls.dir:
            subprocess.run([PGTEST, "stop", cls.dir, "--remove"], capture_output=True)
            shutil.rmtree(cls.dir, ignore_errors=True)
            cls.dir = cls.port = cls.template = None

    @classmethod
    def uri(cls, name):
        return "postgresql://dd:%s@127.0.0.1:%d/%s" % (PG_PASSWORD, cls.start(), name)

    @classmethod
    def _create(cls, name, template):
        psql(cls.port, "postgres", "DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
        psql(cls.port, "postgres", "CREATE DATABASE %s TEMPLATE %s ENCODING 'UTF8' "
                                   "LOCALE 'C'" % (name, template))
        if template != "template0":
            # a registry of its own, as a real one is: its own uuid, and the artifact root
            # its `deardiary init` records below (a copy would share the template's, and
            # one registry's fsck would find another's files there)
            psql(cls.port, name, "UPDATE registry SET uuid = gen_random_uuid()::text,"
                                 " artifact_root = NULL")
        uri = cls.uri(name)
        r = subprocess.run([BIN, "init", uri], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("deardiary init %s: %s" % (name, r.stderr))
        return uri

    @classmethod
    def new_database(cls, name):
        """CREATE DATABASE name (dropped first if a previous run left it) and `deardiary
        init` it; returns its URI. The session's first call makes dd_template, an empty
        database `deardiary init` gave the schema; later ones copy it (CREATE DATABASE ...
        TEMPLATE, 0.3 s against 1 s for init's migrations) and run `deardiary init` on the
        copy, which finds the schema current and changes nothing."""
        cls.start()
        if not cls.template:
            cls._create("dd_template", "template0")
            cls.template = "dd_template"
        return cls._create(name, cls.template)


def pid_alive(pid):
    """Whether a process runs: a zombie (killed, not yet reaped by a parent that may never
    reap it) counts as gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def psql(port, db, sql):
    """Rows of a query through psql (tab-separated, NULL as ''), as lists of strings."""
    out = subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-F", "\t",
                          "-h", "127.0.0.1", "-p", str(port), "-U", "dd", "-d", db, "-c", sql],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise subprocess.CalledProcessError(out.returncode, "psql", out.stdout, out.stderr)
    return [line.split("\t") for line in out.stdout.splitlines()]


def default_db(root):
    """The registry a Mount or Server in directory root uses when given none: root's
    registry.db on SQLite; on PostgreSQL a database of its own, created and initialised at
    the first call for that root (the same one again afterwards, as the file would be)."""
    if ENGINE == "sqlite":
        return os.path.join(root, "registry.db")
    root = os.path.realpath(root)
    if root not in PgServer.dbs:
        name = "t_" + hashlib.sha1(root.encode()).hexdigest()[:24]
        PgServer.dbs[root] = PgServer.new_database(name)
    return PgServer.dbs[root]


def engine_env(root, db, env=None, configure_root=True):
    """The environment a daemon or server of root on db runs with: for a PostgreSQL
    registry (which has no directory of its own) the artifact root is root/artifacts
    unless DEARDIARY_ARTIFACT_FS_ROOT says otherwise (or configure_root is False: the
    tests of the root `deardiary init` records)."""
    e = dict(os.environ if env is None else env)
    if is_uri(db) and configure_root and not e.get("DEARDIARY_ARTIFACT_FS_ROOT"):
        e["DEARDIARY_ARTIFACT_FS_ROOT"] = os.path.join(root, "artifacts")
    return e


def run(cmd, **kw):
    """Run a shell command line; returns CompletedProcess (text, no check)."""
    return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                          executable="/bin/bash", **kw)


def answers(path):
    """Is a live filesystem mounted at path? statfs is never answered from a cache, so a
    dead mount left by a killed daemon (whose root attributes the kernel may still have,
    so that os.path.ismount passes) says no."""
    try:
        os.statvfs(path)
    except OSError:
        return False
    return os.path.ismount(path)


class Mount:
    def __init__(self, root, db=None, extra_args=(), log="daemon.log", configure_root=True):
        self.root = root
        self.db = db or default_db(root)
        self.path = os.path.join(root, "mnt")
        try:
            os.makedirs(self.path, exist_ok=True)
        except FileExistsError:
            pass    # a dead mount left by a killed daemon: `deardiary mount` recovers it
        self.log = open(os.path.join(root, log), "w+")
        self.proc = subprocess.Popen([BIN, "mount", self.db, self.path, "-f", *extra_args],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     env=engine_env(root, self.db,
                                                    configure_root=configure_root))
        deadline = time.time() + 30
        while not answers(self.path):
            if self.proc.poll() is not None:
                raise RuntimeError("daemon exited with %s:\n%s" % (self.proc.returncode,
                                                                  self.output()))
            if time.time() > deadline:
                self.kill()
                raise RuntimeError("mount did not appear in 30 s")
            time.sleep(0.05)

    def output(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def p(self, *parts):
        return os.path.join(self.path, *parts)

    def delivered(self, timeout=None):
        """Nothing to wait for: a local mount's acknowledged points are in the database
        it reads (helpers_serve.RemoteMount.delivered waits for a remote mount's)."""

    def unmount(self):
        subprocess.run(["fusermount3", "-u", self.path], check=True)
        rc = self.proc.wait(timeout=30)
        out = self.output()
        assert rc == 0, "daemon exited with %d:\n%s" % (rc, out)
        assert not BAD_OUTPUT.search(out), out

    def kill(self):
        subprocess.run(["fusermount3", "-u", "-z", self.path], capture_output=True)
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def pytest_generate_tests(metafunc):
    """A module with REMOTE = True runs each test that takes `mnt` over a local mount and
    over a remote one (a real `deardiary serve` of the same kind of registry, mounted by
    URL: docs/REMOTE.md step R5). Its REMOTE_NOT_YET maps the tests that cannot run
    remote yet to the reason (the differences of REMOTE.md §10); they are skipped there,
    saying so. Under DD_TEST_QUICK (`make test`'s sanitizer run) the suites run local
    only: the remote store's code is under the sanitizers through test_remote_*.py, and
    running every suite twice there would cost `make test` about 8 minutes."""
    if "mnt" in metafunc.fixturenames and getattr(metafunc.module, "REMOTE", False) and \
            not os.environ.get("DD_TEST_QUICK"):
        not_yet = getattr(metafunc.module, "REMOTE_NOT_YET", {})
        reason = not_yet.get(metafunc.function.__name__)
        metafunc.parametrize("mnt", [
            "local", pytest.param("remote", marks=pytest.mark.skip(reason=reason))
            if reason else "remote"], indirect=True)


@pytest.fixture
def mnt(tmp_path, request):
    """A freshly mounted empty registry; yields a Mount (or a helpers_serve.RemoteMount
    where the module asks for both kinds: pytest_generate_tests)."""
    if getattr(request, "param", "local") == "remote":
        from helpers_serve import RemoteMount
        m = RemoteMount(str(tmp_path))
    else:
        m = Mount(str(tmp_path))
    try:
        yield m
    except BaseException:
        m.kill()
        raise
    if m.proc.poll() is None and os.path.ismount(m.path):
        m.unmount()
    else:
        m.kill()
        pytest.fail("daemon died during the test:\n" + m.output())


@pytest.fixture
def run_dir(mnt):
    """A project, an experiment and one running iteration; yields (mnt, exp, run)."""
    os.mkdir(mnt.p("projects", "fraud"))
    os.mkdir(mnt.p("projects", "fraud", "experiments", "sweep"))
    exp = mnt.p("projects", "fraud", "experiments", "sweep")
    with open(os.path.join(exp, "iterations", "new")) as f:
        iid = f.read().strip()
    return mnt, exp, os.path.join(exp, "iterations", iid)


def pg_target(uri):
    """(port, database) of a test URI made by PgServer."""
    m = re.match(r"postgres(?:ql)?://[^@/]*@127\.0\.0\.1:(\d+)/([A-Za-z0-9_]+)$", uri)
    assert m, "not a test database URI: " + uri
    return int(m.group(1)), m.group(2)


def db_rows(db, sql):
    """Query the registry directly with its engine's command-line tool (sqlite3 for a file,
    psql for a PostgreSQL URI: an independent reader) and return the rows as lists of
    strings (NULL as '')."""
    if is_uri(db):
        return psql(*pg_target(db), sql)
    out = subprocess.run(["sqlite3", "-separator", "\t", db, sql], capture_output=True,
                         text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def db_rows_many(db, queries):
    """db_rows of each query, in one psql session for a PostgreSQL registry (a session
    costs ~80 ms of server start-up: a snapshot of every table would take a second)."""
    if not is_uri(db):
        return [db_rows(db, q) for q in queries]
    marker = "--dd-next-result-%s--" % os.urandom(8).hex()
    sql = []
    for q in queries:
        sql += ["-c", q, "-c", "SELECT '%s'" % marker]
    port, name = pg_target(db)
    out = subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-F", "\t",
                          "-h", "127.0.0.1", "-p", str(port), "-U", "dd", "-d", name, *sql],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise subprocess.CalledProcessError(out.returncode, "psql", out.stdout, out.stderr)
    results, rows = [], []
    for line in out.stdout.splitlines():
        if line == marker:
            results.append(rows)
            rows = []
        else:
            rows.append(line.split("\t"))
    assert len(results) == len(queries), out.stdout
    return results


def db_exec(db, sql):
    """Run SQL statements on the registry behind the product's back (a foreign writer)."""
    db_rows(db, sql)


sqlite_rows = db_rows   # the name the suites were written with


__all__ = ["run", "Mount", "sqlite_rows", "db_rows", "db_rows_many", "db_exec", "ENGINE",
           "default_db", "engine_env", "shutil"]
