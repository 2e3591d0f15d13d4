/*
 * metric_body.h - the body of a POST /v1/metrics request (docs/REMOTE.md §2.6) built from
 * node journal records: what the sender (rstore_metrics.c) ships. Pure (no I/O, no
 * globals), thread-safe; fuzz/fuzz_v1_metrics.c checks that the server's parser
 * (server/v1_parse.c) gives back exactly the points it encoded, in both forms.
 */
#ifndef DD_METRIC_BODY_H
#define DD_METRIC_BODY_H

#include <stdbool.h>
#include <stddef.h>

#include "mlog_rec.h"

/* {"batches": [...]} with one batch per record, in order: NUL-terminated malloc'd text,
 * its length in *len (when len is not NULL); NULL when out of memory or when a key or
 * recorded_at is not UTF-8 (a damaged record: the sender retries later, as for memory).
 *
 * columns true (a server whose GET /v1/ says "metric_columns": true): per record
 *   {"iteration_id", "key", "values": [numbers], "steps": null when no point has its own
 *   step, else [step or null, ...], "recorded_at": one string when every point has the
 *   same (the points of one write() do), else [strings]}
 * built in one buffer without a JSON object per point; values in the shortest text
 * strtod reads back bit for bit (dd_format_double). A non-finite value, which no accepted
 * point holds (dd_metric_points_check), is written as null: the server refuses the body
 * (400) and the sender sets it aside, as for any body the server cannot take.
 * columns false (a server without the columnar form): per record {"iteration_id", "key",
 * "points": [[step or null, value, recorded_at], ...]}, the form every server takes. */
char *dd_metric_body(const dd_mlog_rec *const *recs, size_t k, bool columns, size_t *len);

#endif
