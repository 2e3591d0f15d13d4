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
    # "metric_columns": POST /v1/metrics takes columnar batches (REMOTE.md §2.7)
    v1 = {"protocol": 1, "metric_columns": True}
    assert srv.get("/v1").json() == v1
    assert srv.get("/v1/").json() == v1
    os.makedirs(str(tmp_path / "auth"))
    a = Server(str(tmp_path / "auth"), auth=True)
    try:
        assert_error(a.get("/v1/"), 401, "TOKEN_MISSING")
        assert a.get("/v1/", token=a.login()).json() == v1
    finally:
        a.stop()


# ---------------------------------------------------------------- R2: the rest of §2

def upload(s, eid, name, data, token=None):
    r = s.post("/resource/experiment/%d" % eid, token=token,
               files={"name": (None, name), "data": ("blob", data)})
    assert r.status_code == 201, r.text
    return r.json()["resource_id"]


def fill(s, token=None, name="p1"):
    """A project with experiment `e` (a resource `w.bin`, a tag), iteration `iid` (params,
    two metric series, a tag, a child) and model `m` (two versions, the first from the
    resource), a project tag; returns a dict of their ids."""
    pid, eid, (iid, other) = mk(s, token=token, iterations=2, name=name)
    ids = {"pid": pid, "eid": eid, "iid": iid, "other": other}
    ids["rid"] = upload(s, eid, "w.bin", b"x" * 1000, token=token)
    for path, body in (("/parameter/iteration/%d" % iid, {"key": "lr", "value": "0.01"}),
                       ("/parameter/iteration/%d" % iid, {"key": "big", "value": "v" * 3000}),
                       ("/metric/iteration/%d" % iid, {"key": "loss", "value": 0.5, "step": 1}),
                       ("/metric/iteration/%d" % iid, {"key": "acc", "value": 0.9}),
                       ("/tag/project/%d" % pid, {"value": "team"}),
                       ("/tag/experiment/%d" % eid, {"value": "nightly"}),
                       ("/tag/iteration/%d" % iid, {"value": "gold"})):
        r = s.post(path, token=token, json=body)
        assert r.status_code == 201, (path, r.text)
    r = s.post("/iteration/experiment/%d?parent_iteration_id=%d" % (eid, iid), token=token)
    ids["child"] = r.json()["iteration_id"]
    ids["mid"] = s.post("/model/project/%d" % pid, token=token,
                        json={"name": "m" if name == "p1" else "m-" + name}).json()["model_id"]
    for rid in (ids["rid"], None):
        body = {"iteration_id": iid, **({"resource_id": rid} if rid else {})}
        r = s.post("/modelversion/model/%d" % ids["mid"], token=token, json=body)
        assert r.status_code == 201, r.text
        ids["vid"] = r.json()["modelversion_id"]
    return ids


def v1ls(s, what, token=None, query=""):
    r = s.get("/v1/ls/" + what + query, token=token)
    assert r.status_code == 200, (what, r.text)
    return r.json()


def names(body, kind=None):
    return sorted(e["name"] for e in body["entries"] if kind is None or e.get("kind") == kind)


def listed(d):
    return sorted(n for n in os.listdir(d) if not n.endswith(".svg") and n != "new")


def test_every_listing_is_what_the_mount_shows(tmp_path):
    with served_mount(str(tmp_path)) as (m, s):
        ids = fill(s)
        snap = {"julia_version": "1.10.0", "git_sha": "abc", "git_dirty": False,
                "entrypoint": "train.jl", "project_toml": "[deps]\n", "manifest_toml": ""}
        r = s.post("/iteration/%d/snapshot" % ids["iid"], json=snap)
        assert r.status_code == 200, r.text
        os.symlink("../versions/1", m.p("projects/p1/models/m/aliases/champion"))
        root = v1ls(s, "projects")
        assert names(root) == listed(m.p("projects")) == ["p1"]
        assert root["entries"][0]["rights"] == "crud" and root["dir"]["rights"] == "crud"
        models = v1ls(s, "models")
        assert names(models) == listed(m.p("models")) == ["m"]
        assert models["entries"][0]["project"] == "p1"
        assert models["entries"][0]["last_version"] == 2
        p = v1ls(s, "project/%d" % ids["pid"])
        pd = m.p("projects", "p1")
        assert names(p, "experiment") == listed(os.path.join(pd, "experiments")) == ["e"]
        assert names(p, "model") == listed(os.path.join(pd, "models")) == ["m"]
        assert names(p, "tag") == listed(os.path.join(pd, "tags")) == ["team"]
        assert set(p["dir"]["dir_times"]) == {"experiments", "models", "tags"}
        ed = os.path.join(pd, "experiments", "e")
        e = v1ls(s, "experiment/%d" % ids["eid"])
        assert names(e, "resource") == listed(os.path.join(ed, "resources")) == ["w.bin"]
        assert names(e, "tag") == listed(os.path.join(ed, "tags")) == ["nightly"]
        res = [x for x in e["entries"] if x["kind"] == "resource"][0]
        assert res["size"] == os.stat(os.path.join(ed, "resources", "w.bin")).st_size == 1000
        it = v1ls(s, "iteration/%d" % ids["iid"])
        idir = os.path.join(ed, "iterations", str(ids["iid"]))
        for kind, sub in (("param", "params"), ("metric", "metrics"),
                          ("child", "children"), ("tag", "tags")):
            assert names(it, kind) == listed(os.path.join(idir, sub)), kind
        # env/: the captured files, and the snapshot columns of the row the listing holds
        env = ["Manifest.toml", "Project.toml", "entrypoint", "git_dirty", "git_sha",
               "julia_version"]
        assert sorted(names(it, "env") + env) == listed(os.path.join(idir, "env"))
        with open(os.path.join(idir, "env", "Project.toml")) as f:
            assert f.read() == it["dir"]["row"]["project_toml"] == "[deps]\n"
        assert it["dir"]["row"] == {**s.get("/iteration/%d" % ids["iid"]).json()}
        assert names(it, "param") == ["big", "lr"] and names(it, "metric") == ["acc", "loss"]
        assert names(it, "child") == [str(ids["child"])]
        assert it["dir"]["ended"] is False
        for x in it["entries"]:
            if x["kind"] in ("param", "metric"):
                path = os.path.join(idir, x["kind"] + "s", x["name"])
                assert x["size"] == os.stat(path).st_size, x
                if x["kind"] == "param" and x["value"] is not None:
                    with open(path) as f:
                        assert f.read() == x["value"] + "\n"
        big = [x for x in it["entries"] if x["name"] == "big"][0]
        assert big["value"] is None and big["size"] == 3001   # past DD_V1_LS_VALUE_MAX
        md = v1ls(s, "model/%d" % ids["mid"])
        assert names(md, "version") == listed(m.p("projects/p1/models/m/versions")) == ["1", "2"]
        assert names(md, "alias") == listed(m.p("projects/p1/models/m/aliases")) == ["champion"]
        v1 = [x for x in md["entries"] if x["name"] == "1"][0]
        assert v1["resource_id"] == ids["rid"] and v1["stage"] == "NO_STAGE"
        alias = [x for x in md["entries"] if x["kind"] == "alias"][0]
        assert alias["version"] == 1 and alias["version_id"] == v1["id"]


def test_position_paging_of_mixed_listings(srv):
    ids = fill(srv)
    whole = v1ls(srv, "iteration/%d" % ids["iid"])["entries"]
    assert len(whole) == 6   # 2 params, 2 metrics, 1 child, 1 tag
    seen, after = [], 0
    while True:
        page = v1ls(srv, "iteration/%d" % ids["iid"], query="?limit=4&after=%d" % after)
        seen += page["entries"]
        if page["next"] is None:
            break
        after = page["next"]
        assert after == len(seen)
    assert seen == whole
    before = db_dump(srv.db)
    for what in ("projects", "models", "project/%d" % ids["pid"], "experiment/%d" % ids["eid"],
                 "iteration/%d" % ids["iid"], "model/%d" % ids["mid"]):
        for q in ("?limit=0", "?limit=10001", "?after=-1", "?after=x"):
            assert_error(srv.get("/v1/ls/" + what + q), 400, "BAD_REQUEST")
    for what in ("project/999", "experiment/999", "iteration/999", "model/999"):
        assert_error(srv.get("/v1/ls/" + what), 404, "NOT_FOUND")
    for what in ("project/x", "experiment/1.5", "iteration/-", "model/"):
        r = srv.get("/v1/ls/" + what)
        assert r.status_code in (400, 404), r.text
    assert db_dump(srv.db) == before


def lookup(s, query, token=None):
    return s.get("/v1/lookup" + query, token=token)


def test_lookup_by_name(srv):
    ids = fill(srv)
    r = lookup(srv, "?path=p1")
    assert r.status_code == 200, r.text
    assert r.json() == {**srv.get("/project/%d" % ids["pid"]).json(), "rights": "crud",
                        "ended": False}
    e = lookup(srv, "?path=p1/e").json()
    assert e["id"] == ids["eid"] and e["rights"] == "crud" and e["ended"] is False
    it = lookup(srv, "?path=p1/e/%d" % ids["iid"]).json()
    assert it == {**srv.get("/iteration/%d" % ids["iid"]).json(), "rights": "crud",
                  "ended": False}
    srv.patch("/iteration/%d" % ids["other"], json={"status_id": 2})
    assert lookup(srv, "?path=p1/e/%d" % ids["other"]).json()["ended"] is True
    mo = lookup(srv, "?model=m").json()
    assert mo["id"] == ids["mid"] and mo["project_id"] == ids["pid"]
    v = lookup(srv, "?model=m&version=2").json()
    assert v == {**srv.get("/modelversion/%d" % v["id"]).json(), "rights": "crud",
                 "ended": False}
    assert v["version"] == 2
    before = db_dump(srv.db)
    for q in ("?path=nope", "?path=p1/nope", "?path=p1/e/999999", "?model=nope",
              "?model=m&version=3"):
        assert_error(lookup(srv, q), 404, "NOT_FOUND")
    # an iteration of another experiment is not found under this one
    _, eid2, (iid2,) = mk(srv, iterations=1, name="p2")
    assert_error(lookup(srv, "?path=p1/e/%d" % iid2), 404, "NOT_FOUND")
    before = db_dump(srv.db)
    bad = ["", "?path=p1&model=m", "?version=1", "?path=p1&version=1", "?path=",
           "?path=p1//1", "?path=/p1", "?path=p1/", "?path=p1/e/x", "?path=p1/e/0",
           "?path=p1/e/01", "?path=p1/e/-1", "?path=p1/e/1/2", "?path=..",
           "?path=p1/%01", "?path=" + "a" * 256, "?path=p1/e/99999999999999999999",
           "?path=%ff", "?model=", "?model=" + "m" * 256, "?model=m&version=0",
           "?model=m&version=x", "?model=a%2Fb"]
    for q in bad:
        assert_error(lookup(srv, q), 400, "BAD_REQUEST")
    assert db_dump(srv.db) == before


def register(s, mid, body, token=None):
    return s.post("/v1/model/%d/version" % mid, token=token, json=body)


def test_registration_by_iteration_and_resource(tmp_path):
    with served_mount(str(tmp_path)) as (m, s):
        ids = fill(s)
        r = register(s, ids["mid"], {"iteration_id": ids["iid"], "resource": "w.bin",
                                     "description": "from the sweep"})
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["version"] == 3
        v = s.get("/modelversion/%d" % body["version_id"]).json()
        assert v["resource_id"] == ids["rid"] and v["iteration_id"] == ids["iid"]
        assert v["description"] == "from the sweep" and v["version"] == 3
        r = register(s, ids["mid"], {"iteration_id": ids["iid"], "resource": None})
        assert r.status_code == 201 and r.json()["version"] == 4
        assert s.get("/modelversion/%d" % r.json()["version_id"]).json()["resource_id"] is None
        assert listed(m.p("projects/p1/models/m/versions")) == ["1", "2", "3", "4"]
        # what the mount's own registration shows for the same thing
        with open(m.p("projects/p1/models/m/versions/3/artifact"), "rb") as f:
            assert f.read() == b"x" * 1000


def test_registration_refusals_change_nothing(srv):
    ids = fill(srv)
    other = fill(srv, name="p2")
    mid, iid = ids["mid"], ids["iid"]
    before = db_dump(srv.db)
    assert_error(register(srv, mid, {"iteration_id": iid, "resource": "nope"}), 404,
                 "NOT_FOUND")
    assert_error(register(srv, mid, {"iteration_id": 999999}), 404, "NOT_FOUND")
    assert_error(register(srv, mid, {"iteration_id": 0}), 404, "NOT_FOUND")
    assert_error(register(srv, 999999, {"iteration_id": iid}), 404, "NOT_FOUND")
    assert_error(register(srv, mid, {"iteration_id": other["iid"]}), 422, "INVALID_PAYLOAD")
    # a resource of another experiment is not found in this iteration's
    upload(srv, other["eid"], "only-there", b"1")
    before = db_dump(srv.db)
    assert_error(register(srv, mid, {"iteration_id": iid, "resource": "only-there"}), 404,
                 "NOT_FOUND")
    for body in ({}, {"iteration_id": "1"}, {"iteration_id": iid, "resource": 5},
                 {"iteration_id": iid, "description": 1}, {"iteration_id": iid,
                                                           "resource": "a/b"},
                 {"iteration_id": iid, "resource": "r" * 256}, {"iteration_id": 1.5}):
        assert_error(register(srv, mid, body), 400, "BAD_REQUEST")
    assert_error(srv.post("/v1/model/%d/version" % mid, data=b"{"), 400, "BAD_REQUEST")
    r = srv.post("/v1/model/%d/version" % mid, data=b"[" * (1024 * 1024 + 1))
    assert r.status_code == 413
    assert_error(srv.post("/v1/model/x/version", json={"iteration_id": iid}), 400,
                 "BAD_REQUEST")
    assert db_dump(srv.db) == before


def test_rm_r_protocol(srv):
    ids = fill(srv)
    # a version needs the iteration (and the resource): rm -r of its parents is refused
    for kind, key in (("iteration", "iid"), ("experiment", "eid"), ("project", "pid")):
        assert_error(srv.get("/v1/delete-check/%s/%d" % (kind, ids[key])), 409, "IN_USE")
    assert srv.get("/v1/delete-check/iteration/%d" % ids["other"]).json() == {"deletable": True}
    for kind in ("project", "experiment", "iteration"):
        assert_error(srv.get("/v1/delete-check/%s/999999" % kind), 404, "NOT_FOUND")
        assert_error(srv.delete("/v1/%s/999999?cascade=1" % kind), 404, "NOT_FOUND")
        assert_error(srv.get("/v1/delete-check/%s/x" % kind), 400, "BAD_REQUEST")
    before = db_dump(srv.db)
    for kind, key in (("iteration", "iid"), ("experiment", "eid"), ("project", "pid")):
        assert_error(srv.delete("/v1/%s/%d?cascade=1" % (kind, ids[key])), 409, "IN_USE")
        assert_error(srv.delete("/v1/%s/%d" % (kind, ids[key])), 409, "NOT_EMPTY")
        assert_error(srv.delete("/v1/%s/%d?cascade=yes" % (kind, ids[key])), 400,
                     "BAD_REQUEST")
    assert db_dump(srv.db) == before
    # an empty iteration goes without cascade; one with data only with it
    assert srv.delete("/v1/iteration/%d" % ids["other"]).status_code == 200
    assert srv.get("/iteration/%d" % ids["other"]).status_code == 404
    assert srv.delete("/model/%d" % ids["mid"]).status_code == 200   # frees iid
    assert srv.get("/v1/delete-check/iteration/%d" % ids["iid"]).status_code == 200
    assert srv.delete("/v1/iteration/%d?cascade=1" % ids["iid"]).status_code == 200
    assert srv.get("/parameter/iteration/%d" % ids["iid"]).json()["total"] == 0
    r = srv.delete("/v1/project/%d?cascade=true" % ids["pid"])
    assert r.status_code == 200, r.text
    assert srv.get("/project/%d" % ids["pid"]).status_code == 404
    assert srv.get("/experiment/%d" % ids["eid"]).status_code == 404
    assert srv.get("/resource/%d" % ids["rid"]).status_code == 404


def test_rm_r_through_the_api_is_what_the_mount_sees(tmp_path):
    with served_mount(str(tmp_path)) as (m, s):
        ids = fill(s)
        assert s.delete("/model/%d" % ids["mid"]).status_code == 200
        assert os.path.isdir(m.p("projects/p1/experiments/e"))
        assert s.delete("/v1/experiment/%d?cascade=1" % ids["eid"]).status_code == 200
        deadline = time.time() + 5
        while os.path.exists(m.p("projects/p1/experiments/e")) and time.time() < deadline:
            time.sleep(0.05)
        assert listed(m.p("projects/p1/experiments")) == []
        # and the reverse: what the mount made is listed
        os.mkdir(m.p("projects/p1/experiments/made-here"))
        assert names(v1ls(s, "project/%d" % ids["pid"]), "experiment") == ["made-here"]


# ---------------------------------------------------------------- the permission matrix

def v1_routes(ids):
    """(label, method, path, body, action): every /v1 route; action is the right its guard
    needs ("token": any valid token)."""
    pid, eid, iid, mid = ids["pid"], ids["eid"], ids["iid"], ids["mid"]
    return [
        ("root", "GET", "/v1/", None, "token"),
        ("ls projects", "GET", "/v1/ls/projects", None, "token"),
        ("ls models", "GET", "/v1/ls/models", None, "token"),
        ("lookup", "GET", "/v1/lookup?path=p1/e", None, "lookup"),
        ("lookup model", "GET", "/v1/lookup?model=m&version=1", None, "lookup"),
        ("ls project", "GET", "/v1/ls/project/%d" % pid, None, "read"),
        ("ls experiment", "GET", "/v1/ls/experiment/%d" % eid, None, "read"),
        ("ls iterations", "GET", "/v1/ls/experiment/%d/iterations" % eid, None, "read"),
        ("ls iteration", "GET", "/v1/ls/iteration/%d" % iid, None, "read"),
        ("ls model", "GET", "/v1/ls/model/%d" % mid, None, "read"),
        ("stage", "PUT", "/v1/model/%d/version/2/stage" % mid, {"stage": "STAGING"}, "update"),
        ("register", "POST", "/v1/model/%d/version" % mid, {"iteration_id": iid}, "create"),
        ("check project", "GET", "/v1/delete-check/project/%d" % pid, None, "delete"),
        ("check experiment", "GET", "/v1/delete-check/experiment/%d" % eid, None, "delete"),
        ("check iteration", "GET", "/v1/delete-check/iteration/%d" % ids["other"], None,
         "delete"),
        ("delete iteration", "DELETE", "/v1/iteration/%d?cascade=1" % ids["other"], None,
         "delete"),
        # the writes of remote mounts with no one-to-one original route (R5)
        ("params", "PUT", "/v1/iteration/%d/params" % iid, {"params": {"lr": "0.02"}},
         "update"),
        ("param rename", "POST", "/v1/iteration/%d/params/rename" % iid,
         {"from": "big", "to": "huge"}, "update"),
        ("detach p", "POST", "/v1/tag/project/%d/detach" % pid, {"value": "team"}, "delete"),
        ("detach e", "POST", "/v1/tag/experiment/%d/detach" % eid, {"value": "nightly"},
         "delete"),
        ("detach i", "POST", "/v1/tag/iteration/%d/detach" % iid, {"value": "gold"}, "delete"),
        ("alias set", "PUT", "/v1/model/%d/alias" % mid,
         {"alias": "best", "version_id": ids["vid"]}, "update"),
        ("alias rename", "POST", "/v1/model/%d/alias/rename" % mid, {"from": "best", "to": "top"},
         "update"),
        ("alias delete", "POST", "/v1/model/%d/alias/delete" % mid, {"alias": "top"}, "update"),
        ("experiment", "PATCH", "/v1/experiment/%d" % eid,
         {"description": "d", "status": "STOPPED"}, "update"),
        ("project", "PATCH", "/v1/project/%d" % pid, {"description": "d"}, "update"),
        ("resource", "PATCH", "/v1/resource/%d" % ids["rid"], {"name": "w2.bin"}, "update"),
        # rm of a metric series (the original's DELETE /metric/{id} refuses)
        ("metric delete", "POST", "/v1/iteration/%d/metrics/delete" % iid, {"key": "acc"},
         "delete"),
    ]


def call(s, route, token):
    _, method, path, body, _ = route
    return s.req(method, path, token=token, **({"json": body} if body is not None else {}))


def granted(r, route):
    """Past the guard: done, or (the project's and experiment's delete-check, whose
    iteration produced a version) the check's own answer."""
    if route[0] in ("check project", "check experiment"):
        return r.status_code == 409 and r.json()["code"] == "IN_USE"
    return r.status_code in (200, 201)


def test_permission_matrix(asrv):
    admin = asrv.login()
    ids = fill(asrv, token=admin)
    users = {}
    for name, flags in (("nobody", ()), ("reader", ("read",)), ("creator", ("create",)),
                        ("updater", ("read", "update")), ("deleter", ("read", "delete")),
                        ("maker", ("read", "create"))):
        uid, tok = mk_user(asrv, admin, name)
        if flags:
            grant(asrv, admin, uid, ids["pid"], **{f: True for f in flags})
        users[name] = (tok, flags)
    routes = v1_routes(ids)
    before = db_dump(asrv.db)
    # refusals: no token, a bad token, and each user without the route's right
    for route in routes:
        assert_error(call(asrv, route, None), 401, "TOKEN_MISSING")
        assert_error(call(asrv, route, "x.y.z"), 401, "TOKEN_INVALID")
        action = route[4]
        for name, (tok, flags) in users.items():
            if action in ("token",):
                continue
            if action == "lookup":
                if "read" not in flags:   # absent, not forbidden
                    assert_error(call(asrv, route, tok), 404, "NOT_FOUND")
                continue
            if action in flags:
                continue
            r = call(asrv, route, tok)
            assert r.status_code == 403 and r.json()["code"] == "PROJECT_PERMISSION_REQUIRED", \
                (route[0], name, r.status_code, r.text)
    # an unreadable project answers exactly as one that does not exist
    nobody = users["nobody"][0]
    assert lookup(asrv, "?path=p1", nobody).json() == lookup(asrv, "?path=zz", nobody).json()
    assert lookup(asrv, "?path=p1/e", nobody).json() == \
        lookup(asrv, "?path=p1/zz", nobody).json()
    # registration also needs read on the iteration's project
    assert_error(call(asrv, routes[11], users["creator"][0]), 403, "PROJECT_PERMISSION_REQUIRED")
    # a listing leaves out what the caller may not read
    for route in routes[1:3]:
        assert call(asrv, route, users["nobody"][0]).json()["entries"] == []
    assert db_dump(asrv.db) == before
    # granted: every read route for the reader, each write route for its holder, and
    # the admin everywhere (on a second project, so both changes happen)
    holder = {"read": "reader", "token": "nobody", "lookup": "reader", "update": "updater",
              "create": "maker", "delete": "deleter"}
    for route in routes:
        tok = users[holder[route[4]]][0]
        assert granted(call(asrv, route, tok), route), route[0]
    rights = v1ls(asrv, "projects", token=users["updater"][0])["entries"]
    assert [(e["name"], e["rights"]) for e in rights] == [("p1", "-ru-")]
    ids2 = fill(asrv, token=admin, name="p2")
    for route in v1_routes(ids2):
        if route[4] == "lookup":
            route = (route[0], route[1], route[2].replace("p1", "p2").replace("=m&", "=m-p2&"),
                     route[3], route[4])
        assert granted(call(asrv, route, admin), route), route[0]
    assert sorted(names(v1ls(asrv, "projects", token=admin))) == ["p1", "p2"]
    assert names(v1ls(asrv, "projects", token=users["reader"][0])) == ["p1"]
    assert names(v1ls(asrv, "models", token=users["reader"][0])) == ["m"]


def test_deletes_in_both_auth_modes(asrv):
    """rm -r of a project by a user holding delete on it (as on a shared mount), refused
    without; the original's DELETE /project stays admin-only."""
    admin = asrv.login()
    pid, eid, _ = mk(asrv, token=admin, iterations=2)
    uid, tok = mk_user(asrv, admin, "ana")
    grant(asrv, admin, uid, pid, read=True)
    before = db_dump(asrv.db)
    assert_error(asrv.delete("/v1/project/%d?cascade=1" % pid, token=tok), 403,
                 "PROJECT_PERMISSION_REQUIRED")
    assert_error(asrv.delete("/v1/experiment/%d?cascade=1" % eid, token=tok), 403,
                 "PROJECT_PERMISSION_REQUIRED")
    assert db_dump(asrv.db) == before
    grant(asrv, admin, uid, pid, read=True, delete=True)
    assert_error(asrv.delete("/project/%d" % pid, token=tok), 403, "ADMIN_REQUIRED")
    assert_error(asrv.delete("/v1/project/%d" % pid, token=tok), 409, "NOT_EMPTY")
    assert asrv.delete("/v1/project/%d?cascade=1" % pid, token=tok).status_code == 200
    assert asrv.get("/experiment/%d" % eid, token=admin).status_code == 404


def test_write_routes_do_what_the_store_does(srv):
    """The R5 write routes: each one store call, its refusals with the store's reason (so
    a remote mount maps them back to the local errno), the database unchanged after each."""
    ids = fill(srv)
    iid, mid, eid = ids["iid"], ids["mid"], ids["eid"]
    r = srv.req("PUT", "/v1/iteration/%d/params" % iid, json={"params": {"a": "1", "b": "2"},
                                                       "replace": True})
    assert r.status_code == 200, r.text
    keys = sorted(p["key"] for p in srv.get("/parameter/iteration/%d" % iid).json()["data"])
    assert keys == ["a", "b"]
    r = srv.post("/v1/iteration/%d/params/rename" % iid, json={"from": "a", "to": "b"})
    assert r.status_code == 200, r.text   # replaces, as mv does
    assert [(p["key"], p["value"]) for p in
            srv.get("/parameter/iteration/%d" % iid).json()["data"]] == [("b", "1")]
    r = srv.patch("/v1/experiment/%d" % eid, json={"name": "e2", "status": "FINISHED"})
    assert r.status_code == 200, r.text
    assert srv.get("/experiment/%d" % eid).json()["name"] == "e2"
    assert srv.req("PUT", "/v1/model/%d/alias" % mid,
                   json={"alias": "best", "version_id": ids["vid"]}).status_code == 200
    srv.patch("/iteration/%d" % iid, json={"status_id": 2})   # ends it
    before = db_dump(srv.db)
    for (method, path, body), (status, code, reason) in [
        (("PUT", "/v1/iteration/%d/params" % iid, {"params": {"c": "3"}}),
         (422, "ENDED", "read_only")),
        (("PUT", "/v1/iteration/%d/params" % ids["other"], {"params": {"c": ""}}),
         (422, "INVALID_PAYLOAD", "invalid")),
        (("PUT", "/v1/iteration/%d/params" % ids["other"], {"params": {"c": 3}}),
         (400, "BAD_REQUEST", None)),
        (("PUT", "/v1/iteration/%d/params" % ids["other"], {"params": []}),
         (400, "BAD_REQUEST", None)),
        (("POST", "/v1/iteration/%d/params/rename" % ids["other"], {"from": "x", "to": "y"}),
         (404, "NOT_FOUND", "not_found")),
        (("POST", "/v1/tag/experiment/%d/detach" % eid, {"value": "never"}),
         (404, "NOT_FOUND", "not_found")),
        (("POST", "/v1/model/%d/alias/rename" % mid, {"from": "best", "to": "bad/name"}),
         (422, "INVALID_PAYLOAD", "invalid")),
        (("PATCH", "/v1/experiment/%d" % eid, {"status": "SLEEPING"}),
         (422, "INVALID_PAYLOAD", "invalid")),
        (("PATCH", "/v1/experiment/%d" % eid, {}), (422, "INVALID_PAYLOAD", "invalid")),
        (("PATCH", "/v1/resource/%d" % ids["rid"], {"name": "x" * 300}),
         (422, "INVALID_PAYLOAD", "too_long")),
        (("POST", "/v1/iteration/%d/metrics/delete" % iid, {"key": "loss"}),
         (422, "ENDED", "read_only")),
        (("POST", "/v1/iteration/%d/metrics/delete" % ids["other"], {"key": "never"}),
         (404, "NOT_FOUND", "not_found")),
        (("POST", "/v1/iteration/%d/metrics/delete" % ids["other"], {"key": 3}),
         (400, "BAD_REQUEST", None)),
        (("DELETE", "/v1/experiment/%d?cascade=0" % eid, None), (409, "NOT_EMPTY", "not_empty")),
        (("DELETE", "/resource/%d" % ids["rid"], None), (409, "CONFLICT", "in_use")),
    ]:
        r = srv.req(method, path, **({"json": body} if body is not None else {}))
        assert_error(r, status, code)
        assert r.json().get("reason") == reason, (path, r.text)
        assert db_dump(srv.db) == before, path
