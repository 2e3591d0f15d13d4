/*
 * db.c - the store object and its private SQLite layer: per-thread connections,
 * the prepared-statement cache, typed binding, write transactions, error mapping and
 * schema migrations.
 *
 * Why one connection per thread: SQLite connections are not meant to be shared by
 * concurrent threads, and WAL lets each reader see a consistent snapshot while one
 * writer commits. Writers take BEGIN IMMEDIATE so that two transactions never both read
 * and then fight over the write lock (which SQLite reports as an immediate
 * SQLITE_BUSY that no busy handler can resolve).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "db.h"
#include "migrations.h"

#define DB_STMT_CACHE 256

/* A prepared statement: one slot of its connection's cache. Entity files see only the
 * opaque db_stmt (db.h); the slot never moves, so a pointer to it stays valid. */
struct db_stmt {
    const char *sql;        /* a string literal: the pointer is the cache key */
    sqlite3_stmt *stmt;
};

/* One thread's connection to the store's database. */
struct dd_conn {
    sqlite3 *db;
    dd_store *st;
    db_stmt cache[DB_STMT_CACHE];
    struct dd_conn *next;   /* in the store's list of open connections */
    /* Bounded waits (db_wait_begin): on a thread's own connection, the monotonic time in
     * ms at which every wait of the operation under way gives up (0: none under way);
     * wait_depth counts nested scopes. busy_until is the deadline of a busy episode met
     * outside any scope (set by the busy handler on this connection). */
    double wait_deadline;
    int wait_depth;
    double busy_until;
    /* artifact_trash rows queued by the write transaction under way (db_trash_queued):
     * ids trash_lo..trash_hi, 0 when none; handed to the trash hook once it commits. */
    int64_t trash_lo, trash_hi;
};

struct dd_store {
    char *path;
    int busy_timeout_ms;
    bool read_only;
    pthread_key_t conn_key;     /* this thread's dd_conn */
    pthread_mutex_t mu;         /* guards `conns` */
    dd_conn *conns;             /* every open connection, to close them all at the end */
    /* Every write transaction of this process runs on one connection, held under
     * write_mu from db_begin to db_end. Writers are serialized by SQLite anyway; sharing
     * the connection keeps its page cache warm, where per-thread writers would each find
     * their cache invalidated by the others' commits. */
    pthread_mutex_t write_mu;
    dd_conn *writer;
    _Atomic pthread_t write_owner;  /* the thread between db_begin and db_end ... */
    _Atomic bool write_owned;       /* ... when this is true (set under write_mu) */
    struct metric_log *mlog;        /* group commit for metric appends (metric_log.c) */
    db_trash_hook trash_hook;       /* frees queued artifact bytes (artifacts.c) ... */
    void *trash_ctx;                /* ... with this */
};

/* ---------------------------------------------------------------- errors */

const char *dd_code_name(dd_code code)
{
    switch (code) {
    case DD_OK: return "ok";
    case DD_NOT_FOUND: return "not_found";
    case DD_CONFLICT: return "conflict";
    case DD_INVALID: return "invalid";
    case DD_FORBIDDEN: return "forbidden";
    case DD_READ_ONLY: return "read_only";
    case DD_IN_USE: return "in_use";
    case DD_NOT_EMPTY: return "not_empty";
    case DD_TOO_LONG: return "too_long";
    case DD_BUSY: return "busy";
    case DD_IO: return "io";
    case DD_NO_SPACE: return "no_space";
    case DD_TOO_BIG: return "too_big";
    }
    return "unknown";
}

dd_code dd_errno_code(int e)
{
    return e == ENOSPC || e == EDQUOT ? DD_NO_SPACE : DD_IO;
}

dd_code dd_fail(dd_err *err, dd_code code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* Map the connection's last SQLite error to a dd_code and message about `what`. */
static dd_code db_error(dd_conn *c, int rc, const char *what, dd_err *err)
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
    /* A full disk met while growing the -shm or -wal file comes back as an I/O error
     * whose system errno says what happened. */
    int sys = c && c->db ? sqlite3_system_errno(c->db) : 0;
    return dd_fail(err, sys == ENOSPC || sys == EDQUOT ? DD_NO_SPACE : DD_IO, "%s: %s", what,
                   detail);
}

/* ---------------------------------------------------------------- bounded waits */

double db_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

dd_conn *db_wait_begin(dd_store *st)
{
    dd_conn *c;
    if (db_conn(st, &c, NULL) != DD_OK)
        return NULL;
    if (c->wait_depth++ == 0)
        c->wait_deadline = db_mono_ms() + st->busy_timeout_ms;
    return c;
}

void db_wait_end(dd_conn *c)
{
    if (c && --c->wait_depth == 0)
        c->wait_deadline = 0;
}

double db_wait_deadline(dd_store *st)
{
    dd_conn *c = pthread_getspecific(st->conn_key);
    return c && c->wait_depth ? c->wait_deadline : db_mono_ms() + st->busy_timeout_ms;
}

/* SQLite's busy handler on every connection: sleep (SQLite's own back-off, 1 ms up to
 * 100 ms) until the calling thread's operation deadline, or, outside any scope, until
 * the busy timeout after this episode began. Returns 0 (give up: SQLITE_BUSY) then. */
static int busy_wait(void *arg, int count)
{
    static const int delays[] = {1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100};
    dd_conn *c = arg;
    dd_conn *mine = pthread_getspecific(c->st->conn_key);
    double now = db_mono_ms();
    if (count == 0)
        c->busy_until = now + c->st->busy_timeout_ms;
    double deadline = mine && mine->wait_depth ? mine->wait_deadline : c->busy_until;
    if (now >= deadline)
        return 0;
    int n = (int)(sizeof delays / sizeof delays[0]);
    double ms = delays[count < n ? count : n - 1];
    if (ms > deadline - now)
        ms = deadline - now;
    sqlite3_sleep(ms < 1 ? 1 : (int)ms);
    return 1;
}

/* Take the writer mutex, waiting no later than this thread's deadline. */
static dd_code writer_lock(dd_store *st, dd_err *err)
{
    double deadline = db_wait_deadline(st);
    struct timespec until = {
        .tv_sec = (time_t)(deadline / 1e3),
        .tv_nsec = (long)((deadline - (double)(time_t)(deadline / 1e3) * 1e3) * 1e6),
    };
    if (until.tv_nsec >= 1000000000L)
        until.tv_nsec = 999999999L;
    int rc = pthread_mutex_clocklock(&st->write_mu, CLOCK_MONOTONIC, &until);
    if (rc == 0)
        return DD_OK;
    return dd_fail(err, rc == ETIMEDOUT ? DD_BUSY : DD_IO,
                   "starting a write transaction: %s", rc == ETIMEDOUT
                   ? "database is busy (another write of this process held it too long)"
                   : strerror(rc));
}

/* ---------------------------------------------------------------- connections */

static void conn_free(dd_conn *c)
{
    for (int i = 0; i < DB_STMT_CACHE; i++)
        if (c->cache[i].stmt)
            sqlite3_finalize(c->cache[i].stmt);
    sqlite3_close_v2(c->db);
    free(c);
}

static void conn_unlink(dd_store *st, dd_conn *c)
{
    pthread_mutex_lock(&st->mu);
    for (dd_conn **p = &st->conns; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    pthread_mutex_unlock(&st->mu);
}

/* pthread key destructor: the thread is exiting, close its connection. */
static void conn_thread_exit(void *arg)
{
    dd_conn *c = arg;
    conn_unlink(c->st, c);
    conn_free(c);
}

static dd_code conn_configure(dd_conn *c, dd_err *err)
{
    sqlite3_busy_handler(c->db, busy_wait, c);
    sqlite3_extended_result_codes(c->db, 1);
    /* NORMAL in WAL mode: a commit survives a crash of this process (it is in the WAL
     * file); only an OS crash or power loss can lose the last commits. */
    const char *pragmas = c->st->read_only
        ? "PRAGMA foreign_keys=ON; PRAGMA query_only=ON;"
        : "PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;";
    int rc = sqlite3_exec(c->db, pragmas, NULL, NULL, NULL);
    /* the first statement reads the file's header: a damaged file is found here */
    bool damaged = (rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT;
    if (rc != SQLITE_OK)
        return db_error(c, rc, damaged ? "not a valid DearDiary database"
                                       : "configuring the database connection", err);
    return DD_OK;
}

static dd_code conn_open(dd_store *st, dd_conn **out, dd_err *err)
{
    dd_conn *c = calloc(1, sizeof *c);
    if (!c)
        return dd_fail(err, DD_IO, "out of memory");
    c->st = st;
    int flags = st->read_only ? SQLITE_OPEN_READONLY
                              : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    flags |= SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(st->path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        dd_code code = dd_fail(err, DD_IO, "cannot open database %s: %s", st->path,
                               c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        conn_free(c);
        return code;
    }
    dd_code code = conn_configure(c, err);
    if (code != DD_OK) {
        conn_free(c);
        return code;
    }
    pthread_mutex_lock(&st->mu);
    c->next = st->conns;
    st->conns = c;
    pthread_mutex_unlock(&st->mu);
    *out = c;
    return DD_OK;
}

dd_code db_conn(dd_store *st, dd_conn **out, dd_err *err)
{
    dd_conn *c = pthread_getspecific(st->conn_key);
    if (c) {
        *out = c;
        return DD_OK;
    }
    dd_code code = conn_open(st, &c, err);
    if (code != DD_OK)
        return code;
    if (pthread_setspecific(st->conn_key, c) != 0) {
        conn_unlink(st, c);
        conn_free(c);
        return dd_fail(err, DD_IO, "cannot register the thread's connection");
    }
    *out = c;
    return DD_OK;
}

/* ---------------------------------------------------------------- statements */

static db_stmt *cache_slot(dd_conn *c, const char *sql)
{
    uintptr_t h = ((uintptr_t)sql >> 3) * 2654435761u;
    for (int i = 0; i < DB_STMT_CACHE; i++) {
        db_stmt *slot = &c->cache[(h + (uintptr_t)i) % DB_STMT_CACHE];
        if (slot->sql == sql || slot->sql == NULL)
            return slot;
    }
    return NULL;
}

static dd_code bind_args(dd_conn *c, sqlite3_stmt *s, const char *fmt, va_list ap,
                         dd_err *err)
{
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
        return db_error(c, rc, "binding query arguments", err);
    return DD_OK;
}

dd_code db_vprep(dd_conn *c, db_stmt **out, dd_err *err, const char *sql,
                 const char *fmt, va_list ap)
{
    db_stmt *slot = cache_slot(c, sql);
    if (!slot)                  /* cache full: should not happen, the SQL set is fixed */
        return dd_fail(err, DD_IO, "internal error: statement cache full");
    if (slot->stmt) {
        sqlite3_reset(slot->stmt);
        sqlite3_clear_bindings(slot->stmt);
    } else {
        sqlite3_stmt *s;
        int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
        if (rc != SQLITE_OK)
            return db_error(c, rc, "preparing a query", err);
        slot->sql = sql;
        slot->stmt = s;
    }
    *out = slot;
    return bind_args(c, slot->stmt, fmt, ap, err);
}

dd_code db_prep(dd_conn *c, db_stmt **out, dd_err *err, const char *sql,
                const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dd_code code = db_vprep(c, out, err, sql, fmt, ap);
    va_end(ap);
    return code;
}

void db_reset(db_stmt *s) { sqlite3_reset(s->stmt); }

dd_code db_step(dd_conn *c, db_stmt *s, bool *row, const char *what, dd_err *err)
{
    int rc = sqlite3_step(s->stmt);
    if (rc == SQLITE_ROW) {
        *row = true;
        return DD_OK;
    }
    *row = false;
    if (rc == SQLITE_DONE)
        return DD_OK;
    dd_code code = db_error(c, rc, what, err);
    db_reset(s);
    return code;
}

dd_code db_each(dd_conn *c, db_stmt *s, const char *what, db_row_fn fn, void *ctx,
                dd_err *err)
{
    bool row = true;
    dd_code code = DD_OK;
    while (code == DD_OK && row) {
        code = db_step(c, s, &row, what, err);
        if (code == DD_OK && row && fn(s, ctx))
            break;
    }
    db_reset(s);
    return code;
}

dd_code db_exec(dd_conn *c, dd_err *err, const char *what, const char *sql, const char *fmt,
                ...)
{
    db_stmt *s;
    va_list ap;
    va_start(ap, fmt);
    dd_code code = db_vprep(c, &s, err, sql, fmt, ap);
    va_end(ap);
    if (code != DD_OK)
        return code;
    bool row;
    code = db_step(c, s, &row, what, err);
    db_reset(s);
    return code;
}

dd_code db_int(dd_conn *c, int64_t *out, dd_err *err, const char *what, const char *sql,
               const char *fmt, ...)
{
    db_stmt *s;
    va_list ap;
    va_start(ap, fmt);
    dd_code code = db_vprep(c, &s, err, sql, fmt, ap);
    va_end(ap);
    if (code != DD_OK)
        return code;
    bool row;
    code = db_step(c, s, &row, what, err);
    if (code == DD_OK && !row)
        code = dd_fail(err, DD_NOT_FOUND, "%s not found", what);
    if (code == DD_OK)
        *out = db_col_int64(s, 0);
    db_reset(s);
    return code;
}

int db_changes(dd_conn *c) { return sqlite3_changes(c->db); }

/* ---------------------------------------------------------------- columns */

int db_col_count(db_stmt *s) { return sqlite3_column_count(s->stmt); }
bool db_col_is_null(db_stmt *s, int col)
{
    return sqlite3_column_type(s->stmt, col) == SQLITE_NULL;
}
int64_t db_col_int64(db_stmt *s, int col) { return sqlite3_column_int64(s->stmt, col); }
int db_col_int(db_stmt *s, int col) { return sqlite3_column_int(s->stmt, col); }
double db_col_double(db_stmt *s, int col) { return sqlite3_column_double(s->stmt, col); }

const void *db_col_blob(db_stmt *s, int col, size_t *len)
{
    const void *p = sqlite3_column_blob(s->stmt, col);
    /* bytes after blob: the pointer may move while the value is converted */
    *len = (size_t)sqlite3_column_bytes(s->stmt, col);
    return p;
}

const char *db_col_text(db_stmt *s, int col)
{
    const unsigned char *t = sqlite3_column_text(s->stmt, col);
    return t ? (const char *)t : "";
}

char *db_col_dup(db_stmt *s, int col) { return strdup(db_col_text(s, col)); }

void db_col_ts(db_stmt *s, int col, char out[DD_TS_LEN])
{
    snprintf(out, DD_TS_LEN, "%s", db_col_text(s, col));
}

/* ---------------------------------------------------------------- transactions */

/* The three waits of a write's start (the metric log, the writer mutex, SQLite's write
 * lock) share one deadline: db_wait_begin's scope. */
dd_code db_begin(dd_conn **c, dd_err *err)
{
    dd_store *st = (*c)->st;
    dd_conn *scope = db_wait_begin(st);
    /* Points accepted by the metric log go first: a write (ending or deleting the
     * iteration, say) must find them committed, as the writer who saw success expects. */
    dd_code code = dd_metric_log_drain(st, err);
    if (code == DD_OK)
        code = writer_lock(st, err);
    if (code != DD_OK) {
        db_wait_end(scope);
        return code;
    }
    st->write_owner = pthread_self();
    st->write_owned = true;
    code = st->writer ? DD_OK : conn_open(st, &st->writer, err);
    if (code == DD_OK) {
        *c = st->writer;
        code = db_exec(*c, err, "starting a write transaction", "BEGIN IMMEDIATE", NULL);
    }
    if (code != DD_OK) {
        st->write_owned = false;
        pthread_mutex_unlock(&st->write_mu);
    }
    db_wait_end(scope);
    return code;
}

dd_code db_write_begin(dd_store *st, dd_conn **c, dd_err *err)
{
    dd_code code = db_conn(st, c, err);
    return code == DD_OK ? db_begin(c, err) : code;
}

dd_code db_iteration_begin(dd_store *st, int64_t iteration_id, dd_conn **c, dd_err *err)
{
    dd_code code = db_write_begin(st, c, err);
    if (code != DD_OK)
        return code;
    code = db_iteration_writable(*c, iteration_id, err);
    return code == DD_OK ? DD_OK : db_end(*c, code, err);
}

dd_code db_end(dd_conn *c, dd_code code, dd_err *err)
{
    if (code == DD_OK) {
        dd_code cc = db_exec(c, err, "committing", "COMMIT", NULL);
        if (cc != DD_OK)
            code = cc;
    }
    if (code != DD_OK && !sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    int64_t lo = c->trash_lo, hi = c->trash_hi;
    c->trash_lo = c->trash_hi = 0;
    if (c == c->st->writer) {
        c->st->write_owned = false;
        pthread_mutex_unlock(&c->st->write_mu);
    }
    if (code == DD_OK && lo && c->st->trash_hook)
        c->st->trash_hook(c->st->trash_ctx, lo, hi);
    return code;
}

void db_set_trash_hook(dd_store *st, db_trash_hook hook, void *ctx)
{
    st->trash_hook = hook;
    st->trash_ctx = ctx;
}

void db_trash_queued(dd_conn *c, int64_t trash_id)
{
    if (!c->trash_lo || trash_id < c->trash_lo)
        c->trash_lo = trash_id;
    if (trash_id > c->trash_hi)
        c->trash_hi = trash_id;
}

int64_t db_trash_take(dd_conn *c)
{
    int64_t hi = c->trash_hi;
    c->trash_lo = c->trash_hi = 0;
    return hi;
}

/* ---------------------------------------------------------------- shared guards */

dd_code db_iteration_writable(dd_conn *c, int64_t iteration_id, dd_err *err)
{
    db_stmt *s;
    dd_code code = db_prep(c, &s, err, "SELECT end_date FROM iteration WHERE id = ?", "i",
                           iteration_id);
    if (code != DD_OK)
        return code;
    bool row;
    code = db_step(c, s, &row, "reading an iteration", err);
    if (code == DD_OK && !row)
        code = dd_fail(err, DD_NOT_FOUND, "iteration %lld not found", (long long)iteration_id);
    else if (code == DD_OK && !db_col_is_null(s, 0))
        code = dd_fail(err, DD_READ_ONLY, "iteration %lld has ended and is read-only",
                       (long long)iteration_id);
    db_reset(s);
    return code;
}

dd_code db_project_of_iteration(dd_conn *c, int64_t iteration_id, int64_t *out, dd_err *err)
{
    return db_int(c, out, err, "iteration",
                  "SELECT e.project_id FROM iteration i JOIN experiment e ON e.id = i.experiment_id"
                  " WHERE i.id = ?", "i", iteration_id);
}

dd_code db_project_of_resource(dd_conn *c, int64_t resource_id, int64_t *out, dd_err *err)
{
    return db_int(c, out, err, "resource",
                  "SELECT e.project_id FROM resource r JOIN experiment e ON e.id = r.experiment_id"
                  " WHERE r.id = ?", "i", resource_id);
}

/* db_update_text and db_update_text_ts: `stamp` binds dd_now() between value and id. */
static dd_code update_text(dd_store *st, const char *sql, int64_t id, const char *value,
                           bool stamp, const char *what, dd_err *err)
{
    dd_conn *c;
    dd_code code = db_conn(st, &c, err);
    if (code != DD_OK)
        return code;
    if (!value)
        return dd_fail(err, DD_INVALID, "%s: missing value", what);
    char now[DD_TS_LEN];
    dd_now(now);
    code = stamp ? db_exec(c, err, what, sql, "tti", value, now, id)
                 : db_exec(c, err, what, sql, "ti", value, id);
    if (code == DD_OK && db_changes(c) == 0)
        code = dd_fail(err, DD_NOT_FOUND, "%s: %lld not found", what, (long long)id);
    return code;
}

dd_code db_update_text(dd_store *st, const char *sql, int64_t id, const char *value,
                       const char *what, dd_err *err)
{
    return update_text(st, sql, id, value, false, what, err);
}

dd_code db_update_text_ts(dd_store *st, const char *sql, int64_t id, const char *value,
                          const char *what, dd_err *err)
{
    return update_text(st, sql, id, value, true, what, err);
}

/* ---------------------------------------------------------------- migrations */

static dd_code migrations_table(dd_conn *c, dd_err *err)
{
    return db_exec(c, err, "creating schema_migrations",
                   "CREATE TABLE IF NOT EXISTS schema_migrations ("
                   " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
                   NULL);
}

int dd_schema_version_known(void)
{
    return dd_migration_count ? dd_migrations[dd_migration_count - 1].version : 0;
}

static dd_code applied_version(dd_conn *c, int64_t *out, dd_err *err)
{
    return db_int(c, out, err, "schema version",
                  "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", NULL);
}

/* Apply one migration in its own transaction, unless another process already did. */
static dd_code apply_migration(dd_conn *c, const dd_migration *m, dd_err *err)
{
    dd_code code = db_begin(&c, err);
    if (code != DD_OK)
        return code;
    int64_t seen = 0;
    code = db_int(c, &seen, err, "schema_migrations",
                  "SELECT COUNT(*) FROM schema_migrations WHERE version = ?", "n", m->version);
    if (code == DD_OK && seen == 0) {
        char *msg = NULL;
        if (sqlite3_exec(c->db, m->sql, NULL, NULL, &msg) != SQLITE_OK) {
            code = dd_fail(err, DD_IO, "migration %03d_%s failed: %s", m->version, m->name,
                           msg ? msg : "unknown error");
            sqlite3_free(msg);
        }
        char now[DD_TS_LEN];
        dd_now(now);
        if (code == DD_OK)
            code = db_exec(c, err, "recording a migration",
                           "INSERT INTO schema_migrations(version, name, applied_at)"
                           " VALUES (?, ?, ?)", "ntt", m->version, m->name, now);
    }
    return db_end(c, code, err);
}

static dd_code seed_default_user(dd_conn *c, dd_err *err)
{
    int64_t n = 0;
    dd_code code = db_int(c, &n, err, "user", "SELECT COUNT(*) FROM \"user\" WHERE username = ?",
                          "t", DD_DEFAULT_USERNAME);
    if (code != DD_OK || n > 0)
        return code;
    char *hash = NULL;
    code = dd_password_hash("default", &hash, err);
    if (code != DD_OK)
        return code;
    char now[DD_TS_LEN];
    dd_now(now);
    code = db_exec(c, err, "seeding the default user",
                   "INSERT INTO \"user\"(first_name, last_name, username, password, created_date,"
                   " is_admin) VALUES ('Default User', '', ?, ?, ?, 1)"
                   " ON CONFLICT(username) DO NOTHING",
                   "ttt", DD_DEFAULT_USERNAME, hash, now);
    free(hash);
    return code;
}

/* WAL is a property of the database file: set once, kept by every later open. Switching
 * needs a write lock and SQLite does not run the busy handler for it, so wait here, up to
 * the busy timeout, for a writer (another process opening the same new file) to finish. */
static dd_code enable_wal(dd_conn *c, dd_err *err)
{
    /* the budget is wall time: one attempt may itself wait in SQLite's busy handler */
    double deadline = db_mono_ms() + c->st->busy_timeout_ms;
    int rc;
    while ((rc = sqlite3_exec(c->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL)) != SQLITE_OK &&
           (rc & 0xff) == SQLITE_BUSY && db_mono_ms() < deadline)
        sqlite3_sleep(10);
    return rc == SQLITE_OK ? DD_OK : db_error(c, rc, "opening the database", err);
}

static dd_code migrate(dd_conn *c, dd_err *err)
{
    dd_code wal = enable_wal(c, err);
    if (wal != DD_OK)
        return wal;
    dd_code code = migrations_table(c, err);
    int64_t have = 0;
    if (code == DD_OK)
        code = applied_version(c, &have, err);
    if (code != DD_OK)
        return code;
    if (have > dd_schema_version_known())
        return dd_fail(err, DD_INVALID,
                       "database schema version %lld is newer than this deardiary knows (%d);"
                       " upgrade deardiary", (long long)have, dd_schema_version_known());
    for (int i = 0; i < dd_migration_count && code == DD_OK; i++)
        if (dd_migrations[i].version > have)
            code = apply_migration(c, &dd_migrations[i], err);
    if (code == DD_OK)
        code = seed_default_user(c, err);
    return code;
}

static dd_code check_version_read_only(dd_conn *c, dd_err *err)
{
    int64_t have = 0;
    dd_code code = applied_version(c, &have, err);
    if (code == DD_OK && have > dd_schema_version_known())
        code = dd_fail(err, DD_INVALID,
                       "database schema version %lld is newer than this deardiary knows (%d)",
                       (long long)have, dd_schema_version_known());
    return code;
}

/* ---------------------------------------------------------------- the store */

dd_code dd_store_open(const char *path, const dd_store_options *opts, dd_store **out,
                      dd_err *err)
{
    *out = NULL;
    if (!path || !*path)
        return dd_fail(err, DD_INVALID, "no database path given");
    dd_store *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(path))) {
        free(st);
        return dd_fail(err, DD_IO, "out of memory");
    }
    st->busy_timeout_ms = opts && opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 30000;
    st->read_only = opts && opts->read_only;
    pthread_mutex_init(&st->mu, NULL);
    pthread_mutex_init(&st->write_mu, NULL);
    if (pthread_key_create(&st->conn_key, conn_thread_exit) != 0) {
        pthread_mutex_destroy(&st->mu);
        pthread_mutex_destroy(&st->write_mu);
        free(st->path);
        free(st);
        return dd_fail(err, DD_IO, "cannot create a thread key");
    }
    dd_conn *c;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = st->read_only ? check_version_read_only(c, err) : migrate(c, err);
    int replayed = 0;
    if (code == DD_OK && !st->read_only)
        code = dd_metric_log_recover(st, &replayed, err);
    if (code != DD_OK) {
        dd_store_close(st);
        return code;
    }
    *out = st;
    return DD_OK;
}

void dd_store_close(dd_store *st)
{
    if (!st)
        return;
    dd_metric_log_stop(st);
    pthread_setspecific(st->conn_key, NULL);
    pthread_key_delete(st->conn_key);
    pthread_mutex_lock(&st->mu);
    dd_conn *c = st->conns;
    st->conns = NULL;
    pthread_mutex_unlock(&st->mu);
    while (c) {
        dd_conn *next = c->next;
        conn_free(c);
        c = next;
    }
    pthread_mutex_destroy(&st->mu);
    pthread_mutex_destroy(&st->write_mu);
    free(st->path);
    free(st);
}

const char *dd_store_path(const dd_store *st) { return st->path; }

struct metric_log **db_metric_log_slot(dd_store *st) { return &st->mlog; }

int db_busy_timeout_ms(const dd_store *st) { return st->busy_timeout_ms; }

bool db_in_write_txn(dd_store *st)
{
    /* write_owner is only meaningful to the thread that set it: another thread may read a
     * stale value, but never its own id unless it set it. */
    return st->write_owned && pthread_equal(st->write_owner, pthread_self());
}

dd_code dd_schema_version(dd_store *st, int *out, dd_err *err)
{
    dd_conn *c;
    int64_t v = 0;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = applied_version(c, &v, err);
    *out = (int)v;
    return code;
}

dd_code dd_store_data_version(dd_store *st, int64_t *out, dd_err *err)
{
    dd_conn *c;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_int(c, out, err, "data_version", "PRAGMA data_version", NULL);
    /* data_version moves only for other connections' commits; add this connection's own
     * changes so that every commit moves the number */
    if (code == DD_OK)
        *out += (int64_t)sqlite3_total_changes64(c->db);
    return code;
}

dd_code dd_store_check_integrity(dd_store *st, dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "PRAGMA integrity_check", NULL);
    if (code != DD_OK)
        return code;
    bool row;
    code = db_step(c, s, &row, "integrity check", err);
    if (code == DD_OK && (!row || strcmp(db_col_text(s, 0), "ok") != 0))
        code = dd_fail(err, DD_IO, "integrity check failed: %s",
                       row ? db_col_text(s, 0) : "no result");
    db_reset(s);
    return code;
}

/* ---------------------------------------------------------------- whole-database checks */

/* SQLite's quick_check: every page of every b-tree is read and its structure checked
 * (O(file size), ~1 s per GB; not the index-vs-table cross-check of integrity_check).
 * Reads only. DD_OK when sound; DD_IO with SQLite's first finding otherwise. The
 * commands that open a user's database (init, mount, register) ask before they use it, so
 * a truncated or overwritten file is refused with a clear message instead of failing
 * later, halfway through a write. A one-off statement: it runs once per open. */
dd_code dd_store_quick_check(dd_store *st, dd_err *err)
{
    dd_conn *c = NULL;
    dd_code code = db_conn(st, &c, err);
    if (code != DD_OK)
        return code;
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(c->db, "PRAGMA quick_check(1)", -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return db_error(c, rc, "checking the database", err);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        const char *first = (const char *)sqlite3_column_text(stmt, 0);
        if (first && strcmp(first, "ok") == 0) {
            code = DD_OK;
        } else {
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
        code = db_error(c, rc, "checking the database", err);
    }
    sqlite3_finalize(stmt);
    return code;
}

typedef struct line_ctx {
    db_line_fn fn;
    void *ctx;
    const char *prefix;     /* "integrity_check" or "foreign key" */
    bool skip_ok;           /* integrity_check's one "ok" row means sound */
} line_ctx;

/* One finding: the row's columns joined by spaces, after the check's name. */
static int emit_line(db_stmt *s, void *arg)
{
    line_ctx *lc = arg;
    char line[1024], out[1100];
    int cols = db_col_count(s);
    size_t off = 0;
    line[0] = 0;
    for (int i = 0; i < cols && off < sizeof line; i++)
        off += (size_t)snprintf(line + off, sizeof line - off, "%s%s", i ? " " : "",
                                db_col_text(s, i));
    if (lc->skip_ok && strcmp(line, "ok") == 0)
        return 0;
    snprintf(out, sizeof out, "%s: %s", lc->prefix, line);
    return lc->fn(lc->ctx, out);
}

dd_code db_integrity_lines(dd_store *st, db_line_fn fn, void *ctx, dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    line_ctx ic = {fn, ctx, "integrity_check", true}, fk = {fn, ctx, "foreign key", false};
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "PRAGMA integrity_check", NULL);
    if (code == DD_OK)
        code = db_each(c, s, "PRAGMA integrity_check", emit_line, &ic, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT \"table\", 'row', rowid, 'refers to a missing',"
                       " parent, 'row' FROM pragma_foreign_key_check WHERE NOT"
                       " (\"table\" = 'model_alias' AND parent = 'model_version')", NULL);
    if (code == DD_OK)
        code = db_each(c, s, "PRAGMA foreign_key_check", emit_line, &fk, err);
    return code;
}

/* ---------------------------------------------------------------- blob reads */

/* Incremental blob I/O: only the bytes asked for are read, never the whole value. */
dd_code db_blob_read(dd_conn *c, db_blob which, int64_t key, int64_t seq, int64_t off,
                     void *buf, size_t len, size_t *got, int64_t *total, dd_err *err)
{
    *got = 0;
    *total = 0;
    int64_t rowid = key;
    const char *table = "resource", *reading = "reading resource bytes";
    if (which == DB_BLOB_CHUNK) {
        table = "artifact_chunk";
        reading = "reading an artifact chunk";
        dd_code code = db_int(c, &rowid, err, "artifact chunk",
                              "SELECT id FROM artifact_chunk WHERE set_id = ? AND seq = ?",
                              "ii", key, seq);
        if (code != DD_OK)
            return code;
    }
    sqlite3_blob *blob = NULL;
    int rc = sqlite3_blob_open(c->db, "main", table, "data", rowid, 0, &blob);
    dd_code code = DD_OK;
    if (rc != SQLITE_OK)        /* a chunk row just found: a real error; resource: gone */
        code = which == DB_BLOB_CHUNK ? db_error(c, rc, "opening an artifact chunk", err)
                                      : dd_fail(err, DD_NOT_FOUND, "no resource data");
    if (code == DD_OK)
        *total = sqlite3_blob_bytes(blob);
    if (code == DD_OK && off < *total && len > 0) {
        size_t n = (uint64_t)(*total - off) < len ? (size_t)(*total - off) : len;
        rc = sqlite3_blob_read(blob, buf, (int)n, (int)off);
        if (rc != SQLITE_OK)
            code = db_error(c, rc, reading, err);
        else
            *got = n;
    }
    if (blob)
        sqlite3_blob_close(blob);
    return code;
}
