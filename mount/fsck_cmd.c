/*
 * fsck_cmd.c - `deardiary fsck [--repair] [DB]`: run the store's consistency checks
 * (backend/include/fsck.h) and print a report, one finding per line, then a summary.
 *
 * Exit status, as fsck(8) users expect: 0 nothing wrong; 1 problems found (with
 * --repair the summary says whether all of them were repaired); 2 usage error, or the
 * checks could not run (no such database, unreadable file, I/O error).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "artifacts.h"
#include "commands.h"
#include "fsck.h"

static void fsck_usage(FILE *out)
{
    fprintf(out,
            "usage: deardiary fsck [--repair] [-q] [DB]\n"
            "\n"
            "Checks the database (SQLite integrity and foreign keys), every resource's\n"
            "bytes against its backend and sha256, orphaned artifact bytes, and the registry\n"
            "invariants (one PRODUCTION version per model, version numbers, aliases, metric\n"
            "summaries). DB defaults to the configured `database`; the filesystem artifact root\n"
            "comes from the configuration too.\n"
            "  --repair    remove orphaned bytes, mark resources with missing or damaged bytes\n"
            "              broken (reads fail with EIO), fix counters, aliases and summaries\n"
            "  -q          print problems only, not notes\n"
            "Exit status: 0 clean, 1 problems found, 2 usage or I/O error.\n");
}

typedef struct report_ctx {
    bool quiet;
} report_ctx;

static void print_finding(void *arg, dd_fsck_kind kind, const char *line)
{
    const report_ctx *r = arg;
    static const char *const label[] = {
        [DD_FSCK_NOTE] = "note",
        [DD_FSCK_PROBLEM] = "PROBLEM",
        [DD_FSCK_REPAIRED] = "REPAIRED",
        [DD_FSCK_UNREPAIRED] = "NOT REPAIRED",
    };
    if (kind == DD_FSCK_NOTE && r->quiet)
        return;
    printf("%s: %s\n", label[kind], line);
}

/* Print the summary; returns the exit status. */
static int summarize(const char *db, const dd_fsck_summary *s, bool repair)
{
    printf("%s: %lld resources checked (%.1f MiB hashed)", db, (long long)s->resources,
           (double)s->bytes_hashed / (1024.0 * 1024.0));
    if (s->not_checked)
        printf(", %lld not checked", (long long)s->not_checked);
    if (s->problems == 0) {
        printf("; clean\n");
        return 0;
    }
    printf("; %lld problems", (long long)s->problems);
    if (repair && s->repaired == s->problems)
        printf(", all repaired\n");
    else if (repair)
        printf(", %lld repaired, %lld NOT repaired\n", (long long)s->repaired,
               (long long)(s->problems - s->repaired));
    else
        printf(" (run with --repair to fix what can be fixed)\n");
    return 1;
}

int dd_cmd_fsck(const char *config_file, int argc, char **argv)
{
    const char *db = NULL;
    bool repair = false;
    report_ctx rep = {false};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fsck_usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--repair") == 0) {
            repair = true;
        } else if (strcmp(argv[i], "-q") == 0) {
            rep.quiet = true;
        } else if (argv[i][0] != '-' && !db) {
            db = argv[i];
        } else {
            fsck_usage(stderr);
            return 2;
        }
    }
    dd_config cfg;
    if (dd_cmd_load_config(&cfg, config_file) != 0)
        return 2;
    const char *path = db ? db : cfg.db_file;
    int rc = 2;
    dd_store *st = NULL;
    dd_artifacts *arts = NULL;
    dd_err err = {0};
    if (dd_cmd_open_existing(&cfg, path, "fsck", &st) == 0) {
        dd_artifacts_config ac = dd_cmd_artifacts_config(&cfg);
        /* not dd_cmd_open_artifacts: it cleans up, and without --repair fsck changes
         * nothing. The default backend does not matter (fsck writes no new bytes), so an
         * s3 default without a service configured is no error: s3 rows are then noted
         * as not checked. */
        if (ac.backend && strcmp(ac.backend, "s3") == 0 && !(ac.s3_endpoint && *ac.s3_endpoint))
            ac.backend = NULL;
        if (dd_artifacts_open(st, &ac, &arts, &err) != DD_OK) {
            fprintf(stderr, "deardiary fsck: %s\n", err.msg);
        } else {
            dd_fsck_summary sum = {0};
            dd_code code = dd_fsck_run(arts, repair, print_finding, &rep, &sum, &err);
            fflush(stdout);
            if (code != DD_OK)
                fprintf(stderr, "deardiary fsck: %s\n", err.msg);
            else
                rc = summarize(dd_store_path(st), &sum, repair);
        }
    }
    dd_artifacts_close(arts);
    dd_store_close(st);
    dd_config_free(&cfg);
    return rc;
}
