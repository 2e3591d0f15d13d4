/*
 * rstore_ops.c - the remote store's table of operations (store_ops.h): each read the
 * filesystem makes, answered from the server's /v1 listings (REMOTE.md §2.2, fields in
 * server/h_v1.h) and, for what a listing lacks, the original's GETs.
 *
 * Which request serves which call (each answer reused for the ttl, rstore.c):
 *
 *   projects, project_find            GET /v1/ls/projects
 *   project_get; experiments, models, GET /v1/ls/project/{pid} (its own `row` in `dir`)
 *     tags of P
 *   iterations of E                   GET /v1/ls/experiment/{eid}/iterations (all pages)
 *   experiment_get; resources, tags   GET /v1/ls/experiment/{eid} (its `row`, and its
 *     of E                              iterations/' time)
 *   iteration_get, params, series,    GET /v1/ls/iteration/{iid} (its `row`); the
 *     env files, children, tags of I     series' summaries count the node's undelivered
 *                                       points, and list the series only they hold
 *                                       (REMOTE.md §4.9)
 *   a long parameter value            GET /parameter/{id}
 *   env file bytes                    GET /v1/iteration/{iid}/env
 *   points of a series                GET /metric/iteration/{iid} (pages of 200), then
 *                                       the node's undelivered ones (rstore_metrics.c)
 *   metric appends                    the node journal, delivered by POST /v1/metrics
 *                                       (rstore_metrics.c)
 *   models (root), model_find         GET /v1/ls/models
 *   model_get; versions, aliases of M GET /v1/ls/model/{mid} (its `row`; a version's
 *                                       description: GET /modelversion/{id})
 *   a model's history                 GET /v1/model/{mid}/stagehistory
 *   dd_dir_time                       the `dir_time(s)` of the listing of that directory
 *
 * A row known only by its id (a parameter's inode, a series', an alias') is found
 * through the listing that last showed it (rs_index_*): the kernel always looks a name
 * up in its directory before it uses the inode, so that listing has been read.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rstore_int.h"
#include "textfmt.h"

/* ---------------------------------------------------------------- JSON fields */

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static int64_t jint(json_t *o, const char *k)
{
    return (int64_t)json_integer_value(json_object_get(o, k));
}

static void jts(json_t *o, const char *k, char out[DD_TS_LEN])
{
    snprintf(out, DD_TS_LEN, "%s", jstr(o, k));
}

static char *jdup(json_t *o, const char *k)
{
    return strdup(jstr(o, k));
}

static bool is_kind(json_t *e, const char *kind)
{
    return strcmp(jstr(e, "kind"), kind) == 0;
}

/* The entry of `kind` (NULL: any) whose `field` is the integer `id`, or NULL. */
static json_t *entry_by_id(json_t *answer, const char *kind, int64_t id)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(answer, "entries"), i, e)
        if ((!kind || is_kind(e, kind)) && jint(e, "id") == id)
            return e;
    return NULL;
}

static json_t *entry_by_name(json_t *answer, const char *kind, const char *name)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(answer, "entries"), i, e)
        if ((!kind || is_kind(e, kind)) && strcmp(jstr(e, "name"), name) == 0)
            return e;
    return NULL;
}

static dd_code no_row(dd_err *err, const char *what, int64_t id)
{
    return dd_fail(err, DD_NOT_FOUND, "%s %" PRId64 " not found", what, id);
}

static dd_code no_name(dd_err *err, const char *what, const char *name)
{
    return dd_fail(err, DD_NOT_FOUND, "%s %s not found", what, name);
}

static dd_code oom(dd_err *err)
{
    return dd_fail(err, DD_IO, "out of memory");
}

/* ---------------------------------------------------------------- listings as data */

/* One kind of row a /v1/ls listing shows (h_v1.h): the owner's listing (`path`, printf
 * with the owner's id), its entries of `kind` (NULL: all), what a message calls them,
 * and the index its rows are remembered under (rs_index_*; NULL: none), so a row met
 * again only by its id (an inode) finds the listing that holds it. Each list, find and
 * get-by-id call below is one of these and a function turning an entry into the
 * store's struct. */
typedef struct listing {
    const char *path;
    const char *kind;
    const char *what;
    const char *index;
} listing;

static const listing PROJECTS = {"/v1/ls/projects", NULL, "project", NULL};
static const listing EXPERIMENTS = {"/v1/ls/project/%" PRId64, "experiment", "experiment",
                                    "experiment"};
static const listing P_MODELS = {"/v1/ls/project/%" PRId64, "model", "model", NULL};
static const listing ITERATIONS = {"/v1/ls/experiment/%" PRId64 "/iterations", NULL,
                                   "iteration", "iteration"};   /* dd_project_of */
static const listing CHILDREN = {"/v1/ls/iteration/%" PRId64, "child", "iteration", NULL};
static const listing ENV_FILES = {"/v1/ls/iteration/%" PRId64, "env", "env file", "env"};
static const listing PARAMS = {"/v1/ls/iteration/%" PRId64, "param", "parameter", "param"};
static const listing SERIES = {"/v1/ls/iteration/%" PRId64, "metric", "series", "metric"};
static const listing RESOURCES = {"/v1/ls/experiment/%" PRId64, "resource", "resource",
                                  "resource"};
static const listing MODELS = {"/v1/ls/models", NULL, "model", NULL};
static const listing VERSIONS = {"/v1/ls/model/%" PRId64, "version", "model version",
                                 "version"};
static const listing ALIASES = {"/v1/ls/model/%" PRId64, "alias", "alias", "alias"};
static const listing TAGS[] = {
    [DD_TAG_PROJECT] = {"/v1/ls/project/%" PRId64, "tag", "tag", "ptag"},
    [DD_TAG_EXPERIMENT] = {"/v1/ls/experiment/%" PRId64, "tag", "tag", "etag"},
    [DD_TAG_ITERATION] = {"/v1/ls/iteration/%" PRId64, "tag", "tag", "itag"},
};

/* The listing of `l` under `owner` (a new reference in *a). */
static dd_code listing_get(dd_store *st, const listing *l, int64_t owner, json_t **a,
                           dd_err *err)
{
    char path[128];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#pragma GCC diagnostic ignored "-Wformat-extra-args"
    snprintf(path, sizeof path, l->path, owner);
#pragma GCC diagnostic pop
    return rs_get(st, a, err, "%s", path);
}

/* One entry to a list call's callback; non-zero stops the listing. */
typedef int (*entry_fn)(void *ctx, json_t *e, int64_t owner);

/* The entries of `l` under `owner`, each remembered in the index and given to `each`. */
static dd_code walk(dd_store *st, const listing *l, int64_t owner, entry_fn each, void *ctx,
                    dd_err *err)
{
    json_t *a, *e;
    dd_code code = listing_get(st, l, owner, &a, err);
    if (code != DD_OK)
        return code;
    size_t i;
    json_array_foreach(json_object_get(a, "entries"), i, e) {
        if (l->kind && !is_kind(e, l->kind))
            continue;
        if (l->index)
            rs_index_put(st, l->index, jint(e, "id"), owner);
        if (each(ctx, e, owner))
            break;
    }
    json_decref(a);
    return DD_OK;
}

/* The entry of `l` named `name` under `owner` (remembered in the index), with a new
 * reference to its listing in *a. */
static dd_code find_named(dd_store *st, const listing *l, int64_t owner, const char *name,
                          json_t **a, json_t **e, dd_err *err)
{
    *e = NULL;
    dd_code code = listing_get(st, l, owner, a, err);
    if (code == DD_OK && !(*e = entry_by_name(*a, l->kind, name))) {
        json_decref(*a);
        *a = NULL;
        code = no_name(err, l->what, name);
    }
    if (code == DD_OK && l->index)
        rs_index_put(st, l->index, jint(*e, "id"), owner);
    return code;
}

/* find_named's id only. */
static dd_code find_id(dd_store *st, const listing *l, int64_t owner, const char *name,
                       int64_t *id_out, dd_err *err)
{
    json_t *a, *e;
    dd_code code = find_named(st, l, owner, name, &a, &e, err);
    if (code == DD_OK) {
        if (id_out)
            *id_out = jint(e, "id");
        json_decref(a);
    }
    return code;
}

/* The entry of `l` with id `id`, in the listing of the owner that last showed it (the
 * index): a new reference to that listing in *a, the owner in *owner. */
static dd_code find_listed(dd_store *st, const listing *l, int64_t id, json_t **a,
                           json_t **e, int64_t *owner, dd_err *err)
{
    *a = *e = NULL;
    *owner = rs_index_get(st, l->index, id);
    if (!*owner)
        return no_row(err, l->what, id);
    dd_code code = listing_get(st, l, *owner, a, err);
    if (code == DD_OK && !(*e = entry_by_id(*a, l->kind, id))) {
        json_decref(*a);
        *a = NULL;
        code = no_row(err, l->what, id);
    }
    return code;
}

/* A list call's callback and its context, called through an entry_fn (the callback's
 * type is the entry function's to know). */
typedef struct list_cb {
    void (*cb)(void);
    void *ctx;
} list_cb;

#define LIST_CB(cb, ctx) (&(list_cb){(void (*)(void))(cb), (ctx)})

/* ---------------------------------------------------------------- the store itself */

static void r_store_local_dir(const dd_store *st, char *out, size_t len)
{
    /* what bounds this node's acknowledged writes: its home (the journal's disk, R6) */
    const char *home = getenv("HOME");
    (void)st;
    snprintf(out, len, "%s", home && home[0] == '/' ? home : "/");
}

/* Where dd_dir_time's directory names are answered: the listing and its key in
 * `dir_times` (NULL: the listing's `dir_time`). */
typedef struct dir_where {
    const char *name;
    const char *path;    /* printf with the owner id */
    const char *key;
} dir_where;

static const dir_where dir_wheres[] = {
    {"projects", "/v1/ls/projects", NULL},
    {"models", "/v1/ls/models", NULL},
    {"experiments", "/v1/ls/project/%" PRId64, "experiments"},
    {"p_models", "/v1/ls/project/%" PRId64, "models"},
    {"p_tags", "/v1/ls/project/%" PRId64, "tags"},
    {"resources", "/v1/ls/experiment/%" PRId64, "resources"},
    {"e_tags", "/v1/ls/experiment/%" PRId64, "tags"},
    {"iterations", "/v1/ls/experiment/%" PRId64, "iterations"},
    {"params", "/v1/ls/iteration/%" PRId64, "params"},
    {"metrics", "/v1/ls/iteration/%" PRId64, "metrics"},
    {"env", "/v1/ls/iteration/%" PRId64, "env"},
    {"children", "/v1/ls/iteration/%" PRId64, "children"},
    {"i_tags", "/v1/ls/iteration/%" PRId64, "tags"},
    {"versions", "/v1/ls/model/%" PRId64, "versions"},
    {"aliases", "/v1/ls/model/%" PRId64, "aliases"},
};

static dd_code r_dir_time(dd_store *st, const char *name, int64_t owner_id,
                          char out[DD_TS_LEN], dd_err *err)
{
    out[0] = 0;
    for (size_t i = 0; i < sizeof dir_wheres / sizeof dir_wheres[0]; i++) {
        const dir_where *w = &dir_wheres[i];
        if (strcmp(w->name, name) != 0)
            continue;
        char path[128];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(path, sizeof path, w->path, owner_id);
#pragma GCC diagnostic pop
        json_t *a;
        dd_code code = rs_get(st, &a, err, "%s", path);
        if (code != DD_OK)
            return code;
        json_t *dir = json_object_get(a, "dir");
        jts(w->key ? json_object_get(dir, "dir_times") : dir, w->key ? w->key : "dir_time",
            out);
        json_decref(a);
        return DD_OK;
    }
    return DD_OK;   /* "root" and the like: nothing came or went that the server tells */
}

/* ---------------------------------------------------------------- projects */

static void project_of_entry(json_t *e, dd_project *p)
{
    p->id = jint(e, "id");
    p->name = (char *)jstr(e, "name");
    p->description = "";
    jts(e, "created", p->created_date);
    jts(e, "modified", p->updated_date);
}

static int project_entry(void *ctx, json_t *e, int64_t owner)
{
    list_cb *l = ctx;
    dd_project p;
    (void)owner;
    project_of_entry(e, &p);
    return ((dd_project_cb)l->cb)(l->ctx, &p);
}

static dd_code r_project_list(dd_store *st, dd_project_cb cb, void *ctx, dd_err *err)
{
    return walk(st, &PROJECTS, 0, project_entry, LIST_CB(cb, ctx), err);
}

/* The `row` an entity's own listing carries in its `dir` (h_v1.h). */
static json_t *own_row(json_t *a)
{
    return json_object_get(json_object_get(a, "dir"), "row");
}

static dd_code r_project_get(dd_store *st, int64_t id, dd_project *out, dd_err *err)
{
    memset(out, 0, sizeof *out);
    json_t *a;
    dd_code code = rs_get(st, &a, err, "/v1/ls/project/%" PRId64, id);
    if (code != DD_OK)
        return code;
    json_t *row = own_row(a);
    project_of_entry(row, out);
    out->name = jdup(row, "name");
    out->description = jdup(row, "description");
    if (!out->name || !out->description) {
        dd_project_clear(out);
        code = oom(err);
    }
    json_decref(a);
    return code;
}

static dd_code r_project_find(dd_store *st, const char *name, int64_t *id_out, dd_err *err)
{
    return find_id(st, &PROJECTS, 0, name, id_out, err);
}

/* ---------------------------------------------------------------- experiments */

static void experiment_of_entry(json_t *e, int64_t pid, dd_experiment *x)
{
    memset(x, 0, sizeof *x);
    x->id = jint(e, "id");
    x->project_id = pid;
    int status = DD_EXP_IN_PROGRESS;
    dd_experiment_status_parse(jstr(e, "status"), &status);
    x->status_id = status;
    x->name = (char *)jstr(e, "name");
    x->description = "";
    jts(e, "created", x->created_date);
    jts(e, "end_date", x->end_date);
    jts(e, "modified", x->updated_date);
}

static int experiment_entry(void *ctx, json_t *e, int64_t owner)
{
    list_cb *l = ctx;
    dd_experiment x;
    experiment_of_entry(e, owner, &x);
    return ((dd_experiment_cb)l->cb)(l->ctx, &x);
}

static dd_code r_experiment_list(dd_store *st, int64_t project_id, dd_experiment_cb cb,
                                 void *ctx, dd_err *err)
{
    return walk(st, &EXPERIMENTS, project_id, experiment_entry, LIST_CB(cb, ctx), err);
}

static dd_code r_experiment_get(dd_store *st, int64_t id, dd_experiment *out, dd_err *err)
{
    memset(out, 0, sizeof *out);
    json_t *a;
    dd_code code = rs_get(st, &a, err, "/v1/ls/experiment/%" PRId64, id);
    if (code != DD_OK)
        return code;
    json_t *row = own_row(a);
    experiment_of_entry(row, jint(row, "project_id"), out);
    out->name = jdup(row, "name");
    out->description = jdup(row, "description");
    if (!out->name || !out->description) {
        dd_experiment_clear(out);
        code = oom(err);
    }
    json_decref(a);
    return code;
}

static dd_code r_experiment_find(dd_store *st, int64_t project_id, const char *name,
                                 int64_t *id_out, dd_err *err)
{
    return find_id(st, &EXPERIMENTS, project_id, name, id_out, err);
}

/* ---------------------------------------------------------------- iterations */

static void iteration_of_entry(json_t *e, int64_t eid, dd_iteration *it)
{
    memset(it, 0, sizeof *it);
    it->id = jint(e, "id");
    it->experiment_id = eid;
    it->parent_iteration_id = jint(e, "parent_iteration_id");
    int status = DD_ITER_RUNNING;
    dd_iteration_status_parse(jstr(e, "status"), &status);
    it->status_id = status;
    it->notes = it->error_message = it->julia_version = it->git_sha = it->entrypoint =
        it->project_toml = it->manifest_toml = "";
    jts(e, "created", it->created_date);
    jts(e, "end_date", it->end_date);
    jts(e, "modified", it->updated_date);
}

static int iteration_entry_cb(void *ctx, json_t *e, int64_t owner)
{
    list_cb *l = ctx;
    dd_iteration it;
    iteration_of_entry(e, owner, &it);
    return ((dd_iteration_cb)l->cb)(l->ctx, &it);
}

static dd_code r_iteration_list(dd_store *st, int64_t experiment_id, dd_iteration_cb cb,
                                void *ctx, dd_err *err)
{
    return walk(st, &ITERATIONS, experiment_id, iteration_entry_cb, LIST_CB(cb, ctx), err);
}

/* GET /v1/ls/iteration/{id}: the iteration's own listing (its row in dir.row). */
static dd_code iteration_ls(dd_store *st, int64_t id, json_t **out, dd_err *err)
{
    return rs_get(st, out, err, "/v1/ls/iteration/%" PRId64, id);
}

static dd_code r_iteration_get(dd_store *st, int64_t id, dd_iteration *out, dd_err *err)
{
    memset(out, 0, sizeof *out);
    json_t *a;
    dd_code code = iteration_ls(st, id, &a, err);
    if (code != DD_OK)
        return code;
    json_t *row = own_row(a);
    int64_t eid = jint(row, "experiment_id");
    {
        out->id = id;
        out->experiment_id = eid;
        out->parent_iteration_id = jint(row, "parent_iteration_id");
        jts(row, "created_date", out->created_date);
        jts(row, "end_date", out->end_date);
        jts(json_object_get(a, "dir"), "modified", out->updated_date);
        out->status_id = (int)jint(row, "status_id");
        out->notes = jdup(row, "notes");
        out->error_message = jdup(row, "error_message");
        out->julia_version = jdup(row, "julia_version");
        out->git_sha = jdup(row, "git_sha");
        out->git_dirty = json_is_true(json_object_get(row, "git_dirty"));
        out->entrypoint = jdup(row, "entrypoint");
        out->project_toml = jdup(row, "project_toml");
        out->manifest_toml = jdup(row, "manifest_toml");
        if (!out->notes || !out->error_message || !out->julia_version || !out->git_sha ||
            !out->entrypoint || !out->project_toml || !out->manifest_toml) {
            dd_iteration_clear(out);
            code = oom(err);
        }
    }
    json_decref(a);
    return code;
}

typedef struct child_ctx {
    dd_iteration_cb cb;
    void *ctx;
    int64_t experiment_id;
} child_ctx;

static int child_entry(void *ctx, json_t *e, int64_t owner)
{
    child_ctx *c = ctx;
    dd_iteration it;
    iteration_of_entry(e, c->experiment_id, &it);
    it.parent_iteration_id = owner;
    return c->cb(c->ctx, &it);
}

static dd_code r_iteration_list_children(dd_store *st, int64_t parent_id, dd_iteration_cb cb,
                                         void *ctx, dd_err *err)
{
    json_t *a;
    dd_code code = iteration_ls(st, parent_id, &a, err);
    if (code != DD_OK)
        return code;
    child_ctx c = {cb, ctx, jint(own_row(a), "experiment_id")};
    json_decref(a);
    return walk(st, &CHILDREN, parent_id, child_entry, &c, err);
}

static int env_entry(void *ctx, json_t *e, int64_t owner)
{
    list_cb *l = ctx;
    (void)owner;
    return ((dd_iteration_file_cb)l->cb)(l->ctx, jint(e, "id"), jstr(e, "name"),
                                         (size_t)jint(e, "size"));
}

static dd_code r_iteration_file_list(dd_store *st, int64_t iteration_id,
                                     dd_iteration_file_cb cb, void *ctx, dd_err *err)
{
    return walk(st, &ENV_FILES, iteration_id, env_entry, LIST_CB(cb, ctx), err);
}

static dd_code r_iteration_file_by_id(dd_store *st, int64_t id, int64_t *iteration_id_out,
                                      char **name_out, size_t *len_out, dd_err *err)
{
    json_t *a, *e;
    int64_t iid;
    dd_code code = find_listed(st, &ENV_FILES, id, &a, &e, &iid, err);
    if (code != DD_OK)
        return code;
    if (iteration_id_out)
        *iteration_id_out = iid;
    if (len_out)
        *len_out = (size_t)jint(e, "size");
    if (name_out && !(*name_out = jdup(e, "name")))
        code = oom(err);
    json_decref(a);
    return code;
}

static dd_code r_iteration_file_find(dd_store *st, int64_t iteration_id, const char *name,
                                     int64_t *id_out, size_t *len_out, dd_err *err)
{
    json_t *a, *e;
    dd_code code = find_named(st, &ENV_FILES, iteration_id, name, &a, &e, err);
    if (code != DD_OK)
        return code;
    if (id_out)
        *id_out = jint(e, "id");
    if (len_out)
        *len_out = (size_t)jint(e, "size");
    json_decref(a);
    return DD_OK;
}

static dd_code r_iteration_file_get(dd_store *st, int64_t iteration_id, const char *name,
                                    void **data_out, size_t *len_out, dd_err *err)
{
    json_t *a, *f;
    dd_code code = rs_get(st, &a, err, "/v1/iteration/%" PRId64 "/env", iteration_id);
    if (code != DD_OK)
        return code;
    size_t i;
    code = no_name(err, "env file", name);
    json_array_foreach(json_object_get(a, "files"), i, f) {
        if (strcmp(jstr(f, "name"), name) != 0)
            continue;
        const char *text = json_string_value(json_object_get(f, "text"));
        size_t len = json_string_length(json_object_get(f, "text"));
        code = !text ? dd_fail(err, DD_IO, "env file %s: the server sent no text", name)
               : !(*data_out = malloc(len + 1)) ? oom(err) : DD_OK;
        if (code == DD_OK) {
            memcpy(*data_out, text, len);
            *len_out = len;
        }
        break;
    }
    json_decref(a);
    return code;
}

/* The latest `modified` of the iteration's entries of `kind` into out ("" when none). */
static void latest_of(json_t *a, const char *kind, char out[DD_TS_LEN])
{
    size_t i;
    json_t *e;
    out[0] = 0;
    json_array_foreach(json_object_get(a, "entries"), i, e)
        if (is_kind(e, kind) && strcmp(jstr(e, "modified"), out) > 0)
            jts(e, "modified", out);
}

static dd_code r_iteration_values_updated(dd_store *st, int64_t id, char params_out[DD_TS_LEN],
                                          char metrics_out[DD_TS_LEN], dd_err *err)
{
    json_t *a;
    dd_code code = iteration_ls(st, id, &a, err);
    if (code != DD_OK)
        return code;
    latest_of(a, "param", params_out);
    latest_of(a, "metric", metrics_out);
    json_decref(a);
    return DD_OK;
}

/* ---------------------------------------------------------------- parameters */

/* A parameter's value: the listing's, or GET /parameter/{id} for one it left out
 * (longer than 1 KiB). *out malloc'd. */
static dd_code param_value(dd_store *st, json_t *e, char **out, dd_err *err)
{
    json_t *v = json_object_get(e, "value");
    if (json_is_string(v))
        return (*out = strdup(json_string_value(v))) ? DD_OK : oom(err);
    json_t *row;
    dd_code code = rs_get(st, &row, err, "/parameter/%" PRId64, jint(e, "id"));
    if (code == DD_OK) {
        code = (*out = jdup(row, "value")) ? DD_OK : oom(err);
        json_decref(row);
    }
    return code;
}

typedef struct param_rows {
    dd_store *st;
    dd_param_row_cb cb;
    void *ctx;
    dd_code code;
    dd_err *err;
} param_rows;

static int param_entry(void *ctx, json_t *e, int64_t owner)
{
    param_rows *p = ctx;
    char *value = NULL;
    (void)owner;
    if ((p->code = param_value(p->st, e, &value, p->err)) != DD_OK)
        return 1;
    dd_param_row row = {.id = jint(e, "id"), .key = jstr(e, "name"), .value = value};
    jts(e, "modified", row.updated_date);
    int stop = p->cb(p->ctx, &row);
    free(value);
    return stop;
}

static dd_code r_param_list_rows(dd_store *st, int64_t iteration_id, dd_param_row_cb cb,
                                 void *ctx, dd_err *err)
{
    param_rows p = {st, cb, ctx, DD_OK, err};
    dd_code code = walk(st, &PARAMS, iteration_id, param_entry, &p, err);
    return code != DD_OK ? code : p.code;
}

typedef struct param_adapt {
    dd_param_cb cb;
    void *ctx;
} param_adapt;

static int param_row_to_kv(void *ctx, const dd_param_row *row)
{
    param_adapt *p = ctx;
    return p->cb(p->ctx, row->key, row->value);
}

static dd_code r_param_list(dd_store *st, int64_t iteration_id, dd_param_cb cb, void *ctx,
                            dd_err *err)
{
    param_adapt p = {cb, ctx};
    return r_param_list_rows(st, iteration_id, param_row_to_kv, &p, err);
}

static dd_code r_param_find(dd_store *st, int64_t iteration_id, const char *key,
                            int64_t *id_out, dd_err *err)
{
    return find_id(st, &PARAMS, iteration_id, key, id_out, err);
}

static dd_code r_param_get_by_id(dd_store *st, int64_t id, int64_t *iteration_id_out,
                                 char **key_out, char **value_out, char *updated_out,
                                 dd_err *err)
{
    json_t *a, *e;
    int64_t iid;
    dd_code code = find_listed(st, &PARAMS, id, &a, &e, &iid, err);
    if (code != DD_OK)
        return code;
    if (iteration_id_out)
        *iteration_id_out = iid;
    if (updated_out)
        jts(e, "modified", updated_out);
    if (key_out && !(*key_out = jdup(e, "name")))
        code = oom(err);
    if (code == DD_OK && value_out)
        code = param_value(st, e, value_out, err);
    if (code != DD_OK && key_out) {
        free(*key_out);
        *key_out = NULL;
    }
    json_decref(a);
    return code;
}

/* ---------------------------------------------------------------- metric series */

static void series_of_entry(json_t *e, int64_t iid, dd_metric_series *m)
{
    memset(m, 0, sizeof *m);
    m->id = jint(e, "id");
    m->iteration_id = iid;
    m->key = jstr(e, "name");
    m->value = json_number_value(json_object_get(e, "value"));
    m->step = jint(e, "step");
    m->recorded_at = "";
    m->max_step = jint(e, "max_step");
    m->point_count = jint(e, "point_count");
    m->text_bytes = jint(e, "size");
    jts(e, "modified", m->updated_date);
}

/* The series of an iteration as this node shows them (REMOTE.md §4.6, §10): the server's
 * summaries, each completed with the node's undelivered points of it (counted, sized as
 * `cat` prints them, with the provisional steps rs_metric_read gives them), and the series
 * only the journal holds, with an id of the mount's own range (rs_metrics_local_id). */
typedef struct series_row {
    dd_metric_series s;
    char *key;
    char ts[DD_TS_LEN];     /* the latest point's recorded_at, when it is a node's */
} series_row;

typedef struct series_view {
    series_row *rows;
    size_t n, cap;
    series_row *last;       /* the row the previous point went to (points come in runs) */
    bool oom;
} series_view;

static void series_view_free(series_view *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->rows[i].key);
    free(v->rows);
}

/* The row of `key` (added, empty, when new); NULL when out of memory. */
static series_row *series_row_of(series_view *v, const char *key)
{
    if (v->last && strcmp(v->last->key, key) == 0)
        return v->last;
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->rows[i].key, key) == 0)
            return v->last = &v->rows[i];
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 16;
        series_row *rows = realloc(v->rows, cap * sizeof *rows);
        if (!rows)
            return v->oom = true, NULL;
        v->rows = rows;
        v->cap = cap;
    }
    series_row *r = &v->rows[v->n];
    memset(r, 0, sizeof *r);
    if (!(r->key = strdup(key)))
        return v->oom = true, NULL;
    r->s.recorded_at = "";
    v->n++;
    return v->last = r;
}

/* One undelivered point joins its series' summary (the step as rs_metric_read's
 * node_point gives it: max + 1 when it has none). */
static int series_point(void *ctx, const char *key, const dd_metric_point *p)
{
    series_view *v = ctx;
    series_row *r = series_row_of(v, key);
    if (!r)
        return 1;
    dd_metric_series *s = &r->s;
    int64_t step = p->has_step ? p->step : s->point_count == 0 ? 0
                   : s->max_step < INT64_MAX ? s->max_step + 1 : INT64_MAX;
    char line[DD_METRIC_LINE_MAX];
    s->text_bytes += (int64_t)dd_metric_line(step, p->value, p->recorded_at, line);
    if (s->point_count == 0 || step >= s->step) {   /* latest: greatest step, last on ties */
        s->step = step;
        s->value = p->value;
        memcpy(r->ts, p->recorded_at, DD_TS_LEN);
    }
    s->max_step = s->point_count == 0 || step > s->max_step ? step : s->max_step;
    s->point_count++;
    if (strcmp(p->recorded_at, s->updated_date) > 0)
        memcpy(s->updated_date, p->recorded_at, DD_TS_LEN);
    return 0;
}

static int row_by_key(const void *a, const void *b)
{
    return strcmp(((const series_row *)a)->key, ((const series_row *)b)->key);
}

static dd_code series_view_load(dd_store *st, int64_t iid, series_view *v, dd_err *err)
{
    memset(v, 0, sizeof *v);
    bool merge = rs_metrics_view_begin(st, iid);
    json_t *a, *e;
    dd_code code = listing_get(st, &SERIES, iid, &a, err);
    size_t i;
    if (code == DD_OK) {
        json_array_foreach(json_object_get(a, "entries"), i, e) {
            series_row *r = is_kind(e, SERIES.kind) ? series_row_of(v, jstr(e, "name")) : NULL;
            if (!r)
                continue;
            series_of_entry(e, iid, &r->s);
            rs_index_put(st, SERIES.index, r->s.id, iid);
        }
        json_decref(a);
        if (merge)
            rs_metrics_undelivered(st, iid, series_point, v);
    }
    if (merge)
        rs_metrics_view_end(st);
    if (code == DD_OK && v->oom)
        code = oom(err);
    for (i = 0; code == DD_OK && i < v->n; i++) {
        series_row *r = &v->rows[i];
        int64_t local = rs_metrics_local_id(st, iid, r->key, r->s.id == 0);
        r->s.id = local ? local : r->s.id;
        r->s.key = r->key;
        r->s.iteration_id = iid;
        r->s.recorded_at = r->ts;
    }
    if (code == DD_OK && v->n)
        qsort(v->rows, v->n, sizeof *v->rows, row_by_key);
    if (code != DD_OK)
        series_view_free(v);
    return code;
}

static dd_code r_metric_series_list(dd_store *st, int64_t iteration_id, dd_series_cb cb,
                                    void *ctx, dd_err *err)
{
    series_view v;
    dd_code code = series_view_load(st, iteration_id, &v, err);
    for (size_t i = 0; code == DD_OK && i < v.n; i++)
        if (v.rows[i].s.id && cb(ctx, &v.rows[i].s))   /* id 0: no memory for a local one */
            break;
    if (code == DD_OK)
        series_view_free(&v);
    return code;
}

static dd_code r_metric_series_get(dd_store *st, int64_t iteration_id, const char *key,
                                   dd_metric_series *out, char ts_buf[DD_TS_LEN], dd_err *err)
{
    series_view v;
    dd_code code = series_view_load(st, iteration_id, &v, err);
    if (code != DD_OK)
        return code;
    code = no_name(err, SERIES.what, key);
    for (size_t i = 0; i < v.n; i++)
        if (v.rows[i].s.id && strcmp(v.rows[i].key, key) == 0) {
            *out = v.rows[i].s;
            memcpy(ts_buf, v.rows[i].ts, DD_TS_LEN);
            out->recorded_at = ts_buf;
            out->key = key;
            code = DD_OK;
            break;
        }
    series_view_free(&v);
    return code;
}

/* A series' iteration and key by its id (opening a metric file to append: no points
 * counted, so no wait for a delivery in flight). */
static dd_code r_metric_series_name(dd_store *st, int64_t series_id, int64_t *iteration_id,
                                    char **key_out, dd_err *err)
{
    if (rs_metrics_local_series(st, series_id, iteration_id, key_out))
        return DD_OK;
    json_t *a, *e;
    dd_code code = find_listed(st, &SERIES, series_id, &a, &e, iteration_id, err);
    if (code != DD_OK)
        return code;
    *key_out = jdup(e, "name");
    json_decref(a);
    return *key_out ? DD_OK : oom(err);
}

static dd_code r_metric_series_by_id(dd_store *st, int64_t series_id, dd_metric_series *out,
                                     char **key_out, char ts_buf[DD_TS_LEN], dd_err *err)
{
    int64_t iid = 0;
    char *key = NULL;
    dd_code code = r_metric_series_name(st, series_id, &iid, &key, err);
    if (code == DD_OK)
        code = r_metric_series_get(st, iid, key, out, ts_buf, err);
    if (code == DD_OK) {
        *key_out = key;
        out->key = key;
    } else
        free(key);
    return code;
}

/* Points of one series from GET /metric/iteration/{iid} (every point of the iteration,
 * ordered by step, series, position; a point's id is series << 32 | position). The
 * node's undelivered points join them in rs_metric_read (rstore_metrics.c). */
dd_code rs_server_metric_rows(dd_store *st, int64_t iteration_id, const char *key,
                              dd_metric_cb cb, void *ctx, json_t **keep, dd_err *err)
{
    json_t *a, *p;
    *keep = NULL;
    dd_code code = rs_get(st, &a, err, "/metric/iteration/%" PRId64, iteration_id);
    if (code != DD_OK)
        return code;
    size_t i;
    json_array_foreach(json_object_get(a, "data"), i, p) {
        if (strcmp(jstr(p, "key"), key) != 0)
            continue;
        dd_metric_row row = {.id = jint(p, "id") & 0xffffffff, .step = jint(p, "step"),
                             .value = json_number_value(json_object_get(p, "value")),
                             .recorded_at = jstr(p, "recorded_at")};
        if (cb(ctx, &row))
            break;
    }
    *keep = a;
    return DD_OK;
}

typedef struct scan_adapt {
    const dd_metric_scan_ops *ops;
    void *ctx;
} scan_adapt;

static int scan_point(void *ctx, const dd_metric_row *row)
{
    scan_adapt *s = ctx;
    dd_metric_row r = *row;
    r.recorded_at = "";
    return s->ops->point(s->ctx, &r);
}

/* Point by point (dd_metric_scan allows it for any series): the server sends no block
 * summaries yet. */
static dd_code r_metric_scan(dd_store *st, int64_t iteration_id, const char *key,
                             const dd_metric_scan_ops *ops, void *ctx, dd_err *err)
{
    scan_adapt s = {ops, ctx};
    ops->restart(ctx);
    return rs_metric_read(st, iteration_id, key, false, 0, 0, scan_point, &s, err);
}

/* ---------------------------------------------------------------- tags */

static int tag_entry(void *ctx, json_t *e, int64_t owner)
{
    list_cb *l = ctx;
    (void)owner;
    return ((dd_tag_cb)l->cb)(l->ctx, jint(e, "id"), jstr(e, "name"));
}

static dd_code r_tag_list(dd_store *st, dd_tag_kind kind, int64_t entity_id, dd_tag_cb cb,
                          void *ctx, dd_err *err)
{
    return walk(st, &TAGS[kind], entity_id, tag_entry, LIST_CB(cb, ctx), err);
}

static dd_code r_tag_link_get(dd_store *st, dd_tag_kind kind, int64_t link_id,
                              int64_t *entity_id_out, char **value_out, dd_err *err)
{
    json_t *a, *e;
    int64_t owner;
    dd_code code = find_listed(st, &TAGS[kind], link_id, &a, &e, &owner, err);
    if (code != DD_OK)
        return code;
    if (entity_id_out)
        *entity_id_out = owner;
    if (value_out && !(*value_out = jdup(e, "name")))
        code = oom(err);
    json_decref(a);
    return code;
}

static dd_code r_tag_link_find(dd_store *st, dd_tag_kind kind, int64_t entity_id,
                               const char *value, int64_t *link_id_out, dd_err *err)
{
    return find_id(st, &TAGS[kind], entity_id, value, link_id_out, err);
}

/* ---------------------------------------------------------------- resources */

static void resource_of_entry(json_t *e, int64_t eid, dd_resource *r)
{
    memset(r, 0, sizeof *r);
    r->id = jint(e, "id");
    r->experiment_id = eid;
    r->name = (char *)jstr(e, "name");
    r->description = r->uri = r->content_hash = "";
    r->backend = (char *)jstr(e, "backend");
    jts(e, "created", r->created_date);
    jts(e, "modified", r->updated_date);
    r->size_bytes = jint(e, "size");
    r->generation = jint(e, "generation");
    r->broken = json_is_true(json_object_get(e, "broken"));
}

static int resource_entry(void *ctx, json_t *e, int64_t owner)
{
    list_cb *l = ctx;
    dd_resource r;
    resource_of_entry(e, owner, &r);
    return ((dd_resource_cb)l->cb)(l->ctx, &r);
}

static dd_code r_resource_list(dd_store *st, int64_t experiment_id, dd_resource_cb cb,
                               void *ctx, dd_err *err)
{
    return walk(st, &RESOURCES, experiment_id, resource_entry, LIST_CB(cb, ctx), err);
}

static dd_code r_resource_get(dd_store *st, int64_t id, dd_resource *out, dd_err *err)
{
    memset(out, 0, sizeof *out);
    int64_t eid = rs_index_get(st, "resource", id);
    json_t *a;
    if (!eid) {   /* a version's artifact names a resource its directory did not list */
        json_t *row;
        dd_code code = rs_get(st, &row, err, "/resource/%" PRId64, id);
        if (code != DD_OK)
            return code;
        eid = jint(row, "experiment_id");
        json_decref(row);
    }
    dd_code code = rs_get(st, &a, err, "/v1/ls/experiment/%" PRId64, eid);
    if (code != DD_OK)
        return code;
    json_t *e = entry_by_id(a, "resource", id);
    if (!e)
        code = no_row(err, "resource", id);
    else {
        resource_of_entry(e, eid, out);
        out->name = strdup(out->name);
        out->backend = strdup(out->backend);
        out->description = strdup("");
        out->uri = strdup("");
        out->content_hash = strdup("");
        if (!out->name || !out->backend || !out->description || !out->uri ||
            !out->content_hash) {
            dd_resource_clear(out);
            code = oom(err);
        }
    }
    json_decref(a);
    return code;
}

static dd_code r_resource_find(dd_store *st, int64_t experiment_id, const char *name,
                               int64_t *id_out, dd_err *err)
{
    return find_id(st, &RESOURCES, experiment_id, name, id_out, err);
}

/* ---------------------------------------------------------------- models */

static void model_of_entry(json_t *e, int64_t pid, dd_model *m)
{
    memset(m, 0, sizeof *m);
    m->id = jint(e, "id");
    m->project_id = pid ? pid : jint(e, "project_id");
    m->name = (char *)jstr(e, "name");
    m->description = "";
    jts(e, "created", m->created_date);
    jts(e, "modified", m->updated_date);
    m->last_version = jint(e, "last_version");
}

static int model_project_entry(void *ctx, json_t *e, int64_t owner)
{
    list_cb *l = ctx;
    dd_model m;
    model_of_entry(e, owner, &m);
    return ((dd_model_project_cb)l->cb)(l->ctx, &m, jstr(e, "project"));
}

static dd_code r_model_list_with_project(dd_store *st, dd_model_project_cb cb, void *ctx,
                                         dd_err *err)
{
    return walk(st, &MODELS, 0, model_project_entry, LIST_CB(cb, ctx), err);
}

static dd_code r_model_find_with_project(dd_store *st, const char *name, dd_model_project_cb cb,
                                         void *ctx, dd_err *err)
{
    json_t *a, *e;
    dd_code code = find_named(st, &MODELS, 0, name, &a, &e, err);
    if (code == DD_OK) {
        model_project_entry(LIST_CB(cb, ctx), e, 0);
        json_decref(a);
    }
    return code;
}

static int model_entry(void *ctx, json_t *e, int64_t owner)
{
    list_cb *l = ctx;
    dd_model m;
    model_of_entry(e, owner, &m);
    return ((dd_model_cb)l->cb)(l->ctx, &m);
}

static dd_code r_model_list(dd_store *st, int64_t project_id, dd_model_cb cb, void *ctx,
                            dd_err *err)
{
    return walk(st, project_id ? &P_MODELS : &MODELS, project_id, model_entry,
                LIST_CB(cb, ctx), err);
}

static dd_code r_model_get(dd_store *st, int64_t id, dd_model *out, dd_err *err)
{
    memset(out, 0, sizeof *out);
    json_t *a;
    dd_code code = rs_get(st, &a, err, "/v1/ls/model/%" PRId64, id);
    if (code != DD_OK)
        return code;
    json_t *row = own_row(a);
    model_of_entry(row, 0, out);
    out->name = jdup(row, "name");
    out->description = jdup(row, "description");
    if (!out->name || !out->description) {
        dd_model_clear(out);
        code = oom(err);
    }
    json_decref(a);
    return code;
}

static dd_code r_model_find(dd_store *st, const char *name, int64_t *id_out, dd_err *err)
{
    return find_id(st, &MODELS, 0, name, id_out, err);
}

static dd_code model_ls(dd_store *st, int64_t mid, json_t **a, dd_err *err)
{
    return rs_get(st, a, err, "/v1/ls/model/%" PRId64, mid);
}

static void version_of_entry(json_t *e, int64_t mid, dd_model_version *v)
{
    memset(v, 0, sizeof *v);
    v->id = jint(e, "id");
    v->model_id = mid;
    v->version = jint(e, "version");
    v->iteration_id = jint(e, "iteration_id");
    v->resource_id = jint(e, "resource_id");
    int stage = DD_STAGE_NONE;
    dd_stage_parse(jstr(e, "stage"), &stage);
    v->stage_id = stage;
    v->description = "";
    jts(e, "created", v->created_date);
    jts(e, "modified", v->updated_date);
}

static int version_entry(void *ctx, json_t *e, int64_t owner)
{
    list_cb *l = ctx;
    dd_model_version v;
    version_of_entry(e, owner, &v);
    return ((dd_version_cb)l->cb)(l->ctx, &v);
}

static dd_code r_version_list(dd_store *st, int64_t model_id, dd_version_cb cb, void *ctx,
                              dd_err *err)
{
    return walk(st, &VERSIONS, model_id, version_entry, LIST_CB(cb, ctx), err);
}

static dd_code r_version_get(dd_store *st, int64_t id, dd_model_version *out, dd_err *err)
{
    memset(out, 0, sizeof *out);
    json_t *row, *a = NULL;
    dd_code code = rs_get(st, &row, err, "/modelversion/%" PRId64, id);
    if (code != DD_OK)
        return code;
    int64_t mid = jint(row, "model_id");
    code = model_ls(st, mid, &a, err);
    json_t *e = code == DD_OK ? entry_by_id(a, "version", id) : NULL;
    if (code == DD_OK && !e)
        code = no_row(err, "model version", id);
    if (code == DD_OK) {
        version_of_entry(e, mid, out);
        if (!(out->description = jdup(row, "description")))
            code = oom(err);
    }
    json_decref(a);
    json_decref(row);
    return code;
}

static dd_code r_version_find(dd_store *st, int64_t model_id, int64_t version, int64_t *id_out,
                              dd_err *err)
{
    json_t *a, *e;
    dd_code code = model_ls(st, model_id, &a, err);
    if (code != DD_OK)
        return code;
    size_t i;
    code = dd_fail(err, DD_NOT_FOUND, "version %" PRId64 " not found", version);
    json_array_foreach(json_object_get(a, "entries"), i, e)
        if (is_kind(e, "version") && jint(e, "version") == version) {
            *id_out = jint(e, "id");
            code = DD_OK;
            break;
        }
    json_decref(a);
    return code;
}

/* The highest version number in `stage` (the store's rule for STAGING). */
static dd_code r_version_find_stage(dd_store *st, int64_t model_id, int stage, int64_t *id_out,
                                    dd_err *err)
{
    json_t *a, *e;
    dd_code code = model_ls(st, model_id, &a, err);
    if (code != DD_OK)
        return code;
    size_t i;
    int64_t best = 0;
    const char *name = dd_stage_name(stage);
    json_array_foreach(json_object_get(a, "entries"), i, e)
        if (is_kind(e, "version") && name && strcmp(jstr(e, "stage"), name) == 0 &&
            jint(e, "version") > best) {
            best = jint(e, "version");
            *id_out = jint(e, "id");
        }
    json_decref(a);
    return best ? DD_OK : dd_fail(err, DD_NOT_FOUND, "no version in %s", name ? name : "?");
}

static int alias_entry(void *ctx, json_t *e, int64_t owner)
{
    list_cb *l = ctx;
    (void)owner;
    return ((dd_alias_cb)l->cb)(l->ctx, jint(e, "id"), jstr(e, "name"), jint(e, "version_id"),
                                jint(e, "version"));
}

static dd_code r_alias_list(dd_store *st, int64_t model_id, dd_alias_cb cb, void *ctx,
                            dd_err *err)
{
    return walk(st, &ALIASES, model_id, alias_entry, LIST_CB(cb, ctx), err);
}

static dd_code r_alias_by_id(dd_store *st, int64_t id, int64_t *model_id_out,
                             int64_t *version_id_out, dd_err *err)
{
    json_t *a, *e;
    int64_t mid;
    dd_code code = find_listed(st, &ALIASES, id, &a, &e, &mid, err);
    if (code != DD_OK)
        return code;
    if (model_id_out)
        *model_id_out = mid;
    if (version_id_out)
        *version_id_out = jint(e, "version_id");
    json_decref(a);
    return DD_OK;
}

static dd_code r_alias_find(dd_store *st, int64_t model_id, const char *alias, int64_t *id_out,
                            dd_err *err)
{
    return find_id(st, &ALIASES, model_id, alias, id_out, err);
}

/* GET /v1/model/{mid}/stagehistory (the dashboard's), one page of `limit`. */
static dd_code r_stage_history(dd_store *st, int64_t model_id, int64_t limit, int64_t offset,
                               dd_stage_change_cb cb, void *ctx, int64_t *total_out,
                               dd_err *err)
{
    json_t *a, *e;
    if (limit < 1)
        limit = 1;
    if (limit > DD_STAGE_HISTORY_MAX)
        limit = DD_STAGE_HISTORY_MAX;
    dd_code code = rs_get(st, &a, err,
                          "/v1/model/%" PRId64 "/stagehistory?limit=%" PRId64
                          "&offset=%" PRId64, model_id, limit, offset < 0 ? 0 : offset);
    if (code != DD_OK)
        return code;
    if (total_out)
        *total_out = jint(a, "total");
    size_t i;
    json_array_foreach(json_object_get(a, "data"), i, e) {
        int from = 0, to = DD_STAGE_NONE;
        if (json_is_string(json_object_get(e, "from_stage")))
            dd_stage_parse(jstr(e, "from_stage"), &from);
        dd_stage_parse(jstr(e, "to_stage"), &to);
        dd_stage_change ch = {.id = jint(e, "id"), .model_id = model_id,
                              .version_id = jint(e, "modelversion_id"),
                              .version = jint(e, "version"), .from_stage = from,
                              .to_stage = to, .user_id = jint(e, "user_id"),
                              .username = json_string_value(json_object_get(e, "username"))};
        jts(e, "changed_at", ch.changed_at);
        if (cb(ctx, &ch))
            break;
    }
    json_decref(a);
    return DD_OK;
}

/* ---------------------------------------------------------------- the table */

/* A NULL entry (REMOTE.md §1.2): not offered by a remote store at all (fsck, users, the
 * trash: commands that take a database): DD_UNSUPPORTED. */
static dd_code r_missing(const dd_store *st, const char *fn, dd_err *err)
{
    return dd_fail(err, DD_UNSUPPORTED, "%s: not offered by a remote mount (%s)", fn,
                   dd_store_path(st));
}

#define RS_ENTRY(entry) .entry = rw_##entry,

const dd_store_ops dd_store_remote_ops = {
    .name = "remote",
    .close = rs_close,
    .missing = r_missing,
    .store_local_dir = r_store_local_dir,
    .dir_time = r_dir_time,
    .project_get = r_project_get,
    .project_find = r_project_find,
    .project_list = r_project_list,
    .experiment_get = r_experiment_get,
    .experiment_find = r_experiment_find,
    .experiment_list = r_experiment_list,
    .iteration_get = r_iteration_get,
    .iteration_list = r_iteration_list,
    .iteration_list_children = r_iteration_list_children,
    .iteration_file_get = r_iteration_file_get,
    .iteration_file_by_id = r_iteration_file_by_id,
    .iteration_file_find = r_iteration_file_find,
    .iteration_file_list = r_iteration_file_list,
    .iteration_values_updated = r_iteration_values_updated,
    .param_list = r_param_list,
    .param_get_by_id = r_param_get_by_id,
    .param_find = r_param_find,
    .param_list_rows = r_param_list_rows,
    .metric_append = rs_metric_append,               /* rstore_metrics.c */
    .metric_append_logged = rs_metric_append_logged,
    .metric_log_drain = rs_metric_log_drain,
    .metric_read = rs_metric_read,
    .metric_scan = r_metric_scan,
    .metric_series_list = r_metric_series_list,
    .metric_series_get = r_metric_series_get,
    .metric_series_by_id = r_metric_series_by_id,
    .metric_series_name = r_metric_series_name,
    .resource_get = r_resource_get,
    .resource_find = r_resource_find,
    .resource_list = r_resource_list,
    .resource_check_replaceable = rs_resource_check_replaceable,
    .tag_link_get = r_tag_link_get,
    .tag_link_find = r_tag_link_find,
    .tag_list = r_tag_list,
    .model_list_with_project = r_model_list_with_project,
    .model_find_with_project = r_model_find_with_project,
    .model_list = r_model_list,
    .model_get = r_model_get,
    .model_find = r_model_find,
    .version_list = r_version_list,
    .version_get = r_version_get,
    .version_find = r_version_find,
    .version_find_stage = r_version_find_stage,
    .alias_list = r_alias_list,
    .alias_by_id = r_alias_by_id,
    .alias_find = r_alias_find,
    .stage_history = r_stage_history,
    RS_WRITE_ENTRIES(RS_ENTRY)    /* rstore_write.c */
    RS_RIGHTS_ENTRIES(RS_ENTRY)   /* rstore_rights.c */
};
