/*
 * textfmt.c - the canonical text forms of textfmt.h.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "textfmt.h"

/* Decimal digits of u, most significant first, at p; returns the count. */
static size_t put_u64(char *p, uint64_t u)
{
    char tmp[20];
    size_t k = 0;
    do {
        tmp[k++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    for (size_t i = 0; i < k; i++)
        p[i] = tmp[k - 1 - i];
    return k;
}

size_t dd_format_double(double v, char out[32])
{
    if (!isfinite(v)) {
        const char *s = isnan(v) ? "nan" : v < 0 ? "-inf" : "inf";
        size_t n = strlen(s);
        memcpy(out, s, n + 1);
        return n;
    }
    /* Integral values below 1e15: "%.15g" prints every digit and no exponent. */
    if (v > -1e15 && v < 1e15 && v == (double)(int64_t)v) {
        char *p = out;
        if (signbit(v))
            *p++ = '-';   /* also -0.0 -> "-0" */
        int64_t i = (int64_t)v;
        p += put_u64(p, (uint64_t)(i < 0 ? -i : i));
        *p = 0;
        return (size_t)(p - out);
    }
    /* Normal numbers: a decimal of <= 15 significant digits names one double at most,
     * so when "%.15g" round-trips it is the shortest form; else 16, else 17 (always
     * exact). Subnormals have fewer bits, so there we search from 1 digit. */
    int prec = fabs(v) < DBL_MIN ? 1 : 15;
    int n = 0;
    for (; prec <= 17; prec++) {
        n = snprintf(out, 32, "%.*g", prec, v);
        if (prec == 17 || strtod(out, NULL) == v)
            break;
    }
    return (size_t)n;
}

size_t dd_metric_line(int64_t step, double value, const char *recorded_at,
                      char out[DD_METRIC_LINE_MAX])
{
    char *p = out;
    uint64_t u = (uint64_t)step;
    if (step < 0) {
        *p++ = '-';
        u = (uint64_t)0 - u;   /* well defined for INT64_MIN too */
    }
    p += put_u64(p, u);        /* <= 21 bytes so far */
    *p++ = ' ';
    p += dd_format_double(value, p);   /* <= 24 more */
    *p++ = ' ';
    size_t tl = recorded_at ? strnlen(recorded_at, DD_TS_LEN - 1) : 0;
    if (tl)
        memcpy(p, recorded_at, tl);
    p += tl;
    *p++ = '\n';
    *p = 0;
    return (size_t)(p - out);
}
