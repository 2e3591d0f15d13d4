/*
 * parse.h - what a write() to a DearDiary file means: metric lines, one sysfs-style value,
 * DVC's params.yaml. Pure functions (no SQL, no FUSE, no globals), thread-safe.
 *
 * Errors are negative errno values, ready to return from a FUSE handler: -EINVAL for
 * malformed input (nothing of it is returned; `msg`, when given, says why, naming the
 * 1-based line), -ENOMEM when an allocation failed. `msg` may be NULL or `msglen` 0; it
 * is set to "" on success and always NUL-terminated (messages are cut to fit).
 * Input quoted in a message is cut after 40 bytes, with '"', '\\' and control bytes escaped.
 */
#ifndef DD_PARSE_H
#define DD_PARSE_H

/* Levels of nested mappings params.yaml may hold (the document's own is the first); the
 * renderer (render.c) nests no deeper, so what params.yaml shows always parses back. */
#define DD_PARAMS_DEPTH_MAX 64

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* The longest metric line, its "\n" included: longer ones are refused (so a writer
 * cannot make the filesystem keep an endless partial line). A line as `cat` prints it
 * takes at most 71 bytes. */
#define DD_METRIC_LINE_BYTES 4096

/* The points that one write() to metrics/<key> carries.
 *
 * buf[0..len) is a sequence of lines ending in "\n"; a last line without "\n" is
 * accepted, and one "\r" before a line's end is ignored. Fields are separated by one or
 * more spaces or tabs. A line holding only spaces and tabs is skipped (it still counts
 * for line numbers). Every other line is one point:
 *     <value>                           has_step false, recorded_at ""
 *     <step> <value>                    recorded_at ""
 *     <step> <value> <timestamp>
 * value: a finite decimal float as strtod reads it ([+-]digits[.digits][e[+-]digits],
 *        ".5" and "5." included); "nan", "inf", "infinity", hex floats ("0x1p3") and
 *        values that overflow a double are refused (underflow to 0 or a subnormal is
 *        accepted).
 * step:  a decimal int64 with an optional '+' or '-'; "1.5", "1e3" and out-of-range
 *        numbers are refused.
 * timestamp: anything dd_time_parse accepts, stored normalised in recorded_at. Because
 *        dd_time_parse allows a space instead of the 'T', a line of exactly four fields
 *        whose last two, joined by one space, form such a timestamp ("3 0.93 2026-11-23
 *        12:00:00") is read as <step> <value> <timestamp> too; any other line of four or
 *        more fields is refused.
 *
 * A line longer than DD_METRIC_LINE_BYTES (with its "\n") is refused ("line 3 is longer
 * than 4096 bytes").
 * All or nothing: one bad line makes the whole buffer invalid: -EINVAL, *pts_out NULL,
 * *n_out 0 and `msg` like `line 3: "abc" is not a number`.
 * On success returns 0 with *pts_out a malloc'd array of *n_out points in input order
 * (the caller frees it; NULL when *n_out is 0, e.g. for an empty or blank buffer).
 * -ENOMEM when out of memory. Runs in linear time: 10,000 lines in about 1 ms (UTC
 * timestamps like "2026-11-23T12:00:00.000Z" or "2026-11-23 12:00:00" take a fast path
 * that gives what dd_time_parse gives; others cost ~1 us each). buf may be NULL when len
 * is 0. */
int dd_parse_metric_lines(const char *buf, size_t len, dd_metric_point **pts_out,
                          size_t *n_out, char *msg, size_t msglen);

/* The largest value file (a parameter, notes, a description...) and params.yaml that a
 * write may deliver: the filesystem refuses more with EFBIG. */
#define DD_VALUE_BYTES ((size_t)1 << 20)
#define DD_PARAMS_YAML_BYTES ((size_t)16 << 20)

/* One value per file (the sysfs convention): buf[0..len) less exactly one trailing "\n"
 * or "\r\n" (any other whitespace is kept). On success returns 0 and *out is a malloc'd
 * NUL-terminated copy (possibly ""; whether empty is allowed is the caller's call).
 * -EINVAL when the bytes contain a NUL, -ENOMEM when out of memory; *out is NULL then.
 * buf may be NULL when len is 0. */
int dd_parse_value(const char *buf, size_t len, char **out);

/* DVC's params.yaml: a YAML mapping (parsed with libyaml) of parameter names to values.
 *
 * - Nested mappings are flattened with ".": `train: {lr: 0.1}` gives "train.lr".
 * - A value keeps its source text: "0.10" stays "0.10", `yes` stays "yes", `~` stays
 *   "~"; quoted scalars lose their quotes and escapes are decoded; block scalars give
 *   their content (with the final newline the chomping rule keeps). Tags are ignored;
 *   aliases give the anchored node's text.
 * - Lists (sequences) are refused: "lists are not supported". (They would come back as
 *   strings, which DVC would then read differently.)
 * - Every key component and every flattened key must pass dd_name_check (1..255 bytes of
 *   UTF-8, no '/', no control characters, not "." or ".."); keys must be scalars.
 * - Every value must be non-empty: `lr:` or `lr: ""` is refused.
 * - A key given twice (also "a.b" next to `a: {b: ..}`) is refused.
 * - An empty document (nothing, comments only, "---", `~`, `{}`) gives 0 params; a second
 *   document ("---" again) is refused; a root that is not a mapping is refused.
 * - At most 100,000 parameters and 64 levels of nesting (alias bombs are refused).
 * Errors: -EINVAL with `msg` naming the line (1-based), e.g. `line 2: "a/b": parameter
 * name may not contain '/'`; -ENOMEM. Outputs are then NULL/0.
 * On success returns 0 with *keys_out and *values_out malloc'd arrays of *n_out malloc'd
 * strings, in document order (both arrays NULL when *n_out is 0); free with
 * dd_params_free. */
int dd_parse_params_yaml(const char *buf, size_t len, char ***keys_out, char ***values_out,
                         size_t *n_out, char *msg, size_t msglen);

/* The beginning of a params.yaml still being written (a program writing it line by line:
 * `{ echo train:; echo '  lr: 0.1'; } > params.yaml`). Returns 0 when buf[0..len) is a
 * valid document or may still become one when more text follows: libyaml stopped at the
 * end of the text (an unterminated quote or flow collection), or the first error is a key
 * with no value that only white space and comments follow (an indented block may follow
 * and give it one). -EINVAL, with `msg` as dd_parse_params_yaml sets it, when no
 * continuation can make it valid (a list, a key given twice, a bad name, a second
 * document, a value missing before another key...); -ENOMEM. The whole text is still to be
 * judged with dd_parse_params_yaml once complete. *complete is true when buf is a valid
 * document as it stands. */
int dd_params_yaml_prefix_check(const char *buf, size_t len, bool *complete, char *msg,
                                size_t msglen);

/* A metrics.json a program writes (DVC stages write their own): a JSON object whose
 * leaves are numbers, nested objects flattened with "." as params.yaml's mappings are
 * (`{"train": {"loss": 0.1}}` gives "train.loss"). Read with the params.yaml parser (JSON
 * is YAML), so keys follow its rules (names, no key twice, no lists); each value must be
 * a finite number as a metric line's <value> (strings, true, null are refused).
 * Returns 0 with *keys_out and *points_out (malloc'd, *n_out entries, both NULL when 0;
 * free keys with dd_params_free(keys, NULL, n) and points with free()), each point with
 * no step and no time (the store's defaults: the next step, now). -EINVAL with `msg`
 * naming the line (structure) or the metric (a value that is no number), or -ENOMEM. */
int dd_parse_metrics_json(const char *buf, size_t len, char ***keys_out,
                          dd_metric_point **points_out, size_t *n_out, char *msg,
                          size_t msglen);

/* Free what dd_parse_params_yaml returned (each string, then both arrays). NULL arrays
 * are accepted. */
void dd_params_free(char **keys, char **values, size_t n);

/* A registration file's name, versions/new/<iteration>[:<resource>]: the iteration id in
 * canonical decimal (1..INT64_MAX: no sign, spaces or leading zeros), then optionally ':'
 * and a non-empty resource name (everything after the first ':'; the store checks it).
 * Returns 0 with *iteration and *resource (a pointer into name, NULL without ':'), or
 * -ENOENT: such a file does not exist. The promise: accepted names are exactly those
 * that printf("%" PRId64 "[:%s]", *iteration, *resource) gives back. */
int dd_parse_registration_name(const char *name, int64_t *iteration, const char **resource);

/* An alias's symlink target: exactly "../versions/<n>", n in canonical decimal
 * (1..INT64_MAX), the one spelling that resolves from aliases/ to a version of the same
 * model. Returns 0 with *version, or -EINVAL. The promise: accepted targets are exactly
 * those printf("../versions/%" PRId64, *version) gives back. */
int dd_parse_alias_target(const char *target, int64_t *version);

#endif
