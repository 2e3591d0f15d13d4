/*
 * buf.h - a growable byte buffer for rendering file contents and collecting writes.
 */
#ifndef DD_BUF_H
#define DD_BUF_H

#include <stddef.h>

typedef struct dd_buf {
    char *data;     /* NUL-terminated when len < cap (dd_buf_* keep it so) */
    size_t len;
    size_t cap;
    int oom;        /* set once an allocation failed; later appends are ignored */
} dd_buf;

/* Append bytes; returns 0, or -1 (and sets oom) when out of memory. */
int dd_buf_add(dd_buf *b, const void *data, size_t len);
int dd_buf_adds(dd_buf *b, const char *s);
int dd_buf_printf(dd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Make room for `extra` more bytes; returns a pointer to the free space or NULL. */
char *dd_buf_reserve(dd_buf *b, size_t extra);
void dd_buf_reset(dd_buf *b);   /* len = 0, memory kept */
void dd_buf_free(dd_buf *b);    /* back to {0} */

#endif
