"""`deardiary run` and `deardiary restore` against a real mount, real processes, real
signals and a real git repository: the iteration's status, error_message and snapshot
are checked in the database file (sqlite3) and through the mount."""
import json
import os
import signal
import subprocess
import time

from conftest import BIN, sqlite_rows

NO_GIT = {"GIT_CEILING_DIRECTORIES": "/tmp"}   # tmp_path is never inside a repository


def make_experiment(mnt, project="fraud", experiment="sweep"):
    exp = mnt.p("projects", project, "experiments", experiment)
    os.makedirs(exp)
    return exp


def dd_run(args, cwd=None, env=None, **kw):
    """Run `deardiary run ARGS` to completion; returns the CompletedProcess."""
    e = dict(os.environ, **(env or {}))
    return subprocess.run([BIN, "run", *args], cwd=cwd, env=e, capture_output=True,
                          timeout=60, **kw)


def iteration(db, iid):
    """(status_id, error_message, end_date, parent, git_sha, git_dirty, entrypoint,
    julia_version) of one iteration, read with sqlite3."""
    # one JSON array per row: messages hold newlines, which the CLI would split on
    rows = sqlite_rows(db, "SELECT json_array(status_id, error_message, ifnull(end_date,''),"
                           " ifnull(parent_iteration_id,''), git_sha, git_dirty, entrypoint,"
                           " julia_version) FROM iteration WHERE id = %d" % iid)
    assert len(rows) == 1, rows
    return [str(v) for v in json.loads(rows[0][0])]


def iteration_ids(db):
    return [int(r[0]) for r in sqlite_rows(db, "SELECT id FROM iteration ORDER BY id")]


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def wait_for_file(path, proc, timeout=20):
    deadline = time.time() + timeout
    while not (os.path.exists(path) and read(path).strip()):
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, "no %s" % path
        time.sleep(0.02)
    return int(read(path).strip())


def test_success_logs_through_the_mount(mnt, tmp_path):
    exp = make_experiment(mnt)
    script = ('echo 7 > "$DEARDIARY_ITERATION/params/max_depth";'
              'for i in 1 2 3; do echo "0.$i" >> "$DEARDIARY_ITERATION/metrics/acc"; done;'
              'cat "$DEARDIARY_ITERATION/status";'
              'echo "id=$DEARDIARY_ITERATION_ID exp=$DEARDIARY_EXPERIMENT db=$DEARDIARY_DB_FILE"')
    r = dd_run([exp, "--", "sh", "-c", script], cwd=str(tmp_path), env=NO_GIT)
    assert r.returncode == 0, r.stderr
    assert iteration_ids(mnt.db) == [1]
    out = r.stdout.decode().splitlines()
    assert out[0] == "RUNNING"                       # the command ran inside the iteration
    assert out[1] == "id=1 exp=%s db=%s" % (exp, os.path.realpath(mnt.db))
    status, msg, ended, parent, sha, dirty, entry, jv = iteration(mnt.db, 1)
    assert (status, msg, parent, sha, dirty, jv) == ("2", "", "", "", "0", "")
    assert ended.endswith("Z")
    assert entry == "sh -c '%s'" % script.replace("'", "'\\''")
    it = os.path.join(exp, "iterations", "1")
    assert read(os.path.join(it, "status")) == "SUCCEEDED\n"
    assert read(os.path.join(it, "params", "max_depth")) == "7\n"
    assert [l.split()[1] for l in read(os.path.join(it, "metrics", "acc")).splitlines()] == \
        ["0.1", "0.2", "0.3"]
    assert read(os.path.join(it, "env", "entrypoint")) == entry + "\n"
    assert read(os.path.join(it, "env", "git_sha")) == "\n"      # outside any git tree
    assert read(os.path.join(it, "env", "git_dirty")) == "false\n"


def test_failure_keeps_the_stderr_tail(mnt, tmp_path):
    exp = make_experiment(mnt)
    # 30 lines on stderr, some stdout in between, exit 3
    script = "for i in $(seq 1 30); do echo \"err $i\" >&2; echo \"out $i\"; done; exit 3"
    r = dd_run([exp, "--", "bash", "-c", script], cwd=str(tmp_path), env=NO_GIT)
    assert r.returncode == 3
    # stderr reaches the caller unchanged, and stdout is untouched
    assert r.stderr.decode() == "".join("err %d\n" % i for i in range(1, 31))
    assert r.stdout.decode() == "".join("out %d\n" % i for i in range(1, 31))
    status, msg, ended, *_ = iteration(mnt.db, 1)
    assert status == "3" and ended
    assert msg == "\n".join("err %d" % i for i in range(11, 31))   # the last 20 lines
    it = os.path.join(exp, "iterations", "1")
    assert read(os.path.join(it, "status")) == "FAILED\n"
    assert read(os.path.join(it, "error_message")) == msg + "\n"


def test_failure_tail_is_bounded_and_silent_failure_says_so(mnt, tmp_path):
    exp = make_experiment(mnt)
    big = "python3 -c 'import sys; sys.stderr.write(\"x\" * 100000 + \"\\nlast\\n\")'; exit 1"
    r = dd_run([exp, "--", "sh", "-c", big], cwd=str(tmp_path), env=NO_GIT)
    assert r.returncode == 1
    assert len(r.stderr) == 100006                       # all of it passed through
    msg = iteration(mnt.db, 1)[1]
    assert msg.endswith("x\nlast") and len(msg) <= 4096
    r = dd_run([exp, "--", "sh", "-c", "exit 4"], cwd=str(tmp_path), env=NO_GIT)
    assert r.returncode == 4
    assert iteration(mnt.db, 2)[:2] == ["3", "exit status 4"]
    r = dd_run([exp, "--", "no-such-command-dd"], cwd=str(tmp_path), env=NO_GIT)
    assert r.returncode == 127
    assert iteration(mnt.db, 3)[:2] == ["3", "deardiary run: no-such-command-dd: "
                                              "No such file or directory"]


def start(exp, script, tmp_path, env=None):
    """Start `deardiary run` in the background with a command that writes its pid."""
    e = dict(os.environ, **NO_GIT, **(env or {}))
    return subprocess.Popen([BIN, "run", exp, "--", "sh", "-c", script], cwd=str(tmp_path),
                            env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def check_killed(mnt, exp, proc, sig, signame):
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + sig, err
    status, msg, ended, *_ = iteration(mnt.db, 1)
    assert status == "4" and ended
    assert msg.splitlines()[0] == "killed by " + signame
    assert read(os.path.join(exp, "iterations", "1", "status")) == "KILLED\n"


def test_child_killed_with_term(mnt, tmp_path):
    exp = make_experiment(mnt)
    proc = start(exp, "echo started >&2; echo $$ > pid; exec sleep 60", tmp_path)
    pid = wait_for_file(str(tmp_path / "pid"), proc)
    assert read(os.path.join(exp, "iterations", "1", "status")) == "RUNNING\n"
    os.kill(pid, signal.SIGTERM)
    check_killed(mnt, exp, proc, signal.SIGTERM, "SIGTERM")
    assert iteration(mnt.db, 1)[1] == "killed by SIGTERM\nstarted"


def test_child_killed_with_kill(mnt, tmp_path):
    exp = make_experiment(mnt)
    proc = start(exp, "echo $$ > pid; exec sleep 60", tmp_path)
    os.kill(wait_for_file(str(tmp_path / "pid"), proc), signal.SIGKILL)
    check_killed(mnt, exp, proc, signal.SIGKILL, "SIGKILL")


def test_run_interrupted_with_sigint_forwards_it(mnt, tmp_path):
    exp = make_experiment(mnt)
    proc = start(exp, "echo $$ > pid; exec sleep 60", tmp_path)
    child = wait_for_file(str(tmp_path / "pid"), proc)
    proc.send_signal(signal.SIGINT)                  # to deardiary run, not to the command
    check_killed(mnt, exp, proc, signal.SIGINT, "SIGINT")
    assert not os.path.exists("/proc/%d" % child)    # the command got it and is gone


def test_run_interrupted_is_killed_even_if_the_command_exits_cleanly(mnt, tmp_path):
    exp = make_experiment(mnt)
    script = ("trap 'echo caught INT >&2; exit 0' INT; echo $$ > pid;"
              "while :; do sleep 0.05; done")
    proc = start(exp, script, tmp_path)
    wait_for_file(str(tmp_path / "pid"), proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0                      # the command's own status
    assert b"caught INT" in err
    status, msg, *_ = iteration(mnt.db, 1)
    assert status == "4"
    assert msg == "deardiary run interrupted by SIGINT\ncaught INT"


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_git_sha_and_dirty_flag(mnt, tmp_path):
    exp = make_experiment(mnt)
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "train.sh").write_text("echo hi\n")
    (repo / "untracked.txt").write_text("x\n")
    git(repo, "add", "train.sh")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "one")
    head = git(repo, "rev-parse", "HEAD")
    r = dd_run([exp, "--", "sh", "train.sh"], cwd=str(repo / "."))
    assert r.returncode == 0, r.stderr
    assert iteration(mnt.db, 1)[4:6] == [head, "0"]     # untracked files are not dirt
    (repo / "train.sh").write_text("echo changed\n")
    r = dd_run([exp, "--", "sh", "train.sh"], cwd=str(repo))
    assert r.returncode == 0, r.stderr
    assert iteration(mnt.db, 2)[4:6] == [head, "1"]
    assert read(os.path.join(exp, "iterations", "2", "env", "git_sha")) == head + "\n"
    assert read(os.path.join(exp, "iterations", "2", "env", "git_dirty")) == "true\n"
    # without git on PATH the run still succeeds, with an empty SHA
    r = dd_run([exp, "--", "/bin/sh", "train.sh"], cwd=str(repo), env={"PATH": "/nonexistent"})
    assert r.returncode == 0, r.stderr
    assert iteration(mnt.db, 3)[:1] + iteration(mnt.db, 3)[4:6] == ["2", "", "0"]


def test_run_outside_any_git_tree(mnt, tmp_path):
    exp = make_experiment(mnt)
    work = tmp_path / "plain"
    work.mkdir()
    r = dd_run([exp, "--", "true"], cwd=str(work), env=NO_GIT)
    assert r.returncode == 0 and r.stderr == b""
    assert iteration(mnt.db, 1)[:1] + iteration(mnt.db, 1)[4:7] == ["2", "", "0", "true"]


def test_restore_round_trip_is_byte_equal(mnt, tmp_path):
    exp = make_experiment(mnt)
    work = tmp_path / "work"
    work.mkdir()
    files = {
        "Project.toml": b'name = "Fraud"\n[deps]\nMLJ = "add582a8-e3ab-11e8-2d5e-e98b27df1bc7"\n',
        "Manifest.toml": b'# This file is machine-generated\njulia_version = "1.10.2"\n' * 50,
        "requirements.txt": b"numpy==1.26.4\r\ntorch==2.3.0  # CRLF and no final newline",
        "uv.lock": bytes(range(256)) * 40,            # any bytes, NULs included
        "environment.yml": "name: caf\u00e9\n".encode(),
        "Cargo.lock": b"",                             # empty but present
        "package-lock.json": b'{"lockfileVersion": 3}\n',
        "poetry.lock": b"[[package]]\n" * 1000,
    }
    for name, data in files.items():
        (work / name).write_bytes(data)
    (work / "other.lock").write_bytes(b"not captured\n")
    r = dd_run([exp, "--", "python3", "-c", "print(1)"], cwd=str(work), env=NO_GIT)
    assert r.returncode == 0, r.stderr
    env_dir = os.path.join(exp, "iterations", "1", "env")
    listed = set(os.listdir(env_dir))
    assert set(files) <= listed and "other.lock" not in listed
    for name, data in files.items():
        assert read(os.path.join(env_dir, name), "rb") == data, name
    # by the iteration's path in the mount, then by id in the database
    for i, target in enumerate([os.path.join(exp, "iterations", "1"), "1"]):
        out = tmp_path / ("restored%d" % i)
        args = [target, str(out)] if i == 0 else ["--db", mnt.db, target, str(out)]
        r = subprocess.run([BIN, "restore", *args], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert lines[:4] == ["git_sha: ", "git_dirty: false",
                             "entrypoint: python3 -c 'print(1)'", "julia_version: "]
        assert sorted(os.listdir(out)) == sorted(files)
        for name, data in files.items():
            assert (out / name).read_bytes() == data, name
        assert "file: %s/Manifest.toml" % out in lines


def test_restore_refusals(mnt, tmp_path):
    exp = make_experiment(mnt)
    r = subprocess.run([BIN, "restore", "--db", mnt.db, "42", str(tmp_path / "x")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "42" in r.stderr
    assert not (tmp_path / "x").exists()
    # a child iteration has no snapshot unless asked
    assert dd_run([exp, "--", "true"], cwd=str(tmp_path), env=NO_GIT).returncode == 0
    assert dd_run(["--parent", "1", exp, "--", "true"], cwd=str(tmp_path)).returncode == 0
    r = subprocess.run([BIN, "restore", os.path.join(exp, "iterations", "2"),
                        str(tmp_path / "y")], capture_output=True, text=True)
    assert r.returncode == 1 and "no captured environment" in r.stderr
    assert not (tmp_path / "y").exists()


def test_parent_and_snapshot_policy(mnt, tmp_path):
    exp = make_experiment(mnt)
    (tmp_path / "requirements.txt").write_text("numpy\n")
    assert dd_run([exp, "--", "true"], cwd=str(tmp_path), env=NO_GIT).returncode == 0
    r = dd_run(["--parent", "1", exp, "--", "sh", "-c", "echo $DEARDIARY_ITERATION"],
               cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == os.path.join(exp, "iterations", "2") + "\n"
    assert dd_run(["--parent", os.path.join(exp, "iterations", "1"), "--snapshot", exp, "--",
                   "true"], cwd=str(tmp_path), env=NO_GIT).returncode == 0
    assert dd_run(["--no-snapshot", exp, "--", "true"], cwd=str(tmp_path)).returncode == 0
    rows = sqlite_rows(mnt.db, "SELECT id, ifnull(parent_iteration_id,''), entrypoint,"
                               " (SELECT count(*) FROM iteration_file f WHERE"
                               " f.iteration_id = iteration.id) FROM iteration ORDER BY id")
    assert rows == [["1", "", "true", "1"], ["2", "1", "", "0"], ["3", "1", "true", "1"],
                    ["4", "", "", "0"]]
    assert sorted(os.listdir(os.path.join(exp, "iterations", "1", "children"))) == ["2", "3"]


def test_refusals_change_nothing(mnt, tmp_path):
    exp = make_experiment(mnt)
    other = make_experiment(mnt, "fraud", "other")
    assert dd_run([other, "--", "true"], cwd=str(tmp_path), env=NO_GIT).returncode == 0
    cases = [
        (["--parent", "1", exp, "--", "true"], "another experiment"),
        (["--parent", "99", exp, "--", "true"], "99"),
        ([mnt.p("projects", "fraud"), "--", "true"], "not an experiment directory"),
        ([exp], "no command"),
        (["--bogus", exp, "--", "true"], "unknown option"),
    ]
    for args, message in cases:
        r = dd_run(args, cwd=str(tmp_path))
        assert r.returncode in (2, 125), (args, r.returncode)
        assert message in r.stderr.decode(), (args, r.stderr)
    with open(os.path.join(exp, "status"), "w") as f:
        f.write("STOPPED\n")
    r = dd_run([exp, "--", "true"], cwd=str(tmp_path))
    assert r.returncode == 125 and b"IN_PROGRESS" in r.stderr.replace(b" ", b"_")
    assert iteration_ids(mnt.db) == [1]


def test_database_reference_without_a_mount(tmp_path):
    db = str(tmp_path / "plain.db")
    # only init and mount create a registry (tests/integration/test_cli.py)
    assert subprocess.run([BIN, "init", db], capture_output=True).returncode == 0
    env = dict(NO_GIT, DEARDIARY_ITERATION="/stale/from/outer/run")
    r = dd_run(["--db", db, "fraud/sweep", "--", "sh", "-c",
                'echo "[${DEARDIARY_ITERATION-unset}] $DEARDIARY_ITERATION_ID '
                '$DEARDIARY_EXPERIMENT"; exit 2'], cwd=str(tmp_path), env=env)
    assert r.returncode == 2
    assert r.stdout.decode() == "[unset] 1 fraud/sweep\n"
    assert sqlite_rows(db, "SELECT p.name, e.name, i.status_id FROM iteration i JOIN "
                           "experiment e ON e.id = i.experiment_id JOIN project p ON "
                           "p.id = e.project_id") == [["fraud", "sweep", "3"]]
    # the configured database (DEARDIARY_DB_FILE), and a bad reference
    r = dd_run(["fraud/sweep", "--", "true"], cwd=str(tmp_path),
               env=dict(NO_GIT, DEARDIARY_DB_FILE=db))
    assert r.returncode == 0, r.stderr
    r = dd_run(["--db", db, "no-slash", "--", "true"], cwd=str(tmp_path))
    assert r.returncode == 125 and b"PROJECT/EXPERIMENT" in r.stderr
    assert len(sqlite_rows(db, "SELECT id FROM iteration")) == 2


def test_database_reference_to_a_mounted_database_gets_the_directory(mnt, tmp_path):
    exp = make_experiment(mnt)
    r = dd_run(["--db", mnt.db, "fraud/sweep", "--", "sh", "-c",
                'echo 0.5 >> "$DEARDIARY_ITERATION/metrics/acc"; echo "$DEARDIARY_ITERATION"'],
               cwd=str(tmp_path), env=NO_GIT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == os.path.join(exp, "iterations", "1") + "\n"
    assert sqlite_rows(mnt.db, "SELECT key, value FROM metric") == [["acc", "0.5"]]
    assert read(os.path.join(exp, "iterations", "1", "status")) == "SUCCEEDED\n"


def test_julia_command_is_detected(mnt, tmp_path):
    """A command whose name starts with "julia" is asked for its version (here a tiny
    stand-in executable, since Julia itself is not a test dependency), and --project=DIR
    picks the project captured as env/Project.toml and env/Manifest.toml."""
    exp = make_experiment(mnt)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "julia-1.10"
    fake.write_text('#!/bin/sh\n[ "$1" = --version ] && echo "julia version 1.10.2"\nexit 0\n')
    fake.chmod(0o755)
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "Project.toml").write_text('name = "P"\n')
    (proj / "Manifest.toml").write_text('julia_version = "1.10.2"\n')
    r = dd_run([exp, "--", str(fake), "--project=%s" % proj, "run.jl"], cwd=str(tmp_path),
               env=NO_GIT)
    assert r.returncode == 0, r.stderr
    assert iteration(mnt.db, 1)[7] == "1.10.2"
    env_dir = os.path.join(exp, "iterations", "1", "env")
    assert read(os.path.join(env_dir, "julia_version")) == "1.10.2\n"
    assert read(os.path.join(env_dir, "Project.toml")) == 'name = "P"\n'
    assert read(os.path.join(env_dir, "Manifest.toml")) == 'julia_version = "1.10.2"\n'
    # not a Julia command: no version, even with the same files around
    r = dd_run([exp, "--", "true"], cwd=str(proj), env=NO_GIT)
    assert iteration(mnt.db, 2)[7] == ""
