"""Artifact bytes through a remote mount (docs/REMOTE.md §8, step R7), against a real
`deardiary serve` on 127.0.0.1 beside a real local mount of the same database: reading
`resources/<name>` streams with one ranged GET of /resource/{id}/data per run of
sequential reads (8 MiB read-ahead per handle); a model version's `artifact` is fetched
whole once into the node cache (remote.cache_dir), its first reader following the fetch,
so concurrent readers fetch once (counted in the server's request log), and the cache
keeps to remote.cache_max by evicting the least recently used copy.
Bytes are compared by sha256 with the local mount's; memory is checked from /proc
(VmHWM) of the daemon and the server."""
import errno
import hashlib
import os
import subprocess
import threading
import time

import pytest

from conftest import BIN, run
from helpers_serve import logged, settled
from test_remote_mount import remote_mounts

MIB = 1 << 20
# An ASan build's memory is the sanitizer's (its quarantine keeps 256 MB of freed blocks):
# the memory bounds are checked on a normal build only.
with open(BIN, "rb") as _f:
    SANITIZED = b"__asan_init" in _f.read()


@pytest.fixture
def remote(tmp_path, monkeypatch):
    """(local mount, server, factory of remote mounts with their own cache directory)."""
    for m, s, mount_as in remote_mounts(str(tmp_path), monkeypatch):
        yield m, s, lambda cache_max=None: mount_as(s, cache_max=cache_max)


def write_random(path, size, seed):
    """`size` bytes, not compressible, without holding them all; their sha256."""
    h = hashlib.sha256()
    block = hashlib.sha256(seed.encode()).digest() * (MIB // 32)
    with open(path, "wb") as f:
        left, i = size, 0
        while left:
            b = bytes(x ^ (i & 0xFF) for x in block[:256]) + block[256:]
            b = b[:min(left, len(b))]
            f.write(b)
            h.update(b)
            left -= len(b)
            i += 1
    return h.hexdigest()


def sha_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(MIB)
            if not b:
                return h.hexdigest()
            h.update(b)


def setup_registry(m, tmp, sizes):
    """Project p, experiment e, iteration 1 and a resource per size (name -> size); a
    model clf with one version per resource, in the order given. Returns ({name:
    (local path, sha256)}, experiment path)."""
    os.mkdir(m.p("projects", "p"))
    exp = m.p("projects", "p", "experiments", "e")
    os.mkdir(exp)
    with open(os.path.join(exp, "iterations", "new")) as f:
        iid = f.read().strip()
    os.mkdir(m.p("projects", "p", "models", "clf"))
    out = {}
    for i, (name, size) in enumerate(sizes.items()):
        src = os.path.join(tmp, name)
        digest = write_random(src, size, name)
        p = run("cp %s %s/resources/%s" % (src, exp, name))
        assert p.returncode == 0, p.stderr
        os.unlink(src)
        with open(m.p("models", "clf", "versions", "new", "%s:%s" % (iid, name))) as f:
            assert f.read().strip() == str(i + 1)
        out[name] = digest
    return out, os.path.relpath(exp, m.path)


def data_gets(s, rid=None):
    return [line for line in s.output().splitlines()
            if "GET /resource/%s" % (rid if rid is not None else "") in line and
            "/data " in line]


def answered(s, rid):
    """The GETs of resource rid's bytes the server answered (a stream the mount ended is
    logged with status 0, when the server notices)."""
    return [g for g in data_gets(s, rid) if g.split()[4] in ("200", "206")]


def resource_id(s, name):
    for x in s.get("/resource/experiment/1", token=s.login()).json()["data"]:
        if x["name"] == name:
            return x["id"]
    raise KeyError(name)


def assert_hwm_below(pid, mb):
    if not SANITIZED:
        assert hwm_kb(pid) < mb * 1024, hwm_kb(pid)


def hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_bytes_equal_small_and_large_with_bounded_memory(remote, tmp_path):
    m, s, mount = remote
    digests, exp = setup_registry(m, str(tmp_path), {"small.bin": 5000, "empty": 0,
                                                     "big.bin": 200 * MIB})
    r = mount()
    for name, digest in digests.items():
        assert sha_of(r.p(exp, "resources", name)) == digest, name
        assert os.path.getsize(r.p(exp, "resources", name)) == os.path.getsize(
            m.p(exp, "resources", name))
    for v, digest in zip(("1", "2", "3"), digests.values()):
        assert sha_of(r.p("models", "clf", "versions", v, "artifact")) == digest, v
    # 200 MiB read twice (ranged, then the node cache's copy): neither side held it
    assert_hwm_below(r.proc.pid, 64)
    assert_hwm_below(s.proc.pid, 64)
    # a sequential read is one ranged GET streamed through the handle's 10 MiB window;
    # the version's artifact one whole GET into the node cache
    rid = resource_id(s, "big.bin")
    settled(s)
    gets = data_gets(s, rid)
    assert [g.split()[4] for g in gets] == ["206", "200"], gets
    assert os.path.exists(os.path.join(r.cache, "%d-0" % rid))


def test_reads_at_offsets(remote, tmp_path):
    m, s, mount = remote
    setup_registry(m, str(tmp_path), {"mid.bin": 5 * MIB + 123})
    r = mount()
    exp = os.path.join("projects", "p", "experiments", "e")
    for path in (os.path.join(exp, "resources", "mid.bin"),
                 os.path.join("models", "clf", "versions", "1", "artifact")):
        for skip, count in ((0, 1), (1, 3), (1279, 2), (1280, 5), (3000, 1), (1310, 100)):
            cmd = "dd if=%s bs=4096 skip=%d count=%d status=none | sha256sum"
            want = run(cmd % (m.p(path), skip, count))
            got = run(cmd % (r.p(path), skip, count))
            assert got.returncode == 0 and got.stdout == want.stdout, (path, skip, got.stderr)
        # backwards, then past the end
        with open(r.p(path), "rb") as f, open(m.p(path), "rb") as g:
            for off in (4 * MIB, 2 * MIB + 7, 17, 5 * MIB + 100, 5 * MIB + 123, 6 * MIB):
                f.seek(off)
                g.seek(off)
                assert f.read(70000) == g.read(70000), off


def test_uncached_version_reads_once_then_from_the_page_cache(remote, tmp_path):
    """Without the node cache (cache_max 0) a version's artifact is streamed: the open asks
    nothing (a version's size is its row's), the first `cat` is one GET, and a second
    `cat` is served by the kernel's page cache (a version's bytes never change: keep_cache),
    so the server sees no request at all."""
    m, s, mount = remote
    digests, _ = setup_registry(m, str(tmp_path), {"v.bin": 6 * MIB + 5})
    r = mount(cache_max=0)
    rid = resource_id(s, "v.bin")
    path = r.p("models", "clf", "versions", "1", "artifact")
    with open(path, "rb"):
        pass
    settled(s)   # the server logs a request once it has answered it
    assert data_gets(s, rid) == []
    assert sha_of(path) == digests["v.bin"]
    assert logged(s, "GET /resource/%d/data 206" % rid)
    assert run("cat %s > /dev/null" % path).returncode == 0
    assert sha_of(path) == digests["v.bin"]
    settled(s)   # the server logs a request once it has answered it
    assert len(data_gets(s, rid)) == 1, data_gets(s, rid)
    assert not os.path.exists(r.cache) or os.listdir(r.cache) == []


def test_random_reads_match_and_a_sequential_run_keeps_its_stream(remote, tmp_path):
    """Reads at random offsets and lengths (within and far outside the handle's window,
    backwards and forwards) give the bytes of a local mount; a sequential read that
    follows them asks the server once more, however long it is."""
    import random
    m, s, mount = remote
    setup_registry(m, str(tmp_path), {"r.bin": 40 * MIB + 17})
    r = mount()
    rel = os.path.join("projects", "p", "experiments", "e", "resources", "r.bin")
    rid = resource_id(s, "r.bin")
    rng = random.Random(16)
    with open(r.p(rel), "rb", buffering=0) as f, open(m.p(rel), "rb") as g:
        for _ in range(60):
            off = rng.randrange(0, 40 * MIB + 100)
            n = rng.choice((1, 4096, 65536, 300000, MIB, 2 * MIB + 3))
            f.seek(off)
            g.seek(off)
            assert f.read(n) == g.read(n), (off, n)
        settled(s)   # the server logs a request once it has answered it
        before = len(answered(s, rid))
        f.seek(3 * MIB + 1)
        g.seek(3 * MIB + 1)
        while True:
            a = f.read(MIB)
            assert a == g.read(MIB)
            if not a:
                break
    settled(s)   # the server logs a request once it has answered it
    assert len(answered(s, rid)) - before <= 1, answered(s, rid)[before:]


def test_first_read_follows_the_fetch_and_an_early_close_abandons_it(remote, tmp_path):
    """A version's first open fetches the node cache's copy on a thread of its handle, and
    its reads follow that fetch (4 KiB read, then closed: usually before the 64 MiB copy
    is complete, which is not asserted, as a fast machine may finish first). After the
    close no temporary copy is left: the copy is complete or abandoned, and the next read
    gives the whole bytes, with at most one more fetch."""
    m, s, mount = remote
    digests, _ = setup_registry(m, str(tmp_path), {"f.bin": 64 * MIB})
    r = mount()
    rid = resource_id(s, "f.bin")
    path = r.p("models", "clf", "versions", "1", "artifact")
    with open(path, "rb") as f:
        assert len(f.read(4096)) == 4096
        # the copy is still a temporary one, or complete if the fetch was that fast
        names = os.listdir(r.cache)
        assert any(".tmp." in n for n in names) or "%d-0" % rid in names, names
    deadline = time.time() + 10
    while time.time() < deadline and any(".tmp." in n for n in os.listdir(r.cache)):
        time.sleep(0.05)
    names = sorted(os.listdir(r.cache))
    assert not any(".tmp." in n for n in names), names
    assert sha_of(path) == digests["f.bin"]
    assert "%d-0" % rid in os.listdir(r.cache)
    settled(s)   # the server logs a request once it has answered it
    # one whole GET per fetch: the abandoned one (if it was abandoned) and the complete one
    assert 1 <= len(data_gets(s, rid)) <= 2, data_gets(s, rid)


def test_sixteen_readers_fetch_once(remote, tmp_path):
    m, s, mount = remote
    digests, _ = setup_registry(m, str(tmp_path), {"model.bin": 20 * MIB})
    r = mount()
    rid = resource_id(s, "model.bin")
    before = len(data_gets(s))
    path = r.p("models", "clf", "versions", "1", "artifact")
    results = [None] * 16
    start = threading.Barrier(16)

    def reader(i):
        start.wait()
        results[i] = sha_of(path)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [digests["model.bin"]] * 16
    settled(s)   # the server logs a request once it has answered it
    assert len(data_gets(s)) - before == 1, data_gets(s)
    assert len(data_gets(s, rid)) == 1
    # a second mount on the node sharing the cache directory fetches nothing
    assert sorted(os.listdir(r.cache)) == ["%d-0" % rid, "%d-0.lock" % rid]


def test_cache_evicts_least_recently_used_at_cache_max(remote, tmp_path):
    m, s, mount = remote
    sizes = {"a": 3 * MIB, "b": 3 * MIB, "c": 3 * MIB, "huge": 8 * MIB}
    digests, _ = setup_registry(m, str(tmp_path), sizes)
    r = mount(cache_max=7 * MIB)
    ids = {n: resource_id(s, n) for n in sizes}

    def read(v, name):
        assert sha_of(r.p("models", "clf", "versions", v, "artifact")) == digests[name]

    def cached():
        return sorted(n for n in os.listdir(r.cache) if not n.endswith(".lock"))

    read("1", "a")
    time.sleep(0.05)
    read("2", "b")
    assert cached() == sorted(["%d-0" % ids["a"], "%d-0" % ids["b"]])
    time.sleep(0.05)
    read("1", "a")          # a is now the more recently used
    time.sleep(0.05)
    read("3", "c")          # 9 MiB > 7 MiB: b goes
    assert cached() == sorted(["%d-0" % ids["a"], "%d-0" % ids["c"]])
    n = len(data_gets(s, ids["a"]))
    read("1", "a")          # still cached: no request
    settled(s)   # the server logs a request once it has answered it
    assert len(data_gets(s, ids["a"])) == n
    read("2", "b")          # evicted: fetched again
    settled(s)   # the server logs a request once it has answered it
    assert len(data_gets(s, ids["b"])) == 2
    # larger than cache_max: read with ranges, never cached
    read("4", "huge")
    assert "%d-0" % ids["huge"] not in cached()
    total = sum(os.path.getsize(os.path.join(r.cache, n)) for n in cached())
    assert total <= 7 * MIB


def test_replaced_while_open_is_eio_never_a_mix(remote, tmp_path):
    m, s, mount = remote
    setup_registry(m, str(tmp_path), {})
    exp = m.p("projects", "p", "experiments", "e")
    src = os.path.join(str(tmp_path), "x")
    write_random(src, 24 * MIB, "one")
    with open(src, "rb") as f:
        old = f.read()
    assert run("cp %s %s/resources/x" % (src, exp)).returncode == 0
    r = mount()
    far = r.p("projects", "p", "experiments", "e", "resources", "x")
    with open(far, "rb") as f:
        assert f.read(4096) == old[:4096]
        write_random(src, 2 * MIB, "two")
        assert run("cp %s %s/resources/x" % (src, exp)).returncode == 0
        # read on in order: the GET under way keeps serving the bytes it began with
        f.seek(12 * MIB - 4096)
        assert f.read(8192) == old[12 * MIB - 4096:12 * MIB + 4096]
        # back to the start, out of the handle's window (8 MiB ahead, 2 MiB behind): a
        # new GET, which names another size: EIO, never the new bytes under the old size
        for _ in range(2):     # and again: the refused GET left nothing to read
            f.seek(0)
            with pytest.raises(OSError) as e:
                f.read(8192)
            assert e.value.errno == errno.EIO
    time.sleep(1)   # past the attribute timeout: a new open sees the new bytes
    assert sha_of(far) == sha_of(os.path.join(exp, "resources", "x"))


def resources_of(s):
    return {x["name"]: x for x in
            s.get("/resource/experiment/1", token=s.login()).json()["data"]}


def test_cp_streams_to_the_server_with_bounded_memory(remote, tmp_path):
    m, s, mount = remote
    setup_registry(m, str(tmp_path), {})
    r = mount()
    far = r.p("projects", "p", "experiments", "e", "resources")
    src = os.path.join(str(tmp_path), "big")
    digest = write_random(src, 200 * MIB, "up")
    p = run("cp %s %s/big.bin" % (src, far))
    assert p.returncode == 0, p.stderr
    os.unlink(src)
    # committed when cp returned: visible at once on both mounts, the same bytes
    assert "big.bin" in os.listdir(far)
    assert sha_of(m.p("projects", "p", "experiments", "e", "resources", "big.bin")) == digest
    assert resources_of(s)["big.bin"]["size_bytes"] == 200 * MIB
    assert_hwm_below(r.proc.pid, 64)
    assert_hwm_below(s.proc.pid, 64)
    # small, empty, and new bytes for an existing name (cp over it)
    for name, size in (("small", 5000), ("empty", 0), ("big.bin", 3 * MIB + 5)):
        d = write_random(src, size, name)
        p = run("cp %s %s/%s" % (src, far, name))
        assert p.returncode == 0, (name, p.stderr)
        # an empty copy is committed at release, which the kernel sends after close
        # returns (as on a local mount: a shell flushes a redirection before writing)
        deadline = time.time() + 5
        while not os.path.exists(os.path.join(far, name)) and time.time() < deadline:
            time.sleep(0.05)
        assert sha_of(m.p("projects", "p", "experiments", "e", "resources", name)) == d
        assert sha_of(os.path.join(far, name)) == d
    # the server's request log: one streamed request per copy
    assert logged(s, "POST /resource/experiment/1 201", 3)
    assert logged(s, "PATCH /resource/%d 200" % resources_of(s)["big.bin"]["id"])


def test_refusals_reach_the_writer_and_change_nothing(remote, tmp_path):
    m, s, mount = remote
    setup_registry(m, str(tmp_path), {"used": 1000})   # registered as version 1
    r = mount()
    far = r.p("projects", "p", "experiments", "e", "resources")
    before = resources_of(s)
    # bytes a model version uses are immutable: EBUSY, as on a local mount
    # (the server decides, so the refusal comes at close, not at open as locally; a
    # shell's redirection ignores close errors, cp and python do not)
    with pytest.raises(OSError) as e:
        with open(os.path.join(far, "used"), "wb") as f:
            f.write(b"abc")
    assert e.value.errno == errno.EBUSY, e.value
    # a bad name
    p = run("printf abc > '%s/%s'" % (far, "x" * 256))
    assert p.returncode != 0 and "too long" in p.stderr, p.stderr
    # an experiment that takes no resources (stopped): refused before any byte is kept
    with open(m.p("projects", "p", "experiments", "e", "status"), "w") as f:
        f.write("STOPPED\n")
    time.sleep(0.6)
    src = os.path.join(str(tmp_path), "x")
    write_random(src, 10 * MIB, "x")
    p = run("cp %s %s/late.bin" % (src, far))
    assert p.returncode != 0, p.stderr
    assert resources_of(s) == before


def test_killed_cp_leaves_nothing_on_the_server(remote, tmp_path):
    m, s, mount = remote
    setup_registry(m, str(tmp_path), {})
    r = mount()
    far = r.p("projects", "p", "experiments", "e", "resources", "cut.bin")
    # a writer that has sent some MiB and is still writing when it is killed
    w = subprocess.Popen(["python3", "-c", """
import sys, time
f = open(sys.argv[1], "wb")
for i in range(10000):
    f.write(bytes([i % 251]) * (1 << 20))
    f.flush()
    if i == 8:
        print("sent", flush=True)
    time.sleep(0.01)
""", far], stdout=subprocess.PIPE, text=True)
    assert w.stdout.readline() == "sent\n"
    w.kill()
    w.wait()
    time.sleep(1)
    assert "cut.bin" not in resources_of(s)
    assert "cut.bin" not in os.listdir(m.p("projects", "p", "experiments", "e",
                                           "resources"))
    assert not [line for line in s.output().splitlines()
                if "POST /resource/experiment/1 201" in line]
    # the mount goes on: the next copy of that name is whole
    src = os.path.join(str(tmp_path), "ok")
    d = write_random(src, 2 * MIB, "ok")
    assert run("cp %s %s" % (src, far)).returncode == 0
    assert sha_of(m.p("projects", "p", "experiments", "e", "resources", "cut.bin")) == d
