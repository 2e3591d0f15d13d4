/*
 * fuzz_path.c - libFuzzer target for dd_name_check (backend/store/values.c), the one check every
 * path component a user creates goes through: project, experiment, model, resource and
 * tag names from mkdir/cp/touch, parameter and metric keys from file names and from
 * params.yaml keys; and the two path components that carry numbers (fs/parse.c): the
 * registration file versions/new/<iteration>[:<resource>] and an alias's symlink target.
 *
 * The promise (backend/include/store.h), checked against an independent reading of it: a name is
 * accepted exactly when it is 1..255 bytes, not "." or "..", has no '/' and no control
 * byte (0x00-0x1f, 0x7f), and is well-formed UTF-8 (Unicode 15, table 3-7: no overlong
 * forms, no surrogates, nothing past U+10FFFF). A refusal says why: DD_TOO_LONG exactly
 * when the name is too long, else DD_INVALID, with a message naming the thing.
 * The number parsers accept exactly the canonical spellings: what they return, printed
 * back, is the input.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "parse.h"
#include "store.h"

/* Well-formed UTF-8 per Unicode table 3-7, written from the table, not from the code. */
static bool utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len;
        unsigned char lo = 0x80, hi = 0xbf;
        if (c <= 0x7f) { i++; continue; }
        else if (c >= 0xc2 && c <= 0xdf) len = 2;
        else if (c == 0xe0) { len = 3; lo = 0xa0; }
        else if (c >= 0xe1 && c <= 0xec) len = 3;
        else if (c == 0xed) { len = 3; hi = 0x9f; }
        else if (c >= 0xee && c <= 0xef) len = 3;
        else if (c == 0xf0) { len = 4; lo = 0x90; }
        else if (c >= 0xf1 && c <= 0xf3) len = 4;
        else if (c == 0xf4) { len = 4; hi = 0x8f; }
        else return false;
        if (i + len > n)
            return false;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return false;
        for (size_t k = 2; k < len; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xbf)
                return false;
        i += len;
    }
    return true;
}

/* versions/new/<iteration>[:<resource>] and an alias target: canonical round trips. */
static void check_numbers(const char *name)
{
    int64_t iteration = -1;
    const char *resource = (const char *)&iteration;
    char back[4200];
    int rc = dd_parse_registration_name(name, &iteration, &resource);
    PROMISE(rc == 0 || rc == -ENOENT);
    if (rc == 0) {
        PROMISE(iteration >= 1);
        PROMISE(!resource || (resource > name && resource[-1] == ':' && resource[0]));
        snprintf(back, sizeof back, "%" PRId64 "%s%s", iteration, resource ? ":" : "",
                 resource ? resource : "");
        PROMISE(strcmp(back, name) == 0);
    }
    int64_t version = -1;
    rc = dd_parse_alias_target(name, &version);
    PROMISE(rc == 0 || rc == -EINVAL);
    if (rc == 0) {
        PROMISE(version >= 1);
        snprintf(back, sizeof back, "../versions/%" PRId64, version);
        PROMISE(strcmp(back, name) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char name[4097];
    memcpy(name, data, size);
    name[size] = 0;                 /* a file name is a C string: a NUL ends it */
    size_t len = strlen(name);
    check_numbers(name);

    bool control = false;
    for (size_t i = 0; i < len; i++)
        control |= (unsigned char)name[i] < 0x20 || (unsigned char)name[i] == 0x7f;
    bool ok = len >= 1 && len <= DD_NAME_MAX && strcmp(name, ".") != 0 &&
              strcmp(name, "..") != 0 && !strchr(name, '/') && !control &&
              utf8_ok((const unsigned char *)name, len);

    dd_err err = {0};
    dd_code code = dd_name_check(name, "tag name", &err);
    if (ok) {
        PROMISE(code == DD_OK);
        return 0;
    }
    PROMISE(code == (len > DD_NAME_MAX ? DD_TOO_LONG : DD_INVALID));
    PROMISE(err.code == code && strncmp(err.msg, "tag name", 8) == 0);
    return 0;
}
