/*
 * test_parse.c - metric lines, one-value files and params.yaml (fs/parse.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <time.h>

#include "check.h"
#include "parse.h"
#include "store.h"

/* Time limits are multiplied by DD_TEST_TIME_SCALE (default 1): make test's valgrind
 * phase sets 20, since valgrind runs code 20-50x slower; the limits still catch a
 * quadratic parser there, which would be thousands of times slower. */
static double time_scale(void)
{
    const char *s = getenv("DD_TEST_TIME_SCALE");
    double v = s ? strtod(s, NULL) : 1.0;
    return v >= 1.0 ? v : 1.0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---------------------------------------------------------------- metric lines */

typedef struct want_pt {
    double value;
    int has_step;
    int64_t step;
    const char *ts;
} want_pt;

static void check_points(const char *in, size_t n_want, const want_pt *want)
{
    dd_metric_point *pts = (void *)1;
    size_t n = 99;
    char msg[256] = "junk";
    int rc = dd_parse_metric_lines(in, strlen(in), &pts, &n, msg, sizeof msg);
    CHECK(rc == 0);
    CHECK_STR(msg, "");
    CHECK(n == n_want);
    if (rc || n != n_want) {
        fprintf(stderr, "  input: \"%s\" rc %d n %zu msg %s\n", in, rc, n, msg);
        free(rc ? NULL : pts);
        return;
    }
    CHECK((n == 0) == (pts == NULL));
    for (size_t i = 0; i < n; i++) {
        int ok = pts[i].value == want[i].value && pts[i].has_step == (want[i].has_step != 0) &&
                 pts[i].step == want[i].step && strcmp(pts[i].recorded_at, want[i].ts) == 0 &&
                 signbit(pts[i].value) == signbit(want[i].value);
        CHECK(ok);
        if (!ok)
            fprintf(stderr, "  input \"%s\" point %zu: %.17g %d %" PRId64 " \"%s\"\n", in, i,
                    pts[i].value, pts[i].has_step, pts[i].step, pts[i].recorded_at);
    }
    free(pts);
}

static void check_bad(const char *in, size_t len, const char *want_msg)
{
    dd_metric_point *pts = (void *)1;
    size_t n = 99;
    char msg[256] = "";
    int rc = dd_parse_metric_lines(in, len, &pts, &n, msg, sizeof msg);
    CHECK(rc == -EINVAL);
    CHECK(pts == NULL);
    CHECK(n == 0);
    CHECK_STR(msg, want_msg);
    if (rc == 0)
        free(pts);
}

#define BAD(in, m) check_bad(in, sizeof(in) - 1, m)

static void test_metric_lines_ok(void)
{
    const char *ts = "2026-11-23T12:00:00.000Z";
    check_points("", 0, NULL);
    check_points("\n", 0, NULL);
    check_points("  \t \n\n \r\n\t", 0, NULL);
    check_points("0.93\n", 1, (want_pt[]){{0.93, 0, 0, ""}});
    check_points("0.93", 1, (want_pt[]){{0.93, 0, 0, ""}});
    check_points("3 0.93\n", 1, (want_pt[]){{0.93, 1, 3, ""}});
    check_points("3 0.93 2026-11-23T12:00:00.000Z\n", 1, (want_pt[]){{0.93, 1, 3, ts}});
    check_points("3 0.93 2026-11-23T12:00:00Z\n", 1, (want_pt[]){{0.93, 1, 3, ts}});
    check_points("3 0.93 2026-11-23T13:00:00+01:00\n", 1, (want_pt[]){{0.93, 1, 3, ts}});
    check_points("3 0.93 2026-11-23 12:00:00\n", 1, (want_pt[]){{0.93, 1, 3, ts}});
    check_points("3\t0.93\t2026-11-23 12:00:00.000Z\r\n", 1, (want_pt[]){{0.93, 1, 3, ts}});
    check_points("3 0.93 1795435200\n", 1, (want_pt[]){{0.93, 1, 3, ts}});
    check_points("3 0.93 1795435200.5\n", 1,
                 (want_pt[]){{0.93, 1, 3, "2026-11-23T12:00:00.500Z"}});
    check_points("  \t 3 \t  0.93   \t\n", 1, (want_pt[]){{0.93, 1, 3, ""}});
    check_points("1\r\n2\r\n", 2, (want_pt[]){{1, 0, 0, ""}, {2, 0, 0, ""}});
    check_points("1\n\n  \n2\n", 2, (want_pt[]){{1, 0, 0, ""}, {2, 0, 0, ""}});
    check_points("-1 -0.5\n+2 +0.5\n", 2, (want_pt[]){{-0.5, 1, -1, ""}, {0.5, 1, 2, ""}});
    check_points("-0\n", 1, (want_pt[]){{-0.0, 0, 0, ""}});
    check_points(".5\n5.\n1e3\n1E-3\n-2.5e+2\n007\n", 6,
                 (want_pt[]){{0.5, 0, 0, ""}, {5, 0, 0, ""}, {1000, 0, 0, ""},
                             {0.001, 0, 0, ""}, {-250, 0, 0, ""}, {7, 0, 0, ""}});
    check_points("9223372036854775807 1\n-9223372036854775808 2\n", 2,
                 (want_pt[]){{1, 1, INT64_MAX, ""}, {2, 1, INT64_MIN, ""}});
    check_points("0 1e-400\n", 1, (want_pt[]){{0, 1, 0, ""}});   /* underflow is finite */
    check_points("0 1.7976931348623157e308\n", 1, (want_pt[]){{1.7976931348623157e308, 1, 0, ""}});
    check_points("1 0.30000000000000004\n", 1, (want_pt[]){{0.1 + 0.2, 1, 1, ""}});
    /* mixed forms in one batch */
    check_points("0.1\n5 0.2\n6 0.3 2026-11-23T12:00:00.000Z\n0.4", 4,
                 (want_pt[]){{0.1, 0, 0, ""}, {0.2, 1, 5, ""}, {0.3, 1, 6, ts},
                             {0.4, 0, 0, ""}});
    /* msg and msglen are optional */
    dd_metric_point *pts = NULL;
    size_t n = 0;
    CHECK(dd_parse_metric_lines("1\n", 2, &pts, &n, NULL, 0) == 0 && n == 1);
    free(pts);
    CHECK(dd_parse_metric_lines(NULL, 0, &pts, &n, NULL, 0) == 0 && n == 0 && !pts);
    CHECK(dd_parse_metric_lines("abc", 3, &pts, &n, NULL, 0) == -EINVAL && !pts);
    char tiny[8];
    CHECK(dd_parse_metric_lines("abc", 3, &pts, &n, tiny, sizeof tiny) == -EINVAL);
    CHECK(strlen(tiny) == 7);
    /* the buffer need not be NUL-terminated: a field ends at len */
    char raw[4] = {'1', '2', '3', '4'};
    CHECK(dd_parse_metric_lines(raw, 3, &pts, &n, NULL, 0) == 0 && n == 1 && pts[0].value == 123);
    free(pts);
}

static void test_metric_lines_bad(void)
{
    BAD("abc\n", "line 1: \"abc\" is not a number");
    BAD("1\n2\nabc\n", "line 3: \"abc\" is not a number");
    BAD("1\n\n\n x\n", "line 4: \"x\" is not a number");
    BAD("nan\n", "line 1: \"nan\" is not a finite number");
    BAD("NaN\n", "line 1: \"NaN\" is not a finite number");
    BAD("inf\n", "line 1: \"inf\" is not a finite number");
    BAD("-inf\n", "line 1: \"-inf\" is not a finite number");
    BAD("+Infinity\n", "line 1: \"+Infinity\" is not a finite number");
    BAD("1 infinity\n", "line 1: \"infinity\" is not a finite number");
    BAD("nan(1)\n", "line 1: \"nan(1)\" is not a number");
    BAD("0x1p3\n", "line 1: \"0x1p3\" is not a number");
    BAD("0x10\n", "line 1: \"0x10\" is not a number");
    BAD("1e999\n", "line 1: \"1e999\" is out of range for a double");
    BAD("-1e999\n", "line 1: \"-1e999\" is out of range for a double");
    BAD(".\n", "line 1: \".\" is not a number");
    BAD("-\n", "line 1: \"-\" is not a number");
    BAD("1e\n", "line 1: \"1e\" is not a number");
    BAD("1e+\n", "line 1: \"1e+\" is not a number");
    BAD("1,5\n", "line 1: \"1,5\" is not a number");
    BAD("1..5\n", "line 1: \"1..5\" is not a number");
    BAD("--1\n", "line 1: \"--1\" is not a number");
    BAD("0.5f\n", "line 1: \"0.5f\" is not a number");
    BAD("1 2\r\r\n", "line 1: \"2\\x0d\" is not a number");
    BAD("1\f\n", "line 1: \"1\\x0c\" is not a number");
    BAD("1 0.5\n1.5 0.5\n", "line 2: step \"1.5\" is not an integer");
    BAD("1e3 0.5\n", "line 1: step \"1e3\" is not an integer");
    BAD("- 0.5\n", "line 1: step \"-\" is not an integer");
    BAD("x 0.5\n", "line 1: step \"x\" is not an integer");
    BAD("9223372036854775808 1\n", "line 1: step \"9223372036854775808\" is out of range");
    BAD("-9223372036854775809 1\n", "line 1: step \"-9223372036854775809\" is out of range");
    BAD("99999999999999999999999 1\n",
        "line 1: step \"99999999999999999999999\" is out of range");
    BAD("1 abc\n", "line 1: \"abc\" is not a number");
    BAD("1 2 yesterday\n", "line 1: \"yesterday\" is not a timestamp (want "
                           "2026-11-23T12:00:00.000Z or Unix seconds)");
    BAD("1 2 2026-02-30T00:00:00Z\n", "line 1: \"2026-02-30T00:00:00Z\" is not a timestamp "
                                      "(want 2026-11-23T12:00:00.000Z or Unix seconds)");
    BAD("1 2 2026-13-01T00:00:00.000Z\n", "line 1: \"2026-13-01T00:00:00.000Z\" is not a "
                                          "timestamp (want 2026-11-23T12:00:00.000Z or Unix "
                                          "seconds)");
    BAD("1 2 -5\n", "line 1: \"-5\" is not a timestamp (want 2026-11-23T12:00:00.000Z or "
                    "Unix seconds)");
    BAD("1 2 3 4\n", "line 1: 4 fields; a line is <value>, <step> <value> or "
                     "<step> <value> <timestamp>");
    BAD("1 2 2026-11-23T12:00:00Z x\n", "line 1: 4 fields; a line is <value>, <step> <value> "
                                        "or <step> <value> <timestamp>");
    BAD("1\n2\n1 2 3 4 5 6\n", "line 3: 6 fields; a line is <value>, <step> <value> or "
                               "<step> <value> <timestamp>");
    /* an embedded NUL is never part of a number or timestamp */
    check_bad("1\n2\0\n", 5, "line 2: \"2\\x00\" is not a number");
    check_bad("1 2 2026-11-23T12:00:00.000Z\0", 29,
              "line 1: \"2026-11-23T12:00:00.000Z\\x00\" is not a timestamp (want "
              "2026-11-23T12:00:00.000Z or Unix seconds)");
    /* a field is quoted at most 40 bytes */
    BAD("0123456789012345678901234567890123456789abcdef\n",
        "line 1: \"0123456789012345678901234567890123456789\"... is not a number");
    /* a long but valid-looking value */
    char longv[300];
    memset(longv, '1', 200);
    memcpy(longv + 200, "\n", 2);
    dd_metric_point *pts = NULL;
    size_t n = 0;
    char msg[256];
    CHECK(dd_parse_metric_lines(longv, strlen(longv), &pts, &n, msg, sizeof msg) == -EINVAL);
    CHECK(strstr(msg, "is too long") != NULL);
    /* a line holds at most DD_METRIC_LINE_BYTES with its newline, padding included */
    static char wide[DD_METRIC_LINE_BYTES + 2];
    memset(wide, ' ', sizeof wide);
    memcpy(wide + DD_METRIC_LINE_BYTES - 4, "0.5\n", 4);
    CHECK(dd_parse_metric_lines(wide, DD_METRIC_LINE_BYTES, &pts, &n, msg, sizeof msg) == 0 &&
          n == 1);
    free(pts);
    memcpy(wide + DD_METRIC_LINE_BYTES - 3, "0.5\n", 4);
    CHECK(dd_parse_metric_lines(wide, DD_METRIC_LINE_BYTES + 1, &pts, &n, msg, sizeof msg) ==
          -EINVAL && !pts);
    CHECK(strcmp(msg, "line 1 is longer than 4096 bytes") == 0);
    /* the whole buffer is refused, even after many good lines */
    char many[4096] = "";
    for (int i = 0; i < 100; i++)
        strcat(many, "1 0.5\n");
    strcat(many, "oops\n");
    CHECK(dd_parse_metric_lines(many, strlen(many), &pts, &n, msg, sizeof msg) == -EINVAL);
    CHECK(pts == NULL && n == 0);
    CHECK_STR(msg, "line 101: \"oops\" is not a number");
}

static void test_metric_lines_many(void)
{
    /* 10,000 lines of every form */
    size_t cap = 10000 * 64, len = 0;
    char *buf = malloc(cap);
    for (int i = 0; i < 10000; i++) {
        switch (i % 4) {
        case 0: len += (size_t)snprintf(buf + len, cap - len, "%d.%03d\n", i, i % 1000); break;
        case 1: len += (size_t)snprintf(buf + len, cap - len, "%d %.17g\n", i, 1.0 / (i + 1)); break;
        case 2:
            len += (size_t)snprintf(buf + len, cap - len, "%d %g 2026-11-23T12:%02d:%02d.%03dZ\n",
                                    i, i * 0.25, (i / 60) % 60, i % 60, i % 1000);
            break;
        default:
            len += (size_t)snprintf(buf + len, cap - len, "%d\t%d\t2026-11-23 12:00:00\r\n", i, -i);
            break;
        }
    }
    dd_metric_point *pts = NULL;
    size_t n = 0;
    char msg[256];
    double best = 1e9;
    int rc = 0;
    for (int round = 0; round < 5; round++) {
        double t0 = now_ms();
        rc |= dd_parse_metric_lines(buf, len, &pts, &n, msg, sizeof msg);
        double t = now_ms() - t0;
        best = t < best ? t : best;
        if (round < 4)
            free(pts);
    }
    printf("10,000 metric lines (%zu bytes) parsed in %.2f ms\n", len, best);
    CHECK(rc == 0);
    CHECK(n == 10000);
    CHECK(best < 100 * time_scale());   /* ~1 ms natively; generous for sanitizers and valgrind */
    int bad = 0;
    for (int i = 0; i < 10000 && n == 10000; i++) {
        const dd_metric_point *p = &pts[i];
        char ts[DD_TS_LEN];
        int ok;
        switch (i % 4) {
        case 0: ok = !p->has_step && p->value == i + (i % 1000) / 1000.0 && !p->recorded_at[0]; break;
        case 1: ok = p->has_step && p->step == i && p->value == 1.0 / (i + 1) && !p->recorded_at[0]; break;
        case 2:
            snprintf(ts, sizeof ts, "2026-11-23T12:%02d:%02d.%03dZ", (i / 60) % 60, i % 60,
                     i % 1000);
            ok = p->has_step && p->step == i && p->value == i * 0.25 &&
                 strcmp(p->recorded_at, ts) == 0;
            break;
        default:
            ok = p->has_step && p->step == i && p->value == -i &&
                 strcmp(p->recorded_at, "2026-11-23T12:00:00.000Z") == 0;
            break;
        }
        if (!ok && bad++ < 5)
            fprintf(stderr, "point %d wrong\n", i);
    }
    CHECK(bad == 0);
    free(pts);
    free(buf);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)   /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* The timestamp fast path agrees with dd_time_parse, on good and bad input. */
static void test_metric_timestamps(void)
{
    static const char *const zones[] = {"", "Z", "+00:00", "-01:30", "+0530", "z", "ZZ", "+00"};
    static const char *const fracs[] = {"", ".", ".1", ".12", ".123", ".1234567", ".999",
                                        ".x"};
    int bad = 0, accepted = 0;
    for (int i = 0; i < 50000; i++) {
        char ts[96], line[160];
        int y = (int)(rng() % 10 == 0 ? rng() % 10000 : 1990 + rng() % 60);
        int mo = (int)(rng() % 14), d = (int)(rng() % 33), h = (int)(rng() % 25);
        int mi = (int)(rng() % 61), s = (int)(rng() % 62);
        if (rng() % 2) {   /* mostly valid */
            mo = 1 + mo % 12;
            d = 1 + d % 28;
            h %= 24;
            mi %= 60;
            s %= 60;
        }
        snprintf(ts, sizeof ts, "%04d-%02d-%02d%c%02d:%02d:%02d%s%s", y % 10000, mo % 100,
                 d % 100, rng() % 3 ? 'T' : ' ', h % 100, mi % 100, s % 100,
                 fracs[rng() % 8], zones[rng() % 8]);
        char want[DD_TS_LEN] = "";
        int want_ok = dd_time_parse(ts, want, NULL) == DD_OK;
        snprintf(line, sizeof line, "1 2 %s\n", ts);
        dd_metric_point *pts = NULL;
        size_t n = 0;
        int rc = dd_parse_metric_lines(line, strlen(line), &pts, &n, NULL, 0);
        int ok = want_ok ? rc == 0 && n == 1 && strcmp(pts[0].recorded_at, want) == 0
                         : rc == -EINVAL;
        accepted += want_ok;
        if (!ok && bad++ < 5)
            fprintf(stderr, "timestamp \"%s\": dd_time_parse %s \"%s\", metric line rc %d "
                    "\"%s\"\n", ts, want_ok ? "accepts" : "refuses", want, rc,
                    rc == 0 && n ? pts[0].recorded_at : "");
        free(pts);
    }
    CHECK(bad == 0);
    CHECK(accepted > 5000);
}

/* dd_time_parse's canonical shortcut ("YYYY-MM-DDTHH:MM:SS.mmmZ" copied as is) agrees
 * with its calendar path, reached by the same instant written with "+00:00". */
static void test_canonical_timestamps(void)
{
    int bad = 0, accepted = 0;
    for (int i = 0; i < 50000; i++) {
        char ts[64], slow[72];
        int y = (int)(rng() % 5 == 0 ? rng() % 10000 : 1990 + rng() % 60);
        int mo = (int)(rng() % 14), d = (int)(rng() % 33), h = (int)(rng() % 25);
        int mi = (int)(rng() % 61), s = (int)(rng() % 62), ms = (int)(rng() % 1000);
        snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, mo, d, h, mi, s, ms);
        snprintf(slow, sizeof slow, "%.23s+00:00", ts);
        char a[DD_TS_LEN] = "", b[DD_TS_LEN] = "";
        int a_ok = dd_time_parse(ts, a, NULL) == DD_OK;
        int b_ok = dd_time_parse(slow, b, NULL) == DD_OK;
        accepted += a_ok;
        if ((a_ok != b_ok || (a_ok && strcmp(a, b) != 0)) && bad++ < 5)
            fprintf(stderr, "timestamp \"%s\": \"%s\" (%d) against \"%s\" (%d)\n", ts, a,
                    a_ok, b, b_ok);
    }
    CHECK(bad == 0);
    CHECK(accepted > 10000);
    char out[DD_TS_LEN];
    CHECK(dd_time_parse("2024-02-29T23:59:60.000Z", out, NULL) == DD_OK);   /* leap second */
    CHECK_STR(out, "2024-03-01T00:00:00.000Z");
    CHECK(dd_time_parse("2023-02-29T00:00:00.000Z", out, NULL) != DD_OK);
    CHECK(dd_time_parse("2023-01-01T00:00:00.000Zx", out, NULL) != DD_OK);
    CHECK(dd_time_parse("2023-01-01T00:00:00.000", out, NULL) == DD_OK);
    CHECK_STR(out, "2023-01-01T00:00:00.000Z");
}

/* Unix seconds are put into calendar form without gmtime_r (values.c format_ts): the
 * same date and time as gmtime_r's, years 1970..9999, leap days and century years
 * included; past 9999 refused. */
static void test_epoch_timestamps(void)
{
    static const long long edges[] = {0, 59, 86399, 86400, 951782400 /* 2000-02-29 */,
                                      951868800, 4107542400 /* 2100-03-01 */, 4107456000,
                                      253402300799 /* 9999-12-31T23:59:59 */};
    int bad = 0;
    for (int i = 0; i < 50000 + (int)(sizeof edges / sizeof edges[0]); i++) {
        long long secs = i < (int)(sizeof edges / sizeof edges[0])
            ? edges[i] : (long long)(rng() % 253402300800ull);
        char text[32], got[DD_TS_LEN] = "", want[64];
        int ms = (int)(rng() % 1000);
        snprintf(text, sizeof text, "%lld.%03d", secs, ms);
        time_t t = (time_t)secs;
        struct tm tm;
        gmtime_r(&t, &tm);
        size_t n = strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(want + n, sizeof want - n, ".%03dZ", ms);
        if ((dd_time_parse(text, got, NULL) != DD_OK || strcmp(got, want) != 0) && bad++ < 5)
            fprintf(stderr, "epoch %s: \"%s\", gmtime_r says \"%s\"\n", text, got, want);
    }
    CHECK(bad == 0);
    char out[DD_TS_LEN];
    CHECK(dd_time_parse("253402300800", out, NULL) != DD_OK);   /* 10000-01-01 */
    CHECK(dd_time_parse("0000-01-01T00:00:00+00:00", out, NULL) == DD_OK);
    CHECK_STR(out, "0000-01-01T00:00:00.000Z");
    CHECK(dd_time_parse("0000-01-01T00:00:00+00:01", out, NULL) != DD_OK);   /* year -1 */
    CHECK(dd_time_parse("1969-12-31T23:59:59.999Z", out, NULL) == DD_OK);
    CHECK(dd_time_parse("1970-01-01T00:00:00-00:01", out, NULL) == DD_OK);
    CHECK_STR(out, "1970-01-01T00:01:00.000Z");
    CHECK(dd_time_parse("1900-03-01T00:00:00+01:00", out, NULL) == DD_OK);
    CHECK_STR(out, "1900-02-28T23:00:00.000Z");
}

/* ---------------------------------------------------------------- one value */

static void test_value(void)
{
    static const struct { const char *in; size_t len; const char *want; } cases[] = {
        {"7\n", 2, "7"},
        {"7", 1, "7"},
        {"", 0, ""},
        {"\n", 1, ""},
        {"\r\n", 2, ""},
        {"a\n\n", 3, "a\n"},
        {"a\r\n\r\n", 5, "a\r\n"},
        {"a\r", 2, "a\r"},
        {"  spaced  \n", 11, "  spaced  "},
        {"multi\nline\n", 11, "multi\nline"},
        {"\xc3\xa9t\xc3\xa9\n", 6, "\xc3\xa9t\xc3\xa9"},
        {"RUNNING\n", 8, "RUNNING"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = NULL;
        CHECK(dd_parse_value(cases[i].in, cases[i].len, &out) == 0);
        CHECK_STR(out, cases[i].want);
        free(out);
    }
    char *out = (char *)1;
    CHECK(dd_parse_value(NULL, 0, &out) == 0);
    CHECK_STR(out, "");
    free(out);
    out = (char *)1;
    CHECK(dd_parse_value("a\0b\n", 4, &out) == -EINVAL);
    CHECK(out == NULL);
    CHECK(dd_parse_value("\0", 1, &out) == -EINVAL);
    CHECK(dd_parse_value("ab\0\n", 4, &out) == -EINVAL);
    /* not NUL-terminated input */
    char raw[3] = {'x', 'y', 'z'};
    CHECK(dd_parse_value(raw, 2, &out) == 0);
    CHECK_STR(out, "xy");
    free(out);
}

/* ---------------------------------------------------------------- params.yaml */

static void check_params(const char *yaml, size_t n_want, const char *const *kv)
{
    char **keys = (void *)1, **values = (void *)1, msg[256] = "junk";
    size_t n = 99;
    int rc = dd_parse_params_yaml(yaml, strlen(yaml), &keys, &values, &n, msg, sizeof msg);
    CHECK(rc == 0);
    CHECK_STR(msg, "");
    CHECK(n == n_want);
    if (rc || n != n_want) {
        fprintf(stderr, "  yaml: <<%s>> rc %d n %zu msg %s\n", yaml, rc, n, msg);
        if (!rc)
            dd_params_free(keys, values, n);
        return;
    }
    CHECK((n == 0) == (keys == NULL) && (n == 0) == (values == NULL));
    for (size_t i = 0; i < n; i++) {
        CHECK_STR(keys[i], kv[2 * i]);
        CHECK_STR(values[i], kv[2 * i + 1]);
    }
    dd_params_free(keys, values, n);
}

static void check_params_bad(const char *yaml, size_t len, const char *want_msg)
{
    char **keys = (void *)1, **values = (void *)1, msg[256] = "";
    size_t n = 99;
    int rc = dd_parse_params_yaml(yaml, len, &keys, &values, &n, msg, sizeof msg);
    CHECK(rc == -EINVAL);
    CHECK(keys == NULL && values == NULL && n == 0);
    CHECK_STR(msg, want_msg);
    if (rc == 0)
        dd_params_free(keys, values, n);
}

#define PBAD(y, m) check_params_bad(y, sizeof(y) - 1, m)

static void test_params_ok(void)
{
    check_params("", 0, NULL);
    check_params("\n\n", 0, NULL);
    check_params("# only a comment\n", 0, NULL);
    check_params("---\n", 0, NULL);
    check_params("--- ~\n", 0, NULL);
    check_params("null\n", 0, NULL);
    check_params("{}\n", 0, NULL);
    check_params("---\n...\n", 0, NULL);
    check_params("lr: 0.1\n", 1, (const char *[]){"lr", "0.1"});
    check_params("lr: 0.10\nepochs: 10\n", 2, (const char *[]){"lr", "0.10", "epochs", "10"});
    check_params("lr: 0.1", 1, (const char *[]){"lr", "0.1"});
    check_params("---\nlr: 0.1\n...\n", 1, (const char *[]){"lr", "0.1"});
    check_params("train:\n  lr: 0.1\n  opt:\n    name: adam\n    beta: 0.9\nseed: 42\n", 4,
                 (const char *[]){"train.lr", "0.1", "train.opt.name", "adam",
                                  "train.opt.beta", "0.9", "seed", "42"});
    check_params("train: {lr: 0.1, bs: 32}\n", 2,
                 (const char *[]){"train.lr", "0.1", "train.bs", "32"});
    check_params("a: {}\nb: 1\n", 1, (const char *[]){"b", "1"});
    check_params("a: 'quoted'\nb: \"dq\\tx\\u00e9\"\nc: 'it''s'\n", 3,
                 (const char *[]){"a", "quoted", "b", "dq\tx\xc3\xa9", "c", "it's"});
    check_params("flag: yes\nnone: ~\nnul: null\nt: true\nhex: 0x1F\nexp: 1e3\n", 6,
                 (const char *[]){"flag", "yes", "none", "~", "nul", "null", "t", "true",
                                  "hex", "0x1F", "exp", "1e3"});
    check_params("s: !!str 12\n", 1, (const char *[]){"s", "12"});
    check_params("a: &x 5\nb: *x\n", 2, (const char *[]){"a", "5", "b", "5"});
    check_params("base: &b {lr: 1}\nother: *b\n", 2,
                 (const char *[]){"base.lr", "1", "other.lr", "1"});
    check_params("text: |\n  multi\n  line\n", 1, (const char *[]){"text", "multi\nline\n"});
    check_params("text: |-\n  multi\n  line\nn: 1\n", 2,
                 (const char *[]){"text", "multi\nline", "n", "1"});
    check_params("text: >\n  folded\n  line\n", 1, (const char *[]){"text", "folded line\n"});
    check_params("plain: a b   c\n", 1, (const char *[]){"plain", "a b   c"});
    check_params("\xc3\xa9t\xc3\xa9: \xe6\x97\xa5\xe6\x9c\xac\n", 1,
                 (const char *[]){"\xc3\xa9t\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac"});
    check_params("emoji: \"\xf0\x9f\x98\x80\"\n", 1,
                 (const char *[]){"emoji", "\xf0\x9f\x98\x80"});
    check_params("\xef\xbb\xbfk: v\n", 1, (const char *[]){"k", "v"});   /* BOM */
    check_params("1: one\n", 1, (const char *[]){"1", "one"});
    check_params("train.lr: 0.1\n", 1, (const char *[]){"train.lr", "0.1"});
    check_params("? complex\n: value\n", 1, (const char *[]){"complex", "value"});
    check_params("a: 1 # comment\n# c\nb: 2\n", 2, (const char *[]){"a", "1", "b", "2"});
    check_params("k: \"a: b\"\n", 1, (const char *[]){"k", "a: b"});
    check_params("k: '#x'\n", 1, (const char *[]){"k", "#x"});
    check_params("k: '  lead'\n", 1, (const char *[]){"k", "  lead"});
    /* UTF-16 with a BOM is YAML too */
    static const char utf16[] = "\xff\xfe" "a\0:\0 \0" "1\0\n\0";
    char **keys = NULL, **values = NULL;
    size_t n = 0;
    CHECK(dd_parse_params_yaml(utf16, sizeof utf16 - 1, &keys, &values, &n, NULL, 0) == 0);
    CHECK(n == 1 && strcmp(keys[0], "a") == 0 && strcmp(values[0], "1") == 0);
    dd_params_free(keys, values, n);
    CHECK(dd_parse_params_yaml(NULL, 0, &keys, &values, &n, NULL, 0) == 0 && n == 0);
    dd_params_free(NULL, NULL, 0);
}

static void test_params_bad(void)
{
    PBAD("a: [1, 2]\n", "line 1: \"a\" is a list; lists are not supported");
    PBAD("a: 1\nb:\n  - 1\n  - 2\n", "line 2: \"b\" is a list; lists are not supported");
    PBAD("t:\n  x:\n    - 1\n", "line 2: \"t.x\" is a list; lists are not supported");
    PBAD("- 1\n- 2\n", "line 1: params.yaml must be a mapping of names to values");
    PBAD("hello\n", "line 1: params.yaml must be a mapping of names to values");
    PBAD("'~'\n", "line 1: params.yaml must be a mapping of names to values");
    PBAD("a: 1\nb:\n", "line 2: \"b\" has no value");
    PBAD("a: \"\"\n", "line 1: \"a\" has no value");
    PBAD("t:\n  x: ''\n", "line 2: \"t.x\" has no value");
    PBAD("a: 1\na: 2\n", "line 2: \"a\" is given twice");
    PBAD("t.x: 1\nt:\n  x: 2\n", "line 3: \"t.x\" is given twice");
    PBAD("b: 0\na: 1\nc: 2\nb: 3\na: 4\n", "line 4: \"b\" is given twice");
    PBAD("a/b: 1\n", "line 1: \"a/b\": parameter name may not contain '/'");
    PBAD("t:\n  a/b: 1\n", "line 2: \"a/b\": parameter name may not contain '/'");
    PBAD("\"\": 1\n", "line 1: \"\": parameter name is empty");
    PBAD("..: 1\n", "line 1: \"..\": parameter name may not be \"..\"");
    PBAD("\"a\\tb\": 1\n", "line 1: \"a\\x09b\": parameter name may not contain control "
                           "characters");
    PBAD("\"a\\0b\": 1\n", "line 1: \"a\\x00b\": a parameter name may not contain NUL");
    PBAD("k: \"a\\0b\"\n", "line 1: the value of \"k\" contains a NUL");
    PBAD("[1]: 1\n", "line 1: a key must be a name, not a list or mapping");
    PBAD("? {a: 1}\n: 1\n", "line 1: a key must be a name, not a list or mapping");
    PBAD("a: 1\n---\nb: 2\n", "line 2: only one YAML document is allowed");
    PBAD("a: 1\n  b: 2\n", "line 2: mapping values are not allowed in this context");
    PBAD("a: 'unterminated\n",
         "line 2: found unexpected end of stream (while scanning a quoted scalar)");
    PBAD("a: 1\nb: [1, 2\n", "line 3: did not find expected ',' or ']' (while parsing a flow "
                             "sequence)");
    PBAD("a: *nope\n", "line 1: found undefined alias");
    PBAD("a: 1\nb: \x01\n", "line 2: control characters are not allowed");
    PBAD("a: \xff\n", "line 1: invalid leading UTF-8 octet");
    /* names longer than 255 bytes, flat or flattened */
    char big[700];
    memset(big, 'k', 256);
    strcpy(big + 256, ": 1\n");
    char **keys = NULL, **values = NULL, msg[256];
    size_t n = 0;
    CHECK(dd_parse_params_yaml(big, strlen(big), &keys, &values, &n, msg, sizeof msg) == -EINVAL);
    CHECK(strstr(msg, "line 1: ") == msg && strstr(msg, "255") != NULL);
    memset(big, 'k', 200);
    strcpy(big + 200, ":\n  ");
    memset(big + 204, 'j', 60);
    strcpy(big + 264, ": 1\n");
    CHECK(dd_parse_params_yaml(big, strlen(big), &keys, &values, &n, msg, sizeof msg) == -EINVAL);
    CHECK(strstr(msg, "line 2: parameter name ") == msg);
    CHECK(strstr(msg, "longer than 255 bytes") != NULL);
    /* deep nesting */
    char deep[2000] = "";
    for (int i = 0; i < 70; i++)
        strcat(deep, "a: {");
    strcat(deep, "b: 1");
    for (int i = 0; i < 70; i++)
        strcat(deep, "}");
    CHECK(dd_parse_params_yaml(deep, strlen(deep), &keys, &values, &n, msg, sizeof msg) == -EINVAL);
    CHECK(strstr(msg, "nested deeper than 64 levels") != NULL);
    /* alias bomb: 10 levels of 10 references to an empty mapping */
    char bomb[4096] = "a0: &a0 {}\n";
    for (int i = 1; i < 10; i++) {
        char line[256];
        snprintf(line, sizeof line, "a%d: &a%d {", i, i);
        strcat(bomb, line);
        for (int j = 0; j < 10; j++) {
            snprintf(line, sizeof line, "%sk%d: *a%d", j ? ", " : "", j, i - 1);
            strcat(bomb, line);
        }
        strcat(bomb, "}\n");
    }
    double t0 = now_ms();
    CHECK(dd_parse_params_yaml(bomb, strlen(bomb), &keys, &values, &n, msg, sizeof msg) == -EINVAL);
    CHECK(strstr(msg, "too many nodes") != NULL);
    CHECK(now_ms() - t0 < 5000 * time_scale());
    /* message buffer optional, and cut to fit */
    CHECK(dd_parse_params_yaml("a: [1]", 6, &keys, &values, &n, NULL, 0) == -EINVAL);
    char tiny[10];
    CHECK(dd_parse_params_yaml("a: [1]", 6, &keys, &values, &n, tiny, sizeof tiny) == -EINVAL);
    CHECK_STR(tiny, "line 1: \"");
}

static void test_params_many(void)
{
    /* 5,000 parameters, nested and flat, parse in order */
    size_t cap = 5000 * 40, len = 0;
    char *buf = malloc(cap);
    for (int i = 0; i < 2500; i++)
        len += (size_t)snprintf(buf + len, cap - len, "p%d: %d.5\n", i, i);
    len += (size_t)snprintf(buf + len, cap - len, "group:\n");
    for (int i = 0; i < 2500; i++)
        len += (size_t)snprintf(buf + len, cap - len, "  q%d: v%d\n", i, i);
    char **keys = NULL, **values = NULL, msg[256];
    size_t n = 0;
    CHECK(dd_parse_params_yaml(buf, len, &keys, &values, &n, msg, sizeof msg) == 0);
    CHECK(n == 5000);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        char k[32], v[32];
        if (i < 2500) {
            snprintf(k, sizeof k, "p%zu", i);
            snprintf(v, sizeof v, "%zu.5", i);
        } else {
            snprintf(k, sizeof k, "group.q%zu", i - 2500);
            snprintf(v, sizeof v, "v%zu", i - 2500);
        }
        bad += strcmp(keys[i], k) != 0 || strcmp(values[i], v) != 0;
    }
    CHECK(bad == 0);
    dd_params_free(keys, values, n);
    free(buf);
}

/* versions/new/<iteration>[:<resource>] and alias targets: canonical numbers only. */
static void test_path_numbers(void)
{
    int64_t it = 0, ver = 0;
    const char *res = "unset";
    CHECK(dd_parse_registration_name("5", &it, &res) == 0 && it == 5 && res == NULL);
    CHECK(dd_parse_registration_name("12:m.bin", &it, &res) == 0 && it == 12);
    CHECK(res && strcmp(res, "m.bin") == 0);
    CHECK(dd_parse_registration_name("3:a:b", &it, &res) == 0 && strcmp(res, "a:b") == 0);
    CHECK(dd_parse_registration_name("9223372036854775807", &it, &res) == 0 &&
          it == INT64_MAX);
    static const char *const bad[] = {"", ":x", "0", "05", "+5", "-5", " 5", "5 ", "5:",
                                      "9223372036854775808", "99999999999999999999", "x",
                                      "5x:y", "0x10"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(dd_parse_registration_name(bad[i], &it, &res) == -ENOENT);
    CHECK(dd_parse_alias_target("../versions/3", &ver) == 0 && ver == 3);
    CHECK(dd_parse_alias_target("../versions/12", &ver) == 0 && ver == 12);
    /* other spellings would resolve elsewhere from aliases/ (or into another model) */
    static const char *const bad_targets[] = {"", "../versions/", "../versions/0",
                                              "../versions/03", "../versions/-1", "x/ 4",
                                              "../versions/3/", "3x", "versions/12", "7",
                                              "/mnt/models/other/versions/1",
                                              "../../other/versions/1", "./../versions/1",
                                              "../versions//1", "../versions/1 "};
    for (size_t i = 0; i < sizeof bad_targets / sizeof bad_targets[0]; i++)
        CHECK(dd_parse_alias_target(bad_targets[i], &ver) == -EINVAL);
}

/* A params.yaml still being written: unfinished is not bad, bad is bad at once. */
static void test_params_prefix(void)
{
    static const char *const unfinished[] = {
        "train:\n", "train:\n  lr: 0.1\n", "a: 1\nb:   # later\n\n", "a: {b: 1,\n",
        "a: 'open\n", "a: [1,\n", "x: 1\nx:\n", "a:\n  b:\n", "", "lr: 0.1\n",
    };
    char msg[256];
    bool complete;
    for (size_t i = 0; i < sizeof unfinished / sizeof unfinished[0]; i++) {
        int rc = dd_params_yaml_prefix_check(unfinished[i], strlen(unfinished[i]), &complete,
                                             msg, sizeof msg);
        if (rc != 0)
            fprintf(stderr, "refused %s: %s\n", unfinished[i], msg);
        CHECK(rc == 0 && msg[0] == 0);
        CHECK(complete == (i == 1 || i >= 8));   /* whole documents as they stand */
    }
    static const char *const bad[][2] = {
        {"x: 1\nx: 2\n", "line 2: \"x\" is given twice"},
        {"a: 1\nb:\n  - x\n", "line 2: \"b\" is a list; lists are not supported"},
        {"a:\nb: 1\n", "line 1: \"a\" has no value"},
        {"lr: \"\"\n", "line 1: \"lr\" has no value"},
        {"a: b: c\n", "line 1: mapping values are not allowed in this context"},
        {"\"a/b\": 1\n", "line 1: \"a/b\": parameter name may not contain '/'"},
        {"a: 1\n---\nb: 2\n", "line 2: only one YAML document is allowed"},
        {"just text\n", "line 1: params.yaml must be a mapping of names to values"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = dd_params_yaml_prefix_check(bad[i][0], strlen(bad[i][0]), &complete, msg,
                                             sizeof msg);
        if (rc != -EINVAL || strcmp(msg, bad[i][1]) != 0)
            fprintf(stderr, "%s: rc %d, msg %s\n", bad[i][0], rc, msg);
        CHECK(rc == -EINVAL && strcmp(msg, bad[i][1]) == 0);
    }
}

int main(void)
{
    test_metric_lines_ok();
    test_metric_lines_bad();
    test_metric_lines_many();
    test_metric_timestamps();
    test_canonical_timestamps();
    test_epoch_timestamps();
    test_value();
    test_params_ok();
    test_params_bad();
    test_params_many();
    test_params_prefix();
    test_path_numbers();
    return check_done();
}
