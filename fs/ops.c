/*
 * ops.c - namespace changes: mkdir creates projects and experiments, create makes
 * parameters, metric series and tags, rename renames, and the removal protocol that turns
 * `rm -r` of an entity into one transaction.
 *
 * Removal protocol. `rm -r projects/p` walks the tree bottom-up: it unlinks each file it
 * finds, rmdirs each directory, and finally rmdirs projects/p. Deleting row by row would
 * break the rule that a refused delete removes nothing. So the first unlink of one of an
 * entity's own files (status, created, ... which cannot be deleted on their own) marks
 * the entity as being removed, after checking that it can be (EBUSY if a model version
 * uses it). While marked, unlinks and rmdirs below it succeed without touching anything,
 * and the final rmdir of the entity's directory deletes it and everything below in one
 * transaction. A mark expires after REMOVAL_TTL seconds without activity, so an
 * interrupted `rm -r` leaves everything as it was.
 *
 * So that a success reported by `rm` is a deletion: only a process that listed the
 * entity's directory (as every recursive remover does first) starts a removal this way;
 * a lone `rm R/notes` is EPERM, and `rm R/params/k` outside an `rm -r` deletes at once.
 * Marks belong to processes, not threads: a refusal met by one thread of a deleter
 * refuses the rest of that process's removal.
 */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "parse.h"
#include "vfs_int.h"

#define REMOVAL_TTL 10.0

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The engine's default for metrics.close_waits, once there is a store: a server
 * registry (PostgreSQL) acknowledges at the journal, since its commit is a flushed one
 * over the network (BENCHMARKS.md "PostgreSQL mounts"); a SQLite file commits at close,
 * in process and unflushed (synchronous=NORMAL), as it always did. */
static void close_waits_resolve(vfs *v)
{
    if (v->st && v->opts.close_waits == VFS_CLOSE_WAITS_ENGINE)
        v->opts.close_waits = dd_locator_is_uri(dd_store_path(v->st)) ? VFS_CLOSE_WAITS_JOURNAL
                                                                       : VFS_CLOSE_WAITS_COMMIT;
}

vfs *vfs_new(dd_store *st, dd_artifacts *arts, const vfs_options *opts)
{
    vfs *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    v->st = st;
    v->arts = arts;
    v->opts.live_timeout = opts && opts->live_timeout > 0 ? opts->live_timeout : 0.5;
    v->opts.immutable_timeout = opts && opts->immutable_timeout > 0 ? opts->immutable_timeout
                                                                     : 60.0;
    v->opts.close_waits = opts ? opts->close_waits : VFS_CLOSE_WAITS_ENGINE;
    close_waits_resolve(v);
    v->uid = getuid();
    v->gid = getgid();
    pthread_mutex_init(&v->mu, NULL);
    pthread_cond_init(&v->pending_gone, NULL);
    pthread_mutex_init(&v->files_mu, NULL);
    attr_cache_init(v);
    return v;
}

void vfs_attach(vfs *v, dd_store *st, dd_artifacts *arts)
{
    v->st = st;
    v->arts = arts;
    close_waits_resolve(v);
}

void vfs_free(vfs *v)
{
    if (!v)
        return;
    files_free_open(v);
    pthread_mutex_destroy(&v->files_mu);
    pthread_cond_destroy(&v->pending_gone);
    pthread_mutex_destroy(&v->mu);
    attr_cache_free(v);
    scratch_free_all(v);
    chart_cache_free(v);
    free(v->removals);
    free(v);
}

/* ---------------------------------------------------------------- pending files */

/* Caller holds v->mu or accepts a racy read of a slot it owns. */
pending *pending_get(vfs *v, int64_t id)
{
    for (int i = 0; i < VFS_MAX_PENDING; i++)
        if (v->pendings[i].id == id && id != 0)
            return &v->pendings[i];
    return NULL;
}

/* The pending resource (experiment, name), or NULL; caller holds v->mu. */
static pending *pending_resource(vfs *v, int64_t experiment_id, const char *name)
{
    for (int i = 0; i < VFS_MAX_PENDING; i++) {
        pending *p = &v->pendings[i];
        if (p->id && p->kind == NK_RESOURCE && p->iteration_id == experiment_id &&
            strcmp(p->name, name) == 0)
            return p;
    }
    return NULL;
}

bool pending_resource_wait(vfs *v, int64_t experiment_id, const char *name, double timeout_s)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);   /* pthread_cond_timedwait's clock */
    until.tv_sec += (time_t)timeout_s;
    until.tv_nsec += (long)((timeout_s - (double)(time_t)timeout_s) * 1e9);
    if (until.tv_nsec >= 1000000000L)
        until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&v->mu);
    bool was = pending_resource(v, experiment_id, name) != NULL;
    while (pending_resource(v, experiment_id, name) &&
           pthread_cond_timedwait(&v->pending_gone, &v->mu, &until) == 0)
        ;
    pthread_mutex_unlock(&v->mu);
    return was;
}

/* A slot for a new pending file; caller holds v->mu. A free slot, else the registration
 * slot idle longest (no open handle): registration slots only remember a name looked up
 * (by `ls`, a shell's stat, or the `cat` about to open it), and one recycled early is
 * simply created again by the next lookup of its name. NULL when every slot is open. */
static pending *pending_take(vfs *v)
{
    pending *idle = NULL;
    for (int i = 0; i < VFS_MAX_PENDING; i++) {
        pending *p = &v->pendings[i];
        if (p->id == 0)
            return p;
        if (p->kind == NK_V_NEW_FILE && p->refs == 0 && (!idle || p->touched < idle->touched))
            idle = p;
    }
    return idle;
}

static int pending_add(vfs *v, nk kind, int64_t iteration_id, const char *name, int64_t *id_out)
{
    int rc = -ENFILE;      /* VFS_MAX_PENDING files being created and held open at once */
    pthread_mutex_lock(&v->mu);
    pending *p = pending_take(v);
    if (p) {
        memset(p, 0, sizeof *p);
        p->id = ++v->next_pending;
        p->kind = kind;
        p->iteration_id = iteration_id;
        snprintf(p->name, sizeof p->name, "%s", name);
        *id_out = p->id;
        rc = 0;
    }
    pthread_mutex_unlock(&v->mu);
    return rc;
}

/* A registration name is "<iteration id>" or "<iteration id>:<resource name>". Slots are
 * found again by (model, name) and recycled when another slot is needed and they are
 * idle, since `ls` or `stat` may create them without any open. */
int registration_slot(vfs *v, int64_t model_id, const char *name, int64_t *id_out)
{
    int64_t iteration = 0;
    const char *resource = NULL;   /* looked up at open (open_registration) */
    int rc = dd_parse_registration_name(name, &iteration, &resource);
    if (rc)
        return rc;
    double now = now_mono();
    pending *slot = NULL;
    pthread_mutex_lock(&v->mu);
    for (int i = 0; i < VFS_MAX_PENDING && !slot; i++) {
        pending *p = &v->pendings[i];
        if (p->id && p->kind == NK_V_NEW_FILE && p->iteration_id == model_id &&
            strcmp(p->name, name) == 0)
            slot = p;
    }
    if (!slot && (slot = pending_take(v)) != NULL) {
        memset(slot, 0, sizeof *slot);
        slot->id = ++v->next_pending;
        slot->kind = NK_V_NEW_FILE;
        slot->iteration_id = model_id;
        slot->iteration2 = iteration;
        snprintf(slot->name, sizeof slot->name, "%s", name);
    }
    if (slot) {
        slot->touched = now;
        *id_out = slot->id;
    }
    pthread_mutex_unlock(&v->mu);
    return slot ? 0 : -ENFILE;
}

/* ---------------------------------------------------------------- removal marks */

/* The process (thread group) a request's thread belongs to. The kernel reports the
 * calling thread, but an `rm` is a process: keyed by thread, one thread's refused start
 * let another thread of the same deleter really remove what lies below. Falls back to
 * the id itself when /proc does not know it (a process gone, a unit test's made-up id). */
static pid_t process_of(pid_t tid)
{
    char path[40], line[128];
    snprintf(path, sizeof path, "/proc/%d/status", (int)tid);
    FILE *f = fopen(path, "re");
    int tgid = (int)tid;
    while (f && fgets(line, sizeof line, f) && sscanf(line, "Tgid: %d", &tgid) != 1)
        ;
    if (f)
        fclose(f);
    return (pid_t)tgid;
}

/* Find the entry of (kind, id, process) or a free one (caller holds v->mu). The table
 * grows as needed: a mark must never be dropped, since without it the rest of a refused
 * `rm -r` would really delete what lies below. A process keeps at most
 * LISTINGS_PER_PROCESS listings (its oldest is reused), so a `find` over thousands of
 * iterations does not grow the table. NULL only when out of memory. */
#define LISTINGS_PER_PROCESS 8
static removal *removal_slot(vfs *v, nk kind, int64_t id, pid_t pid, double now)
{
    removal *free_slot = NULL, *oldest = NULL;
    int listings = 0;
    for (size_t i = 0; i < v->n_removals; i++) {
        removal *r = &v->removals[i];
        if (r->kind == kind && r->id == id && r->pid == pid)
            return r;
        if (!free_slot && (r->kind == NK_NONE || r->expires < now))
            free_slot = r;
        if (r->kind != NK_NONE && r->pid == pid && r->state == RS_LISTED) {
            listings++;
            if (!oldest || r->expires < oldest->expires)
                oldest = r;
        }
    }
    if (listings >= LISTINGS_PER_PROCESS)
        return oldest;
    if (free_slot)
        return free_slot;
    size_t had = v->n_removals, n = had ? had * 2 : VFS_MAX_REMOVALS;
    removal *grown = realloc(v->removals, n * sizeof *grown);
    if (!grown)
        return NULL;
    memset(grown + had, 0, (n - had) * sizeof *grown);
    v->removals = grown;
    v->n_removals = n;
    return &grown[had];
}

/* Record (or refresh) an entry; a listing never downgrades a mark. false when out of
 * memory. */
static bool removal_mark(vfs *v, nk kind, int64_t id, pid_t pid, rm_mark state)
{
    double now = now_mono();
    pthread_mutex_lock(&v->mu);
    removal *slot = removal_slot(v, kind, id, pid, now);
    if (slot) {
        bool keep = state == RS_LISTED && slot->kind == kind && slot->id == id &&
                    slot->pid == pid && slot->expires >= now && slot->state != RS_LISTED;
        *slot = (removal){kind, id, pid, keep ? slot->state : state, now + REMOVAL_TTL};
    }
    pthread_mutex_unlock(&v->mu);
    return slot != NULL;
}

/* The live entry of (kind, id) for `pid`, refreshed, or RS_NONE. */
static rm_mark removal_marked(vfs *v, nk kind, int64_t id, pid_t pid)
{
    double now = now_mono();
    rm_mark hit = RS_NONE;
    pthread_mutex_lock(&v->mu);
    for (size_t i = 0; i < v->n_removals && hit == RS_NONE; i++) {
        removal *r = &v->removals[i];
        if (r->kind == kind && r->id == id && r->pid == pid && r->expires >= now) {
            r->expires = now + REMOVAL_TTL;
            hit = r->state;
        }
    }
    pthread_mutex_unlock(&v->mu);
    return hit;
}

static void removal_clear(vfs *v, nk kind, int64_t id)
{
    pthread_mutex_lock(&v->mu);
    for (size_t i = 0; i < v->n_removals; i++)
        if (v->removals[i].kind == kind && v->removals[i].id == id)
            v->removals[i].kind = NK_NONE;
    pthread_mutex_unlock(&v->mu);
}

/* Is any removal (not a mere listing) in progress? Spares unlinks the walk up. */
static bool removals_active(vfs *v)
{
    double now = now_mono();
    bool any = false;
    pthread_mutex_lock(&v->mu);
    for (size_t i = 0; i < v->n_removals && !any; i++)
        any = v->removals[i].kind != NK_NONE && v->removals[i].state != RS_LISTED &&
              v->removals[i].expires >= now;
    pthread_mutex_unlock(&v->mu);
    return any;
}

static bool is_entity(nk kind)
{
    return kind == NK_PROJECT || kind == NK_EXPERIMENT || kind == NK_ITERATION ||
           kind == NK_MODEL || kind == NK_VERSION;
}

void vfs_listed(vfs *v, uint64_t ino, pid_t caller)
{
    if (is_entity(ino_kind(ino)))
        removal_mark(v, ino_kind(ino), ino_id(ino), process_of(caller), RS_LISTED);
}

typedef enum rm_state {
    RM_NONE,       /* no `rm -r` of this process covers the entity */
    RM_SELF,       /* the entity itself is being removed: its rmdir deletes it */
    RM_ANCESTOR,   /* an entity above it is: everything here waits for that rmdir */
    RM_REFUSED,    /* the removal was refused: the rest of that rm is refused too */
} rm_state;

/* The entity above (project of an experiment, ...), or NK_NONE at the top. */
static nk entity_up(vfs *v, nk kind, int64_t id, int64_t *up)
{
    dd_err err;
    nk k = NK_NONE;
    if (kind == NK_ITERATION) {
        dd_iteration it = {0};
        if (dd_iteration_get(v->st, id, &it, &err) == DD_OK) {
            *up = it.experiment_id;
            k = NK_EXPERIMENT;
        }
        dd_iteration_clear(&it);
    } else if (kind == NK_EXPERIMENT) {
        dd_experiment e = {0};
        if (dd_experiment_get(v->st, id, &e, &err) == DD_OK) {
            *up = e.project_id;
            k = NK_PROJECT;
        }
        dd_experiment_clear(&e);
    } else if (kind == NK_VERSION) {
        dd_model_version ver = {0};
        if (dd_version_get(v->st, id, &ver, &err) == DD_OK) {
            *up = ver.model_id;
            k = NK_MODEL;
        }
        dd_version_clear(&ver);
    } else if (kind == NK_MODEL) {
        dd_model m = {0};
        if (dd_model_get(v->st, id, &m, &err) == DD_OK) {
            *up = m.project_id;
            k = NK_PROJECT;
        }
        dd_model_clear(&m);
    }
    return k;
}

/* Where the entity stands with respect to `pid`'s `rm -r`, if any. */
static rm_state removal_state(vfs *v, nk kind, int64_t id, pid_t pid)
{
    if (kind == NK_NONE || !removals_active(v))
        return RM_NONE;
    for (bool self = true; kind != NK_NONE; self = false) {
        rm_mark m = removal_marked(v, kind, id, pid);
        if (m == RS_REFUSED)
            return RM_REFUSED;
        if (m == RS_MARKED)
            return self ? RM_SELF : RM_ANCESTOR;
        kind = entity_up(v, kind, id, &id);
    }
    return RM_NONE;
}

/* The entity a node lives in: (NK_PROJECT|NK_EXPERIMENT|NK_ITERATION|NK_MODEL|NK_VERSION,
 * id). */
static nk entity_of(vfs *v, nk kind, int64_t id, int64_t *eid)
{
    *eid = id;
    nk owner = node_owner(kind);
    if (owner != NK_NONE)
        return owner;
    switch (kind) {
    case NK_ALIAS: {
        dd_err err;
        return dd_alias_by_id(v->st, id, eid, NULL, &err) == DD_OK ? NK_MODEL : NK_NONE;
    }
    case NK_E_CHART: {      /* charts/<key>.svg: its id is a series of the experiment */
        dd_err err;
        dd_metric_series m = {0};
        char *key = NULL, ts[DD_TS_LEN];
        dd_iteration it = {0};
        nk k = dd_metric_series_by_id(v->st, id, &m, &key, ts, &err) == DD_OK &&
               dd_iteration_get(v->st, m.iteration_id, &it, &err) == DD_OK ? NK_EXPERIMENT
                                                                           : NK_NONE;
        *eid = it.experiment_id;
        dd_iteration_clear(&it);
        free(key);
        return k;
    }
    case NK_RESOURCE: {
        dd_err err;
        dd_resource r = {0};
        nk k = dd_resource_get(v->st, id, &r, &err) == DD_OK ? NK_EXPERIMENT : NK_NONE;
        *eid = r.experiment_id;
        dd_resource_clear(&r);
        return k;
    }
    default:
        break;
    }
    int64_t it = node_iteration(v, kind, id);
    if (it) {
        *eid = it;
        return NK_ITERATION;
    }
    if (kind == NK_E_TAG || kind == NK_P_TAG || kind == NK_ENV_FILE || kind == NK_I_TAG ||
        kind == NK_I_CHILD) {
        dd_err err;
        int64_t holder = 0;
        if (kind == NK_ENV_FILE) {
            size_t n;
            dd_iteration_file_by_id(v->st, id, &holder, NULL, &n, &err);
            *eid = holder;
            return NK_ITERATION;
        }
        if (kind == NK_I_CHILD) {       /* children/<id> belongs to the parent */
            dd_iteration child = {0};
            nk k = dd_iteration_get(v->st, id, &child, &err) == DD_OK ? NK_ITERATION : NK_NONE;
            *eid = child.parent_iteration_id;
            dd_iteration_clear(&child);
            return k;
        }
        dd_tag_kind tk = kind == NK_P_TAG ? DD_TAG_PROJECT
                       : kind == NK_E_TAG ? DD_TAG_EXPERIMENT : DD_TAG_ITERATION;
        dd_tag_link_get(v->st, tk, id, &holder, NULL, &err);
        *eid = holder;
        return kind == NK_P_TAG ? NK_PROJECT : kind == NK_E_TAG ? NK_EXPERIMENT : NK_ITERATION;
    }
    return NK_NONE;
}

/* The refusal of a removal no `rm -r` covers: EPERM, or ENOENT when the entity is gone.
 * Another process's `rm -r` of the same entity may finish between this request's lookup
 * and its look at the marks (that rmdir clears every mark of the entity); what this
 * caller then meets is a deleted file, as if its lookup had come a moment later. */
static int refuse_removal(vfs *v, uint64_t node, nk kind, int64_t id)
{
    vfs_entry e;
    if (node_attr(v, node, &e) == -ENOENT)
        return -ENOENT;
    return kind != NK_NONE && node_attr(v, ino_make(kind, id), &e) == -ENOENT ? -ENOENT
                                                                              : -EPERM;
}

/* Check that `rm -r` of the entity could succeed before marking it. Only a process that
 * listed the entity's directory is running an `rm -r` of it (rm, shutil.rmtree and
 * find -delete all read a directory before removing what it holds): a lone `rm R/notes`
 * is refused with EPERM instead of reporting a removal that would never happen. */
static int removal_begin(vfs *v, nk kind, int64_t id, pid_t pid)
{
    if (removal_marked(v, kind, id, pid) != RS_LISTED)
        return refuse_removal(v, ino_make(kind, id), kind, id);
    dd_err err = {0};
    dd_code code = DD_OK;
    if (kind == NK_PROJECT || kind == NK_EXPERIMENT || kind == NK_ITERATION)
        code = dd_delete_check(v->st, kind == NK_PROJECT ? DD_TAG_PROJECT
                                      : kind == NK_EXPERIMENT ? DD_TAG_EXPERIMENT
                                                              : DD_TAG_ITERATION, id, &err);
    /* models and versions can always go; a refusal is remembered so that the rest of
     * this rm, which goes on after an error, deletes nothing below */
    if (!removal_mark(v, kind, id, pid, code != DD_OK ? RS_REFUSED : RS_MARKED))
        return -ENOMEM;
    return code == DD_OK ? 0 : vfs_fail(code, &err, "rm");
}

/* ---------------------------------------------------------------- mkdir / rmdir */

int vfs_mkdir(vfs *v, uint64_t parent, const char *name, vfs_entry *out)
{
    return vfs_mkdir_as(v, parent, name, 0, out);
}

int vfs_mkdir_as(vfs *v, uint64_t parent, const char *name, int64_t creator, vfs_entry *out)
{
    nk pk = ino_kind(parent);
    int64_t pid = ino_id(parent), id = 0;
    dd_err err = {0};
    dd_code code;
    nk kind;
    if (pk == NK_PROJECTS) {
        kind = NK_PROJECT;
        code = dd_project_create(v->st, creator, name, &id, &err);
    } else if (pk == NK_P_EXPERIMENTS) {
        kind = NK_EXPERIMENT;
        code = dd_experiment_create(v->st, pid, name, &id, &err);
    } else if (pk == NK_P_MODELS) {
        kind = NK_MODEL;
        code = dd_model_create(v->st, pid, name, "", &id, &err);
    } else {
        return -EPERM;
    }
    if (code != DD_OK)
        return vfs_fail(code, &err, "mkdir");
    return node_attr(v, ino_make(kind, id), out);
}

/* rmdir of an entity directory outside any `rm -r`: only an empty one goes. */
static dd_code rmdir_plain(vfs *v, nk kind, int64_t id, dd_err *err)
{
    switch (kind) {
    case NK_PROJECT: return dd_project_delete(v->st, id, false, err);
    case NK_EXPERIMENT: return dd_experiment_delete(v->st, id, false, err);
    case NK_ITERATION: return dd_iteration_delete(v->st, id, false, err);
    default:          /* models and versions always hold their own files */
        return dd_fail(err, DD_NOT_EMPTY, "not empty");
    }
}

/* The cascading delete at the end of an `rm -r`. */
static dd_code rmdir_cascade(vfs *v, nk kind, int64_t id, dd_err *err)
{
    switch (kind) {
    case NK_PROJECT: return dd_project_delete(v->st, id, true, err);
    case NK_EXPERIMENT: return dd_experiment_delete(v->st, id, true, err);
    case NK_ITERATION: return dd_iteration_delete(v->st, id, true, err);
    case NK_MODEL: return dd_model_delete(v->st, id, err);
    default: return dd_version_delete(v->st, id, err);
    }
}

int vfs_rmdir(vfs *v, uint64_t parent, const char *name, pid_t caller)
{
    vfs_entry e;
    int rc = vfs_lookup(v, parent, name, &e);
    if (rc)
        return rc;
    nk kind = ino_kind(e.ino);
    int64_t id = ino_id(e.ino), eid = 0;
    if (!S_ISDIR(e.st.st_mode))
        return -ENOTDIR;
    dd_err err = {0};
    dd_code code;
    pid_t proc = process_of(caller);
    if (is_entity(kind)) {
        switch (removal_state(v, kind, id, proc)) {
        case RM_REFUSED: return -EBUSY;
        case RM_ANCESTOR: return 0;                 /* goes with the entity above */
        case RM_SELF: code = rmdir_cascade(v, kind, id, &err); break;
        default: code = rmdir_plain(v, kind, id, &err); break;
        }
        if (code == DD_OK)
            removal_clear(v, kind, id);
        return code == DD_OK ? 0 : vfs_fail(code, &err, "rmdir");
    }
    /* the fixed subdirectories go with their entity */
    nk ek = entity_of(v, kind, id, &eid);
    switch (removal_state(v, ek, eid, proc)) {
    case RM_REFUSED: return -EBUSY;
    case RM_NONE: return refuse_removal(v, e.ino, ek, eid);
    default: return 0;
    }
}

/* ---------------------------------------------------------------- unlink */

int vfs_unlink(vfs *v, uint64_t parent, const char *name, pid_t caller)
{
    vfs_entry e;
    int rc = vfs_lookup(v, parent, name, &e);
    if (rc)
        return rc;
    if (S_ISDIR(e.st.st_mode))
        return -EISDIR;
    nk kind = ino_kind(e.ino);
    if (kind == NK_SCRATCH)
        return scratch_unlink(v, parent, name);
    int64_t id = ino_id(e.ino), eid = 0;
    nk ek = entity_of(v, kind, id, &eid);
    pid_t proc = process_of(caller);
    switch (removal_state(v, ek, eid, proc)) {
    case RM_REFUSED: return -EBUSY;
    case RM_SELF: case RM_ANCESTOR: return 0;    /* deferred to the entity's rmdir */
    default: break;
    }
    dd_err err = {0};
    dd_code code = DD_OK;
    char *key = NULL;
    switch (kind) {
    case NK_I_PARAM:
        code = dd_param_get_by_id(v->st, id, &eid, &key, NULL, NULL, &err);
        if (code == DD_OK)
            code = dd_param_delete(v->st, eid, key, &err);
        break;
    case NK_I_METRIC: {
        dd_metric_series m = {0};
        char ts[DD_TS_LEN];
        code = dd_metric_series_by_id(v->st, id, &m, &key, ts, &err);
        if (code == DD_OK)
            code = dd_metric_delete(v->st, m.iteration_id, key, &err);
        break;
    }
    case NK_RESOURCE: code = dd_resource_delete(v->st, id, &err); break;
    case NK_ALIAS: code = dd_alias_delete(v->st, eid, name, &err); break;
    case NK_MODEL_LINK: case NK_V_NEW_FILE:
        return -EPERM;      /* delete a model with rm -r projects/<p>/models/<m> */
    case NK_P_TAG: code = dd_tag_detach(v->st, DD_TAG_PROJECT, eid, name, &err); break;
    case NK_E_TAG: code = dd_tag_detach(v->st, DD_TAG_EXPERIMENT, eid, name, &err); break;
    case NK_I_TAG: code = dd_tag_detach(v->st, DD_TAG_ITERATION, eid, name, &err); break;
    case NK_I_CHILD: case NK_ENV_FILE: case NK_PENDING: case NK_E_NEW: case NK_I_CHILD_NEW:
        return refuse_removal(v, e.ino, ek, eid);
    default:
        /* one of an entity's own files: the start of `rm -r` of the entity */
        if (ek == NK_NONE)
            return refuse_removal(v, e.ino, ek, eid);
        return removal_begin(v, ek, eid, proc);
    }
    free(key);
    return code == DD_OK ? 0 : vfs_fail(code, &err, "unlink");
}

/* ---------------------------------------------------------------- create */

/* A new scratch file (scratch.c) in `parent`, opened. */
static int create_scratch(vfs *v, uint64_t parent, const char *name, int flags,
                          vfs_file **out, vfs_entry *entry, vfs_open_info *info)
{
    vfs_entry dir;
    int rc = node_attr(v, parent, &dir);     /* not in a directory deleted meanwhile */
    if (rc == 0)
        rc = scratch_create(v, parent, name, entry);
    if (rc == 0 && (rc = vfs_open(v, entry->ino, flags, out, info)) != 0)
        scratch_unlink(v, parent, name);
    return rc;
}

int vfs_create(vfs *v, uint64_t parent, const char *name, int flags, vfs_file **out,
               vfs_entry *entry, vfs_open_info *info)
{
    int rc = vfs_lookup(v, parent, name, entry);
    if (rc == 0)
        return (flags & O_EXCL) ? -EEXIST : vfs_open(v, entry->ino, flags, out, info);
    if (rc != -ENOENT)
        return rc;
    nk pk = ino_kind(parent);
    int64_t pid = ino_id(parent), id = 0;
    dd_err err = {0};
    dd_code code = dd_name_check(name, "name", &err);
    if (code != DD_OK)
        return vfs_fail(code, &err, "create");
    if (scratch_dir_allows(pk, name))
        return create_scratch(v, parent, name, flags, out, entry, info);
    switch (pk) {
    case NK_I_PARAMS:
    case NK_I_METRICS:
        if (iteration_ended(v, pid))
            return -EROFS;
        rc = pending_add(v, pk == NK_I_PARAMS ? NK_I_PARAM : NK_I_METRIC, pid, name, &id);
        if (rc)
            return rc;
        rc = vfs_open(v, ino_make(NK_PENDING, id), flags, out, info);
        if (rc == 0)
            rc = node_attr(v, ino_make(NK_PENDING, id), entry);
        return rc;
    case NK_E_RESOURCES:
        rc = pending_add(v, NK_RESOURCE, pid, name, &id);
        if (rc)
            return rc;
        rc = vfs_open(v, ino_make(NK_PENDING, id), flags, out, info);
        if (rc == 0)
            rc = node_attr(v, ino_make(NK_PENDING, id), entry);
        return rc;
    case NK_P_TAGS:
        code = dd_tag_attach(v->st, DD_TAG_PROJECT, pid, name, NULL, &err);
        break;
    case NK_E_TAGS:
        code = dd_tag_attach(v->st, DD_TAG_EXPERIMENT, pid, name, NULL, &err);
        break;
    case NK_I_TAGS:
        code = dd_tag_attach(v->st, DD_TAG_ITERATION, pid, name, NULL, &err);
        break;
    default: {
        /* other fixed-schema directories (env/, versions/, ...) take no new files; in
         * a directory deleted meanwhile (its entity is gone) the name does not exist */
        vfs_entry dir;
        return node_attr(v, parent, &dir) == -ENOENT ? -ENOENT : -EACCES;
    }
    }
    if (code != DD_OK)
        return vfs_fail(code, &err, "create");
    rc = vfs_lookup(v, parent, name, entry);
    if (rc == 0)
        rc = vfs_open(v, entry->ino, flags & ~(O_WRONLY | O_RDWR), out, info);
    return rc;
}

/* ---------------------------------------------------------------- rename */

/* rename(scratch, real file): the scratch's bytes become the file's content through the
 * path a write() takes (open with O_TRUNC, one write, close: one transaction), so every
 * rule and refusal of a write applies, and the refusal is the rename's errno. A missing
 * target in params/, metrics/ or resources/ is created as `echo > new` would. The
 * scratch file is gone only when the commit succeeded. */
static int scratch_commit(vfs *v, int64_t id, const vfs_entry *target, uint64_t newparent,
                          const char *newname, int64_t user_id)
{
    nk pk = ino_kind(newparent);
    if (!target && pk != NK_I_PARAMS && pk != NK_I_METRICS && pk != NK_E_RESOURCES)
        return -EPERM;
    dd_buf content = {0};
    vfs_file *f = NULL;
    vfs_open_info info = {0};
    vfs_entry e;
    int rc = scratch_copy(v, id, &content);
    if (rc == 0)
        rc = target ? vfs_open(v, target->ino, O_WRONLY | O_TRUNC, &f, &info)
                    : vfs_create(v, newparent, newname, O_WRONLY | O_CREAT | O_TRUNC, &f, &e,
                                 &info);
    if (rc == 0) {
        vfs_file_set_user(f, user_id);   /* a stage set this way names its writer too */
        /* a metric file's new text goes through the rewrite rules whole (repeats skipped,
         * changes refused), not through one write() and its request-size bound */
        bool rewrite = f->mode == FM_METRIC;
        ssize_t n = rewrite ? vfs_metric_rewrite(v, f->iteration_id, f->key, content.data,
                                                 content.len)
                  : content.len ? vfs_write(v, f, 0, content.data, content.len) : 0;
        if (!content.len && f->mode == FM_VALUE)
            f->dirty = true;           /* an emptied file is an empty value, as `: >` */
        rc = n < 0 ? (int)n : vfs_flush(v, f, 0);
        int rrc = vfs_release(v, f);
        rc = rc ? rc : rrc;
    }
    dd_buf_free(&content);
    if (rc == 0)
        scratch_forget(v, id);
    return rc;
}

/* Renaming a scratch file: onto another scratch name it stays a scratch file; onto a
 * real file it commits (scratch_commit). */
static int rename_scratch(vfs *v, int64_t id, uint64_t newparent, const char *newname,
                          unsigned flags, int64_t user_id)
{
    vfs_entry target, dir;
    int rc = vfs_lookup(v, newparent, newname, &target);
    if (rc == 0 && (flags & 1u))
        return -EEXIST;
    if (rc && rc != -ENOENT)
        return rc;
    if (rc == 0 && ino_kind(target.ino) == NK_SCRATCH)
        return ino_id(target.ino) == id ? 0 : scratch_move(v, id, newparent, newname);
    if (rc == -ENOENT && scratch_dir_allows(ino_kind(newparent), newname))
        return node_attr(v, newparent, &dir) ? -ENOENT : scratch_move(v, id, newparent, newname);
    return scratch_commit(v, id, rc == 0 ? &target : NULL, newparent, newname, user_id);
}

int vfs_rename(vfs *v, uint64_t parent, const char *name, uint64_t newparent,
               const char *newname, unsigned flags)
{
    return vfs_rename_as(v, parent, name, newparent, newname, flags, 0);
}

int vfs_rename_as(vfs *v, uint64_t parent, const char *name, uint64_t newparent,
                  const char *newname, unsigned flags, int64_t user_id)
{
    vfs_entry e;
    int rc = vfs_lookup(v, parent, name, &e);
    if (rc)
        return rc;
    if (flags & ~1u)                   /* only RENAME_NOREPLACE */
        return -EINVAL;
    nk kind = ino_kind(e.ino);
    int64_t id = ino_id(e.ino);
    if (kind == NK_SCRATCH)
        return rename_scratch(v, id, newparent, newname, flags, user_id);
    vfs_entry target;
    bool exists = vfs_lookup(v, newparent, newname, &target) == 0;
    if (exists && (flags & 1u))
        return -EEXIST;
    if (exists && target.ino == e.ino)
        return 0;
    dd_err err = {0};
    dd_code code;
    if (parent != newparent)
        return -EPERM;                 /* entities do not move between parents */
    switch (kind) {
    case NK_PROJECT:
        if (exists)
            return -ENOTEMPTY;
        code = dd_project_rename(v->st, id, newname, &err);
        break;
    case NK_EXPERIMENT:
        if (exists)
            return -ENOTEMPTY;
        code = dd_experiment_rename(v->st, id, newname, &err);
        break;
    case NK_MODEL:
        if (exists)
            return -ENOTEMPTY;
        code = dd_model_rename(v->st, id, newname, &err);
        break;
    case NK_RESOURCE:
        if (exists && ino_kind(target.ino) == NK_RESOURCE) {
            code = dd_resource_delete(v->st, ino_id(target.ino), &err);
            if (code != DD_OK)
                return vfs_fail(code, &err, "rename");
        }
        code = dd_resource_rename(v->st, id, newname, &err);
        break;
    case NK_ALIAS:
        /* `ln -sfn` makes a temporary link and renames it over the alias; every alias is
         * its own inode, so the kernel sends this even when both point at one version */
        code = dd_alias_rename(v->st, ino_id(parent), name, newname, &err);
        break;
    case NK_I_PARAM:
    case NK_PENDING: {
        char *key = NULL;
        int64_t it = ino_id(parent);
        if (kind == NK_PENDING) {
            pending *p = pending_get(v, id);
            key = p ? strdup(p->name) : NULL;
            code = key ? dd_param_rename(v->st, it, key, newname, &err)
                       : dd_fail(&err, DD_NOT_FOUND, "no such file");
        } else {
            code = dd_param_get_by_id(v->st, id, NULL, &key, NULL, NULL, &err);
            if (code == DD_OK)
                code = dd_param_rename(v->st, it, key, newname, &err);
        }
        free(key);
        break;
    }
    default:
        return -EPERM;
    }
    return code == DD_OK ? 0 : vfs_fail(code, &err, "rename");
}

/* aliases/<name> -> ../versions/<n>, exactly: the only spelling that resolves from
 * aliases/ to a version of this model (anything else, another model's version included,
 * is EINVAL rather than read by its last part). */
int vfs_symlink(vfs *v, uint64_t parent, const char *name, const char *target, vfs_entry *out)
{
    if (ino_kind(parent) != NK_M_ALIASES)
        return -EPERM;
    int64_t model = ino_id(parent), version = 0, vid = 0;
    if (dd_parse_alias_target(target, &version) != 0)
        return -EINVAL;
    vfs_entry existing;
    if (vfs_lookup(v, parent, name, &existing) == 0)
        return -EEXIST;
    dd_err err = {0};
    dd_code code = dd_version_find(v->st, model, version, &vid, &err);
    if (code == DD_OK)
        code = dd_alias_set(v->st, model, name, vid, &err);
    if (code != DD_OK)
        return vfs_fail(code, &err, "symlink");
    return vfs_lookup(v, parent, name, out);
}

/* ---------------------------------------------------------------- xattrs */

/* The resource behind a resource file or a version's artifact, or 0. */
static int64_t xattr_resource(vfs *v, uint64_t ino)
{
    nk kind = ino_kind(ino);
    if (kind == NK_RESOURCE)
        return ino_id(ino);
    if (kind != NK_V_ARTIFACT)
        return 0;
    dd_err err;
    dd_model_version ver = {0};
    int64_t r = dd_version_get(v->st, ino_id(ino), &ver, &err) == DD_OK ? ver.resource_id : 0;
    dd_version_clear(&ver);
    return r;
}

static const char *const xattr_names[] = {
    "user.deardiary.sha256", "user.deardiary.size", "user.deardiary.backend",
    "user.deardiary.uri", "user.deardiary.broken",
};
#define XATTR_BROKEN 4      /* present only on a resource fsck marked broken */
#define BROKEN_TEXT "bytes missing or damaged (deardiary fsck); reads fail with EIO"

/* Index of `name` in xattr_names, or -1. */
static int xattr_index(const char *name)
{
    for (int i = 0; i < (int)(sizeof xattr_names / sizeof *xattr_names); i++)
        if (strcmp(name, xattr_names[i]) == 0)
            return i;
    return -1;
}

/* The mount root names its database file, so that `deardiary run` given a path inside a
 * mount can open the same store (run_cmd.c). */
#define XATTR_DATABASE "user.deardiary.database"

/* Copy `val` out as an xattr value: its length when size is 0, ERANGE when too small. */
static ssize_t xattr_copy(const char *val, char *buf, size_t size)
{
    size_t n = strlen(val);
    if (size && n > size)
        return -ERANGE;
    if (size)
        memcpy(buf, val, n);
    return (ssize_t)n;
}

/* Only the "user." namespace exists here. Any other (security.selinux, system.posix_acl_*)
 * answers EOPNOTSUPP rather than ENODATA: GNU ls -l asks for those three names on every
 * entry, and remembers "unsupported" per device after the first, which turns three FUSE
 * round trips per entry into three per listing (ENOSYS would do the same but make the
 * kernel stop sending getxattr at all, losing user.deardiary.*). */
ssize_t vfs_getxattr(vfs *v, uint64_t ino, const char *name, char *buf, size_t size)
{
    if (strncmp(name, "user.", 5) != 0)
        return -EOPNOTSUPP;
    if (ino == VFS_ROOT_INO)
        return strcmp(name, XATTR_DATABASE) == 0 ? xattr_copy(dd_store_path(v->st), buf, size)
                                                 : -ENODATA;
    int which = xattr_index(name);
    if (which < 0)
        return -ENODATA;
    int64_t rid = xattr_resource(v, ino);
    if (!rid)
        return -ENODATA;
    dd_err err = {0};
    dd_resource r = {0};
    dd_code code = dd_resource_get(v->st, rid, &r, &err);
    if (code != DD_OK)
        return vfs_fail(code, &err, "getxattr");
    char num[24];
    snprintf(num, sizeof num, "%" PRId64, r.size_bytes);
    const char *const vals[] = {r.content_hash, num, r.backend, r.uri,
                                r.broken ? BROKEN_TEXT : NULL};
    ssize_t n = vals[which] ? xattr_copy(vals[which], buf, size) : -ENODATA;
    dd_resource_clear(&r);
    return n;
}

ssize_t vfs_listxattr(vfs *v, uint64_t ino, char *buf, size_t size)
{
    if (ino == VFS_ROOT_INO) {
        if (size && size < sizeof XATTR_DATABASE)
            return -ERANGE;
        if (size)
            memcpy(buf, XATTR_DATABASE, sizeof XATTR_DATABASE);
        return (ssize_t)sizeof XATTR_DATABASE;
    }
    int64_t rid = xattr_resource(v, ino);
    if (!rid)
        return 0;
    dd_err err = {0};
    dd_resource r = {0};
    size_t names = dd_resource_get(v->st, rid, &r, &err) == DD_OK && r.broken ? 5 : 4;
    dd_resource_clear(&r);
    size_t total = 0;
    for (size_t i = 0; i < names; i++)
        total += strlen(xattr_names[i]) + 1;
    if (size == 0)
        return (ssize_t)total;
    if (size < total)
        return -ERANGE;
    for (size_t i = 0, off = 0; i < names; i++) {
        size_t n = strlen(xattr_names[i]) + 1;
        memcpy(buf + off, xattr_names[i], n);
        off += n;
    }
    return (ssize_t)total;
}

int vfs_statfs(vfs *v, struct statvfs *out)
{
    /* the store's local directory (a SQLite file's; a server registry's journals), not a
     * file: statvfs of the directory works even while the file is being replaced */
    char dir[4096];
    dd_store_local_dir(v->st, dir, sizeof dir);
    if (statvfs(dir, out) != 0)
        return -errno;
    out->f_namemax = DD_NAME_MAX;
    return 0;
}
