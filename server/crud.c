/*
 * crud.c - the answers most handlers share: get one row by its path id, list the rows
 * under a parent (paginated or whole), delete by path id, PATCH a name and description.
 *
 * The store's functions are typed per entity (dd_model_get fills a dd_model), so each
 * handler file adapts its entity with a small dd_fetch_fn / dd_list_fn / dd_delete_fn
 * (DD_FETCH_FN and DD_LIST_FN write the common ones) and these functions own the HTTP
 * side: the path id, the status codes and the error envelopes, written once so every
 * family answers a missing row or a failing store the same way.
 */
#include "server.h"

void dd_reply_found(dd_req *r, dd_code code, json_t *body, const dd_err *err,
                    const char *missing_code, const char *missing_msg)
{
    if (code == DD_OK) {
        dd_reply_json(r, 200, body);
        return;
    }
    json_decref(body);   /* a fetch may have rendered something before failing */
    if (code == DD_NOT_FOUND)
        dd_reply_error(r, 404, missing_code, "%s", missing_msg);
    else
        dd_reply_error(r, 500, "SERVER_ERROR", "%s", err->msg);
}

void dd_serve_get(dd_req *r, dd_fetch_fn fetch, const char *missing_code,
                  const char *missing_msg)
{
    int64_t id;
    if (dd_req_id(r, 0, &id) != 0)
        return;
    json_t *body = NULL;
    dd_err err = {0};
    dd_code code = fetch(r->srv->st, id, &body, &err);
    dd_reply_found(r, code, body, &err, missing_code, missing_msg);
}

void dd_reply_array(dd_req *r, json_t *arr, dd_code code, const dd_err *err)
{
    if (code == DD_OK) {
        dd_reply_json(r, 200, arr);
        return;
    }
    json_decref(arr);   /* a failed listing's rows are not sent: they may be partial */
    dd_reply_error(r, 500, "SERVER_ERROR", "%s", err->msg);
}

void dd_page_finish(dd_req *r, dd_page *p, dd_code code, const dd_err *err)
{
    if (code == DD_OK) {
        dd_page_reply(r, p);
        return;
    }
    json_decref(p->data);
    p->data = NULL;
    dd_reply_error(r, 500, "SERVER_ERROR", "%s", err->msg);
}

void dd_serve_list(dd_req *r, dd_list_fn list)
{
    int64_t parent;
    if (dd_req_id(r, 0, &parent) != 0)
        return;
    dd_page p;
    dd_page_init(r, &p);
    dd_err err = {0};
    dd_code code = list(r->srv->st, parent, &p, &err);
    dd_page_finish(r, &p, code, &err);
}

void dd_serve_delete(dd_req *r, dd_delete_fn del, const char *what, bool missing_ok)
{
    int64_t id;
    if (dd_req_id(r, 0, &id) != 0)
        return;
    dd_err err = {0};
    dd_code code = del(r->srv->st, id, &err);
    if (code == DD_OK || (missing_ok && code == DD_NOT_FOUND))
        dd_reply_ok(r);
    else
        dd_reply_store_error(r, "delete", what, &err);
}

typedef struct name_patch_args {
    dd_set_text_fn rename, describe;
    int64_t id;
    const char *name, *description;
} name_patch_args;

/* The rename first: it is the step that can break a rule (a taken or bad name). Both in
 * one transaction (dd_store_atomic), so a refused PATCH changes nothing. */
static dd_code name_patch(dd_store *st, void *ctx, dd_err *err)
{
    name_patch_args *a = ctx;
    dd_code code = a->name ? a->rename(st, a->id, a->name, err) : DD_OK;
    if (code == DD_OK && a->description)
        code = a->describe(st, a->id, a->description, err);
    return code;
}

void dd_serve_name_update(dd_req *r, dd_set_text_fn rename, dd_set_text_fn describe,
                          const char *what)
{
    static const dd_field spec[] = {{"name", F_STRING, false}, {"description", F_STRING, false}};
    int64_t id;
    json_t *root, *v[2];
    if (dd_req_id(r, 0, &id) != 0 || dd_req_body(r, spec, 2, &root, v) != 0)
        return;
    dd_err err = {0};
    dd_code code = !v[0] && !v[1] ? dd_fail(&err, DD_INVALID, "no field to update") : DD_OK;
    name_patch_args a = {rename, describe, id, json_string_value(v[0]), json_string_value(v[1])};
    if (code == DD_OK)
        code = dd_store_atomic(r->srv->st, name_patch, &a, &err);
    if (code == DD_OK)
        dd_reply_updated(r);
    else
        dd_reply_store_error(r, "update", what, &err);
    json_decref(root);
}
