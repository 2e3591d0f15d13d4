/*
 * creds.c - see creds.h. URLs are taken apart by libcurl's URL API (no hand-written URL
 * parser); the file is JSON through jansson.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "creds.h"

/* The file is small (a few servers); a bigger one is not ours. */
#define CREDS_FILE_MAX ((size_t)1 << 20)

/* ---------------------------------------------------------------- URLs */

/* Part `what` of the parsed URL, malloc'd, or NULL when the URL has none. */
static char *url_part(CURLU *u, CURLUPart what)
{
    char *p = NULL;
    if (curl_url_get(u, what, &p, 0) != CURLUE_OK)
        return NULL;
    char *copy = strdup(p);
    curl_free(p);
    return copy;
}

/* Refuse a URL that carries anything but scheme, host, port and path. */
static int url_extras(CURLU *u, char *msg, size_t msglen)
{
    static const struct { CURLUPart part; const char *name; } extras[] = {
        {CURLUPART_USER, "user name"}, {CURLUPART_PASSWORD, "password"},
        {CURLUPART_QUERY, "query"}, {CURLUPART_FRAGMENT, "fragment"}};
    for (size_t i = 0; i < sizeof extras / sizeof extras[0]; i++) {
        char *p = url_part(u, extras[i].part);
        if (p) {
            explicit_bzero(p, strlen(p));
            free(p);
            snprintf(msg, msglen, "a server URL holds no %s", extras[i].name);
            return -1;
        }
    }
    return 0;
}

/* "scheme://host[:port]path" from the parts, lowercased host, no default port, path
 * without trailing slashes. */
static char *url_join(const char *scheme, char *host, const char *port, const char *path)
{
    for (char *c = host; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    bool default_port = !port || (strcmp(scheme, "http") == 0 && strcmp(port, "80") == 0) ||
                        (strcmp(scheme, "https") == 0 && strcmp(port, "443") == 0);
    size_t plen = path ? strlen(path) : 0;
    while (plen && path[plen - 1] == '/')
        plen--;
    char *out = NULL;
    if (asprintf(&out, "%s://%s%s%s%.*s", scheme, host, default_port ? "" : ":",
                 default_port ? "" : port, (int)plen, path ? path : "") < 0)
        return NULL;
    return out;
}

/* Printable ASCII without spaces: a key of the file, a Host header, a log line. */
static bool url_text_ok(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

int dd_url_canonical(const char *url, char **out, char *msg, size_t msglen)
{
    *out = NULL;
    CURLU *u = curl_url();
    if (!u) {
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
    int rc = -1;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        snprintf(msg, msglen, "not a URL (expected http://HOST[:PORT] or https://...)");
        goto out;
    }
    scheme = url_part(u, CURLUPART_SCHEME);
    if (!scheme || (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        snprintf(msg, msglen, "a server URL starts with http:// or https://");
        goto out;
    }
    if (url_extras(u, msg, msglen) != 0)
        goto out;
    host = url_part(u, CURLUPART_HOST);
    port = url_part(u, CURLUPART_PORT);
    path = url_part(u, CURLUPART_PATH);
    if (!host || !host[0]) {
        snprintf(msg, msglen, "a server URL names a host");
        goto out;
    }
    /* curl decodes a %-escape in a host once more each time it reads one ("x%%443" comes
     * back as "x%d3", which reads as a byte above 0x7f): no canonical form exists */
    if (strchr(host, '%')) {
        snprintf(msg, msglen, "a server URL's host is a name or an address, without %%-escapes");
        goto out;
    }
    *out = url_join(scheme, host, port, path);
    if (!*out)
        snprintf(msg, msglen, "out of memory");
    else if (!url_text_ok(*out)) {
        snprintf(msg, msglen, "a server URL is printable ASCII (non-ASCII names: use their "
                              "xn-- or %%-encoded form)");
        free(*out);
        *out = NULL;
    }
    rc = *out ? 0 : -1;
out:
    free(scheme);
    free(host);
    free(port);
    free(path);
    curl_url_cleanup(u);
    return rc;
}

bool dd_token_ok(const char *tok)
{
    size_t n = 0;
    for (; tok[n]; n++)
        if (!isalnum((unsigned char)tok[n]) && !strchr("-_.", tok[n]))
            return false;
    return n > 0 && n <= DD_TOKEN_MAX;
}

/* ---------------------------------------------------------------- parsing */

static bool text_ok(const char *s)
{
    if (!s[0])
        return false;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

/* Check one entry; 0, or -1 with msg naming the server (never the token). */
static int entry_check(const char *key, json_t *v, char *msg, size_t msglen)
{
    char *canon = NULL, why[128];
    int rc = dd_url_canonical(key, &canon, why, sizeof why);
    bool same = rc == 0 && strcmp(canon, key) == 0;
    free(canon);
    if (!same) {
        snprintf(msg, msglen, "an entry's key is not a server URL in canonical form");
        return -1;
    }
    json_t *user = json_object_get(v, "user"), *tok = json_object_get(v, "token"),
           *exp = json_object_get(v, "expires_at"), *life = json_object_get(v, "lifetime");
    /* lifetime is optional: entries written before it was kept have none */
    bool life_ok = !life || (json_is_integer(life) && json_integer_value(life) > 0);
    if (!json_is_object(v) || json_object_size(v) != (life ? 4u : 3u) ||
        !json_is_string(user) || !text_ok(json_string_value(user)) || !json_is_string(tok) ||
        !dd_token_ok(json_string_value(tok)) || !json_is_integer(exp) || !life_ok) {
        snprintf(msg, msglen,
                 "the entry of %.200s is not {\"user\", \"token\", \"expires_at\"[, "
                 "\"lifetime\" > 0]}", key);
        return -1;
    }
    return 0;
}

json_t *dd_creds_parse(const char *text, size_t len, char *msg, size_t msglen)
{
    size_t i = 0;
    while (i < len && isspace((unsigned char)text[i]))
        i++;
    if (i == len)
        return json_object();
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !json_is_object(root)) {
        snprintf(msg, msglen, "not a JSON object (line %d)", root ? 1 : jerr.line);
        json_decref(root);
        return NULL;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (entry_check(key, v, msg, msglen) != 0) {
            json_decref(root);
            return NULL;
        }
    }
    return root;
}

/* ---------------------------------------------------------------- the file */

char *dd_creds_path(char *msg, size_t msglen)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    char *out = NULL;
    int n;
    if (xdg && xdg[0] == '/')
        n = asprintf(&out, "%s/deardiary/credentials", xdg);
    else if (home && home[0] == '/')
        n = asprintf(&out, "%s/.config/deardiary/credentials", home);
    else {
        snprintf(msg, msglen, "neither XDG_CONFIG_HOME nor HOME names a directory");
        return NULL;
    }
    if (n < 0) {
        snprintf(msg, msglen, "out of memory");
        return NULL;
    }
    return out;
}

/* The whole of an open file, up to CREDS_FILE_MAX; malloc'd, length in *len. */
static char *read_all(int fd, size_t *len, const char *path, char *msg, size_t msglen)
{
    char *buf = malloc(CREDS_FILE_MAX + 1);
    size_t n = 0;
    ssize_t got;
    while (buf && n <= CREDS_FILE_MAX &&
           (got = read(fd, buf + n, CREDS_FILE_MAX + 1 - n)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            snprintf(msg, msglen, "%s: %s", path, strerror(errno));
            explicit_bzero(buf, n);
            free(buf);
            return NULL;
        }
        n += (size_t)got;
    }
    if (!buf || n > CREDS_FILE_MAX) {
        snprintf(msg, msglen, "%s: %s", path, buf ? "larger than 1 MiB" : "out of memory");
        if (buf)
            explicit_bzero(buf, n);
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

int dd_creds_load(const char *path, json_t **out, char *msg, size_t msglen)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT) {
        *out = json_object();
        return *out ? 0 : -1;
    }
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        snprintf(msg, msglen, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (!S_ISREG(sb.st_mode) || (sb.st_mode & 077)) {
        snprintf(msg, msglen, "%s: %s; fix it (chmod 600) or remove it", path,
                 S_ISREG(sb.st_mode) ? "readable or writable by others" : "not a file");
        close(fd);
        return -1;
    }
    size_t len = 0;
    char *text = read_all(fd, &len, path, msg, msglen);
    close(fd);
    if (!text)
        return -1;
    char why[300];
    *out = dd_creds_parse(text, len, why, sizeof why);
    explicit_bzero(text, len);
    free(text);
    if (!*out) {
        snprintf(msg, msglen, "%s: %s; fix it or remove it", path, why);
        return -1;
    }
    return 0;
}

/* mkdir -p of path's directory, new directories 0700. */
static int make_dirs(const char *path, char *msg, size_t msglen)
{
    char *dir = strdup(path);
    if (!dir)
        return -1;
    int rc = 0;
    for (char *p = strchr(dir + 1, '/'); p && rc == 0; p = strchr(p + 1, '/')) {
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            snprintf(msg, msglen, "%s: %s", dir, strerror(errno));
            rc = -1;
        }
        *p = '/';
    }
    free(dir);
    return rc;
}

/* Write all of buf to fd. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int dd_creds_save(const char *path, json_t *root, char *msg, size_t msglen)
{
    if (make_dirs(path, msg, msglen) != 0)
        return -1;
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    char *tmp = NULL;
    if (!text || asprintf(&tmp, "%s.tmpXXXXXX", path) < 0) {
        snprintf(msg, msglen, "out of memory");
        free(text);
        return -1;
    }
    int fd = mkostemp(tmp, O_CLOEXEC);   /* mode 0600 */
    int rc = -1;
    if (fd >= 0 && write_all(fd, text, strlen(text)) == 0 && write_all(fd, "\n", 1) == 0 &&
        fsync(fd) == 0 && close(fd) == 0) {
        fd = -1;
        rc = rename(tmp, path);
    }
    if (rc != 0) {
        snprintf(msg, msglen, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
    }
    explicit_bzero(text, strlen(text));
    free(text);
    free(tmp);
    return rc;
}

/* ---------------------------------------------------------------- entries */

int dd_creds_get(json_t *root, const char *url, dd_cred *out)
{
    json_t *v = json_object_get(root, url);
    if (!v)
        return -1;
    out->user = json_string_value(json_object_get(v, "user"));
    out->token = json_string_value(json_object_get(v, "token"));
    out->expires_at = (int64_t)json_integer_value(json_object_get(v, "expires_at"));
    out->lifetime = (int64_t)json_integer_value(json_object_get(v, "lifetime"));   /* 0: none */
    return 0;
}

int dd_creds_set(json_t *root, const char *url, const char *user, const char *token,
                 int64_t expires_at, int64_t lifetime)
{
    json_t *v = json_pack("{s:s, s:s, s:I}", "user", user, "token", token, "expires_at",
                          (json_int_t)expires_at);
    if (v && lifetime > 0 && json_object_set_new(v, "lifetime", json_integer(lifetime)) != 0) {
        json_decref(v);
        return -1;
    }
    return v && json_object_set_new(root, url, v) == 0 ? 0 : -1;
}

int dd_creds_remove(json_t *root, const char *url)
{
    return json_object_del(root, url);
}
