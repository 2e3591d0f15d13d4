/*
 * rstore_rights.c - what the token's user may do, for the modes of a remote mount
 * (docs/REMOTE.md §6): the filesystem asks the same three calls a shared mount's checks
 * make (dd_user_find, dd_permission_list, dd_project_of), answered here from the
 * listings' `rights` and rows, so `ls -l` costs no request beyond the listings it reads.
 * Advice only: the server decides every request.
 *
 *   user_find            GET /auth/me, kept a minute (any name: a remote mount has one
 *                        user, the token's)
 *   permission_list      GET /v1/ls/projects: one row per project with its `rights`
 *   project_of           the index of the listings that showed the row (rs_index_*), else
 *                        the row's own listing (/v1/ls/experiment/{id}, /iteration/{id},
 *                        /model/{id})
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rstore_int.h"

dd_code rw_user_find(dd_store *st, const char *username, dd_user *out, dd_err *err)
{
    (void)username;
    memset(out, 0, sizeof *out);
    json_t *me;
    /* kept a minute (a write drops it sooner): an admin flag changes rarely, and `ls -l`
     * asks it for every entry */
    dd_code code = rs_get_for(st, 60.0, &me, err, "/auth/me");
    if (code != DD_OK)
        return code;
    out->id = (int64_t)json_integer_value(json_object_get(me, "id"));
    out->is_admin = json_is_true(json_object_get(me, "is_admin"));
    const char *name = json_string_value(json_object_get(me, "username"));
    out->username = strdup(name ? name : "");
    json_decref(me);
    return out->username ? DD_OK : dd_fail(err, DD_IO, "out of memory");
}

/* "crud" with '-' for each right missing (h_v1.h) into a permission row. */
static void rights_row(json_t *e, int64_t user_id, dd_user_permission *p)
{
    const char *r = json_string_value(json_object_get(e, "rights"));
    memset(p, 0, sizeof *p);
    p->user_id = user_id;
    p->project_id = (int64_t)json_integer_value(json_object_get(e, "id"));
    if (!r || strlen(r) != 4)
        return;
    p->create_permission = r[0] == 'c';
    p->read_permission = r[1] == 'r';
    p->update_permission = r[2] == 'u';
    p->delete_permission = r[3] == 'd';
}

/* The token's user's rights, whatever `user_id` says (it is the daemon's idea of the
 * caller: the server knows only the token's user). Projects it may not read are absent. */
dd_code rw_permission_list(dd_store *st, int64_t user_id, int64_t project_id,
                           dd_permission_cb cb, void *ctx, dd_err *err)
{
    json_t *a, *e;
    dd_code code = rs_get(st, &a, err, "/v1/ls/projects");
    if (code != DD_OK)
        return code;
    size_t i;
    json_array_foreach(json_object_get(a, "entries"), i, e) {
        dd_user_permission p;
        rights_row(e, user_id, &p);
        if ((!project_id || p.project_id == project_id) && cb(ctx, &p))
            break;
    }
    json_decref(a);
    return DD_OK;
}

/* `field` of the answer at `path`/<id>, or (own_row) of the own row its `dir` carries (a
 * /v1/ls listing's, h_v1.h): an owner's id, never 0. */
static dd_code id_field(dd_store *st, const char *path, int64_t id, bool own_row,
                        const char *field, int64_t *out, dd_err *err)
{
    json_t *a;
    dd_code code = rs_get(st, &a, err, "%s/%" PRId64, path, id);
    if (code != DD_OK)
        return code;
    json_t *row = own_row ? json_object_get(json_object_get(a, "dir"), "row") : a;
    *out = (int64_t)json_integer_value(json_object_get(row, field));
    json_decref(a);
    return *out ? DD_OK : dd_fail(err, DD_NOT_FOUND, "%s/%" PRId64 ": no %s", path, id, field);
}

/* The owner of an experiment (its project) or iteration (its experiment) from the index,
 * else from the row its own listing carries. */
static dd_code owner_of(dd_store *st, const char *kind, const char *field, int64_t id,
                        int64_t *out, dd_err *err)
{
    char path[32];
    *out = rs_index_get(st, kind, id);
    snprintf(path, sizeof path, "/v1/ls/%s", kind);
    return *out ? DD_OK : id_field(st, path, id, true, field, out, err);
}

static dd_code project_of_experiment(dd_store *st, int64_t id, int64_t *out, dd_err *err)
{
    return owner_of(st, "experiment", "project_id", id, out, err);
}

static dd_code project_of_iteration(dd_store *st, int64_t id, int64_t *out, dd_err *err)
{
    int64_t eid;
    dd_code code = owner_of(st, "iteration", "experiment_id", id, &eid, err);
    return code == DD_OK ? project_of_experiment(st, eid, out, err) : code;
}

static dd_code project_of_model(dd_store *st, int64_t id, int64_t *out, dd_err *err)
{
    return id_field(st, "/v1/ls/model", id, true, "project_id", out, err);
}

/* A row's owner from the index of the listing that showed it; a version or resource
 * looked up by name or number (not listed) from its own row. */
static dd_code indexed_owner(dd_store *st, const char *kind, int64_t id, int64_t *out,
                             dd_err *err)
{
    *out = rs_index_get(st, kind, id);
    if (*out)
        return DD_OK;
    if (strcmp(kind, "version") == 0)
        return id_field(st, "/modelversion", id, false, "model_id", out, err);
    if (strcmp(kind, "resource") == 0)
        return id_field(st, "/resource", id, false, "experiment_id", out, err);
    return dd_fail(err, DD_NOT_FOUND, "%s %" PRId64 " not listed", kind, id);
}

dd_code rw_project_of(dd_store *st, dd_entity kind, int64_t id, int64_t *project_id,
                      dd_err *err)
{
    static const char *const indexed[DD_ENT_COUNT] = {
        [DD_ENT_PARAMETER] = "param", [DD_ENT_METRIC_SERIES] = "metric",
        [DD_ENT_ITERATION_FILE] = "env", [DD_ENT_ITERATION_TAG] = "itag",
        [DD_ENT_RESOURCE] = "resource", [DD_ENT_EXPERIMENT_TAG] = "etag",
        [DD_ENT_PROJECT_TAG] = "ptag", [DD_ENT_VERSION] = "version", [DD_ENT_ALIAS] = "alias",
    };
    int64_t owner = id;
    dd_code code = kind < DD_ENT_COUNT && indexed[kind]
                       ? indexed_owner(st, indexed[kind], id, &owner, err) : DD_OK;
    if (code != DD_OK)
        return code;
    switch (kind) {
    case DD_ENT_PROJECT: case DD_ENT_PROJECT_TAG:
        *project_id = owner;
        return DD_OK;
    case DD_ENT_EXPERIMENT: case DD_ENT_RESOURCE: case DD_ENT_EXPERIMENT_TAG:
        return project_of_experiment(st, owner, project_id, err);
    case DD_ENT_ITERATION: case DD_ENT_PARAMETER: case DD_ENT_METRIC_SERIES:
    case DD_ENT_ITERATION_FILE: case DD_ENT_ITERATION_TAG:
        return project_of_iteration(st, owner, project_id, err);
    case DD_ENT_MODEL: case DD_ENT_VERSION: case DD_ENT_ALIAS:
        return project_of_model(st, owner, project_id, err);
    case DD_ENT_COUNT:
        break;
    }
    return dd_fail(err, DD_INVALID, "project of: unknown kind %d", (int)kind);
}
