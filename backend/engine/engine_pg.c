/*
 * engine_pg.c - the PostgreSQL store engine (libpq): every PostgreSQL call of the store
 * (engine.h; docs/ENGINES.md §2.3 says what each operation does on each engine).
 *
 * Why it is built this way:
 * - Statements use the store's SQL unchanged: `?` and `?NNN` become `$N` at prepare, and
 *   the parameter types come from the bind format (i, I, n: int8; d: float8; t: text;
 *   b: bytea), so the server never has to guess a type. The server-side statement is
 *   prepared at the first bind (that is when the format is known) and again after a
 *   reconnect.
 * - Parameters and results travel in binary: integers and doubles exactly, bytea without
 *   hex encoding (1 MiB chunks). A result column must be one of the types entity SQL may
 *   produce (int2/4/8, float4/8, bool, text, bytea, ...); anything else (numeric from an
 *   uncast SUM) fails the step with "internal: column N has type OID X", so a wrong query
 *   is found by the first test that runs it rather than read as 0.
 * - A step fetches the statement's whole result at once, so a statement may be run while
 *   another is being stepped on the same connection (entity code nests them, as SQLite
 *   allows). Listings are bounded by the registry's size; single-row mode is the option
 *   if one ever is not.
 * - Errors are mapped by SQLSTATE. After an error inside a transaction PostgreSQL refuses
 *   every statement but ROLLBACK: the store's rule that an error ends the transaction is
 *   what keeps this invisible.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

#include "engine.h"

/* type OIDs (server/catalog/pg_type_d.h, stable since forever) */
enum {
    OID_BOOL = 16, OID_BYTEA = 17, OID_NAME = 19, OID_INT8 = 20, OID_INT2 = 21,
    OID_INT4 = 23, OID_TEXT = 25, OID_OID = 26, OID_FLOAT4 = 700, OID_FLOAT8 = 701,
    OID_UNKNOWN = 705, OID_BPCHAR = 1042, OID_VARCHAR = 1043, OID_VOID = 2278,
};

/* Advisory lock key of schema migrations: nodes migrate one at a time ("dd-schema"). */
#define SCHEMA_LOCK_KEY 0x64642d736368656dLL

struct db_econn {
    PGconn *pg;
    char *locator;
    db_wait_fn wait;            /* db.c's deadline for waits ... */
    void *wait_ctx;             /* ... with this */
    bool read_only;
    unsigned generation;        /* bumped by each reconnect: server statements are gone */
    unsigned next_name;         /* statement names s1, s2, ... on this connection */
    int64_t changes;            /* rows changed by the last INSERT/UPDATE/DELETE */
    unsigned blob_generation;   /* the generation blob_read's statements were prepared in */
    int lock_timeout_ms;        /* the session's lock_timeout, as last set */
    bool in_txn;                /* between begin and commit/rollback */
    /* the write transaction's id, read at its BEGIN ("" when none): when the answer to
     * its COMMIT is lost, the server says from it whether it committed (pg_commit) */
    char xid[24];
    bool unreachable;           /* lost_and_back could not reconnect by the deadline */
    /* a COPY FROM STDIN under way (pg_copy_begin .. pg_copy_end): rows are encoded into
     * copy_buf (binary format) and sent COPY_CHUNK bytes at a time */
    bool copying;
    bool copy_failed;           /* a row could not be sent: copy_end abandons the copy */
    char *copy_buf;
    size_t copy_len, copy_cap;
};

/* PostgreSQL takes up to 65535; the store's largest statement is the metric append's
 * multi-row INSERT (metrics.c, 64 rows x 6). The per-parameter arrays are sized to each
 * statement, so a one-parameter SELECT does not carry the multi-row INSERT's arrays. */
#define MAX_PARAMS 1024

struct db_estmt {
    db_econn *c;
    char *sql;                  /* rewritten: $N */
    int nparams;                /* highest $N in sql */
    char name[24];              /* server-side name, "" until prepared */
    unsigned generation;        /* of c when prepared */
    Oid *types;                 /* as prepared */
    Oid *bind_types;            /* what the arguments of the current bind ask for */
    int ntypes;
    /* the bound arguments: pointers into the caller's memory or into ints/zeros; each
     * array has nparams slots (at least one), allocated with the statement */
    const char **values;
    int *lengths;
    int *formats;
    uint64_t *ints;             /* network-order int8/float8 */
    void *zeros;                /* 'z' blobs */
    PGresult *res;              /* the whole result, after the first step */
    int row;                    /* the next row step hands out */
    int cur;                    /* the current row */
    char (*numtext)[32];        /* col_text of a number, one buffer per column */
    int numtext_cols;
};

/* ---------------------------------------------------------------- errors */

/* Map a failed result (or, res NULL, the connection's state) to a dd_code about `what`. */
static dd_code pg_error(db_econn *c, const PGresult *res, const char *what, dd_err *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!detail || !*detail)
        detail = PQerrorMessage(c->pg);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", detail && *detail ? detail : "unknown error");
    for (char *p = msg; *p; p++)
        if (*p == '\n')
            *p = *(p + 1) ? ' ' : '\0';
    /* A connection lost inside a transaction (before its COMMIT: pg_commit clears in_txn
     * first) took the transaction with it and committed nothing: DB_TXN may run it again
     * on a new connection, and gives up busy (EAGAIN) at the deadline. Elsewhere the
     * statement's effect is unknown. */
    /* lost_and_back judged the statement without effect (the server ended the session
     * before it, 57P01-3, or it changes nothing) and could not reconnect by the deadline:
     * busy, whatever SQLSTATE the farewell carried */
    bool unreachable = c->unreachable;
    c->unreachable = false;
    if (unreachable && PQstatus(c->pg) != CONNECTION_OK)
        return dd_fail(err, DD_BUSY, "%s: database unreachable: %s", what, msg);
    if (!state || PQstatus(c->pg) != CONNECTION_OK)
        return dd_fail(err, c->in_txn ? DB_RETRY : DD_IO, "%s: database connection: %s",
                       what, msg);
    if (strcmp(state, "23505") == 0)
        return dd_fail(err, DD_CONFLICT, "%s: already exists", what);
    if (strcmp(state, "23503") == 0)
        return dd_fail(err, DD_IN_USE, "%s: still referenced", what);
    if (strcmp(state, "23514") == 0 || strcmp(state, "23502") == 0 ||
        strncmp(state, "22", 2) == 0)
        return dd_fail(err, DD_INVALID, "%s: invalid value (%s)", what, msg);
    /* serialization failure, deadlock: DB_TXN re-runs the transaction (db.h), within the
     * busy budget; a lock wait past lock_timeout or a cancelled statement is busy */
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
        return dd_fail(err, DB_RETRY, "%s: %s", what, msg);
    if (strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0)
        return dd_fail(err, DD_BUSY, "%s: database is busy (%s)", what, msg);
    if (strcmp(state, "53100") == 0)
        return dd_fail(err, DD_NO_SPACE, "%s: %s", what, msg);
    if (strcmp(state, "25006") == 0)
        return dd_fail(err, DD_READ_ONLY, "%s: database is read-only (%s)", what, msg);
    if (strcmp(state, "54000") == 0)
        return dd_fail(err, DD_TOO_BIG, "%s: %s", what, msg);
    return dd_fail(err, DD_IO, "%s: %s", what, msg);
}

static dd_code pg_check(db_econn *c, bool *reset, dd_err *err);
static void fit_lock_timeout(db_econn *c);

/* A statement failed because the connection is gone. May it run again on a new one? Only
 * outside a transaction (inside, its work is lost: the caller rolls back), and only when
 * it cannot have had an effect: the server said it had ended the session before (57P01-3:
 * an administrator, a shutdown, a crash), or it changes nothing (SELECT, BEGIN, SET). Then
 * reconnect; true when that worked. */
static bool lost_and_back(db_econn *c, const PGresult *r, const char *sql)
{
    if (PQstatus(c->pg) == CONNECTION_OK || c->in_txn)
        return false;
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    bool ended = state && strncmp(state, "57P0", 4) == 0;
    while (isspace((unsigned char)*sql))
        sql++;
    bool harmless = strncasecmp(sql, "SELECT", 6) == 0 || strncasecmp(sql, "BEGIN", 5) == 0 ||
                    strncasecmp(sql, "SET", 3) == 0;
    bool reset = false;
    dd_err why;
    if (!ended && !harmless)
        return false;
    dd_code code = pg_check(c, &reset, &why);
    /* the server stayed away until the deadline: the statement had no effect, so the
     * caller's error is busy (EAGAIN), not a lost connection (pg_error) */
    c->unreachable = code == DD_BUSY;
    return code == DD_OK;
}

/* Run commands without parameters (BEGIN, SET, ...); when `out` is not NULL and the last
 * one returned a row, its first column is copied there (`cap` bytes), else "". */
static dd_code run_get(db_econn *c, const char *sql, const char *what, char *out, size_t cap,
                       dd_err *err)
{
    PGresult *r = PQexec(c->pg, sql);
    if (PQresultStatus(r) == PGRES_FATAL_ERROR && lost_and_back(c, r, sql)) {
        PQclear(r);
        r = PQexec(c->pg, sql);
    }
    ExecStatusType st = PQresultStatus(r);
    dd_code code = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK
        ? DD_OK : pg_error(c, r, what, err);
    if (out)
        snprintf(out, cap, "%s", code == DD_OK && st == PGRES_TUPLES_OK && PQntuples(r) > 0
                                     ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return code;
}

/* Run commands without parameters or rows (BEGIN, SET, ...). */
static dd_code run(db_econn *c, const char *sql, const char *what, dd_err *err)
{
    return run_get(c, sql, what, NULL, 0, err);
}

/* Run a query with text parameters, expecting rows; *out the result (PQclear it). */
static dd_code query(db_econn *c, const char *sql, int n, const char *const *params,
                     PGresult **out, const char *what, dd_err *err)
{
    PGresult *r = PQexecParams(c->pg, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        dd_code code = pg_error(c, r, what, err);
        PQclear(r);
        return code;
    }
    *out = r;
    return DD_OK;
}

/* ---------------------------------------------------------------- bulk rows */

/* COPY ... FROM STDIN in binary format (PostgreSQL docs, "COPY", "Binary Format"): a
 * signature and two zero words, then per row a 16-bit field count and each field as a
 * 32-bit length (-1: NULL) and its bytes in the type's binary form (int8 and float8 are
 * 8 bytes, network order; text and bytea their bytes), then a -1 field count. Binary,
 * not text: no escaping of keys, and a double arrives with every bit (no %.17g round
 * trip). Rows are sent once COPY_CHUNK bytes have gathered: libpq copies every call into
 * its own buffer, so many small calls would only add work. */
#define COPY_CHUNK (64 * 1024)
static const char copy_signature[11] = "PGCOPY\n\377\r\n";   /* with its final NUL */

static bool copy_put(db_econn *c, const void *p, size_t len)
{
    if (c->copy_len + len > c->copy_cap) {
        size_t cap = c->copy_cap ? c->copy_cap : COPY_CHUNK + 4096;
        while (cap < c->copy_len + len)
            cap *= 2;
        char *b = realloc(c->copy_buf, cap);
        if (!b)
            return false;
        c->copy_buf = b;
        c->copy_cap = cap;
    }
    memcpy(c->copy_buf + c->copy_len, p, len);
    c->copy_len += len;
    return true;
}

static bool copy_put32(db_econn *c, int32_t v)
{
    uint32_t be = htonl((uint32_t)v);
    return copy_put(c, &be, 4);
}

static bool copy_put16(db_econn *c, int16_t v)
{
    uint16_t be = htons((uint16_t)v);
    return copy_put(c, &be, 2);
}

static bool copy_put64(db_econn *c, uint64_t v)
{
    return copy_put32(c, 8) && copy_put32(c, (int32_t)(uint32_t)(v >> 32)) &&
           copy_put32(c, (int32_t)(uint32_t)v);
}

/* Send what has gathered (all of it when `all`, else only past COPY_CHUNK). */
static dd_code copy_flush(db_econn *c, bool all, dd_err *err)
{
    if (c->copy_len == 0 || (!all && c->copy_len < COPY_CHUNK))
        return DD_OK;
    int rc = PQputCopyData(c->pg, c->copy_buf, (int)c->copy_len);
    c->copy_len = 0;
    if (rc != 1) {
        c->copy_failed = true;
        return pg_error(c, NULL, "sending rows", err);
    }
    return DD_OK;
}

static dd_code pg_copy_begin(db_econn *c, const char *table, const char *cols, dd_err *err)
{
    char sql[512];
    int n = snprintf(sql, sizeof sql, "COPY %s(%s) FROM STDIN (FORMAT binary)", table, cols);
    if (n < 0 || (size_t)n >= sizeof sql)
        return dd_fail(err, DD_IO, "internal: copy into %s: column list too long", table);
    fit_lock_timeout(c);
    PGresult *r = PQexec(c->pg, sql);
    dd_code code = PQresultStatus(r) == PGRES_COPY_IN ? DD_OK : pg_error(c, r, table, err);
    PQclear(r);
    if (code != DD_OK)
        return code;
    c->copying = true;
    c->copy_failed = false;
    c->copy_len = 0;
    if (!copy_put(c, copy_signature, sizeof copy_signature) || !copy_put32(c, 0) ||
        !copy_put32(c, 0)) {
        c->copy_failed = true;
        return dd_fail(err, DD_IO, "out of memory");
    }
    return DD_OK;
}

static dd_code pg_copy_row(db_econn *c, const char *fmt, va_list ap, dd_err *err)
{
    size_t n = strlen(fmt);
    bool ok = copy_put16(c, (int16_t)n);
    for (size_t i = 0; i < n && ok; i++) {
        switch (fmt[i]) {
        case 'i': ok = copy_put64(c, (uint64_t)va_arg(ap, int64_t)); break;
        case 'I': {
            int64_t v = va_arg(ap, int64_t);
            ok = v ? copy_put64(c, (uint64_t)v) : copy_put32(c, -1);
            break;
        }
        case 'n': ok = copy_put64(c, (uint64_t)(int64_t)va_arg(ap, int)); break;
        case 'd': {
            double d = va_arg(ap, double);
            uint64_t bits;
            memcpy(&bits, &d, 8);
            ok = copy_put64(c, bits);
            break;
        }
        case 't': {
            const char *t = va_arg(ap, const char *);
            size_t len = t ? strlen(t) : 0;
            ok = t ? copy_put32(c, (int32_t)len) && copy_put(c, t, len) : copy_put32(c, -1);
            break;
        }
        case 'b': {
            const void *p = va_arg(ap, const void *);
            size_t len = va_arg(ap, size_t);
            if (len > 0x7fffffff) {
                c->copy_failed = true;
                return dd_fail(err, DD_TOO_BIG, "a value of %zu bytes is too big", len);
            }
            ok = copy_put32(c, (int32_t)len) && copy_put(c, p, len);
            break;
        }
        default:
            c->copy_failed = true;
            return dd_fail(err, DD_IO, "internal error: bad copy format '%c'", fmt[i]);
        }
    }
    if (!ok) {
        c->copy_failed = true;
        return dd_fail(err, DD_IO, "out of memory");
    }
    return copy_flush(c, false, err);
}

/* End the copy: the trailer and PQputCopyEnd, or PQputCopyEnd with an error message
 * (the server then fails the COPY, and with it the transaction); then its result. */
static dd_code pg_copy_end(db_econn *c, bool ok, const char *what, dd_err *err)
{
    if (!c->copying)
        return dd_fail(err, DD_IO, "internal: %s: no copy under way", what);
    c->copying = false;
    dd_code code = DD_OK;
    ok = ok && !c->copy_failed;
    if (ok && (!copy_put16(c, -1) || (code = copy_flush(c, true, err)) != DD_OK))
        ok = false, code = code != DD_OK ? code : dd_fail(err, DD_IO, "out of memory");
    c->copy_len = 0;
    if (PQputCopyEnd(c->pg, ok ? NULL : "abandoned by the store") != 1 && code == DD_OK)
        code = pg_error(c, NULL, what, err);
    PGresult *r;
    while ((r = PQgetResult(c->pg)) != NULL) {   /* the COPY's result, then NULL */
        if (PQresultStatus(r) == PGRES_COMMAND_OK)
            c->changes = strtoll(PQcmdTuples(r), NULL, 10);
        else if (code == DD_OK)
            code = ok ? pg_error(c, r, what, err)
                      : dd_fail(err, DD_IO, "%s: copy abandoned", what);
        PQclear(r);
        if (PQstatus(c->pg) != CONNECTION_OK)
            break;
    }
    if (code == DD_OK && !ok)
        code = dd_fail(err, DD_IO, "%s: copy abandoned", what);
    return code;
}

/* ---------------------------------------------------------------- locators */

static bool pg_accepts(const char *locator)
{
    return strncmp(locator, "postgresql://", 13) == 0 || strncmp(locator, "postgres://", 11) == 0;
}

/* Append `v` percent-encoded (all but RFC 3986's unreserved characters) to buf at *off. */
static void put_encoded(char *buf, size_t cap, size_t *off, const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p && *off + 4 < cap; p++)
        *off += (size_t)(isalnum(*p) || strchr("-._~", *p)
            ? snprintf(buf + *off, cap - *off, "%c", *p)
            : snprintf(buf + *off, cap - *off, "%%%02X", *p));
}

/* The URI without its password: libpq parses it, and the canonical form is rebuilt from
 * the options that name the database (user, host, port, dbname, each percent-encoded)
 * plus every other option the URI gave, in libpq's fixed order, so two spellings of one
 * registry compare equal and the form parses back to itself. */
static dd_code pg_canonical(const char *locator, char **out, dd_err *err)
{
    char *why = NULL;
    PQconninfoOption *opts = PQconninfoParse(locator, &why);
    if (!opts) {
        char msg[200];
        snprintf(msg, sizeof msg, "%s", why ? why : "out of memory");
        for (char *p = msg; *p; p++)
            if (*p == '\n')
                *p = *(p + 1) ? ' ' : '\0';
        PQfreemem(why);
        return dd_fail(err, DD_INVALID, "not a valid PostgreSQL URI: %s", msg);
    }
    const char *user = "", *host = "", *port = "", *db = "";
    size_t cap = 64;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (o->val)
            cap += strlen(o->keyword) + strlen(o->val) * 3 + 2;
    char *buf = malloc(cap), *query_part = malloc(cap);
    if (!buf || !query_part) {
        free(buf), free(query_part);
        PQconninfoFree(opts);
        return dd_fail(err, DD_IO, "out of memory");
    }
    size_t q = 0, b = 0;
    query_part[0] = 0;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !*o->val)
            continue;
        if (strcmp(o->keyword, "user") == 0) user = o->val;
        else if (strcmp(o->keyword, "host") == 0) host = o->val;
        else if (strcmp(o->keyword, "port") == 0) port = o->val;
        else if (strcmp(o->keyword, "dbname") == 0) db = o->val;
        else if (strcmp(o->keyword, "password") != 0) {
            q += (size_t)snprintf(query_part + q, cap - q, "%s%s=", q ? "&" : "?", o->keyword);
            put_encoded(query_part, cap, &q, o->val);
        }
    }
    /* host and port always go in the query: a host list, a socket directory or an IPv6
     * address need no special spelling there */
    b = (size_t)snprintf(buf, cap, "postgresql://");
    put_encoded(buf, cap, &b, user);
    if (*user)
        b += (size_t)snprintf(buf + b, cap - b, "@");
    bool simple = *host && strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789-.") == strlen(host) &&
                  (!*port || strspn(port, "0123456789") == strlen(port));
    if (simple) {
        b += (size_t)snprintf(buf + b, cap - b, "%s%s%s", host, *port ? ":" : "", port);
    } else {
        if (*host) {
            q += (size_t)snprintf(query_part + q, cap - q, "%shost=", q ? "&" : "?");
            put_encoded(query_part, cap, &q, host);
        }
        if (*port) {
            q += (size_t)snprintf(query_part + q, cap - q, "%sport=", q ? "&" : "?");
            put_encoded(query_part, cap, &q, port);
        }
    }
    b += (size_t)snprintf(buf + b, cap - b, "/");
    put_encoded(buf, cap, &b, db);
    snprintf(buf + b, cap - b, "%s", query_part);
    free(query_part);
    PQconninfoFree(opts);
    *out = buf;
    return DD_OK;
}

/* ---------------------------------------------------------------- connections */

static void discard_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;   /* "relation already exists, skipping" and the like */
}

/* The session settings every connection gets (again after a reconnect). */
static dd_code configure(db_econn *c, dd_err *err)
{
    PQsetNoticeProcessor(c->pg, discard_notice, NULL);
    if (strcmp(PQparameterStatus(c->pg, "server_encoding") ? PQparameterStatus(c->pg,
               "server_encoding") : "", "UTF8") != 0)
        return dd_fail(err, DD_INVALID, "the database's encoding is %s; DearDiary needs UTF8"
                       " (CREATE DATABASE ... ENCODING 'UTF8')",
                       PQparameterStatus(c->pg, "server_encoding"));
    double budget = c->wait(c->wait_ctx, true) - db_mono_ms();
    c->lock_timeout_ms = budget > 1 ? (int)budget : 1;
    char sql[256];
    snprintf(sql, sizeof sql, "SET lock_timeout = %d; SET idle_in_transaction_session_timeout"
             " = '60s'; SET client_encoding = 'UTF8'; SET client_min_messages = warning%s",
             c->lock_timeout_ms, c->read_only ? "; SET default_transaction_read_only"
             " = on" : "");
    return run(c, sql, "configuring the database connection", err);
}

/* Every lock wait of one store operation shares its deadline (db.h, "Bounded waits"), as
 * SQLite's busy handler does: before a statement, lock_timeout becomes what is left of
 * it. The setting costs a round trip, so it changes only when it is off by more than
 * 50 ms (an operation that already waited, or the first one after it). */
static void fit_lock_timeout(db_econn *c)
{
    double left = c->wait(c->wait_ctx, true) - db_mono_ms();
    int want = left > 1 ? (int)left : 1;
    if (want > c->lock_timeout_ms - 50 && want < c->lock_timeout_ms + 50)
        return;
    char sql[64];
    snprintf(sql, sizeof sql, "SET lock_timeout = %d", want);
    dd_err ignored;
    if (run(c, sql, "setting lock_timeout", &ignored) == DD_OK)
        c->lock_timeout_ms = want;
}

static dd_code connect_pg(db_econn *c, dd_err *err)
{
    /* defaults first: the URI's own options (after them) override them */
    const char *keys[] = {"application_name", "connect_timeout", "keepalives",
                          "keepalives_idle", "dbname", NULL};
    const char *vals[] = {"deardiary", "10", "1", "10", c->locator, NULL};
    c->pg = PQconnectdbParams(keys, vals, 1);
    if (!c->pg)
        return dd_fail(err, DD_IO, "out of memory");
    if (PQstatus(c->pg) != CONNECTION_OK) {
        char *safe = NULL;
        dd_err ignored;
        pg_canonical(c->locator, &safe, &ignored);
        char msg[400];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(c->pg));
        for (char *p = msg; *p; p++)
            if (*p == '\n')
                *p = *(p + 1) ? ' ' : '\0';
        dd_code code = dd_fail(err, DD_IO, "cannot connect to %s: %s", safe ? safe : "database",
                               msg);
        free(safe);
        return code;
    }
    return configure(c, err);
}

static void pg_close(db_econn *c)
{
    if (!c)
        return;
    if (c->pg)
        PQfinish(c->pg);
    free(c->copy_buf);
    free(c->locator);
    free(c);
}

static dd_code pg_open(const char *locator, bool read_only, db_wait_fn wait, void *wait_ctx,
                       db_econn **out, dd_err *err)
{
    db_econn *c = calloc(1, sizeof *c);
    if (!c || !(c->locator = strdup(locator))) {
        free(c);
        return dd_fail(err, DD_IO, "out of memory");
    }
    c->wait = wait;
    c->wait_ctx = wait_ctx;
    c->read_only = read_only;
    c->generation = 1;
    dd_code code = connect_pg(c, err);
    if (code != DD_OK) {
        pg_close(c);
        return code;
    }
    *out = c;
    return DD_OK;
}

/* A dropped connection is reset, with a back-off, until the operation's deadline. Not
 * inside a transaction: its work is gone with the connection, and a new connection must
 * not carry on as if it were not (the caller rolls back, then the next use reconnects). */
static dd_code pg_check(db_econn *c, bool *reset, dd_err *err)
{
    *reset = false;
    if (PQstatus(c->pg) == CONNECTION_OK)
        return DD_OK;
    if (c->in_txn)     /* nothing of it was committed: DB_TXN runs it again (pg_error) */
        return dd_fail(err, DB_RETRY, "the database connection was lost inside a transaction");
    double deadline = c->wait(c->wait_ctx, true);
    int delay_ms = 10;
    for (;;) {
        PQreset(c->pg);
        if (PQstatus(c->pg) == CONNECTION_OK) {
            c->generation++;
            *reset = true;
            return configure(c, err);
        }
        double left = deadline - db_mono_ms();
        if (left <= 0)
            return dd_fail(err, DD_BUSY, "database unreachable: %s", PQerrorMessage(c->pg));
        int nap = delay_ms < left ? delay_ms : (int)left + 1;  /* a last try at the deadline */
        struct timespec ts = {.tv_sec = nap / 1000, .tv_nsec = (nap % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        delay_ms = delay_ms < 1000 ? delay_ms * 2 : 1000;
    }
}

/* ---------------------------------------------------------------- transactions */

/* A write transaction's BEGIN also reads its transaction id, in the same round trip: an
 * id is assigned at once (a transaction that then writes nothing still commits one WAL
 * record), and a COMMIT whose answer is lost can be asked about (commit_outcome). A
 * read-only session writes nothing, so it has no outcome to ask about. */
static dd_code begin_write(db_econn *c, const char *begin, const char *what, dd_err *err)
{
    char sql[256];
    snprintf(sql, sizeof sql, "%s%s", begin,
             c->read_only ? "" : "; SELECT pg_current_xact_id()::text");
    return run_get(c, sql, what, c->xid, sizeof c->xid, err);
}

static dd_code pg_begin(db_econn *c, db_txn_kind kind, dd_err *err)
{
    dd_code code;
    c->xid[0] = 0;
    switch (kind) {
    case DB_TXN_READ:
        code = run(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                   "starting a read transaction", err);
        break;
    case DB_TXN_SCHEMA: {
        /* one node migrates at a time; the driver re-reads schema_migrations after this */
        char sql[128];
        snprintf(sql, sizeof sql, "BEGIN; SELECT pg_advisory_xact_lock(%lld)",
                 (long long)SCHEMA_LOCK_KEY);
        fit_lock_timeout(c);
        code = begin_write(c, sql, "starting a schema transaction", err);
        break;
    }
    case DB_TXN_WRITE:
    default:
        code = begin_write(c, "BEGIN", "starting a write transaction", err);
        break;
    }
    c->in_txn = code == DD_OK;
    if (code == DD_IO && PQstatus(c->pg) != CONNECTION_OK)   /* BEGIN had no effect */
        code = dd_fail(err, DB_RETRY, "starting a transaction: the database connection was"
                       " lost");
    if (code != DD_OK && PQstatus(c->pg) == CONNECTION_OK &&
        PQtransactionStatus(c->pg) != PQTRANS_IDLE)   /* BEGIN ran, the lock did not */
        PQclear(PQexec(c->pg, "ROLLBACK"));
    return code;
}

static void nap_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The connection was lost after COMMIT of transaction `xid` was sent and before its answer
 * came (ENGINES.md §6, risk 3): the transaction may have committed or not. Reconnect
 * (pg_check: until the operation's deadline, busy_timeout_ms) and ask the server
 * (pg_xact_status): committed is success; aborted is DB_RETRY (nothing of it is stored:
 * DB_TXN runs the body again). "in progress" (the old session has not yet noticed that
 * its client is gone, or is still committing) is asked again until the deadline, and a
 * server out of reach until then is DD_BUSY (EAGAIN, with a syslog line): the outcome is
 * then unknown, but the connection, not the storage, failed. `lost` is libpq's message. */
static dd_code commit_outcome(db_econn *c, const char *xid, const char *lost, dd_err *err)
{
    double deadline = c->wait(c->wait_ctx, true);
    char why[256] = "";
    for (int delay_ms = 5;; delay_ms = delay_ms < 200 ? delay_ms * 2 : 200) {
        bool reset;
        dd_err e = {0};
        dd_code code = pg_check(c, &reset, &e);
        if (code == DD_OK) {
            const char *params[] = {xid};
            PGresult *r = PQexecParams(c->pg, "SELECT pg_xact_status($1::xid8)", 1, NULL,
                                       params, NULL, NULL, 0);
            const char *status = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1
                ? PQgetvalue(r, 0, 0) : NULL;
            bool committed = status && strcmp(status, "committed") == 0;
            bool aborted = status && strcmp(status, "aborted") == 0;
            snprintf(why, sizeof why, "%s", status ? (*status ? status : "unknown")
                                                   : PQerrorMessage(c->pg));
            PQclear(r);
            if (committed)
                return DD_OK;
            if (aborted)
                return dd_fail(err, DB_RETRY, "committing: the database connection was lost"
                               " and the transaction was not committed: %s", lost);
        } else {
            snprintf(why, sizeof why, "%s", e.msg);
        }
        if (db_mono_ms() >= deadline)
            break;
        nap_ms(delay_ms);
    }
    for (char *p = why; *p; p++)
        if (*p == '\n')
            *p = ' ';
    syslog(LOG_WARNING, "committing transaction %s: the database connection was lost (%s)"
           " and its outcome could not be learnt by the deadline: %s", xid, lost, why);
    return dd_fail(err, DD_BUSY, "committing: the database connection was lost and whether"
                   " the change was stored could not be learnt: %s", why);
}

/* COMMIT of a transaction that met an error answers ROLLBACK without an error: that is a
 * failed commit. A COMMIT whose answer the lost connection took along is resolved by
 * commit_outcome. */
static dd_code pg_commit(db_econn *c, dd_err *err)
{
    c->in_txn = false;
    char xid[sizeof c->xid];
    snprintf(xid, sizeof xid, "%s", c->xid);
    c->xid[0] = 0;
    PGresult *r = PQexec(c->pg, "COMMIT");
    dd_code code = DD_OK;
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQstatus(c->pg) != CONNECTION_OK && xid[0]) {
        char lost[200];
        snprintf(lost, sizeof lost, "%s", PQerrorMessage(c->pg));
        for (char *p = lost; *p; p++)
            if (*p == '\n')
                *p = *(p + 1) ? ' ' : '\0';
        code = commit_outcome(c, xid, lost, err);
    } else if (PQresultStatus(r) != PGRES_COMMAND_OK)
        code = pg_error(c, r, "committing", err);
    else if (strcmp(PQcmdStatus(r), "COMMIT") != 0)
        code = dd_fail(err, DD_IO, "committing: the transaction was rolled back");
    PQclear(r);
    return code;
}

static dd_code pg_copy_end(db_econn *c, bool ok, const char *what, dd_err *err);

static void pg_rollback(db_econn *c)
{
    if (c->copying)   /* a caller that did not end its copy: abandon it first */
        pg_copy_end(c, false, "abandoned copy", NULL);
    c->in_txn = false;
    c->xid[0] = 0;
    if (PQtransactionStatus(c->pg) != PQTRANS_IDLE && PQstatus(c->pg) == CONNECTION_OK)
        PQclear(PQexec(c->pg, "ROLLBACK"));
}

static const char *const table_names[DB_T__COUNT] = {
    [DB_T_USER] = "\"user\"", [DB_T_PROJECT] = "project", [DB_T_MODEL] = "model",
    [DB_T_EXPERIMENT] = "experiment", [DB_T_ITERATION] = "iteration",
    [DB_T_RESOURCE] = "resource", [DB_T_MODEL_VERSION] = "model_version", [DB_T_TAG] = "tag",
    [DB_T_NODE] = "node",
};

/* Run a locking SELECT whose one parameter is `id`, waiting no longer than the
 * operation's deadline. */
static dd_code lock_rows(db_econn *c, const char *sql, int64_t id, dd_err *err)
{
    char idtext[24];
    snprintf(idtext, sizeof idtext, "%lld", (long long)id);
    const char *params[] = {idtext};
    PGresult *r = NULL;
    fit_lock_timeout(c);
    dd_code code = query(c, sql, 1, params, &r, "locking rows", err);
    PQclear(r);
    return code;
}

static dd_code pg_lock(db_econn *c, db_lock_kind k, db_table t, int64_t id, dd_err *err)
{
    if (PQtransactionStatus(c->pg) == PQTRANS_IDLE)
        return DD_OK;
    if ((unsigned)t >= DB_T__COUNT)
        return dd_fail(err, DD_IO, "internal error: lock of table %d", (int)t);
    static const char *const modes[] = {
        [DB_LOCK_SHARE] = "FOR SHARE", [DB_LOCK_UPDATE] = "FOR NO KEY UPDATE",
        [DB_LOCK_DELETE] = "FOR UPDATE",
    };
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT 1 FROM %s WHERE id = $1 %s", table_names[t], modes[k]);
    return lock_rows(c, sql, id, err);
}

/* The column of `t` that points at its parent table. */
static const char *parent_column(db_table t, db_table parent)
{
    if ((t == DB_T_EXPERIMENT || t == DB_T_MODEL) && parent == DB_T_PROJECT)
        return "project_id";
    if ((t == DB_T_ITERATION || t == DB_T_RESOURCE) && parent == DB_T_EXPERIMENT)
        return "experiment_id";
    if (t == DB_T_ITERATION && parent == DB_T_ITERATION)
        return "parent_iteration_id";
    if (t == DB_T_MODEL_VERSION && parent == DB_T_MODEL)
        return "model_id";
    if (t == DB_T_MODEL_VERSION && parent == DB_T_ITERATION)
        return "iteration_id";
    if (t == DB_T_MODEL_VERSION && parent == DB_T_RESOURCE)
        return "resource_id";
    return NULL;
}

static dd_code pg_lock_children(db_econn *c, db_table t, db_table parent, int64_t id,
                                dd_err *err)
{
    if (PQtransactionStatus(c->pg) == PQTRANS_IDLE)
        return DD_OK;
    const char *col = (unsigned)t < DB_T__COUNT ? parent_column(t, parent) : NULL;
    if (!col)
        return dd_fail(err, DD_IO, "internal error: no parent %d of table %d", (int)parent,
                       (int)t);
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT 1 FROM %s WHERE %s = $1 ORDER BY id FOR UPDATE",
             table_names[t], col);
    return lock_rows(c, sql, id, err);
}

/* ---------------------------------------------------------------- statements */

/* `?` and `?NNN` outside quotes and comments become `$N`; *n the highest N. */
static char *rewrite_params(const char *sql, int *n)
{
    size_t len = strlen(sql);
    char *out = malloc(len * 4 + 1);   /* "?" -> "$NNN" at worst */
    if (!out)
        return NULL;
    char *o = out;
    int next = 0, max = 0;
    char quote = 0;
    for (const char *p = sql; *p; p++) {
        if (quote) {
            *o++ = *p;
            if (*p == quote)
                quote = 0;
            continue;
        }
        if (*p == '\'' || *p == '"') {
            quote = *p;
            *o++ = *p;
        } else if (*p == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                *o++ = *p++;
            if (!*p)
                break;
            *o++ = *p;
        } else if (*p == '?') {
            int num;
            if (p[1] >= '0' && p[1] <= '9') {
                num = (int)strtol(p + 1, (char **)&p, 10);
                p--;
            } else {
                num = ++next;
            }
            if (num > max)
                max = num;
            o += sprintf(o, "$%d", num);
        } else {
            *o++ = *p;
        }
    }
    *o = 0;
    *n = max;
    return out;
}

static void free_params(db_estmt *s)
{
    free(s->types);
    free(s->bind_types);
    free(s->values);
    free(s->lengths);
    free(s->formats);
    free(s->ints);
}

static dd_code pg_prepare(db_econn *c, const char *sql, db_estmt **out, dd_err *err)
{
    db_estmt *s = calloc(1, sizeof *s);
    if (!s || !(s->sql = rewrite_params(sql, &s->nparams))) {
        free(s);
        return dd_fail(err, DD_IO, "out of memory");
    }
    if (s->nparams > MAX_PARAMS) {
        free(s->sql);
        free(s);
        return dd_fail(err, DD_IO, "internal error: more than %d parameters", MAX_PARAMS);
    }
    size_t slots = s->nparams > 0 ? (size_t)s->nparams : 1;
    s->types = calloc(slots, sizeof *s->types);
    s->bind_types = calloc(slots, sizeof *s->bind_types);
    s->values = calloc(slots, sizeof *s->values);
    s->lengths = calloc(slots, sizeof *s->lengths);
    s->formats = calloc(slots, sizeof *s->formats);
    s->ints = calloc(slots, sizeof *s->ints);
    if (!s->types || !s->bind_types || !s->values || !s->lengths || !s->formats || !s->ints) {
        free_params(s);
        free(s->sql);
        free(s);
        return dd_fail(err, DD_IO, "out of memory");
    }
    s->c = c;
    *out = s;
    return DD_OK;
}

static void clear_result(db_estmt *s)
{
    PQclear(s->res);
    s->res = NULL;
    s->row = 0;
    s->cur = -1;
}

static Oid type_of(char f)
{
    switch (f) {
    case 'i': case 'I': case 'n': return OID_INT8;
    case 'd': return OID_FLOAT8;
    case 't': return OID_TEXT;
    default: return OID_BYTEA;
    }
}

/* Prepare on the server when not yet prepared in this connection's current session, or
 * prepared with other parameter types. */
static dd_code server_prepare(db_estmt *s, const Oid *types, dd_err *err)
{
    int nt = s->nparams;
    bool same = s->ntypes == nt && memcmp(types, s->types, sizeof(Oid) * (size_t)nt) == 0;
    if (s->name[0] && s->generation == s->c->generation && same)
        return DD_OK;
    if (s->name[0] && s->generation == s->c->generation) {
        char sql[48];
        snprintf(sql, sizeof sql, "DEALLOCATE %s", s->name);
        PQclear(PQexec(s->c->pg, sql));
    }
    snprintf(s->name, sizeof s->name, "s%u", ++s->c->next_name);
    PGresult *r = PQprepare(s->c->pg, s->name, s->sql, nt, types);
    if (PQresultStatus(r) == PGRES_FATAL_ERROR && lost_and_back(s->c, r, "SELECT")) {
        PQclear(r);   /* preparing has no effect: the new connection prepares it */
        r = PQprepare(s->c->pg, s->name, s->sql, nt, types);
    }
    dd_code code = PQresultStatus(r) == PGRES_COMMAND_OK
        ? DD_OK : pg_error(s->c, r, "preparing a query", err);
    PQclear(r);
    if (code != DD_OK) {
        s->name[0] = 0;
        return code;
    }
    if (types != s->types)
        memcpy(s->types, types, sizeof(Oid) * (size_t)nt);
    s->ntypes = nt;
    s->generation = s->c->generation;
    return DD_OK;
}

static void put_int(db_estmt *s, int i, uint64_t v)
{
    uint32_t hi = htonl((uint32_t)(v >> 32)), lo = htonl((uint32_t)v);
    memcpy((char *)&s->ints[i], &hi, 4);
    memcpy((char *)&s->ints[i] + 4, &lo, 4);
    s->values[i] = (const char *)&s->ints[i];
    s->lengths[i] = 8;
}

static dd_code pg_bind(db_econn *c, db_estmt *s, const char *fmt, va_list ap, dd_err *err)
{
    (void)c;
    clear_result(s);
    free(s->zeros);
    s->zeros = NULL;
    int n = fmt ? (int)strlen(fmt) : 0;
    if (n > s->nparams)
        return dd_fail(err, DD_IO, "internal error: %d arguments for %d parameters", n,
                       s->nparams);
    Oid *types = s->bind_types;   /* parameters without an argument: NULL, type inferred */
    for (int i = 0; i < s->nparams; i++)
        types[i] = i < n ? type_of(fmt[i]) : 0;
    dd_code code = server_prepare(s, types, err);
    if (code != DD_OK)
        return code;
    for (int i = n; i < s->nparams; i++)
        s->values[i] = NULL;
    for (int i = 0; i < n; i++) {
        s->formats[i] = 1;
        switch (fmt[i]) {
        case 'i': put_int(s, i, (uint64_t)va_arg(ap, int64_t)); break;
        case 'I': {
            int64_t v = va_arg(ap, int64_t);
            put_int(s, i, (uint64_t)v);
            if (!v)
                s->values[i] = NULL;
            break;
        }
        case 'n': put_int(s, i, (uint64_t)(int64_t)va_arg(ap, int)); break;
        case 'd': {
            double d = va_arg(ap, double);
            uint64_t bits;
            memcpy(&bits, &d, 8);
            put_int(s, i, bits);
            break;
        }
        case 't': {
            const char *t = va_arg(ap, const char *);
            s->values[i] = t;
            s->lengths[i] = t ? (int)strlen(t) : 0;
            break;
        }
        case 'b': {
            const void *p = va_arg(ap, const void *);
            size_t len = va_arg(ap, size_t);
            if (len > 0x7fffffff)
                return dd_fail(err, DD_TOO_BIG, "a value of %zu bytes is too big", len);
            s->values[i] = len ? p : "";
            s->lengths[i] = (int)len;
            break;
        }
        case 'z': {
            int64_t len = va_arg(ap, int64_t);
            if (len < 0 || len > 0x7fffffff || !(s->zeros = calloc(1, (size_t)len + 1)))
                return dd_fail(err, DD_TOO_BIG, "a zero blob of %lld bytes", (long long)len);
            s->values[i] = s->zeros;
            s->lengths[i] = (int)len;
            break;
        }
        default:
            return dd_fail(err, DD_IO, "internal error: bad bind format '%c'", fmt[i]);
        }
    }
    return DD_OK;
}

static bool known_type(Oid t)
{
    switch (t) {
    case OID_BOOL: case OID_BYTEA: case OID_NAME: case OID_INT8: case OID_INT2:
    case OID_INT4: case OID_TEXT: case OID_OID: case OID_FLOAT4: case OID_FLOAT8:
    case OID_UNKNOWN: case OID_BPCHAR: case OID_VARCHAR: case OID_VOID:
        return true;
    default:
        return false;
    }
}

/* Rows changed, from the command tag of INSERT, UPDATE, DELETE (also with RETURNING). */
static void note_changes(db_econn *c, PGresult *r)
{
    const char *tag = PQcmdStatus(r);
    if (strncmp(tag, "INSERT", 6) == 0 || strncmp(tag, "UPDATE", 6) == 0 ||
        strncmp(tag, "DELETE", 6) == 0)
        c->changes = strtoll(PQcmdTuples(r), NULL, 10);
}

static dd_code execute(db_econn *c, db_estmt *s, const char *what, dd_err *err)
{
    if (s->generation != c->generation) {   /* reconnected since the bind */
        dd_code code = server_prepare(s, s->types, err);
        if (code != DD_OK)
            return code;
    }
    fit_lock_timeout(c);
    PGresult *r = PQexecPrepared(c->pg, s->name, s->nparams, s->values, s->lengths,
                                 s->formats, 1);
    if (PQresultStatus(r) == PGRES_FATAL_ERROR && lost_and_back(c, r, s->sql)) {
        PQclear(r);
        dd_code code = server_prepare(s, s->types, err);
        if (code != DD_OK)
            return code;
        r = PQexecPrepared(c->pg, s->name, s->nparams, s->values, s->lengths, s->formats, 1);
    }
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        dd_code code = pg_error(c, r, what, err);
        PQclear(r);
        return code;
    }
    for (int i = 0; i < PQnfields(r); i++) {
        if (!known_type(PQftype(r, i))) {
            dd_code code = dd_fail(err, DD_IO, "%s: internal: column %d has type OID %u",
                                   what, i, (unsigned)PQftype(r, i));
            PQclear(r);
            return code;
        }
    }
    note_changes(c, r);
    s->res = r;
    s->row = 0;
    return DD_OK;
}

static dd_code pg_step(db_econn *c, db_estmt *s, bool *row, const char *what, dd_err *err)
{
    *row = false;
    if (!s->res) {
        dd_code code = execute(c, s, what, err);
        if (code != DD_OK)
            return code;
    }
    if (s->row < PQntuples(s->res)) {
        s->cur = s->row++;
        *row = true;
    }
    return DD_OK;
}

static void pg_reset(db_estmt *s) { clear_result(s); }

static void pg_finalize(db_estmt *s)
{
    clear_result(s);
    free(s->zeros);
    free(s->numtext);
    free_params(s);
    free(s->sql);
    free(s);
}

static int64_t pg_changes(db_econn *c) { return c->changes; }

static int pg_col_count(db_estmt *s) { return s->res ? PQnfields(s->res) : 0; }

static bool pg_col_null(db_estmt *s, int i)
{
    return !s->res || s->cur < 0 || i >= PQnfields(s->res) || PQgetisnull(s->res, s->cur, i);
}

static uint64_t be64(const char *p)
{
    uint32_t hi, lo;
    memcpy(&hi, p, 4);
    memcpy(&lo, p + 4, 4);
    return (uint64_t)ntohl(hi) << 32 | ntohl(lo);
}

/* A numeric column's value, as int64 (doubles truncate) or double. */
static void number(db_estmt *s, int i, int64_t *iv, double *dv)
{
    *iv = 0;
    *dv = 0;
    if (pg_col_null(s, i))
        return;
    const char *p = PQgetvalue(s->res, s->cur, i);
    int len = PQgetlength(s->res, s->cur, i);
    switch (PQftype(s->res, i)) {
    case OID_INT8:
        if (len == 8)
            *dv = (double)(*iv = (int64_t)be64(p));
        break;
    case OID_INT4:
    case OID_OID:
        if (len == 4) {
            uint32_t v;
            memcpy(&v, p, 4);
            v = ntohl(v);
            *iv = PQftype(s->res, i) == OID_OID ? (int64_t)v : (int64_t)(int32_t)v;
            *dv = (double)*iv;
        }
        break;
    case OID_INT2:
        if (len == 2) {
            uint16_t v;
            memcpy(&v, p, 2);
            *dv = (double)(*iv = (int16_t)ntohs(v));
        }
        break;
    case OID_BOOL:
        *dv = (double)(*iv = len == 1 && p[0] != 0);
        break;
    case OID_FLOAT8:
        if (len == 8) {
            uint64_t bits = be64(p);
            memcpy(dv, &bits, 8);
            *iv = (int64_t)*dv;
        }
        break;
    case OID_FLOAT4:
        if (len == 4) {
            uint32_t bits;
            float f;
            memcpy(&bits, p, 4);
            bits = ntohl(bits);
            memcpy(&f, &bits, 4);
            *dv = f;
            *iv = (int64_t)f;
        }
        break;
    default:   /* text: as SQLite converts it */
        *iv = strtoll(p, NULL, 10);
        *dv = strtod(p, NULL);
        break;
    }
}

static int64_t pg_col_int64(db_estmt *s, int i)
{
    int64_t iv;
    double dv;
    number(s, i, &iv, &dv);
    return iv;
}

static double pg_col_double(db_estmt *s, int i)
{
    int64_t iv;
    double dv;
    number(s, i, &iv, &dv);
    return dv;
}

static bool is_number(Oid t)
{
    return t == OID_INT8 || t == OID_INT4 || t == OID_INT2 || t == OID_OID || t == OID_BOOL ||
           t == OID_FLOAT8 || t == OID_FLOAT4;
}

static const char *pg_col_text(db_estmt *s, int i)
{
    if (pg_col_null(s, i))
        return NULL;
    Oid t = PQftype(s->res, i);
    if (!is_number(t))
        return PQgetvalue(s->res, s->cur, i);   /* binary text is the text; NUL-terminated */
    int cols = PQnfields(s->res);
    if (s->numtext_cols < cols) {
        void *grown = realloc(s->numtext, sizeof *s->numtext * (size_t)cols);
        if (!grown)
            return NULL;
        s->numtext = grown;
        s->numtext_cols = cols;
    }
    int64_t iv;
    double dv;
    number(s, i, &iv, &dv);
    if (t == OID_FLOAT8 || t == OID_FLOAT4)
        snprintf(s->numtext[i], sizeof s->numtext[i], "%.17g", dv);
    else
        snprintf(s->numtext[i], sizeof s->numtext[i], "%lld", (long long)iv);
    return s->numtext[i];
}

static const void *pg_col_blob(db_estmt *s, int i, size_t *len)
{
    *len = 0;
    if (pg_col_null(s, i))
        return NULL;
    *len = (size_t)PQgetlength(s->res, s->cur, i);
    return PQgetvalue(s->res, s->cur, i);
}

/* ---------------------------------------------------------------- whole database */

/* The tables of the baseline: a database holding other tables and no schema_migrations
 * is not ours, and `init` refuses it rather than mixing a registry into it. Since schema
 * 014 `metric` is a view (over metric_point), so a view of these names counts too. */
static const char *const baseline_tables[] = {
    "user", "project", "user_permission", "experiment", "iteration", "iteration_file",
    "parameter", "metric", "metric_latest", "resource", "artifact_trash", "tag",
    "project_tag", "experiment_tag", "iteration_tag", "model", "model_version",
    "model_alias", "artifact_upload", "artifact_chunk", "metric_log_state", "dir_time",
};

static dd_code count_tables(db_econn *c, bool ours_only, int64_t *out, dd_err *err)
{
    const char *sql = ours_only
        ? "SELECT COUNT(*) FROM pg_catalog.pg_class WHERE relkind IN ('r', 'v')"
          " AND relnamespace = current_schema()::regnamespace AND relname = ANY ($1::text[])"
        : "SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()";
    char list[1024];
    size_t off = (size_t)snprintf(list, sizeof list, "{");
    for (size_t i = 0; i < sizeof baseline_tables / sizeof *baseline_tables; i++)
        off += (size_t)snprintf(list + off, sizeof list - off, "%s\"%s\"", i ? "," : "",
                                baseline_tables[i]);
    snprintf(list + off, sizeof list - off, "}");
    const char *params[] = {list};
    PGresult *r = NULL;
    dd_code code = query(c, sql, ours_only ? 1 : 0, params, &r, "reading the catalog", err);
    if (code == DD_OK)
        *out = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return code;
}

static dd_code has_migrations_table(db_econn *c, bool *out, dd_err *err)
{
    PGresult *r = NULL;
    dd_code code = query(c, "SELECT to_regclass('schema_migrations') IS NOT NULL", 0, NULL, &r,
                         "reading the catalog", err);
    if (code == DD_OK)
        *out = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return code;
}

/* An existing database that is empty (a new registry) or ours (schema_migrations), which
 * it then has: created here, under the schema lock, because two nodes opening a new
 * registry at once would otherwise race in CREATE TABLE IF NOT EXISTS (which is not
 * atomic in PostgreSQL: the loser fails on the catalog's unique index). */
static dd_code pg_prepare_schema(db_econn *c, int busy_timeout_ms, dd_err *err)
{
    (void)busy_timeout_ms;   /* the wait is bounded by lock_timeout */
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT pg_advisory_lock(%lld)", (long long)SCHEMA_LOCK_KEY);
    dd_code code = run(c, sql, "waiting for another node's migration", err);
    if (code != DD_OK)
        return code;
    bool ours = false;
    int64_t tables = 0;
    code = has_migrations_table(c, &ours, err);
    if (code == DD_OK && !ours)
        code = count_tables(c, false, &tables, err);
    if (code == DD_OK && !ours && tables > 0)
        code = dd_fail(err, DD_INVALID, "the database holds %lld table(s) and is not a"
                       " DearDiary registry: give an empty database", (long long)tables);
    if (code == DD_OK && !ours)
        code = run(c, "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY"
                   " KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
                   "creating schema_migrations", err);
    snprintf(sql, sizeof sql, "SELECT pg_advisory_unlock(%lld)", (long long)SCHEMA_LOCK_KEY);
    dd_err ignored;
    run(c, sql, "releasing the schema lock", &ignored);
    return code;
}

static dd_code pg_exec_script(db_econn *c, const char *sql, dd_err *err)
{
    PGresult *r = PQexec(c->pg, sql);
    ExecStatusType st = PQresultStatus(r);
    dd_code code = DD_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        const char *msg = PQresultErrorMessage(r);
        code = dd_fail(err, DD_IO, "%s", msg && *msg ? msg : PQerrorMessage(c->pg));
        for (char *p = err ? err->msg : NULL; p && *p; p++)
            if (*p == '\n')
                *p = ' ';
    }
    PQclear(r);
    return code;
}

/* "Is this a sound DearDiary registry": its schema version is recorded and every table
 * of the baseline is there (the server vouches for its own pages). */
static dd_code pg_quick_check(db_econn *c, dd_err *err)
{
    bool ours = false;
    int64_t tables = 0;
    dd_code code = has_migrations_table(c, &ours, err);
    if (code == DD_OK && !ours)
        return dd_fail(err, DD_IO, "no schema_migrations table (not a DearDiary registry)");
    if (code == DD_OK)
        code = count_tables(c, true, &tables, err);
    size_t want = sizeof baseline_tables / sizeof *baseline_tables;
    if (code == DD_OK && tables != (int64_t)want)
        code = dd_fail(err, DD_IO, "%lld of the registry's %zu tables are missing",
                       (long long)(want - (size_t)tables), want);
    return code;
}

/* amcheck's bt_index_check on every index of the registry, when the extension is
 * installed (it needs a superuser to install); without it the server's own checksums and
 * constraints are trusted, and there is nothing to report. */
static dd_code pg_integrity(db_econn *c, db_line_fn fn, void *ctx, dd_err *err)
{
    PGresult *r = NULL;
    dd_code code = query(c, "SELECT 1 FROM pg_extension WHERE extname = 'amcheck'", 0, NULL,
                         &r, "reading the catalog", err);
    bool have = code == DD_OK && PQntuples(r) > 0;
    PQclear(r);
    if (!have)
        return code;
    code = query(c, "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                 " JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'btree'"
                 " AND c.relnamespace = current_schema()::regnamespace ORDER BY 1", 0, NULL, &r,
                 "reading the catalog", err);
    for (int i = 0; code == DD_OK && i < PQntuples(r); i++) {
        const char *name = PQgetvalue(r, i, 0);
        const char *params[] = {name};
        PGresult *chk = PQexecParams(c->pg, "SELECT bt_index_check($1::regclass)", 1, NULL,
                                     params, NULL, NULL, 0);
        if (PQresultStatus(chk) != PGRES_TUPLES_OK) {
            char line[600];
            snprintf(line, sizeof line, "integrity_check: index %s: %s", name,
                     PQresultErrorField(chk, PG_DIAG_MESSAGE_PRIMARY)
                         ? PQresultErrorField(chk, PG_DIAG_MESSAGE_PRIMARY) : "failed");
            if (fn(ctx, line)) {
                PQclear(chk);
                break;
            }
        }
        PQclear(chk);
    }
    PQclear(r);
    return code;
}

static dd_code pg_check_integrity(db_econn *c, dd_err *err)
{
    char first[DD_ERR_MSG_MAX] = "";
    dd_code code = pg_integrity(c, db_first_line, first, err);
    if (code == DD_OK && first[0])
        code = dd_fail(err, DD_IO, "integrity check failed: %s", first);
    return code;
}

/* Moves on every commit visible to this connection (any transaction that wrote). */
static dd_code pg_data_version(db_econn *c, int64_t *out, dd_err *err)
{
    PGresult *r = NULL;
    dd_code code = query(c, "SELECT pg_current_snapshot()::text", 0, NULL, &r, "data_version",
                         err);
    if (code == DD_OK) {
        uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
        for (const unsigned char *p = (const unsigned char *)PQgetvalue(r, 0, 0); *p; p++)
            h = (h ^ *p) * 1099511628211ULL;
        *out = (int64_t)(h >> 1);
    }
    PQclear(r);
    return code;
}

/* The server's clock (leases of node rows, ENGINES.md §4.1): every node of a registry
 * reads the same clock, so skew between client machines never matters. */
static dd_code pg_server_now_ms(db_econn *c, int64_t *out, dd_err *err)
{
    PGresult *r = NULL;
    dd_code code = query(c, "SELECT CAST(floor(extract(epoch FROM clock_timestamp()) * 1000)"
                         " AS bigint)::text", 0, NULL, &r, "server clock", err);
    if (code == DD_OK)
        *out = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return code;
}

/* A slice of one chunk or of legacy resource.data: substr() of an EXTERNAL (uncompressed,
 * out of line) bytea reads only the TOAST pieces it covers. */
static dd_code pg_blob_read(db_econn *c, db_blob which, int64_t key, int64_t seq, int64_t off,
                            void *buf, size_t len, size_t *got, int64_t *total, dd_err *err)
{
    *got = 0;
    *total = 0;
    static const char *const sql[] = {
        [DB_BLOB_CHUNK] = "SELECT substr(data, $3::int, $4::int), octet_length(data)"
                          " FROM artifact_chunk WHERE set_id = $1 AND seq = $2",
        [DB_BLOB_RESOURCE_DATA] = "SELECT substr(data, $3::int, $4::int), octet_length(data)"
                                  " FROM resource WHERE id = $1 AND data IS NOT NULL",
    };
    static const char *const names[] = {"blob_chunk", "blob_resource"};
    if (c->blob_generation != c->generation) {
        for (int i = 0; i < 2; i++) {
            Oid types[] = {OID_INT8, OID_INT8, OID_INT8, OID_INT8};
            PGresult *r = PQprepare(c->pg, names[i], sql[i], 4, types);
            dd_code code = PQresultStatus(r) == PGRES_COMMAND_OK
                ? DD_OK : pg_error(c, r, "preparing a query", err);
            PQclear(r);
            if (code != DD_OK)
                return code;
        }
        c->blob_generation = c->generation;
    }
    int64_t want = len > 0x7fffffff ? 0x7fffffff : (int64_t)len;
    uint64_t v[4] = {(uint64_t)key, (uint64_t)seq, (uint64_t)(off + 1), (uint64_t)want};
    char bytes[4][8];
    const char *values[4];
    int lengths[4] = {8, 8, 8, 8}, formats[4] = {1, 1, 1, 1};
    for (int i = 0; i < 4; i++) {
        uint32_t hi = htonl((uint32_t)(v[i] >> 32)), lo = htonl((uint32_t)v[i]);
        memcpy(bytes[i], &hi, 4);
        memcpy(bytes[i] + 4, &lo, 4);
        values[i] = bytes[i];
    }
    PGresult *r = PQexecPrepared(c->pg, names[which], 4, values, lengths, formats, 1);
    dd_code code = DD_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        code = pg_error(c, r, which == DB_BLOB_CHUNK ? "reading an artifact chunk"
                                                     : "reading resource bytes", err);
    else if (PQntuples(r) == 0)
        code = which == DB_BLOB_CHUNK ? dd_fail(err, DD_NOT_FOUND, "artifact chunk not found")
                                      : dd_fail(err, DD_NOT_FOUND, "no resource data");
    if (code == DD_OK) {
        uint32_t t = 0;   /* octet_length: int4 */
        if (PQgetlength(r, 0, 1) == 4)
            memcpy(&t, PQgetvalue(r, 0, 1), 4);
        *total = (int32_t)ntohl(t);
        size_t n = (size_t)PQgetlength(r, 0, 0);
        if (n > len)
            n = len;
        if (off < *total && n > 0)
            memcpy(buf, PQgetvalue(r, 0, 0), n);
        *got = off < *total ? n : 0;
    }
    PQclear(r);
    return code;
}

/* Journals of a PostgreSQL registry live on this machine, in the XDG state directory
 * (~/.local/state/deardiary/journal, or $XDG_STATE_HOME/deardiary/journal), one prefix
 * per registry: "pg-<16 hex of the canonical locator>". */
static char *pg_journal_base(const char *canonical_locator)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)canonical_locator; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    char dir[3072];
    if (state && *state == '/')
        snprintf(dir, sizeof dir, "%s/deardiary/journal", state);
    else
        snprintf(dir, sizeof dir, "%s/.local/state/deardiary/journal",
                 home && *home ? home : "/tmp");
    char *out = malloc(strlen(dir) + 24);
    if (out)
        sprintf(out, "%s/pg-%016llx", dir, (unsigned long long)h);
    return out;
}

/* An identity column's sequence (pg_get_serial_sequence; the table name quoted, "user" is
 * a reserved word). pg_sequences.last_value is NULL until the first nextval or setval. */
static dd_code pg_id_counter(db_econn *c, const char *table, int64_t raise_to, int64_t *out,
                             dd_err *err)
{
    char quoted[128], v[24];
    snprintf(quoted, sizeof quoted, "\"%s\"", table);
    snprintf(v, sizeof v, "%lld", (long long)raise_to);
    const char *params[] = {quoted, v};
    PGresult *r = NULL;
    dd_code code = query(c, "WITH cur AS (SELECT coalesce((SELECT last_value FROM pg_sequences"
                         " WHERE format('%I.%I', schemaname, sequencename)::regclass"
                         " = pg_get_serial_sequence($1, 'id')::regclass), 0) AS v),"
                         " raised AS (SELECT setval(pg_get_serial_sequence($1, 'id'), $2::bigint)"
                         " AS v FROM cur WHERE $2::bigint > cur.v)"
                         " SELECT greatest((SELECT v FROM cur), coalesce((SELECT v FROM raised),"
                         " 0))::text", 2, params, &r, "the id counter", err);
    if (code == DD_OK)
        *out = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return code;
}

const struct dd_engine dd_engine_pg = {
    .name = "postgres",
    .supports = DD_ENG_ROW_LOCKS | DD_ENG_RETRY | DD_ENG_NETWORK | DD_ENG_COPY,
    .migrations = &dd_migrations_postgres,
    .accepts = pg_accepts,
    .open = pg_open,
    .close = pg_close,
    .check = pg_check,
    .canonical = pg_canonical,
    .journal_base = pg_journal_base,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .lock = pg_lock,
    .lock_children = pg_lock_children,
    .prepare = pg_prepare,
    .bind = pg_bind,
    .step = pg_step,
    .reset = pg_reset,
    .finalize = pg_finalize,
    .changes = pg_changes,
    .col_count = pg_col_count,
    .col_null = pg_col_null,
    .col_int64 = pg_col_int64,
    .col_double = pg_col_double,
    .col_text = pg_col_text,
    .col_blob = pg_col_blob,
    .prepare_schema = pg_prepare_schema,
    .exec_script = pg_exec_script,
    .quick_check = pg_quick_check,
    .check_integrity = pg_check_integrity,
    .integrity = pg_integrity,
    .data_version = pg_data_version,
    .server_now_ms = pg_server_now_ms,
    .blob_read = pg_blob_read,
    .id_counter = pg_id_counter,
    .copy_begin = pg_copy_begin,
    .copy_row = pg_copy_row,
    .copy_end = pg_copy_end,
};
