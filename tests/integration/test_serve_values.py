"""`deardiary serve`: parameters (routes 33-37) and metrics (routes 38-43), auth disabled,
with the original's acceptance cases and this store's deviations (unique parameter keys,
atomic batches, append-only points)."""
import subprocess

from helpers_serve import srv, assert_error, db_dump  # noqa: F401
from test_serve_api import mk_project, mk_experiment, mk_iteration


def running(s):
    return mk_iteration(s, mk_experiment(s, mk_project(s)))


def test_parameter_crud(srv):
    iid = running(srv)
    r = srv.post("/parameter/iteration/%d" % iid, json={"key": "lr", "value": "0.01"})
    assert r.status_code == 201
    pid = r.json()["parameter_id"]
    assert srv.get("/parameter/%d" % pid).json() == {"id": pid, "iteration_id": iid,
                                                     "key": "lr", "value": "0.01"}
    assert_error(srv.post("/parameter/iteration/%d" % iid, json={"key": "lr", "value": "1"}),
                 409, "CONFLICT")
    assert_error(srv.post("/parameter/iteration/%d" % iid, json={"key": "x", "value": ""}),
                 422, "INVALID_PAYLOAD")
    assert_error(srv.post("/parameter/iteration/999", json={"key": "x", "value": "1"}),
                 422, "INVALID_PAYLOAD")
    assert_error(srv.post("/parameter/iteration/%d" % iid, json={"key": "x", "value": 0.5}),
                 400, "BAD_REQUEST")
    srv.post("/parameter/iteration/%d" % iid, json={"key": "batch", "value": "32"})
    page = srv.get("/parameter/iteration/%d" % iid).json()
    assert page["total"] == 2 and [p["key"] for p in page["data"]] == ["batch", "lr"]
    page = srv.get("/parameter/iteration/%d?limit=1&offset=1" % iid).json()
    assert page["total"] == 2 and [p["key"] for p in page["data"]] == ["lr"]
    assert srv.patch("/parameter/%d" % pid, json={"value": "0.02"}).json()["message"] == "UPDATED"
    assert_error(srv.patch("/parameter/%d" % pid, json={"key": "batch"}), 409, "CONFLICT")
    assert srv.get("/parameter/%d" % pid).json()["value"] == "0.02"
    assert srv.patch("/parameter/%d" % pid, json={"key": "rate", "value": "3"}).status_code == 200
    assert srv.get("/parameter/%d" % pid).json() == {"id": pid, "iteration_id": iid,
                                                     "key": "rate", "value": "3"}
    assert_error(srv.patch("/parameter/%d" % pid, json={}), 422, "INVALID_PAYLOAD")
    assert_error(srv.patch("/parameter/999", json={"value": "1"}), 422, "INVALID_PAYLOAD")
    assert srv.delete("/parameter/%d" % pid).json() == {"message": "OK"}
    assert_error(srv.get("/parameter/%d" % pid), 404, "NOT_FOUND")
    assert_error(srv.delete("/parameter/%d" % pid), 404, "NOT_FOUND")


def test_parameters_refused_on_ended_iteration(srv):
    iid = running(srv)
    pid = srv.post("/parameter/iteration/%d" % iid, json={"key": "a", "value": "1"}).json()["parameter_id"]
    srv.patch("/iteration/%d" % iid, json={"status_id": 2})
    before = db_dump(srv.db)
    assert_error(srv.post("/parameter/iteration/%d" % iid, json={"key": "b", "value": "1"}),
                 422, "INVALID_PAYLOAD")
    assert_error(srv.patch("/parameter/%d" % pid, json={"value": "2"}), 422, "INVALID_PAYLOAD")
    assert_error(srv.delete("/parameter/%d" % pid), 422, "INVALID_PAYLOAD")   # original: 500
    assert db_dump(srv.db) == before


def test_metric_create_steps_and_get(srv):
    iid = running(srv)
    ids = []
    for v in (0.5, 0.4, 0.3):
        r = srv.post("/metric/iteration/%d" % iid, json={"key": "loss", "value": v})
        assert r.status_code == 201
        ids.append(r.json()["metric_id"])
    assert len(set(ids)) == 3
    m = srv.get("/metric/%d" % ids[2]).json()
    assert m["key"] == "loss" and m["value"] == 0.3 and m["step"] == 2 and m["id"] == ids[2]
    r = srv.post("/metric/iteration/%d" % iid, json={"key": "acc", "value": 1, "step": 42,
                                                     "recorded_at": "2025-03-04T18:30:00"})
    m = srv.get("/metric/%d" % r.json()["metric_id"]).json()
    assert m["step"] == 42 and m["value"] == 1.0 and m["recorded_at"].startswith("2025-03-04T18:30:00")
    r = srv.post("/metric/iteration/%d" % iid, json={"key": "acc", "value": 2})
    assert srv.get("/metric/%d" % r.json()["metric_id"]).json()["step"] == 43
    page = srv.get("/metric/iteration/%d" % iid).json()
    assert page["total"] == 5
    assert [m["step"] for m in page["data"]] == [0, 1, 2, 42, 43]
    assert [m["step"] for m in srv.get("/metric/iteration/%d?limit=2&offset=1" % iid).json()["data"]] == [1, 2]
    assert_error(srv.get("/metric/999999"), 404, "NOT_FOUND")
    assert_error(srv.post("/metric/iteration/999", json={"key": "k", "value": 1}), 422,
                 "INVALID_PAYLOAD")
    assert_error(srv.post("/metric/iteration/%d" % iid, json={"key": "k", "value": "1"}), 400,
                 "BAD_REQUEST")
    assert_error(srv.post("/metric/iteration/%d" % iid, json={"key": "k", "value": 1,
                                                              "recorded_at": "nope"}),
                 422, "INVALID_PAYLOAD")
    # append-only points
    assert_error(srv.patch("/metric/%d" % ids[0], json={"value": 9}), 422, "INVALID_PAYLOAD")
    assert_error(srv.delete("/metric/%d" % ids[0]), 422, "INVALID_PAYLOAD")


def test_metric_batch_shared_step_and_time(srv):
    iid = running(srv)
    r = srv.post("/metric/iteration/%d/batch" % iid,
                 json={"step": 7, "metrics": [{"key": "a", "value": 1}, {"key": "b", "value": 2},
                                              {"key": "c", "value": 3}]})
    assert r.status_code == 201
    ids = r.json()["metric_ids"]
    assert len(ids) == 3
    rows = [srv.get("/metric/%d" % i).json() for i in ids]
    assert [m["key"] for m in rows] == ["a", "b", "c"]
    assert {m["step"] for m in rows} == {7}
    assert len({m["recorded_at"] for m in rows}) == 1
    # rolling steps per key without a shared step
    r = srv.post("/metric/iteration/%d/batch" % iid,
                 json={"metrics": [{"key": "a", "value": 1}, {"key": "z", "value": 2}]})
    steps = [srv.get("/metric/%d" % i).json()["step"] for i in r.json()["metric_ids"]]
    assert steps == [8, 0]
    r = srv.post("/metric/iteration/%d/batch" % iid, json={"metrics": []})
    assert r.status_code == 201 and r.json() == {"metric_ids": []}


def test_metric_batch_is_atomic(srv):
    iid = running(srv)
    before = db_dump(srv.db)
    bad = [{"key": "ok%d" % i, "value": i} for i in range(50)] + [{"key": "bad/key", "value": 1}]
    assert_error(srv.post("/metric/iteration/%d/batch" % iid, json={"metrics": bad}), 422,
                 "INVALID_PAYLOAD")
    assert_error(srv.post("/metric/iteration/%d/batch" % iid,
                          json={"metrics": [{"key": "a", "value": 1}, {"key": "b"}]}),
                 400, "BAD_REQUEST")
    assert_error(srv.post("/metric/iteration/%d/batch" % iid,
                          json={"metrics": [{"key": "a", "value": 1}, 5]}), 400, "BAD_REQUEST")
    assert db_dump(srv.db) == before
    assert srv.get("/metric/iteration/%d" % iid).json()["total"] == 0
    srv.patch("/iteration/%d" % iid, json={"status_id": 2})
    before = db_dump(srv.db)
    assert_error(srv.post("/metric/iteration/%d/batch" % iid,
                          json={"metrics": [{"key": "a", "value": 1}]}), 422, "INVALID_PAYLOAD")
    assert_error(srv.post("/metric/iteration/%d" % iid, json={"key": "a", "value": 1}), 422,
                 "INVALID_PAYLOAD")
    assert db_dump(srv.db) == before


def test_sigkill_during_batches_never_partial(tmp_path):
    """SIGKILL at varying moments while 5000-point batches arrive: after a restart every
    batch is there whole or not at all, and the server serves."""
    import socket
    import time
    import json
    from helpers_serve import Server
    root = str(tmp_path)
    s = Server(root)
    iid = running(s)
    body = json.dumps({"metrics": [{"key": "k%d" % (i % 50), "value": i}
                                   for i in range(5000)]}).encode()
    req = (b"POST /metric/iteration/%d/batch HTTP/1.1\r\nHost: x\r\nContent-Type: "
           b"application/json\r\nContent-Length: %d\r\n\r\n" % (iid, len(body)) + body)
    try:
        for delay in (0.0, 0.01, 0.03, 0.08):
            socks = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(4)]
            for c in socks:
                c.sendall(req)
            time.sleep(delay)
            s.kill()                     # SIGKILL
            for c in socks:
                c.close()
            s = Server(root, db=s.db)
            total = s.get("/metric/iteration/%d?limit=1" % iid).json()["total"]
            assert total % 5000 == 0, total
    except BaseException:
        s.kill()
        raise
    s.stop()


def test_batch_waiting_for_its_commit_leaves_its_worker_free(tmp_path):
    """One worker (server.threads 1): while a batch waits for its commit (another process
    holds the write lock), the batch's connection is suspended and the worker answers its
    other connections; the batch is answered 201 only once the lock goes, and its points
    are stored. (When the worker itself waited for the commit, /health waited too.)"""
    import sqlite3
    import threading
    import time
    import pytest
    import requests
    from conftest import is_uri
    from helpers_serve import Server
    s = Server(str(tmp_path), env={"DEARDIARY_SERVER_THREADS": "1"})
    try:
        if is_uri(s.db):
            pytest.skip("holds the write lock with sqlite3")
        iid = running(s)
        lock = sqlite3.connect(s.db, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")   # the write lock: the batch cannot commit
        answer = {}

        def post():
            body = {"metrics": [{"key": "k%d" % i, "value": i} for i in range(3)]}
            r = requests.post(s.url + "/metric/iteration/%d/batch" % iid, json=body,
                              timeout=60)
            answer["at"], answer["r"] = time.monotonic(), r
        t = threading.Thread(target=post)
        t.start()
        time.sleep(0.5)
        t0 = time.monotonic()
        assert requests.get(s.url + "/health", timeout=10).status_code == 200
        assert time.monotonic() - t0 < 5
        assert "r" not in answer          # not answered before its commit
        released = time.monotonic()
        lock.execute("ROLLBACK")
        lock.close()
        t.join(60)
        assert answer["r"].status_code == 201 and answer["at"] >= released
        assert len(answer["r"].json()["metric_ids"]) == 3
        assert s.get("/metric/iteration/%d" % iid).json()["total"] == 3
    except BaseException:
        s.kill()
        raise
    s.stop()
