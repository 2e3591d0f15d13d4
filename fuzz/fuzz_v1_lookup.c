/*
 * fuzz_v1_lookup.c - libFuzzer target for the parsers of the /v1 routes' own inputs
 * (server/v1_parse.c): dd_v1_path_parse, which reads GET /v1/lookup's ?path=, and
 * dd_v1_flag_parse (DELETE /v1/<kind>/{id}?cascade=).
 *
 * Promises checked: the path parser answers 0 or 400; on 400 the message is non-empty
 * and *out is zeroed; on 0 the depth is 1 to 3, the input is at most DD_V1_PATH_MAX
 * bytes, each name passes dd_name_check, the iteration id is positive exactly at depth
 * 3, and the components joined with '/' give back the input byte for byte (nothing was
 * dropped or invented). The flag parser accepts exactly 0, 1, false, true (and absence).
 */
#include <inttypes.h>
#include <string.h>

#include "fuzz.h"
#include "h_v1.h"

static void check_path(const char *s, size_t len)
{
    dd_v1_path p, zero;
    memset(&zero, 0, sizeof zero);
    char msg[DD_ERR_MSG_MAX] = "";
    int rc = dd_v1_path_parse(s, len, &p, msg, sizeof msg);
    PROMISE(rc == 0 || rc == 400);
    if (rc != 0) {
        PROMISE(msg[0] != '\0' && memcmp(&p, &zero, sizeof p) == 0);
        return;
    }
    PROMISE(p.depth >= 1 && p.depth <= 3 && len <= DD_V1_PATH_MAX);
    dd_err err;
    PROMISE(dd_name_check(p.project, "p", &err) == DD_OK);
    PROMISE(p.depth < 2 ? p.experiment[0] == '\0'
                        : dd_name_check(p.experiment, "e", &err) == DD_OK);
    PROMISE(p.depth == 3 ? p.iteration_id > 0 : p.iteration_id == 0);
    char joined[DD_V1_PATH_MAX + 64];
    int n = snprintf(joined, sizeof joined, "%s", p.project);
    if (p.depth >= 2)
        n += snprintf(joined + n, sizeof joined - (size_t)n, "/%s", p.experiment);
    if (p.depth == 3)
        n += snprintf(joined + n, sizeof joined - (size_t)n, "/%" PRId64, p.iteration_id);
    PROMISE((size_t)n == len && memcmp(joined, s, len) == 0);
}

static void check_flag(const char *s, size_t len)
{
    char buf[8];
    if (len >= sizeof buf)
        return;
    memcpy(buf, s, len);
    buf[len] = '\0';
    bool v = false, before = true;
    v = before;
    int rc = dd_v1_flag_parse(buf, &v);
    bool known_true = strcmp(buf, "1") == 0 || strcmp(buf, "true") == 0;
    bool known_false = strcmp(buf, "0") == 0 || strcmp(buf, "false") == 0;
    PROMISE(rc == ((known_true || known_false) ? 0 : -1));
    PROMISE(rc != 0 || v == known_true);
    PROMISE(rc == 0 || v == before);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_path((const char *)data, size);
    check_flag((const char *)data, size);
    return 0;
}
