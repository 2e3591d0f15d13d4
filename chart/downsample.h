/*
 * downsample.h - a streaming, shape-keeping downsampler for line charts (M4).
 *
 * A chart `columns` pixels wide cannot show more than a few points per pixel column, so
 * each column keeps only the points that decide what is drawn there: the first, the
 * lowest, the highest and the last (M4, Jugel et al. 2014). A polyline through those
 * points, in x order, draws exactly the pixels the full series would: every column's
 * extremes and its joins to the neighbouring columns are kept.
 *
 * Contract: points are fed in nondecreasing x order (a metric series read by step), one
 * pass, memory O(columns) whatever the series' length. The x range is given up front
 * (dd_ds_init's x_lo/x_hi); x_lo may be NAN, meaning "the first point's x" (a metric
 * series' summary knows its greatest step, not its least; the read starts at the least).
 * Points outside the range are clamped into the first or the last column, so a point
 * appended after the range was taken is still drawn. The output holds at most
 * 4 * columns points, in input order, always including the first and the last point fed.
 *
 * Pure C, no allocation other than one array in dd_ds_init; no global state.
 */
#ifndef DD_CHART_DOWNSAMPLE_H
#define DD_CHART_DOWNSAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dd_ds_point {
    double x, y;
} dd_ds_point;

typedef struct dd_downsample {
    size_t columns;        /* pixel columns, >= 1 */
    double x_lo, x_hi;     /* the range mapped onto the columns (x_lo NAN until learnt) */
    dd_ds_point *out;      /* kept points, capacity 4 * columns */
    size_t n_out;
    /* the column being filled: its index, and its candidates with their input order */
    long cur;              /* -1 before the first point */
    dd_ds_point first, min, max, last;
    uint64_t i_first, i_min, i_max, i_last;
    uint64_t n_in;         /* points fed so far */
    double y_min, y_max;   /* over every point fed (the y axis' range) */
    double x_first, x_last;
} dd_downsample;

/* Prepare for `columns` columns (>= 1) over [x_lo, x_hi]; x_lo NAN means the first
 * point's x. x_hi < x_lo is treated as x_hi == x_lo (everything lands in one column).
 * Returns 0, or -1 when the array cannot be allocated or columns is 0. */
int dd_ds_init(dd_downsample *ds, size_t columns, double x_lo, double x_hi);

/* Forget every point fed: as just after dd_ds_init(ds, ds->columns, x_lo, x_hi). */
void dd_ds_restart(dd_downsample *ds, double x_lo, double x_hi);

/* Feed one point (x nondecreasing from call to call; finite values). */
void dd_ds_add(dd_downsample *ds, double x, double y);

/* Close the last column and return the kept points (owned by ds, valid until
 * dd_ds_free); *n gets their count, 0 when nothing was fed. Call once, after the last
 * dd_ds_add. */
const dd_ds_point *dd_ds_finish(dd_downsample *ds, size_t *n);

/* A run of consecutive input points, summarised: its count, its first and last point,
 * and the first point (in input order) holding its least and its greatest y, with their
 * offsets in the run (0 .. n-1). */
typedef struct dd_ds_run {
    uint64_t n;                    /* >= 1 */
    dd_ds_point first, min, max, last;
    uint64_t i_min, i_max;
} dd_ds_run;

/* Whether points with x from x0 to x1 (x0 <= x1, the next ones to feed) all fall into
 * one column. */
bool dd_ds_one_column(const dd_downsample *ds, double x0, double x1);

/* Feed a run whose points all fall into one column (dd_ds_one_column of its first and
 * last x): the state afterwards is exactly that of feeding its points one by one, as
 * M4 keeps only the first, least, greatest and last point of a column. */
void dd_ds_add_run(dd_downsample *ds, const dd_ds_run *r);


void dd_ds_free(dd_downsample *ds);

#endif
