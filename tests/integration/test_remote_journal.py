"""Metric appends through remote mounts (docs/REMOTE.md §4, step R6): a write() returns once
its points are in the node's journal, and every acknowledged point reaches the server
exactly once, in order, through outages. Real `deardiary serve` on 127.0.0.1 (auth on,
logged in with `deardiary login`), real remote mounts, rows counted in the server's
SQLite database.

The server is down for 30 s, the issue's outage (DD_REMOTE_OUTAGE_SECONDS shortens it for
a quick local run): long enough for the sender's backoff (100 ms doubling) to reach its
30 s cap, so delivery after the outage also covers the longest wait between retries."""
import errno
import os
import signal
import subprocess
import threading
import time

import pytest

import helpers_serve
from conftest import Mount, db_rows, run
from helpers_proxy import TcpProxy
from helpers_serve import Server, logged
from test_remote_mount import login


def project(s, token):
    """A project `p` with experiment `e` and one running iteration; its id."""
    pid = s.post("/project/", token=token, json={"name": "p"}).json()["project_id"]
    eid = s.post("/experiment/project/%d" % pid, token=token,
                 json={"status_id": 1, "name": "e"}).json()["experiment_id"]
    return s.post("/iteration/experiment/%d" % eid, token=token).json()["iteration_id"]


def server_values(db, iid, key):
    """The values of a series on the server, in cat order (step, then position), read with
    the database engine's own shell."""
    return [float(v) for (v,) in db_rows(db, "SELECT value FROM metric WHERE iteration_id ="
                                             " %d AND key = '%s' ORDER BY step, id" % (iid, key))]


OUTAGE = float(os.environ.get("DD_REMOTE_OUTAGE_SECONDS") or 30)


def wait_for(cond, timeout=60, what="condition"):
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, "timed out waiting for " + what
        time.sleep(0.05)


def restart(root, port):
    """`deardiary serve` again on the same database and port (the mounts' URL)."""
    keep = helpers_serve.free_port
    helpers_serve.free_port = lambda: port
    try:
        deadline = time.time() + 30
        while True:
            try:
                return Server(root, auth=True)
            except RuntimeError:
                assert time.time() < deadline
                time.sleep(0.2)
    finally:
        helpers_serve.free_port = keep


class Node:
    """Remote mounts of one server as one user, each with its own config and state."""

    def __init__(self, root, url, monkeypatch):
        self.root, self.url, self.mp = root, url, monkeypatch
        self.mounts = []
        self.cfg = os.path.join(root, "cfg")
        self.state = os.path.join(root, "state")
        login(url, self.cfg)

    def mount(self, env=None):
        d = os.path.join(self.root, "m%d" % len(self.mounts))
        os.makedirs(d, exist_ok=True)
        self.mp.setenv("XDG_CONFIG_HOME", self.cfg)
        self.mp.setenv("XDG_STATE_HOME", self.state)
        for k, v in (env or {}).items():
            self.mp.setenv(k, v)
        m = Mount(d, db=self.url, log="remote%d.log" % len(self.mounts))
        self.mounts.append(m)
        return m

    def journals(self):
        base = os.path.join(self.state, "deardiary", "journal")
        return sorted(os.listdir(base)) if os.path.isdir(base) else []

    def close(self, ok):
        for m in self.mounts:
            if m.proc.poll() is None and ok:
                m.unmount()
            else:
                m.kill()


@pytest.fixture
def node(tmp_path, monkeypatch):
    """(server, admin token, iteration id, Node)."""
    root = str(tmp_path)
    s = Server(root, auth=True)
    token = s.login()
    iid = project(s, token)
    n = Node(os.path.join(root, "node"), s.url, monkeypatch)
    state = {"s": s}
    ok = False
    try:
        yield state, token, iid, n
        ok = True
    finally:
        n.close(ok)
        state["s"].kill()


def metrics_dir(m, iid):
    return m.p("projects", "p", "experiments", "e", "iterations", str(iid), "metrics")


class Writer(threading.Thread):
    """Appends numbered values to metrics/<key> through one mount, one write() each, and
    keeps the values whose write() returned (acknowledged)."""

    def __init__(self, path, base):
        super().__init__(daemon=True)
        self.path, self.base = path, base
        self.acked, self.errors = [], []
        self.stop = threading.Event()

    def run(self):
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            i = 0
            while not self.stop.is_set():
                v = self.base + i
                try:
                    os.write(fd, b"%d\n" % v)
                    self.acked.append(float(v))
                except OSError as e:
                    self.errors.append(e.errno)
                    time.sleep(0.01)
                i += 1
                time.sleep(0.002)
        finally:
            os.close(fd)


def test_points_reach_the_server_exactly_once(node):
    state, _, iid, n = node
    s = state["s"]
    m = n.mount()
    d = metrics_dir(m, iid)
    p = run("echo 0.5 >> %s/loss" % d)
    assert p.returncode == 0, p.stderr
    # a new series is listed at once, the journal's points with the server's (§4.9)
    assert "loss" in os.listdir(d)
    with open(os.path.join(d, "loss"), "a") as f:
        for i in range(1, 300):
            f.write("%d\n" % i)
            f.flush()
        f.write("".join("%d\n" % i for i in range(300, 20300)))   # one write, 20 000 points
    # the node shows its points at once, delivered or not
    with open(os.path.join(d, "loss")) as f:
        lines = f.read().splitlines()
    assert len(lines) == 20300
    assert [ln.split()[:2] for ln in lines[:3]] == [["0", "0.5"], ["1", "1"], ["2", "2"]]
    wait_for(lambda: len(server_values(s.db, iid, "loss")) >= 20300, what="delivery")
    time.sleep(0.5)
    assert server_values(s.db, iid, "loss") == [0.5] + [float(i) for i in range(1, 20300)]
    # every request carried at most 10 000 points: 20 000 in one write() took >= 2 requests
    assert s.output().count("POST /v1/metrics") >= 3
    # and the journal's node is the server's high-water mark
    (jdir,) = n.journals()
    with open(os.path.join(n.state, "deardiary", "journal", jdir, "node_id")) as f:
        node_id = f.read()
    assert db_rows(s.db, "SELECT COUNT(*) FROM remote_delivery WHERE node_id = '%s'"
                   % node_id) == [["1"]]
    # after delivery, cat shows the server's points: the same text
    with open(os.path.join(d, "loss")) as f:
        assert [ln.split()[:2] for ln in f.read().splitlines()] == \
            [ln.split()[:2] for ln in lines]


def check_writers(db, iid, writers_by_key):
    """Each key's series holds every acknowledged value of its writers exactly once, and
    each writer's in the order it wrote them."""
    for key, writers in writers_by_key.items():
        got = server_values(db, iid, key)
        acked = [v for w in writers for v in w.acked]
        assert sorted(got) == sorted(acked), (key, len(got), len(acked))
        for w in writers:
            mine = set(w.acked)
            assert [v for v in got if v in mine] == w.acked


def test_server_down_while_two_mounts_append(node):
    state, _, iid, n = node
    s = state["s"]
    port = s.port
    mounts = [n.mount(), n.mount()]
    assert len(n.journals()) == 2    # one journal directory per mount
    writers = {"a": [], "b": []}
    for k, m in enumerate(mounts):
        for key in ("a", "b"):
            w = Writer(os.path.join(metrics_dir(m, iid), key), (10 * k + ord(key)) * 10**6)
            writers[key].append(w)
    everyone = writers["a"] + writers["b"]
    for w in everyone:
        w.start()
    time.sleep(1)
    s.stop()
    down_at = [len(w.acked) for w in everyone]
    time.sleep(OUTAGE)    # writes keep being acknowledged
    assert all(len(w.acked) > k + 20 for w, k in zip(everyone, down_at)), \
        [(len(w.acked), k) for w, k in zip(everyone, down_at)]
    state["s"] = s = restart(s.root, port)
    time.sleep(1)
    for w in everyone:
        w.stop.set()
        w.join()
    assert not any(w.errors for w in everyone), [w.errors for w in everyone]
    total = sum(len(w.acked) for w in everyone)
    wait_for(lambda: sum(len(server_values(s.db, iid, k)) for k in "ab") >= total,
             what="delivery after the outage")
    time.sleep(0.5)
    check_writers(s.db, iid, writers)


class AnswerCutter(TcpProxy):
    """A TCP proxy to the server that, once armed, lets the next POST /v1/metrics reach
    the server and cuts the connection when the answer comes (the server has committed;
    the client never hears)."""

    def __init__(self, target_port):
        self.armed = threading.Event()
        self.fired = threading.Event()
        super().__init__(target_port)

    def up(self, client, server, conn):
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                if b"POST /v1/metrics" in data and self.armed.is_set():
                    self.armed.clear()
                    conn["drop"] = True
                server.sendall(data)
        except OSError:
            pass
        self.cut(client, server)

    def down(self, server, client, conn):
        try:
            while True:
                data = server.recv(65536)
                if not data:
                    break
                if conn.get("drop"):
                    self.fired.set()
                    break
                client.sendall(data)
        except OSError:
            pass
        self.cut(client, server)


def test_answer_lost_after_commit_is_no_duplicate(tmp_path, monkeypatch):
    s = Server(str(tmp_path), auth=True)
    proxy = AnswerCutter(s.port)
    iid = project(s, s.login())
    n = Node(str(tmp_path / "node"), "http://127.0.0.1:%d" % proxy.port, monkeypatch)
    ok = False
    try:
        m = n.mount()
        d = metrics_dir(m, iid)
        with open(os.path.join(d, "loss"), "a") as f:
            f.write("1\n")
        wait_for(lambda: len(server_values(s.db, iid, "loss")) == 1, what="first delivery")
        proxy.armed.set()
        with open(os.path.join(d, "loss"), "a") as f:
            f.write("".join("%d\n" % i for i in range(2, 102)))
        assert proxy.fired.wait(20), "the proxy never cut an answer"
        # the server committed them; the node retries the same request, which is a no-op
        assert logged(s, "POST /v1/metrics 200", 3)
        time.sleep(1)
        assert server_values(s.db, iid, "loss") == [float(i) for i in range(1, 102)]
        assert db_rows(s.db, "SELECT COUNT(*) FROM metric") == [["101"]]
        ok = True
    finally:
        n.close(ok)
        proxy.close()
        s.kill()


def test_daemons_killed_while_server_down_deliver_at_next_mount(node):
    """Two mounts of one server and user are SIGKILLed while the server is down, holding
    acknowledged points; the next mount delivers both journals (its own directory and the
    other dead one)."""
    state, _, iid, n = node
    s = state["s"]
    port = s.port
    mounts = [n.mount(), n.mount()]
    keys = ("loss", "acc")
    for m, key in zip(mounts, keys):
        with open(os.path.join(metrics_dir(m, iid), key), "a") as f:
            f.write("".join("%d\n" % i for i in range(100)))
    wait_for(lambda: all(len(server_values(s.db, iid, k)) == 100 for k in keys),
             what="delivery")
    s.stop()
    for m, key in zip(mounts, keys):     # acknowledged by the journals only
        with open(os.path.join(metrics_dir(m, iid), key), "a") as f:
            for i in range(100, 150):
                f.write("%d\n" % i)
                f.flush()
    for m in mounts:
        m.proc.send_signal(signal.SIGKILL)
        m.proc.wait()
        subprocess.run(["fusermount3", "-u", "-z", m.path], capture_output=True)
    state["s"] = s = restart(s.root, port)
    time.sleep(1)
    for k in keys:                        # nobody delivers a dead journal
        assert len(server_values(s.db, iid, k)) == 100
    n.mount()                             # ... until the next mount
    wait_for(lambda: all(len(server_values(s.db, iid, k)) >= 150 for k in keys),
             what="replay of both journals")
    time.sleep(0.5)
    for k in keys:
        assert server_values(s.db, iid, k) == [float(i) for i in range(150)]
    assert len(n.journals()) == 2         # the dead mounts' directories were taken over


def test_full_journal_is_enospc_and_loses_nothing(node):
    state, _, iid, n = node
    s = state["s"]
    port = s.port
    m = n.mount(env={"DEARDIARY_REMOTE_JOURNAL_MAX": "8192"})
    d = metrics_dir(m, iid)
    with open(os.path.join(d, "loss"), "a") as f:
        f.write("0\n")
    wait_for(lambda: len(server_values(s.db, iid, "loss")) == 1, what="delivery")
    # the mount keeps the server's listing for the outage (it lists a series only the
    # journal holds too, REMOTE.md §4.9, but opens a path only through listings it saw)
    time.sleep(1)
    wait_for(lambda: "loss" in os.listdir(d), what="the series listed")
    with open(os.path.join(d, "loss")) as f:    # the server's points, as last seen
        assert f.read().split()[:2] == ["0", "0"]
    s.stop()
    acked, refused = [0.0], None
    fd = os.open(os.path.join(d, "loss"), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        for i in range(1, 10000):
            try:
                os.write(fd, b"%d\n" % i)
                acked.append(float(i))
            except OSError as e:
                refused = e.errno
                break
    finally:
        os.close(fd)
    assert refused == errno.ENOSPC, refused
    assert 20 < len(acked) < 500, len(acked)
    p = run("echo 1 >> %s/loss" % d)
    assert p.returncode != 0 and "No space left on device" in p.stderr, p.stderr
    # what was acknowledged is shown, and delivered once the server is back
    with open(os.path.join(d, "loss")) as f:
        assert [float(ln.split()[1]) for ln in f.read().splitlines()] == acked
    state["s"] = s = restart(s.root, port)
    wait_for(lambda: len(server_values(s.db, iid, "loss")) >= len(acked), what="delivery")
    time.sleep(0.5)
    assert server_values(s.db, iid, "loss") == acked
    # and the journal takes points again
    p = run("echo 7 >> %s/loss" % d)
    assert p.returncode == 0, p.stderr
    wait_for(lambda: len(server_values(s.db, iid, "loss")) == len(acked) + 1, what="delivery")
