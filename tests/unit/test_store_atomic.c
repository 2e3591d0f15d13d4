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
 * (e) the same where the failures can only be found inside the group's transaction, so
 *     the merged, series by series apply must find the culprit (db_group_write_many):
 *     every 5th batch names an ended iteration (refused by the iteration check), every
 *     3rd leaves the step of a series at INT64_MAX unset (no next step: refused inside a
 *     series whose points come from several batches, so the group is run batch by batch);
 *     each is refused with its own code and stores nothing, every other batch stores all
 *     its points, and each series holds exactly the stored batches' points, positions
 *     0..n-1 in the order of the ids the callers were told
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

typedef struct mixed_worker {
    dd_store *st;
    int64_t open_it, ended_it;
    int index;
    int stored, read_only, invalid, wrong;
    int64_t last_pos[BATCHES];   /* the position of "last" in each stored batch */
    int n_last;
} mixed_worker;

static void *mixed_batches(void *arg)
{
    mixed_worker *w = arg;
    char keys[KEYS][8];
    for (int k = 0; k < KEYS; k++)
        snprintf(keys[k], sizeof keys[k], "m%d", k);
    for (int b = 0; b < BATCHES; b++) {
        int serial = w->index * BATCHES + b;
        bool ended = serial % 5 == 0, no_step = !ended && serial % 3 == 0;
        dd_metric_item items[KEYS + 1];
        int64_t series[KEYS + 1], pos[KEYS + 1];
        for (int k = 0; k < KEYS; k++)
            items[k] = (dd_metric_item){keys[k], {.value = serial * 100.0 + k}};
        /* "last" holds a point at step INT64_MAX: a point of it without a step fails */
        items[KEYS] = (dd_metric_item){"last", {.value = serial, .has_step = !no_step,
                                                .step = 7}};
        dd_err err = {0};
        dd_code code = dd_metric_append_items(w->st, ended ? w->ended_it : w->open_it, items,
                                              KEYS + 1, series, pos, &err);
        if (ended) {
            w->read_only += code == DD_READ_ONLY;
            w->wrong += code != DD_READ_ONLY;
        } else if (no_step) {
            w->invalid += code == DD_INVALID;
            w->wrong += code != DD_INVALID;
        } else if (code != DD_OK) {
            w->wrong++;
        } else {
            w->stored++;
            w->last_pos[w->n_last++] = pos[KEYS];
            /* the m series take the same batches in the same order: one batch has one
             * position in all of them, in series of their own */
            for (int k = 1; k < KEYS; k++)
                w->wrong += series[k] == series[0] || pos[k] != pos[0];
        }
    }
    return NULL;
}

static void test_failures_inside_groups(dd_store *st, int64_t open_it, int64_t ended_it)
{
    dd_err err = {0};
    dd_metric_item top = {"last", {.value = 0, .has_step = true, .step = INT64_MAX}};
    CHECK_CODE(dd_metric_append_items(st, open_it, &top, 1, NULL, NULL, &err), DD_OK, &err);
    static mixed_worker w[THREADS];
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        w[t] = (mixed_worker){.st = st, .open_it = open_it, .ended_it = ended_it, .index = t};
        pthread_create(&th[t], NULL, mixed_batches, &w[t]);
    }
    int stored = 0, read_only = 0, invalid = 0, wrong = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        stored += w[t].stored, read_only += w[t].read_only, invalid += w[t].invalid;
        wrong += w[t].wrong;
    }
    CHECK(wrong == 0);
    CHECK(read_only > 0 && invalid > 0 && stored > 0);
    CHECK(stored + read_only + invalid == THREADS * BATCHES);
    CHECK(points_of(st, ended_it) == 0);
    CHECK(points_of(st, open_it) == stored * (KEYS + 1) + 1);
    /* every series: the stored batches' points, and "last" at the positions its callers
     * were told, 1..stored (0 is the INT64_MAX point), each told once */
    dd_metric_series s;
    char ts[DD_TS_LEN];
    CHECK_CODE(dd_metric_series_get(st, open_it, "m0", &s, ts, &err), DD_OK, &err);
    CHECK(s.point_count == stored);
    CHECK_CODE(dd_metric_series_get(st, open_it, "last", &s, ts, &err), DD_OK, &err);
    CHECK(s.point_count == stored + 1);
    static bool told[THREADS * BATCHES + 1];
    int dup = 0, out_of_range = 0;
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < w[t].n_last; i++) {
            int64_t p = w[t].last_pos[i];
            if (p < 1 || p > stored)
                out_of_range++;
            else
                dup += told[p], told[p] = true;
        }
    CHECK(dup == 0 && out_of_range == 0);
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
    int64_t proj = 0, ex = 0, it = 0, it2 = 0, it3 = 0, it4 = 0;
    CHECK_CODE(dd_project_create(st, 0, "atomic", &proj, &err), DD_OK, &err);
    CHECK_CODE(dd_experiment_create(st, proj, "e", &ex, &err), DD_OK, &err);
    CHECK_CODE(dd_iteration_create(st, ex, 0, &it, &err), DD_OK, &err);
    CHECK_CODE(dd_iteration_create(st, ex, 0, &it2, &err), DD_OK, &err);
    CHECK_CODE(dd_iteration_create(st, ex, 0, &it3, &err), DD_OK, &err);
    CHECK_CODE(dd_iteration_create(st, ex, 0, &it4, &err), DD_OK, &err);
    CHECK_CODE(dd_iteration_set_status(st, it4, DD_ITER_SUCCEEDED, NULL, &err), DD_OK, &err);

    test_patches(st, proj);
    batch_in_txn b = {it};
    CHECK(dd_store_atomic(st, batch_then_fail, &b, &err) == DD_INVALID);
    CHECK(points_of(st, it) == 0);
    test_concurrent_batches(st, it2);
    test_failures_inside_groups(st, it3, it4);

    CHECK_CODE(dd_store_check_integrity(st, &err), DD_OK, &err);
    dd_store_close(st);
    return check_done();
}
