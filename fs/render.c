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

static yaml_scalar_style_t key_style(enum map_mode mode, const char *k)
{
    if (mode == MODE_VIEW && yaml_ambiguous(k))
        return YAML_SINGLE_QUOTED_SCALAR_STYLE;
    return YAML_PLAIN_SCALAR_STYLE;
}

static yaml_scalar_style_t value_style(enum map_mode mode, const char *v, bool plain)
{
    if (!v[0])
        return YAML_SINGLE_QUOTED_SCALAR_STYLE;   /* plain "" would read as null */
    if (strchr(v, '\n'))
        return YAML_LITERAL_SCALAR_STYLE;         /* the emitter falls back to quotes */
    if (mode == MODE_VIEW && !plain && yaml_ambiguous(v))
        return YAML_SINGLE_QUOTED_SCALAR_STYLE;
    return YAML_PLAIN_SCALAR_STYLE;               /* the emitter quotes when it must */
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
    for (size_t i = 0; i < n && !rc; i++) {
        const char *k = keys[i] ? keys[i] : "";
        rc = emit_scalar(&e, out, k, key_style(mode, k));
        if (rc)
            break;
        const char *v = values[i];
        if (!v && mode == MODE_VIEW)
            rc = emit_scalar(&e, out, "null", YAML_PLAIN_SCALAR_STYLE);
        else {
            v = v ? v : "";
            rc = emit_scalar(&e, out, v, value_style(mode, v, plain && plain[i]));
        }
    }
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
