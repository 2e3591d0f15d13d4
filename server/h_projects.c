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
    if (code != DD_OK) {
        json_decref(rd.arr);
        dd_reply_error(r, 500, "SERVER_ERROR", "%s", err.msg);
        return;
    }
    dd_reply_json(r, 200, rd.arr);
}

void h_project_get(dd_req *r)
{
    int64_t id;
    if (dd_req_id(r, 0, &id) != 0)
        return;
    dd_project p;
    dd_err err = {0};
    dd_code code = dd_project_get(r->srv->st, id, &p, &err);
    if (code == DD_NOT_FOUND) {
        dd_reply_error(r, 404, "NOT_FOUND", "Project not found");
        return;
    }
    if (code != DD_OK) {
        dd_reply_error(r, 500, "SERVER_ERROR", "%s", err.msg);
        return;
    }
    dd_reply_json(r, 200, dd_json_project(&p));
    dd_project_clear(&p);
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
    static const dd_field spec[] = {{"name", F_STRING, false}, {"description", F_STRING, false}};
    int64_t id;
    json_t *root, *v[2];
    if (dd_req_id(r, 0, &id) != 0 || dd_req_body(r, spec, 2, &root, v) != 0)
        return;
    dd_err err = {0};
    dd_code code = DD_OK;
    /* The rename first: it is the step that can break a rule (a taken or bad name), so a
     * refused PATCH changes nothing. */
    if (!v[0] && !v[1])
        code = dd_fail(&err, DD_INVALID, "no field to update");
    if (code == DD_OK && v[0])
        code = dd_project_rename(r->srv->st, id, json_string_value(v[0]), &err);
    if (code == DD_OK && v[1])
        code = dd_project_set_description(r->srv->st, id, json_string_value(v[1]), &err);
    if (code == DD_OK)
        dd_reply_updated(r);
    else
        dd_reply_store_error(r, "update", "project", &err);
    json_decref(root);
}

void h_project_delete(dd_req *r)
{
    int64_t id;
    if (dd_req_id(r, 0, &id) != 0)
        return;
    dd_err err = {0};
    /* As `rm -r` on the mount: a project whose models have registered versions stays
     * (serving code may be reading them); delete the models first. */
    if (dd_delete_check(r->srv->st, DD_TAG_PROJECT, id, &err) == DD_OK
        && dd_project_delete(r->srv->st, id, true, &err) == DD_OK)
        dd_reply_ok(r);
    else
        dd_reply_store_error(r, "delete", "project", &err);
}
