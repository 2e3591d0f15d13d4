/*
 * h_models.c - models (routes 58-62) and model versions (routes 63-67).
 *
 * Deviations (README "REST API"): model names are unique in the whole registry (409);
 * a duplicate rename is 409 (the original: 500); a PATCH with no field is 422 (the
 * original stamped updated_date and answered 200); version numbers are never reused;
 * promotion to PRODUCTION archives the incumbent in the same transaction.
 */
#include "server.h"

static int64_t project_of_model(dd_store *st, int64_t model_id)
{
    dd_model m;
    if (dd_model_get(st, model_id, &m, NULL) != DD_OK)
        return 0;
    int64_t pid = m.project_id;
    dd_model_clear(&m);
    return pid;
}

int64_t dd_resolve_model(dd_req *r)
{
    int64_t id;
    return dd_parse_id(r->param[0], &id) ? project_of_model(r->srv->st, id) : 0;
}

int64_t dd_resolve_version(dd_req *r)
{
    int64_t id;
    dd_model_version v;
    if (!dd_parse_id(r->param[0], &id) || dd_version_get(r->srv->st, id, &v, NULL) != DD_OK)
        return 0;
    int64_t mid = v.model_id;
    dd_version_clear(&v);
    return project_of_model(r->srv->st, mid);
}

/* ---------------------------------------------------------------- models */

DD_FETCH_FN(fetch_model, dd_model, dd_model_get, dd_json_model, dd_model_clear)
DD_LIST_FN(list_models_any, dd_model, dd_model_list, dd_json_model)

static dd_code list_models(dd_store *st, int64_t pid, dd_page *p, dd_err *err)
{
    /* project_id 0 would list every model: no project has id 0 */
    return pid != 0 ? list_models_any(st, pid, p, err) : DD_OK;
}

void h_model_get(dd_req *r)
{
    dd_serve_get(r, fetch_model, "NOT_FOUND", "Model not found");
}

void h_model_list(dd_req *r)
{
    dd_serve_list(r, list_models);
}

void h_model_create(dd_req *r)
{
    static const dd_field spec[] = {{"name", F_STRING, true}, {"description", F_STRING, false}};
    int64_t pid, id;
    json_t *root, *v[2];
    if (dd_req_id(r, 0, &pid) != 0 || dd_req_body(r, spec, 2, &root, v) != 0)
        return;
    dd_err err = {0};
    const char *desc = v[1] ? json_string_value(v[1]) : "";
    dd_project p;
    /* The store would take project 0 as "no project": refuse unknown ones first. */
    dd_code code = dd_project_get(r->srv->st, pid, &p, &err);
    if (code == DD_OK) {
        dd_project_clear(&p);
        code = dd_model_create(r->srv->st, pid, json_string_value(v[0]), desc, &id, &err);
    }
    if (code == DD_OK)
        dd_reply_created(r, "model_id", id);
    else
        dd_reply_store_error(r, "create", "model", &err);
    json_decref(root);
}

void h_model_update(dd_req *r)
{
    dd_serve_name_update(r, dd_model_rename, dd_model_set_description, "model");
}

void h_model_delete(dd_req *r)
{
    dd_serve_delete(r, dd_model_delete, "model", false);
}

/* ---------------------------------------------------------------- versions */

DD_FETCH_FN(fetch_version, dd_model_version, dd_version_get, dd_json_version, dd_version_clear)
DD_LIST_FN(list_versions, dd_model_version, dd_version_list, dd_json_version)

void h_version_get(dd_req *r)
{
    dd_serve_get(r, fetch_version, "NOT_FOUND", "Model version not found");
}

void h_version_list(dd_req *r)
{
    dd_serve_list(r, list_versions);
}

void h_version_create(dd_req *r)
{
    static const dd_field spec[] = {{"iteration_id", F_INT, true},
                                    {"resource_id", F_INT, false},
                                    {"description", F_STRING, false}};
    int64_t mid, id;
    json_t *root, *v[3];
    if (dd_req_id(r, 0, &mid) != 0 || dd_req_body(r, spec, 3, &root, v) != 0)
        return;
    dd_err err = {0};
    int64_t iid = json_integer_value(v[0]), rid = v[1] ? json_integer_value(v[1]) : 0;
    dd_code code = iid <= 0 || (v[1] && rid <= 0)
                       ? dd_fail(&err, DD_NOT_FOUND, "no such iteration or resource")
                       : dd_version_create_as(r->srv->st, mid, iid, rid,
                                              v[2] ? json_string_value(v[2]) : "",
                                              dd_acting_user(r), &id, NULL, &err);
    if (code == DD_OK)
        dd_reply_created(r, "modelversion_id", id);
    else
        dd_reply_store_error(r, "create", "model version", &err);
    json_decref(root);
}

/* Checks first (the version exists, the stage is 1..4, a resource id is positive), then
 * the resource link (refused for a resource elsewhere), the stage, the description. */
typedef struct version_args {
    int64_t id;
    json_t **v;
    int64_t user_id;   /* whom the stage history names */
} version_args;

/* The writes of a version PATCH (v: stage_id, description, resource_id), one transaction. */
static dd_code version_writes(dd_store *st, void *ctx, dd_err *err)
{
    version_args *a = ctx;
    dd_code code = DD_OK;
    if (a->v[2])
        code = dd_version_set_resource(st, a->id, json_integer_value(a->v[2]), err);
    if (code == DD_OK && a->v[0])
        code = dd_version_set_stage_as(st, a->id, (int)json_integer_value(a->v[0]), a->user_id,
                                       err);
    if (code == DD_OK && a->v[1])
        code = dd_version_set_description(st, a->id, json_string_value(a->v[1]), err);
    return code;
}

static dd_code version_patch(dd_store *st, int64_t id, json_t **v, int64_t user_id, dd_err *err)
{
    dd_model_version cur;
    int64_t stage = v[0] ? json_integer_value(v[0]) : 0;
    if (!v[0] && !v[1] && !v[2])
        return dd_fail(err, DD_INVALID, "no field to update");
    if (v[0] && !dd_stage_name((int)stage))
        return dd_fail(err, DD_INVALID, "stage_id must be 1, 2, 3 or 4");
    if (v[2] && json_integer_value(v[2]) <= 0)
        return dd_fail(err, DD_INVALID, "resource_id must be a resource's id");
    dd_code code = dd_version_get(st, id, &cur, err);
    if (code != DD_OK)
        return code;
    dd_version_clear(&cur);
    version_args a = {id, v, user_id};
    return dd_store_atomic(st, version_writes, &a, err);
}

void h_version_update(dd_req *r)
{
    static const dd_field spec[] = {{"stage_id", F_INT, false},
                                    {"description", F_STRING, false},
                                    {"resource_id", F_INT, false}};
    int64_t id;
    json_t *root, *v[3];
    if (dd_req_id(r, 0, &id) != 0 || dd_req_body(r, spec, 3, &root, v) != 0)
        return;
    dd_err err = {0};
    if (version_patch(r->srv->st, id, v, dd_acting_user(r), &err) == DD_OK)
        dd_reply_updated(r);
    else
        dd_reply_store_error(r, "update", "model version", &err);
    json_decref(root);
}

void h_version_delete(dd_req *r)
{
    /* unknown: OK, as the original */
    dd_serve_delete(r, dd_version_delete, "model version", true);
}
