/*
 * config.h - the `deardiary` command's configuration: one dd_config built from, lowest
 * precedence first, built-in defaults, a YAML file, DEARDIARY_* environment variables and
 * command-line options (docs/CONFIGURATION.md lists every key).
 *
 * Keys are dotted paths that mirror the YAML nesting ("artifacts.s3.bucket"). Every key
 * accepts the same text in every layer and is validated the same way: a file, a variable
 * and an option can never disagree about what a value means.
 *
 * Ownership: a dd_config's strings are heap-allocated and owned by it; release them with
 * dd_config_free(). After a successful dd_config_load() every string field is non-NULL;
 * a key that is "not set" holds "" (e.g. s3_bucket), never NULL.
 *
 * Errors: functions that can fail return 0 or -1 and, when `errbuf` is not NULL and
 * `errlen` > 0, write one NUL-terminated line (no trailing newline) into it, truncated to
 * fit. The message says where the bad value came from:
 *     config.yaml:7: unknown key "artifacts.s3.buckett"
 *     config.yaml:9: mount.threads: must be between 1 and 1024, got 0
 *     environment variable DEARDIARY_MOUNT_THREADS: expected a decimal integer, got "ten"
 *     artifacts.backend: expected one of auto, inline, filesystem, s3; got "gcs"
 *
 * Threads: no globals, no locks; a dd_config may be read by many threads once loaded.
 * dd_config_load() reads the current directory (to make artifacts.filesystem.root
 * absolute) but never the process environment: the caller passes `envp`.
 */
#ifndef DD_CONFIG_H
#define DD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dd_config {
    /* Each field's comment is its key; docs/CONFIGURATION.md gives limits and variables. */
    char *db_file;                  /* database                                   */
    bool db_file_configured;        /* `database` came from the file, the environment
                                     * or dd_config_set, not the built-in default: the
                                     * commands that never create a registry (run,
                                     * restore, register) use only a named one        */
    int busy_timeout_ms;            /* busy_timeout_ms, >= 1                      */
    char *log_level;                /* log_level: "error", "warn", "info", "debug" */

    char *artifact_backend;         /* artifacts.backend: "auto", "inline", "filesystem",
                                     * "s3" */
    int64_t artifact_inline_max;    /* artifacts.inline_max, bytes                */
    char *artifact_fs_root;         /* artifacts.filesystem.root, absolute once loaded */
    bool artifact_fs_root_configured; /* set above the defaults: "auto" then puts large
                                     * artifacts there, not beside the database      */

    char *s3_endpoint;              /* artifacts.s3.endpoint                      */
    char *s3_bucket;                /* artifacts.s3.bucket                        */
    char *s3_region;                /* artifacts.s3.region                        */
    char *s3_access_key;            /* artifacts.s3.access_key                    */
    char *s3_secret_key;            /* artifacts.s3.secret_key, printed as "***"  */
    int64_t s3_multipart_threshold; /* artifacts.s3.multipart_threshold, bytes    */
    int64_t s3_part_size;           /* artifacts.s3.part_size, bytes              */
    char *s3_spool_dir;             /* artifacts.s3.spool_dir, absolute; "": $TMPDIR or /var/tmp */

    char *metrics_journal_dir;      /* metrics.journal_dir, absolute; "": the engine's
                                     * default (beside a SQLite file, the XDG state
                                     * directory for a server registry)            */
    char *metrics_close_waits;      /* metrics.close_waits: engine, commit or journal
                                     * (when close/fsync of a metric file returns) */
    char *remote_journal_dir;       /* remote.journal_dir, absolute; "": $XDG_STATE_HOME/
                                     * deardiary/journal (a remote mount's node journal) */
    int64_t remote_journal_max;     /* remote.journal_max, bytes undelivered before ENOSPC */
    int mount_threads;              /* mount.threads, >= 1                        */
    bool mount_foreground;          /* mount.foreground                           */
    char *mount_options;            /* mount.options: extra "-o" options          */
    bool mount_follow_writer;       /* mount.follow_writer (fs/placement.h)       */

    char *remote_cache_dir;         /* remote.cache_dir, absolute; "": the XDG cache
                                     * directory (REMOTE.md §8, the artifact cache) */
    int64_t remote_cache_max;       /* remote.cache_max, bytes (0: cache nothing)  */

    /* A mount with allow_other: who is who (README "Users and permissions"). */
    char *users_map;                /* users.map: {uid: username}; as text
                                       "1001:alice,1002:bob" (the env/option form) */
    char *users_unknown;            /* users.unknown: "deny" or "read"             */
    char *users_mount_as;           /* users.mount_as: the mounting account's user */
    char *server_host;              /* server.host: address `deardiary serve` binds */
    int server_port;                /* server.port, 1..65535                      */
    bool server_enable_auth;        /* server.enable_auth: JWT tokens required     */
    char *server_jwt_secret;        /* server.jwt_secret, printed as "***"        */
    char *server_cors_origins;      /* server.cors_origins: comma-separated, "*"  */
    int server_max_connections;     /* server.max_connections: more are refused   */
    int server_threads;             /* server.threads: HTTP worker threads        */
    int server_header_timeout;      /* server.header_timeout: seconds for headers  */
    int server_token_ttl;           /* server.token_ttl: seconds a token lives     */
} dd_config;

/*
 * Fill `cfg` with the built-in defaults, overwriting every field without freeing it (so
 * `cfg` may be uninitialized; to reset a loaded config, dd_config_free() it first).
 * artifacts.filesystem.root becomes "<cwd>/deardiary_artifacts".
 *
 * Cannot report errors: if memory runs out a string field may be left NULL, and if the
 * current directory is unknown the root stays relative. dd_config_load() performs the
 * same step and reports both, so prefer it when errors matter.
 */
void dd_config_defaults(dd_config *cfg);

/*
 * Build a complete configuration in `cfg` (which may be uninitialized): the defaults,
 * then the YAML file `file`, then the DEARDIARY_* variables found in `envp`.
 *
 * `file` NULL means: the file named by DEARDIARY_CONFIG in `envp` if it is set and not
 * empty, else no file. A file named either way must exist. An empty file is valid.
 * `envp` is a NULL-terminated array of "NAME=value" strings (e.g. environ), or NULL for
 * an empty environment; when a name appears twice the first one counts, as with getenv().
 * DEARDIARY_* names that are not configuration variables are ignored.
 *
 * Returns 0 on success. Returns -1, with the message in `errbuf`, when the file cannot be
 * read, is not valid YAML, has an unknown or duplicate key or a value of the wrong type
 * or out of range (the message gives "file:line:" with 1-based lines), when a variable
 * holds a bad value (the message names the variable), or when memory runs out. On
 * failure `cfg` is left with every string NULL: dd_config_free() is allowed, not needed.
 */
int dd_config_load(dd_config *cfg, const char *file, char *const *envp,
                   char *errbuf, size_t errlen);

/*
 * dd_config_load without a file or environment: the defaults, then the YAML document in
 * buf[0..len) (buf may be NULL when len is 0), validated exactly as a config file, with
 * messages saying "name:line:" where a file's would say "file:line:". For checking YAML
 * that does not come from a file (the fuzz target fuzz/fuzz_config.c uses it).
 * Same results and failure state as dd_config_load.
 */
int dd_config_load_buffer(dd_config *cfg, const char *name, const char *buf, size_t len,
                          char *errbuf, size_t errlen);

/*
 * Set the key `key` (a dotted path, e.g. "artifacts.backend") of a loaded `cfg` from the
 * text `value`, e.g. from a command-line option, validating it exactly as a file or
 * environment value. A relative artifacts.filesystem.root is made absolute against the
 * current directory.
 *
 * Returns 0, or -1 with the message in `errbuf` (an unknown key, a bad value, out of
 * memory); on failure `cfg` is unchanged.
 */
int dd_config_set(dd_config *cfg, const char *key, const char *value,
                  char *errbuf, size_t errlen);

/*
 * Write the effective configuration to `out` as YAML in the file layout, every key
 * present, so the output can be loaded back. A non-empty secret key is shown as "***".
 * Output errors are left for the caller to find with ferror(out).
 */
void dd_config_print(const dd_config *cfg, FILE *out);

/*
 * Call `cb` for each entry of a users.map text (as validated by the loader: "uid:name"
 * items separated by commas, or ""), in order; a non-zero return stops. Returns 0, or -1
 * if `map` is malformed (never for a loaded configuration's users_map).
 */
int dd_config_users_map_each(const char *map, int (*cb)(void *ctx, unsigned uid,
                                                       const char *name), void *ctx);

/*
 * Free the strings of `cfg` and set them to NULL. Safe on a config that is zeroed,
 * already freed or left by a failed dd_config_load(). Does not free `cfg` itself.
 */
void dd_config_free(dd_config *cfg);

#ifdef __cplusplus
}
#endif

#endif
