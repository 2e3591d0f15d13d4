/*
 * h_auth.c - GET /health, POST /auth, POST /auth/refresh, GET /auth/me (§5.4).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"

/* The body by hand, not through jansson: the busiest route of a load balancer's probes,
 * and nothing in it needs escaping (a constant and a timestamp of digits and ":.-TZ"). */
/* The fixed text around the time is copied, not formatted: printf's machinery was a few
 * percent of this route's CPU (BENCHMARKS.md, serve, ingest3). */
void h_health(dd_req *r)
{
    static const char head[] = "{\"app_name\":\"DearDiary\",\"package_version\":\""
                               DD_VERSION "\",\"server_time\":\"";
    static const char tail[] = "\"}";
    char *text = malloc(sizeof head - 1 + DD_TS_LEN - 1 + sizeof tail);
    if (text) {
        memcpy(text, head, sizeof head - 1);
        dd_now(text + sizeof head - 1);
        memcpy(text + sizeof head - 1 + DD_TS_LEN - 1, tail, sizeof tail);
    }
    dd_reply_json_text(r, 200, text);
}

/* The token envelope for the user in r->user, valid server.token_ttl seconds. */
static void reply_token(dd_req *r, const dd_user *u)
{
    int64_t ttl = r->srv->token_ttl_s > 0 ? r->srv->token_ttl_s : DD_TOKEN_TTL_S;
    int64_t exp = (int64_t)time(NULL) + ttl;
    char *tok = dd_jwt_sign(u->username, u->id, exp, r->srv->jwt_secret);
    if (!tok) {
        dd_reply_error(r, 500, "SERVER_ERROR", "cannot sign a token");
        return;
    }
    dd_reply_json(r, 200, json_pack("{s:s, s:s, s:I, s:o}", "access_token", tok, "token_type",
                                    "Bearer", "expires_at", (json_int_t)exp, "user",
                                    dd_json_user(u)));
    free(tok);
}

void h_auth_login(dd_req *r)
{
    static const dd_field spec[] = {{"username", F_STRING, true}, {"password", F_STRING, true}};
    json_t *root, *v[2];
    if (dd_req_body(r, spec, 2, &root, v) != 0)
        return;
    const char *username = json_string_value(v[0]), *password = json_string_value(v[1]);
    dd_user u = {0};
    dd_err err = {0};
    dd_code code = dd_user_find(r->srv->st, username, &u, &err);
    if (code == DD_NOT_FOUND)
        dd_reply_error(r, 404, "USER_NOT_FOUND", "User not found");
    else if (code != DD_OK)
        dd_reply_error(r, 500, "SERVER_ERROR", "%s", err.msg);
    else if ((code = dd_user_check_password(r->srv->st, username, password, &err)) == DD_FORBIDDEN)
        dd_reply_error(r, 401, "INVALID_CREDENTIALS", "Invalid credentials");
    else if (code != DD_OK)
        dd_reply_error(r, 500, "SERVER_ERROR", "%s", err.msg);
    else
        reply_token(r, &u);
    dd_user_clear(&u);
    json_decref(root);
}

void h_auth_refresh(dd_req *r)
{
    reply_token(r, &r->user);
}

void h_auth_me(dd_req *r)
{
    dd_reply_json(r, 200, dd_json_user(&r->user));
}
