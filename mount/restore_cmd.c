/*
 * restore_cmd.c - `deardiary restore ITERATION DIR`: write an iteration's captured
 * environment back to disk, as the original's restore() does for Julia projects.
 *
 * The captured files (Project.toml, Manifest.toml and the lock files `deardiary run`
 * found) are written into DIR byte for byte; the git SHA, dirty flag, entrypoint and
 * Julia version are printed, one "key: value" line each, so that the user can check out
 * the code and re-run the command. Nothing is installed or activated.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"

static void restore_usage(FILE *out)
{
    fprintf(out,
            "usage: deardiary restore [--db DB] ITERATION DIR\n"
            "\n"
            "Writes the environment captured for ITERATION (Project.toml, Manifest.toml and\n"
            "lock files) into DIR, created if missing, and prints its git SHA, dirty flag,\n"
            "entrypoint and Julia version. ITERATION is an iteration's directory in a mount\n"
            "or its id in DB; without --db, the database of the mount the current directory\n"
            "is in, else the configured `database` (a registry is never created here).\n");
}

/* Write `len` bytes to DIR/name through a temporary file and rename, so that DIR/name
 * is either the old file or the whole new one. Prints the error. */
static int write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char *path = NULL, *tmp = NULL;
    int rc = -1, fd = -1;
    if (asprintf(&path, "%s/%s", dir, name) < 0 || asprintf(&tmp, "%s/.%s.XXXXXX", dir, name) < 0)
        goto out;
    fd = mkstemp(tmp);
    if (fd < 0)
        goto fail;
    for (size_t off = 0; off < len;) {
        ssize_t n = write(fd, (const char *)data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto fail;
        off += (size_t)n;
    }
    if (fchmod(fd, 0644) != 0 || close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto fail;
    printf("file: %s\n", path);
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "deardiary restore: %s: %s\n", path ? path : dir, strerror(errno));
    if (fd >= 0)
        close(fd);
    if (tmp)
        unlink(tmp);
out:
    free(path);
    free(tmp);
    return rc;
}

typedef struct restore_ctx {
    dd_store *st;
    int64_t id;
    const char *dir;
    int failed;
    int count;
} restore_ctx;

/* dd_iteration_file_list callback: write one captured lock file. */
static int restore_one(void *ctx, int64_t file_id, const char *name, size_t len)
{
    (void)file_id;
    (void)len;
    restore_ctx *r = ctx;
    void *data = NULL;
    size_t n = 0;
    dd_err err = {0};
    if (dd_iteration_file_get(r->st, r->id, name, &data, &n, &err) != DD_OK) {
        fprintf(stderr, "deardiary restore: %s: %s\n", name, err.msg);
        r->failed = 1;
        return 1;
    }
    if (write_file(r->dir, name, data, n) != 0)
        r->failed = 1;
    else
        r->count++;
    free(data);
    return r->failed;
}

/* Restore iteration `id` of `st` into `dir`; the exit status. */
static int do_restore(dd_store *st, int64_t id, const char *dir)
{
    dd_iteration it = {0};
    dd_err err = {0};
    if (dd_iteration_get(st, id, &it, &err) != DD_OK) {
        fprintf(stderr, "deardiary restore: %s\n", err.msg);
        return 1;
    }
    restore_ctx r = {st, id, dir, 0, 0};
    int rc = 1;
    if (!it.git_sha[0] && !it.entrypoint[0] && !it.julia_version[0] && !it.project_toml[0] &&
        !it.manifest_toml[0]) {
        fprintf(stderr, "deardiary restore: iteration %lld has no captured environment (%s)\n",
                (long long)id, it.parent_iteration_id
                    ? "a child iteration is captured only with deardiary run --snapshot"
                    : "it was not started by deardiary run, or ran with --no-snapshot");
        goto out;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "deardiary restore: %s: %s\n", dir, strerror(errno));
        goto out;
    }
    printf("git_sha: %s\ngit_dirty: %s\nentrypoint: %s\njulia_version: %s\n", it.git_sha,
           it.git_dirty ? "true" : "false", it.entrypoint, it.julia_version);
    if ((it.project_toml[0] &&
         write_file(dir, "Project.toml", it.project_toml, strlen(it.project_toml)) != 0) ||
        (it.manifest_toml[0] &&
         write_file(dir, "Manifest.toml", it.manifest_toml, strlen(it.manifest_toml)) != 0))
        goto out;
    if (dd_iteration_file_list(st, id, restore_one, &r, &err) != DD_OK) {
        fprintf(stderr, "deardiary restore: %s\n", err.msg);
        goto out;
    }
    rc = r.failed;
out:
    dd_iteration_clear(&it);
    return rc;
}

int dd_cmd_restore(const char *config_file, int argc, char **argv)
{
    const char *db = NULL, *pos[2] = {NULL, NULL};
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            restore_usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--db") == 0 && i + 1 < argc)
            db = argv[++i];
        else if (argv[i][0] != '-' && npos < 2)
            pos[npos++] = argv[i];
        else {
            restore_usage(stderr);
            return 2;
        }
    }
    if (npos != 2) {
        restore_usage(stderr);
        return 2;
    }
    int64_t id = 0;
    char *path = NULL;
    if (dd_cmd_iteration_arg(pos[0], "restore", &id, &path) != 0)
        return 1;
    dd_config cfg;
    if (dd_cmd_load_config(&cfg, config_file) != 0) {
        free(path);
        return 1;
    }
    if (!path)
        path = dd_cmd_registry(&cfg, db, "restore");
    dd_store *st = NULL;
    int rc = !path ? 2
             : dd_cmd_open_existing(&cfg, path, "restore", &st) == 0 ? do_restore(st, id, pos[1])
                                                                     : 1;
    dd_store_close(st);
    dd_config_free(&cfg);
    free(path);
    return rc;
}
