/*
 * artifacts.c - the artifact stores' dispatcher (artifacts.h): configuration, streaming
 * uploads (sha256 while streaming, then the one committing transaction that creates or
 * replaces the resource row), readers that dispatch on the row's own backend, and gc of
 * trashed and abandoned bytes. The backends themselves are art_inline.c, art_fs.c and
 * art_s3.c; migrate.c moves rows between them with the art_upload_* / art_reader_*
 * functions at the end of art_int.h. The "auto" default (inline, moving to a file past
 * inline_max) is here too: it is a policy over two backends, not a backend.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "art_int.h"
#include "artifacts_ops.h"
#include "artifacts.h"

struct dd_artifacts {
    dd_store *st;
    char default_backend[16];   /* "inline", "filesystem" or "s3" ("auto" starts inline) */
    char *fs_root;              /* absolute; NULL when none is configured */
    art_s3 *s3;                 /* NULL when no s3 service is configured */
    char *auto_root;            /* "auto": absolute, maybe not yet created; NULL: no moves */
    char *recorded;             /* the registry's recorded root (art_root.c); NULL: none */
    char recorded_why[512];     /* why `recorded` is not used here; "": it is (or none) */
    int64_t inline_max;         /* "auto": the largest artifact that stays inline */
    const dd_artifacts_ops *ops;    /* a wrapped store's (artifacts_ops.h); NULL: local */
    void *impl;
};

enum { BK_INLINE, BK_FS, BK_S3 };

static int backend_kind(const char *b)
{
    return strcmp(b, "filesystem") == 0 ? BK_FS : strcmp(b, "s3") == 0 ? BK_S3 : BK_INLINE;
}

static void free_trash_range(void *ctx, int64_t lo, int64_t hi);

/* "auto" with no auto_root: <database file>.artifacts, absolute (the daemon changes
 * directory after opening). NULL, with no error, for a store that is no file: a locator
 * with a scheme (postgresql://...), SQLite's ":memory:" or an empty path. */
static dd_code beside_database(dd_store *st, char **out, dd_err *err)
{
    *out = NULL;
    const char *db = dd_store_path(st);
    if (!db || !*db || db[0] == ':' || strstr(db, "://") || strncmp(db, "file:", 5) == 0)
        return DD_OK;
    char *d = strdup(db), *b = strdup(db);
    char *dir = d && b ? realpath(dirname(d), NULL) : NULL;
    dd_code code = DD_OK;
    if (!d || !b)
        code = dd_fail(err, DD_IO, "out of memory");
    else if (!dir)
        code = dd_fail(err, DD_INVALID, "cannot resolve the directory of %s: %s", db,
                       strerror(errno));
    else if (asprintf(out, "%s%s%s.artifacts", dir, strcmp(dir, "/") ? "/" : "",
                      basename(b)) < 0) {
        *out = NULL;
        code = dd_fail(err, DD_IO, "out of memory");
    }
    free(dir);
    free(d);
    free(b);
    return code;
}

/* The registry's recorded root, into a->recorded, and whether this process may use it
 * (its marker holds this registry's uuid): a->recorded_why says why not. */
static dd_code load_recorded(dd_artifacts *a, dd_err *err)
{
    dd_code code = dd_artifacts_recorded_root(a->st, &a->recorded, err);
    if (code == DD_OK && a->recorded)
        dd_artifacts_root_marked(a->st, a->recorded, a->recorded_why, sizeof a->recorded_why);
    return code;
}

/* The auto root, absolute (the directory needs not exist): the configured one, else
 * beside a SQLite file, else the registry's recorded root when this process sees its
 * marker (a->recorded loaded). */
static dd_code auto_root_of(dd_artifacts *a, const dd_artifacts_config *cfg, char **out,
                            dd_err *err)
{
    *out = NULL;
    const char *r = cfg && cfg->auto_root && *cfg->auto_root ? cfg->auto_root : NULL;
    if (!r) {
        dd_code code = beside_database(a->st, out, err);
        if (code == DD_OK && !*out && a->recorded && !a->recorded_why[0] &&
            !(*out = strdup(a->recorded)))
            code = dd_fail(err, DD_IO, "out of memory");
        return code;
    }
    if (r[0] == '/')
        *out = strdup(r);
    else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd))
            return dd_fail(err, DD_INVALID, "cannot make %s absolute: %s", r, strerror(errno));
        if (asprintf(out, "%s/%s", cwd, r) < 0)
            *out = NULL;
    }
    return *out ? DD_OK : dd_fail(err, DD_IO, "out of memory");
}

/* Make the auto root usable: created 0700 (artifacts are as private as the database
 * beside it), with its staging directory. Called at each move, so a root removed while
 * mounted comes back. */
static dd_code auto_root_prepare(const dd_artifacts *a, dd_err *err)
{
    if (mkdir(a->auto_root, 0700) != 0 && errno != EEXIST)
        return dd_fail(err, dd_errno_code(errno), "cannot create the artifact directory %s:"
                       " %s", a->auto_root, strerror(errno));
    char *abs = NULL;
    dd_code code = art_fs_prepare_root(a->auto_root, &abs, err);
    free(abs);
    if (code == DD_INVALID && err)  /* not the writer's mistake: the copy fails with EIO */
        err->code = DD_IO;
    return code == DD_INVALID ? DD_IO : code;
}

dd_code dd_artifacts_open(dd_store *st, const dd_artifacts_config *cfg, dd_artifacts **out,
                          dd_err *err)
{
    *out = NULL;
    if (!st)
        return dd_fail(err, DD_INVALID, "no store");
    const char *backend = cfg && cfg->backend && *cfg->backend ? cfg->backend : "inline";
    const char *root = cfg && cfg->fs_root && *cfg->fs_root ? cfg->fs_root : NULL;
    bool is_auto = strcmp(backend, "auto") == 0;
    if (strcmp(backend, "inline") != 0 && strcmp(backend, "filesystem") != 0 &&
        strcmp(backend, "s3") != 0 && !is_auto)
        return dd_fail(err, DD_INVALID, "unknown artifact backend \"%s\" (auto, inline,"
                       " filesystem, s3)", backend);
    if (is_auto && cfg->inline_max < 0)
        return dd_fail(err, DD_INVALID, "inline_max must not be negative");
    bool fs = strcmp(backend, "filesystem") == 0;
    if (fs && !root)
        return dd_fail(err, DD_INVALID,
                       "the filesystem artifact backend needs a root directory (fs_root)");
    bool want_s3 = strcmp(backend, "s3") == 0 ||
        (cfg && cfg->s3_endpoint && *cfg->s3_endpoint && cfg->s3_bucket && *cfg->s3_bucket);
    dd_artifacts *a = calloc(1, sizeof *a);
    if (!a)
        return dd_fail(err, DD_IO, "out of memory");
    a->st = st;
    snprintf(a->default_backend, sizeof a->default_backend, "%s", is_auto ? "inline" : backend);
    dd_code code = load_recorded(a, err);
    if (code == DD_OK && is_auto)
        code = auto_root_of(a, cfg, &a->auto_root, err);
    a->inline_max = is_auto ? cfg->inline_max : 0;
    if (want_s3) {
        art_s3_config sc = {
            .endpoint = cfg->s3_endpoint, .bucket = cfg->s3_bucket, .region = cfg->s3_region,
            .access_key = cfg->s3_access_key, .secret_key = cfg->s3_secret_key,
            .threshold = cfg->s3_multipart_threshold > 0 ? (size_t)cfg->s3_multipart_threshold
                                                         : (size_t)2 << 30,
            .part_size = cfg->s3_part_size > 0 ? (size_t)cfg->s3_part_size : (size_t)16 << 20,
            .spool_dir = cfg->s3_spool_dir,
        };
        code = art_s3_new(&sc, &a->s3, err);
    }
    /* with another default backend, an absent root is not created: it is only needed to
     * clean up after filesystem uploads, which then cannot exist */
    struct stat rst;
    if (code == DD_OK && root && (fs || (stat(root, &rst) == 0 && S_ISDIR(rst.st_mode))))
        code = art_fs_prepare_root(root, &a->fs_root, err);
    /* an existing auto root is checked now (gc cleans its staging directory); an absent
     * one is created by the first upload that needs it */
    if (code == DD_OK && a->auto_root && stat(a->auto_root, &rst) == 0) {
        /* not fatal: only large artifacts need it, and their copies fail with the reason */
        char *abs = NULL;
        dd_err why = {0};
        if (art_fs_prepare_root(a->auto_root, &abs, &why) == DD_OK) {
            free(a->auto_root);         /* symlinks resolved, as fs_root's are */
            a->auto_root = abs;
        } else {
            syslog(LOG_WARNING, "artifacts larger than inline_max cannot be stored: %s",
                   why.msg);
        }
    }
    if (code == DD_OK && is_auto && !a->auto_root && a->recorded)
        syslog(LOG_WARNING, "artifacts.backend auto: the registry's artifact root %s is not"
               " used on this node (%s), so every artifact stays inline here; mount the"
               " shared root at that path, or set artifacts.filesystem.root",
               a->recorded, a->recorded_why);
    else if (code == DD_OK && is_auto && !a->auto_root)
        syslog(LOG_NOTICE, "artifacts.backend auto: %s is no file and has no artifact root"
               " recorded (deardiary init records one) and no artifacts.filesystem.root is"
               " configured, so every artifact stays inline", dd_store_path(st));
    if (code != DD_OK) {
        dd_artifacts_close(a);
        return code;
    }
    db_set_trash_hook(st, free_trash_range, a);
    *out = a;
    return DD_OK;
}

dd_code dd_artifacts_wrap(dd_store *st, const dd_artifacts_ops *ops, void *impl,
                          dd_artifacts **out, dd_err *err)
{
    *out = calloc(1, sizeof **out);
    if (!*out) {
        ops->close(impl);
        return dd_fail(err, DD_IO, "out of memory");
    }
    (*out)->st = st;
    (*out)->ops = ops;
    (*out)->impl = impl;
    snprintf((*out)->default_backend, sizeof (*out)->default_backend, "%s", ops->name);
    return DD_OK;
}

static dd_code not_offered(const dd_artifacts *a, const char *fn, dd_err *err)
{
    return dd_fail(err, DD_UNSUPPORTED, "%s: not offered by a %s store", fn, a->ops->name);
}

void dd_artifacts_close(dd_artifacts *a)
{
    if (!a)
        return;
    if (a->ops) {
        a->ops->close(a->impl);
        free(a);
        return;
    }
    db_set_trash_hook(a->st, NULL, NULL);
    art_s3_free(a->s3);
    free(a->fs_root);
    free(a->auto_root);
    free(a->recorded);
    free(a);
}

dd_store *art_store(const dd_artifacts *a) { return a->st; }

dd_code art_backend_check(const dd_artifacts *a, const char *backend, dd_err *err)
{
    if (strcmp(backend, "inline") == 0)
        return DD_OK;
    if (strcmp(backend, "filesystem") == 0)
        return a->fs_root ? DD_OK : dd_fail(err, DD_INVALID, "the filesystem artifact backend"
                                            " needs a root directory (artifacts.filesystem.root)");
    if (strcmp(backend, "s3") == 0)
        return a->s3 ? DD_OK : dd_fail(err, DD_INVALID, "the s3 artifact backend needs an"
                                       " endpoint and a bucket (artifacts.s3.*)");
    return dd_fail(err, DD_INVALID, "unknown artifact backend \"%s\" (inline, filesystem, s3)",
                   backend);
}

void art_loc_clear(art_loc *l)
{
    free(l->uri);
    memset(l, 0, sizeof *l);
}

/* ---------------------------------------------------------------- uploads */

enum { UP_OPEN, UP_BROKEN, UP_FINISHED, UP_STAGED, UP_COMMITTED };

struct dd_upload {
    dd_artifacts *a;
    int kind;               /* BK_* */
    int state;
    int64_t size;
    int64_t move_past;      /* "auto": inline until the size passes this; -1: never moves */
    const char *fs_dir;     /* BK_FS: the root the file goes under (fs_root or auto_root) */
    EVP_MD_CTX *md;         /* inline: fed by the writes; fs: by `hash`; s3: by its spool */
    art_hasher hash;        /* BK_FS: reads the staged file back behind the writes */
    art_inline_up in;
    art_fs_up file;
    art_s3_up *s3;
    char *uri;              /* fs/s3: once published */
    void *impl;             /* a wrapped store's upload */
};

dd_code art_upload_begin_in(dd_artifacts *a, const char *backend, dd_upload **out, dd_err *err)
{
    *out = NULL;
    dd_code code = art_backend_check(a, backend, err);
    if (code != DD_OK)
        return code;
    dd_upload *u = calloc(1, sizeof *u);
    if (!u)
        return dd_fail(err, DD_IO, "out of memory");
    u->a = a;
    u->kind = backend_kind(backend);
    u->move_past = -1;
    u->fs_dir = a->fs_root;
    u->file.fd = -1;
    u->md = EVP_MD_CTX_new();
    code = u->md && EVP_DigestInit_ex(u->md, EVP_sha256(), NULL) == 1
        ? DD_OK : dd_fail(err, DD_IO, "cannot start a sha256 digest");
    if (code == DD_OK)
        code = u->kind == BK_FS ? art_fs_begin(a->st, a->fs_root, &u->file, err)
             : u->kind == BK_S3 ? art_s3_begin(a->s3, &u->s3, err)
                                : art_inline_begin(a->st, &u->in, err);
    if (code == DD_OK && u->kind == BK_FS && !art_hasher_start(&u->hash, u->file.fd, u->md, 0)) {
        art_fs_abandon(&u->file);
        code = dd_fail(err, DD_IO, "cannot start an upload's hasher thread");
    }
    if (code != DD_OK) {
        EVP_MD_CTX_free(u->md);
        free(u);
        return code;
    }
    *out = u;
    return DD_OK;
}

/* A wrapped store's upload: ours holds its handle and counts its bytes. */
static dd_code wrapped_begin(dd_artifacts *a, const dd_upload_target *t, dd_upload **out,
                             dd_err *err)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return dd_fail(err, DD_IO, "out of memory");
    (*out)->a = a;
    dd_code code = a->ops->upload_begin(a->impl, t, &(*out)->impl, err);
    if (code != DD_OK) {
        free(*out);
        *out = NULL;
    }
    return code;
}

dd_code dd_upload_begin(dd_artifacts *a, dd_upload **out, dd_err *err)
{
    if (a->ops)
        return wrapped_begin(a, NULL, out, err);
    dd_code code = art_upload_begin_in(a, a->default_backend, out, err);
    if (code == DD_OK && a->auto_root)
        (*out)->move_past = a->inline_max;
    return code;
}

dd_code dd_upload_begin_for(dd_artifacts *a, const dd_upload_target *t, dd_upload **out,
                            dd_err *err)
{
    return a->ops ? wrapped_begin(a, t, out, err) : dd_upload_begin(a, out, err);
}

/* Copy the bytes an inline upload staged so far (its flushed chunks, then the pending
 * tail) into a file upload. */
static dd_code copy_staged(dd_upload *u, art_fs_up *to, dd_err *err)
{
    int64_t flushed = u->in.next_seq * (int64_t)ART_CHUNK;
    unsigned char *buf = flushed ? malloc(ART_CHUNK) : NULL;
    dd_code code = flushed && !buf ? dd_fail(err, DD_IO, "out of memory") : DD_OK;
    dd_conn *c = NULL;
    if (code == DD_OK && flushed)
        code = db_conn(u->a->st, &c, err);
    for (int64_t off = 0; code == DD_OK && off < flushed; off += (int64_t)ART_CHUNK) {
        size_t got = 0;
        code = art_inline_pread(c, u->in.set_id, flushed, off, buf, ART_CHUNK, &got, err);
        if (code == DD_OK)
            code = art_fs_write(to, buf, got, err);
    }
    free(buf);
    if (code == DD_OK && u->in.len)
        code = art_fs_write(to, u->in.buf, u->in.len, err);
    return code;
}

/* "auto": the upload grows past inline_max, so its bytes move to a file under the auto
 * root and the rest follows them there. On failure the upload stays inline (and the
 * caller marks it broken). */
static dd_code move_to_file(dd_upload *u, dd_err *err)
{
    art_fs_up file;
    dd_code code = auto_root_prepare(u->a, err);
    if (code == DD_OK)
        code = art_fs_begin(u->a->st, u->a->auto_root, &file, err);
    if (code != DD_OK)
        return code;
    code = copy_staged(u, &file, err);
    /* the bytes so far are in the digest already: the hasher takes the rest */
    if (code == DD_OK && !art_hasher_start(&u->hash, file.fd, u->md, u->size))
        code = dd_fail(err, DD_IO, "cannot start an upload's hasher thread");
    if (code != DD_OK) {
        art_fs_abandon(&file);
        return code;
    }
    art_inline_discard(u->a->st, &u->in);
    u->file = file;
    u->fs_dir = u->a->auto_root;
    u->kind = BK_FS;
    u->move_past = -1;
    return DD_OK;
}

dd_code dd_upload_write(dd_upload *u, const void *data, size_t len, dd_err *err)
{
    if (u->a->ops) {
        dd_code code = u->a->ops->upload_write(u->impl, data, len, err);
        if (code == DD_OK)
            u->size += (int64_t)len;
        return code;
    }
    if (u->state == UP_BROKEN)
        return dd_fail(err, DD_IO, "an earlier write of this upload failed");
    if (u->state != UP_OPEN)
        return dd_fail(err, DD_INVALID, "the upload is finished");
    if (len == 0)
        return DD_OK;
    if (!data)
        return dd_fail(err, DD_INVALID, "no bytes to write");
    dd_code code = DD_OK;
    if (u->move_past >= 0 && u->size + (int64_t)len > u->move_past)
        code = move_to_file(u, err);
    if (code == DD_OK)
        code = u->kind == BK_FS ? art_fs_write(&u->file, data, len, err)
                 : u->kind == BK_S3 ? art_s3_write(u->s3, data, len, err)
                                    : art_inline_write(u->a->st, &u->in, data, len, err);
    /* files and the s3 spool are hashed off the write path, by a thread (art_hasher.c) */
    if (code == DD_OK && u->kind == BK_INLINE && EVP_DigestUpdate(u->md, data, len) != 1)
        code = dd_fail(err, DD_IO, "sha256 failed");
    if (code == DD_OK && u->kind == BK_FS)
        art_hasher_wrote(&u->hash, u->file.written);
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

dd_code art_upload_stage(dd_upload *u, char hash[65], art_loc *dst, dd_err *err)
{
    memset(dst, 0, sizeof *dst);
    if (u->state != UP_OPEN && u->state != UP_BROKEN)
        return dd_fail(err, DD_INVALID, "the upload is finished");
    bool broken = u->state == UP_BROKEN;
    u->state = UP_FINISHED;
    if (broken)
        return dd_fail(err, DD_IO, "an earlier write of this upload failed");
    int e = u->kind == BK_FS ? art_hasher_finish(&u->hash) : 0;
    dd_code code = e ? dd_fail(err, DD_IO, "cannot read back the staged file %s: %s",
                               u->file.staging, strerror(e))
                     : u->kind == BK_S3 ? DD_OK : finish_digest(u, hash, err);
    if (code == DD_OK && u->kind == BK_FS) {
        code = art_fs_publish(u->fs_dir, &u->file, u->size, err);
        if (code == DD_OK && asprintf(&u->uri, "file://%s", u->file.final) < 0) {
            u->uri = NULL;
            code = dd_fail(err, DD_IO, "out of memory");
        }
    } else if (code == DD_OK && u->kind == BK_S3) {
        code = art_s3_publish(u->s3, u->size, hash, &u->uri, err);
    } else if (code == DD_OK) {
        code = art_inline_flush(u->a->st, &u->in, err);
    }
    if (code != DD_OK)
        return code;     /* dd_upload_free removes what was staged or published */
    snprintf(dst->backend, sizeof dst->backend, "%s",
             u->kind == BK_FS ? "filesystem" : u->kind == BK_S3 ? "s3" : "inline");
    dst->uri = strdup(u->uri ? u->uri : "");
    dst->chunk_set = u->kind == BK_INLINE && u->size ? u->in.set_id : 0;
    dst->size = u->size;
    if (!dst->uri)
        return dd_fail(err, DD_IO, "out of memory");
    u->state = UP_STAGED;
    return DD_OK;
}

dd_code art_upload_claim(dd_conn *c, dd_upload *u, dd_err *err)
{
    return u->kind == BK_INLINE ? art_inline_claim(c, &u->in, u->size, err) : DD_OK;
}

void art_upload_committed(dd_upload *u)
{
    if (u->kind == BK_FS)
        art_fs_done(&u->file);
    else if (u->kind == BK_S3)
        art_s3_done(u->s3);
    else
        art_inline_done(&u->in);
    u->s3 = NULL;
    u->state = UP_COMMITTED;
}

dd_code dd_upload_commit(dd_upload *u, int64_t experiment_id, const char *name, bool replace,
                         int64_t *id_out, dd_err *err)
{
    if (u->a->ops)
        return u->a->ops->upload_commit(u->impl, experiment_id, name, replace, id_out, err);
    if (u->state != UP_OPEN && u->state != UP_BROKEN)
        return dd_fail(err, DD_INVALID, "the upload is finished");
    dd_code code = dd_name_check(name, "resource name", err);
    if (code != DD_OK) {
        u->state = UP_FINISHED;
        return code;
    }
    char hash[65];
    art_loc dst;
    code = art_upload_stage(u, hash, &dst, err);
    if (code != DD_OK) {
        art_loc_clear(&dst);
        return code;     /* dd_upload_free removes what was staged or published */
    }
    int64_t id = 0;
    db_txn t;
    DB_TXN(t, u->a->st, DB_TXN_WRITE, err) {
        id = 0;
        t.code = art_upload_claim(t.c, u, err);
        if (t.code == DD_OK)
            t.code = db_resource_put_bytes(t.c, experiment_id, name, replace, dst.backend,
                                           dst.uri, u->size, hash, dst.chunk_set, &id, err);
    }
    code = t.code;
    art_loc_clear(&dst);
    if (code != DD_OK)
        return code;
    art_upload_committed(u);
    if (id_out)
        *id_out = id;
    return DD_OK;
}

void dd_upload_free(dd_upload *u)
{
    if (!u)
        return;
    if (u->a->ops) {
        u->a->ops->upload_free(u->impl);
        free(u);
        return;
    }
    art_hasher_stop(&u->hash);      /* before its file goes */
    if (u->state != UP_COMMITTED) {
        if (u->kind == BK_FS)
            art_fs_abandon(&u->file);
        else if (u->kind == BK_S3)
            art_s3_abandon(u->s3);
        else
            art_inline_abandon(u->a->st, &u->in);
    }
    EVP_MD_CTX_free(u->md);
    free(u->uri);
    free(u);
}

/* ---------------------------------------------------------------- readers */

enum { RD_EMPTY, RD_LEGACY, RD_CHUNKS, RD_FILE, RD_S3 };

struct dd_artifact_reader {
    dd_artifacts *a;
    int kind;
    int64_t id;             /* the resource (RD_LEGACY reads it by id) */
    int64_t size;
    int64_t set_id;         /* RD_CHUNKS: held against gc until closed */
    int fd;                 /* RD_FILE */
    art_s3_rd *s3;          /* RD_S3 */
    art_loc loc;            /* what is pinned */
    void *impl;             /* a wrapped store's reader */
};

/* Open the bytes at `w` (one attempt). *again when they went away in the meantime (a
 * replace or delete committed between reading the row and pinning): read the row again. */
static dd_code pin_loc(dd_artifacts *a, dd_artifact_reader *r, const art_loc *w, bool by_row,
                       bool *again, dd_err *err)
{
    *again = false;
    r->size = w->size;
    dd_code code = DD_OK;
    if (strcmp(w->backend, "inline") == 0 && w->chunk_set) {
        if (!art_inline_hold(w->chunk_set))
            return dd_fail(err, DD_IO, "out of memory");
        if (by_row) {
            dd_conn *c;
            db_resource_bytes now;
            code = db_conn(a->st, &c, err);
            if (code == DD_OK)
                code = db_resource_locate(c, r->id, &now, err);
            if (code == DD_OK) {
                *again = now.chunk_set != w->chunk_set;
                free(now.uri);
            }
        }
        if (code == DD_OK && !*again) {
            r->kind = RD_CHUNKS;
            r->set_id = w->chunk_set;
        } else {
            art_inline_release(w->chunk_set);
        }
    } else if (strcmp(w->backend, "inline") == 0) {
        r->kind = w->legacy ? RD_LEGACY : RD_EMPTY;
        if (!w->legacy && w->size != 0)
            code = dd_fail(err, DD_IO, "resource %lld has no bytes stored", (long long)r->id);
    } else if (strcmp(w->backend, "filesystem") == 0) {
        code = art_fs_open(w->uri, w->size, &r->fd, err);
        if (code == DD_OK)
            r->kind = RD_FILE;
        *again = by_row && code == DD_NOT_FOUND;   /* removed by gc after a replace? */
    } else if (strcmp(w->backend, "s3") == 0) {
        code = art_s3_open(a->s3, w->uri, w->size, &r->s3, err);
        if (code == DD_OK)
            r->kind = RD_S3;
        *again = by_row && code == DD_NOT_FOUND;
    } else {
        code = dd_fail(err, DD_IO, "resource %lld is stored in \"%s\", which this build"
                       " cannot read", (long long)r->id, w->backend);
    }
    if (code == DD_OK && !*again) {     /* a retry pins again: record only what is held */
        r->loc = *w;
        r->loc.uri = strdup(w->uri);
        if (!r->loc.uri)
            code = dd_fail(err, DD_IO, "out of memory");
    }
    return code;
}

static bool root_unreached(const dd_artifacts *a, const char *uri, char *root, size_t len,
                           char *why, size_t why_len);

/* What a pin's last attempt comes to (`again`: the bytes went away at every attempt):
 * missing bytes are DD_IO, and a file under a root this node does not reach (a shared root
 * not mounted here) says that root and why, for the caller's log line (256 bytes: the
 * root, not the file). */
static dd_code pinned(const dd_artifacts *a, const dd_artifact_reader *r, const art_loc *l,
                      bool again, dd_code code, dd_err *err)
{
    char root[PATH_MAX], why[200];
    if (again && code != DD_NOT_FOUND)
        return dd_fail(err, DD_BUSY, "the bytes of resource %lld keep changing",
                       (long long)r->id);
    if (code != DD_OK && strcmp(l->backend, "filesystem") == 0 &&
        root_unreached(a, l->uri, root, sizeof root, why, sizeof why))
        return dd_fail(err, again ? DD_IO : code, "resource %lld is a file under the artifact"
                       " root %s, which this node does not reach (%s)", (long long)r->id, root,
                       why);
    if (again) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
        return dd_fail(err, DD_IO, "the bytes of resource %lld are missing: %s",
                       (long long)r->id, msg);
    }
    return code;
}

/* Pin the bytes the row names, following a replace or delete that commits meanwhile. */
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
        if (w.broken && !allow_broken) {
            free(w.uri);
            return dd_fail(err, DD_IO, "resource %lld is marked broken: deardiary fsck found"
                           " its bytes missing or damaged", (long long)r->id);
        }
        art_loc l = {.uri = w.uri, .chunk_set = w.chunk_set, .legacy = w.legacy_data,
                     .size = w.size};
        snprintf(l.backend, sizeof l.backend, "%s", w.backend);
        bool again = false;
        code = pin_loc(a, r, &l, true, &again, err);
        if (!again || attempt >= 3) {
            code = pinned(a, r, &l, again, code, err);
            free(w.uri);
            return code;
        }
        free(w.uri);
        code = DD_OK;
    }
    return code;
}
static dd_artifact_reader *reader_new(dd_artifacts *a, int64_t id)
{
    dd_artifact_reader *r = calloc(1, sizeof *r);
    if (r) {
        r->a = a;
        r->id = id;
        r->fd = -1;
    }
    return r;
}

static dd_code reader_open(dd_artifacts *a, int64_t resource_id, bool allow_broken,
                           dd_artifact_reader **out, dd_err *err)
{
    *out = NULL;
    dd_artifact_reader *r = reader_new(a, resource_id);
    if (!r)
        return dd_fail(err, DD_IO, "out of memory");
    dd_code code = reader_pin(a, r, allow_broken, err);
    if (code != DD_OK) {
        dd_artifact_close(r);
        return code;
    }
    *out = r;
    return DD_OK;
}

/* A wrapped store's reader: ours holds its handle and its size. */
static dd_code wrapped_open(dd_artifacts *a, int64_t resource_id, bool version,
                            dd_artifact_reader **out, dd_err *err)
{
    *out = NULL;
    dd_artifact_reader *r = reader_new(a, resource_id);
    if (!r)
        return dd_fail(err, DD_IO, "out of memory");
    dd_code code = a->ops->open(a->impl, resource_id, version, &r->impl, &r->size, err);
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
    if (a->ops)
        return wrapped_open(a, resource_id, false, out, err);
    return reader_open(a, resource_id, false, out, err);
}

dd_code dd_artifact_open_version(dd_artifacts *a, int64_t resource_id,
                                 dd_artifact_reader **out, dd_err *err)
{
    if (a->ops)
        return wrapped_open(a, resource_id, true, out, err);
    return reader_open(a, resource_id, false, out, err);
}

dd_code dd_artifact_open_any(dd_artifacts *a, int64_t resource_id, dd_artifact_reader **out,
                             dd_err *err)
{
    if (a->ops)
        return not_offered(a, "dd_artifact_open_any", err);
    return reader_open(a, resource_id, true, out, err);
}

dd_store *dd_artifacts_store(const dd_artifacts *a) { return a->st; }

bool dd_artifacts_wrapped(const dd_artifacts *a) { return a->ops != NULL; }

const char *dd_artifacts_fs_root(const dd_artifacts *a) { return a->fs_root; }

const char *dd_artifacts_auto_root(const dd_artifacts *a) { return a->auto_root; }

const char *dd_artifacts_recorded(const dd_artifacts *a, const char **why_unused)
{
    if (why_unused)
        *why_unused = a->recorded_why;
    return a->recorded;
}

bool dd_artifacts_root_reachable(const dd_artifacts *a, const char *root, char *why,
                                 size_t why_len)
{
    struct stat sb;
    why[0] = 0;
    if (a->recorded && strcmp(root, a->recorded) == 0 && a->recorded_why[0])
        snprintf(why, why_len, "%s", a->recorded_why);
    else if (stat(root, &sb) != 0)
        snprintf(why, why_len, "%s", strerror(errno));
    else if (!S_ISDIR(sb.st_mode))
        snprintf(why, why_len, "not a directory");
    return why[0] == 0;
}

/* A file row's root (its uri's), when this node does not reach it: why. */
static bool root_unreached(const dd_artifacts *a, const char *uri, char *root, size_t len,
                           char *why, size_t why_len)
{
    return art_fs_root_of(uri, root, len) && !dd_artifacts_root_reachable(a, root, why, why_len);
}

dd_code art_reader_open_at(dd_artifacts *a, const art_loc *loc, dd_artifact_reader **out,
                           dd_err *err)
{
    *out = NULL;
    if (loc->legacy)
        return dd_fail(err, DD_INVALID, "legacy bytes are read through their row");
    dd_artifact_reader *r = reader_new(a, 0);
    if (!r)
        return dd_fail(err, DD_IO, "out of memory");
    bool again;
    dd_code code = pin_loc(a, r, loc, false, &again, err);
    if (code != DD_OK) {
        dd_artifact_close(r);
        return code;
    }
    *out = r;
    return DD_OK;
}

const art_loc *art_reader_loc(const dd_artifact_reader *r) { return &r->loc; }

dd_code dd_artifact_pread(dd_artifact_reader *r, int64_t off, void *buf, size_t len,
                          size_t *got, dd_err *err)
{
    *got = 0;
    if (off < 0)
        return dd_fail(err, DD_INVALID, "negative offset");
    if (off >= r->size || len == 0)
        return DD_OK;
    if (r->a->ops)
        return r->a->ops->pread(r->impl, off, buf, len, got, err);
    if (r->kind == RD_FILE)
        return art_fs_pread(r->fd, r->size, off, buf, len, got, err);
    if (r->kind == RD_S3)
        return art_s3_pread(r->s3, off, buf, len, got, err);
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

dd_code dd_artifact_pread_with(dd_artifact_reader *r, int64_t off, size_t len,
                               dd_artifact_take take, void *ctx, dd_err *err)
{
    if (off < 0)
        return dd_fail(err, DD_INVALID, "negative offset");
    /* a local reader's bytes are in a file, SQLite or s3: pread copies them once anyway */
    if (!r->a->ops || !r->a->ops->pread_with)
        return DD_UNSUPPORTED;
    return r->a->ops->pread_with(r->impl, off, len, take, ctx, err);
}

int64_t dd_artifact_size(const dd_artifact_reader *r) { return r->size; }

void art_reader_close_keep(dd_artifact_reader *r)
{
    if (!r)
        return;
    if (r->kind == RD_CHUNKS)
        art_inline_release(r->set_id);
    if (r->fd >= 0)
        close(r->fd);
    art_s3_close(r->s3);
    free(r->loc.uri);
    free(r);
}

static void free_trash_logged(dd_artifacts *a, int64_t lo, int64_t hi, int64_t set_id);

/* The last reader of a deleted resource's inline chunks frees them: delete and replace
 * leave a chunk set a reader of this process holds in the trash (see free_trash_range).
 * A file needs nothing: it was unlinked at the delete, and closing its fd frees it. */
void dd_artifact_close(dd_artifact_reader *r)
{
    if (!r)
        return;
    if (r->a->ops) {
        r->a->ops->close_reader(r->impl);
        free(r);
        return;
    }
    dd_artifacts *a = r->a;
    int64_t set_id = r->kind == RD_CHUNKS ? r->set_id : 0;
    art_reader_close_keep(r);
    if (set_id)
        free_trash_logged(a, 0, INT64_MAX, set_id);
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

static int collect_trash(db_stmt *s, void *arg)
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
    it->id = db_col_int64(s, 0);
    snprintf(it->backend, sizeof it->backend, "%s", db_col_text(s, 1));
    it->uri = db_col_dup(s, 2);
    it->set_id = db_col_int64(s, 3);
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
    char root[PATH_MAX], why[600];
    if (strcmp(it->backend, "filesystem") == 0 &&
        root_unreached(a, it->uri, root, sizeof root, why, sizeof why))
        return DD_OK;   /* a root this node does not see: left queued for a node that does */
    if (strcmp(it->backend, "filesystem") == 0) {
        bool removed;   /* false for a uri this backend never made: forget it, touch nothing */
        code = art_fs_remove_uri(it->uri, &removed, err);
    } else if (strcmp(it->backend, "s3") == 0) {
        bool ours;      /* another bucket, or no s3 configured: leave it queued */
        code = art_s3_remove_uri(a->s3, it->uri, &ours, err);
        if (code == DD_OK && !ours)
            return DD_OK;
    } else if (strcmp(it->backend, "inline") != 0) {
        return DD_OK;   /* a backend this build does not know: left queued */
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

/* The artifact_trash rows with ids lo..hi, in id order; with set_id, only those of that
 * inline chunk set. */
static dd_code list_trash(dd_artifacts *a, int64_t lo, int64_t hi, int64_t set_id,
                          trash_vec *out, dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    dd_code code = db_conn(a->st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT id, backend, uri, chunk_set FROM artifact_trash"
                       " WHERE id BETWEEN ?1 AND ?2 AND (?3 = 0 OR chunk_set = ?3)"
                       " ORDER BY id", "iii", lo, hi, set_id);
    if (code == DD_OK)
        code = db_each(c, s, "listing the artifact trash", collect_trash, out, err);
    if (code == DD_OK && out->oom)
        code = dd_fail(err, DD_IO, "out of memory");
    return code;
}

dd_code dd_artifacts_gc(dd_artifacts *a, int64_t *removed_out, dd_err *err)
{
    if (a->ops)
        return not_offered(a, "dd_artifacts_gc", err);
    int64_t removed = 0;
    trash_vec trash = {0};
    dd_code code = list_trash(a, 0, INT64_MAX, 0, &trash, err);
    /* Keep going past a failed item or phase; report the first failure. */
    dd_code first = code;
    dd_err item_err = {0};
    bool s3_down = false;   /* after one failed s3 item, leave the rest for a later run */
    for (size_t i = 0; i < trash.n; i++) {
        bool done;
        bool s3 = strcmp(trash.v[i].backend, "s3") == 0;
        if (s3 && s3_down)
            continue;
        dd_code ic = gc_trash_item(a, &trash.v[i], &done, &item_err);
        keep_first(&first, ic, &item_err, err);
        s3_down = s3_down || (s3 && ic != DD_OK);
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
    if (a->auto_root && (!a->fs_root || strcmp(a->auto_root, a->fs_root) != 0))
        keep_first(&first, art_fs_gc_staging(a->st, a->auto_root, &removed, &item_err),
                   &item_err, err);
    if (removed_out)
        *removed_out = removed;
    return first;
}

/* Remove the bytes of the listed trash rows (s3 objects too, unless skip_s3), stopping
 * at the first failure. */
static dd_code remove_trash(dd_artifacts *a, int64_t lo, int64_t hi, int64_t set_id,
                           bool skip_s3, dd_err *err)
{
    trash_vec trash = {0};
    dd_code code = list_trash(a, lo, hi, set_id, &trash, err);
    for (size_t i = 0; i < trash.n; i++) {
        bool done;
        if (code == DD_OK && !(skip_s3 && strcmp(trash.v[i].backend, "s3") == 0))
            code = gc_trash_item(a, &trash.v[i], &done, err);
        free(trash.v[i].uri);
    }
    free(trash.v);
    return code;
}

dd_code art_trash_remove(dd_artifacts *a, int64_t trash_id, dd_err *err)
{
    return remove_trash(a, trash_id, trash_id, 0, false, err);
}

/* The store's trash hook (db.h): a delete or replace committed, so its bytes go now: a
 * file is unlinked (a reader's open fd keeps reading it, and the kernel frees it when the
 * last one closes); an inline chunk set no reader of this process holds is deleted, and
 * one a reader holds waits for that reader's close (dd_artifact_close). An s3 object
 * stays queued for gc at the next start: a reader here may be streaming it, and deleting
 * it frees no space on this machine. A failure leaves the row queued for gc. */
static void free_trash_logged(dd_artifacts *a, int64_t lo, int64_t hi, int64_t set_id)
{
    dd_err err = {0};
    if (remove_trash(a, lo, hi, set_id, true, &err) != DD_OK)
        syslog(LOG_WARNING, "freeing deleted artifact bytes (left for the next start): %s",
               err.msg);
}

static void free_trash_range(void *ctx, int64_t lo, int64_t hi)
{
    free_trash_logged(ctx, lo, hi, 0);
}
