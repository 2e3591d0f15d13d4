/*
 * art_s3_int.h - what the s3 backend's two files share: art_s3.c (configuration, the
 * request layer over libcurl, uploads, removal) and art_s3_read.c (readers).
 */
#ifndef DD_ART_S3_INT_H
#define DD_ART_S3_INT_H

#include <curl/curl.h>

#include "art_int.h"

#define S3_ATTEMPTS 5                   /* first try and 4 retries: 0.2+0.4+0.8+1.6 s */
#define S3_BACKOFF_MS 200
#define S3_SENDERS 2                    /* parts in flight per multipart upload */
#define S3_MAX_PARTS 10000              /* S3's limit */
#define S3_WIN_MIN ((size_t)1 << 20)    /* the first bytes, and a read after a seek */
#define S3_TEXT_MAX 65536               /* response bodies kept for XML (errors, ids) */
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define URI_PREFIX "s3://"

struct art_s3 {
    char *endpoint;          /* without a trailing '/' */
    char *bucket;
    char *sigv4;             /* "aws:amz:<region>:s3" */
    char *userpwd;           /* "<access key>:<secret key>" */
    size_t threshold;
    size_t part_size;
};

/* One HTTP request and what came back. */
typedef struct s3_req {
    const char *method;                 /* GET PUT POST DELETE HEAD */
    const char *key;                    /* NULL: the bucket itself */
    const char *query;                  /* NULL or "a=b&c=d", parameters sorted */
    /* body: PUT from pieces, POST from `post` */
    const unsigned char *const *piece;
    const size_t *piece_len;
    int npieces;
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
    int cur_piece;
    size_t cur_off;
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

#endif /* DD_ART_S3_INT_H */
