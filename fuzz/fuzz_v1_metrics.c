/*
 * fuzz_v1_metrics.c - libFuzzer target for POST /v1/metrics' inputs (server/v1_parse.c):
 * dd_v1_metrics_parse (the body a remote mount sends) and dd_v1_idem_parse (its
 * Idempotency-Key header).
 *
 * Input: any bytes, as the body and, up to the first newline, as the header.
 * Promises checked: no crash or leak (ASan); the body parser answers 0 or 400; on 400 the
 * message is non-empty and *out empty; on 0 there are at most DD_V1_METRICS_BATCHES_MAX
 * batches and DD_V1_METRICS_POINTS_MAX points (their sum is `points`), each batch has a
 * positive iteration id, a key dd_name_check accepts, result DD_OK, and every point a
 * finite value and a canonical recorded_at (dd_time_parse gives it back unchanged). The
 * key parser accepts exactly 32 lowercase hex digits, ':', a positive decimal without sign
 * or leading zero that fits int64, and gives them back.
 */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "fuzz.h"
#include "h_v1.h"

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
