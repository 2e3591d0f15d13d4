/*
 * chart_read.c - the store's block scan into the downsampler (see chart_read.h).
 */
#include "chart_read.h"

typedef struct feed {
    dd_downsample *ds;
    double x_lo, x_hi;      /* the range given to dd_ds_init, for a restart */
} feed;

static void feed_restart(void *ctx)
{
    feed *f = ctx;
    dd_ds_restart(f->ds, f->x_lo, f->x_hi);
}

static bool feed_whole(void *ctx, int64_t first_step, int64_t last_step)
{
    return dd_ds_one_column(((feed *)ctx)->ds, (double)first_step, (double)last_step);
}

static int feed_point(void *ctx, const dd_metric_row *row)
{
    dd_ds_add(((feed *)ctx)->ds, (double)row->step, row->value);
    return 0;
}

static int feed_run(void *ctx, const dd_metric_run *r)
{
    dd_ds_run run = {
        .n = (uint64_t)r->n,
        .first = {(double)r->first_step, r->first_value},
        .min = {(double)r->lo_step, r->lo_value},
        .max = {(double)r->hi_step, r->hi_value},
        .last = {(double)r->last_step, r->last_value},
        .i_min = (uint64_t)r->lo_offset,
        .i_max = (uint64_t)r->hi_offset,
    };
    dd_ds_add_run(((feed *)ctx)->ds, &run);
    return 0;
}

static const dd_metric_scan_ops feed_ops = {feed_restart, feed_whole, feed_point, feed_run};

dd_code dd_chart_read_series(dd_store *st, int64_t iteration_id, const char *key,
                             dd_downsample *ds, dd_err *err)
{
    feed f = {ds, ds->x_lo, ds->x_hi};
    return dd_metric_scan(st, iteration_id, key, &feed_ops, &f, err);
}
