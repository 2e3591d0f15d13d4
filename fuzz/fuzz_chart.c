/*
 * fuzz_chart.c - libFuzzer target for the chart writer's handling of user text and
 * points (chart/svg.c, chart/downsample.c): keys and statuses are user data, and
 * values any finite double.
 *
 * Input: a label (up to the first NUL), then 16-byte (x, y) pairs of doubles (non-finite
 * ones skipped, then sorted by x as a series read by step is).
 * Promises checked: dd_svg_escape writes valid UTF-8 with no raw <, >, ", ' or control
 * character and every & starting one of the five entities, at most 6 bytes per byte in;
 * the downsampler keeps at most 4 points per column, the first and the last point fed,
 * and the lowest and highest y; the chart is drawn without error, never past
 * dd_chart_svg_bound(), and padding brings it to exactly that size.
 */
#include <math.h>
#include <string.h>

#include "fuzz.h"
#include "svg.h"

static int by_x(const void *a, const void *b)
{
    const dd_ds_point *p = a, *q = b;
    return p->x < q->x ? -1 : p->x > q->x;
}

static void check_escape(const char *label)
{
    dd_buf b = {0};
    dd_svg_escape(&b, label);
    PROMISE(!b.oom);
    PROMISE(b.len <= 6 * strlen(label));
    static const char *const entities[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    for (size_t i = 0; i < b.len;) {
        unsigned char c = (unsigned char)b.data[i];
        PROMISE(c != '<' && c != '>' && c != '"' && c != '\'' && c != 0x7f &&
                (c >= 0x20 || c == '\t'));
        if (c == '&') {
            size_t k = 0;
            while (k < 5 && strncmp(b.data + i, entities[k], strlen(entities[k])) != 0)
                k++;
            PROMISE(k < 5);
        }
        size_t n = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        PROMISE(c < 0x80 || c >= 0xc2);
        PROMISE(i + n <= b.len);
        for (size_t j = 1; j < n; j++)
            PROMISE(((unsigned char)b.data[i + j] & 0xc0) == 0x80);
        i += n;
    }
    dd_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t llen = strnlen((const char *)data, size);
    char *label = malloc(llen + 1);
    memcpy(label, data, llen);
    label[llen] = 0;
    check_escape(label);

    size_t off = llen < size ? llen + 1 : size;
    size_t n = 0, cap = (size - off) / 16;
    dd_ds_point *pts = malloc((cap ? cap : 1) * sizeof *pts);
    for (size_t i = 0; i < cap; i++) {
        double xy[2];
        memcpy(xy, data + off + 16 * i, sizeof xy);
        if (isfinite(xy[0]) && isfinite(xy[1]))
            pts[n++] = (dd_ds_point){xy[0], xy[1]};
    }
    qsort(pts, n, sizeof *pts, by_x);

    size_t cols = 1 + (size % 64);
    dd_downsample ds;
    PROMISE(dd_ds_init(&ds, cols, NAN, n ? pts[n - 1].x : 0) == 0);
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        dd_ds_add(&ds, pts[i].x, pts[i].y);
        lo = fmin(lo, pts[i].y);
        hi = fmax(hi, pts[i].y);
    }
    size_t m;
    const dd_ds_point *kept = dd_ds_finish(&ds, &m);
    PROMISE(m <= 4 * cols && (n == 0) == (m == 0));
    if (n) {
        PROMISE(kept[0].x == pts[0].x && kept[0].y == pts[0].y);
        PROMISE(kept[m - 1].x == pts[n - 1].x && kept[m - 1].y == pts[n - 1].y);
        bool got_lo = false, got_hi = false;
        for (size_t i = 0; i < m; i++) {
            got_lo = got_lo || kept[i].y == lo;
            got_hi = got_hi || kept[i].y == hi;
        }
        PROMISE(got_lo && got_hi);
    }

    dd_chart_series s[2] = {{label, kept, m}, {NULL, pts, n}};
    dd_chart c = {label, "step", label, size % 2 == 0, s, 2};
    size_t caps[2] = {m, n};
    size_t bound = dd_chart_svg_bound(&c, caps);
    dd_buf b = {0};
    PROMISE(dd_chart_svg(&c, &b) == 0);
    PROMISE(b.len <= bound);
    if (!strstr(label, "nan") && !strstr(label, "inf"))    /* no non-finite number drawn */
        PROMISE(strstr(b.data, "nan") == NULL && strstr(b.data, "inf") == NULL);
    dd_buf_free(&b);
    PROMISE(dd_chart_svg_padded(&c, bound, &b) == 0 && b.len == bound);
    dd_buf_free(&b);

    dd_ds_free(&ds);
    free(pts);
    free(label);
    return 0;
}
