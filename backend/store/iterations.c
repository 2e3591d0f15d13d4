/*
 * iterations.c - iterations (runs), their environment snapshot and captured files, and
 * their parameters.
 *
 * The lock: once an iteration has an end_date it is read-only, and so are its parameters,
 * metrics, files and tags. Every write checks this inside its own write transaction, so a
 * status change racing with a write is either before it (write refused) or after it.
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "store_local.h"

#define ITER_LIST_COLS "id, experiment_id, parent_iteration_id, status_id, notes, error_message," \
                       " created_date, end_date, julia_version, git_sha, git_dirty, entrypoint," \
                       " coalesce(updated_date, end_date, created_date)"
#define ITER_COLS ITER_LIST_COLS ", project_toml, manifest_toml"

static char *col(db_stmt *s, int i, bool copy)
{
    return copy ? db_col_dup(s, i) : (char *)db_col_text(s, i);
}

/* Fill *it from ITER_LIST_COLS (and the two TOML columns when `full`). */
static void iteration_from_row(db_stmt *s, dd_iteration *it, bool copy, bool full)
{
    it->id = db_col_int64(s, 0);
    it->experiment_id = db_col_int64(s, 1);
    it->parent_iteration_id = db_col_int64(s, 2);
    it->status_id = db_col_int(s, 3);
    it->notes = col(s, 4, copy);
    it->error_message = col(s, 5, copy);
    db_col_ts(s, 6, it->created_date);
    db_col_ts(s, 7, it->end_date);
    it->julia_version = col(s, 8, copy);
    it->git_sha = col(s, 9, copy);
    it->git_dirty = db_col_int(s, 10) != 0;
    it->entrypoint = col(s, 11, copy);
    db_col_ts(s, 12, it->updated_date);
    it->project_toml = full ? col(s, 13, copy) : (copy ? strdup("") : (char *)"");
    it->manifest_toml = full ? col(s, 14, copy) : (copy ? strdup("") : (char *)"");
}

void dd_iteration_clear(dd_iteration *it)
{
    if (!it)
        return;
    free(it->notes);
    free(it->error_message);
    free(it->julia_version);
    free(it->git_sha);
    free(it->entrypoint);
    free(it->project_toml);
    free(it->manifest_toml);
    memset(it, 0, sizeof *it);
}

dd_code local_iteration_create(dd_store *st, int64_t experiment_id, int64_t parent_id,
                            int64_t *id_out, dd_err *err)
{
    int64_t id = 0;
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        int64_t status = 0, parent_exp = 0;
        id = 0;
        /* the experiment (cannot end or go meanwhile), then the parent iteration */
        dd_code code = db_lock(c, DB_LOCK_SHARE, DB_T_EXPERIMENT, experiment_id, err);
        if (code == DD_OK && parent_id)
            code = db_lock(c, DB_LOCK_SHARE, DB_T_ITERATION, parent_id, err);
        if (code == DD_OK)
            code = db_int(c, &status, err, "experiment",
                          "SELECT status_id FROM experiment WHERE id = ?", "i", experiment_id);
        if (code == DD_OK && status != DD_EXP_IN_PROGRESS)
            code = dd_fail(err, DD_INVALID,
                           "experiment %lld is %s; only IN_PROGRESS experiments accept new iterations",
                           (long long)experiment_id, dd_experiment_status_name((int)status));
        if (code == DD_OK && parent_id) {
            code = db_int(c, &parent_exp, err, "parent iteration",
                          "SELECT experiment_id FROM iteration WHERE id = ?", "i", parent_id);
            if (code == DD_OK && parent_exp != experiment_id)
                code = dd_fail(err, DD_INVALID,
                               "parent iteration %lld belongs to another experiment",
                               (long long)parent_id);
        }
        char now[DD_TS_LEN];
        dd_now(now);
        if (code == DD_OK)
            code = db_insert_id(c, &id, err, "iteration",
                                "INSERT INTO iteration(experiment_id, parent_iteration_id,"
                                " created_date) VALUES (?, ?, ?) RETURNING id", "iIt", experiment_id,
                                parent_id, now);
        t.code = code;
    }
    if (t.code == DD_OK && id_out)
        *id_out = id;
    return t.code;
}

dd_code local_iteration_get(dd_store *st, int64_t id, dd_iteration *out, dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    memset(out, 0, sizeof *out);
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT " ITER_COLS " FROM iteration WHERE id = ?", "i", id);
    if (code != DD_OK)
        return code;
    bool row;
    code = db_step(c, s, &row, "reading an iteration", err);
    if (code == DD_OK && !row)
        code = dd_fail(err, DD_NOT_FOUND, "iteration %lld not found", (long long)id);
    if (code == DD_OK)
        iteration_from_row(s, out, true, true);
    db_reset(s);
    return code;
}

/* Listings are read LIST_SLICE rows a statement, each slice resuming after the last id
 * (an index range: (experiment_id, id), (parent_iteration_id, id)): the PostgreSQL engine
 * holds a statement's whole result, and `ls -l` of 100k iterations as one result held
 * 135 MB in the daemon (BENCHMARKS.md, "PostgreSQL mounts"). */
#define LIST_SLICE 4096
#define LIST_SLICE_TEXT(n) #n
#define LIST_LIMIT(n) " ORDER BY id LIMIT " LIST_SLICE_TEXT(n)
typedef struct iteration_slice {
    dd_iteration_cb cb;
    void *ctx;
    int64_t rows, last;       /* rows of this slice; the last id handed out */
    bool stopped;             /* the callback asked to stop */
} iteration_slice;

static int iteration_row(db_stmt *s, void *arg)
{
    iteration_slice *l = arg;
    dd_iteration it;
    iteration_from_row(s, &it, false, false);
    l->rows++;
    l->last = it.id;
    l->stopped = l->cb(l->ctx, &it) != 0;
    return l->stopped;
}

/* Every slice of the listing of an experiment's iterations, or (children) of an iteration's
 * direct children. */
static dd_code list_sliced(dd_store *st, int64_t owner, bool children, dd_iteration_cb cb,
                           void *ctx, dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    dd_code code = db_conn(st, &c, err);
    iteration_slice l = {.cb = cb, .ctx = ctx};
    while (code == DD_OK) {
        code = children
            ? db_prep(c, &s, err, "SELECT " ITER_LIST_COLS " FROM iteration"
                      " WHERE parent_iteration_id = ? AND id > ?" LIST_LIMIT(LIST_SLICE), "ii",
                      owner, l.last)
            : db_prep(c, &s, err, "SELECT " ITER_LIST_COLS " FROM iteration"
                      " WHERE experiment_id = ? AND id > ?" LIST_LIMIT(LIST_SLICE), "ii",
                      owner, l.last);
        l.rows = 0;
        if (code == DD_OK)
            code = db_each(c, s, children ? "listing child iterations" : "listing iterations",
                           iteration_row, &l, err);
        if (l.stopped || l.rows < LIST_SLICE)
            break;
    }
    return code;
}

dd_code local_iteration_list(dd_store *st, int64_t experiment_id, dd_iteration_cb cb, void *ctx,
                          dd_err *err)
{
    return list_sliced(st, experiment_id, false, cb, ctx, err);
}

dd_code local_iteration_list_children(dd_store *st, int64_t parent_id, dd_iteration_cb cb,
                                   void *ctx, dd_err *err)
{
    return list_sliced(st, parent_id, true, cb, ctx, err);
}

dd_code local_iteration_set_status(dd_store *st, int64_t id, int status, const char *error_message,
                                dd_err *err)
{
    if (!dd_iteration_status_name(status))
        return dd_fail(err, DD_INVALID, "%d is not an iteration status", status);
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        dd_code code = db_iteration_writable(c, id, err);
        char now[DD_TS_LEN];
        dd_now(now);
        if (code == DD_OK)
            code = db_exec(c, err, "iteration",
                           "UPDATE iteration SET status_id = ?1,"
                           " end_date = CASE WHEN ?1 = 1 THEN NULL ELSE ?2 END,"
                           " error_message = COALESCE(?3, error_message) WHERE id = ?4",
                           "ntti", status, now, error_message, id);
        if (code == DD_OK)
            db_forget_metric_checks(c);   /* held metric files: see the end at once */
        t.code = code;
    }
    return t.code;
}

/* Update one text column of a running iteration. */
static dd_code iteration_set_text(dd_store *st, int64_t id, const char *sql, const char *value,
                                  const char *what, dd_err *err)
{
    if (!value)
        return dd_fail(err, DD_INVALID, "%s: missing value", what);
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        dd_code code = db_iteration_writable(c, id, err);
        if (code == DD_OK)
            code = db_exec(c, err, what, sql, "ti", value, id);
        t.code = code;
    }
    return t.code;
}

dd_code local_iteration_set_notes(dd_store *st, int64_t id, const char *notes, dd_err *err)
{
    return iteration_set_text(st, id, "UPDATE iteration SET notes = ? WHERE id = ?", notes,
                              "iteration notes", err);
}

dd_code local_iteration_set_error_message(dd_store *st, int64_t id, const char *message,
                                       dd_err *err)
{
    return iteration_set_text(st, id, "UPDATE iteration SET error_message = ? WHERE id = ?",
                              message, "iteration error message", err);
}

dd_code dd_iteration_file_set(dd_store *st, int64_t iteration_id, const char *name,
                              const void *data, size_t len, dd_err *err)
{
    dd_code code = dd_name_check(name, "file name", err);
    if (code != DD_OK)
        return code;
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        code = db_iteration_writable(c, iteration_id, err);
        if (code == DD_OK)
            code = db_exec(c, err, "iteration file",
                           "INSERT INTO iteration_file(iteration_id, name, content) VALUES (?, ?, ?)"
                           " ON CONFLICT(iteration_id, name) DO UPDATE SET content = excluded.content",
                           "itb", iteration_id, name, data, len);
        t.code = code;
    }
    return t.code;
}

dd_code local_iteration_file_get(dd_store *st, int64_t iteration_id, const char *name,
                              void **data_out, size_t *len_out, dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT content FROM iteration_file"
                       " WHERE iteration_id = ? AND name = ?", "it", iteration_id, name);
    if (code != DD_OK)
        return code;
    bool row;
    code = db_step(c, s, &row, "reading an iteration file", err);
    if (code == DD_OK && !row)
        code = dd_fail(err, DD_NOT_FOUND, "iteration %lld has no file \"%s\"",
                       (long long)iteration_id, name);
    if (code == DD_OK) {
        size_t n = 0;
        const void *content = db_col_blob(s, 0, &n);
        void *buf = malloc(n ? n : 1);
        if (!buf)
            code = dd_fail(err, DD_IO, "out of memory");
        else {
            if (n)
                memcpy(buf, content, n);
            *data_out = buf;
            *len_out = n;
        }
    }
    db_reset(s);
    return code;
}

static int file_row(db_stmt *s, void *arg)
{
    db_list_ctx *l = arg;
    return ((dd_iteration_file_cb)l->cb)(l->ctx, db_col_int64(s, 2), db_col_text(s, 0),
                                          (size_t)db_col_int64(s, 1));
}

dd_code local_iteration_file_by_id(dd_store *st, int64_t id, int64_t *iteration_id_out,
                                char **name_out, size_t *len_out, dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT iteration_id, name, length(content) FROM iteration_file"
                       " WHERE id = ?", "i", id);
    if (code != DD_OK)
        return code;
    bool row;
    code = db_step(c, s, &row, "reading an iteration file", err);
    if (code == DD_OK && !row)
        code = dd_fail(err, DD_NOT_FOUND, "iteration file %lld not found", (long long)id);
    if (code == DD_OK) {
        *iteration_id_out = db_col_int64(s, 0);
        *len_out = (size_t)db_col_int64(s, 2);
        if (name_out && !(*name_out = db_col_dup(s, 1)))
            code = dd_fail(err, DD_IO, "out of memory");
    }
    db_reset(s);
    return code;
}

dd_code local_iteration_file_find(dd_store *st, int64_t iteration_id, const char *name,
                               int64_t *id_out, size_t *len_out, dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT id, length(content) FROM iteration_file"
                       " WHERE iteration_id = ? AND name = ?", "it", iteration_id,
                       name ? name : "");
    if (code != DD_OK)
        return code;
    bool row;
    code = db_step(c, s, &row, "reading an iteration file", err);
    if (code == DD_OK && !row)
        code = dd_fail(err, DD_NOT_FOUND, "no file \"%s\"", name ? name : "");
    if (code == DD_OK) {
        *id_out = db_col_int64(s, 0);
        *len_out = (size_t)db_col_int64(s, 1);
    }
    db_reset(s);
    return code;
}

dd_code local_iteration_file_list(dd_store *st, int64_t iteration_id, dd_iteration_file_cb cb,
                               void *ctx, dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT name, length(content), id FROM iteration_file"
                       " WHERE iteration_id = ? ORDER BY name", "i", iteration_id);
    db_list_ctx l = {(void *)cb, ctx};
    return code == DD_OK ? db_each(c, s, "listing iteration files", file_row, &l, err) : code;
}

/* Inside a write transaction, under the iteration's DELETE lock: DD_NOT_EMPTY when it
 * holds parameters or metric series. */
static dd_code iteration_empty(dd_conn *c, int64_t id, dd_err *err)
{
    int64_t n = 0;
    dd_code code = db_int(c, &n, err, "iteration contents",
                          "SELECT (SELECT COUNT(*) FROM parameter WHERE iteration_id = ?1)"
                          " + (SELECT COUNT(*) FROM metric_latest WHERE iteration_id = ?1)",
                          "i", id);
    if (code == DD_OK && n > 0)
        code = dd_fail(err, DD_NOT_EMPTY, "iteration %lld holds parameters or metrics",
                       (long long)id);
    return code;
}

dd_code local_iteration_delete(dd_store *st, int64_t id, bool cascade, dd_err *err)
{
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        /* the lock first (§3.3): a parameter or point written meanwhile by another node
         * either committed before (then it is counted) or waits and finds the iteration
         * gone */
        t.code = db_lock(t.c, DB_LOCK_DELETE, DB_T_ITERATION, id, err);
        if (t.code == DD_OK && !cascade)
            t.code = iteration_empty(t.c, id, err);
        if (t.code == DD_OK)
            t.code = db_delete_iteration(t.c, id, err);
    }
    return t.code;
}

dd_code local_iteration_values_updated(dd_store *st, int64_t id, char params_out[DD_TS_LEN],
                                    char metrics_out[DD_TS_LEN], dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    params_out[0] = metrics_out[0] = 0;
    dd_code code = db_drain(st, err);
    if (code == DD_OK)
        code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err,
                       "SELECT (SELECT max(updated_date) FROM parameter WHERE iteration_id = ?1),"
                       " (SELECT max(coalesce(updated_date, recorded_at)) FROM metric_latest"
                       " WHERE iteration_id = ?1)", "i", id);
    if (code != DD_OK)
        return code;
    bool row;
    code = db_step(c, s, &row, "reading an iteration's times", err);
    if (code == DD_OK && row) {
        db_col_ts(s, 0, params_out);
        db_col_ts(s, 1, metrics_out);
    }
    db_reset(s);
    return code;
}

/* ---------------------------------------------------------------- parameters */

static dd_code param_check(const char *key, const char *value, dd_err *err)
{
    dd_code code = dd_name_check(key, "parameter key", err);
    if (code == DD_OK && (!value || !*value))
        code = dd_fail(err, DD_INVALID, "parameter \"%s\": the value is empty", key);
    return code;
}

static dd_code param_upsert(dd_conn *c, int64_t iteration_id, const char *key,
                            const char *value, dd_err *err)
{
    char now[DD_TS_LEN];
    dd_now(now);
    return db_exec(c, err, "parameter",
                   "INSERT INTO parameter(iteration_id, key, value, updated_date)"
                   " VALUES (?, ?, ?, ?) ON CONFLICT(iteration_id, key)"
                   " DO UPDATE SET value = excluded.value, updated_date = excluded.updated_date",
                   "ittt", iteration_id, key, value, now);
}

dd_code local_param_set(dd_store *st, int64_t iteration_id, const char *key, const char *value,
                     dd_err *err)
{
    return dd_param_set_many(st, iteration_id, &key, &value, 1, err);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The iteration's parameter keys that are not among `keep` (sorted). */
typedef struct param_gone {
    const char **keep;
    size_t n_keep;
    char **gone;
    size_t n, cap;
    bool oom;
} param_gone;

static int param_gone_row(db_stmt *s, void *arg)
{
    param_gone *g = arg;
    const char *key = db_col_text(s, 0);
    if (bsearch(&key, g->keep, g->n_keep, sizeof *g->keep, str_cmp))
        return 0;
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 16;
        char **grown = realloc(g->gone, cap * sizeof *grown);
        if (!grown)
            return g->oom = true;
        g->gone = grown;
        g->cap = cap;
    }
    if (!(g->gone[g->n] = strdup(key)))
        return g->oom = true;
    g->n++;
    return 0;
}

/* Delete, in the open transaction, every parameter of the iteration not named in
 * keys[0..n): the rows that stay keep their ids (their files' inode numbers). */
static dd_code param_delete_others(dd_conn *c, int64_t iteration_id, const char *const *keys,
                                   size_t n, dd_err *err)
{
    param_gone g = {.keep = malloc((n ? n : 1) * sizeof *g.keep), .n_keep = n};
    if (!g.keep)
        return dd_fail(err, DD_IO, "out of memory");
    memcpy(g.keep, keys, n * sizeof *keys);
    qsort(g.keep, n, sizeof *g.keep, str_cmp);
    db_stmt *s;
    dd_code code = db_prep(c, &s, err, "SELECT key FROM parameter WHERE iteration_id = ?", "i",
                           iteration_id);
    if (code == DD_OK)
        code = db_each(c, s, "listing parameters", param_gone_row, &g, err);
    if (code == DD_OK && g.oom)
        code = dd_fail(err, DD_IO, "out of memory");
    for (size_t i = 0; i < g.n && code == DD_OK; i++)
        code = db_exec(c, err, "parameter",
                       "DELETE FROM parameter WHERE iteration_id = ? AND key = ?", "it",
                       iteration_id, g.gone[i]);
    for (size_t i = 0; i < g.n; i++)
        free(g.gone[i]);
    free(g.gone);
    free(g.keep);
    return code;
}

static dd_code param_write_many(dd_store *st, int64_t iteration_id, const char *const *keys,
                                const char *const *values, size_t n, bool replace,
                                dd_err *err)
{
    dd_code code = DD_OK;
    for (size_t i = 0; i < n && code == DD_OK; i++)
        code = param_check(keys[i], values[i], err);
    if (code != DD_OK)
        return code;
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        code = db_iteration_writable(c, iteration_id, err);
        if (code == DD_OK && replace)
            code = param_delete_others(c, iteration_id, keys, n, err);
        for (size_t i = 0; i < n && code == DD_OK; i++)
            code = param_upsert(c, iteration_id, keys[i], values[i], err);
        t.code = code;
    }
    return t.code;
}

dd_code local_param_set_many(dd_store *st, int64_t iteration_id, const char *const *keys,
                          const char *const *values, size_t n, dd_err *err)
{
    return param_write_many(st, iteration_id, keys, values, n, false, err);
}

dd_code local_param_replace_all(dd_store *st, int64_t iteration_id, const char *const *keys,
                             const char *const *values, size_t n, dd_err *err)
{
    return param_write_many(st, iteration_id, keys, values, n, true, err);
}

dd_code dd_param_get(dd_store *st, int64_t iteration_id, const char *key, char **value_out,
                     dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT value FROM parameter WHERE iteration_id = ? AND key = ?",
                       "it", iteration_id, key ? key : "");
    if (code != DD_OK)
        return code;
    bool row;
    code = db_step(c, s, &row, "reading a parameter", err);
    if (code == DD_OK && !row)
        code = dd_fail(err, DD_NOT_FOUND, "parameter \"%s\" not found", key ? key : "");
    if (code == DD_OK && !(*value_out = db_col_dup(s, 0)))
        code = dd_fail(err, DD_IO, "out of memory");
    db_reset(s);
    return code;
}

static int param_full_row(db_stmt *s, void *arg)
{
    db_list_ctx *l = arg;
    dd_param_row r = {.id = db_col_int64(s, 0), .key = db_col_text(s, 1),
                      .value = db_col_text(s, 2)};
    db_col_ts(s, 3, r.updated_date);
    return ((dd_param_row_cb)l->cb)(l->ctx, &r);
}

dd_code local_param_list_rows(dd_store *st, int64_t iteration_id, dd_param_row_cb cb, void *ctx,
                           dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT id, key, value, updated_date FROM parameter"
                       " WHERE iteration_id = ? ORDER BY key", "i", iteration_id);
    db_list_ctx l = {(void *)cb, ctx};
    return code == DD_OK ? db_each(c, s, "listing parameters", param_full_row, &l, err) : code;
}

/* dd_param_list's callback, fed by dd_param_list_rows. */
static int param_key_value(void *arg, const dd_param_row *r)
{
    db_list_ctx *l = arg;
    return ((dd_param_cb)l->cb)(l->ctx, r->key, r->value);
}

dd_code local_param_list(dd_store *st, int64_t iteration_id, dd_param_cb cb, void *ctx,
                      dd_err *err)
{
    db_list_ctx l = {(void *)cb, ctx};
    return dd_param_list_rows(st, iteration_id, param_key_value, &l, err);
}

dd_code local_param_delete(dd_store *st, int64_t iteration_id, const char *key, dd_err *err)
{
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        dd_code code = db_iteration_writable(c, iteration_id, err);
        if (code == DD_OK)
            code = db_exec(c, err, "parameter",
                           "DELETE FROM parameter WHERE iteration_id = ? AND key = ?", "it",
                           iteration_id, key ? key : "");
        if (code == DD_OK && db_changes(c) == 0)
            code = dd_fail(err, DD_NOT_FOUND, "parameter \"%s\" not found", key ? key : "");
        t.code = code;
    }
    return t.code;
}

dd_code local_param_get_by_id(dd_store *st, int64_t id, int64_t *iteration_id_out, char **key_out,
                           char **value_out, char *updated_out, dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT iteration_id, key, value, updated_date FROM parameter"
                       " WHERE id = ?",
                       "i", id);
    if (code != DD_OK)
        return code;
    bool row;
    code = db_step(c, s, &row, "reading a parameter", err);
    if (code == DD_OK && !row)
        code = dd_fail(err, DD_NOT_FOUND, "parameter %lld not found", (long long)id);
    if (code == DD_OK) {
        if (iteration_id_out)
            *iteration_id_out = db_col_int64(s, 0);
        if (updated_out)
            db_col_ts(s, 3, updated_out);
        if (key_out && !(*key_out = db_col_dup(s, 1)))
            code = dd_fail(err, DD_IO, "out of memory");
        if (code == DD_OK && value_out && !(*value_out = db_col_dup(s, 2))) {
            if (key_out)
                free(*key_out);
            code = dd_fail(err, DD_IO, "out of memory");
        }
    }
    db_reset(s);
    return code;
}

dd_code local_param_find(dd_store *st, int64_t iteration_id, const char *key, int64_t *id_out,
                      dd_err *err)
{
    dd_conn *c;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_int(c, id_out, err, "parameter",
                      "SELECT id FROM parameter WHERE iteration_id = ? AND key = ?", "it",
                      iteration_id, key ? key : "");
    return code;
}

dd_code local_param_rename(dd_store *st, int64_t iteration_id, const char *old_key,
                        const char *new_key, dd_err *err)
{
    dd_code code = dd_name_check(new_key, "parameter key", err);
    if (code != DD_OK)
        return code;
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        code = db_iteration_writable(c, iteration_id, err);
        int64_t id = 0;
        if (code == DD_OK)
            code = db_int(c, &id, err, "parameter",
                          "SELECT id FROM parameter WHERE iteration_id = ? AND key = ?", "it",
                          iteration_id, old_key ? old_key : "");
        if (code == DD_OK && strcmp(old_key, new_key) != 0)
            code = db_exec(c, err, "parameter",
                           "DELETE FROM parameter WHERE iteration_id = ? AND key = ?", "it",
                           iteration_id, new_key);
        char now[DD_TS_LEN];
        dd_now(now);
        if (code == DD_OK)
            code = db_exec(c, err, "parameter",
                           "UPDATE parameter SET key = ?, updated_date = ? WHERE id = ?", "tti",
                           new_key, now, id);
        t.code = code;
    }
    return t.code;
}
