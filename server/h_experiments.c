/*
 * h_experiments.c - experiments (routes 21-25) and iterations (routes 26-32).
 *
 * Deviations (README "REST API"): experiment names are unique in their project (409);
 * STOPPED and FINISHED set end_date themselves (a PATCH's end_date is ignored); an
 * iteration ends with a final status_id (2, 3, 4), which sets its end_date: an end_date
 * alone, without one, is 422; lists are in id order; unknown ids on delete are 404 and
 * deletes refused for a registered model version 409, never 500.
 */
#include <string.h>

#include "server.h"

/* ---------------------------------------------------------------- experiments */

DD_FETCH_FN(fetch_experiment, dd_experiment, dd_experiment_get, dd_json_experiment,
            dd_experiment_clear)
DD_LIST_FN(list_experiments, dd_experiment, dd_experiment_list, dd_json_experiment)

void h_experiment_get(dd_req *r)
{
    dd_serve_get(r, fetch_experiment, "NOT_FOUND", "Experiment not found");
}

void h_experiment_list(dd_req *r)
{
    dd_serve_list(r, list_experiments);
}

void h_experiment_create(dd_req *r)
{
    static const dd_field spec[] = {{"status_id", F_INT, true}, {"name", F_STRING, true}};
    int64_t pid, id;
    json_t *root, *v[2];
    if (dd_req_id(r, 0, &pid) != 0 || dd_req_body(r, spec, 2, &root, v) != 0)
        return;
    dd_err err = {0};
    if (json_integer_value(v[0]) != DD_EXP_IN_PROGRESS)
        dd_fail(&err, DD_INVALID, "a new experiment's status_id must be 1 (IN_PROGRESS)");
    else if (dd_experiment_create(r->srv->st, pid, json_string_value(v[1]), &id, &err) == DD_OK) {
        json_decref(root);
        dd_reply_created(r, "experiment_id", id);
        return;
    }
    dd_reply_store_error(r, "create", "experiment", &err);
    json_decref(root);
}

/* The checks a PATCH must pass before anything is written, so a refused one changes
 * nothing: the experiment exists and the status is one of 1, 2, 3. */
static dd_code experiment_patch_check(dd_store *st, int64_t id, json_t *status, dd_err *err)
{
    if (!status)
        return dd_fail(err, DD_INVALID, "status_id is required");
    if (!dd_experiment_status_name((int)json_integer_value(status))
        || json_integer_value(status) != (int)json_integer_value(status))
        return dd_fail(err, DD_INVALID, "status_id must be 1, 2 or 3");
    dd_experiment e;
    dd_code code = dd_experiment_get(st, id, &e, err);
    if (code == DD_OK)
        dd_experiment_clear(&e);
    return code;
}

typedef struct patch_args {
    int64_t id;
    json_t **v;
} patch_args;

/* The writes of an experiment PATCH (v: status_id, name, description, end_date), in one
 * transaction (dd_store_atomic). */
static dd_code experiment_patch(dd_store *st, void *ctx, dd_err *err)
{
    patch_args *a = ctx;
    dd_code code = DD_OK;
    if (a->v[1])
        code = dd_experiment_rename(st, a->id, json_string_value(a->v[1]), err);
    if (code == DD_OK && a->v[2])
        code = dd_experiment_set_description(st, a->id, json_string_value(a->v[2]), err);
    if (code == DD_OK)
        code = dd_experiment_set_status(st, a->id, (int)json_integer_value(a->v[0]), err);
    return code;
}

void h_experiment_update(dd_req *r)
{
    static const dd_field spec[] = {{"status_id", F_INT, false},
                                    {"name", F_STRING, false},
                                    {"description", F_STRING, false},
                                    {"end_date", F_STRING, false}};
    int64_t id;
    json_t *root, *v[4];
    if (dd_req_id(r, 0, &id) != 0 || dd_req_body(r, spec, 4, &root, v) != 0)
        return;
    dd_store *st = r->srv->st;
    dd_err err = {0};
    char ts[DD_TS_LEN];
    dd_code code = experiment_patch_check(st, id, v[0], &err);
    if (code == DD_OK && v[3])   /* checked for the client's sake; the store dates it */
        code = dd_time_parse(json_string_value(v[3]), ts, &err);
    patch_args a = {id, v};
    if (code == DD_OK)
        code = dd_store_atomic(st, experiment_patch, &a, &err);
    if (code == DD_OK)
        dd_reply_updated(r);
    else
        dd_reply_store_error(r, "update", "experiment", &err);
    json_decref(root);
}

/* With its iterations, resources and tags (cascade): the REST DELETE removes it whole. */
static dd_code delete_experiment(dd_store *st, int64_t id, dd_err *err)
{
    return dd_experiment_delete(st, id, true, err);
}

void h_experiment_delete(dd_req *r)
{
    dd_serve_delete(r, delete_experiment, "experiment", false);
}

/* ---------------------------------------------------------------- iterations */

DD_FETCH_FN(fetch_iteration, dd_iteration, dd_iteration_get, dd_json_iteration,
            dd_iteration_clear)
DD_LIST_FN(list_iterations, dd_iteration, dd_iteration_list, dd_json_iteration)

void h_iteration_get(dd_req *r)
{
    dd_serve_get(r, fetch_iteration, "NOT_FOUND", "Iteration not found");
}

void h_iteration_list(dd_req *r)
{
    dd_serve_list(r, list_iterations);
}

static int append_iteration(void *ctx, const dd_iteration *it)
{
    json_array_append_new(ctx, dd_json_iteration(it));
    return 0;
}

void h_iteration_children(dd_req *r)
{
    int64_t id;
    if (dd_req_id(r, 0, &id) != 0)
        return;
    json_t *arr = json_array();
    dd_err err = {0};
    dd_code code = dd_iteration_list_children(r->srv->st, id, append_iteration, arr, &err);
    dd_reply_array(r, arr, code, &err);
}

void h_iteration_snapshot(dd_req *r)
{
    static const dd_field spec[] = {
        {"julia_version", F_STRING, true}, {"git_sha", F_STRING, true},
        {"git_dirty", F_BOOL, true},       {"entrypoint", F_STRING, true},
        {"project_toml", F_STRING, true},  {"manifest_toml", F_STRING, true}};
    int64_t id;
    json_t *root, *v[6];
    if (dd_req_id(r, 0, &id) != 0 || dd_req_body(r, spec, 6, &root, v) != 0)
        return;
    dd_snapshot snap = {json_string_value(v[0]), json_string_value(v[1]), json_is_true(v[2]),
                        json_string_value(v[3]), json_string_value(v[4]),
                        json_string_value(v[5])};
    dd_err err = {0};
    dd_code code = dd_iteration_set_snapshot(r->srv->st, id, &snap, &err);
    if (code == DD_OK)
        dd_reply_updated(r);
    else if (code == DD_NOT_FOUND)
        dd_reply_error(r, 404, "NOT_FOUND", "Iteration not found");
    else
        dd_reply_store_error(r, "update", "iteration", &err);
    json_decref(root);
}

void h_iteration_create(dd_req *r)
{
    int64_t eid, parent = 0, id;
    if (dd_req_id(r, 0, &eid) != 0)
        return;
    const char *q = dd_req_query(r, "parent_iteration_id");
    if (q && !dd_parse_id(q, &parent)) {
        dd_reply_error(r, 422, "INVALID_PAYLOAD", "parent_iteration_id must be an integer");
        return;
    }
    if (q && parent <= 0) {   /* 0 would mean "no parent" to the store */
        dd_reply_error(r, 422, "INVALID_PAYLOAD", "Failed to create iteration: "
                       "parent iteration %lld not found", (long long)parent);
        return;
    }
    dd_err err = {0};
    if (dd_iteration_create(r->srv->st, eid, parent, &id, &err) == DD_OK)
        dd_reply_created(r, "iteration_id", id);
    else
        dd_reply_store_error(r, "create", "iteration", &err);
}

/* Before any write: the iteration exists and runs, the status is 1..4, and an end_date
 * comes with a final status (the store dates the end itself). */
static dd_code iteration_patch_check(dd_store *st, int64_t id, json_t **v, dd_err *err)
{
    json_t *status = v[2];
    int64_t s = status ? json_integer_value(status) : 0;
    if (!v[0] && !v[1] && !v[2] && !v[3])
        return dd_fail(err, DD_INVALID, "no field to update");
    if (status && (s < DD_ITER_RUNNING || s > DD_ITER_KILLED))
        return dd_fail(err, DD_INVALID, "status_id must be 1, 2, 3 or 4");
    if (v[1] && (!status || s == DD_ITER_RUNNING))
        return dd_fail(err, DD_INVALID, "end_date is set by a final status_id (2, 3 or 4)");
    char ts[DD_TS_LEN];
    if (v[1] && dd_time_parse(json_string_value(v[1]), ts, err) != DD_OK)
        return err->code;
    dd_iteration it;
    dd_code code = dd_iteration_get(st, id, &it, err);
    if (code == DD_OK && it.end_date[0])
        code = dd_fail(err, DD_READ_ONLY, "iteration %lld has ended", (long long)id);
    if (code == DD_OK || code == DD_READ_ONLY)
        dd_iteration_clear(&it);
    return code;
}

/* The writes of an iteration PATCH (v: notes, end_date, status_id, error_message), in one
 * transaction. Notes first, the status last: the status may end the iteration, after
 * which nothing else could be written. */
static dd_code iteration_patch(dd_store *st, void *ctx, dd_err *err)
{
    patch_args *a = ctx;
    const char *msg = json_string_value(a->v[3]);
    dd_code code = DD_OK;
    if (a->v[0])
        code = dd_iteration_set_notes(st, a->id, json_string_value(a->v[0]), err);
    if (code == DD_OK && a->v[3] && !a->v[2])
        code = dd_iteration_set_error_message(st, a->id, msg, err);
    if (code == DD_OK && a->v[2])
        code = dd_iteration_set_status(st, a->id, (int)json_integer_value(a->v[2]), msg, err);
    return code;
}

void h_iteration_update(dd_req *r)
{
    static const dd_field spec[] = {{"notes", F_STRING, false},
                                    {"end_date", F_STRING, false},
                                    {"status_id", F_INT, false},
                                    {"error_message", F_STRING, false}};
    int64_t id;
    json_t *root, *v[4];
    if (dd_req_id(r, 0, &id) != 0 || dd_req_body(r, spec, 4, &root, v) != 0)
        return;
    dd_store *st = r->srv->st;
    dd_err err = {0};
    dd_code code = iteration_patch_check(st, id, v, &err);
    patch_args a = {id, v};
    if (code == DD_OK)
        code = dd_store_atomic(st, iteration_patch, &a, &err);
    if (code == DD_OK)
        dd_reply_updated(r);
    else
        dd_reply_store_error(r, "update", "iteration", &err);
    json_decref(root);
}

/* The REST delete takes the iteration's data with it (the original API's behaviour). */
static dd_code iteration_delete_cascade(dd_store *st, int64_t id, dd_err *err)
{
    return dd_iteration_delete(st, id, true, err);
}

void h_iteration_delete(dd_req *r)
{
    dd_serve_delete(r, iteration_delete_cascade, "iteration", false);
}
