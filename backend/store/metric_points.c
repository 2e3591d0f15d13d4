/*
 * metric_points.c - metric points one by one, for the REST API: batches over several keys
 * in one transaction, and points addressed by (series id, position).
 *
 * A point's identity is its series (metric_latest.id, never reused) and its position in
 * that series (metric.id: 0, 1, ... in write order, schema/004_metric_clustered.sql); the
 * REST layer packs the two into one integer.
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "store_local.h"

/* Sort order of a batch's items: by key, then array order (a stable grouping). */
typedef struct item_ref {
    const char *key;
    size_t index;
} item_ref;

static int item_ref_cmp(const void *a, const void *b)
{
    const item_ref *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* Append the items of one key (refs[0..k), in array order) as one run: one summary read,
 * k point inserts, one summary write; each item's series id and position out. */
static dd_code append_run(dd_conn *c, int64_t iteration_id, const dd_metric_item *items,
                          const item_ref *refs, size_t k, dd_metric_point *pts,
                          int64_t *series_out, int64_t *position_out, dd_err *err)
{
    for (size_t j = 0; j < k; j++)
        pts[j] = items[refs[j].index].point;
    int64_t series = 0, first = 0;
    dd_code code = db_metric_append_at(c, iteration_id, refs[0].key, pts, k, false, &series,
                                       &first, err);
    for (size_t j = 0; j < k && code == DD_OK; j++) {
        if (series_out)
            series_out[refs[j].index] = series;
        if (position_out)
            position_out[refs[j].index] = first + (int64_t)j;
    }
    return code;
}

/* One caller's batch, for its turn in a group commit (append_batch). */
typedef struct batch_ctx {
    int64_t iteration_id;
    const dd_metric_item *items;
    const item_ref *refs;      /* the items sorted by key, then array order */
    size_t n;
    dd_metric_point *pts;      /* scratch, n points */
    int64_t *series_out, *position_out;
} batch_ctx;

static dd_code append_batch(dd_conn *c, void *ctx, dd_err *err)
{
    batch_ctx *b = ctx;
    dd_code code = db_iteration_writable(c, b->iteration_id, err);
    for (size_t i = 0, k; i < b->n && code == DD_OK; i += k) {
        for (k = 1; i + k < b->n && strcmp(b->refs[i + k].key, b->refs[i].key) == 0; k++)
            ;
        code = append_run(c, b->iteration_id, b->items, b->refs + i, k, b->pts,
                          b->series_out, b->position_out, err);
    }
    return code;
}

/*
 * Two things keep a batch cheap. Its items are grouped by key (array order kept within a
 * key), so each series is read and written back once per batch, not once per point; order
 * across keys changes nothing stored, since series are independent. And batches of
 * concurrent callers share one transaction (db_group_write; a batch that fails rolls the
 * group back and the others run again, so each is still all or none): 20 clients appending to the same 100 series write
 * each series' tail page once per group, not once per batch.
 */
dd_code local_metric_append_items(dd_store *st, int64_t iteration_id, const dd_metric_item *items,
                               size_t n, int64_t *series_out, int64_t *position_out,
                               dd_err *err)
{
    for (size_t i = 0; i < n; i++) {
        dd_code code = dd_name_check(items[i].key, "metric key", err);
        if (code != DD_OK)
            return code;
    }
    item_ref *refs = malloc((n ? n : 1) * sizeof *refs);
    dd_metric_point *pts = malloc((n ? n : 1) * sizeof *pts);
    if (!refs || !pts) {
        free(refs), free(pts);
        return dd_fail(err, DD_IO, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        refs[i] = (item_ref){items[i].key, i};
    qsort(refs, n, sizeof *refs, item_ref_cmp);
    batch_ctx b = {iteration_id, items, refs, n, pts, series_out, position_out};
    dd_code code = db_group_write(st, append_batch, &b, err);
    free(refs);
    free(pts);
    return code;
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
