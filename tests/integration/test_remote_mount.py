"""Remote mounts, reading (docs/REMOTE.md step R4): `deardiary mount URL MNT` against a
real `deardiary serve` on 127.0.0.1 (auth on, logged in with `deardiary login`), beside a
real local mount of the same database. The remote tree must be the local one (names,
types, inode numbers, sizes, contents, link targets); `ls -l` of an experiment costs one
request per directory it shows; a project the user may not read is absent. Writes:
test_remote_write.py (R5)."""
import os
import shutil
import stat
import subprocess
import time

import pytest

from conftest import BIN, Mount, run
from helpers_serve import served_mount, settled


def login(url, cfg, user="default", password="default"):
    env = dict(os.environ, XDG_CONFIG_HOME=cfg)
    p = subprocess.run([BIN, "login", url, "--user", user, "--password-stdin"],
                       input=password + "\n", text=True, capture_output=True, env=env)
    assert p.returncode == 0, p.stderr


def remote_mounts(root, monkeypatch):
    """Generator of (local mount, server, remote mount factory), unmounting at its end:
    the factory mounts the server as the user it is given, in a directory of its own
    (`r.cache`: its artifact cache; `cache_max`: remote.cache_max)."""
    mounts = []

    def mount_as(s, user="default", password="default", cache_max=None):
        d = os.path.join(root, "r%d" % len(mounts))
        os.makedirs(d)
        cfg = os.path.join(d, "cfg")
        login(s.url, cfg, user, password)
        monkeypatch.setenv("XDG_CONFIG_HOME", cfg)
        monkeypatch.setenv("XDG_CACHE_HOME", os.path.join(d, "cache"))
        monkeypatch.setenv("XDG_STATE_HOME", os.path.join(d, "state"))   # the node journal
        if cache_max is not None:
            monkeypatch.setenv("DEARDIARY_REMOTE_CACHE_MAX", str(cache_max))
        r = Mount(d, db=s.url, log="remote.log")
        r.cache = os.path.join(d, "cache", "deardiary")
        mounts.append(r)
        return r

    with served_mount(root, auth=True) as (m, s):
        try:
            yield m, s, mount_as
        except BaseException:
            for r in mounts:
                r.kill()
            raise
        for r in mounts:
            r.unmount()


@pytest.fixture
def remote(tmp_path, monkeypatch):
    yield from remote_mounts(str(tmp_path), monkeypatch)


def fill(m):
    """A registry with every kind of node: a project with an experiment holding a running
    iteration (parameters, a short and a long value, metrics, notes, tags, a child), an
    ended one, a resource; a model with two versions, a production one and an alias."""
    os.mkdir(m.p("projects", "p1"))
    exp = m.p("projects", "p1", "experiments", "e")
    os.mkdir(exp)
    open(m.p("projects", "p1", "tags", "team-a"), "w").close()
    runs = []
    for _ in range(2):
        with open(os.path.join(exp, "iterations", "new")) as f:
            runs.append(os.path.join(exp, "iterations", f.read().strip()))
    run_dir = runs[0]
    with open(os.path.join(run_dir, "params", "lr"), "w") as f:
        f.write("0.1\n")
    with open(os.path.join(run_dir, "params", "long"), "w") as f:
        f.write("x" * 3000 + "\n")
    with open(os.path.join(run_dir, "metrics", "loss"), "a") as f:
        f.write("".join("%d %s\n" % (i, 1.0 / (i + 1)) for i in range(450)))
    with open(os.path.join(run_dir, "metrics", "acc"), "a") as f:
        f.write("0.5\n0.75\n")
    with open(os.path.join(run_dir, "notes"), "w") as f:
        f.write("first try\n")
    open(os.path.join(run_dir, "tags", "best"), "w").close()
    with open(os.path.join(run_dir, "children", "new")) as f:
        f.read()
    with open(os.path.join(exp, "resources", "model.bin"), "wb") as f:
        f.write(os.urandom(5000))
    with open(os.path.join(runs[1], "status"), "w") as f:
        f.write("FAILED\n")
    os.mkdir(m.p("projects", "p1", "models", "clf"))
    rid = os.path.basename(run_dir)
    for _ in range(2):
        with open(m.p("models", "clf", "versions", "new", rid + ":model.bin")) as f:
            f.read()
    with open(m.p("models", "clf", "versions", "2", "stage"), "w") as f:
        f.write("PRODUCTION\n")
    os.symlink("../versions/1", m.p("models", "clf", "aliases", "champion"))
    return exp, run_dir


def tree(top, contents=True):
    """{path: (type, inode, size, link target or None, content or None)} of every node
    below top, following no link, with file contents (the bytes `cat` shows)."""
    out = {}
    for d, dirs, files in os.walk(top):
        for n in dirs + files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            kind = stat.S_IFMT(st.st_mode)
            body = None
            if contents and stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    body = f.read()
            out[os.path.relpath(p, top)] = (kind, st.st_ino, st.st_size,
                                            os.readlink(p) if stat.S_ISLNK(st.st_mode) else None,
                                            body)
    return out


def test_tree_is_the_local_one(remote):
    m, s, mount_as = remote
    fill(m)
    r = mount_as(s)
    local, far = tree(m.path, contents=False), tree(r.path, contents=False)
    assert sorted(far) == sorted(local)
    assert far == local
    # every file's bytes too, artifacts included (REMOTE.md step R7)
    with_bytes, far_bytes = tree(m.path), tree(r.path)
    assert far_bytes == with_bytes
    assert [p for p, v in far_bytes.items() if p.endswith("/artifact") and v[4]]
    # the long series came in pages of 200 points and reads whole
    loss = os.path.join("projects", "p1", "experiments", "e", "iterations", "1", "metrics",
                        "loss")
    assert far_bytes[loss][4].count(b"\n") == 450


def test_metric_appends_go_through_the_node_journal(remote):
    """Other writes are test_remote_write.py's (step R5). A metric append goes to the node
    journal (R6) and reaches the server; `rm` of a series removes it on the server
    (test_remote_metric_changes.py: after the node's undelivered points)."""
    m, s, mount_as = remote
    exp, run_dir = fill(m)
    r = mount_as(s)
    rel = os.path.relpath(run_dir, m.path)
    p = run("echo 9 >> %s/metrics/loss" % r.p(rel))
    assert p.returncode == 0, p.stderr
    deadline = time.time() + 10
    with open(os.path.join(run_dir, "metrics", "loss")) as f:
        while f.read().count("\n") != 451 and time.time() < deadline:
            time.sleep(0.05)
            f.seek(0)
        f.seek(0)
        assert f.read().splitlines()[-1].split()[:2] == ["450", "9"]
    p = run("rm %s/metrics/acc" % r.p(rel))
    assert p.returncode == 0, p.stderr
    assert not os.path.exists(os.path.join(run_dir, "metrics", "acc"))
    assert sorted(os.listdir(os.path.join(run_dir, "metrics"))) == ["loss", "loss.svg"]


def requests_logged(s):
    return [line for line in s.output().splitlines() if '"GET /' in line or "GET /" in line]


def test_ls_l_of_an_experiment_is_one_request(remote):
    m, s, mount_as = remote
    exp, _ = fill(m)
    r = mount_as(s)
    rel = os.path.relpath(exp, m.path)
    here = os.getcwd()
    os.chdir(r.p(rel))     # `ls -l` of the current directory: no lookup of its path
    try:
        time.sleep(1.0)    # past the 0.5 s the kernel and the remote store keep answers
        n0 = len(requests_logged(s))
        p = subprocess.run(["ls", "-l"], capture_output=True, text=True)
        settled(s)         # the server logs a request once it has answered it
        shown = requests_logged(s)[n0:]
    finally:
        os.chdir(here)
    assert p.returncode == 0, p.stderr
    assert sorted(line.split()[-1] for line in p.stdout.splitlines()[1:]) == sorted(
        ["charts", "created", "description", "ended", "iterations", "resources", "status",
         "tags"]), p.stdout
    assert shown == ["deardiary serve: GET /v1/ls/experiment/1 200"] or (
        len(shown) == 1 and shown[0].startswith("deardiary serve: GET /v1/ls/experiment/1 ")
    ), "\n".join(shown)
    with open(r.p(rel, "status")) as f:
        assert f.read() == "IN_PROGRESS\n"


def test_unreadable_project_is_absent(remote):
    m, s, mount_as = remote
    fill(m)
    os.mkdir(m.p("projects", "p2"))
    add = subprocess.run([BIN, "user", "--db", m.db, "add", "ana", "--password-stdin"],
                         input="pw-ana\n", text=True, capture_output=True)
    assert add.returncode == 0, add.stderr
    p = run("%s user --db %s grant ana p2 --read" % (BIN, m.db))
    assert p.returncode == 0, p.stderr
    r = mount_as(s, "ana", "pw-ana")
    assert sorted(os.listdir(r.p("projects"))) == ["p2"]
    assert not os.path.exists(r.p("projects", "p1"))
    assert not os.path.exists(r.p("projects", "p1", "experiments", "e"))
    assert "clf" not in os.listdir(r.p("models"))
    assert not os.path.exists(r.p("models", "clf"))
    assert os.listdir(r.p("projects", "p2", "experiments")) == []


def test_bad_urls_and_servers_are_refused_before_mounting(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    p = run("%s mount http://127.0.0.1:1 %s -f" % (BIN, mnt))
    assert p.returncode == 1 and "not logged in to http://127.0.0.1:1" in p.stderr, p.stderr
    p = run("DEARDIARY_TOKEN=abc %s mount http://127.0.0.1:1 %s -f" % (BIN, mnt))
    assert p.returncode == 1 and "http://127.0.0.1:1" in p.stderr, p.stderr
    p = run("%s mount http://127.0.0.1:1 %s -o allow_other" % (BIN, mnt))
    assert p.returncode == 1 and "allow_other" in p.stderr
    assert os.listdir(mnt) == []
    shutil.rmtree(mnt)
