/*
 * creds.h - the credentials file of remote mounts: one bearer token per server, kept in
 * $XDG_CONFIG_HOME/deardiary/credentials (default ~/.config/deardiary/credentials),
 * mode 0600 in a 0700 directory.
 *
 * Format: a JSON object keyed by canonical server URL (dd_url_canonical), each value
 * {"user": NAME, "token": TOKEN, "expires_at": UNIX-SECONDS, "lifetime": SECONDS}:
 *
 *   {"http://127.0.0.1:9000": {"user": "ana", "token": "eyJ...", "expires_at": 1765000000,
 *                              "lifetime": 86400}}
 *
 * "lifetime" is the token's whole life as the client saw it (expires_at minus the time it
 * got the token), so it is refreshed past half of it; it is optional (entries written
 * before it was kept have none, and are refreshed with 12 h left, remote.h).
 *
 * The file holds secrets: nothing here prints a token, and a file another user could read
 * is refused rather than used. It holds other servers' tokens too: a file that does not
 * parse is refused, never overwritten.
 */
#ifndef DD_CREDS_H
#define DD_CREDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Tokens longer than this are refused (the server's are about 150 bytes). */
#define DD_TOKEN_MAX 8192

/*
 * The canonical form of a server URL, *out malloc'd: http or https only; scheme and host
 * lowercased, the scheme's default port dropped, no trailing '/', and no user info, query
 * or fragment (refused: a URL naming a path below the server is kept, as a server may be
 * mounted under a prefix). Two spellings of one server give one string, the key of the
 * credentials file; it is printable ASCII (a name outside ASCII is refused: give its
 * xn-- form). Returns 0, or -1 with the reason in msg.
 */
int dd_url_canonical(const char *url, char **out, char *msg, size_t msglen);

/* Is `tok` a token we may send: 1 to DD_TOKEN_MAX characters of the base64url alphabet
 * and '.', so it can never break out of an Authorization header. */
bool dd_token_ok(const char *tok);

/*
 * Parse the text of a credentials file (len bytes, not necessarily NUL-terminated).
 * Returns the JSON object (the caller json_decref's it), or NULL with the reason in msg
 * (never quoting a token). Promises: every key of the result is a canonical URL (equal
 * to its own dd_url_canonical), every value an object with a non-empty "user" string
 * without control characters, a "token" that passes dd_token_ok, an integer
 * "expires_at" and optionally an integer "lifetime" above 0; other members are refused.
 * Empty text is an empty object.
 */
json_t *dd_creds_parse(const char *text, size_t len, char *msg, size_t msglen);

/* The credentials file's path, malloc'd (XDG_CONFIG_HOME when set and absolute, else
 * $HOME/.config); NULL with msg when neither names a directory. */
char *dd_creds_path(char *msg, size_t msglen);

/* Read the file at `path`: a missing file is an empty object. Refused (-1, msg): a file
 * readable or writable by group or others, a file that does not parse. */
int dd_creds_load(const char *path, json_t **out, char *msg, size_t msglen);

/* Write `root` to `path`: the directory made 0700 if missing, a temporary file 0600 in it,
 * fsync'd, renamed over the old one (a reader sees the old file or the new, never half
 * of one). Returns 0, or -1 with msg. */
int dd_creds_save(const char *path, json_t *root, char *msg, size_t msglen);

/* One server's entry; the strings are borrowed from root. */
typedef struct dd_cred {
    const char *user;
    const char *token;
    int64_t expires_at;
    int64_t lifetime;       /* seconds; 0 when the entry has none */
} dd_cred;

/* The entry of canonical URL `url`: 0, or -1 when there is none. */
int dd_creds_get(json_t *root, const char *url, dd_cred *out);
/* Set (replace) the entry of `url` (`lifetime` <= 0: the entry has none); 0, or -1 on
 * out-of-memory. */
int dd_creds_set(json_t *root, const char *url, const char *user, const char *token,
                 int64_t expires_at, int64_t lifetime);
/* Remove the entry of `url`: 0, or -1 when there was none. */
int dd_creds_remove(json_t *root, const char *url);

#endif
