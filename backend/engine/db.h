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

/* Run a statement that returns no rows. */
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

/* BEGIN IMMEDIATE (waits for other writers up to the busy timeout), COMMIT, ROLLBACK.
 * db_begin replaces *c with the store's writer connection, held by this thread until
 * db_end: use *c for everything inside the transaction, and never start a second write
 * transaction inside one. db_end commits when `code` is DD_OK and rolls back otherwise;
 * a failed commit turns `code` into its error. Returns the final code. */
dd_code db_begin(dd_conn **c, dd_err *err);
/* db_conn then db_begin: the opening of every write function. */
dd_code db_write_begin(dd_store *st, dd_conn **c, dd_err *err);
/* db_write_begin, then db_iteration_writable: the opening of every write to an
 * iteration's own data. On an error nothing is left open (the caller just returns it). */
dd_code db_iteration_begin(dd_store *st, int64_t iteration_id, dd_conn **c, dd_err *err);
dd_code db_end(dd_conn *c, dd_code code, dd_err *err);

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
 * INSERT ... RETURNING id); when that transaction commits, db_end calls the store's trash hook with
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

/* The store's metric log slot (metric_log.c), its busy timeout, and whether the calling
 * thread is inside a write transaction (between db_begin and db_end). */
struct metric_log **db_metric_log_slot(dd_store *st);
/* One more change made through this store (dd_store_stats.writes): db_end calls it for
 * every commit, the metric log for every batch it accepts into its journal. */
void db_note_write(dd_store *st);
int db_busy_timeout_ms(const dd_store *st);
bool db_in_write_txn(dd_store *st);

/* Append points inside the caller's write transaction (metrics.c): the body of
 * dd_metric_append. `check_writable` false lets points accepted before their iteration
 * ended in (the metric log's replay and batches). */
dd_code db_metric_append_in(dd_conn *c, int64_t iteration_id, const char *key,
                            const dd_metric_point *points, size_t n, bool check_writable,
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

/* The engine's own check of the whole database (SQLite: integrity_check, then
 * foreign_key_check), one line per finding ("integrity_check: ..." or "foreign key:
 * ..."); nothing when sound. fn returns non-zero to stop. Foreign keys of model_alias to
 * model_version are left out: fsck's alias rule reports (and repairs) those. */
typedef int (*db_line_fn)(void *ctx, const char *line);
dd_code db_integrity_lines(dd_store *st, db_line_fn fn, void *ctx, dd_err *err);

/* Common guards used inside write transactions. */
/* DD_NOT_FOUND unless the row exists; DD_READ_ONLY when the iteration has ended. */
dd_code db_iteration_writable(dd_conn *c, int64_t iteration_id, dd_err *err);
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

/* Hash a password with bcrypt (libxcrypt). *out is malloc'd. */
dd_code dd_password_hash(const char *password, char **out, dd_err *err);

#endif /* DD_DB_H */
