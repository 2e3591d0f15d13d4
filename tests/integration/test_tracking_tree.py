"""The tree: projects, experiments, iterations (clone files), value files and their rules,
tags, modes, and stat sizes - driven with bash, coreutils, find, grep, tar, du and Python."""
import os
import stat

from conftest import sqlite_rows
from helpers_tracking import (TS_RE, counts, make_run, mode, ok, populate, read, refused,
                              sh)

# conftest: each test that takes `mnt` runs over a local and a remote mount
REMOTE = True
REMOTE_NOT_YET = {}  # test -> why it cannot run remote yet


# ---------------------------------------------------------------- projects / experiments

def test_mkdir_creates_projects_and_experiments(mnt):
    ok(mnt, """
    mkdir projects/p1 "projects/with space"
    mkdir projects/p1/experiments/e1 projects/p1/experiments/e2
    """)
    assert sorted(os.listdir(mnt.p("projects"))) == ["p1", "with space"]
    assert sorted(os.listdir(mnt.p("projects", "p1", "experiments"))) == ["e1", "e2"]
    assert sqlite_rows(mnt.db, "SELECT name FROM project ORDER BY name") == [["p1"],
                                                                           ["with space"]]
    assert sqlite_rows(mnt.db, "SELECT e.name, e.status_id, CAST(e.end_date IS NULL AS INTEGER)"
                               " FROM "
                               "experiment e JOIN project p ON p.id = e.project_id "
                               "WHERE p.name = 'p1' ORDER BY e.name") == [
        ["e1", "1", "1"], ["e2", "1", "1"]]
    assert read(mnt, "projects/p1/experiments/e1/status") == b"IN_PROGRESS\n"
    assert sorted(os.listdir(mnt.p("projects", "p1"))) == ["created", "description",
                                                           "experiments", "models", "tags"]
    assert sorted(os.listdir(mnt.p("projects", "p1", "experiments", "e1"))) == [
        "charts", "created", "description", "ended", "iterations", "resources", "status", "tags"]


def test_utf8_names_round_trip(mnt):
    name = "Détection de fraude ✓"
    ok(mnt, 'mkdir "projects/%s" "projects/%s/experiments/β-sweep"' % (name, name))
    assert os.listdir(mnt.p("projects")) == [name]
    assert sqlite_rows(mnt.db, "SELECT name FROM project") == [[name]]
    assert os.listdir(mnt.p("projects", name, "experiments")) == ["β-sweep"]


def test_mv_renames_project_and_keeps_contents(mnt):
    exp, run, iid = make_run(mnt, "old", "e")
    ok(mnt, 'echo 7 > %s/params/max_depth\nmv projects/old projects/new' % run)
    assert os.listdir(mnt.p("projects")) == ["new"]
    assert not os.path.exists(mnt.p("projects", "old"))
    assert read(mnt, "projects/new/experiments/e/iterations/%s/params/max_depth" % iid) \
        == b"7\n"
    assert sqlite_rows(mnt.db, "SELECT name FROM project") == [["new"]]
    assert counts(mnt.db)["iteration"] == 1


def test_mv_renames_experiment_within_project(mnt):
    exp, run, iid = make_run(mnt, "p", "before")
    ok(mnt, "mv projects/p/experiments/before projects/p/experiments/after")
    assert os.listdir(mnt.p("projects", "p", "experiments")) == ["after"]
    assert os.path.isdir(mnt.p("projects", "p", "experiments", "after", "iterations", iid))
    assert sqlite_rows(mnt.db, "SELECT name FROM experiment") == [["after"]]


def test_rm_r_project_deletes_everything_below(mnt):
    populate(mnt)
    ok(mnt, "rm -r projects/alpha")
    assert os.listdir(mnt.p("projects")) == ["beta"]
    c = counts(mnt.db)
    assert c["project"] == 1 and c["experiment"] == 1 and c["iteration"] == 1
    assert c["parameter"] == 0 and c["metric"] == 0 and c["metric_latest"] == 0
    assert c["project_tag"] == 0 and c["experiment_tag"] == 0 and c["iteration_tag"] == 0


def test_rm_r_experiment(mnt):
    populate(mnt)
    ok(mnt, "rm -r projects/alpha/experiments/sweep")
    assert os.listdir(mnt.p("projects", "alpha", "experiments")) == ["grid"]
    assert sqlite_rows(mnt.db, "SELECT name FROM experiment ORDER BY name") == [["grid"],
                                                                              ["solo"]]
    c = counts(mnt.db)
    assert c["iteration"] == 2
    # only the grid iteration's lr remains
    assert sqlite_rows(mnt.db, "SELECT key FROM parameter") == [["lr"]]
    assert sqlite_rows(mnt.db, "SELECT DISTINCT key FROM metric") == [["val_loss"]]


def test_rm_r_iteration_keeps_children_as_top_level(mnt):
    ids = populate(mnt)
    e = "projects/alpha/experiments/sweep"
    assert os.readlink(mnt.p(e, "iterations", ids["b"], "parent")) == "../" + ids["a"]
    ok(mnt, "rm -r %s/iterations/%s" % (e, ids["a"]))
    assert os.listdir(mnt.p(e, "iterations")) == [ids["b"]]
    assert not os.path.lexists(mnt.p(e, "iterations", ids["b"], "parent"))
    assert sqlite_rows(mnt.db, "SELECT CAST(parent_iteration_id IS NULL AS INTEGER)"
                               " FROM iteration "
                               "WHERE id = %s" % ids["b"]) == [["1"]]
    assert sqlite_rows(mnt.db, "SELECT COUNT(*) FROM parameter WHERE iteration_id = %s"
                       % ids["a"]) == [["0"]]
    assert sqlite_rows(mnt.db, "SELECT COUNT(*) FROM metric WHERE iteration_id = %s"
                       % ids["a"]) == [["0"]]


def test_rm_r_iteration_without_children(mnt):
    exp, r1, i1 = make_run(mnt)
    exp, r2, i2 = make_run(mnt)
    ok(mnt, "echo 7 > %s/params/a\necho 0.5 >> %s/metrics/m\ntouch %s/tags/t\n"
            "echo 8 > %s/params/a\nrm -r %s" % (r1, r1, r1, r2, r1))
    assert os.listdir(mnt.p(exp, "iterations")) == [i2]
    assert sqlite_rows(mnt.db, "SELECT id FROM iteration") == [[i2]]
    assert sqlite_rows(mnt.db, "SELECT iteration_id, value FROM parameter") == [[i2, "8"]]
    c = counts(mnt.db)
    assert c["metric"] == 0 and c["metric_latest"] == 0 and c["iteration_tag"] == 0


def test_rmdir_empty_project(mnt):
    ok(mnt, "mkdir projects/empty\nrmdir projects/empty")
    assert os.listdir(mnt.p("projects")) == []
    assert counts(mnt.db)["project"] == 0


# ---------------------------------------------------------------- clone files

def test_cat_iterations_new_prints_new_ids(mnt):
    ok(mnt, "mkdir projects/p projects/p/experiments/e")
    e = "projects/p/experiments/e"
    out = ok(mnt, "cat %s/iterations/new; cat %s/iterations/new" % (e, e))
    ids = out.split("\n")
    assert ids[2] == "" and len(ids) == 3, repr(out)
    assert ids[0].isdigit() and ids[1].isdigit() and ids[0] != ids[1]
    assert sorted(os.listdir(mnt.p(e, "iterations"))) == sorted(ids[:2])
    assert sqlite_rows(mnt.db, "SELECT id, status_id, CAST(end_date IS NULL AS INTEGER)"
                               " FROM iteration "
                               "ORDER BY id") == [[ids[0], "1", "1"], [ids[1], "1", "1"]]
    assert read(mnt, "%s/iterations/%s/status" % (e, ids[0])) == b"RUNNING\n"


def test_children_new_makes_a_child(mnt):
    exp, run, pid = make_run(mnt)
    cid = ok(mnt, "cat %s/children/new" % run).strip()
    assert cid.isdigit() and cid != pid
    child = "%s/iterations/%s" % (exp, cid)
    assert os.readlink(mnt.p(child, "parent")) == "../" + pid
    # the symlink resolves to the parent's directory
    assert os.path.samefile(mnt.p(child, "parent"), mnt.p(run))
    assert os.listdir(mnt.p(run, "children")) == [cid]
    # children/<id> is a file holding the id, not a link back (no cycle with `parent`)
    assert not os.path.islink(mnt.p(run, "children", cid))
    assert read(mnt, "%s/children/%s" % (run, cid)) == (cid + "\n").encode()
    assert not os.path.lexists(mnt.p(run, "parent"))
    assert sqlite_rows(mnt.db, "SELECT CAST(experiment_id = (SELECT experiment_id FROM "
                               "iteration WHERE id = %s) AS INTEGER), parent_iteration_id FROM "
                               "iteration WHERE "
                               "id = %s" % (pid, cid)) == [["1", pid]]
    assert sorted(os.listdir(mnt.p(exp, "iterations"))) == sorted([pid, cid], key=str)


def test_control_files_not_listed(mnt):
    exp, run, iid = make_run(mnt)
    assert "new" not in os.listdir(mnt.p(exp, "iterations"))
    assert "new" not in os.listdir(mnt.p(run, "children"))
    out = ok(mnt, "ls -a %s/iterations %s/children; find projects" % (exp, run))
    assert "new" not in out.split("\n") and "/new\n" not in out
    assert not any(line.endswith("/new") for line in out.splitlines())
    assert counts(mnt.db)["iteration"] == 1


def test_walking_tools_never_create_iterations(mnt):
    populate(mnt)
    before = counts(mnt.db)["iteration"]
    ok(mnt, """
    find . > /dev/null
    find . -type f -exec cat {} + > /dev/null
    grep -r zzz-not-there . || true
    tar cf /dev/null projects
    du -a projects > /dev/null
    ls -laR projects > /dev/null
    """)
    for d, dirs, files in os.walk(mnt.path):
        for f in files:
            open(os.path.join(d, f), "rb").read()
    assert counts(mnt.db)["iteration"] == before


def test_stat_of_clone_file_creates_nothing(mnt):
    # Interpretation: only open() (cat) creates; looking the name up does not.
    exp, run, iid = make_run(mnt)
    ok(mnt, "stat %s/iterations/new >/dev/null; test -e %s/children/new; "
            "ls -l %s/iterations/new >/dev/null" % (exp, run, exp))
    assert counts(mnt.db)["iteration"] == 1


# ---------------------------------------------------------------- value files

def test_created_files_are_timestamps(mnt):
    exp, run, iid = make_run(mnt, "p", "e")
    for rel in ("projects/p/created", exp + "/created", run + "/created"):
        text = read(mnt, rel).decode()
        assert text.endswith("\n") and TS_RE.match(text[:-1]), (rel, text)
    assert read(mnt, run + "/created").decode().strip() == sqlite_rows(
        mnt.db, "SELECT created_date FROM iteration")[0][0]


def test_description_notes_error_message(mnt):
    exp, run, iid = make_run(mnt, "p", "e")
    ok(mnt, """
    echo "project text" > projects/p/description
    echo "experiment text" > %s/description
    echo "some notes" > %s/notes
    echo "boom" > %s/error_message
    """ % (exp, run, run))
    assert read(mnt, "projects/p/description") == b"project text\n"
    assert read(mnt, exp + "/description") == b"experiment text\n"
    assert read(mnt, run + "/notes") == b"some notes\n"
    assert read(mnt, run + "/error_message") == b"boom\n"
    assert sqlite_rows(mnt.db, "SELECT description FROM project") == [["project text"]]
    assert sqlite_rows(mnt.db, "SELECT description FROM experiment") == [["experiment text"]]
    assert sqlite_rows(mnt.db, "SELECT notes, error_message FROM iteration") == [
        ["some notes", "boom"]]


def test_one_trailing_newline_dropped_and_overwrite(mnt):
    exp, run, iid = make_run(mnt)
    ok(mnt, "printf 'line one\\nline two\\n' > %s/notes" % run)
    # the exact bytes, newline included (a row of the CLIs' output cannot hold one)
    assert sqlite_rows(mnt.db, "SELECT CAST(notes = 'line one\nline two' AS INTEGER),"
                               " length(notes) FROM iteration") == [["1", "17"]]
    assert read(mnt, run + "/notes") == b"line one\nline two\n"
    ok(mnt, "echo short > %s/notes" % run)
    assert read(mnt, run + "/notes") == b"short\n"
    ok(mnt, "printf 'no newline' > %s/notes" % run)
    assert sqlite_rows(mnt.db, "SELECT notes FROM iteration") == [["no newline"]]
    ok(mnt, "echo > %s/notes" % run)
    assert sqlite_rows(mnt.db, "SELECT length(notes) FROM iteration") == [["0"]]


def test_experiment_status_rules(mnt):
    exp, run, iid = make_run(mnt)
    assert read(mnt, exp + "/ended").strip() == b""
    ok(mnt, "echo STOPPED > %s/status" % exp)
    assert read(mnt, exp + "/status") == b"STOPPED\n"
    ended = read(mnt, exp + "/ended").decode()
    assert ended.endswith("\n") and TS_RE.match(ended[:-1])
    assert sqlite_rows(mnt.db, "SELECT status_id, end_date FROM experiment") == [
        ["2", ended[:-1]]]
    refused(mnt, "cat %s/iterations/new" % exp, "Invalid argument")
    refused(mnt, "cat %s/children/new" % run, "Invalid argument")
    assert counts(mnt.db)["iteration"] == 1
    ok(mnt, "echo IN_PROGRESS > %s/status" % exp)
    assert read(mnt, exp + "/ended").strip() == b""
    assert sqlite_rows(mnt.db, "SELECT status_id, CAST(end_date IS NULL AS INTEGER)"
                               " FROM experiment") == [
        ["1", "1"]]
    new = ok(mnt, "cat %s/iterations/new" % exp).strip()
    assert new.isdigit()
    ok(mnt, "echo FINISHED > %s/status" % exp)
    assert sqlite_rows(mnt.db, "SELECT status_id, CAST(end_date IS NOT NULL AS INTEGER)"
                               " FROM experiment") == [
        ["3", "1"]]
    assert TS_RE.match(read(mnt, exp + "/ended").decode().strip())
    refused(mnt, "cat %s/iterations/new" % exp, "Invalid argument")
    assert counts(mnt.db)["iteration"] == 2


def test_terminal_iteration_status_ends_it(mnt):
    exp, run, iid = make_run(mnt)
    ok(mnt, "echo 1 > %s/params/a\necho 0.5 >> %s/metrics/m\ntouch %s/tags/t" % (run, run, run))
    assert read(mnt, run + "/ended").strip() == b""
    ok(mnt, "echo SUCCEEDED > %s/status" % run)
    assert read(mnt, run + "/status") == b"SUCCEEDED\n"
    ended = read(mnt, run + "/ended").decode()
    assert TS_RE.match(ended.strip())
    assert sqlite_rows(mnt.db, "SELECT status_id, end_date FROM iteration") == [
        ["2", ended.strip()]]
    # everything in an ended iteration is read-only (files 0444, no write bit anywhere)
    for d, dirs, files in os.walk(mnt.p(run)):
        for name in files:
            p = os.path.join(d, name)
            m = stat.S_IMODE(os.lstat(p).st_mode)
            assert m == 0o444, (p, oct(m))
        for name in dirs:
            p = os.path.join(d, name)
            st = os.lstat(p)
            if stat.S_ISDIR(st.st_mode):
                assert not st.st_mode & 0o222, (p, oct(st.st_mode))


def test_other_terminal_statuses(mnt):
    for status, code in (("FAILED", "3"), ("KILLED", "4")):
        exp, run, iid = make_run(mnt)
        ok(mnt, "echo %s > %s/status" % (status, run))
        assert sqlite_rows(mnt.db, "SELECT status_id, CAST(end_date IS NOT NULL AS INTEGER)"
                                   " FROM iteration "
                                   "WHERE id = %s" % iid) == [[code, "1"]]
        assert mode(mnt, run + "/notes") == 0o444


def test_running_to_running_does_not_end(mnt):
    exp, run, iid = make_run(mnt)
    ok(mnt, "echo RUNNING > %s/status" % run)
    assert sqlite_rows(mnt.db, "SELECT status_id, CAST(end_date IS NULL AS INTEGER)"
                               " FROM iteration") == [
        ["1", "1"]]
    assert mode(mnt, run + "/notes") == 0o644


def test_ended_iteration_refuses_writes_and_stores_nothing(mnt):
    exp, run, iid = make_run(mnt)
    ok(mnt, "echo 1 > %s/params/a\necho 0.5 >> %s/metrics/m\ntouch %s/tags/t\n"
            "echo note > %s/notes\necho KILLED > %s/status" % (run, run, run, run, run))
    before = counts(mnt.db)
    rows_before = sqlite_rows(mnt.db, "SELECT * FROM iteration")
    for cmd in ("echo x > {r}/notes", "echo x > {r}/error_message", "echo 2 > {r}/params/a",
                "echo 2 > {r}/params/b", "echo 0.7 >> {r}/metrics/m",
                "echo 0.7 >> {r}/metrics/n", "echo RUNNING > {r}/status",
                "echo SUCCEEDED > {r}/status", "printf 'k: 1\\n' > {r}/params.yaml",
                "touch {r}/tags/new", "rm {r}/tags/t", "rm {r}/params/a", "rm {r}/metrics/m"):
        refused(mnt, cmd.format(r=run), "Read-only file system")
    assert counts(mnt.db) == before
    assert sqlite_rows(mnt.db, "SELECT * FROM iteration") == rows_before
    assert read(mnt, run + "/params/a") == b"1\n"
    assert read(mnt, run + "/notes") == b"note\n"


# ---------------------------------------------------------------- tags

def test_tags_touch_ls_rm(mnt):
    exp, run, iid = make_run(mnt, "p", "e")
    ok(mnt, """
    touch projects/p/tags/team projects/p/tags/prod
    touch %s/tags/nightly
    touch %s/tags/gold %s/tags/best
    touch %s/tags/gold
    """ % (exp, run, run, run))
    assert ok(mnt, "ls projects/p/tags").split() == ["prod", "team"]
    assert ok(mnt, "ls %s/tags" % exp).split() == ["nightly"]
    assert ok(mnt, "ls %s/tags" % run).split() == ["best", "gold"]
    assert sqlite_rows(mnt.db, "SELECT t.value FROM iteration_tag it JOIN tag t ON "
                               "t.id = it.tag_id ORDER BY 1") == [["best"], ["gold"]]
    ok(mnt, "rm %s/tags/gold projects/p/tags/team" % run)
    assert os.listdir(mnt.p(run, "tags")) == ["best"]
    assert os.listdir(mnt.p("projects", "p", "tags")) == ["prod"]
    assert sqlite_rows(mnt.db, "SELECT COUNT(*) FROM iteration_tag") == [["1"]]
    assert sqlite_rows(mnt.db, "SELECT COUNT(*) FROM project_tag") == [["1"]]


def test_same_tag_on_two_iterations(mnt):
    exp, r1, i1 = make_run(mnt)
    exp, r2, i2 = make_run(mnt)
    ok(mnt, "touch %s/tags/shared %s/tags/shared\nrm %s/tags/shared" % (r1, r2, r1))
    assert os.listdir(mnt.p(r1, "tags")) == []
    assert os.listdir(mnt.p(r2, "tags")) == ["shared"]


# ---------------------------------------------------------------- modes and sizes

def test_ls_l_modes(mnt):
    exp, run, iid = make_run(mnt, "p", "e")
    ok(mnt, "echo 1 > %s/params/a\necho 0.5 >> %s/metrics/m" % (run, run))
    writable = ["projects/p/description", exp + "/description", exp + "/status",
                run + "/status", run + "/notes", run + "/error_message", run + "/params/a",
                run + "/metrics/m", run + "/params.yaml", run + "/metrics.json"]
    readonly = ["projects/p/created", exp + "/created", exp + "/ended", run + "/created",
                run + "/ended", run + "/iteration.yaml"]
    readonly += [run + "/env/" + f for f in os.listdir(mnt.p(run, "env"))]
    out = ok(mnt, "ls -ld " + " ".join("'%s'" % p for p in writable + readonly))
    by_path = {line.split()[-1]: line.split()[0] for line in out.splitlines()}
    for p in writable:
        assert by_path[p] == "-rw-r--r--", (p, by_path[p])
    for p in readonly:
        assert by_path[p] == "-r--r--r--", (p, by_path[p])


def test_tag_file_mode_tells_the_truth(mnt):
    # README: "Files you may write are mode 0644, the others 0444". A tag file cannot be
    # written, so it must be 0444, unless writing to it is accepted.
    exp, run, iid = make_run(mnt)
    ok(mnt, "touch %s/tags/gold" % run)
    r = sh(mnt, "echo x > %s/tags/gold" % run)
    m = mode(mnt, run + "/tags/gold")
    assert m == 0o444 or r.returncode == 0, (oct(m), r.stderr)


def test_stat_size_equals_bytes_read_everywhere(mnt):
    populate(mnt)
    yaml_file = os.path.join(mnt.root, "p.yaml")
    with open(yaml_file, "w") as f:
        f.write("x: 1\ny:\n  z: two\n")
    ok(mnt, """
    r=$(ls -d projects/alpha/experiments/grid/iterations/*)
    cat '%s' > $r/params.yaml
    /usr/bin/printf '100 1e-05\\n101 123456.789\\n102 -3.5e+100\\n' >> $r/metrics/odd
    printf 'multi-line\\nnotes\\n' > $r/notes
    """ % yaml_file)
    checked = 0
    bad = []
    for d, dirs, files in os.walk(mnt.path):
        for name in files + dirs:
            p = os.path.join(d, name)
            st = os.lstat(p)
            if not stat.S_ISREG(st.st_mode):
                continue
            with open(p, "rb") as f:
                data = f.read()
            checked += 1
            if st.st_size != len(data):
                bad.append((os.path.relpath(p, mnt.path), st.st_size, len(data)))
    assert checked > 60
    assert bad == []


def test_sizes_follow_changes(mnt):
    exp, run, iid = make_run(mnt)
    for text in ("7", "a much longer value", "x"):
        ok(mnt, "echo '%s' > %s/params/v" % (text, run))
        assert os.stat(mnt.p(run, "params", "v")).st_size == len(text) + 1
    for i in range(5):
        ok(mnt, "echo 0.%d >> %s/metrics/m" % (i + 1, run))
        data = read(mnt, run + "/metrics/m")
        assert os.stat(mnt.p(run, "metrics", "m")).st_size == len(data)
        assert data.count(b"\n") == i + 1
