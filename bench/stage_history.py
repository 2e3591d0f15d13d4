#!/usr/bin/python3
"""stage_history.py - what recording the stage history costs (issue 17). Not a test.

  bench/stage_history.py NEW_BIN BASE_BIN [N] [REPEAT]

For each binary (NEW_BIN: this tree; BASE_BIN: a build of the revision before the history,
e.g. `git archive REV` built with RelWithDebInfo), a fresh SQLite registry is mounted in
$BENCH_TMPDIR (default /var/tmp, local disk) and one model gets two versions. A run times,
through the mount, N promotions (`echo PRODUCTION > versions/<1|2>/stage`, alternating, so
each archives the other: with the history, two stage_change rows each) and, as the
baseline in the same run on the same mount, N writes of a version's `description` (a
one-row UPDATE, unchanged by the history). Runs alternate between the binaries, REPEAT
times; the median per operation is printed, the ratio promotion/description per binary,
and NEW/BASE for promotions. Last, on NEW_BIN's mount (whose history then holds more
than 1000 rows): `cat models/m/history` (the newest 1000 lines) next to `cat model.yaml`.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def read(path):
    with open(path) as f:
        return f.read()


class Registry:
    """A fresh registry mounted by `binary`, with model m holding versions 1 and 2."""

    def __init__(self, binary, root):
        self.binary, self.root = binary, root
        self.db, self.mnt = os.path.join(root, "r.db"), os.path.join(root, "mnt")
        os.mkdir(self.mnt)
        subprocess.run([binary, "init", self.db], check=True, capture_output=True)
        subprocess.run([binary, "mount", self.db, self.mnt], check=True)
        exp = self.p("projects", "p", "experiments", "e")
        os.makedirs(exp)
        it = read(os.path.join(exp, "iterations", "new")).strip()
        os.mkdir(self.p("projects", "p", "models", "m"))
        for want in ("1", "2"):
            assert read(self.p("models", "m", "versions", "new", it)).strip() == want

    def p(self, *parts):
        return os.path.join(self.mnt, *parts)

    def close(self):
        subprocess.run(["fusermount3", "-u", self.mnt], check=True)


def per_op(fn, n):
    t0 = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - t0) / n


def promote(r):
    return lambda i: write(r.p("models", "m", "versions", str(1 + i % 2), "stage"), "PRODUCTION\n")


def describe(r):
    return lambda i: write(r.p("models", "m", "versions", str(1 + i % 2), "description"),
                           "run %d\n" % i)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    new_bin, base_bin = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    repeat = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    tmp = tempfile.mkdtemp(prefix="dd_stagehist_", dir=os.environ.get("BENCH_TMPDIR", "/var/tmp"))
    regs = {}
    try:
        for name, binary in (("new", new_bin), ("base", base_bin)):
            os.mkdir(os.path.join(tmp, name))
            regs[name] = Registry(binary, os.path.join(tmp, name))
        times = {(name, op): [] for name in regs for op in ("promote", "describe")}
        for _ in range(repeat):
            for name, r in regs.items():
                times[(name, "promote")].append(per_op(promote(r), n))
                times[(name, "describe")].append(per_op(describe(r), n))
        med = {k: statistics.median(v) for k, v in times.items()}
        print("N=%d per run, %d runs each, median per operation (runs interleaved)" % (n, repeat))
        for name in regs:
            print("%-4s promotion %.3f ms  description %.3f ms  promotion/description %.2f"
                  % (name, med[(name, "promote")] * 1e3, med[(name, "describe")] * 1e3,
                     med[(name, "promote")] / med[(name, "describe")]))
        print("promotion new/base %.2f  (description new/base %.2f)"
              % (med[("new", "promote")] / med[("base", "promote")],
                 med[("new", "describe")] / med[("base", "describe")]))
        r = regs["new"]
        lines = len(read(r.p("models", "m", "history")).splitlines())
        cats = 200
        hist = [per_op(lambda i: read(r.p("models", "m", "history")), cats) for _ in range(repeat)]
        yaml = [per_op(lambda i: read(r.p("models", "m", "model.yaml")), cats)
                for _ in range(repeat)]
        print("cat history (%d lines) %.3f ms  cat model.yaml %.3f ms  ratio %.1f"
              % (lines, statistics.median(hist) * 1e3, statistics.median(yaml) * 1e3,
                 statistics.median(hist) / statistics.median(yaml)))
    finally:
        for r in regs.values():
            r.close()
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
