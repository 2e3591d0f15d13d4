/*
 * render.c - params.yaml, metrics.json and row views (see render.h).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "parse.h"
#include "render.h"
#include "textfmt.h"

/* ---------------------------------------------------------------- UTF-8 */

static bool utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = dd_utf8_seq(p + i, len - i);
        if (!n)
            return false;
        i += n;
    }
    return true;
}

/* A malloc'd copy of s[0..len) with every ill-formed byte replaced by U+FFFD. */
static char *utf8_fix(const char *s, size_t len, size_t *len_out)
{
    const unsigned char *p = (const unsigned char *)s;
    char *out = malloc(len * 3 + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len;) {
        size_t n = dd_utf8_seq(p + i, len - i);
        if (n) {
            memcpy(o, s + i, n);
            o += n;
            i += n;
        } else {
            memcpy(o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    *o = 0;
    *len_out = (size_t)(o - out);
    return out;
}

/* ---------------------------------------------------------------- YAML */

static int buf_write(void *data, unsigned char *bytes, size_t size)
{
    return dd_buf_add(data, bytes, size) == 0;
}

static int emitter_rc(const yaml_emitter_t *e, const dd_buf *out)
{
    if (out->oom || e->error == YAML_MEMORY_ERROR || e->error == YAML_WRITER_ERROR)
        return -ENOMEM;
    return -EIO;
}

static int emit_scalar(yaml_emitter_t *e, const dd_buf *out, const char *s,
                       yaml_scalar_style_t style)
{
    size_t len = strlen(s);
    char *fixed = NULL;
    if (!utf8_valid(s, len)) {
        if (!(fixed = utf8_fix(s, len, &len)))
            return -ENOMEM;
        s = fixed;
    }
    if (len > INT_MAX) {
        free(fixed);
        return -ENOMEM;
    }
    yaml_event_t ev;
    int ok = yaml_scalar_event_initialize(&ev, NULL, NULL, (const yaml_char_t *)s, (int)len,
                                          1, 1, style);
    free(fixed);   /* the event holds its own copy */
    if (!ok)
        return -ENOMEM;
    return yaml_emitter_emit(e, &ev) ? 0 : emitter_rc(e, out);
}

/* Text a YAML 1.1 or 1.2 reader could resolve to something other than a string when
 * written plain: null, bools, numbers, dates, sexagesimals, "=" (PyYAML's value tag), the
 * merge key. Deliberately broad: quoting a string needlessly is harmless. */
static bool yaml_ambiguous(const char *s)
{
    static const char *const words[] = {
        "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No",
        "NO", "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off",
        "Off", "OFF", "=", "<<"};
    if (!s[0] || strchr("0123456789+-.", s[0]))
        return true;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (strcmp(s, words[i]) == 0)
            return true;
    }
    return false;
}

enum map_mode { MODE_PARAMS, MODE_VIEW };

/* Keys are strings in every mode: `yes: 1` or `07: 1` would read back as a bool or
 * number key. */
static yaml_scalar_style_t key_style(enum map_mode mode, const char *k)
{
    (void)mode;
    return yaml_ambiguous(k) ? YAML_SINGLE_QUOTED_SCALAR_STYLE : YAML_PLAIN_SCALAR_STYLE;
}

/* "0", "-12", "0.5", "-1.25e+3", "true", "false": text that PyYAML (YAML 1.1) and YAML
 * 1.2 readers (ruamel.yaml, which DVC uses) both read as the same int, float or bool.
 * Floats need a '.' and digits on both sides, and a signed exponent (1.1's rule);
 * integers no leading zero (1.1 reads 07 as octal). */
static bool yaml_typed_alike(const char *s)
{
    if (!strcmp(s, "true") || !strcmp(s, "false"))
        return true;
    const char *p = s + (*s == '-');
    size_t d = strspn(p, "0123456789");
    if (!d || (d > 1 && *p == '0'))
        return false;
    p += d;
    if (!*p)
        return true;
    if (*p++ != '.' || !(d = strspn(p, "0123456789")))
        return false;
    p += d;
    if (*p == 'e' || *p == 'E') {
        if (p[1] != '+' && p[1] != '-')
            return false;
        p += 2;
        if (!(d = strspn(p, "0123456789")))
            return false;
        p += d;
    }
    return !*p;
}

static yaml_scalar_style_t value_style(enum map_mode mode, const char *v, bool plain)
{
    if (!v[0])
        return YAML_SINGLE_QUOTED_SCALAR_STYLE;   /* plain "" would read as null */
    if (strchr(v, '\n'))
        return YAML_LITERAL_SCALAR_STYLE;         /* the emitter falls back to quotes */
    if (mode == MODE_VIEW && !plain && yaml_ambiguous(v))
        return YAML_SINGLE_QUOTED_SCALAR_STYLE;
    if (mode == MODE_PARAMS && yaml_ambiguous(v) && !yaml_typed_alike(v))
        return YAML_SINGLE_QUOTED_SCALAR_STYLE;   /* yes, no, null, ~, 07, 1e3, 1.0e3... */
    return YAML_PLAIN_SCALAR_STYLE;               /* the emitter quotes when it must */
}

/* One key/value pair; k may be a slice k[0..klen). */
static int emit_pair(yaml_emitter_t *e, const dd_buf *out, enum map_mode mode, const char *k,
                     size_t klen, const char *v, bool plain)
{
    char *key = strndup(k, klen);
    if (!key)
        return -ENOMEM;
    int rc = emit_scalar(e, out, key, key_style(mode, key));
    free(key);
    if (rc)
        return rc;
    if (!v && mode == MODE_VIEW)
        return emit_scalar(e, out, "null", YAML_PLAIN_SCALAR_STYLE);
    v = v ? v : "";
    return emit_scalar(e, out, v, value_style(mode, v, plain));
}

/* The params idx[0..m), whose keys all start with the same `skip` bytes (a parent's
 * "a.b." or nothing), as the pairs of one block mapping, nested as DVC writes them:
 * "train.lr" and "train.epochs" become `train:` with `lr` and `epochs` under it. Keys
 * are grouped by their next component in order of first appearance; a group stays flat
 * ("train.lr: 0.1" at this level) when one of its keys is the component itself ("train"
 * is a parameter too) or has an empty component ("a..b", "a.", ".a"), since a mapping
 * cannot hold both. The parser flattens either form to the same keys. */
static int emit_params(yaml_emitter_t *e, const dd_buf *out, const char *const *keys,
                       const char *const *values, const size_t *idx, size_t m, size_t skip,
                       int depth)
{
    size_t *group = malloc((m ? m : 1) * sizeof *group);
    bool *done = calloc(m ? m : 1, sizeof *done);
    int rc = group && done ? 0 : -ENOMEM;
    for (size_t i = 0; i < m && !rc; i++) {
        if (done[i])
            continue;
        const char *first = keys[idx[i]] + skip;
        size_t cl = strcspn(first, "."), g = 0;
        bool nest = cl > 0 && depth < DD_PARAMS_DEPTH_MAX;   /* deeper stays flat */
        for (size_t j = i; j < m; j++) {
            const char *rest = keys[idx[j]] + skip;
            if (done[j] || strncmp(rest, first, cl) != 0 || (rest[cl] && rest[cl] != '.'))
                continue;
            done[j] = true;
            group[g++] = idx[j];
            nest = nest && rest[cl] == '.' && rest[cl + 1] && rest[cl + 1] != '.';
        }
        yaml_event_t ev;
        if (!nest) {
            for (size_t j = 0; j < g && !rc; j++) {
                const char *k = keys[group[j]] + skip;
                rc = emit_pair(e, out, MODE_PARAMS, k, strlen(k), values[group[j]], false);
            }
            continue;
        }
        char *name = strndup(first, cl);
        rc = name ? emit_scalar(e, out, name, key_style(MODE_PARAMS, name)) : -ENOMEM;
        free(name);
        if (!rc && !yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                                        YAML_BLOCK_MAPPING_STYLE))
            rc = -ENOMEM;
        if (!rc && !yaml_emitter_emit(e, &ev))
            rc = emitter_rc(e, out);
        if (!rc)
            rc = emit_params(e, out, keys, values, group, g, skip + cl + 1, depth + 1);
        if (!rc && !yaml_mapping_end_event_initialize(&ev))
            rc = -ENOMEM;
        if (!rc && !yaml_emitter_emit(e, &ev))
            rc = emitter_rc(e, out);
    }
    free(group);
    free(done);
    return rc;
}

/* The pairs of the document's mapping: nested params, or one flat pair per key. */
static int emit_pairs(yaml_emitter_t *e, const dd_buf *out, enum map_mode mode,
                      const char *const *keys, const char *const *values, const int *plain,
                      size_t n)
{
    if (mode == MODE_PARAMS) {
        size_t *idx = malloc(n * sizeof *idx);
        if (!idx)
            return -ENOMEM;
        for (size_t i = 0; i < n; i++)
            idx[i] = i;
        int rc = emit_params(e, out, keys, values, idx, n, 0, 1);
        free(idx);
        return rc;
    }
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const char *k = keys[i] ? keys[i] : "";
        rc = emit_pair(e, out, mode, k, strlen(k), values[i], plain && plain[i]);
    }
    return rc;
}

/* One block mapping as a YAML document appended to out. */
static int emit_map(dd_buf *out, enum map_mode mode, const char *const *keys,
                    const char *const *values, const int *plain, size_t n)
{
    if (out->oom)
        return -ENOMEM;
    size_t start = out->len;
    yaml_emitter_t e;
    if (!yaml_emitter_initialize(&e))
        return -ENOMEM;
    yaml_emitter_set_output(&e, buf_write, out);
    yaml_emitter_set_unicode(&e, 1);
    yaml_emitter_set_width(&e, -1);
    yaml_emitter_set_indent(&e, 2);

    yaml_event_t ev;
    int rc = 0;
#define EMIT(init)                                                                   \
    do {                                                                             \
        if (!rc) {                                                                   \
            if (!(init))                                                             \
                rc = -ENOMEM;                                                        \
            else if (!yaml_emitter_emit(&e, &ev))                                    \
                rc = emitter_rc(&e, out);                                            \
        }                                                                            \
    } while (0)

    EMIT(yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
    EMIT(yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
    EMIT(yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE));
    if (!rc)
        rc = emit_pairs(&e, out, mode, keys, values, plain, n);
    EMIT(yaml_mapping_end_event_initialize(&ev));
    EMIT(yaml_document_end_event_initialize(&ev, 1));
    EMIT(yaml_stream_end_event_initialize(&ev));
#undef EMIT
    yaml_emitter_delete(&e);
    if (rc) {
        out->len = start;
        if (out->data && start < out->cap)
            out->data[start] = 0;
    }
    return rc;
}

int dd_render_params_yaml(dd_buf *out, const char *const *keys, const char *const *values,
                          size_t n)
{
    if (out->oom)
        return -ENOMEM;
    if (!n)
        return 0;
    return emit_map(out, MODE_PARAMS, keys, values, NULL, n);
}

int dd_render_yaml_map(dd_buf *out, const char *const *keys, const char *const *values,
                       size_t n)
{
    return emit_map(out, MODE_VIEW, keys, values, NULL, n);
}

int dd_render_yaml_map2(dd_buf *out, const char *const *keys, const char *const *values,
                        const int *plain, size_t n)
{
    return emit_map(out, MODE_VIEW, keys, values, plain, n);
}

/* ---------------------------------------------------------------- JSON */

/* s as a JSON string (with the quotes) at p, which has room for 6 * strlen(s) + 2. */
static char *json_string(char *p, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t len = strlen(s);
    *p++ = '"';
    for (size_t i = 0; i < len;) {
        unsigned char c = u[i];
        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = (char)c;
            i++;
        } else if (c < 0x20) {
            memcpy(p, "\\u00", 4);
            p[4] = hex[c >> 4];
            p[5] = hex[c & 15];
            p += 6;
            i++;
        } else if (c < 0x80) {
            *p++ = (char)c;
            i++;
        } else {
            size_t n = dd_utf8_seq(u + i, len - i);
            if (n) {
                memcpy(p, s + i, n);
                p += n;
                i += n;
            } else {
                memcpy(p, "\xef\xbf\xbd", 3);
                p += 3;
                i++;
            }
        }
    }
    *p++ = '"';
    return p;
}

int dd_render_metrics_json(dd_buf *out, const char *const *keys, const double *values,
                           size_t n)
{
    if (out->oom)
        return -ENOMEM;
    size_t start = out->len;
    if (dd_buf_add(out, "{", 1))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *k = keys[i] ? keys[i] : "";
        size_t klen = strlen(k);
        if (klen > (SIZE_MAX - 64) / 6)
            goto oom;
        /* ", " + key + ": " + number (<= 24) */
        char *p = dd_buf_reserve(out, 6 * klen + 2 + 4 + 32);
        if (!p)
            goto oom;
        char *o = p;
        if (i) {
            *o++ = ',';
            *o++ = ' ';
        }
        o = json_string(o, k);
        *o++ = ':';
        *o++ = ' ';
        if (isfinite(values[i]))
            o += dd_format_double(values[i], o);
        else {
            memcpy(o, "null", 4);
            o += 4;
        }
        out->len += (size_t)(o - p);
        out->data[out->len] = 0;
    }
    if (dd_buf_add(out, "}\n", 2))
        goto oom;
    return 0;
oom:
    out->len = start;
    if (out->data && start < out->cap)
        out->data[start] = 0;
    return -ENOMEM;
}
