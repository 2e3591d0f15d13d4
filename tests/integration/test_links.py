"""Symlinks, aliases and removals as real tools see them (issue 12): link targets are
complete for every legal name, `ln -sfn` moves an alias without leaving its temporary
link behind, aliases only take `../versions/N`, the tree has no symlink cycles for
`find -L` and friends, and `rm` deletes what it says it deleted."""
import os
import subprocess
import threading

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
