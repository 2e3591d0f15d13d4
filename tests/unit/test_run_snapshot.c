/*
 * test_run_snapshot.c - the pieces of `deardiary run` below the process handling: the
 * one-transaction snapshot save of the store, shell quoting of the entrypoint, and the
 * capture of a working directory's Julia project and lock files (real files, a real
 * SQLite database; git is asked for real, in a directory that is no repository), and the
 * mount root's user.deardiary.database attribute that `run` finds a mount's database by.
 */
#include <errno.h>
#include <stdint.h>

#include "check.h"
#include "snapshot.h"
#include "store.h"
#include "vfs.h"

typedef struct file_rows {
    int count;
    char names[16][64];
} file_rows;

static int collect_file(void *ctx, int64_t id, const char *name, size_t len)
{
    (void)id;
    (void)len;
    file_rows *r = ctx;
    if (r->count < 16)
        snprintf(r->names[r->count], sizeof r->names[0], "%s", name);
    r->count++;
    return 0;
}

static void test_snapshot_save(dd_store *st)
{
    dd_err err = {0};
    int64_t pid = 0, eid = 0, id = 0;
    CHECK_CODE(dd_project_create(st, 0, "p", &pid, &err), DD_OK, &err);
    CHECK_CODE(dd_experiment_create(st, pid, "e", &eid, &err), DD_OK, &err);
    CHECK_CODE(dd_iteration_create(st, eid, 0, &id, &err), DD_OK, &err);

    dd_snapshot snap = {"1.10.2", "abc", true, "python3 train.py", "[deps]\n", "# manifest\n"};
    dd_snapshot_file files[] = {{"requirements.txt", "numpy==2\n", 9},
                                {"uv.lock", "\0bin\xff", 5}};
    CHECK_CODE(dd_iteration_snapshot_save(st, id, &snap, files, 2, &err), DD_OK, &err);
    dd_iteration it = {0};
    CHECK_CODE(dd_iteration_get(st, id, &it, &err), DD_OK, &err);
    CHECK_STR(it.julia_version, "1.10.2");
    CHECK_STR(it.git_sha, "abc");
    CHECK(it.git_dirty);
    CHECK_STR(it.entrypoint, "python3 train.py");
    CHECK_STR(it.project_toml, "[deps]\n");
    CHECK_STR(it.manifest_toml, "# manifest\n");
    dd_iteration_clear(&it);
    void *data = NULL;
    size_t len = 0;
    CHECK_CODE(dd_iteration_file_get(st, id, "uv.lock", &data, &len, &err), DD_OK, &err);
    CHECK(len == 5 && data && memcmp(data, "\0bin\xff", 5) == 0);   /* bytes, not text */
    free(data);

    /* a bad file name: refused, and nothing of that snapshot is stored */
    dd_snapshot other = {"", "def", false, "x", "", ""};
    dd_snapshot_file bad[] = {{"ok.txt", "1", 1}, {"../evil", "2", 1}};
    CHECK_CODE(dd_iteration_snapshot_save(st, id, &other, bad, 2, &err), DD_INVALID, &err);
    CHECK_CODE(dd_iteration_get(st, id, &it, &err), DD_OK, &err);
    CHECK_STR(it.git_sha, "abc");
    dd_iteration_clear(&it);

    /* a new snapshot replaces the old one whole: files it does not name are gone */
    dd_snapshot_file one[] = {{"Cargo.lock", "v", 1}};
    CHECK_CODE(dd_iteration_snapshot_save(st, id, &other, one, 1, &err), DD_OK, &err);
    file_rows rows = {0};
    CHECK_CODE(dd_iteration_file_list(st, id, collect_file, &rows, &err), DD_OK, &err);
    CHECK(rows.count == 1);
    CHECK_STR(rows.names[0], "Cargo.lock");
    CHECK_CODE(dd_iteration_get(st, id, &it, &err), DD_OK, &err);
    CHECK_STR(it.git_sha, "def");
    CHECK(!it.git_dirty);
    CHECK_STR(it.julia_version, "");
    dd_iteration_clear(&it);

    /* ended: read-only, like every other write */
    CHECK_CODE(dd_iteration_set_status(st, id, DD_ITER_SUCCEEDED, NULL, &err), DD_OK, &err);
    CHECK_CODE(dd_iteration_snapshot_save(st, id, &snap, files, 2, &err), DD_READ_ONLY, &err);
    CHECK_CODE(dd_iteration_snapshot_save(st, 999999, &snap, NULL, 0, &err), DD_NOT_FOUND, &err);
}

static void test_command_line(void)
{
    char *argv[] = {"python3", "train.py", "--lr=0.1", "a b", "it's", "", "$HOME", NULL};
    char *line = dd_command_line(7, argv);
    CHECK_STR(line, "python3 train.py --lr=0.1 'a b' 'it'\\''s' '' '$HOME'");
    free(line);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Capture in a scratch directory that is not in any git repository. */
static void test_capture(void)
{
    char dir[4200], old[4096], path[4300];
    const char *tmp = getenv("DD_TEST_TMP");
    snprintf(dir, sizeof dir, "%s/run_capture", tmp ? tmp : "/tmp");
    mkdir(tmp ? tmp : "/tmp", 0755);
    mkdir(dir, 0755);
    CHECK(getcwd(old, sizeof old) != NULL);
    CHECK(chdir(dir) == 0);
    write_text("Project.toml", "name = \"X\"\n");
    write_text("Manifest.toml", "julia_version = \"1.10.2\"\n");
    write_text("requirements.txt", "torch==2.3\n");
    write_text("poetry.lock", "# lock\n");
    unlink("uv.lock");
    mkdir(".git", 0755);   /* an empty .git is no repository: git fails, sha stays empty */
    setenv("GIT_CEILING_DIRECTORIES", tmp ? tmp : "/tmp", 1);
    unsetenv("JULIA_PROJECT");

    char *argv[] = {"python3", "train.py", NULL};
    dd_capture cap;
    CHECK(dd_capture_environment(&cap, 2, argv) == 0);
    CHECK_STR(cap.git_sha, "");
    CHECK(!cap.git_dirty);
    CHECK_STR(cap.julia_version, "");          /* not a Julia command */
    CHECK_STR(cap.entrypoint, "python3 train.py");
    CHECK_STR(cap.project_toml, "name = \"X\"\n");
    CHECK_STR(cap.manifest_toml, "julia_version = \"1.10.2\"\n");
    CHECK(cap.nfiles == 2);
    CHECK_STR(cap.files[0].name, "requirements.txt");
    CHECK(cap.files[0].len == 11 && memcmp(cap.files[0].data, "torch==2.3\n", 11) == 0);
    CHECK_STR(cap.files[1].name, "poetry.lock");
    dd_capture_free(&cap);

    /* a Julia command with --project=DIR takes that project; a missing julia binary
     * leaves julia_version empty instead of failing */
    snprintf(path, sizeof path, "%s/proj", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/proj/Project.toml", dir);
    write_text(path, "name = \"Y\"\n");
    snprintf(path, sizeof path, "--project=%s/proj", dir);
    char *jargv[] = {"julia-missing-for-test", path, "run.jl", NULL};
    CHECK(dd_capture_environment(&cap, 3, jargv) == 0);
    CHECK_STR(cap.project_toml, "name = \"Y\"\n");
    CHECK_STR(cap.manifest_toml, "");
    CHECK_STR(cap.julia_version, "");
    dd_capture_free(&cap);
    rmdir(".git");
    CHECK(chdir(old) == 0);
}

/* The root names its database; nothing else has that attribute. */
static void test_root_xattr(dd_store *st)
{
    vfs *v = vfs_new(st, NULL, NULL);
    CHECK(v != NULL);
    if (!v)
        return;
    char buf[4096];
    const char *want = dd_store_path(st);
    ssize_t n = vfs_getxattr(v, VFS_ROOT_INO, "user.deardiary.database", buf, 0);
    CHECK(n == (ssize_t)strlen(want));
    n = vfs_getxattr(v, VFS_ROOT_INO, "user.deardiary.database", buf, sizeof buf);
    CHECK(n == (ssize_t)strlen(want) && memcmp(buf, want, strlen(want)) == 0);
    CHECK(vfs_getxattr(v, VFS_ROOT_INO, "user.deardiary.database", buf, 3) == -ERANGE);
    CHECK(vfs_getxattr(v, VFS_ROOT_INO, "user.other", buf, sizeof buf) == -ENODATA);
    n = vfs_listxattr(v, VFS_ROOT_INO, buf, sizeof buf);
    CHECK(n == (ssize_t)sizeof "user.deardiary.database" &&
          strcmp(buf, "user.deardiary.database") == 0);
    vfs_free(v);
}

int main(void)
{
    char path[1024];
    check_db_path(path, sizeof path, "run_snapshot");
    dd_err err = {0};
    dd_store *st = NULL;
    CHECK_CODE(dd_store_open(path, NULL, &st, &err), DD_OK, &err);
    if (st) {
        test_snapshot_save(st);
        test_root_xattr(st);
    }
    dd_store_close(st);
    test_command_line();
    test_capture();
    return check_done();
}
