/*
 * fuzz_jwt.c - libFuzzer target for dd_jwt_verify (server/jwt.c), which every request's
 * Authorization header reaches when auth is enabled.
 *
 * Input: the token text, verified with the key "k" at a fixed "now".
 * Promises checked: no crash or leak on any bytes; a token is accepted only if it is
 * exactly what dd_jwt_sign makes for its claims (re-signing the accepted claims gives
 * back the same signature part, so no other alg, no tampering and no alternative
 * encodings pass); accepted claims obey the rules (id > 0, exp >= now, sub a C string);
 * and tokens dd_jwt_sign makes are accepted with their claims, but not under another key.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "fuzz.h"
#include "server.h"

#define NOW 1700000000

/* An accepted token is exactly a signed one: its third part is the canonical base64url
 * of HMAC-SHA256("k", first two parts as sent); any change to a byte of those parts, or
 * another key, is refused. */
static void check_accepted(const char *tok, size_t len, const dd_jwt_claims *c)
{
    PROMISE(c->id > 0 && c->exp >= NOW && strlen(c->sub) <= DD_NAME_MAX);
    const char *dot2 = memrchr(tok, '.', len);
    PROMISE(dot2 != NULL);
    size_t signed_len = (size_t)(dot2 - tok);
    unsigned char mac[32];
    unsigned int maclen = 32;
    HMAC(EVP_sha256(), "k", 1, (const unsigned char *)tok, signed_len, mac, &maclen);
    unsigned char b64[64];
    int n = EVP_EncodeBlock(b64, mac, 32);
    while (n > 0 && b64[n - 1] == '=')
        n--;
    for (int i = 0; i < n; i++)
        b64[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
    PROMISE(len - signed_len - 1 == (size_t)n && memcmp(dot2 + 1, b64, (size_t)n) == 0);
    dd_jwt_claims again;
    PROMISE(dd_jwt_verify(tok, len, "other key", NOW, &again) == DD_JWT_INVALID);
    char *copy = malloc(len);
    PROMISE(copy != NULL);
    memcpy(copy, tok, len);
    copy[len / 3] ^= 0x01;   /* a byte of the header or the payload */
    PROMISE(len / 3 >= signed_len || dd_jwt_verify(copy, len, "k", NOW, &again) != DD_JWT_OK);
    free(copy);
}

static void round_trip(const uint8_t *data, size_t size)
{
    char sub[64];
    size_t n = size < sizeof sub - 1 ? size : sizeof sub - 1;
    memcpy(sub, data, n);
    sub[n] = '\0';
    for (size_t i = 0; i < n; i++)   /* jansson refuses invalid UTF-8: keep ASCII */
        if ((unsigned char)sub[i] >= 0x80 || sub[i] == 0)
            sub[i] = 'x';
    int64_t id = 1 + (int64_t)(size % 1000);
    char *tok = dd_jwt_sign(sub, id, NOW + 60, "k");
    PROMISE(tok != NULL);
    dd_jwt_claims c;
    PROMISE(dd_jwt_verify(tok, strlen(tok), "k", NOW, &c) == DD_JWT_OK);
    PROMISE(c.id == id && c.exp == NOW + 60 && strcmp(c.sub, sub) == 0);
    PROMISE(dd_jwt_verify(tok, strlen(tok), "k2", NOW, &c) == DD_JWT_INVALID);
    PROMISE(dd_jwt_verify(tok, strlen(tok), "k", NOW + 61, &c) == DD_JWT_EXPIRED);
    free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dd_jwt_claims c;
    if (dd_jwt_verify((const char *)data, size, "k", NOW, &c) == DD_JWT_OK)
        check_accepted((const char *)data, size, &c);
    round_trip(data, size);
    return 0;
}
