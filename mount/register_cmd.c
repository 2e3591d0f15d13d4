/*
 * register_cmd.c - `deardiary register`: register a model version from the command line,
 * straight on the database (no mount needed), printing the new version number like
 * `cat models/<m>/versions/new/<iteration>[:<resource>]` does through the filesystem.
 * The database is the one ITERATION's directory is mounted from, else --db, the mount
 * the current directory is in, or the configured one (dd_cmd_registry): never a new one.
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
            "Registers a new version of MODEL produced by ITERATION (its directory in a mount,\n"
            "or its id), with the artifact RESOURCE (a resource name in the iteration's\n"
            "experiment), and prints the version number. The registry is the one ITERATION's\n"
            "directory belongs to; else DB; else the mount the current directory is in; else\n"
            "the configured `database`. A registry is never created here.\n");
}

/* Resolve the arguments and register; prints the number or the error. */
static int do_register(dd_store *st, const char *model, int64_t iteration_id,
                       const char *resource, const char *description)
{
    dd_err err = {0};
    int64_t model_id = 0, resource_id = 0, id = 0, number = 0;
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
    int64_t iteration_id = 0;
    char *path = NULL;
    if (dd_cmd_iteration_arg(pos[1], "register", &iteration_id, &path) != 0)
        return 2;
    dd_config cfg;
    if (dd_cmd_load_config(&cfg, config_file) != 0) {
        free(path);
        return 1;
    }
    if (!path)
        path = dd_cmd_registry(&cfg, db, "register");
    dd_store *st = NULL;
    int rc = !path ? 2
             : dd_cmd_open_existing(&cfg, path, "register", &st) == 0 &&
                       dd_cmd_check_store(st, path) == 0
                   ? do_register(st, pos[0], iteration_id, pos[2], description)
                   : 1;
    dd_store_close(st);
    dd_config_free(&cfg);
    free(path);
    return rc;
}
