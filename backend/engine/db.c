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
#include <syslog.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/rand.h>

#include "db.h"
#include "engine.h"
#include "migrations.h"
#include "store_local.h"

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
    /* A transaction is open on this connection (between a DB_TXN attempt's begin and its
     * commit or rollback); txn_writes: a write or schema one (row locks apply). */
    bool in_txn, txn_writes;
    /* dd_store_atomic (writer only): how deep inside one the owning thread is (0: not),
     * and the first error of a write nested in it. */
    int nest;
    dd_code nest_code;
    /* the transaction under way changed what the metric log's checks read
     * (db_forget_metric_checks) */
    bool forget_checks;
};

struct dd_store {
    struct dd_store_head head;  /* first: the table of operations (store_ops.h) */
    char *path;                 /* the canonical locator: no password (dd_store_path) */
    char *locator;              /* as given, what connections open */
    char *journal_base;         /* db_journal_base */
    char *journal_dir;          /* db_journal_dir; NULL: legacy names beside the file */
    char uuid[37];              /* db_registry_uuid */
    struct dd_node *node;       /* this process's node row (node.c) ... */
    void (*node_stop)(dd_store *st);    /* ... and its stop */
    const struct dd_engine *eng;
    int busy_timeout_ms;
    bool read_only;
    pthread_key_t conn_key;     /* this thread's dd_conn */
    pthread_mutex_t mu;         /* guards `conns` */
    dd_conn *conns;             /* every open connection, to close them all at the end */
    /* Every write transaction of this process runs on one connection, held under
     * write_mu for each attempt of a DB_TXN (from its begin to its commit or rollback).
     * Writers are serialized by SQLite anyway; sharing the connection keeps its page
     * cache warm, where per-thread writers would each find their cache invalidated by the
     * others' commits. */
    pthread_mutex_t write_mu;
    dd_conn *writer;
    _Atomic pthread_t write_owner;  /* the thread holding write_mu ... */
    _Atomic bool write_owned;       /* ... when this is true (set under write_mu) */
    struct metric_log *mlog;        /* group commit for metric appends (metric_log.c) */
    const db_log_hooks *log_hooks;  /* its drain and stop, registered by it (db.h) */
    /* db_test_fail_next: how many more attempts end in fail_code (tests only) */
    _Atomic int fail_left;
    dd_code fail_code;
    _Atomic int lose_left;          /* db_test_lose_commits (tests only) */
    /* db_group_write: writes waiting to share the next write transaction, and whether a
     * thread is running one such transaction now (all under group_mu). */
    pthread_mutex_t group_mu;
    pthread_cond_t group_cv;
    struct group_req *group_head, *group_tail;
    bool group_running;
    size_t group_last;              /* how many requests the last group ran */
    bool group_gathering;           /* its next leader waits for them (group_cv) */
    db_trash_hook trash_hook;       /* frees queued artifact bytes (artifacts.c) ... */
    void *trash_ctx;                /* ... with this */
    _Atomic uint64_t statements;    /* statements run (dd_store_stats_get) */
    _Atomic uint64_t writes;        /* changes made through this store (db_note_write) */
    /* The checkpointer (engines with wal_watch: SQLite's WAL), started by the first
     * commit that leaves the log past DB_CKPT_PAGES: one thread with its own connection
     * copying the log back into the database, so that no commit does it. ckpt_wanted is
     * set by the commits (ckpt_note), the rest is under ckpt_mu. */
    pthread_mutex_t ckpt_mu;
    pthread_cond_t ckpt_cv;
    pthread_t ckpt_thread;
    bool ckpt_started, ckpt_stop;
    _Atomic bool ckpt_wanted;
    _Atomic int ckpt_done;          /* log pages copied by the last checkpoint */
    double ckpt_until;              /* its connection's deadline for a lock wait */
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
    case DD_UNSUPPORTED: return "unsupported";
    case DD_DENIED: return "denied";
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

/* ---------------------------------------------------------------- the checkpointer */

/*
 * Why a thread: SQLite's automatic checkpoint runs inside the commit that passes its
 * threshold, so one write in every few copied the log back into the database and synced
 * both files while every other writer of the store waited for it. Here commits only
 * append to the log; one thread copies it (passive checkpoints: they never wait for, nor
 * hold up, a reader or a writer).
 *
 * A passive checkpoint alone would let the log grow without bound under a steady stream
 * of commits: SQLite starts the log over only at a write whose transaction began with
 * the whole log already copied, and with commits arriving during every copy that moment
 * never comes. So once the log passes DB_CKPT_RESTART_PAGES the thread takes the
 * store's writer mutex (no transaction of this process is then under way) and runs a
 * restarting checkpoint, which copies the few pages written since the last copy and
 * waits (at most DB_CKPT_WAIT_MS) for readers still on the log: the next write starts
 * it over. Durability is unchanged: commits are as synced as before (the connections'
 * synchronous level), and a checkpoint syncs the log before copying it, as SQLite's own.
 */

/* Pages appended to the log since the last copy after which a commit asks for a copy:
 * SQLite's own automatic checkpoint threshold (4 MB at 4 KiB pages). */
#define DB_CKPT_PAGES 1000
/* A log this long is copied whole and started over (32 MB at 4 KiB pages); a restart
 * that readers prevented is tried again once the log has grown as much more. */
#define DB_CKPT_RESTART_PAGES 8192
/* How long a restarting checkpoint waits for readers still on the log (new writers of
 * this process wait behind it meanwhile, on the writer mutex). */
#define DB_CKPT_WAIT_MS 200

/* The checkpointer connection's lock waits: DB_CKPT_WAIT_MS from the first. */
static double ckpt_wait(void *ctx, bool first)
{
    dd_store *st = ctx;
    if (first)
        st->ckpt_until = db_mono_ms() + DB_CKPT_WAIT_MS;
    return st->ckpt_until;
}

/* One round: a passive copy, then, when the log is past *restart_at, a restarting one
 * under the writer mutex. Its connection is opened on first use (*e). A failure is
 * logged; the next commit asks again. */
static void ckpt_run(dd_store *st, db_econn **e, int *restart_at)
{
    dd_err err = {0};
    dd_code code = *e ? DD_OK : st->eng->open(st->locator, false, ckpt_wait, st, e, &err);
    int log = -1, done = -1;
    if (code == DD_OK)
        code = st->eng->checkpoint(*e, true, &log, &done, &err);
    if (code == DD_OK && done >= 0)
        atomic_store(&st->ckpt_done, done);
    if (code == DD_OK && log >= *restart_at) {
        pthread_mutex_lock(&st->write_mu);
        code = st->eng->checkpoint(*e, false, &log, &done, &err);
        pthread_mutex_unlock(&st->write_mu);
        /* DD_BUSY: a reader (or another process's writer) outlasted the wait */
        *restart_at = code == DD_OK ? DB_CKPT_RESTART_PAGES
                                    : (log > 0 ? log : *restart_at) + DB_CKPT_RESTART_PAGES;
        if (code == DD_OK)
            atomic_store(&st->ckpt_done, 0);
        else if (code == DD_BUSY)
            code = DD_OK;   /* tried again once the log has grown as much more */
    }
    if (code != DD_OK)
        syslog(LOG_WARNING, "deardiary: %s: %s", st->path, err.msg);
}

/* The checkpointer thread: a round each time commits ask, until the store closes. */
static void *ckpt_main(void *arg)
{
    dd_store *st = arg;
    db_econn *e = NULL;
    int restart_at = DB_CKPT_RESTART_PAGES;
    pthread_mutex_lock(&st->ckpt_mu);
    while (!st->ckpt_stop) {
        if (!atomic_exchange(&st->ckpt_wanted, false)) {
            pthread_cond_wait(&st->ckpt_cv, &st->ckpt_mu);
            continue;
        }
        pthread_mutex_unlock(&st->ckpt_mu);
        ckpt_run(st, &e, &restart_at);
        pthread_mutex_lock(&st->ckpt_mu);
    }
    pthread_mutex_unlock(&st->ckpt_mu);
    if (e)
        st->eng->close(e);
    return NULL;
}

/* The engine's wal_watch callback, after every commit of this store's connections (on
 * the committing thread, inside its commit): DB_CKPT_PAGES appended since the last copy
 * ask the checkpointer, starting it the first time. Nothing once the store is closing. */
static void ckpt_note(void *ctx, int pages)
{
    dd_store *st = ctx;
    int done = atomic_load_explicit(&st->ckpt_done, memory_order_relaxed);
    if (done > pages)   /* the log started over */
        done = 0;
    if (pages - done < DB_CKPT_PAGES
        || atomic_load_explicit(&st->ckpt_wanted, memory_order_relaxed))
        return;
    pthread_mutex_lock(&st->ckpt_mu);
    if (!st->ckpt_stop && !st->ckpt_started)
        st->ckpt_started = pthread_create(&st->ckpt_thread, NULL, ckpt_main, st) == 0;
    atomic_store(&st->ckpt_wanted, true);
    pthread_cond_signal(&st->ckpt_cv);
    pthread_mutex_unlock(&st->ckpt_mu);
}

/* At close, before the connections: the thread finishes its round and exits. */
static void ckpt_stop(dd_store *st)
{
    pthread_mutex_lock(&st->ckpt_mu);
    bool join = st->ckpt_started;
    st->ckpt_stop = true;
    pthread_cond_signal(&st->ckpt_cv);
    pthread_mutex_unlock(&st->ckpt_mu);
    if (join)
        pthread_join(st->ckpt_thread, NULL);
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
    dd_code code = st->eng->open(st->locator, st->read_only, busy_deadline, c, &c->e, err);
    if (code != DD_OK) {
        free(c);
        return code;
    }
    if (!st->read_only && st->eng->wal_watch)   /* its commits leave the log to ckpt_main */
        st->eng->wal_watch(c->e, ckpt_note, st);
    pthread_mutex_lock(&st->mu);
    c->next = st->conns;
    st->conns = c;
    pthread_mutex_unlock(&st->mu);
    *out = c;
    return DD_OK;
}

/* The engine's check before a use (a dropped connection reconnects). After a reconnect
 * every statement prepared on it is gone on the server: the cache slots are finalized
 * (the engine's finalize must accept statements of a reset connection) and emptied. */
static dd_code conn_check(dd_conn *c, dd_err *err)
{
    bool reset = false;
    dd_code code = c->st->eng->check(c->e, &reset, err);
    if (reset) {
        for (int i = 0; i < DB_STMT_CACHE; i++) {
            if (c->cache[i].stmt)
                c->st->eng->finalize(c->cache[i].stmt);
            c->cache[i] = (db_stmt){0};
        }
    }
    return code;
}

/* Inside dd_store_atomic this thread reads and writes on the writer, so it sees its own
 * uncommitted writes. */
static bool in_atomic(dd_store *st)
{
    return db_in_write_txn(st) && st->writer && st->writer->nest > 0;
}

dd_code db_conn(dd_store *st, dd_conn **out, dd_err *err)
{
    if (in_atomic(st)) {
        *out = st->writer;
        return DD_OK;
    }
    dd_conn *c = pthread_getspecific(st->conn_key);
    if (c) {
        *out = c;
        return c->in_txn ? DD_OK : conn_check(c, err);
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

typedef struct ids_fill {
    db_ids *ids;
    bool oom;
} ids_fill;

static int fill_id(db_stmt *s, void *arg)
{
    ids_fill *f = arg;
    db_ids *ids = f->ids;
    if (ids->n == ids->cap) {
        size_t cap = ids->cap ? ids->cap * 2 : 16;
        int64_t *v = realloc(ids->v, cap * sizeof *v);
        if (!v) {
            f->oom = true;
            return 1;
        }
        ids->v = v;
        ids->cap = cap;
    }
    ids->v[ids->n++] = db_col_int64(s, 0);
    return 0;
}

dd_code db_collect_ids(dd_conn *c, db_stmt *s, const char *what, db_ids *ids, dd_err *err)
{
    ids_fill f = {ids, false};
    dd_code code = db_each(c, s, what, fill_id, &f, err);
    return code == DD_OK && f.oom ? dd_fail(err, DD_IO, "out of memory") : code;
}

/* ---------------------------------------------------------------- retries */

/* Take one from a test hook's counter: true when one was left. */
static bool take_one(_Atomic int *counter)
{
    int left = atomic_load(counter);
    while (left > 0 && !atomic_compare_exchange_weak(counter, &left, left - 1))
        ;
    return left > 0;
}

/* One of db_test_fail_next's injected failures: its code, or DD_OK when none is left. */
static dd_code injected_failure(dd_store *st, dd_err *err)
{
    return take_one(&st->fail_left)
        ? dd_fail(err, st->fail_code, "injected failure (test hook)") : DD_OK;
}

void db_test_fail_next(dd_store *st, dd_code code, int n)
{
    st->fail_code = code;
    atomic_store(&st->fail_left, n > 0 ? n : 0);
}

void db_test_lose_commits(dd_store *st, int n)
{
    atomic_store(&st->lose_left, n > 0 ? n : 0);
}

/* Before attempt `attempt` + 1 of a retried transaction or statement: sleep a jittered
 * 1, 2, 4 .. 100 ms (so that two nodes that deadlocked do not meet again in step), never
 * past `deadline`. False when the deadline has passed: give up. */
static bool retry_backoff(int attempt, double deadline)
{
    double now = db_mono_ms();
    if (now >= deadline)
        return false;
    double cap = attempt >= 8 ? 100 : (double)(1 << (attempt - 1));
    if (cap > 100)
        cap = 100;
    /* jitter from the clock's low bits and the thread: no shared random state */
    unsigned seed = (unsigned)((uint64_t)(now * 1000) ^ (uint64_t)(uintptr_t)pthread_self());
    double ms = cap / 2 + cap / 2 * (double)(rand_r(&seed) % 1000) / 1000.0;
    if (ms > deadline - now)
        ms = deadline - now;
    time_t whole = (time_t)(ms / 1e3);
    struct timespec ts = {whole, (long)((ms - (double)whole * 1e3) * 1e6)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    return db_mono_ms() < deadline;
}

/* An exhausted retry budget: DD_BUSY (EAGAIN) naming the cause, and one syslog line. */
static dd_code retry_give_up(dd_err *err, const char *what, int attempts)
{
    char why[sizeof err->msg];
    snprintf(why, sizeof why, "%s", err && err->msg[0] ? err->msg : "serialization failure");
    syslog(LOG_WARNING, "%s: gave up after %d attempts: %s", what, attempts, why);
    return dd_fail(err, DD_BUSY, "%s: gave up after %d attempts: %s", what, attempts, why);
}

static dd_code exec_once(dd_conn *c, dd_err *err, const char *what, const char *sql,
                         const char *fmt, va_list ap)
{
    db_stmt *s;
    va_list aq;
    va_copy(aq, ap);
    dd_code code = db_vprep(c, &s, err, sql, fmt, aq);
    va_end(aq);
    if (code != DD_OK)
        return code;
    bool row;
    code = db_step(c, s, &row, what, err);
    db_reset(s);
    return code;
}

/* Inside a transaction a DB_RETRY goes up to DB_TXN, which re-runs the whole body; an
 * autocommit statement is its own transaction, so it is simply sent again. */
dd_code db_exec(dd_conn *c, dd_err *err, const char *what, const char *sql, const char *fmt,
                ...)
{
    va_list ap;
    va_start(ap, fmt);
    double deadline = db_mono_ms() + c->st->busy_timeout_ms;
    dd_code code;
    for (int attempt = 1;; attempt++) {
        code = c->in_txn ? DD_OK : injected_failure(c->st, err);
        if (code == DD_OK)
            code = exec_once(c, err, what, sql, fmt, ap);
        if (code != DB_RETRY || c->in_txn)
            break;
        if (!retry_backoff(attempt, deadline)) {
            code = retry_give_up(err, what, attempt);
            break;
        }
    }
    va_end(ap);
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

/* Begin one attempt of t: the thread's connection for a read snapshot; otherwise drain
 * the metric log (writes: they must find every accepted point committed, as the writer who
 * saw success expects), take the writer mutex and begin on the writer. The waits of every
 * attempt (the log, the mutex, the engine's lock wait) share the deadline of the first:
 * db_wait_begin's scope, its deadline pinned to t->deadline_ms after the first attempt. */
static dd_code txn_begin_attempt(db_txn *t)
{
    dd_store *st = t->st;
    if (in_atomic(st)) {   /* joins the dd_store_atomic transaction under way */
        t->c = st->writer;
        t->nested = true;
        st->writer->nest++;
        return DD_OK;
    }
    dd_conn *scope = db_wait_begin(st);
    if (scope && t->attempt > 0 && scope->wait_depth == 1)
        scope->wait_deadline = t->deadline_ms;
    if (t->attempt == 0)
        t->deadline_ms = scope ? scope->wait_deadline : db_mono_ms() + st->busy_timeout_ms;
    dd_code code = DD_OK;
    if (t->kind == DB_TXN_READ) {
        code = db_conn(st, &t->c, t->err);
    } else {
        if (t->kind == DB_TXN_WRITE)
            code = db_drain(st, t->err);
        if (code == DD_OK)
            code = writer_lock(st, t->err);
        if (code == DD_OK) {
            st->write_owner = pthread_self();
            st->write_owned = true;
            code = st->writer ? conn_check(st->writer, t->err)
                              : conn_open(st, &st->writer, t->err);
            t->c = st->writer;
        }
    }
    if (code == DD_OK)
        code = st->eng->begin(t->c->e, t->kind, t->err);
    if (code == DD_OK) {
        t->c->in_txn = true;
        t->c->txn_writes = t->kind != DB_TXN_READ;
    } else if (t->kind != DB_TXN_READ && st->write_owned &&
               pthread_equal(st->write_owner, pthread_self())) {
        st->write_owned = false;
        pthread_mutex_unlock(&st->write_mu);
    }
    db_wait_end(scope);
    return code;
}

/* End one attempt: commit when the body succeeded (unless the test hook injects a
 * failure), else roll back; release the writer; then hand the trash rows of a committed
 * write to the hook (which may run transactions of its own). Returns the outcome. */
static dd_code txn_finish(db_txn *t)
{
    dd_conn *c = t->c;
    dd_store *st = t->st;
    dd_code code = t->code;
    if (t->nested) {   /* inside dd_store_atomic: its outermost loop commits or retries */
        c->nest--;
        if (code != DD_OK && c->nest_code == DD_OK)
            c->nest_code = code;
        return code;
    }
    if (code == DD_OK && t->kind == DB_TXN_WRITE)
        code = injected_failure(st, t->err);
    if (code == DD_OK)
        code = st->eng->commit(c->e, t->err);
    if (code == DD_OK && t->kind == DB_TXN_WRITE && take_one(&st->lose_left))
        code = dd_fail(t->err, DD_IO, "commit result unknown (test hook)");
    if (code != DD_OK)
        st->eng->rollback(c->e);
    else if (t->kind != DB_TXN_READ)
        db_note_write(st);
    c->in_txn = c->txn_writes = false;
    int64_t lo = c->trash_lo, hi = c->trash_hi;
    c->trash_lo = c->trash_hi = 0;
    if (c == st->writer) {
        st->write_owned = false;
        pthread_mutex_unlock(&st->write_mu);
    }
    if (code == DD_OK && lo && st->trash_hook)
        st->trash_hook(st->trash_ctx, lo, hi);
    const db_log_hooks *hooks = st->log_hooks;
    if (c->forget_checks && hooks && hooks->forget)
        hooks->forget(st);
    c->forget_checks = false;
    return code;
}

void db_txn_start(db_txn *t, dd_store *st, db_txn_kind kind, dd_err *err)
{
    *t = (db_txn){.st = st, .kind = kind, .err = err, .code = DD_OK};
}

bool db_txn_again(db_txn *t)
{
    if (t->attempt > 0) {
        t->code = txn_finish(t);
        if (t->code != DB_RETRY || t->nested)
            return false;
    }
    for (;;) {
        if (t->attempt > 0 && !retry_backoff(t->attempt, t->deadline_ms)) {
            t->code = retry_give_up(t->err, t->kind == DB_TXN_READ ? "read transaction"
                                    : "write transaction", t->attempt);
            return false;
        }
        t->code = txn_begin_attempt(t);
        t->attempt++;
        if (t->code == DD_OK)
            return true;
        if (t->code != DB_RETRY)
            return false;
    }
}

dd_code db_lock(dd_conn *c, db_lock_kind kind, db_table table, int64_t id, dd_err *err)
{
    const struct dd_engine *eng = c->st->eng;
    if (!(eng->supports & DD_ENG_ROW_LOCKS) || !c->txn_writes)
        return DD_OK;
    return eng->lock(c->e, kind, table, id, err);
}

dd_code db_lock_children(dd_conn *c, db_table table, db_table parent, int64_t id,
                         dd_err *err)
{
    const struct dd_engine *eng = c->st->eng;
    if (!(eng->supports & DD_ENG_ROW_LOCKS) || !c->txn_writes)
        return DD_OK;
    return eng->lock_children(c->e, table, parent, id, err);
}

dd_code dd_store_atomic(dd_store *st, dd_atomic_fn fn, void *ctx, dd_err *err)
{
    if (in_atomic(st))
        return fn(st, ctx, err);
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        t.c->nest = 1;
        t.c->nest_code = DD_OK;
        t.code = fn(st, ctx, err);
        /* fn went on after a failed write: the whole fails (a DB_RETRY re-runs fn whole) */
        if (t.code == DD_OK && t.c->nest_code != DD_OK)
            t.code = t.c->nest_code == DB_RETRY
                         ? DB_RETRY
                         : dd_fail(err, t.c->nest_code, "a write of this change failed");
        t.c->nest = 0;
    }
    return t.code;
}

/* ---------------------------------------------------------------- group commit */

/* One caller of db_group_write, on its own stack until `done`. */
typedef struct group_req {
    struct group_req *next;
    db_group_fn fn;          /* one of fn ... */
    db_group_many_fn many;   /* ... or many (db_group_write_many) */
    void *ctx;
    dd_code code;
    dd_err err;
    bool failed;    /* its fn failed: out of the group's later rounds */
    bool solo;      /* a merged run failed without naming a culprit: many() alone from now */
    bool ran;       /* this round: already part of a merged many() call */
    bool done;
} group_req;

/* Run every request of `batch` (from `r` on) that shares r->many and is not solo in one
 * call of it (they all ran). On failure returns its code with the culprit marked failed,
 * or, when many() could not name one, all of them solo (and *again set either way). */
static dd_code group_many(dd_conn *c, group_req *r, bool *again)
{
    size_t k = 0;
    for (group_req *q = r; q; q = q->next)
        k += !q->failed && !q->ran && q->many == r->many && q->solo == r->solo
             && (!r->solo || q == r);
    void **ctxs = malloc(k * sizeof *ctxs);
    group_req **reqs = malloc(k * sizeof *reqs);
    dd_err err = {0};
    if (!ctxs || !reqs) {
        free(ctxs), free(reqs);
        return dd_fail(&r->err, r->code = DD_IO, "out of memory");
    }
    k = 0;
    for (group_req *q = r; q; q = q->next)
        if (!q->failed && !q->ran && q->many == r->many && q->solo == r->solo
            && (!r->solo || q == r))
            q->ran = true, reqs[k] = q, ctxs[k++] = q->ctx;
    size_t culprit = k;
    dd_code code = r->many(c, ctxs, k, &culprit, &err);
    if (k == 1)
        culprit = 0;   /* alone: it is the culprit, whatever many() could tell */
    if (code != DD_OK && code != DB_RETRY) {
        *again = true;
        if (culprit < k)
            reqs[culprit]->failed = true, reqs[culprit]->code = code, reqs[culprit]->err = err;
        for (size_t i = 0; culprit >= k && i < k; i++)
            reqs[i]->solo = true;
    }
    free(ctxs);
    free(reqs);
    return code;
}

/* One round: every request of `batch` that has not failed, in one transaction. A fn that
 * fails rolls the whole round back and drops out (true: run another round); otherwise the
 * round commits, or fails every request with the reason. No savepoints: in SQLite each
 * page first changed inside one is copied to a statement journal, which cost more than
 * the sharing saved; a client's mistake is rare and costs the others one re-run. */
static bool group_round(dd_store *st, group_req *batch)
{
    dd_err err = {0};
    bool again = false;
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, &err) {
        again = false;
        for (group_req *r = batch; r; r = r->next)
            r->ran = false;
        for (group_req *r = batch; r && t.code == DD_OK; r = r->next) {
            if (r->failed || r->ran)
                continue;
            if (r->many) {
                t.code = group_many(t.c, r, &again);
                continue;
            }
            r->code = r->fn(t.c, r->ctx, &r->err);
            if (r->code == DB_RETRY) {   /* the engine's: the whole round again */
                t.code = DB_RETRY;
            } else if (r->code != DD_OK) {
                r->failed = true;
                again = true;
                t.code = r->code;
            }
        }
    }
    if (again)
        return true;
    for (group_req *r = batch; r && t.code != DD_OK; r = r->next) {
        if (!r->failed) {
            r->code = t.code;
            r->err = err;
        }
    }
    return false;
}

/* Queue `me` and wait until its group has run (leading the group if nobody is). */
static dd_code group_join(dd_store *st, group_req *me, dd_err *err);

dd_code db_group_write(dd_store *st, db_group_fn fn, void *ctx, dd_err *err)
{
    if (in_atomic(st)) {   /* inside dd_store_atomic: part of that transaction */
        db_txn t;
        DB_TXN(t, st, DB_TXN_WRITE, err)
            t.code = fn(t.c, ctx, err);
        return t.code;
    }
    group_req me = {.fn = fn, .ctx = ctx, .code = DD_OK};
    return group_join(st, &me, err);
}

dd_code db_group_write_many(dd_store *st, db_group_many_fn many, void *ctx, dd_err *err)
{
    if (in_atomic(st)) {
        db_txn t;
        size_t culprit = 1;   /* one context: the culprit of any failure (unread) */
        DB_TXN(t, st, DB_TXN_WRITE, err)
            t.code = many(t.c, &ctx, 1, &culprit, err);
        return t.code;
    }
    group_req me = {.many = many, .ctx = ctx, .code = DD_OK};
    return group_join(st, &me, err);
}

/* Before a group runs (group_mu held): when the last group had company, let the queue
 * grow to its size, for at most GROUP_GATHER_US. Concurrent writers come back together
 * (20 clients answered by one commit send their next batches at about the same moment);
 * without the wait the first of them commits alone and the rest form the next group.
 * A lone writer (last group of one) never waits. */
#define GROUP_GATHER_US 1000
static void group_gather(dd_store *st)
{
    if (st->group_last < 2)
        return;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += GROUP_GATHER_US * 1000L;
    if (until.tv_nsec >= 1000000000L)
        until.tv_sec++, until.tv_nsec -= 1000000000L;
    st->group_gathering = true;
    for (;;) {
        size_t queued = 0;
        for (group_req *r = st->group_head; r; r = r->next)
            queued++;
        if (queued >= st->group_last
            || pthread_cond_timedwait(&st->group_cv, &st->group_mu, &until) == ETIMEDOUT)
            break;
    }
    st->group_gathering = false;
}

static dd_code group_join(dd_store *st, group_req *me, dd_err *err)
{
    pthread_mutex_lock(&st->group_mu);
    if (st->group_tail)
        st->group_tail->next = me;
    else
        st->group_head = me;
    st->group_tail = me;
    if (st->group_gathering)
        pthread_cond_broadcast(&st->group_cv);
    while (!me->done) {
        if (st->group_running || st->group_gathering) {
            pthread_cond_wait(&st->group_cv, &st->group_mu);
            continue;
        }
        /* Nobody is committing: take every queued request (this one among them) and run
         * them; requests that arrive meanwhile wait for the next round. */
        group_gather(st);
        group_req *batch = st->group_head;
        st->group_head = st->group_tail = NULL;
        st->group_running = true;
        pthread_mutex_unlock(&st->group_mu);
        while (group_round(st, batch))
            ;
        pthread_mutex_lock(&st->group_mu);
        st->group_running = false;
        st->group_last = 0;
        for (group_req *r = batch, *next; r; r = next) {
            next = r->next;   /* read first: once done, r's owner may return */
            r->done = true;
            st->group_last++;
        }
        pthread_cond_broadcast(&st->group_cv);
    }
    pthread_mutex_unlock(&st->group_mu);
    dd_code code = me->code;
    if (err && code != DD_OK)
        *err = me->err;
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
    dd_code code = db_lock(c, DB_LOCK_UPDATE, DB_T_ITERATION, iteration_id, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT end_date FROM iteration WHERE id = ?", "i",
                           iteration_id);
    if (code != DD_OK)
        return code;
    bool row;
    code = db_iteration_step_writable(c, s, iteration_id, &row, err);
    db_reset(s);
    return code;
}

dd_code db_iteration_step_writable(dd_conn *c, db_stmt *s, int64_t iteration_id, bool *row,
                                   dd_err *err)
{
    dd_code code = db_step(c, s, row, "reading an iteration", err);
    if (code == DD_OK && !*row)
        code = dd_fail(err, DD_NOT_FOUND, "iteration %lld not found", (long long)iteration_id);
    else if (code == DD_OK && !db_col_is_null(s, 0))
        code = dd_fail(err, DD_READ_ONLY, "iteration %lld has ended and is read-only",
                       (long long)iteration_id);
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

/* The newest version: the same on every engine (the build checks it), so SQLite's says. */
int dd_schema_version_known(void)
{
    const dd_migration_set *m = &dd_migrations_sqlite;
    return m->count ? m->list[m->count - 1].version : 0;
}

static dd_code applied_version(dd_conn *c, int64_t *out, dd_err *err)
{
    return db_int(c, out, err, "schema version",
                  "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", NULL);
}

/* Apply one migration in its own transaction, unless another process already did
 * (re-checked inside it: DB_TXN_SCHEMA lets one node migrate at a time). */
static dd_code apply_migration(dd_store *st, const dd_migration *m, dd_err *err)
{
    db_txn t;
    DB_TXN(t, st, DB_TXN_SCHEMA, err) {
        int64_t seen = 0;
        t.code = db_int(t.c, &seen, err, "schema_migrations",
                        "SELECT COUNT(*) FROM schema_migrations WHERE version = ?", "n",
                        m->version);
        if (t.code == DD_OK && seen == 0) {
            dd_err why = {0};
            if (st->eng->exec_script(t.c->e, m->sql, &why) != DD_OK)
                t.code = dd_fail(err, DD_IO, "migration %03d_%s failed: %s", m->version,
                                 m->name, why.msg);
            char now[DD_TS_LEN];
            dd_now(now);
            if (t.code == DD_OK)
                t.code = db_exec(t.c, err, "recording a migration",
                                 "INSERT INTO schema_migrations(version, name, applied_at)"
                                 " VALUES (?, ?, ?)", "ntt", m->version, m->name, now);
        }
    }
    return t.code;
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

/* The registry's uuid: seeded once (a random v4 uuid; two first opens racing insert
 * once, ON CONFLICT), then read into the store. */
static dd_code seed_registry_uuid(dd_conn *c, dd_err *err)
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1)
        return dd_fail(err, DD_IO, "no random bytes for the registry uuid");
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    char uuid[37];
    int k = 0;
    for (int i = 0; i < 16; i++)
        k += snprintf(uuid + k, sizeof uuid - (size_t)k, "%s%02x",
                      i == 4 || i == 6 || i == 8 || i == 10 ? "-" : "", b[i]);
    return db_exec(c, err, "seeding the registry uuid",
                   "INSERT INTO registry(id, uuid) VALUES (1, ?) ON CONFLICT(id) DO NOTHING",
                   "t", uuid);
}

/* Read the uuid into st->uuid. A read-only store of a schema older than the table's
 * (nothing is migrated then) reads no uuid and leaves "": it never journals. */
static dd_code load_uuid_row(dd_conn *c, dd_err *err)
{
    db_stmt *s;
    dd_code code = db_prep(c, &s, err, "SELECT uuid FROM registry WHERE id = 1", NULL);
    bool row = false;
    if (code == DD_OK)
        code = db_step(c, s, &row, "reading the registry uuid", err);
    if (code == DD_OK && row)
        snprintf(c->st->uuid, sizeof c->st->uuid, "%s", db_col_text(s, 0));
    if (code == DD_OK)
        db_reset(s);
    return code;
}

/* Read the uuid into st->uuid. A read-only store of a schema older than the table's
 * (nothing is migrated then) reads no uuid and leaves "": it never journals. */
static dd_code load_registry_uuid(dd_conn *c, dd_err *err)
{
    if (c->st->read_only) {
        dd_err ignored = {0};
        load_uuid_row(c, &ignored);
        return DD_OK;
    }
    return load_uuid_row(c, err);
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
    /* A database of this engine starts at the floor (a baseline); versions below it exist
     * only on other engines. */
    const dd_migration_set *set = c->st->eng->migrations;
    if (have > 0 && have < set->floor)
        return dd_fail(err, DD_INVALID, "database schema version %lld is older than the first"
                       " this engine knows (%d)", (long long)have, set->floor);
    for (int i = 0; i < set->count && code == DD_OK; i++)
        if (set->list[i].version > have)
            code = apply_migration(c->st, &set->list[i], err);
    if (code == DD_OK)
        code = seed_default_user(c, err);
    if (code == DD_OK)
        code = seed_registry_uuid(c, err);
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

/* mkdir -p, each new directory 0700 (journals hold unacknowledged data of this user). */
static dd_code make_dirs(const char *path, dd_err *err)
{
    char *copy = strdup(path);
    if (!copy)
        return dd_fail(err, DD_IO, "out of memory");
    dd_code code = DD_OK;
    for (char *p = copy + 1; code == DD_OK; p++) {
        if (*p != '/' && *p != 0)
            continue;
        char was = *p;
        *p = 0;
        if (mkdir(copy, 0700) != 0 && errno != EEXIST)
            code = dd_fail(err, dd_errno_code(errno), "cannot create %s: %s", copy,
                           strerror(errno));
        *p = was;
        if (!was)
            break;
    }
    free(copy);
    return code;
}

/* The store's canonical locator (st->path) and journal prefix, from st->locator. A file
 * engine's locator is its own canonical form and its journals sit beside the file. */
static dd_code store_names(dd_store *st, const char *journal_dir, dd_err *err)
{
    dd_code code = DD_OK;
    if (!st->eng->canonical) {
        st->path = strdup(st->locator);
        st->journal_base = strdup(st->locator);
        if (!st->path || !st->journal_base)
            return dd_fail(err, DD_IO, "out of memory");
    } else {
        code = st->eng->canonical(st->locator, &st->path, err);
        if (code != DD_OK)
            return code;
        st->journal_base = st->eng->journal_base(st->path);
        if (!st->journal_base)
            return dd_fail(err, DD_IO, "out of memory");
    }
    /* the journal directory: the configured one, else a server registry's default (the
     * legacy prefix's directory); a file keeps its legacy journals beside it */
    if (journal_dir && *journal_dir) {
        st->journal_dir = strdup(journal_dir);
    } else if (!(st->eng->supports & DD_ENG_FILE)) {
        st->journal_dir = strdup(st->journal_base);
        char *slash = st->journal_dir ? strrchr(st->journal_dir, '/') : NULL;
        if (slash && slash != st->journal_dir)
            *slash = 0;
    } else {
        return DD_OK;
    }
    if (!st->journal_dir)
        return dd_fail(err, DD_IO, "out of memory");
    code = make_dirs(st->journal_dir, err);
    struct stat sb;
    if (code == DD_OK && (stat(st->journal_dir, &sb) != 0 || !S_ISDIR(sb.st_mode)))
        code = dd_fail(err, DD_INVALID, "metric journal directory %s is not a directory",
                       st->journal_dir);
    return code;
}

const char *db_journal_base(dd_store *st) { return st->journal_base; }
const char *db_journal_dir(dd_store *st) { return st->journal_dir; }
const char *db_registry_uuid(dd_store *st) { return st->uuid; }

dd_code db_server_now_ms(dd_conn *c, int64_t *out, dd_err *err)
{
    return c->st->eng->server_now_ms(c->e, out, err);
}

struct dd_node **db_node_slot(dd_store *st) { return &st->node; }
void db_set_node_stop(dd_store *st, void (*stop)(dd_store *st)) { st->node_stop = stop; }

void local_store_local_dir(const dd_store *st, char *out, size_t len)
{
    if (st->journal_dir && !(st->eng->supports & DD_ENG_FILE)) {
        snprintf(out, len, "%s", st->journal_dir);
        return;
    }
    const char *base = st->journal_base;
    const char *slash = strrchr(base, '/');
    if (!slash)
        snprintf(out, len, ".");
    else
        snprintf(out, len, "%.*s", slash == base ? 1 : (int)(slash - base), base);
}

dd_code dd_locator_canonical(const char *locator, char **out, dd_err *err)
{
    const struct dd_engine *eng = locator ? dd_engine_for(locator) : NULL;
    if (!eng)
        return dd_fail(err, DD_INVALID, "no store engine of this build opens such a URI");
    if (!eng->canonical) {
        *out = strdup(locator);
        return *out ? DD_OK : dd_fail(err, DD_IO, "out of memory");
    }
    return eng->canonical(locator, out, err);
}

bool dd_locator_is_uri(const char *locator)
{
    const struct dd_engine *eng = locator ? dd_engine_for(locator) : NULL;
    return !eng || !(eng->supports & DD_ENG_FILE);
}

const char *dd_store_engine(const dd_store *st)
{
    return st->eng ? st->eng->name : st->head.ops->name;
}

dd_code dd_store_wrap(const dd_store_ops *ops, void *impl, const char *locator,
                      dd_store **out, dd_err *err)
{
    *out = NULL;
    dd_store *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(locator))) {
        free(st);
        return dd_fail(err, DD_IO, "out of memory");
    }
    st->head.ops = ops;
    st->head.impl = impl;
    *out = st;
    return DD_OK;
}

void *dd_store_impl(const dd_store *st) { return st->head.impl; }

void dd_store_wrapped_wrote(dd_store *st) { db_note_write(st); }

/* A wrapped store (dd_store_wrap: no engine) holds its path and its implementation. */
static void wrapped_close(dd_store *st)
{
    if (st->head.ops->close)
        st->head.ops->close(st);
    free(st->path);
    free(st);
}

dd_code db_store_open(const char *path, const dd_store_options *opts, dd_store **out,
                      dd_err *err)
{
    *out = NULL;
    if (!path || !*path)
        return dd_fail(err, DD_INVALID, "no database path given");
    const struct dd_engine *eng = dd_engine_for(path);
    if (!eng)
        return dd_fail(err, DD_INVALID, "%.64s...: no store engine of this build opens such a"
                       " URI (postgresql://... or a file path)", path);
    dd_store *st = calloc(1, sizeof *st);
    if (!st || !(st->locator = strdup(path))) {
        free(st);
        return dd_fail(err, DD_IO, "out of memory");
    }
    st->head.ops = &dd_store_local_ops;
    st->eng = eng;
    dd_code made = store_names(st, opts ? opts->journal_dir : NULL, err);
    if (made != DD_OK) {
        free(st->locator);
        free(st->path);
        free(st->journal_base);
        free(st->journal_dir);
        free(st);
        return made;
    }
    st->busy_timeout_ms = opts && opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 30000;
    st->read_only = opts && opts->read_only;
    pthread_mutex_init(&st->mu, NULL);
    pthread_mutex_init(&st->write_mu, NULL);
    pthread_mutex_init(&st->group_mu, NULL);
    pthread_cond_init(&st->group_cv, NULL);
    if (pthread_key_create(&st->conn_key, conn_thread_exit) != 0) {
        pthread_mutex_destroy(&st->mu);
        pthread_mutex_destroy(&st->write_mu);
        pthread_mutex_destroy(&st->group_mu);
        pthread_cond_destroy(&st->group_cv);
        free(st->locator);
        free(st->path);
        free(st->journal_base);
        free(st->journal_dir);
        free(st);
        return dd_fail(err, DD_IO, "cannot create a thread key");
    }
    pthread_mutex_init(&st->ckpt_mu, NULL);
    pthread_cond_init(&st->ckpt_cv, NULL);
    dd_conn *c;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = st->read_only ? check_version_read_only(c, err) : migrate(c, err);
    if (code == DD_OK)
        code = load_registry_uuid(c, err);
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
    if (!st->eng) {
        wrapped_close(st);
        return;
    }
    if (st->log_hooks)
        st->log_hooks->stop(st);
    if (st->node_stop)
        st->node_stop(st);
    ckpt_stop(st);
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
    pthread_mutex_destroy(&st->group_mu);
    pthread_cond_destroy(&st->group_cv);
    pthread_mutex_destroy(&st->ckpt_mu);
    pthread_cond_destroy(&st->ckpt_cv);
    free(st->locator);
    free(st->path);
    free(st->journal_base);
    free(st->journal_dir);
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

void db_set_log_hooks(dd_store *st, const db_log_hooks *hooks) { st->log_hooks = hooks; }

void db_forget_metric_checks(dd_conn *c)
{
    /* now, so that no cached check taken before serves during the transaction, and again
     * when it finishes (txn_finish), for a check that read meanwhile what it changes */
    const db_log_hooks *hooks = c->st->log_hooks;
    if (hooks && hooks->forget)
        hooks->forget(c->st);
    c->forget_checks = true;
}

dd_code db_drain(dd_store *st, dd_err *err)
{
    return st->log_hooks ? st->log_hooks->drain(st, err) : DD_OK;
}

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

dd_code local_dir_time(dd_store *st, const char *name, int64_t owner_id, char out[DD_TS_LEN],
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

int db_first_line(void *ctx, const char *line)
{
    size_t n = strnlen(line, DD_ERR_MSG_MAX - 1);
    memcpy(ctx, line, n);
    ((char *)ctx)[n] = '\0';
    return 1;
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

dd_code db_id_counter(dd_conn *c, const char *table, int64_t raise_to, int64_t *out,
                      dd_err *err)
{
    return c->st->eng->id_counter(c->e, table, raise_to, out, err);
}

bool db_can_copy(dd_conn *c)
{
    return (c->st->eng->supports & DD_ENG_COPY) != 0;
}

dd_code db_copy_begin(dd_conn *c, const char *table, const char *cols, dd_err *err)
{
    if (!db_can_copy(c) || !c->in_txn || !c->txn_writes)
        return dd_fail(err, DD_IO, "internal: a copy into %s outside a write transaction"
                       " or on an engine without copy", table);
    return c->st->eng->copy_begin(c->e, table, cols, err);
}

dd_code db_copy_row(dd_conn *c, dd_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dd_code code = c->st->eng->copy_row(c->e, fmt, ap, err);
    va_end(ap);
    return code;
}

dd_code db_copy_end(dd_conn *c, bool ok, const char *what, dd_err *err)
{
    return c->st->eng->copy_end(c->e, ok, what, err);
}

const struct dd_engine *dd_engine_for(const char *locator)
{
    static const struct dd_engine *const engines[] = {&dd_engine_pg, &dd_engine_sqlite};
    for (size_t i = 0; i < sizeof engines / sizeof engines[0]; i++)
        if (engines[i]->accepts(locator))
            return engines[i];
    return NULL;
}
