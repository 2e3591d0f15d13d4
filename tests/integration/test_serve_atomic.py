"""`deardiary serve`: a PATCH of several fields is one transaction (a bad field after good
ones changes nothing, whatever the JSON order), and concurrent creates of one parameter key
give exactly one 201, the others 409, never 500."""
import threading

import requests

from helpers_serve import srv, assert_error, db_dump  # noqa: F401
from test_serve_api import mk_project, mk_experiment, mk_iteration
from test_serve_models import mk_model
from test_serve_resources import upload


def test_patch_with_a_bad_field_after_good_ones_changes_nothing(srv):
    pid = mk_project(srv)
    other = mk_project(srv, "p2")
    eid = mk_experiment(srv, pid)
    iid = mk_iteration(srv, eid)
    par = srv.post("/parameter/iteration/%d" % iid, json={"key": "lr", "value": "1"})
    par = par.json()["parameter_id"]
    mid = mk_model(srv, pid)
    mk_model(srv, pid, "taken")
    vid = srv.post("/modelversion/model/%d" % mid, json={"iteration_id": iid})
    vid = vid.json()["modelversion_id"]
    foreign = upload(srv, mk_experiment(srv, other, "e2"), "r", b"x").json()["resource_id"]
    cases = [
        ("/project/%d" % pid, {"description": "new", "name": "bad/name"}, 422),
        ("/project/%d" % pid, {"description": "new", "name": "p2"}, 409),
        ("/project/%d" % pid, {"name": "fine", "description": 5}, 400),
        ("/experiment/%d" % eid, {"name": "e9", "description": "d", "status_id": 99}, 422),
        ("/experiment/%d" % eid, {"description": "d", "name": "bad/name"}, 422),
        ("/iteration/%d" % iid, {"notes": "n", "error_message": "m", "status_id": 9}, 422),
        ("/parameter/%d" % par, {"key": "lr2", "value": ""}, 422),
        ("/parameter/%d" % par, {"value": "2", "key": "bad/key"}, 422),
        ("/model/%d" % mid, {"description": "d", "name": "taken"}, 409),
        ("/modelversion/%d" % vid, {"description": "d", "stage_id": 2,
                                    "resource_id": foreign}, 422),
    ]
    for path, body, status in cases:
        before = db_dump(srv.db)
        r = srv.patch(path, json=body)
        assert r.status_code == status, (path, body, r.status_code, r.text)
        assert db_dump(srv.db) == before, (path, body)
    # the same PATCHes without the bad field go through whole
    assert srv.patch("/project/%d" % pid, json={"description": "new", "name": "p9"}).ok
    assert srv.get("/project/%d" % pid).json()["name"] == "p9"
    assert srv.patch("/parameter/%d" % par, json={"key": "lr2", "value": "2"}).ok
    assert srv.get("/parameter/%d" % par).json()["key"] == "lr2"


def _race(url, bodies):
    """POST each body from its own thread, all released at once; the status codes."""
    gate = threading.Barrier(len(bodies))
    codes = [None] * len(bodies)

    def one(i):
        with requests.Session() as s:
            s.get(url.rsplit("/", 3)[0] + "/health")      # connected before the gate
            gate.wait()
            codes[i] = s.post(url, json=bodies[i], timeout=30).status_code
    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return codes


def test_parameter_create_race_is_one_201_and_409s(srv):
    iid = mk_iteration(srv, mk_experiment(srv, mk_project(srv)))
    url = srv.url + "/parameter/iteration/%d" % iid
    for round_ in range(20):
        n = 2 if round_ % 2 else 6
        codes = _race(url, [{"key": "k%d" % round_, "value": "v%d" % i} for i in range(n)])
        assert sorted(codes) == [201] + [409] * (n - 1), (round_, codes)
    page = srv.get("/parameter/iteration/%d?limit=200" % iid).json()
    assert page["total"] == 20
    assert sorted(p["key"] for p in page["data"]) == sorted("k%d" % i for i in range(20))
