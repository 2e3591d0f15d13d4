"""`deardiary serve` with auth disabled (the original's default): route by route against
§5 of the reference (shapes §5.2, pagination §5.3, CORS §5.7, the route table §5.6) and
its acceptance cases (§10.1 "Routes (auth off)"), plus the deviations the README lists."""
import time

import pytest

from helpers_serve import srv, asrv, assert_error  # noqa: F401


def mk_project(s, name="p1"):
    r = s.post("/project/", json={"name": name})
    assert r.status_code == 201, r.text
    return r.json()["project_id"]


def mk_experiment(s, pid, name="e1"):
    r = s.post("/experiment/project/%d" % pid, json={"status_id": 1, "name": name})
    assert r.status_code == 201, r.text
    return r.json()["experiment_id"]


def mk_iteration(s, eid, parent=None):
    q = "" if parent is None else "?parent_iteration_id=%d" % parent
    r = s.post("/iteration/experiment/%d%s" % (eid, q))
    assert r.status_code == 201, r.text
    return r.json()["iteration_id"]


def test_health_shape(srv):
    r = srv.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["app_name"] == "DearDiary"
    assert body["package_version"]
    assert body["server_time"].startswith("20")


def test_cors_headers_and_preflight(srv):
    r = srv.get("/health")
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type"
    assert r.headers["Access-Control-Allow-Methods"] == "GET, POST, PATCH, DELETE, OPTIONS"
    assert r.headers["Access-Control-Max-Age"] == "600"
    assert "Access-Control-Allow-Credentials" not in r.headers
    p = srv.req("OPTIONS", "/project/1")
    assert p.status_code == 200
    assert p.headers["Access-Control-Allow-Origin"] == "*"


def test_cors_listed_origins_allow_credentials(tmp_path):
    from helpers_serve import Server
    s = Server(str(tmp_path), env={"DEARDIARY_CORS_ORIGINS": " https://a.example , https://b.example"})
    try:
        r = s.get("/health")
        assert r.headers["Access-Control-Allow-Origin"] == "https://a.example, https://b.example"
        assert r.headers["Access-Control-Allow-Credentials"] == "true"
    finally:
        s.stop()


def test_https(tmp_path):
    """--tls-cert/--tls-key: HTTPS through libmicrohttpd's GnuTLS; plain HTTP is refused."""
    import subprocess
    import requests
    from helpers_serve import Server
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    s = Server(str(tmp_path), tls=(cert, key))
    try:
        assert s.get("/health").status_code == 200
        assert s.post("/auth", json={"username": "default", "password": "default"}).status_code == 200
        try:
            plain = requests.get("http://127.0.0.1:%d/health" % s.port, timeout=10)
            assert plain.status_code != 200
        except requests.RequestException:
            pass
    finally:
        s.stop()


def test_unknown_route_is_404_envelope(srv):
    assert_error(srv.get("/nothing/here"), 404, "NOT_FOUND")
    assert_error(srv.req("PUT", "/project/"), 404, "NOT_FOUND")


def test_request_log_line_has_no_secrets(srv):
    srv.post("/auth", json={"username": "default", "password": "default"})
    srv.get("/project/1", headers={"Authorization": "Bearer sekrit-token-value"})
    # the line is written when MHD completes the request, which can be just after the
    # client has the answer: wait for it
    deadline = time.monotonic() + 5
    while "GET /project/1 " not in srv.output() and time.monotonic() < deadline:
        time.sleep(0.02)
    out = srv.output()
    assert "POST /auth 200 " in out
    assert "GET /project/1 404 " in out
    assert "us\n" in out
    assert "sekrit" not in out and "\"default\"" not in out


def test_auth_disabled_acts_as_default(srv):
    me = srv.get("/auth/me")
    assert me.status_code == 200
    assert me.json()["username"] == "default" and me.json()["is_admin"] is True
    assert "password" not in me.json()
    # tokens are ignored, even garbage
    assert srv.get("/auth/me", token="not.a.token").status_code == 200
    r = srv.post("/auth/refresh")
    assert r.status_code == 200 and r.json()["token_type"] == "Bearer"
    # login still issues real tokens
    r = srv.post("/auth", json={"username": "default", "password": "default"})
    assert r.status_code == 200 and r.json()["access_token"].count(".") == 2


# ---------------------------------------------------------------- users

def test_user_crud(srv):
    r = srv.post("/user/", json={"first_name": "A", "last_name": "B", "username": "alice",
                                 "password": "pw"})
    assert r.status_code == 201 and r.json() == {"user_id": 2}
    assert_error(srv.post("/user/", json={"first_name": "A", "last_name": "B",
                                          "username": "alice", "password": "x"}), 409, "CONFLICT")
    assert_error(srv.post("/user/", json={"first_name": "A", "last_name": "B",
                                          "username": "", "password": "x"}), 422,
                 "INVALID_PAYLOAD")
    u = srv.get("/user/2").json()
    assert u["username"] == "alice" and u["is_admin"] is False and "password" not in u
    assert [x["username"] for x in srv.get("/user/").json()] == ["default", "alice"]
    assert srv.patch("/user/2", json={"first_name": "Al"}).json() == {"message": "UPDATED"}
    u = srv.get("/user/2").json()
    assert u["first_name"] == "Al" and u["last_name"] == "B"
    # password change takes effect
    assert srv.patch("/user/2", json={"password": "new"}).status_code == 200
    assert srv.post("/auth", json={"username": "alice", "password": "new"}).status_code == 200
    assert_error(srv.post("/auth", json={"username": "alice", "password": "pw"}), 401,
                 "INVALID_CREDENTIALS")
    assert_error(srv.post("/auth", json={"username": "nobody", "password": "pw"}), 404,
                 "USER_NOT_FOUND")
    assert srv.get("/user/2/permissions").json() == []
    assert srv.delete("/user/2").json() == {"message": "OK"}
    assert_error(srv.get("/user/2"), 404, "USER_NOT_FOUND")


def test_user_refusals_are_4xx_not_500(srv):
    # the original: all-null PATCH -> 500, deleting unknown or default -> 500
    assert_error(srv.patch("/user/1", json={}), 422, "INVALID_PAYLOAD")
    assert_error(srv.patch("/user/1", json={"first_name": None, "is_admin": None}), 422,
                 "INVALID_PAYLOAD")
    assert_error(srv.patch("/user/1", json={"is_admin": False}), 422, "INVALID_PAYLOAD")
    assert_error(srv.patch("/user/99", json={"first_name": "x"}), 422, "INVALID_PAYLOAD")
    assert_error(srv.delete("/user/1"), 422, "INVALID_PAYLOAD")
    assert_error(srv.delete("/user/99"), 404, "NOT_FOUND")
    assert srv.get("/user/1").json()["is_admin"] is True


# ---------------------------------------------------------------- projects, permissions

def test_project_crud(srv):
    pid = mk_project(srv)
    assert pid == 1
    assert srv.get("/project/1").json()["name"] == "p1"
    assert [p["id"] for p in srv.get("/project").json()] == [1]
    assert srv.patch("/project/1", json={"description": "d"}).json()["message"] == "UPDATED"
    assert srv.get("/project/1").json()["description"] == "d"
    assert srv.patch("/project/1/", json={"name": "p2"}).status_code == 200
    assert srv.get("/project/1").json()["name"] == "p2"
    assert_error(srv.get("/project/9"), 404, "NOT_FOUND")
    assert_error(srv.patch("/project/9", json={"name": "x"}), 422, "INVALID_PAYLOAD")
    assert_error(srv.patch("/project/1", json={}), 422, "INVALID_PAYLOAD")
    # the creator's own permission row: read only, as the original
    m = srv.get("/project/1/members").json()
    assert len(m) == 1 and m[0]["user_id"] == 1 and m[0]["read_permission"] is True
    assert m[0]["create_permission"] is False
    assert srv.delete("/project/1").json() == {"message": "OK"}
    assert_error(srv.get("/project/1"), 404, "NOT_FOUND")
    assert_error(srv.delete("/project/1"), 404, "NOT_FOUND")


def test_project_names_unique_and_rename_conflict_is_409(srv):
    mk_project(srv, "a")
    mk_project(srv, "b")
    assert_error(srv.post("/project/", json={"name": "a"}), 409, "CONFLICT")
    # the original: a duplicate rename is 500
    assert_error(srv.patch("/project/2", json={"name": "a", "description": "x"}), 409, "CONFLICT")
    assert srv.get("/project/2").json()["description"] == ""   # nothing applied


def test_userpermission_crud(srv):
    pid = mk_project(srv)
    srv.post("/user/", json={"first_name": "", "last_name": "", "username": "bob",
                             "password": "pw"})
    flags = {"create_permission": True, "read_permission": True, "update_permission": False,
             "delete_permission": False}
    r = srv.post("/userpermission/user/2/project/%d" % pid, json=flags)
    assert r.status_code == 201
    upid = r.json()["userpermission_id"]
    assert_error(srv.post("/userpermission/user/2/project/%d" % pid, json=flags), 409, "CONFLICT")
    assert_error(srv.post("/userpermission/user/9/project/%d" % pid, json=flags), 422,
                 "INVALID_PAYLOAD")
    assert_error(srv.post("/userpermission/user/2/project/%d" % pid,
                          json={"create_permission": True}), 400, "BAD_REQUEST")
    p = srv.get("/userpermission/user/2/project/%d" % pid).json()
    assert p["id"] == upid and p["create_permission"] is True and p["update_permission"] is False
    assert srv.patch("/userpermission/%d" % upid, json={"update_permission": True}).status_code == 200
    p = srv.get("/userpermission/user/2/project/%d" % pid).json()
    assert p["update_permission"] is True and p["create_permission"] is True
    assert_error(srv.patch("/userpermission/%d" % upid, json={}), 422, "INVALID_PAYLOAD")
    assert_error(srv.patch("/userpermission/99", json={"read_permission": True}), 422,
                 "INVALID_PAYLOAD")
    assert [x["project_id"] for x in srv.get("/user/2/permissions").json()] == [pid]
    assert len(srv.get("/project/%d/members" % pid).json()) == 2
    assert srv.delete("/userpermission/%d" % upid).json() == {"message": "OK"}
    assert srv.delete("/userpermission/%d" % upid).status_code == 200   # as the original
    assert_error(srv.get("/userpermission/user/2/project/%d" % pid), 404, "NOT_FOUND")


# ---------------------------------------------------------------- experiments

def test_experiment_crud_and_reopen(srv):
    pid = mk_project(srv)
    eid = mk_experiment(srv, pid)
    assert eid == 1
    e = srv.get("/experiment/1").json()
    assert e["status_id"] == 1 and e["end_date"] is None and e["project_id"] == pid
    for status in (2, 3, 9999):
        assert_error(srv.post("/experiment/project/%d" % pid, json={"status_id": status,
                                                                     "name": "x%d" % status}),
                     422, "INVALID_PAYLOAD")
    assert_error(srv.post("/experiment/project/99", json={"status_id": 1, "name": "x"}), 422,
                 "INVALID_PAYLOAD")
    assert_error(srv.post("/experiment/project/%d" % pid, json={"status_id": 1, "name": ""}),
                 422, "INVALID_PAYLOAD")
    assert_error(srv.post("/experiment/project/%d" % pid, json={"status_id": 1, "name": "e1"}),
                 409, "CONFLICT")
    # status_id is required on every update, as the original
    assert_error(srv.patch("/experiment/1", json={"name": "n"}), 422, "INVALID_PAYLOAD")
    assert_error(srv.patch("/experiment/1", json={"status_id": 9999}), 422, "INVALID_PAYLOAD")
    assert srv.get("/experiment/1").json()["name"] == "e1"
    r = srv.patch("/experiment/1", json={"status_id": 2, "name": "n", "description": "d",
                                         "end_date": "2025-03-04T18:30:00"})
    assert r.json() == {"message": "UPDATED"}
    e = srv.get("/experiment/1").json()
    assert e["status_id"] == 2 and e["name"] == "n" and e["description"] == "d"
    assert e["end_date"] is not None
    assert srv.patch("/experiment/1", json={"status_id": 1}).status_code == 200
    assert srv.get("/experiment/1").json()["end_date"] is None     # reopen clears end_date
    assert_error(srv.get("/experiment/99"), 404, "NOT_FOUND")
    assert srv.delete("/experiment/1").json() == {"message": "OK"}
    assert_error(srv.delete("/experiment/1"), 404, "NOT_FOUND")


def test_experiment_pagination(srv):
    pid = mk_project(srv)
    for i in range(5):
        mk_experiment(srv, pid, "e%d" % i)
    page = srv.get("/experiment/project/%d" % pid).json()
    assert (page["total"], page["limit"], page["offset"]) == (5, 50, 0)
    assert [e["name"] for e in page["data"]] == ["e0", "e1", "e2", "e3", "e4"]
    page = srv.get("/experiment/project/%d?limit=2&offset=2" % pid).json()
    assert [e["name"] for e in page["data"]] == ["e2", "e3"] and page["total"] == 5
    assert srv.get("/experiment/project/%d?limit=99999" % pid).json()["limit"] == 200
    page = srv.get("/experiment/project/%d?limit=abc&offset=-5" % pid).json()
    assert (page["limit"], page["offset"]) == (50, 0)
    page = srv.get("/experiment/project/%d?limit=-1" % pid).json()
    assert page["limit"] == 0 and page["data"] == [] and page["total"] == 5
    page = srv.get("/experiment/project/%d?offset=99" % pid).json()
    assert page["data"] == [] and page["total"] == 5


# ---------------------------------------------------------------- iterations

def test_iteration_crud_children_and_lock(srv):
    eid = mk_experiment(srv, mk_project(srv))
    i1 = mk_iteration(srv, eid)
    c1 = mk_iteration(srv, eid, parent=i1)
    c2 = mk_iteration(srv, eid, parent=i1)
    it = srv.get("/iteration/%d" % i1).json()
    assert it["status_id"] == 1 and it["parent_iteration_id"] is None
    assert it["error_message"] == "" and it["end_date"] is None
    assert srv.get("/iteration/%d" % c1).json()["parent_iteration_id"] == i1
    assert [c["id"] for c in srv.get("/iteration/%d/children" % i1).json()] == [c1, c2]
    assert_error(srv.post("/iteration/experiment/%d?parent_iteration_id=abc" % eid), 422,
                 "INVALID_PAYLOAD")
    assert_error(srv.post("/iteration/experiment/%d?parent_iteration_id=9999" % eid), 422,
                 "INVALID_PAYLOAD")
    assert_error(srv.post("/iteration/experiment/99"), 422, "INVALID_PAYLOAD")
    page = srv.get("/iteration/experiment/%d?limit=2" % eid).json()
    assert page["total"] == 3 and len(page["data"]) == 2
    assert srv.patch("/iteration/%d" % c2, json={"notes": "hello"}).status_code == 200
    assert srv.get("/iteration/%d" % c2).json()["notes"] == "hello"
    r = srv.patch("/iteration/%d" % c2, json={"end_date": "2025-03-04T18:30:00", "status_id": 3,
                                              "error_message": "boom"})
    assert r.json() == {"message": "UPDATED"}
    it = srv.get("/iteration/%d" % c2).json()
    assert it["status_id"] == 3 and it["error_message"] == "boom" and it["end_date"]
    # locked once ended
    assert_error(srv.patch("/iteration/%d" % c2, json={"notes": "x"}), 422, "INVALID_PAYLOAD")
    assert_error(srv.patch("/iteration/%d" % c1, json={"status_id": 7}), 422, "INVALID_PAYLOAD")
    assert_error(srv.patch("/iteration/%d" % c1, json={"end_date": "2025-03-04T18:30:00"}), 422,
                 "INVALID_PAYLOAD")
    assert_error(srv.patch("/iteration/%d" % c1, json={}), 422, "INVALID_PAYLOAD")
    assert_error(srv.patch("/iteration/999", json={"notes": "x"}), 422, "INVALID_PAYLOAD")
    # deleting the parent orphans the children
    assert srv.delete("/iteration/%d" % i1).json() == {"message": "OK"}
    assert srv.get("/iteration/%d" % c1).json()["parent_iteration_id"] is None
    assert_error(srv.delete("/iteration/%d" % i1), 404, "NOT_FOUND")
    assert_error(srv.get("/iteration/%d" % i1), 404, "NOT_FOUND")


def test_iteration_snapshot(srv):
    eid = mk_experiment(srv, mk_project(srv))
    iid = mk_iteration(srv, eid)
    snap = {"julia_version": "1.10.0", "git_sha": "a" * 40, "git_dirty": True,
            "entrypoint": "train.jl", "project_toml": "[deps]\n", "manifest_toml": "# m\n"}
    assert srv.post("/iteration/%d/snapshot" % iid, json=snap).json() == {"message": "UPDATED"}
    it = srv.get("/iteration/%d" % iid).json()
    for k, v in snap.items():
        assert it[k] == v, k
    assert_error(srv.post("/iteration/999/snapshot", json=snap), 404, "NOT_FOUND")
    del snap["git_sha"]
    assert_error(srv.post("/iteration/%d/snapshot" % iid, json=snap), 400, "BAD_REQUEST")


def test_stopped_experiment_refuses_iterations(srv):
    eid = mk_experiment(srv, mk_project(srv))
    srv.patch("/experiment/%d" % eid, json={"status_id": 2})
    assert_error(srv.post("/iteration/experiment/%d" % eid), 422, "INVALID_PAYLOAD")


def test_project_delete_cascades(srv):
    pid = mk_project(srv)
    eid = mk_experiment(srv, pid)
    iid = mk_iteration(srv, eid)
    assert srv.delete("/project/%d" % pid).status_code == 200
    assert_error(srv.get("/experiment/%d" % eid), 404, "NOT_FOUND")
    assert_error(srv.get("/iteration/%d" % iid), 404, "NOT_FOUND")
