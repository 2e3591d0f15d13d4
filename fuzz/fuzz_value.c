/*
 * fuzz_value.c - libFuzzer target for the one-value files: dd_parse_value (fs/parse.c),
 * which every write to a parameter, description, notes, status or stage file goes
 * through, then the parsers the value meets next: the status and stage enums and
 * dd_time_parse (backend/store/values.c).
 *
 * Promises checked: dd_parse_value refuses exactly the values holding a NUL and
 * otherwise returns the bytes less one trailing "\n" or "\r\n", nothing else changed; an
 * enum accepts exactly its upper-case names (the name printed back is the text given);
 * an accepted timestamp comes out canonical, and canonical text is its own normal form.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "parse.h"

typedef dd_code (*enum_parser)(const char *, int *);
typedef const char *(*enum_namer)(int);

static void check_enum(const char *value, enum_parser parse, enum_namer name)
{
    int v = -1;
    if (parse(value, &v) != DD_OK)
        return;
    const char *back = name(v);
    PROMISE(back != NULL && strcmp(back, value) == 0);
}

static void check_time(const char *value)
{
    char ts[DD_TS_LEN];
    dd_err err = {0};
    if (dd_time_parse(value, ts, &err) != DD_OK) {
        PROMISE(err.code == DD_INVALID && err.msg[0] != 0);
        return;
    }
    PROMISE(strlen(ts) == DD_TS_LEN - 1 && ts[4] == '-' && ts[10] == 'T' && ts[19] == '.' &&
            ts[23] == 'Z');
    char again[DD_TS_LEN];
    PROMISE(dd_time_parse(ts, again, NULL) == DD_OK && strcmp(ts, again) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t keep = size;
    if (keep && data[keep - 1] == '\n') {
        keep--;
        if (keep && data[keep - 1] == '\r')
            keep--;
    }
    bool has_nul = memchr(data, 0, keep) != NULL;

    char *value = (char *)&value;   /* must be overwritten */
    int rc = dd_parse_value((const char *)data, size, &value);
    if (has_nul) {
        PROMISE(rc == -EINVAL && value == NULL);
        return 0;
    }
    if (rc == -ENOMEM) {
        PROMISE(value == NULL);
        return 0;
    }
    PROMISE(rc == 0 && value != NULL);
    PROMISE(strlen(value) == keep && memcmp(value, data, keep) == 0);

    check_enum(value, dd_experiment_status_parse, dd_experiment_status_name);
    check_enum(value, dd_iteration_status_parse, dd_iteration_status_name);
    check_enum(value, dd_stage_parse, dd_stage_name);
    check_time(value);
    free(value);
    return 0;
}
