/*
 * fuzz_v1_metrics.c - libFuzzer target for POST /v1/metrics' inputs (server/v1_parse.c):
 * dd_v1_metrics_parse (the body a remote mount sends, in rows or columns) and
 * dd_v1_idem_parse (its Idempotency-Key header); and for the node's encoder of that body
 * (remote/metric_body.c), whose output the parser must read back as what it encoded.
 *
 * Input: any bytes, as the body and, up to the first newline, as the header.
 * Promises checked: no crash or leak (ASan); the body parser answers 0 or 400; on 400 the
 * message is non-empty and *out empty; on 0 there are at most DD_V1_METRICS_BATCHES_MAX
 * batches and DD_V1_METRICS_POINTS_MAX points (their sum is `points`), each batch has a
 * positive iteration id, a key dd_name_check accepts, result DD_OK, and every point a
 * finite value and a canonical recorded_at (dd_time_parse gives it back unchanged); and
 * dd_metric_body of those batches, columnar and as rows, parses back to the same batches
 * (iteration, key, and per point the value bit for bit but for the sign of a zero, the
 * step or its absence, recorded_at). The key parser accepts exactly 32 lowercase hex
 * digits, ':', a positive decimal without sign or leading zero that fits int64, and gives
 * them back.
 */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "fuzz.h"
#include "h_v1.h"
#include "metric_body.h"

/* a and b hold the same points (a zero's sign aside: "-0" is read as the integer 0). */
static void same_batches(const dd_v1_metrics *a, const dd_v1_metrics *b)
{
    PROMISE(a->n == b->n && a->points == b->points);
    for (size_t i = 0; i < a->n; i++) {
        const dd_metric_delivery *x = &a->batches[i], *y = &b->batches[i];
        PROMISE(x->iteration_id == y->iteration_id && strcmp(x->key, y->key) == 0 &&
                x->n == y->n);
        for (size_t j = 0; j < x->n; j++) {
            const dd_metric_point *p = &x->points[j], *q = &y->points[j];
            PROMISE(p->value == q->value && p->has_step == q->has_step &&
                    (!p->has_step || p->step == q->step) &&
                    strcmp(p->recorded_at, q->recorded_at) == 0);
        }
    }
}

/* Encode the parsed batches as a node would (both forms) and parse them again. */
static void check_round_trip(const dd_v1_metrics *m)
{
    dd_mlog_rec *recs = calloc(m->n ? m->n : 1, sizeof *recs);
    const dd_mlog_rec **ptrs = calloc(m->n ? m->n : 1, sizeof *ptrs);
    PROMISE(recs && ptrs);
    for (size_t i = 0; i < m->n; i++) {
        recs[i] = (dd_mlog_rec){.seq = i + 1, .iteration_id = m->batches[i].iteration_id,
                                .key = (char *)m->batches[i].key, .n = m->batches[i].n,
                                .points = m->batches[i].points};
        ptrs[i] = &recs[i];
    }
    for (int columns = 0; columns < 2; columns++) {
        size_t len = 0;
        char *text = dd_metric_body(ptrs, m->n, columns, &len);
        PROMISE(text && strlen(text) == len);
        dd_v1_metrics again;
        char msg[DD_ERR_MSG_MAX] = "";
        int rc = dd_v1_metrics_parse(text, len, &again, msg, sizeof msg);
        if (rc != 0)
            fprintf(stderr, "%s\n%s\n", msg, text);
        PROMISE(rc == 0);
        same_batches(m, &again);
        dd_v1_metrics_free(&again);
        free(text);
    }
    free(ptrs);
    free(recs);
}

static void check_body(const char *s, size_t len)
{
    dd_v1_metrics m;
    char msg[DD_ERR_MSG_MAX] = "";
    int rc = dd_v1_metrics_parse(s, len, &m, msg, sizeof msg);
    PROMISE(rc == 0 || rc == 400);
    if (rc != 0) {
        PROMISE(msg[0] != '\0' && m.batches == NULL && m.n == 0 && m.points == 0);
        return;
    }
    PROMISE(m.n <= DD_V1_METRICS_BATCHES_MAX && m.points <= DD_V1_METRICS_POINTS_MAX);
    size_t total = 0;
    dd_err err;
    for (size_t i = 0; i < m.n; i++) {
        const dd_metric_delivery *b = &m.batches[i];
        PROMISE(b->iteration_id > 0 && b->result == DD_OK);
        PROMISE(dd_name_check(b->key, "k", &err) == DD_OK);
        total += b->n;
        for (size_t j = 0; j < b->n; j++) {
            char again[DD_TS_LEN];
            PROMISE(isfinite(b->points[j].value));
            PROMISE(dd_time_parse(b->points[j].recorded_at, again, &err) == DD_OK);
            PROMISE(strcmp(again, b->points[j].recorded_at) == 0);
        }
    }
    PROMISE(total == m.points);
    check_round_trip(&m);
    dd_v1_metrics_free(&m);
}

static void check_key(const char *s, size_t len)
{
    char buf[128], node[33] = "untouched";
    if (len >= sizeof buf)
        return;
    memcpy(buf, s, len);
    buf[len] = '\0';
    int64_t seq = -7;
    int rc = dd_v1_idem_parse(buf, node, &seq);
    PROMISE(rc == 0 || rc == -1);
    if (rc != 0) {
        PROMISE(seq == -7 && strcmp(node, "untouched") == 0);
        return;
    }
    char joined[64];
    snprintf(joined, sizeof joined, "%s:%" PRId64, node, seq);
    PROMISE(seq > 0 && strlen(node) == 32 && strcmp(joined, buf) == 0);
    for (int i = 0; i < 32; i++)
        PROMISE((node[i] >= '0' && node[i] <= '9') || (node[i] >= 'a' && node[i] <= 'f'));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    check_body(s, size);
    const char *nl = memchr(s, '\n', size);
    check_key(s, nl ? (size_t)(nl - s) : size);
    return 0;
}
