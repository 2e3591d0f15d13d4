/*
 * rstore_artifacts.h - the artifact stores of a remote mount (docs/REMOTE.md §8, step R7):
 * a dd_artifacts (artifacts_ops.h) over a remote store whose bytes come from the server.
 *
 * Reads: GET /resource/{id}/data with "Range: bytes=OFF-", streamed by a thread of the
 * open handle into a window of 8 MiB ahead of the reads and 2 MiB behind (memory per
 * handle: 10 MiB; sequential reads are one request, however large the artifact); a
 * read outside the window ends that GET and starts another at its offset. A read is
 * answered from the window itself (dd_artifact_pread_with: FUSE's reply is written from
 * the window, no copy into a reply buffer). The size is the one the first answer names
 * (its Content-Range), so an open of resources/<name> sees the bytes of that moment: the
 * GET under way keeps serving the bytes it began with (the server holds them open) if
 * the resource is replaced meanwhile, and a new GET that names another size fails the
 * read with EIO, never a mix of sizes (a replacement of the same size read through a new
 * GET is not detected: the answer carries no generation).
 * A model version's artifact (immutable while registered) has the size of its row, so
 * its open asks nothing; it is read from the node cache (cache.h): the first open of a
 * copy not yet cached fetches it whole into cache_dir on a thread of the handle, and
 * that handle's reads follow the fetch (each waits for its bytes, not for the whole
 * copy); opens elsewhere meanwhile wait for the copy. A handle closed before the copy is
 * complete abandons it (the next open fetches again). One larger than cache_max, or with
 * no cache, is streamed as above from its first read (the kernel keeps its pages, so a
 * second read asks the server nothing).
 * Uploads (`cp x resources/`): streamed to the server as they are written, one chunked
 * multipart request per upload, through a 4 MiB ring per upload (the writer waits while it
 * is full); close commits and waits for the server's 201 (or 200 for new bytes of an
 * existing name); a copy whose writer was killed is aborted and the server keeps nothing.
 * Refusals the server makes before the end (a taken name, an experiment that takes no
 * resources) fail the next write. Needs dd_upload_begin_for (the target at open).
 */
#ifndef DD_RSTORE_ARTIFACTS_H
#define DD_RSTORE_ARTIFACTS_H

#include "artifacts.h"

typedef struct dd_remote_artifacts_options {
    const char *cacert;     /* PEM file of CAs to trust (NULL: the system's) */
    const char *cache_dir;  /* NULL or "": $XDG_CACHE_HOME/deardiary, ~/.cache/deardiary */
    int64_t cache_max;      /* bytes; 0 caches nothing */
} dd_remote_artifacts_options;

/* The artifact stores of remote store `st` (dd_remote_store_open; not owned). DD_IO with
 * the reason when the cache directory cannot be made. */
dd_code dd_remote_artifacts_open(dd_store *st, const dd_remote_artifacts_options *o,
                                 dd_artifacts **out, dd_err *err);

#endif
