"""`deardiary serve`: models (routes 58-62) and model versions (63-67), auth disabled:
CRUD, 409 on a duplicate name (and on a duplicate rename: the original's 500), versions
1, 2, 3 at NO_STAGE, PRODUCTION archiving the incumbent, cross-project refusals, the
resource kept when a version goes."""
from helpers_serve import srv, assert_error, db_dump  # noqa: F401
from test_serve_api import mk_project, mk_experiment, mk_iteration
from test_serve_resources import upload


def mk_model(s, pid, name="m"):
    r = s.post("/model/project/%d" % pid, json={"name": name, "description": "d"})
    assert r.status_code == 201, r.text
    return r.json()["model_id"]


def test_model_crud(srv):
    pid = mk_project(srv)
    mid = mk_model(srv, pid)
    m = srv.get("/model/%d" % mid).json()
    assert (m["name"], m["description"], m["project_id"]) == ("m", "d", pid)
    assert m["updated_date"] is None
    assert_error(srv.post("/model/project/%d" % pid, json={"name": "m"}), 409, "CONFLICT")
    assert_error(srv.post("/model/project/999", json={"name": "x"}), 422, "INVALID_PAYLOAD")
    assert_error(srv.post("/model/project/0", json={"name": "x"}), 422, "INVALID_PAYLOAD")
    mk_model(srv, pid, "other")
    page = srv.get("/model/project/%d" % pid).json()
    assert page["total"] == 2 and [x["name"] for x in page["data"]] == ["m", "other"]
    assert srv.get("/model/project/0").json()["total"] == 0
    assert srv.patch("/model/%d" % mid, json={"description": "new"}).json()["message"] == "UPDATED"
    m = srv.get("/model/%d" % mid).json()
    assert m["description"] == "new" and m["updated_date"] is not None
    assert_error(srv.patch("/model/%d" % mid, json={"name": "other", "description": "x"}), 409,
                 "CONFLICT")
    assert srv.get("/model/%d" % mid).json()["description"] == "new"
    assert_error(srv.patch("/model/%d" % mid, json={}), 422, "INVALID_PAYLOAD")
    assert_error(srv.get("/model/999"), 404, "NOT_FOUND")
    assert srv.delete("/model/%d" % mid).json() == {"message": "OK"}
    assert_error(srv.delete("/model/%d" % mid), 404, "NOT_FOUND")


def test_versions_and_promotion(srv):
    pid = mk_project(srv)
    eid = mk_experiment(srv, pid)
    iid = mk_iteration(srv, eid)
    rid = upload(srv, eid, "weights", b"w").json()["resource_id"]
    mid = mk_model(srv, pid)
    vids = []
    for _ in range(3):
        r = srv.post("/modelversion/model/%d" % mid, json={"iteration_id": iid})
        assert r.status_code == 201, r.text
        vids.append(r.json()["modelversion_id"])
    v1 = srv.get("/modelversion/%d" % vids[0]).json()
    assert (v1["version"], v1["stage_id"], v1["resource_id"], v1["description"]) == (1, 1, None, "")
    page = srv.get("/modelversion/model/%d" % mid).json()
    assert [v["version"] for v in page["data"]] == [1, 2, 3]
    assert srv.patch("/modelversion/%d" % vids[1], json={"stage_id": 3}).status_code == 200
    assert srv.patch("/modelversion/%d" % vids[2], json={"stage_id": 3, "resource_id": rid,
                                                         "description": "best"}).status_code == 200
    stages = [srv.get("/modelversion/%d" % v).json()["stage_id"] for v in vids]
    assert stages == [1, 4, 3]
    v3 = srv.get("/modelversion/%d" % vids[2]).json()
    assert v3["resource_id"] == rid and v3["description"] == "best"
    assert_error(srv.patch("/modelversion/%d" % vids[0], json={"stage_id": 9999}), 422,
                 "INVALID_PAYLOAD")
    assert_error(srv.patch("/modelversion/%d" % vids[0], json={}), 422, "INVALID_PAYLOAD")
    assert_error(srv.patch("/modelversion/999", json={"stage_id": 2}), 422, "INVALID_PAYLOAD")
    # the registered resource's bytes are immutable now
    assert_error(srv.patch("/resource/%d" % rid, files={"data": ("x", b"new")}), 409, "CONFLICT")
    assert_error(srv.delete("/resource/%d" % rid), 409, "CONFLICT")
    # deleting a version keeps its resource; numbers are never reused
    assert srv.delete("/modelversion/%d" % vids[2]).json() == {"message": "OK"}
    assert srv.get("/resource/%d" % rid).status_code == 200
    r = srv.post("/modelversion/model/%d" % mid, json={"iteration_id": iid, "description": None})
    assert srv.get("/modelversion/%d" % r.json()["modelversion_id"]).json()["version"] == 4
    assert srv.delete("/modelversion/99999").status_code == 200       # as the original
    assert_error(srv.get("/modelversion/%d" % vids[2]), 404, "NOT_FOUND")


def test_version_refusals(srv):
    p1, p2 = mk_project(srv, "a"), mk_project(srv, "b")
    e1, e2 = mk_experiment(srv, p1), mk_experiment(srv, p2)
    i1, i2 = mk_iteration(srv, e1), mk_iteration(srv, e2)
    r2 = upload(srv, e2, "r", b"x").json()["resource_id"]
    mid = mk_model(srv, p1)
    before = db_dump(srv.db)
    for body in ({"iteration_id": i2}, {"iteration_id": 999}, {"iteration_id": i1, "resource_id": r2},
                 {"iteration_id": i1, "resource_id": 999}, {"iteration_id": 0}):
        assert_error(srv.post("/modelversion/model/%d" % mid, json=body), 422, "INVALID_PAYLOAD")
    assert_error(srv.post("/modelversion/model/999", json={"iteration_id": i1}), 422,
                 "INVALID_PAYLOAD")
    assert_error(srv.post("/modelversion/model/%d" % mid, json={"iteration_id": "1"}), 400,
                 "BAD_REQUEST")
    assert db_dump(srv.db) == before
    vid = srv.post("/modelversion/model/%d" % mid, json={"iteration_id": i1}).json()["modelversion_id"]
    before = db_dump(srv.db)
    assert_error(srv.patch("/modelversion/%d" % vid, json={"resource_id": r2, "stage_id": 3}), 422,
                 "INVALID_PAYLOAD")
    assert db_dump(srv.db) == before


def test_project_with_registered_versions_is_not_deleted(srv):
    pid = mk_project(srv)
    iid = mk_iteration(srv, mk_experiment(srv, pid))
    mid = mk_model(srv, pid)
    srv.post("/modelversion/model/%d" % mid, json={"iteration_id": iid})
    before = db_dump(srv.db)
    assert_error(srv.delete("/project/%d" % pid), 409, "CONFLICT")
    assert_error(srv.delete("/iteration/%d" % iid), 409, "CONFLICT")
    assert db_dump(srv.db) == before
    assert srv.delete("/model/%d" % mid).status_code == 200
    assert srv.delete("/project/%d" % pid).status_code == 200
