/*
 * test_textfmt.c - dd_format_double (shortest round-trip text) and dd_metric_line.
 */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <time.h>

#include "check.h"
#include "store.h"
#include "textfmt.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)   /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* Loop counts: a twentieth with DD_TEST_QUICK=1 (make test's valgrind and sanitizer
 * phases, where these random sweeps are 20-50x slower; the normal build runs them all). */
static int rounds(int n)
{
    const char *q = getenv("DD_TEST_QUICK");
    return q && *q && strcmp(q, "0") != 0 ? n / 20 : n;
}

static double bits_to_double(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static int same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Significant digits in a %g-style text ("1.25e-05" -> 3, "-0" -> 1). */
static int sig_digits(const char *s)
{
    int n = 0, seen = 0, trailing_zeros = 0;
    for (; *s && *s != 'e'; s++) {
        if (*s < '0' || *s > '9')
            continue;
        if (*s == '0' && !seen)
            continue;
        seen = 1;
        n++;
        trailing_zeros = *s == '0' ? trailing_zeros + 1 : 0;
    }
    return seen ? n - trailing_zeros : 1;
}

/* The definition: the first of "%.15g", "%.16g", "%.17g" that strtod reads back
 * (subnormals: from "%.1g"). dd_format_double's fast paths must agree with it. */
static void reference(double v, char out[32])
{
    int prec = fabs(v) < DBL_MIN && v != 0 ? 1 : 15;
    for (; prec <= 17; prec++) {
        snprintf(out, 32, "%.*g", prec, v);
        if (prec == 17 || same_bits(strtod(out, NULL), v))
            return;
    }
}

static void test_format_reference(void)
{
    int bad = 0;
    for (int i = 0; i < rounds(300000); i++) {
        double v;
        char src[64];
        switch (i % 3) {
        case 0: v = bits_to_double(rng()); break;
        case 1:   /* short decimals around 1 */
            snprintf(src, sizeof src, "%s%" PRIu64 "e-%d", i % 2 ? "-" : "",
                     rng() % (1 + rng() % (uint64_t)100000000), (int)(rng() % 12));
            v = strtod(src, NULL);
            break;
        default:  /* any magnitude where fixed notation is used */
            v = (double)(rng() >> 11) / 9007199254740992.0 * pow(10, (int)(rng() % 20) - 5);
            break;
        }
        if (!isfinite(v))
            continue;
        char want[32], got[32];
        reference(v, want);
        dd_format_double(v, got);
        if (strcmp(want, got) != 0 && bad++ < 10)
            fprintf(stderr, "%a: got %s, reference %s\n", v, got, want);
    }
    CHECK(bad == 0);
    /* edges of the fixed-notation fast path */
    static const double edges[] = {1e-4, 1.0001e-4, 9.999e-5, 0.00010000000000000002,
                                   999999999999999.0, 999999999999999.9, 99999999999999.99,
                                   1e15 - 0.125, 0.5, 0.25, 1e-3, 12345.678};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        char want[32], got[32];
        reference(edges[i], want);
        dd_format_double(edges[i], got);
        CHECK_STR(got, want);
        reference(-edges[i], want);
        dd_format_double(-edges[i], got);
        CHECK_STR(got, want);
    }
}

static void test_format_table(void)
{
    static const struct { double v; const char *want; } cases[] = {
        {0.93, "0.93"},
        {7.0, "7"},
        {1e-05, "1e-05"},
        {-0.5, "-0.5"},
        {0.1 + 0.2, "0.30000000000000004"},
        {1e300, "1e+300"},
        {-0.0, "-0"},
        {0.0, "0"},
        {1.0, "1"},
        {-1.0, "-1"},
        {42.0, "42"},
        {0.1, "0.1"},
        {1.5, "1.5"},
        {100.0, "100"},
        {123456789012345.0, "123456789012345"},
        {-999999999999999.0, "-999999999999999"},
        {1e15, "1e+15"},
        {1e16, "1e+16"},
        {1e14, "100000000000000"},
        {0.0001, "0.0001"},
        {0.00001234, "1.234e-05"},
        {1.0 / 3.0, "0.3333333333333333"},
        {2.0 / 3.0, "0.6666666666666666"},
        {DBL_MAX, "1.7976931348623157e+308"},
        {-DBL_MAX, "-1.7976931348623157e+308"},
        {DBL_MIN, "2.2250738585072014e-308"},
        {5e-324, "5e-324"},
        {-5e-324, "-5e-324"},
        {1e-310, "1e-310"},
        {DBL_EPSILON, "2.220446049250313e-16"},
        {9007199254740993.0, "9007199254740992"},
        {0.3, "0.3"},
        {3.14159, "3.14159"},
        {2.5e-7, "2.5e-07"},
        {123.456, "123.456"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[32];
        memset(out, 'x', sizeof out);
        size_t n = dd_format_double(cases[i].v, out);
        CHECK_STR(out, cases[i].want);
        CHECK(n == strlen(cases[i].want));
        CHECK(same_bits(strtod(out, NULL), cases[i].v));
    }
    char out[32];
    CHECK(dd_format_double(NAN, out) == 3);
    CHECK_STR(out, "nan");
    dd_format_double(INFINITY, out);
    CHECK_STR(out, "inf");
    dd_format_double(-INFINITY, out);
    CHECK_STR(out, "-inf");
}

/* Random bit patterns: every finite double comes back exactly; at most 17 digits. */
static void test_format_random_bits(void)
{
    int bad = 0, too_long = 0;
    for (int i = 0; i < rounds(100000); i++) {
        double v = bits_to_double(rng());
        if (!isfinite(v)) {
            i--;
            continue;
        }
        char out[32];
        size_t n = dd_format_double(v, out);
        if (!same_bits(strtod(out, NULL), v) || n != strlen(out)) {
            if (bad++ < 5)
                fprintf(stderr, "round trip failed: %a -> %s\n", v, out);
        }
        if (n > 24 || sig_digits(out) > 17)
            too_long++;
    }
    CHECK(bad == 0);
    CHECK(too_long == 0);
}

/* Short decimals (typical metric values) print with no more digits than they were
 * written with; integers and subnormals too. */
static void test_format_shortest(void)
{
    int bad = 0;
    for (int i = 0; i < rounds(100000); i++) {
        char src[64], out[32];
        int digits = 1 + (int)(rng() % 15);
        uint64_t mant = rng() % 1000000000000000ull;
        for (int d = digits; d < 15; d++)
            mant /= 10;
        int exp = (int)(rng() % 590) - 300;
        if (i % 4 == 0)
            exp = (int)(rng() % 12) - 8;
        snprintf(src, sizeof src, "%s%" PRIu64 "e%d", i % 3 ? "" : "-", mant, exp);
        double v = strtod(src, NULL);
        dd_format_double(v, out);
        int ok = same_bits(strtod(out, NULL), v) && sig_digits(out) <= (mant ? digits : 1);
        if (!ok && bad++ < 5)
            fprintf(stderr, "not shortest: %s -> %s\n", src, out);
    }
    CHECK(bad == 0);
    /* integers: same digits as %.15g, and back */
    bad = 0;
    for (int i = 0; i < rounds(100000); i++) {
        int64_t k = (int64_t)(rng() % 2000000000000000ull) - 1000000000000000ll;
        char want[32], out[32];
        snprintf(want, sizeof want, "%.15g", (double)k);
        dd_format_double((double)k, out);
        if (strcmp(want, out) != 0 && bad++ < 5)
            fprintf(stderr, "integer %" PRId64 ": %s != %s\n", k, out, want);
    }
    CHECK(bad == 0);
    /* subnormals: exact, and never longer than needed for the smallest ones */
    bad = 0;
    for (int i = 0; i < rounds(10000); i++) {
        double v = bits_to_double(rng() % 0x000fffffffffffffull + 1);
        char out[32];
        dd_format_double(v, out);
        if (!same_bits(strtod(out, NULL), v) && bad++ < 5)
            fprintf(stderr, "subnormal %a -> %s\n", v, out);
    }
    CHECK(bad == 0);
}

static void test_format_speed(void)
{
    char out[32];
    size_t total = 0;
    double t0 = now_ms();
    for (int i = 0; i < rounds(1000000); i++)
        total += dd_format_double((double)(i % 1000) / 1000.0, out);
    double t1 = now_ms();
    for (int i = 0; i < rounds(1000000); i++)
        total += dd_format_double(1.0 / (i + 3), out);
    double t2 = now_ms();
    printf("dd_format_double: 1M short decimals in %.0f ms, 1M 16-17 digit values in %.0f ms\n",
           t1 - t0, t2 - t1);
    CHECK(total > 0);
}

static void test_metric_line(void)
{
    char out[DD_METRIC_LINE_MAX];
    const char *ts = "2026-11-23T12:00:00.000Z";
    static const struct { int64_t step; double v; const char *ts; const char *want; } cases[] = {
        {3, 0.93, "2026-11-23T12:00:00.000Z", "3 0.93 2026-11-23T12:00:00.000Z\n"},
        {0, 7.0, "2026-11-23T12:00:00.000Z", "0 7 2026-11-23T12:00:00.000Z\n"},
        {-1, -0.5, "2026-11-23T12:00:00.000Z", "-1 -0.5 2026-11-23T12:00:00.000Z\n"},
        {10, 1e-05, "2026-11-23T12:00:00.000Z", "10 1e-05 2026-11-23T12:00:00.000Z\n"},
        {INT64_MAX, 0.1 + 0.2, "2026-11-23T12:00:00.000Z",
         "9223372036854775807 0.30000000000000004 2026-11-23T12:00:00.000Z\n"},
        {INT64_MIN, -DBL_MAX, "2026-11-23T12:00:00.000Z",
         "-9223372036854775808 -1.7976931348623157e+308 2026-11-23T12:00:00.000Z\n"},
        {1234567890, -0.0, "", "1234567890 -0 \n"},
        {42, 1.5, NULL, "42 1.5 \n"},
        /* over-long timestamps are cut so the line always fits */
        {1, 2.0, "2026-11-23T12:00:00.000Zjunkjunkjunkjunkjunkjunkjunkjunkjunkjunkjunkjunk",
         "1 2 2026-11-23T12:00:00.000Z\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = dd_metric_line(cases[i].step, cases[i].v, cases[i].ts, out);
        CHECK_STR(out, cases[i].want);
        CHECK(n == strlen(cases[i].want));
        CHECK(n < DD_METRIC_LINE_MAX);
    }
    /* the longest possible line fits */
    size_t n = dd_metric_line(INT64_MIN, -2.2250738585072014e-308, ts, out);
    CHECK(n == 20 + 1 + 24 + 1 + 24 + 1);
    CHECK(n + 1 <= 72);
    /* random lines parse back */
    int bad = 0;
    for (int i = 0; i < rounds(100000); i++) {
        int64_t step = (int64_t)rng();
        double v = bits_to_double(rng());
        if (!isfinite(v))
            continue;
        n = dd_metric_line(step, v, ts, out);
        char *end;
        long long s2 = strtoll(out, &end, 10);
        double v2 = strtod(end, &end);
        int ok = s2 == step && same_bits(v2, v) && *end == ' ' &&
                 strcmp(end + 1, "2026-11-23T12:00:00.000Z\n") == 0 && n == strlen(out) &&
                 n < DD_METRIC_LINE_MAX;
        if (!ok && bad++ < 5)
            fprintf(stderr, "line: %s", out);
    }
    CHECK(bad == 0);
}

int main(void)
{
    test_format_table();
    test_format_reference();
    test_format_random_bits();
    test_format_shortest();
    test_format_speed();
    test_metric_line();
    return check_done();
}
