/*
 * models.c - the model registry: models, their versions and aliases.
 *
 * Version numbers come from model.last_version, bumped in the registering transaction, so
 * concurrent registrations get distinct increasing numbers and a deleted number is never
 * handed out again. Promotion to PRODUCTION archives the incumbent in the same
 * transaction; a partial unique index makes two PRODUCTION versions impossible anyway.
 * Every stage a version takes (its first at registration, each change after, the archiving
 * of an incumbent) is recorded in stage_change by the transaction that makes it, here and
 * nowhere else, so no caller can change a stage without its history.
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "store_local.h"

#define MODEL_COLS "id, project_id, name, description, created_date, updated_date, last_version"
#define VERSION_COLS "id, model_id, version, iteration_id, resource_id, stage_id, description," \
                     " created_date, updated_date"

static void model_from_row(db_stmt *s, dd_model *m, bool copy)
{
    m->id = db_col_int64(s, 0);
    m->project_id = db_col_int64(s, 1);
    m->name = copy ? db_col_dup(s, 2) : (char *)db_col_text(s, 2);
    m->description = copy ? db_col_dup(s, 3) : (char *)db_col_text(s, 3);
    db_col_ts(s, 4, m->created_date);
    db_col_ts(s, 5, m->updated_date);
    m->last_version = db_col_int64(s, 6);
}

static void version_from_row(db_stmt *s, dd_model_version *v, bool copy)
{
    v->id = db_col_int64(s, 0);
    v->model_id = db_col_int64(s, 1);
    v->version = db_col_int64(s, 2);
    v->iteration_id = db_col_int64(s, 3);
    v->resource_id = db_col_int64(s, 4);
    v->stage_id = db_col_int(s, 5);
    v->description = copy ? db_col_dup(s, 6) : (char *)db_col_text(s, 6);
    db_col_ts(s, 7, v->created_date);
    db_col_ts(s, 8, v->updated_date);
}

void dd_model_clear(dd_model *m)
{
    if (!m)
        return;
    free(m->name);
    free(m->description);
    memset(m, 0, sizeof *m);
}

void dd_version_clear(dd_model_version *v)
{
    if (!v)
        return;
    free(v->description);
    memset(v, 0, sizeof *v);
}

/* ---------------------------------------------------------------- models */

dd_code local_model_create(dd_store *st, int64_t project_id, const char *name,
                        const char *description, int64_t *id_out, dd_err *err)
{
    dd_code code = dd_name_check(name, "model name", err);
    if (code != DD_OK)
        return code;
    int64_t id = 0;
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        int64_t n = 0;
        code = db_lock(c, DB_LOCK_SHARE, DB_T_PROJECT, project_id, err);
        if (code == DD_OK)
            code = db_int(c, &n, err, "project", "SELECT id FROM project WHERE id = ?", "i",
                          project_id);
        char now[DD_TS_LEN];
        dd_now(now);
        id = 0;
        if (code == DD_OK) {
            code = db_insert_id(c, &id, err, "model",
                                "INSERT INTO model(project_id, name, description, created_date)"
                                " VALUES (?, ?, ?, ?) RETURNING id", "ittt", project_id, name,
                                description ? description : "", now);
            if (code == DD_CONFLICT)
                dd_fail(err, code, "model \"%s\" already exists in the registry", name);
        }
        t.code = code;
    }
    if (t.code == DD_OK && id_out)
        *id_out = id;
    return t.code;
}

dd_code local_model_get(dd_store *st, int64_t id, dd_model *out, dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    memset(out, 0, sizeof *out);
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT " MODEL_COLS " FROM model WHERE id = ?", "i", id);
    if (code != DD_OK)
        return code;
    bool row;
    code = db_step(c, s, &row, "reading a model", err);
    if (code == DD_OK && !row)
        code = dd_fail(err, DD_NOT_FOUND, "model %lld not found", (long long)id);
    if (code == DD_OK)
        model_from_row(s, out, true);
    db_reset(s);
    return code;
}

dd_code local_model_find(dd_store *st, const char *name, int64_t *id_out, dd_err *err)
{
    dd_conn *c;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_int(c, id_out, err, "model", "SELECT id FROM model WHERE name = ?", "t",
                      name ? name : "");
    if (code == DD_NOT_FOUND)
        dd_fail(err, code, "model \"%s\" not found", name ? name : "");
    return code;
}

static int model_row(db_stmt *s, void *arg)
{
    db_list_ctx *l = arg;
    dd_model m;
    model_from_row(s, &m, false);
    return ((dd_model_cb)l->cb)(l->ctx, &m);
}

dd_code local_model_list(dd_store *st, int64_t project_id, dd_model_cb cb, void *ctx, dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    dd_code code = db_conn(st, &c, err);
    if (code != DD_OK)
        return code;
    code = project_id
        ? db_prep(c, &s, err, "SELECT " MODEL_COLS " FROM model WHERE project_id = ? ORDER BY id",
                  "i", project_id)
        : db_prep(c, &s, err, "SELECT " MODEL_COLS " FROM model ORDER BY id", NULL);
    db_list_ctx l = {(void *)cb, ctx};
    return code == DD_OK ? db_each(c, s, "listing models", model_row, &l, err) : code;
}

/* A model row with its project's name (MODEL_PROJECT_SELECT), counted in *rows. */
typedef struct model_project_ctx {
    dd_model_project_cb cb;
    void *ctx;
    int rows;
} model_project_ctx;

#define MODEL_PROJECT_SELECT "SELECT m.id, m.project_id, m.name, m.description," \
    " m.created_date, m.updated_date, m.last_version, p.name" \
    " FROM model m JOIN project p ON p.id = m.project_id"

static int model_project_row(db_stmt *s, void *arg)
{
    model_project_ctx *l = arg;
    dd_model m;
    model_from_row(s, &m, false);
    l->rows++;
    return l->cb(l->ctx, &m, db_col_text(s, 7));
}

dd_code local_model_list_with_project(dd_store *st, dd_model_project_cb cb, void *ctx,
                                   dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, MODEL_PROJECT_SELECT " ORDER BY m.id", NULL);
    model_project_ctx l = {cb, ctx, 0};
    return code == DD_OK ? db_each(c, s, "listing models", model_project_row, &l, err) : code;
}

dd_code local_model_find_with_project(dd_store *st, const char *name, dd_model_project_cb cb,
                                   void *ctx, dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, MODEL_PROJECT_SELECT " WHERE m.name = ?", "t",
                       name ? name : "");
    model_project_ctx l = {cb, ctx, 0};
    if (code == DD_OK)
        code = db_each(c, s, "reading a model", model_project_row, &l, err);
    if (code == DD_OK && l.rows == 0)
        code = dd_fail(err, DD_NOT_FOUND, "model \"%s\" not found", name ? name : "");
    return code;
}

dd_code local_model_rename(dd_store *st, int64_t id, const char *name, dd_err *err)
{
    dd_code code = dd_name_check(name, "model name", err);
    if (code == DD_OK)
        code = db_update_text_ts(st, "UPDATE model SET name = ?, updated_date = ?"
                             " WHERE id = ?", id, name, "model", err);
    if (code == DD_CONFLICT)
        dd_fail(err, code, "model \"%s\" already exists in the registry", name);
    return code;
}

dd_code local_model_set_description(dd_store *st, int64_t id, const char *description,
                                 dd_err *err)
{
    return db_update_text_ts(st, "UPDATE model SET description = ?, updated_date = ?"
                             " WHERE id = ?", id, description, "model", err);
}

static const char *const model_delete_sql[] = {
    "DELETE FROM stage_change WHERE model_id = ?",
    "DELETE FROM model_alias WHERE model_id = ?",
    "DELETE FROM model_version WHERE model_id = ?",
    "DELETE FROM model WHERE id = ?",
};

dd_code local_model_delete(dd_store *st, int64_t id, dd_err *err)
{
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        dd_code code = db_lock(c, DB_LOCK_DELETE, DB_T_MODEL, id, err);
        for (size_t i = 0; i < sizeof model_delete_sql / sizeof *model_delete_sql && code == DD_OK;
             i++)
            code = db_exec(c, err, "deleting a model", model_delete_sql[i], "i", id);
        if (code == DD_OK && db_changes(c) == 0)
            code = dd_fail(err, DD_NOT_FOUND, "model %lld not found", (long long)id);
        t.code = code;
    }
    return t.code;
}

/* ---------------------------------------------------------------- versions */

/* Inside the write transaction that makes the change: version `version_id` of `model_id`
 * went from stage `from` (0: it was registered) to `to` at `now`, by DearDiary user
 * `user_id` (0: not known). */
static dd_code stage_change_add(dd_conn *c, int64_t model_id, int64_t version_id, int from,
                                int to, int64_t user_id, const char *now, dd_err *err)
{
    return db_exec(c, err, "recording a stage change",
                   "INSERT INTO stage_change(model_id, model_version_id, from_stage_id,"
                   " to_stage_id, changed_at, user_id) VALUES (?, ?, ?, ?, ?, ?)",
                   "iiIntI", model_id, version_id, (int64_t)from, to, now, user_id);
}

/* Inside a write transaction: iteration and resource exist and share the model's project. */
static dd_code version_lineage_ok(dd_conn *c, int64_t model_project, int64_t iteration_id,
                                  int64_t resource_id, dd_err *err)
{
    int64_t p = 0;
    dd_code code = DD_OK;
    if (iteration_id) {
        code = db_project_of_iteration(c, iteration_id, &p, err);
        if (code == DD_OK && p != model_project)
            code = dd_fail(err, DD_INVALID, "iteration %lld belongs to another project",
                           (long long)iteration_id);
    }
    if (code == DD_OK && resource_id) {
        code = db_project_of_resource(c, resource_id, &p, err);
        if (code == DD_OK && p != model_project)
            code = dd_fail(err, DD_INVALID, "resource %lld belongs to another project",
                           (long long)resource_id);
    }
    return code;
}

dd_code dd_version_create(dd_store *st, int64_t model_id, int64_t iteration_id,
                          int64_t resource_id, const char *description, int64_t *id_out,
                          int64_t *version_out, dd_err *err)
{
    return dd_version_create_as(st, model_id, iteration_id, resource_id, description, 0, id_out,
                                version_out, err);
}

dd_code local_version_create_as(dd_store *st, int64_t model_id, int64_t iteration_id,
                             int64_t resource_id, const char *description, int64_t user_id,
                             int64_t *id_out, int64_t *version_out, dd_err *err)
{
    if (!iteration_id)
        return dd_fail(err, DD_INVALID, "a model version needs the iteration that produced it");
    int64_t id = 0, number = 0;
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        int64_t project = 0;
        id = number = 0;
        /* the model before its counter bump, the lineage rows before they are checked */
        dd_code code = db_lock(c, DB_LOCK_UPDATE, DB_T_MODEL, model_id, err);
        if (code == DD_OK)
            code = db_lock(c, DB_LOCK_SHARE, DB_T_ITERATION, iteration_id, err);
        if (code == DD_OK && resource_id)
            code = db_lock(c, DB_LOCK_SHARE, DB_T_RESOURCE, resource_id, err);
        if (code == DD_OK)
            code = db_int(c, &project, err, "model", "SELECT project_id FROM model WHERE id = ?",
                          "i", model_id);
        if (code == DD_OK)
            code = version_lineage_ok(c, project, iteration_id, resource_id, err);
        if (code == DD_OK)
            code = db_int(c, &number, err, "model",
                          "UPDATE model SET last_version = last_version + 1 WHERE id = ?"
                          " RETURNING last_version", "i", model_id);
        char now[DD_TS_LEN];
        dd_now(now);
        if (code == DD_OK)
            code = db_insert_id(c, &id, err, "model version",
                                "INSERT INTO model_version(model_id, version, iteration_id,"
                                " resource_id, stage_id, description, created_date)"
                                " VALUES (?, ?, ?, ?, 1, ?, ?) RETURNING id",
                                "iiiItt", model_id, number, iteration_id, resource_id,
                                description ? description : "", now);
        if (code == DD_OK)
            code = stage_change_add(c, model_id, id, 0, DD_STAGE_NONE, user_id, now, err);
        t.code = code;
    }
    dd_code code = t.code;
    if (code == DD_OK) {
        if (id_out)
            *id_out = id;
        if (version_out)
            *version_out = number;
    }
    return code;
}

dd_code local_version_get(dd_store *st, int64_t id, dd_model_version *out, dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    memset(out, 0, sizeof *out);
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT " VERSION_COLS " FROM model_version WHERE id = ?",
                       "i", id);
    if (code != DD_OK)
        return code;
    bool row;
    code = db_step(c, s, &row, "reading a model version", err);
    if (code == DD_OK && !row)
        code = dd_fail(err, DD_NOT_FOUND, "model version %lld not found", (long long)id);
    if (code == DD_OK)
        version_from_row(s, out, true);
    db_reset(s);
    return code;
}

dd_code local_version_find(dd_store *st, int64_t model_id, int64_t version, int64_t *id_out,
                        dd_err *err)
{
    dd_conn *c;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_int(c, id_out, err, "model version",
                      "SELECT id FROM model_version WHERE model_id = ? AND version = ?", "ii",
                      model_id, version);
    if (code == DD_NOT_FOUND)
        dd_fail(err, code, "version %lld not found", (long long)version);
    return code;
}

dd_code local_version_find_stage(dd_store *st, int64_t model_id, int stage, int64_t *id_out,
                              dd_err *err)
{
    dd_conn *c;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_int(c, id_out, err, "model version",
                      "SELECT id FROM model_version WHERE model_id = ? AND stage_id = ?"
                      " ORDER BY version DESC LIMIT 1", "in", model_id, stage);
    if (code == DD_NOT_FOUND)
        dd_fail(err, code, "no version in stage %s", dd_stage_name(stage) ? dd_stage_name(stage)
                                                                              : "?");
    return code;
}

static int version_row(db_stmt *s, void *arg)
{
    db_list_ctx *l = arg;
    dd_model_version v;
    version_from_row(s, &v, false);
    return ((dd_version_cb)l->cb)(l->ctx, &v);
}

dd_code local_version_list(dd_store *st, int64_t model_id, dd_version_cb cb, void *ctx,
                        dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT " VERSION_COLS " FROM model_version WHERE model_id = ?"
                       " ORDER BY version", "i", model_id);
    db_list_ctx l = {(void *)cb, ctx};
    return code == DD_OK ? db_each(c, s, "listing model versions", version_row, &l, err) : code;
}

dd_code dd_version_set_stage(dd_store *st, int64_t id, int stage, dd_err *err)
{
    return dd_version_set_stage_as(st, id, stage, 0, err);
}

dd_code local_version_set_stage_as(dd_store *st, int64_t id, int stage, int64_t user_id,
                                dd_err *err)
{
    if (!dd_stage_name(stage))
        return dd_fail(err, DD_INVALID, "%d is not a stage", stage);
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        char now[DD_TS_LEN];
        dd_now(now);
        int64_t model_id = 0;
        /* the model's lock serialises promotions of its versions; the version is read
         * again under it (deleted meanwhile: not found) */
        dd_code code = db_int(c, &model_id, err, "model version",
                              "SELECT model_id FROM model_version WHERE id = ?", "i", id);
        if (code == DD_OK)
            code = db_lock(c, DB_LOCK_UPDATE, DB_T_MODEL, model_id, err);
        if (code == DD_OK)
            code = db_int(c, &model_id, err, "model version",
                          "SELECT model_id FROM model_version WHERE id = ?", "i", id);
        /* the history first, from the stages the rows leave, in one statement: the
         * incumbent a promotion archives (its row first: it left PRODUCTION before the
         * version took it), then the version unless it has that stage already (no change) */
        if (code == DD_OK)
            code = db_exec(c, err, "recording a stage change",
                           "INSERT INTO stage_change(model_id, model_version_id, from_stage_id,"
                           " to_stage_id, changed_at, user_id)"
                           " SELECT model_id, id, stage_id, CASE WHEN id = ?1 THEN ?2 ELSE 4 END,"
                           " ?3, ?4 FROM model_version"
                           " WHERE (id = ?1 AND stage_id <> ?2) OR (?2 = 3 AND model_id = ?5"
                           " AND stage_id = 3 AND id <> ?1)"
                           " ORDER BY CASE WHEN id = ?1 THEN 1 ELSE 0 END, id",
                           "iitIi", id, (int64_t)stage, now, user_id, model_id);
        if (code == DD_OK && stage == DD_STAGE_PRODUCTION)
            code = db_exec(c, err, "archiving the production version",
                           "UPDATE model_version SET stage_id = 4, updated_date = ?"
                           " WHERE model_id = ? AND stage_id = 3 AND id <> ?", "tii", now, model_id,
                           id);
        if (code == DD_OK)
            code = db_exec(c, err, "model version",
                           "UPDATE model_version SET stage_id = ?, updated_date = ? WHERE id = ?",
                           "nti", stage, now, id);
        t.code = code;
    }
    return t.code;
}

dd_code local_version_set_description(dd_store *st, int64_t id, const char *description,
                                   dd_err *err)
{
    return db_update_text_ts(st, "UPDATE model_version SET description = ?, updated_date = ?"
                             " WHERE id = ?", id, description, "model version", err);
}

dd_code dd_version_set_resource(dd_store *st, int64_t id, int64_t resource_id, dd_err *err)
{
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        int64_t project = 0;
        dd_code code = resource_id ? db_lock(c, DB_LOCK_SHARE, DB_T_RESOURCE, resource_id, err)
                                   : DD_OK;
        if (code == DD_OK)
            code = db_int(c, &project, err, "model version",
                          "SELECT m.project_id FROM model_version v"
                          " JOIN model m ON m.id = v.model_id WHERE v.id = ?", "i", id);
        if (code == DD_OK)
            code = version_lineage_ok(c, project, 0, resource_id, err);
        char now[DD_TS_LEN];
        dd_now(now);
        if (code == DD_OK)
            code = db_exec(c, err, "model version",
                           "UPDATE model_version SET resource_id = ?, updated_date = ? WHERE id = ?",
                           "Iti", resource_id, now, id);
        t.code = code;
    }
    return t.code;
}

dd_code local_version_delete(dd_store *st, int64_t id, dd_err *err)
{
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        /* the model's lock: a delete and a promotion of its versions serialise */
        int64_t model_id = 0;
        dd_code code = db_int(c, &model_id, err, "model version",
                              "SELECT model_id FROM model_version WHERE id = ?", "i", id);
        if (code == DD_NOT_FOUND)
            code = dd_fail(err, code, "model version %lld not found", (long long)id);
        if (code == DD_OK)
            code = db_lock(c, DB_LOCK_UPDATE, DB_T_MODEL, model_id, err);
        if (code == DD_OK)
            code = db_exec(c, err, "model aliases",
                           "DELETE FROM model_alias WHERE version_id = ?", "i", id);
        if (code == DD_OK)
            code = db_exec(c, err, "stage history",
                           "DELETE FROM stage_change WHERE model_version_id = ?", "i", id);
        if (code == DD_OK)
            code = db_exec(c, err, "model version", "DELETE FROM model_version WHERE id = ?", "i", id);
        if (code == DD_OK && db_changes(c) == 0)
            code = dd_fail(err, DD_NOT_FOUND, "model version %lld not found", (long long)id);
        t.code = code;
    }
    return t.code;
}

/* ---------------------------------------------------------------- stage history */

/* The rows of one page, kept until the read transaction is over: the caller's callback
 * runs after it, so a re-run transaction never hands a row out twice. */
typedef struct stage_page {
    dd_stage_change *rows;
    size_t n, cap;
    bool oom;
} stage_page;

static void stage_page_clear(stage_page *p)
{
    for (size_t i = 0; i < p->n; i++)
        free((char *)p->rows[i].username);
    free(p->rows);
    memset(p, 0, sizeof *p);
}

static int stage_change_row(db_stmt *s, void *arg)
{
    stage_page *p = arg;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        dd_stage_change *rows = realloc(p->rows, cap * sizeof *rows);
        if (!rows) {
            p->oom = true;
            return 1;
        }
        p->rows = rows;
        p->cap = cap;
    }
    dd_stage_change *ch = &p->rows[p->n];
    *ch = (dd_stage_change){
        .id = db_col_int64(s, 0),
        .model_id = db_col_int64(s, 1),
        .version_id = db_col_int64(s, 2),
        .version = db_col_int64(s, 3),
        .from_stage = db_col_int(s, 4),
        .to_stage = db_col_int(s, 5),
        .user_id = db_col_int64(s, 7),
        .username = db_col_is_null(s, 8) ? NULL : db_col_dup(s, 8),
    };
    db_col_ts(s, 6, ch->changed_at);
    if (!db_col_is_null(s, 8) && !ch->username) {
        p->oom = true;
        return 1;
    }
    p->n++;
    return 0;
}

dd_code local_stage_history(dd_store *st, int64_t model_id, int64_t limit, int64_t offset,
                         dd_stage_change_cb cb, void *ctx, int64_t *total_out, dd_err *err)
{
    limit = limit < 1 ? 1 : limit > DD_STAGE_HISTORY_MAX ? DD_STAGE_HISTORY_MAX : limit;
    offset = offset < 0 ? 0 : offset;
    int64_t total = 0;
    stage_page page = {0};
    db_txn t;
    /* one snapshot: the count and the page agree even while stages change */
    DB_TXN(t, st, DB_TXN_READ, err) {
        dd_conn *c = t.c;
        db_stmt *s;
        int64_t found = 0;
        total = 0;
        stage_page_clear(&page);
        dd_code code = db_int(c, &found, err, "model", "SELECT id FROM model WHERE id = ?", "i",
                              model_id);
        if (code == DD_NOT_FOUND)
            code = dd_fail(err, code, "model %lld not found", (long long)model_id);
        if (code == DD_OK)
            code = db_int(c, &total, err, "stage history",
                          "SELECT COUNT(*) FROM stage_change WHERE model_id = ?", "i", model_id);
        if (code == DD_OK)
            code = db_prep(c, &s, err,
                           "SELECT h.id, h.model_id, h.model_version_id, v.version,"
                           " h.from_stage_id, h.to_stage_id, h.changed_at, h.user_id, u.username"
                           " FROM stage_change h JOIN model_version v ON v.id = h.model_version_id"
                           " LEFT JOIN \"user\" u ON u.id = h.user_id"
                           " WHERE h.model_id = ? ORDER BY h.id DESC LIMIT ? OFFSET ?",
                           "iii", model_id, limit, offset);
        if (code == DD_OK)
            code = db_each(c, s, "reading the stage history", stage_change_row, &page, err);
        if (code == DD_OK && page.oom)
            code = dd_fail(err, DD_IO, "out of memory reading the stage history");
        t.code = code;
    }
    for (size_t i = 0; t.code == DD_OK && i < page.n; i++)
        if (cb(ctx, &page.rows[i]) != 0)
            break;
    stage_page_clear(&page);
    if (t.code == DD_OK && total_out)
        *total_out = total;
    return t.code;
}

/* ---------------------------------------------------------------- aliases */

dd_code local_alias_set(dd_store *st, int64_t model_id, const char *alias, int64_t version_id,
                     dd_err *err)
{
    dd_code code = dd_name_check(alias, "alias", err);
    if (code != DD_OK)
        return code;
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        int64_t owner = 0;
        code = db_lock(c, DB_LOCK_SHARE, DB_T_MODEL_VERSION, version_id, err);
        if (code == DD_OK)
            code = db_int(c, &owner, err, "model version",
                      "SELECT model_id FROM model_version WHERE id = ?", "i", version_id);
        if (code == DD_OK && owner != model_id)
            code = dd_fail(err, DD_INVALID, "an alias must point at a version of its own model");
        if (code == DD_OK)
            code = db_exec(c, err, "alias",
                           "INSERT INTO model_alias(model_id, alias, version_id) VALUES (?, ?, ?)"
                           " ON CONFLICT(model_id, alias) DO UPDATE SET version_id = excluded.version_id",
                           "iti", model_id, alias, version_id);
        t.code = code;
    }
    return t.code;
}

/* One integer column of the alias (model_id, alias), with a "not found" message. */
static dd_code alias_int(dd_store *st, const char *sql, int64_t model_id, const char *alias,
                         int64_t *out, dd_err *err)
{
    dd_conn *c;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_int(c, out, err, "alias", sql, "it", model_id, alias ? alias : "");
    if (code == DD_NOT_FOUND)
        dd_fail(err, code, "alias \"%s\" not found", alias ? alias : "");
    return code;
}

dd_code dd_alias_get(dd_store *st, int64_t model_id, const char *alias, int64_t *version_id_out,
                     dd_err *err)
{
    return alias_int(st, "SELECT version_id FROM model_alias WHERE model_id = ? AND alias = ?",
                     model_id, alias, version_id_out, err);
}

dd_code local_alias_find(dd_store *st, int64_t model_id, const char *alias, int64_t *id_out,
                      dd_err *err)
{
    return alias_int(st, "SELECT id FROM model_alias WHERE model_id = ? AND alias = ?",
                     model_id, alias, id_out, err);
}

dd_code local_alias_by_id(dd_store *st, int64_t id, int64_t *model_id_out,
                       int64_t *version_id_out, dd_err *err)
{
    dd_conn *c;
    int64_t model = 0, version = 0;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_int(c, &model, err, "alias", "SELECT model_id FROM model_alias WHERE id = ?",
                      "i", id);
    if (code == DD_OK)
        code = db_int(c, &version, err, "alias",
                      "SELECT version_id FROM model_alias WHERE id = ?", "i", id);
    if (code == DD_OK && model_id_out)
        *model_id_out = model;
    if (code == DD_OK && version_id_out)
        *version_id_out = version;
    return code;
}

dd_code local_alias_rename(dd_store *st, int64_t model_id, const char *from, const char *to,
                        dd_err *err)
{
    dd_code code = dd_name_check(to, "alias", err);
    if (code != DD_OK)
        return code;
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        code = db_exec(c, err, "alias", "DELETE FROM model_alias WHERE model_id = ? AND alias = ?",
                       "it", model_id, to);
        if (code == DD_OK)
            code = db_exec(c, err, "alias",
                           "UPDATE model_alias SET alias = ? WHERE model_id = ? AND alias = ?",
                           "tit", to, model_id, from);
        if (code == DD_OK && db_changes(c) == 0)
            code = dd_fail(err, DD_NOT_FOUND, "alias \"%s\" not found", from);
        t.code = code;
    }
    return t.code;
}

static int alias_row(db_stmt *s, void *arg)
{
    db_list_ctx *l = arg;
    return ((dd_alias_cb)l->cb)(l->ctx, db_col_int64(s, 3), db_col_text(s, 0),
                                db_col_int64(s, 1), db_col_int64(s, 2));
}

dd_code local_alias_list(dd_store *st, int64_t model_id, dd_alias_cb cb, void *ctx, dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT a.alias, a.version_id, v.version, a.id FROM model_alias a"
                       " JOIN model_version v ON v.id = a.version_id WHERE a.model_id = ?"
                       " ORDER BY a.alias", "i", model_id);
    db_list_ctx l = {(void *)cb, ctx};
    return code == DD_OK ? db_each(c, s, "listing aliases", alias_row, &l, err) : code;
}

dd_code local_alias_delete(dd_store *st, int64_t model_id, const char *alias, dd_err *err)
{
    dd_conn *c;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_exec(c, err, "alias", "DELETE FROM model_alias WHERE model_id = ? AND alias = ?",
                       "it", model_id, alias ? alias : "");
    if (code == DD_OK && db_changes(c) == 0)
        code = dd_fail(err, DD_NOT_FOUND, "alias \"%s\" not found", alias ? alias : "");
    return code;
}
