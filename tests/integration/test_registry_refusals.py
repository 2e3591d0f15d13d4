"""Every refused registry and artifact operation: the exact message the shell prints, and
nothing changed (every row of every registry table compared before and after, and for
deletes the tree under the mount too)."""
import os

import pytest

from conftest import sqlite_rows
from helpers_registry import (STAGE_ID, make_run, ok, pattern, put, read, refused, register,
                              resource_row, sh, snapshot, stage_files)

# Tables a refused artifact write may touch: an abandoned upload's bytes are queued for gc
# (housekeeping, invisible); everything else must stay as it was.
HOUSEKEEPING = ("artifact_trash", "artifact_upload")

REMOTE = True
REMOTE_NOT_YET = {  # test -> why it cannot run remote yet
    "test_replace_bytes_of_a_registered_resource":
        "a remote mount refuses new bytes for a resource a version uses at close, not at open "
        "(REMOTE.md §10): `echo new >` succeeds, as bash ignores close's EBUSY (nothing is "
        "stored; the `cat >` and `cp` forms report it)",
}


@pytest.fixture
def world(mnt):
    """Project p: experiment e, iteration A, resources `used` (the artifact of m/1) and
    `free`; model m with version 1 (A:used, PRODUCTION) and version 2 (A, no artifact,
    STAGING). Project q: experiment f (resource `other`), iteration B, model n."""
    exp, a = make_run(mnt, "p", "e")
    put(mnt, exp + "/resources/used", pattern(1, 300_000))
    put(mnt, exp + "/resources/free", b"free bytes\n")
    ok(mnt, "mkdir projects/p/models/m")
    assert register(mnt, "m", a, "used") == 1
    assert register(mnt, "m", a) == 2
    ok(mnt, "echo PRODUCTION > models/m/versions/1/stage\n"
            "echo STAGING > models/m/versions/2/stage\n"
            "ln -sfn ../versions/1 models/m/aliases/champion")
    fexp, b = make_run(mnt, "q", "f")
    put(mnt, fexp + "/resources/other", b"other bytes\n")
    ok(mnt, "mkdir projects/q/models/n")
    return {"mnt": mnt, "E": exp, "A": a, "B": b}


def tree(mnt):
    """Every name under projects/ and models/ (not following symlinks)."""
    out = ok(mnt, "find projects models | LC_ALL=C sort")
    return out.splitlines()


def fmt(world, cmd):
    return cmd.format(**{k: v for k, v in world.items() if isinstance(v, str)})


def check(world, cmd, message, housekeeping_ok=False, whole_tree=False):
    """`cmd` is refused with `message` and the database (and optionally the whole tree)
    is unchanged."""
    mnt = world["mnt"]
    before = snapshot(mnt.db)
    names = tree(mnt) if whole_tree else None
    r = refused(mnt, cmd.format(**{k: v for k, v in world.items() if isinstance(v, str)}),
                message)
    after = snapshot(mnt.db)
    if housekeeping_ok:
        for t in HOUSEKEEPING:
            before.pop(t), after.pop(t)
    assert after == before, cmd
    if whole_tree:
        assert tree(mnt) == names, cmd
    return r


# ---------------------------------------------------------------- resources

@pytest.mark.parametrize("cmd", ["rm {E}/resources/used", "rm -f {E}/resources/used",
                                 "unlink {E}/resources/used"])
def test_rm_resource_used_by_a_version(world, cmd):
    check(world, cmd, "Device or resource busy")
    assert read(world["mnt"], "models/m/versions/1/artifact") == pattern(1, 300_000)


@pytest.mark.parametrize("seek,data", [(5, b"abc"), (4096, b"abc")])
def test_write_past_the_end_fills_zeros(world, seek, data):
    """README: a write past the bytes written so far fills the gap with zeros (that is how
    dd seek= and cp over the holes of a sparse file write)."""
    mnt = world["mnt"]
    r = sh(mnt, fmt(world, "printf abc | dd of={E}/resources/new bs=1 seek=%d conv=notrunc"
                           " status=none" % seek))
    assert r.returncode == 0, r.stderr
    assert read(mnt, world["E"] + "/resources/new") == b"\0" * seek + data


def test_write_before_the_end_is_invalid(world):
    """README: going back is refused (EINVAL) and the whole copy is discarded: closing the
    file must not publish the bytes written before the refused write."""
    script = ("import os\n"
              "fd = os.open('{E}/resources/back', os.O_WRONLY | os.O_CREAT | os.O_TRUNC)\n"
              "os.write(fd, b'a' * 100)\n"
              "try:\n"
              "    os.pwrite(fd, b'b' * 10, 50)\n"
              "finally:\n"
              "    os.close(fd)\n")
    r = check(world, "python3 -c \"%s\"" % script, "OSError: [Errno 22] Invalid argument",
              housekeeping_ok=True)
    assert "back" not in os.listdir(world["mnt"].p(world["E"], "resources"))
    assert r.returncode == 1


def test_cp_of_a_sparse_file_round_trips(world):
    """GNU cp seeks over the holes of a sparse source: the gaps become zeros and the
    resource equals the source byte for byte."""
    mnt = world["mnt"]
    src = os.path.join(mnt.root, "sparse.bin")
    with open(src, "wb") as f:
        f.write(b"head" * 1024)
        f.truncate(4 * 1024 * 1024)
        f.seek(3 * 1024 * 1024)
        f.write(b"tail")
    r = sh(mnt, fmt(world, "cp --sparse=always '%s' {E}/resources/sparse" % src))
    assert r.returncode == 0, r.stderr
    with open(src, "rb") as f:
        assert read(mnt, world["E"] + "/resources/sparse") == f.read()


@pytest.mark.parametrize("cmd", [
    "echo more >> {E}/resources/free",
    "dd if=/etc/hostname of={E}/resources/free conv=notrunc status=none",
    "python3 -c \"import os; os.open('{E}/resources/free', os.O_RDWR)\"",
])
def test_open_existing_resource_without_trunc(world, cmd):
    check(world, cmd, "Operation not permitted", housekeeping_ok=True)
    assert read(world["mnt"], world["E"] + "/resources/free") == b"free bytes\n"


@pytest.mark.parametrize("cmd", ["echo new > {E}/resources/used",
                                 "printf new | cat > {E}/resources/used",
                                 "cp /etc/hostname {E}/resources/used"])
def test_replace_bytes_of_a_registered_resource(world, cmd):
    """A resource that a version uses is immutable (as `rm` of it is refused): replacing
    its bytes must fail in a way the shell reports, and change nothing."""
    check(world, cmd, "Device or resource busy", housekeeping_ok=True)
    assert read(world["mnt"], "models/m/versions/1/artifact") == pattern(1, 300_000)


def test_mv_resource_to_another_experiment(world):
    ok(world["mnt"], "mkdir projects/p/experiments/e2")
    check(world, "mv {E}/resources/free projects/p/experiments/e2/resources/free",
          "Operation not permitted")


def test_setfattr_on_a_resource(world):
    check(world, "setfattr -n user.deardiary.sha256 -v 00 {E}/resources/free",
          "Operation not supported")


# ---------------------------------------------------------------- models and versions

@pytest.mark.parametrize("cmd", ["mkdir projects/q/models/m", "mkdir projects/p/models/m",
                                 "mkdir projects/p/models/n"])
def test_model_name_taken_in_the_registry(world, cmd):
    check(world, cmd, "File exists")


@pytest.mark.parametrize("name", ["{B}", "{B}:other"])
def test_register_iteration_of_another_project(world, name):
    check(world, 'n=$(cat "models/m/versions/new/%s")' % name, "Invalid argument")


@pytest.mark.parametrize("name", ["999999", "{A}:missing"])
def test_register_missing_iteration_or_resource(world, name):
    check(world, 'n=$(cat "models/m/versions/new/%s")' % name, "No such file or directory")


def test_write_a_registration_file(world):
    check(world, "echo x > models/m/versions/new/{A}", "Operation not permitted")


@pytest.mark.parametrize("text", ["BOGUS", "production", "Production", "PRODUCTION EXTRA",
                                  "' PRODUCTION'", "''", "STAGING,PRODUCTION", "3"])
@pytest.mark.parametrize("version", ["1", "2"])
def test_bad_stage(world, text, version):
    check(world, "echo %s > models/m/versions/%s/stage" % (text, version), "Invalid argument")
    mnt = world["mnt"]
    assert stage_files(mnt, "m") == {1: "PRODUCTION", 2: "STAGING"}
    assert os.readlink(mnt.p("models/m/production")) == "versions/1"
    assert os.readlink(mnt.p("models/m/staging")) == "versions/2"


def test_bad_stage_in_a_multi_line_write(world):
    """One write of two lines (coreutils printf: a single write) is not a stage."""
    check(world, "/usr/bin/printf 'PRODUCTION\\nSTAGING\\n' > models/m/versions/2/stage",
          "Invalid argument")


@pytest.mark.parametrize("cmd", ["echo x > models/m/versions/1/artifact",
                                 "echo x >> models/m/versions/1/artifact",
                                 "echo x > models/m/versions/1/created",
                                 "echo x > models/m/versions/1/version.yaml",
                                 "echo x > models/m/model.yaml",
                                 "echo x > models/m/created"])
def test_write_read_only_registry_files(world, cmd):
    check(world, cmd, "Operation not permitted")


def test_alias_to_a_missing_version(world):
    check(world, "ln -sfn ../versions/77 models/m/aliases/champion", "No such file or directory")
    assert os.readlink(world["mnt"].p("models/m/aliases/champion")) == "../versions/1"


# ---------------------------------------------------------------- deletes

@pytest.mark.parametrize("target", ["projects/p", "projects/p/experiments/e",
                                    "projects/p/experiments/e/iterations/{A}"])
def test_rm_r_holding_registered_versions(world, target):
    r = check(world, "rm -r " + target, "Device or resource busy", whole_tree=True)
    # rm reports the refusal, and nothing else went wrong
    errors = [line for line in r.stderr.splitlines() if line]
    assert errors and all(line.endswith("Device or resource busy") for line in errors), \
        r.stderr[-2000:]
    mnt = world["mnt"]
    assert read(mnt, "models/m/versions/1/artifact") == pattern(1, 300_000)
    # the mark of the refused rm does not get in the way of later work
    ok(mnt, "echo 3 > %s/iterations/%s/params/depth" % (world["E"], world["A"]))


def test_rmdir_model_is_not_empty(world):
    check(world, "rmdir projects/p/models/m", "Directory not empty")


def test_rm_model_symlink_under_models(world):
    """/models/<m> is a view: a model is deleted with rm -r projects/<p>/models/<m>."""
    check(world, "rm models/m", "Operation not permitted")


def test_refusals_leave_a_working_registry(world):
    """After a series of refusals the registry still does everything."""
    mnt = world["mnt"]
    for cmd in ("rm {E}/resources/used", "echo BOGUS > models/m/versions/2/stage",
                "mkdir projects/q/models/m"):
        sh(mnt, cmd.format(**{k: v for k, v in world.items() if isinstance(v, str)}))
    n = register(mnt, "m", world["A"], "free")
    assert n == 3
    ok(mnt, "echo PRODUCTION > models/m/versions/3/stage")
    assert stage_files(mnt, "m") == {1: "ARCHIVED", 2: "STAGING", 3: "PRODUCTION"}
    assert sqlite_rows(mnt.db, "SELECT version, stage_id FROM model_version ORDER BY version") \
        == [["1", str(STAGE_ID["ARCHIVED"])], ["2", str(STAGE_ID["STAGING"])],
            ["3", str(STAGE_ID["PRODUCTION"])]]
    assert resource_row(mnt.db, "used") is not None
