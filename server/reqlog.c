/*
 * reqlog.c - the request log: one line per request, gathered in a buffer per worker and
 * written with one write() per buffer instead of one per line (BENCHMARKS.md, serve: at
 * tens of thousands of requests a second the per-line write and stdio's stream lock were
 * a tenth of GET /health's cost).
 *
 * Every line is written: a buffer is written when the next line does not fit, when the
 * server's sweeper thread calls dd_reqlog_flush (every DD_REQLOG_FLUSH_MS at most, so a
 * line reaches the log within that time of its request), and when the server stops. A
 * write that fails loses the buffer's lines, and says so: one syslog message with the
 * count and the reason when the log starts failing, one when it works again.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "reqlog.h"

#define TOO_LONG "deardiary serve: (a request line too long to format)\n"

void dd_reqlog_init(dd_reqlog *l, int fd)
{
    pthread_mutex_init(&l->mu, NULL);
    l->fd = fd;
    l->len = 0;
    l->lost = 0;
    l->failing = false;
}

/* Write buf[0..len) whole (mu held, or the only user); false with errno on failure. */
static bool write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return false;
        }
        buf += w, len -= (size_t)w;
    }
    return true;
}

/* Count the lines in buf[0..len): what a failed write lost. */
static size_t lines_in(const char *buf, size_t len)
{
    size_t n = 0;
    for (const char *p = buf; (p = memchr(p, '\n', len - (size_t)(p - buf))); p++)
        n++;
    return n;
}

/* Write `len` bytes of whole lines (mu held) and report a change of state. */
static void put(dd_reqlog *l, const char *buf, size_t len)
{
    if (len == 0)
        return;
    if (write_all(l->fd, buf, len)) {
        if (l->failing)
            syslog(LOG_NOTICE, "deardiary serve: the request log is written again (%llu lines"
                   " were lost)", (unsigned long long)l->lost);
        l->failing = false;
        l->lost = 0;
        return;
    }
    int e = errno;
    l->lost += lines_in(buf, len);
    if (!l->failing)
        syslog(LOG_ERR, "deardiary serve: cannot write the request log: %s (%zu lines lost)",
               strerror(e), lines_in(buf, len));
    l->failing = true;
}

#define LINE_HEAD "deardiary serve: "

/* Decimal digits of v into out (at most 20), returning how many. */
static size_t put_uint(char *out, uint64_t v)
{
    char rev[20];
    size_t n = 0;
    do
        rev[n++] = (char)('0' + v % 10);
    while (v /= 10);
    for (size_t i = 0; i < n; i++)
        out[i] = rev[n - 1 - i];
    return n;
}

/* The line "deardiary serve: METHOD PATH STATUS <us>us\n" into out, which has room for
 * it (line_max); returns its length. By hand, not by snprintf: printf's machinery was a
 * few percent of GET /health's CPU (BENCHMARKS.md, serve, ingest3). */
static size_t line_max(const char *method, const char *url)
{
    return sizeof LINE_HEAD + strlen(method) + strlen(url) + 2 * 21 + 4;
}

static size_t line_put(char *out, const char *method, const char *url, int status, int64_t us)
{
    char *p = out;
    size_t m = strlen(method), u = strlen(url);
    memcpy(p, LINE_HEAD, sizeof LINE_HEAD - 1);
    p += sizeof LINE_HEAD - 1;
    memcpy(p, method, m);
    p += m;
    *p++ = ' ';
    memcpy(p, url, u);
    p += u;
    *p++ = ' ';
    if (status < 0)
        *p++ = '-', status = -status;
    p += put_uint(p, (uint64_t)status);
    *p++ = ' ';
    if (us < 0)
        *p++ = '-';
    p += put_uint(p, us < 0 ? 0 - (uint64_t)us : (uint64_t)us);
    memcpy(p, "us\n", 3);
    return (size_t)(p + 3 - out);
}

void dd_reqlog_line(dd_reqlog *l, const char *method, const char *url, int status,
                    int64_t us)
{
    size_t max = line_max(method, url);
    pthread_mutex_lock(&l->mu);
    if (max > sizeof l->buf - l->len) {
        /* may not fit: write what is gathered first; a line longer than the whole buffer
         * (a very long path) is written on its own */
        put(l, l->buf, l->len);
        l->len = 0;
    }
    if (max <= sizeof l->buf) {
        l->len += line_put(l->buf + l->len, method, url, status, us);
    } else {
        char *big = malloc(max);
        if (big)
            put(l, big, line_put(big, method, url, status, us));
        else
            put(l, TOO_LONG, sizeof TOO_LONG - 1);
        free(big);
    }
    pthread_mutex_unlock(&l->mu);
}

void dd_reqlog_flush(dd_reqlog *l)
{
    pthread_mutex_lock(&l->mu);
    put(l, l->buf, l->len);
    l->len = 0;
    pthread_mutex_unlock(&l->mu);
}

void dd_reqlog_destroy(dd_reqlog *l)
{
    dd_reqlog_flush(l);
    pthread_mutex_destroy(&l->mu);
}
