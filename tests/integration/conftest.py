"""Integration-test harness: a real `deardiary mount` of a real SQLite file.

Modelled on libfuse's and sshfs's pytest helpers: start the daemon in the foreground,
wait until the mountpoint is mounted (failing fast if the daemon died), hand the test the
mountpoint, then `fusermount3 -u` and require a clean exit. On any failure the mount is
detached lazily and the daemon killed, so no test leaves a dead mount behind. The
daemon's stderr is checked for sanitizer reports and crashes.
"""
import os
import re
import shutil
import subprocess
import time

import pytest

BIN = os.environ.get("DEARDIARY_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "deardiary")
BAD_OUTPUT = re.compile(r"(AddressSanitizer|UndefinedBehaviorSanitizer|runtime error|"
                        r"Segmentation fault|Aborted|==\d+==ERROR)")


def run(cmd, **kw):
    """Run a shell command line; returns CompletedProcess (text, no check)."""
    return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                          executable="/bin/bash", **kw)


def answers(path):
    """Is a live filesystem mounted at path? statfs is never answered from a cache, so a
    dead mount left by a killed daemon (whose root attributes the kernel may still have,
    so that os.path.ismount passes) says no."""
    try:
        os.statvfs(path)
    except OSError:
        return False
    return os.path.ismount(path)


class Mount:
    def __init__(self, root, db=None, extra_args=(), log="daemon.log"):
        self.root = root
        self.db = db or os.path.join(root, "registry.db")
        self.path = os.path.join(root, "mnt")
        try:
            os.makedirs(self.path, exist_ok=True)
        except FileExistsError:
            pass    # a dead mount left by a killed daemon: `deardiary mount` recovers it
        self.log = open(os.path.join(root, log), "w+")
        self.proc = subprocess.Popen([BIN, "mount", self.db, self.path, "-f", *extra_args],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while not answers(self.path):
            if self.proc.poll() is not None:
                raise RuntimeError("daemon exited with %s:\n%s" % (self.proc.returncode,
                                                                  self.output()))
            if time.time() > deadline:
                self.kill()
                raise RuntimeError("mount did not appear in 30 s")
            time.sleep(0.05)

    def output(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def p(self, *parts):
        return os.path.join(self.path, *parts)

    def unmount(self):
        subprocess.run(["fusermount3", "-u", self.path], check=True)
        rc = self.proc.wait(timeout=30)
        out = self.output()
        assert rc == 0, "daemon exited with %d:\n%s" % (rc, out)
        assert not BAD_OUTPUT.search(out), out

    def kill(self):
        subprocess.run(["fusermount3", "-u", "-z", self.path], capture_output=True)
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def mnt(tmp_path):
    """A freshly mounted empty registry; yields a Mount."""
    m = Mount(str(tmp_path))
    try:
        yield m
    except BaseException:
        m.kill()
        raise
    if m.proc.poll() is None and os.path.ismount(m.path):
        m.unmount()
    else:
        m.kill()
        pytest.fail("daemon died during the test:\n" + m.output())


@pytest.fixture
def run_dir(mnt):
    """A project, an experiment and one running iteration; yields (mnt, exp, run)."""
    os.mkdir(mnt.p("projects", "fraud"))
    os.mkdir(mnt.p("projects", "fraud", "experiments", "sweep"))
    exp = mnt.p("projects", "fraud", "experiments", "sweep")
    with open(os.path.join(exp, "iterations", "new")) as f:
        iid = f.read().strip()
    return mnt, exp, os.path.join(exp, "iterations", iid)


def sqlite_rows(db, sql):
    """Query the database file directly with the sqlite3 command-line tool (an independent
    reader) and return the rows as lists of strings."""
    out = subprocess.run(["sqlite3", "-separator", "\t", db, sql], capture_output=True,
                         text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


__all__ = ["run", "Mount", "sqlite_rows", "shutil"]
