/*
 * commands.c - the subcommand table and the simple subcommands (init, config).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "artifacts.h"
#include "commands.h"

extern char **environ;

static const dd_command commands[] = {
    {"init", dd_cmd_init},
    {"config", dd_cmd_config},
    {"mount", dd_cmd_mount},
    {"register", dd_cmd_register},
    {"run", dd_cmd_run},
    {"restore", dd_cmd_restore},
    {"fsck", dd_cmd_fsck},
    {"migrate-artifacts", dd_cmd_migrate_artifacts},
    {"user", dd_cmd_user},
};

const dd_command *dd_command_find(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int dd_cmd_load_config(dd_config *cfg, const char *config_file)
{
    char msg[512];
    if (dd_config_load(cfg, config_file, environ, msg, sizeof msg) != 0) {
        fprintf(stderr, "deardiary: %s\n", msg);
        return -1;
    }
    return 0;
}

int dd_cmd_open_store(const dd_config *cfg, const char *path, dd_store **out)
{
    dd_err err = {0};
    dd_store_options opts = {.busy_timeout_ms = (int)cfg->busy_timeout_ms};
    if (dd_store_open(path, &opts, out, &err) != DD_OK) {
        fprintf(stderr, "deardiary: %s: %s\n", path, err.msg);
        return -1;
    }
    return 0;
}

int dd_cmd_check_store(dd_store *st, const char *path)
{
    dd_err err = {0};
    if (dd_store_quick_check(st, &err) != DD_OK) {
        fprintf(stderr, "deardiary: %s: not a valid DearDiary database: %s\n", path,
                err.msg);
        return -1;
    }
    return 0;
}

dd_artifacts_config dd_cmd_artifacts_config(const dd_config *cfg)
{
    dd_artifacts_config ac = {.backend = cfg->artifact_backend, .fs_root = cfg->artifact_fs_root,
                              .s3_endpoint = cfg->s3_endpoint, .s3_bucket = cfg->s3_bucket,
                              .s3_region = cfg->s3_region, .s3_access_key = cfg->s3_access_key,
                              .s3_secret_key = cfg->s3_secret_key,
                              .s3_multipart_threshold = cfg->s3_multipart_threshold,
                              .s3_part_size = cfg->s3_part_size,
                              .s3_spool_dir = cfg->s3_spool_dir};
    return ac;
}

int dd_cmd_open_artifacts(const dd_config *cfg, dd_store *st, dd_artifacts **out)
{
    dd_err err = {0};
    dd_artifacts_config ac = dd_cmd_artifacts_config(cfg);
    if (dd_artifacts_open(st, &ac, out, &err) != DD_OK) {
        fprintf(stderr, "deardiary: %s\n", err.msg);
        return -1;
    }
    int64_t removed = 0;
    if (dd_artifacts_gc(*out, &removed, &err) != DD_OK)
        fprintf(stderr, "deardiary: artifact clean-up: %s\n", err.msg);
    return 0;
}

int dd_cmd_init(const char *config_file, int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: deardiary init [DB]\n"
                        "Creates the database (default: the configured db_file) or applies"
                        " pending migrations.\n");
        return argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
                   ? 0 : 2;
    }
    dd_config cfg;
    if (dd_cmd_load_config(&cfg, config_file) != 0)
        return 1;
    const char *path = argc == 2 ? argv[1] : cfg.db_file;
    dd_store *st = NULL;
    int rc = dd_cmd_open_store(&cfg, path, &st);
    if (rc == 0)
        rc = dd_cmd_check_store(st, path);
    if (rc == 0) {
        int version = 0;
        dd_err err = {0};
        dd_schema_version(st, &version, &err);
        printf("%s: schema version %d\n", path, version);
    }
    dd_store_close(st);
    dd_config_free(&cfg);
    return rc == 0 ? 0 : 1;
}

int dd_cmd_config(const char *config_file, int argc, char **argv)
{
    dd_config cfg;
    if (dd_cmd_load_config(&cfg, config_file) != 0)
        return 1;
    dd_config_print(&cfg, stdout);
    dd_config_free(&cfg);
    return 0;
}
