/*
 * test_store_atomic.c - several store writes as one transaction (dd_store_atomic, what a
 * REST PATCH of several fields uses) and metric batches of concurrent callers sharing
 * one transaction (group commit inside dd_metric_append_items).
 *
 * (a) a later write that fails undoes the earlier ones
 * (b) reads inside see the writes made inside; a success commits them all
 * (c) a metric batch inside dd_store_atomic joins it (rolled back with it)
 * (d) 8 threads of batches over 20 keys, every 7th with a NaN: each failed batch stores
 *     nothing, each other batch everything, at the ids it was told, in order per key
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>

#include "check.h"
#include "store.h"

typedef struct patch {
    int64_t id, bad_id;
    const char *name, *description;
    char seen[64];
} patch;

/* Rename, then (re)describe a project that may not exist. */
static dd_code rename_then_describe(dd_store *st, void *ctx, dd_err *err)
{
    patch *p = ctx;
    dd_code code = dd_project_rename(st, p->id, p->name, err);
    dd_project got;
    if (code == DD_OK && dd_project_get(st, p->id, &got, err) == DD_OK) {
        snprintf(p->seen, sizeof p->seen, "%s", got.name);
        dd_project_clear(&got);
    }
    if (code == DD_OK)
        code = dd_project_set_description(st, p->bad_id ? p->bad_id : p->id, p->description,
                                          err);
    return code;
}

static void project_is(dd_store *st, int64_t id, const char *name, const char *description)
{
    dd_err err = {0};
    dd_project p;
    CHECK_CODE(dd_project_get(st, id, &p, &err), DD_OK, &err);
    if (err.code == DD_OK) {
        CHECK_STR(p.name, name);
        CHECK_STR(p.description, description);
        dd_project_clear(&p);
    }
}

static void test_patches(dd_store *st, int64_t proj)
{
    dd_err err = {0};
    patch bad = {proj, 999999, "renamed", "described", ""};
    CHECK(dd_store_atomic(st, rename_then_describe, &bad, &err) == DD_NOT_FOUND);
    project_is(st, proj, "atomic", "");
    patch good = {proj, 0, "renamed", "described", ""};
    CHECK_CODE(dd_store_atomic(st, rename_then_describe, &good, &err), DD_OK, &err);
    CHECK_STR(good.seen, "renamed");   /* read inside, before the commit */
    project_is(st, proj, "renamed", "described");
}

typedef struct batch_in_txn {
    int64_t iteration;
} batch_in_txn;

static dd_code batch_then_fail(dd_store *st, void *ctx, dd_err *err)
{
    batch_in_txn *b = ctx;
    dd_metric_item it = {"inside", {.value = 1.0}};
    dd_code code = dd_metric_append_items(st, b->iteration, &it, 1, NULL, NULL, err);
    return code == DD_OK ? dd_fail(err, DD_INVALID, "refused on purpose") : code;
}

static int count_point(void *ctx, const dd_metric_point_row *row)
{
    (*(int *)ctx)++;
    return 0;
}

static int points_of(dd_store *st, int64_t iteration)
{
    int n = 0;
    dd_err err = {0};
    CHECK_CODE(dd_metric_points_list(st, iteration, count_point, &n, &err), DD_OK, &err);
    return n;
}

#define THREADS 8
#define BATCHES 40
#define KEYS 20

typedef struct worker {
    dd_store *st;
    int64_t iteration;
    int index;
    int stored, refused, wrong;
    /* every acknowledged point: (series, position, value) */
    int64_t series[BATCHES * KEYS], position[BATCHES * KEYS];
    double value[BATCHES * KEYS];
    int n;
} worker;

static void *batches(void *arg)
{
    worker *w = arg;
    char keys[KEYS][8];
    for (int k = 0; k < KEYS; k++)
        snprintf(keys[k], sizeof keys[k], "k%d", k);
    for (int b = 0; b < BATCHES; b++) {
        dd_metric_item items[KEYS];
        int64_t series[KEYS], pos[KEYS];
        bool poisoned = (w->index * BATCHES + b) % 7 == 0;
        for (int k = 0; k < KEYS; k++) {
            items[k] = (dd_metric_item){keys[(k * 7 + b) % KEYS], {.value = 0}};
            items[k].point.value = w->index * 1e6 + b * 100 + k;
        }
        if (poisoned)
            items[KEYS - 1].point.value = NAN;
        dd_err err = {0};
        dd_code code = dd_metric_append_items(w->st, w->iteration, items, KEYS, series, pos,
                                              &err);
        if (poisoned) {
            w->refused += code == DD_INVALID;
            w->wrong += code != DD_INVALID;
            continue;
        }
        if (code != DD_OK) {
            w->wrong++;
            continue;
        }
        w->stored++;
        for (int k = 0; k < KEYS; k++, w->n++) {
            w->series[w->n] = series[k];
            w->position[w->n] = pos[k];
            w->value[w->n] = items[k].point.value;
        }
    }
    return NULL;
}

typedef struct found {
    worker *w;
    int matched, total;
} found;

/* Each stored point is one some worker was told about, at that (series, position). */
static int match_point(void *ctx, const dd_metric_point_row *row)
{
    found *f = ctx;
    f->total++;
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < f->w[t].n; i++)
            if (f->w[t].series[i] == row->series_id && f->w[t].position[i] == row->position) {
                f->matched += f->w[t].value[i] == row->value;
                return 0;
            }
    return 0;
}

static void test_concurrent_batches(dd_store *st, int64_t iteration)
{
    static worker w[THREADS];
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        w[t] = (worker){.st = st, .iteration = iteration, .index = t};
        pthread_create(&th[t], NULL, batches, &w[t]);
    }
    int stored = 0, refused = 0, wrong = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        stored += w[t].stored, refused += w[t].refused, wrong += w[t].wrong;
    }
    CHECK(wrong == 0);
    CHECK(refused > 0 && stored > 0);
    CHECK(stored + refused == THREADS * BATCHES);
    found f = {w, 0, 0};
    dd_err err = {0};
    CHECK_CODE(dd_metric_points_list(st, iteration, match_point, &f, &err), DD_OK, &err);
    CHECK(f.total == stored * KEYS);
    CHECK(f.matched == f.total);
    /* positions per series are 0..n-1: no gap left by a refused batch */
    dd_metric_series s;
    char ts[DD_TS_LEN];
    CHECK_CODE(dd_metric_series_get(st, iteration, "k0", &s, ts, &err), DD_OK, &err);
    CHECK(s.point_count == stored);
}

int main(void)
{
    char path[1024];
    check_db_path(path, sizeof path, "store_atomic");
    dd_err err = {0};
    dd_store *st = NULL;
    CHECK_CODE(dd_store_open(path, NULL, &st, &err), DD_OK, &err);
    if (!st)
        return check_done();
    int64_t proj = 0, ex = 0, it = 0, it2 = 0;
    CHECK_CODE(dd_project_create(st, 0, "atomic", &proj, &err), DD_OK, &err);
    CHECK_CODE(dd_experiment_create(st, proj, "e", &ex, &err), DD_OK, &err);
    CHECK_CODE(dd_iteration_create(st, ex, 0, &it, &err), DD_OK, &err);
    CHECK_CODE(dd_iteration_create(st, ex, 0, &it2, &err), DD_OK, &err);

    test_patches(st, proj);
    batch_in_txn b = {it};
    CHECK(dd_store_atomic(st, batch_then_fail, &b, &err) == DD_INVALID);
    CHECK(points_of(st, it) == 0);
    test_concurrent_batches(st, it2);

    CHECK_CODE(dd_store_check_integrity(st, &err), DD_OK, &err);
    dd_store_close(st);
    return check_done();
}
