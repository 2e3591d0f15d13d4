"""Metric files under the tools users point at them (issue 12): editors and scripts that
rewrite a metric file, writes larger than one FUSE request, endless lines, the last step,
and readers that follow the file as it grows (`tail -f`). Real tools on a real mount; the
database is checked with the sqlite3 CLI."""
import errno
import os
import subprocess
import time

import pytest

from conftest import db_exec, sqlite_rows
from helpers_tracking import snapshot

# The largest write() that is all or nothing (README "Bad input"): FUSE's max_write (1 MiB)
# less one page.
WRITE_MAX = (1 << 20) - os.sysconf("SC_PAGE_SIZE")
STEP_MAX = 2**63 - 1


def points(mnt, key="acc"):
    return sqlite_rows(mnt.db, "SELECT step, value, recorded_at FROM metric WHERE key = '%s'"
                       " ORDER BY step, id" % key)


def append(path, text):
    with open(path, "a") as f:
        f.write(text)


@pytest.fixture
def acc(run_dir):
    """A running iteration's metrics/acc with three points; yields (mnt, path)."""
    mnt, _, run = run_dir
    path = os.path.join(run, "metrics", "acc")
    append(path, "0.1\n0.2\n5 0.25 2026-11-23T12:00:00Z\n")
    read(path)   # committed before the tests' independent reads (close_waits journal, PG)
    return mnt, path


def read(path):
    with open(path) as f:
        return f.read()


def rewrite(path, text):
    """Python's open(path, "w"): O_TRUNC, the whole text written back."""
    with open(path, "w") as f:
        f.write(text)


# ---------------------------------------------------------------- rewrites (item 4)

@pytest.mark.parametrize("cmd", ["vim -es -c wq {p}", "vim -n -es -c wq {p}",
                                 "vim -u NONE -n -es -c wq {p}"])
def test_vim_unchanged_rewrite_keeps_the_series(acc, cmd):
    mnt, path = acc
    before = snapshot(mnt.db)
    r = subprocess.run(cmd.format(p=path), shell=True, capture_output=True, timeout=60)
    if "-n" in cmd:      # no swap file: nothing but the rewrite can fail
        assert r.returncode == 0, r
    assert snapshot(mnt.db) == before
    assert len(read(path).splitlines()) == 3


def test_python_unchanged_rewrite_keeps_the_series(acc):
    mnt, path = acc
    before = snapshot(mnt.db)
    rewrite(path, read(path))
    assert snapshot(mnt.db) == before


def test_rewrite_with_new_lines_appends_only_them(acc):
    mnt, path = acc
    old = points(mnt)
    rewrite(path, read(path) + "6 0.3 2026-11-23T12:00:01Z\n0.4\n")
    read(path)   # a read through the mount commits what the close left in the journal
    assert points(mnt) == old + [["6", "0.3", "2026-11-23T12:00:01.000Z"],
                                 ["7", "0.4", points(mnt)[-1][2]]]


def test_large_rewrite_in_many_writes_adds_nothing(run_dir):
    """A rewrite of a series longer than any one write: compared piece by piece."""
    mnt, _, run = run_dir
    path = os.path.join(run, "metrics", "loss")
    for k in range(0, 40000, 1000):       # 36 KB per write(): under the bound
        append(path, "".join("%d %d.5 2026-11-23T12:00:00Z\n" % (i, i)
                             for i in range(k, k + 1000)))
    before = snapshot(mnt.db)
    text = read(path)
    assert len(text) > WRITE_MAX
    with open(path, "w", buffering=8192) as f:     # the text in 8 KiB writes
        for i in range(0, len(text), 1000):
            f.write(text[i:i + 1000])
    assert snapshot(mnt.db) == before


@pytest.mark.parametrize("edit", ["value", "step", "timestamp", "insert", "swap"])
def test_rewrite_changing_points_is_refused(acc, edit):
    mnt, path = acc
    lines = read(path).splitlines(True)
    if edit == "value":
        lines[1] = lines[1].replace(" 0.2 ", " 0.7 ")
    elif edit == "step":
        lines[1] = "3" + lines[1][1:]
    elif edit == "timestamp":
        lines[2] = lines[2].replace("12:00:00.000Z", "12:00:01.000Z")
    elif edit == "insert":
        lines.insert(1, "0 0.15 2026-11-23T11:00:00Z\n")
    else:
        lines[0], lines[1] = lines[1], lines[0]
    before = snapshot(mnt.db)
    with pytest.raises(OSError) as e:
        rewrite(path, "".join(lines))
    assert e.value.errno == errno.EINVAL
    assert snapshot(mnt.db) == before


def test_vim_edit_is_refused(acc):
    mnt, path = acc
    before = snapshot(mnt.db)
    r = subprocess.run(["vim", "-u", "NONE", "-n", "-es", "-c", "%s/0.2/0.7/", "-c", "wq",
                        path], capture_output=True, timeout=60)
    assert r.returncode != 0
    assert snapshot(mnt.db) == before


def test_rewrite_dropping_points_is_refused_at_close(acc):
    mnt, path = acc
    before = snapshot(mnt.db)
    lines = read(path).splitlines(True)
    f = open(path, "w")
    f.write("".join(lines[:2]))
    with pytest.raises(OSError) as e:
        f.close()
    assert e.value.errno == errno.EINVAL
    assert snapshot(mnt.db) == before


def test_truncating_echo_still_appends(acc):
    """`echo 0.9 > acc` opens with O_TRUNC: a new value (no timestamp) is an append."""
    mnt, path = acc
    subprocess.run("echo 0.9 > '%s'" % path, shell=True, check=True)
    assert [p[:2] for p in points(mnt)][-1] == ["6", "0.9"]
    assert len(points(mnt)) == 4


# ---------------------------------------------------------------- large writes (item 6)

def lines_of(size, last):
    """`size` bytes of good metric lines, then `last`."""
    n, pad = divmod(size - len(last), 4)
    return b" " * pad + b"0.5\n" * n + last


@pytest.mark.parametrize("size", [WRITE_MAX + 1, 1 << 20, (1 << 20) + 4096, 3 << 20])
@pytest.mark.parametrize("last", [b"bad\n", b"0.5\n"])
def test_write_over_the_bound_is_refused_whole(acc, size, last):
    mnt, path = acc
    data = lines_of(size, last)
    assert len(data) > WRITE_MAX
    before = snapshot(mnt.db)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        for shift in (0, 1, 4095):   # the buffer at every alignment
            buf = bytearray(shift) + data
            with pytest.raises(OSError) as e:
                os.write(fd, memoryview(buf)[shift:])
            assert e.value.errno == errno.EINVAL
    finally:
        os.close(fd)
    assert snapshot(mnt.db) == before


@pytest.mark.parametrize("shift", [0, 1, 4095])
def test_write_at_the_bound_is_all_or_nothing(acc, shift):
    mnt, path = acc
    n = len(points(mnt))
    good = lines_of(WRITE_MAX, b"0.5\n")
    bad = lines_of(WRITE_MAX, b"bad\n")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        before = snapshot(mnt.db)
        with pytest.raises(OSError) as e:
            os.write(fd, memoryview(bytearray(shift) + bad)[shift:])
        assert e.value.errno == errno.EINVAL
        assert snapshot(mnt.db) == before
        assert os.write(fd, memoryview(bytearray(shift) + good)[shift:]) == len(good)
    finally:
        os.close(fd)
    assert len(points(mnt)) == n + len(good) // 4


def test_dd_of_a_large_file_with_one_bad_line(acc, tmp_path):
    mnt, path = acc
    src = tmp_path / "lines"
    src.write_bytes(lines_of(3 << 20, b"bad\n"))
    before = snapshot(mnt.db)
    r = subprocess.run(["dd", "if=%s" % src, "of=%s" % path, "bs=4M", "oflag=append",
                        "conv=notrunc"], capture_output=True, text=True)
    assert r.returncode != 0 and "Invalid argument" in r.stderr, r.stderr
    assert snapshot(mnt.db) == before


# ---------------------------------------------------------------- bounds (item 9)

def test_endless_line_is_refused(acc):
    """A line without a newline cannot grow past 4096 bytes in the daemon."""
    mnt, path = acc
    before = snapshot(mnt.db)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        assert os.write(fd, b"1" * 4000) == 4000
        with pytest.raises(OSError) as e:
            for _ in range(100000):            # would be 100 MB
                os.write(fd, b"1" * 1000)
        assert e.value.errno == errno.EINVAL
    finally:
        with pytest.raises(OSError):    # the 4000 digits kept are no number either
            os.close(fd)
    assert snapshot(mnt.db) == before


def test_endless_line_from_a_pipe(acc):
    mnt, path = acc
    before = snapshot(mnt.db)
    r = subprocess.run("head -c 200000000 /dev/zero | tr '\\0' 1 >> '%s'" % path, shell=True,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "Invalid argument" in r.stderr, r.stderr
    assert snapshot(mnt.db) == before


def test_long_line_in_one_write_is_refused(acc):
    mnt, path = acc
    before = snapshot(mnt.db)
    with pytest.raises(OSError) as e:
        append(path, "0.5" + " " * 5000 + "\n")
    assert e.value.errno == errno.EINVAL
    assert snapshot(mnt.db) == before


@pytest.mark.parametrize("held_open", [False, True])
def test_default_step_after_the_last_step_is_refused(run_dir, held_open):
    mnt, _, run = run_dir
    path = os.path.join(run, "metrics", "last")
    if held_open:    # the second write of a held-open file goes through the group commit
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.write(fd, b"0.1\n")
        os.write(fd, b"%d 0.5\n" % STEP_MAX)
        os.fsync(fd)
        before = snapshot(mnt.db)
        with pytest.raises(OSError) as e:
            os.write(fd, b"0.6\n")
        assert e.value.errno == errno.EINVAL
        os.close(fd)
    else:
        append(path, "%d 0.5\n" % STEP_MAX)
        before = snapshot(mnt.db)
        with pytest.raises(OSError) as e:
            append(path, "0.6\n")
        assert e.value.errno == errno.EINVAL
    assert snapshot(mnt.db) == before
    append(path, "%d 0.7\n" % STEP_MAX)       # an explicit step is still fine
    assert points(mnt, "last")[-1][:2] == [str(STEP_MAX), "0.7"]


# ---------------------------------------------------------------- followers (item 10)

def wait_for(cond, seconds=5.0):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


@pytest.mark.parametrize("follow", ["-f", "-F"])
def test_tail_follows_appended_points(acc, follow, tmp_path):
    mnt, path = acc
    out = tmp_path / "tail.out"
    with open(out, "w") as o:
        tail = subprocess.Popen(["timeout", "30", "tail", follow, "-n", "+1", path], stdout=o)
    try:
        assert wait_for(lambda: len(out.read_text().splitlines()) == 3)
        for i, v in enumerate(["0.61", "0.62"]):
            subprocess.run("echo %s >> '%s'" % (v, path), shell=True, check=True)
            # tail polls a FUSE file once a second
            assert wait_for(lambda: len(out.read_text().splitlines()) == 4 + i), \
                out.read_text()
        assert out.read_text() == read(path)
    finally:
        tail.terminate()
        tail.wait()


def test_reader_at_eof_sees_appended_points(acc):
    mnt, path = acc
    with open(path) as r:
        got = r.read()
        assert len(got.splitlines()) == 3
        with open(path, "a") as w:      # a writer that keeps its file open
            for i in range(3):
                w.write("0.%d\n" % (7 + i))
                w.flush()
                seen = []
                assert wait_for(lambda: seen.append(r.read()) or "".join(seen), 1.0)
                got += "".join(seen)
                assert len(got.splitlines()) == 4 + i
                assert wait_for(lambda: os.fstat(r.fileno()).st_size == len(got.encode()))
    assert got == read(path)


def test_fsck_reports_a_wrapped_default_step(run_dir):
    """Before the refusal, a point without a step after step INT64_MAX got step INT64_MIN
    (signed overflow): fsck names such a point, and sums up a series at INT64_MAX without
    overflowing itself."""
    mnt, _, run = run_dir
    from conftest import BIN
    append(os.path.join(run, "metrics", "last"), "%d 0.5\n" % STEP_MAX)
    clean = subprocess.run([BIN, "fsck", mnt.db], capture_output=True, text=True)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    db_exec(mnt.db, "INSERT INTO metric_point(series_id, step, id, value, recorded_at)"
                    " SELECT series_id, -9223372036854775807 - 1, 1, 0.6, recorded_at"
                    " FROM metric_point WHERE series_id = (SELECT id FROM metric_latest"
                    " WHERE key = 'last')")
    r = subprocess.run([BIN, "fsck", mnt.db], capture_output=True, text=True)
    assert r.returncode == 1, r.stdout + r.stderr
    assert ("metric last of iteration 1: point 1 has step -9223372036854775808 after step"
            " 9223372036854775807 (a default step that overflowed)") in r.stdout, r.stdout


@pytest.mark.parametrize("name,limit", [("params/lr", 1 << 20), ("notes", 1 << 20),
                                        ("params.yaml", 16 << 20)])
def test_endless_value_is_refused(run_dir, name, limit):
    """A value file (or params.yaml) that never ends is refused past its bound (EFBIG)."""
    mnt, _, run = run_dir
    before = snapshot(mnt.db)
    r = subprocess.run("head -c %d /dev/zero | tr '\\0' x > '%s'" % (limit + 1,
                       os.path.join(run, name)), shell=True, capture_output=True, text=True)
    assert r.returncode != 0 and "File too large" in r.stderr, r.stderr
    assert snapshot(mnt.db) == before
    if name != "params.yaml":       # up to the bound is fine
        subprocess.run("head -c %d /dev/zero | tr '\\0' 7 > '%s'" % (limit - 1,
                       os.path.join(run, name)), shell=True, check=True)
        assert os.path.getsize(os.path.join(run, name)) == limit    # and its newline
