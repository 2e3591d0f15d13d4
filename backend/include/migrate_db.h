/*
 * migrate_db.h - `deardiary migrate-db SRC DST`: copy a whole registry between store
 * engines (SQLite and PostgreSQL, either way), ids included (docs/ENGINES.md §3.4).
 *
 * The copy reads SRC in one read snapshot per run and writes DST in bounded transactions
 * (one page of one table each), in foreign-key order, so a killed run leaves DST holding
 * a prefix of every table it reached; the next run resumes each table after the last key
 * DST holds. DST must be an empty registry made by `deardiary init` (at the same schema
 * version as SRC) or the partial result of an earlier run from the same SRC: the first
 * transaction gives DST the registry uuid of SRC, which is how a rerun recognises it.
 *
 * Table list: dd_migrate_db_table, every table of the schema except schema_migrations
 * (the schema itself, the same on both at one version).
 */
#ifndef DD_MIGRATE_DB_H
#define DD_MIGRATE_DB_H

#include "store.h"

/* The i-th table copied, in copy (foreign-key) order; NULL past the last. */
const char *dd_migrate_db_table(size_t i);

/* Open SRC (read-only) and DST (read-write, without replaying any metric journal: a
 * journal of SRC's uuid must not land in DST) and check that they may be copied: not the
 * same registry, both at this deardiary's schema version (otherwise DD_INVALID naming
 * which to migrate first), DST empty or a partial run of SRC (otherwise DD_CONFLICT).
 * Changes nothing in either. On failure both are closed and NULL. */
dd_code dd_migrate_db_open(const char *src, const char *dst, const dd_store_options *opts,
                           dd_store **src_out, dd_store **dst_out, dd_err *err);

typedef struct dd_migrate_db_stats {
    const char *table;      /* the table being copied */
    int64_t rows_total;     /* rows of SRC, every table (in the run's snapshot) */
    int64_t rows_done;      /* rows in DST so far, resumed ones included */
    int64_t rows_copied;    /* rows this run copied */
    int64_t chunk_bytes;    /* inline artifact bytes this run copied */
    bool resumed;           /* DST held a partial run */
} dd_migrate_db_stats;

typedef struct dd_migrate_db_hooks {
    void (*progress)(void *ctx, const dd_migrate_db_stats *s);   /* after each page */
    void *ctx;
    int page_rows;          /* rows per transaction (0: 1000); artifact chunks go 4 at a time */
} dd_migrate_db_hooks;

/* Copy every row of every table from src to dst, then raise dst's id counters to src's
 * (ids are never reused afterwards), then compare the row count of every table of dst
 * with src's, read again after the copy (SRC must not change meanwhile: a difference is
 * DD_CONFLICT naming the table). Restartable after any failure or kill. */
dd_code dd_migrate_db_copy(dd_store *src, dd_store *dst, const dd_migrate_db_hooks *hooks,
                           dd_migrate_db_stats *stats, dd_err *err);

/* Every resource row of `st` in id order, for checking the bytes: fn returns non-zero to
 * stop. hash is "" when none was recorded. */
typedef int (*dd_migrate_db_resource_fn)(void *ctx, int64_t id, const char *name,
                                         const char *hash, bool broken);
dd_code dd_migrate_db_resources(dd_store *st, dd_migrate_db_resource_fn fn, void *ctx,
                                dd_err *err);

#endif /* DD_MIGRATE_DB_H */
