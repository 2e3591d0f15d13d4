/*
 * fuse_ll.h - the libfuse low-level operations table of DearDiary FS. The session's
 * userdata must be a dd_fuse_ctx: the vfs (vfs.h) the operations run against, and where
 * the worker threads run (placement.h).
 */
#ifndef DD_FUSE_LL_H
#define DD_FUSE_LL_H

struct fuse_lowlevel_ops;
struct vfs;
struct dd_placement;
struct dd_access;

typedef struct dd_fuse_ctx {
    struct vfs *v;
    struct dd_placement *place;   /* NULL: workers run wherever the scheduler puts them */
    struct dd_access *acc;        /* a shared mount's checks (access.h); NULL: none, and
                                     the kernel caches as on any single-user mount */
} dd_fuse_ctx;

const struct fuse_lowlevel_ops *dd_fuse_ops(void);

#endif
