"""Clone files create on the first read(), not at open() (issue 12, item 14).

`iterations/new`, `children/new` and `versions/new/<iteration>` create something each
time they are read; a program that only opens them (`head -c0`, a file manager's or an
indexer's stat-then-open, Python's open() + close()) must create nothing. Counted with
the sqlite3 CLI, an independent reader of the database.
"""
import os

from conftest import sqlite_rows
from helpers_tracking import make_run, ok, refused


def count(mnt, table):
    return int(sqlite_rows(mnt.db, "SELECT COUNT(*) FROM %s" % table)[0][0])


def only_open(path):
    """Everything but read: stat, open, fstat, close (in Python, then with head -c0)."""
    os.stat(path)
    f = open(path, "rb")
    os.fstat(f.fileno())
    f.close()
    os.close(os.open(path, os.O_RDONLY))
    r = os.system("head -c0 '%s'" % path)
    assert r == 0


def test_opening_iterations_new_creates_nothing(mnt):
    exp, run, iid = make_run(mnt)
    new = mnt.p(exp, "iterations", "new")
    assert count(mnt, "iteration") == 1
    only_open(new)
    assert count(mnt, "iteration") == 1
    # a reader gets one, and rereading the same handle gives the same id
    with open(new, "rb") as f:
        first = f.read()
        f.seek(0)
        again = f.read()
    assert first == again and first.strip().isdigit()
    assert count(mnt, "iteration") == 2
    assert sqlite_rows(mnt.db, "SELECT MAX(id), status_id FROM iteration") == \
        [[first.decode().strip(), "1"]]


def test_opening_children_new_creates_nothing(mnt):
    exp, run, iid = make_run(mnt)
    new = mnt.p(run, "children", "new")
    only_open(new)
    assert count(mnt, "iteration") == 1
    child = ok(mnt, "cat %s/children/new" % run).strip()
    assert sqlite_rows(mnt.db, "SELECT parent_iteration_id FROM iteration WHERE id = %s"
                       % child) == [[iid]]
    assert count(mnt, "iteration") == 2


def test_opening_a_registration_file_registers_nothing(mnt):
    exp, run, iid = make_run(mnt)
    ok(mnt, "mkdir projects/proj/models/m")
    reg = mnt.p("projects", "proj", "models", "m", "versions", "new", iid)
    only_open(reg)
    assert count(mnt, "model_version") == 0
    assert ok(mnt, "cat projects/proj/models/m/versions/new/%s" % iid) == "1\n"
    assert count(mnt, "model_version") == 1


def test_a_refused_clone_is_refused_at_read(mnt):
    """A stopped experiment: `cat new` still says "Invalid argument" (now from read())
    and nothing is created; opening alone creates nothing either."""
    exp, run, iid = make_run(mnt)
    ok(mnt, "echo STOPPED > %s/status" % exp)
    only_open(mnt.p(exp, "iterations", "new"))
    refused(mnt, "cat %s/iterations/new" % exp, "Invalid argument")
    assert count(mnt, "iteration") == 1
