/*
 * fuzz_locator.c - libFuzzer target for the registry locator (store.h): dd_locator_is_uri
 * and dd_locator_canonical, which every command runs on a `DB` argument, `--db`,
 * `database:` or DEARDIARY_DB_FILE, and which `deardiary config`, messages and the
 * mount's xattr print (engine_pg.c's pg_canonical over libpq's PQconninfoParse).
 *
 * The promises: a locator is a URI exactly when it starts with "scheme://" (RFC 3986
 * scheme characters); a path's canonical form is itself; a PostgreSQL URI's canonical
 * form starts with "postgresql://", never carries a password (libpq, parsing it back,
 * finds none), names the same user, host, port and database as the input, and is its
 * own canonical form.
 */
#include <ctype.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "store.h"

/* The input's scheme prefix, from RFC 3986 (ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )). */
static bool has_scheme(const char *s)
{
    if (!isalpha((unsigned char)s[0]))
        return false;
    size_t i = 1;
    while (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')
        i++;
    return strncmp(s + i, "://", 3) == 0;
}

/* Option `key` of a parsed connection string ("" when absent); opts may be NULL. */
static const char *opt(PQconninfoOption *opts, const char *key)
{
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (strcmp(o->keyword, key) == 0)
            return o->val ? o->val : "";
    return "";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = 0;
    if (strlen(s) != size) {   /* a C string argument cannot hold NUL */
        free(s);
        return 0;
    }
    bool uri = dd_locator_is_uri(s);
    PROMISE(uri == has_scheme(s));
    char *canon = NULL;
    dd_err err = {0};
    dd_code code = dd_locator_canonical(s, &canon, &err);
    bool pg = strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0;
    if (!uri) {
        PROMISE(code == DD_OK && strcmp(canon, s) == 0);
    } else if (!pg) {
        PROMISE(code == DD_INVALID && err.msg[0]);
    } else if (code == DD_OK) {
        PROMISE(strncmp(canon, "postgresql://", 13) == 0);
        PQconninfoOption *in = PQconninfoParse(s, NULL), *back = PQconninfoParse(canon, NULL);
        PROMISE(in && back);
        PROMISE(opt(back, "password")[0] == 0);
        static const char *const same[] = {"user", "host", "port", "dbname", "sslmode"};
        for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
            PROMISE(strcmp(opt(in, same[i]), opt(back, same[i])) == 0);
        char *again = NULL;
        PROMISE(dd_locator_canonical(canon, &again, &err) == DD_OK && strcmp(again, canon) == 0);
        free(again);
        PQconninfoFree(in);
        PQconninfoFree(back);
    } else {
        PROMISE(code == DD_INVALID && err.msg[0]);
        PROMISE(PQconninfoParse(s, NULL) == NULL);
    }
    free(canon);
    free(s);
    return 0;
}
