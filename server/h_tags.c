/*
 * h_tags.c - tags (routes 50-57): GET and DELETE /tag/{id} by the tag's own id, and per
 * entity GET (list) and POST (attach) under /tag/project|experiment|iteration/{id}.
 *
 * Deviations (README "REST API"): an empty or invalid value is 422 (the original: 500);
 * deleting a tag still attached is 409 CONFLICT (the original: 500); tagging an ended
 * iteration is 422, as the original's service.
 */
#include <stdlib.h>
#include <string.h>

#include "server.h"

static json_t *tag_json(int64_t id, const char *value)
{
    return json_pack("{s:I, s:s}", "id", (json_int_t)id, "value", value);
}

/* The entity kind is the path's second segment. */
static dd_tag_kind tag_kind(dd_req *r)
{
    return strncmp(r->url, "/tag/project", 12) == 0      ? DD_TAG_PROJECT
           : strncmp(r->url, "/tag/experiment", 15) == 0 ? DD_TAG_EXPERIMENT
                                                         : DD_TAG_ITERATION;
}

static dd_code fetch_tag(dd_store *st, int64_t id, json_t **out, dd_err *err)
{
    char *value = NULL;
    dd_code code = dd_tag_get(st, id, &value, err);
    if (code == DD_OK)
        *out = tag_json(id, value);
    free(value);
    return code;
}

void h_tag_get(dd_req *r)
{
    dd_serve_get(r, fetch_tag, "NOT_FOUND", "Tag not found");
}

static int collect_value(void *ctx, int64_t link_id, const char *value)
{
    json_array_append_new(ctx, json_string(value));
    return 0;
}

void h_tag_list(dd_req *r)
{
    int64_t eid;
    if (dd_req_id(r, 0, &eid) != 0)
        return;
    json_t *values = json_array(), *out = json_array();
    dd_err err = {0};
    dd_code code = dd_tag_list(r->srv->st, tag_kind(r), eid, collect_value, values, &err);
    size_t i;
    json_t *v;
    json_array_foreach(values, i, v) {   /* ids after the listing (no store calls inside) */
        int64_t id;
        if (code == DD_OK && (code = dd_tag_id(r->srv->st, json_string_value(v), &id, &err))
                                 == DD_OK)
            json_array_append_new(out, tag_json(id, json_string_value(v)));
    }
    json_decref(values);
    dd_reply_array(r, out, code, &err);
}

void h_tag_attach(dd_req *r)
{
    static const dd_field spec[] = {{"value", F_STRING, true}};
    static const char *const what[] = {"", "project", "experiment", "iteration"};
    int64_t eid, link;
    json_t *root, *v[1];
    if (dd_req_id(r, 0, &eid) != 0 || dd_req_body(r, spec, 1, &root, v) != 0)
        return;
    dd_tag_kind kind = tag_kind(r);
    dd_err err = {0};
    if (dd_tag_attach(r->srv->st, kind, eid, json_string_value(v[0]), &link, &err) == DD_OK)
        dd_reply_created(r, "association_id", link);
    else if (err.code == DD_NOT_FOUND || err.code == DD_CONFLICT || err.code == DD_INVALID
             || err.code == DD_TOO_LONG || err.code == DD_READ_ONLY)
        dd_reply_store_failure(r, err.code == DD_CONFLICT ? 409 : 422,
                               err.code == DD_CONFLICT ? "CONFLICT" : "INVALID_PAYLOAD",
                               err.code, "Failed to attach tag to %s: %s", what[kind],
                               err.msg);
    else
        dd_reply_store_error(r, "create", "tag", &err);
    json_decref(root);
}

void h_tag_delete(dd_req *r)
{
    /* unknown: OK, as the original */
    dd_serve_delete(r, dd_tag_delete_unused, "tag", true);
}
