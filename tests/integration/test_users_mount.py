"""A registry shared with `-o allow_other`: every account gets exactly its DearDiary rights.

Real Unix accounts (created with useradd here, removed at the end), a real allow_other
mount, commands run as those accounts with setpriv, and every refusal checked against the
database through the sqlite3 CLI (nothing changed). Roles:

  admin     a DearDiary admin                 reader    read on alpha
  creator   read + create on alpha            updater   read + update on alpha (and gamma)
  deleter   read + delete on alpha            stranger  a DearDiary user with no rights
  unmapped  an account with no DearDiary user (users.unknown: deny)
"""
import os
import pwd
import secrets
import shlex
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import BIN, Mount, db_exec, default_db, sqlite_rows

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creates Unix accounts: needs root")

RIGHTS = {"admin": None, "reader": "r", "creator": "rc", "updater": "ru", "deleter": "rd",
          "stranger": "", "unmapped": ""}
FLAGS = {"r": "--read", "c": "--create", "u": "--update", "d": "--delete"}
TABLES = ["project", "experiment", "iteration", "parameter", "metric_latest", "resource",
          "model", "model_version", "model_alias", "tag", "project_tag", "experiment_tag",
          "iteration_tag", "user_permission", "stage_change"]
DENIED = "Permission denied"
HIDDEN = "No such file or directory"


def state(db):
    """Every row of every table a command could change, read by the sqlite3 CLI (one
    call), keyed by table."""
    rows = sqlite_rows(db, ";".join("SELECT '%s', * FROM %s" % (t, t) for t in TABLES))
    return {t: sorted(r[1:] for r in rows if r[0] == t) for t in TABLES}


def refused(r, want):
    """A refusal with `want`'s errno, as the shell or tool spells it (dash says
    "Directory nonexistent" for ENOENT in a redirection's path)."""
    if r.returncode == 0:
        return False
    if want == HIDDEN:
        return HIDDEN in r.stderr or "nonexistent" in r.stderr
    return want in r.stderr


def dduser(db, *args, stdin=None):
    r = subprocess.run([BIN, "user", "--db", db, *args], input=stdin, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    return r


@pytest.fixture(scope="module")
def accounts():
    """One Unix account per role, named ddt<random><role>; removed at teardown."""
    tag = "ddt" + secrets.token_hex(3)
    names = {}
    try:
        for role in RIGHTS:
            name = tag + role[:4]
            subprocess.run(["useradd", "-M", "-N", "-s", "/bin/sh", name], check=True)
            names[role] = name
        yield names
    finally:
        for name in names.values():
            subprocess.run(["userdel", name], capture_output=True)


@pytest.fixture(scope="module")
def shared_dir():
    d = tempfile.mkdtemp(prefix="ddu_", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def seed_users(db, accounts):
    for role, name in accounts.items():
        if role == "unmapped":
            continue
        dduser(db, "add", name, "--password-stdin", stdin="pw-%s\n" % role)
        if role == "admin":
            dduser(db, "admin", name)
        elif RIGHTS[role]:
            dduser(db, "grant", name, "alpha", *[FLAGS[c] for c in RIGHTS[role]])
    dduser(db, "grant", accounts["updater"], "gamma", "--read", "--update")
    dduser(db, "grant", accounts["deleter"], "gamma", "--read")
    dduser(db, "grant", accounts["reader"], "gamma", "--read")


@pytest.fixture(scope="module")
def shared(shared_dir, accounts):
    """A registry with projects alpha, beta (nobody but admins) and gamma, mounted with
    allow_other; yields the Mount."""
    root = os.path.join(shared_dir, "main")
    os.makedirs(root)
    os.chmod(root, 0o755)
    m = Mount(root, extra_args=("-o", "allow_other"))
    try:
        for p in ("alpha", "beta", "gamma"):
            os.mkdir(m.p("projects", p))
        seed_users(m.db, accounts)
        yield m
    except BaseException:
        m.kill()
        raise
    m.unmount()


def as_user(account, cmd, cwd):
    """Run a shell command line as `account` (its uid, gid and groups)."""
    pw = pwd.getpwnam(account)
    return subprocess.run(["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid,
                           "--init-groups", "/bin/sh", "-c", cmd], cwd=cwd,
                          capture_output=True, text=True, env={"PATH": os.environ["PATH"],
                                                               "LC_ALL": "C"})


def fresh_experiment(m, project="alpha"):
    """A new experiment with one running iteration holding lr=0.1, lr2, metric acc and a
    resource; returns (experiment path, iteration path), relative to the mount."""
    name = "e" + secrets.token_hex(3)
    exp = os.path.join("projects", project, "experiments", name)
    os.mkdir(m.p(exp))
    with open(m.p(exp, "iterations", "new")) as f:
        it = os.path.join(exp, "iterations", f.read().strip())
    for key, value in (("lr", "0.1"), ("lr2", "2")):
        with open(m.p(it, "params", key), "w") as f:
            f.write(value + "\n")
    with open(m.p(it, "metrics", "acc"), "a") as f:
        f.write("0.5\n")
    with open(m.p(exp, "resources", "w.bin"), "wb") as f:
        f.write(b"weights")
    return exp, it


def expected(role, family):
    rights = RIGHTS[role]
    if rights is None:
        return None
    if "r" not in rights:
        return HIDDEN
    if family == "read" or family[0] in rights:
        return None
    return DENIED


OPS = {
    "read": ["cat {it}/params/lr", "ls {exp}/iterations", "cat {exp}/status",
             "cat {exp}/resources/w.bin", "getfattr -n user.deardiary.sha256 {exp}/resources/w.bin",
             "cat {it}/metrics/acc.svg", "ls {exp}/charts", "cat {exp}/charts/acc.svg"],
    "create": ["cat {exp}/iterations/new", "echo 3 > {it}/params/fresh",
               "echo 1 >> {it}/metrics/newseries", "mkdir {exp}x", "touch {it}/tags/gold",
               "cp /etc/hostname {exp}/resources/new.bin", "cat {it}/children/new"],
    "update": ["echo 0.7 > {it}/params/lr", "echo 0.9 >> {it}/metrics/acc",
               "echo hello > {it}/notes", "mv {it}/params/lr2 {it}/params/lr3",
               "echo STOPPED > {exp}/status"],
    "delete": ["rm {it}/params/lr", "rm {it}/metrics/acc", "rm {exp}/resources/w.bin",
               "rm -r {it}", "rm -r {exp}"],
}


@pytest.mark.parametrize("family", list(OPS))
@pytest.mark.parametrize("role", list(RIGHTS))
def test_permission_matrix(shared, accounts, role, family):
    m = shared
    exp, it = fresh_experiment(m)
    want = expected(role, family)
    for op in OPS[family]:
        cmd = op.format(exp=exp, it=it)
        before = state(m.db)
        r = as_user(accounts[role], cmd, m.path)
        if want is None:
            assert r.returncode == 0, (role, cmd, r.stderr)
            if family != "read":
                assert state(m.db) != before, (role, cmd, "nothing changed")
        else:
            assert refused(r, want), (role, cmd, r.stdout, r.stderr)
            assert state(m.db) == before, (role, cmd)
    if want is None and family == "read":
        assert as_user(accounts[role], "cat " + it + "/params/lr", m.path).stdout == "0.1\n"


def test_listings_show_only_readable_projects(shared, accounts):
    m = shared
    with open(m.p("projects", "beta", "description"), "w") as f:
        f.write("secret plans\n")
    os.mkdir(m.p("projects", "alpha", "models", "m-alpha"))
    os.mkdir(m.p("projects", "beta", "models", "m-beta"))
    seen = {}
    for role, name in accounts.items():
        r = as_user(name, "ls projects; echo --; ls models", m.path)
        assert r.returncode == 0, (role, r.stderr)
        seen[role] = r.stdout
    assert seen["admin"] == "alpha\nbeta\ngamma\n--\nm-alpha\nm-beta\n"
    assert seen["reader"] == "alpha\ngamma\n--\nm-alpha\n"
    assert seen["creator"] == "alpha\n--\nm-alpha\n"
    assert seen["stranger"] == "--\n"
    assert seen["unmapped"] == "--\n"
    for role in ("reader", "stranger", "unmapped"):
        for cmd in ("cat projects/beta/description", "stat projects/beta",
                    "ls projects/beta/experiments", "readlink -v models/m-beta",
                    "cat models/m-beta/model.yaml"):
            r = as_user(accounts[role], cmd, m.path)
            assert refused(r, HIDDEN), (role, cmd, r.stderr)
            assert "secret" not in r.stdout


def test_state_changing_reads_need_create(shared, accounts):
    m = shared
    exp, it = fresh_experiment(m)
    os.mkdir(m.p("projects", "alpha", "models", "m-reg"))
    iid = os.path.basename(it)
    for role in ("reader", "updater", "deleter"):
        before = state(m.db)
        for cmd in ("cat %s/iterations/new" % exp, "cat %s/children/new" % it,
                    "cat models/m-reg/versions/new/%s" % iid,
                    "cat models/m-reg/versions/new/%s:w.bin" % iid):
            r = as_user(accounts[role], cmd, m.path)
            assert refused(r, DENIED), (role, cmd, r.stderr)
        assert state(m.db) == before
    r = as_user(accounts["creator"], "cat models/m-reg/versions/new/%s:w.bin" % iid, m.path)
    assert r.returncode == 0 and r.stdout == "1\n", r.stderr


def test_registry_rights(shared, accounts):
    """Stage and aliases are updates, deleting a version needs delete."""
    m = shared
    exp, it = fresh_experiment(m)
    os.mkdir(m.p("projects", "alpha", "models", "m-stage"))
    with open(m.p("models", "m-stage", "versions", "new", os.path.basename(it) + ":w.bin")) as f:
        assert f.read() == "1\n"
    v = "models/m-stage/versions/1"
    for role, cmd in (("creator", "echo PRODUCTION > %s/stage" % v),
                      ("reader", "echo STAGING > %s/stage" % v),
                      ("creator", "ln -s ../versions/1 models/m-stage/aliases/champ"),
                      ("updater", "rm -r %s" % v)):
        before = state(m.db)
        r = as_user(accounts[role], cmd, m.path)
        assert refused(r, DENIED), (role, cmd, r.stderr)
        assert state(m.db) == before
    for role, cmd in (("updater", "echo PRODUCTION > %s/stage" % v),
                      ("updater", "ln -sfn ../versions/1 models/m-stage/aliases/champ"),
                      ("updater", "rm models/m-stage/aliases/champ"),
                      ("deleter", "rm -r %s" % v)):
        before = state(m.db)
        r = as_user(accounts[role], cmd, m.path)
        assert r.returncode == 0, (role, cmd, r.stderr)
        assert state(m.db) != before


def test_stage_history_names_the_caller(shared, accounts):
    """On a shared mount the stage history names the DearDiary user each account is: who
    registered (create), who changed a stage (update); the mounting account (root) acts as
    `default`. A refused change records nothing; a reader reads the history file."""
    m = shared
    exp, it = fresh_experiment(m)
    os.mkdir(m.p("projects", "alpha", "models", "m-hist"))
    r = as_user(accounts["creator"], "cat models/m-hist/versions/new/%s" % os.path.basename(it),
                m.path)
    assert r.returncode == 0 and r.stdout == "1\n", r.stderr
    r = as_user(accounts["updater"], "echo PRODUCTION > models/m-hist/versions/1/stage", m.path)
    assert r.returncode == 0, r.stderr
    before = state(m.db)
    r = as_user(accounts["reader"], "echo STAGING > models/m-hist/versions/1/stage", m.path)
    assert refused(r, DENIED), r.stderr
    assert state(m.db) == before
    with open(m.p("models", "m-hist", "versions", "1", "stage"), "w") as f:
        f.write("ARCHIVED\n")
    # an editor's rename over `stage` (sed -i's temporary file) names its user too
    r = as_user(accounts["admin"], "sed -i s/ARCHIVED/STAGING/ models/m-hist/versions/1/stage",
                m.path)
    assert r.returncode == 0, r.stderr
    r = as_user(accounts["reader"], "cat models/m-hist/history", m.path)
    assert r.returncode == 0, r.stderr
    assert [x.split()[1:] for x in r.stdout.splitlines()] == [
        ["1", "ARCHIVED", "STAGING", accounts["admin"]],
        ["1", "PRODUCTION", "ARCHIVED", "default"],
        ["1", "NO_STAGE", "PRODUCTION", accounts["updater"]],
        ["1", "-", "NO_STAGE", accounts["creator"]]]
    # another project's reader does not see the model at all
    r = as_user(accounts["stranger"], "cat models/m-hist/history", m.path)
    assert refused(r, HIDDEN), r.stderr


def test_projects_are_for_admins(shared, accounts):
    m = shared
    for role in ("reader", "creator", "updater", "deleter", "stranger", "unmapped"):
        before = state(m.db)
        for cmd, msg in (("mkdir projects/p-" + role, DENIED),
                         ("mv projects/alpha projects/alpha2",
                          DENIED if RIGHTS[role] else HIDDEN)):
            r = as_user(accounts[role], cmd, m.path)
            assert refused(r, msg), (role, cmd, r.stderr)
        assert state(m.db) == before
    r = as_user(accounts["admin"], "mkdir projects/by-admin", m.path)
    assert r.returncode == 0, r.stderr
    # the creator (not the seeded `default`) gets the original's default permission row
    creators = sqlite_rows(m.db, "SELECT u.username FROM user_permission x JOIN \"user\" u ON"
                           " u.id = x.user_id JOIN project p ON p.id = x.project_id"
                           " WHERE p.name = 'by-admin'")
    assert creators == [[accounts["admin"]]], creators
    r = as_user(accounts["admin"], "mv projects/by-admin projects/by-admin2 && rmdir"
                " projects/by-admin2", m.path)
    assert r.returncode == 0, r.stderr


def test_rename_across_projects(shared, accounts):
    m = shared
    exp, _ = fresh_experiment(m)
    name = os.path.basename(exp)
    before = state(m.db)
    # updater may write alpha and gamma: a move between projects is EPERM, as on a
    # single-user mount; into beta, which it cannot see: ENOENT; reader: EACCES
    for role, target, msg in (("updater", "projects/gamma/experiments/x", "not permitted"),
                              ("updater", "projects/beta/experiments/x", HIDDEN),
                              ("reader", "projects/gamma/experiments/x", DENIED),
                              ("reader", exp + "-renamed", DENIED)):
        r = as_user(accounts[role], "mv %s %s" % (exp, target), m.path)
        assert refused(r, msg), (role, target, r.stderr)
    assert state(m.db) == before
    r = as_user(accounts["updater"], "mv %s %s-renamed" % (exp, exp), m.path)
    assert r.returncode == 0, r.stderr
    assert sqlite_rows(m.db, "SELECT COUNT(*) FROM experiment WHERE name = '%s-renamed'"
                       % name) == [["1"]]


def test_rm_r_refused_whole(shared, accounts):
    """rm -r of a project the caller cannot delete changes nothing in it, even where the
    caller can delete the things inside another project named on the same command line."""
    m = shared
    fresh_experiment(m, "gamma")
    gone, _ = fresh_experiment(m)
    before = {t: rows for t, rows in state(m.db).items()}
    gamma_rows = sqlite_rows(m.db, "SELECT COUNT(*) FROM experiment e JOIN project p ON"
                                   " p.id = e.project_id WHERE p.name = 'gamma'")
    r = as_user(accounts["deleter"], "rm -rf projects/gamma %s" % gone, m.path)
    assert refused(r, DENIED)
    assert sqlite_rows(m.db, "SELECT COUNT(*) FROM experiment e JOIN project p ON"
                             " p.id = e.project_id WHERE p.name = 'gamma'") == gamma_rows
    assert sqlite_rows(m.db, "SELECT COUNT(*) FROM project WHERE name = 'gamma'") == [["1"]]
    assert not os.path.exists(m.p(gone))          # the one it may delete is gone
    after = state(m.db)
    assert after["parameter"] != before["parameter"]
    # the same as a reader of alpha: all refused, nothing changed
    exp, _ = fresh_experiment(m)
    before = state(m.db)
    r = as_user(accounts["reader"], "rm -rf projects/alpha", m.path)
    assert refused(r, DENIED)
    assert state(m.db) == before


def setpriv_line(account, cmd):
    pw = pwd.getpwnam(account)
    return "setpriv --reuid=%d --regid=%d --init-groups /bin/sh -c %s" % (
        pw.pw_uid, pw.pw_gid, shlex.quote(cmd))


def test_kernel_caches_do_not_leak(shared, accounts):
    """What one user's access brings into the kernel's caches (dentries, attributes,
    pages, listings) never answers another user, nor the same user once revoked. The
    admin's access and the stranger's run back to back in one shell, well within the
    0.5 s a single-user mount lets the kernel keep names and attributes."""
    m = shared
    exp, it = fresh_experiment(m, "beta")
    with open(m.p(exp, "resources", "big.bin"), "wb") as f:
        f.write(b"B" * 100000)
    admin, stranger = accounts["admin"], accounts["stranger"]
    warm = ("stat %s/params/lr >/dev/null && cat %s/params/lr %s/resources/big.bin >/dev/null"
            " && ls -l %s/iterations %s/params %s/resources >/dev/null"
            % (it, it, exp, exp, it, exp))
    for cmd in ("stat %s/params/lr" % it, "cat %s/params/lr" % it,
                "cat %s/resources/big.bin" % exp, "ls %s/iterations" % exp,
                "stat -c %%s %s/resources/big.bin" % exp, "stat projects/beta"):
        line = "%s && %s" % (setpriv_line(admin, warm), setpriv_line(stranger, cmd))
        r = subprocess.run(["/bin/sh", "-c", line], cwd=m.path, capture_output=True, text=True,
                           env={"PATH": os.environ["PATH"], "LC_ALL": "C"})
        assert "BBBB" not in r.stdout and "0.1" not in r.stdout and "100000" not in r.stdout
        assert refused(r, HIDDEN), (cmd, r.stdout, r.stderr)
    r = as_user(stranger, "test -e %s/params/lr || echo hidden" % it, m.path)
    assert r.stdout == "hidden\n"
    # the same user, revoked: within the rights cache's 1 s, never from the kernel's
    exp, it = fresh_experiment(m)
    reader = accounts["reader"]
    assert as_user(reader, "cat %s/params/lr && ls %s" % (it, exp), m.path).returncode == 0
    dduser(m.db, "revoke", reader, "alpha")
    deadline = time.time() + 5
    while time.time() < deadline:
        r = as_user(reader, "cat %s/params/lr" % it, m.path)
        if r.returncode != 0:
            break
        time.sleep(0.2)
    assert refused(r, HIDDEN)
    dduser(m.db, "grant", reader, "alpha", "--read")
    deadline = time.time() + 5     # and granted again: back within the same second
    while as_user(reader, "cat %s/params/lr" % it, m.path).returncode != 0:
        assert time.time() < deadline
        time.sleep(0.2)


def test_stat_shows_the_callers_rights(shared, accounts):
    m = shared
    exp, it = fresh_experiment(m)
    fmt = "stat -c '%%U %%a' %s/params/lr %s/iterations %s/created" % (it, exp, exp)
    want = {"reader": ["444", "555", "444"], "updater": ["644", "555", "444"],
            "creator": ["444", "755", "444"], "admin": ["644", "755", "444"]}
    for role, modes in want.items():
        r = as_user(accounts[role], fmt, m.path)
        assert r.returncode == 0, r.stderr
        assert r.stdout.split("\n")[:3] == ["%s %s" % (accounts[role], x) for x in modes]
    # chown to the owner it shows is a no-op, as on a disk; to anyone else EPERM
    upd = accounts["updater"]
    r = as_user(upd, "chown %s %s/params/lr && touch %s/params/lr" % (upd, it, it), m.path)
    assert r.returncode == 0, r.stderr
    r = as_user(upd, "chown root %s/params/lr" % it, m.path)
    assert refused(r, "Operation not permitted")


def test_users_map_unknown_read_and_as(shared_dir, accounts):
    """users.map maps a uid to a DearDiary user; users.unknown: read lets an account with
    no user read; --as makes the mounting account act as another user."""
    root = os.path.join(shared_dir, "mapped")
    os.makedirs(root)
    os.chmod(root, 0o755)
    db = default_db(root)
    subprocess.run([BIN, "init", db], check=True, capture_output=True)
    db_exec(db, "INSERT INTO project(name, created_date) VALUES"
                " ('alpha', '2026-01-01T00:00:00.000Z')")
    os.mkdir(os.path.join(root, "mnt"))
    dduser(db, "add", "mapped-writer", "--password-stdin", stdin="pw\n")
    dduser(db, "grant", "mapped-writer", "alpha", "--read", "--create")
    cfg = os.path.join(root, "config.yaml")
    with open(cfg, "w") as f:
        f.write("users:\n  map:\n    %d: mapped-writer\n  unknown: read\n"
                % pwd.getpwnam(accounts["stranger"]).pw_uid)
    r = subprocess.run([BIN, "--config", cfg, "mount", db, os.path.join(root, "mnt"),
                        "-o", "allow_other", "--as", "nobody-here"],
                       capture_output=True, text=True)
    assert r.returncode == 1 and 'user "nobody-here" not found' in r.stderr
    os.environ["DEARDIARY_CONFIG"] = cfg
    try:
        m = Mount(root, db=db, extra_args=("-o", "allow_other", "--as", "mapped-writer"))
    finally:
        del os.environ["DEARDIARY_CONFIG"]
    try:
        # the stranger's uid is mapped to mapped-writer: it may create experiments
        r = as_user(accounts["stranger"], "mkdir projects/alpha/experiments/viamap", m.path)
        assert r.returncode == 0, r.stderr
        # an account with no user reads (users.unknown: read) but creates nothing
        r = as_user(accounts["unmapped"], "ls projects && cat projects/alpha/experiments/"
                    "viamap/status", m.path)
        assert r.returncode == 0 and r.stdout == "alpha\nIN_PROGRESS\n", r.stderr
        r = as_user(accounts["unmapped"], "cat projects/alpha/experiments/viamap/"
                    "iterations/new", m.path)
        assert refused(r, DENIED)
        # root acts as mapped-writer (--as): not an admin
        with pytest.raises(PermissionError):
            os.mkdir(m.p("projects", "by-root"))
        os.mkdir(m.p("projects", "alpha", "experiments", "by-root"))
    except BaseException:
        m.kill()
        raise
    m.unmount()


def test_single_user_mount_unchanged(mnt, accounts):
    """Without allow_other nothing is checked and nothing changes: root (the mounting
    account) is not limited by any user row, files show root 0644 as before, and other
    accounts are kept out by the kernel itself."""
    os.mkdir(mnt.p("projects", "solo"))
    st = os.stat(mnt.p("projects", "solo", "description"))
    assert (st.st_uid, oct(st.st_mode & 0o777)) == (0, "0o644")
    subprocess.run([BIN, "user", "--db", mnt.db, "admin", "default", "--off"],
                   capture_output=True)   # refused anyway; the mount never asks
    os.mkdir(mnt.p("projects", "solo", "experiments", "e"))
    os.chmod(os.path.dirname(mnt.root), 0o755)
    os.chmod(mnt.root, 0o755)
    r = as_user(accounts["admin"], "ls " + mnt.path, "/")
    assert refused(r, DENIED)
