"""`deardiary serve`: tags (routes 50-57), auth disabled: attach and list per level, GET
by id, the shared tag id, delete unattached 200, delete attached 409 (the original: 500)."""
from helpers_serve import srv, assert_error, db_dump  # noqa: F401
from test_serve_api import mk_project, mk_experiment, mk_iteration


def test_tags_per_level(srv):
    pid = mk_project(srv)
    eid = mk_experiment(srv, pid)
    iid = mk_iteration(srv, eid)
    links = []
    for kind, ent in (("project", pid), ("experiment", eid), ("iteration", iid)):
        for v in ("%s-tag-1" % kind, "%s-tag-2" % kind, "shared"):
            r = srv.post("/tag/%s/%d" % (kind, ent), json={"value": v})
            assert r.status_code == 201, r.text
            links.append(r.json()["association_id"])
        tags = srv.get("/tag/%s/%d" % (kind, ent)).json()
        assert [t["value"] for t in tags] == ["%s-tag-1" % kind, "%s-tag-2" % kind, "shared"]
        assert_error(srv.post("/tag/%s/%d" % (kind, ent), json={"value": "shared"}), 409,
                     "CONFLICT")
        assert_error(srv.post("/tag/%s/999" % kind, json={"value": "x"}), 422, "INVALID_PAYLOAD")
        assert_error(srv.post("/tag/%s/%d" % (kind, ent), json={"value": ""}), 422,
                     "INVALID_PAYLOAD")
    # association ids number each join table on its own, as the original's sequences
    assert links == [1, 2, 3] * 3
    shared = [t for t in srv.get("/tag/project/%d" % pid).json() if t["value"] == "shared"][0]
    # the same tag id everywhere it is attached
    assert shared in srv.get("/tag/iteration/%d" % iid).json()
    assert srv.get("/tag/%d" % shared["id"]).json() == shared
    assert_error(srv.get("/tag/9999"), 404, "NOT_FOUND")
    assert_error(srv.get("/tag/model/1"), 404, "NOT_FOUND")


def test_tag_delete(srv):
    pid = mk_project(srv)
    srv.post("/tag/project/%d" % pid, json={"value": "keep"})
    tid = srv.get("/tag/project/%d" % pid).json()[0]["id"]
    before = db_dump(srv.db)
    assert_error(srv.delete("/tag/%d" % tid), 409, "CONFLICT")
    assert db_dump(srv.db) == before
    assert srv.delete("/tag/9999").json() == {"message": "OK"}        # as the original


def test_tag_delete_unattached(srv):
    pid = mk_project(srv)
    eid = mk_experiment(srv, pid)
    srv.post("/tag/experiment/%d" % eid, json={"value": "gone"})
    tid = srv.get("/tag/experiment/%d" % eid).json()[0]["id"]
    assert srv.delete("/experiment/%d" % eid).status_code == 200     # detaches its tags
    assert srv.delete("/tag/%d" % tid).json() == {"message": "OK"}
    assert_error(srv.get("/tag/%d" % tid), 404, "NOT_FOUND")


def test_tag_ended_iteration(srv):
    iid = mk_iteration(srv, mk_experiment(srv, mk_project(srv)))
    srv.patch("/iteration/%d" % iid, json={"status_id": 2})
    assert_error(srv.post("/tag/iteration/%d" % iid, json={"value": "late"}), 422,
                 "INVALID_PAYLOAD")
