/*
 * test_store_basics.c - the store's foundations: opening and migrating a database,
 * refusing newer or corrupted ones, the seeded `default` user, users and permissions,
 * and the plain values (names, timestamps, enums) every other entity relies on.
 */
#include <pthread.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdint.h>
#include <time.h>

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifacts.h"
#include "check.h"
#include "engine_fixture.h"
#include "check_sql.h"
#include "engine.h"
#include "migrations.h"
#include "store.h"

/* ---------------------------------------------------------------- helpers */

static int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = fwrite(data, 1, len, f);
    return fclose(f) == 0 && n == len ? 0 : -1;
}

typedef struct user_rows {
    int count;
    int defaults;           /* rows named "default" */
    int64_t seen[16];
} user_rows;

static int collect_users(void *ctx, const dd_user *u)
{
    user_rows *r = ctx;
    if (r->count < 16)
        r->seen[r->count] = u->id;
    r->count++;
    if (u->username && strcmp(u->username, DD_DEFAULT_USERNAME) == 0)
        r->defaults++;
    return 0;
}

static int stop_after_one(void *ctx, const dd_user *u)
{
    (void)u;
    (*(int *)ctx)++;
    return 1;
}

typedef struct perm_rows {
    int count;
    dd_user_permission rows[16];
} perm_rows;

static int collect_perms(void *ctx, const dd_user_permission *p)
{
    perm_rows *r = ctx;
    if (r->count < 16)
        r->rows[r->count] = *p;
    r->count++;
    return 0;
}

/* ---------------------------------------------------------------- open & migrate */

static void test_open_and_migrate(void)
{
    char path[1024];
    dd_test_locator(path, sizeof path, "basics_open");
    dd_err err_buf = {0}, *err = &err_buf;
    dd_store *st = NULL;

    CHECK(dd_schema_version_known() >= 1);
    CHECK_CODE(dd_store_open(path, NULL, &st, err), DD_OK, err);
    CHECK(st != NULL);
    if (!st)
        return;
    if (dd_test_is_pg()) {
        /* the canonical URI: the same registry, never its password */
        char want[1024];
        snprintf(want, sizeof want, "postgresql://dd@127.0.0.1:%d/%s", dd_test_pg_port(),
                 strrchr(path, '/') + 1);
        CHECK_STR(dd_store_path(st), want);
        CHECK(strstr(dd_store_path(st), "fixture-pw") == NULL);
        CHECK_STR(dd_store_engine(st), "postgres");
    } else {
        CHECK_STR(dd_store_path(st), path);
        CHECK_STR(dd_store_engine(st), "sqlite");
    }
    int v = -1;
    CHECK_CODE(dd_schema_version(st, &v, err), DD_OK, err);
    CHECK(v == dd_schema_version_known());
    CHECK_CODE(dd_store_check_integrity(st, err), DD_OK, err);
    /* The data version changes with every commit, this thread's own included. */
    int64_t dv1 = -1, dv2 = -1, dv3 = -1;
    CHECK_CODE(dd_store_data_version(st, &dv1, err), DD_OK, err);
    CHECK_CODE(dd_store_data_version(st, &dv2, err), DD_OK, err);
    /* no commit in between (on PostgreSQL the number is the cluster's snapshot, which
     * any commit of another database moves: ENGINES.md risk 10, false positives only) */
    CHECK(dv1 == dv2 || dd_test_is_pg());
    int64_t pid = 0;
    CHECK_CODE(dd_project_create(st, 0, "dv-probe", &pid, err), DD_OK, err);
    CHECK_CODE(dd_store_data_version(st, &dv3, err), DD_OK, err);
    if (dv3 == dv2)
        fprintf(stderr, "dd_store_data_version: %lld before and after this thread's own commit\n",
                (long long)dv2);
    CHECK(dv3 != dv2);
    /* ... and another connection's commit (a second store on the same file). */
    dd_store *other = NULL;
    CHECK_CODE(dd_store_open(path, NULL, &other, err), DD_OK, err);
    if (other) {
        int64_t dv4 = -1;
        CHECK_CODE(dd_project_create(other, 0, "dv-probe-2", &pid, err), DD_OK, err);
        CHECK_CODE(dd_store_data_version(st, &dv4, err), DD_OK, err);
        CHECK(dv4 != dv3);
        dd_store_close(other);
    }
    CHECK_CODE(dd_project_delete(st, pid, false, err), DD_OK, err);
    CHECK_CODE(dd_project_find(st, "dv-probe", &pid, err), DD_OK, err);
    CHECK_CODE(dd_project_delete(st, pid, false, err), DD_OK, err);
    dd_store_close(st);
    st = NULL;

    /* What the first open recorded. */
    int64_t applied = raw_int(path, "SELECT COUNT(*) FROM schema_migrations");
    int64_t max_applied = raw_int(path, "SELECT MAX(version) FROM schema_migrations");
    char applied_at[64];
    raw_join(path, "SELECT applied_at FROM schema_migrations ORDER BY version", ",",
             applied_at, sizeof applied_at);
    CHECK(applied >= 1);
    CHECK(max_applied == dd_schema_version_known());
    CHECK(applied_at[0] != 0);
    CHECK(raw_int(path, "SELECT COUNT(*) FROM \"user\" WHERE username = 'default'") == 1);

    /* Reopening applies nothing new and seeds no second default user. */
    CHECK_CODE(dd_store_open(path, NULL, &st, err), DD_OK, err);
    if (st) {
        v = -1;
        CHECK_CODE(dd_schema_version(st, &v, err), DD_OK, err);
        CHECK(v == dd_schema_version_known());
        user_rows ur = {0};
        CHECK_CODE(dd_user_list(st, collect_users, &ur, err), DD_OK, err);
        CHECK(ur.count == 1);
        CHECK(ur.defaults == 1);
        /* A callback returning non-zero stops the listing and the call still succeeds. */
        int calls = 0;
        CHECK_CODE(dd_user_list(st, stop_after_one, &calls, err), DD_OK, err);
        CHECK(calls == 1);
        dd_store_close(st);
        st = NULL;
    }
    CHECK(raw_int(path, "SELECT COUNT(*) FROM schema_migrations") == applied);
    char applied_at2[64];
    raw_join(path, "SELECT applied_at FROM schema_migrations ORDER BY version", ",",
             applied_at2, sizeof applied_at2);
    CHECK_STR(applied_at2, applied_at);
    CHECK(raw_int(path, "SELECT COUNT(*) FROM \"user\" WHERE username = 'default'") == 1);

    /* A read-only open of the same file works and reports the same version. */
    dd_store_options ro = {.read_only = true};
    CHECK_CODE(dd_store_open(path, &ro, &st, err), DD_OK, err);
    if (st) {
        v = -1;
        CHECK_CODE(dd_schema_version(st, &v, err), DD_OK, err);
        CHECK(v == dd_schema_version_known());
        /* A read-only store refuses writes. */
        CHECK(dd_project_create(st, 0, "nope", &pid, err) != DD_OK);
        dd_store_close(st);
        st = NULL;
    }
    CHECK(raw_int(path, "SELECT COUNT(*) FROM project") == 0);   /* both probes deleted */

    /* No path: refused, no store. */
    static int not_a_store;
    st = (dd_store *)(void *)&not_a_store;   /* non-NULL: the call must reset it */
    CHECK_CODE(dd_store_open("", NULL, &st, err), DD_INVALID, err);
    CHECK(st == NULL);
    dd_store_close(NULL);   /* accepted */
}

/* A database as a binary of schema version `version` left it: the embedded migrations up
 * to that one, applied directly (no store), and recorded as the store records them. */
static int raw_schema_up_to(const char *path, int version)
{
    int rc = raw_exec(path, "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,"
                            " name TEXT NOT NULL, applied_at TEXT NOT NULL)");
    const dd_migration_set *set = raw_is_pg(path) ? dd_engine_pg.migrations
                                                  : dd_engine_sqlite.migrations;
    for (int i = 0; rc == SQLITE_OK && i < set->count; i++) {
        const dd_migration *m = &set->list[i];
        if (m->version > version)
            break;
        char record[256];
        snprintf(record, sizeof record, "INSERT INTO schema_migrations VALUES (%d, '%s',"
                 " '2026-01-01T00:00:00.000Z')", m->version, m->name);
        rc = raw_exec(path, m->sql);
        if (rc == SQLITE_OK)
            rc = raw_exec(path, record);
    }
    return rc;
}

/* 004_metric_clustered on a database that holds points in the old layout (a rowid table,
 * ids global across series): every point survives with its value, step and recorded_at,
 * each series is renumbered 0, 1, ... in its old write order, and appends continue it. */
/* Project 1 'p' and its experiment 1 'e', as the migration tests seed an old schema. */
#define SEED_PROJECT_EXPERIMENT \
    "INSERT INTO project(id, name, created_date) VALUES (1, 'p', '2026-01-01T00:00:00.000Z');" \
    "INSERT INTO experiment(id, project_id, name, created_date)" \
    " VALUES (1, 1, 'e', '2026-01-01T00:00:00.000Z');"

static void test_metric_migration(void)
{
    /* upgrades from schema 3: below PostgreSQL's floor (a PG registry starts at 8) */
    DD_TEST_ONLY("sqlite");
    char path[1024];
    dd_test_locator(path, sizeof path, "basics_metric_migration");
    dd_err err_buf = {0}, *err = &err_buf;
    CHECK(raw_schema_up_to(path, 3) == SQLITE_OK);
    CHECK(raw_exec(path,
        "BEGIN;"
        SEED_PROJECT_EXPERIMENT
        "INSERT INTO iteration(id, experiment_id, created_date)"
        " VALUES (1, 1, '2026-01-01T00:00:00.000Z');"
        /* two series interleaved; loss has two points at step 1, written 12 then 14 */
        "INSERT INTO metric VALUES (10, 1, 'loss', 0.5, 0, '2026-01-01T00:00:00.000Z');"
        "INSERT INTO metric VALUES (11, 1, 'acc', 0.1, 0, '2026-01-01T00:00:01.000Z');"
        "INSERT INTO metric VALUES (12, 1, 'loss', 0.4, 1, '2026-01-01T00:00:02.000Z');"
        "INSERT INTO metric VALUES (13, 1, 'acc', 0.2, 1, '2026-01-01T00:00:03.000Z');"
        "INSERT INTO metric VALUES (14, 1, 'loss', 0.3, 1, '2026-01-01T00:00:04.000Z');"
        "INSERT INTO metric_latest(iteration_id, key, value, step, recorded_at, max_step,"
        " point_count, text_bytes) VALUES"
        " (1, 'loss', 0.3, 1, '2026-01-01T00:00:04.000Z', 1, 3, 0),"
        " (1, 'acc', 0.2, 1, '2026-01-01T00:00:03.000Z', 1, 2, 0);"
        "COMMIT;") == SQLITE_OK);
    dd_store *st = NULL;
    CHECK_CODE(dd_store_open(path, NULL, &st, err), DD_OK, err);
    CHECK(raw_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'metric_by_series'")
          == 0);
    CHECK(raw_int(path, "SELECT COUNT(*) FROM metric") == 5);
    char got[256];
    raw_text(path, "SELECT group_concat(id || ':' || step || ':' || value || ':' ||"
             " substr(recorded_at, 18, 2), ' ') FROM (SELECT * FROM metric"
             " WHERE key = 'loss' ORDER BY step, id)", got, sizeof got);
    CHECK_STR(got, "0:0:0.5:00 1:1:0.4:02 2:1:0.3:04");
    raw_text(path, "SELECT group_concat(id || ':' || value, ' ') FROM (SELECT * FROM metric"
             " WHERE key = 'acc' ORDER BY step, id)", got, sizeof got);
    CHECK_STR(got, "0:0.1 1:0.2");
    if (st) {
        dd_metric_point pt = {.value = 0.25, .has_step = true, .step = 1};
        CHECK_CODE(dd_metric_append(st, 1, "loss", &pt, 1, err), DD_OK, err);
        CHECK_CODE(dd_store_check_integrity(st, err), DD_OK, err);
        dd_store_close(st);
    }
    raw_text(path, "SELECT group_concat(id || ':' || value, ' ') FROM (SELECT * FROM metric"
             " WHERE key = 'loss' AND step = 1 ORDER BY step, id)", got, sizeof got);
    CHECK_STR(got, "1:0.4 2:0.3 3:0.25");
}

/* 008_row_times on a database of schema 6 holding rows: the rows get their last known
 * change (a parameter its iteration's end, else its creation; a series its latest point),
 * the root and /projects the first and last project's creation, and from then on the
 * triggers keep the times: a parameter set stamps its row, a new one the iteration's
 * params/ (and no other directory), a deleted project /projects. */
static void test_row_times_migration(void)
{
    /* upgrades from schema 7: below PostgreSQL's floor (a PG registry starts at 8) */
    DD_TEST_ONLY("sqlite");
    char path[1024];
    dd_test_locator(path, sizeof path, "basics_row_times_migration");
    dd_err err_buf = {0}, *err = &err_buf;
    CHECK(raw_schema_up_to(path, 7) == SQLITE_OK);
    CHECK(raw_exec(path,
        "BEGIN;"
        "INSERT INTO project(id, name, created_date) VALUES (1, 'p', '2026-01-01T00:00:00.000Z'),"
        " (2, 'q', '2026-01-05T00:00:00.000Z');"
        "INSERT INTO experiment(id, project_id, name, created_date)"
        " VALUES (1, 1, 'e', '2026-01-01T00:00:00.000Z');"
        "INSERT INTO iteration(id, experiment_id, created_date, end_date)"
        " VALUES (1, 1, '2026-01-02T00:00:00.000Z', '2026-01-03T00:00:00.000Z'),"
        " (2, 1, '2026-01-04T00:00:00.000Z', NULL);"
        "INSERT INTO parameter(iteration_id, key, value) VALUES (1, 'lr', '0.1'), (2, 'lr', '0.2');"
        "INSERT INTO metric_latest(iteration_id, key, value, step, recorded_at, max_step,"
        " point_count, text_bytes) VALUES (2, 'loss', 0.3, 1, '2026-01-04T00:00:09.000Z', 1, 2, 0);"
        "COMMIT;") == SQLITE_OK);
    dd_store *st = NULL;
    CHECK_CODE(dd_store_open(path, NULL, &st, err), DD_OK, err);
    char got[256];
    raw_text(path, "SELECT group_concat(updated_date, ' ') FROM (SELECT updated_date"
             " FROM parameter ORDER BY iteration_id)", got, sizeof got);
    CHECK_STR(got, "2026-01-03T00:00:00.000Z 2026-01-04T00:00:00.000Z");
    raw_text(path, "SELECT updated_date FROM metric_latest", got, sizeof got);
    CHECK_STR(got, "2026-01-04T00:00:09.000Z");
    raw_text(path, "SELECT group_concat(name || '=' || updated_date, ' ') FROM (SELECT *"
             " FROM dir_time WHERE name <> 'models' AND owner_id = 0 ORDER BY name)", got,
             sizeof got);
    CHECK_STR(got, "projects=2026-01-05T00:00:00.000Z root=2026-01-01T00:00:00.000Z");
    if (st) {
        dd_project p = {0};
        CHECK_CODE(dd_project_get(st, 1, &p, err), DD_OK, err);
        CHECK_STR(p.updated_date, "2026-01-01T00:00:00.000Z");   /* never changed */
        dd_project_clear(&p);
        char ts[DD_TS_LEN];
        CHECK_CODE(dd_dir_time(st, "experiments", 1, ts, err), DD_OK, err);
        CHECK_STR(ts, "");                                       /* nothing came or went */
        dd_iteration it = {0};
        CHECK_CODE(dd_iteration_get(st, 1, &it, err), DD_OK, err);
        CHECK_STR(it.updated_date, "2026-01-03T00:00:00.000Z");  /* its end */
        dd_iteration_clear(&it);
        char params[DD_TS_LEN], metrics[DD_TS_LEN];
        CHECK_CODE(dd_param_set(st, 2, "lr", "0.25", err), DD_OK, err);
        CHECK_CODE(dd_iteration_values_updated(st, 2, params, metrics, err), DD_OK, err);
        CHECK(strcmp(params, "2026-02-01") > 0);                 /* stamped now */
        CHECK_STR(metrics, "2026-01-04T00:00:09.000Z");
        CHECK_CODE(dd_dir_time(st, "params", 2, ts, err), DD_OK, err);
        CHECK_STR(ts, "");                                       /* no entry came */
        CHECK_CODE(dd_param_set(st, 2, "depth", "3", err), DD_OK, err);
        CHECK_CODE(dd_dir_time(st, "params", 2, ts, err), DD_OK, err);
        CHECK(strcmp(ts, "2026-02-01") > 0);                     /* params/ gained one */
        CHECK_CODE(dd_dir_time(st, "metrics", 2, ts, err), DD_OK, err);
        CHECK_STR(ts, "");                                       /* its sibling did not */
        CHECK_CODE(dd_iteration_get(st, 2, &it, err), DD_OK, err);
        CHECK_STR(it.updated_date, "2026-01-04T00:00:00.000Z");  /* nor notes etc. */
        dd_iteration_clear(&it);
        CHECK_CODE(dd_project_delete(st, 2, false, err), DD_OK, err);
        CHECK_CODE(dd_dir_time(st, "projects", 0, ts, err), DD_OK, err);
        CHECK(strcmp(ts, "2026-02-01") > 0);
        CHECK_CODE(dd_iteration_delete(st, 2, true, err), DD_OK, err);   /* its rows go with it */
        CHECK(raw_int(path, "SELECT COUNT(*) FROM dir_time WHERE name = 'params'") == 0);
        CHECK_CODE(dd_store_check_integrity(st, err), DD_OK, err);
        dd_store_close(st);
    }
}

/* The version of the embedded SQLite migration called `name` (its number changes when
 * another is merged before it, so tests look it up); 0 when there is none. */
static int migration_version(const char *name)
{
    const dd_migration_set *set = dd_engine_sqlite.migrations;
    for (int i = 0; i < set->count; i++)
        if (strcmp(set->list[i].name, name) == 0)
            return set->list[i].version;
    return 0;
}

/* A registry `label` of this test's engine at the schema just before migration `name`,
 * its locator in path. */
static void registry_before(const char *name, const char *label, char *path, size_t n)
{
    dd_test_locator(path, n, label);
    int version = migration_version(name);
    CHECK(version > 0);
    CHECK(raw_schema_up_to(path, version - 1) == 0);
}

static int ignore_change(void *ctx, const dd_stage_change *ch)
{
    (void)ctx;
    (void)ch;
    return 0;
}

static int count_change(void *ctx, const dd_stage_change *ch)
{
    dd_stage_change *rows = ctx;
    int i = 0;
    while (rows[i].id)
        i++;
    if (i < 3) {
        rows[i] = *ch;
        rows[i].username = NULL;
    }
    return 0;
}

/* stage_history on a database holding versions: each version gets one change, from
 * nothing to its current stage at its creation, so no history starts empty; later
 * changes follow it. */
static void test_stage_history_migration(void)
{
    /* a PostgreSQL registry starts at its baseline, below this migration only on SQLite */
    DD_TEST_ONLY("sqlite");
    char path[1024];
    registry_before("stage_history", "basics_stage_history_migration", path, sizeof path);
    dd_err err_buf = {0}, *err = &err_buf;
    CHECK(raw_exec(path,
        "BEGIN;"
        SEED_PROJECT_EXPERIMENT
        "INSERT INTO iteration(id, experiment_id, created_date)"
        " VALUES (1, 1, '2026-01-02T00:00:00.000Z');"
        "INSERT INTO model(id, project_id, name, created_date, last_version)"
        " VALUES (1, 1, 'm', '2026-01-02T00:00:00.000Z', 2);"
        "INSERT INTO model_version(id, model_id, version, iteration_id, stage_id, created_date)"
        " VALUES (1, 1, 1, 1, 3, '2026-01-03T00:00:00.000Z'),"
        " (2, 1, 2, 1, 1, '2026-01-04T00:00:00.000Z');"
        "COMMIT;") == SQLITE_OK);
    dd_store *st = NULL;
    CHECK_CODE(dd_store_open(path, NULL, &st, err), DD_OK, err);
    if (!st)
        return;
    dd_stage_change rows[4] = {{0}};
    int64_t total = 0;
    CHECK_CODE(dd_stage_history(st, 1, 10, 0, count_change, rows, &total, err), DD_OK, err);
    CHECK(total == 2);
    CHECK(rows[0].version == 2 && rows[0].from_stage == 0 && rows[0].to_stage == DD_STAGE_NONE);
    CHECK_STR(rows[0].changed_at, "2026-01-04T00:00:00.000Z");
    CHECK(rows[1].version == 1 && rows[1].from_stage == 0 &&
          rows[1].to_stage == DD_STAGE_PRODUCTION);
    CHECK_STR(rows[1].changed_at, "2026-01-03T00:00:00.000Z");
    CHECK(rows[0].user_id == 0 && rows[1].user_id == 0);
    /* the next change continues it: v2 takes PRODUCTION, v1 is archived */
    CHECK_CODE(dd_version_set_stage(st, 2, DD_STAGE_PRODUCTION, err), DD_OK, err);
    CHECK_CODE(dd_stage_history(st, 1, 10, 0, ignore_change, NULL, &total, err), DD_OK, err);
    CHECK(total == 4);
    CHECK_CODE(dd_store_check_integrity(st, err), DD_OK, err);
    dd_store_close(st);
}

/* metric_series_points (schema 014) on a registry holding points: every point moves to
 * metric_point under its series' id with its step, position, value and time; a series
 * whose summary row is missing gets one first (its points kept); the `metric` view shows
 * the old columns; reads, appends and deletes go on from there. Both engines. */
static void test_series_points_migration(void)
{
    char path[1024];
    registry_before("metric_series_points", "basics_series_points_migration", path, sizeof path);
    dd_err err_buf = {0}, *err = &err_buf;
    CHECK(raw_exec(path,
        "BEGIN;"
        SEED_PROJECT_EXPERIMENT
        "INSERT INTO iteration(id, experiment_id, created_date)"
        " VALUES (1, 1, '2026-01-01T00:00:00.000Z'), (2, 1, '2026-01-01T00:00:00.000Z');"
        /* loss: two points at step 1 (positions 1, 2); acc in another iteration; lost: no
         * summary row (its latest point by (step, id) is the one at step 5) */
        "INSERT INTO metric(iteration_id, key, step, id, value, recorded_at) VALUES"
        " (1, 'loss', 0, 0, 0.5, '2026-01-01T00:00:00.000Z'),"
        " (1, 'loss', 1, 1, 0.4, '2026-01-01T00:00:01.000Z'),"
        " (1, 'loss', 1, 2, 0.3, '2026-01-01T00:00:02.000Z'),"
        " (2, 'acc', 7, 0, 0.125, '2026-01-01T00:00:03.000Z'),"
        " (1, 'lost', 5, 0, 2.5, '2026-01-01T00:00:04.000Z'),"
        " (1, 'lost', 3, 1, 1.5, '2026-01-01T00:00:05.000Z');"
        "INSERT INTO metric_latest(iteration_id, key, value, step, recorded_at, max_step,"
        " point_count, text_bytes) VALUES"
        " (1, 'loss', 0.3, 1, '2026-01-01T00:00:02.000Z', 1, 3, 99),"
        " (2, 'acc', 0.125, 7, '2026-01-01T00:00:03.000Z', 7, 1, 42);"
        "COMMIT;") == 0);
    dd_store *st = NULL;
    CHECK_CODE(dd_store_open(path, NULL, &st, err), DD_OK, err);
    if (!st)
        return;
    CHECK(raw_int(path, "SELECT COUNT(*) FROM metric_point") == 6);
    char got[256];
    raw_join(path, "SELECT CAST(l.iteration_id AS TEXT) || l.key || ':' || CAST(p.step AS TEXT)"
             " || ':' || CAST(p.id AS TEXT) || ':' || CAST(p.value AS TEXT) || ':' ||"
             " substr(p.recorded_at, 18, 2) FROM metric_point p JOIN metric_latest l"
             " ON l.id = p.series_id WHERE l.key IN ('loss', 'acc')"
             " ORDER BY l.id, p.step, p.id", " ", got, sizeof got);
    CHECK_STR(got, "1loss:0:0:0.5:00 1loss:1:1:0.4:01 1loss:1:2:0.3:02 2acc:7:0:0.125:03");
    /* the missing summary, from the points: latest (step 5), highest step, count */
    CHECK(raw_int(path, "SELECT COUNT(*) FROM metric_latest WHERE key = 'lost' AND step = 5"
                        " AND value = 2.5 AND max_step = 5 AND point_count = 2"
                        " AND text_bytes = 0 AND id > (SELECT MAX(id) FROM metric_latest"
                        " WHERE key IN ('loss', 'acc'))") == 1);
    CHECK(raw_int(path, "SELECT COUNT(*) FROM metric_point p JOIN metric_latest l"
                        " ON l.id = p.series_id WHERE l.key = 'lost'") == 2);
    /* the view: the old columns */
    CHECK(raw_int(path, "SELECT COUNT(*) FROM metric WHERE iteration_id = 1 AND key = 'loss'"
                        " AND step = 1") == 2);
    CHECK(raw_int(path, "SELECT COUNT(*) FROM metric") == 6);
    /* the store carries on: positions continue, a new series gets its own id */
    dd_metric_point pt = {.value = 0.25, .has_step = true, .step = 1};
    CHECK_CODE(dd_metric_append(st, 1, "loss", &pt, 1, err), DD_OK, err);
    CHECK_CODE(dd_metric_append(st, 2, "new", &pt, 1, err), DD_OK, err);
    raw_join(path, "SELECT CAST(id AS TEXT) || ':' || CAST(value AS TEXT) FROM metric"
             " WHERE key = 'loss' AND step = 1 ORDER BY id", " ", got, sizeof got);
    CHECK_STR(got, "1:0.4 2:0.3 3:0.25");
    CHECK(raw_int(path, "SELECT COUNT(*) FROM metric_point p JOIN metric_latest l"
                        " ON l.id = p.series_id WHERE l.key = 'new' AND l.iteration_id = 2") == 1);
    /* 6 migrated + 2 appended, less lost's 2 */
    CHECK_CODE(dd_metric_delete(st, 1, "lost", err), DD_OK, err);
    CHECK(raw_int(path, "SELECT COUNT(*) FROM metric_point") == 6);
    CHECK_CODE(dd_store_check_integrity(st, err), DD_OK, err);
    dd_store_close(st);
}

/* artifact_root (schema 015) on a registry of 014: the registry row keeps its uuid and
 * records no root; recording one creates it 0700 with the marker, a second record keeps
 * the first, and only an absolute path fits the column. Both engines. */
static void test_artifact_root_migration(void)
{
    char path[1024];
    registry_before("artifact_root", "basics_artifact_root_migration", path, sizeof path);
    dd_err err_buf = {0}, *err = &err_buf;
    const char *uuid = "0f1e2d3c-4b5a-4697-8887-766554433221";
    char sql[256];
    snprintf(sql, sizeof sql, "INSERT INTO registry(id, uuid) VALUES (1, '%s')", uuid);
    CHECK(raw_exec(path, sql) == 0);
    dd_store *st = NULL;
    CHECK_CODE(dd_store_open(path, NULL, &st, err), DD_OK, err);
    if (!st)
        return;
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM registry WHERE uuid = '%s' AND"
             " artifact_root IS NULL", uuid);
    CHECK(raw_int(path, sql) == 1);
    char *root = NULL;
    CHECK_CODE(dd_artifacts_recorded_root(st, &root, err), DD_OK, err);
    CHECK(root == NULL);
    char tmpl[] = "/tmp/dd-art-root-XXXXXX", dir[PATH_MAX + 32], other[PATH_MAX + 32];
    CHECK(mkdtemp(tmpl) != NULL);
    char *base = realpath(tmpl, NULL);
    snprintf(dir, sizeof dir, "%s/a/root", base);
    snprintf(other, sizeof other, "%s/other", base);
    CHECK_CODE(dd_artifacts_record_root(st, dir, &root, err), DD_OK, err);
    CHECK_STR(root ? root : "", dir);
    free(root);
    struct stat sb;
    CHECK(stat(dir, &sb) == 0 && (sb.st_mode & 0777) == 0700);
    char marker[PATH_MAX + 64], held[64] = "";
    snprintf(marker, sizeof marker, "%s/.deardiary-registry", dir);
    FILE *f = fopen(marker, "r");
    CHECK(f && fgets(held, sizeof held, f));
    if (f)
        fclose(f);
    snprintf(sql, sizeof sql, "%s\n", uuid);
    CHECK_STR(held, sql);
    char why[256];
    CHECK(dd_artifacts_root_marked(st, dir, why, sizeof why));
    CHECK(!dd_artifacts_root_marked(st, base, why, sizeof why));
    CHECK(strstr(why, "no .deardiary-registry") != NULL);
    /* recorded already: the first stays, the other directory is not made */
    root = NULL;
    CHECK_CODE(dd_artifacts_record_root(st, other, &root, err), DD_OK, err);
    CHECK_STR(root ? root : "", dir);
    free(root);
    CHECK(access(other, F_OK) != 0);
    char *q = NULL;
    CHECK(asprintf(&q, "SELECT COUNT(*) FROM registry WHERE artifact_root = '%s'", dir) > 0);
    CHECK(q && raw_int(path, q) == 1);
    free(q);
    CHECK(raw_exec(path, "UPDATE registry SET artifact_root = 'relative/dir'") != 0);
    CHECK_CODE(dd_store_check_integrity(st, err), DD_OK, err);
    dd_store_close(st);
    unlink(marker);
    rmdir(dir);
    snprintf(dir, sizeof dir, "%s/a", base);
    rmdir(dir);
    rmdir(base);
    free(base);
}

static void test_newer_schema_refused(void)
{
    char path[1024];
    dd_test_locator(path, sizeof path, "basics_newer");
    dd_err err_buf = {0}, *err = &err_buf;
    dd_store *st = NULL;
    CHECK_CODE(dd_store_open(path, NULL, &st, err), DD_OK, err);
    dd_store_close(st);
    st = NULL;
    CHECK(raw_exec(path, "INSERT INTO schema_migrations(version, name, applied_at)"
                         " VALUES (999, 'from_the_future', '2099-01-01T00:00:00.000Z')") ==
          SQLITE_OK);

    memset(err, 0, sizeof *err);
    CHECK_CODE(dd_store_open(path, NULL, &st, err), DD_INVALID, err);
    CHECK(st == NULL);
    CHECK(err->code == DD_INVALID);
    /* The message names both versions. */
    char known[32];
    snprintf(known, sizeof known, "%d", dd_schema_version_known());
    CHECK(strstr(err->msg, "999") != NULL);
    CHECK(strstr(err->msg, known) != NULL);
    dd_store_close(st);
    st = NULL;

    /* Read-only opens refuse it too. */
    dd_store_options ro = {.read_only = true};
    memset(err, 0, sizeof *err);
    CHECK_CODE(dd_store_open(path, &ro, &st, err), DD_INVALID, err);
    CHECK(st == NULL);
    CHECK(strstr(err->msg, "999") != NULL);
    dd_store_close(st);

    /* Nothing was migrated or written by the refused opens. */
    CHECK(raw_int(path, "SELECT COUNT(*) FROM schema_migrations WHERE version > 999") == 0);
    CHECK(raw_int(path, "SELECT MAX(version) FROM schema_migrations") == 999);
}

static void test_corrupted_file_refused(void)
{
    /* the bytes of a SQLite file; a PG server vouches for its own pages */
    DD_TEST_ONLY("sqlite");
    char path[1024];
    dd_err err_buf = {0}, *err = &err_buf;
    dd_store *st = NULL;

    /* Pure garbage. */
    dd_test_locator(path, sizeof path, "basics_garbage");
    unsigned char junk[8192];
    uint32_t x = 0x12345678u;
    for (size_t i = 0; i < sizeof junk; i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (unsigned char)(x >> 16);
    }
    CHECK(write_file(path, junk, sizeof junk) == 0);
    memset(err, 0, sizeof *err);
    dd_code code = dd_store_open(path, NULL, &st, err);
    CHECK(code != DD_OK);
    CHECK(st == NULL);
    CHECK(err->code == code);
    CHECK(err->msg[0] != 0);
    dd_store_close(st);
    st = NULL;

    /* Text that is not a database. */
    dd_test_locator(path, sizeof path, "basics_text");
    const char *text = "this is not a database, just a text file that happens to be here\n";
    char big[4096 * 2];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = text[i % strlen(text)];
    CHECK(write_file(path, big, sizeof big) == 0);
    memset(err, 0, sizeof *err);
    code = dd_store_open(path, NULL, &st, err);
    CHECK(code != DD_OK);
    CHECK(st == NULL);
    CHECK(err->msg[0] != 0);
    dd_store_close(st);
    st = NULL;

    /* A real database cut short (the schema pages are gone). */
    dd_test_locator(path, sizeof path, "basics_truncated");
    CHECK_CODE(dd_store_open(path, NULL, &st, err), DD_OK, err);
    if (st) {
        int64_t pid = 0;
        CHECK_CODE(dd_project_create(st, 0, "soon-lost", &pid, err), DD_OK, err);
        dd_store_close(st);
        st = NULL;
    }
    char side[1100];
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    CHECK(truncate(path, 8192) == 0);
    memset(err, 0, sizeof *err);
    code = dd_store_open(path, NULL, &st, err);
    CHECK(code != DD_OK);
    CHECK(st == NULL);
    CHECK(err->msg[0] != 0);
    dd_store_close(st);
    st = NULL;

    /* A path that cannot be a database file. */
    code = dd_store_open("/nonexistent-dir-for-deardiary/x.db", NULL, &st, err);
    CHECK(code != DD_OK && st == NULL);
    dd_store_close(st);
    st = NULL;
    /* A read-only open does not create the file. */
    dd_test_locator(path, sizeof path, "basics_ro_absent");
    dd_store_options ro = {.read_only = true};
    code = dd_store_open(path, &ro, &st, err);
    CHECK(code != DD_OK && st == NULL);
    CHECK(access(path, F_OK) != 0);
    dd_store_close(st);
    st = NULL;

    /* A valid SQLite header followed by garbage pages. */
    dd_test_locator(path, sizeof path, "basics_badpages");
    memcpy(junk, "SQLite format 3", 16);
    CHECK(write_file(path, junk, sizeof junk) == 0);
    memset(err, 0, sizeof *err);
    code = dd_store_open(path, NULL, &st, err);
    CHECK(code != DD_OK);
    CHECK(st == NULL);
    dd_store_close(st);
}

/* ---------------------------------------------------------------- opening while another writes */

static void *commit_later(void *arg)
{
    struct timespec pause = {0, 300 * 1000000};
    nanosleep(&pause, NULL);
    sqlite3_exec(arg, "COMMIT", NULL, NULL, NULL);
    return NULL;
}

/* Another connection (another process, the sqlite3 shell) is in the middle of a write when
 * the store opens the file for the first time: the store must wait for it (busy timeout),
 * not fail with "database is locked". Here the writer commits after 300 ms. */
static void test_open_waits_for_writer(void)
{
    /* a raw SQLite writer holding BEGIN IMMEDIATE (the PG twin waits for C5's locks) */
    DD_TEST_ONLY("sqlite");
    char path[1024];
    dd_test_locator(path, sizeof path, "basics_open_busy");
    sqlite3 *raw = NULL;
    CHECK(sqlite3_open(path, &raw) == SQLITE_OK);
    /* like any real writer, it waits for the store's brief read locks instead of failing */
    sqlite3_busy_timeout(raw, 5000);
    CHECK(sqlite3_exec(raw, "CREATE TABLE scratch(x)", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(sqlite3_exec(raw, "BEGIN IMMEDIATE; INSERT INTO scratch VALUES (1)", NULL, NULL,
                       NULL) == SQLITE_OK);
    pthread_t th;
    pthread_create(&th, NULL, commit_later, raw);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    dd_err err_buf = {0}, *err = &err_buf;
    dd_store *st = NULL;
    dd_store_options opts = {.busy_timeout_ms = 5000};
    CHECK_CODE(dd_store_open(path, &opts, &st, err), DD_OK, err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    pthread_join(th, NULL);
    sqlite3_close(raw);
    if (st) {
        CHECK(waited >= 0.2);   /* it really waited for the writer */
        int v = 0;
        CHECK_CODE(dd_schema_version(st, &v, err), DD_OK, err);
        CHECK(v == dd_schema_version_known());
        dd_store_close(st);
    }
}

/* ---------------------------------------------------------------- retried transactions */

static double mono_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* DB_TXN re-runs a body when the engine reports DB_RETRY (SQLite never does; the test
 * hook makes the next attempts fail as PostgreSQL's serialization failures would). A body
 * re-run n times must give the result of one run: one version numbered 1, a model counter
 * of 1, three points at positions 0..2; an autocommit statement re-sent gives its one
 * change. An exhausted budget is DD_BUSY naming the cause and changes nothing. */
static void test_retry_loop(void)
{
    char path[1024];
    dd_test_locator(path, sizeof path, "basics_retry");
    dd_err err_buf = {0}, *err = &err_buf;
    dd_store *st = NULL;
    dd_store_options opts = {.busy_timeout_ms = 400};
    CHECK_CODE(dd_store_open(path, &opts, &st, err), DD_OK, err);
    if (!st)
        return;
    int64_t pid = 0, mid = 0, eid = 0, iid = 0, vid = 0, ver = 0;
    CHECK_CODE(dd_project_create(st, 0, "p", &pid, err), DD_OK, err);
    CHECK_CODE(dd_model_create(st, pid, "m", "", &mid, err), DD_OK, err);
    CHECK_CODE(dd_experiment_create(st, pid, "e", &eid, err), DD_OK, err);
    CHECK_CODE(dd_iteration_create(st, eid, 0, &iid, err), DD_OK, err);

    /* a write transaction re-run three times */
    db_test_fail_next(st, DB_RETRY, 3);
    CHECK_CODE(dd_version_create(st, mid, iid, 0, "v", &vid, &ver, err), DD_OK, err);
    CHECK(ver == 1);
    CHECK(vid > 0);
    CHECK(raw_int(path, "SELECT COUNT(*) FROM model_version") == 1);
    CHECK(raw_int(path, "SELECT last_version FROM model") == 1);
    /* the hook is used up: the next one commits at once */
    CHECK_CODE(dd_version_create(st, mid, iid, 0, "v2", &vid, &ver, err), DD_OK, err);
    CHECK(ver == 2);

    /* a metric append (positions and counts come from the series' summary row) */
    dd_metric_point pts[3] = {{.value = 1.0}, {.value = 2.0}, {.value = 3.0}};
    db_test_fail_next(st, DB_RETRY, 2);
    CHECK_CODE(dd_metric_append(st, iid, "loss", pts, 3, err), DD_OK, err);
    CHECK(raw_int(path, "SELECT COUNT(*) FROM metric") == 3);
    CHECK(raw_int(path, "SELECT MAX(id) FROM metric") == 2);
    CHECK(raw_int(path, "SELECT point_count FROM metric_latest") == 3);
    CHECK(raw_int(path, "SELECT max_step FROM metric_latest") == 2);

    /* an autocommit statement re-sent */
    db_test_fail_next(st, DB_RETRY, 2);
    CHECK_CODE(dd_model_rename(st, mid, "m2", err), DD_OK, err);
    CHECK(raw_int(path, "SELECT COUNT(*) FROM model WHERE name = 'm2'") == 1);

    /* an exhausted budget: DD_BUSY after about the busy timeout, nothing changed */
    db_test_fail_next(st, DB_RETRY, 1000000);
    double t0 = mono_s();
    CHECK_CODE(dd_version_create(st, mid, iid, 0, "v3", &vid, &ver, err), DD_BUSY, err);
    double waited = mono_s() - t0;
    CHECK(strstr(err->msg, "gave up after") != NULL);
    CHECK(waited >= 0.3 && waited < 5);
    CHECK(raw_int(path, "SELECT COUNT(*) FROM model_version") == 2);
    CHECK(raw_int(path, "SELECT last_version FROM model") == 2);
    CHECK_CODE(dd_metric_append(st, iid, "loss", pts, 3, err), DD_BUSY, err);
    CHECK(raw_int(path, "SELECT COUNT(*) FROM metric") == 3);
    CHECK(raw_int(path, "SELECT point_count FROM metric_latest") == 3);
    CHECK_CODE(dd_model_rename(st, mid, "m3", err), DD_BUSY, err);
    CHECK(strstr(err->msg, "gave up after") != NULL);
    CHECK(raw_int(path, "SELECT COUNT(*) FROM model WHERE name = 'm2'") == 1);
    db_test_fail_next(st, DB_RETRY, 0);

    /* and a failure that is not DB_RETRY is not retried: it is the answer, at once */
    db_test_fail_next(st, DD_IO, 1);
    CHECK_CODE(dd_version_create(st, mid, iid, 0, "v4", &vid, &ver, err), DD_IO, err);
    CHECK(raw_int(path, "SELECT COUNT(*) FROM model_version") == 2);
    CHECK_CODE(dd_version_create(st, mid, iid, 0, "v4", &vid, &ver, err), DD_OK, err);
    CHECK(ver == 3);
    CHECK_CODE(dd_store_check_integrity(st, err), DD_OK, err);
    dd_store_close(st);
}

/* ---------------------------------------------------------------- users */

static void test_default_user(dd_store *st)
{
    dd_err err_buf = {0}, *err = &err_buf;
    dd_user u = {0};
    CHECK_CODE(dd_user_find(st, DD_DEFAULT_USERNAME, &u, err), DD_OK, err);
    CHECK_STR(u.username, "default");
    CHECK(u.is_admin);
    CHECK(u.id > 0);
    CHECK(u.password && strcmp(u.password, "default") != 0);   /* a hash, not the password */
    CHECK(u.password && strncmp(u.password, "$2", 2) == 0);    /* bcrypt */
    CHECK(strlen(u.created_date) == DD_TS_LEN - 1 && u.created_date[DD_TS_LEN - 2] == 'Z');
    int64_t default_id = u.id;
    dd_user_clear(&u);
    CHECK(u.username == NULL);   /* cleared */

    CHECK_CODE(dd_user_get(st, default_id, &u, err), DD_OK, err);
    CHECK_STR(u.username, "default");
    dd_user_clear(&u);

    CHECK_CODE(dd_user_check_password(st, "default", "default", err), DD_OK, err);
    CHECK_CODE(dd_user_check_password(st, "default", "Default", err), DD_FORBIDDEN, err);
    CHECK_CODE(dd_user_check_password(st, "default", "", err), DD_FORBIDDEN, err);
    CHECK(dd_user_check_password(st, "nobody", "default", err) != DD_OK);

    /* The default user can be neither demoted nor deleted ... */
    CHECK_CODE(dd_user_update(st, default_id, NULL, NULL, NULL, 0, err), DD_FORBIDDEN, err);
    CHECK_CODE(dd_user_delete(st, default_id, err), DD_FORBIDDEN, err);
    CHECK_CODE(dd_user_get(st, default_id, &u, err), DD_OK, err);
    CHECK(u.is_admin);
    dd_user_clear(&u);
    /* ... and a refused demotion changes nothing else passed with it. */
    CHECK_CODE(dd_user_update(st, default_id, "Changed", NULL, NULL, 0, err), DD_FORBIDDEN,
               err);
    CHECK_CODE(dd_user_get(st, default_id, &u, err), DD_OK, err);
    CHECK_STR(u.first_name, "Default User");
    CHECK(u.is_admin);
    dd_user_clear(&u);
    /* A refused demotion also drops a password change passed with it. */
    CHECK_CODE(dd_user_update(st, default_id, NULL, NULL, "hijack", 0, err), DD_FORBIDDEN, err);
    CHECK_CODE(dd_user_check_password(st, "default", "default", err), DD_OK, err);
    CHECK_CODE(dd_user_check_password(st, "default", "hijack", err), DD_FORBIDDEN, err);
    /* Its password can be changed. */
    CHECK_CODE(dd_user_update(st, default_id, NULL, NULL, "s3cret", -1, err), DD_OK, err);
    CHECK_CODE(dd_user_check_password(st, "default", "s3cret", err), DD_OK, err);
    CHECK_CODE(dd_user_check_password(st, "default", "default", err), DD_FORBIDDEN, err);
    CHECK_CODE(dd_user_update(st, default_id, NULL, NULL, "default", 1, err), DD_OK, err);
    CHECK_CODE(dd_user_check_password(st, "default", "default", err), DD_OK, err);
}

static void test_users(dd_store *st)
{
    dd_err err_buf = {0}, *err = &err_buf;
    int64_t alice = 0, bob = 0;
    CHECK_CODE(dd_user_create(st, "Alice", "Liddell", "alice", "wonder", &alice, err), DD_OK,
               err);
    CHECK(alice > 0);
    CHECK_CODE(dd_user_create(st, "Bob", NULL, "bob", "builder", &bob, err), DD_OK, err);
    CHECK(bob > 0 && bob != alice);

    dd_user u = {0};
    CHECK_CODE(dd_user_get(st, alice, &u, err), DD_OK, err);
    CHECK(u.id == alice);
    CHECK_STR(u.first_name, "Alice");
    CHECK_STR(u.last_name, "Liddell");
    CHECK_STR(u.username, "alice");
    CHECK(!u.is_admin);
    CHECK(u.password && strcmp(u.password, "wonder") != 0);
    CHECK(u.created_date[0] != 0);
    dd_user_clear(&u);
    CHECK_CODE(dd_user_check_password(st, "alice", "wonder", err), DD_OK, err);
    CHECK_CODE(dd_user_check_password(st, "alice", "builder", err), DD_FORBIDDEN, err);

    /* Duplicate, empty username, empty password. */
    int64_t dup = -7;
    CHECK_CODE(dd_user_create(st, "A", "L", "alice", "other", &dup, err), DD_CONFLICT, err);
    CHECK(err->code == DD_CONFLICT);
    CHECK_CODE(dd_user_create(st, "E", "M", "", "pw", &dup, err), DD_INVALID, err);
    CHECK_CODE(dd_user_create(st, "E", "M", "emma", "", &dup, err), DD_INVALID, err);
    CHECK_CODE(dd_user_find(st, "emma", &u, err), DD_NOT_FOUND, err);
    /* The refused duplicate did not change alice's password. */
    CHECK_CODE(dd_user_check_password(st, "alice", "wonder", err), DD_OK, err);

    user_rows ur = {0};
    CHECK_CODE(dd_user_list(st, collect_users, &ur, err), DD_OK, err);
    CHECK(ur.count == 3);
    CHECK(ur.defaults == 1);
    CHECK(ur.count >= 3 && ur.seen[0] < ur.seen[1] && ur.seen[1] < ur.seen[2]);  /* id order */

    /* Update: NULL keeps a field, is_admin < 0 keeps the flag. */
    CHECK_CODE(dd_user_update(st, alice, "Alicia", NULL, NULL, -1, err), DD_OK, err);
    CHECK_CODE(dd_user_get(st, alice, &u, err), DD_OK, err);
    CHECK_STR(u.first_name, "Alicia");
    CHECK_STR(u.last_name, "Liddell");
    CHECK(!u.is_admin);
    dd_user_clear(&u);
    CHECK_CODE(dd_user_check_password(st, "alice", "wonder", err), DD_OK, err);

    CHECK_CODE(dd_user_update(st, alice, NULL, "Pleasance", "rabbit", 1, err), DD_OK, err);
    CHECK_CODE(dd_user_get(st, alice, &u, err), DD_OK, err);
    CHECK_STR(u.first_name, "Alicia");
    CHECK_STR(u.last_name, "Pleasance");
    CHECK(u.is_admin);
    dd_user_clear(&u);
    CHECK_CODE(dd_user_check_password(st, "alice", "rabbit", err), DD_OK, err);
    CHECK_CODE(dd_user_check_password(st, "alice", "wonder", err), DD_FORBIDDEN, err);

    /* A non-default admin may be demoted. */
    CHECK_CODE(dd_user_update(st, alice, NULL, NULL, NULL, 0, err), DD_OK, err);
    CHECK_CODE(dd_user_get(st, alice, &u, err), DD_OK, err);
    CHECK(!u.is_admin);
    dd_user_clear(&u);

    /* An empty new password is refused and keeps the old one. */
    CHECK_CODE(dd_user_update(st, alice, NULL, NULL, "", -1, err), DD_INVALID, err);
    CHECK_CODE(dd_user_check_password(st, "alice", "rabbit", err), DD_OK, err);

    /* Unknown ids. */
    CHECK_CODE(dd_user_get(st, 9999, &u, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_user_find(st, "nobody", &u, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_user_update(st, 9999, "X", NULL, NULL, -1, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_user_delete(st, 9999, err), DD_NOT_FOUND, err);

    /* Delete removes the user's permission rows. */
    int64_t proj = 0, perm = 0;
    CHECK_CODE(dd_project_create(st, 0, "users-proj", &proj, err), DD_OK, err);
    CHECK_CODE(dd_permission_create(st, bob, proj, true, true, false, false, &perm, err), DD_OK,
               err);
    perm_rows pr = {0};
    CHECK_CODE(dd_permission_list(st, 0, proj, collect_perms, &pr, err), DD_OK, err);
    CHECK(pr.count == 2);   /* the creator's (default) and bob's */
    CHECK_CODE(dd_user_delete(st, bob, err), DD_OK, err);
    CHECK_CODE(dd_user_get(st, bob, &u, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_user_find(st, "bob", &u, err), DD_NOT_FOUND, err);
    dd_user_permission p;
    CHECK_CODE(dd_permission_get(st, bob, proj, &p, err), DD_NOT_FOUND, err);
    memset(&pr, 0, sizeof pr);
    CHECK_CODE(dd_permission_list(st, 0, proj, collect_perms, &pr, err), DD_OK, err);
    CHECK(pr.count == 1);
    memset(&pr, 0, sizeof pr);
    CHECK_CODE(dd_permission_list(st, bob, 0, collect_perms, &pr, err), DD_OK, err);
    CHECK(pr.count == 0);
    CHECK_CODE(dd_user_check_password(st, "bob", "builder", err), DD_NOT_FOUND, err);
    /* The username is free again. */
    int64_t bob2 = 0;
    CHECK_CODE(dd_user_create(st, "Bob", "Two", "bob", "again", &bob2, err), DD_OK, err);
    CHECK(bob2 != bob);
    CHECK_CODE(dd_permission_get(st, bob2, proj, &p, err), DD_NOT_FOUND, err);
}

/* ---------------------------------------------------------------- permissions */

static void test_permissions(dd_store *st)
{
    dd_err err_buf = {0}, *err = &err_buf;
    int64_t carol = 0, dave = 0, proj = 0, proj2 = 0, default_id = 0;
    dd_user u = {0};
    CHECK_CODE(dd_user_find(st, DD_DEFAULT_USERNAME, &u, err), DD_OK, err);
    default_id = u.id;
    dd_user_clear(&u);
    CHECK_CODE(dd_user_create(st, "Carol", "C", "carol", "pw", &carol, err), DD_OK, err);
    CHECK_CODE(dd_user_create(st, "Dave", "D", "dave", "pw", &dave, err), DD_OK, err);
    CHECK_CODE(dd_project_create(st, 0, "perm-proj", &proj, err), DD_OK, err);
    CHECK_CODE(dd_project_create(st, 0, "perm-proj-2", &proj2, err), DD_OK, err);

    /* The creator's row: read only. */
    dd_user_permission p = {0};
    CHECK_CODE(dd_permission_get(st, default_id, proj, &p, err), DD_OK, err);
    CHECK(p.user_id == default_id && p.project_id == proj);
    CHECK(!p.create_permission && p.read_permission && !p.update_permission &&
          !p.delete_permission);

    int64_t pid = 0;
    CHECK_CODE(dd_permission_create(st, carol, proj, true, false, true, false, &pid, err),
               DD_OK, err);
    CHECK(pid > 0);
    memset(&p, 0, sizeof p);
    CHECK_CODE(dd_permission_get(st, carol, proj, &p, err), DD_OK, err);
    CHECK(p.id == pid);
    CHECK(p.user_id == carol && p.project_id == proj);
    CHECK(p.create_permission && !p.read_permission && p.update_permission &&
          !p.delete_permission);

    /* Duplicate pair; unknown user; unknown project. */
    int64_t other = 0;
    CHECK_CODE(dd_permission_create(st, carol, proj, false, true, false, false, &other, err),
               DD_CONFLICT, err);
    CHECK_CODE(dd_permission_create(st, default_id, proj, true, true, true, true, &other, err),
               DD_CONFLICT, err);
    CHECK_CODE(dd_permission_create(st, 9999, proj, false, true, false, false, &other, err),
               DD_NOT_FOUND, err);
    CHECK_CODE(dd_permission_create(st, carol, 9999, false, true, false, false, &other, err),
               DD_NOT_FOUND, err);
    CHECK_CODE(dd_permission_get(st, carol, 9999, &p, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_permission_get(st, dave, proj, &p, err), DD_NOT_FOUND, err);
    /* The refused duplicate left the row alone. */
    CHECK_CODE(dd_permission_get(st, carol, proj, &p, err), DD_OK, err);
    CHECK(p.create_permission && !p.read_permission && p.update_permission);

    /* Partial update: -1 keeps a flag. */
    CHECK_CODE(dd_permission_update(st, pid, -1, 1, -1, -1, err), DD_OK, err);
    CHECK_CODE(dd_permission_get(st, carol, proj, &p, err), DD_OK, err);
    CHECK(p.create_permission && p.read_permission && p.update_permission &&
          !p.delete_permission);
    CHECK_CODE(dd_permission_update(st, pid, 0, -1, -1, 1, err), DD_OK, err);
    CHECK_CODE(dd_permission_get(st, carol, proj, &p, err), DD_OK, err);
    CHECK(!p.create_permission && p.read_permission && p.update_permission &&
          p.delete_permission);
    CHECK_CODE(dd_permission_update(st, 9999, 1, 1, 1, 1, err), DD_NOT_FOUND, err);

    /* Listings by project and by user. */
    int64_t pid2 = 0, pid3 = 0;
    CHECK_CODE(dd_permission_create(st, carol, proj2, false, true, false, false, &pid2, err),
               DD_OK, err);
    CHECK_CODE(dd_permission_create(st, dave, proj, false, false, false, true, &pid3, err),
               DD_OK, err);
    perm_rows pr = {0};
    CHECK_CODE(dd_permission_list(st, 0, proj, collect_perms, &pr, err), DD_OK, err);
    CHECK(pr.count == 3);   /* default, carol, dave */
    for (int i = 0; i < pr.count && i < 16; i++)
        CHECK(pr.rows[i].project_id == proj);
    memset(&pr, 0, sizeof pr);
    CHECK_CODE(dd_permission_list(st, carol, 0, collect_perms, &pr, err), DD_OK, err);
    CHECK(pr.count == 2);
    CHECK(pr.count == 2 && pr.rows[0].user_id == carol && pr.rows[1].user_id == carol);
    CHECK(pr.count == 2 && ((pr.rows[0].project_id == proj && pr.rows[1].project_id == proj2) ||
                            (pr.rows[0].project_id == proj2 && pr.rows[1].project_id == proj)));
    int64_t nobody = 0;
    CHECK_CODE(dd_user_create(st, "N", "O", "noperm", "pw", &nobody, err), DD_OK, err);
    memset(&pr, 0, sizeof pr);
    CHECK_CODE(dd_permission_list(st, nobody, 0, collect_perms, &pr, err), DD_OK, err);
    CHECK(pr.count == 0);

    /* Delete. */
    CHECK_CODE(dd_permission_delete(st, pid, err), DD_OK, err);
    CHECK_CODE(dd_permission_get(st, carol, proj, &p, err), DD_NOT_FOUND, err);
    CHECK_CODE(dd_permission_delete(st, pid, err), DD_NOT_FOUND, err);
    memset(&pr, 0, sizeof pr);
    CHECK_CODE(dd_permission_list(st, 0, proj, collect_perms, &pr, err), DD_OK, err);
    CHECK(pr.count == 2);
    /* The other rows are untouched. */
    CHECK_CODE(dd_permission_get(st, carol, proj2, &p, err), DD_OK, err);
    CHECK(p.id == pid2);
    CHECK_CODE(dd_permission_get(st, dave, proj, &p, err), DD_OK, err);
    CHECK(p.id == pid3 && p.delete_permission && !p.read_permission);
    /* Recreating the deleted pair works. */
    CHECK_CODE(dd_permission_create(st, carol, proj, false, true, false, false, &pid, err),
               DD_OK, err);
}

/* ---------------------------------------------------------------- names */

static void test_names(void)
{
    dd_err err_buf = {0}, *err = &err_buf;
    char n255[256], n256[257], n254utf8[256];
    memset(n255, 'a', 255);
    n255[255] = 0;
    memset(n256, 'b', 256);
    n256[256] = 0;
    /* 253 ASCII bytes + a 2-byte character = 255 bytes; one more byte would be 256. */
    memset(n254utf8, 'c', 253);
    memcpy(n254utf8 + 253, "\xc3\xa9", 3);

    static const struct { const char *name; dd_code want; } cases[] = {
        {"", DD_INVALID},
        {".", DD_INVALID},
        {"..", DD_INVALID},
        {"a/b", DD_INVALID},
        {"/", DD_INVALID},
        {"tab\there", DD_INVALID},
        {"new\nline", DD_INVALID},
        {"\x7f", DD_INVALID},
        {"del\x7f", DD_INVALID},
        {"\x1b[31m", DD_INVALID},
        {"\xff", DD_INVALID},
        {"\xc0\xaf", DD_INVALID},          /* overlong '/' */
        {"\xe0\x80\xaf", DD_INVALID},      /* overlong, 3 bytes */
        {"\xed\xa0\x80", DD_INVALID},      /* UTF-16 surrogate */
        {"\xf4\x90\x80\x80", DD_INVALID},  /* past U+10FFFF */
        {"abc\xc3", DD_INVALID},           /* truncated sequence */
        {"\x80", DD_INVALID},              /* lone continuation byte */
        {"r\xc3\xa9sum\xc3\xa9-\xe6\xa8\xa1\xe5\x9e\x8b", DD_OK},   /* résumé-模型 */
        {"a", DD_OK},
        {"...", DD_OK},
        {".hidden", DD_OK},
        {"with space", DD_OK},
        {"emoji-\xf0\x9f\x98\x80", DD_OK},
        {"lr=0.01", DD_OK},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(err, 0, sizeof *err);
        dd_code got = dd_name_check(cases[i].name, "test name", err);
        if (got != cases[i].want)
            fprintf(stderr, "name case %zu: got %s want %s (%s)\n", i, dd_code_name(got),
                    dd_code_name(cases[i].want), err->msg);
        CHECK(got == cases[i].want);
        if (got != DD_OK) {
            CHECK(err->code == got);
            CHECK(err->msg[0] != 0);
        }
    }
    CHECK_CODE(dd_name_check(n255, "name", err), DD_OK, err);
    CHECK_CODE(dd_name_check(n256, "name", err), DD_TOO_LONG, err);
    CHECK_CODE(dd_name_check(n254utf8, "name", err), DD_OK, err);
    CHECK_CODE(dd_name_check(NULL, "name", err), DD_INVALID, err);
    /* The message names the thing. */
    CHECK_CODE(dd_name_check("", "project name", err), DD_INVALID, err);
    CHECK(strstr(err->msg, "project name") != NULL);
    /* err may be NULL. */
    CHECK(dd_name_check("a/b", "x", NULL) == DD_INVALID);
}

/* ---------------------------------------------------------------- time */

static void test_time(void)
{
    static const struct { const char *in; const char *out; } ok[] = {
        {"2026-11-23T12:00:00.000Z", "2026-11-23T12:00:00.000Z"},
        {"2026-11-23T12:00:00Z", "2026-11-23T12:00:00.000Z"},
        {"2026-11-23T12:00:00", "2026-11-23T12:00:00.000Z"},          /* no zone = UTC */
        {"2026-11-23 12:00:00Z", "2026-11-23T12:00:00.000Z"},         /* space for T */
        {"2026-11-23 12:00:00.250", "2026-11-23T12:00:00.250Z"},
        {"2026-11-23T14:00:00+02:00", "2026-11-23T12:00:00.000Z"},    /* offset converted */
        {"2026-11-23T14:30:00.123+02:30", "2026-11-23T12:00:00.123Z"},
        {"2026-11-23T07:00:00-05:00", "2026-11-23T12:00:00.000Z"},
        {"2026-01-01T01:00:00+02:00", "2025-12-31T23:00:00.000Z"},    /* crosses a year */
        {"2026-11-23T12:00:00.5Z", "2026-11-23T12:00:00.500Z"},
        {"2026-11-23T12:00:00.12Z", "2026-11-23T12:00:00.120Z"},
        {"2026-11-23T12:00:00.123456Z", "2026-11-23T12:00:00.123Z"},  /* truncated to ms */
        {"2026-11-23T12:00:00.9999Z", "2026-11-23T12:00:00.999Z"},    /* truncated, not rounded */
        {"2024-02-29T00:00:00Z", "2024-02-29T00:00:00.000Z"},         /* leap day */
        {"1700000000", "2023-11-14T22:13:20.000Z"},
        {"1700000000.5", "2023-11-14T22:13:20.500Z"},
        {"0", "1970-01-01T00:00:00.000Z"},
        {"1700000000.123", "2023-11-14T22:13:20.123Z"},   /* milliseconds kept exactly */
        {"1700000000.001", "2023-11-14T22:13:20.001Z"},
        {"1700000000.1239", "2023-11-14T22:13:20.123Z"},
        {"1970-01-01T00:30:00+01:00", "1969-12-31T23:30:00.000Z"},
    };
    static const char *const bad[] = {
        "2026-02-30T00:00:00Z", "2023-02-29T00:00:00Z", "yesterday", "2026-13-01T00:00:00Z",
        "2026-00-10T00:00:00Z", "2026-11-23T24:00:00Z", "2026-11-23T12:60:00Z", "",
        "2026-11-23", "2026-11-23T12:00:00Zjunk", "2026-11-23T12:00:00+25:00",
        "2026/11/23T12:00:00Z", "12:00:00", "-5", "1e9", "nan", "2026-11-23T12:00:00.Z",
        "2026-02-30T23:59:60Z", "2026-04-31T12:00:60Z",   /* a leap second is no excuse */
        "2026-11-23T12:00:61Z",
    };
    char out[DD_TS_LEN];
    dd_err err_buf = {0}, *err = &err_buf;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        memset(out, 0, sizeof out);
        dd_code got = dd_time_parse(ok[i].in, out, err);
        if (got != DD_OK || strcmp(out, ok[i].out) != 0)
            fprintf(stderr, "time \"%s\": %s \"%s\", wanted \"%s\" (%s)\n", ok[i].in,
                    dd_code_name(got), out, ok[i].out, got ? err->msg : "");
        CHECK(got == DD_OK);
        CHECK(strcmp(out, ok[i].out) == 0);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(err, 0, sizeof *err);
        dd_code got = dd_time_parse(bad[i], out, err);
        if (got != DD_INVALID)
            fprintf(stderr, "time \"%s\": %s, wanted invalid\n", bad[i], dd_code_name(got));
        CHECK(got == DD_INVALID);
        CHECK(got == DD_OK || err->msg[0] != 0);
    }
    CHECK(dd_time_parse(NULL, out, err) == DD_INVALID);

    /* Years outside 1000..9999: refused, or (below 1000) written with four digits. A year
     * past 9999 has no canonical form at all. */
    memset(out, 0, sizeof out);
    dd_code y = dd_time_parse("0999-12-31T00:00:00Z", out, err);
    if (y == DD_OK && strcmp(out, "0999-12-31T00:00:00.000Z") != 0)
        fprintf(stderr, "time \"0999-12-31T00:00:00Z\": ok \"%s\" is not canonical\n", out);
    CHECK(y == DD_INVALID || strcmp(out, "0999-12-31T00:00:00.000Z") == 0);
    memset(out, 0, sizeof out);
    y = dd_time_parse("9999-12-31T23:00:00-02:00", out, err);
    if (y != DD_INVALID)
        fprintf(stderr, "time \"9999-12-31T23:00:00-02:00\" (year 10000): %s \"%.24s\"\n",
                dd_code_name(y), out);
    CHECK(y == DD_INVALID);
    y = dd_time_parse("9999-12-31T23:59:59Z", out, err);
    CHECK(y == DD_OK && strcmp(out, "9999-12-31T23:59:59.000Z") == 0);

    /* dd_now is canonical: it parses to itself. */
    char now[DD_TS_LEN], again[DD_TS_LEN];
    dd_now(now);
    CHECK(strlen(now) == DD_TS_LEN - 1);
    CHECK(now[4] == '-' && now[10] == 'T' && now[19] == '.' && now[23] == 'Z');
    CHECK_CODE(dd_time_parse(now, again, err), DD_OK, err);
    CHECK_STR(again, now);
    CHECK(strncmp(now, "2025", 4) >= 0);   /* a sane clock, and UTC formatting */
}

/* ---------------------------------------------------------------- enums */

static void test_enums(void)
{
    static const char *const exp_names[] = {"IN_PROGRESS", "STOPPED", "FINISHED"};
    static const char *const iter_names[] = {"RUNNING", "SUCCEEDED", "FAILED", "KILLED"};
    static const char *const stage_names[] = {"NO_STAGE", "STAGING", "PRODUCTION", "ARCHIVED"};
    int v;
    for (int i = 1; i <= 3; i++) {
        CHECK_STR(dd_experiment_status_name(i), exp_names[i - 1]);
        v = -1;
        CHECK(dd_experiment_status_parse(exp_names[i - 1], &v) == DD_OK && v == i);
    }
    for (int i = 1; i <= 4; i++) {
        CHECK_STR(dd_iteration_status_name(i), iter_names[i - 1]);
        v = -1;
        CHECK(dd_iteration_status_parse(iter_names[i - 1], &v) == DD_OK && v == i);
        CHECK_STR(dd_stage_name(i), stage_names[i - 1]);
        v = -1;
        CHECK(dd_stage_parse(stage_names[i - 1], &v) == DD_OK && v == i);
    }
    CHECK(DD_EXP_IN_PROGRESS == 1 && DD_EXP_STOPPED == 2 && DD_EXP_FINISHED == 3);
    CHECK(DD_ITER_RUNNING == 1 && DD_ITER_KILLED == 4);
    CHECK(DD_STAGE_NONE == 1 && DD_STAGE_PRODUCTION == 3 && DD_STAGE_ARCHIVED == 4);

    /* Out of range: no name. */
    CHECK(dd_experiment_status_name(0) == NULL);
    CHECK(dd_experiment_status_name(4) == NULL);
    CHECK(dd_experiment_status_name(-1) == NULL);
    CHECK(dd_iteration_status_name(0) == NULL);
    CHECK(dd_iteration_status_name(5) == NULL);
    CHECK(dd_stage_name(0) == NULL);
    CHECK(dd_stage_name(5) == NULL);

    /* Only the exact upper-case name parses; a rejection leaves *out alone. */
    v = 42;
    CHECK(dd_stage_parse("production", &v) == DD_INVALID);
    CHECK(dd_stage_parse("Production", &v) == DD_INVALID);
    CHECK(dd_stage_parse("PRODUCTION ", &v) == DD_INVALID);
    CHECK(dd_stage_parse("PRODUCTION\n", &v) == DD_INVALID);
    CHECK(dd_stage_parse("3", &v) == DD_INVALID);
    CHECK(dd_stage_parse("", &v) == DD_INVALID);
    CHECK(dd_stage_parse("NONE", &v) == DD_INVALID);
    CHECK(dd_stage_parse(NULL, &v) == DD_INVALID);
    CHECK(dd_iteration_status_parse("running", &v) == DD_INVALID);
    CHECK(dd_iteration_status_parse("IN_PROGRESS", &v) == DD_INVALID);
    CHECK(dd_experiment_status_parse("RUNNING", &v) == DD_INVALID);
    CHECK(dd_experiment_status_parse("stopped", &v) == DD_INVALID);
    CHECK(v == 42);

    /* Code names. */
    CHECK_STR(dd_code_name(DD_OK), "ok");
    CHECK_STR(dd_code_name(DD_NOT_FOUND), "not_found");
    CHECK_STR(dd_code_name(DD_CONFLICT), "conflict");
    CHECK(dd_code_name((dd_code)999) != NULL);
    const dd_code all[] = {DD_OK, DD_NOT_FOUND, DD_CONFLICT, DD_INVALID, DD_FORBIDDEN,
                           DD_READ_ONLY, DD_IN_USE, DD_NOT_EMPTY, DD_TOO_LONG, DD_BUSY, DD_IO,
                           DD_NO_SPACE, DD_TOO_BIG};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        for (size_t j = i + 1; j < sizeof all / sizeof all[0]; j++)
            CHECK(strcmp(dd_code_name(all[i]), dd_code_name(all[j])) != 0);
}

/* ---------------------------------------------------------------- PostgreSQL engine ops */

static double short_wait(void *ctx, bool first)
{
    (void)first;
    return *(double *)ctx;
}

/* Bind no arguments through the engine table (its bind takes a va_list). */
static dd_code bind_none(db_econn *e, db_estmt *s, dd_err *err, ...)
{
    va_list ap;
    va_start(ap, err);
    dd_code code = dd_engine_pg.bind(e, s, NULL, ap, err);
    va_end(ap);
    return code;
}

/* One engine statement's first column as an integer (-1 on failure). */
static int64_t engine_int(db_econn *e, const char *sql)
{
    db_estmt *s = NULL;
    dd_err err = {0};
    int64_t v = -1;
    bool row = false;
    if (dd_engine_pg.prepare(e, sql, &s, &err) == DD_OK && bind_none(e, s, &err) == DD_OK &&
        dd_engine_pg.step(e, s, &row, "test", &err) == DD_OK && row)
        v = dd_engine_pg.col_int64(s, 0);
    if (s)
        dd_engine_pg.finalize(s);
    return v;
}

/* The engine table's row locks and connection check (docs/ENGINES.md §2.3), on a real
 * server: a lock another connection holds makes `lock` wait until the operation's
 * deadline and answer DD_BUSY; released, it is taken at once; a missing row or no
 * transaction is no error; `lock_children` locks a parent's children and refuses a pair
 * of tables that are not parent and child; `check` reconnects a connection whose server
 * process was terminated, and a statement prepared before still runs after. */
static void test_pg_engine_ops(void)
{
    DD_TEST_ONLY("postgres");
    char uri[1024];
    dd_test_locator(uri, sizeof uri, "basics_pg_ops");
    dd_err err_buf = {0}, *err = &err_buf;
    dd_store *st = NULL;
    int64_t pid = 0, eid = 0;
    CHECK_CODE(dd_store_open(uri, NULL, &st, err), DD_OK, err);
    if (!st)
        return;
    CHECK_CODE(dd_project_create(st, 0, "locked", &pid, err), DD_OK, err);
    CHECK_CODE(dd_experiment_create(st, pid, "child", &eid, err), DD_OK, err);
    dd_store_close(st);

    PGconn *holder = PQconnectdb(uri);
    CHECK(PQstatus(holder) == CONNECTION_OK);
    char sql[160];
    snprintf(sql, sizeof sql, "BEGIN; SELECT 1 FROM project WHERE id = %lld FOR UPDATE",
             (long long)pid);
    PQclear(PQexec(holder, sql));

    double deadline = db_mono_ms() + 400;
    db_econn *e = NULL;
    CHECK_CODE(dd_engine_pg.open(uri, false, short_wait, &deadline, &e, err), DD_OK, err);
    if (!e) {
        PQfinish(holder);
        return;
    }
    CHECK_CODE(dd_engine_pg.lock(e, DB_LOCK_SHARE, DB_T_PROJECT, pid, err), DD_OK, err);
    CHECK_CODE(dd_engine_pg.begin(e, DB_TXN_WRITE, err), DD_OK, err);
    double t0 = db_mono_ms();
    CHECK_CODE(dd_engine_pg.lock(e, DB_LOCK_SHARE, DB_T_PROJECT, pid, err), DD_BUSY, err);
    double waited = db_mono_ms() - t0;
    CHECK(waited >= 300 && waited < 2000);
    dd_engine_pg.rollback(e);
    PQclear(PQexec(holder, "ROLLBACK"));

    deadline = db_mono_ms() + 5000;
    CHECK_CODE(dd_engine_pg.begin(e, DB_TXN_WRITE, err), DD_OK, err);
    CHECK_CODE(dd_engine_pg.lock(e, DB_LOCK_DELETE, DB_T_PROJECT, pid, err), DD_OK, err);
    CHECK_CODE(dd_engine_pg.lock(e, DB_LOCK_UPDATE, DB_T_ITERATION, 987654, err), DD_OK, err);
    CHECK_CODE(dd_engine_pg.lock_children(e, DB_T_EXPERIMENT, DB_T_PROJECT, pid, err), DD_OK,
               err);
    CHECK_CODE(dd_engine_pg.lock_children(e, DB_T_PROJECT, DB_T_MODEL, pid, err), DD_IO, err);
    dd_engine_pg.rollback(e);
    /* the children lock conflicts with a writer of the child row */
    CHECK_CODE(dd_engine_pg.begin(e, DB_TXN_WRITE, err), DD_OK, err);
    CHECK_CODE(dd_engine_pg.lock_children(e, DB_T_EXPERIMENT, DB_T_PROJECT, pid, err), DD_OK,
               err);
    PQclear(PQexec(holder, "SET lock_timeout = 200"));
    snprintf(sql, sizeof sql, "UPDATE experiment SET description = 'x' WHERE id = %lld",
             (long long)eid);
    PGresult *r = PQexec(holder, sql);
    CHECK(PQresultStatus(r) == PGRES_FATAL_ERROR);
    CHECK(strcmp(PQresultErrorField(r, PG_DIAG_SQLSTATE) ? PQresultErrorField(r,
                 PG_DIAG_SQLSTATE) : "", "55P03") == 0);
    PQclear(r);
    dd_engine_pg.rollback(e);

    /* a dropped connection: check() reconnects; an old statement runs again */
    db_estmt *s = NULL;
    CHECK_CODE(dd_engine_pg.prepare(e, "SELECT COUNT(*) FROM project", &s, err), DD_OK, err);
    CHECK_CODE(bind_none(e, s, err), DD_OK, err);
    bool reset = true, row = false;
    CHECK_CODE(dd_engine_pg.check(e, &reset, err), DD_OK, err);
    CHECK(!reset);
    int64_t backend = engine_int(e, "SELECT pg_backend_pid()");
    CHECK(backend > 0);
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%lld)", (long long)backend);
    PQclear(PQexec(holder, sql));
    /* outside a transaction the next statement reconnects by itself; inside one the
     * loss is DB_RETRY (nothing was committed: DB_TXN runs the body again), and check()
     * reconnects once the transaction is rolled back */
    int64_t again = engine_int(e, "SELECT pg_backend_pid()");
    CHECK(again > 0 && again != backend);
    CHECK_CODE(dd_engine_pg.begin(e, DB_TXN_WRITE, err), DD_OK, err);
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%lld)", (long long)again);
    PQclear(PQexec(holder, sql));
    CHECK(engine_int(e, "SELECT 1") == -1);
    CHECK_CODE(dd_engine_pg.check(e, &reset, err), DB_RETRY, err);
    dd_engine_pg.rollback(e);
    CHECK_CODE(dd_engine_pg.check(e, &reset, err), DD_OK, err);
    CHECK(reset);
    CHECK(engine_int(e, "SELECT pg_backend_pid()") != again);
    CHECK_CODE(bind_none(e, s, err), DD_OK, err);
    CHECK_CODE(dd_engine_pg.step(e, s, &row, "test", err), DD_OK, err);
    CHECK(row && dd_engine_pg.col_int64(s, 0) >= 1);
    dd_engine_pg.finalize(s);
    dd_engine_pg.close(e);
    PQfinish(holder);
}

/* The server drops every connection of the store (a restart, a failover): the next
 * calls reconnect by themselves, reads on this thread's connection and writes on the
 * store's writer alike, and nothing acknowledged before is lost. */
static void test_pg_reconnect(void)
{
    DD_TEST_ONLY("postgres");
    char uri[1024];
    dd_test_locator(uri, sizeof uri, "basics_pg_reconnect");
    dd_err err_buf = {0}, *err = &err_buf;
    dd_store *st = NULL;
    CHECK_CODE(dd_store_open(uri, NULL, &st, err), DD_OK, err);
    if (!st)
        return;
    int64_t a = 0, b = 0, found = 0;
    CHECK_CODE(dd_project_create(st, 0, "before", &a, err), DD_OK, err);
    CHECK_CODE(dd_project_find(st, "before", &found, err), DD_OK, err);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
             " WHERE datname = '%s' AND pid <> pg_backend_pid()", strrchr(uri, '/') + 1);
    CHECK(raw_exec(uri, sql) == 0);
    CHECK_CODE(dd_project_find(st, "before", &found, err), DD_OK, err);
    CHECK(found == a);
    CHECK_CODE(dd_project_create(st, 0, "after", &b, err), DD_OK, err);
    CHECK(b > a);
    dd_store_close(st);
    CHECK(raw_int(uri, "SELECT COUNT(*) FROM project WHERE name IN ('before', 'after')") == 2);
}

/* The PostgreSQL baseline is the schema SQLite's migrations reach: the same tables with
 * the same columns, and the same named indexes (a migration written for one engine and
 * forgotten for the other fails here, beyond the build's check of version numbers). */
static void test_pg_schema_matches_sqlite(void)
{
    DD_TEST_ONLY("postgres");
    char uri[1024], file[1024];
    dd_test_locator(uri, sizeof uri, "basics_pg_schema");
    check_db_path(file, sizeof file, "basics_pg_schema_sqlite");
    dd_err err = {0};
    dd_store *st = NULL;
    CHECK_CODE(dd_store_open(uri, NULL, &st, &err), DD_OK, &err);
    dd_store_close(st);
    st = NULL;
    CHECK_CODE(dd_store_open(file, NULL, &st, &err), DD_OK, &err);
    dd_store_close(st);
    static char sq[8192], pg[8192];
    raw_join(file, "SELECT m.name || '(' || p.name || ')' FROM sqlite_master m,"
             " pragma_table_info(m.name) p WHERE m.type IN ('table', 'view') AND m.name NOT LIKE"
             " 'sqlite_%' ORDER BY 1", " ", sq, sizeof sq);
    raw_join(uri, "SELECT table_name || '(' || column_name || ')' COLLATE \"C\" AS c FROM"
             " information_schema.columns WHERE table_schema = current_schema() ORDER BY c",
             " ", pg, sizeof pg);
    CHECK(strlen(sq) > 500);
    CHECK_STR(pg, sq);
    raw_join(file, "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE"
             " 'sqlite_%' ORDER BY 1", " ", sq, sizeof sq);
    raw_join(uri, "SELECT indexname::text COLLATE \"C\" AS i FROM pg_indexes WHERE schemaname ="
             " current_schema() AND indexname NOT LIKE '%\\_pkey' AND indexname NOT LIKE"
             " '%\\_key' ORDER BY i", " ", pg, sizeof pg);
    CHECK(strlen(sq) > 100);
    CHECK_STR(pg, sq);
}

int main(void)
{
    test_open_and_migrate();
    test_pg_schema_matches_sqlite();
    test_pg_engine_ops();
    test_pg_reconnect();
    test_metric_migration();
    test_row_times_migration();
    test_stage_history_migration();
    test_series_points_migration();
    test_artifact_root_migration();
    test_newer_schema_refused();
    test_corrupted_file_refused();
    test_open_waits_for_writer();
    test_retry_loop();

    char path[1024];
    dd_test_locator(path, sizeof path, "basics_users");
    dd_err err_buf = {0}, *err = &err_buf;
    dd_store *st = NULL;
    CHECK_CODE(dd_store_open(path, NULL, &st, err), DD_OK, err);
    if (st) {
        test_default_user(st);
        test_users(st);
        test_permissions(st);
        CHECK_CODE(dd_store_check_integrity(st, err), DD_OK, err);
        dd_store_close(st);
    }

    test_names();
    test_time();
    test_enums();
    return dd_test_done();
}
