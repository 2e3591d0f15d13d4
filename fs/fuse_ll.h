/*
 * fuse_ll.h - the libfuse low-level operations table of DearDiary FS. The session's
 * userdata must be a dd_fuse_ctx: the vfs (vfs.h) the operations run against, and where
 * the worker threads run (placement.h).
 */
#ifndef DD_FUSE_LL_H
#define DD_FUSE_LL_H

#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>

struct fuse_lowlevel_ops;
struct vfs;
struct dd_placement;
struct dd_access;

typedef struct dd_fuse_ctx {
    struct vfs *v;
    struct dd_placement *place;   /* NULL: workers run wherever the scheduler puts them */
    struct dd_access *acc;        /* a shared mount's checks (access.h); NULL: none, and
                                     the kernel caches as on any single-user mount */
    /* A single-user mount's modes as the kernel is shown them (NULL: the vfs's): a remote
     * mount's write bits from the token's rights (access.h acc_rights_mode). Applied to
     * what is reported only, so the vfs's own checks keep the modes it made. */
    void (*modes)(struct vfs *v, uint64_t ino, struct stat *st);
    /* The listings open from opendir to releasedir, under dirs_mu: a session can end
     * before the kernel's last RELEASEDIR is read (it is sent asynchronously; a SIGTERM
     * ends the loop at once), and dd_fuse_ctx_end frees what is left. */
    struct dd_dlink *dirs;        /* dir_snap.link (dlist.h) */
    pthread_mutex_t dirs_mu;
} dd_fuse_ctx;

/* Make the parts of `c` the operations keep (c's other fields are the caller's). 0, or
 * -1 when a mutex cannot be made. */
int dd_fuse_ctx_init(dd_fuse_ctx *c);
/* After the session has ended: free the listings no RELEASEDIR came for. */
void dd_fuse_ctx_end(dd_fuse_ctx *c);

const struct fuse_lowlevel_ops *dd_fuse_ops(void);

#endif
