/*
 * h_ui.c - the dashboard of `deardiary serve` (issue 17): its embedded files under /ui/,
 * and the /v1/ routes it reads that the original's API lacks. The pages themselves
 * (server/ui/app.js) read and write through the original's routes wherever one exists, so
 * every rule and permission is the API's; the /v1/ routes are read-only and carry the
 * same ProjectPermissionRequired(read) guard (routes.c).
 *
 *   GET /ui/, /ui/{file}                  the embedded files; no token (they hold no data)
 *   GET /v1/auth/mode                     {"enabled": bool}; no token: the page asks it
 *                                         whether to show the login form
 *   GET /v1/experiment/{eid}/iterations   a page of the iteration table: each iteration
 *                                         with its parameters and latest metric values
 *   GET /v1/iteration/{iid}/series        every metric series of an iteration as arrays
 *   GET /v1/iteration/{iid}/env           the files of its environment snapshot
 *   GET /v1/model/{mid}/aliases           the aliases of a model
 *   GET /v1/model/{mid}/stagehistory      a page of its versions' stage changes, newest
 *                                         first
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "chart_read.h"
#include "downsample.h"
#include "server.h"
#include "ui_assets.h"

#define TABLE_LIMIT_DEFAULT 100
#define TABLE_LIMIT_MAX 1000
#define ENV_TEXT_MAX (64 * 1024)   /* env files shown inline up to this size */
#define MAX_POINTS_MIN 4            /* M4 keeps up to 4 points a column: one column */
#define MAX_POINTS_MAX 100000
#define HISTORY_LIMIT_DEFAULT 100

/* ---------------------------------------------------------------- files */

void h_ui_asset(dd_req *r)
{
    const char *name = r->nparams ? r->param[0] : "index.html";
    for (int i = 0; i < dd_ui_asset_count; i++) {
        const dd_ui_asset *a = &dd_ui_assets[i];
        if (strcmp(a->name, name) == 0) {
            dd_reply_static(r, 200, a->content_type, a->data, a->len);
            return;
        }
    }
    dd_reply_error(r, 404, "NOT_FOUND", "Not Found");
}

void h_v1_auth_mode(dd_req *r)
{
    dd_reply_json(r, 200, json_pack("{s:b}", "enabled", r->srv->auth));
}

/* ---------------------------------------------------------------- query helpers */

/* A non-negative integer query argument clamped to [0, max]; `def` when absent or not
 * an integer. */
static int64_t query_count(dd_req *r, const char *name, int64_t def, int64_t max)
{
    const char *s = dd_req_query(r, name);
    int64_t v;
    if (!s || !dd_parse_id(s, &v))
        return def;
    return v < 0 ? 0 : v > max ? max : v;
}

/* Path parameter 0 as an id naming an existing entity (the route's resolver finds its
 * project); false after replying 400 or 404. */
static bool target_id(dd_req *r, int64_t *id, const char *missing)
{
    if (dd_req_id(r, 0, id) != 0)
        return false;
    if (r->route->resolve(r) > 0)
        return true;
    dd_reply_error(r, 404, "NOT_FOUND", "%s not found", missing);
    return false;
}

/* ---------------------------------------------------------------- the iteration table */

static int add_param(void *ctx, const char *key, const char *value)
{
    json_object_set_new(ctx, key, json_string(value));
    return 0;
}

static int add_latest(void *ctx, const dd_metric_series *s)
{
    json_object_set_new(ctx, s->key, json_real(s->value));
    return 0;
}

/* The row's parameters and latest metric values, added to the iteration's JSON. */
static dd_code complete_row(dd_store *st, json_t *row, dd_err *err)
{
    int64_t id = json_integer_value(json_object_get(row, "id"));
    json_t *params = json_object(), *metrics = json_object();
    json_object_set_new(row, "params", params);
    json_object_set_new(row, "metrics", metrics);
    /* the listing leaves the snapshot texts out: they are the iteration page's */
    json_object_del(row, "project_toml");
    json_object_del(row, "manifest_toml");
    dd_code code = dd_param_list(st, id, add_param, params, err);
    return code == DD_OK ? dd_metric_series_list(st, id, add_latest, metrics, err) : code;
}

static int take_iteration(void *ctx, const dd_iteration *it)
{
    dd_page *p = ctx;
    if (dd_page_take(p))
        json_array_append_new(p->data, dd_json_iteration(it));
    return 0;
}

/* {"data": [iteration + "params" {key: value} + "metrics" {key: latest}], "total",
 * "limit", "offset"}: ?limit default 100, at most 1000 (a table page, larger than the
 * original's 200), ?offset default 0; in id order. The page's rows are completed after
 * the listing, so no store call runs inside another's callback. */
void h_v1_iteration_table(dd_req *r)
{
    int64_t eid;
    if (!target_id(r, &eid, "Experiment"))
        return;
    dd_page p = {.limit = query_count(r, "limit", TABLE_LIMIT_DEFAULT, TABLE_LIMIT_MAX),
                 .offset = query_count(r, "offset", 0, INT64_MAX),
                 .data = json_array()};
    dd_err err = {0};
    dd_code code = dd_iteration_list(r->srv->st, eid, take_iteration, &p, &err);
    for (size_t i = 0; code == DD_OK && i < json_array_size(p.data); i++)
        code = complete_row(r->srv->st, json_array_get(p.data, i), &err);
    dd_page_finish(r, &p, code, &err);
}

/* ---------------------------------------------------------------- series */

/* Where a series' points go: every point into arrays (a series longer than the page
 * asked for goes through the shared M4 downsampler first, chart_read.h, as the mount's
 * SVG charts do). */
typedef struct series_buf {
    int64_t *steps;
    double *values;
    size_t n, cap;
    bool no_memory;      /* an array could not grow: the read stopped short */
} series_buf;

/* The store has no out-of-memory code; this handler answers 500 SERVER_ERROR with this
 * message either way, so the code only has to be a failure. */
static dd_code no_memory(dd_err *err)
{
    return dd_fail(err, DD_IO, "out of memory");
}

static bool buf_reserve(series_buf *b, size_t need)
{
    if (need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < need)
        cap *= 2;
    int64_t *s = realloc(b->steps, cap * sizeof *s);
    if (!s)
        return b->no_memory = true, false;
    b->steps = s;
    double *v = realloc(b->values, cap * sizeof *v);
    if (!v)
        return b->no_memory = true, false;
    b->values = v, b->cap = cap;
    return true;
}

static int collect_point(void *ctx, const dd_metric_row *row)
{
    series_buf *b = ctx;
    if (!buf_reserve(b, b->n + 1))
        return 1;
    b->steps[b->n] = row->step;
    b->values[b->n++] = row->value;
    return 0;
}

/* The downsampled series last sent, so a page polled every 2 s, or opened again, does not
 * read a long series again. Points are append-only and a series id is never reused, so
 * (series id, point count, max_points) names one result for good: an entry can never be
 * stale, only unused. At most CACHE_SLOTS entries of at most MAX_POINTS_MAX points. */
#define CACHE_SLOTS 32

typedef struct cache_entry {
    int64_t series_id, point_count, max_points;   /* series_id 0: empty slot */
    uint64_t used;                                 /* for least-recently-used eviction */
    series_buf pts;
} cache_entry;

struct dd_series_cache {
    pthread_mutex_t mu;
    uint64_t clock;
    cache_entry e[CACHE_SLOTS];
};

dd_series_cache *dd_series_cache_new(void)
{
    dd_series_cache *c = calloc(1, sizeof *c);
    if (c && pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c);
        return NULL;
    }
    return c;
}

void dd_series_cache_free(dd_series_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        free(c->e[i].pts.steps);
        free(c->e[i].pts.values);
    }
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* Copy the cached points of (sid, count, maxp) into the empty `b`; false on a miss. */
static bool cache_get(dd_series_cache *c, int64_t sid, int64_t count, int64_t maxp,
                      series_buf *b)
{
    bool hit = false;
    if (!c)
        return false;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < CACHE_SLOTS && !hit; i++) {
        cache_entry *e = &c->e[i];
        if (e->series_id != sid || e->point_count != count || e->max_points != maxp)
            continue;
        hit = buf_reserve(b, e->pts.n);
        if (hit) {
            memcpy(b->steps, e->pts.steps, e->pts.n * sizeof *b->steps);
            memcpy(b->values, e->pts.values, e->pts.n * sizeof *b->values);
            b->n = e->pts.n;
            e->used = ++c->clock;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return hit;
}

/* Keep a copy of `b` as (sid, count, maxp), in the slot of an older result of the same
 * series and width, else the least recently used one. Nothing kept when out of memory. */
static void cache_put(dd_series_cache *c, int64_t sid, int64_t count, int64_t maxp,
                      const series_buf *b)
{
    if (!c)
        return;
    series_buf copy = {0};
    if (!buf_reserve(&copy, b->n)) {
        free(copy.steps);
        free(copy.values);
        return;
    }
    memcpy(copy.steps, b->steps, b->n * sizeof *b->steps);
    memcpy(copy.values, b->values, b->n * sizeof *b->values);
    copy.n = b->n;
    pthread_mutex_lock(&c->mu);
    cache_entry *slot = &c->e[0];
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        cache_entry *e = &c->e[i];
        if (e->series_id == sid && e->max_points == maxp) {
            slot = e;
            break;
        }
        if (e->used < slot->used)
            slot = e;
    }
    series_buf old = slot->pts;
    *slot = (cache_entry){sid, count, maxp, ++c->clock, copy};
    pthread_mutex_unlock(&c->mu);
    free(old.steps);
    free(old.values);
}

/* One series of the iteration, from its summary row. */
typedef struct series_ref {
    char *key;
    int64_t id, count, max_step;
} series_ref;

typedef struct key_list {
    series_ref *refs;
    size_t n, cap;
    const char *only;   /* ?key=: one series only */
} key_list;

static int collect_key(void *ctx, const dd_metric_series *s)
{
    key_list *k = ctx;
    if (k->only && strcmp(k->only, s->key) != 0)
        return 0;
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 16;
        series_ref *refs = realloc(k->refs, cap * sizeof *refs);
        if (!refs)
            return 1;
        k->refs = refs, k->cap = cap;
    }
    char *key = strdup(s->key);
    if (!key)
        return 1;
    k->refs[k->n++] = (series_ref){key, s->id, s->point_count, s->max_step};
    return 0;
}

static void key_list_free(key_list *k)
{
    for (size_t i = 0; i < k->n; i++)
        free(k->refs[i].key);
    free(k->refs);
}

/* The series `ref` of iteration `iid` into the empty `b`: downsampled to at most
 * `max_points` (0: no limit) when it holds more than that, over the x range [its first
 * step, max_step], from the cache when it was sent before. */
static dd_code read_series(dd_server *srv, int64_t iid, const series_ref *ref,
                           int64_t max_points, series_buf *b, dd_err *err)
{
    if (max_points == 0 || ref->count <= max_points) {
        dd_code code = dd_metric_read(srv->st, iid, ref->key, false, 0, 0, collect_point, b,
                                      err);
        return code == DD_OK && b->no_memory ? no_memory(err) : code;
    }
    if (cache_get(srv->series_cache, ref->id, ref->count, max_points, b))
        return DD_OK;
    dd_downsample ds;
    if (dd_ds_init(&ds, (size_t)max_points / 4, NAN, (double)ref->max_step) != 0)
        return no_memory(err);
    dd_code code = dd_chart_read_series(srv->st, iid, ref->key, &ds, err);
    size_t n = 0;
    const dd_ds_point *pts = code == DD_OK ? dd_ds_finish(&ds, &n) : NULL;
    for (size_t i = 0; i < n && code == DD_OK; i++) {
        dd_metric_row row = {.step = (int64_t)pts[i].x, .value = pts[i].y};
        if (collect_point(b, &row) != 0)
            code = no_memory(err);
    }
    uint64_t fed = ds.n_in;
    dd_ds_free(&ds);
    /* A point appended since the summary was read makes the count stale: keep only a
     * result of exactly `count` points. */
    if (code == DD_OK && fed == (uint64_t)ref->count)
        cache_put(srv->series_cache, ref->id, ref->count, max_points, b);
    return code;
}

/* One series as {"key", "point_count", "downsampled", "steps": [...], "values": [...]},
 * the points in step order. Downsampled steps are exact up to 2^53 (M4 works in double). */
static dd_code series_json(dd_server *srv, int64_t iid, const series_ref *ref,
                           int64_t max_points, json_t **out, dd_err *err)
{
    series_buf b = {0};
    dd_code code = read_series(srv, iid, ref, max_points, &b, err);
    if (code == DD_OK) {
        json_t *steps = json_array(), *values = json_array();
        for (size_t i = 0; i < b.n; i++) {
            json_array_append_new(steps, json_integer(b.steps[i]));
            json_array_append_new(values, json_real(b.values[i]));
        }
        *out = json_pack("{s:s, s:I, s:b, s:o, s:o}", "key", ref->key, "point_count",
                         (json_int_t)ref->count, "downsampled",
                         max_points && ref->count > max_points, "steps", steps, "values",
                         values);
    }
    free(b.steps);
    free(b.values);
    return code;
}

/* {"iteration_id", "series": [{"key", "point_count", "downsampled", "steps", "values"}]}
 * in key order; ?key= for one series; ?summary=true: only {"key", "point_count"} (no point
 * read: a page asks which keys there are, then fetches them in parallel); ?max_points=N
 * (4..100000) downsamples each series longer than N with M4 (chart/downsample.h) to at
 * most N points that draw the same line on a chart N/4 pixels wide, without holding the
 * series in memory. */
void h_v1_iteration_series(dd_req *r)
{
    int64_t iid;
    if (!target_id(r, &iid, "Iteration"))
        return;
    key_list k = {.only = dd_req_query(r, "key")};
    int64_t max_points = query_count(r, "max_points", 0, MAX_POINTS_MAX);
    if (max_points && max_points < MAX_POINTS_MIN)
        max_points = MAX_POINTS_MIN;
    const char *summary = dd_req_query(r, "summary");
    bool only_summary = summary && strcmp(summary, "true") == 0;
    dd_err err = {0};
    dd_code code = dd_metric_series_list(r->srv->st, iid, collect_key, &k, &err);
    json_t *arr = json_array();
    for (size_t i = 0; code == DD_OK && i < k.n; i++) {
        json_t *one = NULL;
        if (only_summary)
            one = json_pack("{s:s, s:I}", "key", k.refs[i].key, "point_count",
                            (json_int_t)k.refs[i].count);
        else
            code = series_json(r->srv, iid, &k.refs[i], max_points, &one, &err);
        if (code == DD_OK)
            json_array_append_new(arr, one);
    }
    key_list_free(&k);
    if (code != DD_OK) {
        json_decref(arr);
        dd_reply_error(r, 500, "SERVER_ERROR", "%s", err.msg);
        return;
    }
    dd_reply_json(r, 200, json_pack("{s:I, s:o}", "iteration_id", (json_int_t)iid, "series",
                                    arr));
}

/* ---------------------------------------------------------------- environment files */

typedef struct env_ctx {
    json_t *arr;
} env_ctx;

static int add_env_file(void *ctx, int64_t id, const char *name, size_t len)
{
    (void)id;
    json_array_append_new(((env_ctx *)ctx)->arr,
                          json_pack("{s:s, s:I}", "name", name, "size", (json_int_t)len));
    return 0;
}

/* The file's bytes as a JSON string when it is small UTF-8 text, else null. */
static json_t *env_text(dd_store *st, int64_t iid, const char *name, size_t len)
{
    if (len > ENV_TEXT_MAX)
        return json_null();
    void *data = NULL;
    size_t n = 0;
    json_t *text = NULL;
    if (dd_iteration_file_get(st, iid, name, &data, &n, NULL) == DD_OK)
        text = json_stringn(data, n);   /* NULL for bad UTF-8 or a NUL */
    free(data);
    return text ? text : json_null();
}

/* {"files": [{"name", "size", "text"}]}: the captured files of the iteration's environment
 * snapshot (lock files), the text inline when small UTF-8. */
void h_v1_iteration_env(dd_req *r)
{
    int64_t iid;
    if (!target_id(r, &iid, "Iteration"))
        return;
    env_ctx c = {.arr = json_array()};
    dd_err err = {0};
    dd_code code = dd_iteration_file_list(r->srv->st, iid, add_env_file, &c, &err);
    for (size_t i = 0; code == DD_OK && i < json_array_size(c.arr); i++) {
        json_t *f = json_array_get(c.arr, i);
        json_object_set_new(f, "text",
                            env_text(r->srv->st, iid,
                                     json_string_value(json_object_get(f, "name")),
                                     (size_t)json_integer_value(json_object_get(f, "size"))));
    }
    if (code != DD_OK) {
        json_decref(c.arr);
        dd_reply_error(r, 500, "SERVER_ERROR", "%s", err.msg);
        return;
    }
    dd_reply_json(r, 200, json_pack("{s:o}", "files", c.arr));
}

/* ---------------------------------------------------------------- aliases */

static int add_alias(void *ctx, int64_t id, const char *alias, int64_t version_id,
                     int64_t version)
{
    json_array_append_new(ctx, json_pack("{s:I, s:s, s:I, s:I}", "id", (json_int_t)id, "alias",
                                         alias, "modelversion_id", (json_int_t)version_id,
                                         "version", (json_int_t)version));
    return 0;
}

/* [{"id", "alias", "modelversion_id", "version"}] in the store's order. */
void h_v1_model_aliases(dd_req *r)
{
    int64_t mid;
    if (!target_id(r, &mid, "Model"))
        return;
    json_t *arr = json_array();
    dd_err err = {0};
    dd_code code = dd_alias_list(r->srv->st, mid, add_alias, arr, &err);
    dd_reply_array(r, arr, code, &err);
}

/* ---------------------------------------------------------------- stage history */

static int add_stage_change(void *ctx, const dd_stage_change *ch)
{
    json_array_append_new(
        ctx, json_pack("{s:I, s:I, s:I, s:o, s:s, s:s, s:o, s:o}", "id", (json_int_t)ch->id,
                       "modelversion_id", (json_int_t)ch->version_id, "version",
                       (json_int_t)ch->version, "from_stage",
                       ch->from_stage ? json_string(dd_stage_name(ch->from_stage)) : json_null(),
                       "to_stage", dd_stage_name(ch->to_stage), "changed_at", ch->changed_at,
                       "user_id", ch->user_id ? json_integer(ch->user_id) : json_null(),
                       "username", ch->username ? json_string(ch->username) : json_null()));
    return 0;
}

/* {"data": [{"id", "modelversion_id", "version", "from_stage" (null: registered),
 * "to_stage", "changed_at", "user_id", "username"}], "total", "limit", "offset"}: newest
 * first; ?limit default 100, at most DD_STAGE_HISTORY_MAX; ?offset default 0. */
void h_v1_model_stage_history(dd_req *r)
{
    int64_t mid;
    if (!target_id(r, &mid, "Model"))
        return;
    dd_page p = {.limit = query_count(r, "limit", HISTORY_LIMIT_DEFAULT, DD_STAGE_HISTORY_MAX),
                 .offset = query_count(r, "offset", 0, INT64_MAX),
                 .data = json_array()};
    if (p.limit < 1)
        p.limit = 1;
    dd_err err = {0};
    dd_code code = dd_stage_history(r->srv->st, mid, p.limit, p.offset, add_stage_change,
                                    p.data, &p.total, &err);
    if (code == DD_NOT_FOUND) {   /* deleted since target_id looked */
        json_decref(p.data);
        dd_reply_error(r, 404, "NOT_FOUND", "Model not found");
        return;
    }
    dd_page_finish(r, &p, code, &err);
}
