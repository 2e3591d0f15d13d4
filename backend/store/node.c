/*
 * node.c - node identity and leases (node.h; docs/ENGINES.md §4.1).
 *
 * The node row of a process is inserted on first need and renewed by a keeper thread
 * every NODE_RENEW_MS with the database's clock plus NODE_LEASE_MS. Its state lives in
 * the store (db_node_slot), stopped by dd_store_close through db_set_node_stop, so no
 * state is global and db.c never names this file.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "node.h"

struct dd_node {
    dd_store *st;
    pthread_mutex_t mu;
    pthread_cond_t cv;          /* stop asked (CLOCK_MONOTONIC waits) */
    pid_t pid;                  /* the process that registered `id` (a fork is another) */
    int64_t id;                 /* 0: not registered yet */
    bool keeper_running;
    bool stop;
    pthread_t keeper;
};

/* ---------------------------------------------------------------- identity */

/* State letter and start time (clock ticks after boot) of a process, from /proc. false
 * when unknown (no such process, no /proc). */
static bool proc_stat(pid_t pid, char *state, int64_t *start)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');     /* the command name may hold spaces and parentheses */
    if (!p || p[1] != ' ' || !p[2])
        return false;
    p += 2;                          /* field 3, the state */
    *state = *p;
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return false;
        p++;
    }
    char *end;
    errno = 0;
    long long v = strtoll(p, &end, 10);
    if (errno || end == p)
        return false;
    *start = v;
    return true;
}

void node_process_self(int64_t *pid, int64_t *start)
{
    char state;
    *pid = getpid();
    if (!proc_stat((pid_t)*pid, &state, start))
        *start = -1;
}

bool node_process_alive(int64_t pid, int64_t start)
{
    if (pid <= 0 || pid > INT_MAX)
        return false;
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        return false;
    char state;
    int64_t now;
    if (!proc_stat((pid_t)pid, &state, &now))
        return true;                                    /* it exists; no more is known */
    if (state == 'Z' || state == 'X')
        return false;                                   /* exited, not yet reaped */
    return start < 0 || now == start;                   /* else the pid was reused */
}

/* Who this process is, as the node table records it. */
typedef struct node_ident {
    char machine_id[64];
    char boot_id[64];
    int64_t pidns;
    int64_t pid, start;
    char host[256];
} node_ident;

/* The first line of a small file, trimmed; "" when unreadable. */
static void read_line(const char *path, char *out, size_t len)
{
    out[0] = 0;
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    if (!fgets(out, (int)len, f))
        out[0] = 0;
    fclose(f);
    out[strcspn(out, " \t\r\n")] = 0;
}

static void ident_self(node_ident *id)
{
    memset(id, 0, sizeof *id);
    read_line("/etc/machine-id", id->machine_id, sizeof id->machine_id);
    if (!id->machine_id[0])
        read_line("/var/lib/dbus/machine-id", id->machine_id, sizeof id->machine_id);
    read_line("/proc/sys/kernel/random/boot_id", id->boot_id, sizeof id->boot_id);
    struct stat sb;
    id->pidns = stat("/proc/self/ns/pid", &sb) == 0 ? (int64_t)sb.st_ino : 0;
    node_process_self(&id->pid, &id->start);
    if (gethostname(id->host, sizeof id->host - 1) != 0)
        id->host[0] = 0;
}

/* ---------------------------------------------------------------- the row and its lease */

static dd_code register_row(dd_store *st, int64_t *out, dd_err *err)
{
    node_ident me;
    ident_self(&me);
    dd_conn *c;
    int64_t now_ms = 0;
    char now[DD_TS_LEN];
    dd_now(now);
    /* where its journals are: the journal directory, or the legacy base's directory */
    char jdir[4096];
    const char *base = db_journal_base(st), *slash = strrchr(base, '/');
    if (db_journal_dir(st))
        snprintf(jdir, sizeof jdir, "%s", db_journal_dir(st));
    else if (slash)
        snprintf(jdir, sizeof jdir, "%.*s", slash == base ? 1 : (int)(slash - base), base);
    else
        snprintf(jdir, sizeof jdir, ".");
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_server_now_ms(c, &now_ms, err);
    if (code == DD_OK)
        code = db_insert_id(c, out, err, "registering this node",
                            "INSERT INTO node(machine_id, boot_id, pidns, pid, start_ticks,"
                            " hostname, journal_dir, started_at, lease_until_ms)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                            " ON CONFLICT (machine_id, boot_id, pidns, pid, start_ticks)"
                            " DO UPDATE SET lease_until_ms = excluded.lease_until_ms"
                            " RETURNING id", "ttiiittti", me.machine_id, me.boot_id, me.pidns,
                            me.pid, me.start, me.host, jdir, now,
                            now_ms + NODE_LEASE_MS);
    return code;
}

/* Renew the lease (keeper thread). A row someone deleted (it judged the node dead: the
 * lease had ended) is inserted again under a new id; what the old id owned was, or will
 * be, collected, and an upload of it fails at its claim ("abandoned"), the safe outcome. */
static void renew(struct dd_node *n)
{
    dd_err err = {0};
    dd_conn *c;
    int64_t now_ms = 0;
    pthread_mutex_lock(&n->mu);
    int64_t id = n->id;
    pthread_mutex_unlock(&n->mu);
    dd_code code = db_conn(n->st, &c, &err);
    if (code == DD_OK)
        code = db_server_now_ms(c, &now_ms, &err);
    if (code == DD_OK)
        code = db_exec(c, &err, "renewing this node's lease",
                       "UPDATE node SET lease_until_ms = ? WHERE id = ?", "ii",
                       now_ms + NODE_LEASE_MS, id);
    if (code == DD_OK && db_changes(c) == 0) {
        int64_t fresh = 0;
        code = register_row(n->st, &fresh, &err);
        if (code == DD_OK) {
            syslog(LOG_WARNING, "node %lld: its row was gone (lease ended?); now node %lld",
                   (long long)id, (long long)fresh);
            pthread_mutex_lock(&n->mu);
            n->id = fresh;
            pthread_mutex_unlock(&n->mu);
        }
    }
    if (code != DD_OK)
        syslog(LOG_WARNING, "node %lld: renewing its lease failed (will retry): %s",
               (long long)id, err.msg);
}

static void *keeper_main(void *arg)
{
    struct dd_node *n = arg;
    pthread_mutex_lock(&n->mu);
    while (!n->stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += NODE_RENEW_MS / 1000;
        while (!n->stop && pthread_cond_timedwait(&n->cv, &n->mu, &until) != ETIMEDOUT)
            ;
        if (n->stop)
            break;
        pthread_mutex_unlock(&n->mu);
        renew(n);
        pthread_mutex_lock(&n->mu);
    }
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

/* Stop the keeper, then delete the row unless it still owns something (a journal kept
 * for replay, an upload left behind), so that fsck can tell whose it is. */
static void node_stop(dd_store *st)
{
    struct dd_node *n = *db_node_slot(st);
    if (!n)
        return;
    pthread_mutex_lock(&n->mu);
    n->stop = true;
    pthread_cond_broadcast(&n->cv);
    bool join = n->keeper_running && n->pid == getpid();
    pthread_mutex_unlock(&n->mu);
    if (join)
        pthread_join(n->keeper, NULL);
    dd_conn *c;
    dd_err err = {0};
    if (n->id && n->pid == getpid() && db_conn(st, &c, &err) == DD_OK &&
        db_exec(c, &err, "removing this node",
                "DELETE FROM node WHERE id = ?1"
                " AND NOT EXISTS (SELECT 1 FROM artifact_upload WHERE node_id = ?1)"
                " AND NOT EXISTS (SELECT 1 FROM metric_log_state WHERE node_id = ?1)",
                "i", n->id) != DD_OK)
        syslog(LOG_WARNING, "node %lld: %s", (long long)n->id, err.msg);
    *db_node_slot(st) = NULL;
    db_set_node_stop(st, NULL);
    pthread_mutex_destroy(&n->mu);
    pthread_cond_destroy(&n->cv);
    free(n);
}

/* The store's node state, made on first use (two threads racing keep one). */
static struct dd_node *node_of(dd_store *st, dd_err *err)
{
    struct dd_node **slot = db_node_slot(st);
    struct dd_node *n = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (n)
        return n;
    n = calloc(1, sizeof *n);
    if (!n) {
        dd_fail(err, DD_IO, "out of memory");
        return NULL;
    }
    n->st = st;
    pthread_mutex_init(&n->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&n->cv, &attr);
    pthread_condattr_destroy(&attr);
    struct dd_node *none = NULL;
    if (!__atomic_compare_exchange_n(slot, &none, n, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        pthread_mutex_destroy(&n->mu);
        pthread_cond_destroy(&n->cv);
        free(n);
        return none;
    }
    db_set_node_stop(st, node_stop);
    return n;
}

dd_code node_self(dd_store *st, int64_t *node_id, dd_err *err)
{
    struct dd_node *n = node_of(st, err);
    if (!n)
        return DD_IO;
    pthread_mutex_lock(&n->mu);
    dd_code code = DD_OK;
    if (n->pid != getpid()) {           /* first use, or a forked child: a new node */
        n->id = 0;
        n->keeper_running = false;
        n->stop = false;
        n->pid = getpid();
    }
    if (!n->id)
        code = register_row(st, &n->id, err);
    if (code == DD_OK && !n->keeper_running) {
        if (pthread_create(&n->keeper, NULL, keeper_main, n) == 0)
            n->keeper_running = true;
        else
            code = dd_fail(err, DD_IO, "cannot start the node lease keeper");
    }
    *node_id = n->id;
    pthread_mutex_unlock(&n->mu);
    return code;
}

/* ---------------------------------------------------------------- others */

dd_code node_alive(dd_conn *c, int64_t node_id, node_state *out, dd_err *err)
{
    *out = NODE_DEAD;
    db_stmt *s;
    dd_code code = db_prep(c, &s, err, "SELECT boot_id, pidns, pid, start_ticks,"
                           " lease_until_ms FROM node WHERE id = ?", "i", node_id);
    bool row = false;
    if (code == DD_OK)
        code = db_step(c, s, &row, "reading a node", err);
    if (code != DD_OK || !row) {
        if (code == DD_OK)
            db_reset(s);
        return code;
    }
    char boot[64];
    snprintf(boot, sizeof boot, "%s", db_col_text(s, 0));
    int64_t pidns = db_col_int64(s, 1), pid = db_col_int64(s, 2);
    int64_t start = db_col_int64(s, 3), lease = db_col_int64(s, 4);
    db_reset(s);
    node_ident me;
    ident_self(&me);
    if (boot[0] && strcmp(boot, me.boot_id) == 0 && pidns && pidns == me.pidns) {
        /* this boot of this machine, this pid namespace: the process itself tells */
        if (pid == me.pid && start == me.start)
            *out = NODE_SELF;
        else
            *out = node_process_alive(pid, start) ? NODE_ALIVE : NODE_DEAD;
        return DD_OK;
    }
    int64_t now = 0;
    code = db_server_now_ms(c, &now, err);
    if (code == DD_OK)
        *out = lease > now ? NODE_ALIVE : NODE_DEAD;
    return code;
}

dd_code node_gc(dd_store *st, int64_t *removed, dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    db_ids ids = {0};
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT id FROM node n"
                       " WHERE NOT EXISTS (SELECT 1 FROM artifact_upload WHERE node_id = n.id)"
                       " AND NOT EXISTS (SELECT 1 FROM metric_log_state WHERE node_id = n.id)"
                       " ORDER BY id", NULL);
    if (code == DD_OK)
        code = db_collect_ids(c, s, "listing nodes", &ids, err);
    for (size_t i = 0; code == DD_OK && i < ids.n; i++) {
        node_state state;
        code = node_alive(c, ids.v[i], &state, err);
        /* the owner checks again in the DELETE: a node that took an upload meanwhile
         * keeps its row (it renews it, or its next renewal inserts it again) */
        if (code == DD_OK && state == NODE_DEAD)
            code = db_exec(c, err, "removing a dead node",
                           "DELETE FROM node WHERE id = ?1"
                           " AND NOT EXISTS (SELECT 1 FROM artifact_upload WHERE node_id = ?1)"
                           " AND NOT EXISTS (SELECT 1 FROM metric_log_state"
                           " WHERE node_id = ?1)", "i", ids.v[i]);
        if (code == DD_OK && state == NODE_DEAD && removed)
            *removed += db_changes(c);
    }
    free(ids.v);
    return code;
}

typedef struct journal_row {
    int64_t node_id;
    char *host, *dir, *name;
} journal_row;

typedef struct journal_rows {
    journal_row *v;
    size_t n, cap;
    bool oom;
} journal_rows;

static int collect_journal(db_stmt *s, void *arg)
{
    journal_rows *rows = arg;
    if (rows->n == rows->cap) {
        size_t cap = rows->cap ? rows->cap * 2 : 8;
        journal_row *v = realloc(rows->v, cap * sizeof *v);
        if (!v) {
            rows->oom = true;
            return 1;
        }
        rows->v = v;
        rows->cap = cap;
    }
    journal_row *r = &rows->v[rows->n++];
    r->node_id = db_col_int64(s, 0);
    r->host = db_col_dup(s, 1);
    r->dir = db_col_dup(s, 2);
    r->name = db_col_dup(s, 3);
    rows->oom = !r->host || !r->dir || !r->name;
    return rows->oom;
}

dd_code node_dead_journals(dd_store *st, node_journal_fn fn, void *ctx, dd_err *err)
{
    dd_conn *c;
    db_stmt *s;
    journal_rows rows = {0};
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT n.id, n.hostname, n.journal_dir, m.name"
                       " FROM metric_log_state m JOIN node n ON n.id = m.node_id"
                       " ORDER BY n.id, m.name", NULL);
    if (code == DD_OK)
        code = db_each(c, s, "listing metric journals", collect_journal, &rows, err);
    if (code == DD_OK && rows.oom)
        code = dd_fail(err, DD_IO, "out of memory");
    for (size_t i = 0; code == DD_OK && i < rows.n; i++) {
        node_state state;
        code = node_alive(c, rows.v[i].node_id, &state, err);
        if (code == DD_OK && state == NODE_DEAD)
            fn(ctx, rows.v[i].node_id, rows.v[i].host, rows.v[i].dir, rows.v[i].name);
    }
    for (size_t i = 0; i < rows.n; i++) {
        free(rows.v[i].host);
        free(rows.v[i].dir);
        free(rows.v[i].name);
    }
    free(rows.v);
    return code;
}
