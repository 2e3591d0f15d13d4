/*
 * main.c - the `deardiary` command: parses the subcommand and hands it to the matching
 * cmd_* function. Each subcommand loads the configuration the same way (defaults, config
 * file, DEARDIARY_* environment, then its own options).
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "remote.h"   /* dd_cmd_login/logout/whoami: remote/ links into the command */
#include "rstore.h"   /* dd_remote_url_opener: `mount URL` */
#include "server.h"   /* dd_cmd_serve: server/ links into the command, not into dd_mount */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: deardiary [--config FILE] COMMAND [ARGS...]\n"
            "\n"
            "DearDiary FS: an ML experiment tracker and model registry you mount as a\n"
            "filesystem.\n"
            "\n"
            "commands:\n"
            "  init [--artifact-root DIR] [DB]\n"
            "                            create (or migrate) a database; prints its path\n"
            "  mount [DB|URL] MOUNTPOINT mount a database, or the one a server serves\n"
            "  register MODEL ITERATION [RESOURCE]\n"
            "                            register a model version; prints its number\n"
            "  run EXPERIMENT -- COMMAND [ARGS...]\n"
            "                            run COMMAND as a new iteration (see run --help)\n"
            "  restore ITERATION DIR     write an iteration's captured environment into DIR\n"
            "  config                    print the effective configuration as YAML\n"
            "  fsck [--repair] [DB]      check the database and artifact bytes; repair\n"
            "  serve [--db DB] [--host H] [--port P]\n"
            "                            serve the REST API (see `deardiary serve --help`)\n"
            "  migrate-artifacts --to BACKEND\n"
            "                            move every artifact's bytes to another backend\n"
            "  migrate-db SRC DST        copy a whole registry to another engine (SQLite,\n"
            "                            PostgreSQL), into a DST just made by `init`\n"
            "  user add|passwd|list|delete|admin|grant|revoke|show  users and rights\n"
            "  login URL [--user NAME]   log in to a `deardiary serve`; keeps its token\n"
            "  logout URL                forget the token kept for URL\n"
            "  whoami URL                the user URL knows this client as\n"
            "\n"
            "options:\n"
            "  --config FILE             YAML configuration file (default $DEARDIARY_CONFIG)\n"
            "  -h, --help                this help\n"
            "  -V, --version             print the version\n"
            "\n"
            "Configuration precedence, highest first: command-line options, DEARDIARY_*\n"
            "environment variables, the config file, built-in defaults (docs/CONFIGURATION.md).\n");
}

int main(int argc, char **argv)
{
    const char *config_file = NULL;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0) {
            printf("deardiary %s\n", DD_VERSION);
            return 0;
        }
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config_file = argv[++i];
            continue;
        }
        if (strncmp(argv[i], "--config=", 9) == 0) {
            config_file = argv[i] + 9;
            continue;
        }
        fprintf(stderr, "deardiary: unknown option %s\n", argv[i]);
        usage(stderr);
        return 2;
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[i], "serve") == 0)
        return dd_cmd_serve(config_file, argc - i, argv + i);
    if (strcmp(argv[i], "mount") == 0)
        return dd_cmd_mount_urls(config_file, argc - i, argv + i, &dd_remote_url_opener);
    if (strcmp(argv[i], "login") == 0)
        return dd_cmd_login(config_file, argc - i, argv + i);
    if (strcmp(argv[i], "logout") == 0)
        return dd_cmd_logout(config_file, argc - i, argv + i);
    if (strcmp(argv[i], "whoami") == 0)
        return dd_cmd_whoami(config_file, argc - i, argv + i);
    const dd_command *cmd = dd_command_find(argv[i]);
    if (!cmd) {
        fprintf(stderr, "deardiary: unknown command \"%s\"\n", argv[i]);
        usage(stderr);
        return 2;
    }
    return cmd->run(config_file, argc - i, argv + i);
}
