"""The /v1 routes remote mounts use (docs/REMOTE.md §2), against a real `deardiary serve`
on 127.0.0.1: `GET /v1/ls/experiment/{eid}/iterations`, an experiment's iterations with
their attributes in one request, checked against what a real mount of the same database
shows, with paging, bad queries, and the guard and rights in both auth modes."""
import os
import time

from helpers_serve import Server, asrv, srv, assert_error, db_dump, logged, served_mount  # noqa: F401


def mk(s, token=None, iterations=0, name="p1"):
    """A project with experiment `e` and `iterations` iterations; (pid, eid, [iid...])."""
    pid = s.post("/project/", token=token, json={"name": name}).json()["project_id"]
    r = s.post("/experiment/project/%d" % pid, token=token, json={"status_id": 1, "name": "e"})
    eid = r.json()["experiment_id"]
    iids = [s.post("/iteration/experiment/%d" % eid, token=token).json()["iteration_id"]
            for _ in range(iterations)]
    return pid, eid, iids


def ls(s, eid, query="", token=None):
    return s.get("/v1/ls/experiment/%d/iterations%s" % (eid, query), token=token)


def test_listing_is_what_the_mount_shows(tmp_path):
    with served_mount(str(tmp_path)) as (m, s):
        pid, eid, iids = mk(s, iterations=3)
        child = s.post("/iteration/experiment/%d?parent_iteration_id=%d" % (eid, iids[0]))
        child = child.json()["iteration_id"]
        assert s.patch("/iteration/%d" % iids[1], json={"status_id": 3,
                                                         "error_message": "boom"}).status_code == 200
        r = ls(s, eid)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["next"] is None and body["dir"]["rights"] == "crud"
        entries = {e["name"]: e for e in body["entries"]}
        d = m.p("projects", "p1", "experiments", "e", "iterations")
        shown = sorted(n for n in os.listdir(d) if n != "new")
        assert sorted(entries) == shown == sorted(str(i) for i in iids + [child])
        for name, e in entries.items():
            assert e["id"] == int(name)
            with open(os.path.join(d, name, "status")) as f:
                assert f.read().strip() == e["status"]
            assert e["ended"] == (e["end_date"] is not None)
            assert e["ended"] == (e["status"] != "RUNNING")
            # the directory's mtime is the iteration's creation, as the entry says
            st = os.stat(os.path.join(d, name))
            created = time.mktime(time.strptime(e["created"][:19], "%Y-%m-%dT%H:%M:%S"))
            assert abs(st.st_mtime - (created - time.timezone)) < 1.0, (st.st_mtime, e)
            rest = s.get("/iteration/%d" % e["id"]).json()
            assert rest["parent_iteration_id"] == e["parent_iteration_id"]
        assert entries[str(child)]["parent_iteration_id"] == iids[0]
        assert entries[str(iids[1])]["status"] == "FAILED"
        # the directory's time moved when the iterations came
        assert body["dir"]["dir_time"] is not None


def test_paging_and_bad_queries(srv):
    _, eid, iids = mk(srv, iterations=5)
    seen, after, pages = [], 0, 0
    while True:
        body = ls(srv, eid, "?limit=2&after=%d" % after).json()
        seen += [e["id"] for e in body["entries"]]
        pages += 1
        if body["next"] is None:
            break
        after = body["next"]
        assert after == seen[-1]
    assert seen == iids and pages == 3
    assert [e["id"] for e in ls(srv, eid, "?after=%d" % iids[2]).json()["entries"]] == iids[3:]
    assert ls(srv, eid, "?after=%d" % iids[-1]).json()["entries"] == []
    before = db_dump(srv.db)
    for q in ("?limit=0", "?limit=10001", "?limit=abc", "?after=-1", "?after=1.5", "?limit="):
        assert_error(ls(srv, eid, q), 400, "BAD_REQUEST")
    assert_error(srv.get("/v1/ls/experiment/abc/iterations"), 400, "BAD_REQUEST")
    assert_error(ls(srv, 9999), 404, "NOT_FOUND")
    assert db_dump(srv.db) == before


def test_empty_experiment(srv):
    _, eid, _ = mk(srv)
    body = ls(srv, eid).json()
    assert body == {"dir": {"dir_time": None, "rights": "crud"}, "entries": [], "next": None}


def create_iterations(s, eid, n, clients=8):
    """n iterations through REST from `clients` keep-alive connections; their ids sorted."""
    import requests
    from concurrent.futures import ThreadPoolExecutor

    def one(sess):
        r = sess.post("%s/iteration/experiment/%d" % (s.url, eid), timeout=30)
        assert r.status_code == 201, (r.text, [line for line in s.output().splitlines()
                                               if " 201 " not in line])
        return r.json()["iteration_id"]

    def some(count):
        with requests.Session() as sess:
            return [one(sess) for _ in range(count)]
    with ThreadPoolExecutor(clients) as pool:
        parts = pool.map(some, [n // clients + (k < n % clients) for k in range(clients)])
        return sorted(i for part in parts for i in part)


def test_ten_thousand_iterations_in_one_request(srv):
    _, eid, _ = mk(srv)
    iids = create_iterations(srv, eid, 10001)
    assert len(set(iids)) == 10001
    body = ls(srv, eid).json()
    assert [e["id"] for e in body["entries"]] == iids[:10000]
    assert body["next"] == iids[9999]
    rest = ls(srv, eid, "?after=%d" % body["next"]).json()
    assert [e["id"] for e in rest["entries"]] == iids[10000:] and rest["next"] is None
    # one request each
    line = "GET /v1/ls/experiment/%d/iterations 200" % eid
    assert logged(srv, line, 2) and srv.output().count(line) == 2


def mk_user(s, admin, name):
    r = s.post("/user/", token=admin, json={"first_name": "", "last_name": "", "username": name,
                                            "password": "pw"})
    assert r.status_code == 201, r.text
    return r.json()["user_id"], s.login(name, "pw")


def grant(s, admin, uid, pid, **flags):
    body = {k + "_permission": flags.get(k, False)
            for k in ("create", "read", "update", "delete")}
    cur = s.get("/userpermission/user/%d/project/%d" % (uid, pid), token=admin)
    if cur.status_code == 404:
        r = s.post("/userpermission/user/%d/project/%d" % (uid, pid), token=admin, json=body)
    else:
        r = s.patch("/userpermission/%d" % cur.json()["id"], token=admin, json=body)
    assert r.status_code in (200, 201), r.text


def test_guard_and_rights(asrv):
    admin = asrv.login()
    pid, eid, iids = mk(asrv, token=admin, iterations=2)
    bob_id, bob = mk_user(asrv, admin, "bob")
    assert_error(ls(asrv, eid), 401, "TOKEN_MISSING")
    assert_error(ls(asrv, eid, token=bob), 403, "PROJECT_PERMISSION_REQUIRED")
    assert_error(ls(asrv, 9999, token=bob), 404, "NOT_FOUND")
    grant(asrv, admin, bob_id, pid, create=True, update=True, delete=True)   # all but read
    assert_error(ls(asrv, eid, token=bob), 403, "PROJECT_PERMISSION_REQUIRED")
    grant(asrv, admin, bob_id, pid, read=True)
    body = ls(asrv, eid, token=bob).json()
    assert body["dir"]["rights"] == "-r--"
    assert [e["id"] for e in body["entries"]] == iids
    grant(asrv, admin, bob_id, pid, read=True, update=True)
    assert ls(asrv, eid, token=bob).json()["dir"]["rights"] == "-ru-"
    grant(asrv, admin, bob_id, pid, create=True, read=True, update=True, delete=True)
    assert ls(asrv, eid, token=bob).json()["dir"]["rights"] == "crud"
    assert ls(asrv, eid, token=admin).json()["dir"]["rights"] == "crud"


def mk_versions(s, token=None, n=2, name="p1"):
    """A project's model `m` with n versions of one iteration; (pid, mid, [version ids])."""
    pid, eid, (iid,) = mk(s, token=token, iterations=1, name=name)
    mid = s.post("/model/project/%d" % pid, token=token, json={"name": "m"}).json()["model_id"]
    vids = []
    for _ in range(n):
        r = s.post("/modelversion/model/%d" % mid, token=token, json={"iteration_id": iid})
        assert r.status_code == 201, r.text
        vids.append(r.json()["modelversion_id"])
    return pid, mid, vids


def stage(s, mid, n, body, token=None):
    return s.req("PUT", "/v1/model/%d/version/%d/stage" % (mid, n), token=token, json=body)


def test_stage_by_version_number_is_what_the_mount_shows(tmp_path):
    with served_mount(str(tmp_path)) as (m, s):
        _, mid, vids = mk_versions(s)
        r = stage(s, mid, 1, {"stage": "PRODUCTION"})
        assert r.status_code == 200, r.text
        assert r.json() == {"version_id": vids[0], "version": 1, "stage": "PRODUCTION"}
        vdir = m.p("projects", "p1", "models", "m", "versions")
        with open(os.path.join(vdir, "1", "stage")) as f:
            assert f.read().strip() == "PRODUCTION"
        # a new production version archives the incumbent, in one transaction
        assert stage(s, mid, 2, {"stage": "PRODUCTION"}).status_code == 200
        assert s.get("/modelversion/%d" % vids[0]).json()["stage_id"] == 4
        assert s.get("/modelversion/%d" % vids[1]).json()["stage_id"] == 3
        with open(os.path.join(vdir, "1", "stage")) as f:
            assert f.read().strip() == "ARCHIVED"


def test_stage_refusals_change_nothing(srv):
    _, mid, vids = mk_versions(srv)
    before = db_dump(srv.db)
    assert_error(stage(srv, mid, 1, {"stage": "production"}), 422, "INVALID_PAYLOAD")
    assert_error(stage(srv, mid, 1, {"stage": 3}), 400, "BAD_REQUEST")
    assert_error(stage(srv, mid, 1, {}), 400, "BAD_REQUEST")
    assert_error(stage(srv, mid, 3, {"stage": "STAGING"}), 404, "NOT_FOUND")
    assert_error(stage(srv, 999, 1, {"stage": "STAGING"}), 404, "NOT_FOUND")
    assert_error(srv.req("PUT", "/v1/model/%d/version/x/stage" % mid, json={"stage": "STAGING"}),
                 400, "BAD_REQUEST")
    assert db_dump(srv.db) == before


def test_stage_guard(asrv):
    admin = asrv.login()
    pid, mid, vids = mk_versions(asrv, token=admin)
    bob_id, bob = mk_user(asrv, admin, "bob")
    assert_error(stage(asrv, mid, 1, {"stage": "STAGING"}), 401, "TOKEN_MISSING")
    grant(asrv, admin, bob_id, pid, create=True, read=True, delete=True)   # all but update
    assert_error(stage(asrv, mid, 1, {"stage": "STAGING"}, token=bob), 403,
                 "PROJECT_PERMISSION_REQUIRED")
    assert asrv.get("/modelversion/%d" % vids[0], token=admin).json()["stage_id"] == 1
    grant(asrv, admin, bob_id, pid, update=True)
    assert stage(asrv, mid, 1, {"stage": "STAGING"}, token=bob).status_code == 200
    assert asrv.get("/modelversion/%d" % vids[0], token=admin).json()["stage_id"] == 2


def test_protocol_version(srv, tmp_path):
    assert srv.get("/v1").json() == {"protocol": 1}
    assert srv.get("/v1/").json() == {"protocol": 1}
    os.makedirs(str(tmp_path / "auth"))
    a = Server(str(tmp_path / "auth"), auth=True)
    try:
        assert_error(a.get("/v1/"), 401, "TOKEN_MISSING")
        assert a.get("/v1/", token=a.login()).json() == {"protocol": 1}
    finally:
        a.stop()
