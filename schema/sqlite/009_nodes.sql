-- 009_nodes: node-aware ownership (docs/ENGINES.md §4). Several machines may mount one
-- registry (PostgreSQL); an inline upload or a metric journal belongs to a node, which is
-- one daemon process on one machine, with a lease that the live daemon renews. gc on one
-- node never removes what a live node owns; a dead node's uploads go once its lease has
-- ended (at once when it ran on this very boot of this machine: /proc tells).
CREATE TABLE node (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    machine_id     TEXT NOT NULL,          -- /etc/machine-id (or dbus's), '' when none
    boot_id        TEXT NOT NULL,          -- /proc/sys/kernel/random/boot_id, '' when none
    pidns          INTEGER NOT NULL,       -- inode of /proc/self/ns/pid (containers reuse pids)
    pid            INTEGER NOT NULL,
    start_ticks    INTEGER NOT NULL,       -- field 22 of /proc/<pid>/stat
    hostname       TEXT NOT NULL DEFAULT '',
    journal_dir    TEXT NOT NULL DEFAULT '', -- where its metric journals are (fsck's report)
    started_at     TEXT NOT NULL,
    lease_until_ms INTEGER NOT NULL,       -- the database's clock (ms) until which it lives
    UNIQUE (machine_id, boot_id, pidns, pid, start_ticks)
);

-- One row: the registry's identity. Journal names carry it, so one journal directory
-- serves several registries and a journal is never replayed into the wrong one. Seeded by
-- the store after the migrations (a random uuid).
CREATE TABLE registry (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    uuid TEXT NOT NULL CHECK (length(uuid) = 36)
);

-- The owning node; NULL for rows written before 009 (pid + start time rule).
ALTER TABLE artifact_upload ADD COLUMN node_id INTEGER REFERENCES node(id);
ALTER TABLE metric_log_state ADD COLUMN node_id INTEGER REFERENCES node(id);
CREATE INDEX artifact_upload_node ON artifact_upload(node_id);
CREATE INDEX metric_log_state_node ON metric_log_state(node_id);
