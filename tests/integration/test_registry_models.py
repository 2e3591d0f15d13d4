"""Models, versions, stages, aliases and deletes through the shell: the model directory,
version numbering (never reused), the production and staging symlinks, aliases with
ln -sfn, rm -r of versions and models, persistence across a remount."""
import os
import threading
import time

from conftest import sqlite_rows
from helpers_registry import (STAGE_ID, TS_RE, make_run, mounted, ok, one, pattern, put, read,
                              register, resource_row, sh, stage_files, version_stages)

# conftest: each test that takes `mnt` runs over a local and a remote mount
REMOTE = True
REMOTE_NOT_YET = {}  # test -> why it cannot run remote yet


def setup_model(mnt, resources=("r1", "r2", "r3")):
    exp, iid = make_run(mnt)
    for i, name in enumerate(resources):
        put(mnt, "%s/resources/%s" % (exp, name), pattern(200 + i, 1000 + i))
    ok(mnt, "mkdir projects/p/models/m")
    return exp, iid


def test_model_directory(mnt):
    setup_model(mnt)
    m = mnt.p("models", "m")
    assert os.listdir(mnt.p("models")) == ["m"]
    assert os.readlink(m) == "../projects/p/models/m"
    assert os.listdir(mnt.p("projects", "p", "models")) == ["m"]
    # no production/staging link before any version is in that stage
    assert sorted(os.listdir(m)) == ["aliases", "created", "description", "history",
                                     "model.yaml", "project", "versions"]
    assert read(mnt, "models/m/history") == b""   # no version: no stage change yet
    assert os.listdir(os.path.join(m, "versions")) == []
    assert os.listdir(os.path.join(m, "aliases")) == []
    assert read(mnt, "models/m/project") == b"p\n"     # the owning project's name
    assert TS_RE.match(read(mnt, "models/m/created").decode().strip())
    assert read(mnt, "models/m/description") == b"\n"
    ok(mnt, "echo 'Fraud classifier' > models/m/description")
    assert read(mnt, "models/m/description") == b"Fraud classifier\n"
    assert read(mnt, "projects/p/models/m/description") == b"Fraud classifier\n"
    yaml = read(mnt, "models/m/model.yaml").decode()
    assert "name: m\n" in yaml and "description: Fraud classifier\n" in yaml
    assert one(mnt.db, "SELECT description FROM model WHERE name = 'm'") == "Fraud classifier"
    # modes tell the truth
    assert os.stat(os.path.join(m, "description")).st_mode & 0o777 == 0o644
    for f in ("created", "model.yaml"):
        assert os.stat(os.path.join(m, f)).st_mode & 0o777 == 0o444


def test_register_prints_the_number_only(mnt):
    exp, iid = setup_model(mnt)
    r = sh(mnt, 'cat "models/m/versions/new/%s:r1"' % iid)
    assert (r.returncode, r.stdout, r.stderr) == (0, "1\n", "")
    r = sh(mnt, 'cat "models/m/versions/new/%s"' % iid)
    assert (r.returncode, r.stdout, r.stderr) == (0, "2\n", "")
    # the control directory is not listed, so tools walking the tree create nothing
    assert sorted(os.listdir(mnt.p("models/m/versions"))) == ["1", "2"]
    ok(mnt, "find models/m/ projects/ > /dev/null; ls -R models/m/ > /dev/null")
    assert one(mnt.db, "SELECT COUNT(*) FROM model_version") == "2"


def test_register_a_resource_this_mount_is_still_storing(mnt):
    """An empty resource is stored when its handle is released, which the kernel sends
    after close() has returned: `cp empty resources/x` returns before the row exists, and
    a registration naming it at once waits for this mount's pending resource instead of
    answering ENOENT (it failed so once under load)."""
    exp, iid = setup_model(mnt, resources=())
    fd = os.open(mnt.p(exp, "resources", "empty"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    got = {}
    t = threading.Thread(target=lambda: got.update(
        r=sh(mnt, 'cat "models/m/versions/new/%s:empty"' % iid)))
    try:
        t.start()
        time.sleep(0.5)
        assert t.is_alive()          # it waits for the handle, not answering ENOENT
    finally:
        os.close(fd)                 # RELEASE: the empty resource is stored
        t.join(30)
    r = got["r"]
    assert (r.returncode, r.stdout, r.stderr) == (0, "1\n", "")
    assert one(mnt.db, "SELECT size_bytes FROM resource WHERE name = 'empty'") == "0"
    # a name nothing stores is still ENOENT, at once
    r = sh(mnt, 'cat "models/m/versions/new/%s:nothing"' % iid)
    assert r.returncode != 0 and "No such file" in r.stderr


def test_version_directory(mnt):
    exp, iid = setup_model(mnt)
    n = register(mnt, "m", iid, "r2")
    v = mnt.p("models", "m", "versions", str(n))
    assert sorted(os.listdir(v)) == ["artifact", "created", "description", "iteration",
                                     "resource", "stage", "version.yaml"]
    assert read(mnt, "models/m/versions/1/stage") == b"NO_STAGE\n"
    assert read(mnt, "models/m/versions/1/artifact") == pattern(201, 1001)
    assert os.readlink(os.path.join(v, "iteration")) == \
        "../../../../experiments/e/iterations/" + iid
    assert os.readlink(os.path.join(v, "resource")) == "../../../../experiments/e/resources/r2"
    assert os.path.samefile(os.path.join(v, "iteration"),
                            mnt.p(exp, "iterations", iid))
    ok(mnt, "echo 'depth 7' > models/m/versions/1/description")
    assert read(mnt, "models/m/versions/1/description") == b"depth 7\n"
    yaml = read(mnt, "models/m/versions/1/version.yaml").decode()
    assert "description: depth 7\n" in yaml and "stage: NO_STAGE\n" in yaml
    assert "iteration_id: %s\n" % iid in yaml
    for f, mode in (("artifact", 0o444), ("created", 0o444), ("version.yaml", 0o444),
                    ("stage", 0o644), ("description", 0o644)):
        assert os.stat(os.path.join(v, f)).st_mode & 0o777 == mode, f
    # a version registered without an artifact has no artifact and no resource link
    n2 = register(mnt, "m", iid)
    assert sorted(os.listdir(mnt.p("models/m/versions/%d" % n2))) == \
        ["created", "description", "iteration", "stage", "version.yaml"]
    assert sqlite_rows(mnt.db, "SELECT version, resource_id FROM model_version "
                               "ORDER BY version") == [["1", resource_row(mnt.db, "r2")[0]],
                                                       ["2", ""]]


def test_iteration_of_another_experiment_in_the_same_project(mnt):
    setup_model(mnt)
    exp2, iid2 = make_run(mnt, "p", "e2")
    put(mnt, exp2 + "/resources/r1", b"e2 bytes\n")     # same name, other experiment
    n = register(mnt, "m", iid2, "r1")
    assert read(mnt, "models/m/versions/%d/artifact" % n) == b"e2 bytes\n"
    assert os.readlink(mnt.p("models/m/versions/%d/resource" % n)) == \
        "../../../../experiments/e2/resources/r1"


def test_version_numbers_are_never_reused(mnt):
    exp, iid = setup_model(mnt)
    assert [register(mnt, "m", iid, "r1") for _ in range(3)] == [1, 2, 3]
    ok(mnt, "rm -r projects/p/models/m/versions/3")
    assert sorted(os.listdir(mnt.p("models/m/versions"))) == ["1", "2"]
    assert register(mnt, "m", iid, "r1") == 4
    ok(mnt, "rm -r projects/p/models/m/versions/1")
    assert register(mnt, "m", iid) == 5
    assert sorted(os.listdir(mnt.p("models/m/versions")), key=int) == ["2", "4", "5"]
    assert sqlite_rows(mnt.db, "SELECT version FROM model_version ORDER BY version") == \
        [["2"], ["4"], ["5"]]
    assert one(mnt.db, "SELECT last_version FROM model WHERE name = 'm'") == "5"
    # the resource survives its versions' deletes
    assert read(mnt, exp + "/resources/r1") == pattern(200, 1000)
    assert resource_row(mnt.db, "r1") is not None


def test_stages_production_and_staging_links(mnt):
    exp, iid = setup_model(mnt)
    for name in ("r1", "r2", "r3"):
        register(mnt, "m", iid, name)
    link = lambda name: os.readlink(mnt.p("models/m", name)) \
        if os.path.lexists(mnt.p("models/m", name)) else None
    ok(mnt, "for v in 1 2 3; do echo STAGING > models/m/versions/$v/stage; done")
    assert link("staging") == "versions/3" and link("production") is None
    ok(mnt, "echo PRODUCTION > models/m/versions/3/stage")
    assert link("staging") == "versions/2" and link("production") == "versions/3"
    assert read(mnt, "models/m/production/artifact") == pattern(202, 1002)
    ok(mnt, "echo PRODUCTION > models/m/versions/1/stage")     # archives 3
    assert stage_files(mnt, "m") == {1: "PRODUCTION", 2: "STAGING", 3: "ARCHIVED"}
    assert version_stages(mnt.db, "m") == {1: "PRODUCTION", 2: "STAGING", 3: "ARCHIVED"}
    assert link("production") == "versions/1" and link("staging") == "versions/2"
    ok(mnt, "echo PRODUCTION > models/m/versions/1/stage")     # again: nothing to archive
    assert stage_files(mnt, "m") == {1: "PRODUCTION", 2: "STAGING", 3: "ARCHIVED"}
    ok(mnt, "echo ARCHIVED > models/m/versions/2/stage")
    assert link("staging") is None
    ok(mnt, "echo NO_STAGE > models/m/versions/1/stage")
    assert link("production") is None
    assert sorted(os.listdir(mnt.p("models/m"))) == ["aliases", "created", "description",
                                                     "history", "model.yaml", "project",
                                                     "versions"]
    assert sqlite_rows(mnt.db, "SELECT COUNT(*) FROM model_version WHERE stage_id = %d"
                       % STAGE_ID["PRODUCTION"]) == [["0"]]
    # a trailing-newline-less write works too (the value is committed at close)
    ok(mnt, "printf STAGING > models/m/versions/3/stage")
    assert link("staging") == "versions/3"


def test_aliases(mnt):
    exp, iid = setup_model(mnt)
    for name in ("r1", "r2", "r3"):
        register(mnt, "m", iid, name)
    ok(mnt, "ln -sfn ../versions/3 models/m/aliases/champion\n"
            "ln -sfn ../versions/1 models/m/aliases/baseline")
    assert sorted(os.listdir(mnt.p("models/m/aliases"))) == ["baseline", "champion"]
    assert os.readlink(mnt.p("models/m/aliases/champion")) == "../versions/3"
    assert read(mnt, "models/m/aliases/champion/artifact") == pattern(202, 1002)
    assert ok(mnt, "readlink models/m/aliases/baseline") == "../versions/1\n"
    # move
    ok(mnt, "ln -sfn ../versions/2 models/m/aliases/champion")
    assert os.readlink(mnt.p("models/m/aliases/champion")) == "../versions/2"
    assert read(mnt, "models/m/aliases/champion/stage") == b"NO_STAGE\n"
    rows = sqlite_rows(mnt.db, "SELECT a.alias, v.version FROM model_alias a JOIN "
                               "model_version v ON v.id = a.version_id ORDER BY a.alias")
    assert rows == [["baseline", "1"], ["champion", "2"]]
    # remove
    ok(mnt, "rm models/m/aliases/champion")
    assert os.listdir(mnt.p("models/m/aliases")) == ["baseline"]
    assert sqlite_rows(mnt.db, "SELECT alias FROM model_alias") == [["baseline"]]
    # deleting the version an alias names leaves no dangling alias
    ok(mnt, "rm -r projects/p/models/m/versions/1")
    assert os.listdir(mnt.p("models/m/aliases")) == []
    assert sqlite_rows(mnt.db, "SELECT COUNT(*) FROM model_alias") == [["0"]]


def test_delete_model_with_versions_and_aliases(mnt):
    exp, iid = setup_model(mnt)
    for name in ("r1", "r2"):
        register(mnt, "m", iid, name)
    ok(mnt, "echo PRODUCTION > models/m/versions/2/stage\n"
            "ln -sfn ../versions/1 models/m/aliases/a")
    r = sh(mnt, "rm -r projects/p/models/m")
    assert (r.returncode, r.stderr) == (0, "")
    assert os.listdir(mnt.p("models")) == []
    assert os.listdir(mnt.p("projects/p/models")) == []
    assert not os.path.lexists(mnt.p("models/m"))
    for t in ("model", "model_version", "model_alias"):
        assert sqlite_rows(mnt.db, "SELECT COUNT(*) FROM %s" % t) == [["0"]], t
    # resources stay
    assert sorted(os.listdir(mnt.p(exp, "resources"))) == ["r1", "r2", "r3"]
    # with no versions left in it, the project can go (models first)
    r = sh(mnt, "rm -r projects/p")
    assert (r.returncode, r.stderr) == (0, "")
    assert os.listdir(mnt.p("projects")) == []
    assert sqlite_rows(mnt.db, "SELECT COUNT(*) FROM resource") == [["0"]]


def test_model_deleted_and_recreated_is_usable_at_once(mnt):
    """rm -r of a model through projects/<p>/models/<m> takes /models/<m> away at once in
    the same mount, and a model made again under the same name is reachable through
    /models/<m> at once, numbered from 1 (a new model)."""
    exp, iid = setup_model(mnt)
    assert register(mnt, "m", iid, "r1") == 1          # the kernel now knows models/m
    assert read(mnt, "models/m/versions/1/artifact") == pattern(200, 1000)
    ok(mnt, "rm -r projects/p/models/m")
    assert not os.path.lexists(mnt.p("models/m")), "stale /models/m after rm -r"
    ok(mnt, "mkdir projects/p/models/m")
    assert os.readlink(mnt.p("models/m")) == "../projects/p/models/m"
    assert os.listdir(mnt.p("models/m/versions")) == []
    assert register(mnt, "m", iid, "r2") == 1
    assert read(mnt, "models/m/versions/1/artifact") == pattern(201, 1001)


def test_models_in_two_projects(mnt):
    _, a = make_run(mnt, "p", "e")
    _, b = make_run(mnt, "q", "f")
    ok(mnt, "mkdir projects/p/models/mp projects/q/models/mq")
    assert sorted(os.listdir(mnt.p("models"))) == ["mp", "mq"]
    assert os.readlink(mnt.p("models/mq")) == "../projects/q/models/mq"
    assert os.listdir(mnt.p("projects/p/models")) == ["mp"]
    assert register(mnt, "mq", b) == 1
    assert register(mnt, "mp", a) == 1           # numbers are per model
    assert read(mnt, "models/mq/project") == b"q\n"


def test_registry_survives_a_remount(tmp_path):
    root = str(tmp_path)
    with mounted(root) as mnt:
        exp, iid = setup_model(mnt)
        for name in ("r1", "r2"):
            register(mnt, "m", iid, name)
        ok(mnt, "echo PRODUCTION > models/m/versions/2/stage\n"
                "echo STAGING > models/m/versions/1/stage\n"
                "ln -sfn ../versions/1 models/m/aliases/old")
    with mounted(root) as mnt:
        assert os.readlink(mnt.p("models/m/production")) == "versions/2"
        assert os.readlink(mnt.p("models/m/staging")) == "versions/1"
        assert os.readlink(mnt.p("models/m/aliases/old")) == "../versions/1"
        assert read(mnt, "models/m/production/artifact") == pattern(201, 1001)
        assert register(mnt, "m", iid) == 3
