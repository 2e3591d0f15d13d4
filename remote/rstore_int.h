/*
 * rstore_int.h - private to the remote store (rstore.c: requests and the answer cache;
 * rstore_ops.c: the table of operations).
 */
#ifndef DD_RSTORE_INT_H
#define DD_RSTORE_INT_H

#include <jansson.h>
#include <pthread.h>

#include "http.h"
#include "journal.h"
#include "remote.h"
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
    dd_token_slot token;    /* empty until the first request (remote.h) */
    /* path -> [expiry, answer] for the ttl; "#<kind>:<id>" -> owner id (which listing
     * holds a row known only by its id; ids are never reused, so these never expire) */
    json_t *cache;
    unsigned long requests;
    unsigned long stored;   /* answers put in the cache; every 256th sweeps out the stale */
    rs_metrics *metrics;    /* NULL until rs_metrics_start: appends are then refused */
    bool metric_columns;    /* GET /v1/ said the server takes columnar metric batches (set
                               at open, before the sender starts; read-only after) */
} rstore;

/* GET `path` (below the server URL) and its 200 answer (a new reference) into *out:
 * from the cache while younger than the ttl, else from the server (a /v1/ls listing
 * with every page, its entries merged). 404, and 403 (a project the user may not read),
 * are DD_NOT_FOUND; 401 DD_DENIED (syslog: `deardiary login URL`); 503 DD_BUSY;
 * other statuses DD_INVALID (4xx) or DD_IO (5xx, unreachable), naming the server's
 * {code, message}. */
dd_code rs_get(dd_store *st, json_t **out, dd_err *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* `method` `path` with JSON `body` (taken; NULL for none: GET and DELETE only, else a
 * json_pack that failed on text that is not UTF-8: DD_INVALID), never from the cache and never cached; the 200/201 answer into
 * *out (NULL: dropped). A write (any method but GET) drops every cached answer before it
 * returns, whatever its outcome (a refused one may have raced a change): the next read of
 * any directory asks the server again, so a write is never followed by a stale answer.
 * Refusals map to the store's codes as REMOTE.md §6 says (status_code in rstore.c). */
dd_code rs_send(dd_store *st, const char *method, json_t *body, json_t **out, dd_err *err,
                const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* rs_get with answers kept `ttl` seconds (what changes rarely: the token's user). */
dd_code rs_get_for(dd_store *st, double ttl, json_t **out, dd_err *err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Remember that row `id` of `kind` ("series", "param"...) is listed under owner `owner`
 * (its iteration, experiment, model...), and look it up: 0 when never seen. */
void rs_index_put(dd_store *st, const char *kind, int64_t id, int64_t owner);
int64_t rs_index_get(dd_store *st, const char *kind, int64_t id);

/* A copy of the token to send (the caller wipes and frees it), for the requests that
 * do not go through rs_get (artifact bytes, rstore_artifacts.c). */
dd_code rs_token_dup(dd_store *st, char **out, dd_err *err);

/* Forget the answer to GET `fmt...` (a write through this mount changed it: the next
 * read asks the server). */
void rs_forget(dd_store *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* rstore_artifacts.c: the table's entry for dd_resource_check_replaceable. */
dd_code rs_resource_check_replaceable(dd_store *st, int64_t id, dd_err *err);

/* dd_store_close's call: frees the implementation. */
void rs_close(dd_store *st);

/* The entries rstore_write.c fills (the non-metric writes, REMOTE.md §9), each
 * `rw_<entry>` with the table's signature; rstore_ops.c's table lists them through
 * RS_WRITE_ENTRIES, so the one const table stays in one place. */
#define RS_WRITE_ENTRIES(X)                                                                 \
    X(project_create) X(project_rename) X(project_set_description) X(project_delete)        \
    X(experiment_create) X(experiment_rename) X(experiment_set_description)                 \
    X(experiment_set_status) X(experiment_delete) X(iteration_create)                       \
    X(iteration_set_status) X(iteration_set_notes) X(iteration_set_error_message)           \
    X(iteration_delete) X(param_set) X(param_set_many) X(param_replace_all) X(param_delete) \
    X(param_rename) X(resource_rename) X(resource_delete) X(tag_attach) X(tag_detach)       \
    X(delete_check) X(model_create) X(model_rename) X(model_set_description)                \
    X(model_delete) X(version_create_as) X(version_set_stage_as)                            \
    X(version_set_description) X(version_delete) X(alias_set) X(alias_delete)               \
    X(alias_rename) X(metric_delete) X(metric_append_items)

/* The rights entries (rstore_rights.c): the token's user and its rights per project,
 * from the listings' `rights`, for the modes of REMOTE.md §6 (fs/nodes.c). */
#define RS_RIGHTS_ENTRIES(X) X(user_find) X(permission_list) X(project_of)

#define RS_DECLARE(entry) extern __typeof__(*((dd_store_ops *)0)->entry) rw_##entry;
RS_WRITE_ENTRIES(RS_DECLARE)
RS_RIGHTS_ENTRIES(RS_DECLARE)
#undef RS_DECLARE

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
/* This mount changed iteration `iid`'s status: its next metric append asks the server
 * whether it still runs, rather than trusting that it was seen running within the ttl
 * (an append accepted after `echo KILLED > status` would be acknowledged, then refused
 * by the server: a lost point). */
void rs_metrics_forget_running(dd_store *st, int64_t iid);
/* The table's entries (store_ops.h contracts; REMOTE.md §4.2, §4.6). */
dd_code rs_metric_append(dd_store *st, int64_t iteration_id, const char *key,
                         const dd_metric_point *points, size_t n, dd_err *err);
dd_code rs_metric_append_logged(dd_store *st, int64_t iteration_id, const char *key,
                                const dd_metric_point *points, size_t n, dd_err *err);
dd_code rs_metric_log_drain(dd_store *st, dd_err *err);
dd_code rs_metric_read(dd_store *st, int64_t iteration_id, const char *key, bool resume,
                       int64_t after_step, int64_t after_id, dd_metric_cb cb, void *ctx,
                       dd_err *err);
/* A write that must reach the server after this node's points of series (iteration_id,
 * key) (the series' delete, a metrics.json naming it: REMOTE.md §4.9) waits until the
 * journal's records of it appended before the call are delivered: DD_OK then (at once
 * when there are none); DD_IO when a delivery attempt fails meanwhile (the server is out
 * of reach: EIO, as every write that is not journaled); DD_BUSY after 30 s of a server
 * that takes them slowly. */
dd_code rs_metrics_flush(dd_store *st, int64_t iteration_id, const char *key, dd_err *err);
/* A series summary that counts the node's undelivered points must be read consistently
 * with them: rs_metrics_view_begin, when the journal holds points of the iteration, waits
 * for the delivery in flight and takes the view lock (true), so the answer fetched next
 * and rs_metrics_undelivered see each point exactly once; rs_metrics_view_end (only
 * after true) releases it. */
bool rs_metrics_view_begin(dd_store *st, int64_t iteration_id);
void rs_metrics_view_end(dd_store *st);
/* Every undelivered point of the iteration with its key, in acceptance order (journal.h
 * dd_journal_iteration); nothing without a journal. */
void rs_metrics_undelivered(dd_store *st, int64_t iteration_id, dd_journal_keyed_cb cb,
                            void *ctx);
/* Series ids of this mount's own range (above any id a server hands out, below the
 * inode's 48 bits): a series shown while only the journal held it keeps the id it was
 * given then for the mount's life (or until it is deleted), so its inode never changes
 * under a reader (REMOTE.md §10). rs_metrics_local_id: the id of (iteration_id, key), made when `create`, 0 when
 * none; rs_metrics_local_series: the series of such an id (*key_out malloc'd). */
#define RS_LOCAL_SERIES ((int64_t)1 << 46)
int64_t rs_metrics_local_id(dd_store *st, int64_t iteration_id, const char *key, bool create);
bool rs_metrics_local_series(dd_store *st, int64_t id, int64_t *iteration_id, char **key_out);
/* The series was deleted: its id names nothing from now on (never another series: an
 * inode the kernel may still hold must not come back as a new file). */
void rs_metrics_local_forget(dd_store *st, int64_t iteration_id, const char *key);
/* The server's points of one series (rstore_ops.c: GET /metric/iteration/{iid}), in its
 * order (step, then position), to cb; *keep receives the answer their strings point into
 * (the caller json_decref's it, also on failure). */
dd_code rs_server_metric_rows(dd_store *st, int64_t iteration_id, const char *key,
                              dd_metric_cb cb, void *ctx, json_t **keep, dd_err *err);

#endif
