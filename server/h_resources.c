/*
 * h_resources.c - resources (routes 44-49): metadata, bytes streamed out with
 * Content-Length and single Range support, multipart uploads streamed into the artifact
 * store through dd_upload (never held whole in memory: MHD's parser hands over 64 KiB
 * pieces, an inline upload buffers at most one 1 MiB chunk), deletes.
 *
 * An upload becomes visible only at dd_upload_commit, in one transaction, so a client that
 * disconnects, or a server killed mid-upload, leaves no resource (the staged bytes are
 * removed by dd_artifacts_gc at the next start).
 *
 * Deviations (README "REST API"): resource names are unique in their experiment (409);
 * replacing bytes used by a registered model version is 409 (artifacts are immutable once
 * registered); a PATCH's data needs the experiment IN_PROGRESS, as a create does; bytes are
 * read from the backend the row names, not the configured one.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

#define NAME_CAP 1024          /* a name is at most 255 bytes: more is refused */
#define DESCRIPTION_CAP 65536

/* ---------------------------------------------------------------- metadata */

static json_t *resource_json(const dd_resource *x)
{
    json_t *j = json_pack("{s:I, s:I, s:s, s:s, s:s, s:o, s:s, s:s, s:I, s:s}", "id",
                          (json_int_t)x->id, "experiment_id", (json_int_t)x->experiment_id,
                          "name", x->name, "description", x->description ? x->description : "",
                          "created_date", x->created_date, "updated_date",
                          dd_json_date(x->updated_date), "backend", x->backend, "uri",
                          x->uri ? x->uri : "", "size_bytes", (json_int_t)x->size_bytes,
                          "content_hash", x->content_hash ? x->content_hash : "");
    return j;
}

int64_t dd_resolve_resource(dd_req *r)
{
    int64_t id;
    dd_resource x;
    if (!dd_parse_id(r->param[0], &id) || dd_resource_get(r->srv->st, id, &x, NULL) != DD_OK)
        return 0;
    int64_t eid = x.experiment_id;
    dd_resource_clear(&x);
    return dd_project_of_experiment(r->srv->st, eid);
}

DD_FETCH_FN(fetch_resource, dd_resource, dd_resource_get, resource_json, dd_resource_clear)
DD_LIST_FN(list_resources, dd_resource, dd_resource_list, resource_json)

void h_resource_get(dd_req *r)
{
    dd_serve_get(r, fetch_resource, "NOT_FOUND", "Resource not found");
}

void h_resource_list(dd_req *r)
{
    dd_serve_list(r, list_resources);
}

void h_resource_delete(dd_req *r)
{
    dd_serve_delete(r, dd_resource_delete, "resource", false);
}

/* ---------------------------------------------------------------- bytes out */

typedef struct reader {
    dd_artifact_reader *ar;
    int64_t base;
} reader;

static long read_bytes(void *cls, uint64_t off, char *buf, size_t max)
{
    reader *rd = cls;
    size_t got = 0;
    if (dd_artifact_pread(rd->ar, rd->base + (int64_t)off, buf, max, &got, NULL) != DD_OK
        || got == 0)
        return -1;   /* an error, or bytes shorter than announced: abort the connection */
    return (long)got;
}

static void reader_done(void *cls)
{
    reader *rd = cls;
    dd_artifact_close(rd->ar);
    free(rd);
}

int dd_range_parse(const char *h, int64_t size, int64_t *first, int64_t *last)
{
    if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
        return 0;
    const char *dash = strchr(h + 6, '-');
    if (!dash)
        return 0;
    char a[32] = "", b[32] = "";
    size_t la = (size_t)(dash - (h + 6)), lb = strlen(dash + 1);
    if (la >= sizeof a || lb >= sizeof b || (la == 0 && lb == 0))
        return 0;
    memcpy(a, h + 6, la), memcpy(b, dash + 1, lb);
    int64_t x = 0, y = 0;
    if ((la && (!dd_parse_id(a, &x) || x < 0)) || (lb && (!dd_parse_id(b, &y) || y < 0)))
        return 0;
    if (!la) {   /* the last y bytes */
        if (y == 0 || size == 0)
            return -1;
        *first = y >= size ? 0 : size - y, *last = size - 1;
        return 1;
    }
    if (lb && y < x)
        return 0;
    if (x >= size)
        return -1;
    *first = x, *last = lb && y < size ? y : size - 1;
    return 1;
}

void h_resource_data(dd_req *r)
{
    int64_t id;
    if (dd_req_id(r, 0, &id) != 0)
        return;
    reader *rd = calloc(1, sizeof *rd);
    dd_err err = {0};
    dd_code code = rd ? dd_artifact_open(r->srv->art, id, &rd->ar, &err)
                      : dd_fail(&err, DD_IO, "out of memory");
    if (code != DD_OK) {
        free(rd);
        dd_reply_found(r, code, NULL, &err, "NOT_FOUND", "Resource not found");
        return;
    }
    int64_t size = dd_artifact_size(rd->ar), first = 0, last = size - 1;
    char cr[96];
    int range = dd_range_parse(dd_req_header(r, "Range"), size, &first, &last);
    if (range < 0) {
        reader_done(rd);
        dd_reply_error(r, 416, "RANGE_NOT_SATISFIABLE", "the resource has %" PRId64 " bytes",
                       size);
        snprintf(cr, sizeof cr, "bytes */%" PRId64, size);
        dd_req_add_header(r, "Content-Range", cr);
        return;
    }
    rd->base = first;
    snprintf(cr, sizeof cr, "bytes %" PRId64 "-%" PRId64 "/%" PRId64, first, last, size);
    dd_reply_stream(r, range ? 206 : 200, (uint64_t)(size ? last - first + 1 : 0), read_bytes,
                    reader_done, rd, range ? cr : NULL);
}

/* ---------------------------------------------------------------- bytes in */

typedef struct upload_state {
    dd_artifacts *art;
    bool committed;
    int64_t experiment_id;   /* create: the experiment; update: the resource's */
    int64_t resource_id;     /* update only */
    dd_upload *u;
    char name[NAME_CAP + 1];
    size_t name_len;
    bool has_name, has_data, has_description;
    char *description;
    size_t description_len;
    dd_err err;              /* the first failure while streaming */
} upload_state;

/* A refused upload's staged bytes are queued for removal by dd_upload_free; remove them
 * now rather than at the next start, so a refusal leaves nothing behind. */
static void upload_free(void *p)
{
    upload_state *s = p;
    bool staged = s->u && !s->committed;
    dd_upload_free(s->u);
    if (staged)
        dd_artifacts_gc(s->art, NULL, NULL);
    free(s->description);
    free(s);
}

/* Before the first byte of a new resource is stored: when the name came first, refuse a
 * bad or taken name, or an experiment that takes no resources, without reading the bytes
 * (the rest of the body is then discarded). */
static dd_code create_precheck(dd_req *r, upload_state *s)
{
    dd_store *st = r->srv->st;
    dd_experiment e;
    int64_t other;
    dd_code code = dd_name_check(s->name, "resource name", &s->err);
    if (code == DD_OK)
        code = dd_experiment_get(st, s->experiment_id, &e, &s->err);
    if (code != DD_OK)
        return code;
    if (e.status_id != DD_EXP_IN_PROGRESS)
        code = dd_fail(&s->err, DD_INVALID, "experiment %lld is not IN_PROGRESS",
                       (long long)s->experiment_id);
    dd_experiment_clear(&e);
    if (code == DD_OK && dd_resource_find(st, s->experiment_id, s->name, &other, NULL) == DD_OK)
        code = dd_fail(&s->err, DD_CONFLICT, "resource \"%s\" already exists", s->name);
    return code;
}

/* Append to a bounded text part; false when it outgrows `cap`. */
static bool text_append(char *buf, size_t *len, size_t cap, const char *data, size_t size)
{
    if (*len + size > cap)
        return false;
    memcpy(buf + *len, data, size);
    *len += size;
    buf[*len] = '\0';
    return true;
}

static int on_part(dd_req *r, const char *key, const char *data, size_t size)
{
    upload_state *s = r->stream;
    if (strcmp(key, "data") == 0) {
        s->has_data = true;
        if (!s->u && s->resource_id == 0 && s->has_name && create_precheck(r, s) != DD_OK)
            return -1;
        if (!s->u && dd_upload_begin(r->srv->art, &s->u, &s->err) != DD_OK)
            return -1;
        return size && dd_upload_write(s->u, data, size, &s->err) != DD_OK ? -1 : 0;
    }
    if (strcmp(key, "name") == 0) {
        s->has_name = true;
        if (!text_append(s->name, &s->name_len, NAME_CAP, data, size))
            return dd_fail(&s->err, DD_TOO_LONG, "the name is longer than 255 bytes"), -1;
    } else if (strcmp(key, "description") == 0) {
        s->has_description = true;
        if (!s->description && !(s->description = calloc(1, DESCRIPTION_CAP + 1)))
            return dd_fail(&s->err, DD_IO, "out of memory"), -1;
        if (!text_append(s->description, &s->description_len, DESCRIPTION_CAP, data, size))
            return dd_fail(&s->err, DD_TOO_LONG, "the description is longer than 64 KiB"), -1;
    }
    return 0;   /* other parts are ignored, as unknown JSON keys are */
}

/* Set up the streamed body; false after replying. */
static bool upload_start(dd_req *r, int64_t experiment_id, int64_t resource_id,
                         void (*done)(dd_req *))
{
    upload_state *s = calloc(1, sizeof *s);
    if (!s)
        return dd_reply_error(r, 500, "SERVER_ERROR", "out of memory"), false;
    s->art = r->srv->art;
    s->experiment_id = experiment_id, s->resource_id = resource_id;
    r->stream = s, r->stream_free = upload_free, r->on_part = on_part, r->on_done = done;
    if (dd_req_multipart(r) != 0)
        return dd_reply_error(r, 400, "BAD_REQUEST", "a multipart/form-data body (with a "
                              "boundary of 2 or more characters) is expected"),
               false;
    return true;
}

/* A failure while streaming, or a malformed multipart body: the reply; true if any. */
static bool stream_error(dd_req *r, const char *verb)
{
    upload_state *s = r->stream;
    if (s->err.code != DD_OK)
        return dd_reply_store_error(r, verb, "resource", &s->err), true;
    if (r->stream_failed)
        return dd_reply_error(r, 400, "BAD_REQUEST", "malformed multipart body"), true;
    return false;
}

static void create_done(dd_req *r)
{
    upload_state *s = r->stream;
    int64_t id;
    if (stream_error(r, "create"))
        return;
    if (!s->has_name || !s->has_data) {
        dd_reply_error(r, 422, "INVALID_PAYLOAD",
                       "Multipart fields 'name' and 'data' are required");
        return;
    }
    if (!s->u && dd_upload_begin(r->srv->art, &s->u, &s->err) != DD_OK) {   /* empty data */
        dd_reply_store_error(r, "create", "resource", &s->err);
        return;
    }
    if (dd_upload_commit(s->u, s->experiment_id, s->name, false, &id, &s->err) != DD_OK) {
        dd_reply_store_error(r, "create", "resource", &s->err);
        return;
    }
    s->committed = true;
    dd_reply_created(r, "resource_id", id);
}

void h_resource_create(dd_req *r)
{
    int64_t eid;
    if (dd_req_id(r, 0, &eid) == 0)
        upload_start(r, eid, 0, create_done);
}

/* Rename first (the step a taken name refuses), then the bytes (checked replaceable
 * before the rename), then the description. */
static dd_code apply_update(dd_req *r, upload_state *s, const dd_resource *cur, dd_err *err)
{
    dd_store *st = r->srv->st;
    const char *name = s->has_name ? s->name : cur->name;
    int64_t id;
    dd_code code = s->has_name || s->has_data || s->has_description
                       ? DD_OK : dd_fail(err, DD_INVALID, "no field to update");
    if (code == DD_OK && s->has_name)
        code = dd_name_check(s->name, "resource name", err);
    if (code == DD_OK && s->has_data)
        code = dd_resource_check_replaceable(st, cur->id, err);
    if (code == DD_OK && s->has_name && strcmp(s->name, cur->name) != 0)
        code = dd_resource_rename(st, cur->id, s->name, err);
    if (code == DD_OK && s->has_data && !s->u)
        code = dd_upload_begin(r->srv->art, &s->u, err);
    if (code == DD_OK && s->has_data) {
        code = dd_upload_commit(s->u, cur->experiment_id, name, true, &id, err);
        s->committed = code == DD_OK;
    }
    if (code == DD_OK && s->has_description)
        code = dd_resource_set_description(st, cur->id, s->description, err);
    return code;
}

static void update_done(dd_req *r)
{
    upload_state *s = r->stream;
    if (stream_error(r, "update"))
        return;
    dd_resource cur;
    dd_err err = {0};
    dd_code code = dd_resource_get(r->srv->st, s->resource_id, &cur, &err);
    if (code == DD_OK) {
        code = apply_update(r, s, &cur, &err);
        dd_resource_clear(&cur);
    }
    if (code == DD_OK)
        dd_reply_updated(r);
    else
        dd_reply_store_error(r, "update", "resource", &err);
}

void h_resource_update(dd_req *r)
{
    int64_t id;
    if (dd_req_id(r, 0, &id) != 0)
        return;
    dd_resource cur;
    dd_err err = {0};
    /* Refuse an unknown resource before reading its body. */
    if (dd_resource_get(r->srv->st, id, &cur, &err) != DD_OK) {
        dd_reply_store_error(r, "update", "resource", &err);
        return;
    }
    dd_resource_clear(&cur);
    upload_start(r, 0, id, update_done);
}
