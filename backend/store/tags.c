/*
 * tags.c - tags attached to projects, experiments and iterations.
 *
 * A tag is a shared value; attaching get-or-creates it and adds a link row. Unlike the
 * original, links can be removed (detach), and deleting a tag removes its links with it.
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "store_local.h"

/* The statements for one kind of tagged entity. */
typedef struct tag_sql {
    const char *what;
    const char *exists;
    const char *attach;
    const char *detach;
    const char *list;
    const char *link_get;
    const char *link_find;
} tag_sql;

static const tag_sql tag_kinds[] = {
    [DD_TAG_PROJECT] = {
        "project",
        "SELECT id FROM project WHERE id = ?",
        "INSERT INTO project_tag(project_id, tag_id) VALUES (?, ?) RETURNING id",
        "DELETE FROM project_tag WHERE project_id = ? AND tag_id = (SELECT id FROM tag WHERE value = ?)",
        "SELECT l.id, t.value FROM project_tag l JOIN tag t ON t.id = l.tag_id"
        " WHERE l.project_id = ? ORDER BY l.id",
        "SELECT l.project_id, t.value FROM project_tag l JOIN tag t ON t.id = l.tag_id WHERE l.id = ?",
        "SELECT l.id FROM project_tag l JOIN tag t ON t.id = l.tag_id"
        " WHERE l.project_id = ? AND t.value = ?",
    },
    [DD_TAG_EXPERIMENT] = {
        "experiment",
        "SELECT id FROM experiment WHERE id = ?",
        "INSERT INTO experiment_tag(experiment_id, tag_id) VALUES (?, ?) RETURNING id",
        "DELETE FROM experiment_tag WHERE experiment_id = ?"
        " AND tag_id = (SELECT id FROM tag WHERE value = ?)",
        "SELECT l.id, t.value FROM experiment_tag l JOIN tag t ON t.id = l.tag_id"
        " WHERE l.experiment_id = ? ORDER BY l.id",
        "SELECT l.experiment_id, t.value FROM experiment_tag l JOIN tag t ON t.id = l.tag_id WHERE l.id = ?",
        "SELECT l.id FROM experiment_tag l JOIN tag t ON t.id = l.tag_id"
        " WHERE l.experiment_id = ? AND t.value = ?",
    },
    [DD_TAG_ITERATION] = {
        "iteration",
        "SELECT id FROM iteration WHERE id = ?",
        "INSERT INTO iteration_tag(iteration_id, tag_id) VALUES (?, ?) RETURNING id",
        "DELETE FROM iteration_tag WHERE iteration_id = ?"
        " AND tag_id = (SELECT id FROM tag WHERE value = ?)",
        "SELECT l.id, t.value FROM iteration_tag l JOIN tag t ON t.id = l.tag_id"
        " WHERE l.iteration_id = ? ORDER BY l.id",
        "SELECT l.iteration_id, t.value FROM iteration_tag l JOIN tag t ON t.id = l.tag_id WHERE l.id = ?",
        "SELECT l.id FROM iteration_tag l JOIN tag t ON t.id = l.tag_id"
        " WHERE l.iteration_id = ? AND t.value = ?",
    },
};

static const tag_sql *kind_sql(dd_tag_kind kind, dd_err *err)
{
    if (kind < DD_TAG_PROJECT || kind > DD_TAG_ITERATION) {
        dd_fail(err, DD_INVALID, "unknown tag kind %d", (int)kind);
        return NULL;
    }
    return &tag_kinds[kind];
}

/* Inside a write transaction: the entity exists, and an iteration has not ended. */
static dd_code entity_taggable(dd_conn *c, const tag_sql *k, dd_tag_kind kind, int64_t id,
                               dd_err *err)
{
    if (kind == DD_TAG_ITERATION)
        return db_iteration_writable(c, id, err);
    int64_t found = 0;
    dd_code code = db_lock(c, DB_LOCK_SHARE, kind == DD_TAG_PROJECT ? DB_T_PROJECT
                           : DB_T_EXPERIMENT, id, err);
    return code == DD_OK ? db_int(c, &found, err, k->what, k->exists, "i", id) : code;
}

dd_code local_tag_attach(dd_store *st, dd_tag_kind kind, int64_t entity_id, const char *value,
                      int64_t *link_id_out, dd_err *err)
{
    const tag_sql *k = kind_sql(kind, err);
    if (!k)
        return DD_INVALID;
    dd_code code = dd_name_check(value, "tag", err);
    if (code != DD_OK)
        return code;
    int64_t link_id = 0;
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        code = entity_taggable(c, k, kind, entity_id, err);
        int64_t tag_id = 0;
        if (code == DD_OK)
            code = db_exec(c, err, "tag", "INSERT INTO tag(value) VALUES (?) ON CONFLICT DO NOTHING",
                           "t", value);
        if (code == DD_OK)
            code = db_int(c, &tag_id, err, "tag", "SELECT id FROM tag WHERE value = ?", "t", value);
        link_id = 0;
        if (code == DD_OK) {
            code = db_insert_id(c, &link_id, err, "tag link", k->attach, "ii", entity_id, tag_id);
            if (code == DD_CONFLICT)
                dd_fail(err, code, "tag \"%s\" is already attached to this %s", value, k->what);
        }
        t.code = code;
    }
    if (t.code == DD_OK && link_id_out)
        *link_id_out = link_id;
    return t.code;
}

dd_code local_tag_detach(dd_store *st, dd_tag_kind kind, int64_t entity_id, const char *value,
                      dd_err *err)
{
    const tag_sql *k = kind_sql(kind, err);
    if (!k)
        return DD_INVALID;
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        dd_code code = DD_OK;
        code = entity_taggable(c, k, kind, entity_id, err);
        if (code == DD_OK)
            code = db_exec(c, err, "tag link", k->detach, "it", entity_id, value ? value : "");
        if (code == DD_OK && db_changes(c) == 0)
            code = dd_fail(err, DD_NOT_FOUND, "tag \"%s\" is not attached to this %s",
                           value ? value : "", k->what);
        t.code = code;
    }
    return t.code;
}

static int tag_row(db_stmt *s, void *arg)
{
    db_list_ctx *l = arg;
    return ((dd_tag_cb)l->cb)(l->ctx, db_col_int64(s, 0), db_col_text(s, 1));
}

dd_code local_tag_list(dd_store *st, dd_tag_kind kind, int64_t entity_id, dd_tag_cb cb, void *ctx,
                    dd_err *err)
{
    const tag_sql *k = kind_sql(kind, err);
    if (!k)
        return DD_INVALID;
    dd_conn *c;
    db_stmt *s;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, k->list, "i", entity_id);
    db_list_ctx l = {(void *)cb, ctx};
    return code == DD_OK ? db_each(c, s, "listing tags", tag_row, &l, err) : code;
}

static const char *const tag_delete_sql[] = {
    "DELETE FROM project_tag WHERE tag_id = ?",
    "DELETE FROM experiment_tag WHERE tag_id = ?",
    "DELETE FROM iteration_tag WHERE tag_id = ?",
    "DELETE FROM tag WHERE id = ?",
};

dd_code dd_tag_delete(dd_store *st, const char *value, dd_err *err)
{
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        dd_code code = DD_OK;
        int64_t id = 0;
        code = db_int(c, &id, err, "tag", "SELECT id FROM tag WHERE value = ?", "t",
                      value ? value : "");
        if (code == DD_OK)
            code = db_lock(c, DB_LOCK_DELETE, DB_T_TAG, id, err);
        for (size_t i = 0; i < 4 && code == DD_OK; i++)
            code = db_exec(c, err, "deleting a tag", tag_delete_sql[i], "i", id);
        t.code = code;
    }
    return t.code;
}

dd_code local_tag_link_get(dd_store *st, dd_tag_kind kind, int64_t link_id, int64_t *entity_id_out,
                        char **value_out, dd_err *err)
{
    const tag_sql *k = kind_sql(kind, err);
    if (!k)
        return DD_INVALID;
    dd_conn *c;
    db_stmt *s;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, k->link_get, "i", link_id);
    if (code != DD_OK)
        return code;
    bool row;
    code = db_step(c, s, &row, "reading a tag", err);
    if (code == DD_OK && !row)
        code = dd_fail(err, DD_NOT_FOUND, "tag link %lld not found", (long long)link_id);
    if (code == DD_OK) {
        *entity_id_out = db_col_int64(s, 0);
        if (value_out && !(*value_out = db_col_dup(s, 1)))
            code = dd_fail(err, DD_IO, "out of memory");
    }
    db_reset(s);
    return code;
}

dd_code local_tag_link_find(dd_store *st, dd_tag_kind kind, int64_t entity_id, const char *value,
                         int64_t *link_id_out, dd_err *err)
{
    const tag_sql *k = kind_sql(kind, err);
    if (!k)
        return DD_INVALID;
    dd_conn *c;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_int(c, link_id_out, err, "tag", k->link_find, "it", entity_id,
                      value ? value : "");
    return code;
}
