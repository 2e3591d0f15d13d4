/*
 * test_store_concurrency.c - many threads on one shared dd_store (each gets its own SQLite
 * connection): racing promotions, racing version registrations, racing metric appends
 * with default steps, and readers running next to a writer.
 *
 * DD_TEST_QUICK=1 shrinks the rounds (for valgrind, which serialises threads).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "check.h"
#include "engine_fixture.h"
#include "store.h"

#define NTHREADS 8

static bool quick(void)
{
    const char *q = getenv("DD_TEST_QUICK");
    return q && *q && strcmp(q, "0") != 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* First error seen by any worker, for the report. */
static pthread_mutex_t report_mu = PTHREAD_MUTEX_INITIALIZER;
static char first_error[512];

static void note_error(const char *where, dd_code code, const dd_err *err)
{
    pthread_mutex_lock(&report_mu);
    if (!first_error[0])
        snprintf(first_error, sizeof first_error, "%s: %s (%s)", where, dd_code_name(code),
                 err ? err->msg : "");
    pthread_mutex_unlock(&report_mu);
}

static void print_first_error(void)
{
    if (first_error[0])
        fprintf(stderr, "first worker error: %s\n", first_error);
    first_error[0] = 0;
}

typedef struct ver_rows {
    int count;
    int production;
    int64_t numbers[1024];
} ver_rows;

static int collect_version(void *ctx, const dd_model_version *v)
{
    ver_rows *r = ctx;
    if (r->count < 1024)
        r->numbers[r->count] = v->version;
    r->count++;
    r->production += v->stage_id == DD_STAGE_PRODUCTION;
    return 0;
}

/* ---------------------------------------------------------------- (a) racing promotions */

typedef struct promo_ctx {
    dd_store *st;
    int64_t version_id;
    int rounds;
    pthread_barrier_t *start, *done;
    atomic_int *errors;
} promo_ctx;

static void *promo_worker(void *arg)
{
    promo_ctx *c = arg;
    dd_err err = {0};
    for (int r = 0; r < c->rounds; r++) {
        pthread_barrier_wait(c->start);
        dd_code code = dd_version_set_stage(c->st, c->version_id, DD_STAGE_PRODUCTION, &err);
        if (code != DD_OK) {
            atomic_fetch_add(c->errors, 1);
            note_error("promotion", code, &err);
        }
        pthread_barrier_wait(c->done);
    }
    return NULL;
}

/* The stage history of the racing promotions, replayed oldest first: each change starts
 * from the stage the previous one left its version in (none before its registration), no
 * version is PRODUCTION next to another, and the replay ends in the stages the versions
 * have. A change recorded outside its promotion's transaction, or from a stale read,
 * breaks the chain. */
typedef struct replay {
    int64_t ids[NTHREADS];
    int stage[NTHREADS];         /* 0: not registered yet */
    int rows, broken, two_in_production;   /* rows after which two were PRODUCTION */
    dd_stage_change *all;
    int n, cap;
} replay;

static int keep_change(void *ctx, const dd_stage_change *ch)
{
    replay *r = ctx;
    if (r->n < r->cap)
        r->all[r->n++] = *ch;
    return 0;
}

static void replay_one(replay *r, const dd_stage_change *ch)
{
    int i = 0;
    while (i < NTHREADS && r->ids[i] != ch->version_id)
        i++;
    if (i == NTHREADS || ch->from_stage != r->stage[i]) {
        r->broken++;
        return;
    }
    r->stage[i] = ch->to_stage;
    int production = 0;
    for (int j = 0; j < NTHREADS; j++)
        production += r->stage[j] == DD_STAGE_PRODUCTION;
    /* a promotion's archive row comes before its own: never two at once */
    if (production > 1)
        r->two_in_production++;
    r->rows++;
}

static void check_promotion_history(dd_store *st, int64_t model, const int64_t *versions,
                                    int rounds)
{
    dd_err err_buf = {0}, *err = &err_buf;
    replay r = {.cap = NTHREADS * (2 * rounds + 1)};   /* registrations, 2 rows a promotion */
    memcpy(r.ids, versions, sizeof r.ids);
    r.all = calloc((size_t)r.cap, sizeof *r.all);
    int64_t total = 0;
    dd_code code = DD_OK;
    for (int64_t off = 0; r.all && code == DD_OK && (off == 0 || off < total);
         off += DD_STAGE_HISTORY_MAX)
        code = dd_stage_history(st, model, DD_STAGE_HISTORY_MAX, off, keep_change, &r, &total,
                                err);
    CHECK_CODE(code, DD_OK, err);
    CHECK(r.all != NULL && r.n == total);
    /* the registrations, then at least the first promotion (nobody to archive); each
     * promotion of a version not in PRODUCTION adds two rows, of one already there none */
    CHECK(total >= NTHREADS + 1 && total <= r.cap);
    for (int k = r.n - 1; k >= 0; k--)
        replay_one(&r, &r.all[k]);
    CHECK(r.broken == 0);
    CHECK(r.two_in_production == 0);
    CHECK(r.rows == r.n);
    for (int i = 0; i < NTHREADS; i++) {
        dd_model_version v = {0};
        CHECK_CODE(dd_version_get(st, versions[i], &v, err), DD_OK, err);
        CHECK(v.stage_id == r.stage[i]);
        dd_version_clear(&v);
    }
    free(r.all);
}

static void test_promotions(dd_store *st, int64_t model, int64_t iteration, int rounds)
{
    dd_err err_buf = {0}, *err = &err_buf;
    int64_t versions[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        CHECK_CODE(dd_version_create(st, model, iteration, 0, NULL, &versions[i], NULL, err),
                   DD_OK, err);

    pthread_barrier_t start, done;
    pthread_barrier_init(&start, NULL, NTHREADS + 1);
    pthread_barrier_init(&done, NULL, NTHREADS + 1);
    atomic_int errors = 0;
    promo_ctx ctx[NTHREADS];
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        ctx[i] = (promo_ctx){st, versions[i], rounds, &start, &done, &errors};
        pthread_create(&th[i], NULL, promo_worker, &ctx[i]);
    }
    int bad_rounds = 0, list_errors = 0;
    for (int r = 0; r < rounds; r++) {
        pthread_barrier_wait(&start);
        pthread_barrier_wait(&done);
        ver_rows vr = {0};
        if (dd_version_list(st, model, collect_version, &vr, err) != DD_OK)
            list_errors++;
        else if (vr.production != 1)
            bad_rounds++;
        /* And the one found by stage is one of ours. */
        int64_t prod = 0;
        if (dd_version_find_stage(st, model, DD_STAGE_PRODUCTION, &prod, err) != DD_OK)
            list_errors++;
    }
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    pthread_barrier_destroy(&done);
    print_first_error();
    CHECK(atomic_load(&errors) == 0);
    CHECK(list_errors == 0);
    CHECK(bad_rounds == 0);
    ver_rows vr = {0};
    CHECK_CODE(dd_version_list(st, model, collect_version, &vr, err), DD_OK, err);
    CHECK(vr.count == NTHREADS);
    CHECK(vr.production == 1);
    check_promotion_history(st, model, versions, rounds);
}

/* ---------------------------------------------------------------- (b) racing registrations */

#define MAX_REG 50

typedef struct reg_ctx {
    dd_store *st;
    int64_t model, iteration;
    int per_thread;
    pthread_barrier_t *start;
    int64_t numbers[MAX_REG];
    int ok;
    atomic_int *errors;
} reg_ctx;

static void *reg_worker(void *arg)
{
    reg_ctx *c = arg;
    dd_err err = {0};
    pthread_barrier_wait(c->start);
    for (int i = 0; i < c->per_thread; i++) {
        int64_t id = 0, number = 0;
        dd_code code = dd_version_create(c->st, c->model, c->iteration, 0, NULL, &id, &number,
                                         &err);
        if (code != DD_OK) {
            atomic_fetch_add(c->errors, 1);
            note_error("registration", code, &err);
            continue;
        }
        c->numbers[c->ok++] = number;
    }
    return NULL;
}

static void test_registrations(dd_store *st, int64_t model, int64_t iteration, int per_thread)
{
    dd_err err_buf = {0}, *err = &err_buf;
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, NTHREADS);
    atomic_int errors = 0;
    static reg_ctx ctx[NTHREADS];
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        memset(&ctx[i], 0, sizeof ctx[i]);
        ctx[i].st = st;
        ctx[i].model = model;
        ctx[i].iteration = iteration;
        ctx[i].per_thread = per_thread;
        ctx[i].start = &start;
        ctx[i].errors = &errors;
        pthread_create(&th[i], NULL, reg_worker, &ctx[i]);
    }
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    print_first_error();

    int total = NTHREADS * per_thread;
    CHECK(atomic_load(&errors) == 0);
    /* Every number 1..total exactly once; each thread's numbers strictly increasing. */
    char *seen = calloc((size_t)total + 1, 1);
    int dup = 0, out_of_range = 0, not_increasing = 0, got = 0;
    for (int t = 0; t < NTHREADS; t++) {
        for (int i = 0; i < ctx[t].ok; i++) {
            int64_t n = ctx[t].numbers[i];
            got++;
            if (n < 1 || n > total)
                out_of_range++;
            else if (seen[n]++)
                dup++;
            if (i > 0 && n <= ctx[t].numbers[i - 1])
                not_increasing++;
        }
    }
    int missing = 0;
    for (int n = 1; n <= total; n++)
        missing += !seen[n];
    free(seen);
    CHECK(got == total);
    CHECK(dup == 0);
    CHECK(out_of_range == 0);
    CHECK(missing == 0);
    CHECK(not_increasing == 0);

    ver_rows *vr = calloc(1, sizeof *vr);
    CHECK_CODE(dd_version_list(st, model, collect_version, vr, err), DD_OK, err);
    CHECK(vr->count == total);
    bool ordered = true;
    for (int i = 0; i < vr->count && i < 1024; i++)
        if (vr->numbers[i] != i + 1)
            ordered = false;
    CHECK(ordered);
    free(vr);
    dd_model m = {0};
    CHECK_CODE(dd_model_get(st, model, &m, err), DD_OK, err);
    CHECK(m.last_version == total);
    dd_model_clear(&m);
    /* The next registration continues after them. */
    int64_t n = 0;
    CHECK_CODE(dd_version_create(st, model, iteration, 0, NULL, NULL, &n, err), DD_OK, err);
    CHECK(n == total + 1);
}

/* ---------------------------------------------------------------- (c) racing metric appends */

typedef struct metric_ctx {
    dd_store *st;
    int64_t iteration;
    int thread, per_thread;
    pthread_barrier_t *start;
    atomic_int *errors;
} metric_ctx;

static void *metric_worker(void *arg)
{
    metric_ctx *c = arg;
    dd_err err = {0};
    pthread_barrier_wait(c->start);
    for (int i = 0; i < c->per_thread; i++) {
        /* value encodes (thread, sequence) so the order per thread can be checked */
        dd_metric_point p = {.value = c->thread * 100000.0 + i};
        dd_code code = dd_metric_append(c->st, c->iteration, "loss", &p, 1, &err);
        if (code != DD_OK) {
            atomic_fetch_add(c->errors, 1);
            note_error("metric append", code, &err);
        }
    }
    return NULL;
}

typedef struct point_rows {
    int count, cap;
    int64_t *steps;
    double *values;
} point_rows;

static int collect_point(void *ctx, const dd_metric_row *m)
{
    point_rows *r = ctx;
    if (r->count < r->cap) {
        r->steps[r->count] = m->step;
        r->values[r->count] = m->value;
    }
    r->count++;
    return 0;
}

static void test_metric_appends(dd_store *st, int64_t iteration, int per_thread)
{
    dd_err err_buf = {0}, *err = &err_buf;
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, NTHREADS);
    atomic_int errors = 0;
    metric_ctx ctx[NTHREADS];
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        ctx[i] = (metric_ctx){st, iteration, i, per_thread, &start, &errors};
        pthread_create(&th[i], NULL, metric_worker, &ctx[i]);
    }
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    print_first_error();

    int total = NTHREADS * per_thread;
    CHECK(atomic_load(&errors) == 0);
    dd_metric_series ms;
    char tsb[DD_TS_LEN];
    CHECK_CODE(dd_metric_series_get(st, iteration, "loss", &ms, tsb, err), DD_OK, err);
    CHECK(ms.point_count == total);
    CHECK(ms.max_step == total - 1);
    CHECK(ms.step == total - 1);

    point_rows pr = {.cap = total};
    pr.steps = calloc((size_t)total, sizeof *pr.steps);
    pr.values = calloc((size_t)total, sizeof *pr.values);
    CHECK_CODE(dd_metric_read(st, iteration, "loss", false, 0, 0, collect_point, &pr, err), DD_OK,
               err);
    CHECK(pr.count == total);
    /* Steps 0..total-1 each exactly once (read in step order: step i at position i). */
    int wrong = 0;
    for (int i = 0; i < pr.count && i < total; i++)
        wrong += pr.steps[i] != i;
    CHECK(wrong == 0);
    /* Each thread's points got increasing steps in the order it wrote them. */
    int last_seq[NTHREADS], disorder = 0, per[NTHREADS] = {0};
    for (int t = 0; t < NTHREADS; t++)
        last_seq[t] = -1;
    for (int i = 0; i < pr.count && i < total; i++) {
        int t = (int)(pr.values[i] / 100000.0);
        int seq = (int)(pr.values[i] - t * 100000.0);
        if (t < 0 || t >= NTHREADS) {
            disorder++;
            continue;
        }
        if (seq <= last_seq[t])
            disorder++;
        last_seq[t] = seq;
        per[t]++;
    }
    CHECK(disorder == 0);
    int uneven = 0;
    for (int t = 0; t < NTHREADS; t++)
        uneven += per[t] != per_thread;
    CHECK(uneven == 0);
    /* The latest value is the one at the greatest step. */
    CHECK(pr.count == total && ms.value == pr.values[total - 1]);
    free(pr.steps);
    free(pr.values);
}

/* ---------------------------------------------------------------- (d) readers beside a writer */

#define WRITER_BATCH 5

typedef struct rw_ctx {
    dd_store *st;
    int64_t project, experiment, iteration;
    int writer_ops;
    atomic_bool writer_done;
    atomic_int busy, errors, reads, torn;
    pthread_barrier_t *start;
} rw_ctx;

static void rw_fail(rw_ctx *c, const char *where, dd_code code, const dd_err *err)
{
    if (code == DD_BUSY)
        atomic_fetch_add(&c->busy, 1);
    else
        atomic_fetch_add(&c->errors, 1);
    note_error(where, code, err);
}

static void *rw_writer(void *arg)
{
    rw_ctx *c = arg;
    dd_err err = {0};
    pthread_barrier_wait(c->start);
    for (int i = 0; i < c->writer_ops; i++) {
        dd_metric_point pts[WRITER_BATCH];
        for (int k = 0; k < WRITER_BATCH; k++)
            pts[k] = (dd_metric_point){.value = i + k / 10.0};
        dd_code code = dd_metric_append(c->st, c->iteration, "acc", pts, WRITER_BATCH, &err);
        if (code != DD_OK)
            rw_fail(c, "writer append", code, &err);
        char key[32], val[32];
        snprintf(key, sizeof key, "p%04d", i % 50);
        snprintf(val, sizeof val, "%d", i);
        code = dd_param_set(c->st, c->iteration, key, val, &err);
        if (code != DD_OK)
            rw_fail(c, "writer param", code, &err);
        if (i % 20 == 0) {
            int64_t it = 0;
            code = dd_iteration_create(c->st, c->experiment, 0, &it, &err);
            if (code != DD_OK)
                rw_fail(c, "writer iteration", code, &err);
            else if ((code = dd_iteration_set_status(c->st, it, DD_ITER_SUCCEEDED, NULL, &err)))
                rw_fail(c, "writer status", code, &err);
        }
    }
    atomic_store(&c->writer_done, true);
    return NULL;
}

static int count_cb_iteration(void *ctx, const dd_iteration *it)
{
    (void)it;
    (*(int *)ctx)++;
    return 0;
}
static int count_cb_param(void *ctx, const char *k, const char *v)
{
    (void)k;
    (void)v;
    (*(int *)ctx)++;
    return 0;
}
static int count_cb_series(void *ctx, const dd_metric_series *s)
{
    (void)s;
    (*(int *)ctx)++;
    return 0;
}
static int count_cb_project(void *ctx, const dd_project *p)
{
    (void)p;
    (*(int *)ctx)++;
    return 0;
}

typedef struct steps_seen {
    int count;
    int64_t expect;     /* the next step a contiguous prefix would have */
    bool contiguous;
} steps_seen;

static int check_step(void *ctx, const dd_metric_row *m)
{
    steps_seen *s = ctx;
    if (m->step != s->expect)
        s->contiguous = false;
    s->expect++;
    s->count++;
    return 0;
}

static void *rw_reader(void *arg)
{
    rw_ctx *c = arg;
    dd_err err = {0};
    pthread_barrier_wait(c->start);
    int rounds = 0;
    /* Keep reading until the writer is done, and at least a few rounds. */
    while (!atomic_load(&c->writer_done) || rounds < 5) {
        dd_code code;
        steps_seen s = {.contiguous = true};
        code = dd_metric_read(c->st, c->iteration, "acc", false, 0, 0, check_step, &s, &err);
        if (code != DD_OK)
            rw_fail(c, "reader metric_read", code, &err);
        /* One read is one snapshot: a prefix of whole batches. */
        else if (!s.contiguous || s.count % WRITER_BATCH != 0)
            atomic_fetch_add(&c->torn, 1);
        dd_metric_series ms;
        char tsb[DD_TS_LEN];
        code = dd_metric_series_get(c->st, c->iteration, "acc", &ms, tsb, &err);
        if (code != DD_OK && code != DD_NOT_FOUND)
            rw_fail(c, "reader series_get", code, &err);
        else if (code == DD_OK && (ms.point_count % WRITER_BATCH != 0 ||
                                   ms.max_step != ms.point_count - 1))
            atomic_fetch_add(&c->torn, 1);
        int n = 0;
        if ((code = dd_metric_series_list(c->st, c->iteration, count_cb_series, &n, &err)))
            rw_fail(c, "reader series_list", code, &err);
        n = 0;
        if ((code = dd_param_list(c->st, c->iteration, count_cb_param, &n, &err)))
            rw_fail(c, "reader param_list", code, &err);
        n = 0;
        if ((code = dd_iteration_list(c->st, c->experiment, count_cb_iteration, &n, &err)))
            rw_fail(c, "reader iteration_list", code, &err);
        n = 0;
        if ((code = dd_project_list(c->st, count_cb_project, &n, &err)))
            rw_fail(c, "reader project_list", code, &err);
        dd_iteration it = {0};
        if ((code = dd_iteration_get(c->st, c->iteration, &it, &err)))
            rw_fail(c, "reader iteration_get", code, &err);
        dd_iteration_clear(&it);
        int64_t dv = 0;
        if ((code = dd_store_data_version(c->st, &dv, &err)))
            rw_fail(c, "reader data_version", code, &err);
        atomic_fetch_add(&c->reads, 1);
        rounds++;
        /* a short pause so that, under valgrind's one-thread-at-a-time scheduler, the
         * writer still gets its turns */
        struct timespec pause = {0, 200000};
        nanosleep(&pause, NULL);
    }
    return NULL;
}

static void test_readers_and_writer(dd_store *st, int64_t project, int writer_ops)
{
    dd_err err_buf = {0}, *err = &err_buf;
    static rw_ctx c;
    memset(&c, 0, sizeof c);
    c.st = st;
    c.project = project;
    c.writer_ops = writer_ops;
    CHECK_CODE(dd_experiment_create(st, project, "rw", &c.experiment, err), DD_OK, err);
    CHECK_CODE(dd_iteration_create(st, c.experiment, 0, &c.iteration, err), DD_OK, err);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, NTHREADS);
    c.start = &start;
    pthread_t th[NTHREADS];
    pthread_create(&th[0], NULL, rw_writer, &c);
    for (int i = 1; i < NTHREADS; i++)
        pthread_create(&th[i], NULL, rw_reader, &c);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    print_first_error();

    CHECK(atomic_load(&c.busy) == 0);
    CHECK(atomic_load(&c.errors) == 0);
    CHECK(atomic_load(&c.torn) == 0);
    CHECK(atomic_load(&c.reads) >= 5 * (NTHREADS - 1));
    dd_metric_series ms;
    char tsb[DD_TS_LEN];
    CHECK_CODE(dd_metric_series_get(st, c.iteration, "acc", &ms, tsb, err), DD_OK, err);
    CHECK(ms.point_count == (int64_t)writer_ops * WRITER_BATCH);
    int n = 0;
    CHECK_CODE(dd_iteration_list(st, c.experiment, count_cb_iteration, &n, err), DD_OK, err);
    CHECK(n == 1 + (writer_ops + 19) / 20);
    n = 0;
    CHECK_CODE(dd_param_list(st, c.iteration, count_cb_param, &n, err), DD_OK, err);
    CHECK(n == (writer_ops < 50 ? writer_ops : 50));
}

/* ---------------------------------------------------------------- (e) two stores, one file */

typedef struct proc_ctx {
    const char *path;
    int64_t model, iteration;
    int count;
    int64_t numbers[MAX_REG];
    int ok;
    atomic_int *errors;
} proc_ctx;

/* Like a second process: its own dd_store on the same file. */
static void *proc_worker(void *arg)
{
    proc_ctx *c = arg;
    dd_err err = {0};
    dd_store *st2 = NULL;
    dd_code code = dd_store_open(c->path, NULL, &st2, &err);
    if (code != DD_OK) {
        atomic_fetch_add(c->errors, 1);
        note_error("second store open", code, &err);
        return NULL;
    }
    for (int i = 0; i < c->count; i++) {
        int64_t n = 0;
        code = dd_version_create(st2, c->model, c->iteration, 0, NULL, NULL, &n, &err);
        if (code != DD_OK) {
            atomic_fetch_add(c->errors, 1);
            note_error("second store registration", code, &err);
        } else {
            c->numbers[c->ok++] = n;
        }
    }
    dd_store_close(st2);
    return NULL;
}

static void test_two_stores(dd_store *st, const char *path, int64_t project, int64_t iteration,
                            int per_side)
{
    dd_err err_buf = {0}, *err = &err_buf;
    int64_t model = 0;
    CHECK_CODE(dd_model_create(st, project, "two-stores", NULL, &model, err), DD_OK, err);
    atomic_int errors = 0;
    static proc_ctx pc;
    memset(&pc, 0, sizeof pc);
    pc = (proc_ctx){.path = path, .model = model, .iteration = iteration, .count = per_side,
                    .errors = &errors};
    pthread_t th;
    pthread_create(&th, NULL, proc_worker, &pc);
    int64_t mine[MAX_REG];
    int ok = 0;
    for (int i = 0; i < per_side; i++) {
        int64_t n = 0;
        dd_code code = dd_version_create(st, model, iteration, 0, NULL, NULL, &n, err);
        if (code != DD_OK) {
            atomic_fetch_add(&errors, 1);
            note_error("first store registration", code, err);
        } else {
            mine[ok++] = n;
        }
    }
    pthread_join(th, NULL);
    print_first_error();
    CHECK(atomic_load(&errors) == 0);
    CHECK(ok == per_side && pc.ok == per_side);
    char seen[2 * MAX_REG + 2] = {0};
    int dup = 0, range = 0;
    for (int i = 0; i < ok; i++) {
        if (mine[i] < 1 || mine[i] > 2 * per_side) range++;
        else if (seen[mine[i]]++) dup++;
    }
    for (int i = 0; i < pc.ok; i++) {
        if (pc.numbers[i] < 1 || pc.numbers[i] > 2 * per_side) range++;
        else if (seen[pc.numbers[i]]++) dup++;
    }
    CHECK(dup == 0 && range == 0);
}

/* ---------------------------------------------------------------- (f) racing opens */

typedef struct open_ctx {
    const char *path;
    pthread_barrier_t *start;
    atomic_int *errors;
} open_ctx;

static void *open_worker(void *arg)
{
    open_ctx *c = arg;
    dd_err err = {0};
    dd_store *s = NULL;
    pthread_barrier_wait(c->start);
    dd_code code = dd_store_open(c->path, NULL, &s, &err);
    if (code != DD_OK) {
        atomic_fetch_add(c->errors, 1);
        note_error("concurrent open", code, &err);
    }
    dd_store_close(s);
    return NULL;
}

static int count_user(void *ctx, const dd_user *u)
{
    (void)u;
    (*(int *)ctx)++;
    return 0;
}

/* Several processes opening (and so migrating and seeding) a brand-new file at once. */
static void test_racing_opens(int rounds)
{
    dd_err err_buf = {0}, *err = &err_buf;
    int bad_version = 0, bad_users = 0;
    atomic_int errors = 0;
    for (int r = 0; r < rounds; r++) {
        char path[1024];
        dd_test_locator(path, sizeof path, "store_concurrency_open");
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, NTHREADS);
        open_ctx ctx = {path, &start, &errors};
        pthread_t th[NTHREADS];
        for (int i = 0; i < NTHREADS; i++)
            pthread_create(&th[i], NULL, open_worker, &ctx);
        for (int i = 0; i < NTHREADS; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&start);
        dd_store *st = NULL;
        CHECK_CODE(dd_store_open(path, NULL, &st, err), DD_OK, err);
        if (!st)
            continue;
        int v = 0, users = 0;
        if (dd_schema_version(st, &v, err) != DD_OK || v != dd_schema_version_known())
            bad_version++;
        if (dd_user_list(st, count_user, &users, err) != DD_OK || users != 1)
            bad_users++;
        dd_store_close(st);
    }
    print_first_error();
    CHECK(atomic_load(&errors) == 0);
    CHECK(bad_version == 0);
    CHECK(bad_users == 0);
}

/* ---------------------------------------------------------------- (g) appends racing the end */

typedef struct end_ctx {
    dd_store *st;
    int64_t iteration;
    pthread_barrier_t *start;
    atomic_int ok, read_only, other;
    atomic_bool ended;
    atomic_int after_end_ok;   /* appends that started after the end was committed */
} end_ctx;

static void *end_appender(void *arg)
{
    end_ctx *c = arg;
    dd_err err = {0};
    pthread_barrier_wait(c->start);
    for (;;) {
        bool ended_before = atomic_load(&c->ended);
        dd_metric_point p[2] = {{.value = 1}, {.value = 2}};
        dd_code code = dd_metric_append(c->st, c->iteration, "loss", p, 2, &err);
        if (code == DD_OK) {
            atomic_fetch_add(&c->ok, 1);
            if (ended_before)
                atomic_fetch_add(&c->after_end_ok, 1);
        } else if (code == DD_READ_ONLY) {
            atomic_fetch_add(&c->read_only, 1);
            break;
        } else {
            atomic_fetch_add(&c->other, 1);
            note_error("append racing the end", code, &err);
            break;
        }
    }
    return NULL;
}

static void test_append_vs_end(dd_store *st, int64_t experiment)
{
    dd_err err_buf = {0}, *err = &err_buf;
    static end_ctx c;
    memset(&c, 0, sizeof c);
    c.st = st;
    CHECK_CODE(dd_iteration_create(st, experiment, 0, &c.iteration, err), DD_OK, err);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, NTHREADS);
    c.start = &start;
    pthread_t th[NTHREADS - 1];
    for (int i = 0; i < NTHREADS - 1; i++)
        pthread_create(&th[i], NULL, end_appender, &c);
    pthread_barrier_wait(&start);
    /* Long enough for some appends before the end (valgrind runs them one at a time, a
     * server engine adds round trips, a loaded machine both): at least the pause, and
     * then until one append went through (at most 10 s more). */
    struct timespec pause = {0, (quick() ? 400 : 20) * 1000000}, tick = {0, 5000000};
    nanosleep(&pause, NULL);
    for (int i = 0; i < 2000 && atomic_load(&c.ok) == 0; i++)
        nanosleep(&tick, NULL);
    CHECK_CODE(dd_iteration_set_status(st, c.iteration, DD_ITER_SUCCEEDED, NULL, err), DD_OK,
               err);
    atomic_store(&c.ended, true);
    for (int i = 0; i < NTHREADS - 1; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    print_first_error();
    CHECK(atomic_load(&c.other) == 0);
    CHECK(atomic_load(&c.read_only) == NTHREADS - 1);
    CHECK(atomic_load(&c.after_end_ok) == 0);
    CHECK(atomic_load(&c.ok) > 0);
    /* Every accepted batch is there, whole; nothing after the end. */
    dd_metric_series ms;
    char tsb[DD_TS_LEN];
    int ok = atomic_load(&c.ok);
    CHECK_CODE(dd_metric_series_get(st, c.iteration, "loss", &ms, tsb, err), DD_OK, err);
    CHECK(ms.point_count == 2 * (int64_t)ok);
    CHECK(ms.max_step == 2 * (int64_t)ok - 1);
}

int main(void)
{
    double t0 = now_s();
    bool q = quick();
    int promo_rounds = q ? 10 : 100;
    int reg_per_thread = q ? 10 : MAX_REG;
    int metric_per_thread = q ? 50 : 500;
    int writer_ops = q ? 100 : 1000;

    char path[1024];
    dd_test_locator(path, sizeof path, "store_concurrency");
    dd_err err_buf = {0}, *err = &err_buf;
    dd_store *st = NULL;
    CHECK_CODE(dd_store_open(path, NULL, &st, err), DD_OK, err);
    if (!st)
        return dd_test_done();
    int64_t proj = 0, ex = 0, it = 0, it_metrics = 0, m_promo = 0, m_reg = 0;
    CHECK_CODE(dd_project_create(st, 0, "concurrency", &proj, err), DD_OK, err);
    CHECK_CODE(dd_experiment_create(st, proj, "race", &ex, err), DD_OK, err);
    CHECK_CODE(dd_iteration_create(st, ex, 0, &it, err), DD_OK, err);
    CHECK_CODE(dd_iteration_create(st, ex, 0, &it_metrics, err), DD_OK, err);
    CHECK_CODE(dd_model_create(st, proj, "promoted", NULL, &m_promo, err), DD_OK, err);
    CHECK_CODE(dd_model_create(st, proj, "registered", NULL, &m_reg, err), DD_OK, err);

    double t = now_s();
    test_promotions(st, m_promo, it, promo_rounds);
    printf("(a) %d promotion rounds x %d threads: %.2f s\n", promo_rounds, NTHREADS, now_s() - t);
    t = now_s();
    test_registrations(st, m_reg, it, reg_per_thread);
    printf("(b) %d registrations x %d threads: %.2f s\n", reg_per_thread, NTHREADS, now_s() - t);
    t = now_s();
    test_metric_appends(st, it_metrics, metric_per_thread);
    printf("(c) %d appends x %d threads: %.2f s\n", metric_per_thread, NTHREADS, now_s() - t);
    t = now_s();
    test_readers_and_writer(st, proj, writer_ops);
    printf("(d) %d writer ops, %d readers: %.2f s\n", writer_ops, NTHREADS - 1, now_s() - t);
    t = now_s();
    test_two_stores(st, path, proj, it, q ? 10 : MAX_REG);
    printf("(e) two stores on one file: %.2f s\n", now_s() - t);

    t = now_s();
    test_append_vs_end(st, ex);
    printf("(g) appends racing the end of their iteration: %.2f s\n", now_s() - t);

    CHECK_CODE(dd_store_check_integrity(st, err), DD_OK, err);
    dd_store_close(st);
    t = now_s();
    test_racing_opens(q ? 1 : 3);
    printf("(f) %d x %d racing opens of a new file: %.2f s\n", q ? 1 : 3, NTHREADS, now_s() - t);
    printf("total %.2f s\n", now_s() - t0);
    return dd_test_done();
}
