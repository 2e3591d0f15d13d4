#!/usr/bin/python3
"""seed.py - fill a database (or a local directory) for bench/run.sh, before mounting.

  seed.py ls DB ITERS HEAVY_ITERS POINTS
      project "bench" with experiments "flat" (ITERS iterations, no metrics) and "heavy"
      (ITERS iterations; the first HEAVY_ITERS hold POINTS points of metric "loss" each)
  seed.py cat DB POINTS
      project "bench", experiment "cat", one RUNNING iteration whose metric "loss" holds
      POINTS points; prints "<iteration id> <bytes of the rendered series>"
  seed.py table DB ITERS POINTS
      project "bench", experiment "table" (ITERS iterations, each with parameters lr,
      batch, seed and 3 points of metrics loss and acc) and experiment "big" (one
      iteration whose metrics loss, acc, lr, grad_norm hold POINTS points in all, for
      bench/dashboard.py); prints "<table experiment id> <big iteration id>"
  seed.py params DB N
      experiment "wide" of project "bench" (made by `ls` first) with one RUNNING iteration
      holding N parameters p000001.. (values 1..N)
  seed.py localdirs DIR N
      N empty subdirectories of DIR (the local-disk baseline of `ls`)
  seed.py localfiles DIR N
      N small files in DIR, named and filled as `params` names and fills its parameters
      (the local-disk baseline of `ls -l params/`)

DB must exist with the schema (`deardiary init DB`). Rows are inserted with the values the
store would write (schema/sqlite/001_baseline.sql): timestamps "YYYY-MM-DDTHH:MM:SS.mmmZ",
status_id 1, one metric_latest row per series with its max_step, point_count and
text_bytes (the length of the lines "<step> <value> <recorded_at>\\n" a cat renders), and
its metric_block rows (schema 009) when the schema has them.
"""
import os
import sqlite3
import sys

TS = "2026-11-23T12:00:00.000Z"


def value(i):
    # 0.001 .. 0.999: three significant digits at most, so Python's repr (shortest
    # round-trip) is the text the store renders (its shortest "%.15g"-style form)
    return ((i % 999) + 1) / 1000.0


def line_len(step, v):
    return len("%d %r %s\n" % (step, v, TS))


def connect(path):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("BEGIN")
    return db


def project(db, name):
    return db.execute("INSERT INTO project(name, created_date) VALUES (?, ?)",
                      (name, TS)).lastrowid


def experiment(db, pid, name):
    return db.execute("INSERT INTO experiment(project_id, status_id, name, created_date)"
                      " VALUES (?, 1, ?, ?)", (pid, name, TS)).lastrowid


def iterations(db, eid, n):
    first = db.execute("SELECT coalesce(max(id), 0) + 1 FROM iteration").fetchone()[0]
    db.executemany("INSERT INTO iteration(id, experiment_id, created_date, status_id)"
                   " VALUES (?, ?, ?, 1)", ((first + i, eid, TS) for i in range(n)))
    return list(range(first, first + n))


BLOCK = 64   # points per metric_block row (schema/sqlite/011_metric_blocks.sql)


def blocks(db, iteration_id, key, points):
    """The metric_block rows the store keeps for the points series() writes (steps 0, 1,
    ...; `deardiary fsck` checks them), when the schema has the table."""
    if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'metric_block'").fetchone():
        return
    rows = []
    for b in range((points + BLOCK - 1) // BLOCK):
        ids = range(b * BLOCK, min(points, (b + 1) * BLOCK))
        lo = min(ids, key=lambda i: (value(i), i))
        hi = min(ids, key=lambda i: (-value(i), i))
        rows.append((iteration_id, key, b, len(ids), ids[0], value(ids[0]), ids[-1],
                     value(ids[-1]), lo, lo, value(lo), hi, hi, value(hi)))
    db.executemany("INSERT INTO metric_block(iteration_id, key, block, n, ordered,"
                   " first_step, first_value, last_step, last_value, lo_id, lo_step,"
                   " lo_value, hi_id, hi_step, hi_value)"
                   " VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def series(db, iteration_id, key, points):
    text_bytes = sum(line_len(i, value(i)) for i in range(points))
    last = points - 1
    sid = db.execute("INSERT INTO metric_latest(iteration_id, key, value, step, recorded_at,"
                     " max_step, point_count, text_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (iteration_id, key, value(last), last, TS, last, points,
                      text_bytes)).lastrowid
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'metric_point'").fetchone():
        # schema 014: points name their series by id
        db.executemany("INSERT INTO metric_point(series_id, value, step, id, recorded_at)"
                       " VALUES (?, ?, ?, ?, ?)",
                       ((sid, value(i), i, i, TS) for i in range(points)))
    else:
        db.executemany("INSERT INTO metric(iteration_id, key, value, step, id, recorded_at)"
                       " VALUES (?, ?, ?, ?, ?, ?)",
                       ((iteration_id, key, value(i), i, i, TS) for i in range(points)))
    blocks(db, iteration_id, key, points)
    return text_bytes


def seed_ls(path, iters, heavy_iters, points):
    db = connect(path)
    pid = project(db, "bench")
    iterations(db, experiment(db, pid, "flat"), iters)
    heavy = iterations(db, experiment(db, pid, "heavy"), iters)
    for it in heavy[:heavy_iters]:
        series(db, it, "loss", points)
    db.execute("COMMIT")
    db.close()


def param_key(i):
    return "p%06d" % i


def seed_params(path, n):
    db = connect(path)
    (pid,) = db.execute("SELECT id FROM project WHERE name = 'bench'").fetchone()
    (it,) = iterations(db, experiment(db, pid, "wide"), 1)
    db.executemany("INSERT INTO parameter(iteration_id, key, value, updated_date)"
                   " VALUES (?, ?, ?, ?)", ((it, param_key(i), str(i), TS)
                                            for i in range(1, n + 1)))
    db.execute("COMMIT")
    db.close()
    print(it)


def localfiles(path, n):
    os.makedirs(path, exist_ok=True)
    for i in range(1, n + 1):
        with open(os.path.join(path, param_key(i)), "w") as f:
            f.write("%d\n" % i)


def seed_cat(path, points):
    db = connect(path)
    pid = project(db, "bench")
    (it,) = iterations(db, experiment(db, pid, "cat"), 1)
    n = series(db, it, "loss", points)
    db.execute("COMMIT")
    db.close()
    print(it, n)


def seed_table(path, iters, points):
    db = connect(path)
    pid = project(db, "bench")
    table = experiment(db, pid, "table")
    ids = iterations(db, table, iters)
    db.executemany("INSERT INTO parameter(iteration_id, key, value) VALUES (?, ?, ?)",
                   ((it, k, v) for n, it in enumerate(ids)
                    for k, v in (("lr", "%g" % (0.001 * (1 + n % 10))),
                                 ("batch", str(32 << (n % 3))), ("seed", str(n)))))
    for it in ids:
        series(db, it, "loss", 3)
        series(db, it, "acc", 3)
    (big,) = iterations(db, experiment(db, pid, "big"), 1)
    for key in ("loss", "acc", "lr", "grad_norm"):
        series(db, big, key, points // 4)
    db.execute("COMMIT")
    db.close()
    print(table, big)


def localdirs(path, n):
    os.makedirs(path, exist_ok=True)
    for i in range(1, n + 1):
        os.mkdir(os.path.join(path, str(i)))


def main(argv):
    if len(argv) >= 2 and argv[1] == "ls" and len(argv) == 6:
        seed_ls(argv[2], int(argv[3]), int(argv[4]), int(argv[5]))
    elif len(argv) >= 2 and argv[1] == "cat" and len(argv) == 4:
        seed_cat(argv[2], int(argv[3]))
    elif len(argv) >= 2 and argv[1] == "table" and len(argv) == 5:
        seed_table(argv[2], int(argv[3]), int(argv[4]))
    elif len(argv) >= 2 and argv[1] == "params" and len(argv) == 4:
        seed_params(argv[2], int(argv[3]))
    elif len(argv) >= 2 and argv[1] == "localdirs" and len(argv) == 4:
        localdirs(argv[2], int(argv[3]))
    elif len(argv) >= 2 and argv[1] == "localfiles" and len(argv) == 4:
        localfiles(argv[2], int(argv[3]))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
