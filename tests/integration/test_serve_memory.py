"""`deardiary serve` memory under listings (issue 15: "server memory under 64 MB
throughout"), against a real server on 127.0.0.1 over a real SQLite file: the scenario of
the listing part of bench/remote.sh (bench/remote_ls.sh), 10 000 iterations created by
eight concurrent clients, then listed whole (GET /v1/ls/experiment/{id}/iterations, about
2 MB of JSON) many times over fresh connections, so that many workers each serve one, and
two at a time. The server's peak RSS (VmHWM, from /proc) stays under 64 MiB; it was
231 MiB before the listings were written as text entry by entry and the allocator bounded
(BENCHMARKS.md, "serve memory"). The listings are checked too: every iteration once, in
id order, and pages that join up to the whole."""
from concurrent.futures import ThreadPoolExecutor

import requests

from helpers_serve import srv  # noqa: F401
# An ASan build's memory is the sanitizer's (its quarantine keeps freed blocks): the
# bound is checked on a normal build only, with fewer iterations under ASan.
from test_remote_artifacts import SANITIZED, hwm_kb

N = 2000 if SANITIZED else 10000
MIB = 1024




def create_iterations(url, eid, n, clients=8):
    def some(k):
        with requests.Session() as s:
            for _ in range(k):
                r = s.post("%s/iteration/experiment/%d" % (url, eid), timeout=30)
                assert r.status_code == 201, r.text
    with ThreadPoolExecutor(clients) as ex:
        list(ex.map(some, [n // clients + (i < n % clients) for i in range(clients)]))


def listing(url, eid, **params):
    """One listing request on a connection of its own (a worker of its own, likely)."""
    r = requests.get("%s/v1/ls/experiment/%d/iterations" % (url, eid), params=params,
                     timeout=60, headers={"Connection": "close"})
    assert r.status_code == 200, r.text
    return r.json()


def test_listings_of_10k_iterations_keep_the_server_under_64_mb(srv):  # noqa: F811
    pid = srv.post("/project/", json={"name": "p"}).json()["project_id"]
    eid = srv.post("/experiment/project/%d" % pid,
                   json={"status_id": 1, "name": "e"}).json()["experiment_id"]
    create_iterations(srv.url, eid, N)
    whole = listing(srv.url, eid)
    ids = [e["id"] for e in whole["entries"]]
    assert len(ids) == N and ids == sorted(set(ids)), (len(ids), ids[:5])
    assert whole["next"] is None and whole["dir"]["rights"] == "crud"
    assert whole["entries"][0] == {
        "id": ids[0], "name": str(ids[0]), "status": whole["entries"][0]["status"],
        "parent_iteration_id": None, "created": whole["entries"][0]["created"],
        "modified": whole["entries"][0]["modified"], "end_date": None, "ended": False}
    # pages by id join up to the whole listing
    pages, after = [], 0
    while after is not None:
        page = listing(srv.url, eid, limit=3000, after=after)
        pages += page["entries"]
        after = page["next"]
    assert pages == whole["entries"]
    # many workers each serve the whole listing, one at a time, then two at a time
    for _ in range(16):
        assert len(listing(srv.url, eid)["entries"]) == N
    with ThreadPoolExecutor(2) as ex:
        assert [len(x["entries"]) for x in ex.map(lambda _: listing(srv.url, eid),
                                                   range(8))] == [N] * 8
    if not SANITIZED:
        assert hwm_kb(srv.proc.pid) < 64 * MIB, "server peak RSS %d KiB" % hwm_kb(srv.proc.pid)
