/*
 * test_store_tracking.c - the tracking side of the store: projects, experiments,
 * iterations (and the lock once they end), parameters, metrics, environment files and
 * snapshots, tags and resources, each against a real SQLite file.
 */
#include <math.h>
#include <stdint.h>
#include <unistd.h>

#include "check.h"
#include "check_sql.h"
#include "engine_fixture.h"
#include "store.h"
#include "textfmt.h"

#define SHA_HELLO "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---------------------------------------------------------------- list collectors */

#define MAXROWS 64

typedef struct id_rows {
    int count;
    int64_t ids[MAXROWS];
    char names[MAXROWS][64];
} id_rows;

static void id_rows_add(id_rows *r, int64_t id, const char *name)
{
    if (r->count < MAXROWS) {
        r->ids[r->count] = id;
        snprintf(r->names[r->count], sizeof r->names[0], "%s", name ? name : "");
    }
    r->count++;
}

static bool id_rows_has(const id_rows *r, int64_t id, const char *name)
{
    for (int i = 0; i < r->count && i < MAXROWS; i++)
        if (r->ids[i] == id && strcmp(r->names[i], name) == 0)
            return true;
    return false;
}

static int collect_project(void *ctx, const dd_project *p)
{
    id_rows_add(ctx, p->id, p->name);
    return 0;
}

static int collect_experiment(void *ctx, const dd_experiment *e)
{
    id_rows_add(ctx, e->id, e->name);
    return 0;
}

typedef struct iter_rows {
    int count;
    dd_iteration rows[MAXROWS];   /* borrowed strings are not kept */
    int toml_nonempty;
} iter_rows;

static int collect_iteration(void *ctx, const dd_iteration *it)
{
    iter_rows *r = ctx;
    if (r->count < MAXROWS) {
        r->rows[r->count] = *it;
        r->rows[r->count].notes = NULL;
        r->rows[r->count].error_message = NULL;
        r->rows[r->count].julia_version = NULL;
        r->rows[r->count].git_sha = NULL;
        r->rows[r->count].entrypoint = NULL;
        r->rows[r->count].project_toml = NULL;
        r->rows[r->count].manifest_toml = NULL;
    }
    if ((it->project_toml && it->project_toml[0]) || (it->manifest_toml && it->manifest_toml[0]))
        r->toml_nonempty++;
    r->count++;
    return 0;
}

typedef struct kv_rows {
    int count;
    char keys[MAXROWS][64];
    char values[MAXROWS][64];
} kv_rows;

static int collect_param(void *ctx, const char *key, const char *value)
{
    kv_rows *r = ctx;
    if (r->count < MAXROWS) {
        snprintf(r->keys[r->count], 64, "%s", key);
        snprintf(r->values[r->count], 64, "%s", value);
    }
    r->count++;
    return 0;
}

typedef struct metric_rows {
    int count;
    int64_t ids[4096];
    int64_t steps[4096];
    double values[4096];
    char ts[8][DD_TS_LEN];     /* the first few recorded_at */
    int64_t text_bytes;        /* sum of dd_metric_line lengths */
} metric_rows;

static int collect_metric(void *ctx, const dd_metric_row *m)
{
    metric_rows *r = ctx;
    if (r->count < 4096) {
        r->ids[r->count] = m->id;
        r->steps[r->count] = m->step;
        r->values[r->count] = m->value;
    }
    if (r->count < 8)
        snprintf(r->ts[r->count], DD_TS_LEN, "%s", m->recorded_at);
    char line[DD_METRIC_LINE_MAX];
    r->text_bytes += (int64_t)dd_metric_line(m->step, m->value, m->recorded_at, line);
    r->count++;
    return 0;
}

typedef struct series_rows {
    int count;
    char keys[MAXROWS][64];
    int64_t ids[MAXROWS];
    double values[MAXROWS];
    int64_t max_steps[MAXROWS];
    int64_t counts[MAXROWS];
} series_rows;

static int collect_series(void *ctx, const dd_metric_series *s)
{
    series_rows *r = ctx;
    if (r->count < MAXROWS) {
        snprintf(r->keys[r->count], 64, "%s", s->key);
        r->ids[r->count] = s->id;
        r->values[r->count] = s->value;
        r->max_steps[r->count] = s->max_step;
        r->counts[r->count] = s->point_count;
    }
    r->count++;
    return 0;
}

static int collect_tag(void *ctx, int64_t link_id, const char *value)
{
    id_rows_add(ctx, link_id, value);
    return 0;
}

static int collect_resource(void *ctx, const dd_resource *r)
{
    id_rows_add(ctx, r->id, r->name);
    return 0;
}

static int collect_file(void *ctx, int64_t id, const char *name, size_t len)
{
    (void)len;
    id_rows_add(ctx, id, name);
    return 0;
}

typedef struct trash_rows {
    int count;
    int64_t ids[MAXROWS];
    char backends[MAXROWS][16];
    char uris[MAXROWS][128];
} trash_rows;

static int collect_trash(void *ctx, int64_t id, const char *backend, const char *uri)
{
    trash_rows *r = ctx;
    if (r->count < MAXROWS) {
        r->ids[r->count] = id;
        snprintf(r->backends[r->count], 16, "%s", backend);
        snprintf(r->uris[r->count], 128, "%s", uri);
    }
    r->count++;
    return 0;
}

static int count_perm(void *ctx, const dd_user_permission *p)
{
    (void)p;
    (*(int *)ctx)++;
    return 0;
}

static int count_projects(dd_store *st)
{
    id_rows r = {0};
    return dd_project_list(st, collect_project, &r, NULL) == DD_OK ? r.count : -1;
}

static int count_iterations(dd_store *st, int64_t exp)
{
    iter_rows *r = calloc(1, sizeof *r);
    int n = dd_iteration_list(st, exp, collect_iteration, r, NULL) == DD_OK ? r->count : -1;
    free(r);
    return n;
}

static int count_points(dd_store *st, int64_t it, const char *key)
{
    metric_rows *r = calloc(1, sizeof *r);
    int n = dd_metric_read(st, it, key, false, 0, 0, collect_metric, r, NULL) == DD_OK
                ? r->count : -1;
    free(r);
    return n;
}

static bool is_canonical_ts(const char *ts)
{
    char again[DD_TS_LEN];
    return ts && strlen(ts) == DD_TS_LEN - 1 && ts[DD_TS_LEN - 2] == 'Z' &&
           dd_time_parse(ts, again, NULL) == DD_OK && strcmp(again, ts) == 0;
}

static dd_metric_point pt(double v)
{
    dd_metric_point p = {.value = v};
    return p;
}

static dd_metric_point pt_step(double v, int64_t step)
{
    dd_metric_point p = {.value = v, .has_step = true, .step = step};
    return p;
}

/* ---------------------------------------------------------------- projects */

static void test_projects(dd_store *st)
{
    dd_err err_buf = {0}, *err = &err_buf;
    int64_t p1 = 0, p2 = 0, p3 = 0, x = 0;
    CHECK_CODE(dd_project_create(st, 0, "alpha", &p1, err), DD_OK, err);
    CHECK(p1 > 0);
    dd_project p = {0};
    CHECK_CODE(dd_project_get(st, p1, &p, err), DD_OK, err);
    CHECK(p.id == p1);
    CHECK_STR(p.name, "alpha");
    CHECK_STR(p.description, "");
    CHECK(is_canonical_ts(p.created_date));
    dd_project_clear(&p);

    /* The creator (default) got a read-only permission row in the same transaction. */
    dd_user u = {0};
    CHECK_CODE(dd_user_find(st, DD_DEFAULT_USERNAME, &u, err), DD_OK, err);
    int64_t default_id = u.id;
    dd_user_clear(&u);
    dd_user_permission perm = {0};
    CHECK_CODE(dd_permission_get(st, default_id, p1, &perm, err), DD_OK, err);
    CHECK(!perm.create_permission && perm.read_permission && !perm.update_permission &&
          !perm.delete_permission);

    /* An explicit admin user id works too, and gets the row. */
    int64_t admin = 0;
    CHECK_CODE(dd_user_create(st, "Ada", "L", "ada", "pw", &admin, err), DD_OK, err);
    CHECK_CODE(dd_user_update(st, admin, NULL, NULL, NULL, 1, err), DD_OK, err);
    int64_t pa = 0;
    CHECK_CODE(dd_project_create(st, admin, "ada-proj", &pa, err), DD_OK, err);
    CHECK_CODE(dd_permission_get(st, admin, pa, &perm, err), DD_OK, err);
    CHECK(perm.read_permission && !perm.create_permission);
    CHECK_CODE(dd_permission_get(st, default_id, pa, &perm, err), DD_NOT_FOUND, err);

    /* Non-admin and unknown users may not create projects; nothing is created. */
    int64_t plain = 0;
    CHECK_CODE(dd_user_create(st, "Pat", "P", "pat", "pw", &plain, err), DD_OK, err);
    int before = count_projects(st);
    CHECK_CODE(dd_project_create(st, plain, "beta", &x, err), DD_FORBIDDEN, err);
    CHECK(dd_project_create(st, 9999, "beta", &x, err) != DD_OK);
    CHECK_CODE(dd_project_find(st, "beta", &x, err), DD_NOT_FOUND, err);
    CHECK(count_projects(st) == before);
    /* ... and no stray permission row for the refused user. */
    int nperm = 0;
    CHECK_CODE(dd_permission_list(st, plain, 0, count_perm, &nperm, err), DD_OK, err);
    CHECK(nperm == 0);

    /* Duplicate and bad names. */
    CHECK_CODE(dd_project_create(st, 0, "alpha", &x, err), DD_CONFLICT, err);
    char n256[257];
    memset(n256, 'n', 256);
    n256[256] = 0;
    CHECK_CODE(dd_project_create(st, 0, "", &x, err), DD_INVALID, err);
    CHECK_CODE(dd_project_create(st, 0, "a/b", &x, err), DD_INVALID, err);
    CHECK_CODE(dd_project_create(st, 0, ".", &x, err), DD_INVALID, err);
    CHECK_CODE(dd_project_create(st, 0, "..", &x, err), DD_INVALID, err);
    CHECK_CODE(dd_project_create(st, 0, "ctl\x01", &x, err), DD_INVALID, err);
    CHECK_CODE(dd_project_create(st, 0, "\xff\xfe", &x, err), DD_INVALID, err);
    CHECK_CODE(dd_project_create(st, 0, n256, &x, err), DD_TOO_LONG, err);
    CHECK(count_projects(st) == before);

    /* Creation order is listing order. */
    CHECK_CODE(dd_project_create(st, 0, "beta", &p2, err), DD_OK, err);
    CHECK_CODE(dd_project_create(st, 0, "r\xc3\xa9sum\xc3\xa9-\xe6\xa8\xa1\xe5\x9e\x8b", &p3, err),
               DD_OK, err);
    id_rows rows = {0};
    CHECK_CODE(dd_project_list(st, collect_project, &rows, err), DD_OK, err);
    CHECK(rows.count == before + 2);
    CHECK(rows.count >= 4 && rows.ids[0] == p1 && rows.ids[1] == pa &&
          rows.ids[rows.count - 2] == p2 && rows.ids[rows.count - 1] == p3);
    CHECK(rows.count >= 1 && strcmp(rows.names[0], "alpha") == 0);
    for (int i = 1; i < rows.count && i < MAXROWS; i++)
        CHECK(rows.ids[i - 1] < rows.ids[i]);

    /* Find. */
    CHECK_CODE(dd_project_find(st, "alpha", &x, err), DD_OK, err);
    CHECK(x == p1);
    CHECK_CODE(dd_project_find(st, "r\xc3\xa9sum\xc3\xa9-\xe6\xa8\xa1\xe5\x9e\x8b", &x, err), DD_OK,
               err);
    CHECK(x == p3);
    CHECK_CODE(dd_project_find(st, "ALPHA", &x, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_project_get(st, 999999, &p, err), DD_NOT_FOUND, err);

    /* Rename to a taken name: conflict and nothing changed. */
    CHECK_CODE(dd_project_rename(st, p2, "alpha", err), DD_CONFLICT, err);
    CHECK_CODE(dd_project_get(st, p2, &p, err), DD_OK, err);
    CHECK_STR(p.name, "beta");
    dd_project_clear(&p);
    CHECK_CODE(dd_project_find(st, "alpha", &x, err), DD_OK, err);
    CHECK(x == p1);
    CHECK_CODE(dd_project_rename(st, p2, "x/y", err), DD_INVALID, err);
    CHECK_CODE(dd_project_rename(st, p2, "", err), DD_INVALID, err);
    CHECK_CODE(dd_project_rename(st, p2, n256, err), DD_TOO_LONG, err);
    CHECK_CODE(dd_project_rename(st, 999999, "zzz", err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_project_get(st, p2, &p, err), DD_OK, err);
    CHECK_STR(p.name, "beta");
    dd_project_clear(&p);
    CHECK_CODE(dd_project_rename(st, p2, "beta", err), DD_OK, err);   /* its own name */
    CHECK_CODE(dd_project_rename(st, p2, "delta", err), DD_OK, err);
    CHECK_CODE(dd_project_find(st, "delta", &x, err), DD_OK, err);
    CHECK(x == p2);
    CHECK_CODE(dd_project_find(st, "beta", &x, err), DD_NOT_FOUND, err);
    /* The old name is free again. */
    int64_t p4 = 0;
    CHECK_CODE(dd_project_create(st, 0, "beta", &p4, err), DD_OK, err);
    CHECK(p4 != p2);

    /* Description. */
    CHECK_CODE(dd_project_set_description(st, p1, "the first one", err), DD_OK, err);
    CHECK_CODE(dd_project_get(st, p1, &p, err), DD_OK, err);
    CHECK_STR(p.description, "the first one");
    CHECK_STR(p.name, "alpha");
    dd_project_clear(&p);
    CHECK_CODE(dd_project_set_description(st, 999999, "x", err), DD_NOT_FOUND, err);

    /* An empty project deletes without cascade. */
    CHECK_CODE(dd_project_delete(st, p4, false, err), DD_OK, err);
    CHECK_CODE(dd_project_get(st, p4, &p, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_permission_get(st, default_id, p4, &perm, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_project_delete(st, p4, false, err), DD_NOT_FOUND, err);
}

/* ---------------------------------------------------------------- experiments */

static void test_experiments(dd_store *st)
{
    dd_err err_buf = {0}, *err = &err_buf;
    int64_t pa = 0, pb = 0, e1 = 0, e2 = 0, e3 = 0, eb = 0, x = 0;
    CHECK_CODE(dd_project_create(st, 0, "exp-proj-a", &pa, err), DD_OK, err);
    CHECK_CODE(dd_project_create(st, 0, "exp-proj-b", &pb, err), DD_OK, err);

    CHECK_CODE(dd_experiment_create(st, pa, "baseline", &e1, err), DD_OK, err);
    dd_experiment e = {0};
    CHECK_CODE(dd_experiment_get(st, e1, &e, err), DD_OK, err);
    CHECK(e.id == e1 && e.project_id == pa);
    CHECK(e.status_id == DD_EXP_IN_PROGRESS);
    CHECK_STR(e.name, "baseline");
    CHECK_STR(e.description, "");
    CHECK_STR(e.end_date, "");
    CHECK(is_canonical_ts(e.created_date));
    dd_experiment_clear(&e);

    /* Unique per project; the same name is fine in another project. */
    CHECK_CODE(dd_experiment_create(st, pa, "baseline", &x, err), DD_CONFLICT, err);
    CHECK_CODE(dd_experiment_create(st, pb, "baseline", &eb, err), DD_OK, err);
    CHECK(eb != e1);
    CHECK_CODE(dd_experiment_create(st, 999999, "orphan", &x, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_experiment_create(st, pa, "", &x, err), DD_INVALID, err);
    CHECK_CODE(dd_experiment_create(st, pa, "a/b", &x, err), DD_INVALID, err);
    CHECK_CODE(dd_experiment_create(st, pa, "..", &x, err), DD_INVALID, err);

    CHECK_CODE(dd_experiment_find(st, pa, "baseline", &x, err), DD_OK, err);
    CHECK(x == e1);
    CHECK_CODE(dd_experiment_find(st, pb, "baseline", &x, err), DD_OK, err);
    CHECK(x == eb);
    CHECK_CODE(dd_experiment_find(st, pa, "nope", &x, err), DD_NOT_FOUND, err);

    CHECK_CODE(dd_experiment_create(st, pa, "tuned", &e2, err), DD_OK, err);
    CHECK_CODE(dd_experiment_create(st, pa, "ablation", &e3, err), DD_OK, err);
    id_rows rows = {0};
    CHECK_CODE(dd_experiment_list(st, pa, collect_experiment, &rows, err), DD_OK, err);
    CHECK(rows.count == 3);
    /* (the order of an experiment listing is not promised: compare as a set) */
    CHECK(rows.count == 3 && id_rows_has(&rows, e1, "baseline") && id_rows_has(&rows, e2, "tuned") &&
          id_rows_has(&rows, e3, "ablation"));
    memset(&rows, 0, sizeof rows);
    CHECK_CODE(dd_experiment_list(st, pb, collect_experiment, &rows, err), DD_OK, err);
    CHECK(rows.count == 1 && rows.ids[0] == eb);

    /* Rename within the project: taken name refused. */
    CHECK_CODE(dd_experiment_rename(st, e2, "baseline", err), DD_CONFLICT, err);
    CHECK_CODE(dd_experiment_get(st, e2, &e, err), DD_OK, err);
    CHECK_STR(e.name, "tuned");
    dd_experiment_clear(&e);
    CHECK_CODE(dd_experiment_rename(st, e2, "tuned-v2", err), DD_OK, err);
    /* A name taken only in another project is fine. */
    CHECK_CODE(dd_experiment_create(st, pb, "b-only", &x, err), DD_OK, err);
    CHECK_CODE(dd_experiment_rename(st, e3, "b-only", err), DD_OK, err);
    CHECK_CODE(dd_experiment_rename(st, e3, "ablation", err), DD_OK, err);
    CHECK_CODE(dd_experiment_find(st, pa, "tuned-v2", &x, err), DD_OK, err);
    CHECK(x == e2);
    CHECK_CODE(dd_experiment_rename(st, 999999, "x", err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_experiment_set_description(st, e2, "lr sweep", err), DD_OK, err);
    CHECK_CODE(dd_experiment_get(st, e2, &e, err), DD_OK, err);
    CHECK_STR(e.description, "lr sweep");
    dd_experiment_clear(&e);

    /* Status: STOPPED sets end_date, FINISHED keeps it, IN_PROGRESS clears it. */
    CHECK_CODE(dd_experiment_set_status(st, e1, DD_EXP_STOPPED, err), DD_OK, err);
    CHECK_CODE(dd_experiment_get(st, e1, &e, err), DD_OK, err);
    CHECK(e.status_id == DD_EXP_STOPPED);
    CHECK(is_canonical_ts(e.end_date));
    char ended[DD_TS_LEN];
    snprintf(ended, sizeof ended, "%s", e.end_date);
    dd_experiment_clear(&e);
    CHECK_CODE(dd_experiment_set_status(st, e1, DD_EXP_FINISHED, err), DD_OK, err);
    CHECK_CODE(dd_experiment_get(st, e1, &e, err), DD_OK, err);
    CHECK(e.status_id == DD_EXP_FINISHED);
    CHECK_STR(e.end_date, ended);
    dd_experiment_clear(&e);
    CHECK_CODE(dd_experiment_set_status(st, e1, DD_EXP_IN_PROGRESS, err), DD_OK, err);
    CHECK_CODE(dd_experiment_get(st, e1, &e, err), DD_OK, err);
    CHECK(e.status_id == DD_EXP_IN_PROGRESS);
    CHECK_STR(e.end_date, "");
    dd_experiment_clear(&e);
    CHECK_CODE(dd_experiment_set_status(st, e1, DD_EXP_FINISHED, err), DD_OK, err);
    CHECK_CODE(dd_experiment_get(st, e1, &e, err), DD_OK, err);
    CHECK(e.status_id == DD_EXP_FINISHED && is_canonical_ts(e.end_date));
    dd_experiment_clear(&e);

    /* Invalid status: refused, nothing changed. */
    CHECK_CODE(dd_experiment_set_status(st, e1, 9, err), DD_INVALID, err);
    CHECK_CODE(dd_experiment_set_status(st, e1, 0, err), DD_INVALID, err);
    CHECK_CODE(dd_experiment_set_status(st, e1, 4, err), DD_INVALID, err);
    CHECK_CODE(dd_experiment_get(st, e1, &e, err), DD_OK, err);
    CHECK(e.status_id == DD_EXP_FINISHED && e.end_date[0] != 0);
    dd_experiment_clear(&e);
    CHECK_CODE(dd_experiment_set_status(st, 999999, DD_EXP_STOPPED, err), DD_NOT_FOUND, err);

    /* Delete: an empty experiment goes without cascade. */
    CHECK_CODE(dd_experiment_delete(st, e3, false, err), DD_OK, err);
    CHECK_CODE(dd_experiment_get(st, e3, &e, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_experiment_delete(st, e3, true, err), DD_NOT_FOUND, err);
    /* One with an iteration needs the cascade. */
    int64_t it = 0;
    CHECK_CODE(dd_iteration_create(st, e2, 0, &it, err), DD_OK, err);
    CHECK_CODE(dd_experiment_delete(st, e2, false, err), DD_NOT_EMPTY, err);
    CHECK_CODE(dd_experiment_get(st, e2, &e, err), DD_OK, err);
    dd_experiment_clear(&e);
    dd_iteration itr = {0};
    CHECK_CODE(dd_iteration_get(st, it, &itr, err), DD_OK, err);
    dd_iteration_clear(&itr);
    CHECK_CODE(dd_experiment_delete(st, e2, true, err), DD_OK, err);
    CHECK_CODE(dd_experiment_get(st, e2, &e, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_iteration_get(st, it, &itr, err), DD_NOT_FOUND, err);
}

/* ---------------------------------------------------------------- iterations */

static void test_iterations(dd_store *st)
{
    dd_err err_buf = {0}, *err = &err_buf;
    int64_t proj = 0, ex = 0, ex2 = 0, ex3 = 0, x = 0;
    CHECK_CODE(dd_project_create(st, 0, "iter-proj", &proj, err), DD_OK, err);
    CHECK_CODE(dd_experiment_create(st, proj, "main", &ex, err), DD_OK, err);
    CHECK_CODE(dd_experiment_create(st, proj, "other", &ex2, err), DD_OK, err);
    CHECK_CODE(dd_experiment_create(st, proj, "stopped", &ex3, err), DD_OK, err);

    int64_t top = 0, c1 = 0, c2 = 0, foreign = 0;
    CHECK_CODE(dd_iteration_create(st, ex, 0, &top, err), DD_OK, err);
    dd_iteration it = {0};
    CHECK_CODE(dd_iteration_get(st, top, &it, err), DD_OK, err);
    CHECK(it.id == top && it.experiment_id == ex);
    CHECK(it.status_id == DD_ITER_RUNNING);
    CHECK(it.parent_iteration_id == 0);
    CHECK_STR(it.end_date, "");
    CHECK_STR(it.notes, "");
    CHECK_STR(it.error_message, "");
    CHECK_STR(it.git_sha, "");
    CHECK(!it.git_dirty);
    CHECK(is_canonical_ts(it.created_date));
    dd_iteration_clear(&it);

    CHECK_CODE(dd_iteration_create(st, ex, top, &c1, err), DD_OK, err);
    CHECK_CODE(dd_iteration_create(st, ex, top, &c2, err), DD_OK, err);
    CHECK_CODE(dd_iteration_get(st, c1, &it, err), DD_OK, err);
    CHECK(it.parent_iteration_id == top);
    dd_iteration_clear(&it);

    /* Parent in another experiment: invalid; unknown parent: not found; nothing created. */
    CHECK_CODE(dd_iteration_create(st, ex2, 0, &foreign, err), DD_OK, err);
    int n_before = count_iterations(st, ex);
    CHECK(n_before == 3);
    CHECK_CODE(dd_iteration_create(st, ex, foreign, &x, err), DD_INVALID, err);
    CHECK_CODE(dd_iteration_create(st, ex, 999999, &x, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_iteration_create(st, 999999, 0, &x, err), DD_NOT_FOUND, err);
    CHECK(count_iterations(st, ex) == n_before);
    CHECK(count_iterations(st, ex2) == 1);

    /* Listings. */
    iter_rows *ir = calloc(1, sizeof *ir);
    CHECK_CODE(dd_iteration_list_children(st, top, collect_iteration, ir, err), DD_OK, err);
    CHECK(ir->count == 2);
    CHECK(ir->count == 2 && ir->rows[0].id == c1 && ir->rows[1].id == c2);
    CHECK(ir->count == 2 && ir->rows[0].parent_iteration_id == top);
    memset(ir, 0, sizeof *ir);
    CHECK_CODE(dd_iteration_list_children(st, c1, collect_iteration, ir, err), DD_OK, err);
    CHECK(ir->count == 0);
    memset(ir, 0, sizeof *ir);
    CHECK_CODE(dd_iteration_list(st, ex, collect_iteration, ir, err), DD_OK, err);
    CHECK(ir->count == 3);
    CHECK(ir->count == 3 && ir->rows[0].id == top && ir->rows[1].id == c1 &&
          ir->rows[2].id == c2);

    /* A STOPPED (or FINISHED) experiment refuses new iterations; reopening accepts again. */
    CHECK_CODE(dd_experiment_set_status(st, ex3, DD_EXP_STOPPED, err), DD_OK, err);
    CHECK_CODE(dd_iteration_create(st, ex3, 0, &x, err), DD_INVALID, err);
    CHECK_CODE(dd_experiment_set_status(st, ex3, DD_EXP_FINISHED, err), DD_OK, err);
    CHECK_CODE(dd_iteration_create(st, ex3, 0, &x, err), DD_INVALID, err);
    CHECK(count_iterations(st, ex3) == 0);
    CHECK_CODE(dd_experiment_set_status(st, ex3, DD_EXP_IN_PROGRESS, err), DD_OK, err);
    CHECK_CODE(dd_iteration_create(st, ex3, 0, &x, err), DD_OK, err);
    CHECK(count_iterations(st, ex3) == 1);

    /* Notes, error message, RUNNING no-op, invalid status. */
    CHECK_CODE(dd_iteration_set_notes(st, top, "first try", err), DD_OK, err);
    CHECK_CODE(dd_iteration_set_error_message(st, top, "warn: none", err), DD_OK, err);
    CHECK_CODE(dd_iteration_set_status(st, top, DD_ITER_RUNNING, NULL, err), DD_OK, err);
    CHECK_CODE(dd_iteration_set_status(st, top, 0, NULL, err), DD_INVALID, err);
    CHECK_CODE(dd_iteration_set_status(st, top, 5, "x", err), DD_INVALID, err);
    CHECK_CODE(dd_iteration_set_status(st, 999999, DD_ITER_SUCCEEDED, NULL, err), DD_NOT_FOUND,
               err);
    CHECK_CODE(dd_iteration_set_notes(st, 999999, "x", err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_iteration_get(st, top, &it, err), DD_OK, err);
    CHECK_STR(it.notes, "first try");
    CHECK_STR(it.error_message, "warn: none");
    CHECK(it.status_id == DD_ITER_RUNNING);
    CHECK_STR(it.end_date, "");
    dd_iteration_clear(&it);

    /* Terminal statuses end the iteration; error_message in the same call. */
    static const int terminal[] = {DD_ITER_SUCCEEDED, DD_ITER_FAILED, DD_ITER_KILLED};
    for (size_t i = 0; i < 3; i++) {
        int64_t t = 0;
        CHECK_CODE(dd_iteration_create(st, ex2, 0, &t, err), DD_OK, err);
        const char *msg = terminal[i] == DD_ITER_SUCCEEDED ? NULL : "boom: exit 1";
        CHECK_CODE(dd_iteration_set_status(st, t, terminal[i], msg, err), DD_OK, err);
        CHECK_CODE(dd_iteration_get(st, t, &it, err), DD_OK, err);
        CHECK(it.status_id == terminal[i]);
        CHECK(is_canonical_ts(it.end_date));
        CHECK(strcmp(it.end_date, it.created_date) >= 0);
        CHECK_STR(it.error_message, msg ? msg : "");
        dd_iteration_clear(&it);
    }

    /* The lock: give an iteration some data, end it, then every write is refused. */
    int64_t lk = 0;
    CHECK_CODE(dd_iteration_create(st, ex, 0, &lk, err), DD_OK, err);
    CHECK_CODE(dd_iteration_set_notes(st, lk, "before", err), DD_OK, err);
    CHECK_CODE(dd_param_set(st, lk, "lr", "0.1", err), DD_OK, err);
    dd_metric_point p0 = pt(0.5);
    CHECK_CODE(dd_metric_append(st, lk, "loss", &p0, 1, err), DD_OK, err);
    CHECK_CODE(dd_tag_attach(st, DD_TAG_ITERATION, lk, "locked-tag", NULL, err), DD_OK, err);
    CHECK_CODE(dd_iteration_file_set(st, lk, "requirements.txt", "numpy\n", 6, err), DD_OK, err);
    dd_snapshot snap = {.julia_version = "1.10.4", .git_sha = "abc123", .git_dirty = true,
                        .entrypoint = "train.jl", .project_toml = "[deps]\n",
                        .manifest_toml = "# manifest\n"};
    CHECK_CODE(dd_iteration_set_snapshot(st, lk, &snap, err), DD_OK, err);
    CHECK_CODE(dd_iteration_set_status(st, lk, DD_ITER_FAILED, "oom", err), DD_OK, err);
    dd_iteration ended = {0};
    CHECK_CODE(dd_iteration_get(st, lk, &ended, err), DD_OK, err);

    dd_metric_point p1 = pt(0.4);
    dd_snapshot snap2 = {.julia_version = "9.9", .git_sha = "fff"};
    const char *k1 = "new", *v1 = "1";
    CHECK_CODE(dd_iteration_set_notes(st, lk, "after", err), DD_READ_ONLY, err);
    CHECK_CODE(dd_iteration_set_error_message(st, lk, "changed", err), DD_READ_ONLY, err);
    CHECK_CODE(dd_iteration_set_status(st, lk, DD_ITER_RUNNING, NULL, err), DD_READ_ONLY, err);
    CHECK_CODE(dd_iteration_set_status(st, lk, DD_ITER_SUCCEEDED, "fine", err), DD_READ_ONLY,
               err);
    CHECK_CODE(dd_param_set(st, lk, "lr", "0.2", err), DD_READ_ONLY, err);
    CHECK_CODE(dd_param_set(st, lk, "momentum", "0.9", err), DD_READ_ONLY, err);
    CHECK_CODE(dd_param_set_many(st, lk, &k1, &v1, 1, err), DD_READ_ONLY, err);
    CHECK_CODE(dd_param_delete(st, lk, "lr", err), DD_READ_ONLY, err);
    CHECK_CODE(dd_param_rename(st, lk, "lr", "learning_rate", err), DD_READ_ONLY, err);
    CHECK_CODE(dd_metric_append(st, lk, "loss", &p1, 1, err), DD_READ_ONLY, err);
    CHECK_CODE(dd_metric_append(st, lk, "acc", &p1, 1, err), DD_READ_ONLY, err);
    CHECK_CODE(dd_metric_delete(st, lk, "loss", err), DD_READ_ONLY, err);
    CHECK_CODE(dd_tag_attach(st, DD_TAG_ITERATION, lk, "late-tag", NULL, err), DD_READ_ONLY, err);
    CHECK_CODE(dd_tag_detach(st, DD_TAG_ITERATION, lk, "locked-tag", err), DD_READ_ONLY, err);
    CHECK_CODE(dd_iteration_file_set(st, lk, "requirements.txt", "torch\n", 6, err),
               DD_READ_ONLY, err);
    CHECK_CODE(dd_iteration_file_set(st, lk, "poetry.lock", "x", 1, err), DD_READ_ONLY, err);
    CHECK_CODE(dd_iteration_set_snapshot(st, lk, &snap2, err), DD_READ_ONLY, err);

    /* ... and nothing changed. */
    CHECK_CODE(dd_iteration_get(st, lk, &it, err), DD_OK, err);
    CHECK_STR(it.notes, "before");
    CHECK_STR(it.error_message, "oom");
    CHECK(it.status_id == DD_ITER_FAILED);
    CHECK_STR(it.end_date, ended.end_date);
    CHECK_STR(it.julia_version, "1.10.4");
    CHECK_STR(it.git_sha, "abc123");
    CHECK(it.git_dirty);
    CHECK_STR(it.manifest_toml, "# manifest\n");
    dd_iteration_clear(&it);
    dd_iteration_clear(&ended);
    char *val = NULL;
    CHECK_CODE(dd_param_get(st, lk, "lr", &val, err), DD_OK, err);
    CHECK_STR(val, "0.1");
    free(val);
    val = NULL;
    CHECK_CODE(dd_param_get(st, lk, "momentum", &val, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_param_get(st, lk, "new", &val, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_param_get(st, lk, "learning_rate", &val, err), DD_NOT_FOUND, err);
    /* An ended iteration can still be a parent (only the experiment must be open). */
    int64_t child_of_ended = 0;
    CHECK_CODE(dd_iteration_create(st, ex, lk, &child_of_ended, err), DD_OK, err);
    CHECK_CODE(dd_iteration_get(st, child_of_ended, &it, err), DD_OK, err);
    CHECK(it.parent_iteration_id == lk && it.status_id == DD_ITER_RUNNING);
    dd_iteration_clear(&it);
    dd_metric_series ms;
    char tsb[DD_TS_LEN];
    CHECK_CODE(dd_metric_series_get(st, lk, "loss", &ms, tsb, err), DD_OK, err);
    CHECK(ms.point_count == 1 && ms.value == 0.5);
    CHECK_CODE(dd_metric_series_get(st, lk, "acc", &ms, tsb, err), DD_NOT_FOUND, err);
    CHECK(count_points(st, lk, "loss") == 1);
    id_rows tags = {0};
    CHECK_CODE(dd_tag_list(st, DD_TAG_ITERATION, lk, collect_tag, &tags, err), DD_OK, err);
    CHECK(tags.count == 1 && strcmp(tags.names[0], "locked-tag") == 0);
    void *data = NULL;
    size_t len = 0;
    CHECK_CODE(dd_iteration_file_get(st, lk, "requirements.txt", &data, &len, err), DD_OK, err);
    CHECK(len == 6 && data && memcmp(data, "numpy\n", 6) == 0);
    free(data);
    data = NULL;
    CHECK_CODE(dd_iteration_file_get(st, lk, "poetry.lock", &data, &len, err), DD_NOT_FOUND, err);

    /* Deleting a parent keeps its children, now top-level. */
    CHECK_CODE(dd_iteration_delete(st, top, true, err), DD_OK, err);
    CHECK_CODE(dd_iteration_get(st, top, &it, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_iteration_get(st, c1, &it, err), DD_OK, err);
    CHECK(it.parent_iteration_id == 0);
    CHECK(it.experiment_id == ex);
    dd_iteration_clear(&it);
    CHECK_CODE(dd_iteration_get(st, c2, &it, err), DD_OK, err);
    CHECK(it.parent_iteration_id == 0);
    dd_iteration_clear(&it);
    memset(ir, 0, sizeof *ir);
    CHECK_CODE(dd_iteration_list_children(st, top, collect_iteration, ir, err), DD_OK, err);
    CHECK(ir->count == 0);
    CHECK(count_iterations(st, ex) == 4);   /* c1, c2, lk, child_of_ended */

    /* Deleting an ended iteration is allowed and takes its data with it. */
    CHECK_CODE(dd_iteration_delete(st, lk, true, err), DD_OK, err);
    CHECK_CODE(dd_iteration_get(st, lk, &it, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_param_get(st, lk, "lr", &val, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_metric_series_get(st, lk, "loss", &ms, tsb, err), DD_NOT_FOUND, err);
    CHECK(count_points(st, lk, "loss") == 0);
    CHECK_CODE(dd_iteration_file_get(st, lk, "requirements.txt", &data, &len, err), DD_NOT_FOUND,
               err);
    memset(&tags, 0, sizeof tags);
    CHECK_CODE(dd_tag_list(st, DD_TAG_ITERATION, lk, collect_tag, &tags, err), DD_OK, err);
    CHECK(tags.count == 0);
    CHECK_CODE(dd_iteration_delete(st, lk, true, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_iteration_delete(st, 999999, true, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_iteration_get(st, child_of_ended, &it, err), DD_OK, err);
    CHECK(it.parent_iteration_id == 0);
    dd_iteration_clear(&it);
    free(ir);
}

/* ---------------------------------------------------------------- parameters */

static void test_params(dd_store *st)
{
    dd_err err_buf = {0}, *err = &err_buf;
    int64_t proj = 0, ex = 0, it = 0, it2 = 0;
    CHECK_CODE(dd_project_create(st, 0, "param-proj", &proj, err), DD_OK, err);
    CHECK_CODE(dd_experiment_create(st, proj, "e", &ex, err), DD_OK, err);
    CHECK_CODE(dd_iteration_create(st, ex, 0, &it, err), DD_OK, err);
    CHECK_CODE(dd_iteration_create(st, ex, 0, &it2, err), DD_OK, err);

    char *v = NULL;
    CHECK_CODE(dd_param_set(st, it, "lr", "0.01", err), DD_OK, err);
    CHECK_CODE(dd_param_get(st, it, "lr", &v, err), DD_OK, err);
    CHECK_STR(v, "0.01");
    free(v);
    v = NULL;
    int64_t lr_id = 0, lr_id2 = 0;
    CHECK_CODE(dd_param_find(st, it, "lr", &lr_id, err), DD_OK, err);
    CHECK(lr_id > 0);

    /* Replace keeps one row (and its identity). */
    CHECK_CODE(dd_param_set(st, it, "lr", "0.02", err), DD_OK, err);
    CHECK_CODE(dd_param_get(st, it, "lr", &v, err), DD_OK, err);
    CHECK_STR(v, "0.02");
    free(v);
    v = NULL;
    CHECK_CODE(dd_param_find(st, it, "lr", &lr_id2, err), DD_OK, err);
    CHECK(lr_id2 == lr_id);
    int64_t owner = 0;
    char *k = NULL;
    CHECK_CODE(dd_param_get_by_id(st, lr_id, &owner, &k, &v, NULL, err), DD_OK, err);
    CHECK(owner == it);
    CHECK_STR(k, "lr");
    CHECK_STR(v, "0.02");
    free(k);
    free(v);
    k = v = NULL;
    CHECK_CODE(dd_param_get_by_id(st, lr_id, NULL, NULL, NULL, NULL, err), DD_OK, err);
    CHECK_CODE(dd_param_get_by_id(st, 999999, &owner, &k, &v, NULL, err), DD_NOT_FOUND, err);

    /* Key order in the listing, not insertion order. */
    CHECK_CODE(dd_param_set(st, it, "zeta", "z", err), DD_OK, err);
    CHECK_CODE(dd_param_set(st, it, "batch_size", "32", err), DD_OK, err);
    CHECK_CODE(dd_param_set(st, it, "alpha", "a b c", err), DD_OK, err);
    kv_rows kv = {0};
    CHECK_CODE(dd_param_list(st, it, collect_param, &kv, err), DD_OK, err);
    CHECK(kv.count == 4);
    CHECK(kv.count == 4 && strcmp(kv.keys[0], "alpha") == 0 &&
          strcmp(kv.keys[1], "batch_size") == 0 && strcmp(kv.keys[2], "lr") == 0 &&
          strcmp(kv.keys[3], "zeta") == 0);
    CHECK(kv.count == 4 && strcmp(kv.values[0], "a b c") == 0 &&
          strcmp(kv.values[2], "0.02") == 0);
    /* Per iteration. */
    memset(&kv, 0, sizeof kv);
    CHECK_CODE(dd_param_list(st, it2, collect_param, &kv, err), DD_OK, err);
    CHECK(kv.count == 0);
    CHECK_CODE(dd_param_get(st, it2, "lr", &v, err), DD_NOT_FOUND, err);

    /* Refusals. */
    char long_key[300];
    memset(long_key, 'k', 256);
    long_key[256] = 0;
    CHECK_CODE(dd_param_set(st, it, "empty", "", err), DD_INVALID, err);
    CHECK_CODE(dd_param_set(st, it, "null", NULL, err), DD_INVALID, err);
    CHECK_CODE(dd_param_set(st, it, "lr", "", err), DD_INVALID, err);
    CHECK_CODE(dd_param_set(st, it, "", "1", err), DD_INVALID, err);
    CHECK_CODE(dd_param_set(st, it, "a/b", "1", err), DD_INVALID, err);
    CHECK_CODE(dd_param_set(st, it, long_key, "1", err), DD_TOO_LONG, err);
    CHECK_CODE(dd_param_set(st, 999999, "lr", "1", err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_param_get(st, it, "lr", &v, err), DD_OK, err);
    CHECK_STR(v, "0.02");   /* the refused empty value did not clear it */
    free(v);
    v = NULL;
    CHECK_CODE(dd_param_get(st, it, "empty", &v, err), DD_NOT_FOUND, err);

    /* set_many: all or none. */
    const char *bad_keys[] = {"k1", "k2", "bad/key"};
    const char *bad_vals[] = {"1", "2", "3"};
    CHECK_CODE(dd_param_set_many(st, it2, bad_keys, bad_vals, 3, err), DD_INVALID, err);
    const char *keys2[] = {"m1", "m2", "m3"};
    const char *vals2[] = {"1", "2", ""};
    CHECK_CODE(dd_param_set_many(st, it2, keys2, vals2, 3, err), DD_INVALID, err);
    memset(&kv, 0, sizeof kv);
    CHECK_CODE(dd_param_list(st, it2, collect_param, &kv, err), DD_OK, err);
    CHECK(kv.count == 0);
    const char *good_vals[] = {"1", "2", "3"};
    CHECK_CODE(dd_param_set_many(st, it2, keys2, good_vals, 3, err), DD_OK, err);
    memset(&kv, 0, sizeof kv);
    CHECK_CODE(dd_param_list(st, it2, collect_param, &kv, err), DD_OK, err);
    CHECK(kv.count == 3);
    CHECK(kv.count == 3 && strcmp(kv.keys[2], "m3") == 0 && strcmp(kv.values[2], "3") == 0);
    /* A batch that replaces some keys and fails on a later one keeps the old values. */
    const char *keys3[] = {"m1", "m9"};
    const char *vals3[] = {"100", ""};
    CHECK_CODE(dd_param_set_many(st, it2, keys3, vals3, 2, err), DD_INVALID, err);
    CHECK_CODE(dd_param_get(st, it2, "m1", &v, err), DD_OK, err);
    CHECK_STR(v, "1");
    free(v);
    v = NULL;

    /* Rename: replaces an existing target. */
    CHECK_CODE(dd_param_rename(st, it2, "m1", "m2", err), DD_OK, err);
    CHECK_CODE(dd_param_get(st, it2, "m2", &v, err), DD_OK, err);
    CHECK_STR(v, "1");
    free(v);
    v = NULL;
    CHECK_CODE(dd_param_get(st, it2, "m1", &v, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_param_rename(st, it2, "nope", "m5", err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_param_rename(st, it2, "m3", "x/y", err), DD_INVALID, err);

    /* Delete. */
    CHECK_CODE(dd_param_delete(st, it, "lr", err), DD_OK, err);
    CHECK_CODE(dd_param_get(st, it, "lr", &v, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_param_find(st, it, "lr", &lr_id2, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_param_get_by_id(st, lr_id, &owner, NULL, NULL, NULL, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_param_delete(st, it, "lr", err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_param_delete(st, 999999, "lr", err), DD_NOT_FOUND, err);
    memset(&kv, 0, sizeof kv);
    CHECK_CODE(dd_param_list(st, it, collect_param, &kv, err), DD_OK, err);
    CHECK(kv.count == 3);
}

/* ---------------------------------------------------------------- metrics */

static void test_metrics(dd_store *st)
{
    dd_err err_buf = {0}, *err = &err_buf;
    int64_t proj = 0, ex = 0, it = 0;
    CHECK_CODE(dd_project_create(st, 0, "metric-proj", &proj, err), DD_OK, err);
    CHECK_CODE(dd_experiment_create(st, proj, "e", &ex, err), DD_OK, err);
    CHECK_CODE(dd_iteration_create(st, ex, 0, &it, err), DD_OK, err);
    metric_rows *mr = calloc(1, sizeof *mr);
    dd_metric_series ms;
    char tsb[DD_TS_LEN];

    /* Default steps: 0, 1, 2 per key, each key counting on its own. */
    char before[DD_TS_LEN], after[DD_TS_LEN];
    dd_now(before);
    for (int i = 0; i < 3; i++) {
        dd_metric_point p = pt(1.0 - 0.25 * i);
        CHECK_CODE(dd_metric_append(st, it, "loss", &p, 1, err), DD_OK, err);
    }
    dd_metric_point pa = pt(0.5);
    CHECK_CODE(dd_metric_append(st, it, "acc", &pa, 1, err), DD_OK, err);
    dd_now(after);
    CHECK_CODE(dd_metric_read(st, it, "loss", false, 0, 0, collect_metric, mr, err), DD_OK, err);
    CHECK(mr->count == 3);
    CHECK(mr->count == 3 && mr->steps[0] == 0 && mr->steps[1] == 1 && mr->steps[2] == 2);
    CHECK(mr->count == 3 && mr->values[0] == 1.0 && mr->values[2] == 0.5);
    /* recorded_at defaults to now. */
    CHECK(is_canonical_ts(mr->ts[0]));
    CHECK(strcmp(mr->ts[0], before) >= 0 && strcmp(mr->ts[0], after) <= 0);
    memset(mr, 0, sizeof *mr);
    CHECK_CODE(dd_metric_read(st, it, "acc", false, 0, 0, collect_metric, mr, err), DD_OK, err);
    CHECK(mr->count == 1 && mr->steps[0] == 0);

    /* After explicit steps 0 and 5 the next default is 6. */
    dd_metric_point s0 = pt_step(1, 0), s5 = pt_step(2, 5), sd = pt(3);
    CHECK_CODE(dd_metric_append(st, it, "gap", &s0, 1, err), DD_OK, err);
    CHECK_CODE(dd_metric_append(st, it, "gap", &s5, 1, err), DD_OK, err);
    CHECK_CODE(dd_metric_append(st, it, "gap", &sd, 1, err), DD_OK, err);
    memset(mr, 0, sizeof *mr);
    CHECK_CODE(dd_metric_read(st, it, "gap", false, 0, 0, collect_metric, mr, err), DD_OK, err);
    CHECK(mr->count == 3 && mr->steps[2] == 6 && mr->values[2] == 3);
    /* An explicit step lower than the max does not lower the next default. */
    dd_metric_point s1 = pt_step(4, 1), sd2 = pt(5);
    CHECK_CODE(dd_metric_append(st, it, "gap", &s1, 1, err), DD_OK, err);
    CHECK_CODE(dd_metric_append(st, it, "gap", &sd2, 1, err), DD_OK, err);
    CHECK_CODE(dd_metric_series_get(st, it, "gap", &ms, tsb, err), DD_OK, err);
    CHECK(ms.max_step == 7 && ms.step == 7 && ms.value == 5 && ms.point_count == 5);

    /* A batch without steps keeps counting within the batch; mixed batches too. */
    dd_metric_point batch[3] = {pt(10), pt(11), pt(12)};
    CHECK_CODE(dd_metric_append(st, it, "acc", batch, 3, err), DD_OK, err);
    memset(mr, 0, sizeof *mr);
    CHECK_CODE(dd_metric_read(st, it, "acc", false, 0, 0, collect_metric, mr, err), DD_OK, err);
    CHECK(mr->count == 4);
    CHECK(mr->count == 4 && mr->steps[1] == 1 && mr->steps[2] == 2 && mr->steps[3] == 3);
    CHECK(mr->count == 4 && mr->values[1] == 10 && mr->values[3] == 12);
    dd_metric_point mixed[3] = {pt(1), pt_step(2, 10), pt(3)};
    CHECK_CODE(dd_metric_append(st, it, "mix", mixed, 3, err), DD_OK, err);
    memset(mr, 0, sizeof *mr);
    CHECK_CODE(dd_metric_read(st, it, "mix", false, 0, 0, collect_metric, mr, err), DD_OK, err);
    CHECK(mr->count == 3 && mr->steps[0] == 0 && mr->steps[1] == 10 && mr->steps[2] == 11);

    /* Explicit recorded_at is normalised; one batch without one shares a single now. */
    dd_metric_point tp = pt_step(0.1, 0);
    /* (recorded_at holds 24 characters: an offset form with a colon does not fit) */
    snprintf(tp.recorded_at, DD_TS_LEN, "%s", "2026-11-23 12:00:00.5");
    dd_metric_point tq = pt_step(0.2, 1);
    snprintf(tq.recorded_at, DD_TS_LEN, "%s", "1700000000.5");
    dd_metric_point tz[2] = {tp, tq};
    CHECK_CODE(dd_metric_append(st, it, "timed", tz, 2, err), DD_OK, err);
    memset(mr, 0, sizeof *mr);
    CHECK_CODE(dd_metric_read(st, it, "timed", false, 0, 0, collect_metric, mr, err), DD_OK, err);
    CHECK(mr->count == 2);
    CHECK_STR(mr->ts[0], "2026-11-23T12:00:00.500Z");
    CHECK_STR(mr->ts[1], "2023-11-14T22:13:20.500Z");
    CHECK_CODE(dd_metric_series_get(st, it, "timed", &ms, tsb, err), DD_OK, err);
    CHECK_STR(ms.recorded_at, "2023-11-14T22:13:20.500Z");   /* of the greatest step */
    dd_metric_point bad_ts[2] = {pt(1), pt(2)};
    snprintf(bad_ts[1].recorded_at, DD_TS_LEN, "%s", "yesterday");
    CHECK_CODE(dd_metric_append(st, it, "timed", bad_ts, 2, err), DD_INVALID, err);
    CHECK(count_points(st, it, "timed") == 2);

    /* NaN and infinities: the whole batch is refused. */
    dd_metric_point nanb[3] = {pt(1), pt(NAN), pt(2)};
    CHECK_CODE(dd_metric_append(st, it, "loss", nanb, 3, err), DD_INVALID, err);
    dd_metric_point infb[2] = {pt(1), pt(INFINITY)};
    CHECK_CODE(dd_metric_append(st, it, "loss", infb, 2, err), DD_INVALID, err);
    dd_metric_point ninfb[1] = {pt(-INFINITY)};
    CHECK_CODE(dd_metric_append(st, it, "loss", ninfb, 1, err), DD_INVALID, err);
    CHECK_CODE(dd_metric_append(st, it, "fresh", nanb, 3, err), DD_INVALID, err);
    CHECK(count_points(st, it, "loss") == 3);
    CHECK_CODE(dd_metric_series_get(st, it, "loss", &ms, tsb, err), DD_OK, err);
    CHECK(ms.point_count == 3 && ms.max_step == 2 && ms.value == 0.5);
    CHECK_CODE(dd_metric_series_get(st, it, "fresh", &ms, tsb, err), DD_NOT_FOUND, err);
    CHECK(count_points(st, it, "fresh") == 0);
    /* The next default step is unaffected by the refused batches. */
    dd_metric_point nx = pt(0.25);
    CHECK_CODE(dd_metric_append(st, it, "loss", &nx, 1, err), DD_OK, err);
    CHECK_CODE(dd_metric_series_get(st, it, "loss", &ms, tsb, err), DD_OK, err);
    CHECK(ms.step == 3 && ms.point_count == 4);

    /* Bad key, unknown iteration. */
    CHECK_CODE(dd_metric_append(st, it, "a/b", &nx, 1, err), DD_INVALID, err);
    CHECK_CODE(dd_metric_append(st, it, "", &nx, 1, err), DD_INVALID, err);
    CHECK_CODE(dd_metric_append(st, 999999, "loss", &nx, 1, err), DD_NOT_FOUND, err);

    /* Step order on read: inserted 2, 0, 1. */
    dd_metric_point ord[3] = {pt_step(20, 2), pt_step(0, 0), pt_step(10, 1)};
    CHECK_CODE(dd_metric_append(st, it, "ord", ord, 3, err), DD_OK, err);
    memset(mr, 0, sizeof *mr);
    CHECK_CODE(dd_metric_read(st, it, "ord", false, 0, 0, collect_metric, mr, err), DD_OK, err);
    CHECK(mr->count == 3);
    CHECK(mr->count == 3 && mr->steps[0] == 0 && mr->steps[1] == 1 && mr->steps[2] == 2);
    CHECK(mr->count == 3 && mr->values[0] == 0 && mr->values[1] == 10 && mr->values[2] == 20);
    /* Latest is the greatest step, not the last written. */
    CHECK_CODE(dd_metric_series_get(st, it, "ord", &ms, tsb, err), DD_OK, err);
    CHECK(ms.value == 20 && ms.step == 2 && ms.max_step == 2 && ms.point_count == 3);
    CHECK_STR(ms.key, "ord");
    CHECK(ms.iteration_id == it);
    CHECK(ms.text_bytes == mr->text_bytes);

    /* Resume after (step, id). */
    int64_t id0 = mr->ids[0], id1 = mr->ids[1];
    memset(mr, 0, sizeof *mr);
    CHECK_CODE(dd_metric_read(st, it, "ord", true, 0, id0, collect_metric, mr, err), DD_OK, err);
    CHECK(mr->count == 2 && mr->steps[0] == 1 && mr->steps[1] == 2);
    memset(mr, 0, sizeof *mr);
    CHECK_CODE(dd_metric_read(st, it, "ord", true, 1, id1, collect_metric, mr, err), DD_OK, err);
    CHECK(mr->count == 1 && mr->steps[0] == 2);
    memset(mr, 0, sizeof *mr);
    CHECK_CODE(dd_metric_read(st, it, "ord", true, 2, INT64_MAX, collect_metric, mr, err), DD_OK,
               err);
    CHECK(mr->count == 0);

    /* Ties on the greatest step: the last written wins; resume walks ties by id. */
    dd_metric_point ties[3] = {pt_step(1, 3), pt_step(2, 3), pt_step(3, 3)};
    CHECK_CODE(dd_metric_append(st, it, "ties", ties, 2, err), DD_OK, err);
    CHECK_CODE(dd_metric_append(st, it, "ties", ties + 2, 1, err), DD_OK, err);
    CHECK_CODE(dd_metric_series_get(st, it, "ties", &ms, tsb, err), DD_OK, err);
    CHECK(ms.value == 3 && ms.step == 3 && ms.point_count == 3 && ms.max_step == 3);
    memset(mr, 0, sizeof *mr);
    CHECK_CODE(dd_metric_read(st, it, "ties", false, 0, 0, collect_metric, mr, err), DD_OK, err);
    CHECK(mr->count == 3 && mr->values[0] == 1 && mr->values[1] == 2 && mr->values[2] == 3);
    CHECK(mr->count == 3 && mr->ids[0] < mr->ids[1] && mr->ids[1] < mr->ids[2]);
    int64_t tie_first = mr->ids[0];
    memset(mr, 0, sizeof *mr);
    CHECK_CODE(dd_metric_read(st, it, "ties", true, 3, tie_first, collect_metric, mr, err), DD_OK,
               err);
    CHECK(mr->count == 2 && mr->values[0] == 2 && mr->values[1] == 3);
    /* A later point at a lower step does not become the latest. */
    dd_metric_point low = pt_step(99, 1);
    CHECK_CODE(dd_metric_append(st, it, "ties", &low, 1, err), DD_OK, err);
    CHECK_CODE(dd_metric_series_get(st, it, "ties", &ms, tsb, err), DD_OK, err);
    CHECK(ms.value == 3 && ms.step == 3 && ms.point_count == 4);
    memset(mr, 0, sizeof *mr);
    CHECK_CODE(dd_metric_read(st, it, "ties", false, 0, 0, collect_metric, mr, err), DD_OK, err);
    CHECK(ms.text_bytes == mr->text_bytes);

    /* Series list: key order, the summary of each. */
    series_rows *sr = calloc(1, sizeof *sr);
    CHECK_CODE(dd_metric_series_list(st, it, collect_series, sr, err), DD_OK, err);
    static const char *const keys[] = {"acc", "gap", "loss", "mix", "ord", "ties", "timed"};
    CHECK(sr->count == 7);
    for (int i = 0; i < 7 && i < sr->count; i++)
        CHECK_STR(sr->keys[i], keys[i]);
    for (int i = 1; i < sr->count && i < MAXROWS; i++)
        CHECK(sr->ids[i] != sr->ids[i - 1]);
    CHECK(sr->count == 7 && sr->values[0] == 12 && sr->max_steps[0] == 3 && sr->counts[0] == 4);
    CHECK(sr->count == 7 && sr->values[4] == 20 && sr->counts[4] == 3);
    int64_t ord_id = sr->count == 7 ? sr->ids[4] : 0;
    char *skey = NULL;
    CHECK_CODE(dd_metric_series_by_id(st, ord_id, &ms, &skey, tsb, err), DD_OK, err);
    CHECK_STR(skey, "ord");
    CHECK(ms.value == 20 && ms.point_count == 3 && ms.iteration_id == it && ms.id == ord_id);
    free(skey);
    skey = NULL;
    CHECK_CODE(dd_metric_series_by_id(st, 999999, &ms, &skey, tsb, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_metric_series_get(st, it, "nope", &ms, tsb, err), DD_NOT_FOUND, err);

    /* Delete a series; its id is not reused; a new series restarts at step 0. */
    CHECK_CODE(dd_metric_delete(st, it, "ord", err), DD_OK, err);
    CHECK_CODE(dd_metric_series_get(st, it, "ord", &ms, tsb, err), DD_NOT_FOUND, err);
    CHECK(count_points(st, it, "ord") == 0);
    CHECK_CODE(dd_metric_series_by_id(st, ord_id, &ms, &skey, tsb, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_metric_delete(st, it, "ord", err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_metric_delete(st, 999999, "loss", err), DD_NOT_FOUND, err);
    dd_metric_point again = pt(7);
    CHECK_CODE(dd_metric_append(st, it, "ord", &again, 1, err), DD_OK, err);
    CHECK_CODE(dd_metric_series_get(st, it, "ord", &ms, tsb, err), DD_OK, err);
    CHECK(ms.step == 0 && ms.point_count == 1 && ms.value == 7);
    CHECK(ms.id != ord_id);
    /* The other series are untouched. */
    CHECK(count_points(st, it, "loss") == 4);
    memset(sr, 0, sizeof *sr);
    CHECK_CODE(dd_metric_series_list(st, it, collect_series, sr, err), DD_OK, err);
    CHECK(sr->count == 7);

    free(sr);
    free(mr);
}

/* ---------------------------------------------------------------- env files & snapshot */

static void test_env(dd_store *st)
{
    dd_err err_buf = {0}, *err = &err_buf;
    int64_t proj = 0, ex = 0, it = 0, it2 = 0;
    CHECK_CODE(dd_project_create(st, 0, "env-proj", &proj, err), DD_OK, err);
    CHECK_CODE(dd_experiment_create(st, proj, "e", &ex, err), DD_OK, err);
    CHECK_CODE(dd_iteration_create(st, ex, 0, &it, err), DD_OK, err);
    CHECK_CODE(dd_iteration_create(st, ex, 0, &it2, err), DD_OK, err);

    /* Files: set, get, replace, binary, empty, listing, lookups. */
    const char req[] = "numpy==1.26\n";
    CHECK_CODE(dd_iteration_file_set(st, it, "requirements.txt", req, strlen(req), err), DD_OK,
               err);
    void *data = NULL;
    size_t len = 0;
    CHECK_CODE(dd_iteration_file_get(st, it, "requirements.txt", &data, &len, err), DD_OK, err);
    CHECK(len == strlen(req) && data && memcmp(data, req, len) == 0);
    free(data);
    data = NULL;
    int64_t fid = 0, fid2 = 0;
    size_t flen = 0;
    CHECK_CODE(dd_iteration_file_find(st, it, "requirements.txt", &fid, &flen, err), DD_OK, err);
    CHECK(fid > 0 && flen == strlen(req));

    const char req2[] = "numpy==2.0\nscipy\n";
    /* a later millisecond: replacing the file must move env/'s time through its trigger
     * (an upsert firing an INSERT OR REPLACE trigger failed then with a UNIQUE error) */
    usleep(3000);
    CHECK_CODE(dd_iteration_file_set(st, it, "requirements.txt", req2, strlen(req2), err), DD_OK,
               err);
    CHECK_CODE(dd_iteration_file_get(st, it, "requirements.txt", &data, &len, err), DD_OK, err);
    CHECK(len == strlen(req2) && data && memcmp(data, req2, len) == 0);
    free(data);
    data = NULL;
    CHECK_CODE(dd_iteration_file_find(st, it, "requirements.txt", &fid2, &flen, err), DD_OK, err);
    CHECK(fid2 == fid && flen == strlen(req2));
    int64_t owner = 0;
    char *fname = NULL;
    CHECK_CODE(dd_iteration_file_by_id(st, fid, &owner, &fname, &flen, err), DD_OK, err);
    CHECK(owner == it && flen == strlen(req2));
    CHECK_STR(fname, "requirements.txt");
    free(fname);
    fname = NULL;
    CHECK_CODE(dd_iteration_file_by_id(st, 999999, &owner, &fname, &flen, err), DD_NOT_FOUND, err);

    const unsigned char bin[] = {0, 1, 2, 0xff, 0, 'x', 0};
    CHECK_CODE(dd_iteration_file_set(st, it, "poetry.lock", bin, sizeof bin, err), DD_OK, err);
    CHECK_CODE(dd_iteration_file_get(st, it, "poetry.lock", &data, &len, err), DD_OK, err);
    CHECK(len == sizeof bin && data && memcmp(data, bin, len) == 0);
    free(data);
    data = NULL;
    CHECK_CODE(dd_iteration_file_set(st, it, "empty.lock", "", 0, err), DD_OK, err);
    CHECK_CODE(dd_iteration_file_get(st, it, "empty.lock", &data, &len, err), DD_OK, err);
    CHECK(len == 0);
    free(data);
    data = NULL;

    id_rows files = {0};
    CHECK_CODE(dd_iteration_file_list(st, it, collect_file, &files, err), DD_OK, err);
    CHECK(files.count == 3);
    int seen = 0;
    for (int i = 0; i < files.count && i < MAXROWS; i++) {
        if (strcmp(files.names[i], "requirements.txt") == 0 && files.ids[i] == fid)
            seen |= 1;
        if (strcmp(files.names[i], "poetry.lock") == 0)
            seen |= 2;
        if (strcmp(files.names[i], "empty.lock") == 0)
            seen |= 4;
    }
    CHECK(seen == 7);
    memset(&files, 0, sizeof files);
    CHECK_CODE(dd_iteration_file_list(st, it2, collect_file, &files, err), DD_OK, err);
    CHECK(files.count == 0);

    CHECK_CODE(dd_iteration_file_get(st, it, "missing", &data, &len, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_iteration_file_get(st, it2, "requirements.txt", &data, &len, err), DD_NOT_FOUND,
               err);
    CHECK_CODE(dd_iteration_file_find(st, it, "missing", &fid2, &flen, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_iteration_file_set(st, it, "a/b", "x", 1, err), DD_INVALID, err);
    CHECK_CODE(dd_iteration_file_set(st, it, "", "x", 1, err), DD_INVALID, err);
    CHECK_CODE(dd_iteration_file_set(st, 999999, "x.txt", "x", 1, err), DD_NOT_FOUND, err);

    /* Snapshot round trip; listings leave the TOML fields empty. */
    dd_snapshot snap = {
        .julia_version = "1.10.4",
        .git_sha = "0123456789abcdef0123456789abcdef01234567",
        .git_dirty = true,
        .entrypoint = "scripts/train.jl",
        .project_toml = "[deps]\nFlux = \"587475ba\"\n",
        .manifest_toml = "# This file is machine-generated\njulia_version = \"1.10.4\"\n",
    };
    CHECK_CODE(dd_iteration_set_snapshot(st, it, &snap, err), DD_OK, err);
    dd_iteration row = {0};
    CHECK_CODE(dd_iteration_get(st, it, &row, err), DD_OK, err);
    CHECK_STR(row.julia_version, snap.julia_version);
    CHECK_STR(row.git_sha, snap.git_sha);
    CHECK(row.git_dirty);
    CHECK_STR(row.entrypoint, snap.entrypoint);
    CHECK_STR(row.project_toml, snap.project_toml);
    CHECK_STR(row.manifest_toml, snap.manifest_toml);
    CHECK(row.status_id == DD_ITER_RUNNING);
    dd_iteration_clear(&row);
    iter_rows *ir = calloc(1, sizeof *ir);
    CHECK_CODE(dd_iteration_list(st, ex, collect_iteration, ir, err), DD_OK, err);
    CHECK(ir->count == 2);
    CHECK(ir->toml_nonempty == 0);
    CHECK(ir->count == 2 && ir->rows[0].git_dirty);
    free(ir);

    /* Overwrite: NULL fields become "". */
    dd_snapshot snap2 = {.git_sha = "feedface", .git_dirty = false};
    CHECK_CODE(dd_iteration_set_snapshot(st, it, &snap2, err), DD_OK, err);
    CHECK_CODE(dd_iteration_get(st, it, &row, err), DD_OK, err);
    CHECK_STR(row.julia_version, "");
    CHECK_STR(row.git_sha, "feedface");
    CHECK(!row.git_dirty);
    CHECK_STR(row.entrypoint, "");
    CHECK_STR(row.project_toml, "");
    CHECK_STR(row.manifest_toml, "");
    dd_iteration_clear(&row);
    CHECK_CODE(dd_iteration_set_snapshot(st, 999999, &snap, err), DD_NOT_FOUND, err);
}

/* ---------------------------------------------------------------- tags */

static void test_tags(dd_store *st)
{
    dd_err err_buf = {0}, *err = &err_buf;
    int64_t proj = 0, proj2 = 0, ex = 0, it = 0;
    CHECK_CODE(dd_project_create(st, 0, "tag-proj", &proj, err), DD_OK, err);
    CHECK_CODE(dd_project_create(st, 0, "tag-proj-2", &proj2, err), DD_OK, err);
    CHECK_CODE(dd_experiment_create(st, proj, "e", &ex, err), DD_OK, err);
    CHECK_CODE(dd_iteration_create(st, ex, 0, &it, err), DD_OK, err);

    static const dd_tag_kind kinds[3] = {DD_TAG_PROJECT, DD_TAG_EXPERIMENT, DD_TAG_ITERATION};
    int64_t ents[3] = {proj, ex, it};
    int64_t links[3] = {0};
    for (int k = 0; k < 3; k++) {
        CHECK_CODE(dd_tag_attach(st, kinds[k], ents[k], "shared", &links[k], err), DD_OK, err);
        CHECK(links[k] > 0);
        /* Attachment order, not alphabetical. */
        CHECK_CODE(dd_tag_attach(st, kinds[k], ents[k], "zz-second", NULL, err), DD_OK, err);
        CHECK_CODE(dd_tag_attach(st, kinds[k], ents[k], "aa-third", NULL, err), DD_OK, err);
        id_rows t = {0};
        CHECK_CODE(dd_tag_list(st, kinds[k], ents[k], collect_tag, &t, err), DD_OK, err);
        CHECK(t.count == 3);
        CHECK(t.count == 3 && strcmp(t.names[0], "shared") == 0 &&
              strcmp(t.names[1], "zz-second") == 0 && strcmp(t.names[2], "aa-third") == 0);
        CHECK(t.count == 3 && t.ids[0] == links[k]);
        /* Duplicate attach. */
        CHECK_CODE(dd_tag_attach(st, kinds[k], ents[k], "shared", NULL, err), DD_CONFLICT, err);
        /* Link lookups. */
        int64_t ent = 0, link = 0;
        char *value = NULL;
        CHECK_CODE(dd_tag_link_get(st, kinds[k], links[k], &ent, &value, err), DD_OK, err);
        CHECK(ent == ents[k]);
        CHECK_STR(value, "shared");
        free(value);
        value = NULL;
        CHECK_CODE(dd_tag_link_find(st, kinds[k], ents[k], "shared", &link, err), DD_OK, err);
        CHECK(link == links[k]);
        CHECK_CODE(dd_tag_link_find(st, kinds[k], ents[k], "never", &link, err), DD_NOT_FOUND, err);
        /* Detach. */
        CHECK_CODE(dd_tag_detach(st, kinds[k], ents[k], "zz-second", err), DD_OK, err);
        CHECK_CODE(dd_tag_detach(st, kinds[k], ents[k], "zz-second", err), DD_NOT_FOUND, err);
        CHECK_CODE(dd_tag_detach(st, kinds[k], ents[k], "never-attached", err), DD_NOT_FOUND, err);
        memset(&t, 0, sizeof t);
        CHECK_CODE(dd_tag_list(st, kinds[k], ents[k], collect_tag, &t, err), DD_OK, err);
        CHECK(t.count == 2 && strcmp(t.names[0], "shared") == 0 &&
              strcmp(t.names[1], "aa-third") == 0);
        /* Unknown entity; bad value. */
        CHECK_CODE(dd_tag_attach(st, kinds[k], 999999, "shared", NULL, err), DD_NOT_FOUND, err);
        CHECK_CODE(dd_tag_attach(st, kinds[k], ents[k], "a/b", NULL, err), DD_INVALID, err);
        CHECK_CODE(dd_tag_attach(st, kinds[k], ents[k], "", NULL, err), DD_INVALID, err);
    }
    CHECK_CODE(dd_tag_attach(st, (dd_tag_kind)9, proj, "x", NULL, err), DD_INVALID, err);
    /* Tagging ignores the experiment's status. */
    CHECK_CODE(dd_experiment_set_status(st, ex, DD_EXP_STOPPED, err), DD_OK, err);
    CHECK_CODE(dd_tag_attach(st, DD_TAG_EXPERIMENT, ex, "post-mortem", NULL, err), DD_OK, err);
    CHECK_CODE(dd_tag_detach(st, DD_TAG_EXPERIMENT, ex, "post-mortem", err), DD_OK, err);
    CHECK_CODE(dd_experiment_set_status(st, ex, DD_EXP_IN_PROGRESS, err), DD_OK, err);
    /* A tag on one project is not on another. */
    id_rows t2 = {0};
    CHECK_CODE(dd_tag_list(st, DD_TAG_PROJECT, proj2, collect_tag, &t2, err), DD_OK, err);
    CHECK(t2.count == 0);
    /* A project id is not an experiment id: kinds are separate. */
    CHECK_CODE(dd_tag_attach(st, DD_TAG_PROJECT, proj2, "shared", NULL, err), DD_OK, err);

    /* Deleting a tag removes every link of it, everywhere. */
    CHECK_CODE(dd_tag_delete(st, "shared", err), DD_OK, err);
    for (int k = 0; k < 3; k++) {
        id_rows t = {0};
        CHECK_CODE(dd_tag_list(st, kinds[k], ents[k], collect_tag, &t, err), DD_OK, err);
        CHECK(t.count == 1 && strcmp(t.names[0], "aa-third") == 0);
        int64_t ent = 0;
        char *value = NULL;
        CHECK_CODE(dd_tag_link_get(st, kinds[k], links[k], &ent, &value, err), DD_NOT_FOUND, err);
    }
    memset(&t2, 0, sizeof t2);
    CHECK_CODE(dd_tag_list(st, DD_TAG_PROJECT, proj2, collect_tag, &t2, err), DD_OK, err);
    CHECK(t2.count == 0);
    CHECK_CODE(dd_tag_delete(st, "shared", err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_tag_delete(st, "never-existed", err), DD_NOT_FOUND, err);
    /* The value can be used again. */
    int64_t relink = 0;
    CHECK_CODE(dd_tag_attach(st, DD_TAG_EXPERIMENT, ex, "shared", &relink, err), DD_OK, err);
    CHECK(relink != links[1]);
}

/* ---------------------------------------------------------------- resources */

static void test_resources(dd_store *st)
{
    dd_err err_buf = {0}, *err = &err_buf;
    int64_t proj = 0, ex = 0, ex2 = 0, stopped = 0, x = 0;
    CHECK_CODE(dd_project_create(st, 0, "res-proj", &proj, err), DD_OK, err);
    CHECK_CODE(dd_experiment_create(st, proj, "e", &ex, err), DD_OK, err);
    CHECK_CODE(dd_experiment_create(st, proj, "e2", &ex2, err), DD_OK, err);
    CHECK_CODE(dd_experiment_create(st, proj, "stopped", &stopped, err), DD_OK, err);

    int64_t hello = 0, empty = 0;
    CHECK_CODE(dd_resource_create_inline(st, ex, "hello.txt", "hello", 5, &hello, err), DD_OK,
               err);
    dd_resource r = {0};
    CHECK_CODE(dd_resource_get(st, hello, &r, err), DD_OK, err);
    CHECK(r.id == hello && r.experiment_id == ex);
    CHECK_STR(r.name, "hello.txt");
    CHECK_STR(r.description, "");
    CHECK(r.size_bytes == 5);
    CHECK_STR(r.content_hash, SHA_HELLO);
    CHECK_STR(r.backend, "inline");
    CHECK_STR(r.uri, "");
    CHECK(is_canonical_ts(r.created_date));
    CHECK_STR(r.updated_date, "");
    dd_resource_clear(&r);

    CHECK_CODE(dd_resource_create_inline(st, ex, "empty", "", 0, &empty, err), DD_OK, err);
    CHECK_CODE(dd_resource_get(st, empty, &r, err), DD_OK, err);
    CHECK(r.size_bytes == 0);
    CHECK_STR(r.content_hash, SHA_EMPTY);
    dd_resource_clear(&r);

    /* read_inline at offsets, including at and past the end. */
    char buf[64];
    size_t got = 99;
    CHECK_CODE(dd_resource_read_inline(st, hello, 0, buf, sizeof buf, &got, err), DD_OK, err);
    CHECK(got == 5 && memcmp(buf, "hello", 5) == 0);
    CHECK_CODE(dd_resource_read_inline(st, hello, 1, buf, 3, &got, err), DD_OK, err);
    CHECK(got == 3 && memcmp(buf, "ell", 3) == 0);
    CHECK_CODE(dd_resource_read_inline(st, hello, 4, buf, sizeof buf, &got, err), DD_OK, err);
    CHECK(got == 1 && buf[0] == 'o');
    got = 99;
    CHECK_CODE(dd_resource_read_inline(st, hello, 5, buf, sizeof buf, &got, err), DD_OK, err);
    CHECK(got == 0);
    got = 99;
    CHECK_CODE(dd_resource_read_inline(st, hello, 1000, buf, sizeof buf, &got, err), DD_OK, err);
    CHECK(got == 0);
    got = 99;
    CHECK_CODE(dd_resource_read_inline(st, empty, 0, buf, sizeof buf, &got, err), DD_OK, err);
    CHECK(got == 0);
    CHECK(dd_resource_read_inline(st, 999999, 0, buf, sizeof buf, &got, err) == DD_NOT_FOUND);

    /* A larger blob read back in slices. */
    size_t big_len = 200000;
    unsigned char *big = malloc(big_len), *back = malloc(big_len);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (unsigned char)(i * 7 + (i >> 9));
    int64_t bigid = 0;
    CHECK_CODE(dd_resource_create_inline(st, ex, "weights.bin", big, big_len, &bigid, err), DD_OK,
               err);
    size_t off = 0;
    bool read_ok = true;
    while (off < big_len) {
        size_t n = 0;
        if (dd_resource_read_inline(st, bigid, (int64_t)off, back + off, 65536, &n, err) != DD_OK ||
            n == 0) {
            read_ok = false;
            break;
        }
        off += n;
    }
    CHECK(read_ok && off == big_len && memcmp(big, back, big_len) == 0);
    CHECK_CODE(dd_resource_get(st, bigid, &r, err), DD_OK, err);
    CHECK(r.size_bytes == (int64_t)big_len && strlen(r.content_hash) == 64);
    dd_resource_clear(&r);
    free(big);
    free(back);

    /* Names: unique per experiment. */
    CHECK_CODE(dd_resource_create_inline(st, ex, "hello.txt", "other", 5, &x, err), DD_CONFLICT,
               err);
    CHECK_CODE(dd_resource_create_inline(st, ex2, "hello.txt", "other", 5, &x, err), DD_OK, err);
    CHECK_CODE(dd_resource_create_inline(st, ex, "a/b", "x", 1, &x, err), DD_INVALID, err);
    CHECK_CODE(dd_resource_create_inline(st, ex, "", "x", 1, &x, err), DD_INVALID, err);
    CHECK_CODE(dd_resource_create_inline(st, 999999, "x", "x", 1, &x, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_resource_read_inline(st, hello, 0, buf, sizeof buf, &got, err), DD_OK, err);
    CHECK(got == 5 && memcmp(buf, "hello", 5) == 0);   /* the refused duplicate changed nothing */

    /* A stopped experiment accepts no new resources. */
    CHECK_CODE(dd_experiment_set_status(st, stopped, DD_EXP_STOPPED, err), DD_OK, err);
    CHECK_CODE(dd_resource_create_inline(st, stopped, "late.bin", "x", 1, &x, err), DD_INVALID,
               err);
    CHECK_CODE(dd_resource_create_external(st, stopped, "late.ext", "filesystem",
                                           "file:///tmp/aa/late", 1, SHA_EMPTY, &x, err),
               DD_INVALID, err);
    id_rows rl = {0};
    CHECK_CODE(dd_resource_list(st, stopped, collect_resource, &rl, err), DD_OK, err);
    CHECK(rl.count == 0);

    /* External resources. */
    int64_t ext = 0, ext2 = 0;
    CHECK_CODE(dd_resource_create_external(st, ex, "ckpt.pt", "filesystem",
                                           "file:///var/dd/ab/0b9e-uuid", 1234, SHA_HELLO, &ext,
                                           err), DD_OK, err);
    CHECK_CODE(dd_resource_get(st, ext, &r, err), DD_OK, err);
    CHECK_STR(r.backend, "filesystem");
    CHECK_STR(r.uri, "file:///var/dd/ab/0b9e-uuid");
    CHECK(r.size_bytes == 1234);
    CHECK_STR(r.content_hash, SHA_HELLO);
    dd_resource_clear(&r);
    CHECK_CODE(dd_resource_read_inline(st, ext, 0, buf, sizeof buf, &got, err), DD_INVALID, err);
    CHECK_CODE(dd_resource_create_external(st, ex, "s3.bin", "s3", "s3://bucket/key", 10,
                                           SHA_EMPTY, &ext2, err), DD_OK, err);
    CHECK_CODE(dd_resource_create_external(st, ex, "ftp.bin", "ftp", "ftp://x/y", 10, SHA_EMPTY,
                                           &x, err), DD_INVALID, err);
    CHECK_CODE(dd_resource_create_external(st, ex, "neg.bin", "s3", "s3://b/neg", -1, SHA_EMPTY,
                                           &x, err), DD_INVALID, err);
    CHECK_CODE(dd_resource_create_external(st, ex, "nouri.bin", "s3", "", 1, SHA_EMPTY, &x, err),
               DD_INVALID, err);
    CHECK_CODE(dd_resource_create_external(st, ex, "a/b", "s3", "s3://b/x", 1, SHA_EMPTY, &x,
                                           err), DD_INVALID, err);
    CHECK_CODE(dd_resource_create_external(st, ex, "ckpt.pt", "s3", "s3://bucket/other", 10,
                                           SHA_EMPTY, &x, err), DD_CONFLICT, err);

    /* List (id order) and find. */
    memset(&rl, 0, sizeof rl);
    CHECK_CODE(dd_resource_list(st, ex, collect_resource, &rl, err), DD_OK, err);
    CHECK(rl.count == 5);
    CHECK(rl.count == 5 && id_rows_has(&rl, hello, "hello.txt") && id_rows_has(&rl, empty, "empty") &&
          id_rows_has(&rl, bigid, "weights.bin") && id_rows_has(&rl, ext, "ckpt.pt") &&
          id_rows_has(&rl, ext2, "s3.bin"));
    CHECK_CODE(dd_resource_find(st, ex, "ckpt.pt", &x, err), DD_OK, err);
    CHECK(x == ext);
    CHECK_CODE(dd_resource_find(st, ex, "nope", &x, err), DD_NOT_FOUND, err);

    /* Rename, description. */
    CHECK_CODE(dd_resource_rename(st, empty, "hello.txt", err), DD_CONFLICT, err);
    CHECK_CODE(dd_resource_rename(st, empty, "nothing.txt", err), DD_OK, err);
    CHECK_CODE(dd_resource_find(st, ex, "nothing.txt", &x, err), DD_OK, err);
    CHECK(x == empty);
    CHECK_CODE(dd_resource_rename(st, empty, "x/y", err), DD_INVALID, err);
    CHECK_CODE(dd_resource_set_description(st, hello, "greeting", err), DD_OK, err);
    CHECK_CODE(dd_resource_get(st, hello, &r, err), DD_OK, err);
    CHECK_STR(r.description, "greeting");
    /* updated_date is "" only while never updated (models and versions stamp it too). */
    if (!is_canonical_ts(r.updated_date))
        fprintf(stderr, "resource updated_date after set_description: \"%s\"\n", r.updated_date);
    CHECK(is_canonical_ts(r.updated_date));
    dd_resource_clear(&r);
    CHECK_CODE(dd_resource_get(st, empty, &r, err), DD_OK, err);   /* renamed above */
    if (!is_canonical_ts(r.updated_date))
        fprintf(stderr, "resource updated_date after rename: \"%s\"\n", r.updated_date);
    CHECK(is_canonical_ts(r.updated_date));
    dd_resource_clear(&r);
    CHECK_CODE(dd_resource_set_description(st, 999999, "x", err), DD_NOT_FOUND, err);

    /* Deletes: external bytes are queued in the trash; inline ones are not. */
    trash_rows tr = {0};
    CHECK_CODE(dd_trash_list(st, collect_trash, &tr, err), DD_OK, err);
    int trash_before = tr.count;
    CHECK_CODE(dd_resource_delete(st, hello, err), DD_OK, err);
    CHECK_CODE(dd_resource_get(st, hello, &r, err), DD_NOT_FOUND, err);
    memset(&tr, 0, sizeof tr);
    CHECK_CODE(dd_trash_list(st, collect_trash, &tr, err), DD_OK, err);
    CHECK(tr.count == trash_before);
    CHECK_CODE(dd_resource_delete(st, ext, err), DD_OK, err);
    CHECK_CODE(dd_resource_get(st, ext, &r, err), DD_NOT_FOUND, err);
    memset(&tr, 0, sizeof tr);
    CHECK_CODE(dd_trash_list(st, collect_trash, &tr, err), DD_OK, err);
    CHECK(tr.count == trash_before + 1);
    int found = -1;
    for (int i = 0; i < tr.count && i < MAXROWS; i++)
        if (strcmp(tr.uris[i], "file:///var/dd/ab/0b9e-uuid") == 0)
            found = i;
    CHECK(found >= 0);
    CHECK(found >= 0 && strcmp(tr.backends[found], "filesystem") == 0);
    CHECK_CODE(dd_resource_delete(st, ext, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_resource_delete(st, 999999, err), DD_NOT_FOUND, err);
    /* The name is free again. */
    CHECK_CODE(dd_resource_create_inline(st, ex, "hello.txt", "hi", 2, &x, err), DD_OK, err);

    /* Forget removes the trash entry. */
    if (found >= 0) {
        int64_t tid = tr.ids[found];
        CHECK_CODE(dd_trash_forget(st, tid, err), DD_OK, err);
        memset(&tr, 0, sizeof tr);
        CHECK_CODE(dd_trash_list(st, collect_trash, &tr, err), DD_OK, err);
        CHECK(tr.count == trash_before);
        bool still = false;
        for (int i = 0; i < tr.count && i < MAXROWS; i++)
            if (tr.ids[i] == tid)
                still = true;
        CHECK(!still);
    }

    /* Cascading experiment delete queues the remaining external bytes. */
    CHECK_CODE(dd_experiment_delete(st, ex, false, err), DD_NOT_EMPTY, err);
    CHECK_CODE(dd_resource_get(st, ext2, &r, err), DD_OK, err);
    dd_resource_clear(&r);
    CHECK_CODE(dd_experiment_delete(st, ex, true, err), DD_OK, err);
    CHECK_CODE(dd_resource_get(st, ext2, &r, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_resource_get(st, bigid, &r, err), DD_NOT_FOUND, err);
    memset(&tr, 0, sizeof tr);
    CHECK_CODE(dd_trash_list(st, collect_trash, &tr, err), DD_OK, err);
    bool s3_queued = false;
    for (int i = 0; i < tr.count && i < MAXROWS; i++)
        if (strcmp(tr.uris[i], "s3://bucket/key") == 0 && strcmp(tr.backends[i], "s3") == 0)
            s3_queued = true;
    CHECK(s3_queued);
}

/* ---------------------------------------------------------------- plain delete (rmdir) */

/* A plain (non-cascading) delete refuses an iteration holding one point or one parameter,
 * in the delete's own transaction, and removes nothing; a point still in the metric log
 * counts (the delete drains it first). An empty one goes; a cascade takes the data. */
static void test_iteration_plain_delete(void)
{
    char path[1024];
    dd_test_locator(path, sizeof path, "store_tracking_plain_delete");
    dd_err err_buf = {0}, *err = &err_buf;
    dd_store *st = NULL;
    CHECK_CODE(dd_store_open(path, NULL, &st, err), DD_OK, err);
    if (!st)
        return;
    int64_t pr = 0, ex = 0, with_point = 0, with_param = 0, logged = 0, empty = 0;
    CHECK_CODE(dd_project_create(st, 0, "pd", &pr, err), DD_OK, err);
    CHECK_CODE(dd_experiment_create(st, pr, "e", &ex, err), DD_OK, err);
    CHECK_CODE(dd_iteration_create(st, ex, 0, &with_point, err), DD_OK, err);
    CHECK_CODE(dd_iteration_create(st, ex, 0, &with_param, err), DD_OK, err);
    CHECK_CODE(dd_iteration_create(st, ex, 0, &logged, err), DD_OK, err);
    CHECK_CODE(dd_iteration_create(st, ex, 0, &empty, err), DD_OK, err);
    dd_metric_point pt = {.value = 0.5};
    CHECK_CODE(dd_metric_append(st, with_point, "loss", &pt, 1, err), DD_OK, err);
    CHECK_CODE(dd_param_set(st, with_param, "lr", "0.1", err), DD_OK, err);
    CHECK_CODE(dd_metric_log_start(st, err), DD_OK, err);
    CHECK_CODE(dd_metric_append_logged(st, logged, "acc", &pt, 1, err), DD_OK, err);

    CHECK_CODE(dd_iteration_delete(st, with_point, false, err), DD_NOT_EMPTY, err);
    CHECK(strstr(err->msg, "holds parameters or metrics") != NULL);
    CHECK_CODE(dd_iteration_delete(st, with_param, false, err), DD_NOT_EMPTY, err);
    CHECK_CODE(dd_iteration_delete(st, logged, false, err), DD_NOT_EMPTY, err);
    dd_iteration it = {0};
    CHECK_CODE(dd_iteration_get(st, with_point, &it, err), DD_OK, err);
    dd_iteration_clear(&it);
    CHECK_CODE(dd_iteration_get(st, with_param, &it, err), DD_OK, err);
    dd_iteration_clear(&it);
    CHECK(count_points(st, with_point, "loss") == 1);
    CHECK(count_points(st, logged, "acc") == 1);
    char *val = NULL;
    CHECK_CODE(dd_param_get(st, with_param, "lr", &val, err), DD_OK, err);
    CHECK(val && strcmp(val, "0.1") == 0);
    free(val);
    CHECK(count_iterations(st, ex) == 4);

    CHECK_CODE(dd_iteration_delete(st, empty, false, err), DD_OK, err);
    CHECK_CODE(dd_iteration_get(st, empty, &it, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_iteration_delete(st, 999999, false, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_iteration_delete(st, with_point, true, err), DD_OK, err);
    CHECK(count_points(st, with_point, "loss") == 0);
    CHECK(count_iterations(st, ex) == 2);
    CHECK_CODE(dd_store_check_integrity(st, err), DD_OK, err);
    dd_store_close(st);
}

/* A batch longer than one multi-row INSERT (metrics.c: 64 rows a statement, the rest row
 * by row): 131 points, steps descending from 1000 with a default step in the middle, one
 * with its own recorded_at. Every point is stored once, in order, with its own step,
 * value, position and time, and the series' summary counts them all. */
static void test_metric_multirow(dd_store *st)
{
    dd_err err_buf = {0}, *err = &err_buf;
    int64_t proj = 0, ex = 0, it = 0;
    CHECK_CODE(dd_project_create(st, 0, "multirow-proj", &proj, err), DD_OK, err);
    CHECK_CODE(dd_experiment_create(st, proj, "e", &ex, err), DD_OK, err);
    CHECK_CODE(dd_iteration_create(st, ex, 0, &it, err), DD_OK, err);
    enum { N = 131 };
    dd_metric_point p[N];
    for (int i = 0; i < N; i++)
        p[i] = pt_step(0.25 * i, 1000 - i);
    p[70] = pt(-7.5);                        /* default step: max_step + 1 = 1001 */
    snprintf(p[130].recorded_at, DD_TS_LEN, "2026-01-02T03:04:05.678Z");   /* in the remainder */
    CHECK_CODE(dd_metric_append(st, it, "m", p, N, err), DD_OK, err);
    metric_rows *mr = calloc(1, sizeof *mr);
    CHECK_CODE(dd_metric_read(st, it, "m", false, 0, 0, collect_metric, mr, err), DD_OK, err);
    CHECK(mr->count == N);
    bool each = mr->count == N;
    /* read by step: position i has step 1000 - i (70: 1001), so every position comes
     * once, with its own step and value */
    int seen = 0;
    for (int k = 0; k < mr->count && k < N; k++) {
        int64_t i = mr->ids[k];
        double want_v = i == 70 ? -7.5 : 0.25 * (double)i;
        int64_t want_s = i == 70 ? 1001 : 1000 - i;
        each = each && i >= 0 && i < N && mr->steps[k] == want_s && mr->values[k] == want_v;
        seen++;
    }
    CHECK(each && seen == N);
    CHECK(mr->count == N && mr->steps[N - 1] == 1001 && mr->ids[N - 1] == 70);
    dd_metric_series ms;
    char ts[DD_TS_LEN];
    CHECK_CODE(dd_metric_series_get(st, it, "m", &ms, ts, err), DD_OK, err);
    CHECK(ms.point_count == N && ms.max_step == 1001);
    CHECK(ms.text_bytes == mr->text_bytes);
    /* the point with its own time kept it (position 130, step 870: read first); the
     * others got the time of the append */
    CHECK(mr->ids[0] == 130 && strcmp(mr->ts[0], "2026-01-02T03:04:05.678Z") == 0);
    CHECK(strcmp(mr->ts[1], "2026-01-02T03:04:05.678Z") > 0 && is_canonical_ts(mr->ts[1]));
    free(mr);
}

/* Long results are read in slices (iterations.c: 4096 rows, metrics.c: 8192 points, each
 * resuming after the last key): across the boundaries every row comes once, in order, and
 * a callback that stops is not called again. */
typedef struct order_check {
    int64_t count, last, stop_at;
    bool ordered;
} order_check;

static int iteration_order(void *ctx, const dd_iteration *it)
{
    order_check *o = ctx;
    o->ordered = o->ordered && it->id > o->last;
    o->last = it->id;
    return ++o->count == o->stop_at;
}

static int point_order(void *ctx, const dd_metric_row *m)
{
    order_check *o = ctx;
    o->ordered = o->ordered && m->id == o->count && m->step == o->count;
    return ++o->count == o->stop_at;
}

typedef struct many_iterations {
    int64_t experiment, n;
} many_iterations;

static dd_code create_many(dd_store *st, void *ctx, dd_err *err)
{
    many_iterations *m = ctx;
    dd_code code = DD_OK;
    for (int64_t i = 0; i < m->n && code == DD_OK; i++)
        code = dd_iteration_create(st, m->experiment, 0, NULL, err);
    return code;
}

static void test_sliced_reads(dd_store *st)
{
    dd_err err_buf = {0}, *err = &err_buf;
    int64_t proj = 0, ex = 0, it = 0;
    CHECK_CODE(dd_project_create(st, 0, "slices-proj", &proj, err), DD_OK, err);
    CHECK_CODE(dd_experiment_create(st, proj, "e", &ex, err), DD_OK, err);
    many_iterations m = {ex, 2 * 4096 + 7};
    CHECK_CODE(dd_store_atomic(st, create_many, &m, err), DD_OK, err);
    order_check o = {.ordered = true};
    CHECK_CODE(dd_iteration_list(st, ex, iteration_order, &o, err), DD_OK, err);
    CHECK(o.count == m.n && o.ordered);
    o = (order_check){.ordered = true, .stop_at = 4096};     /* stops at a slice's end */
    CHECK_CODE(dd_iteration_list(st, ex, iteration_order, &o, err), DD_OK, err);
    CHECK(o.count == 4096 && o.ordered);

    CHECK_CODE(dd_iteration_create(st, ex, 0, &it, err), DD_OK, err);
    enum { N = 2 * 8192 + 5 };
    dd_metric_point *p = calloc(N, sizeof *p);
    for (int i = 0; p && i < N; i++)
        p[i] = pt(0.5);
    CHECK(p != NULL);
    if (!p)
        return;
    CHECK_CODE(dd_metric_append(st, it, "long", p, N, err), DD_OK, err);
    free(p);
    o = (order_check){.ordered = true};
    CHECK_CODE(dd_metric_read(st, it, "long", false, 0, 0, point_order, &o, err), DD_OK, err);
    CHECK(o.count == N && o.ordered);
    o = (order_check){.ordered = true, .stop_at = 8193};     /* one past a slice */
    CHECK_CODE(dd_metric_read(st, it, "long", false, 0, 0, point_order, &o, err), DD_OK, err);
    CHECK(o.count == 8193 && o.ordered);
    /* resuming from the middle of a slice reads the rest once */
    o = (order_check){.ordered = true, .count = 9000};
    CHECK_CODE(dd_metric_read(st, it, "long", true, 8999, 8999, point_order, &o, err), DD_OK,
               err);
    CHECK(o.count == N && o.ordered);
}

/* Large batches (where the engine has bulk rows, PostgreSQL's COPY: metrics.c
 * copy_points) store every value bit for bit, and a batch that fails part way through
 * stores nothing and leaves the store usable: here a row put in its way by a raw writer
 * (position 500 of the series taken) makes the 1,000-point batch a conflict. */
static void test_metric_bulk(dd_store *st, const char *path)
{
    dd_err err_buf = {0}, *err = &err_buf;
    int64_t proj = 0, ex = 0, it = 0;
    CHECK_CODE(dd_project_create(st, 0, "bulk-proj", &proj, err), DD_OK, err);
    CHECK_CODE(dd_experiment_create(st, proj, "e", &ex, err), DD_OK, err);
    CHECK_CODE(dd_iteration_create(st, ex, 0, &it, err), DD_OK, err);
    enum { N = 1000 };
    static const double odd[] = {1.0 / 3, 1e-300, -2.5e300, 4.9e-324, -0.1, 123456789.123456789};
    dd_metric_point *p = calloc(N, sizeof *p);
    CHECK(p != NULL);
    if (!p)
        return;
    for (int i = 0; i < N; i++)
        p[i] = i % 7 == 3 ? pt_step(odd[i % 6], 5000 + i) : pt(odd[i % 6] * (i + 1));
    CHECK_CODE(dd_metric_append(st, it, "bulk.key-1", p, N, err), DD_OK, err);
    metric_rows *mr = calloc(1, sizeof *mr);
    CHECK_CODE(dd_metric_read(st, it, "bulk.key-1", false, 0, 0, collect_metric, mr, err),
               DD_OK, err);
    CHECK(mr->count == N);
    bool exact = mr->count == N;
    for (int k = 0; k < mr->count && k < N && exact; k++) {
        int64_t i = mr->ids[k];
        exact = i >= 0 && i < N &&
                memcmp(&mr->values[k], &p[i].value, sizeof(double)) == 0 &&
                (!p[i].has_step || mr->steps[k] == p[i].step);
    }
    CHECK(exact);
    dd_metric_series ms;
    char ts[DD_TS_LEN];
    CHECK_CODE(dd_metric_series_get(st, it, "bulk.key-1", &ms, ts, err), DD_OK, err);
    CHECK(ms.point_count == N && ms.text_bytes == mr->text_bytes);

    /* the next batch's 501st point (position N + 500, default step max_step + 501) taken
     * behind the store's back: that batch fails there, and none of it (nor its summary
     * or blocks) stays */
    char sql[512];
    snprintf(sql, sizeof sql, "INSERT INTO metric_point(series_id, step, id, value,"
             " recorded_at) SELECT id, %lld, %d, 0, '2026-01-01T00:00:00.000Z'"
             " FROM metric_latest WHERE iteration_id = %lld AND key = 'bulk.key-1'",
             (long long)ms.max_step + 501, N + 500, (long long)it);
    CHECK(raw_exec(path, sql) == 0);
    for (int i = 0; i < N; i++)
        p[i] = pt(2.0);
    CHECK_CODE(dd_metric_append(st, it, "bulk.key-1", p, N, err), DD_CONFLICT, err);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM metric WHERE iteration_id = %lld",
             (long long)it);
    CHECK(raw_int(path, sql) == N + 1);
    snprintf(sql, sizeof sql, "SELECT point_count FROM metric_latest WHERE iteration_id = %lld",
             (long long)it);
    CHECK(raw_int(path, sql) == N);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM metric_block WHERE iteration_id = %lld",
             (long long)it);
    CHECK(raw_int(path, sql) == (N + 63) / 64);
    /* the connection takes statements again: a small batch and a large one of another
     * series go in */
    CHECK_CODE(dd_metric_append(st, it, "other", p, 3, err), DD_OK, err);
    CHECK_CODE(dd_metric_append(st, it, "other", p, N, err), DD_OK, err);
    CHECK(count_points(st, it, "other") == N + 3);
    free(mr);
    free(p);
}

int main(void)
{
    char path[1024];
    dd_test_locator(path, sizeof path, "store_tracking");
    dd_err err_buf = {0}, *err = &err_buf;
    dd_store *st = NULL;
    CHECK_CODE(dd_store_open(path, NULL, &st, err), DD_OK, err);
    if (!st)
        return dd_test_done();
    test_projects(st);
    test_experiments(st);
    test_iterations(st);
    test_params(st);
    test_metrics(st);
    test_metric_multirow(st);
    test_metric_bulk(st, path);
    test_sliced_reads(st);
    test_env(st);
    test_tags(st);
    test_resources(st);
    CHECK_CODE(dd_store_check_integrity(st, err), DD_OK, err);
    dd_store_close(st);
    test_iteration_plain_delete();
    return dd_test_done();
}
