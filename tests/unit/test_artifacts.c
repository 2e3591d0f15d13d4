/*
 * test_artifacts.c - the artifact stores (artifacts.h) on both backends, inline (chunks in
 * SQLite) and filesystem: streamed uploads in odd-sized writes, sha256 and size against an
 * independent digest, reads at odd offsets across chunk boundaries, nothing visible before
 * the commit, aborts and failed commits that leave nothing after gc, replace (atomic for
 * open readers, refused for registered artifacts), deletes and cascades that queue bytes
 * for gc, mixed backends across reopenings, legacy inline rows, crashed uploads of another
 * process (a real SIGKILL) and hand-made leftovers cleaned by gc while live uploads of
 * other processes survive it, bounded memory on a 64 MiB upload, and metric appends that
 * keep going during a long upload. DD_TEST_BIG=1 adds a 1.1 GiB inline upload.
 * "auto" (the command's default): inline up to inline_max, moved to a file in
 * <db>.artifacts (0700) past it, at the exact boundary, from the pending tail and from
 * flushed chunks alike; replace across the threshold both ways, delete, abort, and a
 * crashed moved upload cleaned by gc.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <sys/file.h>
#include <sys/wait.h>

#include "artifacts.h"
#include "check.h"
#include "engine_fixture.h"
#include "check_sql.h"
#include "store.h"

#define MIB ((size_t)1 << 20)
#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static char g_tmp[1024];

/* ---------------------------------------------------------------- helpers */

/* Deterministic bytes: a function of (seed, absolute offset), so any slice can be made
 * again without keeping the whole. */
static unsigned char byte_at(uint64_t seed, uint64_t off)
{
    uint64_t x = (off >> 3) * 0x9E3779B97F4A7C15ull ^ seed;
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    return (unsigned char)(x >> (8 * (off & 7)));
}

static void fill(unsigned char *p, size_t n, uint64_t seed, uint64_t off)
{
    for (size_t i = 0; i < n; i++)
        p[i] = byte_at(seed, off + i);
}

static unsigned char *make_bytes(size_t n, uint64_t seed)
{
    unsigned char *p = malloc(n ? n : 1);
    fill(p, n, seed, 0);
    return p;
}

static void hex32(const unsigned char *md, char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void sha_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    hex32(md, out);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb, (void)flag, (void)f;
    remove(path);
    return 0;
}

static void rm_rf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int g_files, g_staged;

static int count_one(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
    (void)f;
    if (flag == FTW_F && S_ISREG(sb->st_mode)) {
        if (strstr(path, "/.staging/"))
            g_staged++;
        else
            g_files++;
    }
    return 0;
}

/* Regular files under root: committed-or-leftover ones, and staged ones. */
static void count_files(const char *root, int *files, int *staged)
{
    g_files = g_staged = 0;
    nftw(root, count_one, 16, FTW_PHYS);
    *files = g_files;
    *staged = g_staged;
}

static bool file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Upload `len` bytes in `step`-byte writes and commit them as `name`. */
static dd_code upload(dd_artifacts *a, const unsigned char *data, size_t len, size_t step,
                      int64_t exp, const char *name, bool replace, int64_t *id, dd_err *err)
{
    dd_upload *u = NULL;
    dd_code code = dd_upload_begin(a, &u, err);
    for (size_t off = 0; code == DD_OK && off < len; off += step)
        code = dd_upload_write(u, data + off, len - off < step ? len - off : step, err);
    if (code == DD_OK)
        code = dd_upload_commit(u, exp, name, replace, id, err);
    dd_upload_free(u);
    return code;
}

/* Read the whole resource back in `step`-byte preads and compare. */
static bool reads_back(dd_artifacts *a, int64_t id, const unsigned char *data, size_t len,
                       size_t step)
{
    dd_artifact_reader *r = NULL;
    dd_err err = {0};
    if (dd_artifact_open(a, id, &r, &err) != DD_OK) {
        fprintf(stderr, "reads_back: open %lld: %s\n", (long long)id, err.msg);
        return false;
    }
    bool ok = dd_artifact_size(r) == (int64_t)len;
    unsigned char *buf = malloc(step);
    size_t off = 0;
    while (ok && off < len) {
        size_t got = 0;
        if (dd_artifact_pread(r, (int64_t)off, buf, step, &got, &err) != DD_OK || got == 0 ||
            got > step || memcmp(buf, data + off, got) != 0) {
            fprintf(stderr, "reads_back: at %zu: %s\n", off, err.msg);
            ok = false;
        }
        off += got;
    }
    size_t got = 1;
    ok = ok && dd_artifact_pread(r, (int64_t)len, buf, step, &got, NULL) == DD_OK && got == 0;
    free(buf);
    dd_artifact_close(r);
    return ok;
}

/* Start time of this process (field 22 of /proc/self/stat), as the store records it. */
static int64_t start_of(pid_t pid)
{
    char buf[2048], path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    p += 2;
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    return p ? strtoll(p, NULL, 10) : -1;
}

static int64_t self_start(void) { return start_of(getpid()); }

typedef struct trash_rows {
    int count, inline_sets, files;
    char last_uri[512];
} trash_rows;

static int collect_trash(void *ctx, int64_t id, const char *backend, const char *uri)
{
    (void)id;
    trash_rows *t = ctx;
    t->count++;
    if (strcmp(backend, "inline") == 0 && strncmp(uri, "chunks:", 7) == 0)
        t->inline_sets++;
    if (strcmp(backend, "filesystem") == 0)
        t->files++;
    snprintf(t->last_uri, sizeof t->last_uri, "%s", uri);
    return 0;
}

static trash_rows trash(dd_store *st)
{
    trash_rows t = {0};
    dd_trash_list(st, collect_trash, &t, NULL);
    return t;
}

/* One backend under test: the store, its artifact stores, and a place to put things. */
typedef struct env {
    const char *label;      /* "inline" or "filesystem" */
    char db[1100];
    char root[1100];
    dd_store *st;
    dd_artifacts *a;
    bool fs;
    int64_t proj, exp;
} env;

/* Chunks that no resource owns, and inline uploads still registered. */
static int64_t stray_chunks(const env *e)
{
    return raw_int(e->db, "SELECT COUNT(*) FROM artifact_chunk WHERE set_id NOT IN"
                          " (SELECT chunk_set FROM resource WHERE chunk_set IS NOT NULL)");
}

static int64_t uploads_open(const env *e)
{
    return raw_int(e->db, "SELECT COUNT(*) FROM artifact_upload");
}

/* Files under the root that no row uses, plus staged files. */
static int stray_files(const env *e)
{
    int files = 0, staged = 0;
    count_files(e->root, &files, &staged);
    int64_t rows = raw_int(e->db, "SELECT COUNT(*) FROM resource WHERE backend = 'filesystem'");
    return files - (int)rows + staged;
}

static int64_t run_gc(const env *e)
{
    dd_err err = {0};
    int64_t n = -1;
    dd_code code = dd_artifacts_gc(e->a, &n, &err);
    if (code != DD_OK)
        fprintf(stderr, "gc: %s: %s\n", dd_code_name(code), err.msg);
    return code == DD_OK ? n : -1;
}

/* ---------------------------------------------------------------- configuration */

static void test_config(dd_store *st)
{
    dd_err err_buf = {0}, *err = &err_buf;
    dd_artifacts *a = NULL;
    char root[1100], file[1200];
    snprintf(root, sizeof root, "%s/artifacts-config/a/b/c", g_tmp);
    rm_rf(root);

    dd_artifacts_config cfg = {.backend = "nope"};
    CHECK_CODE(dd_artifacts_open(st, &cfg, &a, err), DD_INVALID, err);
    CHECK(a == NULL);
    cfg = (dd_artifacts_config){.backend = "filesystem"};
    CHECK_CODE(dd_artifacts_open(st, &cfg, &a, err), DD_INVALID, err);
    cfg = (dd_artifacts_config){.backend = "s3"};
    CHECK_CODE(dd_artifacts_open(st, &cfg, &a, err), DD_INVALID, err);
    /* s3: endpoint and bucket required, an http(s) endpoint, parts of at least 5 MiB;
     * opening contacts nothing (no server listens at this endpoint) */
    cfg = (dd_artifacts_config){.backend = "s3", .s3_endpoint = "http://127.0.0.1:9"};
    CHECK_CODE(dd_artifacts_open(st, &cfg, &a, err), DD_INVALID, err);
    CHECK(strstr(err->msg, "bucket") != NULL);
    cfg = (dd_artifacts_config){.backend = "s3", .s3_endpoint = "ftp://x", .s3_bucket = "b"};
    CHECK_CODE(dd_artifacts_open(st, &cfg, &a, err), DD_INVALID, err);
    cfg = (dd_artifacts_config){.backend = "s3", .s3_endpoint = "http://127.0.0.1:9",
                                .s3_bucket = "b", .s3_part_size = 1 << 20};
    CHECK_CODE(dd_artifacts_open(st, &cfg, &a, err), DD_INVALID, err);
    cfg = (dd_artifacts_config){.backend = "s3", .s3_endpoint = "http://127.0.0.1:9/",
                                .s3_bucket = "b"};
    CHECK_CODE(dd_artifacts_open(st, &cfg, &a, err), DD_OK, err);
    dd_artifacts_close(a);
    a = NULL;

    /* A missing root is created, with its staging area. */
    cfg = (dd_artifacts_config){.backend = "filesystem", .fs_root = root};
    CHECK_CODE(dd_artifacts_open(st, &cfg, &a, err), DD_OK, err);
    char staging[1300];
    snprintf(staging, sizeof staging, "%s/.staging", root);
    CHECK(file_exists(staging));
    dd_artifacts_close(a);

    /* A root that is a file is unusable. */
    snprintf(file, sizeof file, "%s/plain-file", root);
    FILE *f = fopen(file, "w");
    if (f)
        fclose(f);
    cfg = (dd_artifacts_config){.backend = "filesystem", .fs_root = file};
    a = NULL;
    CHECK_CODE(dd_artifacts_open(st, &cfg, &a, err), DD_INVALID, err);
    CHECK(a == NULL);

    /* The default is inline, with or without a config. */
    CHECK_CODE(dd_artifacts_open(st, NULL, &a, err), DD_OK, err);
    dd_artifacts_close(a);
    dd_artifacts_close(NULL);
}

/* ---------------------------------------------------------------- round trip */

static void test_roundtrip(env *e)
{
    dd_err err_buf = {0}, *err = &err_buf;
    size_t len = 3 * MIB + 17, step = 65537;
    unsigned char *data = make_bytes(len, 1);
    char want[65];
    sha_hex(data, len, want);

    /* Stream it; nothing is visible before the commit. */
    dd_upload *u = NULL;
    CHECK_CODE(dd_upload_begin(e->a, &u, err), DD_OK, err);
    bool wrote = true;
    for (size_t off = 0; u && off < len; off += step)
        wrote = wrote && dd_upload_write(u, data + off, len - off < step ? len - off : step,
                                         err) == DD_OK;
    CHECK(wrote);
    CHECK(u && dd_upload_size(u) == (int64_t)len);
    int64_t id = 0, x = 0;
    CHECK_CODE(dd_resource_find(e->st, e->exp, "weights.bin", &x, err), DD_NOT_FOUND, err);
    /* staged: three full chunks (inline) or one file, none of them a resource's */
    CHECK(stray_chunks(e) == (e->fs ? 0 : 3));
    CHECK(stray_files(e) == (e->fs ? 1 : 0));
    CHECK_CODE(dd_upload_commit(u, e->exp, "weights.bin", false, &id, err), DD_OK, err);
    /* finished: no more writes, no second commit */
    CHECK_CODE(dd_upload_write(u, "x", 1, err), DD_INVALID, err);
    CHECK_CODE(dd_upload_commit(u, e->exp, "other", false, &x, err), DD_INVALID, err);
    dd_upload_free(u);
    CHECK(id > 0);
    CHECK_CODE(dd_resource_find(e->st, e->exp, "weights.bin", &x, err), DD_OK, err);
    CHECK(x == id);

    dd_resource r = {0};
    CHECK_CODE(dd_resource_get(e->st, id, &r, err), DD_OK, err);
    CHECK(r.size_bytes == (int64_t)len);
    CHECK_STR(r.content_hash, want);
    CHECK_STR(r.backend, e->label);
    if (e->fs) {
        /* file://<root>/<aa>/<uuid>, the file holds the bytes */
        char prefix[1200];
        snprintf(prefix, sizeof prefix, "file://%s/", e->root);
        CHECK(strncmp(r.uri, prefix, strlen(prefix)) == 0);
        const char *rest = r.uri + strlen(prefix);
        CHECK(strlen(rest) == 2 + 1 + 36 && rest[2] == '/' && strncmp(rest, rest + 3, 2) == 0);
        CHECK(rest[3 + 14] == '4');   /* uuid v4 */
        struct stat sb;
        CHECK(stat(r.uri + 7, &sb) == 0 && sb.st_size == (off_t)len);
    } else {
        CHECK_STR(r.uri, "");
        CHECK(raw_int(e->db, "SELECT COUNT(*) FROM artifact_chunk k JOIN resource r"
                             " ON r.chunk_set = k.set_id WHERE r.name = 'weights.bin'") == 4);
        CHECK(raw_int(e->db, "SELECT MAX(length(data)) FROM artifact_chunk") == (int64_t)MIB);
    }
    dd_resource_clear(&r);
    CHECK(uploads_open(e) == 0);

    /* Whole, in odd-sized reads. */
    CHECK(reads_back(e->a, id, data, len, 65537));
    CHECK(reads_back(e->a, id, data, len, 3 * MIB + 1000));

    /* Odd offsets and sizes across chunk boundaries, and past the end. */
    struct { size_t off, len, want; } cases[] = {
        {0, 1, 1},
        {1, MIB - 1, MIB - 1},
        {MIB - 5, 10, 10},
        {MIB, MIB, MIB},
        {2 * MIB - 1, MIB + 2, MIB + 2},
        {MIB - 3, 2 * MIB + 7, 2 * MIB + 7},
        {3 * MIB, 17, 17},
        {3 * MIB + 16, 100, 1},
        {len - 3, 100, 3},
        {0, len + 100, len},
        {len, 10, 0},
        {len + 12345, 10, 0},
        {12345, 0, 0},
    };
    dd_artifact_reader *rd = NULL;
    CHECK_CODE(dd_artifact_open(e->a, id, &rd, err), DD_OK, err);
    unsigned char *buf = malloc(len + 100);
    for (size_t i = 0; rd && i < sizeof cases / sizeof cases[0]; i++) {
        size_t got = 99;
        dd_code code = dd_artifact_pread(rd, (int64_t)cases[i].off, buf, cases[i].len, &got, err);
        if (code != DD_OK || got != cases[i].want ||
            (got && memcmp(buf, data + cases[i].off, got) != 0))
            fprintf(stderr, "%s pread case %zu: %s got %zu\n", e->label, i, dd_code_name(code),
                    got);
        CHECK(code == DD_OK && got == cases[i].want &&
              (got == 0 || memcmp(buf, data + cases[i].off, got) == 0));
    }
    size_t got = 0;
    CHECK_CODE(dd_artifact_pread(rd, -1, buf, 10, &got, err), DD_INVALID, err);
    dd_artifact_close(rd);

    /* The store's own inline reader reads chunked rows too; external rows are refused. */
    got = 0;
    dd_code code = dd_resource_read_inline(e->st, id, (int64_t)(MIB - 2), buf, 5, &got, err);
    if (e->fs) {
        CHECK(code == DD_INVALID);
    } else {
        CHECK(code == DD_OK && got == 5 && memcmp(buf, data + MIB - 2, 5) == 0);
    }
    free(buf);

    /* An empty upload: size 0, the sha256 of nothing, reads give 0. */
    int64_t empty = 0;
    CHECK_CODE(upload(e->a, NULL, 0, 1, e->exp, "empty.bin", false, &empty, err), DD_OK, err);
    CHECK_CODE(dd_resource_get(e->st, empty, &r, err), DD_OK, err);
    CHECK(r.size_bytes == 0);
    CHECK_STR(r.content_hash, SHA_EMPTY);
    dd_resource_clear(&r);
    CHECK(reads_back(e->a, empty, NULL, 0, 10));

    /* A one-byte upload and an exact one-chunk upload. */
    int64_t one = 0, exact = 0;
    CHECK_CODE(upload(e->a, data, 1, 1, e->exp, "one.bin", false, &one, err), DD_OK, err);
    CHECK(reads_back(e->a, one, data, 1, 7));
    CHECK_CODE(upload(e->a, data, MIB, MIB, e->exp, "exact.bin", false, &exact, err), DD_OK, err);
    CHECK(reads_back(e->a, exact, data, MIB, 100000));
    CHECK(run_gc(e) == 0);
    CHECK(stray_chunks(e) == 0 && stray_files(e) == 0);
    free(data);
}

/* ---------------------------------------------------------------- aborts and refusals */

static void test_abort(env *e)
{
    dd_err err_buf = {0}, *err = &err_buf;
    size_t len = 2 * MIB + MIB / 2;
    unsigned char *data = make_bytes(len, 2);
    int64_t id = 0, x = 0, stopped = 0;
    CHECK(run_gc(e) >= 0);
    int64_t trash_before = trash(e->st).count;

    /* Written, then freed without a commit. */
    dd_upload *u = NULL;
    CHECK_CODE(dd_upload_begin(e->a, &u, err), DD_OK, err);
    CHECK_CODE(dd_upload_write(u, data, len, err), DD_OK, err);
    CHECK(uploads_open(e) == (e->fs ? 0 : 1));
    dd_upload_free(u);
    CHECK_CODE(dd_resource_find(e->st, e->exp, "aborted.bin", &x, err), DD_NOT_FOUND, err);
    CHECK(uploads_open(e) == 0);
    CHECK(stray_files(e) == 0);       /* the filesystem removes staged bytes at once */
    CHECK(run_gc(e) == (e->fs ? 0 : 1));
    CHECK(stray_chunks(e) == 0 && stray_files(e) == 0);
    CHECK(trash(e->st).count == trash_before);

    /* Commits that fail leave nothing either. */
    CHECK_CODE(upload(e->a, data, 1000, 999, e->exp, "taken.bin", false, &id, err), DD_OK, err);
    CHECK_CODE(upload(e->a, data, len, 65536, e->exp, "taken.bin", false, &x, err), DD_CONFLICT,
               err);
    CHECK_CODE(upload(e->a, data, len, 65536, e->exp, "a/b", false, &x, err), DD_INVALID, err);
    CHECK_CODE(upload(e->a, data, len, 65536, e->exp, "", false, &x, err), DD_INVALID, err);
    CHECK_CODE(upload(e->a, data, len, 65536, 999999, "x.bin", false, &x, err), DD_NOT_FOUND,
               err);
    char stop_name[64];
    snprintf(stop_name, sizeof stop_name, "stopped-%s", e->label);
    CHECK_CODE(dd_experiment_create(e->st, e->proj, stop_name, &stopped, err), DD_OK, err);
    CHECK_CODE(upload(e->a, data, 10, 10, stopped, "before.bin", false, &x, err), DD_OK, err);
    CHECK_CODE(dd_experiment_set_status(e->st, stopped, DD_EXP_STOPPED, err), DD_OK, err);
    CHECK_CODE(upload(e->a, data, len, 65536, stopped, "late.bin", false, &x, err), DD_INVALID,
               err);
    /* replacing bytes in a stopped experiment is refused too */
    CHECK_CODE(upload(e->a, data, 20, 10, stopped, "before.bin", true, &x, err), DD_INVALID, err);
    CHECK(reads_back(e->a, x, data, 10, 3));
    CHECK(reads_back(e->a, id, data, 1000, 333));   /* the refused duplicate changed nothing */
    CHECK(uploads_open(e) == 0);
    CHECK(run_gc(e) >= 0);
    CHECK(stray_chunks(e) == 0 && stray_files(e) == 0);
    CHECK(trash(e->st).count == trash_before);
    free(data);
}

/* ---------------------------------------------------------------- replace */

static void test_replace(env *e)
{
    dd_err err_buf = {0}, *err = &err_buf;
    size_t len1 = MIB + MIB / 2, len2 = 2 * MIB + 3;
    unsigned char *v1 = make_bytes(len1, 11), *v2 = make_bytes(len2, 12);
    char sha2[65];
    sha_hex(v2, len2, sha2);
    CHECK(run_gc(e) >= 0);
    int trash_before = trash(e->st).count;

    int64_t id = 0, id2 = 0;
    CHECK_CODE(upload(e->a, v1, len1, 100003, e->exp, "model.bin", false, &id, err), DD_OK, err);
    dd_resource before = {0}, after = {0};
    CHECK_CODE(dd_resource_get(e->st, id, &before, err), DD_OK, err);
    CHECK_STR(before.updated_date, "");

    /* A reader opened before the replace keeps the old bytes. */
    dd_artifact_reader *old = NULL;
    CHECK_CODE(dd_artifact_open(e->a, id, &old, err), DD_OK, err);
    CHECK_CODE(upload(e->a, v2, len2, 65537, e->exp, "model.bin", true, &id2, err), DD_OK, err);
    CHECK(id2 == id);                                  /* same resource: links stay */
    CHECK_CODE(dd_resource_get(e->st, id, &after, err), DD_OK, err);
    CHECK(after.size_bytes == (int64_t)len2);
    CHECK_STR(after.content_hash, sha2);
    CHECK_STR(after.created_date, before.created_date);
    CHECK(after.updated_date[0] != 0);
    CHECK(strcmp(after.uri, before.uri) == 0 ? !e->fs : e->fs);
    CHECK(reads_back(e->a, id, v2, len2, 77777));

    /* The old bytes are freed at the commit unless this process still reads them: a file
     * is unlinked at once (the reader's fd keeps it), a chunk set stays queued, and gc
     * leaves it too, until its reader closes. */
    trash_rows t = trash(e->st);
    CHECK(t.count == trash_before + (e->fs ? 0 : 1));
    if (e->fs)
        CHECK(!file_exists(before.uri + 7));
    else
        CHECK(strncmp(t.last_uri, "chunks:", 7) == 0);
    unsigned char *buf = malloc(len1);
    size_t got = 0, off = 0;
    CHECK(run_gc(e) == 0);
    while (old && off < len1 &&
           dd_artifact_pread(old, (int64_t)off, buf + off, 300007, &got, err) == DD_OK && got)
        off += got;
    CHECK(off == len1 && memcmp(buf, v1, len1) == 0);
    CHECK(old && dd_artifact_size(old) == (int64_t)len1);
    dd_artifact_close(old);                            /* the last reader frees the set */
    CHECK(trash(e->st).count == trash_before);
    CHECK(run_gc(e) == 0);
    CHECK(stray_chunks(e) == 0 && stray_files(e) == 0);
    CHECK(reads_back(e->a, id, v2, len2, 1 << 16));
    dd_resource_clear(&before);
    dd_resource_clear(&after);

    /* replace on a name that does not exist yet creates it */
    int64_t fresh = 0;
    CHECK_CODE(upload(e->a, v1, 100, 7, e->exp, "fresh.bin", true, &fresh, err), DD_OK, err);
    CHECK(fresh > 0 && fresh != id);
    CHECK(reads_back(e->a, fresh, v1, 100, 64));
    free(v1);
    free(v2);
    free(buf);
}

/* ---------------------------------------------------------------- registered artifacts */

static void test_in_use(env *e)
{
    dd_err err_buf = {0}, *err = &err_buf;
    size_t len = MIB + 123;
    unsigned char *data = make_bytes(len, 21), *other = make_bytes(len, 22);
    int64_t id = 0, x = 0, it = 0, model = 0, ver = 0;
    char model_name[64];
    snprintf(model_name, sizeof model_name, "model-%s", e->label);
    CHECK_CODE(upload(e->a, data, len, 4096, e->exp, "registered.bin", false, &id, err), DD_OK,
               err);
    CHECK_CODE(dd_iteration_create(e->st, e->exp, 0, &it, err), DD_OK, err);
    CHECK_CODE(dd_model_create(e->st, e->proj, model_name, NULL, &model, err), DD_OK, err);
    CHECK_CODE(dd_version_create(e->st, model, it, id, NULL, &ver, NULL, err), DD_OK, err);
    int trash_before = trash(e->st).count;

    CHECK_CODE(upload(e->a, other, len, 4096, e->exp, "registered.bin", true, &x, err),
               DD_IN_USE, err);
    CHECK(reads_back(e->a, id, data, len, 5000));
    dd_resource r = {0};
    CHECK_CODE(dd_resource_get(e->st, id, &r, err), DD_OK, err);
    CHECK_STR(r.updated_date, "");
    dd_resource_clear(&r);
    CHECK_CODE(dd_resource_delete(e->st, id, err), DD_IN_USE, err);
    /* the registered bytes are not queued; the refused upload's staged chunks are */
    trash_rows t = trash(e->st);
    CHECK(t.count == trash_before + (e->fs ? 0 : 1));
    CHECK(e->fs || strncmp(t.last_uri, "chunks:", 7) == 0);
    CHECK(run_gc(e) == (e->fs ? 0 : 1));
    CHECK(trash(e->st).count == trash_before);
    CHECK(stray_chunks(e) == 0 && stray_files(e) == 0);
    CHECK(reads_back(e->a, id, data, len, 1 << 20));

    /* Once the version lets go, replace works. */
    CHECK_CODE(dd_version_set_resource(e->st, ver, 0, err), DD_OK, err);
    CHECK_CODE(upload(e->a, other, len, 4096, e->exp, "registered.bin", true, &x, err), DD_OK,
               err);
    CHECK(x == id && reads_back(e->a, id, other, len, 65536));
    CHECK(trash(e->st).count == trash_before);         /* the old bytes went at the commit */
    CHECK(run_gc(e) == 0);
    free(data);
    free(other);
}

/* ---------------------------------------------------------------- deletes */

static void test_delete(env *e)
{
    dd_err err_buf = {0}, *err = &err_buf;
    size_t len = 2 * MIB + 1;
    unsigned char *data = make_bytes(len, 31);
    int64_t id = 0, exp2 = 0, r1 = 0, r2 = 0;
    CHECK(run_gc(e) >= 0);
    int trash_before = trash(e->st).count;

    CHECK_CODE(upload(e->a, data, len, 65537, e->exp, "doomed.bin", false, &id, err), DD_OK,
               err);
    dd_resource r = {0};
    CHECK_CODE(dd_resource_get(e->st, id, &r, err), DD_OK, err);
    int64_t chunks_before = raw_int(e->db, "SELECT COUNT(*) FROM artifact_chunk");
    CHECK_CODE(dd_resource_delete(e->st, id, err), DD_OK, err);
    /* nobody reads them: the delete's commit frees the bytes, gc finds nothing */
    CHECK(trash(e->st).count == trash_before);
    CHECK(run_gc(e) == 0);
    if (e->fs)
        CHECK(!file_exists(r.uri + 7));
    else
        CHECK(raw_int(e->db, "SELECT COUNT(*) FROM artifact_chunk") == chunks_before - 3);
    CHECK(trash(e->st).count == trash_before);
    dd_resource_clear(&r);

    /* A cascading experiment delete queues its resources' bytes in its transaction. */
    char name[64];
    snprintf(name, sizeof name, "cascade-%s", e->label);
    CHECK_CODE(dd_experiment_create(e->st, e->proj, name, &exp2, err), DD_OK, err);
    CHECK_CODE(upload(e->a, data, len, 65537, exp2, "a.bin", false, &r1, err), DD_OK, err);
    CHECK_CODE(upload(e->a, data, 10, 3, exp2, "b.bin", false, &r2, err), DD_OK, err);
    CHECK_CODE(dd_resource_create_inline(e->st, exp2, "legacy.txt", "legacy", 6, NULL, err),
               DD_OK, err);
    CHECK_CODE(dd_experiment_delete(e->st, exp2, true, err), DD_OK, err);
    CHECK(trash(e->st).count == trash_before);       /* freed at the commit */
    CHECK(stray_chunks(e) == 0 && stray_files(e) == 0);
    CHECK(run_gc(e) == 0);
    CHECK(trash(e->st).count == trash_before);
    free(data);
}

/* ---------------------------------------------------------------- gc safety and leftovers */

static void test_leftovers(env *e)
{
    dd_err err_buf = {0}, *err = &err_buf;
    char sql[1024], path[1400], final[1400];
    CHECK(run_gc(e) >= 0);

    /* A live upload of this process is never touched by gc. */
    unsigned char *data = make_bytes(MIB + 5, 41);
    dd_upload *live = NULL;
    CHECK_CODE(dd_upload_begin(e->a, &live, err), DD_OK, err);
    CHECK_CODE(dd_upload_write(live, data, MIB + 5, err), DD_OK, err);

    /* An upload row of this process that no live upload owns (as after a failed abort),
     * with a chunk; and a chunk set nothing refers to at all. */
    /* (SQL both engines take: no last_insert_rowid; zero bytes spelt per engine) */
    const char *zero10 = dd_test_is_pg() ? "'\\x00000000000000000000'::bytea" : "zeroblob(10)";
    const char *zero5 = dd_test_is_pg() ? "'\\x0000000000'::bytea" : "zeroblob(5)";
    snprintf(sql, sizeof sql,
             "INSERT INTO artifact_upload(owner_pid, owner_start, owner_token, started_at)"
             " VALUES (%d, %lld, 777, '2026-01-01T00:00:00.000Z');"
             "INSERT INTO artifact_chunk(set_id, seq, data)"
             " VALUES ((SELECT MAX(id) FROM artifact_upload), 0, %s);"
             "INSERT INTO artifact_chunk(set_id, seq, data) VALUES (987654321, 0, %s);",
             (int)getpid(), (long long)self_start(), zero10, zero5);
    CHECK(raw_exec(e->db, sql) == SQLITE_OK);
    int64_t expect = 2;

    if (e->fs) {
        /* A staged file nobody locks, another that reached its final name uncommitted, and
         * the staging name of a committed artifact (crash after the commit). */
        const char *u1 = "0a1b2c3d-0000-4000-8000-000000000001";
        const char *u2 = "7f1b2c3d-0000-4000-8000-000000000002";
        snprintf(path, sizeof path, "%s/.staging/%s", e->root, u1);
        FILE *f = fopen(path, "w");
        if (f)
            fclose(f);
        snprintf(path, sizeof path, "%s/.staging/%s", e->root, u2);
        f = fopen(path, "w");
        if (f)
            fclose(f);
        snprintf(final, sizeof final, "%s/7f", e->root);
        mkdir(final, 0755);
        snprintf(final, sizeof final, "%s/7f/%s", e->root, u2);
        CHECK(link(path, final) == 0);
        int64_t committed = 0;
        CHECK_CODE(upload(e->a, data, 1000, 1000, e->exp, "committed.bin", false, &committed,
                          err), DD_OK, err);
        dd_resource r = {0};
        CHECK_CODE(dd_resource_get(e->st, committed, &r, err), DD_OK, err);
        const char *uuid = strrchr(r.uri, '/') + 1;
        snprintf(path, sizeof path, "%s/.staging/%s", e->root, uuid);
        CHECK(link(r.uri + 7, path) == 0);
        /* A file that is not this backend's name is never touched, even when trashed. */
        char mine[1400];
        snprintf(mine, sizeof mine, "%s/notours.txt", e->root);
        f = fopen(mine, "w");
        if (f)
            fclose(f);
        char mine_uri[1500];
        snprintf(mine_uri, sizeof mine_uri, "file://%s", mine);
        int64_t ext = 0;
        CHECK_CODE(dd_resource_create_external(e->st, e->exp, "user-file", "filesystem",
                                               mine_uri, 0, SHA_EMPTY, &ext, err), DD_OK, err);
        CHECK_CODE(dd_resource_delete(e->st, ext, err), DD_OK, err);
        expect += 3;    /* its trash row was forgotten at the delete, the file untouched */

        CHECK(run_gc(e) == expect);
        CHECK(file_exists(mine));
        unlink(mine);
        snprintf(path, sizeof path, "%s/.staging/%s", e->root, uuid);
        CHECK(!file_exists(path));
        CHECK(!file_exists(final));
        CHECK(file_exists(r.uri + 7));
        CHECK(reads_back(e->a, committed, data, 1000, 999));
        dd_resource_clear(&r);
    } else {
        CHECK(run_gc(e) == expect);
    }
    CHECK(raw_int(e->db, "SELECT COUNT(*) FROM artifact_chunk WHERE set_id = 987654321") == 0);
    CHECK(uploads_open(e) == (e->fs ? 0 : 1));       /* the live one */

    /* The live upload survived all of it. */
    int64_t id = 0;
    CHECK_CODE(dd_upload_write(live, data + MIB + 5, 0, err), DD_OK, err);
    CHECK_CODE(dd_upload_commit(live, e->exp, "survivor.bin", false, &id, err), DD_OK, err);
    dd_upload_free(live);
    CHECK(reads_back(e->a, id, data, MIB + 5, 4096 * 3));
    CHECK(run_gc(e) == 0);
    CHECK(stray_chunks(e) == 0 && stray_files(e) == 0 && uploads_open(e) == 0);
    free(data);
}

/* ---------------------------------------------------------------- nodes */

/* The database's clock in ms, as raw SQL of each engine (independent of the store). */
static const char *db_now_sql(void)
{
    return dd_test_is_pg() ? "CAST(floor(extract(epoch FROM clock_timestamp()) * 1000) AS BIGINT)"
                           : "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";
}

/* A node row (raw SQL) with an inline upload of one chunk; returns the node's id. */
static int64_t fake_node_upload(const env *e, const char *boot, int64_t pidns, int64_t pid,
                                int64_t start, int64_t lease_from_now_ms, int64_t token)
{
    const char *zero7 = dd_test_is_pg() ? "'\\x00000000000000'::bytea" : "zeroblob(7)";
    char sql[2048];
    snprintf(sql, sizeof sql,
             "INSERT INTO node(machine_id, boot_id, pidns, pid, start_ticks, hostname,"
             " journal_dir, started_at, lease_until_ms) VALUES ('m-%lld', '%s', %lld, %lld,"
             " %lld, 'gpu-07', '/var/lib/deardiary/journal', '2026-01-01T00:00:00.000Z',"
             " %s + %lld);"
             "INSERT INTO artifact_upload(owner_pid, owner_start, owner_token, started_at,"
             " node_id) VALUES (%lld, %lld, %lld, '2026-01-01T00:00:00.000Z',"
             " (SELECT MAX(id) FROM node));"
             "INSERT INTO artifact_chunk(set_id, seq, data)"
             " VALUES ((SELECT MAX(id) FROM artifact_upload), 0, %s);",
             (long long)token, boot, (long long)pidns, (long long)pid, (long long)start,
             db_now_sql(), (long long)lease_from_now_ms, (long long)pid, (long long)start,
             (long long)token, zero7);
    CHECK(raw_exec(e->db, sql) == SQLITE_OK);
    return raw_int(e->db, "SELECT MAX(id) FROM node");
}

static int64_t uploads_of(const env *e, int64_t node)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM artifact_upload u JOIN artifact_chunk k"
             " ON k.set_id = u.id WHERE u.node_id = %lld", (long long)node);
    return raw_int(e->db, sql);
}

static int64_t node_rows(const env *e, int64_t node)
{
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM node WHERE id = %lld", (long long)node);
    return raw_int(e->db, sql);
}

/* Node-aware ownership (docs/ENGINES.md §4.2). An upload of a node of another boot (or
 * machine) is kept while its lease is live and collected once it has ended, with the
 * node's row. On this boot /proc decides, whatever the lease says: a live process's
 * upload is kept after its lease ended; a dead process's is collected while its lease
 * still runs. */
static void test_node_leases(env *e)
{
    CHECK(run_gc(e) >= 0);
    int64_t before = uploads_open(e);
    int64_t other = fake_node_upload(e, "other-boot-0000", 4026531836LL, 4242, 17, 60000, 901);
    CHECK(run_gc(e) == 0);
    CHECK(uploads_of(e, other) == 1 && node_rows(e, other) == 1);
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE node SET lease_until_ms = %s - 1 WHERE id = %lld",
             db_now_sql(), (long long)other);
    CHECK(raw_exec(e->db, sql) == SQLITE_OK);
    CHECK(run_gc(e) == 1);
    CHECK(uploads_of(e, other) == 0 && node_rows(e, other) == 0);
    CHECK(uploads_open(e) == before);

    /* this boot: a live child with an ended lease, a dead one with a live lease */
    char boot[64] = "";
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (f) {
        if (!fgets(boot, sizeof boot, f))
            boot[0] = 0;
        fclose(f);
    }
    boot[strcspn(boot, "\n")] = 0;
    struct stat ns;
    if (!boot[0] || stat("/proc/self/ns/pid", &ns) != 0) {
        fprintf(stderr, "test_node_leases: no boot id or pid namespace: /proc part skipped\n");
        return;
    }
    int go[2];
    CHECK(pipe(go) == 0);
    fflush(NULL);
    pid_t kid = fork();
    if (kid == 0) {
        char c;
        close(go[1]);
        _exit(read(go[0], &c, 1) < 0);
    }
    close(go[0]);
    int64_t kid_start = start_of(kid);
    int64_t live = fake_node_upload(e, boot, (int64_t)ns.st_ino, kid, kid_start, -1000, 902);
    pid_t dead_kid = fork();
    if (dead_kid == 0)
        _exit(0);
    int64_t dead_start = start_of(dead_kid);
    int status = 0;
    CHECK(waitpid(dead_kid, &status, 0) == dead_kid);
    int64_t dead = fake_node_upload(e, boot, (int64_t)ns.st_ino, dead_kid, dead_start, 600000,
                                    903);
    CHECK(run_gc(e) == 1);
    CHECK(uploads_of(e, live) == 1 && uploads_of(e, dead) == 0 && node_rows(e, dead) == 0);
    close(go[1]);
    CHECK(waitpid(kid, &status, 0) == kid);
    CHECK(run_gc(e) == 1);
    CHECK(uploads_of(e, live) == 0 && node_rows(e, live) == 0);
    CHECK(uploads_open(e) == before);
}

/* A node row alone (raw SQL), of another boot; returns its id. */
static int64_t fake_node(const env *e, int64_t lease_from_now_ms)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO node(machine_id, boot_id, pidns, pid, start_ticks, hostname,"
             " started_at, lease_until_ms) VALUES ('m-staged', 'other-boot-1111', 1, 4343,"
             " 19, 'gpu-08', '2026-01-01T00:00:00.000Z', %s + %lld)", db_now_sql(),
             (long long)lease_from_now_ms);
    CHECK(raw_exec(e->db, sql) == SQLITE_OK);
    return raw_int(e->db, "SELECT MAX(id) FROM node");
}

/* The filesystem backend's staged files on a shared root (docs/ENGINES.md §4.2): named
 * <node>-<uuid>; one of another live node is never touched by gc, even unlocked (a root
 * whose flock is not cluster-wide), with the final name it reached; once the node's lease
 * ended both go. This process's own staged names carry its node. */
static void test_node_staged(env *e)
{
    CHECK(run_gc(e) >= 0);
    int64_t other = fake_node(e, 60000);
    const char *uuid = "5e1b2c3d-0000-4000-8000-0000000000aa";
    char staged[1400], final[1400];
    snprintf(staged, sizeof staged, "%s/.staging/%lld-%s", e->root, (long long)other, uuid);
    snprintf(final, sizeof final, "%s/5e", e->root);
    mkdir(final, 0755);
    snprintf(final, sizeof final, "%s/5e/%s", e->root, uuid);
    FILE *f = fopen(staged, "w");
    if (f)
        fclose(f);
    CHECK(link(staged, final) == 0);
    CHECK(run_gc(e) == 0);
    CHECK(file_exists(staged) && file_exists(final));
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE node SET lease_until_ms = %s - 1 WHERE id = %lld",
             db_now_sql(), (long long)other);
    CHECK(raw_exec(e->db, sql) == SQLITE_OK);
    CHECK(run_gc(e) == 1);
    CHECK(!file_exists(staged) && !file_exists(final));
    CHECK(node_rows(e, other) == 0);

    /* an upload in progress here: staged under this process's node, and kept */
    dd_err err = {0};
    dd_upload *up = NULL;
    CHECK_CODE(dd_upload_begin(e->a, &up, &err), DD_OK, &err);
    int64_t mine = raw_int(e->db, "SELECT MAX(id) FROM node");
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%lld-", (long long)mine);
    char dir[1300];
    snprintf(dir, sizeof dir, "%s/.staging", e->root);
    int named = 0;
    DIR *d = opendir(dir);
    for (struct dirent *x; d && (x = readdir(d)) != NULL;)
        named += strncmp(x->d_name, prefix, strlen(prefix)) == 0 &&
                 strlen(x->d_name) == strlen(prefix) + 36;
    if (d)
        closedir(d);
    CHECK(named == 1);
    CHECK(run_gc(e) == 0);
    dd_upload_free(up);
    CHECK(stray_files(e) == 0);
}

/* ---------------------------------------------------------------- legacy rows */

static void test_legacy(env *e)
{
    dd_err err_buf = {0}, *err = &err_buf;
    size_t len = 200001;
    unsigned char *data = make_bytes(len, 51), *next = make_bytes(MIB + 1, 52);
    int64_t id = 0, empty = 0, x = 0;
    CHECK_CODE(dd_resource_create_inline(e->st, e->exp, "legacy.bin", data, len, &id, err),
               DD_OK, err);
    CHECK_CODE(dd_resource_create_inline(e->st, e->exp, "legacy-empty", "", 0, &empty, err),
               DD_OK, err);
    CHECK(reads_back(e->a, id, data, len, 65537));
    CHECK(reads_back(e->a, empty, NULL, 0, 16));
    dd_artifact_reader *r = NULL;
    unsigned char buf[64];
    size_t got = 0;
    CHECK_CODE(dd_artifact_open(e->a, id, &r, err), DD_OK, err);
    CHECK_CODE(dd_artifact_pread(r, 199990, buf, 64, &got, err), DD_OK, err);
    CHECK(got == 11 && memcmp(buf, data + 199990, 11) == 0);

    /* Replacing a legacy row: the row moves to the upload's backend; a reader that was
     * open on the legacy bytes gets an error, never a mix of old and new. */
    CHECK_CODE(upload(e->a, next, MIB + 1, 65536, e->exp, "legacy.bin", true, &x, err), DD_OK,
               err);
    CHECK(x == id);
    dd_code code = dd_artifact_pread(r, 0, buf, 64, &got, err);
    CHECK(code == DD_IO || (code == DD_OK && memcmp(buf, data, got) == 0));
    dd_artifact_close(r);
    CHECK(reads_back(e->a, id, next, MIB + 1, 100000));
    CHECK(raw_int(e->db, "SELECT COUNT(*) FROM resource WHERE name = 'legacy.bin'"
                         " AND data IS NOT NULL") == 0);
    CHECK(run_gc(e) == 0);   /* legacy bytes are not queued */
    free(data);
    free(next);
}

/* ---------------------------------------------------------------- bounded memory */

static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t klen = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, klen) == 0 && line[klen] == ':')
            v = strtol(line + klen + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

/* Under ASan (quarantine) or valgrind the process's RSS says nothing about our buffers. */
/* DD_TEST_QUICK=1 (make test's ASan and valgrind phases): smaller uploads, same checks.
 * 16 MiB still shows an upload that is buffered whole (the RSS limit is 8 MiB). */
static bool quick(void)
{
    const char *q = getenv("DD_TEST_QUICK");
    return q && *q && strcmp(q, "0") != 0;
}

static bool rss_meaningful(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return false;
#endif
#endif
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    bool tool = false;
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, "vgpreload"))
            tool = true;
    if (f)
        fclose(f);
    return !tool;
}

/* Upload `total` bytes of fill(seed) in writes of `step` bytes (through `buf`), commit
 * them as resource `name`, and check that its row has that size and sha256 (hex_out).
 * Returns the resource id (0 when the upload failed). */
static int64_t upload_pattern(env *e, const char *name, size_t total, size_t step, int seed,
                              unsigned char *buf, char hex_out[65], dd_err *err)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    dd_upload *u = NULL;
    CHECK_CODE(dd_upload_begin(e->a, &u, err), DD_OK, err);
    bool ok = u != NULL;
    for (size_t off = 0; ok && off < total; off += step) {
        size_t n = total - off < step ? total - off : step;
        fill(buf, n, seed, off);
        EVP_DigestUpdate(md, buf, n);
        ok = dd_upload_write(u, buf, n, err) == DD_OK;
    }
    CHECK(ok);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    EVP_DigestFinal_ex(md, digest, &dlen);
    EVP_MD_CTX_free(md);
    hex32(digest, hex_out);
    int64_t id = 0;
    CHECK_CODE(dd_upload_commit(u, e->exp, name, false, &id, err), DD_OK, err);
    dd_upload_free(u);
    dd_resource r = {0};
    CHECK_CODE(dd_resource_get(e->st, id, &r, err), DD_OK, err);
    CHECK(r.size_bytes == (int64_t)total);
    CHECK_STR(r.content_hash, hex_out);
    dd_resource_clear(&r);
    return id;
}

static void test_memory(env *e)
{
    dd_err err_buf = {0}, *err = &err_buf;
    const size_t total = (quick() ? 16 : 64) * MIB, step = 65536;
    unsigned char *buf = malloc(step), *back = malloc(131072), *want = malloc(131072);
    /* Peak RSS from here on (writing 5 to clear_refs resets VmHWM). */
    FILE *f = fopen("/proc/self/clear_refs", "w");
    bool reset = f && fputs("5", f) >= 0;
    if (f)
        reset = fclose(f) == 0 && reset;
    long base = reset ? status_kb("VmRSS") : status_kb("VmHWM");

    char want_hex[65];
    int64_t id = upload_pattern(e, "big.bin", total, step, 61, buf, want_hex, err);
    bool ok;

    dd_artifact_reader *rd = NULL;
    CHECK_CODE(dd_artifact_open(e->a, id, &rd, err), DD_OK, err);
    ok = rd != NULL;
    for (size_t off = 0; ok && off < total; off += 131072) {
        size_t got = 0;
        fill(want, 131072, 61, off);
        ok = dd_artifact_pread(rd, (int64_t)off, back, 131072, &got, err) == DD_OK &&
             got == 131072 && memcmp(back, want, got) == 0;
    }
    CHECK(ok);
    dd_artifact_close(rd);
    long peak = status_kb("VmHWM");
    long grew = peak - base;
    printf("%s: %zu MiB upload and read: peak RSS grew by %ld KiB%s\n", e->label, total / MIB, grew,
           reset ? "" : " (peak not resettable)");
    if (rss_meaningful())
        CHECK(base > 0 && grew < 8 * 1024);
    CHECK_CODE(dd_resource_delete(e->st, id, err), DD_OK, err);
    CHECK(run_gc(e) == 0);          /* freed by the delete */
    CHECK(stray_chunks(e) == 0 && stray_files(e) == 0);
    free(buf);
    free(back);
    free(want);
}

/* ---------------------------------------------------------------- concurrent writers */

typedef struct up_job {
    env *e;
    size_t len;
    dd_code code;
    int64_t id;
    volatile int done;
} up_job;

static void *upload_thread(void *arg)
{
    up_job *j = arg;
    unsigned char *buf = malloc(MIB);
    dd_upload *u = NULL;
    dd_err err = {0};
    j->code = dd_upload_begin(j->e->a, &u, &err);
    for (size_t off = 0; j->code == DD_OK && off < j->len; off += MIB) {
        fill(buf, MIB, 71, off);
        j->code = dd_upload_write(u, buf, MIB, &err);
    }
    if (j->code == DD_OK)
        j->code = dd_upload_commit(u, j->e->exp, "concurrent.bin", false, &j->id, &err);
    if (j->code != DD_OK)
        fprintf(stderr, "upload thread: %s\n", err.msg);
    dd_upload_free(u);
    free(buf);
    __atomic_store_n(&j->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void test_concurrent_metrics(env *e)
{
    dd_err err_buf = {0}, *err = &err_buf;
    int64_t it = 0;
    CHECK_CODE(dd_iteration_create(e->st, e->exp, 0, &it, err), DD_OK, err);
    up_job job = {.e = e, .len = (quick() ? 12 : 48) * MIB};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, upload_thread, &job) == 0);
    int during = 0, failed = 0;
    while (!__atomic_load_n(&job.done, __ATOMIC_SEQ_CST)) {
        dd_metric_point p = {.value = during};
        if (dd_metric_append(e->st, it, "loss", &p, 1, err) == DD_OK)
            during++;
        else
            failed++;
        if (during > 100000)
            break;
    }
    pthread_join(th, NULL);
    CHECK(job.code == DD_OK);
    CHECK(failed == 0);
    printf("%s: %d metric appends committed during a %zu MiB upload\n", e->label, during,
           job.len / MIB);
    CHECK(during >= 3);
    if (job.code == DD_OK) {
        CHECK_CODE(dd_resource_delete(e->st, job.id, err), DD_OK, err);
        CHECK(run_gc(e) == 0);      /* freed by the delete */
    }
}

/* ---------------------------------------------------------------- other processes */

/* A child that begins uploads, writes, and dies by SIGKILL before committing. */
static void crash_child(const char *db, const char *root, int fs)
{
    dd_store *st = NULL;
    dd_artifacts *a = NULL;
    dd_upload *u = NULL;
    dd_artifacts_config cfg = {.backend = fs == 1 ? "filesystem" : fs == 2 ? "auto" : "inline",
                               .fs_root = root, .inline_max = 1 << 18};
    unsigned char *data = make_bytes(2 * MIB + MIB / 2, 81);
    if (dd_store_open(db, NULL, &st, NULL) != DD_OK || dd_artifacts_open(st, &cfg, &a, NULL) ||
        dd_upload_begin(a, &u, NULL) || dd_upload_write(u, data, 2 * MIB + MIB / 2, NULL))
        _exit(2);
    /* The upload is neither committed nor freed. Closing the store first changes nothing
     * in the database; it only keeps valgrind's report on this child quiet. */
    dd_store_close(st);
    free(data);
    kill(getpid(), SIGKILL);
    _exit(3);
}

static void test_crash(void)
{
    dd_err err_buf = {0}, *err = &err_buf;
    char db[1100], root[1100];
    dd_test_locator(db, sizeof db, "artifacts_crash");
    snprintf(root, sizeof root, "%s/artifacts-crash-root", g_tmp);
    rm_rf(root);
    char beside[1200];
    snprintf(beside, sizeof beside, "%s.artifacts", db);
    rm_rf(beside);
    fflush(NULL);
    /* inline, filesystem, auto (moved to a file beside the database: SQLite only, since a
     * server's registry has no "beside") */
    int kinds = dd_test_is_pg() ? 2 : 3;
    for (int fs = 0; fs < kinds; fs++) {
        pid_t pid = fork();
        if (pid == 0)
            crash_child(db, root, fs);
        int status = 0;
        CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    }
    /* What the dead uploads left: an upload row with two flushed chunks, a staged file,
     * and the moved upload's staged file beside the database (its inline start is gone). */
    CHECK(raw_int(db, "SELECT COUNT(*) FROM artifact_upload") == 1);
    CHECK(raw_int(db, "SELECT COUNT(*) FROM artifact_chunk") == 2);
    int files = 0, staged = 0;
    count_files(root, &files, &staged);
    CHECK(files == 0 && staged == 1);
    count_files(beside, &files, &staged);
    CHECK(files == 0 && staged == kinds - 2);

    env e = {.label = "crash", .fs = true};
    snprintf(e.db, sizeof e.db, "%s", db);
    snprintf(e.root, sizeof e.root, "%s", root);
    dd_artifacts_config cfg = {.backend = "auto", .fs_root = root, .inline_max = 1 << 18};
    CHECK_CODE(dd_store_open(db, NULL, &e.st, err), DD_OK, err);
    if (!e.st)
        return;
    CHECK_CODE(dd_artifacts_open(e.st, &cfg, &e.a, err), DD_OK, err);
    if (e.a) {
        CHECK(run_gc(&e) == kinds);
        CHECK(raw_int(db, "SELECT COUNT(*) FROM artifact_upload") == 0);
        CHECK(raw_int(db, "SELECT COUNT(*) FROM artifact_chunk") == 0);
        count_files(root, &files, &staged);
        CHECK(files == 0 && staged == 0);
        count_files(beside, &files, &staged);
        CHECK(files == 0 && staged == 0);
        CHECK(run_gc(&e) == 0);
    }
    dd_artifacts_close(e.a);
    dd_store_close(e.st);
}

/* A child whose uploads are live while the parent runs gc, then commits them. */
static void live_child(const char *db, const char *root, int go_fd, int report_fd)
{
    dd_store *st = NULL;
    dd_artifacts *in = NULL, *fsa = NULL;
    dd_upload *u1 = NULL, *u2 = NULL;
    dd_artifacts_config ci = {.backend = "inline"}, cf = {.backend = "filesystem", .fs_root = root};
    size_t len = 3 * MIB / 2;
    unsigned char *data = make_bytes(len, 91);
    int64_t proj = 0, exp = 0, id1 = 0, id2 = 0;
    char msg = 'x';
    if (dd_store_open(db, NULL, &st, NULL) || dd_artifacts_open(st, &ci, &in, NULL) ||
        dd_artifacts_open(st, &cf, &fsa, NULL) || dd_project_create(st, 0, "xp", &proj, NULL) ||
        dd_experiment_create(st, proj, "xe", &exp, NULL) || dd_upload_begin(in, &u1, NULL) ||
        dd_upload_begin(fsa, &u2, NULL) || dd_upload_write(u1, data, len - 10, NULL) ||
        dd_upload_write(u2, data, len - 10, NULL)) {
        (void)!write(report_fd, &msg, 1);
        _exit(2);
    }
    msg = 'w';
    (void)!write(report_fd, &msg, 1);
    if (read(go_fd, &msg, 1) != 1)
        _exit(3);
    bool ok = dd_upload_write(u1, data + len - 10, 10, NULL) == DD_OK &&
              dd_upload_write(u2, data + len - 10, 10, NULL) == DD_OK &&
              dd_upload_commit(u1, exp, "inline.bin", false, &id1, NULL) == DD_OK &&
              dd_upload_commit(u2, exp, "file.bin", false, &id2, NULL) == DD_OK;
    dd_upload_free(u1);
    dd_upload_free(u2);
    dd_artifacts_close(in);
    dd_artifacts_close(fsa);
    dd_store_close(st);
    free(data);
    msg = ok ? 'c' : 'f';
    (void)!write(report_fd, &msg, 1);
    _exit(0);
}

static void test_other_process_live(void)
{
    dd_err err_buf = {0}, *err = &err_buf;
    char db[1100], root[1100];
    dd_test_locator(db, sizeof db, "artifacts_xproc");
    snprintf(root, sizeof root, "%s/artifacts-xproc-root", g_tmp);
    rm_rf(root);
    int go[2], report[2];
    CHECK(pipe(go) == 0 && pipe(report) == 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(go[1]);
        close(report[0]);
        live_child(db, root, go[0], report[1]);
    }
    close(go[0]);
    close(report[1]);
    char msg = 0;
    CHECK(read(report[0], &msg, 1) == 1 && msg == 'w');

    env e = {.label = "xproc", .fs = true};
    snprintf(e.db, sizeof e.db, "%s", db);
    snprintf(e.root, sizeof e.root, "%s", root);
    dd_artifacts_config cfg = {.backend = "filesystem", .fs_root = root};
    CHECK_CODE(dd_store_open(db, NULL, &e.st, err), DD_OK, err);
    if (e.st)
        CHECK_CODE(dd_artifacts_open(e.st, &cfg, &e.a, err), DD_OK, err);
    if (e.a) {
        /* the child's uploads are alive: gc takes nothing */
        CHECK(run_gc(&e) == 0);
        CHECK(raw_int(db, "SELECT COUNT(*) FROM artifact_upload") == 1);
        CHECK(raw_int(db, "SELECT COUNT(*) FROM artifact_chunk") == 1);
        int files = 0, staged = 0;
        count_files(root, &files, &staged);
        CHECK(staged == 1);
    }
    msg = 'g';
    CHECK(write(go[1], &msg, 1) == 1);
    CHECK(read(report[0], &msg, 1) == 1 && msg == 'c');
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    if (e.a) {
        size_t len = 3 * MIB / 2;
        unsigned char *data = make_bytes(len, 91);
        int64_t proj = 0, exp = 0, id1 = 0, id2 = 0;
        CHECK_CODE(dd_project_find(e.st, "xp", &proj, err), DD_OK, err);
        CHECK_CODE(dd_experiment_find(e.st, proj, "xe", &exp, err), DD_OK, err);
        CHECK_CODE(dd_resource_find(e.st, exp, "inline.bin", &id1, err), DD_OK, err);
        CHECK_CODE(dd_resource_find(e.st, exp, "file.bin", &id2, err), DD_OK, err);
        CHECK(reads_back(e.a, id1, data, len, 65537));
        CHECK(reads_back(e.a, id2, data, len, 65537));
        CHECK(run_gc(&e) == 0);
        CHECK(stray_chunks(&e) == 0 && stray_files(&e) == 0 && uploads_open(&e) == 0);
        free(data);
    }
    close(go[1]);
    close(report[0]);
    dd_artifacts_close(e.a);
    dd_store_close(e.st);
}

/* ---------------------------------------------------------------- mixed backends */

static void test_mixed(const char *db, const char *root)
{
    dd_err err_buf = {0}, *err = &err_buf;
    size_t len = MIB + 77;
    unsigned char *a_bytes = make_bytes(len, 101), *b_bytes = make_bytes(len, 102);
    int64_t proj = 0, exp = 0, ida = 0, idb = 0;
    dd_store *st = NULL;
    dd_artifacts *a = NULL;
    dd_artifacts_config inl = {.backend = "inline"};
    dd_artifacts_config fs = {.backend = "filesystem", .fs_root = root};

    CHECK_CODE(dd_store_open(db, NULL, &st, err), DD_OK, err);
    if (!st)
        return;
    CHECK_CODE(dd_project_find(st, "art", &proj, err), DD_OK, err);
    CHECK_CODE(dd_experiment_create(st, proj, "mixed", &exp, err), DD_OK, err);
    CHECK_CODE(dd_artifacts_open(st, &inl, &a, err), DD_OK, err);
    CHECK_CODE(upload(a, a_bytes, len, 4099, exp, "inline-made", false, &ida, err), DD_OK, err);
    dd_artifacts_close(a);
    dd_store_close(st);

    /* reopened with the filesystem as default: old inline rows still read */
    st = NULL;
    a = NULL;
    CHECK_CODE(dd_store_open(db, NULL, &st, err), DD_OK, err);
    CHECK_CODE(dd_artifacts_open(st, &fs, &a, err), DD_OK, err);
    CHECK(reads_back(a, ida, a_bytes, len, 65537));
    CHECK_CODE(upload(a, b_bytes, len, 4099, exp, "fs-made", false, &idb, err), DD_OK, err);
    CHECK(reads_back(a, idb, b_bytes, len, 65537));
    dd_artifacts_close(a);
    dd_store_close(st);

    /* and back to inline, with no root configured at all: file rows still read */
    st = NULL;
    a = NULL;
    CHECK_CODE(dd_store_open(db, NULL, &st, err), DD_OK, err);
    CHECK_CODE(dd_artifacts_open(st, &inl, &a, err), DD_OK, err);
    CHECK(reads_back(a, ida, a_bytes, len, 100000));
    CHECK(reads_back(a, idb, b_bytes, len, 100000));
    /* deletes dispatch on the row too: with inline as default, the file is removed */
    char uri[1400];
    dd_resource r = {0};
    CHECK_CODE(dd_resource_get(st, idb, &r, err), DD_OK, err);
    snprintf(uri, sizeof uri, "%s", r.uri);
    dd_resource_clear(&r);
    CHECK_CODE(dd_experiment_delete(st, exp, true, err), DD_OK, err);
    int64_t n = 0;
    CHECK(!file_exists(uri + 7));                      /* at the delete's commit */
    CHECK_CODE(dd_artifacts_gc(a, &n, err), DD_OK, err);
    CHECK(n == 0);
    dd_artifacts_close(a);
    dd_store_close(st);
    free(a_bytes);
    free(b_bytes);
}

/* ---------------------------------------------------------------- "auto" */

/* The resource's backend and uri (a static buffer). */
static const char *row_backend(dd_store *st, int64_t id, char *uri, size_t uri_len)
{
    static char backend[16];
    dd_resource r = {0};
    backend[0] = 0;
    if (dd_resource_get(st, id, &r, NULL) == DD_OK) {
        snprintf(backend, sizeof backend, "%s", r.backend);
        snprintf(uri, uri_len, "%s", r.uri);
    }
    dd_resource_clear(&r);
    return backend;
}

static int64_t chunk_rows(const char *db)
{
    return raw_int(db, "SELECT COUNT(*) FROM artifact_chunk");
}

/* inline_max = 256 KiB: at the limit inline, one byte past it a file beside the
 * database; with a 2 MiB + 5 limit the move copies flushed chunks too. */
static void test_auto_threshold(const char *db, dd_store *st, int64_t exp, const char *beside)
{
    dd_err err_buf = {0}, *err = &err_buf;
    const size_t max = 256 * 1024;
    dd_artifacts *a = NULL;
    dd_artifacts_config cfg = {.backend = "auto", .inline_max = (int64_t)max};
    CHECK_CODE(dd_artifacts_open(st, &cfg, &a, err), DD_OK, err);
    if (!a)
        return;
    CHECK(dd_artifacts_auto_root(a) && strcmp(dd_artifacts_auto_root(a), beside) == 0);
    CHECK(!file_exists(beside));                  /* made by the first move, not at open */
    unsigned char *data = make_bytes(3 * MIB, 301);
    char uri[1400] = "", sha[65], prefix[1300];
    int64_t small = 0, big = 0, empty = 0, chunks0 = chunk_rows(db);
    int trash0 = trash(st).count;

    CHECK_CODE(upload(a, data, max, 4099, exp, "at-limit", false, &small, err), DD_OK, err);
    CHECK_STR(row_backend(st, small, uri, sizeof uri), "inline");
    CHECK(chunk_rows(db) == chunks0 + 1);
    CHECK(!file_exists(beside));
    CHECK(reads_back(a, small, data, max, 65536));
    CHECK_CODE(upload(a, data, 0, 1, exp, "empty", false, &empty, err), DD_OK, err);
    CHECK_STR(row_backend(st, empty, uri, sizeof uri), "inline");

    CHECK_CODE(upload(a, data, max + 1, 4099, exp, "past-limit", false, &big, err), DD_OK, err);
    CHECK_STR(row_backend(st, big, uri, sizeof uri), "filesystem");
    snprintf(prefix, sizeof prefix, "file://%s/", beside);
    CHECK(strncmp(uri, prefix, strlen(prefix)) == 0);
    struct stat sb;
    CHECK(stat(beside, &sb) == 0 && (sb.st_mode & 0777) == 0700);
    CHECK(reads_back(a, big, data, max + 1, 100003));
    dd_resource r = {0};
    sha_hex(data, max + 1, sha);
    CHECK_CODE(dd_resource_get(st, big, &r, err), DD_OK, err);
    CHECK_STR(r.content_hash, sha);
    CHECK(r.size_bytes == (int64_t)(max + 1));
    dd_resource_clear(&r);
    /* the inline start of the moved upload is gone at once, not queued for gc */
    CHECK(chunk_rows(db) == chunks0 + 1);
    CHECK(trash(st).count == trash0);
    CHECK(raw_int(db, "SELECT COUNT(*) FROM artifact_upload") == 0);
    dd_artifacts_close(a);

    /* A limit past two chunks: the move reads the flushed chunks back. */
    cfg.inline_max = 2 * (int64_t)MIB + 5;
    CHECK_CODE(dd_artifacts_open(st, &cfg, &a, err), DD_OK, err);
    if (!a)
        return;
    int64_t three = 0, two = 0;
    CHECK_CODE(upload(a, data, 3 * MIB, 300007, exp, "three-mib", false, &three, err), DD_OK,
               err);
    CHECK_STR(row_backend(st, three, uri, sizeof uri), "filesystem");
    CHECK(reads_back(a, three, data, 3 * MIB, 77777));
    CHECK(chunk_rows(db) == chunks0 + 1 && trash(st).count == trash0);
    CHECK_CODE(upload(a, data, 2 * MIB + 5, 1 << 20, exp, "two-mib", false, &two, err), DD_OK,
               err);
    CHECK_STR(row_backend(st, two, uri, sizeof uri), "inline");
    CHECK(reads_back(a, two, data, 2 * MIB + 5, 65536));

    /* An upload that moved and then is dropped leaves no file, staged or final. */
    dd_upload *u = NULL;
    CHECK_CODE(dd_upload_begin(a, &u, err), DD_OK, err);
    CHECK_CODE(dd_upload_write(u, data, 3 * MIB, err), DD_OK, err);
    int files = 0, staged = 0;
    count_files(beside, &files, &staged);
    CHECK(files == 2 && staged == 1);
    dd_upload_free(u);
    count_files(beside, &files, &staged);
    CHECK(files == 2 && staged == 0);
    CHECK(raw_int(db, "SELECT COUNT(*) FROM artifact_upload") == 0);
    CHECK(run_gc(&(env){.st = st, .a = a}) == 0);
    dd_artifacts_close(a);

    /* inline_max 0: everything but an empty artifact goes to a file */
    cfg.inline_max = 0;
    CHECK_CODE(dd_artifacts_open(st, &cfg, &a, err), DD_OK, err);
    int64_t one = 0;
    CHECK_CODE(upload(a, data, 1, 1, exp, "one-byte", false, &one, err), DD_OK, err);
    CHECK_STR(row_backend(st, one, uri, sizeof uri), "filesystem");
    CHECK(reads_back(a, one, data, 1, 1));
    dd_artifacts_close(a);
    cfg.inline_max = -1;
    a = NULL;
    CHECK_CODE(dd_artifacts_open(st, &cfg, &a, err), DD_INVALID, err);
    CHECK(a == NULL);
    free(data);
}

/* Replace across the threshold both ways, and delete: a file goes at the commit. */
static void test_auto_replace(const char *db, dd_store *st, int64_t exp, const char *beside)
{
    dd_err err_buf = {0}, *err = &err_buf;
    dd_artifacts *a = NULL;
    dd_artifacts_config cfg = {.backend = "auto", .inline_max = 256 * 1024};
    CHECK_CODE(dd_artifacts_open(st, &cfg, &a, err), DD_OK, err);
    if (!a)
        return;
    unsigned char *big = make_bytes(MIB + 3, 311), *small = make_bytes(1000, 312);
    char uri[1400] = "", big_uri[1400] = "";
    int64_t id = 0, id2 = 0;
    int64_t chunks0 = chunk_rows(db);
    CHECK_CODE(upload(a, small, 1000, 333, exp, "flip", false, &id, err), DD_OK, err);
    CHECK_STR(row_backend(st, id, uri, sizeof uri), "inline");
    CHECK_CODE(upload(a, big, MIB + 3, 65536, exp, "flip", true, &id2, err), DD_OK, err);
    CHECK(id2 == id);
    CHECK_STR(row_backend(st, id, big_uri, sizeof big_uri), "filesystem");
    CHECK(reads_back(a, id, big, MIB + 3, 65536));
    CHECK(chunk_rows(db) == chunks0);                 /* the small bytes were freed */
    CHECK_CODE(upload(a, small, 1000, 1000, exp, "flip", true, &id2, err), DD_OK, err);
    CHECK_STR(row_backend(st, id, uri, sizeof uri), "inline");
    CHECK(!file_exists(big_uri + 7));                 /* the big file went at the commit */
    CHECK(reads_back(a, id, small, 1000, 999));
    CHECK_CODE(upload(a, big, MIB + 3, 65536, exp, "flip", true, &id2, err), DD_OK, err);
    CHECK_STR(row_backend(st, id, big_uri, sizeof big_uri), "filesystem");
    CHECK(file_exists(big_uri + 7));
    CHECK_CODE(dd_resource_delete(st, id, err), DD_OK, err);
    CHECK(!file_exists(big_uri + 7));
    CHECK(chunk_rows(db) == chunks0 && trash(st).count == 0);
    CHECK(run_gc(&(env){.st = st, .a = a}) == 0);
    dd_artifacts_close(a);
    free(big);
    free(small);
}

/* An explicit auto_root takes the moves; explicit backends never move. */
static void test_auto_root_and_explicit(dd_store *st, int64_t exp, const char *beside,
                                        const char *root)
{
    dd_err err_buf = {0}, *err = &err_buf;
    dd_artifacts *a = NULL;
    unsigned char *big = make_bytes(MIB, 321);
    char uri[1400] = "", prefix[1300];
    int64_t id = 0;
    char *real = NULL;
    dd_artifacts_config cfg = {.backend = "auto", .inline_max = 1000, .auto_root = root};
    CHECK_CODE(dd_artifacts_open(st, &cfg, &a, err), DD_OK, err);
    if (a) {
        CHECK_CODE(upload(a, big, MIB, 65536, exp, "to-root", false, &id, err), DD_OK, err);
        real = realpath(root, NULL);
        snprintf(prefix, sizeof prefix, "file://%s/", real ? real : root);
        CHECK_STR(row_backend(st, id, uri, sizeof uri), "filesystem");
        CHECK(strncmp(uri, prefix, strlen(prefix)) == 0);
        CHECK(reads_back(a, id, big, MIB, 65536));
        dd_artifacts_close(a);
    }
    free(real);
    dd_artifacts_config inl = {.backend = "inline", .inline_max = 1000};
    a = NULL;
    CHECK_CODE(dd_artifacts_open(st, &inl, &a, err), DD_OK, err);
    if (a) {
        CHECK(dd_artifacts_auto_root(a) == NULL);
        CHECK_CODE(upload(a, big, MIB, 65536, exp, "stays-inline", false, &id, err), DD_OK, err);
        CHECK_STR(row_backend(st, id, uri, sizeof uri), "inline");
        dd_artifacts_close(a);
    }
    (void)beside;
    free(big);
}

static void test_auto(const char *db, const char *root)
{
    DD_TEST_ONLY("sqlite");   /* "beside the database" needs a file (a server's: a root) */
    dd_err err_buf = {0}, *err = &err_buf;
    dd_store *st = NULL;
    int64_t proj = 0, exp = 0;
    char beside[1200], dir[1100];
    snprintf(dir, sizeof dir, "%s", db);
    *strrchr(dir, '/') = 0;
    char *real = realpath(dir, NULL);
    snprintf(beside, sizeof beside, "%s/%s.artifacts", real ? real : dir, strrchr(db, '/') + 1);
    free(real);
    rm_rf(beside);
    CHECK_CODE(dd_store_open(db, NULL, &st, err), DD_OK, err);
    if (!st)
        return;
    CHECK_CODE(dd_project_find(st, "art", &proj, err), DD_OK, err);
    CHECK_CODE(dd_experiment_create(st, proj, "auto", &exp, err), DD_OK, err);
    test_auto_threshold(db, st, exp, beside);
    test_auto_replace(db, st, exp, beside);
    test_auto_root_and_explicit(st, exp, beside, root);
    dd_store_close(st);
    rm_rf(beside);
}

/* ---------------------------------------------------------------- a 1.1 GiB artifact */

static void test_big(env *e)
{
    dd_err err_buf = {0}, *err = &err_buf;
    const size_t total = 1100 * MIB + 3, step = 4 * MIB;
    unsigned char *buf = malloc(step);
    char want[65];
    int64_t id = upload_pattern(e, "huge.bin", total, step, 111, buf, want, err);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    /* read it all back through the reader and hash again */
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    dd_artifact_reader *rd = NULL;
    CHECK_CODE(dd_artifact_open(e->a, id, &rd, err), DD_OK, err);
    size_t off = 0, got = 0;
    while (rd && dd_artifact_pread(rd, (int64_t)off, buf, step - 1, &got, err) == DD_OK && got) {
        EVP_DigestUpdate(md, buf, got);
        off += got;
    }
    dd_artifact_close(rd);
    EVP_DigestFinal_ex(md, digest, &dlen);
    char again[65];
    hex32(digest, again);
    CHECK(off == total);
    CHECK_STR(again, want);
    EVP_MD_CTX_free(md);
    CHECK_CODE(dd_resource_delete(e->st, id, err), DD_OK, err);
    CHECK(run_gc(e) == 1);
    CHECK(stray_chunks(e) == 0);
    free(buf);
}

/* ---------------------------------------------------------------- main */

int main(void)
{
    const char *t = getenv("DD_TEST_TMP");
    snprintf(g_tmp, sizeof g_tmp, "%s", t ? t : "/tmp");
    mkdir(g_tmp, 0755);
    char db[1100], root[1100];
    dd_test_locator(db, sizeof db, "artifacts");
    snprintf(root, sizeof root, "%s/artifacts-root", g_tmp);
    rm_rf(root);
    /* Forking first: children start from a process with no threads or connections yet. */
    test_crash();
    test_other_process_live();

    dd_err err_buf = {0}, *err = &err_buf;
    dd_store *st = NULL;
    CHECK_CODE(dd_store_open(db, NULL, &st, err), DD_OK, err);
    if (!st)
        return dd_test_done();
    int64_t proj = 0;
    CHECK_CODE(dd_project_create(st, 0, "art", &proj, err), DD_OK, err);
    test_config(st);

    const char *names[2] = {"inline", "filesystem"};
    for (int i = 0; i < 2; i++) {
        env e = {.label = names[i], .st = st, .fs = i == 1, .proj = proj};
        snprintf(e.db, sizeof e.db, "%s", db);
        snprintf(e.root, sizeof e.root, "%s", root);
        dd_artifacts_config cfg = {.backend = names[i], .fs_root = root};
        char exp_name[64];
        snprintf(exp_name, sizeof exp_name, "exp-%s", names[i]);
        CHECK_CODE(dd_experiment_create(st, proj, exp_name, &e.exp, err), DD_OK, err);
        CHECK_CODE(dd_artifacts_open(st, &cfg, &e.a, err), DD_OK, err);
        if (!e.a)
            continue;
        test_memory(&e);
        test_roundtrip(&e);
        test_abort(&e);
        test_replace(&e);
        test_in_use(&e);
        test_delete(&e);
        test_leftovers(&e);
        if (!e.fs)
            test_node_leases(&e);
        else
            test_node_staged(&e);
        test_legacy(&e);
        test_concurrent_metrics(&e);
        if (getenv("DD_TEST_BIG") && !e.fs)
            test_big(&e);
        dd_artifacts_close(e.a);
    }
    dd_store_close(st);
    test_mixed(db, root);
    test_auto(db, root);
    return dd_test_done();
}
