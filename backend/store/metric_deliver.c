/*
 * metric_deliver.c - exactly-once delivery of a remote mount's journaled metric points
 * (dd_metric_deliver, store.h; docs/REMOTE.md §2.6, schema 012_remote_delivery).
 *
 * One request of a node is one write transaction: its high-water mark is raised first,
 * unless it is already at or above the request's seq (then the request was committed
 * before and changes nothing: the node retries after a lost answer with the same key),
 * then each batch is appended. A batch that cannot be stored is dropped, not the request: the node has already
 * acknowledged those points to its writer and cannot hand them back. A drop found only by
 * the append itself (a default step past INT64_MAX) may leave that statement half done,
 * so the transaction is rolled back and run again without the batch (at most once per
 * batch): what commits is always whole batches.
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "store_local.h"

/* One batch's checks inside the transaction: the iteration is there (locked for the
 * append), and every point was recorded while it ran. DD_OK, or why it is dropped. */
static dd_code batch_storable(dd_conn *c, const dd_metric_delivery *b, dd_err *err)
{
    dd_code code = db_lock(c, DB_LOCK_UPDATE, DB_T_ITERATION, b->iteration_id, err);
    db_stmt *s;
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT end_date FROM iteration WHERE id = ?", "i",
                       b->iteration_id);
    if (code != DD_OK)
        return code;
    bool row = false;
    char end[DD_TS_LEN] = "";
    code = db_step(c, s, &row, "reading the iteration", err);
    if (code == DD_OK && row)
        db_col_ts(s, 0, end);
    db_reset(s);
    if (code != DD_OK)
        return code;
    if (!row)
        return dd_fail(err, DD_NOT_FOUND, "iteration %lld not found",
                       (long long)b->iteration_id);
    for (size_t i = 0; end[0] && i < b->n; i++)
        if (strcmp(b->points[i].recorded_at, end) > 0)
            return dd_fail(err, DD_READ_ONLY, "iteration %lld ended at %s, before a point "
                           "recorded at %s", (long long)b->iteration_id, end,
                           b->points[i].recorded_at);
    return DD_OK;
}

/* A code that drops one batch rather than failing the request. */
static bool drops_batch(dd_code code)
{
    return code == DD_NOT_FOUND || code == DD_READ_ONLY || code == DD_INVALID;
}

/* The transaction's body: *culprit set (and the code returned) when batch *culprit must
 * be dropped and the transaction run again without it. */
static dd_code deliver_in(dd_conn *c, const char *node_id, int64_t seq,
                          dd_metric_delivery *b, size_t n, dd_code *results,
                          int64_t *max_steps, bool *duplicate, size_t *culprit, dd_err *err)
{
    /* The mark first: raising it takes the node's row lock (or the key's, for its first
     * row), so a second request with the same key that the server is still running (a
     * client retrying after a cut connection) waits for this one, then finds the mark
     * raised and changes nothing (PostgreSQL re-reads the row after the wait; SQLite has
     * one writer). */
    char now[DD_TS_LEN];
    dd_now(now);
    dd_code code = db_exec(c, err, "recording the delivery", "INSERT INTO remote_delivery("
                           "node_id, seq, committed_at) VALUES (?, ?, ?) ON CONFLICT (node_id)"
                           " DO UPDATE SET seq = excluded.seq, committed_at ="
                           " excluded.committed_at WHERE remote_delivery.seq < excluded.seq",
                           "tit", node_id, seq, now);
    *duplicate = code == DD_OK && db_changes(c) == 0;
    for (size_t i = 0; i < n && code == DD_OK && !*duplicate; i++) {
        if (results[i] != DD_OK || b[i].n == 0)
            continue;
        dd_err why = {0};
        dd_code r = batch_storable(c, &b[i], &why);
        if (r != DD_OK && drops_batch(r)) {
            results[i] = r;   /* nothing written for it: the others go on */
            continue;
        }
        int64_t series = 0, first = 0;
        if (r == DD_OK)
            r = db_metric_append_at(c, b[i].iteration_id, b[i].key, b[i].points, b[i].n,
                                    false, &series, &first, &why);
        if (r == DD_OK)
            r = db_int(c, &max_steps[i], &why, "metric series",
                       "SELECT max_step FROM metric_latest WHERE iteration_id = ? AND key = ?",
                       "it", b[i].iteration_id, b[i].key);
        if (r != DD_OK && drops_batch(r)) {
            results[i] = r;
            *culprit = i;   /* the append may have been cut half way: run again */
            code = r;
        } else if (r != DD_OK) {
            *err = why;
            code = r;
        }
    }
    return code;
}

static bool node_id_ok(const char *s)
{
    size_t i = 0;
    for (; s[i]; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return i == 32;
}

dd_code dd_metric_deliver(dd_store *st, const char *node_id, int64_t seq,
                          dd_metric_delivery *batches, size_t n, bool *duplicate,
                          dd_err *err)
{
    *duplicate = false;
    if (!node_id_ok(node_id) || seq <= 0)
        return dd_fail(err, DD_INVALID, "a delivery needs a node id of 32 hex digits and a "
                       "positive sequence number");
    dd_code *results = malloc((n ? n : 1) * sizeof *results);
    int64_t *max_steps = calloc(n ? n : 1, sizeof *max_steps);
    if (!results || !max_steps) {
        free(results), free(max_steps);
        return dd_fail(err, DD_IO, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        results[i] = batches[i].result;
    db_txn t;
    size_t culprit = n;
    bool dup = false;
    for (size_t round = 0; round <= n; round++) {
        DB_TXN(t, st, DB_TXN_WRITE, err) {
            culprit = n;
            dup = false;
            t.code = deliver_in(t.c, node_id, seq, batches, n, results, max_steps, &dup,
                                &culprit, err);
        }
        if (culprit == n || t.code == DD_OK)
            break;
    }
    if (t.code == DD_OK) {
        *duplicate = dup;
        for (size_t i = 0; i < n; i++) {
            batches[i].result = dup ? DD_OK : results[i];
            batches[i].max_step = max_steps[i];
        }
    }
    free(results);
    free(max_steps);
    return t.code;
}
