/*
 * store_local.h - private: the local (engine-backed) bodies of the store functions that
 * go through the table of operations (store_ops.h). Each is defined where its
 * entity lives (projects.c, iterations.c, ...) and registered in dd_store_local_ops
 * (local_ops.c); callers use the public dd_* dispatchers, never these.
 */
#ifndef DD_STORE_LOCAL_H
#define DD_STORE_LOCAL_H

#include "store.h"
#include "store_ops.h"

void local_store_local_dir(const dd_store *st, char *out, size_t len);
dd_code local_dir_time(dd_store *st, const char *name, int64_t owner_id, char out[DD_TS_LEN],
                       dd_err *err);
dd_code local_user_find(dd_store *st, const char *username, dd_user *out, dd_err *err);
dd_code local_permission_list(dd_store *st, int64_t user_id, int64_t project_id,
                              dd_permission_cb cb, void *ctx, dd_err *err);
dd_code local_project_of(dd_store *st, dd_entity kind, int64_t id, int64_t *project_id,
                         dd_err *err);
dd_code local_project_create(dd_store *st, int64_t user_id, const char *name, int64_t *id_out,
                             dd_err *err);
dd_code local_project_get(dd_store *st, int64_t id, dd_project *out, dd_err *err);
dd_code local_project_find(dd_store *st, const char *name, int64_t *id_out, dd_err *err);
dd_code local_project_list(dd_store *st, dd_project_cb cb, void *ctx, dd_err *err);
dd_code local_project_rename(dd_store *st, int64_t id, const char *name, dd_err *err);
dd_code local_project_set_description(dd_store *st, int64_t id, const char *description,
                                      dd_err *err);
dd_code local_project_delete(dd_store *st, int64_t id, bool cascade, dd_err *err);
dd_code local_experiment_create(dd_store *st, int64_t project_id, const char *name,
                                int64_t *id_out, dd_err *err);
dd_code local_experiment_get(dd_store *st, int64_t id, dd_experiment *out, dd_err *err);
dd_code local_experiment_find(dd_store *st, int64_t project_id, const char *name,
                              int64_t *id_out, dd_err *err);
dd_code local_experiment_list(dd_store *st, int64_t project_id, dd_experiment_cb cb, void *ctx,
                              dd_err *err);
dd_code local_experiment_rename(dd_store *st, int64_t id, const char *name, dd_err *err);
dd_code local_experiment_set_description(dd_store *st, int64_t id, const char *description,
                                         dd_err *err);
dd_code local_experiment_set_status(dd_store *st, int64_t id, int status, dd_err *err);
dd_code local_experiment_delete(dd_store *st, int64_t id, bool cascade, dd_err *err);
dd_code local_iteration_create(dd_store *st, int64_t experiment_id, int64_t parent_id,
                               int64_t *id_out, dd_err *err);
dd_code local_iteration_get(dd_store *st, int64_t id, dd_iteration *out, dd_err *err);
dd_code local_iteration_list(dd_store *st, int64_t experiment_id, dd_iteration_cb cb, void *ctx,
                             dd_err *err);
dd_code local_iteration_list_children(dd_store *st, int64_t parent_id, dd_iteration_cb cb,
                                      void *ctx, dd_err *err);
dd_code local_iteration_set_status(dd_store *st, int64_t id, int status,
                                   const char *error_message, dd_err *err);
dd_code local_iteration_set_notes(dd_store *st, int64_t id, const char *notes, dd_err *err);
dd_code local_iteration_set_error_message(dd_store *st, int64_t id, const char *message,
                                          dd_err *err);
dd_code local_iteration_file_get(dd_store *st, int64_t iteration_id, const char *name,
                                 void **data_out, size_t *len_out, dd_err *err);
dd_code local_iteration_file_by_id(dd_store *st, int64_t id, int64_t *iteration_id_out,
                                   char **name_out, size_t *len_out, dd_err *err);
dd_code local_iteration_file_find(dd_store *st, int64_t iteration_id, const char *name,
                                  int64_t *id_out, size_t *len_out, dd_err *err);
dd_code local_iteration_file_list(dd_store *st, int64_t iteration_id, dd_iteration_file_cb cb,
                                  void *ctx, dd_err *err);
dd_code local_iteration_values_updated(dd_store *st, int64_t id, char params_out[DD_TS_LEN],
                                       char metrics_out[DD_TS_LEN], dd_err *err);
dd_code local_iteration_delete(dd_store *st, int64_t id, bool cascade, dd_err *err);
dd_code local_param_set(dd_store *st, int64_t iteration_id, const char *key, const char *value,
                        dd_err *err);
dd_code local_param_set_many(dd_store *st, int64_t iteration_id, const char *const *keys,
                             const char *const *values, size_t n, dd_err *err);
dd_code local_param_replace_all(dd_store *st, int64_t iteration_id, const char *const *keys,
                                const char *const *values, size_t n, dd_err *err);
dd_code local_param_list(dd_store *st, int64_t iteration_id, dd_param_cb cb, void *ctx,
                         dd_err *err);
dd_code local_param_delete(dd_store *st, int64_t iteration_id, const char *key, dd_err *err);
dd_code local_param_rename(dd_store *st, int64_t iteration_id, const char *old_key,
                           const char *new_key, dd_err *err);
dd_code local_param_get_by_id(dd_store *st, int64_t id, int64_t *iteration_id_out,
                              char **key_out, char **value_out, char *updated_out, dd_err *err);
dd_code local_param_find(dd_store *st, int64_t iteration_id, const char *key, int64_t *id_out,
                         dd_err *err);
dd_code local_param_list_rows(dd_store *st, int64_t iteration_id, dd_param_row_cb cb, void *ctx,
                              dd_err *err);
dd_code local_metric_append(dd_store *st, int64_t iteration_id, const char *key,
                            const dd_metric_point *points, size_t n, dd_err *err);
dd_code local_metric_append_logged(dd_store *st, int64_t iteration_id, const char *key,
                                   const dd_metric_point *points, size_t n, dd_err *err);
dd_code local_metric_log_drain(dd_store *st, dd_err *err);
dd_code local_metric_read(dd_store *st, int64_t iteration_id, const char *key, bool resume,
                          int64_t after_step, int64_t after_id, dd_metric_cb cb, void *ctx,
                          dd_err *err);
dd_code local_metric_scan(dd_store *st, int64_t iteration_id, const char *key,
                          const dd_metric_scan_ops *ops, void *ctx, dd_err *err);
dd_code local_metric_series_list(dd_store *st, int64_t iteration_id, dd_series_cb cb, void *ctx,
                                 dd_err *err);
dd_code local_metric_series_get(dd_store *st, int64_t iteration_id, const char *key,
                                dd_metric_series *out, char ts_buf[DD_TS_LEN], dd_err *err);
dd_code local_metric_series_name(dd_store *st, int64_t series_id, int64_t *iteration_id,
                                 char **key_out, dd_err *err);
/* local_metric_series_name through the metric log's table of names (metric_log.c,
 * NAME_SLOTS): on a server registry a name read less than 100 ms ago, with no end or delete
 * through this process since, is answered without a read. */
dd_code local_metric_series_name_cached(dd_store *st, int64_t series_id, int64_t *iteration_id,
                                        char **key_out, dd_err *err);
dd_code local_metric_series_by_id(dd_store *st, int64_t series_id, dd_metric_series *out,
                                  char **key_out, char ts_buf[DD_TS_LEN], dd_err *err);
dd_code local_metric_delete(dd_store *st, int64_t iteration_id, const char *key, dd_err *err);
dd_code local_metric_append_items(dd_store *st, int64_t iteration_id,
                                  const dd_metric_item *items, size_t n, int64_t *series_out,
                                  int64_t *position_out, dd_err *err);
dd_code local_resource_get(dd_store *st, int64_t id, dd_resource *out, dd_err *err);
dd_code local_resource_find(dd_store *st, int64_t experiment_id, const char *name,
                            int64_t *id_out, dd_err *err);
dd_code local_resource_list(dd_store *st, int64_t experiment_id, dd_resource_cb cb, void *ctx,
                            dd_err *err);
dd_code local_resource_rename(dd_store *st, int64_t id, const char *name, dd_err *err);
dd_code local_resource_delete(dd_store *st, int64_t id, dd_err *err);
dd_code local_resource_check_replaceable(dd_store *st, int64_t id, dd_err *err);
dd_code local_tag_attach(dd_store *st, dd_tag_kind kind, int64_t entity_id, const char *value,
                         int64_t *link_id_out, dd_err *err);
dd_code local_tag_detach(dd_store *st, dd_tag_kind kind, int64_t entity_id, const char *value,
                         dd_err *err);
dd_code local_tag_link_get(dd_store *st, dd_tag_kind kind, int64_t link_id,
                           int64_t *entity_id_out, char **value_out, dd_err *err);
dd_code local_tag_link_find(dd_store *st, dd_tag_kind kind, int64_t entity_id,
                            const char *value, int64_t *link_id_out, dd_err *err);
dd_code local_tag_list(dd_store *st, dd_tag_kind kind, int64_t entity_id, dd_tag_cb cb,
                       void *ctx, dd_err *err);
dd_code local_delete_check(dd_store *st, dd_tag_kind kind, int64_t id, dd_err *err);
dd_code local_model_create(dd_store *st, int64_t project_id, const char *name,
                           const char *description, int64_t *id_out, dd_err *err);
dd_code local_model_get(dd_store *st, int64_t id, dd_model *out, dd_err *err);
dd_code local_model_find(dd_store *st, const char *name, int64_t *id_out, dd_err *err);
dd_code local_model_list(dd_store *st, int64_t project_id, dd_model_cb cb, void *ctx,
                         dd_err *err);
dd_code local_model_list_with_project(dd_store *st, dd_model_project_cb cb, void *ctx,
                                      dd_err *err);
dd_code local_model_find_with_project(dd_store *st, const char *name, dd_model_project_cb cb,
                                      void *ctx, dd_err *err);
dd_code local_model_rename(dd_store *st, int64_t id, const char *name, dd_err *err);
dd_code local_model_set_description(dd_store *st, int64_t id, const char *description,
                                    dd_err *err);
dd_code local_model_delete(dd_store *st, int64_t id, dd_err *err);
dd_code local_version_create_as(dd_store *st, int64_t model_id, int64_t iteration_id,
                                int64_t resource_id, const char *description, int64_t user_id,
                                int64_t *id_out, int64_t *version_out, dd_err *err);
dd_code local_version_get(dd_store *st, int64_t id, dd_model_version *out, dd_err *err);
dd_code local_version_find(dd_store *st, int64_t model_id, int64_t version, int64_t *id_out,
                           dd_err *err);
dd_code local_version_find_stage(dd_store *st, int64_t model_id, int stage, int64_t *id_out,
                                 dd_err *err);
dd_code local_version_list(dd_store *st, int64_t model_id, dd_version_cb cb, void *ctx,
                           dd_err *err);
dd_code local_version_set_stage_as(dd_store *st, int64_t id, int stage, int64_t user_id,
                                   dd_err *err);
dd_code local_version_set_description(dd_store *st, int64_t id, const char *description,
                                      dd_err *err);
dd_code local_version_delete(dd_store *st, int64_t id, dd_err *err);
dd_code local_stage_history(dd_store *st, int64_t model_id, int64_t limit, int64_t offset,
                            dd_stage_change_cb cb, void *ctx, int64_t *total_out, dd_err *err);
dd_code local_alias_set(dd_store *st, int64_t model_id, const char *alias, int64_t version_id,
                        dd_err *err);
dd_code local_alias_find(dd_store *st, int64_t model_id, const char *alias, int64_t *id_out,
                         dd_err *err);
dd_code local_alias_by_id(dd_store *st, int64_t id, int64_t *model_id_out,
                          int64_t *version_id_out, dd_err *err);
dd_code local_alias_list(dd_store *st, int64_t model_id, dd_alias_cb cb, void *ctx,
                         dd_err *err);
dd_code local_alias_delete(dd_store *st, int64_t model_id, const char *alias, dd_err *err);
dd_code local_alias_rename(dd_store *st, int64_t model_id, const char *from, const char *to,
                           dd_err *err);

#endif /* DD_STORE_LOCAL_H */
