/*
 * http.c - libmicrohttpd glue: the daemon and its limits, request bodies, replies with the
 * CORS headers, and the one log line per request.
 *
 * Limits: a JSON body over DD_SERVER_BODY_MAX is answered 413 without reading it when its
 * Content-Length says so, and the connection is closed when a chunked one grows past it;
 * at most server.max_connections connections (more are refused by MHD); a connection idle
 * for DD_SERVER_HEADER_TIMEOUT_S (a client that stops sending its headers) is closed.
 */
#include <inttypes.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "server.h"

const char *dd_req_query(dd_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *dd_req_header(dd_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
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

static void log_request(dd_req *r, int status)
{
    if (!r->srv->log_info)
        return;
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    int64_t us = (int64_t)(end.tv_sec - r->start.tv_sec) * 1000000
                 + (end.tv_nsec - r->start.tv_nsec) / 1000;
    /* The path only: MHD strips the query string, and headers (tokens) are never logged. */
    fprintf(stderr, "deardiary serve: %s %s %d %" PRId64 "us\n", r->method, r->url, status, us);
}

static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    dd_req *r = *con_cls;
    if (!r)
        return;
    log_request(r, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? r->status : 0);
    if (r->pp)
        MHD_destroy_post_processor(r->pp);
    if (r->stream_free)
        r->stream_free(r->stream);
    if (r->resp)
        MHD_destroy_response(r->resp);
    dd_user_clear(&r->user);
    free(r->body);
    free(r->path_copy);
    free(r);
    *con_cls = NULL;
}

/* Append a piece of body; false once past the limit. */
static bool body_append(dd_req *r, const char *data, size_t len)
{
    if (r->body_len + len > DD_SERVER_BODY_MAX) {
        r->body_too_large = true;
        return false;
    }
    char *nb = realloc(r->body, r->body_len + len + 1);
    if (!nb)
        return false;
    memcpy(nb + r->body_len, data, len);
    r->body = nb;
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return true;
}

static bool declared_too_large(struct MHD_Connection *conn)
{
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    int64_t n;
    return cl && dd_parse_id(cl, &n) && n > DD_SERVER_BODY_MAX;
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
static enum MHD_Result on_headers(dd_server *srv, struct MHD_Connection *conn, const char *url,
                                  const char *method, void **con_cls)
{
    dd_req *r = calloc(1, sizeof *r);
    if (!r)
        return MHD_NO;
    r->srv = srv, r->conn = conn, r->method = method, r->url = url;
    clock_gettime(CLOCK_MONOTONIC, &r->start);
    *con_cls = r;
    if (dd_route_streams(method, url)) {
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
    if (r->answered)   /* answered before the body (401, 403, 413): drop whatever comes */
        return *upload_data_size = 0, MHD_YES;
    if (*upload_data_size > 0)
        return on_body(r, upload_data, upload_data_size);
    if (!r->resp && r->on_done)
        r->on_done(r);
    else if (!r->resp)
        dd_dispatch(r);
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

int dd_http_start(dd_server *srv, const char *host, int port, int max_connections, int threads,
                  const char *tls_cert, const char *tls_key, char *msg, size_t msglen)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        snprintf(msg, msglen, "server.host: \"%s\" is not an IPv4 address", host);
        return -1;
    }
    char *cert = NULL, *key = NULL;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
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
    srv->mhd = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, &sa,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)DD_SERVER_HEADER_TIMEOUT_S, MHD_OPTION_NOTIFY_COMPLETED, request_completed,
        srv, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    free(cert), free(key);   /* MHD copies them when it starts */
    if (!srv->mhd) {
        snprintf(msg, msglen, "cannot listen on %s:%d (in use, or not permitted)", host, port);
        return -1;
    }
    return 0;
}

void dd_http_stop(dd_server *srv)
{
    if (srv->mhd)
        MHD_stop_daemon(srv->mhd);
    srv->mhd = NULL;
}
