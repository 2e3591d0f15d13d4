/*
 * migrate_db_cmd.c - `deardiary migrate-db SRC DST`: copy a whole registry to another
 * store engine (dd_migrate_db_*, migrate_db.h), then check it: row counts of every table
 * (in the backend) and the sha256 of every artifact read back through DST (here, through
 * the artifact stores of this configuration). A progress bar on stderr when it is a
 * terminal; a summary line on stdout.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "artifacts.h"
#include "commands.h"
#include "migrate_db.h"
#include "progress.h"

#define HASH_BUF ((size_t)1 << 20)

static void usage(FILE *out)
{
    fprintf(out,
            "usage: deardiary migrate-db SRC DST\n"
            "       deardiary migrate-db --tables   (the tables copied, in order)\n"
            "\n"
            "Copies the whole registry SRC into DST, each a SQLite path or a postgresql:// URI,\n"
            "ids, versions, counters and inline artifact chunks included. DST must be an empty\n"
            "registry just made by `deardiary init DST`, at the same schema version as SRC.\n"
            "Nothing may write to SRC meanwhile (stop its mounts and servers). Restartable: run\n"
            "it again after an interruption and it continues. Filesystem and s3 artifacts are\n"
            "not copied: DST's rows point to the same bytes, so DST's configuration must reach\n"
            "them (artifacts.filesystem.root, artifacts.s3.*). At the end every table's row\n"
            "count is compared and every artifact is read back through DST and its sha256\n"
            "checked; exits 1 on any difference.\n");
}

typedef struct bar {
    dd_bar bar;
} bar;

static void draw(bar *b, const dd_migrate_db_stats *s, bool force)
{
    double frac = s->rows_total > 0 ? (double)s->rows_done / (double)s->rows_total : 1.0;
    char detail[160];
    snprintf(detail, sizeof detail, "%lld/%lld rows, %.1f MiB inline, %s",
             (long long)s->rows_done, (long long)s->rows_total,
             (double)s->chunk_bytes / 1048576.0, s->table ? s->table : "");
    dd_bar_draw(&b->bar, "copying", frac, detail, force);
}

static void on_progress(void *ctx, const dd_migrate_db_stats *s)
{
    draw(ctx, s, false);
}

/* sha256 of a resource's bytes, through `a`, into hex[65]. */
static dd_code hash_resource(dd_artifacts *a, int64_t id, unsigned char *buf, char hex[65],
                             dd_err *err)
{
    dd_artifact_reader *r = NULL;
    dd_code code = dd_artifact_open(a, id, &r, err);
    EVP_MD_CTX *md = code == DD_OK ? EVP_MD_CTX_new() : NULL;
    if (code == DD_OK && (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1))
        code = dd_fail(err, DD_IO, "cannot start a sha256 digest");
    int64_t size = code == DD_OK ? dd_artifact_size(r) : 0;
    for (int64_t off = 0; code == DD_OK && off < size;) {
        size_t got = 0;
        code = dd_artifact_pread(r, off, buf, HASH_BUF, &got, err);
        if (code == DD_OK && got == 0)
            code = dd_fail(err, DD_IO, "the bytes end at %lld of %lld", (long long)off,
                           (long long)size);
        if (code == DD_OK && EVP_DigestUpdate(md, buf, got) != 1)
            code = dd_fail(err, DD_IO, "sha256 failed");
        off += (int64_t)got;
    }
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (code == DD_OK && EVP_DigestFinal_ex(md, d, &n) != 1)
        code = dd_fail(err, DD_IO, "sha256 failed");
    for (unsigned int i = 0; code == DD_OK && i < n && i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    EVP_MD_CTX_free(md);
    dd_artifact_close(r);
    return code;
}

typedef struct check {
    dd_artifacts *src, *dst;
    unsigned char *buf;
    bar *b;
    int64_t checked, broken, bad;
} check;

static void report_bad(check *k, int64_t id, const char *name, const char *why)
{
    dd_bar_end(&k->b->bar);
    fprintf(stderr, "deardiary migrate-db: resource %lld (%s): %s\n", (long long)id, name, why);
    k->bad++;
}

/* One resource: DST's bytes against the recorded sha256, or SRC's bytes when none was
 * recorded. A resource fsck marked broken is counted, not read (its bytes are gone in
 * SRC too). */
static int check_resource(void *ctx, int64_t id, const char *name, const char *hash, bool broken)
{
    check *k = ctx;
    if (broken) {
        k->broken++;
        return 0;
    }
    dd_err err = {0};
    char got[65] = "", want[65] = "";
    if (hash_resource(k->dst, id, k->buf, got, &err) != DD_OK) {
        char why[600];
        snprintf(why, sizeof why, "cannot be read through DST: %s (filesystem and s3"
                 " artifacts stay where they are: DST's configuration must reach them)",
                 err.msg);
        report_bad(k, id, name, why);
        return 0;
    }
    if (hash[0])
        snprintf(want, sizeof want, "%s", hash);
    else if (hash_resource(k->src, id, k->buf, want, &err) != DD_OK) {
        char why[600];
        snprintf(why, sizeof why, "cannot be read through SRC to compare: %s", err.msg);
        report_bad(k, id, name, why);
        return 0;
    }
    if (strcmp(got, want) != 0) {
        char why[200];
        snprintf(why, sizeof why, "sha256 %s in DST, expected %s", got, want);
        report_bad(k, id, name, why);
    }
    k->checked++;
    return 0;
}

/* Every artifact of DST, read back through this configuration's artifact stores. */
static int check_artifacts(const dd_config *cfg, dd_store *src, dd_store *dst, bar *b,
                           int64_t *checked)
{
    dd_artifacts_config ac = dd_cmd_artifacts_config(cfg);
    check k = {.buf = malloc(HASH_BUF), .b = b};
    dd_err err = {0};
    dd_code code = k.buf ? DD_OK : dd_fail(&err, DD_IO, "out of memory");
    if (code == DD_OK)
        code = dd_artifacts_open(src, &ac, &k.src, &err);
    if (code == DD_OK)
        code = dd_artifacts_open(dst, &ac, &k.dst, &err);
    if (code == DD_OK)
        code = dd_migrate_db_resources(dst, check_resource, &k, &err);
    if (code != DD_OK)
        fprintf(stderr, "deardiary migrate-db: checking the artifacts: %s\n", err.msg);
    dd_artifacts_close(k.src);
    dd_artifacts_close(k.dst);
    free(k.buf);
    *checked = k.checked;
    if (k.broken)
        fprintf(stderr, "deardiary migrate-db: %lld resources marked broken (fsck) were not"
                " checked\n", (long long)k.broken);
    return code == DD_OK && k.bad == 0 ? 0 : 1;
}

int dd_cmd_migrate_db(const char *config_file, int argc, char **argv)
{
    const char *loc[2] = {NULL, NULL};
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--tables") == 0) {   /* what is copied, in order (tests) */
            for (size_t k = 0; dd_migrate_db_table(k); k++)
                printf("%s\n", dd_migrate_db_table(k));
            return 0;
        }
        if (argv[i][0] == '-' || n == 2) {
            fprintf(stderr, "deardiary migrate-db: unexpected argument \"%s\"\n", argv[i]);
            usage(stderr);
            return 2;
        }
        loc[n++] = argv[i];
    }
    if (n != 2) {
        fprintf(stderr, "deardiary migrate-db: SRC and DST are required\n");
        usage(stderr);
        return 2;
    }
    dd_config cfg;
    if (dd_cmd_load_config(&cfg, config_file) != 0)
        return 1;
    dd_store_options opts = {.busy_timeout_ms = cfg.busy_timeout_ms};
    dd_store *src = NULL, *dst = NULL;
    dd_err err = {0};
    int rc = 0;
    if (dd_migrate_db_open(loc[0], loc[1], &opts, &src, &dst, &err) != DD_OK) {
        fprintf(stderr, "deardiary migrate-db: %s\n", err.msg);
        rc = 1;
    }
    bar b = {.bar = dd_bar_start()};
    dd_migrate_db_stats s = {0};
    if (rc == 0) {
        dd_migrate_db_hooks hooks = {.progress = on_progress, .ctx = &b};
        dd_code code = dd_migrate_db_copy(src, dst, &hooks, &s, &err);
        draw(&b, &s, true);
        dd_bar_end(&b.bar);
        if (code == DD_OK)   /* DST's recorded artifact root follows its new uuid */
            code = dd_artifacts_root_follow_uuid(src, dst, &err);
        if (code != DD_OK) {
            fprintf(stderr, "deardiary migrate-db: %s\n", err.msg);
            rc = 1;
        }
    }
    int64_t checked = 0;
    if (rc == 0)
        rc = check_artifacts(&cfg, src, dst, &b, &checked);
    if (rc == 0)
        printf("copied %lld rows (%lld in DST already%s), %.1f MiB of inline artifacts;"
               " row counts match, %lld artifacts verified\n", (long long)s.rows_copied,
               (long long)(s.rows_done - s.rows_copied), s.resumed ? ", resumed" : "",
               (double)s.chunk_bytes / 1048576.0, (long long)checked);
    dd_store_close(src);
    dd_store_close(dst);
    dd_config_free(&cfg);
    return rc;
}
