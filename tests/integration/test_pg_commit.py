"""A COMMIT whose answer is lost (docs/ENGINES.md §6, risk 3): the connection dies after the
client sent COMMIT and before the server's answer arrived, so the client cannot know
whether the transaction committed. The store reads each write transaction's id at BEGIN
and, when that happens, reconnects and asks the server (pg_xact_status): committed is
success, aborted runs the transaction again; never EIO.

The loss is real: the mount's database URI points at a TCP proxy (this file) between the
daemon and the session's PostgreSQL server, which parses the client's protocol messages
and, when armed, cuts the connection at the COMMIT of the transaction whose messages
carry a marker (the name of the model being made): either after forwarding the COMMIT (the
server commits it, its answer is lost) or instead of forwarding it (the server sees its
client gone and aborts). A directory made twice is EEXIST, so a committed transaction run
again would show; the rows are read with psql, not through the proxy. Runs whatever
DD_TEST_ENGINE says (always PostgreSQL).
"""
import os
import struct
import threading

import pytest

from conftest import Mount, PgServer, db_rows
from helpers_proxy import TcpProxy
from helpers_registry import environ, finish_mount, make_run

SSL_REQUEST, GSSENC_REQUEST = 80877103, 80877104


class CommitCutter(TcpProxy):
    """A TCP proxy to PostgreSQL that can cut one connection at one COMMIT."""

    def __init__(self, target_port):
        self.lock = threading.Lock()
        self.marker, self.forward = None, False
        self.fired = threading.Event()
        super().__init__(target_port)

    def arm(self, marker, forward):
        """Cut the connection at the next COMMIT of a transaction whose messages contain
        marker (bytes); forward: send that COMMIT to the server first."""
        with self.lock:
            self.marker, self.forward = marker, forward
            self.fired.clear()

    def up(self, client, server, conn):
        """Forward the client's messages one by one, watching BEGIN ... COMMIT."""
        buf, startup, txn = b"", True, None
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                buf += data
                while True:
                    if startup:    # untyped: length, then a request code or the startup
                        if len(buf) < 8:
                            break
                        n = struct.unpack("!I", buf[:4])[0]
                        if len(buf) < n:
                            break
                        msg, buf = buf[:n], buf[n:]
                        code = struct.unpack("!I", msg[4:8])[0]
                        startup = code in (SSL_REQUEST, GSSENC_REQUEST)
                        server.sendall(msg)
                        continue
                    if len(buf) < 5:
                        break
                    n = 1 + struct.unpack("!I", buf[1:5])[0]
                    if len(buf) < n:
                        break
                    msg, buf = buf[:n], buf[n:]
                    query = msg[5:-1].strip().upper() if msg[:1] == b"Q" else None
                    if query is not None and query.startswith(b"BEGIN"):
                        txn = b""
                    elif query == b"COMMIT" and txn is not None:
                        with self.lock:
                            hit = self.marker is not None and self.marker in txn
                            forward = self.forward
                            if hit:
                                self.marker = None
                        txn = None
                        if hit:
                            if forward:
                                server.sendall(msg)
                            self.cut(client, server)
                            self.fired.set()
                            return
                    elif txn is not None:
                        txn += msg
                    server.sendall(msg)
        except OSError:
            pass
        self.cut(client, server)


@pytest.fixture
def cut_mount(request, tmp_path):
    """A mount whose database connections go through a CommitCutter; yields (mount,
    cutter, direct URI of the registry)."""
    uri = PgServer.new_database("c_" + request.node.name.lower()[:40])
    cutter = CommitCutter(PgServer.port)
    proxied = uri.replace(":%d/" % PgServer.port, ":%d/" % cutter.port)
    assert proxied != uri
    with environ(DEARDIARY_ARTIFACT_FS_ROOT=str(tmp_path / "artifacts"), DEARDIARY_CONFIG=None):
        m = Mount(str(tmp_path), db=proxied)
    try:
        yield m, cutter, uri
    except BaseException:
        m.kill()
        cutter.close()
        raise
    finish_mount(m)
    cutter.close()


@pytest.mark.parametrize("forward", [True, False], ids=["committed", "aborted"])
def test_a_lost_commit_answer_is_resolved_by_asking_the_server(cut_mount, forward):
    m, cutter, uri = cut_mount
    make_run(m, "p", "e")
    for i in range(3):
        name = "lostcommit%s%d" % ("c" if forward else "a", i)
        cutter.arm(name.encode(), forward)
        # the write succeeds (never EIO; once, never EEXIST from a re-run of a committed
        # transaction) ...
        os.mkdir(m.p("projects", "p", "models", name))
        assert cutter.fired.is_set(), "the proxy never saw the model's COMMIT"
        # ... and is stored exactly once, whichever way the cut COMMIT went
        assert db_rows(uri, "SELECT COUNT(*) FROM model WHERE name = '%s'" % name) == [["1"]]
        assert os.path.isdir(m.p("projects", "p", "models", name))
    # the daemon reconnected after each cut, and goes on working
    os.mkdir(m.p("projects", "p", "models", "after"))
    assert db_rows(uri, "SELECT COUNT(*) FROM model") == [["4"]]
