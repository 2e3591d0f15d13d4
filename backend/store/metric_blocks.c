/*
 * metric_blocks.c - per-series block summaries (metric_block, schema 011_metric_blocks)
 * and the read of a series through them (dd_metric_scan), for charts of long series.
 *
 * Write side: db_metric_append_at (metrics.c) loads the series' last block with its
 * summary row (one LEFT JOIN, no statement of its own), folds each inserted point into
 * it with db_block_add, and writes each block the batch touched once (db_block_store):
 * per batch one INSERT or UPDATE more, plus one per 64 points. Every way points are
 * written (the metric log's drain, REST batches, the fs append path, restore) goes
 * through db_metric_append_at; every way they are deleted deletes the blocks next to them.
 *
 * Read side: a series whose steps never decrease in write order is, in step order, its
 * blocks one after the other, so a reader that can use a whole block (a chart column
 * holding all of it) gets one row instead of 64; blocks it cannot use are read as points
 * by their (step, id) range, which is exactly the block's points in such a series.
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "store_local.h"

/* ---------------------------------------------------------------- writing */

void db_block_from_row(db_stmt *s, int col, int64_t block, db_block *b)
{
    *b = (db_block){.block = block};
    if (db_col_is_null(s, col))
        return;
    b->stored = true;
    b->n = db_col_int64(s, col);
    b->ordered = db_col_int64(s, col + 1) != 0;
    b->first_step = db_col_int64(s, col + 2);
    b->first_value = db_col_double(s, col + 3);
    b->last_step = db_col_int64(s, col + 4);
    b->last_value = db_col_double(s, col + 5);
    b->lo_id = db_col_int64(s, col + 6);
    b->lo_step = db_col_int64(s, col + 7);
    b->lo_value = db_col_double(s, col + 8);
    b->hi_id = db_col_int64(s, col + 9);
    b->hi_step = db_col_int64(s, col + 10);
    b->hi_value = db_col_double(s, col + 11);
}

dd_code db_block_store(dd_conn *c, int64_t iteration_id, const char *key, db_block *b,
                       dd_err *err)
{
    if (b->n == 0)
        return DD_OK;
    dd_code code = b->stored
        ? db_exec(c, err, "metric block",
                  "UPDATE metric_block SET n = ?, ordered = ?, first_step = ?, first_value = ?,"
                  " last_step = ?, last_value = ?, lo_id = ?, lo_step = ?, lo_value = ?,"
                  " hi_id = ?, hi_step = ?, hi_value = ?"
                  " WHERE iteration_id = ? AND key = ? AND block = ?", "iiididiidiiditi",
                  b->n, (int64_t)b->ordered, b->first_step, b->first_value, b->last_step,
                  b->last_value, b->lo_id, b->lo_step, b->lo_value, b->hi_id, b->hi_step,
                  b->hi_value, iteration_id, key, b->block)
        : db_exec(c, err, "metric block",
                  "INSERT INTO metric_block(iteration_id, key, block, n, ordered, first_step,"
                  " first_value, last_step, last_value, lo_id, lo_step, lo_value, hi_id,"
                  " hi_step, hi_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  "itiiiididiidiid", iteration_id, key, b->block, b->n, (int64_t)b->ordered,
                  b->first_step, b->first_value, b->last_step, b->last_value, b->lo_id,
                  b->lo_step, b->lo_value, b->hi_id, b->hi_step, b->hi_value);
    if (code == DD_OK)
        b->stored = true;
    return code;
}

dd_code db_block_add(dd_conn *c, int64_t iteration_id, const char *key, db_block *b,
                     int64_t position, int64_t step, double value, dd_err *err)
{
    int64_t block = position / DB_METRIC_BLOCK;
    if (b->n > 0 && block != b->block) {
        dd_code code = db_block_store(c, iteration_id, key, b, err);
        if (code != DD_OK)
            return code;
        *b = (db_block){.block = block};
    }
    db_block_fold(b, position, step, value);
    return DD_OK;
}

void db_block_fold(db_block *b, int64_t position, int64_t step, double value)
{
    int64_t block = position / DB_METRIC_BLOCK;
    if (b->n == 0) {
        /* M4 keeps the first point reaching an extreme: later equal values do not move
         * lo/hi (strict comparisons below) */
        *b = (db_block){.stored = b->stored, .block = block, .n = 1, .ordered = true,
                        .first_step = step, .last_step = step, .lo_id = position,
                        .lo_step = step, .hi_id = position, .hi_step = step,
                        .first_value = value, .last_value = value, .lo_value = value,
                        .hi_value = value};
        return;
    }
    if (step < b->last_step)
        b->ordered = false;
    if (value < b->lo_value)
        b->lo_id = position, b->lo_step = step, b->lo_value = value;
    if (value > b->hi_value)
        b->hi_id = position, b->hi_step = step, b->hi_value = value;
    b->last_step = step;
    b->last_value = value;
    b->n++;
}

/* ---------------------------------------------------------------- reading */

typedef struct scan_ctx {
    const dd_metric_scan_ops *ops;
    void *ctx;
    bool stopped;              /* a callback asked to stop */
    /* the blocks, while they still describe the series as runs in step order */
    dd_metric_run *runs;
    size_t n, cap;
    int64_t points;            /* sum of the runs' n */
    bool usable;
} scan_ctx;

static int point_row(db_stmt *s, void *arg)
{
    scan_ctx *x = arg;
    dd_metric_row r = {
        .id = db_col_int64(s, 0),
        .step = db_col_int64(s, 1),
        .value = db_col_double(s, 2),
        .recorded_at = "",
    };
    x->stopped = x->ops->point(x->ctx, &r) != 0;
    return x->stopped;
}

/* One block row into x->runs; stops (usable false) at the first sign that the blocks are
 * not the series in step order: a gap, a short block before the last, a block whose steps
 * decrease, or one starting below its predecessor's last step. */
static int block_row(db_stmt *s, void *arg)
{
    scan_ctx *x = arg;
    int64_t block = db_col_int64(s, 0);
    dd_metric_run r = {
        .first_position = block * DB_METRIC_BLOCK,
        .n = db_col_int64(s, 1),
        .first_step = db_col_int64(s, 3),
        .first_value = db_col_double(s, 4),
        .last_step = db_col_int64(s, 5),
        .last_value = db_col_double(s, 6),
        .lo_offset = db_col_int64(s, 7) - block * DB_METRIC_BLOCK,
        .lo_step = db_col_int64(s, 8),
        .lo_value = db_col_double(s, 9),
        .hi_offset = db_col_int64(s, 10) - block * DB_METRIC_BLOCK,
        .hi_step = db_col_int64(s, 11),
        .hi_value = db_col_double(s, 12),
    };
    const dd_metric_run *prev = x->n ? &x->runs[x->n - 1] : NULL;
    bool ok = db_col_int64(s, 2) != 0 && block == (int64_t)x->n && r.n >= 1 &&
              r.lo_offset >= 0 && r.lo_offset < r.n && r.hi_offset >= 0 && r.hi_offset < r.n &&
              (!prev || (prev->n == DB_METRIC_BLOCK && prev->last_step <= r.first_step));
    if (ok && x->n == x->cap) {
        size_t cap = x->cap ? 2 * x->cap : 256;
        dd_metric_run *runs = realloc(x->runs, cap * sizeof *runs);
        ok = runs != NULL;    /* out of memory: the points are read instead */
        if (runs)
            x->runs = runs, x->cap = cap;
    }
    if (!ok) {
        x->usable = false;
        return 1;
    }
    x->runs[x->n++] = r;
    x->points += r.n;
    return 0;
}

/* One run: whole when the reader takes it so, else its points by their (step, id) range. */
static dd_code scan_run(dd_conn *c, int64_t iteration_id, const char *key, scan_ctx *x,
                        const dd_metric_run *r, dd_err *err)
{
    if (x->ops->whole(x->ctx, r->first_step, r->last_step)) {
        x->stopped = x->ops->run(x->ctx, r) != 0;
        return DD_OK;
    }
    db_stmt *s;
    dd_code code = db_prep(c, &s, err, "SELECT id, step, value FROM metric_point"
                           " WHERE series_id = " DB_SERIES_ID("?1", "?2")
                           " AND (step, id) >= (?3, ?4)"
                           " AND (step, id) <= (?5, ?6) ORDER BY step, id", "itiiii",
                           iteration_id, key, r->first_step, r->first_position, r->last_step,
                           r->first_position + r->n - 1);
    return code == DD_OK ? db_each(c, s, "reading a metric series", point_row, x, err) : code;
}

static dd_code scan_in(dd_conn *c, int64_t iteration_id, const char *key, scan_ctx *x,
                       dd_err *err)
{
    int64_t count = 0;
    db_stmt *s;
    dd_code code = db_int(c, &count, err, "metric series",
                          "SELECT CAST(COALESCE(MAX(point_count), 0) AS BIGINT) FROM metric_latest"
                          " WHERE iteration_id = ? AND key = ?", "it", iteration_id, key);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT block, n, ordered, first_step, first_value,"
                       " last_step, last_value, lo_id, lo_step, lo_value, hi_id, hi_step,"
                       " hi_value FROM metric_block WHERE iteration_id = ? AND key = ?"
                       " ORDER BY block", "it", iteration_id, key);
    if (code == DD_OK)
        code = db_each(c, s, "reading metric blocks", block_row, x, err);
    if (code != DD_OK)
        return code;
    if (!x->usable || x->points != count) {
        /* steps out of order (or blocks that do not add up): every point, as today */
        code = db_prep(c, &s, err, "SELECT id, step, value FROM metric_point"
                       " WHERE series_id = " DB_SERIES_ID("?", "?") " ORDER BY step, id", "it",
                       iteration_id, key);
        return code == DD_OK ? db_each(c, s, "reading a metric series", point_row, x, err)
                             : code;
    }
    for (size_t i = 0; i < x->n && code == DD_OK && !x->stopped; i++)
        code = scan_run(c, iteration_id, key, x, &x->runs[i], err);
    return code;
}

dd_code local_metric_scan(dd_store *st, int64_t iteration_id, const char *key,
                       const dd_metric_scan_ops *ops, void *ctx, dd_err *err)
{
    dd_code code = db_drain(st, err);
    if (code != DD_OK)
        return code;
    scan_ctx x = {.ops = ops, .ctx = ctx};
    db_txn t;
    DB_TXN(t, st, DB_TXN_READ, err) {
        /* a retried snapshot starts from nothing, on both sides */
        x.n = 0, x.points = 0, x.usable = true, x.stopped = false;
        ops->restart(ctx);
        t.code = scan_in(t.c, iteration_id, key ? key : "", &x, err);
    }
    free(x.runs);
    return t.code;
}
