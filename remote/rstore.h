/*
 * rstore.h - the remote store (docs/REMOTE.md §1.2, step R4): a dd_store whose table of
 * operations (store_ops.h) answers from a `deardiary serve` over its /v1 routes, so the
 * filesystem (fs/) runs unchanged over a server it holds no database credentials for.
 *
 * R4: read-only. Every read and listing the filesystem makes is served from GET
 * /v1/ls/... answers (one request per directory, with every attribute `ls -l` shows),
 * GET /v1/lookup, and the original's GETs where a listing lacks a field (a description,
 * the points of a series); answers are kept for the attribute timeout (the row cache of
 * REMOTE.md §7). Writes answer DD_READ_ONLY ("remote mounts are read-only until R5":
 * EROFS); what a remote mount never offers (users, permissions: the server decides)
 * DD_UNSUPPORTED. What the server may not show the token's user (a project it may not
 * read) is DD_NOT_FOUND: absent, not forbidden.
 */
#ifndef DD_RSTORE_H
#define DD_RSTORE_H

#include "store.h"

typedef struct dd_remote_options {
    const char *cacert;      /* PEM file of CAs to trust (NULL: the system's) */
    double ttl;              /* how long an answer is reused, seconds (<= 0: 0.5) */
} dd_remote_options;

/*
 * Open the registry served at `url` (http:// or https://) as the user whose token the
 * credentials file (or DEARDIARY_TOKEN) holds for it (remote.h dd_remote_token). Asks
 * GET /v1/ first: a server without the /v1 routes, or speaking another protocol, or
 * refusing the token, is refused here with a message naming the reason (DD_INVALID,
 * DD_DENIED, or DD_IO when it cannot be reached). dd_store_close frees it.
 */
dd_code dd_remote_store_open(const char *url, const dd_remote_options *opts, dd_store **out,
                             dd_err *err);

/* `deardiary mount URL MNT` (mount/commands.h): dd_remote_store_open, errors printed. */
#include "commands.h"
extern const dd_url_opener dd_remote_url_opener;

/* Requests sent so far (tests and benchmarks count them). */
unsigned long dd_remote_store_requests(dd_store *st);

#endif
