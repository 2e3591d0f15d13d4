/*
 * db.c - the store object and its private statement layer: per-thread connections,
 * the prepared-statement cache, typed binding and columns, write transactions and schema
 * migrations. Every engine call goes through the store's engine table (engine.h,
 * st->eng); this file names no engine library (docs/ENGINES.md §2.3).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "engine.h"
#include "migrations.h"

#define DB_STMT_CACHE 256

/* A prepared statement: one slot of its connection's cache. Entity files see only the
 * opaque db_stmt (db.h); the slot never moves, so a pointer to it stays valid. */
struct db_stmt {
    const char *sql;        /* a string literal: the pointer is the cache key */
    db_estmt *stmt;
    const struct dd_engine *eng;
    bool fresh;             /* bound or reset, not stepped yet: its next step is counted */
};

/* One thread's connection to the store's database. */
struct dd_conn {
    db_econn *e;
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
    const struct dd_engine *eng;
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
    _Atomic uint64_t statements;    /* statements run (dd_store_stats_get) */
    _Atomic uint64_t writes;        /* changes made through this store (db_note_write) */
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

/* The engine's lock waits on connection c (SQLite's busy handler) give up at the calling
 * thread's operation deadline, or, outside any scope, at the busy timeout after this
 * episode (`first`: its first wait) began. */
static double busy_deadline(void *arg, bool first)
{
    dd_conn *c = arg;
    dd_conn *mine = pthread_getspecific(c->st->conn_key);
    if (first)
        c->busy_until = db_mono_ms() + c->st->busy_timeout_ms;
    return mine && mine->wait_depth ? mine->wait_deadline : c->busy_until;
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
            c->st->eng->finalize(c->cache[i].stmt);
    c->st->eng->close(c->e);
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

static dd_code conn_open(dd_store *st, dd_conn **out, dd_err *err)
{
    dd_conn *c = calloc(1, sizeof *c);
    if (!c)
        return dd_fail(err, DD_IO, "out of memory");
    c->st = st;
    dd_code code = st->eng->open(st->path, st->read_only, busy_deadline, c, &c->e, err);
    if (code != DD_OK) {
        free(c);
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

dd_code db_vprep(dd_conn *c, db_stmt **out, dd_err *err, const char *sql,
                 const char *fmt, va_list ap)
{
    const struct dd_engine *eng = c->st->eng;
    db_stmt *slot = cache_slot(c, sql);
    if (!slot)                  /* cache full: should not happen, the SQL set is fixed */
        return dd_fail(err, DD_IO, "internal error: statement cache full");
    if (slot->stmt) {
        eng->reset(slot->stmt);
    } else {
        dd_code code = eng->prepare(c->e, sql, &slot->stmt, err);
        if (code != DD_OK)
            return code;
        slot->sql = sql;
        slot->eng = eng;
    }
    *out = slot;
    slot->fresh = true;
    return eng->bind(c->e, slot->stmt, fmt, ap, err);
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

void db_reset(db_stmt *s)
{
    s->eng->reset(s->stmt);
    s->fresh = true;
}

/* The first step after a bind or reset is one more statement run against the database
 * (what a listing's cost is measured in: tests/unit/test_listing_cost.c); later steps of
 * the same run only fetch its rows. */
dd_code db_step(dd_conn *c, db_stmt *s, bool *row, const char *what, dd_err *err)
{
    if (s->fresh) {
        s->fresh = false;
        atomic_fetch_add_explicit(&c->st->statements, 1, memory_order_relaxed);
    }
    return s->eng->step(c->e, s->stmt, row, what, err);
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

int db_changes(dd_conn *c) { return (int)c->st->eng->changes(c->e); }

/* ---------------------------------------------------------------- columns */

int db_col_count(db_stmt *s) { return s->eng->col_count(s->stmt); }
bool db_col_is_null(db_stmt *s, int col) { return s->eng->col_null(s->stmt, col); }
int64_t db_col_int64(db_stmt *s, int col) { return s->eng->col_int64(s->stmt, col); }
int db_col_int(db_stmt *s, int col) { return (int)s->eng->col_int64(s->stmt, col); }
double db_col_double(db_stmt *s, int col) { return s->eng->col_double(s->stmt, col); }

const void *db_col_blob(db_stmt *s, int col, size_t *len)
{
    return s->eng->col_blob(s->stmt, col, len);
}

const char *db_col_text(db_stmt *s, int col)
{
    const char *t = s->eng->col_text(s->stmt, col);
    return t ? t : "";
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
        code = st->eng->begin((*c)->e, DB_TXN_WRITE, err);
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
        dd_code cc = c->st->eng->commit(c->e, err);
        if (cc != DD_OK)
            code = cc;
    }
    if (code != DD_OK)
        c->st->eng->rollback(c->e);
    else
        db_note_write(c->st);
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
        dd_err why = {0};
        if (c->st->eng->exec_script(c->e, m->sql, &why) != DD_OK)
            code = dd_fail(err, DD_IO, "migration %03d_%s failed: %s", m->version, m->name,
                           why.msg);
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

static dd_code migrate(dd_conn *c, dd_err *err)
{
    /* SQLite: WAL, a property of the file, set by the first opener */
    dd_code ready = c->st->eng->prepare_schema(c->e, c->st->busy_timeout_ms, err);
    if (ready != DD_OK)
        return ready;
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
    st->eng = dd_engine_for(path);
    if (!st->eng) {
        free(st->path);
        free(st);
        return dd_fail(err, DD_INVALID, "%s: no store engine of this build opens it", path);
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

void dd_store_stats_get(dd_store *st, dd_store_stats *out)
{
    out->statements = atomic_load_explicit(&st->statements, memory_order_relaxed);
    out->writes = atomic_load_explicit(&st->writes, memory_order_acquire);
}

void db_note_write(dd_store *st)
{
    atomic_fetch_add_explicit(&st->writes, 1, memory_order_release);
}

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

/* The calling thread's engine connection; NULL (with *code and err set) when it cannot
 * be opened. */
static db_econn *thread_econn(dd_store *st, dd_code *code, dd_err *err)
{
    dd_conn *c;
    *code = db_conn(st, &c, err);
    return *code == DD_OK ? c->e : NULL;
}

dd_code dd_store_data_version(dd_store *st, int64_t *out, dd_err *err)
{
    dd_code code;
    db_econn *e = thread_econn(st, &code, err);
    return e ? st->eng->data_version(e, out, err) : code;
}

dd_code dd_dir_time(dd_store *st, const char *name, int64_t owner_id, char out[DD_TS_LEN],
                    dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    out[0] = 0;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT updated_date FROM dir_time"
                       " WHERE name = ? AND owner_id = ?", "ti", name, owner_id);
    if (code != DD_OK)
        return code;
    bool row;
    code = db_step(c, s, &row, "reading a directory's time", err);
    if (code == DD_OK && row)
        db_col_ts(s, 0, out);
    db_reset(s);
    return code;
}

dd_code dd_store_check_integrity(dd_store *st, dd_err *err)
{
    dd_code code;
    db_econn *e = thread_econn(st, &code, err);
    return e ? st->eng->check_integrity(e, err) : code;
}

dd_code dd_store_quick_check(dd_store *st, dd_err *err)
{
    dd_code code;
    db_econn *e = thread_econn(st, &code, err);
    return e ? st->eng->quick_check(e, err) : code;
}

dd_code db_integrity_lines(dd_store *st, db_line_fn fn, void *ctx, dd_err *err)
{
    dd_code code;
    db_econn *e = thread_econn(st, &code, err);
    return e ? st->eng->integrity(e, fn, ctx, err) : code;
}

dd_code db_blob_read(dd_conn *c, db_blob which, int64_t key, int64_t seq, int64_t off,
                     void *buf, size_t len, size_t *got, int64_t *total, dd_err *err)
{
    return c->st->eng->blob_read(c->e, which, key, seq, off, buf, len, got, total, err);
}

const struct dd_engine *dd_engine_for(const char *locator)
{
    static const struct dd_engine *const engines[] = {&dd_engine_sqlite};
    for (size_t i = 0; i < sizeof engines / sizeof engines[0]; i++)
        if (engines[i]->accepts(locator))
            return engines[i];
    return NULL;
}
