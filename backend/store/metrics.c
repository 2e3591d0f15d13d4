/*
 * metrics.c - metric series: appending points, reading a series in step order, and the
 * per-series summary (metric_latest) that keeps listings off the metric history.
 *
 * A batch is one transaction: the series' summary row is read once, the points are
 * inserted in array order (a point without a step gets max(step)+1, counting the batch's
 * own earlier points), and the summary is written back once.
 *
 * The summary row is the series: its id (metric_latest.id) is what each point names
 * (metric_point.series_id, schema 014), so a new series' row is inserted before its
 * points and updated with their summary after them.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "textfmt.h"
#include "store_local.h"

typedef struct series_state {
    bool exists;            /* the series has points */
    int64_t id;             /* metric_latest's id, when the row exists (else 0) */
    double value;
    int64_t step;
    char recorded_at[DD_TS_LEN];
    int64_t max_step;
    int64_t count;
    int64_t text_bytes;
    db_block block;         /* the series' last block (metric_blocks.c): where the next
                               point goes */
} series_state;

static dd_code series_load(dd_conn *c, int64_t iteration_id, const char *key,
                           series_state *ss, dd_err *err)
{
    db_stmt *s;
    memset(ss, 0, sizeof *ss);
    /* the block the next point goes to, in the same read (no row: it starts empty) */
    dd_code code = db_prep(c, &s, err,
                           "SELECT l.value, l.step, l.recorded_at, l.max_step, l.point_count,"
                           " l.text_bytes, l.id, " DB_BLOCK_COLS " FROM metric_latest l"
                           " LEFT JOIN metric_block b ON b.iteration_id = l.iteration_id"
                           " AND b.key = l.key AND b.block = l.point_count / ?"
                           " WHERE l.iteration_id = ? AND l.key = ?",
                           "iit", (int64_t)DB_METRIC_BLOCK, iteration_id, key);
    if (code != DD_OK)
        return code;
    bool row;
    code = db_step(c, s, &row, "reading a metric series", err);
    if (code == DD_OK && row) {
        ss->exists = true;
        ss->value = db_col_double(s, 0);
        ss->step = db_col_int64(s, 1);
        db_col_ts(s, 2, ss->recorded_at);
        ss->max_step = db_col_int64(s, 3);
        ss->count = db_col_int64(s, 4);
        ss->text_bytes = db_col_int64(s, 5);
        ss->id = db_col_int64(s, 6);
        db_block_from_row(s, 7, ss->count / DB_METRIC_BLOCK, &ss->block);
    }
    db_reset(s);
    return code;
}

/* A new series' row, before its first points (they name it by id). Its summary columns
 * are placeholders until series_store, in the same transaction. No upsert: the caller
 * holds the iteration's lock and found no row, so a conflict is a fault to report. */
static dd_code series_create(dd_conn *c, int64_t iteration_id, const char *key,
                             series_state *ss, const char *now, dd_err *err)
{
    return db_insert_id(c, &ss->id, err, "metric series",
                        "INSERT INTO metric_latest(iteration_id, key, value, step, recorded_at,"
                        " max_step, point_count, text_bytes, updated_date)"
                        " VALUES (?, ?, 0, 0, ?, 0, 0, 0, ?) RETURNING id",
                        "ittt", iteration_id, key, now, now);
}

/* Write the summary back: an UPDATE by id (no unique-index probe). */
static dd_code series_store(dd_conn *c, const series_state *ss, const char *now, dd_err *err)
{
    return db_exec(c, err, "metric series",
                   "UPDATE metric_latest SET value = ?, step = ?, recorded_at = ?,"
                   " max_step = ?, point_count = ?, text_bytes = ?, updated_date = ?"
                   " WHERE id = ?",
                   "ditiiiti", ss->value, ss->step, ss->recorded_at, ss->max_step,
                   ss->count, ss->text_bytes, now, ss->id);
}

static dd_code point_check(const dd_metric_point *p, char ts[DD_TS_LEN], const char *now,
                           dd_err *err)
{
    if (!isfinite(p->value))
        return dd_fail(err, DD_INVALID, "metric values must be finite numbers (NaN and"
                       " infinities are refused)");
    if (!p->recorded_at[0]) {
        memcpy(ts, now, DD_TS_LEN);
        return DD_OK;
    }
    return dd_time_parse(p->recorded_at, ts, err);
}

/* The recorded_at text the last point_check_seq parsed into its ts (text[0] == 0: none). */
typedef struct ts_memo {
    char text[DD_TS_LEN];
} ts_memo;

/* point_check for the points of one array in turn, `ts` kept between calls: a point whose
 * recorded_at is the text the previous point's ts came from (a REST batch's shared time,
 * which every item carries) reuses that parse instead of parsing again per point. */
static dd_code point_check_seq(const dd_metric_point *p, char ts[DD_TS_LEN], ts_memo *m,
                               const char *now, dd_err *err)
{
    if (isfinite(p->value) && p->recorded_at[0] && strcmp(m->text, p->recorded_at) == 0)
        return DD_OK;
    dd_code code = point_check(p, ts, now, err);
    if (code == DD_OK && p->recorded_at[0])
        memcpy(m->text, p->recorded_at, DD_TS_LEN);
    else
        m->text[0] = '\0';
    return code;
}

/*
 * Points are inserted DB_POINT_ROWS to a statement: on a server engine each statement is a
 * round trip, and 10,000 points one INSERT each spent nearly all their time waiting for
 * replies (BENCHMARKS.md, "PostgreSQL mounts"); on SQLite the count matters little (each
 * row's b-tree work dominates: BENCHMARKS.md, serve, fifth session). Each row names its
 * series, so one statement takes the rows of many series (a group of REST batches puts a
 * few points in each of a hundred series: one round trip for 64 of them, not one each).
 * The statements are fixed 64-, 16- and 1-row literals (the statement cache keeps them
 * prepared): a remainder of up to 63 rows takes at most 3 + 15 statements.
 */
#define ROW1 "(?, ?, ?, ?, ?)"
#define ROW4 ROW1 ", " ROW1 ", " ROW1 ", " ROW1
#define ROW16 ROW4 ", " ROW4 ", " ROW4 ", " ROW4
#define FMT1 "iiidt"
#define FMT4 FMT1 FMT1 FMT1 FMT1
#define FMT16 FMT4 FMT4 FMT4 FMT4
#define ARG1(k) r->series_id[k], r->step[k], r->id[k], r->value[k], (const char *)r->ts[k]
#define ARG4(k) ARG1(k), ARG1(k + 1), ARG1(k + 2), ARG1(k + 3)
#define ARG16(k) ARG4(k), ARG4(k + 4), ARG4(k + 8), ARG4(k + 12)
#define INSERT_POINTS "INSERT INTO metric_point(series_id, step, id, value, recorded_at) VALUES "

dd_code db_point_rows_flush(dd_conn *c, db_point_rows *r, dd_err *err)
{
    _Static_assert(DB_POINT_ROWS == 64, "the 64-row statement below");
    dd_code code = DD_OK;
    int k = 0;
    if (r->n == DB_POINT_ROWS)
        code = db_exec(c, err, "metric points",
                       INSERT_POINTS ROW16 ", " ROW16 ", " ROW16 ", " ROW16,
                       FMT16 FMT16 FMT16 FMT16, ARG16(0), ARG16(16), ARG16(32), ARG16(48)),
        k = DB_POINT_ROWS;
    for (; k + 16 <= r->n && code == DD_OK; k += 16)
        code = db_exec(c, err, "metric points", INSERT_POINTS ROW16, FMT16, ARG16(k));
    for (; k < r->n && code == DD_OK; k++)
        code = db_exec(c, err, "metric point", INSERT_POINTS ROW1, FMT1, ARG1(k));
    r->n = 0;
    r->flush_failed = r->flush_failed || code != DD_OK;
    return code;
}

/*
 * Where the engine has bulk rows (db_can_copy: PostgreSQL's COPY FROM STDIN), a batch of
 * COPY_MIN_POINTS or more goes as one copy instead: two round trips whatever its size, and
 * the server skips the parse, plan and executor start of every 64-row statement. The
 * 64-row INSERT sends the remainder row by row, so already 8 points cost up to 8 round
 * trips that way; below that the copy's own two round trips win little.
 */
#define COPY_MIN_POINTS 8
typedef struct copy_point {
    int64_t step, id;
    double value;
    char ts[DD_TS_LEN];
} copy_point;

static dd_code copy_points(dd_conn *c, int64_t series_id, const copy_point *p, size_t n,
                           dd_err *err)
{
    dd_code code = db_copy_begin(c, "metric_point", "series_id, step, id, value, recorded_at",
                                 err);
    if (code != DD_OK)
        return code;
    for (size_t i = 0; i < n && code == DD_OK; i++)
        code = db_copy_row(c, err, "iiidt", series_id, p[i].step, p[i].id, p[i].value,
                           (const char *)p[i].ts);
    dd_err ignored;   /* after a failed row, the row's error is the one to report */
    dd_code end = db_copy_end(c, code == DD_OK, "metric points", code == DD_OK ? err : &ignored);
    return code != DD_OK ? code : end;
}

/* The blocks a copied batch filled (db_block_add's INSERTs, one round trip per 64 points,
 * cost a 10,000-point batch as much as its points' copy): new ones gather here and go as
 * one copy after the points; the series' loaded last block, when stored, is updated. */
typedef struct copy_blocks {
    db_block *v;
    size_t n;
} copy_blocks;

static dd_code copy_block_add(dd_conn *c, int64_t iteration_id, const char *key,
                              copy_blocks *cb, db_block *b, int64_t position, int64_t step,
                              double value, dd_err *err)
{
    int64_t block = position / DB_METRIC_BLOCK;
    if (b->n > 0 && block != b->block) {
        if (b->stored) {
            dd_code code = db_block_store(c, iteration_id, key, b, err);
            if (code != DD_OK)
                return code;
        } else {
            cb->v[cb->n++] = *b;
        }
        *b = (db_block){.block = block};
    }
    db_block_fold(b, position, step, value);
    return DD_OK;
}

static dd_code copy_blocks_store(dd_conn *c, int64_t iteration_id, const char *key,
                                 const copy_blocks *cb, dd_err *err)
{
    if (cb->n == 0)
        return DD_OK;
    dd_code code = db_copy_begin(c, "metric_block", "iteration_id, key, block, n, ordered,"
                                 " first_step, first_value, last_step, last_value, lo_id,"
                                 " lo_step, lo_value, hi_id, hi_step, hi_value", err);
    if (code != DD_OK)
        return code;
    for (size_t i = 0; i < cb->n && code == DD_OK; i++) {
        const db_block *b = &cb->v[i];
        code = db_copy_row(c, err, "itiiiididiidiid", iteration_id, key, b->block, b->n,
                           (int64_t)b->ordered, b->first_step, b->first_value, b->last_step,
                           b->last_value, b->lo_id, b->lo_step, b->lo_value, b->hi_id,
                           b->hi_step, b->hi_value);
    }
    dd_err ignored;
    dd_code end = db_copy_end(c, code == DD_OK, "metric blocks", code == DD_OK ? err : &ignored);
    return code != DD_OK ? code : end;
}

dd_code db_metric_append_in(dd_conn *c, int64_t iteration_id, const char *key,
                            const dd_metric_point *points, size_t n, bool check_writable,
                            dd_err *err)
{
    return db_metric_append_at(c, iteration_id, key, points, n, check_writable, NULL, NULL,
                               err);
}

/* The body of db_metric_append_at and db_metric_append_pending: rows go to `rows`. */
static dd_code append_series(dd_conn *c, int64_t iteration_id, const char *key,
                             const dd_metric_point *points, size_t n, bool check_writable,
                             db_point_rows *rows, int64_t *series_id, int64_t *first_position,
                             dd_err *err)
{
    series_state ss = {0};
    /* the iteration's lock even when its end does not matter (replay, batches): one
     * batch per iteration at a time keeps positions and point_count exact (§3.3) */
    dd_code code = check_writable
        ? db_iteration_writable(c, iteration_id, err)
        : db_lock(c, DB_LOCK_UPDATE, DB_T_ITERATION, iteration_id, err);
    if (code == DD_OK)
        code = series_load(c, iteration_id, key, &ss, err);
    if (first_position)
        *first_position = ss.count;
    char now[DD_TS_LEN], ts[DD_TS_LEN];
    dd_now(now);
    if (code == DD_OK && !ss.exists && n > 0)
        code = series_create(c, iteration_id, key, &ss, now, err);
    /* a long batch on an engine with bulk rows goes as one copy; else its rows join
     * `rows`, which its caller flushes (with other series' rows: a group of batches) */
    copy_point *copy = NULL;
    size_t ncopy = 0;
    copy_blocks blocks = {0};
    if (code == DD_OK && n >= COPY_MIN_POINTS && db_can_copy(c) &&
        (!(copy = malloc(n * sizeof *copy)) ||
         !(blocks.v = malloc((n / DB_METRIC_BLOCK + 1) * sizeof *blocks.v))))
        code = dd_fail(err, DD_IO, "out of memory");
    ts_memo memo = {""};
    for (size_t i = 0; i < n && code == DD_OK; i++) {
        const dd_metric_point *p = &points[i];
        code = point_check_seq(p, ts, &memo, now, err);
        bool last = ss.exists && ss.max_step == INT64_MAX;   /* no max_step + 1 */
        if (code == DD_OK && !p->has_step && last)
            code = dd_fail(err, DD_INVALID, "metric %s: step %lld is the last one, so a"
                           " point without a step has no next step (give it a step)", key,
                           (long long)INT64_MAX);
        int64_t step = p->has_step || last ? p->step : (ss.exists ? ss.max_step + 1 : 0);
        double value = p->value == 0.0 ? 0.0 : p->value;   /* SQLite keeps no -0.0 */
        /* The point's id is its position in the series (schema/004_metric_clustered.sql). */
        if (code == DD_OK && copy) {
            copy[ncopy] = (copy_point){.step = step, .id = ss.count, .value = value};
            memcpy(copy[ncopy++].ts, ts, DD_TS_LEN);
        } else if (code == DD_OK) {
            int k = rows->n;
            rows->series_id[k] = ss.id;
            rows->step[k] = step;
            rows->id[k] = ss.count;
            rows->value[k] = value;
            memcpy(rows->ts[k], ts, DD_TS_LEN);
            if (++rows->n == DB_POINT_ROWS)
                code = db_point_rows_flush(c, rows, err);
        }
        if (code == DD_OK && copy)
            code = copy_block_add(c, iteration_id, key, &blocks, &ss.block, ss.count, step,
                                  value, err);
        else if (code == DD_OK)
            code = db_block_add(c, iteration_id, key, &ss.block, ss.count, step, value, err);
        if (code != DD_OK)
            break;
        if (!ss.exists || step >= ss.step) {
            ss.value = value;
            ss.step = step;
            memcpy(ss.recorded_at, ts, DD_TS_LEN);
        }
        ss.max_step = !ss.exists || step > ss.max_step ? step : ss.max_step;
        /* a step near the last one: a write() cached as "default steps fit" may not be
         * (metric_log.c STEP_MARGIN, 2^40; the log's own commits never come near it) */
        if (step > INT64_MAX - ((int64_t)1 << 40))
            db_forget_metric_checks(c);
        ss.count++;
        char line[DD_METRIC_LINE_MAX];
        ss.text_bytes += (int64_t)dd_metric_line(step, value, ts, line);
        ss.exists = true;
    }
    if (code == DD_OK && ncopy > 0)
        code = copy_points(c, ss.id, copy, ncopy, err);
    if (code == DD_OK)
        code = copy_blocks_store(c, iteration_id, key, &blocks, err);
    free(copy);
    free(blocks.v);
    if (code == DD_OK && n > 0)
        code = db_block_store(c, iteration_id, key, &ss.block, err);
    if (code == DD_OK && n > 0)
        code = series_store(c, &ss, now, err);
    if (series_id)
        *series_id = ss.id;
    return code;
}

dd_code db_metric_append_at(dd_conn *c, int64_t iteration_id, const char *key,
                            const dd_metric_point *points, size_t n, bool check_writable,
                            int64_t *series_id, int64_t *first_position, dd_err *err)
{
    db_point_rows rows;
    rows.n = 0;
    rows.flush_failed = false;
    dd_code code = append_series(c, iteration_id, key, points, n, check_writable, &rows,
                                 series_id, first_position, err);
    return code == DD_OK && rows.n > 0 ? db_point_rows_flush(c, &rows, err) : code;
}

dd_code db_metric_append_pending(dd_conn *c, int64_t iteration_id, const char *key,
                                 const dd_metric_point *points, size_t n, db_point_rows *rows,
                                 int64_t *series_id, int64_t *first_position, dd_err *err)
{
    return append_series(c, iteration_id, key, points, n, false, rows, series_id,
                         first_position, err);
}

dd_code dd_metric_points_check(const char *key, dd_metric_point *points, size_t n,
                               dd_err *err)
{
    dd_code code = dd_name_check(key, "metric key", err);
    char now[DD_TS_LEN], ts[DD_TS_LEN];
    dd_now(now);
    ts_memo memo = {""};
    for (size_t i = 0; i < n && code == DD_OK; i++) {
        code = point_check_seq(&points[i], ts, &memo, now, err);
        if (code == DD_OK)
            memcpy(points[i].recorded_at, ts, DD_TS_LEN);
    }
    return code;
}

dd_code local_metric_append(dd_store *st, int64_t iteration_id, const char *key,
                         const dd_metric_point *points, size_t n, dd_err *err)
{
    dd_code code = dd_name_check(key, "metric key", err);
    if (code != DD_OK)
        return code;
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err)
        t.code = db_metric_append_in(t.c, iteration_id, key, points, n, true, err);
    return t.code;
}

/* A series is read READ_SLICE points a statement, each slice resuming after the last
 * (step, id) of the one before: the PostgreSQL engine holds a statement's whole result,
 * so one statement for a series of a million points held it all in the daemon (100 MB
 * for the 600k points of the "pgwrite" bench, over its 64 MB target). */
#define READ_SLICE 8192
#define SLICE_TEXT(n) #n
#define LIMIT_SLICE(n) " LIMIT " SLICE_TEXT(n)
typedef struct slice_ctx {
    dd_metric_cb cb;
    void *ctx;
    int64_t rows, step, id;   /* rows of this slice; the last (step, id) handed out */
    bool stopped;             /* the callback asked to stop */
} slice_ctx;

static int slice_row(db_stmt *s, void *arg)
{
    slice_ctx *l = arg;
    dd_metric_row r = {
        .id = db_col_int64(s, 0),
        .step = db_col_int64(s, 1),
        .value = db_col_double(s, 2),
        .recorded_at = db_col_text(s, 3),
    };
    l->rows++;
    l->step = r.step;
    l->id = r.id;
    l->stopped = l->cb(l->ctx, &r) != 0;
    return l->stopped;
}

dd_code local_metric_read(dd_store *st, int64_t iteration_id, const char *key, bool resume,
                       int64_t after_step, int64_t after_id, dd_metric_cb cb, void *ctx,
                       dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    dd_code code = db_drain(st, err);
    if (code == DD_OK)
        code = db_conn(st, &c, err);
    slice_ctx l = {.cb = cb, .ctx = ctx, .step = after_step, .id = after_id};
    bool from = resume;
    while (code == DD_OK) {
        code = from
            ? db_prep(c, &s, err, "SELECT id, step, value, recorded_at FROM metric_point"
                      " WHERE series_id = " DB_SERIES_ID("?1", "?2")
                      " AND (step, id) > (?3, ?4)"
                      " ORDER BY step, id" LIMIT_SLICE(READ_SLICE), "itii", iteration_id, key,
                      l.step, l.id)
            : db_prep(c, &s, err, "SELECT id, step, value, recorded_at FROM metric_point"
                      " WHERE series_id = " DB_SERIES_ID("?", "?")
                      " ORDER BY step, id" LIMIT_SLICE(READ_SLICE), "it",
                      iteration_id, key);
        l.rows = 0;
        if (code == DD_OK)
            code = db_each(c, s, "reading a metric series", slice_row, &l, err);
        if (l.stopped || l.rows < READ_SLICE)
            break;
        from = true;
    }
    return code;
}

#define SERIES_COLS "key, value, step, recorded_at, max_step, point_count, id, iteration_id," \
                    " text_bytes, coalesce(updated_date, recorded_at)"

static void series_from_row(db_stmt *s, dd_metric_series *m)
{
    m->key = db_col_text(s, 0);
    m->value = db_col_double(s, 1);
    m->step = db_col_int64(s, 2);
    m->recorded_at = db_col_text(s, 3);
    m->max_step = db_col_int64(s, 4);
    m->point_count = db_col_int64(s, 5);
    m->id = db_col_int64(s, 6);
    m->iteration_id = db_col_int64(s, 7);
    m->text_bytes = db_col_int64(s, 8);
    db_col_ts(s, 9, m->updated_date);
}

static int series_row(db_stmt *s, void *arg)
{
    db_list_ctx *l = arg;
    dd_metric_series m;
    series_from_row(s, &m);
    return ((dd_series_cb)l->cb)(l->ctx, &m);
}

dd_code local_metric_series_list(dd_store *st, int64_t iteration_id, dd_series_cb cb, void *ctx,
                              dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    dd_code code = db_drain(st, err);
    if (code == DD_OK)
        code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT " SERIES_COLS " FROM metric_latest WHERE iteration_id = ?"
                       " ORDER BY key", "i",
                       iteration_id);
    db_list_ctx l = {(void *)cb, ctx};
    return code == DD_OK ? db_each(c, s, "listing metric series", series_row, &l, err) : code;
}

dd_code local_metric_series_get(dd_store *st, int64_t iteration_id, const char *key,
                             dd_metric_series *out, char ts_buf[DD_TS_LEN], dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    dd_code code = db_drain(st, err);
    if (code == DD_OK)
        code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT " SERIES_COLS " FROM metric_latest"
                       " WHERE iteration_id = ? AND key = ?", "it",
                       iteration_id, key ? key : "");
    if (code != DD_OK)
        return code;
    bool row;
    code = db_step(c, s, &row, "reading a metric series", err);
    if (code == DD_OK && !row)
        code = dd_fail(err, DD_NOT_FOUND, "metric \"%s\" not found", key ? key : "");
    if (code == DD_OK) {
        series_from_row(s, out);
        out->key = key;
        db_col_ts(s, 3, ts_buf);
        out->recorded_at = ts_buf;
    }
    db_reset(s);
    return code;
}

dd_code local_metric_series_by_id(dd_store *st, int64_t series_id, dd_metric_series *out,
                               char **key_out, char ts_buf[DD_TS_LEN], dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    dd_code code = db_drain(st, err);
    if (code == DD_OK)
        code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT " SERIES_COLS " FROM metric_latest WHERE id = ?",
                       "i", series_id);
    if (code != DD_OK)
        return code;
    bool row;
    code = db_step(c, s, &row, "reading a metric series", err);
    if (code == DD_OK && !row)
        code = dd_fail(err, DD_NOT_FOUND, "metric series %lld not found", (long long)series_id);
    if (code == DD_OK) {
        series_from_row(s, out);
        db_col_ts(s, 3, ts_buf);
        out->recorded_at = ts_buf;
        *key_out = db_col_dup(s, 0);
        out->key = *key_out;
        if (!*key_out)
            code = dd_fail(err, DD_IO, "out of memory");
    }
    db_reset(s);
    return code;
}

/* No drain (store.h): a series' iteration and key are fixed at its first commit, and a
 * series still only in the journal has no id to ask by. */
dd_code local_metric_series_name(dd_store *st, int64_t series_id, int64_t *iteration_id,
                                 char **key_out, dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    *key_out = NULL;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT iteration_id, key FROM metric_latest WHERE id = ?",
                       "i", series_id);
    if (code != DD_OK)
        return code;
    bool row;
    code = db_step(c, s, &row, "reading a metric series", err);
    if (code == DD_OK && !row)
        code = dd_fail(err, DD_NOT_FOUND, "metric series %lld not found", (long long)series_id);
    if (code == DD_OK) {
        *iteration_id = db_col_int64(s, 0);
        *key_out = db_col_dup(s, 1);
        if (!*key_out)
            code = dd_fail(err, DD_IO, "out of memory");
    }
    db_reset(s);
    return code;
}

dd_code local_metric_delete(dd_store *st, int64_t iteration_id, const char *key, dd_err *err)
{
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        dd_code code = db_iteration_writable(c, iteration_id, err);
        /* the points first: they find their series by its row */
        if (code == DD_OK)
            code = db_exec(c, err, "metric points",
                           "DELETE FROM metric_point WHERE series_id = " DB_SERIES_ID("?", "?"),
                           "it", iteration_id, key ? key : "");
        if (code == DD_OK)
            code = db_exec(c, err, "metric series",
                           "DELETE FROM metric_latest WHERE iteration_id = ? AND key = ?", "it",
                           iteration_id, key ? key : "");
        if (code == DD_OK && db_changes(c) == 0)
            code = dd_fail(err, DD_NOT_FOUND, "metric \"%s\" not found", key ? key : "");
        if (code == DD_OK)
            code = db_exec(c, err, "metric blocks",
                           "DELETE FROM metric_block WHERE iteration_id = ? AND key = ?", "it",
                           iteration_id, key);
        t.code = code;
    }
    return t.code;
}
