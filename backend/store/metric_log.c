/*
 * metric_log.c - group commit for metric appends: a point accepted here is in a local
 * journal file before the call returns, and in SQLite moments later, committed with
 * every other point accepted meanwhile in one transaction.
 *
 * Why: a training loop that keeps its metric file open and writes one point per write()
 * would otherwise pay one SQLite transaction per point (BENCHMARKS.md, "write"). The
 * journal keeps the durability contract: a point whose write() returned success survives
 * the daemon being killed, because the journal is replayed (exactly once) by the next
 * process that opens the database for writing. It is as durable as SQLite's own WAL at
 * synchronous=NORMAL, which is what every other write here gets: it survives any process
 * crash, not a power cut.
 *
 * The journal is `<dir>/<registry uuid>.<16 hex digits>.mlog` in the store's journal
 * directory (db_journal_dir: configured, or a server registry's local default), or, for a
 * SQLite file without a configured directory, `<db>-mlog.<16 hex digits>` beside it (the
 * legacy name, which the replay keeps finding). One per process that started a log, held
 * with flock(LOCK_EX) while that process lives: a file nobody holds belongs to a dead
 * process and is replayed, by a process of this machine that opens this registry (the
 * uuid in the name: never another registry's journal). Its metric_log_state row, made
 * when the journal is, names the owning node (node.c), so fsck anywhere can list a dead
 * node's journal. Each batch commit records the highest sequence number it applied in
 * that row (in the same transaction), so a replay skips what was already committed; the
 * file is truncated whenever everything in it is committed and it has grown past
 * JOURNAL_TRUNCATE_BYTES.
 *
 * Ordering and visibility: points of one series are committed in the order they were
 * accepted. Anything in this process that reads metrics, and every write transaction,
 * first drains the log (store.h: dd_metric_log_drain), so within the process the deferral
 * is invisible. Other processes (a database shell, a second mount) see a point when its
 * batch commits: at once when its writer closes or fsyncs the file (the filesystem drains
 * then), otherwise within milliseconds.
 *
 * Who commits: a dedicated thread, or any thread that drains while no commit is running
 * (it takes the queue and commits it itself rather than wait for a thread switch).
 *
 * A server out of reach (PostgreSQL restarted, a connection dropped: issue 14): a batch
 * is checked against the database before it is accepted (its iteration writable, its
 * default steps clear of overflow), and that check cannot run then. A batch of a series
 * whose previous batch passed the check in this process (`seen`) is accepted into the
 * journal anyway, so a training loop holding its metric file keeps writing through an
 * outage; its points reach the server when it is back, committed as every other batch
 * (a series whose iteration was deleted meanwhile is dropped with a syslog warning, as
 * for a delete racing an accepted batch). Anything else waits and fails as any write.
 * A SQLite file is never out of reach in this sense: there the check's failure is
 * returned, as before.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "mlog_rec.h"
#include "node.h"
#include "store_local.h"

/* Batches larger than this are appended synchronously (after a drain): they are already
 * one transaction each, and copying them through the journal would only add work. */
#define LOG_MAX_POINTS 256
/* Steps this close to INT64_MAX are appended synchronously too, so the journal never holds
 * a point that could not be committed: a point without a step after step INT64_MAX has no
 * next step (DD_INVALID), and that must be refused in write(), not found by the committer
 * after write() returned. Points queued by this process can raise a series' committed
 * max_step by at most their number, far below this margin. */
#define STEP_MARGIN ((int64_t)1 << 40)
/* Series remembered as checked (a direct-mapped table: a clash forgets one, which only
 * means that series' batches wait for the server in an outage, as without the table, and
 * are checked again). */
#define SEEN_SLOTS 256
/* The held-write check from the cache (a server registry only; docs/ARCHITECTURE.md
 * "Metric appends", rule 6): a batch of a series whose iteration this process saw running
 * less than this long ago (a check read, or a commit that read it under the iteration's
 * row lock), with no iteration ended or deleted through this process since, is accepted
 * without asking the server. So an end made through another node refuses this node's
 * writes at most this much (plus the commit under way) later than a check read would:
 * well inside issue 14's 1 s bound for another node's change to show. */
#define CHECK_VALID_MS 100.0
/* Series names remembered (id -> iteration, key; a direct-mapped table): a server registry's
 * open of a metric file for appending asks the server which series its inode is, one round
 * trip per `echo >> metrics/x`. A series' iteration and key never change and ids are never
 * reused, so the answer only goes stale when the series or its iteration is deleted; it is
 * kept CHECK_VALID_MS and dropped at every end or delete through this process, the bounds
 * of the `seen` checks above. */
#define NAME_SLOTS 256
/* Backpressure: while commits succeed, a batch that finds more records than this queued
 * first waits (committing them itself when no one else is) until half of them are in.
 * Without it one writer appending lines to a held file as fast as it can (10k+ records a
 * second) outruns the commits without bound: the queue, its memory and the journal grow,
 * and every synchronous write of the node (which waits for the whole queue) stalls for the
 * busy timeout. Not during an outage (a commit failing): then the journal takes points
 * without waiting, as it exists to. */
#define LOG_BACKLOG_MAX 4096
/* Past this size a fully committed journal is truncated (not after every batch: that
 * would add a syscall to every single-point append). */
#define JOURNAL_TRUNCATE_BYTES ((off_t)1 << 20)

/* How long the committer thread lets points gather before committing them. Bounds how
 * stale another process's view of a held-open metric file can be. */
#define GROUP_WINDOW_MS 1
/* How often the committer thread looks for journals of dead processes (another daemon on
 * the same database killed while holding accepted points): they are replayed within a
 * second, not only when some process next opens the database. One readdir each time. */
#define RECOVER_PERIOD_MS 250


struct metric_log {
    dd_store *st;
    int fd;                    /* the journal, O_APPEND, flock'd */
    char *path;
    char *name;                /* its base name: the key in metric_log_state */
    int64_t node_id;           /* this process's node (node.c) */
    pthread_mutex_t mu;
    pthread_cond_t work;       /* the queue is not empty, or stop */
    pthread_cond_t done;       /* committed_seq moved, or a commit failed */
    dd_mlog_rec *head, *tail;       /* accepted, not yet taken by a committer */
    uint64_t accepted_seq;     /* last sequence number handed out */
    uint64_t committed_seq;    /* every record up to here is in SQLite */
    bool committing;           /* a committer holds a batch taken from the queue */
    pthread_t committer;       /* ... this thread */
    dd_code failure;           /* the last batch's error, DD_OK once one succeeds */
    struct {
        int64_t iteration_id;  /* 0: empty */
        uint64_t key_hash;
        double at;             /* db_mono_ms() before the read that saw it running */
        uint64_t epoch;        /* `epoch` then */
        bool steps_ok;         /* its committed max_step was clear of STEP_MARGIN then */
    } seen[SEEN_SLOTS];        /* series whose last batch passed the checks */
    pthread_mutex_t names_mu;  /* names[]: not mu, which a commit to the server holds */
    struct {
        int64_t series_id;     /* 0: empty */
        int64_t iteration_id;
        double at;             /* db_mono_ms() before the read that answered */
        uint64_t epoch;        /* `epoch` then */
        char key[DD_NAME_MAX + 1];
    } names[NAME_SLOTS];       /* series names read from the server (NAME_SLOTS) */
    /* Bumped whenever an iteration ends or goes through this process (the store's forget
     * hook) or a commit finds one ended: older `seen` entries no longer spare a check. */
    atomic_uint_fast64_t epoch;
    bool cache_checks;         /* a server registry: write() may use `seen` (CHECK_VALID_MS) */
    bool unreachable;          /* the last check met an unreachable server (logged once) */
    char failure_msg[DD_ERR_MSG_MAX];
    bool stop;
    pthread_t thread;
};

/* ---------------------------------------------------------------- applying batches */

/* Series order for apply_batch: iteration, key, then seq (acceptance order). */
static int series_order(const void *a, const void *b)
{
    const dd_mlog_rec *x = *(dd_mlog_rec *const *)a, *y = *(dd_mlog_rec *const *)b;
    if (x->iteration_id != y->iteration_id)
        return x->iteration_id < y->iteration_id ? -1 : 1;
    int k = strcmp(x->key, y->key);
    if (k)
        return k;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* What a commit learnt of a series' iteration under its row lock (check_obs_note). */
typedef struct check_obs {
    int64_t iteration_id;
    const char *key;           /* the record's: valid while the list is */
    bool running, steps_ok;
    double at;
    uint64_t epoch;
} check_obs;

/* The iteration's state under its row lock, in one read: *exists, *running (not ended),
 * *steps_ok (the series' max_step clear of STEP_MARGIN, or no series yet). */
static dd_code series_state(dd_conn *c, int64_t iteration_id, const char *key, bool *exists,
                            bool *running, bool *steps_ok, dd_err *err)
{
    db_stmt *s;
    dd_code code = db_prep(c, &s, err, "SELECT CASE WHEN i.end_date IS NULL THEN 1 ELSE 0 END,"
                           " (SELECT max_step FROM metric_latest WHERE iteration_id = i.id"
                           " AND key = ?) FROM iteration i WHERE i.id = ?", "ti", key,
                           iteration_id);
    if (code == DD_OK)
        code = db_step(c, s, exists, "reading an iteration", err);
    if (code == DD_OK) {
        *running = *exists && db_col_int64(s, 0) == 1;
        *steps_ok = !*exists || db_col_is_null(s, 1) ||
                    db_col_int64(s, 1) <= INT64_MAX - STEP_MARGIN;
    }
    if (code == DD_OK)
        db_reset(s);
    return code;
}

/* Apply a list of records in one transaction: the records of one series (iteration, key)
 * become one append, in the order they were accepted. Series are independent, so records
 * are grouped by series rather than taken as they come: writers interleaving two series
 * (one line to `loss`, one to `acc`, ...) would otherwise make one small append per
 * record, thousands of statements in one transaction holding the iteration's row lock,
 * which every other node's writes to that iteration then wait for (ENGINES.md §6, risk 4).
 * Iterations are locked in id order. A record whose iteration is gone is dropped (deleting
 * the iteration would have deleted its points); an ended iteration still takes points
 * accepted before it ended. Marks the last seq in metric_log_state under `name`. With
 * `obs` (commit_queue; NULL for a replay), what it read of each series' iteration goes
 * there, *nobs of them, for the write() cache (ARCHITECTURE.md "Metric appends", rule 6). */
static dd_code apply_batch(dd_store *st, const char *name, int64_t node_id, dd_mlog_rec *list,
                           atomic_uint_fast64_t *epoch, check_obs *obs, size_t *nobs,
                           dd_err *err)
{
    size_t count = 0;
    for (dd_mlog_rec *r = list; r; r = r->next)
        count++;
    dd_mlog_rec **recs = malloc((count ? count : 1) * sizeof *recs);
    if (!recs)
        return dd_fail(err, DD_IO, "out of memory");
    int dropped = 0;
    size_t dropped_points = 0;
    int64_t dropped_iteration = 0;
    char dropped_key[DD_NAME_MAX + 1] = "";
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        uint64_t last = 0;
        dropped = 0;
        dropped_points = 0;
        if (nobs)
            *nobs = 0;
        /* Records at or below the seq the database holds were committed by an earlier
         * attempt whose result never reached us (a COMMIT lost with its connection), even
         * if nobody could ask since (the server was away, and the next attempts failed
         * busy before drop_committed ran): skip them here, in the transaction that would
         * append them again, so that each point lands once whatever came between. */
        int64_t done = 0;
        t.code = db_int(t.c, &done, err, "metric log state",
                        "SELECT seq FROM metric_log_state WHERE name = ?", "t", name);
        if (t.code == DD_NOT_FOUND)
            t.code = DD_OK, done = 0;
        size_t todo = 0;
        for (dd_mlog_rec *r = list; r; r = r->next)
            if (r->seq > (uint64_t)done)
                recs[todo++] = r;
        qsort(recs, todo, sizeof *recs, series_order);
        for (size_t i = 0, run_end; i < todo && t.code == DD_OK; i = run_end) {
            dd_mlog_rec *r = recs[i];
            size_t n = r->n;
            for (run_end = i + 1; run_end < todo && recs[run_end]->iteration_id ==
                 r->iteration_id && strcmp(recs[run_end]->key, r->key) == 0; run_end++)
                n += recs[run_end]->n;
            dd_metric_point *pts = run_end == i + 1 ? r->points : malloc(n * sizeof *pts);
            if (!pts) {
                t.code = dd_fail(err, DD_IO, "out of memory");
                break;
            }
            size_t k = 0;
            for (size_t q = i; pts != r->points && q < run_end; q++)
                memcpy(pts + k, recs[q]->points, recs[q]->n * sizeof *pts), k += recs[q]->n;
            /* the lock before the existence check (ENGINES.md §3.3): a delete of the
             * iteration then either committed (its points are dropped) or waits. What
             * the read sees holds from before it (`at`) until this commit at least: the
             * write() cache may count on it (check_obs_note). */
            bool exists = false, running = false, steps_ok = false;
            double at = db_mono_ms();
            uint64_t ep = epoch ? atomic_load(epoch) : 0;
            t.code = db_lock(t.c, DB_LOCK_UPDATE, DB_T_ITERATION, r->iteration_id, err);
            if (t.code == DD_OK)
                t.code = series_state(t.c, r->iteration_id, r->key, &exists, &running,
                                      &steps_ok, err);
            if (t.code == DD_OK && obs)
                obs[(*nobs)++] = (check_obs){r->iteration_id, r->key, running, steps_ok, at,
                                             ep};
            if (t.code == DD_OK && exists)
                t.code = db_metric_append_in(t.c, r->iteration_id, r->key, pts, n, false, err);
            else if (t.code == DD_OK) {
                dropped++;
                dropped_points += n;
                dropped_iteration = r->iteration_id;
                snprintf(dropped_key, sizeof dropped_key, "%s", r->key);
            }
            if (pts != r->points)
                free(pts);
            for (size_t q = i; q < run_end; q++)
                last = recs[q]->seq > last ? recs[q]->seq : last;
        }
        if (t.code == DD_OK && last)
            t.code = db_exec(t.c, err, "metric log state",
                             "INSERT INTO metric_log_state(name, seq, node_id)"
                             " VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE"
                             " SET seq = excluded.seq",
                             "tiI", name, (int64_t)last, node_id);
    }
    free(recs);
    /* Acknowledged points are never dropped silently: the one case, an iteration deleted
     * (here or through another node) between a batch's check and its commit, is named. */
    if (t.code == DD_OK && dropped)
        syslog(LOG_WARNING, "metric log: %zu acknowledged point(s) of %d series were dropped:"
               " their iteration was deleted before they were committed (the last: iteration"
               " %lld, metric %s)", dropped_points, dropped, (long long)dropped_iteration,
               dropped_key);
    return t.code;
}

/* The highest seq of journal `name` that a batch committed (metric_log_state), 0 when
 * none. */
static dd_code committed_seq_of(dd_store *st, const char *name, int64_t *out, dd_err *err)
{
    dd_conn *c;
    *out = 0;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_int(c, out, err, "metric log state",
                      "SELECT seq FROM metric_log_state WHERE name = ?", "t", name);
    if (code == DD_NOT_FOUND)
        code = DD_OK, *out = 0;
    return code;
}

/* Remove journal `name`'s row once the journal itself is gone. An autocommit statement
 * (db_exec retries it) where a write transaction is not needed. */
static dd_code forget_state(dd_store *st, const char *name, dd_err *err)
{
    dd_conn *c;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_exec(c, err, "metric log state",
                       "DELETE FROM metric_log_state WHERE name = ?", "t", name);
    return code;
}

/* Record journal `name` as node `node_id`'s, with nothing committed yet. */
static dd_code claim_state(dd_store *st, const char *name, int64_t node_id, dd_err *err)
{
    dd_conn *c;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_exec(c, err, "metric log state",
                       "INSERT INTO metric_log_state(name, seq, node_id) VALUES (?, 0, ?)"
                       " ON CONFLICT(name) DO UPDATE SET node_id = excluded.node_id",
                       "ti", name, node_id);
    return code;
}

/* After a failed batch: a commit whose result never reached us (a connection lost after
 * COMMIT was sent, ENGINES.md §3.3) may have applied it anyway. Drop the records at or
 * below the seq the database recorded, as replay_one does, so none is appended twice.
 * Returns the remaining list (the dropped records are freed). */
static dd_mlog_rec *drop_committed(struct metric_log *ml, dd_mlog_rec *list)
{
    int64_t done = 0;
    dd_err err = {0};
    if (committed_seq_of(ml->st, ml->name, &done, &err) != DD_OK)
        return list;        /* cannot tell: keep all; the next attempt checks again */
    while (list && list->seq <= (uint64_t)done) {
        dd_mlog_rec *next = list->next;
        list->next = NULL;
        dd_mlog_free(list);
        list = next;
    }
    return list;
}

static void seen_note(struct metric_log *ml, int64_t iteration_id, const char *key, double at,
                      uint64_t epoch, bool steps_ok);

/* Under mu, after a commit: what it read under the row locks. A series whose iteration
 * ran is remembered as checked at the time of that read (when no end or delete of this
 * process came between); an iteration found ended or gone voids every cached check, so
 * the next write() of any of its series asks the server (and is refused). */
static void check_obs_note(struct metric_log *ml, const check_obs *obs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!obs[i].running)
            atomic_fetch_add(&ml->epoch, 1);
    for (size_t i = 0; i < n; i++)
        if (obs[i].running && obs[i].epoch == atomic_load(&ml->epoch))
            seen_note(ml, obs[i].iteration_id, obs[i].key, obs[i].at, obs[i].epoch,
                      obs[i].steps_ok);
}

/* Take the queue (mu held) and commit it in this thread (mu released meanwhile). On
 * failure the batch goes back to the front of the queue, in order. */
static void commit_queue(struct metric_log *ml)
{
    dd_mlog_rec *list = ml->head;
    ml->head = ml->tail = NULL;
    ml->committing = true;
    ml->committer = pthread_self();
    pthread_mutex_unlock(&ml->mu);

    dd_err err = {0};
    uint64_t last = 0;
    size_t count = 0, nobs = 0;
    for (dd_mlog_rec *r = list; r; r = r->next)
        last = r->seq, count++;
    /* one observation per series at most; without memory, none (writes then ask) */
    check_obs *obs = ml->cache_checks ? malloc(count * sizeof *obs) : NULL;
    dd_code code = apply_batch(ml->st, ml->name, ml->node_id, list, &ml->epoch, obs,
                               obs ? &nobs : NULL, &err);
    bool applied = code == DD_OK;
    /* An I/O failure can hide a commit that happened (on PostgreSQL a COMMIT whose answer
     * was lost is resolved by asking the server, but one whose server stayed away past the
     * deadline is DD_BUSY, outcome unknown: apply_batch's seq check covers that case when
     * the batch is applied again). Still
     * committing (mu released): nobody else takes the queue meanwhile, so a re-queued
     * remainder keeps its place before newer points. */
    if (code == DD_IO && !(list = drop_committed(ml, list)))
        code = DD_OK;                   /* it had committed after all */

    pthread_mutex_lock(&ml->mu);
    ml->committing = false;
    ml->failure = code;
    if (applied)
        check_obs_note(ml, obs, nobs);
    free(obs);
    if (code == DD_OK) {
        ml->committed_seq = last;
        dd_mlog_free(list);
        struct stat sb;
        if (!ml->head && fstat(ml->fd, &sb) == 0 && sb.st_size > JOURNAL_TRUNCATE_BYTES &&
            ftruncate(ml->fd, 0) != 0)
            syslog(LOG_WARNING, "metric log %s: truncate: %s", ml->path, strerror(errno));
    } else {
        snprintf(ml->failure_msg, sizeof ml->failure_msg, "%s", err.msg);
        syslog(LOG_ERR, "metric log: committing points failed (will retry): %s", err.msg);
        dd_mlog_rec *t = list;
        while (t->next)
            t = t->next;
        t->next = ml->head;
        if (!ml->head)
            ml->tail = t;
        ml->head = list;
    }
    pthread_cond_broadcast(&ml->done);
}

/* An absolute CLOCK_REALTIME time `ms` from now, for pthread_cond_timedwait. */
static struct timespec realtime_in(long ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_nsec += (ms % 1000) * 1000000L;
    t.tv_sec += ms / 1000 + t.tv_nsec / 1000000000L;
    t.tv_nsec %= 1000000000L;
    return t;
}

/* Replay the journals of dead processes (mu held; released meanwhile). */
static void recover_dead(struct metric_log *ml)
{
    pthread_mutex_unlock(&ml->mu);
    int replayed = 0;
    dd_err err = {0};
    if (dd_metric_log_recover(ml->st, &replayed, &err) != DD_OK)
        syslog(LOG_WARNING, "metric log: replaying a dead process's journal (will retry): %s",
               err.msg);
    pthread_mutex_lock(&ml->mu);
}

static void *committer_main(void *arg)
{
    struct metric_log *ml = arg;
    unsigned backoff_ms = 0;
    pthread_mutex_lock(&ml->mu);
    for (;;) {
        while (!ml->stop && (!ml->head || ml->committing)) {
            struct timespec until = realtime_in(RECOVER_PERIOD_MS);
            if (pthread_cond_timedwait(&ml->work, &ml->mu, &until) == ETIMEDOUT && !ml->stop)
                recover_dead(ml);
        }
        if (ml->stop && (!ml->head || ml->committing))
            break;
        /* The group window: let points gather for a moment, and let a writer that is
         * closing its file commit its own points in its own thread (no thread switch on
         * the `echo >> file` path). */
        if (!ml->stop) {
            struct timespec until = realtime_in(GROUP_WINDOW_MS);
            while (!ml->stop && pthread_cond_timedwait(&ml->work, &ml->mu, &until) == 0)
                ;
        }
        if (!ml->head || ml->committing)
            continue;
        commit_queue(ml);
        if (ml->failure == DD_OK) {
            backoff_ms = 0;
            continue;
        }
        /* Back off before retrying a failed batch (SQLite busy past its timeout, disk
         * full): 10 ms doubling to 1 s. The points stay in the journal meanwhile. */
        backoff_ms = backoff_ms ? (backoff_ms * 2 > 1000 ? 1000 : backoff_ms * 2) : 10;
        struct timespec until = realtime_in((long)backoff_ms);
        if (!ml->stop)
            pthread_cond_timedwait(&ml->work, &ml->mu, &until);
        else
            break;
    }
    pthread_mutex_unlock(&ml->mu);
    return NULL;
}

/* ---------------------------------------------------------------- the public calls */

/* The journal's path: `<dir>/<uuid>.<hex>.mlog` or the legacy `<base>-mlog.<hex>`. */
static char *journal_path(dd_store *st, const unsigned char rnd[8])
{
    const char *dir = db_journal_dir(st), *base = db_journal_base(st);
    char hex[17];
    for (int i = 0; i < 8; i++)
        snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
    char *path = NULL;
    int rc = dir ? asprintf(&path, "%s/%s.%s.mlog", dir, db_registry_uuid(st), hex)
                 : asprintf(&path, "%s-mlog.%s", base, hex);
    return rc < 0 ? NULL : path;
}

static dd_code journal_create(struct metric_log *ml, dd_err *err)
{
    unsigned char rnd[8];
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        return dd_fail(err, DD_IO, "metric log: no random bytes for the journal name");
    if (db_journal_dir(ml->st) && strlen(db_registry_uuid(ml->st)) != 36)
        return dd_fail(err, DD_IO, "metric log: the registry has no uuid");
    ml->path = journal_path(ml->st, rnd);
    if (!ml->path)
        return dd_fail(err, DD_IO, "out of memory");
    const char *slash = strrchr(ml->path, '/');
    ml->name = strdup(slash ? slash + 1 : ml->path);
    /* Made under a name the replay ignores and renamed once locked: other processes look
     * for dead journals all the time (RECOVER_PERIOD_MS), and must never take a new one,
     * not yet locked, for a dead one. */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.new", ml->path);
    ml->fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
    if (!ml->name || ml->fd < 0)
        return dd_fail(err, dd_errno_code(errno), "cannot create the metric journal %s: %s",
                       tmp, strerror(errno));
    if (flock(ml->fd, LOCK_EX | LOCK_NB) != 0 || rename(tmp, ml->path) != 0) {
        int e = errno;
        unlink(tmp);
        return dd_fail(err, DD_IO, "cannot lock and name the metric journal %s: %s", ml->path,
                       strerror(e));
    }
    return DD_OK;
}

static void log_free(struct metric_log *ml)
{
    if (ml->fd >= 0) {
        unlink(ml->path);
        close(ml->fd);
    }
    dd_mlog_free(ml->head);
    pthread_mutex_destroy(&ml->mu);
    pthread_cond_destroy(&ml->work);
    pthread_cond_destroy(&ml->done);
    pthread_mutex_destroy(&ml->names_mu);
    free(ml->path);
    free(ml->name);
    free(ml);
}

/* db.h forget hook: an iteration ended or was deleted through this store. */
static void log_forget(dd_store *st)
{
    struct metric_log *ml = *db_metric_log_slot(st);
    if (ml)
        atomic_fetch_add(&ml->epoch, 1);
}

static const db_log_hooks log_hooks = {
    .drain = dd_metric_log_drain,
    .stop = dd_metric_log_stop,
    .forget = log_forget,
};

dd_code dd_metric_log_start(dd_store *st, dd_err *err)
{
    struct metric_log **slot = db_metric_log_slot(st);
    if (*slot)
        return DD_OK;
    struct metric_log *ml = calloc(1, sizeof *ml);
    if (!ml)
        return dd_fail(err, DD_IO, "out of memory");
    ml->st = st;
    ml->fd = -1;
    ml->cache_checks = dd_locator_is_uri(dd_store_path(st));
    atomic_init(&ml->epoch, 1);
    pthread_mutex_init(&ml->mu, NULL);
    pthread_mutex_init(&ml->names_mu, NULL);
    pthread_cond_init(&ml->work, NULL);
    pthread_cond_init(&ml->done, NULL);
    dd_code code = journal_create(ml, err);
    /* the node and the journal's state row first: from now on fsck anywhere can tell
     * whose journal it is, even before a batch commits */
    if (code == DD_OK)
        code = node_self(st, &ml->node_id, err);
    if (code == DD_OK)
        code = claim_state(st, ml->name, ml->node_id, err);
    bool claimed = code == DD_OK;
    if (code == DD_OK && pthread_create(&ml->thread, NULL, committer_main, ml) != 0)
        code = dd_fail(err, DD_IO, "cannot start the metric log's thread");
    if (code != DD_OK) {
        if (claimed)            /* the journal goes: so does its row (best effort) */
            forget_state(st, ml->name, NULL);
        log_free(ml);
        return code;
    }
    *slot = ml;
    db_set_log_hooks(st, &log_hooks);
    return DD_OK;
}

/* Wait (mu held) until everything accepted up to `target` is committed, committing the
 * queue in this thread whenever no one else is. A commit that fails for any reason but a
 * busy database (a full disk, an I/O error) is answered at once; a busy database after the
 * calling thread's deadline (db.h, "Bounded waits"): DD_BUSY. Either way the points stay
 * in the journal and the committer thread keeps retrying. */
static dd_code drain_locked(struct metric_log *ml, uint64_t target, dd_err *err)
{
    double deadline = db_wait_deadline(ml->st);
    while (ml->committed_seq < target) {
        if (!ml->committing && ml->head) {
            commit_queue(ml);
            if (ml->failure != DD_OK && ml->failure != DD_BUSY)
                return dd_fail(err, ml->failure, "metric points are waiting to be committed:"
                               " %s", ml->failure_msg);
            if (ml->failure == DD_OK)
                continue;
        }
        double now = db_mono_ms();
        if (now >= deadline)
            return dd_fail(err, DD_BUSY, "metric points are waiting to be committed: %s",
                           ml->failure != DD_OK ? ml->failure_msg : "database is busy");
        /* another thread is committing: wait for it, 50 ms at a time */
        double wait_ms = deadline - now < 50 ? deadline - now : 50;
        struct timespec until = realtime_in(wait_ms < 1 ? 1 : (long)wait_ms);
        pthread_cond_timedwait(&ml->done, &ml->mu, &until);
    }
    return DD_OK;
}

dd_code local_metric_log_drain(dd_store *st, dd_err *err)
{
    struct metric_log *ml = *db_metric_log_slot(st);
    if (!ml)
        return DD_OK;
    dd_conn *scope = db_wait_begin(st);
    pthread_mutex_lock(&ml->mu);
    dd_code code = DD_OK;
    /* The committing thread must not wait for itself; nor may a thread inside a write
     * transaction wait, since the committer needs the writer. Its reads then miss the
     * points still queued, as any reader inside a transaction misses later commits. */
    bool committing_here = ml->committing && pthread_equal(ml->committer, pthread_self());
    if (!committing_here && !db_in_write_txn(st))
        code = drain_locked(ml, ml->accepted_seq, err);
    pthread_mutex_unlock(&ml->mu);
    db_wait_end(scope);
    return code;
}

void dd_metric_log_stop(dd_store *st)
{
    struct metric_log **slot = db_metric_log_slot(st);
    struct metric_log *ml = *slot;
    if (!ml)
        return;
    dd_err err = {0};
    dd_conn *scope = db_wait_begin(st);
    pthread_mutex_lock(&ml->mu);
    dd_code code = drain_locked(ml, ml->accepted_seq, &err);
    db_wait_end(scope);
    ml->stop = true;
    pthread_cond_broadcast(&ml->work);
    pthread_mutex_unlock(&ml->mu);
    pthread_join(ml->thread, NULL);
    *slot = NULL;
    db_set_log_hooks(st, NULL);
    if (code != DD_OK) {
        /* Keep the journal: the next process to open the database replays it. */
        syslog(LOG_ERR, "metric log: %s; %s is kept for replay", err.msg, ml->path);
        close(ml->fd);
        ml->fd = -1;
    } else {
        forget_state(st, ml->name, &err);
    }
    log_free(ml);
}

/* Append a record to the journal; returns the bytes written, len unless a write failed,
 * with errno then set (a full disk first takes part of a record: its ENOSPC comes from
 * the next write, which is what the caller must report). */
static ssize_t journal_append(int fd, const unsigned char *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, buf + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = ENOSPC;
            return (ssize_t)done;
        }
        done += (size_t)w;
    }
    return (ssize_t)len;
}

/* The checks a batch passes before the journal, in one read (one round trip on a server
 * engine: two reads per write() held the PostgreSQL mount to a fraction of the SQLite
 * one, BENCHMARKS.md "PostgreSQL mounts"): the iteration exists and has not ended (the rule and
 * the messages of db_iteration_writable, outside a transaction, where it takes no lock),
 * and may this batch go through the journal as far as steps go? An explicit step near
 * INT64_MAX may not; a batch with points without a step may not when the series' highest
 * committed step is near it. */
static dd_code batch_checks(dd_conn *c, int64_t iteration_id, const char *key,
                            const dd_metric_point *points, size_t n, bool *ok, bool *steps_ok,
                            dd_err *err)
{
    bool defaults = false;
    *ok = true;
    for (size_t i = 0; i < n; i++) {
        if (points[i].has_step && points[i].step > INT64_MAX - STEP_MARGIN)
            *ok = false;
        defaults = defaults || !points[i].has_step;
    }
    db_stmt *s;
    dd_code code = db_prep(c, &s, err, "SELECT i.end_date, (SELECT max_step FROM metric_latest"
                           " WHERE iteration_id = i.id AND key = ?) FROM iteration i"
                           " WHERE i.id = ?", "ti", key, iteration_id);
    if (code != DD_OK)
        return code;
    bool row;
    code = db_iteration_step_writable(c, s, iteration_id, &row, err);
    *steps_ok = code == DD_OK && (db_col_is_null(s, 1) ||
                                  db_col_int64(s, 1) <= INT64_MAX - STEP_MARGIN);
    if (code == DD_OK && defaults)
        *ok = *ok && *steps_ok;
    db_reset(s);
    return code;
}

/* FNV-1a of a series key, never 0 (0 marks an empty `seen` slot). */
static uint64_t key_hash(const char *key)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h ? h : 1;
}

static size_t seen_slot(int64_t iteration_id, uint64_t h)
{
    return (size_t)((h ^ (uint64_t)iteration_id * 0x9E3779B97F4A7C15ULL) % SEEN_SLOTS);
}

/* Under ml->mu: remember that the series' iteration was seen running at `at` (epoch
 * `epoch`), its max_step clear of STEP_MARGIN or not. */
static void seen_note(struct metric_log *ml, int64_t iteration_id, const char *key, double at,
                      uint64_t epoch, bool steps_ok)
{
    uint64_t h = key_hash(key);
    size_t i = seen_slot(iteration_id, h);
    ml->seen[i].iteration_id = iteration_id;
    ml->seen[i].key_hash = h;
    ml->seen[i].at = at;
    ml->seen[i].epoch = epoch;
    ml->seen[i].steps_ok = steps_ok;
}

/* Under ml->mu: may the batch skip the check read (CHECK_VALID_MS)? Only on a server
 * registry, for a series seen running recently, with no end or delete through this
 * process since, and only when the steps need nothing the cache may not know: no explicit
 * step near INT64_MAX, and default steps only on a series whose max_step was clear. The
 * series is matched by iteration id and a 64-bit hash of its key; a clash of two keys
 * could only lend one's `steps_ok` to the other. */
static bool check_cached(struct metric_log *ml, int64_t iteration_id, const char *key,
                         const dd_metric_point *points, size_t n)
{
    if (!ml->cache_checks)
        return false;
    uint64_t h = key_hash(key);
    size_t i = seen_slot(iteration_id, h);
    if (ml->seen[i].iteration_id != iteration_id || ml->seen[i].key_hash != h ||
        ml->seen[i].epoch != atomic_load(&ml->epoch) ||
        db_mono_ms() - ml->seen[i].at >= CHECK_VALID_MS)
        return false;
    for (size_t k = 0; k < n; k++)
        if (points[k].has_step ? points[k].step > INT64_MAX - STEP_MARGIN
                               : !ml->seen[i].steps_ok)
            return false;
    return true;
}

/* May a batch whose checks failed with `code` be accepted all the same? Only when the
 * failure says the server is out of reach (a network engine's lost connection or a
 * reconnect that timed out), the series passed the checks before, and no explicit step
 * needs the overflow check (default steps advance by one a point: STEP_MARGIN of them
 * cannot be written during an outage). Under ml->mu. */
static bool accept_unchecked(struct metric_log *ml, int64_t iteration_id, const char *key,
                             const dd_metric_point *points, size_t n, dd_code code,
                             const dd_err *err)
{
    if ((code != DD_IO && code != DD_BUSY && code != DB_RETRY) ||
        !dd_locator_is_uri(dd_store_path(ml->st)))
        return false;
    uint64_t h = key_hash(key);
    size_t i = seen_slot(iteration_id, h);
    if (ml->seen[i].iteration_id != iteration_id || ml->seen[i].key_hash != h)
        return false;
    for (size_t k = 0; k < n; k++)
        if (points[k].has_step && points[k].step > INT64_MAX - STEP_MARGIN)
            return false;
    if (!ml->unreachable)
        syslog(LOG_WARNING, "metric log: the database is out of reach (%s); points of series"
               " already being written are kept in the journal %s until it is back",
               err->msg, ml->path);
    ml->unreachable = true;
    return true;
}

/* LOG_BACKLOG_MAX (mu held): wait for the queue to shrink to half when it is long, as
 * long as commits succeed and no later than the caller's deadline (db_wait_deadline). The
 * first failing commit ends the wait (an outage, a lock held elsewhere): the batch is then
 * accepted all the same, which is what the journal is for. */
static void backpressure(struct metric_log *ml)
{
    bool committing_here = ml->committing && pthread_equal(ml->committer, pthread_self());
    if (committing_here || db_in_write_txn(ml->st))
        return;
    double deadline = db_wait_deadline(ml->st);
    if (ml->accepted_seq - ml->committed_seq <= LOG_BACKLOG_MAX)
        return;
    while (ml->accepted_seq - ml->committed_seq > LOG_BACKLOG_MAX / 2 &&
           ml->failure == DD_OK) {
        if (!ml->committing && ml->head) {
            commit_queue(ml);
            continue;
        }
        double left = deadline - db_mono_ms();
        if (left <= 0)
            return;
        struct timespec until = realtime_in(left < 50 ? (left < 1 ? 1 : (long)left) : 50);
        pthread_cond_timedwait(&ml->done, &ml->mu, &until);
    }
}

/* The synchronous append, after everything accepted before it. */
static dd_code append_now(dd_store *st, int64_t iteration_id, const char *key,
                          const dd_metric_point *points, size_t n, dd_err *err)
{
    dd_code code = dd_metric_log_drain(st, err);
    return code == DD_OK ? dd_metric_append(st, iteration_id, key, points, n, err) : code;
}

dd_code local_metric_append_logged(dd_store *st, int64_t iteration_id, const char *key,
                                const dd_metric_point *points, size_t n, dd_err *err)
{
    struct metric_log *ml = *db_metric_log_slot(st);
    if (n == 0)
        return DD_OK;
    if (!ml || n > LOG_MAX_POINTS)
        return append_now(st, iteration_id, key, points, n, err);
    /* Everything the synchronous append would refuse is refused now, before the journal:
     * a bad key or value, an ended or missing iteration. */
    dd_mlog_rec *r = calloc(1, sizeof *r);
    if (!r || !(r->key = strdup(key)) || !(r->points = malloc(n * sizeof *points))) {
        dd_mlog_free(r);
        return dd_fail(err, DD_IO, "out of memory");
    }
    memcpy(r->points, points, n * sizeof *points);
    r->n = n;
    r->iteration_id = iteration_id;
    dd_conn *c;
    bool loggable = true, steps_ok = false, cached = false;
    dd_code code = dd_metric_points_check(key, r->points, n, err);
    if (code == DD_OK && ml->cache_checks) {
        pthread_mutex_lock(&ml->mu);
        cached = check_cached(ml, iteration_id, key, points, n);
        pthread_mutex_unlock(&ml->mu);
    }
    double at = db_mono_ms();
    uint64_t epoch = atomic_load(&ml->epoch);
    if (code == DD_OK && !cached)
        code = db_conn(st, &c, err);
    if (code == DD_OK && !cached)
        code = batch_checks(c, iteration_id, key, points, n, &loggable, &steps_ok, err);
    if (code == DD_OK && !loggable) {
        dd_mlog_free(r);
        return append_now(st, iteration_id, key, points, n, err);
    }
    pthread_mutex_lock(&ml->mu);
    if (code == DD_OK)
        backpressure(ml);
    if (code == DD_OK && !cached) {
        seen_note(ml, iteration_id, key, at, epoch, steps_ok);
        ml->unreachable = false;
    } else if (code != DD_OK && accept_unchecked(ml, iteration_id, key, points, n, code, err))
        code = DD_OK, *err = (dd_err){0};
    if (code != DD_OK) {
        pthread_mutex_unlock(&ml->mu);
        dd_mlog_free(r);
        return code;
    }
    r->seq = ml->accepted_seq + 1;
    size_t len = 0;
    unsigned char *buf = dd_mlog_encode(r, &len);
    ssize_t w = buf ? journal_append(ml->fd, buf, len) : -1;
    if (w == (ssize_t)len) {
        ml->accepted_seq = r->seq;
        db_note_write(st);     /* readers see it from now on (they drain the log first) */
        if (ml->tail)
            ml->tail->next = r;
        else
            ml->head = r;
        ml->tail = r;
        if (ml->head == r)
            pthread_cond_signal(&ml->work);   /* the queue was empty: start a window */
    } else {
        int e = buf ? errno : 0;
        code = dd_fail(err, e ? dd_errno_code(e) : DD_IO, "metric journal %s: %s", ml->path,
                       e ? strerror(e) : "out of memory");
        if (w > 0 && ftruncate(ml->fd, lseek(ml->fd, 0, SEEK_END) - w) != 0)
            syslog(LOG_ERR, "metric journal %s: cannot drop a torn record", ml->path);
        dd_mlog_free(r);
    }
    pthread_mutex_unlock(&ml->mu);
    free(buf);
    return code;
}

/* ---------------------------------------------------------------- replay */

/* Replay one journal whose owner is gone: apply the records after the recorded seq in
 * one transaction, then remove the file, then its state row. */
static dd_code replay_one(dd_store *st, const char *path, const char *name, int *replayed,
                          dd_err *err)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return DD_OK;                 /* replayed and removed by someone else meanwhile */
    struct stat sb;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0 || fstat(fd, &sb) != 0 || sb.st_nlink == 0) {
        close(fd);
        return DD_OK;   /* its process is alive, or another one replayed it meanwhile
                         * (and removed it before letting go of the lock) */
    }
    int64_t done = 0;
    dd_code code = committed_seq_of(st, name, &done, err);
    dd_mlog_rec *all = code == DD_OK ? dd_mlog_read_fd(fd) : NULL, *todo = all, *prev = NULL;
    while (todo && todo->seq <= (uint64_t)done)
        prev = todo, todo = todo->next;
    if (prev)
        prev->next = NULL;
    int count = 0;
    for (dd_mlog_rec *r = todo; r; r = r->next)
        count++;
    if (code == DD_OK && todo)
        code = apply_batch(st, name, 0, todo, NULL, NULL, NULL, err);
    if (code == DD_OK) {
        unlink(path);
        code = forget_state(st, name, err);
        dd_err ignored = {0};
        if (code == DD_OK && node_gc(st, NULL, &ignored) != DD_OK)   /* its dead node */
            syslog(LOG_WARNING, "metric log: removing dead nodes: %s", ignored.msg);
        *replayed += count;
        if (count)
            syslog(LOG_NOTICE, "metric log: replayed %d batch(es) from %s", count, path);
    }
    if (todo != all)
        dd_mlog_free(todo);
    dd_mlog_free(all);
    close(fd);
    return code;
}

/* Replay every journal in `dir` whose name is `prefix` + 16 hex digits + `suffix`. */
static dd_code recover_in(dd_store *st, const char *dir, const char *prefix,
                          const char *suffix, int *replayed, dd_err *err)
{
    size_t plen = strlen(prefix), slen = strlen(suffix);
    DIR *d = opendir(dir);
    dd_code code = DD_OK;
    for (struct dirent *e; d && code == DD_OK && (e = readdir(d)) != NULL;) {
        size_t len = strlen(e->d_name);
        if (len != plen + 16 + slen || strncmp(e->d_name, prefix, plen) != 0 ||
            strspn(e->d_name + plen, "0123456789abcdef") != 16 ||
            strcmp(e->d_name + plen + 16, suffix) != 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        code = replay_one(st, path, e->d_name, replayed, err);
    }
    if (d)
        closedir(d);
    return code;
}

dd_code dd_metric_log_recover(dd_store *st, int *replayed, dd_err *err)
{
    *replayed = 0;
    /* the legacy names beside the base (a SQLite file, or a server registry's journals
     * from before the registry uuid) */
    char *copy = strdup(db_journal_base(st)), *copy2 = strdup(db_journal_base(st));
    if (!copy || !copy2) {
        free(copy), free(copy2);
        return dd_fail(err, DD_IO, "out of memory");
    }
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%s-mlog.", basename(copy2));
    dd_code code = recover_in(st, dirname(copy), prefix, "", replayed, err);
    free(copy);
    free(copy2);
    /* this registry's journals in the journal directory; other registries' stay */
    const char *uuid = db_registry_uuid(st);
    if (code == DD_OK && db_journal_dir(st) && strlen(uuid) == 36) {
        int more = 0;
        snprintf(prefix, sizeof prefix, "%s.", uuid);
        code = recover_in(st, db_journal_dir(st), prefix, ".mlog", &more, err);
        *replayed += more;
    }
    return code;
}

/* ---------------------------------------------------------------- series names */

/* The remembered name of series `id`, when still valid (NAME_SLOTS): true with
 * *iteration_id and a copy in *key_out (NULL when out of memory: the caller reads). */
static bool name_cached(struct metric_log *ml, int64_t id, int64_t *iteration_id,
                        char **key_out)
{
    size_t i = (size_t)((uint64_t)id % NAME_SLOTS);
    pthread_mutex_lock(&ml->names_mu);
    bool hit = ml->names[i].series_id == id && ml->names[i].epoch == atomic_load(&ml->epoch) &&
               db_mono_ms() - ml->names[i].at < CHECK_VALID_MS;
    if (hit) {
        *iteration_id = ml->names[i].iteration_id;
        *key_out = strdup(ml->names[i].key);
        hit = *key_out != NULL;
    }
    pthread_mutex_unlock(&ml->names_mu);
    return hit;
}

static void name_note(struct metric_log *ml, int64_t id, int64_t iteration_id, const char *key,
                      double at, uint64_t epoch)
{
    size_t i = (size_t)((uint64_t)id % NAME_SLOTS);
    if (strlen(key) > DD_NAME_MAX)
        return;
    pthread_mutex_lock(&ml->names_mu);
    ml->names[i].series_id = id;
    ml->names[i].iteration_id = iteration_id;
    ml->names[i].at = at;
    ml->names[i].epoch = epoch;
    snprintf(ml->names[i].key, sizeof ml->names[i].key, "%s", key);
    pthread_mutex_unlock(&ml->names_mu);
}

dd_code local_metric_series_name_cached(dd_store *st, int64_t series_id, int64_t *iteration_id,
                                        char **key_out, dd_err *err)
{
    struct metric_log *ml = *db_metric_log_slot(st);
    bool cache = ml && ml->cache_checks;
    if (cache && name_cached(ml, series_id, iteration_id, key_out))
        return DD_OK;
    double at = db_mono_ms();
    uint64_t epoch = cache ? atomic_load(&ml->epoch) : 0;
    dd_code code = local_metric_series_name(st, series_id, iteration_id, key_out, err);
    if (code == DD_OK && cache)
        name_note(ml, series_id, *iteration_id, *key_out, at, epoch);
    return code;
}
