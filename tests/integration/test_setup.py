"""The README's set-up, run for real: what `make mount` installs and builds (the daemon's
needs only), `make install` into a DESTDIR (the command and its man page), `make on-path`
(the plain `deardiary` of the README), and the demo registry that `make mount` fills
through a real mount with the example scripts."""
import os
import re
import stat
import subprocess

from conftest import BIN, sqlite_rows

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TEST_ONLY = {"python3-pytest", "python3-pytest-xdist", "python3-boto3", "valgrind", "clang", "libclang-rt-14-dev",
             "npm:s3rver", "sqlite3", "chromium", "chromium-driver", "python3-selenium"}


def make(*args, env=None):
    return subprocess.run(["make", "--no-print-directory", "-C", ROOT, *args],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, **(env or {})))


def setup_list(*args):
    r = subprocess.run(["bash", os.path.join(ROOT, "scripts", "setup.sh"), *args, "--list"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return set(r.stdout.split())


def test_mount_needs_only_what_the_daemon_needs():
    base, full = setup_list(), setup_list("--test")
    assert {"libfuse3-dev", "fuse3", "libsqlite3-dev", "cmake"} <= base
    # the build embeds the dashboard's chart library, vendored from npm
    assert {"nodejs", "npm", "npm:uplot"} <= base
    assert not base & TEST_ONLY, base & TEST_ONLY
    assert TEST_ONLY <= full and base < full
    # make mount builds the command only, after the base set-up; make test the rest
    r = make("-n", "mount", "BUILD=build-dry-run-never-made")
    assert r.returncode == 0, r.stderr
    assert "scripts/setup.sh --test" not in r.stdout
    builds = [l for l in r.stdout.splitlines() if "cmake --build" in l]
    assert builds and all("--target deardiary" in l for l in builds), builds
    r = make("-n", "test", "BUILD=build-dry-run-never-made")
    assert "scripts/setup.sh --test" in r.stdout
    assert any("cmake --build" in l and "--target" not in l for l in r.stdout.splitlines())


def test_make_install_into_destdir(tmp_path):
    dest = tmp_path / "dest"
    r = make("install", "DESTDIR=%s" % dest, "PREFIX=/opt/dd", "BUILD=%s" % os.path.dirname(BIN))
    assert r.returncode == 0, r.stdout + r.stderr
    exe = dest / "opt" / "dd" / "bin" / "deardiary"
    man = dest / "opt" / "dd" / "share" / "man" / "man1" / "deardiary.1"
    assert stat.S_IMODE(exe.stat().st_mode) == 0o755
    assert stat.S_IMODE(man.stat().st_mode) == 0o644
    assert not os.path.exists("/opt/dd")                 # DESTDIR honoured
    v = subprocess.run([str(exe), "--version"], capture_output=True, text=True)
    assert v.returncode == 0 and v.stdout.startswith("deardiary "), v
    # the man page renders, and documents every subcommand the command lists
    env = {k: v for k, v in os.environ.items() if k != "MAN_KEEP_FORMATTING"}
    page = subprocess.run(["man", "-l", str(man)], capture_output=True, text=True,
                          env=dict(env, MANWIDTH="200"))
    text = re.sub(".\b", "", page.stdout)           # no overstrike, whatever the pager
    assert page.returncode == 0 and "deardiary - an ML experiment tracker" in text
    helptext = subprocess.run([BIN, "--help"], capture_output=True, text=True).stdout
    commands = [l.split()[0] for l in helptext.split("commands:\n")[1].split("\n\n")[0]
                .splitlines() if l.startswith("  ") and not l.startswith("   ")]
    assert "run" in commands and "migrate-artifacts" in commands, commands
    for cmd in commands:
        assert "deardiary %s" % cmd in text, cmd
    r = make("uninstall", "DESTDIR=%s" % dest, "PREFIX=/opt/dd")
    assert r.returncode == 0 and not exe.exists() and not man.exists()


def test_on_path_installs_where_writable_else_prints_the_path_line(tmp_path):
    build = os.path.dirname(BIN)
    prefix = tmp_path / "prefix"
    path = "/usr/bin:/bin"
    r = make("on-path", "PREFIX=%s" % prefix, "BUILD=%s" % build, env={"PATH": path})
    assert r.returncode == 0, r.stdout + r.stderr
    assert (prefix / "bin" / "deardiary").exists()
    assert 'export PATH="%s/bin:$PATH"' % prefix in r.stdout, r.stdout
    # with that line typed, plain `deardiary` is the installed command
    sh = subprocess.run(["sh", "-c", 'export PATH="%s/bin:$PATH"; command -v deardiary; '
                         'deardiary --version' % prefix], capture_output=True, text=True,
                        env={"PATH": path})
    assert sh.stdout.splitlines()[0] == str(prefix / "bin" / "deardiary"), sh
    # no place to install (here: below a regular file, which even root cannot write
    # into): nothing installed, the build directory's PATH line instead
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    r = make("on-path", "PREFIX=%s" % blocked, "BUILD=%s" % build, env={"PATH": path})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "not writable, so deardiary is not installed" in r.stdout, r.stdout
    assert 'export PATH="%s/%s:$PATH"' % (ROOT, build) in r.stdout or \
        'export PATH="%s:$PATH"' % build in r.stdout, r.stdout


def demo_fill(mnt, cwd):
    env = dict(os.environ, DEARDIARY=BIN, GIT_CEILING_DIRECTORIES="/tmp")
    return subprocess.run(["sh", os.path.join(ROOT, "scripts", "demo_fill.sh"), mnt.path],
                          cwd=str(cwd), env=env, capture_output=True, text=True, timeout=300)


def test_demo_fill_makes_a_real_example(mnt, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    r = demo_fill(mnt, work)
    assert r.returncode == 0, r.stdout + r.stderr
    db = mnt.db
    assert sqlite_rows(db, "SELECT name FROM project") == [["demo"]]
    assert sqlite_rows(db, "SELECT name FROM experiment") == [["trees"]]
    # a sweep driver, three train.sh children, three train.py runs: all SUCCEEDED
    its = sqlite_rows(db, "SELECT id, ifnull(parent_iteration_id, ''), status_id "
                          "FROM iteration ORDER BY id")
    assert [s for _, _, s in its] == ["2"] * 7, its
    assert [p for _, p, _ in its] == ["", "1", "1", "1", "", "", ""], its
    # parameters and metric curves, read through the mount
    exp = mnt.p("projects", "demo", "experiments", "trees")
    with open(os.path.join(exp, "iterations", "2", "params", "max_depth")) as f:
        assert f.read() == "2\n"
    with open(os.path.join(exp, "iterations", "6", "params", "learning_rate")) as f:
        assert f.read() == "0.1\n"
    with open(os.path.join(exp, "iterations", "6", "metrics", "loss")) as f:
        loss = [float(line.split()[1]) for line in f]
    assert len(loss) == 20 and loss[-1] < loss[0]
    with open(os.path.join(exp, "iterations", "4", "metrics", "accuracy")) as f:
        assert len(f.read().splitlines()) == 3
    # the best sweep run (max_depth 8) registered and in PRODUCTION
    assert sqlite_rows(db, "SELECT m.name, v.version, v.stage_id, v.iteration_id FROM "
                           "model_version v JOIN model m ON m.id = v.model_id") == \
        [["trees-clf", "1", "3", "4"]]
    with open(mnt.p("models", "trees-clf", "production", "stage")) as f:
        assert f.read() == "PRODUCTION\n"
    fsck = subprocess.run([BIN, "fsck", db], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    # a registry that has projects is left as it is
    before = sqlite_rows(db, "SELECT count(*) FROM iteration")
    r = demo_fill(mnt, work)
    assert r.returncode == 0 and "left as it is" in r.stdout, r.stdout + r.stderr
    assert sqlite_rows(db, "SELECT count(*) FROM iteration") == before
    assert os.listdir(work) == []           # nothing left where it ran
