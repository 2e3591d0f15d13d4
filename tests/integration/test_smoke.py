"""Smoke tests: the seed tutorial's tracking part with shell commands only."""
import os

from conftest import run, sqlite_rows


def test_tutorial_tracking_with_shell(mnt):
    script = r"""
    set -e
    cd "$MNT"
    mkdir "projects/Fraud detection"
    mkdir "projects/Fraud detection/experiments/DT sweep"
    exp="projects/Fraud detection/experiments/DT sweep"
    id=$(cat "$exp/iterations/new")
    run="$exp/iterations/$id"
    echo 7 > "$run/params/max_depth"
    echo 0.96 >> "$run/metrics/accuracy"
    cat "$run/params/max_depth"
    cat "$run/metrics/accuracy"
    cat "$run/status"
    echo SUCCEEDED > "$run/status"
    cat "$run/status"
    """
    r = run(script, env={**os.environ, "MNT": mnt.path})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "7"
    step, value, ts = lines[1].split(" ")
    assert (step, value) == ("0", "0.96") and ts.endswith("Z")
    assert lines[2] == "RUNNING"
    assert lines[3] == "SUCCEEDED"
    rows = sqlite_rows(mnt.db, "SELECT key, value FROM parameter")
    assert rows == [["max_depth", "7"]]
    rows = sqlite_rows(mnt.db, "SELECT status_id, end_date IS NOT NULL FROM iteration")
    assert rows == [["2", "1"]]


def test_ended_iteration_is_read_only(run_dir):
    mnt, exp, rd = run_dir
    run(f'echo SUCCEEDED > "{rd}/status"')
    r = run(f'echo 1 > "{rd}/params/lr"')
    assert r.returncode != 0 and "Read-only file system" in r.stderr
    r = run(f'echo 0.5 >> "{rd}/metrics/loss"')
    assert r.returncode != 0 and "Read-only file system" in r.stderr
    assert oct(os.stat(os.path.join(rd, "notes")).st_mode & 0o777) == "0o444"
    assert sqlite_rows(mnt.db, "SELECT COUNT(*) FROM parameter") == [["0"]]
