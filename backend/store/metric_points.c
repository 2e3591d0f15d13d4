/*
 * metric_points.c - metric points one by one, for the REST API: batches over several keys
 * in one transaction, and points addressed by (series id, position).
 *
 * A point's identity is its series (metric_latest.id, never reused) and its position in
 * that series (metric_point.id: 0, 1, ... in write order, schema/004_metric_clustered.sql;
 * metric_point.series_id is the series, schema 014); the
 * REST layer packs the two into one integer.
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "store_local.h"

/* One caller's batch, for its turn in a group commit (append_batches). */
typedef struct batch_ctx {
    int64_t iteration_id;
    const dd_metric_item *items;
    size_t n;
    int64_t *series_out, *position_out;
} batch_ctx;

/* One point of a merged group: batch b's item i. */
typedef struct point_ref {
    const batch_ctx *b;
    size_t batch;              /* b's index in the group: arrival order */
    size_t i;
} point_ref;

/* By series (iteration, key), then arrival order of the batch, then array order: each
 * series' points in the order a run of the batches one after the other would append them. */
static int point_ref_cmp(const void *x, const void *y)
{
    const point_ref *a = x, *b = y;
    if (a->b->iteration_id != b->b->iteration_id)
        return a->b->iteration_id < b->b->iteration_id ? -1 : 1;
    int c = strcmp(a->b->items[a->i].key, b->b->items[b->i].key);
    if (c)
        return c;
    if (a->batch != b->batch)
        return a->batch < b->batch ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

/* Each batch's iteration exists and has not ended (checked once per iteration; the check
 * also takes the iteration's lock where the engine has row locks). */
static dd_code batches_writable(dd_conn *c, batch_ctx **bs, size_t n, size_t *culprit,
                                dd_err *err)
{
    for (size_t j = 0; j < n; j++) {
        size_t seen = 0;
        while (seen < j && bs[seen]->iteration_id != bs[j]->iteration_id)
            seen++;
        if (seen < j)
            continue;   /* an earlier batch's iteration, already checked */
        dd_code code = db_iteration_writable(c, bs[j]->iteration_id, err);
        if (code != DD_OK) {
            *culprit = j;   /* the later batches of its iteration fail the same way next */
            return code;
        }
    }
    return DD_OK;
}

/* Append refs[0..k) (one series, in order) with one db_metric_append_pending, its rows
 * left in `rows`; positions out. */
static dd_code append_run(dd_conn *c, const point_ref *refs, size_t k, dd_metric_point *pts,
                          db_point_rows *rows, dd_err *err)
{
    for (size_t j = 0; j < k; j++)
        pts[j] = refs[j].b->items[refs[j].i].point;
    int64_t series = 0, first = 0;
    const batch_ctx *b0 = refs[0].b;
    dd_code code = db_metric_append_pending(c, b0->iteration_id, b0->items[refs[0].i].key, pts,
                                            k, rows, &series, &first, err);
    for (size_t j = 0; j < k && code == DD_OK; j++) {
        const batch_ctx *b = refs[j].b;
        if (b->series_out)
            b->series_out[refs[j].i] = series;
        if (b->position_out)
            b->position_out[refs[j].i] = first + (int64_t)j;
    }
    return code;
}

/* db_group_many_fn: the batches of a group, merged by series: each series is read, appended
 * to and written back once for the whole group, whatever number of batches have points in
 * it. A failure inside a series that holds points of one batch only names that batch; one
 * that mixes batches names none (the group is then run batch by batch). */
static dd_code append_batches(dd_conn *c, void **ctxs, size_t n, size_t *culprit, dd_err *err)
{
    batch_ctx **bs = (batch_ctx **)ctxs;
    dd_code code = batches_writable(c, bs, n, culprit, err);
    if (code != DD_OK)
        return code;
    size_t total = 0;
    for (size_t j = 0; j < n; j++)
        total += bs[j]->n;
    point_ref *refs = malloc((total ? total : 1) * sizeof *refs);
    dd_metric_point *pts = malloc((total ? total : 1) * sizeof *pts);
    if (!refs || !pts) {
        free(refs), free(pts);
        return dd_fail(err, DD_IO, "out of memory");
    }
    size_t m = 0;
    for (size_t j = 0; j < n; j++)
        for (size_t i = 0; i < bs[j]->n; i++)
            refs[m++] = (point_ref){bs[j], j, i};
    qsort(refs, total, sizeof *refs, point_ref_cmp);
    /* the rows of all the group's series, inserted DB_POINT_ROWS a statement: a failed
     * INSERT may hold any series' rows, so it names no batch */
    db_point_rows rows;
    rows.n = 0;
    rows.flush_failed = false;
    for (size_t i = 0, k; i < total && code == DD_OK; i += k) {
        const point_ref *r = &refs[i];
        bool mixed = false;
        for (k = 1; i + k < total && r[k].b->iteration_id == r->b->iteration_id
                    && strcmp(r[k].b->items[r[k].i].key, r->b->items[r->i].key) == 0; k++)
            mixed = mixed || r[k].batch != r->batch;
        code = append_run(c, r, k, pts, &rows, err);
        if (code != DD_OK && !mixed && !rows.flush_failed)
            *culprit = r->batch;
    }
    if (code == DD_OK && rows.n > 0)
        code = db_point_rows_flush(c, &rows, err);
    free(refs);
    free(pts);
    return code;
}

/*
 * Two things keep a batch cheap. Batches of concurrent callers share one transaction
 * (db_group_write_many), so 20 clients appending to the same 100 series write each
 * series' tail page once per group, not once per batch. And the group's points are
 * appended series by series (arrival order, then array order, kept within a series; order
 * across series changes nothing stored, since series are independent): each series is
 * read and written back once per group, not once per batch or per point. Each batch is
 * still all or none: one that fails rolls the group back and the others run again.
 * Everything a client can get wrong in its points is checked here first, so that a
 * merged write rarely fails for one batch's fault.
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
    /* the values and times (on a copy: the store's own clock fills what is unset) */
    dd_metric_point *pts = malloc((n ? n : 1) * sizeof *pts);
    if (!pts)
        return dd_fail(err, DD_IO, "out of memory");
    for (size_t i = 0; i < n; i++)
        pts[i] = items[i].point;
    dd_code code = n ? dd_metric_points_check(items[0].key, pts, n, err) : DD_OK;
    free(pts);
    batch_ctx b = {iteration_id, items, n, series_out, position_out};
    return code == DD_OK ? db_group_write_many(st, append_batches, &b, err) : code;
}

#define POINT_COLS "l.id, m.id, l.iteration_id, l.key, m.step, m.value, m.recorded_at"

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
                       "SELECT " POINT_COLS " FROM metric_latest l JOIN metric_point m"
                       " ON m.series_id = l.id"
                       " WHERE l.iteration_id = ? ORDER BY m.step, l.id, m.id",
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
                               "SELECT " POINT_COLS " FROM metric_latest l JOIN metric_point m"
                               " ON m.series_id = l.id WHERE l.id = ? AND m.id = ?", "ii",
                               series_id, position, found_cb, &f, err);
    if (code == DD_OK && !f.found)
        code = dd_fail(err, DD_NOT_FOUND, "metric point %lld/%lld not found",
                       (long long)series_id, (long long)position);
    return code;
}
