/*
 * migrate.c - dd_artifacts_migrate (artifacts.h): move every resource row's bytes to
 * another artifact backend on a live database, one row at a time, each row switched by
 * its own short transaction only after its copy was read back from the destination and
 * matched the row's sha256.
 *
 * Why it is safe to interrupt at any point: until the switch commits, the row names its
 * old bytes and the copy is staged where gc finds it (an inline upload of a dead process,
 * a staged file nobody locks; an s3 copy of a killed migrator is the one thing left
 * behind, see docs/ARCHITECTURE.md); after it commits, the old bytes are in
 * artifact_trash, so a crash before their removal only delays it to the next gc. Running
 * again skips the rows already moved.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "art_int.h"

#define COPY_BUF ((size_t)4 << 20)

typedef struct mig_row {
    int64_t id;
    int64_t size;
    char backend[16];
    char hash[65];
    char *name;
} mig_row;

typedef struct mig_rows {
    mig_row *v;
    size_t n, cap;
    bool oom;
} mig_rows;

static int collect_row(db_stmt *s, void *arg)
{
    mig_rows *r = arg;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        mig_row *v = realloc(r->v, cap * sizeof *v);
        if (!v) {
            r->oom = true;
            return 1;
        }
        r->v = v;
        r->cap = cap;
    }
    mig_row *row = &r->v[r->n];
    row->id = db_col_int64(s, 0);
    row->size = db_col_int64(s, 1);
    snprintf(row->backend, sizeof row->backend, "%s", db_col_text(s, 2));
    snprintf(row->hash, sizeof row->hash, "%s", db_col_text(s, 3));
    row->name = db_col_dup(s, 4);
    if (!row->name) {
        r->oom = true;
        return 1;
    }
    r->n++;
    return 0;
}

typedef struct mig {
    dd_artifacts *a;
    dd_store *st;
    const char *to;
    const dd_migrate_hooks *hooks;
    dd_migrate_stats *stats;
    unsigned char *buf;
} mig;

static void progress(mig *m)
{
    if (m->hooks && m->hooks->progress)
        m->hooks->progress(m->hooks->ctx, m->stats);
}

/* Stream the reader's bytes into the upload. */
static dd_code copy_bytes(mig *m, dd_artifact_reader *r, dd_upload *u, dd_err *err)
{
    int64_t size = dd_artifact_size(r);
    for (int64_t off = 0; off < size;) {
        size_t got = 0;
        dd_code code = dd_artifact_pread(r, off, m->buf, COPY_BUF, &got, err);
        if (code == DD_OK && got == 0)
            code = dd_fail(err, DD_IO, "the source ended at %lld of %lld bytes",
                           (long long)off, (long long)size);
        if (code == DD_OK)
            code = dd_upload_write(u, m->buf, got, err);
        if (code != DD_OK)
            return code;
        off += (int64_t)got;
        m->stats->bytes_done += (int64_t)got;
        progress(m);
    }
    return DD_OK;
}

/* Read the staged copy back from its backend and compare its sha256 with `want`. */
static dd_code verify(mig *m, const art_loc *dst, const char *want, dd_err *err)
{
    dd_artifact_reader *r = NULL;
    dd_code code = art_reader_open_at(m->a, dst, &r, err);
    EVP_MD_CTX *md = code == DD_OK ? EVP_MD_CTX_new() : NULL;
    if (code == DD_OK && (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1))
        code = dd_fail(err, DD_IO, "cannot start a sha256 digest");
    int64_t off = 0;
    while (code == DD_OK && off < dst->size) {
        size_t got = 0;
        code = dd_artifact_pread(r, off, m->buf, COPY_BUF, &got, err);
        if (code == DD_OK && got == 0)
            code = dd_fail(err, DD_IO, "the copy in %s ends at %lld of %lld bytes",
                           dst->backend, (long long)off, (long long)dst->size);
        if (code == DD_OK && EVP_DigestUpdate(md, m->buf, got) != 1)
            code = dd_fail(err, DD_IO, "sha256 failed");
        off += (int64_t)got;
    }
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    char hex[65] = "";
    if (code == DD_OK && (EVP_DigestFinal_ex(md, d, &n) != 1 || n != 32))
        code = dd_fail(err, DD_IO, "sha256 failed");
    for (unsigned i = 0; code == DD_OK && i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    if (code == DD_OK && strcmp(hex, want) != 0)
        code = dd_fail(err, DD_IO, "the copy in %s reads back with sha256 %s, expected %s",
                       dst->backend, hex, want);
    EVP_MD_CTX_free(md);
    dd_artifact_close(r);
    return code;
}

/*
 * The switch: only if the row still names the bytes that were copied (`src`); their old
 * location goes to artifact_trash in the same transaction. *changed when the row moved
 * on meanwhile (nothing done). *trash_id: the queued trash row, 0 for none.
 */
static dd_code switch_row(mig *m, int64_t id, const art_loc *src, dd_upload *u,
                          const art_loc *dst, bool *changed, int64_t *trash_id, dd_err *err)
{
    bool moved_on = false;
    int64_t queued = 0;
    db_txn t;
    DB_TXN(t, m->st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        db_resource_bytes now;
        moved_on = false;
        queued = 0;
        /* its experiment (SHARE), then the row (UPDATE), in lock order (§3.3) */
        int64_t experiment_id = 0;
        dd_code code = db_int(c, &experiment_id, err, "resource",
                              "SELECT experiment_id FROM resource WHERE id = ?", "i", id);
        if (code == DD_OK)
            code = db_lock(c, DB_LOCK_SHARE, DB_T_EXPERIMENT, experiment_id, err);
        if (code == DD_OK)
            code = db_lock(c, DB_LOCK_UPDATE, DB_T_RESOURCE, id, err);
        if (code == DD_OK)
            code = db_resource_locate(c, id, &now, err);
        if (code == DD_OK) {
            moved_on = strcmp(now.backend, src->backend) != 0 ||
                       strcmp(now.uri, src->uri) != 0 || now.chunk_set != src->chunk_set ||
                       now.legacy_data != src->legacy || now.size != src->size;
            free(now.uri);
        } else if (code == DD_NOT_FOUND) {  /* deleted meanwhile */
            moved_on = true;
        }
        /* moved on: roll back, nothing is written (and the outcome is DD_OK below) */
        if (code == DD_OK && moved_on)
            code = DD_CONFLICT;
        if (code == DD_OK)
            code = art_upload_claim(c, u, err);
        if (code == DD_OK)
            code = db_queue_resource_bytes(c, id, err);
        /* the migrator removes (or, --keep-old, keeps) the old bytes itself, after
         * checking */
        queued = db_trash_take(c);
        /* same bytes, so the same generation: open files and cached pages stay valid */
        if (code == DD_OK)
            code = db_exec(c, err, "resource", "UPDATE resource SET backend = ?, uri = ?,"
                           " chunk_set = ?, data = NULL WHERE id = ?", "ttIi", dst->backend,
                           dst->uri, dst->chunk_set, id);
        t.code = code;
    }
    *changed = moved_on;
    *trash_id = t.code == DD_OK ? queued : 0;
    return moved_on && (t.code == DD_CONFLICT || t.code == DD_NOT_FOUND) ? DD_OK : t.code;
}

/* Move one row. *outcome: 0 moved, 1 skipped (changed meanwhile), and DD_OK; or the
 * failure. */
static dd_code move_row(mig *m, const mig_row *row, int *outcome, dd_err *err)
{
    *outcome = 0;
    dd_artifact_reader *r = NULL;
    dd_upload *u = NULL;
    art_loc dst = {0};
    char hash[65];
    dd_code code = dd_artifact_open(m->a, row->id, &r, err);
    if (code == DD_NOT_FOUND) {           /* deleted since the listing */
        *outcome = 1;
        return DD_OK;
    }
    const art_loc *src = code == DD_OK ? art_reader_loc(r) : NULL;
    if (code == DD_OK && strcmp(src->backend, m->to) == 0) {
        *outcome = 1;                     /* moved by someone else meanwhile */
        dd_artifact_close(r);
        return DD_OK;
    }
    if (code == DD_OK)
        code = art_upload_begin_in(m->a, m->to, &u, err);
    if (code == DD_OK)
        code = copy_bytes(m, r, u, err);
    if (code == DD_OK)
        code = art_upload_stage(u, hash, &dst, err);
    /* the bytes read must be the bytes the row describes (an empty hash: never recorded) */
    if (code == DD_OK && row->hash[0] && strcmp(hash, row->hash) != 0)
        code = dd_fail(err, DD_IO, "the %s bytes have sha256 %s, the row says %s",
                       src->backend, hash, row->hash);
    if (code == DD_OK)
        code = verify(m, &dst, hash, err);
    bool changed = false;
    int64_t trash_id = 0;
    if (code == DD_OK)
        code = switch_row(m, row->id, src, u, &dst, &changed, &trash_id, err);
    if (code == DD_OK && !changed)
        art_upload_committed(u);
    dd_upload_free(u);                    /* not committed: removes the copy */
    art_reader_close_keep(r);             /* before removing what it read */
    art_loc_clear(&dst);
    if (code != DD_OK)
        return code;
    if (changed) {
        *outcome = 1;
        return DD_OK;
    }
    if (trash_id && !(m->hooks && m->hooks->keep_old)) {
        dd_err ignored;                   /* queued: a failure here only delays it to gc */
        art_trash_remove(m->a, trash_id, &ignored);
    }
    return DD_OK;
}

dd_code dd_artifacts_migrate(dd_artifacts *a, const char *to, const dd_migrate_hooks *hooks,
                             dd_migrate_stats *out, dd_err *err)
{
    memset(out, 0, sizeof *out);
    if (!to)
        return dd_fail(err, DD_INVALID, "no target backend");
    if (dd_artifacts_wrapped(a))
        return dd_fail(err, DD_UNSUPPORTED, "dd_artifacts_migrate: not offered by a remote"
                       " store");
    dd_code code = art_backend_check(a, to, err);
    if (code != DD_OK)
        return code;
    dd_store *st = art_store(a);
    dd_conn *c;
    db_stmt *s;
    mig_rows rows = {0};
    code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT id, size_bytes, backend, content_hash, name"
                       " FROM resource ORDER BY id", NULL);
    if (code == DD_OK)
        code = db_each(c, s, "listing resources", collect_row, &rows, err);
    if (code == DD_OK && rows.oom)
        code = dd_fail(err, DD_IO, "out of memory");
    mig m = {.a = a, .st = st, .to = to, .hooks = hooks, .stats = out};
    if (code == DD_OK && !(m.buf = malloc(COPY_BUF)))
        code = dd_fail(err, DD_IO, "out of memory");
    if (code == DD_OK) {
        for (size_t i = 0; i < rows.n; i++)
            if (strcmp(rows.v[i].backend, to) != 0)
                out->bytes_total += rows.v[i].size;
        progress(&m);
    }
    for (size_t i = 0; code == DD_OK && i < rows.n; i++) {
        const mig_row *row = &rows.v[i];
        out->rows++;
        if (strcmp(row->backend, to) == 0) {
            out->skipped++;
            progress(&m);
            continue;
        }
        int64_t before = out->bytes_done;
        int outcome = 0;
        dd_err one = {0};
        dd_code rc = move_row(&m, row, &outcome, &one);
        out->bytes_done = before + row->size;
        if (rc != DD_OK) {
            out->failed++;
            if (hooks && hooks->failure)
                hooks->failure(hooks->ctx, row->id, row->name, &one);
        } else if (outcome == 1) {
            out->skipped++;
        } else {
            out->moved++;
        }
        progress(&m);
    }
    for (size_t i = 0; i < rows.n; i++)
        free(rows.v[i].name);
    free(rows.v);
    free(m.buf);
    return code;
}
