"""REST and a mount on one database at once: what `deardiary serve` writes, the mount shows
within 1 s, and the reverse (one store, one rule set)."""
import os
import time

from helpers_serve import served_mount


def within(seconds, check):
    deadline = time.time() + seconds
    while True:
        if check():
            return True
        if time.time() > deadline:
            return False
        time.sleep(0.05)


def test_rest_and_mount_see_each_other(tmp_path):
    with served_mount(str(tmp_path)) as (m, s):
        # REST -> mount
        assert s.post("/project/", json={"name": "fraud"}).status_code == 201
        assert s.post("/experiment/project/1", json={"status_id": 1,
                                                     "name": "sweep"}).status_code == 201
        exp = m.p("projects", "fraud", "experiments", "sweep")
        assert within(1.0, lambda: os.path.isdir(exp))
        # mount -> REST
        os.mkdir(m.p("projects", "churn"))
        assert within(1.0, lambda: "churn" in [p["name"] for p in s.get("/project/").json()])
        with open(os.path.join(exp, "iterations", "new")) as f:
            iid = int(f.read().strip())
        assert within(1.0, lambda: s.get("/iteration/%d" % iid).status_code == 200)
        # the same rules both ways: a name taken on one side is a conflict on the other
        r = s.post("/project/", json={"name": "churn"})
        assert r.status_code == 409 and r.json()["code"] == "CONFLICT"
        # REST ends the iteration; the mount shows it ended
        assert s.patch("/iteration/%d" % iid, json={"status_id": 2}).status_code == 200
        status = os.path.join(exp, "iterations", str(iid), "status")
        assert within(1.0, lambda: open(status).read().strip() == "SUCCEEDED")
