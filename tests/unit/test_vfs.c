/*
 * test_vfs.c - the filesystem core driven directly (no kernel, no mount): lookups,
 * listings, value and metric writes, refusals with their errno, and the rm -r protocol.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "check.h"
#include "check_vfs.h"
#include "store.h"
#include "vfs.h"

static vfs *V;
static dd_store *ST;

static uint64_t walk(const char *path) { return check_walk(V, path); }

/* Split "a/b/c" into the directory inode of "a/b" and the name "c". */
static uint64_t parent_of(const char *path, const char **name)
{
    static char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    *slash = 0;
    *name = path + (slash - dir) + 1;
    return walk(dir);
}

static int write_file(const char *path, const char *text, int flags)
{
    vfs_file *f = NULL;
    vfs_open_info info;
    vfs_entry e;
    const char *name = NULL;
    uint64_t ino = walk(path);
    uint64_t dir = ino ? 0 : parent_of(path, &name);
    int rc = ino ? vfs_open(V, ino, flags, &f, &info)
                 : vfs_create(V, dir, name, flags | O_CREAT, &f, &e, &info);
    if (rc)
        return rc;
    ssize_t n = vfs_write(V, f, 0, text, strlen(text));
    int frc = vfs_release(V, f);
    return n < 0 ? (int)n : frc;
}

static char *read_file(const char *path)
{
    static char out[65536];
    vfs_file *f = NULL;
    vfs_open_info info;
    uint64_t ino = walk(path);
    out[0] = 0;
    if (!ino || vfs_open(V, ino, O_RDONLY, &f, &info) != 0)
        return NULL;
    dd_buf b = {0};
    for (off_t off = 0;; ) {
        size_t before = b.len;
        if (vfs_read(V, f, off, 4096, &b) != 0 || b.len == before)
            break;
        off += (off_t)(b.len - before);
    }
    snprintf(out, sizeof out, "%s", b.data ? b.data : "");
    dd_buf_free(&b);
    vfs_release(V, f);
    return out;
}

static int count_entries(void *ctx, const char *name, const vfs_entry *e)
{
    (void)e;
    /* a control file must never be listed: count it as a thousand to fail loudly */
    *(int *)ctx += strcmp(name, "new") == 0 ? 1000 : 1;
    return 0;
}

static int listed(const char *path)
{
    int n = 0;
    vfs_readdir(V, walk(path), count_entries, &n);
    return n;
}

int main(void)
{
    char db[512];
    dd_err err;
    check_db_path(db, sizeof db, "test_vfs");
    dd_err *errp = &err;
    CHECK_CODE(dd_store_open(db, NULL, &ST, errp), DD_OK, errp);
    V = vfs_new(ST, NULL, NULL);
    vfs_entry e;

    /* mkdir creates projects and experiments; elsewhere it is refused */
    CHECK(vfs_mkdir(V, walk("projects"), "p", &e) == 0);
    CHECK(vfs_mkdir(V, walk("projects"), "p", &e) == -EEXIST);
    CHECK(vfs_mkdir(V, walk("projects"), "a\tb", &e) == -EINVAL);
    CHECK(vfs_mkdir(V, walk("projects/p/experiments"), "e", &e) == 0);
    CHECK(vfs_mkdir(V, walk("projects/p"), "x", &e) == -EPERM);

    /* the clone file creates an iteration and is not listed */
    const char *id = read_file("projects/p/experiments/e/iterations/new");
    CHECK_STR(id, "1\n");
    CHECK(listed("projects/p/experiments/e/iterations") == 1);
    CHECK(walk("projects/p/experiments/e/iterations/1") != 0);

    /* values */
    const char *run = "projects/p/experiments/e/iterations/1";
    char path[512];
    snprintf(path, sizeof path, "%s/params/max_depth", run);
    CHECK(write_file(path, "7\n", O_WRONLY | O_TRUNC) == 0);
    CHECK_STR(read_file(path), "7\n");
    CHECK(write_file(path, "9\n", O_WRONLY | O_TRUNC) == 0);
    CHECK_STR(read_file(path), "9\n");
    snprintf(path, sizeof path, "%s/status", run);
    CHECK(write_file(path, "DONE\n", O_WRONLY | O_TRUNC) == -EINVAL);
    CHECK_STR(read_file(path), "RUNNING\n");

    /* metrics: formats, default steps, one batch per write, refusals store nothing */
    snprintf(path, sizeof path, "%s/metrics/loss", run);
    CHECK(write_file(path, "0.5\n", O_WRONLY | O_APPEND) == 0);
    CHECK(write_file(path, "5 0.25\n0.125\n", O_WRONLY | O_APPEND) == 0);
    CHECK(write_file(path, "0.1\nnan\n", O_WRONLY | O_APPEND) == -EINVAL);
    CHECK(write_file(path, "7 0.1 2026-01-02T03:04:05+01:00\n", O_WRONLY | O_APPEND) == 0);
    const char *text = read_file(path);
    CHECK(text && strncmp(text, "0 0.5 ", 6) == 0);
    CHECK(text && strstr(text, "\n5 0.25 ") != NULL);
    CHECK(text && strstr(text, "\n6 0.125 ") != NULL);
    CHECK(text && strstr(text, "\n7 0.1 2026-01-02T02:04:05.000Z\n") != NULL);
    CHECK(text && strstr(text, "nan") == NULL);
    vfs_entry st;
    CHECK(vfs_getattr(V, walk(path), &st) == 0 && text &&
          st.st.st_size == (off_t)strlen(text));
    snprintf(path, sizeof path, "%s/metrics.json", run);
    CHECK_STR(read_file(path), "{\"loss\": 0.1}\n");

    /* a rewrite (an editor's save, a rename over the file) repeats points, never twice */
    snprintf(path, sizeof path, "%s/metrics/loss", run);
    char old[4096], more[4200];
    snprintf(old, sizeof old, "%s", read_file(path));
    CHECK(write_file(path, old, O_WRONLY | O_TRUNC) == 0);
    CHECK_STR(read_file(path), old);
    CHECK(vfs_metric_rewrite(V, 1, "loss", old, strlen(old)) == 0);
    CHECK_STR(read_file(path), old);
    CHECK(vfs_metric_rewrite(V, 1, "loss", old, strlen(old) - 1) == 0);   /* no final \n */
    CHECK_STR(read_file(path), old);
    CHECK(vfs_metric_rewrite(V, 1, "loss", strchr(old, '\n') + 1,
                             strlen(strchr(old, '\n') + 1)) == -EINVAL);   /* one left out */
    CHECK(vfs_metric_rewrite(V, 1, "loss", "0.9\n", 4) == -EINVAL);      /* a changed line */
    CHECK(write_file(path, "9 0.5 2026-01-01T00:00:00Z\n", O_WRONLY | O_TRUNC) == -EINVAL);
    CHECK_STR(read_file(path), old);
    snprintf(more, sizeof more, "%s0.75\n", old);
    CHECK(vfs_metric_rewrite(V, 1, "loss", more, strlen(more)) == 0);
    text = read_file(path);
    CHECK(text && strncmp(text, old, strlen(old)) == 0 && strstr(text + strlen(old), "8 0.75 "));
    CHECK(vfs_metric_rewrite(V, 1, "fresh", "3 0.5\n", 6) == 0);         /* a new key */
    snprintf(path, sizeof path, "%s/metrics/fresh", run);
    CHECK(read_file(path) && strncmp(read_file(path), "3 0.5 ", 6) == 0);
    snprintf(path, sizeof path, "%s/metrics.json", run);
    CHECK_STR(read_file(path), "{\"fresh\": 0.5, \"loss\": 0.75}\n");

    /* ending the iteration makes it read-only */
    snprintf(path, sizeof path, "%s/status", run);
    CHECK(write_file(path, "SUCCEEDED\n", O_WRONLY | O_TRUNC) == 0);
    snprintf(path, sizeof path, "%s/params/max_depth", run);
    CHECK(write_file(path, "1\n", O_WRONLY | O_TRUNC) == -EROFS);
    snprintf(path, sizeof path, "%s/notes", run);
    CHECK(vfs_getattr(V, walk(path), &st) == 0 && (st.st.st_mode & 0777) == 0444);
    snprintf(path, sizeof path, "%s/created", run);
    CHECK(write_file(path, "x\n", O_WRONLY) == -EROFS);
    CHECK(write_file("projects/p/created", "x\n", O_WRONLY) == -EPERM);

    /* rm -r protocol: a fixed file marks, nested unlinks defer, rmdir deletes all */
    uint64_t runs = walk("projects/p/experiments/e/iterations");
    CHECK(vfs_rmdir(V, runs, "1", getpid()) == -ENOTEMPTY);
    /* a lone unlink of an entity's own file (no listing of its directory first) is not
     * the start of an `rm -r`: refused, nothing marked, nothing deferred */
    CHECK(vfs_unlink(V, walk(run), "created", getpid()) == -EPERM);
    CHECK(vfs_unlink(V, walk(run), "notes", getpid()) == -EPERM);
    CHECK(walk("projects/p/experiments/e/iterations/1/metrics/loss") != 0);
    vfs_listed(V, walk(run), getpid());              /* rm -r lists the directory first */
    CHECK(vfs_unlink(V, walk(run), "created", getpid()) == 0);
    CHECK(vfs_unlink(V, walk("projects/p/experiments/e/iterations/1/metrics"), "loss", getpid()) == 0);
    CHECK(vfs_rmdir(V, walk(run), "metrics", getpid()) == 0);
    CHECK(walk("projects/p/experiments/e/iterations/1/metrics/loss") != 0);  /* deferred */
    CHECK(vfs_rmdir(V, runs, "1", getpid()) == 0);
    CHECK(walk("projects/p/experiments/e/iterations/1") == 0);

    /* renames */
    CHECK(vfs_rename(V, walk("projects"), "p", walk("projects"), "q", 0) == 0);
    CHECK(walk("projects/q/experiments/e") != 0);
    CHECK(vfs_mkdir(V, walk("projects"), "r", &e) == 0);
    CHECK(vfs_rename(V, walk("projects"), "q", walk("projects"), "r", 0) == -ENOTEMPTY);
    CHECK(vfs_rename(V, walk("projects/q/experiments"), "e", walk("projects/r/experiments"), "e",
                     0) == -EPERM);

    /* a directory with writable files takes an editor's scratch file (in memory, never
     * listed, gone at unlink); a directory without any still refuses stray files */
    vfs_file *f = NULL;
    vfs_open_info info;
    CHECK(vfs_create(V, walk("projects/q"), ".swp", O_WRONLY | O_CREAT, &f, &e, &info) == 0);
    CHECK(vfs_write(V, f, 0, "abc", 3) == 3);
    CHECK(vfs_release(V, f) == 0);
    CHECK(vfs_getattr(V, walk("projects/q/.swp"), &e) == 0 && e.st.st_size == 3);
    CHECK(vfs_unlink(V, walk("projects/q"), ".swp", getpid()) == 0);
    CHECK(walk("projects/q/.swp") == 0);
    CHECK(vfs_create(V, walk("projects/q/experiments"), ".swp", O_WRONLY | O_CREAT, &f, &e,
                     &info) == -EACCES);

    /* handles whose RELEASE never came (the kernel drops the queued ones at unmount) are
     * freed by vfs_free and never committed: valgrind and LeakSanitizer see no leak, and
     * the value written but not flushed is not stored */
    int64_t qid = 0;
    CHECK(dd_project_find(ST, "q", &qid, errp) == DD_OK);
    CHECK(vfs_open(V, walk("projects/q/description"), O_WRONLY | O_TRUNC, &f, &info) == 0);
    CHECK(vfs_write(V, f, 0, "never flushed", 13) == 13);
    vfs_file *g = NULL;
    CHECK(vfs_open(V, walk("projects/q/created"), O_RDONLY, &g, &info) == 0);
    vfs_free(V);
    dd_project p = {0};
    CHECK(dd_project_get(ST, qid, &p, errp) == DD_OK);
    CHECK(!p.description || strcmp(p.description, "never flushed") != 0);
    dd_project_clear(&p);
    dd_store_close(ST);
    return check_done();
}
