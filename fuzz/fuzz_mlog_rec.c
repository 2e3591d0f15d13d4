/*
 * fuzz_mlog_rec.c - libFuzzer target for the metric journals' record decoder
 * (backend/store/mlog_rec.c), which reads files another process may have torn: the
 * local metric log's replay and a remote mount's node journal (docs/REMOTE.md §4.1).
 *
 * Input: any bytes, decoded as a journal is (record after record until one fails).
 * Promises checked: no crash or leak (ASan); a decoded record used 1..avail bytes, has a
 * non-empty key of at most DD_NAME_MAX bytes without NUL inside, and every recorded_at is
 * NUL-terminated within DD_TS_LEN; encoding a decoded record gives as many bytes as it was
 * decoded from, and decoding that encoding gives the same record.
 */
#include <string.h>

#include "fuzz.h"
#include "mlog_rec.h"

static void same_record(const dd_mlog_rec *a, const dd_mlog_rec *b)
{
    PROMISE(a->seq == b->seq && a->iteration_id == b->iteration_id && a->n == b->n);
    PROMISE(strcmp(a->key, b->key) == 0);
    for (size_t i = 0; i < a->n; i++) {
        const dd_metric_point *p = &a->points[i], *q = &b->points[i];
        PROMISE(memcmp(&p->value, &q->value, sizeof p->value) == 0);
        PROMISE(p->step == q->step && p->has_step == q->has_step);
        PROMISE(strcmp(p->recorded_at, q->recorded_at) == 0);
    }
}

static void check_record(size_t used, const dd_mlog_rec *r)
{
    size_t klen = strlen(r->key);
    PROMISE(klen > 0 && klen <= DD_NAME_MAX && r->next == NULL);
    for (size_t i = 0; i < r->n; i++)
        PROMISE(memchr(r->points[i].recorded_at, 0, DD_TS_LEN) != NULL);
    size_t len = 0;
    unsigned char *enc = dd_mlog_encode(r, &len);
    PROMISE(enc != NULL);
    size_t used2 = 0;
    dd_mlog_rec *again = dd_mlog_decode(enc, len, &used2);
    PROMISE(again != NULL && used2 == len);
    same_record(r, again);
    dd_mlog_free(again);
    /* nothing of the input is lost but the bytes after each recorded_at's terminator */
    PROMISE(len == used);
    free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t off = 0, used = 0; off < size; off += used) {
        used = 0;
        dd_mlog_rec *r = dd_mlog_decode(data + off, size - off, &used);
        if (!r)
            break;
        PROMISE(used > 0 && used <= size - off);
        check_record(used, r);
        dd_mlog_free(r);
    }
    return 0;
}
