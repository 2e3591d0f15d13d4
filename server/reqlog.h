/*
 * reqlog.h - the request log of `deardiary serve` (reqlog.c): one line per request,
 * "deardiary serve: METHOD PATH STATUS <microseconds>us", buffered per worker.
 */
#ifndef DD_REQLOG_H
#define DD_REQLOG_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#define DD_REQLOG_BUF (32 * 1024)   /* one worker's gathered lines */
#define DD_REQLOG_FLUSH_MS 100      /* the sweeper writes every buffer this often */

/* One worker's log buffer. Lines from one worker keep their order; the mutex is shared
 * only with the sweeper's flush, so it is uncontended on the request path. */
typedef struct dd_reqlog {
    pthread_mutex_t mu;
    int fd;                  /* where lines go (stderr's descriptor) */
    char buf[DD_REQLOG_BUF];
    size_t len;
    uint64_t lost;           /* lines a failed write lost since the log started failing */
    bool failing;            /* the last write failed (reported once to syslog) */
} dd_reqlog;

void dd_reqlog_init(dd_reqlog *l, int fd);
/* Add one request's line; writes the buffer first when the line does not fit. The path
 * only (never a header: tokens are not logged). */
void dd_reqlog_line(dd_reqlog *l, const char *method, const char *url, int status,
                    int64_t us);
/* Write what is gathered. A failed write loses it and is reported to syslog (once until
 * a write works again). */
void dd_reqlog_flush(dd_reqlog *l);
/* Flush, then release the mutex. */
void dd_reqlog_destroy(dd_reqlog *l);

#endif
