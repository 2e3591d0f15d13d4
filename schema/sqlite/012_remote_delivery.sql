-- 012_remote_delivery: exactly-once delivery of remote mounts' metric journals
-- (docs/REMOTE.md §2.6). A node (a remote mount's journal, named by 128 random bits in
-- hex) sends its points in order, each request keyed `<node_id>:<seq>`; the request's
-- points and this row's new seq commit in one transaction, so a request whose seq is not
-- above the stored one was already committed and changes nothing. One row per node: the
-- high-water mark is the whole state, and it never expires.
CREATE TABLE remote_delivery (
    node_id       TEXT PRIMARY KEY CHECK (length(node_id) = 32),
    seq           INTEGER NOT NULL CHECK (seq > 0),
    committed_at  TEXT NOT NULL CHECK (committed_at <> '')
);
