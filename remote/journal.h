/*
 * journal.h - a remote mount's node journal (docs/REMOTE.md §4): the metric points a
 * write() accepted, on the node's disk until the server has them.
 *
 * Place: `<root>/<name>[.<k>]/` (root: remote.journal_dir, name: a hash of the server URL
 * and the user), holding `journal` (records of backend/include/mlog_rec.h, append-only),
 * `node_id` (32 hex digits, made once: the server's key for this journal's deliveries),
 * `delivered` (the last seq the server acknowledged, 8 bytes, fdatasync'd) and `lock`
 * (flock'd while a mount owns the directory). Opening takes the first directory of that
 * name nobody holds (a killed daemon's: its undelivered records are delivered first, their
 * idempotency keys making a repeat of its last request harmless), else makes the next.
 *
 * Durability: dd_journal_append returns once the record is written with write(2) (a
 * daemon killed afterwards loses nothing); a thread fdatasyncs everything appended in a
 * 1 ms window; dd_journal_sync waits for that (close/fsync of a metric file).
 *
 * Delivery: one sender (rstore_metrics.c) takes the oldest undelivered records
 * (dd_journal_take), ships them, and marks them delivered (dd_journal_delivered). Records
 * stay in memory until delivered, indexed for reads (dd_journal_series). Threads: every
 * function may be called from any thread; records handed out by dd_journal_take stay
 * valid and unchanged until the caller marks them delivered.
 */
#ifndef DD_JOURNAL_H
#define DD_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "mlog_rec.h"
#include "store.h"

typedef struct dd_journal dd_journal;

/* Open (creating root and the directory, mode 0700) the journal `name` under `root`;
 * `max_bytes` bounds the undelivered records (remote.journal_max). DD_IO with a message
 * for a directory that cannot be made or read. */
dd_code dd_journal_open(const char *root, const char *name, int64_t max_bytes,
                        dd_journal **out, dd_err *err);
/* Directories of one name a mount may hold: `<name>`, `<name>.1` ... */
#define DD_JOURNAL_DIRS 64
/* Take over `<root>/<name>[.<k>]` (k: 0 .. DD_JOURNAL_DIRS-1) when it exists and no mount
 * holds it: a journal a killed daemon left, whose records another journal of this mount
 * delivers (REMOTE.md §4.7). DD_NOT_FOUND when absent or held. Nothing is appended to it. */
dd_code dd_journal_adopt(const char *root, const char *name, int k, dd_journal **out,
                         dd_err *err);
/* Stop the fdatasync thread (after a last fdatasync), release the lock, free. */
void dd_journal_close(dd_journal *j);

const char *dd_journal_node_id(const dd_journal *j);
const char *dd_journal_path(const dd_journal *j);   /* the directory */

/* A batch is journaled as records of at most this many points (each a batch of the
 * server's request, so one write() of 100k points still fits requests of 10k). */
#define DD_JOURNAL_RECORD_POINTS 1000

/* Append one batch of one series (points already checked, recorded_at set). DD_NO_SPACE
 * when its record would take the undelivered bytes past max_bytes (nothing appended;
 * syslog at most once a minute), DD_IO when the write fails. */
dd_code dd_journal_append(dd_journal *j, int64_t iteration_id, const char *key,
                          const dd_metric_point *points, size_t n, dd_err *err);
/* Wait until everything appended before the call is fdatasync'd. DD_IO when it failed. */
dd_code dd_journal_sync(dd_journal *j, dd_err *err);

/* Up to `cap` of the oldest undelivered records whose points add up to at most
 * `max_points` and whose estimated JSON to at most `max_bytes` (always at least one
 * record), waiting up to `wait_ms` for one; how many were put in recs (0: none, or the
 * journal is closing). */
size_t dd_journal_take(dd_journal *j, size_t max_points, size_t max_bytes, int wait_ms,
                       const dd_mlog_rec **recs, size_t cap);
/* The server has every record up to `seq`: persist it in `delivered`, forget them (and
 * empty the file once nothing is undelivered and it has grown past 1 MiB). */
dd_code dd_journal_delivered(dd_journal *j, uint64_t seq, dd_err *err);

/* The undelivered points of one series, in acceptance order; cb returns non-zero to stop. */
typedef int (*dd_journal_point_cb)(void *ctx, const dd_metric_point *p);
void dd_journal_series(dd_journal *j, int64_t iteration_id, const char *key,
                       dd_journal_point_cb cb, void *ctx);
/* Undelivered points in all. */
uint64_t dd_journal_pending(dd_journal *j);

/* The seq of the newest undelivered record of series (iteration_id, key); 0 when the
 * journal holds none of it. */
uint64_t dd_journal_series_last(dd_journal *j, int64_t iteration_id, const char *key);
/* Wait up to `wait_ms` until every record up to `seq` is delivered (or the journal is
 * closing); true when they are. */
bool dd_journal_wait_delivered(dd_journal *j, uint64_t seq, int wait_ms);
/* Every undelivered point of iteration `iteration_id`, any series, in acceptance order,
 * with its series' key; cb returns non-zero to stop. */
typedef int (*dd_journal_keyed_cb)(void *ctx, const char *key, const dd_metric_point *p);
void dd_journal_iteration(dd_journal *j, int64_t iteration_id, dd_journal_keyed_cb cb,
                          void *ctx);

#endif
