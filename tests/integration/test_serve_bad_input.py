"""`deardiary serve` against bad input: malformed, oversized and mistyped bodies,
non-integer and out-of-range ids, bad UTF-8, unicode names, many connections, a slow
client. Every refusal is a 4xx with the {code, message} envelope, and the database is
byte-for-byte the same before and after (sqlite3 .dump)."""
import os
import socket
import threading
import time

from helpers_serve import srv, assert_error, db_dump  # noqa: F401


def seed(s):
    s.post("/project/", json={"name": "p"})
    s.post("/experiment/project/1", json={"status_id": 1, "name": "e"})
    s.post("/iteration/experiment/1")


BAD_BODIES = [
    b"{bad",
    b"",
    b"[]",
    b"42",
    b"\"name\"",
    b"{\"name\": \"a\", \"name\": \"b\"}",          # duplicate key
    b"{\"name\": \"\xff\xfe\"}",                     # bad UTF-8
    b"{\"name\": \"a\\u0000b\"}",                    # NUL inside a string
    b"{\"name\": 5}",
    b"{\"name\": null}",
    b"{\"name\": [\"a\"]}",
    b"{\"nom\": \"a\"}",
]


def test_bad_bodies_change_nothing(srv):
    seed(srv)
    before = db_dump(srv.db)
    for body in BAD_BODIES:
        for path in ("/project/", "/experiment/project/1"):
            r = srv.post(path, data=body, headers={"Content-Type": "application/json"})
            assert_error(r, 400, "BAD_REQUEST")
    wrong_types = [
        ("PATCH", "/user/1", {"first_name": 5}),
        ("PATCH", "/user/1", {"is_admin": "yes"}),
        ("POST", "/experiment/project/1", {"status_id": "1", "name": "x"}),
        ("POST", "/experiment/project/1", {"status_id": 1.5, "name": "x"}),
        ("PATCH", "/experiment/1", {"status_id": True}),
        ("PATCH", "/iteration/1", {"status_id": 2.0}),
        ("POST", "/userpermission/user/1/project/1",
         {"create_permission": 1, "read_permission": True, "update_permission": True,
          "delete_permission": True}),
    ]
    for method, path, body in wrong_types:
        assert_error(srv.req(method, path, json=body), 400, "BAD_REQUEST")
    rules = [
        ("POST", "/project/", {"name": "a/b"}),
        ("POST", "/project/", {"name": ".."}),
        ("POST", "/project/", {"name": "x" * 256}),
        ("POST", "/project/", {"name": "tab\there"}),
        ("PATCH", "/experiment/1", {"status_id": 2, "end_date": "yesterday"}),
        ("PATCH", "/iteration/1", {"status_id": 2, "end_date": "2025-13-45T99:00:00"}),
        ("PATCH", "/experiment/1", {"status_id": 2 ** 40}),
    ]
    for method, path, body in rules:
        assert_error(srv.req(method, path, json=body), 422, "INVALID_PAYLOAD")
    assert db_dump(srv.db) == before


def test_unknown_fields_are_ignored(srv):
    r = srv.post("/project/", json={"name": "p", "colour": "blue", "nested": {"a": [1]}})
    assert r.status_code == 201


def test_unicode_names_round_trip(srv):
    for name in ("été", "模型", "🚀 launch", "a b"):
        r = srv.post("/project/", json={"name": name})
        assert r.status_code == 201, r.text
        assert srv.get("/project/%d" % r.json()["project_id"]).json()["name"] == name


def test_bad_ids(srv):
    seed(srv)
    before = db_dump(srv.db)
    for path in ("/experiment/abc", "/experiment/1.5", "/experiment/0x10",
                 "/experiment/99999999999999999999", "/experiment/%20", "/user/1e3"):
        assert_error(srv.get(path), 400, "BAD_REQUEST")
        assert_error(srv.delete(path), 400, "BAD_REQUEST")
    for path in ("/experiment/-1", "/experiment/0", "/experiment/9223372036854775807"):
        assert_error(srv.get(path), 404, "NOT_FOUND")
    assert_error(srv.get("/experiment/1/2/3/4/5/6/7/8/9"), 404, "NOT_FOUND")
    assert_error(srv.get("/../../etc/passwd"), 404, "NOT_FOUND")
    assert db_dump(srv.db) == before


def test_oversized_body_is_413(srv):
    seed(srv)
    before = db_dump(srv.db)
    big = b"{\"name\": \"" + b"a" * (1024 * 1024) + b"\"}"
    r = srv.post("/project/", data=big, headers={"Content-Type": "application/json"})
    assert_error(r, 413, "PAYLOAD_TOO_LARGE")

    # chunked (no Content-Length): the connection is closed once past the limit
    def gen():
        yield b"{\"name\": \""
        for _ in range(40):
            yield b"a" * 65536
        yield b"\"}"
    try:
        r = srv.post("/project/", data=gen())
        assert r.status_code >= 400
    except Exception:   # requests may see the close as a connection error
        pass
    assert db_dump(srv.db) == before
    assert srv.get("/health").status_code == 200


def test_just_under_the_limit_is_accepted(srv):
    body = {"name": "p", "pad": "a" * (1024 * 1024 - 100)}
    r = srv.post("/project/", json=body)
    assert r.status_code == 201, r.text


def test_many_concurrent_connections(srv):
    """1000 connections open at once, each then sending a request: all answered."""
    socks = []
    try:
        for _ in range(1000):
            socks.append(socket.create_connection(("127.0.0.1", srv.port), timeout=30))
        for s in socks:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        ok = 0
        for s in socks:
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            ok += data.startswith(b"HTTP/1.1 200")
        assert ok == 1000
    finally:
        for s in socks:
            s.close()
    assert srv.get("/health").status_code == 200


def test_slow_client_does_not_block_others(srv):
    """A client that never finishes its headers holds only its own connection; others are
    served meanwhile (it is closed after the 30 s header timeout)."""
    slow = socket.create_connection(("127.0.0.1", srv.port))
    slow.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    try:
        results = []

        def worker():
            results.append(srv.get("/health").status_code)
        threads = [threading.Thread(target=worker) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [200] * 20
        slow.settimeout(60)
        start = time.time()
        assert slow.recv(4096) == b""          # closed by the server, nothing answered
        assert time.time() - start < 45
    finally:
        slow.close()


def _trickle(sock, data, gap, piece=1):
    """Send data `piece` bytes every `gap` seconds; the elapsed time when the server closed
    the connection (EOF or reset seen while sending), or None once everything was sent."""
    import select
    start = time.time()
    for i in range(0, len(data), piece):
        try:
            sock.sendall(data[i:i + piece])
        except OSError:
            return time.time() - start
        if i + piece < len(data) and select.select([sock], [], [], gap)[0]:
            try:
                got = sock.recv(4096)
            except OSError:
                return time.time() - start
            assert got == b"", got                # never an answer to unfinished headers
            return time.time() - start
    return None


def test_slow_headers_hit_a_whole_header_deadline(tmp_path):
    """server.header_timeout is a deadline for the whole header block, not an idle timeout:
    a client trickling one byte every 0.25 s (never idle for long) is cut at the deadline,
    counted from the connection's opening. Headers finished in time are answered, and on a
    kept-alive connection the next request's clock starts when the previous one ends."""
    from helpers_serve import Server
    s = Server(str(tmp_path), env={"DEARDIARY_SERVER_HEADER_TIMEOUT": "3"})
    req = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 100 + b"\r\n\r\n"
    try:
        slow = socket.create_connection(("127.0.0.1", s.port))
        cut = _trickle(slow, req, 0.25)             # 130 bytes: 32 s if never cut
        slow.close()
        assert cut is not None, "a trickling client was never cut"
        assert 2.8 <= cut <= 6, cut
        ok = socket.create_connection(("127.0.0.1", s.port))
        ok.settimeout(10)
        assert _trickle(ok, req, 0.1, 13) is None   # 10 pieces in about 1 s: in time
        assert ok.recv(4096).startswith(b"HTTP/1.1 200")
        for _ in range(3):                          # 3 x 1.2 s idle: past 3 s in all
            time.sleep(1.2)
            ok.sendall(req)
            answer = ok.recv(4096)
            assert answer.startswith(b"HTTP/1.1 200"), answer
        ok.close()
        assert s.get("/health").status_code == 200
    finally:
        s.stop()


def accepted_connections(pid, port):
    """How many connections to `port` the server process has accepted: its socket
    descriptors that /proc/net/tcp lists as established on that local port (a connection
    still in a listening socket's backlog is established too, but no descriptor names it)."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    n = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if int(cols[1].split(":")[1], 16) == port and cols[3] == "01" and cols[9] in inodes:
                n += 1
    return n


def wait_accepted(pid, port, want, timeout=10.0):
    """Wait until the server holds exactly `want` accepted connections (each worker accepts
    from its own socket in its own thread: on a loaded machine that lags the client)."""
    deadline = time.time() + timeout
    while accepted_connections(pid, port) != want and time.time() < deadline:
        time.sleep(0.05)
    assert accepted_connections(pid, port) == want


def test_connection_limit(tmp_path):
    """server.max_connections: connections past the limit are closed unanswered; once the
    idle ones go, requests are served again."""
    import requests
    from helpers_serve import Server
    s = Server(str(tmp_path), env={"DEARDIARY_SERVER_MAX_CONNECTIONS": "8"})
    idle = []
    try:
        s.s.close()          # the harness's own keep-alive connection would count
        idle = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(8)]
        wait_accepted(s.proc.pid, s.port, 8)
        refused = False
        try:
            r = requests.get(s.url + "/health", timeout=5)
        except requests.RequestException:
            refused = True
        assert refused, r.status_code
        for c in idle:
            c.close()
        idle = []
        time.sleep(0.3)
        assert requests.get(s.url + "/health", timeout=5).status_code == 200
    finally:
        for c in idle:
            c.close()
        s.stop()
