/*
 * fuse_ll.h - the libfuse low-level operations table of DearDiary FS. The session's
 * userdata must be the vfs (vfs.h) the operations run against.
 */
#ifndef DD_FUSE_LL_H
#define DD_FUSE_LL_H

struct fuse_lowlevel_ops;

const struct fuse_lowlevel_ops *dd_fuse_ops(void);

#endif
