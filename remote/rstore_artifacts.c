/*
 * rstore_artifacts.c - see rstore_artifacts.h.
 *
 * Requests: GET /resource/{id}/data with "Range: bytes=OFF-" for reads (one per run of
 * sequential reads; each handle has its own connection, so parallel readers do not queue
 * behind one another or behind the listings), the same without Range for a node-cache
 * fetch.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/uio.h>
#include <unistd.h>

#include "artifacts_ops.h"
#include "cache.h"
#include "rstore_artifacts.h"
#include "rstore_int.h"

/* A handle's window of the bytes: up to AHEAD read ahead of the furthest byte a read has
 * taken, and KEEP behind it (reads a little out of order, as the kernel's readahead
 * issues them, are served without asking again). 8 MiB ahead lets the stream run on
 * while the reader's requests go through FUSE (with 1 MiB, exactly one 1 MiB request
 * ahead, the stream stopped at every request; BENCHMARKS.md "Remote artifact reads:
 * streamed"), as the s3 backend's 16 MiB ring does. */
#define AHEAD ((int64_t)8 << 20)
#define KEEP ((int64_t)2 << 20)
#define WINDOW (AHEAD + KEEP)

typedef struct rarts {
    dd_store *st;
    char *cacert;
    dd_rcache *cache;       /* NULL: nothing is cached (cache_max 0) */
} rarts;

/*
 * A reader. From the node cache: pread of its copy (fd), following the fill thread while
 * this handle fetches the copy (fill). Otherwise a stream: one GET
 * with "Range: bytes=OFF-" per run of sequential reads, on a thread of the handle's own
 * that fills the window (a ring: byte p at win[p % WINDOW]) and waits while it is full;
 * a read before the window, or more than AHEAD past it, ends that GET and starts another
 * at its offset. Memory per handle: WINDOW bytes.
 */
typedef struct rreader {
    rarts *ra;
    int64_t id;
    int64_t size;           /* named by the first answer; a later GET naming another: EIO */
    int fd;                 /* the node cache's copy, or -1: streamed */
    pthread_mutex_t op;     /* one read at a time per handle (FUSE may read in parallel) */
    dd_http *http;
    char *token;
    char *win;
    /* the stream, under mu: */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool running;           /* a thread to join */
    bool head, over, stop;  /* headers in; the GET ended; asked to stop */
    long status;
    int64_t total;          /* the size this GET names */
    int64_t base, end, hi;  /* [base, end) in the window; hi: furthest byte taken */
    int64_t pin;            /* a read uses the bytes from here on, without mu: they stay
                               until it is done (INT64_MAX: none) */
    char msg[DD_ERR_MSG_MAX];   /* why the GET ended short */
    int64_t from;           /* where the current GET began */
    /* a version's first read: the node cache's copy filled by the thread (fd is its
     * temporary copy), under mu */
    dd_rcache_fill *fill;   /* the thread's until it ends the fill */
    int64_t filled;         /* bytes written to fd so far */
    bool fill_over;         /* the fill ended (complete, or failed with msg) */
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

static void on_head(void *ctx, long status, int64_t total)
{
    rreader *r = ctx;
    pthread_mutex_lock(&r->mu);
    r->head = true, r->status = status, r->total = total;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* The stream's sink: into the window, waiting while it is full. */
static int on_window(void *ctx, const void *data, size_t len)
{
    rreader *r = ctx;
    const char *p = data;
    pthread_mutex_lock(&r->mu);
    while (len && !r->stop) {
        int64_t keep = r->hi - KEEP < r->pin ? r->hi - KEEP : r->pin;
        if (r->end - r->base == WINDOW && keep > r->base)
            r->base = keep < r->end ? keep : r->end;   /* drop the oldest */
        if (r->end - r->base == WINDOW) {
            pthread_cond_wait(&r->cv, &r->mu);
            continue;
        }
        size_t at = (size_t)(r->end % WINDOW);
        size_t run = (size_t)(WINDOW - (r->end - r->base));
        if (run > (size_t)WINDOW - at)
            run = (size_t)WINDOW - at;
        if (run > len)
            run = len;
        memcpy(r->win + at, p, run);
        r->end += (int64_t)run, p += run, len -= run;
        pthread_cond_broadcast(&r->cv);
    }
    int rc = r->stop ? -1 : 0;
    pthread_mutex_unlock(&r->mu);
    return rc;
}

static void *stream(void *ctx)
{
    rreader *r = ctx;
    char path[64], msg[DD_ERR_MSG_MAX] = "";
    snprintf(path, sizeof path, "/resource/%" PRId64 "/data", r->id);
    long status;
    int64_t total;
    int rc = dd_http_get_bytes(r->http, path, r->token, r->from, -1, on_head, on_window, r,
                               &status, &total, msg, sizeof msg);
    pthread_mutex_lock(&r->mu);
    if (!r->head)
        r->status = rc == 0 ? status : 0, r->total = total;
    r->head = r->over = true;
    snprintf(r->msg, sizeof r->msg, "%s", rc == 0 && (status == 200 || status == 206)
                                              ? "the answer ended early" : msg);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* End the current GET, if any (op held, mu not). */
static void stream_stop(rreader *r)
{
    if (!r->running)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    r->running = false;
}

static dd_code stream_check(rreader *r, int64_t off, dd_err *err);

/* A GET from `off` on, its headers in (op held, mu not). The answer's status and size
 * are checked: the size must be the reader's (once known). A refused answer's GET is
 * ended at once, so no later read takes its bytes. */
static dd_code stream_start(rreader *r, int64_t off, dd_err *err)
{
    stream_stop(r);
    r->head = r->over = r->stop = false;
    r->status = 0, r->total = -1;
    r->base = r->end = r->hi = r->from = off;
    r->pin = INT64_MAX;
    r->msg[0] = '\0';
    if (pthread_create(&r->thread, NULL, stream, r) != 0)
        return dd_fail(err, DD_IO, "cannot start a reading thread");
    r->running = true;
    dd_code code = stream_check(r, off, err);
    if (code != DD_OK)
        stream_stop(r);
    return code;
}

/* The new GET's headers: wait for them, check status and size. */
static dd_code stream_check(rreader *r, int64_t off, dd_err *err)
{
    pthread_mutex_lock(&r->mu);
    while (!r->head)
        pthread_cond_wait(&r->cv, &r->mu);
    long status = r->status;
    int64_t total = r->total;
    pthread_mutex_unlock(&r->mu);
    char path[64];
    snprintf(path, sizeof path, "/resource/%" PRId64 "/data", r->id);
    if (status == 416 && total >= 0 && off >= total)   /* at or past the end */
        status = 206;
    else if (status == 0)
        return dd_fail(err, DD_IO, "%s", r->msg);
    else if (status != 206 && !(status == 200 && off == 0))
        return status == 200 ? dd_fail(err, DD_IO, "%s: the server ignored the range", path)
                             : status_fail(status, path, r->msg, err);
    if (total < 0)
        return dd_fail(err, DD_IO, "%s: the answer names no size", path);
    if (r->size >= 0 && total != r->size)
        return dd_fail(err, DD_IO, "resource %" PRId64 " was replaced while open (%" PRId64
                       " bytes, now %" PRId64 ")", r->id, r->size, total);
    r->size = total;
    return DD_OK;
}

/* Wait until bytes [off, want) are in the window (op held; off < want <= size), starting
 * a GET at off when they are out of its reach or the GET under way ended short. The
 * window keeps them until stream_release (pin: the thread drops no byte from off on). */
static dd_code stream_hold(rreader *r, int64_t off, int64_t want, dd_err *err)
{
    for (int attempt = 0;; attempt++) {
        pthread_mutex_lock(&r->mu);
        bool reach = r->running && !r->stop && off >= r->base && off <= r->end + AHEAD;
        if (reach) {
            if (off > r->hi)
                r->hi = off;            /* let the window move on to it */
            pthread_cond_broadcast(&r->cv);
            while (r->end < want && !r->over)
                pthread_cond_wait(&r->cv, &r->mu);
            reach = off >= r->base && r->end >= want;
        }
        if (reach)
            r->pin = off;       /* read without mu until stream_release */
        bool over = r->over;
        pthread_mutex_unlock(&r->mu);
        if (reach)
            return DD_OK;
        /* out of reach, or the GET ended short (a cut connection): one new GET */
        if (attempt == 2 || (attempt == 1 && over))
            return dd_fail(err, DD_IO, "resource %" PRId64 ": %s", r->id,
                           r->msg[0] ? r->msg : "cannot read");
        dd_code code = stream_start(r, off, err);
        if (code != DD_OK)
            return code;
    }
}

/* The held bytes [off, want) as at most two runs of the ring; their count. The thread
 * writes only outside [base, end) and keeps base <= pin, so they can be read without mu. */
static int stream_runs(const rreader *r, int64_t off, int64_t want, struct iovec iov[2])
{
    int n = 0;
    for (int64_t p = off; p < want; n++) {
        size_t at = (size_t)(p % WINDOW);
        size_t run = (size_t)(want - p) < (size_t)WINDOW - at ? (size_t)(want - p)
                                                             : (size_t)WINDOW - at;
        iov[n].iov_base = r->win + at;
        iov[n].iov_len = run;
        p += (int64_t)run;
    }
    return n;
}

/* Done with [.., want): the window may move on past it. */
static void stream_release(rreader *r, int64_t want)
{
    pthread_mutex_lock(&r->mu);
    if (want > r->hi)
        r->hi = want;
    r->pin = INT64_MAX;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Bytes [off, off + len) of the stream into buf (op held; len > 0, off + len <= size,
 * len <= AHEAD). */
static dd_code stream_read(rreader *r, int64_t off, char *buf, size_t len, dd_err *err)
{
    int64_t want = off + (int64_t)len;
    dd_code code = stream_hold(r, off, want, err);
    if (code != DD_OK)
        return code;
    struct iovec iov[2];
    int n = stream_runs(r, off, want, iov);
    for (int i = 0, at = 0; i < n; at += (int)iov[i].iov_len, i++)
        memcpy(buf + at, iov[i].iov_base, iov[i].iov_len);
    stream_release(r, want);
    return DD_OK;
}

/* ---------------------------------------------------------------- readers */

static void reader_free(rreader *r)
{
    if (!r)
        return;
    stream_stop(r);
    if (r->fd >= 0)
        close(r->fd);
    dd_http_free(r->http);
    if (r->token) {
        explicit_bzero(r->token, strlen(r->token));
        free(r->token);
    }
    free(r->win);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    pthread_mutex_destroy(&r->op);
    free(r);
}

static void ra_close_reader(void *rd) { reader_free(rd); }

/* The fill's sink: the bytes to the temporary copy, in order, then counted as readable. */
static int fill_sink(void *ctx, const void *data, size_t len)
{
    rreader *r = ctx;
    const char *p = data;
    for (size_t left = len; left;) {
        ssize_t n = write(r->fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            pthread_mutex_lock(&r->mu);
            snprintf(r->msg, sizeof r->msg, "artifact cache: %s",
                     n < 0 ? strerror(errno) : "cannot write");
            pthread_mutex_unlock(&r->mu);
            return -1;
        }
        p += n, left -= (size_t)n;
    }
    pthread_mutex_lock(&r->mu);
    r->filled += (int64_t)len;
    pthread_cond_broadcast(&r->cv);
    int rc = r->stop ? -1 : 0;
    pthread_mutex_unlock(&r->mu);
    return rc;
}

/* The fill's thread: one GET of the whole artifact into the node cache's temporary copy,
 * which the handle's reads follow; then the copy takes its name (or goes, on failure). */
static void *fill_run(void *ctx)
{
    rreader *r = ctx;
    char path[64], msg[DD_ERR_MSG_MAX] = "";
    snprintf(path, sizeof path, "/resource/%" PRId64 "/data", r->id);
    long status;
    int64_t total;
    int rc = dd_http_get_bytes(r->http, path, r->token, -1, -1, NULL, fill_sink, r, &status,
                               &total, msg, sizeof msg);
    pthread_mutex_lock(&r->mu);
    if (r->msg[0])          /* the sink's own reason (a full disk) */
        snprintf(msg, sizeof msg, "%s", r->msg);
    bool stopped = r->stop;
    pthread_mutex_unlock(&r->mu);
    int ok = rc == 0 && status == 200;
    if (dd_rcache_fill_end(r->fill, ok, msg, sizeof msg) != 0)
        ok = 0;
    if (!ok && !stopped)
        syslog(LOG_ERR, "resource %" PRId64 ": %s", r->id, msg);
    pthread_mutex_lock(&r->mu);
    r->fill = NULL;
    r->fill_over = true;
    if (!ok)
        snprintf(r->msg, sizeof r->msg, "%s", msg[0] ? msg : "the fetch failed");
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* Wait until the fill has written [.., want), or ended (mu not held). DD_IO when it
 * failed before those bytes. */
static dd_code fill_wait(rreader *r, int64_t want, dd_err *err)
{
    pthread_mutex_lock(&r->mu);
    while (r->running && !r->fill_over && r->filled < want)
        pthread_cond_wait(&r->cv, &r->mu);
    dd_code code = !r->running || r->filled >= want
                       ? DD_OK
                       : dd_fail(err, DD_IO, "resource %" PRId64 ": %s", r->id, r->msg);
    pthread_mutex_unlock(&r->mu);
    return code;
}

/* A version's artifact from the node cache; r->fd stays -1 when it is not cached (too
 * large, or no cache), an error when the fetch failed. The size is the row's: a version's
 * bytes cannot change while it is registered. */
static dd_code open_version(rreader *r, dd_err *err)
{
    dd_resource row;
    dd_code code = dd_resource_get(r->ra->st, r->id, &row, err);
    if (code != DD_OK)
        return code;
    r->size = row.size_bytes;
    int64_t generation = row.generation;
    dd_resource_clear(&row);
    if (!r->ra->cache)
        return DD_OK;
    char msg[DD_ERR_MSG_MAX] = "";
    r->fd = dd_rcache_begin(r->ra->cache, r->id, generation, r->size, &r->fill, msg,
                            sizeof msg);
    if (r->fd < 0 && errno != EFBIG) {
        syslog(LOG_ERR, "resource %" PRId64 ": %s", r->id, msg);
        return dd_fail(err, DD_IO, "resource %" PRId64 ": %s", r->id, msg);
    }
    if (!r->fill)
        return DD_OK;
    /* not cached yet: reads follow the fetch instead of waiting for all of it */
    if (pthread_create(&r->thread, NULL, fill_run, r) != 0) {
        dd_rcache_fill_end(r->fill, 0, msg, sizeof msg);
        r->fill = NULL;
        return dd_fail(err, DD_IO, "cannot start a reading thread");
    }
    r->running = true;
    return DD_OK;
}

static dd_code ra_open(void *impl, int64_t resource_id, bool version, void **rd,
                       int64_t *size_out, dd_err *err)
{
    rarts *ra = impl;
    rreader *r = calloc(1, sizeof *r);
    if (!r)
        return dd_fail(err, DD_IO, "out of memory");
    r->ra = ra, r->id = resource_id, r->fd = -1, r->size = -1;
    pthread_mutex_init(&r->op, NULL);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->http = dd_http_new(dd_store_path(ra->st), ra->cacert);
    dd_code code = r->http ? rs_token_dup(ra->st, &r->token, err)
                           : dd_fail(err, DD_IO, "out of memory");
    if (code == DD_OK && version)
        code = open_version(r, err);
    if (code == DD_OK && r->fd < 0 && !(r->win = malloc((size_t)WINDOW)))
        code = dd_fail(err, DD_IO, "out of memory");
    /* a resource's stream starts now, and its answer names the size; a version's starts
     * at the first read that needs it (the kernel may serve every read from its cache) */
    if (code == DD_OK && r->fd < 0 && !version)
        code = stream_start(r, 0, err);
    if (code != DD_OK) {
        reader_free(r);
        return code;
    }
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
        dd_code code = fill_wait(r, off + (int64_t)len, err);
        if (code != DD_OK)
            return code;
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
    pthread_mutex_lock(&r->op);
    /* more than the window at once: in window-sized pieces */
    dd_code code = DD_OK;
    while (code == DD_OK && *got < len) {
        size_t piece = len - *got < (size_t)AHEAD ? len - *got : (size_t)AHEAD;
        code = stream_read(r, off + (int64_t)*got, (char *)buf + *got, piece, err);
        if (code == DD_OK)
            *got += piece;
    }
    pthread_mutex_unlock(&r->op);
    return code;
}

/* The bytes handed over from the window itself (artifacts_ops.h pread_with): no copy
 * into the caller's buffer. A copy in the node cache, or a read longer than the window
 * holds ahead, is DD_UNSUPPORTED (the caller uses pread). */
static dd_code ra_pread_with(void *rd, int64_t off, size_t len, dd_artifact_take take,
                             void *ctx, dd_err *err)
{
    rreader *r = rd;
    if (r->fd >= 0 || len > (size_t)AHEAD)
        return DD_UNSUPPORTED;
    if (off >= r->size || len == 0) {
        take(ctx, NULL, 0);
        return DD_OK;
    }
    if ((int64_t)len > r->size - off)
        len = (size_t)(r->size - off);
    int64_t want = off + (int64_t)len;
    pthread_mutex_lock(&r->op);
    dd_code code = stream_hold(r, off, want, err);
    if (code == DD_OK) {
        struct iovec iov[2];
        int n = stream_runs(r, off, want, iov);
        take(ctx, iov, n);
        stream_release(r, want);
    }
    pthread_mutex_unlock(&r->op);
    return code;
}

/* ---------------------------------------------------------------- uploads */

/*
 * An upload is one streamed request (REMOTE.md §8): POST /resource/experiment/{eid} (a
 * new name) or PATCH /resource/{id} (new bytes for an existing one), a multipart body
 * whose "name" part comes first (so the server refuses a taken or bad name before any
 * byte is stored) and whose "data" part has no length: libcurl sends it chunked, pulling
 * from a RING-byte ring on a thread of its own. dd_upload_write copies into the ring and
 * waits while it is full (the FUSE writer is held back: bounded memory whatever the
 * size); commit marks the end, and waits for the server's answer (201 or 200: the bytes
 * are the resource's); free without commit aborts the transfer, and the server discards
 * a cut upload (nothing of it is ever visible).
 */
#define RING ((size_t)4 << 20)
#define ANSWER_MAX 65536

typedef struct rupload {
    rarts *ra;
    int64_t experiment_id;
    char name[DD_NAME_MAX + 1];
    int64_t replace_id;         /* PATCH this resource; 0: POST a new one */
    CURL *curl;
    curl_mime *mime;
    struct curl_slist *hdrs;
    char *auth;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *ring;
    size_t head, len;           /* bytes [head, head + len) mod RING wait to be sent */
    bool eof, abort, done;      /* done: the transfer ended (answered, failed, aborted) */
    CURLcode rc;
    long status;
    char answer[ANSWER_MAX];
    size_t answer_len;
} rupload;

/* libcurl's read callback: up to `size * n` bytes from the ring; 0 at the end. */
static size_t ring_read(char *buf, size_t size, size_t n, void *ctx)
{
    rupload *u = ctx;
    size_t want = size * n, got = 0;
    pthread_mutex_lock(&u->mu);
    while (!u->len && !u->eof && !u->abort)
        pthread_cond_wait(&u->cv, &u->mu);
    if (u->abort) {
        pthread_mutex_unlock(&u->mu);
        return CURL_READFUNC_ABORT;
    }
    while (got < want && u->len) {
        size_t run = RING - u->head < u->len ? RING - u->head : u->len;
        if (run > want - got)
            run = want - got;
        memcpy(buf + got, u->ring + u->head, run);
        u->head = (u->head + run) % RING, u->len -= run, got += run;
    }
    pthread_cond_broadcast(&u->cv);
    pthread_mutex_unlock(&u->mu);
    return got;
}

static size_t answer_write(char *ptr, size_t size, size_t n, void *ctx)
{
    rupload *u = ctx;
    size_t len = size * n, room = ANSWER_MAX - 1 - u->answer_len;
    memcpy(u->answer + u->answer_len, ptr, len < room ? len : room);
    u->answer_len += len < room ? len : room;
    return len;
}

static void *transfer(void *ctx)
{
    rupload *u = ctx;
    CURLcode rc = curl_easy_perform(u->curl);
    long status = 0;
    curl_easy_getinfo(u->curl, CURLINFO_RESPONSE_CODE, &status);
    pthread_mutex_lock(&u->mu);
    u->rc = rc, u->status = status, u->done = true;
    pthread_cond_broadcast(&u->cv);
    pthread_mutex_unlock(&u->mu);
    return NULL;
}

/* The request, ready to perform. */
static dd_code upload_request(rupload *u, const char *token, dd_err *err)
{
    char *url = NULL;
    const char *base = dd_store_path(u->ra->st);
    int n = u->replace_id ? asprintf(&url, "%s/resource/%" PRId64, base, u->replace_id)
                          : asprintf(&url, "%s/resource/experiment/%" PRId64, base,
                                     u->experiment_id);
    u->curl = n < 0 ? NULL : curl_easy_init();
    u->mime = u->curl ? curl_mime_init(u->curl) : NULL;
    curl_mimepart *name = u->mime ? curl_mime_addpart(u->mime) : NULL;
    curl_mimepart *data = u->mime ? curl_mime_addpart(u->mime) : NULL;
    if (asprintf(&u->auth, "Authorization: Bearer %s", token) < 0)
        u->auth = NULL;
    struct curl_slist *h = u->auth ? curl_slist_append(NULL, u->auth) : NULL;
    /* no "Expect: 100-continue" round trip: the name part lets the server refuse early */
    u->hdrs = h ? curl_slist_append(h, "Expect:") : NULL;
    if (!u->hdrs && h)
        curl_slist_free_all(h);
    if (!url || !name || !data || !u->hdrs) {
        free(url);
        return dd_fail(err, DD_IO, "out of memory");
    }
    curl_mime_name(name, "name");
    curl_mime_data(name, u->name, CURL_ZERO_TERMINATED);
    curl_mime_name(data, "data");
    curl_mime_filename(data, u->name);
    curl_mime_data_cb(data, -1, ring_read, NULL, NULL, u);   /* unknown size: chunked */
    CURL *c = u->curl;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_MIMEPOST, u->mime);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, u->hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, answer_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, u);
    if (u->replace_id)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PATCH");
    if (u->ra->cacert)
        curl_easy_setopt(c, CURLOPT_CAINFO, u->ra->cacert);
    free(url);
    return DD_OK;
}

static void upload_free(rupload *u)
{
    if (!u)
        return;
    if (u->started) {
        pthread_mutex_lock(&u->mu);
        u->abort = !u->eof || u->abort;
        pthread_cond_broadcast(&u->cv);
        pthread_mutex_unlock(&u->mu);
        pthread_join(u->thread, NULL);
    }
    if (u->mime)
        curl_mime_free(u->mime);
    if (u->curl)
        curl_easy_cleanup(u->curl);
    curl_slist_free_all(u->hdrs);
    if (u->auth) {
        explicit_bzero(u->auth, strlen(u->auth));
        free(u->auth);
    }
    free(u->ring);
    pthread_cond_destroy(&u->cv);
    pthread_mutex_destroy(&u->mu);
    free(u);
}

static void ra_upload_free(void *up) { upload_free(up); }

static dd_code ra_upload_begin(void *impl, const dd_upload_target *t, void **up, dd_err *err)
{
    rarts *ra = impl;
    if (!t)
        return dd_fail(err, DD_INVALID, "an upload through a remote mount names its resource"
                       " when it begins");
    rupload *u = calloc(1, sizeof *u);
    if (!u)
        return dd_fail(err, DD_IO, "out of memory");
    u->ra = ra;
    u->experiment_id = t->experiment_id;
    snprintf(u->name, sizeof u->name, "%s", t->name);
    pthread_mutex_init(&u->mu, NULL);
    pthread_cond_init(&u->cv, NULL);
    dd_code code = dd_name_check(t->name, "resource name", err);
    int64_t id = 0;
    /* replace: new bytes for the name if it exists (PATCH), else a new resource */
    if (code == DD_OK && t->replace) {
        code = dd_resource_find(ra->st, t->experiment_id, t->name, &id, err);
        u->replace_id = code == DD_OK ? id : 0;
        code = code == DD_NOT_FOUND ? DD_OK : code;
    }
    char *token = NULL;
    if (code == DD_OK)
        code = rs_token_dup(ra->st, &token, err);
    if (code == DD_OK && !(u->ring = malloc(RING)))
        code = dd_fail(err, DD_IO, "out of memory");
    if (code == DD_OK)
        code = upload_request(u, token, err);
    if (token) {
        explicit_bzero(token, strlen(token));
        free(token);
    }
    if (code == DD_OK && pthread_create(&u->thread, NULL, transfer, u) != 0)
        code = dd_fail(err, DD_IO, "cannot start an upload thread");
    u->started = code == DD_OK;
    if (code != DD_OK) {
        upload_free(u);
        return code;
    }
    *up = u;
    return DD_OK;
}

/* The dd_code of a finished transfer that did not end in 200/201 (mu not needed: done). */
static dd_code upload_failure(rupload *u, dd_err *err)
{
    const char *what = u->name;
    if (u->rc != CURLE_OK && !u->status) {
        syslog(LOG_ERR, "%s: upload of %s: %s", dd_store_path(u->ra->st), what,
               curl_easy_strerror(u->rc));
        return dd_fail(err, DD_IO, "%s: upload of %s: %s", dd_store_path(u->ra->st), what,
                       curl_easy_strerror(u->rc));
    }
    u->answer[u->answer_len] = '\0';
    json_t *reply = json_loads(u->answer, 0, NULL);
    char text[300];
    dd_http_error_text(u->status, reply, text, sizeof text);
    json_decref(reply);
    /* the original routes answer 409 for a taken name (POST) and for bytes a model
     * version uses (PATCH: the name is the resource's own) */
    dd_code code = u->status == 409 ? (u->replace_id ? DD_IN_USE : DD_CONFLICT)
                   : u->status == 404 ? DD_NOT_FOUND
                   : u->status == 401 || u->status == 403 ? DD_FORBIDDEN
                   : u->status == 422 || u->status == 400 ? DD_INVALID
                   : u->status == 503 ? DD_BUSY : DD_IO;
    if (code == DD_IO)
        syslog(LOG_ERR, "%s: upload of %s: %s", dd_store_path(u->ra->st), what, text);
    return dd_fail(err, code, "resource %s: %s", what, text);
}

static dd_code ra_upload_write(void *up, const void *data, size_t len, dd_err *err)
{
    rupload *u = up;
    const char *p = data;
    pthread_mutex_lock(&u->mu);
    while (len && !u->done) {
        while (u->len == RING && !u->done)
            pthread_cond_wait(&u->cv, &u->mu);
        size_t tail = (u->head + u->len) % RING;
        size_t run = RING - u->len;
        if (run > RING - tail)
            run = RING - tail;
        if (run > len)
            run = len;
        memcpy(u->ring + tail, p, run);
        u->len += run, p += run, len -= run;
        pthread_cond_broadcast(&u->cv);
    }
    bool done = u->done;
    pthread_mutex_unlock(&u->mu);
    /* the server answered before the end (a refusal): the writer hears it now */
    return done ? upload_failure(u, err) : DD_OK;
}

static dd_code ra_upload_commit(void *up, int64_t experiment_id, const char *name,
                                bool replace, int64_t *id_out, dd_err *err)
{
    (void)replace;
    rupload *u = up;
    if (experiment_id != u->experiment_id || strcmp(name, u->name) != 0)
        return dd_fail(err, DD_INVALID, "the upload was begun for another resource");
    pthread_mutex_lock(&u->mu);
    u->eof = true;
    pthread_cond_broadcast(&u->cv);
    while (!u->done)
        pthread_cond_wait(&u->cv, &u->mu);
    pthread_mutex_unlock(&u->mu);
    if (u->rc != CURLE_OK || (u->status != 201 && u->status != 200))
        return upload_failure(u, err);
    u->answer[u->answer_len] = '\0';
    json_t *reply = json_loads(u->answer, 0, NULL);
    if (id_out)
        *id_out = u->replace_id ? u->replace_id
                                : json_integer_value(json_object_get(reply, "resource_id"));
    json_decref(reply);
    rs_forget(u->ra->st, "/v1/ls/experiment/%" PRId64, u->experiment_id);
    return DD_OK;
}

/* The store's check before new bytes (store_ops.h resource_check_replaceable): which
 * versions use a resource is not in any listing the node holds, so the server decides,
 * at the upload (409 -> DD_IN_USE: EBUSY at the write or the close, not at the open). */
dd_code rs_resource_check_replaceable(dd_store *st, int64_t id, dd_err *err)
{
    (void)st, (void)id, (void)err;
    return DD_OK;
}

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
    .pread_with = ra_pread_with,
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
