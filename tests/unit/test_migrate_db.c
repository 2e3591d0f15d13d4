/*
 * test_migrate_db.c - migrate-db's backend (migrate_db.h) and its engine operation
 * (db.h db_id_counter), on each engine (engine_fixture.h): the id counter reads the last
 * id handed out (a deleted one included), is raised and never lowered; a copy that fails
 * part way (an injected failure of one DST transaction) is resumed by the next run, which
 * copies only what is missing, and ends with the same rows.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "check_sql.h"
#include "db.h"
#include "engine_fixture.h"
#include "migrate_db.h"
#include "store.h"

static dd_store *open_new(const char *name, char *loc, size_t len)
{
    dd_test_locator(loc, len, name);
    dd_store *st = NULL;
    dd_err err = {0};
    CHECK_CODE(dd_store_open(loc, NULL, &st, &err), DD_OK, &err);
    return st;
}

static int64_t query_int(dd_store *st, const char *sql)
{
    dd_conn *c;
    dd_err err = {0};
    int64_t v = -1;
    CHECK_CODE(db_conn(st, &c, &err), DD_OK, &err);
    CHECK_CODE(db_int(c, &v, &err, "test", sql, NULL), DD_OK, &err);
    return v;
}

static void test_id_counter(void)
{
    char loc[512];
    dd_store *st = open_new("mdb_counter", loc, sizeof loc);
    dd_err err = {0};
    int64_t a = 0, b = 0, c = 0, v = 0;
    CHECK_CODE(dd_project_create(st, 0, "a", &a, &err), DD_OK, &err);
    CHECK_CODE(dd_project_create(st, 0, "b", &b, &err), DD_OK, &err);
    CHECK_CODE(dd_project_delete(st, b, false, &err), DD_OK, &err);
    dd_conn *conn;
    CHECK_CODE(db_conn(st, &conn, &err), DD_OK, &err);
    CHECK_CODE(db_id_counter(conn, "project", 0, &v, &err), DD_OK, &err);
    CHECK(v == b && b > a);                           /* the deleted one counts */
    CHECK_CODE(db_id_counter(conn, "user", 0, &v, &err), DD_OK, &err);
    CHECK(v == 1);                                    /* the default user; "user" is quoted */
    CHECK_CODE(db_id_counter(conn, "project", b + 100, &v, &err), DD_OK, &err);
    CHECK(v == b + 100);
    CHECK_CODE(db_id_counter(conn, "project", 5, &v, &err), DD_OK, &err);
    CHECK(v == b + 100);                              /* never lowered */
    CHECK_CODE(dd_project_create(st, 0, "c", &c, &err), DD_OK, &err);
    CHECK(c == b + 101);
    CHECK_CODE(db_id_counter(conn, "artifact_chunk", 0, &v, &err), DD_OK, &err);
    CHECK(v == 0);
    dd_store_close(st);
}

typedef struct interrupt {
    dd_store *dst;
    int pages, fail_after;
} interrupt;

static void on_page(void *ctx, const dd_migrate_db_stats *s)
{
    interrupt *in = ctx;
    (void)s;
    if (++in->pages == in->fail_after)
        db_test_fail_next(in->dst, DD_IO, 1);   /* the next DST transaction fails */
}

static void fill(dd_store *st)
{
    dd_err err = {0};
    int64_t p = 0, e = 0, it = 0;
    CHECK_CODE(dd_project_create(st, 0, "proj", &p, &err), DD_OK, &err);
    CHECK_CODE(dd_experiment_create(st, p, "exp", &e, &err), DD_OK, &err);
    for (int i = 0; i < 3; i++) {
        CHECK_CODE(dd_iteration_create(st, e, 0, &it, &err), DD_OK, &err);
        dd_metric_point pts[100];
        for (int k = 0; k < 100; k++)
            pts[k] = (dd_metric_point){.value = k * 0.25 + i, .has_step = true, .step = k - 7};
        CHECK_CODE(dd_metric_append(st, it, "loss", pts, 100, &err), DD_OK, &err);
        CHECK_CODE(dd_metric_append(st, it, "acc", pts, 50, &err), DD_OK, &err);
        CHECK_CODE(dd_tag_attach(st, DD_TAG_ITERATION, it, i ? "b" : "a", NULL, &err),
                   DD_OK, &err);
    }
}

static void test_interrupted_copy_resumes(void)
{
    char sloc[512], dloc[512];
    dd_store *src = open_new("mdb_src", sloc, sizeof sloc);
    fill(src);
    dd_store_close(src);
    dd_store_close(open_new("mdb_dst", dloc, sizeof dloc));   /* `deardiary init DST` */

    dd_store *s = NULL, *d = NULL;
    dd_err err = {0};
    CHECK_CODE(dd_migrate_db_open(sloc, dloc, NULL, &s, &d, &err), DD_OK, &err);
    interrupt in = {.dst = d, .fail_after = 20};
    dd_migrate_db_hooks hooks = {.progress = on_page, .ctx = &in, .page_rows = 7};
    dd_migrate_db_stats st;
    CHECK(dd_migrate_db_copy(s, d, &hooks, &st, &err) == DD_IO);
    CHECK(!st.resumed && st.rows_copied > 0 && st.rows_copied < st.rows_total);
    int64_t first = st.rows_copied;
    dd_store_close(s);
    dd_store_close(d);

    /* the second run resumes: it copies the rest only */
    CHECK_CODE(dd_migrate_db_open(sloc, dloc, NULL, &s, &d, &err), DD_OK, &err);
    hooks = (dd_migrate_db_hooks){.page_rows = 7};
    CHECK_CODE(dd_migrate_db_copy(s, d, &hooks, &st, &err), DD_OK, &err);
    CHECK(st.resumed);
    CHECK(st.rows_done == st.rows_total);
    CHECK(st.rows_copied < st.rows_total - first + 40);   /* registry, dir_time again */
    static const char *const sums[] = {
        /* SUM(bigint) is numeric on PostgreSQL: cast (ENGINES.md §2.2) */
        "SELECT CAST(COUNT(*) * 1000003 + SUM(step * 7 + id) AS BIGINT) FROM metric",
        "SELECT CAST(SUM(value * 4) AS BIGINT) FROM metric",
        "SELECT CAST(COUNT(*) * 1000 + SUM(n) AS BIGINT) FROM metric_block",
        "SELECT CAST(SUM(id * 31 + tag_id) AS BIGINT) FROM iteration_tag",
        "SELECT CAST(SUM(point_count * 17 + max_step) AS BIGINT) FROM metric_latest",
    };
    for (size_t i = 0; i < sizeof sums / sizeof *sums; i++)
        CHECK(query_int(s, sums[i]) == query_int(d, sums[i]));
    CHECK(strcmp(db_registry_uuid(s), db_registry_uuid(d)) == 0);
    dd_store_close(s);
    dd_store_close(d);

    /* a DST with other data is refused, and so is SRC as its own DST */
    char oloc[512];
    dd_store *o = open_new("mdb_other", oloc, sizeof oloc);
    int64_t p = 0;
    CHECK_CODE(dd_project_create(o, 0, "theirs", &p, &err), DD_OK, &err);
    dd_store_close(o);
    CHECK(dd_migrate_db_open(sloc, oloc, NULL, &s, &d, &err) == DD_CONFLICT);
    CHECK(strstr(err.msg, "table project has rows") != NULL && !s && !d);
    CHECK(dd_migrate_db_open(sloc, sloc, NULL, &s, &d, &err) == DD_INVALID);
}

int main(void)
{
    test_id_counter();
    test_interrupted_copy_resumes();
    return dd_test_done();
}
