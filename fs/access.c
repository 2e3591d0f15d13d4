/*
 * access.c - the permission checks of a shared mount (access.h): the pure decision, the
 * uid -> DearDiary user cache and the node -> project lookup.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "vfs_int.h"

/* How long a caller's user row and rights are trusted: a `deardiary user grant|revoke`
 * takes effect on a mount within this time. */
#define ACC_TTL 1.0

/* ---------------------------------------------------------------- the decision */

int acc_decide(acc_rights r, int64_t project_id, acc_op op)
{
    if (r.admin)
        return 0;
    if (project_id == 0)
        return op == ACC_SEE || op == ACC_READ ? 0 : -EACCES;
    if (!r.read)
        return -ENOENT;   /* hidden, as a directory one cannot list would be */
    switch (op) {
    case ACC_SEE:
    case ACC_READ:
        return 0;
    case ACC_CREATE:
        return r.create ? 0 : -EACCES;
    case ACC_UPDATE:
        return r.update ? 0 : -EACCES;
    case ACC_DELETE:
        return r.del ? 0 : -EACCES;
    case ACC_ADMIN:
        break;
    }
    return -EACCES;
}

void acc_mode(acc_rights r, int64_t project_id, uid_t uid, gid_t gid, struct stat *st)
{
    st->st_uid = uid;
    st->st_gid = gid;
    acc_op change = S_ISDIR(st->st_mode) ? ACC_CREATE : ACC_UPDATE;
    if (acc_decide(r, project_id, change) != 0)
        st->st_mode &= ~(mode_t)0222;
}

acc_op acc_lookup_op(uint64_t parent)
{
    return ino_kind(parent) == NK_V_NEW ? ACC_CREATE : ACC_SEE;
}

acc_op acc_open_op(uint64_t ino, int flags)
{
    nk kind = ino_kind(ino);
    if (kind == NK_E_NEW || kind == NK_I_CHILD_NEW || kind == NK_V_NEW_FILE)
        return ACC_CREATE;   /* reading them creates an iteration or a version */
    if ((flags & O_ACCMODE) == O_RDONLY && !(flags & O_TRUNC))
        return ACC_READ;
    return kind == NK_PENDING ? ACC_CREATE : ACC_UPDATE;
}

acc_op acc_remove_op(uint64_t child)
{
    return ino_kind(child) == NK_ALIAS ? ACC_UPDATE : ACC_DELETE;
}

acc_op acc_mkdir_op(uint64_t parent)
{
    return acc_is_project_list(parent) ? ACC_ADMIN : ACC_CREATE;
}

bool acc_is_project_list(uint64_t dir)
{
    return ino_kind(dir) == NK_PROJECTS;
}

/* ---------------------------------------------------------------- callers */

typedef struct acc_project {
    int64_t project_id;
    bool c, r, u, d;
} acc_project;

/* One caller's DearDiary identity, as loaded at `loaded`. */
typedef struct acc_user {
    uid_t uid;
    double loaded;        /* monotonic seconds */
    int64_t user_id;      /* the DearDiary user; 0: none (users.unknown) */
    bool admin;
    bool read_all;        /* no DearDiary user and users.unknown: read */
    acc_project *rights;
    size_t n;
} acc_user;

struct dd_access {
    acc_options o;        /* the strings and the map are our copies */
    pthread_mutex_t mu;   /* guards users */
    acc_user *users;
    size_t n_users, cap_users;
};

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

dd_access *acc_new(const acc_options *o)
{
    dd_access *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->o = *o;
    a->o.mount_as = strdup(o->mount_as ? o->mount_as : DD_DEFAULT_USERNAME);
    acc_map_entry *map = o->n_map ? calloc(o->n_map, sizeof *map) : NULL;
    bool ok = a->o.mount_as && (map || !o->n_map);
    for (size_t i = 0; ok && i < o->n_map; i++) {
        map[i].uid = o->map[i].uid;
        ok = (map[i].username = strdup(o->map[i].username)) != NULL;
    }
    a->o.map = map;
    pthread_mutex_init(&a->mu, NULL);
    if (!ok) {
        acc_free(a);
        return NULL;
    }
    return a;
}

void acc_free(dd_access *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->o.n_map; i++)
        free(a->o.map ? a->o.map[i].username : NULL);
    free((void *)a->o.map);
    free((void *)a->o.mount_as);
    for (size_t i = 0; i < a->n_users; i++)
        free(a->users[i].rights);
    free(a->users);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

/* The DearDiary username of `uid` into buf; false when it has none to try. */
static bool username_of(const dd_access *a, uid_t uid, char *buf, size_t len)
{
    if (uid == a->o.mount_uid || uid == 0) {
        snprintf(buf, len, "%s", a->o.mount_as);
        return true;
    }
    for (size_t i = 0; i < a->o.n_map; i++)
        if (a->o.map[i].uid == uid) {
            snprintf(buf, len, "%s", a->o.map[i].username);
            return true;
        }
    struct passwd pw, *found = NULL;
    char tmp[4096];
    if (getpwuid_r(uid, &pw, tmp, sizeof tmp, &found) != 0 || !found)
        return false;
    snprintf(buf, len, "%s", found->pw_name);
    return true;
}

static int collect_right(void *ctx, const dd_user_permission *p)
{
    acc_user *u = ctx;
    acc_project *grown = realloc(u->rights, (u->n + 1) * sizeof *grown);
    if (!grown)
        return 1;
    u->rights = grown;
    u->rights[u->n++] = (acc_project){p->project_id, p->create_permission,
                                      p->read_permission, p->update_permission,
                                      p->delete_permission};
    return 0;
}

/* Load `uid`'s identity from the store into *u (rights heap-allocated). */
static int user_load(const dd_access *a, dd_store *st, uid_t uid, acc_user *u)
{
    memset(u, 0, sizeof *u);
    u->uid = uid;
    u->loaded = mono_now();
    char name[256];
    dd_user row;
    dd_err err = {0};
    dd_code code = username_of(a, uid, name, sizeof name) ? dd_user_find(st, name, &row, &err)
                                                          : DD_NOT_FOUND;
    if (code == DD_NOT_FOUND) {   /* users.unknown */
        u->read_all = a->o.unknown_read;
        return 0;
    }
    if (code == DD_OK) {
        u->admin = row.is_admin;
        u->user_id = row.id;
        code = dd_permission_list(st, row.id, 0, collect_right, u, &err);
        dd_user_clear(&row);
    }
    if (code != DD_OK) {
        syslog(LOG_ERR, "rights of uid %u: %s", (unsigned)uid, err.msg);
        free(u->rights);
        u->rights = NULL;
        return -EIO;
    }
    return 0;
}

/* The rights of a user in one project. */
static acc_rights rights_in(const acc_user *u, int64_t project_id)
{
    acc_rights r = {.user_id = u->user_id, .admin = u->admin, .read = u->read_all};
    for (size_t i = 0; i < u->n; i++)
        if (u->rights[i].project_id == project_id) {
            r.read = r.read || u->rights[i].r;
            r.create = u->rights[i].c;
            r.update = u->rights[i].u;
            r.del = u->rights[i].d;
        }
    return r;
}

/* Find `uid`'s fresh entry (caller holds a->mu); NULL if none. Stale ones are dropped. */
static acc_user *user_cached(dd_access *a, uid_t uid, double now)
{
    for (size_t i = 0; i < a->n_users; i++) {
        if (a->users[i].uid != uid)
            continue;
        if (now - a->users[i].loaded < ACC_TTL)
            return &a->users[i];
        free(a->users[i].rights);
        a->users[i] = a->users[--a->n_users];
        return NULL;
    }
    return NULL;
}

/* Store a freshly loaded entry (caller holds a->mu; takes u->rights). */
static void user_store(dd_access *a, acc_user *u)
{
    if (a->n_users == a->cap_users) {
        size_t cap = a->cap_users ? a->cap_users * 2 : 8;
        acc_user *grown = realloc(a->users, cap * sizeof *grown);
        if (!grown) {
            free(u->rights);
            return;
        }
        a->users = grown;
        a->cap_users = cap;
    }
    a->users[a->n_users++] = *u;
}

/* The caller's rights in `project_id`, from the cache or the store. */
static int caller_rights(dd_access *a, dd_store *st, uid_t uid, int64_t project_id,
                         acc_rights *out)
{
    pthread_mutex_lock(&a->mu);
    acc_user *u = user_cached(a, uid, mono_now());
    if (u)
        *out = rights_in(u, project_id);
    pthread_mutex_unlock(&a->mu);
    if (u)
        return 0;
    acc_user fresh;
    int rc = user_load(a, st, uid, &fresh);   /* outside the lock: it queries the store */
    if (rc)
        return rc;
    *out = rights_in(&fresh, project_id);
    pthread_mutex_lock(&a->mu);
    if (!user_cached(a, uid, mono_now()))
        user_store(a, &fresh);
    else
        free(fresh.rights);
    pthread_mutex_unlock(&a->mu);
    return 0;
}

/* ---------------------------------------------------------------- nodes */

/* The row kind an inode's id names, for the kinds that carry their own row. */
static bool own_row(nk kind, dd_entity *out)
{
    static const struct { nk kind; dd_entity ent; } rows[] = {
        {NK_P_TAG, DD_ENT_PROJECT_TAG},    {NK_E_TAG, DD_ENT_EXPERIMENT_TAG},
        {NK_I_TAG, DD_ENT_ITERATION_TAG},  {NK_I_PARAM, DD_ENT_PARAMETER},
        {NK_I_METRIC, DD_ENT_METRIC_SERIES}, {NK_ENV_FILE, DD_ENT_ITERATION_FILE},
        {NK_I_METRIC_SVG, DD_ENT_METRIC_SERIES}, {NK_E_CHART, DD_ENT_METRIC_SERIES},
        {NK_I_CHILD, DD_ENT_ITERATION},    {NK_RESOURCE, DD_ENT_RESOURCE},
        {NK_ALIAS, DD_ENT_ALIAS},        {NK_MODEL_LINK, DD_ENT_MODEL},
        {NK_EXPERIMENT, DD_ENT_EXPERIMENT}, {NK_ITERATION, DD_ENT_ITERATION},
        {NK_MODEL, DD_ENT_MODEL},          {NK_VERSION, DD_ENT_VERSION},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (rows[i].kind == kind) {
            *out = rows[i].ent;
            return true;
        }
    return false;
}

/* A pending file's owner row: its iteration, experiment (resources) or model. */
static int pending_owner(vfs *v, int64_t id, dd_entity *ent, int64_t *row)
{
    pthread_mutex_lock(&v->mu);
    pending *p = pending_get(v, id);
    nk kind = p ? p->kind : NK_NONE;
    *row = p ? p->iteration_id : 0;
    pthread_mutex_unlock(&v->mu);
    if (!p)
        return -ENOENT;
    *ent = kind == NK_RESOURCE ? DD_ENT_EXPERIMENT
           : kind == NK_V_NEW_FILE ? DD_ENT_MODEL : DD_ENT_ITERATION;
    return 0;
}

/* The project of node `ino`, 0 outside any project. */
static int node_project(vfs *v, uint64_t ino, int64_t *out)
{
    nk kind = ino_kind(ino), owner = node_owner(kind);
    int64_t id = ino_id(ino);
    *out = 0;
    if (kind == NK_ROOT || kind == NK_PROJECTS || kind == NK_MODELS)
        return 0;
    if (owner == NK_PROJECT) {
        *out = id;
        return 0;
    }
    if (kind == NK_SCRATCH) {          /* an editor's temporary file: its directory's */
        uint64_t parent;
        int rc = scratch_parent(v, id, &parent);
        return rc ? rc : node_project(v, parent, out);
    }
    dd_entity ent;
    int rc = 0;
    if (kind == NK_PENDING || kind == NK_V_NEW_FILE)
        rc = pending_owner(v, id, &ent, &id);
    else if (!own_row(owner == NK_NONE ? kind : owner, &ent))
        return -ENOENT;
    if (rc)
        return rc;
    dd_err err = {0};
    dd_code code = dd_project_of(v->st, ent, id, out, &err);
    return code == DD_OK ? 0 : vfs_fail(code, &err, "access: project of a node");
}

static int take_rights(void *ctx, const dd_user_permission *p)
{
    acc_rights *r = ctx;
    r->read = p->read_permission, r->create = p->create_permission;
    r->update = p->update_permission, r->del = p->delete_permission;
    return 1;
}

void acc_rights_mode(vfs *v, uint64_t ino, struct stat *st)
{
    int64_t project = 0;
    acc_rights r = {0};
    dd_user u = {0};
    nk kind = ino_kind(ino);
    if (kind == NK_PENDING || kind == NK_SCRATCH || kind == NK_V_NEW_FILE)
        return;   /* being created by this node: its modes are the vfs's */
    if (node_project(v, ino, &project) != 0) {   /* unknown: advise nothing writable */
        st->st_mode &= ~(mode_t)0222;
        return;
    }
    if (dd_user_find(v->st, "", &u, NULL) == DD_OK) {
        r.user_id = u.id, r.admin = u.is_admin;
        dd_user_clear(&u);
    }
    if (project && !r.admin)
        dd_permission_list(v->st, r.user_id, project, take_rights, &r, NULL);
    acc_mode(r, project, st->st_uid, st->st_gid, st);
}

int acc_resolve(dd_access *a, vfs *v, uid_t uid, uint64_t ino, int64_t *project_out,
                acc_rights *out)
{
    int rc = node_project(v, ino, project_out);
    return rc ? rc : caller_rights(a, v->st, uid, *project_out, out);
}

int acc_check(dd_access *a, vfs *v, uid_t uid, gid_t gid, uint64_t ino, acc_op op,
              struct stat *st)
{
    int64_t project = 0;
    acc_rights r;
    int rc = acc_resolve(a, v, uid, ino, &project, &r);
    if (!rc)
        rc = acc_decide(r, project, op);
    if (!rc && st)
        acc_mode(r, project, uid, gid, st);
    return rc;
}
