#!/usr/bin/python3
"""report.py - the results table of bench/run.sh.

  report.py RESULTS.tsv      prints a Markdown table

Each line of RESULTS.tsv (tab-separated):
  bench  figure  unit  better  ours  baseline_name  baseline  target
better is "hi" (a rate: more is better) or "lo" (a time or a size: less is better).
ratio is how many times the baseline's performance ours reaches: ours/baseline for "hi",
baseline/ours for "lo"; so 1.0 is "as good as the baseline", above 1 is better.
target is empty (information only), "ratio>=X", "ours>=X", "ours<X" or "ours<=X".
"""
import sys


def fmt(v, unit):
    if v is None:
        return "—"
    if unit == "s":
        return "%.3f s" % v
    if abs(v) >= 100:
        return "{:,.0f} {}".format(v, unit)
    return "{:,.2f} {}".format(v, unit)


def judge(target, ours, ratio):
    if not target:
        return "info"
    for op in (">=", "<=", "<", ">"):
        if op in target:
            lhs, rhs = target.split(op, 1)
            x = ratio if lhs.strip() == "ratio" else ours
            if x is None:
                return "n/a"
            y = float(rhs.replace(",", "").replace("_", ""))
            ok = {">=": x >= y, "<=": x <= y, "<": x < y, ">": x > y}[op]
            return "PASS" if ok else "**FAIL**"
    return "?"


def target_text(target, unit):
    if not target:
        return "—"
    for op in (">=", "<=", "<", ">"):
        if op in target:
            lhs, rhs = target.split(op, 1)
            op_t = {">=": "≥", "<=": "≤", "<": "<", ">": ">"}[op]
            if lhs.strip() == "ratio":
                return "ratio %s %s" % (op_t, rhs)
            return "%s %s" % (op_t, fmt(float(rhs), unit))
    return target


def main(argv):
    rows = []
    with open(argv[1]) as f:
        for line in f:
            if not line.strip():
                continue
            bench, figure, unit, better, ours, bname, base, target = \
                line.rstrip("\n").split("\t")
            ours = float(ours) if ours else None
            base = float(base) if base else None
            ratio = None
            if ours and base:
                ratio = ours / base if better == "hi" else base / ours
            rows.append((bench, figure, fmt(ours, unit),
                         "%s: %s" % (bname, fmt(base, unit)) if bname else "—",
                         "%.2f" % ratio if ratio is not None else "—",
                         target_text(target, unit), judge(target, ours, ratio)))
    print("| bench | figure | ours | baseline | ratio | target | result |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    fails = sum(1 for r in rows if "FAIL" in r[-1])
    print()
    print("ratio = ours/baseline for rates, baseline/ours for times and sizes (> 1: ours is"
          " better). %d target(s) missed." % fails)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
