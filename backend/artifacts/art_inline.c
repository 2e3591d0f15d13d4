/*
 * art_inline.c - the inline artifact backend: bytes inside the SQLite file as chunk sets
 * (schema/002_artifact_chunks.sql). Uploads insert one 1 MiB chunk per short write
 * transaction, so a long copy never holds the write lock and other writers (metric
 * appends) keep going; reads use incremental blob I/O (db_blob_read, one chunk at a
 * time) within one call, so no read transaction stays open between calls. Also here: the
 * process registry that tells gc which uploads and chunk sets this process still uses,
 * and the gc of abandoned uploads and unreferenced chunk sets.
 */
#include <errno.h>
#include <limits.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "art_int.h"
#include "node.h"

/* Chunks deleted per gc transaction: a few MiB of pages, then the write lock is free. */
#define GC_BATCH 4
#define STR_(x) #x
#define STR(x) STR_(x)

/* ---------------------------------------------------------------- process registry */

typedef struct reg_item {
    int64_t key;
    int refs;
} reg_item;

typedef struct reg_vec {
    reg_item *v;
    size_t n, cap;
} reg_vec;

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static reg_vec live_tokens;   /* inline uploads in progress in this process */
static reg_vec held_sets;     /* chunk sets open by readers in this process */

static bool reg_add(reg_vec *r, int64_t key)
{
    bool ok = true;
    pthread_mutex_lock(&reg_mu);
    size_t i = 0;
    while (i < r->n && r->v[i].key != key)
        i++;
    if (i < r->n) {
        r->v[i].refs++;
    } else {
        if (r->n == r->cap) {
            size_t cap = r->cap ? r->cap * 2 : 16;
            reg_item *v = realloc(r->v, cap * sizeof *v);
            if (v) {
                r->v = v;
                r->cap = cap;
            }
        }
        if (r->n < r->cap)
            r->v[r->n++] = (reg_item){key, 1};
        else
            ok = false;
    }
    pthread_mutex_unlock(&reg_mu);
    return ok;
}

static void reg_del(reg_vec *r, int64_t key)
{
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < r->n; i++) {
        if (r->v[i].key == key) {
            if (--r->v[i].refs == 0)
                r->v[i] = r->v[--r->n];
            break;
        }
    }
    if (r->n == 0) {
        free(r->v);
        r->v = NULL;
        r->cap = 0;
    }
    pthread_mutex_unlock(&reg_mu);
}

static bool reg_has(reg_vec *r, int64_t key)
{
    bool found = false;
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < r->n && !found; i++)
        found = r->v[i].key == key;
    pthread_mutex_unlock(&reg_mu);
    return found;
}

bool art_inline_hold(int64_t set_id) { return reg_add(&held_sets, set_id); }
void art_inline_release(int64_t set_id) { reg_del(&held_sets, set_id); }

/* ---------------------------------------------------------------- writing */

dd_code art_inline_begin(dd_store *st, art_inline_up *u, dd_err *err)
{
    memset(u, 0, sizeof *u);
    uint64_t tok = 0;
    if (RAND_bytes((unsigned char *)&tok, sizeof tok) != 1)
        return dd_fail(err, DD_IO, "no random bytes for an upload token");
    u->token = (int64_t)(tok & INT64_MAX) | 1;
    /* registered before its row exists, so gc in this process never sees it unowned */
    if (!reg_add(&live_tokens, u->token))
        return dd_fail(err, DD_IO, "out of memory");
    u->registered = true;
    int64_t pid, start, node_id = 0;
    node_process_self(&pid, &start);
    char now[DD_TS_LEN];
    dd_now(now);
    int64_t set_id = 0;
    dd_code code = node_self(st, &node_id, err);
    if (code == DD_OK) {
        db_txn t;
        DB_TXN(t, st, DB_TXN_WRITE, err)
            t.code = db_insert_id(t.c, &set_id, err, "starting an inline upload",
                                  "INSERT INTO artifact_upload(owner_pid, owner_start,"
                                  " owner_token, started_at, node_id) VALUES (?, ?, ?, ?, ?)"
                                  " RETURNING id", "iiiti", pid, start, u->token, now, node_id);
        code = t.code;
    }
    u->set_id = set_id;
    if (code != DD_OK) {
        reg_del(&live_tokens, u->token);
        u->registered = false;
        u->set_id = 0;
    }
    return code;
}

/* One chunk, one short write transaction. */
static dd_code put_chunk(dd_store *st, art_inline_up *u, const void *data, size_t len,
                         dd_err *err)
{
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err)
        t.code = db_exec(t.c, err, "writing an artifact chunk",
                         "INSERT INTO artifact_chunk(set_id, seq, data) VALUES (?, ?, ?)", "iib",
                         u->set_id, u->next_seq, data, len);
    if (t.code == DD_OK)
        u->next_seq++;
    return t.code;
}

dd_code art_inline_write(dd_store *st, art_inline_up *u, const void *data, size_t len,
                         dd_err *err)
{
    const unsigned char *p = data;
    while (len > 0) {
        if (u->len == 0 && len >= ART_CHUNK) {      /* a whole chunk: no copy */
            dd_code code = put_chunk(st, u, p, ART_CHUNK, err);
            if (code != DD_OK)
                return code;
            p += ART_CHUNK;
            len -= ART_CHUNK;
            continue;
        }
        size_t take = ART_CHUNK - u->len < len ? ART_CHUNK - u->len : len;
        if (u->len + take > u->cap) {               /* grow toward one chunk */
            size_t cap = u->cap ? u->cap : 65536;
            while (cap < u->len + take)
                cap *= 2;
            if (cap > ART_CHUNK)
                cap = ART_CHUNK;
            unsigned char *b = realloc(u->buf, cap);
            if (!b)
                return dd_fail(err, DD_IO, "out of memory");
            u->buf = b;
            u->cap = cap;
        }
        memcpy(u->buf + u->len, p, take);
        u->len += take;
        p += take;
        len -= take;
        if (u->len == ART_CHUNK) {
            dd_code code = put_chunk(st, u, u->buf, u->len, err);
            if (code != DD_OK)
                return code;
            u->len = 0;
        }
    }
    return DD_OK;
}

dd_code art_inline_flush(dd_store *st, art_inline_up *u, dd_err *err)
{
    dd_code code = u->len ? put_chunk(st, u, u->buf, u->len, err) : DD_OK;
    if (code == DD_OK) {
        free(u->buf);
        u->buf = NULL;
        u->len = u->cap = 0;
    }
    return code;
}

dd_code art_inline_claim(dd_conn *c, const art_inline_up *u, int64_t size, dd_err *err)
{
    db_stmt *s;
    int64_t want = (size + (int64_t)ART_CHUNK - 1) / (int64_t)ART_CHUNK;
    /* length() of a blob comes from the record header: no chunk is read */
    dd_code code = db_prep(c, &s, err, "SELECT COUNT(*),"
                           " CAST(COALESCE(SUM(length(data)), 0) AS BIGINT),"
                           " COALESCE(MAX(seq), -1) FROM artifact_chunk WHERE set_id = ?", "i",
                           u->set_id);
    if (code != DD_OK)
        return code;
    bool row;
    code = db_step(c, s, &row, "checking an upload's chunks", err);
    if (code == DD_OK && (!row || db_col_int64(s, 0) != want ||
                          db_col_int64(s, 1) != size ||
                          db_col_int64(s, 2) != want - 1))
        code = dd_fail(err, DD_IO, "the staged chunks of upload %lld do not hold its %lld bytes",
                       (long long)u->set_id, (long long)size);
    db_reset(s);
    if (code == DD_OK)
        code = db_exec(c, err, "finishing an inline upload",
                       "DELETE FROM artifact_upload WHERE id = ? AND owner_token = ?", "ii",
                       u->set_id, u->token);
    if (code == DD_OK && db_changes(c) != 1)
        code = dd_fail(err, DD_IO, "inline upload %lld was abandoned (its bytes were removed)",
                       (long long)u->set_id);
    return code;
}

void art_inline_done(art_inline_up *u)
{
    if (u->registered)
        reg_del(&live_tokens, u->token);
    free(u->buf);
    memset(u, 0, sizeof *u);
}

void art_inline_abandon(dd_store *st, art_inline_up *u)
{
    if (u->set_id) {
        char now[DD_TS_LEN];
        dd_now(now);
        db_txn t;
        DB_TXN(t, st, DB_TXN_WRITE, NULL) {
            /* the chunks, if any, are gc's to delete (a big set takes many transactions) */
            t.code = db_exec(t.c, NULL, "abandoning an inline upload",
                             "INSERT INTO artifact_trash(backend, uri, chunk_set, queued_at)"
                             " SELECT 'inline', 'chunks:' || id, id, ?1 FROM artifact_upload"
                             " WHERE id = ?2 AND owner_token = ?3"
                             " AND EXISTS (SELECT 1 FROM artifact_chunk WHERE set_id = ?2)",
                             "tii", now, u->set_id, u->token);
            if (t.code == DD_OK)
                t.code = db_exec(t.c, NULL, "abandoning an inline upload",
                                 "DELETE FROM artifact_upload WHERE id = ? AND owner_token = ?",
                                 "ii", u->set_id, u->token);
        }
        /* on failure the row stays, unowned once unregistered: gc finds it */
    }
    art_inline_done(u);
}

/* ---------------------------------------------------------------- reading */

dd_code art_inline_pread(dd_conn *c, int64_t set_id, int64_t size, int64_t off, void *buf,
                         size_t len, size_t *got, dd_err *err)
{
    *got = 0;
    if (off < 0)
        return dd_fail(err, DD_INVALID, "negative offset");
    if (off >= size || len == 0)
        return DD_OK;
    size_t n = (uint64_t)(size - off) < len ? (size_t)(size - off) : len;
    int64_t seq = off / (int64_t)ART_CHUNK;
    size_t in = (size_t)(off % (int64_t)ART_CHUNK);
    size_t done = 0;
    dd_code code = DD_OK;
    while (done < n && code == DD_OK) {
        int64_t rest = size - seq * (int64_t)ART_CHUNK;
        size_t chunk_len = rest < (int64_t)ART_CHUNK ? (size_t)rest : ART_CHUNK;
        size_t k = chunk_len - in < n - done ? chunk_len - in : n - done;
        size_t part = 0;
        int64_t held = 0;
        code = db_blob_read(c, DB_BLOB_CHUNK, set_id, seq, (int64_t)in,
                            (unsigned char *)buf + done, k, &part, &held, err);
        if (code == DD_NOT_FOUND)
            code = dd_fail(err, DD_IO, "chunk %lld of inline artifact bytes %lld is missing",
                           (long long)seq, (long long)set_id);
        else if (code == DD_OK && held != (int64_t)chunk_len)
            code = dd_fail(err, DD_IO, "chunk %lld of inline artifact bytes %lld holds %lld"
                           " bytes, not %zu", (long long)seq, (long long)set_id,
                           (long long)held, chunk_len);
        done += part;
        seq++;
        in = 0;
    }
    if (code == DD_OK)
        *got = n;
    return code;
}

dd_code art_legacy_pread(dd_conn *c, int64_t resource_id, int64_t expect, int64_t off,
                         void *buf, size_t len, size_t *got, dd_err *err)
{
    *got = 0;
    if (off < 0)
        return dd_fail(err, DD_INVALID, "negative offset");
    size_t part = 0;
    int64_t size = 0;
    dd_code code = db_blob_read(c, DB_BLOB_RESOURCE_DATA, resource_id, 0, off, buf, len,
                                &part, &size, err);
    if (code == DD_NOT_FOUND)
        return dd_fail(err, DD_IO, "the bytes of resource %lld are gone (replaced or deleted)",
                       (long long)resource_id);
    if (code == DD_OK && expect >= 0 && size != expect)
        code = dd_fail(err, DD_IO, "the bytes of resource %lld were replaced",
                       (long long)resource_id);
    if (code == DD_OK)
        *got = part;
    return code;
}

/* ---------------------------------------------------------------- gc */

typedef struct i64_vec {
    int64_t *v;
    size_t n, cap;
    bool oom;
} i64_vec;

static void vec_push(i64_vec *vec, int64_t x)
{
    if (vec->n == vec->cap) {
        size_t cap = vec->cap ? vec->cap * 2 : 16;
        int64_t *v = realloc(vec->v, cap * sizeof *v);
        if (!v) {
            vec->oom = true;
            return;
        }
        vec->v = v;
        vec->cap = cap;
    }
    vec->v[vec->n++] = x;
}

/* Delete every chunk of a set, GC_BATCH per write transaction. */
static dd_code delete_chunks(dd_store *st, int64_t set_id, dd_err *err)
{
    for (;;) {
        int changed = 0;
        db_txn t;
        DB_TXN(t, st, DB_TXN_WRITE, err) {
            t.code = db_exec(t.c, err, "removing artifact chunks",
                             "DELETE FROM artifact_chunk WHERE id IN (SELECT id FROM"
                             " artifact_chunk WHERE set_id = ? ORDER BY seq DESC LIMIT "
                             STR(GC_BATCH) ")", "i", set_id);
            changed = t.code == DD_OK ? db_changes(t.c) : 0;
        }
        if (t.code != DD_OK || changed < GC_BATCH)
            return t.code;
    }
}

void art_inline_discard(dd_store *st, art_inline_up *u)
{
    dd_code code = u->set_id ? delete_chunks(st, u->set_id, NULL) : DD_OK;
    if (code == DD_OK && u->set_id) {
        db_txn t;
        DB_TXN(t, st, DB_TXN_WRITE, NULL)
            t.code = db_exec(t.c, NULL, "discarding an inline upload",
                             "DELETE FROM artifact_upload WHERE id = ? AND owner_token = ?",
                             "ii", u->set_id, u->token);
        code = t.code;
    }
    if (code != DD_OK)
        art_inline_abandon(st, u);  /* what is left goes to the trash, for gc */
    else
        art_inline_done(u);
}

dd_code art_inline_remove_trashed(dd_store *st, int64_t trash_id, int64_t set_id, bool *done,
                                  dd_err *err)
{
    *done = false;
    if (reg_has(&held_sets, set_id))
        return DD_OK;
    dd_code code = delete_chunks(st, set_id, err);
    dd_conn *c;
    if (code == DD_OK)
        code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_exec(c, err, "artifact trash", "DELETE FROM artifact_trash WHERE id = ?", "i",
                       trash_id);
    *done = code == DD_OK;
    return code;
}

static int collect_upload(db_stmt *s, void *arg)
{
    i64_vec *v = arg;           /* id, pid, start, token, node (0: none) per row */
    for (int i = 0; i < 5; i++)
        vec_push(v, db_col_int64(s, i));
    return v->oom;
}

static int collect_one(db_stmt *s, void *arg)
{
    i64_vec *v = arg;
    vec_push(v, db_col_int64(s, 0));
    return v->oom;
}

/* Is the upload's owner gone? Its node's (docs/ENGINES.md §4.2): this process →
 * the token is not live here; another node → that node is dead (its process on this boot,
 * else its lease). A row from before nodes (node 0): today's pid + start time rule. */
static dd_code upload_gone(dd_conn *c, int64_t pid, int64_t start, int64_t token,
                           int64_t node_id, bool *gone, dd_err *err)
{
    node_state state = NODE_DEAD;
    if (node_id) {
        dd_code code = node_alive(c, node_id, &state, err);
        if (code != DD_OK)
            return code;
    } else {
        int64_t me, my_start;
        node_process_self(&me, &my_start);
        state = pid == me && start == my_start ? NODE_SELF
              : node_process_alive(pid, start) ? NODE_ALIVE : NODE_DEAD;
    }
    *gone = state == NODE_SELF ? !reg_has(&live_tokens, token) : state == NODE_DEAD;
    return DD_OK;
}

/* Uploads whose owner is gone (upload_gone), as (id, owner_pid, owner_token) triples in
 * *dead. */
static dd_code list_dead_uploads(dd_conn *c, i64_vec *dead, dd_err *err)
{
    db_stmt *s;
    i64_vec rows = {0};
    dd_code code = db_prep(c, &s, err, "SELECT id, owner_pid, owner_start, owner_token,"
                           " COALESCE(node_id, 0) FROM artifact_upload ORDER BY id", NULL);
    if (code == DD_OK)
        code = db_each(c, s, "listing inline uploads", collect_upload, &rows, err);
    for (size_t i = 0; code == DD_OK && i + 5 <= rows.n; i += 5) {
        int64_t id = rows.v[i], pid = rows.v[i + 1], start = rows.v[i + 2], token = rows.v[i + 3];
        bool gone = false;
        code = upload_gone(c, pid, start, token, rows.v[i + 4], &gone, err);
        if (code == DD_OK && gone) {
            vec_push(dead, id);
            vec_push(dead, pid);
            vec_push(dead, token);
        }
    }
    if (code == DD_OK && (rows.oom || dead->oom))
        code = dd_fail(err, DD_IO, "out of memory");
    free(rows.v);
    return code;
}

/* Chunk sets that no resource, upload or trash row refers to, in *sets. */
static dd_code list_orphan_sets(dd_conn *c, i64_vec *sets, dd_err *err)
{
    db_stmt *s;
    dd_code code = db_prep(c, &s, err, "SELECT DISTINCT set_id FROM artifact_chunk k"
                           " WHERE NOT EXISTS (SELECT 1 FROM resource WHERE chunk_set = k.set_id)"
                           " AND NOT EXISTS (SELECT 1 FROM artifact_upload WHERE id = k.set_id)"
                           " AND NOT EXISTS (SELECT 1 FROM artifact_trash"
                           " WHERE chunk_set = k.set_id) ORDER BY set_id", NULL);
    if (code == DD_OK)
        code = db_each(c, s, "listing unreferenced chunk sets", collect_one, sets, err);
    if (code == DD_OK && sets->oom)
        code = dd_fail(err, DD_IO, "out of memory");
    return code;
}

/* Uploads whose owner is gone: their chunks, then their row. */
static dd_code gc_dead_uploads(dd_store *st, int64_t *removed, dd_err *err)
{
    dd_conn *c;
    i64_vec dead = {0};
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = list_dead_uploads(c, &dead, err);
    for (size_t i = 0; code == DD_OK && i + 3 <= dead.n; i += 3) {
        code = delete_chunks(st, dead.v[i], err);
        if (code == DD_OK)
            code = db_exec(c, err, "removing a dead upload",
                           "DELETE FROM artifact_upload WHERE id = ? AND owner_token = ?", "ii",
                           dead.v[i], dead.v[i + 2]);
        if (code == DD_OK)
            (*removed)++;
    }
    free(dead.v);
    return code;
}

/* Chunk sets that nothing refers to (a trash row forgotten by hand, say). A set never
 * comes back once unreferenced: ids are never reused. */
static dd_code gc_orphan_sets(dd_store *st, int64_t *removed, dd_err *err)
{
    dd_conn *c;
    i64_vec sets = {0};
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = list_orphan_sets(c, &sets, err);
    for (size_t i = 0; code == DD_OK && i < sets.n; i++) {
        if (reg_has(&held_sets, sets.v[i]))
            continue;
        code = delete_chunks(st, sets.v[i], err);
        if (code == DD_OK)
            (*removed)++;
    }
    free(sets.v);
    return code;
}

dd_code art_inline_gc(dd_store *st, int64_t *removed, dd_err *err)
{
    dd_code code = gc_dead_uploads(st, removed, err);
    if (code == DD_OK)
        code = gc_orphan_sets(st, removed, err);
    if (code == DD_OK)          /* the rows of dead nodes that own nothing any more */
        code = node_gc(st, NULL, err);
    return code;
}

/* ---------------------------------------------------------------- fsck */

dd_code art_inline_check(dd_conn *c, int64_t resource_id, int64_t set_id, bool legacy,
                         int64_t size, char *why, size_t why_len, dd_err *err)
{
    why[0] = 0;
    db_stmt *s;
    bool row;
    if (!set_id) {
        if (!legacy) {
            if (size != 0)
                snprintf(why, why_len, "no bytes stored for %lld bytes", (long long)size);
            return DD_OK;
        }
        int64_t len = 0;
        dd_code code = db_int(c, &len, err, "resource", "SELECT length(data) FROM resource"
                              " WHERE id = ?", "i", resource_id);
        if (code == DD_OK && len != size)
            snprintf(why, why_len, "resource.data holds %lld bytes, the row says %lld",
                     (long long)len, (long long)size);
        return code;
    }
    /* length() of a blob reads its record header, not the bytes */
    dd_code code = db_prep(c, &s, err, "SELECT seq, length(data) FROM artifact_chunk"
                           " WHERE set_id = ? ORDER BY seq", "i", set_id);
    int64_t expect_seq = 0, total = 0, last_len = (int64_t)ART_CHUNK;
    while (code == DD_OK) {
        code = db_step(c, s, &row, "reading artifact chunks", err);
        if (code != DD_OK || !row)
            break;
        int64_t seq = db_col_int64(s, 0), len = db_col_int64(s, 1);
        if (!why[0] && seq != expect_seq)
            snprintf(why, why_len, "chunk %lld of set %lld is missing", (long long)expect_seq,
                     (long long)set_id);
        else if (!why[0] && last_len != (int64_t)ART_CHUNK)
            snprintf(why, why_len, "chunk %lld of set %lld is short (%lld bytes)",
                     (long long)(seq - 1), (long long)set_id, (long long)last_len);
        expect_seq = seq + 1;
        last_len = len;
        total += len;
    }
    db_reset(s);
    if (code == DD_OK && !why[0] && total != size)
        snprintf(why, why_len, "chunk set %lld holds %lld bytes, the row says %lld",
                 (long long)set_id, (long long)total, (long long)size);
    return code;
}

dd_code art_inline_orphans(dd_store *st, art_orphan_fn fn, void *ctx, dd_err *err)
{
    dd_conn *c;
    i64_vec dead = {0}, sets = {0};
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = list_dead_uploads(c, &dead, err);
    if (code == DD_OK)
        code = list_orphan_sets(c, &sets, err);
    char what[160];
    for (size_t i = 0; code == DD_OK && i + 3 <= dead.n; i += 3) {
        snprintf(what, sizeof what, "inline upload %lld (chunk set %lld) of process %lld,"
                 " which is gone: stale staged chunks", (long long)dead.v[i],
                 (long long)dead.v[i], (long long)dead.v[i + 1]);
        fn(ctx, what);
    }
    for (size_t i = 0; code == DD_OK && i < sets.n; i++) {
        snprintf(what, sizeof what, "inline chunk set %lld: no resource, upload or trash"
                 " entry refers to it", (long long)sets.v[i]);
        fn(ctx, what);
    }
    free(dead.v);
    free(sets.v);
    return code;
}
