/*
 * svg.c - the line chart writer (see svg.h).
 *
 * Layout (pixels, the viewBox): a WIDTH x HEIGHT canvas, the plot inside the margins,
 * the title above it, x tick labels and the x axis label below, y tick labels and the
 * rotated y axis label to its left, the legend in rows under everything (the canvas
 * grows by a row height per row). Data coordinates map linearly onto the plot area,
 * the axis ranges being the outer ticks, so every point lies inside the frame.
 */
#include "svg.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEGEND_ROW 18
#define LEGEND_COL ((DD_CHART_WIDTH - DD_CHART_LEFT) / DD_CHART_LEGEND_PER_ROW)

/* Tableau 10, as the original dashboard's chart (deardiary-jl.md section 8). */
static const char *const palette[] = {
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ab",
};
#define PALETTE_N (sizeof palette / sizeof palette[0])


/* ---------------------------------------------------------------- text */

/* Length of the valid UTF-8 sequence at s (0 when not one): shortest forms only, no
 * surrogates, at most U+10FFFF. */
static size_t utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n;
    uint32_t cp;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) { n = 2; cp = s[0] & 0x1f; }
    else if (s[0] >= 0xe0 && s[0] <= 0xef) { n = 3; cp = s[0] & 0x0f; }
    else if (s[0] >= 0xf0 && s[0] <= 0xf4) { n = 4; cp = s[0] & 0x07; }
    else return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff)
        return 0;
    return n;
}

void dd_svg_escape(dd_buf *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        switch (*p) {
        case '&': dd_buf_adds(out, "&amp;"); p++; continue;
        case '<': dd_buf_adds(out, "&lt;"); p++; continue;
        case '>': dd_buf_adds(out, "&gt;"); p++; continue;
        case '"': dd_buf_adds(out, "&quot;"); p++; continue;
        case '\'': dd_buf_adds(out, "&apos;"); p++; continue;
        default: break;
        }
        size_t n = utf8_len(p);
        if (n == 0 || (*p < 0x20 && *p != '\t') || *p == 0x7f) {
            dd_buf_adds(out, "\xef\xbf\xbd");   /* U+FFFD: XML 1.0 has no way to say these */
            p++;
            continue;
        }
        dd_buf_add(out, (const char *)p, n);
        p += n;
    }
}

/* Bytes dd_svg_escape writes at most for s. */
static size_t escape_bound(const char *s)
{
    return 6 * (s ? strlen(s) : 0);
}

/* ---------------------------------------------------------------- ticks */

/* Heckbert's nice number: 1, 2, 5 or 10 times a power of ten near x (x > 0). */
static double nice_number(double x, bool round_it)
{
    double e = floor(log10(x));
    double f = x / pow(10, e);
    double nf;
    if (round_it)
        nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
    else
        nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return nf * pow(10, e);
}

size_t dd_chart_ticks(double lo, double hi, int want, bool integer,
                      double ticks[DD_CHART_MAX_TICKS], int *decimals)
{
    *decimals = 0;
    double span = hi / 2 - lo / 2;    /* halves: hi - lo may overflow */
    if (want < 2)
        want = 2;
    if (!(span > 0) || !isfinite(span)) {
        ticks[0] = lo;
        ticks[1] = hi;
        return 2;
    }
    double range = nice_number(2 * span, false);
    double d = isfinite(range) ? nice_number(range / (want - 1), true) : 0;
    if (integer && d < 1)
        d = 1;
    double first = floor(lo / d) * d, last = ceil(hi / d) * d;
    if (!(d > 0) || !isfinite(first) || !isfinite(last) || !isfinite(d) ||
        (last - first) / d > DD_CHART_MAX_TICKS - 1 || first + d == first) {
        /* beyond what nice numbers handle (or too fine for doubles): the ends only */
        ticks[0] = lo;
        ticks[1] = hi;
        *decimals = -1;
        return 2;
    }
    size_t n = 0;
    for (double t = first; n < DD_CHART_MAX_TICKS && t <= last + d / 2; t = first + (double)n * d) {
        /* no "-0" */
        ticks[n++] = fabs(t) < d * 1e-9 ? 0 : t;
    }
    if (n < 2) {               /* cannot happen for lo < hi, kept for safety */
        ticks[0] = lo;
        ticks[1] = hi;
        return 2;
    }
    double dig = -floor(log10(d));
    *decimals = dig > 0 ? (int)dig : 0;
    return n;
}

void dd_chart_tick_label(double v, int decimals, char out[DD_CHART_LABEL_MAX])
{
    if (decimals >= 0 && decimals <= 10 && fabs(v) < 1e15)
        snprintf(out, DD_CHART_LABEL_MAX, "%.*f", decimals, v);
    else
        snprintf(out, DD_CHART_LABEL_MAX, "%.4g", v);
}

/* ---------------------------------------------------------------- drawing */

typedef struct frame {
    double x_lo, x_hi, y_lo, y_hi;   /* the axis ranges (outer ticks) */
    double xt[DD_CHART_MAX_TICKS], yt[DD_CHART_MAX_TICKS];
    size_t nx, ny;
    int x_dec, y_dec;
    int height;
    size_t legend_entries;
} frame;

#define PLOT_X0 ((double)DD_CHART_LEFT)
#define PLOT_X1 ((double)(DD_CHART_WIDTH - DD_CHART_RIGHT))
#define PLOT_Y0 ((double)DD_CHART_TOP)
#define PLOT_Y1 ((double)(DD_CHART_HEIGHT - DD_CHART_BOTTOM))

/* Where a value lands between two pixel ends, for an axis range lo..hi; halves keep the
 * arithmetic finite for any finite inputs. Clamped to the canvas so a coordinate is at
 * most "9999.9" wide. */
static double to_px(double v, double lo, double hi, double p0, double p1)
{
    double span = hi / 2 - lo / 2;
    double t = span > 0 ? (v / 2 - lo / 2) / span : 0.5;
    double px = p0 + t * (p1 - p0);
    return px < 0 ? 0 : px > 9999.9 ? 9999.9 : px;
}

static double px_x(const frame *f, double x)
{
    return to_px(x, f->x_lo, f->x_hi, PLOT_X0, PLOT_X1);
}

static double px_y(const frame *f, double y)
{
    return to_px(y, f->y_lo, f->y_hi, PLOT_Y1, PLOT_Y0);
}

/* A degenerate range (one x, or a constant series) widened so the data sits inside. */
static void widen(double *lo, double *hi, bool integer)
{
    if (*hi > *lo)
        return;
    double pad = integer ? 1 : (*lo == 0 ? 1 : fabs(*lo) * 0.1);
    double nlo = *lo - pad, nhi = *hi + pad;
    if (isfinite(nlo) && nlo < *lo)
        *lo = nlo;
    if (isfinite(nhi) && nhi > *hi)
        *hi = nhi;
    if (!(*hi > *lo))          /* at the ends of the doubles: pad one side only */
        *hi = *lo > 0 ? *lo * 0.5 : *lo + 1;
    if (!(*hi > *lo)) {
        double t = *lo;
        *lo = *hi;
        *hi = t;
    }
}

static void frame_compute(const dd_chart *c, frame *f)
{
    bool any = false;
    double xl = 0, xh = 1, yl = 0, yh = 1;
    f->legend_entries = 0;
    for (size_t s = 0; s < c->n_series; s++) {
        const dd_chart_series *se = &c->series[s];
        if (se->label)
            f->legend_entries++;
        for (size_t i = 0; i < se->n; i++) {
            dd_ds_point p = se->points[i];
            if (!any) {
                xl = xh = p.x;
                yl = yh = p.y;
                any = true;
            }
            if (p.x < xl) xl = p.x;
            if (p.x > xh) xh = p.x;
            if (p.y < yl) yl = p.y;
            if (p.y > yh) yh = p.y;
        }
    }
    widen(&xl, &xh, c->x_integer);
    widen(&yl, &yh, false);
    f->nx = dd_chart_ticks(xl, xh, 6, c->x_integer, f->xt, &f->x_dec);
    f->ny = dd_chart_ticks(yl, yh, 6, false, f->yt, &f->y_dec);
    f->x_lo = f->xt[0];
    f->x_hi = f->xt[f->nx - 1];
    f->y_lo = f->yt[0];
    f->y_hi = f->yt[f->ny - 1];
    size_t rows = (f->legend_entries + DD_CHART_LEGEND_PER_ROW - 1) / DD_CHART_LEGEND_PER_ROW;
    f->height = DD_CHART_HEIGHT + (int)(rows > 100000 ? 100000 : rows) * LEGEND_ROW;
}

static void draw_header(const dd_chart *c, const frame *f, dd_buf *out)
{
    dd_buf_printf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
              "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" "
              "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" "
              "font-size=\"12\">\n<title>",
         DD_CHART_WIDTH, f->height, DD_CHART_WIDTH, f->height);
    dd_svg_escape(out, c->title);
    dd_buf_printf(out, "</title>\n<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n"
              "<text x=\"%d\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">",
         DD_CHART_WIDTH, f->height, DD_CHART_WIDTH / 2);
    dd_svg_escape(out, c->title);
    dd_buf_adds(out, "</text>\n");
}

/* One <desc> line per series: what was drawn (count and ranges), for readers and tests. */
static void draw_desc(const dd_chart *c, dd_buf *out)
{
    dd_buf_adds(out, "<desc>");
    for (size_t s = 0; s < c->n_series; s++) {
        const dd_chart_series *se = &c->series[s];
        double xl = 0, xh = 0, yl = 0, yh = 0;
        for (size_t i = 0; i < se->n; i++) {
            dd_ds_point p = se->points[i];
            if (i == 0 || p.x < xl) xl = p.x;
            if (i == 0 || p.x > xh) xh = p.x;
            if (i == 0 || p.y < yl) yl = p.y;
            if (i == 0 || p.y > yh) yh = p.y;
        }
        dd_svg_escape(out, se->label ? se->label : "series");
        dd_buf_printf(out, ": %zu points, x %.17g..%.17g, y %.17g..%.17g\n", se->n, xl, xh, yl, yh);
    }
    dd_buf_adds(out, "</desc>\n");
}

static void draw_axes(const dd_chart *c, const frame *f, dd_buf *out)
{
    char label[DD_CHART_LABEL_MAX];
    dd_buf_adds(out, "<g id=\"grid\" stroke=\"#e4e4e4\" stroke-width=\"1\">\n");
    for (size_t i = 0; i < f->nx; i++) {
        double x = px_x(f, f->xt[i]);
        dd_buf_printf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
             x, PLOT_Y0, x, PLOT_Y1);
    }
    for (size_t i = 0; i < f->ny; i++) {
        double y = px_y(f, f->yt[i]);
        dd_buf_printf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
             PLOT_X0, y, PLOT_X1, y);
    }
    dd_buf_adds(out, "</g>\n<g id=\"x-ticks\" text-anchor=\"middle\" fill=\"#333333\">\n");
    for (size_t i = 0; i < f->nx; i++) {
        dd_chart_tick_label(f->xt[i], f->x_dec, label);
        dd_buf_printf(out, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", px_x(f, f->xt[i]),
             PLOT_Y1 + 16, label);
    }
    dd_buf_adds(out, "</g>\n<g id=\"y-ticks\" text-anchor=\"end\" fill=\"#333333\">\n");
    for (size_t i = 0; i < f->ny; i++) {
        dd_chart_tick_label(f->yt[i], f->y_dec, label);
        dd_buf_printf(out, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", PLOT_X0 - 6,
             px_y(f, f->yt[i]) + 4, label);
    }
    dd_buf_printf(out, "</g>\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
              "stroke=\"#444444\" stroke-width=\"1\"/>\n",
         PLOT_X0, PLOT_Y0, PLOT_X1 - PLOT_X0, PLOT_Y1 - PLOT_Y0);
    dd_buf_printf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
         (PLOT_X0 + PLOT_X1) / 2, PLOT_Y1 + 36);
    dd_svg_escape(out, c->x_label);
    dd_buf_printf(out, "</text>\n<text x=\"16\" y=\"%.1f\" text-anchor=\"middle\" "
              "transform=\"rotate(-90 16 %.1f)\">",
         (PLOT_Y0 + PLOT_Y1) / 2, (PLOT_Y0 + PLOT_Y1) / 2);
    dd_svg_escape(out, c->y_label);
    dd_buf_adds(out, "</text>\n");
}

static void draw_series(const frame *f, const dd_chart_series *se, size_t index,
                        dd_buf *out)
{
    const char *colour = palette[index % PALETTE_N];
    dd_buf_printf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" "
              "stroke-linejoin=\"round\" points=\"", colour);
    for (size_t i = 0; i < se->n; i++)
        dd_buf_printf(out, "%s%.1f,%.1f", i ? " " : "", px_x(f, se->points[i].x),
             px_y(f, se->points[i].y));
    dd_buf_adds(out, "\"/>\n");
    if (se->n == 1)     /* a one-point polyline draws nothing: a dot instead */
        dd_buf_printf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
             px_x(f, se->points[0].x), px_y(f, se->points[0].y), colour);
}

static void draw_legend(const dd_chart *c, const frame *f, dd_buf *out)
{
    if (!f->legend_entries)
        return;
    dd_buf_adds(out, "<g id=\"legend\">\n");
    size_t k = 0;
    for (size_t s = 0; s < c->n_series; s++) {
        if (!c->series[s].label)
            continue;
        double x = PLOT_X0 + (double)(k % DD_CHART_LEGEND_PER_ROW) * LEGEND_COL;
        double y = DD_CHART_HEIGHT - 4 + (double)(k / DD_CHART_LEGEND_PER_ROW) * LEGEND_ROW;
        if (y > 9999.9)
            y = 9999.9;
        dd_buf_printf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                  "stroke-width=\"3\"/><text x=\"%.1f\" y=\"%.1f\">",
             x, y - 4, x + 18, y - 4, palette[s % PALETTE_N], x + 24, y);
        dd_svg_escape(out, c->series[s].label);
        dd_buf_adds(out, "</text>\n");
        k++;
    }
    dd_buf_adds(out, "</g>\n");
}

int dd_chart_svg(const dd_chart *c, dd_buf *out)
{
    frame f;
    frame_compute(c, &f);
    draw_header(c, &f, out);
    draw_desc(c, out);
    draw_axes(c, &f, out);
    for (size_t s = 0; s < c->n_series; s++)
        draw_series(&f, &c->series[s], s, out);
    draw_legend(c, &f, out);
    dd_buf_adds(out, "</svg>\n");
    return out->oom ? -1 : 0;
}

/* ---------------------------------------------------------------- sizes */

/* Generous per-element maxima of the fixed-format elements above: each counts its
 * literal text plus every number at its widest ("%.1f" of a clamped coordinate is at
 * most 6 bytes, "%d" of the canvas at most 11, "%.17g" at most 24, "%zu" at most 20).
 * test_svg.c checks the bound against random charts. */
#define FIXED_BYTES 1280          /* header, frame, axis labels' markup, closing tags */
#define TICK_BYTES (96 + DD_CHART_LABEL_MAX)      /* grid line (56) + tick text (67 with label) */
#define DESC_BYTES 160            /* a desc line without its label (137 at most) */
#define SERIES_BYTES 256          /* polyline markup + the one-point circle */
#define POINT_BYTES 14            /* " 9999.9,9999.9" */
#define LEGEND_BYTES 256          /* line + text markup */

size_t dd_chart_svg_bound(const dd_chart *c, const size_t *max_points)
{
    size_t b = FIXED_BYTES + 2 * escape_bound(c->title) + escape_bound(c->x_label) +
               escape_bound(c->y_label) + 2 * DD_CHART_MAX_TICKS * TICK_BYTES;
    for (size_t s = 0; s < c->n_series; s++) {
        const char *label = c->series[s].label;
        b += DESC_BYTES + escape_bound(label ? label : "series") + SERIES_BYTES +
             POINT_BYTES * max_points[s];
        if (label)
            b += LEGEND_BYTES + escape_bound(label);
    }
    return b;
}

int dd_chart_svg_padded(const dd_chart *c, size_t size, dd_buf *out)
{
    size_t start = out->len;
    if (dd_chart_svg(c, out))
        return -1;
    size_t n = out->len - start;
    if (n < size) {
        char *p = dd_buf_reserve(out, size - n);
        if (!p)
            return -1;
        memset(p, '\n', size - n);
        out->len += size - n;
        out->data[out->len] = 0;
    }
    return 0;
}
