/*
 * downsample.c - M4 downsampling in one pass (see downsample.h).
 *
 * Because points arrive in x order, the column index never decreases: only the current
 * column's four candidates are held, and a column is flushed to the output when the first
 * point of a later column arrives. That is what bounds memory by the output (4 per column).
 */
#include "downsample.h"

#include <math.h>
#include <stdlib.h>

int dd_ds_init(dd_downsample *ds, size_t columns, double x_lo, double x_hi)
{
    *ds = (dd_downsample){0};
    if (columns == 0 || columns > SIZE_MAX / (4 * sizeof(dd_ds_point)))
        return -1;
    ds->out = malloc(4 * columns * sizeof *ds->out);
    if (!ds->out)
        return -1;
    ds->columns = columns;
    ds->x_lo = x_lo;
    ds->x_hi = x_hi;
    ds->cur = -1;
    return 0;
}

void dd_ds_restart(dd_downsample *ds, double x_lo, double x_hi)
{
    dd_ds_point *out = ds->out;
    size_t columns = ds->columns;
    *ds = (dd_downsample){.columns = columns, .x_lo = x_lo, .x_hi = x_hi, .out = out,
                          .cur = -1};
}

/* The column of x: [lo, hi] split into `columns` equal parts, the ends clamped.
 * Nondecreasing in x (every operation rounds monotonically), so the points between two
 * of the same column are in it too. */
static long column_in(double lo, double hi, size_t columns, double x)
{
    double span = hi - lo;
    if (!(span > 0))
        return 0;
    double c = floor((x - lo) / span * (double)columns);
    if (!(c >= 0))
        return 0;
    if (c >= (double)columns)
        return (long)columns - 1;
    return (long)c;
}

static long column_of(const dd_downsample *ds, double x)
{
    return column_in(ds->x_lo, ds->x_hi, ds->columns, x);
}

bool dd_ds_one_column(const dd_downsample *ds, double x0, double x1)
{
    /* before the first point, the range dd_ds_add will set from x0 */
    double lo = isnan(ds->x_lo) ? x0 : ds->x_lo;
    double hi = ds->x_hi >= lo ? ds->x_hi : lo;
    return column_in(lo, hi, ds->columns, x0) == column_in(lo, hi, ds->columns, x1);
}

static void emit(dd_downsample *ds, dd_ds_point p)
{
    ds->out[ds->n_out++] = p;
}

/* Write the current column's candidates in input order, each point once. */
static void flush_column(dd_downsample *ds)
{
    if (ds->cur < 0)
        return;
    struct cand { uint64_t i; dd_ds_point p; } c[4] = {
        {ds->i_first, ds->first}, {ds->i_min, ds->min},
        {ds->i_max, ds->max}, {ds->i_last, ds->last},
    };
    /* sort four by input index (insertion sort) */
    for (int a = 1; a < 4; a++)
        for (int b = a; b > 0 && c[b - 1].i > c[b].i; b--) {
            struct cand t = c[b];
            c[b] = c[b - 1];
            c[b - 1] = t;
        }
    for (int a = 0; a < 4; a++)
        if (a == 0 || c[a].i != c[a - 1].i)
            emit(ds, c[a].p);
}

void dd_ds_add(dd_downsample *ds, double x, double y)
{
    dd_ds_point p = {x, y};
    uint64_t i = ds->n_in++;
    if (i == 0) {
        if (isnan(ds->x_lo))
            ds->x_lo = x;
        if (!(ds->x_hi >= ds->x_lo))
            ds->x_hi = ds->x_lo;
        ds->y_min = ds->y_max = y;
        ds->x_first = x;
    }
    ds->x_last = x;
    if (y < ds->y_min) ds->y_min = y;
    if (y > ds->y_max) ds->y_max = y;

    long col = column_of(ds, x);
    if (col != ds->cur) {
        /* x nondecreasing gives col > cur; a caller breaking the order still gets a
         * bounded output, as the column is simply started again */
        flush_column(ds);
        if (ds->n_out + 4 > 4 * ds->columns)   /* only reachable on out-of-order input */
            ds->n_out = 4 * ds->columns - 4;
        ds->cur = col;
        ds->first = ds->min = ds->max = ds->last = p;
        ds->i_first = ds->i_min = ds->i_max = ds->i_last = i;
        return;
    }
    if (y < ds->min.y) { ds->min = p; ds->i_min = i; }
    if (y > ds->max.y) { ds->max = p; ds->i_max = i; }
    ds->last = p;
    ds->i_last = i;
}

void dd_ds_add_run(dd_downsample *ds, const dd_ds_run *r)
{
    uint64_t base = ds->n_in;
    dd_ds_add(ds, r->first.x, r->first.y);   /* opens the column, or joins the current one */
    if (r->n < 2)
        return;
    /* the rest of the run, as its points would have done it: strict comparisons keep the
     * first point reaching an extreme, the run's own extremes being its first such points */
    if (r->min.y < ds->min.y) {
        ds->min = r->min;
        ds->i_min = base + r->i_min;
    }
    if (r->max.y > ds->max.y) {
        ds->max = r->max;
        ds->i_max = base + r->i_max;
    }
    if (r->min.y < ds->y_min) ds->y_min = r->min.y;
    if (r->max.y > ds->y_max) ds->y_max = r->max.y;
    ds->last = r->last;
    ds->i_last = base + r->n - 1;
    ds->n_in = base + r->n;
    ds->x_last = r->last.x;
}

const dd_ds_point *dd_ds_finish(dd_downsample *ds, size_t *n)
{
    flush_column(ds);
    ds->cur = -1;
    *n = ds->n_out;
    return ds->out;
}

void dd_ds_free(dd_downsample *ds)
{
    free(ds->out);
    *ds = (dd_downsample){0};
}
