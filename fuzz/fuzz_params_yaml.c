/*
 * fuzz_params_yaml.c - libFuzzer target for dd_parse_params_yaml (fs/parse.c), the parser
 * of `cat my.yaml > params.yaml`.
 *
 * Promises checked (fs/parse.h, fs/render.h): a refusal returns nothing and a message; a
 * success returns at most 100,000 parameters whose keys pass dd_name_check and are
 * distinct and whose values are non-empty C strings; and what params.yaml then shows
 * (dd_render_params_yaml, nested as DVC writes it) parses back to exactly the same keys
 * and values.
 * dd_params_yaml_prefix_check (a file still being written) accepts every valid document
 * and refuses only documents the parser refuses.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "parse.h"
#include "render.h"

static void check_round_trip(char **keys, char **values, size_t n)
{
    dd_buf out = {0};
    PROMISE(dd_render_params_yaml(&out, (const char *const *)keys,
                                  (const char *const *)values, n) == 0);
    char **k2 = NULL, **v2 = NULL, msg[256];
    size_t n2 = 0;
    int rc = dd_parse_params_yaml(out.data, out.len, &k2, &v2, &n2, msg, sizeof msg);
    if (rc != 0)
        fprintf(stderr, "rendered:\n%.*s\nrefused: %s\n", (int)out.len, out.data, msg);
    PROMISE(rc == 0 && n2 == n);
    for (size_t i = 0; i < n && n <= 2000; i++) {   /* the same pairs, nesting groups them */
        bool found = false;
        for (size_t j = 0; j < n2 && !found; j++)
            found = strcmp(keys[i], k2[j]) == 0 && strcmp(values[i], v2[j]) == 0;
        if (!found)
            fprintf(stderr, "rendered:\n%.*s\n", (int)out.len, out.data);
        PROMISE(found);
    }
    dd_params_free(k2, v2, n2);
    dd_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char **keys = (char **)&keys, **values = (char **)&values;   /* must be overwritten */
    size_t n = 12345;
    char msg[256];
    memset(msg, 'x', sizeof msg);
    int rc = dd_parse_params_yaml((const char *)data, size, &keys, &values, &n, msg,
                                  sizeof msg);
    PROMISE(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
    PROMISE(memchr(msg, 0, sizeof msg) != NULL);
    char pmsg[256];
    bool complete;
    int prc = dd_params_yaml_prefix_check((const char *)data, size, &complete, pmsg,
                                          sizeof pmsg);
    PROMISE(complete == (rc == 0));
    PROMISE(prc == 0 || prc == -EINVAL || prc == -ENOMEM);
    PROMISE(rc != 0 || prc == 0 || prc == -ENOMEM);
    PROMISE(prc != -EINVAL || (rc == -EINVAL && strcmp(msg, pmsg) == 0));
    if (rc != 0) {
        PROMISE(keys == NULL && values == NULL && n == 0);
        PROMISE(rc != -EINVAL || msg[0] != 0);
        return 0;
    }
    PROMISE(msg[0] == 0);
    PROMISE(n <= 100000);
    PROMISE((n == 0) == (keys == NULL) && (n == 0) == (values == NULL));
    for (size_t i = 0; i < n; i++) {
        PROMISE(dd_name_check(keys[i], "key", NULL) == DD_OK);
        PROMISE(values[i] != NULL && values[i][0] != 0);
        for (size_t j = 0; j < i && n <= 2000; j++)   /* quadratic: only small documents */
            PROMISE(strcmp(keys[i], keys[j]) != 0);
    }
    check_round_trip(keys, values, n);
    dd_params_free(keys, values, n);
    return 0;
}
