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

/* The column of x: the range split into `columns` equal parts, the ends clamped. */
static long column_of(const dd_downsample *ds, double x)
{
    double span = ds->x_hi - ds->x_lo;
    if (!(span > 0))
        return 0;
    double c = floor((x - ds->x_lo) / span * (double)ds->columns);
    if (!(c >= 0))
        return 0;
    if (c >= (double)ds->columns)
        return (long)ds->columns - 1;
    return (long)c;
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
