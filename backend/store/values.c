/*
 * values.c - checking and formatting the store's plain values: names that become file
 * names, timestamps, the three enums, and bcrypt password hashes.
 */
#include <crypt.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "textfmt.h"

/* ---------------------------------------------------------------- names */

dd_code dd_name_check(const char *name, const char *what, dd_err *err)
{
    if (!name || !*name)
        return dd_fail(err, DD_INVALID, "%s is empty", what);
    size_t len = strlen(name);
    if (len > DD_NAME_MAX)
        return dd_fail(err, DD_TOO_LONG, "%s is %zu bytes long; the limit is %d", what, len,
                       DD_NAME_MAX);
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return dd_fail(err, DD_INVALID, "%s may not be \"%s\"", what, name);
    const unsigned char *p = (const unsigned char *)name;
    while (*p) {
        if (*p == '/')
            return dd_fail(err, DD_INVALID, "%s may not contain '/'", what);
        if (*p < 0x20 || *p == 0x7f)
            return dd_fail(err, DD_INVALID, "%s may not contain control characters", what);
        size_t n = dd_utf8_seq(p, strlen((const char *)p));
        if (n == 0)
            return dd_fail(err, DD_INVALID, "%s is not valid UTF-8", what);
        p += n;
    }
    return DD_OK;
}

/* ---------------------------------------------------------------- time */

/* `v` as exactly `n` decimal digits at out (v < 10^n). */
static void put_digits(char *out, unsigned v, int n)
{
    for (int i = n - 1; i >= 0; i--, v /= 10)
        out[i] = (char)('0' + v % 10);
}

/* false when the instant falls outside years 0000..9999 (no canonical form). Digits are
 * placed by hand, not by snprintf: every metric point's time passes here (the REST batch
 * route spent 5% of its CPU in printf's machinery, BENCHMARKS.md "serve"). The date is
 * computed from the day count (the proleptic Gregorian calendar, as gmtime's: H. Hinnant's
 * civil_from_days), not by gmtime_r, which takes glibc's time zone lock: every worker
 * of `deardiary serve` calls dd_now for each request (GET /health's server_time). */
static bool format_ts(time_t secs, int ms, char out[DD_TS_LEN])
{
    /* 0000-01-01 is day -719528 from the epoch, 9999-12-31 day 2932896 */
    int64_t days = (int64_t)(secs / 86400), sod = (int64_t)(secs % 86400);
    if (sod < 0)
        sod += 86400, days--;
    if (days < -719528 || days > 2932896)
        return false;
    int64_t z = days + 719468;                       /* days since 0000-03-01 */
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);     /* day of the 400-year era */
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);   /* from March 1st */
    unsigned mp = (5 * doy + 2) / 153;
    unsigned day = doy - (153 * mp + 2) / 5 + 1, month = mp < 10 ? mp + 3 : mp - 9;
    int64_t year = (int64_t)yoe + era * 400 + (month <= 2);
    memcpy(out, "0000-00-00T00:00:00.000Z", DD_TS_LEN);
    put_digits(out, (unsigned)year, 4);
    put_digits(out + 5, month, 2);
    put_digits(out + 8, day, 2);
    put_digits(out + 11, (unsigned)(sod / 3600), 2);
    put_digits(out + 14, (unsigned)(sod / 60 % 60), 2);
    put_digits(out + 17, (unsigned)(sod % 60), 2);
    put_digits(out + 20, (unsigned)(ms < 0 ? 0 : ms) % 1000u, 3);
    return true;
}

void dd_now(char out[DD_TS_LEN])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (!format_ts(ts.tv_sec, (int)(ts.tv_nsec / 1000000), out))
        snprintf(out, DD_TS_LEN, "9999-12-31T23:59:59.999Z");   /* a clock past 9999 */
}

/* Read exactly `n` digits into *out. */
static bool take_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

/* Unix seconds with an optional fraction ("1700000000.5"); the fraction is read as
 * digits, not through a double, so ".123" is exactly 123 ms. */
static bool parse_epoch(const char *text, char out[DD_TS_LEN])
{
    const char *p = text;
    long long secs = 0;
    int digits = 0, ms = 0;
    while (isdigit((unsigned char)*p) && digits < 12) {
        secs = secs * 10 + (*p++ - '0');
        digits++;
    }
    if (digits == 0)
        return false;
    if (*p == '.') {
        p++;
        int frac = 0;
        while (isdigit((unsigned char)*p)) {
            if (frac < 3)
                ms = ms * 10 + (*p - '0');
            frac++;
            p++;
        }
        if (frac == 0)
            return false;
        for (; frac < 3; frac++)
            ms *= 10;
    }
    return *p == 0 && format_ts((time_t)secs, ms, out);
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

static bool parse_zone(const char *p, long *offset_s)
{
    *offset_s = 0;
    if (*p == 0 || (p[0] == 'Z' && p[1] == 0))
        return true;
    if (*p != '+' && *p != '-')
        return false;
    int sign = *p == '-' ? -1 : 1, hh, mm;
    p++;
    if (!take_digits(&p, 2, &hh))
        return false;
    if (*p == ':')
        p++;
    if (!take_digits(&p, 2, &mm) || *p || hh > 23 || mm > 59)
        return false;
    *offset_s = sign * (hh * 3600L + mm * 60L);
    return true;
}

/* `text` is exactly what format_ts would write for the instant it names: "YYYY-MM-DDT
 * HH:MM:SS.mmmZ", a real day, hours <= 23, minutes and seconds <= 59 (a leap second :60
 * rolls into the next minute, so it is not canonical). The timestamps the store hands
 * out (dd_now, a batch's shared time) come back in this form, once per metric point. */
static bool canonical_ts(const char *text)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    for (int i = 0; i < DD_TS_LEN - 1; i++)
        if (shape[i] == 'd' ? !isdigit((unsigned char)text[i]) : text[i] != shape[i])
            return false;
    if (text[DD_TS_LEN - 1])
        return false;
    const char *p = text;
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
    take_digits(&p, 4, &y), p++, take_digits(&p, 2, &mo), p++, take_digits(&p, 2, &d), p++;
    take_digits(&p, 2, &h), p++, take_digits(&p, 2, &mi), p++, take_digits(&p, 2, &s);
    return mo >= 1 && mo <= 12 && d >= 1 && d <= days_in_month(y, mo) && h <= 23 && mi <= 59
           && s <= 59;
}

dd_code dd_time_parse(const char *text, char out[DD_TS_LEN], dd_err *err)
{
    if (!text)
        return dd_fail(err, DD_INVALID, "missing timestamp");
    if (parse_epoch(text, out))
        return DD_OK;
    if (canonical_ts(text)) {   /* already the form format_ts writes: no calendar work */
        memcpy(out, text, DD_TS_LEN);
        return DD_OK;
    }
    const char *p = text;
    int y, mo, d, h, mi, s, ms = 0;
    bool ok = take_digits(&p, 4, &y) && *p++ == '-' && take_digits(&p, 2, &mo) &&
              *p++ == '-' && take_digits(&p, 2, &d) && (*p == 'T' || *p == ' ') && p++ &&
              take_digits(&p, 2, &h) && *p++ == ':' && take_digits(&p, 2, &mi) &&
              *p++ == ':' && take_digits(&p, 2, &s);
    if (ok && *p == '.') {
        p++;
        int digits = 0, frac = 0;
        while (isdigit((unsigned char)*p)) {
            if (digits < 3)
                frac = frac * 10 + (*p - '0');
            digits++;
            p++;
        }
        ok = digits > 0;
        for (int i = digits; i < 3; i++)
            frac *= 10;
        ms = frac;
    }
    long offset = 0;
    ok = ok && parse_zone(p, &offset);
    ok = ok && mo >= 1 && mo <= 12 && d >= 1 && d <= days_in_month(y, mo) && h <= 23 &&
         mi <= 59 && s <= 60;
    if (!ok)
        return dd_fail(err, DD_INVALID,
                       "\"%.64s\" is not a timestamp (want 2026-11-23T12:00:00.000Z or Unix"
                       " seconds)", text);
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                    .tm_hour = h, .tm_min = mi, .tm_sec = s};
    time_t secs = timegm(&tm);      /* a leap second (:60) rolls into the next minute */
    if (!format_ts(secs - offset, ms, out))
        return dd_fail(err, DD_INVALID, "\"%.64s\" falls outside years 0000-9999", text);
    return DD_OK;
}

/* ---------------------------------------------------------------- enums */

static const char *const experiment_status_names[] = {NULL, "IN_PROGRESS", "STOPPED",
                                                      "FINISHED"};
static const char *const iteration_status_names[] = {NULL, "RUNNING", "SUCCEEDED", "FAILED",
                                                     "KILLED"};
static const char *const stage_names[] = {NULL, "NO_STAGE", "STAGING", "PRODUCTION",
                                          "ARCHIVED"};

static const char *enum_name(const char *const *names, int count, int v)
{
    return v >= 1 && v < count ? names[v] : NULL;
}

static dd_code enum_parse(const char *const *names, int count, const char *text, int *out)
{
    for (int v = 1; text && v < count; v++) {
        if (strcmp(text, names[v]) == 0) {
            *out = v;
            return DD_OK;
        }
    }
    return DD_INVALID;
}

#define ENUM_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

const char *dd_experiment_status_name(int v)
{
    return enum_name(experiment_status_names, ENUM_COUNT(experiment_status_names), v);
}
const char *dd_iteration_status_name(int v)
{
    return enum_name(iteration_status_names, ENUM_COUNT(iteration_status_names), v);
}
const char *dd_stage_name(int v)
{
    return enum_name(stage_names, ENUM_COUNT(stage_names), v);
}
dd_code dd_experiment_status_parse(const char *text, int *out)
{
    return enum_parse(experiment_status_names, ENUM_COUNT(experiment_status_names), text, out);
}
dd_code dd_iteration_status_parse(const char *text, int *out)
{
    return enum_parse(iteration_status_names, ENUM_COUNT(iteration_status_names), text, out);
}
dd_code dd_stage_parse(const char *text, int *out)
{
    return enum_parse(stage_names, ENUM_COUNT(stage_names), text, out);
}

/* ---------------------------------------------------------------- passwords */

dd_code dd_password_hash(const char *password, char **out, dd_err *err)
{
    if (!password || !*password)
        return dd_fail(err, DD_INVALID, "password is empty");
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    if (!crypt_gensalt_rn("$2b$", 10, NULL, 0, salt, sizeof salt))
        return dd_fail(err, DD_IO, "cannot generate a bcrypt salt: %s", strerror(errno));
    struct crypt_data *cd = calloc(1, sizeof *cd);
    if (!cd)
        return dd_fail(err, DD_IO, "out of memory");
    const char *hash = crypt_r(password, salt, cd);
    dd_code code = DD_OK;
    if (!hash || hash[0] == '*')
        code = dd_fail(err, DD_IO, "bcrypt hashing failed");
    else if (!(*out = strdup(hash)))
        code = dd_fail(err, DD_IO, "out of memory");
    free(cd);
    return code;
}
