/*
 * files.c - open files: reading rendered snapshots and streamed metric series, and turning
 * writes into store calls.
 *
 * Writes are validated and committed in write() itself, because shells ignore errors at
 * close: a value file commits when what the handle has collected ends with a newline
 * (flush/release commit the rest); a metric file commits every complete line of each
 * write as one batch and keeps a trailing partial line for the next write or close.
 * A refused write stores nothing and returns the errno the shell should print.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "parse.h"
#include "textfmt.h"
#include "vfs_int.h"

/* Metric reads render this much per trip to the store. */
#define METRIC_SLICE (256 * 1024)
/* How long a registration waits for a resource this mount is still storing: its RELEASE
 * follows the close within milliseconds; a writer that holds it open longer has not
 * written it yet, and the registration says so (ENOENT). */
#define PENDING_WAIT_S 2.0

static bool kind_is_value(nk k)
{
    switch (k) {
    case NK_P_DESCRIPTION: case NK_E_STATUS: case NK_E_DESCRIPTION: case NK_I_STATUS:
    case NK_I_NOTES: case NK_I_ERROR: case NK_I_PARAM: case NK_M_DESCRIPTION: case NK_V_STAGE:
    case NK_V_DESCRIPTION:
        return true;
    default:
        return false;
    }
}

/* ---------------------------------------------------------------- commits */

static dd_code commit_status(vfs *v, vfs_file *f, const char *value, dd_err *err)
{
    int status = 0;
    if (f->kind == NK_E_STATUS) {
        if (dd_experiment_status_parse(value, &status) != DD_OK)
            return dd_fail(err, DD_INVALID, "\"%s\" is not IN_PROGRESS, STOPPED or FINISHED",
                           value);
        return dd_experiment_set_status(v->st, f->id, status, err);
    }
    if (dd_iteration_status_parse(value, &status) != DD_OK)
        return dd_fail(err, DD_INVALID, "\"%s\" is not RUNNING, SUCCEEDED, FAILED or KILLED",
                       value);
    return dd_iteration_set_status(v->st, f->id, status, NULL, err);
}

void vfs_file_set_user(vfs_file *f, int64_t user_id)
{
    f->user_id = user_id;
}

/* Store the value a value-file handle collected. */
static int commit_value(vfs *v, vfs_file *f)
{
    char *value = NULL;
    int rc = dd_parse_value(f->wbuf.data ? f->wbuf.data : "", f->wbuf.len, &value);
    if (rc)
        return rc;
    dd_err err = {0};
    dd_code code;
    switch (f->kind) {
    case NK_P_DESCRIPTION: code = dd_project_set_description(v->st, f->id, value, &err); break;
    case NK_E_DESCRIPTION: code = dd_experiment_set_description(v->st, f->id, value, &err); break;
    case NK_E_STATUS: case NK_I_STATUS: code = commit_status(v, f, value, &err); break;
    case NK_I_NOTES: code = dd_iteration_set_notes(v->st, f->id, value, &err); break;
    case NK_I_ERROR: code = dd_iteration_set_error_message(v->st, f->id, value, &err); break;
    case NK_I_PARAM: case NK_PENDING:
        code = dd_param_set(v->st, f->iteration_id, f->key, value, &err);
        break;
    case NK_M_DESCRIPTION: code = dd_model_set_description(v->st, f->id, value, &err); break;
    case NK_V_DESCRIPTION: code = dd_version_set_description(v->st, f->id, value, &err); break;
    case NK_V_STAGE: {
        int stage = 0;
        code = dd_stage_parse(value, &stage) == DD_OK
            ? dd_version_set_stage_as(v->st, f->id, stage, f->user_id, &err)
            : dd_fail(&err, DD_INVALID,
                      "\"%s\" is not NO_STAGE, STAGING, PRODUCTION or ARCHIVED", value);
        break;
    }
    default: code = dd_fail(&err, DD_FORBIDDEN, "not writable"); break;
    }
    free(value);
    return code == DD_OK ? 0 : vfs_fail(code, &err, "write");
}

static const char *document_name(const vfs_file *f)
{
    return f->mode == FM_METRICS_JSON ? "metrics.json" : "params.yaml";
}

/* A metrics.json a program wrote: one point per number, in one transaction. The text is
 * then spent: later writes on the handle make a new document. */
static int commit_metrics_json(vfs *v, vfs_file *f)
{
    if (f->refused)
        return -EINVAL;
    char **keys = NULL, msg[256] = "";
    dd_metric_point *pts = NULL;
    size_t n = 0;
    int rc = dd_parse_metrics_json(f->wbuf.data ? f->wbuf.data : "", f->wbuf.len, &keys, &pts,
                                   &n, msg, sizeof msg);
    if (rc) {
        syslog(LOG_INFO, "metrics.json of iteration %" PRId64 ": %s", f->id, msg);
        return rc;
    }
    dd_err err = {0};
    dd_metric_item *items = calloc(n ? n : 1, sizeof *items);
    dd_code code = items ? DD_OK : dd_fail(&err, DD_IO, "out of memory");
    for (size_t i = 0; items && i < n; i++)
        items[i] = (dd_metric_item){.key = keys[i], .point = pts[i]};
    if (code == DD_OK)
        code = dd_metric_append_items(v->st, f->id, items, n, NULL, NULL, &err);
    free(items);
    dd_params_free(keys, NULL, n);
    free(pts);
    if (code == DD_OK)
        dd_buf_reset(&f->wbuf);
    return code == DD_OK ? 0 : vfs_fail(code, &err, "metrics.json");
}

static int commit_params_yaml(vfs *v, vfs_file *f)
{
    if (f->refused)
        return -EINVAL;               /* a write was refused: nothing of it is stored */
    char **keys = NULL, **values = NULL, msg[256] = "";
    size_t n = 0;
    int rc = dd_parse_params_yaml(f->wbuf.data ? f->wbuf.data : "", f->wbuf.len, &keys, &values,
                                  &n, msg, sizeof msg);
    if (rc) {
        syslog(LOG_INFO, "params.yaml of iteration %" PRId64 ": %s", f->id, msg);
        return rc;
    }
    dd_err err = {0};
    /* `> params.yaml` (O_TRUNC) is the whole parameter set; `>>` adds to it */
    dd_code code = (f->replace ? dd_param_replace_all : dd_param_set_many)(
        v->st, f->id, (const char *const *)keys, (const char *const *)values, n, &err);
    dd_params_free(keys, values, n);
    return code == DD_OK ? 0 : vfs_fail(code, &err, "params.yaml");
}

/* ---------------------------------------------------------------- metric rewrites
 *
 * Tools that save a file write its whole text back: `vim` (open, ftruncate, write from
 * offset 0), `sed -i` and editors through a rename, Python's open(path, "w"). A metric
 * file is an append-only log, so such a rewrite must neither store the points it repeats
 * a second time nor change them. A handle's writes are a rewrite when its first write
 * comes at offset 0 without O_APPEND, the series already has points, and the first line
 * is a whole point as `cat` prints it (`<step> <value> <timestamp>`: a new value written
 * with `echo 0.9 > acc` has no timestamp and stays an append). The rewrite's lines are
 * then compared, in order, with the series' points in the order `cat` shows them: a line
 * equal to the point at its position (same step, value and instant) is skipped, lines
 * past the last point are appended, and any other difference refuses the write with
 * EINVAL (the handle then refuses every later write). A rewrite that ends before
 * repeating every point (points deleted) is refused at close; nothing was stored. */

typedef struct rewrite_cmp {
    const dd_metric_point *pts;
    size_t n, i;          /* points to compare, and how many matched */
    bool differs;
    int64_t step, id;     /* the last row matched */
} rewrite_cmp;

static bool point_is_row(const dd_metric_point *p, const dd_metric_row *row)
{
    double value = p->value == 0.0 ? 0.0 : p->value;   /* as stored: no -0.0 */
    return p->has_step && p->step == row->step && value == row->value && p->recorded_at[0] &&
           row->recorded_at && strcmp(p->recorded_at, row->recorded_at) == 0;
}

static int rewrite_row_cb(void *ctx, const dd_metric_row *row)
{
    rewrite_cmp *rc = ctx;
    if (!point_is_row(&rc->pts[rc->i], row)) {
        rc->differs = true;
        return 1;
    }
    rc->step = row->step;
    rc->id = row->id;
    return ++rc->i == rc->n;
}

/* Decide at a handle's first batch whether its writes are a rewrite (see above); `first`
 * NULL: they are whatever their first line (the whole text of a rename over the file). */
static int rewrite_decide(vfs *v, vfs_file *f, const dd_metric_point *first)
{
    f->rewrite = RW_APPEND;
    if (first && (f->append_flag || f->first_off != 0 || !first->has_step ||
                  !first->recorded_at[0]))
        return 0;
    dd_metric_series m = {0};
    char ts[DD_TS_LEN];
    dd_err err = {0};
    dd_code code = dd_metric_series_get(v->st, f->iteration_id, f->key, &m, ts, &err);
    if (code == DD_NOT_FOUND || (code == DD_OK && m.point_count == 0))
        return 0;
    if (code != DD_OK) {
        f->rewrite = RW_UNDECIDED;      /* not known: the next batch asks again */
        return vfs_fail(code, &err, "metric read");
    }
    f->rewrite = RW_ACTIVE;
    f->rw_total = m.point_count;
    f->rw_matched = 0;
    return 0;
}

/* Compare a rewrite's batch with the points at its position; *skip is how many of the
 * batch repeat existing points (the rest are new). Changes no state of the handle. */
static int rewrite_compare(vfs *v, vfs_file *f, const dd_metric_point *pts, size_t n,
                           size_t *skip, rewrite_cmp *out)
{
    size_t left = (size_t)(f->rw_total - f->rw_matched);
    rewrite_cmp rc = {.pts = pts, .n = n < left ? n : left, .step = f->rw_step,
                      .id = f->rw_id};
    *skip = 0;
    if (rc.n) {
        dd_err err = {0};
        dd_code code = dd_metric_read(v->st, f->iteration_id, f->key, f->rw_matched > 0,
                                      f->rw_step, f->rw_id, rewrite_row_cb, &rc, &err);
        if (code != DD_OK)
            return vfs_fail(code, &err, "metric read");
    }
    if (rc.differs || rc.i < rc.n) {
        syslog(LOG_INFO, "metric %s of iteration %" PRId64 ": the rewrite changes point %"
               PRId64 " of %" PRId64 " (its line in the file): metric points are append-only;"
               " nothing is stored", f->key, f->iteration_id,
               f->rw_matched + (int64_t)rc.i + 1, f->rw_total);
        return -EINVAL;
    }
    *skip = rc.n;
    *out = rc;
    return 0;
}

/* At close: a rewrite that stopped before repeating every point deleted some. */
static int rewrite_finish(vfs_file *f)
{
    if (f->rewrite != RW_ACTIVE || f->rw_matched == f->rw_total)
        return 0;
    f->rewrite = RW_REFUSED;
    syslog(LOG_INFO, "metric %s of iteration %" PRId64 ": the rewrite leaves out %" PRId64
           " of its %" PRId64 " points: metric points are append-only; nothing is stored",
           f->key, f->iteration_id, f->rw_total - f->rw_matched, f->rw_total);
    return -EINVAL;
}

/* Append the complete lines in data[0..len) as one batch (less what a rewrite repeats). */
static int commit_metric_lines(vfs *v, vfs_file *f, const char *data, size_t len)
{
    dd_metric_point *pts = NULL;
    size_t n = 0, skip = 0;
    char msg[256] = "";
    if (f->rewrite == RW_REFUSED)
        return -EINVAL;
    int rc = dd_parse_metric_lines(data, len, &pts, &n, msg, sizeof msg);
    if (rc) {
        syslog(LOG_INFO, "metric %s of iteration %" PRId64 ": %s", f->key, f->iteration_id, msg);
        return rc;
    }
    if (n && f->rewrite == RW_UNDECIDED)
        rc = rewrite_decide(v, f, &pts[0]);
    rewrite_cmp cmp = {0};
    if (!rc && n && f->rewrite == RW_ACTIVE)
        rc = rewrite_compare(v, f, pts, n, &skip, &cmp);
    if (rc) {
        if (f->rewrite == RW_ACTIVE && rc == -EINVAL)
            f->rewrite = RW_REFUSED;
        free(pts);
        return rc;
    }
    dd_err err = {0};
    /* With close_waits commit, the first batch of a handle is committed at once: `echo
     * 0.9 >> loss` writes once and closes, and the group commit would only add a journal
     * write to it; a writer that keeps the file open goes through the metric log from its
     * second batch on. With close_waits journal every batch goes through the log (close
     * does not wait for the commit either: one commit serves many closes). */
    dd_code code = DD_OK;
    const dd_metric_point *fresh = pts + skip;
    size_t nfresh = n - skip;
    if (nfresh && (f->metric_written || v->opts.close_waits == VFS_CLOSE_WAITS_JOURNAL)) {
        code = dd_metric_append_logged(v->st, f->iteration_id, f->key, fresh, nfresh, &err);
        f->metric_logged = f->metric_logged || code == DD_OK;
    } else if (nfresh) {
        code = dd_metric_append(v->st, f->iteration_id, f->key, fresh, nfresh, &err);
    }
    f->metric_written = f->metric_written || (nfresh && code == DD_OK);
    if (code == DD_OK && skip) {
        f->rw_matched += (int64_t)skip;
        f->rw_step = cmp.step;
        f->rw_id = cmp.id;
    }
    free(pts);
    return code == DD_OK ? 0 : vfs_fail(code, &err, "metric append");
}

int vfs_metric_rewrite(vfs *v, int64_t iteration_id, const char *key, const char *text,
                       size_t len)
{
    vfs_file f = {.kind = NK_I_METRIC, .mode = FM_METRIC, .writable = true,
                  .iteration_id = iteration_id};
    snprintf(f.key, sizeof f.key, "%s", key);
    int rc = rewrite_decide(v, &f, NULL);
    if (!rc)
        rc = commit_metric_lines(v, &f, text, len);
    return rc ? rc : rewrite_finish(&f);
}

/* Turn the handle's upload into the resource (new, or replacing the bytes of one). */
static int commit_upload(vfs *v, vfs_file *f)
{
    dd_err err = {0};
    dd_code code = dd_upload_commit(f->upload, f->experiment_id, f->key, f->replace, NULL, &err);
    dd_upload_free(f->upload);
    f->upload = NULL;
    return code == DD_OK ? 0 : vfs_fail(code, &err, "resource");
}

/* Commit whatever the handle still holds (value not yet stored, partial last line, the
 * bytes of an upload). `last` is true at release: an upload with no bytes is committed
 * only then, because shells flush a redirection before writing to it. */
static int commit_pending(vfs *v, vfs_file *f, bool last)
{
    if (f->mode == FM_ARTIFACT) {
        if (!f->upload || !f->dirty || f->abandoned ||
            (!last && dd_upload_size(f->upload) == 0))
            return 0;
        f->dirty = false;
        return commit_upload(v, f);
    }
    if (!f->dirty)
        return 0;
    f->dirty = false;
    int rc = 0;
    if (f->mode == FM_VALUE)
        rc = commit_value(v, f);
    else if (f->mode == FM_PARAMS_YAML)
        rc = commit_params_yaml(v, f);
    else if (f->mode == FM_METRICS_JSON)
        rc = commit_metrics_json(v, f);
    else if (f->mode == FM_METRIC && f->wbuf.len)
        rc = commit_metric_lines(v, f, f->wbuf.data, f->wbuf.len);
    if (f->mode == FM_METRIC)
        dd_buf_reset(&f->wbuf);
    return rc;
}

/* A metric handle's points after its first batch are group-committed
 * (backend/store/metric_log.c). With close_waits commit, close and fsync wait for them,
 * so that once a writer has closed its file every other process sees its points. A
 * handle that only read, or wrote one batch (committed at once), has nothing to wait for.
 * With close_waits journal close does not wait: the points are in this node's journal
 * (a killed daemon's are replayed) and committed by the log's thread within its bound;
 * other processes see them then, this one at once (its reads drain the log). fsync
 * (`durable`) always waits: the journal is not flushed per write, so only the commit
 * makes the points durable, which is what a caller of fsync asks for. */
static int drain_metrics(vfs *v, vfs_file *f, bool durable)
{
    if (f->mode != FM_METRIC || !f->metric_logged ||
        (!durable && v->opts.close_waits == VFS_CLOSE_WAITS_JOURNAL))
        return 0;
    dd_err err = {0};
    dd_code code = dd_metric_log_drain(v->st, &err);
    return code == DD_OK ? 0 : vfs_fail(code, &err, "metric commit");
}

/* ---------------------------------------------------------------- open */

/* Clone files create on the first read(), not at open: a stat-then-open by a file
 * manager or indexer, `head -c0` or Python's open() + close() must not leave a RUNNING
 * iteration (or a model version) behind; only a reader of the id gets one. */
static int open_clone(vfs *v, vfs_file *f)
{
    if (f->kind == NK_V_NEW_FILE) {      /* the slot may be recycled once the name is open */
        pending *p = pending_get(v, f->id);
        if (!p)
            return -ENOENT;
        f->reg_model = p->iteration_id;
        f->reg_iteration = p->iteration2;
        snprintf(f->key, sizeof f->key, "%s", p->name);
    }
    f->mode = FM_CLONE;
    return pthread_mutex_init(&f->clone_mu, NULL) ? -ENOMEM : 0;
}

static int create_iteration(vfs *v, vfs_file *f)
{
    dd_err err = {0};
    int64_t exp = f->id, parent = 0, id = 0;
    dd_code code = DD_OK;
    if (f->kind == NK_I_CHILD_NEW) {
        dd_iteration it = {0};
        parent = f->id;
        code = dd_iteration_get(v->st, parent, &it, &err);
        exp = it.experiment_id;
        dd_iteration_clear(&it);
    }
    if (code == DD_OK)
        code = dd_iteration_create(v->st, exp, parent, &id, &err);
    if (code != DD_OK)
        return vfs_fail(code, &err, "new iteration");
    return dd_buf_printf(&f->content, "%" PRId64 "\n", id) ? -ENOMEM : 0;
}

/* versions/new/<iteration>[:<resource>]: register a version, reads give its number. */
static int register_version(vfs *v, vfs_file *f)
{
    int64_t model = f->reg_model, iteration = f->reg_iteration, resource = 0, id = 0, number = 0;
    const char *colon = strchr(f->key, ':');
    dd_err err = {0};
    dd_code code = DD_OK;
    if (colon) {
        dd_iteration it = {0};
        code = dd_iteration_get(v->st, iteration, &it, &err);
        if (code == DD_OK)
            code = dd_resource_find(v->st, it.experiment_id, colon + 1, &resource, &err);
        /* a resource this mount is still storing (an empty one waits for its RELEASE) */
        if (code == DD_NOT_FOUND &&
            pending_resource_wait(v, it.experiment_id, colon + 1, PENDING_WAIT_S)) {
            err = (dd_err){0};
            code = dd_resource_find(v->st, it.experiment_id, colon + 1, &resource, &err);
        }
        dd_iteration_clear(&it);
    }
    if (code == DD_OK)
        code = dd_version_create_as(v->st, model, iteration, resource, "", f->user_id, &id,
                                    &number, &err);
    if (code != DD_OK)
        return vfs_fail(code, &err, "register");
    return dd_buf_printf(&f->content, "%" PRId64 "\n", number) ? -ENOMEM : 0;
}

/* The first read of a clone file creates; every later one (rereads, concurrent reads of
 * the same handle) returns the same id. A failed creation is tried again by the next. */
static int clone_once(vfs *v, vfs_file *f)
{
    pthread_mutex_lock(&f->clone_mu);
    int rc = 0;
    if (!f->cloned) {
        dd_buf_reset(&f->content);
        rc = f->kind == NK_V_NEW_FILE ? register_version(v, f) : create_iteration(v, f);
        f->cloned = rc == 0;
    }
    pthread_mutex_unlock(&f->clone_mu);
    return rc;
}

/* Artifact bytes: a reader for reads, an upload for writes (new or replacing). */
static int open_artifact(vfs *v, vfs_file *f, int flags, vfs_open_info *info)
{
    dd_err err = {0};
    dd_code code = DD_OK;
    f->mode = FM_ARTIFACT;
    if (f->kind == NK_PENDING) {
        pending *p = pending_get(v, f->id);
        if (!p)
            return -ENOENT;
        f->experiment_id = p->iteration_id;
        snprintf(f->key, sizeof f->key, "%s", p->name);
        /* O_CREAT|O_TRUNC: if another writer creates the name first, this copy replaces
         * it at close, as it would have had it opened the file a moment later (and the
         * same refusals apply); only O_EXCL insists on a new name */
        f->replace = !(flags & O_EXCL);
    }
    int64_t resource = f->id;
    if (f->kind == NK_V_ARTIFACT) {
        dd_model_version ver = {0};
        code = dd_version_get(v->st, f->id, &ver, &err);
        resource = ver.resource_id;
        dd_version_clear(&ver);
    }
    if (code == DD_OK && f->writable) {
        if (!v->arts)
            return -EROFS;
        if (f->kind == NK_RESOURCE) {
            if (!(flags & O_TRUNC))
                return -EPERM;          /* artifacts are written whole, never patched */
            dd_resource r = {0};
            code = dd_resource_check_replaceable(v->st, f->id, &err);   /* refuse at open */
            if (code == DD_OK)
                code = dd_resource_get(v->st, f->id, &r, &err);
            if (code == DD_OK) {
                f->experiment_id = r.experiment_id;
                snprintf(f->key, sizeof f->key, "%s", r.name);
                f->replace = true;
            }
            dd_resource_clear(&r);
        }
        dd_upload_target t = {f->experiment_id, f->key, f->replace};
        if (code == DD_OK)     /* a remote mount starts sending to the server now */
            code = dd_upload_begin_for(v->arts, &t, &f->upload, &err);
        f->dirty = code == DD_OK;     /* even empty: `touch` or `: >` make an empty one */
        /* the new bytes must not land in the page cache of the old bytes' inode */
        info->direct_io = true;
    } else if (code == DD_OK) {
        /* a version's bytes never change: a remote mount serves them from its cache */
        code = !v->arts ? dd_fail(&err, DD_UNSUPPORTED, "no artifact store to read from")
               : f->kind == NK_V_ARTIFACT
                   ? dd_artifact_open_version(v->arts, resource, &f->reader, &err)
                   : dd_artifact_open(v->arts, resource, &f->reader, &err);
        /* A version's artifact can never change: the kernel keeps its pages. A resource
         * may still be replaced, and the kernel's size and pages of one inode are shared
         * by all its readers, so each open reads its own snapshot directly instead. */
        info->direct_io = f->kind != NK_V_ARTIFACT;
        info->keep_cache = f->kind == NK_V_ARTIFACT;
    }
    return code == DD_OK ? 0 : vfs_fail(code, &err, "open");
}

/* Where a param or metric handle writes: its iteration and key. */
static int bind_series(vfs *v, vfs_file *f)
{
    dd_err err = {0};
    dd_code code = DD_OK;
    char *key = NULL;
    if (f->kind == NK_I_PARAM) {
        code = dd_param_get_by_id(v->st, f->id, &f->iteration_id, &key, NULL, NULL, &err);
    } else if (f->kind == NK_I_METRIC) {
        code = dd_metric_series_name(v->st, f->id, &f->iteration_id, &key, &err);
    } else if (f->kind == NK_PENDING) {
        pending *p = pending_get(v, f->id);
        if (!p)
            return -ENOENT;
        f->iteration_id = p->iteration_id;
        snprintf(f->key, sizeof f->key, "%s", p->name);
        f->mode = p->kind == NK_I_METRIC ? FM_METRIC : FM_VALUE;
        return 0;
    }
    if (code != DD_OK)
        return vfs_fail(code, &err, "open");
    if (key)
        snprintf(f->key, sizeof f->key, "%s", key);
    free(key);
    return 0;
}

int vfs_getattr_open(vfs *v, uint64_t ino, vfs_file *f, vfs_entry *out)
{
    int rc = f ? node_attr(v, ino, out) : vfs_getattr(v, ino, out);
    if (!f || f->mode != FM_ARTIFACT || !f->reader || (rc && rc != -ENOENT))
        return rc;
    if (rc == -ENOENT) {          /* replaced or deleted since: still the bytes we read */
        memset(out, 0, sizeof *out);
        out->ino = ino;
        out->st.st_ino = ino;
        out->st.st_mode = S_IFREG | 0444;
        out->st.st_nlink = 1;
        out->st.st_uid = v->uid;
        out->st.st_gid = v->gid;
    }
    out->st.st_size = dd_artifact_size(f->reader);
    out->st.st_blocks = (out->st.st_size + 511) / 512;
    return 0;
}

/* Enter an opened handle in v->files (vfs_int.h: why). */
static void file_track(vfs *v, vfs_file *f)
{
    pthread_mutex_lock(&v->files_mu);
    dd_dlist_push(&v->files, &f->link);
    pthread_mutex_unlock(&v->files_mu);
}

static void file_untrack(vfs *v, vfs_file *f)
{
    pthread_mutex_lock(&v->files_mu);
    dd_dlist_remove(&v->files, &f->link);
    pthread_mutex_unlock(&v->files_mu);
}

/* A metric file opened for appending: one query finds the series, and the store refuses
 * writes to an ended iteration itself (EROFS at write), so open reads nothing more. */
static int open_metric_fast(vfs *v, uint64_t ino, int flags, vfs_file **out,
                            vfs_open_info *info)
{
    vfs_file *f = calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    f->ino = ino;
    f->kind = NK_I_METRIC;
    f->id = ino_id(ino);
    f->writable = true;
    f->mode = FM_METRIC;
    int rc = bind_series(v, f);
    if (rc) {
        free(f);
        return rc;
    }
    f->append_flag = (flags & O_APPEND) != 0;
    info->direct_io = true;
    info->keep_cache = false;
    file_track(v, f);
    *out = f;
    return 0;
}

int vfs_open(vfs *v, uint64_t ino, int flags, vfs_file **out, vfs_open_info *info)
{
    if (ino_kind(ino) == NK_I_METRIC && (flags & O_ACCMODE) == O_WRONLY)
        return open_metric_fast(v, ino, flags, out, info);
    vfs_entry e = {0};
    int rc = node_attr(v, ino, &e);
    if (rc)
        return rc;
    if (S_ISDIR(e.st.st_mode))
        return -EISDIR;
    vfs_file *f = calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    f->ino = ino;
    f->kind = ino_kind(ino);
    f->id = ino_id(ino);
    f->writable = (flags & O_ACCMODE) != O_RDONLY;
    info->direct_io = true;
    info->keep_cache = false;
    nk k = f->kind;
    if (f->writable && !(e.st.st_mode & 0200))
        rc = node_iteration(v, k, f->id) && iteration_ended(v, node_iteration(v, k, f->id))
                 ? -EROFS : -EPERM;
    else if (k == NK_SCRATCH) {
        f->mode = FM_SCRATCH;
        rc = scratch_open(v, f->id, f->writable && (flags & O_TRUNC));
    } else if (k == NK_E_NEW || k == NK_I_CHILD_NEW)
        rc = open_clone(v, f);
    else if (k == NK_V_NEW_FILE)
        rc = f->writable ? -EPERM : open_clone(v, f);
    else if (k == NK_RESOURCE || k == NK_V_ARTIFACT ||
             (k == NK_PENDING && pending_get(v, f->id) &&
              pending_get(v, f->id)->kind == NK_RESOURCE))
        rc = open_artifact(v, f, flags, info);
    else if (k == NK_I_METRIC || k == NK_PENDING) {
        f->mode = FM_METRIC;
        f->append_flag = (flags & O_APPEND) != 0;
        rc = bind_series(v, f);
    } else if (k == NK_I_PARAMS_YAML && f->writable) {
        f->mode = FM_PARAMS_YAML;
        f->replace = flags & O_TRUNC;
    } else if (k == NK_I_METRICS_JSON && f->writable)
        f->mode = FM_METRICS_JSON;
    else if (kind_is_value(k) && f->writable) {
        f->mode = FM_VALUE;
        rc = k == NK_I_PARAM ? bind_series(v, f) : 0;
    } else
        f->mode = FM_SNAPSHOT;
    if (!rc && (f->mode == FM_SNAPSHOT || f->mode == FM_VALUE || f->mode == FM_PARAMS_YAML ||
                f->mode == FM_METRICS_JSON) &&
        k != NK_PENDING)
        rc = node_render(v, k, f->id, &f->content);
    if (rc) {
        if (f->upload)
            dd_upload_free(f->upload);
        dd_buf_free(&f->content);
        free(f);
        return rc;
    }
    if (k == NK_PENDING) {
        pthread_mutex_lock(&v->mu);
        pending *p = pending_get(v, f->id);
        if (p)
            p->refs++;
        pthread_mutex_unlock(&v->mu);
    }
    file_track(v, f);
    *out = f;
    return 0;
}

/* ---------------------------------------------------------------- read */

typedef struct metric_fill {
    vfs_file *f;
    size_t want;
} metric_fill;

static int metric_line_cb(void *ctx, const dd_metric_row *row)
{
    metric_fill *mf = ctx;
    char *p = dd_buf_reserve(&mf->f->content, DD_METRIC_LINE_MAX);
    if (!p)
        return 1;
    mf->f->content.len += dd_metric_line(row->step, row->value, row->recorded_at, p);
    mf->f->read_resume = true;
    mf->f->resume_step = row->step;
    mf->f->resume_id = row->id;
    return mf->f->content.len >= mf->want;
}

/* Make f->content cover [off, off + size) of the series text, or up to its end. A read
 * past what the handle has seen asks the store again from the last point read, so a
 * reader at the end (`tail -f`, `less +F`) gets the points appended since: the series is
 * a log that grows at its end, as its size says. (A point appended with a step below the
 * last one read belongs earlier in the text; such a reader does not see it.) */
static int metric_window(vfs *v, vfs_file *f, off_t off, size_t size)
{
    if (off < f->read_off || !f->content.data) {       /* rewind: start over */
        dd_buf_reset(&f->content);
        f->read_off = 0;
        f->read_resume = false;
        f->read_eof = false;
    }
    if (f->read_eof && (off_t)(f->read_off + f->content.len) < off + (off_t)size)
        f->read_eof = false;
    while (!f->read_eof && (off_t)(f->read_off + f->content.len) < off + (off_t)size) {
        /* drop what lies before `off`: reads are mostly sequential */
        size_t drop = (size_t)(off - f->read_off);
        if (drop > f->content.len)
            drop = f->content.len;
        if (drop) {
            memmove(f->content.data, f->content.data + drop, f->content.len - drop);
            f->content.len -= drop;
            f->read_off += (off_t)drop;
        }
        size_t before = f->content.len;
        metric_fill mf = {f, f->content.len + (size > METRIC_SLICE ? size : METRIC_SLICE)};
        dd_err err = {0};
        dd_code code = dd_metric_read(v->st, f->iteration_id, f->key, f->read_resume,
                                      f->resume_step, f->resume_id, metric_line_cb, &mf, &err);
        if (code != DD_OK)
            return vfs_fail(code, &err, "metric read");
        if (f->content.oom)
            return -ENOMEM;
        if (f->content.len < mf.want || f->content.len == before)
            f->read_eof = true;
    }
    return 0;
}

static int read_artifact(vfs_file *f, off_t off, size_t size, dd_buf *out)
{
    if (!f->reader)
        return -EBADF;
    char *p = dd_buf_reserve(out, size);
    if (!p)
        return -ENOMEM;
    size_t got = 0;
    dd_err err = {0};
    dd_code code = dd_artifact_pread(f->reader, off, p, size, &got, &err);
    if (code != DD_OK)
        return vfs_fail(code, &err, "read");
    out->len += got;
    return 0;
}

int vfs_read(vfs *v, vfs_file *f, off_t off, size_t size, dd_buf *out)
{
    if (f->mode == FM_SCRATCH)
        return scratch_read(v, f->id, off, size, out);
    if (f->mode == FM_ARTIFACT)
        return read_artifact(f, off, size, out);
    if (f->mode == FM_CLONE) {
        int rc = clone_once(v, f);
        if (rc)
            return rc;
    }
    if (f->mode == FM_METRIC) {
        int rc = metric_window(v, f, off, size);
        if (rc)
            return rc;
        off -= f->read_off;
    }
    if (off < 0 || (size_t)off >= f->content.len)
        return 0;
    size_t n = f->content.len - (size_t)off;
    if (n > size)
        n = size;
    return dd_buf_add(out, f->content.data + off, n) ? -ENOMEM : 0;
}

/* ---------------------------------------------------------------- write */

/* The largest write() to a metric file that is all or nothing. FUSE hands the filesystem
 * a direct-I/O write() in requests of at most max_write bytes (DD_FUSE_MAX_WRITE) and as
 * many pages of the caller's buffer as one request holds (max_write / page size): a
 * buffer that does not start on a page boundary is cut at the last page, so the first
 * piece of a split write() is longer than max_write - page size, and any write() up to
 * that length fits one request whatever its alignment. Nothing tells the pieces of one
 * write() from separate writes, and each piece's reply is final; so a request longer than
 * this bound may be the first piece of a longer write() and is refused whole: the caller's
 * write() then fails with EINVAL and stores nothing (never a short count with a part
 * committed). 1,044,480 bytes with 4 KiB pages. */
static size_t metric_write_max(void)
{
    long page = sysconf(_SC_PAGESIZE);
    return DD_FUSE_MAX_WRITE - (size_t)(page > 0 ? page : 4096);
}

static ssize_t write_metric(vfs *v, vfs_file *f, off_t off, const char *data, size_t size)
{
    if (size > metric_write_max()) {
        syslog(LOG_INFO, "metric %s of iteration %" PRId64 ": a write() of more than %zu"
               " bytes is refused (the kernel would hand it over in pieces)", f->key,
               f->iteration_id, metric_write_max());
        return -EINVAL;
    }
    if (!f->wrote) {
        f->wrote = true;
        f->first_off = off;
    }
    size_t old = f->wbuf.len;
    if (dd_buf_add(&f->wbuf, data, size))
        return -ENOMEM;
    char *nl = memrchr(f->wbuf.data, '\n', f->wbuf.len);
    size_t complete = nl ? (size_t)(nl - f->wbuf.data) + 1 : 0;
    if (f->wbuf.len - complete >= DD_METRIC_LINE_BYTES) {
        /* the partial line kept for the next write is bounded, so no writer can make
         * the daemon hold an endless line */
        syslog(LOG_INFO, "metric %s of iteration %" PRId64 ": a line longer than %d bytes",
               f->key, f->iteration_id, DD_METRIC_LINE_BYTES);
        f->wbuf.len = old;
        return -EINVAL;
    }
    if (!nl) {
        f->dirty = true;
        return (ssize_t)size;
    }
    int rc = commit_metric_lines(v, f, f->wbuf.data, complete);
    if (rc) {
        f->wbuf.len = old;          /* nothing of a refused write is kept */
        return rc;
    }
    memmove(f->wbuf.data, f->wbuf.data + complete, f->wbuf.len - complete);
    f->wbuf.len -= complete;
    f->dirty = f->wbuf.len > 0;
    return (ssize_t)size;
}

/* Up to this size a params.yaml being written is re-checked at each write that ends a
 * line; a larger one is judged only at close (the checks re-parse the whole text). */
#define PARAMS_CHECK_MAX (256 * 1024)

/* params.yaml and a written metrics.json are stored whole at close, in one transaction,
 * however many write()s carried them. Each write that ends a line re-checks the text so
 * far: as soon as no continuation can make it valid (a list, a key given twice, a bad
 * name, in metrics.json a value that is no number...) the write is refused, and so is
 * every later write and the close, so nothing of that document is stored. The shell
 * reports errors only from write(), and bash writes `{ echo a:; echo '  b: 1'; }` line by
 * line: a text that merely stops mid-document ("train:") is not refused. */
static ssize_t write_document(vfs_file *f, size_t size)
{
    if (f->wbuf.data[f->wbuf.len - 1] != '\n' || f->wbuf.len > PARAMS_CHECK_MAX)
        return (ssize_t)size;
    char msg[256];
    bool complete = false;
    int rc = dd_params_yaml_prefix_check(f->wbuf.data, f->wbuf.len, &complete, msg, sizeof msg);
    if (rc == 0 && complete && f->mode == FM_METRICS_JSON) {
        char **keys = NULL;
        dd_metric_point *pts = NULL;
        size_t n = 0;
        rc = dd_parse_metrics_json(f->wbuf.data, f->wbuf.len, &keys, &pts, &n, msg, sizeof msg);
        dd_params_free(keys, NULL, n);
        free(pts);
    }
    if (rc == 0)
        return (ssize_t)size;
    syslog(LOG_INFO, "%s of iteration %" PRId64 ": %s", document_name(f), f->id, msg);
    f->refused = rc == -EINVAL;
    dd_buf_reset(&f->wbuf);
    f->dirty = f->refused;            /* the close reports the refusal once more */
    return rc;
}

/* Append zeros up to `size`: a forward gap, as `cp` leaves over the holes of a sparse
 * file by seeking, or a final ftruncate that extends the file. */
static int upload_fill(vfs_file *f, off_t size)
{
    static const char zeros[65536];
    dd_err err = {0};
    while (dd_upload_size(f->upload) < size) {
        int64_t n = size - dd_upload_size(f->upload);
        dd_code code = dd_upload_write(f->upload, zeros,
                                       (size_t)(n < (int64_t)sizeof zeros ? n : (int64_t)sizeof zeros),
                                       &err);
        if (code != DD_OK)
            return vfs_fail(code, &err, "write");
    }
    return 0;
}

/* Artifacts are written front to back; going back is refused and discards the whole copy
 * (a refused write stores nothing, and a resource with a hole in it must not appear). */
static ssize_t write_artifact(vfs_file *f, off_t off, const char *data, size_t size)
{
    if (!f->upload || f->abandoned)
        return -EBADF;                  /* committed by an earlier close, or refused */
    int rc = off < dd_upload_size(f->upload) ? -EINVAL : upload_fill(f, off);
    dd_err err = {0};
    dd_code code = rc ? DD_OK : dd_upload_write(f->upload, data, size, &err);
    if (!rc && code != DD_OK)
        rc = vfs_fail(code, &err, "write");
    if (rc) {
        f->abandoned = true;
        return rc;
    }
    f->dirty = true;
    return (ssize_t)size;
}

ssize_t vfs_write(vfs *v, vfs_file *f, off_t off, const char *data, size_t size)
{
    if (!f->writable)
        return -EBADF;
    if (f->mode == FM_METRIC)
        return write_metric(v, f, off, data, size);
    if (f->mode == FM_ARTIFACT)
        return write_artifact(f, off, data, size);
    if (f->mode == FM_SCRATCH)
        return scratch_write(v, f->id, off, data, size);
    if (f->mode != FM_VALUE && f->mode != FM_PARAMS_YAML && f->mode != FM_METRICS_JSON)
        return -EPERM;
    if (f->refused)
        return -EINVAL;               /* a document (params.yaml...) was refused already */
    size_t old = f->wbuf.len;
    /* what a handle collects before its commit is bounded: no writer can make the daemon
     * hold an endless value. A value is whole, so the handle drops what it collected and
     * refuses the rest. */
    if (f->abandoned ||
        old + size > (f->mode == FM_VALUE ? DD_VALUE_BYTES : DD_PARAMS_YAML_BYTES)) {
        dd_buf_reset(&f->wbuf);
        f->dirty = false;
        f->abandoned = true;
        return -EFBIG;
    }
    if (dd_buf_add(&f->wbuf, data, size))
        return -ENOMEM;
    f->dirty = true;
    if (f->mode == FM_PARAMS_YAML || f->mode == FM_METRICS_JSON)
        return write_document(f, size);
    if (f->wbuf.data[f->wbuf.len - 1] != '\n')
        return (ssize_t)size;         /* more may follow: commit at the newline or close */
    int rc = commit_pending(v, f, false);
    if (rc) {
        f->wbuf.len = old;
        f->wbuf.data[old] = 0;
        f->dirty = old > 0;
        return rc;
    }
    return (ssize_t)size;
}

/* Is `pid` exiting because a signal killed it? Its kernel flags carry PF_EXITING while it
 * closes its files, and its exit code then holds the signal (/proc/<pid>/stat fields 9
 * and 52). */
static bool killed_by_signal(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *fp = pid > 0 ? fopen(path, "r") : NULL;
    if (!fp)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = 0;
    char *p = strrchr(buf, ')');     /* the command name may hold spaces */
    unsigned long long flags = 0;
    long long exit_code = 0;
    for (int field = 3; p && *p; field++) {
        p = strchr(p + 1, ' ');
        if (!p)
            break;
        if (field == 9)
            flags = strtoull(p + 1, NULL, 10);
        if (field == 52)
            exit_code = strtoll(p + 1, NULL, 10);
    }
    return (flags & 0x4) && (exit_code & 0x7f);   /* PF_EXITING, termination signal */
}

int vfs_flush(vfs *v, vfs_file *f, pid_t caller)
{
    if (f->mode == FM_ARTIFACT && f->upload && killed_by_signal(caller)) {
        f->abandoned = true;
        syslog(LOG_INFO, "resource %s: the writer was killed; the copy is discarded", f->key);
        return 0;
    }
    int rc = commit_pending(v, f, false);
    if (!rc)
        rc = drain_metrics(v, f, false);
    return rc ? rc : rewrite_finish(f);
}

int vfs_fsync(vfs *v, vfs_file *f)
{
    int rc = commit_pending(v, f, false);
    return rc ? rc : drain_metrics(v, f, true);
}

/* Free a handle without committing anything (a pending upload is aborted). */
static void file_free(vfs *v, vfs_file *f)
{
    if (f->mode == FM_SCRATCH)
        scratch_release(v, f->id);
    if (f->kind == NK_PENDING) {
        pthread_mutex_lock(&v->mu);
        pending *p = pending_get(v, f->id);
        if (p && --p->refs <= 0) {
            memset(p, 0, sizeof *p);      /* stored or abandoned: the name resolves anew */
            pthread_cond_broadcast(&v->pending_gone);
        }
        pthread_mutex_unlock(&v->mu);
    }
    if (f->upload)
        dd_upload_free(f->upload);
    if (f->reader)
        dd_artifact_close(f->reader);
    if (f->mode == FM_CLONE)
        pthread_mutex_destroy(&f->clone_mu);
    dd_buf_free(&f->content);
    dd_buf_free(&f->wbuf);
    free(f);
}

/* Let go of `f`: the open handle (vfs_release) and each read in vfs_read_with hold it;
 * the last to let go frees it. `holders` counts the reads, so a handle no read holds
 * goes at once, as before. */
static void file_put(vfs *v, vfs_file *f)
{
    if (atomic_fetch_sub(&f->holders, 1) == 0)
        file_free(v, f);
}

int vfs_release(vfs *v, vfs_file *f)
{
    file_untrack(v, f);
    int rc = commit_pending(v, f, true);
    if (rc == 0)
        rc = drain_metrics(v, f, false);
    file_put(v, f);
    return rc;
}

int vfs_read_with(vfs *v, vfs_file *f, off_t off, size_t size, vfs_take take, void *ctx)
{
    if (f->mode != FM_ARTIFACT || !f->reader)
        return 0;
    /* `take` replies: from then on the kernel may release the handle (vfs_int.h holders) */
    atomic_fetch_add(&f->holders, 1);
    dd_err err = {0};
    dd_code code = dd_artifact_pread_with(f->reader, off, size, take, ctx, &err);
    int rc = code == DD_OK ? 1 : code == DD_UNSUPPORTED ? 0 : vfs_fail(code, &err, "read");
    file_put(v, f);
    return rc;
}

void files_free_open(vfs *v)
{
    pthread_mutex_lock(&v->files_mu);
    dd_dlink *l = v->files;
    v->files = NULL;
    pthread_mutex_unlock(&v->files_mu);
    while (l) {
        dd_dlink *next = l->next;
        file_free(v, DD_CONTAINER(l, vfs_file, link));
        l = next;
    }
}

int vfs_truncate(vfs *v, uint64_t ino, vfs_file *f, off_t size)
{
    vfs_entry e;
    int rc = node_attr(v, ino, &e);
    if (rc)
        return rc;
    nk k = ino_kind(ino);
    if (k == NK_SCRATCH)
        return scratch_truncate(v, ino_id(ino), size);
    if (!(e.st.st_mode & 0200))
        return node_iteration(v, k, ino_id(ino)) ? -EROFS : -EPERM;
    if (k == NK_I_METRIC)               /* append-only: ftruncate(fd, 0) announces a */
        return f && size == 0 ? 0 : -EPERM;   /* rewrite, as O_TRUNC does (vim) */
    if (f && f->mode == FM_ARTIFACT && f->upload && !f->abandoned &&
        size >= dd_upload_size(f->upload))
        return upload_fill(f, size);    /* cp extending a sparse file's last hole */
    if (size != 0)
        return -EINVAL;
    if (f) {                            /* "a new value follows", as O_TRUNC */
        dd_buf_reset(&f->wbuf);
        f->dirty = false;
        f->abandoned = f->abandoned && f->mode == FM_ARTIFACT;  /* a value starts anew */
        f->refused = false;
        f->replace = f->replace || f->mode == FM_PARAMS_YAML;
    }
    return 0;
}

int vfs_chmod(vfs *v, uint64_t ino, mode_t mode)
{
    vfs_entry e;
    int rc = node_attr(v, ino, &e);
    if (rc)
        return rc;
    /* a just-created file may take any mode (sed -i fchmods its temporary file); a
     * scratch file keeps showing 0600 (scratch.c says why) */
    if (ino_kind(ino) == NK_PENDING || ino_kind(ino) == NK_SCRATCH)
        return 0;
    return (e.st.st_mode & 07777) == (mode & 07777) ? 0 : -EPERM;
}
