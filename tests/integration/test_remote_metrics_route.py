"""POST /v1/metrics (docs/REMOTE.md §2.6): a remote mount's journaled points, stored exactly
once by their Idempotency-Key `<node id>:<seq>`, against a real `deardiary serve` on
127.0.0.1 and its real SQLite database: one transaction for every batch, server-assigned
steps, per-batch drops, create permission per batch's project, and every refusal leaving
the database unchanged; in both forms of a batch (rows of points, columns of values), and
through a real remote mount, whose sender uses columns where GET /v1/ offers them and rows
where it does not."""
import contextlib
import os
import sqlite3
import threading

import pytest

from conftest import db_rows, is_uri
from helpers_proxy import TcpProxy
from helpers_serve import Server, asrv, srv, assert_error, db_dump  # noqa: F401
from test_remote_journal import Node, metrics_dir, project, wait_for
from test_remote_protocol import grant, mk, mk_user

NODE = "0123456789abcdef0123456789abcdef"
T0 = "2026-12-07T01:02:03.000Z"


def post(s, seq, batches, token=None, node=NODE, raw=None):
    headers = {"Idempotency-Key": "%s:%d" % (node, seq)} if seq is not None else {}
    if raw is not None:
        headers["Content-Type"] = "application/json"
        return s.req("POST", "/v1/metrics", token=token, headers=headers, data=raw)
    return s.req("POST", "/v1/metrics", token=token, headers=headers, json={"batches": batches})


def batch(iid, key, *points):
    return {"iteration_id": iid, "key": key, "points": [list(p) for p in points]}


def cols(iid, key, values, steps=None, at=T0):
    """A columnar batch (steps None: the server assigns them)."""
    return {"iteration_id": iid, "key": key, "values": list(values), "steps": steps,
            "recorded_at": at}


def exact(db, iid, key):
    """(step, value, recorded_at) of a series in write order, the value as the database
    holds it, to the last bit: read with the sqlite3 library (the shell prints 15 digits),
    or as PostgreSQL's default float text (the shortest that reads back exactly)."""
    sql = ("SELECT step, %s, recorded_at FROM metric WHERE iteration_id = %d AND key = '%s'"
           " ORDER BY id" % ("value::text" if is_uri(db) else "value", iid, key))
    if is_uri(db):
        return [(int(st), float(x), t) for st, x, t in db_rows(db, sql)]
    with contextlib.closing(sqlite3.connect(db)) as c:
        return [(st, x, t) for st, x, t in c.execute(sql)]


def rows(db, iid, key):
    """(step, value, recorded_at) of a series, in write order, straight from the database
    (its engine's own shell)."""
    return [(int(st), float(v), t) for st, v, t in
            db_rows(db, "SELECT step, value, recorded_at FROM metric WHERE iteration_id = %d"
                        " AND key = '%s' ORDER BY id" % (iid, key))]


def mark(db, node=NODE):
    r = db_rows(db, "SELECT seq FROM remote_delivery WHERE node_id = '%s'" % node)
    return int(r[0][0]) if r else None


def test_null_steps_in_order_and_explicit_steps(srv):
    _, _, (iid, other) = mk(srv, iterations=2)
    r = post(srv, 1, [batch(iid, "loss", (None, 0.5, T0), (None, 0.25, T0), (10, 0.125, T0)),
                      batch(other, "acc", (None, 1.0, T0)),
                      batch(iid, "loss", (None, 0.0625, T0))])
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 5, "dropped": [], "duplicate": False,
                        "last_steps": {"%d/loss" % iid: 11, "%d/acc" % other: 0}}
    assert rows(srv.db, iid, "loss") == [(0, 0.5, T0), (1, 0.25, T0), (10, 0.125, T0),
                                         (11, 0.0625, T0)]
    assert rows(srv.db, other, "acc") == [(0, 1.0, T0)]
    assert mark(srv.db) == 1
    # the next request continues the series where the server left it
    assert post(srv, 2, [batch(iid, "loss", (None, 1.5, T0))]).json()["last_steps"] == \
        {"%d/loss" % iid: 12}
    assert mark(srv.db) == 2
    # and the points are the REST API's too
    keys = sorted((p["key"], p["step"]) 
                  for p in srv.get("/metric/iteration/%d" % iid).json()["data"])
    assert keys == [("loss", s) for s in (0, 1, 10, 11, 12)]


def test_duplicate_key_changes_nothing(srv):
    _, _, (iid,) = mk(srv, iterations=1)
    body = [batch(iid, "loss", (None, 0.5, T0), (None, 0.4, T0))]
    assert post(srv, 7, body).json()["accepted"] == 2
    before = db_dump(srv.db)
    for seq in (7, 6, 1):   # the same request again (a lost answer), and older ones
        r = post(srv, seq, body)
        assert r.status_code == 200, r.text
        assert r.json() == {"accepted": 0, "dropped": [], "duplicate": True, "last_steps": {}}
    assert db_dump(srv.db) == before
    assert rows(srv.db, iid, "loss") == [(0, 0.5, T0), (1, 0.4, T0)]
    # another node's seq 1 is its own
    assert post(srv, 1, body, node="f" * 32).json()["accepted"] == 2
    # a seq that skips ahead is accepted (REMOTE.md §2.6)
    assert post(srv, 100, body).json()["accepted"] == 2
    assert mark(srv.db) == 100 and len(rows(srv.db, iid, "loss")) == 6


def test_drops_do_not_fail_the_rest(srv):
    _, _, (iid, ended, doomed) = mk(srv, iterations=3)
    assert srv.patch("/iteration/%d" % ended, json={"status_id": 3}).status_code == 200
    end = srv.get("/iteration/%d" % ended).json()["end_date"]
    assert srv.delete("/iteration/%d" % doomed).status_code == 200
    late = "2999-01-01T00:00:00.000Z"
    r = post(srv, 1, [batch(iid, "a", (None, 1.0, T0)),
                      batch(doomed, "a", (None, 2.0, T0)),     # iteration deleted
                      batch(ended, "a", (None, 3.0, T0)),      # accepted before it ended: kept
                      batch(ended, "b", (None, 4.0, late)),    # after it ended: dropped
                      batch(9999, "a", (None, 5.0, T0)),
                      batch(iid, "big", (9223372036854775807, 6.0, T0)),
                      batch(iid, "big", (None, 7.0, T0))])    # no next step: dropped whole
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["dropped"] == [{"batch": 1, "code": "NOT_FOUND"}, {"batch": 3, "code": "ENDED"},
                               {"batch": 4, "code": "NOT_FOUND"},
                               {"batch": 6, "code": "INVALID_PAYLOAD"}], body
    assert body["accepted"] == 3
    assert rows(srv.db, iid, "a") == [(0, 1.0, T0)]
    assert rows(srv.db, ended, "a") == [(0, 3.0, T0)] and rows(srv.db, ended, "b") == []
    assert rows(srv.db, iid, "big") == [(9223372036854775807, 6.0, T0)]
    assert end and mark(srv.db) == 1
    # a request of drops only still moves the mark (the node is done with those points)
    assert post(srv, 2, [batch(9999, "a", (None, 1.0, T0))]).json()["accepted"] == 0
    assert mark(srv.db) == 2


def test_refusals_change_nothing(srv):
    _, _, (iid,) = mk(srv, iterations=1)
    good = [batch(iid, "loss", (None, 0.5, T0))]
    before = db_dump(srv.db)
    for key in (None, "", "x:1", NODE + ":0", NODE + ":-1", NODE + ":01", NODE.upper() + ":1",
                NODE[:-1] + ":1", NODE + ":abc", NODE + ":99999999999999999999", NODE):
        headers = {} if key is None else {"Idempotency-Key": key}
        r = srv.req("POST", "/v1/metrics", headers=headers, json={"batches": good})
        assert_error(r, 400, "BAD_REQUEST")
    bad_bodies = [
        "", "[]", "nul", '{"batches": {}}', '{"batches": [], "x": 1}',
        '{"batches": [1]}', '{"batches": [{"iteration_id": 1, "key": "a"}]}',
        '{"batches": [{"iteration_id": 0, "key": "a", "points": []}]}',
        '{"batches": [{"iteration_id": %d, "key": "a/b", "points": []}]}' % iid,
        '{"batches": [{"iteration_id": %d, "key": "", "points": []}]}' % iid,
        '{"batches": [{"iteration_id": %d, "key": "a\\u0000b", "points": []}]}' % iid,
        '{"batches": [{"iteration_id": %d, "key": "a", "points": [[null, "1", "%s"]]}]}'
        % (iid, T0),
        '{"batches": [{"iteration_id": %d, "key": "a", "points": [[1.5, 1, "%s"]]}]}'
        % (iid, T0),
        '{"batches": [{"iteration_id": %d, "key": "a", "points": [[null, 1, "yesterday"]]}]}'
        % iid,
        '{"batches": [{"iteration_id": %d, "key": "a", "points": [[null, 1]]}]}' % iid,
        '{"batches": [{"iteration_id": %d, "key": "a", "points": [[null, 1, "%s", 2]]}]}'
        % (iid, T0),
        # a good batch before a bad one: nothing of the request is stored
        '{"batches": [{"iteration_id": %d, "key": "a", "points": [[null, 1, "%s"]]},'
        ' {"iteration_id": %d, "key": "a", "points": [[null, 1e999, "%s"]]}]}'
        % (iid, T0, iid, T0),
        '{"batches": [], "batches": []}',
    ]
    for raw in bad_bodies:
        assert_error(post(srv, 1, None, raw=raw), 400, "BAD_REQUEST")
    # limits: 10 001 points, 10 001 batches
    many = [[None, 1.0, T0]] * 10001
    assert_error(post(srv, 1, [{"iteration_id": iid, "key": "a", "points": many}]), 400,
                 "BAD_REQUEST")
    assert_error(post(srv, 1, [batch(iid, "a")] * 10001), 400, "BAD_REQUEST")
    assert db_dump(srv.db) == before
    assert mark(srv.db) is None
    # 10 000 points is one request
    r = post(srv, 1, [{"iteration_id": iid, "key": "a", "points": [[None, 1.0, T0]] * 10000}])
    assert r.status_code == 200 and r.json()["accepted"] == 10000, r.text


def test_permissions_matrix(asrv):
    admin = asrv.login()
    pid, _, (iid,) = mk(asrv, token=admin, iterations=1)
    pid2, _, (iid2,) = mk(asrv, token=admin, iterations=1, name="p2")
    bob_id, bob = mk_user(asrv, admin, "bob")
    body = [batch(iid, "a", (None, 1.0, T0)), batch(iid2, "a", (None, 2.0, T0))]
    before = db_dump(asrv.db)
    assert_error(post(asrv, 1, body), 401, "TOKEN_MISSING")
    assert_error(post(asrv, 1, body, token="x.y.z"), 401, "TOKEN_INVALID")
    assert db_dump(asrv.db) == before
    # every single right but create: both batches dropped, the mark moves
    for seq, right in enumerate(("read", "update", "delete"), start=1):
        grant(asrv, admin, bob_id, pid, **{right: True})
        r = post(asrv, seq, body, token=bob)
        assert r.status_code == 200, r.text
        assert r.json()["dropped"] == [{"batch": 0, "code": "PROJECT_PERMISSION_REQUIRED"},
                                       {"batch": 1, "code": "PROJECT_PERMISSION_REQUIRED"}]
        assert r.json()["accepted"] == 0
    assert rows(asrv.db, iid, "a") == [] and rows(asrv.db, iid2, "a") == []
    # create on p1 only: p1's batch is stored, p2's dropped
    grant(asrv, admin, bob_id, pid, create=True)
    r = post(asrv, 4, body, token=bob).json()
    assert r["accepted"] == 1 and r["dropped"] == [
        {"batch": 1, "code": "PROJECT_PERMISSION_REQUIRED"}]
    assert rows(asrv.db, iid, "a") == [(0, 1.0, T0)] and rows(asrv.db, iid2, "a") == []
    # revoked meanwhile: dropped again
    grant(asrv, admin, bob_id, pid, read=True)
    assert post(asrv, 5, body, token=bob).json()["accepted"] == 0
    # admin: both
    assert post(asrv, 6, body, token=admin).json()["accepted"] == 2
    assert mark(asrv.db) == 6


T1 = "2026-12-07T01:02:04.500Z"
# doubles that only the shortest round-trip text (or 17 digits) keeps
TRICKY = [0.5, 0.1 + 0.2, 5e-324, -2.5e300, 1e15 + 0.5, 123456789.125, 1 / 3, -7.0, 1e-05,
          1.7976931348623157e308]


def test_columns_store_what_rows_store(srv):
    _, _, (iid, other) = mk(srv, iterations=2)
    r = post(srv, 1, [cols(iid, "loss", TRICKY),
                      batch(iid, "loss", (None, 7.5, T0)),                  # rows after columns
                      cols(other, "acc", [1.0, 2, 3.5], steps=[5, None, 2], at=[T0, T1, T0]),
                      {"iteration_id": iid, "key": "nosteps", "values": [3.0],
                       "recorded_at": T1},                                  # "steps" absent
                      cols(iid, "empty", [], steps=[], at=[])])
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 15, "dropped": [], "duplicate": False,
                        "last_steps": {"%d/loss" % iid: 10, "%d/acc" % other: 6,
                                       "%d/nosteps" % iid: 0}}
    assert exact(srv.db, iid, "loss") == [(i, v, T0) for i, v in enumerate(TRICKY)] + \
        [(10, 7.5, T0)]
    assert exact(srv.db, other, "acc") == [(5, 1.0, T0), (6, 2.0, T1), (2, 3.5, T0)]
    assert exact(srv.db, iid, "nosteps") == [(0, 3.0, T1)]
    assert exact(srv.db, iid, "empty") == []
    assert mark(srv.db) == 1
    # the same key again is a duplicate in this form too
    before = db_dump(srv.db)
    r = post(srv, 1, [cols(iid, "loss", [1.0])])
    assert r.json() == {"accepted": 0, "dropped": [], "duplicate": True, "last_steps": {}}
    assert db_dump(srv.db) == before
    # and the drops are per batch: one recorded after its iteration ended
    assert srv.patch("/iteration/%d" % other, json={"status_id": 3}).status_code == 200
    r = post(srv, 2, [cols(other, "acc", [9.0], at="2999-01-01T00:00:00.000Z"),
                      cols(other, "acc", [8.0], steps=[40]), cols(iid, "loss", [0.25])])
    assert r.json()["dropped"] == [{"batch": 0, "code": "ENDED"}], r.text
    assert r.json()["accepted"] == 2
    assert exact(srv.db, other, "acc")[-1] == (40, 8.0, T0)
    assert exact(srv.db, iid, "loss")[-1] == (11, 0.25, T0)


def test_column_refusals_change_nothing(srv):
    _, _, (iid,) = mk(srv, iterations=1)
    post(srv, 1, [cols(iid, "loss", [0.5])])
    before = db_dump(srv.db)

    def bad(**over):
        b = cols(iid, "loss", [1.0, 2.0], steps=[1, 2], at=[T0, T1])
        b.update(over)
        return b
    bodies = [
        [bad(values=[1.0, "2"])], [bad(values=[1.0, None])], [bad(values=[True, 1.0])],
        [bad(values=[[1.0], 2.0])], [bad(values={"0": 1.0})], [bad(values="1 2")],
        [bad(steps=[1])], [bad(steps=[1, 2, 3])], [bad(steps=[1, 1.5])], [bad(steps="1")],
        [bad(steps=[1, "2"])], [bad(steps={})],
        [bad(recorded_at=[T0])], [bad(recorded_at=[T0, T1, T1])], [bad(recorded_at=5)],
        [bad(recorded_at=[T0, 5])], [bad(recorded_at="yesterday")],
        [bad(recorded_at=[T0, "yesterday"])], [bad(recorded_at=None)],
        [bad(points=[[None, 1.0, T0]])], [bad(extra=1)],
        [{"iteration_id": iid, "key": "loss", "values": [1.0]}],            # no recorded_at
        [{"iteration_id": iid, "key": "loss", "steps": None, "recorded_at": T0}],  # no values
        [bad(key="a/b")], [bad(iteration_id=0)], [bad(iteration_id="1")],
        # a good batch (either form) before a bad one: nothing of the request is stored
        [cols(iid, "loss", [1.0]), batch(iid, "loss", (None, 1.0, T0)), bad(steps=[1])],
        # limits: 10 001 values in one batch, or over several batches and both forms
        [cols(iid, "a", [1.0] * 10001)],
        [cols(iid, "a", [1.0] * 5001), cols(iid, "b", [1.0] * 5000)],
        [cols(iid, "a", [1.0] * 9000), batch(iid, "b", *[(None, 1.0, T0)] * 1001)],
        [cols(iid, "a", [], at=[])] * 10001,
    ]
    for body in bodies:
        assert_error(post(srv, 2, body), 400, "BAD_REQUEST")
    for raw in ('{"batches": [{"iteration_id": %d, "key": "a", "values": [1e999], '
                '"recorded_at": "%s"}]}' % (iid, T0),
                '{"batches": [{"iteration_id": %d, "key": "a", "values": [NaN], '
                '"recorded_at": "%s"}]}' % (iid, T0),
                '{"batches": [{"iteration_id": %d, "key": "a", "values": [1], "values": [2],'
                ' "recorded_at": "%s"}]}' % (iid, T0)):
        assert_error(post(srv, 2, None, raw=raw), 400, "BAD_REQUEST")
    assert db_dump(srv.db) == before
    assert mark(srv.db) == 1
    # 10 000 values over two batches is one request
    r = post(srv, 2, [cols(iid, "a", [1.0] * 4000), cols(iid, "b", [2.0] * 6000)])
    assert r.status_code == 200 and r.json()["accepted"] == 10000, r.text


class FormSpy(TcpProxy):
    """A TCP proxy to the server that keeps what the node sends, and when `hide` is set
    renames "metric_columns" in the answers (same length), as a server without the
    columnar form would answer GET /v1/."""

    def __init__(self, target_port, hide):
        self.hide, self.sent, self.lock = hide, [], threading.Lock()
        super().__init__(target_port)

    def up(self, client, server, conn):
        self.pipe(client, server, self.keep)

    def down(self, server, client, conn):
        self.pipe(server, client, self.rename if self.hide else None)

    def keep(self, data):
        with self.lock:
            self.sent.append(data)
        return data

    @staticmethod
    def rename(data):
        return data.replace(b'"metric_columns"', b'"metric_columnz"')

    def count(self, what):
        with self.lock:
            return b"".join(self.sent).count(what)


@pytest.mark.parametrize("form", ["columns", "rows"])
def test_mount_sends_columns_where_offered(tmp_path, monkeypatch, form):
    """Points written through a remote mount reach the server with the same values (to
    the bit), steps and times whichever form its sender uses: columns for this server,
    rows for one whose GET /v1/ does not offer them (an older server)."""
    s = Server(str(tmp_path), auth=True)
    spy = FormSpy(s.port, hide=form == "rows")
    iid = project(s, s.login())
    n = Node(str(tmp_path / "node"), "http://127.0.0.1:%d" % spy.port, monkeypatch)
    ok = False
    try:
        m = n.mount()
        path = os.path.join(metrics_dir(m, iid), "loss")
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            for chunk in ("".join("%r\n" % v for v in TRICKY),       # one time, no steps
                          "100 0.25\n101 0.5\n",                       # steps
                          "200 1.5 %s\n201 2.5 %s\n" % (T0, T1),       # steps and times
                          "7\n300 8\n"):                               # with and without
                os.write(fd, chunk.encode())
        finally:
            os.close(fd)
        want = len(TRICKY) + 6
        wait_for(lambda: len(exact(s.db, iid, "loss")) >= want, what="delivery")
        got = exact(s.db, iid, "loss")
        assert [(st, v) for st, v, _ in got] == \
            [(i, v) for i, v in enumerate(TRICKY)] + \
            [(100, 0.25), (101, 0.5), (200, 1.5), (201, 2.5), (202, 7.0), (300, 8.0)]
        assert [t for _, _, t in got[-4:-2]] == [T0, T1]
        assert len(set(t for _, _, t in got[:len(TRICKY)])) == 1   # one write(), one time
        columns, points = spy.count(b'"values":['), spy.count(b'"points":[')
        if form == "columns":
            assert columns >= 1 and points == 0, (columns, points)
        else:
            assert points >= 1 and columns == 0, (columns, points)
        ok = True
    finally:
        n.close(ok)
        spy.close()
        s.kill()
