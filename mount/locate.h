/*
 * locate.h - finding the database behind a path in a DearDiary mount, and the mount of a
 * database, for the commands that take either (`run`, `restore`).
 *
 * The root of every mount answers the extended attribute user.deardiary.database with
 * the absolute path of its database file (fs/ops.c); nothing else is needed, and a
 * path in any other filesystem simply has no such attribute.
 */
#ifndef DD_LOCATE_H
#define DD_LOCATE_H

#define DD_XATTR_DATABASE "user.deardiary.database"

typedef struct dd_located {
    char *mnt;   /* the mount root, absolute (malloc'd) */
    char *db;    /* its database file (malloc'd) */
    char *rel;   /* the path below the root, without leading '/' ("" for the root) */
} dd_located;

/* If `path` exists inside a DearDiary mount, fill *out and return 1; 0 when it does not
 * exist or is not in a mount; -1 when out of memory. */
int dd_locate_path(const char *path, dd_located *out);

/* The root of a mounted filesystem serving database `db` (malloc'd), or NULL. */
char *dd_locate_mount_of(const char *db);

void dd_located_free(dd_located *l);

#endif
