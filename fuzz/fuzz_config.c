/*
 * fuzz_config.c - libFuzzer target for the YAML configuration file (mount/config.c),
 * through dd_config_load_buffer, which walks the bytes exactly as a config file.
 *
 * Promises checked (mount/config.h): a refusal leaves every string NULL and gives one
 * line naming the source ("fuzz.yaml:<line>: ..." or a key); a success gives a complete
 * config within every documented limit, and dd_config_print's output loads back to the
 * same configuration (the secret key, printed as "***", aside).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "store.h"

static bool one_of(const char *s, const char *const *choices)
{
    for (; *choices; choices++)
        if (strcmp(s, *choices) == 0)
            return true;
    return false;
}

static void check_limits(const dd_config *c)
{
    static const char *const backends[] = {"auto", "inline", "filesystem", "s3", NULL};
    static const char *const levels[] = {"error", "warn", "info", "debug", NULL};
    PROMISE(c->db_file && c->db_file[0]);
    PROMISE(c->busy_timeout_ms >= 1);
    PROMISE(c->log_level && one_of(c->log_level, levels));
    PROMISE(c->artifact_backend && one_of(c->artifact_backend, backends));
    PROMISE(c->artifact_inline_max >= 0 && c->artifact_inline_max <= 1LL << 40);
    PROMISE(c->artifact_fs_root && c->artifact_fs_root[0] == '/');
    PROMISE(c->s3_endpoint && c->s3_bucket && c->s3_access_key && c->s3_secret_key);
    PROMISE(c->s3_region && c->s3_region[0]);
    PROMISE(c->s3_multipart_threshold >= 1 && c->s3_multipart_threshold <= 5LL << 30);
    PROMISE(c->s3_part_size >= 5LL << 20 && c->s3_part_size <= 5LL << 30);
    PROMISE(c->s3_spool_dir && (!c->s3_spool_dir[0] || c->s3_spool_dir[0] == '/'));
    PROMISE(c->metrics_journal_dir &&
            (!c->metrics_journal_dir[0] || c->metrics_journal_dir[0] == '/'));
    PROMISE(c->mount_threads >= 1 && c->mount_threads <= 1024);
    PROMISE(c->mount_options != NULL);
    PROMISE(c->users_map && dd_config_users_map_each(c->users_map, NULL, NULL) == 0);
    PROMISE(c->users_unknown && (strcmp(c->users_unknown, "deny") == 0 ||
                                 strcmp(c->users_unknown, "read") == 0));
    PROMISE(c->users_mount_as && c->users_mount_as[0]);
}

/* A printed URI is its canonical form (the password left out, every part %-encoded as
 * libpq reads it): the same registry, not always the same spelling. */
static void check_same_locator(const char *a, const char *b)
{
    if (!dd_locator_is_uri(a)) {
        PROMISE(strcmp(a, b) == 0);
        return;
    }
    char *ca = NULL, *cb = NULL;
    dd_err ignored;
    if (dd_locator_canonical(a, &ca, &ignored) != DD_OK) {
        PROMISE(strcmp(b, "***") == 0);   /* what config.c prints for one libpq refuses */
        return;
    }
    PROMISE(dd_locator_canonical(b, &cb, &ignored) == DD_OK);
    PROMISE(strcmp(ca, cb) == 0 && strcmp(cb, b) == 0);
    free(ca);
    free(cb);
}

static void check_same(const dd_config *a, const dd_config *b)
{
    check_same_locator(a->db_file, b->db_file);
    PROMISE(a->busy_timeout_ms == b->busy_timeout_ms);
    PROMISE(strcmp(a->log_level, b->log_level) == 0);
    PROMISE(strcmp(a->artifact_backend, b->artifact_backend) == 0);
    PROMISE(a->artifact_inline_max == b->artifact_inline_max);
    PROMISE(strcmp(a->artifact_fs_root, b->artifact_fs_root) == 0);
    PROMISE(strcmp(a->s3_endpoint, b->s3_endpoint) == 0);
    PROMISE(strcmp(a->s3_bucket, b->s3_bucket) == 0);
    PROMISE(strcmp(a->s3_region, b->s3_region) == 0);
    PROMISE(strcmp(a->s3_access_key, b->s3_access_key) == 0);
    PROMISE(a->s3_multipart_threshold == b->s3_multipart_threshold);
    PROMISE(a->s3_part_size == b->s3_part_size);
    PROMISE(strcmp(a->s3_spool_dir, b->s3_spool_dir) == 0);
    PROMISE(strcmp(a->metrics_journal_dir, b->metrics_journal_dir) == 0);
    PROMISE(a->mount_threads == b->mount_threads);
    PROMISE(a->mount_foreground == b->mount_foreground);
    PROMISE(strcmp(a->mount_options, b->mount_options) == 0);
    PROMISE(strcmp(a->users_map, b->users_map) == 0);
    PROMISE(strcmp(a->users_unknown, b->users_unknown) == 0);
    PROMISE(strcmp(a->users_mount_as, b->users_mount_as) == 0);
}

static void check_print_round_trip(const dd_config *cfg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    PROMISE(out != NULL);
    dd_config_print(cfg, out);
    PROMISE(!ferror(out));
    fclose(out);
    dd_config back;
    char err[512];
    int rc = dd_config_load_buffer(&back, "printed.yaml", text, len, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "printed:\n%s\nrefused: %s\n", text, err);
    PROMISE(rc == 0);
    check_same(cfg, &back);
    dd_config_free(&back);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dd_config cfg;
    memset(&cfg, 0xab, sizeof cfg);   /* documented: may be uninitialized */
    char err[512];
    memset(err, 'x', sizeof err);
    int rc = dd_config_load_buffer(&cfg, "fuzz.yaml", (const char *)data, size, err,
                                   sizeof err);
    PROMISE(rc == 0 || rc == -1);
    if (rc != 0) {
        PROMISE(memchr(err, 0, sizeof err) != NULL && err[0] != 0);
        PROMISE(!strchr(err, '\n'));   /* one line, as config.h promises */
        PROMISE(cfg.db_file == NULL && cfg.log_level == NULL && cfg.artifact_backend == NULL &&
                cfg.artifact_fs_root == NULL && cfg.s3_secret_key == NULL &&
                cfg.mount_options == NULL);
        dd_config_free(&cfg);
        return 0;
    }
    check_limits(&cfg);
    check_print_round_trip(&cfg);
    dd_config_free(&cfg);
    return 0;
}
