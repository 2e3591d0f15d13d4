/*
 * metric_body.c - POST /v1/metrics bodies from journal records (contract in
 * metric_body.h).
 *
 * Why a plain buffer for the columnar form: encoding each point as jansson objects cost a
 * JSON array, a real and a string per point (four allocations, then a dump and the
 * frees), and the 16 daemons of the fan-in benchmark spent about half their CPU there
 * (BENCHMARKS.md, "Remote fan-in: columnar metric batches"). Per point this writes one
 * number; the strings (a key, a timestamp per batch) go through jansson only when they
 * hold a byte that needs escaping.
 */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "metric_body.h"
#include "textfmt.h"

/* s as a JSON string: as is between quotes when every byte is printable ASCII other than
 * '"' and '\\' (keys and canonical timestamps), else escaped by jansson (-1 when s is not
 * UTF-8). */
static int put_string(dd_buf *b, const char *s)
{
    const char *p = s;
    while (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\')
        p++;
    if (!*p) {
        char *out = dd_buf_reserve(b, (size_t)(p - s) + 2);
        if (!out)
            return -1;
        out[0] = '"';
        memcpy(out + 1, s, (size_t)(p - s));
        out[p - s + 1] = '"';
        b->len += (size_t)(p - s) + 2;
        b->data[b->len] = '\0';
        return 0;
    }
    json_t *j = json_string(s);
    char *text = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    int rc = text ? dd_buf_adds(b, text) : -1;
    free(text);
    return rc;
}

/* The shortest round-trip text of a finite v; null otherwise (see the header). */
static void put_value(dd_buf *b, double v)
{
    char *out = dd_buf_reserve(b, 32);
    if (!out)
        return;
    size_t n = isfinite(v) ? dd_format_double(v, out) : (memcpy(out, "null", 5), 4);
    b->len += n;
}

static void put_step(dd_buf *b, const dd_metric_point *p)
{
    if (p->has_step)
        dd_buf_printf(b, "%" PRId64, p->step);
    else
        dd_buf_add(b, "null", 4);
}

/* One record as a columnar batch. */
static void put_columns(dd_buf *b, const dd_mlog_rec *r)
{
    bool steps = false, one_time = true;
    for (size_t p = 0; p < r->n; p++) {
        steps = steps || r->points[p].has_step;
        one_time = one_time && strcmp(r->points[p].recorded_at, r->points[0].recorded_at) == 0;
    }
    dd_buf_printf(b, "{\"iteration_id\":%" PRId64 ",\"key\":", r->iteration_id);
    if (put_string(b, r->key) != 0)
        b->oom = 1;
    dd_buf_add(b, ",\"values\":[", 11);
    for (size_t p = 0; p < r->n; p++) {
        if (p)
            dd_buf_add(b, ",", 1);
        put_value(b, r->points[p].value);
    }
    dd_buf_add(b, "],\"steps\":", 10);
    for (size_t p = 0; steps && p < r->n; p++) {   /* steps: some point, so r->n > 0 */
        dd_buf_add(b, p ? "," : "[", 1);
        put_step(b, &r->points[p]);
    }
    dd_buf_adds(b, steps ? "]" : "null");
    dd_buf_add(b, ",\"recorded_at\":", 15);
    if (one_time && r->n) {
        if (put_string(b, r->points[0].recorded_at) != 0)
            b->oom = 1;
    } else {
        dd_buf_add(b, "[", 1);
        for (size_t p = 0; p < r->n; p++)
            if ((p && dd_buf_add(b, ",", 1) != 0) ||
                put_string(b, r->points[p].recorded_at) != 0)
                b->oom = 1;
        dd_buf_add(b, "]", 1);
    }
    dd_buf_add(b, "}", 1);
}

/* One record as a batch of [step or null, value, recorded_at] rows (jansson: the form
 * every server takes, sent only to servers without the columnar one). */
static void put_rows(dd_buf *b, const dd_mlog_rec *r)
{
    json_t *pts = json_array();
    for (size_t p = 0; pts && p < r->n; p++) {
        const dd_metric_point *pt = &r->points[p];
        json_t *row = json_pack("[o,o,s]", pt->has_step ? json_integer(pt->step) : json_null(),
                                isfinite(pt->value) ? json_real(pt->value) : json_null(),
                                pt->recorded_at);
        if (json_array_append_new(pts, row) != 0) {
            json_decref(pts);
            pts = NULL;
        }
    }
    json_t *batch = pts ? json_pack("{s:I,s:s,s:o}", "iteration_id",
                                    (json_int_t)r->iteration_id, "key", r->key, "points", pts)
                        : NULL;
    char *text = batch ? json_dumps(batch, JSON_COMPACT) : NULL;
    json_decref(batch);
    if (!text || dd_buf_adds(b, text) != 0)
        b->oom = 1;
    free(text);
}

char *dd_metric_body(const dd_mlog_rec *const *recs, size_t k, bool columns, size_t *len)
{
    dd_buf b = {0};
    dd_buf_add(&b, "{\"batches\":[", 12);
    for (size_t i = 0; i < k && !b.oom; i++) {
        if (i)
            dd_buf_add(&b, ",", 1);
        if (columns)
            put_columns(&b, recs[i]);
        else
            put_rows(&b, recs[i]);
    }
    dd_buf_add(&b, "]}", 2);
    if (b.oom) {
        dd_buf_free(&b);
        return NULL;
    }
    if (len)
        *len = b.len;
    return b.data;
}
