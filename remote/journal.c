/*
 * journal.c - a remote mount's node journal (contract in journal.h; REMOTE.md §4).
 *
 * The records are backend/store/mlog_rec.c's, the local metric log's, so one decoder
 * (fuzzed) reads both. The journal's own state is a list of the undelivered records in
 * seq order (appends at the tail under `mu`, the sender removes from the head), the bytes
 * they take (the ENOSPC bound), and two sequence numbers for the group fdatasync.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"

/* How long the fdatasync thread lets appends gather (as metric_log.c's group window). */
#define GROUP_WINDOW_MS 1
/* Past this size a journal whose records are all delivered is emptied. */
#define JOURNAL_TRUNCATE_BYTES ((off_t)1 << 20)
/* A journal whose delivered records (its head) take more than this and more than half of
 * it is compacted: its undelivered tail copied to a new file that replaces it (REMOTE.md
 * §4.5), so a writer the sender never quite catches up with does not grow it forever. */
#define JOURNAL_COMPACT_BYTES ((off_t)16 << 20)
/* A second mount of the same (URL, user) takes the next suffix, up to this many. */
#define DIR_SUFFIXES DD_JOURNAL_DIRS
/* "journal full" is logged at most this often. */
#define FULL_LOG_PERIOD_S 60

struct dd_journal {
    char *dir;
    char node_id[33];
    int lock_fd, fd, delivered_fd;
    int64_t max_bytes;
    pthread_mutex_t mu;
    pthread_cond_t wake_sync;  /* for the fdatasync thread: records to sync, or closing */
    pthread_cond_t wake_send;  /* for dd_journal_take: a record, or closing */
    bool sync_idle, send_idle; /* who waits for a record (an append signals only them) */
    bool syncing;              /* the fdatasync thread is using fd without the mutex */
    pthread_cond_t synced;     /* synced_seq moved, or a sync failed */
    pthread_cond_t delivered_cv;  /* the head moved (records delivered), or closing */
    dd_mlog_rec *head, *tail;  /* undelivered, seq order */
    int64_t bytes;             /* their encoded size */
    uint64_t points;           /* their points */
    uint64_t next_seq;         /* the next record's */
    uint64_t synced_seq;       /* every record up to here is fdatasync'd */
    int sync_errno;            /* the last fdatasync's failure, 0 once one succeeds */
    off_t file_bytes;          /* the journal file's length */
    time_t full_logged;
    bool stop;
    bool thread_started;
    pthread_t syncer;
};

#define PATH_BUF 4200

/* err = "<what>: <strerror(e)>", the path cut to fit. */
static void set_err(dd_err *err, dd_code code, const char *what, int e)
{
    dd_fail(err, code, "%.200s: %s", what, strerror(e));
}

/* out = dir/name; false (ENAMETOOLONG) when it does not fit. */
static bool join(char out[PATH_BUF], const char *dir, const char *name)
{
    int n = snprintf(out, PATH_BUF, "%s/%s", dir, name);
    return n >= 0 && n < PATH_BUF;
}

/* ---------------------------------------------------------------- files */

/* The journal's small files: `node_id` made once (128 random bits), `delivered` read. */
static dd_code read_node_id(dd_journal *j, dd_err *err)
{
    char path[PATH_BUF], tmp[PATH_BUF];
    if (!join(path, j->dir, "node_id") || !join(tmp, j->dir, "node_id.new"))
        return set_err(err, DD_IO, j->dir, ENAMETOOLONG), DD_IO;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t got = read(fd, j->node_id, 32);
        close(fd);
        j->node_id[got == 32 ? 32 : 0] = '\0';
        for (int i = 0; got == 32 && i < 32; i++)
            if (!((j->node_id[i] >= '0' && j->node_id[i] <= '9') ||
                  (j->node_id[i] >= 'a' && j->node_id[i] <= 'f')))
                j->node_id[0] = '\0';
        if (j->node_id[0])
            return DD_OK;
    }
    unsigned char rnd[16];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        return set_err(err, DD_IO, "a random node id", errno), DD_IO;
    for (int i = 0; i < 16; i++)
        snprintf(j->node_id + 2 * i, 3, "%02x", rnd[i]);
    /* written whole to a temporary name, then renamed: never a half node id */
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && write(fd, j->node_id, 32) == 32 && fdatasync(fd) == 0;
    int e = errno;
    if (fd >= 0)
        close(fd);
    if (!ok || rename(tmp, path) != 0)
        return set_err(err, DD_IO, path, ok ? errno : e), DD_IO;
    return DD_OK;
}

static dd_code open_delivered(dd_journal *j, uint64_t *delivered, dd_err *err)
{
    char path[PATH_BUF];
    if (!join(path, j->dir, "delivered"))
        return set_err(err, DD_IO, j->dir, ENAMETOOLONG), DD_IO;
    j->delivered_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (j->delivered_fd < 0)
        return set_err(err, DD_IO, path, errno), DD_IO;
    *delivered = 0;
    if (pread(j->delivered_fd, delivered, 8, 0) != 8)
        *delivered = 0;
    return DD_OK;
}

/* Read the journal: the records after `delivered` into the list; a torn tail (a write
 * that never returned) is cut off, so the next append follows the last whole record. */
static dd_code load_records(dd_journal *j, uint64_t delivered, dd_err *err)
{
    struct stat sb;
    if (fstat(j->fd, &sb) != 0)
        return set_err(err, DD_IO, j->dir, errno), DD_IO;
    unsigned char *buf = malloc(sb.st_size ? (size_t)sb.st_size : 1);
    ssize_t got = buf ? pread(j->fd, buf, (size_t)sb.st_size, 0) : -1;
    if (got < 0) {
        free(buf);
        return set_err(err, DD_IO, j->dir, errno ? errno : ENOMEM), DD_IO;
    }
    size_t off = 0, used = 0;
    uint64_t last = delivered;
    for (dd_mlog_rec *r; off < (size_t)got && (r = dd_mlog_decode(buf + off, (size_t)got - off,
                                                                  &used)); off += used) {
        last = r->seq > last ? r->seq : last;
        if (r->seq <= delivered) {
            dd_mlog_free(r);
            continue;
        }
        if (j->tail)
            j->tail->next = r;
        else
            j->head = r;
        j->tail = r;
        j->bytes += (int64_t)used;
        j->points += r->n;
    }
    free(buf);
    if (off < (size_t)sb.st_size && ftruncate(j->fd, (off_t)off) != 0)
        return set_err(err, DD_IO, "cutting a torn record of the journal", errno), DD_IO;
    if (off < (size_t)sb.st_size)
        syslog(LOG_WARNING, "%s/journal: a torn last record (%lld bytes) was cut off",
               j->dir, (long long)sb.st_size - (long long)off);
    j->file_bytes = (off_t)off;
    j->next_seq = last + 1;
    j->synced_seq = last;
    return DD_OK;
}

/* Take directory `dir` if nobody holds it: 1 taken, 0 held by another mount (or absent,
 * with `existing`), -1 error. */
static int try_dir(dd_journal *j, const char *dir, bool existing, dd_err *err)
{
    char path[PATH_BUF];
    if (!join(path, dir, "lock"))
        return set_err(err, DD_IO, dir, ENAMETOOLONG), -1;
    struct stat sb;
    if (existing && stat(path, &sb) != 0)
        return 0;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return set_err(err, DD_IO, dir, errno), -1;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return set_err(err, DD_IO, path, errno), -1;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        return e == EWOULDBLOCK ? 0 : (set_err(err, DD_IO, path, e), -1);
    }
    j->lock_fd = fd;
    j->dir = strdup(dir);
    return j->dir ? 1 : (dd_fail(err, DD_IO, "out of memory"), -1);
}

/* `<root>/<name>` for k = 0, else `<root>/<name>.<k>`; false when it does not fit. */
static bool dir_name(char out[PATH_BUF], const char *root, const char *name, int k)
{
    int len = k == 0 ? snprintf(out, PATH_BUF, "%s/%s", root, name)
                     : snprintf(out, PATH_BUF, "%s/%s.%d", root, name, k);
    return len >= 0 && len < PATH_BUF;
}

static dd_code take_dir(dd_journal *j, const char *root, const char *name, int only,
                        dd_err *err)
{
    if (mkdir(root, 0700) != 0 && errno != EEXIST) {
        /* the parents of the default ($XDG_STATE_HOME/deardiary/journal) may be missing */
        char tmp[PATH_BUF];
        if (snprintf(tmp, sizeof tmp, "%s", root) >= (int)sizeof tmp)
            return set_err(err, DD_IO, root, ENAMETOOLONG), DD_IO;
        for (char *p = tmp + 1; *p; p++)
            if (*p == '/') {
                *p = '\0';
                (void)mkdir(tmp, 0700);
                *p = '/';
            }
        if (mkdir(root, 0700) != 0 && errno != EEXIST)
            return set_err(err, DD_IO, root, errno), DD_IO;
    }
    for (int k = only < 0 ? 0 : only; k < (only < 0 ? DIR_SUFFIXES : only + 1); k++) {
        char dir[PATH_BUF];
        if (!dir_name(dir, root, name, k))
            return set_err(err, DD_IO, root, ENAMETOOLONG), DD_IO;
        int rc = try_dir(j, dir, only >= 0, err);
        if (rc != 0)
            return rc > 0 ? DD_OK : DD_IO;
    }
    if (only >= 0)
        return dd_fail(err, DD_NOT_FOUND, "no journal %s.%d nobody holds", name, only);
    return dd_fail(err, DD_IO, "%s/%s: %d mounts of this server and user already hold a "
                   "journal here", root, name, DIR_SUFFIXES);
}

/* ---------------------------------------------------------------- group fdatasync */

static struct timespec realtime_in(long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (ms % 1000) * 1000000L;
    ts.tv_sec += ms / 1000 + ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    return ts;
}

static void *syncer_main(void *arg)
{
    dd_journal *j = arg;
    pthread_mutex_lock(&j->mu);
    for (;;) {
        while (!j->stop && j->synced_seq + 1 >= j->next_seq) {
            j->sync_idle = true;
            pthread_cond_wait(&j->wake_sync, &j->mu);
            j->sync_idle = false;
        }
        if (j->synced_seq + 1 >= j->next_seq)
            break;   /* stopping with nothing left to sync */
        /* let the appends of the window join this fdatasync (a sleep: they do not wake
         * this thread, which would cost each of them a thread switch) */
        if (!j->stop) {
            pthread_mutex_unlock(&j->mu);
            struct timespec window = {0, GROUP_WINDOW_MS * 1000000L};
            nanosleep(&window, NULL);
            pthread_mutex_lock(&j->mu);
        }
        uint64_t target = j->next_seq - 1;
        int fd = j->fd;
        j->syncing = true;   /* compaction waits for it before it replaces the fd */
        pthread_mutex_unlock(&j->mu);
        int rc = fdatasync(fd), e = errno;
        pthread_mutex_lock(&j->mu);
        j->syncing = false;
        j->sync_errno = rc == 0 ? 0 : e;
        if (rc == 0 && target > j->synced_seq)
            j->synced_seq = target;
        if (rc != 0)
            syslog(LOG_ERR, "%s/journal: fdatasync: %s", j->dir, strerror(e));
        pthread_cond_broadcast(&j->synced);
    }
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

dd_code dd_journal_sync(dd_journal *j, dd_err *err)
{
    pthread_mutex_lock(&j->mu);
    uint64_t target = j->next_seq - 1;
    int e = 0;
    while (j->synced_seq < target && !(e = j->sync_errno))
        pthread_cond_wait(&j->synced, &j->mu);
    pthread_mutex_unlock(&j->mu);
    return e ? (set_err(err, DD_IO, "fdatasync of the node journal", e), DD_IO) : DD_OK;
}

/* ---------------------------------------------------------------- open, close */

static dd_code journal_open(const char *root, const char *name, int only, int64_t max_bytes,
                            dd_journal **out, dd_err *err);

dd_code dd_journal_open(const char *root, const char *name, int64_t max_bytes,
                        dd_journal **out, dd_err *err)
{
    return journal_open(root, name, -1, max_bytes, out, err);
}

dd_code dd_journal_adopt(const char *root, const char *name, int k, dd_journal **out,
                         dd_err *err)
{
    return journal_open(root, name, k, INT64_MAX, out, err);
}

static dd_code journal_open(const char *root, const char *name, int only, int64_t max_bytes,
                            dd_journal **out, dd_err *err)
{
    *out = NULL;
    dd_journal *j = calloc(1, sizeof *j);
    if (!j)
        return dd_fail(err, DD_IO, "out of memory");
    j->lock_fd = j->fd = j->delivered_fd = -1;
    j->max_bytes = max_bytes;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->wake_sync, NULL);
    pthread_cond_init(&j->wake_send, NULL);
    pthread_cond_init(&j->synced, NULL);
    pthread_cond_init(&j->delivered_cv, NULL);
    uint64_t delivered = 0;
    dd_code code = take_dir(j, root, name, only, err);
    if (code == DD_OK)
        code = read_node_id(j, err);
    if (code == DD_OK)
        code = open_delivered(j, &delivered, err);
    if (code == DD_OK) {
        char path[PATH_BUF];
        j->fd = join(path, j->dir, "journal") ? open(path, O_RDWR | O_CREAT | O_APPEND |
                                                    O_CLOEXEC, 0600) : -1;
        if (j->fd < 0)
            code = (set_err(err, DD_IO, path, errno), DD_IO);
    }
    if (code == DD_OK)
        code = load_records(j, delivered, err);
    if (code == DD_OK && pthread_create(&j->syncer, NULL, syncer_main, j) != 0)
        code = dd_fail(err, DD_IO, "cannot start the journal's thread");
    if (code != DD_OK) {
        dd_journal_close(j);
        return code;
    }
    j->thread_started = true;
    if (j->head)
        syslog(LOG_INFO, "%s: %" PRIu64 " points from an earlier mount are delivered first",
               j->dir, j->points);
    *out = j;
    return DD_OK;
}

void dd_journal_close(dd_journal *j)
{
    if (!j)
        return;
    if (j->thread_started) {
        pthread_mutex_lock(&j->mu);
        j->stop = true;
        pthread_cond_broadcast(&j->wake_sync);
        pthread_cond_broadcast(&j->wake_send);
        pthread_cond_broadcast(&j->delivered_cv);
        pthread_mutex_unlock(&j->mu);
        pthread_join(j->syncer, NULL);
    }
    if (j->fd >= 0)
        close(j->fd);
    if (j->delivered_fd >= 0)
        close(j->delivered_fd);
    if (j->lock_fd >= 0)
        close(j->lock_fd);   /* releases the flock: the next mount takes the directory */
    dd_mlog_free(j->head);
    pthread_cond_destroy(&j->wake_sync);
    pthread_cond_destroy(&j->wake_send);
    pthread_cond_destroy(&j->synced);
    pthread_cond_destroy(&j->delivered_cv);
    pthread_mutex_destroy(&j->mu);
    free(j->dir);
    free(j);
}

const char *dd_journal_node_id(const dd_journal *j) { return j->node_id; }
const char *dd_journal_path(const dd_journal *j) { return j->dir; }

/* ---------------------------------------------------------------- append */

/* Write all of buf at the end of the journal (O_APPEND); on a short or failed write the
 * file is cut back so no torn record is left in front of the next one. */
static int write_all(dd_journal *j, const unsigned char *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(j->fd, buf + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : ENOSPC;
            if (ftruncate(j->fd, j->file_bytes) != 0)
                syslog(LOG_ERR, "%s/journal: cutting a failed write: %s", j->dir,
                       strerror(errno));
            return e;
        }
        done += (size_t)w;
    }
    j->file_bytes += (off_t)len;
    return 0;
}

/* A copy of points[0..n) as a record of seq `seq`. */
static dd_mlog_rec *record_of(uint64_t seq, int64_t iteration_id, const char *key,
                              const dd_metric_point *points, size_t n)
{
    dd_mlog_rec *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->seq = seq;
    r->iteration_id = iteration_id;
    r->key = strdup(key);
    r->n = n;
    r->points = malloc((n ? n : 1) * sizeof *points);
    if (!r->key || !r->points) {
        dd_mlog_free(r);
        return NULL;
    }
    memcpy(r->points, points, n * sizeof *points);
    return r;
}

/* The batch as records of at most DD_JOURNAL_RECORD_POINTS points (seqs from `seq`), and
 * their journal bytes in one buffer; false when out of memory. */
static bool encode_batch(uint64_t seq, int64_t iteration_id, const char *key,
                         const dd_metric_point *points, size_t n, dd_mlog_rec **list,
                         unsigned char **out, size_t *len)
{
    dd_mlog_rec **tail = list;
    *list = NULL;
    *out = NULL;
    *len = 0;
    for (size_t i = 0; i < n || (n == 0 && i == 0); i += DD_JOURNAL_RECORD_POINTS) {
        size_t k = n - i < DD_JOURNAL_RECORD_POINTS ? n - i : DD_JOURNAL_RECORD_POINTS;
        dd_mlog_rec *r = record_of(seq++, iteration_id, key, points + i, k);
        size_t rlen = 0;
        unsigned char *rb = r ? dd_mlog_encode(r, &rlen) : NULL;
        unsigned char *grown = rb ? realloc(*out, *len + rlen) : NULL;
        if (!grown) {
            free(rb);
            dd_mlog_free(r);
            return false;
        }
        memcpy(grown + *len, rb, rlen);
        free(rb);
        *out = grown;
        *len += rlen;
        *tail = r;
        tail = &r->next;
        if (n == 0)
            break;
    }
    return true;
}

static dd_code journal_full(dd_journal *j, dd_err *err)
{
    time_t now = time(NULL);
    if (now - j->full_logged >= FULL_LOG_PERIOD_S) {
        j->full_logged = now;
        syslog(LOG_ERR, "%s: journal full: %" PRIu64 " points undelivered (%lld bytes, "
               "remote.journal_max %lld)", j->dir, j->points, (long long)j->bytes,
               (long long)j->max_bytes);
    }
    return dd_fail(err, DD_NO_SPACE, "the node journal is full: %" PRIu64 " points not yet "
                   "delivered to the server (remote.journal_max %lld bytes)", j->points,
                   (long long)j->max_bytes);
}

dd_code dd_journal_append(dd_journal *j, int64_t iteration_id, const char *key,
                          const dd_metric_point *points, size_t n, dd_err *err)
{
    dd_mlog_rec *list = NULL;
    unsigned char *buf = NULL;
    size_t len = 0;
    pthread_mutex_lock(&j->mu);
    dd_code code = DD_OK;
    if (!encode_batch(j->next_seq, iteration_id, key, points, n, &list, &buf, &len)) {
        code = dd_fail(err, DD_IO, "out of memory");
    } else if (j->bytes + (int64_t)len > j->max_bytes) {
        code = journal_full(j, err);
    } else {
        int e = write_all(j, buf, len);
        code = !e ? DD_OK : e == ENOSPC || e == EDQUOT ? DD_NO_SPACE : DD_IO;
        if (e)
            set_err(err, code, "the node journal", e);
    }
    if (code == DD_OK) {
        for (dd_mlog_rec *r = list; r; r = r->next) {
            j->next_seq = r->seq + 1;
            j->points += r->n;
        }
        if (j->tail)
            j->tail->next = list;
        else
            j->head = list;
        while (list->next)
            list = list->next;
        j->tail = list;
        list = NULL;
        j->bytes += (int64_t)len;
        if (j->sync_idle)
            pthread_cond_signal(&j->wake_sync);
        if (j->send_idle)
            pthread_cond_signal(&j->wake_send);
    }
    pthread_mutex_unlock(&j->mu);
    free(buf);
    dd_mlog_free(list);
    return code;
}

/* ---------------------------------------------------------------- delivery */

/* About what a record costs in the request's JSON (REMOTE.md §2.6): a batch's frame and
 * key, and per point a step, a %.17g value and a timestamp. */
static size_t json_estimate(const dd_mlog_rec *r)
{
    return 64 + 2 * strlen(r->key) + r->n * (24 + 26 + DD_TS_LEN + 10);
}

size_t dd_journal_take(dd_journal *j, size_t max_points, size_t max_bytes, int wait_ms,
                       const dd_mlog_rec **recs, size_t cap)
{
    pthread_mutex_lock(&j->mu);
    if (!j->head && !j->stop && wait_ms > 0) {
        struct timespec until = realtime_in(wait_ms);
        j->send_idle = true;
        pthread_cond_timedwait(&j->wake_send, &j->mu, &until);
        j->send_idle = false;
    }
    size_t k = 0, points = 0, bytes = 0;
    for (const dd_mlog_rec *r = j->head; r && k < cap; r = r->next) {
        size_t b = json_estimate(r);
        if (k && (points + r->n > max_points || bytes + b > max_bytes))
            break;
        recs[k++] = r;
        points += r->n;
        bytes += b;
    }
    pthread_mutex_unlock(&j->mu);
    return k;
}

/* Copy [from, end) of the journal to journal.new, fdatasync it, rename it over the
 * journal and append to it from then on (mu held; appends wait meanwhile). Any failure
 * leaves the old journal in use (its delivered head is skipped at replay by seq). */
static void compact_locked(dd_journal *j, off_t from)
{
    char path[PATH_BUF], tmp[PATH_BUF];
    if (!join(path, j->dir, "journal") || !join(tmp, j->dir, "journal.new"))
        return;
    while (j->syncing)   /* the fdatasync thread holds the old fd outside the mutex */
        pthread_cond_wait(&j->synced, &j->mu);
    enum { CHUNK = 1 << 16 };
    int nfd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    unsigned char *buf = malloc(CHUNK);
    bool ok = nfd >= 0 && buf;
    for (off_t off = from; ok && off < j->file_bytes;) {
        size_t want = (size_t)(j->file_bytes - off) < CHUNK ? (size_t)(j->file_bytes - off)
                                                            : CHUNK;
        ssize_t got = pread(j->fd, buf, want, off);
        ok = got > 0 && write(nfd, buf, (size_t)got) == got;
        off += ok ? got : 0;
    }
    free(buf);
    ok = ok && fdatasync(nfd) == 0 && rename(tmp, path) == 0;
    if (!ok) {
        syslog(LOG_WARNING, "%s: compacting the journal: %s (it keeps growing)", j->dir,
               strerror(errno));
        if (nfd >= 0)
            close(nfd);
        unlink(tmp);
        return;
    }
    close(j->fd);
    j->fd = nfd;
    j->file_bytes -= from;
}

dd_code dd_journal_delivered(dd_journal *j, uint64_t seq, dd_err *err)
{
    if (pwrite(j->delivered_fd, &seq, 8, 0) != 8 || fdatasync(j->delivered_fd) != 0)
        return set_err(err, DD_IO, "the node journal's delivered mark", errno), DD_IO;
    pthread_mutex_lock(&j->mu);
    dd_mlog_rec *done = NULL, **tail = &done;
    while (j->head && j->head->seq <= seq) {
        dd_mlog_rec *r = j->head;
        j->head = r->next;
        j->bytes -= (int64_t)dd_mlog_size(r);
        j->points -= r->n;
        r->next = NULL;
        *tail = r;
        tail = &r->next;
    }
    if (!j->head) {
        j->tail = NULL;
        j->bytes = 0;
        /* everything delivered: the file can start over (the seqs go on counting) */
        if (j->file_bytes > JOURNAL_TRUNCATE_BYTES && j->synced_seq + 1 >= j->next_seq &&
            ftruncate(j->fd, 0) == 0)
            j->file_bytes = 0;
    }
    off_t prefix = j->file_bytes - (off_t)j->bytes;   /* the undelivered are the tail */
    if (prefix > JOURNAL_COMPACT_BYTES && prefix > j->file_bytes / 2)
        compact_locked(j, prefix);
    pthread_cond_broadcast(&j->delivered_cv);
    pthread_mutex_unlock(&j->mu);
    dd_mlog_free(done);
    return DD_OK;
}

/* ---------------------------------------------------------------- reads */

void dd_journal_series(dd_journal *j, int64_t iteration_id, const char *key,
                       dd_journal_point_cb cb, void *ctx)
{
    pthread_mutex_lock(&j->mu);
    int stop = 0;
    for (const dd_mlog_rec *r = j->head; r && !stop; r = r->next)
        if (r->iteration_id == iteration_id && strcmp(r->key, key) == 0)
            for (size_t i = 0; i < r->n && !stop; i++)
                stop = cb(ctx, &r->points[i]);
    pthread_mutex_unlock(&j->mu);
}

uint64_t dd_journal_pending(dd_journal *j)
{
    pthread_mutex_lock(&j->mu);
    uint64_t n = j->points;
    pthread_mutex_unlock(&j->mu);
    return n;
}

uint64_t dd_journal_series_last(dd_journal *j, int64_t iteration_id, const char *key)
{
    pthread_mutex_lock(&j->mu);
    uint64_t last = 0;
    for (const dd_mlog_rec *r = j->head; r; r = r->next)
        if (r->iteration_id == iteration_id && strcmp(r->key, key) == 0)
            last = r->seq;
    pthread_mutex_unlock(&j->mu);
    return last;
}

bool dd_journal_wait_delivered(dd_journal *j, uint64_t seq, int wait_ms)
{
    struct timespec until = realtime_in(wait_ms);
    pthread_mutex_lock(&j->mu);
    while (j->head && j->head->seq <= seq && !j->stop &&
           pthread_cond_timedwait(&j->delivered_cv, &j->mu, &until) == 0)
        ;
    bool done = !j->head || j->head->seq > seq;
    pthread_mutex_unlock(&j->mu);
    return done;
}

void dd_journal_iteration(dd_journal *j, int64_t iteration_id, dd_journal_keyed_cb cb,
                          void *ctx)
{
    pthread_mutex_lock(&j->mu);
    int stop = 0;
    for (const dd_mlog_rec *r = j->head; r && !stop; r = r->next)
        if (r->iteration_id == iteration_id)
            for (size_t i = 0; i < r->n && !stop; i++)
                stop = cb(ctx, r->key, &r->points[i]);
    pthread_mutex_unlock(&j->mu);
}
