/*
 * rstore_write.c - the remote store's non-metric writes (docs/REMOTE.md §3, §9, step R5):
 * each store call is one synchronous request (rs_send: refusals mapped back to the local
 * store's codes, every cached answer dropped before it returns). Not journaled: an
 * unreachable server is DD_IO (EIO, with a syslog line naming the error). Metric appends
 * (R6) and artifact bytes (R7) are not here.
 *
 * Which request serves which call (the original's route where it maps one to one, /v1
 * otherwise; server/h_v1.h):
 *
 *   project_create                  POST /project {name} (admin-only, as locally)
 *   project_rename                  PATCH /project/{id} {name} (admin-only, as locally)
 *   project_set_description         PATCH /v1/project/{id} {description}
 *   experiment_create               POST /experiment/project/{pid} {status_id: 1, name}
 *   experiment_rename, _set_description, _set_status
 *                                   PATCH /v1/experiment/{id} {name|description|status}
 *   iteration_create                POST /iteration/experiment/{eid}[?parent_iteration_id=]
 *   iteration_set_notes, _set_error_message, _set_status
 *                                   PATCH /iteration/{id} {notes|error_message|status_id}
 *   {project,experiment,iteration}_delete
 *                                   DELETE /v1/<kind>/{id}?cascade=0|1
 *   delete_check                    GET /v1/delete-check/<kind>/{id} (never cached)
 *   param_set                       PATCH /parameter/{id} {value} when the listing shows
 *                                   the key, else POST /parameter/iteration/{iid} {key,
 *                                   value} (each falls back on the other once when the
 *                                   listing was stale)
 *   param_set_many, _replace_all    PUT /v1/iteration/{iid}/params {params, replace}
 *   param_delete                    DELETE /parameter/{id} (the id from the listing)
 *   param_rename                    POST /v1/iteration/{iid}/params/rename {from, to}
 *   tag_attach                      POST /tag/<kind>/{id} {value}
 *   tag_detach                      POST /v1/tag/<kind>/{id}/detach {value}
 *   resource_rename                 PATCH /v1/resource/{id} {name}
 *   resource_delete                 DELETE /resource/{id}
 *   model_create                    POST /model/project/{pid} {name, description}
 *   model_rename, _set_description  PATCH /model/{id} {name|description}
 *   model_delete                    DELETE /model/{id}
 *   version_create_as               POST /v1/model/{mid}/version {iteration_id, resource
 *                                   (its name), description}: answers the number too
 *   version_set_stage_as            PATCH /modelversion/{id} {stage_id}
 *   version_set_description         PATCH /modelversion/{id} {description}
 *   version_delete                  DELETE /modelversion/{id}
 *   alias_set, _delete, _rename     PUT /v1/model/{mid}/alias, POST .../alias/delete,
 *                                   POST .../alias/rename
 *   metric_delete                   POST /v1/iteration/{iid}/metrics/delete {key}, once
 *                                   the node's undelivered points of the series are
 *                                   delivered (rs_metrics_flush: REMOTE.md §4.9)
 *   metric_append_items             POST /metric/iteration/{iid}/batch {metrics: [{key,
 *                                   value}...]} (one transaction; a metrics.json), once
 *                                   the node's undelivered points of its keys are
 *                                   delivered, so default steps follow them
 *
 * The server acts as the token's user: the user ids some calls take (the creator, whom
 * the stage history names) are the daemon's idea of the caller and are not sent.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rstore_int.h"

/* ---------------------------------------------------------------- shapes */

/* The id a creation answered under `key` into *id_out (may be NULL). */
static dd_code created(dd_code code, json_t *reply, const char *key, int64_t *id_out,
                       dd_err *err)
{
    json_t *id = json_object_get(reply, key);
    if (code == DD_OK && !json_is_integer(id))
        code = dd_fail(err, DD_IO, "the server's answer has no %s", key);
    if (code == DD_OK && id_out)
        *id_out = (int64_t)json_integer_value(id);
    json_decref(reply);
    return code;
}

/* One text field of an entity by id: `method` `path` (with the id) {`field`: text}. */
#define TEXT_WRITE(fn, method, path, field)                                                 \
    dd_code fn(dd_store *st, int64_t id, const char *text, dd_err *err)             \
    {                                                                                      \
        return rs_send(st, method, json_pack("{s:s}", field, text), NULL, err,             \
                       path "/%" PRId64, id);                                              \
    }

TEXT_WRITE(rw_project_rename, "PATCH", "/project", "name")
TEXT_WRITE(rw_project_set_description, "PATCH", "/v1/project", "description")
TEXT_WRITE(rw_experiment_rename, "PATCH", "/v1/experiment", "name")
TEXT_WRITE(rw_experiment_set_description, "PATCH", "/v1/experiment", "description")
TEXT_WRITE(rw_iteration_set_notes, "PATCH", "/iteration", "notes")
TEXT_WRITE(rw_iteration_set_error_message, "PATCH", "/iteration", "error_message")
TEXT_WRITE(rw_resource_rename, "PATCH", "/v1/resource", "name")
TEXT_WRITE(rw_model_rename, "PATCH", "/model", "name")
TEXT_WRITE(rw_model_set_description, "PATCH", "/model", "description")
TEXT_WRITE(rw_version_set_description, "PATCH", "/modelversion", "description")

/* DELETE of an entity by id. */
#define ID_DELETE(fn, path)                                                                 \
    dd_code fn(dd_store *st, int64_t id, dd_err *err)                               \
    {                                                                                      \
        return rs_send(st, "DELETE", NULL, NULL, err, path "/%" PRId64, id);               \
    }

ID_DELETE(rw_resource_delete, "/resource")
ID_DELETE(rw_model_delete, "/model")
ID_DELETE(rw_version_delete, "/modelversion")

/* rmdir (no cascade) or the end of `rm -r` (cascade) of a project, experiment, iteration. */
#define TREE_DELETE(fn, kind)                                                               \
    dd_code fn(dd_store *st, int64_t id, bool cascade, dd_err *err)                 \
    {                                                                                      \
        return rs_send(st, "DELETE", NULL, NULL, err, "/v1/" kind "/%" PRId64 "?cascade=%d", \
                       id, cascade ? 1 : 0);                                               \
    }

TREE_DELETE(rw_project_delete, "project")
TREE_DELETE(rw_experiment_delete, "experiment")
TREE_DELETE(rw_iteration_delete, "iteration")

static const char *tag_word(dd_tag_kind kind)
{
    return kind == DD_TAG_PROJECT ? "project" : kind == DD_TAG_EXPERIMENT ? "experiment"
                                                                          : "iteration";
}

/* ---------------------------------------------------------------- creations */

dd_code rw_project_create(dd_store *st, int64_t user_id, const char *name,
                                int64_t *id_out, dd_err *err)
{
    (void)user_id;   /* the server's creator is the token's user */
    json_t *reply;
    dd_code code = rs_send(st, "POST", json_pack("{s:s}", "name", name), &reply, err,
                           "/project");
    return created(code, reply, "project_id", id_out, err);
}

dd_code rw_experiment_create(dd_store *st, int64_t project_id, const char *name,
                                   int64_t *id_out, dd_err *err)
{
    json_t *reply;
    dd_code code = rs_send(st, "POST",
                           json_pack("{s:i, s:s}", "status_id", DD_EXP_IN_PROGRESS, "name", name),
                           &reply, err, "/experiment/project/%" PRId64, project_id);
    return created(code, reply, "experiment_id", id_out, err);
}

dd_code rw_iteration_create(dd_store *st, int64_t experiment_id, int64_t parent_id,
                                  int64_t *id_out, dd_err *err)
{
    json_t *reply;
    dd_code code = parent_id
        ? rs_send(st, "POST", json_object(), &reply, err,
                  "/iteration/experiment/%" PRId64 "?parent_iteration_id=%" PRId64,
                  experiment_id, parent_id)
        : rs_send(st, "POST", json_object(), &reply, err, "/iteration/experiment/%" PRId64,
                  experiment_id);
    return created(code, reply, "iteration_id", id_out, err);
}

dd_code rw_model_create(dd_store *st, int64_t project_id, const char *name,
                              const char *description, int64_t *id_out, dd_err *err)
{
    json_t *reply;
    dd_code code = rs_send(st, "POST",
                           json_pack("{s:s, s:s}", "name", name, "description",
                                     description ? description : ""),
                           &reply, err, "/model/project/%" PRId64, project_id);
    return created(code, reply, "model_id", id_out, err);
}

dd_code rw_tag_attach(dd_store *st, dd_tag_kind kind, int64_t entity_id,
                            const char *value, int64_t *link_id_out, dd_err *err)
{
    json_t *reply;
    dd_code code = rs_send(st, "POST", json_pack("{s:s}", "value", value), &reply, err,
                           "/tag/%s/%" PRId64, tag_word(kind), entity_id);
    return created(code, reply, "association_id", link_id_out, err);
}

/* The resource is sent by name (the /v1 registration finds it in the iteration's
 * experiment in the creating transaction) and the answer carries the version's number,
 * which the original's POST /modelversion/model/{mid} does not. */
dd_code rw_version_create_as(dd_store *st, int64_t model_id, int64_t iteration_id,
                                   int64_t resource_id, const char *description,
                                   int64_t user_id, int64_t *id_out, int64_t *version_out,
                                   dd_err *err)
{
    (void)user_id;   /* the stage history names the token's user */
    dd_resource res = {0};
    dd_code code = resource_id ? dd_resource_get(st, resource_id, &res, err) : DD_OK;
    if (code != DD_OK)
        return code;
    json_t *reply = NULL;
    code = rs_send(st, "POST",
                   json_pack("{s:I, s:s?, s:s}", "iteration_id", (json_int_t)iteration_id,
                             "resource", resource_id ? res.name : NULL, "description",
                             description ? description : ""),
                   &reply, err, "/v1/model/%" PRId64 "/version", model_id);
    dd_resource_clear(&res);
    if (code == DD_OK && version_out)
        *version_out = (int64_t)json_integer_value(json_object_get(reply, "version"));
    return created(code, reply, "version_id", id_out, err);
}

/* ---------------------------------------------------------------- statuses */

dd_code rw_experiment_set_status(dd_store *st, int64_t id, int status, dd_err *err)
{
    const char *name = dd_experiment_status_name(status);
    if (!name)
        return dd_fail(err, DD_INVALID, "experiment status %d is not one", status);
    return rs_send(st, "PATCH", json_pack("{s:s}", "status", name), NULL, err,
                   "/v1/experiment/%" PRId64, id);
}

dd_code rw_iteration_set_status(dd_store *st, int64_t id, int status,
                                      const char *error_message, dd_err *err)
{
    dd_code code = rs_send(st, "PATCH", json_pack("{s:i, s:s*}", "status_id", status,
                                                  "error_message", error_message),
                           NULL, err, "/iteration/%" PRId64, id);
    /* after the answer (an append checked meanwhile re-notes it), whatever it was: a
     * request that failed may still have committed */
    rs_metrics_forget_running(st, id);
    return code;
}

dd_code rw_version_set_stage_as(dd_store *st, int64_t id, int stage, int64_t user_id,
                                      dd_err *err)
{
    (void)user_id;   /* the stage history names the token's user */
    return rs_send(st, "PATCH", json_pack("{s:i}", "stage_id", stage), NULL, err,
                   "/modelversion/%" PRId64, id);
}

/* ---------------------------------------------------------------- parameters */

static dd_code param_patch(dd_store *st, int64_t id, const char *value, dd_err *err)
{
    return rs_send(st, "PATCH", json_pack("{s:s}", "value", value), NULL, err,
                   "/parameter/%" PRId64, id);
}

static dd_code param_post(dd_store *st, int64_t iteration_id, const char *key,
                          const char *value, dd_err *err)
{
    return rs_send(st, "POST", json_pack("{s:s, s:s}", "key", key, "value", value), NULL, err,
                   "/parameter/iteration/%" PRId64, iteration_id);
}

/* Insert or replace: the original has a create (409 when the key exists) and an update
 * by id; the listing says which, and a listing that was stale (another client created
 * or deleted the key meanwhile: 409, or 404 for the id) is corrected once: the refused
 * request changed nothing and dropped the cached listing. */
dd_code rw_param_set(dd_store *st, int64_t iteration_id, const char *key,
                           const char *value, dd_err *err)
{
    int64_t id;
    if (dd_param_find(st, iteration_id, key, &id, NULL) == DD_OK) {
        dd_code code = param_patch(st, id, value, err);
        return code == DD_NOT_FOUND ? param_post(st, iteration_id, key, value, err) : code;
    }
    dd_code code = param_post(st, iteration_id, key, value, err);
    if (code == DD_CONFLICT && dd_param_find(st, iteration_id, key, &id, NULL) == DD_OK)
        code = param_patch(st, id, value, err);
    return code;
}

static dd_code params_put(dd_store *st, int64_t iteration_id, const char *const *keys,
                          const char *const *values, size_t n, bool replace, dd_err *err)
{
    json_t *params = json_object();
    for (size_t i = 0; params && i < n; i++)
        if (json_object_set_new(params, keys[i], json_string(values[i])) != 0) {
            json_decref(params);
            return dd_fail(err, DD_INVALID, "parameter %s: not UTF-8 text", keys[i]);
        }
    return rs_send(st, "PUT", json_pack("{s:o, s:b}", "params", params, "replace", replace),
                   NULL, err, "/v1/iteration/%" PRId64 "/params", iteration_id);
}

dd_code rw_param_set_many(dd_store *st, int64_t iteration_id, const char *const *keys,
                                const char *const *values, size_t n, dd_err *err)
{
    return params_put(st, iteration_id, keys, values, n, false, err);
}

dd_code rw_param_replace_all(dd_store *st, int64_t iteration_id, const char *const *keys,
                                   const char *const *values, size_t n, dd_err *err)
{
    return params_put(st, iteration_id, keys, values, n, true, err);
}

dd_code rw_param_delete(dd_store *st, int64_t iteration_id, const char *key, dd_err *err)
{
    int64_t id;
    dd_code code = dd_param_find(st, iteration_id, key, &id, err);
    return code == DD_OK ? rs_send(st, "DELETE", NULL, NULL, err, "/parameter/%" PRId64, id)
                         : code;
}

dd_code rw_param_rename(dd_store *st, int64_t iteration_id, const char *old_key,
                              const char *new_key, dd_err *err)
{
    return rs_send(st, "POST", json_pack("{s:s, s:s}", "from", old_key, "to", new_key), NULL,
                   err, "/v1/iteration/%" PRId64 "/params/rename", iteration_id);
}

/* ---------------------------------------------------------------- tags, aliases, rm -r */

dd_code rw_tag_detach(dd_store *st, dd_tag_kind kind, int64_t entity_id,
                            const char *value, dd_err *err)
{
    return rs_send(st, "POST", json_pack("{s:s}", "value", value), NULL, err,
                   "/v1/tag/%s/%" PRId64 "/detach", tag_word(kind), entity_id);
}

dd_code rw_delete_check(dd_store *st, dd_tag_kind kind, int64_t id, dd_err *err)
{
    return rs_send(st, "GET", NULL, NULL, err, "/v1/delete-check/%s/%" PRId64, tag_word(kind),
                   id);
}

dd_code rw_alias_set(dd_store *st, int64_t model_id, const char *alias,
                           int64_t version_id, dd_err *err)
{
    return rs_send(st, "PUT",
                   json_pack("{s:s, s:I}", "alias", alias, "version_id", (json_int_t)version_id),
                   NULL, err, "/v1/model/%" PRId64 "/alias", model_id);
}

dd_code rw_alias_delete(dd_store *st, int64_t model_id, const char *alias, dd_err *err)
{
    return rs_send(st, "POST", json_pack("{s:s}", "alias", alias), NULL, err,
                   "/v1/model/%" PRId64 "/alias/delete", model_id);
}

dd_code rw_alias_rename(dd_store *st, int64_t model_id, const char *from, const char *to,
                              dd_err *err)
{
    return rs_send(st, "POST", json_pack("{s:s, s:s}", "from", from, "to", to), NULL, err,
                   "/v1/model/%" PRId64 "/alias/rename", model_id);
}

/* ---------------------------------------------------------------- metrics (REMOTE.md §4.9) */

dd_code rw_metric_delete(dd_store *st, int64_t iteration_id, const char *key, dd_err *err)
{
    dd_code code = rs_metrics_flush(st, iteration_id, key, err);
    if (code == DD_OK)
        code = rs_send(st, "POST", json_pack("{s:s}", "key", key), NULL, err,
                       "/v1/iteration/%" PRId64 "/metrics/delete", iteration_id);
    if (code == DD_OK)
        rs_metrics_local_forget(st, iteration_id, key);
    return code;
}

/* The batch route's body: one step and one time for all (as the original's route, and as
 * a metrics.json has: none), each item {key, value}; the items' checks are the local
 * store's, and each key's undelivered points are flushed first. NULL with *code set. */
static json_t *items_body(dd_store *st, int64_t iid, const dd_metric_item *items, size_t n,
                          dd_code *code, dd_err *err)
{
    json_t *arr = json_array(), *seen = json_object();
    const dd_metric_point *first = n ? &items[0].point : NULL;
    *code = arr && seen ? DD_OK : dd_fail(err, DD_IO, "out of memory");
    for (size_t i = 0; *code == DD_OK && i < n; i++) {
        dd_metric_point pt = items[i].point;
        *code = dd_name_check(items[i].key, "metric key", err);
        if (*code == DD_OK)
            *code = dd_metric_points_check(items[i].key, &pt, 1, err);
        if (*code == DD_OK && (pt.has_step != first->has_step ||
                               (pt.has_step && pt.step != first->step) ||
                               strcmp(items[i].point.recorded_at, first->recorded_at) != 0))
            *code = dd_fail(err, DD_UNSUPPORTED, "a remote store sends one step and one time "
                            "for all the points of a batch");
        if (*code == DD_OK && !json_object_get(seen, items[i].key)) {
            *code = rs_metrics_flush(st, iid, items[i].key, err);
            json_object_set_new(seen, items[i].key, json_true());
        }
        if (*code == DD_OK && json_array_append_new(arr, json_pack("{s:s,s:f}", "key",
                                                                   items[i].key, "value",
                                                                   pt.value)) != 0)
            *code = dd_fail(err, DD_IO, "out of memory");
    }
    json_decref(seen);
    json_t *body = *code == DD_OK ? json_pack("{s:o}", "metrics", arr) : NULL;
    if (*code != DD_OK)
        json_decref(arr);
    if (body && first && first->has_step)
        json_object_set_new(body, "step", json_integer((json_int_t)first->step));
    if (body && first && first->recorded_at[0])
        json_object_set_new(body, "recorded_at", json_string(first->recorded_at));
    if (*code == DD_OK && !body)
        *code = dd_fail(err, DD_IO, "out of memory");
    return body;
}

dd_code rw_metric_append_items(dd_store *st, int64_t iteration_id, const dd_metric_item *items,
                               size_t n, int64_t *series_out, int64_t *position_out,
                               dd_err *err)
{
    dd_code code;
    json_t *body = items_body(st, iteration_id, items, n, &code, err), *reply = NULL;
    if (code == DD_OK)
        code = rs_send(st, "POST", body, &reply, err, "/metric/iteration/%" PRId64 "/batch",
                       iteration_id);
    json_t *ids = json_object_get(reply, "metric_ids");
    if (code == DD_OK && json_array_size(ids) != n)
        code = dd_fail(err, DD_IO, "the server's answer names %zu points, not %zu",
                       json_array_size(ids), n);
    for (size_t i = 0; code == DD_OK && i < n; i++) {
        int64_t id = (int64_t)json_integer_value(json_array_get(ids, i));
        if (series_out)
            series_out[i] = id >> 32;    /* the original's point id: series << 32 | position */
        if (position_out)
            position_out[i] = id & 0xffffffff;
    }
    json_decref(reply);
    return code;
}
