/*
 * scratch.c - editors' and in-place tools' temporary files: vim's swap file (.notes.swp),
 * its write test (4913) and backup (notes~), sed -i's sedXXXXXX, perl -pi's XXXXXXXX,
 * Python's tmpXXXXXXXX, rsync's .name.XXXXXX.
 *
 * A scratch file lives in the daemon's memory only, private to this mount: it is never
 * stored in the database and never listed by readdir (lookup, stat, open, read, write,
 * truncate, unlink and rename work on it like on any file). `rename(scratch, real file)`
 * is how these tools save: ops.c commits the scratch's bytes to the real file through the
 * same path a write() takes (vfs_open + vfs_write + vfs_flush: one transaction, its
 * refusal is the rename's errno). A scratch file is freed when it has no name left
 * (unlinked or renamed onto a real file) and no open handle; one left behind by a killed
 * tool is recycled when the table is full and it has no open handle, and everything is
 * gone at unmount. Bounded: VFS_MAX_SCRATCH files, SCRATCH_FILE_MAX bytes each,
 * SCRATCH_TOTAL_MAX in all (EFBIG / ENOSPC past them, ENFILE when every slot is open).
 *
 * Which names are scratch: in the directories that hold writable files (an iteration's,
 * its params/ and metrics/, an experiment's, a project's, a model's, a version's), the
 * shapes those tools give their files (scratch_name_is_temporary). Any other name keeps
 * its meaning: a new parameter or metric in params/ and metrics/, EACCES elsewhere, so
 * that `cp data.csv <iteration>/` is refused rather than kept in memory and lost.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vfs_int.h"

#define SCRATCH_FILE_MAX ((size_t)64 << 20)
#define SCRATCH_TOTAL_MAX ((size_t)256 << 20)

static double now_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Caller holds v->mu. */
static scratch *scratch_by_id(vfs *v, int64_t id)
{
    for (int i = 0; i < VFS_MAX_SCRATCH; i++)
        if (id && v->scratches[i].id == id)
            return &v->scratches[i];
    return NULL;
}

/* Caller holds v->mu. */
static scratch *scratch_by_name(vfs *v, uint64_t parent, const char *name)
{
    for (int i = 0; i < VFS_MAX_SCRATCH; i++) {
        scratch *s = &v->scratches[i];
        if (s->id && s->parent == parent && s->name[0] && strcmp(s->name, name) == 0)
            return s;
    }
    return NULL;
}

/* Caller holds v->mu. */
static void scratch_drop(vfs *v, scratch *s)
{
    v->scratch_bytes -= s->data.len;
    dd_buf_free(&s->data);
    memset(s, 0, sizeof *s);
}

/* Caller holds v->mu: the name goes; the bytes too once no handle is open. */
static void scratch_unname(vfs *v, scratch *s)
{
    s->name[0] = 0;
    if (s->refs <= 0)
        scratch_drop(v, s);
}

static bool all_of(const char *s, size_t n, const char *set)
{
    return strlen(s) == n && strspn(s, set) == n;
}

#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

bool scratch_name_is_temporary(const char *name)
{
    size_t n = strlen(name);
    if (name[0] == '.' || (n && name[n - 1] == '~'))  /* swap, rsync, mkstemp(".x."); x~ */
        return true;
    if (n >= 2 && name[0] == '#' && name[n - 1] == '#')               /* emacs' auto-save */
        return true;
    if (n > 4 && !strcmp(name + n - 4, ".tmp"))                        /* params.yaml.tmp */
        return true;
    if (!strncmp(name, "sed", 3) && all_of(name + 3, 6, ALNUM))       /* sed -i */
        return true;
    if (!strncmp(name, "XX", 2) && all_of(name + 2, 6, ALNUM))        /* perl -i */
        return true;
    if (!strncmp(name, "tmp", 3) && all_of(name + 3, 8, "abcdefghijklmnopqrstuvwxyz0123456789_"))
        return true;                                                    /* Python tempfile */
    if (n && n <= 9 && strspn(name, "0123456789") == n) {             /* vim's 4913, 5036.. */
        long k = strtol(name, NULL, 10);
        return k >= 4913 && (k - 4913) % 123 == 0;
    }
    return false;
}

bool scratch_dir_allows(nk parent_kind, const char *name)
{
    switch (parent_kind) {
    case NK_PROJECT: case NK_EXPERIMENT: case NK_ITERATION: case NK_MODEL: case NK_VERSION:
    case NK_I_PARAMS: case NK_I_METRICS:
        return scratch_name_is_temporary(name);
    default:
        return false;
    }
}

static void scratch_stat(vfs *v, const scratch *s, vfs_entry *out)
{
    memset(out, 0, sizeof *out);
    out->ino = ino_make(NK_SCRATCH, s->id);
    out->st.st_ino = out->ino;
    out->st.st_mode = S_IFREG | 0600;   /* never the real files' 0644: vim then edits in
                                           place (backupcopy) instead of renaming the
                                           real file away */
    out->st.st_nlink = s->name[0] ? 1 : 0;
    out->st.st_uid = v->uid;
    out->st.st_gid = v->gid;
    out->st.st_size = (off_t)s->data.len;
    out->st.st_blocks = (out->st.st_size + 511) / 512;
    out->st.st_blksize = 4096;
    out->st.st_mtim.tv_sec = (time_t)s->mtime;
    out->st.st_mtim.tv_nsec = (long)((s->mtime - (double)(time_t)s->mtime) * 1e9);
    out->st.st_atim = out->st.st_ctim = out->st.st_mtim;
    out->timeout = 0;                   /* names come and go within a save */
}

int scratch_attr(vfs *v, int64_t id, vfs_entry *out)
{
    pthread_mutex_lock(&v->mu);
    scratch *s = scratch_by_id(v, id);
    if (s)
        scratch_stat(v, s, out);
    pthread_mutex_unlock(&v->mu);
    return s ? 0 : -ENOENT;
}

int scratch_parent(vfs *v, int64_t id, uint64_t *parent)
{
    pthread_mutex_lock(&v->mu);
    scratch *s = scratch_by_id(v, id);
    *parent = s ? s->parent : 0;
    pthread_mutex_unlock(&v->mu);
    return s ? 0 : -ENOENT;
}

int scratch_lookup(vfs *v, uint64_t parent, const char *name, vfs_entry *out)
{
    pthread_mutex_lock(&v->mu);
    scratch *s = scratch_by_name(v, parent, name);
    if (s)
        scratch_stat(v, s, out);
    pthread_mutex_unlock(&v->mu);
    return s ? 0 : -ENOENT;
}

int scratch_create(vfs *v, uint64_t parent, const char *name, vfs_entry *out)
{
    pthread_mutex_lock(&v->mu);
    scratch *slot = NULL, *idle = NULL;
    for (int i = 0; i < VFS_MAX_SCRATCH && !slot; i++) {
        scratch *s = &v->scratches[i];
        if (!s->id)
            slot = s;
        else if (s->refs <= 0 && (!idle || s->mtime < idle->mtime))
            idle = s;                   /* left behind by a tool that died */
    }
    if (!slot && idle) {
        scratch_drop(v, idle);
        slot = idle;
    }
    if (slot) {
        slot->id = ++v->next_scratch;
        slot->parent = parent;
        snprintf(slot->name, sizeof slot->name, "%s", name);
        slot->mtime = now_real();
        scratch_stat(v, slot, out);
    }
    pthread_mutex_unlock(&v->mu);
    return slot ? 0 : -ENFILE;
}

int scratch_open(vfs *v, int64_t id, bool truncate)
{
    pthread_mutex_lock(&v->mu);
    scratch *s = scratch_by_id(v, id);
    if (s) {
        s->refs++;
        if (truncate) {
            v->scratch_bytes -= s->data.len;
            dd_buf_reset(&s->data);
        }
    }
    pthread_mutex_unlock(&v->mu);
    return s ? 0 : -ENOENT;
}

void scratch_release(vfs *v, int64_t id)
{
    pthread_mutex_lock(&v->mu);
    scratch *s = scratch_by_id(v, id);
    if (s && --s->refs <= 0 && !s->name[0])
        scratch_drop(v, s);
    pthread_mutex_unlock(&v->mu);
}

int scratch_read(vfs *v, int64_t id, off_t off, size_t size, dd_buf *out)
{
    int rc = 0;
    pthread_mutex_lock(&v->mu);
    scratch *s = scratch_by_id(v, id);
    if (!s)
        rc = -ENOENT;
    else if (off >= 0 && (size_t)off < s->data.len) {
        size_t n = s->data.len - (size_t)off;
        rc = dd_buf_add(out, s->data.data + off, n < size ? n : size) ? -ENOMEM : 0;
    }
    pthread_mutex_unlock(&v->mu);
    return rc;
}

/* Caller holds v->mu: make the file `len` bytes long (zeros past the old end). */
static int scratch_resize(vfs *v, scratch *s, size_t len)
{
    if (len > SCRATCH_FILE_MAX)
        return -EFBIG;
    if (len > s->data.len) {
        size_t grow = len - s->data.len;
        if (v->scratch_bytes + grow > SCRATCH_TOTAL_MAX)
            return -ENOSPC;
        char *p = dd_buf_reserve(&s->data, grow);
        if (!p)
            return -ENOMEM;
        memset(p, 0, grow);
        s->data.len = len;
        v->scratch_bytes += grow;
    } else {
        v->scratch_bytes -= s->data.len - len;
        s->data.len = len;
    }
    if (s->data.data && s->data.len < s->data.cap)
        s->data.data[s->data.len] = 0;
    s->mtime = now_real();
    return 0;
}

ssize_t scratch_write(vfs *v, int64_t id, off_t off, const char *data, size_t size)
{
    if (off < 0)
        return -EINVAL;
    pthread_mutex_lock(&v->mu);
    scratch *s = scratch_by_id(v, id);
    int rc = s ? 0 : -ENOENT;
    size_t end = (size_t)off + size;
    if (!rc && end > s->data.len)
        rc = scratch_resize(v, s, end);
    if (!rc) {
        memcpy(s->data.data + off, data, size);
        s->mtime = now_real();
    }
    pthread_mutex_unlock(&v->mu);
    return rc ? rc : (ssize_t)size;
}

int scratch_truncate(vfs *v, int64_t id, off_t size)
{
    if (size < 0)
        return -EINVAL;
    pthread_mutex_lock(&v->mu);
    scratch *s = scratch_by_id(v, id);
    int rc = s ? scratch_resize(v, s, (size_t)size) : -ENOENT;
    pthread_mutex_unlock(&v->mu);
    return rc;
}

int scratch_unlink(vfs *v, uint64_t parent, const char *name)
{
    pthread_mutex_lock(&v->mu);
    scratch *s = scratch_by_name(v, parent, name);
    if (s)
        scratch_unname(v, s);
    pthread_mutex_unlock(&v->mu);
    return s ? 0 : -ENOENT;
}

int scratch_move(vfs *v, int64_t id, uint64_t newparent, const char *newname)
{
    pthread_mutex_lock(&v->mu);
    scratch *s = scratch_by_id(v, id), *old = scratch_by_name(v, newparent, newname);
    if (old && old != s)
        scratch_unname(v, old);         /* rename replaces the target */
    if (s) {
        s->parent = newparent;
        snprintf(s->name, sizeof s->name, "%s", newname);
    }
    pthread_mutex_unlock(&v->mu);
    return s ? 0 : -ENOENT;
}

int scratch_copy(vfs *v, int64_t id, dd_buf *out)
{
    pthread_mutex_lock(&v->mu);
    scratch *s = scratch_by_id(v, id);
    int rc = !s ? -ENOENT : s->data.len && dd_buf_add(out, s->data.data, s->data.len) ? -ENOMEM : 0;
    pthread_mutex_unlock(&v->mu);
    return rc;
}

void scratch_forget(vfs *v, int64_t id)
{
    pthread_mutex_lock(&v->mu);
    scratch *s = scratch_by_id(v, id);
    if (s)
        scratch_unname(v, s);
    pthread_mutex_unlock(&v->mu);
}

void scratch_free_all(vfs *v)
{
    for (int i = 0; i < VFS_MAX_SCRATCH; i++)
        dd_buf_free(&v->scratches[i].data);
}
