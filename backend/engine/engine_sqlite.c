/*
 * engine_sqlite.c - the SQLite store engine: every SQLite call of the store (engine.h).
 *
 * Why these settings: one connection per thread, because SQLite connections are not meant
 * to be shared by concurrent threads, and WAL lets each reader see a consistent snapshot
 * while one writer commits. Writers take BEGIN IMMEDIATE so that two transactions never
 * both read and then fight over the write lock (which SQLite reports as an immediate
 * SQLITE_BUSY that no busy handler can resolve).
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"

struct db_econn {
    sqlite3 *db;
    db_wait_fn wait;            /* db.c's deadline for lock waits ... */
    void *wait_ctx;             /* ... with this */
    /* statements run on every write or chunk read, prepared on first use */
    sqlite3_stmt *begin_write, *begin_read, *commit, *chunk_id;
    struct wal_watcher {        /* sq_wal_watch's: told the WAL's size after each commit */
        void (*fn)(void *ctx, int pages);
        void *ctx;
    } watcher;
};

/* db_estmt is SQLite's own statement: the pointer is converted, never dereferenced. */
static sqlite3_stmt *S(db_estmt *s) { return (sqlite3_stmt *)(void *)s; }

/* ---------------------------------------------------------------- errors */

/* Map the connection's last SQLite error (rc: the failing call's result) to a dd_code and
 * a message about `what`. */
static dd_code sq_error(db_econn *c, int rc, const char *what, dd_err *err)
{
    const char *detail = c && c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc);
    int ext = c && c->db ? sqlite3_extended_errcode(c->db) : rc;
    switch (ext) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        return dd_fail(err, DD_CONFLICT, "%s: already exists", what);
    case SQLITE_CONSTRAINT_CHECK:
    case SQLITE_CONSTRAINT_NOTNULL:
        return dd_fail(err, DD_INVALID, "%s: invalid value (%s)", what, detail);
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return dd_fail(err, DD_IN_USE, "%s: still referenced", what);
    default:
        break;
    }
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return dd_fail(err, DD_BUSY, "%s: database is busy (%s)", what, detail);
    case SQLITE_READONLY:
        return dd_fail(err, DD_READ_ONLY, "%s: database is read-only (%s)", what, detail);
    case SQLITE_FULL:
        return dd_fail(err, DD_NO_SPACE, "%s: %s", what, detail);
    case SQLITE_TOOBIG:
        return dd_fail(err, DD_TOO_BIG, "%s: %s (a value holds at most %d bytes)", what,
                       detail, DD_VALUE_MAX);
    default:
        break;
    }
    /* A damaged file, wherever it is met (the first statement's header read, the open's
     * own first writes, a page a listing reads): said first, then what was being done.
     * Which page a damage hits is chance (test_bad_input.py overwrites the middle one:
     * since schema 014 that is the registry table's, written at every open). */
    if ((rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB)
        return dd_fail(err, DD_IO, "not a valid DearDiary database: %s (%s)", detail, what);
    /* A full disk met while growing the -shm or -wal file comes back as an I/O error
     * whose system errno says what happened. */
    int sys = c && c->db ? sqlite3_system_errno(c->db) : 0;
    return dd_fail(err, sys == ENOSPC || sys == EDQUOT ? DD_NO_SPACE : DD_IO, "%s: %s", what,
                   detail);
}

/* ---------------------------------------------------------------- connections */

/* A path: anything but a URI ("scheme://...", which another engine may take). */
static bool sq_accepts(const char *locator)
{
    const char *p = locator;
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
        return true;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
           *p == '+' || *p == '.' || *p == '-')
        p++;
    return strncmp(p, "://", 3) != 0;
}

/* SQLite's busy handler: sleep (SQLite's own back-off, 1 ms up to 100 ms) until db.c's
 * deadline for this wait. Returns 0 (give up: SQLITE_BUSY) then. */
static int busy_wait(void *arg, int count)
{
    static const int delays[] = {1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100};
    db_econn *c = arg;
    double deadline = c->wait(c->wait_ctx, count == 0);
    double now = db_mono_ms();
    if (now >= deadline)
        return 0;
    int n = (int)(sizeof delays / sizeof delays[0]);
    double ms = delays[count < n ? count : n - 1];
    if (ms > deadline - now)
        ms = deadline - now;
    sqlite3_sleep(ms < 1 ? 1 : (int)ms);
    return 1;
}

static void sq_close(db_econn *c)
{
    if (!c)
        return;
    sqlite3_finalize(c->begin_write);
    sqlite3_finalize(c->begin_read);
    sqlite3_finalize(c->commit);
    sqlite3_finalize(c->chunk_id);
    sqlite3_close_v2(c->db);
    free(c);
}

static dd_code configure(db_econn *c, bool read_only, dd_err *err)
{
    sqlite3_busy_handler(c->db, busy_wait, c);
    sqlite3_extended_result_codes(c->db, 1);
    /* NORMAL in WAL mode: a commit survives a crash of this process (it is in the WAL
     * file); only an OS crash or power loss can lose the last commits. */
    const char *pragmas = read_only
        ? "PRAGMA foreign_keys=ON; PRAGMA query_only=ON;"
        : "PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;";
    int rc = sqlite3_exec(c->db, pragmas, NULL, NULL, NULL);
    /* the first statement reads the file's header: a damaged file is found here (sq_error
     * names it) */
    if (rc != SQLITE_OK)
        return sq_error(c, rc, "configuring the database connection", err);
    return DD_OK;
}

static dd_code sq_open(const char *path, bool read_only, db_wait_fn wait, void *wait_ctx,
                       db_econn **out, dd_err *err)
{
    db_econn *c = calloc(1, sizeof *c);
    if (!c)
        return dd_fail(err, DD_IO, "out of memory");
    c->wait = wait;
    c->wait_ctx = wait_ctx;
    int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    flags |= SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path, &c->db, flags, NULL);
    dd_code code = DD_OK;
    if (rc != SQLITE_OK)
        code = dd_fail(err, DD_IO, "cannot open database %s: %s", path,
                       c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
    if (code == DD_OK)
        code = configure(c, read_only, err);
    if (code != DD_OK) {
        sq_close(c);
        return code;
    }
    *out = c;
    return DD_OK;
}

/* ---------------------------------------------------------------- transactions */

/* Run a statement without arguments or rows, prepared once into *slot. */
static dd_code run_cached(db_econn *c, sqlite3_stmt **slot, const char *sql, const char *what,
                          dd_err *err)
{
    int rc = SQLITE_OK;
    if (!*slot) {
        rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL);
        if (rc != SQLITE_OK)
            return sq_error(c, rc, "preparing a query", err);
    }
    rc = sqlite3_step(*slot);
    dd_code code = rc == SQLITE_DONE ? DD_OK : sq_error(c, rc, what, err);
    sqlite3_reset(*slot);
    return code;
}

static dd_code sq_begin(db_econn *c, db_txn_kind kind, dd_err *err)
{
    /* IMMEDIATE: take the write lock now (waiting in the busy handler), not at the first
     * write, where a lost race could not be waited out */
    return kind == DB_TXN_READ
        ? run_cached(c, &c->begin_read, "BEGIN", "starting a read transaction", err)
        : run_cached(c, &c->begin_write, "BEGIN IMMEDIATE", "starting a write transaction", err);
}

static dd_code sq_commit(db_econn *c, dd_err *err)
{
    return run_cached(c, &c->commit, "COMMIT", "committing", err);
}

static void sq_rollback(db_econn *c)
{
    if (!sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

/* BEGIN IMMEDIATE already excludes every other writer of the file, so a write
 * transaction's reads cannot be invalidated by anyone: row locks have nothing to add (the
 * engine does not set DD_ENG_ROW_LOCKS; these exist for the table's completeness). */
static dd_code sq_lock(db_econn *c, db_lock_kind k, db_table t, int64_t id, dd_err *err)
{
    return DD_OK;
}

static dd_code sq_lock_children(db_econn *c, db_table t, db_table parent, int64_t id,
                                dd_err *err)
{
    return DD_OK;
}

/* A file connection does not drop. */
static dd_code sq_check(db_econn *c, bool *reset, dd_err *err)
{
    *reset = false;
    return DD_OK;
}

/* ---------------------------------------------------------------- statements */

static dd_code sq_prepare(db_econn *c, const char *sql, db_estmt **out, dd_err *err)
{
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
    if (rc != SQLITE_OK)
        return sq_error(c, rc, "preparing a query", err);
    *out = (db_estmt *)(void *)s;
    return DD_OK;
}

static dd_code sq_bind(db_econn *c, db_estmt *es, const char *fmt, va_list ap, dd_err *err)
{
    sqlite3_stmt *s = S(es);
    sqlite3_clear_bindings(s);
    int rc = SQLITE_OK;
    for (int i = 1; fmt && *fmt && rc == SQLITE_OK; fmt++, i++) {
        switch (*fmt) {
        case 'i': rc = sqlite3_bind_int64(s, i, va_arg(ap, int64_t)); break;
        case 'I': {
            int64_t v = va_arg(ap, int64_t);
            rc = v ? sqlite3_bind_int64(s, i, v) : sqlite3_bind_null(s, i);
            break;
        }
        case 'n': rc = sqlite3_bind_int(s, i, va_arg(ap, int)); break;
        case 'd': rc = sqlite3_bind_double(s, i, va_arg(ap, double)); break;
        case 't': {
            const char *t = va_arg(ap, const char *);
            rc = t ? sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
            break;
        }
        case 'b': {
            const void *p = va_arg(ap, const void *);
            size_t n = va_arg(ap, size_t);
            rc = sqlite3_bind_blob64(s, i, n ? p : "", n, SQLITE_STATIC);
            break;
        }
        case 'z': rc = sqlite3_bind_zeroblob64(s, i, (sqlite3_uint64)va_arg(ap, int64_t)); break;
        default:
            return dd_fail(err, DD_IO, "internal error: bad bind format '%c'", *fmt);
        }
    }
    if (rc != SQLITE_OK)
        return sq_error(c, rc, "binding query arguments", err);
    return DD_OK;
}

static dd_code sq_step(db_econn *c, db_estmt *s, bool *row, const char *what, dd_err *err)
{
    int rc = sqlite3_step(S(s));
    *row = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        return DD_OK;
    dd_code code = sq_error(c, rc, what, err);
    sqlite3_reset(S(s));
    return code;
}

static void sq_reset(db_estmt *s) { sqlite3_reset(S(s)); }
static void sq_finalize(db_estmt *s) { sqlite3_finalize(S(s)); }
static int64_t sq_changes(db_econn *c) { return sqlite3_changes(c->db); }

static int sq_col_count(db_estmt *s) { return sqlite3_column_count(S(s)); }
static bool sq_col_null(db_estmt *s, int i) { return sqlite3_column_type(S(s), i) == SQLITE_NULL; }
static int64_t sq_col_int64(db_estmt *s, int i) { return sqlite3_column_int64(S(s), i); }
static double sq_col_double(db_estmt *s, int i) { return sqlite3_column_double(S(s), i); }

static const char *sq_col_text(db_estmt *s, int i)
{
    return (const char *)sqlite3_column_text(S(s), i);
}

static const void *sq_col_blob(db_estmt *s, int i, size_t *len)
{
    const void *p = sqlite3_column_blob(S(s), i);
    /* bytes after blob: the pointer may move while the value is converted */
    *len = (size_t)sqlite3_column_bytes(S(s), i);
    return p;
}

/* ---------------------------------------------------------------- whole database */

/* WAL is a property of the database file: set once, kept by every later open. Switching
 * needs a write lock and SQLite does not run the busy handler for it, so wait here, up to
 * the busy timeout, for a writer (another process opening the same new file) to finish. */
static dd_code sq_prepare_schema(db_econn *c, int busy_timeout_ms, dd_err *err)
{
    /* the budget is wall time: one attempt may itself wait in SQLite's busy handler */
    double deadline = db_mono_ms() + busy_timeout_ms;
    int rc;
    while ((rc = sqlite3_exec(c->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL)) != SQLITE_OK &&
           (rc & 0xff) == SQLITE_BUSY && db_mono_ms() < deadline)
        sqlite3_sleep(10);
    return rc == SQLITE_OK ? DD_OK : sq_error(c, rc, "opening the database", err);
}

static dd_code sq_exec_script(db_econn *c, const char *sql, dd_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return DD_OK;
    dd_code code = dd_fail(err, DD_IO, "%s", msg ? msg : "unknown error");
    sqlite3_free(msg);
    return code;
}

/* SQLite's quick_check: every page of every b-tree is read and its structure checked
 * (O(file size), ~1 s per GB; not the index-vs-table cross-check of integrity_check).
 * Reads only. The commands that open a user's database (init, mount, register) ask before
 * they use it, so a truncated or overwritten file is refused with a clear message instead
 * of failing later, halfway through a write. A one-off statement: it runs once per open. */
static dd_code sq_quick_check(db_econn *c, dd_err *err)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(c->db, "PRAGMA quick_check(1)", -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return sq_error(c, rc, "checking the database", err);
    dd_code code = DD_OK;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        const char *first = (const char *)sqlite3_column_text(stmt, 0);
        if (!first || strcmp(first, "ok") != 0) {
            /* one line: drop SQLite's "*** in database main ***" heading, join the rest */
            const char *detail = first ? first : "no detail";
            const char *heading = strstr(detail, "***\n");
            detail = heading ? heading + 4 : detail;
            code = dd_fail(err, DD_IO, "database disk image is malformed (%.160s)", detail);
            for (char *p = err ? err->msg : NULL; p && *p; p++)
                if (*p == '\n')
                    *p = ' ';
        }
    } else {
        code = sq_error(c, rc, "checking the database", err);
    }
    sqlite3_finalize(stmt);
    return code;
}

/* Run a one-off statement, handing each row's columns joined by spaces to fn (with
 * `prefix` before them; rows reading just "ok" skipped when skip_ok). */
static dd_code each_line(db_econn *c, const char *sql, const char *what, const char *prefix,
                         bool skip_ok, db_line_fn fn, void *ctx, dd_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK)
        return sq_error(c, rc, "preparing a query", err);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        char line[1024], out[1100];
        int cols = sqlite3_column_count(s);
        size_t off = 0;
        line[0] = 0;
        for (int i = 0; i < cols && off < sizeof line; i++) {
            const char *t = (const char *)sqlite3_column_text(s, i);
            off += (size_t)snprintf(line + off, sizeof line - off, "%s%s", i ? " " : "",
                                    t ? t : "");
        }
        if (skip_ok && strcmp(line, "ok") == 0)
            continue;
        snprintf(out, sizeof out, "%s%s", prefix, line);
        if (fn(ctx, out)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    dd_code code = rc == SQLITE_DONE ? DD_OK : sq_error(c, rc, what, err);
    sqlite3_finalize(s);
    return code;
}

static dd_code sq_check_integrity(db_econn *c, dd_err *err)
{
    char first[DD_ERR_MSG_MAX] = "";
    dd_code code = each_line(c, "PRAGMA integrity_check", "integrity check", "", true,
                             db_first_line, first, err);
    if (code == DD_OK && first[0])
        code = dd_fail(err, DD_IO, "integrity check failed: %s", first);
    return code;
}

static dd_code sq_integrity(db_econn *c, db_line_fn fn, void *ctx, dd_err *err)
{
    dd_code code = each_line(c, "PRAGMA integrity_check", "PRAGMA integrity_check",
                             "integrity_check: ", true, fn, ctx, err);
    /* an alias's dangling version is the alias rule's (fsck's check_registry), which can
     * repair it */
    if (code == DD_OK)
        code = each_line(c, "SELECT \"table\", 'row', rowid, 'refers to a missing',"
                         " parent, 'row' FROM pragma_foreign_key_check WHERE NOT"
                         " (\"table\" = 'model_alias' AND parent = 'model_version')",
                         "PRAGMA foreign_key_check", "foreign key: ", false, fn, ctx, err);
    return code;
}

static dd_code sq_data_version(db_econn *c, int64_t *out, dd_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(c->db, "PRAGMA data_version", -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    dd_code code = rc == SQLITE_ROW ? DD_OK : sq_error(c, rc, "data_version", err);
    /* data_version moves only for other connections' commits; add this connection's own
     * changes so that every commit moves the number */
    if (code == DD_OK)
        *out = sqlite3_column_int64(s, 0) + (int64_t)sqlite3_total_changes64(c->db);
    sqlite3_finalize(s);
    return code;
}

/* The "server" of a file is this machine: its real-time clock. */
static dd_code sq_server_now_ms(db_econn *c, int64_t *out, dd_err *err)
{
    (void)c, (void)err;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    *out = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    return DD_OK;
}

/* The rowid of chunk `seq` of set `set_id`: incremental blob I/O opens rows by rowid. */
static dd_code chunk_rowid(db_econn *c, int64_t set_id, int64_t seq, int64_t *out,
                           dd_err *err)
{
    int rc = SQLITE_OK;
    if (!c->chunk_id)
        rc = sqlite3_prepare_v3(c->db, "SELECT id FROM artifact_chunk WHERE set_id = ? AND seq = ?",
                                -1, SQLITE_PREPARE_PERSISTENT, &c->chunk_id, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(c->chunk_id, 1, set_id);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(c->chunk_id, 2, seq);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(c->chunk_id);
    dd_code code = DD_OK;
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(c->chunk_id, 0);
    else if (rc == SQLITE_DONE)
        code = dd_fail(err, DD_NOT_FOUND, "artifact chunk not found");
    else
        code = sq_error(c, rc, "artifact chunk", err);
    if (c->chunk_id)
        sqlite3_reset(c->chunk_id);
    return code;
}

/* Incremental blob I/O: only the bytes asked for are read, never the whole value. */
static dd_code sq_blob_read(db_econn *c, db_blob which, int64_t key, int64_t seq,
                            int64_t off, void *buf, size_t len, size_t *got, int64_t *total,
                            dd_err *err)
{
    *got = 0;
    *total = 0;
    int64_t rowid = key;
    const char *table = "resource", *reading = "reading resource bytes";
    if (which == DB_BLOB_CHUNK) {
        table = "artifact_chunk";
        reading = "reading an artifact chunk";
        dd_code code = chunk_rowid(c, key, seq, &rowid, err);
        if (code != DD_OK)
            return code;
    }
    sqlite3_blob *blob = NULL;
    int rc = sqlite3_blob_open(c->db, "main", table, "data", rowid, 0, &blob);
    dd_code code = DD_OK;
    if (rc != SQLITE_OK)        /* a chunk row just found: a real error; resource: gone */
        code = which == DB_BLOB_CHUNK ? sq_error(c, rc, "opening an artifact chunk", err)
                                      : dd_fail(err, DD_NOT_FOUND, "no resource data");
    if (code == DD_OK)
        *total = sqlite3_blob_bytes(blob);
    if (code == DD_OK && off < *total && len > 0) {
        size_t n = (uint64_t)(*total - off) < len ? (size_t)(*total - off) : len;
        rc = sqlite3_blob_read(blob, buf, (int)n, (int)off);
        if (rc != SQLITE_OK)
            code = sq_error(c, rc, reading, err);
        else
            *got = n;
    }
    if (blob)
        sqlite3_blob_close(blob);
    return code;
}

/* One statement of sq_id_counter: ?1 the table, ?2 the value; a row's first column into
 * *out when out is not NULL. */
static dd_code counter_stmt(db_econn *c, const char *sql, const char *table, int64_t v,
                            int64_t *out, dd_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(s, 2, v);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc == SQLITE_ROW && out)
        *out = sqlite3_column_int64(s, 0);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        rc = SQLITE_OK;
    sqlite3_finalize(s);
    return rc == SQLITE_OK ? DD_OK : sq_error(c, rc, "the id counter", err);
}

/* AUTOINCREMENT's counter is the table's row of sqlite_sequence. A table without
 * AUTOINCREMENT (artifact_chunk) gets no row: its next rowid is above its highest anyway,
 * which is what it reads as. */
static dd_code sq_id_counter(db_econn *c, const char *table, int64_t raise_to, int64_t *out,
                             dd_err *err)
{
    dd_code code = DD_OK;
    if (raise_to > 0)
        code = counter_stmt(c, "INSERT INTO sqlite_sequence(name, seq) SELECT ?1, ?2"
                            " WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = ?1)"
                            " AND EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table'"
                            " AND name = ?1 AND sql LIKE '%AUTOINCREMENT%')",
                            table, raise_to, NULL, err);
    if (code == DD_OK && raise_to > 0)
        code = counter_stmt(c, "UPDATE sqlite_sequence SET seq = ?2 WHERE name = ?1 AND seq < ?2",
                            table, raise_to, NULL, err);
    *out = 0;
    /* the last id handed out: the counter, or a table's highest rowid when it has none */
    char *sql = sqlite3_mprintf("SELECT max(coalesce((SELECT seq FROM sqlite_sequence"
                                " WHERE name = ?1), 0), coalesce((SELECT max(rowid) FROM \"%w\"),"
                                " 0)) + 0 * ?2", table);
    if (code == DD_OK && !sql)
        code = dd_fail(err, DD_IO, "out of memory");
    if (code == DD_OK)
        code = counter_stmt(c, sql, table, 0, out, err);
    sqlite3_free(sql);
    return code;
}

/* ---------------------------------------------------------------- WAL upkeep */

/* SQLite's WAL hook: after each commit, with the WAL's size in frames (= pages). */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    (void)db, (void)name;
    const struct wal_watcher *w = arg;
    w->fn(w->ctx, pages);
    return SQLITE_OK;
}

/* sqlite3_wal_hook replaces the automatic checkpoint (which is itself a WAL hook), so
 * this commit path never checkpoints; whoever watches does it (db.c's checkpointer). */
static void sq_wal_watch(db_econn *c, void (*fn)(void *ctx, int pages), void *ctx)
{
    c->watcher.fn = fn;
    c->watcher.ctx = ctx;
    sqlite3_wal_hook(c->db, wal_hook, &c->watcher);
}

static dd_code sq_checkpoint(db_econn *c, bool passive, int *log_pages, int *done_pages,
                             dd_err *err)
{
    *log_pages = *done_pages = -1;
    int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, passive ? SQLITE_CHECKPOINT_PASSIVE
                                       : SQLITE_CHECKPOINT_RESTART, log_pages, done_pages);
    /* BUSY: another checkpoint runs (another process's), or, restarting, the wait for the
     * writer or a reader ran out; what could be copied was */
    if (rc == SQLITE_OK || ((rc & 0xff) == SQLITE_BUSY && passive))
        return DD_OK;
    if ((rc & 0xff) == SQLITE_BUSY)
        return dd_fail(err, DD_BUSY, "checkpointing the write-ahead log: a reader or a writer"
                       " kept it from starting over");
    return sq_error(c, rc, "checkpointing the write-ahead log", err);
}

const struct dd_engine dd_engine_sqlite = {
    .name = "sqlite",
    .supports = DD_ENG_ONE_WRITER | DD_ENG_FILE | DD_ENG_PAGE_CHECK,
    .migrations = &dd_migrations_sqlite,
    .accepts = sq_accepts,
    .open = sq_open,
    .close = sq_close,
    .check = sq_check,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .lock = sq_lock,
    .lock_children = sq_lock_children,
    .prepare = sq_prepare,
    .bind = sq_bind,
    .step = sq_step,
    .reset = sq_reset,
    .finalize = sq_finalize,
    .changes = sq_changes,
    .col_count = sq_col_count,
    .col_null = sq_col_null,
    .col_int64 = sq_col_int64,
    .col_double = sq_col_double,
    .col_text = sq_col_text,
    .col_blob = sq_col_blob,
    .prepare_schema = sq_prepare_schema,
    .exec_script = sq_exec_script,
    .quick_check = sq_quick_check,
    .check_integrity = sq_check_integrity,
    .integrity = sq_integrity,
    .data_version = sq_data_version,
    .server_now_ms = sq_server_now_ms,
    .blob_read = sq_blob_read,
    .id_counter = sq_id_counter,
    .wal_watch = sq_wal_watch,
    .checkpoint = sq_checkpoint,
};
