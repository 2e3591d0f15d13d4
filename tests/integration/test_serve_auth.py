"""`deardiary serve` with auth enabled: the token middleware (§5.4) in the original's order
and codes, the guards (§5.5: AdminRequired, SameUserOrAdminRequired,
ProjectPermissionRequired) and the permission matrix, from §10.1 "Routes (auth on)"."""
import subprocess
import time

import pytest

from conftest import BIN
from helpers_serve import (srv, asrv, assert_error, make_token, decode_claims,  # noqa: F401
                           SECRET, free_port)


def test_refuses_default_secret(tmp_path):
    env = {"DEARDIARY_ENABLE_AUTH": "true", "DEARDIARY_JWT_SECRET": "deardiary_secret",
           "PATH": "/usr/bin:/bin"}
    p = subprocess.run([BIN, "serve", "--db", str(tmp_path / "r.db"), "--port",
                        str(free_port())], env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode == 1
    assert "default JWT secret" in p.stderr


def test_login(asrv):
    assert_error(asrv.post("/auth", json={"username": "nobody", "password": "x"}), 404,
                 "USER_NOT_FOUND")
    assert_error(asrv.post("/auth", json={"username": "default", "password": "wrong"}), 401,
                 "INVALID_CREDENTIALS")
    r = asrv.post("/auth/", json={"username": "default", "password": "default"})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert body["user"]["username"] == "default" and "password" not in body["user"]
    now = time.time()
    assert 23 * 3600 < body["expires_at"] - now <= 24 * 3600 + 5
    claims = decode_claims(body["access_token"])
    assert claims == {"sub": "default", "id": 1, "exp": body["expires_at"]}


def test_health_and_login_need_no_token(asrv):
    assert asrv.get("/health").status_code == 200
    assert asrv.get("/health/").status_code == 200
    assert_error(asrv.get("/project/"), 401, "TOKEN_MISSING")
    assert_error(asrv.get("/nothing"), 401, "TOKEN_MISSING")   # auth runs before routing


def test_me_and_refresh(asrv):
    assert_error(asrv.get("/auth/me"), 401, "TOKEN_MISSING")
    tok = asrv.login()
    me = asrv.get("/auth/me", token=tok).json()
    assert me["username"] == "default" and me["is_admin"] is True
    first = decode_claims(tok)["exp"]
    r = asrv.post("/auth/refresh", token=tok)
    assert r.status_code == 200 and r.json()["expires_at"] >= first
    assert_error(asrv.post("/auth/refresh"), 401, "TOKEN_MISSING")
    expired = make_token({"sub": "default", "id": 1, "exp": int(time.time()) - 3600})
    assert_error(asrv.post("/auth/refresh", token=expired), 401, "TOKEN_EXPIRED")


def test_token_codes(asrv):
    now = int(time.time())
    good = {"sub": "default", "id": 1, "exp": now + 600}
    assert asrv.get("/auth/me", token=make_token(good)).status_code == 200
    bad = [
        ("not.a.token", "TOKEN_INVALID"),
        ("invalid.token.string", "TOKEN_INVALID"),
        (make_token(good, secret="wrong"), "TOKEN_INVALID"),
        (make_token(good, header={"alg": "none", "typ": "JWT"}), "TOKEN_INVALID"),
        (make_token(good, header={"alg": "HS512", "typ": "JWT"}), "TOKEN_INVALID"),
        (make_token(good).rsplit(".", 1)[0] + ".", "TOKEN_INVALID"),    # alg none style
        (make_token({}), "TOKEN_PAYLOAD_INVALID"),
        (make_token({"sub": "default", "id": "one", "exp": now + 600}), "TOKEN_PAYLOAD_INVALID"),
        (make_token({"sub": "default", "id": 0, "exp": now + 600}), "TOKEN_PAYLOAD_INVALID"),
        (make_token({"sub": "default", "id": 1, "exp": now - 3600}), "TOKEN_EXPIRED"),
        (make_token({"sub": "default", "id": 1, "exp": None}), "TOKEN_EXPIRED"),
        (make_token({"sub": "ghost", "id": 9999, "exp": now + 600}), "USER_NOT_FOUND"),
    ]
    for tok, code in bad:
        assert_error(asrv.get("/auth/me", token=tok), 401, code)
    # tampering: a payload swapped under a valid signature
    real = make_token(good).split(".")
    other = make_token({"sub": "default", "id": 2, "exp": now + 600}).split(".")
    assert_error(asrv.get("/auth/me", token=".".join([real[0], other[1], real[2]])), 401,
                 "TOKEN_INVALID")
    # a header without the Bearer scheme (the original: 500 without a space)
    for h in (make_token(good), "Basic " + make_token(good), "Bearer"):
        assert_error(asrv.get("/auth/me", headers={"Authorization": h}), 401, "TOKEN_INVALID")


def test_token_for_deleted_user(asrv):
    admin = asrv.login()
    asrv.post("/user/", token=admin, json={"first_name": "", "last_name": "", "username": "bob",
                                            "password": "pw"})
    bob = asrv.login("bob", "pw")
    assert asrv.get("/auth/me", token=bob).json()["username"] == "bob"
    assert asrv.delete("/user/2", token=admin).status_code == 200
    assert_error(asrv.get("/auth/me", token=bob), 401, "USER_NOT_FOUND")


def mk_user(s, admin, name):
    r = s.post("/user/", token=admin, json={"first_name": "", "last_name": "", "username": name,
                                            "password": "pw"})
    assert r.status_code == 201, r.text
    return r.json()["user_id"], s.login(name, "pw")


def test_admin_and_same_user_guards(asrv):
    admin = asrv.login()
    bob_id, bob = mk_user(asrv, admin, "bob")
    carl_id, carl = mk_user(asrv, admin, "carl")
    assert_error(asrv.post("/user/", token=bob, json={"first_name": "", "last_name": "",
                                                       "username": "x", "password": "y"}),
                 403, "ADMIN_REQUIRED")
    assert_error(asrv.get("/user/", token=bob), 403, "ADMIN_REQUIRED")
    assert asrv.get("/user/%d" % bob_id, token=bob).status_code == 200
    assert_error(asrv.get("/user/%d" % carl_id, token=bob), 403, "SAME_USER_REQUIRED")
    assert_error(asrv.get("/user/abc", token=bob), 404, "NOT_FOUND")
    assert asrv.get("/user/%d" % carl_id, token=admin).status_code == 200
    assert asrv.get("/user/%d/permissions" % bob_id, token=bob).status_code == 200
    assert_error(asrv.get("/user/%d/permissions" % carl_id, token=bob), 403, "SAME_USER_REQUIRED")
    assert asrv.get("/user/%d/permissions" % bob_id, token=admin).status_code == 200
    # a non-admin may not touch is_admin, not even to send false
    for v in (True, False):
        assert_error(asrv.patch("/user/%d" % bob_id, token=bob, json={"is_admin": v}), 403,
                     "ADMIN_REQUIRED")
    assert asrv.get("/user/%d" % bob_id, token=admin).json()["is_admin"] is False
    assert asrv.patch("/user/%d" % bob_id, token=bob, json={"first_name": "B"}).status_code == 200
    assert asrv.patch("/user/%d" % bob_id, token=admin, json={"is_admin": True}).status_code == 200
    assert asrv.get("/user/", token=bob).status_code == 200        # bob is admin now
    assert_error(asrv.delete("/user/%d" % bob_id, token=carl), 403, "SAME_USER_REQUIRED")
    for path in ("/project/", "/userpermission/user/1/project/1"):
        assert_error(asrv.post(path, token=carl, json={"name": "x"}), 403, "ADMIN_REQUIRED")
    assert_error(asrv.get("/tag/1", token=carl), 403, "ADMIN_REQUIRED")
    assert_error(asrv.delete("/tag/1", token=carl), 403, "ADMIN_REQUIRED")


def grant(s, admin, uid, pid, c=False, r=False, u=False, d=False):
    flags = {"create_permission": c, "read_permission": r, "update_permission": u,
             "delete_permission": d}
    cur = s.get("/userpermission/user/%d/project/%d" % (uid, pid), token=admin)
    if cur.status_code == 404:
        assert s.post("/userpermission/user/%d/project/%d" % (uid, pid), token=admin,
                      json=flags).status_code == 201
    else:
        assert s.patch("/userpermission/%d" % cur.json()["id"], token=admin,
                       json=flags).status_code == 200


def world(s, admin, n, with_version=False):
    """A project with an experiment and an iteration, named by n."""
    pid = s.post("/project/", token=admin, json={"name": "p%d" % n}).json()["project_id"]
    eid = s.post("/experiment/project/%d" % pid, token=admin,
                 json={"status_id": 1, "name": "e"}).json()["experiment_id"]
    iid = s.post("/iteration/experiment/%d" % eid, token=admin).json()["iteration_id"]
    pa = s.post("/parameter/iteration/%d" % iid, token=admin,
                json={"key": "lr", "value": "1"}).json()["parameter_id"]
    m = s.post("/metric/iteration/%d" % iid, token=admin,
               json={"key": "loss", "value": 1}).json()["metric_id"]
    res = s.post("/resource/experiment/%d" % eid, token=admin,
                 files={"name": (None, "r"), "data": ("r", b"bytes")}).json()["resource_id"]
    mo = s.post("/model/project/%d" % pid, token=admin, json={"name": "m%d" % n}).json()["model_id"]
    v = None    # a registered version pins its iteration: only where the route needs one
    if with_version:
        v = s.post("/modelversion/model/%d" % mo, token=admin,
                   json={"iteration_id": iid}).json()["modelversion_id"]
    return pid, eid, iid, pa, m, res, mo, v


SNAP = {"julia_version": "1", "git_sha": "", "git_dirty": False, "entrypoint": "",
        "project_toml": "", "manifest_toml": ""}

# (action, method, path template, body) for every project-scoped route so far
MATRIX = [
    ("read", "GET", "/project/{p}", None),
    ("read", "GET", "/project/{p}/members", None),
    ("read", "GET", "/experiment/{e}", None),
    ("read", "GET", "/experiment/project/{p}", None),
    ("create", "POST", "/experiment/project/{p}", {"status_id": 1, "name": "new"}),
    ("update", "PATCH", "/experiment/{e}", {"status_id": 1, "description": "d"}),
    ("delete", "DELETE", "/experiment/{e}", None),
    ("read", "GET", "/iteration/{i}", None),
    ("read", "GET", "/iteration/experiment/{e}", None),
    ("read", "GET", "/iteration/{i}/children", None),
    ("create", "POST", "/iteration/experiment/{e}", None),
    ("update", "PATCH", "/iteration/{i}", {"notes": "n"}),
    ("update", "POST", "/iteration/{i}/snapshot", SNAP),
    ("delete", "DELETE", "/iteration/{i}", None),
    ("read", "GET", "/parameter/{pa}", None),
    ("read", "GET", "/parameter/iteration/{i}", None),
    ("create", "POST", "/parameter/iteration/{i}", {"key": "new", "value": "1"}),
    ("update", "PATCH", "/parameter/{pa}", {"value": "2"}),
    ("delete", "DELETE", "/parameter/{pa}", None),
    ("read", "GET", "/metric/{m}", None),
    ("read", "GET", "/metric/iteration/{i}", None),
    ("create", "POST", "/metric/iteration/{i}", {"key": "acc", "value": 1}),
    ("create", "POST", "/metric/iteration/{i}/batch", {"metrics": [{"key": "acc", "value": 1}]}),
    ("read", "GET", "/tag/project/{p}", None),
    ("read", "GET", "/tag/experiment/{e}", None),
    ("read", "GET", "/tag/iteration/{i}", None),
    ("create", "POST", "/tag/project/{p}", {"value": "t"}),
    ("create", "POST", "/tag/experiment/{e}", {"value": "t"}),
    ("create", "POST", "/tag/iteration/{i}", {"value": "t"}),
    ("read", "GET", "/resource/{r}", None),
    ("read", "GET", "/resource/{r}/data", None),
    ("read", "GET", "/resource/experiment/{e}", None),
    ("create", "POST", "/resource/experiment/{e}", {"files": {"name": (None, "n"),
                                                             "data": ("n", b"x")}}),
    ("update", "PATCH", "/resource/{r}", {"files": {"description": (None, "d")}}),
    ("delete", "DELETE", "/resource/{r}", None),
    ("read", "GET", "/model/{mo}", None),
    ("read", "GET", "/model/project/{p}", None),
    ("create", "POST", "/model/project/{p}", {"name": "another"}),
    ("update", "PATCH", "/model/{mo}", {"description": "d"}),
    ("delete", "DELETE", "/model/{mo}", None),
    ("read", "GET", "/modelversion/{v}", None),
    ("read", "GET", "/modelversion/model/{mo}", None),
    ("create", "POST", "/modelversion/model/{mo}", {"iteration_id": "{i}"}),
    ("update", "PATCH", "/modelversion/{v}", {"stage_id": 2}),
    ("delete", "DELETE", "/modelversion/{v}", None),
]


def test_permission_matrix(asrv):
    admin = asrv.login()
    bob_id, bob = mk_user(asrv, admin, "bob")
    for n, (action, method, tmpl, spec) in enumerate(MATRIX):
        pid, eid, iid, pa, m, res, mo, v = world(asrv, admin, n, "{v}" in tmpl)
        if spec and spec.get("iteration_id") == "{i}":
            spec = {"iteration_id": iid}
        body = {"files": spec["files"]} if spec and "files" in spec else {"json": spec}
        path = tmpl.format(p=pid, e=eid, i=iid, pa=pa, m=m, r=res, mo=mo, v=v)
        # non-member: 403
        assert_error(asrv.req(method, path, token=bob, **body), 403,
                     "PROJECT_PERMISSION_REQUIRED")
        # every flag but the one needed: 403
        others = {a: a != action for a in ("create", "read", "update", "delete")}
        grant(asrv, admin, bob_id, pid, c=others["create"], r=others["read"],
              u=others["update"], d=others["delete"])
        assert_error(asrv.req(method, path, token=bob, **body), 403,
                     "PROJECT_PERMISSION_REQUIRED")
        # only the one needed: through
        grant(asrv, admin, bob_id, pid, **{action[0]: True})
        r = asrv.req(method, path, token=bob, **body)
        assert r.status_code in (200, 201), (method, path, r.text)
        # the admin passes without any row
        if method == "GET":
            assert asrv.req(method, path, token=admin).status_code == 200


def test_missing_entity_is_404_for_non_admin(asrv):
    admin = asrv.login()
    _, bob = mk_user(asrv, admin, "bob")
    for path in ("/experiment/9999", "/iteration/9999", "/iteration/experiment/9999",
                 "/experiment/abc", "/parameter/9999", "/metric/9999", "/metric/iteration/9999"):
        assert_error(asrv.get(path, token=bob), 404, "NOT_FOUND")
    assert_error(asrv.get("/experiment/9999", token=admin), 404, "NOT_FOUND")
    # the "project" path form is not checked for existence: 403, as the original
    assert_error(asrv.post("/experiment/project/9999", token=bob, json={"status_id": 1,
                                                                        "name": "x"}),
                 403, "PROJECT_PERMISSION_REQUIRED")


def test_members_and_project_listing(asrv):
    admin = asrv.login()
    bob_id, bob = mk_user(asrv, admin, "bob")
    _, carl = mk_user(asrv, admin, "carl")
    p1 = world(asrv, admin, 1)[0]
    world(asrv, admin, 2)
    grant(asrv, admin, bob_id, p1, r=True)
    assert asrv.get("/project/%d/members" % p1, token=admin).status_code == 200
    assert asrv.get("/project/%d/members" % p1, token=bob).status_code == 200
    assert_error(asrv.get("/project/%d/members" % p1, token=carl), 403,
                 "PROJECT_PERMISSION_REQUIRED")
    assert [p["id"] for p in asrv.get("/project/", token=bob).json()] == [p1]
    assert asrv.get("/project/", token=carl).json() == []
    assert len(asrv.get("/project/", token=admin).json()) == 2
