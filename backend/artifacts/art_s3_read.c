/*
 * art_s3_read.c - readers of the s3 artifact backend (art_int.h: art_s3_open, _pread,
 * _close), over the request layer of art_s3.c.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "art_s3_int.h"

/* ---------------------------------------------------------------- readers */

/*
 * A reader streams: one GET from the first byte wanted to the end of the object
 * ("Range: bytes=N-"), run by the reader's stream thread, fills a ring buffer of at most
 * S3_RING bytes; reads copy out of it and free the space, which lets the stream go on.
 * So a sequential reader costs one request, like a plain GET, and the network, the
 * copy and FUSE overlap. The last S3_KEEP bytes before the latest read stay in the ring,
 * so slightly out-of-order reads (the kernel's readahead) are still served. A read
 * elsewhere (a seek) cancels the stream and is served by one ranged GET of at least
 * 1 MiB; reading on from there starts a new stream. A stream that fails is started again
 * from where it stopped by the read that needs it, with the usual backoff; after
 * S3_ATTEMPTS failures that read gets the error.
 */
struct art_s3_rd {
    art_s3 *s;
    char key[40];
    int64_t size;
    pthread_mutex_t mu;         /* everything below */
    pthread_cond_t cv;          /* data arrived, space freed, stream state changed */
    unsigned char *ring;
    size_t cap;
    size_t head;                /* ring index of the byte at `first` */
    int64_t first;              /* object offset of the oldest byte held */
    size_t len;                 /* bytes held */
    /* the stream */
    pthread_t thread;
    bool started, stop;
    bool want;                  /* a stream from first + len is asked for */
    bool running;
    bool cancel;                /* the running stream must end */
    dd_code code;               /* how the last stream ended */
    int64_t next;               /* where a sequential reader reads next */
    dd_err err;
};

#define S3_RING ((size_t)16 << 20)
#define S3_KEEP ((size_t)2 << 20)

/* Stream write callback: append to the ring, waiting for space; 0 (abort) on cancel. */
static size_t ring_put(void *arg, const char *data, size_t n)
{
    art_s3_rd *r = arg;
    size_t done = 0;
    pthread_mutex_lock(&r->mu);
    while (done < n) {
        if (r->cancel || r->stop)
            break;
        if (r->len == r->cap) {
            pthread_cond_wait(&r->cv, &r->mu);
            continue;
        }
        size_t tail = (r->head + r->len) % r->cap;
        size_t room = r->cap - r->len;
        size_t seg = r->cap - tail < room ? r->cap - tail : room;
        size_t k = n - done < seg ? n - done : seg;
        memcpy(r->ring + tail, data + done, k);
        r->len += k;
        done += k;
        pthread_cond_broadcast(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    return done;
}

static void *stream_main(void *arg)
{
    art_s3_rd *r = arg;
    CURL *h = curl_easy_init();
    s3_req *q = calloc(1, sizeof *q);
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->stop && !r->want)
            pthread_cond_wait(&r->cv, &r->mu);
        if (r->stop)
            break;
        r->want = false;
        r->running = true;
        int64_t from = r->first + (int64_t)r->len;
        pthread_mutex_unlock(&r->mu);
        dd_err e = {0};
        dd_code code;
        if (!h || !q) {
            code = dd_fail(&e, DD_IO, "out of memory");
        } else {
            memset(q, 0, sizeof *q);
            q->method = "GET";
            q->key = r->key;
            q->range_lo = from;
            q->range_len = r->size - from;
            q->stream = ring_put;
            q->stream_ctx = r;
            q->once = true;             /* bytes already streamed cannot be taken back */
            code = s3_ok(r->s, h, q, &e);
            if (code == DD_OK && q->total >= 0 && q->total != r->size)
                code = dd_fail(&e, DD_IO, "s3 object %s/%s holds %lld bytes, its resource"
                               " says %lld", r->s->bucket, r->key, (long long)q->total,
                               (long long)r->size);
        }
        pthread_mutex_lock(&r->mu);
        if (code == DD_OK && r->first + (int64_t)r->len < r->size && !r->cancel)
            code = dd_fail(&e, DD_IO, "s3 GET %s/%s ended at %lld of %lld bytes",
                           r->s->bucket, r->key, (long long)(r->first + (int64_t)r->len),
                           (long long)r->size);
        r->code = code;
        r->err = e;
        r->running = false;
        pthread_cond_broadcast(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    free(q);
    if (h)
        curl_easy_cleanup(h);
    return NULL;
}

void art_s3_close(art_s3_rd *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    r->cancel = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (r->started)
        pthread_join(r->thread, NULL);
    free(r->ring);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

/* Is the object there, and of the resource's size? The first bytes (at most 1 MiB, one
 * ranged GET) land in the ring; an empty object is asked with HEAD. */
static dd_code first_bytes(art_s3_rd *r, dd_err *err)
{
    CURL *h = curl_easy_init();
    s3_req *q = h ? s3_req_new(r->size > 0 ? "GET" : "HEAD", r->key, err) : NULL;
    if (!q) {
        if (h)
            curl_easy_cleanup(h);
        return dd_fail(err, DD_IO, "out of memory");
    }
    size_t n = r->size < (int64_t)S3_WIN_MIN ? (size_t)r->size : S3_WIN_MIN;
    dd_code code;
    if (r->size > 0) {
        q->range_lo = 0;
        q->range_len = (int64_t)n;
        q->sink = r->ring;
        q->sink_cap = n;
        code = s3_ok(r->s, h, q, err);
        if (code == DD_OK && q->total >= 0 && q->total != r->size)
            code = dd_fail(err, DD_IO, "s3 object %s/%s holds %lld bytes, its resource says"
                           " %lld", r->s->bucket, r->key, (long long)q->total,
                           (long long)r->size);
        else if (code == DD_OK && q->sink_len != n)
            code = dd_fail(err, DD_IO, "s3 GET %s/%s: %zu bytes, expected %zu", r->s->bucket,
                           r->key, q->sink_len, n);
        if (code == DD_OK)
            r->len = n;
    } else {
        code = s3_do(r->s, h, q, err);
        curl_off_t len = -1;
        if (code == DD_OK && q->status == 404)
            code = dd_fail(err, DD_NOT_FOUND, "s3 object %s/%s is missing", r->s->bucket,
                           r->key);
        else if (code == DD_OK && (q->status < 200 || q->status >= 300))
            code = s3_http_fail(r->s, q, DD_IO, err);
        if (code == DD_OK && (curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len),
                              len != 0))
            code = dd_fail(err, DD_IO, "s3 object %s/%s holds %lld bytes, its resource says 0",
                           r->s->bucket, r->key, (long long)len);
    }
    free(q);
    curl_easy_cleanup(h);
    return code;
}

dd_code art_s3_open(art_s3 *s, const char *uri, int64_t size, art_s3_rd **out, dd_err *err)
{
    *out = NULL;
    const char *key = s ? s3_uri_key(s, uri) : NULL;
    if (!s)
        return dd_fail(err, DD_IO, "%s is in s3, and no s3 endpoint is configured", uri);
    if (!key)
        return dd_fail(err, DD_IO, "\"%s\" is not an object of the configured bucket \"%s\"",
                       uri, s->bucket);
    art_s3_rd *r = calloc(1, sizeof *r);
    if (!r)
        return dd_fail(err, DD_IO, "out of memory");
    r->s = s;
    r->size = size;
    snprintf(r->key, sizeof r->key, "%s", key);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->cap = size < (int64_t)S3_RING ? (size_t)size : S3_RING;
    if (r->cap < S3_WIN_MIN)
        r->cap = size > 0 ? (size_t)size : 1;
    dd_code code = (r->ring = malloc(r->cap)) ? first_bytes(r, err)
                                               : dd_fail(err, DD_IO, "out of memory");
    if (code != DD_OK) {
        art_s3_close(r);
        return code;
    }
    *out = r;
    return DD_OK;
}

/* With r->mu held: forget what the ring holds before `upto` (never past its end). */
static void ring_drop(art_s3_rd *r, int64_t upto)
{
    int64_t end = r->first + (int64_t)r->len;
    if (upto > end)
        upto = end;
    if (upto <= r->first)
        return;
    size_t drop = (size_t)(upto - r->first);
    r->head = (r->head + drop) % r->cap;
    r->first = upto;
    r->len -= drop;
    pthread_cond_broadcast(&r->cv);
}

/* With r->mu held and no stream running: hold the `n` bytes at `at` (one ranged GET in
 * the caller's thread), for a read that is not where the stream was. */
static dd_code ring_seek(art_s3_rd *r, int64_t at, size_t n, dd_err *err)
{
    r->first = at;
    r->head = 0;
    r->len = 0;
    r->code = DD_OK;
    if (n > r->cap)
        n = r->cap;
    if ((int64_t)n > r->size - at)
        n = (size_t)(r->size - at);
    CURL *h = curl_easy_init();
    s3_req *q = h ? s3_req_new("GET", r->key, err) : NULL;
    dd_code code = q ? DD_OK : dd_fail(err, DD_IO, "out of memory");
    if (q) {
        q->range_lo = at;
        q->range_len = (int64_t)n;
        q->sink = r->ring;
        q->sink_cap = n;
        code = s3_ok(r->s, h, q, err);
        if (code == DD_OK && q->sink_len != n)
            code = dd_fail(err, DD_IO, "s3 GET %s/%s: %zu bytes at %lld, expected %zu",
                           r->s->bucket, r->key, q->sink_len, (long long)at, n);
        if (code == DD_OK)
            r->len = n;
    }
    free(q);
    if (h)
        curl_easy_cleanup(h);
    return code;
}

/* With r->mu held: have the stream thread continue from the ring's end. */
static dd_code stream_more(art_s3_rd *r, dd_err *err)
{
    if (!r->started) {
        r->started = pthread_create(&r->thread, NULL, stream_main, r) == 0;
        if (!r->started)
            return dd_fail(err, DD_IO, "cannot start a reader thread");
    }
    r->code = DD_OK;
    r->want = true;
    pthread_cond_broadcast(&r->cv);
    return DD_OK;
}

dd_code art_s3_pread(art_s3_rd *r, int64_t off, void *buf, size_t len, size_t *got,
                     dd_err *err)
{
    *got = 0;
    if (off < 0)
        return dd_fail(err, DD_INVALID, "negative offset");
    if (off >= r->size || len == 0)
        return DD_OK;
    if ((int64_t)len > r->size - off)
        len = (size_t)(r->size - off);
    pthread_mutex_lock(&r->mu);
    dd_code code = DD_OK;
    size_t done = 0;
    int failures = 0;
    bool sequential = off == r->next;
    while (done < len && code == DD_OK) {
        int64_t at = off + (int64_t)done;
        int64_t end = r->first + (int64_t)r->len;
        if (at >= r->first && at < end) {
            size_t pos = (r->head + (size_t)(at - r->first)) % r->cap;
            size_t avail = (size_t)(end - at);
            size_t seg = r->cap - pos < avail ? r->cap - pos : avail;
            size_t k = len - done < seg ? len - done : seg;
            memcpy((char *)buf + done, r->ring + pos, k);
            done += k;
            continue;
        }
        ring_drop(r, at - (int64_t)S3_KEEP);         /* room for the stream */
        bool on_its_way = at >= r->first && at < r->first + (int64_t)r->cap;
        if (on_its_way && (r->running || r->want)) {
            pthread_cond_wait(&r->cv, &r->mu);
            continue;
        }
        if (at == end && (sequential || r->code != DD_OK)) {
            if (r->code != DD_OK) {                  /* the stream failed here */
                if (++failures >= S3_ATTEMPTS) {
                    code = r->code;
                    if (err)
                        *err = r->err;
                    break;
                }
                pthread_mutex_unlock(&r->mu);
                s3_sleep_ms((long)S3_BACKOFF_MS << (failures - 1));
                pthread_mutex_lock(&r->mu);
            }
            code = stream_more(r, err);
            continue;
        }
        /* a seek: stop the stream, read what is asked here */
        r->cancel = true;
        r->want = false;
        pthread_cond_broadcast(&r->cv);
        while (r->running)
            pthread_cond_wait(&r->cv, &r->mu);
        r->cancel = false;
        size_t want = len - done > S3_WIN_MIN ? len - done : S3_WIN_MIN;
        code = ring_seek(r, at, want, err);
    }
    ring_drop(r, off + (int64_t)done - (int64_t)S3_KEEP);
    r->next = off + (int64_t)done;
    /* a sequential reader: the stream runs ahead of its next read */
    if (code == DD_OK && sequential && !r->running && !r->want && r->code == DD_OK &&
        r->first + (int64_t)r->len < r->size)
        code = stream_more(r, err);
    pthread_mutex_unlock(&r->mu);
    if (code == DD_OK)
        *got = done;
    return code;
}
