/*
 * resources.c - experiment resources (artifact rows) and the queue of artifact bytes
 * waiting for removal.
 *
 * Inline bytes live in chunk sets (artifact_chunk, written by the artifact stores in
 * artifacts.c) or, for rows made by dd_resource_create_inline, in resource.data; both are
 * read with SQLite's incremental blob I/O, so a read never loads the whole artifact. Rows
 * of external backends carry backend, uri, size and sha256; their bytes are written by
 * the artifact stores before the row exists. db_resource_put_bytes is how an upload's
 * commit creates or replaces a row.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "art_int.h"
#include "db.h"
#include "store_local.h"

#define RES_COLS "id, experiment_id, name, description, created_date, updated_date, backend," \
                 " uri, size_bytes, content_hash, generation, broken"

static void resource_from_row(db_stmt *s, dd_resource *r, bool copy)
{
    r->id = db_col_int64(s, 0);
    r->experiment_id = db_col_int64(s, 1);
    r->name = copy ? db_col_dup(s, 2) : (char *)db_col_text(s, 2);
    r->description = copy ? db_col_dup(s, 3) : (char *)db_col_text(s, 3);
    db_col_ts(s, 4, r->created_date);
    db_col_ts(s, 5, r->updated_date);
    r->backend = copy ? db_col_dup(s, 6) : (char *)db_col_text(s, 6);
    r->uri = copy ? db_col_dup(s, 7) : (char *)db_col_text(s, 7);
    r->size_bytes = db_col_int64(s, 8);
    r->content_hash = copy ? db_col_dup(s, 9) : (char *)db_col_text(s, 9);
    r->generation = db_col_int64(s, 10);
    r->broken = db_col_int(s, 11) != 0;
}

void dd_resource_clear(dd_resource *r)
{
    if (!r)
        return;
    free(r->name);
    free(r->description);
    free(r->backend);
    free(r->uri);
    free(r->content_hash);
    memset(r, 0, sizeof *r);
}

static dd_code sha256_hex(const void *data, size_t len, char out[65], dd_err *err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        return dd_fail(err, DD_IO, "sha256 failed");
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return DD_OK;
}

/* Inside a write transaction: the experiment must exist and be IN_PROGRESS (checked under
 * its SHARE lock: it cannot end or go before this transaction commits). */
static dd_code experiment_accepts_resources(dd_conn *c, int64_t experiment_id, dd_err *err)
{
    int64_t status = 0;
    dd_code code = db_lock(c, DB_LOCK_SHARE, DB_T_EXPERIMENT, experiment_id, err);
    if (code == DD_OK)
        code = db_int(c, &status, err, "experiment",
                          "SELECT status_id FROM experiment WHERE id = ?", "i", experiment_id);
    if (code == DD_OK && status != DD_EXP_IN_PROGRESS)
        code = dd_fail(err, DD_INVALID,
                       "experiment %lld is %s; only IN_PROGRESS experiments accept resources",
                       (long long)experiment_id, dd_experiment_status_name((int)status));
    return code;
}

static dd_code resource_insert(dd_store *st, int64_t experiment_id, const char *name,
                               const void *data, size_t len, const char *backend,
                               const char *uri, int64_t size, const char *hash,
                               int64_t *id_out, dd_err *err)
{
    dd_code code = dd_name_check(name, "resource name", err);
    if (code != DD_OK)
        return code;
    int64_t id = 0;
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        code = experiment_accepts_resources(c, experiment_id, err);
        char now[DD_TS_LEN];
        dd_now(now);
        id = 0;
        if (code == DD_OK) {
            code = data
                ? db_insert_id(c, &id, err, "resource",
                               "INSERT INTO resource(experiment_id, name, data, created_date, backend,"
                               " uri, size_bytes, content_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                               " RETURNING id",
                               "itbtttit", experiment_id, name, data, len, now, backend, uri, size,
                               hash)
                : db_insert_id(c, &id, err, "resource",
                               "INSERT INTO resource(experiment_id, name, created_date, backend, uri,"
                               " size_bytes, content_hash) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                               "ittttit", experiment_id, name, now, backend, uri, size, hash);
            if (code == DD_CONFLICT)
                dd_fail(err, code, "resource \"%s\" already exists in this experiment", name);
        }
        t.code = code;
    }
    if (t.code == DD_OK && id_out)
        *id_out = id;
    return t.code;
}

dd_code dd_resource_create_inline(dd_store *st, int64_t experiment_id, const char *name,
                                  const void *data, size_t len, int64_t *id_out, dd_err *err)
{
    char hash[65];
    dd_code code = sha256_hex(data ? data : "", len, hash, err);
    if (code != DD_OK)
        return code;
    return resource_insert(st, experiment_id, name, data ? data : "", len, "inline", "",
                           (int64_t)len, hash, id_out, err);
}

dd_code dd_resource_create_external(dd_store *st, int64_t experiment_id, const char *name,
                                    const char *backend, const char *uri, int64_t size_bytes,
                                    const char *content_hash, int64_t *id_out, dd_err *err)
{
    if (!backend || (strcmp(backend, "filesystem") != 0 && strcmp(backend, "s3") != 0))
        return dd_fail(err, DD_INVALID, "unknown external artifact backend \"%s\"",
                       backend ? backend : "");
    if (!uri || !*uri || size_bytes < 0 || !content_hash)
        return dd_fail(err, DD_INVALID, "an external resource needs a uri, size and hash");
    return resource_insert(st, experiment_id, name, NULL, 0, backend, uri, size_bytes,
                           content_hash, id_out, err);
}

dd_code local_resource_get(dd_store *st, int64_t id, dd_resource *out, dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    memset(out, 0, sizeof *out);
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT " RES_COLS " FROM resource WHERE id = ?", "i", id);
    if (code != DD_OK)
        return code;
    bool row;
    code = db_step(c, s, &row, "reading a resource", err);
    if (code == DD_OK && !row)
        code = dd_fail(err, DD_NOT_FOUND, "resource %lld not found", (long long)id);
    if (code == DD_OK)
        resource_from_row(s, out, true);
    db_reset(s);
    return code;
}

dd_code local_resource_find(dd_store *st, int64_t experiment_id, const char *name,
                         int64_t *id_out, dd_err *err)
{
    dd_conn *c;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_int(c, id_out, err, "resource",
                      "SELECT id FROM resource WHERE experiment_id = ? AND name = ?", "it",
                      experiment_id, name ? name : "");
    if (code == DD_NOT_FOUND)
        dd_fail(err, code, "resource \"%s\" not found", name ? name : "");
    return code;
}

static int resource_row(db_stmt *s, void *arg)
{
    db_list_ctx *l = arg;
    dd_resource r;
    resource_from_row(s, &r, false);
    return ((dd_resource_cb)l->cb)(l->ctx, &r);
}

dd_code local_resource_list(dd_store *st, int64_t experiment_id, dd_resource_cb cb, void *ctx,
                         dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT " RES_COLS " FROM resource WHERE experiment_id = ?"
                       " ORDER BY id", "i", experiment_id);
    db_list_ctx l = {(void *)cb, ctx};
    return code == DD_OK ? db_each(c, s, "listing resources", resource_row, &l, err) : code;
}

dd_code dd_resource_read_inline(dd_store *st, int64_t id, int64_t offset, void *buf,
                                size_t len, size_t *got_out, dd_err *err)
{
    dd_conn *c;
    db_resource_bytes where = {0};
    *got_out = 0;
    if (offset < 0)
        return dd_fail(err, DD_INVALID, "negative offset");
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_resource_locate(c, id, &where, err);
    if (code == DD_OK && strcmp(where.backend, "inline") != 0)
        code = dd_fail(err, DD_INVALID, "resource %lld is not stored inline", (long long)id);
    else if (code == DD_OK && where.broken)
        code = dd_fail(err, DD_IO, "resource %lld is marked broken by fsck", (long long)id);
    else if (code == DD_OK && where.chunk_set)
        code = art_inline_pread(c, where.chunk_set, where.size, offset, buf, len, got_out, err);
    else if (code == DD_OK && where.legacy_data)
        code = art_legacy_pread(c, id, -1, offset, buf, len, got_out, err);
    /* else: an empty inline artifact */
    free(where.uri);
    return code;
}

/* ---------------------------------------------------------------- artifact bytes */

dd_code db_resource_locate(dd_conn *c, int64_t id, db_resource_bytes *out, dd_err *err)
{
    db_stmt *s;
    memset(out, 0, sizeof *out);
    /* length() of a blob reads the record header (SQLite) or the TOAST header
     * (PostgreSQL), never the bytes themselves */
    dd_code code = db_prep(c, &s, err, "SELECT backend, uri, size_bytes, chunk_set,"
                           " length(data) IS NOT NULL, broken, content_hash, generation"
                           " FROM resource WHERE id = ?", "i", id);
    if (code != DD_OK)
        return code;
    bool row;
    code = db_step(c, s, &row, "reading a resource", err);
    if (code == DD_OK && !row)
        code = dd_fail(err, DD_NOT_FOUND, "resource %lld not found", (long long)id);
    if (code == DD_OK) {
        snprintf(out->backend, sizeof out->backend, "%s", db_col_text(s, 0));
        out->uri = db_col_dup(s, 1);
        out->size = db_col_int64(s, 2);
        out->chunk_set = db_col_int64(s, 3);
        out->legacy_data = db_col_int(s, 4) != 0;
        out->broken = db_col_int(s, 5) != 0;
        snprintf(out->hash, sizeof out->hash, "%s", db_col_text(s, 6));
        out->generation = db_col_int64(s, 7);
        if (!out->uri)
            code = dd_fail(err, DD_IO, "out of memory");
    }
    db_reset(s);
    return code;
}

dd_code db_resource_put_bytes(dd_conn *c, int64_t experiment_id, const char *name, bool replace,
                              const char *backend, const char *uri, int64_t size,
                              const char *hash, int64_t chunk_set, int64_t *id_out,
                              dd_err *err)
{
    dd_code code = dd_name_check(name, "resource name", err);
    if (code == DD_OK)
        code = experiment_accepts_resources(c, experiment_id, err);
    if (code != DD_OK)
        return code;
    char now[DD_TS_LEN];
    dd_now(now);
    int64_t id = 0;
    code = db_int(c, &id, err, "resource",
                  "SELECT id FROM resource WHERE experiment_id = ? AND name = ?", "it",
                  experiment_id, name);
    if (code == DD_NOT_FOUND) {
        code = db_insert_id(c, &id, err, "resource",
                            "INSERT INTO resource(experiment_id, name, created_date, backend, uri,"
                            " size_bytes, content_hash, chunk_set)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                            "ittttitI", experiment_id, name, now, backend, uri, size, hash,
                            chunk_set);
    } else if (code == DD_OK && !replace) {
        code = dd_fail(err, DD_CONFLICT, "resource \"%s\" already exists in this experiment",
                       name);
    } else if (code == DD_OK) {
        int64_t users = 0;
        code = db_lock(c, DB_LOCK_UPDATE, DB_T_RESOURCE, id, err);
        if (code == DD_OK)
            code = db_int(c, &users, err, "model version",
                      "SELECT COUNT(*) FROM model_version WHERE resource_id = ?", "i", id);
        if (code == DD_OK && users > 0)
            code = dd_fail(err, DD_IN_USE, "resource \"%s\" is the artifact of %lld model"
                           " version(s); registered artifacts are immutable", name,
                           (long long)users);
        if (code == DD_OK)
            code = db_queue_resource_bytes(c, id, err);
        if (code == DD_OK)
            code = db_exec(c, err, "resource",
                           "UPDATE resource SET backend = ?, uri = ?, size_bytes = ?,"
                           " content_hash = ?, chunk_set = ?, data = NULL, updated_date = ?,"
                           " generation = generation + 1 WHERE id = ?", "ttitIti", backend, uri, size, hash, chunk_set, now,
                           id);
    }
    if (code == DD_OK && id_out)
        *id_out = id;
    return code;
}

dd_code local_resource_rename(dd_store *st, int64_t id, const char *name, dd_err *err)
{
    dd_code code = dd_name_check(name, "resource name", err);
    if (code == DD_OK)
        code = db_update_text_ts(st, "UPDATE resource SET name = ?, updated_date = ?"
                             " WHERE id = ?", id, name, "resource", err);
    if (code == DD_CONFLICT)
        dd_fail(err, code, "resource \"%s\" already exists in this experiment", name);
    return code;
}

dd_code dd_resource_set_description(dd_store *st, int64_t id, const char *description,
                                    dd_err *err)
{
    return db_update_text_ts(st, "UPDATE resource SET description = ?, updated_date = ?"
                             " WHERE id = ?", id, description, "resource", err);
}

dd_code local_resource_delete(dd_store *st, int64_t id, dd_err *err)
{
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        /* its experiment (SHARE), then the row (DELETE), in lock order */
        int64_t experiment_id = 0;
        t.code = db_int(t.c, &experiment_id, err, "resource",
                        "SELECT experiment_id FROM resource WHERE id = ?", "i", id);
        if (t.code == DD_NOT_FOUND)
            t.code = dd_fail(err, t.code, "resource %lld not found", (long long)id);
        if (t.code == DD_OK)
            t.code = db_lock(t.c, DB_LOCK_SHARE, DB_T_EXPERIMENT, experiment_id, err);
        if (t.code == DD_OK)
            t.code = db_lock(t.c, DB_LOCK_DELETE, DB_T_RESOURCE, id, err);
        if (t.code == DD_OK)
            t.code = db_delete_resource(t.c, id, err);
    }
    return t.code;
}

/* ---------------------------------------------------------------- trash */

static int trash_row(db_stmt *s, void *arg)
{
    db_list_ctx *l = arg;
    return ((dd_trash_cb)l->cb)(l->ctx, db_col_int64(s, 0), db_col_text(s, 1),
                                db_col_text(s, 2));
}

dd_code dd_trash_list(dd_store *st, dd_trash_cb cb, void *ctx, dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT id, backend, uri FROM artifact_trash ORDER BY id",
                       NULL);
    db_list_ctx l = {(void *)cb, ctx};
    return code == DD_OK ? db_each(c, s, "listing the artifact trash", trash_row, &l, err) : code;
}

dd_code dd_trash_forget(dd_store *st, int64_t id, dd_err *err)
{
    dd_conn *c;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_exec(c, err, "artifact trash", "DELETE FROM artifact_trash WHERE id = ?", "i",
                       id);
    return code;
}

dd_code local_resource_check_replaceable(dd_store *st, int64_t id, dd_err *err)
{
    dd_conn *c;
    int64_t n = 0;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_int(c, &n, err, "resource", "SELECT id FROM resource WHERE id = ?", "i", id);
    if (code == DD_OK)
        code = db_int(c, &n, err, "model version",
                      "SELECT COUNT(*) FROM model_version WHERE resource_id = ?", "i", id);
    if (code == DD_OK && n > 0)
        code = dd_fail(err, DD_IN_USE, "resource %lld is the artifact of %lld model version(s);"
                       " registered artifacts are immutable", (long long)id, (long long)n);
    return code;
}
