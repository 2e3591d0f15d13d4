/*
 * check.h - the unit tests' few assertion macros. Each CHECK counts one assertion; a
 * failing one prints file:line and the expression and the test goes on, so one run shows
 * every failure. check_done() prints "N passed, N failed" and returns the exit status.
 */
#ifndef DD_CHECK_H
#define DD_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "store.h"

static int check_passed, check_failed;

#define CHECK(expr) do {                                                          \
        if (expr) check_passed++;                                                 \
        else { check_failed++;                                                    \
               fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr); } \
    } while (0)

/* A dd_code comparison that also prints the store's message on failure. */
static inline const char *check_err_msg(const dd_err *e) { return e ? e->msg : ""; }

#define CHECK_CODE(call, want, errp) do {                                         \
        dd_code got_ = (call);                                                    \
        if (got_ == (want)) check_passed++;                                       \
        else { check_failed++;                                                    \
               fprintf(stderr, "%s:%d: %s returned %s (%s), wanted %s\n", __FILE__, __LINE__, \
                       #call, dd_code_name(got_), check_err_msg(errp),             \
                       dd_code_name(want)); } \
    } while (0)

#define CHECK_STR(a, b) do {                                                      \
        const char *a_ = (a), *b_ = (b);                                          \
        if (a_ && b_ && strcmp(a_, b_) == 0) check_passed++;                      \
        else { check_failed++;                                                    \
               fprintf(stderr, "%s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__,   \
                       a_ ? a_ : "(null)", b_ ? b_ : "(null)"); }                 \
    } while (0)

static inline int check_done(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

/* A fresh path for a test database: $DD_TEST_TMP/<name>.db, with older files removed. */
static inline void check_db_path(char *out, size_t len, const char *name)
{
    if (len > 4096)
        len = 4096;
    const char *dir = getenv("DD_TEST_TMP");
    if (!dir) dir = "/tmp";
    mkdir(dir, 0755);
    snprintf(out, len, "%s/%s.db", dir, name);
    char extra[4096 + 8];
    unlink(out);
    snprintf(extra, sizeof extra, "%s-wal", out); unlink(extra);
    snprintf(extra, sizeof extra, "%s-shm", out); unlink(extra);
}

#endif
