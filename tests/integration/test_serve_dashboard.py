"""The dashboard of `deardiary serve` (/ui/) in a real browser (headless chromium through
chromium-driver and python3-selenium), against a real server on a registry filled through
a real mount. Every page must draw with no console error, show what the mount shows, and
save a non-blank screenshot under the test's tmp dir. The /v1/ routes the pages read are
checked on their own too (shapes, 404s, the same permission guard as the original's).
"""
import contextlib
import hashlib
import os
import subprocess

import pytest
import requests

from conftest import BIN, Mount
from helpers_registry import poll
from helpers_serve import Server
from helpers_browser import Browser

PROJECT, EXP, MODEL = "vision", "sweep", "clf"
# iteration: (lr, batch, loss points, acc points, final status)
RUNS = [("0.1", "32", [1.0, 0.8, 0.6, 0.5, 0.45], [0.5, 0.6], "SUCCEEDED"),
        ("0.01", "32", [1.2, 1.1, 1.0, 0.9, 0.85, 0.8, 0.79], [0.4], "FAILED"),
        ("0.3", "64", [2.0, 1.5, 1.4], [0.3, 0.35, 0.4], None)]
RESOURCE = b"weights " * 1000
# How long to wait for what a click makes: the page (headless Chromium, which a loaded
# machine or parallel test workers slow most) and the mount behind it. Each wait ends as
# soon as it holds; the 1 s bound between the server and a mount is test_serve_mount's,
# which has no browser between them.
UI_WAIT = 30.0
MOUNT_WAIT = 10.0


def write(path, text, mode="w"):
    with open(path, mode) as f:
        f.write(text)


def read(path):
    with open(path) as f:
        return f.read()


def fill(m):
    """The registry, made through the mount with plain file operations. Returns the
    iteration ids in RUNS order and the experiment's path."""
    exp = m.p("projects", PROJECT, "experiments", EXP)
    os.makedirs(exp)
    ids = []
    for lr, batch, loss, acc, status in RUNS:
        iid = int(read(os.path.join(exp, "iterations", "new")).strip())
        it = os.path.join(exp, "iterations", str(iid))
        write(os.path.join(it, "params", "lr"), lr + "\n")
        write(os.path.join(it, "params", "batch"), batch + "\n")
        write(os.path.join(it, "metrics", "loss"), "".join("%r\n" % v for v in loss), "a")
        write(os.path.join(it, "metrics", "acc"), "".join("%r\n" % v for v in acc), "a")
        write(os.path.join(it, "notes"), "run with lr %s\n" % lr)
        if status == "FAILED":
            write(os.path.join(it, "error_message"), "CUDA out of memory\n")
        if status:
            write(os.path.join(it, "status"), status + "\n")
        ids.append(iid)
    write(os.path.join(exp, "resources", "model.bin"), RESOURCE.decode())
    models = m.p("projects", PROJECT, "models")
    os.mkdir(os.path.join(models, MODEL))
    n = int(read(os.path.join(models, MODEL, "versions", "new", "%d:model.bin" % ids[0])))
    write(os.path.join(models, MODEL, "versions", str(n), "stage"), "STAGING\n")
    os.symlink("../versions/%d" % n, os.path.join(models, MODEL, "aliases", "champion"))
    n2 = int(read(os.path.join(models, MODEL, "versions", "new", "%d" % ids[2])))
    assert (n, n2) == (1, 2)
    return ids, exp


@contextlib.contextmanager
def running(tmp_path, auth=False, browser=True):
    """A mount filled by fill(), a server on its database (auth on or off) and, if asked,
    a browser; all stopped after, the server cleanly (no sanitizer report)."""
    m = Mount(str(tmp_path))
    s = b = None
    try:
        ids, exp = fill(m)
        s = Server(str(tmp_path), db=m.db, auth=auth)
        b = Browser() if browser else None
        yield m, s, b, ids, exp
        s.stop()
        s = None
    except BaseException:
        m.kill()
        raise
    finally:
        if b:
            b.quit()
        if s:
            s.kill()
    m.unmount()


@pytest.fixture
def world(tmp_path):
    with running(tmp_path) as w:
        yield w


def shot(b, tmp_path, name):
    colours = b.screenshot(str(tmp_path / ("page-%s.png" % name)))
    assert colours > 20, "%s: a blank screenshot (%d colours)" % (name, colours)


def history_rows(b):
    """The model page's stage history: (version, "from \u2192 to", user) per row (None
    while the page redraws under the lookup)."""
    from selenium.common.exceptions import StaleElementReferenceException
    try:
        return [(r.find_element("css selector", "td.version").text,
                 r.find_element("css selector", "td.change").text,
                 r.find_element("css selector", "td.user").text)
                for r in b.find("#stage-history tr[data-id]")]
    except StaleElementReferenceException:
        return None


def no_errors(b, where):
    errs = b.errors()
    assert not errs, "%s: console errors %s" % (where, errs)


def test_pages_show_what_the_mount_shows(world, tmp_path):
    m, s, b, ids, exp = world
    url = s.url
    # projects -> project
    b.page(url, "/")
    assert [r.text.split()[0] for r in b.find("#projects tr[data-id]")] == [PROJECT]
    no_errors(b, "projects")
    shot(b, tmp_path, "projects")
    pid = s.get("/project/").json()[0]["id"]
    b.page(url, "/project/%d" % pid)
    assert [r.text.split()[0] for r in b.find("#experiments tr[data-id]")] == [EXP]
    assert [r.text.split()[0] for r in b.find("#models tr[data-id]")] == [MODEL]
    no_errors(b, "project")
    shot(b, tmp_path, "project")

    # the iteration table: every iteration the mount lists, with its status, parameters
    # and the last value of each metric file
    eid = s.get("/experiment/project/%d" % pid).json()["data"][0]["id"]
    b.page(url, "/experiment/%d" % eid)
    listed = sorted(int(x) for x in os.listdir(os.path.join(exp, "iterations")))
    rows = b.find("#iterations tr[data-id]")
    assert sorted(int(r.get_attribute("data-id")) for r in rows) == listed == ids

    def cell(iid, col):
        return b.find('#iterations tr[data-id="%d"] td[data-col="%s"]' % (iid, col))[0].text

    for iid in ids:
        it = os.path.join(exp, "iterations", str(iid))
        assert cell(iid, "status") == read(os.path.join(it, "status")).strip()
        for key in ("lr", "batch"):
            assert cell(iid, "params." + key) == read(os.path.join(it, "params", key)).strip()
        for key in ("loss", "acc"):
            last = read(os.path.join(it, "metrics", key)).split("\n")[-2]
            assert float(cell(iid, "metrics." + key)) == pytest.approx(
                float(last.split()[1]), rel=1e-5)
    # sort by a metric column (ascending, then descending), filter by text and key=value
    b.find('#iterations th[data-col="metrics.loss"]')[0].click()
    order = [int(r.get_attribute("data-id")) for r in b.find("#iterations tr[data-id]")]
    finals = {iid: run[2][-1] for iid, run in zip(ids, RUNS)}
    assert order == sorted(ids, key=lambda i: finals[i])
    b.find('#iterations th[data-col="metrics.loss"]')[0].click()
    order = [int(r.get_attribute("data-id")) for r in b.find("#iterations tr[data-id]")]
    assert order == sorted(ids, key=lambda i: -finals[i])
    b.find("#filter")[0].send_keys("FAILED")
    assert [int(r.get_attribute("data-id")) for r in b.find("#iterations tr[data-id]")] == [ids[1]]
    b.find("#filter")[0].clear()
    b.find("#filter")[0].send_keys("batch=32")
    assert sorted(int(r.get_attribute("data-id"))
                  for r in b.find("#iterations tr[data-id]")) == ids[:2]
    no_errors(b, "experiment")
    shot(b, tmp_path, "experiment")

    # compare, picked from the table: one chart per key, one line per chosen iteration
    b.find("#filter")[0].clear()
    b.find("#filter")[0].send_keys(" ")
    for iid in ids[:2]:
        b.click('input.pick[data-id="%d"]' % iid)
    b.click("#compare")
    b.wait_page("compare")
    charts = {c["key"]: c for c in b.charts()}
    assert sorted(charts) == ["acc", "loss"]
    assert charts["loss"]["lines"] == ["iteration %d" % i for i in ids[:2]]
    assert charts["loss"]["points"] == [len(RUNS[0][2]), len(RUNS[1][2])]
    assert charts["loss"]["values"][0][:5] == RUNS[0][2]
    diff = {r.get_attribute("data-key"): "diff" in (r.get_attribute("class") or "")
            for r in b.find("#compare-params tr[data-key]")}
    assert diff == {"lr": True, "batch": False}
    no_errors(b, "compare")
    shot(b, tmp_path, "compare")

    # the iteration page: one chart per metric file, one line, as many points as lines
    failed = os.path.join(exp, "iterations", str(ids[1]))
    b.page(url, "/iteration/%d" % ids[1])
    charts = {c["key"]: c for c in b.charts()}
    # metrics/ also lists each series' chart, <key>.svg (no key of this test ends so)
    assert sorted(charts) == sorted(n for n in os.listdir(os.path.join(failed, "metrics"))
                                    if not n.endswith(".svg"))
    for key, c in charts.items():
        lines = read(os.path.join(failed, "metrics", key)).splitlines()
        assert c["lines"] == [key] and c["points"] == [len(lines)]
        assert c["values"][0] == pytest.approx([float(x.split()[1]) for x in lines])
    assert b.text("status") == "FAILED"
    assert b.text("error") == read(os.path.join(failed, "error_message")).strip()
    assert "lr\n0.01" in b.text("params") or "lr 0.01" in b.text("params")
    res = b.find("#resources tr[data-id]")
    assert len(res) == 1 and hashlib.sha256(RESOURCE).hexdigest() in res[0].text
    assert b.find("#notes")[0].get_attribute("disabled")   # ended: read-only, as the mount
    no_errors(b, "iteration")
    shot(b, tmp_path, "iteration")

    # the model page: versions, stages, aliases; a stage change reaches the mount in 1 s
    mid = s.get("/model/project/%d" % pid).json()["data"][0]["id"]
    b.page(url, "/model/%d" % mid)
    vers = os.path.join(m.p("projects", PROJECT, "models", MODEL), "versions")
    assert b.find('#model-versions tr[data-version="1"] td.aliases')[0].text == "champion"
    from selenium.webdriver.support.ui import Select
    Select(b.find('select.stage[data-id]')[1]).select_by_visible_text("PRODUCTION")
    assert poll(lambda: read(os.path.join(vers, "2", "stage")).strip() == "PRODUCTION", MOUNT_WAIT)
    b.wait_page("model")
    # the stage history, newest first: every change the mount and the page made (no auth:
    # no user), the same rows as the mount's models/<m>/history
    want = [("v2", "NO_STAGE \u2192 PRODUCTION"), ("v2", "registered \u2192 NO_STAGE"),
            ("v1", "NO_STAGE \u2192 STAGING"), ("v1", "registered \u2192 NO_STAGE")]
    assert poll(lambda: history_rows(b) == [(v, c, "") for v, c in want], UI_WAIT), history_rows(b)
    lines = read(os.path.join(m.p("models", MODEL), "history")).splitlines()
    assert [(("v" + x.split()[1]), x.split()[2].replace("-", "registered") + " \u2192 " +
             x.split()[3]) for x in lines] == want
    assert [r.find_element("css selector", "td.when").text for r in
            b.find("#stage-history tr[data-id]")] == \
        [x.split()[0].replace("T", " ").split(".")[0] + "Z" for x in lines]
    no_errors(b, "model")
    shot(b, tmp_path, "model")


def test_long_stage_history_pages(world, tmp_path):
    """The model page shows the newest 100 changes; "Older changes" fetches the rest."""
    m, s, b, ids, exp = world
    stage = m.p("models", MODEL, "versions", "2", "stage")
    for i in range(100):
        write(stage, ("STAGING" if i % 2 == 0 else "NO_STAGE") + "\n")
    total = s.get("/v1/model/1/stagehistory").json()["total"]
    assert total == 103
    b.page(s.url, "/model/1")
    assert len(history_rows(b)) == 100
    assert history_rows(b)[0] == ("v2", "STAGING \u2192 NO_STAGE", "")
    b.click("#history-more")
    assert poll(lambda: len(history_rows(b) or []) == total, UI_WAIT)
    assert history_rows(b)[-1] == ("v1", "registered \u2192 NO_STAGE", "")
    assert not b.find("#history-more")
    no_errors(b, "long history")


def test_running_iteration_updates_live_and_notes_edit(world, tmp_path):
    m, s, b, ids, exp = world
    run = os.path.join(exp, "iterations", str(ids[2]))
    b.page(s.url, "/iteration/%d" % ids[2])
    before = {c["key"]: c["points"][0] for c in b.charts()}
    assert before == {"loss": 3, "acc": 3}
    write(os.path.join(run, "metrics", "loss"), "1.3\n1.2\n", "a")
    # polled every 2 s: the chart grows without a reload
    assert poll(lambda: {c["key"]: c["points"][0] for c in b.charts()}.get("loss") == 5, UI_WAIT)
    # notes edited from the page go through PATCH /iteration/{id}: the mount shows them
    notes = b.find("#notes")[0]
    notes.clear()
    notes.send_keys("tuned by hand")
    b.find("#save-notes")[0].click()
    assert poll(lambda: read(os.path.join(run, "notes")).strip() == "tuned by hand", MOUNT_WAIT)
    # ending it through the mount: the page shows the new status without a reload
    write(os.path.join(run, "status"), "KILLED\n")
    assert poll(lambda: b.text("status") == "KILLED", UI_WAIT)
    no_errors(b, "live iteration")
    shot(b, tmp_path, "live")


def test_v1_routes(tmp_path):
    with running(tmp_path, browser=False) as (m, s, _, ids, exp):
        r = s.get("/v1/experiment/1/iterations?limit=2&offset=1").json()
        assert (r["total"], r["limit"], r["offset"]) == (3, 2, 1)
        assert [x["id"] for x in r["data"]] == ids[1:]
        assert r["data"][0]["params"] == {"batch": "32", "lr": "0.01"}
        assert r["data"][0]["metrics"] == {"acc": 0.4, "loss": 0.79}
        assert "project_toml" not in r["data"][0]
        assert s.get("/v1/experiment/1/iterations?limit=5000").json()["limit"] == 1000
        series = s.get("/v1/iteration/%d/series" % ids[0]).json()["series"]
        assert [x["key"] for x in series] == ["acc", "loss"]
        assert series[1]["steps"] == [0, 1, 2, 3, 4] and series[1]["values"] == RUNS[0][2]
        summary = s.get("/v1/iteration/%d/series?summary=true" % ids[0]).json()["series"]
        assert summary == [{"key": "acc", "point_count": 2}, {"key": "loss", "point_count": 5}]
        one = s.get("/v1/iteration/%d/series?key=acc" % ids[0]).json()["series"]
        assert [x["key"] for x in one] == ["acc"]
        # ?max_points: a long series comes back downsampled (M4, chart/downsample.h),
        # keeping its ends and its extremes; a short one whole
        n = 10000
        vals = [((i * 7919) % 1000) / 10.0 for i in range(n)]
        vals[4321], vals[8765] = -50.0, 500.0
        write(os.path.join(exp, "iterations", str(ids[2]), "metrics", "big"),
              "".join("%r\n" % v for v in vals), "a")
        big = s.get("/v1/iteration/%d/series?key=big&max_points=400" % ids[2]).json()
        (x,) = big["series"]
        assert x["point_count"] == n and x["downsampled"] is True
        assert 4 <= len(x["steps"]) <= 400 and len(x["steps"]) == len(x["values"])
        assert x["steps"] == sorted(x["steps"]) and x["steps"][0] == 0 and x["steps"][-1] == n - 1
        assert min(x["values"]) == -50.0 and max(x["values"]) == 500.0
        assert all(vals[st] == v for st, v in zip(x["steps"], x["values"]))
        # asked again: the same answer (from the cache of downsampled series); after an
        # append, the new point is in (a series' point count is part of the cache key)
        again = s.get("/v1/iteration/%d/series?key=big&max_points=400" % ids[2]).json()
        assert again == big
        write(os.path.join(exp, "iterations", str(ids[2]), "metrics", "big"), "600.0\n", "a")
        (y,) = s.get("/v1/iteration/%d/series?key=big&max_points=400"
                     % ids[2]).json()["series"]
        assert y["point_count"] == n + 1 and y["steps"][-1] == n and max(y["values"]) == 600.0
        vals.append(600.0)
        whole = s.get("/v1/iteration/%d/series?key=big&max_points=20000" % ids[2]).json()
        assert whole["series"][0]["downsampled"] is False
        assert whole["series"][0]["values"] == vals
        aliases = s.get("/v1/model/1/aliases").json()
        assert [(a["alias"], a["version"]) for a in aliases] == [("champion", 1)]
        # the stage history: newest first, paged, no user without auth
        hist = s.get("/v1/model/1/stagehistory").json()
        assert (hist["total"], hist["limit"], hist["offset"]) == (3, 100, 0)
        assert [(h["version"], h["from_stage"], h["to_stage"], h["username"], h["user_id"])
                for h in hist["data"]] == [(2, None, "NO_STAGE", None, None),
                                           (1, "NO_STAGE", "STAGING", None, None),
                                           (1, None, "NO_STAGE", None, None)]
        assert hist["data"][0]["changed_at"] >= hist["data"][1]["changed_at"]
        page = s.get("/v1/model/1/stagehistory?limit=1&offset=1").json()
        assert (page["total"], page["limit"], page["offset"]) == (3, 1, 1)
        assert page["data"] == hist["data"][1:2]
        assert s.get("/v1/model/1/stagehistory?limit=5000").json()["limit"] == 1000
        # env/ files are captured by `deardiary run` from its working directory
        work = tmp_path / "work"
        work.mkdir()
        (work / "requirements.txt").write_text("numpy==1.26\n")
        r = subprocess.run([BIN, "run", exp, "--", "true"], cwd=str(work), text=True,
                           capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
        rid = max(int(x) for x in os.listdir(os.path.join(exp, "iterations")))
        files = s.get("/v1/iteration/%d/env" % rid).json()["files"]
        assert {"name": "requirements.txt", "size": 12, "text": "numpy==1.26\n"} in files
        assert s.get("/v1/iteration/%d/env" % ids[0]).json() == {"files": []}
        for path in ("/v1/experiment/99/iterations", "/v1/iteration/99/series",
                     "/v1/iteration/99/env", "/v1/model/99/aliases",
                     "/v1/model/99/stagehistory"):
            r = s.get(path)
            assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND", path
        assert s.get("/v1/iteration/x/series").status_code == 400
        assert s.get("/v1/auth/mode").json() == {"enabled": False}
        r = s.get("/ui/")
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
        assert "uPlot.iife.min.js" in r.text
        r = s.get("/ui/uPlot.iife.min.js")
        assert r.status_code == 200 and "uPlot" in r.text[:2000]
        assert s.get("/ui/missing.js").status_code == 404


def login(s, username, password):
    r = s.post("/auth", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def test_login_and_permission_limited_views(tmp_path):
    with running(tmp_path, auth=True) as (m, s, b, ids, exp):
        os.makedirs(m.p("projects", "secret", "experiments", "hidden"))
        admin = login(s, "default", "default")
        assert s.get("/v1/auth/mode").json() == {"enabled": True}
        r = s.req("POST", "/user/", token=admin, json={
            "first_name": "Ann", "last_name": "Lee", "username": "ann", "password": "pw-ann-1"})
        assert r.status_code == 201, r.text
        uid = r.json()["user_id"]
        pid = [p["id"] for p in s.req("GET", "/project/", token=admin).json()
               if p["name"] == PROJECT][0]
        r = s.req("POST", "/userpermission/user/%d/project/%d" % (uid, pid), token=admin,
                  json={"create_permission": False, "read_permission": True,
                        "update_permission": False, "delete_permission": False})
        assert r.status_code == 201, r.text
        # the /v1/ routes: no token 401, another project's 403, as the original's routes
        assert s.get("/v1/iteration/%d/series" % ids[0]).status_code == 401
        ann = login(s, "ann", "pw-ann-1")
        other = s.req("GET", "/project/", token=admin).json()
        sid = [p["id"] for p in other if p["name"] == "secret"][0]
        heid = s.req("GET", "/experiment/project/%d" % sid, token=admin).json()["data"][0]["id"]
        r = s.req("GET", "/v1/experiment/%d/iterations" % heid, token=ann)
        assert r.status_code == 403 and r.json()["code"] == "PROJECT_PERMISSION_REQUIRED"
        assert s.req("GET", "/v1/experiment/1/iterations", token=ann).status_code == 200

        b.page(s.url, "/", expect="login")
        no_errors(b, "login page")
        shot(b, tmp_path, "login")
        b.find("#username")[0].send_keys("ann")
        b.find("#password")[0].send_keys("wrong")
        b.find("#login-submit")[0].click()
        assert poll(lambda: b.text("login-error") == "Invalid credentials", UI_WAIT)
        b.errors()   # the refused POST /auth is logged by the browser: expected here
        b.find("#password")[0].clear()
        b.find("#password")[0].send_keys("pw-ann-1")
        b.find("#login-submit")[0].click()
        b.wait_page("projects")
        # only the readable project
        assert [r.text.split()[0] for r in b.find("#projects tr[data-id]")] == [PROJECT]
        assert b.text("who").startswith("ann")
        no_errors(b, "member projects")
        shot(b, tmp_path, "member-projects")
        # read-only: the stage and notes controls are off
        b.page(s.url, "/model/1")
        assert all(x.get_attribute("disabled") for x in b.find("select.stage"))
        assert len(history_rows(b) or []) == 3   # a reader sees the history too
        b.page(s.url, "/iteration/%d" % ids[2])
        assert b.find("#notes")[0].get_attribute("disabled")
        no_errors(b, "member views")
        # another project's page: refused by the API, said so on the page
        b.page(s.url, "/experiment/%d" % heid)
        assert b.text("page-error") == "You may not read this."
        b.errors()   # the 403 is expected here
        # log out; the admin sees both projects and may change a stage
        b.find("#logout")[0].click()
        b.wait_page("login")
        b.find("#username")[0].send_keys("default")
        b.find("#password")[0].send_keys("default")
        b.find("#login-submit")[0].click()
        b.wait_page("projects")
        assert sorted(r.text.split()[0] for r in b.find("#projects tr[data-id]")) == \
            ["secret", PROJECT]
        b.page(s.url, "/model/1")
        from selenium.webdriver.support.ui import Select
        Select(b.find("select.stage")[0]).select_by_visible_text("ARCHIVED")
        stage = m.p("projects", PROJECT, "models", MODEL, "versions", "1", "stage")
        assert poll(lambda: read(stage).strip() == "ARCHIVED", MOUNT_WAIT)
        # the change names the user who made it (auth on); the mount's earlier ones none
        b.wait_page("model")
        assert poll(lambda: history_rows(b)[:2] == [
            ("v1", "STAGING \u2192 ARCHIVED", "default"),
            ("v2", "registered \u2192 NO_STAGE", "")], UI_WAIT), history_rows(b)
        assert len(history_rows(b) or []) == 4
        no_errors(b, "admin views")
        shot(b, tmp_path, "admin-model")


def test_ui_files_need_no_token_and_hold_no_data(tmp_path):
    """The files load without a token (the login page must), and every data route the
    pages read still needs one."""
    s = Server(str(tmp_path), auth=True)
    try:
        for f in ("/ui", "/ui/", "/ui/app.js", "/ui/app.css", "/ui/uPlot.min.css"):
            assert s.get(f).status_code == 200, f
        for path in ("/v1/experiment/1/iterations", "/v1/iteration/1/env",
                     "/v1/model/1/aliases", "/v1/model/1/stagehistory", "/project/"):
            r = s.get(path)
            assert r.status_code == 401 and r.json()["code"] == "TOKEN_MISSING", path
        assert requests.get(s.url + "/ui/../project/", timeout=5).status_code in (401, 404)
        s.stop()
    finally:
        s.kill()
