"""The daemon's life: clean unmount, recovery after SIGKILL, -o options, daemonizing."""
import errno
import os
import signal
import subprocess
import uuid

from conftest import BAD_OUTPUT, BIN, Mount, sqlite_rows
from helpers_tracking import (detach_all, make_run, mounted_in_proc, ok, poll,
                              read, run, sh)


def mount_options(path):
    with open("/proc/mounts") as f:
        for line in f:
            fields = line.split()
            if fields[1] == path:
                return fields[3].split(","), fields[2]
    return None, None


def daemon_pids(path):
    """Pids of live processes whose command line mentions this mountpoint."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
            with open("/proc/%s/stat" % d) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and path.encode() in argv and any(a.endswith(b"deardiary")
                                                          for a in argv[:1]):
            pids.append(int(d))
    return pids


def test_fusermount_u_clean_exit(tmp_path):
    m = Mount(str(tmp_path))
    try:
        exp, r, iid = make_run(m)
        ok(m, "echo 7 > %s/params/a\necho 0.5 >> %s/metrics/m" % (r, r))
        res = subprocess.run(["fusermount3", "-u", m.path], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        assert m.proc.wait(timeout=30) == 0, m.output()
        assert not os.path.ismount(m.path)
        assert os.listdir(m.path) == []
    finally:
        m.kill()
    assert sqlite_rows(m.db, "SELECT key, value FROM parameter") == [["a", "7"]]


def test_sigterm_with_open_handles_exits_cleanly(tmp_path):
    """SIGTERM ends the daemon while a listing and a file are open (as does an unmount
    that comes before the kernel's asynchronous RELEASEDIR is read: CI met that as a
    LeakSanitizer report): exit status 0, and what was open is freed (no sanitizer
    report under ASan), the committed data intact."""
    m = Mount(str(tmp_path))
    fds = []
    try:
        exp, r, iid = make_run(m)
        ok(m, "echo 7 > %s/params/a" % r)
        d = os.open(os.path.join(m.path, r, "params"), os.O_RDONLY | os.O_DIRECTORY)
        fds.append(d)
        assert os.listdir(d) == ["a"]
        fds.append(os.open(os.path.join(m.path, r, "params", "a"), os.O_RDONLY))
        m.proc.send_signal(signal.SIGTERM)
        assert m.proc.wait(timeout=30) == 0, m.output()
        assert not BAD_OUTPUT.search(m.output()), m.output()
    finally:
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass
        m.kill()
    assert sqlite_rows(m.db, "SELECT key, value FROM parameter") == [["a", "7"]]


def stat_errno(path):
    try:
        os.stat(path)
    except OSError as e:
        return e.errno
    return 0


def kill_and_remount(tmp_path, wait_for_stat):
    root = str(tmp_path)
    m = Mount(root)
    m2 = None
    try:
        exp, r, iid = make_run(m, "p", "e")
        ok(m, "echo 7 > %s/params/a\necho 0.5 >> %s/metrics/m" % (r, r))
        m.proc.send_signal(signal.SIGKILL)
        assert m.proc.wait(timeout=30) == -signal.SIGKILL
        res = run("ls '%s'" % m.path)
        assert res.returncode != 0
        assert "Transport endpoint is not connected" in res.stderr
        if wait_for_stat:
            # the kernel may answer stat() of the dead root from its attribute cache
            # for the entry timeout (0.5 s); wait until stat() too says ENOTCONN
            assert poll(lambda: stat_errno(m.path) == errno.ENOTCONN, 2.0)
        # a write that returned survived the crash
        assert sqlite_rows(m.db, "SELECT key, value FROM parameter") == [["a", "7"]]
        m2 = Mount(root, db=m.db, log="daemon2.log")
        assert sorted(os.listdir(m2.path)) == ["models", "projects"]
        assert read(m2, r + "/params/a") == b"7\n"
        ok(m2, "echo 0.6 >> %s/metrics/m\nmkdir projects/after" % r)
        assert read(m2, r + "/metrics/m").count(b"\n") == 2
        layers = mounted_in_proc(m2.path)
        m2.unmount()
        # nothing dead left below: the mountpoint is a plain empty directory again
        res = run("ls -A '%s'" % m2.path)
        assert res.returncode == 0 and res.stdout == "", res.stderr
        assert layers == 1, "the new mount was stacked on the dead one"
    finally:
        if m2 is not None:
            m2.kill()
        else:
            m.kill()
        detach_all(m.path)


def test_sigkill_then_next_mount_recovers(tmp_path):
    kill_and_remount(tmp_path, wait_for_stat=True)


def test_sigkill_then_immediate_mount_recovers(tmp_path):
    # README: "If the mountpoint is a dead mount left by a killed daemon ..., mount
    # detaches it first" - also when it is started right away (a supervisor restarting
    # the daemon), while stat() of the dead root is still answered from the cache.
    kill_and_remount(tmp_path, wait_for_stat=False)


def test_mount_with_o_noatime(tmp_path):
    m = Mount(str(tmp_path), extra_args=["-o", "noatime"])
    try:
        opts, fstype = mount_options(m.path)
        assert opts is not None and "noatime" in opts, opts
        assert fstype == "fuse.deardiary"
        exp, r, iid = make_run(m)
        ok(m, "echo 1 > %s/params/a" % r)
        assert read(m, r + "/params/a") == b"1\n"
        m.unmount()
    finally:
        m.kill()


def test_mount_with_o_ro(tmp_path):
    m = Mount(str(tmp_path), extra_args=["-o", "ro"])
    try:
        opts, _ = mount_options(m.path)
        assert "ro" in opts, opts
        res = sh(m, "mkdir projects/x")
        assert res.returncode != 0 and "Read-only file system" in res.stderr
        assert sorted(os.listdir(m.path)) == ["models", "projects"]
        m.unmount()
    finally:
        m.kill()
    assert sqlite_rows(m.db, "SELECT COUNT(*) FROM project") == [["0"]]


def test_mount_without_f_daemonizes(tmp_path):
    db = str(tmp_path / "registry.db")
    path = str(tmp_path / "mnt")
    os.mkdir(path)
    pids = []
    try:
        res = subprocess.run([BIN, "mount", db, path], capture_output=True, text=True,
                             timeout=30)
        assert res.returncode == 0, res.stderr
        assert poll(lambda: os.path.ismount(path), 5.0)
        pids = daemon_pids(path)
        assert len(pids) == 1, pids
        r = run("set -e; cd '%s'; mkdir projects/p projects/p/experiments/e; "
                "cat projects/p/experiments/e/iterations/new" % path)
        assert r.returncode == 0 and r.stdout.strip().isdigit(), r.stderr
        res = subprocess.run(["fusermount3", "-u", path], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        assert poll(lambda: daemon_pids(path) == [], 10.0), "daemon still running"
        assert not os.path.ismount(path)
    finally:
        if os.path.ismount(path):
            subprocess.run(["fusermount3", "-u", "-z", path], capture_output=True)
        for pid in pids:
            if pid in daemon_pids(path):
                os.kill(pid, signal.SIGKILL)
    assert sqlite_rows(db, "SELECT COUNT(*) FROM iteration") == [["1"]]


def test_daemonized_mount_with_relative_paths(tmp_path):
    # `deardiary mount DB MOUNTPOINT` run from a directory with relative paths mounts
    # there (make mount's ./demo/mnt style), not relative to wherever the daemon chdir()s.
    tag = uuid.uuid4().hex[:12]
    db_name, mnt_name = "rel-%s.db" % tag, "mnt-%s" % tag
    path = str(tmp_path / mnt_name)
    os.mkdir(path)
    pids = []
    try:
        res = subprocess.run([BIN, "mount", db_name, mnt_name], cwd=str(tmp_path),
                             capture_output=True, text=True, timeout=30)
        assert res.returncode == 0, res.stderr
        up = poll(lambda: os.path.ismount(path), 5.0)
        pids = daemon_pids(mnt_name)
        assert up, "nothing mounted on %s (stderr %r)" % (path, res.stderr)
        r = run("set -e; cd '%s'; mkdir projects/rel" % path)
        assert r.returncode == 0, r.stderr
        assert sqlite_rows(str(tmp_path / db_name), "SELECT name FROM project") == [["rel"]]
        res = subprocess.run(["fusermount3", "-u", path], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        assert poll(lambda: daemon_pids(mnt_name) == [], 10.0)
    finally:
        detach_all(path)
        for pid in pids + daemon_pids(mnt_name):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for suffix in ("", "-wal", "-shm"):        # a database created at / by mistake
            stray = "/" + db_name + suffix
            if os.path.exists(stray):
                os.unlink(stray)


def test_daemonized_mount_reports_a_bad_option(tmp_path):
    # Interpretation: like any FUSE filesystem, a mount that fails says so with a
    # non-zero exit status, with or without -f (here: an unknown -o option).
    db = str(tmp_path / "registry.db")
    path = str(tmp_path / "mnt")
    os.mkdir(path)
    try:
        res = subprocess.run([BIN, "mount", db, path, "-f", "-o", "no_such_option_xyz"],
                             capture_output=True, text=True, timeout=30)
        assert res.returncode != 0 and not os.path.ismount(path)
        res = subprocess.run([BIN, "mount", db, path, "-o", "no_such_option_xyz"],
                             capture_output=True, text=True, timeout=30)
        # give a (wrongly) successful daemon the chance to mount before judging
        poll(lambda: os.path.ismount(path), 1.0)
        assert res.returncode != 0 or os.path.ismount(path), \
            "exit status 0, but nothing was mounted (stderr %r)" % res.stderr
    finally:
        if os.path.ismount(path):
            subprocess.run(["fusermount3", "-u", path], capture_output=True)
            poll(lambda: daemon_pids(path) == [], 10.0)


def test_remount_sees_everything(tmp_path):
    root = str(tmp_path)
    m = Mount(root)
    try:
        exp, r, iid = make_run(m, "p", "e")
        ok(m, "echo 7 > %s/params/a\n/usr/bin/printf '0.5\\n0.25\\n' >> %s/metrics/m\n"
              "touch %s/tags/t\necho SUCCEEDED > %s/status" % (r, r, r, r))
        before = {p: read(m, p) for p in (r + "/params/a", r + "/metrics/m", r + "/status",
                                          r + "/ended", r + "/iteration.yaml")}
        m.unmount()
    finally:
        m.kill()
    m = Mount(root)
    try:
        for p, data in before.items():
            assert read(m, p) == data, p
        assert os.listdir(m.p(r, "tags")) == ["t"]
        assert os.stat(m.p(r, "notes")).st_mode & 0o777 == 0o444
        m.unmount()
    finally:
        m.kill()
