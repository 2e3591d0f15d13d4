/*
 * remote.h - remote mounts' client side (docs/REMOTE.md): the `deardiary login`, `logout`
 * and `whoami` commands, and the token a client sends to a server.
 */
#ifndef DD_REMOTE_H
#define DD_REMOTE_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

/* A stored token is refreshed once past half its life: its entry's "lifetime" (creds.h),
 * the server's server.token_ttl as this client saw it. An entry without one (written
 * before it was kept) is refreshed with less than this left: half the original's 24 h. */
#define DD_REFRESH_BEFORE_S (12 * 3600)

/* A daemon reads its token again (the credentials file, refreshed when due) at least this
 * often, and four times per lifetime when that is shorter (dd_remote_token's reread_s),
 * so the token it holds is never past 3/4 of its life. */
#define DD_TOKEN_REREAD_S 60.0

/* `deardiary login URL [--user NAME] [--password-stdin] [--cacert FILE]`,
 * `deardiary logout URL`, `deardiary whoami URL [--cacert FILE]`. argv[0] is the command
 * name; the result is the process's exit status. */
int dd_cmd_login(const char *config_file, int argc, char **argv);
int dd_cmd_logout(const char *config_file, int argc, char **argv);
int dd_cmd_whoami(const char *config_file, int argc, char **argv);

/*
 * The token to send to canonical server URL `url` through `h`, *out malloc'd (the caller
 * wipes and frees it): DEARDIARY_TOKEN when set, else the credentials file's entry,
 * refreshed first (POST /auth/refresh, the new token and its lifetime stored) when half
 * its lifetime or more is gone (DD_REFRESH_BEFORE_S left for an entry without one).
 * *reread_s (NULL: not wanted) receives how long it may be held before asking again:
 * DD_TOKEN_REREAD_S, a quarter of its lifetime when that is less, and half of what is
 * left (at least 1 s) when a refresh could not be made. Returns 0; -1 with msg when there
 * is none, it is refused (msg says `deardiary login URL` is needed), or the file is
 * unusable. A refresh the server cannot be reached for keeps the old token while it has
 * not expired. No message names a token.
 */
int dd_remote_token(dd_http *h, const char *url, char **out, double *reread_s, char *msg,
                    size_t msglen);

/* A daemon's token for one server and connection: read through dd_remote_token, held for
 * its reread_s. Not locked: each holder keeps its own, under its own lock. */
typedef struct dd_token_slot {
    char *token;        /* NULL until read, and after dd_token_slot_clear */
    double at;          /* CLOCK_MONOTONIC seconds when it was read */
    double reread_s;    /* held this long */
} dd_token_slot;

/* The slot's token (*out borrowed from it until the next call), read again first when it
 * is past its reread_s or `again` is set. 0, or -1 with msg (dd_remote_token). */
int dd_token_slot_get(dd_token_slot *s, dd_http *h, const char *url, bool again,
                      const char **out, char *msg, size_t msglen);

/* After the server answered 401 TOKEN_EXPIRED to the slot's token: read it again (a
 * refresh, or the one another process stored). True when that gives another token, to
 * retry the request once with; false with msg when there is none (the refresh refused:
 * msg names `deardiary login URL`) or it is the same. */
bool dd_token_slot_renew(dd_token_slot *s, dd_http *h, const char *url, char *msg,
                         size_t msglen);

/* Wipe and drop the slot's token. */
void dd_token_slot_clear(dd_token_slot *s);

#endif
