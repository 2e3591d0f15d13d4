"""Harness for `deardiary serve`: a real server on 127.0.0.1 on a free port over a real
SQLite file (or PostgreSQL database: conftest's DD_TEST_ENGINE), driven with
python3-requests.

`Server` starts the process and waits for GET /health; `stop()` sends SIGTERM and requires
a clean exit with no sanitizer report in its log. The fixtures `srv` (auth disabled, the
original's default) and `asrv` (auth enabled, secret "testsecret") stop the server even
when the test fails. Import the fixtures into a test module with
`from helpers_serve import srv, asrv  # noqa: F401`.
"""
import base64
import contextlib
import hashlib
import hmac
import json
import os
import signal
import socket
import struct
import subprocess
import time

import pytest
import requests

from conftest import BIN, BAD_OUTPUT, default_db, is_uri, pg_target

SECRET = "testsecret"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, root, auth=False, db=None, env=None, args=(), tls=None):
        """tls: (cert, key) PEM paths to serve HTTPS (the session then trusts cert)."""
        self.root = root
        self.db = db or default_db(root)
        self.port = free_port()
        self.url = "%s://127.0.0.1:%d" % ("https" if tls else "http", self.port)
        if tls:
            args = (*args, "--tls-cert", tls[0], "--tls-key", tls[1])
        e = dict(os.environ)
        e.update({"DEARDIARY_ENABLE_AUTH": "true" if auth else "false",
                  "DEARDIARY_JWT_SECRET": SECRET,
                  "DEARDIARY_ARTIFACT_FS_ROOT": os.path.join(root, "artifacts")})
        e.update(env or {})
        self.log = open(os.path.join(root, "serve-%d.log" % self.port), "w+")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--db", self.db, "--port", str(self.port), *args],
            stdout=self.log, stderr=subprocess.STDOUT, env=e)
        self.s = requests.Session()
        # per request: requests lets REQUESTS_CA_BUNDLE override a session's verify
        self.verify = tls[0] if tls else True
        deadline = time.time() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("serve exited with %s:\n%s" % (self.proc.returncode,
                                                                 self.output()))
            try:
                if self.s.get(self.url + "/health", timeout=2,
                              verify=self.verify).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.time() > deadline:
                self.kill()
                raise RuntimeError("serve did not answer in 30 s")
            time.sleep(0.05)

    def output(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def req(self, method, path, token=None, **kw):
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = "Bearer " + token
        kw.setdefault("verify", self.verify)
        return self.s.request(method, self.url + path, headers=headers, timeout=30, **kw)

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def post(self, path, **kw):
        return self.req("POST", path, **kw)

    def patch(self, path, **kw):
        return self.req("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.req("DELETE", path, **kw)

    def login(self, username="default", password="default"):
        r = self.post("/auth", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        return r.json()["access_token"]

    def stop(self):
        self.s.close()
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=30)
        out = self.output()
        assert rc == 0, "serve exited with %d:\n%s" % (rc, out)
        assert not BAD_OUTPUT.search(out), out

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def logged(server, line, count=1):
    """Has the server logged `line` `count` times? It logs a request once it has answered
    it, so the client may be done first: wait up to 10 s."""
    deadline = time.time() + 10
    while server.output().count(line) < count and time.time() < deadline:
        time.sleep(0.05)
    return server.output().count(line) >= count


def settled(server, quiet=0.5, timeout=10):
    """The server's log once it has stopped growing for `quiet` s (at most `timeout` s):
    a request is logged after it is answered, so a count taken the moment a client is
    done may miss lines still to come."""
    deadline = time.time() + timeout
    out = server.output()
    while time.time() < deadline:
        time.sleep(quiet)
        now = server.output()
        if now == out:
            return now
        out = now
    return out


@contextlib.contextmanager
def served_mount(root, auth=False):
    """A real mount and a real server (auth enabled or not) on one database in `root`:
    yields (mount, server); both stopped cleanly on success, killed on a failure."""
    from conftest import Mount
    m = Mount(root)
    s = None
    try:
        s = Server(root, db=m.db, auth=auth)
        yield m, s
        s.stop()
        s = None
    except BaseException:
        m.kill()
        raise
    finally:
        if s:
            s.kill()
    m.unmount()


def _serve(tmp_path, auth):
    s = Server(str(tmp_path), auth=auth)
    try:
        yield s
    except BaseException:
        s.kill()
        raise
    if s.proc.poll() is None:
        s.stop()
    else:
        pytest.fail("serve died during the test:\n" + s.output())


@pytest.fixture
def srv(tmp_path):
    """A server with auth disabled on a fresh database."""
    yield from _serve(tmp_path, False)


@pytest.fixture
def asrv(tmp_path):
    """A server with auth enabled (secret SECRET) on a fresh database."""
    yield from _serve(tmp_path, True)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_token(claims, secret=SECRET, header=None):
    """A JWT built independently of the server (to test expiry, tampering, alg none)."""
    h = b64url(json.dumps(header or {"alg": "HS256", "typ": "JWT"}).encode())
    p = b64url(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), (h + "." + p).encode(), hashlib.sha256).digest()
    return h + "." + p + "." + b64url(sig)


def decode_claims(token):
    p = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))


def db_dump(db):
    """Every row of the database as text (sqlite3 .dump, or pg_dump --data-only of a
    PostgreSQL registry), to compare before and after. Id counters (sqlite_sequence, the
    identity sequences' setval) are left out: a refused upload may have staged bytes,
    whose bookkeeping rows are gone again, but ids are never reused."""
    if is_uri(db):
        port, name = pg_target(db)
        out = subprocess.run(["pg_dump", "--data-only", "--no-owner", "-h", "127.0.0.1",
                              "-p", str(port), "-U", "dd", name], capture_output=True,
                             text=True, check=True).stdout
        # \restrict and \unrestrict carry a random key each run (pg_dump 15.14 on)
        return "\n".join(line for line in out.splitlines()
                         if "pg_catalog.setval" not in line and
                         not line.startswith(("--", "\\restrict", "\\unrestrict")))
    out = subprocess.run(["sqlite3", db, ".dump"], capture_output=True, text=True,
                         check=True).stdout
    return "\n".join(line for line in out.splitlines() if "sqlite_sequence" not in line)


def assert_error(r, status, code):
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert body["code"] == code, body
    assert body["message"], body


def journal_last_seq(path):
    """The seq of the last whole record of a node journal file (backend/include/mlog_rec.h:
    magic u32, total length u32, seq u64, ..., native byte order), 0 when it has none."""
    with open(path, "rb") as f:
        buf = f.read()
    off, last = 0, 0
    while off + 16 <= len(buf):
        magic, total, seq = struct.unpack_from("=IIQ", buf, off)
        if magic != 0x4d4c4f47 or total < 36 or off + total > len(buf):
            break   # a record being appended (its write() has not returned)
        last, off = seq, off + total
    return last


def undelivered_journals(root):
    """[(journal dir, last seq, delivered seq)] of the node journals under `root` that hold
    records the server has not acknowledged."""
    pending = []
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        d = os.path.join(root, name)
        try:
            with open(os.path.join(d, "delivered"), "rb") as f:
                raw = f.read(8)
            last = journal_last_seq(os.path.join(d, "journal"))
        except FileNotFoundError:
            continue    # a directory being set up: nothing acknowledged in it yet
        delivered = struct.unpack("=Q", raw)[0] if len(raw) == 8 else 0
        if last > delivered:
            pending.append((d, last, delivered))
    return pending


class RemoteMount:
    """A remote mount (docs/REMOTE.md) shaped like conftest's Mount, for the suites that
    run over both kinds (conftest `mnt` with a module's REMOTE = True): a real server on
    the registry `db` (auth on, logged in as `default` with `deardiary login`) and
    `deardiary mount URL` of it. `db` is the server's database, read once the mount's
    points are delivered, so the suites' direct reads of it (sqlite3) check what the
    server stored. Its node journals are its own (`journals`)."""

    def __init__(self, root, db=None):
        from conftest import Mount
        self.root = root
        self.server = Server(root, db=db, auth=True)
        d = os.path.join(root, "remote")
        os.makedirs(d, exist_ok=True)
        self.cfg = os.path.join(d, "cfg")
        env = dict(os.environ, XDG_CONFIG_HOME=self.cfg)
        p = subprocess.run([BIN, "login", self.server.url, "--user", "default",
                            "--password-stdin"], input="default\n", text=True,
                           capture_output=True, env=env)
        if p.returncode != 0:
            self.server.kill()
            raise RuntimeError("login: " + p.stderr)
        # the daemon reads its token from cfg and keeps its node journal in journals (its
        # own: a journal left by another test's mount would be taken over, REMOTE.md §4.7)
        self.journals = os.path.join(d, "journals")
        env = {"XDG_CONFIG_HOME": self.cfg, "DEARDIARY_REMOTE_JOURNAL_DIR": self.journals}
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            self.mount = Mount(d, db=self.server.url, log="remote.log")
        except BaseException:
            self.server.kill()
            raise
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        self.path, self.proc, self.log = self.mount.path, self.mount.proc, self.mount.log

    @property
    def db(self):
        """The server's database, once every point this mount acknowledged is in it: the
        suites read it right after their writes, as they do a local mount's, and metric
        points reach it through the node journal (delivered())."""
        self.delivered()
        return self.server.db

    def p(self, *parts):
        return self.mount.p(*parts)

    def output(self):
        return self.mount.output()

    def delivered(self, timeout=30):
        """Return once every point this mount acknowledged is on the server (committed in
        its database): in each journal directory (docs/REMOTE.md §4.1), `delivered` (the
        last seq the server acknowledged) has reached the journal file's last record's seq.
        Call it after the writes returned; it cannot pass early: a record still in the
        journal past `delivered` is undelivered (the file is only emptied, or compacted to
        its undelivered tail, once its head is delivered). Fails after `timeout` s."""
        deadline = time.time() + timeout
        while True:
            pending = undelivered_journals(self.journals)
            if not pending:
                return
            if self.proc.poll() is not None or time.time() > deadline:
                raise AssertionError("points not delivered in %s s (journal, last seq, "
                                     "delivered): %s\n%s" % (timeout, pending,
                                                              self.output()))
            time.sleep(0.02)

    def unmount(self):
        self.mount.unmount()
        self.server.stop()

    def kill(self):
        self.mount.kill()
        self.server.kill()
