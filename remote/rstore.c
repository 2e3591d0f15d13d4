/*
 * rstore.c - the remote store's requests, answer cache and lifetime (rstore.h).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "creds.h"
#include "remote.h"
#include "rstore_artifacts.h"
#include "rstore_int.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static rstore *rs_of(const dd_store *st) { return dd_store_impl(st); }

/* The token to send (mu held): the slot's (remote.h: read again four times per lifetime,
 * at least every minute, refreshed past half its life). */
static dd_code token_locked(rstore *rs, const char **tok, dd_err *err)
{
    char msg[DD_ERR_MSG_MAX];
    if (dd_token_slot_get(&rs->token, rs->http, rs->url, false, tok, msg, sizeof msg) == 0)
        return DD_OK;
    syslog(LOG_ERR, "%s: %s", rs->url, msg);
    return dd_fail(err, DD_DENIED, "%s", msg);
}

/* A 401 TOKEN_EXPIRED answer to the slot's token (mu held): true when another token is
 * now in the slot (refreshed, or stored by another process) to retry with once; false
 * with a syslog line (`deardiary login URL`) when there is none. */
static bool token_renewed(rstore *rs, long status, json_t *reply)
{
    const char *code = json_string_value(json_object_get(reply, "code"));
    if (status != 401 || !code || strcmp(code, "TOKEN_EXPIRED") != 0)
        return false;
    char msg[DD_ERR_MSG_MAX];
    if (dd_token_slot_renew(&rs->token, rs->http, rs->url, msg, sizeof msg))
        return true;
    syslog(LOG_ERR, "%s: %s", rs->url, msg);
    return false;
}

/* The store's code a refusal names in its "reason" (server.h dd_reply_store_failure), or
 * DD_OK when it names none we know. */
static dd_code reason_code(json_t *reply)
{
    const char *reason = json_string_value(json_object_get(reply, "reason"));
    for (int c = DD_NOT_FOUND; reason && c <= DD_DENIED; c++)
        if (strcmp(reason, dd_code_name((dd_code)c)) == 0)
            return (dd_code)c;
    return DD_OK;
}

/* The dd_code of a non-2xx answer (REMOTE.md §6). A read: 404 and 403 are DD_NOT_FOUND
 * (a project the user may not read does not exist for it). A write: 403 is DD_DENIED
 * (EACCES), and a refusal's "reason" is the code the local store gives. Both: 401 (the
 * token refused, refresh could not help) DD_DENIED with a syslog line naming `deardiary
 * login URL`; 503 DD_BUSY; other 5xx DD_IO with a syslog line naming the server's error. */
static dd_code status_code(rstore *rs, long status, json_t *reply, const char *path,
                           bool write, dd_err *err)
{
    char text[200];
    dd_http_error_text(status, reply, text, sizeof text);
    dd_code reason = reason_code(reply);
    if (status == 401) {
        /* the token's user is asked again (rstore_rights.c keeps it a minute): who logs
         * in next on this node may be another, or the same name with another id */
        json_object_del(rs->cache, "/auth/me");
        syslog(LOG_ERR, "%s refused the token (%s): run `deardiary login %s`", rs->url, text,
               rs->url);
        return dd_fail(err, DD_DENIED, "%s: %s; run `deardiary login %s`", rs->url, text,
                       rs->url);
    }
    if (status == 404 || (status == 403 && !write))
        return dd_fail(err, DD_NOT_FOUND, "%s: not found (%s)", path, text);
    if (status == 403)
        return dd_fail(err, DD_DENIED, "%s%s: %s", rs->url, path, text);
    if (status == 503)
        return dd_fail(err, DD_BUSY, "%s%s: %s", rs->url, path, text);
    syslog(status >= 500 ? LOG_ERR : LOG_INFO, "%s%s: %s", rs->url, path, text);
    if (status >= 400 && status < 500 && reason != DD_OK)
        return dd_fail(err, reason, "%s%s: %s", rs->url, path, text);
    if (status == 409)   /* NAME_TAKEN, CONFLICT: NOT_EMPTY and IN_USE carry a reason */
        return dd_fail(err, DD_CONFLICT, "%s%s: %s", rs->url, path, text);
    return dd_fail(err, status >= 400 && status < 500 ? DD_INVALID : DD_IO, "%s%s: %s",
                   rs->url, path, text);
}

/* One request to the server (mu held): 200 or 201 with a JSON answer into *out. */
static dd_code request_locked(rstore *rs, const char *method, const char *path, json_t *body,
                              json_t **out, dd_err *err)
{
    *out = NULL;
    bool write = strcmp(method, "GET") != 0;
    if (!rs->http)   /* no connection (fuzz/fuzz_rstore_answer.c): the cache only */
        return dd_fail(err, DD_IO, "%s%s: not connected", rs->url, path);
    long status = 0;
    json_t *reply = NULL;
    char msg[DD_ERR_MSG_MAX];
    const char *tok;
    dd_code code;
    /* a token refused as expired is asked again once (refreshed when due) */
    for (int attempt = 0;; attempt++) {
        json_decref(reply);
        reply = NULL;
        code = token_locked(rs, &tok, err);
        if (code != DD_OK)
            return code;
        rs->requests++;
        if (dd_http_json(rs->http, method, path, tok, body, &status, &reply, msg,
                         sizeof msg) != 0) {
            syslog(LOG_ERR, "%s %s: %s", method, path, msg);
            return dd_fail(err, DD_IO, "%s", msg);
        }
        if (attempt > 0 || !token_renewed(rs, status, reply))
            break;
    }
    bool ok = status == 200 || (write && status == 201);
    if (ok && reply) {
        *out = reply;
        return DD_OK;
    }
    code = ok ? dd_fail(err, DD_IO, "%s%s: the answer is not JSON", rs->url, path)
              : status_code(rs, status, reply, path, write, err);
    json_decref(reply);
    return code;
}

/* One GET from the server (mu held). */
static dd_code fetch_locked(rstore *rs, const char *path, json_t **out, dd_err *err)
{
    return request_locked(rs, "GET", path, NULL, out, err);
}

/* One of the original's lists ({data, total, limit, offset}: at most 200 a page) with all
 * its pages: the first answer, its data extended by the following pages' (mu held). */
static dd_code fetch_offsets_locked(rstore *rs, const char *path, json_t **out, dd_err *err)
{
    char page[1100];
    int n = snprintf(page, sizeof page, "%.1024s%climit=200", path, strchr(path, '?') ? '&' : '?');
    if (n < 0 || (size_t)n >= sizeof page)
        return dd_fail(err, DD_INVALID, "request path too long");
    dd_code code = fetch_locked(rs, page, out, err);
    json_t *all = code == DD_OK ? json_object_get(*out, "data") : NULL;
    json_int_t total = json_integer_value(json_object_get(*out, "total"));
    while (code == DD_OK && json_is_array(all) && (json_int_t)json_array_size(all) < total) {
        snprintf(page, sizeof page, "%.1024s%climit=200&offset=%zu", path,
                 strchr(path, '?') ? '&' : '?', json_array_size(all));
        json_t *more = NULL;
        code = fetch_locked(rs, page, &more, err);
        json_t *data = json_object_get(more, "data");
        if (code == DD_OK && !json_array_size(data))
            code = dd_fail(err, DD_IO, "%s%s: a page came back empty", rs->url, path);
        if (code == DD_OK)
            json_array_extend(all, data);
        json_decref(more);
    }
    if (code != DD_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return code;
}

/* A /v1/ls listing with all its pages: the first answer, its entries extended by the
 * following pages' (mu held). The original's paged lists (/metric/iteration/...) by
 * offset. */
static dd_code fetch_pages_locked(rstore *rs, const char *path, json_t **out, dd_err *err)
{
    if (strncmp(path, "/metric/iteration/", 18) == 0)
        return fetch_offsets_locked(rs, path, out, err);
    dd_code code = fetch_locked(rs, path, out, err);
    if (code != DD_OK || strncmp(path, "/v1/ls/", 7) != 0)
        return code;
    json_t *all = json_object_get(*out, "entries");
    json_t *next = json_object_get(*out, "next");
    while (code == DD_OK && json_is_integer(next) && json_is_array(all)) {
        char more[1100];
        int n = snprintf(more, sizeof more, "%.1024s%cafter=%" JSON_INTEGER_FORMAT, path,
                         strchr(path, '?') ? '&' : '?', json_integer_value(next));
        if (n < 0 || (size_t)n >= sizeof more)
            code = dd_fail(err, DD_INVALID, "request path too long");
        json_t *page = NULL;
        if (code == DD_OK)
            code = fetch_locked(rs, more, &page, err);
        if (code == DD_OK) {
            json_array_extend(all, json_object_get(page, "entries"));
            json_object_set(*out, "next", json_object_get(page, "next"));
            next = json_object_get(*out, "next");
        }
        json_decref(page);
    }
    if (code != DD_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return code;
}

/* Drop the answers past their time (mu held), so a mount that walks many directories
 * holds only what it read in the last ttl, not everything it ever read. */
static void sweep_locked(rstore *rs, double now)
{
    const char *key;
    json_t *slot;
    void *iter;
    json_object_foreach_safe(rs->cache, iter, key, slot)
        if (key[0] != '#' && json_real_value(json_array_get(slot, 0)) <= now)
            json_object_del(rs->cache, key);
}

static dd_code get_for(dd_store *st, double ttl, json_t **out, dd_err *err, const char *fmt,
                       va_list ap) __attribute__((format(printf, 5, 0)));

static dd_code get_for(dd_store *st, double ttl, json_t **out, dd_err *err, const char *fmt,
                       va_list ap)
{
    char path[1024];
    int n = vsnprintf(path, sizeof path, fmt, ap);
    if (n < 0 || (size_t)n >= sizeof path)
        return dd_fail(err, DD_INVALID, "request path too long");
    rstore *rs = rs_of(st);
    pthread_mutex_lock(&rs->mu);
    json_t *slot = json_object_get(rs->cache, path);
    double now = now_s();
    dd_code code = DD_OK;
    if (slot && json_real_value(json_array_get(slot, 0)) > now) {
        *out = json_incref(json_array_get(slot, 1));
    } else {
        code = fetch_pages_locked(rs, path, out, err);
        if (code == DD_OK && ++rs->stored % 256 == 0)
            sweep_locked(rs, now);
        if (code == DD_OK)
            json_object_set_new(rs->cache, path, json_pack("[f, O]", now_s() + ttl, *out));
        else if (code == DD_IO && slot && rs->metrics) {
            /* the server is out of reach: a mount that appends through its journal keeps
             * answering from what it last saw, so a training loop can still open its
             * metric file (`echo x >> loss`) during an outage (REMOTE.md §4) */
            *out = json_incref(json_array_get(slot, 1));
            code = DD_OK;
        } else
            json_object_del(rs->cache, path);
    }
    pthread_mutex_unlock(&rs->mu);
    return code;
}

/* Drop every cached answer, keeping the id index (mu held). */
static void forget_locked(rstore *rs)
{
    const char *key;
    json_t *slot;
    void *iter;
    json_object_foreach_safe(rs->cache, iter, key, slot)
        if (key[0] != '#')
            json_object_del(rs->cache, key);
}

dd_code rs_send(dd_store *st, const char *method, json_t *body, json_t **out, dd_err *err,
                const char *fmt, ...)
{
    char path[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    json_t *reply = NULL;
    rstore *rs = rs_of(st);
    dd_code code;
    if (n < 0 || (size_t)n >= sizeof path)
        code = dd_fail(err, DD_INVALID, "request path too long");
    else if (!body && strcmp(method, "GET") != 0 && strcmp(method, "DELETE") != 0)
        /* json_pack refuses text that is not UTF-8 (and fails when out of memory) */
        code = dd_fail(err, DD_INVALID, "%s: a value that is not UTF-8 text", path);
    else {
        pthread_mutex_lock(&rs->mu);
        code = request_locked(rs, method, path, body, &reply, err);
        if (strcmp(method, "GET") != 0)
            forget_locked(rs);
        pthread_mutex_unlock(&rs->mu);
        if (strcmp(method, "GET") != 0)
            dd_store_wrapped_wrote(st);
    }
    json_decref(body);
    if (out)
        *out = reply;
    else
        json_decref(reply);
    return code;
}

dd_code rs_get(dd_store *st, json_t **out, dd_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dd_code code = get_for(st, rs_of(st)->ttl, out, err, fmt, ap);
    va_end(ap);
    return code;
}

dd_code rs_get_for(dd_store *st, double ttl, json_t **out, dd_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dd_code code = get_for(st, ttl, out, err, fmt, ap);
    va_end(ap);
    return code;
}

void rs_index_put(dd_store *st, const char *kind, int64_t id, int64_t owner)
{
    char key[64];
    snprintf(key, sizeof key, "#%s:%" PRId64, kind, id);
    rstore *rs = rs_of(st);
    pthread_mutex_lock(&rs->mu);
    json_object_set_new(rs->cache, key, json_integer(owner));
    pthread_mutex_unlock(&rs->mu);
}

int64_t rs_index_get(dd_store *st, const char *kind, int64_t id)
{
    char key[64];
    snprintf(key, sizeof key, "#%s:%" PRId64, kind, id);
    rstore *rs = rs_of(st);
    pthread_mutex_lock(&rs->mu);
    int64_t owner = json_integer_value(json_object_get(rs->cache, key));
    pthread_mutex_unlock(&rs->mu);
    return owner;
}

static void rs_free(rstore *rs)
{
    if (!rs)
        return;
    dd_token_slot_clear(&rs->token);
    dd_http_free(rs->http);
    json_decref(rs->cache);
    pthread_mutex_destroy(&rs->mu);
    free(rs->url);
    free(rs);
}

void rs_close(dd_store *st)
{
    rs_metrics_stop(st);
    rs_free(rs_of(st));
}

unsigned long dd_remote_store_requests(dd_store *st)
{
    rstore *rs = rs_of(st);
    pthread_mutex_lock(&rs->mu);
    unsigned long n = rs->requests;
    pthread_mutex_unlock(&rs->mu);
    return n;
}

/* GET /v1/: the server speaks our protocol and takes the token; whether it takes
 * columnar metric batches (REMOTE.md §2.7). */
static dd_code check_protocol(dd_store *st, dd_err *err)
{
    json_t *root = NULL;
    dd_code code = rs_get(st, &root, err, "/v1/");
    if (code == DD_NOT_FOUND)
        return dd_fail(err, DD_INVALID, "%s has no /v1/ routes: not a deardiary serve new"
                       " enough for remote mounts (protocol 1 wanted)", dd_store_path(st));
    if (code != DD_OK)
        return code;
    json_int_t p = json_integer_value(json_object_get(root, "protocol"));
    rs_of(st)->metric_columns = json_is_true(json_object_get(root, "metric_columns"));
    json_decref(root);
    if (p != 1)
        return dd_fail(err, DD_INVALID, "%s speaks protocol %" JSON_INTEGER_FORMAT
                       " of the /v1/ routes; this deardiary speaks 1", dd_store_path(st), p);
    return DD_OK;
}

dd_code dd_remote_store_open(const char *url, const dd_remote_options *opts, dd_store **out,
                             dd_err *err)
{
    *out = NULL;
    char msg[DD_ERR_MSG_MAX];
    rstore *rs = calloc(1, sizeof *rs);
    if (!rs)
        return dd_fail(err, DD_IO, "out of memory");
    pthread_mutex_init(&rs->mu, NULL);
    if (dd_url_canonical(url, &rs->url, msg, sizeof msg) != 0) {
        rs_free(rs);
        return dd_fail(err, DD_INVALID, "%s", msg);
    }
    rs->ttl = opts && opts->ttl > 0 ? opts->ttl : 0.5;
    rs->http = dd_http_new(rs->url, opts ? opts->cacert : NULL);
    rs->cache = json_object();
    dd_code code = !rs->http || !rs->cache ? dd_fail(err, DD_IO, "out of memory")
                   : dd_store_wrap(&dd_store_remote_ops, rs, rs->url, out, err);
    if (code != DD_OK) {
        rs_free(rs);
        return code;
    }
    code = check_protocol(*out, err);
    if (code != DD_OK) {
        dd_store_close(*out);
        *out = NULL;
    }
    return code;
}

/* `deardiary mount URL`: the store, or the reason on stderr (and syslog in the daemon). */
static int mount_open(const char *url, const char *cacert, double ttl, dd_store **out)
{
    dd_remote_options o = {.cacert = cacert, .ttl = ttl};
    dd_err err = {0};
    if (dd_remote_store_open(url, &o, out, &err) == DD_OK)
        return 0;
    fprintf(stderr, "deardiary mount: %s\n", err.msg);
    syslog(LOG_ERR, "mount: %s", err.msg);
    return -1;
}

static int mount_open_artifacts(dd_store *st, const char *cacert, const dd_config *cfg,
                                dd_artifacts **out)
{
    dd_remote_artifacts_options o = {.cacert = cacert, .cache_dir = cfg->remote_cache_dir,
                                     .cache_max = cfg->remote_cache_max};
    dd_err err = {0};
    if (dd_remote_artifacts_open(st, &o, out, &err) == DD_OK)
        return 0;
    fprintf(stderr, "deardiary mount: %s\n", err.msg);
    syslog(LOG_ERR, "mount: %s", err.msg);
    return -1;
}


dd_code rs_token_dup(dd_store *st, char **out, dd_err *err)
{
    rstore *rs = rs_of(st);
    pthread_mutex_lock(&rs->mu);
    const char *tok = NULL;
    dd_code code = rs->http ? token_locked(rs, &tok, err)
                            : dd_fail(err, DD_IO, "%s: not connected", rs->url);
    *out = code == DD_OK ? strdup(tok) : NULL;
    if (code == DD_OK && !*out)
        code = dd_fail(err, DD_IO, "out of memory");
    pthread_mutex_unlock(&rs->mu);
    return code;
}

void rs_forget(dd_store *st, const char *fmt, ...)
{
    char path[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof path)
        return;
    rstore *rs = rs_of(st);
    pthread_mutex_lock(&rs->mu);
    json_object_del(rs->cache, path);
    pthread_mutex_unlock(&rs->mu);
}

/* The daemon's: the node journal and its sender (rstore_metrics.c). */
static int mount_start(dd_store *st, const char *cacert, const char *journal_dir,
                       int64_t journal_max)
{
    dd_err err = {0};
    if (rs_metrics_start(st, journal_dir, journal_max, cacert, &err) == DD_OK)
        return 0;
    fprintf(stderr, "deardiary mount: node journal: %s\n", err.msg);
    syslog(LOG_ERR, "mount: node journal: %s", err.msg);
    return -1;
}

const dd_url_opener dd_remote_url_opener = {mount_open, mount_open_artifacts, mount_start};
