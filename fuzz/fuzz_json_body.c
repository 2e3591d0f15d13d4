/*
 * fuzz_json_body.c - libFuzzer target for dd_body_check (server/json.c), which every JSON
 * request body of `deardiary serve` goes through before a handler reads it.
 *
 * Input: the body bytes, checked against a spec with one field of each type.
 * Promises checked: the result is 0 or 400; on 400 the message is non-empty and no
 * document is returned; on 0 the root is an object, every required field is present and
 * every returned value has its field's type (strings are valid C strings whose length is
 * jansson's, so no NUL hides inside), and absent or null fields come back NULL.
 */
#include <string.h>

#include "fuzz.h"
#include "server.h"

static const dd_field spec[] = {
    {"s", F_STRING, false}, {"b", F_BOOL, false},  {"i", F_INT, false},
    {"n", F_NUMBER, false}, {"a", F_ARRAY, false}, {"r", F_STRING, true},
};
#define N (sizeof spec / sizeof spec[0])

static void check_value(const dd_field *f, json_t *root, json_t *v)
{
    json_t *raw = json_object_get(root, f->name);
    if (!raw || json_is_null(raw)) {
        PROMISE(v == NULL && !f->required);
        return;
    }
    PROMISE(v == raw);
    switch (f->type) {
    case F_STRING:
        PROMISE(json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v));
        break;
    case F_BOOL: PROMISE(json_is_boolean(v)); break;
    case F_INT: PROMISE(json_is_integer(v)); break;
    case F_NUMBER: PROMISE(json_is_number(v)); break;
    case F_ARRAY: PROMISE(json_is_array(v)); break;
    case F_ANY: break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *root = NULL, *vals[N];
    char msg[256] = "";
    int rc = dd_body_check((const char *)data, size, spec, N, &root, vals, msg, sizeof msg);
    PROMISE(rc == 0 || rc == 400);
    if (rc != 0) {
        PROMISE(root == NULL && msg[0] != '\0');
        return 0;
    }
    PROMISE(json_is_object(root));
    for (size_t i = 0; i < N; i++)
        check_value(&spec[i], root, vals[i]);
    json_decref(root);
    return 0;
}
