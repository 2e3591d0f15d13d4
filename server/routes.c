/*
 * routes.c - the route table (§5.6 of the reference) as data, the matcher, and the
 * middlewares in the original's order: CORS preflight, authentication (token), then the
 * route's guard (AdminRequired, SameUserOrAdminRequired, ProjectPermissionRequired),
 * then the handler.
 *
 * Authentication, when enabled: every request but POST /auth and GET /health* needs
 * "Authorization: Bearer <jwt>": missing -> 401 TOKEN_MISSING; not "Bearer <token>",
 * malformed, not HS256 or a bad signature -> 401 TOKEN_INVALID; claims missing or mistyped
 * -> 401 TOKEN_PAYLOAD_INVALID; exp past -> 401 TOKEN_EXPIRED; the user gone -> 401
 * USER_NOT_FOUND. Disabled, every request acts as the seeded `default` admin.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "h_v1.h"
#include "server.h"

#define R(m, p, h, g) {m, p, false, h, g, A_NONE, NULL}
#define P(m, p, h, a, res) {m, p, false, h, G_PROJECT, a, res}
#define S(m, p, h, a, res) {m, p, true, h, G_PROJECT, a, res}   /* streamed body */

static const dd_route routes[] = {
    R("GET", "/health", h_health, G_NONE),
    R("POST", "/auth", h_auth_login, G_NONE),
    R("POST", "/auth/refresh", h_auth_refresh, G_TOKEN),
    R("GET", "/auth/me", h_auth_me, G_TOKEN),
    R("GET", "/user", h_user_list, G_ADMIN),
    R("POST", "/user", h_user_create, G_ADMIN),
    R("GET", "/user/{id}", h_user_get, G_SELF),
    R("GET", "/user/{id}/permissions", h_user_permissions, G_SELF),
    R("PATCH", "/user/{id}", h_user_update, G_SELF),
    R("DELETE", "/user/{id}", h_user_delete, G_SELF),
    R("GET", "/project", h_project_list, G_TOKEN),
    P("GET", "/project/{id}", h_project_get, A_READ, dd_resolve_project),
    P("GET", "/project/{id}/members", h_project_members, A_READ, dd_resolve_project),
    R("POST", "/project", h_project_create, G_ADMIN),
    R("PATCH", "/project/{id}", h_project_update, G_ADMIN),
    R("DELETE", "/project/{id}", h_project_delete, G_ADMIN),
    R("GET", "/userpermission/user/{uid}/project/{pid}", h_perm_get, G_ADMIN),
    R("POST", "/userpermission/user/{uid}/project/{pid}", h_perm_create, G_ADMIN),
    R("PATCH", "/userpermission/{id}", h_perm_update, G_ADMIN),
    R("DELETE", "/userpermission/{id}", h_perm_delete, G_ADMIN),
    P("GET", "/experiment/{id}", h_experiment_get, A_READ, dd_resolve_experiment),
    P("GET", "/experiment/project/{pid}", h_experiment_list, A_READ, dd_resolve_project),
    P("POST", "/experiment/project/{pid}", h_experiment_create, A_CREATE, dd_resolve_project),
    P("PATCH", "/experiment/{id}", h_experiment_update, A_UPDATE, dd_resolve_experiment),
    P("DELETE", "/experiment/{id}", h_experiment_delete, A_DELETE, dd_resolve_experiment),
    P("GET", "/iteration/{id}", h_iteration_get, A_READ, dd_resolve_iteration),
    P("GET", "/iteration/experiment/{eid}", h_iteration_list, A_READ, dd_resolve_experiment),
    P("GET", "/iteration/{id}/children", h_iteration_children, A_READ, dd_resolve_iteration),
    P("POST", "/iteration/{id}/snapshot", h_iteration_snapshot, A_UPDATE, dd_resolve_iteration),
    P("POST", "/iteration/experiment/{eid}", h_iteration_create, A_CREATE,
      dd_resolve_experiment),
    P("PATCH", "/iteration/{id}", h_iteration_update, A_UPDATE, dd_resolve_iteration),
    P("DELETE", "/iteration/{id}", h_iteration_delete, A_DELETE, dd_resolve_iteration),
    P("GET", "/parameter/{id}", h_param_get, A_READ, dd_resolve_parameter),
    P("GET", "/parameter/iteration/{iid}", h_param_list, A_READ, dd_resolve_iteration),
    P("POST", "/parameter/iteration/{iid}", h_param_create, A_CREATE, dd_resolve_iteration),
    P("PATCH", "/parameter/{id}", h_param_update, A_UPDATE, dd_resolve_parameter),
    P("DELETE", "/parameter/{id}", h_param_delete, A_DELETE, dd_resolve_parameter),
    P("GET", "/metric/{id}", h_metric_get, A_READ, dd_resolve_metric),
    P("GET", "/metric/iteration/{iid}", h_metric_list, A_READ, dd_resolve_iteration),
    P("POST", "/metric/iteration/{iid}", h_metric_create, A_CREATE, dd_resolve_iteration),
    P("POST", "/metric/iteration/{iid}/batch", h_metric_batch, A_CREATE, dd_resolve_iteration),
    P("PATCH", "/metric/{id}", h_metric_immutable, A_UPDATE, dd_resolve_metric),
    P("DELETE", "/metric/{id}", h_metric_immutable, A_DELETE, dd_resolve_metric),
    R("GET", "/tag/{id}", h_tag_get, G_ADMIN),
    P("GET", "/tag/project/{pid}", h_tag_list, A_READ, dd_resolve_project),
    P("GET", "/tag/experiment/{eid}", h_tag_list, A_READ, dd_resolve_experiment),
    P("GET", "/tag/iteration/{iid}", h_tag_list, A_READ, dd_resolve_iteration),
    P("POST", "/tag/project/{pid}", h_tag_attach, A_CREATE, dd_resolve_project),
    P("POST", "/tag/experiment/{eid}", h_tag_attach, A_CREATE, dd_resolve_experiment),
    P("POST", "/tag/iteration/{iid}", h_tag_attach, A_CREATE, dd_resolve_iteration),
    R("DELETE", "/tag/{id}", h_tag_delete, G_ADMIN),
    P("GET", "/resource/{id}", h_resource_get, A_READ, dd_resolve_resource),
    P("GET", "/resource/{id}/data", h_resource_data, A_READ, dd_resolve_resource),
    P("GET", "/resource/experiment/{eid}", h_resource_list, A_READ, dd_resolve_experiment),
    S("POST", "/resource/experiment/{eid}", h_resource_create, A_CREATE, dd_resolve_experiment),
    S("PATCH", "/resource/{id}", h_resource_update, A_UPDATE, dd_resolve_resource),
    P("DELETE", "/resource/{id}", h_resource_delete, A_DELETE, dd_resolve_resource),
    P("GET", "/model/{id}", h_model_get, A_READ, dd_resolve_model),
    P("GET", "/model/project/{pid}", h_model_list, A_READ, dd_resolve_project),
    P("POST", "/model/project/{pid}", h_model_create, A_CREATE, dd_resolve_project),
    P("PATCH", "/model/{id}", h_model_update, A_UPDATE, dd_resolve_model),
    P("DELETE", "/model/{id}", h_model_delete, A_DELETE, dd_resolve_model),
    P("GET", "/modelversion/{id}", h_version_get, A_READ, dd_resolve_version),
    P("GET", "/modelversion/model/{mid}", h_version_list, A_READ, dd_resolve_model),
    P("POST", "/modelversion/model/{mid}", h_version_create, A_CREATE, dd_resolve_model),
    P("PATCH", "/modelversion/{id}", h_version_update, A_UPDATE, dd_resolve_version),
    P("DELETE", "/modelversion/{id}", h_version_delete, A_DELETE, dd_resolve_version),
    /* The dashboard: its files (no data in them, so no token: the login page loads), and
     * the /v1/ routes the original lacks, under the same guards (h_ui.c). */
    R("GET", "/ui", h_ui_asset, G_NONE),
    R("GET", "/ui/{file}", h_ui_asset, G_NONE),
    R("GET", "/v1/auth/mode", h_v1_auth_mode, G_NONE),
    P("GET", "/v1/experiment/{eid}/iterations", h_v1_iteration_table, A_READ,
      dd_resolve_experiment),
    P("GET", "/v1/iteration/{iid}/series", h_v1_iteration_series, A_READ,
      dd_resolve_iteration),
    P("GET", "/v1/iteration/{iid}/env", h_v1_iteration_env, A_READ, dd_resolve_iteration),
    P("GET", "/v1/model/{mid}/aliases", h_v1_model_aliases, A_READ, dd_resolve_model),
    P("GET", "/v1/model/{mid}/stagehistory", h_v1_model_stage_history, A_READ, dd_resolve_model),
    P("GET", "/v1/ls/experiment/{eid}/iterations", h_v1_ls_iterations, A_READ,
      dd_resolve_experiment),
    P("PUT", "/v1/model/{mid}/version/{n}/stage", h_v1_version_stage, A_UPDATE,
      dd_resolve_model),
    R("GET", "/v1", h_v1_root, G_TOKEN),
    /* Remote mounts' routes (h_v1.h, docs/REMOTE.md §2). */
    R("GET", "/v1/lookup", h_v1_lookup, G_TOKEN),   /* unreadable is 404: in the handler */
    R("POST", "/v1/metrics", h_v1_metrics, G_TOKEN),   /* create per batch: in the handler */
    R("GET", "/v1/ls/projects", h_v1_ls_projects, G_TOKEN),   /* readable ones only */
    R("GET", "/v1/ls/models", h_v1_ls_models, G_TOKEN),
    P("GET", "/v1/ls/project/{pid}", h_v1_ls_project, A_READ, dd_resolve_project),
    P("GET", "/v1/ls/experiment/{eid}", h_v1_ls_experiment, A_READ, dd_resolve_experiment),
    P("GET", "/v1/ls/iteration/{iid}", h_v1_ls_iteration, A_READ, dd_resolve_iteration),
    P("GET", "/v1/ls/model/{mid}", h_v1_ls_model, A_READ, dd_resolve_model),
    P("POST", "/v1/model/{mid}/version", h_v1_version_register, A_CREATE, dd_resolve_model),
    P("GET", "/v1/delete-check/project/{pid}", h_v1_delete_check_project, A_DELETE,
      dd_resolve_project),
    P("GET", "/v1/delete-check/experiment/{eid}", h_v1_delete_check_experiment, A_DELETE,
      dd_resolve_experiment),
    P("GET", "/v1/delete-check/iteration/{iid}", h_v1_delete_check_iteration, A_DELETE,
      dd_resolve_iteration),
    P("DELETE", "/v1/project/{pid}", h_v1_delete_project, A_DELETE, dd_resolve_project),
    P("DELETE", "/v1/experiment/{eid}", h_v1_delete_experiment, A_DELETE,
      dd_resolve_experiment),
    P("DELETE", "/v1/iteration/{iid}", h_v1_delete_iteration, A_DELETE, dd_resolve_iteration),
    /* Remote mounts' writes with no one-to-one original route (h_v1.h, REMOTE.md §3). */
    P("PUT", "/v1/iteration/{iid}/params", h_v1_params_put, A_UPDATE, dd_resolve_iteration),
    P("POST", "/v1/iteration/{iid}/params/rename", h_v1_param_rename, A_UPDATE,
      dd_resolve_iteration),
    P("POST", "/v1/iteration/{iid}/metrics/delete", h_v1_metric_delete, A_DELETE,
      dd_resolve_iteration),
    P("POST", "/v1/tag/project/{pid}/detach", h_v1_tag_detach_project, A_DELETE,
      dd_resolve_project),
    P("POST", "/v1/tag/experiment/{eid}/detach", h_v1_tag_detach_experiment, A_DELETE,
      dd_resolve_experiment),
    P("POST", "/v1/tag/iteration/{iid}/detach", h_v1_tag_detach_iteration, A_DELETE,
      dd_resolve_iteration),
    P("PUT", "/v1/model/{mid}/alias", h_v1_alias_set, A_UPDATE, dd_resolve_model),
    P("POST", "/v1/model/{mid}/alias/delete", h_v1_alias_delete, A_UPDATE, dd_resolve_model),
    P("POST", "/v1/model/{mid}/alias/rename", h_v1_alias_rename, A_UPDATE, dd_resolve_model),
    P("PATCH", "/v1/experiment/{eid}", h_v1_experiment_patch, A_UPDATE, dd_resolve_experiment),
    P("PATCH", "/v1/project/{pid}", h_v1_project_describe, A_UPDATE, dd_resolve_project),
    P("PATCH", "/v1/resource/{id}", h_v1_resource_rename, A_UPDATE, dd_resolve_resource),
};

#define NROUTES (sizeof routes / sizeof routes[0])
#define MAX_SEGS 8

/* Split a path into at most MAX_SEGS segments in place; -1 when there are more. A
 * trailing slash is ignored, as the original routes "/project" and "/project/" alike. */
static int split_path(char *path, char **segs)
{
    int n = 0;
    char *save = NULL;   /* strtok_r: worker threads split paths at the same time */
    for (char *p = strtok_r(path, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
        if (n == MAX_SEGS)
            return -1;
        segs[n++] = p;
    }
    return n;
}

/* Does `pattern` match the segments? One pass over the pattern, comparing each literal
 * segment character by character (this runs for every route on every request). */
static bool match(const char *pattern, char **segs, int n, const char **params, int *np)
{
    int i = 0, k = 0;
    for (const char *p = pattern; *p == '/'; i++) {
        p++;
        if (i >= n)
            return false;
        if (*p == '{') {
            if (k == DD_MAX_PARAMS)
                return false;
            params[k++] = segs[i];
            while (*p && *p != '/')
                p++;
            continue;
        }
        const char *q = segs[i];
        while (*p && *p != '/' && *p == *q)
            p++, q++;
        if (*q || (*p && *p != '/'))
            return false;
    }
    *np = k;
    return i == n;
}

/* A literal segment in the path beats a parameter in the same place: so
 * "/iteration/experiment/5" is route 27, never "/iteration/{id}" with id "experiment". */
static int literal_count(const char *pattern)
{
    int n = 0;
    for (const char *p = pattern; (p = strchr(p, '/')); p++)
        n += p[1] != '{';
    return n;
}

/* The route for the request, preferring the most literal match. */
static const dd_route *find_route(dd_req *r, char **segs, int n)
{
    const dd_route *best = NULL;
    int best_lit = -1;
    for (size_t i = 0; i < NROUTES; i++) {
        const char *params[DD_MAX_PARAMS];
        int np = 0;
        if (routes[i].method[0] != r->method[0] || strcmp(routes[i].method, r->method) != 0
            || !match(routes[i].pattern, segs, n, params, &np))
            continue;
        int lit = literal_count(routes[i].pattern);
        if (lit > best_lit) {
            best = &routes[i], best_lit = lit;
            memcpy(r->param, params, sizeof params);
            r->nparams = np;
        }
    }
    return best;
}

void dd_route_lookup(dd_req *r)
{
    char *segs[MAX_SEGS];
    r->path_copy = strdup(r->url);
    int n = r->path_copy ? split_path(r->path_copy, segs) : -1;
    r->route = n >= 0 ? find_route(r, segs, n) : NULL;
}

/* ---------------------------------------------------------------- authentication */

static bool load_default_user(dd_req *r)
{
    dd_err err = {0};
    if (dd_user_find(r->srv->st, DD_DEFAULT_USERNAME, &r->user, &err) == DD_OK)
        return true;
    dd_reply_error(r, 500, "SERVER_ERROR", "the default user is missing: %s", err.msg);
    return false;
}

/* The original middleware's checks, in its order; false after replying 401. */
static bool authenticate(dd_req *r)
{
    const char *h = dd_req_header(r, "Authorization");
    if (!h)
        return dd_reply_error(r, 401, "TOKEN_MISSING", "Missing authorization header"), false;
    /* Decision: the scheme must be Bearer (the original took the second word of anything,
     * and a header without a space was a 500). */
    if (strncasecmp(h, "Bearer ", 7) != 0)
        return dd_reply_error(r, 401, "TOKEN_INVALID", "Invalid token"), false;
    const char *tok = h + 7;
    while (*tok == ' ')
        tok++;
    dd_jwt_claims c;
    switch (dd_jwt_verify(tok, strlen(tok), r->srv->jwt_secret, (int64_t)time(NULL), &c)) {
    case DD_JWT_OK:
        break;
    case DD_JWT_EXPIRED:
        return dd_reply_error(r, 401, "TOKEN_EXPIRED", "Token has expired"), false;
    case DD_JWT_PAYLOAD_INVALID:
        return dd_reply_error(r, 401, "TOKEN_PAYLOAD_INVALID", "Invalid token payload"), false;
    default:
        return dd_reply_error(r, 401, "TOKEN_INVALID", "Invalid token"), false;
    }
    dd_err err = {0};
    dd_code code = dd_user_get(r->srv->st, c.id, &r->user, &err);
    if (code == DD_NOT_FOUND)
        return dd_reply_error(r, 401, "USER_NOT_FOUND", "User not found"), false;
    if (code != DD_OK)
        return dd_reply_error(r, 500, "SERVER_ERROR", "%s", err.msg), false;
    return true;
}

static bool exempt(dd_req *r)
{
    return (strcmp(r->method, "POST") == 0
            && (strcmp(r->url, "/auth") == 0 || strcmp(r->url, "/auth/") == 0))
           || (strcmp(r->method, "GET") == 0 && strncmp(r->url, "/health", 7) == 0)
           || (strcmp(r->method, "GET") == 0 && strncmp(r->url, "/ui", 3) == 0
               && (r->url[3] == '\0' || r->url[3] == '/'))    /* the dashboard's files */
           || (strcmp(r->method, "GET") == 0 && strcmp(r->url, "/v1/auth/mode") == 0);
}

/* ---------------------------------------------------------------- guards */

static bool has_flag(const dd_user_permission *p, dd_action a)
{
    return (a == A_CREATE && p->create_permission) || (a == A_READ && p->read_permission)
           || (a == A_UPDATE && p->update_permission) || (a == A_DELETE && p->delete_permission);
}

/* The route's guard; false after replying. Admins pass every guard. */
static bool authorize(dd_req *r)
{
    const dd_route *rt = r->route;
    if (!r->srv->auth || r->user.is_admin || rt->guard == G_NONE || rt->guard == G_TOKEN)
        return true;
    if (rt->guard == G_ADMIN)
        return dd_reply_error(r, 403, "ADMIN_REQUIRED", "Admin privileges required"), false;
    if (rt->guard == G_SELF) {
        int64_t id;
        if (!dd_parse_id(r->param[0], &id))
            return dd_reply_error(r, 404, "NOT_FOUND", "Not Found"), false;
        if (id != r->user.id)
            return dd_reply_error(r, 403, "SAME_USER_REQUIRED", "Same user required"), false;
        return true;
    }
    int64_t pid = rt->resolve(r);
    if (pid <= 0)
        return dd_reply_error(r, 404, "NOT_FOUND", "Not Found"), false;
    dd_user_permission p;
    dd_err err = {0};
    dd_code code = dd_permission_get(r->srv->st, r->user.id, pid, &p, &err);
    if (code == DD_OK && has_flag(&p, rt->action))
        return true;
    if (code != DD_OK && code != DD_NOT_FOUND)
        return dd_reply_error(r, 500, "SERVER_ERROR", "%s", err.msg), false;
    return dd_reply_error(r, 403, "PROJECT_PERMISSION_REQUIRED", "Project permission required"),
           false;
}

/* ---------------------------------------------------------------- resolvers */

int64_t dd_resolve_project(dd_req *r)
{
    int64_t id;
    return dd_parse_id(r->param[0], &id) ? id : 0;
}

int64_t dd_project_of_experiment(dd_store *st, int64_t experiment_id)
{
    dd_experiment e;
    if (dd_experiment_get(st, experiment_id, &e, NULL) != DD_OK)
        return 0;
    int64_t pid = e.project_id;
    dd_experiment_clear(&e);
    return pid;
}

int64_t dd_project_of_iteration(dd_store *st, int64_t iteration_id)
{
    dd_iteration it;
    if (dd_iteration_get(st, iteration_id, &it, NULL) != DD_OK)
        return 0;
    int64_t eid = it.experiment_id;
    dd_iteration_clear(&it);
    return dd_project_of_experiment(st, eid);
}

int64_t dd_resolve_experiment(dd_req *r)
{
    int64_t id;
    return dd_parse_id(r->param[0], &id) ? dd_project_of_experiment(r->srv->st, id) : 0;
}

int64_t dd_resolve_iteration(dd_req *r)
{
    int64_t id;
    return dd_parse_id(r->param[0], &id) ? dd_project_of_iteration(r->srv->st, id) : 0;
}

/* ---------------------------------------------------------------- dispatch */

void dd_dispatch(dd_req *r)
{
    if (strcmp(r->method, "OPTIONS") == 0) {   /* CORS preflight: before authentication */
        dd_reply_json(r, 200, json_object());
        return;
    }
    /* GET /health and POST /auth act as nobody: no token, and no user to load. */
    if (!exempt(r) && (r->srv->auth ? !authenticate(r) : !load_default_user(r)))
        return;
    if (!r->route) {   /* looked up by dd_route_lookup when the headers came in */
        dd_reply_error(r, 404, "NOT_FOUND", "Not Found");
        return;
    }
    if (authorize(r))
        r->route->handler(r);
}
