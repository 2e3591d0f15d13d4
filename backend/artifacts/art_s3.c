/*
 * art_s3.c - the s3 artifact backend: bytes in objects <bucket>/<aa>/<uuid> of any
 * S3-compatible service, path-style (<endpoint>/<bucket>/<key>), signed by libcurl's
 * built-in AWS SigV4 (CURLOPT_AWS_SIGV4; no signer of our own). The uri of a row is
 * "s3://<bucket>/<aa>/<uuid>"; the endpoint comes from the configuration, so a bucket
 * can move between endpoints without rewriting rows.
 *
 * Uploads spool to an unnamed file (art_s3_spool.c, which also hashes the bytes behind the
 * writer): below the multipart threshold the whole artifact goes in one PUT read from that
 * file when it is published (a single PUT needs its Content-Length before its first byte,
 * and `cp` does not announce its size), with the artifact's sha256 as its payload hash, so
 * memory stays a few buffers whatever the size. When the artifact reaches the threshold,
 * a multipart upload is started: the spooled bytes become the first parts, then every
 * full part is handed to sender threads (S3_SENDERS, each with its own curl handle and
 * connection) while the writer fills the next one, so at most (2 * S3_SENDERS + 1) parts
 * are in memory whatever the artifact's size. This backend computes the artifact's sha256
 * itself and hands it to artifacts.c. A failed or abandoned upload aborts its multipart
 * upload and deletes a published object (best effort: the service may be unreachable;
 * see docs/ARCHITECTURE.md).
 *
 * Readers are in art_s3_read.c: a sequential reader's bytes come from one GET to the
 * end of the object, run ahead of the reads by the reader's own thread into a bounded
 * ring buffer.
 *
 * Every request is retried with exponential backoff on connection errors, 5xx and 429.
 * Other failures become DD_IO with the S3 error code and message from the response body
 * ("HTTP 404 NoSuchBucket: The specified bucket does not exist"), or DD_NOT_FOUND for a
 * missing object where callers need to tell.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "art_s3_int.h"

/* ---------------------------------------------------------------- requests */


static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    s3_req *q = arg;
    size_t len = size * n;
    if (q->stream && q->status >= 200 && q->status < 300)
        return q->stream(q->stream_ctx, data, len);
    if (q->sink && q->status >= 200 && q->status < 300) {
        if (len > q->sink_cap - q->sink_len) {
            q->overflow = true;
            return 0;                   /* more than asked for: abort */
        }
        memcpy(q->sink + q->sink_len, data, len);
        q->sink_len += len;
        return len;
    }
    size_t keep = S3_TEXT_MAX - q->text_len < len ? S3_TEXT_MAX - q->text_len : len;
    memcpy(q->text + q->text_len, data, keep);
    q->text_len += keep;
    q->text[q->text_len] = 0;
    return len;
}

/* Status line (resets what an earlier attempt or a 100 Continue left), ETag, Content-Range. */
static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    s3_req *q = arg;
    size_t len = size * n;
    char line[256];
    size_t l = len < sizeof line - 1 ? len : sizeof line - 1;
    memcpy(line, data, l);
    line[l] = 0;
    while (l > 0 && (line[l - 1] == '\r' || line[l - 1] == '\n'))
        line[--l] = 0;
    long code;
    if (strncmp(line, "HTTP/", 5) == 0 && sscanf(line, "HTTP/%*s %ld", &code) == 1) {
        q->status = code;
        q->text_len = 0;
        q->text[0] = 0;
        q->sink_len = 0;
    } else if (strncasecmp(line, "etag:", 5) == 0) {
        const char *v = line + 5;
        while (*v == ' ')
            v++;
        size_t vl = strlen(v) < sizeof q->etag - 1 ? strlen(v) : sizeof q->etag - 1;
        memcpy(q->etag, v, vl);
        q->etag[vl] = 0;
    } else if (strncasecmp(line, "content-range:", 14) == 0) {
        const char *slash = strrchr(line, '/');
        if (slash && slash[1] != '*')
            q->total = strtoll(slash + 1, NULL, 10);
    }
    return len;
}

/* The next bytes of a PUT body, from memory or with one pread of the body file (curl asks
 * for its whole upload buffer at a time). A failed read aborts the request. */
static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
    s3_req *q = arg;
    size_t want = size * n, left = q->body_len - q->cur_off;
    if (want > left)
        want = left;
    if (want == 0)
        return 0;
    if (!q->from_fd) {
        memcpy(buf, q->body + q->cur_off, want);
        q->cur_off += want;
        return want;
    }
    ssize_t got;
    do
        got = pread(q->body_fd, buf, want, (off_t)q->cur_off);
    while (got < 0 && errno == EINTR);
    if (got <= 0) {
        q->read_errno = got < 0 ? errno : EIO;      /* a spool shorter than it should be */
        return CURL_READFUNC_ABORT;
    }
    q->cur_off += (size_t)got;
    return (size_t)got;
}

/* The text between <tag> and </tag> in an XML body, or "" (copied into out). */
static void xml_field(const char *xml, const char *tag, char *out, size_t cap)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    out[0] = 0;
    const char *a = strstr(xml, open);
    const char *b = a ? strstr(a, close) : NULL;
    if (!a || !b)
        return;
    a += strlen(open);
    size_t n = (size_t)(b - a) < cap - 1 ? (size_t)(b - a) : cap - 1;
    memcpy(out, a, n);
    out[n] = 0;
}

static bool curl_retryable(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

void s3_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Describe a failed response: "HTTP 404 NoSuchBucket: The specified bucket ...". */
dd_code s3_http_fail(const art_s3 *s, const s3_req *q, dd_code code, dd_err *err)
{
    char c[64], m[160];
    xml_field(q->text, "Code", c, sizeof c);
    xml_field(q->text, "Message", m, sizeof m);
    return dd_fail(err, code, "s3 %s %s/%s%s%s: HTTP %ld %s%s%s", q->method, s->bucket,
                   q->key ? q->key : "", q->query ? "?" : "", q->query ? q->query : "",
                   q->status, *c ? c : "(no S3 error code)", *m ? ": " : "", m);
}

/*
 * Perform the request on handle `h` (reset first, so its connection is reused), retrying
 * connection errors, 5xx and 429. DD_OK once a response other than those came back (the
 * caller judges q->status); DD_IO when every attempt failed.
 */
dd_code s3_do(const art_s3 *s, CURL *h, s3_req *q, dd_err *err)
{
    char url[1024], range[96], sha[128];
    int n = snprintf(url, sizeof url, "%s/%s%s%s%s%s", s->endpoint, s->bucket,
                     q->key ? "/" : "", q->key ? q->key : "", q->query ? "?" : "",
                     q->query ? q->query : "");
    if (n < 0 || (size_t)n >= sizeof url)
        return dd_fail(err, DD_INVALID, "the s3 endpoint and bucket make too long a url");
    snprintf(sha, sizeof sha, "x-amz-content-sha256: %s",
             q->payload_sha ? q->payload_sha : EMPTY_SHA256);
    struct curl_slist *hdr = NULL, *tmp;
    const char *lines[] = {sha, "Expect:", q->post ? "Content-Type: application/xml" : NULL};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        if (!lines[i])
            continue;
        if (!(tmp = curl_slist_append(hdr, lines[i]))) {
            curl_slist_free_all(hdr);
            return dd_fail(err, DD_IO, "out of memory");
        }
        hdr = tmp;
    }
    if (q->range_len > 0) {
        snprintf(range, sizeof range, "Range: bytes=%lld-%lld", (long long)q->range_lo,
                 (long long)(q->range_lo + q->range_len - 1));
        if (!(tmp = curl_slist_append(hdr, range))) {
            curl_slist_free_all(hdr);
            return dd_fail(err, DD_IO, "out of memory");
        }
        hdr = tmp;
    }
    char cerr[CURL_ERROR_SIZE];
    dd_code code = DD_IO;
    for (int attempt = 0; attempt < (q->once ? 1 : S3_ATTEMPTS); attempt++) {
        if (attempt > 0)
            s3_sleep_ms((long)S3_BACKOFF_MS << (attempt - 1));
        q->status = 0;
        q->sink_len = q->text_len = 0;
        q->text[0] = 0;
        q->etag[0] = 0;
        q->total = -1;
        q->cur_off = 0;
        q->read_errno = 0;
        q->overflow = false;
        cerr[0] = 0;
        curl_easy_reset(h);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4);
        curl_easy_setopt(h, CURLOPT_USERPWD, s->userpwd);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        /* big buffers: fewer syscalls and callbacks per byte at hundreds of MB/s */
        curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 512L * 1024);
        curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, S3_UPLOAD_BUFFER);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);     /* a stalled transfer: */
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);     /* give up, then retry */
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, q);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, q);
        if (strcmp(q->method, "PUT") == 0) {
            curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(h, CURLOPT_READDATA, q);
            curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->body_len);
        } else if (strcmp(q->method, "POST") == 0) {
            curl_easy_setopt(h, CURLOPT_POST, 1L);
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->post);
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(q->post));
        } else if (strcmp(q->method, "HEAD") == 0) {
            curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        } else if (strcmp(q->method, "GET") != 0) {
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
        }
        CURLcode rc = curl_easy_perform(h);
        if (rc == CURLE_OK) {
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &q->status);
            if (q->status >= 500 || q->status == 429) {
                code = s3_http_fail(s, q, DD_IO, err);
                continue;
            }
            code = DD_OK;
            break;
        }
        if (q->read_errno) {
            code = dd_fail(err, DD_IO, "s3 %s %s/%s: reading the upload's spool file: %s",
                           q->method, s->bucket, q->key ? q->key : "", strerror(q->read_errno));
            break;
        }
        if (q->overflow) {
            code = dd_fail(err, DD_IO, "s3 %s %s/%s: the response is longer than asked for",
                           q->method, s->bucket, q->key ? q->key : "");
            break;
        }
        code = dd_fail(err, DD_IO, "s3 %s %s/%s: %s (attempt %d)", q->method, s->endpoint,
                       s->bucket, *cerr ? cerr : curl_easy_strerror(rc), attempt + 1);
        if (!curl_retryable(rc))
            break;
    }
    curl_slist_free_all(hdr);
    return code;
}

/* s3_do, then any status outside 2xx is a failure described from the response. */
dd_code s3_ok(const art_s3 *s, CURL *h, s3_req *q, dd_err *err)
{
    dd_code code = s3_do(s, h, q, err);
    if (code == DD_OK && (q->status < 200 || q->status >= 300))
        code = s3_http_fail(s, q, q->status == 404 && q->key && strstr(q->text, "NoSuchKey")
                               ? DD_NOT_FOUND : DD_IO, err);
    return code;
}

s3_req *s3_req_new(const char *method, const char *key, dd_err *err)
{
    s3_req *q = calloc(1, sizeof *q);
    if (!q) {
        dd_fail(err, DD_IO, "out of memory");
        return NULL;
    }
    q->method = method;
    q->key = key;
    return q;
}

static void sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* ---------------------------------------------------------------- configuration */

dd_code art_s3_new(const art_s3_config *cfg, art_s3 **out, dd_err *err)
{
    *out = NULL;
    if (!cfg->endpoint || !*cfg->endpoint)
        return dd_fail(err, DD_INVALID, "the s3 artifact backend needs an endpoint"
                       " (artifacts.s3.endpoint)");
    if (!cfg->bucket || !*cfg->bucket)
        return dd_fail(err, DD_INVALID, "the s3 artifact backend needs a bucket"
                       " (artifacts.s3.bucket)");
    if (strncmp(cfg->endpoint, "http://", 7) != 0 && strncmp(cfg->endpoint, "https://", 8) != 0)
        return dd_fail(err, DD_INVALID, "the s3 endpoint \"%s\" is not an http:// or https://"
                       " url", cfg->endpoint);
    if (strchr(cfg->bucket, '/') || strchr(cfg->bucket, '?'))
        return dd_fail(err, DD_INVALID, "\"%s\" is not a bucket name", cfg->bucket);
    if (cfg->part_size < ((size_t)5 << 20))
        return dd_fail(err, DD_INVALID, "the s3 part size must be at least 5 MiB");
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return dd_fail(err, DD_IO, "cannot initialize libcurl");
    art_s3 *s = calloc(1, sizeof *s);
    const char *region = cfg->region && *cfg->region ? cfg->region : "us-east-1";
    const char *tmpdir = getenv("TMPDIR");
    const char *spool = cfg->spool_dir && *cfg->spool_dir ? cfg->spool_dir
                      : tmpdir && *tmpdir ? tmpdir : "/var/tmp";
    if (!s || !(s->endpoint = strdup(cfg->endpoint)) || !(s->bucket = strdup(cfg->bucket)) ||
        !(s->spool_dir = strdup(spool)) ||
        asprintf(&s->sigv4, "aws:amz:%s:s3", region) < 0 ||
        asprintf(&s->userpwd, "%s:%s", cfg->access_key ? cfg->access_key : "",
                 cfg->secret_key ? cfg->secret_key : "") < 0) {
        if (s) {
            free(s->endpoint);
            free(s->bucket);
            free(s->spool_dir);
            free(s);
        }
        curl_global_cleanup();
        return dd_fail(err, DD_IO, "out of memory");
    }
    size_t l = strlen(s->endpoint);
    while (l > 0 && s->endpoint[l - 1] == '/')
        s->endpoint[--l] = 0;
    s->threshold = cfg->threshold ? cfg->threshold : (size_t)2 << 30;
    s3_spool_pool_init(&s->pool);
    s->part_size = cfg->part_size;
    *out = s;
    return DD_OK;
}

void art_s3_free(art_s3 *s)
{
    if (!s)
        return;
    free(s->endpoint);
    free(s->bucket);
    free(s->spool_dir);
    s3_spool_pool_destroy(&s->pool);
    free(s->sigv4);
    if (s->userpwd) {
        OPENSSL_cleanse(s->userpwd, strlen(s->userpwd));
        free(s->userpwd);
    }
    free(s);
    curl_global_cleanup();
}

/* ---------------------------------------------------------------- keys and uris */

static dd_code new_key(char key[40], dd_err *err)
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1)
        return dd_fail(err, DD_IO, "no random bytes for a uuid");
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(key, 40, "%02x/%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
             b[12], b[13], b[14], b[15]);
    return DD_OK;
}

/* "s3://<our bucket>/<aa>/<uuid>": the key, or NULL for a uri this backend did not make. */
const char *s3_uri_key(const art_s3 *s, const char *uri)
{
    size_t pl = strlen(URI_PREFIX), bl = strlen(s->bucket);
    if (strncmp(uri, URI_PREFIX, pl) != 0 || strncmp(uri + pl, s->bucket, bl) != 0 ||
        uri[pl + bl] != '/')
        return NULL;
    const char *key = uri + pl + bl + 1;
    if (strlen(key) != 39 || key[2] != '/' || key[0] != key[3] || key[1] != key[4])
        return NULL;
    for (int i = 3; i < 39; i++) {
        int j = i - 3;
        bool dash = j == 8 || j == 13 || j == 18 || j == 23;
        char ch = key[i];
        if (dash ? ch != '-' : !((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
            return NULL;
    }
    return key;
}

/* ---------------------------------------------------------------- uploads */

typedef struct s3_part {
    unsigned char *data;
    size_t len, cap;
    int number;
    struct s3_part *next;
} s3_part;

struct art_s3_up {
    art_s3 *s;
    CURL *h;                        /* the writer's: probe, single PUT, create/complete */
    char key[40];
    int64_t size;
    EVP_MD_CTX *md;                 /* the artifact's sha256 (the spool's hasher's first) */
    s3_spool *spool;                /* until a multipart upload starts (art_s3_spool.c) */
    s3_part *fill;                  /* being filled (multipart) */
    char *upload_id;                /* a multipart upload is in progress */
    int parts;                      /* parts numbered so far */
    bool published;                 /* the object exists */
    /* sender threads */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread[S3_SENDERS];
    int nthreads;
    s3_part *queue, **queue_tail;
    int queued, inflight;
    s3_part *spare;                 /* sent parts, reused */
    bool stop;
    dd_code failed;
    dd_err fail_err;
    char (*etag)[128];              /* per part number - 1 */
    int etag_cap;
};

static void parts_free(s3_part *p)
{
    while (p) {
        s3_part *n = p->next;
        free(p->data);
        free(p);
        p = n;
    }
}

/* A part to fill: a spare one (already sent) when there is one, else an empty one that
 * part_reserve grows by doubling, so a small artifact never costs a whole part. */
static s3_part *part_get(art_s3_up *u)
{
    s3_part *p = NULL;
    pthread_mutex_lock(&u->mu);
    if (u->spare) {
        p = u->spare;
        u->spare = p->next;
    }
    pthread_mutex_unlock(&u->mu);
    if (!p)
        p = calloc(1, sizeof *p);
    if (p) {
        p->len = 0;
        p->next = NULL;
        p->number = 0;
    }
    return p;
}

static bool part_reserve(s3_part *p, size_t need, size_t max)
{
    if (need <= p->cap)
        return true;
    size_t cap = p->cap ? p->cap : 65536;
    while (cap < need)
        cap *= 2;
    if (cap > max)
        cap = max;
    unsigned char *d = realloc(p->data, cap);
    if (!d)
        return false;
    p->data = d;
    p->cap = cap;
    return true;
}

static void up_fail(art_s3_up *u, dd_code code, const dd_err *e)
{
    if (u->failed == DD_OK) {
        u->failed = code;
        u->fail_err = *e;
    }
}

/* Sender thread: PUT queued parts (payload sha256 computed here, off the writer's path). */
static void *sender_main(void *arg)
{
    art_s3_up *u = arg;
    CURL *h = curl_easy_init();
    s3_req *q = calloc(1, sizeof *q);
    pthread_mutex_lock(&u->mu);
    if (!h || !q) {
        dd_err e;
        up_fail(u, dd_fail(&e, DD_IO, "out of memory"), &e);
    }
    for (;;) {
        while (!u->stop && !u->queue)
            pthread_cond_wait(&u->cv, &u->mu);
        if (!u->queue)
            break;
        s3_part *p = u->queue;
        u->queue = p->next;
        if (!u->queue)
            u->queue_tail = &u->queue;
        u->queued--;
        u->inflight++;
        bool skip = u->failed != DD_OK;
        pthread_mutex_unlock(&u->mu);
        dd_err e = {0};
        dd_code code = DD_OK;
        if (!skip) {
            char hex[65], query[256];
            sha256_hex(p->data, p->len, hex);
            snprintf(query, sizeof query, "partNumber=%d&uploadId=%s", p->number, u->upload_id);
            memset(q, 0, sizeof *q);
            q->method = "PUT";
            q->key = u->key;
            q->query = query;
            q->body = p->data;
            q->body_len = p->len;
            q->payload_sha = hex;
            code = s3_ok(u->s, h, q, &e);
            if (code == DD_OK && !q->etag[0])
                code = dd_fail(&e, DD_IO, "s3 PUT %s/%s part %d: no ETag in the response",
                               u->s->bucket, u->key, p->number);
        }
        pthread_mutex_lock(&u->mu);
        u->inflight--;
        if (code != DD_OK)
            up_fail(u, code, &e);
        else if (!skip)
            memcpy(u->etag[p->number - 1], q->etag, sizeof q->etag);
        p->next = u->spare;
        u->spare = p;
        pthread_cond_broadcast(&u->cv);
    }
    pthread_mutex_unlock(&u->mu);
    free(q);
    if (h)
        curl_easy_cleanup(h);
    return NULL;
}

/* Queue a full part for the senders; waits while S3_SENDERS parts are already queued
 * (the memory bound). Fails when a part has failed. */
static dd_code enqueue(art_s3_up *u, s3_part *p, bool wait, dd_err *err)
{
    if (u->parts >= S3_MAX_PARTS)
        return dd_fail(err, DD_IO, "the artifact needs more than %d parts of %zu bytes"
                       " (raise artifacts.s3.part_size)", S3_MAX_PARTS, u->s->part_size);
    p->number = ++u->parts;
    p->next = NULL;
    pthread_mutex_lock(&u->mu);
    while (wait && u->queued >= S3_SENDERS && u->failed == DD_OK)
        pthread_cond_wait(&u->cv, &u->mu);
    dd_code code = u->failed;
    if (code != DD_OK) {
        if (err)
            *err = u->fail_err;
        p->next = u->spare;
        u->spare = p;
    } else {
        *u->queue_tail = p;
        u->queue_tail = &p->next;
        u->queued++;
        pthread_cond_signal(&u->cv);
    }
    pthread_mutex_unlock(&u->mu);
    return code;
}

/* A full part: queued for the senders. */
static dd_code seal(art_s3_up *u, dd_err *err)
{
    s3_part *p = u->fill;
    u->fill = NULL;
    if (u->parts >= u->etag_cap) {
        int cap = u->etag_cap * 2;
        pthread_mutex_lock(&u->mu);
        char (*e)[128] = cap <= S3_MAX_PARTS + 64 ? realloc(u->etag, (size_t)cap * sizeof *e)
                                                  : NULL;
        if (e) {
            memset(e + u->etag_cap, 0, (size_t)(cap - u->etag_cap) * sizeof *e);
            u->etag = e;
            u->etag_cap = cap;
        }
        pthread_mutex_unlock(&u->mu);
        if (!e) {
            parts_free(p);
            return dd_fail(err, DD_IO, "out of memory");
        }
    }
    return enqueue(u, p, true, err);
}

/* The spooled bytes become the first parts (each full one queued as it is read, so memory
 * stays bounded; the rest is the part being filled), and the spool goes away. */
static dd_code spool_to_parts(art_s3_up *u, dd_err *err)
{
    dd_code code = s3_spool_hashed(u->spool, err);
    size_t total = (size_t)u->size, off = 0;
    while (code == DD_OK && off < total) {
        size_t n = total - off < u->s->part_size ? total - off : u->s->part_size;
        if (!(u->fill = part_get(u)) || !part_reserve(u->fill, n, u->s->part_size))
            return dd_fail(err, DD_IO, "out of memory");
        code = s3_spool_read(u->spool, u->fill->data, n, (int64_t)off, err);
        u->fill->len = code == DD_OK ? n : 0;
        off += n;
        if (code == DD_OK && n == u->s->part_size)
            code = seal(u, err);
    }
    if (code == DD_OK) {
        s3_spool_close(u->spool);
        u->spool = NULL;
    }
    return code;
}

/* Start the multipart upload and its senders; the spooled bytes go first. */
static dd_code mpu_start(art_s3_up *u, dd_err *err)
{
    s3_req *q = s3_req_new("POST", u->key, err);
    if (!q)
        return DD_IO;
    q->query = "uploads=";
    q->post = "";
    dd_code code = s3_ok(u->s, u->h, q, err);
    char id[1024] = "";
    if (code == DD_OK) {
        xml_field(q->text, "UploadId", id, sizeof id);
        if (!*id)
            code = dd_fail(err, DD_IO, "s3 POST %s/%s?uploads: no UploadId in the response",
                           u->s->bucket, u->key);
    }
    free(q);
    if (code != DD_OK)
        return code;
    int cap = (int)(((size_t)u->size + u->s->part_size - 1) / u->s->part_size) + 64;
    if (!(u->upload_id = strdup(id)) || !(u->etag = calloc((size_t)cap, sizeof *u->etag)))
        return dd_fail(err, DD_IO, "out of memory");
    u->etag_cap = cap;
    for (int i = 0; i < S3_SENDERS; i++) {
        if (pthread_create(&u->thread[i], NULL, sender_main, u) != 0)
            return dd_fail(err, DD_IO, "cannot start an upload thread");
        u->nthreads++;
    }
    return spool_to_parts(u, err);
}

/* Does the bucket answer, with these credentials? An early, clear error at open instead of
 * at close. A 403 AccessDenied means valid credentials without the right to this call
 * (GetBucketLocation): the upload may still be allowed, so it goes on. */
static dd_code probe(art_s3_up *u, dd_err *err)
{
    s3_req *q = s3_req_new("GET", NULL, err);
    if (!q)
        return DD_IO;
    q->query = "location=";
    dd_code code = s3_do(u->s, u->h, q, err);
    if (code == DD_OK && (q->status < 200 || q->status >= 300) &&
        !(q->status == 403 && strstr(q->text, "<Code>AccessDenied</Code>")))
        code = s3_http_fail(u->s, q, DD_IO, err);
    free(q);
    return code;
}

dd_code art_s3_begin(art_s3 *s, art_s3_up **out, dd_err *err)
{
    *out = NULL;
    art_s3_up *u = calloc(1, sizeof *u);
    if (!u)
        return dd_fail(err, DD_IO, "out of memory");
    u->s = s;
    u->queue_tail = &u->queue;
    pthread_mutex_init(&u->mu, NULL);
    pthread_cond_init(&u->cv, NULL);
    u->md = EVP_MD_CTX_new();
    dd_code code = u->md && EVP_DigestInit_ex(u->md, EVP_sha256(), NULL) == 1
        ? DD_OK : dd_fail(err, DD_IO, "cannot start a sha256 digest");
    if (code == DD_OK)
        code = s3_spool_open(&s->pool, s->spool_dir, u->md, &u->spool, err);
    if (code == DD_OK)
        code = new_key(u->key, err);
    if (code == DD_OK && !(u->h = curl_easy_init()))
        code = dd_fail(err, DD_IO, "cannot create a curl handle");
    if (code == DD_OK)
        code = probe(u, err);
    if (code != DD_OK) {
        art_s3_abandon(u);
        return code;
    }
    *out = u;
    return DD_OK;
}

dd_code art_s3_write(art_s3_up *u, const void *data, size_t len, dd_err *err)
{
    const unsigned char *p = data;
    if (u->spool) {
        dd_code code = s3_spool_write(u->spool, p, len, err);
        if (code != DD_OK)
            return code;
        u->size += (int64_t)len;
        return (size_t)u->size < u->s->threshold ? DD_OK : mpu_start(u, err);
    }
    if (EVP_DigestUpdate(u->md, data, len) != 1)
        return dd_fail(err, DD_IO, "sha256 failed");
    while (len > 0) {
        if (!u->fill && !(u->fill = part_get(u)))
            return dd_fail(err, DD_IO, "out of memory");
        size_t room = u->s->part_size - u->fill->len;
        size_t k = len < room ? len : room;
        /* after a full part, the next one will be full too: no growing by doubling */
        size_t need = u->parts ? u->s->part_size : u->fill->len + k;
        if (!part_reserve(u->fill, need, u->s->part_size))
            return dd_fail(err, DD_IO, "out of memory");
        memcpy(u->fill->data + u->fill->len, p, k);
        u->fill->len += k;
        u->size += (int64_t)k;
        p += k;
        len -= k;
        if (u->fill->len == u->s->part_size) {
            dd_code code = seal(u, err);
            if (code != DD_OK)
                return code;
        }
    }
    return DD_OK;
}

/* Stop the senders after the queue drained (or at once after a failure); join them. */
static dd_code senders_finish(art_s3_up *u, dd_err *err)
{
    pthread_mutex_lock(&u->mu);
    while ((u->queued > 0 || u->inflight > 0) && u->failed == DD_OK)
        pthread_cond_wait(&u->cv, &u->mu);
    u->stop = true;
    pthread_cond_broadcast(&u->cv);
    pthread_mutex_unlock(&u->mu);
    for (int i = 0; i < u->nthreads; i++)
        pthread_join(u->thread[i], NULL);
    u->nthreads = 0;
    if (u->failed != DD_OK && err)
        *err = u->fail_err;
    return u->failed;
}

static dd_code mpu_complete(art_s3_up *u, dd_err *err)
{
    size_t cap = (size_t)u->parts * 200 + 128;
    char *xml = malloc(cap);
    if (!xml)
        return dd_fail(err, DD_IO, "out of memory");
    size_t n = (size_t)snprintf(xml, cap, "<CompleteMultipartUpload>");
    for (int i = 0; i < u->parts; i++)
        n += (size_t)snprintf(xml + n, cap - n, "<Part><PartNumber>%d</PartNumber><ETag>%s"
                              "</ETag></Part>", i + 1, u->etag[i]);
    snprintf(xml + n, cap - n, "</CompleteMultipartUpload>");
    char hex[65], query[1100];
    sha256_hex(xml, strlen(xml), hex);
    snprintf(query, sizeof query, "uploadId=%s", u->upload_id);
    s3_req *q = s3_req_new("POST", u->key, err);
    dd_code code = q ? DD_OK : DD_IO;
    if (q) {
        q->query = query;
        q->post = xml;
        q->payload_sha = hex;
        code = s3_ok(u->s, u->h, q, err);
        /* S3 may answer 200 and report the failure in the body */
        if (code == DD_OK && strstr(q->text, "<Error>"))
            code = s3_http_fail(u->s, q, DD_IO, err);
        free(q);
    }
    free(xml);
    return code;
}

/* The published object must hold `size` bytes. */
static dd_code check_size(art_s3_up *u, int64_t size, dd_err *err)
{
    s3_req *q = s3_req_new("HEAD", u->key, err);
    if (!q)
        return DD_IO;
    dd_code code = s3_ok(u->s, u->h, q, err);
    curl_off_t len = -1;
    if (code == DD_OK)
        curl_easy_getinfo(u->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
    if (code == DD_OK && len != (curl_off_t)size)
        code = dd_fail(err, DD_IO, "s3 object %s/%s holds %lld bytes, not %lld", u->s->bucket,
                       u->key, (long long)len, (long long)size);
    free(q);
    return code;
}

/* The artifact's sha256 in hex, once every byte is in the digest. */
static dd_code digest_hex(art_s3_up *u, char hex[65], dd_err *err)
{
    dd_code code = u->spool ? s3_spool_hashed(u->spool, err) : DD_OK;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (code == DD_OK && (EVP_DigestFinal_ex(u->md, md, &n) != 1 || n != 32))
        code = dd_fail(err, DD_IO, "sha256 failed");
    for (unsigned i = 0; code == DD_OK && i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return code;
}

/* One PUT streamed from the spool, whose payload hash is the artifact's own; the spool goes
 * once the object exists (its disk space is not needed any longer). */
static dd_code put_spool(art_s3_up *u, const char *hex, dd_err *err)
{
    s3_req *q = s3_req_new("PUT", u->key, err);
    if (!q)
        return DD_IO;
    int fd = s3_spool_fd(u->spool);
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);     /* a hint only */
    q->from_fd = true;
    q->body_fd = fd;
    q->body_len = (size_t)u->size;
    q->payload_sha = hex;
    dd_code code = s3_ok(u->s, u->h, q, err);
    free(q);
    if (code == DD_OK) {
        s3_spool_close(u->spool);
        u->spool = NULL;
    }
    return code;
}

dd_code art_s3_publish(art_s3_up *u, int64_t size, char sha256_hex[65], char **uri_out,
                       dd_err *err)
{
    *uri_out = NULL;
    if (size != u->size)
        return dd_fail(err, DD_IO, "the s3 upload holds %lld bytes, not %lld",
                       (long long)u->size, (long long)size);
    dd_code code = DD_OK;
    if (u->spool && (size_t)size < u->s->threshold) {
        code = digest_hex(u, sha256_hex, err);
        if (code == DD_OK)
            code = put_spool(u, sha256_hex, err);
    } else {
        if (!u->upload_id)
            code = mpu_start(u, err);
        if (code == DD_OK && u->fill && u->fill->len)
            code = seal(u, err);
        if (code == DD_OK)
            code = senders_finish(u, err);
        if (code == DD_OK)
            code = mpu_complete(u, err);
        if (code == DD_OK)
            code = digest_hex(u, sha256_hex, err);
        if (code == DD_OK) {
            free(u->upload_id);      /* completed: nothing left to abort */
            u->upload_id = NULL;
        }
    }
    if (code == DD_OK)
        u->published = true;
    if (code == DD_OK)
        code = check_size(u, size, err);
    if (code == DD_OK && asprintf(uri_out, URI_PREFIX "%s/%s", u->s->bucket, u->key) < 0) {
        *uri_out = NULL;
        code = dd_fail(err, DD_IO, "out of memory");
    }
    return code;
}

static void up_free(art_s3_up *u)
{
    if (u->nthreads) {
        pthread_mutex_lock(&u->mu);
        u->stop = true;
        if (u->failed == DD_OK) {       /* let senders drop what is queued */
            dd_err e;
            up_fail(u, dd_fail(&e, DD_IO, "the upload was abandoned"), &e);
        }
        pthread_cond_broadcast(&u->cv);
        pthread_mutex_unlock(&u->mu);
        for (int i = 0; i < u->nthreads; i++)
            pthread_join(u->thread[i], NULL);
    }
    s3_spool_close(u->spool);
    EVP_MD_CTX_free(u->md);
    parts_free(u->fill);
    parts_free(u->queue);
    parts_free(u->spare);
    if (u->h)
        curl_easy_cleanup(u->h);
    free(u->upload_id);
    free(u->etag);
    pthread_mutex_destroy(&u->mu);
    pthread_cond_destroy(&u->cv);
    free(u);
}

void art_s3_done(art_s3_up *u)
{
    if (u)
        up_free(u);
}

void art_s3_abandon(art_s3_up *u)
{
    if (!u)
        return;
    if (u->nthreads) {
        pthread_mutex_lock(&u->mu);
        if (u->failed == DD_OK) {
            dd_err e;
            up_fail(u, dd_fail(&e, DD_IO, "the upload was abandoned"), &e);
        }
        pthread_mutex_unlock(&u->mu);
        senders_finish(u, NULL);
    }
    dd_err ignored;
    if (u->h && (u->upload_id || u->published)) {
        s3_req *q = s3_req_new("DELETE", u->key, &ignored);
        char query[1100];
        if (q && u->upload_id) {        /* best effort: a dead service keeps it (see docs) */
            snprintf(query, sizeof query, "uploadId=%s", u->upload_id);
            q->query = query;
            s3_ok(u->s, u->h, q, &ignored);
        }
        if (q && u->published) {
            q->query = NULL;
            s3_ok(u->s, u->h, q, &ignored);
        }
        free(q);
    }
    up_free(u);
}

/* ---------------------------------------------------------------- removal */

dd_code art_s3_remove_uri(art_s3 *s, const char *uri, bool *ours, dd_err *err)
{
    *ours = false;
    const char *key = s ? s3_uri_key(s, uri) : NULL;
    if (!key)
        return DD_OK;
    *ours = true;
    CURL *h = curl_easy_init();
    s3_req *q = h ? s3_req_new("DELETE", key, err) : NULL;
    dd_code code = q ? s3_ok(s, h, q, err) : dd_fail(err, DD_IO, "out of memory");
    if (code == DD_NOT_FOUND)
        code = DD_OK;                   /* already gone */
    free(q);
    if (h)
        curl_easy_cleanup(h);
    return code;
}
