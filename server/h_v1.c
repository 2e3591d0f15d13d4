/*
 * h_v1.c - the /v1 routes (h_v1.h). Handlers talk to the store through store.h only.
 */
#include <inttypes.h>
#include <stdio.h>

#include "h_v1.h"

/* The caller's rights on project `pid` as "crud"/"-r--"; false after answering 500. */
static bool rights_text(dd_req *r, int64_t pid, char out[5])
{
    snprintf(out, 5, "----");
    if (r->user.is_admin) {
        snprintf(out, 5, "crud");
        return true;
    }
    dd_user_permission p;
    dd_err err = {0};
    dd_code code = dd_permission_get(r->srv->st, r->user.id, pid, &p, &err);
    if (code == DD_NOT_FOUND)
        return true;
    if (code != DD_OK) {
        dd_reply_error(r, 500, "SERVER_ERROR", "%s", err.msg);
        return false;
    }
    out[0] = p.create_permission ? 'c' : '-';
    out[1] = p.read_permission ? 'r' : '-';
    out[2] = p.update_permission ? 'u' : '-';
    out[3] = p.delete_permission ? 'd' : '-';
    return true;
}

/* ?name as an integer in [lo, hi], `def` when absent; false after answering 400. */
static bool query_int(dd_req *r, const char *name, int64_t lo, int64_t hi, int64_t def,
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

typedef struct ls_walk {
    int64_t after, limit, last;
    bool more;           /* a row past the page exists */
    json_t *entries;
} ls_walk;

static int ls_iteration(void *ctx, const dd_iteration *it)
{
    ls_walk *w = ctx;
    if (it->id <= w->after)
        return 0;
    if ((int64_t)json_array_size(w->entries) == w->limit) {
        w->more = true;
        return 1;
    }
    char name[24];
    snprintf(name, sizeof name, "%" PRId64, it->id);
    json_t *parent = it->parent_iteration_id ? json_integer(it->parent_iteration_id)
                                             : json_null();
    json_array_append_new(
        w->entries,
        json_pack("{s:I, s:s, s:s, s:o, s:s, s:s, s:o, s:b}", "id", (json_int_t)it->id, "name",
                  name, "status", dd_iteration_status_name(it->status_id),
                  "parent_iteration_id", parent, "created", it->created_date, "modified",
                  it->updated_date, "end_date", dd_json_date(it->end_date), "ended",
                  it->end_date[0] != 0));
    w->last = it->id;
    return 0;
}

void h_v1_ls_iterations(dd_req *r)
{
    int64_t eid;
    ls_walk w = {0};
    if (dd_req_id(r, 0, &eid) != 0 || !query_int(r, "after", 0, INT64_MAX, 0, &w.after) ||
        !query_int(r, "limit", 1, DD_V1_LS_LIMIT, DD_V1_LS_LIMIT, &w.limit))
        return;
    dd_experiment e;
    dd_err err = {0};
    dd_code code = dd_experiment_get(r->srv->st, eid, &e, &err);
    if (code != DD_OK) {
        dd_reply_found(r, code, NULL, &err, "NOT_FOUND", "Experiment not found");
        return;
    }
    int64_t pid = e.project_id;
    dd_experiment_clear(&e);
    char rights[5], dir_time[DD_TS_LEN];
    if (!rights_text(r, pid, rights))
        return;
    w.entries = json_array();
    code = dd_dir_time(r->srv->st, "iterations", eid, dir_time, &err);
    if (code == DD_OK)
        code = dd_iteration_list(r->srv->st, eid, ls_iteration, &w, &err);
    if (code != DD_OK) {
        json_decref(w.entries);
        dd_reply_error(r, 500, "SERVER_ERROR", "%s", err.msg);
        return;
    }
    dd_reply_json(r, 200,
                  json_pack("{s:{s:o, s:s}, s:o, s:o}", "dir", "dir_time",
                            dd_json_date(dir_time), "rights", rights, "entries", w.entries,
                            "next", w.more ? json_integer(w.last) : json_null()));
}

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

void h_v1_root(dd_req *r)
{
    dd_reply_json(r, 200, json_pack("{s:i}", "protocol", DD_V1_PROTOCOL));
}
