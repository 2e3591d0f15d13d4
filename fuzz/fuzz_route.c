/*
 * fuzz_route.c - libFuzzer target for dd_route_lookup (server/routes.c), which every
 * request's path reaches before authentication.
 *
 * Input: the first byte picks the method, the rest is the path (cut at the first NUL, as
 * libmicrohttpd hands it over).
 * Promises checked: no crash or leak on any bytes; a route found has the request's method
 * and a pattern with exactly as many segments as the path (empty segments, from "//" or a
 * trailing "/", ignored), each literal segment equal to the path's and each {parameter}
 * pointing at the path's segment in that place; no route when the path has more than 8
 * segments.
 */
#include <string.h>

#include "fuzz.h"
#include "server.h"

static const char *const METHODS[] = {"GET", "POST", "PATCH", "DELETE", "PUT", "OPTIONS"};

/* The path's non-empty segments (at most 64), in a copy the caller frees. */
static int segments(const char *url, char **copy, char *segs[64])
{
    int n = 0;
    *copy = strdup(url);
    char *save = NULL;
    for (char *p = *copy ? strtok_r(*copy, "/", &save) : NULL; p && n < 64;
         p = strtok_r(NULL, "/", &save))
        segs[n++] = p;
    return n;
}

static void check_route(const dd_req *r, char **segs, int n)
{
    PROMISE(strcmp(r->route->method, r->method) == 0);
    int i = 0, k = 0;
    for (const char *p = r->route->pattern; *p == '/'; i++) {
        p++;
        size_t len = strcspn(p, "/");
        PROMISE(i < n);
        if (*p == '{') {
            PROMISE(k < r->nparams && strcmp(r->param[k], segs[i]) == 0);
            k++;
        } else {
            PROMISE(strlen(segs[i]) == len && strncmp(segs[i], p, len) == 0);
        }
        p += len;
    }
    PROMISE(i == n && k == r->nparams);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *url = strndup((const char *)data + 1, size - 1);
    if (!url)
        return 0;
    dd_req r = {.method = METHODS[data[0] % (sizeof METHODS / sizeof METHODS[0])], .url = url};
    dd_route_lookup(&r);
    char *copy, *segs[64];
    int n = segments(url, &copy, segs);
    if (n > 8)
        PROMISE(r.route == NULL);
    if (r.route)
        check_route(&r, segs, n);
    free(copy);
    free(r.path_copy);
    free(url);
    return 0;
}
