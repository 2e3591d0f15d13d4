/*
 * integrity.c - is a database file sound? The commands that open a user's database
 * (init, mount, register) ask before they use it, so a truncated or overwritten file is
 * refused with a clear message instead of failing later, halfway through a write.
 */
#include <string.h>

#include "db.h"

/* SQLite's quick_check: every page of every b-tree is read and its structure checked
 * (O(file size), ~1 s per GB; not the index-vs-table cross-check of integrity_check).
 * Reads only. DD_OK when sound; DD_IO with SQLite's first finding otherwise. */
dd_code dd_store_quick_check(dd_store *st, dd_err *err)
{
    dd_conn *c = NULL;
    dd_code code = db_conn(st, &c, err);
    if (code != DD_OK)
        return code;
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(c->db, "PRAGMA quick_check(1)", -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return db_error(c, rc, "checking the database", err);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        const char *first = (const char *)sqlite3_column_text(stmt, 0);
        if (first && strcmp(first, "ok") == 0) {
            code = DD_OK;
        } else {
            /* one line: drop SQLite's "*** in database main ***" heading, join the rest */
            const char *detail = first ? first : "no detail";
            const char *heading = strstr(detail, "***\n");
            detail = heading ? heading + 4 : detail;
            code = dd_fail(err, DD_IO, "database disk image is malformed (%.160s)", detail);
            for (char *p = err ? err->msg : NULL; p && *p; p++)
                if (*p == '\n')
                    *p = ' ';
        }
    } else {
        code = db_error(c, rc, "checking the database", err);
    }
    sqlite3_finalize(stmt);
    return code;
}
