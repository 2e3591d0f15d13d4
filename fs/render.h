/*
 * render.h - whole-iteration views as text: DVC's params.yaml and metrics.json, and a
 * read-only YAML mapping of a row (iteration.yaml). Pure functions (no SQL, no FUSE, no
 * globals), thread-safe.
 *
 * Each appends to `out` (it does not reset it) and returns 0, or -ENOMEM when out of
 * memory (also when `out` was already out of memory); on failure `out` keeps its previous
 * length. The YAML renderers use libyaml's emitter (UTF-8, no "---", 2-space indent, no
 * line folding) and may also return -EIO if the emitter refuses an event, which the
 * fixed event sequence used here never causes.
 * Strings are UTF-8; an invalid UTF-8 sequence in a key or value is rendered as U+FFFD,
 * since neither YAML nor JSON can carry it.
 */
#ifndef DD_RENDER_H
#define DD_RENDER_H

#include <stddef.h>

#include "buf.h"

/* DVC's params.yaml: one `key: value` per line, the flat keys in the given order
 * ("train.lr: 0.1" stays one flat key). Values are plain whenever YAML allows it (so
 * numbers and bools stay numbers and bools: `lr: 0.10`, `shuffle: yes`), quoted by the
 * emitter when plain text would read back differently ("a: b", "#x", "  lead", "",
 * control characters), multi-line values as block literals (`|`, `|-`, `|+`) when
 * possible. The promise: for keys that pass dd_name_check and non-empty values without
 * NUL, dd_parse_params_yaml(render(keys, values)) gives back exactly keys and values.
 * (An empty value renders as '' which the parser refuses.) NULL values count as "".
 * n == 0 renders nothing (an empty file). */
int dd_render_params_yaml(dd_buf *out, const char *const *keys, const char *const *values,
                          size_t n);

/* DVC's metrics.json on one line: {"accuracy": 0.93, "loss": 0.1} and "\n"; "{}\n" when
 * n == 0. Numbers are dd_format_double's text; a non-finite value (never stored) becomes
 * null. Keys are JSON strings: '"' and '\\' escaped, control characters as \u00XX, other
 * UTF-8 as is. Only -ENOMEM can fail. */
int dd_render_metrics_json(dd_buf *out, const char *const *keys, const double *values,
                           size_t n);

/* An ordered YAML mapping of string keys to string values, for read-only row views.
 * Every value reads back as the string given: plain when that is unambiguous ("RUNNING",
 * "abc def"), single- or double-quoted when a YAML reader would take the plain text for
 * something else (a null, bool, number or date, i.e. "", "~", "null", "yes", "on", "=",
 * anything starting with a digit, '+', '-' or '.', or text the emitter cannot write
 * plain), multi-line text (TOML files) as a block literal `|` when possible.
 * values[i] == NULL renders as `null`. Keys follow the same rule (keys must not be NULL).
 * n == 0 renders "{}\n". */
int dd_render_yaml_map(dd_buf *out, const char *const *keys, const char *const *values,
                       size_t n);

/* dd_render_yaml_map with a per-value flag: plain[i] != 0 asks for values[i] unquoted
 * (integers, bools: `id: 42`, `git_dirty: false`), so YAML readers type it; the emitter
 * still quotes it if plain text would not be valid YAML for it. A NULL value is `null`
 * whatever the flag. plain may be NULL (all zero). */
int dd_render_yaml_map2(dd_buf *out, const char *const *keys, const char *const *values,
                        const int *plain, size_t n);

#endif
