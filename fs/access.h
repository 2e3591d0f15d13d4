/*
 * access.h - who may do what on a shared mount (`-o allow_other`): the DearDiary user a
 * caller's uid is, that user's rights on the project a node belongs to, and the decision
 * for one operation (README "Users and permissions").
 *
 * The decision itself is pure (acc_decide, acc_mode: no store, no clock) and unit tested
 * without a mount; dd_access adds the two lookups around it: uid -> DearDiary user (the
 * mounting account and root act as `mount_as`, then the configured map, then the login
 * name), with the user's admin flag and permission rows cached for one second; and node
 * -> project (one indexed store query, dd_project_of). fuse_ll.c calls it before each
 * vfs_* call; a single-user mount has no dd_access and checks nothing.
 *
 * Threads: a dd_access is shared by every FUSE worker; its cache has its own lock.
 */
#ifndef DD_ACCESS_H
#define DD_ACCESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "store.h"

struct vfs;

/* Operation families. */
typedef enum acc_op {
    ACC_SEE,      /* lookup, stat, readlink: the node exists for this caller */
    ACC_READ,     /* open for reading, list a directory, read xattrs */
    ACC_CREATE,   /* mkdir, new files, clone files (iterations/new, versions/new/...) */
    ACC_UPDATE,   /* write existing values, append to a series, stage, aliases, renames */
    ACC_DELETE,   /* rm, rmdir, rm -r, detaching tags */
    ACC_ADMIN,    /* creating and renaming projects */
} acc_op;

/* What one caller may do in one project (or outside any: project 0). */
typedef struct acc_rights {
    int64_t user_id;      /* the caller's DearDiary user, 0 for none (the creator of a
                             project made through the mount gets its default rights) */
    bool admin;
    bool read, create, update, del;
} acc_rights;

/* 0, -ENOENT (the project is invisible to the caller: no read right) or -EACCES.
 * Outside any project (project_id 0: /, /projects, /models) everyone may see and read,
 * and only an admin may do anything else. An admin may do everything everywhere. */
int acc_decide(acc_rights r, int64_t project_id, acc_op op);

/* stat as the caller sees it: owned by the caller (uid, gid), the write bits kept only
 * where the caller may change the node (directories: create in it; files: update it). */
void acc_mode(acc_rights r, int64_t project_id, uid_t uid, gid_t gid, struct stat *st);

/* Which family an operation is, where that depends on the node (pure, from the inode):
 * a lookup in versions/new/ registers (create); opening a clone file creates, opening for
 * writing updates (a file created but not stored yet: creates); removing an alias is an
 * update; mkdir in /projects and renames there are for admins. */
acc_op acc_lookup_op(uint64_t parent);
acc_op acc_open_op(uint64_t ino, int flags);
acc_op acc_remove_op(uint64_t child);
acc_op acc_mkdir_op(uint64_t parent);
/* Is `dir` the project list (/projects), whose entries are projects? */
bool acc_is_project_list(uint64_t dir);

/* A remote mount's modes (docs/REMOTE.md §6; a vfs_mode_fn): acc_mode with the rights of
 * the store's one user (dd_user_find, dd_permission_list: the remote store answers them
 * from its listings for the token's user), so a file is 0644 where it may update and
 * 0444 otherwise, a directory 0755 where it may create in it and 0555 otherwise. Advice
 * for `ls -l` and tools: the server decides each request. A node whose project cannot be
 * found shows no write bit. */
void acc_rights_mode(struct vfs *v, uint64_t ino, struct stat *st);

/* ---------------------------------------------------------------- the context */

typedef struct acc_map_entry {
    uid_t uid;
    char *username;
} acc_map_entry;

typedef struct acc_options {
    uid_t mount_uid;          /* the account that mounted; it and root act as mount_as */
    const char *mount_as;     /* a DearDiary username ("default") */
    bool unknown_read;        /* a caller with no DearDiary user may read everything */
    const acc_map_entry *map; /* explicit uid -> username, searched before login names */
    size_t n_map;
} acc_options;

typedef struct dd_access dd_access;

/* NULL when out of memory. Copies everything in `o`. */
dd_access *acc_new(const acc_options *o);
void acc_free(dd_access *a);

/* The caller's rights on the project of node `ino`, which *project_out receives (0 for
 * nodes outside projects). -ENOENT when the node's row is gone, -EIO when the store
 * fails (logged). */
int acc_resolve(dd_access *a, struct vfs *v, uid_t uid, uint64_t ino, int64_t *project_out,
                acc_rights *out);

/* acc_resolve then acc_decide; with `st` the allowed node's attributes are adjusted by
 * acc_mode for (uid, gid). */
int acc_check(dd_access *a, struct vfs *v, uid_t uid, gid_t gid, uint64_t ino, acc_op op,
              struct stat *st);

#endif
