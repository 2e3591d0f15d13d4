/*
 * charts.c - the SVG charts of the tree: metrics/<key>.svg (one series) and
 * experiments/<e>/charts/<key>.svg (that key of every iteration, overlaid).
 *
 * A chart is drawn from the store at open (a snapshot, like every small file) by
 * streaming the series through the M4 downsampler (chart/downsample.h) into the SVG
 * writer (chart/svg.h), by its block summaries (chart/read/chart_read.h): memory is
 * O(plot width) for the drawing plus, while reading, 96 bytes per 64 points of the
 * series (its block summaries, 1.5 MB for 1M points).
 * Its size is known without reading a point: the writer's bound from the series
 * summaries (point counts, key, labels), the drawing padded with trailing newlines to it
 * (svg.h). So `ls -l`, `stat` and a listing cost what they cost for the metric files.
 *
 * Names (README, "Charts"): the chart of key K is K.svg. In metrics/ a metric file
 * always wins: when keys K and K.svg both exist, metrics/K.svg is the metric, and the
 * chart of K is only in the experiment's charts/ (which holds nothing but charts, so the
 * chart of key K.svg, K.svg.svg, never clashes there either).
 *
 * Inodes: metrics/K.svg carries the series' id; charts/K.svg the lowest series id of key
 * K in the experiment (stable: ids are never reused and later series get higher ones).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chart_read.h"
#include "svg.h"
#include "vfs_int.h"

#define SVG_EXT ".svg"

/* ---------------------------------------------------------------- names */

/* The key a chart name names (name minus ".svg"), or false when it is not one. */
static bool chart_key(const char *name, char key[DD_NAME_MAX + 1])
{
    size_t n = strlen(name), e = strlen(SVG_EXT);
    if (n <= e || n - e > DD_NAME_MAX || strcmp(name + n - e, SVG_EXT) != 0)
        return false;
    memcpy(key, name, n - e);
    key[n - e] = 0;
    return true;
}

/* ---------------------------------------------------------------- drawing */

/* The most points the downsampler keeps of a series of n points. */
static size_t kept_bound(int64_t n)
{
    size_t cap = 4 * (size_t)DD_CHART_COLUMNS;
    return n < 0 ? 0 : (uint64_t)n < cap ? (size_t)n : cap;
}

/* One series read through the downsampler (by its block summaries, chart_read.h);
 * *pts (malloc'd, *n of them) are the kept points. */
static int series_points(vfs *v, int64_t iteration, const char *key, int64_t max_step,
                         dd_ds_point **pts, size_t *n)
{
    dd_downsample ds;
    if (dd_ds_init(&ds, DD_CHART_COLUMNS, NAN, (double)max_step))
        return -ENOMEM;
    dd_err err = {0};
    dd_code code = dd_chart_read_series(v->st, iteration, key, &ds, &err);
    if (code != DD_OK) {
        dd_ds_free(&ds);
        return vfs_fail(code, &err, "chart");
    }
    size_t m;
    const dd_ds_point *kept = dd_ds_finish(&ds, &m);
    *pts = malloc((m ? m : 1) * sizeof **pts);
    if (*pts)
        memcpy(*pts, kept, m * sizeof **pts);
    *n = m;
    dd_ds_free(&ds);
    return *pts ? 0 : -ENOMEM;
}

/* Draw `c` padded to the bound of `max_points`, into out (its memory handed over from
 * the chart buffer, which has dd_buf's layout). */
static int draw(const dd_chart *c, const size_t *max_points, dd_buf *out)
{
    size_t size = dd_chart_svg_bound(c, max_points);
    dd_buf b = {0};
    if (dd_chart_svg_padded(c, size, &b)) {
        dd_buf_free(&b);
        return -ENOMEM;
    }
    dd_buf_free(out);
    out->data = b.data;
    out->len = b.len;
    out->cap = b.cap;
    out->oom = 0;
    return 0;
}

/* ---------------------------------------------------------------- the cache */

/* Why: a chart is drawn from every point of its series (a 1M-point series is a full scan
 * of it, a good part of a second on a busy machine), but is opened far more often than
 * the series changes (a finished run's charts never change). So each drawing is kept
 * with its signature: what it was drawn from, as the summaries say (series ids, point
 * counts, last steps, update times, the title and the legend). An open whose signature
 * is the same gets the kept bytes; an appended point changes a count and a time, a
 * deleted series takes its id with it, a status change the legend. At most
 * VFS_CHART_CACHE drawings and VFS_CHART_CACHE_BYTES in all, least recently used first
 * out. */

static void cache_drop(vfs *v, chart_cached *c)
{
    v->chart_bytes -= c->svg.len;
    dd_buf_free(&c->sig);
    dd_buf_free(&c->svg);
    c->kind = 0;
}

static bool cache_get(vfs *v, nk kind, int64_t id, const dd_buf *sig, dd_buf *out)
{
    bool hit = false;
    pthread_mutex_lock(&v->mu);
    for (size_t i = 0; i < VFS_CHART_CACHE; i++) {
        chart_cached *c = &v->charts[i];
        if (c->kind == (int)kind && c->id == id && c->sig.len == sig->len &&
            memcmp(c->sig.data, sig->data, sig->len) == 0) {
            c->used = ++v->chart_clock;
            dd_buf_reset(out);
            hit = dd_buf_add(out, c->svg.data, c->svg.len) == 0;
            break;
        }
    }
    pthread_mutex_unlock(&v->mu);
    return hit;
}

static void cache_put(vfs *v, nk kind, int64_t id, const dd_buf *sig, const dd_buf *svg)
{
    if (svg->len > VFS_CHART_CACHE_BYTES / 4)
        return;
    chart_cached fresh = {(int)kind, id, {0}, {0}, 0};
    if (dd_buf_add(&fresh.sig, sig->data, sig->len) ||
        dd_buf_add(&fresh.svg, svg->data, svg->len)) {
        dd_buf_free(&fresh.sig);
        dd_buf_free(&fresh.svg);
        return;
    }
    pthread_mutex_lock(&v->mu);
    for (size_t i = 0; i < VFS_CHART_CACHE; i++)      /* an older drawing of it goes */
        if (v->charts[i].kind == (int)kind && v->charts[i].id == id)
            cache_drop(v, &v->charts[i]);
    for (;;) {
        chart_cached *free_slot = NULL, *oldest = NULL;
        for (size_t i = 0; i < VFS_CHART_CACHE; i++) {
            chart_cached *c = &v->charts[i];
            if (!c->kind)
                free_slot = free_slot ? free_slot : c;
            else if (!oldest || c->used < oldest->used)
                oldest = c;
        }
        if (free_slot && v->chart_bytes + svg->len <= VFS_CHART_CACHE_BYTES) {
            fresh.used = ++v->chart_clock;
            *free_slot = fresh;
            v->chart_bytes += svg->len;
            break;
        }
        cache_drop(v, oldest);    /* not NULL: a full table or too many bytes */
    }
    pthread_mutex_unlock(&v->mu);
}

void chart_cache_free(vfs *v)
{
    for (size_t i = 0; i < VFS_CHART_CACHE; i++)
        if (v->charts[i].kind)
            cache_drop(v, &v->charts[i]);
}

/* ---------------------------------------------------------------- metrics/<key>.svg */

static void metric_title(char *buf, size_t len, const char *key, int64_t iteration)
{
    snprintf(buf, len, "%s \xc2\xb7 iteration %" PRId64, key, iteration);
}

/* The chart of one series: title "<key> · iteration <id>", no legend. */
static void metric_chart(const char *title, dd_chart_series *s, dd_chart *c)
{
    *c = (dd_chart){title, "step", "value", true, s, 1};
}

static int metric_svg_info(vfs *v, int64_t series_id, chart_info *out)
{
    dd_metric_series m = {0};
    char *key = NULL, ts[DD_TS_LEN];
    dd_err err = {0};
    dd_code code = dd_metric_series_by_id(v->st, series_id, &m, &key, ts, &err);
    if (code != DD_OK)
        return vfs_fail(code, &err, "chart");
    char title[DD_NAME_MAX + 64];
    metric_title(title, sizeof title, key, m.iteration_id);
    dd_chart_series s = {NULL, NULL, 0};
    dd_chart c;
    metric_chart(title, &s, &c);
    size_t cap = kept_bound(m.point_count);
    out->id = series_id;
    out->iteration = m.iteration_id;
    out->size = (off_t)dd_chart_svg_bound(&c, &cap);
    memcpy(out->mtime, m.updated_date, DD_TS_LEN);
    free(key);
    return 0;
}

static int metric_svg_render(vfs *v, int64_t series_id, dd_buf *out)
{
    dd_metric_series m = {0};
    char *key = NULL, ts[DD_TS_LEN];
    dd_err err = {0};
    dd_code code = dd_metric_series_by_id(v->st, series_id, &m, &key, ts, &err);
    if (code != DD_OK)
        return vfs_fail(code, &err, "chart");
    dd_buf sig = {0};
    dd_buf_printf(&sig, "%" PRId64 " %" PRId64 " %" PRId64 " %s %s", m.id, m.point_count,
                  m.max_step, m.updated_date, key);
    if (!sig.oom && cache_get(v, NK_I_METRIC_SVG, series_id, &sig, out)) {
        dd_buf_free(&sig);
        free(key);
        return 0;
    }
    dd_ds_point *pts = NULL;
    size_t n = 0;
    int rc = series_points(v, m.iteration_id, key, m.max_step, &pts, &n);
    if (!rc) {
        char title[DD_NAME_MAX + 64];
        metric_title(title, sizeof title, key, m.iteration_id);
        dd_chart_series s = {NULL, pts, n};
        dd_chart c;
        metric_chart(title, &s, &c);
        /* the size `stat` gave, from the summary read just now (points appended since
         * make the drawing longer, as they make the metric file longer) */
        size_t cap = kept_bound(m.point_count);
        rc = draw(&c, &cap, out);
    }
    if (!rc && !sig.oom)
        cache_put(v, NK_I_METRIC_SVG, series_id, &sig, out);
    dd_buf_free(&sig);
    free(pts);
    free(key);
    return rc;
}

/* ---------------------------------------------------------------- an experiment's keys */

typedef struct it_row {
    int64_t id;
    int status;
    char updated[DD_TS_LEN];
} it_row;

typedef struct series_row {
    char *key;
    int64_t id;            /* series id */
    size_t it;             /* index into iterations */
    int64_t points, max_step;
    char updated[DD_TS_LEN];
} series_row;

/* Every series of an experiment, sorted by key then iteration id. */
typedef struct exp_series {
    it_row *its;
    size_t n_its, cap_its;
    series_row *rows;
    size_t n, cap;
    size_t cur_it;         /* the iteration being listed */
    bool oom;
} exp_series;

static int collect_iteration(void *ctx, const dd_iteration *it)
{
    exp_series *e = ctx;
    if (e->n_its == e->cap_its) {
        size_t cap = e->cap_its ? 2 * e->cap_its : 16;
        it_row *p = realloc(e->its, cap * sizeof *p);
        if (!p)
            return (e->oom = true);
        e->its = p;
        e->cap_its = cap;
    }
    it_row *r = &e->its[e->n_its++];
    r->id = it->id;
    r->status = it->status_id;
    memcpy(r->updated, it->updated_date, DD_TS_LEN);
    return 0;
}

static int collect_series(void *ctx, const dd_metric_series *m)
{
    exp_series *e = ctx;
    if (e->n == e->cap) {
        size_t cap = e->cap ? 2 * e->cap : 16;
        series_row *p = realloc(e->rows, cap * sizeof *p);
        if (!p)
            return (e->oom = true);
        e->rows = p;
        e->cap = cap;
    }
    series_row *r = &e->rows[e->n];
    r->key = strdup(m->key);
    if (!r->key)
        return (e->oom = true);
    e->n++;
    r->id = m->id;
    r->it = e->cur_it;
    r->points = m->point_count;
    r->max_step = m->max_step;
    memcpy(r->updated, m->updated_date, DD_TS_LEN);
    return 0;
}

static void exp_series_free(exp_series *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->rows[i].key);
    free(e->rows);
    free(e->its);
    *e = (exp_series){0};
}

static int row_cmp(const void *a, const void *b)
{
    const series_row *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : x->id < y->id ? -1 : x->id > y->id;
}

/* Listings first, then per-iteration series lists: no query runs inside another's
 * callback. */
static int exp_series_load(vfs *v, int64_t experiment, exp_series *e)
{
    *e = (exp_series){0};
    dd_err err = {0};
    dd_code code = dd_iteration_list(v->st, experiment, collect_iteration, e, &err);
    for (size_t i = 0; code == DD_OK && !e->oom && i < e->n_its; i++) {
        e->cur_it = i;
        code = dd_metric_series_list(v->st, e->its[i].id, collect_series, e, &err);
    }
    if (code != DD_OK || e->oom) {
        exp_series_free(e);
        return code != DD_OK ? vfs_fail(code, &err, "charts") : -ENOMEM;
    }
    if (e->n)                  /* qsort's array may not be NULL, even for 0 rows */
        qsort(e->rows, e->n, sizeof *e->rows, row_cmp);
    return 0;
}

/* The rows of key `key`: [*first, *end), none when *first == *end (binary search: the
 * rows are sorted by key). */
static void key_span(const exp_series *e, const char *key, size_t *first, size_t *end)
{
    size_t lo = 0, hi = e->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(e->rows[mid].key, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t j = lo;
    while (j < e->n && strcmp(e->rows[j].key, key) == 0)
        j++;
    *first = lo;
    *end = j;
}

/* One key's overlaid chart: title "<key> · experiment <name>", one series per iteration
 * labelled "#<id> <status>". labels: (end - first) buffers of 48 bytes. */
static void exp_chart(const exp_series *e, size_t first, size_t end, const char *title,
                      char (*labels)[48], dd_chart_series *s, dd_chart *c)
{
    for (size_t i = first; i < end; i++) {
        const it_row *it = &e->its[e->rows[i].it];
        snprintf(labels[i - first], 48, "#%" PRId64 " %s", it->id,
                 dd_iteration_status_name(it->status));
        s[i - first] = (dd_chart_series){labels[i - first], NULL, 0};
    }
    *c = (dd_chart){title, "step", "value", true, s, end - first};
}

/* The experiment and key a charts/ inode (a series id) stands for. */
static int exp_chart_of(vfs *v, int64_t series_id, int64_t *experiment, char **key,
                        char **exp_name)
{
    dd_metric_series m = {0};
    char ts[DD_TS_LEN];
    dd_err err = {0};
    dd_iteration it = {0};
    dd_experiment x = {0};
    dd_code code = dd_metric_series_by_id(v->st, series_id, &m, key, ts, &err);
    if (code == DD_OK)
        code = dd_iteration_get(v->st, m.iteration_id, &it, &err);
    if (code == DD_OK)
        code = dd_experiment_get(v->st, it.experiment_id, &x, &err);
    *experiment = it.experiment_id;
    *exp_name = code == DD_OK ? strdup(x.name) : NULL;
    dd_iteration_clear(&it);
    dd_experiment_clear(&x);
    if (code != DD_OK) {
        free(*key);
        *key = NULL;
        return vfs_fail(code, &err, "chart");
    }
    return *exp_name ? 0 : -ENOMEM;
}

static void exp_title(char *buf, size_t len, const char *key, const char *exp_name)
{
    snprintf(buf, len, "%s \xc2\xb7 experiment %s", key, exp_name);
}

/* Size and times of one key's chart, from the loaded summaries. */
static int exp_info(const exp_series *e, size_t first, size_t end, const char *title,
                    chart_info *out)
{
    size_t k = end - first;
    char (*labels)[48] = malloc(k * sizeof *labels);
    dd_chart_series *s = malloc(k * sizeof *s);
    size_t *caps = malloc(k * sizeof *caps);
    int rc = labels && s && caps ? 0 : -ENOMEM;
    if (!rc) {
        dd_chart c;
        exp_chart(e, first, end, title, labels, s, &c);
        out->id = e->rows[first].id;
        out->iteration = 0;
        out->mtime[0] = 0;
        for (size_t i = first; i < end; i++) {
            caps[i - first] = kept_bound(e->rows[i].points);
            if (out->id > e->rows[i].id)
                out->id = e->rows[i].id;
            /* a newer point or a status change (the legend) */
            const char *t[2] = {e->rows[i].updated, e->its[e->rows[i].it].updated};
            for (int j = 0; j < 2; j++)
                if (strcmp(t[j], out->mtime) > 0)
                    memcpy(out->mtime, t[j], DD_TS_LEN);
        }
        out->size = (off_t)dd_chart_svg_bound(&c, caps);
    }
    free(labels);
    free(s);
    free(caps);
    return rc;
}

#define EXP_TITLE_MAX (2 * DD_NAME_MAX + 64)

/* What both the size and the drawing of charts/<key>.svg start from: the experiment's
 * series (*e, to exp_series_free), the span [*first, *end) of the chart's key in it,
 * its title, and the key itself (*key, malloc'd: free it). On failure nothing is held. */
static int exp_chart_load(vfs *v, int64_t series_id, exp_series *e, char **key,
                          char title[EXP_TITLE_MAX], size_t *first, size_t *end)
{
    int64_t experiment;
    char *name = NULL;
    *key = NULL;
    int rc = exp_chart_of(v, series_id, &experiment, key, &name);
    if (!rc)
        rc = exp_series_load(v, experiment, e);
    if (!rc) {
        key_span(e, *key, first, end);
        exp_title(title, EXP_TITLE_MAX, *key, name);
    }
    free(name);
    if (rc) {
        free(*key);
        *key = NULL;
    }
    return rc;
}

static int exp_chart_info(vfs *v, int64_t series_id, chart_info *out)
{
    exp_series e = {0};
    char *key, title[EXP_TITLE_MAX];
    size_t first, end;
    int rc = exp_chart_load(v, series_id, &e, &key, title, &first, &end);
    if (rc)
        return rc;
    rc = first == end ? -ENOENT : exp_info(&e, first, end, title, out);
    exp_series_free(&e);
    free(key);
    return rc;
}

static int exp_chart_render(vfs *v, int64_t series_id, dd_buf *out)
{
    exp_series e = {0};
    char *key, title[EXP_TITLE_MAX];
    size_t first, end;
    int rc = exp_chart_load(v, series_id, &e, &key, title, &first, &end);
    if (rc)
        return rc;
    size_t k = end - first;
    char (*labels)[48] = calloc(k ? k : 1, sizeof *labels);
    dd_chart_series *s = calloc(k ? k : 1, sizeof *s);
    size_t *caps = calloc(k ? k : 1, sizeof *caps);
    dd_ds_point **pts = calloc(k ? k : 1, sizeof *pts);
    rc = first == end ? -ENOENT : labels && s && caps && pts ? 0 : -ENOMEM;
    dd_buf sig = {0};
    bool hit = false;
    if (!rc) {
        dd_buf_adds(&sig, title);
        for (size_t i = first; i < end; i++) {
            const series_row *r = &e.rows[i];
            dd_buf_printf(&sig, "|%" PRId64 " %" PRId64 " %" PRId64 " %s %" PRId64 " %d",
                          r->id, r->points, r->max_step, r->updated, e.its[r->it].id,
                          e.its[r->it].status);
        }
        hit = !sig.oom && cache_get(v, NK_E_CHART, series_id, &sig, out);
    }
    if (!rc && !hit) {
        dd_chart c;
        exp_chart(&e, first, end, title, labels, s, &c);
        for (size_t i = 0; !rc && i < k; i++) {
            const series_row *r = &e.rows[first + i];
            caps[i] = kept_bound(r->points);
            rc = series_points(v, e.its[r->it].id, key, r->max_step, &pts[i], &s[i].n);
            s[i].points = pts[i];
        }
        if (!rc)
            rc = draw(&c, caps, out);
        if (!rc && !sig.oom)
            cache_put(v, NK_E_CHART, series_id, &sig, out);
    }
    dd_buf_free(&sig);
    for (size_t i = 0; pts && i < k; i++)
        free(pts[i]);
    free(pts);
    free(labels);
    free(s);
    free(caps);
    exp_series_free(&e);
    free(key);
    return rc;
}

/* ---------------------------------------------------------------- the interface */

int chart_info_of(vfs *v, nk kind, int64_t id, chart_info *out)
{
    memset(out, 0, sizeof *out);
    if (kind == NK_I_METRIC_SVG)
        return metric_svg_info(v, id, out);
    if (kind == NK_E_CHART)
        return exp_chart_info(v, id, out);
    return -EINVAL;
}

int chart_render(vfs *v, nk kind, int64_t id, dd_buf *out)
{
    if (kind == NK_I_METRIC_SVG)
        return metric_svg_render(v, id, out);
    if (kind == NK_E_CHART)
        return exp_chart_render(v, id, out);
    return -EINVAL;
}

int chart_find(vfs *v, nk parent_kind, int64_t pid, const char *name, nk *kind,
               int64_t *id)
{
    char key[DD_NAME_MAX + 1];
    if (!chart_key(name, key))
        return -ENOENT;
    dd_err err = {0};
    if (parent_kind == NK_I_METRICS) {
        /* a metric file of that name wins (the caller looked it up first) */
        dd_metric_series m = {0};
        char ts[DD_TS_LEN];
        dd_code code = dd_metric_series_get(v->st, pid, key, &m, ts, &err);
        if (code != DD_OK)
            return vfs_fail(code, &err, "lookup");
        *kind = NK_I_METRIC_SVG;
        *id = m.id;
        return 0;
    }
    if (parent_kind != NK_E_CHARTS)
        return -ENOENT;
    exp_series e;
    int rc = exp_series_load(v, pid, &e);
    if (rc)
        return rc;
    size_t first, end;
    key_span(&e, key, &first, &end);
    rc = first == end ? -ENOENT : 0;
    *kind = NK_E_CHART;
    *id = 0;
    for (size_t i = first; i < end; i++)
        if (!*id || e.rows[i].id < *id)
            *id = e.rows[i].id;
    exp_series_free(&e);
    return rc;
}

/* metrics/: the chart of every key K unless a key K.svg exists (the metric wins). */
static int list_metric_charts(vfs *v, int64_t iteration, chart_cb cb, void *ctx)
{
    exp_series e = {0};
    it_row self = {iteration, 0, ""};
    e.its = &self;
    e.n_its = 1;
    dd_err err = {0};
    dd_code code = dd_metric_series_list(v->st, iteration, collect_series, &e, &err);
    int rc = code != DD_OK ? vfs_fail(code, &err, "readdir") : e.oom ? -ENOMEM : 0;
    if (e.n)
        qsort(e.rows, e.n, sizeof *e.rows, row_cmp);
    char name[DD_NAME_MAX + sizeof SVG_EXT];
    for (size_t i = 0; !rc && i < e.n; i++) {
        const series_row *r = &e.rows[i];
        snprintf(name, sizeof name, "%s" SVG_EXT, r->key);
        size_t f, end;
        key_span(&e, name, &f, &end);
        if (f != end || strlen(r->key) + strlen(SVG_EXT) > DD_NAME_MAX)
            continue;
        char title[DD_NAME_MAX + 64];
        metric_title(title, sizeof title, r->key, iteration);
        dd_chart_series s = {NULL, NULL, 0};
        dd_chart c;
        metric_chart(title, &s, &c);
        size_t cap = kept_bound(r->points);
        chart_info ci = {r->id, iteration, (off_t)dd_chart_svg_bound(&c, &cap), ""};
        memcpy(ci.mtime, r->updated, DD_TS_LEN);
        if (cb(ctx, name, &ci))
            break;
    }
    e.its = NULL;
    exp_series_free(&e);
    return rc;
}

/* charts/: one chart per key any iteration of the experiment has. */
static int list_exp_charts(vfs *v, int64_t experiment, chart_cb cb, void *ctx)
{
    dd_experiment x = {0};
    dd_err err = {0};
    dd_code code = dd_experiment_get(v->st, experiment, &x, &err);
    if (code != DD_OK)
        return vfs_fail(code, &err, "readdir");
    exp_series e;
    int rc = exp_series_load(v, experiment, &e);
    char name[DD_NAME_MAX + sizeof SVG_EXT];
    for (size_t i = 0; !rc && i < e.n;) {
        size_t first, end;
        key_span(&e, e.rows[i].key, &first, &end);
        i = end;
        if (strlen(e.rows[first].key) + strlen(SVG_EXT) > DD_NAME_MAX)
            continue;
        snprintf(name, sizeof name, "%s" SVG_EXT, e.rows[first].key);
        char title[2 * DD_NAME_MAX + 64];
        exp_title(title, sizeof title, e.rows[first].key, x.name);
        chart_info ci;
        rc = exp_info(&e, first, end, title, &ci);
        if (!rc && cb(ctx, name, &ci))
            break;
    }
    exp_series_free(&e);
    dd_experiment_clear(&x);
    return rc;
}

int chart_list(vfs *v, nk parent_kind, int64_t pid, chart_cb cb, void *ctx)
{
    if (parent_kind == NK_I_METRICS)
        return list_metric_charts(v, pid, cb, ctx);
    if (parent_kind == NK_E_CHARTS)
        return list_exp_charts(v, pid, cb, ctx);
    return 0;
}
