/*
 * test_access.c - the shared mount's permission checks (fs/access.h) without a mount: the
 * pure decision for every right x operation family x kind of caller, the modes `stat`
 * shows, which family each operation is, and, on a real store and the vfs core, the
 * node -> project lookup for every kind of node and the uid -> user mapping (mounting
 * account and root as mount_as, the explicit map, the users.unknown fallback).
 */
#include <errno.h>
#include <fcntl.h>

#include "access.h"
#include "check.h"
#include "check_vfs.h"
#include "store.h"
#include "vfs.h"

static void test_decide(void)
{
    acc_op ops[] = {ACC_SEE, ACC_READ, ACC_CREATE, ACC_UPDATE, ACC_DELETE, ACC_ADMIN};
    acc_rights admin = {.admin = true}, none = {0}, reader = {.read = true};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        CHECK(acc_decide(admin, 7, ops[i]) == 0);
        CHECK(acc_decide(admin, 0, ops[i]) == 0);
        /* no read right: the project does not exist for the caller */
        CHECK(acc_decide(none, 7, ops[i]) == -ENOENT);
        acc_rights all = {.read = true, .create = true, .update = true, .del = true};
        CHECK(acc_decide(all, 7, ops[i]) == (ops[i] == ACC_ADMIN ? -EACCES : 0));
        /* outside projects: everyone sees and reads, nobody but admins changes */
        CHECK(acc_decide(none, 0, ops[i]) == (ops[i] <= ACC_READ ? 0 : -EACCES));
        CHECK(acc_decide(reader, 7, ops[i]) == (ops[i] <= ACC_READ ? 0 : -EACCES));
    }
    /* each right allows its own family and nothing else */
    struct { acc_rights r; acc_op allowed; } one[] = {
        {{.read = true, .create = true}, ACC_CREATE},
        {{.read = true, .update = true}, ACC_UPDATE},
        {{.read = true, .del = true}, ACC_DELETE},
    };
    for (size_t k = 0; k < 3; k++)
        for (acc_op op = ACC_CREATE; op <= ACC_ADMIN; op++)
            CHECK(acc_decide(one[k].r, 3, op) == (op == one[k].allowed ? 0 : -EACCES));
    /* create without read is still invisible */
    CHECK(acc_decide((acc_rights){.create = true}, 3, ACC_CREATE) == -ENOENT);
}

static void test_mode(void)
{
    struct stat file = {.st_mode = S_IFREG | 0644, .st_uid = 0};
    struct stat ro = {.st_mode = S_IFREG | 0444};
    struct stat dir = {.st_mode = S_IFDIR | 0755};
    acc_rights reader = {.read = true}, updater = {.read = true, .update = true};
    acc_rights creator = {.read = true, .create = true};
    struct stat s = file;
    acc_mode(reader, 4, 1001, 100, &s);
    CHECK(s.st_uid == 1001 && s.st_gid == 100 && (s.st_mode & 07777) == 0444);
    s = file;
    acc_mode(updater, 4, 1001, 100, &s);
    CHECK((s.st_mode & 07777) == 0644 && S_ISREG(s.st_mode));
    s = ro;
    acc_mode(updater, 4, 1001, 100, &s);
    CHECK((s.st_mode & 07777) == 0444);   /* never adds a bit */
    s = dir;
    acc_mode(updater, 4, 1001, 100, &s);
    CHECK((s.st_mode & 07777) == 0555 && S_ISDIR(s.st_mode));
    s = dir;
    acc_mode(creator, 4, 1001, 100, &s);
    CHECK((s.st_mode & 07777) == 0755);
    s = dir;
    acc_mode(creator, 0, 1001, 100, &s);   /* /projects: only admins create there */
    CHECK((s.st_mode & 07777) == 0555);
}

static void test_ops(vfs *v)
{
    uint64_t projects = check_walk(v, "projects");
    uint64_t it = check_walk(v, "projects/p/experiments/e/iterations/1");
    uint64_t exp = check_walk(v, "projects/p/experiments/e");
    CHECK(projects && it && exp);
    CHECK(acc_is_project_list(projects));
    CHECK(!acc_is_project_list(exp));
    CHECK(acc_mkdir_op(projects) == ACC_ADMIN);
    CHECK(acc_mkdir_op(check_walk(v, "projects/p/experiments")) == ACC_CREATE);
    uint64_t news = check_walk(v, "projects/p/experiments/e/iterations/new");
    uint64_t child_new = check_walk(v, "projects/p/experiments/e/iterations/1/children/new");
    uint64_t lr = check_walk(v, "projects/p/experiments/e/iterations/1/params/lr");
    CHECK(news && child_new && lr);
    CHECK(acc_open_op(news, O_RDONLY) == ACC_CREATE);
    CHECK(acc_open_op(child_new, O_RDONLY) == ACC_CREATE);
    CHECK(acc_open_op(lr, O_RDONLY) == ACC_READ);
    CHECK(acc_open_op(lr, O_WRONLY | O_TRUNC) == ACC_UPDATE);
    CHECK(acc_open_op(lr, O_RDONLY | O_TRUNC) == ACC_UPDATE);
    CHECK(acc_open_op(lr, O_RDWR) == ACC_UPDATE);
    uint64_t vnew = check_walk(v, "projects/p/models/m/versions/new");
    CHECK(vnew && acc_lookup_op(vnew) == ACC_CREATE);
    CHECK(acc_lookup_op(exp) == ACC_SEE);
    uint64_t reg = check_walk(v, "projects/p/models/m/versions/new/1");
    CHECK(reg && acc_open_op(reg, O_RDONLY) == ACC_CREATE);
    uint64_t alias = check_walk(v, "projects/p/models/m/aliases/champ");
    CHECK(alias && acc_remove_op(alias) == ACC_UPDATE);
    CHECK(acc_remove_op(lr) == ACC_DELETE);
}

/* Every kind of node resolves to its project; rights follow the caller. */
static void test_resolve(vfs *v, dd_store *st, int64_t p, int64_t q)
{
    static const char *const paths[] = {
        "projects/p", "projects/p/description", "projects/p/experiments", "projects/p/tags/t",
        "projects/p/experiments/e", "projects/p/experiments/e/status",
        "projects/p/experiments/e/tags/t", "projects/p/experiments/e/resources",
        "projects/p/experiments/e/resources/w.bin",
        "projects/p/experiments/e/iterations/1", "projects/p/experiments/e/iterations/1/notes",
        "projects/p/experiments/e/iterations/1/params/lr",
        "projects/p/experiments/e/iterations/1/metrics/acc",
        "projects/p/experiments/e/iterations/1/tags/t",
        "projects/p/experiments/e/iterations/1/env/Manifest.toml",
        "projects/p/models/m", "projects/p/models/m/versions/1",
        "projects/p/models/m/versions/1/stage", "projects/p/models/m/aliases/champ",
        "models/m",
    };
    acc_map_entry map[] = {{2001, "mapped"}};
    acc_options o = {.mount_uid = 4242, .mount_as = "alice", .map = map, .n_map = 1};
    dd_access *a = acc_new(&o);
    CHECK(a != NULL);
    if (!a)
        return;
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        uint64_t ino = check_walk(v, paths[i]);
        int64_t project = -1;
        acc_rights r;
        CHECK(ino != 0);
        CHECK(acc_resolve(a, v, 4242, ino, &project, &r) == 0);
        if (project != p)
            fprintf(stderr, "  %s: project %lld, wanted %lld\n", paths[i], (long long)project,
                    (long long)p);
        CHECK(project == p);
        CHECK(r.read && r.update && !r.create && !r.del && !r.admin);   /* alice's */
    }
    int64_t project = -1;
    acc_rights r;
    CHECK(acc_resolve(a, v, 4242, check_walk(v, "projects"), &project, &r) == 0 && project == 0);
    CHECK(acc_resolve(a, v, 4242, check_walk(v, "projects/q"), &project, &r) == 0 &&
          project == q && !r.read);
    /* root acts as mount_as too; the map names another user; unknown uids: deny */
    uint64_t lr = check_walk(v, "projects/p/experiments/e/iterations/1/params/lr");
    CHECK(acc_check(a, v, 0, 0, lr, ACC_UPDATE, NULL) == 0);
    CHECK(acc_check(a, v, 2001, 0, lr, ACC_READ, NULL) == -ENOENT);   /* mapped: no rows */
    CHECK(acc_check(a, v, 2001, 0, check_walk(v, "projects/q/description"), ACC_DELETE,
                    NULL) == 0);
    CHECK(acc_check(a, v, 3999999, 0, lr, ACC_SEE, NULL) == -ENOENT);
    struct stat s = {.st_mode = S_IFREG | 0644};
    CHECK(acc_check(a, v, 4242, 77, lr, ACC_SEE, &s) == 0 && s.st_uid == 4242 &&
          s.st_gid == 77 && (s.st_mode & 0777) == 0644);
    acc_free(a);

    acc_options reads = {.mount_uid = 4242, .mount_as = "alice", .unknown_read = true};
    a = acc_new(&reads);
    CHECK(acc_check(a, v, 3999999, 0, lr, ACC_READ, NULL) == 0);
    CHECK(acc_check(a, v, 3999999, 0, lr, ACC_UPDATE, NULL) == -EACCES);
    acc_free(a);
    (void)st;
}

int main(void)
{
    test_decide();
    test_mode();

    char path[1024];
    check_db_path(path, sizeof path, "access");
    dd_err err_buf = {0}, *err = &err_buf;
    dd_store *st = NULL;
    CHECK_CODE(dd_store_open(path, NULL, &st, err), DD_OK, err);
    if (!st)
        return check_done();
    int64_t p = 0, q = 0, e = 0, it = 0, res = 0, m = 0, ver = 0, n = 0;
    CHECK_CODE(dd_project_create(st, 0, "p", &p, err), DD_OK, err);
    CHECK_CODE(dd_project_create(st, 0, "q", &q, err), DD_OK, err);
    CHECK_CODE(dd_experiment_create(st, p, "e", &e, err), DD_OK, err);
    CHECK_CODE(dd_iteration_create(st, e, 0, &it, err), DD_OK, err);
    CHECK(it == 1);
    CHECK_CODE(dd_param_set(st, it, "lr", "0.1", err), DD_OK, err);
    dd_metric_point pt = {.value = 0.5};
    CHECK_CODE(dd_metric_append(st, it, "acc", &pt, 1, err), DD_OK, err);
    CHECK_CODE(dd_resource_create_inline(st, e, "w.bin", "x", 1, &res, err), DD_OK, err);
    CHECK_CODE(dd_model_create(st, p, "m", "", &m, err), DD_OK, err);
    CHECK_CODE(dd_version_create(st, m, it, res, "", &ver, &n, err), DD_OK, err);
    CHECK_CODE(dd_alias_set(st, m, "champ", ver, err), DD_OK, err);
    CHECK_CODE(dd_tag_attach(st, DD_TAG_PROJECT, p, "t", NULL, err), DD_OK, err);
    CHECK_CODE(dd_tag_attach(st, DD_TAG_EXPERIMENT, e, "t", NULL, err), DD_OK, err);
    CHECK_CODE(dd_tag_attach(st, DD_TAG_ITERATION, it, "t", NULL, err), DD_OK, err);
    CHECK_CODE(dd_iteration_file_set(st, it, "Manifest.toml", "x", 1, err), DD_OK, err);
    CHECK_CODE(dd_user_create(st, "A", "", "alice", "pw", NULL, err), DD_OK, err);
    CHECK_CODE(dd_user_create(st, "M", "", "mapped", "pw", NULL, err), DD_OK, err);
    CHECK_CODE(dd_permission_set(st, "alice", "p", -1, 1, 1, -1, err), DD_OK, err);
    CHECK_CODE(dd_permission_set(st, "mapped", "q", -1, 1, -1, 1, err), DD_OK, err);

    vfs *v = vfs_new(st, NULL, NULL);
    CHECK(v != NULL);
    if (v) {
        test_ops(v);
        test_resolve(v, st, p, q);
        vfs_free(v);
    }
    dd_store_close(st);
    return check_done();
}
