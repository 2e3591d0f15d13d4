/*
 * commands.c - the subcommand table and the simple subcommands (init, config).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "artifacts.h"
#include "commands.h"
#include "locate.h"

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
    {"migrate-db", dd_cmd_migrate_db},
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

char *dd_cmd_shown(const char *locator)
{
    if (!dd_locator_is_uri(locator))
        return strdup(locator);
    char *safe = NULL;
    dd_err ignored;
    return dd_locator_canonical(locator, &safe, &ignored) == DD_OK ? safe
                                                                    : strdup("(a database URI)");
}

int dd_cmd_open_store(const dd_config *cfg, const char *path, dd_store **out)
{
    dd_err err = {0};
    dd_store_options opts = {.busy_timeout_ms = (int)cfg->busy_timeout_ms,
                             .journal_dir = cfg->metrics_journal_dir};
    if (dd_store_open(path, &opts, out, &err) != DD_OK) {
        char *shown = dd_cmd_shown(path);
        fprintf(stderr, "deardiary: %s: %s\n", shown ? shown : "database", err.msg);
        free(shown);
        return -1;
    }
    return 0;
}

/* Do locators `a` and `b` name the same registry: the same existing file, or URIs of the
 * same canonical form? */
static bool same_registry(const char *a, const char *b)
{
    if (dd_locator_is_uri(a) || dd_locator_is_uri(b)) {
        char *ca = NULL, *cb = NULL;
        dd_err ignored;
        bool same = dd_locator_canonical(a, &ca, &ignored) == DD_OK &&
                    dd_locator_canonical(b, &cb, &ignored) == DD_OK && strcmp(ca, cb) == 0;
        free(ca);
        free(cb);
        return same;
    }
    char *ra = realpath(a, NULL), *rb = realpath(b, NULL);
    bool same = ra && rb && strcmp(ra, rb) == 0;
    free(ra);
    free(rb);
    return same;
}

char *dd_cmd_registry(const dd_config *cfg, const char *db_opt, const char *cmd)
{
    if (db_opt)
        return strdup(db_opt);
    dd_located here;
    char *mount_db = NULL;
    if (dd_locate_path(".", &here) == 1) {
        mount_db = here.db;
        here.db = NULL;
        dd_located_free(&here);
    }
    if (!cfg->db_file_configured && !mount_db) {
        fprintf(stderr, "deardiary %s: no registry named: give --db DB, set `database` in the "
                        "configuration (--config FILE, $DEARDIARY_CONFIG) or DEARDIARY_DB_FILE, "
                        "or work inside a mount\n", cmd);
        return NULL;
    }
    if (!mount_db)
        return strdup(cfg->db_file);
    /* standing in one registry's mount while another is configured (an exported
     * DEARDIARY_DB_FILE, a nested run): either guess could be the wrong registry */
    if (cfg->db_file_configured && !same_registry(mount_db, cfg->db_file)) {
        char *shown = dd_cmd_shown(cfg->db_file);
        fprintf(stderr, "deardiary %s: the current directory is in the mount of %s, but the "
                        "configured database is %s: say which with --db\n", cmd, mount_db,
                shown ? shown : "another");
        free(shown);
        free(mount_db);
        return NULL;
    }
    return mount_db;
}

int dd_cmd_open_existing(const dd_config *cfg, const char *path, const char *cmd,
                         dd_store **out)
{
    /* opening a store creates a missing file: only init and mount may (a URI names a
     * database on a server, which opening never creates) */
    if (!dd_locator_is_uri(path) && access(path, F_OK) != 0) {
        int e = errno;
        fprintf(stderr, "deardiary %s: %s: %s%s%s%s\n", cmd, path, strerror(e),
                e == ENOENT ? " (create a registry with `deardiary init " : "",
                e == ENOENT ? path : "", e == ENOENT ? "`)" : "");
        return -1;
    }
    return dd_cmd_open_store(cfg, path, out);
}

int dd_cmd_iteration_arg(const char *text, const char *cmd, int64_t *id_out, char **db_out)
{
    dd_located loc;
    const char *idtext = text;
    *db_out = NULL;
    int found = dd_locate_path(text, &loc);
    if (found < 0)
        return -1;
    if (found) {
        const char *slash = strrchr(loc.rel, '/');
        idtext = slash ? slash + 1 : loc.rel;
        if (strncmp(loc.rel, "projects/", 9) != 0 || !strstr(loc.rel, "/iterations/")) {
            fprintf(stderr, "deardiary %s: %s is not an iteration directory\n", cmd, text);
            dd_located_free(&loc);
            return -1;
        }
    }
    char *end;
    long long v = strtoll(idtext, &end, 10);
    int ok = *idtext >= '0' && *idtext <= '9' && !*end && v > 0;
    if (!ok)
        fprintf(stderr, "deardiary %s: \"%s\" is neither an iteration id nor an iteration's "
                        "directory in a mount\n", cmd, text);
    if (found && ok) {
        *db_out = loc.db;
        loc.db = NULL;
    }
    if (found)
        dd_located_free(&loc);
    *id_out = v;
    return ok ? 0 : -1;
}

int dd_cmd_check_store(dd_store *st, const char *path)
{
    dd_err err = {0};
    if (dd_store_quick_check(st, &err) != DD_OK) {
        (void)path;
        fprintf(stderr, "deardiary: %s: not a valid DearDiary database: %s\n",
                dd_store_path(st), err.msg);
        return -1;
    }
    return 0;
}

dd_artifacts_config dd_cmd_artifacts_config(const dd_config *cfg)
{
    dd_artifacts_config ac = {.backend = cfg->artifact_backend, .fs_root = cfg->artifact_fs_root,
                              .inline_max = cfg->artifact_inline_max,
                              .auto_root = cfg->artifact_fs_root_configured
                                               ? cfg->artifact_fs_root : NULL,
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

/* init's line about a server registry's artifact root: where large artifacts go, and
 * what a cluster needs. */
static void say_artifact_root(dd_store *st, const char *root)
{
    char why[600];
    bool here = dd_artifacts_root_marked(st, root, why, sizeof why);
    printf("%s: artifacts larger than artifacts.inline_max go to %s%s%s%s; every node of a"
           " cluster must see that directory at that path (a shared NFS/Lustre root, given"
           " at init: --artifact-root DIR or artifacts.filesystem.root), or use"
           " artifacts.backend s3\n", dd_store_path(st), root,
           here ? "" : " (not reachable from this machine: ", here ? "" : why, here ? "" : ")");
}

/* A server registry's artifact root at init (docs/CONFIGURATION.md "Where artifacts go"):
 * the one recorded stays (another `--artifact-root` is refused); else `want` (the option,
 * else the configured artifacts.filesystem.root), else the default under XDG_DATA_HOME, is
 * created with its marker and recorded. An explicit other backend records nothing unless
 * the option asks. 0, or -1 after saying why. */
static int init_artifact_root(const dd_config *cfg, dd_store *st, const char *option)
{
    dd_err err = {0};
    char *have = NULL, *want = NULL, *got = NULL;
    const char *wanted = option ? option
                       : cfg->artifact_fs_root_configured ? cfg->artifact_fs_root : NULL;
    dd_code code = dd_artifacts_recorded_root(st, &have, &err);
    bool record = option || strcmp(cfg->artifact_backend, "auto") == 0;
    if (code == DD_OK && have && option &&
        !((want = realpath(option, NULL)) && strcmp(want, have) == 0)) {
        fprintf(stderr, "deardiary init: %s records its artifact root %s already; it is not"
                " changed by init: set artifacts.filesystem.root on every node (a configured"
                " root wins over the recorded one), and move the existing files with"
                " `deardiary migrate-artifacts` (docs/CONFIGURATION.md)\n",
                dd_store_path(st), have);
        free(want);
        free(have);
        return -1;
    }
    free(want);
    want = NULL;
    if (code == DD_OK && !have && record && !wanted)
        code = dd_artifacts_default_root(st, &want, &err);
    if (code == DD_OK && !have && record)
        code = dd_artifacts_record_root(st, wanted ? wanted : want, &got, &err);
    if (code == DD_OK && (have || got))
        say_artifact_root(st, have ? have : got);
    if (code != DD_OK)
        fprintf(stderr, "deardiary init: the artifact root: %s\n", err.msg);
    free(have);
    free(want);
    free(got);
    return code == DD_OK ? 0 : -1;
}

int dd_cmd_init(const char *config_file, int argc, char **argv)
{
    const char *root = NULL;
    if (argc >= 3 && strcmp(argv[1], "--artifact-root") == 0) {
        root = argv[2];
        argc -= 2;
        argv += 2;
    }
    if (argc > 2 || (argc == 2 && argv[1][0] == '-') || (root && !*root)) {
        bool help = argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0);
        fprintf(help ? stdout : stderr,
                "usage: deardiary init [--artifact-root DIR] [DB]\n"
                "Creates the database (default: the configured `database`) or applies"
                " pending migrations.\n"
                "A PostgreSQL registry records where large artifacts go: DIR, else the"
                " configured\nartifacts.filesystem.root, else"
                " $XDG_DATA_HOME/deardiary/artifacts/<uuid> on this machine.\n");
        return help ? 0 : 2;
    }
    dd_config cfg;
    if (dd_cmd_load_config(&cfg, config_file) != 0)
        return 1;
    const char *path = argc == 2 ? argv[1] : cfg.db_file;
    if (root && !dd_locator_is_uri(path)) {
        fprintf(stderr, "deardiary init: --artifact-root is for a PostgreSQL registry; a"
                " SQLite registry keeps its large artifacts beside its file (or under a"
                " configured artifacts.filesystem.root)\n");
        dd_config_free(&cfg);
        return 2;
    }
    dd_store *st = NULL;
    int rc = dd_cmd_open_store(&cfg, path, &st);
    if (rc == 0)
        rc = dd_cmd_check_store(st, path);
    if (rc == 0) {
        int version = 0;
        dd_err err = {0};
        dd_schema_version(st, &version, &err);
        printf("%s: schema version %d\n", dd_store_path(st), version);
    }
    if (rc == 0 && dd_locator_is_uri(path))
        rc = init_artifact_root(&cfg, st, root);
    dd_store_close(st);
    dd_config_free(&cfg);
    return rc == 0 ? 0 : 1;
}

/* `deardiary config` of a server registry: the artifact root it records (a YAML comment:
 * it is the registry's, not a key of this file) and whether this node uses it. Read-only;
 * the registry is never created or migrated here. */
static void print_recorded_root(const dd_config *cfg)
{
    dd_store_options opts = {.busy_timeout_ms = (int)cfg->busy_timeout_ms, .read_only = true,
                             .journal_dir = cfg->metrics_journal_dir};
    dd_store *st = NULL;
    dd_err err = {0};
    char *root = NULL, why[600] = "";
    dd_code code = dd_store_open(cfg->db_file, &opts, &st, &err);
    if (code == DD_OK)
        code = dd_artifacts_recorded_root(st, &root, &err);
    if (code == DD_OK && root)
        dd_artifacts_root_marked(st, root, why, sizeof why);
    printf("# the registry's recorded artifact root (deardiary init; artifacts.backend auto"
           " uses it\n# when artifacts.filesystem.root is not set): ");
    for (char *nl = strchr(err.msg, '\n'); nl; nl = strchr(nl, '\n'))
        *nl = ' ';      /* one comment line */
    if (code != DD_OK)
        printf("unknown, the registry cannot be read: %s\n", err.msg);
    else if (!root)
        printf("none\n");
    else
        printf("%s (%s%s)\n", root, why[0] ? "not used on this node: " : "reachable here",
               why);
    free(root);
    dd_store_close(st);
}

int dd_cmd_config(const char *config_file, int argc, char **argv)
{
    if (argc > 1) {
        bool help = strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0;
        fprintf(help ? stdout : stderr,
                "usage: deardiary [--config FILE] config\n"
                "\n"
                "Prints the effective configuration as YAML, every key: the built-in defaults,\n"
                "overridden by the config file (--config FILE or $DEARDIARY_CONFIG), then by\n"
                "DEARDIARY_* variables. The output is a valid config file; a secret key is\n"
                "shown as ***. Keys and variables: docs/CONFIGURATION.md. For a PostgreSQL\n"
                "`database`, a last comment gives the artifact root the registry records.\n");
        return help ? 0 : 2;
    }
    dd_config cfg;
    if (dd_cmd_load_config(&cfg, config_file) != 0)
        return 1;
    dd_config_print(&cfg, stdout);
    if (dd_locator_is_uri(cfg.db_file))
        print_recorded_root(&cfg);
    dd_config_free(&cfg);
    return 0;
}
