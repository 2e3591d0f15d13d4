/*
 * mlog_rec.h - the record format of the metric journals: the local metric log
 * (backend/store/metric_log.c) and a remote mount's node journal (remote/journal.c,
 * docs/REMOTE.md §4.1) write the same records, so one encoder and one decoder serve both.
 *
 * A record is one accepted batch of points of one series: magic "MLOG", total length,
 * seq, iteration id, key length, point count, key, then per point value, step, a has-step
 * byte and recorded_at (DD_TS_LEN bytes), and an end marker "END!". Native byte order:
 * a journal never leaves the machine that wrote it. Pure functions, no I/O except
 * dd_mlog_read_fd.
 */
#ifndef DD_MLOG_REC_H
#define DD_MLOG_REC_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* One accepted batch of points for one series (a list through `next`). */
typedef struct dd_mlog_rec {
    struct dd_mlog_rec *next;
    uint64_t seq;
    int64_t iteration_id;
    char *key;
    size_t n;
    dd_metric_point *points;   /* recorded_at filled in when accepted */
} dd_mlog_rec;

/* Free a whole list. */
void dd_mlog_free(dd_mlog_rec *r);
/* The journal form of one record (r->next is ignored): a malloc'd buffer, its length in
 * *len; NULL when out of memory. */
unsigned char *dd_mlog_encode(const dd_mlog_rec *r, size_t *len);
/* The length of dd_mlog_encode(r)'s output, without encoding. */
size_t dd_mlog_size(const dd_mlog_rec *r);
/* Decode the record at buf[0..avail); NULL when it is incomplete or damaged (the torn
 * tail of a journal whose writer died inside write(): that write never returned), else
 * the record (next NULL) and its length in *used. Any bytes are safe to hand it
 * (fuzz/fuzz_mlog_rec.c). */
dd_mlog_rec *dd_mlog_decode(const unsigned char *buf, size_t avail, size_t *used);
/* Read a whole journal file into memory: its records, in order, up to a torn tail. */
dd_mlog_rec *dd_mlog_read_fd(int fd);

#endif
