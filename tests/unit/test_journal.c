/*
 * test_journal.c - a remote mount's node journal (remote/journal.c) on real files: records
 * come back in order after a reopen, a torn last record is cut off (and what is appended
 * after it is readable), delivered records are not handed out again, a second open of the
 * same name while the first holds it gets its own directory, the size bound is ENOSPC with
 * nothing appended, a batch larger than a record is split, sync returns once
 * fdatasync'd, and a series' newest record can be waited on until delivered.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <time.h>

#include "check.h"
#include "journal.h"

static char root[4096];

static void fresh_root(void)
{
    const char *dir = getenv("DD_TEST_TMP");
    mkdir(dir ? dir : "/tmp", 0755);
    snprintf(root, sizeof root, "%s/journal-%d", dir ? dir : "/tmp", (int)getpid());
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    CHECK(system(cmd) == 0);
}

static dd_metric_point pt(double v, bool has_step, int64_t step)
{
    dd_metric_point p = {.value = v, .has_step = has_step, .step = step};
    snprintf(p.recorded_at, DD_TS_LEN, "2026-12-07T01:02:03.000Z");
    return p;
}

typedef struct seen {
    double v[4096];
    size_t n;
} seen;

static int collect(void *ctx, const dd_metric_point *p)
{
    seen *s = ctx;
    if (s->n < 4096)
        s->v[s->n++] = p->value;
    return 0;
}

static void test_reopen_torn_tail_and_delivery(void)
{
    fresh_root();
    dd_err err = {0};
    dd_journal *j = NULL;
    CHECK_CODE(dd_journal_open(root, "abc", 1 << 20, &j, &err), DD_OK, &err);
    char node[33];
    snprintf(node, sizeof node, "%s", dd_journal_node_id(j));
    CHECK(strlen(node) == 32);
    for (int i = 0; i < 5; i++) {
        dd_metric_point p = pt(i, false, 0);
        CHECK_CODE(dd_journal_append(j, 7, "loss", &p, 1, &err), DD_OK, &err);
    }
    CHECK_CODE(dd_journal_sync(j, &err), DD_OK, &err);
    CHECK(dd_journal_pending(j) == 5);
    const dd_mlog_rec *recs[8];
    CHECK(dd_journal_take(j, 10000, 1 << 20, 0, recs, 8) == 5);
    CHECK(recs[0]->seq == 1 && recs[4]->seq == 5);
    /* the server has the first two */
    CHECK_CODE(dd_journal_delivered(j, recs[1]->seq, &err), DD_OK, &err);
    CHECK(dd_journal_pending(j) == 3);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", dd_journal_path(j));
    dd_journal_close(j);

    /* a torn record at the end: a write that never returned */
    char path[4300];
    snprintf(path, sizeof path, "%s/journal", dir);
    int fd = open(path, O_WRONLY | O_APPEND);
    CHECK(fd >= 0 && write(fd, "MLOG\x40\0\0\0garbage", 15) == 15);
    close(fd);

    j = NULL;
    CHECK_CODE(dd_journal_open(root, "abc", 1 << 20, &j, &err), DD_OK, &err);
    CHECK_STR(dd_journal_node_id(j), node);        /* the same node: the server's key */
    CHECK(dd_journal_pending(j) == 3);              /* delivered ones are not sent again */
    dd_metric_point p = pt(5, true, 42);
    CHECK_CODE(dd_journal_append(j, 7, "loss", &p, 1, &err), DD_OK, &err);
    seen s = {.n = 0};
    dd_journal_series(j, 7, "loss", collect, &s);
    CHECK(s.n == 4 && s.v[0] == 2 && s.v[3] == 5);
    s.n = 0;
    dd_journal_series(j, 8, "loss", collect, &s);
    CHECK(s.n == 0);
    CHECK(dd_journal_take(j, 10000, 1 << 20, 0, recs, 8) == 4);
    CHECK(recs[0]->seq == 3 && recs[3]->seq == 6);  /* seqs go on after the torn record */
    dd_journal_close(j);

    /* the record appended after the cut is readable by the next open */
    j = NULL;
    CHECK_CODE(dd_journal_open(root, "abc", 1 << 20, &j, &err), DD_OK, &err);
    CHECK(dd_journal_pending(j) == 4);
    CHECK(dd_journal_take(j, 10000, 1 << 20, 0, recs, 8) == 4);
    CHECK(recs[3]->points[0].has_step && recs[3]->points[0].step == 42);
    CHECK_CODE(dd_journal_delivered(j, recs[3]->seq, &err), DD_OK, &err);
    CHECK(dd_journal_pending(j) == 0);
    CHECK(dd_journal_take(j, 10000, 1 << 20, 10, recs, 8) == 0);
    dd_journal_close(j);
}

static void test_second_open_and_limits(void)
{
    fresh_root();
    dd_err err = {0};
    dd_journal *a = NULL, *b = NULL;
    CHECK_CODE(dd_journal_open(root, "n", 4096, &a, &err), DD_OK, &err);
    CHECK_CODE(dd_journal_open(root, "n", 4096, &b, &err), DD_OK, &err);
    CHECK(strcmp(dd_journal_path(a), dd_journal_path(b)) != 0);
    CHECK(strcmp(dd_journal_node_id(a), dd_journal_node_id(b)) != 0);
    /* the bound: a batch that would pass it is refused whole */
    dd_metric_point many[200];
    for (int i = 0; i < 200; i++)
        many[i] = pt(i, false, 0);
    CHECK_CODE(dd_journal_append(a, 1, "k", many, 200, &err), DD_NO_SPACE, &err);
    CHECK(dd_journal_pending(a) == 0);
    int accepted = 0;
    dd_code code = DD_OK;
    while (code == DD_OK && accepted < 1000) {
        code = dd_journal_append(a, 1, "k", many, 1, &err);
        accepted += code == DD_OK;
    }
    CHECK(code == DD_NO_SPACE && accepted > 20 && dd_journal_pending(a) == (uint64_t)accepted);
    /* b's mount dies with a point journaled: its directory can be adopted, a's cannot
     * (held), and an absent one is not made */
    dd_metric_point one = pt(1, false, 0);
    CHECK_CODE(dd_journal_append(b, 1, "k", &one, 1, &err), DD_OK, &err);
    char bdir[4200];
    snprintf(bdir, sizeof bdir, "%s", dd_journal_path(b));
    dd_journal_close(b);
    dd_journal *o = NULL;
    CHECK_CODE(dd_journal_adopt(root, "n", 0, &o, &err), DD_NOT_FOUND, &err);
    CHECK_CODE(dd_journal_adopt(root, "n", 5, &o, &err), DD_NOT_FOUND, &err);
    char absent[4300];
    snprintf(absent, sizeof absent, "%s/n.5", root);
    CHECK(access(absent, F_OK) != 0);
    CHECK_CODE(dd_journal_adopt(root, "n", 1, &o, &err), DD_OK, &err);
    CHECK(o && strcmp(dd_journal_path(o), bdir) == 0 && dd_journal_pending(o) == 1);
    dd_journal_close(o);
    dd_journal_close(a);

    /* a batch over a record's points is split into records, one seq each */
    fresh_root();
    dd_journal *c = NULL;
    CHECK_CODE(dd_journal_open(root, "split", 1 << 24, &c, &err), DD_OK, &err);
    static dd_metric_point big[2500];
    for (int i = 0; i < 2500; i++)
        big[i] = pt(i, false, 0);
    CHECK_CODE(dd_journal_append(c, 3, "big", big, 2500, &err), DD_OK, &err);
    const dd_mlog_rec *recs[8];
    CHECK(dd_journal_take(c, 10000, 1 << 24, 0, recs, 8) == 3);
    CHECK(recs[0]->n == DD_JOURNAL_RECORD_POINTS && recs[2]->n == 500);
    CHECK(recs[2]->seq == 3 && recs[2]->points[499].value == 2499);
    /* a request's points bound: at least one record, never more than asked beyond it */
    CHECK(dd_journal_take(c, 1500, 1 << 24, 0, recs, 8) == 1);
    CHECK_CODE(dd_journal_sync(c, &err), DD_OK, &err);
    dd_journal_close(c);
}

/* A journal whose delivered head passes 16 MiB and half of it is compacted: the file
 * shrinks to the undelivered tail, which a reopen reads back with its seqs. */
static void test_compaction(void)
{
    fresh_root();
    dd_err err = {0};
    dd_journal *j = NULL;
    CHECK_CODE(dd_journal_open(root, "big", (int64_t)1 << 30, &j, &err), DD_OK, &err);
    static dd_metric_point batch[DD_JOURNAL_RECORD_POINTS];
    for (int i = 0; i < DD_JOURNAL_RECORD_POINTS; i++)
        batch[i] = pt(i, true, i);
    for (int r = 0; r < 500; r++)
        CHECK_CODE(dd_journal_append(j, 9, "m", batch, DD_JOURNAL_RECORD_POINTS, &err), DD_OK,
                   &err);
    CHECK_CODE(dd_journal_sync(j, &err), DD_OK, &err);
    char path[4300];
    snprintf(path, sizeof path, "%s/journal", dd_journal_path(j));
    struct stat before, after;
    CHECK(stat(path, &before) == 0 && before.st_size > (off_t)20 << 20);
    CHECK_CODE(dd_journal_delivered(j, 450, &err), DD_OK, &err);
    CHECK(stat(path, &after) == 0 && after.st_size * 9 < before.st_size);
    /* appends after the compaction go to the new file */
    dd_metric_point p = pt(-1, false, 0);
    CHECK_CODE(dd_journal_append(j, 9, "m", &p, 1, &err), DD_OK, &err);
    CHECK_CODE(dd_journal_sync(j, &err), DD_OK, &err);
    dd_journal_close(j);
    j = NULL;
    CHECK_CODE(dd_journal_open(root, "big", (int64_t)1 << 30, &j, &err), DD_OK, &err);
    CHECK(dd_journal_pending(j) == 50 * DD_JOURNAL_RECORD_POINTS + 1);
    const dd_mlog_rec *recs[64];
    CHECK(dd_journal_take(j, 100000, (size_t)1 << 30, 0, recs, 64) == 51);
    CHECK(recs[0]->seq == 451 && recs[50]->seq == 501 && recs[50]->points[0].value == -1);
    dd_journal_close(j);
}

typedef struct keyed {
    char keys[8][16];
    double v[8];
    size_t n;
} keyed;

static int collect_keyed(void *ctx, const char *key, const dd_metric_point *p)
{
    keyed *k = ctx;
    if (k->n < 8) {
        snprintf(k->keys[k->n], sizeof k->keys[0], "%s", key);
        k->v[k->n++] = p->value;
    }
    return 0;
}

typedef struct deliverer {
    dd_journal *j;
    uint64_t seq;
} deliverer;

static void *deliver_later(void *arg)
{
    deliverer *d = arg;
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
    dd_err err = {0};
    CHECK_CODE(dd_journal_delivered(d->j, d->seq, &err), DD_OK, &err);
    return NULL;
}

/* What a change of a series waits on (REMOTE.md §4.9): the newest undelivered record of
 * one series, a wait for its delivery (woken by dd_journal_delivered, bounded otherwise),
 * and an iteration's undelivered points with their keys (the merged summaries). */
static void test_series_last_wait_and_iteration(void)
{
    fresh_root();
    dd_err err = {0};
    dd_journal *j = NULL;
    CHECK_CODE(dd_journal_open(root, "series", 1 << 20, &j, &err), DD_OK, &err);
    const char *keys[] = {"loss", "acc", "loss", "lr"};
    int64_t iids[] = {7, 7, 7, 8};
    for (int i = 0; i < 4; i++) {
        dd_metric_point p = pt(i, false, 0);
        CHECK_CODE(dd_journal_append(j, iids[i], keys[i], &p, 1, &err), DD_OK, &err);
    }
    CHECK(dd_journal_series_last(j, 7, "loss") == 3);
    CHECK(dd_journal_series_last(j, 7, "acc") == 2);
    CHECK(dd_journal_series_last(j, 8, "loss") == 0);
    keyed k = {0};
    dd_journal_iteration(j, 7, collect_keyed, &k);
    CHECK(k.n == 3 && strcmp(k.keys[0], "loss") == 0 && strcmp(k.keys[1], "acc") == 0 &&
          strcmp(k.keys[2], "loss") == 0 && k.v[2] == 2);
    CHECK(!dd_journal_wait_delivered(j, 2, 30));          /* nothing delivered: times out */
    deliverer d = {j, 2};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, deliver_later, &d) == 0);
    CHECK(dd_journal_wait_delivered(j, 2, 10000));        /* woken by the delivery */
    pthread_join(t, NULL);
    CHECK(!dd_journal_wait_delivered(j, 3, 0));
    CHECK(dd_journal_series_last(j, 7, "acc") == 0 && dd_journal_series_last(j, 7, "loss") == 3);
    CHECK_CODE(dd_journal_delivered(j, 4, &err), DD_OK, &err);
    CHECK(dd_journal_wait_delivered(j, 4, 0) && dd_journal_series_last(j, 7, "loss") == 0);
    k.n = 0;
    dd_journal_iteration(j, 7, collect_keyed, &k);
    CHECK(k.n == 0);
    dd_journal_close(j);
}

int main(void)
{
    test_series_last_wait_and_iteration();
    test_reopen_torn_tail_and_delivery();
    test_second_open_and_limits();
    test_compaction();
    return check_done();
}
