-- 005_metric_log_state: how far each metric journal has been committed (backend/metric_log.c).
-- A process that defers metric appends writes them to `<database>-mlog.<hex>` first; every
-- batch it commits records here, in the same transaction, the highest journal sequence
-- number it applied. Replaying a dead process's journal skips what is already committed,
-- so each point lands exactly once. Rows go away with their journal.
CREATE TABLE metric_log_state (
    name  TEXT PRIMARY KEY,        -- the journal's file name
    seq   INTEGER NOT NULL CHECK (seq >= 0)
);
