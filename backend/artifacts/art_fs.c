/*
 * art_fs.c - the filesystem artifact backend: bytes in files <root>/<aa>/<uuid> (a random
 * uuid v4; <aa> its first two hex digits; names given by users never become paths).
 *
 * An upload writes <root>/.staging/<node>-<uuid> (<node>: its process's node row, node.h)
 * while holding an exclusive flock on it, fsyncs it and hard-links it at its final name
 * just before the committing transaction; after the commit the staging name goes. A crash
 * at any point leaves a staging file that nobody locks: gc removes it, and its final name
 * too unless a committed row uses it. What tells a live upload from a dead one: on a root
 * shared by several machines, the node first (gc never touches a file of another live
 * node, so a root whose flock is not cluster-wide is safe while leases hold), then the
 * flock (a dead node's file goes only when it can also be locked). Staged names without a
 * node (`<uuid>`, before nodes) keep the flock-only rule (docs/ENGINES.md §4.2). Where hard links are not
 * supported the staged file is renamed instead (a crash between that rename and the
 * commit then leaves an unreferenced file that gc does not find).
 *
 * Readers keep an fd and use pread, so bytes replaced or deleted meanwhile stay readable
 * through it (POSIX unlink semantics). The uri is "file://" followed by the absolute path,
 * as in the original.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glob.h>

#include "art_int.h"
#include "node.h"

#define STAGING ".staging"
#define URI_PREFIX "file://"

/* ---------------------------------------------------------------- names */

static dd_code new_uuid(char out[37], dd_err *err)
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1)
        return dd_fail(err, DD_IO, "no random bytes for a uuid");
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);   /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);   /* variant 10 */
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
    return DD_OK;
}

/* A name this backend could have made: 36 chars, lower-case hex with dashes at 8-13-18-23. */
static bool is_uuid(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

static dd_code errno_fail(dd_err *err, const char *what, const char *path)
{
    return dd_fail(err, DD_IO, "%s %s: %s", what, path, strerror(errno));
}

int art_make_dirs(const char *path, mode_t mode)
{
    char *p = strdup(path);
    if (!p) {
        errno = ENOMEM;
        return -1;
    }
    int rc = 0;
    for (char *q = p + 1; rc == 0; q++) {
        if (*q == '/' || *q == 0) {
            char saved = *q;
            *q = 0;
            if (mkdir(p, mode) != 0 && errno != EEXIST)
                rc = -1;
            *q = saved;
            if (!saved)
                break;
        }
    }
    free(p);
    return rc;
}

static int fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

dd_code art_fs_prepare_root(const char *root, char **abs_out, dd_err *err)
{
    *abs_out = NULL;
    if (!root || !*root)
        return dd_fail(err, DD_INVALID, "no artifact root directory given");
    if (art_make_dirs(root, 0755) != 0)
        return dd_fail(err, DD_INVALID, "cannot create the artifact root %s: %s", root,
                       strerror(errno));
    char *abs = realpath(root, NULL);
    struct stat sb;
    if (!abs || stat(abs, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        dd_code code = dd_fail(err, DD_INVALID, "the artifact root %s is not a directory: %s",
                               root, abs ? strerror(ENOTDIR) : strerror(errno));
        free(abs);
        return code;
    }
    char *staging = NULL;
    if (access(abs, W_OK | X_OK) != 0 || asprintf(&staging, "%s/" STAGING, abs) < 0 ||
        (mkdir(staging, 0755) != 0 && errno != EEXIST) || access(staging, W_OK | X_OK) != 0) {
        dd_code code = dd_fail(err, DD_INVALID, "the artifact root %s is not writable: %s",
                               abs, strerror(errno));
        free(staging);
        free(abs);
        return code;
    }
    free(staging);
    *abs_out = abs;
    return DD_OK;
}

/* The uuid of a staged name, `<node>-<uuid>` (*node set) or `<uuid>` (*node 0); NULL
 * for a name this backend did not make. */
static const char *staged_uuid(const char *name, int64_t *node)
{
    *node = 0;
    if (is_uuid(name))
        return name;
    size_t digits = strspn(name, "0123456789");
    if (digits == 0 || digits > 18 || name[digits] != '-' || !is_uuid(name + digits + 1))
        return NULL;
    *node = strtoll(name, NULL, 10);
    return *node > 0 ? name + digits + 1 : NULL;
}

/* ---------------------------------------------------------------- writing */

static void fs_up_clear(art_fs_up *u)
{
    if (u->fd >= 0)
        close(u->fd);      /* also drops the flock */
    free(u->staging);
    free(u->final);
    memset(u, 0, sizeof *u);
    u->fd = -1;
}

dd_code art_fs_begin(dd_store *st, const char *root, art_fs_up *u, dd_err *err)
{
    memset(u, 0, sizeof *u);
    u->fd = -1;
    int64_t node = 0;
    dd_code named = node_self(st, &node, err);
    if (named != DD_OK)
        return named;
    for (int attempt = 0; attempt < 8; attempt++) {
        dd_code code = new_uuid(u->uuid, err);
        if (code != DD_OK)
            return code;
        free(u->staging);
        u->staging = NULL;
        if (asprintf(&u->staging, "%s/" STAGING "/%lld-%s", root, (long long)node,
                     u->uuid) < 0) {
            u->staging = NULL;
            return dd_fail(err, DD_IO, "out of memory");
        }
        int fd = open(u->staging, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 && errno == ENOENT) {            /* the staging directory went away */
            char *dir = NULL;
            if (asprintf(&dir, "%s/" STAGING, root) >= 0) {
                mkdir(dir, 0755);
                free(dir);
            }
            continue;
        }
        if (fd < 0 && errno == EEXIST)
            continue;
        if (fd < 0) {
            code = errno_fail(err, "cannot create", u->staging);
            fs_up_clear(u);
            return code;
        }
        /* Hold the lock from the start. gc removes only files it could lock, and a file it
         * removed in the instant before we locked it has no links left: start again. */
        struct stat sb;
        if (flock(fd, LOCK_EX | LOCK_NB) != 0 || fstat(fd, &sb) != 0 || sb.st_nlink == 0) {
            close(fd);
            continue;
        }
        u->fd = fd;
        if (asprintf(&u->final, "%s/%.2s/%s", root, u->uuid, u->uuid) < 0) {
            u->final = NULL;
            unlink(u->staging);
            fs_up_clear(u);
            return dd_fail(err, DD_IO, "out of memory");
        }
        return DD_OK;
    }
    dd_code code = dd_fail(err, DD_IO, "cannot create a staging file under %s/" STAGING, root);
    fs_up_clear(u);
    return code;
}

/* Writeback is started every this many bytes, so that the disk writes while the copy
 * goes on and the fsync before the commit finds little left to do (BENCHMARKS.md,
 * "Where large artifacts go"). */
#define FLUSH_EVERY ((int64_t)8 << 20)

dd_code art_fs_write(art_fs_up *u, const void *data, size_t len, dd_err *err)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(u->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return dd_fail(err, n < 0 ? dd_errno_code(errno) : DD_IO,
                           "writing artifact bytes: %s", n < 0 ? strerror(errno) : "no progress");
        p += n;
        len -= (size_t)n;
        u->written += n;
    }
    /* Start (not wait for) writeback of what is written: a hint, so a failure is left
     * for the fsync at publish to report. */
    if (u->written - u->flushing >= FLUSH_EVERY) {
        (void)sync_file_range(u->fd, u->flushing, u->written - u->flushing,
                              SYNC_FILE_RANGE_WRITE);
        u->flushing = u->written;
    }
    return DD_OK;
}

dd_code art_fs_publish(const char *root, art_fs_up *u, int64_t size, dd_err *err)
{
    struct stat sb;
    if (fstat(u->fd, &sb) != 0)
        return errno_fail(err, "cannot stat", u->staging);
    if (sb.st_size != size)
        return dd_fail(err, DD_IO, "staged file %s holds %lld bytes, not %lld", u->staging,
                       (long long)sb.st_size, (long long)size);
    if (fsync(u->fd) != 0)
        return errno_fail(err, "cannot sync", u->staging);
    char shard[PATH_MAX];
    snprintf(shard, sizeof shard, "%s/%.2s", root, u->uuid);
    if (mkdir(shard, 0755) == 0) {
        if (fsync_dir(root) != 0)
            return errno_fail(err, "cannot sync", root);
    } else if (errno != EEXIST) {
        return errno_fail(err, "cannot create", shard);
    }
    if (link(u->staging, u->final) != 0) {
        if (errno != EPERM && errno != ENOTSUP && errno != EOPNOTSUPP && errno != EMLINK &&
            errno != ENOSYS)
            return errno_fail(err, "cannot link the artifact at", u->final);
        if (rename(u->staging, u->final) != 0)
            return errno_fail(err, "cannot move the artifact to", u->final);
        u->staging_gone = true;
    }
    u->published = true;
    if (fsync_dir(shard) != 0)
        return errno_fail(err, "cannot sync", shard);
    return DD_OK;
}

void art_fs_done(art_fs_up *u)
{
    if (!u->staging_gone && u->staging)
        unlink(u->staging);
    fs_up_clear(u);
}

void art_fs_abandon(art_fs_up *u)
{
    if (u->published && u->final)
        unlink(u->final);
    art_fs_done(u);
}

/* ---------------------------------------------------------------- reading */

dd_code art_fs_open(const char *uri, int64_t size, int *fd_out, dd_err *err)
{
    *fd_out = -1;
    if (strncmp(uri, URI_PREFIX, strlen(URI_PREFIX)) != 0)
        return dd_fail(err, DD_IO, "\"%s\" is not a file:// uri", uri);
    const char *path = uri + strlen(URI_PREFIX);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? dd_fail(err, DD_NOT_FOUND, "artifact file %s is missing", path)
                               : errno_fail(err, "cannot open", path);
    struct stat sb;
    dd_code code = DD_OK;
    if (fstat(fd, &sb) != 0)
        code = errno_fail(err, "cannot stat", path);
    else if (!S_ISREG(sb.st_mode))
        code = dd_fail(err, DD_IO, "artifact %s is not a regular file", path);
    else if (sb.st_size != size)
        code = dd_fail(err, DD_IO, "artifact file %s holds %lld bytes, its resource says %lld",
                       path, (long long)sb.st_size, (long long)size);
    if (code != DD_OK)
        close(fd);
    else
        *fd_out = fd;
    return code;
}

dd_code art_fs_pread(int fd, int64_t size, int64_t off, void *buf, size_t len, size_t *got,
                     dd_err *err)
{
    *got = 0;
    if (off < 0)
        return dd_fail(err, DD_INVALID, "negative offset");
    if (off >= size)
        return DD_OK;
    size_t n = (uint64_t)(size - off) < len ? (size_t)(size - off) : len;
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(fd, (char *)buf + done, n - done, (off_t)(off + (int64_t)done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return dd_fail(err, DD_IO, "reading an artifact file: %s", strerror(errno));
        if (r == 0)
            return dd_fail(err, DD_IO, "the artifact file is shorter than its %lld bytes",
                           (long long)size);
        done += (size_t)r;
    }
    *got = n;
    return DD_OK;
}

/* ---------------------------------------------------------------- removal and gc */

/* Whether `uri` names a file this backend made: file://<dir>/<aa>/<uuid> with aa the
 * uuid's first two digits (never a user's file). Sets the path and its last '/'. */
static bool own_uri(const char *uri, const char **path, const char **base)
{
    if (strncmp(uri, URI_PREFIX, strlen(URI_PREFIX)) != 0)
        return false;
    *path = uri + strlen(URI_PREFIX);
    *base = strrchr(*path, '/');
    const char *b = *base;
    return b && b - *path >= 3 && is_uuid(b + 1) && b[-3] == '/' && b[-2] == b[1] &&
           b[-1] == b[2];
}

dd_code art_fs_remove_uri(const char *uri, bool *removed, dd_err *err)
{
    *removed = false;
    const char *path, *base;
    if (!own_uri(uri, &path, &base))
        return DD_OK;
    if (unlink(path) != 0 && errno != ENOENT)
        return errno_fail(err, "cannot remove", path);
    *removed = true;
    return DD_OK;
}

/* Does a committed filesystem row use the file named `uuid`? */
static dd_code uuid_in_use(dd_store *st, const char *uuid, bool *used, dd_err *err)
{
    char tail[NAME_MAX + 2];
    snprintf(tail, sizeof tail, "/%s", uuid);
    dd_conn *c;
    int64_t n = 0;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_int(c, &n, err, "resource",
                      "SELECT COUNT(*) FROM resource WHERE backend = 'filesystem'"
                      " AND substr(uri, length(uri) - 36) = ?", "t", tail);
    *used = n > 0;
    return code;
}

/* Is the node of a staged file another live one? Then its file is not ours to judge. */
static dd_code other_node_alive(dd_store *st, int64_t node, bool *alive, dd_err *err)
{
    *alive = false;
    if (!node)
        return DD_OK;
    dd_conn *c;
    node_state state = NODE_DEAD;
    dd_code code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = node_alive(c, node, &state, err);
    *alive = state == NODE_ALIVE;
    return code;
}

/* Call fn(ctx, dirfd, name, uuid) for every staged file under <root>/.staging whose
 * upload is gone: not of another live node, no live upload holds its lock (taken here,
 * exclusively, for the call) and it is still linked. A failure does not stop the walk:
 * the first one is returned. */
typedef dd_code (*dead_staged_fn)(void *ctx, int dirfd, const char *dir, const char *name,
                                  const char *uuid, dd_err *err);

static dd_code each_dead_staged(dd_store *st, const char *root, dead_staged_fn fn, void *ctx,
                                dd_err *err)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/" STAGING, root);
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? DD_OK : errno_fail(err, "cannot list", dir);
    dd_code first = DD_OK;
    dd_err one = {0};
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int64_t node = 0;
        const char *uuid = staged_uuid(e->d_name, &node);
        bool alive = false;
        dd_code code = uuid ? other_node_alive(st, node, &alive, &one) : DD_OK;
        if (code != DD_OK && first == DD_OK) {
            first = code;
            if (err)
                *err = one;
        }
        if (!uuid || code != DD_OK || alive)
            continue;
        int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
            continue;
        struct stat sb;
        /* locked: a live upload; no links: someone else removed it already */
        if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &sb) == 0 && sb.st_nlink > 0 &&
            S_ISREG(sb.st_mode)) {
            code = fn(ctx, dirfd(d), dir, e->d_name, uuid, &one);
            if (code != DD_OK && first == DD_OK) {
                first = code;
                if (err)
                    *err = one;
            }
        }
        close(fd);
    }
    closedir(d);
    return first;
}

typedef struct gc_staging {
    dd_store *st;
    const char *root;
    int64_t *removed;
} gc_staging;

/* Remove a dead staged file; if it got as far as its final name, keep that only if a row
 * commits it. */
static dd_code remove_dead_staged(void *ctx, int dfd, const char *dir, const char *name,
                                  const char *uuid, dd_err *err)
{
    gc_staging *g = ctx;
    bool used = false;
    dd_code code = uuid_in_use(g->st, uuid, &used, err);
    if (code == DD_OK && !used) {
        char final[PATH_MAX];
        snprintf(final, sizeof final, "%s/%.2s/%s", g->root, uuid, uuid);
        if (unlink(final) != 0 && errno != ENOENT)
            code = errno_fail(err, "cannot remove", final);
    }
    if (code == DD_OK && unlinkat(dfd, name, 0) != 0 && errno != ENOENT)
        code = dd_fail(err, DD_IO, "cannot remove %s/%s: %s", dir, name, strerror(errno));
    if (code == DD_OK)
        (*g->removed)++;
    return code;
}

dd_code art_fs_gc_staging(dd_store *st, const char *root, int64_t *removed, dd_err *err)
{
    gc_staging g = {st, root, removed};
    return each_dead_staged(st, root, remove_dead_staged, &g, err);
}

/* ---------------------------------------------------------------- fsck */

dd_code art_fs_check(const char *uri, int64_t size, char *why, size_t why_len, dd_err *err)
{
    (void)err;
    why[0] = 0;
    if (strncmp(uri, URI_PREFIX, strlen(URI_PREFIX)) != 0) {
        snprintf(why, why_len, "\"%s\" is not a file:// uri", uri);
        return DD_OK;
    }
    const char *path = uri + strlen(URI_PREFIX);
    struct stat sb;
    if (stat(path, &sb) != 0)
        snprintf(why, why_len, "%s: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        snprintf(why, why_len, "%s is not a regular file", path);
    else if (sb.st_size != size)
        snprintf(why, why_len, "%s holds %lld bytes, the row says %lld", path,
                 (long long)sb.st_size, (long long)size);
    return DD_OK;
}

bool art_fs_root_of(const char *uri, char *root, size_t root_len)
{
    const char *path, *base;
    if (!own_uri(uri, &path, &base))
        return false;
    int n = snprintf(root, root_len, "%.*s", (int)(base - 3 - path), path);
    return n > 0 && (size_t)n < root_len;
}

/* Is the file <uuid> still wanted: staged by an upload (live or not: a stale staging file
 * is gc's, and takes its final name along), or named by a resource or trash row? The
 * staging name is looked at first: an upload removes it only after its row committed. */
static dd_code fs_file_wanted(dd_store *st, const char *root, const char *uuid, bool *wanted,
                              dd_err *err)
{
    char staged[PATH_MAX];
    snprintf(staged, sizeof staged, "%s/" STAGING "/%s", root, uuid);
    *wanted = access(staged, F_OK) == 0;
    glob_t g = {0};
    snprintf(staged, sizeof staged, "%s/" STAGING "/*-%s", root, uuid);
    if (!*wanted && glob(staged, GLOB_NOSORT | GLOB_NOESCAPE, NULL, &g) == 0)
        *wanted = g.gl_pathc > 0;
    globfree(&g);
    if (*wanted)
        return DD_OK;
    dd_code code = uuid_in_use(st, uuid, wanted, err);
    if (code != DD_OK || *wanted)
        return code;
    char tail[NAME_MAX + 2];
    snprintf(tail, sizeof tail, "/%s", uuid);
    dd_conn *c;
    int64_t n = 0;
    code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_int(c, &n, err, "artifact_trash",
                      "SELECT COUNT(*) FROM artifact_trash WHERE backend = 'filesystem'"
                      " AND substr(uri, length(uri) - 36) = ?", "t", tail);
    *wanted = n > 0;
    return code;
}

typedef struct report_staged {
    art_orphan_fn fn;
    void *ctx;
} report_staged;

static dd_code report_dead_staged(void *ctx, int dfd, const char *dir, const char *name,
                                  const char *uuid, dd_err *err)
{
    (void)dfd, (void)uuid, (void)err;
    report_staged *r = ctx;
    char what[PATH_MAX + NAME_MAX + 64];
    snprintf(what, sizeof what, "%s/%s: staged file of an upload that is gone", dir, name);
    r->fn(r->ctx, what);
    return DD_OK;
}

/* Stale staged files: those no live upload holds locked. */
static dd_code fs_stale_staging(dd_store *st, const char *root, art_orphan_fn fn, void *ctx,
                                dd_err *err)
{
    report_staged r = {fn, ctx};
    return each_dead_staged(st, root, report_dead_staged, &r, err);
}

dd_code art_fs_orphans(dd_store *st, const char *root, bool remove, art_orphan_fn fn,
                       void *ctx, int64_t *removed, dd_err *err)
{
    dd_code code = fs_stale_staging(st, root, fn, ctx, err);
    DIR *d = code == DD_OK ? opendir(root) : NULL;
    if (code == DD_OK && !d)
        return errno == ENOENT ? DD_OK : errno_fail(err, "cannot list", root);
    struct dirent *e;
    while (code == DD_OK && (e = readdir(d)) != NULL) {
        const char *hx = "0123456789abcdef";
        if (strlen(e->d_name) != 2 || !strchr(hx, e->d_name[0]) || !strchr(hx, e->d_name[1]))
            continue;
        char sub[PATH_MAX];
        snprintf(sub, sizeof sub, "%s/%s", root, e->d_name);
        DIR *sd = opendir(sub);
        if (!sd)
            continue;
        struct dirent *f;
        while (code == DD_OK && (f = readdir(sd)) != NULL) {
            if (!is_uuid(f->d_name) || strncmp(f->d_name, e->d_name, 2) != 0)
                continue;
            bool wanted = true;
            code = fs_file_wanted(st, root, f->d_name, &wanted, err);
            if (code != DD_OK || wanted)
                continue;
            char what[PATH_MAX * 2 + 64];
            snprintf(what, sizeof what, "%s/%s: no resource or trash row names this file",
                     sub, f->d_name);
            fn(ctx, what);
            if (remove && unlinkat(dirfd(sd), f->d_name, 0) == 0)
                (*removed)++;
            else if (remove && errno != ENOENT)
                code = dd_fail(err, DD_IO, "cannot remove %s/%s: %s", sub, f->d_name,
                               strerror(errno));
        }
        closedir(sd);
    }
    if (d)
        closedir(d);
    return code;
}
