/*
 * remote.h - remote mounts' client side (docs/REMOTE.md): the `deardiary login`, `logout`
 * and `whoami` commands, and the token a client sends to a server.
 */
#ifndef DD_REMOTE_H
#define DD_REMOTE_H

#include <stddef.h>

#include "http.h"

/* A stored token with less than this left is refreshed before use (the server's tokens
 * live 24 h: refreshed once past half their life, so a node that runs for days never
 * sends an expired one). */
#define DD_REFRESH_BEFORE_S (12 * 3600)

/* `deardiary login URL [--user NAME] [--password-stdin] [--cacert FILE]`,
 * `deardiary logout URL`, `deardiary whoami URL [--cacert FILE]`. argv[0] is the command
 * name; the result is the process's exit status. */
int dd_cmd_login(const char *config_file, int argc, char **argv);
int dd_cmd_logout(const char *config_file, int argc, char **argv);
int dd_cmd_whoami(const char *config_file, int argc, char **argv);

/*
 * The token to send to canonical server URL `url` through `h`, *out malloc'd (the caller
 * wipes and frees it): DEARDIARY_TOKEN when set, else the credentials file's entry,
 * refreshed first (POST /auth/refresh, the new token stored) when it has less than
 * DD_REFRESH_BEFORE_S left. Returns 0; -1 with msg when there is none, it is refused
 * (msg says `deardiary login URL` is needed), or the file is unusable. A refresh the
 * server cannot be reached for keeps the old token while it has not expired.
 */
int dd_remote_token(dd_http *h, const char *url, char **out, char *msg, size_t msglen);

#endif
