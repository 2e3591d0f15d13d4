"""`deardiary serve`: resources (routes 44-49), auth disabled: multipart upload streamed
into the artifact store, metadata without data, /data with Content-Length and Range,
multipart PATCH, deletes; and the server's memory while a large upload streams in."""
import hashlib
import os
import signal
import socket
import subprocess
import time

import requests

from conftest import is_uri
from helpers_serve import srv, Server, assert_error, db_dump  # noqa: F401
from test_serve_api import mk_project, mk_experiment, mk_iteration


def upload(s, eid, name, data, **kw):
    return s.post("/resource/experiment/%d" % eid, files={"name": (None, name),
                                                         "data": ("blob", data)}, **kw)


def test_upload_metadata_and_download(srv):
    eid = mk_experiment(srv, mk_project(srv))
    data = os.urandom(1024)
    r = upload(srv, eid, "model.bin", data)
    assert r.status_code == 201, r.text
    rid = r.json()["resource_id"]
    meta = srv.get("/resource/%d" % rid).json()
    assert meta["name"] == "model.bin" and meta["size_bytes"] == 1024
    assert meta["content_hash"] == hashlib.sha256(data).hexdigest()
    assert "data" not in meta and meta["experiment_id"] == eid
    d = srv.get("/resource/%d/data" % rid)
    assert d.status_code == 200 and d.content == data
    assert d.headers["Content-Type"] == "application/octet-stream"
    assert d.headers["Content-Length"] == "1024"
    page = srv.get("/resource/experiment/%d" % eid).json()
    assert page["total"] == 1 and page["data"][0]["id"] == rid
    assert_error(srv.get("/resource/999"), 404, "NOT_FOUND")
    assert_error(srv.get("/resource/999/data"), 404, "NOT_FOUND")


def test_hello_hash_vector(srv):
    eid = mk_experiment(srv, mk_project(srv))
    rid = upload(srv, eid, "h", b"hello").json()["resource_id"]
    meta = srv.get("/resource/%d" % rid).json()
    assert meta["size_bytes"] == 5
    assert meta["content_hash"] == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"


def test_ranges(srv):
    eid = mk_experiment(srv, mk_project(srv))
    data = bytes(range(256)) * 40
    rid = upload(srv, eid, "r", data).json()["resource_id"]
    url = "/resource/%d/data" % rid
    for h, lo, hi in (("bytes=0-99", 0, 99), ("bytes=100-", 100, len(data) - 1),
                      ("bytes=-10", len(data) - 10, len(data) - 1),
                      ("bytes=5000-999999", 5000, len(data) - 1)):
        r = srv.get(url, headers={"Range": h})
        assert r.status_code == 206, h
        assert r.content == data[lo:hi + 1], h
        assert r.headers["Content-Range"] == "bytes %d-%d/%d" % (lo, hi, len(data))
    r = srv.get(url, headers={"Range": "bytes=99999-"})
    assert r.status_code == 416 and r.headers["Content-Range"] == "bytes */%d" % len(data)
    for ignored in ("bytes=0-1,5-6", "items=0-1", "bytes=x-y"):
        r = srv.get(url, headers={"Range": ignored})
        assert r.status_code == 200 and r.content == data


def test_upload_refusals(srv):
    pid = mk_project(srv)
    eid = mk_experiment(srv, pid)
    upload(srv, eid, "taken", b"1")
    before = db_dump(srv.db)
    assert_error(srv.post("/resource/experiment/%d" % eid, files={"name": (None, "x")}), 422,
                 "INVALID_PAYLOAD")
    assert_error(srv.post("/resource/experiment/%d" % eid, files={"data": ("b", b"1")}), 422,
                 "INVALID_PAYLOAD")
    assert_error(upload(srv, eid, "taken", b"2"), 409, "CONFLICT")
    for bad in ("../../etc/passwd", "a/b", "..", "x" * 300):
        assert upload(srv, eid, bad, b"2").status_code == 422, bad
    assert_error(upload(srv, 999, "x", b"2"), 422, "INVALID_PAYLOAD")
    assert_error(srv.post("/resource/experiment/%d" % eid, json={"name": "x"}), 400,
                 "BAD_REQUEST")
    assert db_dump(srv.db) == before
    srv.patch("/experiment/%d" % eid, json={"status_id": 2})
    before = db_dump(srv.db)
    assert_error(upload(srv, eid, "late", b"2"), 422, "INVALID_PAYLOAD")
    assert db_dump(srv.db) == before


def test_patch_replaces_bytes_and_metadata(srv):
    eid = mk_experiment(srv, mk_project(srv))
    rid = upload(srv, eid, "a", b"old").json()["resource_id"]
    r = srv.patch("/resource/%d" % rid, files={"name": (None, "b"), "description": (None, "d"),
                                               "data": ("x", b"new bytes")})
    assert r.json() == {"message": "UPDATED"}, r.text
    meta = srv.get("/resource/%d" % rid).json()
    assert (meta["name"], meta["description"], meta["size_bytes"]) == ("b", "d", 9)
    assert meta["updated_date"] is not None
    assert srv.get("/resource/%d/data" % rid).content == b"new bytes"
    assert srv.patch("/resource/%d" % rid, files={"description": (None, "only")}).status_code == 200
    assert srv.get("/resource/%d/data" % rid).content == b"new bytes"
    upload(srv, eid, "c", b"c")
    assert_error(srv.patch("/resource/%d" % rid, files={"name": (None, "c")}), 409, "CONFLICT")
    assert_error(srv.patch("/resource/999", files={"name": (None, "z")}), 422, "INVALID_PAYLOAD")
    assert srv.delete("/resource/%d" % rid).json() == {"message": "OK"}
    assert_error(srv.delete("/resource/%d" % rid), 404, "NOT_FOUND")


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_large_upload_streams(tmp_path):
    """A 256 MiB upload (1 GiB in bench/) keeps the server's memory far below the size:
    the bytes are streamed, never held whole. The download streams back identical."""
    s = Server(str(tmp_path), env={"DEARDIARY_ARTIFACT_BACKEND": "filesystem"})
    try:
        eid = mk_experiment(s, mk_project(s))
        size = 256 * 1024 * 1024
        block = os.urandom(1024 * 1024)
        peak = [0]

        def body():
            b = b"--XyZ\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nbig\r\n"
            b += b"--XyZ\r\nContent-Disposition: form-data; name=\"data\"; filename=\"f\"\r\n"
            b += b"Content-Type: application/octet-stream\r\n\r\n"
            yield b
            for i in range(size // len(block)):
                if i % 16 == 0:
                    peak[0] = max(peak[0], rss_kb(s.proc.pid))
                yield block
            yield b"\r\n--XyZ--\r\n"
        r = s.post("/resource/experiment/%d" % eid, data=body(),
                   headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
        assert r.status_code == 201, r.text
        assert peak[0] < 64 * 1024, "server RSS %d KiB during the upload" % peak[0]
        h = hashlib.sha256()
        with s.s.get(s.url + "/resource/%d/data" % r.json()["resource_id"], stream=True) as d:
            assert int(d.headers["Content-Length"]) == size
            for chunk in d.iter_content(1 << 20):
                h.update(chunk)
        expect = hashlib.sha256(block * (size // len(block))).hexdigest()
        assert h.hexdigest() == expect
        assert s.get("/resource/1").json()["content_hash"] == expect
    finally:
        s.stop()


def test_sigkill_during_upload_leaves_nothing(tmp_path):
    """SIGKILL while 32 MiB of a 64 MiB upload are in: no resource, a sound database, and
    the next start serves (and accepts the same name)."""
    s = Server(str(tmp_path))
    eid = mk_experiment(s, mk_project(s))
    head = (b"--BB\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nhalf\r\n"
            b"--BB\r\nContent-Disposition: form-data; name=\"data\"; filename=\"f\"\r\n\r\n")
    c = socket.create_connection(("127.0.0.1", s.port))
    try:
        c.sendall(b"POST /resource/experiment/%d HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: multipart/form-data; boundary=BB\r\n"
                  b"Content-Length: %d\r\n\r\n" % (eid, len(head) + (64 << 20) + 10) + head)
        for _ in range(32):
            c.sendall(b"z" * (1 << 20))
        time.sleep(0.2)
        assert s.proc.poll() is None     # still streaming, not answered
    finally:
        s.kill()                         # SIGKILL
        c.close()
    s2 = Server(str(tmp_path), db=s.db)
    try:
        assert s2.get("/resource/experiment/%d" % eid).json()["total"] == 0
        r = upload(s2, eid, "half", b"ok")
        assert r.status_code == 201
        if not is_uri(s.db):   # a PostgreSQL server keeps its own pages
            assert subprocess.run(["sqlite3", s.db, "PRAGMA integrity_check"],
                                  capture_output=True, text=True).stdout.strip() == "ok"
    finally:
        s2.stop()
