/*
 * placement.c - FUSE workers follow a lone caller that streams small writes (why: see
 * placement.h).
 *
 * The wanted placement is one atomic word: a generation in the high half, the CPU + 1
 * in the low half (0: no CPU, run anywhere). A worker can only move itself
 * (sched_setaffinity on thread 0), so each worker remembers the last generation it
 * applied and catches up at the start of its next request; workers that sit idle keep
 * their old mask until then, which costs nothing while they sleep.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include "placement.h"

/* Small writes in a row, by one thread with nobody else calling, before the workers
 * follow it: long enough that a shell's `echo >> file` never moves anything. */
#define FOLLOW_AFTER 64
/* While following, the thread's CPU mask is looked at again every this many writes. */
#define RESAMPLE_EVERY 1024
/* A write this large is bulk data (an artifact), not a stream of points. */
#define SMALL_WRITE 4096

struct dd_placement {
    cpu_set_t allowed;          /* the process's CPUs at start */
    _Atomic uint64_t want;      /* generation << 32 | (cpu + 1); low half 0 = anywhere */
    _Atomic uint32_t followed;  /* the thread being followed, 0 when none */
    pthread_mutex_t mu;         /* guards the run below and changes of `want` */
    uint32_t run_pid;           /* whose small writes are being counted */
    uint64_t run_len;
};

/* The generation of `want` this worker thread last applied. Per thread by nature: a
 * thread can only change its own CPU mask cheaply, so it alone knows whether it has. */
static _Thread_local uint32_t applied_gen;

dd_placement *dd_placement_new(void)
{
    dd_placement *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    if (sched_getaffinity(0, sizeof p->allowed, &p->allowed) != 0) {
        /* unknown: never pin (want stays "anywhere" and there is nothing to restore) */
        CPU_ZERO(&p->allowed);
    }
    pthread_mutex_init(&p->mu, NULL);
    return p;
}

void dd_placement_free(dd_placement *p)
{
    if (!p)
        return;
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* The one CPU thread `pid` is pinned to, or -1 when it may run on several (or is gone).
 * Only a pinned caller is followed: an unpinned one is moved by the scheduler to whichever
 * CPU is idle when it wakes, which is never the busy CPU of the worker that woke it, so
 * following it would only chase it (measured: 11k-17k points/s instead of 20k). */
static int pinned_cpu(uint32_t pid)
{
    cpu_set_t set;
    if (sched_getaffinity((pid_t)pid, sizeof set, &set) != 0 || CPU_COUNT(&set) != 1)
        return -1;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET(cpu, &set))
            return cpu;
    return -1;
}

/* Publish a new wanted placement (mu held): CPU `cpu` following `pid`, or anywhere. */
static void want_locked(dd_placement *p, int cpu, uint32_t pid)
{
    uint32_t gen = (uint32_t)(atomic_load(&p->want) >> 32) + 1;
    atomic_store(&p->followed, cpu >= 0 ? pid : 0);
    atomic_store(&p->want, (uint64_t)gen << 32 | (uint32_t)(cpu + 1));
}

static void let_go_locked(dd_placement *p)
{
    if (atomic_load(&p->followed))
        want_locked(p, -1, 0);
    p->run_len = 0;
}

/* Move the calling worker where `want` says, once per generation. A failure (a CPU
 * taken away by a cpuset) leaves the thread where it is: placement is only a speed-up. */
static void apply(dd_placement *p)
{
    uint64_t w = atomic_load(&p->want);
    uint32_t gen = (uint32_t)(w >> 32);
    if (gen == applied_gen)
        return;
    applied_gen = gen;
    uint32_t cpu1 = (uint32_t)w;
    if (cpu1) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu1 - 1, &one);
        (void)sched_setaffinity(0, sizeof one, &one);
    } else if (CPU_COUNT(&p->allowed)) {
        (void)sched_setaffinity(0, sizeof p->allowed, &p->allowed);
    }
}

void dd_placement_request(dd_placement *p, uint32_t pid)
{
    uint32_t followed = atomic_load(&p->followed);
    if (followed && pid && pid != followed) {
        pthread_mutex_lock(&p->mu);
        let_go_locked(p);
        pthread_mutex_unlock(&p->mu);
    }
    apply(p);
}

/* Follow `pid` (mu held) if it runs on a CPU we may use and there is a choice at all. */
static void follow_locked(dd_placement *p, uint32_t pid)
{
    if (CPU_COUNT(&p->allowed) < 2)
        return;
    int cpu = pinned_cpu(pid);
    if (cpu < 0 || !CPU_ISSET(cpu, &p->allowed))
        return;
    uint64_t w = atomic_load(&p->want);
    if (atomic_load(&p->followed) == pid && (uint32_t)w == (uint32_t)(cpu + 1))
        return;   /* already there: keep the generation, so no worker moves */
    want_locked(p, cpu, pid);
}

void dd_placement_write(dd_placement *p, uint32_t pid, size_t size)
{
    if (!pid)
        return;
    pthread_mutex_lock(&p->mu);
    if (size > SMALL_WRITE) {
        let_go_locked(p);
    } else {
        if (pid != p->run_pid) {
            let_go_locked(p);
            p->run_pid = pid;
        }
        p->run_len++;
        if (p->run_len == FOLLOW_AFTER ||
            (p->run_len > FOLLOW_AFTER && p->run_len % RESAMPLE_EVERY == 0))
            follow_locked(p, pid);
    }
    pthread_mutex_unlock(&p->mu);
    apply(p);
}

int dd_placement_cpu(dd_placement *p)
{
    return (int)(uint32_t)atomic_load(&p->want) - 1;
}
