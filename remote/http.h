/*
 * http.h - the HTTP client of remote mounts and of `deardiary login`: JSON requests to a
 * `deardiary serve` over http or https (libcurl, jansson).
 *
 * One dd_http is one connection (keep-alive) to one server, used by one thread at a time.
 * Nothing here logs: error messages name the URL, curl's reason or the server's
 * {code, message}, never a header, a token or a body.
 */
#ifndef DD_HTTP_H
#define DD_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* An answer body larger than this is refused (the routes login uses answer < 1 KiB; the
 * listings of docs/REMOTE.md §2.2 are paged below it). */
#define DD_HTTP_REPLY_MAX ((size_t)16 << 20)

typedef struct dd_http dd_http;

/* A client for canonical server URL `base` (creds.h dd_url_canonical); `cacert` a PEM
 * file of CAs to trust instead of the system's (NULL: the system's). NULL on
 * out-of-memory. */
dd_http *dd_http_new(const char *base, const char *cacert);
void dd_http_free(dd_http *h);

/*
 * `method` base+`path` with `body` as JSON (NULL: no body) and, when `token` is not NULL,
 * "Authorization: Bearer <token>". Returns 0 when the server answered: *status is the HTTP
 * status and *reply the answer parsed as JSON (NULL when it is not JSON; the caller
 * json_decref's it). Returns -1 when no answer came (unreachable, TLS refused, timeout, an
 * answer over DD_HTTP_REPLY_MAX), with the reason in msg. Redirects are not followed.
 */
int dd_http_json(dd_http *h, const char *method, const char *path, const char *token,
                 json_t *body, long *status, json_t **reply, char *msg, size_t msglen);

/* dd_http_json with the body already JSON text (NULL: none) and one more header line
 * `header` ("Name: value", NULL: none), e.g. POST /v1/metrics' Idempotency-Key. */
int dd_http_send(dd_http *h, const char *method, const char *path, const char *token,
                 const char *header, const char *text, long *status, json_t **reply,
                 char *msg, size_t msglen);

/* "CODE: message" of a {code, message} error answer, or "HTTP <status>" when the answer
 * is not one (the original client's rule), into msg. */
void dd_http_error_text(long status, json_t *reply, char *msg, size_t msglen);

#endif

/* Where the bytes of dd_http_get_bytes go: `len` bytes at a time; nonzero stops the
 * transfer (the call then fails with "stopped"). It may block (the transfer waits). */
typedef int (*dd_http_sink)(void *ctx, const void *data, size_t len);
/* Called once when the answer's headers are in, before any body byte: its status and the
 * size its Content-Range (or, for a 200, its Content-Length) names, -1 if none. */
typedef void (*dd_http_head)(void *ctx, long status, int64_t total);

/*
 * GET base+`path` as bytes (an artifact's /resource/{id}/data), with "Range: bytes=
 * first-last" when first >= 0 (last < 0: to the end). A 200 or 206 answer's body goes to
 * `sink`; another status's body (an error, at most 4 KiB) is kept for its {code,
 * message} in msg. *status is the HTTP status; *total the size the answer's
 * Content-Range names ("bytes a-b/N" or "bytes * /N"; -1 when it names none, or for a
 * 200: its Content-Length). `head` (may be NULL) hears status and size first. Returns 0 when the server answered (any status), -1 when no
 * whole answer came (unreachable, cut, the sink stopped), msg saying why. No timeout on
 * the whole transfer (a 1 GiB body takes what it takes); a transfer that moves under
 * 1 KiB/s for 60 s fails.
 */
int dd_http_get_bytes(dd_http *h, const char *path, const char *token, int64_t first,
                      int64_t last, dd_http_head head, dd_http_sink sink, void *ctx,
                      long *status, int64_t *total, char *msg, size_t msglen);

/* Parse a Content-Range header's value: "bytes FIRST-LAST/TOTAL" (0 <= FIRST <= LAST <
 * TOTAL) or "bytes * /TOTAL" (without the space; *first = *last = -1). Untrusted input
 * (the server's answer): 0 when it is one of these exactly, -1 otherwise (outputs then
 * untouched). */
int dd_content_range_parse(const char *s, size_t len, int64_t *first, int64_t *last,
                           int64_t *total);
