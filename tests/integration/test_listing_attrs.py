"""What `ls -l` shows through a real mount is what `stat` of each entry shows (issue 14).

Listings hand the kernel every entry's attributes (READDIRPLUS), and the daemon keeps
them for the getattr that follows (fs/attr_cache.c), so `ls -l` costs one listing. These
tests check that those attributes are right: each directory is listed with GNU `ls -l`
on one mount and every entry is `stat`ed on a second, fresh mount of the same database
(whose daemon never listed it, so each answer comes from the store); after a write the
new size shows at once through the mount written to, within the cache timeout (0.5 s,
README "Caching") through another, and at once on a shared (`allow_other`) mount, whose
timeouts are 0.
"""
import os
import shutil
import tempfile

import pytest

from conftest import Mount, run
from helpers_tracking import ok, poll

N_PARAMS = 30
N_METRICS = 30
N_MODELS = 5
N_VERSIONS = 6


def ls_l(path):
    """{name: (mode string, size, mtime as 'seconds.nanoseconds')} from GNU ls -l."""
    r = run("LC_ALL=C ls -l -n --time-style=+%s.%N '" + path + "/'")   # / : a link's target
    assert r.returncode == 0, r.stderr
    out = {}
    for line in r.stdout.splitlines()[1:]:           # "total N" first
        f = line.split(None, 6)
        name = f[6].split(" -> ")[0]
        out[name] = (f[0], int(f[4]), f[5])
    return out


def stat_of(path):
    """The same three fields from GNU stat (lstat: a symlink's own attributes)."""
    r = run("LC_ALL=C stat -c '%A %s %.9Y' '" + path + "'")
    assert r.returncode == 0, r.stderr
    mode, size, mtime = r.stdout.split()
    return (mode, int(size), mtime)


def seed(m):
    ok(m, "mkdir projects/p projects/p/experiments/e")
    iid = ok(m, "cat projects/p/experiments/e/iterations/new").strip()
    run_dir = "projects/p/experiments/e/iterations/" + iid
    script = ["cd " + run_dir]
    for i in range(N_PARAMS):
        script.append("echo %d > params/lr%02d" % (i * 1000, i))
    for i in range(N_METRICS):
        script.append("echo '%d 0.%d' >> metrics/loss%02d" % (i, i, i))
    script.append("touch tags/nightly tags/gpu")
    ok(m, "\n".join(script))
    for _ in range(3):
        ok(m, "cat projects/p/experiments/e/iterations/new > /dev/null")
    for j in range(N_MODELS):
        ok(m, "mkdir projects/p/models/m%d" % j)
    for _ in range(N_VERSIONS):
        ok(m, "cat models/m0/versions/new/%s > /dev/null" % iid)
    ok(m, "ln -s ../versions/2 models/m0/aliases/champion")
    return run_dir


def dirs_of(run_dir):
    return [run_dir + "/params", run_dir + "/metrics", run_dir + "/tags", run_dir,
            run_dir + "/env", "projects/p/experiments/e/iterations", "projects/p/experiments/e",
            "projects", "projects/p/experiments", "projects/p/models", "models",
            "models/m0/versions", "models/m0/aliases", "models/m0/versions/1", "models/m0"]


@pytest.fixture
def two_mounts(tmp_path):
    """Two daemons on one database: (a, b)."""
    a = Mount(str(tmp_path / "a"), db=str(tmp_path / "registry.db"))
    b = None
    try:
        b = Mount(str(tmp_path / "b"), db=str(tmp_path / "registry.db"))
        yield a, b
    except BaseException:
        a.kill()
        if b:
            b.kill()
        raise
    b.unmount()
    a.unmount()


def test_ls_l_shows_what_stat_shows(two_mounts):
    a, b = two_mounts
    run_dir = seed(a)
    for d in dirs_of(run_dir):
        listed = ls_l(a.p(d))
        assert listed, d
        fresh = {name: stat_of(b.p(d, name)) for name in listed}
        assert listed == fresh, d
        # and a stat through the mount that listed agrees too (its answers now come from
        # what the listing left in the kernel and the daemon)
        assert {name: stat_of(a.p(d, name)) for name in listed} == listed, d
    assert len(ls_l(a.p(run_dir, "params"))) == N_PARAMS
    assert len(ls_l(a.p("models"))) == N_MODELS


def test_a_write_shows_after_a_listing(two_mounts):
    a, b = two_mounts
    run_dir = seed(a)
    params = a.p(run_dir, "params")
    assert ls_l(params)["lr01"][1] == len("1000\n")
    # through the mount that listed: at once
    ok(a, "echo 123456789 > %s/params/lr01" % run_dir)
    assert stat_of(a.p(run_dir, "params", "lr01"))[1] == 10
    assert ls_l(params)["lr01"][1] == 10
    metrics = a.p(run_dir, "metrics")
    before = ls_l(metrics)["loss01"][1]
    ok(a, "echo '7 0.5' >> %s/metrics/loss01" % run_dir)
    assert stat_of(a.p(run_dir, "metrics", "loss01"))[1] > before
    # through another mount: within the timeout, never stale for good
    ls_l(params)
    ok(b, "echo 12 > %s/params/lr02" % run_dir)
    assert poll(lambda: stat_of(a.p(run_dir, "params", "lr02"))[1] == 3, 3.0)
    assert poll(lambda: ls_l(params)["lr02"][1] == 3, 3.0)


@pytest.fixture
def shared_and_plain():
    """A shared mount (allow_other: timeouts 0) and a plain one, on one database."""
    d = tempfile.mkdtemp(prefix="ddl_", dir="/tmp")
    os.chmod(d, 0o755)
    db = os.path.join(d, "registry.db")
    a = b = None
    try:
        os.makedirs(os.path.join(d, "a"))
        os.chmod(os.path.join(d, "a"), 0o755)
        a = Mount(os.path.join(d, "a"), db=db, extra_args=("-o", "allow_other"))
        b = Mount(os.path.join(d, "b"), db=db)
        yield a, b
    except BaseException:
        for m in (a, b):
            if m:
                m.kill()
        shutil.rmtree(d, ignore_errors=True)
        raise
    b.unmount()
    a.unmount()
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="allow_other needs root (or user_allow_other)")
def test_shared_mount_is_never_stale(shared_and_plain):
    a, b = shared_and_plain
    run_dir = seed(b)
    params, metrics = a.p(run_dir, "params"), a.p(run_dir, "metrics")
    for _ in range(3):
        listed = ls_l(params)
        assert len(listed) == N_PARAMS
        assert {n: stat_of(os.path.join(params, n)) for n in listed} == listed
        size = ls_l(metrics)["loss03"][1]
        # another daemon writes; the shared mount shows it at once, listing or stat
        ok(b, "echo 99999 > %s/params/lr03; echo '9 0.25' >> %s/metrics/loss03"
           % (run_dir, run_dir))
        assert stat_of(os.path.join(params, "lr03"))[1] == 6
        assert ls_l(params)["lr03"][1] == 6
        assert stat_of(os.path.join(metrics, "loss03"))[1] > size
        ok(b, "echo 1 > %s/params/lr03" % run_dir)
        assert stat_of(os.path.join(params, "lr03"))[1] == 2
