/*
 * buf.c - the growable byte buffer of buf.h (common/: used by fs/ and chart/).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

char *dd_buf_reserve(dd_buf *b, size_t extra)
{
    if (b->oom)
        return NULL;
    if (extra >= SIZE_MAX / 2 - b->len) {   /* cap doubling below must not overflow */
        b->oom = 1;
        return NULL;
    }
    if (b->len + extra + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + extra + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) {
            b->oom = 1;
            return NULL;
        }
        b->data = p;
        b->cap = cap;
    }
    return b->data + b->len;
}

int dd_buf_add(dd_buf *b, const void *data, size_t len)
{
    char *p = dd_buf_reserve(b, len);
    if (!p)
        return -1;
    if (len)
        memcpy(p, data, len);
    b->len += len;
    b->data[b->len] = 0;
    return 0;
}

int dd_buf_adds(dd_buf *b, const char *s)
{
    return dd_buf_add(b, s, strlen(s));
}

int dd_buf_printf(dd_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = n >= 0 ? dd_buf_reserve(b, (size_t)n) : NULL;
    if (!p)
        return -1;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void dd_buf_reset(dd_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = 0;
}

void dd_buf_free(dd_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}
