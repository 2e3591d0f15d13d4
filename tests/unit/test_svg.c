/*
 * test_svg.c - chart/svg.c: XML escaping (entities, invalid UTF-8, control characters),
 * nice ticks and their labels, the size bound and padding, degenerate charts (no points,
 * one point, a constant series, values at the ends of the doubles).
 */
#include <float.h>
#include <math.h>

#include "check.h"
#include "svg.h"

static char *escaped(const char *s)
{
    dd_buf b = {0};
    dd_svg_escape(&b, s);
    return b.data ? b.data : strdup("");
}

static void test_escape(void)
{
    char *e = escaped("a<b>&\"c'd");
    CHECK_STR(e, "a&lt;b&gt;&amp;&quot;c&apos;d");
    free(e);
    e = escaped("caf\xc3\xa9 \xe2\x82\xac");          /* valid UTF-8 kept */
    CHECK_STR(e, "caf\xc3\xa9 \xe2\x82\xac");
    free(e);
    e = escaped("x\xff" "y\x01z\xc3");                 /* bad bytes, a control, a cut seq */
    CHECK_STR(e, "x\xef\xbf\xbdy\xef\xbf\xbdz\xef\xbf\xbd");
    free(e);
    e = escaped("\xed\xa0\x80");                      /* a surrogate is not UTF-8 */
    CHECK_STR(e, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    free(e);
    e = escaped("\"'\"'");
    CHECK(strlen(e) <= 6 * 4);
    free(e);
}

static void test_ticks(void)
{
    double t[DD_CHART_MAX_TICKS];
    int dec;
    size_t n = dd_chart_ticks(0, 999999, 6, true, t, &dec);
    CHECK(n == 6 && t[0] == 0 && t[5] == 1000000 && t[1] == 200000 && dec == 0);
    n = dd_chart_ticks(0.013, 0.987, 6, false, t, &dec);
    CHECK(n >= 3 && t[0] <= 0.013 && t[n - 1] >= 0.987 && dec == 1);
    char label[DD_CHART_LABEL_MAX];
    dd_chart_tick_label(t[1], dec, label);
    CHECK_STR(label, "0.2");
    n = dd_chart_ticks(-3.5, 12.25, 6, false, t, &dec);
    CHECK(t[0] <= -3.5 && t[n - 1] >= 12.25 && n <= 11);
    int has_zero = 0;
    for (size_t i = 0; i < n; i++) {
        dd_chart_tick_label(t[i], dec, label);
        if (strcmp(label, "0") == 0) has_zero = 1;
        CHECK(strcmp(label, "-0") != 0);
    }
    CHECK(has_zero);
    /* integer axis over a short span: every step */
    n = dd_chart_ticks(0, 3, 6, true, t, &dec);
    CHECK(n == 4 && t[3] == 3 && dec == 0);
    /* extreme spans: still two ticks bracketing the data, finite */
    n = dd_chart_ticks(-DBL_MAX, DBL_MAX, 6, false, t, &dec);
    CHECK(n >= 2 && t[0] <= -DBL_MAX && t[n - 1] >= DBL_MAX && isfinite(t[0]) && isfinite(t[n - 1]));
    n = dd_chart_ticks(1.0, 1.0 + 4 * DBL_EPSILON, 6, false, t, &dec);
    CHECK(n >= 2 && t[0] <= 1.0 && t[n - 1] >= 1.0 + 4 * DBL_EPSILON);
    dd_chart_tick_label(1e20, 0, label);
    CHECK_STR(label, "1e+20");
    dd_chart_tick_label(2.6e-7, 7, label);
    CHECK_STR(label, "0.0000003");
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void test_chart(void)
{
    dd_ds_point pts[5] = {{0, 1}, {1, 0.5}, {2, 0.25}, {3, 0.2}, {4, 0.125}};
    dd_ds_point one[1] = {{7, 3}};
    dd_chart_series s[2] = {{"#1 <running>", pts, 5}, {"#2 \"x\" & y", one, 1}};
    dd_chart c = {"loss & <acc>", "step", "value", true, s, 2};
    dd_buf b = {0};
    CHECK(dd_chart_svg(&c, &b) == 0);
    CHECK(strncmp(b.data, "<?xml", 5) == 0);
    CHECK(count(b.data, "<polyline") == 2);
    CHECK(count(b.data, "<circle") == 1);         /* the one-point series' dot */
    CHECK(strstr(b.data, "loss &amp; &lt;acc&gt;") != NULL);
    CHECK(strstr(b.data, "#2 &quot;x&quot; &amp; y") != NULL);
    CHECK(strstr(b.data, "<acc>") == NULL && strstr(b.data, "<running>") == NULL);
    CHECK(strstr(b.data, "#4e79a7") && strstr(b.data, "#f28e2b"));
    CHECK(strstr(b.data, "#1 &lt;running&gt;: 5 points, x 0..4, y 0.125..1\n") != NULL);
    size_t cap[2] = {5, 1};
    size_t bound = dd_chart_svg_bound(&c, cap);
    CHECK(b.len <= bound);
    dd_buf p = {0};
    CHECK(dd_chart_svg_padded(&c, bound, &p) == 0);
    CHECK(p.len == bound && memcmp(p.data, b.data, b.len) == 0);
    CHECK(strspn(p.data + b.len, "\n") == bound - b.len);
    dd_buf_free(&b);
    dd_buf_free(&p);

    /* nothing to draw, a constant series, one point at the ends of the doubles */
    dd_chart empty = {"empty", "step", "value", true, NULL, 0};
    CHECK(dd_chart_svg(&empty, &b) == 0 && strstr(b.data, "</svg>") != NULL);
    CHECK(b.len <= dd_chart_svg_bound(&empty, NULL));
    dd_buf_free(&b);
    dd_ds_point flat[3] = {{0, 2}, {1, 2}, {2, 2}};
    dd_chart_series fs = {NULL, flat, 3};
    dd_chart fc = {"flat", "step", "value", true, &fs, 1};
    CHECK(dd_chart_svg(&fc, &b) == 0);
    CHECK(strstr(b.data, "nan") == NULL && strstr(b.data, "inf") == NULL);
    CHECK(strstr(b.data, "<g id=\"legend\">") == NULL);
    dd_buf_free(&b);
    dd_ds_point huge[2] = {{0, -DBL_MAX}, {1, DBL_MAX}};
    fs.points = huge;
    fs.n = 2;
    CHECK(dd_chart_svg(&fc, &b) == 0);
    CHECK(strstr(b.data, "nan") == NULL && strstr(b.data, "inf") == NULL);
    dd_buf_free(&b);
}

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* Random charts (many series, long labels full of escapes, wild values): never past
 * the bound. */
static void test_bound(void)
{
    int over = 0;
    const char *q = getenv("DD_TEST_QUICK");
    int rounds = q && *q && strcmp(q, "0") != 0 ? 10 : 50;   /* valgrind, sanitizers */
    for (int round = 0; round < rounds; round++) {
        size_t ns = 1 + rng() % 40;
        dd_chart_series *s = calloc(ns, sizeof *s);
        dd_ds_point **pp = calloc(ns, sizeof *pp);
        size_t *cap = calloc(ns, sizeof *cap);
        char label[256 + 1];
        for (size_t i = 0; i < 256; i++)
            label[i] = "<&\"'a\xff"[rng() % 6];
        label[256] = 0;
        for (size_t k = 0; k < ns; k++) {
            size_t n = rng() % 3000;
            pp[k] = malloc((n + 1) * sizeof **pp);
            double scale = pow(10, (double)(rng() % 600) - 300);
            for (size_t i = 0; i < n; i++)
                pp[k][i] = (dd_ds_point){(double)i * (double)(rng() % 1000),
                                         ((double)(rng() % 2000) - 1000) * scale};
            s[k] = (dd_chart_series){rng() % 2 ? label : NULL, pp[k], n};
            cap[k] = n;
        }
        dd_chart c = {label, "step", label, rng() % 2 == 0, s, ns};
        dd_buf b = {0};
        dd_chart_svg(&c, &b);
        if (b.oom || b.len > dd_chart_svg_bound(&c, cap))
            over++;
        dd_buf_free(&b);
        for (size_t k = 0; k < ns; k++)
            free(pp[k]);
        free(pp);
        free(s);
        free(cap);
    }
    CHECK(over == 0);
}

int main(void)
{
    test_escape();
    test_ticks();
    test_chart();
    test_bound();
    return check_done();
}
