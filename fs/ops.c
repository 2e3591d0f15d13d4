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
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vfs_int.h"

#define REMOVAL_TTL 10.0

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

vfs *vfs_new(dd_store *st, const vfs_options *opts)
{
    vfs *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    v->st = st;
    v->opts.live_timeout = opts && opts->live_timeout > 0 ? opts->live_timeout : 0.5;
    v->opts.immutable_timeout = opts && opts->immutable_timeout > 0 ? opts->immutable_timeout
                                                                     : 60.0;
    v->uid = getuid();
    v->gid = getgid();
    pthread_mutex_init(&v->mu, NULL);
    return v;
}

void vfs_free(vfs *v)
{
    if (!v)
        return;
    pthread_mutex_destroy(&v->mu);
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

static int pending_add(vfs *v, nk kind, int64_t iteration_id, const char *name, int64_t *id_out)
{
    int rc = -ENFILE;
    pthread_mutex_lock(&v->mu);
    for (int i = 0; i < VFS_MAX_PENDING; i++) {
        pending *p = &v->pendings[i];
        if (p->id == 0) {
            p->id = ++v->next_pending;
            p->kind = kind;
            p->iteration_id = iteration_id;
            snprintf(p->name, sizeof p->name, "%s", name);
            p->refs = 0;
            *id_out = p->id;
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&v->mu);
    return rc;
}

/* ---------------------------------------------------------------- removal marks */

static void removal_mark(vfs *v, nk kind, int64_t id)
{
    double now = now_mono();
    pthread_mutex_lock(&v->mu);
    removal *free_slot = NULL;
    for (int i = 0; i < VFS_MAX_REMOVALS; i++) {
        removal *r = &v->removals[i];
        if (r->kind == kind && r->id == id) {
            r->expires = now + REMOVAL_TTL;
            free_slot = NULL;
            goto out;
        }
        if (!free_slot && (r->kind == NK_NONE || r->expires < now))
            free_slot = r;
    }
    if (free_slot)
        *free_slot = (removal){kind, id, now + REMOVAL_TTL};
out:
    pthread_mutex_unlock(&v->mu);
}

static bool removal_marked(vfs *v, nk kind, int64_t id)
{
    double now = now_mono();
    bool hit = false;
    pthread_mutex_lock(&v->mu);
    for (int i = 0; i < VFS_MAX_REMOVALS && !hit; i++) {
        removal *r = &v->removals[i];
        if (r->kind == kind && r->id == id && r->expires >= now) {
            r->expires = now + REMOVAL_TTL;
            hit = true;
        }
    }
    pthread_mutex_unlock(&v->mu);
    return hit;
}

static void removal_clear(vfs *v, nk kind, int64_t id)
{
    pthread_mutex_lock(&v->mu);
    for (int i = 0; i < VFS_MAX_REMOVALS; i++)
        if (v->removals[i].kind == kind && v->removals[i].id == id)
            v->removals[i].kind = NK_NONE;
    pthread_mutex_unlock(&v->mu);
}

static bool removals_active(vfs *v)
{
    double now = now_mono();
    bool any = false;
    pthread_mutex_lock(&v->mu);
    for (int i = 0; i < VFS_MAX_REMOVALS && !any; i++)
        any = v->removals[i].kind != NK_NONE && v->removals[i].expires >= now;
    pthread_mutex_unlock(&v->mu);
    return any;
}

/* Is this entity, or one above it, being removed? */
bool removal_covers(vfs *v, nk kind, int64_t id)
{
    if (!removals_active(v))
        return false;
    dd_err err;
    if (kind == NK_ITERATION) {
        if (removal_marked(v, NK_ITERATION, id))
            return true;
        dd_iteration it;
        if (dd_iteration_get(v->st, id, &it, &err) != DD_OK)
            return false;
        kind = NK_EXPERIMENT;
        id = it.experiment_id;
        dd_iteration_clear(&it);
    }
    if (kind == NK_EXPERIMENT) {
        if (removal_marked(v, NK_EXPERIMENT, id))
            return true;
        dd_experiment e;
        if (dd_experiment_get(v->st, id, &e, &err) != DD_OK)
            return false;
        kind = NK_PROJECT;
        id = e.project_id;
        dd_experiment_clear(&e);
    }
    return kind == NK_PROJECT && removal_marked(v, NK_PROJECT, id);
}

/* The entity a node lives in: (NK_PROJECT|NK_EXPERIMENT|NK_ITERATION, id). */
static nk entity_of(vfs *v, nk kind, int64_t id, int64_t *eid)
{
    *eid = id;
    if (kind >= NK_PROJECT && kind <= NK_P_TAGS)
        return NK_PROJECT;
    if (kind >= NK_EXPERIMENT && kind <= NK_E_TAGS)
        return NK_EXPERIMENT;
    int64_t it = node_iteration(v, kind, id);
    if (it) {
        *eid = it;
        return NK_ITERATION;
    }
    if (kind == NK_E_TAG || kind == NK_P_TAG || kind == NK_ENV_FILE || kind == NK_I_TAG ||
        kind == NK_I_CHILD) {
        dd_err err;
        int64_t owner = 0;
        if (kind == NK_ENV_FILE) {
            size_t n;
            dd_iteration_file_by_id(v->st, id, &owner, NULL, &n, &err);
            *eid = owner;
            return NK_ITERATION;
        }
        if (kind == NK_I_CHILD) {
            *eid = id;
            return NK_ITERATION;
        }
        dd_tag_kind tk = kind == NK_P_TAG ? DD_TAG_PROJECT
                       : kind == NK_E_TAG ? DD_TAG_EXPERIMENT : DD_TAG_ITERATION;
        dd_tag_link_get(v->st, tk, id, &owner, NULL, &err);
        *eid = owner;
        return kind == NK_P_TAG ? NK_PROJECT : kind == NK_E_TAG ? NK_EXPERIMENT : NK_ITERATION;
    }
    return NK_NONE;
}

/* Check that `rm -r` of the entity could succeed before marking it. */
static int removal_begin(vfs *v, nk kind, int64_t id)
{
    dd_err err = {0};
    dd_code code = dd_delete_check(v->st, kind == NK_PROJECT ? DD_TAG_PROJECT
                                          : kind == NK_EXPERIMENT ? DD_TAG_EXPERIMENT
                                                                  : DD_TAG_ITERATION, id, &err);
    if (code != DD_OK)
        return vfs_fail(code, &err, "rm");
    removal_mark(v, kind, id);
    return 0;
}

/* ---------------------------------------------------------------- mkdir / rmdir */

int vfs_mkdir(vfs *v, uint64_t parent, const char *name, vfs_entry *out)
{
    nk pk = ino_kind(parent);
    int64_t pid = ino_id(parent), id = 0;
    dd_err err = {0};
    dd_code code;
    nk kind;
    if (pk == NK_PROJECTS) {
        kind = NK_PROJECT;
        code = dd_project_create(v->st, 0, name, &id, &err);
    } else if (pk == NK_P_EXPERIMENTS) {
        kind = NK_EXPERIMENT;
        code = dd_experiment_create(v->st, pid, name, &id, &err);
    } else {
        return -EPERM;
    }
    if (code != DD_OK)
        return vfs_fail(code, &err, "mkdir");
    return node_attr(v, ino_make(kind, id), out);
}

static bool iteration_has_data(vfs *v, int64_t id);

int vfs_rmdir(vfs *v, uint64_t parent, const char *name)
{
    vfs_entry e;
    int rc = vfs_lookup(v, parent, name, &e);
    if (rc)
        return rc;
    nk kind = ino_kind(e.ino);
    int64_t id = ino_id(e.ino);
    if (!S_ISDIR(e.st.st_mode))
        return -ENOTDIR;
    dd_err err = {0};
    dd_code code;
    if (kind == NK_PROJECT || kind == NK_EXPERIMENT || kind == NK_ITERATION) {
        bool cascade = removal_covers(v, kind, id);
        if (kind == NK_PROJECT)
            code = dd_project_delete(v->st, id, cascade, &err);
        else if (kind == NK_EXPERIMENT)
            code = dd_experiment_delete(v->st, id, cascade, &err);
        else if (!cascade && iteration_has_data(v, id))
            code = dd_fail(&err, DD_NOT_EMPTY, "iteration %lld holds data", (long long)id);
        else
            code = dd_iteration_delete(v->st, id, &err);
        if (code == DD_OK)
            removal_clear(v, kind, id);
        return code == DD_OK ? 0 : vfs_fail(code, &err, "rmdir");
    }
    /* the fixed subdirectories go with their entity */
    int64_t eid;
    nk ek = entity_of(v, kind, id, &eid);
    if (ek != NK_NONE && removal_covers(v, ek, eid))
        return 0;
    return -EPERM;
}

static int count_cb(void *ctx, const char *key, const char *value)
{
    (void)key;
    (void)value;
    ++*(int *)ctx;
    return 1;
}

static int count_series_cb(void *ctx, const dd_metric_series *m)
{
    (void)m;
    ++*(int *)ctx;
    return 1;
}

static bool iteration_has_data(vfs *v, int64_t id)
{
    int n = 0;
    dd_err err;
    dd_param_list(v->st, id, count_cb, &n, &err);
    dd_metric_series_list(v->st, id, count_series_cb, &n, &err);
    return n > 0;
}

/* ---------------------------------------------------------------- unlink */

int vfs_unlink(vfs *v, uint64_t parent, const char *name)
{
    vfs_entry e;
    int rc = vfs_lookup(v, parent, name, &e);
    if (rc)
        return rc;
    if (S_ISDIR(e.st.st_mode))
        return -EISDIR;
    nk kind = ino_kind(e.ino);
    int64_t id = ino_id(e.ino), eid = 0;
    nk ek = entity_of(v, kind, id, &eid);
    if (ek != NK_NONE && removal_covers(v, ek, eid))
        return 0;
    dd_err err = {0};
    dd_code code = DD_OK;
    char *key = NULL;
    switch (kind) {
    case NK_I_PARAM:
        code = dd_param_get_by_id(v->st, id, &eid, &key, NULL, &err);
        if (code == DD_OK)
            code = dd_param_delete(v->st, eid, key, &err);
        break;
    case NK_I_METRIC: {
        dd_metric_series m;
        char ts[DD_TS_LEN];
        code = dd_metric_series_by_id(v->st, id, &m, &key, ts, &err);
        if (code == DD_OK)
            code = dd_metric_delete(v->st, m.iteration_id, key, &err);
        break;
    }
    case NK_P_TAG: code = dd_tag_detach(v->st, DD_TAG_PROJECT, eid, name, &err); break;
    case NK_E_TAG: code = dd_tag_detach(v->st, DD_TAG_EXPERIMENT, eid, name, &err); break;
    case NK_I_TAG: code = dd_tag_detach(v->st, DD_TAG_ITERATION, eid, name, &err); break;
    case NK_I_CHILD: case NK_ENV_FILE: case NK_PENDING: case NK_E_NEW: case NK_I_CHILD_NEW:
        return -EPERM;
    default:
        /* one of an entity's own files: the start of `rm -r` of the entity */
        if (ek == NK_NONE)
            return -EPERM;
        return removal_begin(v, ek, eid);
    }
    free(key);
    return code == DD_OK ? 0 : vfs_fail(code, &err, "unlink");
}

/* ---------------------------------------------------------------- create */

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
    case NK_P_TAGS:
        code = dd_tag_attach(v->st, DD_TAG_PROJECT, pid, name, NULL, &err);
        break;
    case NK_E_TAGS:
        code = dd_tag_attach(v->st, DD_TAG_EXPERIMENT, pid, name, NULL, &err);
        break;
    case NK_I_TAGS:
        code = dd_tag_attach(v->st, DD_TAG_ITERATION, pid, name, NULL, &err);
        break;
    default:
        /* fixed-schema directories: editors' and tools' temporary files are refused */
        return -EACCES;
    }
    if (code != DD_OK)
        return vfs_fail(code, &err, "create");
    rc = vfs_lookup(v, parent, name, entry);
    if (rc == 0)
        rc = vfs_open(v, entry->ino, flags & ~(O_WRONLY | O_RDWR), out, info);
    return rc;
}

/* ---------------------------------------------------------------- rename */

int vfs_rename(vfs *v, uint64_t parent, const char *name, uint64_t newparent,
               const char *newname, unsigned flags)
{
    vfs_entry e;
    int rc = vfs_lookup(v, parent, name, &e);
    if (rc)
        return rc;
    if (flags & ~1u)                   /* only RENAME_NOREPLACE */
        return -EINVAL;
    nk kind = ino_kind(e.ino);
    int64_t id = ino_id(e.ino);
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
            code = dd_param_get_by_id(v->st, id, NULL, &key, NULL, &err);
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

int vfs_symlink(vfs *v, uint64_t parent, const char *name, const char *target, vfs_entry *out)
{
    (void)v;
    (void)parent;
    (void)name;
    (void)target;
    (void)out;
    return -EPERM;
}

/* ---------------------------------------------------------------- xattrs */

ssize_t vfs_getxattr(vfs *v, uint64_t ino, const char *name, char *buf, size_t size)
{
    (void)v;
    (void)ino;
    (void)name;
    (void)buf;
    (void)size;
    return -ENODATA;
}

ssize_t vfs_listxattr(vfs *v, uint64_t ino, char *buf, size_t size)
{
    (void)v;
    (void)ino;
    (void)buf;
    (void)size;
    return 0;
}
