/*
 * migrate_db.c - dd_migrate_db_* (migrate_db.h): copy a registry between store engines
 * through the statement layer, one table at a time in foreign-key order, one page of rows
 * per DST transaction.
 *
 * Why resuming needs no progress table: every table is copied in the order of its key
 * (the primary key, or a unique key), each page in its own transaction, so DST always
 * holds a prefix of each table; a rerun reads DST's last key and continues after it.
 * Two tables are exceptions: `registry` (one row, upserted every run) and `dir_time`,
 * which DST's triggers write while the other tables are copied: it is replaced whole, in
 * one transaction, at the end. The seeded rows of a new DST (its default user, its
 * directory times) are removed in the registry's transaction, the one that makes DST a
 * partial run of SRC (their uuid), so a run never meets them again.
 *
 * Rows are bound by per-table functions (put_*): the statement layer binds from a format
 * and arguments, and each table's columns are typed here once. The test
 * tests/integration/test_migrate_db.py fails when the schema has a table this list lacks.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"
#include "migrate_db.h"

/* ---------------------------------------------------------------- row binding */

#define I(k) db_col_int64(r, (k))
#define D(k) db_col_double(r, (k))
#define T(k) db_col_text(r, (k))
#define N(k) (db_col_is_null(r, (k)) ? NULL : db_col_text(r, (k)))   /* nullable text */

typedef dd_code (*put_fn)(dd_conn *c, db_stmt *r, dd_err *err);

static dd_code put_registry(dd_conn *c, db_stmt *r, dd_err *err)
{
    return db_exec(c, err, "copying registry", "INSERT INTO registry(id, uuid) VALUES (?, ?)"
                   " ON CONFLICT (id) DO UPDATE SET uuid = excluded.uuid", "it", I(0), T(1));
}

static dd_code put_user(dd_conn *c, db_stmt *r, dd_err *err)
{
    return db_exec(c, err, "copying user", "INSERT INTO \"user\"(id, first_name, last_name,"
                   " username, password, created_date, is_admin) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   "ittttti", I(0), T(1), T(2), T(3), T(4), T(5), I(6));
}

static dd_code put_project(dd_conn *c, db_stmt *r, dd_err *err)
{
    return db_exec(c, err, "copying project", "INSERT INTO project(id, name, description,"
                   " created_date, updated_date) VALUES (?, ?, ?, ?, ?)", "itttt", I(0), T(1),
                   T(2), T(3), N(4));
}

static dd_code put_user_permission(dd_conn *c, db_stmt *r, dd_err *err)
{
    return db_exec(c, err, "copying user_permission", "INSERT INTO user_permission(id, user_id,"
                   " project_id, create_permission, read_permission, update_permission,"
                   " delete_permission) VALUES (?, ?, ?, ?, ?, ?, ?)", "iiiiiii", I(0), I(1),
                   I(2), I(3), I(4), I(5), I(6));
}

static dd_code put_tag(dd_conn *c, db_stmt *r, dd_err *err)
{
    return db_exec(c, err, "copying tag", "INSERT INTO tag(id, value) VALUES (?, ?)", "it", I(0),
                   T(1));
}

static dd_code put_node(dd_conn *c, db_stmt *r, dd_err *err)
{
    return db_exec(c, err, "copying node", "INSERT INTO node(id, machine_id, boot_id, pidns, pid,"
                   " start_ticks, hostname, journal_dir, started_at, lease_until_ms)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", "ittiiittti", I(0), T(1), T(2),
                   I(3), I(4), I(5), T(6), T(7), T(8), I(9));
}

static dd_code put_artifact_upload(dd_conn *c, db_stmt *r, dd_err *err)
{
    return db_exec(c, err, "copying artifact_upload", "INSERT INTO artifact_upload(id,"
                   " owner_pid, owner_start, owner_token, started_at, node_id)"
                   " VALUES (?, ?, ?, ?, ?, ?)", "iiiitI", I(0), I(1), I(2), I(3), T(4), I(5));
}

static dd_code put_artifact_chunk(dd_conn *c, db_stmt *r, dd_err *err)
{
    size_t n = 0;
    const void *p = db_col_blob(r, 3, &n);
    return db_exec(c, err, "copying artifact_chunk", "INSERT INTO artifact_chunk(id, set_id,"
                   " seq, data) VALUES (?, ?, ?, ?)", "iiib", I(0), I(1), I(2), p, n);
}

static dd_code put_metric_log_state(dd_conn *c, db_stmt *r, dd_err *err)
{
    return db_exec(c, err, "copying metric_log_state", "INSERT INTO metric_log_state(name, seq,"
                   " node_id) VALUES (?, ?, ?)", "tiI", T(0), I(2), I(3));
}

static dd_code put_remote_delivery(dd_conn *c, db_stmt *r, dd_err *err)
{
    return db_exec(c, err, "copying remote_delivery", "INSERT INTO remote_delivery(node_id,"
                   " seq, committed_at) VALUES (?, ?, ?)", "tit", T(0), I(2), T(3));
}

static dd_code put_model(dd_conn *c, db_stmt *r, dd_err *err)
{
    return db_exec(c, err, "copying model", "INSERT INTO model(id, project_id, name, description,"
                   " created_date, updated_date, last_version) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   "iitttti", I(0), I(1), T(2), T(3), T(4), N(5), I(6));
}

static dd_code put_experiment(dd_conn *c, db_stmt *r, dd_err *err)
{
    return db_exec(c, err, "copying experiment", "INSERT INTO experiment(id, project_id,"
                   " status_id, name, description, created_date, end_date, updated_date)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", "iiittttt", I(0), I(1), I(2), T(3), T(4),
                   T(5), N(6), N(7));
}

static dd_code put_iteration(dd_conn *c, db_stmt *r, dd_err *err)
{
    return db_exec(c, err, "copying iteration", "INSERT INTO iteration(id, experiment_id, notes,"
                   " created_date, end_date, parent_iteration_id, status_id, error_message,"
                   " julia_version, git_sha, git_dirty, entrypoint, project_toml, manifest_toml,"
                   " updated_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   "iitttIitttitttt", I(0), I(1), T(2), T(3), N(4), I(5), I(6), T(7), T(8),
                   T(9), I(10), T(11), T(12), T(13), N(14));
}

static dd_code put_iteration_file(dd_conn *c, db_stmt *r, dd_err *err)
{
    size_t n = 0;
    const void *p = db_col_blob(r, 3, &n);
    return db_exec(c, err, "copying iteration_file", "INSERT INTO iteration_file(id,"
                   " iteration_id, name, content) VALUES (?, ?, ?, ?)", "iitb", I(0), I(1),
                   T(2), p, n);
}

static dd_code put_parameter(dd_conn *c, db_stmt *r, dd_err *err)
{
    return db_exec(c, err, "copying parameter", "INSERT INTO parameter(id, iteration_id, key,"
                   " value, updated_date) VALUES (?, ?, ?, ?, ?)", "iittt", I(0), I(1), T(2),
                   T(3), N(4));
}

static dd_code put_metric_point(dd_conn *c, db_stmt *r, dd_err *err)
{
    return db_exec(c, err, "copying metric_point", "INSERT INTO metric_point(series_id, step,"
                   " id, value, recorded_at) VALUES (?, ?, ?, ?, ?)", "iiidt", I(0), I(1),
                   I(2), D(3), T(4));
}

static dd_code put_metric_latest(dd_conn *c, db_stmt *r, dd_err *err)
{
    return db_exec(c, err, "copying metric_latest", "INSERT INTO metric_latest(id, iteration_id,"
                   " key, value, step, recorded_at, max_step, point_count, text_bytes,"
                   " updated_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", "iitditiiit", I(0),
                   I(1), T(2), D(3), I(4), T(5), I(6), I(7), I(8), N(9));
}

static dd_code put_metric_block(dd_conn *c, db_stmt *r, dd_err *err)
{
    return db_exec(c, err, "copying metric_block", "INSERT INTO metric_block(iteration_id, key,"
                   " block, n, ordered, first_step, first_value, last_step, last_value, lo_id,"
                   " lo_step, lo_value, hi_id, hi_step, hi_value)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", "itiiiididiidiid",
                   I(0), T(1), I(2), I(3), I(4), I(5), D(6), I(7), D(8), I(9), I(10), D(11),
                   I(12), I(13), D(14));
}

/* resource.data (legacy inline bytes, before chunk sets) is nullable: the row goes in
 * without it, then an UPDATE adds it when SRC has one. Such a row's bytes are one value,
 * read whole as the store itself reads them. */
static dd_code put_resource(dd_conn *c, db_stmt *r, dd_err *err)
{
    dd_code code = db_exec(c, err, "copying resource", "INSERT INTO resource(id, experiment_id,"
                           " name, description, created_date, updated_date, backend, uri,"
                           " size_bytes, content_hash, chunk_set, generation, broken)"
                           " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", "iittttttitIii",
                           I(0), I(1), T(2), T(3), T(4), N(5), T(6), T(7), I(8), T(9), I(10),
                           I(11), I(12));
    if (code != DD_OK || db_col_is_null(r, 13))
        return code;
    size_t n = 0;
    const void *p = db_col_blob(r, 13, &n);
    return db_exec(c, err, "copying resource data", "UPDATE resource SET data = ? WHERE id = ?",
                   "bi", p, n, I(0));
}

static dd_code put_model_version(dd_conn *c, db_stmt *r, dd_err *err)
{
    return db_exec(c, err, "copying model_version", "INSERT INTO model_version(id, model_id,"
                   " version, iteration_id, resource_id, stage_id, description, created_date,"
                   " updated_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", "iiiiIittt", I(0), I(1),
                   I(2), I(3), I(4), I(5), T(6), T(7), N(8));
}

static dd_code put_model_alias(dd_conn *c, db_stmt *r, dd_err *err)
{
    return db_exec(c, err, "copying model_alias", "INSERT INTO model_alias(id, model_id, alias,"
                   " version_id) VALUES (?, ?, ?, ?)", "iiti", I(0), I(1), T(2), I(3));
}

static dd_code put_stage_change(dd_conn *c, db_stmt *r, dd_err *err)
{
    return db_exec(c, err, "copying stage_change", "INSERT INTO stage_change(id, model_id,"
                   " model_version_id, from_stage_id, to_stage_id, changed_at, user_id)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?)", "iiiIitI", I(0), I(1), I(2), I(3), I(4),
                   T(5), I(6));
}

static dd_code put_project_tag(dd_conn *c, db_stmt *r, dd_err *err)
{
    return db_exec(c, err, "copying project_tag", "INSERT INTO project_tag(id, project_id, tag_id)"
                   " VALUES (?, ?, ?)", "iii", I(0), I(1), I(2));
}

static dd_code put_experiment_tag(dd_conn *c, db_stmt *r, dd_err *err)
{
    return db_exec(c, err, "copying experiment_tag", "INSERT INTO experiment_tag(id,"
                   " experiment_id, tag_id) VALUES (?, ?, ?)", "iii", I(0), I(1), I(2));
}

static dd_code put_iteration_tag(dd_conn *c, db_stmt *r, dd_err *err)
{
    return db_exec(c, err, "copying iteration_tag", "INSERT INTO iteration_tag(id, iteration_id,"
                   " tag_id) VALUES (?, ?, ?)", "iii", I(0), I(1), I(2));
}

static dd_code put_artifact_trash(dd_conn *c, db_stmt *r, dd_err *err)
{
    return db_exec(c, err, "copying artifact_trash", "INSERT INTO artifact_trash(id, backend, uri,"
                   " queued_at, chunk_set) VALUES (?, ?, ?, ?, ?)", "itttI", I(0), T(1), T(2),
                   T(3), I(4));
}

static dd_code put_dir_time(dd_conn *c, db_stmt *r, dd_err *err)
{
    return db_exec(c, err, "copying dir_time", "INSERT INTO dir_time(name, owner_id, updated_date)"
                   " VALUES (?, ?, ?)", "tit", T(0), I(1), T(2));
}

#undef I
#undef D
#undef T
#undef N

/* ---------------------------------------------------------------- the table list */

/* How a table is walked: the key its pages follow, which leads its SELECT's columns. */
typedef enum key_kind {
    KEY_ID,      /* id: ? = (a), then LIMIT */
    KEY_NAME,    /* (name, a) > (?, ?) with a constant 1 in the row: a text key */
    KEY_POINT,   /* (series_id, step, id) > (a, b, c) */
    KEY_BLOCK,   /* (iteration_id, key, block) > (a, t, b) */
} key_kind;

typedef enum copy_mode {
    RESUME,      /* pages in key order; a rerun continues after DST's last key */
    FIRST,       /* whole, in the first run's first transaction (user: see clear_seeded) */
    UPSERT,      /* every run, whole (registry: one row) */
    REPLACE,     /* every run, deleted and copied whole in one transaction (dir_time) */
} copy_mode;

typedef struct table {
    const char *name;
    copy_mode mode;
    key_kind key;
    bool counter;          /* an id that never reuses values: its counter is copied */
    int page;              /* rows per page; 0: the caller's page_rows */
    const char *select;    /* one page after the cursor, in key order, LIMIT last */
    const char *last;      /* DST's last key (same leading columns), none when empty */
    const char *count;
    put_fn put;
} table;

#define ID_TABLE(tname, cols, pg, fn) \
    {tname, RESUME, KEY_ID, true, pg, \
     "SELECT " cols " FROM " tname " WHERE id > ? ORDER BY id LIMIT ?", \
     "SELECT id FROM " tname " ORDER BY id DESC LIMIT 1", \
     "SELECT COUNT(*) FROM " tname, fn}

static const table tables[] = {
    {"registry", UPSERT, KEY_ID, false, 0,
     "SELECT id, uuid FROM registry WHERE id > ? ORDER BY id LIMIT ?",
     "SELECT id FROM registry ORDER BY id DESC LIMIT 1", "SELECT COUNT(*) FROM registry",
     put_registry},
    {"user", FIRST, KEY_ID, true, 0,
     "SELECT id, first_name, last_name, username, password, created_date, is_admin"
     " FROM \"user\" WHERE id > ? ORDER BY id LIMIT ?",
     "SELECT id FROM \"user\" ORDER BY id DESC LIMIT 1", "SELECT COUNT(*) FROM \"user\"",
     put_user},
    ID_TABLE("project", "id, name, description, created_date, updated_date", 0, put_project),
    ID_TABLE("user_permission", "id, user_id, project_id, create_permission, read_permission,"
             " update_permission, delete_permission", 0, put_user_permission),
    ID_TABLE("tag", "id, value", 0, put_tag),
    ID_TABLE("node", "id, machine_id, boot_id, pidns, pid, start_ticks, hostname, journal_dir,"
             " started_at, lease_until_ms", 0, put_node),
    ID_TABLE("artifact_upload", "id, owner_pid, owner_start, owner_token, started_at, node_id",
             0, put_artifact_upload),
    /* 1 MiB a row at most: 4 rows a page keep a page's memory bounded on both engines */
    ID_TABLE("artifact_chunk", "id, set_id, seq, data", 4, put_artifact_chunk),
    {"metric_log_state", RESUME, KEY_NAME, false, 0,
     "SELECT name, 1, seq, node_id FROM metric_log_state WHERE (name, 1) > (?, ?)"
     " ORDER BY name LIMIT ?",
     "SELECT name, 1 FROM metric_log_state ORDER BY name DESC LIMIT 1",
     "SELECT COUNT(*) FROM metric_log_state", put_metric_log_state},
    {"remote_delivery", RESUME, KEY_NAME, false, 0,
     "SELECT node_id, 1, seq, committed_at FROM remote_delivery WHERE (node_id, 1) > (?, ?)"
     " ORDER BY node_id LIMIT ?",
     "SELECT node_id, 1 FROM remote_delivery ORDER BY node_id DESC LIMIT 1",
     "SELECT COUNT(*) FROM remote_delivery", put_remote_delivery},
    ID_TABLE("model", "id, project_id, name, description, created_date, updated_date,"
             " last_version", 0, put_model),
    ID_TABLE("experiment", "id, project_id, status_id, name, description, created_date,"
             " end_date, updated_date", 0, put_experiment),
    /* a parent iteration is created before its children (a lower id): copied first */
    ID_TABLE("iteration", "id, experiment_id, notes, created_date, end_date,"
             " parent_iteration_id, status_id, error_message, julia_version, git_sha,"
             " git_dirty, entrypoint, project_toml, manifest_toml, updated_date", 0,
             put_iteration),
    ID_TABLE("iteration_file", "id, iteration_id, name, content", 64, put_iteration_file),
    ID_TABLE("parameter", "id, iteration_id, key, value, updated_date", 0, put_parameter),
    ID_TABLE("metric_latest", "id, iteration_id, key, value, step, recorded_at, max_step,"
             " point_count, text_bytes, updated_date", 0, put_metric_latest),
    /* after the series it names (no foreign key: the order only keeps a copy readable) */
    {"metric_point", RESUME, KEY_POINT, false, 0,
     "SELECT series_id, step, id, value, recorded_at FROM metric_point"
     " WHERE (series_id, step, id) > (?, ?, ?) ORDER BY series_id, step, id LIMIT ?",
     "SELECT series_id, step, id FROM metric_point"
     " ORDER BY series_id DESC, step DESC, id DESC LIMIT 1",
     "SELECT COUNT(*) FROM metric_point", put_metric_point},
    {"metric_block", RESUME, KEY_BLOCK, false, 0,
     "SELECT iteration_id, key, block, n, ordered, first_step, first_value, last_step,"
     " last_value, lo_id, lo_step, lo_value, hi_id, hi_step, hi_value FROM metric_block"
     " WHERE (iteration_id, key, block) > (?, ?, ?) ORDER BY iteration_id, key, block LIMIT ?",
     "SELECT iteration_id, key, block FROM metric_block"
     " ORDER BY iteration_id DESC, key DESC, block DESC LIMIT 1",
     "SELECT COUNT(*) FROM metric_block", put_metric_block},
    ID_TABLE("resource", "id, experiment_id, name, description, created_date, updated_date,"
             " backend, uri, size_bytes, content_hash, chunk_set, generation, broken, data", 16,
             put_resource),
    ID_TABLE("model_version", "id, model_id, version, iteration_id, resource_id, stage_id,"
             " description, created_date, updated_date", 0, put_model_version),
    ID_TABLE("model_alias", "id, model_id, alias, version_id", 0, put_model_alias),
    ID_TABLE("stage_change", "id, model_id, model_version_id, from_stage_id, to_stage_id,"
             " changed_at, user_id", 0, put_stage_change),
    ID_TABLE("project_tag", "id, project_id, tag_id", 0, put_project_tag),
    ID_TABLE("experiment_tag", "id, experiment_id, tag_id", 0, put_experiment_tag),
    ID_TABLE("iteration_tag", "id, iteration_id, tag_id", 0, put_iteration_tag),
    ID_TABLE("artifact_trash", "id, backend, uri, queued_at, chunk_set", 0, put_artifact_trash),
    /* last: DST's triggers write it while the tables above are copied */
    {"dir_time", REPLACE, KEY_NAME, false, 0,
     "SELECT name, owner_id, updated_date FROM dir_time WHERE (name, owner_id) > (?, ?)"
     " ORDER BY name, owner_id LIMIT ?",
     "SELECT name, owner_id FROM dir_time ORDER BY name DESC, owner_id DESC LIMIT 1",
     "SELECT COUNT(*) FROM dir_time", put_dir_time},
};
#define N_TABLES (sizeof tables / sizeof *tables)

const char *dd_migrate_db_table(size_t i)
{
    return i < N_TABLES ? tables[i].name : NULL;
}

/* ---------------------------------------------------------------- keys */

/* The key of the last row copied; the first page starts below every row. */
typedef struct cursor {
    int64_t a, b, c;
    char *t;
} cursor;

static void cursor_start(cursor *k)
{
    free(k->t);
    *k = (cursor){.a = INT64_MIN, .b = INT64_MIN, .c = INT64_MIN, .t = NULL};
}

/* Read the key from a row whose leading columns are the table's key columns. */
static dd_code cursor_read(cursor *k, key_kind kind, db_stmt *r, dd_err *err)
{
    free(k->t);
    k->t = NULL;
    switch (kind) {
    case KEY_ID:
        k->a = db_col_int64(r, 0);
        return DD_OK;
    case KEY_NAME:
        k->t = db_col_dup(r, 0);
        k->a = db_col_int64(r, 1);
        break;
    case KEY_POINT:
        k->a = db_col_int64(r, 0);
        k->b = db_col_int64(r, 1);
        k->c = db_col_int64(r, 2);
        return DD_OK;
    case KEY_BLOCK:
        k->a = db_col_int64(r, 0);
        k->t = db_col_dup(r, 1);
        k->b = db_col_int64(r, 2);
        break;
    }
    return k->t ? DD_OK : dd_fail(err, DD_IO, "out of memory");
}

static void cursor_copy(cursor *to, const cursor *from)
{
    free(to->t);
    *to = *from;
    to->t = from->t ? strdup(from->t) : NULL;
}

/* Prepare the page after cursor k. */
static dd_code page_prep(dd_conn *c, const table *tb, const cursor *k, int limit, db_stmt **s,
                         dd_err *err)
{
    const char *t = k->t ? k->t : "";
    switch (tb->key) {
    case KEY_ID:
        return db_prep(c, s, err, tb->select, "ii", k->a, (int64_t)limit);
    case KEY_NAME:
        return db_prep(c, s, err, tb->select, "tii", t, k->a, (int64_t)limit);
    case KEY_POINT:
        return db_prep(c, s, err, tb->select, "iiii", k->a, k->b, k->c, (int64_t)limit);
    case KEY_BLOCK:
        return db_prep(c, s, err, tb->select, "itii", k->a, t, k->b, (int64_t)limit);
    }
    return dd_fail(err, DD_IO, "internal error: key kind");
}

/* DST's last key of the table (cursor_start's when it holds no row). */
static dd_code last_key(dd_conn *c, const table *tb, cursor *k, dd_err *err)
{
    cursor_start(k);
    db_stmt *s;
    bool row = false;
    dd_code code = db_prep(c, &s, err, tb->last, NULL);
    if (code == DD_OK)
        code = db_step(c, s, &row, tb->name, err);
    if (code == DD_OK && row)
        code = cursor_read(k, tb->key, s, err);
    if (code == DD_OK)
        db_reset(s);
    return code;
}

static dd_code count_rows(dd_conn *c, const table *tb, int64_t *out, dd_err *err)
{
    return db_int(c, out, err, tb->name, tb->count, NULL);
}

/* ---------------------------------------------------------------- opening */

/* DST is new when every table is empty but for what `deardiary init` seeds: the default
 * user, the registry's own uuid, the three top directory times. *table_out names the
 * first table holding anything else. */
static dd_code dst_is_new(dd_conn *c, const char **table_out, dd_err *err)
{
    *table_out = NULL;
    for (size_t i = 0; i < N_TABLES && !*table_out; i++) {
        const table *tb = &tables[i];
        int64_t n = 0;
        dd_code code;
        if (tb->mode == UPSERT || tb->mode == REPLACE)
            continue;   /* registry, dir_time: replaced by the copy */
        if (tb->mode == FIRST)
            code = db_int(c, &n, err, "user", "SELECT COUNT(*) FROM \"user\" WHERE username <> ?",
                          "t", DD_DEFAULT_USERNAME);
        else
            code = count_rows(c, tb, &n, err);
        if (code != DD_OK)
            return code;
        if (n > 0)
            *table_out = tb->name;
    }
    return DD_OK;
}

static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return !dd_locator_is_uri(a) && !dd_locator_is_uri(b) && stat(a, &sa) == 0 &&
           stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

#define INIT_HINT " (DST must be a registry made by `deardiary init DST`)"

/* Say which registry an error is about, and what to do about it (hint, or ""). */
static dd_code about(dd_code code, const char *who, const char *hint, dd_err *err)
{
    if (code == DD_OK || !err)
        return code;
    char msg[sizeof err->msg];
    snprintf(msg, sizeof msg, "%s", err->msg);
    return dd_fail(err, code, "%s: %s%s", who, msg, hint);
}

static dd_code check_versions(dd_store *src, dd_store *dst, dd_err *err)
{
    int vs = 0, vd = 0;
    dd_code code = about(dd_schema_version(src, &vs, err), "SRC", "", err);
    if (code == DD_OK)
        code = about(dd_schema_version(dst, &vd, err), "DST", INIT_HINT, err);
    if (code != DD_OK)
        return code;
    int known = dd_schema_version_known();
    if (vs == known && vd == known)
        return DD_OK;
    const char *which = vs != known ? "SRC" : "DST";
    return dd_fail(err, DD_INVALID, "SRC is at schema version %d and DST at %d, this deardiary"
                   " copies only between registries at %d: migrate %s first (any read-write"
                   " open does, e.g. `deardiary init %s`)", vs, vd, known, which,
                   vs != known ? "SRC" : "DST");
}

/* The checks of dd_migrate_db_open, on DST opened read-only. */
static dd_code check_pair(dd_store *src, dd_store *dst, dd_err *err)
{
    dd_code code = check_versions(src, dst, err);
    if (code != DD_OK)
        return code;
    if (strcmp(db_registry_uuid(src), db_registry_uuid(dst)) == 0)
        return DD_OK;   /* a partial (or finished) run from this SRC: resume */
    dd_conn *c;
    const char *busy = NULL;
    code = db_conn(dst, &c, err);
    if (code == DD_OK)
        code = dst_is_new(c, &busy, err);
    if (code == DD_OK && busy)
        code = dd_fail(err, DD_CONFLICT, "DST is not empty (table %s has rows) and is not a"
                       " partial copy of SRC: migrate-db copies into a registry just made by"
                       " `deardiary init DST`", busy);
    return code;
}

dd_code dd_migrate_db_open(const char *src, const char *dst, const dd_store_options *opts,
                           dd_store **src_out, dd_store **dst_out, dd_err *err)
{
    *src_out = *dst_out = NULL;
    char *cs = NULL, *cd = NULL;
    dd_code code = dd_locator_canonical(src, &cs, err);
    if (code == DD_OK)
        code = dd_locator_canonical(dst, &cd, err);
    if (code == DD_OK && (strcmp(cs, cd) == 0 || same_file(cs, cd)))
        code = dd_fail(err, DD_INVALID, "SRC and DST are the same registry");
    free(cs);
    free(cd);
    if (code == DD_OK && !dd_locator_is_uri(dst) && access(dst, F_OK) != 0)
        code = dd_fail(err, DD_NOT_FOUND, "DST %s does not exist: make it with `deardiary init"
                       " DST` first", dst);
    dd_store_options ro = opts ? *opts : (dd_store_options){0};
    ro.read_only = true;
    dd_store *s = NULL, *d = NULL;
    if (code == DD_OK)
        code = about(dd_store_open(src, &ro, &s, err), "SRC", "", err);
    if (code == DD_OK)
        code = about(dd_store_open(dst, &ro, &d, err), "DST",
                     " (DST must be reachable and made by `deardiary init DST`)", err);
    if (code == DD_OK)
        code = check_pair(s, d, err);
    dd_store_close(d);
    d = NULL;
    dd_store_options rw = ro;
    rw.read_only = false;
    /* db_store_open, not dd_store_open: no journal replay into DST */
    if (code == DD_OK)
        code = db_store_open(dst, &rw, &d, err);
    if (code != DD_OK) {
        dd_store_close(s);
        dd_store_close(d);
        return code;
    }
    *src_out = s;
    *dst_out = d;
    return DD_OK;
}

/* ---------------------------------------------------------------- copying */

typedef struct run {
    dd_store *src, *dst;
    dd_conn *sc;                  /* SRC's connection, inside its read snapshot */
    const dd_migrate_db_hooks *hooks;
    dd_migrate_db_stats *stats;
    int page_rows;
    int64_t src_default_user;     /* SRC's default user's id, 0 when it has none */
} run;

/* What a page's rows are handed with (db_each's context). */
typedef struct page {
    const table *tb;
    dd_conn *dc;
    cursor *k;
    dd_code code;
    dd_err *err;
    int64_t rows, bytes;
} page;

static int put_row(db_stmt *r, void *arg)
{
    page *p = arg;
    p->code = p->tb->put(p->dc, r, p->err);
    if (p->code == DD_OK)
        p->code = cursor_read(p->k, p->tb->key, r, p->err);
    if (p->code != DD_OK)
        return 1;
    p->rows++;
    if (p->tb->put == put_artifact_chunk) {
        size_t n = 0;
        db_col_blob(r, 3, &n);
        p->bytes += (int64_t)n;
    }
    return 0;
}

/* Copy one page after *k on DST's connection dc; *k moves to its last row. *rows: how
 * many (fewer than the page: the table is done). */
static dd_code copy_page(run *rn, const table *tb, dd_conn *dc, cursor *k, int64_t *rows,
                         int64_t *bytes, dd_err *err)
{
    int limit = tb->page ? tb->page : rn->page_rows;
    db_stmt *s;
    page p = {.tb = tb, .dc = dc, .k = k, .code = DD_OK, .err = err};
    /* the statement keeps pointing at the bound key text while it steps, and each row
     * moves *k: it binds a copy that lives until the page is done */
    cursor from = {0};
    cursor_copy(&from, k);
    dd_code code = k->t && !from.t ? dd_fail(err, DD_IO, "out of memory") : DD_OK;
    if (code == DD_OK)
        code = page_prep(rn->sc, tb, &from, limit, &s, err);
    if (code == DD_OK)
        code = db_each(rn->sc, s, tb->name, put_row, &p, err);
    free(from.t);
    if (code == DD_OK)
        code = p.code;
    *rows = p.rows;
    *bytes = p.bytes;
    return code;
}

static void progress(run *rn)
{
    if (rn->hooks && rn->hooks->progress)
        rn->hooks->progress(rn->hooks->ctx, rn->stats);
}

/* The seeded rows of a new DST go in the transaction that makes it SRC's partial copy
 * (the uuid), which also copies every user and raises DST's user id counter: every open
 * of DST read-write seeds a default user when it has none, so from then on DST must hold
 * SRC's users. When SRC has no default user, a later open of the partial DST seeds one
 * (under a new id): it is removed at the start of every run. */
static dd_code clear_seeded(run *rn, dd_conn *dc, bool fresh, dd_err *err)
{
    dd_code code = DD_OK;
    if (fresh)
        code = db_exec(dc, err, "clearing DST", "DELETE FROM dir_time", NULL);
    if (code == DD_OK && fresh)
        code = db_exec(dc, err, "clearing DST", "DELETE FROM \"user\"", NULL);
    if (code == DD_OK && !fresh)
        code = db_exec(dc, err, "clearing DST", "DELETE FROM \"user\" WHERE username = ?"
                       " AND id <> ?", "ti", DD_DEFAULT_USERNAME, rn->src_default_user);
    return code;
}

/* A RESUME table: pages, each its own DST transaction, after DST's last key. */
static dd_code copy_resume(run *rn, const table *tb, dd_err *err)
{
    cursor k = {0}, at = {0};
    cursor_start(&k);
    dd_conn *dc;
    dd_code code = db_conn(rn->dst, &dc, err);
    if (code == DD_OK)
        code = last_key(dc, tb, &k, err);
    for (bool done = false; code == DD_OK && !done;) {
        int64_t rows = 0, bytes = 0;
        db_txn w;
        DB_TXN(w, rn->dst, DB_TXN_WRITE, err) {
            cursor_copy(&at, &k);
            w.code = copy_page(rn, tb, w.c, &at, &rows, &bytes, err);
        }
        code = w.code;
        if (code == DD_OK) {
            cursor_copy(&k, &at);
            done = rows < (tb->page ? tb->page : rn->page_rows);
            rn->stats->rows_copied += rows;
            rn->stats->rows_done += rows;
            rn->stats->chunk_bytes += bytes;
            progress(rn);
        }
    }
    free(k.t);
    free(at.t);
    return code;
}

/* Every page of a table on DST's connection dc (inside the caller's transaction). */
static dd_code copy_pages(run *rn, const table *tb, dd_conn *dc, int64_t *total, dd_err *err)
{
    cursor k = {0};
    cursor_start(&k);
    dd_code code = DD_OK;
    for (bool done = false; code == DD_OK && !done;) {
        int64_t rows = 0, bytes = 0;
        code = copy_page(rn, tb, dc, &k, &rows, &bytes, err);
        *total += rows;
        done = rows < (tb->page ? tb->page : rn->page_rows);
    }
    free(k.t);
    return code;
}

static const table *table_named(const char *name)
{
    for (size_t i = 0; i < N_TABLES; i++)
        if (strcmp(tables[i].name, name) == 0)
            return &tables[i];
    return NULL;
}

/* registry (UPSERT; on a fresh DST with the clean-up and the users, FIRST) and dir_time
 * (REPLACE): every page of the table in one DST transaction. */
static dd_code copy_whole(run *rn, const table *tb, bool fresh, dd_err *err)
{
    const table *users = table_named("user");
    int64_t user_counter = 0, total = 0;
    dd_code code = DD_OK;
    if (tb->mode == UPSERT && fresh)
        code = db_id_counter(rn->sc, users->name, 0, &user_counter, err);
    if (code != DD_OK)
        return code;
    db_txn w;
    DB_TXN(w, rn->dst, DB_TXN_WRITE, err) {
        total = 0;
        if (tb->mode == REPLACE)
            w.code = db_exec(w.c, err, "clearing dir_time", "DELETE FROM dir_time", NULL);
        else
            w.code = clear_seeded(rn, w.c, fresh, err);
        if (w.code == DD_OK)
            w.code = copy_pages(rn, tb, w.c, &total, err);
        if (w.code == DD_OK && tb->mode == UPSERT && fresh)
            w.code = copy_pages(rn, users, w.c, &total, err);
        int64_t have = 0;
        if (w.code == DD_OK && tb->mode == UPSERT && fresh && user_counter > 0)
            w.code = db_id_counter(w.c, users->name, user_counter, &have, err);
    }
    if (w.code == DD_OK) {
        rn->stats->rows_copied += total;
        rn->stats->rows_done += total;
        progress(rn);
    }
    return w.code;
}

/* Raise each id counter of DST to SRC's (and to DST's highest id), so a row created in
 * DST afterwards never takes an id that SRC had handed out, even one since deleted. */
static dd_code copy_counters(run *rn, dd_err *err)
{
    int64_t want[N_TABLES] = {0};
    dd_code code = DD_OK;
    for (size_t i = 0; i < N_TABLES && code == DD_OK; i++)
        if (tables[i].counter)
            code = db_id_counter(rn->sc, tables[i].name, 0, &want[i], err);
    if (code != DD_OK)
        return code;
    db_txn w;
    DB_TXN(w, rn->dst, DB_TXN_WRITE, err) {
        cursor k = {0};
        for (size_t i = 0; i < N_TABLES && w.code == DD_OK; i++) {
            if (!tables[i].counter)
                continue;
            int64_t have = 0;
            cursor_start(&k);
            w.code = last_key(w.c, &tables[i], &k, err);
            int64_t to = want[i] > k.a ? want[i] : k.a;
            if (w.code == DD_OK && to > 0)
                w.code = db_id_counter(w.c, tables[i].name, to, &have, err);
            if (w.code == DD_OK && have < to)
                w.code = dd_fail(err, DD_IO, "%s: the id counter stays at %lld below %lld",
                                 tables[i].name, (long long)have, (long long)to);
        }
        free(k.t);
    }
    return w.code;
}

/* Row counts of every table: SRC read again now (outside the copy's snapshot, so a
 * change made to SRC during the copy shows) against DST. */
static dd_code verify_counts(run *rn, dd_err *err)
{
    dd_conn *sc, *dc;
    dd_code code = db_conn(rn->src, &sc, err);
    if (code == DD_OK)
        code = db_conn(rn->dst, &dc, err);
    for (size_t i = 0; i < N_TABLES && code == DD_OK; i++) {
        int64_t ns = 0, nd = 0;
        code = count_rows(sc, &tables[i], &ns, err);
        if (code == DD_OK)
            code = count_rows(dc, &tables[i], &nd, err);
        if (code == DD_OK && ns != nd)
            code = dd_fail(err, DD_CONFLICT, "table %s: SRC has %lld rows, DST %lld (did SRC"
                           " change during the copy? it must not: stop its mounts and"
                           " servers, then run migrate-db again)", tables[i].name,
                           (long long)ns, (long long)nd);
    }
    return code;
}

/* The whole copy inside SRC's read snapshot (the body of its DB_TXN_READ). */
static dd_code copy_all(run *rn, dd_err *err)
{
    dd_code code = db_int(rn->sc, &rn->src_default_user, err, "the default user",
                          "SELECT coalesce(MAX(id), 0) FROM \"user\" WHERE username = ?", "t",
                          DD_DEFAULT_USERNAME);
    rn->stats->rows_total = rn->stats->rows_done = 0;
    bool fresh = strcmp(db_registry_uuid(rn->src), db_registry_uuid(rn->dst)) != 0;
    rn->stats->resumed = !fresh;
    dd_conn *dc = NULL;
    if (code == DD_OK)
        code = db_conn(rn->dst, &dc, err);
    for (size_t i = 0; i < N_TABLES && code == DD_OK; i++) {
        int64_t n = 0;
        code = count_rows(rn->sc, &tables[i], &n, err);
        rn->stats->rows_total += n;
        bool resumable = !fresh && (tables[i].mode == RESUME || tables[i].mode == FIRST);
        if (code == DD_OK && resumable)
            code = count_rows(dc, &tables[i], &n, err);
        if (code == DD_OK && resumable)
            rn->stats->rows_done += n;
    }
    for (size_t i = 0; i < N_TABLES && code == DD_OK; i++) {
        rn->stats->table = tables[i].name;
        if (tables[i].mode == RESUME)
            code = copy_resume(rn, &tables[i], err);
        else if (tables[i].mode != FIRST)
            code = copy_whole(rn, &tables[i], fresh, err);
    }
    if (code == DD_OK)
        code = copy_counters(rn, err);
    return code;
}

dd_code dd_migrate_db_copy(dd_store *src, dd_store *dst, const dd_migrate_db_hooks *hooks,
                           dd_migrate_db_stats *stats, dd_err *err)
{
    *stats = (dd_migrate_db_stats){0};
    run rn = {.src = src, .dst = dst, .hooks = hooks, .stats = stats,
              .page_rows = hooks && hooks->page_rows > 0 ? hooks->page_rows : 1000};
    db_txn t;
    DB_TXN(t, src, DB_TXN_READ, err) {
        rn.sc = t.c;
        t.code = copy_all(&rn, err);
    }
    stats->table = NULL;
    if (t.code == DD_OK)
        t.code = verify_counts(&rn, err);
    return t.code;
}

/* ---------------------------------------------------------------- resources */

typedef struct res_page {
    dd_migrate_db_resource_fn fn;
    void *ctx;
    int64_t last;
    int rows;
    bool stop;
} res_page;

static int res_row(db_stmt *s, void *arg)
{
    res_page *p = arg;
    p->last = db_col_int64(s, 0);
    p->rows++;
    p->stop = p->fn(p->ctx, p->last, db_col_text(s, 1), db_col_text(s, 2),
                    db_col_int64(s, 3) != 0) != 0;
    return p->stop;
}

dd_code dd_migrate_db_resources(dd_store *st, dd_migrate_db_resource_fn fn, void *ctx,
                                dd_err *err)
{
    dd_conn *c;
    dd_code code = db_conn(st, &c, err);
    res_page p = {.fn = fn, .ctx = ctx, .last = INT64_MIN};
    do {
        db_stmt *s;
        p.rows = 0;
        if (code == DD_OK)
            code = db_prep(c, &s, err, "SELECT id, name, content_hash, broken FROM resource"
                           " WHERE id > ? ORDER BY id LIMIT 500", "i", p.last);
        if (code == DD_OK)
            code = db_each(c, s, "listing resources", res_row, &p, err);
    } while (code == DD_OK && p.rows == 500 && !p.stop);
    return code;
}
