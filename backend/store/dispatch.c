/*
 * dispatch.c - the public store.h functions of the table of operations (store_ops.h):
 * each calls its store's entry, or answers for a NULL one (an operation that store does
 * not offer: missing). One load and one indirect call over the local body.
 */
#include <stdio.h>

#include "store_ops.h"

#define OPS(st) (((const struct dd_store_head *)(st))->ops)

static dd_code missing(const dd_store *st, const char *fn, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (o->missing)
        return o->missing(st, fn, err);
    return dd_fail(err, DD_UNSUPPORTED, "%s: not offered by a %s store", fn, o->name);
}

/* dd_store_local_dir has no error to return: a store without one has no local
 * directory, "" */
static void missing_void(const dd_store *st, const char *fn, char *out, size_t len)
{
    (void)st;
    (void)fn;
    if (len)
        out[0] = 0;
}

void dd_store_local_dir(const dd_store *st, char *out, size_t len)
{
    const dd_store_ops *o = OPS(st);
    if (!o->store_local_dir) {
        missing_void(st, __func__, out, len);
        return;
    }
    o->store_local_dir(st, out, len);
}

dd_code dd_dir_time(dd_store *st, const char *name, int64_t owner_id, char out[DD_TS_LEN],
                    dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->dir_time)
        return missing(st, __func__, err);
    return o->dir_time(st, name, owner_id, out, err);
}

dd_code dd_user_find(dd_store *st, const char *username, dd_user *out, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->user_find)
        return missing(st, __func__, err);
    return o->user_find(st, username, out, err);
}

dd_code dd_permission_list(dd_store *st, int64_t user_id, int64_t project_id,
                           dd_permission_cb cb, void *ctx, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->permission_list)
        return missing(st, __func__, err);
    return o->permission_list(st, user_id, project_id, cb, ctx, err);
}

dd_code dd_project_of(dd_store *st, dd_entity kind, int64_t id, int64_t *project_id,
                      dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->project_of)
        return missing(st, __func__, err);
    return o->project_of(st, kind, id, project_id, err);
}

dd_code dd_project_create(dd_store *st, int64_t user_id, const char *name, int64_t *id_out,
                          dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->project_create)
        return missing(st, __func__, err);
    return o->project_create(st, user_id, name, id_out, err);
}

dd_code dd_project_get(dd_store *st, int64_t id, dd_project *out, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->project_get)
        return missing(st, __func__, err);
    return o->project_get(st, id, out, err);
}

dd_code dd_project_find(dd_store *st, const char *name, int64_t *id_out, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->project_find)
        return missing(st, __func__, err);
    return o->project_find(st, name, id_out, err);
}

dd_code dd_project_list(dd_store *st, dd_project_cb cb, void *ctx, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->project_list)
        return missing(st, __func__, err);
    return o->project_list(st, cb, ctx, err);
}

dd_code dd_project_rename(dd_store *st, int64_t id, const char *name, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->project_rename)
        return missing(st, __func__, err);
    return o->project_rename(st, id, name, err);
}

dd_code dd_project_set_description(dd_store *st, int64_t id, const char *description,
                                   dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->project_set_description)
        return missing(st, __func__, err);
    return o->project_set_description(st, id, description, err);
}

dd_code dd_project_delete(dd_store *st, int64_t id, bool cascade, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->project_delete)
        return missing(st, __func__, err);
    return o->project_delete(st, id, cascade, err);
}

dd_code dd_experiment_create(dd_store *st, int64_t project_id, const char *name,
                             int64_t *id_out, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->experiment_create)
        return missing(st, __func__, err);
    return o->experiment_create(st, project_id, name, id_out, err);
}

dd_code dd_experiment_get(dd_store *st, int64_t id, dd_experiment *out, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->experiment_get)
        return missing(st, __func__, err);
    return o->experiment_get(st, id, out, err);
}

dd_code dd_experiment_find(dd_store *st, int64_t project_id, const char *name, int64_t *id_out,
                           dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->experiment_find)
        return missing(st, __func__, err);
    return o->experiment_find(st, project_id, name, id_out, err);
}

dd_code dd_experiment_list(dd_store *st, int64_t project_id, dd_experiment_cb cb, void *ctx,
                           dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->experiment_list)
        return missing(st, __func__, err);
    return o->experiment_list(st, project_id, cb, ctx, err);
}

dd_code dd_experiment_rename(dd_store *st, int64_t id, const char *name, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->experiment_rename)
        return missing(st, __func__, err);
    return o->experiment_rename(st, id, name, err);
}

dd_code dd_experiment_set_description(dd_store *st, int64_t id, const char *description,
                                      dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->experiment_set_description)
        return missing(st, __func__, err);
    return o->experiment_set_description(st, id, description, err);
}

dd_code dd_experiment_set_status(dd_store *st, int64_t id, int status, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->experiment_set_status)
        return missing(st, __func__, err);
    return o->experiment_set_status(st, id, status, err);
}

dd_code dd_experiment_delete(dd_store *st, int64_t id, bool cascade, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->experiment_delete)
        return missing(st, __func__, err);
    return o->experiment_delete(st, id, cascade, err);
}

dd_code dd_iteration_create(dd_store *st, int64_t experiment_id, int64_t parent_id,
                            int64_t *id_out, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->iteration_create)
        return missing(st, __func__, err);
    return o->iteration_create(st, experiment_id, parent_id, id_out, err);
}

dd_code dd_iteration_get(dd_store *st, int64_t id, dd_iteration *out, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->iteration_get)
        return missing(st, __func__, err);
    return o->iteration_get(st, id, out, err);
}

dd_code dd_iteration_list(dd_store *st, int64_t experiment_id, dd_iteration_cb cb, void *ctx,
                          dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->iteration_list)
        return missing(st, __func__, err);
    return o->iteration_list(st, experiment_id, cb, ctx, err);
}

dd_code dd_iteration_list_children(dd_store *st, int64_t parent_id, dd_iteration_cb cb,
                                   void *ctx, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->iteration_list_children)
        return missing(st, __func__, err);
    return o->iteration_list_children(st, parent_id, cb, ctx, err);
}

dd_code dd_iteration_set_status(dd_store *st, int64_t id, int status, const char *error_message,
                                dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->iteration_set_status)
        return missing(st, __func__, err);
    return o->iteration_set_status(st, id, status, error_message, err);
}

dd_code dd_iteration_set_notes(dd_store *st, int64_t id, const char *notes, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->iteration_set_notes)
        return missing(st, __func__, err);
    return o->iteration_set_notes(st, id, notes, err);
}

dd_code dd_iteration_set_error_message(dd_store *st, int64_t id, const char *message,
                                       dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->iteration_set_error_message)
        return missing(st, __func__, err);
    return o->iteration_set_error_message(st, id, message, err);
}

dd_code dd_iteration_file_get(dd_store *st, int64_t iteration_id, const char *name,
                              void **data_out, size_t *len_out, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->iteration_file_get)
        return missing(st, __func__, err);
    return o->iteration_file_get(st, iteration_id, name, data_out, len_out, err);
}

dd_code dd_iteration_file_by_id(dd_store *st, int64_t id, int64_t *iteration_id_out,
                                char **name_out, size_t *len_out, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->iteration_file_by_id)
        return missing(st, __func__, err);
    return o->iteration_file_by_id(st, id, iteration_id_out, name_out, len_out, err);
}

dd_code dd_iteration_file_find(dd_store *st, int64_t iteration_id, const char *name,
                               int64_t *id_out, size_t *len_out, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->iteration_file_find)
        return missing(st, __func__, err);
    return o->iteration_file_find(st, iteration_id, name, id_out, len_out, err);
}

dd_code dd_iteration_file_list(dd_store *st, int64_t iteration_id, dd_iteration_file_cb cb,
                               void *ctx, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->iteration_file_list)
        return missing(st, __func__, err);
    return o->iteration_file_list(st, iteration_id, cb, ctx, err);
}

dd_code dd_iteration_values_updated(dd_store *st, int64_t id, char params_out[DD_TS_LEN],
                                    char metrics_out[DD_TS_LEN], dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->iteration_values_updated)
        return missing(st, __func__, err);
    return o->iteration_values_updated(st, id, params_out, metrics_out, err);
}

dd_code dd_iteration_delete(dd_store *st, int64_t id, bool cascade, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->iteration_delete)
        return missing(st, __func__, err);
    return o->iteration_delete(st, id, cascade, err);
}

dd_code dd_param_set(dd_store *st, int64_t iteration_id, const char *key, const char *value,
                     dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->param_set)
        return missing(st, __func__, err);
    return o->param_set(st, iteration_id, key, value, err);
}

dd_code dd_param_set_many(dd_store *st, int64_t iteration_id, const char *const *keys,
                          const char *const *values, size_t n, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->param_set_many)
        return missing(st, __func__, err);
    return o->param_set_many(st, iteration_id, keys, values, n, err);
}

dd_code dd_param_replace_all(dd_store *st, int64_t iteration_id, const char *const *keys,
                             const char *const *values, size_t n, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->param_replace_all)
        return missing(st, __func__, err);
    return o->param_replace_all(st, iteration_id, keys, values, n, err);
}

dd_code dd_param_list(dd_store *st, int64_t iteration_id, dd_param_cb cb, void *ctx,
                      dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->param_list)
        return missing(st, __func__, err);
    return o->param_list(st, iteration_id, cb, ctx, err);
}

dd_code dd_param_delete(dd_store *st, int64_t iteration_id, const char *key, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->param_delete)
        return missing(st, __func__, err);
    return o->param_delete(st, iteration_id, key, err);
}

dd_code dd_param_rename(dd_store *st, int64_t iteration_id, const char *old_key,
                        const char *new_key, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->param_rename)
        return missing(st, __func__, err);
    return o->param_rename(st, iteration_id, old_key, new_key, err);
}

dd_code dd_param_get_by_id(dd_store *st, int64_t id, int64_t *iteration_id_out, char **key_out,
                           char **value_out, char *updated_out, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->param_get_by_id)
        return missing(st, __func__, err);
    return o->param_get_by_id(st, id, iteration_id_out, key_out, value_out, updated_out, err);
}

dd_code dd_param_find(dd_store *st, int64_t iteration_id, const char *key, int64_t *id_out,
                      dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->param_find)
        return missing(st, __func__, err);
    return o->param_find(st, iteration_id, key, id_out, err);
}

dd_code dd_param_list_rows(dd_store *st, int64_t iteration_id, dd_param_row_cb cb, void *ctx,
                           dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->param_list_rows)
        return missing(st, __func__, err);
    return o->param_list_rows(st, iteration_id, cb, ctx, err);
}

dd_code dd_metric_append(dd_store *st, int64_t iteration_id, const char *key,
                         const dd_metric_point *points, size_t n, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->metric_append)
        return missing(st, __func__, err);
    return o->metric_append(st, iteration_id, key, points, n, err);
}

dd_code dd_metric_append_logged(dd_store *st, int64_t iteration_id, const char *key,
                                const dd_metric_point *points, size_t n, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->metric_append_logged)
        return missing(st, __func__, err);
    return o->metric_append_logged(st, iteration_id, key, points, n, err);
}

dd_code dd_metric_log_drain(dd_store *st, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->metric_log_drain)
        return missing(st, __func__, err);
    return o->metric_log_drain(st, err);
}

dd_code dd_metric_read(dd_store *st, int64_t iteration_id, const char *key, bool resume,
                       int64_t after_step, int64_t after_id, dd_metric_cb cb, void *ctx,
                       dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->metric_read)
        return missing(st, __func__, err);
    return o->metric_read(st, iteration_id, key, resume, after_step, after_id, cb, ctx, err);
}

dd_code dd_metric_scan(dd_store *st, int64_t iteration_id, const char *key,
                       const dd_metric_scan_ops *ops, void *ctx, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->metric_scan)
        return missing(st, __func__, err);
    return o->metric_scan(st, iteration_id, key, ops, ctx, err);
}

dd_code dd_metric_series_list(dd_store *st, int64_t iteration_id, dd_series_cb cb, void *ctx,
                              dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->metric_series_list)
        return missing(st, __func__, err);
    return o->metric_series_list(st, iteration_id, cb, ctx, err);
}

dd_code dd_metric_series_get(dd_store *st, int64_t iteration_id, const char *key,
                             dd_metric_series *out, char ts_buf[DD_TS_LEN], dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->metric_series_get)
        return missing(st, __func__, err);
    return o->metric_series_get(st, iteration_id, key, out, ts_buf, err);
}

dd_code dd_metric_series_by_id(dd_store *st, int64_t series_id, dd_metric_series *out,
                               char **key_out, char ts_buf[DD_TS_LEN], dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->metric_series_by_id)
        return missing(st, __func__, err);
    return o->metric_series_by_id(st, series_id, out, key_out, ts_buf, err);
}

dd_code dd_metric_series_name(dd_store *st, int64_t series_id, int64_t *iteration_id,
                              char **key_out, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (o->metric_series_name)
        return o->metric_series_name(st, series_id, iteration_id, key_out, err);
    /* a store without the lighter call: the whole summary, then keep the name */
    dd_metric_series m = {0};
    char ts[DD_TS_LEN];
    dd_code code = dd_metric_series_by_id(st, series_id, &m, key_out, ts, err);
    *iteration_id = m.iteration_id;
    return code;
}

dd_code dd_metric_delete(dd_store *st, int64_t iteration_id, const char *key, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->metric_delete)
        return missing(st, __func__, err);
    return o->metric_delete(st, iteration_id, key, err);
}

dd_code dd_metric_append_items(dd_store *st, int64_t iteration_id, const dd_metric_item *items,
                               size_t n, int64_t *series_out, int64_t *position_out,
                               dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->metric_append_items)
        return missing(st, __func__, err);
    return o->metric_append_items(st, iteration_id, items, n, series_out, position_out, err);
}

dd_code dd_resource_get(dd_store *st, int64_t id, dd_resource *out, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->resource_get)
        return missing(st, __func__, err);
    return o->resource_get(st, id, out, err);
}

dd_code dd_resource_find(dd_store *st, int64_t experiment_id, const char *name, int64_t *id_out,
                         dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->resource_find)
        return missing(st, __func__, err);
    return o->resource_find(st, experiment_id, name, id_out, err);
}

dd_code dd_resource_list(dd_store *st, int64_t experiment_id, dd_resource_cb cb, void *ctx,
                         dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->resource_list)
        return missing(st, __func__, err);
    return o->resource_list(st, experiment_id, cb, ctx, err);
}

dd_code dd_resource_rename(dd_store *st, int64_t id, const char *name, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->resource_rename)
        return missing(st, __func__, err);
    return o->resource_rename(st, id, name, err);
}

dd_code dd_resource_delete(dd_store *st, int64_t id, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->resource_delete)
        return missing(st, __func__, err);
    return o->resource_delete(st, id, err);
}

dd_code dd_resource_check_replaceable(dd_store *st, int64_t id, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->resource_check_replaceable)
        return missing(st, __func__, err);
    return o->resource_check_replaceable(st, id, err);
}

dd_code dd_tag_attach(dd_store *st, dd_tag_kind kind, int64_t entity_id, const char *value,
                      int64_t *link_id_out, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->tag_attach)
        return missing(st, __func__, err);
    return o->tag_attach(st, kind, entity_id, value, link_id_out, err);
}

dd_code dd_tag_detach(dd_store *st, dd_tag_kind kind, int64_t entity_id, const char *value,
                      dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->tag_detach)
        return missing(st, __func__, err);
    return o->tag_detach(st, kind, entity_id, value, err);
}

dd_code dd_tag_link_get(dd_store *st, dd_tag_kind kind, int64_t link_id, int64_t *entity_id_out,
                        char **value_out, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->tag_link_get)
        return missing(st, __func__, err);
    return o->tag_link_get(st, kind, link_id, entity_id_out, value_out, err);
}

dd_code dd_tag_link_find(dd_store *st, dd_tag_kind kind, int64_t entity_id, const char *value,
                         int64_t *link_id_out, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->tag_link_find)
        return missing(st, __func__, err);
    return o->tag_link_find(st, kind, entity_id, value, link_id_out, err);
}

dd_code dd_tag_list(dd_store *st, dd_tag_kind kind, int64_t entity_id, dd_tag_cb cb, void *ctx,
                    dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->tag_list)
        return missing(st, __func__, err);
    return o->tag_list(st, kind, entity_id, cb, ctx, err);
}

dd_code dd_delete_check(dd_store *st, dd_tag_kind kind, int64_t id, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->delete_check)
        return missing(st, __func__, err);
    return o->delete_check(st, kind, id, err);
}

dd_code dd_model_create(dd_store *st, int64_t project_id, const char *name,
                        const char *description, int64_t *id_out, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->model_create)
        return missing(st, __func__, err);
    return o->model_create(st, project_id, name, description, id_out, err);
}

dd_code dd_model_get(dd_store *st, int64_t id, dd_model *out, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->model_get)
        return missing(st, __func__, err);
    return o->model_get(st, id, out, err);
}

dd_code dd_model_find(dd_store *st, const char *name, int64_t *id_out, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->model_find)
        return missing(st, __func__, err);
    return o->model_find(st, name, id_out, err);
}

dd_code dd_model_list(dd_store *st, int64_t project_id, dd_model_cb cb, void *ctx, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->model_list)
        return missing(st, __func__, err);
    return o->model_list(st, project_id, cb, ctx, err);
}

dd_code dd_model_list_with_project(dd_store *st, dd_model_project_cb cb, void *ctx, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->model_list_with_project)
        return missing(st, __func__, err);
    return o->model_list_with_project(st, cb, ctx, err);
}

dd_code dd_model_find_with_project(dd_store *st, const char *name, dd_model_project_cb cb,
                                   void *ctx, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->model_find_with_project)
        return missing(st, __func__, err);
    return o->model_find_with_project(st, name, cb, ctx, err);
}

dd_code dd_model_rename(dd_store *st, int64_t id, const char *name, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->model_rename)
        return missing(st, __func__, err);
    return o->model_rename(st, id, name, err);
}

dd_code dd_model_set_description(dd_store *st, int64_t id, const char *description, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->model_set_description)
        return missing(st, __func__, err);
    return o->model_set_description(st, id, description, err);
}

dd_code dd_model_delete(dd_store *st, int64_t id, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->model_delete)
        return missing(st, __func__, err);
    return o->model_delete(st, id, err);
}

dd_code dd_version_create_as(dd_store *st, int64_t model_id, int64_t iteration_id,
                             int64_t resource_id, const char *description, int64_t user_id,
                             int64_t *id_out, int64_t *version_out, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->version_create_as)
        return missing(st, __func__, err);
    return o->version_create_as(st, model_id, iteration_id, resource_id, description, user_id,
                                id_out, version_out, err);
}

dd_code dd_version_get(dd_store *st, int64_t id, dd_model_version *out, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->version_get)
        return missing(st, __func__, err);
    return o->version_get(st, id, out, err);
}

dd_code dd_version_find(dd_store *st, int64_t model_id, int64_t version, int64_t *id_out,
                        dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->version_find)
        return missing(st, __func__, err);
    return o->version_find(st, model_id, version, id_out, err);
}

dd_code dd_version_find_stage(dd_store *st, int64_t model_id, int stage, int64_t *id_out,
                              dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->version_find_stage)
        return missing(st, __func__, err);
    return o->version_find_stage(st, model_id, stage, id_out, err);
}

dd_code dd_version_list(dd_store *st, int64_t model_id, dd_version_cb cb, void *ctx,
                        dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->version_list)
        return missing(st, __func__, err);
    return o->version_list(st, model_id, cb, ctx, err);
}

dd_code dd_version_set_stage_as(dd_store *st, int64_t id, int stage, int64_t user_id,
                                dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->version_set_stage_as)
        return missing(st, __func__, err);
    return o->version_set_stage_as(st, id, stage, user_id, err);
}

dd_code dd_version_set_description(dd_store *st, int64_t id, const char *description,
                                   dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->version_set_description)
        return missing(st, __func__, err);
    return o->version_set_description(st, id, description, err);
}

dd_code dd_version_delete(dd_store *st, int64_t id, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->version_delete)
        return missing(st, __func__, err);
    return o->version_delete(st, id, err);
}

dd_code dd_stage_history(dd_store *st, int64_t model_id, int64_t limit, int64_t offset,
                         dd_stage_change_cb cb, void *ctx, int64_t *total_out, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->stage_history)
        return missing(st, __func__, err);
    return o->stage_history(st, model_id, limit, offset, cb, ctx, total_out, err);
}

dd_code dd_alias_set(dd_store *st, int64_t model_id, const char *alias, int64_t version_id,
                     dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->alias_set)
        return missing(st, __func__, err);
    return o->alias_set(st, model_id, alias, version_id, err);
}

dd_code dd_alias_find(dd_store *st, int64_t model_id, const char *alias, int64_t *id_out,
                      dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->alias_find)
        return missing(st, __func__, err);
    return o->alias_find(st, model_id, alias, id_out, err);
}

dd_code dd_alias_by_id(dd_store *st, int64_t id, int64_t *model_id_out, int64_t *version_id_out,
                       dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->alias_by_id)
        return missing(st, __func__, err);
    return o->alias_by_id(st, id, model_id_out, version_id_out, err);
}

dd_code dd_alias_list(dd_store *st, int64_t model_id, dd_alias_cb cb, void *ctx, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->alias_list)
        return missing(st, __func__, err);
    return o->alias_list(st, model_id, cb, ctx, err);
}

dd_code dd_alias_delete(dd_store *st, int64_t model_id, const char *alias, dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->alias_delete)
        return missing(st, __func__, err);
    return o->alias_delete(st, model_id, alias, err);
}

dd_code dd_alias_rename(dd_store *st, int64_t model_id, const char *from, const char *to,
                        dd_err *err)
{
    const dd_store_ops *o = OPS(st);
    if (!o->alias_rename)
        return missing(st, __func__, err);
    return o->alias_rename(st, model_id, from, to, err);
}
