/*
 * test_jwt.c - server/jwt.c against an independent vector (jwt.io's HS256 example, made
 * by another implementation) and its own tokens: signature, alg, claims, expiry.
 */
#include <string.h>

#include "check.h"
#include "server.h"

/* {"alg":"HS256","typ":"JWT"} . {"sub":"1234567890","name":"John Doe","iat":1516239022},
 * key "your-256-bit-secret": the signature is right, but the claims lack id and exp. */
static const char JWT_IO[] =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

static dd_jwt_result verify(const char *tok, const char *key, int64_t now, dd_jwt_claims *c)
{
    return dd_jwt_verify(tok, strlen(tok), key, now, c);
}

static void test_independent_vector(void)
{
    dd_jwt_claims c;
    CHECK(verify(JWT_IO, "your-256-bit-secret", 0, &c) == DD_JWT_PAYLOAD_INVALID);
    CHECK(verify(JWT_IO, "another secret", 0, &c) == DD_JWT_INVALID);
    char tampered[sizeof JWT_IO];
    memcpy(tampered, JWT_IO, sizeof JWT_IO);
    tampered[40] = tampered[40] == 'A' ? 'B' : 'A';
    CHECK(verify(tampered, "your-256-bit-secret", 0, &c) == DD_JWT_INVALID);
}

static void test_round_trip(void)
{
    dd_jwt_claims c;
    char *tok = dd_jwt_sign("alice", 7, 2000, "k");
    CHECK(tok != NULL);
    CHECK(verify(tok, "k", 1999, &c) == DD_JWT_OK);
    CHECK(c.id == 7 && c.exp == 2000 && strcmp(c.sub, "alice") == 0);
    CHECK(verify(tok, "k", 2000, &c) == DD_JWT_OK);       /* exp is the last valid second */
    CHECK(verify(tok, "k", 2001, &c) == DD_JWT_EXPIRED);
    CHECK(verify(tok, "k2", 1999, &c) == DD_JWT_INVALID);
    /* a non-canonical last signature character (spare bits set) is refused */
    size_t n = strlen(tok);
    char last = tok[n - 1];
    tok[n - 1] = last == 'A' ? 'B' : last == 'B' ? 'A' : (char)(last ^ 1);
    CHECK(verify(tok, "k", 1999, &c) == DD_JWT_INVALID);
    tok[n - 1] = last;
    /* the payload without a signature ("alg none" style) */
    *strrchr(tok, '.') = '\0';
    CHECK(verify(tok, "k", 1999, &c) == DD_JWT_INVALID);
    free(tok);
    CHECK(dd_jwt_verify(NULL, 0, "k", 0, &c) == DD_JWT_INVALID);
    CHECK(verify("", "k", 0, &c) == DD_JWT_INVALID);
    CHECK(verify("a.b.c.d", "k", 0, &c) == DD_JWT_INVALID);
}

static void test_parse_id(void)
{
    int64_t v;
    CHECK(dd_parse_id("42", &v) && v == 42);
    CHECK(dd_parse_id("-3", &v) && v == -3);
    CHECK(dd_parse_id("9223372036854775807", &v));
    CHECK(!dd_parse_id("9223372036854775808", &v));
    CHECK(!dd_parse_id("", &v) && !dd_parse_id(" 1", &v) && !dd_parse_id("1x", &v));
    CHECK(!dd_parse_id("0x10", &v) && !dd_parse_id("+1", &v) && !dd_parse_id(NULL, &v));
}

int main(void)
{
    test_independent_vector();
    test_round_trip();
    test_parse_id();
    return check_done();
}
