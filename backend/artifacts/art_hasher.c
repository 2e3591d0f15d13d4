/*
 * art_hasher.c - an upload's sha256, computed by a thread that reads the upload's file
 * back behind the writer (art_int.h, "the hasher").
 *
 * Why: hashing in the FUSE write path made every write wait for it: SHA-256 was more than
 * half of the daemon's CPU time during a 1 GiB `cp` into a file (perf, BENCHMARKS.md,
 * "Where large artifacts go"). On another core the writer goes on meanwhile, and at
 * the commit only the last bytes are left to hash. Reading back costs a copy from the
 * page cache, which the bytes just went through.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "art_int.h"

#define HASH_BLOCK ((size_t)1 << 20)    /* the hasher's reads */

int art_read_full(int fd, unsigned char *buf, size_t len, int64_t off)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, buf + got, len - got, (off_t)(off + (int64_t)got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? errno : EIO;
        got += (size_t)n;
    }
    return 0;
}

/* Feeds every written byte, in order, to the digest; ends when told to stop and
 * everything is hashed, or when the file cannot be read. */
static void *hasher_main(void *arg)
{
    art_hasher *h = arg;
    unsigned char *buf = malloc(HASH_BLOCK);
    pthread_mutex_lock(&h->mu);
    if (!buf)
        h->read_errno = ENOMEM;
    while (buf && !h->read_errno) {
        while (!h->stop && !h->quit && h->hashed == h->written)
            pthread_cond_wait(&h->cv, &h->mu);
        if (h->quit || h->hashed == h->written)
            break;                                  /* closed, or stopped and all hashed */
        int64_t off = h->hashed, avail = h->written - h->hashed;
        size_t n = (uint64_t)avail < HASH_BLOCK ? (size_t)avail : HASH_BLOCK;
        pthread_mutex_unlock(&h->mu);
        int e = art_read_full(h->fd, buf, n, off);
        if (!e && EVP_DigestUpdate(h->md, buf, n) != 1)
            e = EIO;
        pthread_mutex_lock(&h->mu);
        if (e)
            h->read_errno = e;
        else
            h->hashed += (int64_t)n;
    }
    pthread_mutex_unlock(&h->mu);
    free(buf);
    return NULL;
}

bool art_hasher_start(art_hasher *h, int fd, EVP_MD_CTX *md, int64_t from)
{
    *h = (art_hasher){.fd = fd, .md = md, .written = from, .hashed = from};
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    h->running = pthread_create(&h->thread, NULL, hasher_main, h) == 0;
    if (!h->running) {
        pthread_mutex_destroy(&h->mu);
        pthread_cond_destroy(&h->cv);
    }
    return h->running;
}

void art_hasher_wrote(art_hasher *h, int64_t written)
{
    pthread_mutex_lock(&h->mu);
    h->written = written;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

/* Tell the hasher that no more bytes come (`now`: that its work is not wanted any more)
 * and wait for it to end. */
static void hasher_join(art_hasher *h, bool now)
{
    if (!h->running)
        return;
    pthread_mutex_lock(&h->mu);
    h->stop = true;
    h->quit = now;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->thread, NULL);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    h->running = false;
}

int art_hasher_finish(art_hasher *h)
{
    hasher_join(h, false);
    return h->read_errno;
}

void art_hasher_stop(art_hasher *h)
{
    hasher_join(h, true);
}
