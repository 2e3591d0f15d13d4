/*
 * http.c - libmicrohttpd glue: the daemon and its limits, request bodies, replies with the
 * CORS headers, and the one log line per request.
 *
 * Limits: a JSON body over DD_SERVER_BODY_MAX is answered 413 without reading it when its
 * Content-Length says so, and the connection is closed when a chunked one grows past it;
 * at most server.max_connections connections (more are refused); a connection idle for
 * server.header_timeout seconds is closed, and so is one whose request headers are not
 * complete that long after the connection opened or its previous request ended, however
 * steadily it trickles them (a slow client, byte by byte, beats any idle timeout).
 */
#include <inttypes.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "server.h"

const char *dd_req_query(dd_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *dd_req_header(dd_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

/* ---------------------------------------------------------------- header deadline */

/* One open connection (libmicrohttpd's socket context), in srv->conns (links and `cut`
 * under conns_mu; the two atomics are written by the connection's worker without it, so
 * a request takes no lock shared with the other workers). */
typedef struct conn_state {
    struct conn_state *prev, *next;
    int fd;
    _Atomic bool in_headers;   /* waiting for a request's headers to be complete ... */
    _Atomic double since_ms;   /* ... since then (monotonic) */
    bool cut;                  /* the sweeper shut it down */
} conn_state;

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static conn_state *conn_state_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* A request's headers are complete (true) or the next request's wait begins (false). */
static void headers_done(struct MHD_Connection *conn, bool done)
{
    conn_state *cs = conn_state_of(conn);
    if (!cs)
        return;
    atomic_store(&cs->in_headers, false);   /* the sweeper never sees a stale since_ms */
    atomic_store(&cs->since_ms, mono_ms());
    atomic_store(&cs->in_headers, !done);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code)
{
    dd_server *srv = cls;
    conn_state *cs = *socket_ctx;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add(&srv->connections, 1);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        cs = ci ? calloc(1, sizeof *cs) : NULL;
        if (!cs)
            return;   /* no deadline for this one: the idle timeout still applies */
        cs->fd = ci->connect_fd;
        atomic_store(&cs->since_ms, mono_ms());
        atomic_store(&cs->in_headers, true);
        pthread_mutex_lock(&srv->conns_mu);
        cs->next = srv->conns;
        if (srv->conns)
            srv->conns->prev = cs;
        srv->conns = cs;
        pthread_mutex_unlock(&srv->conns_mu);
        *socket_ctx = cs;
        return;
    }
    atomic_fetch_sub(&srv->connections, 1);
    if (!cs)
        return;
    /* Unlinked before libmicrohttpd closes the socket, so the sweeper never touches a
     * descriptor that may have been reused. */
    pthread_mutex_lock(&srv->conns_mu);
    if (cs->prev)
        cs->prev->next = cs->next;
    else
        srv->conns = cs->next;
    if (cs->next)
        cs->next->prev = cs->prev;
    pthread_mutex_unlock(&srv->conns_mu);
    free(cs);
    *socket_ctx = NULL;
}

/* Every DD_REQLOG_FLUSH_MS: write the workers' request log lines, and shut down the
 * connections past their header deadline. shutdown() (not close) makes libmicrohttpd's
 * own loop see the end and close the connection itself. */
static void *sweeper(void *arg)
{
    dd_server *srv = arg;
    pthread_mutex_lock(&srv->conns_mu);
    while (srv->sweeping) {
        pthread_mutex_unlock(&srv->conns_mu);   /* no write() under the connections' lock */
        for (int i = 0; i < srv->n_workers; i++)
            dd_reqlog_flush(&srv->workers[i].log);
        pthread_mutex_lock(&srv->conns_mu);
        double limit = mono_ms() - srv->header_timeout_s * 1e3;
        for (conn_state *cs = srv->conns; cs; cs = cs->next) {
            if (atomic_load(&cs->in_headers) && !cs->cut && atomic_load(&cs->since_ms) < limit) {
                shutdown(cs->fd, SHUT_RDWR);
                cs->cut = true;
            }
        }
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += DD_REQLOG_FLUSH_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L)
            until.tv_sec++, until.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&srv->sweep_cv, &srv->conns_mu, &until);
    }
    pthread_mutex_unlock(&srv->conns_mu);
    return NULL;
}

static int sweeper_start(dd_server *srv)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&srv->conns_mu, NULL);
    pthread_cond_init(&srv->sweep_cv, &ca);
    pthread_condattr_destroy(&ca);
    srv->sweeping = true;
    if (pthread_create(&srv->sweeper, NULL, sweeper, srv) == 0)
        return 0;
    srv->sweeping = false;
    return -1;
}

static void add_cors(dd_server *srv, struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", srv->cors_origin);
    MHD_add_response_header(resp, "Access-Control-Allow-Headers", "Authorization, Content-Type");
    MHD_add_response_header(resp, "Access-Control-Allow-Methods",
                            "GET, POST, PATCH, DELETE, OPTIONS");
    MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
    if (srv->cors_credentials)
        MHD_add_response_header(resp, "Access-Control-Allow-Credentials", "true");
}

void dd_reply_json(dd_req *r, int status, json_t *body)
{
    if (r->resp) {   /* a handler answers once; a second answer is a bug, keep the first */
        json_decref(body);
        return;
    }
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    dd_reply_json_text(r, status, text);
}

void dd_reply_json_text(dd_req *r, int status, char *text)
{
    if (r->resp) {
        free(text);
        return;
    }
    if (!text) {
        status = 500;
        text = strdup("{\"code\":\"SERVER_ERROR\",\"message\":\"could not build the response\"}");
        if (!text)
            return;
    }
    r->resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!r->resp) {
        free(text);
        return;
    }
    MHD_add_response_header(r->resp, "Content-Type", "application/json");
    r->status = status;
}

void dd_reply_static(dd_req *r, int status, const char *content_type, const void *data,
                     size_t len)
{
    if (r->resp)
        return;
    r->resp = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_PERSISTENT);
    if (!r->resp)
        return;
    MHD_add_response_header(r->resp, "Content-Type", content_type);
    MHD_add_response_header(r->resp, "Cache-Control", "no-cache");
    MHD_add_response_header(r->resp, "X-Content-Type-Options", "nosniff");
    r->status = status;
}

/* Send what the handler built (or a 500 if it built nothing) and log the request. */
static enum MHD_Result send_reply(dd_req *r)
{
    if (!r->resp)
        dd_reply_error(r, 500, "SERVER_ERROR", "no response");
    if (!r->resp)
        return MHD_NO;
    add_cors(r->srv, r->resp);
    enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)r->status, r->resp);
    MHD_destroy_response(r->resp);
    r->resp = NULL;
    r->answered = true;
    return ok;
}

static void log_request(dd_worker *w, dd_req *r, int status)
{
    if (!r->srv->log_info)
        return;
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    int64_t us = (int64_t)(end.tv_sec - r->start.tv_sec) * 1000000
                 + (end.tv_nsec - r->start.tv_nsec) / 1000;
    /* The path only: MHD strips the query string, and headers (tokens) are never logged. */
    dd_reqlog_line(&w->log, r->method, r->url, status, us);
}

static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    dd_req *r = *con_cls;
    if (!r)
        return;
    headers_done(conn, false);   /* the next request's headers are awaited from now */
    log_request(cls, r, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? r->status : 0);
    if (r->pp)
        MHD_destroy_post_processor(r->pp);
    if (r->stream_free)
        r->stream_free(r->stream);
    if (r->defer_free)
        r->defer_free(r->defer_ctx);
    if (r->resp)
        MHD_destroy_response(r->resp);
    dd_user_clear(&r->user);
    free(r->body);
    free(r->path_copy);
    free(r);
    *con_cls = NULL;
}

/* The body's declared length (Content-Length), -1 when there is none. */
static int64_t declared_length(struct MHD_Connection *conn)
{
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    int64_t n;
    return cl && dd_parse_id(cl, &n) ? n : -1;
}

static bool declared_too_large(struct MHD_Connection *conn)
{
    return declared_length(conn) > DD_SERVER_BODY_MAX;
}

/* Append a piece of body; false once past the limit. The buffer is sized once from
 * Content-Length (libmicrohttpd hands a body over in pieces: growing it piece by piece
 * copied it each time), and grows by doubling past it (chunked bodies). */
static bool body_append(dd_req *r, const char *data, size_t len)
{
    if (r->body_len + len > DD_SERVER_BODY_MAX) {
        r->body_too_large = true;
        return false;
    }
    if (r->body_len + len + 1 > r->body_cap) {
        int64_t declared = r->body ? -1 : declared_length(r->conn);
        size_t cap = r->body_cap ? r->body_cap * 2 : 1024;
        if (declared >= 0 && (size_t)declared >= r->body_len + len)
            cap = (size_t)declared + 1;
        if (cap < r->body_len + len + 1)
            cap = r->body_len + len + 1;
        if (cap > DD_SERVER_BODY_MAX + 1)
            cap = DD_SERVER_BODY_MAX + 1;
        char *nb = realloc(r->body, cap);
        if (!nb)
            return false;
        r->body = nb;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return true;
}

static enum MHD_Result part_iterator(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *filename, const char *content_type,
                                    const char *transfer_encoding, const char *data,
                                    uint64_t off, size_t size)
{
    dd_req *r = cls;
    return r->on_part(r, key, data, size) == 0 ? MHD_YES : MHD_NO;
}

int dd_req_multipart(dd_req *r)
{
    const char *ct = dd_req_header(r, "Content-Type");
    if (!ct || strncasecmp(ct, "multipart/form-data", 19) != 0)
        return -1;
    r->pp = MHD_create_post_processor(r->conn, 64 * 1024, part_iterator, r);
    return r->pp ? 0 : -1;
}

void dd_req_add_header(dd_req *r, const char *name, const char *value)
{
    if (r->resp)
        MHD_add_response_header(r->resp, name, value);
}

typedef struct stream_cls {
    dd_stream_read read;
    void (*done)(void *);
    void *cls;
} stream_cls;

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    stream_cls *s = cls;
    long n = s->read(s->cls, pos, buf, max);
    return n < 0 ? MHD_CONTENT_READER_END_WITH_ERROR : (ssize_t)n;
}

static void stream_done(void *cls)
{
    stream_cls *s = cls;
    s->done(s->cls);
    free(s);
}

void dd_reply_stream(dd_req *r, int status, uint64_t len, dd_stream_read read,
                     void (*done)(void *cls), void *cls, const char *content_range)
{
    stream_cls *s = malloc(sizeof *s);
    if (!s) {
        done(cls);
        dd_reply_error(r, 500, "SERVER_ERROR", "out of memory");
        return;
    }
    *s = (stream_cls){read, done, cls};
    r->resp = MHD_create_response_from_callback(len, 256 * 1024, stream_read, s, stream_done);
    if (!r->resp) {
        stream_done(s);
        dd_reply_error(r, 500, "SERVER_ERROR", "out of memory");
        return;
    }
    MHD_add_response_header(r->resp, "Content-Type", "application/octet-stream");
    MHD_add_response_header(r->resp, "Accept-Ranges", "bytes");
    if (content_range)
        MHD_add_response_header(r->resp, "Content-Range", content_range);
    r->status = status;
}

/* The first call for a request: only its headers are in. Streaming routes are dispatched
 * now, so authentication and the guard run before any byte of the body is read. */
static enum MHD_Result on_headers(dd_worker *w, struct MHD_Connection *conn, const char *url,
                                  const char *method, void **con_cls)
{
    dd_req *r = calloc(1, sizeof *r);
    if (!r)
        return MHD_NO;
    r->srv = w->srv, r->conn = conn, r->method = method, r->url = url;
    clock_gettime(CLOCK_MONOTONIC, &r->start);
    headers_done(conn, true);
    *con_cls = r;
    dd_route_lookup(r);   /* once: dd_dispatch acts on it after authentication */
    if (r->route && r->route->streams) {
        dd_dispatch(r);
        return r->resp ? send_reply(r) : MHD_YES;
    }
    if (declared_too_large(conn)) {
        dd_reply_error(r, 413, "PAYLOAD_TOO_LARGE", "request bodies are limited to %d bytes",
                       DD_SERVER_BODY_MAX);
        return send_reply(r);
    }
    return MHD_YES;
}

/* ---------------------------------------------------------------- deferred work */

void dd_req_defer(dd_req *r, void (*work)(dd_req *r), void *ctx, void (*ctx_free)(void *ctx))
{
    dd_defer_q *q = &r->srv->defer;
    r->defer_ctx = ctx, r->defer_free = ctx_free;
    pthread_mutex_lock(&q->mu);
    if (!q->running) {   /* stopping: no writer thread will take it */
        pthread_mutex_unlock(&q->mu);
        work(r);
        return;
    }
    /* Suspended before it is queued: a writer may finish it and resume the connection
     * before this thread returns to libmicrohttpd. */
    r->deferred = work;
    MHD_suspend_connection(r->conn);
    r->defer_next = NULL;
    if (q->tail)
        q->tail->defer_next = r;
    else
        q->head = r;
    q->tail = r;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

/* A writer thread: take the queued requests one at a time until the queue stops and is
 * empty (nothing queued is left suspended). */
static void *defer_main(void *arg)
{
    dd_defer_q *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->head && q->running)
            pthread_cond_wait(&q->cv, &q->mu);
        dd_req *r = q->head;
        if (!r)
            break;
        q->head = r->defer_next;
        if (!q->head)
            q->tail = NULL;
        pthread_mutex_unlock(&q->mu);
        r->deferred(r);
        atomic_store(&r->defer_done, true);
        MHD_resume_connection(r->conn);   /* r is not ours from here on */
        pthread_mutex_lock(&q->mu);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

static int defer_start(dd_defer_q *q)
{
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->head = q->tail = NULL;
    q->running = true;
    for (q->n_threads = 0; q->n_threads < DD_SERVER_WRITERS; q->n_threads++)
        if (pthread_create(&q->threads[q->n_threads], NULL, defer_main, q) != 0)
            break;
    return q->n_threads > 0 ? 0 : -1;
}

/* Before the daemons stop: every queued request is answered and resumed, and later ones
 * run in their worker. */
static void defer_stop(dd_defer_q *q)
{
    if (q->n_threads == 0)
        return;   /* never started, or stopped already */
    pthread_mutex_lock(&q->mu);
    q->running = false;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    for (int i = 0; i < q->n_threads; i++)
        pthread_join(q->threads[i], NULL);
    q->n_threads = 0;
}

static enum MHD_Result on_body(dd_req *r, const char *data, size_t *size)
{
    size_t n = *size;
    *size = 0;
    if (r->pp) {
        /* A part handler that stopped (a failed write) has stored its answer for
         * on_done; the rest of the body is read and dropped. */
        if (!r->stream_failed && MHD_post_process(r->pp, data, n) != MHD_YES)
            r->stream_failed = true;
        return MHD_YES;
    }
    return body_append(r, data, n) ? MHD_YES : MHD_NO;   /* chunked past the limit: close */
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    dd_req *r = *con_cls;
    if (!r)
        return on_headers(cls, conn, url, method, con_cls);
    if (r->deferred)   /* resumed: the writer thread has answered */
        return atomic_load(&r->defer_done) ? send_reply(r) : MHD_YES;
    if (r->answered)   /* answered before the body (401, 403, 413): drop whatever comes */
        return *upload_data_size = 0, MHD_YES;
    if (*upload_data_size > 0)
        return on_body(r, upload_data, upload_data_size);
    if (!r->resp && r->on_done)
        r->on_done(r);
    else if (!r->resp)
        dd_dispatch(r);
    if (r->deferred)   /* suspended: answered once a writer thread resumes it */
        return MHD_YES;
    return send_reply(r);
}

static char *read_file_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    char chunk[4096];
    size_t n;
    while (m && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, m);
    if (m)
        fclose(m);
    fclose(f);
    return buf;
}

/* 1000 idle connections need more descriptors than the usual soft limit of 1024. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* server.max_connections over all the daemons: each daemon's own limit is the whole
 * budget, so the count of open connections (kept by on_connection) decides. */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t len)
{
    dd_server *srv = cls;
    return atomic_load(&srv->connections) < srv->max_connections ? MHD_YES : MHD_NO;
}

/* The workers' log buffers, written out (no daemon or sweeper may use them any more). */
static void workers_free(dd_server *srv)
{
    for (int i = 0; i < srv->n_workers; i++)
        dd_reqlog_destroy(&srv->workers[i].log);
    free(srv->workers);
    srv->workers = NULL;
    srv->n_workers = 0;
}

/* The port must be free: SO_REUSEPORT alone would let a second server of the same user
 * share it silently. A bind answers (and picks the port when `port` is 0); with
 * SO_REUSEADDR, which Linux still refuses beside a listening socket but not beside the
 * TIME_WAIT connections a stopped server leaves for a minute, so a restarted server gets
 * its port back at once (its remote mounts' URL names it). */
static int probe_port(struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    socklen_t len = sizeof *sa;
    int ok = fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0
             && bind(fd, (struct sockaddr *)sa, sizeof *sa) == 0
             && getsockname(fd, (struct sockaddr *)sa, &len) == 0;
    if (fd >= 0)
        close(fd);
    return ok ? 0 : -1;
}

/* One daemon: one thread over epoll on its own listening socket, bound with SO_REUSEPORT
 * to the same address as its siblings. */
static struct MHD_Daemon *start_daemon(dd_worker *w, const struct sockaddr_in *sa,
                                       unsigned flags, struct MHD_OptionItem *tls_opts)
{
    dd_server *srv = w->srv;
    return MHD_start_daemon(
        flags, ntohs(sa->sin_port), accept_policy, srv, on_request, w, MHD_OPTION_SOCK_ADDR,
        sa, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)srv->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)srv->header_timeout_s, MHD_OPTION_NOTIFY_COMPLETED, request_completed,
        w, MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv, MHD_OPTION_LISTEN_BACKLOG_SIZE,
        1024u, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
}

/*
 * Why a daemon per worker instead of libmicrohttpd's thread pool: in the pool every worker
 * waits on the one listening socket and whichever wakes first accepts a whole series of
 * connections, so 20 keep-alive clients were all served by one thread (BENCHMARKS.md,
 * serve). With SO_REUSEPORT each worker has its own socket and the kernel spreads new
 * connections over them by address hash. Only processes of the same user can join the
 * port (Linux's rule for SO_REUSEPORT).
 */
int dd_http_start(dd_server *srv, const char *host, int port, int max_connections, int threads,
                  const char *tls_cert, const char *tls_key, char *msg, size_t msglen)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        snprintf(msg, msglen, "server.host: \"%s\" is not an IPv4 address", host);
        return -1;
    }
    char *cert = NULL, *key = NULL;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG
                     | MHD_ALLOW_SUSPEND_RESUME;
    if (tls_cert || tls_key) {
        cert = tls_cert ? read_file_text(tls_cert) : NULL;
        key = tls_key ? read_file_text(tls_key) : NULL;
        if (!cert || !key) {
            snprintf(msg, msglen, "--tls-cert and --tls-key must both name readable PEM files");
            free(cert), free(key);
            return -1;
        }
        flags |= MHD_USE_TLS;
    }
    raise_fd_limit();
    struct MHD_OptionItem tls_opts[] = {
        {cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, key},
        {MHD_OPTION_END, 0, NULL},
    };
    srv->max_connections = max_connections;
    srv->n_mhd = 0;
    if (threads < 1)
        threads = 1;
    if (threads > DD_SERVER_WORKERS_MAX)
        threads = DD_SERVER_WORKERS_MAX;
    srv->workers = calloc((size_t)threads, sizeof *srv->workers);
    if (!srv->workers) {
        snprintf(msg, msglen, "out of memory");
        free(cert), free(key);
        return -1;
    }
    srv->n_workers = threads;
    for (int i = 0; i < threads; i++) {
        srv->workers[i].srv = srv;
        dd_reqlog_init(&srv->workers[i].log, STDERR_FILENO);
    }
    if (sweeper_start(srv) != 0) {
        snprintf(msg, msglen, "cannot start a thread");
        free(cert), free(key);
        workers_free(srv);
        return -1;
    }
    if (defer_start(&srv->defer) != 0) {
        snprintf(msg, msglen, "cannot start a thread");
        free(cert), free(key);
        dd_http_stop(srv);
        return -1;
    }
    for (int i = 0; i < threads && (i > 0 || probe_port(&sa) == 0); i++) {
        dd_worker *w = &srv->workers[i];
        if (!(w->mhd = start_daemon(w, &sa, flags, tls_opts)))
            break;
        srv->n_mhd++;
    }
    free(cert), free(key);   /* MHD copies them when it starts */
    if (srv->n_mhd < threads) {
        dd_http_stop(srv);
        snprintf(msg, msglen, "cannot listen on %s:%d (in use, or not permitted)", host, port);
        return -1;
    }
    return 0;
}

void dd_http_stop(dd_server *srv)
{
    defer_stop(&srv->defer);   /* first: no connection stays suspended */
    for (int i = 0; i < srv->n_mhd; i++)
        MHD_stop_daemon(srv->workers[i].mhd);
    srv->n_mhd = 0;
    pthread_mutex_lock(&srv->conns_mu);
    bool joined = srv->sweeping;
    srv->sweeping = false;
    pthread_cond_signal(&srv->sweep_cv);
    pthread_mutex_unlock(&srv->conns_mu);
    if (joined)
        pthread_join(srv->sweeper, NULL);
    pthread_mutex_destroy(&srv->conns_mu);
    pthread_cond_destroy(&srv->sweep_cv);
    workers_free(srv);   /* after the daemons and the sweeper: the last lines are written */
}
