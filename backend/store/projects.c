/*
 * projects.c - projects and experiments, and the cascading deletes below them.
 *
 * Cascades run inside one write transaction: every check (a model version still using an
 * iteration or resource) happens before the first DELETE, and any failure rolls back, so a
 * delete either removes the whole subtree or nothing. Artifact bytes of deleted resources
 * (external files, inline chunk sets) are queued in artifact_trash by that same transaction
 * and removed later by dd_artifacts_gc.
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "store_local.h"

/* ---------------------------------------------------------------- cascades */

/* Data hanging off iterations, deleted for one iteration (scope "i") or all iterations of an
 * experiment (scope "e"). Statements are listed per scope so each stays a literal. */
static const char *const iteration_data_sql[2][7] = {
    {"DELETE FROM parameter WHERE iteration_id = ?",
     /* points before their series' rows: they find them through them (schema 014) */
     "DELETE FROM metric_point WHERE series_id IN"
     " (SELECT id FROM metric_latest WHERE iteration_id = ?)",
     "DELETE FROM metric_block WHERE iteration_id = ?",
     "DELETE FROM metric_latest WHERE iteration_id = ?",
     "DELETE FROM iteration_file WHERE iteration_id = ?",
     "DELETE FROM iteration_tag WHERE iteration_id = ?",
     "DELETE FROM iteration WHERE id = ?"},
    {"DELETE FROM parameter WHERE iteration_id IN (SELECT id FROM iteration WHERE experiment_id = ?)",
     "DELETE FROM metric_point WHERE series_id IN (SELECT l.id FROM metric_latest l"
     " JOIN iteration i ON i.id = l.iteration_id WHERE i.experiment_id = ?)",
     "DELETE FROM metric_block WHERE iteration_id IN"
     " (SELECT id FROM iteration WHERE experiment_id = ?)",
     "DELETE FROM metric_latest WHERE iteration_id IN"
     " (SELECT id FROM iteration WHERE experiment_id = ?)",
     "DELETE FROM iteration_file WHERE iteration_id IN"
     " (SELECT id FROM iteration WHERE experiment_id = ?)",
     "DELETE FROM iteration_tag WHERE iteration_id IN"
     " (SELECT id FROM iteration WHERE experiment_id = ?)",
     /* children point at parents in the same experiment: unlink first, then delete */
     "UPDATE iteration SET parent_iteration_id = NULL WHERE experiment_id = ?"},
};

static dd_code delete_iteration_data(dd_conn *c, int scope, int64_t id, dd_err *err)
{
    dd_code code = DD_OK;
    db_forget_metric_checks(c);   /* held metric files: see the delete at once */
    for (int i = 0; i < 7 && code == DD_OK; i++)
        code = db_exec(c, err, "deleting iteration data", iteration_data_sql[scope][i], "i", id);
    return code;
}

dd_code db_delete_iteration(dd_conn *c, int64_t id, dd_err *err)
{
    int64_t n = 0;
    dd_code code = db_int(c, &n, err, "model version",
                          "SELECT COUNT(*) FROM model_version WHERE iteration_id = ?", "i", id);
    if (code == DD_OK && n > 0)
        code = dd_fail(err, DD_IN_USE,
                       "iteration %lld produced %lld registered model version(s); delete them"
                       " first", (long long)id, (long long)n);
    if (code == DD_OK)
        code = delete_iteration_data(c, 0, id, err);
    if (code == DD_OK && db_changes(c) == 0)
        code = dd_fail(err, DD_NOT_FOUND, "iteration %lld not found", (long long)id);
    return code;
}

static int note_trash_row(db_stmt *s, void *ctx)
{
    db_trash_queued(ctx, db_col_int64(s, 0));
    return 0;
}

/* Queue rows in artifact_trash (`sql` ends in RETURNING id); they are freed as soon as
 * this transaction commits (db_trash_queued), or when the last reader of this process lets
 * go of them. */
static dd_code queue_trash_sql(dd_conn *c, const char *sql, int64_t id, dd_err *err)
{
    char now[DD_TS_LEN];
    dd_now(now);
    db_stmt *s;
    dd_code code = db_prep(c, &s, err, sql, "ti", now, id);
    if (code == DD_OK)
        code = db_each(c, s, "queueing artifact bytes for removal", note_trash_row, c, err);
    return code;
}

/* What a trash row calls the bytes: the external uri, or "chunks:<set>" for an inline
 * chunk set (gc goes by the chunk_set column; the text is for people). Legacy inline bytes
 * (resource.data) leave with their row and are never queued. */
#define TRASH_URI "CASE WHEN chunk_set IS NOT NULL THEN 'chunks:' || chunk_set ELSE uri END"

dd_code db_queue_resource_bytes(dd_conn *c, int64_t id, dd_err *err)
{
    return queue_trash_sql(c, "INSERT INTO artifact_trash(backend, uri, chunk_set, queued_at)"
                           " SELECT backend, " TRASH_URI ", chunk_set, ? FROM resource"
                           " WHERE id = ? AND (backend <> 'inline' OR chunk_set IS NOT NULL)"
                           " RETURNING id",
                           id, err);
}

dd_code db_delete_resource(dd_conn *c, int64_t id, dd_err *err)
{
    int64_t n = 0;
    dd_code code = db_int(c, &n, err, "model version",
                          "SELECT COUNT(*) FROM model_version WHERE resource_id = ?", "i", id);
    if (code == DD_OK && n > 0)
        code = dd_fail(err, DD_IN_USE, "resource %lld is the artifact of %lld model version(s)",
                       (long long)id, (long long)n);
    if (code == DD_OK)
        code = db_queue_resource_bytes(c, id, err);
    if (code == DD_OK)
        code = db_exec(c, err, "deleting a resource", "DELETE FROM resource WHERE id = ?", "i", id);
    if (code == DD_OK && db_changes(c) == 0)
        code = dd_fail(err, DD_NOT_FOUND, "resource %lld not found", (long long)id);
    return code;
}

static dd_code experiment_in_use(dd_conn *c, int64_t id, dd_err *err)
{
    int64_t n = 0;
    dd_code code = db_int(c, &n, err, "model version",
                          "SELECT COUNT(*) FROM model_version v"
                          " LEFT JOIN iteration i ON i.id = v.iteration_id"
                          " LEFT JOIN resource r ON r.id = v.resource_id"
                          " WHERE i.experiment_id = ?1 OR r.experiment_id = ?1", "i", id);
    if (code == DD_OK && n > 0)
        code = dd_fail(err, DD_IN_USE,
                       "experiment %lld has iterations or resources used by %lld registered"
                       " model version(s)", (long long)id, (long long)n);
    return code;
}

static dd_code experiment_has_children(dd_conn *c, int64_t id, dd_err *err)
{
    int64_t n = 0;
    dd_code code = db_int(c, &n, err, "experiment contents",
                          "SELECT (SELECT COUNT(*) FROM iteration WHERE experiment_id = ?1)"
                          " + (SELECT COUNT(*) FROM resource WHERE experiment_id = ?1)", "i", id);
    if (code == DD_OK && n > 0)
        code = dd_fail(err, DD_NOT_EMPTY, "experiment %lld still holds iterations or resources",
                       (long long)id);
    return code;
}

/* Called inside a write transaction: an experiment and everything in it. */
static dd_code delete_experiment(dd_conn *c, int64_t id, bool cascade, dd_err *err)
{
    dd_code code = cascade ? experiment_in_use(c, id, err) : experiment_has_children(c, id, err);
    if (code == DD_OK)
        code = delete_iteration_data(c, 1, id, err);
    if (code == DD_OK)
        code = db_exec(c, err, "deleting iterations",
                       "DELETE FROM iteration WHERE experiment_id = ?", "i", id);
    if (code == DD_OK)
        code = queue_trash_sql(c, "INSERT INTO artifact_trash(backend, uri, chunk_set, queued_at)"
                               " SELECT backend, " TRASH_URI ", chunk_set, ? FROM resource"
                               " WHERE experiment_id = ?"
                               " AND (backend <> 'inline' OR chunk_set IS NOT NULL)"
                               " RETURNING id", id, err);
    if (code == DD_OK)
        code = db_exec(c, err, "deleting resources",
                       "DELETE FROM resource WHERE experiment_id = ?", "i", id);
    if (code == DD_OK)
        code = db_exec(c, err, "deleting experiment tags",
                       "DELETE FROM experiment_tag WHERE experiment_id = ?", "i", id);
    if (code == DD_OK)
        code = db_exec(c, err, "deleting an experiment", "DELETE FROM experiment WHERE id = ?",
                       "i", id);
    if (code == DD_OK && db_changes(c) == 0)
        code = dd_fail(err, DD_NOT_FOUND, "experiment %lld not found", (long long)id);
    return code;
}

/* ---------------------------------------------------------------- projects */

/* The times fall back as dd_project documents (schema/008_row_times.sql). */
#define PROJECT_COLS "id, name, description, created_date, coalesce(updated_date, created_date)"

static void project_from_row(db_stmt *s, dd_project *p, bool copy)
{
    p->id = db_col_int64(s, 0);
    p->name = copy ? db_col_dup(s, 1) : (char *)db_col_text(s, 1);
    p->description = copy ? db_col_dup(s, 2) : (char *)db_col_text(s, 2);
    db_col_ts(s, 3, p->created_date);
    db_col_ts(s, 4, p->updated_date);
}

void dd_project_clear(dd_project *p)
{
    if (!p)
        return;
    free(p->name);
    free(p->description);
    memset(p, 0, sizeof *p);
}

dd_code local_project_create(dd_store *st, int64_t user_id, const char *name, int64_t *id_out,
                          dd_err *err)
{
    dd_code code = dd_name_check(name, "project name", err);
    if (code != DD_OK)
        return code;
    int64_t id = 0;
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        int64_t admin = 0, uid = user_id;
        id = 0;
        code = DD_OK;
        if (uid == 0)
            code = db_int(c, &uid, err, "default user",
                          "SELECT id FROM \"user\" WHERE username = ?", "t", DD_DEFAULT_USERNAME);
        if (code == DD_OK)
            code = db_lock(c, DB_LOCK_SHARE, DB_T_USER, uid, err);
        if (code == DD_OK)
            code = db_int(c, &admin, err, "user", "SELECT is_admin FROM \"user\" WHERE id = ?",
                          "i", uid);
        if (code == DD_OK && !admin)
            code = dd_fail(err, DD_FORBIDDEN, "only administrators may create projects");
        char now[DD_TS_LEN];
        dd_now(now);
        if (code == DD_OK) {
            code = db_insert_id(c, &id, err, "project",
                                "INSERT INTO project(name, created_date) VALUES (?, ?) RETURNING id",
                                "tt", name, now);
            if (code == DD_CONFLICT)
                dd_fail(err, code, "project \"%s\" already exists", name);
        }
        if (code == DD_OK)
            code = db_exec(c, err, "creator permission",
                           "INSERT INTO user_permission(user_id, project_id) VALUES (?, ?)", "ii",
                           uid, id);
        t.code = code;
    }
    code = t.code;
    if (code == DD_OK && id_out)
        *id_out = id;
    return code;
}

dd_code local_project_get(dd_store *st, int64_t id, dd_project *out, dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    memset(out, 0, sizeof *out);
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT " PROJECT_COLS " FROM project"
                       " WHERE id = ?", "i", id);
    if (code != DD_OK)
        return code;
    bool row;
    code = db_step(c, s, &row, "reading a project", err);
    if (code == DD_OK && !row)
        code = dd_fail(err, DD_NOT_FOUND, "project %lld not found", (long long)id);
    if (code == DD_OK)
        project_from_row(s, out, true);
    db_reset(s);
    return code;
}

dd_code local_project_find(dd_store *st, const char *name, int64_t *id_out, dd_err *err)
{
    dd_conn *c;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_int(c, id_out, err, "project", "SELECT id FROM project WHERE name = ?", "t",
                      name ? name : "");
    if (code == DD_NOT_FOUND)
        dd_fail(err, code, "project \"%s\" not found", name ? name : "");
    return code;
}

static int project_row(db_stmt *s, void *arg)
{
    db_list_ctx *l = arg;
    dd_project p;
    project_from_row(s, &p, false);
    return ((dd_project_cb)l->cb)(l->ctx, &p);
}

dd_code local_project_list(dd_store *st, dd_project_cb cb, void *ctx, dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT " PROJECT_COLS " FROM project"
                       " ORDER BY id", NULL);
    db_list_ctx l = {(void *)cb, ctx};
    return code == DD_OK ? db_each(c, s, "listing projects", project_row, &l, err) : code;
}

dd_code local_project_rename(dd_store *st, int64_t id, const char *name, dd_err *err)
{
    dd_code code = dd_name_check(name, "project name", err);
    if (code == DD_OK)
        code = db_update_text(st, "UPDATE project SET name = ? WHERE id = ?", id, name,
                              "project", err);
    if (code == DD_CONFLICT)
        dd_fail(err, code, "project \"%s\" already exists", name);
    return code;
}

dd_code local_project_set_description(dd_store *st, int64_t id, const char *description,
                                   dd_err *err)
{
    return db_update_text(st, "UPDATE project SET description = ? WHERE id = ?", id,
                          description, "project", err);
}

static const char *const project_sql[] = {
    "DELETE FROM stage_change WHERE model_id IN (SELECT id FROM model WHERE project_id = ?)",
    "DELETE FROM model_alias WHERE model_id IN (SELECT id FROM model WHERE project_id = ?)",
    "DELETE FROM model_version WHERE model_id IN (SELECT id FROM model WHERE project_id = ?)",
    "DELETE FROM model WHERE project_id = ?",
};
static const char *const project_tail_sql[] = {
    "DELETE FROM user_permission WHERE project_id = ?",
    "DELETE FROM project_tag WHERE project_id = ?",
    "DELETE FROM project WHERE id = ?",
};

static dd_code project_children(dd_conn *c, int64_t id, dd_err *err)
{
    int64_t n = 0;
    dd_code code = db_int(c, &n, err, "project contents",
                          "SELECT (SELECT COUNT(*) FROM experiment WHERE project_id = ?1)"
                          " + (SELECT COUNT(*) FROM model WHERE project_id = ?1)", "i", id);
    if (code == DD_OK && n > 0)
        code = dd_fail(err, DD_NOT_EMPTY, "project %lld still holds experiments or models",
                       (long long)id);
    return code;
}

dd_code local_project_delete(dd_store *st, int64_t id, bool cascade, dd_err *err)
{
    db_stmt *s;
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        /* the project, its models and experiments, then their iterations and resources:
         * table by table, in lock order (ENGINES.md §3.3) */
        dd_code code = db_lock(c, DB_LOCK_DELETE, DB_T_PROJECT, id, err);
        if (code == DD_OK)
            code = db_lock_children(c, DB_T_MODEL, DB_T_PROJECT, id, err);
        if (code == DD_OK)
            code = db_lock_children(c, DB_T_EXPERIMENT, DB_T_PROJECT, id, err);
        if (code == DD_OK && !cascade)
            code = project_children(c, id, err);
        db_ids ids = {0};  /* collected before deleting them one by one */
        if (code == DD_OK)
            code = db_prep(c, &s, err, "SELECT id FROM experiment WHERE project_id = ?", "i", id);
        if (code == DD_OK)
            code = db_collect_ids(c, s, "listing experiments", &ids, err);
        for (size_t i = 0; i < ids.n && code == DD_OK; i++)
            code = db_lock_children(c, DB_T_ITERATION, DB_T_EXPERIMENT, ids.v[i], err);
        for (size_t i = 0; i < ids.n && code == DD_OK; i++)
            code = db_lock_children(c, DB_T_RESOURCE, DB_T_EXPERIMENT, ids.v[i], err);
        for (size_t i = 0; i < sizeof project_sql / sizeof *project_sql && code == DD_OK; i++)
            code = db_exec(c, err, "deleting project models", project_sql[i], "i", id);
        for (size_t i = 0; i < ids.n && code == DD_OK; i++)
            code = delete_experiment(c, ids.v[i], true, err);
        free(ids.v);
        for (size_t i = 0; i < 3 && code == DD_OK; i++)
            code = db_exec(c, err, "deleting a project", project_tail_sql[i], "i", id);
        if (code == DD_OK && db_changes(c) == 0)
            code = dd_fail(err, DD_NOT_FOUND, "project %lld not found", (long long)id);
        t.code = code;
    }
    return t.code;
}

/* ---------------------------------------------------------------- experiments */

#define EXP_COLS "id, project_id, status_id, name, description, created_date, end_date," \
                 " coalesce(updated_date, end_date, created_date)"

static void experiment_from_row(db_stmt *s, dd_experiment *e, bool copy)
{
    e->id = db_col_int64(s, 0);
    e->project_id = db_col_int64(s, 1);
    e->status_id = db_col_int(s, 2);
    e->name = copy ? db_col_dup(s, 3) : (char *)db_col_text(s, 3);
    e->description = copy ? db_col_dup(s, 4) : (char *)db_col_text(s, 4);
    db_col_ts(s, 5, e->created_date);
    db_col_ts(s, 6, e->end_date);
    db_col_ts(s, 7, e->updated_date);
}

void dd_experiment_clear(dd_experiment *e)
{
    if (!e)
        return;
    free(e->name);
    free(e->description);
    memset(e, 0, sizeof *e);
}

dd_code local_experiment_create(dd_store *st, int64_t project_id, const char *name,
                             int64_t *id_out, dd_err *err)
{
    dd_code code = dd_name_check(name, "experiment name", err);
    if (code != DD_OK)
        return code;
    int64_t id = 0;
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        int64_t n = 0;
        id = 0;
        code = db_lock(c, DB_LOCK_SHARE, DB_T_PROJECT, project_id, err);
        if (code == DD_OK)
            code = db_int(c, &n, err, "project", "SELECT id FROM project WHERE id = ?", "i",
                          project_id);
        char now[DD_TS_LEN];
        dd_now(now);
        if (code == DD_OK) {
            code = db_insert_id(c, &id, err, "experiment",
                                "INSERT INTO experiment(project_id, status_id, name, created_date)"
                                " VALUES (?, 1, ?, ?) RETURNING id", "itt", project_id, name, now);
            if (code == DD_CONFLICT)
                dd_fail(err, code, "experiment \"%s\" already exists in this project", name);
        }
        t.code = code;
    }
    if (t.code == DD_OK && id_out)
        *id_out = id;
    return t.code;
}

dd_code local_experiment_get(dd_store *st, int64_t id, dd_experiment *out, dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    memset(out, 0, sizeof *out);
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT " EXP_COLS " FROM experiment WHERE id = ?", "i", id);
    if (code != DD_OK)
        return code;
    bool row;
    code = db_step(c, s, &row, "reading an experiment", err);
    if (code == DD_OK && !row)
        code = dd_fail(err, DD_NOT_FOUND, "experiment %lld not found", (long long)id);
    if (code == DD_OK)
        experiment_from_row(s, out, true);
    db_reset(s);
    return code;
}

dd_code local_experiment_find(dd_store *st, int64_t project_id, const char *name,
                           int64_t *id_out, dd_err *err)
{
    dd_conn *c;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_int(c, id_out, err, "experiment",
                      "SELECT id FROM experiment WHERE project_id = ? AND name = ?", "it",
                      project_id, name ? name : "");
    if (code == DD_NOT_FOUND)
        dd_fail(err, code, "experiment \"%s\" not found", name ? name : "");
    return code;
}

static int experiment_row(db_stmt *s, void *arg)
{
    db_list_ctx *l = arg;
    dd_experiment e;
    experiment_from_row(s, &e, false);
    return ((dd_experiment_cb)l->cb)(l->ctx, &e);
}

dd_code local_experiment_list(dd_store *st, int64_t project_id, dd_experiment_cb cb, void *ctx,
                           dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT " EXP_COLS " FROM experiment WHERE project_id = ?"
                       " ORDER BY id", "i", project_id);
    db_list_ctx l = {(void *)cb, ctx};
    return code == DD_OK ? db_each(c, s, "listing experiments", experiment_row, &l, err) : code;
}

dd_code local_experiment_rename(dd_store *st, int64_t id, const char *name, dd_err *err)
{
    dd_code code = dd_name_check(name, "experiment name", err);
    if (code == DD_OK)
        code = db_update_text(st, "UPDATE experiment SET name = ? WHERE id = ?", id, name,
                              "experiment", err);
    if (code == DD_CONFLICT)
        dd_fail(err, code, "experiment \"%s\" already exists in this project", name);
    return code;
}

dd_code local_experiment_set_description(dd_store *st, int64_t id, const char *description,
                                      dd_err *err)
{
    return db_update_text(st, "UPDATE experiment SET description = ? WHERE id = ?", id,
                          description, "experiment", err);
}

dd_code local_experiment_set_status(dd_store *st, int64_t id, int status, dd_err *err)
{
    if (!dd_experiment_status_name(status))
        return dd_fail(err, DD_INVALID, "%d is not an experiment status", status);
    char now[DD_TS_LEN];
    dd_now(now);
    dd_conn *c;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_exec(c, err, "experiment",
                       "UPDATE experiment SET status_id = ?1, end_date = CASE"
                       " WHEN ?1 = 1 THEN NULL ELSE COALESCE(end_date, ?2) END WHERE id = ?3",
                       "nti", status, now, id);
    if (code == DD_OK && db_changes(c) == 0)
        code = dd_fail(err, DD_NOT_FOUND, "experiment %lld not found", (long long)id);
    return code;
}

dd_code local_experiment_delete(dd_store *st, int64_t id, bool cascade, dd_err *err)
{
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        /* the experiment, then its iterations and resources (§3.3): a writer into it either
         * committed first or finds it gone */
        t.code = db_lock(t.c, DB_LOCK_DELETE, DB_T_EXPERIMENT, id, err);
        if (t.code == DD_OK)
            t.code = db_lock_children(t.c, DB_T_ITERATION, DB_T_EXPERIMENT, id, err);
        if (t.code == DD_OK)
            t.code = db_lock_children(t.c, DB_T_RESOURCE, DB_T_EXPERIMENT, id, err);
        if (t.code == DD_OK)
            t.code = delete_experiment(t.c, id, cascade, err);
    }
    return t.code;
}

dd_code local_delete_check(dd_store *st, dd_tag_kind kind, int64_t id, dd_err *err)
{
    dd_conn *c;
    int64_t n = 0;
    dd_code code = db_conn(st, &c, err);
    if (code != DD_OK)
        return code;
    switch (kind) {
    case DD_TAG_PROJECT:
        code = db_int(c, &n, err, "project", "SELECT id FROM project WHERE id = ?", "i", id);
        if (code == DD_OK)
            code = db_int(c, &n, err, "model version",
                          "SELECT COUNT(*) FROM model_version v JOIN model m ON m.id = v.model_id"
                          " WHERE m.project_id = ?", "i", id);
        if (code == DD_OK && n > 0)
            code = dd_fail(err, DD_IN_USE, "project %lld holds %lld registered model version(s);"
                           " delete its models first", (long long)id, (long long)n);
        return code;
    case DD_TAG_EXPERIMENT:
        code = db_int(c, &n, err, "experiment", "SELECT id FROM experiment WHERE id = ?", "i", id);
        return code == DD_OK ? experiment_in_use(c, id, err) : code;
    case DD_TAG_ITERATION:
        code = db_int(c, &n, err, "model version",
                      "SELECT COUNT(*) FROM model_version WHERE iteration_id = ?", "i", id);
        if (code == DD_OK && n > 0)
            code = dd_fail(err, DD_IN_USE, "iteration %lld produced %lld registered model"
                           " version(s)", (long long)id, (long long)n);
        if (code == DD_OK)
            code = db_int(c, &n, err, "iteration", "SELECT id FROM iteration WHERE id = ?", "i",
                          id);
        return code;
    }
    return dd_fail(err, DD_INVALID, "unknown entity kind");
}
