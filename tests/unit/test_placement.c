/*
 * test_placement.c - fs/placement.c without a mount: a "worker" thread handles the
 * requests of a "caller" thread (the main thread, whose thread id the requests carry),
 * and the worker's own CPU mask shows where the placement moved it. Needs two CPUs; with
 * one, only the never-follow cases run.
 */
#include <pthread.h>
#include <sched.h>
#include <sys/types.h>
#include <unistd.h>

#include "check.h"
#include "placement.h"

typedef struct scene {
    dd_placement *p;
    uint32_t caller;     /* the main thread's id */
    int cpu;             /* the CPU the caller is pinned to, or -1 (not pinned) */
    cpu_set_t all;       /* the process's CPUs */
} scene;

static bool mask_is(const cpu_set_t *want)
{
    cpu_set_t now;
    return sched_getaffinity(0, sizeof now, &now) == 0 && CPU_EQUAL(&now, want);
}

static bool mask_is_one(int cpu)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    return mask_is(&one);
}

/* The caller's n small writes, as a worker sees them: the request, then the write. */
static void writes(scene *s, int n, size_t size)
{
    for (int i = 0; i < n; i++) {
        dd_placement_request(s->p, s->caller);
        dd_placement_write(s->p, s->caller, size);
    }
}

/* Worker side of a caller that is not pinned: nothing moves, however long the run. */
static void *unpinned_worker(void *arg)
{
    scene *s = arg;
    writes(s, 5000, 4);
    CHECK(dd_placement_cpu(s->p) == -1);
    CHECK(mask_is(&s->all));
    return NULL;
}

/* Worker side of a caller pinned to s->cpu. */
static void *pinned_worker(void *arg)
{
    scene *s = arg;
    /* a daemon's worker may run anywhere (this thread inherited the pinned caller's mask) */
    CHECK(sched_setaffinity(0, sizeof s->all, &s->all) == 0);
    writes(s, 63, 4);
    CHECK(dd_placement_cpu(s->p) == -1);     /* a short run: an `echo >>` moves nothing */
    CHECK(mask_is(&s->all));
    writes(s, 1, 4);
    CHECK(dd_placement_cpu(s->p) == s->cpu); /* the 64th: follow */
    CHECK(mask_is_one(s->cpu));

    dd_placement_request(s->p, 1);           /* anybody else calls: let go */
    CHECK(dd_placement_cpu(s->p) == -1);
    CHECK(mask_is(&s->all));
    dd_placement_request(s->p, 0);           /* the kernel's own requests change nothing */
    CHECK(dd_placement_cpu(s->p) == -1);

    writes(s, 64, 4);                        /* a new run follows again */
    CHECK(dd_placement_cpu(s->p) == s->cpu);
    writes(s, 1, 1 << 20);                   /* a bulk write lets go */
    CHECK(dd_placement_cpu(s->p) == -1);
    CHECK(mask_is(&s->all));

    writes(s, 2000, 4);                      /* long runs stay put: no churn */
    CHECK(dd_placement_cpu(s->p) == s->cpu);
    CHECK(mask_is_one(s->cpu));
    dd_placement_write(s->p, 1, 4);          /* another thread's write ends the run */
    CHECK(dd_placement_cpu(s->p) == -1);
    dd_placement_request(s->p, s->caller);
    CHECK(mask_is(&s->all));
    return NULL;
}

static void run_worker(scene *s, void *(*fn)(void *))
{
    pthread_t t;
    CHECK(pthread_create(&t, NULL, fn, s) == 0);
    pthread_join(t, NULL);
}

int main(void)
{
    scene s = {.caller = (uint32_t)gettid()};
    CHECK(sched_getaffinity(0, sizeof s.all, &s.all) == 0);

    s.p = dd_placement_new();
    CHECK(s.p != NULL);
    run_worker(&s, unpinned_worker);
    dd_placement_free(s.p);

    if (CPU_COUNT(&s.all) >= 2) {
        for (int c = CPU_SETSIZE - 1; c >= 0; c--)   /* the last CPU we may use */
            if (CPU_ISSET(c, &s.all)) {
                s.cpu = c;
                break;
            }
        s.p = dd_placement_new();                    /* made while we may use them all */
        CHECK(s.p != NULL);
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(s.cpu, &one);
        CHECK(sched_setaffinity(0, sizeof one, &one) == 0);
        run_worker(&s, pinned_worker);
        CHECK(sched_setaffinity(0, sizeof s.all, &s.all) == 0);
        dd_placement_free(s.p);
    } else {
        fprintf(stderr, "test_placement: one CPU, the follow cases are skipped\n");
    }
    return check_done();
}
