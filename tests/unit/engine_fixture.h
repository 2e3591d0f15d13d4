/*
 * engine_fixture.h - one test source, every store engine (docs/ENGINES.md C10).
 *
 * A test of the store names its registry with dd_test_locator instead of a file path.
 * The engine comes from DD_TEST_ENGINE: "sqlite" (the default) gives a fresh file in
 * $DD_TEST_TMP, as check_db_path always did; "postgres" gives a fresh database on the
 * throwaway server that ctest's `pg` fixture started (scripts/pgtest.sh; its directory in
 * DD_TEST_PG_DIR, the port in DIR/port). tests/unit/CMakeLists.txt runs every test of
 * DD_ENGINE_TESTS once per engine (`<name>@postgres` for PostgreSQL).
 *
 * Checks that only make sense on one engine (the bytes of a SQLite file, a schema older
 * than PostgreSQL's floor) start with DD_TEST_ONLY("sqlite"): on another engine the test
 * function returns at once and is counted as skipped, so the summary says what did not run.
 */
#ifndef DD_ENGINE_FIXTURE_H
#define DD_ENGINE_FIXTURE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "engine.h"

static int dd_test_skipped;

/* "sqlite" or "postgres". */
static inline const char *dd_test_engine(void)
{
    const char *e = getenv("DD_TEST_ENGINE");
    return e && *e ? e : "sqlite";
}

static inline bool dd_test_is_pg(void) { return strcmp(dd_test_engine(), "postgres") == 0; }

/* Return from the calling test function (void) unless the engine is `engine`. */
#define DD_TEST_ONLY(engine)                                                           \
    do {                                                                               \
        if (strcmp(dd_test_engine(), (engine)) != 0) {                                 \
            dd_test_skipped++;                                                         \
            fprintf(stderr, "skipped on %s: %s\n", dd_test_engine(), __func__);        \
            return;                                                                    \
        }                                                                              \
    } while (0)

/* The fixture server's port, from $DD_TEST_PG_DIR/port; 0 when there is none. */
static inline int dd_test_pg_port(void)
{
    const char *dir = getenv("DD_TEST_PG_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/port", dir ? dir : ".");
    FILE *f = fopen(path, "r");
    int port = 0;
    if (f) {
        if (fscanf(f, "%d", &port) != 1)
            port = 0;
        fclose(f);
    }
    return port;
}

/* Run one SQL command on the fixture server's `postgres` database; 0 on success. */
static inline int dd_test_pg_admin(const char *sql)
{
    char conninfo[128];
    snprintf(conninfo, sizeof conninfo, "postgresql://dd@127.0.0.1:%d/postgres",
             dd_test_pg_port());
    PGconn *pg = PQconnectdb(conninfo);
    int rc = 1;
    if (PQstatus(pg) == CONNECTION_OK) {
        PQclear(PQexec(pg, "SET client_min_messages = warning"));   /* no "does not exist" */
        PGresult *r = PQexec(pg, sql);
        rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : 1;
        if (rc)
            fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
    } else {
        fprintf(stderr, "fixture server: %s", PQerrorMessage(pg));
    }
    PQfinish(pg);
    return rc;
}

/* A fresh, empty registry named after `name`: a file (older files removed) or a new
 * database dd_<name>_<pid> (an older one of that name dropped). On PostgreSQL the URI
 * carries a password the trust-authenticated server ignores, so every test also proves
 * that the store never publishes it (dd_store_path). */
static inline void dd_test_locator(char *out, size_t len, const char *name)
{
    if (!dd_test_is_pg()) {
        check_db_path(out, len, name);
        return;
    }
    char db[96], sql[256];
    snprintf(db, sizeof db, "dd_%s_%ld", name, (long)getpid());
    for (char *p = db; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            *p = '_';
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
    dd_test_pg_admin(sql);
    snprintf(sql, sizeof sql,
             "CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'", db);
    CHECK(dd_test_pg_admin(sql) == 0);
    snprintf(out, len, "postgresql://dd:fixture-pw@127.0.0.1:%d/%s", dd_test_pg_port(), db);
}

/* check_done, saying how many test functions this engine skipped. */
static inline int dd_test_done(void)
{
    if (dd_test_skipped)
        printf("%d test function(s) skipped on %s\n", dd_test_skipped, dd_test_engine());
    return check_done();
}

#endif
