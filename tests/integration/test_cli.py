"""The `deardiary` command line itself, run as a user would from a shell: which registry
`run`, `restore` and `register` use (never a stray new one), and the help texts. Results
are checked in the database files with sqlite3 and in the directories the commands ran in."""
import os
import subprocess

from conftest import BIN, sqlite_rows

NO_REGISTRY = "no registry named"


def clean_env(**extra):
    """The caller's environment without any DEARDIARY_* setting (so nothing names a
    registry), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEARDIARY_")}
    env.update(GIT_CEILING_DIRECTORIES="/tmp", **extra)
    return env


def dd(*args, cwd, env=None):
    return subprocess.run([BIN, *args], cwd=str(cwd), env=env or clean_env(),
                          capture_output=True, text=True, timeout=60)


def make_iteration(mnt):
    """Project p, experiment e, one iteration (through the mount); its directory."""
    exp = mnt.p("projects", "p", "experiments", "e")
    os.makedirs(exp)
    with open(os.path.join(exp, "iterations", "new")) as f:
        return os.path.join(exp, "iterations", f.read().strip())


def test_nothing_named_is_refused_and_creates_nothing(tmp_path):
    """Outside a mount, without --db or a configured database, run/restore/register say
    how to name a registry and create no ./deardiary.db."""
    work = tmp_path / "work"
    work.mkdir()
    cases = [(["run", "ml/runs", "--", "true"], 125),
             (["restore", "12", "DIR"], 2),
             (["register", "m", "3"], 2)]
    for args, code in cases:
        r = dd(*args, cwd=work)
        assert r.returncode == code, (args, r.returncode, r.stderr)
        assert NO_REGISTRY in r.stderr and "--db" in r.stderr and "database" in r.stderr, \
            (args, r.stderr)
        assert os.listdir(work) == [], (args, os.listdir(work))


def test_a_named_but_missing_database_is_not_created(tmp_path):
    """--db or a configured database that does not exist: refused, pointing at init."""
    work = tmp_path / "work"
    work.mkdir()
    for args in (["run", "--db", "x.db", "p/e", "--", "true"],
                 ["restore", "--db", "x.db", "1", "DIR"],
                 ["register", "--db", "x.db", "m", "1"],
                 ["migrate-artifacts", "--to", "inline", "--db", "x.db"]):
        r = dd(*args, cwd=work)
        assert r.returncode != 0, args
        assert "x.db: No such file or directory" in r.stderr and "deardiary init x.db" in \
            r.stderr, (args, r.stderr)
        assert os.listdir(work) == [], (args, os.listdir(work))
    r = dd("run", "p/e", "--", "true", cwd=work, env=clean_env(DEARDIARY_DB_FILE="y.db"))
    assert r.returncode == 125 and "y.db: No such file" in r.stderr, r.stderr
    assert os.listdir(work) == []


def test_configured_database_is_used(tmp_path):
    """A database named by the config file is a registry: run records there."""
    db = str(tmp_path / "reg.db")
    assert dd("init", db, cwd=tmp_path).returncode == 0
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("database: %s\n" % db)
    r = dd("run", "p/e", "--", "true", cwd=tmp_path,
           env=clean_env(DEARDIARY_CONFIG=str(cfg)))
    assert r.returncode == 0, r.stderr
    assert sqlite_rows(db, "SELECT id, status_id FROM iteration") == [["1", "2"]]


def test_register_inside_a_mount_uses_its_database(mnt, tmp_path):
    """`register` with an id inside a mount, or with an iteration's directory from
    anywhere, registers in the mount's database; nothing is created where it ran."""
    it = make_iteration(mnt)
    os.mkdir(mnt.p("projects", "p", "models", "m"))
    r = dd("register", "m", "1", cwd=mnt.p("projects"))
    assert (r.returncode, r.stdout) == (0, "1\n"), r.stderr
    work = tmp_path / "work"
    work.mkdir()
    r = dd("register", "--description", "from a path", "m", it, cwd=work)
    assert (r.returncode, r.stdout) == (0, "2\n"), r.stderr
    r = dd("register", "m", mnt.p("projects", "p"), cwd=work)
    assert r.returncode == 2 and "not an iteration directory" in r.stderr, r.stderr
    assert os.listdir(work) == []
    assert sqlite_rows(mnt.db, "SELECT version, iteration_id, description FROM model_version"
                               " ORDER BY version") == [["1", "1", ""],
                                                        ["2", "1", "from a path"]]
    with open(mnt.p("models", "m", "versions", "2", "description")) as f:
        assert f.read() == "from a path\n"


def test_mount_and_configured_database_must_agree(mnt, tmp_path):
    """Inside a mount with another database configured, register refuses to guess; the
    same database configured (a nested run's DEARDIARY_DB_FILE) is fine."""
    make_iteration(mnt)
    os.mkdir(mnt.p("projects", "p", "models", "m"))
    other = str(tmp_path / "other.db")
    assert dd("init", other, cwd=tmp_path).returncode == 0
    r = dd("register", "m", "1", cwd=mnt.path, env=clean_env(DEARDIARY_DB_FILE=other))
    assert r.returncode == 2 and "say which with --db" in r.stderr, r.stderr
    assert other in r.stderr and mnt.db in r.stderr
    assert sqlite_rows(mnt.db, "SELECT count(*) FROM model_version") == [["0"]]
    r = dd("register", "m", "1", cwd=mnt.path, env=clean_env(DEARDIARY_DB_FILE=mnt.db))
    assert (r.returncode, r.stdout) == (0, "1\n"), r.stderr
    r = dd("register", "--db", mnt.db, "m", "1", cwd=mnt.path,
           env=clean_env(DEARDIARY_DB_FILE=other))
    assert (r.returncode, r.stdout) == (0, "2\n"), r.stderr


def test_restore_inside_a_mount_by_id(mnt, tmp_path):
    """`restore ID DIR` inside a mount reads the mount's database, and a top-level
    iteration without a snapshot is refused with the reason that fits it."""
    make_iteration(mnt)    # made by `cat iterations/new`: no snapshot
    out = tmp_path / "out"
    r = dd("restore", "1", str(out), cwd=mnt.path)
    assert r.returncode == 1, r.stderr
    assert "iteration 1 has no captured environment" in r.stderr, r.stderr
    assert "not started by deardiary run, or ran with --no-snapshot" in r.stderr, r.stderr
    assert "child iteration" not in r.stderr
    assert not out.exists() and not os.path.exists(mnt.p("deardiary.db"))


def test_help_texts(tmp_path):
    """`config --help` is help, not the configuration; every help names the key
    `database`, never the field name db_file."""
    r = dd("config", "--help", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("usage: deardiary"), r.stdout
    assert "database:" not in r.stdout
    r = dd("config", "extra", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("usage:") and r.stdout == ""
    for cmd in ("init", "mount", "fsck", "run", "restore", "register"):
        r = dd(cmd, "--help", cwd=tmp_path)
        text = r.stdout + r.stderr
        assert r.returncode == 0 and text.startswith("usage: deardiary"), (cmd, text)
        assert "db_file" not in text, (cmd, text)
    for cmd in ("init", "mount", "fsck"):
        r = dd(cmd, "--help", cwd=tmp_path)
        assert "`database`" in r.stdout + r.stderr, cmd
    assert os.listdir(tmp_path) == []
