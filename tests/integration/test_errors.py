"""Errors a program can act on (issue 12, items 7, 8, 17, 18): a database another
process holds locked answers EAGAIN after one bounded wait, a full disk answers ENOSPC at
once, a value over SQLite's limit EFBIG; deleted artifact bytes are freed at once; a
surviving daemon replays a killed one's metric journal.

Real parts only: a real mount, a real SQLite file locked by a real `sqlite3` client in
another process, a real full tmpfs.
"""
import errno
import os
import subprocess
import sys
import threading
import time

import pytest

from conftest import Mount, sqlite_rows
from helpers_registry import MiB, files_under, make_run, mounted, ok, one, pattern, poll, put

BUSY_MS = 1500

# Holds the database's write lock (BEGIN EXCLUSIVE: in WAL mode, the write lock) until a
# line arrives on stdin.
LOCKER = r"""
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
c.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
c.execute("ROLLBACK")
"""


class Locker:
    """Another process holding the database's write lock."""

    def __init__(self, db):
        self.proc = subprocess.Popen([sys.executable, "-c", LOCKER, db], text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdout.readline().strip() == "locked"

    def release(self):
        if self.proc.poll() is None:
            self.proc.stdin.write("\n")
            self.proc.stdin.flush()
            assert self.proc.wait(timeout=30) == 0


def new_run(m):
    """A project, an experiment and a running iteration; returns the iteration's dir."""
    os.mkdir(m.p("projects", "p"))
    os.mkdir(m.p("projects", "p", "experiments", "e"))
    exp = m.p("projects", "p", "experiments", "e")
    with open(os.path.join(exp, "iterations", "new")) as f:
        return os.path.join(exp, "iterations", f.read().strip())


@pytest.fixture
def busy_mnt(tmp_path, monkeypatch):
    """A mount whose busy timeout is BUSY_MS, with more FUSE workers (8) than the writers
    of a test (6): a request no worker has taken yet waits in the kernel's queue, where
    the daemon cannot count its time."""
    monkeypatch.setenv("DEARDIARY_BUSY_TIMEOUT_MS", str(BUSY_MS))
    m = Mount(str(tmp_path), extra_args=("-t", "8"))
    try:
        yield m
    except BaseException:
        m.kill()
        raise
    unmount_or_kill(m)


def unmount_or_kill(m):
    """Unmount; a failed test may have left a file open, so detach lazily then."""
    try:
        m.unmount()
    except subprocess.CalledProcessError:
        m.kill()
        raise


def timed_errno(fn):
    """Run fn; returns (errno or 0, seconds it took)."""
    t0 = time.monotonic()
    try:
        fn()
        e = 0
    except OSError as ex:
        e = ex.errno
    return e, time.monotonic() - t0


def points(db, key):
    return int(sqlite_rows(db, "SELECT COUNT(*) FROM metric WHERE key = '%s'" % key)[0][0])


# ---------------------------------------------------------------- item 7: busy is EAGAIN


def test_busy_held_metric_file_fsync_close_and_readers_get_eagain(busy_mnt):
    """Points accepted by a held metric file while another process holds the database:
    fsync, `ls` of the iteration and `cat metrics.json` answer EAGAIN (not EIO) after one
    busy timeout; the points land exactly once when the lock goes, and close succeeds."""
    m = busy_mnt
    run = new_run(m)
    fd = os.open(os.path.join(run, "metrics", "loss"), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(fd, b"0.5\n")                        # the first batch: committed at once
    lock = Locker(m.db)
    try:
        os.write(fd, b"0.4\n")                    # journaled: accepted while locked
        for what, fn in [("fsync", lambda: os.fsync(fd)),
                         ("ls", lambda: os.listdir(os.path.join(run, "metrics"))),
                         ("metrics.json",
                          lambda: open(os.path.join(run, "metrics.json")).read())]:
            e, took = timed_errno(fn)
            assert e == errno.EAGAIN, (what, errno.errorcode.get(e, e))
            assert BUSY_MS / 1000 * 0.8 <= took < BUSY_MS / 1000 * 2, (what, took)
    finally:
        lock.release()
    os.fsync(fd)
    os.close(fd)
    assert points(m.db, "loss") == 2               # once each: nothing stored twice
    with open(os.path.join(run, "metrics", "loss")) as f:
        assert [l.split()[1] for l in f.read().splitlines()] == ["0.5", "0.4"]


def test_busy_queued_writers_each_wait_one_timeout(busy_mnt):
    """Writers of one daemon queued behind each other while the database is locked: each
    gets EAGAIN within one busy timeout of its own start (the time queued behind the
    daemon's writer mutex counts), not one timeout per writer ahead of it."""
    m = busy_mnt
    run = new_run(m)
    fds = [os.open(os.path.join(run, "params", "p%d" % i), os.O_WRONLY | os.O_CREAT)
           for i in range(6)]
    results = [None] * len(fds)

    def write(i):
        results[i] = timed_errno(lambda: os.write(fds[i], b"1\n"))

    lock = Locker(m.db)
    try:
        threads = [threading.Thread(target=write, args=(i,)) for i in range(len(fds))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        lock.release()
    for fd in fds:
        os.close(fd)
    for e, took in results:
        assert e == errno.EAGAIN, errno.errorcode.get(e, e)
        assert took < BUSY_MS / 1000 * 1.7, results
    assert sqlite_rows(m.db, "SELECT COUNT(*) FROM parameter")[0][0] == "0"


# ---------------------------------------------------------------- item 8: full disk, too big


@pytest.fixture
def full_disk(tmp_path, monkeypatch):
    """A mount whose database (and metric journal) live on a 16 MiB tmpfs, with a busy
    timeout of 20 s (a full disk must not wait for it); yields (mount, fill) where fill()
    takes every free byte of that tmpfs and returns a function that gives them back."""
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)], check=True)
    monkeypatch.setenv("DEARDIARY_BUSY_TIMEOUT_MS", "20000")
    m = None
    try:
        m = Mount(str(tmp_path), db=str(disk / "registry.db"))
        filler = disk / "filler"

        def fill():
            # unbuffered: a short last write must not leave bytes for close() to flush
            with open(filler, "wb", buffering=0) as f:
                try:
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
                except OSError as ex:
                    assert ex.errno == errno.ENOSPC
                try:    # the last partial block
                    while True:
                        os.write(f.fileno(), b"\0")
                except OSError:
                    pass
            return lambda: os.unlink(filler)

        yield m, fill
        unmount_or_kill(m)
    except BaseException:
        if m:
            m.kill()
        raise
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_full_disk_held_metric_writer_and_other_writers_get_enospc_at_once(full_disk):
    """The database's disk is full: a held metric file's writes, its fsync and another
    writer's value get ENOSPC "No space left on device" at once (not EIO, not after the
    busy timeout); every point whose write() returned is stored once space is back, and
    the refused value is not."""
    m, fill = full_disk
    run = new_run(m)
    fd = os.open(os.path.join(run, "metrics", "acc"), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(fd, b"0.1\n")
    os.write(fd, b"0.2\n")
    os.fsync(fd)
    free_again = fill()
    accepted, e = 2, 0
    for i in range(2000):
        e, took = timed_errno(lambda: os.write(fd, b"%d 0.5\n" % (i + 10)))
        assert took < 5, took
        if e:
            break
        accepted += 1
    assert e == errno.ENOSPC, errno.errorcode.get(e, e)
    e, took = timed_errno(lambda: os.fsync(fd))
    assert e in (0, errno.ENOSPC) and took < 5, (errno.errorcode.get(e, e), took)

    def other_writer():
        with open(os.path.join(run, "params", "big"), "w") as f:
            f.write("x" * 300000 + "\n")
    e, took = timed_errno(other_writer)
    assert e == errno.ENOSPC and took < 5, (errno.errorcode.get(e, e), took)

    free_again()
    os.fsync(fd)
    os.close(fd)
    assert points(m.db, "acc") == accepted
    assert sqlite_rows(m.db, "SELECT COUNT(*) FROM parameter")[0][0] == "0"


def test_value_over_the_limit_is_efbig(mnt):
    """`dd bs=1M count=1100 of=params/x` (as `head -c 1100M /dev/zero > params/x`, in
    fewer FUSE requests): a value over the bound (1 MiB for a value file, DD_VALUE_BYTES;
    the store's own DD_VALUE_MAX, below SQLite's 10^9-byte row, is never reached) is
    refused with EFBIG "File too large" by the write that passes the bound, not EIO at
    close; dd stops there, and nothing is stored."""
    run = new_run(mnt)
    r = subprocess.run(["dd", "if=/dev/zero", "of=%s/params/x" % run, "bs=1M", "count=1100"],
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert "File too large" in r.stderr, r.stderr
    assert sqlite_rows(mnt.db, "SELECT COUNT(*) FROM parameter")[0][0] == "0"
    assert "x" not in os.listdir(os.path.join(run, "params"))


# ---------------------------------------------------------------- item 17: rm frees bytes


@pytest.mark.parametrize("backend", ["inline", "filesystem"])
def test_rm_resource_frees_its_bytes_once_no_reader_holds_them(tmp_path, backend):
    """`rm resources/x` (and `rm -r` of its experiment) frees the bytes as soon as no open
    file of the daemon reads them, not at the next mount: a filesystem file is gone from
    the root at once (a reader's open fd keeps reading it), inline chunks go when the last
    reader closes. A reader open across the rm still reads every byte."""
    data = pattern(7, 3 * MiB + 5)
    with mounted(str(tmp_path), backend) as m:
        exp, _ = make_run(m)
        put(m, "%s/resources/a" % exp, data)
        put(m, "%s/resources/b" % exp, data)
        chunks = lambda: int(one(m.db, "SELECT COUNT(*) FROM artifact_chunk"))
        trash = lambda: int(one(m.db, "SELECT COUNT(*) FROM artifact_trash"))
        if backend == "filesystem":
            assert len(files_under(m.fs_root)) == 2
        else:
            assert chunks() == 8                  # 4 chunks of 1 MiB (the last: 5 bytes) each

        # a: deleted while a reader holds it
        reader = open(m.p(exp, "resources", "a"), "rb")
        head = reader.read(MiB)
        ok(m, "rm %s/resources/a" % exp)
        if backend == "filesystem":
            assert len(files_under(m.fs_root)) == 1       # unlinked at once
            assert trash() == 0
        else:
            assert chunks() == 8 and trash() == 1         # the reader still holds them
        assert head + reader.read() == data
        reader.close()
        assert poll(lambda: trash() == 0, 5)
        assert backend == "filesystem" or chunks() == 4

        # b: deleted with its experiment, nobody reading
        ok(m, "rm -r projects/p")
        assert trash() == 0
        if backend == "filesystem":
            assert files_under(m.fs_root) == set()
        else:
            assert chunks() == 0


# ---------------------------------------------------------------- item 18: a killed neighbour


def test_surviving_daemon_replays_a_killed_daemons_journal_within_a_second(tmp_path):
    """Two mounts of one database; the first accepts points on a held metric file while a
    third process holds the database (so they are only in its journal), then is SIGKILLed.
    Once the lock goes, the surviving mount replays the dead journal within a second
    (exactly once): the points are in SQLite and in the survivor's `cat`, without any
    process reopening the database."""
    db = str(tmp_path / "registry.db")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = Mount(str(tmp_path / "a"), db=db)
    b = None
    try:
        b = Mount(str(tmp_path / "b"), db=db)
        run = new_run(a)
        rel = os.path.relpath(run, a.path)
        fd = os.open(os.path.join(run, "metrics", "loss"), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.write(fd, b"0.1\n")                    # committed at once
        lock = Locker(db)
        try:
            os.write(fd, b"0.2\n")                # accepted: in a's journal only
            os.write(fd, b"0.3\n")
            journals = [n for n in os.listdir(str(tmp_path)) if "-mlog." in n]
            a.proc.kill()
            a.proc.wait()
            assert points(db, "loss") == 1         # the other two: in a's journal only
        finally:
            lock.release()
        t0 = time.monotonic()
        assert poll(lambda: points(db, "loss") == 3, 3), points(db, "loss")
        assert time.monotonic() - t0 < 1.5
        try:
            os.close(fd)
        except OSError:
            pass                                   # the mount is dead: ENOTCONN
        a.kill()                                   # detach the dead mount
        with open(os.path.join(b.path, rel, "metrics", "loss")) as f:
            assert [l.split()[1] for l in f.read().splitlines()] == ["0.1", "0.2", "0.3"]
        time.sleep(0.6)                            # a later scan replays nothing again
        assert points(db, "loss") == 3
        assert len(journals) == 2                  # a's and b's
        left = [n for n in os.listdir(str(tmp_path)) if "-mlog." in n]
        assert len(left) == 1 and left[0] in journals   # b's own
        unmount_or_kill(b)
    except BaseException:
        a.kill()
        if b:
            b.kill()
        raise
