-- 002_artifact_chunks: inline artifact bytes stored as chunks, so one artifact can exceed
-- SQLite's per-blob cap (1e9 bytes in Debian's build) and is written in many short
-- transactions instead of one that holds the write lock for the whole copy.
--
-- A "chunk set" is the bytes of one inline upload: rows (set_id, seq) with seq = 0, 1, ...
-- Every chunk is exactly 1 MiB (1048576 bytes) except the last, which holds the rest
-- (1..1048576 bytes). The chunk size is fixed: readers find byte `off` in chunk
-- off / 1048576. An empty artifact has no chunk set at all (resource.chunk_set NULL).
--
-- Life of a chunk set id (ids come from artifact_upload's AUTOINCREMENT, never reused):
--   artifact_upload row   while the upload is in progress (chunks are invisible)
--   resource.chunk_set    after the committing transaction moved it there
--   artifact_trash row    after the resource was deleted or its bytes replaced, or the
--                         upload was abandoned; dd_artifacts_gc deletes the chunks in short
--                         transactions and then the trash row.
-- Legacy inline rows written by dd_resource_create_inline keep their bytes in
-- resource.data (chunk_set NULL) and stay readable.

-- Inline uploads in progress. The owner identifies the process (pid and its start time in
-- clock ticks since boot, from /proc/<pid>/stat) and the upload within it (a random
-- token), so gc can tell an upload that is still running from one whose process died.
CREATE TABLE artifact_upload (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,   -- the chunk set id
    owner_pid     INTEGER NOT NULL,
    owner_start   INTEGER NOT NULL,
    owner_token   INTEGER NOT NULL,
    started_at    TEXT NOT NULL CHECK (started_at <> '')
);

-- The chunks. A rowid table (incremental blob I/O needs rowids); readers look a chunk's
-- id up by (set_id, seq) and open it with sqlite3_blob_open / sqlite3_blob_reopen.
CREATE TABLE artifact_chunk (
    id      INTEGER PRIMARY KEY,
    set_id  INTEGER NOT NULL,
    seq     INTEGER NOT NULL CHECK (seq >= 0),
    data    BLOB NOT NULL CHECK (length(data) BETWEEN 1 AND 1048576),
    UNIQUE (set_id, seq)
);

-- The chunk set holding an inline resource's bytes (NULL: legacy resource.data, an empty
-- artifact, or an external backend). One set belongs to at most one resource.
ALTER TABLE resource ADD COLUMN chunk_set INTEGER;
CREATE UNIQUE INDEX resource_by_chunk_set ON resource(chunk_set) WHERE chunk_set IS NOT NULL;

-- Inline bytes waiting for removal: backend 'inline', uri 'chunks:<set id>' (for people),
-- chunk_set the set (for gc). External rows keep chunk_set NULL.
ALTER TABLE artifact_trash ADD COLUMN chunk_set INTEGER;
CREATE INDEX artifact_trash_by_chunk_set ON artifact_trash(chunk_set) WHERE chunk_set IS NOT NULL;
