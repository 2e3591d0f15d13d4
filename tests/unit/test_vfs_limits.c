/*
 * test_vfs_limits.c - the filesystem core's bookkeeping under load, driven directly (no
 * mount): many `rm -r` at once (removal marks) and many registration names looked up
 * (pending slots). Found by the concurrency soak (tests/integration/test_soak.py): with a
 * fixed table, a removal mark that found no free slot was silently dropped, so the rest of
 * a *refused* `rm -r` really deleted the parameters and metrics below (and an accepted one
 * failed with EPERM half-way); and registration slots held for 30 s filled the table, so
 * creating a new parameter or metric failed with ENFILE.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "artifacts.h"
#include "check.h"
#include "check_vfs.h"
#include "store.h"
#include "vfs.h"

static vfs *V;
static dd_store *ST;

static uint64_t walk(const char *path) { return check_walk(V, path); }

/* Create (or open) dir/name and write text in one write; the write's or close's error. */
static int write_at(const char *dir, const char *name, const char *text)
{
    vfs_file *f = NULL;
    vfs_open_info info;
    vfs_entry e;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    uint64_t ino = walk(path);
    int rc = ino ? vfs_open(V, ino, O_WRONLY | O_TRUNC, &f, &info)
                 : vfs_create(V, walk(dir), name, O_WRONLY | O_CREAT | O_TRUNC, &f, &e, &info);
    if (rc)
        return rc;
    ssize_t n = vfs_write(V, f, 0, text, strlen(text));
    int frc = vfs_release(V, f);
    return n < 0 ? (int)n : frc;
}

/* One thread of a deleter starts `rm -r` of iteration 2 (used by a model version, so
 * refused); the FUSE request carries that thread's id. */
static void *refuse_in_thread(void *arg)
{
    pid_t tid = (pid_t)syscall(SYS_gettid);
    vfs_listed(V, walk("projects/p/experiments/e/iterations/2"), tid);
    *(int *)arg = vfs_unlink(V, walk("projects/p/experiments/e/iterations/2"), "created", tid);
    return NULL;
}

int main(void)
{
    char db[512];
    dd_err err;
    dd_err *errp = &err;
    check_db_path(db, sizeof db, "test_vfs_limits");
    CHECK_CODE(dd_store_open(db, NULL, &ST, errp), DD_OK, errp);
    V = vfs_new(ST, NULL, NULL);
    vfs_entry e;
    CHECK(vfs_mkdir(V, walk("projects"), "p", &e) == 0);
    CHECK(vfs_mkdir(V, walk("projects/p/experiments"), "e", &e) == 0);
    CHECK(vfs_mkdir(V, walk("projects/p/models"), "m", &e) == 0);
    int64_t model_id = 0;
    CHECK_CODE(dd_model_find(ST, "m", &model_id, errp), DD_OK, errp);

    /* 200 iterations, each with a parameter and used by a model version */
    enum { N = 200 };
    const char *exp = "projects/p/experiments/e/iterations";
    for (int i = 1; i <= N; i++) {
        int64_t iid = 0, vid = 0, number = 0;
        CHECK_CODE(dd_iteration_create(ST, 1, 0, &iid, errp), DD_OK, errp);
        CHECK(iid == i);
        char run[256];
        snprintf(run, sizeof run, "%s/%d/params", exp, i);
        CHECK(write_at(run, "lr", "0.1\n") == 0);
        CHECK_CODE(dd_version_create(ST, model_id, iid, 0, "", &vid, &number, errp), DD_OK,
                   errp);
    }

    /* 200 concurrent `rm -r` (one pid each, above any pid_max so that no real process
     * owns it), all refused: every one stays refused, and none of them deletes the
     * parameter below */
    enum { PID0 = 5000000 };
    for (int i = 1; i <= N; i++) {
        char run[256];
        snprintf(run, sizeof run, "%s/%d", exp, i);
        vfs_listed(V, walk(run), PID0 + i);
        CHECK(vfs_unlink(V, walk(run), "created", PID0 + i) == -EBUSY);
    }
    for (int i = 1; i <= N; i++) {
        char params[256];
        snprintf(params, sizeof params, "%s/%d/params", exp, i);
        CHECK(vfs_unlink(V, walk(params), "lr", PID0 + i) == -EBUSY);
        char path[300];
        snprintf(path, sizeof path, "%s/lr", params);
        CHECK(walk(path) != 0);
    }

    /* marks belong to the process, not the thread: after one thread's refused start,
     * another thread of the same process deletes nothing below (keyed by thread id it
     * deleted the parameter) */
    pthread_t th;
    int refused = 0;
    CHECK(pthread_create(&th, NULL, refuse_in_thread, &refused) == 0);
    pthread_join(th, NULL);
    CHECK(refused == -EBUSY);
    CHECK(vfs_unlink(V, walk("projects/p/experiments/e/iterations/2/params"), "lr",
                     (pid_t)syscall(SYS_gettid)) == -EBUSY);
    CHECK(walk("projects/p/experiments/e/iterations/2/params/lr") != 0);

    /* many registration names looked up (as `ls` or a shell's stat would) do not stop a
     * new parameter from being created */
    char run1[256];
    snprintf(run1, sizeof run1, "%s/1/params", exp);
    for (int i = 0; i < 1000; i++) {
        char name[64];
        snprintf(name, sizeof name, "%d", 1 + i % N);
        if (i >= N)
            snprintf(name, sizeof name, "%d:r%d", 1 + i % N, i);
        vfs_entry reg;
        vfs_lookup(V, walk("projects/p/models/m/versions/new"), name, &reg);
    }
    CHECK(write_at(run1, "fresh", "1\n") == 0);

    /* two copies to the same new resource name at once: both created while the name was
     * free; the one closed last replaces the first (no EEXIST at close), unless O_EXCL */
    dd_artifacts *arts = NULL;
    CHECK_CODE(dd_artifacts_open(ST, NULL, &arts, errp), DD_OK, errp);
    vfs_attach(V, ST, arts);
    uint64_t res = walk("projects/p/experiments/e/resources");
    vfs_file *f1 = NULL, *f2 = NULL, *f3 = NULL;
    vfs_open_info info;
    CHECK(vfs_create(V, res, "m.bin", O_WRONLY | O_CREAT | O_TRUNC, &f1, &e, &info) == 0);
    CHECK(vfs_create(V, res, "m.bin", O_WRONLY | O_CREAT | O_TRUNC, &f2, &e, &info) == 0);
    CHECK(vfs_create(V, res, "m.bin", O_WRONLY | O_CREAT | O_EXCL, &f3, &e, &info) == 0);
    CHECK(f1 && vfs_write(V, f1, 0, "first", 5) == 5);
    CHECK(f2 && vfs_write(V, f2, 0, "second", 6) == 6);
    CHECK(f3 && vfs_write(V, f3, 0, "third", 5) == 5);
    CHECK(f1 && vfs_release(V, f1) == 0);
    CHECK(f2 && vfs_release(V, f2) == 0);
    CHECK(f3 && vfs_release(V, f3) == -EEXIST);
    int64_t rid = 0;
    CHECK_CODE(dd_resource_find(ST, 1, "m.bin", &rid, errp), DD_OK, errp);
    dd_resource r = {0};
    CHECK_CODE(dd_resource_get(ST, rid, &r, errp), DD_OK, errp);
    CHECK(r.size_bytes == 6);
    dd_resource_clear(&r);
    vfs_free(V);
    dd_artifacts_close(arts);
    dd_store_close(ST);
    return check_done();
}
