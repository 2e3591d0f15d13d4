"""Symlinks, aliases and removals as real tools see them (issue 12): link targets are
complete for every legal name, `ln -sfn` moves an alias without leaving its temporary
link behind, aliases only take `../versions/N`, the tree has no symlink cycles for
`find -L` and friends, and `rm` deletes what it says it deleted."""
import errno
import os
import subprocess

from helpers_registry import make_run, ok, pattern, put, read, register, sh, snapshot


def test_long_names_give_complete_link_targets(mnt):
    """Targets longer than 255 bytes are neither cut nor pointed elsewhere: with a long
    experiment name, the version's `resource` once resolved to a shorter resource whose
    name is a prefix of the real one, and /models/<m> dangled."""
    project, experiment, model = "p" * 255, "e" * 200, "m" * 255
    short, long_ = "x" * 20, "x" * 240          # `short` is a prefix of `long_`
    exp, iid = make_run(mnt, project, experiment)
    put(mnt, "%s/resources/%s" % (exp, short), pattern(1, 5000))
    put(mnt, "%s/resources/%s" % (exp, long_), pattern(2, 7000))
    ok(mnt, 'mkdir "projects/%s/models/%s"' % (project, model))
    n = register(mnt, model, iid, long_)
    v = mnt.p("models", model, "versions", str(n))
    want = "../../../../experiments/%s/resources/%s" % (experiment, long_)
    assert len(want) > 255
    assert os.readlink(os.path.join(v, "resource")) == want
    assert os.lstat(os.path.join(v, "resource")).st_size == len(want)   # stat == readlink
    with open(os.path.join(v, "resource"), "rb") as f:
        assert f.read() == pattern(2, 7000)
    assert read(mnt, "models/%s/versions/%d/artifact" % (model, n)) == pattern(2, 7000)
    it = os.path.join(v, "iteration")
    assert os.readlink(it) == "../../../../experiments/%s/iterations/%s" % (experiment, iid)
    assert os.path.samefile(it, mnt.p(exp, "iterations", iid))
    link = mnt.p("models", model)
    assert os.readlink(link) == "../projects/%s/models/%s" % (project, model)
    assert os.lstat(link).st_size == len(os.readlink(link))
    assert os.path.isdir(link)
    # the shell tools agree with each other
    assert ok(mnt, 'readlink "models/%s/versions/%d/resource"' % (model, n)) == want + "\n"
    assert ok(mnt, 'cmp "models/%s/versions/%d/resource" "%s/resources/%s" && echo same'
              % (model, n, exp, long_)) == "same\n"


def two_models(mnt):
    """Model m with versions 1 and 2, model other with version 1."""
    exp, iid = make_run(mnt)
    put(mnt, "%s/resources/r" % exp, pattern(3, 1000))
    ok(mnt, "mkdir projects/p/models/m projects/p/models/other")
    assert [register(mnt, "m", iid, "r"), register(mnt, "m", iid, "r"),
            register(mnt, "other", iid, "r")] == [1, 2, 1]


def test_ln_sfn_to_the_same_version_leaves_one_alias(mnt):
    """`ln -sfn` makes a temporary link and renames it over the alias; when both point at
    the same version, that rename used to be skipped by the kernel (one inode) and the
    temporary alias stayed: three runs left four aliases."""
    two_models(mnt)
    for _ in range(3):
        ok(mnt, "ln -sfn ../versions/1 models/m/aliases/champion")
    assert os.listdir(mnt.p("models/m/aliases")) == ["champion"]
    assert os.readlink(mnt.p("models/m/aliases/champion")) == "../versions/1"
    ok(mnt, "ln -sfn ../versions/2 models/m/aliases/champion\n"
            "ln -sfn ../versions/2 models/m/aliases/champion\n"
            "ln -sfn ../versions/2 models/m/aliases/challenger")
    assert sorted(os.listdir(mnt.p("models/m/aliases"))) == ["challenger", "champion"]
    assert os.readlink(mnt.p("models/m/aliases/champion")) == "../versions/2"
    rows = snapshot(mnt.db)["model_alias"]
    assert sorted(r[2] for r in rows) == ["challenger", "champion"], rows
    # two aliases of one version are two files, not two names of one inode
    a, b = (os.lstat(mnt.p("models/m/aliases", n)) for n in ("champion", "challenger"))
    assert a.st_ino != b.st_ino
    # mv of one alias over another is rename(2): the target name is replaced
    ok(mnt, "ln -sfn ../versions/1 models/m/aliases/old\n"
            "mv -T models/m/aliases/old models/m/aliases/champion")
    assert sorted(os.listdir(mnt.p("models/m/aliases"))) == ["challenger", "champion"]
    assert os.readlink(mnt.p("models/m/aliases/champion")) == "../versions/1"
    assert read(mnt, "models/m/aliases/champion/artifact") == pattern(3, 1000)


def test_alias_targets_other_than_versions_n_are_refused(mnt):
    """Only `../versions/N` resolves from aliases/ to a version of this model; another
    model's version, or another spelling, was read by its last part and aliased the
    wrong version."""
    two_models(mnt)
    ok(mnt, "ln -sfn ../versions/2 models/m/aliases/champion")
    before = snapshot(mnt.db)
    for target in (mnt.p("models/other/versions/1"), "../../other/versions/1",
                   "versions/1", "1", "../versions/01", "./../versions/1",
                   mnt.p("models/m/versions/1")):
        for cmd in ("ln -s", "ln -sfn"):
            r = sh(mnt, '%s "%s" models/m/aliases/champion' % (cmd, target)
                   if cmd == "ln -sfn" else '%s "%s" models/m/aliases/new' % (cmd, target))
            assert r.returncode != 0 and "Invalid argument" in r.stderr, (target, r.stderr)
    assert snapshot(mnt.db) == before
    assert sorted(os.listdir(mnt.p("models/m/aliases"))) == ["champion"]
    assert os.readlink(mnt.p("models/m/aliases/champion")) == "../versions/2"


def test_no_symlink_cycles_for_tools_that_follow_links(mnt, tmp_path):
    """find -L, grep -R, du -L and cp -rL walk the whole tree without a directory loop:
    `models/<m>/project` was a link to `../..` (the project holding the model), and an
    iteration's `parent` link with the parent's `children/<id>` link made a cycle."""
    exp, iid = make_run(mnt)
    ok(mnt, "echo 0.1 > %s/iterations/%s/params/lr" % (exp, iid))
    child = ok(mnt, "cat %s/iterations/%s/children/new" % (exp, iid)).strip()
    put(mnt, "%s/resources/r" % exp, pattern(4, 3000))
    ok(mnt, "mkdir projects/p/models/m")
    n = register(mnt, "m", iid, "r")
    ok(mnt, "echo PRODUCTION > models/m/versions/%d/stage\n"
            "ln -sfn ../versions/%d models/m/aliases/champion" % (n, n))
    kid = "%s/iterations/%s" % (exp, child)
    # tools that follow every link
    out = tmp_path / "copy"
    for cmd in ("find -L . > /dev/null", "grep -R -q 0.1 projects", "du -L -s . > /dev/null",
                "cp -rL projects/p %s" % out, "find -L projects/p/models/m > /dev/null",
                "find -L %s > /dev/null" % kid, "find -L models/ > /dev/null"):
        r = sh(mnt, cmd)
        assert r.returncode == 0 and "loop" not in r.stderr, (cmd, r.stderr)
    # what users rely on still works
    assert ok(mnt, "cat %s/parent/params/lr" % kid) == "0.1\n"
    assert ok(mnt, "cat %s/iterations/%s/children/%s" % (exp, iid, child)) == child + "\n"
    assert ok(mnt, "ls %s/iterations/%s/children" % (exp, iid)) == child + "\n"
    assert ok(mnt, "cat models/m/project") == "p\n"
    assert not os.path.islink(mnt.p("projects/p/models/m/project"))
    assert os.stat(mnt.p("models/m/project")).st_size == 2
    assert read(mnt, "models/m/production/artifact") == pattern(4, 3000)
    # the copy holds the real bytes, the parent's values through `parent`
    assert (out / "models/m/versions/1/artifact").read_bytes() == pattern(4, 3000)
    assert (out / "experiments/e/iterations" / child / "parent/params/lr").read_text() == "0.1\n"
    assert (out / "models/m/project").read_text() == "p\n"


def test_rm_of_files_deletes_them_and_reports_honestly(mnt):
    """`rm -v R/notes R/params/k1 R/metrics/loss` printed "removed" three times and
    deleted nothing: the unlink of `notes` marked R as being removed by `rm -r`, which
    deferred the other two. A lone unlink of an entity's own file is now EPERM, and the
    parameter and metric are really deleted."""
    exp, iid = make_run(mnt)
    run = "%s/iterations/%s" % (exp, iid)
    ok(mnt, "echo keep > {r}/notes; echo 1 > {r}/params/k1; echo 2 > {r}/params/k2\n"
            "echo 0.5 >> {r}/metrics/loss".format(r=run))
    r = sh(mnt, "rm -v {r}/notes {r}/params/k1 {r}/metrics/loss".format(r=run))
    assert r.returncode == 1
    assert "cannot remove '%s/notes': Operation not permitted" % run in r.stderr
    assert r.stdout.count("removed") == 2 and "notes" not in r.stdout, r.stdout
    rows = snapshot(mnt.db)
    assert [p[2] for p in rows["parameter"]] == ["k2"], rows["parameter"]
    assert rows["metric"] == []
    assert sorted(os.listdir(mnt.p(run, "params"))) == ["k2"]
    assert os.listdir(mnt.p(run, "metrics")) == []
    assert read(mnt, run + "/notes") == b"keep\n"
    # a lone rm of any other own file changes nothing either, and marks nothing: the next
    # plain rm of a parameter deletes it at once
    for f in ("status", "created", "iteration.yaml"):
        r = sh(mnt, "rm -f %s/%s" % (run, f))
        assert r.returncode == 1 and "Operation not permitted" in r.stderr, (f, r.stderr)
    ok(mnt, "rm %s/params/k2" % run)
    assert snapshot(mnt.db)["parameter"] == []
    # recursive removers still delete the whole iteration, in one transaction
    ok(mnt, "echo 3 > {r}/params/k3; rm -r {r}".format(r=run))
    assert not os.path.exists(mnt.p(run))
    for remover in ('python3 -c "import shutil, sys; shutil.rmtree(sys.argv[1])" {r}',
                    "find {r} -delete"):
        iid = ok(mnt, "cat %s/iterations/new" % exp).strip()
        run = "%s/iterations/%s" % (exp, iid)
        ok(mnt, "echo 1 > {r}/params/a; echo 0.1 >> {r}/metrics/m; touch {r}/tags/t"
                .format(r=run))
        ok(mnt, remover.format(r=run))
        assert not os.path.exists(mnt.p(run)), remover
        assert snapshot(mnt.db)["iteration"] == [], remover


THREADED_RM = r"""
import errno, os, sys, threading
run = sys.argv[1]
out = {}
def start():            # one thread lists the iteration and starts removing it
    os.listdir(run)
    try:
        os.unlink(os.path.join(run, "created"))
        out["created"] = 0
    except OSError as e:
        out["created"] = e.errno
def sibling():          # another thread of the same process removes a parameter below
    try:
        os.unlink(os.path.join(run, "params", "lr"))
        out["lr"] = 0
    except OSError as e:
        out["lr"] = e.errno
for fn in (start, sibling):
    t = threading.Thread(target=fn)
    t.start()
    t.join()
print(out["created"], out["lr"])
"""


def test_refused_rm_in_one_thread_refuses_the_whole_process(mnt):
    """Marks were keyed by the request's thread id: after one thread's unlink found the
    iteration in use (EBUSY), another thread of the same deleter really deleted the
    parameters below. Now a refusal covers every thread of that process."""
    exp, iid = make_run(mnt)
    run = "%s/iterations/%s" % (exp, iid)
    ok(mnt, "echo 0.1 > %s/params/lr" % run)
    put(mnt, "%s/resources/r" % exp, pattern(5, 100))
    ok(mnt, "mkdir projects/p/models/m")
    register(mnt, "m", iid, "r")                  # the iteration is now in use
    before = snapshot(mnt.db)
    r = subprocess.run(["python3", "-c", THREADED_RM, mnt.p(run)], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(errno.EBUSY), str(errno.EBUSY)], r.stdout
    assert snapshot(mnt.db) == before
    assert read(mnt, run + "/params/lr") == b"0.1\n"
