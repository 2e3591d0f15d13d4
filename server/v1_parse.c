/*
 * v1_parse.c - the parsers of the /v1 routes' own inputs (h_v1.h): the name path of
 * GET /v1/lookup and the yes/no query flags. Pure (no I/O, no store), bounded by their
 * length arguments; fuzz/fuzz_v1_lookup.c holds them to their promises.
 */
#include <stdio.h>
#include <string.h>

#include "h_v1.h"

/* Copy the component [s, s+len) into out (DD_NAME_MAX + 1 bytes) if it is a valid name;
 * 400 with `msg` otherwise. */
static int name_component(const char *s, size_t len, const char *what, char *out, char *msg,
                          size_t msglen)
{
    if (len == 0) {
        snprintf(msg, msglen, "the path has an empty %s", what);
        return 400;
    }
    if (len > DD_NAME_MAX) {
        snprintf(msg, msglen, "the %s is longer than %d bytes", what, DD_NAME_MAX);
        return 400;
    }
    memcpy(out, s, len);
    out[len] = '\0';
    dd_err err = {0};
    if (strlen(out) != len || dd_name_check(out, what, &err) != DD_OK) {
        snprintf(msg, msglen, "%s", strlen(out) != len ? "a name holds a NUL byte" : err.msg);
        return 400;
    }
    return 0;
}

/* A positive decimal id with nothing around it (no sign, no leading zero). */
static bool positive_id(const char *s, size_t len, int64_t *out)
{
    if (len == 0 || len > 19 || s[0] == '0')
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        int d = s[i] - '0';
        if (v > (INT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

int dd_v1_path_parse(const char *s, size_t len, dd_v1_path *out, char *msg, size_t msglen)
{
    static const char *const what[] = {"project name", "experiment name", "iteration id"};
    memset(out, 0, sizeof *out);
    if (len > DD_V1_PATH_MAX) {
        snprintf(msg, msglen, "path is longer than %d bytes", DD_V1_PATH_MAX);
        return 400;
    }
    size_t start = 0;
    for (int depth = 0;; depth++) {
        if (depth == 3) {
            snprintf(msg, msglen, "path has more than 3 components "
                     "(project/experiment/iteration)");
            memset(out, 0, sizeof *out);
            return 400;
        }
        const char *slash = memchr(s + start, '/', len - start);
        size_t end = slash ? (size_t)(slash - s) : len;
        int rc = 0;
        if (depth == 0)
            rc = name_component(s + start, end - start, what[0], out->project, msg, msglen);
        else if (depth == 1)
            rc = name_component(s + start, end - start, what[1], out->experiment, msg, msglen);
        else if (!positive_id(s + start, end - start, &out->iteration_id)) {
            snprintf(msg, msglen, "the iteration must be named by its id (a positive integer)");
            rc = 400;
        }
        if (rc != 0) {
            memset(out, 0, sizeof *out);
            return rc;
        }
        out->depth = depth + 1;
        if (!slash)
            return 0;
        start = end + 1;
    }
}

int dd_v1_flag_parse(const char *s, bool *out)
{
    if (!s || strcmp(s, "0") == 0 || strcmp(s, "false") == 0) {
        *out = false;
        return 0;
    }
    if (strcmp(s, "1") == 0 || strcmp(s, "true") == 0) {
        *out = true;
        return 0;
    }
    return -1;
}
