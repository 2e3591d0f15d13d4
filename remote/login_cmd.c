/*
 * login_cmd.c - `deardiary login`, `logout` and `whoami`, and dd_remote_token: how a
 * client gets, keeps, refreshes and forgets its token for a server (docs/REMOTE.md §5).
 *
 * The password goes from the terminal (no echo) or stdin to one POST /auth and is wiped;
 * the token goes from the answer to the credentials file (creds.h) and nowhere else: no
 * message, log line or exit path prints either.
 */
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "creds.h"
#include "password.h"
#include "remote.h"

typedef struct remote_args {
    const char *url;
    const char *user;
    const char *cacert;
    bool password_stdin;
} remote_args;

/* Parse `CMD URL [options]`; `opts` says which options the command takes ("upc": --user,
 * --password-stdin, --cacert). Prints usage and returns 2 on a mistake, 1 for --help
 * printed, 0 when parsed. */
static int parse_args(int argc, char **argv, const char *opts, const char *usage,
                      remote_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
            fputs(usage, stdout);
            return 1;
        } else if (strchr(opts, 'u') && strcmp(s, "--user") == 0 && i + 1 < argc) {
            a->user = argv[++i];
        } else if (strchr(opts, 'p') && strcmp(s, "--password-stdin") == 0) {
            a->password_stdin = true;
        } else if (strchr(opts, 'c') && strcmp(s, "--cacert") == 0 && i + 1 < argc) {
            a->cacert = argv[++i];
        } else if (s[0] != '-' && !a->url) {
            a->url = s;
        } else {
            fprintf(stderr, "deardiary %s: unexpected argument \"%s\"\n", argv[0], s);
            fputs(usage, stderr);
            return 2;
        }
    }
    if (!a->url) {
        fputs(usage, stderr);
        return 2;
    }
    return 0;
}

/* A command's start: its arguments parsed into `a` and the canonical form of its URL
 * into *url (malloc'd). Returns -1 to go on, or the exit status after printing the usage
 * (0 for --help) or why the URL is refused (2). */
static int start(int argc, char **argv, const char *opts, const char *usage, remote_args *a,
                 char **url)
{
    char msg[256];
    *url = NULL;
    int rc = parse_args(argc, argv, opts, usage, a);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (dd_url_canonical(a->url, url, msg, sizeof msg) == 0)
        return -1;
    fprintf(stderr, "deardiary %s: %s: %s\n", argv[0], a->url, msg);
    return 2;
}

/* The credentials file's path and contents, or -1 after printing why. */
static int creds_open(const char *cmd, char **path, json_t **root)
{
    char msg[512];
    *root = NULL;
    *path = dd_creds_path(msg, sizeof msg);
    if (!*path || dd_creds_load(*path, root, msg, sizeof msg) != 0) {
        fprintf(stderr, "deardiary %s: %s\n", cmd, msg);
        free(*path);
        *path = NULL;
        return -1;
    }
    return 0;
}

/* A token answer ({access_token, expires_at, ...}) checked: the token, its expiry and its
 * lifetime as seen here (expires_at minus now; 0, none, when the clocks disagree so much
 * that it came expired), or NULL when the answer is not one. */
static const char *token_of(json_t *reply, int64_t *expires_at, int64_t *lifetime)
{
    const char *tok = json_string_value(json_object_get(reply, "access_token"));
    json_t *exp = json_object_get(reply, "expires_at");
    if (!tok || !dd_token_ok(tok) || !json_is_integer(exp))
        return NULL;
    *expires_at = (int64_t)json_integer_value(exp);
    int64_t now = (int64_t)time(NULL);
    *lifetime = *expires_at > now ? *expires_at - now : 0;
    return tok;
}

/* ---------------------------------------------------------------- login */

static const char login_usage[] =
    "usage: deardiary login URL [--user NAME] [--password-stdin] [--cacert FILE]\n"
    "\n"
    "Log in to the `deardiary serve` at URL (http:// or https://) as NAME (default: your\n"
    "login name) and keep its token in $XDG_CONFIG_HOME/deardiary/credentials (default\n"
    "~/.config/deardiary/credentials, mode 0600), one entry per server. The password is\n"
    "asked on the terminal without echo; with --password-stdin it is stdin's first line.\n"
    "--cacert FILE trusts the CAs in FILE (a server with a private CA).\n";

/* POST /auth; the token stored on success. Prints the outcome. */
static int login_with(dd_http *h, const char *url, const char *user, const char *password)
{
    char msg[512];
    long status;
    json_t *reply = NULL, *body = json_pack("{s:s, s:s}", "username", user, "password",
                                            password);
    if (!body || dd_http_json(h, "POST", "/auth", NULL, body, &status, &reply, msg,
                              sizeof msg) != 0) {
        fprintf(stderr, "deardiary login: %s\n", body ? msg : "out of memory");
        json_decref(body);   /* jansson does not wipe: the password dies with the process */
        return 1;
    }
    json_decref(body);
    int64_t exp = 0, life = 0;
    const char *tok = status == 200 ? token_of(reply, &exp, &life) : NULL;
    int rc = 1;
    char *path = NULL;
    json_t *root = NULL;
    if (!tok) {
        dd_http_error_text(status, reply, msg, sizeof msg);
        fprintf(stderr, "deardiary login: %s refused the login of %s: %s\n", url, user,
                status == 200 ? "not a token answer" : msg);
    } else if (creds_open("login", &path, &root) == 0) {
        if (dd_creds_set(root, url, user, tok, exp, life) != 0 ||
            dd_creds_save(path, root, msg, sizeof msg) != 0)
            fprintf(stderr, "deardiary login: %s\n", msg);
        else {
            printf("logged in to %s as %s\n", url, user);
            rc = 0;
        }
    }
    json_decref(root);
    json_decref(reply);
    free(path);
    return rc;
}

/* The user to log in as when --user is not given: the login name. */
static const char *default_user(void)
{
    struct passwd *pw = getpwuid(geteuid());
    return pw ? pw->pw_name : NULL;
}

int dd_cmd_login(const char *config_file, int argc, char **argv)
{
    (void)config_file;
    remote_args a = {0};
    char *url;
    int rc = start(argc, argv, "upc", login_usage, &a, &url);
    if (rc >= 0)
        return rc;
    const char *user = a.user ? a.user : default_user();
    if (!user || !user[0]) {
        fprintf(stderr, "deardiary login: no user name; use --user NAME\n");
        free(url);
        return 2;
    }
    /* refuse an unusable credentials file before asking anything */
    char *path = NULL;
    json_t *root = NULL;
    if (creds_open("login", &path, &root) != 0) {
        free(url);
        return 1;
    }
    json_decref(root);
    free(path);
    char prompt[600], pw[DD_PASSWORD_MAX];
    snprintf(prompt, sizeof prompt, "Password for %s at %s: ", user, url);
    rc = 1;
    if (dd_password_read("deardiary login", prompt, a.password_stdin, false, pw,
                         sizeof pw) == 0) {
        dd_http *h = dd_http_new(url, a.cacert);
        rc = h ? login_with(h, url, user, pw) : 1;
        dd_http_free(h);
    }
    explicit_bzero(pw, sizeof pw);
    free(url);
    return rc;
}

/* ---------------------------------------------------------------- logout */

static const char logout_usage[] =
    "usage: deardiary logout URL\n"
    "\n"
    "Forget the token kept for the server at URL (the credentials file's entry). Tokens\n"
    "are stateless: one copied elsewhere stays valid until it expires.\n";

int dd_cmd_logout(const char *config_file, int argc, char **argv)
{
    (void)config_file;
    remote_args a = {0};
    char *url, *path = NULL, msg[512];
    int rc = start(argc, argv, "", logout_usage, &a, &url);
    if (rc >= 0)
        return rc;
    json_t *root = NULL;
    rc = 1;
    if (creds_open("logout", &path, &root) != 0) {
        /* printed */
    } else if (dd_creds_remove(root, url) != 0) {
        fprintf(stderr, "deardiary logout: not logged in to %s\n", url);
        rc = 0;
    } else if (dd_creds_save(path, root, msg, sizeof msg) != 0) {
        fprintf(stderr, "deardiary logout: %s\n", msg);
    } else {
        printf("logged out of %s\n", url);
        rc = 0;
    }
    json_decref(root);
    free(path);
    free(url);
    return rc;
}

/* ---------------------------------------------------------------- tokens */

/* POST /auth/refresh with `tok`; on success the new token is stored in root/path and
 * returned (malloc'd). NULL with msg otherwise; *refused tells a refusal (401/403) from
 * no answer. */
static char *refresh(dd_http *h, const char *url, const char *user, const char *tok,
                     json_t *root, const char *path, bool *refused, char *msg,
                     size_t msglen)
{
    long status;
    json_t *reply = NULL;
    int64_t exp = 0, life = 0;
    *refused = false;
    if (dd_http_json(h, "POST", "/auth/refresh", tok, NULL, &status, &reply, msg,
                     msglen) != 0)
        return NULL;
    const char *fresh = status == 200 ? token_of(reply, &exp, &life) : NULL;
    char *out = NULL;
    if (!fresh) {
        char why[300];
        dd_http_error_text(status, reply, why, sizeof why);
        snprintf(msg, msglen, "%s refused the token of %s (%s); run `deardiary login %s`",
                 url, user, why, url);
        *refused = true;
    } else if (dd_creds_set(root, url, user, fresh, exp, life) != 0 ||
               !(out = strdup(fresh))) {
        snprintf(msg, msglen, "out of memory");
    } else if (dd_creds_save(path, root, msg, msglen) != 0) {
        explicit_bzero(out, strlen(out));   /* refused with the reason: a token that */
        free(out);                          /* cannot be kept would be refreshed each time */
        out = NULL;
    }
    json_decref(reply);
    return out;
}

/* Is the entry's token due for a refresh: half its lifetime or more gone (integer
 * seconds: refreshed a little early rather than late), DD_REFRESH_BEFORE_S left for an
 * entry without a lifetime. */
static bool refresh_due(const dd_cred *c, int64_t now)
{
    int64_t left = c->expires_at - now;
    return c->lifetime > 0 ? left * 2 <= c->lifetime : left < DD_REFRESH_BEFORE_S;
}

/* How long a token of entry `c` may be held (remote.h dd_remote_token). */
static double reread_after(const dd_cred *c, int64_t now)
{
    double r = DD_TOKEN_REREAD_S, left = (double)(c->expires_at - now);
    if (c->lifetime > 0 && c->lifetime / 4.0 < r)
        r = c->lifetime / 4.0;
    if (refresh_due(c, now) && left / 2 < r)   /* not refreshed: the server is away */
        r = left / 2 > 1 ? left / 2 : 1;
    return r;
}

int dd_remote_token(dd_http *h, const char *url, char **out, double *reread_s, char *msg,
                    size_t msglen)
{
    *out = NULL;
    if (reread_s)
        *reread_s = DD_TOKEN_REREAD_S;
    const char *env = getenv("DEARDIARY_TOKEN");
    if (env && env[0]) {
        if (!dd_token_ok(env)) {
            snprintf(msg, msglen, "DEARDIARY_TOKEN does not hold a token");
            return -1;
        }
        *out = strdup(env);
        return *out ? 0 : -1;
    }
    char *path = dd_creds_path(msg, msglen);
    json_t *root = NULL;
    dd_cred c;
    if (!path || dd_creds_load(path, &root, msg, msglen) != 0) {
        free(path);
        return -1;
    }
    if (dd_creds_get(root, url, &c) != 0) {
        snprintf(msg, msglen, "not logged in to %s; run `deardiary login %s`", url, url);
    } else if (!refresh_due(&c, (int64_t)time(NULL))) {
        *out = strdup(c.token);
    } else {
        bool refused;
        char *user = strdup(c.user), *old = strdup(c.token);   /* root changes */
        if (user && old)
            *out = refresh(h, url, user, old, root, path, &refused, msg, msglen);
        if (*out)
            dd_creds_get(root, url, &c);   /* the new entry, for reread_s */
        else if (user && old && !refused && c.expires_at > (int64_t)time(NULL))
            *out = strdup(old);   /* not reachable now: the old token still holds */
        if (old)
            explicit_bzero(old, strlen(old));
        free(old);
        free(user);
    }
    if (*out && reread_s)
        *reread_s = reread_after(&c, (int64_t)time(NULL));
    json_decref(root);
    free(path);
    return *out ? 0 : -1;
}

/* ---------------------------------------------------------------- a daemon's token */

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void dd_token_slot_clear(dd_token_slot *s)
{
    if (s->token) {
        explicit_bzero(s->token, strlen(s->token));
        free(s->token);
    }
    s->token = NULL;
}

int dd_token_slot_get(dd_token_slot *s, dd_http *h, const char *url, bool again,
                      const char **out, char *msg, size_t msglen)
{
    if (s->token && !again && mono_s() - s->at < s->reread_s) {
        *out = s->token;
        return 0;
    }
    char *tok = NULL;
    double reread = DD_TOKEN_REREAD_S;
    if (dd_remote_token(h, url, &tok, &reread, msg, msglen) != 0)
        return -1;
    dd_token_slot_clear(s);
    s->token = tok;
    s->at = mono_s();
    s->reread_s = reread;
    *out = tok;
    return 0;
}

bool dd_token_slot_renew(dd_token_slot *s, dd_http *h, const char *url, char *msg,
                         size_t msglen)
{
    char *refused = s->token;   /* kept to compare, wiped below */
    s->token = NULL;
    const char *tok = NULL;
    bool other = dd_token_slot_get(s, h, url, true, &tok, msg, msglen) == 0 &&
                 (!refused || strcmp(tok, refused) != 0);
    if (tok && !other)
        snprintf(msg, msglen, "%s refused the token as expired and no other is kept; run "
                 "`deardiary login %s`", url, url);
    if (refused) {
        explicit_bzero(refused, strlen(refused));
        free(refused);
    }
    return other;
}

/* ---------------------------------------------------------------- whoami */

static const char whoami_usage[] =
    "usage: deardiary whoami URL [--cacert FILE]\n"
    "\n"
    "Print the user the server at URL knows this client as (GET /auth/me with the kept\n"
    "token, or DEARDIARY_TOKEN), refreshing a kept token that is past half its life.\n";

int dd_cmd_whoami(const char *config_file, int argc, char **argv)
{
    (void)config_file;
    remote_args a = {0};
    char *url, *tok = NULL, msg[512];
    int rc = start(argc, argv, "c", whoami_usage, &a, &url);
    if (rc >= 0)
        return rc;
    dd_http *h = dd_http_new(url, a.cacert);
    long status = 0;
    json_t *reply = NULL;
    rc = 1;
    if (!h || dd_remote_token(h, url, &tok, NULL, msg, sizeof msg) != 0 ||
        dd_http_json(h, "GET", "/auth/me", tok, NULL, &status, &reply, msg, sizeof msg) != 0)
        fprintf(stderr, "deardiary whoami: %s\n", h ? msg : "out of memory");
    else if (status != 200 || !json_is_string(json_object_get(reply, "username"))) {
        dd_http_error_text(status, reply, msg, sizeof msg);
        fprintf(stderr, "deardiary whoami: %s refused the token (%s); run `deardiary login %s`\n",
                url, msg, url);
    } else {
        printf("%s\n", json_string_value(json_object_get(reply, "username")));
        rc = 0;
    }
    if (tok)
        explicit_bzero(tok, strlen(tok));
    free(tok);
    json_decref(reply);
    dd_http_free(h);
    free(url);
    return rc;
}
