"""The stage history of a model (issue 17): every stage change, whoever makes it (the
mount's `stage` file, a registration, REST PATCH /modelversion/{id}, PUT /v1/.../stage),
is recorded by the store in the same transaction, and read back the same through
GET /v1/model/{mid}/stagehistory and the mount's models/<m>/history. A real mount and a
real server with auth on, on one SQLite file.
"""
import contextlib
import os

from conftest import sqlite_rows
from helpers_registry import poll
from helpers_serve import served_mount

PROJECT, SECRET, MODEL = "hist", "hidden", "ranker"


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def read(path):
    with open(path) as f:
        return f.read()


@contextlib.contextmanager
def world(tmp_path):
    """A mount with project PROJECT (two iterations, model MODEL) and SECRET, and a
    server with auth on; user ann may read and update PROJECT, bob may only read it.
    Yields (mount, server, admin token, ann token, bob token, model id, iteration ids)."""
    with served_mount(str(tmp_path), auth=True) as (m, s):
        exp = m.p("projects", PROJECT, "experiments", "e")
        os.makedirs(exp)
        os.makedirs(m.p("projects", SECRET, "experiments", "x"))
        iids = [int(read(os.path.join(exp, "iterations", "new"))) for _ in range(2)]
        os.mkdir(m.p("projects", PROJECT, "models", MODEL))
        admin = s.login()
        pid = [p["id"] for p in s.req("GET", "/project/", token=admin).json()
               if p["name"] == PROJECT][0]
        tokens = []
        for name, update in (("ann", True), ("bob", False)):
            r = s.req("POST", "/user/", token=admin, json={
                "first_name": name, "last_name": "X", "username": name,
                "password": "pw-%s-1" % name})
            assert r.status_code == 201, r.text
            r = s.req("POST", "/userpermission/user/%d/project/%d" % (r.json()["user_id"], pid),
                      token=admin, json={"create_permission": update, "read_permission": True,
                                         "update_permission": update,
                                         "delete_permission": False})
            assert r.status_code == 201, r.text
            tokens.append(s.login(name, "pw-%s-1" % name))
        mid = s.req("GET", "/model/project/%d" % pid, token=admin).json()["data"][0]["id"]
        yield m, s, admin, tokens[0], tokens[1], mid, iids


def rows(s, token, mid, query=""):
    r = s.req("GET", "/v1/model/%d/stagehistory%s" % (mid, query), token=token)
    assert r.status_code == 200, r.text
    return r.json()


def changes(page):
    """(version, from, to, user) of each row of a history page, newest first."""
    return [(h["version"], h["from_stage"], h["to_stage"], h["username"]) for h in page["data"]]


def file_changes(m):
    """The same from the mount's models/<m>/history ("-": none)."""
    out = []
    for line in read(m.p("models", MODEL, "history")).splitlines():
        when, version, frm, to, user = line.split(" ", 4)
        out.append((int(version), None if frm == "-" else frm, to, None if user == "-" else user))
    return out


def test_every_path_records_its_changes_and_who(tmp_path):
    with world(tmp_path) as (m, s, admin, ann, bob, mid, iids):
        vers = m.p("models", MODEL, "versions")
        # the mount (single-user: no user known) registers v1 and promotes it
        assert read(os.path.join(vers, "new", str(iids[0]))) == "1\n"
        write(os.path.join(vers, "1", "stage"), "PRODUCTION\n")
        # REST with auth: ann registers v2 and promotes it through /v1 (archives v1),
        # the admin sets it STAGING with PATCH
        r = s.req("POST", "/modelversion/model/%d" % mid, token=ann,
                  json={"iteration_id": iids[1]})
        assert r.status_code == 201, r.text
        v2 = r.json()["modelversion_id"]
        r = s.req("PUT", "/v1/model/%d/version/2/stage" % mid, token=ann,
                  json={"stage": "PRODUCTION"})
        assert r.status_code == 200, r.text
        assert read(os.path.join(vers, "1", "stage")) == "ARCHIVED\n"
        r = s.req("PATCH", "/modelversion/%d" % v2, token=admin, json={"stage_id": 2})
        assert r.status_code == 200, r.text
        want = [(2, "PRODUCTION", "STAGING", "default"),
                (2, "NO_STAGE", "PRODUCTION", "ann"),
                (1, "PRODUCTION", "ARCHIVED", "ann"),
                (2, None, "NO_STAGE", "ann"),
                (1, "NO_STAGE", "PRODUCTION", None),
                (1, None, "NO_STAGE", None)]
        page = rows(s, bob, mid)   # read permission is enough
        assert changes(page) == want
        assert page["total"] == 6
        # the promotion and the archive it made: one transaction, one time
        assert page["data"][1]["changed_at"] == page["data"][2]["changed_at"]
        assert [h["changed_at"] for h in page["data"]] == \
            sorted((h["changed_at"] for h in page["data"]), reverse=True)
        # the mount's file says the same, line for line, with the same times
        assert file_changes(m) == want
        assert [x.split()[0] for x in read(m.p("models", MODEL, "history")).splitlines()] == \
            [h["changed_at"] for h in page["data"]]
        # a page in the middle
        mid_page = rows(s, bob, mid, "?limit=2&offset=3")
        assert (mid_page["total"], mid_page["limit"], mid_page["offset"]) == (6, 2, 3)
        assert changes(mid_page) == want[3:5]

        # refusals record nothing: bob may not update, a bad stage, an unknown version
        before = sqlite_rows(m.db, "SELECT * FROM stage_change ORDER BY id")
        r = s.req("PUT", "/v1/model/%d/version/2/stage" % mid, token=bob,
                  json={"stage": "ARCHIVED"})
        assert r.status_code == 403, r.text
        r = s.req("PATCH", "/modelversion/%d" % v2, token=ann, json={"stage_id": 7})
        assert r.status_code == 422, r.text
        # a PATCH whose later field fails: its stage change is rolled back with it
        r = s.req("PATCH", "/modelversion/%d" % v2, token=ann,
                  json={"stage_id": 3, "resource_id": 987654})
        assert r.status_code in (404, 422), r.text
        assert read(os.path.join(vers, "2", "stage")) == "STAGING\n"
        try:
            write(os.path.join(vers, "2", "stage"), "LIVE\n")
        except OSError:
            pass
        assert sqlite_rows(m.db, "SELECT * FROM stage_change ORDER BY id") == before
        # writing the stage a version has is no change
        write(os.path.join(vers, "2", "stage"), "STAGING\n")
        assert rows(s, bob, mid)["total"] == 6

        # the route's guard is the model's: no token 401, another project's user 403
        assert s.get("/v1/model/%d/stagehistory" % mid).status_code == 401
        r = s.req("POST", "/user/", token=admin, json={
            "first_name": "c", "last_name": "X", "username": "carol", "password": "pw-carol-1"})
        assert r.status_code == 201, r.text
        carol = s.login("carol", "pw-carol-1")
        r = s.req("GET", "/v1/model/%d/stagehistory" % mid, token=carol)
        assert r.status_code == 403 and r.json()["code"] == "PROJECT_PERMISSION_REQUIRED"
        r = s.req("GET", "/v1/model/99999/stagehistory", token=admin)
        assert r.status_code == 404

        # deleting a version takes its history along; the file's time is its newest change
        r = s.req("DELETE", "/modelversion/%d" % v2, token=admin)
        assert r.status_code == 200, r.text
        assert changes(rows(s, admin, mid)) == want[2:3] + want[4:]
        assert poll(lambda: file_changes(m) == want[2:3] + want[4:], 2.0)
        st = os.stat(m.p("models", MODEL, "history"))
        assert st.st_mode & 0o777 == 0o444
        newest = rows(s, admin, mid)["data"][0]["changed_at"]
        assert abs(st.st_mtime - _epoch(newest)) < 0.002
        # and the model's delete the rest: nothing is left behind
        r = s.req("DELETE", "/model/%d" % mid, token=admin)
        assert r.status_code == 200, r.text
        assert sqlite_rows(m.db, "SELECT COUNT(*) FROM stage_change") == [["0"]]


def _epoch(ts):
    import datetime
    return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()
