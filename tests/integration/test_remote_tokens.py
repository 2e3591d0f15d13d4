"""Tokens over a remote mount's long run (docs/REMOTE.md §5, issue 16 "token expiry and
refresh over a long run; a revoked user"): a real `deardiary serve` on 127.0.0.1 whose
tokens live TTL seconds (server.token_ttl), `deardiary login` as a user with rights on one
project, and `deardiary mount URL` of it. A writer appends through the mount for about four
token lifetimes while parameters and the status are written every second: every write
succeeds, the server refreshes the mount's token (POST /auth/refresh) and never answers it
401, and every acknowledged point is on the server exactly once, in order. Then the user
is deleted: the next write is EACCES and the daemon's log (syslog, stderr with -f) names
`deardiary login URL`; points the mount acknowledged but could not deliver stay in its
node journal (REMOTE.md §4.4, §4.8: the sender retries, never drops them), and reach the
server once the user exists again and logs in."""
import errno
import json
import os
import re
import time

from conftest import BIN, Mount, db_rows, run
from helpers_serve import Server, logged, settled, undelivered_journals
from test_remote_mount import login
from test_remote_write import errno_of, write

TTL = 6                  # seconds a token lives: the client refreshes past 3, rereads every 1.5
LIFETIMES = 4
POINT_EVERY = 0.2


def server_values(db, iid, key):
    return [float(v) for (v,) in db_rows(db, "SELECT value FROM metric WHERE iteration_id = "
                                             "%d AND key = '%s' ORDER BY step, id" % (iid, key))]


def setup_registry(s):
    """Project p / experiment e / one running iteration, made by the admin; its id."""
    admin = s.login()
    pid = s.post("/project/", token=admin, json={"name": "p"}).json()["project_id"]
    eid = s.post("/experiment/project/%d" % pid, token=admin,
                 json={"status_id": 1, "name": "e"}).json()["experiment_id"]
    return s.post("/iteration/experiment/%d" % eid, token=admin).json()["iteration_id"]


def add_user(s, name, password):
    """A user (through the server) with read, create and update rights on project p."""
    r = s.post("/user/", token=s.login(), json={"first_name": "A", "last_name": "B",
                                               "username": name, "password": password})
    assert r.status_code == 201, r.text
    p = run("%s user --db '%s' grant %s p --read --create --update" % (BIN, s.db, name))
    assert p.returncode == 0, p.stderr
    return r.json()["user_id"]


def append(path, value):
    """`echo VALUE >> path`: open, append one line, close (its lookups are requests too)."""
    with open(path, "a") as f:
        f.write("%d\n" % value)


def stop_all(r, s, ok):
    """Unmount the mount r (if any) and stop the server s: cleanly after a test that
    passed, killed after one that failed (nothing waits on a broken daemon)."""
    if r:
        r.unmount() if ok else r.kill()
    s.stop() if ok else s.kill()


def wait_delivered(journals, r, timeout=30):
    deadline = time.time() + timeout
    while undelivered_journals(journals):
        assert r.proc.poll() is None and time.time() < deadline, \
            (undelivered_journals(journals), r.output())
        time.sleep(0.05)


def mount_requests_refused(s):
    """The server's log lines answered 401 (the test's own admin requests are never 401)."""
    return [line for line in s.output().splitlines() if re.search(r" 401 \d+us$", line)]


def test_a_mount_outlives_its_tokens_and_a_deleted_user_gets_eacces(tmp_path, monkeypatch):
    root = str(tmp_path)
    s = Server(root, auth=True, env={"DEARDIARY_TOKEN_TTL": str(TTL)})
    r = None
    ok = False
    try:
        iid = setup_registry(s)
        uid = add_user(s, "ana", "anapw")
        node = os.path.join(root, "node")
        cfg, journals = os.path.join(node, "cfg"), os.path.join(node, "journals")
        os.makedirs(node)
        login(s.url, cfg, "ana", "anapw")
        monkeypatch.setenv("XDG_CONFIG_HOME", cfg)
        monkeypatch.setenv("DEARDIARY_REMOTE_JOURNAL_DIR", journals)
        r = Mount(node, db=s.url, log="remote.log")
        it = r.p("projects", "p", "experiments", "e", "iterations", str(iid))
        loss = os.path.join(it, "metrics", "loss")

        # about four lifetimes of writes: a point every 0.2 s, a parameter or the status
        # every second; each one must succeed (an exception fails the test)
        acked, n, lr = [], 0, None
        start = time.time()
        next_other = start + 1
        while time.time() - start < LIFETIMES * TTL:
            append(loss, n)
            acked.append(float(n))
            n += 1
            if time.time() >= next_other:
                k = int(round(next_other - start))
                if k % 2:
                    lr = "0.%d" % k
                    write(os.path.join(it, "params", "lr"), lr + "\n")
                else:
                    write(os.path.join(it, "status"), "RUNNING\n")
                next_other += 1
            time.sleep(POINT_EVERY)
        with open(os.path.join(it, "params", "lr")) as f:
            assert f.read() == lr + "\n"
        wait_delivered(journals, r)
        assert server_values(s.db, iid, "loss") == acked      # each exactly once, in order
        assert db_rows(s.db, "SELECT value FROM parameter WHERE iteration_id = %d AND key ="
                             " 'lr'" % iid) == [[lr]]
        assert logged(s, "POST /auth/refresh 200", 3), s.output()
        assert mount_requests_refused(s) == [], mount_requests_refused(s)
        with open(os.path.join(cfg, "deardiary", "credentials")) as f:
            entry = json.load(f)[s.url]
        assert entry["lifetime"] in (TTL - 1, TTL) and entry["expires_at"] > time.time()
        log = s.output() + r.output()
        assert entry["token"] not in log

        # the user is deleted (refresh cannot help) between two writes of a held metric
        # file: the second is acknowledged from the node journal (the iteration was seen
        # running within the remote store's 0.5 s) and its delivery is refused; the next
        # write that asks the server is EACCES
        fd = os.open(loss, os.O_WRONLY | os.O_APPEND)
        try:
            time.sleep(0.6)           # the next write asks the server whether it runs
            os.write(fd, b"%d\n" % n)
            acked.append(float(n))
            assert s.delete("/user/%d" % uid, token=s.login()).status_code == 200
            os.write(fd, b"%d\n" % (n + 1))
            acked.append(float(n + 1))
            n += 2
            time.sleep(0.6)
            assert errno_of(os.write, fd, b"%d\n" % n) == errno.EACCES
        finally:
            os.close(fd)
        assert errno_of(append, loss, n) == errno.EACCES
        assert errno_of(write, os.path.join(it, "params", "lr"), "0.99\n") == errno.EACCES
        deadline = time.time() + 5
        while "run `deardiary login %s`" % s.url not in r.output():
            assert time.time() < deadline, r.output()
            time.sleep(0.05)
        assert logged(s, "POST /v1/metrics 401"), s.output()   # the sender was refused
        on_server = server_values(s.db, iid, "loss")
        assert on_server == acked[:len(on_server)] and len(on_server) < len(acked)
        assert undelivered_journals(journals), on_server

        # the user again (a new id, the same name), logged in: the journal's points arrive
        add_user(s, "ana", "anapw2")
        login(s.url, cfg, "ana", "anapw2")
        wait_delivered(journals, r)
        assert server_values(s.db, iid, "loss") == acked
        # and the mount writes again as the new user once it has read the new token
        deadline = time.time() + 5
        while errno_of(append, loss, n) != 0:
            assert time.time() < deadline, r.output()
            time.sleep(0.2)
        acked.append(float(n))
        wait_delivered(journals, r)
        assert server_values(s.db, iid, "loss") == acked
        assert db_rows(s.db, "SELECT value FROM parameter WHERE iteration_id = %d AND key ="
                             " 'lr'" % iid) == [[lr]]
        ok = True
    finally:
        stop_all(r, s, ok)


def test_a_token_refused_as_expired_is_retried_once_with_another(tmp_path, monkeypatch):
    """A mount that holds a token past its expiry (its entry claims a day of life, so it is
    kept a minute; the server's tokens live 5 s): the server answers 401 TOKEN_EXPIRED.
    With nothing else kept, the write is EACCES and the log says `deardiary login URL`;
    once a new login stored another token, the next refused request is retried once with
    it and succeeds (the request and the sender's delivery alike)."""
    root = str(tmp_path)
    s = Server(root, auth=True, env={"DEARDIARY_TOKEN_TTL": "5"})
    r = None
    ok = False
    try:
        iid = setup_registry(s)
        add_user(s, "ana", "anapw")
        node = os.path.join(root, "node")
        cfg, journals = os.path.join(node, "cfg"), os.path.join(node, "journals")
        os.makedirs(node)
        login(s.url, cfg, "ana", "anapw")
        path = os.path.join(cfg, "deardiary", "credentials")
        with open(path) as f:
            creds = json.load(f)
        creds[s.url].update(lifetime=86400, expires_at=int(time.time()) + 86400)
        with open(path, "w") as f:
            json.dump(creds, f)
        monkeypatch.setenv("XDG_CONFIG_HOME", cfg)
        monkeypatch.setenv("DEARDIARY_REMOTE_JOURNAL_DIR", journals)
        r = Mount(node, db=s.url, log="remote.log")
        it = r.p("projects", "p", "experiments", "e", "iterations", str(iid))
        lr, loss = os.path.join(it, "params", "lr"), os.path.join(it, "metrics", "loss")
        write(lr, "0.1\n")
        append(loss, 1)
        wait_delivered(journals, r)
        time.sleep(6)   # the token both readers hold expired; they keep it (a minute)
        assert errno_of(write, lr, "0.2\n") == errno.EACCES
        assert "refused the token as expired and no other is kept; run `deardiary login " \
               "%s`" % s.url in r.output(), r.output()
        assert logged(s, " 401 ", 1)   # " 401 ": a status, never "401us"
        before = settled(s).count(" 401 ")

        login(s.url, cfg, "ana", "anapw")   # another token in the file
        write(lr, "0.3\n")
        append(loss, 2)
        wait_delivered(journals, r)
        assert db_rows(s.db, "SELECT value FROM parameter WHERE iteration_id = %d AND key ="
                             " 'lr'" % iid) == [["0.3"]]
        assert server_values(s.db, iid, "loss") == [1.0, 2.0]
        # each reader was refused once more (its held token), then retried with the new one
        assert logged(s, "POST /v1/metrics 200", 2)
        out = settled(s)
        assert 1 <= out.count(" 401 ") - before <= 2, out
        ok = True
    finally:
        stop_all(r, s, ok)
