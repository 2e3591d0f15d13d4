/*
 * jwt.c - HS256 JSON Web Tokens, as the original issues them: header
 * {"alg":"HS256","typ":"JWT"}, claims {"sub","id","exp"}. Base64 is OpenSSL's
 * (EVP_EncodeBlock/EVP_DecodeBlock) with the url alphabet swapped in and out; the MAC is
 * OpenSSL's HMAC, compared in constant time. Only HS256 is accepted: a token naming any
 * other alg, "none" included, is invalid whatever its signature.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

#define JWT_PART_MAX 4096   /* longer parts are not ours: refused before decoding */

/* base64url without padding of `len` bytes into `out` (room for 4*ceil(len/3)+1). */
static size_t b64url_encode(const unsigned char *in, size_t len, char *out)
{
    int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (int i = 0; i < n; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    return (size_t)n;
}

/* Decode base64url (no padding) of `len` chars into `out` (room for 3*len/4+3);
 * -1 for a character outside the url alphabet or an impossible length. */
static long b64url_decode(const char *in, size_t len, unsigned char *out)
{
    if (len % 4 == 1 || len > JWT_PART_MAX)
        return -1;
    char buf[JWT_PART_MAX + 4];
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '+' || c == '/' || c == '=')
            return -1;   /* the standard alphabet is not base64url */
        buf[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    size_t pad = (4 - len % 4) % 4;
    memset(buf + len, '=', pad);
    int n = EVP_DecodeBlock(out, (unsigned char *)buf, (int)(len + pad));
    if (n < 0)
        return -1;
    return n - (long)pad;   /* EVP_DecodeBlock counts the padding as zero bytes */
}

static void hs256(const char *key, const char *data, size_t len, unsigned char mac[32])
{
    unsigned int maclen = 32;
    HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)data, len, mac, &maclen);
}

char *dd_jwt_sign(const char *sub, int64_t id, int64_t exp, const char *key)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    json_t *claims = json_pack("{s:s, s:I, s:I}", "sub", sub, "id", (json_int_t)id, "exp",
                               (json_int_t)exp);
    char *payload = claims ? json_dumps(claims, JSON_COMPACT) : NULL;
    json_decref(claims);
    if (!payload)
        return NULL;
    size_t hl = strlen(header), pl = strlen(payload);
    char *tok = malloc(4 * ((hl + 2) / 3) + 4 * ((pl + 2) / 3) + 64);
    if (tok) {
        size_t n = b64url_encode((const unsigned char *)header, hl, tok);
        tok[n++] = '.';
        n += b64url_encode((const unsigned char *)payload, pl, tok + n);
        unsigned char mac[32];
        hs256(key, tok, n, mac);
        tok[n++] = '.';
        b64url_encode(mac, sizeof mac, tok + n);
    }
    free(payload);
    return tok;
}

/* Decode a part into a JSON object; NULL when it is not one. */
static json_t *decode_json_part(const char *p, size_t len)
{
    unsigned char buf[JWT_PART_MAX];
    long n = b64url_decode(p, len, buf);
    if (n <= 0)
        return NULL;
    json_t *j = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static bool header_is_hs256(const char *p, size_t len)
{
    json_t *h = decode_json_part(p, len);
    const char *alg = h ? json_string_value(json_object_get(h, "alg")) : NULL;
    bool ok = alg && strcmp(alg, "HS256") == 0;
    json_decref(h);
    return ok;
}

static bool signature_ok(const char *token, size_t signed_len, const char *sig, size_t siglen,
                         const char *key)
{
    unsigned char want[32], got[JWT_PART_MAX];
    if (siglen != 43)   /* 32 bytes, base64url without padding */
        return false;
    if (b64url_decode(sig, siglen, got) != 32)
        return false;
    /* Only the canonical encoding: the last character's two spare bits must be zero, so
     * one signature has exactly one text. */
    char canon[48];
    if (b64url_encode(got, 32, canon) != siglen || memcmp(canon, sig, siglen) != 0)
        return false;
    hs256(key, token, signed_len, want);
    return CRYPTO_memcmp(want, got, 32) == 0;
}

/* The claims' rules, in the original middleware's order. */
static dd_jwt_result check_claims(json_t *c, int64_t now, dd_jwt_claims *out)
{
    json_t *sub = json_object_get(c, "sub"), *id = json_object_get(c, "id"),
           *exp = json_object_get(c, "exp");
    if (!sub || !id || !exp)
        return DD_JWT_PAYLOAD_INVALID;
    if (json_is_null(exp) || (json_is_integer(exp) && json_integer_value(exp) < now))
        return DD_JWT_EXPIRED;
    /* Decision: a non-integer exp is invalid (the original skipped the check). */
    if (!json_is_integer(exp) || !json_is_integer(id) || json_integer_value(id) <= 0
        || !json_is_string(sub) || json_string_length(sub) > DD_NAME_MAX)
        return DD_JWT_PAYLOAD_INVALID;
    out->id = json_integer_value(id);
    out->exp = json_integer_value(exp);
    memcpy(out->sub, json_string_value(sub), json_string_length(sub) + 1);
    return DD_JWT_OK;
}

dd_jwt_result dd_jwt_verify(const char *token, size_t len, const char *key, int64_t now,
                            dd_jwt_claims *out)
{
    const char *dot1 = token ? memchr(token, '.', len) : NULL;
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot2 || memchr(token, '\0', len))
        return DD_JWT_INVALID;
    const char *sig = dot2 + 1;
    size_t hlen = (size_t)(dot1 - token), plen = (size_t)(dot2 - dot1 - 1),
           slen = len - (size_t)(sig - token);
    if (!header_is_hs256(token, hlen) || !signature_ok(token, (size_t)(dot2 - token), sig, slen, key))
        return DD_JWT_INVALID;
    json_t *claims = decode_json_part(dot1 + 1, plen);
    if (!claims)
        return DD_JWT_INVALID;
    dd_jwt_result res = check_claims(claims, now, out);
    json_decref(claims);
    return res;
}
