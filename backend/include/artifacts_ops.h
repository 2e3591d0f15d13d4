/*
 * artifacts_ops.h - the artifact stores as a table of operations (docs/REMOTE.md §1.2,
 * §8): a second implementation of the calls the filesystem makes on a dd_artifacts (the
 * remote mount's, remote/rstore_artifacts.c), behind the same artifacts.h functions.
 *
 * dd_artifacts_wrap makes a dd_artifacts whose uploads and readers are the table's: each
 * public function of artifacts.h that the filesystem calls (upload begin/write/size/
 * commit/free, open/pread/pread_with/size/close) passes the implementation's own handle to the
 * entry; dd_upload_size and dd_artifact_size are kept by artifacts.c (counted writes, the
 * size an open answers). Everything else of artifacts.h (gc, migration, fs_root,
 * open_any) is for a local store: on a wrapped one gc and migration answer
 * DD_UNSUPPORTED and change nothing, the roots are NULL.
 *
 * The entries keep artifacts.h's contracts (atomic commit, a reader's snapshot where the
 * implementation can give one: rstore_artifacts.c says where it cannot).
 */
#ifndef DD_ARTIFACTS_OPS_H
#define DD_ARTIFACTS_OPS_H

#include "artifacts.h"

typedef struct dd_artifacts_ops {
    const char *name;   /* "remote": named in messages */
    /* dd_artifacts_close: free `impl` (every upload and reader is freed before). */
    void (*close)(void *impl);
    /* `t`: what the upload becomes (NULL when the caller used dd_upload_begin) */
    dd_code (*upload_begin)(void *impl, const dd_upload_target *t, void **up, dd_err *err);
    dd_code (*upload_write)(void *up, const void *data, size_t len, dd_err *err);
    dd_code (*upload_commit)(void *up, int64_t experiment_id, const char *name, bool replace,
                             int64_t *id_out, dd_err *err);
    void (*upload_free)(void *up);
    /* `version`: the bytes of a registered model version (immutable while registered),
     * which an implementation may serve from a cache; *size_out is the reader's size */
    dd_code (*open)(void *impl, int64_t resource_id, bool version, void **rd,
                    int64_t *size_out, dd_err *err);
    dd_code (*pread)(void *rd, int64_t off, void *buf, size_t len, size_t *got, dd_err *err);
    /* dd_artifact_pread_with (off >= 0); NULL: DD_UNSUPPORTED for every read */
    dd_code (*pread_with)(void *rd, int64_t off, size_t len, dd_artifact_take take,
                          void *ctx, dd_err *err);
    void (*close_reader)(void *rd);
} dd_artifacts_ops;

/* A dd_artifacts over `st` (not owned) whose calls go to `ops` with `impl` (owned: freed
 * by dd_artifacts_close through ops->close, also when this fails). */
dd_code dd_artifacts_wrap(dd_store *st, const dd_artifacts_ops *ops, void *impl,
                          dd_artifacts **out, dd_err *err);

#endif /* DD_ARTIFACTS_OPS_H */
