/*
 * config.c - the dd_config of config.h: defaults, the YAML file, the environment,
 * command-line settings and printing.
 *
 * Every key is one row of `keys` below (path, variable, type, field, default, limits).
 * The defaults, the YAML walker, the environment pass, dd_config_set and dd_config_print
 * all work from that table and all convert text through apply(), so a key behaves the
 * same in every layer and adding a key is adding a row.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "config.h"
#include "store.h"

/* ------------------------------------------------------------------ the key table */

typedef enum key_type {
    KT_STRING, /* char *: any text */
    KT_PATH,   /* char *: a path, stored absolute (relative to the current directory) */
    KT_CHOICE, /* char *: one of `choices`, matched case-insensitively, stored as listed */
    KT_INT,    /* int: decimal within [min, max] */
    KT_SIZE,   /* int64_t: decimal byte count within [min, max] */
    KT_BOOL,   /* bool: true/false, yes/no, on/off, 1/0 */
    KT_UIDMAP, /* char *: {uid: name} in YAML, "uid:name,uid:name" as text (users.map) */
} key_type;

typedef struct config_key {
    const char *path;            /* dotted YAML path, also the dd_config_set name */
    const char *env;             /* the overriding variable, or NULL */
    key_type type;
    size_t offset;               /* of the field in dd_config */
    const char *def;             /* the default, as text: it goes through apply() too */
    long long min, max;          /* KT_INT, KT_SIZE */
    const char *const *choices;  /* KT_CHOICE, NULL-terminated */
    bool nonempty;               /* string types: "" is an error */
    bool secret;                 /* printed as "***" */
    bool locator;                /* a registry locator: a URI is printed without password */
} config_key;

static const char *const backends[] = {"auto", "inline", "filesystem", "s3", NULL};
static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const unknown_users[] = {"deny", "read", NULL};
/* metrics.close_waits: engine = journal on a server registry, commit on a SQLite file */
static const char *const close_waits[] = {"engine", "commit", "journal", NULL};

#define MIB (1024LL * 1024)
#define GIB (1024LL * MIB)

#define ROW(p, e, t, field, d) \
    .path = (p), .env = (e), .type = (t), .offset = offsetof(dd_config, field), .def = (d)

/*
 * Rows of one section must be adjacent: dd_config_print opens a section when the row's
 * section differs from the previous row's, so a split section would be printed twice
 * (and the loader would then reject the output as a duplicate key).
 *
 * S3 sizes follow S3's own limits: a part (except the last) is 5 MiB to 5 GiB, and a
 * single PUT, used below the threshold, is at most 5 GiB.
 */
static const config_key keys[] = {
    {ROW("database", "DEARDIARY_DB_FILE", KT_STRING, db_file, "deardiary.db"),
     .nonempty = true, .locator = true},
    {ROW("busy_timeout_ms", "DEARDIARY_BUSY_TIMEOUT_MS", KT_INT, busy_timeout_ms, "30000"),
     .min = 1, .max = INT_MAX},
    {ROW("log_level", "DEARDIARY_LOG_LEVEL", KT_CHOICE, log_level, "info"),
     .choices = log_levels},
    {ROW("artifacts.backend", "DEARDIARY_ARTIFACT_BACKEND", KT_CHOICE, artifact_backend,
         "auto"), .choices = backends},
    /* "auto": the largest artifact kept inline; the default is where the filesystem
     * backend starts to be the faster (BENCHMARKS.md, "Where large artifacts go") */
    {ROW("artifacts.inline_max", "DEARDIARY_ARTIFACT_INLINE_MAX", KT_SIZE, artifact_inline_max,
         "262144"), .min = 0, .max = 1024 * GIB},
    {ROW("artifacts.filesystem.root", "DEARDIARY_ARTIFACT_FS_ROOT", KT_PATH, artifact_fs_root,
         "deardiary_artifacts"), .nonempty = true},
    {ROW("artifacts.s3.endpoint", "DEARDIARY_ARTIFACT_S3_ENDPOINT", KT_STRING, s3_endpoint,
         "")},
    {ROW("artifacts.s3.bucket", "DEARDIARY_ARTIFACT_S3_BUCKET", KT_STRING, s3_bucket, "")},
    {ROW("artifacts.s3.region", "DEARDIARY_ARTIFACT_S3_REGION", KT_STRING, s3_region,
         "us-east-1"), .nonempty = true},
    {ROW("artifacts.s3.access_key", "DEARDIARY_ARTIFACT_S3_ACCESS_KEY", KT_STRING,
         s3_access_key, "")},
    {ROW("artifacts.s3.secret_key", "DEARDIARY_ARTIFACT_S3_SECRET_KEY", KT_STRING,
         s3_secret_key, ""), .secret = true},
    {ROW("artifacts.s3.multipart_threshold", "DEARDIARY_ARTIFACT_S3_MULTIPART_THRESHOLD",
         KT_SIZE, s3_multipart_threshold, "2147483648"), .min = 1, .max = 5 * GIB},
    {ROW("artifacts.s3.part_size", "DEARDIARY_ARTIFACT_S3_PART_SIZE", KT_SIZE, s3_part_size,
         "16777216"), .min = 5 * MIB, .max = 5 * GIB},
    {ROW("artifacts.s3.spool_dir", "DEARDIARY_ARTIFACT_S3_SPOOL_DIR", KT_PATH, s3_spool_dir,
         "")},
    /* "": beside a SQLite file, ~/.local/state/deardiary/journal for a server registry */
    {ROW("metrics.journal_dir", "DEARDIARY_METRICS_JOURNAL_DIR", KT_PATH, metrics_journal_dir,
         "")},
    {ROW("metrics.close_waits", "DEARDIARY_METRICS_CLOSE_WAITS", KT_CHOICE,
         metrics_close_waits, "engine"), .choices = close_waits},
    /* a remote mount's artifact cache (docs/REMOTE.md §8): "": $XDG_CACHE_HOME/deardiary, ~/.cache/... */
    {ROW("remote.cache_dir", "DEARDIARY_REMOTE_CACHE_DIR", KT_PATH, remote_cache_dir, "")},
    {ROW("remote.cache_max", "DEARDIARY_REMOTE_CACHE_MAX", KT_SIZE, remote_cache_max,
         "10737418240"), .min = 0, .max = 1024 * 1024 * GIB},
    /* a remote mount's node journal (docs/REMOTE.md §4): "" is the XDG state directory */
    {ROW("remote.journal_dir", "DEARDIARY_REMOTE_JOURNAL_DIR", KT_PATH, remote_journal_dir,
         "")},
    {ROW("remote.journal_max", "DEARDIARY_REMOTE_JOURNAL_MAX", KT_SIZE, remote_journal_max,
         "1073741824"), .min = 4096, .max = 1024 * GIB},
    {ROW("mount.threads", "DEARDIARY_MOUNT_THREADS", KT_INT, mount_threads, "4"),
     .min = 1, .max = 1024},
    {ROW("mount.foreground", NULL, KT_BOOL, mount_foreground, "false")},
    {ROW("mount.options", NULL, KT_STRING, mount_options, "")},
    {ROW("mount.follow_writer", "DEARDIARY_MOUNT_FOLLOW_WRITER", KT_BOOL, mount_follow_writer,
         "true")},
    {ROW("users.map", "DEARDIARY_USERS_MAP", KT_UIDMAP, users_map, "")},
    {ROW("users.unknown", "DEARDIARY_USERS_UNKNOWN", KT_CHOICE, users_unknown, "deny"),
     .choices = unknown_users},
    {ROW("users.mount_as", "DEARDIARY_USERS_MOUNT_AS", KT_STRING, users_mount_as, "default"),
     .nonempty = true},
    /* `deardiary serve`; the variables without _SERVER_ are the original's names. */
    {ROW("server.host", "DEARDIARY_HOST", KT_STRING, server_host, "127.0.0.1"),
     .nonempty = true},
    {ROW("server.port", "DEARDIARY_PORT", KT_INT, server_port, "9000"), .min = 1,
     .max = 65535},
    {ROW("server.enable_auth", "DEARDIARY_ENABLE_AUTH", KT_BOOL, server_enable_auth,
         "false")},
    {ROW("server.jwt_secret", "DEARDIARY_JWT_SECRET", KT_STRING, server_jwt_secret,
         "deardiary_secret"), .nonempty = true, .secret = true},
    {ROW("server.cors_origins", "DEARDIARY_CORS_ORIGINS", KT_STRING, server_cors_origins,
         "*"), .nonempty = true},
    {ROW("server.max_connections", "DEARDIARY_SERVER_MAX_CONNECTIONS", KT_INT,
         server_max_connections, "2048"), .min = 1, .max = 65536},
    {ROW("server.threads", "DEARDIARY_SERVER_THREADS", KT_INT, server_threads, "16"),
     .min = 1, .max = 256},
    {ROW("server.header_timeout", "DEARDIARY_SERVER_HEADER_TIMEOUT", KT_INT,
         server_header_timeout, "30"), .min = 1, .max = 3600},
    /* the lifetime of the tokens POST /auth and /auth/refresh issue: at least 5 s (a
     * client refreshes past half of it and rereads its token every quarter), at most a
     * year (the original's 24 h is the default; a longer-lived stateless token cannot be
     * revoked but by deleting its user) */
    {ROW("server.token_ttl", "DEARDIARY_TOKEN_TTL", KT_INT, server_token_ttl, "86400"),
     .min = 5, .max = 365 * 86400},
};

#define NKEYS (sizeof keys / sizeof keys[0])

/* Longer than any row's path; a longer path in a file is simply an unknown key. */
#define KEY_PATH_MAX 64

/* Deepest nesting of a row's path, sections plus the leaf. */
#define KEY_DEPTH_MAX 4

/* Room for the reason part of a message; the location is prefixed separately. */
#define WHY_MAX 256

static const config_key *find_key(const char *path)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].path, path) == 0)
            return &keys[i];
    return NULL;
}

/* A section is a path that some row continues with ".more". */
static bool is_section(const char *path)
{
    size_t n = strlen(path);
    for (size_t i = 0; i < NKEYS; i++)
        if (strncmp(keys[i].path, path, n) == 0 && keys[i].path[n] == '.')
            return true;
    return false;
}

static bool is_string_type(key_type t)
{
    return t == KT_STRING || t == KT_PATH || t == KT_CHOICE || t == KT_UIDMAP;
}

static char **string_field(dd_config *cfg, const config_key *k)
{
    return (char **)(void *)((char *)cfg + k->offset);
}

static const void *field_of(const dd_config *cfg, const config_key *k)
{
    return (const char *)cfg + k->offset;
}

/* ------------------------------------------------------------------ errors */

/* Writes the message when there is room for one; always returns -1 for `return fail(...)`. */
__attribute__((format(printf, 3, 4)))
static int fail(char *buf, size_t len, const char *fmt, ...)
{
    if (buf && len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, len, fmt, ap);
        va_end(ap);
        /* A quoted value or key may hold control characters (a YAML "\n" or "\t"
         * escape); they are shown as '?' so the message stays one line, as promised. */
        for (char *p = buf; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '?';
    }
    return -1;
}

/* ------------------------------------------------------------------ text to values */

static int parse_integer(const config_key *k, const char *text, long long *out,
                         char *why, size_t whylen)
{
    /* Checked by hand because strtoll alone also takes spaces, and "0x10" with base 0. */
    const char *digits = text + (text[0] == '-' || text[0] == '+');
    bool ok = *digits != '\0';
    for (const char *p = digits; ok && *p; p++)
        ok = isdigit((unsigned char)*p) != 0;
    if (!ok)
        return fail(why, whylen, "expected a decimal integer, got \"%s\"", text);
    errno = 0;
    long long v = strtoll(text, NULL, 10);
    if (errno == ERANGE || v < k->min || v > k->max)
        return fail(why, whylen, "must be between %lld and %lld, got %s", k->min, k->max, text);
    *out = v;
    return 0;
}

static int parse_bool(const char *text, bool *out, char *why, size_t whylen)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return fail(why, whylen, "expected true/false, yes/no, on/off or 1/0, got \"%s\"", text);
}

static int parse_choice(const config_key *k, const char *text, const char **out,
                        char *why, size_t whylen)
{
    char list[WHY_MAX / 2] = "";
    for (const char *const *c = k->choices; *c; c++) {
        if (strcasecmp(text, *c) == 0) {
            *out = *c;
            return 0;
        }
        size_t used = strlen(list);
        snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", *c);
    }
    return fail(why, whylen, "expected one of %s; got \"%s\"", list, text);
}

/* `path` joined to the current directory unless it is absolute (or "", kept as it is: an
 * empty path means "use the default" for keys that allow it); NULL with errno set. */
static char *absolute_path(const char *path)
{
    if (path[0] == '/' || path[0] == '\0')     /* "": the key's own default applies */
        return strdup(path);
    char *cwd = getcwd(NULL, 0);
    if (!cwd)
        return NULL;
    while (path[0] == '.' && path[1] == '/')   /* "./x" reads better as "<cwd>/x" */
        path += 2;
    size_t len = strlen(cwd) + 1 + strlen(path) + 1;
    char *out = malloc(len);
    if (out)
        snprintf(out, len, "%s%s%s", cwd,
                 (strcmp(cwd, "/") == 0 || path[0] == '\0') ? "" : "/", path);
    free(cwd);
    return out;
}

/* ------------------------------------------------------------------ users.map */

/* One "uid:name" item of a users.map text, [s, end): 0 and the parts, or -1 with `why`. */
static int uidmap_item(const char *s, const char *end, unsigned *uid, char *name,
                       size_t namelen, char *why, size_t whylen)
{
    const char *colon = memchr(s, ':', (size_t)(end - s));
    size_t n = colon ? (size_t)(end - colon - 1) : 0;
    bool digits = colon && colon > s && colon - s <= 10;
    for (const char *p = s; digits && p < colon; p++)
        digits = isdigit((unsigned char)*p) != 0;
    unsigned long long v = digits ? strtoull(s, NULL, 10) : 0;
    if (!digits || v >= 0xffffffffULL || n == 0 || n >= namelen || memchr(colon + 1, ':', n))
        return fail(why, whylen, "expected uid:username items separated by commas, got \"%.*s\"",
                    (int)(end - s), s);
    *uid = (unsigned)v;
    memcpy(name, colon + 1, n);
    name[n] = '\0';
    return 0;
}

/* Walk the items of `map`; with `cb` NULL only validate (and refuse a uid given twice). */
static int uidmap_walk(const char *map, int (*cb)(void *, unsigned, const char *), void *ctx,
                       char *why, size_t whylen)
{
    unsigned seen[64];
    size_t nseen = 0;
    for (const char *s = map; *s;) {
        const char *end = strchr(s, ',');
        if (!end)
            end = s + strlen(s);
        unsigned uid = 0;
        char name[256];
        if (uidmap_item(s, end, &uid, name, sizeof name, why, whylen) != 0)
            return -1;
        for (size_t i = 0; !cb && i < nseen; i++)
            if (seen[i] == uid)
                return fail(why, whylen, "uid %u is mapped twice", uid);
        if (!cb && nseen == sizeof seen / sizeof seen[0])
            return fail(why, whylen, "more than %zu uids", sizeof seen / sizeof seen[0]);
        if (!cb)
            seen[nseen++] = uid;
        if (cb && cb(ctx, uid, name))
            return 0;
        s = *end ? end + 1 : end;
    }
    return 0;
}

static int check_uidmap(const char *text, char *why, size_t whylen)
{
    return uidmap_walk(text, NULL, NULL, why, whylen);
}

int dd_config_users_map_each(const char *map, int (*cb)(void *ctx, unsigned uid,
                                                       const char *name), void *ctx)
{
    return map ? uidmap_walk(map, cb, ctx, NULL, 0) : 0;
}

static int apply_string(dd_config *cfg, const config_key *k, const char *text,
                        char *why, size_t whylen)
{
    if (k->nonempty && text[0] == '\0')
        return fail(why, whylen, "must not be empty");
    const char *canonical = text;
    if (k->type == KT_CHOICE && parse_choice(k, text, &canonical, why, whylen) != 0)
        return -1;
    if (k->type == KT_UIDMAP && check_uidmap(text, why, whylen) != 0)
        return -1;
    char *fresh = k->type == KT_PATH ? absolute_path(text) : strdup(canonical);
    if (!fresh) {
        if (k->type == KT_PATH && errno != ENOMEM)
            return fail(why, whylen, "cannot make \"%s\" absolute: %s", text, strerror(errno));
        return fail(why, whylen, "out of memory");
    }
    /* `text` may be the old value itself (dd_config_load's final pass): free it last. */
    char **field = string_field(cfg, k);
    free(*field);
    *field = fresh;
    return 0;
}

/*
 * Convert `text` for key `k` and store it in `cfg`. The one place where text becomes a
 * value, whatever layer it comes from. On failure `cfg` is unchanged and `why` says why,
 * without saying where (the caller knows).
 */
static int apply(dd_config *cfg, const config_key *k, const char *text,
                 char *why, size_t whylen)
{
    long long n = 0;
    bool b = false;
    switch (k->type) {
    case KT_STRING:
    case KT_PATH:
    case KT_CHOICE:
    case KT_UIDMAP:
        return apply_string(cfg, k, text, why, whylen);
    case KT_INT:
        if (parse_integer(k, text, &n, why, whylen) != 0)
            return -1;
        *(int *)(void *)((char *)cfg + k->offset) = (int)n;
        return 0;
    case KT_SIZE:
        if (parse_integer(k, text, &n, why, whylen) != 0)
            return -1;
        *(int64_t *)(void *)((char *)cfg + k->offset) = (int64_t)n;
        return 0;
    case KT_BOOL:
        if (parse_bool(text, &b, why, whylen) != 0)
            return -1;
        *(bool *)(void *)((char *)cfg + k->offset) = b;
        return 0;
    }
    return fail(why, whylen, "internal error: unknown key type");
}

/* A layer above the defaults set key `k`: remember it where a command needs to know
 * (config.h: db_file_configured). */
static void note_configured(dd_config *cfg, const config_key *k)
{
    if (k->offset == offsetof(dd_config, db_file))
        cfg->db_file_configured = true;
    if (k->offset == offsetof(dd_config, artifact_fs_root))
        cfg->artifact_fs_root_configured = true;
}

/* ------------------------------------------------------------------ defaults */

void dd_config_defaults(dd_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < NKEYS; i++) {
        const config_key *k = &keys[i];
        if (apply(cfg, k, k->def, NULL, 0) == 0)
            continue;
        /* Only out of memory or an unknown current directory get here. Keep a relative
         * root rather than none: dd_config_load retries making it absolute and reports. */
        if (k->type == KT_PATH)
            *string_field(cfg, k) = strdup(k->def);
    }
}

/* dd_config_defaults, plus reporting what it could not do. */
static int load_defaults(dd_config *cfg, char *errbuf, size_t errlen)
{
    dd_config_defaults(cfg);
    for (size_t i = 0; i < NKEYS; i++)
        if (is_string_type(keys[i].type) && !*string_field(cfg, &keys[i]))
            return fail(errbuf, errlen, "out of memory");
    return 0;
}

/* The default root stays relative when dd_config_defaults had no current directory;
 * a later layer may have replaced it, else try again now and say why it fails. */
static int finish_paths(dd_config *cfg, char *errbuf, size_t errlen)
{
    char why[WHY_MAX];
    for (size_t i = 0; i < NKEYS; i++) {
        const config_key *k = &keys[i];
        if (k->type != KT_PATH || (*string_field(cfg, k))[0] == '/')
            continue;
        if (apply(cfg, k, *string_field(cfg, k), why, sizeof why) != 0)
            return fail(errbuf, errlen, "%s: %s", k->path, why);
    }
    return 0;
}

/* ------------------------------------------------------------------ the YAML file */

typedef struct yaml_walk {
    yaml_parser_t parser;
    const char *file;   /* as named by the caller, for messages */
    dd_config *cfg;
    char *errbuf;
    size_t errlen;
} yaml_walk;

/* The keys already met in one mapping, to reject duplicates (YAML leaves that to us). */
typedef struct seen_keys {
    /* Each entry is a known key (unknown ones fail first) and distinct entries cover
     * disjoint sets of rows, so one mapping holds at most NKEYS of them. */
    struct { char path[KEY_PATH_MAX]; size_t line; } key[NKEYS];
    size_t n;
} seen_keys;

static size_t line_of(const yaml_event_t *ev)
{
    return ev->start_mark.line + 1;   /* libyaml counts from 0, editors from 1 */
}

static const char *event_kind(const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_SCALAR_EVENT:         return "a single value";
    case YAML_MAPPING_START_EVENT:  return "a mapping";
    case YAML_SEQUENCE_START_EVENT: return "a list";
    case YAML_ALIAS_EVENT:          return "an alias (aliases are not supported)";
    default:                        return "something else";
    }
}

/* A YAML null: an empty plain value, "~" or "null". Quoted, these are strings. */
static bool is_null(const yaml_event_t *ev)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    if (ev->type != YAML_SCALAR_EVENT || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
        if (strcmp((const char *)ev->data.scalar.value, nulls[i]) == 0)
            return true;
    return false;
}

static int next_event(yaml_walk *w, yaml_event_t *ev)
{
    if (yaml_parser_parse(&w->parser, ev))
        return 0;
    const yaml_parser_t *p = &w->parser;
    const char *problem = p->problem ? p->problem : "unknown error";
    switch (p->error) {
    case YAML_MEMORY_ERROR:
        return fail(w->errbuf, w->errlen, "%s: out of memory", w->file);
    case YAML_READER_ERROR:
        return fail(w->errbuf, w->errlen, "%s: cannot read at byte %zu: %s", w->file,
                    p->problem_offset, problem);
    default:
        if (p->context)
            return fail(w->errbuf, w->errlen, "%s:%zu: YAML syntax error: %s (%s on line %zu)",
                        w->file, p->problem_mark.line + 1, problem, p->context,
                        p->context_mark.line + 1);
        return fail(w->errbuf, w->errlen, "%s:%zu: YAML syntax error: %s", w->file,
                    p->problem_mark.line + 1, problem);
    }
}

static int walk_mapping(yaml_walk *w, const char *prefix);

/* users.map as a YAML mapping {1001: alice}: its pairs become the text form, checked by
 * apply() like the variable's. */
static int walk_uidmap(yaml_walk *w, const config_key *k, size_t line)
{
    char text[4096] = "";
    size_t used = 0;
    for (int i = 0;; i++) {
        yaml_event_t ev;
        if (next_event(w, &ev) != 0)
            return -1;
        bool end = ev.type == YAML_MAPPING_END_EVENT, scalar = ev.type == YAML_SCALAR_EVENT;
        const char *s = scalar ? (const char *)ev.data.scalar.value : "";
        bool clean = scalar && strlen(s) == ev.data.scalar.length && !strpbrk(s, ",:");
        int n = clean ? snprintf(text + used, sizeof text - used, "%s%s", i == 0 ? "" :
                                 i % 2 ? ":" : ",", s) : 0;
        size_t evline = line_of(&ev);
        const char *kind = event_kind(&ev);
        yaml_event_delete(&ev);
        if (end)
            break;
        if (!clean)
            return fail(w->errbuf, w->errlen, "%s:%zu: %s: expected uid: username pairs, got %s",
                        w->file, evline, k->path, scalar ? "a value with ',' or ':'" : kind);
        if (n < 0 || (size_t)n >= sizeof text - used)
            return fail(w->errbuf, w->errlen, "%s:%zu: %s: too long", w->file, evline, k->path);
        used += (size_t)n;
    }
    char why[WHY_MAX];
    if (apply(w->cfg, k, text, why, sizeof why) != 0)
        return fail(w->errbuf, w->errlen, "%s:%zu: %s: %s", w->file, line, k->path, why);
    return 0;
}

static int walk_leaf(yaml_walk *w, const config_key *k, const yaml_event_t *value)
{
    if (k->type == KT_UIDMAP && value->type == YAML_MAPPING_START_EVENT)
        return walk_uidmap(w, k, line_of(value));
    if (value->type != YAML_SCALAR_EVENT)
        return fail(w->errbuf, w->errlen, "%s:%zu: %s: expected a single value, got %s",
                    w->file, line_of(value), k->path, event_kind(value));
    const char *raw = (const char *)value->data.scalar.value;
    if (strlen(raw) != value->data.scalar.length)   /* a "\0" escape would cut it short */
        return fail(w->errbuf, w->errlen, "%s:%zu: %s: contains a NUL character",
                    w->file, line_of(value), k->path);
    const char *text = is_null(value) ? "" : raw;
    char why[WHY_MAX];
    if (apply(w->cfg, k, text, why, sizeof why) != 0)
        return fail(w->errbuf, w->errlen, "%s:%zu: %s: %s", w->file, line_of(value), k->path,
                    why);
    note_configured(w->cfg, k);
    return 0;
}

static int walk_section(yaml_walk *w, const char *path, const yaml_event_t *value)
{
    if (value->type == YAML_MAPPING_START_EVENT)
        return walk_mapping(w, path);
    if (is_null(value))   /* "artifacts:" with every child commented out */
        return 0;
    return fail(w->errbuf, w->errlen, "%s:%zu: %s: expected a mapping of keys, got %s",
                w->file, line_of(value), path, event_kind(value));
}

/* One "key: value" pair of the mapping at `prefix`; `key` is the event already read. */
static int walk_pair(yaml_walk *w, const char *prefix, const yaml_event_t *key,
                     seen_keys *seen)
{
    if (key->type != YAML_SCALAR_EVENT)
        return fail(w->errbuf, w->errlen, "%s:%zu: expected a key name, got %s", w->file,
                    line_of(key), event_kind(key));
    const char *name = (const char *)key->data.scalar.value;
    char path[KEY_PATH_MAX];
    int len = prefix[0] ? snprintf(path, sizeof path, "%s.%s", prefix, name)
                        : snprintf(path, sizeof path, "%s", name);
    /* A dotted name would reach a nested key by another spelling and dodge the
     * duplicate check, so only nesting is accepted. */
    bool fits = len >= 0 && (size_t)len < sizeof path && !strchr(name, '.');
    const config_key *k = fits ? find_key(path) : NULL;
    if (!k && !(fits && is_section(path)))
        return fail(w->errbuf, w->errlen, "%s:%zu: unknown key \"%s%s%s\"", w->file,
                    line_of(key), prefix, prefix[0] ? "." : "", name);
    for (size_t i = 0; i < seen->n; i++)
        if (strcmp(seen->key[i].path, path) == 0)
            return fail(w->errbuf, w->errlen, "%s:%zu: duplicate key \"%s\" (first on line %zu)",
                        w->file, line_of(key), path, seen->key[i].line);
    if (seen->n < NKEYS) {
        memcpy(seen->key[seen->n].path, path, (size_t)len + 1);
        seen->key[seen->n++].line = line_of(key);
    }

    yaml_event_t value;
    if (next_event(w, &value) != 0)
        return -1;
    int rc = k ? walk_leaf(w, k, &value) : walk_section(w, path, &value);
    yaml_event_delete(&value);
    return rc;
}

/* The pairs of a mapping whose MAPPING_START was just read, up to its MAPPING_END. */
static int walk_mapping(yaml_walk *w, const char *prefix)
{
    seen_keys seen;
    seen.n = 0;
    for (;;) {
        yaml_event_t key;
        if (next_event(w, &key) != 0)
            return -1;
        if (key.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&key);
            return 0;
        }
        int rc = walk_pair(w, prefix, &key, &seen);
        yaml_event_delete(&key);
        if (rc != 0)
            return -1;
    }
}

/* Reads the next event and checks it is of type `type` (the grammar guarantees it). */
static int expect_event(yaml_walk *w, yaml_event_type_t type)
{
    yaml_event_t ev;
    if (next_event(w, &ev) != 0)
        return -1;
    bool ok = ev.type == type;
    size_t line = line_of(&ev);
    yaml_event_delete(&ev);
    if (!ok)
        return fail(w->errbuf, w->errlen, "%s:%zu: unexpected YAML structure", w->file, line);
    return 0;
}

/* The document's top node: a mapping, or nothing at all ("---" alone). */
static int walk_document(yaml_walk *w)
{
    yaml_event_t top;
    if (next_event(w, &top) != 0)
        return -1;
    int rc = 0;
    if (top.type == YAML_MAPPING_START_EVENT)
        rc = walk_mapping(w, "");
    else if (!is_null(&top))
        rc = fail(w->errbuf, w->errlen, "%s:%zu: expected a mapping of keys, got %s",
                  w->file, line_of(&top), event_kind(&top));
    yaml_event_delete(&top);
    if (rc != 0)
        return -1;
    return expect_event(w, YAML_DOCUMENT_END_EVENT);
}

/* Stream: no document (an empty or all-comment file) or exactly one. */
static int walk_stream(yaml_walk *w)
{
    if (expect_event(w, YAML_STREAM_START_EVENT) != 0)
        return -1;
    for (int documents = 0;; documents++) {
        yaml_event_t ev;
        if (next_event(w, &ev) != 0)
            return -1;
        yaml_event_type_t type = ev.type;
        size_t line = line_of(&ev);
        yaml_event_delete(&ev);
        if (type == YAML_STREAM_END_EVENT)
            return 0;
        if (documents > 0)
            return fail(w->errbuf, w->errlen,
                        "%s:%zu: a second YAML document; the file must hold only one",
                        w->file, line);
        if (walk_document(w) != 0)
            return -1;
    }
}

static int load_file(dd_config *cfg, const char *file, const char *named_by,
                     char *errbuf, size_t errlen)
{
    FILE *in = fopen(file, "rb");
    if (!in)
        return fail(errbuf, errlen, "%s: cannot open config file%s%s: %s", file,
                    named_by ? " named by " : "", named_by ? named_by : "", strerror(errno));
    struct stat st;
    if (fstat(fileno(in), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(in);
        return fail(errbuf, errlen, "%s: cannot read config file: Is a directory", file);
    }
    yaml_walk w = {.file = file, .cfg = cfg, .errbuf = errbuf, .errlen = errlen};
    if (!yaml_parser_initialize(&w.parser)) {
        fclose(in);
        return fail(errbuf, errlen, "%s: out of memory", file);
    }
    yaml_parser_set_input_file(&w.parser, in);
    int rc = walk_stream(&w);
    yaml_parser_delete(&w.parser);
    fclose(in);
    return rc;
}

/* The YAML layer from bytes in memory: the same walk as load_file, messages prefixed
 * with `name` instead of a file name. */
static int load_buffer(dd_config *cfg, const char *name, const char *buf, size_t len,
                       char *errbuf, size_t errlen)
{
    yaml_walk w = {.file = name, .cfg = cfg, .errbuf = errbuf, .errlen = errlen};
    if (!yaml_parser_initialize(&w.parser))
        return fail(errbuf, errlen, "%s: out of memory", name);
    yaml_parser_set_input_string(&w.parser, (const unsigned char *)(buf ? buf : ""),
                                 buf ? len : 0);
    int rc = walk_stream(&w);
    yaml_parser_delete(&w.parser);
    return rc;
}

/* ------------------------------------------------------------------ the environment */

/* The value of `name` in `envp`, first match as getenv() would, or NULL. */
static const char *env_get(char *const *envp, const char *name)
{
    size_t n = strlen(name);
    for (; envp && *envp; envp++)
        if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
            return *envp + n + 1;
    return NULL;
}

static int load_env(dd_config *cfg, char *const *envp, char *errbuf, size_t errlen)
{
    char why[WHY_MAX];
    for (size_t i = 0; i < NKEYS; i++) {
        const char *value = keys[i].env ? env_get(envp, keys[i].env) : NULL;
        if (!value)
            continue;
        if (apply(cfg, &keys[i], value, why, sizeof why) != 0)
            return fail(errbuf, errlen, "environment variable %s: %s", keys[i].env, why);
        note_configured(cfg, &keys[i]);
    }
    return 0;
}

/* ------------------------------------------------------------------ public API */

int dd_config_load(dd_config *cfg, const char *file, char *const *envp,
                   char *errbuf, size_t errlen)
{
    const char *named_by = NULL;
    if (!file) {
        file = env_get(envp, "DEARDIARY_CONFIG");
        if (file && file[0] == '\0')
            file = NULL;
        named_by = "DEARDIARY_CONFIG";
    }
    if (load_defaults(cfg, errbuf, errlen) == 0
        && (!file || load_file(cfg, file, named_by, errbuf, errlen) == 0)
        && load_env(cfg, envp, errbuf, errlen) == 0
        && finish_paths(cfg, errbuf, errlen) == 0)
        return 0;
    dd_config_free(cfg);
    return -1;
}

int dd_config_load_buffer(dd_config *cfg, const char *name, const char *buf, size_t len,
                          char *errbuf, size_t errlen)
{
    if (load_defaults(cfg, errbuf, errlen) == 0
        && load_buffer(cfg, name, buf, len, errbuf, errlen) == 0
        && finish_paths(cfg, errbuf, errlen) == 0)
        return 0;
    dd_config_free(cfg);
    return -1;
}

int dd_config_set(dd_config *cfg, const char *key, const char *value,
                  char *errbuf, size_t errlen)
{
    const config_key *k = find_key(key);
    if (!k)
        return fail(errbuf, errlen, "unknown key \"%s\"", key);
    char why[WHY_MAX];
    if (apply(cfg, k, value, why, sizeof why) != 0)
        return fail(errbuf, errlen, "%s: %s", key, why);
    note_configured(cfg, k);
    return 0;
}

void dd_config_free(dd_config *cfg)
{
    for (size_t i = 0; i < NKEYS; i++) {
        if (!is_string_type(keys[i].type))
            continue;
        char **field = string_field(cfg, &keys[i]);
        free(*field);
        *field = NULL;
    }
}

/* ------------------------------------------------------------------ printing */

typedef struct span {
    const char *s;
    size_t n;
} span;

/* Splits "a.b.c" into its components; returns how many, 0 if more than `max`. */
static size_t split_path(const char *path, span *out, size_t max)
{
    size_t n = 0;
    for (const char *p = path;; p++) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (n == max)
            return 0;
        out[n++] = (span){p, len};
        if (!dot)
            return n;
        p = dot;
    }
}

static bool emit_scalar(yaml_emitter_t *em, span text, yaml_scalar_style_t style)
{
    yaml_event_t ev;
    return yaml_scalar_event_initialize(&ev, NULL, NULL, (const yaml_char_t *)text.s,
                                        (int)text.n, 1, 1, style)
           && yaml_emitter_emit(em, &ev);   /* the emitter owns `ev` from here, even on failure */
}

static bool emit_mapping(yaml_emitter_t *em, bool start)
{
    yaml_event_t ev;
    int ok = start ? yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                                         YAML_BLOCK_MAPPING_STYLE)
                   : yaml_mapping_end_event_initialize(&ev);
    return ok && yaml_emitter_emit(em, &ev);
}

static span str_span(const char *s)
{
    return (span){s, strlen(s)};
}

/* The value of row `k` as YAML; free text is quoted so "on" or "123" stay strings. */
static bool emit_value(yaml_emitter_t *em, const dd_config *cfg, const config_key *k)
{
    char num[32];
    const void *field = field_of(cfg, k);
    switch (k->type) {
    case KT_INT:
        snprintf(num, sizeof num, "%d", *(const int *)field);
        return emit_scalar(em, str_span(num), YAML_PLAIN_SCALAR_STYLE);
    case KT_SIZE:
        snprintf(num, sizeof num, "%" PRId64, *(const int64_t *)field);
        return emit_scalar(em, str_span(num), YAML_PLAIN_SCALAR_STYLE);
    case KT_BOOL:
        return emit_scalar(em, str_span(*(const bool *)field ? "true" : "false"),
                           YAML_PLAIN_SCALAR_STYLE);
    default: {
        const char *s = *(char *const *)field;
        if (!s)
            s = "";
        if (k->secret && s[0])
            s = "***";
        /* A URI's password never shows; a URI libpq cannot parse shows as "***" too. */
        char *safe = NULL;
        if (k->locator && dd_locator_is_uri(s)) {
            dd_err ignored;
            if (dd_locator_canonical(s, &safe, &ignored) != DD_OK)
                safe = NULL;
            s = safe ? safe : "***";
        }
        /* A choice is one of our own plain words; anything else is free text. */
        bool plain = k->type == KT_CHOICE && s[0];
        bool ok = emit_scalar(em, str_span(s), plain ? YAML_PLAIN_SCALAR_STYLE
                                                     : YAML_DOUBLE_QUOTED_SCALAR_STYLE);
        free(safe);
        return ok;
    }
    }
}

/* Every row in table order, opening and closing sections as the paths change. */
static bool emit_rows(yaml_emitter_t *em, const dd_config *cfg)
{
    span open[KEY_DEPTH_MAX];
    size_t nopen = 0;
    for (size_t i = 0; i < NKEYS; i++) {
        span part[KEY_DEPTH_MAX];
        size_t n = split_path(keys[i].path, part, KEY_DEPTH_MAX);
        if (n == 0)
            return false;
        size_t same = 0;
        while (same < nopen && same < n - 1 && open[same].n == part[same].n
               && memcmp(open[same].s, part[same].s, part[same].n) == 0)
            same++;
        for (; nopen > same; nopen--)
            if (!emit_mapping(em, false))
                return false;
        for (; nopen < n - 1; nopen++) {
            open[nopen] = part[nopen];
            if (!emit_scalar(em, part[nopen], YAML_PLAIN_SCALAR_STYLE)
                || !emit_mapping(em, true))
                return false;
        }
        if (!emit_scalar(em, part[n - 1], YAML_PLAIN_SCALAR_STYLE)
            || !emit_value(em, cfg, &keys[i]))
            return false;
    }
    for (; nopen > 0; nopen--)
        if (!emit_mapping(em, false))
            return false;
    return true;
}

void dd_config_print(const dd_config *cfg, FILE *out)
{
    yaml_emitter_t em;
    if (!yaml_emitter_initialize(&em))
        return;
    yaml_emitter_set_output_file(&em, out);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, -1);   /* never fold a long path across lines */
    yaml_event_t ev;
    /* Each step runs only if the previous one succeeded; a failure (out of memory or a
     * write error) leaves partial output, which the caller sees through ferror(out). */
    bool ok = yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING)
              && yaml_emitter_emit(&em, &ev)
              && yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1)
              && yaml_emitter_emit(&em, &ev)
              && emit_mapping(&em, true)
              && emit_rows(&em, cfg)
              && emit_mapping(&em, false)
              && yaml_document_end_event_initialize(&ev, 1)
              && yaml_emitter_emit(&em, &ev)
              && yaml_stream_end_event_initialize(&ev)
              && yaml_emitter_emit(&em, &ev);   /* the stream end flushes */
    (void)ok;
    yaml_emitter_delete(&em);
}
