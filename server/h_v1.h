/*
 * h_v1.h - the /v1 routes: what a filesystem client (remote mounts, docs/REMOTE.md §2)
 * needs and the original's API lacks. Same middleware as every route: authentication,
 * then the guard of the route table (routes.c), then these handlers. Errors use the
 * original's envelope {code, message} with the codes a filesystem needs added (REMOTE.md
 * §2): 404 NOT_FOUND, 409 NAME_TAKEN / NOT_EMPTY / IN_USE, 422 ENDED / INVALID_PAYLOAD.
 */
#ifndef DD_H_V1_H
#define DD_H_V1_H

#include "server.h"

/* Entries past this many are left to the next page of a /v1/ls listing. */
#define DD_V1_LS_LIMIT 10000
/* A parameter value longer than this is listed without its text ("value": null). */
#define DD_V1_LS_VALUE_MAX 1024
/* The longest ?path= of /v1/lookup: two names and an id, with their slashes. */
#define DD_V1_PATH_MAX (2 * DD_NAME_MAX + 2 + 19)

/* ---------------------------------------------------------------- listings (h_v1_ls.c) */

/*
 * GET /v1/ls/<directory>[?after=X][&limit=N]: one directory of the mount with every
 * attribute `ls -l` of it shows, in one request. 200 {"dir", "entries", "next"}: `dir`
 * holds the caller's `rights` on the project ("crud" with '-' for each one missing;
 * admins and auth off: "crud") and when the directory's entries last came or went
 * (`dir_time`, or `dir_times` by sub-directory for an entity's own directory; null:
 * never since the owner was created); at most `limit` entries (1 to DD_V1_LS_LIMIT, the
 * default); `next` the `after` of the next page, null on the last. Entries of a
 * directory that mixes kinds carry "kind". 400 BAD_REQUEST for a bad `after`/`limit` or
 * path id; 404 NOT_FOUND for an unknown owner. Guards (routes.c): read on the project;
 * `projects` and `models` need a token only and leave out the projects (and their
 * models) the caller may not read.
 *
 *   projects                   {id, name, created, modified, rights}
 *   models                     {id, name, project, project_id, created, modified,
 *                               last_version, rights}
 *   project/{pid}              experiment {id, name, status, created, modified, end_date,
 *                               ended}, model {id, name, created, modified, last_version},
 *                               tag {id (the link's), name}; `dir` also holds the
 *                               project's `row` {id, name, description, created, modified}
 *   experiment/{eid}           resource {id, name, size, generation, created, modified,
 *                               backend, broken}, tag; `dir` also holds the experiment's
 *                               `row` {id, project_id, name, description, status, created,
 *                               modified, end_date, ended} and `dir_times` has
 *                               "iterations" too
 *   experiment/{eid}/iterations {id, name, status, parent_iteration_id, created, modified,
 *                               end_date, ended}, paged by id (`after` an iteration id)
 *   iteration/{iid}            param {id, name, size, value (null past
 *                               DD_V1_LS_VALUE_MAX bytes), modified}, metric {id, name,
 *                               size, point_count, step, value, max_step, modified}, env
 *                               {id, name, size}, child {id, name, created}, tag; `dir`
 *                               also says whether the iteration has `ended`, when its
 *                               row last changed (`modified`) and holds
 *                               its `row` (GET /iteration/{id}'s), whose snapshot
 *                               columns are env/'s fixed files
 *   model/{mid}                version {id, name, version, stage, iteration_id,
 *                               resource_id, created, modified}, alias {id, name,
 *                               version_id, version}; `dir` also holds the model's `row`
 *                               {id, project_id, name, description, created, modified,
 *                               last_version}
 *
 * Every listing but the iterations' pages by position (`after` = entries already sent).
 */
void h_v1_ls_projects(dd_req *r);
void h_v1_ls_models(dd_req *r);
void h_v1_ls_project(dd_req *r);
void h_v1_ls_experiment(dd_req *r);
void h_v1_ls_iterations(dd_req *r);
void h_v1_ls_iteration(dd_req *r);
void h_v1_ls_model(dd_req *r);

/* ---------------------------------------------------------------- the rest (h_v1.c) */

/*
 * GET /v1/lookup?path=<project>[/<experiment>[/<iteration id>]] and
 * GET /v1/lookup?model=<name>[&version=<n>]: the entity a mount path names, as the
 * original's GET of that entity shows it, plus "rights" (the caller's on its project)
 * and "ended". Any valid token; 404 NOT_FOUND when any part is unknown and also when the
 * caller may not read the project (absent, not forbidden). 400 BAD_REQUEST when not
 * exactly one of path/model is given, version without model, a path dd_v1_path_parse
 * refuses, a bad model name or a version that is not a positive integer.
 */
void h_v1_lookup(dd_req *r);

/*
 * PUT /v1/model/{mid}/version/{n}/stage {"stage": NAME}: set the stage of version number
 * n of model mid (what `echo PRODUCTION > models/M/versions/3/stage` does), with the
 * store's rule (a new PRODUCTION archives the incumbent in the same transaction). NAME
 * is one of NO_STAGE, STAGING, PRODUCTION, ARCHIVED, as the mount's `stage` file shows.
 * Guard: update on the model's project. 200 {"version_id", "version", "stage"}; 400 for
 * a body that is not {"stage": string}; 422 INVALID_PAYLOAD for another name; 404
 * NOT_FOUND for an unknown model or version number.
 */
void h_v1_version_stage(dd_req *r);

/*
 * POST /v1/model/{mid}/version {"iteration_id": n, "resource": name|null,
 * "description": text|null}: register a version of the model from the iteration and
 * (optionally) its experiment's resource called `name`, looked up in the same
 * transaction as the creation (what `cat versions/new/<iid>:<resource>` does). Guard:
 * create on the model's project; the handler also needs read on the iteration's (403).
 * 201 {"version", "version_id"}; 400 for a body of other types or a bad resource name;
 * 404 NOT_FOUND for an unknown model, iteration or resource; 422 INVALID_PAYLOAD for an
 * iteration or resource of another project.
 */
void h_v1_version_register(dd_req *r);

/*
 * The two calls `rm -r` ends in (REMOTE.md §2.5), for project, experiment, iteration:
 * GET /v1/delete-check/<kind>/{id}: may it be removed with everything in it
 * (dd_delete_check)? 200 {"deletable": true}, 409 IN_USE (a model version needs it),
 * 404 NOT_FOUND. Changes nothing.
 * DELETE /v1/<kind>/{id}[?cascade=1]: with cascade, the check and the whole subtree in
 * one transaction (200 {"message":"OK"}, 409 IN_USE); without, rmdir's rule: 409
 * NOT_EMPTY when it holds anything. 400 for a cascade other than 1/0/true/false.
 * Guard of both: delete on the project (as `rm -r` on a shared mount; the original's
 * DELETE /project/{id} stays admin-only).
 */
void h_v1_delete_check_project(dd_req *r);
void h_v1_delete_check_experiment(dd_req *r);
void h_v1_delete_check_iteration(dd_req *r);
void h_v1_delete_project(dd_req *r);
void h_v1_delete_experiment(dd_req *r);
void h_v1_delete_iteration(dd_req *r);

/*
 * Writes of remote mounts with no one-to-one original route (h_v1_write.c). Each is one
 * store call (or one transaction), 200 {"message": "OK"}, refusals as dd_v1_store_error
 * (404 NOT_FOUND, 409 NAME_TAKEN / NOT_EMPTY / IN_USE, 422 ENDED / INVALID_PAYLOAD, each
 * with the store's "reason"); 400 for a body of other types.
 *
 * PUT /v1/iteration/{iid}/params {"params": {key: value...}, "replace": bool}:
 *   dd_param_set_many, or with replace dd_param_replace_all (`> params.yaml`). Guard:
 *   update.
 * POST /v1/iteration/{iid}/params/rename {"from", "to"}: dd_param_rename (replaces a
 *   parameter called `to`, as mv does). Guard: update.
 * POST /v1/iteration/{iid}/metrics/delete {"key"}: dd_metric_delete, the whole series
 *   (`rm metrics/<key>`; the original's DELETE /metric/{id} refuses: points are
 *   append-only). Guard: delete.
 * POST /v1/tag/{project|experiment|iteration}/{id}/detach {"value"}: dd_tag_detach (the
 *   original's DELETE /tag/{id} deletes the tag itself and is admin-only). Guard: delete.
 * PUT /v1/model/{mid}/alias {"alias", "version_id"}: dd_alias_set (moves an existing one);
 * POST /v1/model/{mid}/alias/delete {"alias"}: dd_alias_delete;
 * POST /v1/model/{mid}/alias/rename {"from", "to"}: dd_alias_rename. Guard: update.
 * PATCH /v1/experiment/{eid} {"name"?, "description"?, "status"?: IN_PROGRESS | STOPPED |
 *   FINISHED}: one transaction (the original's PATCH requires status_id). Guard: update.
 * PATCH /v1/project/{pid} {"description"}: guard update (the original's PATCH
 *   /project/{id}, which renames too, is admin-only, and stays so for renames).
 * PATCH /v1/resource/{id} {"name"}: dd_resource_rename (the original's PATCH replaces
 *   the bytes). Guard: update.
 */
void h_v1_params_put(dd_req *r);
void h_v1_param_rename(dd_req *r);
void h_v1_metric_delete(dd_req *r);
void h_v1_tag_detach_project(dd_req *r);
void h_v1_tag_detach_experiment(dd_req *r);
void h_v1_tag_detach_iteration(dd_req *r);
void h_v1_alias_set(dd_req *r);
void h_v1_alias_delete(dd_req *r);
void h_v1_alias_rename(dd_req *r);
void h_v1_experiment_patch(dd_req *r);
void h_v1_project_describe(dd_req *r);
void h_v1_resource_rename(dd_req *r);

/* GET /v1/: {"protocol": DD_V1_PROTOCOL, "metric_columns": true}, so a client refuses a
 * server that speaks another version of these routes (a server without them answers
 * 404), and sends metric batches in the columnar form only to a server that takes it
 * (one without "metric_columns" gets rows: REMOTE.md §2.7). No guard beyond
 * authentication. */
#define DD_V1_PROTOCOL 1
void h_v1_root(dd_req *r);

/* ---------------------------------------------------------------- helpers (h_v1.c) */

/* The caller's rights on project `pid` as "crud" with '-' for each one missing (admins:
 * "crud"); false after answering 500. */
bool dd_v1_rights(dd_req *r, int64_t pid, char out[5]);
/* A permission row's flags in that form. */
void dd_v1_rights_of(const dd_user_permission *p, char out[5]);
/* ?name as an integer in [lo, hi], `def` when absent; false after answering 400. */
bool dd_v1_query_int(dd_req *r, const char *name, int64_t lo, int64_t hi, int64_t def,
                     int64_t *out);
/* A store failure with the /v1 codes above (NOT_FOUND 404 for every verb). */
void dd_v1_store_error(dd_req *r, const char *verb, const char *what, const dd_err *err);

/* ---------------------------------------------------------------- parsers (v1_parse.c) */

typedef struct dd_v1_path {
    int depth;                          /* 1 project, 2 + experiment, 3 + iteration */
    char project[DD_NAME_MAX + 1];
    char experiment[DD_NAME_MAX + 1];   /* "" below depth 2 */
    int64_t iteration_id;               /* 0 below depth 3 */
} dd_v1_path;

/* Parse a lookup path of `len` bytes (any content): 1 to 3 components split at '/', the
 * first two names (dd_name_check: 1..255 bytes of UTF-8, no control byte, not . or ..),
 * the third a positive decimal id without sign or leading zero. At most DD_V1_PATH_MAX
 * bytes. 0 with *out filled, or 400 with `msg` saying why and *out zeroed. Pure;
 * fuzz/fuzz_v1_lookup.c holds it to these promises. */
int dd_v1_path_parse(const char *s, size_t len, dd_v1_path *out, char *msg, size_t msglen);
/* A yes/no query flag: absent, "0", "false" -> false; "1", "true" -> true; 0, or -1 for
 * anything else (*out untouched). */
int dd_v1_flag_parse(const char *s, bool *out);

/* ---------------------------------------------------------------- POST /v1/metrics */

/* Limits of one delivery request (a node sends at most 10 000 points, REMOTE.md §4.3). */
#define DD_V1_METRICS_POINTS_MAX 10000
#define DD_V1_METRICS_BATCHES_MAX 10000

/*
 * POST /v1/metrics, header Idempotency-Key: <node id>:<seq>, body {"batches": [...]}, each
 * batch one series in either form (REMOTE.md §2.6):
 *   rows     {"iteration_id": n, "key": name, "points": [[step|null, value, recorded_at]]}
 *   columns  {"iteration_id": n, "key": name, "values": [value, ...], "steps": null (or
 *            absent: the server assigns every step) | [step|null, ...], "recorded_at":
 *            one timestamp for every point | [timestamp, ...]} (arrays as long as values;
 *            GET /v1/ says "metric_columns": true where it is taken)
 * a remote mount's journaled points, stored exactly once with
 * dd_metric_deliver: one transaction for every batch; a batch whose iteration is gone,
 * whose project the caller may not create in (PROJECT_PERMISSION_REQUIRED), or that
 * holds a point recorded after its iteration ended is dropped and listed, the rest
 * stored. Guard: a token (the handler checks create per batch's project). 200
 * {"accepted": points stored, "last_steps": {"<iid>/<key>": the series' highest step},
 * "dropped": [{"batch": i, "code": ...}], "duplicate": false}; a key at or below the
 * node's stored seq: 200 {"accepted": 0, "duplicate": true, ...}, nothing changed. 400
 * BAD_REQUEST for a missing or malformed key or body (nothing changed).
 */
void h_v1_metrics(dd_req *r);

/* A parsed delivery body: batches whose keys and points it owns. */
typedef struct dd_v1_metrics {
    dd_metric_delivery *batches;
    size_t n;
    size_t points;    /* over all batches */
} dd_v1_metrics;
/* Parse a POST /v1/metrics body of `len` bytes (any content): a JSON object with exactly
 * "batches", an array of at most DD_V1_METRICS_BATCHES_MAX objects, each with exactly
 * "iteration_id" (positive integer), "key" (dd_name_check) and either "points" (an array
 * of points [null or integer step, finite number, recorded_at dd_time_parse accepts]) or
 * "values" (an array of finite numbers), "recorded_at" (one timestamp, or an array of as
 * many) and optionally "steps" (null, or an array of as many integers or nulls); at most
 * DD_V1_METRICS_POINTS_MAX points over all batches. 0 with *out filled (recorded_at
 * canonical, result DD_OK), or 400 with `msg` and *out empty. Pure;
 * fuzz/fuzz_v1_metrics.c holds it to these promises. */
int dd_v1_metrics_parse(const char *body, size_t len, dd_v1_metrics *out, char *msg,
                        size_t msglen);
void dd_v1_metrics_free(dd_v1_metrics *m);
/* An Idempotency-Key `<32 lowercase hex digits>:<positive decimal seq>`: 0 with the
 * parts, -1 for anything else (outputs untouched). */
int dd_v1_idem_parse(const char *s, char node_id[33], int64_t *seq);

#endif
