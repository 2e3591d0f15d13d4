"""File and directory times on a real mount (issue 12, item 11), checked with real tools:
`rsync -a` twice, `stat`, `ls -l`.

A value file's mtime/ctime is its row's update time, so a second `rsync -a` copies exactly
what changed; a directory's mtime moves when entries come and go; nothing shows 1970.
Attributes are cached by the kernel for 0.5 s (README, Caching), so each check polls for
up to a few seconds instead of assuming the new time is visible at once.
"""
import os
import re
import time

from conftest import run
from helpers_tracking import ok, poll

SINCE_2020 = 1577836800


def mtime(path):
    return os.lstat(path).st_mtime_ns


def moves(path, before, timeout=3.0):
    """Wait until path's mtime differs from `before` (the kernel's attribute cache
    expires within 0.5 s); the new mtime, or None if it never moved."""
    got = poll(lambda: mtime(path) if mtime(path) != before else None, timeout)
    return got


def rsync(src, dst):
    """rsync -a with itemized changes; the set of regular files it transferred."""
    r = run("rsync -a -i --out-format='%%i %%n' '%s/' '%s/'" % (src, dst))
    assert r.returncode == 0, r.stderr
    return {line.split(" ", 1)[1] for line in r.stdout.splitlines()
            if line.startswith(">f")}


def make_tree(mnt):
    exp = mnt.p("projects", "p", "experiments", "e")
    ok(mnt, "mkdir projects/p projects/p/experiments/e")
    iid = open(os.path.join(exp, "iterations", "new")).read().strip()
    it = os.path.join(exp, "iterations", iid)
    ok(mnt, """cd %s && echo 0.01 > params/lr && echo 7 > params/depth
               echo first > notes && echo 0.5 >> metrics/loss""" % it)
    return exp, it


def test_second_rsync_copies_only_the_changed_value(mnt, tmp_path):
    exp, it = make_tree(mnt)
    dst = str(tmp_path / "copy")
    os.mkdir(dst)
    first = rsync(mnt.p("projects", "p"), dst)
    rel = os.path.relpath(it, mnt.p("projects", "p"))
    assert rel + "/params/lr" in first and rel + "/notes" in first
    time.sleep(0.6)   # let the kernel's attribute cache of the copied files expire
    assert rsync(mnt.p("projects", "p"), dst) == set()

    before = mtime(os.path.join(it, "params", "lr"))
    while int(time.time()) <= int(before):     # rsync compares whole seconds
        time.sleep(0.05)
    ok(mnt, "echo 0.02 > %s/params/lr" % it)     # same size as 0.01: only mtime tells
    assert moves(os.path.join(it, "params", "lr"), before)
    assert moves(os.path.join(it, "params.yaml"), mtime(os.path.join(dst, rel, "params.yaml")))
    copied = rsync(mnt.p("projects", "p"), dst)
    assert copied == {rel + "/params/lr", rel + "/params.yaml"}, copied
    assert open(os.path.join(dst, rel, "params", "lr")).read() == "0.02\n"
    assert "lr: 0.02" in open(os.path.join(dst, rel, "params.yaml")).read()


def test_value_files_times_follow_their_data(mnt):
    exp, it = make_tree(mnt)
    ok(mnt, "mkdir projects/p/models/m")
    reg = mnt.p("projects", "p", "models", "m", "versions", "new", os.path.basename(it))
    assert open(reg).read().strip() == "1"
    version = mnt.p("projects", "p", "models", "m", "versions", "1")
    writes = [
        (os.path.join(it, "params", "depth"), "echo 8 > {}"),
        (os.path.join(it, "notes"), "echo second > {}"),
        (os.path.join(it, "metrics", "loss"), "echo 0.4 >> {}"),
        (os.path.join(it, "metrics.json"), "echo 0.3 >> %s/metrics/loss" % it),
        (os.path.join(exp, "description"), "echo about > {}"),
        (mnt.p("projects", "p", "description"), "echo about > {}"),
        (os.path.join(version, "stage"), "echo STAGING > {}"),
        (os.path.join(version, "description"), "echo good > {}"),
    ]
    for path, cmd in writes:
        before = os.stat(path)
        time.sleep(0.01)
        ok(mnt, cmd.format(path))
        after = moves(path, before.st_mtime_ns)
        assert after, "%s: mtime did not move after %r" % (path, cmd)
        st = os.stat(path)
        assert st.st_ctime_ns == st.st_mtime_ns
        assert abs(st.st_mtime - time.time()) < 60, path
    # the status ends the iteration: status, ended and iteration.yaml move
    paths = [os.path.join(it, n) for n in ("status", "ended", "iteration.yaml")]
    befores = [mtime(p) for p in paths]
    time.sleep(0.01)
    ok(mnt, "echo SUCCEEDED > %s/status" % it)
    for p, b in zip(paths, befores):
        assert moves(p, b), p


def test_unchanged_files_keep_their_times(mnt):
    exp, it = make_tree(mnt)
    quiet = [os.path.join(it, "notes"), os.path.join(it, "params", "lr"),
             os.path.join(exp, "status"), os.path.join(it, "created")]
    time.sleep(0.6)
    before = [mtime(p) for p in quiet]
    ok(mnt, "cd %s && echo 0.9 > params/lr2 && echo 1 >> metrics/acc && touch tags/gold"
            " && rm params/depth" % it)
    time.sleep(0.6)   # past the attribute cache: what moved would show now
    assert [mtime(p) for p in quiet] == before


def test_directory_mtime_moves_when_entries_come_and_go(mnt):
    exp, it = make_tree(mnt)
    steps = [
        (mnt.p("projects"), "mkdir projects/q"),
        (mnt.p("projects"), "mv projects/q projects/r"),
        (mnt.p("projects"), "rmdir projects/r"),
        (os.path.join(it, "params"), "echo 1 > %s/params/new" % it),
        (os.path.join(it, "params"), "rm %s/params/new" % it),
        (os.path.join(it, "metrics"), "echo 1 >> %s/metrics/acc" % it),
        (os.path.join(it, "tags"), "touch %s/tags/gold" % it),
        (os.path.join(exp, "iterations"), "cat %s/iterations/new" % exp),
        (os.path.join(exp, "resources"), "echo bytes > %s/resources/r.bin" % exp),
        (mnt.p("models"), "mkdir projects/p/models/m"),
        (mnt.p("projects", "p", "models"), "mkdir projects/p/models/m2"),
        (mnt.p("projects", "p", "models", "m", "versions"),
         "cat projects/p/models/m/versions/new/%s" % os.path.basename(it)),
        (mnt.p("projects", "p", "models", "m", "aliases"),
         "ln -sfn ../versions/1 projects/p/models/m/aliases/best"),
        (mnt.p("projects", "p", "models", "m", "aliases"),
         "rm projects/p/models/m/aliases/best"),
    ]
    for path, cmd in steps:
        before = mtime(path)
        time.sleep(0.01)
        ok(mnt, cmd)
        assert moves(path, before), "%s: mtime did not move after %r" % (path, cmd)


def test_listing_times_match_stat_and_are_real(mnt):
    """ls -l (readdirplus: the listing's own attributes) of the root, /projects, /models,
    alias links, tags and env/ files shows real times, the same stat shows."""
    exp, it = make_tree(mnt)
    r = run("%s run %s -- true" % (os.environ.get("DEARDIARY_BIN") or
                                   os.path.join(os.path.dirname(__file__), "..", "..",
                                                "build", "deardiary"), exp))
    assert r.returncode == 0, r.stderr
    ok(mnt, "mkdir projects/p/models/m && touch %s/tags/gold" % it)
    assert open(mnt.p("projects", "p", "models", "m", "versions", "new",
                      os.path.basename(it))).read().strip() == "1"
    ok(mnt, "ln -s ../versions/1 projects/p/models/m/aliases/best")
    env_run = max((d for d in os.listdir(os.path.join(exp, "iterations"))), key=int)
    dirs = [mnt.path, mnt.p("projects"), mnt.p("models"),
            mnt.p("projects", "p", "models", "m", "aliases"), os.path.join(it, "tags"),
            os.path.join(exp, "iterations", env_run, "env")]
    now = time.time()
    for d in dirs:
        r = run("ls -la --time-style=+%%s '%s'" % d)
        assert r.returncode == 0, r.stderr
        rows = [line.split(None, 6) for line in r.stdout.splitlines()[1:]]
        assert len(rows) >= 3, r.stdout
        for row in rows:
            t, name = int(row[5]), row[6].split(" -> ")[0]
            assert SINCE_2020 < t <= now + 5, "%s/%s shows %s" % (d, name, t)
            if name not in (".", ".."):
                assert int(os.lstat(os.path.join(d, name)).st_mtime) == t, (d, name)
    assert re.search(r"\d{4}", run("ls -ld --time-style=+%Y " + mnt.path).stdout)
