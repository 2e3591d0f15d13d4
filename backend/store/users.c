/*
 * users.c - users and their per-project permissions.
 *
 * The seeded `default` admin (db.c seeds it) can be neither deleted nor demoted; its
 * password can be changed. Passwords are only ever stored as bcrypt hashes.
 */
#include <crypt.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "store_local.h"

#define USER_COLS "id, first_name, last_name, username, password, created_date, is_admin"

/* Fill *u from a row of USER_COLS; with `copy` the strings are heap copies, otherwise
 * they borrow the statement's memory. */
static void user_from_row(db_stmt *s, dd_user *u, bool copy)
{
    u->id = db_col_int64(s, 0);
    for (int i = 1; i <= 4; i++) {
        char *v = copy ? db_col_dup(s, i) : (char *)db_col_text(s, i);
        if (i == 1) u->first_name = v;
        else if (i == 2) u->last_name = v;
        else if (i == 3) u->username = v;
        else u->password = v;
    }
    db_col_ts(s, 5, u->created_date);
    u->is_admin = db_col_int(s, 6) != 0;
}

void dd_user_clear(dd_user *u)
{
    if (!u)
        return;
    free(u->first_name);
    free(u->last_name);
    free(u->username);
    free(u->password);
    memset(u, 0, sizeof *u);
}

dd_code dd_user_create(dd_store *st, const char *first_name, const char *last_name,
                       const char *username, const char *password, int64_t *id_out,
                       dd_err *err)
{
    if (!username || !*username)
        return dd_fail(err, DD_INVALID, "username is empty");
    char *hash = NULL;
    dd_conn *c;
    dd_code code = dd_password_hash(password, &hash, err);
    if (code == DD_OK)
        code = db_conn(st, &c, err);
    if (code == DD_OK) {
        char now[DD_TS_LEN];
        dd_now(now);
        int64_t id = 0;
        code = db_insert_id(c, &id, err, "user",
                            "INSERT INTO \"user\"(first_name, last_name, username, password,"
                            " created_date, is_admin) VALUES (?, ?, ?, ?, ?, 0) RETURNING id",
                            "ttttt", first_name ? first_name : "", last_name ? last_name : "",
                            username, hash, now);
        if (code == DD_CONFLICT)
            dd_fail(err, code, "user \"%s\" already exists", username);
        if (code == DD_OK && id_out)
            *id_out = id;
    }
    free(hash);
    return code;
}

/* One user by id (name NULL) or by name, read on connection c. */
static dd_code user_get_on(dd_conn *c, const char *sql, int64_t id, const char *name,
                           dd_user *out, dd_err *err)
{
    db_stmt *s;
    memset(out, 0, sizeof *out);
    dd_code code = name ? db_prep(c, &s, err, sql, "t", name) : db_prep(c, &s, err, sql, "i", id);
    if (code != DD_OK)
        return code;
    bool row;
    code = db_step(c, s, &row, "reading a user", err);
    if (code == DD_OK && !row)
        code = name ? dd_fail(err, DD_NOT_FOUND, "user \"%s\" not found", name)
                    : dd_fail(err, DD_NOT_FOUND, "user %lld not found", (long long)id);
    if (code == DD_OK)
        user_from_row(s, out, true);
    db_reset(s);
    return code;
}

#define USER_BY_ID "SELECT " USER_COLS " FROM \"user\" WHERE id = ?"

static dd_code user_get_by(dd_store *st, const char *sql, int64_t id, const char *name,
                           dd_user *out, dd_err *err)
{
    dd_conn *c;
    memset(out, 0, sizeof *out);
    dd_code code = db_conn(st, &c, err);
    return code == DD_OK ? user_get_on(c, sql, id, name, out, err) : code;
}

dd_code dd_user_get(dd_store *st, int64_t id, dd_user *out, dd_err *err)
{
    return user_get_by(st, USER_BY_ID, id, NULL, out, err);
}

dd_code local_user_find(dd_store *st, const char *username, dd_user *out, dd_err *err)
{
    return user_get_by(st, "SELECT " USER_COLS " FROM \"user\" WHERE username = ?", 0,
                       username ? username : "", out, err);
}

static int user_row(db_stmt *s, void *arg)
{
    db_list_ctx *l = arg;
    dd_user u;
    user_from_row(s, &u, false);
    return ((dd_user_cb)l->cb)(l->ctx, &u);
}

dd_code dd_user_list(dd_store *st, dd_user_cb cb, void *ctx, dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT " USER_COLS " FROM \"user\" ORDER BY id", NULL);
    db_list_ctx l = {(void *)cb, ctx};
    return code == DD_OK ? db_each(c, s, "listing users", user_row, &l, err) : code;
}

dd_code dd_user_update(dd_store *st, int64_t id, const char *first_name, const char *last_name,
                       const char *password, int is_admin, dd_err *err)
{
    char *hash = NULL;
    dd_code code = password ? dd_password_hash(password, &hash, err) : DD_OK;
    if (code != DD_OK)
        return code;
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        dd_user u = {0};
        code = db_lock(c, DB_LOCK_UPDATE, DB_T_USER, id, err);
        /* on c: inside the transaction, not on this thread's own connection */
        if (code == DD_OK)
            code = user_get_on(c, USER_BY_ID, id, NULL, &u, err);
        if (code == DD_OK && is_admin == 0 && strcmp(u.username, DD_DEFAULT_USERNAME) == 0)
            code = dd_fail(err, DD_FORBIDDEN, "the default user cannot be demoted");
        if (code == DD_OK)
            code = db_exec(c, err, "user",
                           "UPDATE \"user\" SET first_name = COALESCE(?, first_name),"
                           " last_name = COALESCE(?, last_name), password = COALESCE(?, password),"
                           " is_admin = CASE WHEN ? < 0 THEN is_admin ELSE ? END WHERE id = ?",
                           "tttnni", first_name, last_name, hash, is_admin, is_admin ? 1 : 0, id);
        dd_user_clear(&u);
        t.code = code;
    }
    free(hash);
    return t.code;
}

dd_code dd_user_delete(dd_store *st, int64_t id, dd_err *err)
{
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        dd_user u = {0};
        dd_code code = db_lock(c, DB_LOCK_DELETE, DB_T_USER, id, err);
        /* on c: inside the transaction, not on this thread's own connection */
        if (code == DD_OK)
            code = user_get_on(c, USER_BY_ID, id, NULL, &u, err);
        if (code == DD_OK && strcmp(u.username, DD_DEFAULT_USERNAME) == 0)
            code = dd_fail(err, DD_FORBIDDEN, "the default user cannot be deleted");
        if (code == DD_OK)
            code = db_exec(c, err, "user permissions",
                           "DELETE FROM user_permission WHERE user_id = ?", "i", id);
        if (code == DD_OK)
            code = db_exec(c, err, "user", "DELETE FROM \"user\" WHERE id = ?", "i", id);
        dd_user_clear(&u);
        t.code = code;
    }
    return t.code;
}

dd_code dd_user_check_password(dd_store *st, const char *username, const char *password,
                               dd_err *err)
{
    dd_user u;
    dd_code code = dd_user_find(st, username, &u, err);
    if (code != DD_OK)
        return code;
    struct crypt_data *cd = calloc(1, sizeof *cd);
    if (!cd) {
        dd_user_clear(&u);
        return dd_fail(err, DD_IO, "out of memory");
    }
    const char *h = crypt_r(password ? password : "", u.password, cd);
    if (!h || strcmp(h, u.password) != 0)
        code = dd_fail(err, DD_FORBIDDEN, "invalid credentials");
    free(cd);
    dd_user_clear(&u);
    return code;
}

/* ---------------------------------------------------------------- permissions */

#define PERM_COLS "id, user_id, project_id, create_permission, read_permission," \
                  " update_permission, delete_permission"

static void perm_from_row(db_stmt *s, dd_user_permission *p)
{
    p->id = db_col_int64(s, 0);
    p->user_id = db_col_int64(s, 1);
    p->project_id = db_col_int64(s, 2);
    p->create_permission = db_col_int(s, 3) != 0;
    p->read_permission = db_col_int(s, 4) != 0;
    p->update_permission = db_col_int(s, 5) != 0;
    p->delete_permission = db_col_int(s, 6) != 0;
}

static int perm_row(db_stmt *s, void *arg)
{
    db_list_ctx *l = arg;
    dd_user_permission p;
    perm_from_row(s, &p);
    return ((dd_permission_cb)l->cb)(l->ctx, &p);
}

dd_code dd_permission_create(dd_store *st, int64_t user_id, int64_t project_id, bool cr,
                             bool r, bool u, bool d, int64_t *id_out, dd_err *err)
{
    int64_t id = 0;
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        int64_t n = 0;
        id = 0;
        dd_code code = db_lock(c, DB_LOCK_SHARE, DB_T_USER, user_id, err);
        if (code == DD_OK)
            code = db_lock(c, DB_LOCK_SHARE, DB_T_PROJECT, project_id, err);
        if (code == DD_OK)
            code = db_int(c, &n, err, "user", "SELECT id FROM \"user\" WHERE id = ?", "i",
                          user_id);
        if (code == DD_OK)
            code = db_int(c, &n, err, "project", "SELECT id FROM project WHERE id = ?", "i",
                          project_id);
        if (code == DD_OK)
            code = db_insert_id(c, &id, err, "user permission",
                                "INSERT INTO user_permission(user_id, project_id, create_permission,"
                                " read_permission, update_permission, delete_permission)"
                                " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                                "iinnnn", user_id, project_id, (int)cr, (int)r, (int)u, (int)d);
        t.code = code;
    }
    if (t.code == DD_OK && id_out)
        *id_out = id;
    return t.code;
}

dd_code dd_permission_get(dd_store *st, int64_t user_id, int64_t project_id,
                          dd_user_permission *out, dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT " PERM_COLS " FROM user_permission"
                       " WHERE user_id = ? AND project_id = ?", "ii", user_id, project_id);
    if (code != DD_OK)
        return code;
    bool row;
    code = db_step(c, s, &row, "reading a permission", err);
    if (code == DD_OK && !row)
        code = dd_fail(err, DD_NOT_FOUND, "user %lld has no permission row for project %lld",
                       (long long)user_id, (long long)project_id);
    if (code == DD_OK)
        perm_from_row(s, out);
    db_reset(s);
    return code;
}

dd_code dd_permission_update(dd_store *st, int64_t id, int cr, int r, int u, int d,
                             dd_err *err)
{
    dd_conn *c;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_exec(c, err, "user permission",
                       "UPDATE user_permission SET"
                       " create_permission = CASE WHEN ?1 < 0 THEN create_permission ELSE ?1 END,"
                       " read_permission = CASE WHEN ?2 < 0 THEN read_permission ELSE ?2 END,"
                       " update_permission = CASE WHEN ?3 < 0 THEN update_permission ELSE ?3 END,"
                       " delete_permission = CASE WHEN ?4 < 0 THEN delete_permission ELSE ?4 END"
                       " WHERE id = ?5", "nnnni", cr, r, u, d, id);
    if (code == DD_OK && db_changes(c) == 0)
        code = dd_fail(err, DD_NOT_FOUND, "permission %lld not found", (long long)id);
    return code;
}

dd_code dd_permission_delete(dd_store *st, int64_t id, dd_err *err)
{
    dd_conn *c;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_exec(c, err, "user permission", "DELETE FROM user_permission WHERE id = ?",
                       "i", id);
    if (code == DD_OK && db_changes(c) == 0)
        code = dd_fail(err, DD_NOT_FOUND, "permission %lld not found", (long long)id);
    return code;
}

dd_code local_permission_list(dd_store *st, int64_t user_id, int64_t project_id,
                           dd_permission_cb cb, void *ctx, dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    dd_code code = db_conn(st, &c, err);
    if (code != DD_OK)
        return code;
    if ((user_id == 0) == (project_id == 0))
        return dd_fail(err, DD_INVALID, "list permissions by user or by project, not both");
    code = user_id
        ? db_prep(c, &s, err, "SELECT " PERM_COLS " FROM user_permission WHERE user_id = ?"
                  " ORDER BY id", "i", user_id)
        : db_prep(c, &s, err, "SELECT " PERM_COLS " FROM user_permission WHERE project_id = ?"
                  " ORDER BY id", "i", project_id);
    db_list_ctx l = {(void *)cb, ctx};
    return code == DD_OK ? db_each(c, s, "listing permissions", perm_row, &l, err) : code;
}

/* ---------------------------------------------------------------- by name */

/* Inside a write transaction: the ids of a user and a project named on a command line. */
static dd_code user_and_project(dd_conn *c, const char *username, const char *project,
                                int64_t *uid, int64_t *pid, dd_err *err)
{
    dd_code code = db_int(c, uid, err, "user", "SELECT id FROM \"user\" WHERE username = ?", "t",
                          username ? username : "");
    if (code == DD_NOT_FOUND)
        return dd_fail(err, code, "user \"%s\" not found", username ? username : "");
    if (code == DD_OK)
        code = db_int(c, pid, err, "project", "SELECT id FROM project WHERE name = ?", "t",
                      project ? project : "");
    if (code == DD_NOT_FOUND)
        dd_fail(err, code, "project \"%s\" not found", project ? project : "");
    return code;
}

/* Inside a write transaction: the ids of a (user, project) pair named on a command line,
 * with both rows locked (SHARE: neither goes before this transaction commits). */
static dd_code user_and_project_locked(dd_conn *c, const char *username, const char *project,
                                       int64_t *uid, int64_t *pid, dd_err *err)
{
    *uid = 0, *pid = 0;
    dd_code code = user_and_project(c, username, project, uid, pid, err);
    if (code == DD_OK)
        code = db_lock(c, DB_LOCK_SHARE, DB_T_USER, *uid, err);
    if (code == DD_OK)
        code = db_lock(c, DB_LOCK_SHARE, DB_T_PROJECT, *pid, err);
    return code;
}

dd_code dd_permission_set(dd_store *st, const char *username, const char *project, int cr,
                          int r, int u, int d, dd_err *err)
{
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        int64_t uid, pid;
        dd_code code = user_and_project_locked(c, username, project, &uid, &pid, err);
        /* a new row holds nothing until this grant says so (the column defaults are the
         * creator's row of dd_project_create: read only) */
        if (code == DD_OK)
            code = db_exec(c, err, "user permission",
                           "INSERT INTO user_permission(user_id, project_id, create_permission,"
                           " read_permission, update_permission, delete_permission)"
                           " VALUES (?, ?, 0, 0, 0, 0) ON CONFLICT(user_id, project_id) DO NOTHING",
                           "ii", uid, pid);
        if (code == DD_OK)
            code = db_exec(c, err, "user permission",
                           "UPDATE user_permission SET"
                           " create_permission = CASE WHEN ?1 < 0 THEN create_permission ELSE ?1 END,"
                           " read_permission = CASE WHEN ?2 < 0 THEN read_permission ELSE ?2 END,"
                           " update_permission = CASE WHEN ?3 < 0 THEN update_permission ELSE ?3 END,"
                           " delete_permission = CASE WHEN ?4 < 0 THEN delete_permission ELSE ?4 END"
                           " WHERE user_id = ?5 AND project_id = ?6", "nnnnii", cr, r, u, d, uid,
                           pid);
        t.code = code;
    }
    return t.code;
}

dd_code dd_permission_remove(dd_store *st, const char *username, const char *project,
                             dd_err *err)
{
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        int64_t uid, pid;
        t.code = user_and_project_locked(t.c, username, project, &uid, &pid, err);
        if (t.code == DD_OK)
            t.code = db_exec(t.c, err, "user permission",
                             "DELETE FROM user_permission WHERE user_id = ? AND project_id = ?",
                             "ii", uid, pid);
    }
    return t.code;
}

/* ---------------------------------------------------------------- ownership */

/* One query per kind: from a row to its project through the ownership chain. */
static const char *const project_of_sql[DD_ENT_COUNT] = {
    [DD_ENT_PROJECT] = "SELECT id FROM project WHERE id = ?",
    [DD_ENT_EXPERIMENT] = "SELECT project_id FROM experiment WHERE id = ?",
    [DD_ENT_ITERATION] = "SELECT e.project_id FROM iteration i"
                         " JOIN experiment e ON e.id = i.experiment_id WHERE i.id = ?",
    [DD_ENT_PARAMETER] = "SELECT e.project_id FROM parameter x JOIN iteration i"
                         " ON i.id = x.iteration_id JOIN experiment e"
                         " ON e.id = i.experiment_id WHERE x.id = ?",
    [DD_ENT_METRIC_SERIES] = "SELECT e.project_id FROM metric_latest x JOIN iteration i"
                             " ON i.id = x.iteration_id JOIN experiment e"
                             " ON e.id = i.experiment_id WHERE x.id = ?",
    [DD_ENT_ITERATION_FILE] = "SELECT e.project_id FROM iteration_file x JOIN iteration i"
                              " ON i.id = x.iteration_id JOIN experiment e"
                              " ON e.id = i.experiment_id WHERE x.id = ?",
    [DD_ENT_RESOURCE] = "SELECT e.project_id FROM resource r"
                        " JOIN experiment e ON e.id = r.experiment_id WHERE r.id = ?",
    [DD_ENT_PROJECT_TAG] = "SELECT project_id FROM project_tag WHERE id = ?",
    [DD_ENT_EXPERIMENT_TAG] = "SELECT e.project_id FROM experiment_tag x"
                              " JOIN experiment e ON e.id = x.experiment_id WHERE x.id = ?",
    [DD_ENT_ITERATION_TAG] = "SELECT e.project_id FROM iteration_tag x JOIN iteration i"
                             " ON i.id = x.iteration_id JOIN experiment e"
                             " ON e.id = i.experiment_id WHERE x.id = ?",
    [DD_ENT_MODEL] = "SELECT project_id FROM model WHERE id = ?",
    [DD_ENT_VERSION] = "SELECT m.project_id FROM model_version v"
                       " JOIN model m ON m.id = v.model_id WHERE v.id = ?",
    [DD_ENT_ALIAS] = "SELECT m.project_id FROM model_alias a"
                     " JOIN model m ON m.id = a.model_id WHERE a.id = ?",
};

dd_code local_project_of(dd_store *st, dd_entity kind, int64_t id, int64_t *project_id,
                      dd_err *err)
{
    if ((unsigned)kind >= DD_ENT_COUNT)
        return dd_fail(err, DD_INVALID, "unknown entity kind %d", (int)kind);
    dd_conn *c;
    dd_code code = db_conn(st, &c, err);
    return code == DD_OK ? db_int(c, project_id, err, "row", project_of_sql[kind], "i", id)
                         : code;
}
