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
