/*
 * node.h - node identity and leases (docs/ENGINES.md §4.1). Private to the backend.
 *
 * A node is one process of one machine that uses the registry: machine id, boot id, pid
 * namespace, pid and start time, in table `node`. Inline uploads and metric journals
 * record their node, so that gc or a replay on one node never takes what a live node of
 * another machine owns. A live node proves it lives by renewing `lease_until_ms` (the
 * database's clock, never the client's: skew between machines does not matter) from a
 * keeper thread; on this very boot of this machine /proc answers at once instead.
 */
#ifndef DD_NODE_H
#define DD_NODE_H

#include <stdbool.h>
#include <stdint.h>

#include "db.h"

/* How long a node row stays alive without a renewal, and how often the keeper renews. */
#define NODE_LEASE_MS 30000
#define NODE_RENEW_MS (NODE_LEASE_MS / 3)

/* This process's node row of `st`, inserted on first need (the first upload or metric
 * journal), with a keeper thread that renews its lease until node_stop (dd_store_close).
 * Redone in a forked child (a new pid is a new node). Autocommit, outside transactions. */
dd_code node_self(dd_store *st, int64_t *node_id, dd_err *err);

typedef enum node_state {
    NODE_DEAD,      /* no such row, its process is gone (same boot), or its lease ended */
    NODE_ALIVE,     /* another live process (same boot: /proc; else an unexpired lease) */
    NODE_SELF,      /* this very process */
} node_state;
/* What node `node_id` is now, read on `c` (any connection of the store). */
dd_code node_alive(dd_conn *c, int64_t node_id, node_state *out, dd_err *err);

/* Delete the rows of dead nodes that own nothing any more (no upload, no journal state):
 * gc and the journal replay call it; best effort, *removed counts them (may be NULL). */
dd_code node_gc(dd_store *st, int64_t *removed, dd_err *err);

/* Every dead node that still owns a metric journal (a metric_log_state row): a daemon
 * killed on another machine, whose acknowledged points wait there for a replay. */
typedef void (*node_journal_fn)(void *ctx, int64_t node_id, const char *hostname,
                                const char *journal_dir, const char *journal);
dd_code node_dead_journals(dd_store *st, node_journal_fn fn, void *ctx, dd_err *err);

/* This process's pid and start time in clock ticks after boot (-1 when /proc is not
 * readable); and whether process (pid, start) of this boot still runs (presumed alive
 * when /proc cannot tell: nothing is removed that might still be written). */
void node_process_self(int64_t *pid, int64_t *start);
bool node_process_alive(int64_t pid, int64_t start);

#endif /* DD_NODE_H */
