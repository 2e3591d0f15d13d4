/*
 * test_store_registry.c - the model registry (models, versions, stages, aliases) and the
 * deletes that must either remove a whole subtree or change nothing.
 */
#include <stdint.h>
#include <unistd.h>

#include "check.h"
#include "engine_fixture.h"
#include "store.h"

#define MAXROWS 64

/* ---------------------------------------------------------------- collectors */

typedef struct ver_rows {
    int count;
    int64_t ids[MAXROWS];
    int64_t numbers[MAXROWS];
    int stages[MAXROWS];
} ver_rows;

static int collect_version(void *ctx, const dd_model_version *v)
{
    ver_rows *r = ctx;
    if (r->count < MAXROWS) {
        r->ids[r->count] = v->id;
        r->numbers[r->count] = v->version;
        r->stages[r->count] = v->stage_id;
    }
    r->count++;
    return 0;
}

typedef struct id_rows {
    int count;
    int64_t ids[MAXROWS];
    int64_t extra[MAXROWS];
    char names[MAXROWS][64];
} id_rows;

static void add_row(id_rows *r, int64_t id, int64_t extra, const char *name)
{
    if (r->count < MAXROWS) {
        r->ids[r->count] = id;
        r->extra[r->count] = extra;
        snprintf(r->names[r->count], 64, "%s", name ? name : "");
    }
    r->count++;
}

static int collect_model(void *ctx, const dd_model *m)
{
    add_row(ctx, m->id, m->project_id, m->name);
    return 0;
}

static int collect_alias(void *ctx, int64_t id, const char *alias, int64_t version_id,
                         int64_t version)
{
    (void)id;
    add_row(ctx, version_id, version, alias);
    return 0;
}

static int count_any_experiment(void *ctx, const dd_experiment *e)
{
    (void)e;
    (*(int *)ctx)++;
    return 0;
}
static int count_any_iteration(void *ctx, const dd_iteration *it)
{
    (void)it;
    (*(int *)ctx)++;
    return 0;
}
static int count_any_param(void *ctx, const char *k, const char *v)
{
    (void)k;
    (void)v;
    (*(int *)ctx)++;
    return 0;
}
static int count_any_metric(void *ctx, const dd_metric_row *m)
{
    (void)m;
    (*(int *)ctx)++;
    return 0;
}
static int count_any_series(void *ctx, const dd_metric_series *s)
{
    (void)s;
    (*(int *)ctx)++;
    return 0;
}
static int count_any_resource(void *ctx, const dd_resource *r)
{
    (void)r;
    (*(int *)ctx)++;
    return 0;
}
static int count_any_tag(void *ctx, int64_t id, const char *v)
{
    (void)id;
    (void)v;
    (*(int *)ctx)++;
    return 0;
}
static int count_any_trash(void *ctx, int64_t id, const char *b, const char *u)
{
    (void)id;
    (void)b;
    (void)u;
    (*(int *)ctx)++;
    return 0;
}
static int count_any_model(void *ctx, const dd_model *m)
{
    (void)m;
    (*(int *)ctx)++;
    return 0;
}
static int count_any_version(void *ctx, const dd_model_version *v)
{
    (void)v;
    (*(int *)ctx)++;
    return 0;
}
static int count_any_alias(void *ctx, int64_t id, const char *a, int64_t vid, int64_t v)
{
    (void)id;
    (void)a;
    (void)vid;
    (void)v;
    (*(int *)ctx)++;
    return 0;
}
static int count_any_perm(void *ctx, const dd_user_permission *p)
{
    (void)p;
    (*(int *)ctx)++;
    return 0;
}

static bool is_canonical_ts(const char *ts)
{
    char again[DD_TS_LEN];
    return ts && strlen(ts) == DD_TS_LEN - 1 && dd_time_parse(ts, again, NULL) == DD_OK &&
           strcmp(again, ts) == 0;
}

static int stage_of(dd_store *st, int64_t version_id)
{
    dd_model_version v = {0};
    if (dd_version_get(st, version_id, &v, NULL) != DD_OK)
        return -1;
    int s = v.stage_id;
    dd_version_clear(&v);
    return s;
}

static int count_stage(dd_store *st, int64_t model, int stage)
{
    ver_rows r = {0};
    if (dd_version_list(st, model, collect_version, &r, NULL) != DD_OK)
        return -1;
    int n = 0;
    for (int i = 0; i < r.count && i < MAXROWS; i++)
        n += r.stages[i] == stage;
    return n;
}

/* ---------------------------------------------------------------- a small world */

typedef struct world {
    int64_t pa, pb;          /* projects */
    int64_t ea, eb;          /* experiments */
    int64_t ia1, ia2, ib1;   /* iterations */
    int64_t ra, rb;          /* resources */
} world;

static void make_world(dd_store *st, world *w)
{
    dd_err err_buf = {0}, *err = &err_buf;
    memset(w, 0, sizeof *w);
    CHECK_CODE(dd_project_create(st, 0, "reg-a", &w->pa, err), DD_OK, err);
    CHECK_CODE(dd_project_create(st, 0, "reg-b", &w->pb, err), DD_OK, err);
    CHECK_CODE(dd_experiment_create(st, w->pa, "train", &w->ea, err), DD_OK, err);
    CHECK_CODE(dd_experiment_create(st, w->pb, "train", &w->eb, err), DD_OK, err);
    CHECK_CODE(dd_iteration_create(st, w->ea, 0, &w->ia1, err), DD_OK, err);
    CHECK_CODE(dd_iteration_create(st, w->ea, 0, &w->ia2, err), DD_OK, err);
    CHECK_CODE(dd_iteration_create(st, w->eb, 0, &w->ib1, err), DD_OK, err);
    CHECK_CODE(dd_resource_create_inline(st, w->ea, "model.onnx", "onnx", 4, &w->ra, err), DD_OK,
               err);
    CHECK_CODE(dd_resource_create_inline(st, w->eb, "model.onnx", "onnx", 4, &w->rb, err), DD_OK,
               err);
}

/* ---------------------------------------------------------------- models */

static void test_models(dd_store *st, const world *w, int64_t *resnet_out, int64_t *bert_out)
{
    dd_err err_buf = {0}, *err = &err_buf;
    int64_t resnet = 0, bert = 0, x = 0;
    CHECK_CODE(dd_model_create(st, w->pa, "resnet", "image classifier", &resnet, err), DD_OK, err);
    dd_model m = {0};
    CHECK_CODE(dd_model_get(st, resnet, &m, err), DD_OK, err);
    CHECK(m.id == resnet && m.project_id == w->pa);
    CHECK_STR(m.name, "resnet");
    CHECK_STR(m.description, "image classifier");
    CHECK(is_canonical_ts(m.created_date));
    CHECK_STR(m.updated_date, "");
    CHECK(m.last_version == 0);
    dd_model_clear(&m);

    /* Unique in the whole registry, even across projects. */
    CHECK_CODE(dd_model_create(st, w->pb, "resnet", NULL, &x, err), DD_CONFLICT, err);
    CHECK_CODE(dd_model_create(st, w->pa, "resnet", NULL, &x, err), DD_CONFLICT, err);
    CHECK_CODE(dd_model_create(st, 999999, "orphan", NULL, &x, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_model_create(st, w->pa, "a/b", NULL, &x, err), DD_INVALID, err);
    CHECK_CODE(dd_model_create(st, w->pa, "", NULL, &x, err), DD_INVALID, err);
    CHECK_CODE(dd_model_create(st, w->pa, "..", NULL, &x, err), DD_INVALID, err);
    CHECK_CODE(dd_model_create(st, w->pb, "bert", NULL, &bert, err), DD_OK, err);
    CHECK_CODE(dd_model_get(st, bert, &m, err), DD_OK, err);
    CHECK_STR(m.description, "");
    dd_model_clear(&m);

    id_rows rows = {0};
    CHECK_CODE(dd_model_list(st, 0, collect_model, &rows, err), DD_OK, err);
    CHECK(rows.count == 2);
    CHECK(rows.count == 2 && rows.ids[0] == resnet && rows.ids[1] == bert);
    memset(&rows, 0, sizeof rows);
    CHECK_CODE(dd_model_list(st, w->pa, collect_model, &rows, err), DD_OK, err);
    CHECK(rows.count == 1 && rows.ids[0] == resnet && rows.extra[0] == w->pa);
    memset(&rows, 0, sizeof rows);
    CHECK_CODE(dd_model_list(st, w->pb, collect_model, &rows, err), DD_OK, err);
    CHECK(rows.count == 1 && rows.ids[0] == bert);

    CHECK_CODE(dd_model_find(st, "resnet", &x, err), DD_OK, err);
    CHECK(x == resnet);
    CHECK_CODE(dd_model_find(st, "nope", &x, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_model_get(st, 999999, &m, err), DD_NOT_FOUND, err);

    /* Rename: taken names refused (even the other project's), nothing changed. */
    CHECK_CODE(dd_model_rename(st, bert, "resnet", err), DD_CONFLICT, err);
    CHECK_CODE(dd_model_get(st, bert, &m, err), DD_OK, err);
    CHECK_STR(m.name, "bert");
    dd_model_clear(&m);
    CHECK_CODE(dd_model_rename(st, bert, "bert-base", err), DD_OK, err);
    CHECK_CODE(dd_model_find(st, "bert-base", &x, err), DD_OK, err);
    CHECK(x == bert);
    CHECK_CODE(dd_model_find(st, "bert", &x, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_model_get(st, bert, &m, err), DD_OK, err);
    CHECK(is_canonical_ts(m.updated_date));
    dd_model_clear(&m);
    CHECK_CODE(dd_model_rename(st, bert, "x/y", err), DD_INVALID, err);
    CHECK_CODE(dd_model_rename(st, 999999, "zzz", err), DD_NOT_FOUND, err);

    CHECK_CODE(dd_model_set_description(st, resnet, "ResNet-50", err), DD_OK, err);
    CHECK_CODE(dd_model_get(st, resnet, &m, err), DD_OK, err);
    CHECK_STR(m.description, "ResNet-50");
    CHECK_STR(m.name, "resnet");
    CHECK(is_canonical_ts(m.updated_date));
    dd_model_clear(&m);
    CHECK_CODE(dd_model_set_description(st, 999999, "x", err), DD_NOT_FOUND, err);

    *resnet_out = resnet;
    *bert_out = bert;
}

/* ---------------------------------------------------------------- versions */

static void test_versions(dd_store *st, const world *w, int64_t resnet, int64_t bert)
{
    dd_err err_buf = {0}, *err = &err_buf;
    int64_t v1 = 0, v2 = 0, v3 = 0, v4 = 0, n = 0, x = 0;
    CHECK_CODE(dd_version_create(st, resnet, w->ia1, w->ra, "first", &v1, &n, err), DD_OK, err);
    CHECK(n == 1);
    CHECK_CODE(dd_version_create(st, resnet, w->ia2, 0, NULL, &v2, &n, err), DD_OK, err);
    CHECK(n == 2);
    CHECK_CODE(dd_version_create(st, resnet, w->ia1, 0, NULL, &v3, NULL, err), DD_OK, err);

    dd_model_version v = {0};
    CHECK_CODE(dd_version_get(st, v1, &v, err), DD_OK, err);
    CHECK(v.id == v1 && v.model_id == resnet && v.version == 1);
    CHECK(v.iteration_id == w->ia1 && v.resource_id == w->ra);
    CHECK(v.stage_id == DD_STAGE_NONE);
    CHECK_STR(v.description, "first");
    CHECK(is_canonical_ts(v.created_date));
    CHECK_STR(v.updated_date, "");
    dd_version_clear(&v);
    CHECK_CODE(dd_version_get(st, v2, &v, err), DD_OK, err);
    CHECK(v.resource_id == 0 && v.stage_id == DD_STAGE_NONE && v.version == 2);
    CHECK_STR(v.description, "");
    dd_version_clear(&v);
    CHECK_CODE(dd_version_get(st, v3, &v, err), DD_OK, err);
    CHECK(v.version == 3);
    dd_version_clear(&v);

    /* Never reused: after deleting v3 the next is 4. */
    CHECK_CODE(dd_version_delete(st, v3, err), DD_OK, err);
    CHECK_CODE(dd_version_get(st, v3, &v, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_version_delete(st, v3, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_version_find(st, resnet, 3, &x, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_version_create(st, resnet, w->ia2, w->ra, NULL, &v4, &n, err), DD_OK, err);
    CHECK(n == 4);
    CHECK_CODE(dd_version_find(st, resnet, 4, &x, err), DD_OK, err);
    CHECK(x == v4);
    CHECK_CODE(dd_version_find(st, resnet, 1, &x, err), DD_OK, err);
    CHECK(x == v1);
    dd_model m = {0};
    CHECK_CODE(dd_model_get(st, resnet, &m, err), DD_OK, err);
    CHECK(m.last_version == 4);
    dd_model_clear(&m);

    /* Lineage must be in the model's project; unknowns are not found. */
    CHECK_CODE(dd_version_create(st, resnet, w->ib1, 0, NULL, &x, &n, err), DD_INVALID, err);
    CHECK_CODE(dd_version_create(st, resnet, w->ia1, w->rb, NULL, &x, &n, err), DD_INVALID, err);
    CHECK_CODE(dd_version_create(st, resnet, 999999, 0, NULL, &x, &n, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_version_create(st, resnet, w->ia1, 999999, NULL, &x, &n, err), DD_NOT_FOUND,
               err);
    CHECK_CODE(dd_version_create(st, 999999, w->ia1, 0, NULL, &x, &n, err), DD_NOT_FOUND, err);
    CHECK(dd_version_create(st, resnet, 0, 0, NULL, &x, &n, err) != DD_OK);
    /* Refused registrations consumed no number. */
    int64_t v5 = 0;
    CHECK_CODE(dd_version_create(st, resnet, w->ia1, 0, NULL, &v5, &n, err), DD_OK, err);
    CHECK(n == 5);
    CHECK_CODE(dd_version_delete(st, v5, err), DD_OK, err);
    /* Another model counts on its own. */
    int64_t b1 = 0;
    CHECK_CODE(dd_version_create(st, bert, w->ib1, w->rb, NULL, &b1, &n, err), DD_OK, err);
    CHECK(n == 1);

    ver_rows vr = {0};
    CHECK_CODE(dd_version_list(st, resnet, collect_version, &vr, err), DD_OK, err);
    CHECK(vr.count == 3);
    CHECK(vr.count == 3 && vr.numbers[0] == 1 && vr.numbers[1] == 2 && vr.numbers[2] == 4);

    /* Stages: PRODUCTION archives the incumbent. */
    CHECK_CODE(dd_version_set_stage(st, v1, DD_STAGE_PRODUCTION, err), DD_OK, err);
    CHECK(stage_of(st, v1) == DD_STAGE_PRODUCTION);
    CHECK_CODE(dd_version_find_stage(st, resnet, DD_STAGE_PRODUCTION, &x, err), DD_OK, err);
    CHECK(x == v1);
    CHECK_CODE(dd_version_set_stage(st, v2, DD_STAGE_PRODUCTION, err), DD_OK, err);
    CHECK(stage_of(st, v2) == DD_STAGE_PRODUCTION);
    CHECK(stage_of(st, v1) == DD_STAGE_ARCHIVED);
    CHECK(stage_of(st, v4) == DD_STAGE_NONE);
    CHECK(count_stage(st, resnet, DD_STAGE_PRODUCTION) == 1);
    CHECK_CODE(dd_version_find_stage(st, resnet, DD_STAGE_PRODUCTION, &x, err), DD_OK, err);
    CHECK(x == v2);
    CHECK_CODE(dd_version_get(st, v1, &v, err), DD_OK, err);
    CHECK(is_canonical_ts(v.updated_date));   /* archived by the promotion of v2 */
    dd_version_clear(&v);
    /* Promoting the current production version again changes nothing. */
    CHECK_CODE(dd_version_set_stage(st, v2, DD_STAGE_PRODUCTION, err), DD_OK, err);
    CHECK(stage_of(st, v2) == DD_STAGE_PRODUCTION && count_stage(st, resnet, 3) == 1);
    /* Another model's production version is not touched. */
    CHECK_CODE(dd_version_set_stage(st, b1, DD_STAGE_PRODUCTION, err), DD_OK, err);
    CHECK_CODE(dd_version_set_stage(st, v4, DD_STAGE_PRODUCTION, err), DD_OK, err);
    CHECK(stage_of(st, b1) == DD_STAGE_PRODUCTION);
    CHECK(stage_of(st, v2) == DD_STAGE_ARCHIVED);
    CHECK(count_stage(st, resnet, DD_STAGE_PRODUCTION) == 1);

    /* Any transition is allowed. */
    CHECK_CODE(dd_version_set_stage(st, v1, DD_STAGE_PRODUCTION, err), DD_OK, err);  /* ARCH->PROD */
    CHECK(stage_of(st, v1) == DD_STAGE_PRODUCTION && stage_of(st, v4) == DD_STAGE_ARCHIVED);
    CHECK_CODE(dd_version_set_stage(st, v1, DD_STAGE_STAGING, err), DD_OK, err);     /* PROD->STAG */
    CHECK(stage_of(st, v1) == DD_STAGE_STAGING);
    CHECK(count_stage(st, resnet, DD_STAGE_PRODUCTION) == 0);
    CHECK_CODE(dd_version_find_stage(st, resnet, DD_STAGE_PRODUCTION, &x, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_version_set_stage(st, v1, DD_STAGE_NONE, err), DD_OK, err);        /* STAG->NONE */
    CHECK(stage_of(st, v1) == DD_STAGE_NONE);
    CHECK_CODE(dd_version_set_stage(st, v1, DD_STAGE_ARCHIVED, err), DD_OK, err);    /* NONE->ARCH */
    CHECK(stage_of(st, v1) == DD_STAGE_ARCHIVED);
    CHECK_CODE(dd_version_set_stage(st, v1, DD_STAGE_STAGING, err), DD_OK, err);     /* ARCH->STAG */
    CHECK(stage_of(st, v1) == DD_STAGE_STAGING);
    /* Several STAGING: the highest number is found. */
    CHECK_CODE(dd_version_set_stage(st, v2, DD_STAGE_STAGING, err), DD_OK, err);
    CHECK_CODE(dd_version_find_stage(st, resnet, DD_STAGE_STAGING, &x, err), DD_OK, err);
    CHECK(x == v2);
    CHECK_CODE(dd_version_set_stage(st, v4, DD_STAGE_STAGING, err), DD_OK, err);
    CHECK_CODE(dd_version_find_stage(st, resnet, DD_STAGE_STAGING, &x, err), DD_OK, err);
    CHECK(x == v4);
    CHECK(count_stage(st, resnet, DD_STAGE_STAGING) == 3);

    /* Invalid stages and unknown versions. */
    CHECK_CODE(dd_version_set_stage(st, v1, 0, err), DD_INVALID, err);
    CHECK_CODE(dd_version_set_stage(st, v1, 5, err), DD_INVALID, err);
    CHECK_CODE(dd_version_set_stage(st, v1, 9999, err), DD_INVALID, err);
    CHECK(stage_of(st, v1) == DD_STAGE_STAGING);
    CHECK_CODE(dd_version_set_stage(st, 999999, DD_STAGE_STAGING, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_version_set_stage(st, 999999, DD_STAGE_PRODUCTION, err), DD_NOT_FOUND, err);
    CHECK(count_stage(st, resnet, DD_STAGE_STAGING) == 3);

    /* Resource link: set, refused across projects, cleared with 0. */
    CHECK_CODE(dd_version_set_resource(st, v2, w->ra, err), DD_OK, err);
    CHECK_CODE(dd_version_get(st, v2, &v, err), DD_OK, err);
    CHECK(v.resource_id == w->ra);
    dd_version_clear(&v);
    CHECK_CODE(dd_version_set_resource(st, v2, w->rb, err), DD_INVALID, err);
    CHECK_CODE(dd_version_set_resource(st, v2, 999999, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_version_get(st, v2, &v, err), DD_OK, err);
    CHECK(v.resource_id == w->ra);
    dd_version_clear(&v);
    CHECK_CODE(dd_version_set_resource(st, v2, 0, err), DD_OK, err);
    CHECK_CODE(dd_version_get(st, v2, &v, err), DD_OK, err);
    CHECK(v.resource_id == 0);
    dd_version_clear(&v);
    CHECK_CODE(dd_version_set_resource(st, 999999, 0, err), DD_NOT_FOUND, err);

    CHECK_CODE(dd_version_set_description(st, v2, "retrained", err), DD_OK, err);
    CHECK_CODE(dd_version_get(st, v2, &v, err), DD_OK, err);
    CHECK_STR(v.description, "retrained");
    CHECK(is_canonical_ts(v.updated_date));
    dd_version_clear(&v);
    CHECK_CODE(dd_version_set_description(st, 999999, "x", err), DD_NOT_FOUND, err);

    /* Aliases. */
    CHECK_CODE(dd_alias_set(st, resnet, "champion", v2, err), DD_OK, err);
    CHECK_CODE(dd_alias_get(st, resnet, "champion", &x, err), DD_OK, err);
    CHECK(x == v2);
    CHECK_CODE(dd_alias_set(st, resnet, "champion", v4, err), DD_OK, err);   /* move */
    CHECK_CODE(dd_alias_get(st, resnet, "champion", &x, err), DD_OK, err);
    CHECK(x == v4);
    /* A move a few milliseconds later: the aliases directory time then changes too (an
     * upsert used to fail here with DD_CONFLICT from schema 008's trigger) */
    usleep(5000);
    CHECK_CODE(dd_alias_set(st, resnet, "champion", v2, err), DD_OK, err);
    CHECK_CODE(dd_alias_get(st, resnet, "champion", &x, err), DD_OK, err);
    CHECK(x == v2);
    usleep(5000);
    CHECK_CODE(dd_alias_set(st, resnet, "champion", v4, err), DD_OK, err);
    CHECK_CODE(dd_alias_get(st, resnet, "champion", &x, err), DD_OK, err);
    CHECK(x == v4);
    CHECK_CODE(dd_alias_set(st, resnet, "challenger", v2, err), DD_OK, err);
    id_rows al = {0};
    CHECK_CODE(dd_alias_list(st, resnet, collect_alias, &al, err), DD_OK, err);
    CHECK(al.count == 2);
    /* (listing order is not promised) each alias with its version id and number */
    int ch = strcmp(al.names[0], "challenger") == 0 ? 0 : 1;
    CHECK(al.count == 2 && strcmp(al.names[ch], "challenger") == 0 && al.ids[ch] == v2 &&
          al.extra[ch] == 2);
    CHECK(al.count == 2 && strcmp(al.names[1 - ch], "champion") == 0 && al.ids[1 - ch] == v4 &&
          al.extra[1 - ch] == 4);
    /* An alias may only point at its own model's versions. */
    CHECK_CODE(dd_alias_set(st, resnet, "champion", b1, err), DD_INVALID, err);
    CHECK_CODE(dd_alias_set(st, resnet, "stranger", b1, err), DD_INVALID, err);
    CHECK_CODE(dd_alias_get(st, resnet, "champion", &x, err), DD_OK, err);
    CHECK(x == v4);
    CHECK_CODE(dd_alias_get(st, resnet, "stranger", &x, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_alias_set(st, resnet, "ghost", 999999, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_alias_set(st, resnet, "a/b", v2, err), DD_INVALID, err);
    CHECK_CODE(dd_alias_set(st, resnet, "", v2, err), DD_INVALID, err);
    /* Aliases are per model. */
    CHECK_CODE(dd_alias_get(st, bert, "champion", &x, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_alias_set(st, bert, "champion", b1, err), DD_OK, err);
    CHECK_CODE(dd_alias_get(st, resnet, "champion", &x, err), DD_OK, err);
    CHECK(x == v4);
    /* Each alias is its own row (its inode): moving keeps the id; rename replaces the
     * target name in one transaction and the renamed alias keeps its id and version. */
    int64_t champ_id = 0, chall_id = 0, model_of = 0, ver_of = 0;
    CHECK_CODE(dd_alias_find(st, resnet, "champion", &champ_id, err), DD_OK, err);
    CHECK_CODE(dd_alias_find(st, resnet, "challenger", &chall_id, err), DD_OK, err);
    CHECK(champ_id > 0 && chall_id > 0 && champ_id != chall_id);
    CHECK_CODE(dd_alias_by_id(st, champ_id, &model_of, &ver_of, err), DD_OK, err);
    CHECK(model_of == resnet && ver_of == v4);
    CHECK_CODE(dd_alias_set(st, resnet, "tmp1", v2, err), DD_OK, err);
    int64_t tmp_id = 0;
    CHECK_CODE(dd_alias_find(st, resnet, "tmp1", &tmp_id, err), DD_OK, err);
    CHECK_CODE(dd_alias_rename(st, resnet, "tmp1", "challenger", err), DD_OK, err);
    CHECK_CODE(dd_alias_find(st, resnet, "challenger", &x, err), DD_OK, err);
    CHECK(x == tmp_id);
    CHECK_CODE(dd_alias_find(st, resnet, "tmp1", &x, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_alias_by_id(st, chall_id, NULL, NULL, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_alias_rename(st, resnet, "nobody", "challenger", err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_alias_find(st, resnet, "challenger", &x, err), DD_OK, err);   /* untouched */
    CHECK(x == tmp_id);
    CHECK_CODE(dd_alias_rename(st, resnet, "challenger", "a/b", err), DD_INVALID, err);
    /* Delete. */
    CHECK_CODE(dd_alias_delete(st, resnet, "challenger", err), DD_OK, err);
    CHECK_CODE(dd_alias_get(st, resnet, "challenger", &x, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_alias_delete(st, resnet, "challenger", err), DD_NOT_FOUND, err);
    memset(&al, 0, sizeof al);
    CHECK_CODE(dd_alias_list(st, resnet, collect_alias, &al, err), DD_OK, err);
    CHECK(al.count == 1);
    /* Deleting a version removes its aliases and keeps its resource. */
    int64_t v6 = 0;
    CHECK_CODE(dd_version_create(st, resnet, w->ia1, w->ra, NULL, &v6, &n, err), DD_OK, err);
    CHECK(n == 6);
    CHECK_CODE(dd_alias_set(st, resnet, "tmp", v6, err), DD_OK, err);
    CHECK_CODE(dd_version_delete(st, v6, err), DD_OK, err);
    CHECK_CODE(dd_alias_get(st, resnet, "tmp", &x, err), DD_NOT_FOUND, err);
    dd_resource r = {0};
    CHECK_CODE(dd_resource_get(st, w->ra, &r, err), DD_OK, err);
    dd_resource_clear(&r);
    memset(&al, 0, sizeof al);
    CHECK_CODE(dd_alias_list(st, resnet, collect_alias, &al, err), DD_OK, err);
    CHECK(al.count == 1 && strcmp(al.names[0], "champion") == 0);
}

/* ---------------------------------------------------------------- cascades */

/* Row counts of everything under one project, through the list functions. */
typedef struct census {
    int experiments, iterations, params, points, series, resources, tags, models, versions,
        aliases, perms;
} census;

static census take_census(dd_store *st, int64_t proj, int64_t exp, int64_t it, int64_t model)
{
    census c = {0};
    dd_experiment_list(st, proj, count_any_experiment, &c.experiments, NULL);
    dd_iteration_list(st, exp, count_any_iteration, &c.iterations, NULL);
    dd_param_list(st, it, count_any_param, &c.params, NULL);
    dd_metric_read(st, it, "loss", false, 0, 0, count_any_metric, &c.points, NULL);
    dd_metric_series_list(st, it, count_any_series, &c.series, NULL);
    dd_resource_list(st, exp, count_any_resource, &c.resources, NULL);
    dd_tag_list(st, DD_TAG_EXPERIMENT, exp, count_any_tag, &c.tags, NULL);
    dd_tag_list(st, DD_TAG_ITERATION, it, count_any_tag, &c.tags, NULL);
    dd_tag_list(st, DD_TAG_PROJECT, proj, count_any_tag, &c.tags, NULL);
    dd_model_list(st, proj, count_any_model, &c.models, NULL);
    dd_version_list(st, model, count_any_version, &c.versions, NULL);
    dd_alias_list(st, model, count_any_alias, &c.aliases, NULL);
    dd_permission_list(st, 0, proj, count_any_perm, &c.perms, NULL);
    return c;
}

static bool census_eq(census a, census b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

static int trash_count(dd_store *st)
{
    int n = 0;
    return dd_trash_list(st, count_any_trash, &n, NULL) == DD_OK ? n : -1;
}

static void test_cascades(dd_store *st, const world *w, int64_t resnet)
{
    dd_err err_buf = {0}, *err = &err_buf;
    int64_t pc = 0, ec = 0, ic1 = 0, ic2 = 0, rc1 = 0, rc2 = 0, mc = 0, vc1 = 0, x = 0;
    CHECK_CODE(dd_project_create(st, 0, "cascade", &pc, err), DD_OK, err);
    CHECK_CODE(dd_experiment_create(st, pc, "exp", &ec, err), DD_OK, err);
    CHECK_CODE(dd_iteration_create(st, ec, 0, &ic1, err), DD_OK, err);
    CHECK_CODE(dd_iteration_create(st, ec, ic1, &ic2, err), DD_OK, err);
    const char *keys[] = {"lr", "depth"}, *vals[] = {"0.1", "6"};
    CHECK_CODE(dd_param_set_many(st, ic1, keys, vals, 2, err), DD_OK, err);
    CHECK_CODE(dd_param_set(st, ic2, "lr", "0.2", err), DD_OK, err);
    dd_metric_point pts[3] = {{.value = 1}, {.value = 0.5}, {.value = 0.25}};
    CHECK_CODE(dd_metric_append(st, ic1, "loss", pts, 3, err), DD_OK, err);
    CHECK_CODE(dd_metric_append(st, ic2, "loss", pts, 2, err), DD_OK, err);
    CHECK_CODE(dd_iteration_file_set(st, ic1, "requirements.txt", "x\n", 2, err), DD_OK, err);
    CHECK_CODE(dd_resource_create_inline(st, ec, "weights.bin", "wwww", 4, &rc1, err), DD_OK, err);
    CHECK_CODE(dd_resource_create_external(st, ec, "big.ckpt", "s3", "s3://b/cascade-big", 99,
                                           "00", &rc2, err), DD_OK, err);
    CHECK_CODE(dd_tag_attach(st, DD_TAG_PROJECT, pc, "c-tag", NULL, err), DD_OK, err);
    CHECK_CODE(dd_tag_attach(st, DD_TAG_EXPERIMENT, ec, "c-tag", NULL, err), DD_OK, err);
    CHECK_CODE(dd_tag_attach(st, DD_TAG_ITERATION, ic1, "c-tag", NULL, err), DD_OK, err);
    CHECK_CODE(dd_model_create(st, pc, "cascade-model", NULL, &mc, err), DD_OK, err);
    CHECK_CODE(dd_version_create(st, mc, ic1, rc1, NULL, &vc1, NULL, err), DD_OK, err);
    CHECK_CODE(dd_alias_set(st, mc, "best", vc1, err), DD_OK, err);
    int64_t viewer = 0, viewer_perm = 0;
    CHECK_CODE(dd_user_create(st, "View", "Er", "viewer", "pw", &viewer, err), DD_OK, err);
    CHECK_CODE(dd_permission_create(st, viewer, pc, false, true, false, false, &viewer_perm, err),
               DD_OK, err);

    census before = take_census(st, pc, ec, ic1, mc);
    CHECK(before.experiments == 1 && before.iterations == 2 && before.params == 2 &&
          before.points == 3 && before.series == 1 && before.resources == 2 &&
          before.tags == 3 && before.models == 1 && before.versions == 1 &&
          before.aliases == 1 && before.perms == 2);
    int trash_before = trash_count(st);

    /* A resource used by a version cannot go. */
    CHECK_CODE(dd_resource_delete(st, rc1, err), DD_IN_USE, err);
    dd_resource r = {0};
    CHECK_CODE(dd_resource_get(st, rc1, &r, err), DD_OK, err);
    dd_resource_clear(&r);

    /* Nor can the experiment (cascading or not) or the iteration that produced it. */
    CHECK_CODE(dd_experiment_delete(st, ec, true, err), DD_IN_USE, err);
    CHECK(census_eq(take_census(st, pc, ec, ic1, mc), before));
    CHECK(trash_count(st) == trash_before);
    dd_iteration it = {0};
    CHECK_CODE(dd_iteration_get(st, ic2, &it, err), DD_OK, err);
    CHECK(it.parent_iteration_id == ic1);
    dd_iteration_clear(&it);
    CHECK(dd_experiment_delete(st, ec, false, err) != DD_OK);
    CHECK(census_eq(take_census(st, pc, ec, ic1, mc), before));
    CHECK_CODE(dd_iteration_delete(st, ic1, true, err), DD_IN_USE, err);
    CHECK(census_eq(take_census(st, pc, ec, ic1, mc), before));
    CHECK_CODE(dd_iteration_get(st, ic2, &it, err), DD_OK, err);
    CHECK(it.parent_iteration_id == ic1);
    dd_iteration_clear(&it);
    void *data = NULL;
    size_t len = 0;
    CHECK_CODE(dd_iteration_file_get(st, ic1, "requirements.txt", &data, &len, err), DD_OK, err);
    free(data);
    data = NULL;

    /* dd_delete_check agrees and changes nothing. */
    CHECK_CODE(dd_delete_check(st, DD_TAG_EXPERIMENT, ec, err), DD_IN_USE, err);
    CHECK_CODE(dd_delete_check(st, DD_TAG_ITERATION, ic1, err), DD_IN_USE, err);
    CHECK_CODE(dd_delete_check(st, DD_TAG_ITERATION, ic2, err), DD_OK, err);
    /* a project holding registered versions must have its models deleted first */
    CHECK_CODE(dd_delete_check(st, DD_TAG_PROJECT, pc, err), DD_IN_USE, err);
    CHECK_CODE(dd_delete_check(st, DD_TAG_PROJECT, 999999, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_delete_check(st, DD_TAG_EXPERIMENT, 999999, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_delete_check(st, DD_TAG_ITERATION, 999999, err), DD_NOT_FOUND, err);
    CHECK(census_eq(take_census(st, pc, ec, ic1, mc), before));

    /* An experiment whose resource (not iteration) is used by a version is in use too. */
    int64_t ed = 0, ee = 0, ie = 0, rd = 0, vd = 0;
    CHECK_CODE(dd_experiment_create(st, pc, "data-only", &ed, err), DD_OK, err);
    CHECK_CODE(dd_experiment_create(st, pc, "runs-only", &ee, err), DD_OK, err);
    CHECK_CODE(dd_iteration_create(st, ee, 0, &ie, err), DD_OK, err);
    CHECK_CODE(dd_resource_create_inline(st, ed, "data.bin", "dd", 2, &rd, err), DD_OK, err);
    CHECK_CODE(dd_version_create(st, mc, ie, rd, NULL, &vd, NULL, err), DD_OK, err);
    CHECK_CODE(dd_experiment_delete(st, ed, true, err), DD_IN_USE, err);
    CHECK_CODE(dd_resource_get(st, rd, &r, err), DD_OK, err);
    dd_resource_clear(&r);
    CHECK_CODE(dd_delete_check(st, DD_TAG_EXPERIMENT, ed, err), DD_IN_USE, err);
    /* Once the version no longer links it, the experiment can go. */
    CHECK_CODE(dd_version_set_resource(st, vd, 0, err), DD_OK, err);
    CHECK_CODE(dd_delete_check(st, DD_TAG_EXPERIMENT, ed, err), DD_OK, err);
    CHECK_CODE(dd_experiment_delete(st, ed, true, err), DD_OK, err);
    CHECK_CODE(dd_resource_get(st, rd, &r, err), DD_NOT_FOUND, err);

    /* A non-cascading project delete refuses a non-empty project. */
    before = take_census(st, pc, ec, ic1, mc);
    CHECK(before.experiments == 2 && before.versions == 2);
    CHECK_CODE(dd_project_delete(st, pc, false, err), DD_NOT_EMPTY, err);
    CHECK(census_eq(take_census(st, pc, ec, ic1, mc), before));
    dd_project p = {0};
    CHECK_CODE(dd_project_get(st, pc, &p, err), DD_OK, err);
    dd_project_clear(&p);
    /* ... including one that only holds a model. */
    int64_t pm = 0, mm = 0;
    CHECK_CODE(dd_project_create(st, 0, "models-only", &pm, err), DD_OK, err);
    CHECK_CODE(dd_model_create(st, pm, "lonely-model", NULL, &mm, err), DD_OK, err);
    CHECK_CODE(dd_project_delete(st, pm, false, err), DD_NOT_EMPTY, err);
    dd_model lonely = {0};
    CHECK_CODE(dd_model_get(st, mm, &lonely, err), DD_OK, err);
    dd_model_clear(&lonely);

    /* Model delete: versions and aliases go, resources stay. */
    dd_model_version v = {0};
    CHECK_CODE(dd_model_delete(st, mc, err), DD_OK, err);
    dd_model m = {0};
    CHECK_CODE(dd_model_get(st, mc, &m, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_version_get(st, vc1, &v, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_version_get(st, vd, &v, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_alias_get(st, mc, "best", &x, err), DD_NOT_FOUND, err);
    int n_alias = 0, n_ver = 0;
    CHECK_CODE(dd_alias_list(st, mc, count_any_alias, &n_alias, err), DD_OK, err);
    CHECK_CODE(dd_version_list(st, mc, count_any_version, &n_ver, err), DD_OK, err);
    CHECK(n_alias == 0 && n_ver == 0);
    CHECK_CODE(dd_resource_get(st, rc1, &r, err), DD_OK, err);
    dd_resource_clear(&r);
    CHECK_CODE(dd_model_find(st, "cascade-model", &x, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_model_delete(st, mc, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_iteration_get(st, ic1, &it, err), DD_OK, err);
    dd_iteration_clear(&it);

    /* Register again, then a cascading project delete removes everything. */
    int64_t mc2 = 0, vc2 = 0;
    CHECK_CODE(dd_model_create(st, pc, "cascade-model-2", NULL, &mc2, err), DD_OK, err);
    CHECK_CODE(dd_version_create(st, mc2, ic1, rc1, NULL, &vc2, NULL, err), DD_OK, err);
    CHECK_CODE(dd_alias_set(st, mc2, "best", vc2, err), DD_OK, err);
    CHECK_CODE(dd_version_set_stage(st, vc2, DD_STAGE_PRODUCTION, err), DD_OK, err);
    int64_t series_id = 0;
    dd_metric_series ms;
    char tsb[DD_TS_LEN];
    CHECK_CODE(dd_metric_series_get(st, ic1, "loss", &ms, tsb, err), DD_OK, err);
    series_id = ms.id;
    int64_t param_id = 0;
    CHECK_CODE(dd_param_find(st, ic1, "lr", &param_id, err), DD_OK, err);
    trash_before = trash_count(st);

    CHECK_CODE(dd_project_delete(st, pc, true, err), DD_OK, err);
    CHECK_CODE(dd_project_get(st, pc, &p, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_project_find(st, "cascade", &x, err), DD_NOT_FOUND, err);
    dd_experiment e = {0};
    CHECK_CODE(dd_experiment_get(st, ec, &e, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_experiment_get(st, ee, &e, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_iteration_get(st, ic1, &it, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_iteration_get(st, ic2, &it, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_iteration_get(st, ie, &it, err), DD_NOT_FOUND, err);
    char *val = NULL;
    CHECK_CODE(dd_param_get(st, ic1, "lr", &val, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_param_get(st, ic2, "lr", &val, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_param_get_by_id(st, param_id, NULL, NULL, NULL, NULL, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_metric_series_get(st, ic1, "loss", &ms, tsb, err), DD_NOT_FOUND, err);
    char *skey = NULL;
    CHECK_CODE(dd_metric_series_by_id(st, series_id, &ms, &skey, tsb, err), DD_NOT_FOUND, err);
    int npts = 0;
    CHECK_CODE(dd_metric_read(st, ic1, "loss", false, 0, 0, count_any_metric, &npts, err), DD_OK,
               err);
    CHECK(npts == 0);
    CHECK_CODE(dd_iteration_file_get(st, ic1, "requirements.txt", &data, &len, err), DD_NOT_FOUND,
               err);
    CHECK_CODE(dd_resource_get(st, rc1, &r, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_resource_get(st, rc2, &r, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_model_get(st, mc2, &m, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_version_get(st, vc2, &v, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_alias_get(st, mc2, "best", &x, err), DD_NOT_FOUND, err);
    int64_t ent = 0;
    CHECK_CODE(dd_tag_link_find(st, DD_TAG_PROJECT, pc, "c-tag", &ent, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_tag_link_find(st, DD_TAG_EXPERIMENT, ec, "c-tag", &ent, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_tag_link_find(st, DD_TAG_ITERATION, ic1, "c-tag", &ent, err), DD_NOT_FOUND, err);
    census after = take_census(st, pc, ec, ic1, mc2);
    census zero = {0};
    CHECK(census_eq(after, zero));
    int viewer_perms = 0;
    CHECK_CODE(dd_permission_list(st, viewer, 0, count_any_perm, &viewer_perms, err), DD_OK, err);
    CHECK(viewer_perms == 0);
    dd_user vu = {0};
    CHECK_CODE(dd_user_get(st, viewer, &vu, err), DD_OK, err);   /* the user stays */
    dd_user_clear(&vu);
    /* The external bytes were queued. */
    CHECK(trash_count(st) == trash_before + 1);
    CHECK_CODE(dd_project_delete(st, pc, true, err), DD_NOT_FOUND, err);

    /* Other projects are untouched. */
    CHECK_CODE(dd_model_get(st, resnet, &m, err), DD_OK, err);
    dd_model_clear(&m);
    CHECK_CODE(dd_iteration_get(st, w->ia1, &it, err), DD_OK, err);
    dd_iteration_clear(&it);
    CHECK_CODE(dd_resource_get(st, w->ra, &r, err), DD_OK, err);
    dd_resource_clear(&r);
    CHECK(count_stage(st, resnet, DD_STAGE_STAGING) == 3);

    /* A project holding only a model cascades too. */
    CHECK_CODE(dd_project_delete(st, pm, true, err), DD_OK, err);
    CHECK_CODE(dd_model_get(st, mm, &m, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_model_find(st, "lonely-model", &x, err), DD_NOT_FOUND, err);
    /* Names are free again. */
    CHECK_CODE(dd_project_create(st, 0, "cascade", &x, err), DD_OK, err);
    CHECK_CODE(dd_model_create(st, x, "cascade-model-2", NULL, &x, err), DD_OK, err);
}

/* ---------------------------------------------------------------- stage history */

typedef struct hist_rows {
    int count;
    dd_stage_change rows[MAXROWS];
    char users[MAXROWS][32];
} hist_rows;

static int collect_change(void *ctx, const dd_stage_change *ch)
{
    hist_rows *h = ctx;
    if (h->count < MAXROWS) {
        h->rows[h->count] = *ch;
        snprintf(h->users[h->count], 32, "%s", ch->username ? ch->username : "-");
        h->rows[h->count].username = NULL;
    }
    h->count++;
    return 0;
}

/* The whole history of `model` (newest first), and its total. */
static int64_t history(dd_store *st, int64_t model, hist_rows *h)
{
    dd_err err_buf = {0}, *err = &err_buf;
    int64_t total = -1;
    memset(h, 0, sizeof *h);
    CHECK_CODE(dd_stage_history(st, model, MAXROWS, 0, collect_change, h, &total, err), DD_OK,
               err);
    CHECK(total == h->count);
    return total;
}

/* Row i of h is version row `vid` going from `from` (0: registered) to `to` by `user`
 * ("-": not known). */
static void check_change(const hist_rows *h, int i, int64_t vid, int from, int to,
                         const char *user)
{
    CHECK(i < h->count);
    if (i >= h->count)
        return;
    CHECK(h->rows[i].version_id == vid);
    CHECK(h->rows[i].from_stage == from);
    CHECK(h->rows[i].to_stage == to);
    CHECK_STR(h->users[i], user);
    CHECK(is_canonical_ts(h->rows[i].changed_at));
    if (i + 1 < h->count) {   /* newest first */
        CHECK(h->rows[i].id > h->rows[i + 1].id);
        CHECK(strcmp(h->rows[i].changed_at, h->rows[i + 1].changed_at) >= 0);
    }
}

typedef struct promote_then_fail {
    int64_t version;
} promote_then_fail;

/* A PATCH whose later field fails: the promotion before it must leave no trace. */
static dd_code promote_then_fail_fn(dd_store *st, void *ctx, dd_err *err)
{
    promote_then_fail *a = ctx;
    dd_code code = dd_version_set_stage_as(st, a->version, DD_STAGE_PRODUCTION, 0, err);
    return code == DD_OK ? dd_version_set_resource(st, a->version, 999999, err) : code;
}

static void test_stage_history(dd_store *st, const world *w)
{
    dd_err err_buf = {0}, *err = &err_buf;
    int64_t model = 0, other = 0, ann = 0, v1 = 0, v2 = 0, v3 = 0, n = 0;
    hist_rows h;
    CHECK_CODE(dd_model_create(st, w->pa, "hist-model", NULL, &model, err), DD_OK, err);
    CHECK_CODE(dd_model_create(st, w->pa, "hist-other", NULL, &other, err), DD_OK, err);
    CHECK_CODE(dd_user_create(st, "Ann", "Lee", "hist-ann", "pw-ann-1", &ann, err), DD_OK, err);
    CHECK(history(st, model, &h) == 0);
    CHECK_CODE(dd_stage_history(st, 999999, 10, 0, collect_change, &h, NULL, err), DD_NOT_FOUND,
               err);

    /* registration: none -> NO_STAGE, by whom the caller says */
    CHECK_CODE(dd_version_create_as(st, model, w->ia1, 0, NULL, ann, &v1, &n, err), DD_OK, err);
    CHECK_CODE(dd_version_create(st, model, w->ia2, 0, NULL, &v2, &n, err), DD_OK, err);
    CHECK(history(st, model, &h) == 2);
    check_change(&h, 0, v2, 0, DD_STAGE_NONE, "-");
    check_change(&h, 1, v1, 0, DD_STAGE_NONE, "hist-ann");
    CHECK(h.rows[0].version == 2 && h.rows[1].version == 1 && h.rows[0].model_id == model);

    /* a promotion over an incumbent records both: the archive, then the promotion */
    CHECK_CODE(dd_version_set_stage_as(st, v1, DD_STAGE_PRODUCTION, ann, err), DD_OK, err);
    CHECK_CODE(dd_version_set_stage(st, v2, DD_STAGE_PRODUCTION, err), DD_OK, err);
    CHECK(history(st, model, &h) == 5);
    check_change(&h, 0, v2, DD_STAGE_NONE, DD_STAGE_PRODUCTION, "-");
    check_change(&h, 1, v1, DD_STAGE_PRODUCTION, DD_STAGE_ARCHIVED, "-");
    check_change(&h, 2, v1, DD_STAGE_NONE, DD_STAGE_PRODUCTION, "hist-ann");
    CHECK_STR(h.rows[0].changed_at, h.rows[1].changed_at);   /* one transaction */

    /* the stage it has already: no change, nothing recorded; STAGING archives nobody */
    CHECK_CODE(dd_version_set_stage_as(st, v2, DD_STAGE_PRODUCTION, ann, err), DD_OK, err);
    CHECK(history(st, model, &h) == 5);
    CHECK_CODE(dd_version_set_stage_as(st, v1, DD_STAGE_STAGING, ann, err), DD_OK, err);
    CHECK(history(st, model, &h) == 6);
    check_change(&h, 0, v1, DD_STAGE_ARCHIVED, DD_STAGE_STAGING, "hist-ann");

    /* refused changes record nothing: a bad stage, an unknown version, and a promotion
     * whose transaction fails after it (it archived the incumbent and recorded both) */
    CHECK_CODE(dd_version_set_stage_as(st, v1, 9, ann, err), DD_INVALID, err);
    CHECK_CODE(dd_version_set_stage_as(st, 999999, DD_STAGE_STAGING, ann, err), DD_NOT_FOUND,
               err);
    promote_then_fail a = {v1};
    CHECK(dd_store_atomic(st, promote_then_fail_fn, &a, err) != DD_OK);
    CHECK(history(st, model, &h) == 6);
    dd_model_version v = {0};
    CHECK_CODE(dd_version_get(st, v2, &v, err), DD_OK, err);
    CHECK(v.stage_id == DD_STAGE_PRODUCTION);
    dd_version_clear(&v);
    /* a refused registration records nothing either */
    CHECK_CODE(dd_version_create_as(st, model, w->ib1, 0, NULL, ann, &v3, &n, err), DD_INVALID,
               err);
    CHECK(history(st, model, &h) == 6);

    /* pages: newest first, bounded, the total of them all */
    int64_t total = 0;
    hist_rows page = {0};
    CHECK_CODE(dd_stage_history(st, model, 2, 1, collect_change, &page, &total, err), DD_OK, err);
    CHECK(total == 6 && page.count == 2);
    CHECK(page.rows[0].id == h.rows[1].id && page.rows[1].id == h.rows[2].id);
    memset(&page, 0, sizeof page);
    CHECK_CODE(dd_stage_history(st, model, 0, 100, collect_change, &page, &total, err), DD_OK,
               err);
    CHECK(total == 6 && page.count == 0);
    memset(&page, 0, sizeof page);
    CHECK_CODE(dd_stage_history(st, model, 0, 0, collect_change, &page, &total, err), DD_OK, err);
    CHECK(page.count == 1);   /* limit clamped to at least one row */

    /* another model's history is its own */
    CHECK_CODE(dd_version_create(st, other, w->ia1, 0, NULL, &v3, &n, err), DD_OK, err);
    CHECK(history(st, other, &h) == 1);
    check_change(&h, 0, v3, 0, DD_STAGE_NONE, "-");

    /* a deleted user's changes stay, without the name */
    CHECK_CODE(dd_user_delete(st, ann, err), DD_OK, err);
    CHECK(history(st, model, &h) == 6);
    check_change(&h, 0, v1, DD_STAGE_ARCHIVED, DD_STAGE_STAGING, "-");
    CHECK(h.rows[0].user_id == 0);

    /* deleting a version removes its history, the model's other rows stay */
    CHECK_CODE(dd_version_delete(st, v1, err), DD_OK, err);
    CHECK(history(st, model, &h) == 2);
    check_change(&h, 0, v2, DD_STAGE_NONE, DD_STAGE_PRODUCTION, "-");
    check_change(&h, 1, v2, 0, DD_STAGE_NONE, "-");
    /* deleting the model removes the rest; the other model keeps its own */
    CHECK_CODE(dd_model_delete(st, model, err), DD_OK, err);
    CHECK_CODE(dd_stage_history(st, model, 10, 0, collect_change, &h, NULL, err), DD_NOT_FOUND,
               err);
    CHECK(history(st, other, &h) == 1);
    CHECK_CODE(dd_model_delete(st, other, err), DD_OK, err);

    /* a project's cascade takes its models' history along (a row left behind would break
     * its foreign key to the version: both engines refuse the delete then) */
    int64_t p = 0, e = 0, it = 0, m = 0, ver = 0;
    CHECK_CODE(dd_project_create(st, 0, "hist-proj", &p, err), DD_OK, err);
    CHECK_CODE(dd_experiment_create(st, p, "train", &e, err), DD_OK, err);
    CHECK_CODE(dd_iteration_create(st, e, 0, &it, err), DD_OK, err);
    CHECK_CODE(dd_model_create(st, p, "hist-proj-model", NULL, &m, err), DD_OK, err);
    CHECK_CODE(dd_version_create(st, m, it, 0, NULL, &ver, &n, err), DD_OK, err);
    CHECK_CODE(dd_version_set_stage(st, ver, DD_STAGE_PRODUCTION, err), DD_OK, err);
    CHECK(history(st, m, &h) == 2);
    CHECK_CODE(dd_project_delete(st, p, true, err), DD_OK, err);
    CHECK_CODE(dd_stage_history(st, m, 10, 0, collect_change, &h, NULL, err), DD_NOT_FOUND, err);
}

int main(void)
{
    char path[1024];
    dd_test_locator(path, sizeof path, "store_registry");
    dd_err err_buf = {0}, *err = &err_buf;
    dd_store *st = NULL;
    CHECK_CODE(dd_store_open(path, NULL, &st, err), DD_OK, err);
    if (!st)
        return dd_test_done();
    world w;
    make_world(st, &w);
    int64_t resnet = 0, bert = 0;
    test_models(st, &w, &resnet, &bert);
    test_versions(st, &w, resnet, bert);
    test_stage_history(st, &w);
    test_cascades(st, &w, resnet);
    CHECK_CODE(dd_store_check_integrity(st, err), DD_OK, err);
    dd_store_close(st);
    return dd_test_done();
}
