/*
 * metric_points.c - metric points one by one, for the REST API: batches over several keys
 * in one transaction, and points addressed by (series id, position).
 *
 * A point's identity is its series (metric_latest.id, never reused) and its position in
 * that series (metric.id: 0, 1, ... in write order, schema/004_metric_clustered.sql); the
 * REST layer packs the two into one integer.
 */
#include "db.h"

/* The next position of series (iteration, key): its point count, 0 for a new series. */
static dd_code next_position(dd_conn *c, int64_t iteration_id, const char *key, int64_t *out,
                             dd_err *err)
{
    dd_code code = db_int(c, out, err, "series",
                          "SELECT point_count FROM metric_latest WHERE iteration_id = ? AND key = ?",
                          "it", iteration_id, key);
    if (code == DD_NOT_FOUND)
        *out = 0, code = DD_OK;
    return code;
}

dd_code dd_metric_append_items(dd_store *st, int64_t iteration_id, const dd_metric_item *items,
                               size_t n, int64_t *series_out, int64_t *position_out,
                               dd_err *err)
{
    for (size_t i = 0; i < n; i++) {
        dd_code code = dd_name_check(items[i].key, "metric key", err);
        if (code != DD_OK)
            return code;
    }
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        dd_code code = db_iteration_writable(c, iteration_id, err);
        for (size_t i = 0; i < n && code == DD_OK; i++) {
            int64_t pos = 0, series = 0;
            code = next_position(c, iteration_id, items[i].key, &pos, err);
            if (code == DD_OK)
                code = db_metric_append_in(c, iteration_id, items[i].key, &items[i].point, 1,
                                       false, err);
            if (code == DD_OK)
                code = db_int(c, &series, err, "series",
                              "SELECT id FROM metric_latest WHERE iteration_id = ? AND key = ?", "it",
                              iteration_id, items[i].key);
            /* the caller's arrays are rewritten whole by every run of the body and read
             * only on DD_OK, so a re-run leaves exactly one run's values */
            if (code == DD_OK && series_out)
                series_out[i] = series;
            if (code == DD_OK && position_out)
                position_out[i] = pos;
        }
        t.code = code;
    }
    return t.code;
}

#define POINT_COLS "l.id, m.id, m.iteration_id, m.key, m.step, m.value, m.recorded_at"

static int point_row(db_stmt *s, void *arg)
{
    db_list_ctx *l = arg;
    dd_metric_point_row r = {
        .series_id = db_col_int64(s, 0),
        .position = db_col_int64(s, 1),
        .iteration_id = db_col_int64(s, 2),
        .key = db_col_text(s, 3),
        .step = db_col_int64(s, 4),
        .value = db_col_double(s, 5),
        .recorded_at = db_col_text(s, 6),
    };
    return ((dd_metric_point_cb)l->cb)(l->ctx, &r);
}

/* Run `sql` (selecting POINT_COLS) after draining the metric log. */
static dd_code list_points(dd_store *st, const char *sql, const char *fmt, int64_t a, int64_t b,
                           dd_metric_point_cb cb, void *ctx, dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    dd_code code = db_drain(st, err);
    if (code == DD_OK)
        code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, sql, fmt, a, b);
    db_list_ctx l = {(void *)cb, ctx};
    return code == DD_OK ? db_each(c, s, "listing metric points", point_row, &l, err) : code;
}

dd_code dd_metric_points_list(dd_store *st, int64_t iteration_id, dd_metric_point_cb cb,
                              void *ctx, dd_err *err)
{
    return list_points(st,
                       "SELECT " POINT_COLS " FROM metric m JOIN metric_latest l"
                       " ON l.iteration_id = m.iteration_id AND l.key = m.key"
                       " WHERE m.iteration_id = ? ORDER BY m.step, l.id, m.id",
                       "i", iteration_id, 0, cb, ctx, err);
}

typedef struct found_point {
    dd_metric_point_cb cb;
    void *ctx;
    bool found;
} found_point;

static int found_cb(void *ctx, const dd_metric_point_row *row)
{
    found_point *f = ctx;
    f->found = true;
    return f->cb(f->ctx, row);
}

dd_code dd_metric_point_get(dd_store *st, int64_t series_id, int64_t position,
                            dd_metric_point_cb cb, void *ctx, dd_err *err)
{
    found_point f = {cb, ctx, false};
    dd_code code = list_points(st,
                               "SELECT " POINT_COLS " FROM metric_latest l JOIN metric m"
                               " ON m.iteration_id = l.iteration_id AND m.key = l.key"
                               " WHERE l.id = ? AND m.id = ?", "ii",
                               series_id, position, found_cb, &f, err);
    if (code == DD_OK && !f.found)
        code = dd_fail(err, DD_NOT_FOUND, "metric point %lld/%lld not found",
                       (long long)series_id, (long long)position);
    return code;
}
