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
    /* A single-user mount's modes as the kernel is shown them (NULL: the vfs's): a remote
     * mount's write bits from the token's rights (access.h acc_rights_mode). Applied to
     * what is reported only, so the vfs's own checks keep the modes it made. */
    void (*modes)(struct vfs *v, uint64_t ino, struct stat *st);
} dd_fuse_ctx;

const struct fuse_lowlevel_ops *dd_fuse_ops(void);

#endif
