/*
 * attr_cache.c - the attributes a directory listing reported, kept for the getattr that
 * follows it. `ls -l`, a file manager or `find -ls` list a directory and then stat every
 * entry; the listing already computed each entry's attributes from the rows it read, so
 * asking the store again per entry would undo the one-query listing (issue 14).
 *
 * What is kept is trusted no longer than the kernel itself may keep it (the entry's
 * timeout), and not at all once anything was written through this store since the
 * listing read it (dd_store_stats.writes): a write through the mount is seen by the next
 * stat, as without the cache; a change made by another process is seen within the
 * timeout, as the kernel's own cache allows anyway. Entries with timeout 0 (resources,
 * everything on a shared mount, where vfs_keep_attrs turns the cache off) are not kept.
 *
 * A fixed table of slots indexed by the inode number (a clash evicts: a miss only costs
 * the store query it would have cost without the cache), so memory stays bounded however
 * large the directory; under its own mutex, since FUSE workers list and stat at once.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vfs_int.h"

#define ATTR_SLOTS 8192      /* a power of two; about 1.4 MB */

struct attr_slot {
    vfs_entry e;             /* e.ino 0: empty */
    uint64_t gen;            /* the store's write count the entry was computed under */
    double expires;          /* monotonic seconds */
};

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Inode numbers are kind << 48 | row id: consecutive rows of one kind take consecutive
 * slots, so a listing of up to ATTR_SLOTS rows keeps all of them. */
static size_t slot_of(uint64_t ino)
{
    return (size_t)((ino ^ (ino >> 48) * 0x9e37u) & (ATTR_SLOTS - 1));
}

/* How long an entry's attributes may be trusted. A /models/<m> link has timeout 0 for
 * its name (a model made again under the name must resolve to the new row at once), and
 * a running iteration's metrics/<key>.svg for its drawing (the next open must draw the
 * points appended meanwhile, charts.c): not for their attributes, which are as live as
 * any other node's (and void after any write through this store). */
static double attr_ttl(const vfs *v, const vfs_entry *e)
{
    nk kind = ino_kind(e->ino);
    return kind == NK_MODEL_LINK || kind == NK_I_METRIC_SVG ? v->opts.live_timeout
                                                            : e->timeout;
}

void attr_cache_init(vfs *v)
{
    pthread_mutex_init(&v->attr_mu, NULL);
    v->attr_keep = true;
}

void attr_cache_free(vfs *v)
{
    pthread_mutex_destroy(&v->attr_mu);
    free(v->attrs);
    v->attrs = NULL;
}

void vfs_keep_attrs(vfs *v, bool keep)
{
    pthread_mutex_lock(&v->attr_mu);
    v->attr_keep = keep;
    free(v->attrs);
    v->attrs = NULL;
    pthread_mutex_unlock(&v->attr_mu);
}

uint64_t attr_cache_gen(vfs *v)
{
    dd_store_stats s;
    if (!v->st)
        return 0;
    dd_store_stats_get(v->st, &s);
    return s.writes;
}

void attr_cache_put(vfs *v, const vfs_entry *e, uint64_t gen)
{
    double ttl = attr_ttl(v, e);
    if (ttl <= 0 || e->ino == 0)
        return;
    pthread_mutex_lock(&v->attr_mu);
    if (v->attr_keep && !v->attrs)
        v->attrs = calloc(ATTR_SLOTS, sizeof *v->attrs);   /* a failure: nothing kept */
    if (v->attr_keep && v->attrs) {
        struct attr_slot *s = &v->attrs[slot_of(e->ino)];
        s->e = *e;
        s->gen = gen;
        s->expires = mono_now() + ttl;
    }
    pthread_mutex_unlock(&v->attr_mu);
}

bool attr_cache_get(vfs *v, uint64_t ino, vfs_entry *out)
{
    bool hit = false;
    uint64_t gen = attr_cache_gen(v);
    pthread_mutex_lock(&v->attr_mu);
    if (v->attrs) {
        struct attr_slot *s = &v->attrs[slot_of(ino)];
        if (s->e.ino == ino && s->gen == gen && mono_now() < s->expires) {
            *out = s->e;
            hit = true;
        }
    }
    pthread_mutex_unlock(&v->attr_mu);
    return hit;
}
