/*
 * test_users.c - the store functions behind `deardiary user` and the shared mount's
 * permission checks: rights set and removed by name in one transaction, the refusals
 * (unknown user or project, nothing changed), the creator's default row, a deleted
 * user's rows, and dd_project_of for every kind of row.
 */
#include <stdint.h>

#include "check.h"
#include "check_sql.h"
#include "store.h"

static const char *path_g;

static int64_t rows(const char *sql)
{
    return raw_int(path_g, sql);
}

#define RIGHTS_SQL(u, p)                                                                  \
    "SELECT create_permission*8 + read_permission*4 + update_permission*2 +"             \
    " delete_permission FROM user_permission JOIN user ON user.id = user_id"              \
    " JOIN project ON project.id = project_id WHERE username = '" u "' AND name = '" p "'"

static void test_grant_revoke(dd_store *st)
{
    dd_err err_buf = {0}, *err = &err_buf;
    int64_t alice = 0, proj = 0;
    CHECK_CODE(dd_user_create(st, "Alice", "L", "alice", "pw", &alice, err), DD_OK, err);
    CHECK_CODE(dd_project_create(st, 0, "fraud", &proj, err), DD_OK, err);
    /* the creator (default) got the original's default row: read only */
    CHECK(rows(RIGHTS_SQL("default", "fraud")) == 4);

    /* a first grant creates a row holding exactly what it names */
    CHECK_CODE(dd_permission_set(st, "alice", "fraud", 1, -1, -1, -1, err), DD_OK, err);
    CHECK(rows(RIGHTS_SQL("alice", "fraud")) == 8);
    CHECK_CODE(dd_permission_set(st, "alice", "fraud", -1, 1, 1, -1, err), DD_OK, err);
    CHECK(rows(RIGHTS_SQL("alice", "fraud")) == 14);
    CHECK_CODE(dd_permission_set(st, "alice", "fraud", 0, -1, -1, -1, err), DD_OK, err);
    CHECK(rows(RIGHTS_SQL("alice", "fraud")) == 6);

    /* refusals name the unknown thing and change nothing */
    int64_t before = rows("SELECT COUNT(*) FROM user_permission");
    CHECK_CODE(dd_permission_set(st, "alice", "nope", 1, 1, 1, 1, err), DD_NOT_FOUND, err);
    CHECK(strstr(err->msg, "project \"nope\"") != NULL);
    CHECK_CODE(dd_permission_set(st, "nobody", "fraud", 1, 1, 1, 1, err), DD_NOT_FOUND, err);
    CHECK(strstr(err->msg, "user \"nobody\"") != NULL);
    CHECK_CODE(dd_permission_remove(st, "nobody", "fraud", err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_permission_remove(st, "alice", "nope", err), DD_NOT_FOUND, err);
    CHECK(rows("SELECT COUNT(*) FROM user_permission") == before);
    CHECK(rows(RIGHTS_SQL("alice", "fraud")) == 6);

    CHECK_CODE(dd_permission_remove(st, "alice", "fraud", err), DD_OK, err);
    CHECK(rows("SELECT COUNT(*) FROM user_permission WHERE user_id = (SELECT id FROM user"
               " WHERE username = 'alice')") == 0);
    CHECK_CODE(dd_permission_remove(st, "alice", "fraud", err), DD_OK, err);   /* no row */

    /* deleting a user removes its rows in the same transaction */
    CHECK_CODE(dd_permission_set(st, "alice", "fraud", 1, 1, 1, 1, err), DD_OK, err);
    CHECK_CODE(dd_user_delete(st, alice, err), DD_OK, err);
    CHECK(rows("SELECT COUNT(*) FROM user_permission WHERE user_id NOT IN"
               " (SELECT id FROM user)") == 0);
    CHECK(rows("SELECT COUNT(*) FROM user WHERE username = 'alice'") == 0);
}

static void test_project_of(dd_store *st)
{
    dd_err err_buf = {0}, *err = &err_buf;
    int64_t p1 = 0, p2 = 0, e = 0, it = 0, res = 0, model = 0, ver = 0, n = 0, link = 0;
    CHECK_CODE(dd_project_create(st, 0, "p-one", &p1, err), DD_OK, err);
    CHECK_CODE(dd_project_create(st, 0, "p-two", &p2, err), DD_OK, err);
    CHECK_CODE(dd_experiment_create(st, p2, "e", &e, err), DD_OK, err);
    CHECK_CODE(dd_iteration_create(st, e, 0, &it, err), DD_OK, err);
    CHECK_CODE(dd_param_set(st, it, "lr", "0.1", err), DD_OK, err);
    dd_metric_point pt = {.value = 0.5};
    CHECK_CODE(dd_metric_append(st, it, "acc", &pt, 1, err), DD_OK, err);
    CHECK_CODE(dd_resource_create_inline(st, e, "m.bin", "x", 1, &res, err), DD_OK, err);
    CHECK_CODE(dd_model_create(st, p2, "m", "", &model, err), DD_OK, err);
    CHECK_CODE(dd_version_create(st, model, it, res, "", &ver, &n, err), DD_OK, err);
    raw_exec(path_g, "INSERT INTO iteration_file(iteration_id, name, content) SELECT id,"
                     " 'Manifest.toml', '' FROM iteration");
    struct { dd_entity kind; int64_t id; } cases[] = {
        {DD_ENT_PROJECT, p2}, {DD_ENT_EXPERIMENT, e}, {DD_ENT_ITERATION, it},
        {DD_ENT_PARAMETER, rows("SELECT MAX(id) FROM parameter")},
        {DD_ENT_METRIC_SERIES, rows("SELECT MAX(id) FROM metric_latest")},
        {DD_ENT_ITERATION_FILE, rows("SELECT MAX(id) FROM iteration_file")},
        {DD_ENT_RESOURCE, res}, {DD_ENT_MODEL, model}, {DD_ENT_VERSION, ver},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t got = -1;
        CHECK_CODE(dd_project_of(st, cases[i].kind, cases[i].id, &got, err), DD_OK, err);
        CHECK(got == p2);
    }
    dd_tag_kind tk[] = {DD_TAG_PROJECT, DD_TAG_EXPERIMENT, DD_TAG_ITERATION};
    dd_entity te[] = {DD_ENT_PROJECT_TAG, DD_ENT_EXPERIMENT_TAG, DD_ENT_ITERATION_TAG};
    int64_t owner[] = {p2, e, it};
    for (int i = 0; i < 3; i++) {
        int64_t got = -1;
        CHECK_CODE(dd_tag_attach(st, tk[i], owner[i], "gold", &link, err), DD_OK, err);
        CHECK_CODE(dd_project_of(st, te[i], link, &got, err), DD_OK, err);
        CHECK(got == p2);
    }
    int64_t got = -1;
    CHECK_CODE(dd_project_of(st, DD_ENT_PROJECT, p1, &got, err), DD_OK, err);
    CHECK(got == p1);
    CHECK_CODE(dd_project_of(st, DD_ENT_ITERATION, it + 1000, &got, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_project_of(st, DD_ENT_COUNT, 1, &got, err), DD_INVALID, err);
}

int main(void)
{
    char path[1024];
    check_db_path(path, sizeof path, "users");
    path_g = path;
    dd_err err_buf = {0}, *err = &err_buf;
    dd_store *st = NULL;
    CHECK_CODE(dd_store_open(path, NULL, &st, err), DD_OK, err);
    if (st) {
        test_grant_revoke(st);
        test_project_of(st);
        CHECK_CODE(dd_store_check_integrity(st, err), DD_OK, err);
        dd_store_close(st);
    }
    return check_done();
}
