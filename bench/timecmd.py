#!/usr/bin/python3
"""timecmd.py - wall time of a command, run several times, for bench/run.sh.

  timecmd.py REPEAT [OPTION...] CMD [ARG...]   run CMD REPEAT times, its stdout to /dev/null
  timecmd.py REPEAT --listdir DIR              os.listdir(DIR) REPEAT times, in this process
  timecmd.py REPEAT [OPTION...] CMD [ARG...] --- [OPTION...] CMD2 [ARG...] [--- ...]
      several commands, interleaved: run 1 of each in order, then run 2 of each, ...; so a
      machine whose speed drifts during the measurement (other work, the host's disk cache)
      weighs on each command alike. One output line per command, in the order given.

Options (before a CMD; each applies to that command only):
  --sync          before each run, untimed: sync, so no dirty pages left by earlier work
                  are written back during the run
  --drop-caches   before each run, untimed: sync, then `echo 3 > /proc/sys/vm/drop_caches`
                  (needs root), so the run reads from disk
  --rss PID       while each run lasts, sample VmRSS of process PID every 50 ms (and once
                  just before the run starts and once just after it ends)
"{i}" in an ARG is replaced by the run's number (1..REPEAT), e.g. a new file name per run.

Prints, per command, one line: "median=<s> min=<s> max=<s> runs=<s>,<s>,..." (the first
run is the cold one), and with --rss also " rss_before_kb=<before the first run>
rss_peak_kb=<over all runs> rss_growth_kb=<peak minus before, per run>,...
rss_samples=<total>". A command that exits non-zero ends this with its status and stderr.
"""
import os
import statistics
import subprocess
import sys
import threading
import time

SAMPLE_S = 0.05


def vmrss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


class Sampler(threading.Thread):
    """VmRSS of pid every SAMPLE_S seconds until stop(): the peak and the sample count."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.before = vmrss_kb(pid)
        self.peak = self.before
        self.samples = 1
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(SAMPLE_S):
            self.take()

    def take(self):
        self.peak = max(self.peak, vmrss_kb(self.pid))
        self.samples += 1

    def stop(self):
        self.done.set()
        self.join()
        self.take()


class Job:
    """One command, its options and its measurements."""

    def __init__(self, args):
        self.sync = self.drop = False
        self.rss_pid = None
        while args and args[0] in ("--sync", "--drop-caches", "--rss"):
            if args[0] == "--sync":
                self.sync = True
            elif args[0] == "--drop-caches":
                self.drop = True
            else:
                self.rss_pid = int(args[1])
                args = args[1:]
            args = args[1:]
        if not args:
            raise ValueError("no command")
        self.args = args
        self.runs, self.growth = [], []
        self.rss_before, self.rss_peak, self.samples = None, 0, 0

    def run(self, i):
        """Run i (1-based). Returns 0, or the command's exit status after reporting it."""
        if self.args[0] == "--listdir":
            t0 = time.perf_counter()
            n = len(os.listdir(self.args[1]))
            self.runs.append(time.perf_counter() - t0)
            if n == 0:
                sys.stderr.write("timecmd: %s is empty\n" % self.args[1])
                return 1
            return 0
        cmd = [a.replace("{i}", str(i)) for a in self.args]
        if self.drop:
            drop_caches()
        elif self.sync:
            os.sync()
        sampler = None
        if self.rss_pid is not None:
            sampler = Sampler(self.rss_pid)
            sampler.start()
        t0 = time.perf_counter()
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.runs.append(time.perf_counter() - t0)
        if sampler:
            sampler.stop()
            self.growth.append(sampler.peak - sampler.before)
            self.samples += sampler.samples
            self.rss_peak = max(self.rss_peak, sampler.peak)
            if self.rss_before is None:
                self.rss_before = sampler.before
        if p.returncode != 0:
            sys.stderr.write("timecmd: %s exited %d: %s" % (" ".join(cmd),
                             p.returncode, p.stderr.decode(errors="replace")))
        return p.returncode

    def line(self):
        r = self.runs
        out = "median=%.6f min=%.6f max=%.6f runs=%s" % (
            statistics.median(r), min(r), max(r), ",".join("%.4f" % x for x in r))
        if self.rss_pid is not None:
            out += " rss_before_kb=%d rss_peak_kb=%d rss_growth_kb=%s rss_samples=%d" % (
                self.rss_before, self.rss_peak, ",".join(str(g) for g in self.growth),
                self.samples)
        return out


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    repeat = int(argv[1])
    groups, cur = [], []
    for a in argv[2:]:
        if a == "---":
            groups.append(cur)
            cur = []
        else:
            cur.append(a)
    groups.append(cur)
    try:
        jobs = [Job(g) for g in groups]
    except ValueError:
        sys.stderr.write(__doc__)
        return 2
    for i in range(1, repeat + 1):
        for job in jobs:
            rc = job.run(i)
            if rc != 0:
                return rc
    for job in jobs:
        print(job.line())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
