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
