/*
 * commands.h - the table of `deardiary` subcommands and the helpers they share.
 */
#ifndef DD_COMMANDS_H
#define DD_COMMANDS_H

#include "config.h"
#include "store.h"

typedef struct dd_command {
    const char *name;
    /* argv[0] is the command name. Returns the process exit status. */
    int (*run)(const char *config_file, int argc, char **argv);
} dd_command;

/* The command called `name`, or NULL. */
const dd_command *dd_command_find(const char *name);

/* Load the configuration (defaults, file, environment); prints the error and returns -1. */
int dd_cmd_load_config(dd_config *cfg, const char *config_file);

/* Open the store at `path` with the configuration's busy timeout; prints the error. */
/* How to show a locator to people (messages, logs): a path as it is, a URI without its
 * password. malloc'd; NULL only when out of memory. */
char *dd_cmd_shown(const char *locator);
int dd_cmd_open_store(const dd_config *cfg, const char *path, dd_store **out);

/*
 * The registry of a command that works on an existing one (run, restore, register) when
 * its arguments name no mount: `db_opt` (its --db); else the mount the current directory
 * is in, or the configured `database` if one was configured (config.h
 * db_file_configured: never the built-in default, which would record a run in a stray
 * ./deardiary.db where nobody looks); when both are there they must be the same file.
 * Returns a malloc'd path, or NULL after printing "deardiary CMD: ..." with the ways to
 * name one (or the two that disagree).
 */
char *dd_cmd_registry(const dd_config *cfg, const char *db_opt, const char *cmd);

/* dd_cmd_open_store for a database that must already exist (only init and mount create
 * one): a missing file is refused, naming `deardiary init`, and nothing is created. */
int dd_cmd_open_existing(const dd_config *cfg, const char *path, const char *cmd,
                         dd_store **out);

/* A command's ITERATION argument: an iteration's directory in a mount (then *db_out is
 * that mount's database, malloc'd) or an id (then *db_out is left NULL). Prints
 * "deardiary CMD: ..." and returns -1 when it is neither. */
int dd_cmd_iteration_arg(const char *text, const char *cmd, int64_t *id_out, char **db_out);

/* SQLite's quick_check of an opened store (dd_store_quick_check); prints
 * "deardiary: PATH: not a valid DearDiary database: ..." and returns -1 when the file
 * is damaged, 0 when sound. */
int dd_cmd_check_store(dd_store *st, const char *path);

#include "artifacts.h"

/* The artifact stores' part of the configuration. */
dd_artifacts_config dd_cmd_artifacts_config(const dd_config *cfg);

struct dd_artifacts;
/* Open the configured artifact stores over `st`, and remove bytes left by interrupted
 * copies and deleted resources; prints the error. */
int dd_cmd_open_artifacts(const dd_config *cfg, dd_store *st, struct dd_artifacts **out);

int dd_cmd_init(const char *config_file, int argc, char **argv);
int dd_cmd_config(const char *config_file, int argc, char **argv);
int dd_cmd_mount(const char *config_file, int argc, char **argv);

/* How `mount` opens a server's registry (an http:// or https:// URL in place of DB,
 * docs/REMOTE.md): remote/ provides it and main.c passes it in, as mount/ links below
 * remote/. open: the store of `url` (CAs of `cacert` when not NULL; answers reused for
 * `ttl` seconds); prints the reason and returns -1 when it cannot be had. start: the
 * mount's daemon, after the fork, makes metric appends of an opened store writable
 * (the node journal in `journal_dir`, "" for its default, bounded by `journal_max`
 * bytes, and its sender: docs/REMOTE.md §4); -1 after printing why. */
typedef struct dd_url_opener {
    int (*open)(const char *url, const char *cacert, double ttl, dd_store **out);
    /* the artifact stores over that store (remote.cache_dir, remote.cache_max of cfg);
     * errors printed, as open's */
    int (*open_artifacts)(dd_store *st, const char *cacert, const dd_config *cfg,
                          dd_artifacts **out);
    /* the daemon's, after the fork (see above) */
    int (*start)(dd_store *st, const char *cacert, const char *journal_dir,
                 int64_t journal_max);
} dd_url_opener;
/* dd_cmd_mount, with `urls` (NULL: a URL is refused as this build cannot mount one). */
int dd_cmd_mount_urls(const char *config_file, int argc, char **argv,
                      const dd_url_opener *urls);
int dd_cmd_register(const char *config_file, int argc, char **argv);
int dd_cmd_run(const char *config_file, int argc, char **argv);
int dd_cmd_restore(const char *config_file, int argc, char **argv);
int dd_cmd_fsck(const char *config_file, int argc, char **argv);
int dd_cmd_migrate_artifacts(const char *config_file, int argc, char **argv);
int dd_cmd_migrate_db(const char *config_file, int argc, char **argv);
int dd_cmd_user(const char *config_file, int argc, char **argv);

#endif
