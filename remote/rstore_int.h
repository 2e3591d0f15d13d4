/*
 * rstore_int.h - private to the remote store (rstore.c: requests and the answer cache;
 * rstore_ops.c: the table of operations).
 */
#ifndef DD_RSTORE_INT_H
#define DD_RSTORE_INT_H

#include <jansson.h>
#include <pthread.h>

#include "http.h"
#include "rstore.h"
#include "store_ops.h"

/* Metric appends through the node journal (rstore_metrics.c). */
typedef struct rs_metrics rs_metrics;

/* A wrapped store's implementation (dd_store_impl). */
typedef struct rstore {
    char *url;              /* canonical (creds.h): what dd_store_path answers */
    double ttl;             /* seconds an answer is reused */
    /* One connection, one request at a time: mu is held across each request. (A pool
     * per FUSE worker is for R5/R8, when writes and the benchmarks need it.) */
    pthread_mutex_t mu;
    dd_http *http;          /* NULL: answers come from the cache only (fuzzing) */
    char *token;            /* NULL until the first request */
    double token_at;        /* monotonic seconds when it was read (re-read every 60 s) */
    /* path -> [expiry, answer] for the ttl; "#<kind>:<id>" -> owner id (which listing
     * holds a row known only by its id; ids are never reused, so these never expire) */
    json_t *cache;
    unsigned long requests;
    unsigned long stored;   /* answers put in the cache; every 256th sweeps out the stale */
    rs_metrics *metrics;    /* NULL until rs_metrics_start: appends are then refused */
} rstore;

/* GET `path` (below the server URL) and its 200 answer (a new reference) into *out:
 * from the cache while younger than the ttl, else from the server (a /v1/ls listing
 * with every page, its entries merged). 404, and 403 (a project the user may not read),
 * are DD_NOT_FOUND; 401 DD_FORBIDDEN (syslog: `deardiary login URL`); 503 DD_BUSY;
 * other statuses DD_INVALID (4xx) or DD_IO (5xx, unreachable), naming the server's
 * {code, message}. */
dd_code rs_get(dd_store *st, json_t **out, dd_err *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Remember that row `id` of `kind` ("series", "param"...) is listed under owner `owner`
 * (its iteration, experiment, model...), and look it up: 0 when never seen. */
void rs_index_put(dd_store *st, const char *kind, int64_t id, int64_t owner);
int64_t rs_index_get(dd_store *st, const char *kind, int64_t id);

/* dd_store_close's call: frees the implementation. */
void rs_close(dd_store *st);

extern const dd_store_ops dd_store_remote_ops;

/* ---- metric appends (rstore_metrics.c; docs/REMOTE.md §4) */

/* Open the node journal under `journal_dir` ("" or NULL: $XDG_STATE_HOME/deardiary/
 * journal), bounded by `journal_max` bytes, take over a dead mount's, and start the
 * sender (its own connection, CAs of `cacert`). The mount's daemon calls it once, after
 * the fork. */
dd_code rs_metrics_start(dd_store *st, const char *journal_dir, int64_t journal_max,
                         const char *cacert, dd_err *err);
/* Stop the sender (after up to 5 s for the undelivered points while the server takes
 * them) and close the journal; what is left is delivered by the next mount. */
void rs_metrics_stop(dd_store *st);
/* The table's entries (store_ops.h contracts; REMOTE.md §4.2, §4.6). */
dd_code rs_metric_append(dd_store *st, int64_t iteration_id, const char *key,
                         const dd_metric_point *points, size_t n, dd_err *err);
dd_code rs_metric_append_logged(dd_store *st, int64_t iteration_id, const char *key,
                                const dd_metric_point *points, size_t n, dd_err *err);
dd_code rs_metric_log_drain(dd_store *st, dd_err *err);
dd_code rs_metric_read(dd_store *st, int64_t iteration_id, const char *key, bool resume,
                       int64_t after_step, int64_t after_id, dd_metric_cb cb, void *ctx,
                       dd_err *err);
/* The server's points of one series (rstore_ops.c: GET /metric/iteration/{iid}), in its
 * order (step, then position), to cb; *keep receives the answer their strings point into
 * (the caller json_decref's it, also on failure). */
dd_code rs_server_metric_rows(dd_store *st, int64_t iteration_id, const char *key,
                              dd_metric_cb cb, void *ctx, json_t **keep, dd_err *err);

#endif
