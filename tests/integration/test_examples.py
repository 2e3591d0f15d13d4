"""Every script in examples/ run as a user would: under `deardiary run` on a real mount,
with results checked in the database file (sqlite3) and through the mount."""
import json
import os
import subprocess

from conftest import BIN, sqlite_rows

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples")


def example(name):
    return os.path.join(EXAMPLES, name)


def dd(*args, cwd, env=None):
    e = dict(os.environ, DEARDIARY=BIN, GIT_CEILING_DIRECTORIES="/tmp", **(env or {}))
    return subprocess.run([BIN, *args], cwd=cwd, env=e, capture_output=True, text=True,
                          timeout=120)


def read(path):
    with open(path) as f:
        return f.read()


def iterations(db):
    """id -> (parent, status, error_message) of every iteration."""
    rows = sqlite_rows(db, "SELECT json_array(id, ifnull(parent_iteration_id, 0), status_id,"
                           " error_message) FROM iteration ORDER BY id")
    return {r[0]: tuple(r[1:]) for r in (json.loads(x[0]) for x in rows)}


def setup_experiment(mnt):
    exp = mnt.p("projects", "demo", "experiments", "trees")
    os.makedirs(exp)
    return exp


def test_shell_training_loop(mnt, tmp_path):
    exp = setup_experiment(mnt)
    r = dd("run", exp, "--", example("train.sh"), "4", "3", cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "epoch 3: accuracy 0.8000"
    assert iterations(mnt.db) == {1: (0, 2, "")}
    it = os.path.join(exp, "iterations", "1")
    assert read(os.path.join(it, "params", "max_depth")) == "4\n"
    acc = [l.split()[:2] for l in read(os.path.join(it, "metrics", "accuracy")).splitlines()]
    assert acc == [["1", "0.6667"], ["2", "0.75"], ["3", "0.8"]]
    assert [l.split()[0] for l in read(os.path.join(it, "metrics", "loss")).splitlines()] == \
        ["0", "1", "2"]
    assert read(os.path.join(exp, "resources", "model-1.txt")) == \
        "max_depth=4\naccuracy=0.8000\n"
    assert json.loads(read(os.path.join(it, "metrics.json")))["accuracy"] == 0.8
    # refusing a bad setting: FAILED, with the script's message
    r = dd("run", exp, "--", example("train.sh"), "0", cwd=str(tmp_path))
    assert r.returncode == 1
    assert r.stderr == "train.sh: max_depth must be positive, got 0\n"
    assert iterations(mnt.db)[2] == (0, 3, "train.sh: max_depth must be positive, got 0")


def test_python_training_loop_with_open(mnt, tmp_path):
    exp = setup_experiment(mnt)
    r = dd("run", exp, "--", "python3", example("train.py"), "0.1", "20", cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    it = os.path.join(exp, "iterations", "1")
    assert read(os.path.join(it, "params", "learning_rate")) == "0.1\n"
    assert read(os.path.join(it, "params", "optimizer")) == "sgd\n"
    rows = sqlite_rows(mnt.db, "SELECT step, value FROM metric WHERE key = 'loss' ORDER BY step")
    assert [int(s) for s, _ in rows] == list(range(20))
    losses = [float(v) for _, v in rows]
    assert losses == sorted(losses, reverse=True) and losses[-1] < 0.01
    w = float(read(os.path.join(it, "metrics", "w")).splitlines()[-1].split()[1])
    assert abs(w - 3) < 0.1
    assert read(os.path.join(exp, "resources", "weights-1.txt")) == "w = %r\n" % w
    # a diverging learning rate fails with its message in error_message
    r = dd("run", exp, "--", "python3", example("train.py"), "1.5", "50", cwd=str(tmp_path))
    assert r.returncode == 1
    assert iterations(mnt.db)[2][1:] == (3, "train.py: diverged at step 8 (learning rate 1.5)")


def test_sweep_with_child_iterations(mnt, tmp_path):
    exp = setup_experiment(mnt)
    (tmp_path / "requirements.txt").write_text("scikit-learn==1.5\n")
    r = dd("run", exp, "--", example("sweep.sh"), cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "sweep: max_depth=0 failed (exit 1)" in r.stdout
    its = iterations(mnt.db)
    assert its == {1: (0, 2, ""), 2: (1, 2, ""),
                   3: (1, 3, "train.sh: max_depth must be positive, got 0"), 4: (1, 2, "")}
    driver = os.path.join(exp, "iterations", "1")
    assert sorted(os.listdir(os.path.join(driver, "children"))) == ["2", "3", "4"]
    assert read(os.path.join(driver, "params", "grid")) == "2 0 8\n"
    assert read(os.path.join(driver, "metrics", "failed_children")).split()[1] == "1"
    # only the driver is snapshotted
    assert read(os.path.join(driver, "env", "requirements.txt")) == "scikit-learn==1.5\n"
    assert read(os.path.join(driver, "env", "entrypoint")) == example("sweep.sh") + "\n"
    child_env = os.path.join(exp, "iterations", "2", "env")
    assert read(os.path.join(child_env, "entrypoint")) == "\n"
    assert "requirements.txt" not in os.listdir(child_env)
    assert os.readlink(os.path.join(exp, "iterations", "4", "parent")) == "../1"


def test_promotion_after_a_sweep(mnt, tmp_path):
    exp = setup_experiment(mnt)
    assert dd("run", exp, "--", example("sweep.sh"), "2", "8", cwd=str(tmp_path)).returncode == 0
    assert dd("run", exp, "--", example("train.sh"), "4", "3",
              cwd=str(tmp_path)).returncode == 0
    r = subprocess.run([example("promote.sh"), exp, "trees-clf"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    best = 3                                        # max_depth=8: the highest accuracy
    assert r.stdout.splitlines() == ["promoted iteration %d (accuracy 0.875) to trees-clf "
                                     "version 1" % best, "max_depth=8", "accuracy=0.8750"]
    rows = sqlite_rows(mnt.db, "SELECT mv.version, mv.stage_id, mv.iteration_id, r.name "
                               "FROM model_version mv JOIN model m ON m.id = mv.model_id "
                               "JOIN resource r ON r.id = mv.resource_id "
                               "WHERE m.name = 'trees-clf'")
    assert rows == [["1", "3", str(best), "model-%d.txt" % best]]
    assert read(mnt.p("models", "trees-clf", "production", "stage")) == "PRODUCTION\n"
    # promoting again registers version 2 and archives version 1 in the same step
    r = subprocess.run([example("promote.sh"), exp, "trees-clf"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert read(mnt.p("models", "trees-clf", "versions", "1", "stage")) == "ARCHIVED\n"
    assert os.readlink(mnt.p("models", "trees-clf", "production")) == "versions/2"
