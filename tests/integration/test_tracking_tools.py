"""Ordinary tools over the mount: tar, rsync, find, grep -r, cp, os.listdir, and a second
mount of the same database."""
import os

from conftest import Mount, db_exec, sqlite_rows
from helpers_tracking import counts, make_run, ok, poll, populate, read, run, walk

# conftest: each test that takes `mnt` runs over a local and a remote mount
REMOTE = True
REMOTE_NOT_YET = {}  # test -> why it cannot run remote yet


def assert_same_tree(src, dst):
    a, b = walk(src), walk(dst)
    assert sorted(a) == sorted(b)
    for rel in a:
        assert a[rel] == b[rel], rel
    return a


def test_tar_out_and_extract_byte_equal(mnt):
    populate(mnt)
    out = os.path.join(mnt.root, "untar")
    os.mkdir(out)
    before = counts(mnt.db)
    r = run("tar -C '%s' -cf '%s/alpha.tar' projects/alpha && tar -C '%s' -xf '%s/alpha.tar'"
            % (mnt.path, mnt.root, out, mnt.root))
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""                      # no "file changed as we read it"
    tree = assert_same_tree(mnt.p("projects", "alpha"), os.path.join(out, "projects",
                                                                       "alpha"))
    kinds = [k for k, _ in tree.values()]
    assert kinds.count("link") >= 1 and kinds.count("file") > 30    # parent (children/<id> are files)
    r = run("diff -r --no-dereference '%s' '%s'" % (mnt.p("projects", "alpha"),
                                                   os.path.join(out, "projects", "alpha")))
    assert r.returncode == 0, r.stdout + r.stderr
    assert counts(mnt.db) == before


def test_rsync_a_out_equal(mnt):
    populate(mnt)
    dst = os.path.join(mnt.root, "copy")
    before = counts(mnt.db)
    r = run("rsync -a '%s/projects/' '%s/'" % (mnt.path, dst))
    assert r.returncode == 0, r.stderr
    assert_same_tree(mnt.p("projects"), dst)
    # modes came along: read-only files stay read-only
    created = os.path.join(dst, "alpha", "created")
    assert oct(os.stat(created).st_mode & 0o777) == "0o444"
    # a second rsync finds nothing to transfer
    r = run("rsync -a --itemize-changes '%s/projects/' '%s/'" % (mnt.path, dst))
    assert r.returncode == 0 and r.stdout.strip() == "", r.stdout
    assert counts(mnt.db) == before


def test_find_lists_everything(mnt):
    ids = populate(mnt)
    out = ok(mnt, "find . | sort")
    listed = set(out.splitlines())
    expected = {"./" + rel for rel in walk(mnt.path)} | {"."}
    assert listed == expected
    e = "./projects/alpha/experiments/sweep/iterations/"
    for p in (e + ids["a"] + "/params/max_depth", e + ids["a"] + "/metrics/loss",
              e + ids["b"] + "/parent", e + ids["a"] + "/children/" + ids["b"],
              e + ids["a"] + "/tags/gold", "./projects/alpha/tags/team-a",
              e + ids["a"] + "/env/git_sha"):
        assert p in listed, p
    assert not any(p.endswith("/new") for p in listed)
    out = ok(mnt, "find projects -type l")
    assert len(out.splitlines()) == 1          # parent (children/<id> are files: no cycle)
    out = ok(mnt, "find projects -name max_depth -type f | wc -l")
    assert out.strip() == "2"


def test_grep_r_finds_a_metric_value(mnt):
    ids = populate(mnt)
    out = ok(mnt, "grep -r -l ' 0.875 ' projects")
    assert out.splitlines() == ["projects/alpha/experiments/sweep/iterations/%s/metrics/"
                                "accuracy" % ids["a"]]
    out = ok(mnt, "grep -r -h '0.875' projects | sort")
    assert any(line.startswith("2 0.875 ") for line in out.splitlines())
    assert '"accuracy": 0.875' in out


def test_cp_param_out(mnt):
    exp, run_, iid = make_run(mnt)
    dst = os.path.join(mnt.root, "max_depth.txt")
    ok(mnt, "echo 7 > %s/params/max_depth\ncp %s/params/max_depth '%s'" % (run_, run_, dst))
    with open(dst, "rb") as f:
        assert f.read() == b"7\n"
    ok(mnt, "cp -r %s/params '%s/params-copy'" % (run_, mnt.root))
    assert os.listdir(os.path.join(mnt.root, "params-copy")) == ["max_depth"]


def test_python_listdir(mnt):
    exp, run_, iid = make_run(mnt, "p", "e")
    ok(mnt, "echo 1 > %s/params/a\necho 2 > %s/params/b\necho 0.5 >> %s/metrics/m"
       % (run_, run_, run_))
    assert sorted(os.listdir(mnt.path)) == ["models", "projects"]
    assert os.listdir(mnt.p("projects")) == ["p"]
    assert sorted(os.listdir(mnt.p(run_, "params"))) == ["a", "b"]
    assert os.listdir(mnt.p(run_, "metrics")) == ["m", "m.svg"]
    assert sorted(os.listdir(mnt.p(run_))) == sorted(
        ["children", "created", "ended", "env", "error_message", "iteration.yaml",
         "metrics", "metrics.json", "notes", "params", "params.yaml", "status", "tags"])
    with os.scandir(mnt.p(run_)) as it:
        kinds = {e.name: e.is_dir(follow_symlinks=False) for e in it}
    assert kinds["params"] and kinds["env"] and not kinds["status"]


def test_change_through_second_mount_visible_within_a_second(mnt, tmp_path):
    exp, run_, iid = make_run(mnt, "p", "e")
    ok(mnt, "echo 1 > %s/params/lr\necho 0.5 >> %s/metrics/loss" % (run_, run_))
    # prime the first mount's caches, including a negative lookup
    assert read(mnt, run_ + "/params/lr") == b"1\n"
    assert not os.path.exists(mnt.p(run_, "params", "momentum"))
    assert os.listdir(mnt.p("projects")) == ["p"]
    os.stat(mnt.p(run_, "notes"))
    second_root = tmp_path / "second"
    second_root.mkdir()
    m2 = Mount(str(second_root), db=mnt.db)
    try:
        r = run("""set -e
        cd '%s'
        echo 2 > %s/params/lr
        echo 0.9 > %s/params/momentum
        echo 0.25 >> %s/metrics/loss
        mkdir projects/q
        echo SUCCEEDED > %s/status
        """ % (m2.path, run_, run_, run_, run_))
        assert r.returncode == 0, r.stderr

        def visible():
            try:
                return (read(mnt, run_ + "/params/lr") == b"2\n"
                        and os.path.exists(mnt.p(run_, "params", "momentum"))
                        and read(mnt, run_ + "/metrics/loss").count(b"\n") == 2
                        and sorted(os.listdir(mnt.p("projects"))) == ["p", "q"]
                        and os.stat(mnt.p(run_, "notes")).st_mode & 0o777 == 0o444
                        and read(mnt, run_ + "/status") == b"SUCCEEDED\n")
            except OSError:
                return False
        assert poll(visible, 1.0)
    finally:
        m2.unmount()
    assert sqlite_rows(mnt.db, "SELECT COUNT(*) FROM project") == [["2"]]


def test_change_from_sqlite_cli_visible_within_a_second(mnt):
    exp, run_, iid = make_run(mnt, "p", "e")
    ok(mnt, "echo 1 > %s/params/lr" % run_)
    assert read(mnt, run_ + "/params/lr") == b"1\n"
    db_exec(mnt.db, "UPDATE parameter SET value = '3' WHERE key = 'lr'")

    def visible():
        return read(mnt, run_ + "/params/lr") == b"3\n" and \
            os.stat(mnt.p(run_, "params", "lr")).st_size == 2
    assert poll(visible, 1.0)


def test_rename_through_second_mount_visible(mnt, tmp_path):
    make_run(mnt, "before", "e")
    assert os.path.isdir(mnt.p("projects", "before", "experiments", "e"))
    second_root = tmp_path / "second"
    second_root.mkdir()
    m2 = Mount(str(second_root), db=mnt.db)
    try:
        r = run("mv '%s/projects/before' '%s/projects/after'" % (m2.path, m2.path))
        assert r.returncode == 0, r.stderr

        def visible():
            return (not os.path.exists(mnt.p("projects", "before"))
                    and os.path.isdir(mnt.p("projects", "after", "experiments", "e")))
        assert poll(visible, 1.0)
    finally:
        m2.unmount()
