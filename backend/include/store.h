/*
 * store.h - the DearDiary store: one C API for every entity and every rule.
 *
 * The store owns the metadata database (SQLite today) and enforces, each in one
 * transaction, the rules of DESIGN.md §2 and of the original DearDiary minus its bugs:
 * unique names, the iteration lock once ended, per-key metric steps, version numbers that
 * are never reused, promotion that archives the incumbent atomically, cascades that either
 * complete or change nothing, tags that can be detached.
 *
 * Threads: a dd_store is shared by every thread of the process. Each thread that calls
 * into it gets its own SQLite connection (WAL, busy_timeout, BEGIN IMMEDIATE for writes),
 * opened on first use and closed when the thread exits or the store is closed. Writers
 * wait for each other; "database is locked" never reaches a caller unless the wait
 * exceeds the configured timeout, and then as DD_BUSY: one timeout per operation, counted
 * from its first wait, whether it waited for the metric log, for another thread of this
 * process or for another process (db.h, "Bounded waits").
 *
 * Errors: every function that can fail returns a dd_code (DD_OK == 0) and, when `err` is
 * not NULL, fills it with the same code and a human-readable message. A function that
 * fails has changed nothing. Strings are UTF-8. Timestamps are UTC ISO-8601 with
 * milliseconds and 'Z' ("2026-11-23T12:00:00.000Z").
 *
 * Ownership: dd_get_* fill a caller-owned struct whose strings are heap-allocated; free
 * them with the matching dd_*_clear. dd_list_* call a callback once per row with a
 * borrowed struct that is valid only during the call; a callback returning non-zero
 * stops the listing (the function then returns DD_OK). A callback must not call back
 * into the store (the listing's statement is still running); collect, then act.
 *
 * Nothing here knows about FUSE; fs/ maps dd_code to errno, a REST layer to HTTP.
 */
#ifndef DD_STORE_H
#define DD_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- errors */

typedef enum dd_code {
    DD_OK = 0,
    DD_NOT_FOUND,  /* the entity (or a parent it names) does not exist          -> ENOENT   */
    DD_CONFLICT,   /* a unique name or key is already taken                       -> EEXIST   */
    DD_INVALID,    /* malformed value or a rule of the data model is broken       -> EINVAL   */
    DD_FORBIDDEN,  /* the operation is never allowed (demote `default`, ...)      -> EPERM    */
    DD_READ_ONLY,  /* the target has ended (iteration end_date set)               -> EROFS    */
    DD_IN_USE,     /* still referenced elsewhere (resource used by a version)     -> EBUSY    */
    DD_NOT_EMPTY,  /* a non-cascading delete found children                        -> ENOTEMPTY*/
    DD_TOO_LONG,   /* a name longer than DD_NAME_MAX bytes                         -> ENAMETOOLONG */
    DD_BUSY,       /* the database stayed locked past the busy timeout           -> EAGAIN   */
    DD_IO,         /* SQLite, disk or artifact-store failure                       -> EIO      */
    DD_NO_SPACE,   /* a disk or quota is full (database, artifact root, s3 spool)  -> ENOSPC   */
    DD_TOO_BIG,    /* a value longer than DD_VALUE_MAX bytes                       -> EFBIG    */
    DD_UNSUPPORTED,/* this store does not offer it (store_ops.h)        -> EOPNOTSUPP */
    DD_DENIED,     /* the caller lacks the right (a remote mount: the server said so,
                      or its token is refused)                             -> EACCES   */
} dd_code;

/* The most bytes one value (a parameter, a description, notes, params.yaml as a whole)
 * may hold: SQLite stores a row of at most 10^9 bytes (SQLITE_MAX_LENGTH, its default),
 * and this leaves room for the row's other columns. */
#define DD_VALUE_MAX 999000000

#define DD_ERR_MSG_MAX 256

typedef struct dd_err {
    dd_code code;
    char msg[DD_ERR_MSG_MAX];
} dd_err;

/* Fill `err` (may be NULL) with `code` and a printf-style message; returns `code`. */
dd_code dd_fail(dd_err *err, dd_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The symbolic name of a code ("not_found", "conflict", ...). Never NULL. */
const char *dd_code_name(dd_code code);
/* The code for a failed write's errno: DD_NO_SPACE for a full disk or quota (ENOSPC,
 * EDQUOT), so the writer's shell says "No space left on device"; else DD_IO. */
dd_code dd_errno_code(int e);

/* ---------------------------------------------------------------- enums */

typedef enum dd_experiment_status {
    DD_EXP_IN_PROGRESS = 1,
    DD_EXP_STOPPED = 2,
    DD_EXP_FINISHED = 3,
} dd_experiment_status;

typedef enum dd_iteration_status {
    DD_ITER_RUNNING = 1,
    DD_ITER_SUCCEEDED = 2,
    DD_ITER_FAILED = 3,
    DD_ITER_KILLED = 4,
} dd_iteration_status;

typedef enum dd_stage {
    DD_STAGE_NONE = 1,       /* NO_STAGE */
    DD_STAGE_STAGING = 2,
    DD_STAGE_PRODUCTION = 3,
    DD_STAGE_ARCHIVED = 4,
} dd_stage;

/* Enum <-> text ("IN_PROGRESS", "RUNNING", "NO_STAGE", ...). The parsers accept the exact
 * upper-case name; they return DD_INVALID for anything else. The printers return NULL for
 * an out-of-range value. */
const char *dd_experiment_status_name(int status);
const char *dd_iteration_status_name(int status);
const char *dd_stage_name(int stage);
dd_code dd_experiment_status_parse(const char *text, int *out);
dd_code dd_iteration_status_parse(const char *text, int *out);
dd_code dd_stage_parse(const char *text, int *out);

/* ---------------------------------------------------------------- names & time */

#define DD_NAME_MAX 255   /* bytes */
#define DD_TS_LEN 25      /* "YYYY-MM-DDTHH:MM:SS.mmmZ" + NUL */

/* A name that will be a directory or file name: 1..255 bytes of valid UTF-8, no '/',
 * no control characters (0x00-0x1f, 0x7f), not "." or "..". DD_TOO_LONG past 255 bytes,
 * DD_INVALID otherwise. `what` names the thing in the message ("project name"). */
dd_code dd_name_check(const char *name, const char *what, dd_err *err);

/* The current UTC time as "YYYY-MM-DDTHH:MM:SS.mmmZ". */
void dd_now(char out[DD_TS_LEN]);

/* Normalise a user-supplied timestamp to the canonical form. Accepts
 * YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM|-HH:MM] (a missing zone means UTC; 'T' may be a
 * space) and a Unix time in seconds with an optional fraction. DD_INVALID otherwise. */
dd_code dd_time_parse(const char *text, char out[DD_TS_LEN], dd_err *err);

/* ---------------------------------------------------------------- the store */

typedef struct dd_store dd_store;

typedef struct dd_store_options {
    int busy_timeout_ms;   /* how long a writer waits for another; 0 means 30000 */
    bool read_only;        /* open without migrating or writing (fsck, inspection) */
    /* Where this machine keeps the registry's metric journals (a local directory, made
     * 0700 when absent; docs/ENGINES.md §4.3). NULL or "": beside a SQLite file, or the
     * XDG state directory for a server registry. Journals there are named after the
     * registry's uuid, so one directory serves several registries. */
    const char *journal_dir;
} dd_store_options;

/* A locator names a registry: a postgresql:// or postgres:// URI (libpq's connection URI;
 * passwords from ~/.pgpass, PGPASSFILE or PGPASSWORD, or inline) selects PostgreSQL, in
 * an existing database that is empty or already a registry; anything else is the path of
 * a SQLite file.
 *
 * Open (a SQLite file: creating it when absent) the registry at locator `path`, apply
 * pending migrations, each in its own transaction, and seed the `default` admin user. A database whose schema is
 * newer than this binary is refused (DD_INVALID, message names both versions). `opts`
 * may be NULL. On success *out is a store to pass to every other call. */
dd_code dd_store_open(const char *path, const dd_store_options *opts, dd_store **out,
                      dd_err *err);

/* Close every connection and free the store. NULL is accepted. */
void dd_store_close(dd_store *st);

/* The canonical locator: a SQLite path as the store was opened with it, or the URI with
 * its password removed and its options in a fixed order. Safe to log, print and publish
 * (the user.deardiary.database xattr). */
const char *dd_store_path(const dd_store *st);
#define dd_store_locator dd_store_path
/* "sqlite" or "postgres". */
const char *dd_store_engine(const dd_store *st);
/* The local directory whose filesystem holds what this machine keeps of the store (statfs
 * of a mount reports it): a SQLite file's directory, a server registry's journal
 * directory. Copied into out (truncated to len). */
void dd_store_local_dir(const dd_store *st, char *out, size_t len);
/* The canonical form of a locator without opening it (comparing mounts); *out malloc'd;
 * DD_INVALID for a URI no engine takes or a bad PostgreSQL URI. */
dd_code dd_locator_canonical(const char *locator, char **out, dd_err *err);
/* True for a URI (a server's registry), false for a file path. */
bool dd_locator_is_uri(const char *locator);

/*
 * Several store writes as one transaction (a REST PATCH of several fields, a create that
 * must first find its key free): fn(st, ctx, err) runs with the store's writer held, every
 * store write it makes joins one transaction, and every store read it makes sees those
 * writes. It commits when fn returns DD_OK, else nothing fn wrote is kept; fn returns the
 * first failure of its writes (a failed write that is a transaction of its own fails the
 * whole even if fn goes on). Other threads' writes wait meanwhile, so
 * a check fn makes still holds when it writes. Called inside fn, it just runs its own fn.
 * fn must not start a thread that writes to the store, nor wait for one.
 */
typedef dd_code (*dd_atomic_fn)(dd_store *st, void *ctx, dd_err *err);
dd_code dd_store_atomic(dd_store *st, dd_atomic_fn fn, void *ctx, dd_err *err);

/* What this store (every connection and thread of it, in this process) has done so far.
 * `statements` counts statements run (each execution of a prepared statement, however
 * many rows it returns; transaction control and the engine's own checks are not
 * counted): tests read it to bound what an operation costs (a directory listing costs a
 * constant number of statements, not one per entry). `writes` counts the changes made
 * through this store (each committed write transaction, each metric batch accepted into
 * the journal): a cache of what the store answered is valid while it has not moved
 * (changes made by other processes are not counted). */
typedef struct dd_store_stats {
    uint64_t statements;
    uint64_t writes;
} dd_store_stats;
void dd_store_stats_get(dd_store *st, dd_store_stats *out);

/* "Is this a sound DearDiary registry". SQLite: quick_check of the whole file (reads every
 * page: ~1 s per GB); PostgreSQL: its schema version is recorded and every table is
 * there. DD_OK when sound, DD_IO naming the first problem otherwise ("database disk image
 * is malformed (...)"). The commands that open a user's database call it first. */
dd_code dd_store_quick_check(dd_store *st, dd_err *err);

/* The newest migration this binary knows, and the one applied to the database. */
int dd_schema_version_known(void);
dd_code dd_schema_version(dd_store *st, int *out, dd_err *err);

/* A number that changes whenever any connection (this thread's, another thread's or
 * another process's) commits to the database. Cheap; used to invalidate caches. */
dd_code dd_store_data_version(dd_store *st, int64_t *out, dd_err *err);

/* When an entry of a directory last came or went (schema/sqlite/008_row_times.sql): `name` says
 * which directory of its owner row ("params" of iteration `owner_id`, "aliases" of a
 * model...), or is "root", "projects" or "models" with owner_id 0. "" in `out` when
 * nothing came or went since the owner was created. */
dd_code dd_dir_time(dd_store *st, const char *name, int64_t owner_id, char out[DD_TS_LEN],
                    dd_err *err);

/* Run PRAGMA integrity_check; DD_IO with the first problem in the message if not "ok". */
dd_code dd_store_check_integrity(dd_store *st, dd_err *err);

/* ---------------------------------------------------------------- users */

typedef struct dd_user {
    int64_t id;
    char *first_name;
    char *last_name;
    char *username;
    char *password;        /* bcrypt hash, never the password */
    char created_date[DD_TS_LEN];
    bool is_admin;
} dd_user;

typedef struct dd_user_permission {
    int64_t id;
    int64_t user_id;
    int64_t project_id;
    bool create_permission;
    bool read_permission;
    bool update_permission;
    bool delete_permission;
} dd_user_permission;

#define DD_DEFAULT_USERNAME "default"

/* New non-admin user; the password is stored as a bcrypt hash. DD_CONFLICT when the
 * username is taken, DD_INVALID for an empty username or password. */
dd_code dd_user_create(dd_store *st, const char *first_name, const char *last_name,
                       const char *username, const char *password, int64_t *id_out,
                       dd_err *err);
dd_code dd_user_get(dd_store *st, int64_t id, dd_user *out, dd_err *err);
dd_code dd_user_find(dd_store *st, const char *username, dd_user *out, dd_err *err);
typedef int (*dd_user_cb)(void *ctx, const dd_user *row);
dd_code dd_user_list(dd_store *st, dd_user_cb cb, void *ctx, dd_err *err);
/* NULL arguments leave the field unchanged; is_admin < 0 leaves it unchanged.
 * Demoting the `default` user is DD_FORBIDDEN. */
dd_code dd_user_update(dd_store *st, int64_t id, const char *first_name, const char *last_name,
                       const char *password, int is_admin, dd_err *err);
/* Removes the user and its permission rows. Deleting `default` is DD_FORBIDDEN. */
dd_code dd_user_delete(dd_store *st, int64_t id, dd_err *err);
/* DD_OK when the password matches the stored hash, DD_FORBIDDEN when it does not. */
dd_code dd_user_check_password(dd_store *st, const char *username, const char *password,
                               dd_err *err);
void dd_user_clear(dd_user *u);

/* DD_NOT_FOUND for an unknown user or project, DD_CONFLICT for a second row for the pair. */
dd_code dd_permission_create(dd_store *st, int64_t user_id, int64_t project_id, bool c, bool r,
                             bool u, bool d, int64_t *id_out, dd_err *err);
dd_code dd_permission_get(dd_store *st, int64_t user_id, int64_t project_id,
                          dd_user_permission *out, dd_err *err);
/* Each flag: -1 unchanged, 0 or 1. */
dd_code dd_permission_update(dd_store *st, int64_t id, int c, int r, int u, int d, dd_err *err);
dd_code dd_permission_delete(dd_store *st, int64_t id, dd_err *err);
typedef int (*dd_permission_cb)(void *ctx, const dd_user_permission *row);
/* Exactly one of user_id, project_id is non-zero. */
dd_code dd_permission_list(dd_store *st, int64_t user_id, int64_t project_id,
                           dd_permission_cb cb, void *ctx, dd_err *err);

/* Set `username`'s rights on the project named `project` in one transaction (the
 * `deardiary user grant|revoke` commands): each flag -1 unchanged, 0 or 1. A user with no
 * row for the project gets one first, holding no rights at all (so a grant of create alone
 * gives create alone). DD_NOT_FOUND for an unknown user or project, naming it. */
dd_code dd_permission_set(dd_store *st, const char *username, const char *project, int c,
                          int r, int u, int d, dd_err *err);
/* Remove `username`'s row for `project` (every right) in one transaction; DD_NOT_FOUND for
 * an unknown user or project; a user without a row is left as it is (DD_OK). */
dd_code dd_permission_remove(dd_store *st, const char *username, const char *project,
                             dd_err *err);

/* What a row id names, for dd_project_of. */
typedef enum dd_entity {
    DD_ENT_PROJECT, DD_ENT_EXPERIMENT, DD_ENT_ITERATION, DD_ENT_PARAMETER,
    DD_ENT_METRIC_SERIES,   /* metric_latest */
    DD_ENT_ITERATION_FILE, DD_ENT_RESOURCE, DD_ENT_PROJECT_TAG, DD_ENT_EXPERIMENT_TAG,
    DD_ENT_ITERATION_TAG, DD_ENT_MODEL, DD_ENT_VERSION,
    DD_ENT_ALIAS,           /* model_alias (an alias's own row, its inode id) */
    DD_ENT_COUNT
} dd_entity;

/* The project the row `id` of kind `kind` belongs to: one indexed lookup (the permission
 * checks of a shared mount call it per request). DD_NOT_FOUND when the row is gone. */
dd_code dd_project_of(dd_store *st, dd_entity kind, int64_t id, int64_t *project_id,
                      dd_err *err);

/* ---------------------------------------------------------------- projects */

typedef struct dd_project {
    int64_t id;
    char *name;
    char *description;
    char created_date[DD_TS_LEN];
    /* When the row's own values last changed (end_date, else created_date, if never
     * since): its value files' mtime (schema/sqlite/008_row_times.sql). */
    char updated_date[DD_TS_LEN];
} dd_project;

/* Create a project owned by `user_id` (0 means the `default` user), adding the creator's
 * permission row (read only, as the original) in the same transaction. Only admins may
 * create projects (DD_FORBIDDEN otherwise). DD_CONFLICT when the name is taken. */
dd_code dd_project_create(dd_store *st, int64_t user_id, const char *name, int64_t *id_out,
                          dd_err *err);
dd_code dd_project_get(dd_store *st, int64_t id, dd_project *out, dd_err *err);
dd_code dd_project_find(dd_store *st, const char *name, int64_t *id_out, dd_err *err);
typedef int (*dd_project_cb)(void *ctx, const dd_project *row);
dd_code dd_project_list(dd_store *st, dd_project_cb cb, void *ctx, dd_err *err);
dd_code dd_project_rename(dd_store *st, int64_t id, const char *name, dd_err *err);
dd_code dd_project_set_description(dd_store *st, int64_t id, const char *description,
                                   dd_err *err);
/* Delete the project and everything in it (experiments with their iterations, data and
 * resources, models with their versions, permissions, tag links) in one transaction.
 * With cascade false, a project that still holds experiments or models is DD_NOT_EMPTY. */
dd_code dd_project_delete(dd_store *st, int64_t id, bool cascade, dd_err *err);
void dd_project_clear(dd_project *p);

/* ---------------------------------------------------------------- experiments */

typedef struct dd_experiment {
    int64_t id;
    int64_t project_id;
    int status_id;
    char *name;
    char *description;
    char created_date[DD_TS_LEN];
    char end_date[DD_TS_LEN];   /* "" while not ended */
    /* When the row's own values last changed (end_date, else created_date, if never
     * since): its value files' mtime (schema/sqlite/008_row_times.sql). */
    char updated_date[DD_TS_LEN];
} dd_experiment;

/* New experiment, IN_PROGRESS. DD_NOT_FOUND for an unknown project, DD_CONFLICT when the
 * name is taken in that project. */
dd_code dd_experiment_create(dd_store *st, int64_t project_id, const char *name,
                             int64_t *id_out, dd_err *err);
dd_code dd_experiment_get(dd_store *st, int64_t id, dd_experiment *out, dd_err *err);
dd_code dd_experiment_find(dd_store *st, int64_t project_id, const char *name,
                           int64_t *id_out, dd_err *err);
typedef int (*dd_experiment_cb)(void *ctx, const dd_experiment *row);
dd_code dd_experiment_list(dd_store *st, int64_t project_id, dd_experiment_cb cb, void *ctx,
                           dd_err *err);
dd_code dd_experiment_rename(dd_store *st, int64_t id, const char *name, dd_err *err);
dd_code dd_experiment_set_description(dd_store *st, int64_t id, const char *description,
                                      dd_err *err);
/* Any status to any status (as the original). STOPPED and FINISHED set end_date when it
 * is unset; IN_PROGRESS clears it (reopen). */
dd_code dd_experiment_set_status(dd_store *st, int64_t id, int status, dd_err *err);
/* Delete with its iterations, their data and the resources (bytes queued for removal).
 * DD_IN_USE when a model version references one of its iterations or resources; nothing
 * is removed then. With cascade false, DD_NOT_EMPTY if it holds iterations or resources. */
dd_code dd_experiment_delete(dd_store *st, int64_t id, bool cascade, dd_err *err);
void dd_experiment_clear(dd_experiment *e);

/* ---------------------------------------------------------------- iterations */

typedef struct dd_iteration {
    int64_t id;
    int64_t experiment_id;
    int64_t parent_iteration_id;   /* 0 for a top-level iteration */
    int status_id;
    char *notes;
    char *error_message;
    char created_date[DD_TS_LEN];
    char end_date[DD_TS_LEN];      /* "" while running */
    /* When the row's own values last changed (end_date, else created_date, if never
     * since): its value files' mtime (schema/sqlite/008_row_times.sql). */
    char updated_date[DD_TS_LEN];
    /* environment snapshot */
    char *julia_version;
    char *git_sha;
    bool git_dirty;
    char *entrypoint;
    char *project_toml;
    char *manifest_toml;
} dd_iteration;

/* New RUNNING iteration. The experiment must be IN_PROGRESS (DD_INVALID otherwise);
 * a parent (non-zero) must exist (DD_NOT_FOUND) and belong to the same experiment
 * (DD_INVALID). */
dd_code dd_iteration_create(dd_store *st, int64_t experiment_id, int64_t parent_id,
                            int64_t *id_out, dd_err *err);
dd_code dd_iteration_get(dd_store *st, int64_t id, dd_iteration *out, dd_err *err);
typedef int (*dd_iteration_cb)(void *ctx, const dd_iteration *row);
/* Iterations of an experiment in id order. The snapshot text fields (project_toml,
 * manifest_toml) are not loaded by listings and are "" in the rows passed to `cb`. */
dd_code dd_iteration_list(dd_store *st, int64_t experiment_id, dd_iteration_cb cb, void *ctx,
                          dd_err *err);
/* Direct children of `parent_id`, in id order; same row shape as dd_iteration_list. */
dd_code dd_iteration_list_children(dd_store *st, int64_t parent_id, dd_iteration_cb cb,
                                   void *ctx, dd_err *err);
/* The status change ends the iteration (end_date = now) when `status` is SUCCEEDED,
 * FAILED or KILLED; `error_message` (may be NULL = unchanged) is stored in the same
 * transaction. RUNNING on a running iteration is a no-op. An ended iteration is
 * DD_READ_ONLY for this and every other write below, except dd_iteration_delete. */
dd_code dd_iteration_set_status(dd_store *st, int64_t id, int status, const char *error_message,
                                dd_err *err);
dd_code dd_iteration_set_notes(dd_store *st, int64_t id, const char *notes, dd_err *err);
dd_code dd_iteration_set_error_message(dd_store *st, int64_t id, const char *message,
                                       dd_err *err);

typedef struct dd_snapshot {
    const char *julia_version;
    const char *git_sha;
    bool git_dirty;
    const char *entrypoint;
    const char *project_toml;
    const char *manifest_toml;
} dd_snapshot;
/* Overwrite the six snapshot columns (NULL means ""). */
dd_code dd_iteration_set_snapshot(dd_store *st, int64_t id, const dd_snapshot *snap,
                                  dd_err *err);
/* One captured file of a snapshot (a lock file): its name in env/ and its bytes. */
typedef struct dd_snapshot_file {
    const char *name;
    const void *data;
    size_t len;
} dd_snapshot_file;
/* Replace the whole snapshot of a running iteration in one transaction: the six columns
 * and exactly these files (earlier captured files are removed). DD_NOT_FOUND, DD_READ_ONLY
 * on an ended iteration, DD_INVALID for a bad file name (nothing stored then). */
dd_code dd_iteration_snapshot_save(dd_store *st, int64_t id, const dd_snapshot *snap,
                                   const dd_snapshot_file *files, size_t nfiles, dd_err *err);
/* Extra captured files (lock files): set replaces a file of that name. */
dd_code dd_iteration_file_set(dd_store *st, int64_t iteration_id, const char *name,
                              const void *data, size_t len, dd_err *err);
/* *data_out is malloc'd (free it); *len_out its length. */
dd_code dd_iteration_file_get(dd_store *st, int64_t iteration_id, const char *name,
                              void **data_out, size_t *len_out, dd_err *err);
/* The file row `id`: its iteration, name (malloc'd) and length. */
dd_code dd_iteration_file_by_id(dd_store *st, int64_t id, int64_t *iteration_id_out,
                                char **name_out, size_t *len_out, dd_err *err);
dd_code dd_iteration_file_find(dd_store *st, int64_t iteration_id, const char *name,
                               int64_t *id_out, size_t *len_out, dd_err *err);
typedef int (*dd_iteration_file_cb)(void *ctx, int64_t id, const char *name, size_t len);
dd_code dd_iteration_file_list(dd_store *st, int64_t iteration_id, dd_iteration_file_cb cb,
                               void *ctx, dd_err *err);
/* When a parameter, and a metric series, of the iteration was last set or appended to
 * ("" when it has none): the mtimes of params.yaml and metrics.json. */
dd_code dd_iteration_values_updated(dd_store *st, int64_t id, char params_out[DD_TS_LEN],
                                    char metrics_out[DD_TS_LEN], dd_err *err);
/* Delete with its parameters, metrics, files and tag links; children become top-level.
 * DD_IN_USE when a model version was produced by it (nothing removed). Allowed on ended
 * iterations. cascade false (a plain rmdir): DD_NOT_EMPTY when it holds parameters or
 * metric series, checked in the delete's own transaction (points still in the metric log
 * count: it is drained first), so nothing written meanwhile is ever deleted with it. */
dd_code dd_iteration_delete(dd_store *st, int64_t id, bool cascade, dd_err *err);
void dd_iteration_clear(dd_iteration *it);

/* ---------------------------------------------------------------- parameters */

/* Set (insert or replace) one parameter. The key is a name (dd_name_check); the value is
 * non-empty text. DD_READ_ONLY on an ended iteration. */
dd_code dd_param_set(dd_store *st, int64_t iteration_id, const char *key, const char *value,
                     dd_err *err);
/* Set several in one transaction: all or none. */
dd_code dd_param_set_many(dd_store *st, int64_t iteration_id, const char *const *keys,
                          const char *const *values, size_t n, dd_err *err);
/* Make keys[0..n) the iteration's whole parameter set, in one transaction: set them as
 * dd_param_set_many does and delete every other parameter (`> params.yaml`). Parameters
 * that stay keep their row ids. All or none. */
dd_code dd_param_replace_all(dd_store *st, int64_t iteration_id, const char *const *keys,
                             const char *const *values, size_t n, dd_err *err);
/* *value_out is malloc'd. */
dd_code dd_param_get(dd_store *st, int64_t iteration_id, const char *key, char **value_out,
                     dd_err *err);
typedef int (*dd_param_cb)(void *ctx, const char *key, const char *value);
/* In key order. */
dd_code dd_param_list(dd_store *st, int64_t iteration_id, dd_param_cb cb, void *ctx,
                      dd_err *err);
dd_code dd_param_delete(dd_store *st, int64_t iteration_id, const char *key, dd_err *err);
/* Rename a parameter, replacing any parameter already called `new_key`, in one
 * transaction (how `sed -i` and `mv` update a parameter file). */
dd_code dd_param_rename(dd_store *st, int64_t iteration_id, const char *old_key,
                        const char *new_key, dd_err *err);
/* The parameter row `id` (its stable identity); *key_out, *value_out malloc'd, and into
 * updated_out (DD_TS_LEN bytes) when its value was last set (any may be NULL when not
 * wanted). */
dd_code dd_param_get_by_id(dd_store *st, int64_t id, int64_t *iteration_id_out, char **key_out,
                           char **value_out, char *updated_out, dd_err *err);
/* The id of parameter (iteration, key). */
dd_code dd_param_find(dd_store *st, int64_t iteration_id, const char *key, int64_t *id_out,
                      dd_err *err);
/* A parameter as a listing shows it: its row id (the file's identity), key, value and
 * when its value was last set. key and value are valid during the callback only. */
typedef struct dd_param_row {
    int64_t id;
    const char *key;
    const char *value;
    char updated_date[DD_TS_LEN];
} dd_param_row;
typedef int (*dd_param_row_cb)(void *ctx, const dd_param_row *row);
/* Every parameter of the iteration, in key order, in one statement. */
dd_code dd_param_list_rows(dd_store *st, int64_t iteration_id, dd_param_row_cb cb, void *ctx,
                           dd_err *err);

/* ---------------------------------------------------------------- metrics */

typedef struct dd_metric_point {
    double value;                   /* finite; NaN and +-inf are DD_INVALID */
    bool has_step;                  /* false: max(step)+1 for the series, 0 first */
    int64_t step;
    char recorded_at[DD_TS_LEN];    /* "" means now; anything dd_time_parse accepts that
                                       fits (the canonical form does) */
} dd_metric_point;

/* Append points to the series (iteration, key) in one transaction, in array order (so
 * default steps keep counting within the batch). All or none. DD_READ_ONLY on an ended
 * iteration; DD_INVALID for a point without a step once the series holds step INT64_MAX
 * (there is no next step). */
dd_code dd_metric_append(dd_store *st, int64_t iteration_id, const char *key,
                         const dd_metric_point *points, size_t n, dd_err *err);
/* Several keys at once (a REST batch, a script's own metrics.json): dd_metric_append_items
 * in the REST section below. */

/* Check and complete points as dd_metric_append would, without storing them: the key is
 * a valid name, every value finite, and each recorded_at is made canonical ("" becomes
 * now). */
dd_code dd_metric_points_check(const char *key, dd_metric_point *points, size_t n,
                               dd_err *err);

/* The metric log (metric_log.c): group commit for a process that appends many small
 * batches, such as the filesystem. After dd_metric_log_start, dd_metric_append_logged
 * checks the points and the iteration (the errors of dd_metric_append), writes them to a
 * journal next to the database and returns; a thread commits everything accepted
 * meanwhile in one transaction. Every read of metrics and every write transaction of this
 * store drains the log first, so this process never sees the difference; other processes
 * see the points once committed (at once after dd_metric_log_drain). A killed process's
 * journal is replayed exactly once by dd_metric_log_recover, which dd_store_open runs,
 * and which the log's thread runs every RECOVER_PERIOD_MS (metric_log.c: 250 ms), so a
 * process whose log is started replays a killed neighbour's journal within a second. */
dd_code dd_metric_log_start(dd_store *st, dd_err *err);
/* Without a started log (or for a batch of more than 256 points, or one whose steps come
 * near INT64_MAX) this is dd_metric_append after a drain. Once accepted, a batch is
 * committed by the log's thread within its bound (a 1 ms group window; a failed commit
 * retried after 10 ms doubling to 1 s) unless the database does not answer. Between the
 * check and the commit another process may end the iteration (the points are still
 * committed: accepted while it ran) or delete it (they are dropped with it, and a syslog
 * warning counts them): docs/ENGINES.md §4.4. */
dd_code dd_metric_append_logged(dd_store *st, int64_t iteration_id, const char *key,
                                const dd_metric_point *points, size_t n, dd_err *err);
/* Wait until every point accepted so far is committed. DD_BUSY when the database stays
 * locked past the busy timeout (counted from the calling operation's first wait); at once
 * the failure's own code (DD_NO_SPACE for a full disk, DD_IO) when a commit fails for
 * another reason. Either way the points stay in the journal and are committed later. */
dd_code dd_metric_log_drain(dd_store *st, dd_err *err);
/* Drain, stop the thread and remove the journal (dd_store_close does this). */
void dd_metric_log_stop(dd_store *st);
/* Replay the journals of dead processes; *replayed counts the batches applied. */
dd_code dd_metric_log_recover(dd_store *st, int *replayed, dd_err *err);

typedef struct dd_metric_row {
    int64_t id;             /* position in its series: 0, 1, ... in write order */
    int64_t step;
    double value;
    const char *recorded_at;
} dd_metric_row;
typedef int (*dd_metric_cb)(void *ctx, const dd_metric_row *row);
/* Points of one series ordered by step, then id, starting after (after_step, after_id)
 * when `resume` is true (for reading a long series in slices). */
dd_code dd_metric_read(dd_store *st, int64_t iteration_id, const char *key, bool resume,
                       int64_t after_step, int64_t after_id, dd_metric_cb cb, void *ctx,
                       dd_err *err);

/* A run of consecutive points of a series, summarised (a block of the metric_block table,
 * schema/sqlite/009_metric_blocks.sql): what a min/max-per-column chart keeps of it. */
typedef struct dd_metric_run {
    int64_t first_position;    /* the position of its first point in the series */
    int64_t n;                 /* its points: positions first_position .. + n - 1 */
    int64_t first_step, last_step;
    double first_value, last_value;
    int64_t lo_offset, lo_step;    /* the first point holding its least value: offset in */
    double lo_value;               /* the run (0 .. n-1), step, value */
    int64_t hi_offset, hi_step;    /* the same for its greatest value */
    double hi_value;
} dd_metric_run;
/* What dd_metric_scan hands its points to. restart: called before anything else, and again
 * when the read starts over (a retried snapshot): forget what was given so far. whole:
 * may the run of points whose steps go from first_step to last_step be given as one
 * dd_metric_run (true) rather than point by point (false)? point and run: non-zero stops
 * the scan (DD_OK is returned, as by dd_metric_read). */
typedef struct dd_metric_scan_ops {
    void (*restart)(void *ctx);
    bool (*whole)(void *ctx, int64_t first_step, int64_t last_step);
    int (*point)(void *ctx, const dd_metric_row *row);
    int (*run)(void *ctx, const dd_metric_run *run);
} dd_metric_scan_ops;
/* Every point of one series in the order of dd_metric_read (step, then id), from one
 * snapshot, each either alone (ops->point; recorded_at is "") or inside a run
 * (ops->run) whose points are consecutive in that order and that ops->whole accepted.
 * Runs are given only when the series' steps never decrease in write order (then write
 * order is step order); any other series is given point by point, as dd_metric_read
 * would. For charts of long series: a run stands for up to 64 points. Memory: the
 * series' block summaries (96 bytes per 64 points) are held during the call. */
dd_code dd_metric_scan(dd_store *st, int64_t iteration_id, const char *key,
                       const dd_metric_scan_ops *ops, void *ctx, dd_err *err);

typedef struct dd_metric_series {
    int64_t id;            /* stable id of the series (never reused) */
    int64_t iteration_id;
    const char *key;
    double value;          /* latest: greatest step, last written on ties */
    int64_t step;
    const char *recorded_at;
    int64_t max_step;
    int64_t point_count;
    int64_t text_bytes;    /* length of the series as dd_metric_line text (textfmt.h) */
    char updated_date[DD_TS_LEN];   /* when its last batch was appended: the file's mtime */
} dd_metric_series;
typedef int (*dd_series_cb)(void *ctx, const dd_metric_series *row);
/* Every series of an iteration, in key order, from the summary table (no history scan). */
dd_code dd_metric_series_list(dd_store *st, int64_t iteration_id, dd_series_cb cb, void *ctx,
                              dd_err *err);
/* One series' summary; DD_NOT_FOUND when the iteration has no such key. The key pointer
 * in *out is the caller's `key`; recorded_at is copied into `ts_buf`. */
dd_code dd_metric_series_get(dd_store *st, int64_t iteration_id, const char *key,
                             dd_metric_series *out, char ts_buf[DD_TS_LEN], dd_err *err);
/* A series by its id. *key_out is malloc'd. */
dd_code dd_metric_series_by_id(dd_store *st, int64_t series_id, dd_metric_series *out,
                               char **key_out, char ts_buf[DD_TS_LEN], dd_err *err);
/* A series' iteration and key by its id (*key_out malloc'd); DD_NOT_FOUND when there is
 * no such series. Neither ever changes once the series exists, so unlike
 * dd_metric_series_by_id this does not drain the metric log: opening a metric file to
 * append does not wait for the commit of points an earlier close left in the journal
 * (`metrics.close_waits: journal`, docs/ENGINES.md §4.4). */
dd_code dd_metric_series_name(dd_store *st, int64_t series_id, int64_t *iteration_id,
                              char **key_out, dd_err *err);
/* Remove a whole series. DD_READ_ONLY on an ended iteration. */
dd_code dd_metric_delete(dd_store *st, int64_t iteration_id, const char *key, dd_err *err);

/* Points one by one (metric_points.c), for the REST API. A point is named by its series id
 * and its position in that series (0, 1, ... in write order); neither is ever reused. */
typedef struct dd_metric_item {
    const char *key;
    dd_metric_point point;
} dd_metric_item;
/* Append items (any keys, in array order) to one iteration in one transaction: all or
 * none (a REST batch; a script's own metrics.json, every number in it at once). Errors as dd_metric_append. series_out[i] and position_out[i] (either may be
 * NULL) receive each point's series id and position. */
dd_code dd_metric_append_items(dd_store *st, int64_t iteration_id, const dd_metric_item *items,
                               size_t n, int64_t *series_out, int64_t *position_out,
                               dd_err *err);
/* A remote mount's delivery of journaled points (metric_deliver.c, docs/REMOTE.md §2.6):
 * one batch of one series, as the node accepted it. */
typedef struct dd_metric_delivery {
    int64_t iteration_id;
    const char *key;
    dd_metric_point *points;   /* recorded_at: when the node accepted the point */
    size_t n;
    dd_code result;            /* in: DD_OK, or why the caller drops it (the caller's own
                                  checks: a permission); out: DD_OK when stored, else why
                                  it was dropped (DD_NOT_FOUND: no such iteration;
                                  DD_READ_ONLY: a point recorded after the iteration
                                  ended; DD_INVALID: no next step, a bad point) */
    int64_t max_step;          /* out, when stored: the series' highest step after it */
} dd_metric_delivery;
/* Store the batches of request `seq` of node `node_id` (32 hex digits) exactly once: in
 * one transaction, unless remote_delivery already holds a seq >= `seq` for the node
 * (*duplicate true, nothing changed), every batch whose result is DD_OK is appended (a
 * point without a step gets max + 1, in array order), the others are dropped without
 * failing the rest, and the node's seq becomes `seq`. A point of an ended iteration is
 * stored when recorded at or before its end (it was accepted while the iteration ran).
 * Fails as a whole only for the database (DD_IO, DD_BUSY) or a bad node id / seq
 * (DD_INVALID); then nothing is stored. */
dd_code dd_metric_deliver(dd_store *st, const char *node_id, int64_t seq,
                          dd_metric_delivery *batches, size_t n, bool *duplicate,
                          dd_err *err);
typedef struct dd_metric_point_row {
    int64_t series_id;
    int64_t position;
    int64_t iteration_id;
    const char *key;
    int64_t step;
    double value;
    const char *recorded_at;
} dd_metric_point_row;
typedef int (*dd_metric_point_cb)(void *ctx, const dd_metric_point_row *row);
/* Every point of an iteration, ordered by step, then series id, then position. */
dd_code dd_metric_points_list(dd_store *st, int64_t iteration_id, dd_metric_point_cb cb,
                              void *ctx, dd_err *err);
/* One point (cb called once); DD_NOT_FOUND when there is none. */
dd_code dd_metric_point_get(dd_store *st, int64_t series_id, int64_t position,
                            dd_metric_point_cb cb, void *ctx, dd_err *err);

/* ---------------------------------------------------------------- resources */

typedef struct dd_resource {
    int64_t id;
    int64_t experiment_id;
    char *name;
    char *description;
    char created_date[DD_TS_LEN];
    char updated_date[DD_TS_LEN];   /* "" if never updated */
    char *backend;                  /* "inline", "filesystem", "s3" */
    char *uri;                      /* "" for inline */
    int64_t size_bytes;
    char *content_hash;             /* lower-case sha256 hex */
    int64_t generation;             /* bumped each time the bytes are replaced */
    bool broken;                    /* marked by `deardiary fsck --repair`: bytes lost */
} dd_resource;

/* A resource whose bytes are inline (backend "inline"); size and sha256 are computed
 * here. The experiment must be IN_PROGRESS (DD_INVALID). DD_CONFLICT on a taken name. */
dd_code dd_resource_create_inline(dd_store *st, int64_t experiment_id, const char *name,
                                  const void *data, size_t len, int64_t *id_out, dd_err *err);
/* A resource whose bytes already sit in an external backend at `uri`. */
dd_code dd_resource_create_external(dd_store *st, int64_t experiment_id, const char *name,
                                    const char *backend, const char *uri, int64_t size_bytes,
                                    const char *content_hash, int64_t *id_out, dd_err *err);
dd_code dd_resource_get(dd_store *st, int64_t id, dd_resource *out, dd_err *err);
dd_code dd_resource_find(dd_store *st, int64_t experiment_id, const char *name,
                         int64_t *id_out, dd_err *err);
typedef int (*dd_resource_cb)(void *ctx, const dd_resource *row);
dd_code dd_resource_list(dd_store *st, int64_t experiment_id, dd_resource_cb cb, void *ctx,
                         dd_err *err);
/* Copy up to `len` bytes of an inline resource (legacy resource.data or chunked, as
 * written by artifacts.h) from `offset` into `buf`; *got_out is the count (0 at or past
 * the end). DD_INVALID for a non-inline resource. */
dd_code dd_resource_read_inline(dd_store *st, int64_t id, int64_t offset, void *buf,
                                size_t len, size_t *got_out, dd_err *err);
dd_code dd_resource_rename(dd_store *st, int64_t id, const char *name, dd_err *err);
dd_code dd_resource_set_description(dd_store *st, int64_t id, const char *description,
                                    dd_err *err);
/* Delete the row; its external bytes or inline chunk set are queued in artifact_trash in
 * the same transaction (dd_artifacts_gc removes them). DD_IN_USE when a model version
 * references it. */
dd_code dd_resource_delete(dd_store *st, int64_t id, dd_err *err);
/* DD_IN_USE when a model version uses the resource (its bytes are then immutable),
 * DD_NOT_FOUND when there is no such resource, DD_OK otherwise. */
dd_code dd_resource_check_replaceable(dd_store *st, int64_t id, dd_err *err);
void dd_resource_clear(dd_resource *r);

/* Artifact bytes waiting for removal after their row went away (or were replaced). An
 * inline chunk set shows as backend "inline", uri "chunks:<set id>". */
typedef int (*dd_trash_cb)(void *ctx, int64_t id, const char *backend, const char *uri);
dd_code dd_trash_list(dd_store *st, dd_trash_cb cb, void *ctx, dd_err *err);
dd_code dd_trash_forget(dd_store *st, int64_t id, dd_err *err);

/* ---------------------------------------------------------------- tags */

typedef enum dd_tag_kind {
    DD_TAG_PROJECT = 1,
    DD_TAG_EXPERIMENT = 2,
    DD_TAG_ITERATION = 3,
} dd_tag_kind;

/* Attach `value` to the entity (the tag is created when new). DD_NOT_FOUND for an unknown
 * entity, DD_CONFLICT when already attached, DD_READ_ONLY for an ended iteration.
 * The value is a name (dd_name_check). *link_id_out (may be NULL) is the association id. */
dd_code dd_tag_attach(dd_store *st, dd_tag_kind kind, int64_t entity_id, const char *value,
                      int64_t *link_id_out, dd_err *err);
/* Detach; DD_NOT_FOUND when not attached. */
dd_code dd_tag_detach(dd_store *st, dd_tag_kind kind, int64_t entity_id, const char *value,
                      dd_err *err);
/* An attachment by its link id: the tagged entity and the tag value (malloc'd). */
dd_code dd_tag_link_get(dd_store *st, dd_tag_kind kind, int64_t link_id, int64_t *entity_id_out,
                        char **value_out, dd_err *err);
/* The link id of `value` on the entity; DD_NOT_FOUND when not attached. */
dd_code dd_tag_link_find(dd_store *st, dd_tag_kind kind, int64_t entity_id, const char *value,
                         int64_t *link_id_out, dd_err *err);
/* tag_id is the link id (the attachment's identity), not the shared tag's id. */
typedef int (*dd_tag_cb)(void *ctx, int64_t tag_id, const char *value);
/* Tags of an entity in attachment order; the callback gets each link id. */
dd_code dd_tag_list(dd_store *st, dd_tag_kind kind, int64_t entity_id, dd_tag_cb cb, void *ctx,
                    dd_err *err);
/* Delete a tag and every attachment of it (the original's documented, unimplemented,
 * behaviour). Deleting an unknown tag is DD_NOT_FOUND. */
dd_code dd_tag_delete(dd_store *st, const char *value, dd_err *err);

/* Tags by their own id (tag_ids.c; the REST API's): the value (malloc'd), the id of a
 * value, and deleting a tag only when nothing has it attached (DD_IN_USE otherwise,
 * DD_NOT_FOUND for an unknown id). */
dd_code dd_tag_get(dd_store *st, int64_t id, char **value_out, dd_err *err);
dd_code dd_tag_id(dd_store *st, const char *value, int64_t *id_out, dd_err *err);
dd_code dd_tag_delete_unused(dd_store *st, int64_t id, dd_err *err);

/* May the project, experiment or iteration (named by its tag kind) be removed with
 * everything in it, as `rm -r` does? DD_OK, DD_NOT_FOUND, or DD_IN_USE when a model version
 * still needs something in it -- for a project, when it holds registered model versions
 * at all (delete the models first: serving code may be reading them). Nothing changes. */
dd_code dd_delete_check(dd_store *st, dd_tag_kind kind, int64_t id, dd_err *err);

/* ---------------------------------------------------------------- models */

typedef struct dd_model {
    int64_t id;
    int64_t project_id;
    char *name;
    char *description;
    char created_date[DD_TS_LEN];
    char updated_date[DD_TS_LEN];
    int64_t last_version;
} dd_model;

/* Model names are unique in the whole registry (DD_CONFLICT). */
dd_code dd_model_create(dd_store *st, int64_t project_id, const char *name,
                        const char *description, int64_t *id_out, dd_err *err);
dd_code dd_model_get(dd_store *st, int64_t id, dd_model *out, dd_err *err);
dd_code dd_model_find(dd_store *st, const char *name, int64_t *id_out, dd_err *err);
typedef int (*dd_model_cb)(void *ctx, const dd_model *row);
/* project_id 0 lists every model. In id order. */
dd_code dd_model_list(dd_store *st, int64_t project_id, dd_model_cb cb, void *ctx, dd_err *err);
typedef int (*dd_model_project_cb)(void *ctx, const dd_model *row, const char *project_name);
/* Every model with the name of its project (what /models/<m> links to), in id order, in
 * one statement. Row and name are valid during the callback only. */
dd_code dd_model_list_with_project(dd_store *st, dd_model_project_cb cb, void *ctx,
                                   dd_err *err);
/* The model called `name`, handed to `cb` as dd_model_list_with_project does (one
 * statement); DD_NOT_FOUND when there is none. */
dd_code dd_model_find_with_project(dd_store *st, const char *name, dd_model_project_cb cb,
                                   void *ctx, dd_err *err);
dd_code dd_model_rename(dd_store *st, int64_t id, const char *name, dd_err *err);
dd_code dd_model_set_description(dd_store *st, int64_t id, const char *description,
                                 dd_err *err);
/* Delete the model with its versions, aliases and stage history; resources are kept. */
dd_code dd_model_delete(dd_store *st, int64_t id, dd_err *err);
void dd_model_clear(dd_model *m);

typedef struct dd_model_version {
    int64_t id;
    int64_t model_id;
    int64_t version;
    int64_t iteration_id;
    int64_t resource_id;     /* 0 when none */
    int stage_id;
    char *description;
    char created_date[DD_TS_LEN];
    char updated_date[DD_TS_LEN];
} dd_model_version;

/* Register a version: number = the model's last number + 1, assigned in this transaction
 * and never reused. Starts NO_STAGE. The iteration (and the resource, when non-zero)
 * must exist (DD_NOT_FOUND) and belong to the model's project (DD_INVALID).
 * *version_out (may be NULL) receives the number. */
dd_code dd_version_create(dd_store *st, int64_t model_id, int64_t iteration_id,
                          int64_t resource_id, const char *description, int64_t *id_out,
                          int64_t *version_out, dd_err *err);
/* dd_version_create by DearDiary user `user_id` (0: not known), whom the version's first
 * stage change (none -> NO_STAGE, same transaction) names. */
dd_code dd_version_create_as(dd_store *st, int64_t model_id, int64_t iteration_id,
                             int64_t resource_id, const char *description, int64_t user_id,
                             int64_t *id_out, int64_t *version_out, dd_err *err);
dd_code dd_version_get(dd_store *st, int64_t id, dd_model_version *out, dd_err *err);
dd_code dd_version_find(dd_store *st, int64_t model_id, int64_t version, int64_t *id_out,
                        dd_err *err);
/* The version of the model in `stage`; DD_NOT_FOUND when none. For STAGING, several may
 * exist: the highest version number is returned. */
dd_code dd_version_find_stage(dd_store *st, int64_t model_id, int stage, int64_t *id_out,
                              dd_err *err);
typedef int (*dd_version_cb)(void *ctx, const dd_model_version *row);
/* In version order. */
dd_code dd_version_list(dd_store *st, int64_t model_id, dd_version_cb cb, void *ctx,
                        dd_err *err);
/* Any transition is allowed. PRODUCTION archives the incumbent in the same transaction,
 * so a model never has two PRODUCTION versions, not even for a moment. The change (and
 * the incumbent's, PRODUCTION -> ARCHIVED) is recorded in the model's stage history in
 * that transaction; setting the stage a version already has changes nothing there. */
dd_code dd_version_set_stage(dd_store *st, int64_t id, int stage, dd_err *err);
/* dd_version_set_stage by DearDiary user `user_id` (0: not known), whom the recorded
 * changes name. */
dd_code dd_version_set_stage_as(dd_store *st, int64_t id, int stage, int64_t user_id,
                                dd_err *err);
dd_code dd_version_set_description(dd_store *st, int64_t id, const char *description,
                                   dd_err *err);
/* resource_id 0 clears the link (the original could not). */
dd_code dd_version_set_resource(dd_store *st, int64_t id, int64_t resource_id, dd_err *err);
/* Delete the version, its aliases and its stage history; the resource is kept; its number
 * is not reused. */
dd_code dd_version_delete(dd_store *st, int64_t id, dd_err *err);
void dd_version_clear(dd_model_version *v);

/* One stage change of a model version (issue 17's "history of stage changes"). */
typedef struct dd_stage_change {
    int64_t id;              /* increasing: a later change of a model has a higher id */
    int64_t model_id;
    int64_t version_id;      /* the model_version row */
    int64_t version;         /* its number */
    int from_stage;          /* 0: the version was registered in to_stage */
    int to_stage;
    char changed_at[DD_TS_LEN];
    int64_t user_id;         /* 0: not known (no auth, a single-user mount, a deleted user) */
    const char *username;    /* NULL when user_id is 0; valid during the callback only */
} dd_stage_change;
typedef int (*dd_stage_change_cb)(void *ctx, const dd_stage_change *row);
#define DD_STAGE_HISTORY_MAX 1000   /* most rows one call hands out */
/* A model's stage changes, newest first: at most `limit` of them (clamped to 1..
 * DD_STAGE_HISTORY_MAX) after skipping the `offset` newest; *total_out (may be NULL) is
 * how many the model has in all, from the same snapshot. DD_NOT_FOUND for an unknown
 * model. */
dd_code dd_stage_history(dd_store *st, int64_t model_id, int64_t limit, int64_t offset,
                         dd_stage_change_cb cb, void *ctx, int64_t *total_out, dd_err *err);

/* Aliases: `alias` is a name; setting an existing alias moves it (keeping its id). Each
 * alias has its own row id (never reused), which the filesystem uses as its inode. */
dd_code dd_alias_set(dd_store *st, int64_t model_id, const char *alias, int64_t version_id,
                     dd_err *err);
dd_code dd_alias_get(dd_store *st, int64_t model_id, const char *alias, int64_t *version_id_out,
                     dd_err *err);
/* The alias's row id. */
dd_code dd_alias_find(dd_store *st, int64_t model_id, const char *alias, int64_t *id_out,
                      dd_err *err);
/* The model and version of the alias with row id `id` (either out may be NULL). */
dd_code dd_alias_by_id(dd_store *st, int64_t id, int64_t *model_id_out,
                       int64_t *version_id_out, dd_err *err);
typedef int (*dd_alias_cb)(void *ctx, int64_t id, const char *alias, int64_t version_id,
                           int64_t version);
dd_code dd_alias_list(dd_store *st, int64_t model_id, dd_alias_cb cb, void *ctx, dd_err *err);
dd_code dd_alias_delete(dd_store *st, int64_t model_id, const char *alias, dd_err *err);
/* rename(2) of an alias, in one transaction: `from` takes the name `to` (keeping its id
 * and version), replacing an alias already called `to`. DD_NOT_FOUND without `from`. */
dd_code dd_alias_rename(dd_store *st, int64_t model_id, const char *from, const char *to,
                        dd_err *err);

#ifdef __cplusplus
}
#endif

#endif /* DD_STORE_H */
