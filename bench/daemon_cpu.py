"""bench/daemon_cpu.py RUNS BIN_A BIN_B: the daemon's own CPU time (utime + stime from
/proc) and the wall time for 100 write()s of 10 000 metric lines into one held metric file
(1M points), the two deardiary binaries interleaved RUNS times; medians. CPU time leaves
out the waits a loaded machine adds, so it compares two builds where wall time cannot.
Mounts under a mktemp -d in /var/tmp, unmounts and removes it."""
import os, subprocess, sys, time, tempfile, shutil
def cpu(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
def one(binary, reps=100, lines=10000):
    d = tempfile.mkdtemp(dir="/var/tmp", prefix="r3cpu")
    mnt = os.path.join(d, "mnt"); os.mkdir(mnt)
    p = subprocess.Popen([binary, "mount", os.path.join(d, "r.db"), mnt, "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not os.path.ismount(mnt): time.sleep(0.05)
    os.mkdir(mnt + "/projects/p"); os.mkdir(mnt + "/projects/p/experiments/e")
    iid = open(mnt + "/projects/p/experiments/e/iterations/new").read().strip()
    path = mnt + "/projects/p/experiments/e/iterations/%s/metrics/loss" % iid
    buf = "".join("%d 0.5\n" % i for i in range(lines)).encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    c0 = cpu(p.pid); t0 = time.time()
    for r in range(reps):
        os.write(fd, "".join("%d 0.5\n" % (r * lines + i) for i in range(lines)).encode())
    os.close(fd)
    c1 = cpu(p.pid); t1 = time.time()
    subprocess.run(["fusermount3", "-u", mnt]); p.wait()
    shutil.rmtree(d)
    return c1 - c0, t1 - t0
bins = (("A", sys.argv[2]), ("B", sys.argv[3]))
res = {name: [] for name, _ in bins}
for i in range(int(sys.argv[1])):
    for name, b in bins:
        c, w = one(b)
        res[name].append((c, w))
        print(name, "cpu %.2fs wall %.2fs" % (c, w), flush=True)
for k, v in res.items():
    cs = sorted(x[0] for x in v); ws = sorted(x[1] for x in v)
    print(k, "median cpu %.2f s, median wall %.2f s (1M points)" % (cs[len(cs)//2], ws[len(ws)//2]))
