/*
 * json_decode.c - what decoding one POST /v1/metrics request of 10 000 points costs the
 * server in jansson, per form of a batch (docs/REMOTE.md §2.6), against the floor of any
 * hand-written number scanner (strtod of each number's text, nothing else): the
 * measurement behind decoding the columnar form with jansson rather than with a scanner
 * of our own (BENCHMARKS.md, "Remote fan-in: columnar metric batches").
 *
 *   gcc -O2 -o /tmp/json_decode bench/json_decode.c -ljansson && /tmp/json_decode [REPS]
 *
 * Per form: json_loadb of the body (with JSON_REJECT_DUPLICATES, as v1_parse.c), a walk
 * that reads every value (and each row's step and recorded_at string), json_decref. Two
 * value sets: "0.5" (bench/loops.c writebatch's lines) and random doubles in their
 * shortest round-trip text (17 significant digits mostly: computed losses). Prints the
 * median over REPS (default 50) of ns per point, and the ratio to the floor.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POINTS 10000
#define TS "\"2026-12-07T12:35:41.123Z\""

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The texts of the values: "0.5", or random doubles as %.17g (shortest not needed here:
 * the length, not the exact digits, is what costs). */
static void value_texts(char (*v)[32], int random)
{
    srand(7);
    for (int i = 0; i < POINTS; i++)
        if (random)
            snprintf(v[i], 32, "%.17g", (double)rand() / RAND_MAX * 3.0);
        else
            strcpy(v[i], "0.5");
}

static char *body(char (*v)[32], int columns)
{
    size_t cap = (size_t)POINTS * 80 + 256, len = 0;
    char *b = malloc(cap);
    len += (size_t)sprintf(b, "{\"batches\":[{\"iteration_id\":7,\"key\":\"loss\",\"%s\":[",
                           columns ? "values" : "points");
    for (int i = 0; i < POINTS; i++) {
        if (columns)
            len += (size_t)sprintf(b + len, "%s%s", i ? "," : "", v[i]);
        else
            len += (size_t)sprintf(b + len, "%s[null,%s," TS "]", i ? "," : "", v[i]);
    }
    sprintf(b + len, "]%s}]}", columns ? ",\"steps\":null,\"recorded_at\":" TS : "");
    return b;
}

/* Decode and walk one body; a checksum so nothing is optimised away. */
static double decode(const char *b, int columns)
{
    json_error_t je;
    json_t *root = json_loadb(b, strlen(b), JSON_REJECT_DUPLICATES, &je);
    json_t *o = json_array_get(json_object_get(root, "batches"), 0);
    json_t *arr = json_object_get(o, columns ? "values" : "points");
    double sum = 0;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *e = json_array_get(arr, i);
        if (columns)
            sum += json_number_value(e);
        else
            sum += json_number_value(json_array_get(e, 1)) + json_is_null(json_array_get(e, 0))
                   + (double)strlen(json_string_value(json_array_get(e, 2)));
    }
    json_decref(root);
    return sum;
}

static double floor_scan(char (*v)[32])
{
    double sum = 0;
    for (int i = 0; i < POINTS; i++)
        sum += strtod(v[i], NULL);
    return sum;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 50;
    static char v[POINTS][32];
    double *t = malloc(sizeof *t * (size_t)reps), sink = 0;
    for (int random = 0; random < 2; random++) {
        value_texts(v, random);
        char *rows = body(v, 0), *cols = body(v, 1);
        double med[3];
        for (int form = 0; form < 3; form++) {
            for (int r = 0; r < reps; r++) {
                double t0 = now_ns();
                sink += form == 2 ? floor_scan(v) : decode(form ? cols : rows, form);
                t[r] = (now_ns() - t0) / POINTS;
            }
            qsort(t, (size_t)reps, sizeof *t, cmp);
            med[form] = t[reps / 2];
        }
        printf("values %-7s rows %6.0f ns/point (body %zu B)  columns %5.0f ns/point "
               "(body %zu B)  strtod floor %4.0f ns/point  rows/columns %.1fx  "
               "columns/floor %.1fx\n", random ? "random" : "0.5", med[0], strlen(rows),
               med[1], strlen(cols), med[2], med[0] / med[1], med[1] / med[2]);
        free(rows);
        free(cols);
    }
    free(t);
    return sink == 42.0;   /* never: keeps the sums live */
}
