/*
 * test_rcache.c - the node's artifact cache of remote mounts (remote/cache.c), on a real
 * directory, with fetches written by the test.
 *
 * (a) a copy is fetched once, then served without a fetch, its bytes those fetched
 * (b) a failed or short fetch leaves nothing, under the final name or a temporary one,
 *     and the next open fetches again
 * (c) a copy larger than the bound is refused with EFBIG, nothing fetched
 * (d) at insert, the least recently opened copies go until the new one fits
 * (e) the temporary copy of a dead fetcher is removed; a live one's is kept
 * (f) eight threads opening one copy at once: one fetch, every fd reads the bytes
 * (g) a fill by the caller (dd_rcache_begin): its fd reads back what it wrote so far;
 *     another opener waits for its end and then fetches nothing; a fill ended as failed
 *     leaves nothing, and the next begin fills again
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "check.h"

typedef struct src {
    char byte;          /* every byte of the copy */
    int64_t len;        /* bytes written (a short fetch writes fewer than the size) */
    int fail;           /* answer -1 after writing */
    int sleep_ms;
    int calls;
    pthread_mutex_t mu;
} src;

static int fetch(void *ctx, int fd, char *msg, size_t msglen)
{
    src *s = ctx;
    pthread_mutex_lock(&s->mu);
    s->calls++;
    pthread_mutex_unlock(&s->mu);
    if (s->sleep_ms)
        usleep((useconds_t)s->sleep_ms * 1000);
    char buf[4096];
    memset(buf, s->byte, sizeof buf);
    for (int64_t left = s->len; left > 0;) {
        size_t n = left < (int64_t)sizeof buf ? (size_t)left : sizeof buf;
        if (write(fd, buf, n) != (ssize_t)n)
            return snprintf(msg, msglen, "write"), -1;
        left -= (int64_t)n;
    }
    if (s->fail)
        snprintf(msg, msglen, "the server went away");
    return s->fail ? -1 : 0;
}

static int count_entries(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.' && strstr(e->d_name, part))
            n++;
    if (d)
        closedir(d);
    return n;
}

static bool exists(const char *dir, const char *name)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

static bool reads_as(int fd, char byte, int64_t len)
{
    char buf[4096];
    int64_t off = 0;
    ssize_t n;
    while ((n = pread(fd, buf, sizeof buf, off)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != byte)
                return false;
        off += n;
    }
    return off == len;
}

static void open_one(dd_rcache *c, int64_t id, int64_t size, src *s, int *fetched)
{
    char msg[256];
    int fd = dd_rcache_open(c, id, 0, size, fetch, s, fetched, msg, sizeof msg);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(reads_as(fd, s->byte, size));
        close(fd);
    }
    usleep(20000);     /* atimes 20 ms apart: the LRU order is the order of the opens */
}

typedef struct racer {
    dd_rcache *c;
    src *s;
    int fd;
} racer;

static void *race(void *p)
{
    racer *r = p;
    char msg[256];
    r->fd = dd_rcache_open(r->c, 7, 3, 1 << 20, fetch, r->s, NULL, msg, sizeof msg);
    return NULL;
}

/* (g)'s other opener: copy 11, 8192 bytes. */
static void *race_g(void *p)
{
    racer *r = p;
    char msg[256];
    r->fd = dd_rcache_open(r->c, 11, 0, 8192, fetch, r->s, NULL, msg, sizeof msg);
    return NULL;
}

int main(void)
{
    char dir[4200], msg[256];
    const char *tmp = getenv("DD_TEST_TMP");
    snprintf(dir, sizeof dir, "%s/rcache.%ld/cache", tmp ? tmp : "/tmp", (long)getpid());
    dd_rcache *c = dd_rcache_new(dir, 300000, msg, sizeof msg);
    CHECK(c != NULL);
    if (!c)
        return check_done();

    /* (a) */
    src a = {.byte = 'a', .len = 100000, .mu = PTHREAD_MUTEX_INITIALIZER};
    int fetched = -1;
    open_one(c, 1, 100000, &a, &fetched);
    CHECK(fetched == 1 && a.calls == 1 && exists(dir, "1-0") && exists(dir, "1-0.lock"));
    open_one(c, 1, 100000, &a, &fetched);
    CHECK(fetched == 0 && a.calls == 1);

    /* (b) */
    src bad = {.byte = 'b', .len = 5000, .fail = 1, .mu = PTHREAD_MUTEX_INITIALIZER};
    int fd = dd_rcache_open(c, 2, 0, 5000, fetch, &bad, NULL, msg, sizeof msg);
    CHECK(fd < 0 && errno == EIO && strstr(msg, "went away"));
    CHECK(!exists(dir, "2-0") && count_entries(dir, ".tmp.") == 0);
    bad.fail = 0, bad.len = 4000;       /* short: the row says 5000 */
    fd = dd_rcache_open(c, 2, 0, 5000, fetch, &bad, NULL, msg, sizeof msg);
    CHECK(fd < 0 && strstr(msg, "4000 bytes of 5000"));
    CHECK(!exists(dir, "2-0") && count_entries(dir, ".tmp.") == 0 && bad.calls == 2);

    /* (c) */
    src big = {.byte = 'c', .len = 300001, .mu = PTHREAD_MUTEX_INITIALIZER};
    fd = dd_rcache_open(c, 3, 0, 300001, fetch, &big, NULL, msg, sizeof msg);
    CHECK(fd < 0 && errno == EFBIG && big.calls == 0);

    /* (d): 1 (opened in (a)), then 4 and 5 fill the 300000 bytes; 1 is opened again, so
     * 4 is the least recently used when 6 comes */
    src d4 = {.byte = '4', .len = 100000, .mu = PTHREAD_MUTEX_INITIALIZER};
    src d5 = {.byte = '5', .len = 100000, .mu = PTHREAD_MUTEX_INITIALIZER};
    src d6 = {.byte = '6', .len = 100000, .mu = PTHREAD_MUTEX_INITIALIZER};
    open_one(c, 4, 100000, &d4, NULL);
    open_one(c, 5, 100000, &d5, NULL);
    CHECK(exists(dir, "1-0") && exists(dir, "4-0") && exists(dir, "5-0"));
    open_one(c, 1, 100000, &a, NULL);
    open_one(c, 6, 100000, &d6, NULL);
    CHECK(exists(dir, "1-0") && !exists(dir, "4-0") && exists(dir, "5-0") &&
          exists(dir, "6-0"));
    CHECK(a.calls == 1);

    /* (e): pid 2^22 + 1 is above every default pid_max (4194304): never a live process */
    char p[4300];
    snprintf(p, sizeof p, "%s/9-0.tmp.4194305", dir);
    int t = open(p, O_CREAT | O_WRONLY, 0600);
    CHECK(t >= 0);
    if (t >= 0)
        close(t);
    snprintf(p, sizeof p, "%s/9-1.tmp.%ld", dir, (long)getpid());
    t = open(p, O_CREAT | O_WRONLY, 0600);
    if (t >= 0)
        close(t);
    src d7 = {.byte = '7', .len = 10, .mu = PTHREAD_MUTEX_INITIALIZER};
    open_one(c, 8, 10, &d7, NULL);      /* an insert: the eviction pass runs */
    CHECK(!exists(dir, "9-0.tmp.4194305"));
    snprintf(p, sizeof p, "9-1.tmp.%ld", (long)getpid());
    CHECK(exists(dir, p));

    /* (f) */
    src r = {.byte = 'r', .len = 1 << 20, .sleep_ms = 100, .mu = PTHREAD_MUTEX_INITIALIZER};
    dd_rcache_free(c);
    c = dd_rcache_new(dir, 8 << 20, msg, sizeof msg);
    CHECK(c != NULL);
    racer rs[8];
    pthread_t th[8];
    for (int i = 0; i < 8; i++) {
        rs[i] = (racer){c, &r, -1};
        pthread_create(&th[i], NULL, race, &rs[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        CHECK(rs[i].fd >= 0 && reads_as(rs[i].fd, 'r', 1 << 20));
        if (rs[i].fd >= 0)
            close(rs[i].fd);
    }
    CHECK(r.calls == 1);

    /* (g) */
    dd_rcache_fill *f = NULL;
    fd = dd_rcache_begin(c, 11, 0, 8192, &f, msg, sizeof msg);
    CHECK(fd >= 0 && f != NULL);
    if (fd >= 0 && f) {
        src none = {.byte = 'n', .len = 8192, .mu = PTHREAD_MUTEX_INITIALIZER};
        racer w = {c, &none, -1};
        pthread_t wt;
        char half[4096], back[4096];
        memset(half, 'g', sizeof half);
        CHECK(write(fd, half, sizeof half) == (ssize_t)sizeof half);
        CHECK(pread(fd, back, sizeof back, 0) == (ssize_t)sizeof back &&
              memcmp(back, half, sizeof half) == 0);
        w.c = c;
        pthread_create(&wt, NULL, race_g, &w);
        usleep(50000);
        CHECK(w.fd == -1);              /* waiting for the fill */
        CHECK(write(fd, half, sizeof half) == (ssize_t)sizeof half);
        CHECK(dd_rcache_fill_end(f, 1, msg, sizeof msg) == 0);
        pthread_join(wt, NULL);
        CHECK(w.fd >= 0 && none.calls == 0 && reads_as(w.fd, 'g', 8192));
        CHECK(reads_as(fd, 'g', 8192) && exists(dir, "11-0"));
        if (w.fd >= 0)
            close(w.fd);
        close(fd);
    }
    fd = dd_rcache_begin(c, 12, 0, 100, &f, msg, sizeof msg);
    CHECK(fd >= 0 && f != NULL);
    if (fd >= 0 && f) {
        CHECK(write(fd, "x", 1) == 1);
        CHECK(dd_rcache_fill_end(f, 0, msg, sizeof msg) != 0);
        CHECK(!exists(dir, "12-0") && count_entries(dir, "12-0.tmp.") == 0);
        close(fd);
        fd = dd_rcache_begin(c, 12, 0, 100, &f, msg, sizeof msg);
        CHECK(fd >= 0 && f != NULL);
        if (fd >= 0 && f) {
            CHECK(dd_rcache_fill_end(f, 1, msg, sizeof msg) != 0 && strstr(msg, "0 bytes of"));
            close(fd);
        }
    }
    dd_rcache_free(c);
    return check_done();
}
