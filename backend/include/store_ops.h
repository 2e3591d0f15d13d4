/*
 * store_ops.h - the store as a table of operations (docs/REMOTE.md §1.2).
 *
 * Every function of store.h that the filesystem (fs/, and chart/read/ for its charts)
 * calls to read or change data goes through the table of the store it is given:
 * `dd_param_set(st, ...)` is a dispatcher (backend/store/dispatch.c) that calls
 * `st`'s `ops->param_set(st, ...)`. A store opened with dd_store_open has the local table,
 * dd_store_local_ops, whose entries are the engine-backed bodies (`local_param_set`, each
 * in the file of its entity, declared in the private backend/store/store_local.h). A
 * second implementation (the remote store of remote mounts, remote/) fills its own table
 * and makes its dd_store with dd_store_wrap; backend/ never knows it.
 *
 * The entries have exactly the store.h signatures and contracts (store.h says what each
 * promises; an implementation keeps those promises or answers an error). An entry left
 * NULL is an operation that store does not offer: the dispatcher answers what the table's
 * `missing` hook says, or without one DD_UNSUPPORTED "dd_x: not offered by a <name>
 * store", and changes nothing.
 *
 * Functions outside the table (dd_store_atomic, users and permissions administration,
 * fsck, migrations, the trash, dd_metric_log_start...) take a local store only: they are
 * called by commands that open a database, never on a wrapped store.
 */
#ifndef DD_STORE_OPS_H
#define DD_STORE_OPS_H

#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dd_store_ops dd_store_ops;

struct dd_store_ops {
    const char *name;   /* "local", "remote": named in messages */
    /* dd_store_close of a wrapped store calls it first to free the implementation (may be
     * NULL). Never called for a local store. */
    void (*close)(dd_store *st);
    /* What a NULL entry answers (may be NULL: DD_UNSUPPORTED). `fn` names the store.h
     * function ("dd_param_set"). Must fill err and return a failure. */
    dd_code (*missing)(const dd_store *st, const char *fn, dd_err *err);

    void (*store_local_dir)(const dd_store *st, char *out, size_t len);
    dd_code (*dir_time)(dd_store *st, const char *name, int64_t owner_id, char out[DD_TS_LEN],
        dd_err *err);
    dd_code (*user_find)(dd_store *st, const char *username, dd_user *out, dd_err *err);
    dd_code (*permission_list)(dd_store *st, int64_t user_id, int64_t project_id,
        dd_permission_cb cb, void *ctx, dd_err *err);
    dd_code (*project_of)(dd_store *st, dd_entity kind, int64_t id, int64_t *project_id,
        dd_err *err);
    dd_code (*project_create)(dd_store *st, int64_t user_id, const char *name, int64_t *id_out,
        dd_err *err);
    dd_code (*project_get)(dd_store *st, int64_t id, dd_project *out, dd_err *err);
    dd_code (*project_find)(dd_store *st, const char *name, int64_t *id_out, dd_err *err);
    dd_code (*project_list)(dd_store *st, dd_project_cb cb, void *ctx, dd_err *err);
    dd_code (*project_rename)(dd_store *st, int64_t id, const char *name, dd_err *err);
    dd_code (*project_set_description)(dd_store *st, int64_t id, const char *description,
        dd_err *err);
    dd_code (*project_delete)(dd_store *st, int64_t id, bool cascade, dd_err *err);
    dd_code (*experiment_create)(dd_store *st, int64_t project_id, const char *name,
        int64_t *id_out, dd_err *err);
    dd_code (*experiment_get)(dd_store *st, int64_t id, dd_experiment *out, dd_err *err);
    dd_code (*experiment_find)(dd_store *st, int64_t project_id, const char *name,
        int64_t *id_out, dd_err *err);
    dd_code (*experiment_list)(dd_store *st, int64_t project_id, dd_experiment_cb cb, void *ctx,
        dd_err *err);
    dd_code (*experiment_rename)(dd_store *st, int64_t id, const char *name, dd_err *err);
    dd_code (*experiment_set_description)(dd_store *st, int64_t id, const char *description,
        dd_err *err);
    dd_code (*experiment_set_status)(dd_store *st, int64_t id, int status, dd_err *err);
    dd_code (*experiment_delete)(dd_store *st, int64_t id, bool cascade, dd_err *err);
    dd_code (*iteration_create)(dd_store *st, int64_t experiment_id, int64_t parent_id,
        int64_t *id_out, dd_err *err);
    dd_code (*iteration_get)(dd_store *st, int64_t id, dd_iteration *out, dd_err *err);
    dd_code (*iteration_list)(dd_store *st, int64_t experiment_id, dd_iteration_cb cb,
        void *ctx, dd_err *err);
    dd_code (*iteration_list_children)(dd_store *st, int64_t parent_id, dd_iteration_cb cb,
        void *ctx, dd_err *err);
    dd_code (*iteration_set_status)(dd_store *st, int64_t id, int status,
        const char *error_message, dd_err *err);
    dd_code (*iteration_set_notes)(dd_store *st, int64_t id, const char *notes, dd_err *err);
    dd_code (*iteration_set_error_message)(dd_store *st, int64_t id, const char *message,
        dd_err *err);
    dd_code (*iteration_file_get)(dd_store *st, int64_t iteration_id, const char *name,
        void **data_out, size_t *len_out, dd_err *err);
    dd_code (*iteration_file_by_id)(dd_store *st, int64_t id, int64_t *iteration_id_out,
        char **name_out, size_t *len_out, dd_err *err);
    dd_code (*iteration_file_find)(dd_store *st, int64_t iteration_id, const char *name,
        int64_t *id_out, size_t *len_out, dd_err *err);
    dd_code (*iteration_file_list)(dd_store *st, int64_t iteration_id, dd_iteration_file_cb cb,
        void *ctx, dd_err *err);
    dd_code (*iteration_values_updated)(dd_store *st, int64_t id, char params_out[DD_TS_LEN],
        char metrics_out[DD_TS_LEN], dd_err *err);
    dd_code (*iteration_delete)(dd_store *st, int64_t id, bool cascade, dd_err *err);
    dd_code (*param_set)(dd_store *st, int64_t iteration_id, const char *key, const char *value,
        dd_err *err);
    dd_code (*param_set_many)(dd_store *st, int64_t iteration_id, const char *const *keys,
        const char *const *values, size_t n, dd_err *err);
    dd_code (*param_replace_all)(dd_store *st, int64_t iteration_id, const char *const *keys,
        const char *const *values, size_t n, dd_err *err);
    dd_code (*param_list)(dd_store *st, int64_t iteration_id, dd_param_cb cb, void *ctx,
        dd_err *err);
    dd_code (*param_delete)(dd_store *st, int64_t iteration_id, const char *key, dd_err *err);
    dd_code (*param_rename)(dd_store *st, int64_t iteration_id, const char *old_key,
        const char *new_key, dd_err *err);
    dd_code (*param_get_by_id)(dd_store *st, int64_t id, int64_t *iteration_id_out,
        char **key_out, char **value_out, char *updated_out, dd_err *err);
    dd_code (*param_find)(dd_store *st, int64_t iteration_id, const char *key, int64_t *id_out,
        dd_err *err);
    dd_code (*param_list_rows)(dd_store *st, int64_t iteration_id, dd_param_row_cb cb,
        void *ctx, dd_err *err);
    dd_code (*metric_append)(dd_store *st, int64_t iteration_id, const char *key,
        const dd_metric_point *points, size_t n, dd_err *err);
    dd_code (*metric_append_logged)(dd_store *st, int64_t iteration_id, const char *key,
        const dd_metric_point *points, size_t n, dd_err *err);
    dd_code (*metric_log_drain)(dd_store *st, dd_err *err);
    dd_code (*metric_read)(dd_store *st, int64_t iteration_id, const char *key, bool resume,
        int64_t after_step, int64_t after_id, dd_metric_cb cb, void *ctx, dd_err *err);
    dd_code (*metric_scan)(dd_store *st, int64_t iteration_id, const char *key,
        const dd_metric_scan_ops *ops, void *ctx, dd_err *err);
    dd_code (*metric_series_list)(dd_store *st, int64_t iteration_id, dd_series_cb cb,
        void *ctx, dd_err *err);
    dd_code (*metric_series_get)(dd_store *st, int64_t iteration_id, const char *key,
        dd_metric_series *out, char ts_buf[DD_TS_LEN], dd_err *err);
    dd_code (*metric_series_by_id)(dd_store *st, int64_t series_id, dd_metric_series *out,
        char **key_out, char ts_buf[DD_TS_LEN], dd_err *err);
    dd_code (*metric_series_name)(dd_store *st, int64_t series_id, int64_t *iteration_id,
        char **key_out, dd_err *err);   /* NULL: metric_series_by_id answers */
    dd_code (*metric_delete)(dd_store *st, int64_t iteration_id, const char *key, dd_err *err);
    dd_code (*metric_append_items)(dd_store *st, int64_t iteration_id,
        const dd_metric_item *items, size_t n, int64_t *series_out, int64_t *position_out,
        dd_err *err);
    dd_code (*resource_get)(dd_store *st, int64_t id, dd_resource *out, dd_err *err);
    dd_code (*resource_find)(dd_store *st, int64_t experiment_id, const char *name,
        int64_t *id_out, dd_err *err);
    dd_code (*resource_list)(dd_store *st, int64_t experiment_id, dd_resource_cb cb, void *ctx,
        dd_err *err);
    dd_code (*resource_rename)(dd_store *st, int64_t id, const char *name, dd_err *err);
    dd_code (*resource_delete)(dd_store *st, int64_t id, dd_err *err);
    dd_code (*resource_check_replaceable)(dd_store *st, int64_t id, dd_err *err);
    dd_code (*tag_attach)(dd_store *st, dd_tag_kind kind, int64_t entity_id, const char *value,
        int64_t *link_id_out, dd_err *err);
    dd_code (*tag_detach)(dd_store *st, dd_tag_kind kind, int64_t entity_id, const char *value,
        dd_err *err);
    dd_code (*tag_link_get)(dd_store *st, dd_tag_kind kind, int64_t link_id,
        int64_t *entity_id_out, char **value_out, dd_err *err);
    dd_code (*tag_link_find)(dd_store *st, dd_tag_kind kind, int64_t entity_id,
        const char *value, int64_t *link_id_out, dd_err *err);
    dd_code (*tag_list)(dd_store *st, dd_tag_kind kind, int64_t entity_id, dd_tag_cb cb,
        void *ctx, dd_err *err);
    dd_code (*delete_check)(dd_store *st, dd_tag_kind kind, int64_t id, dd_err *err);
    dd_code (*model_create)(dd_store *st, int64_t project_id, const char *name,
        const char *description, int64_t *id_out, dd_err *err);
    dd_code (*model_get)(dd_store *st, int64_t id, dd_model *out, dd_err *err);
    dd_code (*model_find)(dd_store *st, const char *name, int64_t *id_out, dd_err *err);
    dd_code (*model_list)(dd_store *st, int64_t project_id, dd_model_cb cb, void *ctx,
        dd_err *err);
    dd_code (*model_list_with_project)(dd_store *st, dd_model_project_cb cb, void *ctx,
        dd_err *err);
    dd_code (*model_find_with_project)(dd_store *st, const char *name, dd_model_project_cb cb,
        void *ctx, dd_err *err);
    dd_code (*model_rename)(dd_store *st, int64_t id, const char *name, dd_err *err);
    dd_code (*model_set_description)(dd_store *st, int64_t id, const char *description,
        dd_err *err);
    dd_code (*model_delete)(dd_store *st, int64_t id, dd_err *err);
    dd_code (*version_create_as)(dd_store *st, int64_t model_id, int64_t iteration_id,
        int64_t resource_id, const char *description, int64_t user_id, int64_t *id_out,
        int64_t *version_out, dd_err *err);
    dd_code (*version_get)(dd_store *st, int64_t id, dd_model_version *out, dd_err *err);
    dd_code (*version_find)(dd_store *st, int64_t model_id, int64_t version, int64_t *id_out,
        dd_err *err);
    dd_code (*version_find_stage)(dd_store *st, int64_t model_id, int stage, int64_t *id_out,
        dd_err *err);
    dd_code (*version_list)(dd_store *st, int64_t model_id, dd_version_cb cb, void *ctx,
        dd_err *err);
    dd_code (*version_set_stage_as)(dd_store *st, int64_t id, int stage, int64_t user_id,
        dd_err *err);
    dd_code (*version_set_description)(dd_store *st, int64_t id, const char *description,
        dd_err *err);
    dd_code (*version_delete)(dd_store *st, int64_t id, dd_err *err);
    dd_code (*stage_history)(dd_store *st, int64_t model_id, int64_t limit, int64_t offset,
        dd_stage_change_cb cb, void *ctx, int64_t *total_out, dd_err *err);
    dd_code (*alias_set)(dd_store *st, int64_t model_id, const char *alias, int64_t version_id,
        dd_err *err);
    dd_code (*alias_find)(dd_store *st, int64_t model_id, const char *alias, int64_t *id_out,
        dd_err *err);
    dd_code (*alias_by_id)(dd_store *st, int64_t id, int64_t *model_id_out,
        int64_t *version_id_out, dd_err *err);
    dd_code (*alias_list)(dd_store *st, int64_t model_id, dd_alias_cb cb, void *ctx,
        dd_err *err);
    dd_code (*alias_delete)(dd_store *st, int64_t model_id, const char *alias, dd_err *err);
    dd_code (*alias_rename)(dd_store *st, int64_t model_id, const char *from, const char *to,
        dd_err *err);
};

/* Every dd_store begins with this, so a dispatcher finds the table with one load. */
struct dd_store_head {
    const dd_store_ops *ops;
    void *impl;          /* the implementation's own state (NULL for a local store) */
};

/* The table of stores opened by dd_store_open (backend/store/local_ops.c). */
extern const dd_store_ops dd_store_local_ops;

/* A store whose every table call goes to `ops`, with `impl` its state (dd_store_impl).
 * `locator` is what dd_store_path answers (a canonical URL: never a secret). Only the
 * table's functions, dd_store_path, dd_store_engine (ops->name), dd_store_stats_get and
 * dd_store_close may be called on it. DD_IO on out-of-memory. */
dd_code dd_store_wrap(const dd_store_ops *ops, void *impl, const char *locator,
                      dd_store **out, dd_err *err);
/* The `impl` a store was wrapped with (NULL for a local store). */
void *dd_store_impl(const dd_store *st);
/* A wrapped store's implementation changed data (or may have: a write whose answer never
 * came): counted in dd_store_stats.writes, so what the filesystem keeps from a listing
 * read before it (fs/attr_cache.c) is not trusted after it, as after a local write. */
void dd_store_wrapped_wrote(dd_store *st);

#ifdef __cplusplus
}
#endif

#endif /* DD_STORE_OPS_H */
