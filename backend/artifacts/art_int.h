/*
 * art_int.h - private interface between the artifact dispatcher (artifacts.c) and its
 * backends: art_inline.c (chunk sets in SQLite), art_fs.c (files under a root
 * directory) and art_s3.c + art_s3_read.c (objects in an S3-compatible bucket). Nothing outside backend/ includes this; the public API is artifacts.h.
 */
#ifndef DD_ART_INT_H
#define DD_ART_INT_H

#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "artifacts.h"
#include "db.h"

/* Every inline chunk holds exactly this many bytes except the last of a set (fixed: a
 * reader finds byte `off` in chunk off / ART_CHUNK; schema/002_artifact_chunks.sql). */
#define ART_CHUNK ((size_t)1 << 20)

/* ---------------------------------------------------------------- the hasher (art_hasher.c) */

/* An upload's sha256, fed by a thread that reads the upload's file back behind its one
 * writer thread (the file must be open for reading). Used by the filesystem uploads
 * (artifacts.c) and the s3 spool (art_s3_spool.c). */
typedef struct art_hasher {
    int fd;
    EVP_MD_CTX *md;             /* the caller's; the hasher's until finished or stopped */
    pthread_t thread;
    bool running;               /* started and not joined */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* under mu */
    int64_t written, hashed;
    bool stop;                  /* no more writes: hash the rest and end */
    bool quit;                  /* not wanted any more: end now */
    int read_errno;             /* the file could not be read back (the hasher ended) */
} art_hasher;

/* Start hashing the file from byte `from` (the bytes before it are in `md` already).
 * false when no thread could be started. */
bool art_hasher_start(art_hasher *h, int fd, EVP_MD_CTX *md, int64_t from);
/* The file now holds `written` bytes (from offset 0). */
void art_hasher_wrote(art_hasher *h, int64_t written);
/* After the last write: wait until every byte is in the digest (the caller's again).
 * 0, or the errno of the failed read back. */
int art_hasher_finish(art_hasher *h);
/* End at once (the digest is not wanted); after art_hasher_finish, nothing. */
void art_hasher_stop(art_hasher *h);
/* pread exactly `len` bytes at `off`: 0, or the errno (EIO for a file too short). */
int art_read_full(int fd, unsigned char *buf, size_t len, int64_t off);

/* ---------------------------------------------------------------- inline (art_inline.c) */

/* An inline upload in progress: its chunk set and the bytes not yet flushed. */
typedef struct art_inline_up {
    int64_t set_id;
    int64_t token;          /* this upload's entry in the process registry */
    unsigned char *buf;     /* the pending tail, < ART_CHUNK bytes after each write */
    size_t len, cap;
    int64_t next_seq;
    bool registered;
} art_inline_up;

/* Register the upload and record it in artifact_upload (one short transaction). */
dd_code art_inline_begin(dd_store *st, art_inline_up *u, dd_err *err);
/* Append: every full chunk is inserted in its own short write transaction. */
dd_code art_inline_write(dd_store *st, art_inline_up *u, const void *data, size_t len,
                         dd_err *err);
/* Insert the last, partial chunk (before the commit transaction). */
dd_code art_inline_flush(dd_store *st, art_inline_up *u, dd_err *err);
/* Inside the commit transaction: check that the staged chunks hold exactly `size` bytes
 * and take the set out of artifact_upload (the caller links it to the resource). */
dd_code art_inline_claim(dd_conn *c, const art_inline_up *u, int64_t size, dd_err *err);
/* After a successful commit: forget the upload. */
void art_inline_done(art_inline_up *u);
/* An upload that did not commit: its set goes to artifact_trash (removed by gc), its
 * artifact_upload row away. Best effort: what fails here is found by gc later. */
void art_inline_abandon(dd_store *st, art_inline_up *u);

/* An upload that moved to another backend (artifacts.c, "auto"): delete its chunks and
 * its artifact_upload row now, a few chunks per transaction; on failure they are queued
 * in artifact_trash as art_inline_abandon does. Forgets the upload either way. */
void art_inline_discard(dd_store *st, art_inline_up *u);

/* Readers hold the chunk sets they read so that gc in this process leaves them alone.
 * false when out of memory. */
bool art_inline_hold(int64_t set_id);
void art_inline_release(int64_t set_id);

/* Copy up to `len` bytes at `off` of the chunk set (`size` bytes in all); one blob handle,
 * reopened chunk to chunk, within this call. */
dd_code art_inline_pread(dd_conn *c, int64_t set_id, int64_t size, int64_t off, void *buf,
                         size_t len, size_t *got, dd_err *err);
/* The same for a legacy row's resource.data. `expect` >= 0: the blob must be that long
 * (else the bytes were replaced under the reader: DD_IO). */
dd_code art_legacy_pread(dd_conn *c, int64_t resource_id, int64_t expect, int64_t off,
                         void *buf, size_t len, size_t *got, dd_err *err);

/* gc: delete a trashed chunk set (short transactions) and its trash row; false in *done
 * when a reader of this process still holds it (left for a later gc). */
dd_code art_inline_remove_trashed(dd_store *st, int64_t trash_id, int64_t set_id, bool *done,
                                  dd_err *err);
/* gc: uploads whose owner is gone (dead process, or this process without a live upload of
 * that token), and chunk sets nothing refers to. Adds to *removed. */
dd_code art_inline_gc(dd_store *st, int64_t *removed, dd_err *err);

/* ---------------------------------------------------------------- filesystem (art_fs.c) */

/* A filesystem upload: <root>/.staging/<uuid>, locked (flock) while the upload lives. */
typedef struct art_fs_up {
    int fd;
    int64_t written;        /* bytes written so far */
    int64_t flushing;       /* writeback started for bytes below this (art_fs_write) */
    char uuid[37];
    char *staging;          /* <root>/.staging/<node>-<uuid> */
    char *final;            /* <root>/<aa>/<uuid> */
    bool published;         /* `final` exists */
    bool staging_gone;      /* `staging` was renamed (no hard links) or removed */
} art_fs_up;

/* mkdir -p `path`, each missing directory made with `mode`: 0, or -1 with errno. */
int art_make_dirs(const char *path, mode_t mode);
/* Make `root` usable (created when absent, with .staging); *abs_out is its absolute path
 * (malloc'd). DD_INVALID with the reason otherwise. */
dd_code art_fs_prepare_root(const char *root, char **abs_out, dd_err *err);
/* Start an upload staged as <root>/.staging/<node>-<uuid> (node: this process's node of
 * `st`, node.h), locked with flock while it lives. */
dd_code art_fs_begin(dd_store *st, const char *root, art_fs_up *u, dd_err *err);
dd_code art_fs_write(art_fs_up *u, const void *data, size_t len, dd_err *err);
/* fsync the staged file (which must hold `size` bytes) and link it at its final name. */
dd_code art_fs_publish(const char *root, art_fs_up *u, int64_t size, dd_err *err);
/* After the commit: drop the staging name and the lock. */
void art_fs_done(art_fs_up *u);
/* Not committed: remove whatever this upload created. */
void art_fs_abandon(art_fs_up *u);

/* Open the file behind a "file://" uri for reading; DD_NOT_FOUND when it is missing, DD_IO
 * when its size is not `size`. */
dd_code art_fs_open(const char *uri, int64_t size, int *fd_out, dd_err *err);
dd_code art_fs_pread(int fd, int64_t size, int64_t off, void *buf, size_t len, size_t *got,
                     dd_err *err);
/* Remove the file of a trashed uri (a missing file is fine). Only files this backend
 * names (<dir>/<aa>/<uuid v4>) are removed; any other uri is left alone (*removed false). */
dd_code art_fs_remove_uri(const char *uri, bool *removed, dd_err *err);
/* gc: staged files under <root>/.staging that no live upload (of any process) holds. */
dd_code art_fs_gc_staging(dd_store *st, const char *root, int64_t *removed, dd_err *err);

/* ---------------------------------------------------------------- fsck (fsck.c) */

/* What a backend's fsck functions report: one orphan (bytes no row, upload or trash entry
 * refers to), described for people. */
typedef void (*art_orphan_fn)(void *ctx, const char *what);

/* Do the chunks of an inline set (or a legacy resource.data when set_id is 0 and `legacy`)
 * hold exactly `size` bytes, as contiguous chunks of ART_CHUNK bytes but the last? *why is
 * "" when they do, else says what is wrong. DD_OK unless the check itself failed. */
dd_code art_inline_check(dd_conn *c, int64_t resource_id, int64_t set_id, bool legacy,
                         int64_t size, char *why, size_t why_len, dd_err *err);
/* Inline orphans: chunk sets nothing refers to, and uploads whose process is gone. */
dd_code art_inline_orphans(dd_store *st, art_orphan_fn fn, void *ctx, dd_err *err);

/* Is the file behind a "file://" uri there, a regular file of `size` bytes? As above. */
dd_code art_fs_check(const char *uri, int64_t size, char *why, size_t why_len, dd_err *err);
/* The root a "file://<root>/<aa>/<uuid>" uri this backend made lives under; false for any
 * other uri. */
bool art_fs_root_of(const char *uri, char *root, size_t root_len);
/* Filesystem orphans under `root`: staged files no live upload holds, and files
 * <root>/<aa>/<uuid> that no resource or trash row names and no upload is staging. With
 * `remove`, the second kind are removed as found (the first is dd_artifacts_gc's job:
 * art_fs_gc_staging); *removed counts them. */
dd_code art_fs_orphans(dd_store *st, const char *root, bool remove, art_orphan_fn fn,
                       void *ctx, int64_t *removed, dd_err *err);
/* ---------------------------------------------------------------- s3 (art_s3.c) */

typedef struct art_s3_config {
    const char *endpoint;       /* http(s)://host[:port], path-style */
    const char *bucket;
    const char *region;         /* for signing; "" or NULL: us-east-1 */
    const char *access_key;
    const char *secret_key;
    size_t threshold;           /* artifacts this large or larger go in parts */
    size_t part_size;           /* >= 5 MiB */
    const char *spool_dir;      /* uploads below the threshold; NULL or "": $TMPDIR, /var/tmp */
} art_s3_config;

typedef struct art_s3 art_s3;           /* the configured service (immutable, shared) */
typedef struct art_s3_up art_s3_up;     /* one upload (one thread at a time) */
typedef struct art_s3_rd art_s3_rd;     /* one reader (thread-safe) */

/* DD_INVALID for a missing endpoint or bucket, a non-http(s) endpoint, a part size below
 * 5 MiB. Contacts nothing. */
dd_code art_s3_new(const art_s3_config *cfg, art_s3 **out, dd_err *err);
void art_s3_free(art_s3 *s);

/* Start an upload under a new key <aa>/<uuid>: create its spool file (unlinked, so it
 * goes away with the upload whatever happens), then ask the bucket (GetBucketLocation), so
 * an unusable spool directory, a missing bucket, wrong credentials or an unreachable
 * endpoint fail here, with the reason or the S3 error code and message (DD_IO). */
dd_code art_s3_begin(art_s3 *s, art_s3_up **out, dd_err *err);
/* Spool bytes to the upload's unlinked temporary file in the spool directory while the
 * artifact is below the multipart threshold; from the threshold on, every full part is sent
 * in the background. DD_IO once the spool cannot be written (ENOSPC, ...) or a part failed
 * (after retries). */
dd_code art_s3_write(art_s3_up *u, const void *data, size_t len, dd_err *err);
/* Make the object exist: one PUT streamed from the spool (below the threshold; the
 * artifact's sha256, computed by the spool's hasher while the bytes came in, is its payload
 * hash) or the last part and CompleteMultipartUpload; then check its size. `sha256_hex`
 * gets the artifact's sha256 (this backend computes it: artifacts.c does not for s3).
 * *uri_out (malloc'd) is "s3://<bucket>/<key>". On failure the upload must be abandoned. */
dd_code art_s3_publish(art_s3_up *u, int64_t size, char sha256_hex[65], char **uri_out,
                       dd_err *err);
/* After the commit: free the upload (the object stays). */
void art_s3_done(art_s3_up *u);
/* Not committed: abort the multipart upload, delete a published object (best effort),
 * free. NULL is fine. */
void art_s3_abandon(art_s3_up *u);

/* Open an object by uri: fetches the first read-ahead window, so a missing object is
 * DD_NOT_FOUND and one of the wrong size DD_IO here. `s` NULL (no s3 configured) or a uri
 * of another bucket: DD_IO. */
dd_code art_s3_open(art_s3 *s, const char *uri, int64_t size, art_s3_rd **out, dd_err *err);
dd_code art_s3_pread(art_s3_rd *r, int64_t off, void *buf, size_t len, size_t *got,
                     dd_err *err);
void art_s3_close(art_s3_rd *r);

/* Delete the object of a trashed uri (a missing object is fine). *ours false, and nothing
 * done, for a uri this backend did not make in the configured bucket (or no s3 at all). */
dd_code art_s3_remove_uri(art_s3 *s, const char *uri, bool *ours, dd_err *err);

/* ------------------------------------------- the dispatcher's own, for migrate.c (artifacts.c) */

/* Where bytes are: a row's columns, or an upload's staged destination. */
typedef struct art_loc {
    char backend[16];
    char *uri;              /* malloc'd; "" for inline */
    int64_t chunk_set;      /* inline: the chunk set, 0 for none */
    bool legacy;            /* inline: resource.data */
    int64_t size;
} art_loc;
void art_loc_clear(art_loc *l);

dd_store *art_store(const dd_artifacts *a);
/* Is `backend` one this dd_artifacts can write? DD_INVALID with the reason otherwise. */
dd_code art_backend_check(const dd_artifacts *a, const char *backend, dd_err *err);
/* dd_upload_begin into a given backend. */
dd_code art_upload_begin_in(dd_artifacts *a, const char *backend, dd_upload **out, dd_err *err);
/* Finish the bytes where no row sees them yet: the sha256 in hex and the location. The
 * upload then either gets art_upload_claim inside the switching transaction and
 * art_upload_committed after it, or dd_upload_free (which removes the bytes). */
dd_code art_upload_stage(dd_upload *u, char hash[65], art_loc *dst, dd_err *err);
dd_code art_upload_claim(dd_conn *c, dd_upload *u, dd_err *err);
void art_upload_committed(dd_upload *u);
/* A reader of the bytes at a location (a staged upload's, to verify them). */
dd_code art_reader_open_at(dd_artifacts *a, const art_loc *loc, dd_artifact_reader **out,
                           dd_err *err);
/* The location a reader opened by resource id has pinned. */
const art_loc *art_reader_loc(const dd_artifact_reader *r);
/* Remove the bytes of one artifact_trash row and forget it (as dd_artifacts_gc would). */
dd_code art_trash_remove(dd_artifacts *a, int64_t trash_id, dd_err *err);
/* dd_artifact_close without freeing the trashed bytes the reader held: for the migrator,
 * which decides about the old bytes itself (--keep-old). */
void art_reader_close_keep(dd_artifact_reader *r);

#endif /* DD_ART_INT_H */
