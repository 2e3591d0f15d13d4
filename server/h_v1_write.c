/*
 * h_v1_write.c - the /v1 writes a remote mount makes where no route of the original maps
 * one to one onto a store call (docs/REMOTE.md §3, §9; contracts in h_v1.h): a whole
 * parameter set, a parameter rename that replaces, a metric series' delete, a tag detach,
 * the aliases, an experiment's or project's fields without the original's required ones,
 * a resource's name. Each is one store call (or one dd_store_atomic), answered with dd_v1_store_error,
 * so the client maps every refusal back to the store's code.
 */
#include <stdlib.h>
#include <string.h>

#include "h_v1.h"

/* The store call's outcome: 200 {"message": "OK"} or its /v1 error. */
static void done(dd_req *r, dd_code code, const dd_err *err, const char *verb, const char *what)
{
    if (code == DD_OK)
        dd_reply_ok(r);
    else
        dd_v1_store_error(r, verb, what, err);
}

/* ---------------------------------------------------------------- parameters */

typedef struct kv_set {
    const char **keys, **values;
    size_t n;
} kv_set;

/* The object's members as two arrays (borrowed from `obj`); false after answering 400. */
static bool kv_of(dd_req *r, json_t *obj, kv_set *out)
{
    size_t n = json_object_size(obj);
    out->n = 0;
    out->keys = calloc(n ? n : 1, sizeof *out->keys);
    out->values = calloc(n ? n : 1, sizeof *out->values);
    if (!out->keys || !out->values) {
        dd_reply_error(r, 500, "SERVER_ERROR", "out of memory");
        return false;
    }
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        if (!json_is_string(v)) {
            dd_reply_error(r, 400, "BAD_REQUEST", "params.%s must be a string", k);
            return false;
        }
        out->keys[out->n] = k;
        out->values[out->n++] = json_string_value(v);
    }
    return true;
}

void h_v1_params_put(dd_req *r)
{
    static const dd_field spec[] = {{"params", F_ANY, true}, {"replace", F_BOOL, false}};
    int64_t iid;
    json_t *root, *v[2];
    if (dd_req_id(r, 0, &iid) != 0 || dd_req_body(r, spec, 2, &root, v) != 0)
        return;
    kv_set s = {0};
    if (!json_is_object(v[0]))
        dd_reply_error(r, 400, "BAD_REQUEST", "params must be an object");
    else if (kv_of(r, v[0], &s)) {
        dd_err err = {0};
        dd_code code = json_is_true(v[1])
                           ? dd_param_replace_all(r->srv->st, iid, s.keys, s.values, s.n, &err)
                           : dd_param_set_many(r->srv->st, iid, s.keys, s.values, s.n, &err);
        done(r, code, &err, "set", "parameters");
    }
    free(s.keys);
    free(s.values);
    json_decref(root);
}

/* A {"from", "to"} body: both strings. */
static const dd_field rename_spec[] = {{"from", F_STRING, true}, {"to", F_STRING, true}};

void h_v1_param_rename(dd_req *r)
{
    int64_t iid;
    json_t *root, *v[2];
    if (dd_req_id(r, 0, &iid) != 0 || dd_req_body(r, rename_spec, 2, &root, v) != 0)
        return;
    dd_err err = {0};
    dd_code code = dd_param_rename(r->srv->st, iid, json_string_value(v[0]),
                                   json_string_value(v[1]), &err);
    done(r, code, &err, "rename", "parameter");
    json_decref(root);
}

/* ---------------------------------------------------------------- metric series */

/* The path's first id and the body's one required string field `spec` (its text stays
 * valid until *root is released); false when the request was refused (answered). */
static bool id_and_text(dd_req *r, const dd_field *spec, int64_t *id, json_t **root,
                        const char **text)
{
    json_t *v[1];
    if (dd_req_id(r, 0, id) != 0 || dd_req_body(r, spec, 1, root, v) != 0)
        return false;
    *text = json_string_value(v[0]);
    return true;
}

void h_v1_metric_delete(dd_req *r)
{
    static const dd_field spec[] = {{"key", F_STRING, true}};
    int64_t iid;
    json_t *root;
    const char *key;
    if (!id_and_text(r, spec, &iid, &root, &key))
        return;
    dd_err err = {0};
    done(r, dd_metric_delete(r->srv->st, iid, key, &err), &err, "delete", "metric series");
    json_decref(root);
}

/* ---------------------------------------------------------------- tags */

static void detach(dd_req *r, dd_tag_kind kind)
{
    static const dd_field spec[] = {{"value", F_STRING, true}};
    int64_t id;
    json_t *root;
    const char *value;
    if (!id_and_text(r, spec, &id, &root, &value))
        return;
    dd_err err = {0};
    done(r, dd_tag_detach(r->srv->st, kind, id, value, &err), &err, "detach", "tag");
    json_decref(root);
}

void h_v1_tag_detach_project(dd_req *r) { detach(r, DD_TAG_PROJECT); }
void h_v1_tag_detach_experiment(dd_req *r) { detach(r, DD_TAG_EXPERIMENT); }
void h_v1_tag_detach_iteration(dd_req *r) { detach(r, DD_TAG_ITERATION); }

/* ---------------------------------------------------------------- aliases */

void h_v1_alias_set(dd_req *r)
{
    static const dd_field spec[] = {{"alias", F_STRING, true}, {"version_id", F_INT, true}};
    int64_t mid;
    json_t *root, *v[2];
    if (dd_req_id(r, 0, &mid) != 0 || dd_req_body(r, spec, 2, &root, v) != 0)
        return;
    dd_err err = {0};
    dd_code code = dd_alias_set(r->srv->st, mid, json_string_value(v[0]),
                                json_integer_value(v[1]), &err);
    done(r, code, &err, "set", "alias");
    json_decref(root);
}

void h_v1_alias_delete(dd_req *r)
{
    static const dd_field spec[] = {{"alias", F_STRING, true}};
    int64_t mid;
    json_t *root;
    const char *alias;
    if (!id_and_text(r, spec, &mid, &root, &alias))
        return;
    dd_err err = {0};
    done(r, dd_alias_delete(r->srv->st, mid, alias, &err), &err, "delete", "alias");
    json_decref(root);
}

void h_v1_alias_rename(dd_req *r)
{
    int64_t mid;
    json_t *root, *v[2];
    if (dd_req_id(r, 0, &mid) != 0 || dd_req_body(r, rename_spec, 2, &root, v) != 0)
        return;
    dd_err err = {0};
    dd_code code = dd_alias_rename(r->srv->st, mid, json_string_value(v[0]),
                                   json_string_value(v[1]), &err);
    done(r, code, &err, "rename", "alias");
    json_decref(root);
}

/* ---------------------------------------------------------------- fields */

typedef struct fields_args {
    int64_t id;
    const char *name, *description;
    int status;          /* 0: unchanged */
    dd_code (*rename)(dd_store *, int64_t, const char *, dd_err *);
    dd_code (*describe)(dd_store *, int64_t, const char *, dd_err *);
    dd_code (*set_status)(dd_store *, int64_t, int, dd_err *);
} fields_args;

/* The rename first (the step that can break a rule), all in one transaction. */
static dd_code set_fields(dd_store *st, void *ctx, dd_err *err)
{
    fields_args *a = ctx;
    dd_code code = a->name ? a->rename(st, a->id, a->name, err) : DD_OK;
    if (code == DD_OK && a->description)
        code = a->describe(st, a->id, a->description, err);
    if (code == DD_OK && a->status)
        code = a->set_status(st, a->id, a->status, err);
    return code;
}

void h_v1_experiment_patch(dd_req *r)
{
    static const dd_field spec[] = {{"name", F_STRING, false},
                                    {"description", F_STRING, false},
                                    {"status", F_STRING, false}};
    json_t *root, *v[3];
    fields_args a = {.rename = dd_experiment_rename, .describe = dd_experiment_set_description,
                     .set_status = dd_experiment_set_status};
    if (dd_req_id(r, 0, &a.id) != 0 || dd_req_body(r, spec, 3, &root, v) != 0)
        return;
    a.name = json_string_value(v[0]), a.description = json_string_value(v[1]);
    dd_err err = {0};
    dd_code code = !v[0] && !v[1] && !v[2] ? dd_fail(&err, DD_INVALID, "no field to update")
                   : v[2] ? dd_experiment_status_parse(json_string_value(v[2]), &a.status)
                          : DD_OK;
    if (code != DD_OK && !err.msg[0])
        dd_fail(&err, code, "status must be IN_PROGRESS, STOPPED or FINISHED");
    if (code == DD_OK)
        code = dd_store_atomic(r->srv->st, set_fields, &a, &err);
    done(r, code, &err, "update", "experiment");
    json_decref(root);
}

/* One text field of an entity by id: {"<field>": text}. */
static void set_text(dd_req *r, const char *field, const char *what,
                     dd_code (*set)(dd_store *, int64_t, const char *, dd_err *))
{
    const dd_field spec[] = {{field, F_STRING, true}};
    int64_t id;
    json_t *root, *v[1];
    if (dd_req_id(r, 0, &id) != 0 || dd_req_body(r, spec, 1, &root, v) != 0)
        return;
    dd_err err = {0};
    dd_code code = set(r->srv->st, id, json_string_value(v[0]), &err);
    done(r, code, &err, "update", what);
    json_decref(root);
}

void h_v1_project_describe(dd_req *r)
{
    set_text(r, "description", "project", dd_project_set_description);
}

void h_v1_resource_rename(dd_req *r)
{
    set_text(r, "name", "resource", dd_resource_rename);
}
