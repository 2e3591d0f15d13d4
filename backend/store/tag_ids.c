/*
 * tag_ids.c - tags by their own id, for the REST API (the original addresses a tag by the
 * id of its row in `tag`, shared by every entity it is attached to).
 */
#include "db.h"

dd_code dd_tag_get(dd_store *st, int64_t id, char **value_out, dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    bool row = false;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT value FROM tag WHERE id = ?", "i", id);
    if (code != DD_OK)
        return code;
    code = db_step(c, s, &row, "tag", err);
    if (code == DD_OK && !row)
        code = dd_fail(err, DD_NOT_FOUND, "tag %lld not found", (long long)id);
    if (code == DD_OK && !(*value_out = db_col_dup(s, 0)))
        code = dd_fail(err, DD_IO, "out of memory");
    db_reset(s);
    return code;
}

dd_code dd_tag_id(dd_store *st, const char *value, int64_t *id_out, dd_err *err)
{
    dd_conn *c;
    dd_code code = db_conn(st, &c, err);
    return code == DD_OK ? db_int(c, id_out, err, "tag", "SELECT id FROM tag WHERE value = ?",
                                  "t", value)
                         : code;
}

dd_code dd_tag_delete_unused(dd_store *st, int64_t id, dd_err *err)
{
    int64_t links = 0;
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        links = 0;
        dd_code code = db_lock(c, DB_LOCK_DELETE, DB_T_TAG, id, err);
        if (code == DD_OK)
            code = db_int(c, &links, err, "tag",
                      "SELECT (SELECT COUNT(*) FROM project_tag WHERE tag_id = ?1)"
                      " + (SELECT COUNT(*) FROM experiment_tag WHERE tag_id = ?1)"
                      " + (SELECT COUNT(*) FROM iteration_tag WHERE tag_id = ?1)", "i", id);
        if (code == DD_OK && links > 0)
            code = dd_fail(err, DD_IN_USE, "tag %lld is attached %lld time(s): detach it first",
                           (long long)id, (long long)links);
        if (code == DD_OK)
            code = db_exec(c, err, "tag", "DELETE FROM tag WHERE id = ?", "i", id);
        if (code == DD_OK && db_changes(c) == 0)
            code = dd_fail(err, DD_NOT_FOUND, "tag %lld not found", (long long)id);
        t.code = code;
    }
    return t.code;
}
