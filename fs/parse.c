/*
 * parse.c - metric lines, sysfs-style values and DVC's params.yaml (see parse.h).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "parse.h"

/* ---------------------------------------------------------------- messages */

static void set_msg(char *msg, size_t msglen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_msg(char *msg, size_t msglen, const char *fmt, ...)
{
    if (!msg || !msglen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
}

#define QUOTE_IN 40                 /* input bytes shown at most */
#define QUOTE_MAX (QUOTE_IN * 4 + 8)

/* s[0..l) as a double-quoted string for a message: '"', '\\' and control bytes escaped,
 * cut after QUOTE_IN bytes (on a UTF-8 character boundary) with "..." appended. */
static const char *quote(char out[QUOTE_MAX], const char *s, size_t l)
{
    char *p = out;
    size_t cut = l;
    if (l > QUOTE_IN) {
        cut = QUOTE_IN;
        while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
            cut--;
    }
    *p++ = '"';
    for (size_t i = 0; i < cut; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            *p++ = '\\';
            *p++ = (char)ch;
        } else if (ch < 0x20 || ch == 0x7f) {
            static const char hex[] = "0123456789abcdef";
            *p++ = '\\';
            *p++ = 'x';
            *p++ = hex[ch >> 4];
            *p++ = hex[ch & 15];
        } else {
            *p++ = (char)ch;
        }
    }
    *p++ = '"';
    if (cut < l) {
        memcpy(p, "...", 3);
        p += 3;
    }
    *p = 0;
    return out;
}

/* ---------------------------------------------------------------- metric lines */

#define FIELD_MAX 128   /* longest step, value or timestamp field read (with the NUL) */

enum { NUM_OK = 0, NUM_SYNTAX, NUM_NONFINITE, NUM_RANGE, NUM_LONG };

static bool is_digit(char c)
{
    return (unsigned char)(c - '0') < 10;
}

/* A decimal int64: [+-]digits. */
static int parse_step(const char *s, size_t l, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (l && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == l)
        return NUM_SYNTAX;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, u = 0;
    bool range = false;
    for (; i < l; i++) {
        if (!is_digit(s[i]))
            return NUM_SYNTAX;
        unsigned d = (unsigned)(s[i] - '0');
        if (u > (limit - d) / 10)
            range = true;
        else
            u = u * 10 + d;
    }
    if (range)
        return NUM_RANGE;
    if (!neg)
        *out = (int64_t)u;
    else
        *out = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
    return NUM_OK;
}

/* A finite decimal float: [+-](digits[.digits]|.digits)[(e|E)[+-]digits]. */
static int parse_double(const char *s, size_t l, double *out)
{
    size_t i = 0, digits = 0;
    if (l && (s[0] == '+' || s[0] == '-'))
        i = 1;
    size_t body = i;
    while (i < l && is_digit(s[i])) {
        i++;
        digits++;
    }
    if (i < l && s[i] == '.') {
        i++;
        while (i < l && is_digit(s[i])) {
            i++;
            digits++;
        }
    }
    if (!digits) {
        size_t wl = l - body;
        const char *w = s + body;
        if ((wl == 3 && (strncasecmp(w, "nan", 3) == 0 || strncasecmp(w, "inf", 3) == 0)) ||
            (wl == 8 && strncasecmp(w, "infinity", 8) == 0))
            return NUM_NONFINITE;
        return NUM_SYNTAX;
    }
    if (i < l && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < l && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t exp_digits = 0;
        while (i < l && is_digit(s[i])) {
            i++;
            exp_digits++;
        }
        if (!exp_digits)
            return NUM_SYNTAX;
    }
    if (i != l)
        return NUM_SYNTAX;
    if (l >= FIELD_MAX)
        return NUM_LONG;
    char tmp[FIELD_MAX];
    memcpy(tmp, s, l);
    tmp[l] = 0;
    double v = strtod(tmp, NULL);
    if (!isfinite(v))
        return NUM_RANGE;
    *out = v;
    return NUM_OK;
}

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return days[m - 1];
}

static int two(const char *s)
{
    return (s[0] - '0') * 10 + (s[1] - '0');
}

/* The UTC forms of dd_time_parse without its cost (timegm, strftime): "YYYY-MM-DD",
 * 'T' or ' ', "HH:MM:SS", optionally '.' and 1+ digits (the first 3 are kept), optionally
 * 'Z'; a valid date, year 1000 or later, no leap second. Writes what dd_time_parse would
 * and returns true; false sends the text to dd_time_parse. */
static bool fast_ts(const char *s, size_t l, char out[DD_TS_LEN])
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    if (l < 19)
        return false;
    for (size_t i = 0; i < 19; i++) {
        bool ok = shape[i] == 'd' ? is_digit(s[i])
                  : i == 10       ? s[i] == 'T' || s[i] == ' '
                                  : s[i] == shape[i];
        if (!ok)
            return false;
    }
    int y = two(s) * 100 + two(s + 2), mo = two(s + 5), d = two(s + 8);
    if (y < 1000 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) ||
        two(s + 11) > 23 || two(s + 14) > 59 || two(s + 17) > 59)
        return false;
    char ms[3] = {'0', '0', '0'};
    size_t i = 19;
    if (i < l && s[i] == '.') {
        size_t digits = 0;
        for (i++; i < l && is_digit(s[i]); i++, digits++) {
            if (digits < 3)
                ms[digits] = s[i];
        }
        if (!digits)
            return false;
    }
    if (i < l && s[i] == 'Z')
        i++;
    if (i != l)
        return false;
    memcpy(out, s, 10);
    out[10] = 'T';
    memcpy(out + 11, s + 11, 8);
    out[19] = '.';
    memcpy(out + 20, ms, 3);
    out[23] = 'Z';
    out[24] = 0;
    return true;
}

/* The last timestamp text seen and its normal form: batches often repeat one. */
typedef struct ts_cache {
    char text[FIELD_MAX];
    size_t len;              /* 0: empty */
    char norm[DD_TS_LEN];
} ts_cache;

static bool parse_ts(ts_cache *tc, const char *s, size_t l, char out[DD_TS_LEN])
{
    if (fast_ts(s, l, out))
        return true;
    if (tc->len == l && memcmp(tc->text, s, l) == 0) {
        memcpy(out, tc->norm, DD_TS_LEN);
        return true;
    }
    if (l >= FIELD_MAX || memchr(s, 0, l))
        return false;
    char tmp[FIELD_MAX];
    memcpy(tmp, s, l);
    tmp[l] = 0;
    if (dd_time_parse(tmp, out, NULL) != DD_OK)
        return false;
    memcpy(tc->text, s, l);
    tc->len = l;
    memcpy(tc->norm, out, DD_TS_LEN);
    return true;
}

int dd_parse_metric_lines(const char *buf, size_t len, dd_metric_point **pts_out,
                          size_t *n_out, char *msg, size_t msglen)
{
    *pts_out = NULL;
    *n_out = 0;
    set_msg(msg, msglen, "%s", "");
    if (!len)
        return 0;

    dd_metric_point *pts = NULL;
    size_t n = 0, cap = 0, lineno = 0;
    ts_cache tc = {.len = 0};
    char q[QUOTE_MAX];
    const char *p = buf, *end = buf + len;
    int rc = 0;

    while (p < end) {
        lineno++;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end, *next = nl ? nl + 1 : end;
        if (next - p > DD_METRIC_LINE_BYTES) {
            set_msg(msg, msglen, "line %zu is longer than %d bytes", lineno,
                    DD_METRIC_LINE_BYTES);
            rc = -EINVAL;
            break;
        }
        if (le > p && le[-1] == '\r')
            le--;

        const char *f[4];
        size_t fl[4];
        int nf = 0;
        for (const char *c = p;;) {
            while (c < le && (*c == ' ' || *c == '\t'))
                c++;
            if (c == le)
                break;
            const char *s = c;
            while (c < le && *c != ' ' && *c != '\t')
                c++;
            if (nf < 4) {
                f[nf] = s;
                fl[nf] = (size_t)(c - s);
            }
            nf++;
        }
        p = next;
        if (nf == 0)
            continue;

        dd_metric_point pt = {.value = 0, .has_step = false, .step = 0, .recorded_at = ""};
        bool ts_done = false;
        if (nf == 4) {
            /* "<step> <value> <date> <time>": dd_time_parse allows a space for the 'T' */
            char joined[FIELD_MAX];
            size_t jl = fl[2] + 1 + fl[3];
            if (jl < FIELD_MAX) {
                memcpy(joined, f[2], fl[2]);
                joined[fl[2]] = ' ';
                memcpy(joined + fl[2] + 1, f[3], fl[3]);
                ts_done = parse_ts(&tc, joined, jl, pt.recorded_at);
            }
            if (ts_done)
                nf = 3;
        }
        if (nf > 3) {
            set_msg(msg, msglen,
                    "line %zu: %d fields; a line is <value>, <step> <value> or "
                    "<step> <value> <timestamp>", lineno, nf);
            rc = -EINVAL;
            break;
        }
        const char *vf = nf == 1 ? f[0] : f[1];
        size_t vl = nf == 1 ? fl[0] : fl[1];
        if (nf >= 2) {
            int r = parse_step(f[0], fl[0], &pt.step);
            if (r != NUM_OK) {
                set_msg(msg, msglen, r == NUM_RANGE ? "line %zu: step %s is out of range"
                                                    : "line %zu: step %s is not an integer",
                        lineno, quote(q, f[0], fl[0]));
                rc = -EINVAL;
                break;
            }
            pt.has_step = true;
        }
        int r = parse_double(vf, vl, &pt.value);
        if (r != NUM_OK) {
            const char *what = r == NUM_NONFINITE ? "is not a finite number"
                               : r == NUM_RANGE   ? "is out of range for a double"
                               : r == NUM_LONG    ? "is too long"
                                                  : "is not a number";
            set_msg(msg, msglen, "line %zu: %s %s", lineno, quote(q, vf, vl), what);
            rc = -EINVAL;
            break;
        }
        if (nf == 3 && !ts_done && !parse_ts(&tc, f[2], fl[2], pt.recorded_at)) {
            set_msg(msg, msglen,
                    "line %zu: %s is not a timestamp (want 2026-11-23T12:00:00.000Z or Unix"
                    " seconds)", lineno, quote(q, f[2], fl[2]));
            rc = -EINVAL;
            break;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            dd_metric_point *np = realloc(pts, ncap * sizeof *np);
            if (!np) {
                set_msg(msg, msglen, "%s", "out of memory");
                rc = -ENOMEM;
                break;
            }
            pts = np;
            cap = ncap;
        }
        pts[n++] = pt;
    }
    if (rc) {
        free(pts);
        return rc;
    }
    if (!n) {
        free(pts);
        pts = NULL;
    }
    *pts_out = pts;
    *n_out = n;
    return 0;
}

/* ---------------------------------------------------------------- one value */

int dd_parse_value(const char *buf, size_t len, char **out)
{
    *out = NULL;
    if (len && buf[len - 1] == '\n') {
        len--;
        if (len && buf[len - 1] == '\r')
            len--;
    }
    if (len && memchr(buf, 0, len))
        return -EINVAL;
    char *s = malloc(len + 1);
    if (!s)
        return -ENOMEM;
    if (len)
        memcpy(s, buf, len);
    s[len] = 0;
    *out = s;
    return 0;
}

/* ---------------------------------------------------------------- params.yaml */

#define PARAMS_MAX 100000      /* parameters in one file */
#define PARAMS_VISITS 1000000  /* key/value pairs walked, aliases expanded */

typedef struct params_ctx {
    yaml_document_t *doc;
    const char *buf;       /* the input, to tell an unfinished document from a bad one */
    size_t len;
    bool open_end;         /* the first error is one more text could still mend */
    char **keys, **values;
    size_t *lines;
    size_t n, cap, visits;
    char *msg;
    size_t msglen;
} params_ctx;

static int params_add(params_ctx *c, const char *key, size_t klen, const char *val,
                      size_t vlen, size_t line)
{
    if (c->n == PARAMS_MAX) {
        set_msg(c->msg, c->msglen, "line %zu: more than %d parameters", line, PARAMS_MAX);
        return -EINVAL;
    }
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 16;
        char **nk = realloc(c->keys, ncap * sizeof *nk);
        if (nk)
            c->keys = nk;
        char **nv = nk ? realloc(c->values, ncap * sizeof *nv) : NULL;
        if (nv)
            c->values = nv;
        size_t *nl = nv ? realloc(c->lines, ncap * sizeof *nl) : NULL;
        if (nl)
            c->lines = nl;
        if (!nl)
            goto oom;
        c->cap = ncap;
    }
    char *k = malloc(klen + 1), *v = malloc(vlen + 1);
    if (!k || !v) {
        free(k);
        free(v);
        goto oom;
    }
    memcpy(k, key, klen);
    k[klen] = 0;
    memcpy(v, val, vlen);
    v[vlen] = 0;
    c->keys[c->n] = k;
    c->values[c->n] = v;
    c->lines[c->n] = line;
    c->n++;
    return 0;
oom:
    set_msg(c->msg, c->msglen, "%s", "out of memory");
    return -ENOMEM;
}

/* Does buf[from..len) hold nothing but a ':' after a key, white space and comments? Then
 * the document ends with that key, and a continuation may still give it its value. */
static bool only_blank_after(const char *buf, size_t len, size_t from)
{
    bool comment = false;
    for (size_t i = from; i < len; i++) {
        char ch = buf[i];
        if (ch == '\n')
            comment = false;
        else if (ch == '#')
            comment = true;
        else if (!comment && ch != ' ' && ch != '\t' && ch != '\r' && !(ch == ':' && i == from))
            return false;
    }
    return true;
}

static int params_walk(params_ctx *c, yaml_node_t *map, const char *prefix, size_t plen,
                       int depth)
{
    char q[QUOTE_MAX];
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start;
         pair < map->data.mapping.pairs.top; pair++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, pair->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, pair->value);
        size_t line = (k ? k->start_mark.line : map->start_mark.line) + 1;
        if (++c->visits > PARAMS_VISITS) {
            set_msg(c->msg, c->msglen, "line %zu: the document expands to too many nodes",
                    line);
            return -EINVAL;
        }
        if (!k || !v || k->type != YAML_SCALAR_NODE) {
            set_msg(c->msg, c->msglen, "line %zu: a key must be a name, not a list or mapping",
                    line);
            return -EINVAL;
        }
        const char *ks = (const char *)k->data.scalar.value;
        size_t kl = k->data.scalar.length;
        dd_err err = {0};
        if (strlen(ks) != kl) {
            set_msg(c->msg, c->msglen, "line %zu: %s: a parameter name may not contain NUL",
                    line, quote(q, ks, kl));
            return -EINVAL;
        }
        if (dd_name_check(ks, "parameter name", &err) != DD_OK) {
            set_msg(c->msg, c->msglen, "line %zu: %s: %s", line, quote(q, ks, kl), err.msg);
            return -EINVAL;
        }
        char key[DD_NAME_MAX + 1];
        size_t full = plen ? plen + 1 + kl : kl;
        if (full > DD_NAME_MAX) {
            set_msg(c->msg, c->msglen,
                    "line %zu: parameter name %s.%s is longer than %d bytes", line,
                    quote(q, prefix, plen), ks, DD_NAME_MAX);
            return -EINVAL;
        }
        if (plen) {
            memcpy(key, prefix, plen);
            key[plen] = '.';
        }
        memcpy(key + full - kl, ks, kl);
        key[full] = 0;

        int rc = 0;
        switch (v->type) {
        case YAML_MAPPING_NODE:
            if (depth >= DD_PARAMS_DEPTH_MAX) {
                set_msg(c->msg, c->msglen, "line %zu: mappings nested deeper than %d levels",
                        line, DD_PARAMS_DEPTH_MAX);
                return -EINVAL;
            }
            rc = params_walk(c, v, key, full, depth + 1);
            break;
        case YAML_SEQUENCE_NODE:
            set_msg(c->msg, c->msglen, "line %zu: %s is a list; lists are not supported",
                    line, quote(q, key, full));
            rc = -EINVAL;
            break;
        case YAML_SCALAR_NODE: {
            const char *vs = (const char *)v->data.scalar.value;
            size_t vl = v->data.scalar.length;
            if (!vl) {
                set_msg(c->msg, c->msglen, "line %zu: %s has no value", line,
                        quote(q, key, full));
                c->open_end = v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                              only_blank_after(c->buf, c->len, k->end_mark.index);
                rc = -EINVAL;
            } else if (memchr(vs, 0, vl)) {
                set_msg(c->msg, c->msglen, "line %zu: the value of %s contains a NUL",
                        line, quote(q, key, full));
                rc = -EINVAL;
            } else {
                rc = params_add(c, key, full, vs, vl, line);
            }
            break;
        }
        default:
            set_msg(c->msg, c->msglen, "line %zu: %s has no value", line, quote(q, key, full));
            c->open_end = only_blank_after(c->buf, c->len, k->end_mark.index);
            rc = -EINVAL;
            break;
        }
        if (rc)
            return rc;
    }
    return 0;
}

typedef struct key_line {
    const char *key;
    size_t line;
} key_line;

static int key_line_cmp(const void *a, const void *b)
{
    const key_line *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* The first key (by line of its second occurrence) that is given twice. */
static int params_dups(params_ctx *c)
{
    if (c->n < 2)
        return 0;
    key_line *kl = malloc(c->n * sizeof *kl);
    if (!kl) {
        set_msg(c->msg, c->msglen, "%s", "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < c->n; i++)
        kl[i] = (key_line){c->keys[i], c->lines[i]};
    qsort(kl, c->n, sizeof *kl, key_line_cmp);
    const key_line *dup = NULL;
    for (size_t i = 1; i < c->n; i++) {
        if (strcmp(kl[i - 1].key, kl[i].key) == 0 && (!dup || kl[i].line < dup->line))
            dup = &kl[i];
    }
    int rc = 0;
    if (dup) {
        char q[QUOTE_MAX];
        set_msg(c->msg, c->msglen, "line %zu: %s is given twice", dup->line,
                quote(q, dup->key, strlen(dup->key)));
        rc = -EINVAL;
    }
    free(kl);
    return rc;
}

static int parser_fail(yaml_parser_t *p, const char *buf, size_t len, char *msg,
                       size_t msglen)
{
    if (p->error == YAML_MEMORY_ERROR) {
        set_msg(msg, msglen, "%s", "out of memory");
        return -ENOMEM;
    }
    size_t line = p->problem_mark.line + 1;
    if (p->error == YAML_READER_ERROR) {   /* only the byte offset is known */
        line = 1;
        for (size_t i = 0; i < p->problem_offset && i < len; i++)
            line += buf[i] == '\n';
    }
    const char *problem = p->problem ? p->problem : "not valid YAML";
    if (p->context)
        set_msg(msg, msglen, "line %zu: %s (%s)", line, problem, p->context);
    else
        set_msg(msg, msglen, "line %zu: %s", line, problem);
    return -EINVAL;
}

static bool is_null_scalar(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = (const char *)n->data.scalar.value;
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
           !strcmp(s, "NULL");
}

void dd_params_free(char **keys, char **values, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (keys)
            free(keys[i]);
        if (values)
            free(values[i]);
    }
    free(keys);
    free(values);
}

/* Did libyaml stop at the end of the text (an unterminated quote, flow collection or
 * block), so that more text might complete the document? */
static bool error_at_end(const yaml_parser_t *p, const char *buf, size_t len)
{
    size_t tail = len;
    while (tail && (buf[tail - 1] == ' ' || buf[tail - 1] == '\n' || buf[tail - 1] == '\t' ||
                    buf[tail - 1] == '\r'))
        tail--;
    return p->error != YAML_MEMORY_ERROR && p->error != YAML_READER_ERROR &&
           p->problem_mark.index >= tail;
}

/* dd_parse_params_yaml; *open_end tells a refusal that more text could mend. */
static int params_parse(const char *buf, size_t len, char ***keys_out, char ***values_out,
                        size_t *n_out, char *msg, size_t msglen, bool *open_end)
{
    *open_end = false;
    *keys_out = NULL;
    *values_out = NULL;
    *n_out = 0;
    set_msg(msg, msglen, "%s", "");

    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        set_msg(msg, msglen, "%s", "out of memory");
        return -ENOMEM;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)(buf ? buf : ""),
                                 buf ? len : 0);
    yaml_document_t doc;
    if (!yaml_parser_load(&parser, &doc)) {
        *open_end = buf && error_at_end(&parser, buf, len);
        int rc = parser_fail(&parser, buf, len, msg, msglen);
        yaml_parser_delete(&parser);
        return rc;
    }

    params_ctx c = {.doc = &doc, .buf = buf, .len = buf ? len : 0, .msg = msg,
                    .msglen = msglen};
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && root->type == YAML_MAPPING_NODE) {
        rc = params_walk(&c, root, "", 0, 1);
    } else if (root && !is_null_scalar(root)) {
        set_msg(msg, msglen, "line %zu: params.yaml must be a mapping of names to values",
                root->start_mark.line + 1);
        rc = -EINVAL;
    }
    if (!rc && root) {
        yaml_document_t more;
        if (!yaml_parser_load(&parser, &more)) {
            c.open_end = error_at_end(&parser, buf, len);
            rc = parser_fail(&parser, buf, len, msg, msglen);
        } else {
            if (yaml_document_get_root_node(&more)) {
                set_msg(msg, msglen, "line %zu: only one YAML document is allowed",
                        more.start_mark.line + 1);
                rc = -EINVAL;
            }
            yaml_document_delete(&more);
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (!rc)
        rc = params_dups(&c);
    free(c.lines);
    if (rc) {
        *open_end = rc == -EINVAL && c.open_end;
        dd_params_free(c.keys, c.values, c.n);
        return rc;
    }
    if (!c.n) {
        dd_params_free(c.keys, c.values, 0);
        c.keys = c.values = NULL;
    }
    *keys_out = c.keys;
    *values_out = c.values;
    *n_out = c.n;
    return 0;
}

int dd_parse_params_yaml(const char *buf, size_t len, char ***keys_out, char ***values_out,
                         size_t *n_out, char *msg, size_t msglen)
{
    bool open_end;
    return params_parse(buf, len, keys_out, values_out, n_out, msg, msglen, &open_end);
}

int dd_parse_metrics_json(const char *buf, size_t len, char ***keys_out,
                          dd_metric_point **points_out, size_t *n_out, char *msg,
                          size_t msglen)
{
    char **keys = NULL, **values = NULL;
    size_t n = 0;
    *keys_out = NULL;
    *points_out = NULL;
    *n_out = 0;
    int rc = dd_parse_params_yaml(buf, len, &keys, &values, &n, msg, msglen);
    dd_metric_point *pts = rc || !n ? NULL : calloc(n, sizeof *pts);
    if (!rc && n && !pts) {
        set_msg(msg, msglen, "%s", "out of memory");
        rc = -ENOMEM;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        char q[QUOTE_MAX], vq[QUOTE_MAX];
        dd_metric_point *one = NULL;
        size_t got = 0;
        rc = strpbrk(values[i], " \t\n") ? -EINVAL
             : dd_parse_metric_lines(values[i], strlen(values[i]), &one, &got, NULL, 0);
        if (!rc && (got != 1 || one[0].has_step))
            rc = -EINVAL;
        if (!rc)
            pts[i] = one[0];
        else if (rc == -EINVAL)
            set_msg(msg, msglen, "metric %s: %s is not a finite number",
                    quote(q, keys[i], strlen(keys[i])), quote(vq, values[i], strlen(values[i])));
        free(one);
    }
    dd_params_free(NULL, values, n);
    if (rc) {
        dd_params_free(keys, NULL, n);
        free(pts);
        return rc;
    }
    *keys_out = keys;
    *points_out = pts;
    *n_out = n;
    return 0;
}

int dd_params_yaml_prefix_check(const char *buf, size_t len, bool *complete, char *msg,
                                size_t msglen)
{
    char **keys, **values;
    size_t n;
    bool open_end;
    int rc = params_parse(buf, len, &keys, &values, &n, msg, msglen, &open_end);
    dd_params_free(keys, values, n);
    *complete = rc == 0;
    if (rc == -EINVAL && open_end) {
        set_msg(msg, msglen, "%s", "");
        return 0;
    }
    return rc;
}

/* ---------------------------------------------------------------- path components */

/* s[0..l) as a canonical positive decimal int64: digits only, no leading zero, at most
 * INT64_MAX. Sign, spaces and zero padding are refused so that one number has one name. */
static bool canonical_id(const char *s, size_t l, int64_t *out)
{
    if (l == 0 || l > 19 || s[0] == '0')
        return false;
    int64_t v = 0;
    if (parse_step(s, l, &v) != NUM_OK || s[0] == '+' || s[0] == '-')
        return false;
    *out = v;
    return true;
}

int dd_parse_registration_name(const char *name, int64_t *iteration, const char **resource)
{
    size_t n = strcspn(name, ":");
    if (!canonical_id(name, n, iteration))
        return -ENOENT;
    *resource = NULL;
    if (name[n] == ':') {
        if (!name[n + 1])
            return -ENOENT;
        *resource = name + n + 1;
    }
    return 0;
}

int dd_parse_alias_target(const char *target, int64_t *version)
{
    static const char prefix[] = "../versions/";
    if (strncmp(target, prefix, sizeof prefix - 1) != 0)
        return -EINVAL;
    const char *num = target + sizeof prefix - 1;
    return canonical_id(num, strlen(num), version) ? 0 : -EINVAL;
}
