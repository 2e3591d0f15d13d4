/*
 * vfs.h - the filesystem core: the DearDiary tree as inodes, directory listings, file
 * contents and writes, with every operation returning 0 or -errno. It knows the store
 * (store.h) and nothing of libfuse; fuse_ll.c adapts it to the kernel, and unit tests
 * call it directly without mounting.
 *
 * Inodes are derived, not allocated: ino = (kind << 48) | row id, where kind says what
 * the node is (a project directory, an iteration's status file, a metric series...) and
 * the row id which entity it belongs to. The same node always has the same inode number,
 * across lookups and across mounts.
 */
#ifndef DD_VFS_H
#define DD_VFS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "buf.h"
#include "store.h"

typedef struct vfs vfs;

/* One directory entry or lookup result. */
typedef struct vfs_entry {
    uint64_t ino;
    struct stat st;
    double timeout;       /* seconds the kernel may trust the name and attributes */
} vfs_entry;

/* When close() and fsync() of a metric file return (config `metrics.close_waits`). */
typedef enum vfs_close_waits {
    VFS_CLOSE_WAITS_ENGINE = 0,   /* journal on a server registry, commit on a SQLite file */
    VFS_CLOSE_WAITS_COMMIT,       /* once the file's points are committed */
    VFS_CLOSE_WAITS_JOURNAL,      /* once they are in this node's journal (every batch) */
} vfs_close_waits;

typedef struct vfs_options {
    double live_timeout;       /* entry/attr timeout for things that change; default 0.5 */
    double immutable_timeout;  /* for things that never change (ended iterations); 60 */
    vfs_close_waits close_waits;   /* ENGINE is resolved when the store is known */
} vfs_options;

struct dd_artifacts;

/* Create the core over an open store and its artifact stores (neither owned; arts may be
 * NULL: resources then refuse new bytes). NULL on out-of-memory. */
vfs *vfs_new(dd_store *st, struct dd_artifacts *arts, const vfs_options *opts);
void vfs_free(vfs *v);
/* Give a core created with a NULL store its store and artifacts (the daemon opens them
 * after forking, once the mount is in place). */
void vfs_attach(vfs *v, dd_store *st, struct dd_artifacts *arts);
/* Whether vfs_getattr may answer from the attributes a listing just reported (default
 * true; fs/attr_cache.c). A shared mount, whose kernel caches nothing so that each
 * caller's request is checked, turns it off: every getattr then asks the store. */
void vfs_keep_attrs(vfs *v, bool keep);

#define VFS_ROOT_INO 1

/* The largest write request the filesystem takes (FUSE max_write; fuse_ll.c asks for it):
 * a longer write() reaches vfs_write in pieces of at most this size. */
#define DD_FUSE_MAX_WRITE ((size_t)1 << 20)

int vfs_lookup(vfs *v, uint64_t parent, const char *name, vfs_entry *out);
int vfs_getattr(vfs *v, uint64_t ino, vfs_entry *out);
struct vfs_file;
/* getattr through an open file (fstat, or the kernel checking the size while reading):
 * an artifact reader answers with the size of the bytes it reads, even when the
 * resource has since been replaced (f may be NULL). */
int vfs_getattr_open(vfs *v, uint64_t ino, struct vfs_file *f, vfs_entry *out);

/* Directory listing: the callback gets each entry (name, entry) in a stable order, files
 * before subdirectories (so `rm -r` meets an entity's own files first); a non-zero
 * return stops. "." and ".." are not included. */
typedef int (*vfs_dir_cb)(void *ctx, const char *name, const vfs_entry *e);
int vfs_readdir(vfs *v, uint64_t ino, vfs_dir_cb cb, void *ctx);

/* A symlink's complete target, NUL-terminated, into buf: never cut short. A target that
 * does not fit in len bytes fails with -ENAMETOOLONG; VFS_LINK_MAX bytes always suffice
 * (the longest target, a version's `resource`, holds two names of at most DD_NAME_MAX). */
#define VFS_LINK_MAX 4096
int vfs_readlink(vfs *v, uint64_t ino, char *buf, size_t len);

int vfs_mkdir(vfs *v, uint64_t parent, const char *name, vfs_entry *out);
/* vfs_mkdir by DearDiary user `creator` (0: the seeded `default`): a new project gives its
 * creator the original's default permission row, in the creating transaction. */
int vfs_mkdir_as(vfs *v, uint64_t parent, const char *name, int64_t creator, vfs_entry *out);
/* `caller` is the requesting thread (as FUSE reports it): an `rm -r` in progress (see
 * ops.c) belongs to the process (thread group) that started it, all of its threads, and
 * does not change what other processes' removals do. vfs_listed records that `caller`
 * opened directory `ino` for listing (opendir): only a process that listed an entity's
 * directory may start its `rm -r` by unlinking one of the entity's own files; a lone
 * unlink of such a file (`rm R/notes`) is EPERM. */
void vfs_listed(vfs *v, uint64_t ino, pid_t caller);
int vfs_rmdir(vfs *v, uint64_t parent, const char *name, pid_t caller);
int vfs_unlink(vfs *v, uint64_t parent, const char *name, pid_t caller);
/* flags: RENAME_NOREPLACE / RENAME_EXCHANGE as in renameat2. */
int vfs_rename(vfs *v, uint64_t parent, const char *name, uint64_t newparent,
               const char *newname, unsigned flags);
/* vfs_rename by DearDiary user `user_id` (0: not known): an editor's temporary file renamed
 * over a version's `stage` is a stage change, which the stage history says they made. */
int vfs_rename_as(vfs *v, uint64_t parent, const char *name, uint64_t newparent,
                  const char *newname, unsigned flags, int64_t user_id);
int vfs_symlink(vfs *v, uint64_t parent, const char *name, const char *target, vfs_entry *out);

/* An open file. */
typedef struct vfs_file vfs_file;

typedef struct vfs_open_info {
    bool direct_io;    /* generated content: bypass the page cache */
    bool keep_cache;   /* immutable content: keep the page cache across opens */
} vfs_open_info;

/* `flags` are open(2) flags. create: make `name` in `parent` (O_CREAT) and open it. */
int vfs_open(vfs *v, uint64_t ino, int flags, vfs_file **out, vfs_open_info *info);
int vfs_create(vfs *v, uint64_t parent, const char *name, int flags, vfs_file **out,
               vfs_entry *entry, vfs_open_info *info);
/* The DearDiary user who opened `f` (a shared mount's user mapping; 0, the default, when
 * not known): the stage history names them for a stage written or a version registered
 * through the handle. */
void vfs_file_set_user(vfs_file *f, int64_t user_id);
/* Read up to `size` bytes at `off` into `out` (appended). */
int vfs_read(vfs *v, vfs_file *f, off_t off, size_t size, dd_buf *out);
/* vfs_read without copying into a buffer, for files whose reader holds the bytes in
 * memory of its own (artifacts.h dd_artifact_pread_with): `take` gets them as 0 to 2 runs,
 * valid until it returns. 1 when taken; 0 when this file or read cannot (nothing taken:
 * use vfs_read); -errno on failure (nothing taken). When `take` replies to the kernel,
 * the handle may be released on another thread at once: vfs_read_with keeps it until it
 * returns, and after a 1 the caller must not touch `f` again. */
typedef void (*vfs_take)(void *ctx, const struct iovec *iov, int n);
int vfs_read_with(vfs *v, vfs_file *f, off_t off, size_t size, vfs_take take, void *ctx);
/* Returns the byte count accepted or -errno; a refused write stores nothing. */
ssize_t vfs_write(vfs *v, vfs_file *f, off_t off, const char *data, size_t size);
/* Commit what the handle still holds; may be called several times. `caller` is the
 * process closing the file: an artifact upload closed because its writer was killed by a
 * signal is discarded, not committed (an interrupted `cp` leaves nothing). A metric
 * rewrite that left out points is refused here with -EINVAL (files.c, "rewrites"). */
int vfs_flush(vfs *v, vfs_file *f, pid_t caller);
/* fsync: commit what the handle holds, as flush does, without closing anything (a metric
 * rewrite is judged complete at flush, not here). */
int vfs_fsync(vfs *v, vfs_file *f);
/* The whole new text of metrics/<key> of an iteration, as a rename over the file delivers
 * it (an editor's or `sed -i`'s temporary file): a rewrite (files.c, "rewrites") whatever
 * its first line. Points it repeats are skipped, lines past the last point appended in one
 * transaction; -EINVAL, nothing stored, when it changes, reorders or leaves out points or
 * holds a bad line. A key with no points takes every line as new. */
int vfs_metric_rewrite(vfs *v, int64_t iteration_id, const char *key, const char *text,
                       size_t len);
/* Commit (errors only logged by the caller) and free the handle. */
int vfs_release(vfs *v, vfs_file *f);

/* setattr: `size` >= 0 truncates (only to 0, meaning "a new value follows");
 * mode changes must keep the mode; times are accepted and ignored. f may be NULL. */
int vfs_truncate(vfs *v, uint64_t ino, vfs_file *f, off_t size);
int vfs_chmod(vfs *v, uint64_t ino, mode_t mode);

/* Extended attributes (user.deardiary.*). size 0 asks for the length. */
ssize_t vfs_getxattr(vfs *v, uint64_t ino, const char *name, char *buf, size_t size);
ssize_t vfs_listxattr(vfs *v, uint64_t ino, char *buf, size_t size);

/* statfs: the filesystem that holds the database (its directory), so `df` on the mount
 * shows the space the registry can still grow into; names up to DD_NAME_MAX. */
struct statvfs;
int vfs_statfs(vfs *v, struct statvfs *out);

/* The errno that a store error becomes. */
int vfs_errno(dd_code code);

#endif /* DD_VFS_H */
