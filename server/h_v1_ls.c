/*
 * h_v1_ls.c - GET /v1/ls/...: one directory of a mount with every attribute `ls -l` of it
 * shows, in one request (docs/REMOTE.md §2.2; contracts in h_v1.h). Each entry carries
 * what fs/nodes.c's walk_* callback and the getattr of that entry read.
 *
 * Paging: at most `limit` entries (1 to DD_V1_LS_LIMIT) per answer; `next` is what to
 * pass as `after` for the next page, null on the last. The iterations listing pages by
 * id (an iteration created meanwhile never shifts a page); the others by position in
 * their fixed order (kinds in the order the header lists them, each in the store's list
 * order), which is enough for directories that hold far fewer than a page.
 *
 * Memory: each entry is written out as JSON text as soon as it is made and its jansson
 * object freed, so a page costs its text (about 200 bytes an entry), not a tree of
 * objects. A tree of 10,000 iterations was about 20 MB per listing, held in the arena of
 * the worker that built it: a server whose workers had each served one took 104 MiB
 * (BENCHMARKS.md, "serve memory").
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "h_v1.h"

/* ---------------------------------------------------------------- one page */

typedef struct ls_walk {
    dd_req *r;
    int64_t after, limit;   /* ?after, ?limit */
    int64_t pos;            /* entries offered so far (position paging) */
    int64_t last;           /* id of the last entry taken (id paging) */
    bool more;              /* an entry past the page exists */
    int64_t n;              /* entries on the page ... */
    dd_buf out;             /* ... as JSON text, comma-separated (put) */
    const char *kind;       /* the "kind" of the entries being walked, NULL: none */
    /* projects readable by a non-admin caller, with the rights on each */
    bool all;
    dd_user_permission *perms;
    size_t nperms, cap;
    bool oom;               /* collect_perm ran out of memory */
} ls_walk;

/* Read ?after (0..INT64_MAX) and ?limit; false after answering 400. */
static bool ls_init(dd_req *r, ls_walk *w)
{
    memset(w, 0, sizeof *w);
    w->r = r;
    w->all = r->user.is_admin;
    return dd_v1_query_int(r, "after", 0, INT64_MAX, 0, &w->after) &&
           dd_v1_query_int(r, "limit", 1, DD_V1_LS_LIMIT, DD_V1_LS_LIMIT, &w->limit);
}

/* Is the next entry (by position) on this page? When the page is full, sets `more`:
 * the callback then returns w->more (non-zero stops the store's listing). */
static bool take(ls_walk *w)
{
    if (w->more)
        return false;
    if (w->pos++ < w->after)
        return false;
    if (w->n == w->limit) {
        w->more = true;
        return false;
    }
    return true;
}

static int buf_dump(const char *text, size_t size, void *buf)
{
    return dd_buf_add(buf, text, size);
}

/* Append `entry` (stolen) to the page's text, with its kind when the directory mixes
 * kinds. A NULL entry (jansson out of memory) or a failed append leaves w->out.oom set,
 * and the answer is a 500. */
static void put(ls_walk *w, json_t *entry)
{
    if (entry && w->kind)
        json_object_set_new(entry, "kind", json_string(w->kind));
    if (!entry || (w->n > 0 && dd_buf_add(&w->out, ",", 1) != 0)
        || json_dump_callback(entry, buf_dump, &w->out, JSON_COMPACT) != 0)
        w->out.oom = 1;
    json_decref(entry);
    w->n++;
}

/* 200 {"dir": dir, "entries", "next"} (dir stolen), or 500 when `code` failed. The
 * entries' text is moved into place, not copied: the buffer becomes the answer. */
static void ls_reply(ls_walk *w, json_t *dir, dd_code code, const dd_err *err, bool by_id)
{
    char *head = code == DD_OK && dir ? json_dumps(dir, JSON_COMPACT) : NULL;
    json_decref(dir);
    char tail[48];
    if (w->more)
        snprintf(tail, sizeof tail, "],\"next\":%" PRId64 "}",
                 by_id ? w->last : w->after + w->limit);
    else
        snprintf(tail, sizeof tail, "],\"next\":null}");
    static const char pre[] = "{\"dir\":", mid[] = ",\"entries\":[";
    size_t hl = head ? strlen(pre) + strlen(head) + strlen(mid) : 0;
    if (head && dd_buf_reserve(&w->out, hl + strlen(tail)) && !w->out.oom) {
        memmove(w->out.data + hl, w->out.data, w->out.len);
        char *p = w->out.data;
        memcpy(p, pre, strlen(pre));
        memcpy(p + strlen(pre), head, strlen(head));
        memcpy(p + hl - strlen(mid), mid, strlen(mid));
        w->out.len += hl;
        dd_buf_add(&w->out, tail, strlen(tail));
    }
    free(head);
    if (code != DD_OK)
        dd_reply_error(w->r, 500, "SERVER_ERROR", "%s", err->msg);
    else if (!hl || w->out.oom)
        dd_reply_error(w->r, 500, "SERVER_ERROR", "out of memory");
    else {
        dd_reply_json_text(w->r, 200, w->out.data);   /* takes the buffer */
        w->out = (dd_buf){0};
    }
    dd_buf_free(&w->out);
}

/* dir_times[key] = when directory `name` of `owner` last gained or lost an entry. */
static dd_code dir_time_put(dd_store *st, json_t *times, const char *key, const char *name,
                            int64_t owner, dd_err *err)
{
    char ts[DD_TS_LEN];
    dd_code code = dd_dir_time(st, name, owner, ts, err);
    if (code == DD_OK)
        json_object_set_new(times, key, dd_json_date(ts));
    return code;
}

/* ---------------------------------------------------------------- readable projects */

static int collect_perm(void *ctx, const dd_user_permission *p)
{
    ls_walk *w = ctx;
    if (!p->read_permission)
        return 0;
    if (w->nperms == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        dd_user_permission *grown = realloc(w->perms, cap * sizeof *grown);
        if (!grown)
            return w->oom = true, 1;
        w->perms = grown, w->cap = cap;
    }
    w->perms[w->nperms++] = *p;
    return 0;
}

/* The caller's rights on `pid` into out ("crud" for admins); false when it may not read. */
static bool readable(const ls_walk *w, int64_t pid, char out[5])
{
    if (w->all) {
        memcpy(out, "crud", 5);
        return true;
    }
    for (size_t i = 0; i < w->nperms; i++)
        if (w->perms[i].project_id == pid) {
            dd_v1_rights_of(&w->perms[i], out);
            return true;
        }
    return false;
}

static dd_code load_readable(ls_walk *w, dd_err *err)
{
    if (w->all)
        return DD_OK;
    dd_code code = dd_permission_list(w->r->srv->st, w->r->user.id, 0, collect_perm, w, err);
    return code == DD_OK && w->oom ? dd_fail(err, DD_IO, "out of memory") : code;
}

/* ---------------------------------------------------------------- /v1/ls/projects */

static int ls_project(void *ctx, const dd_project *p)
{
    ls_walk *w = ctx;
    char rights[5];
    if (!readable(w, p->id, rights) || !take(w))
        return w->more;
    put(w, json_pack("{s:I, s:s, s:s, s:s, s:s}", "id", (json_int_t)p->id, "name", p->name,
                     "created", p->created_date, "modified", p->updated_date, "rights",
                     rights));
    return 0;
}

static dd_code list_projects(dd_store *st, ls_walk *w, dd_err *err)
{
    return dd_project_list(st, ls_project, w, err);
}

/* A root directory (`projects`, `models`): the rows `list` offers, of readable projects
 * only; `rights` on the directory itself. */
static void ls_root(dd_req *r, const char *dir_name, const char *rights,
                    dd_code (*list)(dd_store *st, ls_walk *w, dd_err *err))
{
    ls_walk w;
    if (!ls_init(r, &w))
        return;
    dd_err err = {0};
    char ts[DD_TS_LEN] = "";
    dd_code code = load_readable(&w, &err);
    if (code == DD_OK)
        code = dd_dir_time(r->srv->st, dir_name, 0, ts, &err);
    if (code == DD_OK)
        code = list(r->srv->st, &w, &err);
    free(w.perms);
    ls_reply(&w, json_pack("{s:o, s:s}", "dir_time", dd_json_date(ts), "rights", rights), code,
             &err, false);
}

void h_v1_ls_projects(dd_req *r)
{
    /* projects/ itself: only admins create in it */
    ls_root(r, "projects", r->user.is_admin ? "crud" : "-r--", list_projects);
}

/* ---------------------------------------------------------------- /v1/ls/models */

static int ls_model_link(void *ctx, const dd_model *m, const char *project)
{
    ls_walk *w = ctx;
    char rights[5];
    if (!readable(w, m->project_id, rights) || !take(w))
        return w->more;
    put(w, json_pack("{s:I, s:s, s:s, s:I, s:s, s:s, s:I, s:s}", "id", (json_int_t)m->id,
                     "name", m->name, "project", project, "project_id",
                     (json_int_t)m->project_id, "created", m->created_date, "modified",
                     m->updated_date, "last_version", (json_int_t)m->last_version, "rights",
                     rights));
    return 0;
}

static dd_code list_model_links(dd_store *st, ls_walk *w, dd_err *err)
{
    return dd_model_list_with_project(st, ls_model_link, w, err);
}

void h_v1_ls_models(dd_req *r)
{
    ls_root(r, "models", "-r--", list_model_links);
}

/* ---------------------------------------------------------------- shared entry kinds */

static int ls_tag(void *ctx, int64_t link_id, const char *value)
{
    ls_walk *w = ctx;
    if (take(w))
        put(w, json_pack("{s:I, s:s}", "id", (json_int_t)link_id, "name", value));
    return w->more;
}

/* The owner directory's "dir": its rights and the times of its sub-directories, named
 * `keys[i]` in the answer and `names[i]` in the store (dd_dir_time). NULL after 500. */
static json_t *owner_dir(ls_walk *w, int64_t pid, int64_t owner, const char *const *keys,
                         const char *const *names, size_t n, dd_err *err, dd_code *code)
{
    char rights[5];
    if (!dd_v1_rights(w->r, pid, rights))
        return NULL;
    json_t *times = json_object();
    *code = DD_OK;
    for (size_t i = 0; i < n && *code == DD_OK; i++)
        *code = dir_time_put(w->r->srv->st, times, keys[i], names[i], owner, err);
    return json_pack("{s:s, s:o}", "rights", rights, "dir_times", times);
}

/* ---------------------------------------------------------------- /v1/ls/project/{id} */

static int ls_experiment(void *ctx, const dd_experiment *x)
{
    ls_walk *w = ctx;
    if (take(w))
        put(w, json_pack("{s:I, s:s, s:s, s:s, s:s, s:o, s:b}", "id", (json_int_t)x->id,
                         "name", x->name, "status", dd_experiment_status_name(x->status_id),
                         "created", x->created_date, "modified", x->updated_date,
                         "end_date", dd_json_date(x->end_date), "ended", x->end_date[0] != 0));
    return w->more;
}

static int ls_model(void *ctx, const dd_model *m)
{
    ls_walk *w = ctx;
    if (take(w))
        put(w, json_pack("{s:I, s:s, s:s, s:s, s:I}", "id", (json_int_t)m->id, "name",
                         m->name, "created", m->created_date, "modified", m->updated_date,
                         "last_version", (json_int_t)m->last_version));
    return w->more;
}

void h_v1_ls_project(dd_req *r)
{
    static const char *const keys[] = {"experiments", "models", "tags"};
    static const char *const names[] = {"experiments", "p_models", "p_tags"};
    int64_t pid;
    ls_walk w;
    if (dd_req_id(r, 0, &pid) != 0 || !ls_init(r, &w))
        return;
    dd_store *st = r->srv->st;
    dd_project p;
    dd_err err = {0};
    dd_code code = dd_project_get(st, pid, &p, &err);
    if (code != DD_OK) {
        dd_reply_found(r, code, NULL, &err, "NOT_FOUND", "Project not found");
        return;
    }
    /* the project's own row: a remote mount's getattr of it and its files (REMOTE.md §7) */
    json_t *row = json_pack("{s:I, s:s, s:s, s:s, s:s}", "id", (json_int_t)p.id, "name",
                            p.name, "description", p.description ? p.description : "",
                            "created", p.created_date, "modified", p.updated_date);
    dd_project_clear(&p);
    json_t *dir = owner_dir(&w, pid, pid, keys, names, 3, &err, &code);
    if (!dir) {
        json_decref(row);
        return;
    }
    json_object_set_new(dir, "row", row);
    if (code == DD_OK && (w.kind = "experiment"))
        code = dd_experiment_list(st, pid, ls_experiment, &w, &err);
    if (code == DD_OK && (w.kind = "model"))
        code = dd_model_list(st, pid, ls_model, &w, &err);
    if (code == DD_OK && (w.kind = "tag"))
        code = dd_tag_list(st, DD_TAG_PROJECT, pid, ls_tag, &w, &err);
    ls_reply(&w, dir, code, &err, false);
}

/* ---------------------------------------------------------------- /v1/ls/experiment/{id} */

static int ls_resource(void *ctx, const dd_resource *x)
{
    ls_walk *w = ctx;
    if (take(w))
        put(w, json_pack("{s:I, s:s, s:I, s:I, s:s, s:o, s:s, s:b}", "id", (json_int_t)x->id,
                         "name", x->name, "size", (json_int_t)x->size_bytes, "generation",
                         (json_int_t)x->generation, "created", x->created_date, "modified",
                         dd_json_date(x->updated_date), "backend", x->backend, "broken",
                         x->broken));
    return w->more;
}

/* The experiment's row as its listing's `dir` shows it (NULL: not wanted). */
static json_t *experiment_row(const dd_experiment *x)
{
    return json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:o, s:b}", "id", (json_int_t)x->id,
                     "project_id", (json_int_t)x->project_id, "name", x->name, "description",
                     x->description ? x->description : "", "status",
                     dd_experiment_status_name(x->status_id), "created", x->created_date,
                     "modified", x->updated_date, "end_date", dd_json_date(x->end_date),
                     "ended", x->end_date[0] != 0);
}

/* The experiment's project (0 after answering 404 or 500), and its row into *row when
 * row is not NULL. */
static int64_t experiment_project(dd_req *r, int64_t eid, json_t **row)
{
    dd_experiment e;
    dd_err err = {0};
    dd_code code = dd_experiment_get(r->srv->st, eid, &e, &err);
    if (code != DD_OK) {
        dd_reply_found(r, code, NULL, &err, "NOT_FOUND", "Experiment not found");
        return 0;
    }
    int64_t pid = e.project_id;
    if (row)
        *row = experiment_row(&e);
    dd_experiment_clear(&e);
    return pid;
}

void h_v1_ls_experiment(dd_req *r)
{
    static const char *const keys[] = {"resources", "tags", "iterations"};
    static const char *const names[] = {"resources", "e_tags", "iterations"};
    int64_t eid, pid;
    ls_walk w;
    json_t *row = NULL;
    if (dd_req_id(r, 0, &eid) != 0 || !ls_init(r, &w) ||
        !(pid = experiment_project(r, eid, &row)))
        return;
    dd_store *st = r->srv->st;
    dd_err err = {0};
    dd_code code;
    json_t *dir = owner_dir(&w, pid, eid, keys, names, 3, &err, &code);
    if (!dir) {
        json_decref(row);
        return;
    }
    json_object_set_new(dir, "row", row);
    if (code == DD_OK && (w.kind = "resource"))
        code = dd_resource_list(st, eid, ls_resource, &w, &err);
    if (code == DD_OK && (w.kind = "tag"))
        code = dd_tag_list(st, DD_TAG_EXPERIMENT, eid, ls_tag, &w, &err);
    ls_reply(&w, dir, code, &err, false);
}

/* ---------------------------------------------------------------- iterations (by id) */

static int ls_iteration(void *ctx, const dd_iteration *it)
{
    ls_walk *w = ctx;
    if (it->id <= w->after)
        return 0;
    if (w->n == w->limit) {
        w->more = true;
        return 1;
    }
    char name[24];
    snprintf(name, sizeof name, "%" PRId64, it->id);
    json_t *parent = it->parent_iteration_id ? json_integer(it->parent_iteration_id)
                                             : json_null();
    put(w, json_pack("{s:I, s:s, s:s, s:o, s:s, s:s, s:o, s:b}", "id", (json_int_t)it->id,
                     "name", name, "status", dd_iteration_status_name(it->status_id),
                     "parent_iteration_id", parent, "created", it->created_date, "modified",
                     it->updated_date, "end_date", dd_json_date(it->end_date), "ended",
                     it->end_date[0] != 0));
    w->last = it->id;
    return 0;
}

void h_v1_ls_iterations(dd_req *r)
{
    int64_t eid, pid;
    ls_walk w;
    if (dd_req_id(r, 0, &eid) != 0 || !ls_init(r, &w) ||
        !(pid = experiment_project(r, eid, NULL)))
        return;
    char rights[5], dir_time[DD_TS_LEN] = "";
    if (!dd_v1_rights(r, pid, rights))
        return;
    dd_err err = {0};
    dd_code code = dd_dir_time(r->srv->st, "iterations", eid, dir_time, &err);
    if (code == DD_OK)
        code = dd_iteration_list(r->srv->st, eid, ls_iteration, &w, &err);
    ls_reply(&w, json_pack("{s:o, s:s}", "dir_time", dd_json_date(dir_time), "rights", rights),
             code, &err, true);
}

/* ---------------------------------------------------------------- /v1/ls/iteration/{id} */

static int ls_param(void *ctx, const dd_param_row *p)
{
    ls_walk *w = ctx;
    if (!take(w))
        return w->more;
    size_t len = strlen(p->value);
    /* the file shows the value and a newline; large values are read on their own */
    put(w, json_pack("{s:I, s:s, s:I, s:o, s:s}", "id", (json_int_t)p->id, "name", p->key,
                     "size", (json_int_t)(len + 1), "value",
                     len <= DD_V1_LS_VALUE_MAX ? json_string(p->value) : json_null(),
                     "modified", p->updated_date));
    return 0;
}

static int ls_series(void *ctx, const dd_metric_series *m)
{
    ls_walk *w = ctx;
    if (take(w))
        put(w, json_pack("{s:I, s:s, s:I, s:I, s:I, s:f, s:I, s:s}", "id", (json_int_t)m->id,
                         "name", m->key, "size", (json_int_t)m->text_bytes, "point_count",
                         (json_int_t)m->point_count, "step", (json_int_t)m->step, "value",
                         m->value, "max_step", (json_int_t)m->max_step, "modified",
                         m->updated_date));
    return w->more;
}

static int ls_env_file(void *ctx, int64_t id, const char *name, size_t len)
{
    ls_walk *w = ctx;
    if (take(w))
        put(w, json_pack("{s:I, s:s, s:I}", "id", (json_int_t)id, "name", name, "size",
                         (json_int_t)len));
    return w->more;
}

static int ls_child(void *ctx, const dd_iteration *it)
{
    ls_walk *w = ctx;
    char name[24];
    snprintf(name, sizeof name, "%" PRId64, it->id);
    if (take(w))
        put(w, json_pack("{s:I, s:s, s:s}", "id", (json_int_t)it->id, "name", name, "created",
                         it->created_date));
    return w->more;
}

void h_v1_ls_iteration(dd_req *r)
{
    static const char *const keys[] = {"params", "metrics", "env", "children", "tags"};
    static const char *const names[] = {"params", "metrics", "env", "children", "i_tags"};
    int64_t iid;
    ls_walk w;
    if (dd_req_id(r, 0, &iid) != 0 || !ls_init(r, &w))
        return;
    dd_store *st = r->srv->st;
    dd_iteration it;
    dd_err err = {0};
    dd_code code = dd_iteration_get(st, iid, &it, &err);
    if (code != DD_OK) {
        dd_reply_found(r, code, NULL, &err, "NOT_FOUND", "Iteration not found");
        return;
    }
    /* the row too: env/'s fixed files (Project.toml, git_sha...) are its columns */
    json_t *row = dd_json_iteration(&it);
    bool ended = it.end_date[0] != 0;
    json_t *modified = json_string(it.updated_date);
    int64_t pid = dd_project_of_experiment(st, it.experiment_id);
    dd_iteration_clear(&it);
    json_t *dir = pid ? owner_dir(&w, pid, iid, keys, names, 5, &err, &code) : NULL;
    if (!dir) {
        json_decref(row);
        json_decref(modified);
        if (!pid)
            dd_reply_error(r, 404, "NOT_FOUND", "Iteration not found");
        return;
    }
    json_object_set_new(dir, "ended", json_boolean(ended));
    json_object_set_new(dir, "modified", modified);   /* the row's updated_date */
    json_object_set_new(dir, "row", row);
    if (code == DD_OK && (w.kind = "param"))
        code = dd_param_list_rows(st, iid, ls_param, &w, &err);
    if (code == DD_OK && (w.kind = "metric"))
        code = dd_metric_series_list(st, iid, ls_series, &w, &err);
    if (code == DD_OK && (w.kind = "env"))
        code = dd_iteration_file_list(st, iid, ls_env_file, &w, &err);
    if (code == DD_OK && (w.kind = "child"))
        code = dd_iteration_list_children(st, iid, ls_child, &w, &err);
    if (code == DD_OK && (w.kind = "tag"))
        code = dd_tag_list(st, DD_TAG_ITERATION, iid, ls_tag, &w, &err);
    ls_reply(&w, dir, code, &err, false);
}

/* ---------------------------------------------------------------- /v1/ls/model/{id} */

static int ls_version(void *ctx, const dd_model_version *v)
{
    ls_walk *w = ctx;
    char name[24];
    snprintf(name, sizeof name, "%" PRId64, v->version);
    if (take(w))
        put(w, json_pack("{s:I, s:s, s:I, s:s, s:I, s:o, s:s, s:o}", "id", (json_int_t)v->id,
                         "name", name, "version", (json_int_t)v->version, "stage",
                         dd_stage_name(v->stage_id), "iteration_id",
                         (json_int_t)v->iteration_id, "resource_id",
                         v->resource_id ? json_integer(v->resource_id) : json_null(),
                         "created", v->created_date, "modified",
                         dd_json_date(v->updated_date)));
    return w->more;
}

static int ls_alias(void *ctx, int64_t id, const char *alias, int64_t version_id,
                    int64_t version)
{
    ls_walk *w = ctx;
    if (take(w))
        put(w, json_pack("{s:I, s:s, s:I, s:I}", "id", (json_int_t)id, "name", alias,
                         "version_id", (json_int_t)version_id, "version", (json_int_t)version));
    return w->more;
}

void h_v1_ls_model(dd_req *r)
{
    static const char *const keys[] = {"versions", "aliases"};
    int64_t mid;
    ls_walk w;
    if (dd_req_id(r, 0, &mid) != 0 || !ls_init(r, &w))
        return;
    dd_store *st = r->srv->st;
    dd_model m;
    dd_err err = {0};
    dd_code code = dd_model_get(st, mid, &m, &err);
    if (code != DD_OK) {
        dd_reply_found(r, code, NULL, &err, "NOT_FOUND", "Model not found");
        return;
    }
    int64_t pid = m.project_id;
    json_t *row = json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:I}", "id", (json_int_t)m.id,
                            "project_id", (json_int_t)pid, "name", m.name, "description",
                            m.description ? m.description : "", "created", m.created_date,
                            "modified", m.updated_date, "last_version",
                            (json_int_t)m.last_version);
    dd_model_clear(&m);
    json_t *dir = owner_dir(&w, pid, mid, keys, keys, 2, &err, &code);
    if (!dir) {
        json_decref(row);
        return;
    }
    json_object_set_new(dir, "row", row);
    if (code == DD_OK && (w.kind = "version"))
        code = dd_version_list(st, mid, ls_version, &w, &err);
    if (code == DD_OK && (w.kind = "alias"))
        code = dd_alias_list(st, mid, ls_alias, &w, &err);
    ls_reply(&w, dir, code, &err, false);
}
