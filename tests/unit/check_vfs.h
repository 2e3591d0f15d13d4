/*
 * check_vfs.h - walking the pure filesystem core (fs/vfs.h) by path in unit tests, as the
 * kernel would by one lookup per component.
 */
#ifndef DD_CHECK_VFS_H
#define DD_CHECK_VFS_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "vfs.h"

/* The inode at `path` (components separated by '/', relative to the root), or 0 when a
 * lookup along the way fails. */
static inline uint64_t check_walk(vfs *v, const char *path)
{
    uint64_t ino = VFS_ROOT_INO;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *save = NULL, *part = strtok_r(buf, "/", &save); part;
         part = strtok_r(NULL, "/", &save)) {
        vfs_entry e;
        if (vfs_lookup(v, ino, part, &e) != 0)
            return 0;
        ino = e.ino;
    }
    return ino;
}

#endif
