"""Helpers shared by the test_tracking_*.py integration tests.

Everything here drives the mount with real tools (bash, coreutils, Python's open/os) and
checks the database only through the independent sqlite3 command-line tool.
"""
import os
import re
import stat
import subprocess
import time

from conftest import db_rows_many, run, sqlite_rows

# Tables whose rows a tracking operation may create, change or delete.
TABLES = ("project", "experiment", "iteration", "iteration_file", "parameter", "metric",
          "metric_latest", "tag", "project_tag", "experiment_tag", "iteration_tag",
          "model", "model_version", "resource")

TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def sh(mnt, script, **kw):
    """Run a bash script with the working directory at the mount root ($MNT set)."""
    env = {**os.environ, "MNT": mnt.path, "LC_ALL": "C"}
    env.update(kw.pop("env", {}))
    kw.setdefault("errors", "replace")       # messages may quote non-UTF-8 names
    r = run(script, cwd=mnt.path, env=env, **kw)
    # through a remote mount: return once its points are on the server, so the suite's
    # direct reads of the server's database (and other clients) see what this script
    # wrote, as on a local mount; the mount itself shows them at once (REMOTE.md §4.9)
    if hasattr(mnt, "delivered"):
        mnt.delivered()
    return r


def ok(mnt, script):
    """Run a bash script that must succeed; return its stdout."""
    r = sh(mnt, "set -e\n" + script)
    assert r.returncode == 0, "script failed (%d):\n%s\nstderr:\n%s" % (r.returncode, script,
                                                                         r.stderr)
    return r.stdout


def refused(mnt, script, message):
    """Run a bash command line that must fail and print `message` on stderr."""
    r = sh(mnt, script)
    assert r.returncode != 0, "expected %r to fail, it succeeded (stdout %r)" % (script,
                                                                                r.stdout)
    assert message in r.stderr, "expected %r in the error of %r, got %r" % (message, script,
                                                                            r.stderr)
    return r


def counts(db):
    """Row count of every tracking table, read with the sqlite3 CLI."""
    sql = " UNION ALL ".join("SELECT '%s', COUNT(*) FROM %s" % (t, t) for t in TABLES)
    return {name: int(n) for name, n in sqlite_rows(db, sql)}


def snapshot(db):
    """Every row of every tracking table (ordered), as text: equal snapshots mean nothing
    changed."""
    return dict(zip(TABLES, db_rows_many(db, ["SELECT * FROM %s ORDER BY 1, 2" % t
                                              for t in TABLES])))


def make_run(mnt, project="proj", experiment="exp"):
    """mkdir a project and an experiment (if missing) and clone one iteration.
    Returns (experiment path, iteration path, iteration id) relative to the mount root."""
    exp = "projects/%s/experiments/%s" % (project, experiment)
    out = ok(mnt, 'mkdir -p "projects/%s"\n[ -d "%s" ] || mkdir "%s"\ncat "%s/iterations/new"'
             % (project, exp, exp, exp))
    iid = out.strip()
    assert iid.isdigit(), out
    return exp, "%s/iterations/%s" % (exp, iid), iid


def read(mnt, rel):
    with open(mnt.p(rel), "rb") as f:
        return f.read()


def mode(mnt, rel):
    return stat.S_IMODE(os.lstat(mnt.p(rel)).st_mode)


def sig_digits(s):
    """The significant digits of a decimal number's text ("100" and "1e+02" -> "1",
    "0.30000000000000004" -> "30000000000000004")."""
    mant = s.lower().split("e")[0].lstrip("+-").replace(".", "")
    return mant.lstrip("0").rstrip("0") or "0"


def parse_metric(text):
    """Parse a metric file's text: every line must be '<step> <value> <recorded_at>'."""
    points = []
    for line in text.splitlines():
        parts = line.split(" ")
        assert len(parts) == 3, "torn or malformed line %r" % line
        step, value, ts = parts
        assert re.fullmatch(r"-?\d+", step), line
        assert TS_RE.match(ts), line
        points.append((int(step), float(value), ts, value))
    return points


def poll(fn, timeout):
    """Call fn until it returns a truthy value or `timeout` seconds pass; return the last
    value."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(0.02)


def walk(root):
    """Every path below root (relative), with ('dir'|'file'|'link', payload): file bytes
    and link targets. Does not follow symlinks."""
    out = {}
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(d, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", None)
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    out[rel] = ("file", f.read())
            else:
                out[rel] = ("other", st.st_mode)
    return out


def mounted_in_proc(path):
    """How many mounts /proc/mounts lists on this path (stacked mounts count twice)."""
    with open("/proc/mounts") as f:
        return sum(1 for line in f if line.split()[1] == path)


def detach_all(path):
    """Lazily detach every mount stacked on path (cleanup after a failed test)."""
    for _ in range(5):
        if not mounted_in_proc(path):
            return
        subprocess.run(["fusermount3", "-u", "-z", path], capture_output=True)


def populate(mnt):
    """A populated tree: two projects, experiments, parent/child iterations, params,
    metrics, tags, descriptions, an ended iteration. Returns a dict of useful paths."""
    ok(mnt, r"""
    mkdir projects/alpha projects/beta
    mkdir projects/alpha/experiments/sweep projects/alpha/experiments/grid
    mkdir projects/beta/experiments/solo
    echo "Fraud detection" > projects/alpha/description
    echo "a depth sweep" > projects/alpha/experiments/sweep/description
    touch projects/alpha/tags/team-a projects/alpha/experiments/sweep/tags/nightly
    e=projects/alpha/experiments/sweep
    a=$(cat $e/iterations/new)
    b=$(cat $e/iterations/$a/children/new)
    echo 7 > $e/iterations/$a/params/max_depth
    echo gini > $e/iterations/$a/params/criterion
    printf '0.5\n0.75\n0.875\n' >> $e/iterations/$a/metrics/accuracy
    /usr/bin/printf '0 2.5\n1 1.25 2026-01-02T03:04:05Z\n' >> $e/iterations/$a/metrics/loss
    echo "first try" > $e/iterations/$a/notes
    touch $e/iterations/$a/tags/gold
    echo 3 > $e/iterations/$b/params/max_depth
    echo 0.1 >> $e/iterations/$b/metrics/accuracy
    echo "diverged" > $e/iterations/$b/error_message
    echo FAILED > $e/iterations/$b/status
    g=projects/alpha/experiments/grid
    c=$(cat $g/iterations/new)
    echo 0.001 > $g/iterations/$c/params/lr
    for i in $(seq 1 50); do echo "0.$i" >> $g/iterations/$c/metrics/val_loss; done
    s=projects/beta/experiments/solo
    d=$(cat $s/iterations/new)
    echo STOPPED > $s/status
    echo "$a $b $c $d"
    """)
    a, b, c, d = sqlite_rows(mnt.db, "SELECT id FROM iteration ORDER BY id")
    return {"a": a[0], "b": b[0], "c": c[0], "d": d[0]}
