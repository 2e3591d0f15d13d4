/*
 * h_v1.c - the /v1 routes (h_v1.h) other than the listings (h_v1_ls.c): protocol version,
 * lookup by name, stage by version number, registration by iteration and resource, and
 * the two calls `rm -r` ends in. Handlers talk to the store through store.h only; every
 * check is made before the first write, and a change of several rows is one transaction.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "h_v1.h"

/* ---------------------------------------------------------------- shared */

void dd_v1_rights_of(const dd_user_permission *p, char out[5])
{
    out[0] = p->create_permission ? 'c' : '-';
    out[1] = p->read_permission ? 'r' : '-';
    out[2] = p->update_permission ? 'u' : '-';
    out[3] = p->delete_permission ? 'd' : '-';
    out[4] = '\0';
}

bool dd_v1_rights(dd_req *r, int64_t pid, char out[5])
{
    snprintf(out, 5, "%s", r->user.is_admin ? "crud" : "----");
    if (r->user.is_admin)
        return true;
    dd_user_permission p;
    dd_err err = {0};
    dd_code code = dd_permission_get(r->srv->st, r->user.id, pid, &p, &err);
    if (code == DD_NOT_FOUND)
        return true;
    if (code != DD_OK) {
        dd_reply_error(r, 500, "SERVER_ERROR", "%s", err.msg);
        return false;
    }
    dd_v1_rights_of(&p, out);
    return true;
}

bool dd_v1_query_int(dd_req *r, const char *name, int64_t lo, int64_t hi, int64_t def,
                     int64_t *out)
{
    const char *s = dd_req_query(r, name);
    *out = def;
    if (!s)
        return true;
    if (dd_parse_id(s, out) && *out >= lo && *out <= hi)
        return true;
    dd_reply_error(r, 400, "BAD_REQUEST", "%s must be an integer from %" PRId64 " to %" PRId64,
                   name, lo, hi);
    return false;
}

void dd_v1_store_error(dd_req *r, const char *verb, const char *what, const dd_err *err)
{
    int status = 500;
    const char *code = "SERVER_ERROR";
    switch (err->code) {
    case DD_NOT_FOUND: status = 404, code = "NOT_FOUND"; break;
    case DD_CONFLICT: status = 409, code = "NAME_TAKEN"; break;
    case DD_NOT_EMPTY: status = 409, code = "NOT_EMPTY"; break;
    case DD_IN_USE: status = 409, code = "IN_USE"; break;
    case DD_READ_ONLY: status = 422, code = "ENDED"; break;
    case DD_INVALID: case DD_TOO_LONG: case DD_FORBIDDEN: case DD_TOO_BIG:
        status = 422, code = "INVALID_PAYLOAD";
        break;
    case DD_BUSY: status = 503, code = "SERVER_BUSY"; break;
    default: break;
    }
    dd_reply_store_failure(r, status, code, err->code, "Failed to %s %s: %s", verb, what,
                           err->msg);
}

/* ---------------------------------------------------------------- GET /v1/ */

void h_v1_root(dd_req *r)
{
    dd_reply_json(r, 200, json_pack("{s:i,s:b}", "protocol", DD_V1_PROTOCOL,
                                    "metric_columns", 1));
}

/* ---------------------------------------------------------------- lookup */

/* May the caller read project `pid`? 1 yes, 0 no (nothing answered), -1 after 500. */
static int may_read(dd_req *r, int64_t pid)
{
    char rights[5];
    return !dd_v1_rights(r, pid, rights) ? -1 : rights[1] == 'r';
}

/* The project is readable (true), or false after answering: 404 (absent, not forbidden)
 * or 500. */
static bool visible(dd_req *r, int64_t pid)
{
    int ok = may_read(r, pid);
    if (ok == 0)
        dd_reply_error(r, 404, "NOT_FOUND", "Not found");
    return ok == 1;
}

/* The row found, with the caller's rights on `pid` and whether it has ended; 404 when
 * the caller may not read the project (absent, not forbidden: REMOTE.md §2.1). */
static void lookup_reply(dd_req *r, int64_t pid, json_t *row, bool ended)
{
    char rights[5];
    if (!row) {
        dd_reply_error(r, 500, "SERVER_ERROR", "could not build the response");
        return;
    }
    if (!visible(r, pid) || !dd_v1_rights(r, pid, rights)) {
        json_decref(row);
        return;
    }
    json_object_set_new(row, "rights", json_string(rights));
    json_object_set_new(row, "ended", json_boolean(ended));
    dd_reply_json(r, 200, row);
}

/* DD_OK, or after answering 404 (unknown) / 500. */
static bool found(dd_req *r, dd_code code, const dd_err *err)
{
    if (code != DD_OK)
        dd_reply_found(r, code, NULL, err, "NOT_FOUND", "Not found");
    return code == DD_OK;
}

static void lookup_iteration(dd_req *r, int64_t pid, int64_t eid, int64_t iid)
{
    dd_iteration it;
    dd_err err = {0};
    dd_code code = dd_iteration_get(r->srv->st, iid, &it, &err);
    if (!found(r, code, &err))
        return;
    if (it.experiment_id != eid)
        dd_reply_error(r, 404, "NOT_FOUND", "Not found");
    else
        lookup_reply(r, pid, dd_json_iteration(&it), it.end_date[0] != 0);
    dd_iteration_clear(&it);
}

static void lookup_path(dd_req *r, const char *text)
{
    dd_v1_path path;
    char msg[DD_ERR_MSG_MAX];
    if (dd_v1_path_parse(text, strlen(text), &path, msg, sizeof msg) != 0) {
        dd_reply_error(r, 400, "BAD_REQUEST", "path: %s", msg);
        return;
    }
    dd_store *st = r->srv->st;
    dd_err err = {0};
    int64_t pid, eid;
    if (!found(r, dd_project_find(st, path.project, &pid, &err), &err))
        return;
    if (path.depth == 1) {
        dd_project p;
        if (found(r, dd_project_get(st, pid, &p, &err), &err)) {
            lookup_reply(r, pid, dd_json_project(&p), false);
            dd_project_clear(&p);
        }
        return;
    }
    /* the project's readability first: an unreadable project's names are not probed */
    if (!visible(r, pid))
        return;
    if (!found(r, dd_experiment_find(st, pid, path.experiment, &eid, &err), &err))
        return;
    if (path.depth == 3) {
        lookup_iteration(r, pid, eid, path.iteration_id);
        return;
    }
    dd_experiment e;
    if (found(r, dd_experiment_get(st, eid, &e, &err), &err)) {
        lookup_reply(r, pid, dd_json_experiment(&e), e.end_date[0] != 0);
        dd_experiment_clear(&e);
    }
}

static void lookup_model(dd_req *r, const char *name, const char *version)
{
    dd_store *st = r->srv->st;
    dd_err err = {0};
    int64_t mid, n = 0, vid;
    if (strlen(name) > DD_NAME_MAX || dd_name_check(name, "model name", &err) != DD_OK) {
        dd_reply_error(r, 400, "BAD_REQUEST", "model: %s",
                       err.msg[0] ? err.msg : "longer than 255 bytes");
        return;
    }
    if (version && (!dd_parse_id(version, &n) || n <= 0)) {
        dd_reply_error(r, 400, "BAD_REQUEST", "version must be a positive integer");
        return;
    }
    dd_model m;
    if (!found(r, dd_model_find(st, name, &mid, &err), &err) ||
        !found(r, dd_model_get(st, mid, &m, &err), &err))
        return;
    int64_t pid = m.project_id;
    if (!version) {
        lookup_reply(r, pid, dd_json_model(&m), false);
        dd_model_clear(&m);
        return;
    }
    dd_model_clear(&m);
    if (!visible(r, pid))
        return;
    dd_model_version v;
    if (found(r, dd_version_find(st, mid, n, &vid, &err), &err) &&
        found(r, dd_version_get(st, vid, &v, &err), &err)) {
        lookup_reply(r, pid, dd_json_version(&v), false);
        dd_version_clear(&v);
    }
}

void h_v1_lookup(dd_req *r)
{
    const char *path = dd_req_query(r, "path"), *model = dd_req_query(r, "model");
    const char *version = dd_req_query(r, "version");
    if (!path == !model)
        dd_reply_error(r, 400, "BAD_REQUEST", "give exactly one of ?path= and ?model=");
    else if (version && !model)
        dd_reply_error(r, 400, "BAD_REQUEST", "?version= goes with ?model=");
    else if (path)
        lookup_path(r, path);
    else
        lookup_model(r, model, version);
}

/* ---------------------------------------------------------------- stage by number */

void h_v1_version_stage(dd_req *r)
{
    static const dd_field spec[] = {{"stage", F_STRING, true}};
    int64_t mid, n, id;
    json_t *root, *v[1];
    if (dd_req_id(r, 0, &mid) != 0 || dd_req_id(r, 1, &n) != 0 ||
        dd_req_body(r, spec, 1, &root, v) != 0)
        return;
    int stage;
    dd_err err = {0};
    dd_code code;
    if (dd_stage_parse(json_string_value(v[0]), &stage) != DD_OK)
        dd_reply_error(r, 422, "INVALID_PAYLOAD",
                       "stage must be NO_STAGE, STAGING, PRODUCTION or ARCHIVED");
    else if ((code = dd_version_find(r->srv->st, mid, n, &id, &err)) != DD_OK)
        dd_reply_found(r, code, NULL, &err, "NOT_FOUND", "Model version not found");
    else if (dd_version_set_stage_as(r->srv->st, id, stage, dd_acting_user(r), &err) != DD_OK)
        dd_reply_store_error(r, "update", "model version", &err);
    else
        dd_reply_json(r, 200, json_pack("{s:I, s:I, s:s}", "version_id", (json_int_t)id,
                                        "version", (json_int_t)n, "stage",
                                        dd_stage_name(stage)));
    json_decref(root);
}

/* ---------------------------------------------------------------- registration */

typedef struct register_args {
    int64_t model, iteration;
    const char *resource;      /* NULL: none */
    const char *description;
    int64_t id, number;
} register_args;

/* The resource is found by name in the iteration's experiment in the same transaction as
 * the version's creation, so it cannot be renamed or replaced in between. */
static dd_code register_version(dd_store *st, void *ctx, dd_err *err)
{
    register_args *a = ctx;
    int64_t rid = 0;
    if (a->resource) {
        dd_iteration it;
        dd_code code = dd_iteration_get(st, a->iteration, &it, err);
        if (code != DD_OK)
            return code;
        int64_t eid = it.experiment_id;
        dd_iteration_clear(&it);
        code = dd_resource_find(st, eid, a->resource, &rid, err);
        if (code != DD_OK)
            return code;
    }
    return dd_version_create(st, a->model, a->iteration, rid, a->description, &a->id,
                             &a->number, err);
}

/* May the caller read the iteration's project? False after answering 404 or 403. */
static bool may_read_iteration(dd_req *r, int64_t iid)
{
    int64_t pid = iid > 0 ? dd_project_of_iteration(r->srv->st, iid) : 0;
    if (!pid) {
        dd_reply_error(r, 404, "NOT_FOUND", "Iteration not found");
        return false;
    }
    int ok = may_read(r, pid);
    if (ok == 0)
        dd_reply_error(r, 403, "PROJECT_PERMISSION_REQUIRED", "Project permission required");
    return ok == 1;
}

void h_v1_version_register(dd_req *r)
{
    static const dd_field spec[] = {{"iteration_id", F_INT, true},
                                    {"resource", F_STRING, false},
                                    {"description", F_STRING, false}};
    int64_t mid;
    json_t *root, *v[3];
    if (dd_req_id(r, 0, &mid) != 0 || dd_req_body(r, spec, 3, &root, v) != 0)
        return;
    register_args a = {mid, json_integer_value(v[0]), json_string_value(v[1]),
                       v[2] ? json_string_value(v[2]) : "", 0, 0};
    dd_err err = {0};
    if (a.resource && dd_name_check(a.resource, "resource name", &err) != DD_OK)
        dd_reply_error(r, 400, "BAD_REQUEST", "%s", err.msg);
    else if (may_read_iteration(r, a.iteration)) {
        if (dd_store_atomic(r->srv->st, register_version, &a, &err) == DD_OK)
            dd_reply_json(r, 201, json_pack("{s:I, s:I}", "version", (json_int_t)a.number,
                                            "version_id", (json_int_t)a.id));
        else
            dd_v1_store_error(r, "register", "model version", &err);
    }
    json_decref(root);
}

/* ---------------------------------------------------------------- rm -r */

typedef struct delete_args {
    dd_tag_kind kind;
    int64_t id;
    bool cascade;
} delete_args;

/* The check and the delete in one transaction: nothing registered meanwhile is taken. */
static dd_code delete_entity(dd_store *st, void *ctx, dd_err *err)
{
    delete_args *a = ctx;
    dd_code code = a->cascade ? dd_delete_check(st, a->kind, a->id, err) : DD_OK;
    if (code != DD_OK)
        return code;
    switch (a->kind) {
    case DD_TAG_PROJECT: return dd_project_delete(st, a->id, a->cascade, err);
    case DD_TAG_EXPERIMENT: return dd_experiment_delete(st, a->id, a->cascade, err);
    case DD_TAG_ITERATION: return dd_iteration_delete(st, a->id, a->cascade, err);
    }
    return dd_fail(err, DD_INVALID, "unknown kind");
}

static const char *kind_word(dd_tag_kind kind)
{
    return kind == DD_TAG_PROJECT ? "project" : kind == DD_TAG_EXPERIMENT ? "experiment"
                                                                          : "iteration";
}

static void delete_check(dd_req *r, dd_tag_kind kind)
{
    int64_t id;
    if (dd_req_id(r, 0, &id) != 0)
        return;
    dd_err err = {0};
    if (dd_delete_check(r->srv->st, kind, id, &err) == DD_OK)
        dd_reply_json(r, 200, json_pack("{s:b}", "deletable", true));
    else
        dd_v1_store_error(r, "delete", kind_word(kind), &err);
}

static void delete_tree(dd_req *r, dd_tag_kind kind)
{
    delete_args a = {kind, 0, false};
    if (dd_req_id(r, 0, &a.id) != 0)
        return;
    if (dd_v1_flag_parse(dd_req_query(r, "cascade"), &a.cascade) != 0) {
        dd_reply_error(r, 400, "BAD_REQUEST", "cascade must be 1, 0, true or false");
        return;
    }
    dd_err err = {0};
    if (dd_store_atomic(r->srv->st, delete_entity, &a, &err) == DD_OK)
        dd_reply_ok(r);
    else
        dd_v1_store_error(r, "delete", kind_word(kind), &err);
}

void h_v1_delete_check_project(dd_req *r) { delete_check(r, DD_TAG_PROJECT); }
void h_v1_delete_check_experiment(dd_req *r) { delete_check(r, DD_TAG_EXPERIMENT); }
void h_v1_delete_check_iteration(dd_req *r) { delete_check(r, DD_TAG_ITERATION); }
void h_v1_delete_project(dd_req *r) { delete_tree(r, DD_TAG_PROJECT); }
void h_v1_delete_experiment(dd_req *r) { delete_tree(r, DD_TAG_EXPERIMENT); }
void h_v1_delete_iteration(dd_req *r) { delete_tree(r, DD_TAG_ITERATION); }
