/*
 * test_listing_cost.c - what a directory listing costs the store (issue 14): a readdir
 * and then a getattr of every entry (what `ls -l` asks) run a small constant number of
 * statements, however many entries there are, and the attributes the listing reported
 * are the ones a fresh lookup computes from the store. Also: a getattr after a write
 * through the core sees the write, and a core that keeps no attributes (a shared mount)
 * asks the store for each.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "check_vfs.h"
#include "store.h"
#include "vfs.h"

#define MAX_LISTED 512
#define COST_MAX 3        /* statements for a readdir + a getattr of every entry */

static vfs *V;
static dd_store *ST;

typedef struct listing {
    int n;
    char names[MAX_LISTED][64];
    vfs_entry e[MAX_LISTED];
} listing;

static int collect(void *ctx, const char *name, const vfs_entry *e)
{
    listing *l = ctx;
    if (l->n == MAX_LISTED)
        return 1;
    snprintf(l->names[l->n], sizeof l->names[0], "%s", name);
    l->e[l->n++] = *e;
    return 0;
}

static uint64_t statements(void)
{
    dd_store_stats s;
    dd_store_stats_get(ST, &s);
    return s.statements;
}

static bool same_attrs(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_mode == b->st_mode && a->st_size == b->st_size &&
           a->st_nlink == b->st_nlink && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
           a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* readdir of `path`, then getattr of every entry: at most COST_MAX statements for
 * `want` entries, each getattr answering what the listing said, and each entry's
 * attributes those a lookup of its name (which always asks the store) finds. */
static void check_listing(const char *path, int want)
{
    static listing l;
    memset(&l, 0, sizeof l);
    uint64_t dir = check_walk(V, path);
    CHECK(dir != 0);
    uint64_t before = statements();
    CHECK(vfs_readdir(V, dir, collect, &l) == 0);
    int same = 0;
    for (int i = 0; i < l.n; i++) {
        vfs_entry e;
        if (vfs_getattr(V, l.e[i].ino, &e) == 0 && same_attrs(&e.st, &l.e[i].st))
            same++;
    }
    uint64_t cost = statements() - before;
    printf("listing + getattr of every entry: %-50s %3" PRIu64 " statements (%d entries)\n",
           path, cost, l.n);
    if (l.n != want || cost > COST_MAX || same != l.n)
        fprintf(stderr, "%s: %d entries (want %d), %" PRIu64 " statements (at most %d),"
                " %d getattrs as listed\n", path, l.n, want, cost, COST_MAX, same);
    CHECK(l.n == want);
    CHECK(cost <= COST_MAX);
    CHECK(same == l.n);
    int fresh = 0;
    for (int i = 0; i < l.n; i++) {
        vfs_entry e;
        if (vfs_lookup(V, dir, l.names[i], &e) == 0 && e.ino == l.e[i].ino &&
            same_attrs(&e.st, &l.e[i].st))
            fresh++;
        else
            fprintf(stderr, "%s/%s: the listing's attributes differ from a lookup's\n", path,
                    l.names[i]);
    }
    CHECK(fresh == l.n);
}

/* Statements a readdir of `path` and a getattr of each entry cost. */
static uint64_t listing_cost(const char *path)
{
    static listing l;
    memset(&l, 0, sizeof l);
    uint64_t dir = check_walk(V, path);
    uint64_t before = statements();
    CHECK(vfs_readdir(V, dir, collect, &l) == 0);
    for (int i = 0; i < l.n; i++) {
        vfs_entry e;
        CHECK(vfs_getattr(V, l.e[i].ino, &e) == 0);
    }
    return statements() - before;
}

static int write_value(const char *path, const char *text)
{
    vfs_file *f = NULL;
    vfs_open_info info;
    uint64_t ino = check_walk(V, path);
    int rc = ino ? vfs_open(V, ino, O_WRONLY | O_TRUNC, &f, &info) : -ENOENT;
    if (rc)
        return rc;
    ssize_t n = vfs_write(V, f, 0, text, strlen(text));
    int frc = vfs_release(V, f);
    return n < 0 ? (int)n : frc;
}

int main(void)
{
    char db[512];
    dd_err err;
    dd_err *errp = &err;
    check_db_path(db, sizeof db, "test_listing_cost");
    CHECK_CODE(dd_store_open(db, NULL, &ST, errp), DD_OK, errp);
    /* timeouts long enough that a slow (valgrind) run still lists and stats within them */
    vfs_options opts = {.live_timeout = 60, .immutable_timeout = 60};
    V = vfs_new(ST, NULL, &opts);

    int64_t p, e, big, it, model = 0;
    CHECK_CODE(dd_project_create(ST, 0, "p", &p, errp), DD_OK, errp);
    CHECK_CODE(dd_experiment_create(ST, p, "e", &e, errp), DD_OK, errp);
    CHECK_CODE(dd_experiment_create(ST, p, "big", &big, errp), DD_OK, errp);
    CHECK_CODE(dd_iteration_create(ST, e, 0, &it, errp), DD_OK, errp);
    char key[32], value[32];
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof key, "param%02d", i);
        snprintf(value, sizeof value, "%d", i * 37);
        CHECK_CODE(dd_param_set(ST, it, key, value, errp), DD_OK, errp);
        snprintf(key, sizeof key, "metric%02d", i);
        dd_metric_point pt = {.value = i * 0.5, .has_step = true, .step = i};
        CHECK_CODE(dd_metric_append(ST, it, key, &pt, 1, errp), DD_OK, errp);
    }
    for (int i = 0; i < 200; i++) {
        int64_t x;
        CHECK_CODE(dd_iteration_create(ST, big, 0, &x, errp), DD_OK, errp);
    }
    for (int i = 0; i < 20; i++) {
        int64_t m;
        snprintf(key, sizeof key, "model%02d", i);
        CHECK_CODE(dd_model_create(ST, p, key, "", &m, errp), DD_OK, errp);
        if (!model)
            model = m;
    }
    int64_t first_version = 0;
    for (int i = 0; i < 20; i++) {
        int64_t ver;
        CHECK_CODE(dd_version_create(ST, model, it, 0, "", &ver, NULL, errp), DD_OK, errp);
        if (!first_version)
            first_version = ver;
    }

    const char *run = "projects/p/experiments/e/iterations/1";
    char path[256];
    snprintf(path, sizeof path, "%s/params", run);
    check_listing(path, 50);
    snprintf(path, sizeof path, "%s/metrics", run);
    check_listing(path, 100);   /* 50 series and their 50 charts (<key>.svg) */
    check_listing("models", 20);
    check_listing("projects/p/models", 20);
    check_listing("projects/p/experiments/big/iterations", 200);
    check_listing("projects/p/models/model00/versions", 20);

    /* every directory of an iteration costs what it costs with no entries at all: the
     * count is a constant of the directory's kind (its fixed files cost more than one
     * statement each, but never depend on how many rows there are) */
    int64_t empty;
    CHECK_CODE(dd_iteration_create(ST, e, 0, &empty, errp), DD_OK, errp);
    for (int i = 0; i < 12; i++) {
        int64_t child;
        snprintf(key, sizeof key, "t%02d", i);
        CHECK_CODE(dd_tag_attach(ST, DD_TAG_ITERATION, it, key, NULL, errp), DD_OK, errp);
        CHECK_CODE(dd_iteration_create(ST, e, it, &child, errp), DD_OK, errp);
    }
    const char *subdirs[] = {"", "/params", "/metrics", "/tags", "/children", "/env"};
    for (size_t i = 0; i < sizeof subdirs / sizeof subdirs[0]; i++) {
        char full[256], bare[256];
        snprintf(full, sizeof full, "%s%s", run, subdirs[i]);
        snprintf(bare, sizeof bare, "projects/p/experiments/e/iterations/%" PRId64 "%s",
                 empty, subdirs[i]);
        uint64_t c_full = listing_cost(full), c_bare = listing_cost(bare);
        printf("listing + getattr of every entry: %-50s %3" PRIu64 " statements"
               " (%" PRIu64 " with no rows)\n", full, c_full, c_bare);
        CHECK(c_full == c_bare);
    }
    /* ... and a model's: model00 has 20 versions and an alias, model01 nothing */
    CHECK_CODE(dd_alias_set(ST, model, "champion", first_version, errp), DD_OK, errp);
    const char *model_dirs[] = {"", "/versions", "/aliases"};
    for (size_t i = 0; i < sizeof model_dirs / sizeof model_dirs[0]; i++) {
        char full[256], bare[256];
        snprintf(full, sizeof full, "projects/p/models/model00%s", model_dirs[i]);
        snprintf(bare, sizeof bare, "projects/p/models/model01%s", model_dirs[i]);
        uint64_t c_full = listing_cost(full), c_bare = listing_cost(bare);
        printf("listing + getattr of every entry: %-50s %3" PRIu64 " statements"
               " (%" PRIu64 " with no rows)\n", full, c_full, c_bare);
        CHECK(c_full == c_bare);
    }
    const char *fixed_dirs[] = {"projects/p", "projects/p/experiments/e",
                                "projects/p/models/model00/versions/1"};
    for (size_t i = 0; i < sizeof fixed_dirs / sizeof fixed_dirs[0]; i++)
        printf("listing + getattr of every entry: %-50s %3" PRIu64 " statements\n",
               fixed_dirs[i], listing_cost(fixed_dirs[i]));

    /* a write through the core: the next getattr sees the new size, not the listing's */
    snprintf(path, sizeof path, "%s/params", run);
    static listing l;
    CHECK(vfs_readdir(V, check_walk(V, path), collect, &l) == 0);
    snprintf(path, sizeof path, "%s/params/param00", run);
    uint64_t ino = check_walk(V, path);
    vfs_entry a;
    CHECK(vfs_getattr(V, ino, &a) == 0 && a.st.st_size == 2);           /* "0\n" */
    CHECK(write_value(path, "123456789\n") == 0);
    CHECK(vfs_getattr(V, ino, &a) == 0 && a.st.st_size == 10);

    /* ... and so does a metric point accepted into the metric log (not yet committed) */
    snprintf(path, sizeof path, "%s/metrics", run);
    CHECK(dd_metric_log_start(ST, errp) == DD_OK);
    memset(&l, 0, sizeof l);
    CHECK(vfs_readdir(V, check_walk(V, path), collect, &l) == 0);
    snprintf(path, sizeof path, "%s/metrics/metric00", run);
    ino = check_walk(V, path);
    vfs_entry m0;
    CHECK(vfs_getattr(V, ino, &m0) == 0);
    dd_metric_point pt = {.value = 1.25, .has_step = true, .step = 1000};
    CHECK_CODE(dd_metric_append_logged(ST, it, "metric00", &pt, 1, errp), DD_OK, errp);
    CHECK(vfs_getattr(V, ino, &a) == 0 && a.st.st_size > m0.st.st_size);

    /* a core that keeps nothing (a shared mount) asks the store for every getattr */
    vfs_keep_attrs(V, false);
    snprintf(path, sizeof path, "%s/params", run);
    memset(&l, 0, sizeof l);
    CHECK(vfs_readdir(V, check_walk(V, path), collect, &l) == 0 && l.n == 50);
    uint64_t before = statements();
    for (int i = 0; i < l.n; i++)
        CHECK(vfs_getattr(V, l.e[i].ino, &a) == 0 && same_attrs(&a.st, &l.e[i].st));
    CHECK(statements() - before >= (uint64_t)l.n);
    /* ... and computes what the listing computed: /models/<m> by readlink's path */
    memset(&l, 0, sizeof l);
    CHECK(vfs_readdir(V, VFS_ROOT_INO, collect, &l) == 0);
    uint64_t models = check_walk(V, "models");
    memset(&l, 0, sizeof l);
    CHECK(vfs_readdir(V, models, collect, &l) == 0 && l.n == 20);
    for (int i = 0; i < l.n; i++)
        CHECK(vfs_getattr(V, l.e[i].ino, &a) == 0 && same_attrs(&a.st, &l.e[i].st));
    vfs_keep_attrs(V, true);

    /* a /models/<m> link is never kept by the kernel (a model made again under its name
     * must resolve at once), so `ls -l /models` looks each up: one statement each */
    before = statements();
    for (int i = 0; i < l.n; i++)
        CHECK(vfs_lookup(V, models, l.names[i], &a) == 0 && same_attrs(&a.st, &l.e[i].st));
    CHECK(statements() - before <= (uint64_t)l.n);

    /* attributes are kept no longer than their timeout */
    vfs *shortv = vfs_new(ST, NULL, &(vfs_options){.live_timeout = 0.05});
    memset(&l, 0, sizeof l);
    CHECK(vfs_readdir(shortv, check_walk(V, path), collect, &l) == 0 && l.n == 50);
    usleep(100 * 1000);
    before = statements();
    CHECK(vfs_getattr(shortv, l.e[0].ino, &a) == 0);
    CHECK(statements() > before);
    vfs_free(shortv);

    dd_metric_log_stop(ST);
    vfs_free(V);
    dd_store_close(ST);
    return check_done();
}
