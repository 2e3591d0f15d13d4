/*
 * test_downsample.c - chart/downsample.c (M4): bounded output, every column's extremes,
 * first and last kept, constant / single-point / empty series, x range learnt from the
 * first point, points outside the range clamped, runs fed whole (dd_ds_add_run) equal to
 * their points.
 */
#include <math.h>

#include "check.h"
#include "downsample.h"

/* A deterministic noisy curve (a decaying loss with spikes). */
static double curve(long i)
{
    double noise = (double)((i * 2654435761u) % 1000) / 1000.0 - 0.5;
    double spike = (i % 9973 == 0) ? 5.0 : 0.0;
    return 3.0 * exp(-(double)i / 200000.0) + 0.1 * noise + spike;
}

static int same(dd_ds_point a, double x, double y)
{
    return a.x == x && a.y == y;
}

/* Point counts: a twentieth with DD_TEST_QUICK=1 (make test's valgrind and sanitizer
 * phases); the normal build feeds the full million. */
static long quick(long n)
{
    const char *q = getenv("DD_TEST_QUICK");
    return q && *q && strcmp(q, "0") != 0 ? n / 20 : n;
}

/* 1M points into `cols` columns: at most 4 per column, each column's min and max present,
 * the output in x order, first and last point kept. */
static void test_million(size_t cols)
{
    const long n = quick(1000000);
    dd_downsample ds;
    CHECK(dd_ds_init(&ds, cols, 0, (double)(n - 1)) == 0);
    double *cmin = malloc(cols * sizeof *cmin), *cmax = malloc(cols * sizeof *cmax);
    for (size_t c = 0; c < cols; c++) {
        cmin[c] = INFINITY;
        cmax[c] = -INFINITY;
    }
    for (long i = 0; i < n; i++) {
        double y = curve(i);
        size_t c = (size_t)floor((double)i / (double)(n - 1) * (double)cols);
        if (c >= cols) c = cols - 1;
        if (y < cmin[c]) cmin[c] = y;
        if (y > cmax[c]) cmax[c] = y;
        dd_ds_add(&ds, (double)i, y);
    }
    size_t m;
    const dd_ds_point *p = dd_ds_finish(&ds, &m);
    CHECK(m <= 4 * cols);
    CHECK(m >= 2 * cols);   /* a noisy curve has distinct first/min/max/last nearly everywhere */
    CHECK(same(p[0], 0, curve(0)));
    CHECK(same(p[m - 1], (double)(n - 1), curve(n - 1)));
    int ordered = 1;
    for (size_t k = 1; k < m; k++)
        if (p[k].x < p[k - 1].x) ordered = 0;
    CHECK(ordered);
    /* every column's extremes are among the kept points of that column */
    size_t k = 0, missing = 0;
    for (size_t c = 0; c < cols; c++) {
        int got_min = 0, got_max = 0;
        for (; k < m; k++) {
            size_t pc = (size_t)floor(p[k].x / (double)(n - 1) * (double)cols);
            if (pc >= cols) pc = cols - 1;
            if (pc != c) break;
            if (p[k].y == cmin[c]) got_min = 1;
            if (p[k].y == cmax[c]) got_max = 1;
        }
        if (!got_min || !got_max) missing++;
    }
    CHECK(missing == 0);
    CHECK(ds.y_min <= cmin[0] && ds.y_max >= 5.0);   /* the spikes at every 9973rd point */
    free(cmin);
    free(cmax);
    dd_ds_free(&ds);
}

static void test_constant(void)
{
    dd_downsample ds;
    CHECK(dd_ds_init(&ds, 100, NAN, 99999) == 0);
    for (long i = 0; i < 100000; i++)
        dd_ds_add(&ds, (double)i, 0.5);
    size_t m;
    const dd_ds_point *p = dd_ds_finish(&ds, &m);
    /* per column: first (= min = max) and last */
    CHECK(m <= 200 && m >= 100);
    CHECK(same(p[0], 0, 0.5) && same(p[m - 1], 99999, 0.5));
    CHECK(ds.y_min == 0.5 && ds.y_max == 0.5);
    dd_ds_free(&ds);
}

static void test_single_and_empty(void)
{
    dd_downsample ds;
    size_t m;
    CHECK(dd_ds_init(&ds, 10, NAN, 7) == 0);
    dd_ds_add(&ds, 7, -2.25);
    const dd_ds_point *p = dd_ds_finish(&ds, &m);
    CHECK(m == 1 && same(p[0], 7, -2.25));
    dd_ds_free(&ds);

    CHECK(dd_ds_init(&ds, 10, 0, 100) == 0);
    dd_ds_finish(&ds, &m);
    CHECK(m == 0);
    dd_ds_free(&ds);

    CHECK(dd_ds_init(&ds, 0, 0, 1) == -1);
}

/* Fewer points than columns: every point is kept. Repeated x (repeated steps) too. */
static void test_short_and_repeats(void)
{
    dd_downsample ds;
    size_t m;
    CHECK(dd_ds_init(&ds, 800, 0, 9) == 0);
    for (int i = 0; i < 10; i++)
        dd_ds_add(&ds, i, i * i);
    const dd_ds_point *p = dd_ds_finish(&ds, &m);
    CHECK(m == 10);
    CHECK(same(p[3], 3, 9));
    dd_ds_free(&ds);

    CHECK(dd_ds_init(&ds, 4, NAN, 5) == 0);
    dd_ds_add(&ds, 5, 1);
    dd_ds_add(&ds, 5, 3);
    dd_ds_add(&ds, 5, -1);
    dd_ds_add(&ds, 5, 2);
    dd_ds_add(&ds, 5, 0);
    p = dd_ds_finish(&ds, &m);
    CHECK(m == 4);   /* first 1, max 3, min -1, last 0: the 2 goes */
    CHECK(same(p[0], 5, 1) && same(p[1], 5, 3) && same(p[2], 5, -1) && same(p[3], 5, 0));
    dd_ds_free(&ds);
}

/* Points beyond x_hi (appended after the summary was read) land in the last column. */
static void test_clamp(void)
{
    dd_downsample ds;
    size_t m;
    CHECK(dd_ds_init(&ds, 10, NAN, 100) == 0);
    for (int i = 0; i <= 200; i++)
        dd_ds_add(&ds, i, (double)(i % 7));
    const dd_ds_point *p = dd_ds_finish(&ds, &m);
    CHECK(m <= 40);
    CHECK(same(p[m - 1], 200, (double)(200 % 7)));
    dd_ds_free(&ds);
}

/* Runs (dd_ds_add_run) in place of their points wherever dd_ds_one_column says they fit:
 * the same output, point for point, for x ranges given or learnt (NAN), a range shorter
 * than the data (clamped ends), tied x and y, and runs of 1..97 points. */
static void test_runs_equal_points(void)
{
    static const double ranges[][2] = {{NAN, 99999}, {0, 99999}, {-500, 40000}, {NAN, 0},
                                       {7, 7}};
    static const size_t cols[] = {700, 13, 1};
    const long n = 100000;
    for (size_t r = 0; r < sizeof ranges / sizeof *ranges; r++)
        for (size_t c = 0; c < sizeof cols / sizeof *cols; c++)
            for (long len = 1; len <= 97; len += 32) {
                dd_downsample a, b;
                CHECK(dd_ds_init(&a, cols[c], ranges[r][0], ranges[r][1]) == 0);
                CHECK(dd_ds_init(&b, cols[c], ranges[r][0], ranges[r][1]) == 0);
                long runs = 0;
                for (long i = 0; i < n; i += len) {
                    long end = i + len < n ? i + len : n;
                    /* x: ties in threes; y: the noisy curve rounded, so extremes tie */
                    dd_ds_run run = {.n = (uint64_t)(end - i)};
                    for (long j = i; j < end; j++) {
                        dd_ds_point p = {(double)(j / 3), round(curve(j) * 20.0)};
                        dd_ds_add(&a, p.x, p.y);
                        uint64_t k = (uint64_t)(j - i);
                        if (k == 0)
                            run.first = run.min = run.max = p;
                        if (p.y < run.min.y) run.min = p, run.i_min = k;
                        if (p.y > run.max.y) run.max = p, run.i_max = k;
                        run.last = p;
                    }
                    if (dd_ds_one_column(&b, run.first.x, run.last.x)) {
                        dd_ds_add_run(&b, &run);
                        runs++;
                        continue;
                    }
                    for (long j = i; j < end; j++)
                        dd_ds_add(&b, (double)(j / 3), round(curve(j) * 20.0));
                }
                size_t na, nb;
                const dd_ds_point *pa = dd_ds_finish(&a, &na), *pb = dd_ds_finish(&b, &nb);
                int equal = na == nb && a.n_in == b.n_in && a.y_min == b.y_min &&
                            a.y_max == b.y_max && a.x_last == b.x_last;
                for (size_t k = 0; equal && k < na; k++)
                    equal = same(pa[k], pb[k].x, pb[k].y);
                CHECK(equal);
                CHECK(runs > 0);
                dd_ds_free(&a);
                dd_ds_free(&b);
            }
}

int main(void)
{
    test_runs_equal_points();
    test_million(800);
    test_million(1);
    test_constant();
    test_single_and_empty();
    test_short_and_repeats();
    test_clamp();
    return check_done();
}
