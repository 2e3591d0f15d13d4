/*
 * test_store_ops.c - the table of operations (store_ops.h): a local store answers through
 * dd_store_local_ops; a wrapped store's calls reach its own entries with its impl; a NULL
 * entry answers DD_UNSUPPORTED (or the table's `missing` hook) and nothing else runs;
 * dd_store_close frees a wrapped store through its close entry.
 */
#include "check.h"
#include "store_ops.h"

typedef struct fake {
    int finds;          /* project_find calls */
    int closed;
    char last_name[64];
} fake;

static dd_code fake_project_find(dd_store *st, const char *name, int64_t *id_out, dd_err *err)
{
    fake *f = dd_store_impl(st);
    f->finds++;
    snprintf(f->last_name, sizeof f->last_name, "%s", name);
    if (strcmp(name, "p") != 0)
        return dd_fail(err, DD_NOT_FOUND, "no project %s", name);
    *id_out = 7;
    return DD_OK;
}

static void fake_close(dd_store *st)
{
    fake *f = dd_store_impl(st);
    f->closed++;
}

static dd_code read_only_missing(const dd_store *st, const char *fn, dd_err *err)
{
    (void)st;
    return dd_fail(err, DD_READ_ONLY, "%s: read-only store", fn);
}

static const dd_store_ops fake_ops = {
    .name = "fake",
    .close = fake_close,
    .project_find = fake_project_find,
};

static const dd_store_ops fake_ro_ops = {
    .name = "fake-ro",
    .missing = read_only_missing,
    .project_find = fake_project_find,
};

static void test_local_store_uses_the_local_table(void)
{
    char path[4096];
    check_db_path(path, sizeof path, "store_ops_local");
    dd_store *st = NULL;
    dd_err err[1];
    CHECK_CODE(dd_store_open(path, NULL, &st, err), DD_OK, err);
    if (!st)
        return;
    CHECK(((const struct dd_store_head *)st)->ops == &dd_store_local_ops);
    CHECK(dd_store_impl(st) == NULL);
    int64_t id = 0, found = 0;
    CHECK_CODE(dd_project_create(st, 0, "p", &id, err), DD_OK, err);
    CHECK_CODE(dd_project_find(st, "p", &found, err), DD_OK, err);
    CHECK(found == id && id > 0);
    CHECK_CODE(dd_project_find(st, "q", &found, err), DD_NOT_FOUND, err);
    const char *eng = dd_store_engine(st);
    CHECK(strcmp(eng, "sqlite") == 0 || strcmp(eng, "postgres") == 0);
    dd_store_close(st);
}

static void test_wrapped_store_dispatches_and_refuses(void)
{
    fake f = {0};
    dd_store *st = NULL;
    dd_err err[1];
    CHECK_CODE(dd_store_wrap(&fake_ops, &f, "http://127.0.0.1:1", &st, err), DD_OK, err);
    if (!st)
        return;
    CHECK_STR(dd_store_path(st), "http://127.0.0.1:1");
    CHECK_STR(dd_store_engine(st), "fake");
    CHECK(dd_store_impl(st) == &f);

    int64_t id = 0;
    CHECK_CODE(dd_project_find(st, "p", &id, err), DD_OK, err);
    CHECK(id == 7 && f.finds == 1);
    CHECK_CODE(dd_project_find(st, "zz", &id, err), DD_NOT_FOUND, err);
    CHECK_STR(f.last_name, "zz");

    /* not in the table: DD_UNSUPPORTED naming the function and the store */
    err->msg[0] = 0;
    CHECK_CODE(dd_project_create(st, 0, "x", &id, err), DD_UNSUPPORTED, err);
    CHECK(err->code == DD_UNSUPPORTED);
    CHECK(strstr(err->msg, "dd_project_create") && strstr(err->msg, "fake"));
    CHECK(f.finds == 2);
    CHECK_CODE(dd_param_set(st, 1, "k", "v", NULL), DD_UNSUPPORTED, (dd_err *)NULL);
    char dir[64] = "unchanged";
    dd_store_local_dir(st, dir, sizeof dir);
    CHECK_STR(dir, "");

    dd_store_close(st);
    CHECK(f.closed == 1);
}

static void test_missing_hook_decides_the_answer(void)
{
    fake f = {0};
    dd_store *st = NULL;
    dd_err err[1];
    CHECK_CODE(dd_store_wrap(&fake_ro_ops, &f, "https://h", &st, err), DD_OK, err);
    if (!st)
        return;
    CHECK_CODE(dd_iteration_set_notes(st, 1, "n", err), DD_READ_ONLY, err);
    CHECK(strstr(err->msg, "dd_iteration_set_notes: read-only store") != NULL);
    dd_store_close(st);   /* no close entry: only the wrapper is freed */
    CHECK(f.closed == 0);
}

int main(void)
{
    test_local_store_uses_the_local_table();
    test_wrapped_store_dispatches_and_refuses();
    test_missing_hook_decides_the_answer();
    return check_done();
}
