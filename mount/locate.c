/*
 * locate.c - map paths in DearDiary mounts to their database and back (see locate.h).
 */
#include "locate.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "store.h"

/* The database a mount root names, malloc'd; NULL when `dir` is not a mount root. */
static char *root_database(const char *dir)
{
    char buf[PATH_MAX];
    ssize_t n = getxattr(dir, DD_XATTR_DATABASE, buf, sizeof buf - 1);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    return strdup(buf);
}

int dd_locate_path(const char *path, dd_located *out)
{
    out->mnt = out->db = out->rel = NULL;
    char *abs = realpath(path, NULL);
    if (!abs)
        return 0;
    /* walk up from the path itself: the first directory that names a database is the
     * root of the mount the path is in */
    char *dir = strdup(abs);
    int rc = dir ? 0 : -1;
    while (dir) {
        char *db = root_database(dir);
        if (db) {
            size_t n = strlen(dir);
            const char *rel = abs + (n == 1 ? 1 : n);
            out->mnt = dir;
            out->db = db;
            out->rel = strdup(*rel == '/' ? rel + 1 : rel);
            rc = out->rel ? 1 : -1;
            break;
        }
        char *slash = strrchr(dir, '/');
        if (slash == dir && dir[1] == '\0') {
            free(dir);
            break;
        }
        slash[slash == dir ? 1 : 0] = '\0';
    }
    free(abs);
    if (rc != 1) {
        dd_located_free(out);
        return rc;
    }
    return 1;
}

/* Undo the octal escapes (\040 for a space...) of a /proc/self/mountinfo field in place. */
static void unescape_octal(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

/* The form two names of one registry share: a file's real path, a URI's canonical form. */
static char *registry_key(const char *db)
{
    if (!dd_locator_is_uri(db))
        return realpath(db, NULL);
    char *out = NULL;
    dd_err ignored;
    return dd_locator_canonical(db, &out, &ignored) == DD_OK ? out : NULL;
}

char *dd_locate_mount_of(const char *db)
{
    char *want = registry_key(db);
    FILE *f = want ? fopen("/proc/self/mountinfo", "re") : NULL;
    char *line = NULL, *found = NULL;
    size_t cap = 0;
    while (f && !found && getline(&line, &cap, f) > 0) {
        /* "<id> <parent> <maj:min> <root> <mountpoint> <options> [fields] - <type> ..." */
        char *sep = strstr(line, " - ");
        if (!sep || strncmp(sep + 3, "fuse.deardiary ", 15) != 0)
            continue;
        char *save = NULL, *field = strtok_r(line, " ", &save);
        for (int i = 0; field && i < 4; i++)
            field = strtok_r(NULL, " ", &save);
        if (!field)
            continue;
        unescape_octal(field);
        char *mdb = root_database(field);
        char *mdb_abs = mdb ? registry_key(mdb) : NULL;
        if (mdb_abs && strcmp(mdb_abs, want) == 0)
            found = strdup(field);
        free(mdb);
        free(mdb_abs);
    }
    free(line);
    if (f)
        fclose(f);
    free(want);
    return found;
}

void dd_located_free(dd_located *l)
{
    free(l->mnt);
    free(l->db);
    free(l->rel);
    l->mnt = l->db = l->rel = NULL;
}
