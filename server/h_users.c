/*
 * h_users.c - users (routes 5-10) and user permissions (routes 13, 17-20).
 *
 * Deviations from the original (README "REST API"): an all-null PATCH is 422, not 500;
 * deleting an unknown user is 404 and deleting `default` 422, not 500.
 */
#include <stdlib.h>
#include <string.h>

#include "server.h"

static int append_user(void *ctx, const dd_user *u)
{
    json_array_append_new(ctx, dd_json_user(u));
    return 0;
}

static int append_perm(void *ctx, const dd_user_permission *p)
{
    json_array_append_new(ctx, dd_json_permission(p));
    return 0;
}

void h_user_list(dd_req *r)
{
    json_t *arr = json_array();
    dd_err err = {0};
    dd_code code = dd_user_list(r->srv->st, append_user, arr, &err);
    dd_reply_array(r, arr, code, &err);
}

void h_user_create(dd_req *r)
{
    static const dd_field spec[] = {{"first_name", F_STRING, true},
                                    {"last_name", F_STRING, true},
                                    {"username", F_STRING, true},
                                    {"password", F_STRING, true}};
    json_t *root, *v[4];
    if (dd_req_body(r, spec, 4, &root, v) != 0)
        return;
    int64_t id;
    dd_err err = {0};
    const char *username = json_string_value(v[2]);
    if (dd_name_check(username, "username", &err) == DD_OK
        && dd_user_create(r->srv->st, json_string_value(v[0]), json_string_value(v[1]), username,
                          json_string_value(v[3]), &id, &err) == DD_OK)
        dd_reply_created(r, "user_id", id);
    else
        dd_reply_store_error(r, "create", "user", &err);
    json_decref(root);
}

DD_FETCH_FN(fetch_user, dd_user, dd_user_get, dd_json_user, dd_user_clear)

void h_user_get(dd_req *r)
{
    dd_serve_get(r, fetch_user, "USER_NOT_FOUND", "User not found");
}

/* The permissions of one user (user_id) or of one project's members (project_id), named
 * by path parameter 0; the other id is 0, "any" to the store. */
static void reply_permissions(dd_req *r, bool of_project)
{
    int64_t id;
    if (dd_req_id(r, 0, &id) != 0)
        return;
    json_t *arr = json_array();
    dd_err err = {0};
    dd_code code = dd_permission_list(r->srv->st, of_project ? 0 : id, of_project ? id : 0,
                                      append_perm, arr, &err);
    dd_reply_array(r, arr, code, &err);
}

void h_user_permissions(dd_req *r)
{
    reply_permissions(r, false);
}

void h_user_update(dd_req *r)
{
    static const dd_field spec[] = {{"first_name", F_STRING, false},
                                    {"last_name", F_STRING, false},
                                    {"password", F_STRING, false},
                                    {"is_admin", F_BOOL, false}};
    int64_t id;
    json_t *root, *v[4];
    if (dd_req_id(r, 0, &id) != 0 || dd_req_body(r, spec, 4, &root, v) != 0)
        return;
    dd_err err = {0};
    if (v[3] && r->srv->auth && !r->user.is_admin)
        dd_reply_error(r, 403, "ADMIN_REQUIRED",
                       "Admin privileges required to change admin status");
    else if (!v[0] && !v[1] && !v[2] && !v[3])
        dd_reply_error(r, 422, "INVALID_PAYLOAD", "Failed to update user: no field to update");
    else if (v[2] && !*json_string_value(v[2]))
        dd_reply_error(r, 422, "INVALID_PAYLOAD", "Failed to update user: empty password");
    else if (dd_user_update(r->srv->st, id, json_string_value(v[0]), json_string_value(v[1]),
                            json_string_value(v[2]), v[3] ? json_is_true(v[3]) : -1,
                            &err) == DD_OK)
        dd_reply_updated(r);
    else
        dd_reply_store_error(r, "update", "user", &err);
    json_decref(root);
}

void h_user_delete(dd_req *r)
{
    dd_serve_delete(r, dd_user_delete, "user", false);
}

/* ---------------------------------------------------------------- permissions */

void h_project_members(dd_req *r)
{
    reply_permissions(r, true);
}

void h_perm_get(dd_req *r)
{
    int64_t uid, pid;
    if (dd_req_id(r, 0, &uid) != 0 || dd_req_id(r, 1, &pid) != 0)
        return;
    dd_user_permission p;
    dd_err err = {0};
    dd_code code = dd_permission_get(r->srv->st, uid, pid, &p, &err);
    dd_reply_found(r, code, code == DD_OK ? dd_json_permission(&p) : NULL, &err, "NOT_FOUND",
                   "User permission not found");
}

static const dd_field perm_spec[] = {{"create_permission", F_BOOL, true},
                                     {"read_permission", F_BOOL, true},
                                     {"update_permission", F_BOOL, true},
                                     {"delete_permission", F_BOOL, true}};

void h_perm_create(dd_req *r)
{
    int64_t uid, pid, id;
    json_t *root, *v[4];
    if (dd_req_id(r, 0, &uid) != 0 || dd_req_id(r, 1, &pid) != 0
        || dd_req_body(r, perm_spec, 4, &root, v) != 0)
        return;
    dd_err err = {0};
    if (dd_permission_create(r->srv->st, uid, pid, json_is_true(v[0]), json_is_true(v[1]),
                             json_is_true(v[2]), json_is_true(v[3]), &id, &err) == DD_OK)
        dd_reply_created(r, "userpermission_id", id);
    else
        dd_reply_store_error(r, "create", "user permission", &err);
    json_decref(root);
}

/* -1 for absent, else 0/1. */
static int flag(json_t *v)
{
    return v ? json_is_true(v) : -1;
}

void h_perm_update(dd_req *r)
{
    dd_field spec[4];
    for (int i = 0; i < 4; i++)
        spec[i] = perm_spec[i], spec[i].required = false;
    int64_t id;
    json_t *root, *v[4];
    if (dd_req_id(r, 0, &id) != 0 || dd_req_body(r, spec, 4, &root, v) != 0)
        return;
    dd_err err = {0};
    if (!v[0] && !v[1] && !v[2] && !v[3])
        dd_reply_error(r, 422, "INVALID_PAYLOAD",
                       "Failed to update user permission: no field to update");
    else if (dd_permission_update(r->srv->st, id, flag(v[0]), flag(v[1]), flag(v[2]), flag(v[3]),
                                  &err) == DD_OK)
        dd_reply_updated(r);
    else
        dd_reply_store_error(r, "update", "user permission", &err);
    json_decref(root);
}

void h_perm_delete(dd_req *r)
{
    /* As the original: deleting a permission that does not exist succeeds. */
    dd_serve_delete(r, dd_permission_delete, "user permission", true);
}
