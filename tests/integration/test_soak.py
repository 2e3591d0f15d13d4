"""Bounded concurrency soak: 16 processes mix creates, appends, parameter writes, version
registrations, promotions, renames and deletes against one mount for DD_SOAK_SECONDS
(60 s; 20 s with DD_TEST_QUICK), while a loop runs `deardiary register` on the same
database file. Every error a worker sees must be one the README's table documents for
that operation (ENOENT is always possible: another worker may have deleted the thing); at
the end the engine's own checks pass (SQLite's integrity_check, PostgreSQL's amcheck), the registry invariants hold, `deardiary fsck`
is clean and the daemon exits cleanly on unmount (no sanitizer output: conftest checks).
"""
import json
import os
import random
import subprocess
import sys
import time

from conftest import BIN, sqlite_rows
from helpers_registry import mounted, ok
from helpers_reliability import assert_fsck_clean, integrity_ok, invariant_violations

SECONDS = float(os.environ.get("DD_SOAK_SECONDS") or (20 if os.environ.get("DD_TEST_QUICK")
                                                      else 60))
WORKERS = 16
PROJECTS = ("s0", "s1")

# The worker: random operations on a shared namespace until the deadline. Allowed errnos
# per operation are those the README's "Operations and what they do" table documents,
# plus ENOENT (the target was deleted or renamed by another worker meanwhile).
WORKER = r"""
import errno, json, os, random, subprocess, sys, time
root, seed, deadline, out = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
rnd = random.Random(seed)
E = errno
ALLOWED = {
    "mkdir project": {E.EEXIST},
    "mkdir experiment": {E.EEXIST},
    "mkdir model": {E.EEXIST},
    "new iteration": {E.EINVAL},                 # experiment not IN_PROGRESS
    "metric append": {E.EROFS},
    "param write": {E.EROFS},
    "end iteration": {E.EROFS},
    "experiment status": set(),
    "resource write": {E.EBUSY, E.EINVAL},       # used by a version / not IN_PROGRESS
    "register version": {E.EINVAL},              # iteration of another project
    "promote": set(),
    "alias": {E.EEXIST},                         # ln -sfn is unlink + symlink: racy
    "rename experiment": {E.ENOTEMPTY},          # target exists
    "rename resource": {E.EBUSY, E.ENOTEMPTY, E.EEXIST},
    "rm -r iteration": {E.EBUSY, E.ENOTEMPTY},
    "rm -r experiment": {E.EBUSY, E.ENOTEMPTY},
    "rm -r project": {E.EBUSY, E.ENOTEMPTY},
    # a model deleted and made again by others reuses the names (versions restart at 1):
    # the directory rm finally removes is then a new one, not empty
    "rm -r version": {E.ENOTEMPTY},
    "rm -r model": {E.ENOTEMPTY},
    "rm metric": {E.EROFS},
    "read": set(),
}
MESSAGES = {os.strerror(n): n for n in range(1, 134)}
stats, bad = {}, []

def p(*parts):
    return os.path.join(root, *parts)

def ls(path):
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []

def pick(seq):
    return rnd.choice(seq) if seq else None

def attempt(op, fn):
    try:
        fn()
        stats[op] = stats.get(op, 0) + 1
    except OSError as e:
        if e.errno != E.ENOENT and e.errno not in ALLOWED[op]:
            bad.append([op, errno.errorcode.get(e.errno, str(e.errno)), str(e)])
    except Exception as e:   # a malformed answer is an error too
        bad.append([op, type(e).__name__, str(e)])

def rm_r(op, path):
    def run():
        r = subprocess.run(["rm", "-r", path], capture_output=True, text=True)
        if r.returncode:
            # rm goes on after an error; its first one is the refusal (a refused rm -r
            # refuses the rest of itself), what follows is that refusal repeated below
            first = r.stderr.strip().splitlines()[0]
            code = MESSAGES.get(first.rsplit(": ", 1)[-1], -1)
            # another worker deleted (part of) the tree under this rm: rm's stat of an
            # entry failed, so it unlinks it as a file, and the kernel, still holding the
            # directory's cached name, answers EISDIR itself. rm only ever unlinks a
            # directory after such a failed stat (readdir types are right: every other
            # test's rm -r would fail otherwise), so EISDIR here is that race's ENOENT.
            if code == E.EISDIR:
                code = E.ENOENT
            raise OSError(code, first)
    attempt(op, run)

def write(path, text, mode="w"):
    with open(path, mode) as f:
        f.write(text)

def read(path):
    with open(path) as f:
        return f.read()

def some_experiment():
    pr = rnd.choice(PROJECTS)
    e = pick(ls(p("projects", pr, "experiments")))
    return (pr, e) if e else (pr, None)

def some_iteration():
    pr, e = some_experiment()
    if not e:
        return pr, None, None
    i = pick([x for x in ls(p("projects", pr, "experiments", e, "iterations"))])
    return pr, e, i

PROJECTS = ("s0", "s1")

def step():
    r = rnd.random()
    pr, e, i = some_iteration()
    exp = p("projects", pr, "experiments", e) if e else None
    it = p(exp, "iterations", i) if i else None
    if r < 0.04:
        attempt("mkdir project", lambda: os.mkdir(p("projects", pr)))
    elif r < 0.10:
        attempt("mkdir experiment",
                lambda: os.mkdir(p("projects", pr, "experiments", "e%d" % rnd.randrange(6))))
    elif r < 0.13:
        attempt("mkdir model",
                lambda: os.mkdir(p("projects", pr, "models", "%sm%d" % (pr, rnd.randrange(2)))))
    elif r < 0.22 and exp:
        def new():
            n = read(p(exp, "iterations", "new")).strip()
            assert n.isdigit(), n
        attempt("new iteration", new)
    elif r < 0.45 and it:
        key = "k%d" % rnd.randrange(3)
        attempt("metric append",
                lambda: write(p(it, "metrics", key), "%.3f\n" % rnd.random(), "a"))
    elif r < 0.52 and it:
        attempt("param write",
                lambda: write(p(it, "params", "p%d" % rnd.randrange(3)), "%d\n" % rnd.randrange(99)))
    elif r < 0.54 and it:
        attempt("end iteration", lambda: write(p(it, "status"), "SUCCEEDED\n"))
    elif r < 0.55 and exp:
        attempt("experiment status", lambda: write(p(exp, "status"), rnd.choice(
            ["IN_PROGRESS\n", "IN_PROGRESS\n", "STOPPED\n"])))
    elif r < 0.60 and exp:
        attempt("resource write", lambda: write(p(exp, "resources", "r%d" % rnd.randrange(3)),
                                                "x" * rnd.randrange(1, 3000)))
    elif r < 0.67 and i:
        model = "%sm%d" % (pr, rnd.randrange(2))
        res = pick(ls(p(exp, "resources")))
        spec = i + (":" + res if res and rnd.random() < 0.5 else "")
        def reg():
            n = read(p("projects", pr, "models", model, "versions", "new", spec)).strip()
            assert n.isdigit(), n
        attempt("register version", reg)
    elif r < 0.78:
        model = "%sm%d" % (pr, rnd.randrange(2))
        v = pick([x for x in ls(p("projects", pr, "models", model, "versions"))])
        if v:
            attempt("promote", lambda: write(p("projects", pr, "models", model, "versions", v,
                                                 "stage"),
                                               rnd.choice(["PRODUCTION\n", "PRODUCTION\n",
                                                           "STAGING\n", "ARCHIVED\n"])))
    elif r < 0.80:
        model = "%sm%d" % (pr, rnd.randrange(2))
        v = pick(ls(p("projects", pr, "models", model, "versions")))
        if v:
            def alias():
                r = subprocess.run(["ln", "-sfn", "../versions/" + v,
                                    p("projects", pr, "models", model, "aliases", "champion")],
                                   capture_output=True, text=True)
                if r.returncode:
                    first = r.stderr.strip().splitlines()[0]
                    raise OSError(MESSAGES.get(first.rsplit(": ", 1)[-1], -1), first)
            attempt("alias", alias)
    elif r < 0.84 and e:
        attempt("rename experiment", lambda: os.rename(
            exp, p("projects", pr, "experiments", "e%d" % rnd.randrange(6))))
    elif r < 0.87 and exp:
        res = pick(ls(p(exp, "resources")))
        if res:
            attempt("rename resource", lambda: os.rename(
                p(exp, "resources", res), p(exp, "resources", "r%d" % rnd.randrange(3))))
    elif r < 0.91 and it:
        rm_r("rm -r iteration", it)
    elif r < 0.93 and exp:
        rm_r("rm -r experiment", exp)
    elif r < 0.935:
        rm_r("rm -r project", p("projects", pr))
    elif r < 0.96:
        model = "%sm%d" % (pr, rnd.randrange(2))
        v = pick(ls(p("projects", pr, "models", model, "versions")))
        if v:
            rm_r("rm -r version", p("projects", pr, "models", model, "versions", v))
    elif r < 0.965:
        rm_r("rm -r model", p("projects", pr, "models", "%sm%d" % (pr, rnd.randrange(2))))
    elif r < 0.97 and it:
        attempt("rm metric", lambda: os.unlink(p(it, "metrics", "k%d" % rnd.randrange(3))))
    elif it:
        def look():
            for name in ("metrics.json", "params.yaml", "iteration.yaml"):
                read(p(it, name))
        attempt("read", look)

while time.time() < deadline:
    step()
with open(out, "w") as f:
    json.dump({"stats": stats, "bad": bad}, f)
"""

# `deardiary register` straight on the database file, racing the mount.
CLI_OK = ("not found", "belongs to another project")


def cli_loop(db, deadline, rnd):
    """Register versions with the command line until the deadline; returns (successes,
    unexpected failures)."""
    good, bad = 0, []
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEARDIARY_")}
    while time.time() < deadline:
        top = sqlite_rows(db, "SELECT COALESCE(MAX(id), 1) FROM iteration")[0][0]
        pr = rnd.choice(PROJECTS)
        model = "%sm%d" % (pr, rnd.randrange(2))
        r = subprocess.run([BIN, "register", "--db", db, model, str(rnd.randint(1, int(top)))],
                           capture_output=True, text=True, env=env)
        if r.returncode == 0 and r.stdout.strip().isdigit():
            good += 1
        elif r.returncode == 1 and any(s in r.stderr for s in CLI_OK):
            pass
        else:
            bad.append((r.returncode, r.stdout, r.stderr))
        time.sleep(0.05)
    return good, bad


def test_soak(tmp_path):
    rnd = random.Random(20261123)
    with mounted(str(tmp_path)) as m:
        for pr in PROJECTS:
            ok(m, "mkdir projects/%s projects/%s/models/%sm0 projects/%s/models/%sm1\n"
                  "for e in e0 e1 e2; do mkdir projects/%s/experiments/$e;"
                  " cat projects/%s/experiments/$e/iterations/new; done"
               % (pr, pr, pr, pr, pr, pr, pr))
        deadline = time.time() + SECONDS
        outs = [str(tmp_path / ("w%d.json" % w)) for w in range(WORKERS)]
        procs = [subprocess.Popen([sys.executable, "-c", WORKER, m.path, str(w),
                                   repr(deadline), outs[w]]) for w in range(WORKERS)]
        try:
            cli_good, cli_bad = cli_loop(m.db, deadline, rnd)
            for p in procs:
                assert p.wait(timeout=SECONDS + 120) == 0
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        stats, bad = {}, []
        for path in outs:
            with open(path) as f:
                r = json.load(f)
            for k, n in r["stats"].items():
                stats[k] = stats.get(k, 0) + n
            bad += r["bad"]
        assert not bad, "undocumented errors (%d), first ones:\n%s" % (
            len(bad), "\n".join(map(str, bad[:20])))
        assert not cli_bad, "deardiary register failed unexpectedly:\n%s" % cli_bad[:5]
        # the soak did the work it claims: every kind of operation succeeded
        for op in ("mkdir experiment", "new iteration", "metric append", "param write",
                   "register version", "promote", "rename experiment", "rm -r iteration",
                   "rm -r version", "resource write"):
            assert stats.get(op, 0) > 0, (op, stats)
        assert cli_good > 0
        print("soak: %d s, %d operations; register from the CLI: %d" % (
            SECONDS, sum(stats.values()), cli_good), stats)
        # fsck while mounted: read-only, and the mount is idle now
        assert_fsck_clean(m.db)
    integrity_ok(m.db)
    assert invariant_violations(m.db) == {}
    assert_fsck_clean(m.db)
