/*
 * db.h - the store's private statement layer: this thread's connection, cached prepared
 * statements, typed binding and typed columns, write transactions and the mapping of the
 * engine's errors to dd_code. Nothing here names the engine (docs/ENGINES.md §2.2):
 * connections and statements are opaque, so entity files are the same on every engine.
 * Only the backend sources include this; everything above the store sees store.h alone.
 */
#ifndef DD_DB_H
#define DD_DB_H

#include <stdarg.h>
#include <stddef.h>

#include "store.h"

typedef struct dd_conn dd_conn;      /* one connection of this store (per thread, + writer) */
typedef struct db_stmt db_stmt;      /* a prepared statement cached on a connection */

/* The calling thread's connection, opened (and configured) on first use. */
dd_code db_conn(dd_store *st, dd_conn **out, dd_err *err);

/*
 * Prepare (or reuse) `sql` and bind arguments described by `fmt`, one char per
 * parameter: 'i' int64_t, 'I' int64_t stored as NULL when 0, 'n' int, 'd' double,
 * 't' const char * (NULL binds NULL), 'b' blob (const void *, size_t),
 * 'z' zero-filled blob of int64_t bytes. The statement is reset when handed out.
 * `sql` must be a string literal (its address keys the cache).
 */
dd_code db_prep(dd_conn *c, db_stmt **out, dd_err *err, const char *sql,
                const char *fmt, ...);
dd_code db_vprep(dd_conn *c, db_stmt **out, dd_err *err, const char *sql,
                 const char *fmt, va_list ap);

/* Step once: DD_OK with *row true (a row) or false (done), or an error. */
dd_code db_step(dd_conn *c, db_stmt *s, bool *row, const char *what, dd_err *err);
/* Done with a statement before its last row: release it (its cursor, read locks). */
void db_reset(db_stmt *s);

/* Step through every row of a prepared statement, calling fn(s, ctx) for each; a
 * non-zero return stops early. The statement is reset afterwards, whatever happened. */
typedef int (*db_row_fn)(db_stmt *s, void *ctx);
dd_code db_each(dd_conn *c, db_stmt *s, const char *what, db_row_fn fn, void *ctx,
                dd_err *err);

/* The first column (an id) of every row of `s`, in order, into a growing array the caller
 * frees (`ids->v`, `ids->n`; start from {0}). Out of memory: DD_IO "out of memory", with
 * the ids collected so far kept for the caller to free. */
typedef struct db_ids {
    int64_t *v;
    size_t n, cap;
} db_ids;
dd_code db_collect_ids(dd_conn *c, db_stmt *s, const char *what, db_ids *ids, dd_err *err);

/* Typed columns of the current row (0-based). NULL reads as 0, 0.0, "" or (NULL, 0). Text
 * and blob pointers are valid until the next step or reset of `s`. */
int db_col_count(db_stmt *s);
bool db_col_is_null(db_stmt *s, int col);
int64_t db_col_int64(db_stmt *s, int col);
int db_col_int(db_stmt *s, int col);
double db_col_double(db_stmt *s, int col);
const void *db_col_blob(db_stmt *s, int col, size_t *len);

/* What list functions hand to their db_row_fn: the caller's typed callback and context. */
typedef struct db_list_ctx {
    void *cb;
    void *ctx;
} db_list_ctx;

/* Run a statement that returns no rows. Outside a transaction (autocommit) a DB_RETRY
 * from the engine re-sends it, within the busy timeout, then DD_BUSY (as DB_TXN). */
dd_code db_exec(dd_conn *c, dd_err *err, const char *what, const char *sql, const char *fmt,
                ...);

/* Run a query expected to return one integer. DD_NOT_FOUND (with `what` in the message)
 * when it returns no row. */
dd_code db_int(dd_conn *c, int64_t *out, dd_err *err, const char *what, const char *sql,
               const char *fmt, ...);

/* New rows' ids come from INSERT ... RETURNING id through db_int (both engines accept
 * it; there is no last-insert-id call). */
#define db_insert_id db_int

/* Rows changed by the connection's last statement. */
int db_changes(dd_conn *c);

/* ---- transactions (docs/ENGINES.md §2.2, §3.3) */

/* What a transaction is for; each engine picks its own BEGIN (§2.3's `begin` row). */
typedef enum db_txn_kind {
    DB_TXN_READ,     /* one snapshot for several reads (fsck); not on the writer */
    DB_TXN_WRITE,    /* on the store's writer connection */
    DB_TXN_SCHEMA,   /* migrations: nodes migrate one at a time */
} db_txn_kind;

/* Private to the store, never returned by a dd_* function: the engine reports a
 * serialization failure, a deadlock or a connection lost before COMMIT was sent, and the
 * transaction is re-run (DB_TXN) or the autocommit statement re-sent (db_exec). */
#define DB_RETRY ((dd_code)1000)

/*
 * A transaction the store re-runs on DB_RETRY. Use it only through DB_TXN:
 *
 *     db_txn t;
 *     DB_TXN(t, st, DB_TXN_WRITE, err) {
 *         int64_t n = 0;                       // locals (re)initialised in the body
 *         t.code = db_lock(t.c, DB_LOCK_UPDATE, DB_T_MODEL, model_id, err);
 *         if (t.code == DD_OK) t.code = db_exec(t.c, ...);
 *     }
 *     if (t.code == DD_OK) *out = ...;          // outputs and outside effects after it
 *     return t.code;
 *
 * Body rules: the body may run several times, each time from a fresh transaction, so it
 * re-initialises every local it reads at its top, uses only t.c, and has no effect outside
 * the database (no file removal, no freeing of caller data, no output parameters): those
 * happen after the loop, from t.code. It never `return`s or `break`s out (the writer
 * would stay held); it sets t.code and falls through. Never start a second transaction
 * inside one.
 */
typedef struct db_txn {
    dd_store *st;
    db_txn_kind kind;
    dd_err *err;
    dd_conn *c;          /* use only this connection inside the body */
    dd_code code;        /* the body sets it; the final result after the loop */
    int attempt;         /* 1 on the first run of the body */
    double deadline_ms;  /* db_mono_ms() time: the first attempt's start + busy timeout */
    bool nested;         /* joined a dd_store_atomic transaction: its loop commits */
} db_txn;

void db_txn_start(db_txn *t, dd_store *st, db_txn_kind kind, dd_err *err);
/* First call: drain the metric log (DB_TXN_WRITE), take the writer, begin; true. Later
 * calls: commit if t->code is DD_OK, else roll back; when the outcome is DB_RETRY and the
 * deadline is not past, begin again after a jittered backoff (1, 2, 4 .. 100 ms) and
 * return true; otherwise false with t->code final (an exhausted retry becomes DD_BUSY
 * "...: gave up after N attempts: <engine message>", with one syslog line). Artifact
 * bytes queued by a committed write are handed to the trash hook after the writer is
 * released. */
bool db_txn_again(db_txn *t);
#define DB_TXN(t, st, kind, err) \
    for (db_txn_start(&(t), (st), (kind), (err)); db_txn_again(&(t));)

/* Row locks (§3.3). Kinds, from weakest: */
typedef enum db_lock_kind {
    DB_LOCK_SHARE,   /* the row must not change or go until commit (PG FOR SHARE) */
    DB_LOCK_UPDATE,  /* exclusive, but FK inserts of children pass (PG FOR NO KEY UPDATE) */
    DB_LOCK_DELETE,  /* also blocks children being inserted, before DELETE (PG FOR UPDATE) */
} db_lock_kind;
/* Tables that take row locks; declaration order is lock order (§3.3): a transaction takes
 * its locks in this order, so only cascades meeting each other can deadlock (retried). */
typedef enum db_table {
    DB_T_USER, DB_T_PROJECT, DB_T_MODEL, DB_T_EXPERIMENT, DB_T_ITERATION, DB_T_RESOURCE,
    DB_T_MODEL_VERSION, DB_T_TAG, DB_T_NODE, DB_T__COUNT
} db_table;
/* Lock row `id` of `table` until the transaction ends. A missing row is not an error (the
 * caller's own check reports DD_NOT_FOUND with its usual message). A no-op on an engine
 * whose writers already exclude each other (SQLite) and outside a transaction. */
dd_code db_lock(dd_conn *c, db_lock_kind kind, db_table table, int64_t id, dd_err *err);
/* Every row of `table` whose `parent` column is `id` (the iterations of an experiment,
 * ...), for cascades: DB_LOCK_DELETE on each, in id order. Same no-op cases. */
dd_code db_lock_children(dd_conn *c, db_table table, db_table parent, int64_t id,
                         dd_err *err);

/* Test hook (white-box unit tests only; nothing outside backend/ sees db.h): the next `n`
 * transaction attempts of this store, and autocommit db_exec calls outside one, end in
 * `code` (DB_RETRY to simulate serialization failures) instead of committing: the
 * transaction is rolled back, the statement not run. n = 0 clears it. */
void db_test_fail_next(dd_store *st, dd_code code, int n);
/* Test hook: the next `n` write transactions of this store commit, then report DD_IO
 * "commit result unknown", as a connection lost after COMMIT was sent does (§3.3). */
void db_test_lose_commits(dd_store *st, int n);

/*
 * Group commit: writes of several threads arriving together share one write transaction,
 * so a page they all touch (a metric series' tail, say) is written to the log once per
 * group instead of once per write. db_group_write queues fn(c, ctx, err); the first
 * caller that finds no group running takes every queued fn, begins one write transaction,
 * runs them in arrival order and commits once; callers arriving meanwhile form the next
 * group. Each caller gets its own fn's result, all or none: when a fn fails, the
 * transaction is rolled back, that caller gets its error and the others are run again in
 * a new transaction (so fn must leave nothing behind outside the database, and may run
 * more than once). If the transaction itself fails (begin, commit) nothing of the group
 * is stored and every remaining caller gets that error. Returns once the caller's fn is
 * committed or has failed. fn runs on whichever thread leads the group: it may use only
 * `c` and its ctx, must not begin a transaction, and must not keep results from a run
 * that was rolled back (each run overwrites them).
 */
typedef dd_code (*db_group_fn)(dd_conn *c, void *ctx, dd_err *err);
dd_code db_group_write(dd_store *st, db_group_fn fn, void *ctx, dd_err *err);
/* The same, where the writes of a group can be merged (one metric series' points of
 * several batches appended by one statement run): the group's leader calls many(c, ctxs,
 * n, &culprit, err) once with the contexts of every queued caller of the same `many`, in
 * arrival order. All or none still holds for each caller: on failure many() sets
 * *culprit to the index of the context that caused it, which gets the error while the
 * others run again; when it cannot tell (a merged write failed), it leaves *culprit as it
 * was (n) and the group is run again with many() called for one context at a time. */
typedef dd_code (*db_group_many_fn)(dd_conn *c, void **ctxs, size_t n, size_t *culprit,
                                    dd_err *err);
dd_code db_group_write_many(dd_store *st, db_group_many_fn many, void *ctx, dd_err *err);

/* Where this store's metric journals go (docs/ENGINES.md §4.3). db_journal_dir: the
 * directory of `<registry uuid>.<16 hex>.mlog` journals: the configured one, or for a
 * server registry the local default; NULL for a SQLite file without a configured one,
 * whose journals keep the legacy names `<db_journal_base>-mlog.<16 hex>` beside it.
 * db_journal_base is that legacy prefix (SQLite: the file; PostgreSQL: the name journals
 * had before the registry uuid, still replayed). */
const char *db_journal_dir(dd_store *st);
const char *db_journal_base(dd_store *st);
/* The registry's uuid (table registry, seeded at open); "" on a read-only store of a
 * schema older than 009. */
const char *db_registry_uuid(dd_store *st);
/* The database's clock in ms since the epoch (the server's on a server engine): leases. */
dd_code db_server_now_ms(dd_conn *c, int64_t *out, dd_err *err);

/* This store's node (node.c) without db.c naming it, as the metric log's slot: node.c
 * keeps its state in the slot and registers its stop, which dd_store_close calls after
 * the metric log's stop and before the connections close. */
struct dd_node **db_node_slot(dd_store *st);
void db_set_node_stop(dd_store *st, void (*stop)(dd_store *st));

/*
 * Bounded waits. Every wait of one store operation (draining the metric log, queueing
 * behind this process's writer mutex, SQLite's busy handler) shares one deadline, the
 * store's busy timeout after the operation's first wait began, so an operation that meets
 * a locked database answers DD_BUSY after one timeout, however many waits it queues in.
 * db_wait_begin opens a scope on the calling thread (a nested scope keeps the outer
 * deadline) and returns this thread's connection, NULL when it cannot be opened (the
 * caller's next db_conn reports why); db_wait_end closes it. db_wait_deadline is the
 * calling thread's deadline (now + timeout outside any scope). db_mono_ms: CLOCK_MONOTONIC
 * in milliseconds.
 */
dd_conn *db_wait_begin(dd_store *st);
void db_wait_end(dd_conn *c);
double db_wait_deadline(dd_store *st);
double db_mono_ms(void);

/*
 * Freeing deleted artifact bytes at once. Whoever queues rows in artifact_trash inside a
 * write transaction reports them with db_trash_queued (each row's id, from
 * INSERT ... RETURNING id); when that transaction commits, db_txn_again calls the store's trash hook with
 * their id range, after releasing the writer, so the hook may run its own transactions.
 * The artifact stores install the hook (dd_artifacts_open); NULL removes it. A caller
 * that disposes of its trash rows itself (migrate.c) reports nothing.
 */
typedef void (*db_trash_hook)(void *ctx, int64_t lo, int64_t hi);
void db_set_trash_hook(dd_store *st, db_trash_hook hook, void *ctx);
void db_trash_queued(dd_conn *c, int64_t trash_id);
/* Forget the trash rows queued so far in this transaction (the caller disposes of them
 * itself); returns the highest queued id, 0 when none. */
int64_t db_trash_take(dd_conn *c);

/*
 * The store's deferred writer (metric_log.c) without db.c naming it: metric_log.c keeps
 * its state in the slot and registers its drain and stop here when it starts. db.c calls
 * them (every write transaction drains first; dd_store_close stops), and so does any
 * reader that must see accepted points (db_drain). This way db.c needs nothing of
 * metric_log.c, and metrics.c (which metric_log.c calls to apply a batch) needs nothing
 * of it either: no two files need each other.
 */
typedef struct db_log_hooks {
    dd_code (*drain)(dd_store *st, dd_err *err);   /* store.h dd_metric_log_drain */
    void (*stop)(dd_store *st);                    /* store.h dd_metric_log_stop */
    void (*forget)(dd_store *st);    /* an iteration ended or went: cached checks are void */
} db_log_hooks;
struct metric_log **db_metric_log_slot(dd_store *st);
/* One more change made through this store (dd_store_stats.writes): every committed write
 * transaction (DB_TXN) calls it, the metric log every batch it accepts into its journal. */
void db_note_write(dd_store *st);
void db_set_log_hooks(dd_store *st, const db_log_hooks *hooks);   /* NULL: none */
/* Inside a write transaction that changes what the metric log's write() checks read (an
 * iteration ended or deleted; a series' max_step taken near INT64_MAX): when it finishes
 * (committed or not: forgetting is always safe), the metric log forgets the checks it
 * cached (docs/ARCHITECTURE.md "Metric appends", rule 6), before the caller's store call
 * returns. */
void db_forget_metric_checks(dd_conn *c);
/* Commit everything the metric log accepted so far (DD_OK at once without a log). */
dd_code db_drain(dd_store *st, dd_err *err);
/* The store's busy timeout, and whether the calling thread is inside a write
 * transaction (between a DB_TXN's begin and its commit or rollback). */
int db_busy_timeout_ms(const dd_store *st);
bool db_in_write_txn(dd_store *st);

/* Append points inside the caller's write transaction (metrics.c): the body of
 * dd_metric_append. `check_writable` false lets points accepted before their iteration
 * ended in (the metric log's replay and batches). */
dd_code db_metric_append_in(dd_conn *c, int64_t iteration_id, const char *key,
                            const dd_metric_point *points, size_t n, bool check_writable,
                            dd_err *err);
/* db_metric_append_in that also tells where the points went: the series' id and the
 * position of points[0] in it (the others follow, one apart). n must be > 0 for the id. */
dd_code db_metric_append_at(dd_conn *c, int64_t iteration_id, const char *key,
                            const dd_metric_point *points, size_t n, bool check_writable,
                            int64_t *series_id, int64_t *first_position, dd_err *err);

/* Metric rows waiting for their INSERT, from any number of series (metrics.c): a group of
 * REST batches puts a few points in each of many series, and one multi-row statement for
 * all of them costs less than a statement (or more) per series. Start zeroed. A row names
 * its series by id (metric_point.series_id = metric_latest.id, schema 014). */
#define DB_POINT_ROWS 64
typedef struct db_point_rows {
    int n;
    bool flush_failed;    /* a flush failed: the failure may be any pending row's */
    int64_t series_id[DB_POINT_ROWS], step[DB_POINT_ROWS], id[DB_POINT_ROWS];
    double value[DB_POINT_ROWS];
    char ts[DB_POINT_ROWS][DD_TS_LEN];
} db_point_rows;
/* db_metric_append_at without the iteration check (its lock is taken), with the points'
 * rows left in `rows` (flushed whenever it fills) rather than inserted at once: the
 * caller flushes before the transaction ends, and before anything reads `metric_point`. */
dd_code db_metric_append_pending(dd_conn *c, int64_t iteration_id, const char *key,
                                 const dd_metric_point *points, size_t n, db_point_rows *rows,
                                 int64_t *series_id, int64_t *first_position, dd_err *err);
/* Insert the pending rows (one statement per DB_POINT_ROWS, fewer for the remainder) and
 * empty `rows`; sets rows->flush_failed on failure. */
dd_code db_point_rows_flush(dd_conn *c, db_point_rows *rows, dd_err *err);

/* SQL: the id of the series (iteration ITER, key KEY), for `series_id = ` + this. ITER
 * and KEY are parameter texts ("?", "?1"). A scalar subquery, not a join: both engines
 * run it once and then scan metric_point's key range of that one series in (step, id)
 * order. No row: NULL, which matches no point. */
#define DB_SERIES_ID(iter, key) \
    "(SELECT id FROM metric_latest WHERE iteration_id = " iter " AND key = " key ")"

/* The block summaries of metric series (metric_blocks.c, schema/sqlite/009_metric_blocks.sql):
 * block b of a series holds positions DB_METRIC_BLOCK*b .. DB_METRIC_BLOCK*(b+1)-1. */
#define DB_METRIC_BLOCK 64
typedef struct db_block {
    bool stored;          /* the row exists (the batch updates it rather than inserting) */
    int64_t block;
    int64_t n;            /* 0: empty (nothing to store) */
    bool ordered;
    int64_t first_step, last_step, lo_id, lo_step, hi_id, hi_step;
    double first_value, last_value, lo_value, hi_value;
} db_block;
/* The columns of metric_block that db_block_from_row reads, from its column `col` on, for
 * a LEFT JOIN of the block `b` (all NULL: no such block). */
#define DB_BLOCK_COLS "b.n, b.ordered, b.first_step, b.first_value, b.last_step," \
                      " b.last_value, b.lo_id, b.lo_step, b.lo_value, b.hi_id, b.hi_step," \
                      " b.hi_value"
void db_block_from_row(db_stmt *s, int col, int64_t block, db_block *b);
/* Add the point at `position` (the next one of the series) to *b; when it belongs to a
 * later block than *b, *b is stored first and starts over as that block. */
dd_code db_block_add(dd_conn *c, int64_t iteration_id, const char *key, db_block *b,
                     int64_t position, int64_t step, double value, dd_err *err);
/* Fold the point at `position` into *b, which is empty or that point's block (fsck
 * computes blocks with it, without storing). */
void db_block_fold(db_block *b, int64_t position, int64_t step, double value);
/* Write *b (when it holds points): one INSERT or UPDATE. */
dd_code db_block_store(dd_conn *c, int64_t iteration_id, const char *key, db_block *b,
                       dd_err *err);

/* A column as a heap copy ("" for NULL); NULL only when out of memory. */
char *db_col_dup(db_stmt *s, int col);
/* A column copied into a DD_TS_LEN buffer ("" for NULL). */
void db_col_ts(db_stmt *s, int col, char out[DD_TS_LEN]);
/* A column as text, "" for NULL; valid until the next step or reset. */
const char *db_col_text(db_stmt *s, int col);

/* ---- whole-database operations the engine does its own way */

/* Read one stored blob without loading it whole: chunk `seq` of inline chunk set `key`
 * (DB_BLOB_CHUNK), or the legacy resource.data of resource `key` (DB_BLOB_RESOURCE_DATA).
 * Copies min(len, size - off) bytes at `off` (none when off >= size) into buf; *got is
 * how many, *total the blob's size. DD_NOT_FOUND (no message the caller should show)
 * when there is no such blob (no row; for resource data also a NULL column). */
typedef enum db_blob { DB_BLOB_CHUNK, DB_BLOB_RESOURCE_DATA } db_blob;
dd_code db_blob_read(dd_conn *c, db_blob which, int64_t key, int64_t seq, int64_t off,
                     void *buf, size_t len, size_t *got, int64_t *total, dd_err *err);

/* The id counter of `table` (an id column that never reuses ids: SQLite AUTOINCREMENT,
 * PostgreSQL identity): the last id handed out, after raising it to at least raise_to
 * (0 leaves it). migrate-db copies ids and then raises the counters, so that rows created
 * afterwards never take an id the source had used. PostgreSQL: a raise is not undone by a
 * rollback (sequences are not transactional). */
dd_code db_id_counter(dd_conn *c, const char *table, int64_t raise_to, int64_t *out,
                      dd_err *err);

/* Bulk rows, where the engine has them (PostgreSQL's COPY FROM STDIN: no per-row parse,
 * plan and executor start, rows sent in a stream rather than one statement a round trip).
 * db_can_copy says whether it has; callers keep their INSERTs for the engines that do not.
 * Only inside a write transaction (DD_IO "internal" otherwise). db_copy_begin starts a
 * copy into table(cols); db_copy_row adds one row (fmt as db_prep, one letter a column,
 * integers into BIGINT columns only); db_copy_end ends it: ok false abandons it (after a
 * failed row), and the result is DD_OK only when every row was stored. Call db_copy_end
 * after every successful db_copy_begin; no other statement on c in between. */
bool db_can_copy(dd_conn *c);
dd_code db_copy_begin(dd_conn *c, const char *table, const char *cols, dd_err *err);
dd_code db_copy_row(dd_conn *c, dd_err *err, const char *fmt, ...);
dd_code db_copy_end(dd_conn *c, bool ok, const char *what, dd_err *err);

/* The engine's own check of the whole database (SQLite: integrity_check, then
 * foreign_key_check), one line per finding ("integrity_check: ..." or "foreign key:
 * ..."); nothing when sound. fn returns non-zero to stop. Foreign keys of model_alias to
 * model_version are left out: fsck's alias rule reports (and repairs) those. */
typedef int (*db_line_fn)(void *ctx, const char *line);
/* A db_line_fn that keeps the first line in ctx, a char[DD_ERR_MSG_MAX] (cut to fit: it
 * goes into a message), and stops: the engines' check_integrity. */
int db_first_line(void *ctx, const char *line);
dd_code db_integrity_lines(dd_store *st, db_line_fn fn, void *ctx, dd_err *err);

/* Common guards used inside write transactions. */
/* Lock, then check (§2.2): DB_LOCK_UPDATE on the iteration, then DD_NOT_FOUND unless the
 * row exists, DD_READ_ONLY when the iteration has ended. Every write to an iteration's own
 * data opens with it, so on PG one writer per iteration at a time. */
dd_code db_iteration_writable(dd_conn *c, int64_t iteration_id, dd_err *err);
/* Step `s`, a query whose first column is an iteration's end_date (NULL while it runs),
 * and say DD_NOT_FOUND without a row, DD_READ_ONLY when it has ended: the messages of
 * db_iteration_writable, for a caller whose query reads more columns beside it. The
 * caller resets `s`. */
dd_code db_iteration_step_writable(dd_conn *c, db_stmt *s, int64_t iteration_id, bool *row,
                                   dd_err *err);
/* The project an iteration, experiment or resource belongs to. */
dd_code db_project_of_iteration(dd_conn *c, int64_t iteration_id, int64_t *out, dd_err *err);
dd_code db_project_of_resource(dd_conn *c, int64_t resource_id, int64_t *out, dd_err *err);

/* Inside a write transaction: delete one iteration with its data (children survive,
 * unparented), or one resource (external bytes queued in artifact_trash). DD_IN_USE when a
 * model version references the row. */
dd_code db_delete_iteration(dd_conn *c, int64_t id, dd_err *err);
dd_code db_delete_resource(dd_conn *c, int64_t id, dd_err *err);

/* Inside a write transaction: queue the bytes of resource `id` in artifact_trash (its
 * external uri, or its inline chunk set; legacy resource.data goes with the row). */
dd_code db_queue_resource_bytes(dd_conn *c, int64_t id, dd_err *err);

/* ---- resource bytes, for the artifact stores (artifacts.c; implemented in resources.c) */

/* Where a resource's bytes are. */
typedef struct db_resource_bytes {
    char backend[16];       /* "inline", "filesystem", "s3" */
    char *uri;              /* malloc'd; "" for inline */
    int64_t size;
    int64_t chunk_set;      /* 0: none (legacy data column, empty, or external) */
    bool legacy_data;       /* resource.data holds the bytes */
    bool broken;            /* marked by fsck --repair: the bytes are missing or damaged */
    char hash[65];          /* the recorded sha256 (lower-case hex; "" when none) */
    int64_t generation;     /* bumped each time the bytes are replaced */
} db_resource_bytes;

/* DD_NOT_FOUND for an unknown resource. Free out->uri. */
dd_code db_resource_locate(dd_conn *c, int64_t id, db_resource_bytes *out, dd_err *err);

/* Inside a write transaction: make resource `name` of the experiment hold the described
 * bytes (chunk_set 0 for none). A new name inserts a row (the experiment must be
 * IN_PROGRESS); an existing one is DD_CONFLICT unless `replace`, which updates the row in
 * place (same id; the experiment must be IN_PROGRESS; DD_IN_USE when a model version uses
 * it), queuing the old bytes in artifact_trash and setting updated_date. */
dd_code db_resource_put_bytes(dd_conn *c, int64_t experiment_id, const char *name, bool replace,
                              const char *backend, const char *uri, int64_t size,
                              const char *hash, int64_t chunk_set, int64_t *id_out,
                              dd_err *err);

/* Simple text column update: UPDATE <sql> with (value, id); DD_NOT_FOUND for no row. */
dd_code db_update_text(dd_store *st, const char *sql, int64_t id, const char *value,
                       const char *what, dd_err *err);
/* The same, with updated_date: <sql> binds (value, dd_now(), id). The time comes from C,
 * never from SQL, so every engine stores the same canonical text. */
dd_code db_update_text_ts(dd_store *st, const char *sql, int64_t id, const char *value,
                          const char *what, dd_err *err);

/* The store object without its metric log: dd_store_open (store_open.c) is db_store_open,
 * then the metric log's recovery, so db.c never calls into metric_log.c. */
dd_code db_store_open(const char *locator, const dd_store_options *opts, dd_store **out,
                      dd_err *err);

/* Hash a password with bcrypt (libxcrypt). *out is malloc'd. */
dd_code dd_password_hash(const char *password, char **out, dd_err *err);

#endif /* DD_DB_H */
