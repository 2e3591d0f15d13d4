/*
 * fsck.c - `deardiary fsck`'s checks and repairs (fsck.h): SQLite's own checks, every
 * resource row against its backend's bytes and sha256, orphaned bytes, and the registry's
 * invariants, and nodes that died with a metric journal. Backend-specific work sits behind a small table (fsck_backends) of "check
 * this row's bytes" and "list orphans" functions, so a new backend is one more entry;
 * the bytes themselves are read through the artifact reader API (artifacts.h), the same
 * path the filesystem reads them by.
 */
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "art_int.h"
#include "fsck.h"
#include "node.h"
#include "textfmt.h"

#define HASH_BUF ((size_t)1 << 20)

typedef struct str_vec {
    char **v;
    size_t n, cap;
    bool oom;
} str_vec;

typedef struct fsck {
    dd_artifacts *a;
    dd_store *st;
    bool repair;
    dd_fsck_report_fn report;
    void *ctx;
    dd_fsck_summary sum;
    str_vec roots;          /* filesystem roots: the configured one and those rows name */
    str_vec unreached;      /* roots this node does not reach (named once, left alone) */
    unsigned char *buf;     /* HASH_BUF bytes for hashing */
} fsck;

static void vec_add(str_vec *v, const char *s)
{
    if (v->oom)
        return;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        char **nv = realloc(v->v, cap * sizeof *nv);
        if (!nv) {
            v->oom = true;
            return;
        }
        v->v = nv;
        v->cap = cap;
    }
    if (!(v->v[v->n] = strdup(s)))
        v->oom = true;
    else
        v->n++;
}

static bool vec_has(const str_vec *v, const char *s)
{
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->v[i], s) == 0)
            return true;
    return false;
}

static void vec_free(str_vec *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->v[i]);
    free(v->v);
    memset(v, 0, sizeof *v);
}

__attribute__((format(printf, 3, 4)))
static void say(fsck *f, dd_fsck_kind kind, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (kind != DD_FSCK_NOTE)
        f->sum.problems++;
    if (kind == DD_FSCK_REPAIRED)
        f->sum.repaired++;
    if (f->report)
        f->report(f->ctx, kind, line);
}

/* A problem repair cannot fix: reported as found, or as left in place under repair. */
static dd_fsck_kind unfixable(const fsck *f)
{
    return f->repair ? DD_FSCK_UNREPAIRED : DD_FSCK_PROBLEM;
}

/* ================================================================ 1. the engine's own check */

static int collect_line(void *arg, const char *line)
{
    str_vec *v = arg;
    vec_add(v, line);
    return v->oom;
}

/* Collected first, reported after: the report callback runs outside the statement. */
static dd_code check_database(fsck *f, dd_err *err)
{
    str_vec lines = {0};
    dd_code code = db_integrity_lines(f->st, collect_line, &lines, err);
    if (code == DD_OK && lines.oom)
        code = dd_fail(err, DD_IO, "out of memory");
    for (size_t i = 0; code == DD_OK && i < lines.n; i++)
        say(f, unfixable(f), "database: %s", lines.v[i]);
    vec_free(&lines);
    return code;
}

/* ================================================================ 2. resources */

typedef struct res_row {
    int64_t id;
    char backend[16];
    char *uri;
    int64_t size;
    char hash[65];
    int64_t chunk_set;
    bool legacy;
    bool broken;
    int64_t generation;
    char *path;             /* project/experiment/name, for the report */
} res_row;

typedef struct res_vec {
    res_row *v;
    size_t n, cap;
    bool oom;
} res_vec;

static int collect_resource(db_stmt *s, void *arg)
{
    res_vec *rv = arg;
    if (rv->n == rv->cap) {
        size_t cap = rv->cap ? rv->cap * 2 : 64;
        res_row *nv = realloc(rv->v, cap * sizeof *nv);
        if (!nv) {
            rv->oom = true;
            return 1;
        }
        rv->v = nv;
        rv->cap = cap;
    }
    res_row *r = &rv->v[rv->n];
    memset(r, 0, sizeof *r);
    r->id = db_col_int64(s, 0);
    snprintf(r->backend, sizeof r->backend, "%s", db_col_text(s, 1));
    r->uri = db_col_dup(s, 2);
    r->size = db_col_int64(s, 3);
    snprintf(r->hash, sizeof r->hash, "%s", db_col_text(s, 4));
    r->chunk_set = db_col_int64(s, 5);
    r->legacy = db_col_int(s, 6) != 0;
    r->broken = db_col_int(s, 7) != 0;
    r->generation = db_col_int64(s, 8);
    r->path = db_col_dup(s, 9);
    if (!r->uri || !r->path) {
        free(r->uri);
        free(r->path);
        rv->oom = true;
        return 1;
    }
    rv->n++;
    return 0;
}

/* ---- the per-backend dispatch */

typedef struct fsck_backend {
    const char *name;
    /* NULL when rows can always be checked; else why this run cannot ("" when it can),
     * and its rows are noted as not checked. */
    void (*unavailable)(fsck *f, char *why, size_t why_len);
    /* Structural check of one row's bytes: *why "" when fine. */
    dd_code (*check)(fsck *f, const res_row *r, char *why, size_t why_len, dd_err *err);
    /* Report each orphan to fn; with `remove`, remove what only fsck removes (gc does
     * the rest). NULL: the backend's orphans cannot be listed in this build. */
    dd_code (*orphans)(fsck *f, bool remove, art_orphan_fn fn, void *ctx, dd_err *err);
} fsck_backend;

static dd_code inline_check(fsck *f, const res_row *r, char *why, size_t why_len, dd_err *err)
{
    dd_conn *c;
    dd_code code = db_conn(f->st, &c, err);
    return code == DD_OK ? art_inline_check(c, r->id, r->chunk_set, r->legacy, r->size, why,
                                            why_len, err)
                         : code;
}

static dd_code inline_orphans(fsck *f, bool remove, art_orphan_fn fn, void *ctx, dd_err *err)
{
    (void)remove;   /* dd_artifacts_gc removes inline orphans */
    return art_inline_orphans(f->st, fn, ctx, err);
}

static dd_code fs_check(fsck *f, const res_row *r, char *why, size_t why_len, dd_err *err)
{
    (void)f;
    return art_fs_check(r->uri, r->size, why, why_len, err);
}

static dd_code fs_orphans(fsck *f, bool remove, art_orphan_fn fn, void *ctx, dd_err *err)
{
    dd_code first = DD_OK;
    for (size_t i = 0; i < f->roots.n; i++) {
        int64_t removed = 0;
        dd_err one = {0};
        dd_code code = DD_OK;
        if (remove)   /* stale staged files of roots gc was not configured with */
            code = art_fs_gc_staging(f->st, f->roots.v[i], &removed, &one);
        if (code == DD_OK)
            code = art_fs_orphans(f->st, f->roots.v[i], remove, fn, ctx, &removed, &one);
        if (code != DD_OK && first == DD_OK) {
            first = code;
            if (err)
                *err = one;
        }
    }
    return first;
}

/* An s3 row is checked by reading it back (hash_bytes): opening the object checks that
 * it exists with the row's size, the hash checks the bytes, so there is no structural
 * check of its own. That needs the service configured (artifacts.s3.*). Orphans are not
 * listed: that needs ListObjects, and a bucket lifecycle rule is the tool for abandoned
 * uploads (docs/ARCHITECTURE.md, "The s3 backend"). */
static void s3_unavailable(fsck *f, char *why, size_t why_len)
{
    dd_err none = {0};
    if (art_backend_check(f->a, "s3", &none) != DD_OK)
        snprintf(why, why_len, "no s3 service configured (artifacts.s3.*)");
}

static dd_code s3_check(fsck *f, const res_row *r, char *why, size_t why_len, dd_err *err)
{
    (void)f, (void)r, (void)why, (void)why_len, (void)err;
    return DD_OK;
}

static const fsck_backend fsck_backends[] = {
    {"inline", NULL, inline_check, inline_orphans},
    {"filesystem", NULL, fs_check, fs_orphans},
    {"s3", s3_unavailable, s3_check, NULL},
};

static const fsck_backend *backend_of(const char *name)
{
    for (size_t i = 0; i < sizeof fsck_backends / sizeof fsck_backends[0]; i++)
        if (strcmp(fsck_backends[i].name, name) == 0)
            return &fsck_backends[i];
    return NULL;
}

/* Hash the row's bytes through the reader API; *why says what went wrong, if anything.
 * *gone when the row was deleted meanwhile. */
static dd_code hash_bytes(fsck *f, const res_row *r, char *why, size_t why_len, bool *gone,
                          dd_err *err)
{
    *gone = false;
    dd_err rerr = {0};
    dd_artifact_reader *rd = NULL;
    dd_code rc = dd_artifact_open_any(f->a, r->id, &rd, &rerr);
    if (rc == DD_NOT_FOUND) {
        *gone = true;
        return DD_OK;
    }
    if (rc != DD_OK) {
        snprintf(why, why_len, "%s", rerr.msg);
        return DD_OK;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        dd_artifact_close(rd);
        return dd_fail(err, DD_IO, "cannot start a sha256 digest");
    }
    int64_t off = 0, size = dd_artifact_size(rd);
    while (off < size && !why[0]) {
        size_t got = 0;
        rc = dd_artifact_pread(rd, off, f->buf, HASH_BUF, &got, &rerr);
        if (rc != DD_OK)
            snprintf(why, why_len, "reading byte %lld: %s", (long long)off, rerr.msg);
        else if (got == 0)
            snprintf(why, why_len, "the bytes end at %lld of %lld", (long long)off,
                     (long long)size);
        else if (EVP_DigestUpdate(md, f->buf, got) != 1)
            snprintf(why, why_len, "sha256 failed");
        off += (int64_t)got;
    }
    f->sum.bytes_hashed += off;
    dd_artifact_close(rd);
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!why[0] && (EVP_DigestFinal_ex(md, d, &n) != 1 || n != 32))
        snprintf(why, why_len, "sha256 failed");
    EVP_MD_CTX_free(md);
    if (why[0] || !r->hash[0])
        return DD_OK;
    char hex[65];
    for (unsigned i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    if (strcmp(hex, r->hash) != 0)
        snprintf(why, why_len, "the bytes hash to %s, the row says %s", hex, r->hash);
    return DD_OK;
}

/* Did the row change (replaced, deleted) since it was listed? Then what was found about
 * its old bytes says nothing about it. */
static dd_code row_changed(fsck *f, const res_row *r, bool *changed, dd_err *err)
{
    dd_conn *c;
    db_resource_bytes now;
    dd_code code = db_conn(f->st, &c, err);
    if (code == DD_OK)
        code = db_resource_locate(c, r->id, &now, err);
    if (code == DD_NOT_FOUND) {
        *changed = true;
        return DD_OK;
    }
    if (code != DD_OK)
        return code;
    *changed = now.generation != r->generation || strcmp(now.hash, r->hash) != 0 ||
               strcmp(now.uri, r->uri) != 0 || now.chunk_set != r->chunk_set;
    free(now.uri);
    return DD_OK;
}

/* Set or clear the broken mark of a row that still holds the bytes that were checked. */
static dd_code set_broken(fsck *f, const res_row *r, bool broken, bool *done, dd_err *err)
{
    int64_t changed = 0;
    db_txn t;
    DB_TXN(t, f->st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        dd_code code = db_exec(c, err, "marking a resource", "UPDATE resource SET broken = ? WHERE id = ?"
                       " AND generation = ? AND content_hash = ? AND broken <> ?", "iiiti",
                       (int64_t)broken, r->id, r->generation, r->hash, (int64_t)broken);
        changed = code == DD_OK ? db_changes(c) : 0;
        t.code = code;
    }
    *done = t.code == DD_OK && changed == 1;
    return t.code;
}

/* Does this node reach `root`? A root it does not (a shared root not mounted here: absent,
 * or the registry's recorded root without its marker) is named once, and nothing under it
 * is checked or repaired: its files are not known to be gone, only not seen from here. */
static bool root_reached(fsck *f, const char *root)
{
    char why[600];
    if (dd_artifacts_root_reachable(f->a, root, why, sizeof why))
        return true;
    if (!vec_has(&f->unreached, root)) {
        vec_add(&f->unreached, root);
        say(f, DD_FSCK_NOTE, "artifact root %s: not reachable from this node (%s): the"
            " artifacts under it are not checked and nothing under it is repaired; run"
            " deardiary fsck on a node that mounts it", root, why);
    }
    return false;
}

/* A filesystem row whose root this node does not reach: *why says so. */
static void root_unreached(fsck *f, const res_row *r, char *why, size_t why_len)
{
    char root[4096];
    if (strcmp(r->backend, "filesystem") == 0 && art_fs_root_of(r->uri, root, sizeof root) &&
        !root_reached(f, root))
        snprintf(why, why_len, "artifact root %.900s not reachable from this node", root);
}

static dd_code check_resource(fsck *f, const res_row *r, dd_err *err)
{
    const fsck_backend *b = backend_of(r->backend);
    char why[1024] = "";
    if (!b)
        snprintf(why, sizeof why, "%s backend unavailable in this build", r->backend);
    else if (b->unavailable)
        b->unavailable(f, why, sizeof why);
    if (!why[0])
        root_unreached(f, r, why, sizeof why);
    if (why[0]) {
        f->sum.not_checked++;
        say(f, DD_FSCK_NOTE, "resource %lld (%s): not checked (%s)", (long long)r->id,
            r->path, why);
        return DD_OK;
    }
    bool gone = false, changed = false;
    dd_code code = b->check(f, r, why, sizeof why, err);
    if (code == DD_OK && !why[0])
        code = hash_bytes(f, r, why, sizeof why, &gone, err);
    if (code != DD_OK || gone)
        return code;
    if (!why[0] && !r->hash[0])
        say(f, DD_FSCK_NOTE, "resource %lld (%s): no sha256 recorded; size checked only",
            (long long)r->id, r->path);
    if (why[0] == 0 && !r->broken)
        return DD_OK;                                   /* the common case: all is well */
    code = row_changed(f, r, &changed, err);
    if (code != DD_OK || changed)
        return code;
    if (why[0] && r->broken) {
        say(f, DD_FSCK_NOTE, "resource %lld (%s): marked broken: %s", (long long)r->id,
            r->path, why);
        return DD_OK;
    }
    const char *what = why[0] ? why : "marked broken, but its bytes verify";
    if (!f->repair) {
        say(f, DD_FSCK_PROBLEM, "resource %lld (%s): %s", (long long)r->id, r->path, what);
        return DD_OK;
    }
    bool done = false;
    code = set_broken(f, r, why[0] != 0, &done, err);
    if (code == DD_OK)
        say(f, done ? DD_FSCK_REPAIRED : DD_FSCK_UNREPAIRED, "resource %lld (%s): %s: %s",
            (long long)r->id, r->path, what,
            !done ? "the row changed meanwhile, left as is"
                  : why[0] ? "marked broken (reads fail with EIO)" : "mark cleared");
    return code;
}

/* A root to search for orphans. One that rows name is searched only if this node reaches
 * it (root_reached names it otherwise); a configured one that is absent has none. */
static void add_root(fsck *f, const char *root, bool named_by_rows)
{
    if (root && *root && !vec_has(&f->roots, root) && !vec_has(&f->unreached, root) &&
        (!named_by_rows || root_reached(f, root)))
        vec_add(&f->roots, root);
}

static int collect_root(db_stmt *s, void *arg)
{
    fsck *f = arg;
    char root[4096];
    if (art_fs_root_of(db_col_text(s, 0), root, sizeof root))
        add_root(f, root, true);
    return f->roots.oom;
}

static dd_code check_resources(fsck *f, dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    res_vec rows = {0};
    dd_code code = db_conn(f->st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT r.id, r.backend, r.uri, r.size_bytes,"
                       " r.content_hash, r.chunk_set, length(r.data) IS NOT NULL, r.broken,"
                       " r.generation, coalesce(p.name, '?') || '/' || coalesce(e.name, '?')"
                       " || '/' || r.name FROM resource r"
                       " LEFT JOIN experiment e ON e.id = r.experiment_id"
                       " LEFT JOIN project p ON p.id = e.project_id ORDER BY r.id", NULL);
    if (code == DD_OK)
        code = db_each(c, s, "listing resources", collect_resource, &rows, err);
    if (code == DD_OK && rows.oom)
        code = dd_fail(err, DD_IO, "out of memory");
    for (size_t i = 0; code == DD_OK && i < rows.n; i++) {
        f->sum.resources++;
        code = check_resource(f, &rows.v[i], err);
    }
    for (size_t i = 0; i < rows.n; i++) {
        free(rows.v[i].uri);
        free(rows.v[i].path);
    }
    free(rows.v);
    /* every filesystem root some row's bytes live under is searched for orphans */
    add_root(f, dd_artifacts_fs_root(f->a), false);
    add_root(f, dd_artifacts_auto_root(f->a), false);   /* "auto": before any row uses it */
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT uri FROM resource WHERE backend = 'filesystem'"
                       " UNION SELECT uri FROM artifact_trash WHERE backend = 'filesystem'",
                       NULL);
    if (code == DD_OK)
        code = db_each(c, s, "listing filesystem roots", collect_root, f, err);
    if (code == DD_OK && f->roots.oom)
        code = dd_fail(err, DD_IO, "out of memory");
    return code;
}

/* ================================================================ 3. orphans */

static void orphan_collect(void *ctx, const char *what) { vec_add(ctx, what); }

/* Every backend's orphans, into *out. */
static dd_code list_orphans(fsck *f, bool remove, str_vec *out, dd_err *err)
{
    dd_code code = DD_OK;
    for (size_t i = 0; code == DD_OK && i < sizeof fsck_backends / sizeof fsck_backends[0]; i++)
        if (fsck_backends[i].orphans)
            code = fsck_backends[i].orphans(f, remove, orphan_collect, out, err);
    if (code == DD_OK && out->oom)
        code = dd_fail(err, DD_IO, "out of memory");
    return code;
}

static dd_code check_orphans(fsck *f, dd_err *err)
{
    dd_conn *c;
    int64_t queued = 0;
    dd_code code = db_conn(f->st, &c, err);
    if (code == DD_OK)
        code = db_int(c, &queued, err, "artifact_trash", "SELECT COUNT(*) FROM artifact_trash",
                      NULL);
    if (code == DD_OK && queued)
        say(f, DD_FSCK_NOTE, "%lld deleted or replaced artifacts queued for removal (removed"
            " at the next mount, or now with --repair)", (long long)queued);
    str_vec found = {0}, left = {0};
    if (code == DD_OK)
        code = list_orphans(f, false, &found, err);
    if (code == DD_OK && !f->repair)
        for (size_t i = 0; i < found.n; i++)
            say(f, DD_FSCK_PROBLEM, "orphan: %s", found.v[i]);
    if (code == DD_OK && f->repair && (found.n || queued)) {
        int64_t removed = 0;
        dd_err gerr = {0};
        /* a failure here shows as orphans left over below */
        (void)dd_artifacts_gc(f->a, &removed, &gerr);
        str_vec scratch = {0};
        code = list_orphans(f, true, &scratch, err);
        vec_free(&scratch);
        if (code == DD_OK)
            code = list_orphans(f, false, &left, err);
        for (size_t i = 0; code == DD_OK && i < found.n; i++)
            say(f, vec_has(&left, found.v[i]) ? DD_FSCK_UNREPAIRED : DD_FSCK_REPAIRED,
                "orphan: %s%s", found.v[i], vec_has(&left, found.v[i]) ? "" : ": removed");
        if (code == DD_OK && gerr.msg[0])
            say(f, DD_FSCK_NOTE, "artifact clean-up: %s", gerr.msg);
    }
    vec_free(&found);
    vec_free(&left);
    return code;
}

/* ================================================================ 4. registry invariants */

/* What the points of one series say its metric_latest row must hold. */
typedef struct series_truth {
    int64_t count, max_step, step, text_bytes;
    double value;
    char recorded_at[DD_TS_LEN];
} series_truth;

static dd_code series_compute(dd_conn *c, int64_t iteration_id, const char *key,
                              series_truth *t, dd_err *err)
{
    db_stmt *s;
    memset(t, 0, sizeof *t);
    dd_code code = db_prep(c, &s, err, "SELECT value, step, recorded_at FROM metric_point"
                           " WHERE series_id = " DB_SERIES_ID("?", "?") " ORDER BY step, id",
                           "it", iteration_id, key);
    while (code == DD_OK) {
        bool row;
        code = db_step(c, s, &row, "reading metric points", err);
        if (code != DD_OK || !row)
            break;
        t->value = db_col_double(s, 0);
        t->step = db_col_int64(s, 1);
        db_col_ts(s, 2, t->recorded_at);
        t->max_step = t->count == 0 || t->step > t->max_step ? t->step : t->max_step;
        t->count++;
        char line[DD_METRIC_LINE_MAX];
        t->text_bytes += (int64_t)dd_metric_line(t->step, t->value, t->recorded_at, line);
    }
    db_reset(s);
    return code;
}

/* The blocks (metric_block) a series' points make, in block order. */
typedef struct block_vec {
    db_block *v;
    size_t n, cap;
    bool oom;
} block_vec;

static bool block_push(block_vec *bv, const db_block *b)
{
    if (bv->n == bv->cap) {
        size_t cap = bv->cap ? 2 * bv->cap : 64;
        db_block *v = realloc(bv->v, cap * sizeof *v);
        if (!v)
            return !(bv->oom = true);
        bv->v = v, bv->cap = cap;
    }
    bv->v[bv->n++] = *b;
    return true;
}

static int truth_block_row(db_stmt *s, void *arg)
{
    block_vec *bv = arg;
    int64_t position = db_col_int64(s, 0);
    if (bv->n && bv->v[bv->n - 1].block == position / DB_METRIC_BLOCK) {
        db_block_fold(&bv->v[bv->n - 1], position, db_col_int64(s, 1), db_col_double(s, 2));
        return 0;
    }
    db_block b = {0};
    db_block_fold(&b, position, db_col_int64(s, 1), db_col_double(s, 2));
    return !block_push(bv, &b);
}

static int stored_block_row(db_stmt *s, void *arg)
{
    db_block b;
    db_block_from_row(s, 1, db_col_int64(s, 0), &b);
    return !block_push(arg, &b);
}

/* The blocks the points make (truth) and the blocks stored (stored). */
static dd_code blocks_compute(dd_conn *c, int64_t iteration_id, const char *key,
                              block_vec *truth, block_vec *stored, dd_err *err)
{
    db_stmt *s;
    dd_code code = db_prep(c, &s, err, "SELECT id, step, value FROM metric_point"
                           " WHERE series_id = " DB_SERIES_ID("?", "?") " ORDER BY id", "it",
                           iteration_id, key);
    if (code == DD_OK)
        code = db_each(c, s, "reading metric points", truth_block_row, truth, err);
    if (code == DD_OK && stored)
        code = db_prep(c, &s, err, "SELECT b.block, " DB_BLOCK_COLS " FROM metric_block b"
                       " WHERE b.iteration_id = ? AND b.key = ? ORDER BY b.block", "it",
                       iteration_id, key);
    if (code == DD_OK && stored)
        code = db_each(c, s, "reading metric blocks", stored_block_row, stored, err);
    if (code == DD_OK && (truth->oom || (stored && stored->oom)))
        code = dd_fail(err, DD_IO, "out of memory");
    return code;
}

static bool block_same(const db_block *a, const db_block *b)
{
    return a->block == b->block && a->n == b->n && a->ordered == b->ordered &&
           a->first_step == b->first_step && a->first_value == b->first_value &&
           a->last_step == b->last_step && a->last_value == b->last_value &&
           a->lo_id == b->lo_id && a->lo_step == b->lo_step && a->lo_value == b->lo_value &&
           a->hi_id == b->hi_id && a->hi_step == b->hi_step && a->hi_value == b->hi_value;
}

/* Compare a series' block summaries with its points; *why "" when they agree. */
static dd_code blocks_check(dd_conn *c, int64_t iteration_id, const char *key, char *why,
                            size_t why_len, dd_err *err)
{
    block_vec truth = {0}, stored = {0};
    dd_code code = blocks_compute(c, iteration_id, key, &truth, &stored, err);
    size_t i = 0;
    while (i < truth.n && i < stored.n && block_same(&truth.v[i], &stored.v[i]))
        i++;
    if (code == DD_OK && truth.n != stored.n)
        snprintf(why, why_len, "%zu block summaries, the points make %zu", stored.n, truth.n);
    else if (code == DD_OK && i < truth.n)
        snprintf(why, why_len, "block summary %lld (points %lld..) disagrees with its points",
                 (long long)truth.v[i].block, (long long)truth.v[i].block * DB_METRIC_BLOCK);
    free(truth.v);
    free(stored.v);
    return code;
}

/* Compare a series' summary row with its points; *why "" when they agree. */
static dd_code series_check(dd_conn *c, int64_t iteration_id, const char *key, char *why,
                            size_t why_len, dd_err *err)
{
    series_truth t;
    db_stmt *s;
    bool row = false;
    why[0] = 0;
    dd_code code = series_compute(c, iteration_id, key, &t, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT value, step, recorded_at, max_step, point_count,"
                       " text_bytes FROM metric_latest WHERE iteration_id = ? AND key = ?",
                       "it", iteration_id, key);
    if (code == DD_OK)
        code = db_step(c, s, &row, "reading a metric summary", err);
    if (code != DD_OK)
        return code;
    if (!row && t.count)
        snprintf(why, why_len, "%lld points but no summary row", (long long)t.count);
    else if (row && !t.count)
        snprintf(why, why_len, "a summary row but no points");
    else if (row && db_col_int64(s, 4) != t.count)
        snprintf(why, why_len, "summary says %lld points, there are %lld",
                 (long long)db_col_int64(s, 4), (long long)t.count);
    else if (row && (db_col_double(s, 0) != t.value ||
                     db_col_int64(s, 1) != t.step ||
                     strcmp(db_col_text(s, 2), t.recorded_at) != 0))
        snprintf(why, why_len, "summary's latest point is step %lld, the points' is step %lld",
                 (long long)db_col_int64(s, 1), (long long)t.step);
    else if (row && db_col_int64(s, 3) != t.max_step)   /* (no +1: it may be INT64_MAX) */
        snprintf(why, why_len, "summary's highest step is %lld, the points' is %lld",
                 (long long)db_col_int64(s, 3), (long long)t.max_step);
    else if (row && db_col_int64(s, 5) != t.text_bytes)
        snprintf(why, why_len, "summary's text length is %lld, the points' is %lld",
                 (long long)db_col_int64(s, 5), (long long)t.text_bytes);
    db_reset(s);
    return why[0] ? DD_OK : blocks_check(c, iteration_id, key, why, why_len, err);
}

/* Rewrite one series' block summaries from its points (inside series_fix). */
static dd_code blocks_fix(dd_conn *c, int64_t iteration_id, const char *key, dd_err *err)
{
    block_vec truth = {0};
    dd_code code = db_exec(c, err, "removing metric blocks", "DELETE FROM metric_block"
                           " WHERE iteration_id = ? AND key = ?", "it", iteration_id, key);
    if (code == DD_OK)
        code = blocks_compute(c, iteration_id, key, &truth, NULL, err);
    for (size_t i = 0; code == DD_OK && i < truth.n; i++)
        code = db_block_store(c, iteration_id, key, &truth.v[i], err);
    free(truth.v);
    return code;
}

/* Rewrite one series' summary from its points, in one transaction. */
static dd_code series_fix(fsck *f, int64_t iteration_id, const char *key, dd_err *err)
{
    db_txn t;
    DB_TXN(t, f->st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        series_truth truth;
        /* the iteration's lock, as every write to its data takes (§3.3) */
        dd_code code = db_lock(c, DB_LOCK_UPDATE, DB_T_ITERATION, iteration_id, err);
        if (code == DD_OK)
            code = series_compute(c, iteration_id, key, &truth, err);
        if (code == DD_OK && truth.count == 0)
            code = db_exec(c, err, "removing a metric summary", "DELETE FROM metric_latest"
                           " WHERE iteration_id = ? AND key = ?", "it", iteration_id, key);
        else if (code == DD_OK)
            code = db_exec(c, err, "rewriting a metric summary",
                           "INSERT INTO metric_latest(iteration_id, key, value, step, recorded_at,"
                           " max_step, point_count, text_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                           " ON CONFLICT(iteration_id, key) DO UPDATE SET value = excluded.value,"
                           " step = excluded.step, recorded_at = excluded.recorded_at,"
                           " max_step = excluded.max_step, point_count = excluded.point_count,"
                           " text_bytes = excluded.text_bytes", "itditiii", iteration_id, key,
                           truth.value, truth.step, truth.recorded_at, truth.max_step,
                           truth.count, truth.text_bytes);
        if (code == DD_OK)
            code = blocks_fix(c, iteration_id, key, err);
        t.code = code;
    }
    return t.code;
}

typedef struct series_key {
    int64_t iteration_id;
    char *key;
} series_key;

typedef struct key_vec {
    series_key *v;
    size_t n, cap;
    bool oom;
} key_vec;

static int collect_key(db_stmt *s, void *arg)
{
    key_vec *kv = arg;
    if (kv->n == kv->cap) {
        size_t cap = kv->cap ? kv->cap * 2 : 64;
        series_key *nv = realloc(kv->v, cap * sizeof *nv);
        if (!nv) {
            kv->oom = true;
            return 1;
        }
        kv->v = nv;
        kv->cap = cap;
    }
    kv->v[kv->n].iteration_id = db_col_int64(s, 0);
    if (!(kv->v[kv->n].key = db_col_dup(s, 1))) {
        kv->oom = true;
        return 1;
    }
    kv->n++;
    return 0;
}

/* Registry rows that break a rule, found by one query each: the text to report, and how
 * to repair (NULL: reported only; see rule_repair for the arguments each one takes). */
typedef struct rule {
    const char *query;      /* columns: the report text, then the repair's arguments */
    const char *repair;
} rule;

/* A stage id as its name, in SQL (the report's words are the mount's `stage` file's). */
#define STAGE_NAME_SQL(col) "CASE " col " WHEN 1 THEN 'NO_STAGE' WHEN 2 THEN 'STAGING'" \
    " WHEN 3 THEN 'PRODUCTION' WHEN 4 THEN 'ARCHIVED' END"

static const rule rules[] = {
    {"SELECT 'model ' || m.name || ': ' || COUNT(*) || ' versions in PRODUCTION'"
     " FROM model_version v JOIN model m ON m.id = v.model_id WHERE v.stage_id = 3"
     " GROUP BY m.id, m.name HAVING COUNT(*) > 1", NULL},
    {"SELECT 'model ' || m.name || ': version number ' || v.version || ' used ' || COUNT(*)"
     " || ' times' FROM model_version v JOIN model m ON m.id = v.model_id"
     " GROUP BY m.id, m.name, v.version HAVING COUNT(*) > 1", NULL},
    {"SELECT 'model ' || m.name || ': version ' || MAX(v.version) || ' is above the counter ("
     "' || m.last_version || '), so a number could be reused', m.id"
     " FROM model m JOIN model_version v ON v.model_id = m.id"
     " GROUP BY m.id HAVING MAX(v.version) > m.last_version",
     "UPDATE model SET last_version = (SELECT MAX(version) FROM model_version"
     " WHERE model_id = model.id) WHERE id = ?"},
    {"SELECT 'model ' || coalesce(m.name, CAST(a.model_id AS TEXT)) || ': alias ' || a.alias ||"
     " ' points at version row ' || a.version_id || CASE WHEN v.id IS NULL"
     " THEN ', which does not exist' ELSE ', of another model' END, a.model_id, a.alias"
     " FROM model_alias a LEFT JOIN model m ON m.id = a.model_id"
     " LEFT JOIN model_version v ON v.id = a.version_id"
     " WHERE v.id IS NULL OR v.model_id <> a.model_id",
     "DELETE FROM model_alias WHERE model_id = ? AND alias = ?"},
    /* a point without a step after step INT64_MAX is refused; before that was, its step
     * wrapped around to INT64_MIN: reported, since the intended step cannot be known */
    {"SELECT DISTINCT 'metric ' || l.key || ' of iteration ' || l.iteration_id || ': point ' || b.id"
     " || ' has step ' || b.step || ' after step ' || a.step || ' (a default step that"
     " overflowed)' FROM metric_latest l"
     " JOIN metric_point a ON a.series_id = l.id AND a.step = 9223372036854775807"
     " JOIN metric_point b ON b.series_id = l.id"
     " AND b.step = -9223372036854775807 - 1 AND b.id > a.id"
     " WHERE l.max_step = 9223372036854775807", NULL},
    /* the stage history (schema 009): the store writes a change with every stage it sets,
     * so a version's newest change ends in its stage, and names the version's own model.
     * Reported only: what happened in between cannot be known */
    {"SELECT 'model ' || m.name || ': version ' || v.version || ' is ' || "
     STAGE_NAME_SQL("v.stage_id") " || ' but its stage history ' || CASE WHEN h.id IS NULL"
     " THEN 'is empty' ELSE 'ends in ' || " STAGE_NAME_SQL("h.to_stage_id") " END"
     " FROM model_version v JOIN model m ON m.id = v.model_id"
     " LEFT JOIN stage_change h ON h.id = (SELECT MAX(x.id) FROM stage_change x"
     " WHERE x.model_version_id = v.id)"
     " WHERE h.id IS NULL OR h.to_stage_id <> v.stage_id", NULL},
    /* block summaries of an iteration that does not exist, and points of a series that
     * does not exist: the store's transactions keep both rules, not foreign keys
     * (schema/postgres/013, schema 014), so raw SQL can break them. Reported only: whose
     * points they were cannot be known (a point names its series by id alone) */
    {"SELECT 'metric ' || x.key || ' of iteration ' || x.iteration_id || ': block summaries"
     " of an iteration that does not exist' FROM (SELECT DISTINCT iteration_id, key"
     " FROM metric_block) x LEFT JOIN iteration i ON i.id = x.iteration_id WHERE i.id IS NULL",
     NULL},
    {"SELECT 'metric series ' || p.series_id || ': points of a series that does not exist ('"
     " || COUNT(*) || ' points)' FROM metric_point p"
     " LEFT JOIN metric_latest l ON l.id = p.series_id WHERE l.id IS NULL"
     " GROUP BY p.series_id", NULL},
    {"SELECT 'stage change ' || h.id || ' of version row ' || h.model_version_id ||"
     " ' names model ' || h.model_id || ', not its model ' || v.model_id"
     " FROM stage_change h JOIN model_version v ON v.id = h.model_version_id"
     " WHERE h.model_id <> v.model_id", NULL},
};

/* One finding of a rule, kept until the read transaction is over. */
typedef struct finding {
    const rule *r;
    char *text;
    int64_t id;
    char *arg;
} finding;

typedef struct finding_vec {
    finding *v;
    size_t n, cap;
    const rule *r;
    bool oom;
} finding_vec;

static int collect_finding(db_stmt *s, void *arg)
{
    finding_vec *fv = arg;
    if (fv->n == fv->cap) {
        size_t cap = fv->cap ? fv->cap * 2 : 16;
        finding *nv = realloc(fv->v, cap * sizeof *nv);
        if (!nv) {
            fv->oom = true;
            return 1;
        }
        fv->v = nv;
        fv->cap = cap;
    }
    finding *x = &fv->v[fv->n];
    x->r = fv->r;
    x->text = db_col_dup(s, 0);
    /* up to two repair arguments: an id, then a text (the report text when none) */
    x->id = db_col_count(s) > 1 ? db_col_int64(s, 1) : 0;
    x->arg = db_col_dup(s, db_col_count(s) > 2 ? 2 : 0);
    if (!x->text || !x->arg) {
        free(x->text);
        free(x->arg);
        fv->oom = true;
        return 1;
    }
    fv->n++;
    return 0;
}

/* Repair one finding in its own transaction; *done when it changed exactly one row. */
static dd_code rule_repair(fsck *f, const finding *x, bool *done, dd_err *err)
{
    int64_t changed = 0;
    db_txn t;
    DB_TXN(t, f->st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        dd_code code = DD_OK;
        if (x->r == &rules[2])
            code = db_exec(c, err, "raising a model's version counter", rules[2].repair, "i",
                           x->id);
        else
            code = db_exec(c, err, "removing a dangling alias", rules[3].repair, "it", x->id,
                           x->arg);
        changed = code == DD_OK ? db_changes(c) : 0;
        t.code = code;
    }
    *done = t.code == DD_OK && changed == 1;
    return t.code;
}

/* Free (and empty) what the read pass of check_registry collected. */
static void registry_free(finding_vec *found, key_vec *keys, str_vec *bad)
{
    for (size_t i = 0; i < found->n; i++) {
        free(found->v[i].text);
        free(found->v[i].arg);
    }
    free(found->v);
    *found = (finding_vec){.r = found->r};
    for (size_t i = 0; i < keys->n; i++)
        free(keys->v[i].key);
    free(keys->v);
    *keys = (key_vec){0};
    vec_free(bad);
    *bad = (str_vec){0};
}

static dd_code check_registry(fsck *f, dd_err *err)
{
    finding_vec found = {0};
    key_vec keys = {0};
    str_vec bad = {0};          /* "<index>\t<why>" of series that disagree */
    /* one read transaction: the rules and every series see one snapshot, even while the
     * registry is mounted and written. A re-run starts from empty lists. */
    db_txn t;
    DB_TXN(t, f->st, DB_TXN_READ, err) {
        dd_conn *c = t.c;
        db_stmt *s;
        dd_code code = DD_OK;
        registry_free(&found, &keys, &bad);
        for (size_t i = 0; code == DD_OK && i < sizeof rules / sizeof rules[0]; i++) {
            found.r = &rules[i];
            /* the table's strings have fixed addresses, as db_prep's cache needs */
            code = db_prep(c, &s, err, rules[i].query, NULL);
            if (code == DD_OK)
                code = db_each(c, s, "checking the registry", collect_finding, &found, err);
        }
        if (code == DD_OK)
            /* series of an existing iteration: the others are a rule's finding above,
             * and no summary can be made for them (points are found through their
             * series' row: those without one are a finding above too) */
            code = db_prep(c, &s, err, "SELECT k.iteration_id, k.key FROM"
                           " (SELECT iteration_id, key FROM metric_latest UNION"
                           " SELECT iteration_id, key FROM metric_block) k"
                           " JOIN iteration i ON i.id = k.iteration_id ORDER BY 1, 2", NULL);
        if (code == DD_OK)
            code = db_each(c, s, "listing metric series", collect_key, &keys, err);
        if (code == DD_OK && (found.oom || keys.oom))
            code = dd_fail(err, DD_IO, "out of memory");
        for (size_t i = 0; code == DD_OK && i < keys.n; i++) {
            char why[256], line[320];
            code = series_check(c, keys.v[i].iteration_id, keys.v[i].key, why, sizeof why, err);
            if (code == DD_OK && why[0]) {
                snprintf(line, sizeof line, "%zu\t%s", i, why);
                vec_add(&bad, line);
            }
        }
        t.code = code;
    }
    dd_code code = t.code;
    if (code == DD_OK && bad.oom)
        code = dd_fail(err, DD_IO, "out of memory");
    for (size_t i = 0; code == DD_OK && i < found.n; i++) {
        const finding *x = &found.v[i];
        bool done = false;
        if (!x->r->repair || !f->repair) {
            say(f, x->r->repair ? DD_FSCK_PROBLEM : unfixable(f), "registry: %s", x->text);
            continue;
        }
        code = rule_repair(f, x, &done, err);
        if (code == DD_OK)
            say(f, done ? DD_FSCK_REPAIRED : DD_FSCK_UNREPAIRED, "registry: %s: %s", x->text,
                done ? "repaired" : "changed meanwhile, left as is");
    }
    for (size_t i = 0; code == DD_OK && i < bad.n; i++) {
        char *tab = strchr(bad.v[i], '\t');
        const series_key *k = &keys.v[strtoull(bad.v[i], NULL, 10)];
        if (f->repair)
            code = series_fix(f, k->iteration_id, k->key, err);
        if (code == DD_OK)
            say(f, f->repair ? DD_FSCK_REPAIRED : DD_FSCK_PROBLEM,
                "metric %s of iteration %lld: %s%s", k->key, (long long)k->iteration_id,
                tab ? tab + 1 : "", f->repair ? ": summaries recomputed from the points" : "");
    }
    registry_free(&found, &keys, &bad);
    return code;
}

/* ================================================================ 5. nodes */

static void dead_journal(void *ctx, int64_t node_id, const char *host, const char *dir,
                         const char *journal)
{
    fsck *f = ctx;
    say(f, unfixable(f), "node %lld (host %s, journal %s/%s) died with a metric journal whose"
        " points are not all in the registry; run deardiary fsck or mount on %s",
        (long long)node_id, host[0] ? host : "?", dir, journal, host[0] ? host : "that host");
}

/* Nodes that died with a journal on their machine (docs/ENGINES.md §4.3). This machine's
 * were replayed when the store opened; another machine's only that machine can replay. */
static dd_code check_nodes(fsck *f, dd_err *err)
{
    return node_dead_journals(f->st, dead_journal, f, err);
}

/* ================================================================ the run */

dd_code dd_fsck_run(dd_artifacts *a, bool repair, dd_fsck_report_fn report, void *ctx,
                    dd_fsck_summary *out, dd_err *err)
{
    fsck f = {.a = a, .st = dd_artifacts_store(a), .repair = repair, .report = report,
              .ctx = ctx};
    f.buf = malloc(HASH_BUF);
    dd_code code = f.buf ? DD_OK : dd_fail(err, DD_IO, "out of memory");
    if (code == DD_OK)
        code = check_database(&f, err);
    if (code == DD_OK)
        code = check_resources(&f, err);
    if (code == DD_OK)
        code = check_orphans(&f, err);
    if (code == DD_OK)
        code = check_registry(&f, err);
    if (code == DD_OK)
        code = check_nodes(&f, err);
    free(f.buf);
    vec_free(&f.roots);
    vec_free(&f.unreached);
    if (out)
        *out = f.sum;
    return code;
}
