/*
 * h_values.c - parameters (routes 33-37) and metrics (routes 38-43).
 *
 * Deviations (README "REST API"): parameter keys are unique per iteration (a second POST
 * of a key is 409; PATCH renaming onto a taken key is 409); lists of parameters are in key
 * order. Metric ids are opaque: series id * 2^32 + position in the series, stable and
 * never reused. A batch is one transaction (all or nothing), keeps array order and keeps
 * repeated keys as separate points. Metric points are append-only, as on the mount: PATCH
 * and DELETE /metric/{id} are 422.
 */
#include <stdlib.h>
#include <string.h>

#include "server.h"

#define METRIC_ID(series, pos) ((series) * ((int64_t)1 << 32) + (pos))

/* ---------------------------------------------------------------- parameters */

static json_t *param_json(int64_t id, int64_t iteration_id, const char *key, const char *value)
{
    return json_pack("{s:I, s:I, s:s, s:s}", "id", (json_int_t)id, "iteration_id",
                     (json_int_t)iteration_id, "key", key, "value", value);
}

int64_t dd_resolve_parameter(dd_req *r)
{
    int64_t id, iid;
    if (!dd_parse_id(r->param[0], &id)
        || dd_param_get_by_id(r->srv->st, id, &iid, NULL, NULL, NULL, NULL) != DD_OK)
        return 0;
    return dd_project_of_iteration(r->srv->st, iid);
}

static dd_code fetch_param(dd_store *st, int64_t id, json_t **out, dd_err *err)
{
    int64_t iid;
    char *key = NULL, *value = NULL;
    dd_code code = dd_param_get_by_id(st, id, &iid, &key, &value, NULL, err);
    if (code == DD_OK)
        *out = param_json(id, iid, key, value);
    free(key);
    free(value);
    return code;
}

void h_param_get(dd_req *r)
{
    dd_serve_get(r, fetch_param, "NOT_FOUND", "Parameter not found");
}

typedef struct kv {
    char *key, *value;
} kv;

typedef struct param_page {
    dd_page page;
    kv *rows;
    size_t n;
} param_page;

static int collect_param(void *ctx, const char *key, const char *value)
{
    param_page *pp = ctx;
    if (!dd_page_take(&pp->page))
        return 0;
    kv *rows = realloc(pp->rows, (pp->n + 1) * sizeof *rows);
    if (!rows)
        return 1;
    pp->rows = rows;
    rows[pp->n].key = strdup(key);
    rows[pp->n++].value = strdup(value);
    return 0;
}

void h_param_list(dd_req *r)
{
    int64_t iid;
    if (dd_req_id(r, 0, &iid) != 0)
        return;
    param_page pp = {0};
    dd_page_init(r, &pp.page);
    dd_err err = {0};
    dd_code code = dd_param_list(r->srv->st, iid, collect_param, &pp, &err);
    /* The ids after the listing: a callback may not call back into the store. */
    for (size_t i = 0; i < pp.n; i++) {
        int64_t id = 0;
        if (code == DD_OK && pp.rows[i].key && pp.rows[i].value
            && dd_param_find(r->srv->st, iid, pp.rows[i].key, &id, &err) == DD_OK)
            json_array_append_new(pp.page.data,
                                  param_json(id, iid, pp.rows[i].key, pp.rows[i].value));
        free(pp.rows[i].key);
        free(pp.rows[i].value);
    }
    free(pp.rows);
    dd_page_finish(r, &pp.page, code, &err);
}

static const dd_field param_spec[] = {{"key", F_STRING, true}, {"value", F_STRING, true}};

typedef struct param_args {
    int64_t iid, id;
    const char *key, *new_key, *value;
} param_args;

/* Find the key free, create it, read its id: one transaction, so of two concurrent
 * creates of one key exactly one succeeds and the other is 409. */
static dd_code param_create(dd_store *st, void *ctx, dd_err *err)
{
    param_args *a = ctx;
    dd_code code = dd_param_find(st, a->iid, a->key, &a->id, err);
    if (code == DD_OK)
        return dd_fail(err, DD_CONFLICT, "parameter \"%s\" already exists", a->key);
    if (code == DD_NOT_FOUND)
        code = dd_param_set(st, a->iid, a->key, a->value, err);
    return code == DD_OK ? dd_param_find(st, a->iid, a->key, &a->id, err) : code;
}

void h_param_create(dd_req *r)
{
    param_args a = {0};
    json_t *root, *v[2];
    if (dd_req_id(r, 0, &a.iid) != 0 || dd_req_body(r, param_spec, 2, &root, v) != 0)
        return;
    a.key = json_string_value(v[0]), a.value = json_string_value(v[1]);
    dd_err err = {0};
    if (dd_store_atomic(r->srv->st, param_create, &a, &err) == DD_OK)
        dd_reply_created(r, "parameter_id", a.id);
    else
        dd_reply_store_error(r, "create", "parameter", &err);
    json_decref(root);
}

/* Rename (refusing a taken key: the store's rename would replace it), then set the value,
 * in one transaction (dd_store_atomic): a refused PATCH changes nothing. */
static dd_code param_patch(dd_store *st, void *ctx, dd_err *err)
{
    param_args *a = ctx;
    int64_t iid = a->iid, other;
    const char *old_key = a->key, *new_key = a->new_key, *value = a->value;
    dd_code code = DD_OK;
    if (value && !*value)
        return dd_fail(err, DD_INVALID, "a parameter value cannot be empty");
    if (new_key && strcmp(new_key, old_key) != 0) {
        code = dd_param_find(st, iid, new_key, &other, err);
        if (code == DD_OK)
            return dd_fail(err, DD_CONFLICT, "parameter \"%s\" already exists", new_key);
        if (code == DD_NOT_FOUND)
            code = dd_param_rename(st, iid, old_key, new_key, err);
    }
    if (code == DD_OK && value)
        code = dd_param_set(st, iid, new_key ? new_key : old_key, value, err);
    return code;
}

void h_param_update(dd_req *r)
{
    dd_field spec[2] = {param_spec[0], param_spec[1]};
    spec[0].required = spec[1].required = false;
    int64_t id, iid = 0;
    json_t *root, *v[2];
    if (dd_req_id(r, 0, &id) != 0 || dd_req_body(r, spec, 2, &root, v) != 0)
        return;
    char *key = NULL;
    dd_err err = {0};
    dd_code code = !v[0] && !v[1] ? dd_fail(&err, DD_INVALID, "no field to update")
                                  : dd_param_get_by_id(r->srv->st, id, &iid, &key, NULL, NULL, &err);
    param_args a = {iid, 0, key, json_string_value(v[0]), json_string_value(v[1])};
    if (code == DD_OK)
        code = dd_store_atomic(r->srv->st, param_patch, &a, &err);
    if (code == DD_OK)
        dd_reply_updated(r);
    else
        dd_reply_store_error(r, "update", "parameter", &err);
    free(key);
    json_decref(root);
}

/* The store deletes a parameter by (iteration, key): look those up from its id. */
static dd_code delete_param(dd_store *st, int64_t id, dd_err *err)
{
    int64_t iid;
    char *key = NULL;
    dd_code code = dd_param_get_by_id(st, id, &iid, &key, NULL, NULL, err);
    if (code == DD_OK)
        code = dd_param_delete(st, iid, key, err);
    free(key);
    return code;
}

void h_param_delete(dd_req *r)
{
    dd_serve_delete(r, delete_param, "parameter", false);
}

/* ---------------------------------------------------------------- metrics */

static json_t *metric_json(const dd_metric_point_row *m)
{
    return json_pack("{s:I, s:I, s:s, s:f, s:I, s:s}", "id",
                     (json_int_t)METRIC_ID(m->series_id, m->position), "iteration_id",
                     (json_int_t)m->iteration_id, "key", m->key, "value", m->value, "step",
                     (json_int_t)m->step, "recorded_at", m->recorded_at);
}

static bool split_metric_id(int64_t id, int64_t *series, int64_t *pos)
{
    if (id <= 0)
        return false;
    *series = id >> 32, *pos = id & 0xffffffff;
    return true;
}

static int store_metric_json(void *ctx, const dd_metric_point_row *row)
{
    *(json_t **)ctx = metric_json(row);
    return 0;
}

int64_t dd_resolve_metric(dd_req *r)
{
    int64_t id, series, pos;
    json_t *m = NULL;
    if (!dd_parse_id(r->param[0], &id) || !split_metric_id(id, &series, &pos)
        || dd_metric_point_get(r->srv->st, series, pos, store_metric_json, &m, NULL) != DD_OK)
        return 0;
    int64_t iid = json_integer_value(json_object_get(m, "iteration_id"));
    json_decref(m);
    return dd_project_of_iteration(r->srv->st, iid);
}

static dd_code fetch_metric(dd_store *st, int64_t id, json_t **out, dd_err *err)
{
    int64_t series, pos;
    return split_metric_id(id, &series, &pos)
               ? dd_metric_point_get(st, series, pos, store_metric_json, out, err)
               : DD_NOT_FOUND;
}

DD_LIST_FN(list_metrics, dd_metric_point_row, dd_metric_points_list, metric_json)

void h_metric_get(dd_req *r)
{
    dd_serve_get(r, fetch_metric, "NOT_FOUND", "Metric not found");
}

void h_metric_list(dd_req *r)
{
    dd_serve_list(r, list_metrics);
}

/* step and recorded_at into a point; false after replying 422. */
static bool point_options(dd_req *r, json_t *step, json_t *recorded_at, dd_metric_point *pt)
{
    pt->has_step = step != NULL;
    pt->step = step ? json_integer_value(step) : 0;
    pt->recorded_at[0] = '\0';
    dd_err err = {0};
    if (recorded_at && dd_time_parse(json_string_value(recorded_at), pt->recorded_at, &err)
                           != DD_OK) {
        dd_reply_store_error(r, "create", "metric", &err);
        return false;
    }
    return true;
}

/* {"metric_ids": [...]} as text (NULL when out of memory): written directly, where a
 * jansson array of a batch's ids cost an allocation per id and its dump (about 3% of a
 * batch's server CPU, BENCHMARKS.md serve, sixth session). Ids are positive. */
static char *metric_ids_text(const int64_t *series, const int64_t *pos, size_t n)
{
    static const char head[] = "{\"metric_ids\":[";
    char *text = malloc(sizeof head + n * 21 + 2), *p = text;
    if (!text)
        return NULL;
    memcpy(p, head, sizeof head - 1);
    p += sizeof head - 1;
    for (size_t i = 0; i < n; i++) {
        char digits[20];
        int k = 0;
        for (uint64_t v = (uint64_t)METRIC_ID(series[i], pos[i]); k == 0 || v; v /= 10)
            digits[k++] = (char)('0' + v % 10);
        if (i)
            *p++ = ',';
        while (k)
            *p++ = digits[--k];
    }
    memcpy(p, "]}", 3);
    return text;
}

/* Append and answer: 201 {key: id} for one, {metric_ids: [...]} for a batch. */
static void append_and_reply(dd_req *r, int64_t iid, const dd_metric_item *items, size_t n,
                             bool batch)
{
    int64_t *series = calloc(n ? n : 1, sizeof *series), *pos = calloc(n ? n : 1, sizeof *pos);
    dd_err err = {0};
    dd_code code = !series || !pos ? dd_fail(&err, DD_IO, "out of memory")
                   : n ? dd_metric_append_items(r->srv->st, iid, items, n, series, pos, &err)
                       : DD_OK;
    if (code != DD_OK)
        dd_reply_store_error(r, "create", batch ? "metrics" : "metric", &err);
    else if (!batch)
        dd_reply_created(r, "metric_id", METRIC_ID(series[0], pos[0]));
    else
        dd_reply_json_text(r, 201, metric_ids_text(series, pos, n));
    free(series);
    free(pos);
}

void h_metric_create(dd_req *r)
{
    static const dd_field spec[] = {{"key", F_STRING, true},
                                    {"value", F_NUMBER, true},
                                    {"step", F_INT, false},
                                    {"recorded_at", F_STRING, false}};
    int64_t iid;
    json_t *root, *v[4];
    if (dd_req_id(r, 0, &iid) != 0 || dd_req_body(r, spec, 4, &root, v) != 0)
        return;
    dd_metric_item it = {json_string_value(v[0]), {.value = json_number_value(v[1])}};
    if (point_options(r, v[2], v[3], &it.point))
        append_and_reply(r, iid, &it, 1, false);
    json_decref(root);
}

/* The batch's items, each checked like a body of its own; NULL after replying 400. */
static dd_metric_item *batch_items(dd_req *r, json_t *arr, const dd_metric_point *shared)
{
    static const dd_field spec[] = {{"key", F_STRING, true}, {"value", F_NUMBER, true}};
    size_t n = json_array_size(arr);
    dd_metric_item *items = calloc(n ? n : 1, sizeof *items);
    if (!items)
        return dd_reply_error(r, 500, "SERVER_ERROR", "out of memory"), NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(arr, i);
        json_t *key = json_object_get(m, "key"), *value = json_object_get(m, "value");
        if (!json_is_object(m) || !json_is_string(key) || !json_is_number(value)) {
            free(items);
            dd_reply_error(r, 400, "BAD_REQUEST", "metrics[%zu] must be {\"%s\": string, "
                           "\"%s\": number}", i, spec[0].name, spec[1].name);
            return NULL;
        }
        items[i].key = json_string_value(key);
        items[i].point = *shared;
        items[i].point.value = json_number_value(value);
    }
    return items;
}

/* A checked batch, waiting for its writer thread (dd_req_defer). */
typedef struct batch_job {
    json_t *root;              /* the body: items' keys point into it */
    dd_metric_item *items;
    size_t n;
    int64_t iid;
} batch_job;

static void batch_job_free(void *ctx)
{
    batch_job *j = ctx;
    json_decref(j->root);
    free(j->items);
    free(j);
}

static void batch_work(dd_req *r)
{
    batch_job *j = r->defer_ctx;
    append_and_reply(r, j->iid, j->items, j->n, true);
}

/* The batch is parsed and checked here, on the worker; its append waits for the group
 * commit on a writer thread, so the worker's other connections are not held up. */
void h_metric_batch(dd_req *r)
{
    static const dd_field spec[] = {{"step", F_INT, false},
                                    {"recorded_at", F_STRING, false},
                                    {"metrics", F_ARRAY, true}};
    int64_t iid;
    json_t *root, *v[3];
    if (dd_req_id(r, 0, &iid) != 0 || dd_req_body(r, spec, 3, &root, v) != 0)
        return;
    dd_metric_point shared = {0};
    /* One recorded_at for the whole batch, as the original: now, once. */
    if (point_options(r, v[0], v[1], &shared)) {
        if (!shared.recorded_at[0])
            dd_now(shared.recorded_at);
        dd_metric_item *items = batch_items(r, v[2], &shared);
        batch_job *j = items ? malloc(sizeof *j) : NULL;
        if (j) {
            *j = (batch_job){root, items, json_array_size(v[2]), iid};
            dd_req_defer(r, batch_work, j, batch_job_free);
            return;   /* j owns root and items now */
        }
        if (items)
            append_and_reply(r, iid, items, json_array_size(v[2]), true);
        free(items);
    }
    json_decref(root);
}

void h_metric_immutable(dd_req *r)
{
    int64_t id;
    if (dd_req_id(r, 0, &id) == 0)
        dd_reply_error(r, 422, "INVALID_PAYLOAD",
                       "metric points are append-only: they cannot be changed or deleted one by "
                       "one (delete the iteration, or the series from a mount)");
}
