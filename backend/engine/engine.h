/*
 * engine.h - the table of store engine operations (docs/ENGINES.md §2.3), in the spirit of
 * curl's table of TLS backends: one constant `struct dd_engine` per engine, chosen at open
 * by the locator. db.c is the only caller; only engine_<name>.c includes the engine's own
 * library header. Private to the store.
 *
 * Contracts shared by every operation: a dd_code result carries a message in *err (err
 * may be NULL); `what` names the operation for that message; text and blob pointers of a
 * row are valid until the next step, reset or finalize of its statement. Connections are
 * used by one thread at a time (db.c guarantees it).
 */
#ifndef DD_ENGINE_H
#define DD_ENGINE_H

#include <stdarg.h>
#include <stddef.h>

#include "db.h"
#include "migrations.h"
#include "store.h"

typedef struct db_econn db_econn;   /* the engine's connection (SQLite's handle, ...) */
typedef struct db_estmt db_estmt;   /* the engine's prepared statement */

#define DD_ENG_ONE_WRITER (1u << 0) /* one writer per database: BEGIN takes it (sqlite) */
#define DD_ENG_ROW_LOCKS  (1u << 1) /* row locks exist and are needed: db_lock is real (pg) */
#define DD_ENG_RETRY      (1u << 2) /* transactions can end in DB_RETRY (pg) */
#define DD_ENG_NETWORK    (1u << 3) /* connections drop and reconnect; other nodes (pg) */
#define DD_ENG_FILE       (1u << 4) /* locator is a file: journals beside it (sqlite) */
#define DD_ENG_PAGE_CHECK (1u << 5) /* quick_check verifies storage pages (sqlite) */
#define DD_ENG_COPY       (1u << 6) /* bulk rows: copy_begin/row/end exist (pg: COPY FROM
                                       STDIN); without it they are NULL */

/* The engine's lock waits ask db.c when to give up: `first` is true on the first wait of
 * an episode. Returns a deadline in db_mono_ms() time. */
typedef double (*db_wait_fn)(void *ctx, bool first);

struct dd_engine {
    const char *name;                        /* "sqlite" */
    unsigned supports;                       /* DD_ENG_* */
    const dd_migration_set *migrations;      /* schema/<name>/, from its floor (migrations.h) */
    bool (*accepts)(const char *locator);

    /* connections: db.c opens one per thread, plus the store's writer. open applies the
     * engine's settings (lock waits through `wait`, foreign keys, read-only). */
    dd_code (*open)(const char *locator, bool read_only, db_wait_fn wait, void *wait_ctx,
                    db_econn **out, dd_err *err);
    void (*close)(db_econn *c);              /* also finalizes what close_stmt left */
    /* Before each use (db.c: a thread's connection outside a transaction, the writer at
     * every transaction attempt): DD_OK if usable; reconnects a dropped connection (true
     * in *reset: every statement prepared on it is gone, and db.c finalizes its cached
     * ones, so finalize must accept them); DD_BUSY while unreachable. */
    dd_code (*check)(db_econn *c, bool *reset, dd_err *err);
    /* the canonical locator (ENGINES.md §2.1): no password, safe to log; malloc'd */
    dd_code (*canonical)(const char *locator, char **out, dd_err *err);
    /* where journals of this registry go when none is configured: a path prefix, malloc'd */
    char *(*journal_base)(const char *canonical_locator);

    /* transactions */
    dd_code (*begin)(db_econn *c, db_txn_kind kind, dd_err *err);
    /* DD_OK only when committed; DB_RETRY when it certainly did not commit and may run
     * again (pg: the answer to COMMIT was lost and the server says aborted). */
    dd_code (*commit)(db_econn *c, dd_err *err);
    void (*rollback)(db_econn *c);           /* a no-op outside a transaction */
    /* Row locks (db.h db_lock, db_lock_children; ENGINES.md §3.3). db.c calls them only
     * inside a write transaction and only when `supports` has DD_ENG_ROW_LOCKS. lock: row
     * `id` of table `t` until the transaction ends, a missing row is not an error;
     * lock_children: DB_LOCK_DELETE on every row of `t` whose `parent` column is `id`,
     * in id order. A lock wait past the busy timeout is DD_BUSY; a deadlock DB_RETRY. */
    dd_code (*lock)(db_econn *c, db_lock_kind k, db_table t, int64_t id, dd_err *err);
    dd_code (*lock_children)(db_econn *c, db_table t, db_table parent, int64_t id,
                             dd_err *err);

    /* statements. bind clears the previous arguments and binds `fmt` (db.h's format). */
    dd_code (*prepare)(db_econn *c, const char *sql, db_estmt **out, dd_err *err);
    dd_code (*bind)(db_econn *c, db_estmt *s, const char *fmt, va_list ap, dd_err *err);
    /* DD_OK with *row true (a row) or false (done); on an error the statement is reset. */
    dd_code (*step)(db_econn *c, db_estmt *s, bool *row, const char *what, dd_err *err);
    void (*reset)(db_estmt *s);
    void (*finalize)(db_estmt *s);
    int64_t (*changes)(db_econn *c);         /* rows changed by the last statement */

    /* columns of the current row, as db.h's db_col_* (NULL: 0, 0.0, NULL text, (NULL,0)) */
    int (*col_count)(db_estmt *s);
    bool (*col_null)(db_estmt *s, int i);
    int64_t (*col_int64)(db_estmt *s, int i);
    double (*col_double)(db_estmt *s, int i);
    const char *(*col_text)(db_estmt *s, int i);
    const void *(*col_blob)(db_estmt *s, int i, size_t *len);

    /* whole database. prepare_schema: before migrations (SQLite: WAL), waiting up to
     * busy_timeout_ms for another opener; exec_script: one migration's SQL, its error as
     * the engine says it. */
    dd_code (*prepare_schema)(db_econn *c, int busy_timeout_ms, dd_err *err);
    dd_code (*exec_script)(db_econn *c, const char *sql, dd_err *err);
    dd_code (*quick_check)(db_econn *c, dd_err *err);       /* store.h dd_store_quick_check */
    dd_code (*check_integrity)(db_econn *c, dd_err *err);   /* dd_store_check_integrity */
    dd_code (*integrity)(db_econn *c, db_line_fn fn, void *ctx, dd_err *err); /* db.h */
    dd_code (*data_version)(db_econn *c, int64_t *out, dd_err *err);  /* dd_store_data_version */
    /* the database's clock in ms since the epoch (node leases, ENGINES.md §4.1): the
     * server's for a server, this machine's for a file */
    dd_code (*server_now_ms)(db_econn *c, int64_t *out, dd_err *err);
    dd_code (*blob_read)(db_econn *c, db_blob which, int64_t key, int64_t seq, int64_t off,
                         void *buf, size_t len, size_t *got, int64_t *total,
                         dd_err *err);                       /* db.h db_blob_read */
    /* db.h db_id_counter: raise table's id counter (the last id handed out: SQLite's
     * sqlite_sequence, PostgreSQL's identity sequence) to at least raise_to (0: leave it),
     * then read it into *out. */
    dd_code (*id_counter)(db_econn *c, const char *table, int64_t raise_to, int64_t *out,
                          dd_err *err);

    /* Write-ahead log upkeep (docs/ENGINES.md §2.3), for an engine whose commits append to
     * a log that a checkpoint copies back into the database (SQLite's WAL); NULL for the
     * others. wal_watch: commits on c no longer checkpoint themselves (SQLite's automatic
     * checkpoint is replaced) and each calls fn(ctx, pages), pages being the log's size
     * in pages after it, on the committing thread inside the commit (fn must be quick and
     * must not use c). checkpoint: one checkpoint on c; passive copies what no reader
     * still needs without waiting for anyone; otherwise it waits (c's lock waits) for the
     * writer and the readers, copies everything, and leaves the log to start over at the
     * next write. *log_pages / *done_pages: the log's size and how much of it is now in
     * the database (-1 when not known); a passive one is DD_OK also when another
     * checkpoint was under way, a restarting one DD_BUSY when its wait ran out (what
     * could be copied was, either way). Durability is the
     * connections' own (synchronous): a checkpoint syncs as an automatic one would. */
    void (*wal_watch)(db_econn *c, void (*fn)(void *ctx, int pages), void *ctx);
    dd_code (*checkpoint)(db_econn *c, bool passive, int *log_pages, int *done_pages,
                          dd_err *err);

    /* Bulk rows (db.h db_copy_*; only with DD_ENG_COPY), inside a write transaction:
     * copy_begin starts `COPY table(cols) FROM STDIN`; copy_row sends one row, its values
     * in the column order, formats as `bind` ('i', 'I', 'n' go to BIGINT columns only, 'd',
     * 't', 'b'; no 'z'); copy_end finishes (ok) or abandons (!ok) the copy and says
     * whether every row was stored; the connection takes statements again after it, and
     * a failed copy leaves the transaction to be rolled back. Between begin and end no
     * other statement may run on the connection. copy_end is called after every
     * successful copy_begin, whatever copy_row returned (rollback also ends a copy). */
    dd_code (*copy_begin)(db_econn *c, const char *table, const char *cols, dd_err *err);
    dd_code (*copy_row)(db_econn *c, const char *fmt, va_list ap, dd_err *err);
    dd_code (*copy_end)(db_econn *c, bool ok, const char *what, dd_err *err);
};

extern const struct dd_engine dd_engine_sqlite;
extern const struct dd_engine dd_engine_pg;

/* The engine whose accepts() takes the locator, from { &dd_engine_pg, &dd_engine_sqlite }:
 * pg takes postgresql:// and postgres://, sqlite anything without "scheme://". NULL for a
 * URI no engine takes. */
const struct dd_engine *dd_engine_for(const char *locator);

#endif /* DD_ENGINE_H */
