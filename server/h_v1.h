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

#endif
