"""Every refused operation of the README table: the exact message the shell prints, and
nothing changed in the database (every row of every tracking table compared before and
after)."""
import errno
import os
import shutil

import pytest

from conftest import sqlite_rows
from helpers_tracking import counts, make_run, ok, read, refused, sh, snapshot

LONG = "x" * 256

REMOTE = True
REMOTE_NOT_YET = {}  # test -> why it cannot run remote yet


@pytest.fixture
def world(mnt):
    """p/e with a running iteration R (a param, a metric, a tag) and an ended iteration X
    (same data, SUCCEEDED); p/stopped is STOPPED and p/finished FINISHED."""
    exp, r, rid = make_run(mnt, "p", "e")
    exp, x, xid = make_run(mnt, "p", "e")
    ok(mnt, """
    for d in {r} {x}; do
        echo 7 > $d/params/max_depth
        echo 0.5 >> $d/metrics/acc
        touch $d/tags/gold
        echo note > $d/notes
    done
    echo SUCCEEDED > {x}/status
    mkdir projects/p/experiments/stopped projects/p/experiments/finished
    s=$(cat projects/p/experiments/stopped/iterations/new)
    echo STOPPED > projects/p/experiments/stopped/status
    echo FINISHED > projects/p/experiments/finished/status
    mkdir projects/q
    """.format(r=r, x=x))
    stopped_run = "projects/p/experiments/stopped/iterations/" + sorted(
        os.listdir(mnt.p("projects/p/experiments/stopped/iterations")))[0]
    return {"mnt": mnt, "exp": exp, "R": r, "X": x, "S": stopped_run}


def check(world, cmd, message):
    """`cmd` is refused with `message` and the database is unchanged."""
    mnt = world["mnt"]
    before = snapshot(mnt.db)
    refused(mnt, cmd.format(**{k: v for k, v in world.items() if isinstance(v, str)}),
            message)
    assert snapshot(mnt.db) == before, cmd


# ---------------------------------------------------------------- mkdir

@pytest.mark.parametrize("parent", ["projects", "projects/p/experiments"])
def test_mkdir_exists(world, parent):
    name = "p" if parent == "projects" else "e"
    check(world, "mkdir %s/%s" % (parent, name), "File exists")


@pytest.mark.parametrize("parent", ["projects", "projects/p/experiments"])
@pytest.mark.parametrize("name", [r"$'a\tb'", r"$'a\nb'", r"$'\x01'", r"$'del\x7f'",
                                  r"$'\xff\xfe'", r"$'bad\xc3('"])
def test_mkdir_bad_name(world, parent, name):
    check(world, "mkdir %s/%s" % (parent, name), "Invalid argument")


@pytest.mark.parametrize("parent", ["projects", "projects/p/experiments"])
@pytest.mark.parametrize("name", [LONG, "é" * 128])
def test_mkdir_name_too_long(world, parent, name):
    assert len(name.encode()) == 256
    check(world, "mkdir %s/%s" % (parent, name), "File name too long")


@pytest.mark.parametrize("parent", ["projects", "projects/p/experiments"])
def test_mkdir_255_bytes_is_fine(world, parent):
    mnt = world["mnt"]
    ok(mnt, "mkdir %s/%s" % (parent, "y" * 255))
    assert "y" * 255 in os.listdir(mnt.p(parent))


@pytest.mark.parametrize("name", [".", ".."])
def test_mkdir_dot_names(world, name):
    # The kernel resolves "." and ".." itself (EEXIST) before the filesystem sees them.
    check(world, "mkdir projects/%s" % name, "File exists")
    check(world, "mkdir projects/p/experiments/%s" % name, "File exists")


@pytest.mark.parametrize("where", ["newdir", "projects/p/newdir",
                                   "projects/p/tags/newdir",
                                   "projects/p/experiments/e/newdir",
                                   "projects/p/experiments/e/iterations/newdir",
                                   "projects/p/experiments/e/tags/newdir",
                                   "{R}/newdir", "{R}/params/newdir", "{R}/metrics/newdir",
                                   "{R}/tags/newdir", "{R}/env/newdir", "{R}/children/newdir"])
def test_mkdir_elsewhere(world, where):
    check(world, "mkdir " + where, "Operation not permitted")


# ---------------------------------------------------------------- mv

def test_mv_project_onto_existing(world):
    check(world, "mv -T projects/q projects/p", "Directory not empty")
    mnt = world["mnt"]
    before = snapshot(mnt.db)
    with pytest.raises(OSError) as ei:
        os.rename(mnt.p("projects", "q"), mnt.p("projects", "p"))
    assert ei.value.errno == errno.ENOTEMPTY
    assert snapshot(mnt.db) == before


def test_mv_experiment_onto_existing(world):
    check(world, "mv -T projects/p/experiments/stopped projects/p/experiments/e",
          "Directory not empty")


def test_mv_experiment_across_projects(world):
    check(world, "mv projects/p/experiments/e projects/q/experiments/e",
          "Operation not permitted")
    check(world, "mv projects/p/experiments/e projects/q/experiments/",
          "Operation not permitted")


def test_mv_project_into_another(world):
    check(world, "mv projects/q projects/p/experiments/q", "Operation not permitted")


def test_mv_to_bad_name(world):
    mnt = world["mnt"]
    before = snapshot(mnt.db)
    for new in ("a\tb", "\x01", "a\nb"):
        with pytest.raises(OSError) as ei:
            os.rename(mnt.p("projects", "q"), mnt.p("projects", new))
        assert ei.value.errno == errno.EINVAL, new
    check(world, "mv projects/q projects/" + LONG, "File name too long")
    assert snapshot(mnt.db) == before


# ---------------------------------------------------------------- rm -r / rmdir

def register_model_version(mnt, iteration_id, project="p"):
    """Register a version of model m produced by the iteration, through the mount."""
    out = ok(mnt, "mkdir projects/%s/models/m\ncat models/m/versions/new/%s"
             % (project, iteration_id))
    assert out.strip() == "1", out
    assert sqlite_rows(mnt.db, "SELECT iteration_id FROM model_version") == [[iteration_id]]


def test_rm_r_iteration_used_by_model_version(mnt):
    exp, run, iid = make_run(mnt, "p", "e")
    ok(mnt, "echo 7 > %s/params/a\necho 0.5 >> %s/metrics/m" % (run, run))
    register_model_version(mnt, iid)
    before = snapshot(mnt.db)
    refused(mnt, "rm -r " + run, "Device or resource busy")
    assert snapshot(mnt.db) == before
    assert read(mnt, run + "/params/a") == b"7\n"


def test_rm_r_experiment_used_by_model_version(mnt):
    exp, run, iid = make_run(mnt, "p", "e")
    exp, other, oid = make_run(mnt, "p", "e")
    ok(mnt, "echo 7 > %s/params/a\necho 8 > %s/params/a" % (run, other))
    register_model_version(mnt, iid)
    before = snapshot(mnt.db)
    refused(mnt, "rm -r " + exp, "Device or resource busy")
    assert snapshot(mnt.db) == before
    assert sorted(os.listdir(mnt.p(exp, "iterations"))) == sorted([iid, oid])


def test_rm_r_project_used_by_model_version(mnt):
    exp, run, iid = make_run(mnt, "p", "used")
    ok(mnt, "echo 7 > %s/params/a" % run)
    register_model_version(mnt, iid)
    before = snapshot(mnt.db)
    refused(mnt, "rm -r projects/p", "Device or resource busy")
    assert snapshot(mnt.db) == before


def test_rm_r_project_used_by_model_version_removes_no_sibling(mnt):
    # README: "still used by a model version: EBUSY, nothing removed" - also not the
    # project's other, unreferenced experiments.
    exp, run, iid = make_run(mnt, "p", "used")
    exp2, run2, iid2 = make_run(mnt, "p", "unused")
    ok(mnt, "echo 7 > %s/params/a\necho 8 > %s/params/b" % (run, run2))
    register_model_version(mnt, iid)
    before = snapshot(mnt.db)
    refused(mnt, "rm -r projects/p", "Device or resource busy")
    assert sorted(os.listdir(mnt.p("projects", "p", "experiments"))) == ["unused", "used"]
    assert snapshot(mnt.db) == before


def test_rm_after_refused_rm_r_still_deletes(mnt):
    # A refused `rm -r` must leave everything as it was: a later plain `rm` of a parameter
    # in the same project deletes it, or fails; it must not report success and keep it
    # (swallowed as part of the abandoned removal).
    exp, run, iid = make_run(mnt, "p", "used")
    ok(mnt, "echo 8 > %s/params/b" % run)
    register_model_version(mnt, iid)
    refused(mnt, "rm -r projects/p", "Device or resource busy")
    r = sh(mnt, "rm %s/params/b" % run)
    gone = sqlite_rows(mnt.db, "SELECT COUNT(*) FROM parameter WHERE key = 'b'") == [["0"]]
    assert (r.returncode == 0) == gone, (r.returncode, r.stderr, gone)
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(mnt.p(run, "params", "b"))


def test_rmdir_non_empty_project(world):
    check(world, "rmdir projects/p", "Directory not empty")


# ---------------------------------------------------------------- clone files

@pytest.mark.parametrize("exp", ["stopped", "finished"])
def test_new_iteration_in_ended_experiment(world, exp):
    check(world, "cat projects/p/experiments/%s/iterations/new" % exp, "Invalid argument")


def test_new_child_in_ended_experiment(world):
    check(world, "cat {S}/children/new", "Invalid argument")


# ---------------------------------------------------------------- status files

@pytest.mark.parametrize("text", ["BOGUS", "RUNNING", "SUCCEEDED", "IN PROGRESS", "STOPPED x",
                                  ""])
def test_experiment_status_other_text(world, text):
    check(world, "echo '%s' > {exp}/status" % text, "Invalid argument")


@pytest.mark.parametrize("text", ["BOGUS", "IN_PROGRESS", "STOPPED", "DONE", ""])
def test_iteration_status_other_text(world, text):
    check(world, "echo '%s' > {R}/status" % text, "Invalid argument")


@pytest.mark.parametrize("text", ["RUNNING", "FAILED", "SUCCEEDED", "BOGUS"])
def test_ended_iteration_status(world, text):
    check(world, "echo %s > {X}/status" % text, "Read-only file system")


@pytest.mark.parametrize("name", ["notes", "error_message"])
def test_ended_iteration_text_files(world, name):
    check(world, "echo text > {X}/%s" % name, "Read-only file system")
    check(world, "echo text >> {X}/%s" % name, "Read-only file system")


# ---------------------------------------------------------------- params

def test_param_lone_newline(world):
    check(world, "echo > {R}/params/blank", "Invalid argument")
    check(world, "echo > {R}/params/max_depth", "Invalid argument")
    assert read(world["mnt"], world["R"] + "/params/max_depth") == b"7\n"


def test_param_empty_printf_creates_nothing(world):
    # No write() happens, so the shell cannot be told anything; nothing may be created.
    mnt = world["mnt"]
    before = snapshot(mnt.db)
    sh(mnt, "printf '' > %s/params/empty" % world["R"])
    assert snapshot(mnt.db) == before
    assert "empty" not in os.listdir(mnt.p(world["R"], "params"))


@pytest.mark.parametrize("cmd", ["echo 8 > {X}/params/max_depth", "echo 8 > {X}/params/new",
                                 "sed -i s/7/8/ {X}/params/max_depth"])
def test_param_ended(world, cmd):
    check(world, cmd, "Read-only file system")


def test_rm_param_ended(world):
    check(world, "rm {X}/params/max_depth", "Read-only file system")


@pytest.mark.parametrize("name", [r"$'a\tb'", r"$'\x1b[0m'", r"$'\xff'"])
def test_param_bad_name(world, name):
    check(world, "echo 1 > {R}/params/%s" % name, "Invalid argument")


def test_param_name_too_long(world):
    check(world, "echo 1 > {R}/params/" + LONG, "File name too long")


# ---------------------------------------------------------------- metrics

@pytest.mark.parametrize("line", ["nan", "-nan", "inf", "-inf", "1 inf", "2 nan 1700000000",
                                  "abc", "1 2 3 4", "0.5x", "1.5 0.3", "1 0.5 yesterday",
                                  "1e999"])
def test_metric_malformed(world, line):
    check(world, "echo '%s' >> {R}/metrics/acc" % line, "Invalid argument")


def test_metric_batch_with_one_bad_line(world):
    check(world, "/usr/bin/printf '0.1\\n0.2\\ninf\\n' >> {R}/metrics/acc",
          "Invalid argument")
    check(world, "/usr/bin/printf '0.1\\n0.2\\ninf\\n' >> {R}/metrics/brand_new",
          "Invalid argument")
    assert os.listdir(world["mnt"].p(world["R"], "metrics")) == ["acc", "acc.svg"]


@pytest.mark.parametrize("cmd", ["echo 0.9 >> {X}/metrics/acc", "echo 0.9 > {X}/metrics/acc",
                                 "echo 0.9 >> {X}/metrics/new"])
def test_metric_ended(world, cmd):
    check(world, cmd, "Read-only file system")


def test_rm_metric_ended(world):
    check(world, "rm {X}/metrics/acc", "Read-only file system")


def test_metric_bad_name(world):
    check(world, r"echo 1 >> {R}/metrics/$'a\tb'", "Invalid argument")
    check(world, "echo 1 >> {R}/metrics/" + LONG, "File name too long")


# ---------------------------------------------------------------- params.yaml

@pytest.mark.parametrize("text", ["a: [1, 2]\n", "a: 1\nb:\n  - 1\n", "- 1\n- 2\n",
                                  "a: 1\n  b: 2\n c: 3\n", "a: {\n", "just a scalar\n",
                                  "a: 'x\n", 'a: 1\n"x/y": 2\n'])
def test_params_yaml_bad(world, text):
    src = os.path.join(world["mnt"].root, "bad.yaml")
    with open(src, "w") as f:
        f.write(text)
    check(world, "cat '%s' > {R}/params.yaml" % src, "Invalid argument")


def test_params_yaml_ended(world):
    check(world, "echo 'a: 1' > {X}/params.yaml", "Read-only file system")


# ---------------------------------------------------------------- tags

def test_tags_ended(world):
    check(world, "touch {X}/tags/silver", "Read-only file system")
    check(world, "rm {X}/tags/gold", "Read-only file system")


@pytest.mark.parametrize("where", ["projects/p/tags", "{exp}/tags", "{R}/tags"])
def test_tag_bad_name(world, where):
    check(world, r"touch %s/$'a\tb'" % where, "Invalid argument")
    check(world, "touch %s/%s" % (where, LONG), "File name too long")


# ---------------------------------------------------------------- read-only files

@pytest.mark.parametrize("path", ["projects/p/created", "{exp}/created", "{exp}/ended",
                                  "{R}/created", "{R}/ended", "{R}/iteration.yaml",
                                  "{R}/env/git_sha", "{R}/env/git_dirty",
                                  "{R}/env/entrypoint", "{R}/env/julia_version",
                                  "{R}/env/Project.toml", "{R}/env/Manifest.toml"])
def test_write_read_only_file(world, path):
    check(world, "echo x > " + path, "Operation not permitted")
    check(world, "echo x >> " + path, "Operation not permitted")


def test_iteration_yaml_write(world):
    src = os.path.join(world["mnt"].root, "it.yaml")
    with open(src, "w") as f:
        f.write(read(world["mnt"], world["R"] + "/iteration.yaml").decode()
                .replace("RUNNING", "SUCCEEDED"))
    check(world, "cat '%s' > {R}/iteration.yaml" % src, "Operation not permitted")


# ---------------------------------------------------------------- other files

@pytest.mark.parametrize("path", ["stray", "projects/stray", "projects/p/stray",
                                  "projects/p/experiments/stray", "{exp}/stray",
                                  "{exp}/iterations/stray", "{R}/stray", "{R}/env/stray",
                                  "{R}/children/stray", "{R}/env/.x.swp"])
def test_create_other_file(world, path):
    # (editors' temporary files, .notes.swp, notes~, 4913, are scratch files where there
    # are writable files: test_editors.py::test_scratch_names)
    check(world, "touch " + path, "Permission denied")
    check(world, "echo x > " + path, "Permission denied")


def test_cp_into_fixed_directory(world):
    src = os.path.join(world["mnt"].root, "f.txt")
    with open(src, "w") as f:
        f.write("x\n")
    check(world, "cp '%s' {R}/" % src, "Permission denied")


# ---------------------------------------------------------------- chmod / chown

@pytest.mark.parametrize("path", ["{R}/notes", "{R}/params/max_depth", "{R}/created",
                                  "{R}", "projects/p", "{X}/notes"])
def test_chmod_other_mode(world, path):
    check(world, "chmod 600 " + path, "Operation not permitted")
    check(world, "chmod a+w " + path, "Operation not permitted")


def test_chmod_same_mode_is_fine(world):
    mnt = world["mnt"]
    ok(mnt, "chmod 644 %s/notes\nchmod 444 %s/created" % (world["R"], world["R"]))


@pytest.mark.parametrize("path", ["{R}/notes", "{R}/params/max_depth", "projects/p"])
def test_chown_other_owner(world, path):
    check(world, "chown 12345 " + path, "Operation not permitted")
    check(world, "chown :12345 " + path, "Operation not permitted")


# ---------------------------------------------------------------- xattrs

@pytest.mark.skipif(not shutil.which("setfattr"), reason="setfattr (attr) not installed")
@pytest.mark.parametrize("path", ["{R}/notes", "{R}/params/max_depth", "projects/p"])
def test_setfattr(world, path):
    check(world, "setfattr -n user.x -v 1 " + path, "Operation not supported")


@pytest.mark.parametrize("path", ["{R}/notes", "{R}/params/max_depth", "projects/p"])
def test_setxattr_syscall(world, path):
    mnt = world["mnt"]
    before = snapshot(mnt.db)
    with pytest.raises(OSError) as ei:
        os.setxattr(mnt.p(path.format(R=world["R"])), "user.x", b"1")
    assert ei.value.errno == errno.ENOTSUP
    assert snapshot(mnt.db) == before
    assert counts(mnt.db)["parameter"] == 2
