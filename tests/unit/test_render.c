/*
 * test_render.c - params.yaml, metrics.json and YAML row views (fs/render.h), and the
 * params.yaml round trip through fs/parse.h.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>

#include <yaml.h>

#include "buf.h"
#include "check.h"
#include "parse.h"
#include "render.h"
#include "store.h"

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rng(void)   /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* ---------------------------------------------------------------- helpers */

/* A YAML text loaded with libyaml: a flat mapping of scalars. */
typedef struct loaded {
    int ok;
    size_t n;
    char *keys[64], *values[64];
    int is_null[64];   /* plain null in the YAML sense */
    int quoted[64];    /* value was not a plain scalar */
} loaded;

static void load_map(const char *text, size_t len, loaded *l)
{
    memset(l, 0, sizeof *l);
    yaml_parser_t p;
    yaml_document_t doc;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    if (!yaml_parser_load(&p, &doc)) {
        yaml_parser_delete(&p);
        return;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && root->type == YAML_MAPPING_NODE) {
        l->ok = 1;
        for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
             pr < root->data.mapping.pairs.top && l->n < 64; pr++) {
            yaml_node_t *k = yaml_document_get_node(&doc, pr->key);
            yaml_node_t *v = yaml_document_get_node(&doc, pr->value);
            if (k->type != YAML_SCALAR_NODE || v->type != YAML_SCALAR_NODE) {
                l->ok = 0;
                break;
            }
            const char *vs = (const char *)v->data.scalar.value;
            l->keys[l->n] = strdup((const char *)k->data.scalar.value);
            l->values[l->n] = strdup(vs);
            l->quoted[l->n] = v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
            l->is_null[l->n] = !l->quoted[l->n] && (!*vs || !strcmp(vs, "~") ||
                                                    !strcmp(vs, "null"));
            l->n++;
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
}

static void loaded_free(loaded *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->keys[i]);
        free(l->values[i]);
    }
}

/* render -> parse gives back exactly keys/values; returns 1 when it does. */
static int params_round_trip(const char *const *keys, const char *const *values, size_t n,
                             int verbose)
{
    dd_buf b = {0};
    int rc = dd_render_params_yaml(&b, keys, values, n);
    char **k2 = NULL, **v2 = NULL, msg[256] = "";
    size_t n2 = 0;
    int prc = rc ? -1 : dd_parse_params_yaml(b.data, b.len, &k2, &v2, &n2, msg, sizeof msg);
    int ok = rc == 0 && prc == 0 && n2 == n;
    for (size_t i = 0; ok && i < n; i++) {     /* the same pairs; nesting groups them */
        ok = 0;
        for (size_t j = 0; j < n2 && !ok; j++)
            ok = strcmp(k2[j], keys[i]) == 0 && strcmp(v2[j], values[i]) == 0;
    }
    if (!ok && verbose) {
        fprintf(stderr, "round trip failed (render %d, parse %d: %s):\n%s\n", rc, prc, msg,
                b.data ? b.data : "");
        for (size_t i = 0; i < n2 && i < n; i++) {
            if (strcmp(k2[i], keys[i]) || strcmp(v2[i], values[i]))
                fprintf(stderr, "  [%s]=[%s] came back as [%s]=[%s]\n", keys[i], values[i],
                        k2[i], v2[i]);
        }
    }
    if (prc == 0)
        dd_params_free(k2, v2, n2);
    dd_buf_free(&b);
    return ok;
}

/* ---------------------------------------------------------------- params.yaml */

static void test_params_exact(void)
{
    dd_buf b = {0};
    CHECK(dd_render_params_yaml(&b, NULL, NULL, 0) == 0);
    CHECK(b.len == 0);

    const char *k1[] = {"lr", "epochs", "train.opt", "flag", "none"};
    const char *v1[] = {"0.10", "10", "adam", "yes", "~"};
    CHECK(dd_render_params_yaml(&b, k1, v1, 5) == 0);
    CHECK_STR(b.data, "lr: 0.10\nepochs: 10\ntrain:\n  opt: adam\nflag: 'yes'\nnone: '~'\n");

    /* nested as DVC writes it, grouped by first appearance; flat where a mapping cannot
     * hold it (a key that is also a parent, empty components); ambiguous text quoted,
     * numbers and true/false plain, keys always strings */
    dd_buf_reset(&b);
    const char *kn[] = {"train.lr", "seed", "train.opt.name", "train.epochs", "a", "a.b",
                        "x..y", "07", "yes", "n.1e3"};
    const char *vn[] = {"0.1", "07", "adam", "3", "1", "2", "null", "1e3", "true", "-1.5e+3"};
    CHECK(dd_render_params_yaml(&b, kn, vn, 10) == 0);
    CHECK_STR(b.data, "train:\n  lr: 0.1\n  opt:\n    name: adam\n  epochs: 3\nseed: '07'\n"
                      "a: 1\na.b: 2\nx..y: 'null'\n'07': '1e3'\n'yes': true\n'n':\n"
                      "  '1e3': -1.5e+3\n");
    CHECK(params_round_trip(kn, vn, 10, 1));

    dd_buf_reset(&b);
    const char *k2[] = {"a", "b", "c", "d", "e", "f"};
    const char *v2[] = {"a: b", "#x", "  lead", "multi\nline", "\xc3\xa9t\xc3\xa9", "tab\there"};
    CHECK(dd_render_params_yaml(&b, k2, v2, 6) == 0);
    CHECK_STR(b.data, "a: 'a: b'\nb: '#x'\nc: '  lead'\nd: |-\n  multi\n  line\n"
                      "e: \xc3\xa9t\xc3\xa9\nf: \"tab\\there\"\n");

    /* appends; keeps what the buffer held */
    dd_buf_reset(&b);
    dd_buf_adds(&b, "# head\n");
    const char *k3[] = {"x"};
    const char *v3[] = {"1"};
    CHECK(dd_render_params_yaml(&b, k3, v3, 1) == 0);
    CHECK_STR(b.data, "# head\nx: 1\n");

    /* invalid UTF-8 becomes U+FFFD; NULL value is "" */
    dd_buf_reset(&b);
    const char *k4[] = {"bad", "nul"};
    const char *v4[] = {"a\xff" "b", NULL};
    CHECK(dd_render_params_yaml(&b, k4, v4, 2) == 0);
    CHECK_STR(b.data, "bad: a\xef\xbf\xbd" "b\nnul: ''\n");

    /* out of memory: refused, length kept */
    dd_buf_reset(&b);
    dd_buf_adds(&b, "keep");
    b.oom = 1;
    CHECK(dd_render_params_yaml(&b, k3, v3, 1) == -ENOMEM);
    CHECK(b.len == 4);
    dd_buf_free(&b);
}

static void test_params_round_trip(void)
{
    static const char *const values[] = {
        "yes", "no", "on", "off", "true", "False", "null", "~", "Null", "1e3", "0.10",
        "007", "0x1F", "0o17", "1_000", ".inf", "-.inf", ".nan", "1:20", "2026-11-23",
        "2026-11-23T12:00:00.000Z", "a: b", "a:b", "a :b", "#x", "x #y", "x#y", "  lead",
        "trail  ", " both ", "multi\nline", "multi\nline\n", "multi\nline\n\n", "\nlead",
        "\n", "\n\n", "a\n b", " a\nb", "a \nb", "a\n\tb", "\ttab", "tab\t", "a\r\nb",
        "cr\r", "- x", "-x", "-", "?", "? x", ":", "::", "x:", "[a, b]", "{a: b}", "[", "]",
        "{", "}", ",", "a, b", "&anchor", "*alias", "!tag", "!!str", "|", "|-", ">", "%x",
        "@x", "`x", "'quoted'", "\"dq\"", "it's", "say \"hi\"", "back\\slash", "\\",
        "---", "...", "--- x", "... x", "<<", "=", "\xc3\xa9t\xc3\xa9",
        "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "\xf0\x9f\x98\x80 emoji", "\xef\xbb\xbf" "bom",
        "nel\xc2\x85x", "ls\xe2\x80\xa8x", "ps\xe2\x80\xa9x", "nbsp\xc2\xa0", "\x01\x02",
        "del\x7f", "\x1b[31mred", "a\\nb", "%", "x%", "0", "-0", "+1", "1.5e-07",
        "3.14159", "a very long value with many words that goes on and on past eighty columns "
        "so that an emitter that folds lines would fold it somewhere in the middle of it",
        "line1\nline2 with trailing space \nline3", "k: v\nk2: v2\n", "# comment\nx",
        "x\n# not a comment", "   ", " ", "\xc2\xa0", "a\x0b" "b", "a\x0c" "b",
    };
    size_t nv = sizeof values / sizeof values[0];
    /* each value alone, under a plain key */
    int bad = 0;
    for (size_t i = 0; i < nv; i++) {
        const char *k[] = {"key"};
        const char *v[] = {values[i]};
        bad += !params_round_trip(k, v, 1, 1);
    }
    CHECK(bad == 0);
    /* all of them in one file */
    const char *keys[sizeof values / sizeof values[0]];
    char names[sizeof values / sizeof values[0]][16];
    for (size_t i = 0; i < nv; i++) {
        snprintf(names[i], sizeof names[i], "p%zu", i);
        keys[i] = names[i];
    }
    CHECK(params_round_trip(keys, values, nv, 1));
    /* the same texts as keys, where they are names */
    bad = 0;
    for (size_t i = 0; i < nv; i++) {
        if (dd_name_check(values[i], "k", NULL) != DD_OK)
            continue;
        const char *k[] = {values[i], "other"};
        const char *v[] = {"1", values[i]};
        bad += !params_round_trip(k, v, 2, 1);
    }
    CHECK(bad == 0);
    /* a long key (> 128 bytes: a complex key for YAML) and a 255-byte key */
    char longkey[256];
    memset(longkey, 'k', 255);
    longkey[255] = 0;
    const char *lk[] = {longkey, "a.b.c"};
    const char *lv[] = {"v", "w"};
    CHECK(params_round_trip(lk, lv, 2, 1));
}

static void random_text(char *out, size_t max, int for_key)
{
    static const char *const atoms[] = {
        "a", "b", "z", " ", ":", "#", "-", "?", "'", "\"", "\\", "{", "}", "[", "]", ",",
        "&", "*", "!", "|", ">", "%", "@", "`", "~", "0", "1", "9", ".", "e", "+", "=",
        "\xc3\xa9", "\xe6\x97\xa5", "\xf0\x9f\x98\x80", "\xc2\xa0", "\xe2\x80\xa8",
        "yes", "null", "---", "...", "<<", ": ", " #", "\n", "\t", "\r", "\x01", "\x7f",
        "\xc2\x85", "\xef\xbb\xbf", "\r\n", "\n\n", "  "};
    size_t natoms = sizeof atoms / sizeof atoms[0];
    size_t len = 0, parts = 1 + rng() % 8;
    out[0] = 0;
    for (size_t i = 0; i < parts; i++) {
        const char *a = atoms[rng() % natoms];
        if (for_key && (a[0] < 0x20 || a[0] == 0x7f || strcmp(a, "\xc2\x85") == 0))
            continue;
        size_t al = strlen(a);
        if (len + al >= max)
            break;
        memcpy(out + len, a, al + 1);
        len += al;
    }
}

static void test_params_fuzz(void)
{
    int bad = 0, docs = 0;
    for (int d = 0; d < 3000; d++) {
        char kbuf[8][64], vbuf[8][64];
        const char *k[8], *v[8];
        size_t n = 1 + rng() % 8;
        for (size_t i = 0; i < n; i++) {
            do {
                random_text(kbuf[i], sizeof kbuf[i], 1);
                int dup = 0;
                for (size_t j = 0; j < i; j++)
                    dup |= strcmp(kbuf[i], kbuf[j]) == 0;
                if (dup)
                    kbuf[i][0] = 0;
            } while (dd_name_check(kbuf[i], "k", NULL) != DD_OK);
            do
                random_text(vbuf[i], sizeof vbuf[i], 0);
            while (!vbuf[i][0]);
            k[i] = kbuf[i];
            v[i] = vbuf[i];
        }
        docs++;
        if (!params_round_trip(k, v, n, bad < 5))
            bad++;
    }
    printf("params.yaml fuzz: %d documents, %d failed\n", docs, bad);
    CHECK(bad == 0);
}

/* ---------------------------------------------------------------- metrics.json */

static void test_metrics_json(void)
{
    dd_buf b = {0};
    CHECK(dd_render_metrics_json(&b, NULL, NULL, 0) == 0);
    CHECK_STR(b.data, "{}\n");

    dd_buf_reset(&b);
    const char *k1[] = {"accuracy", "loss"};
    const double v1[] = {0.93, 0.1};
    CHECK(dd_render_metrics_json(&b, k1, v1, 2) == 0);
    CHECK_STR(b.data, "{\"accuracy\": 0.93, \"loss\": 0.1}\n");

    dd_buf_reset(&b);
    const char *k2[] = {"a", "b", "c", "d", "e", "f", "g", "h"};
    const double v2[] = {7.0, 1e-05, -0.5, 0.1 + 0.2, 1e300, -0.0, NAN, -INFINITY};
    CHECK(dd_render_metrics_json(&b, k2, v2, 8) == 0);
    CHECK_STR(b.data, "{\"a\": 7, \"b\": 1e-05, \"c\": -0.5, \"d\": 0.30000000000000004, "
                      "\"e\": 1e+300, \"f\": -0, \"g\": null, \"h\": null}\n");

    dd_buf_reset(&b);
    const char *k3[] = {"q\"uote", "back\\slash", "ctl\x01\n\t\x1f", "\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80",
                        "bad\xff", "del\x7f/"};
    const double v3[] = {1, 2, 3, 4, 5, 6};
    CHECK(dd_render_metrics_json(&b, k3, v3, 6) == 0);
    CHECK_STR(b.data, "{\"q\\\"uote\": 1, \"back\\\\slash\": 2, "
                      "\"ctl\\u0001\\u000a\\u0009\\u001f\": 3, "
                      "\"\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80\": 4, \"bad\xef\xbf\xbd\": 5, "
                      "\"del\x7f/\": 6}\n");

    /* many keys; appends */
    dd_buf_reset(&b);
    dd_buf_adds(&b, "X");
    char names[1000][16];
    const char *k4[1000];
    double v4[1000];
    for (int i = 0; i < 1000; i++) {
        snprintf(names[i], sizeof names[i], "m%d", i);
        k4[i] = names[i];
        v4[i] = i / 8.0;
    }
    CHECK(dd_render_metrics_json(&b, k4, v4, 1000) == 0);
    CHECK(strncmp(b.data, "X{\"m0\": 0, \"m1\": 0.125, ", 24) == 0);
    CHECK(b.len > 17 && strcmp(b.data + b.len - 17, "\"m999\": 124.875}\n") == 0);
    CHECK(strlen(b.data) == b.len);

    b.oom = 1;
    size_t len = b.len;
    CHECK(dd_render_metrics_json(&b, k1, v1, 2) == -ENOMEM);
    CHECK(b.len == len);
    dd_buf_free(&b);
}

/* ---------------------------------------------------------------- yaml_map */

static void test_yaml_map(void)
{
    dd_buf b = {0};
    CHECK(dd_render_yaml_map(&b, NULL, NULL, 0) == 0);
    CHECK_STR(b.data, "{}\n");

    dd_buf_reset(&b);
    const char *keys[] = {"id", "status", "notes", "created_date", "end_date", "git_dirty",
                          "project_toml", "yes", "empty", "parent"};
    const char *values[] = {"42", "RUNNING", "a note: yes", "2026-11-23T12:00:00.000Z", NULL,
                            "false", "[deps]\nfoo = \"1\"\n", "on", "", NULL};
    const int plain[] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 1};
    CHECK(dd_render_yaml_map2(&b, keys, values, plain, 10) == 0);
    CHECK_STR(b.data, "id: 42\n"
                      "status: RUNNING\n"
                      "notes: 'a note: yes'\n"
                      "created_date: '2026-11-23T12:00:00.000Z'\n"
                      "end_date: null\n"
                      "git_dirty: false\n"
                      "project_toml: |\n"
                      "  [deps]\n"
                      "  foo = \"1\"\n"
                      "'yes': 'on'\n"
                      "empty: ''\n"
                      "parent: null\n");

    /* without flags everything reads back as the same string */
    dd_buf_reset(&b);
    static const char *const strs[] = {
        "42", "false", "true", "yes", "no", "on", "off", "null", "~", "", "1e3", ".5", "-1",
        "+1", ".inf", "2026-11-23", "12:30", "0x1f", "=", "<<", "RUNNING", "plain text",
        "a: b", "#x", "multi\nline\n", "x\n", "\xc3\xa9t\xc3\xa9", "- x", "Y", "n", "NULL",
        "[a]", "{a}", "*x", "&x", "!x", "'", "\"", "tab\tx", "trailing ", " leading",
    };
    size_t ns = sizeof strs / sizeof strs[0];
    const char *k[64];
    char names[64][8];
    for (size_t i = 0; i < ns; i++) {
        snprintf(names[i], sizeof names[i], "k%zu", i);
        k[i] = names[i];
    }
    CHECK(dd_render_yaml_map(&b, k, strs, ns) == 0);
    loaded l;
    load_map(b.data, b.len, &l);
    CHECK(l.ok && l.n == ns);
    for (size_t i = 0; l.ok && i < ns && i < l.n; i++) {
        CHECK_STR(l.keys[i], k[i]);
        CHECK_STR(l.values[i], strs[i]);
        /* anything a YAML reader could type as non-string was quoted */
        int ambiguous = !strs[i][0] || strchr("0123456789+-.~", strs[i][0]) ||
                        !strcmp(strs[i], "false") || !strcmp(strs[i], "true") ||
                        !strcmp(strs[i], "yes") || !strcmp(strs[i], "no") ||
                        !strcmp(strs[i], "on") || !strcmp(strs[i], "off") ||
                        !strcmp(strs[i], "null") || !strcmp(strs[i], "NULL") ||
                        !strcmp(strs[i], "Y") || !strcmp(strs[i], "n") ||
                        !strcmp(strs[i], "=") || !strcmp(strs[i], "<<");
        if (ambiguous && !l.quoted[i])
            fprintf(stderr, "value \"%s\" left plain\n", strs[i]);
        CHECK(!ambiguous || l.quoted[i]);
    }
    CHECK(!strstr(b.data, "RUNNING'"));   /* unambiguous text stays plain */
    CHECK(strstr(b.data, "k20: RUNNING\n") != NULL);
    CHECK(strstr(b.data, "k21: plain text\n") != NULL);
    loaded_free(&l);

    /* nulls and plain flags read back as YAML nulls, ints and bools */
    dd_buf_reset(&b);
    const char *k2[] = {"n", "i", "t", "s", "weird"};
    const char *v2[] = {NULL, "-7", "true", "7", "a: b"};
    const int p2[] = {0, 1, 1, 0, 1};
    CHECK(dd_render_yaml_map2(&b, k2, v2, p2, 5) == 0);
    load_map(b.data, b.len, &l);
    CHECK(l.ok && l.n == 5);
    if (l.ok && l.n == 5) {
        CHECK(l.is_null[0]);
        CHECK(!l.quoted[1] && strcmp(l.values[1], "-7") == 0);
        CHECK(!l.quoted[2] && strcmp(l.values[2], "true") == 0);
        CHECK(l.quoted[3] && strcmp(l.values[3], "7") == 0);
        CHECK(l.quoted[4] && strcmp(l.values[4], "a: b") == 0);   /* plain not possible */
    }
    loaded_free(&l);
    /* plain == NULL means no flags */
    dd_buf_reset(&b);
    CHECK(dd_render_yaml_map2(&b, k2, v2, NULL, 5) == 0);
    CHECK_STR(b.data, "'n': null\ni: '-7'\nt: 'true'\ns: '7'\nweird: 'a: b'\n");

    /* a TOML file as a block literal, verbatim */
    dd_buf_reset(&b);
    const char *toml =
        "name = \"Demo\"\nuuid = \"1234\"\n\n[deps]\nJSON = \"682c06a0\"\n\n[compat]\n"
        "julia = \"1.10\"\n";
    const char *k3[] = {"project_toml", "after"};
    const char *v3[] = {toml, "x"};
    CHECK(dd_render_yaml_map(&b, k3, v3, 2) == 0);
    CHECK_STR(b.data, "project_toml: |\n  name = \"Demo\"\n  uuid = \"1234\"\n\n  [deps]\n"
                      "  JSON = \"682c06a0\"\n\n  [compat]\n  julia = \"1.10\"\nafter: x\n");
    load_map(b.data, b.len, &l);
    CHECK(l.ok && l.n == 2 && strcmp(l.values[0], toml) == 0);
    loaded_free(&l);
    /* one with tabs or trailing spaces still reads back exactly (double-quoted) */
    dd_buf_reset(&b);
    const char *v4[] = {"[x]\n\tindented = 1\ntrailing = 2   \n", "y"};
    CHECK(dd_render_yaml_map(&b, k3, v4, 2) == 0);
    load_map(b.data, b.len, &l);
    CHECK(l.ok && l.n == 2 && strcmp(l.values[0], v4[0]) == 0);
    loaded_free(&l);

    /* random strings read back exactly */
    int bad = 0;
    for (int d = 0; d < 2000; d++) {
        char vb[6][64];
        const char *vv[6], *kk[6] = {"a", "b", "c", "d", "e", "f"};
        int pp[6];
        for (int i = 0; i < 6; i++) {
            random_text(vb[i], sizeof vb[i], 0);
            vv[i] = vb[i];
            pp[i] = (int)(rng() % 2);
        }
        dd_buf_reset(&b);
        int rc = dd_render_yaml_map2(&b, kk, vv, pp, 6);
        load_map(b.data, b.len, &l);
        int ok = rc == 0 && l.ok && l.n == 6;
        for (int i = 0; ok && i < 6; i++)
            ok = strcmp(l.values[i], vv[i]) == 0 || (pp[i] && l.is_null[i] && !vv[i][0]);
        if (!ok && bad++ < 5)
            fprintf(stderr, "yaml_map round trip failed:\n%s\n", b.data);
        loaded_free(&l);
    }
    CHECK(bad == 0);

    b.oom = 1;
    size_t len = b.len;
    CHECK(dd_render_yaml_map(&b, k3, v3, 2) == -ENOMEM);
    CHECK(b.len == len);
    dd_buf_free(&b);
}

/* A key of more components than params.yaml may nest (DD_PARAMS_DEPTH_MAX): the renderer
 * nests as deep as the parser reads and writes the rest of the key flat, so `cat
 * params.yaml > params.yaml` works for every stored key (found by fuzz_params_yaml: 70
 * levels were rendered and the parser refused them). */
static void test_params_deep_keys(void)
{
    char deep[512] = "", deeper[sizeof deep + 2] = "";
    for (int i = 0; i < 80; i++)
        strcat(deep, i ? ".k" : "k");
    snprintf(deeper, sizeof deeper, "%s.z", deep);
    const char *keys[] = {deep, deeper, "top"}, *values[] = {"1", "2", "3"};
    CHECK(params_round_trip(keys + 1, values + 1, 2, 1));
    const char *one[] = {deep};
    CHECK(params_round_trip(one, values, 1, 1));
}

int main(void)
{
    test_params_deep_keys();
    test_params_exact();
    test_params_round_trip();
    test_params_fuzz();
    test_metrics_json();
    test_yaml_map();
    return check_done();
}
