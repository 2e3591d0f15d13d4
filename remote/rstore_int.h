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

extern const dd_store_ops dd_store_remote_ops;

#endif
