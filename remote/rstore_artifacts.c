/*
 * rstore_artifacts.c - see rstore_artifacts.h.
 *
 * Requests: GET /resource/{id}/data with "Range: bytes=a-b" for reads (one per read-ahead
 * window; each handle has its own connection, so parallel readers do not queue behind
 * one another or behind the listings), the same without Range for a node-cache fetch.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "artifacts_ops.h"
#include "cache.h"
#include "rstore_artifacts.h"
#include "rstore_int.h"

#define READ_AHEAD ((size_t)1 << 20)

typedef struct rarts {
    dd_store *st;
    char *cacert;
    dd_rcache *cache;       /* NULL: nothing is cached (cache_max 0) */
} rarts;

typedef struct rreader {
    rarts *ra;
    int64_t id;
    int64_t size;
    int fd;                 /* the node cache's copy, or -1: ranged reads */
    /* ranged reads: one request at a time per handle (FUSE may read in parallel) */
    pthread_mutex_t mu;
    dd_http *http;
    char *token;
    char *buf;              /* [buf_off, buf_off + buf_len) of the bytes */
    size_t buf_len, cap;
    int64_t buf_off;
} rreader;

/* ---------------------------------------------------------------- requests */

static dd_code status_fail(long status, const char *path, const char *msg, dd_err *err)
{
    if (status == 404 || status == 403)
        return dd_fail(err, DD_NOT_FOUND, "%s: not found (%s)", path, msg);
    if (status == 401)
        return dd_fail(err, DD_FORBIDDEN, "%s: %s; run `deardiary login`", path, msg);
    if (status == 503)
        return dd_fail(err, DD_BUSY, "%s: %s", path, msg);
    syslog(LOG_ERR, "%s: %s", path, msg);
    return dd_fail(err, DD_IO, "%s: %s", path, msg);
}

typedef struct fill {
    char *dst;
    size_t len, cap;
} fill;

static int fill_sink(void *ctx, const void *data, size_t len)
{
    fill *f = ctx;
    if (len > f->cap - f->len)
        return -1;      /* more than asked: a server that ignored the range */
    memcpy(f->dst + f->len, data, len);
    f->len += len;
    return 0;
}

/* Bytes [first, first + want) into r->buf (mu held); *total the size the answer names. */
static dd_code get_range(rreader *r, int64_t first, size_t want, int64_t *total, dd_err *err)
{
    char path[64], msg[DD_ERR_MSG_MAX] = "";
    snprintf(path, sizeof path, "/resource/%" PRId64 "/data", r->id);
    if (want > r->cap) {
        char *b = realloc(r->buf, want);
        if (!b)
            return dd_fail(err, DD_IO, "out of memory");
        r->buf = b, r->cap = want;
    }
    fill f = {r->buf, 0, want};
    long status;
    r->buf_len = 0;
    if (dd_http_get_bytes(r->http, path, r->token, first, first + (int64_t)want - 1, fill_sink,
                          &f, &status, total, msg, sizeof msg) != 0) {
        syslog(LOG_ERR, "%s", msg);
        return dd_fail(err, DD_IO, "%s", msg);
    }
    if (status == 416) {        /* at or past the end: nothing (an empty resource) */
        r->buf_off = first;
        return *total >= 0 ? DD_OK : dd_fail(err, DD_IO, "%s: 416 without a size", path);
    }
    if (status != 206 && status != 200)
        return status_fail(status, path, msg, err);
    if (status == 200 && first > 0)
        return dd_fail(err, DD_IO, "%s: the server ignored the range", path);
    if (*total < 0 || f.len != (size_t)((*total - first) < (int64_t)want ? *total - first
                                                                         : (int64_t)want))
        return dd_fail(err, DD_IO, "%s: a short answer (%zu bytes)", path, f.len);
    r->buf_off = first;
    r->buf_len = f.len;
    return DD_OK;
}

/* ---------------------------------------------------------------- readers */

static void reader_free(rreader *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    dd_http_free(r->http);
    if (r->token) {
        explicit_bzero(r->token, strlen(r->token));
        free(r->token);
    }
    free(r->buf);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static void ra_close_reader(void *rd) { reader_free(rd); }

typedef struct to_file {
    int fd;
    int err;
} to_file;

static int file_sink(void *ctx, const void *data, size_t len)
{
    to_file *t = ctx;
    const char *p = data;
    while (len) {
        ssize_t n = write(t->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return t->err = n < 0 ? errno : ENOSPC, -1;
        p += n, len -= (size_t)n;
    }
    return 0;
}

/* The node cache's fetch of a whole artifact (cache.h dd_rcache_fetch). */
static int fetch_whole(void *ctx, int fd, char *msg, size_t msglen)
{
    rreader *r = ctx;
    char path[64];
    snprintf(path, sizeof path, "/resource/%" PRId64 "/data", r->id);
    to_file t = {fd, 0};
    long status;
    int64_t total;
    if (dd_http_get_bytes(r->http, path, r->token, -1, -1, file_sink, &t, &status, &total,
                          msg, msglen) != 0) {
        if (t.err)
            snprintf(msg, msglen, "artifact cache: %s", strerror(t.err));
        return -1;
    }
    if (status != 200)
        return -1;      /* msg names the server's answer */
    return 0;
}

/* A version's artifact from the node cache; *fd -1 when it is not cached (too large, or
 * no cache), an error when the fetch failed. */
static dd_code open_cached(rreader *r, dd_err *err)
{
    dd_resource row;
    dd_code code = dd_resource_get(r->ra->st, r->id, &row, err);
    if (code != DD_OK)
        return code;
    char msg[DD_ERR_MSG_MAX] = "";
    int fetched = 0;
    r->fd = dd_rcache_open(r->ra->cache, r->id, row.generation, row.size_bytes, fetch_whole,
                           r, &fetched, msg, sizeof msg);
    if (r->fd >= 0)
        r->size = row.size_bytes;
    dd_resource_clear(&row);
    if (r->fd < 0 && errno != EFBIG) {
        syslog(LOG_ERR, "resource %" PRId64 ": %s", r->id, msg);
        return dd_fail(err, DD_IO, "resource %" PRId64 ": %s", r->id, msg);
    }
    return DD_OK;
}

static dd_code ra_open(void *impl, int64_t resource_id, bool version, void **rd,
                       int64_t *size_out, dd_err *err)
{
    rarts *ra = impl;
    rreader *r = calloc(1, sizeof *r);
    if (!r)
        return dd_fail(err, DD_IO, "out of memory");
    r->ra = ra, r->id = resource_id, r->fd = -1;
    pthread_mutex_init(&r->mu, NULL);
    r->http = dd_http_new(dd_store_path(ra->st), ra->cacert);
    dd_code code = r->http ? rs_token_dup(ra->st, &r->token, err)
                           : dd_fail(err, DD_IO, "out of memory");
    if (code == DD_OK && version && ra->cache)
        code = open_cached(r, err);
    int64_t total = -1;
    /* not cached: the first window now, whose answer names the size */
    if (code == DD_OK && r->fd < 0)
        code = get_range(r, 0, READ_AHEAD, &total, err);
    if (code != DD_OK) {
        reader_free(r);
        return code;
    }
    if (r->fd < 0)
        r->size = total;
    *size_out = r->size;
    *rd = r;
    return DD_OK;
}

static dd_code ra_pread(void *rd, int64_t off, void *buf, size_t len, size_t *got,
                        dd_err *err)
{
    rreader *r = rd;
    *got = 0;
    if (off >= r->size || len == 0)
        return DD_OK;
    if ((int64_t)len > r->size - off)
        len = (size_t)(r->size - off);
    if (r->fd >= 0) {
        while (*got < len) {
            ssize_t n = pread(r->fd, (char *)buf + *got, len - *got, off + (int64_t)*got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return dd_fail(err, DD_IO, "artifact cache: %s",
                               n < 0 ? strerror(errno) : "the copy is short");
            *got += (size_t)n;
        }
        return DD_OK;
    }
    pthread_mutex_lock(&r->mu);
    dd_code code = DD_OK;
    if (off < r->buf_off || off + (int64_t)len > r->buf_off + (int64_t)r->buf_len) {
        int64_t total = -1;
        code = get_range(r, off, len > READ_AHEAD ? len : READ_AHEAD, &total, err);
        if (code == DD_OK && total != r->size)
            code = dd_fail(err, DD_IO, "resource %" PRId64 " was replaced while open (%"
                           PRId64 " bytes, now %" PRId64 ")", r->id, r->size, total);
        if (code == DD_OK && off + (int64_t)len > r->buf_off + (int64_t)r->buf_len)
            code = dd_fail(err, DD_IO, "resource %" PRId64 ": a short answer", r->id);
    }
    if (code == DD_OK) {
        memcpy(buf, r->buf + (off - r->buf_off), len);
        *got = len;
    }
    pthread_mutex_unlock(&r->mu);
    return code;
}

/* ---------------------------------------------------------------- uploads */

static dd_code ra_upload_begin(void *impl, void **up, dd_err *err)
{
    (void)up;
    rarts *ra = impl;
    return dd_fail(err, DD_READ_ONLY, "uploads through a remote mount are not built yet (%s)",
                   dd_store_path(ra->st));
}

static dd_code ra_upload_write(void *up, const void *data, size_t len, dd_err *err)
{
    (void)up, (void)data, (void)len;
    return dd_fail(err, DD_READ_ONLY, "uploads through a remote mount are not built yet");
}

static dd_code ra_upload_commit(void *up, int64_t experiment_id, const char *name,
                                bool replace, int64_t *id_out, dd_err *err)
{
    (void)up, (void)experiment_id, (void)name, (void)replace, (void)id_out;
    return dd_fail(err, DD_READ_ONLY, "uploads through a remote mount are not built yet");
}

static void ra_upload_free(void *up) { (void)up; }

/* ---------------------------------------------------------------- the table */

static void ra_close(void *impl)
{
    rarts *ra = impl;
    if (!ra)
        return;
    dd_rcache_free(ra->cache);
    free(ra->cacert);
    free(ra);
}

static const dd_artifacts_ops remote_artifacts_ops = {
    .name = "remote",
    .close = ra_close,
    .upload_begin = ra_upload_begin,
    .upload_write = ra_upload_write,
    .upload_commit = ra_upload_commit,
    .upload_free = ra_upload_free,
    .open = ra_open,
    .pread = ra_pread,
    .close_reader = ra_close_reader,
};

/* $XDG_CACHE_HOME/deardiary, else ~/.cache/deardiary. */
static char *default_cache_dir(void)
{
    const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char *out = NULL;
    if (x && x[0] == '/')
        return asprintf(&out, "%s/deardiary", x) < 0 ? NULL : out;
    return asprintf(&out, "%s/.cache/deardiary", home && *home ? home : "/tmp") < 0 ? NULL
                                                                                   : out;
}

dd_code dd_remote_artifacts_open(dd_store *st, const dd_remote_artifacts_options *o,
                                 dd_artifacts **out, dd_err *err)
{
    *out = NULL;
    rarts *ra = calloc(1, sizeof *ra);
    if (!ra)
        return dd_fail(err, DD_IO, "out of memory");
    ra->st = st;
    dd_code code = DD_OK;
    if (o && o->cacert && !(ra->cacert = strdup(o->cacert)))
        code = dd_fail(err, DD_IO, "out of memory");
    if (code == DD_OK && o && o->cache_max > 0) {
        char *dir = o->cache_dir && *o->cache_dir ? strdup(o->cache_dir) : default_cache_dir();
        char msg[DD_ERR_MSG_MAX] = "out of memory";
        ra->cache = dir ? dd_rcache_new(dir, o->cache_max, msg, sizeof msg) : NULL;
        if (!ra->cache)
            code = dd_fail(err, DD_IO, "%s", msg);
        free(dir);
    }
    if (code != DD_OK) {
        ra_close(ra);
        return code;
    }
    return dd_artifacts_wrap(st, &remote_artifacts_ops, ra, out, err);
}
