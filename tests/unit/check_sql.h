/*
 * check_sql.h - the unit tests' direct look at a registry: one statement or one value,
 * through a fresh connection and no store, so that a test checks what is really stored
 * rather than what the store under test says. `locator` is a SQLite file path or a
 * postgresql:// URI (engine_fixture.h's dd_test_locator); SQL given here must be accepted
 * by both engines unless the test is DD_TEST_ONLY("sqlite").
 */
#ifndef DD_CHECK_SQL_H
#define DD_CHECK_SQL_H

#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static inline int raw_is_pg(const char *locator)
{
    return strncmp(locator, "postgresql://", 13) == 0 || strncmp(locator, "postgres://", 11) == 0;
}

/* A PostgreSQL query's result (PQclear it), NULL on failure (said on stderr). */
static inline PGresult *raw_pg(const char *uri, const char *sql)
{
    PGconn *pg = PQconnectdb(uri);
    PGresult *r = NULL;
    if (PQstatus(pg) == CONNECTION_OK) {
        r = PQexec(pg, sql);
        ExecStatusType st = PQresultStatus(r);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            fprintf(stderr, "raw SQL: %s: %s", sql, PQresultErrorMessage(r));
            PQclear(r);
            r = NULL;
        }
    }
    PQfinish(pg);
    return r;
}

/* Run SQL (any number of statements) on the registry, waiting up to 5 s for a writer;
 * 0 (SQLITE_OK) on success. */
static inline int raw_exec(const char *path, const char *sql)
{
    if (raw_is_pg(path)) {
        PGresult *r = raw_pg(path, sql);
        PQclear(r);
        return r ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3 *db = NULL;
    int rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, 5000);
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    }
    sqlite3_close(db);
    return rc;
}

/* The first column of the first row of a query, read-only; -1 on any failure. */
static inline int64_t raw_int(const char *path, const char *sql)
{
    int64_t v = -1;
    if (raw_is_pg(path)) {
        PGresult *r = raw_pg(path, sql);
        if (r && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
            v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        return v;
    }
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

/* The same as text, copied into out ("" on failure or NULL). */
static inline void raw_text(const char *path, const char *sql, char *out, size_t len)
{
    out[0] = 0;
    if (raw_is_pg(path)) {
        PGresult *r = raw_pg(path, sql);
        if (r && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
            snprintf(out, len, "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
        return;
    }
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
        snprintf(out, len, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(db);
}

/* Another writer in the middle of a transaction that the store's writes must wait for:
 * on SQLite a raw connection holding BEGIN IMMEDIATE (the whole file), on PostgreSQL one
 * holding EXCLUSIVE locks on the tables metric appends and parameters write (reads pass).
 * raw_writer_hold: 0 on success. raw_writer_release rolls back and closes. */
typedef struct raw_writer {
    sqlite3 *db;
    PGconn *pg;
} raw_writer;

static inline int raw_writer_hold(raw_writer *w, const char *path)
{
    w->db = NULL;
    w->pg = NULL;
    if (raw_is_pg(path)) {
        w->pg = PQconnectdb(path);
        PGresult *r = PQstatus(w->pg) == CONNECTION_OK
            ? PQexec(w->pg, "BEGIN; LOCK TABLE metric_point, metric_latest, parameter IN EXCLUSIVE MODE")
            : NULL;
        int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        return ok ? 0 : 1;
    }
    return sqlite3_open(path, &w->db) != SQLITE_OK ||
           sqlite3_exec(w->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK;
}

/* Run `sql` (statements separated by ';') in the held transaction and commit it, as
 * another node's write that got in first; then release. 0 on success. */
static inline int raw_writer_commit(raw_writer *w, const char *sql)
{
    int rc = 1;
    if (w->pg) {
        PGresult *r = PQexec(w->pg, sql);
        rc = PQresultStatus(r) != PGRES_COMMAND_OK;
        PQclear(r);
        r = PQexec(w->pg, rc ? "ROLLBACK" : "COMMIT");
        rc = rc || PQresultStatus(r) != PGRES_COMMAND_OK;
        PQclear(r);
        PQfinish(w->pg);
    }
    if (w->db) {
        rc = sqlite3_exec(w->db, sql, NULL, NULL, NULL) != SQLITE_OK;
        rc = sqlite3_exec(w->db, rc ? "ROLLBACK" : "COMMIT", NULL, NULL, NULL) != SQLITE_OK || rc;
        sqlite3_close(w->db);
    }
    w->db = NULL;
    w->pg = NULL;
    return rc;
}

static inline void raw_writer_release(raw_writer *w)
{
    if (w->pg) {
        PQclear(PQexec(w->pg, "ROLLBACK"));
        PQfinish(w->pg);
    }
    if (w->db) {
        sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(w->db);
    }
    w->db = NULL;
    w->pg = NULL;
}

/* The first column of every row of a query, joined by `sep` into out ("" on failure):
 * what SQLite's group_concat gives, on both engines. */
static inline void raw_join(const char *path, const char *sql, const char *sep, char *out,
                            size_t len)
{
    size_t off = 0;
    out[0] = 0;
    if (raw_is_pg(path)) {
        PGresult *r = raw_pg(path, sql);
        for (int i = 0; r && i < PQntuples(r) && off < len; i++)
            off += (size_t)snprintf(out + off, len - off, "%s%s", i ? sep : "",
                                    PQgetvalue(r, i, 0));
        PQclear(r);
        return;
    }
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK)
        for (int i = 0; sqlite3_step(s) == SQLITE_ROW && off < len; i++) {
            const char *t = (const char *)sqlite3_column_text(s, 0);
            off += (size_t)snprintf(out + off, len - off, "%s%s", i ? sep : "", t ? t : "");
        }
    sqlite3_finalize(s);
    sqlite3_close(db);
}

#endif
