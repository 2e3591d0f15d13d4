/*
 * artifacts.c - the artifact stores' dispatcher (artifacts.h): configuration, streaming
 * uploads (sha256 while streaming, then the one committing transaction that creates or
 * replaces the resource row), readers that dispatch on the row's own backend, and gc of
 * trashed and abandoned bytes. The backends themselves are art_inline.c and art_fs.c.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "art_int.h"
#include "artifacts.h"

struct dd_artifacts {
    dd_store *st;
    bool fs_default;        /* new uploads go to the filesystem backend */
    char *fs_root;          /* absolute; NULL when none is configured */
};

dd_code dd_artifacts_open(dd_store *st, const dd_artifacts_config *cfg, dd_artifacts **out,
                          dd_err *err)
{
    *out = NULL;
    if (!st)
        return dd_fail(err, DD_INVALID, "no store");
    const char *backend = cfg && cfg->backend && *cfg->backend ? cfg->backend : "inline";
    const char *root = cfg && cfg->fs_root && *cfg->fs_root ? cfg->fs_root : NULL;
    bool fs;
    if (strcmp(backend, "inline") == 0)
        fs = false;
    else if (strcmp(backend, "filesystem") == 0)
        fs = true;
    else if (strcmp(backend, "s3") == 0)
        return dd_fail(err, DD_INVALID, "the s3 artifact backend is not available yet");
    else
        return dd_fail(err, DD_INVALID, "unknown artifact backend \"%s\" (inline, filesystem)",
                       backend);
    if (fs && !root)
        return dd_fail(err, DD_INVALID,
                       "the filesystem artifact backend needs a root directory (fs_root)");
    dd_artifacts *a = calloc(1, sizeof *a);
    if (!a)
        return dd_fail(err, DD_IO, "out of memory");
    a->st = st;
    a->fs_default = fs;
    /* with another default backend, an absent root is not created: it is only needed to
     * clean up after filesystem uploads, which then cannot exist */
    struct stat rst;
    if (root && (fs || (stat(root, &rst) == 0 && S_ISDIR(rst.st_mode)))) {
        dd_code code = art_fs_prepare_root(root, &a->fs_root, err);
        if (code != DD_OK) {
            free(a);
            return code;
        }
    }
    *out = a;
    return DD_OK;
}

void dd_artifacts_close(dd_artifacts *a)
{
    if (!a)
        return;
    free(a->fs_root);
    free(a);
}

/* ---------------------------------------------------------------- uploads */

enum { UP_OPEN, UP_BROKEN, UP_FINISHED, UP_COMMITTED };

struct dd_upload {
    dd_artifacts *a;
    bool fs;
    int state;
    int64_t size;
    EVP_MD_CTX *md;
    art_inline_up in;
    art_fs_up file;
};

dd_code dd_upload_begin(dd_artifacts *a, dd_upload **out, dd_err *err)
{
    *out = NULL;
    dd_upload *u = calloc(1, sizeof *u);
    if (!u)
        return dd_fail(err, DD_IO, "out of memory");
    u->a = a;
    u->fs = a->fs_default;
    u->file.fd = -1;
    u->md = EVP_MD_CTX_new();
    dd_code code = u->md && EVP_DigestInit_ex(u->md, EVP_sha256(), NULL) == 1
        ? DD_OK : dd_fail(err, DD_IO, "cannot start a sha256 digest");
    if (code == DD_OK)
        code = u->fs ? art_fs_begin(a->fs_root, &u->file, err)
                     : art_inline_begin(a->st, &u->in, err);
    if (code != DD_OK) {
        EVP_MD_CTX_free(u->md);
        free(u);
        return code;
    }
    *out = u;
    return DD_OK;
}

dd_code dd_upload_write(dd_upload *u, const void *data, size_t len, dd_err *err)
{
    if (u->state == UP_BROKEN)
        return dd_fail(err, DD_IO, "an earlier write of this upload failed");
    if (u->state != UP_OPEN)
        return dd_fail(err, DD_INVALID, "the upload is finished");
    if (len == 0)
        return DD_OK;
    if (!data)
        return dd_fail(err, DD_INVALID, "no bytes to write");
    dd_code code = u->fs ? art_fs_write(&u->file, data, len, err)
                         : art_inline_write(u->a->st, &u->in, data, len, err);
    if (code == DD_OK && EVP_DigestUpdate(u->md, data, len) != 1)
        code = dd_fail(err, DD_IO, "sha256 failed");
    if (code != DD_OK) {
        u->state = UP_BROKEN;       /* bytes may be half written: the upload cannot commit */
        return code;
    }
    u->size += (int64_t)len;
    return DD_OK;
}

int64_t dd_upload_size(const dd_upload *u) { return u->size; }

static dd_code finish_digest(dd_upload *u, char hex[65], dd_err *err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(u->md, md, &n) != 1 || n != 32)
        return dd_fail(err, DD_IO, "sha256 failed");
    for (unsigned i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return DD_OK;
}

dd_code dd_upload_commit(dd_upload *u, int64_t experiment_id, const char *name, bool replace,
                         int64_t *id_out, dd_err *err)
{
    if (u->state == UP_FINISHED || u->state == UP_COMMITTED)
        return dd_fail(err, DD_INVALID, "the upload is finished");
    bool broken = u->state == UP_BROKEN;
    u->state = UP_FINISHED;
    if (broken)
        return dd_fail(err, DD_IO, "an earlier write of this upload failed");
    char hash[65];
    dd_code code = dd_name_check(name, "resource name", err);
    if (code == DD_OK)
        code = finish_digest(u, hash, err);
    dd_store *st = u->a->st;
    dd_conn *c = NULL;
    if (code == DD_OK)
        code = db_conn(st, &c, err);
    char *uri = NULL;
    if (code == DD_OK && u->fs) {
        code = art_fs_publish(u->a->fs_root, &u->file, u->size, err);
        if (code == DD_OK && asprintf(&uri, "file://%s", u->file.final) < 0) {
            uri = NULL;
            code = dd_fail(err, DD_IO, "out of memory");
        }
    } else if (code == DD_OK) {
        code = art_inline_flush(st, &u->in, err);
    }
    if (code == DD_OK)
        code = db_begin(&c, err);
    if (code != DD_OK) {
        free(uri);
        return code;     /* dd_upload_free removes what was staged or published */
    }
    int64_t id = 0;
    if (u->fs) {
        code = db_resource_put_bytes(c, experiment_id, name, replace, "filesystem", uri, u->size,
                                     hash, 0, &id, err);
    } else {
        code = art_inline_claim(c, &u->in, u->size, err);
        if (code == DD_OK)
            code = db_resource_put_bytes(c, experiment_id, name, replace, "inline", "", u->size,
                                         hash, u->size ? u->in.set_id : 0, &id, err);
    }
    code = db_end(c, code, err);
    free(uri);
    if (code != DD_OK)
        return code;
    if (u->fs)
        art_fs_done(&u->file);
    else
        art_inline_done(&u->in);
    u->state = UP_COMMITTED;
    if (id_out)
        *id_out = id;
    return DD_OK;
}

void dd_upload_free(dd_upload *u)
{
    if (!u)
        return;
    if (u->state != UP_COMMITTED) {
        if (u->fs)
            art_fs_abandon(&u->file);
        else
            art_inline_abandon(u->a->st, &u->in);
    }
    EVP_MD_CTX_free(u->md);
    free(u);
}

/* ---------------------------------------------------------------- readers */

enum { RD_EMPTY, RD_LEGACY, RD_CHUNKS, RD_FILE };

struct dd_artifact_reader {
    dd_artifacts *a;
    int kind;
    int64_t id;
    int64_t size;
    int64_t set_id;         /* RD_CHUNKS: held against gc until closed */
    int fd;                 /* RD_FILE */
};

/* Pin the bytes the row names. A replace or delete may commit between reading the row and
 * pinning its bytes: then the row is read again, and the pin follows it. */
static dd_code reader_pin(dd_artifacts *a, dd_artifact_reader *r, bool allow_broken,
                          dd_err *err)
{
    dd_conn *c;
    dd_code code = db_conn(a->st, &c, err);
    for (int attempt = 0; code == DD_OK; attempt++) {
        db_resource_bytes w;
        code = db_resource_locate(c, r->id, &w, err);
        if (code != DD_OK)
            return code;
        r->size = w.size;
        bool again = false;
        if (w.broken && !allow_broken) {
            code = dd_fail(err, DD_IO, "resource %lld is marked broken: deardiary fsck found"
                           " its bytes missing or damaged", (long long)r->id);
        } else if (strcmp(w.backend, "inline") == 0 && w.chunk_set) {
            if (!art_inline_hold(w.chunk_set)) {
                code = dd_fail(err, DD_IO, "out of memory");
            } else {
                db_resource_bytes now;
                code = db_resource_locate(c, r->id, &now, err);
                if (code == DD_OK && now.chunk_set == w.chunk_set) {
                    r->kind = RD_CHUNKS;
                    r->set_id = w.chunk_set;
                } else {
                    art_inline_release(w.chunk_set);
                    again = code == DD_OK;
                }
                if (code == DD_OK)
                    free(now.uri);
            }
        } else if (strcmp(w.backend, "inline") == 0) {
            r->kind = w.legacy_data ? RD_LEGACY : RD_EMPTY;
            if (!w.legacy_data && w.size != 0)
                code = dd_fail(err, DD_IO, "resource %lld has no bytes stored",
                               (long long)r->id);
        } else if (strcmp(w.backend, "filesystem") == 0) {
            code = art_fs_open(w.uri, w.size, &r->fd, err);
            if (code == DD_OK)
                r->kind = RD_FILE;
            again = code == DD_NOT_FOUND;   /* removed by gc after a replace? look again */
        } else {
            code = dd_fail(err, DD_IO, "resource %lld is stored in \"%s\", which this build"
                           " cannot read", (long long)r->id, w.backend);
        }
        free(w.uri);
        if (!again)
            return code;
        if (attempt >= 3)
            return code == DD_NOT_FOUND
                ? dd_fail(err, DD_IO, "the bytes of resource %lld are missing", (long long)r->id)
                : dd_fail(err, DD_BUSY, "the bytes of resource %lld keep changing",
                          (long long)r->id);
        code = DD_OK;
    }
    return code;
}

static dd_code reader_open(dd_artifacts *a, int64_t resource_id, bool allow_broken,
                           dd_artifact_reader **out, dd_err *err)
{
    *out = NULL;
    dd_artifact_reader *r = calloc(1, sizeof *r);
    if (!r)
        return dd_fail(err, DD_IO, "out of memory");
    r->a = a;
    r->id = resource_id;
    r->fd = -1;
    dd_code code = reader_pin(a, r, allow_broken, err);
    if (code != DD_OK) {
        free(r);
        return code;
    }
    *out = r;
    return DD_OK;
}

dd_code dd_artifact_open(dd_artifacts *a, int64_t resource_id, dd_artifact_reader **out,
                         dd_err *err)
{
    return reader_open(a, resource_id, false, out, err);
}

dd_code dd_artifact_open_any(dd_artifacts *a, int64_t resource_id, dd_artifact_reader **out,
                             dd_err *err)
{
    return reader_open(a, resource_id, true, out, err);
}

dd_store *dd_artifacts_store(const dd_artifacts *a) { return a->st; }

const char *dd_artifacts_fs_root(const dd_artifacts *a) { return a->fs_root; }

dd_code dd_artifact_pread(dd_artifact_reader *r, int64_t off, void *buf, size_t len,
                          size_t *got, dd_err *err)
{
    *got = 0;
    if (off < 0)
        return dd_fail(err, DD_INVALID, "negative offset");
    if (off >= r->size || len == 0)
        return DD_OK;
    if (r->kind == RD_FILE)
        return art_fs_pread(r->fd, r->size, off, buf, len, got, err);
    dd_conn *c;
    dd_code code = db_conn(r->a->st, &c, err);
    if (code != DD_OK)
        return code;
    if (r->kind == RD_CHUNKS)
        return art_inline_pread(c, r->set_id, r->size, off, buf, len, got, err);
    if (r->kind == RD_LEGACY)
        return art_legacy_pread(c, r->id, r->size, off, buf, len, got, err);
    return DD_OK;
}

int64_t dd_artifact_size(const dd_artifact_reader *r) { return r->size; }

void dd_artifact_close(dd_artifact_reader *r)
{
    if (!r)
        return;
    if (r->kind == RD_CHUNKS)
        art_inline_release(r->set_id);
    if (r->fd >= 0)
        close(r->fd);
    free(r);
}

/* ---------------------------------------------------------------- gc */

typedef struct trash_item {
    int64_t id;
    int64_t set_id;
    char backend[16];
    char *uri;
} trash_item;

typedef struct trash_vec {
    trash_item *v;
    size_t n, cap;
    bool oom;
} trash_vec;

static int collect_trash(sqlite3_stmt *s, void *arg)
{
    trash_vec *t = arg;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        trash_item *v = realloc(t->v, cap * sizeof *v);
        if (!v) {
            t->oom = true;
            return 1;
        }
        t->v = v;
        t->cap = cap;
    }
    trash_item *it = &t->v[t->n];
    it->id = sqlite3_column_int64(s, 0);
    snprintf(it->backend, sizeof it->backend, "%s", db_col_text(s, 1));
    it->uri = db_col_dup(s, 2);
    it->set_id = sqlite3_column_int64(s, 3);
    if (!it->uri) {
        t->oom = true;
        return 1;
    }
    t->n++;
    return 0;
}

/* One trash item: its bytes, then its row. *done false when it stays for later. */
static dd_code gc_trash_item(dd_artifacts *a, const trash_item *it, bool *done, dd_err *err)
{
    *done = false;
    if (strcmp(it->backend, "inline") == 0 && it->set_id)
        return art_inline_remove_trashed(a->st, it->id, it->set_id, done, err);
    dd_code code = DD_OK;
    if (strcmp(it->backend, "filesystem") == 0) {
        bool removed;   /* false for a uri this backend never made: forget it, touch nothing */
        code = art_fs_remove_uri(it->uri, &removed, err);
    } else if (strcmp(it->backend, "inline") != 0) {
        return DD_OK;   /* s3: left queued for the backend that can remove it */
    }
    if (code == DD_OK)
        code = dd_trash_forget(a->st, it->id, err);
    *done = code == DD_OK;
    return code;
}

static void keep_first(dd_code *first, dd_code code, const dd_err *got, dd_err *err)
{
    if (code != DD_OK && *first == DD_OK) {
        *first = code;
        if (err)
            *err = *got;
    }
}

dd_code dd_artifacts_gc(dd_artifacts *a, int64_t *removed_out, dd_err *err)
{
    int64_t removed = 0;
    dd_conn *c;
    sqlite3_stmt *s;
    trash_vec trash = {0};
    dd_code code = db_conn(a->st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT id, backend, uri, chunk_set FROM artifact_trash"
                       " ORDER BY id", NULL);
    if (code == DD_OK)
        code = db_each(c, s, "listing the artifact trash", collect_trash, &trash, err);
    if (code == DD_OK && trash.oom)
        code = dd_fail(err, DD_IO, "out of memory");
    /* Keep going past a failed item or phase; report the first failure. */
    dd_code first = code;
    dd_err item_err = {0};
    for (size_t i = 0; i < trash.n; i++) {
        bool done;
        dd_code ic = gc_trash_item(a, &trash.v[i], &done, &item_err);
        keep_first(&first, ic, &item_err, err);
        if (done)
            removed++;
    }
    for (size_t i = 0; i < trash.n; i++)
        free(trash.v[i].uri);
    free(trash.v);
    keep_first(&first, art_inline_gc(a->st, &removed, &item_err), &item_err, err);
    if (a->fs_root)
        keep_first(&first, art_fs_gc_staging(a->st, a->fs_root, &removed, &item_err), &item_err,
                   err);
    if (removed_out)
        *removed_out = removed;
    return first;
}
