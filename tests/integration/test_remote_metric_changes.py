"""Metric series through a remote mount beyond appends (docs/REMOTE.md §4.9, §10): `rm` of a
series and a script's metrics.json reach the server only after this node's undelivered
points of those series (so the delete never precedes them, and default steps stay in
order), fail with EIO while the server is out of reach, and a series only the node's
journal holds is listed, sized, read and rewritten as on a local mount. Real `deardiary
serve` on 127.0.0.1 (auth on), real remote mounts, the server's SQLite database read with
sqlite3."""
import errno
import json
import os
import time

import pytest

from conftest import db_rows, run
from test_remote_journal import (metrics_dir, node, restart, server_values,  # noqa: F401
                                 wait_for)


def mounted_node(node):
    """(state, server, its port, iteration id, a new remote mount of the node, the
    iteration's metrics/ through it, its metrics.json) of the `node` fixture."""
    state, _, iid, n = node
    s = state["s"]
    m = n.mount()
    d = metrics_dir(m, iid)
    return state, s, s.port, iid, m, d, os.path.join(os.path.dirname(d), "metrics.json")


def ok(cmd):
    p = run(cmd)
    assert p.returncode == 0, (cmd, p.stderr)
    return p.stdout


def refused(cmd, message):
    p = run(cmd)
    assert p.returncode != 0 and message in p.stderr, (cmd, p.returncode, p.stderr)


def series(db, iid):
    return [k for (k,) in db_rows(db, "SELECT key FROM metric_latest WHERE iteration_id = %d"
                                      " ORDER BY key" % iid)]


def read(path):
    with open(path, "rb") as f:
        return f.read()


def look(m, d, *files):
    """Let the mount see the tree down to `d` and `files` again, past the kernel's 0.5 s,
    so it answers from them while the server is stopped (a write through the mount, the
    rm here, drops every answer it kept: REMOTE.md §7)."""
    time.sleep(1.0)
    path = m.path
    for part in os.path.relpath(d, m.path).split(os.sep):
        os.listdir(path)
        path = os.path.join(path, part)
    os.listdir(d)
    for f in files:
        read(os.path.join(d, f))


def fields(text, n=2):
    return [ln.split()[:n] for ln in text.decode().splitlines()]


def test_rm_of_a_series_comes_after_its_undelivered_points(node):
    state, s, port, iid, m, d, _ = mounted_node(node)
    # 20 000 points in one write() (two requests at least), then rm at once: the delete
    # reaches the server after them, so nothing of the series is left, nor comes later
    with open(os.path.join(d, "loss"), "a") as f:
        f.write("".join("%d\n" % i for i in range(20000)))
    os.unlink(os.path.join(d, "loss"))
    assert "loss" not in os.listdir(d)
    assert server_values(s.db, iid, "loss") == [] and series(s.db, iid) == []
    ok("echo 0.5 >> %s/acc" % d)
    wait_for(lambda: server_values(s.db, iid, "acc") == [0.5], what="delivery")
    assert server_values(s.db, iid, "loss") == []
    look(m, d, "acc")
    # the server out of reach: points journaled, rm of their series is EIO and changes
    # nothing; once it is back, rm works and the journaled point went first
    s.stop()
    ok("echo 0.75 >> %s/acc" % d)
    refused("rm %s/acc" % d, "Input/output error")
    assert "acc" in os.listdir(d)
    assert fields(read(os.path.join(d, "acc"))) == [["0", "0.5"], ["1", "0.75"]]
    state["s"] = s = restart(s.root, port)
    ok("rm %s/acc" % d)
    assert series(s.db, iid) == [] and server_values(s.db, iid, "acc") == []
    time.sleep(0.5)    # and the journaled point does not bring it back
    assert series(s.db, iid) == []
    assert "acc" not in os.listdir(d)
    refused("cat %s/acc" % d, "No such file or directory")
    # a new series of that name starts over
    ok("echo 9 >> %s/acc" % d)
    assert fields(read(os.path.join(d, "acc"))) == [["0", "9"]]
    wait_for(lambda: server_values(s.db, iid, "acc") == [9.0], what="delivery")


def test_metrics_json_is_one_transaction_after_the_node_points(node):
    state, s, port, iid, m, d, doc = mounted_node(node)
    ok("echo 0.1 >> %s/acc" % d)
    wait_for(lambda: server_values(s.db, iid, "acc") == [0.1], what="delivery")
    look(m, d, "acc", "../metrics.json")
    s.stop()
    ok("echo 0.2 >> %s/acc" % d)     # journaled
    # not journaled: a metrics.json is written to the server, in one transaction, when it
    # answers; stored whole at close (as on a local mount), so close() is EIO now
    with pytest.raises(OSError) as ei:
        with open(doc, "w") as f:
            json.dump({"acc": 0.9, "f1": 0.5}, f)
    assert ei.value.errno == errno.EIO
    state["s"] = s = restart(s.root, port)
    assert "f1" not in series(s.db, iid) and 0.9 not in server_values(s.db, iid, "acc")
    ok("""echo '{"acc": 0.9, "f1": 0.5}' > %s""" % doc)
    # the node's point went first: default steps in the order the writes returned
    assert db_rows(s.db, "SELECT key, step, value FROM metric WHERE iteration_id = %d "
                         "ORDER BY key, step" % iid) == [
        ["acc", "0", "0.1"], ["acc", "1", "0.2"], ["acc", "2", "0.9"], ["f1", "0", "0.5"]]
    assert json.loads(read(doc)) == {"acc": 0.9, "f1": 0.5}
    before = db_rows(s.db, "SELECT COUNT(*) FROM metric")
    refused("""echo '{"acc": 1, "name": "x"}' > %s""" % doc, "Invalid argument")
    assert db_rows(s.db, "SELECT COUNT(*) FROM metric") == before


def test_a_series_only_the_journal_holds_is_listed_sized_read_and_rewritten(node):
    state, s, port, iid, m, d, doc = mounted_node(node)
    ok("echo 0.5 >> %s/loss" % d)
    wait_for(lambda: server_values(s.db, iid, "loss") == [0.5], what="delivery")
    assert sorted(os.listdir(d)) == ["loss", "loss.svg"]
    look(m, d, "loss")
    s.stop()
    # a series new to the server, only in this node's journal: listed, found, sized as
    # `cat` reads it, one inode; metrics.json shows its latest value
    ok("printf '0.25\\n3 0.75\\n' >> %s/fresh" % d)
    ok("echo 0.4 >> %s/loss" % d)
    assert sorted(os.listdir(d)) == ["fresh", "fresh.svg", "loss", "loss.svg"]
    fresh, loss = os.path.join(d, "fresh"), os.path.join(d, "loss")
    text = read(fresh)
    assert fields(text) == [["0", "0.25"], ["3", "0.75"]]
    st = os.stat(fresh)
    assert st.st_size == len(text) and os.stat(fresh).st_ino == st.st_ino
    assert st.st_ino != os.stat(loss).st_ino
    assert os.stat(loss).st_size == len(read(loss)) and len(fields(read(loss))) == 2
    body = read(doc)
    assert json.loads(body) == {"fresh": 0.75, "loss": 0.4}
    assert os.stat(doc).st_size == len(body)
    # a rewrite (what editors do) repeats the points `cat` shows, the undelivered ones too:
    # the repeats are skipped, a new line appended, a changed point refused
    with open(loss, "w") as f:
        f.write(read(loss).decode() + "7 0.3\n")
    assert fields(read(loss)) == [["0", "0.5"], ["1", "0.4"], ["7", "0.3"]]
    changed = read(loss).decode().replace(" 0.4 ", " 0.45 ")
    refused("printf '%%s' '%s' > %s" % (changed, loss), "Invalid argument")
    # delivered: the same points on the server, the same inode for this mount's life
    state["s"] = s = restart(s.root, port)
    wait_for(lambda: server_values(s.db, iid, "fresh") == [0.25, 0.75] and
             server_values(s.db, iid, "loss") == [0.5, 0.4, 0.3], what="delivery")
    assert os.stat(fresh).st_ino == st.st_ino
    assert fields(read(fresh)) == [["0", "0.25"], ["3", "0.75"]]
    assert os.stat(fresh).st_size == len(read(fresh))
    assert json.loads(read(doc)) == {"fresh": 0.75, "loss": 0.3}
