/*
 * nodes.c - the shape of the tree: which names each directory holds, the attributes of
 * every node, name lookup, directory listings, symlink targets, and the rendered text of
 * small files. A `cat` of any small file is answered by node_render() here; metric series
 * are streamed by files.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "render.h"
#include "textfmt.h"
#include "vfs_int.h"


/* ---------------------------------------------------------------- errors */

int vfs_errno(dd_code code)
{
    switch (code) {
    case DD_OK: return 0;
    case DD_NOT_FOUND: return ENOENT;
    case DD_CONFLICT: return EEXIST;
    case DD_INVALID: return EINVAL;
    case DD_FORBIDDEN: return EPERM;
    case DD_READ_ONLY: return EROFS;
    case DD_IN_USE: return EBUSY;
    case DD_NOT_EMPTY: return ENOTEMPTY;
    case DD_TOO_LONG: return ENAMETOOLONG;
    case DD_BUSY: return EAGAIN;
    case DD_IO: return EIO;
    case DD_NO_SPACE: return ENOSPC;
    case DD_TOO_BIG: return EFBIG;
    case DD_UNSUPPORTED: return EOPNOTSUPP;
    }
    return EIO;
}

/* Map a store failure to -errno; failures a user should see explained are logged, since
 * an errno cannot carry the store's message. */
int vfs_fail(dd_code code, const dd_err *err, const char *op)
{
    if (code != DD_NOT_FOUND)
        syslog(code == DD_IO || code == DD_BUSY || code == DD_NO_SPACE ? LOG_ERR : LOG_INFO,
               "%s: %s", op,
               err ? err->msg : dd_code_name(code));
    return -vfs_errno(code);
}

/* ---------------------------------------------------------------- fixed names */

typedef struct fixed {
    const char *name;
    nk kind;
} fixed;

/* Files first, then directories: see vfs_readdir. */
static const fixed project_fixed[] = {
    {"created", NK_P_CREATED}, {"description", NK_P_DESCRIPTION},
    {"experiments", NK_P_EXPERIMENTS}, {"models", NK_P_MODELS}, {"tags", NK_P_TAGS},
};
static const fixed experiment_fixed[] = {
    {"created", NK_E_CREATED}, {"description", NK_E_DESCRIPTION}, {"ended", NK_E_ENDED},
    {"status", NK_E_STATUS}, {"charts", NK_E_CHARTS}, {"iterations", NK_E_ITERATIONS},
    {"resources", NK_E_RESOURCES}, {"tags", NK_E_TAGS},
};
static const fixed model_fixed[] = {
    {"created", NK_M_CREATED}, {"description", NK_M_DESCRIPTION}, {"history", NK_M_HISTORY},
    {"model.yaml", NK_M_YAML},
    {"production", NK_M_PRODUCTION}, {"project", NK_M_PROJECT}, {"staging", NK_M_STAGING},
    {"aliases", NK_M_ALIASES}, {"versions", NK_M_VERSIONS},
};
static const fixed version_fixed[] = {
    {"artifact", NK_V_ARTIFACT}, {"created", NK_V_CREATED}, {"description", NK_V_DESCRIPTION},
    {"stage", NK_V_STAGE}, {"version.yaml", NK_V_YAML}, {"iteration", NK_V_ITERATION},
    {"resource", NK_V_RESOURCE},
};
static const fixed iteration_fixed[] = {
    {"created", NK_I_CREATED}, {"ended", NK_I_ENDED}, {"error_message", NK_I_ERROR},
    {"iteration.yaml", NK_I_YAML}, {"metrics.json", NK_I_METRICS_JSON}, {"notes", NK_I_NOTES},
    {"params.yaml", NK_I_PARAMS_YAML}, {"status", NK_I_STATUS}, {"parent", NK_I_PARENT},
    {"children", NK_I_CHILDREN}, {"env", NK_I_ENV}, {"metrics", NK_I_METRICS},
    {"params", NK_I_PARAMS}, {"tags", NK_I_TAGS},
};
static const fixed env_fixed[] = {
    {"Manifest.toml", NK_ENV_MANIFEST_TOML}, {"Project.toml", NK_ENV_PROJECT_TOML},
    {"entrypoint", NK_ENV_ENTRYPOINT}, {"git_dirty", NK_ENV_GIT_DIRTY},
    {"git_sha", NK_ENV_GIT_SHA}, {"julia_version", NK_ENV_JULIA_VERSION},
};
static const fixed root_fixed[] = {{"models", NK_MODELS}, {"projects", NK_PROJECTS}};

#define NFIXED(a) (sizeof(a) / sizeof((a)[0]))

typedef struct fixed_set {
    const fixed *v;
    size_t n;
} fixed_set;

static fixed_set fixed_of(nk kind)
{
    switch (kind) {
    case NK_ROOT: return (fixed_set){root_fixed, NFIXED(root_fixed)};
    case NK_PROJECT: return (fixed_set){project_fixed, NFIXED(project_fixed)};
    case NK_EXPERIMENT: return (fixed_set){experiment_fixed, NFIXED(experiment_fixed)};
    case NK_ITERATION: return (fixed_set){iteration_fixed, NFIXED(iteration_fixed)};
    case NK_I_ENV: return (fixed_set){env_fixed, NFIXED(env_fixed)};
    case NK_MODEL: return (fixed_set){model_fixed, NFIXED(model_fixed)};
    case NK_VERSION: return (fixed_set){version_fixed, NFIXED(version_fixed)};
    default: return (fixed_set){NULL, 0};
    }
}

/* ---------------------------------------------------------------- node classes */

static bool kind_is_dir(nk k)
{
    switch (k) {
    case NK_ROOT: case NK_PROJECTS: case NK_MODELS: case NK_PROJECT: case NK_P_EXPERIMENTS:
    case NK_P_TAGS: case NK_EXPERIMENT: case NK_E_ITERATIONS: case NK_E_TAGS: case NK_ITERATION:
    case NK_I_PARAMS: case NK_I_METRICS: case NK_I_ENV: case NK_I_CHILDREN: case NK_I_TAGS:
    case NK_E_RESOURCES: case NK_P_MODELS: case NK_MODEL: case NK_M_VERSIONS:
    case NK_M_ALIASES: case NK_V_NEW: case NK_VERSION: case NK_E_CHARTS:
        return true;
    default:
        return false;
    }
}

static bool kind_is_link(nk k)
{
    switch (k) {
    case NK_I_PARENT: case NK_M_PRODUCTION: case NK_M_STAGING: case NK_V_ITERATION:
    case NK_V_RESOURCE: case NK_ALIAS: case NK_MODEL_LINK:
        return true;
    default:
        return false;
    }
}

/* Files a user may write (while their iteration runs). */
static bool kind_is_writable(nk k)
{
    switch (k) {
    case NK_P_DESCRIPTION: case NK_E_STATUS: case NK_E_DESCRIPTION: case NK_I_STATUS:
    case NK_I_NOTES: case NK_I_ERROR: case NK_I_PARAMS_YAML: case NK_I_PARAM: case NK_I_METRIC:
    case NK_I_METRICS_JSON: case NK_PENDING: case NK_RESOURCE: case NK_M_DESCRIPTION: case NK_V_STAGE:
    case NK_V_DESCRIPTION:
        return true;
    default:
        return false;
    }
}

/* Which entity a node's id refers to, for kinds whose id is their parent entity's. */
nk node_owner(nk k)
{
    switch (k) {
    case NK_E_RESOURCES: case NK_E_CHARTS: return NK_EXPERIMENT;
    case NK_P_MODELS: return NK_PROJECT;
    case NK_MODEL: case NK_M_CREATED: case NK_M_DESCRIPTION: case NK_M_YAML: case NK_M_PROJECT:
    case NK_M_HISTORY: case NK_M_PRODUCTION: case NK_M_STAGING: case NK_M_VERSIONS:
    case NK_M_ALIASES:
    case NK_V_NEW:
        return NK_MODEL;
    case NK_VERSION: case NK_V_ARTIFACT: case NK_V_STAGE: case NK_V_DESCRIPTION:
    case NK_V_CREATED: case NK_V_YAML: case NK_V_ITERATION: case NK_V_RESOURCE:
        return NK_VERSION;
    case NK_RESOURCE: case NK_ALIAS: case NK_MODEL_LINK: case NK_V_NEW_FILE:
        return NK_NONE;
    default:
        break;
    }
    if (k >= NK_PROJECT && k <= NK_P_TAGS)
        return k == NK_P_TAG ? NK_NONE : NK_PROJECT;
    if (k >= NK_EXPERIMENT && k <= NK_E_TAGS)
        return k == NK_E_TAG ? NK_NONE : NK_EXPERIMENT;
    if (k >= NK_ITERATION && k <= NK_I_TAGS) {
        switch (k) {
        case NK_I_PARAM: case NK_I_METRIC: case NK_ENV_FILE: case NK_I_CHILD:
            return NK_NONE;
        default:
            return NK_ITERATION;
        }
    }
    return NK_NONE;
}

/* ---------------------------------------------------------------- time */

/* A store timestamp as a timespec, milliseconds included: two changes within one second
 * must still show different mtimes (rsync and make compare them to the nanosecond). */
static struct timespec ts_to_time(const char *ts)
{
    struct tm tm = {0};
    int ms = 0;
    if (!ts || sscanf(ts, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                      &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) < 6)
        return (struct timespec){0};
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (struct timespec){.tv_sec = timegm(&tm), .tv_nsec = (long)ms * 1000000L};
}

/* mtime, ctime and atime: `modified` when the row has one, else `created`. A file's data
 * and its metadata change together here (every change is a row update), so ctime is
 * mtime; atime is not tracked. */
static void stat_times(struct stat *st, const char *created, const char *modified)
{
    struct timespec t = ts_to_time(modified && *modified ? modified : created);
    st->st_ctim = t;
    st->st_mtim = t;
    st->st_atim = t;
}

/* Nodes that are no row yet (a file being created, a clone or registration file) show
 * the current time, as a file just made would. */
static void stat_now(struct stat *st)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    st->st_ctim = st->st_mtim = st->st_atim = t;
}

/* The dir_time row (schema/008_row_times.sql) of a directory whose entries come and go,
 * or NULL for one whose entries are fixed. Each has its own: the kernel drops a
 * directory's cached attributes only for changes made in it, so a time shared with a
 * sibling would be seen stale, and `tar` says "file changed as we read it" when a stale
 * time refreshes under it. */
static const char *dir_time_name(nk kind)
{
    switch (kind) {
    case NK_ROOT: return "root";
    case NK_PROJECTS: return "projects";
    case NK_MODELS: return "models";
    case NK_P_EXPERIMENTS: return "experiments";
    case NK_P_MODELS: return "p_models";
    case NK_P_TAGS: case NK_P_TAG: return "p_tags";
    case NK_E_ITERATIONS: return "iterations";
    case NK_E_RESOURCES: return "resources";
    case NK_E_TAGS: case NK_E_TAG: return "e_tags";
    case NK_I_PARAMS: return "params";
    case NK_I_METRICS: return "metrics";
    case NK_I_ENV: case NK_ENV_FILE: return "env";
    case NK_I_CHILDREN: return "children";
    case NK_I_TAGS: case NK_I_TAG: return "i_tags";
    case NK_M_VERSIONS: return "versions";
    case NK_M_ALIASES: case NK_ALIAS: return "aliases";
    default: return NULL;
    }
}

/* A directory's times (and those of the entries that keep none: tags, aliases, env/
 * files): when its entries last came or went, else its owner's creation `created`.
 * Directories with fixed entries (a project's, an iteration's own...) keep `created`. */
static void dir_times(vfs *v, nk kind, int64_t owner_id, const char *created,
                      struct stat *st)
{
    char ts[DD_TS_LEN] = "";
    dd_err err;
    const char *name = dir_time_name(kind);
    if (name && dd_dir_time(v->st, name, owner_id, ts, &err) != DD_OK)
        ts[0] = 0;
    if (ts[0] || (created && created[0]))
        stat_times(st, created, ts);
    else
        stat_now(st);
}

/* ---------------------------------------------------------------- entity facts */

/* What attributes need to know about the entity a node hangs off. */
typedef struct entity_facts {
    char created[DD_TS_LEN];
    char modified[DD_TS_LEN];   /* the row's values last changed: its files' mtime */
    bool ended;           /* iteration has ended: everything in it is read-only */
    int64_t parent;       /* iteration's parent; a model's project; a version's model */
    int64_t resource;     /* a version's resource, 0 when none */
} entity_facts;

static int entity_load(vfs *v, nk owner, int64_t id, entity_facts *f)
{
    dd_err err = {0};
    dd_code code = DD_OK;
    memset(f, 0, sizeof *f);
    if (owner == NK_PROJECT) {
        dd_project p = {0};
        code = dd_project_get(v->st, id, &p, &err);
        if (code == DD_OK) {
            memcpy(f->created, p.created_date, DD_TS_LEN);
            memcpy(f->modified, p.updated_date, DD_TS_LEN);
        }
        dd_project_clear(&p);
    } else if (owner == NK_EXPERIMENT) {
        dd_experiment e = {0};
        code = dd_experiment_get(v->st, id, &e, &err);
        if (code == DD_OK) {
            memcpy(f->created, e.created_date, DD_TS_LEN);
            memcpy(f->modified, e.updated_date, DD_TS_LEN);
        }
        dd_experiment_clear(&e);
    } else if (owner == NK_MODEL) {
        dd_model m = {0};
        code = dd_model_get(v->st, id, &m, &err);
        if (code == DD_OK) {
            memcpy(f->created, m.created_date, DD_TS_LEN);
            memcpy(f->modified, m.updated_date, DD_TS_LEN);
            f->parent = m.project_id;
        }
        dd_model_clear(&m);
    } else if (owner == NK_VERSION) {
        dd_model_version ver = {0};
        code = dd_version_get(v->st, id, &ver, &err);
        if (code == DD_OK) {
            memcpy(f->created, ver.created_date, DD_TS_LEN);
            memcpy(f->modified, ver.updated_date, DD_TS_LEN);
            f->parent = ver.model_id;
            f->resource = ver.resource_id;
        }
        dd_version_clear(&ver);
    } else if (owner == NK_ITERATION) {
        dd_iteration it = {0};
        code = dd_iteration_get(v->st, id, &it, &err);
        if (code == DD_OK) {
            memcpy(f->created, it.created_date, DD_TS_LEN);
            memcpy(f->modified, it.updated_date, DD_TS_LEN);
            f->ended = it.end_date[0] != 0;
            f->parent = it.parent_iteration_id;
        }
        dd_iteration_clear(&it);
    }
    return code == DD_OK ? 0 : vfs_fail(code, &err, "getattr");
}

bool iteration_ended(vfs *v, int64_t iteration_id)
{
    entity_facts f;
    return entity_load(v, NK_ITERATION, iteration_id, &f) == 0 && f.ended;
}

/* ---------------------------------------------------------------- attributes */

/* The preferred I/O size reported in st_blksize. Artifact bytes say 1 MiB, one inline
 * chunk (ART_CHUNK): cp, cat and Python's open() size their buffers from st_blksize, so
 * each FUSE request then moves 1 MiB instead of 128 KiB (libfuse negotiates max_pages 256),
 * and an inline read walks a chunk's overflow pages once instead of once per 128 KiB.
 * Everything else keeps 4096: a Python writer of a metric file that never flushes should
 * still see its points land every 4 KiB, as on a local disk. */
static blksize_t blksize_of(nk kind)
{
    return kind == NK_RESOURCE || kind == NK_V_ARTIFACT ? 1 << 20 : 4096;
}

static void fill_stat(vfs *v, vfs_entry *out, uint64_t ino, nk kind, bool read_only,
                      off_t size, bool immutable)
{
    memset(out, 0, sizeof *out);
    out->ino = ino;
    out->st.st_ino = ino;
    out->st.st_uid = v->uid;
    out->st.st_gid = v->gid;
    out->st.st_blksize = blksize_of(kind);
    if (kind_is_dir(kind)) {
        out->st.st_mode = S_IFDIR | (read_only ? 0555 : 0755);
        out->st.st_nlink = 2;
        out->st.st_size = 4096;
    } else if (kind_is_link(kind)) {
        out->st.st_mode = S_IFLNK | 0777;
        out->st.st_nlink = 1;
        out->st.st_size = size;
    } else {
        out->st.st_mode = S_IFREG | (read_only ? 0444 : 0644);
        out->st.st_nlink = 1;
        out->st.st_size = size;
    }
    /* a read-only remote mount still appends metrics (its node journal: REMOTE.md §4) */
    if (v->read_only && !kind_is_link(kind) && kind != NK_I_METRIC && kind != NK_PENDING)
        out->st.st_mode &= ~(mode_t)0222;
    out->st.st_blocks = (out->st.st_size + 511) / 512;
    out->timeout = immutable ? v->opts.immutable_timeout : v->opts.live_timeout;
}

void vfs_read_only(vfs *v, bool read_only) { v->read_only = read_only; }

/* Print a symlink target: 0, or -ENAMETOOLONG when it does not fit whole (a cut target
 * would resolve to another file, or dangle). */
static int link_print(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int link_print(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

/* "../../../../experiments/<experiment>/<sub>" from a version directory. */
static int version_lineage_link(vfs *v, int64_t version_id, bool resource, char *buf, size_t len)
{
    dd_err err = {0};
    dd_model_version ver = {0};
    dd_code code = dd_version_get(v->st, version_id, &ver, &err);
    int64_t exp = 0;
    char *rname = NULL;
    if (code == DD_OK && resource && !ver.resource_id)
        code = DD_NOT_FOUND;
    if (code == DD_OK && resource) {
        dd_resource r = {0};
        code = dd_resource_get(v->st, ver.resource_id, &r, &err);
        exp = r.experiment_id;
        rname = code == DD_OK ? strdup(r.name) : NULL;
        dd_resource_clear(&r);
    } else if (code == DD_OK) {
        dd_iteration it = {0};
        code = dd_iteration_get(v->st, ver.iteration_id, &it, &err);
        exp = it.experiment_id;
        dd_iteration_clear(&it);
    }
    dd_experiment e = {0};
    if (code == DD_OK)
        code = dd_experiment_get(v->st, exp, &e, &err);
    int rc = 0;
    if (code == DD_OK && resource)
        rc = link_print(buf, len, "../../../../experiments/%s/resources/%s", e.name,
                        rname ? rname : "");
    else if (code == DD_OK)
        rc = link_print(buf, len, "../../../../experiments/%s/iterations/%" PRId64, e.name,
                        ver.iteration_id);
    dd_experiment_clear(&e);
    dd_version_clear(&ver);
    free(rname);
    return code == DD_OK ? rc : vfs_fail(code, &err, "readlink");
}

/* The number of the version with row id `id`, or of the model's version in `stage`. */
static int version_number(vfs *v, int64_t model_id, int stage, int64_t id, int64_t *number)
{
    dd_err err = {0};
    dd_code code = stage ? dd_version_find_stage(v->st, model_id, stage, &id, &err) : DD_OK;
    dd_model_version ver = {0};
    if (code == DD_OK)
        code = dd_version_get(v->st, id, &ver, &err);
    if (code == DD_OK)
        *number = ver.version;
    dd_version_clear(&ver);
    return code == DD_OK ? 0 : vfs_fail(code, &err, "readlink");
}

/* The version row an alias (an NK_ALIAS inode's id: the alias's own row) points at. */
static int alias_version(vfs *v, int64_t alias_id, int64_t *version_id)
{
    dd_err err = {0};
    dd_code code = dd_alias_by_id(v->st, alias_id, NULL, version_id, &err);
    return code == DD_OK ? 0 : vfs_fail(code, &err, "readlink");
}

/* /models/<m>'s target, from its project's name and its own. */
static int model_link_text(char *buf, size_t len, const char *project, const char *model)
{
    return link_print(buf, len, "../projects/%s/models/%s", project, model);
}

static int model_link(vfs *v, int64_t model_id, char *buf, size_t len)
{
    dd_err err = {0};
    dd_model m = {0};
    dd_project p = {0};
    dd_code code = dd_model_get(v->st, model_id, &m, &err);
    if (code == DD_OK)
        code = dd_project_get(v->st, m.project_id, &p, &err);
    int rc = code == DD_OK ? model_link_text(buf, len, p.name, m.name) : 0;
    dd_project_clear(&p);
    dd_model_clear(&m);
    return code == DD_OK ? rc : vfs_fail(code, &err, "readlink");
}

static int link_target(vfs *v, nk kind, int64_t id, char *buf, size_t len)
{
    int64_t n = 0;
    int rc = 0;
    switch (kind) {
    case NK_M_PRODUCTION:
    case NK_M_STAGING:
        rc = version_number(v, id, kind == NK_M_PRODUCTION ? DD_STAGE_PRODUCTION
                                                           : DD_STAGE_STAGING, 0, &n);
        return rc ? rc : link_print(buf, len, "versions/%" PRId64, n);
    case NK_ALIAS:
        rc = alias_version(v, id, &n);
        if (!rc)
            rc = version_number(v, 0, 0, n, &n);
        return rc ? rc : link_print(buf, len, "../versions/%" PRId64, n);
    case NK_V_ITERATION: return version_lineage_link(v, id, false, buf, len);
    case NK_V_RESOURCE: return version_lineage_link(v, id, true, buf, len);
    case NK_MODEL_LINK: return model_link(v, id, buf, len);
    default: break;
    }
    if (kind != NK_I_PARENT)
        return -EINVAL;
    entity_facts f;
    rc = entity_load(v, NK_ITERATION, id, &f);
    if (rc)
        return rc;
    if (!f.parent)
        return -ENOENT;
    return link_print(buf, len, "../%" PRId64, f.parent);
}

/* Attributes of a leaf whose id is its own row (param, metric, env file, tag, child). */
/* A resource file: the artifact's size and times; a version's `artifact` is the same
 * bytes, read-only. Immutable once written, so the kernel may keep its pages. */
static int resource_attr(vfs *v, uint64_t ino, nk kind, int64_t resource_id, vfs_entry *out)
{
    dd_err err = {0};
    dd_resource r = {0};
    dd_code code = dd_resource_get(v->st, resource_id, &r, &err);
    /* An inode of since-replaced bytes (the name now leads to a new inode) still answers,
     * with the current bytes' attributes: resources are read without the page cache, so
     * nothing of the old bytes can linger, and fstat of an open file must not fail. */
    if (code == DD_OK) {
        fill_stat(v, out, ino, kind, kind == NK_V_ARTIFACT, (off_t)r.size_bytes, false);
        stat_times(&out->st, r.created_date, r.updated_date);
        if (kind == NK_RESOURCE)
            out->timeout = 0;     /* a replacement anywhere must be seen by the next open */
    }
    dd_resource_clear(&r);
    return code == DD_OK ? 0 : vfs_fail(code, &err, "getattr");
}

/* A symlink whose id is its own row (alias, /models/<m>). */
static int link_attr(vfs *v, uint64_t ino, nk kind, int64_t id, vfs_entry *out)
{
    char target[VFS_LINK_MAX];
    int rc = link_target(v, kind, id, target, sizeof target);
    if (rc)
        return rc;
    fill_stat(v, out, ino, kind, true, (off_t)strlen(target), false);
    if (kind == NK_MODEL_LINK)
        out->timeout = 0;   /* a model deleted and made again must resolve at once */
    /* /models/<m> follows its model's row (a rename moves its target); an alias has
     * its directory's time (aliases keep none of their own) */
    entity_facts f;
    dd_err err = {0};
    int64_t model = id;
    if (kind == NK_ALIAS && dd_alias_by_id(v->st, id, &model, NULL, &err) != DD_OK)
        return 0;
    if (entity_load(v, NK_MODEL, model, &f) != 0)
        return 0;
    if (kind == NK_MODEL_LINK)
        stat_times(&out->st, f.created, f.modified);
    else
        dir_times(v, kind, model, f.created, &out->st);
    return 0;
}

/* metrics/K.svg names the series' id: `rm metrics/K` and a new K make a new one, which
 * the next open must find (as a replaced resource's), so its name is not cached while
 * the iteration runs. */
static void chart_timeout(nk kind, bool ended, vfs_entry *e)
{
    if (kind == NK_I_METRIC_SVG && !ended)
        e->timeout = 0;
}

/* A chart (charts.c): read-only, its size and time from the series summaries. */
static int chart_attr(vfs *v, uint64_t ino, nk kind, int64_t id, vfs_entry *out)
{
    chart_info ci;
    int rc = chart_info_of(v, kind, id, &ci);
    if (rc)
        return rc;
    bool ended = ci.iteration && iteration_ended(v, ci.iteration);
    fill_stat(v, out, ino, kind, true, ci.size, ended);
    stat_times(&out->st, ci.mtime, NULL);
    chart_timeout(kind, ended, out);
    return 0;
}

static int leaf_attr(vfs *v, uint64_t ino, nk kind, int64_t id, vfs_entry *out)
{
    if (kind == NK_I_METRIC_SVG || kind == NK_E_CHART)
        return chart_attr(v, ino, kind, id, out);
    if (kind == NK_RESOURCE)
        return resource_attr(v, ino, kind, id, out);
    if (kind == NK_ALIAS || kind == NK_MODEL_LINK)
        return link_attr(v, ino, kind, id, out);
    if (kind == NK_V_NEW_FILE) {
        if (!pending_get(v, id))
            return -ENOENT;
        fill_stat(v, out, ino, kind, true, 0, false);
        stat_now(&out->st);
        out->timeout = 0;
        return 0;
    }
    dd_err err = {0};
    dd_code code = DD_OK;
    int64_t iteration = 0, entity = 0;
    off_t size = 0;
    char *s = NULL, ts[DD_TS_LEN] = "", updated[DD_TS_LEN] = "";
    if (kind == NK_I_PARAM) {
        code = dd_param_get_by_id(v->st, id, &iteration, NULL, &s, updated, &err);
        size = s ? (off_t)strlen(s) + 1 : 0;
    } else if (kind == NK_I_METRIC) {
        dd_metric_series m = {0};
        code = dd_metric_series_by_id(v->st, id, &m, &s, ts, &err);
        iteration = m.iteration_id;
        size = code == DD_OK ? (off_t)m.text_bytes : 0;
        memcpy(updated, m.updated_date, DD_TS_LEN);
    } else if (kind == NK_ENV_FILE) {
        size_t n = 0;
        code = dd_iteration_file_by_id(v->st, id, &iteration, NULL, &n, &err);
        size = (off_t)n;
    } else if (kind == NK_P_TAG || kind == NK_E_TAG || kind == NK_I_TAG) {
        dd_tag_kind tk = kind == NK_P_TAG ? DD_TAG_PROJECT
                       : kind == NK_E_TAG ? DD_TAG_EXPERIMENT : DD_TAG_ITERATION;
        code = dd_tag_link_get(v->st, tk, id, &entity, NULL, &err);
        if (kind == NK_I_TAG)
            iteration = entity;
    } else if (kind == NK_I_CHILD) {
        iteration = id;
        char text[24];
        size = (off_t)snprintf(text, sizeof text, "%" PRId64 "\n", id);
    }
    free(s);
    if (code != DD_OK)
        return vfs_fail(code, &err, "getattr");
    entity_facts f = {0};
    nk owner = iteration ? NK_ITERATION : kind == NK_P_TAG ? NK_PROJECT
             : kind == NK_E_TAG ? NK_EXPERIMENT : NK_NONE;
    if (owner != NK_NONE) {
        int rc = entity_load(v, owner, iteration ? iteration : entity, &f);
        if (rc)
            return rc;
    }
    fill_stat(v, out, ino, kind, f.ended || !kind_is_writable(kind), size, f.ended);
    /* a parameter or series: its own row; a child link: made with the child; a tag or an
     * env/ file: its directory's */
    if (dir_time_name(kind))
        dir_times(v, kind, iteration ? iteration : entity, f.created, &out->st);
    else
        stat_times(&out->st, f.created, updated);
    return 0;
}

/* params.yaml and metrics.json change with any parameter or series of the iteration,
 * and when one goes (an entry of params/ or metrics/): the latest of those. */
static void view_times(vfs *v, nk kind, int64_t iteration, const entity_facts *f,
                       struct stat *st)
{
    char params[DD_TS_LEN], metrics[DD_TS_LEN];
    dd_err err;
    dir_times(v, kind == NK_I_PARAMS_YAML ? NK_I_PARAMS : NK_I_METRICS, iteration,
              f->created, st);
    if (dd_iteration_values_updated(v->st, iteration, params, metrics, &err) != DD_OK)
        return;
    const char *own = kind == NK_I_PARAMS_YAML ? params : metrics;
    struct timespec t = ts_to_time(own);
    if (t.tv_sec > st->st_mtim.tv_sec ||
        (t.tv_sec == st->st_mtim.tv_sec && t.tv_nsec > st->st_mtim.tv_nsec))
        stat_times(st, own, NULL);
}

static int keep_first_change(void *ctx, const dd_stage_change *ch)
{
    *(dd_stage_change *)ctx = *ch;
    ((dd_stage_change *)ctx)->username = NULL;   /* valid during the callback only */
    return 1;
}

/* When models/<m>/history last changed: its newest change (none: the model's creation). */
static void history_time(vfs *v, int64_t id, const char *created, struct stat *st)
{
    dd_stage_change newest = {0};
    dd_err err;
    if (dd_stage_history(v->st, id, 1, 0, keep_first_change, &newest, NULL, &err) != DD_OK)
        newest.changed_at[0] = 0;
    stat_times(st, created, newest.changed_at);
}

/* node_attr, with the facts of the node's owner row when the caller has them already
 * (`known`, NULL when not: a listing of the owner's directory loaded them once for all
 * of its fixed entries). */
static int node_attr_known(vfs *v, uint64_t ino, const entity_facts *known, vfs_entry *out)
{
    nk kind = ino_kind(ino);
    int64_t id = ino_id(ino);
    if (kind <= NK_NONE || kind >= NK_COUNT)
        return -ENOENT;
    if (kind == NK_ROOT || kind == NK_PROJECTS || kind == NK_MODELS) {
        fill_stat(v, out, ino, kind, false, 0, false);
        dir_times(v, kind, 0, NULL, &out->st);
        return 0;
    }
    if (kind == NK_SCRATCH)
        return scratch_attr(v, id, out);
    if (kind == NK_PENDING) {
        pending *p = pending_get(v, id);
        if (!p)
            return -ENOENT;
        fill_stat(v, out, ino, kind, false, 0, false);
        out->st.st_blksize = blksize_of(p->kind);   /* a resource being copied in */
        stat_now(&out->st);
        return 0;
    }
    nk owner = node_owner(kind);
    if (owner == NK_NONE)
        return leaf_attr(v, ino, kind, id, out);
    entity_facts f;
    int rc = known ? (f = *known, 0) : entity_load(v, owner, id, &f);
    if (rc)
        return rc;
    if (kind == NK_V_ARTIFACT)
        return f.resource ? resource_attr(v, ino, kind, f.resource, out) : -ENOENT;
    off_t size = 0;
    if (kind_is_link(kind)) {
        char target[VFS_LINK_MAX];
        rc = link_target(v, kind, id, target, sizeof target);
        if (rc)
            return rc;
        size = (off_t)strlen(target);
    } else if (!kind_is_dir(kind) && kind != NK_E_NEW && kind != NK_I_CHILD_NEW) {
        dd_buf b = {0};
        rc = node_render(v, kind, id, &b);
        size = (off_t)b.len;
        dd_buf_free(&b);
        if (rc)
            return rc;
    }
    bool read_only = f.ended || (!kind_is_dir(kind) && !kind_is_writable(kind));
    if (kind == NK_E_NEW || kind == NK_I_CHILD_NEW)
        read_only = true;
    fill_stat(v, out, ino, kind, read_only && !kind_is_dir(kind), size, f.ended);
    if (kind_is_dir(kind) && f.ended)
        out->st.st_mode = S_IFDIR | 0555;
    if (kind == NK_V_NEW)
        out->timeout = 0;     /* registration names are resolved anew each time */
    if (kind == NK_I_PARAMS_YAML || kind == NK_I_METRICS_JSON)
        view_times(v, kind, id, &f, &out->st);
    else if (kind == NK_M_HISTORY)
        history_time(v, id, f.created, &out->st);
    else if (kind == NK_E_NEW || kind == NK_I_CHILD_NEW)
        stat_now(&out->st);   /* each read makes a new iteration */
    else if (kind_is_dir(kind))
        dir_times(v, kind, id, f.created, &out->st);
    else   /* a file of the row; a link made with it (production/staging: the model's) */
        stat_times(&out->st, f.created, kind_is_link(kind) ? NULL : f.modified);
    return 0;
}

int node_attr(vfs *v, uint64_t ino, vfs_entry *out)
{
    return node_attr_known(v, ino, NULL, out);
}

/* What a listing just reported answers, while its timeout runs and nothing was written
 * (attr_cache.c): `ls -l` then costs the listing alone. */
int vfs_getattr(vfs *v, uint64_t ino, vfs_entry *out)
{
    return attr_cache_get(v, ino, out) ? 0 : node_attr(v, ino, out);
}

int64_t node_iteration(vfs *v, nk kind, int64_t id)
{
    if (node_owner(kind) == NK_ITERATION)
        return id;
    dd_err err;
    int64_t it = 0;
    if (kind == NK_I_PARAM)
        dd_param_get_by_id(v->st, id, &it, NULL, NULL, NULL, &err);
    else if (kind == NK_I_METRIC || kind == NK_I_METRIC_SVG) {
        dd_metric_series m = {0};
        char *key = NULL, ts[DD_TS_LEN];
        if (dd_metric_series_by_id(v->st, id, &m, &key, ts, &err) == DD_OK)
            it = m.iteration_id;
        free(key);
    }
    return it;
}

/* ---------------------------------------------------------------- rendering */

static int render_value(dd_buf *out, const char *value)
{
    dd_buf_adds(out, value);
    dd_buf_add(out, "\n", 1);
    return out->oom ? -ENOMEM : 0;
}

/* params.yaml from the parameter rows. */
typedef struct kv_list {
    char **keys;
    char **values;
    double *numbers;
    size_t n, cap;
    bool oom;
} kv_list;

static bool kv_grow(kv_list *l)
{
    if (l->n < l->cap)
        return true;
    size_t cap = l->cap ? l->cap * 2 : 16;
    char **k = realloc(l->keys, cap * sizeof *k);
    if (k)
        l->keys = k;
    char **vv = realloc(l->values, cap * sizeof *vv);
    if (vv)
        l->values = vv;
    double *d = realloc(l->numbers, cap * sizeof *d);
    if (d)
        l->numbers = d;
    if (!k || !vv || !d)
        return !(l->oom = true);
    l->cap = cap;
    return true;
}

static int kv_param(void *ctx, const char *key, const char *value)
{
    kv_list *l = ctx;
    if (!kv_grow(l))
        return 1;
    l->keys[l->n] = strdup(key);
    l->values[l->n] = strdup(value);
    l->n++;
    return 0;
}

static int kv_series(void *ctx, const dd_metric_series *m)
{
    kv_list *l = ctx;
    if (!kv_grow(l))
        return 1;
    l->keys[l->n] = strdup(m->key);
    l->values[l->n] = NULL;
    l->numbers[l->n] = m->value;
    l->n++;
    return 0;
}

static void kv_free(kv_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->keys[i]);
        free(l->values[i]);
    }
    free(l->keys);
    free(l->values);
    free(l->numbers);
}

static int render_params_yaml(vfs *v, int64_t id, dd_buf *out)
{
    kv_list l = {0};
    dd_err err = {0};
    dd_code code = dd_param_list(v->st, id, kv_param, &l, &err);
    int rc = code != DD_OK ? vfs_fail(code, &err, "params.yaml") : l.oom ? -ENOMEM : 0;
    if (!rc)
        rc = dd_render_params_yaml(out, (const char *const *)l.keys,
                                   (const char *const *)l.values, l.n);
    kv_free(&l);
    return rc;
}

static int render_metrics_json(vfs *v, int64_t id, dd_buf *out)
{
    kv_list l = {0};
    dd_err err = {0};
    dd_code code = dd_metric_series_list(v->st, id, kv_series, &l, &err);
    int rc = code != DD_OK ? vfs_fail(code, &err, "metrics.json") : l.oom ? -ENOMEM : 0;
    if (!rc)
        rc = dd_render_metrics_json(out, (const char *const *)l.keys, l.numbers, l.n);
    kv_free(&l);
    return rc;
}

static int render_iteration_yaml(const dd_iteration *it, dd_buf *out)
{
    char id[24], exp[24], parent[24];
    snprintf(id, sizeof id, "%" PRId64, it->id);
    snprintf(exp, sizeof exp, "%" PRId64, it->experiment_id);
    snprintf(parent, sizeof parent, "%" PRId64, it->parent_iteration_id);
    const char *keys[] = {"id", "experiment_id", "parent_iteration_id", "status", "notes",
                          "created_date", "end_date", "error_message", "julia_version",
                          "git_sha", "git_dirty", "entrypoint", "project_toml", "manifest_toml"};
    const char *values[] = {id, exp, it->parent_iteration_id ? parent : NULL,
                            dd_iteration_status_name(it->status_id), it->notes,
                            it->created_date, it->end_date[0] ? it->end_date : NULL,
                            it->error_message, it->julia_version, it->git_sha,
                            it->git_dirty ? "true" : "false", it->entrypoint, it->project_toml,
                            it->manifest_toml};
    const int plain[] = {1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0};
    return dd_render_yaml_map2(out, keys, values, plain, sizeof keys / sizeof keys[0]);
}

static int render_iteration(vfs *v, nk kind, int64_t id, dd_buf *out)
{
    dd_iteration it = {0};
    dd_err err = {0};
    dd_code code = dd_iteration_get(v->st, id, &it, &err);
    if (code != DD_OK)
        return vfs_fail(code, &err, "read");
    int rc = 0;
    switch (kind) {
    case NK_I_STATUS: rc = render_value(out, dd_iteration_status_name(it.status_id)); break;
    case NK_I_NOTES: rc = render_value(out, it.notes); break;
    case NK_I_ERROR: rc = render_value(out, it.error_message); break;
    case NK_I_CREATED: rc = render_value(out, it.created_date); break;
    case NK_I_ENDED: rc = it.end_date[0] ? render_value(out, it.end_date) : 0; break;
    case NK_I_YAML: rc = render_iteration_yaml(&it, out); break;
    case NK_ENV_GIT_SHA: rc = render_value(out, it.git_sha); break;
    case NK_ENV_GIT_DIRTY: rc = render_value(out, it.git_dirty ? "true" : "false"); break;
    case NK_ENV_ENTRYPOINT: rc = render_value(out, it.entrypoint); break;
    case NK_ENV_JULIA_VERSION: rc = render_value(out, it.julia_version); break;
    case NK_ENV_PROJECT_TOML: rc = dd_buf_adds(out, it.project_toml) ? -ENOMEM : 0; break;
    case NK_ENV_MANIFEST_TOML: rc = dd_buf_adds(out, it.manifest_toml) ? -ENOMEM : 0; break;
    default: rc = -EINVAL; break;
    }
    dd_iteration_clear(&it);
    return rc;
}

static int render_model(vfs *v, nk kind, int64_t id, dd_buf *out)
{
    dd_err err = {0};
    dd_model m = {0};
    dd_code code = dd_model_get(v->st, id, &m, &err);
    int rc = 0;
    if (code == DD_OK && kind == NK_M_YAML) {
        char sid[24], pid[24], last[24];
        snprintf(sid, sizeof sid, "%" PRId64, m.id);
        snprintf(pid, sizeof pid, "%" PRId64, m.project_id);
        snprintf(last, sizeof last, "%" PRId64, m.last_version);
        const char *keys[] = {"id", "project_id", "name", "description", "created_date",
                              "updated_date", "last_version"};
        const char *vals[] = {sid, pid, m.name, m.description, m.created_date,
                              m.updated_date[0] ? m.updated_date : NULL, last};
        const int plain[] = {1, 1, 0, 0, 0, 0, 1};
        rc = dd_render_yaml_map2(out, keys, vals, plain, 7);
    } else if (code == DD_OK && kind == NK_M_PROJECT) {
        dd_project p = {0};
        code = dd_project_get(v->st, m.project_id, &p, &err);
        if (code == DD_OK)
            rc = render_value(out, p.name);
        dd_project_clear(&p);
    } else if (code == DD_OK) {
        rc = render_value(out, kind == NK_M_CREATED ? m.created_date : m.description);
    }
    dd_model_clear(&m);
    return code == DD_OK ? rc : vfs_fail(code, &err, "read");
}

/* models/<m>/history: the model's newest DD_STAGE_HISTORY_MAX stage changes, newest first
 * (as GET /v1/model/{mid}/stagehistory), one a line:
 * "<changed_at> <version> <from> <to> <user>", "-" for the from-stage of a registration
 * and for a user not known. The user comes last: nothing after it to mistake. */
static int history_line(void *ctx, const dd_stage_change *ch)
{
    dd_buf_printf(ctx, "%s %" PRId64 " %s %s %s\n", ch->changed_at, ch->version,
                  ch->from_stage ? dd_stage_name(ch->from_stage) : "-",
                  dd_stage_name(ch->to_stage), ch->username ? ch->username : "-");
    return 0;
}

static int render_history(vfs *v, int64_t id, dd_buf *out)
{
    dd_err err = {0};
    dd_code code = dd_stage_history(v->st, id, DD_STAGE_HISTORY_MAX, 0, history_line, out, NULL,
                                    &err);
    if (code != DD_OK)
        return vfs_fail(code, &err, "read");
    return out->oom ? -ENOMEM : 0;
}

static int render_version(vfs *v, nk kind, int64_t id, dd_buf *out)
{
    dd_err err = {0};
    dd_model_version ver = {0};
    dd_code code = dd_version_get(v->st, id, &ver, &err);
    int rc = 0;
    if (code == DD_OK && kind == NK_V_YAML) {
        char nums[5][24];
        snprintf(nums[0], 24, "%" PRId64, ver.id);
        snprintf(nums[1], 24, "%" PRId64, ver.model_id);
        snprintf(nums[2], 24, "%" PRId64, ver.version);
        snprintf(nums[3], 24, "%" PRId64, ver.iteration_id);
        snprintf(nums[4], 24, "%" PRId64, ver.resource_id);
        const char *keys[] = {"id", "model_id", "version", "iteration_id", "resource_id",
                              "stage", "description", "created_date", "updated_date"};
        const char *vals[] = {nums[0], nums[1], nums[2], nums[3],
                              ver.resource_id ? nums[4] : NULL, dd_stage_name(ver.stage_id),
                              ver.description, ver.created_date,
                              ver.updated_date[0] ? ver.updated_date : NULL};
        const int plain[] = {1, 1, 1, 1, 1, 0, 0, 0, 0};
        rc = dd_render_yaml_map2(out, keys, vals, plain, 9);
    } else if (code == DD_OK) {
        rc = render_value(out, kind == NK_V_STAGE ? dd_stage_name(ver.stage_id)
                             : kind == NK_V_CREATED ? ver.created_date : ver.description);
    }
    dd_version_clear(&ver);
    return code == DD_OK ? rc : vfs_fail(code, &err, "read");
}

int node_render(vfs *v, nk kind, int64_t id, dd_buf *out)
{
    dd_err err = {0};
    dd_code code = DD_OK;
    int rc = 0;
    switch (kind) {
    case NK_P_DESCRIPTION:
    case NK_P_CREATED: {
        dd_project p = {0};
        code = dd_project_get(v->st, id, &p, &err);
        if (code == DD_OK)
            rc = render_value(out, kind == NK_P_CREATED ? p.created_date : p.description);
        dd_project_clear(&p);
        break;
    }
    case NK_E_STATUS: case NK_E_DESCRIPTION: case NK_E_CREATED: case NK_E_ENDED: {
        dd_experiment e = {0};
        code = dd_experiment_get(v->st, id, &e, &err);
        if (code == DD_OK) {
            const char *val = kind == NK_E_STATUS ? dd_experiment_status_name(e.status_id)
                            : kind == NK_E_DESCRIPTION ? e.description
                            : kind == NK_E_CREATED ? e.created_date : e.end_date;
            rc = kind == NK_E_ENDED && !e.end_date[0] ? 0 : render_value(out, val);
        }
        dd_experiment_clear(&e);
        break;
    }
    case NK_P_TAG: case NK_E_TAG: case NK_I_TAG:
        return 0;   /* a tag is its name: the file is empty */
    case NK_M_CREATED: case NK_M_DESCRIPTION: case NK_M_YAML: case NK_M_PROJECT:
        return render_model(v, kind, id, out);
    case NK_M_HISTORY: return render_history(v, id, out);
    case NK_I_CHILD: {
        char text[24];
        snprintf(text, sizeof text, "%" PRId64, id);
        return render_value(out, text);
    }
    case NK_V_STAGE: case NK_V_DESCRIPTION: case NK_V_CREATED: case NK_V_YAML:
        return render_version(v, kind, id, out);
    case NK_I_PARAMS_YAML: return render_params_yaml(v, id, out);
    case NK_I_METRIC_SVG: case NK_E_CHART: return chart_render(v, kind, id, out);
    case NK_I_METRICS_JSON: return render_metrics_json(v, id, out);
    case NK_I_PARAM: {
        char *value = NULL;
        code = dd_param_get_by_id(v->st, id, NULL, NULL, &value, NULL, &err);
        if (code == DD_OK)
            rc = render_value(out, value);
        free(value);
        break;
    }
    case NK_ENV_FILE: {
        int64_t it = 0;
        char *name = NULL;
        size_t n = 0;
        void *data = NULL;
        code = dd_iteration_file_by_id(v->st, id, &it, &name, &n, &err);
        if (code == DD_OK)
            code = dd_iteration_file_get(v->st, it, name, &data, &n, &err);
        if (code == DD_OK)
            rc = dd_buf_add(out, data, n) ? -ENOMEM : 0;
        free(name);
        free(data);
        break;
    }
    default:
        if (node_owner(kind) == NK_ITERATION)
            return render_iteration(v, kind, id, out);
        return -EINVAL;
    }
    if (code != DD_OK)
        return vfs_fail(code, &err, "read");
    return rc;
}

int vfs_readlink(vfs *v, uint64_t ino, char *buf, size_t len)
{
    nk kind = ino_kind(ino);
    if (!kind_is_link(kind))
        return -EINVAL;
    return link_target(v, kind, ino_id(ino), buf, len);
}

/* ---------------------------------------------------------------- lookup */

/* /models/<m>: a symlink to its project's directory, with the attributes link_attr gives,
 * from the model's row joined with its project's name (no query of its own). */
static void model_link_entry(vfs *v, const dd_model *m, const char *project, vfs_entry *e)
{
    char target[VFS_LINK_MAX];
    if (model_link_text(target, sizeof target, project, m->name) != 0)
        target[0] = 0;    /* cannot be: names are bounded (VFS_LINK_MAX) */
    fill_stat(v, e, ino_make(NK_MODEL_LINK, m->id), NK_MODEL_LINK, true,
              (off_t)strlen(target), false);
    e->timeout = 0;   /* as link_attr: a model deleted and made again must resolve at once */
    stat_times(&e->st, m->created_date, m->updated_date);
}

typedef struct model_link_found {
    vfs *v;
    vfs_entry *e;
} model_link_found;

static int found_model_link(void *ctx, const dd_model *m, const char *project)
{
    model_link_found *f = ctx;
    model_link_entry(f->v, m, project, f->e);
    return 0;
}

/* A decimal id as a name ("42"), or 0 when the name is not one. */
static int64_t name_id(const char *name)
{
    if (!*name || *name == '0' || strlen(name) > 15)
        return 0;
    int64_t id = 0;
    for (const char *p = name; *p; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        id = id * 10 + (*p - '0');
    }
    return id;
}

static int lookup_fixed(vfs *v, nk parent_kind, int64_t id, const char *name, vfs_entry *out)
{
    fixed_set fs = fixed_of(parent_kind);
    for (size_t i = 0; i < fs.n; i++)
        if (strcmp(fs.v[i].name, name) == 0)
            return node_attr(v, ino_make(fs.v[i].kind, fs.v[i].kind == NK_ROOT ? 0 : id), out);
    return -ENOENT;
}

/* Resolve a name in a directory whose children are rows found by name. */
static int lookup_rows(vfs *v, nk parent_kind, int64_t pid, const char *name, vfs_entry *out)
{
    dd_err err = {0};
    dd_code code = DD_NOT_FOUND;
    int64_t id = 0;
    nk kind = NK_NONE;
    switch (parent_kind) {
    case NK_PROJECTS: kind = NK_PROJECT; code = dd_project_find(v->st, name, &id, &err); break;
    case NK_E_RESOURCES: {
        dd_resource r = {0};
        code = dd_resource_find(v->st, pid, name, &id, &err);
        if (code == DD_OK)
            code = dd_resource_get(v->st, id, &r, &err);
        int64_t gen = r.generation;
        dd_resource_clear(&r);
        if (code != DD_OK)
            return vfs_fail(code, &err, "lookup");
        return node_attr(v, res_ino(id, gen), out);
    }
    case NK_MODELS: {
        /* one statement: a link's entry timeout is 0, so `ls -l /models` looks up each */
        model_link_found f = {v, out};
        code = dd_model_find_with_project(v->st, name, found_model_link, &f, &err);
        return code == DD_OK ? 0 : vfs_fail(code, &err, "lookup");
    }
    case NK_P_MODELS: {
        dd_model m = {0};
        kind = NK_MODEL;
        code = dd_model_find(v->st, name, &id, &err);
        if (code == DD_OK)
            code = dd_model_get(v->st, id, &m, &err);
        if (code == DD_OK && m.project_id != pid)
            code = DD_NOT_FOUND;      /* the name belongs to another project's model */
        dd_model_clear(&m);
        break;
    }
    case NK_M_VERSIONS:
        if (strcmp(name, "new") == 0)
            return node_attr(v, ino_make(NK_V_NEW, pid), out);
        kind = NK_VERSION;
        code = name_id(name) ? dd_version_find(v->st, pid, name_id(name), &id, &err)
                             : DD_NOT_FOUND;
        break;
    case NK_M_ALIASES: kind = NK_ALIAS; code = dd_alias_find(v->st, pid, name, &id, &err); break;
    case NK_V_NEW: {
        int rc = registration_slot(v, pid, name, &id);
        return rc ? rc : node_attr(v, ino_make(NK_V_NEW_FILE, id), out);
    }
    case NK_P_EXPERIMENTS:
        kind = NK_EXPERIMENT;
        code = dd_experiment_find(v->st, pid, name, &id, &err);
        break;
    case NK_E_ITERATIONS:
        if (strcmp(name, "new") == 0)
            return node_attr(v, ino_make(NK_E_NEW, pid), out);
        kind = NK_ITERATION;
        id = name_id(name);
        if (id) {
            dd_iteration it = {0};
            code = dd_iteration_get(v->st, id, &it, &err);
            if (code == DD_OK && it.experiment_id != pid)
                code = DD_NOT_FOUND;
            dd_iteration_clear(&it);
        }
        break;
    case NK_I_CHILDREN:
        if (strcmp(name, "new") == 0)
            return node_attr(v, ino_make(NK_I_CHILD_NEW, pid), out);
        kind = NK_I_CHILD;
        id = name_id(name);
        if (id) {
            dd_iteration it = {0};
            code = dd_iteration_get(v->st, id, &it, &err);
            if (code == DD_OK && it.parent_iteration_id != pid)
                code = DD_NOT_FOUND;
            dd_iteration_clear(&it);
        }
        break;
    case NK_I_PARAMS: kind = NK_I_PARAM; code = dd_param_find(v->st, pid, name, &id, &err); break;
    case NK_I_METRICS: {
        dd_metric_series m = {0};
        char ts[DD_TS_LEN];
        kind = NK_I_METRIC;
        code = dd_metric_series_get(v->st, pid, name, &m, ts, &err);
        id = m.id;
        if (code == DD_NOT_FOUND) {     /* a metric file wins over a chart's name */
            int rc = chart_find(v, parent_kind, pid, name, &kind, &id);
            return rc ? rc : node_attr(v, ino_make(kind, id), out);
        }
        break;
    }
    case NK_E_CHARTS: {
        int rc = chart_find(v, parent_kind, pid, name, &kind, &id);
        return rc ? rc : node_attr(v, ino_make(kind, id), out);
    }
    case NK_I_ENV: {
        size_t n;
        kind = NK_ENV_FILE;
        code = dd_iteration_file_find(v->st, pid, name, &id, &n, &err);
        break;
    }
    case NK_P_TAGS:
        kind = NK_P_TAG;
        code = dd_tag_link_find(v->st, DD_TAG_PROJECT, pid, name, &id, &err);
        break;
    case NK_E_TAGS:
        kind = NK_E_TAG;
        code = dd_tag_link_find(v->st, DD_TAG_EXPERIMENT, pid, name, &id, &err);
        break;
    case NK_I_TAGS:
        kind = NK_I_TAG;
        code = dd_tag_link_find(v->st, DD_TAG_ITERATION, pid, name, &id, &err);
        break;
    default:
        return -ENOENT;
    }
    if (code != DD_OK)
        return vfs_fail(code, &err, "lookup");
    return node_attr(v, ino_make(kind, id), out);
}

int vfs_lookup(vfs *v, uint64_t parent, const char *name, vfs_entry *out)
{
    nk pk = ino_kind(parent);
    int64_t pid = ino_id(parent);
    if (strlen(name) > DD_NAME_MAX)
        return -ENAMETOOLONG;
    int rc = -ENOENT;
    uint64_t gen = attr_cache_gen(v);
    if (fixed_of(pk).n)
        rc = lookup_fixed(v, pk, pid, name, out);
    if (rc == -ENOENT && (!fixed_of(pk).n || pk == NK_I_ENV))
        rc = lookup_rows(v, pk, pid, name, out);
    if (rc == 0)     /* fresher than a listing's: a later getattr must not go back */
        attr_cache_put(v, out, gen);
    /* registry data first: a scratch file never hides a parameter of the same name */
    return rc == -ENOENT && scratch_dir_allows(pk, name) ? scratch_lookup(v, parent, name, out)
                                                         : rc;
}

/* ---------------------------------------------------------------- listings */

typedef struct dir_walk {
    vfs *v;
    vfs_dir_cb cb;
    void *ctx;
    bool ended;            /* the listed directory belongs to an ended iteration */
    int64_t parent_id;
    int stop;
    entity_facts owner;    /* the row the listed directory hangs off (zero for /, /projects,
                              /models) */
    struct timespec dir_mtime;   /* the listed directory's (tags/, aliases/, env/ only) */
    uint64_t cache_gen;    /* the store's write count before the listing asked it */
} dir_walk;

/* Entries without a time of their own (tags, aliases, env/ files) show when their
 * directory's entries last came or went, as their getattr does: no query per entry. */
static void walk_dir_times(const dir_walk *w, vfs_entry *e)
{
    e->st.st_mtim = e->st.st_ctim = e->st.st_atim = w->dir_mtime;
}

/* Hand an entry to the caller, and keep its attributes for the getattr that usually
 * follows (`ls -l`, a file manager). */
static int walk_emit(dir_walk *w, const char *name, const vfs_entry *e)
{
    if (!w->stop) {
        attr_cache_put(w->v, e, w->cache_gen);
        w->stop = w->cb(w->ctx, name, e);
    }
    return w->stop;
}

static int walk_project(void *ctx, const dd_project *p)
{
    dir_walk *w = ctx;
    vfs_entry e;
    fill_stat(w->v, &e, ino_make(NK_PROJECT, p->id), NK_PROJECT, false, 0, false);
    stat_times(&e.st, p->created_date, NULL);
    return walk_emit(w, p->name, &e);
}

static int walk_experiment(void *ctx, const dd_experiment *x)
{
    dir_walk *w = ctx;
    vfs_entry e;
    fill_stat(w->v, &e, ino_make(NK_EXPERIMENT, x->id), NK_EXPERIMENT, false, 0, false);
    stat_times(&e.st, x->created_date, NULL);
    return walk_emit(w, x->name, &e);
}

static int walk_iteration(void *ctx, const dd_iteration *it)
{
    dir_walk *w = ctx;
    vfs_entry e;
    char name[24];
    bool ended = it->end_date[0] != 0;
    fill_stat(w->v, &e, ino_make(NK_ITERATION, it->id), NK_ITERATION, ended, 0, ended);
    stat_times(&e.st, it->created_date, NULL);
    snprintf(name, sizeof name, "%" PRId64, it->id);
    return walk_emit(w, name, &e);
}

static int walk_child(void *ctx, const dd_iteration *it)
{
    dir_walk *w = ctx;
    vfs_entry e;
    char name[24];
    int n = snprintf(name, sizeof name, "%" PRId64, it->id);
    fill_stat(w->v, &e, ino_make(NK_I_CHILD, it->id), NK_I_CHILD, true, n + 1, w->ended);
    stat_times(&e.st, it->created_date, NULL);
    return walk_emit(w, name, &e);
}

static int walk_resource(void *ctx, const dd_resource *r)
{
    dir_walk *w = ctx;
    vfs_entry e;
    fill_stat(w->v, &e, res_ino(r->id, r->generation), NK_RESOURCE, false,
              (off_t)r->size_bytes, false);
    stat_times(&e.st, r->created_date, r->updated_date);
    return walk_emit(w, r->name, &e);
}

/* Models: directories under their project. */
static int walk_model(void *ctx, const dd_model *m)
{
    dir_walk *w = ctx;
    vfs_entry e;
    fill_stat(w->v, &e, ino_make(NK_MODEL, m->id), NK_MODEL, false, 0, false);
    stat_times(&e.st, m->created_date, NULL);
    return walk_emit(w, m->name, &e);
}

static int walk_model_link(void *ctx, const dd_model *m, const char *project)
{
    dir_walk *w = ctx;
    vfs_entry e;
    model_link_entry(w->v, m, project, &e);
    return walk_emit(w, m->name, &e);
}

static int walk_version(void *ctx, const dd_model_version *ver)
{
    dir_walk *w = ctx;
    vfs_entry e;
    char name[24];
    snprintf(name, sizeof name, "%" PRId64, ver->version);
    fill_stat(w->v, &e, ino_make(NK_VERSION, ver->id), NK_VERSION, false, 0, false);
    stat_times(&e.st, ver->created_date, NULL);
    return walk_emit(w, name, &e);
}

static int walk_alias(void *ctx, int64_t id, const char *alias, int64_t version_id,
                      int64_t version)
{
    dir_walk *w = ctx;
    vfs_entry e;
    char target[40];
    (void)version_id;
    int n = snprintf(target, sizeof target, "../versions/%" PRId64, version);
    fill_stat(w->v, &e, ino_make(NK_ALIAS, id), NK_ALIAS, true, n, false);
    walk_dir_times(w, &e);
    return walk_emit(w, alias, &e);
}

/* params/<key>: as leaf_attr has it, from the listing's row and the iteration's facts. */
static int walk_param(void *ctx, const dd_param_row *p)
{
    dir_walk *w = ctx;
    vfs_entry e;
    fill_stat(w->v, &e, ino_make(NK_I_PARAM, p->id), NK_I_PARAM, w->ended,
              (off_t)strlen(p->value) + 1, w->ended);
    stat_times(&e.st, w->owner.created, p->updated_date);
    return walk_emit(w, p->key, &e);
}

static int walk_series(void *ctx, const dd_metric_series *m)
{
    dir_walk *w = ctx;
    vfs_entry e;
    fill_stat(w->v, &e, ino_make(NK_I_METRIC, m->id), NK_I_METRIC, w->ended,
              (off_t)m->text_bytes, w->ended);
    stat_times(&e.st, m->updated_date, NULL);
    return walk_emit(w, m->key, &e);
}

static int walk_chart(void *ctx, const char *name, const chart_info *ci)
{
    dir_walk *w = ctx;
    vfs_entry e;
    nk kind = ci->iteration ? NK_I_METRIC_SVG : NK_E_CHART;
    fill_stat(w->v, &e, ino_make(kind, ci->id), kind, true, ci->size, w->ended);
    stat_times(&e.st, ci->mtime, NULL);
    chart_timeout(kind, w->ended, &e);
    return walk_emit(w, name, &e);
}

static int walk_file(void *ctx, int64_t id, const char *name, size_t len)
{
    dir_walk *w = ctx;
    vfs_entry e;
    fill_stat(w->v, &e, ino_make(NK_ENV_FILE, id), NK_ENV_FILE, true, (off_t)len, w->ended);
    walk_dir_times(w, &e);
    return walk_emit(w, name, &e);
}

typedef struct tag_walk {
    dir_walk *w;
    nk kind;
} tag_walk;

static int walk_tag(void *ctx, int64_t link_id, const char *value)
{
    tag_walk *t = ctx;
    vfs_entry e;
    fill_stat(t->w->v, &e, ino_make(t->kind, link_id), t->kind, true, 0, false);
    walk_dir_times(t->w, &e);
    return walk_emit(t->w, value, &e);
}

static int list_fixed(dir_walk *w, nk kind, int64_t id)
{
    fixed_set fs = fixed_of(kind);
    for (size_t i = 0; i < fs.n && !w->stop; i++) {
        vfs_entry e;
        /* the entity's own files hang off the row walk_start loaded */
        bool same_owner = node_owner(kind) != NK_NONE &&
                          node_owner(fs.v[i].kind) == node_owner(kind);
        int rc = node_attr_known(w->v, ino_make(fs.v[i].kind, id),
                                 same_owner ? &w->owner : NULL, &e);
        if (rc == -ENOENT)      /* e.g. `parent` of a top-level iteration */
            continue;
        if (rc)
            return rc;
        walk_emit(w, fs.v[i].name, &e);
    }
    return 0;
}

/* Directories whose entries keep no time of their own (walk_dir_times). */
static bool kind_lists_dir_times(nk kind)
{
    return kind == NK_P_TAGS || kind == NK_E_TAGS || kind == NK_I_TAGS ||
           kind == NK_M_ALIASES || kind == NK_I_ENV;
}

/* Before a listing: the directory exists and is one (one query for the row it hangs off,
 * which also says whether its iteration ended; one more for the directories whose
 * entries take its time). */
static int walk_start(dir_walk *w, uint64_t ino)
{
    nk kind = ino_kind(ino);
    if (kind <= NK_NONE || kind >= NK_COUNT)
        return -ENOENT;
    if (!kind_is_dir(kind)) {
        vfs_entry e;
        int rc = node_attr(w->v, ino, &e);
        return rc ? rc : -ENOTDIR;
    }
    nk owner = node_owner(kind);
    if (owner != NK_NONE) {
        int rc = entity_load(w->v, owner, w->parent_id, &w->owner);
        if (rc)
            return rc;
    }
    w->ended = owner == NK_ITERATION && w->owner.ended;
    if (kind_lists_dir_times(kind)) {
        struct stat st = {0};
        dir_times(w->v, kind, w->parent_id, w->owner.created, &st);
        w->dir_mtime = st.st_mtim;
    }
    return 0;
}

int vfs_readdir(vfs *v, uint64_t ino, vfs_dir_cb cb, void *ctx)
{
    nk kind = ino_kind(ino);
    int64_t id = ino_id(ino);
    dir_walk w = {.v = v, .cb = cb, .ctx = ctx, .parent_id = id};
    w.cache_gen = attr_cache_gen(v);     /* before any answer the entries come from */
    int rc = walk_start(&w, ino);
    if (rc)
        return rc;
    rc = list_fixed(&w, kind, id);
    if (rc)
        return rc;
    dd_err err = {0};
    dd_code code = DD_OK;
    tag_walk tw = {&w, NK_NONE};
    switch (kind) {
    case NK_PROJECTS: code = dd_project_list(v->st, walk_project, &w, &err); break;
    case NK_P_EXPERIMENTS: code = dd_experiment_list(v->st, id, walk_experiment, &w, &err); break;
    case NK_E_ITERATIONS: code = dd_iteration_list(v->st, id, walk_iteration, &w, &err); break;
    case NK_I_CHILDREN: code = dd_iteration_list_children(v->st, id, walk_child, &w, &err); break;
    case NK_I_PARAMS: code = dd_param_list_rows(v->st, id, walk_param, &w, &err); break;
    case NK_I_METRICS:
        code = dd_metric_series_list(v->st, id, walk_series, &w, &err);
        if (code == DD_OK && !w.stop)
            return chart_list(v, kind, id, walk_chart, &w);
        break;
    case NK_E_CHARTS: return chart_list(v, kind, id, walk_chart, &w);
    case NK_E_RESOURCES: code = dd_resource_list(v->st, id, walk_resource, &w, &err); break;
    case NK_P_MODELS: code = dd_model_list(v->st, id, walk_model, &w, &err); break;
    case NK_MODELS:
        code = dd_model_list_with_project(v->st, walk_model_link, &w, &err);
        break;
    case NK_M_VERSIONS: code = dd_version_list(v->st, id, walk_version, &w, &err); break;
    case NK_M_ALIASES: code = dd_alias_list(v->st, id, walk_alias, &w, &err); break;
    case NK_I_ENV: code = dd_iteration_file_list(v->st, id, walk_file, &w, &err); break;
    case NK_P_TAGS:
        tw.kind = NK_P_TAG;
        code = dd_tag_list(v->st, DD_TAG_PROJECT, id, walk_tag, &tw, &err);
        break;
    case NK_E_TAGS:
        tw.kind = NK_E_TAG;
        code = dd_tag_list(v->st, DD_TAG_EXPERIMENT, id, walk_tag, &tw, &err);
        break;
    case NK_I_TAGS:
        tw.kind = NK_I_TAG;
        code = dd_tag_list(v->st, DD_TAG_ITERATION, id, walk_tag, &tw, &err);
        break;
    default:
        break;
    }
    return code == DD_OK ? 0 : vfs_fail(code, &err, "readdir");
}
