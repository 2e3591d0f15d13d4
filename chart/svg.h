/*
 * svg.h - line charts as SVG 1.1 text (no scripts, no external resources).
 *
 * A chart is one or more series of (x, y) points, drawn as polylines over a frame with
 * axes, grid lines and ticks at "nice" numbers (1, 2 or 5 times a power of ten), a title,
 * axis labels and, when a series has a label, a legend below the plot (one colour per
 * series, the Tableau-10 palette the original's dashboard used, wrapping). Text is XML
 * escaped; bytes that are not valid UTF-8, and control characters, become U+FFFD, so any
 * label gives a well-formed document.
 *
 * Series longer than the plot is wide should be downsampled first (downsample.h, with
 * DD_CHART_COLUMNS columns): the writer draws every point it is given.
 *
 * Sizes known before drawing: dd_chart_svg_bound() gives, from the labels and an upper
 * bound of each series' point count only, a byte count the drawing never exceeds, and
 * dd_chart_svg_padded() pads the document with trailing newlines to exactly that size
 * (whitespace after the root element is allowed by XML). A filesystem can then report a
 * chart's size from a series' summary without reading its points.
 */
#ifndef DD_CHART_SVG_H
#define DD_CHART_SVG_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "downsample.h"

#define DD_CHART_WIDTH 800
#define DD_CHART_HEIGHT 380       /* without the legend; each legend row adds 18 */
#define DD_CHART_LEFT 80          /* plot area: x in [LEFT, WIDTH - RIGHT] */
#define DD_CHART_RIGHT 20
#define DD_CHART_TOP 36           /* plot area: y in [TOP, HEIGHT - BOTTOM] */
#define DD_CHART_BOTTOM 50
#define DD_CHART_COLUMNS (DD_CHART_WIDTH - DD_CHART_LEFT - DD_CHART_RIGHT)  /* 700 px */
#define DD_CHART_LEGEND_PER_ROW 4

typedef struct dd_chart_series {
    const char *label;           /* legend text (user data, escaped), or NULL: no entry */
    const dd_ds_point *points;   /* in x order, finite */
    size_t n;
} dd_chart_series;

typedef struct dd_chart {
    const char *title;           /* user data, escaped */
    const char *x_label;         /* e.g. "step" */
    const char *y_label;         /* e.g. "value" */
    bool x_integer;              /* x ticks at whole numbers only (steps) */
    const dd_chart_series *series;
    size_t n_series;
} dd_chart;

/* Draw the chart into out (appending). 0, or -1 when out of memory. */
int dd_chart_svg(const dd_chart *c, dd_buf *out);

/* The most bytes dd_chart_svg can write for this chart when series i has at most
 * max_points[i] points (the points themselves are not looked at). */
size_t dd_chart_svg_bound(const dd_chart *c, const size_t *max_points);

/* dd_chart_svg, then newlines up to `size` bytes in all when it wrote fewer (size from
 * dd_chart_svg_bound). 0, or -1 when out of memory. */
int dd_chart_svg_padded(const dd_chart *c, size_t size, dd_buf *out);

/* Append `s` XML-escaped (&, <, >, ", ' as entities; invalid UTF-8 and control
 * characters other than tab as U+FFFD). At most 6 bytes out per byte in. */
void dd_svg_escape(dd_buf *out, const char *s);

/* Ticks at nice numbers covering [lo, hi] (hi > lo, both finite), about `want` of them,
 * at most DD_CHART_MAX_TICKS; integer: spacing at least 1. Returns the count; first and
 * last tick bracket lo and hi (the axis' range); *decimals: digits after the point that
 * tell the ticks apart. */
#define DD_CHART_MAX_TICKS 12
size_t dd_chart_ticks(double lo, double hi, int want, bool integer,
                      double ticks[DD_CHART_MAX_TICKS], int *decimals);

/* A tick label: `decimals` digits after the point, or %.4g for very large or small
 * numbers. out holds DD_CHART_LABEL_MAX bytes. */
#define DD_CHART_LABEL_MAX 32
void dd_chart_tick_label(double v, int decimals, char out[DD_CHART_LABEL_MAX]);

#endif
