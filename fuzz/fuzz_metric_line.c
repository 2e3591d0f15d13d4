/*
 * fuzz_metric_line.c - libFuzzer target for dd_parse_metric_lines (fs/parse.c), the parser
 * of every write to metrics/<key>.
 *
 * Promises checked (fs/parse.h): the result is 0, -EINVAL or -ENOMEM; a refusal returns
 * no points and a message naming a line; a success returns at most one point per input
 * line, every value finite, every timestamp empty or canonical; and each point, printed
 * back the way a metric file is read (dd_metric_line / dd_format_double), parses to the
 * identical point. The message buffer's size never changes the verdict.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "fuzz.h"
#include "parse.h"
#include "textfmt.h"

/* Lines in data[0..size): newlines, plus one for a last line without one. */
static size_t count_lines(const uint8_t *data, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < size; i++)
        n += data[i] == '\n';
    return n + (size && data[size - 1] != '\n');
}

/* A canonical timestamp is its own normal form. */
static void check_timestamp(const char *ts)
{
    if (!ts[0])
        return;
    PROMISE(strlen(ts) == DD_TS_LEN - 1 && ts[10] == 'T' && ts[DD_TS_LEN - 2] == 'Z');
    char again[DD_TS_LEN];
    PROMISE(dd_time_parse(ts, again, NULL) == DD_OK);
    PROMISE(strcmp(again, ts) == 0);
}

/* Print the point back as a metric file shows it and parse that: same point. */
static void check_round_trip(const dd_metric_point *p)
{
    char line[DD_METRIC_LINE_MAX];
    size_t len;
    if (p->has_step) {
        len = dd_metric_line(p->step, p->value, p->recorded_at, line);
    } else {
        len = dd_format_double(p->value, line);
        line[len++] = '\n';
        line[len] = 0;
    }
    dd_metric_point *back = NULL;
    size_t n = 0;
    char msg[128];
    int rc = dd_parse_metric_lines(line, len, &back, &n, msg, sizeof msg);
    PROMISE(rc == 0 && n == 1);
    PROMISE(back[0].has_step == p->has_step);
    PROMISE(!p->has_step || back[0].step == p->step);
    PROMISE(memcmp(&back[0].value, &p->value, sizeof p->value) == 0);   /* -0.0 too */
    PROMISE(strcmp(back[0].recorded_at, p->recorded_at) == 0);
    free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    dd_metric_point *pts = (dd_metric_point *)&pts;   /* must be overwritten */
    size_t n = 12345;
    char msg[256];
    memset(msg, 'x', sizeof msg);
    int rc = dd_parse_metric_lines(buf, size, &pts, &n, msg, sizeof msg);
    PROMISE(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
    PROMISE(memchr(msg, 0, sizeof msg) != NULL);

    /* The verdict does not depend on the message buffer. */
    dd_metric_point *pts2 = NULL;
    size_t n2 = 0;
    char tiny[5];
    int rc2 = dd_parse_metric_lines(buf, size, &pts2, &n2, tiny, sizeof tiny);
    PROMISE(rc2 == rc && n2 == n && memchr(tiny, 0, sizeof tiny) != NULL);
    free(pts2);

    if (rc != 0) {
        PROMISE(pts == NULL && n == 0);
        if (rc == -EINVAL)
            PROMISE(strncmp(msg, "line ", 5) == 0);
        return 0;
    }
    PROMISE(msg[0] == 0);
    PROMISE((n == 0) == (pts == NULL));
    PROMISE(n <= count_lines(data, size));
    for (size_t i = 0; i < n; i++) {
        PROMISE(isfinite(pts[i].value));
        PROMISE(memchr(pts[i].recorded_at, 0, DD_TS_LEN) != NULL);
        check_timestamp(pts[i].recorded_at);
        check_round_trip(&pts[i]);
    }
    free(pts);
    return 0;
}
