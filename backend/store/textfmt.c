/*
 * textfmt.c - the canonical text forms of textfmt.h.
 */
#include <float.h>
#include <stdbool.h>
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

/* v as printf's "%.<prec>g" would print it, given its significant digits dig[0..ndig)
 * (already rounded to at most prec digits) and decimal exponent x (v = d.ddd * 10^x). */
static size_t put_g(char *out, bool neg, const char *dig, int ndig, int x, int prec)
{
    char *p = out;
    while (ndig > 1 && dig[ndig - 1] == '0')
        ndig--;
    if (neg)
        *p++ = '-';
    if (x < -4 || x >= prec) {
        *p++ = dig[0];
        if (ndig > 1) {
            *p++ = '.';
            memcpy(p, dig + 1, (size_t)ndig - 1);
            p += ndig - 1;
        }
        *p++ = 'e';
        *p++ = x < 0 ? '-' : '+';
        unsigned ax = (unsigned)(x < 0 ? -x : x);
        if (ax < 10)
            *p++ = '0';
        p += put_u64(p, ax);
    } else if (x >= 0) {
        for (int i = 0; i <= x; i++)
            *p++ = i < ndig ? dig[i] : '0';
        if (ndig > x + 1) {
            *p++ = '.';
            memcpy(p, dig + x + 1, (size_t)(ndig - x - 1));
            p += ndig - x - 1;
        }
    } else {
        *p++ = '0';
        *p++ = '.';
        for (int i = -1; i > x; i--)
            *p++ = '0';
        memcpy(p, dig, (size_t)ndig);
        p += ndig;
    }
    *p = 0;
    return (size_t)(p - out);
}

/* A normal double: the first of "%.15g", "%.16g", "%.17g" that strtod reads back as v.
 * A decimal of <= 15 significant digits names one double at most, so when the 15-digit
 * form round-trips it is the shortest; 17 digits always round-trip. One "%.16e" gives
 * the 17 correctly rounded digits; the 15- and 16-digit forms are rounded from them,
 * which equals rounding v itself unless the dropped digits are exactly "50" or "5" (v
 * may lie on either side of the half then): those few cases ask printf. */
static size_t format_normal(double v, char out[32])
{
    char e[40];
    snprintf(e, sizeof e, "%.16e", v);   /* [-]d.dddddddddddddddde[+-]xx */
    bool neg = e[0] == '-';
    const char *m = e + neg;
    char dig17[17];
    dig17[0] = m[0];
    memcpy(dig17 + 1, m + 2, 16);
    int x17 = atoi(m + 19);
    for (int prec = 15; prec <= 16; prec++) {
        int drop = prec == 15 ? (dig17[15] - '0') * 10 + (dig17[16] - '0') : dig17[16] - '0';
        int half = prec == 15 ? 50 : 5;
        size_t n;
        if (drop == half) {
            n = (size_t)snprintf(out, 32, "%.*g", prec, v);
        } else {
            char dig[17];
            int x = x17;
            memcpy(dig, dig17, (size_t)prec);
            if (drop > half) {
                int i = prec - 1;
                while (i >= 0 && dig[i] == '9')
                    dig[i--] = '0';
                if (i >= 0)
                    dig[i]++;
                else {   /* 9.99..9 -> 10.0..0 */
                    dig[0] = '1';
                    x++;
                }
            }
            n = put_g(out, neg, dig, prec, x, prec);
        }
        if (strtod(out, NULL) == v)
            return n;
    }
    return put_g(out, neg, dig17, 17, x17, 17);
}

size_t dd_format_double(double v, char out[32])
{
    if (!isfinite(v)) {
        const char *s = isnan(v) ? "nan" : v < 0 ? "-inf" : "inf";
        size_t n = strlen(s);
        memcpy(out, s, n + 1);
        return n;
    }
    if (v == 0) {
        const char *z = signbit(v) ? "-0" : "0";
        size_t n = strlen(z);
        memcpy(out, z, n + 1);
        return n;
    }
    /* Short decimals in fixed notation (1e-4 <= |v| < 1e15, <= 15 digits, which is
     * where "%.15g" uses no exponent): find the fewest decimals k such that an integer m
     * has m / 10^k == v. m < 2^53 and 10^k are exact and IEEE division rounds correctly,
     * so strtod("m e-k") is v; m is the nearest integer to v * 10^k (the product's
     * rounding error is far below 0.5), and a <= 15-digit decimal that round-trips is
     * unique, so this is the text "%.15g" would print. */
    double a = fabs(v);
    if (a >= 1e-4 && a < 1e15) {
        static const double p10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8,
                                     1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
                                     1e17, 1e18, 1e19};
        for (int k = 0; k < 20; k++) {
            double s = a * p10[k];
            if (s >= 1e15)
                break;
            double m = nearbyint(s);
            if (m / p10[k] != a)
                continue;
            uint64_t mi = (uint64_t)m, ip = mi, fp = 0;
            if (k) {
                uint64_t d = (uint64_t)p10[k];
                ip = mi / d;
                fp = mi % d;
            }
            char *p = out;
            if (signbit(v))
                *p++ = '-';
            p += put_u64(p, ip);
            if (k) {
                *p++ = '.';
                for (int i = k - 1; i >= 0; i--) {
                    p[i] = (char)('0' + (int)(fp % 10));
                    fp /= 10;
                }
                p += k;
            }
            *p = 0;
            return (size_t)(p - out);
        }
    }
    /* Subnormals have fewer bits: the fewest of 1..17 digits that round-trips. */
    if (a < DBL_MIN) {
        int n = 0;
        for (int prec = 1; prec <= 17; prec++) {
            n = snprintf(out, 32, "%.*g", prec, v);
            if (strtod(out, NULL) == v)
                break;
        }
        return (size_t)n;
    }
    return format_normal(v, out);
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
    p += put_u64(p, u);        /* <= 20 bytes so far */
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

/* Length of the well-formed UTF-8 sequence at s[0..avail), or 0 (overlong forms,
 * surrogates, code points past U+10FFFF and cut sequences are not well formed). */
size_t dd_utf8_seq(const unsigned char *s, size_t avail)
{
    if (s[0] < 0x80)
        return 1;
    size_t n;
    unsigned cp;
    if ((s[0] & 0xe0) == 0xc0) { n = 2; cp = s[0] & 0x1f; }
    else if ((s[0] & 0xf0) == 0xe0) { n = 3; cp = s[0] & 0x0f; }
    else if ((s[0] & 0xf8) == 0xf0) { n = 4; cp = s[0] & 0x07; }
    else return 0;
    if (n > avail)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    static const unsigned min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}
