"""Helpers shared by the reliability tests (test_fsck.py, test_crash.py, test_soak.py):
`deardiary fsck`, SQLite's own checks through the sqlite3 CLI, the registry invariants
checked with SQL written independently of the daemon's, and SIGKILL of a daemon.
"""
import os
import subprocess

from conftest import BIN, is_uri, sqlite_rows


def fsck(db, *args, fs_root=None):
    """Run `deardiary fsck ARGS DB`; returns CompletedProcess (text)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEARDIARY_")}
    if fs_root:
        env["DEARDIARY_ARTIFACT_FS_ROOT"] = fs_root
    return subprocess.run([BIN, "fsck", *args, db], capture_output=True, text=True, env=env,
                          timeout=600)


def assert_fsck_clean(db, fs_root=None):
    r = fsck(db, fs_root=fs_root)
    assert r.returncode == 0, "fsck found problems (%d):\n%s%s" % (r.returncode, r.stdout,
                                                                   r.stderr)
    assert "; clean" in r.stdout, r.stdout
    return r


def integrity_ok(db):
    """The engine's own page-level checks, run by its command-line tool: SQLite's
    integrity_check and foreign_key_check for a file; for PostgreSQL amcheck (the test
    server's user is its superuser, so it may install the extension): verify_heapam on
    every table of the registry and bt_index_check with heapallindexed on every btree
    index (every heap tuple must be found in each index). PostgreSQL enforces foreign keys
    itself."""
    if not is_uri(db):
        assert sqlite_rows(db, "PRAGMA integrity_check") == [["ok"]]
        assert sqlite_rows(db, "PRAGMA foreign_key_check") == []
        return
    sqlite_rows(db, "CREATE EXTENSION IF NOT EXISTS amcheck")
    assert sqlite_rows(db, "SELECT c.relname, v.blkno, v.msg FROM pg_class c"
                           " CROSS JOIN LATERAL verify_heapam(c.oid) v"
                           " WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace"
                       ) == []
    checked = sqlite_rows(db, "SELECT c.relname, bt_index_check(c.oid, true) FROM pg_index i"
                              " JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a"
                              " ON a.oid = c.relam WHERE a.amname = 'btree'"
                              " AND c.relnamespace = 'public'::regnamespace")
    assert len(checked) > 10, checked   # the registry's indexes were there to check


def invariant_violations(db):
    """Every registry invariant as a query that returns the rows breaking it; returns
    {name: rows} for the broken ones (empty when all hold)."""
    checks = {
        "two PRODUCTION versions in a model":
            "SELECT model_id, COUNT(*) FROM model_version WHERE stage_id = 3"
            " GROUP BY model_id HAVING COUNT(*) > 1",
        "a version number used twice":
            "SELECT model_id, version FROM model_version GROUP BY model_id, version"
            " HAVING COUNT(*) > 1",
        "a version number above the model's counter":
            "SELECT v.id FROM model_version v JOIN model m ON m.id = v.model_id"
            " WHERE v.version > m.last_version",
        "an alias pointing at no version of its model":
            "SELECT a.alias FROM model_alias a LEFT JOIN model_version v"
            " ON v.id = a.version_id AND v.model_id = a.model_id WHERE v.id IS NULL",
        "metric_latest count or next step disagreeing with the points":
            "SELECT l.iteration_id, l.key FROM metric_latest l LEFT JOIN (SELECT iteration_id,"
            " key, COUNT(*) n, MAX(step) ms FROM metric GROUP BY iteration_id, key) m"
            " ON m.iteration_id = l.iteration_id AND m.key = l.key"
            " WHERE m.n IS NULL OR m.n <> l.point_count OR m.ms <> l.max_step",
        "metric points without a metric_latest row":
            "SELECT DISTINCT iteration_id, key FROM metric m WHERE NOT EXISTS (SELECT 1"
            " FROM metric_latest l WHERE l.iteration_id = m.iteration_id AND l.key = m.key)",
        "metric_latest value not the latest point's":
            "SELECT l.iteration_id, l.key FROM metric_latest l WHERE l.value IS DISTINCT FROM"
            " (SELECT value FROM metric m WHERE m.iteration_id = l.iteration_id"
            " AND m.key = l.key ORDER BY step DESC, id DESC LIMIT 1)",
        "rows of deleted parents":
            "SELECT 'iteration', id FROM iteration WHERE experiment_id NOT IN"
            " (SELECT id FROM experiment) UNION ALL SELECT 'metric', id FROM metric"
            " WHERE iteration_id NOT IN (SELECT id FROM iteration)",
    }
    out = {}
    for name, sql in checks.items():
        rows = sqlite_rows(db, sql)
        if rows:
            out[name] = rows[:10]
    return out


def kill_daemon(m):
    """SIGKILL the daemon of Mount m: no unmount, no clean-up of any kind. The dead mount
    stays ("Transport endpoint is not connected") until the next `deardiary mount` of the
    same mountpoint recovers it, or m.kill() detaches it."""
    m.proc.kill()
    m.proc.wait(timeout=30)


__all__ = ["fsck", "assert_fsck_clean", "integrity_ok", "invariant_violations",
           "kill_daemon"]
