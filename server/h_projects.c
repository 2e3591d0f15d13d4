/*
 * h_projects.c - projects (routes 11, 12, 14-16).
 *
 * Deviations (README "REST API"): project names are unique (409 CONFLICT, as everywhere
 * in the store); a PATCH with no field is 422; deleting an unknown project is 404 and one
 * whose models have registered versions 409 (delete the models first), never 500; the
 * delete is one transaction.
 */
#include <stdlib.h>
#include <string.h>

#include "server.h"

typedef struct readable {
    int64_t *ids;    /* projects the caller may read (non-admins) */
    size_t n, cap;
    bool all;        /* admin */
    json_t *arr;
} readable;

static int collect_readable(void *ctx, const dd_user_permission *p)
{
    readable *rd = ctx;
    if (!p->read_permission)
        return 0;
    if (rd->n == rd->cap) {
        size_t cap = rd->cap ? rd->cap * 2 : 16;
        int64_t *ids = realloc(rd->ids, cap * sizeof *ids);
        if (!ids)
            return 1;
        rd->ids = ids, rd->cap = cap;
    }
    rd->ids[rd->n++] = p->project_id;
    return 0;
}

static int append_project(void *ctx, const dd_project *p)
{
    readable *rd = ctx;
    bool ok = rd->all;
    for (size_t i = 0; !ok && i < rd->n; i++)
        ok = rd->ids[i] == p->id;
    if (ok)
        json_array_append_new(rd->arr, dd_json_project(p));
    return 0;
}

/* Admins see every project; others those they hold a read permission on. */
void h_project_list(dd_req *r)
{
    readable rd = {.all = !r->srv->auth || r->user.is_admin, .arr = json_array()};
    dd_err err = {0};
    dd_code code = rd.all ? DD_OK
                          : dd_permission_list(r->srv->st, r->user.id, 0, collect_readable, &rd,
                                               &err);
    if (code == DD_OK)
        code = dd_project_list(r->srv->st, append_project, &rd, &err);
    free(rd.ids);
    dd_reply_array(r, rd.arr, code, &err);
}

DD_FETCH_FN(fetch_project, dd_project, dd_project_get, dd_json_project, dd_project_clear)

void h_project_get(dd_req *r)
{
    dd_serve_get(r, fetch_project, "NOT_FOUND", "Project not found");
}

void h_project_create(dd_req *r)
{
    static const dd_field spec[] = {{"name", F_STRING, true}};
    json_t *root, *v[1];
    if (dd_req_body(r, spec, 1, &root, v) != 0)
        return;
    int64_t id;
    dd_err err = {0};
    if (dd_project_create(r->srv->st, r->user.id, json_string_value(v[0]), &id, &err) == DD_OK)
        dd_reply_created(r, "project_id", id);
    else
        dd_reply_store_error(r, "create", "project", &err);
    json_decref(root);
}

void h_project_update(dd_req *r)
{
    dd_serve_name_update(r, dd_project_rename, dd_project_set_description, "project");
}

/* As `rm -r` on the mount: a project whose models have registered versions stays
 * (serving code may be reading them); delete the models first. */
static dd_code delete_project(dd_store *st, int64_t id, dd_err *err)
{
    dd_code code = dd_delete_check(st, DD_TAG_PROJECT, id, err);
    return code == DD_OK ? dd_project_delete(st, id, true, err) : code;
}

void h_project_delete(dd_req *r)
{
    dd_serve_delete(r, delete_project, "project", false);
}
