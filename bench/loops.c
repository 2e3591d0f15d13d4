/*
 * loops.c - the timed inner loops of bench/run.sh, so that no interpreter sits between
 * the clock and the system calls.
 *
 *   loops append      PATH N SECS      open(O_WRONLY|O_APPEND), write("0.5\n"), close; N times
 *                                      or until SECS have passed, whichever comes first
 *   loops write1      PATH N SECS      one open; write("0.5\n") N times (or SECS); close
 *   loops writebatch  PATH LINES REPS  one open; one write() of LINES "0.5\n" lines, REPS
 *                                      times; close
 *   loops sqlite1     DB N SECS        plain SQLite: one INSERT per transaction (autocommit)
 *   loops sqlitebatch DB LINES REPS    plain SQLite: LINES INSERTs per transaction, REPS times
 *
 * The SQLite loops use the store's settings (WAL, synchronous=NORMAL) and the shape of its
 * `metric_point` table (schema/sqlite/014_metric_series_points.sql), with a prepared
 * statement.
 *
 * Output, one line: "count=<units> seconds=<elapsed> rate=<units per second>". Units are
 * loop iterations (append, write1, sqlite1) or lines/rows (writebatch, sqlitebatch).
 * Any failed call ends the run with its errno and exit status 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char POINT[] = "0.5\n";
#define POINT_LEN (sizeof POINT - 1)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *path)
{
    fprintf(stderr, "loops: %s %s: %s\n", what, path, strerror(errno));
    exit(1);
}

static void report(long long count, double secs)
{
    printf("count=%lld seconds=%.6f rate=%.1f\n", count, secs, secs > 0 ? count / secs : 0.0);
}

static void write_all(int fd, const char *buf, size_t len, const char *path)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("write", path);
        }
        buf += n;
        len -= (size_t)n;
    }
}

static int run_append(const char *path, long long n, double secs)
{
    double t0 = now(), deadline = t0 + secs;
    long long i;
    for (i = 0; i < n; i++) {
        int fd = open(path, O_WRONLY | O_APPEND);
        if (fd < 0)
            die("open", path);
        write_all(fd, POINT, POINT_LEN, path);
        if (close(fd) != 0)
            die("close", path);
        if ((i & 63) == 63 && now() > deadline) {
            i++;
            break;
        }
    }
    report(i, now() - t0);
    return 0;
}

static int run_write1(const char *path, long long n, double secs)
{
    double t0 = now(), deadline = t0 + secs;
    int fd = open(path, O_WRONLY | O_APPEND);
    if (fd < 0)
        die("open", path);
    long long i;
    for (i = 0; i < n; i++) {
        write_all(fd, POINT, POINT_LEN, path);
        if ((i & 255) == 255 && now() > deadline) {
            i++;
            break;
        }
    }
    if (close(fd) != 0)
        die("close", path);
    report(i, now() - t0);
    return 0;
}

static int run_writebatch(const char *path, long long lines, long long reps)
{
    size_t len = (size_t)lines * POINT_LEN;
    char *buf = malloc(len);
    if (!buf)
        die("malloc", path);
    for (long long i = 0; i < lines; i++)
        memcpy(buf + i * POINT_LEN, POINT, POINT_LEN);
    double t0 = now();
    int fd = open(path, O_WRONLY | O_APPEND);
    if (fd < 0)
        die("open", path);
    for (long long r = 0; r < reps; r++)
        write_all(fd, buf, len, path);
    if (close(fd) != 0)
        die("close", path);
    report(lines * reps, now() - t0);
    free(buf);
    return 0;
}

static void sql_check(sqlite3 *db, int rc, const char *what)
{
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fprintf(stderr, "loops: sqlite %s: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
}

static sqlite3 *sql_open(const char *path, sqlite3_stmt **ins)
{
    sqlite3 *db;
    sql_check(NULL, sqlite3_open(path, &db), "open");
    sql_check(db, sqlite3_exec(db,
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
        /* the store's points table (schema/sqlite/014_metric_series_points.sql) */
        "CREATE TABLE IF NOT EXISTS metric_point ("
        " series_id INTEGER NOT NULL,"
        " step INTEGER NOT NULL, id INTEGER NOT NULL CHECK (id >= 0), value REAL NOT NULL,"
        " recorded_at TEXT NOT NULL CHECK (recorded_at <> ''),"
        " PRIMARY KEY (series_id, step, id)) WITHOUT ROWID;",
        NULL, NULL, NULL), "schema");
    sql_check(db, sqlite3_prepare_v2(db,
        "INSERT INTO metric_point(series_id, value, step, id, recorded_at) VALUES (1,"
        " ?1, ?2, ?2, '2026-11-23T12:00:00.000Z')", -1, ins, NULL), "prepare");
    return db;
}

/* The next step of the series: a rerun on the same file appends, as the store would. */
static long long sql_next_step(sqlite3 *db)
{
    sqlite3_stmt *s;
    long long next = 0;
    sql_check(db, sqlite3_prepare_v2(db, "SELECT coalesce(max(step) + 1, 0) FROM metric_point",
                                     -1, &s, NULL), "prepare");
    if (sqlite3_step(s) == SQLITE_ROW)
        next = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return next;
}

static void sql_insert(sqlite3 *db, sqlite3_stmt *ins, long long step)
{
    sqlite3_bind_double(ins, 1, 0.5);
    sqlite3_bind_int64(ins, 2, step);
    sql_check(db, sqlite3_step(ins), "insert");
    sqlite3_reset(ins);
}

static int run_sqlite1(const char *path, long long n, double secs)
{
    sqlite3_stmt *ins;
    sqlite3 *db = sql_open(path, &ins);
    long long first = sql_next_step(db);
    double t0 = now(), deadline = t0 + secs;
    long long i;
    for (i = 0; i < n; i++) {
        sql_insert(db, ins, first + i);
        if ((i & 255) == 255 && now() > deadline) {
            i++;
            break;
        }
    }
    double t = now() - t0;
    sqlite3_finalize(ins);
    sqlite3_close(db);
    report(i, t);
    return 0;
}

static int run_sqlitebatch(const char *path, long long lines, long long reps)
{
    sqlite3_stmt *ins;
    sqlite3 *db = sql_open(path, &ins);
    long long step = sql_next_step(db);
    double t0 = now();
    for (long long r = 0; r < reps; r++) {
        sql_check(db, sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), "begin");
        for (long long i = 0; i < lines; i++)
            sql_insert(db, ins, step++);
        sql_check(db, sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), "commit");
    }
    double t = now() - t0;
    sqlite3_finalize(ins);
    sqlite3_close(db);
    report(lines * reps, t);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: loops append|write1|sqlite1 PATH N SECS\n"
                        "       loops writebatch|sqlitebatch PATH LINES REPS\n");
        return 2;
    }
    const char *mode = argv[1], *path = argv[2];
    long long a = atoll(argv[3]);
    double b = atof(argv[4]);
    if (strcmp(mode, "append") == 0)
        return run_append(path, a, b);
    if (strcmp(mode, "write1") == 0)
        return run_write1(path, a, b);
    if (strcmp(mode, "writebatch") == 0)
        return run_writebatch(path, a, (long long)b);
    if (strcmp(mode, "sqlite1") == 0)
        return run_sqlite1(path, a, b);
    if (strcmp(mode, "sqlitebatch") == 0)
        return run_sqlitebatch(path, a, (long long)b);
    fprintf(stderr, "loops: unknown mode %s\n", mode);
    return 2;
}
