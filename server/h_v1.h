/*
 * h_v1.h - the /v1 routes: what a filesystem client (remote mounts, docs/REMOTE.md §2)
 * needs and the original's API lacks. Same middleware as every route: authentication,
 * then the guard of the route table (routes.c), then these handlers.
 */
#ifndef DD_H_V1_H
#define DD_H_V1_H

#include "server.h"

/* Entries past this many are left to the next page of a /v1/ls listing. */
#define DD_V1_LS_LIMIT 10000

/*
 * GET /v1/ls/experiment/{eid}/iterations[?after=ID][&limit=N]: an experiment's
 * iterations with every attribute `ls -l` of its iterations/ directory shows, in one
 * request (guard: read on the experiment's project).
 *
 * 200 {"dir": {"dir_time", "rights"}, "entries": [...], "next"}: `dir_time` when an
 * iteration last came or went (null: never since the experiment was created); `rights`
 * the caller's rights on the project as "crud" with '-' for each one missing (admins:
 * "crud"); entries in id order after `after` (default 0), at most `limit` (1 to
 * DD_V1_LS_LIMIT, the default), each {"id", "name" (the directory name), "status",
 * "parent_iteration_id", "created", "modified", "end_date", "ended"}; `next` the `after`
 * of the next page, null on the last. 400 BAD_REQUEST for a non-integer `after` or a
 * `limit` out of range; 404 NOT_FOUND for an unknown experiment.
 */
void h_v1_ls_iterations(dd_req *r);

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

/* GET /v1/: {"protocol": DD_V1_PROTOCOL}, so a client refuses a server that speaks
 * another version of these routes (a server without them answers 404). No guard beyond
 * authentication. */
#define DD_V1_PROTOCOL 1
void h_v1_root(dd_req *r);

#endif
