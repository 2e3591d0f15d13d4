/*
 * h_v1_metrics.c - POST /v1/metrics: a remote mount's journaled metric points, stored
 * exactly once (contract in h_v1.h; design in docs/REMOTE.md §2.6). The body and key are
 * parsed by v1_parse.c (fuzzed); the permission of each batch's project is checked here,
 * the rest (the high-water mark, the per-batch drops, the one transaction) is
 * dd_metric_deliver's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "h_v1.h"

/* The code a dropped batch is listed with. */
static const char *drop_code(dd_code c)
{
    switch (c) {
    case DD_NOT_FOUND: return "NOT_FOUND";
    case DD_READ_ONLY: return "ENDED";
    case DD_FORBIDDEN: return "PROJECT_PERMISSION_REQUIRED";
    default: return "INVALID_PAYLOAD";
    }
}

/* May the caller create in the project of each batch's iteration? Batches it may not
 * (or whose iteration is gone) get their drop code in `result`. False after a 500. */
static bool check_batches(dd_req *r, dd_v1_metrics *m)
{
    if (!r->srv->auth || r->user.is_admin)
        return true;
    for (size_t i = 0; i < m->n; i++) {
        dd_metric_delivery *b = &m->batches[i];
        if (i && b->iteration_id == m->batches[i - 1].iteration_id) {
            b->result = m->batches[i - 1].result;   /* a node's batches come in runs */
            continue;
        }
        int64_t pid = 0;
        dd_err err = {0};
        dd_code code = dd_project_of(r->srv->st, DD_ENT_ITERATION, b->iteration_id, &pid,
                                     &err);
        char rights[5];
        if (code == DD_NOT_FOUND)
            b->result = DD_NOT_FOUND;
        else if (code != DD_OK)
            return dd_reply_error(r, 500, "SERVER_ERROR", "%s", err.msg), false;
        else if (!dd_v1_rights(r, pid, rights))
            return false;
        else if (rights[0] != 'c')
            b->result = DD_FORBIDDEN;
    }
    return true;
}

static void reply(dd_req *r, const dd_v1_metrics *m, bool duplicate)
{
    json_t *steps = json_object(), *dropped = json_array();
    json_int_t accepted = 0;
    for (size_t i = 0; i < m->n && !duplicate; i++) {
        const dd_metric_delivery *b = &m->batches[i];
        if (b->result != DD_OK) {
            json_array_append_new(dropped, json_pack("{s:I,s:s}", "batch", (json_int_t)i,
                                                     "code", drop_code(b->result)));
            continue;
        }
        accepted += (json_int_t)b->n;
        if (b->n) {
            char name[32 + DD_NAME_MAX];
            snprintf(name, sizeof name, "%lld/%s", (long long)b->iteration_id, b->key);
            json_object_set_new(steps, name, json_integer(b->max_step));
        }
    }
    dd_reply_json(r, 200, json_pack("{s:I,s:o,s:o,s:b}", "accepted", accepted,
                                    "last_steps", steps, "dropped", dropped,
                                    "duplicate", duplicate));
}

void h_v1_metrics(dd_req *r)
{
    char node_id[33], msg[DD_ERR_MSG_MAX] = "";
    int64_t seq = 0;
    if (dd_v1_idem_parse(dd_req_header(r, "Idempotency-Key"), node_id, &seq) != 0) {
        dd_reply_error(r, 400, "BAD_REQUEST", "POST /v1/metrics needs the header "
                       "Idempotency-Key: <32 hex digits>:<positive sequence number>");
        return;
    }
    dd_v1_metrics m;
    if (dd_v1_metrics_parse(r->body, r->body_len, &m, msg, sizeof msg) != 0) {
        dd_reply_error(r, 400, "BAD_REQUEST", "%s", msg);
        return;
    }
    if (check_batches(r, &m)) {
        bool duplicate = false;
        dd_err err = {0};
        dd_code code = dd_metric_deliver(r->srv->st, node_id, seq, m.batches, m.n,
                                         &duplicate, &err);
        for (size_t i = 0; code == DD_OK && !duplicate && i < m.n; i++)
            if (m.batches[i].result != DD_OK)
                syslog(LOG_WARNING, "POST /v1/metrics: node %s dropped %zu points of "
                       "iteration %lld metric %s: %s", node_id, m.batches[i].n,
                       (long long)m.batches[i].iteration_id, m.batches[i].key,
                       drop_code(m.batches[i].result));
        if (code == DD_OK)
            reply(r, &m, duplicate);
        else
            dd_v1_store_error(r, "create", "metrics", &err);
    }
    dd_v1_metrics_free(&m);
}
