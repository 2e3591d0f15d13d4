/*
 * textfmt.h - the canonical text forms of stored values, shared by the filesystem and
 * any later REST or export layer: shortest round-trip doubles and metric lines.
 *
 * Pure functions: no allocation, no globals, thread-safe. Both use the C library's
 * printf/strtod and so assume the "C" numeric locale (the program never changes
 * LC_NUMERIC); under a locale with a decimal comma the text would not be canonical.
 */
#ifndef DD_TEXTFMT_H
#define DD_TEXTFMT_H

#include <stddef.h>
#include <stdint.h>

/* The shortest decimal text that strtod reads back as exactly v, for finite v:
 *   0.93 -> "0.93", 7.0 -> "7", 1e-05 -> "1e-05", -0.5 -> "-0.5", -0.0 -> "-0",
 *   0.1+0.2 -> "0.30000000000000004", 1e300 -> "1e+300", 5e-324 -> "5e-324".
 * Defined as: the first of printf's "%.15g", "%.16g", "%.17g" that strtod reads back as
 * v (for subnormals the first of "%.1g" .. "%.17g"), so strtod(out) == v bit for bit,
 * sign of zero included, and no shorter decimal would do. Fast paths give the same
 * text: short decimals in 1e-4 <= |v| < 1e15 (0.93, 7, 0.001) without printf at all
 * (~15 ns), others with one printf and one or two strtod (~400 ns).
 * Non-finite v (the store never holds one) gives "nan", "inf" or "-inf".
 * Writes at most 25 bytes including the NUL; returns the length (without the NUL).
 * Never fails. */
size_t dd_format_double(double v, char out[32]);

#define DD_METRIC_LINE_MAX 96

/* One point of a metric series as text: "<step> <value> <recorded_at>\n", e.g.
 * "3 0.93 2026-11-23T12:00:00.000Z\n"; step in decimal (INT64_MIN..INT64_MAX), value as
 * dd_format_double. recorded_at is copied as is, at most DD_TS_LEN - 1 bytes of it (NULL
 * counts as ""), so the line always fits: at most 72 bytes including the NUL.
 * NUL-terminated; returns the length (without the NUL). Never fails. */
size_t dd_metric_line(int64_t step, double value, const char *recorded_at,
                      char out[DD_METRIC_LINE_MAX]);

/* The length of the well-formed UTF-8 sequence at s (at most `avail` bytes readable), or 0
 * when it is not one (overlong forms, surrogates, code points past U+10FFFF, cut
 * sequences). */
size_t dd_utf8_seq(const unsigned char *s, size_t avail);

#endif
