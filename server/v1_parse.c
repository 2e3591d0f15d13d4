/*
 * v1_parse.c - the parsers of the /v1 routes' own inputs (h_v1.h): the name path of
 * GET /v1/lookup, the yes/no query flags, and POST /v1/metrics' body and Idempotency-Key. Pure (no I/O, no store), bounded by their
 * length arguments; fuzz/fuzz_v1_lookup.c holds them to their promises.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h_v1.h"

/* Copy the component [s, s+len) into out (DD_NAME_MAX + 1 bytes) if it is a valid name;
 * 400 with `msg` otherwise. */
static int name_component(const char *s, size_t len, const char *what, char *out, char *msg,
                          size_t msglen)
{
    if (len == 0) {
        snprintf(msg, msglen, "the path has an empty %s", what);
        return 400;
    }
    if (len > DD_NAME_MAX) {
        snprintf(msg, msglen, "the %s is longer than %d bytes", what, DD_NAME_MAX);
        return 400;
    }
    memcpy(out, s, len);
    out[len] = '\0';
    dd_err err = {0};
    if (strlen(out) != len || dd_name_check(out, what, &err) != DD_OK) {
        snprintf(msg, msglen, "%s", strlen(out) != len ? "a name holds a NUL byte" : err.msg);
        return 400;
    }
    return 0;
}

/* A positive decimal id with nothing around it (no sign, no leading zero). */
static bool positive_id(const char *s, size_t len, int64_t *out)
{
    if (len == 0 || len > 19 || s[0] == '0')
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        int d = s[i] - '0';
        if (v > (INT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

int dd_v1_path_parse(const char *s, size_t len, dd_v1_path *out, char *msg, size_t msglen)
{
    static const char *const what[] = {"project name", "experiment name", "iteration id"};
    memset(out, 0, sizeof *out);
    if (len > DD_V1_PATH_MAX) {
        snprintf(msg, msglen, "path is longer than %d bytes", DD_V1_PATH_MAX);
        return 400;
    }
    size_t start = 0;
    for (int depth = 0;; depth++) {
        if (depth == 3) {
            snprintf(msg, msglen, "path has more than 3 components "
                     "(project/experiment/iteration)");
            memset(out, 0, sizeof *out);
            return 400;
        }
        const char *slash = memchr(s + start, '/', len - start);
        size_t end = slash ? (size_t)(slash - s) : len;
        int rc = 0;
        if (depth == 0)
            rc = name_component(s + start, end - start, what[0], out->project, msg, msglen);
        else if (depth == 1)
            rc = name_component(s + start, end - start, what[1], out->experiment, msg, msglen);
        else if (!positive_id(s + start, end - start, &out->iteration_id)) {
            snprintf(msg, msglen, "the iteration must be named by its id (a positive integer)");
            rc = 400;
        }
        if (rc != 0) {
            memset(out, 0, sizeof *out);
            return rc;
        }
        out->depth = depth + 1;
        if (!slash)
            return 0;
        start = end + 1;
    }
}

int dd_v1_flag_parse(const char *s, bool *out)
{
    if (!s || strcmp(s, "0") == 0 || strcmp(s, "false") == 0) {
        *out = false;
        return 0;
    }
    if (strcmp(s, "1") == 0 || strcmp(s, "true") == 0) {
        *out = true;
        return 0;
    }
    return -1;
}

/* ---------------------------------------------------------------- POST /v1/metrics */

int dd_v1_idem_parse(const char *s, char node_id[33], int64_t *seq)
{
    if (!s)
        return -1;
    const char *colon = strchr(s, ':');
    if (!colon || colon - s != 32)
        return -1;
    for (const char *p = s; p < colon; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return -1;
    int64_t v;
    if (!positive_id(colon + 1, strlen(colon + 1), &v))
        return -1;
    memcpy(node_id, s, 32);
    node_id[32] = '\0';
    *seq = v;
    return 0;
}

void dd_v1_metrics_free(dd_v1_metrics *m)
{
    for (size_t i = 0; m->batches && i < m->n; i++) {
        free((char *)m->batches[i].key);
        free(m->batches[i].points);
    }
    free(m->batches);
    memset(m, 0, sizeof *m);
}

/* Point j of a row batch: [step|null, value, recorded_at]. */
static int parse_point(json_t *p, dd_metric_point *pt, char *msg, size_t msglen,
                       size_t bi, size_t j)
{
    json_t *step = json_array_get(p, 0), *value = json_array_get(p, 1),
           *at = json_array_get(p, 2);
    if (!json_is_array(p) || json_array_size(p) != 3 || !(json_is_null(step) ||
        json_is_integer(step)) || !json_is_number(value) || !json_is_string(at)) {
        snprintf(msg, msglen, "batches[%zu].points[%zu] must be [step or null, number, "
                 "recorded_at]", bi, j);
        return 400;
    }
    pt->has_step = json_is_integer(step);
    pt->step = pt->has_step ? (int64_t)json_integer_value(step) : 0;
    pt->value = json_number_value(value);
    dd_err err = {0};
    if (!isfinite(pt->value) || dd_time_parse(json_string_value(at), pt->recorded_at, &err)
                                    != DD_OK) {
        snprintf(msg, msglen, "batches[%zu].points[%zu]: %s", bi, j,
                 isfinite(pt->value) ? err.msg : "the value is not finite");
        return 400;
    }
    return 0;
}

/* The points of a row batch {"iteration_id", "key", "points"} (exactly those keys). */
static int parse_rows(json_t *o, size_t i, dd_metric_delivery *b, char *msg, size_t msglen)
{
    json_t *pts = json_object_get(o, "points");
    for (size_t j = 0; j < b->n; j++)
        if (parse_point(json_array_get(pts, j), &b->points[j], msg, msglen, i, j) != 0)
            return 400;
    return 0;
}

/* recorded_at of a columnar batch: one timestamp for every point, parsed once. */
static int shared_time(json_t *at, dd_metric_delivery *b, char *msg, size_t msglen, size_t i)
{
    char ts[DD_TS_LEN];
    dd_err err = {0};
    if (dd_time_parse(json_string_value(at), ts, &err) != DD_OK) {
        snprintf(msg, msglen, "batches[%zu].recorded_at: %s", i, err.msg);
        return 400;
    }
    for (size_t j = 0; j < b->n; j++)
        memcpy(b->points[j].recorded_at, ts, DD_TS_LEN);
    return 0;
}

/* The points of a columnar batch {"iteration_id", "key", "values": [numbers], "steps":
 * null (or absent) | [step or null, ...], "recorded_at": string | [strings]}, the arrays
 * as long as values. Each value is one jansson number, not a point's array, real and
 * string: BENCHMARKS.md, "Remote fan-in: columnar metric batches". */
static int parse_columns(json_t *o, size_t i, dd_metric_delivery *b, char *msg,
                         size_t msglen)
{
    json_t *vals = json_object_get(o, "values"), *steps = json_object_get(o, "steps"),
           *at = json_object_get(o, "recorded_at");
    for (size_t j = 0; j < b->n; j++) {
        dd_metric_point *pt = &b->points[j];
        json_t *v = json_array_get(vals, j), *s = json_array_get(steps, j);
        pt->value = json_number_value(v);
        if (!json_is_number(v) || !isfinite(pt->value)) {
            snprintf(msg, msglen, "batches[%zu].values[%zu] must be a finite number", i, j);
            return 400;
        }
        if (steps && !json_is_null(steps) && !json_is_null(s) && !json_is_integer(s)) {
            snprintf(msg, msglen, "batches[%zu].steps[%zu] must be an integer or null", i, j);
            return 400;
        }
        pt->has_step = json_is_integer(s);
        pt->step = pt->has_step ? (int64_t)json_integer_value(s) : 0;
        dd_err err = {0};
        if (json_is_array(at) && (!json_is_string(json_array_get(at, j)) ||
            dd_time_parse(json_string_value(json_array_get(at, j)), pt->recorded_at, &err)
            != DD_OK)) {
            snprintf(msg, msglen, "batches[%zu].recorded_at[%zu]: %s", i, j,
                     err.msg[0] ? err.msg : "must be a timestamp string");
            return 400;
        }
    }
    return json_is_string(at) ? shared_time(at, b, msg, msglen, i) : 0;
}

/* The points of batch i, rows or columns: how many, or (size_t)-1 with `msg` for a
 * batch of neither shape. */
static size_t batch_points(json_t *o, size_t i, bool *columns, char *msg, size_t msglen)
{
    json_t *pts = json_object_get(o, "points"), *vals = json_object_get(o, "values"),
           *steps = json_object_get(o, "steps"), *at = json_object_get(o, "recorded_at");
    *columns = vals != NULL;
    if (!*columns) {
        if (json_object_size(o) == 3 && json_is_array(pts))
            return json_array_size(pts);
        snprintf(msg, msglen, "batches[%zu] must be {\"iteration_id\": positive integer, "
                 "\"key\": string, \"points\": array} or {\"iteration_id\", \"key\", "
                 "\"values\": array, \"steps\": null or array, \"recorded_at\": string or "
                 "array}", i);
        return (size_t)-1;
    }
    size_t n = json_array_size(vals);
    if (!json_is_array(vals) || json_object_size(o) != (steps ? 5u : 4u) || !at ||
        !(json_is_null(steps) || json_is_array(steps) || !steps) ||
        !(json_is_string(at) || json_is_array(at))) {
        snprintf(msg, msglen, "batches[%zu] must be {\"iteration_id\", \"key\", \"values\": "
                 "array, \"steps\": null or array, \"recorded_at\": string or array}", i);
        return (size_t)-1;
    }
    if ((json_is_array(steps) && json_array_size(steps) != n) ||
        (json_is_array(at) && json_array_size(at) != n)) {
        snprintf(msg, msglen, "batches[%zu]: \"%s\" must be as long as \"values\" (%zu)", i,
                 json_is_array(steps) && json_array_size(steps) != n ? "steps"
                 : "recorded_at", n);
        return (size_t)-1;
    }
    return n;
}

/* Batch i into *b (which it then owns): its iteration and key, then its points as rows
 * or columns; `points` counts them over the request. */
static int parse_batch(json_t *o, size_t i, dd_metric_delivery *b, size_t *points,
                       char *msg, size_t msglen)
{
    json_t *iid = json_object_get(o, "iteration_id"), *key = json_object_get(o, "key");
    if (!json_is_object(o) || !json_is_integer(iid) || json_integer_value(iid) <= 0 ||
        !json_is_string(key)) {
        snprintf(msg, msglen, "batches[%zu] must be an object with \"iteration_id\" "
                 "(positive integer) and \"key\" (string)", i);
        return 400;
    }
    dd_err err = {0};
    if (strlen(json_string_value(key)) != json_string_length(key) ||
        dd_name_check(json_string_value(key), "metric key", &err) != DD_OK) {
        snprintf(msg, msglen, "batches[%zu]: %s", i, err.msg[0] ? err.msg : "a key holds a "
                 "NUL byte");
        return 400;
    }
    bool columns;
    size_t n = batch_points(o, i, &columns, msg, msglen);
    if (n == (size_t)-1)
        return 400;
    if (n > DD_V1_METRICS_POINTS_MAX - *points) {
        snprintf(msg, msglen, "a request holds at most %d points", DD_V1_METRICS_POINTS_MAX);
        return 400;
    }
    *points += n;
    b->iteration_id = (int64_t)json_integer_value(iid);
    b->key = strdup(json_string_value(key));
    b->points = calloc(n ? n : 1, sizeof *b->points);
    b->n = n;
    if (!b->key || !b->points) {
        snprintf(msg, msglen, "out of memory");
        return 400;
    }
    return columns ? parse_columns(o, i, b, msg, msglen) : parse_rows(o, i, b, msg, msglen);
}

int dd_v1_metrics_parse(const char *body, size_t len, dd_v1_metrics *out, char *msg,
                        size_t msglen)
{
    memset(out, 0, sizeof *out);
    json_error_t je;
    json_t *root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
    json_t *arr = json_object_get(root, "batches");
    int rc = 0;
    if (!root)
        snprintf(msg, msglen, "the body is not JSON: %s", je.text), rc = 400;
    else if (!json_is_object(root) || json_object_size(root) != 1 || !json_is_array(arr))
        snprintf(msg, msglen, "the body must be {\"batches\": [...]}"), rc = 400;
    else if (json_array_size(arr) > DD_V1_METRICS_BATCHES_MAX)
        snprintf(msg, msglen, "a request holds at most %d batches",
                 DD_V1_METRICS_BATCHES_MAX), rc = 400;
    size_t n = rc ? 0 : json_array_size(arr);
    out->batches = calloc(n ? n : 1, sizeof *out->batches);
    if (!rc && !out->batches)
        snprintf(msg, msglen, "out of memory"), rc = 400;
    for (size_t i = 0; i < n && rc == 0; i++) {
        out->n = i + 1;
        rc = parse_batch(json_array_get(arr, i), i, &out->batches[i], &out->points, msg,
                         msglen);
    }
    json_decref(root);
    if (rc != 0)
        dd_v1_metrics_free(out);
    return rc;
}
