#!/usr/bin/python3
"""timecmd.py - wall time of a command, run several times, for bench/run.sh.

  timecmd.py REPEAT CMD [ARG...]       run CMD REPEAT times, its stdout to /dev/null
  timecmd.py REPEAT --listdir DIR      os.listdir(DIR) REPEAT times, in this process

Prints one line: "median=<s> min=<s> max=<s> runs=<s>,<s>,..." (the first run is the cold
one). A command that exits non-zero ends this with its status and its stderr.
"""
import os
import statistics
import subprocess
import sys
import time


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    repeat = int(argv[1])
    runs = []
    for _ in range(repeat):
        if argv[2] == "--listdir":
            t0 = time.perf_counter()
            n = len(os.listdir(argv[3]))
            runs.append(time.perf_counter() - t0)
            if n == 0:
                sys.stderr.write("timecmd: %s is empty\n" % argv[3])
                return 1
        else:
            t0 = time.perf_counter()
            p = subprocess.run(argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            runs.append(time.perf_counter() - t0)
            if p.returncode != 0:
                sys.stderr.write("timecmd: %s exited %d: %s" % (" ".join(argv[2:]),
                                 p.returncode, p.stderr.decode(errors="replace")))
                return p.returncode
    print("median=%.6f min=%.6f max=%.6f runs=%s" % (
        statistics.median(runs), min(runs), max(runs), ",".join("%.4f" % r for r in runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
