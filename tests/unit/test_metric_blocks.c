/*
 * test_metric_blocks.c - the block summaries of metric series (metric_block, schema
 * 011_metric_blocks) and the chart read through them (dd_metric_scan, chart_read.h), on
 * every engine:
 *   - the downsampled chart read through the blocks is the chart read from every point,
 *     point for point, for monotonic, tied, rewinding, random, single-point and constant
 *     series written through every append path (a transaction, a REST batch, the log);
 *   - a monotonic series really is read as runs, a rewinding one point by point;
 *   - the blocks the store maintains are the ones the migration's backfill computes;
 *   - deleting a series or an iteration deletes its blocks;
 *   - fsck reports a wrong or missing block and its repair recomputes them.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "artifacts.h"
#include "chart_read.h"
#include "check.h"
#include "check_sql.h"
#include "downsample.h"
#include "engine_fixture.h"
#include "fsck.h"
#include "migrations.h"
#include "store.h"

/* A small deterministic generator (xorshift64), its state owned by the caller. */
static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* ---------------------------------------------------------------- charts, both ways */

static int ref_point(void *ctx, const dd_metric_row *row)
{
    dd_ds_add(ctx, (double)row->step, row->value);
    return 0;
}

/* The chart of (it, key) over `columns` columns from every point (as before the blocks)
 * and through the blocks; true when they keep the same points and y range. */
static bool charts_agree(dd_store *st, int64_t it, const char *key, size_t columns)
{
    dd_err err = {0};
    dd_metric_series m;
    char ts[DD_TS_LEN];
    if (dd_metric_series_get(st, it, key, &m, ts, &err) != DD_OK)
        return false;
    dd_downsample a, b;
    if (dd_ds_init(&a, columns, NAN, (double)m.max_step) ||
        dd_ds_init(&b, columns, NAN, (double)m.max_step))
        return false;
    bool ok = dd_metric_read(st, it, key, false, 0, 0, ref_point, &a, &err) == DD_OK &&
              dd_chart_read_series(st, it, key, &b, &err) == DD_OK;
    size_t na = 0, nb = 0;
    const dd_ds_point *pa = dd_ds_finish(&a, &na), *pb = dd_ds_finish(&b, &nb);
    ok = ok && na == nb && na > 0 && a.n_in == b.n_in && a.n_in == (uint64_t)m.point_count &&
         a.y_min == b.y_min && a.y_max == b.y_max && a.x_first == b.x_first &&
         a.x_last == b.x_last;
    for (size_t i = 0; ok && i < na; i++)
        ok = pa[i].x == pb[i].x && pa[i].y == pb[i].y;
    if (!ok)
        fprintf(stderr, "chart of %s over %zu columns: %zu points from the rows, %zu through"
                " the blocks; %llu/%llu fed of %lld; y %g..%g / %g..%g (%s)\n", key, columns,
                na, nb, (unsigned long long)a.n_in, (unsigned long long)b.n_in,
                (long long)m.point_count, a.y_min, a.y_max, b.y_min, b.y_max, err.msg);
    dd_ds_free(&a);
    dd_ds_free(&b);
    return ok;
}

/* What dd_metric_scan gave: runs and single points, taking a run whenever the chart would
 * (one column of `columns`). */
typedef struct scan_count {
    dd_downsample ds;
    double x_hi;            /* the range's end, as given to dd_ds_init */
    int64_t runs, run_points, points, restarts;
} scan_count;

static void count_restart(void *ctx)
{
    scan_count *c = ctx;
    c->runs = c->run_points = c->points = 0;
    c->restarts++;
    dd_ds_restart(&c->ds, NAN, c->x_hi);
}

static bool count_whole(void *ctx, int64_t a, int64_t b)
{
    return dd_ds_one_column(&((scan_count *)ctx)->ds, (double)a, (double)b);
}

static int count_point(void *ctx, const dd_metric_row *row)
{
    scan_count *c = ctx;
    dd_ds_add(&c->ds, (double)row->step, row->value);
    c->points++;
    return 0;
}

static int count_run(void *ctx, const dd_metric_run *r)
{
    scan_count *c = ctx;
    dd_ds_run run = {(uint64_t)r->n, {(double)r->first_step, r->first_value},
                     {(double)r->lo_step, r->lo_value}, {(double)r->hi_step, r->hi_value},
                     {(double)r->last_step, r->last_value}, (uint64_t)r->lo_offset,
                     (uint64_t)r->hi_offset};
    dd_ds_add_run(&c->ds, &run);
    c->runs++;
    c->run_points += r->n;
    return 0;
}

static const dd_metric_scan_ops count_ops = {count_restart, count_whole, count_point,
                                             count_run};

static scan_count scan_of(dd_store *st, int64_t it, const char *key, size_t columns,
                          int64_t max_step)
{
    scan_count c = {.x_hi = (double)max_step};
    dd_err err = {0};
    if (dd_ds_init(&c.ds, columns, NAN, (double)max_step) == 0) {
        CHECK_CODE(dd_metric_scan(st, it, key, &count_ops, &c, &err), DD_OK, &err);
        dd_ds_free(&c.ds);
    }
    return c;
}

/* ---------------------------------------------------------------- writing the series */

/* Append n points through dd_metric_append in batches of 1..max_batch. steps NULL: no
 * step (the default next step). */
static void append_batches(dd_store *st, int64_t it, const char *key, const int64_t *steps,
                           const double *values, size_t n, size_t max_batch, uint64_t *rng)
{
    dd_err err = {0};
    dd_metric_point *p = calloc(max_batch, sizeof *p);
    for (size_t i = 0; p && i < n;) {
        size_t k = 1 + next_rand(rng) % max_batch;
        if (k > n - i)
            k = n - i;
        for (size_t j = 0; j < k; j++)
            p[j] = (dd_metric_point){.value = values[i + j], .has_step = steps != NULL,
                                     .step = steps ? steps[i + j] : 0};
        CHECK_CODE(dd_metric_append(st, it, key, p, k, &err), DD_OK, &err);
        i += k;
    }
    free(p);
}

#define N_MONO 20000
#define N_TIES 6000
#define N_REWIND 3000
#define N_RANDOM 4000
#define N_CONST 5000
#define N_LOGGED 3000

static int64_t steps[N_MONO];
static double values[N_MONO];

static const char *const keys[] = {"mono", "ties", "rewind", "random", "single", "const",
                                   "logged", "rest"};

/* Every kind of series in iteration `it`, each through one of the append paths. */
static void write_series(dd_store *st, int64_t it)
{
    dd_err err = {0};
    uint64_t rng = 0x9e3779b97f4a7c15u;
    /* mono: default steps, a random walk */
    double v = 0;
    for (size_t i = 0; i < N_MONO; i++)
        values[i] = v += (double)(next_rand(&rng) % 2001) / 1000.0 - 1.0;
    append_batches(st, it, "mono", NULL, values, N_MONO, 300, &rng);
    /* ties: steps repeat three times, values from five levels (ties for the extremes) */
    for (size_t i = 0; i < N_TIES; i++)
        steps[i] = (int64_t)i / 3, values[i] = (double)(next_rand(&rng) % 5);
    append_batches(st, it, "ties", steps, values, N_TIES, 100, &rng);
    /* rewind: 0..1999, then back to 1000..1999 (a resumed run) */
    for (size_t i = 0; i < N_REWIND; i++)
        steps[i] = i < 2000 ? (int64_t)i : (int64_t)i - 1000,
        values[i] = sin((double)i / 50.0);
    append_batches(st, it, "rewind", steps, values, N_REWIND, 200, &rng);
    /* random: steps in any order, negative ones too */
    for (size_t i = 0; i < N_RANDOM; i++)
        steps[i] = (int64_t)(next_rand(&rng) % 100000) - 50000,
        values[i] = (double)(next_rand(&rng) % 1000000) / 7.0;
    append_batches(st, it, "random", steps, values, N_RANDOM, 64, &rng);
    /* single: one point; const: one value */
    values[0] = 3.5;
    append_batches(st, it, "single", NULL, values, 1, 1, &rng);
    for (size_t i = 0; i < N_CONST; i++)
        values[i] = 1.0;
    append_batches(st, it, "const", NULL, values, N_CONST, 500, &rng);
    /* logged: the metric log's batches of 1..3 points, sparse steps */
    CHECK_CODE(dd_metric_log_start(st, &err), DD_OK, &err);
    int64_t step = 0;
    for (size_t i = 0; i < N_LOGGED;) {
        dd_metric_point p[3];
        size_t k = 1 + next_rand(&rng) % 3;
        for (size_t j = 0; j < k; j++, i++)
            p[j] = (dd_metric_point){.value = (double)(next_rand(&rng) % 100), .has_step = true,
                                     .step = step += (int64_t)(next_rand(&rng) % 1000)};
        CHECK_CODE(dd_metric_append_logged(st, it, "logged", p, k, &err), DD_OK, &err);
    }
    CHECK_CODE(dd_metric_log_drain(st, &err), DD_OK, &err);
    /* rest: REST batches, two keys interleaved in each (grouped by key in the store) */
    for (int b = 0; b < 40; b++) {
        dd_metric_item items[100];
        for (int j = 0; j < 100; j++)
            items[j] = (dd_metric_item){j % 2 ? "rest" : "mono",
                                        {.value = (double)(next_rand(&rng) % 333)}};
        CHECK_CODE(dd_metric_append_items(st, it, items, 100, NULL, NULL, &err), DD_OK, &err);
    }
}

/* ---------------------------------------------------------------- the tests */

static void test_charts_match(dd_store *st, int64_t it)
{
    static const size_t columns[] = {700, 50, 7, 1};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
        for (size_t c = 0; c < sizeof columns / sizeof *columns; c++)
            CHECK(charts_agree(st, it, keys[k], columns[c]));
}

static void test_runs_used(dd_store *st, int64_t it)
{
    /* mono: 22000 points over 50 columns (440 a column): most blocks lie in one column */
    scan_count c = scan_of(st, it, "mono", 50, N_MONO + 2000 - 1);
    CHECK(c.restarts == 1);
    CHECK(c.runs > 0 && c.run_points + c.points == N_MONO + 2000);
    CHECK(c.points < (N_MONO + 2000) / 4);
    /* over 700 columns (31 a column) no block of 64 fits: every point is read */
    c = scan_of(st, it, "mono", 700, N_MONO + 2000 - 1);
    CHECK(c.runs == 0 && c.points == N_MONO + 2000);
    /* tied steps are still in order: runs */
    c = scan_of(st, it, "ties", 10, N_TIES / 3 - 1);
    CHECK(c.runs > 0 && c.run_points + c.points == N_TIES);
    /* a rewind (and random steps) make the write order differ from step order: points */
    c = scan_of(st, it, "rewind", 1, 1999);
    CHECK(c.runs == 0 && c.points == N_REWIND);
    c = scan_of(st, it, "random", 1, 50000);
    CHECK(c.runs == 0 && c.points == N_RANDOM);
    /* a series that does not exist: nothing, no error */
    c = scan_of(st, it, "absent", 10, 0);
    CHECK(c.runs == 0 && c.points == 0 && c.restarts == 1);
}

/* The migration's backfill, run again over the same points, makes the blocks the store
 * maintained. */
static void test_backfill_matches(const char *path)
{
    const dd_migration_set *set = dd_test_is_pg() ? &dd_migrations_postgres
                                                  : &dd_migrations_sqlite;
    const char *insert = NULL;
    for (int i = 0; i < set->count; i++)
        if (strcmp(set->list[i].name, "metric_blocks") == 0)
            insert = strstr(set->list[i].sql, "INSERT INTO metric_block");
    CHECK(insert != NULL);
    if (!insert)
        return;
    int64_t blocks = raw_int(path, "SELECT COUNT(*) FROM metric_block");
    CHECK(blocks > N_MONO / 64);
    CHECK(raw_exec(path, "CREATE TABLE mb_saved AS SELECT * FROM metric_block;"
                         " DELETE FROM metric_block") == 0);
    CHECK(raw_int(path, "SELECT COUNT(*) FROM metric_block") == 0);
    CHECK(raw_exec(path, insert) == 0);
    CHECK(raw_int(path, "SELECT COUNT(*) FROM metric_block") == blocks);
    CHECK(raw_int(path, "SELECT COUNT(*) FROM (SELECT * FROM mb_saved EXCEPT"
                        " SELECT * FROM metric_block) x") == 0);
    CHECK(raw_int(path, "SELECT COUNT(*) FROM (SELECT * FROM metric_block EXCEPT"
                        " SELECT * FROM mb_saved) x") == 0);
    /* and the rows say what they should of a known series: ties, block 1 */
    CHECK(raw_int(path, "SELECT n * 1000 + ordered FROM metric_block"
                        " WHERE key = 'ties' AND block = 1") == 64001);
    CHECK(raw_int(path, "SELECT ordered FROM metric_block WHERE key = 'rewind'"
                        " AND block = 31") == 0);    /* positions 1984..2047 hold the rewind */
    CHECK(raw_int(path, "SELECT COUNT(*) FROM metric_block WHERE key = 'single'"
                        " AND n = 1 AND lo_id = 0 AND hi_id = 0") == 1);
    CHECK(raw_int(path, "SELECT COUNT(*) FROM metric_block WHERE key = 'const'"
                        " AND lo_id = block * 64 AND hi_id = block * 64") == (N_CONST + 63) / 64);
    CHECK(raw_exec(path, "DROP TABLE mb_saved") == 0);
}

typedef struct fsck_seen {
    int problems;
    char last[512];
} fsck_seen;

static void fsck_report(void *ctx, dd_fsck_kind kind, const char *line)
{
    fsck_seen *f = ctx;
    if (kind == DD_FSCK_PROBLEM || kind == DD_FSCK_REPAIRED) {
        f->problems++;
        snprintf(f->last, sizeof f->last, "%s", line);
    }
}

static fsck_seen fsck_of(dd_store *st, bool repair)
{
    fsck_seen seen = {0};
    dd_err err = {0};
    dd_artifacts_config cfg = {0};
    dd_artifacts *a = NULL;
    CHECK_CODE(dd_artifacts_open(st, &cfg, &a, &err), DD_OK, &err);
    if (a) {
        dd_fsck_summary sum;
        CHECK_CODE(dd_fsck_run(a, repair, fsck_report, &seen, &sum, &err), DD_OK, &err);
        dd_artifacts_close(a);
    }
    return seen;
}

static void test_fsck(dd_store *st, const char *path, int64_t it)
{
    CHECK(fsck_of(st, false).problems == 0);
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE metric_block SET hi_value = hi_value + 1"
             " WHERE iteration_id = %lld AND key = 'mono' AND block = 3;"
             " DELETE FROM metric_block WHERE iteration_id = %lld AND key = 'ties'"
             " AND block = 5", (long long)it, (long long)it);
    CHECK(raw_exec(path, sql) == 0);
    fsck_seen seen = fsck_of(st, false);
    CHECK(seen.problems == 2);
    CHECK(strstr(seen.last, "metric ties") && strstr(seen.last, "block summaries"));
    seen = fsck_of(st, true);
    CHECK(seen.problems == 2);
    CHECK(strstr(seen.last, "recomputed") != NULL);
    CHECK(fsck_of(st, false).problems == 0);
    CHECK(charts_agree(st, it, "mono", 50));
    CHECK(charts_agree(st, it, "ties", 10));
}

static void test_deletes(dd_store *st, const char *path, int64_t it)
{
    dd_err err = {0};
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM metric_block WHERE iteration_id = %lld"
             " AND key = 'const'", (long long)it);
    CHECK(raw_int(path, sql) == (N_CONST + 63) / 64);
    CHECK_CODE(dd_metric_delete(st, it, "const", &err), DD_OK, &err);
    CHECK(raw_int(path, sql) == 0);
    /* a series made again starts its blocks again */
    dd_metric_point p = {.value = 2.0};
    CHECK_CODE(dd_metric_append(st, it, "const", &p, 1, &err), DD_OK, &err);
    CHECK(raw_int(path, sql) == 1);
    CHECK(charts_agree(st, it, "const", 7));
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM metric_block WHERE iteration_id = %lld",
             (long long)it);
    CHECK(raw_int(path, sql) > 0);
    CHECK_CODE(dd_iteration_delete(st, it, true, &err), DD_OK, &err);
    CHECK(raw_int(path, sql) == 0);
}

int main(void)
{
    char path[1024];
    dd_test_locator(path, sizeof path, "metric_blocks");
    dd_err err_buf = {0}, *err = &err_buf;
    dd_store *st = NULL;
    CHECK_CODE(dd_store_open(path, NULL, &st, err), DD_OK, err);
    if (!st)
        return dd_test_done();
    int64_t pr = 0, ex = 0, it = 0, other = 0;
    CHECK_CODE(dd_project_create(st, 0, "p", &pr, err), DD_OK, err);
    CHECK_CODE(dd_experiment_create(st, pr, "e", &ex, err), DD_OK, err);
    CHECK_CODE(dd_iteration_create(st, ex, 0, &it, err), DD_OK, err);
    CHECK_CODE(dd_iteration_create(st, ex, 0, &other, err), DD_OK, err);
    write_series(st, it);
    dd_metric_point p = {.value = 1.0};
    CHECK_CODE(dd_metric_append(st, other, "mono", &p, 1, err), DD_OK, err);
    test_charts_match(st, it);
    test_runs_used(st, it);
    test_backfill_matches(path);
    test_fsck(st, path, it);
    test_deletes(st, path, it);
    /* the other iteration's series kept its block */
    CHECK(charts_agree(st, other, "mono", 3));
    CHECK(fsck_of(st, false).problems == 0);
    dd_store_close(st);
    return dd_test_done();
}
