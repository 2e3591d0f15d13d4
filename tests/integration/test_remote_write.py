"""Remote mounts, non-metric writes (docs/REMOTE.md step R5): each kind of write through a
remote mount of a real `deardiary serve` on 127.0.0.1 reaches the server's database (read
back with sqlite3, an independent reader, and through a local mount); every refusal is the
errno a local mount gives, with the server's database unchanged; the modes follow the
token's rights; a write while the server is down is EIO."""
import errno
import os
import stat
import subprocess
import time

import pytest

from conftest import BIN, Mount, db_rows, run
from helpers_serve import Server, db_dump
from test_remote_mount import fill, login, remote  # noqa: F401 (the fixture)


def q(m, sql):
    return db_rows(m.db, sql)


def write(path, text, mode="w"):
    with open(path, mode) as f:
        f.write(text)


def errno_of(fn, *args):
    """The errno `fn(*args)` fails with, 0 when it succeeds."""
    try:
        fn(*args)
        return 0
    except OSError as e:
        return e.errno


def eventually(check, timeout=3.0):
    """check() true within timeout (a local mount's kernel keeps attributes 0.5 s)."""
    deadline = time.time() + timeout
    while not check():
        assert time.time() < deadline, "never became true"
        time.sleep(0.1)


def test_each_write_kind_reaches_the_server(remote):
    m, s, mount_as = remote
    exp, run_dir = fill(m)
    r = mount_as(s)
    rel_exp, rel_run = os.path.relpath(exp, m.path), os.path.relpath(run_dir, m.path)
    iid = os.path.basename(run_dir)
    R = lambda *a: r.p(rel_run, *a)   # noqa: E731

    # parameters: create, update, rename (replacing), delete, the whole set
    write(R("params", "bs"), "32\n")
    write(R("params", "lr"), "0.2\n")
    assert q(m, "SELECT value FROM parameter WHERE key='lr' AND iteration_id=%s" % iid) == [
        ["0.2"]]
    os.rename(R("params", "bs"), R("params", "batch"))
    os.unlink(R("params", "long"))
    assert sorted(k for (k,) in q(m, "SELECT key FROM parameter WHERE iteration_id=%s" % iid)
                  ) == ["batch", "lr"]
    write(R("params.yaml"), "lr: 0.5\nwd: 0.01\n")
    assert sorted(q(m, "SELECT key, value FROM parameter WHERE iteration_id=%s" % iid)) == [
        ["lr", "0.5"], ["wd", "0.01"]]
    with open(R("params", "wd")) as f:   # read back through the remote mount
        assert f.read() == "0.01\n"
    # notes, tags, a child, the status (last: it ends the iteration)
    write(R("notes"), "second try\n")
    assert q(m, "SELECT notes FROM iteration WHERE id=%s" % iid) == [["second try\n"]] or \
        q(m, "SELECT notes FROM iteration WHERE id=%s" % iid) == [["second try"]]
    open(R("tags", "keep"), "w").close()
    os.unlink(R("tags", "best"))
    assert [v for (v,) in q(m, "SELECT t.value FROM iteration_tag it JOIN tag t ON "
                                "t.id = it.tag_id WHERE it.iteration_id=%s" % iid)] == ["keep"]
    # experiments: create, rename, description, status
    os.mkdir(r.p("projects", "p1", "experiments", "e2"))
    os.rename(r.p("projects", "p1", "experiments", "e2"), r.p("projects", "p1", "experiments", "e3"))
    write(r.p("projects", "p1", "experiments", "e3", "description"), "the third\n")
    write(r.p(rel_exp, "status"), "STOPPED\n")
    assert q(m, "SELECT name, description FROM experiment WHERE name='e3'") in (
        [["e3", "the third\n"]], [["e3", "the third"]])
    assert q(m, "SELECT status_id FROM experiment WHERE name='e'") == [["2"]]
    # iterations: a new one, removed with rm -r; rmdir of an empty experiment
    with open(r.p("projects", "p1", "experiments", "e3", "iterations", "new")) as f:
        new = f.read().strip()
    assert q(m, "SELECT count(*) FROM iteration WHERE id=%s" % new) == [["1"]]
    write(r.p("projects", "p1", "experiments", "e3", "iterations", new, "params", "x"), "1\n")
    p = run("rm -r %s" % r.p("projects", "p1", "experiments", "e3", "iterations", new))
    assert p.returncode == 0, p.stderr
    assert q(m, "SELECT count(*) FROM iteration WHERE id=%s" % new) == [["0"]]
    os.rmdir(r.p("projects", "p1", "experiments", "e3"))
    assert q(m, "SELECT count(*) FROM experiment WHERE name='e3'") == [["0"]]
    # projects (the token's user is an admin): create, description, tag
    os.mkdir(r.p("projects", "p9"))
    write(r.p("projects", "p9", "description"), "nine\n")
    open(r.p("projects", "p9", "tags", "t9"), "w").close()
    eventually(lambda: os.path.exists(m.p("projects", "p9", "tags", "t9")))
    with open(m.p("projects", "p9", "description")) as f:
        assert f.read() == "nine\n"
    # models: create, register, stage, description, aliases (set, move, rename, delete)
    os.mkdir(r.p("projects", "p1", "models", "m2"))
    with open(r.p("models", "m2", "versions", "new", iid + ":model.bin")) as f:
        assert f.read().strip() == "1"
    write(r.p("models", "m2", "versions", "1", "stage"), "STAGING\n")
    write(r.p("models", "m2", "description"), "second model\n")
    os.symlink("../versions/1", r.p("models", "m2", "aliases", "best"))
    os.rename(r.p("models", "m2", "aliases", "best"), r.p("models", "m2", "aliases", "top"))
    assert q(m, "SELECT a.alias FROM model_alias a JOIN model x ON x.id = a.model_id "
                "WHERE x.name='m2'") == [["top"]]
    assert q(m, "SELECT v.stage_id FROM model_version v JOIN model x ON x.id = v.model_id "
                "WHERE x.name='m2'") == [["2"]]
    os.unlink(r.p("models", "m2", "aliases", "top"))
    assert q(m, "SELECT count(*) FROM model_alias a JOIN model x ON x.id = a.model_id "
                "WHERE x.name='m2'") == [["0"]]
    eventually(lambda: os.path.exists(m.p("models", "m2", "versions", "1")))
    with open(m.p("models", "m2", "versions", "1", "stage")) as f:
        assert f.read() == "STAGING\n"
    # the status last: FAILED ends the iteration
    write(R("status"), "FAILED\n")
    assert q(m, "SELECT status_id, end_date IS NOT NULL FROM iteration WHERE id=%s" % iid) == [
        ["3", "1"]]


def add_user(m, name, *rights, project="p1"):
    p = subprocess.run([BIN, "user", "--db", m.db, "add", name, "--password-stdin"],
                       input="pw-%s\n" % name, text=True, capture_output=True)
    assert p.returncode == 0, p.stderr
    if rights:
        p = run("%s user --db %s grant %s %s %s" % (BIN, m.db, name, project,
                                                    " ".join("--" + x for x in rights)))
        assert p.returncode == 0, p.stderr


def test_refusals_are_the_local_errnos_and_change_nothing(remote):
    """Each user holds one set of rights on p1; each operation either succeeds (the right
    is there) or fails with the errno a shared local mount gives, the database unchanged."""
    m, s, mount_as = remote
    exp, run_dir = fill(m)
    rel_run = os.path.relpath(run_dir, m.path)
    users = {"r0": ("read",), "rc": ("read", "create"), "ru": ("read", "update"),
             "rd": ("read", "delete"), "none": ()}
    for name, rights in users.items():
        add_user(m, name, *rights)
        open(m.p("projects", "p1", "tags", "t-" + name), "w").close()
        with open(m.p(rel_run, "metrics", "s-" + name), "a") as f:
            f.write("0.5\n")
    ops = {   # operation -> the right it needs (its first word)
        "create": lambda r, u: os.mkdir(r.p("projects", "p1", "experiments", "new-" + u)),
        "update": lambda r, u: write(r.p(rel_run, "params", "lr"), "0.7-%s\n" % u),
        "delete": lambda r, u: os.unlink(r.p("projects", "p1", "tags", "t-" + u)),
        "delete series": lambda r, u: os.unlink(r.p(rel_run, "metrics", "s-" + u)),
    }
    for name, rights in users.items():
        r = mount_as(s, name, "pw-" + name)
        if not rights:   # no read right: the project is absent
            assert errno_of(os.stat, r.p("projects", "p1")) == errno.ENOENT
            assert errno_of(os.mkdir, r.p("projects", "p1", "experiments", "x")) == errno.ENOENT
            continue
        assert errno_of(os.mkdir, r.p("projects", "mine")) == errno.EACCES   # admins only
        for op, fn in ops.items():
            before = db_dump(m.db)
            got = errno_of(fn, r, name)
            if op.split()[0] in rights:
                assert got == 0, (name, op, os.strerror(got))
                assert db_dump(m.db) != before, (name, op)
            else:
                assert got == errno.EACCES, (name, op, got and os.strerror(got))
                assert db_dump(m.db) == before, (name, op)
        p = run("echo 1 > %s" % r.p(rel_run, "params", "lr"))
        if "update" not in rights:
            assert "Permission denied" in p.stderr, p.stderr
    r = mount_as(s)   # the admin: refusals of the data's rules, the same on both mounts
    os.mkdir(r.p("projects", "p2"))
    rel_ended = os.path.join(os.path.relpath(exp, m.path), "iterations", "2", "notes")
    cases = [   # (what, errno, operation on a mount)
        ("NAME_TAKEN", errno.EEXIST, lambda x: os.mkdir(x.p("projects", "p2", "models", "clf"))),
        ("NOT_EMPTY", errno.ENOTEMPTY,
         lambda x: os.rmdir(x.p("projects", "p1", "experiments", "e"))),
        ("ENDED", errno.EROFS, lambda x: write(x.p(rel_ended), "late\n")),
        ("INVALID", errno.EINVAL, lambda x: write(x.p(rel_run, "status"), "BOGUS\n")),
        ("IN_USE", errno.EBUSY,
         lambda x: os.unlink(x.p("projects", "p1", "experiments", "e", "resources",
                                 "model.bin"))),
    ]
    for what, want, fn in cases:
        before = db_dump(m.db)
        assert errno_of(fn, r) == want, what
        assert db_dump(m.db) == before, what
        assert errno_of(fn, m) == want, what   # the local mount says the same
        assert db_dump(m.db) == before, what


def test_modes_follow_the_rights(remote):
    m, s, mount_as = remote
    exp, run_dir = fill(m)
    rel_exp, rel_run = os.path.relpath(exp, m.path), os.path.relpath(run_dir, m.path)
    add_user(m, "viewer", "read")
    add_user(m, "maker", "read", "create")
    add_user(m, "editor", "read", "update")

    def modes(r):
        return (stat.S_IMODE(os.stat(r.p(rel_run, "params", "lr")).st_mode),
                stat.S_IMODE(os.stat(r.p(rel_run, "notes")).st_mode),
                stat.S_IMODE(os.stat(r.p(rel_exp, "iterations")).st_mode),
                stat.S_IMODE(os.stat(r.p("projects", "p1", "experiments")).st_mode),
                stat.S_IMODE(os.stat(r.p("projects")).st_mode))

    admin = mount_as(s)
    assert modes(admin) == (0o644, 0o644, 0o755, 0o755, 0o755)
    ended = os.path.join(os.path.relpath(exp, m.path), "iterations", "2", "notes")
    assert stat.S_IMODE(os.stat(admin.p(ended)).st_mode) == 0o444
    for name, want in [("viewer", (0o444, 0o444, 0o555, 0o555, 0o555)),
                       ("maker", (0o444, 0o444, 0o755, 0o755, 0o555)),
                       ("editor", (0o644, 0o644, 0o555, 0o555, 0o555))]:
        r = mount_as(s, name, "pw-" + name)
        assert modes(r) == want, (name, [oct(x) for x in modes(r)])


def test_a_write_while_the_server_is_down_is_eio(tmp_path, monkeypatch):
    root = str(tmp_path)
    m = Mount(root)
    try:
        exp, run_dir = fill(m)
        rel = os.path.relpath(run_dir, m.path)
        s = Server(root, db=m.db, auth=True)
        d = os.path.join(root, "r")
        os.makedirs(d)
        cfg = os.path.join(d, "cfg")
        login(s.url, cfg)
        monkeypatch.setenv("XDG_CONFIG_HOME", cfg)
        r = Mount(d, db=s.url, log="remote.log")
        try:
            with open(r.p(rel, "params", "lr")) as f:
                assert f.read() == "0.1\n"
            s.stop()
            p = run("echo 0.9 > %s" % r.p(rel, "params", "lr"))
            assert p.returncode != 0 and "Input/output error" in p.stderr, p.stderr
            # syslog (stderr with -f) names the request and the server's error (the PATCH,
            # or the lookup before it when the cached listing expired meanwhile)
            assert ": cannot reach %s: Couldn't connect to server" % s.url in r.output(), \
                r.output()
            assert q(m, "SELECT value FROM parameter WHERE key='lr'") == [["0.1"]]
        finally:
            r.unmount()
            if s.proc.poll() is None:
                s.stop()
    finally:
        m.unmount()


def test_a_deleted_user_gets_eacces_and_the_log_names_login(remote):
    """A token the server refuses (its user deleted: refresh cannot help) is EACCES
    "Permission denied" on every request, reads and writes, and the daemon's log says
    `deardiary login URL` is needed; nothing is stored."""
    m, s, mount_as = remote
    exp, run_dir = fill(m)
    rel = os.path.relpath(run_dir, m.path)
    add_user(m, "gone", "read", "update")
    r = mount_as(s, "gone", "pw-gone")
    with open(r.p(rel, "params", "lr")) as f:
        assert f.read() == "0.1\n"
    p = run("%s user --db %s delete gone" % (BIN, m.db))
    assert p.returncode == 0, p.stderr
    time.sleep(0.6)   # past the kernel's and the remote store's 0.5 s
    before = db_dump(m.db)
    p = run("echo 0.5 > %s" % r.p(rel, "params", "lr"))
    assert p.returncode != 0 and "Permission denied" in p.stderr, p.stderr
    assert errno_of(os.listdir, r.p(rel, "params")) == errno.EACCES
    assert db_dump(m.db) == before
    assert "run `deardiary login %s`" % s.url in r.output(), r.output()   # syslog, -f: stderr
