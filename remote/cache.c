/*
 * cache.c - see cache.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"

struct dd_rcache {
    char *dir;
    int dirfd;          /* every name is opened relative to it */
    int64_t max;
};

/* mkdir -p with 0700 for what is created. */
static int make_dirs(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return errno = ENAMETOOLONG, -1;
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0700) != 0 && errno != EEXIST)
                return -1;
            *p = c;
            if (!c)
                return 0;
        }
    }
}

dd_rcache *dd_rcache_new(const char *dir, int64_t max, char *msg, size_t msglen)
{
    dd_rcache *c = calloc(1, sizeof *c);
    if (!c || !(c->dir = strdup(dir))) {
        free(c);
        snprintf(msg, msglen, "out of memory");
        return NULL;
    }
    c->max = max;
    c->dirfd = make_dirs(dir) == 0 ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (c->dirfd < 0) {
        snprintf(msg, msglen, "artifact cache %s: %s", dir, strerror(errno));
        dd_rcache_free(c);
        return NULL;
    }
    return c;
}

void dd_rcache_free(dd_rcache *c)
{
    if (!c)
        return;
    if (c->dirfd >= 0)
        close(c->dirfd);
    free(c->dir);
    free(c);
}

/* A complete copy's name: "<digits>-<digits>". */
static bool is_copy(const char *name)
{
    const char *p = name;
    int parts = 0;
    while (*p) {
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
        parts++;
        if (*p == '-' && parts == 1)
            p++;
        else if (*p)
            return false;
    }
    return parts == 2;
}

/* A temporary copy whose fetching process is gone: "<name>.tmp.<pid>". */
static bool is_orphan_tmp(const char *name)
{
    const char *t = strstr(name, ".tmp.");
    if (!t)
        return false;
    long pid = strtol(t + 5, NULL, 10);
    return pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

typedef struct copy {
    char name[64];
    int64_t size;
    struct timespec atime;
} copy;

static int older_first(const void *x, const void *y)
{
    const copy *a = x, *b = y;
    if (a->atime.tv_sec != b->atime.tv_sec)
        return a->atime.tv_sec < b->atime.tv_sec ? -1 : 1;
    return a->atime.tv_nsec < b->atime.tv_nsec ? -1 : a->atime.tv_nsec > b->atime.tv_nsec;
}

/* Remove the least recently used copies until `need` more bytes fit in max, and the
 * temporary copies of dead fetchers. */
static void evict_for(dd_rcache *c, int64_t need)
{
    int fd = dup(c->dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    rewinddir(d);
    copy *v = NULL;
    size_t n = 0, cap = 0;
    int64_t total = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        struct stat sb;
        if (is_orphan_tmp(e->d_name)) {
            unlinkat(c->dirfd, e->d_name, 0);
            continue;
        }
        if (!is_copy(e->d_name) || strlen(e->d_name) >= sizeof v->name ||
            fstatat(c->dirfd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode))
            continue;
        if (n == cap) {
            copy *m = realloc(v, (cap = cap ? 2 * cap : 64) * sizeof *v);
            if (!m)
                break;
            v = m;
        }
        memcpy(v[n].name, e->d_name, strlen(e->d_name) + 1);   /* length checked above */
        v[n].size = sb.st_size;
        v[n].atime = sb.st_atim;
        total += sb.st_size;
        n++;
    }
    closedir(d);
    if (n)
        qsort(v, n, sizeof *v, older_first);
    for (size_t i = 0; i < n && total + need > c->max; i++)
        if (unlinkat(c->dirfd, v[i].name, 0) == 0 || errno == ENOENT)
            total -= v[i].size;
    free(v);
}

/* The complete copy `name`, its atime set to now (the LRU order); -1 when absent. */
static int open_copy(dd_rcache *c, const char *name, int64_t size)
{
    int fd = openat(c->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat sb;
    if (fd >= 0 && (fstat(fd, &sb) != 0 || sb.st_size != size)) {
        close(fd);          /* not what the row says: fetched again (replaced under it) */
        unlinkat(c->dirfd, name, 0);
        return -1;
    }
    if (fd >= 0) {
        struct timespec ts[2] = {{.tv_nsec = UTIME_NOW}, {.tv_nsec = UTIME_OMIT}};
        futimens(fd, ts);
    }
    return fd;
}

struct dd_rcache_fill {
    dd_rcache *c;
    int lk;             /* the copy's lock, held until dd_rcache_fill_end */
    int fd;             /* the temporary copy, read-write */
    int64_t size;
    char name[48];
    char tmp[96];
};

/* The lock of copy `name`, held; -1 with msg. */
static int lock_copy(dd_rcache *c, const char *name, char *msg, size_t msglen)
{
    char lock[64];
    snprintf(lock, sizeof lock, "%s.lock", name);
    int lk = openat(c->dirfd, lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (lk < 0 || flock(lk, LOCK_EX) != 0) {
        snprintf(msg, msglen, "artifact cache %s: %s", c->dir, strerror(errno));
        if (lk >= 0)
            close(lk);
        return -1;
    }
    return lk;
}

int dd_rcache_begin(dd_rcache *c, int64_t id, int64_t generation, int64_t size,
                    dd_rcache_fill **fill, char *msg, size_t msglen)
{
    *fill = NULL;
    if (size > c->max) {
        snprintf(msg, msglen, "larger than remote.cache_max");
        return errno = EFBIG, -1;
    }
    char name[48];
    snprintf(name, sizeof name, "%" PRId64 "-%" PRId64, id, generation);
    int fd = open_copy(c, name, size);
    if (fd >= 0)
        return fd;
    int lk = lock_copy(c, name, msg, msglen);
    if (lk < 0)
        return errno = EIO, -1;
    /* the lock file stays: removing it would let a third opener lock a new inode while
     * a second still waits on the old one, and fetch twice */
    fd = open_copy(c, name, size);     /* fetched by whoever held the lock before us */
    if (fd >= 0) {
        close(lk);
        return fd;
    }
    evict_for(c, size);
    dd_rcache_fill *f = calloc(1, sizeof *f);
    if (!f) {
        close(lk);
        snprintf(msg, msglen, "out of memory");
        return errno = EIO, -1;
    }
    f->c = c, f->lk = lk, f->size = size;
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(f->tmp, sizeof f->tmp, "%s.tmp.%ld", name, (long)getpid());
    f->fd = openat(c->dirfd, f->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (f->fd < 0) {
        snprintf(msg, msglen, "artifact cache %s: %s", c->dir, strerror(errno));
        close(lk);
        free(f);
        return errno = EIO, -1;
    }
    *fill = f;
    return f->fd;
}

int dd_rcache_fill_end(dd_rcache_fill *f, int ok, char *msg, size_t msglen)
{
    dd_rcache *c = f->c;
    struct stat sb;
    int rc = ok ? 0 : -1;
    if (rc == 0 && (fstat(f->fd, &sb) != 0 || sb.st_size != f->size)) {
        snprintf(msg, msglen, "artifact cache: the server sent %lld bytes of %lld",
                 (long long)sb.st_size, (long long)f->size);
        rc = -1;
    }
    if (rc == 0 && renameat(c->dirfd, f->tmp, c->dirfd, f->name) != 0) {
        snprintf(msg, msglen, "artifact cache %s: %s", c->dir, strerror(errno));
        rc = -1;
    }
    if (rc == 0) {      /* just used: the most recent in the LRU order */
        struct timespec ts[2] = {{.tv_nsec = UTIME_NOW}, {.tv_nsec = UTIME_OMIT}};
        futimens(f->fd, ts);
    } else {
        unlinkat(c->dirfd, f->tmp, 0);
    }
    close(f->lk);
    free(f);
    return rc;
}

int dd_rcache_open(dd_rcache *c, int64_t id, int64_t generation, int64_t size,
                   dd_rcache_fetch fetch, void *ctx, int *fetched, char *msg, size_t msglen)
{
    if (fetched)
        *fetched = 0;
    dd_rcache_fill *f;
    int fd = dd_rcache_begin(c, id, generation, size, &f, msg, msglen);
    if (fd < 0 || !f)
        return fd;
    int ok = fetch(ctx, fd, msg, msglen) == 0;
    if (dd_rcache_fill_end(f, ok, msg, msglen) != 0) {
        close(fd);
        return errno = EIO, -1;
    }
    if (fetched)
        *fetched = 1;
    /* read-only from here (the copy is complete) */
    return fd;
}
