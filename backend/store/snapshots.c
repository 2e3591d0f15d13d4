/*
 * snapshots.c - saving an iteration's whole environment snapshot (the six snapshot
 * columns and the captured lock files) in one transaction, for `deardiary run`.
 *
 * dd_iteration_set_snapshot writes the columns alone (and dd_iteration_file_set, in
 * iterations.c, one file); a run's snapshot is one multi-row change, so it gets its own
 * function: a reader of env/ sees either no snapshot or all of it, never the columns
 * without the files.
 */
#include <string.h>

#include "db.h"

#define OR_EMPTY(x) ((x) ? (x) : "")

/* Inside a write transaction: overwrite the six snapshot columns. */
static dd_code snapshot_columns(dd_conn *c, int64_t id, const dd_snapshot *snap, dd_err *err)
{
    return db_exec(c, err, "iteration snapshot",
                   "UPDATE iteration SET julia_version = ?, git_sha = ?, git_dirty = ?,"
                   " entrypoint = ?, project_toml = ?, manifest_toml = ? WHERE id = ?",
                   "ttnttti", OR_EMPTY(snap->julia_version), OR_EMPTY(snap->git_sha),
                   snap->git_dirty ? 1 : 0, OR_EMPTY(snap->entrypoint),
                   OR_EMPTY(snap->project_toml), OR_EMPTY(snap->manifest_toml), id);
}

dd_code dd_iteration_set_snapshot(dd_store *st, int64_t id, const dd_snapshot *snap,
                                  dd_err *err)
{
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        t.code = db_iteration_writable(t.c, id, err);
        if (t.code == DD_OK)
            t.code = snapshot_columns(t.c, id, snap, err);
    }
    return t.code;
}

dd_code dd_iteration_snapshot_save(dd_store *st, int64_t id, const dd_snapshot *snap,
                                   const dd_snapshot_file *files, size_t nfiles, dd_err *err)
{
    for (size_t i = 0; i < nfiles; i++) {
        dd_code code = dd_name_check(files[i].name, "file name", err);
        if (code != DD_OK)
            return code;
    }
    db_txn t;
    DB_TXN(t, st, DB_TXN_WRITE, err) {
        dd_conn *c = t.c;
        dd_code code = db_iteration_writable(c, id, err);
        if (code == DD_OK)
            code = snapshot_columns(c, id, snap, err);
        /* a snapshot replaces the previous one whole: files it did not find go away */
        if (code == DD_OK)
            code = db_exec(c, err, "iteration files",
                           "DELETE FROM iteration_file WHERE iteration_id = ?", "i", id);
        for (size_t i = 0; code == DD_OK && i < nfiles; i++)
            code = db_exec(c, err, "iteration file",
                           "INSERT INTO iteration_file(iteration_id, name, content) VALUES (?, ?, ?)",
                           "itb", id, files[i].name, files[i].data ? files[i].data : "",
                           files[i].len);
        t.code = code;
    }
    return t.code;
}
