/*
 * json.c - request bodies (checked against a field spec), path ids, pagination, the
 * response shapes of §5.2 and the JSON of store rows.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

/* ---------------------------------------------------------------- replies */

void dd_reply_error(dd_req *r, int status, const char *code, const char *fmt, ...)
{
    char msg[DD_ERR_MSG_MAX + 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    dd_reply_json(r, status, json_pack("{s:s, s:s}", "code", code, "message", msg));
}

void dd_reply_store_failure(dd_req *r, int status, const char *code, dd_code reason,
                            const char *fmt, ...)
{
    char msg[DD_ERR_MSG_MAX + 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    dd_reply_json(r, status, json_pack("{s:s, s:s, s:s}", "code", code, "message", msg,
                                       "reason", dd_code_name(reason)));
}

void dd_reply_updated(dd_req *r)
{
    dd_reply_json(r, 200, json_pack("{s:s}", "message", "UPDATED"));
}

void dd_reply_ok(dd_req *r)
{
    dd_reply_json(r, 200, json_pack("{s:s}", "message", "OK"));
}

void dd_reply_created(dd_req *r, const char *key, int64_t id)
{
    dd_reply_json(r, 201, json_pack("{s:I}", key, (json_int_t)id));
}

void dd_reply_store_error(dd_req *r, const char *verb, const char *what, const dd_err *err)
{
    int status = 500;
    const char *code = "SERVER_ERROR";
    switch (err->code) {
    case DD_CONFLICT: case DD_IN_USE: case DD_NOT_EMPTY:
        status = 409, code = "CONFLICT";
        break;
    case DD_INVALID: case DD_TOO_LONG: case DD_READ_ONLY: case DD_FORBIDDEN:
        status = 422, code = "INVALID_PAYLOAD";
        break;
    case DD_NOT_FOUND:
        if (strcmp(verb, "delete") == 0)
            status = 404, code = "NOT_FOUND";
        else
            status = 422, code = "INVALID_PAYLOAD";
        break;
    case DD_BUSY:
        status = 503, code = "SERVER_BUSY";
        break;
    default:
        break;
    }
    dd_reply_store_failure(r, status, code, err->code, "Failed to %s %s: %s", verb, what,
                           err->msg);
}

/* ---------------------------------------------------------------- bodies */

static bool has_type(json_t *v, dd_ftype t)
{
    switch (t) {
    case F_STRING: return json_is_string(v);
    case F_BOOL: return json_is_boolean(v);
    case F_INT: return json_is_integer(v);
    case F_NUMBER: return json_is_number(v);
    case F_ARRAY: return json_is_array(v);
    case F_ANY: return true;
    }
    return false;
}

static const char *type_name(dd_ftype t)
{
    static const char *const names[] = {"a string", "a boolean", "an integer", "a number",
                                        "an array", "a value"};
    return names[t];
}

int dd_body_check(const char *body, size_t len, const dd_field *spec, size_t n,
                  json_t **root_out, json_t **vals, char *msg, size_t msglen)
{
    *root_out = NULL;
    json_error_t je;
    /* JSON_ALLOW_NUL is off: a string holding U+0000 is refused, so every accepted
     * string is a C string; jansson refuses invalid UTF-8 itself. */
    json_t *root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(msg, msglen, "malformed JSON body: %s", je.text);
        return 400;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        snprintf(msg, msglen, "the body must be a JSON object");
        return 400;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_object_get(root, spec[i].name);
        if (v && json_is_null(v))
            v = NULL;
        if (!v && spec[i].required) {
            snprintf(msg, msglen, "field \"%s\" is required", spec[i].name);
            json_decref(root);
            return 400;
        }
        if (v && !has_type(v, spec[i].type)) {
            snprintf(msg, msglen, "field \"%s\" must be %s", spec[i].name,
                     type_name(spec[i].type));
            json_decref(root);
            return 400;
        }
        vals[i] = v;
    }
    *root_out = root;
    return 0;
}

int dd_req_body(dd_req *r, const dd_field *spec, size_t n, json_t **root_out, json_t **vals)
{
    char msg[256];
    if (dd_body_check(r->body, r->body_len, spec, n, root_out, vals, msg, sizeof msg) != 0) {
        dd_reply_error(r, 400, "BAD_REQUEST", "%s", msg);
        return -1;
    }
    return 0;
}

bool dd_parse_id(const char *s, int64_t *out)
{
    if (!s || !*s || (*s != '-' && (*s < '0' || *s > '9')))
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

int64_t dd_acting_user(const dd_req *r)
{
    return r->srv->auth ? r->user.id : 0;
}

int dd_req_id(dd_req *r, int i, int64_t *out)
{
    if (i < r->nparams && dd_parse_id(r->param[i], out))
        return 0;
    dd_reply_error(r, 400, "BAD_REQUEST", "path parameter %d must be an integer id", i + 1);
    return -1;
}

/* ---------------------------------------------------------------- pagination */

static int64_t query_int(dd_req *r, const char *name, int64_t def)
{
    int64_t v;
    return dd_parse_id(dd_req_query(r, name), &v) ? v : def;
}

void dd_page_init(dd_req *r, dd_page *p)
{
    p->limit = query_int(r, "limit", 50);
    if (p->limit < 0)
        p->limit = 0;
    if (p->limit > 200)
        p->limit = 200;
    p->offset = query_int(r, "offset", 0);
    if (p->offset < 0)
        p->offset = 0;
    p->total = 0;
    p->data = json_array();
}

bool dd_page_take(dd_page *p)
{
    int64_t i = p->total++;
    return i >= p->offset && i - p->offset < p->limit;
}

void dd_page_reply(dd_req *r, dd_page *p)
{
    dd_reply_json(r, 200, json_pack("{s:o, s:I, s:I, s:I}", "data", p->data, "total",
                                    (json_int_t)p->total, "limit", (json_int_t)p->limit,
                                    "offset", (json_int_t)p->offset));
    p->data = NULL;
}

/* ---------------------------------------------------------------- rows */

json_t *dd_json_date(const char *ts)
{
    return ts && *ts ? json_string(ts) : json_null();
}

json_t *dd_json_user(const dd_user *u)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:b}", "id", (json_int_t)u->id, "first_name",
                     u->first_name ? u->first_name : "", "last_name",
                     u->last_name ? u->last_name : "", "username", u->username, "created_date",
                     u->created_date, "is_admin", u->is_admin);
}

json_t *dd_json_permission(const dd_user_permission *p)
{
    return json_pack("{s:I, s:I, s:I, s:b, s:b, s:b, s:b}", "id", (json_int_t)p->id, "user_id",
                     (json_int_t)p->user_id, "project_id", (json_int_t)p->project_id,
                     "create_permission", p->create_permission, "read_permission",
                     p->read_permission, "update_permission", p->update_permission,
                     "delete_permission", p->delete_permission);
}

json_t *dd_json_project(const dd_project *p)
{
    return json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)p->id, "name", p->name,
                     "description", p->description ? p->description : "", "created_date",
                     p->created_date);
}

json_t *dd_json_experiment(const dd_experiment *e)
{
    return json_pack("{s:I, s:I, s:i, s:s, s:s, s:s, s:o}", "id", (json_int_t)e->id,
                     "project_id", (json_int_t)e->project_id, "status_id", e->status_id, "name",
                     e->name, "description", e->description ? e->description : "",
                     "created_date", e->created_date, "end_date", dd_json_date(e->end_date));
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

json_t *dd_json_iteration(const dd_iteration *it)
{
    json_t *j = json_pack("{s:I, s:I, s:s, s:s, s:o, s:i, s:s}", "id", (json_int_t)it->id,
                          "experiment_id", (json_int_t)it->experiment_id, "notes", nz(it->notes),
                          "created_date", it->created_date, "end_date",
                          dd_json_date(it->end_date), "status_id", it->status_id,
                          "error_message", nz(it->error_message));
    if (!j)
        return NULL;
    json_object_set_new(j, "parent_iteration_id",
                        it->parent_iteration_id ? json_integer(it->parent_iteration_id)
                                                : json_null());
    json_object_set_new(j, "julia_version", json_string(nz(it->julia_version)));
    json_object_set_new(j, "git_sha", json_string(nz(it->git_sha)));
    json_object_set_new(j, "git_dirty", json_boolean(it->git_dirty));
    json_object_set_new(j, "entrypoint", json_string(nz(it->entrypoint)));
    json_object_set_new(j, "project_toml", json_string(nz(it->project_toml)));
    json_object_set_new(j, "manifest_toml", json_string(nz(it->manifest_toml)));
    return j;
}

json_t *dd_json_model(const dd_model *m)
{
    return json_pack("{s:I, s:I, s:s, s:s, s:s, s:o}", "id", (json_int_t)m->id, "project_id",
                     (json_int_t)m->project_id, "name", m->name, "description",
                     m->description ? m->description : "", "created_date", m->created_date,
                     "updated_date", dd_json_date(m->updated_date));
}

json_t *dd_json_version(const dd_model_version *v)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:o, s:i, s:s, s:s, s:o}", "id", (json_int_t)v->id,
                     "model_id", (json_int_t)v->model_id, "version", (json_int_t)v->version,
                     "iteration_id", (json_int_t)v->iteration_id, "resource_id",
                     v->resource_id ? json_integer(v->resource_id) : json_null(), "stage_id",
                     v->stage_id, "description", v->description ? v->description : "",
                     "created_date", v->created_date, "updated_date",
                     dd_json_date(v->updated_date));
}
