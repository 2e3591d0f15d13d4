/*
 * placement.h - where the FUSE worker threads run: on the CPU of a lone caller that is
 * pinned to one CPU and streams small writes (one metric point per write() on a
 * held-open file), anywhere otherwise.
 *
 * Each small write is a FUSE round trip: the caller sleeps until a worker has answered.
 * When the caller and the worker sit on different CPUs, every round trip wakes a CPU
 * from idle twice, and on a virtual machine each of those wake-ups is an exit to the
 * hypervisor. Measured on the 2-vCPU VM of BENCHMARKS.md, a FUSE server that answers
 * writes without doing anything reaches 31k-50k writes/s across CPUs and 100k/s on the
 * caller's CPU; the kernel does not route requests by CPU (FUSE over io_uring does, but
 * needs a newer libfuse and is off by default). So once one thread pinned to a single
 * CPU (taskset, numactl, Slurm's --cpu-bind, Kubernetes' static CPU manager: how training
 * jobs are often run) has sent a long run of small writes with nobody else calling, the
 * workers move to its CPU; the first request from anyone else, or a large write, lets
 * them go again. An unpinned caller is left alone: the scheduler wakes it on whichever
 * CPU is idle, so there is no CPU to follow it to.
 */
#ifndef DD_PLACEMENT_H
#define DD_PLACEMENT_H

#include <stddef.h>
#include <stdint.h>

typedef struct dd_placement dd_placement;

/* A placement that remembers the CPUs this process may use now (an unpinned worker goes
 * back to all of them). NULL on out-of-memory. */
dd_placement *dd_placement_new(void);
void dd_placement_free(dd_placement *p);

/* Called by a worker at the start of each request from thread `pid` (0: the kernel's own
 * requests): moves the calling thread where the placement currently wants workers, and
 * ends a follow when a thread other than the followed one calls. Cheap when nothing
 * changes: one atomic load. */
void dd_placement_request(dd_placement *p, uint32_t pid);

/* A write of `size` bytes by thread `pid`: counts a run of small writes by one thread;
 * once the run is long and the thread is pinned to one CPU, the workers follow it there
 * (its mask is looked at again now and then: it may be re-pinned). A large write ends a follow: bulk copies want both CPUs. */
void dd_placement_write(dd_placement *p, uint32_t pid, size_t size);

/* The CPU the workers follow, or -1 (for tests and the log). */
int dd_placement_cpu(dd_placement *p);

#endif
