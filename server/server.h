/*
 * server.h - `deardiary serve`: the original DearDiary's REST API over the store.
 *
 * Layers: http.c is the only file that knows libmicrohttpd (connections, bodies, limits,
 * CORS, logging); routes.c holds the route table as data and the authorization guards;
 * h_*.c are the handlers, one file per route family, which talk to the store only through
 * backend/include/store.h and backend/include/artifacts.h (no SQL here); json.c validates request bodies
 * (jansson) and builds responses; crud.c answers the get / list / delete shapes the
 * handlers share; jwt.c signs and verifies HS256 tokens (OpenSSL HMAC).
 *
 * Threads: libmicrohttpd's internal thread pool calls the handlers; a dd_server is shared
 * read-only by all of them once started (the store has a connection per thread).
 * Everything a request owns lives in its dd_req, freed when the request completes.
 */
#ifndef DD_SERVER_H
#define DD_SERVER_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "artifacts.h"
#include "reqlog.h"
#include "store.h"

#define DD_SERVER_BODY_MAX (1024 * 1024)   /* JSON bodies above this get 413 */
#define DD_TOKEN_TTL_S (24 * 3600)         /* as the original's TOKEN_TTL_HOURS: server.token_ttl's
                                              default, and the lifetime when it is 0 */
#define DD_SERVER_WORKERS_MAX 256          /* server.threads' upper bound */

/* The dashboard's cache of downsampled metric series (h_ui.c), shared by the threads. */
typedef struct dd_series_cache dd_series_cache;
/* NULL when out of memory: the server then runs without one. */
dd_series_cache *dd_series_cache_new(void);
void dd_series_cache_free(dd_series_cache *c);

/* One worker: its daemon, and its buffer of request log lines (reqlog.h). The daemon's
 * request callbacks get it as their closure; they all run on the daemon's one thread. */
typedef struct dd_worker {
    struct dd_server *srv;
    struct MHD_Daemon *mhd;
    dd_reqlog log;
} dd_worker;

/* Deferred work (http.c, dd_req_defer): requests whose answer waits on a group commit,
 * run by DD_SERVER_WRITERS threads of their own while their connections are suspended. */
#define DD_SERVER_WRITERS 32
typedef struct dd_defer_q {
    pthread_mutex_t mu;        /* guards the queue and `running` */
    pthread_cond_t cv;
    struct dd_req *head, *tail;
    pthread_t threads[DD_SERVER_WRITERS];
    int n_threads;
    bool running;              /* false: dd_req_defer runs the work in the caller */
} dd_defer_q;

/* The one context of a running server (no other mutable globals). */
typedef struct dd_server {
    dd_store *st;
    dd_artifacts *art;
    bool auth;                 /* server.enable_auth */
    const char *jwt_secret;
    int64_t token_ttl_s;       /* server.token_ttl: a token's lifetime (0: DD_TOKEN_TTL_S) */
    char *cors_origin;         /* Access-Control-Allow-Origin value */
    bool cors_credentials;     /* origins listed (no "*") */
    bool log_info;             /* log_level is info or debug: one line per request */
    /* One single-threaded libmicrohttpd daemon per worker, all listening on the same port
     * (SO_REUSEPORT), so the kernel spreads connections over the workers (http.c). */
    struct dd_worker *workers;   /* n_workers of them, n_mhd started */
    int n_workers, n_mhd;
    int max_connections;       /* server.max_connections, over all the daemons */
    _Atomic int connections;   /* open now, over all the daemons */
    /* server.header_timeout: a request's headers must be complete this many seconds after
     * the connection opened or its previous request ended (http.c's sweeper). */
    int header_timeout_s;
    pthread_mutex_t conns_mu;  /* guards `conns` and `sweeping` */
    pthread_cond_t sweep_cv;
    struct conn_state *conns;  /* every open connection */
    bool sweeping;             /* the sweeper thread runs */
    pthread_t sweeper;
    dd_series_cache *series_cache;   /* may be NULL (no caching) */
    dd_defer_q defer;          /* deferred work (dd_req_defer) */
} dd_server;

/* Guards: who may call a route when auth is enabled (§5.5 of the reference). */
typedef enum dd_guard {
    G_NONE,     /* /health, POST /auth: no token at all */
    G_TOKEN,    /* any valid token */
    G_ADMIN,    /* AdminRequired */
    G_SELF,     /* SameUserOrAdminRequired: path segment 2 is the user id */
    G_PROJECT,  /* ProjectPermissionRequired(action), project resolved from the path */
} dd_guard;

typedef enum dd_action { A_NONE, A_CREATE, A_READ, A_UPDATE, A_DELETE } dd_action;

typedef struct dd_req dd_req;
typedef void (*dd_handler)(dd_req *r);
/* The project a project-scoped path names, 0 when it cannot be resolved. */
typedef int64_t (*dd_resolver)(dd_req *r);

typedef struct dd_route {
    const char *method;
    const char *pattern;   /* "/user/{id}/permissions": {x} is one path parameter */
    bool streams;          /* multipart body, streamed (not held in memory)       */
    dd_handler handler;
    dd_guard guard;
    dd_action action;      /* G_PROJECT only */
    dd_resolver resolve;   /* G_PROJECT only */
} dd_route;

#define DD_MAX_PARAMS 3

/* One request. Handlers read the path parameters and body, and answer with one of the
 * dd_reply_* functions (exactly once). */
struct dd_req {
    dd_server *srv;
    struct MHD_Connection *conn;
    const char *method;
    const char *url;
    struct timespec start;
    /* body, accumulated by http.c up to DD_SERVER_BODY_MAX (streaming routes excepted) */
    char *body;
    size_t body_len, body_cap;   /* bytes in it, bytes allocated */
    bool body_too_large;
    /* routing */
    const dd_route *route;
    const char *param[DD_MAX_PARAMS];   /* raw text of each {x}, in order */
    char *path_copy;                    /* the buffer param[] points into */
    int nparams;
    /* the acting user: from the token, or `default` when auth is disabled */
    dd_user user;
    /* the answer */
    int status;
    struct MHD_Response *resp;
    bool answered;         /* the response is queued */
    /* Streaming routes (multipart uploads): the handler runs once the headers are in
     * (after authentication and the guard, so a refused upload is never read), calls
     * dd_req_multipart, and answers from on_done once the body is complete. `stream` is
     * its state, freed with stream_free when the request ends, however it ends. */
    struct MHD_PostProcessor *pp;
    int (*on_part)(dd_req *r, const char *key, const char *data, size_t size);
    void (*on_done)(dd_req *r);
    bool stream_failed;    /* the parser or on_part stopped; on_done answers */
    void *stream;
    void (*stream_free)(void *stream);
    /* Deferred work (dd_req_defer): run by a writer thread while the connection is
     * suspended; `defer_ctx` is its state, freed with defer_free when the request ends. */
    void (*deferred)(dd_req *r);
    dd_req *defer_next;        /* in srv->defer's queue */
    _Atomic bool defer_done;   /* the work has answered: send it when resumed */
    void *defer_ctx;
    void (*defer_free)(void *ctx);
};

/* ---------------------------------------------------------------- http.c */

/* Run work(r) on one of the server's writer threads and answer the request with what it
 * replies (dd_reply_*), keeping the connection suspended meanwhile, so the worker serves
 * its other connections while the write waits for a commit. Why: a worker blocked in a
 * group commit kept its other connections out of that commit, and one commit took the
 * batches of at most as many connections as there are workers that hold one (BENCHMARKS.md,
 * serve, fifth session). `ctx` (work's state, which may be NULL) is freed with ctx_free when
 * the request ends, however it ends. Once the server stops, the work runs here at once.
 * Call from a handler, at most once, with no answer given yet. */
void dd_req_defer(dd_req *r, void (*work)(dd_req *r), void *ctx, void (*ctx_free)(void *ctx));

/* Start listening (srv->header_timeout_s set); 0 or -1 with the reason in `msg`. */
int dd_http_start(dd_server *srv, const char *host, int port, int max_connections, int threads,
                  const char *tls_cert_pem, const char *tls_key_pem, char *msg, size_t msglen);
void dd_http_stop(dd_server *srv);
/* A query-string argument, or NULL. */
const char *dd_req_query(dd_req *r, const char *name);
/* A request header (case-insensitive name), or NULL. */
const char *dd_req_header(dd_req *r, const char *name);
/* Parse the body as multipart/form-data as it arrives: r->on_part gets each piece of each
 * part in order (non-zero from it stops the parsing; the rest of the body is discarded),
 * then r->on_done runs. -1 (nothing set up) when the body is not multipart. */
int dd_req_multipart(dd_req *r);
/* Answer `status` with `len` bytes produced by `read(cls, offset, buf, max)` (returns the
 * count, or -1 on error, which aborts the connection), then `done(cls)`. Content-Type
 * application/octet-stream; `content_range` (may be NULL) is sent as Content-Range. */
/* Answer `status` with `len` bytes at `data`, which outlive the server (an embedded
 * asset), as `content_type`; revalidated by the browser on each load (no-cache). */
void dd_reply_static(dd_req *r, int status, const char *content_type, const void *data,
                     size_t len);
/* Add a header to the reply the handler has built. */
void dd_req_add_header(dd_req *r, const char *name, const char *value);
typedef long (*dd_stream_read)(void *cls, uint64_t off, char *buf, size_t max);
void dd_reply_stream(dd_req *r, int status, uint64_t len, dd_stream_read read,
                     void (*done)(void *cls), void *cls, const char *content_range);

/* ---------------------------------------------------------------- replies (json.c) */

/* Answer `status` with the JSON `body` (reference stolen). */
void dd_reply_json(dd_req *r, int status, json_t *body);
/* The same with the body already as JSON text (malloc'd, taken; NULL: a 500). */
void dd_reply_json_text(dd_req *r, int status, char *text);
/* The error envelope {"code","message"}. */
void dd_reply_error(dd_req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* {"message":"UPDATED"} / {"message":"OK"} / {"<key>": id} with 201. */
void dd_reply_updated(dd_req *r);
void dd_reply_ok(dd_req *r);
void dd_reply_created(dd_req *r, const char *key, int64_t id);
/* What a store failure means over HTTP: `verb` is "create", "update" or "delete",
 * `what` the entity ("user"). DD_CONFLICT/IN_USE/NOT_EMPTY -> 409 CONFLICT; rule
 * violations (DD_INVALID, TOO_LONG, READ_ONLY, FORBIDDEN) -> 422 INVALID_PAYLOAD;
 * DD_NOT_FOUND -> 422 for create and update (a parent or the target is unknown, as the
 * original) and 404 NOT_FOUND for delete; DD_BUSY -> 503; I/O -> 500 SERVER_ERROR. */
void dd_reply_store_error(dd_req *r, const char *verb, const char *what, const dd_err *err);
/* The envelope of a store failure: {"code", "message", "reason"}, `reason` the store's
 * code by name (dd_code_name: "read_only", "too_long"...), so a client such as a remote
 * mount maps the answer back to exactly the code a local store gives (several codes
 * share one HTTP status and `code`). Every store failure answered by the helpers above
 * and dd_v1_store_error carries it; clients of the original ignore the extra member. */
void dd_reply_store_failure(dd_req *r, int status, const char *code, dd_code reason,
                            const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ---------------------------------------------------------------- bodies (json.c) */

typedef enum dd_ftype { F_STRING, F_BOOL, F_INT, F_NUMBER, F_ARRAY, F_ANY } dd_ftype;
typedef struct dd_field {
    const char *name;
    dd_ftype type;
    bool required;
} dd_field;
#define DD_MAX_FIELDS 8

/* Parse `body` as a JSON object and check it against `spec`: every required field present
 * and not null, every present non-null field of its type (F_INT: an integer; F_NUMBER:
 * an integer or a real; F_STRING: valid UTF-8 without NUL). Unknown keys are ignored, as
 * the original. On success returns 0, *root_out owns the document and vals[i] borrows
 * spec[i]'s value (NULL when absent or null). Otherwise returns 400 with `msg` saying
 * why (malformed JSON, not an object, a missing field, a wrong type) and *root_out NULL.
 * Pure: no I/O, bounded by `len`; fuzz/fuzz_json_body.c holds it to these promises. */
int dd_body_check(const char *body, size_t len, const dd_field *spec, size_t n,
                  json_t **root_out, json_t **vals, char *msg, size_t msglen);
/* dd_body_check on the request's body; on failure replies 400 BAD_REQUEST and returns
 * -1. The caller json_decref()s *root_out after a 0 return. */
int dd_req_body(dd_req *r, const dd_field *spec, size_t n, json_t **root_out, json_t **vals);
/* The path parameter `i` as an id (a decimal integer in int64 range); replies 400
 * BAD_REQUEST and returns -1 when it is not one. */
int dd_req_id(dd_req *r, int i, int64_t *out);
/* The user a change is recorded as made by (the stage history): the token's user when auth
 * is enabled, else 0 (not known: every request acts as `default`). */
int64_t dd_acting_user(const dd_req *r);
/* Parse a decimal int64 with nothing around it; false otherwise. */
bool dd_parse_id(const char *s, int64_t *out);

/* JSON of store rows: the original's field names and shapes. */
json_t *dd_json_user(const dd_user *u);
json_t *dd_json_permission(const dd_user_permission *p);
json_t *dd_json_project(const dd_project *p);
json_t *dd_json_experiment(const dd_experiment *e);
json_t *dd_json_iteration(const dd_iteration *it);
json_t *dd_json_model(const dd_model *m);
json_t *dd_json_version(const dd_model_version *v);
/* "" (unset) as null, the rest as strings. */
json_t *dd_json_date(const char *ts);

/* Pagination (§5.3): ?limit (default 50, max 200, negative 0, non-integer 50) and
 * ?offset (default 0, negative or non-integer 0). A page collects rows in
 * [offset, offset+limit) and counts all of them. */
typedef struct dd_page {
    int64_t limit, offset, total;
    json_t *data;
} dd_page;
void dd_page_init(dd_req *r, dd_page *p);
/* Count one more row; true when it falls inside the page (the caller then appends it). */
bool dd_page_take(dd_page *p);
void dd_page_reply(dd_req *r, dd_page *p);

/* ---------------------------------------------------------------- shared shapes (crud.c) */

/* Entity `id` rendered as JSON: *out is a new reference, set when DD_OK is returned
 * (and freed by the caller on any other code, in case a renderer ran before a failure). */
typedef dd_code (*dd_fetch_fn)(dd_store *st, int64_t id, json_t **out, dd_err *err);
/* Offer every row under `parent` to page `p` (dd_page_take keeps those it shows). */
typedef dd_code (*dd_list_fn)(dd_store *st, int64_t parent, dd_page *p, dd_err *err);
typedef dd_code (*dd_delete_fn)(dd_store *st, int64_t id, dd_err *err);

/* A lookup's answer: 200 with `body` on DD_OK, 404 {missing_code, missing_msg} on
 * DD_NOT_FOUND, else 500 SERVER_ERROR with the store's message. Takes `body`. */
void dd_reply_found(dd_req *r, dd_code code, json_t *body, const dd_err *err,
                    const char *missing_code, const char *missing_msg);
/* GET by path parameter 0: `fetch`, then dd_reply_found. */
void dd_serve_get(dd_req *r, dd_fetch_fn fetch, const char *missing_code,
                  const char *missing_msg);
/* A whole listing's answer: 200 with `arr` on DD_OK, else 500 SERVER_ERROR. Takes `arr`. */
void dd_reply_array(dd_req *r, json_t *arr, dd_code code, const dd_err *err);
/* A page's answer: dd_page_reply on DD_OK, else 500 SERVER_ERROR (the rows freed). */
void dd_page_finish(dd_req *r, dd_page *p, dd_code code, const dd_err *err);
/* Paginated GET of the rows under path parameter 0. */
void dd_serve_list(dd_req *r, dd_list_fn list);
/* DELETE by path parameter 0: 200 OK, or dd_reply_store_error(r, "delete", what, ...).
 * `missing_ok`: an unknown id is 200 OK too (the original's answer for some routes). */
void dd_serve_delete(dd_req *r, dd_delete_fn del, const char *what, bool missing_ok);
/* Set one text field of entity `id` (its name, its description). */
typedef dd_code (*dd_set_text_fn)(dd_store *st, int64_t id, const char *text, dd_err *err);
/* PATCH {"name"?, "description"?} of the entity named by path parameter 0: 200 UPDATED,
 * 422 when neither is given, else dd_reply_store_error(r, "update", what, ...). */
void dd_serve_name_update(dd_req *r, dd_set_text_fn rename, dd_set_text_fn describe,
                          const char *what);

/* Define `name`, a dd_fetch_fn for an entity the store reads into a `type` with
 * get(st, id, &row, err), renders with render(&row) and frees with clear(&row). A macro
 * because the row types differ: calling the typed store functions through one generic
 * pointer type would be undefined behaviour. */
#define DD_FETCH_FN(name, type, get, render, clear)                                       \
    static dd_code name(dd_store *st, int64_t id, json_t **out, dd_err *err)              \
    {                                                                                     \
        type row;                                                                         \
        dd_code code = get(st, id, &row, err);                                            \
        if (code == DD_OK) {                                                              \
            *out = render(&row);                                                          \
            clear(&row);                                                                  \
        }                                                                                 \
        return code;                                                                      \
    }

/* Define `name`, a dd_list_fn over list(st, parent, cb, ctx, err), whose callback gets
 * `const type *` rows, each rendered with render(row); and name##_row, that callback. */
#define DD_LIST_FN(name, type, list, render)                                              \
    static int name##_row(void *ctx, const type *row)                                     \
    {                                                                                     \
        dd_page *p = ctx;                                                                 \
        if (dd_page_take(p))                                                              \
            json_array_append_new(p->data, render(row));                                  \
        return 0;                                                                         \
    }                                                                                     \
    static dd_code name(dd_store *st, int64_t parent, dd_page *p, dd_err *err)            \
    {                                                                                     \
        return list(st, parent, name##_row, p, err);                                      \
    }

/* ---------------------------------------------------------------- jwt.c */

typedef enum dd_jwt_result {
    DD_JWT_OK = 0,
    DD_JWT_INVALID,          /* malformed, not HS256, bad signature -> TOKEN_INVALID */
    DD_JWT_PAYLOAD_INVALID,  /* sub/id/exp missing or of the wrong type -> TOKEN_PAYLOAD_INVALID */
    DD_JWT_EXPIRED,          /* exp < now -> TOKEN_EXPIRED */
} dd_jwt_result;

typedef struct dd_jwt_claims {
    int64_t id;
    int64_t exp;
    char sub[DD_NAME_MAX + 1];
} dd_jwt_claims;

/* A token for (sub, id, exp): header {"alg":"HS256","typ":"JWT"}, HMAC-SHA256 with
 * `key`. malloc'd; NULL when memory runs out. */
char *dd_jwt_sign(const char *sub, int64_t id, int64_t exp, const char *key);
/* Verify `token` (len bytes, any content): three base64url parts, a header whose alg is
 * exactly "HS256" (so "none" and every other alg are DD_JWT_INVALID), a signature equal
 * (constant time) to HMAC-SHA256(key, part1 "." part2), then the claims: sub a string,
 * id an integer > 0, exp an integer >= now (DD_JWT_EXPIRED when below). *out is filled
 * only on DD_JWT_OK. Pure (no clock: `now` is passed); fuzz/fuzz_jwt.c checks it. */
dd_jwt_result dd_jwt_verify(const char *token, size_t len, const char *key, int64_t now,
                            dd_jwt_claims *out);

/* ---------------------------------------------------------------- routes.c */

/* Look up the route of (r->method, r->url): r->route (NULL when none), its path
 * parameters in r->param. Nothing else: dd_dispatch authenticates before acting on it. */
void dd_route_lookup(dd_req *r);
/* Authenticate and authorize `r` (its body complete, dd_route_lookup done), then call the
 * route's handler (404 when there is none). Always replies. */
void dd_dispatch(dd_req *r);

/* The handler families (h_*.c) and their resolvers. */
void h_health(dd_req *r);
void h_auth_login(dd_req *r);
void h_auth_refresh(dd_req *r);
void h_auth_me(dd_req *r);
void h_user_list(dd_req *r);
void h_user_create(dd_req *r);
void h_user_get(dd_req *r);
void h_user_permissions(dd_req *r);
void h_user_update(dd_req *r);
void h_user_delete(dd_req *r);
void h_project_list(dd_req *r);
void h_project_get(dd_req *r);
void h_project_members(dd_req *r);
void h_project_create(dd_req *r);
void h_project_update(dd_req *r);
void h_project_delete(dd_req *r);
void h_perm_get(dd_req *r);
void h_perm_create(dd_req *r);
void h_perm_update(dd_req *r);
void h_perm_delete(dd_req *r);
void h_experiment_get(dd_req *r);
void h_experiment_list(dd_req *r);
void h_experiment_create(dd_req *r);
void h_experiment_update(dd_req *r);
void h_experiment_delete(dd_req *r);
void h_iteration_get(dd_req *r);
void h_iteration_list(dd_req *r);
void h_iteration_children(dd_req *r);
void h_iteration_snapshot(dd_req *r);
void h_iteration_create(dd_req *r);
void h_iteration_update(dd_req *r);
void h_iteration_delete(dd_req *r);
void h_param_get(dd_req *r);
void h_param_list(dd_req *r);
void h_param_create(dd_req *r);
void h_param_update(dd_req *r);
void h_param_delete(dd_req *r);
void h_metric_get(dd_req *r);
void h_metric_list(dd_req *r);
void h_metric_create(dd_req *r);
void h_metric_batch(dd_req *r);
void h_metric_immutable(dd_req *r);
void h_tag_get(dd_req *r);
void h_tag_list(dd_req *r);
void h_tag_attach(dd_req *r);
void h_tag_delete(dd_req *r);
void h_resource_get(dd_req *r);
void h_resource_data(dd_req *r);
/* A Range header's value (untrusted; fuzz/fuzz_range.c): a single "bytes=a-b", "bytes=a-"
 * or "bytes=-n" range of a `size`-byte body: 1 with 0 <= *first <= *last < size set, 0 to
 * send it all (no header, another unit, several ranges or bad syntax, which RFC 9110 says
 * to ignore), -1 when it cannot be satisfied (416). */
int dd_range_parse(const char *h, int64_t size, int64_t *first, int64_t *last);
void h_resource_list(dd_req *r);
void h_resource_create(dd_req *r);
void h_resource_update(dd_req *r);
void h_resource_delete(dd_req *r);
void h_model_get(dd_req *r);
void h_model_list(dd_req *r);
void h_model_create(dd_req *r);
void h_model_update(dd_req *r);
void h_model_delete(dd_req *r);
void h_version_get(dd_req *r);
void h_version_list(dd_req *r);
void h_version_create(dd_req *r);
void h_version_update(dd_req *r);
void h_version_delete(dd_req *r);

/* The dashboard (h_ui.c): its embedded files under /ui/, and the /v1/ routes it reads
 * that the original lacks (README "Dashboard"). */
void h_ui_asset(dd_req *r);
void h_v1_auth_mode(dd_req *r);
void h_v1_iteration_table(dd_req *r);
void h_v1_iteration_series(dd_req *r);
void h_v1_iteration_env(dd_req *r);
void h_v1_model_aliases(dd_req *r);
void h_v1_model_stage_history(dd_req *r);

/* Project of the entity named by path parameter 0; 0 when unknown or not an id. */
int64_t dd_resolve_project(dd_req *r);
int64_t dd_resolve_experiment(dd_req *r);
int64_t dd_resolve_iteration(dd_req *r);
int64_t dd_resolve_parameter(dd_req *r);
int64_t dd_resolve_metric(dd_req *r);
int64_t dd_resolve_resource(dd_req *r);
int64_t dd_resolve_model(dd_req *r);
int64_t dd_resolve_version(dd_req *r);
/* The same walks, for handlers: 0 when unknown. */
int64_t dd_project_of_experiment(dd_store *st, int64_t experiment_id);
int64_t dd_project_of_iteration(dd_store *st, int64_t iteration_id);

/* serve_cmd.c */
int dd_cmd_serve(const char *config_file, int argc, char **argv);

#endif
