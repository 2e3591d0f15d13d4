/*
 * art_s3_int.h - what the s3 backend's two files share: art_s3.c (configuration, the
 * request layer over libcurl, uploads, removal) and art_s3_read.c (readers).
 */
#ifndef DD_ART_S3_INT_H
#define DD_ART_S3_INT_H

#include <curl/curl.h>
#include <openssl/evp.h>
#include <pthread.h>

#include "art_int.h"

#define S3_ATTEMPTS 5                   /* first try and 4 retries: 0.2+0.4+0.8+1.6 s */
#define S3_BACKOFF_MS 200
#define S3_SENDERS 2                    /* parts in flight per multipart upload */
#define S3_MAX_PARTS 10000              /* S3's limit */
#define S3_WIN_MIN ((size_t)1 << 20)    /* the first bytes, and a read after a seek */
#define S3_UPLOAD_BUFFER (512L << 10)   /* libcurl's upload buffer (BENCHMARKS.md) */
#define S3_TEXT_MAX 65536               /* response bodies kept for XML (errors, ids) */
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define URI_PREFIX "s3://"

/* The idle spool file kept for the next upload (art_s3_spool.c). */
typedef struct s3_spool_pool {
    pthread_mutex_t mu;
    int idle_fd;                        /* -1: none */
} s3_spool_pool;

/* The configured service: immutable once made, but for its spool pool (own mutex). */
struct art_s3 {
    char *endpoint;          /* without a trailing '/' */
    char *bucket;
    char *sigv4;             /* "aws:amz:<region>:s3" */
    char *userpwd;           /* "<access key>:<secret key>" */
    size_t threshold;
    size_t part_size;
    char *spool_dir;         /* where uploads below the threshold are spooled */
    s3_spool_pool pool;
};

/* One HTTP request and what came back. */
typedef struct s3_req {
    const char *method;                 /* GET PUT POST DELETE HEAD */
    const char *key;                    /* NULL: the bucket itself */
    const char *query;                  /* NULL or "a=b&c=d", parameters sorted */
    /* body: PUT from `body` in memory or from file `body_fd` (when `from_fd`), body_len
     * bytes either way; POST from `post` */
    const unsigned char *body;
    bool from_fd;
    int body_fd;
    size_t body_len;
    const char *post;
    const char *payload_sha;            /* x-amz-content-sha256; NULL: the empty body's */
    int64_t range_lo, range_len;        /* range_len > 0: "Range: bytes=lo-(lo+len-1)" */
    size_t (*stream)(void *ctx, const char *data, size_t len);   /* or a 2xx body here */
    void *stream_ctx;
    bool once;                          /* no retry (a stream cannot be taken back) */
    unsigned char *sink;                /* a 2xx GET body goes here (sink_cap bytes) */
    size_t sink_cap;
    /* results */
    long status;
    size_t sink_len;
    char text[S3_TEXT_MAX + 1];         /* other response bodies, truncated */
    size_t text_len;
    char etag[128];
    int64_t total;                      /* from Content-Range "bytes a-b/total", else -1 */
    /* upload position (reset for each attempt) */
    size_t cur_off;
    int read_errno;                     /* reading body_fd failed (the request is aborted) */
    bool overflow;
} s3_req;

/* Perform the request on handle `h` (reset first, so its connection is reused), retrying
 * connection errors, 5xx and 429 (unless q->once). DD_OK once another answer came back
 * (the caller judges q->status); DD_IO when every attempt failed. */
dd_code s3_do(const art_s3 *s, CURL *h, s3_req *q, dd_err *err);
/* s3_do, then any status outside 2xx is a failure described from the response
 * (DD_NOT_FOUND for NoSuchKey). */
dd_code s3_ok(const art_s3 *s, CURL *h, s3_req *q, dd_err *err);
/* A zeroed request for `method` on `key` (NULL: the bucket); NULL when out of memory. */
s3_req *s3_req_new(const char *method, const char *key, dd_err *err);
/* Fail with `code` and the response's status, S3 error code and message. */
dd_code s3_http_fail(const art_s3 *s, const s3_req *q, dd_code code, dd_err *err);
void s3_sleep_ms(long ms);
/* The key of "s3://<our bucket>/<aa>/<uuid>", or NULL for a uri this backend did not make. */
const char *s3_uri_key(const art_s3 *s, const char *uri);

/* ------------------------------------------------------- the spool (art_s3_spool.c) */

/* An upload's bytes below the multipart threshold, in an unnamed file, and a hasher thread
 * feeding them to a digest behind the writer. One writer thread. */
typedef struct s3_spool s3_spool;

void s3_spool_pool_init(s3_spool_pool *pool);
/* Close the idle file, if any. */
void s3_spool_pool_destroy(s3_spool_pool *pool);
/* Take the pool's idle file or create one in `dir` (unnamed: no failure or crash leaves it
 * behind), and start the hasher, which updates `md` (the caller's, not to be touched until
 * s3_spool_hashed). DD_IO naming the directory and the reason (missing, not a directory,
 * not writable). */
dd_code s3_spool_open(s3_spool_pool *pool, const char *dir, EVP_MD_CTX *md, s3_spool **out,
                      dd_err *err);
/* Append all of `data`; DD_IO with the reason (ENOSPC...) otherwise, and then the pool's
 * idle file is closed too (its space may be what is missing). */
dd_code s3_spool_write(s3_spool *sp, const void *data, size_t len, dd_err *err);
/* After the last write: wait until every byte is in the digest (which is then the
 * caller's again). DD_IO when the hasher could not read the file back. */
dd_code s3_spool_hashed(s3_spool *sp, dd_err *err);
/* Exactly `len` bytes at `off` (DD_IO otherwise). */
dd_code s3_spool_read(s3_spool *sp, void *buf, size_t len, int64_t off, dd_err *err);
/* The file, for a PUT that reads it. */
int s3_spool_fd(const s3_spool *sp);
/* Stop the hasher; the file goes back to the pool (cut to this spool's size) or, when the
 * pool has one or a write failed, is closed and so removed. NULL is fine. */
void s3_spool_close(s3_spool *sp);

#endif /* DD_ART_S3_INT_H */
