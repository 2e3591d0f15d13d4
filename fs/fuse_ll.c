/*
 * fuse_ll.c - the thin libfuse low-level adapter: translates each request into a vfs_*
 * call and sends exactly one reply. No tree logic lives here (see vfs.h).
 *
 * Inodes are derived from rows (vfs_int.h), so there is no inode table: forget is a
 * no-op. Directory listings are snapshotted at opendir so that offsets stay valid while
 * other processes add rows.
 *
 * On a shared mount (dd_fuse_ctx.acc set: `-o allow_other`) every request that names a
 * node is checked for its caller first (access.h), and the kernel is told to cache
 * nothing: entry and attribute timeouts 0 and direct I/O, so every lookup, stat and read
 * reaches the daemon as its own caller and nothing one user's access brought into the
 * kernel answers another user.
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "access.h"
#include "dlist.h"
#include "fuse_ll.h"
#include "placement.h"
#include "vfs.h"

/* The vfs a request runs against. Every handler starts here, so this is also where a
 * worker catches up with the wanted placement (placement.h). */
static vfs *req_vfs(fuse_req_t req)
{
    dd_fuse_ctx *c = fuse_req_userdata(req);
    if (c->place)
        dd_placement_request(c->place, (uint32_t)fuse_req_ctx(req)->pid);
    return c->v;
}

static bool shared(fuse_req_t req)
{
    return ((dd_fuse_ctx *)fuse_req_userdata(req))->acc != NULL;
}

/* The modes a single-user mount shows (dd_fuse_ctx.modes). */
static void show_modes(dd_fuse_ctx *c, uint64_t ino, struct stat *st)
{
    if (c->modes && !S_ISLNK(st->st_mode))
        c->modes(c->v, ino, st);
}

/* A shared mount's check of `op` on `ino` for the request's caller; with `st`, the
 * attributes become what that caller sees (owner, write bits). 0 on a single-user mount,
 * whose `st` gets its modes (show_modes). */
static int req_check(fuse_req_t req, uint64_t ino, acc_op op, struct stat *st)
{
    dd_fuse_ctx *c = fuse_req_userdata(req);
    if (!c->acc) {
        if (st)
            show_modes(c, ino, st);
        return 0;
    }
    const struct fuse_ctx *x = fuse_req_ctx(req);
    return acc_check(c->acc, c->v, x->uid, x->gid, ino, op, st);
}

/* The caller's DearDiary user id on a shared mount; 0 (the seeded `default`, as the
 * mounting account) on a single-user mount or for an account with no user. */
static int req_user(fuse_req_t req, int64_t *user_id)
{
    dd_fuse_ctx *c = fuse_req_userdata(req);
    *user_id = 0;
    if (!c->acc)
        return 0;
    int64_t project;
    acc_rights r;
    int rc = acc_resolve(c->acc, c->v, fuse_req_ctx(req)->uid, VFS_ROOT_INO, &project, &r);
    *user_id = rc ? 0 : r.user_id;
    return rc;
}

/* How long the kernel may keep a name or attributes: never on a shared mount. */
static double req_timeout(fuse_req_t req, double t)
{
    return shared(req) ? 0 : t;
}

static void reply_entry(fuse_req_t req, int rc, const vfs_entry *e)
{
    if (rc == -ENOENT) {
        /* not cached: rows appear from other processes at any time */
        struct fuse_entry_param none = {0};
        fuse_reply_entry(req, &none);
        return;
    }
    if (rc) {
        fuse_reply_err(req, -rc);
        return;
    }
    double t = req_timeout(req, e->timeout);
    struct fuse_entry_param p = {
        .ino = e->ino, .generation = 1, .attr = e->st, .attr_timeout = t, .entry_timeout = t,
    };
    fuse_reply_entry(req, &p);
}

static void dd_init(void *userdata, struct fuse_conn_info *conn)
{
    (void)userdata;
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;   /* external writers; errors at write() */
    if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
        conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
    conn->max_background = 64;
    conn->max_write = DD_FUSE_MAX_WRITE;   /* artifacts: 1 MiB per request (max_pages) */
}

static void dd_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    vfs_entry e;
    int rc = req_check(req, parent, acc_lookup_op(parent), NULL);
    if (!rc)
        rc = vfs_lookup(req_vfs(req), parent, name, &e);
    if (!rc)
        rc = req_check(req, e.ino, ACC_SEE, &e.st);
    reply_entry(req, rc, &e);
}

static void dd_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    vfs_entry e;
    int rc = vfs_getattr_open(req_vfs(req), ino, fi ? (vfs_file *)(uintptr_t)fi->fh : NULL, &e);
    if (!rc)
        rc = req_check(req, ino, ACC_SEE, &e.st);
    if (rc)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_attr(req, &e.st, req_timeout(req, e.timeout));
}

static void dd_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi)
{
    vfs *v = req_vfs(req);
    vfs_file *f = fi ? (vfs_file *)(uintptr_t)fi->fh : NULL;
    /* truncating is writing (O_TRUNC of a new value): as open for writing */
    int rc = req_check(req, ino, (to_set & FUSE_SET_ATTR_SIZE) ? acc_open_op(ino, O_WRONLY)
                                                                : ACC_SEE, NULL);
    if (!rc && (to_set & FUSE_SET_ATTR_SIZE))
        rc = vfs_truncate(v, ino, f, attr->st_size);
    if (!rc && (to_set & FUSE_SET_ATTR_MODE))
        rc = vfs_chmod(v, ino, attr->st_mode);
    vfs_entry e;
    if (!rc)
        rc = vfs_getattr(v, ino, &e);
    if (!rc)   /* the owner a shared mount shows its caller is the one chown may keep */
        rc = req_check(req, ino, ACC_SEE, &e.st);
    if (!rc && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))) {
        bool same = (!(to_set & FUSE_SET_ATTR_UID) || attr->st_uid == e.st.st_uid) &&
                    (!(to_set & FUSE_SET_ATTR_GID) || attr->st_gid == e.st.st_gid);
        rc = same ? 0 : -EPERM;
    }
    /* times are accepted and not stored: they derive from the rows */
    if (rc)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_attr(req, &e.st, req_timeout(req, e.timeout));
}

static void dd_readlink(fuse_req_t req, fuse_ino_t ino)
{
    char buf[VFS_LINK_MAX];
    int rc = req_check(req, ino, ACC_SEE, NULL);
    if (!rc)
        rc = vfs_readlink(req_vfs(req), ino, buf, sizeof buf);
    if (rc)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_readlink(req, buf);
}

static void dd_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    (void)mode;
    vfs_entry e;
    int rc = req_check(req, parent, acc_mkdir_op(parent), NULL);
    int64_t creator = 0;
    if (!rc)
        rc = req_user(req, &creator);
    if (!rc)
        rc = vfs_mkdir_as(req_vfs(req), parent, name, creator, &e);
    if (!rc)
        rc = req_check(req, e.ino, ACC_SEE, &e.st);
    if (rc == -ENOENT)
        fuse_reply_err(req, ENOENT);
    else
        reply_entry(req, rc, &e);
}

/* A shared mount's check of removing or renaming `name` in `parent`: on the node itself
 * (a project in /projects is its own), or on `parent` when there is no such node (the
 * vfs call then gives its own error). `admin_op` applies in /projects, `op` elsewhere. */
static int check_child(fuse_req_t req, fuse_ino_t parent, const char *name, acc_op op,
                       acc_op admin_op)
{
    if (!shared(req))
        return 0;
    vfs_entry e;
    if (vfs_lookup(req_vfs(req), parent, name, &e) != 0)
        return req_check(req, parent, acc_is_project_list(parent) ? admin_op : op, NULL);
    return req_check(req, e.ino, acc_is_project_list(parent) ? admin_op
                                 : op == ACC_DELETE ? acc_remove_op(e.ino) : op, NULL);
}

static void dd_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    int rc = check_child(req, parent, name, ACC_DELETE, ACC_DELETE);
    fuse_reply_err(req, rc ? -rc : -vfs_unlink(req_vfs(req), parent, name,
                                               fuse_req_ctx(req)->pid));
}

static void dd_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    int rc = check_child(req, parent, name, ACC_DELETE, ACC_DELETE);
    fuse_reply_err(req, rc ? -rc : -vfs_rmdir(req_vfs(req), parent, name,
                                              fuse_req_ctx(req)->pid));
}

/* A rename updates both directories; in /projects it renames a project (admins only). */
static void dd_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
    int rc = check_child(req, parent, name, ACC_UPDATE, ACC_ADMIN);
    if (!rc)
        rc = req_check(req, newparent, acc_is_project_list(newparent) ? ACC_ADMIN : ACC_UPDATE,
                       NULL);
    int64_t user = 0;
    if (!rc)
        rc = req_user(req, &user);
    if (!rc)
        rc = vfs_rename_as(req_vfs(req), parent, name, newparent, newname, flags, user);
    fuse_reply_err(req, -rc);
}

static void dd_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    vfs_entry e;
    int rc = req_check(req, parent, ACC_UPDATE, NULL);   /* aliases: an update */
    if (!rc)
        rc = vfs_symlink(req_vfs(req), parent, name, link, &e);
    if (!rc)
        rc = req_check(req, e.ino, ACC_SEE, &e.st);
    if (rc == -ENOENT)
        fuse_reply_err(req, ENOENT);
    else
        reply_entry(req, rc, &e);
}

/* On a shared mount no page is cached: a reader's pages must not serve another user. */
static void set_open_info(fuse_req_t req, struct fuse_file_info *fi, vfs_file *f,
                          const vfs_open_info *info)
{
    fi->fh = (uint64_t)(uintptr_t)f;
    fi->direct_io = info->direct_io || shared(req);
    fi->keep_cache = info->keep_cache && !shared(req);
    fi->nonseekable = 0;
}

static void dd_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    vfs_file *f = NULL;
    vfs_open_info info = {0};
    int rc = req_check(req, ino, acc_open_op(ino, fi->flags), NULL);
    int64_t user = 0;
    if (!rc)
        rc = req_user(req, &user);
    if (!rc)
        rc = vfs_open(req_vfs(req), ino, fi->flags, &f, &info);
    if (rc) {
        fuse_reply_err(req, -rc);
        return;
    }
    vfs_file_set_user(f, user);   /* the stage history's "by whom" (RELEASE has no caller) */
    set_open_info(req, fi, f, &info);
    if (fuse_reply_open(req, fi) != 0)
        vfs_release(req_vfs(req), f);   /* the opener went away */
}

static void dd_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi)
{
    (void)mode;
    vfs_file *f = NULL;
    vfs_open_info info = {0};
    vfs_entry e;
    int rc = req_check(req, parent, ACC_CREATE, NULL);
    if (!rc)
        rc = vfs_create(req_vfs(req), parent, name, fi->flags, &f, &e, &info);
    if (!rc)
        req_check(req, parent, ACC_SEE, &e.st);   /* the new file's owner and mode */
    if (rc) {
        fuse_reply_err(req, -rc);
        return;
    }
    set_open_info(req, fi, f, &info);
    struct fuse_entry_param p = {
        .ino = e.ino, .generation = 1, .attr = e.st, .attr_timeout = 0, .entry_timeout = 0,
    };
    if (fuse_reply_create(req, &p, fi) != 0)
        vfs_release(req_vfs(req), f);
}

/* vfs_read_with's take: the reply is the runs themselves (no copy into a buffer). */
static void reply_runs(void *ctx, const struct iovec *iov, int n)
{
    if (n)
        fuse_reply_iov(ctx, iov, n);
    else
        fuse_reply_buf(ctx, NULL, 0);
}

static void dd_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    (void)ino;
    vfs_file *f = (vfs_file *)(uintptr_t)fi->fh;
    int rc = vfs_read_with(req_vfs(req), f, off, size, reply_runs, req);
    if (rc > 0)
        return;                 /* answered from the reader's own memory */
    dd_buf out = {0};
    if (rc == 0)
        rc = vfs_read(req_vfs(req), f, off, size, &out);
    if (rc)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_buf(req, out.data, out.len);
    dd_buf_free(&out);
}

static void dd_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    (void)ino;
    dd_fuse_ctx *c = fuse_req_userdata(req);
    if (c->place)
        dd_placement_write(c->place, (uint32_t)fuse_req_ctx(req)->pid, size);
    ssize_t n = vfs_write(req_vfs(req), (vfs_file *)(uintptr_t)fi->fh, off, buf, size);
    if (n < 0)
        fuse_reply_err(req, (int)-n);
    else
        fuse_reply_write(req, (size_t)n);
}

static void dd_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    fuse_reply_err(req, -vfs_flush(req_vfs(req), (vfs_file *)(uintptr_t)fi->fh,
                                   fuse_req_ctx(req)->pid));
}

static void dd_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    vfs_release(req_vfs(req), (vfs_file *)(uintptr_t)fi->fh);
    fuse_reply_err(req, 0);
}

static void dd_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    (void)ino;
    (void)datasync;
    fuse_reply_err(req, -vfs_fsync(req_vfs(req), (vfs_file *)(uintptr_t)fi->fh));
}

/* ---------------------------------------------------------------- directories */

/* A listing is kept whole from opendir to releasedir (readdir pages through it). Names
 * sit in one buffer, not one allocation each: a 100k-entry `ls -l` made 100k small
 * blocks that, freed, stayed in the workers' malloc arenas (48 MB kept after the
 * listing ended); two large blocks go back to the system (see mount_cmd.c's mallopt). */
typedef struct dir_item {
    size_t name_off;      /* into dir_snap.names, NUL-terminated */
    vfs_entry e;
} dir_item;

typedef struct dir_snap {
    dir_item *items;
    size_t n, cap;
    dd_buf names;
    bool oom;
    dd_dlink link;        /* on dd_fuse_ctx.dirs while open */
} dir_snap;

static int snap_add(void *ctx, const char *name, const vfs_entry *e)
{
    dir_snap *d = ctx;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 32;
        dir_item *items = realloc(d->items, cap * sizeof *items);
        if (!items)
            return (d->oom = true);
        d->items = items;
        d->cap = cap;
    }
    d->items[d->n].name_off = d->names.len;
    d->items[d->n].e = *e;
    if (dd_buf_add(&d->names, name, strlen(name) + 1) != 0)
        return (d->oom = true);
    d->n++;
    return 0;
}

static void snap_free(dir_snap *d)
{
    dd_buf_free(&d->names);
    free(d->items);
    free(d);
}

/* An open listing joins c->dirs before its open is answered (RELEASEDIR may follow at
 * once, on another thread) and leaves at its release. */
static void snap_track(dd_fuse_ctx *c, dir_snap *d)
{
    pthread_mutex_lock(&c->dirs_mu);
    dd_dlist_push(&c->dirs, &d->link);
    pthread_mutex_unlock(&c->dirs_mu);
}

static void snap_release(dd_fuse_ctx *c, dir_snap *d)
{
    pthread_mutex_lock(&c->dirs_mu);
    dd_dlist_remove(&c->dirs, &d->link);
    pthread_mutex_unlock(&c->dirs_mu);
    snap_free(d);
}

int dd_fuse_ctx_init(dd_fuse_ctx *c)
{
    c->dirs = NULL;
    return pthread_mutex_init(&c->dirs_mu, NULL) == 0 ? 0 : -1;
}

void dd_fuse_ctx_end(dd_fuse_ctx *c)
{
    while (c->dirs)
        snap_release(c, DD_CONTAINER(c->dirs, dir_snap, link));
    pthread_mutex_destroy(&c->dirs_mu);
}

/* A listing on a shared mount: every entry as its caller sees it. Entries of a directory
 * inside a project share its rights; those of /projects and /models (project 0) each
 * belong to their own project, and the ones the caller cannot read are left out. */
typedef struct dir_filter {
    dir_snap *d;
    fuse_req_t req;
    int64_t project;    /* the directory's */
    acc_rights rights;
} dir_filter;

static int filter_add(void *ctx, const char *name, const vfs_entry *e)
{
    dir_filter *f = ctx;
    vfs_entry mine = *e;
    mine.timeout = 0;
    const struct fuse_ctx *x = fuse_req_ctx(f->req);
    if (f->project == 0) {
        if (req_check(f->req, e->ino, ACC_SEE, &mine.st) != 0)
            return 0;
    } else {
        acc_mode(f->rights, f->project, x->uid, x->gid, &mine.st);
    }
    return snap_add(f->d, name, &mine);
}

typedef struct modes_filter {
    dir_snap *d;
    dd_fuse_ctx *c;
} modes_filter;

static int modes_add(void *ctx, const char *name, const vfs_entry *e)
{
    modes_filter *f = ctx;
    vfs_entry mine = *e;
    show_modes(f->c, e->ino, &mine.st);
    return snap_add(f->d, name, &mine);
}

/* vfs_readdir into `d`, through the filter on a shared mount (or the modes' of a remote
 * one). */
static int list_dir(fuse_req_t req, fuse_ino_t ino, dir_snap *d)
{
    dd_fuse_ctx *c = fuse_req_userdata(req);
    if (!c->acc && c->modes)
        return vfs_readdir(c->v, ino, modes_add, (modes_filter[]){{d, c}});
    if (!c->acc)
        return vfs_readdir(c->v, ino, snap_add, d);
    dir_filter f = {.d = d, .req = req};
    int rc = acc_resolve(c->acc, c->v, fuse_req_ctx(req)->uid, ino, &f.project, &f.rights);
    return rc ? rc : vfs_readdir(c->v, ino, filter_add, &f);
}

static void dd_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    dir_snap *d = calloc(1, sizeof *d);
    if (!d) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    vfs_entry self;
    int rc = vfs_getattr(req_vfs(req), ino, &self);
    if (!rc)
        rc = req_check(req, ino, ACC_READ, &self.st);
    if (!rc) {
        snap_add(d, ".", &self);
        snap_add(d, "..", &self);    /* the kernel fills in the real parent */
        rc = list_dir(req, ino, d);
    }
    if (!rc)      /* a recursive remover lists a directory before removing it (ops.c) */
        vfs_listed(req_vfs(req), ino, fuse_req_ctx(req)->pid);
    if (!rc && d->oom)
        rc = -ENOMEM;
    if (rc) {
        snap_free(d);
        fuse_reply_err(req, -rc);
        return;
    }
    fi->fh = (uint64_t)(uintptr_t)d;
    dd_fuse_ctx *c = fuse_req_userdata(req);
    snap_track(c, d);
    if (fuse_reply_open(req, fi) != 0)
        snap_release(c, d);
}

static void readdir_common(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi,
                           bool plus)
{
    dir_snap *d = (dir_snap *)(uintptr_t)fi->fh;
    char *buf = malloc(size);
    if (!buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    size_t used = 0;
    for (size_t i = (size_t)off; i < d->n; i++) {
        dir_item *it = &d->items[i];
        const char *name = d->names.data + it->name_off;
        size_t n;
        if (plus) {
            struct fuse_entry_param p = {
                .ino = it->e.ino, .generation = 1, .attr = it->e.st,
                .attr_timeout = it->e.timeout, .entry_timeout = it->e.timeout,
            };
            if (i < 2)   /* "." and "..": no lookup count is taken for them */
                memset(&p, 0, sizeof p), p.attr = it->e.st;
            n = fuse_add_direntry_plus(req, buf + used, size - used, name, &p, (off_t)i + 1);
        } else {
            n = fuse_add_direntry(req, buf + used, size - used, name, &it->e.st,
                                  (off_t)i + 1);
        }
        if (n > size - used)
            break;
        used += n;
    }
    fuse_reply_buf(req, buf, used);
    free(buf);
}

static void dd_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    (void)ino;
    readdir_common(req, size, off, fi, false);
}

static void dd_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
    (void)ino;
    readdir_common(req, size, off, fi, true);
}

static void dd_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    snap_release(fuse_req_userdata(req), (dir_snap *)(uintptr_t)fi->fh);
    fuse_reply_err(req, 0);
}

static void dd_statfs(fuse_req_t req, fuse_ino_t ino)
{
    (void)ino;
    struct statvfs s;
    int rc = vfs_statfs(req_vfs(req), &s);
    if (rc)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_statfs(req, &s);
}

/* Reply to getxattr/listxattr: the length when asked for it (size 0), else the bytes. */
static void reply_xattr(fuse_req_t req, ssize_t n, const char *buf, size_t size)
{
    if (n < 0)
        fuse_reply_err(req, (int)-n);
    else if (size == 0)
        fuse_reply_xattr(req, (size_t)n);
    else
        fuse_reply_buf(req, buf, (size_t)n);
}

static void dd_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    char *buf = size ? malloc(size) : NULL;
    int rc = req_check(req, ino, ACC_READ, NULL);
    reply_xattr(req, rc ? rc : vfs_getxattr(req_vfs(req), ino, name, buf, size), buf, size);
    free(buf);
}

static void dd_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    char *buf = size ? malloc(size) : NULL;
    int rc = req_check(req, ino, ACC_READ, NULL);
    reply_xattr(req, rc ? rc : vfs_listxattr(req_vfs(req), ino, buf, size), buf, size);
    free(buf);
}

static void dd_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                        size_t size, int flags)
{
    (void)ino;
    (void)name;
    (void)value;
    (void)size;
    (void)flags;
    fuse_reply_err(req, ENOTSUP);
}

static void dd_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    (void)ino;
    (void)name;
    fuse_reply_err(req, ENOTSUP);
}

static const struct fuse_lowlevel_ops dd_ops = {
    .init = dd_init,
    .lookup = dd_lookup,
    .getattr = dd_getattr,
    .setattr = dd_setattr,
    .readlink = dd_readlink,
    .mkdir = dd_mkdir,
    .unlink = dd_unlink,
    .rmdir = dd_rmdir,
    .rename = dd_rename,
    .symlink = dd_symlink,
    .open = dd_open,
    .create = dd_create,
    .read = dd_read,
    .write = dd_write,
    .flush = dd_flush,
    .release = dd_release,
    .fsync = dd_fsync,
    .opendir = dd_opendir,
    .readdir = dd_readdir,
    .readdirplus = dd_readdirplus,
    .releasedir = dd_releasedir,
    .statfs = dd_statfs,
    .getxattr = dd_getxattr,
    .listxattr = dd_listxattr,
    .setxattr = dd_setxattr,
    .removexattr = dd_removexattr,
};

const struct fuse_lowlevel_ops *dd_fuse_ops(void)
{
    return &dd_ops;
}
