/*
 * register_cmd.c - `deardiary register`: register a model version from the command line,
 * straight on the database (no mount needed), printing the new version number like
 * `cat models/<m>/versions/new/<iteration>[:<resource>]` does through the filesystem.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

static void register_usage(FILE *out)
{
    fprintf(out,
            "usage: deardiary register [--db DB] [--description TEXT] MODEL ITERATION [RESOURCE]\n"
            "\n"
            "Registers a new version of MODEL produced by iteration ITERATION (its id), with\n"
            "the artifact RESOURCE (a resource name in the iteration's experiment), and prints\n"
            "the version number. DB defaults to the configured database.\n");
}

/* Resolve the arguments and register; prints the number or the error. */
static int do_register(dd_store *st, const char *model, const char *iteration,
                       const char *resource, const char *description)
{
    dd_err err = {0};
    int64_t model_id = 0, resource_id = 0, id = 0, number = 0;
    char *end;
    long long iteration_id = strtoll(iteration, &end, 10);
    if (*end || iteration_id <= 0) {
        fprintf(stderr, "deardiary register: \"%s\" is not an iteration id\n", iteration);
        return 2;
    }
    dd_code code = dd_model_find(st, model, &model_id, &err);
    if (code == DD_OK && resource) {
        dd_iteration it;
        code = dd_iteration_get(st, iteration_id, &it, &err);
        if (code == DD_OK)
            code = dd_resource_find(st, it.experiment_id, resource, &resource_id, &err);
        dd_iteration_clear(&it);
    }
    if (code == DD_OK)
        code = dd_version_create(st, model_id, iteration_id, resource_id, description, &id,
                                 &number, &err);
    if (code != DD_OK) {
        fprintf(stderr, "deardiary register: %s\n", err.msg);
        return 1;
    }
    printf("%lld\n", (long long)number);
    return 0;
}

int dd_cmd_register(const char *config_file, int argc, char **argv)
{
    const char *db = NULL, *description = "", *pos[3] = {NULL, NULL, NULL};
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            register_usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--db") == 0 && i + 1 < argc)
            db = argv[++i];
        else if (strcmp(argv[i], "--description") == 0 && i + 1 < argc)
            description = argv[++i];
        else if (argv[i][0] != '-' && npos < 3)
            pos[npos++] = argv[i];
        else {
            register_usage(stderr);
            return 2;
        }
    }
    if (npos < 2) {
        register_usage(stderr);
        return 2;
    }
    dd_config cfg;
    if (dd_cmd_load_config(&cfg, config_file) != 0)
        return 1;
    dd_store *st = NULL;
    const char *path = db ? db : cfg.db_file;
    int rc = dd_cmd_open_store(&cfg, path, &st) == 0 && dd_cmd_check_store(st, path) == 0
                 ? do_register(st, pos[0], pos[1], pos[2], description) : 1;
    dd_store_close(st);
    dd_config_free(&cfg);
    return rc;
}
