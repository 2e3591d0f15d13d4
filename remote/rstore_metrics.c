/*
 * rstore_metrics.c - metric appends of a remote mount (docs/REMOTE.md §4, step R6): the
 * store entries that put a write()'s points in the node journal (journal.c) and return,
 * the sender thread that delivers them to POST /v1/metrics exactly once, and the read
 * that shows the server's points followed by the node's undelivered ones.
 *
 *   metric_append         journal, then wait for its group fdatasync (a handle's first
 *                           batch, as a local mount commits it at once)
 *   metric_append_logged  journal only (the handle's later batches)
 *   metric_log_drain      wait for the group fdatasync (close/fsync of a metric file):
 *                           from then on the points are the node's to deliver
 *   metric_read/scan      GET /metric/iteration/{iid} + the undelivered points (§4.6)
 *
 * Checks before a point is accepted: the points as dd_metric_append checks them, and the
 * iteration exists and runs (its listing, from the answer cache). When the server cannot
 * be reached, an iteration this mount has already seen running is taken as running, so a
 * training loop keeps writing through an outage (the server drops, and syslogs, a batch
 * whose iteration ended or went meanwhile); any other is the error (EIO).
 *
 * Sender: one thread, one request in flight, batches of at most 10 000 points and about
 * 900 KiB of JSON (below the server's 1 MiB body limit), each keyed with its last record's
 * seq, one batch per record, columnar where the server takes it (metric_body.c); the
 * same request (same body, same key) is retried with backoff 100 ms doubling to 30 s
 * after no answer, 5xx, 401 (the token is read again, refreshed when due), 403 or 429;
 * a 400 (a body the server cannot take: a bug) is set aside in `journal.rejected` with a
 * syslog line, and delivery goes on.
 */
#include <inttypes.h>
#include <math.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "creds.h"
#include "journal.h"
#include "metric_body.h"
#include "remote.h"
#include "rstore_int.h"

#define SEND_POINTS_MAX 10000
#define SEND_BYTES_MAX (900 * 1024)
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 30000
/* Iterations remembered as running, for accepting points during an outage (direct
 * mapped: a clash forgets one, whose points then wait for the server as without it). */
#define RUNNING_SLOTS 256

struct rs_metrics {
    dd_journal *journal;
    dd_http *http;             /* the sender's own connection */
    char *url;
    pthread_t sender;
    pthread_mutex_t mu;        /* stop, running[]; `wake` waits on it */
    pthread_cond_t wake;
    bool stop;
    bool failing;              /* the last attempt failed (no grace at unmount then) */
    struct { int64_t iid; double at; } running[RUNNING_SLOTS];   /* seen running, when */
    /* held by a read across its server answer and journal walk, and by the sender to
     * start a request (`inflight`) and to end it (marking its records delivered and
     * expiring the cached answers): a read never sees a point in neither (delivered, but
     * an answer from before the delivery), and waits (up to READ_WAIT_MS) for a request
     * in flight to end, as its points may be committed but still in the journal */
    pthread_mutex_t view_mu;
    pthread_cond_t view_idle;  /* inflight went false */
    bool inflight;
    /* the sender's (remote.h: read again four times per lifetime, at least every minute,
     * refreshed past half its life, and after a 401) */
    dd_token_slot token;
    dd_journal *orphans[DD_JOURNAL_DIRS];   /* dead mounts' journals this one delivers */
    int n_orphans;
    unsigned long attempts;    /* requests tried (under mu): rs_metrics_flush counts them */
    /* Series this mount showed while only its journal held them (under mu): "iid/key" ->
     * id, and [iid, key] at index id - RS_LOCAL_SERIES; kept for the mount's life. */
    json_t *local_ids, *local_rows;
};

/* How long a read waits for a delivery in flight before showing what it has (its points
 * may then show twice, the server's and the journal's, until the answer comes). */
#define READ_WAIT_MS 2000

static rstore *rs_of(const dd_store *st) { return dd_store_impl(st); }

/* CLOCK_REALTIME `ms` from now, for pthread_cond_timedwait. */
static struct timespec realtime_ms(long ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    t.tv_sec += t.tv_nsec / 1000000000L;
    t.tv_nsec %= 1000000000L;
    return t;
}

/* ---------------------------------------------------------------- accepting points */

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void running_note(rs_metrics *m, int64_t iid)
{
    pthread_mutex_lock(&m->mu);
    m->running[(uint64_t)iid % RUNNING_SLOTS].iid = iid;
    m->running[(uint64_t)iid % RUNNING_SLOTS].at = mono_s();
    pthread_mutex_unlock(&m->mu);
}

void rs_metrics_forget_running(dd_store *st, int64_t iid)
{
    rs_metrics *m = rs_of(st)->metrics;
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    if (m->running[(uint64_t)iid % RUNNING_SLOTS].iid == iid)
        m->running[(uint64_t)iid % RUNNING_SLOTS].iid = 0;
    pthread_mutex_unlock(&m->mu);
}

/* Was the iteration seen running (ever: -1), or within the last `within` seconds? */
static bool running_known(rs_metrics *m, int64_t iid, double within)
{
    pthread_mutex_lock(&m->mu);
    bool known = m->running[(uint64_t)iid % RUNNING_SLOTS].iid == iid &&
                 (within < 0 || mono_s() - m->running[(uint64_t)iid % RUNNING_SLOTS].at < within);
    pthread_mutex_unlock(&m->mu);
    return known;
}

/* The iteration exists and runs (DD_NOT_FOUND, DD_READ_ONLY as the local store says); a
 * server out of reach is DD_OK for an iteration seen running before. */
static dd_code iteration_running(dd_store *st, rs_metrics *m, int64_t iid, dd_err *err)
{
    /* seen running within the answer cache's time: the row would be that same answer
     * (and building a whole iteration row per write() would cost most of the write) */
    if (running_known(m, iid, rs_of(st)->ttl))
        return DD_OK;
    dd_iteration it;
    dd_code code = dd_iteration_get(st, iid, &it, err);
    if (code == DD_OK) {
        bool ended = it.end_date[0] != '\0';
        dd_iteration_clear(&it);
        if (ended)
            return dd_fail(err, DD_READ_ONLY, "iteration %" PRId64 " has ended: its metrics "
                           "are read-only", iid);
        running_note(m, iid);
        return DD_OK;
    }
    if ((code == DD_IO || code == DD_BUSY) && running_known(m, iid, -1))
        return DD_OK;
    return code;
}

/* Check, complete (recorded_at: now) and journal one batch. */
static dd_code journal_batch(dd_store *st, int64_t iid, const char *key,
                             const dd_metric_point *points, size_t n, dd_err *err)
{
    rs_metrics *m = rs_of(st)->metrics;
    if (!m)
        return dd_fail(err, DD_READ_ONLY, "%s: this remote store has no journal",
                       dd_store_path(st));
    dd_metric_point *pts = malloc((n ? n : 1) * sizeof *pts);
    if (!pts)
        return dd_fail(err, DD_IO, "out of memory");
    memcpy(pts, points, n * sizeof *pts);
    dd_code code = dd_metric_points_check(key, pts, n, err);
    if (code == DD_OK)
        code = iteration_running(st, m, iid, err);
    if (code == DD_OK && n)
        code = dd_journal_append(m->journal, iid, key, pts, n, err);
    if (code == DD_OK && n)
        dd_store_wrapped_wrote(st);   /* a listing's sizes count them: fs/attr_cache.c */
    free(pts);
    return code;
}

dd_code rs_metric_append_logged(dd_store *st, int64_t iteration_id, const char *key,
                                const dd_metric_point *points, size_t n, dd_err *err)
{
    return journal_batch(st, iteration_id, key, points, n, err);
}

dd_code rs_metric_log_drain(dd_store *st, dd_err *err)
{
    rs_metrics *m = rs_of(st)->metrics;
    return m ? dd_journal_sync(m->journal, err) : DD_OK;
}

dd_code rs_metric_append(dd_store *st, int64_t iteration_id, const char *key,
                         const dd_metric_point *points, size_t n, dd_err *err)
{
    dd_code code = journal_batch(st, iteration_id, key, points, n, err);
    return code == DD_OK ? rs_metric_log_drain(st, err) : code;
}

/* ---------------------------------------------------------------- reads (§4.6) */

typedef struct merged {
    dd_metric_row *rows;
    char (*ts)[DD_TS_LEN];     /* the node's points' recorded_at (rows point into it) */
    size_t n, cap, server;     /* the first `server` rows are the server's */
    int64_t max_step;          /* the series' highest step so far */
    bool any;
    bool oom;
} merged;

static dd_metric_row *merged_add(merged *g)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 256;
        dd_metric_row *rows = realloc(g->rows, cap * sizeof *rows);
        if (rows)
            g->rows = rows;
        char (*ts)[DD_TS_LEN] = rows ? realloc(g->ts, cap * sizeof *ts) : NULL;
        if (!ts)
            return g->oom = true, NULL;
        g->ts = ts;
        g->cap = cap;
    }
    return &g->rows[g->n++];
}

static int server_point(void *ctx, const dd_metric_row *row)
{
    merged *g = ctx;
    dd_metric_row *r = merged_add(g);
    if (!r)
        return 1;
    *r = *row;
    g->max_step = g->any && g->max_step > row->step ? g->max_step : row->step;
    g->any = true;
    return 0;
}

/* An undelivered point: its provisional step (max + 1 when it has none: what the server
 * will assign, as this node's points of a series reach it in order), the next position. */
static int node_point(void *ctx, const dd_metric_point *p)
{
    merged *g = ctx;
    dd_metric_row *r = merged_add(g);
    if (!r)
        return 1;
    int64_t step = p->has_step ? p->step : !g->any ? 0
                   : g->max_step < INT64_MAX ? g->max_step + 1 : INT64_MAX;
    g->max_step = g->any && g->max_step > step ? g->max_step : step;
    g->any = true;
    memcpy(g->ts[g->n - 1], p->recorded_at, DD_TS_LEN);
    *r = (dd_metric_row){.id = (int64_t)(g->n - 1), .step = step, .value = p->value};
    return 0;
}

static int row_order(const void *a, const void *b)
{
    const dd_metric_row *x = a, *y = b;
    if (x->step != y->step)
        return x->step < y->step ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Take the view lock (REMOTE.md §4.8 "Reads"), after the request in flight ends (up to
 * READ_WAIT_MS): while it is held no delivery starts or ends. */
static void view_lock(rs_metrics *m)
{
    pthread_mutex_lock(&m->view_mu);
    struct timespec until = realtime_ms(READ_WAIT_MS);
    while (m->inflight && pthread_cond_timedwait(&m->view_idle, &m->view_mu, &until) == 0)
        ;
}

static int any_point(void *ctx, const char *key, const dd_metric_point *p)
{
    (void)key;
    (void)p;
    *(bool *)ctx = true;
    return 1;
}

bool rs_metrics_view_begin(dd_store *st, int64_t iteration_id)
{
    rs_metrics *m = rs_of(st)->metrics;
    bool any = false;
    if (m)
        dd_journal_iteration(m->journal, iteration_id, any_point, &any);
    if (any)
        view_lock(m);
    return any;
}

void rs_metrics_view_end(dd_store *st)
{
    pthread_mutex_unlock(&rs_of(st)->metrics->view_mu);
}

void rs_metrics_undelivered(dd_store *st, int64_t iteration_id, dd_journal_keyed_cb cb,
                            void *ctx)
{
    rs_metrics *m = rs_of(st)->metrics;
    if (m)
        dd_journal_iteration(m->journal, iteration_id, cb, ctx);
}

dd_code rs_metric_read(dd_store *st, int64_t iteration_id, const char *key, bool resume,
                       int64_t after_step, int64_t after_id, dd_metric_cb cb, void *ctx,
                       dd_err *err)
{
    rs_metrics *m = rs_of(st)->metrics;   /* NULL: no journal (a check, the fuzzer) */
    merged g = {0};
    json_t *keep = NULL;   /* the server's answer: its rows' recorded_at point into it */
    if (m)
        view_lock(m);
    dd_code code = rs_server_metric_rows(st, iteration_id, key, server_point, &g, &keep, err);
    g.server = g.n;
    if (m && code == DD_OK && !g.oom)
        dd_journal_series(m->journal, iteration_id, key, node_point, &g);
    if (m)
        pthread_mutex_unlock(&m->view_mu);
    if (code == DD_OK && g.oom)
        code = dd_fail(err, DD_IO, "out of memory");
    for (size_t i = g.server; code == DD_OK && i < g.n; i++)
        g.rows[i].recorded_at = g.ts[i];
    if (code == DD_OK && g.n)   /* qsort wants an array, even of nothing */
        qsort(g.rows, g.n, sizeof *g.rows, row_order);
    for (size_t i = 0; code == DD_OK && i < g.n; i++) {
        const dd_metric_row *r = &g.rows[i];
        if (resume && (r->step < after_step || (r->step == after_step && r->id <= after_id)))
            continue;
        if (cb(ctx, r))
            break;
    }
    json_decref(keep);
    free(g.rows);
    free(g.ts);
    return code;
}

/* ---------------------------------------------------------------- writes that wait */

/* How long a write that must follow the node's points (rs_metrics_flush) waits for their
 * delivery while the server takes them, before EAGAIN. */
#define FLUSH_WAIT_S 30.0

dd_code rs_metrics_flush(dd_store *st, int64_t iteration_id, const char *key, dd_err *err)
{
    rs_metrics *m = rs_of(st)->metrics;
    uint64_t seq = m ? dd_journal_series_last(m->journal, iteration_id, key) : 0;
    if (!seq)
        return DD_OK;
    pthread_mutex_lock(&m->mu);
    unsigned long start = m->attempts;
    pthread_cond_broadcast(&m->wake);   /* a sender napping between retries tries now */
    pthread_mutex_unlock(&m->mu);
    double until = mono_s() + FLUSH_WAIT_S;
    while (!dd_journal_wait_delivered(m->journal, seq, 50)) {
        pthread_mutex_lock(&m->mu);
        bool failed = m->failing && m->attempts > start, stop = m->stop;
        pthread_mutex_unlock(&m->mu);
        if (failed || stop) {
            syslog(LOG_WARNING, "%s: a change of metric %s of iteration %" PRId64 " waits for "
                   "its points in %s, which the server does not take now: refused (EIO)",
                   m->url, key, iteration_id, dd_journal_path(m->journal));
            return dd_fail(err, DD_IO, "%s is out of reach: this node's points of metric %s "
                           "(iteration %" PRId64 ") must reach it first", m->url, key,
                           iteration_id);
        }
        if (mono_s() > until)
            return dd_fail(err, DD_BUSY, "this node's points of metric %s (iteration %" PRId64
                           ") are still being delivered to %s", key, iteration_id, m->url);
    }
    return DD_OK;
}

int64_t rs_metrics_local_id(dd_store *st, int64_t iteration_id, const char *key, bool create)
{
    rs_metrics *m = rs_of(st)->metrics;
    if (!m)
        return 0;
    char name[32 + DD_NAME_MAX];
    snprintf(name, sizeof name, "%" PRId64 "/%s", iteration_id, key);
    pthread_mutex_lock(&m->mu);
    json_t *id = json_object_get(m->local_ids, name);
    int64_t out = id ? (int64_t)json_integer_value(id) : 0;
    if (!id && create) {
        size_t k = json_array_size(m->local_rows);
        if (json_array_append_new(m->local_rows, json_pack("[I,s]", (json_int_t)iteration_id,
                                                           key)) == 0 &&
            json_object_set_new(m->local_ids, name,
                                json_integer((json_int_t)(RS_LOCAL_SERIES + (int64_t)k))) == 0)
            out = RS_LOCAL_SERIES + (int64_t)k;
    }
    pthread_mutex_unlock(&m->mu);
    return out;
}

void rs_metrics_local_forget(dd_store *st, int64_t iteration_id, const char *key)
{
    rs_metrics *m = rs_of(st)->metrics;
    if (!m)
        return;
    char name[32 + DD_NAME_MAX];
    snprintf(name, sizeof name, "%" PRId64 "/%s", iteration_id, key);
    pthread_mutex_lock(&m->mu);
    json_t *id = json_object_get(m->local_ids, name);
    if (id) {
        json_array_set_new(m->local_rows, (size_t)(json_integer_value(id) - RS_LOCAL_SERIES),
                           json_null());
        json_object_del(m->local_ids, name);
    }
    pthread_mutex_unlock(&m->mu);
}

bool rs_metrics_local_series(dd_store *st, int64_t id, int64_t *iteration_id, char **key_out)
{
    rs_metrics *m = rs_of(st)->metrics;
    if (!m || id < RS_LOCAL_SERIES)
        return false;
    pthread_mutex_lock(&m->mu);
    json_t *row = json_array_get(m->local_rows, (size_t)(id - RS_LOCAL_SERIES));
    *iteration_id = (int64_t)json_integer_value(json_array_get(row, 0));
    const char *key = json_string_value(json_array_get(row, 1));   /* NULL: forgotten */
    *key_out = key ? strdup(key) : NULL;
    pthread_mutex_unlock(&m->mu);
    return *key_out != NULL;
}

/* ---------------------------------------------------------------- the sender */

/* Sleep `ms` unless stopping; true when stopping. */
static bool nap(rs_metrics *m, long ms)
{
    struct timespec until = realtime_ms(ms);
    pthread_mutex_lock(&m->mu);
    if (!m->stop)
        pthread_cond_timedwait(&m->wake, &m->mu, &until);
    bool stop = m->stop;
    pthread_mutex_unlock(&m->mu);
    return stop;
}

static bool stopping(rs_metrics *m)
{
    pthread_mutex_lock(&m->mu);
    bool stop = m->stop;
    pthread_mutex_unlock(&m->mu);
    return stop;
}

/* The answer's drops, each a syslog line (the node acknowledged those points: they are
 * lost, and the log is where a user finds out why). */
static void log_drops(rs_metrics *m, json_t *reply, const dd_mlog_rec **recs, size_t k)
{
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(reply, "dropped"), i, d) {
        json_int_t b = json_integer_value(json_object_get(d, "batch"));
        const char *code = json_string_value(json_object_get(d, "code"));
        if (b >= 0 && (size_t)b < k)
            syslog(LOG_WARNING, "%s refused %zu points of iteration %" PRId64 " metric %s "
                   "(%s): they are dropped", m->url, recs[b]->n, recs[b]->iteration_id,
                   recs[b]->key, code ? code : "?");
    }
}

/* A body the server refuses as malformed, kept beside the journal for a human. */
static void set_aside(rs_metrics *m, dd_journal *j, const char *text, const char *why)
{
    char path[4200];
    int n = snprintf(path, sizeof path, "%s/journal.rejected", dd_journal_path(j));
    FILE *f = n > 0 && (size_t)n < sizeof path ? fopen(path, "ae") : NULL;
    if (f) {
        fprintf(f, "%s\n", text);
        fclose(f);
    }
    syslog(LOG_ERR, "%s refused a metric delivery (%s): set aside in %s", m->url, why,
           f ? path : "(nowhere: cannot write it)");
}

/* Expire what the answer cache holds of these records' iterations, so a read after the
 * delivery asks the server (which now has them) rather than show an old answer (kept, as
 * every expired answer, for an outage: rstore.c rs_get). */
static void forget_answers(dd_store *st, const dd_mlog_rec **recs, size_t k)
{
    static const char *const paths[] = {"/metric/iteration/", "/v1/ls/iteration/"};
    rstore *rs = rs_of(st);
    pthread_mutex_lock(&rs->mu);
    for (size_t i = 0; i < k; i++)
        for (size_t p = 0; p < sizeof paths / sizeof *paths; p++) {
            char path[64];
            snprintf(path, sizeof path, "%s%" PRId64, paths[p], recs[i]->iteration_id);
            json_t *slot = json_object_get(rs->cache, path);
            if (slot)
                json_array_set_new(slot, 0, json_real(0));
        }
    pthread_mutex_unlock(&rs->mu);
}

/* A request starts or ends (reads wait for its end: rs_metric_read). */
static void set_inflight(rs_metrics *m, bool on)
{
    pthread_mutex_lock(&m->view_mu);
    m->inflight = on;
    if (!on)
        pthread_cond_broadcast(&m->view_idle);
    pthread_mutex_unlock(&m->view_mu);
}

/* One attempt: POST the body with the sender's token; a 401 TOKEN_EXPIRED is retried at
 * once when reading the token again gives another (refreshed, or stored by another
 * process), any other 401 drops it (read again at the next attempt). The answer's status
 * (0: none came) and body; msg says why when not 200. */
static long attempt(rs_metrics *m, const char *header, const char *text, json_t **reply,
                    char *msg, size_t msglen)
{
    long status = 0;
    const char *token = NULL;
    *reply = NULL;
    for (int again = 0; again < 2; again++) {
        json_decref(*reply);
        *reply = NULL;
        status = 0;
        if (dd_token_slot_get(&m->token, m->http, m->url, false, &token, msg, msglen) != 0)
            break;
        if (dd_http_send(m->http, "POST", "/v1/metrics", token, header, text, &status,
                         reply, msg, msglen) != 0)
            break;
        const char *code = json_string_value(json_object_get(*reply, "code"));
        if (status != 401 || again || !code || strcmp(code, "TOKEN_EXPIRED") != 0 ||
            !dd_token_slot_renew(&m->token, m->http, m->url, msg, msglen))
            break;
    }
    if (status && status != 200)
        dd_http_error_text(status, *reply, msg, msglen);
    if (status == 401) {   /* refused: read (and refresh) it again at the next attempt */
        size_t n = strlen(msg);
        snprintf(msg + n, msglen - n, " (token refused: `deardiary login %s` may be needed)",
                 m->url);
        dd_token_slot_clear(&m->token);
    }
    return status;
}

/* The server answered the request (200, or 400 for a body it will never take): log its
 * drops, forget the records. False with msg when `delivered` cannot be written. */
static bool answered(dd_store *st, rs_metrics *m, dd_journal *j, long status, json_t *reply,
                     const char *text, const dd_mlog_rec **recs, size_t k, char *msg,
                     size_t msglen)
{
    if (status == 400)
        set_aside(m, j, text, msg);
    log_drops(m, reply, recs, k);
    dd_err err = {0};
    pthread_mutex_lock(&m->view_mu);
    forget_answers(st, recs, k);   /* before: delivered records are freed */
    bool done = dd_journal_delivered(j, recs[k - 1]->seq, &err) == DD_OK;
    pthread_mutex_unlock(&m->view_mu);
    if (!done)
        snprintf(msg, msglen, "%s", err.msg);
    return done;
}

/* One request until the server has it (true), or stopping (false): the same body and
 * key each time, backoff between attempts, syslog once per kind of failure. */
static bool deliver(dd_store *st, rs_metrics *m, dd_journal *j, const dd_mlog_rec **recs,
                    size_t k)
{
    /* columnar where the server takes it (metric_body.h), rows for an older server */
    char *text = dd_metric_body(recs, k, rs_of(st)->metric_columns, NULL);
    char header[80], last[DD_ERR_MSG_MAX] = "";
    snprintf(header, sizeof header, "Idempotency-Key: %s:%" PRIu64,
             dd_journal_node_id(j), recs[k - 1]->seq);
    long backoff = BACKOFF_MIN_MS;
    bool done = false;
    while (text && !done && !stopping(m)) {
        char msg[DD_ERR_MSG_MAX] = "";
        json_t *reply;
        set_inflight(m, true);
        long status = attempt(m, header, text, &reply, msg, sizeof msg);
        if (status == 200 || status == 400)
            done = answered(st, m, j, status, reply, text, recs, k, msg, sizeof msg);
        set_inflight(m, false);
        json_decref(reply);
        if (!done && strcmp(msg, last) != 0) {
            syslog(LOG_WARNING, "%s: metric delivery: %s (%" PRIu64 " points wait in %s; "
                   "retrying)", m->url, msg, dd_journal_pending(j), dd_journal_path(j));
            snprintf(last, sizeof last, "%s", msg);
        }
        pthread_mutex_lock(&m->mu);
        m->failing = !done;
        m->attempts++;
        pthread_mutex_unlock(&m->mu);
        if (!done && !nap(m, backoff))
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    if (done && last[0])
        syslog(LOG_INFO, "%s: metric delivery resumed", m->url);
    free(text);
    return done;
}

static void *sender_main(void *arg)
{
    dd_store *st = arg;
    rs_metrics *m = rs_of(st)->metrics;
    const dd_mlog_rec **recs = malloc(SEND_POINTS_MAX * sizeof *recs);
    while (recs && !stopping(m)) {
        /* dead mounts' journals first, each released once delivered (REMOTE.md §4.7) */
        dd_journal *j = m->n_orphans ? m->orphans[m->n_orphans - 1] : m->journal;
        size_t k = dd_journal_take(j, SEND_POINTS_MAX, SEND_BYTES_MAX, j == m->journal ? 200
                                   : 0, recs, SEND_POINTS_MAX);
        if (k && !deliver(st, m, j, recs, k) && !stopping(m))
            nap(m, BACKOFF_MAX_MS);   /* out of memory for the body: try again later */
        if (j != m->journal && dd_journal_pending(j) == 0) {
            syslog(LOG_INFO, "%s: a dead mount's journal %s is delivered", m->url,
                   dd_journal_path(j));
            dd_journal_close(j);
            m->n_orphans--;
        }
    }
    free(recs);
    return NULL;
}

/* ---------------------------------------------------------------- lifetime */

/* The journal's directory name: a hash of the server and the user it writes as, so
 * another user's or server's journal is never taken over. */
static void journal_name(const char *url, char out[17])
{
    char msg[DD_ERR_MSG_MAX], *path = dd_creds_path(msg, sizeof msg);
    json_t *root = NULL;
    dd_cred c = {0};
    char user[300];
    if (getenv("DEARDIARY_TOKEN") || !path || dd_creds_load(path, &root, msg, sizeof msg) != 0
        || dd_creds_get(root, url, &c) != 0 || !c.user)
        snprintf(user, sizeof user, "uid %ld", (long)getuid());
    else
        snprintf(user, sizeof user, "user %s", c.user);
    json_decref(root);
    free(path);
    uint64_t h = 1469598103934665603ULL;
    for (const char *s = url; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    h = (h ^ '\n') * 1099511628211ULL;
    for (const char *s = user; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    snprintf(out, 17, "%016" PRIx64, h);
}

/* remote.journal_dir's default: $XDG_STATE_HOME/deardiary/journal, else
 * ~/.local/state/deardiary/journal. */
static char *default_root(void)
{
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    char *out = NULL;
    if (xdg && xdg[0] == '/')
        return asprintf(&out, "%s/deardiary/journal", xdg) < 0 ? NULL : out;
    if (!home || home[0] != '/') {
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : "/tmp";
    }
    return asprintf(&out, "%s/.local/state/deardiary/journal", home) < 0 ? NULL : out;
}

/* Every other directory of this server and user that no mount holds and that still has
 * undelivered points (more than one mount died): delivered by this mount's sender. */
static void adopt_orphans(rs_metrics *m, const char *root, const char *name)
{
    for (int k = 0; k < DD_JOURNAL_DIRS; k++) {
        dd_journal *o = NULL;
        dd_err err = {0};
        if (dd_journal_adopt(root, name, k, &o, &err) != DD_OK)
            continue;
        if (dd_journal_pending(o) == 0) {
            dd_journal_close(o);
            continue;
        }
        syslog(LOG_INFO, "%s: delivering the %" PRIu64 " points a dead mount left in %s",
               m->url, dd_journal_pending(o), dd_journal_path(o));
        m->orphans[m->n_orphans++] = o;
    }
}

static void metrics_free(rs_metrics *m)
{
    dd_token_slot_clear(&m->token);
    json_decref(m->local_ids);
    json_decref(m->local_rows);
    while (m->n_orphans)
        dd_journal_close(m->orphans[--m->n_orphans]);
    dd_journal_close(m->journal);
    dd_http_free(m->http);
    pthread_cond_destroy(&m->wake);
    pthread_mutex_destroy(&m->mu);
    pthread_mutex_destroy(&m->view_mu);
    pthread_cond_destroy(&m->view_idle);
    free(m->url);
    free(m);
}

dd_code rs_metrics_start(dd_store *st, const char *journal_dir, int64_t journal_max,
                         const char *cacert, dd_err *err)
{
    rstore *rs = rs_of(st);
    rs_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return dd_fail(err, DD_IO, "out of memory");
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->view_mu, NULL);
    pthread_cond_init(&m->view_idle, NULL);
    pthread_cond_init(&m->wake, NULL);
    m->url = strdup(rs->url);
    m->http = dd_http_new(rs->url, cacert);
    m->local_ids = json_object();
    m->local_rows = json_array();
    char *root = journal_dir && journal_dir[0] ? strdup(journal_dir) : default_root(), name[17];
    journal_name(rs->url, name);
    dd_code code = !m->url || !m->http || !root || !m->local_ids || !m->local_rows
                   ? dd_fail(err, DD_IO, "out of memory")
                   : dd_journal_open(root, name, journal_max, &m->journal, err);
    if (code == DD_OK)
        adopt_orphans(m, root, name);
    free(root);
    if (code == DD_OK) {
        rs->metrics = m;
        if (pthread_create(&m->sender, NULL, sender_main, st) != 0) {
            rs->metrics = NULL;
            code = dd_fail(err, DD_IO, "cannot start the metric sender thread");
        }
    }
    if (code != DD_OK)
        metrics_free(m);
    return code;
}

/* At unmount, while the server takes them, the undelivered points get this long. */
#define UNMOUNT_GRACE_MS 5000

void rs_metrics_stop(dd_store *st)
{
    rs_metrics *m = rs_of(st)->metrics;
    if (!m)
        return;
    for (int waited = 0; waited < UNMOUNT_GRACE_MS && dd_journal_pending(m->journal);
         waited += 20) {
        pthread_mutex_lock(&m->mu);
        bool failing = m->failing;
        pthread_mutex_unlock(&m->mu);
        if (failing)
            break;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&m->mu);
    m->stop = true;
    pthread_cond_broadcast(&m->wake);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->sender, NULL);
    if (dd_journal_pending(m->journal))
        syslog(LOG_INFO, "%s: %" PRIu64 " points not yet delivered stay in %s for the next "
               "mount", m->url, dd_journal_pending(m->journal), dd_journal_path(m->journal));
    rs_of(st)->metrics = NULL;
    metrics_free(m);
}
