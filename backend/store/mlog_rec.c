/*
 * mlog_rec.c - the metric journals' record encoder and decoder (contract in mlog_rec.h),
 * moved unchanged from metric_log.c so the node journal of a remote mount writes the same
 * format.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mlog_rec.h"

#define REC_MAGIC 0x4d4c4f47u   /* "MLOG" */
#define REC_END 0x454e4421u     /* "END!" */

void dd_mlog_free(dd_mlog_rec *r)
{
    while (r) {
        dd_mlog_rec *next = r->next;
        free(r->key);
        free(r->points);
        free(r);
        r = next;
    }
}

static size_t point_bytes(void) { return sizeof(double) + sizeof(int64_t) + 1 + DD_TS_LEN; }

size_t dd_mlog_size(const dd_mlog_rec *r)
{
    return 4 + 4 + 8 + 8 + 4 + 4 + strlen(r->key) + r->n * point_bytes() + 4;
}

/* The journal form of a record: magic, length, seq, iteration, key length, point count,
 * key, points, end marker. Native byte order: the journal never leaves this machine's
 * database directory. Returns a malloc'd buffer, its length in *len. */
unsigned char *dd_mlog_encode(const dd_mlog_rec *r, size_t *len)
{
    uint32_t klen = (uint32_t)strlen(r->key), n = (uint32_t)r->n;
    size_t total = 4 + 4 + 8 + 8 + 4 + 4 + klen + r->n * point_bytes() + 4;
    unsigned char *buf = malloc(total), *p = buf;
    if (!buf)
        return NULL;
    uint32_t magic = REC_MAGIC, end = REC_END, tl = (uint32_t)total;
    memcpy(p, &magic, 4), p += 4;
    memcpy(p, &tl, 4), p += 4;
    memcpy(p, &r->seq, 8), p += 8;
    memcpy(p, &r->iteration_id, 8), p += 8;
    memcpy(p, &klen, 4), p += 4;
    memcpy(p, &n, 4), p += 4;
    memcpy(p, r->key, klen), p += klen;
    for (size_t i = 0; i < r->n; i++) {
        const dd_metric_point *pt = &r->points[i];
        unsigned char has = pt->has_step;
        memcpy(p, &pt->value, 8), p += 8;
        memcpy(p, &pt->step, 8), p += 8;
        *p++ = has;
        memcpy(p, pt->recorded_at, DD_TS_LEN), p += DD_TS_LEN;
    }
    memcpy(p, &end, 4);
    *len = total;
    return buf;
}

/* Decode the record at buf[0..avail); NULL when it is incomplete or damaged (the torn
 * tail of a journal whose writer died inside write(): that write never returned). */
dd_mlog_rec *dd_mlog_decode(const unsigned char *buf, size_t avail, size_t *used)
{
    uint32_t magic, tl, klen, n, end;
    if (avail < 32)
        return NULL;
    memcpy(&magic, buf, 4);
    memcpy(&tl, buf + 4, 4);
    memcpy(&klen, buf + 24, 4);
    memcpy(&n, buf + 28, 4);
    if (magic != REC_MAGIC || tl > avail || klen == 0 || klen > DD_NAME_MAX ||
        tl != 32 + klen + (size_t)n * point_bytes() + 4)
        return NULL;
    memcpy(&end, buf + tl - 4, 4);
    dd_mlog_rec *r = calloc(1, sizeof *r);
    if (end != REC_END || !r)
        return free(r), NULL;
    if (memchr(buf + 32, 0, klen))
        return free(r), NULL;   /* a key never holds a NUL: damage */
    memcpy(&r->seq, buf + 8, 8);
    memcpy(&r->iteration_id, buf + 16, 8);
    r->key = strndup((const char *)buf + 32, klen);
    r->n = n;
    r->points = calloc(n ? n : 1, sizeof *r->points);
    if (!r->key || !r->points)
        return dd_mlog_free(r), NULL;
    const unsigned char *p = buf + 32 + klen;
    for (uint32_t i = 0; i < n; i++) {
        dd_metric_point *pt = &r->points[i];
        memcpy(&pt->value, p, 8), p += 8;
        memcpy(&pt->step, p, 8), p += 8;
        pt->has_step = *p++ != 0;
        memcpy(pt->recorded_at, p, DD_TS_LEN), p += DD_TS_LEN;
        pt->recorded_at[DD_TS_LEN - 1] = 0;
    }
    *used = tl;
    return r;
}

/* Read a whole journal file into memory: its records, in order, up to a torn tail. */
dd_mlog_rec *dd_mlog_read_fd(int fd)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0 || sb.st_size <= 0)
        return NULL;
    unsigned char *buf = malloc((size_t)sb.st_size);
    ssize_t got = buf ? pread(fd, buf, (size_t)sb.st_size, 0) : -1;
    dd_mlog_rec *head = NULL, **tail = &head;
    for (size_t off = 0, used = 0; got > 0 && off < (size_t)got; off += used) {
        dd_mlog_rec *r = dd_mlog_decode(buf + off, (size_t)got - off, &used);
        if (!r)
            break;
        *tail = r;
        tail = &r->next;
    }
    free(buf);
    return head;
}
