/*
 * fuzz_credentials.c - libFuzzer target for the credentials file parser and the server
 * URL canonicalizer (remote/creds.c), which read a file on disk and command-line text.
 *
 * Input: the text of a credentials file; its first line also as a server URL.
 * Promises checked (remote/creds.h): a refusal is NULL with a one-line message that quotes
 * no token; an accepted file has only canonical URL keys, entries of exactly user (no
 * control characters), token (dd_token_ok), integer expires_at and, when present, an integer
 * lifetime above 0 (what dd_creds_get reads; 0 when absent), and written back the
 * way dd_creds_save writes it, parses to an equal object. A canonical URL is its own
 * canonical form, http(s) only, printable ASCII, without a trailing '/', and carries no
 * '?', '#' or user info.
 */
#include <jansson.h>
#include <string.h>

#include "creds.h"
#include "fuzz.h"

static void check_url(const uint8_t *data, size_t size)
{
    const char *nl = memchr(data, '\n', size);
    size_t n = nl ? (size_t)(nl - (const char *)data) : size;
    char *url = strndup((const char *)data, n), *canon = NULL, *again = NULL, msg[256];
    PROMISE(url != NULL);
    if (dd_url_canonical(url, &canon, msg, sizeof msg) == 0) {
        PROMISE(strncmp(canon, "http://", 7) == 0 || strncmp(canon, "https://", 8) == 0);
        const char *host = strstr(canon, "://") + 3, *slash = strchr(host, '/');
        PROMISE(!strpbrk(canon, "?#") && canon[strlen(canon) - 1] != '/');
        PROMISE(!memchr(host, '@', slash ? (size_t)(slash - host) : strlen(host)));
        for (const char *c = canon; *c; c++)
            PROMISE((unsigned char)*c > 0x20 && (unsigned char)*c < 0x7f);
        PROMISE(dd_url_canonical(canon, &again, msg, sizeof msg) == 0);
        PROMISE(strcmp(canon, again) == 0);
    } else {
        PROMISE(canon == NULL && msg[0] && !strchr(msg, '\n'));
    }
    free(again);
    free(canon);
    free(url);
}

static void check_entries(json_t *root)
{
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        char *canon = NULL, msg[256];
        PROMISE(dd_url_canonical(key, &canon, msg, sizeof msg) == 0);
        PROMISE(strcmp(canon, key) == 0);
        free(canon);
        dd_cred c;
        PROMISE(dd_creds_get(root, key, &c) == 0);
        PROMISE(c.user && c.user[0] && c.token && dd_token_ok(c.token));
        for (const char *s = c.user; *s; s++)
            PROMISE((unsigned char)*s >= 0x20 && *s != 0x7f);
        json_t *life = json_object_get(v, "lifetime");
        PROMISE(json_object_size(v) == (life ? 4u : 3u));
        PROMISE(life ? json_is_integer(life) && c.lifetime == json_integer_value(life) &&
                       c.lifetime > 0
                     : c.lifetime == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_url(data, size);
    char msg[512];
    msg[0] = '\0';
    json_t *root = dd_creds_parse((const char *)data, size, msg, sizeof msg);
    if (!root) {
        PROMISE(msg[0] && !strchr(msg, '\n'));
        return 0;
    }
    PROMISE(json_is_object(root));
    check_entries(root);
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    PROMISE(text != NULL);
    json_t *back = dd_creds_parse(text, strlen(text), msg, sizeof msg);
    PROMISE(back != NULL && json_equal(root, back));
    json_decref(back);
    free(text);
    json_decref(root);
    return 0;
}
