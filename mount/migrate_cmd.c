/*
 * migrate_cmd.c - `deardiary migrate-artifacts --to BACKEND`: move every artifact's bytes
 * to another backend (dd_artifacts_migrate), straight on the database, while it may be
 * mounted. A progress bar on stderr when it is a terminal; a summary line on stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "artifacts.h"
#include "commands.h"
#include "progress.h"

static void migrate_usage(FILE *out)
{
    fprintf(out,
            "usage: deardiary migrate-artifacts --to BACKEND [--db DB] [--keep-old]\n"
            "\n"
            "Moves the bytes of every resource to BACKEND (inline, filesystem or s3, configured\n"
            "as for `mount`: artifacts.filesystem.root, artifacts.s3.*). Each row switches only\n"
            "after its copy was read back from BACKEND with the row's sha256; a row that fails\n"
            "keeps its backend. Safe on a mounted database, idempotent, restartable: rows\n"
            "already in BACKEND are skipped. The old bytes are removed after each switch\n"
            "commits, unless --keep-old leaves them queued for the next mount's clean-up.\n"
            "Prints \"moved N, skipped N, failed N\"; exits 1 when a row failed.\n");
}

typedef struct bar {
    dd_bar bar;
    const char *to;
} bar;

static void draw(bar *b, const dd_migrate_stats *s, bool force)
{
    double frac = s->bytes_total > 0 ? (double)s->bytes_done / (double)s->bytes_total : 1.0;
    char label[64], detail[128];
    snprintf(label, sizeof label, "to %s", b->to);
    snprintf(detail, sizeof detail, "%lld rows, %.1f/%.1f MiB", (long long)s->rows,
             (double)s->bytes_done / 1048576.0, (double)s->bytes_total / 1048576.0);
    dd_bar_draw(&b->bar, label, frac, detail, force);
}

static void on_progress(void *ctx, const dd_migrate_stats *s)
{
    draw(ctx, s, false);
}

static void on_failure(void *ctx, int64_t id, const char *name, const dd_err *err)
{
    bar *b = ctx;
    dd_bar_end(&b->bar);
    fprintf(stderr, "deardiary migrate-artifacts: resource %lld (%s) stays where it is: %s\n",
            (long long)id, name, err->msg);
}

int dd_cmd_migrate_artifacts(const char *config_file, int argc, char **argv)
{
    const char *db = NULL, *to = NULL;
    bool keep_old = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            migrate_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc) {
            to = argv[++i];
        } else if (strncmp(argv[i], "--to=", 5) == 0) {
            to = argv[i] + 5;
        } else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
            db = argv[++i];
        } else if (strcmp(argv[i], "--keep-old") == 0) {
            keep_old = true;
        } else {
            fprintf(stderr, "deardiary migrate-artifacts: unexpected argument \"%s\"\n",
                    argv[i]);
            migrate_usage(stderr);
            return 2;
        }
    }
    if (!to) {
        fprintf(stderr, "deardiary migrate-artifacts: --to BACKEND is required\n");
        migrate_usage(stderr);
        return 2;
    }
    if (strcmp(to, "inline") != 0 && strcmp(to, "filesystem") != 0 && strcmp(to, "s3") != 0) {
        fprintf(stderr, "deardiary migrate-artifacts: unknown backend \"%s\" (inline,"
                " filesystem, s3)\n", to);
        return 2;
    }
    dd_config cfg;
    if (dd_cmd_load_config(&cfg, config_file) != 0)
        return 1;
    dd_store *st = NULL;
    dd_artifacts *arts = NULL;
    dd_err err = {0};
    int rc = dd_cmd_open_existing(&cfg, db ? db : cfg.db_file, "migrate-artifacts", &st) == 0
                 ? 0 : 1;
    /* the configured default backend does not matter here: `to` is the target */
    dd_artifacts_config ac = dd_cmd_artifacts_config(&cfg);
    ac.backend = "inline";
    /* a filesystem target needs its root to exist: create it as a mount would */
    if (strcmp(to, "filesystem") == 0)
        ac.backend = "filesystem";
    if (rc == 0 && dd_artifacts_open(st, &ac, &arts, &err) != DD_OK) {
        fprintf(stderr, "deardiary migrate-artifacts: %s\n", err.msg);
        rc = 1;
    }
    if (rc == 0) {
        bar b = {.bar = dd_bar_start(), .to = to};
        dd_migrate_hooks hooks = {.progress = on_progress, .failure = on_failure, .ctx = &b,
                                  .keep_old = keep_old};
        dd_migrate_stats s;
        dd_code code = dd_artifacts_migrate(arts, to, &hooks, &s, &err);
        draw(&b, &s, true);
        dd_bar_end(&b.bar);
        if (code != DD_OK) {
            fprintf(stderr, "deardiary migrate-artifacts: %s\n", err.msg);
            rc = 1;
        } else {
            printf("moved %lld, skipped %lld, failed %lld\n", (long long)s.moved,
                   (long long)s.skipped, (long long)s.failed);
            rc = s.failed ? 1 : 0;
        }
    }
    dd_artifacts_close(arts);
    dd_store_close(st);
    dd_config_free(&cfg);
    return rc;
}
