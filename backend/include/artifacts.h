/*
 * artifacts.h - artifact bytes: streaming uploads that become resources atomically, and
 * reads that dispatch on each resource row's own backend.
 *
 * Backends: "inline" (bytes in the SQLite file, in chunks read and written with
 * incremental blob I/O: SQLite caps one blob below 1 GiB), "filesystem" (a directory,
 * <root>/<aa>/<uuid>; names never become paths) and "s3" (an S3-compatible bucket, keys
 * <aa>/<uuid>, path-style, libcurl's SigV4; multipart above a threshold; art_s3.c). New
 * uploads go to the configured default backend; reads and deletes use the backend
 * recorded in the row, so a database may mix backends. dd_artifacts_migrate moves rows
 * between backends.
 *
 * "auto" (the command's default, not a place of its own): an upload starts inline and,
 * when it grows past inline_max bytes, moves to the filesystem backend under the auto
 * root (auto_root, else <database file>.artifacts beside an SQLite file, created 0700 at
 * the first move). The bytes written so far are copied over and the inline ones deleted
 * at once; the row then says "filesystem" and the file's uri, exactly as an upload to an
 * explicit filesystem backend would, so reads, replace, delete, gc, fsck and migration
 * need nothing of their own. A store with no file (a URI locator such as postgresql://)
 * and no auto_root keeps every artifact inline.
 *
 * Inline chunks are 1 MiB each (fixed; the last one holds the rest), one chunk per short
 * write transaction, so a long upload never holds the write lock and other writers (metric
 * appends) keep going. Rows written by dd_resource_create_inline keep their bytes in the
 * resource.data column and read through this API like any other. See
 * schema/002_artifact_chunks.sql.
 *
 * Atomicity: an upload's bytes are staged where no reader can see them; dd_upload_commit
 * verifies them and creates (or replaces) the resource row in one transaction. Until then
 * the resource does not exist; an interrupted upload leaves staged bytes that
 * dd_artifacts_gc removes at the next start. Bytes of deleted or replaced resources are
 * queued in artifact_trash by the deleting transaction and, while a dd_artifacts is open
 * over the store, freed as soon as it commits (db.h, the trash hook): files and inline
 * chunk sets no reader of this process holds at once, held sets at their last reader's
 * dd_artifact_close. s3 objects, and whatever a failure left, wait for dd_artifacts_gc.
 *
 * Memory: bytes stream in both directions; nothing holds a whole artifact (an inline
 * upload buffers at most one chunk). The sha256 is computed while streaming (OpenSSL EVP).
 *
 * Threads: a dd_artifacts is shared; each dd_upload and dd_artifact_reader is used by one
 * thread at a time (any thread: each call uses the calling thread's store connection and
 * keeps no SQLite handle or transaction open between calls). Free every upload and reader
 * before dd_artifacts_close, and that before dd_store_close.
 */
#ifndef DD_ARTIFACTS_H
#define DD_ARTIFACTS_H

#include "store.h"
#include <sys/uio.h>

typedef struct dd_artifacts dd_artifacts;

typedef struct dd_artifacts_config {
    /* default for new uploads: "inline" (NULL), "filesystem", "s3", or "auto" */
    const char *backend;
    const char *fs_root;   /* filesystem backend root; created when absent */
    /* "auto": artifacts larger than inline_max bytes (>= 0) go to files under auto_root
     * (NULL or "": <database file>.artifacts; for a store without a file, the registry's
     * recorded root when it holds the registry's marker, else none: see below) */
    int64_t inline_max;
    const char *auto_root;
    /* s3: endpoint and bucket given (with any default backend) make s3 rows readable */
    const char *s3_endpoint;        /* http(s)://host[:port] */
    const char *s3_bucket;
    const char *s3_region;          /* NULL or "": us-east-1 */
    const char *s3_access_key;
    const char *s3_secret_key;
    int64_t s3_multipart_threshold; /* 0: 2 GiB */
    int64_t s3_part_size;           /* 0: 16 MiB; at least 5 MiB */
    const char *s3_spool_dir;       /* uploads below the threshold; NULL or "": $TMPDIR, /var/tmp */
} dd_artifacts_config;

/* The artifact stores over an open store (not owned). DD_INVALID for an unknown backend,
 * "filesystem" without fs_root, or an unusable fs_root, "s3" without endpoint or bucket
 * (message says why). fs_root may be given with another default: it is then where
 * dd_artifacts_gc looks for staged files. Reading needs no root: a filesystem row's uri
 * names its file; an s3 row's uri names bucket and key, the endpoint is the configured
 * one. Opening contacts no s3 service (an unreachable one fails the first upload). */
dd_code dd_artifacts_open(dd_store *st, const dd_artifacts_config *cfg, dd_artifacts **out,
                          dd_err *err);
void dd_artifacts_close(dd_artifacts *a);
/* The store the artifact stores were opened over, and the filesystem backend's absolute
 * root (NULL when none is configured). */
dd_store *dd_artifacts_store(const dd_artifacts *a);
const char *dd_artifacts_fs_root(const dd_artifacts *a);
/* "auto": the absolute directory large artifacts move to (it may not exist yet), NULL
 * when they stay inline (another backend, or a store without a file and no auto_root). */
const char *dd_artifacts_auto_root(const dd_artifacts *a);
/* Is `root` (a filesystem root some row's file lives under) reachable from this process?
 * False, with the reason in `why`, when the directory is absent (or no directory), or
 * when it is the registry's recorded root (below) without this registry's marker. fsck
 * checks and repairs nothing under an unreachable root, gc leaves its files queued, and
 * a read's error names it. */
bool dd_artifacts_root_reachable(const dd_artifacts *a, const char *root, char *why,
                                 size_t why_len);
/* The registry's recorded root (NULL when none) and, when it is not used by this process,
 * why ("" when it is). */
const char *dd_artifacts_recorded(const dd_artifacts *a, const char **why_unused);

/* ------------------------------------------------------------ the recorded root
 *
 * A registry may record where "auto" puts its large artifacts (registry.artifact_root,
 * schema 015; art_root.c): `deardiary init postgresql://...` records the configured
 * artifacts.filesystem.root, else dd_artifacts_default_root, and writes the marker file
 * `.deardiary-registry` (the registry's uuid) into it. dd_artifacts_open with "auto" and no
 * auto_root, over a store that is no file, uses the recorded root only when that marker
 * holds this registry's uuid (dd_artifacts_root_marked); otherwise every artifact stays
 * inline there, with one syslog line naming the root and why. A SQLite file records
 * nothing (its root is beside it). */

/* *out: the recorded root (malloc'd), NULL when none (or the schema predates 015). */
dd_code dd_artifacts_recorded_root(dd_store *st, char **out, dd_err *err);
/* *out: $XDG_DATA_HOME/deardiary/artifacts/<registry uuid>, else under
 * $HOME/.local/share (malloc'd; not created). */
dd_code dd_artifacts_default_root(dd_store *st, char **out, dd_err *err);
/* Does `root` hold this registry's marker? false with the reason in `why` otherwise. */
bool dd_artifacts_root_marked(dd_store *st, const char *root, char *why, size_t why_len);
/* Record `root` unless a root is recorded already: create it (mode 0700, parents too),
 * write its marker (DD_CONFLICT when it holds another registry's) and set the row. *out:
 * the root now recorded (malloc'd), absolute: `root` resolved, or the one recorded before
 * (the caller compares). */
dd_code dd_artifacts_record_root(dd_store *st, const char *root, char **out, dd_err *err);

/* After dd_migrate_db_copy gave DST the uuid of SRC (both stores still open, DST's
 * holding its former uuid): the marker of DST's recorded root, when it held DST's former
 * uuid, now holds SRC's, so DST keeps using its root. Nothing else is touched. */
dd_code dd_artifacts_root_follow_uuid(dd_store *src, dd_store *dst, dd_err *err);

/* True for a dd_artifacts made by dd_artifacts_wrap (artifacts_ops.h). */
bool dd_artifacts_wrapped(const dd_artifacts *a);

/* ------------------------------------------------------------------ writing */

typedef struct dd_upload dd_upload;

/* Start new bytes in the default backend ("auto": inline, moving to a file past
 * inline_max). s3: the bucket is asked first, so a missing bucket, wrong credentials or
 * an unreachable endpoint fail here (DD_IO, the S3 error code and message in err). */
dd_code dd_upload_begin(dd_artifacts *a, dd_upload **out, dd_err *err);
/* What an upload will become, when that is known as it begins (the filesystem knows it
 * at open): the arguments its dd_upload_commit will be given. */
typedef struct dd_upload_target {
    int64_t experiment_id;
    const char *name;
    bool replace;
} dd_upload_target;
/* dd_upload_begin for `t` (the commit must then name the same experiment and name, or
 * fails with DD_INVALID). A local store ignores it; a wrapped one (a remote mount,
 * artifacts_ops.h) needs it to start sending the bytes to the server at once. */
dd_code dd_upload_begin_for(dd_artifacts *a, const dd_upload_target *t, dd_upload **out,
                            dd_err *err);
/* Append bytes; uploads are sequential. After a failed write the upload is broken:
 * further writes and the commit fail with DD_IO. "auto": the write that takes the upload
 * past inline_max first moves it to a file (an unusable auto root fails that write). */
dd_code dd_upload_write(dd_upload *u, const void *data, size_t len, dd_err *err);
/* Bytes written so far. */
int64_t dd_upload_size(const dd_upload *u);
/* Finish and, in one transaction, create the resource `name` in the experiment, or with
 * `replace` true, replace the bytes of the existing resource of that name (readers see the
 * old bytes or the new, never a mix; the old bytes are queued for removal). Errors: those
 * of dd_resource_create_* (DD_CONFLICT when the name is taken and !replace, DD_INVALID
 * when the experiment is not IN_PROGRESS, DD_NOT_FOUND for an unknown experiment,
 * DD_INVALID/DD_TOO_LONG for a bad name); DD_IN_USE when replacing bytes a model version
 * uses (artifacts are immutable once registered). On success or failure the upload is
 * finished: call dd_upload_free next. On failure nothing is visible.
 * Replace keeps the row (same id, so model-version links stay; created_date kept,
 * updated_date set) and creates the resource when the name is free (like O_CREAT|O_TRUNC).
 * Decision: replace also requires an IN_PROGRESS experiment (the original did not check on
 * update): a stopped or finished experiment is a record, and its artifacts change only
 * after it is reopened. */
dd_code dd_upload_commit(dd_upload *u, int64_t experiment_id, const char *name, bool replace,
                         int64_t *id_out, dd_err *err);
/* Free the upload; staged bytes of an upload that was not committed are discarded: a
 * staged file at once, staged inline chunks by queueing them in artifact_trash (deleting
 * a large set takes many short transactions, which dd_artifacts_gc does). NULL is fine. */
void dd_upload_free(dd_upload *u);

/* ------------------------------------------------------------------ reading */

typedef struct dd_artifact_reader dd_artifact_reader;

/* Open the bytes of resource `resource_id` from the backend its row names. DD_NOT_FOUND
 * for an unknown resource; DD_IO when the bytes are missing or of the wrong size, or the
 * row is in s3 and no s3 service is configured.
 * A reader keeps the bytes it opened even if the resource is replaced or deleted meanwhile
 * (a file stays readable through its open fd; gc in this process leaves an open inline
 * chunk set alone until the reader closes). Exceptions, which get DD_IO and never mixed
 * bytes: a legacy row (dd_resource_create_inline) replaced or deleted under the reader,
 * and inline bytes removed by gc run in another process. */
dd_code dd_artifact_open(dd_artifacts *a, int64_t resource_id, dd_artifact_reader **out,
                         dd_err *err);
/* The bytes of a registered model version's artifact (immutable while registered): as
 * dd_artifact_open, except that a wrapped store (a remote mount, artifacts_ops.h) may
 * serve them from its node cache. */
dd_code dd_artifact_open_version(dd_artifacts *a, int64_t resource_id,
                                 dd_artifact_reader **out, dd_err *err);
/* A resource marked broken by `deardiary fsck --repair` (schema/004_resource_broken.sql)
 * gets DD_IO from dd_artifact_open; dd_artifact_open_any opens it anyway, for fsck to
 * check whether its bytes came back. */
dd_code dd_artifact_open_any(dd_artifacts *a, int64_t resource_id, dd_artifact_reader **out,
                             dd_err *err);
/* Copy up to `len` bytes at `off`: exactly `len` unless the end comes first; *got is 0 at
 * or past the end. DD_INVALID for a negative offset. */
dd_code dd_artifact_pread(dd_artifact_reader *r, int64_t off, void *buf, size_t len,
                          size_t *got, dd_err *err);
/* Where dd_artifact_pread_with hands bytes over: `n` (0 to 2) runs, in order, valid only
 * until take returns. */
typedef void (*dd_artifact_take)(void *ctx, const struct iovec *iov, int n);
/* The bytes dd_artifact_pread would copy (up to `len` at `off`; none at or past the end),
 * handed to `take` as runs of the reader's own memory instead: one copy fewer, for readers
 * that keep the bytes in a buffer of their own (a remote mount's stream). `take` is called
 * once on DD_OK, never on an error. DD_UNSUPPORTED, with nothing taken and no error text,
 * when this reader cannot do it for this read: use dd_artifact_pread. */
dd_code dd_artifact_pread_with(dd_artifact_reader *r, int64_t off, size_t len,
                               dd_artifact_take take, void *ctx, dd_err *err);
int64_t dd_artifact_size(const dd_artifact_reader *r);
void dd_artifact_close(dd_artifact_reader *r);

/* ------------------------------------------------------------------ upkeep */

/* Remove the bytes queued in artifact_trash and the staged bytes of uploads that never
 * committed (a crash mid-copy). Safe to run while the filesystem is mounted: uploads in
 * progress in this process are not touched. *removed_out (may be NULL) counts items.
 * In detail, one item each:
 *   - a trash row: its file removed (a missing file is fine) or its chunk set deleted, a
 *     few chunks per transaction, then the row forgotten. A filesystem uri that is not
 *     <dir>/<aa>/<uuid> (not made by this backend) is forgotten without touching the file;
 *     an s3 object is deleted when it is in the configured bucket; other s3 rows (another
 *     bucket, or no s3 configured) stay queued. Chunk sets open by a reader of this
 *     process wait for a later run.
 *   - an inline upload whose process is gone (pid and start time, from /proc) or, in this
 *     process, that no live dd_upload owns; uploads of other live processes are left alone.
 *   - a staged file under <fs_root>/.staging that no live upload (of any process) holds
 *     locked (flock), with its final name too unless a committed row uses it.
 *   - a chunk set nothing refers to.
 * It goes on past a failed item and returns the first failure. */
dd_code dd_artifacts_gc(dd_artifacts *a, int64_t *removed_out, dd_err *err);

/* ------------------------------------------------------------------ migration */

typedef struct dd_migrate_stats {
    int64_t rows;           /* resource rows seen */
    int64_t moved;          /* switched to the target backend */
    int64_t skipped;        /* already there, or changed by someone else while copying */
    int64_t failed;         /* kept their old backend (see the failure callback) */
    int64_t bytes_total;    /* bytes of the rows to move */
    int64_t bytes_done;     /* bytes copied so far */
} dd_migrate_stats;

typedef struct dd_migrate_hooks {
    /* after each chunk copied and each row finished; may be NULL */
    void (*progress)(void *ctx, const dd_migrate_stats *s);
    /* a row that failed and keeps its backend; may be NULL */
    void (*failure)(void *ctx, int64_t resource_id, const char *name, const dd_err *err);
    void *ctx;
    bool keep_old;          /* leave the old bytes in artifact_trash for the next gc */
} dd_migrate_hooks;

/*
 * Move every resource row's bytes to backend `to` ("inline", "filesystem", "s3"), on a
 * live database (other processes may read, write and mount it meanwhile). Idempotent and
 * restartable: rows already in `to` are skipped, and an interrupted run leaves every row
 * on one backend or the other, never neither. For each row: stream its bytes into `to`,
 * read them back from `to` and check their sha256 against the row's content_hash, then
 * switch the row in one transaction (only if it still names the bytes that were copied;
 * a row replaced or deleted meanwhile is skipped and the copy discarded). The old bytes
 * are queued in artifact_trash by that transaction and, unless keep_old, removed right
 * after it commits. A row that fails keeps its backend and the run goes on.
 * DD_INVALID for an unknown or unconfigured `to`; DD_OK otherwise (see out->failed).
 */
dd_code dd_artifacts_migrate(dd_artifacts *a, const char *to, const dd_migrate_hooks *hooks,
                             dd_migrate_stats *out, dd_err *err);

#endif /* DD_ARTIFACTS_H */
