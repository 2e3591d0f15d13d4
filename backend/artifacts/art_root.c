/*
 * art_root.c - the registry's recorded artifact root (schema/sqlite/015_artifact_root.sql,
 * artifacts.h "The recorded root"): the row that says where "auto" puts a registry's
 * large artifacts when no artifacts.filesystem.root is configured, and the marker file
 * that tells a process whether the directory it sees at that path is that registry's
 * (a node that does not mount the shared root sees an empty or absent directory there,
 * and must not start a second tree on its own disk).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "art_int.h"

#define MARKER ".deardiary-registry"

/* Registries below schema 015 (a read-only open of an older one) record nothing. */
enum { ROOT_SCHEMA = 15 };

dd_code dd_artifacts_recorded_root(dd_store *st, char **out, dd_err *err)
{
    *out = NULL;
    int version = 0;
    dd_code code = dd_schema_version(st, &version, err);
    if (code != DD_OK || version < ROOT_SCHEMA)
        return code;
    dd_conn *c;
    db_stmt *s;
    bool row = false;
    code = db_conn(st, &c, err);
    if (code == DD_OK)
        code = db_prep(c, &s, err, "SELECT artifact_root FROM registry WHERE id = 1", NULL);
    if (code == DD_OK)
        code = db_step(c, s, &row, "reading the registry's artifact root", err);
    if (code == DD_OK && row && !db_col_is_null(s, 0)) {
        *out = db_col_dup(s, 0);
        if (!*out)
            code = dd_fail(err, DD_IO, "out of memory");
    }
    if (code == DD_OK)
        db_reset(s);
    return code;
}

dd_code dd_artifacts_default_root(dd_store *st, char **out, dd_err *err)
{
    *out = NULL;
    const char *uuid = db_registry_uuid(st);
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    if (!uuid || strlen(uuid) != 36)
        return dd_fail(err, DD_INVALID, "the registry has no uuid yet");
    int n = xdg && xdg[0] == '/'    /* the XDG spec: a relative value is ignored */
        ? asprintf(out, "%s/deardiary/artifacts/%s", xdg, uuid)
        : home && home[0] == '/'
        ? asprintf(out, "%s/.local/share/deardiary/artifacts/%s", home, uuid) : -2;
    if (n == -2)
        return dd_fail(err, DD_INVALID, "neither XDG_DATA_HOME nor HOME names a directory:"
                       " give the artifact root (--artifact-root DIR)");
    if (n < 0) {
        *out = NULL;
        return dd_fail(err, DD_IO, "out of memory");
    }
    return DD_OK;
}

/* What the marker in `root` holds (a uuid, 36 characters), "" when it is absent; -1 with
 * errno when it cannot be read. */
static int read_marker(const char *root, char uuid[37])
{
    uuid[0] = 0;
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/" MARKER, root) >= (int)sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    char buf[64];
    ssize_t got = read(fd, buf, sizeof buf - 1);
    int saved = errno;
    close(fd);
    if (got < 0) {
        errno = saved;
        return -1;
    }
    buf[got] = 0;
    buf[strcspn(buf, "\n")] = 0;
    if (strlen(buf) == 36)
        memcpy(uuid, buf, 37);
    else
        snprintf(uuid, 37, "?");   /* not a uuid: no registry's */
    return 0;
}

bool dd_artifacts_root_marked(dd_store *st, const char *root, char *why, size_t why_len)
{
    why[0] = 0;
    struct stat sb;
    char held[37];
    const char *uuid = db_registry_uuid(st);
    if (stat(root, &sb) != 0)
        snprintf(why, why_len, "%s", strerror(errno));
    else if (!S_ISDIR(sb.st_mode))
        snprintf(why, why_len, "not a directory");
    else if (read_marker(root, held) != 0)
        snprintf(why, why_len, "cannot read its %s: %s", MARKER, strerror(errno));
    else if (!held[0])
        snprintf(why, why_len, "no %s marker: not mounted here?", MARKER);
    else if (strcmp(held, uuid) != 0)
        snprintf(why, why_len, "its %s marker names registry %s", MARKER, held);
    return why[0] == 0;
}

/* Put `uuid` in the marker (atomically: a temporary file, fsync, rename). */
static dd_code put_marker(const char *root, const char *uuid, dd_err *err)
{
    char tmp[PATH_MAX], path[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/" MARKER ".%d", root, (int)getpid());
    snprintf(path, sizeof path, "%s/" MARKER, root);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    bool ok = fd >= 0 && dprintf(fd, "%s\n", uuid) == 37 && fsync(fd) == 0;
    int saved = errno;
    if (fd >= 0)
        close(fd);
    if (ok && rename(tmp, path) == 0)
        return DD_OK;
    saved = ok ? errno : saved;
    unlink(tmp);
    return dd_fail(err, DD_IO, "cannot write %s: %s", path, strerror(saved));
}

/* Write this registry's marker, or find it there (another registry's: DD_CONFLICT). */
static dd_code write_marker(dd_store *st, const char *root, dd_err *err)
{
    char held[37];
    const char *uuid = db_registry_uuid(st);
    if (read_marker(root, held) != 0)
        return dd_fail(err, DD_IO, "cannot read %s/" MARKER ": %s", root, strerror(errno));
    if (held[0])
        return strcmp(held, uuid) == 0 ? DD_OK
            : dd_fail(err, DD_CONFLICT, "%s holds the artifacts of another registry (its "
                      MARKER " says %s): give another directory", root, held);
    return put_marker(root, uuid, err);
}

dd_code dd_artifacts_root_follow_uuid(dd_store *src, dd_store *dst, dd_err *err)
{
    char *root = NULL, why[600];
    dd_code code = dd_artifacts_recorded_root(dst, &root, err);
    /* only a marker that held DST's own uuid as DST was opened: never another's */
    if (code == DD_OK && root && dd_artifacts_root_marked(dst, root, why, sizeof why) &&
        strcmp(db_registry_uuid(src), db_registry_uuid(dst)) != 0)
        code = put_marker(root, db_registry_uuid(src), err);
    free(root);
    return code;
}

/* The row: set when none is recorded. *taken: another root was recorded first. */
static dd_code record_row(dd_store *st, const char *root, bool *taken, dd_err *err)
{
    int64_t changed = 0;
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        t.code = db_exec(t.c, err, "recording the artifact root", "UPDATE registry SET"
                         " artifact_root = ? WHERE id = 1 AND artifact_root IS NULL", "t", root);
        changed = t.code == DD_OK ? db_changes(t.c) : 0;
    }
    *taken = t.code == DD_OK && changed != 1;
    return t.code;
}

dd_code dd_artifacts_record_root(dd_store *st, const char *root, char **out, dd_err *err)
{
    *out = NULL;
    char *have = NULL, *abs = NULL;
    dd_code code = dd_artifacts_recorded_root(st, &have, err);
    if (code == DD_OK && have) {
        *out = have;
        return DD_OK;
    }
    if (code == DD_OK && art_make_dirs(root, 0700) != 0)
        code = dd_fail(err, DD_IO, "cannot create the artifact root %s: %s", root,
                       strerror(errno));
    if (code == DD_OK && !(abs = realpath(root, NULL)))
        code = dd_fail(err, DD_IO, "cannot resolve %s: %s", root, strerror(errno));
    if (code == DD_OK)
        code = write_marker(st, abs, err);
    bool taken = false;
    if (code == DD_OK)
        code = record_row(st, abs, &taken, err);
    if (code == DD_OK && taken) {   /* another init won the race: its root stands */
        free(abs);
        return dd_artifacts_recorded_root(st, out, err);
    }
    if (code == DD_OK)
        *out = abs;
    else
        free(abs);
    return code;
}
