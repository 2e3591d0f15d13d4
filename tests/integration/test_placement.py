"""Worker placement (fs/placement.c): a writer pinned to one CPU that streams one point
per write() has the daemon's FUSE workers follow it to that CPU; anybody else's request
lets them go; an unpinned writer, or mount.follow_writer: false, moves nothing. Every
point written arrives either way. Needs a machine with at least two usable CPUs."""
import os
import subprocess
import sys
import time

import pytest

from conftest import Mount
from helpers_tracking import make_run, parse_metric

CPUS = sorted(os.sched_getaffinity(0))
pytestmark = pytest.mark.skipif(len(CPUS) < 2, reason="needs two CPUs to tell placements apart")

WRITER = r"""
import os, sys
cpus = sys.argv[2]
if cpus != "any":
    os.sched_setaffinity(0, {int(cpus)})
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
for i in range(int(sys.argv[3])):
    os.write(fd, b"%d\n" % i)
print("written", flush=True)
sys.stdin.readline()          # hold the file open until the test has looked
os.close(fd)
"""


def daemon_masks(pid):
    """{thread id: frozenset of allowed CPUs} for every thread of the daemon."""
    masks = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            masks[int(tid)] = frozenset(os.sched_getaffinity(int(tid)))
        except (ProcessLookupError, FileNotFoundError):
            pass   # a worker that just exited
    return masks


def start_writer(path, cpu, n):
    """A child that writes points 0..n-1 one per write(), pinned to `cpu` (or "any"),
    then holds the file open until finish()."""
    return subprocess.Popen([sys.executable, "-c", WRITER, path, str(cpu), str(n)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def written(child):
    assert child.stdout.readline().strip() == "written"
    return child


def write_points(path, cpu, n):
    """start_writer, and wait until all n points are written (the file still open)."""
    return written(start_writer(path, cpu, n))


def finish(child):
    child.stdin.write("\n")
    child.stdin.close()
    assert child.wait(timeout=30) == 0


def mount(tmp_path, follow):
    env_before = os.environ.get("DEARDIARY_MOUNT_FOLLOW_WRITER")
    os.environ["DEARDIARY_MOUNT_FOLLOW_WRITER"] = follow
    try:
        return Mount(str(tmp_path))
    finally:
        if env_before is None:
            del os.environ["DEARDIARY_MOUNT_FOLLOW_WRITER"]
        else:
            os.environ["DEARDIARY_MOUNT_FOLLOW_WRITER"] = env_before


def steps(m, rel):
    with open(m.p(rel)) as f:
        return [p[0] for p in parse_metric(f.read())]


def test_workers_follow_a_pinned_writer_and_let_go(tmp_path):
    m = mount(tmp_path, "true")
    try:
        _, it, _ = make_run(m)
        cpu = CPUS[-1]
        full = frozenset(CPUS)
        assert all(mask == full for mask in daemon_masks(m.proc.pid).values())

        child = write_points(m.p(it, "metrics", "loss"), cpu, 300)
        pinned = [t for t, mask in daemon_masks(m.proc.pid).items() if mask == {cpu}]
        finish(child)
        assert pinned, "no worker moved to CPU %d: %s" % (cpu, daemon_masks(m.proc.pid))

        # anybody else's requests let the workers go; each worker moves back on its next
        # request, so keep asking (open and read: never answered from the kernel's
        # attribute cache) until every thread has had one
        for _ in range(40):
            for _ in range(20):
                with open(m.p(it, "status")) as f:
                    f.read()
            if all(mask == full for mask in daemon_masks(m.proc.pid).values()):
                break
            time.sleep(0.01)
        assert all(mask == full for mask in daemon_masks(m.proc.pid).values()), \
            daemon_masks(m.proc.pid)

        # a writer that is not pinned is not followed
        child = write_points(m.p(it, "metrics", "acc"), "any", 300)
        masks = daemon_masks(m.proc.pid)
        finish(child)
        assert all(mask == full for mask in masks.values()), masks

        assert steps(m, it + "/metrics/loss") == list(range(300))
        assert steps(m, it + "/metrics/acc") == list(range(300))
    finally:
        m.unmount()


def test_follow_writer_off_moves_nothing(tmp_path):
    m = mount(tmp_path, "false")
    try:
        _, it, _ = make_run(m)
        child = write_points(m.p(it, "metrics", "loss"), CPUS[-1], 300)
        masks = daemon_masks(m.proc.pid)
        finish(child)
        assert all(mask == frozenset(CPUS) for mask in masks.values()), masks
        assert steps(m, it + "/metrics/loss") == list(range(300))
    finally:
        m.unmount()


def test_two_pinned_writers_at_once_lose_nothing(tmp_path):
    """Two writers pinned to different CPUs take turns being followed (or neither is);
    whichever way, both series arrive whole."""
    m = mount(tmp_path, "true")
    try:
        _, it, _ = make_run(m)
        a = start_writer(m.p(it, "metrics", "a"), CPUS[0], 2000)
        b = start_writer(m.p(it, "metrics", "b"), CPUS[-1], 2000)
        for child in (a, b):
            finish(written(child))
        assert steps(m, it + "/metrics/a") == list(range(2000))
        assert steps(m, it + "/metrics/b") == list(range(2000))
    finally:
        m.unmount()
