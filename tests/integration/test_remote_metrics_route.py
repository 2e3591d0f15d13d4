"""POST /v1/metrics (docs/REMOTE.md §2.6): a remote mount's journaled points, stored exactly
once by their Idempotency-Key `<node id>:<seq>`, against a real `deardiary serve` on
127.0.0.1 and its real SQLite database: one transaction for every batch, server-assigned
steps, per-batch drops, create permission per batch's project, and every refusal leaving
the database unchanged."""
from conftest import db_rows
from helpers_serve import asrv, srv, assert_error, db_dump  # noqa: F401
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
