/*
 * fsck.h - check a registry against itself and against its artifact stores
 * (`deardiary fsck`), and with `repair` fix what can be fixed safely.
 *
 * Checks, in order:
 *   1. SQLite: PRAGMA integrity_check and PRAGMA foreign_key_check.
 *   2. Every resource row's bytes, through a small per-backend dispatch (fsck.c): the
 *      backend's structural check (inline: contiguous chunks summing to the size;
 *      filesystem: the file exists with that size), then the bytes, read through the
 *      artifact reader API, must hash to the recorded sha256. Rows of a backend this build
 *      cannot read (s3) are noted as not checked.
 *   3. Orphaned bytes, per backend: inline chunk sets no resource, upload or trash entry
 *      refers to and uploads whose process is gone; staged files no live upload holds and
 *      files under a filesystem root that no row names.
 *   4. Registry invariants: at most one PRODUCTION version per model, version numbers
 *      unique and not above the model's counter, aliases pointing at versions of their own
 *      model, and metric_latest equal to what the metric rows say (count, latest point,
 *      next default step, text length), and its block summaries (metric_block) equal to
 *      what its points make, block by block; every series with points has its summary row.
 *
 * Repairs (with `repair`): orphaned bytes are removed (dd_artifacts_gc, then unnamed files
 * under the filesystem roots); a resource whose bytes are missing, short or wrong is
 * marked broken (reads then fail with EIO; the row stays as the record of what was lost),
 * and the mark is cleared when its bytes verify again; a model counter below its highest
 * version is raised; a dangling alias is removed; a wrong metric summary or block summary
 * is recomputed (both, for that series) from the points. Damage SQLite reports (integrity or foreign keys) and duplicate
 * PRODUCTION versions or version numbers are reported, never guessed at.
 *
 * Safe to run while the registry is mounted (uploads in progress are not orphans); a
 * repair is best run unmounted, since removing trashed inline bytes can fail a reader
 * of them in another process (artifacts.h, dd_artifacts_gc).
 */
#ifndef DD_FSCK_H
#define DD_FSCK_H

#include "artifacts.h"

typedef enum dd_fsck_kind {
    DD_FSCK_NOTE,          /* not a problem: a row not checked, bytes queued for removal */
    DD_FSCK_PROBLEM,       /* found (and, with repair, about to be repaired if it can) */
    DD_FSCK_REPAIRED,      /* a problem repair fixed */
    DD_FSCK_UNREPAIRED,    /* a problem that is still there after repair */
} dd_fsck_kind;

/* Called for every finding, in order, with a one-line description. */
typedef void (*dd_fsck_report_fn)(void *ctx, dd_fsck_kind kind, const char *line);

typedef struct dd_fsck_summary {
    int64_t resources;     /* resource rows looked at */
    int64_t bytes_hashed;  /* artifact bytes read and hashed */
    int64_t not_checked;   /* rows of a backend this build cannot read */
    int64_t problems;      /* problems found */
    int64_t repaired;      /* of those, repaired (repair only) */
} dd_fsck_summary;

/* Run every check over the store and artifact stores `a` (dd_artifacts_store(a) is the
 * store). `repair`: also repair (see above). Findings go to `report` as they are made.
 * DD_OK when the checks ran to the end (whatever they found: see *out); an error when one
 * could not run (the database could not be read, a root could not be listed). */
dd_code dd_fsck_run(dd_artifacts *a, bool repair, dd_fsck_report_fn report, void *ctx,
                    dd_fsck_summary *out, dd_err *err);

#endif /* DD_FSCK_H */
