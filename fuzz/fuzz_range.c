/*
 * fuzz_range.c - libFuzzer target for the two parsers of byte ranges: the server's Range
 * header (server/h_resources.c dd_range_parse, GET /resource/{id}/data) and the remote
 * mount's reading of the answer's Content-Range (remote/http.c dd_content_range_parse).
 *
 * Input: 8 bytes of body size, then the header text.
 * Promises checked: dd_range_parse answers -1, 0 or 1; on 1, 0 <= first <= last < size;
 * on -1 with a "bytes=a-" form, a >= size. dd_content_range_parse answers 0 or -1; on 0,
 * either first = last = -1 or 0 <= first <= last < total, and the outputs are untouched
 * on -1.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http.h"
#include "server.h"

static void check_range(const char *h, int64_t size)
{
    int64_t first = -7, last = -7;
    int rc = dd_range_parse(h, size, &first, &last);
    PROMISE(rc >= -1 && rc <= 1);
    if (rc == 1)
        PROMISE(0 <= first && first <= last && last < size);
    if (rc != 1)
        PROMISE(first == -7 && last == -7);
}

static void check_content_range(const char *s, size_t len)
{
    int64_t a = -7, b = -7, t = -7;
    int rc = dd_content_range_parse(s, len, &a, &b, &t);
    PROMISE(rc == 0 || rc == -1);
    if (rc == -1)
        PROMISE(a == -7 && b == -7 && t == -7);
    else
        PROMISE(t >= 0 && ((a == -1 && b == -1) || (0 <= a && a <= b && b < t)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    int64_t body;
    memcpy(&body, data, 8);
    body = body < 0 ? -(body + 1) : body;
    char *h = malloc(size - 8 + 1);
    if (!h)
        return 0;
    memcpy(h, data + 8, size - 8);
    h[size - 8] = '\0';
    check_range(h, body);
    check_content_range((const char *)data + 8, size - 8);
    free(h);
    return 0;
}
