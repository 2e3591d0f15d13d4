/*
 * test_config.c - the configuration module (mount/config.c): defaults, the YAML file and
 * its error messages, DEARDIARY_* variables, dd_config_set, printing, and the precedence
 * options > environment > file > defaults.
 *
 * Environments are passed as explicit envp arrays, so the test never depends on (or
 * changes) the environment it runs in.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"

static char tmpdir[1024];   /* short enough that every path built on it fits PATH_MAX */

/* Writes `text` to <tmpdir>/<name> and returns the path (a static buffer per call site). */
static const char *write_file(char *path, size_t len, const char *name, const char *text)
{
    snprintf(path, len, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(2);
    }
    fputs(text, f);
    if (fclose(f) != 0) {
        perror(path);
        exit(2);
    }
    return path;
}

static bool contains(const char *haystack, const char *needle)
{
    return strstr(haystack, needle) != NULL;
}

/* A NULL-terminated envp holding only the given "K=V" strings. */
#define ENV(...) ((char *const[]){__VA_ARGS__, NULL})

static char *const no_env[] = {NULL};

static void test_defaults(void)
{
    dd_config cfg;
    dd_config_defaults(&cfg);
    char cwd[PATH_MAX], root[PATH_MAX + 32];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    snprintf(root, sizeof root, "%s/deardiary_artifacts", cwd);

    CHECK_STR(cfg.db_file, "deardiary.db");
    CHECK(!cfg.db_file_configured);   /* the default names no registry for run/restore */
    CHECK(cfg.busy_timeout_ms == 30000);
    CHECK_STR(cfg.log_level, "info");
    CHECK_STR(cfg.artifact_backend, "auto");   /* inline, large artifacts in files */
    CHECK(cfg.artifact_inline_max == 262144);
    CHECK_STR(cfg.artifact_fs_root, root);
    CHECK(!cfg.artifact_fs_root_configured);   /* "auto" then goes beside the database */
    CHECK_STR(cfg.s3_endpoint, "");
    CHECK_STR(cfg.s3_bucket, "");
    CHECK_STR(cfg.s3_region, "us-east-1");
    CHECK_STR(cfg.s3_access_key, "");
    CHECK_STR(cfg.s3_secret_key, "");
    CHECK(cfg.s3_multipart_threshold == 2147483648LL);
    CHECK(cfg.s3_part_size == 16777216);
    CHECK(cfg.mount_threads == 4);
    CHECK(cfg.mount_foreground == false);
    CHECK_STR(cfg.mount_options, "");
    dd_config_free(&cfg);
    CHECK(cfg.db_file == NULL && cfg.s3_secret_key == NULL);
    dd_config_free(&cfg);   /* twice is fine */

    /* No file and no environment: load gives exactly the defaults. */
    char err[256] = "";
    CHECK(dd_config_load(&cfg, NULL, NULL, err, sizeof err) == 0);
    CHECK_STR(cfg.db_file, "deardiary.db");
    CHECK_STR(cfg.artifact_fs_root, root);
    CHECK(cfg.mount_threads == 4);
    dd_config_free(&cfg);
}

static const char full_yaml[] =
    "# a complete configuration\n"
    "database: /var/lib/deardiary/registry.db\n"
    "busy_timeout_ms: 1500\n"
    "log_level: debug\n"
    "artifacts:\n"
    "  backend: s3\n"
    "  filesystem:\n"
    "    root: /srv/artifacts\n"
    "  s3:\n"
    "    endpoint: http://127.0.0.1:4569\n"
    "    bucket: models\n"
    "    region: eu-west-3\n"
    "    access_key: AKIAEXAMPLE\n"
    "    secret_key: \"s3cr3t: with colon\"\n"
    "    multipart_threshold: 104857600\n"
    "    part_size: 8388608\n"
    "mount:\n"
    "  threads: 4\n"
    "  foreground: yes\n"
    "  options: \"allow_other,default_permissions\"\n";

static void check_full(const dd_config *cfg)
{
    CHECK_STR(cfg->db_file, "/var/lib/deardiary/registry.db");
    CHECK(cfg->busy_timeout_ms == 1500);
    CHECK_STR(cfg->log_level, "debug");
    CHECK_STR(cfg->artifact_backend, "s3");
    CHECK_STR(cfg->artifact_fs_root, "/srv/artifacts");
    CHECK_STR(cfg->s3_endpoint, "http://127.0.0.1:4569");
    CHECK_STR(cfg->s3_bucket, "models");
    CHECK_STR(cfg->s3_region, "eu-west-3");
    CHECK_STR(cfg->s3_access_key, "AKIAEXAMPLE");
    CHECK(cfg->s3_multipart_threshold == 104857600);
    CHECK(cfg->s3_part_size == 8388608);
    CHECK(cfg->mount_threads == 4);
    CHECK(cfg->mount_foreground == true);
    CHECK_STR(cfg->mount_options, "allow_other,default_permissions");
}

static void test_full_file(void)
{
    char path[PATH_MAX], err[256] = "";
    write_file(path, sizeof path, "full.yaml", full_yaml);
    dd_config cfg;
    int rc = dd_config_load(&cfg, path, no_env, err, sizeof err);
    CHECK(rc == 0);
    if (rc != 0) {
        fprintf(stderr, "  load: %s\n", err);
        return;
    }
    check_full(&cfg);
    CHECK_STR(cfg.s3_secret_key, "s3cr3t: with colon");
    dd_config_free(&cfg);
}

/* Loads `yaml` and expects failure with a message holding "<file>:<line>:" and `what`. */
static void expect_file_error(const char *name, const char *yaml, int line, const char *what)
{
    char path[PATH_MAX], err[512] = "", where[PATH_MAX + 32];
    write_file(path, sizeof path, name, yaml);
    snprintf(where, sizeof where, "%s:%d: ", path, line);
    dd_config cfg;
    CHECK(dd_config_load(&cfg, path, no_env, err, sizeof err) == -1);
    bool ok = contains(err, where) && contains(err, what);
    CHECK(ok);
    if (!ok)
        fprintf(stderr, "  %s: wanted \"%s\" and \"%s\" in: %s\n", name, where, what, err);
    /* A failed load leaves nothing to free. */
    CHECK(cfg.db_file == NULL && cfg.artifact_fs_root == NULL && cfg.mount_options == NULL);
}

static void test_file_errors(void)
{
    /* Unknown keys, at every depth, name the full path. */
    expect_file_error("unknown.yaml",
                      "database: x.db\n"
                      "artifacts:\n"
                      "  backend: s3\n"
                      "  s3:\n"
                      "    endpoint: http://h\n"
                      "    region: r\n"
                      "    buckett: models\n",
                      7, "unknown key \"artifacts.s3.buckett\"");
    expect_file_error("unknown_top.yaml", "\n\ndb_file: x.db\n", 3, "unknown key \"db_file\"");
    expect_file_error("unknown_section.yaml", "mount:\n  threads: 2\nfuse:\n  debug: 1\n", 3,
                      "unknown key \"fuse\"");
    /* A dotted name is not a shortcut for nesting. */
    expect_file_error("dotted.yaml", "artifacts.backend: s3\n", 1,
                      "unknown key \"artifacts.backend\"");

    /* Wrong shapes. */
    expect_file_error("map_for_scalar.yaml", "log_level: info\nmount:\n  threads:\n    n: 3\n",
                      4, "mount.threads: expected a single value, got a mapping");
    expect_file_error("list_for_scalar.yaml", "database: [a, b]\n", 1,
                      "database: expected a single value, got a list");
    expect_file_error("scalar_for_map.yaml", "artifacts: s3\n", 1,
                      "artifacts: expected a mapping of keys, got a single value");
    expect_file_error("top_list.yaml", "- database\n", 1, "expected a mapping of keys");
    expect_file_error("alias.yaml", "database: &d x.db\nmount:\n  options: *d\n", 3,
                      "mount.options: expected a single value, got an alias");

    /* Wrong values. */
    expect_file_error("int_abc.yaml", "busy_timeout_ms: abc\n", 1,
                      "busy_timeout_ms: expected a decimal integer, got \"abc\"");
    expect_file_error("int_hex.yaml", "mount:\n  threads: 0x10\n", 2,
                      "mount.threads: expected a decimal integer, got \"0x10\"");
    expect_file_error("int_space.yaml", "mount:\n  threads: \" 4\"\n", 2,
                      "expected a decimal integer");
    expect_file_error("int_empty.yaml", "mount:\n  threads:\n", 2,
                      "mount.threads: expected a decimal integer, got \"\"");
    expect_file_error("threads_zero.yaml", "mount:\n  threads: 0\n", 2,
                      "mount.threads: must be between 1 and 1024, got 0");
    expect_file_error("threads_neg.yaml", "mount:\n  foreground: no\n  threads: -3\n", 3,
                      "mount.threads: must be between 1 and 1024, got -3");
    expect_file_error("int_overflow.yaml", "busy_timeout_ms: 99999999999999999999999\n", 1,
                      "busy_timeout_ms: must be between 1 and");
    expect_file_error("part_small.yaml", "artifacts:\n  s3:\n    part_size: 1024\n", 3,
                      "artifacts.s3.part_size: must be between 5242880 and 5368709120");
    expect_file_error("bool_maybe.yaml", "mount:\n  foreground: maybe\n", 2,
                      "mount.foreground: expected true/false, yes/no, on/off or 1/0, got \"maybe\"");
    expect_file_error("backend.yaml", "artifacts:\n  backend: gcs\n", 2,
                      "artifacts.backend: expected one of auto, inline, filesystem, s3; got \"gcs\"");
    expect_file_error("log_level.yaml", "log_level: verbose\n", 1,
                      "log_level: expected one of error, warn, info, debug; got \"verbose\"");
    expect_file_error("empty_db.yaml", "database: \"\"\n", 1, "database: must not be empty");

    /* Syntax errors and duplicates. */
    expect_file_error("syntax.yaml", "database: x.db\nmount:\n  threads: 3\n foreground: on\n", 4,
                      "YAML syntax error");
    expect_file_error("syntax_quote.yaml", "database: \"x.db\nlog_level: info\n", 3,
                      "YAML syntax error");
    expect_file_error("dup_leaf.yaml", "mount:\n  threads: 3\n  threads: 4\n", 3,
                      "duplicate key \"mount.threads\" (first on line 2)");
    expect_file_error("dup_section.yaml", "mount:\n  threads: 3\nlog_level: info\nmount:\n"
                      "  foreground: on\n", 4, "duplicate key \"mount\" (first on line 1)");
    expect_file_error("two_docs.yaml", "database: a.db\n---\ndatabase: b.db\n", 2,
                      "second YAML document");
}

static void test_empty_and_missing(void)
{
    char path[PATH_MAX], err[512] = "";
    dd_config cfg;
    const char *empties[] = {"", "# only a comment\n\n", "---\n", "artifacts:\nmount: ~\n"};
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
        write_file(path, sizeof path, "empty.yaml", empties[i]);
        int rc = dd_config_load(&cfg, path, no_env, err, sizeof err);
        CHECK(rc == 0);
        if (rc != 0) {
            fprintf(stderr, "  empty file %zu: %s\n", i, err);
            continue;
        }
        CHECK_STR(cfg.db_file, "deardiary.db");
        CHECK(cfg.mount_threads == 4);
        dd_config_free(&cfg);
    }

    /* A YAML null empties a string key; quoted, "~" is just text. */
    write_file(path, sizeof path, "nulls.yaml",
               "artifacts:\n  s3:\n    bucket: ~\n    endpoint:\n    access_key: \"~\"\n");
    CHECK(dd_config_load(&cfg, path, ENV("DEARDIARY_ARTIFACT_S3_BUCKET=b"), err, sizeof err) == 0);
    CHECK_STR(cfg.s3_bucket, "b");   /* and the environment still overrides it */
    CHECK_STR(cfg.s3_endpoint, "");
    CHECK_STR(cfg.s3_access_key, "~");
    dd_config_free(&cfg);
    CHECK(dd_config_load(&cfg, path, no_env, err, sizeof err) == 0);
    CHECK_STR(cfg.s3_bucket, "");
    dd_config_free(&cfg);

    snprintf(path, sizeof path, "%s/no-such-config.yaml", tmpdir);
    CHECK(dd_config_load(&cfg, path, no_env, err, sizeof err) == -1);
    CHECK(contains(err, path) && contains(err, "No such file"));

    /* A missing file named by DEARDIARY_CONFIG is an error too, and says so. */
    char var[PATH_MAX + 32];
    snprintf(var, sizeof var, "DEARDIARY_CONFIG=%s", path);
    CHECK(dd_config_load(&cfg, NULL, ENV(var), err, sizeof err) == -1);
    CHECK(contains(err, path) && contains(err, "DEARDIARY_CONFIG"));

    /* A directory is not a config file. */
    CHECK(dd_config_load(&cfg, tmpdir, no_env, err, sizeof err) == -1);
    CHECK(contains(err, tmpdir) && contains(err, "directory"));
}

static void test_env(void)
{
    char path[PATH_MAX], err[512] = "";
    write_file(path, sizeof path, "env.yaml", full_yaml);
    dd_config cfg;

    /* Every variable overrides the file. */
    int rc = dd_config_load(&cfg, path,
                            ENV("PATH=/usr/bin", "DEARDIARY_DB_FILE=/tmp/env.db",
                                "DEARDIARY_BUSY_TIMEOUT_MS=250", "DEARDIARY_LOG_LEVEL=WARN",
                                "DEARDIARY_ARTIFACT_BACKEND=filesystem",
                                "DEARDIARY_ARTIFACT_FS_ROOT=/data/art",
                                "DEARDIARY_ARTIFACT_INLINE_MAX=0",
                                "DEARDIARY_ARTIFACT_S3_ENDPOINT=https://s3.example",
                                "DEARDIARY_ARTIFACT_S3_BUCKET=b2",
                                "DEARDIARY_ARTIFACT_S3_REGION=ap-south-1",
                                "DEARDIARY_ARTIFACT_S3_ACCESS_KEY=AK2",
                                "DEARDIARY_ARTIFACT_S3_SECRET_KEY=SK2",
                                "DEARDIARY_ARTIFACT_S3_MULTIPART_THRESHOLD=1000",
                                "DEARDIARY_ARTIFACT_S3_PART_SIZE=6291456",
                                "DEARDIARY_MOUNT_THREADS=7", "DEARDIARY_UNRELATED=1"),
                            err, sizeof err);
    CHECK(rc == 0);
    if (rc != 0) {
        fprintf(stderr, "  env: %s\n", err);
        return;
    }
    CHECK_STR(cfg.db_file, "/tmp/env.db");
    CHECK(cfg.db_file_configured);
    CHECK(cfg.busy_timeout_ms == 250);
    CHECK_STR(cfg.log_level, "warn");   /* stored in canonical spelling */
    CHECK_STR(cfg.artifact_backend, "filesystem");
    CHECK_STR(cfg.artifact_fs_root, "/data/art");
    CHECK(cfg.artifact_fs_root_configured);
    CHECK(cfg.artifact_inline_max == 0);
    CHECK_STR(cfg.s3_endpoint, "https://s3.example");
    CHECK_STR(cfg.s3_bucket, "b2");
    CHECK_STR(cfg.s3_region, "ap-south-1");
    CHECK_STR(cfg.s3_access_key, "AK2");
    CHECK_STR(cfg.s3_secret_key, "SK2");
    CHECK(cfg.s3_multipart_threshold == 1000);
    CHECK(cfg.s3_part_size == 6291456);
    CHECK(cfg.mount_threads == 7);
    CHECK(cfg.mount_foreground == true);   /* no variable: the file's value stands */
    dd_config_free(&cfg);

    /* An empty variable is a value, not "unset": it empties a string key. */
    CHECK(dd_config_load(&cfg, path, ENV("DEARDIARY_ARTIFACT_S3_BUCKET="), err, sizeof err) == 0);
    CHECK_STR(cfg.s3_bucket, "");
    dd_config_free(&cfg);

    /* The first of two same-named entries counts, as with getenv(). */
    CHECK(dd_config_load(&cfg, NULL, ENV("DEARDIARY_MOUNT_THREADS=2", "DEARDIARY_MOUNT_THREADS=3"),
                         err, sizeof err) == 0);
    CHECK(cfg.mount_threads == 2);
    dd_config_free(&cfg);

    /* A relative root from the environment is made absolute. */
    char cwd[PATH_MAX], want[PATH_MAX + 32];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    snprintf(want, sizeof want, "%s/rel/art", cwd);
    CHECK(dd_config_load(&cfg, NULL, ENV("DEARDIARY_ARTIFACT_FS_ROOT=./rel/art"), err,
                         sizeof err) == 0);
    CHECK_STR(cfg.artifact_fs_root, want);
    dd_config_free(&cfg);

    /* The s3 spool directory: unset is "" (the backend then uses $TMPDIR or /var/tmp),
     * a relative one is made absolute like the root, an absolute one stays. */
    CHECK(dd_config_load(&cfg, NULL, ENV("PATH=/usr/bin"), err, sizeof err) == 0);
    CHECK_STR(cfg.s3_spool_dir, "");
    dd_config_free(&cfg);
    snprintf(want, sizeof want, "%s/spool", cwd);
    CHECK(dd_config_load(&cfg, NULL, ENV("DEARDIARY_ARTIFACT_S3_SPOOL_DIR=spool"), err,
                         sizeof err) == 0);
    CHECK_STR(cfg.s3_spool_dir, want);
    dd_config_free(&cfg);
    CHECK(dd_config_load(&cfg, NULL, ENV("DEARDIARY_ARTIFACT_S3_SPOOL_DIR=/srv/spool"), err,
                         sizeof err) == 0);
    CHECK_STR(cfg.s3_spool_dir, "/srv/spool");
    dd_config_free(&cfg);

    /* The metric journal directory: unset is "" (the engine's default), a relative one
     * from the environment is made absolute, and the file's key sets it too. */
    CHECK(dd_config_load(&cfg, NULL, ENV("PATH=/usr/bin"), err, sizeof err) == 0);
    CHECK_STR(cfg.metrics_journal_dir, "");
    dd_config_free(&cfg);
    snprintf(want, sizeof want, "%s/journals", cwd);
    CHECK(dd_config_load(&cfg, NULL, ENV("DEARDIARY_METRICS_JOURNAL_DIR=journals"), err,
                         sizeof err) == 0);
    CHECK_STR(cfg.metrics_journal_dir, want);
    dd_config_free(&cfg);
    char yaml[PATH_MAX];
    write_file(yaml, sizeof yaml, "journal_dir.yaml",
               "metrics:\n  journal_dir: /var/lib/deardiary/journal\n");
    CHECK(dd_config_load(&cfg, yaml, ENV("PATH=/usr/bin"), err, sizeof err) == 0);
    CHECK_STR(cfg.metrics_journal_dir, "/var/lib/deardiary/journal");
    dd_config_free(&cfg);

    /* metrics.close_waits: "engine" unless set (the engine decides, fs/vfs.h); the
     * environment and the file set it; anything else is refused (test_env_errors). */
    CHECK(dd_config_load(&cfg, NULL, ENV("PATH=/usr/bin"), err, sizeof err) == 0);
    CHECK_STR(cfg.metrics_close_waits, "engine");
    dd_config_free(&cfg);
    CHECK(dd_config_load(&cfg, NULL, ENV("DEARDIARY_METRICS_CLOSE_WAITS=Journal"), err,
                         sizeof err) == 0);
    CHECK_STR(cfg.metrics_close_waits, "journal");
    dd_config_free(&cfg);
    write_file(yaml, sizeof yaml, "close_waits.yaml", "metrics:\n  close_waits: commit\n");
    CHECK(dd_config_load(&cfg, yaml, ENV("PATH=/usr/bin"), err, sizeof err) == 0);
    CHECK_STR(cfg.metrics_close_waits, "commit");
    dd_config_free(&cfg);
}

/* A bad variable fails the load with a message naming the variable and the problem. */
static void expect_env_error(char *var, const char *name, const char *what)
{
    char err[512] = "";
    dd_config cfg;
    CHECK(dd_config_load(&cfg, NULL, ENV(var), err, sizeof err) == -1);
    bool ok = contains(err, name) && contains(err, what);
    CHECK(ok);
    if (!ok)
        fprintf(stderr, "  %s: wanted \"%s\" and \"%s\" in: %s\n", var, name, what, err);
    CHECK(cfg.db_file == NULL);
}

static void test_env_errors(void)
{
    expect_env_error("DEARDIARY_METRICS_CLOSE_WAITS=never",
                     "environment variable DEARDIARY_METRICS_CLOSE_WAITS",
                     "expected one of engine, commit, journal");
    expect_env_error("DEARDIARY_MOUNT_THREADS=ten", "environment variable DEARDIARY_MOUNT_THREADS",
                     "expected a decimal integer, got \"ten\"");
    expect_env_error("DEARDIARY_MOUNT_THREADS=0", "DEARDIARY_MOUNT_THREADS",
                     "must be between 1 and 1024");
    expect_env_error("DEARDIARY_BUSY_TIMEOUT_MS=-5", "DEARDIARY_BUSY_TIMEOUT_MS",
                     "must be between 1 and");
    expect_env_error("DEARDIARY_ARTIFACT_BACKEND=ftp", "DEARDIARY_ARTIFACT_BACKEND",
                     "got \"ftp\"");
    expect_env_error("DEARDIARY_LOG_LEVEL=loud", "DEARDIARY_LOG_LEVEL", "got \"loud\"");
    expect_env_error("DEARDIARY_DB_FILE=", "DEARDIARY_DB_FILE", "must not be empty");
    expect_env_error("DEARDIARY_ARTIFACT_S3_PART_SIZE=16MiB", "DEARDIARY_ARTIFACT_S3_PART_SIZE",
                     "expected a decimal integer");
}

static void test_config_file_variable(void)
{
    char a[PATH_MAX], b[PATH_MAX], var[PATH_MAX + 32], err[512] = "";
    write_file(a, sizeof a, "a.yaml", "database: a.db\n");
    write_file(b, sizeof b, "b.yaml", "database: b.db\n");
    snprintf(var, sizeof var, "DEARDIARY_CONFIG=%s", a);
    dd_config cfg;

    CHECK(dd_config_load(&cfg, NULL, ENV(var), err, sizeof err) == 0);
    CHECK_STR(cfg.db_file, "a.db");
    CHECK(cfg.db_file_configured);
    dd_config_free(&cfg);

    /* An explicit file wins over DEARDIARY_CONFIG. */
    CHECK(dd_config_load(&cfg, b, ENV(var), err, sizeof err) == 0);
    CHECK_STR(cfg.db_file, "b.db");
    dd_config_free(&cfg);

    /* An empty DEARDIARY_CONFIG means no file. */
    CHECK(dd_config_load(&cfg, NULL, ENV("DEARDIARY_CONFIG="), err, sizeof err) == 0);
    CHECK_STR(cfg.db_file, "deardiary.db");
    CHECK(!cfg.db_file_configured);
    dd_config_free(&cfg);
}

static void test_set(void)
{
    char err[512] = "";
    dd_config cfg;
    CHECK(dd_config_load(&cfg, NULL, no_env, err, sizeof err) == 0);

    CHECK(dd_config_set(&cfg, "artifacts.backend", "s3", err, sizeof err) == 0);
    CHECK_STR(cfg.artifact_backend, "s3");
    CHECK(dd_config_set(&cfg, "mount.threads", "32", err, sizeof err) == 0);
    CHECK(cfg.mount_threads == 32);
    CHECK(dd_config_set(&cfg, "mount.foreground", "ON", err, sizeof err) == 0);
    CHECK(cfg.mount_foreground == true);
    CHECK(dd_config_set(&cfg, "mount.foreground", "0", err, sizeof err) == 0);
    CHECK(cfg.mount_foreground == false);
    CHECK(dd_config_set(&cfg, "artifacts.s3.part_size", "5242880", err, sizeof err) == 0);
    CHECK(cfg.s3_part_size == 5242880);
    CHECK(dd_config_set(&cfg, "mount.options", "ro,allow_other", err, sizeof err) == 0);
    CHECK_STR(cfg.mount_options, "ro,allow_other");
    CHECK(!cfg.artifact_fs_root_configured);
    CHECK(dd_config_set(&cfg, "artifacts.filesystem.root", "/abs/root", err, sizeof err) == 0);
    CHECK_STR(cfg.artifact_fs_root, "/abs/root");
    CHECK(cfg.artifact_fs_root_configured);
    CHECK(dd_config_set(&cfg, "artifacts.inline_max", "1048576", err, sizeof err) == 0);
    CHECK(cfg.artifact_inline_max == 1048576);
    CHECK(dd_config_set(&cfg, "artifacts.inline_max", "-1", err, sizeof err) == -1);
    CHECK(contains(err, "artifacts.inline_max: must be between 0 and 1099511627776, got -1"));
    CHECK(cfg.artifact_inline_max == 1048576);
    CHECK(dd_config_set(&cfg, "artifacts.backend", "AUTO", err, sizeof err) == 0);
    CHECK_STR(cfg.artifact_backend, "auto");
    CHECK(dd_config_set(&cfg, "artifacts.backend", "s3", err, sizeof err) == 0);
    CHECK(!cfg.db_file_configured);
    CHECK(dd_config_set(&cfg, "database", "x.db", err, sizeof err) == 0);
    CHECK(cfg.db_file_configured);

    /* Failures name the key and leave the value alone. */
    CHECK(dd_config_set(&cfg, "artifacts.backend", "tape", err, sizeof err) == -1);
    CHECK(contains(err, "artifacts.backend: expected one of auto, inline, filesystem, s3; got \"tape\""));
    CHECK_STR(cfg.artifact_backend, "s3");
    CHECK(dd_config_set(&cfg, "mount.threads", "-1", err, sizeof err) == -1);
    CHECK(contains(err, "mount.threads: must be between 1 and 1024, got -1"));
    CHECK(cfg.mount_threads == 32);
    CHECK(dd_config_set(&cfg, "mount.threads", "12abc", err, sizeof err) == -1);
    CHECK(cfg.mount_threads == 32);
    CHECK(dd_config_set(&cfg, "mount.foreground", "maybe", err, sizeof err) == -1);
    CHECK(contains(err, "mount.foreground"));
    CHECK(dd_config_set(&cfg, "mount.threadz", "3", err, sizeof err) == -1);
    CHECK(contains(err, "unknown key \"mount.threadz\""));
    CHECK(dd_config_set(&cfg, "mount", "3", err, sizeof err) == -1);   /* a section */
    CHECK(contains(err, "unknown key \"mount\""));

    /* No error buffer, or a tiny one, is safe. */
    CHECK(dd_config_set(&cfg, "log_level", "nope", NULL, 0) == -1);
    char tiny[8];
    CHECK(dd_config_set(&cfg, "log_level", "nope", tiny, sizeof tiny) == -1);
    CHECK(strlen(tiny) == sizeof tiny - 1);
    dd_config_free(&cfg);
}

/* options > environment > file > defaults, key by key. */
static void test_precedence(void)
{
    char path[PATH_MAX], err[512] = "";
    write_file(path, sizeof path, "prec.yaml",
               "log_level: warn\n"
               "busy_timeout_ms: 2000\n"
               "mount:\n"
               "  threads: 4\n");
    dd_config cfg;
    CHECK(dd_config_load(&cfg, path, ENV("DEARDIARY_BUSY_TIMEOUT_MS=3000",
                                         "DEARDIARY_MOUNT_THREADS=6"), err, sizeof err) == 0);
    CHECK(dd_config_set(&cfg, "mount.threads", "8", err, sizeof err) == 0);

    CHECK_STR(cfg.db_file, "deardiary.db");   /* defaults only */
    CHECK_STR(cfg.log_level, "warn");         /* file over default */
    CHECK(cfg.busy_timeout_ms == 3000);       /* environment over file */
    CHECK(cfg.mount_threads == 8);            /* option over environment */
    dd_config_free(&cfg);
}

/* The printed configuration loads back to the same values, without the secret. */
static void test_print(void)
{
    char in[PATH_MAX], out[PATH_MAX], err[512] = "";
    write_file(in, sizeof in, "print_in.yaml", full_yaml);
    snprintf(out, sizeof out, "%s/print_out.yaml", tmpdir);
    dd_config cfg;
    CHECK(dd_config_load(&cfg, in, no_env, err, sizeof err) == 0);
    /* Values that YAML would misread unquoted must survive the round trip. */
    CHECK(dd_config_set(&cfg, "mount.options", "on", err, sizeof err) == 0);
    CHECK(dd_config_set(&cfg, "artifacts.s3.bucket", "~", err, sizeof err) == 0);

    FILE *f = fopen(out, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    dd_config_print(&cfg, f);
    CHECK(ferror(f) == 0);
    CHECK(fclose(f) == 0);
    dd_config_free(&cfg);

    char text[4096] = "";
    f = fopen(out, "r");
    CHECK(f != NULL);
    if (!f)
        return;
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    CHECK(contains(text, "secret_key: \"***\""));
    CHECK(!contains(text, "s3cr3t"));
    CHECK(contains(text, "artifacts:\n  backend: s3\n  inline_max: 262144\n  filesystem:\n    root: \"/srv/artifacts\"\n"));
    CHECK(contains(text, "mount:\n  threads: 4\n"));

    dd_config back;
    int rc = dd_config_load(&back, out, no_env, err, sizeof err);
    CHECK(rc == 0);
    if (rc != 0) {
        fprintf(stderr, "  reloading the printout: %s\n%s", err, text);
        return;
    }
    CHECK_STR(back.s3_secret_key, "***");
    CHECK_STR(back.s3_bucket, "~");
    CHECK(dd_config_set(&back, "mount.options", "allow_other,default_permissions", err,
                        sizeof err) == 0);
    CHECK(dd_config_set(&back, "artifacts.s3.bucket", "models", err, sizeof err) == 0);
    check_full(&back);
    dd_config_free(&back);

    /* An unset secret prints as empty, not as a misleading "***". */
    CHECK(dd_config_load(&cfg, NULL, no_env, err, sizeof err) == 0);
    f = fopen(out, "w+");
    CHECK(f != NULL);
    if (f) {
        dd_config_print(&cfg, f);
        rewind(f);
        n = fread(text, 1, sizeof text - 1, f);
        text[n] = '\0';
        fclose(f);
        CHECK(contains(text, "secret_key: \"\"\n"));
    }
    dd_config_free(&cfg);
}

/* A PostgreSQL URI as `database` prints without its password (issue 14: the URI never
 * appears with a password in `deardiary config`), still loads back as the same registry,
 * and a path prints as it is. */
static void test_print_database_uri(void)
{
    static const struct { const char *given, *shown; } cases[] = {
        {"postgresql://dd:s3cr3t@db.cluster:5432/registry?sslmode=require",
         "database: \"postgresql://dd@db.cluster:5432/registry?sslmode=require\""},
        {"postgres://u:p%40ss@h/r", "database: \"postgresql://u@h/r\""},
        {"postgresql://h/r?password=s3cr3t&application_name=x",
         "database: \"postgresql://h/r?application_name=x\""},
        {"/srv/registry.db", "database: \"/srv/registry.db\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512] = "", text[4096] = "";
        dd_config cfg;
        CHECK(dd_config_load(&cfg, NULL, no_env, err, sizeof err) == 0);
        CHECK(dd_config_set(&cfg, "database", cases[i].given, err, sizeof err) == 0);
        FILE *f = tmpfile();
        CHECK(f != NULL);
        if (f) {
            dd_config_print(&cfg, f);
            rewind(f);
            size_t n = fread(text, 1, sizeof text - 1, f);
            text[n] = '\0';
            fclose(f);
        }
        CHECK(contains(text, cases[i].shown));
        CHECK(!contains(text, "s3cr3t") && !contains(text, "p%40ss") && !contains(text, "p@ss"));
        dd_config_free(&cfg);
    }
}

/* users.map/unknown/mount_as: a YAML mapping or the text form, the same checks in every
 * layer, and a printout that loads back. */
static int collect_map(void *ctx, unsigned uid, const char *name)
{
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 256 - n, "[%u=%s]", uid, name);
    return 0;
}

static void test_users_keys(void)
{
    char path[PATH_MAX], err[512] = "", seen[256] = "";
    dd_config cfg;
    CHECK(dd_config_load(&cfg, NULL, no_env, err, sizeof err) == 0);
    CHECK_STR(cfg.users_map, "");
    CHECK_STR(cfg.users_unknown, "deny");
    CHECK_STR(cfg.users_mount_as, "default");
    dd_config_free(&cfg);

    write_file(path, sizeof path, "users.yaml",
               "users:\n  map:\n    1001: alice\n    \"1002\": bob\n  unknown: READ\n"
               "  mount_as: ops\n");
    CHECK(dd_config_load(&cfg, path, no_env, err, sizeof err) == 0);
    CHECK_STR(cfg.users_map, "1001:alice,1002:bob");
    CHECK_STR(cfg.users_unknown, "read");
    CHECK_STR(cfg.users_mount_as, "ops");
    CHECK(dd_config_users_map_each(cfg.users_map, collect_map, seen) == 0);
    CHECK_STR(seen, "[1001=alice][1002=bob]");

    /* the printout holds the text form, which loads back to the same map */
    char out[PATH_MAX];
    snprintf(out, sizeof out, "%s/users_out.yaml", tmpdir);
    FILE *f = fopen(out, "w");
    CHECK(f != NULL);
    if (f) {
        dd_config_print(&cfg, f);
        fclose(f);
        dd_config back;
        CHECK(dd_config_load(&back, out, no_env, err, sizeof err) == 0);
        CHECK_STR(back.users_map, "1001:alice,1002:bob");
        CHECK_STR(back.users_unknown, "read");
        dd_config_free(&back);
    }
    dd_config_free(&cfg);

    CHECK(dd_config_load(&cfg, path, ENV("DEARDIARY_USERS_MAP=7:carol",
                                         "DEARDIARY_USERS_UNKNOWN=deny"), err, sizeof err) == 0);
    CHECK_STR(cfg.users_map, "7:carol");
    CHECK_STR(cfg.users_unknown, "deny");
    CHECK(dd_config_set(&cfg, "users.map", "1001:x,1001:y", err, sizeof err) == -1);
    CHECK(contains(err, "users.map: uid 1001 is mapped twice"));
    CHECK(dd_config_set(&cfg, "users.mount_as", "", err, sizeof err) == -1);
    CHECK_STR(cfg.users_map, "7:carol");   /* unchanged by the refusals */
    CHECK_STR(cfg.users_mount_as, "ops");
    dd_config_free(&cfg);
    CHECK(dd_config_load(&cfg, NULL, ENV("DEARDIARY_USERS_MAP=alice"), err, sizeof err) == -1);
    CHECK(contains(err, "DEARDIARY_USERS_MAP: expected uid:username items"));

    expect_file_error("users_bad_uid.yaml", "users:\n  map:\n    abc: alice\n", 3,
                      "users.map: expected uid:username items separated by commas, got \"abc:alice\"");
    expect_file_error("users_dup.yaml", "users:\n  map: {5: a, 5: b}\n", 2,
                      "users.map: uid 5 is mapped twice");
    expect_file_error("users_list.yaml", "users:\n  map:\n    - alice\n", 3,
                      "users.map: expected a single value, got a list");
    expect_file_error("users_nested.yaml", "users:\n  map:\n    5: {a: b}\n", 3,
                      "users.map: expected uid: username pairs, got a mapping");
    expect_file_error("users_colon.yaml", "users:\n  map:\n    5: \"a:b\"\n", 3,
                      "users.map: expected uid: username pairs");
    expect_file_error("users_unknown.yaml", "users:\n  unknown: write\n", 2,
                      "users.unknown: expected one of deny, read; got \"write\"");
    expect_file_error("users_typo.yaml", "users:\n  maps: {}\n", 2,
                      "unknown key \"users.maps\"");
}

/* With the current directory deleted the default root cannot be made absolute: defaults
 * keep it relative, load reports it unless a layer gives an absolute root. */
static void test_no_cwd(void)
{
    char here[PATH_MAX], gone[PATH_MAX], err[512] = "";
    if (!getcwd(here, sizeof here)) {
        CHECK(!"getcwd");
        return;
    }
    snprintf(gone, sizeof gone, "%s/gone", tmpdir);
    mkdir(gone, 0755);
    if (chdir(gone) != 0 || rmdir(gone) != 0) {
        CHECK(!"cannot set up a deleted current directory");
        return;
    }
    dd_config cfg;
    dd_config_defaults(&cfg);
    CHECK_STR(cfg.artifact_fs_root, "deardiary_artifacts");
    dd_config_free(&cfg);

    CHECK(dd_config_load(&cfg, NULL, no_env, err, sizeof err) == -1);
    CHECK(contains(err, "artifacts.filesystem.root: cannot make \"deardiary_artifacts\" absolute"));

    CHECK(dd_config_load(&cfg, NULL, ENV("DEARDIARY_ARTIFACT_FS_ROOT=/abs"), err, sizeof err) == 0);
    CHECK_STR(cfg.artifact_fs_root, "/abs");
    CHECK(dd_config_set(&cfg, "artifacts.filesystem.root", "rel", err, sizeof err) == -1);
    CHECK_STR(cfg.artifact_fs_root, "/abs");
    dd_config_free(&cfg);

    CHECK(chdir(here) == 0);
}

/* The server.* keys of `deardiary serve`: defaults as the original's, its variable names
 * (DEARDIARY_HOST, _PORT, _ENABLE_AUTH, _JWT_SECRET, _CORS_ORIGINS), type and range checks. */
static void test_server_keys(void)
{
    dd_config cfg;
    char err[512], path[2048];
    CHECK(dd_config_load(&cfg, NULL, NULL, err, sizeof err) == 0);
    CHECK_STR(cfg.server_host, "127.0.0.1");
    CHECK(cfg.server_port == 9000);
    CHECK(cfg.server_enable_auth == false);
    CHECK_STR(cfg.server_jwt_secret, "deardiary_secret");
    CHECK_STR(cfg.server_cors_origins, "*");
    dd_config_free(&cfg);

    CHECK(dd_config_load(&cfg, NULL,
                         ENV("DEARDIARY_HOST=0.0.0.0", "DEARDIARY_PORT=8080",
                             "DEARDIARY_ENABLE_AUTH=true", "DEARDIARY_JWT_SECRET=s3cret",
                             "DEARDIARY_CORS_ORIGINS=https://a.example, https://b.example"),
                         err, sizeof err) == 0);
    CHECK_STR(cfg.server_host, "0.0.0.0");
    CHECK(cfg.server_port == 8080);
    CHECK(cfg.server_enable_auth == true);
    CHECK_STR(cfg.server_jwt_secret, "s3cret");
    CHECK_STR(cfg.server_cors_origins, "https://a.example, https://b.example");
    dd_config_free(&cfg);

    const char *f = write_file(path, sizeof path, "server.yaml",
                               "server:\n  port: 9100\n  threads: 2\n  enable_auth: yes\n");
    CHECK(dd_config_load(&cfg, f, NULL, err, sizeof err) == 0);
    CHECK(cfg.server_port == 9100 && cfg.server_threads == 2 && cfg.server_enable_auth);
    dd_config_free(&cfg);

    CHECK(dd_config_load(&cfg, NULL, ENV("DEARDIARY_PORT=70000"), err, sizeof err) == -1);
    CHECK(strstr(err, "DEARDIARY_PORT") != NULL);
    CHECK(dd_config_load(&cfg, NULL, ENV("DEARDIARY_ENABLE_AUTH=maybe"), err, sizeof err) == -1);
    CHECK(strstr(err, "DEARDIARY_ENABLE_AUTH") != NULL);
    /* server.token_ttl: seconds, 86400 as the original; 0, negative or absurd refused */
    CHECK(dd_config_load(&cfg, NULL, NULL, err, sizeof err) == 0);
    CHECK(cfg.server_token_ttl == 86400);
    dd_config_free(&cfg);
    CHECK(dd_config_load(&cfg, NULL, ENV("DEARDIARY_TOKEN_TTL=6"), err, sizeof err) == 0);
    CHECK(cfg.server_token_ttl == 6);
    dd_config_free(&cfg);
    f = write_file(path, sizeof path, "ttl.yaml", "server:\n  token_ttl: 3600\n");
    CHECK(dd_config_load(&cfg, f, NULL, err, sizeof err) == 0);
    CHECK(cfg.server_token_ttl == 3600);
    dd_config_free(&cfg);
    char *bad_ttl[] = {"DEARDIARY_TOKEN_TTL=0", "DEARDIARY_TOKEN_TTL=-60",
                       "DEARDIARY_TOKEN_TTL=4", "DEARDIARY_TOKEN_TTL=31536001",
                       "DEARDIARY_TOKEN_TTL=99999999999999999999", "DEARDIARY_TOKEN_TTL=1d"};
    for (size_t i = 0; i < sizeof bad_ttl / sizeof *bad_ttl; i++) {
        CHECK(dd_config_load(&cfg, NULL, ENV(bad_ttl[i]), err, sizeof err) == -1);
        CHECK(strstr(err, "DEARDIARY_TOKEN_TTL") != NULL);
    }
    CHECK(strstr(err, "must be") != NULL || strstr(err, "integer") != NULL);
    f = write_file(path, sizeof path, "ttl_bad.yaml", "server:\n  token_ttl: 0\n");
    CHECK(dd_config_load(&cfg, f, NULL, err, sizeof err) == -1);
    CHECK(strstr(err, "server.token_ttl") != NULL && strstr(err, "between 5 and 31536000"));

    f = write_file(path, sizeof path, "server_bad.yaml", "server:\n  portt: 1\n");
    CHECK(dd_config_load(&cfg, f, NULL, err, sizeof err) == -1);
    CHECK(strstr(err, "server.portt") != NULL);
}

int main(void)
{
    const char *dir = getenv("DD_TEST_TMP");
    snprintf(tmpdir, sizeof tmpdir, "%s/config", dir ? dir : "/tmp/dd_test_config");
    if (dir)
        mkdir(dir, 0755);
    else
        mkdir("/tmp/dd_test_config", 0755);
    mkdir(tmpdir, 0755);

    test_defaults();
    test_full_file();
    test_file_errors();
    test_empty_and_missing();
    test_env();
    test_env_errors();
    test_config_file_variable();
    test_set();
    test_precedence();
    test_print();
    test_print_database_uri();
    test_no_cwd();
    test_users_keys();
    test_server_keys();
    return check_done();
}
