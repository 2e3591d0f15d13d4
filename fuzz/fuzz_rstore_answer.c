/*
 * fuzz_rstore_answer.c - libFuzzer target for the remote store's reading of server
 * answers (remote/rstore_ops.c): what a remote mount turns a `deardiary serve`'s JSON into
 * (rows, listings, points), for any JSON a server (or something posing as one) sends.
 *
 * Input: JSON text, taken as the answer to every request the store can make about the
 * entities with ids 1 and 2 (the listings of /v1/ls/..., the original's GETs), put in the
 * store's cache so nothing is asked of a network. Then every read of the table is called
 * through the public store.h functions, with the rights a remote mount's modes come from
 * (user, permissions, the project of every kind of row), and writes.
 * Promises checked: no call crashes or leaks (ASan); each returns DD_OK or a failure with
 * a message; on DD_OK every string of a row handed out or filled is non-NULL and every
 * timestamp is NUL-terminated within DD_TS_LEN; a row filled and then cleared frees what
 * it holds; a failed call fills nothing a caller must free; a permission listing for a
 * project hands out only that project's row; a write without a connection fails with
 * DD_IO and a message, a metric append (step R6) with DD_READ_ONLY.
 */
#include <jansson.h>
#include <string.h>

#include "fuzz.h"
#include "rstore_int.h"

static const char *const paths[] = {
    "/v1/", "/v1/ls/projects", "/v1/ls/models", "/v1/ls/project/1", "/v1/ls/project/2",
    "/v1/ls/experiment/1", "/v1/ls/experiment/2", "/v1/ls/experiment/1/iterations",
    "/v1/ls/iteration/1", "/v1/ls/iteration/2", "/v1/ls/model/1", "/v1/ls/model/2",
    "/metric/iteration/1", "/v1/iteration/1/env", "/parameter/1", "/parameter/2",
    "/modelversion/1", "/resource/1", "/modelversion/2", "/resource/2", "/auth/me",
    "/v1/model/1/stagehistory?limit=10&offset=0",
};

static void ts_ok(const char *ts)
{
    PROMISE(memchr(ts, 0, DD_TS_LEN) != NULL);
}

static void str_ok(const char *s)
{
    PROMISE(s != NULL);
    (void)strlen(s);
}

static int on_project(void *ctx, const dd_project *p)
{
    (void)ctx;
    str_ok(p->name);
    str_ok(p->description);
    ts_ok(p->created_date);
    ts_ok(p->updated_date);
    return 0;
}

static int on_experiment(void *ctx, const dd_experiment *x)
{
    (void)ctx;
    str_ok(x->name);
    ts_ok(x->end_date);
    return 0;
}

static int on_iteration(void *ctx, const dd_iteration *it)
{
    (void)ctx;
    str_ok(it->notes);
    str_ok(it->project_toml);
    ts_ok(it->created_date);
    return 0;
}

static int on_param(void *ctx, const dd_param_row *p)
{
    (void)ctx;
    str_ok(p->key);
    str_ok(p->value);
    ts_ok(p->updated_date);
    return 0;
}

static int on_series(void *ctx, const dd_metric_series *m)
{
    (void)ctx;
    str_ok(m->key);
    str_ok(m->recorded_at);
    return 0;
}

static int on_point(void *ctx, const dd_metric_row *r)
{
    (void)ctx;
    str_ok(r->recorded_at);
    return 0;
}

static int on_file(void *ctx, int64_t id, const char *name, size_t len)
{
    (void)ctx, (void)id, (void)len;
    str_ok(name);
    return 0;
}

static int on_tag(void *ctx, int64_t id, const char *value)
{
    (void)ctx, (void)id;
    str_ok(value);
    return 0;
}

static int on_resource(void *ctx, const dd_resource *r)
{
    (void)ctx;
    str_ok(r->name);
    str_ok(r->backend);
    return 0;
}

static int on_model(void *ctx, const dd_model *m, const char *project)
{
    (void)ctx;
    str_ok(m->name);
    str_ok(project);
    return 0;
}

static int on_version(void *ctx, const dd_model_version *v)
{
    (void)ctx;
    str_ok(v->description);
    return 0;
}

static int on_alias(void *ctx, int64_t id, const char *alias, int64_t vid, int64_t n)
{
    (void)ctx, (void)id, (void)vid, (void)n;
    str_ok(alias);
    return 0;
}

/* A permission row of the project asked for (ctx), and only of it. */
static int on_permission(void *ctx, const dd_user_permission *p)
{
    PROMISE(p->project_id == *(const int64_t *)ctx);
    return 0;
}

/* A call's outcome: DD_OK, or a failure with a message. */
static dd_code answered(dd_code code, const dd_err *err)
{
    PROMISE(code == DD_OK || err->msg[0]);
    return code;
}

static int on_change(void *ctx, const dd_stage_change *c)
{
    (void)ctx;
    ts_ok(c->changed_at);
    return 0;
}

static void scan_restart(void *ctx) { (void)ctx; }
static bool scan_whole(void *ctx, int64_t a, int64_t b) { (void)ctx, (void)a, (void)b; return false; }
static int scan_run(void *ctx, const dd_metric_run *r) { (void)ctx, (void)r; return 0; }

/* Every read of the remote table, for ids 1 and 2. */
static void read_everything(dd_store *st)
{
    dd_err err = {0};
    char ts[DD_TS_LEN], ts2[DD_TS_LEN];
    int64_t id;
    for (int64_t i = 1; i <= 2; i++) {
        dd_project p;
        if (dd_project_get(st, i, &p, &err) == DD_OK) {
            on_project(NULL, &p);
            dd_project_clear(&p);
        }
        dd_experiment x;
        if (dd_experiment_get(st, i, &x, &err) == DD_OK) {
            on_experiment(NULL, &x);
            dd_experiment_clear(&x);
        }
        dd_iteration it;
        if (dd_iteration_get(st, i, &it, &err) == DD_OK) {
            on_iteration(NULL, &it);
            str_ok(it.error_message);
            dd_iteration_clear(&it);
        }
        dd_model m;
        if (dd_model_get(st, i, &m, &err) == DD_OK) {
            str_ok(m.description);
            dd_model_clear(&m);
        }
        dd_model_version v;
        if (dd_version_get(st, i, &v, &err) == DD_OK) {
            on_version(NULL, &v);
            dd_version_clear(&v);
        }
        dd_resource r;
        if (dd_resource_get(st, i, &r, &err) == DD_OK) {
            str_ok(r.content_hash);
            dd_resource_clear(&r);
        }
        dd_project_list(st, on_project, NULL, &err);
        dd_experiment_list(st, i, on_experiment, NULL, &err);
        dd_iteration_list(st, i, on_iteration, NULL, &err);
        dd_iteration_list_children(st, i, on_iteration, NULL, &err);
        dd_param_list_rows(st, i, on_param, NULL, &err);
        dd_metric_series_list(st, i, on_series, NULL, &err);
        dd_iteration_file_list(st, i, on_file, NULL, &err);
        dd_resource_list(st, i, on_resource, NULL, &err);
        dd_model_list_with_project(st, on_model, NULL, &err);
        dd_version_list(st, i, on_version, NULL, &err);
        dd_alias_list(st, i, on_alias, NULL, &err);
        for (dd_tag_kind k = DD_TAG_PROJECT; k <= DD_TAG_ITERATION; k++) {
            dd_tag_list(st, k, i, on_tag, NULL, &err);
            char *value = NULL;
            if (dd_tag_link_get(st, k, i, &id, &value, &err) == DD_OK)
                str_ok(value);
            free(value);
            dd_tag_link_find(st, k, i, "t", &id, &err);
        }
        if (dd_dir_time(st, "iterations", i, ts, &err) == DD_OK)
            ts_ok(ts);
        if (dd_dir_time(st, "projects", 0, ts, &err) == DD_OK)
            ts_ok(ts);
        if (dd_iteration_values_updated(st, i, ts, ts2, &err) == DD_OK) {
            ts_ok(ts);
            ts_ok(ts2);
        }
        char *key = NULL, *value = NULL;
        if (dd_param_get_by_id(st, i, &id, &key, &value, ts, &err) == DD_OK) {
            str_ok(key);
            str_ok(value);
        }
        free(key);
        free(value);
        dd_metric_series ms;
        key = NULL;
        if (dd_metric_series_by_id(st, i, &ms, &key, ts, &err) == DD_OK)
            str_ok(ms.key);
        free(key);
        if (dd_metric_series_get(st, i, "loss", &ms, ts, &err) == DD_OK)
            str_ok(ms.recorded_at);
        dd_metric_read(st, i, "loss", i == 2, 3, 1, on_point, NULL, &err);
        dd_metric_scan_ops ops = {scan_restart, scan_whole, on_point, scan_run};
        dd_metric_scan(st, i, "loss", &ops, NULL, &err);
        void *data = NULL;
        size_t len = 0;
        if (dd_iteration_file_get(st, i, "Project.toml", &data, &len, &err) == DD_OK)
            PROMISE(data != NULL);
        free(data);
        char *name = NULL;
        if (dd_iteration_file_by_id(st, i, &id, &name, &len, &err) == DD_OK)
            str_ok(name);
        free(name);
        dd_iteration_file_find(st, i, "git_sha", &id, &len, &err);
        dd_param_find(st, i, "lr", &id, &err);
        dd_project_find(st, "p", &id, &err);
        dd_experiment_find(st, i, "e", &id, &err);
        dd_resource_find(st, i, "r", &id, &err);
        dd_model_find(st, "m", &id, &err);
        dd_model_find_with_project(st, "m", on_model, NULL, &err);
        dd_version_find(st, i, 1, &id, &err);
        dd_version_find_stage(st, i, DD_STAGE_PRODUCTION, &id, &err);
        dd_alias_find(st, i, "a", &id, &err);
        int64_t mid, vid;
        dd_alias_by_id(st, i, &mid, &vid, &err);
        dd_stage_history(st, i, 10, 0, on_change, NULL, &id, &err);
    }
    /* the rights behind a remote mount's modes (rstore_rights.c), from the same answers */
    dd_user u;
    err.msg[0] = 0;
    if (answered(dd_user_find(st, "", &u, &err), &err) == DD_OK) {
        str_ok(u.username);
        dd_user_clear(&u);
    }
    for (int64_t i = 1; i <= 2; i++) {
        answered(dd_permission_list(st, 0, i, on_permission, &i, &err), &err);
        for (int k = 0; k < DD_ENT_COUNT; k++)
            answered(dd_project_of(st, (dd_entity)k, i, &id, &err), &err);
    }
    /* writes: a store with no connection fails them, saying so (no answer is taken from
     * the cache for a write); metric appends are refused until step R6 */
    err.msg[0] = 0;
    PROMISE(dd_param_set(st, 1, "k", "v", &err) == DD_IO && err.msg[0]);
    err.msg[0] = 0;
    PROMISE(dd_tag_attach(st, DD_TAG_ITERATION, 1, "t", &id, &err) == DD_IO && err.msg[0]);
    err.msg[0] = 0;
    dd_metric_point pt = {.value = 1.0};
    PROMISE(dd_metric_append(st, 1, "loss", &pt, 1, &err) == DD_READ_ONLY && err.msg[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *answer = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!answer)
        return 0;
    rstore *rs = calloc(1, sizeof *rs);
    PROMISE(rs != NULL);
    pthread_mutex_init(&rs->mu, NULL);
    rs->url = strdup("http://fuzz.invalid");
    rs->ttl = 1e9;
    rs->cache = json_object();
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        json_object_set_new(rs->cache, paths[i], json_pack("[f, O]", 1e18, answer));
    json_decref(answer);
    dd_store *st = NULL;
    dd_err err;
    PROMISE(dd_store_wrap(&dd_store_remote_ops, rs, rs->url, &st, &err) == DD_OK);
    read_everything(st);
    dd_store_close(st);   /* frees rs (rs_close) */
    return 0;
}
