/*
 * art_s3_spool.c - the spool of an s3 upload: the bytes of an artifact below the multipart
 * threshold, kept in an unnamed temporary file until the one PUT that sends them, and
 * their sha256, computed by a hasher thread that reads the file behind the writer.
 *
 * Why a file: a single PUT needs its Content-Length before its first byte and `cp` does
 * not announce its size, so every byte is held until close; in a file (page cache, disk
 * when memory is short) the daemon's memory stays bounded whatever the size.
 * Why a thread (art_hasher.c): the PUT's x-amz-content-sha256 header needs the hash of the
 * whole body before the body. Hashing in the FUSE write path made every write wait for it
 * (~0.6 s per GiB here); the hasher runs on another core meanwhile, so at close only the
 * last bytes are left to hash (BENCHMARKS.md, "s3 upload").
 * Why a pool: the file of a finished upload is kept, unnamed, for the next one (at most
 * one idle file per service, cut to the size of its last upload), which writes over the
 * pages already in the page cache. Filling fresh pages costs several times more than
 * rewriting cached ones on a VM that hands freed memory back to its host (this one:
 * BENCHMARKS.md, "The machine and the run"), and a spool is a GiB for a 1 GiB artifact.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "art_s3_int.h"

struct s3_spool {
    int fd;
    s3_spool_pool *pool;        /* where the file goes back at close */
    bool failed;                /* a write failed (ENOSPC...): the file is not kept */
    char *dir;                  /* for messages */
    art_hasher hasher;
    int64_t written;
};

/* An unnamed file in `dir` (O_TMPFILE; where the filesystem has none, a mkstemp name
 * removed at once), so no failure or crash of the daemon leaves it behind. */
static int open_unnamed(const char *dir)
{
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR))
        return fd;
    char *path = NULL;
    if (asprintf(&path, "%s/.deardiary-spool-XXXXXX", dir) < 0) {
        errno = ENOMEM;
        return -1;
    }
    fd = mkostemp(path, O_CLOEXEC);
    int e = errno;
    if (fd >= 0)
        unlink(path);
    free(path);
    errno = e;
    return fd;
}

/* Take the pool's idle file, if any (-1). */
static int pool_take(s3_spool_pool *pool)
{
    pthread_mutex_lock(&pool->mu);
    int fd = pool->idle_fd;
    pool->idle_fd = -1;
    pthread_mutex_unlock(&pool->mu);
    return fd;
}

/* Keep `fd` as the pool's idle file, cut to `len` bytes; closed when the pool holds one. */
static void pool_give(s3_spool_pool *pool, int fd, int64_t len)
{
    if (ftruncate(fd, (off_t)len) == 0) {
        pthread_mutex_lock(&pool->mu);
        int kept = pool->idle_fd < 0;
        if (kept)
            pool->idle_fd = fd;
        pthread_mutex_unlock(&pool->mu);
        if (kept)
            return;
    }
    close(fd);
}

void s3_spool_pool_init(s3_spool_pool *pool)
{
    pthread_mutex_init(&pool->mu, NULL);
    pool->idle_fd = -1;
}

void s3_spool_pool_destroy(s3_spool_pool *pool)
{
    if (pool->idle_fd >= 0)
        close(pool->idle_fd);
    pool->idle_fd = -1;
    pthread_mutex_destroy(&pool->mu);
}

dd_code s3_spool_open(s3_spool_pool *pool, const char *dir, EVP_MD_CTX *md, s3_spool **out,
                      dd_err *err)
{
    *out = NULL;
    s3_spool *sp = calloc(1, sizeof *sp);
    if (!sp || !(sp->dir = strdup(dir))) {
        free(sp);
        return dd_fail(err, DD_IO, "out of memory");
    }
    sp->pool = pool;
    dd_code code = DD_OK;
    if ((sp->fd = pool_take(pool)) < 0 && (sp->fd = open_unnamed(dir)) < 0)
        code = dd_fail(err, DD_IO, "cannot create the s3 upload's spool file in %s"
                       " (artifacts.s3.spool_dir): %s", dir, strerror(errno));
    else if (!art_hasher_start(&sp->hasher, sp->fd, md, 0))
        code = dd_fail(err, DD_IO, "cannot start the s3 upload's hasher thread");
    if (code != DD_OK) {
        s3_spool_close(sp);
        return code;
    }
    *out = sp;
    return DD_OK;
}

dd_code s3_spool_write(s3_spool *sp, const void *data, size_t len, dd_err *err)
{
    const unsigned char *p = data;
    size_t done = 0;
    while (done < len) {        /* the offset is ours: a pooled file may be longer */
        ssize_t n = pwrite(sp->fd, p + done, len - done, (off_t)(sp->written + (int64_t)done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : 0;          /* before close() can change it */
            sp->failed = true;
            int idle = pool_take(sp->pool);     /* a full disk: give back all we can */
            if (idle >= 0)
                close(idle);
            return dd_fail(err, e ? dd_errno_code(e) : DD_IO,
                           "cannot write the s3 upload's spool file in %s"
                           " (artifacts.s3.spool_dir): %s", sp->dir,
                           e ? strerror(e) : "no progress");
        }
        done += (size_t)n;
    }
    sp->written += (int64_t)len;
    art_hasher_wrote(&sp->hasher, sp->written);
    return DD_OK;
}

int s3_spool_fd(const s3_spool *sp)
{
    return sp->fd;
}

dd_code s3_spool_hashed(s3_spool *sp, dd_err *err)
{
    int e = art_hasher_finish(&sp->hasher);
    if (e)
        return dd_fail(err, DD_IO, "cannot read back the s3 upload's spool file in %s: %s",
                       sp->dir, strerror(e));
    return DD_OK;
}

dd_code s3_spool_read(s3_spool *sp, void *buf, size_t len, int64_t off, dd_err *err)
{
    int e = art_read_full(sp->fd, buf, len, off);
    return e ? dd_fail(err, DD_IO, "cannot read the s3 upload's spool file in %s: %s",
                       sp->dir, strerror(e)) : DD_OK;
}

void s3_spool_close(s3_spool *sp)
{
    if (!sp)
        return;
    art_hasher_stop(&sp->hasher);
    if (sp->fd >= 0 && !sp->failed)
        pool_give(sp->pool, sp->fd, sp->written);
    else if (sp->fd >= 0)
        close(sp->fd);             /* a full disk gets its space back */
    free(sp->dir);
    free(sp);
}
