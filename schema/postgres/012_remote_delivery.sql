-- 012_remote_delivery (PostgreSQL: schema/sqlite/012_remote_delivery.sql in this engine's
-- types): exactly-once delivery of remote mounts' metric journals (docs/REMOTE.md §2.6).
-- A node (a remote mount's journal, named by 128 random bits in hex) sends its points in
-- order, each request keyed `<node_id>:<seq>`; the request's points and this row's new seq
-- commit in one transaction, so a request whose seq is not above the stored one was
-- already committed and changes nothing. One row per node: the high-water mark is the
-- whole state, and it never expires.
CREATE TABLE remote_delivery (
    node_id       TEXT COLLATE "C" PRIMARY KEY CHECK (length(node_id) = 32),
    seq           BIGINT NOT NULL CHECK (seq > 0),
    committed_at  TEXT COLLATE "C" NOT NULL CHECK (committed_at <> '')
);
