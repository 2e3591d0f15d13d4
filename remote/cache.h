/*
 * cache.h - the node's artifact cache of remote mounts (docs/REMOTE.md §8): whole copies
 * of model versions' artifacts (immutable while registered) in one directory, so many
 * processes of a node reading the production model fetch it from the server once.
 *
 * Layout: <dir>/<resource id>-<generation> (a complete copy; the generation changes when
 * a resource's bytes are replaced, so a stale copy is never served), <name>.lock (the
 * per-file flock that makes concurrent opens, of this daemon or another one on the node,
 * wait on one fetch), <name>.tmp.<pid> while being fetched (renamed when complete: a
 * half copy is never seen under the final name; an abandoned one is removed by the next
 * eviction pass).
 *
 * Bound: before a copy is fetched, the least recently used complete copies (by atime,
 * set explicitly at each open, so relatime/noatime mounts do not matter) are removed
 * until the copies plus the new one fit in `max` bytes. A copy larger than `max` is not
 * cached (dd_rcache_open answers -1 with errno EFBIG; the caller reads from the server).
 * An open copy keeps its bytes when evicted (unlinked, still readable through its fd).
 *
 * Threads: a dd_rcache is immutable after dd_rcache_new; any thread may call
 * dd_rcache_open at once (the flock serialises fetches of one copy, not of others).
 */
#ifndef DD_RCACHE_H
#define DD_RCACHE_H

#include <stdint.h>
#include <stddef.h>

typedef struct dd_rcache dd_rcache;

/* The bytes of a copy, written in order by a fetch; 0 on success, -1 with msg. */
typedef int (*dd_rcache_fetch)(void *ctx, int fd, char *msg, size_t msglen);

/* A cache in `dir` (created 0700 with its parents when absent) of at most `max` bytes.
 * NULL with msg when the directory cannot be made. */
dd_rcache *dd_rcache_new(const char *dir, int64_t max, char *msg, size_t msglen);
void dd_rcache_free(dd_rcache *c);

/*
 * A read-only fd of the copy of resource `id` at `generation`, `size` bytes: the
 * existing one, or fetched now by `fetch` (others wanting the same copy meanwhile wait
 * for it and then use it). -1 with msg (errno EFBIG: larger than the cache; otherwise
 * the fetch failed or the directory is unusable, nothing is left under the final name).
 * *fetched (may be NULL) says whether this call fetched.
 */
int dd_rcache_open(dd_rcache *c, int64_t id, int64_t generation, int64_t size,
                   dd_rcache_fetch fetch, void *ctx, int *fetched, char *msg, size_t msglen);

/*
 * dd_rcache_open without the fetch: the complete copy's read-only fd (*fill NULL), or,
 * when this caller is to fetch it, the fd of its temporary copy (read-write, empty) and
 * *fill: the caller writes the bytes in order (and may read back what it wrote, e.g. to
 * serve reads while the rest arrives), then calls dd_rcache_fill_end, which frees *fill
 * and leaves the fd open. Until then others wanting the copy wait. -1 with msg as
 * dd_rcache_open (errno EFBIG: larger than the cache).
 */
typedef struct dd_rcache_fill dd_rcache_fill;
int dd_rcache_begin(dd_rcache *c, int64_t id, int64_t generation, int64_t size,
                    dd_rcache_fill **fill, char *msg, size_t msglen);
/* The end of a fill: `ok` and the size right, the copy takes its final name (0);
 * otherwise it is removed (-1, msg says why when ok was true). Releases the waiters. */
int dd_rcache_fill_end(dd_rcache_fill *f, int ok, char *msg, size_t msglen);

#endif
